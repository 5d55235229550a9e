"""A job never runs a different model than the one asked for, and never uses a target that names nothing.

`job_error` judges a composed job by its config choices and targets (what Hydra's
``runtime.choices`` and the composed config hold); the CLI tests at the end run `xlm train`.
"""

from __future__ import annotations

import pytest

from xlm.external.guard import config_targets, job_error
from xlm.external_models import find_external_models


CORE_MLM_TARGET = "mlm.model.MLMTransformer"


def external_mlm(project, **files):
    """A project that lists its own model named `mlm` (xlm-core has one), next to xlm's core mlm."""
    root = project.model("mlm", files={"configs/experiment/star_easy_mlm.yaml": "# @package _global_\njob_name: mine\n", **files})
    file = project.models_file("mlm")
    return root, file


def test_a_skipped_external_mlm_stops_every_job_that_would_use_the_core_one(project):
    _, file = external_mlm(project)
    found = find_external_models()
    assert [m.origin for m in found.skipped] == ["local"] and found.get("mlm").found.origin == "core"
    error = job_error(found, {"experiment": "star_easy_mlm", "model": "mlm"}, [CORE_MLM_TARGET])
    assert error.what == (
        f"experiment 'star_easy_mlm' is defined by xlm's core model 'mlm' and by model 'mlm' ({file}:1), which was "
        "skipped because: Duplicate model names found across sources: ['mlm']; xlm does not pick one of them"
    )
    assert error.fix == "rename the model: arlm, mlm, ilm are reserved for core models"
    # Not shipped by the external model, but from the core model of that name: still refused.
    error = job_error(found, {"collator": "seq2seq_mlm"}, [])
    assert error.what.startswith("collator 'seq2seq_mlm' is from xlm's core model 'mlm', but the project's own model 'mlm'")
    assert "xlm does not run one in place of the other" in error.what
    error = job_error(found, {}, [CORE_MLM_TARGET])
    assert error.what.startswith(f"the target '{CORE_MLM_TARGET}' belongs to model 'mlm' ({file}:1), skipped because: Duplicate")
    # A job that uses neither is none of its business.
    assert job_error(found, {"experiment": "star_easy_arlm", "model": "arlm", "datamodule": "star_easy"}, ["arlm.model.ARLMTransformer"]) is None


def test_a_core_experiment_a_skipped_model_copied_names_both(project):
    """It said the core experiment "belongs to" the model that copied it."""
    project.model("copier", files={"configs/experiment/star_easy_arlm.yaml": "# @package _global_\njob_name: mine\n"})
    file = project.models_file("copier")
    error = job_error(find_external_models(), {"experiment": "star_easy_arlm"}, [])
    assert error.what.startswith(f"experiment 'star_easy_arlm' is defined by xlm's core model 'arlm' and by model 'copier' "
                                 f"({file}:1), which was skipped because: Config conflict: Both 'arlm' and 'copier'")


def test_a_broken_model_stops_its_experiment_with_the_reason(project):
    root = project.model("zz", files={"zz/loss.py": "class ZzLoss(:\n    pass\n"})
    file = project.models_file("zz")
    found = find_external_models()
    assert [m.name for m in found.skipped] == ["zz"]
    error = job_error(found, {"experiment": "zz_debug"}, [])
    assert error.what == (
        f"experiment 'zz_debug' belongs to model 'zz' ({file}:1), skipped because: "
        "External model 'zz' has a Python file that does not compile: invalid syntax"
    )
    assert "fix the syntax" in error.fix
    assert str(root / "zz" / "loss.py") in found.reason(found.skipped[0]).where


def test_a_model_listed_twice_from_one_folder_is_not_a_different_model(project):
    project.model("twice")
    project.models_file("twice", "./twice")
    found = find_external_models()
    assert [m.name for m in found.skipped] == ["twice"]  # the duplicate line, same folder
    assert job_error(found, {"experiment": "twice_debug"}, ["twice.model.TwiceModel"]) is None


def test_a_declared_model_that_is_not_there_stops_jobs_that_target_it(project):
    project.models_file("ghost")
    found = find_external_models()
    error = job_error(found, {}, ["ghost.model.Ghost"])
    assert error.what.startswith("the target 'ghost.model.Ghost' belongs to model 'ghost'") and "not found" in error.what


