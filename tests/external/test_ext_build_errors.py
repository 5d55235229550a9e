"""A job that fails while its objects are built from the config: a model's module raising as it
is imported, a target called with keys it does not take, a target that does not import. Each
is two lines naming the cause (and for a model's code, its file and line), exit 2; Hydra's own
report was ~90 lines of chained tracebacks naming the wrong target."""

from __future__ import annotations

import pytest

from xlm.cli import main



def importable(name: str, **changed: str) -> dict[str, str]:
    """A builder model's modules without the guard that fails a test which imports them."""
    cls = name.title()
    files = {f"{name}/{module}.py": f"class {cls}{suffix}:\n    pass\n" for module, suffix in
             (("model", "Model"), ("loss", "Loss"), ("predictor", "Predictor"))}
    files[f"{name}/collators.py"] = f"class Default{cls}Collator:\n    pass\n"
    files[f"{name}/metrics.py"] = "def mean_update_fn(batch, loss_dict, predictions):\n    return {}\n"
    files.update({f"{name}/{module}.py": text for module, text in changed.items()})
    return files


def _job_error(capsys, *overrides: str) -> str:
    with pytest.raises(SystemExit) as exited:  # raised inside the Hydra job, as for every job's user error
        main(["train", *overrides, "trainer.max_steps=1"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Error executing job" not in err and "HYDRA_FULL_ERROR" not in err
    return err


def test_a_model_module_that_raises_on_import_is_named_with_its_file_and_line(project, capsys):
    root = project.model("brokenimp", files=importable(
        "brokenimp", collators="X = 1\nlogger = logging.getLogger(__name__)  # forgot `import logging`\n\n\n"
                     "class DefaultBrokenimpCollator:\n    pass\n"))
    project.models_file("brokenimp")
    err = _job_error(capsys, "experiment=brokenimp_debug")
    assert err.splitlines() == [
        "error: model 'brokenimp' raised NameError: name 'logging' is not defined while it was imported "
        f"(at {(root / 'brokenimp' / 'collators.py').resolve()}:2)",
        "  fix: fix the model's code there (xlm -v ... prints the traceback)",
    ]


def test_a_target_called_with_keys_it_does_not_take_names_the_config_key(project, capsys):
    project.model("brokencall", files=importable("brokencall"))  # its collator takes no arguments; the job passes it the tokenizer
    project.models_file("brokencall")
    err = _job_error(capsys, "experiment=brokencall_debug")
    assert err.splitlines() == [
        "error: `collator` does not fit brokencall.collators.DefaultBrokencallCollator: "
        "DefaultBrokencallCollator() takes no arguments",
        "  fix: check the keys of `collator` against the parameters of brokencall.collators.DefaultBrokencallCollator "
        "(`--cfg job` prints the composed config)",
    ]


def test_a_key_the_target_does_not_take_is_named_with_the_line_that_sets_it(project, capsys):
    """A port that dropped a parameter (`mask_idx`) but kept its config line: which file sets it was not said."""
    files = importable("brokenkw", collators="class DefaultBrokenkwCollator:\n    def __init__(self, **kwargs):\n        pass\n",
                       model="class BrokenkwModel:\n    def __init__(self, d_model):\n        pass\n")
    files["configs/model/brokenkw.yaml"] = ("# @package _global_\nmodel:\n  _target_: brokenkw.model.BrokenkwModel\n"
                                            "  d_model: 8\n  mask_idx: 3\ntags:\n  model: brokenkw\n")
    root = project.model("brokenkw", files=files)
    project.models_file("brokenkw")
    err = _job_error(capsys, "experiment=brokenkw_debug")
    assert err.splitlines()[0] == (
        "error: `model` does not fit brokenkw.model.BrokenkwModel: BrokenkwModel.__init__() got an unexpected keyword "
        f"argument 'mask_idx' (`mask_idx` is set at {root / 'configs' / 'model' / 'brokenkw.yaml'}:5)")


def test_an_optimizer_that_does_not_import_says_which_name_is_close(project, capsys):
    project.models_file("# nothing listed")
    err = _job_error(capsys, "experiment=star_easy_arlm", "optimizer._target_=torch.optim.AdamWW")
    assert err.splitlines() == [
        "error: `optimizer._target_` 'torch.optim.AdamWW' cannot be imported: No module named 'torch.optim.AdamWW'",
        "  fix: did you mean 'AdamW'? (a module path and a class or function it defines)",
    ]