def test_a_stale_target_fails_only_the_job_that_uses_it(project):
    root = project.model("stale", files={"configs/model/old_stale.yaml": "# @package _global_\nmodel:\n  _target_: stale.model.Gone\n"})
    project.models_file("stale")
    found = find_external_models()
    assert found.problems == [] and found.get("stale") is not None  # loads: a warning only
    [warning] = found.warnings
    assert warning.where == f"{root / 'configs' / 'model' / 'old_stale.yaml'}:3"
    assert job_error(found, {"experiment": "stale_debug"}, ["stale.model.StaleModel", "stale.loss.StaleLoss"]) is None
    error = job_error(found, {"model": "old_stale"}, ["stale.model.Gone"])
    assert error.what == (
        f"the job's config names a target that does not exist: 'stale.model.Gone' (at {warning.where}): "
        "'Gone' is not defined in stale/model.py"
    )


def test_a_stale_target_into_another_models_package_names_the_file_and_line(project):
    """Validation checks a model's own package only, so it had not warned: the error had no place."""
    project.model("model_a")
    root = project.model("model_b", files={"configs/model/b_on_a.yaml": "# @package _global_\nmodel:\n  _target_: model_a.model.ModelAA\n"})
    project.models_file("model_a", "model_b")
    found = find_external_models()
    assert found.warnings == []
    error = job_error(found, {"experiment": "model_b_debug", "model": "b_on_a"}, ["model_a.model.ModelAA"])
    assert error.what == (f"the job's config names a target that does not exist: 'model_a.model.ModelAA' "
                          f"(at {root / 'configs' / 'model' / 'b_on_a.yaml'}:3): 'ModelAA' is not defined in model_a/model.py")


def test_a_target_into_xlm_is_checked_like_a_model_target(project):
    project.model("old", files={"configs/model_type/old.yaml": "# @package _global_\nlightning_module:\n  _target_: xlm.lightning.Harness\nloss:\n  _target_: old.loss.OldLoss\n"})
    project.models_file("old")
    found = find_external_models()
    assert [w.what for w in found.warnings] == [
        "External model 'old' has a bad target 'xlm.lightning.Harness': module xlm/lightning.py does not exist"
    ]
    error = job_error(found, {"model_type": "old"}, ["xlm.lightning.Harness", "old.loss.OldLoss"])
    assert "'xlm.lightning.Harness'" in error.what and "exists in this xlm" in error.fix
    assert job_error(found, {}, ["xlm.harness.Harness", "torch.optim.AdamW"]) is None  # exists / not ours to check


def test_config_targets_reads_nested_configs():
    cfg = {
        "model": {"_target_": "a.B", "inner": [{"_target_": "c.D"}]},
        "reported_metrics": {"train": {"lm": {"loss": {"update_fn": "e.f"}}}},
        "interpolated": {"_target_": "${other}"},
        "again": {"_target_": "a.B"},
    }
    assert sorted(config_targets(cfg)) == ["a.B", "c.D", "e.f"]


def test_a_target_that_is_no_string_stops_the_job_by_name(project):
    """Hydra would fail with a traceback ("Expected a callable target, got '42'")."""
    from xlm.external_models import find_external_models

    cfg = {"model": {"_target_": 42}, "loss": {"_target_": ["a", "b"]}, "collator": {"_target_": ""}}
    assert sorted(config_targets(cfg)) == ["", "42", "['a', 'b']"]
    error = job_error(find_external_models(), {}, config_targets(cfg))
    assert error is not None and "is not a dotted Python path" in error.what


def test_an_experiment_only_a_skipped_model_has_says_so_before_hydra_runs(project, capsys):
    from xlm.cli import main

    project.model("zz", files={"configs/model_type/zz.yaml": None})
    file = project.models_file("zz")
    assert main(["train", "experiment=zz_debug"]) == 2
    err = capsys.readouterr().err
    assert (
        f"error: experiment 'zz_debug' belongs to model 'zz' ({file}:1), skipped because: "
        "External model 'zz' missing required config groups: ['model_type']"
    ) in err
    assert "fix: create configs/model_type/zz.yaml" in err and "choose one of" not in err


def test_xlm_train_refuses_to_train_the_core_mlm_in_place_of_the_projects(project, capsys, tmp_path):
    """The issue's case: `xlm train experiment=star_easy_mlm debug=overfit` used to train xlm's mlm and exit 0."""
    from xlm.cli import main

    external_mlm(project)
    run = ["trainer.max_steps=1", f"paths.output_dir={tmp_path / 'run'}", f"paths.data_dir={tmp_path / 'data'}"]
    with pytest.raises(SystemExit) as exited:  # raised inside the Hydra job, as for every job's user error
        main(["train", "experiment=star_easy_mlm", "debug=overfit", *run])
    err = capsys.readouterr().err
    assert exited.value.code == 2, err
    assert "error: experiment 'star_easy_mlm' is defined by xlm's core model 'mlm' and by model 'mlm'" in err
    assert "Duplicate model names" in err
    assert not (tmp_path / "run" / "train.json").exists()


def test_a_skipped_models_copy_of_an_xlm_config_does_not_stop_other_jobs(project):
    """xlm's own config tree is searched first: a skipped model's copy would never have been used."""
    project.model("mm", files={"configs/datamodule/star_easy.yaml": "x: 1\n"})
    project.models_file("mm")
    found = find_external_models()
    assert [m.name for m in found.skipped] == ["mm"] and "Config conflict" in found.problems[0].what
    arlm = {"experiment": "star_easy_arlm", "datamodule": "star_easy", "model": "arlm"}
    assert job_error(found, arlm, ["arlm.model.ARLMTransformer"]) is None
    assert job_error(found, {"experiment": "mm_debug", "datamodule": "star_easy"}, []).what.startswith("experiment 'mm_debug' belongs to model 'mm'")


def test_xlm_models_lists_warnings_and_exits_0(project, capsys):
    from xlm.cli import main

    root = project.model("stale", files={"configs/model/old_stale.yaml": "# @package _global_\nmodel:\n  _target_: xlm.gone.Thing\n"})
    project.models_file("stale")
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("stale "))
    assert row.split("  ")[1].strip() == "ok, 1 warning"
    assert "warnings (1; the models load, a job that uses one of these fails):\n" in out
    assert f"Warning: External model 'stale' has a bad target 'xlm.gone.Thing': module xlm/gone.py does not exist\n  where: {root / 'configs' / 'model' / 'old_stale.yaml'}:3" in out
    assert out.rstrip().endswith("no problems")


def test_the_start_up_line_counts_warnings_of_every_kind(project, caplog):
    """It called each warning (a missing `# @package` line, a misspelt commands.yaml key) a bad target."""
    from xlm.external_models import setup_external_models

    project.model("kinds", files={
        "configs/model/old_kinds.yaml": "# @package _global_\nmodel:\n  _target_: xlm.gone.Thing\n",
        "configs/commands.yaml": "kinds-hi: {function: kinds.model.KindsModel, hlep: typo}\n",
    })
    project.models_file("kinds")
    with caplog.at_level("WARNING", logger="xlm.external"):
        setup_external_models()
    assert caplog.messages[-1] == ("Warning: 2 warning(s) about the configs of kinds (a bad target, a file Hydra never "
                                   "reads, ...); `xlm models` lists them")


def test_a_selected_config_with_hydra_10s_group_header_stops_the_job_naming_it(project):
    """The job said the experiment "selects no model", and told to add an override it already had."""
    root = project.model("old", files={"configs/model/old.yaml": "# @package _group_\n_target_: old.model.OldModel\n"})
    project.models_file("old")
    error = job_error(find_external_models(), {"experiment": "old_debug", "model": "old"}, [])
    assert error.what == (f"the config model/old.yaml of model 'old' ({root / 'configs' / 'model' / 'old.yaml'}:1) has a "
                          "`# @package _group_` header Hydra 1.0 read, but Hydra 1.1 and later take `_group_` literally: its keys "
                          "land under a key named `_group_`")
    assert error.fix.startswith("write `# @package _global_`")


def test_a_selected_config_without_its_package_line_stops_the_job(project):
    """Only a warning before: the job then failed deep in torch (`optimizer got an empty parameter list`)."""
    root = project.model("unplaced", files={"configs/model/unplaced.yaml": "model:\n  _target_: unplaced.model.UnplacedModel\n"})
    project.models_file("unplaced")
    found = find_external_models()
    error = job_error(found, {"experiment": "unplaced_debug", "model": "unplaced"}, [])
    where = root / "configs" / "model" / "unplaced.yaml"
    assert error.what == (f"the config model/unplaced.yaml of model 'unplaced' ({where}:1) has no `# @package _global_` line: "
                          "Hydra puts it under `model`, so its `model` becomes `model.model`, which xlm never reads")
    assert error.fix.startswith("make `# @package _global_` its first line")
    assert job_error(found, {"experiment": "star_easy_arlm", "model": "arlm"}, []) is None  # a job that does not use it
