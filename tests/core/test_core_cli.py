"""`xlm` as a user meets it: help without torch, two-line errors, the Hydra form."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from xlm.cli import main, split_hydra_args
from xlm.config_groups import config_groups, unknown_selection
from xlm.errors import UserError


def test_help_lists_commands_and_config_groups_without_importing_torch():
    code = (
        "import sys; from xlm.cli import main; main(['--help']); "
        "heavy = [m for m in ('torch', 'lightning', 'hydra', 'datasets', 'transformers', 'tokenizers', 'pyarrow') if m in sys.modules]; "
        "print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out
    for text in ("train", "eval", "generate", "job_type=train", "experiment", "star_easy_arlm", "star_easy_mlm",
                 "trainer_strategy", "ddp", "debug", "overfit", "loggers", "tensorboard", "tokenizer", "corpus_bpe", "text"):
        assert text in out, text


def test_command_help(capsys):
    assert main(["train", "--help"]) == 0
    assert "xlm train" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "experiment=star_easy_nope"], "unknown experiment 'star_easy_nope'"),
        (["job_type=train", "trainer_strategy=tpu"], "unknown trainer_strategy 'tpu'"),
        (["frobnicate"], "unknown command 'frobnicate'"),
    ],
)
def test_user_errors_are_two_lines_and_exit_2(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "fix: " in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 2


def test_unknown_selection_checks_group_choices_lists_and_sweeps():
    groups = {"experiment": ["a", "b"], "loggers": ["csv", "tensorboard"]}
    assert unknown_selection("experiment=c", groups) == ("experiment", "c", ["a", "b"])
    assert unknown_selection("experiment=a,c", groups) == ("experiment", "c", ["a", "b"])
    assert unknown_selection("loggers=[csv,tensorbord]", groups) == ("loggers", "tensorbord", ["csv", "tensorboard"])
    for fine in ("experiment=a", "experiment=null", "experiment=a,b", "loggers=[csv,tensorboard]", "loggers=[]",
                 "+experiment=c", "experiment=choice(a,c)", "optimizer.lr=1e-3", "seed=3", "other=[x,y]"):
        assert unknown_selection(fine, groups) is None, fine


def test_config_groups_come_from_core_and_model_trees():
    from xlm.external_models import setup_external_models

    setup_external_models()
    groups = config_groups()
    assert groups["trainer_strategy"] == ["cpu", "ddp", "fsdp", "single_device"]
    assert {"arlm", "mlm"} <= set(groups["model"]) and {"star_easy_arlm", "star_easy_mlm"} <= set(groups["experiment"])


def test_hydra_flags_go_first_and_everything_else_is_an_override():
    flags, overrides = split_hydra_args(["experiment=a", "~optimizer.weight_decay", "--cfg", "job", "-m", "foo",
                                         "--info", "seed=1"])
    assert flags == ["--cfg", "job", "-m", "--info", "all"]  # --info's value made explicit: else the override after it was taken
    assert overrides == ["experiment=a", "~optimizer.weight_decay", "foo", "seed=1"]
    with pytest.raises(UserError, match="--cfg needs what to print: job, hydra or all"):
        split_hydra_args(["experiment=a", "--cfg"])


def test_two_hydra_modes_at_once_are_two_lines(capsys):
    """`-m ... --cfg job`: Hydra's ValueError traceback."""
    assert main(["train", "-m", "experiment=star_easy_arlm", "seed=1,2", "--cfg", "job"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: -m and --cfg cannot be used together: Hydra does one of them at a time",
        "  fix: drop one (to see one sweep job's config: --cfg job with that job's overrides, without -m)"]


@pytest.mark.parametrize(
    "override, what, fix",
    [
        ("optimizer.lrr=1", "error: the config has no key 'optimizer.lrr'", "add it with +optimizer.lrr=1"),
        ("+optimizer.lr=1", "'optimizer.lr' is already in the config", "drop the +: optimizer.lr=1"),
        ("~optimizer.lrr", "error: the config has no key 'optimizer.lrr' to remove (~optimizer.lrr)", "check the spelling"),
        ("optimizer", "cannot parse the override `optimizer`", "write overrides as KEY=VALUE"),
        # bash leaves ~ after `=` unexpanded (docs once showed datamodule.files=~/my_texts)
        ("datamodule.files=~/texts", "cannot parse the override `datamodule.files=~/texts`: the shell did not expand ~ in it",
         "write the path in full: datamodule.files=$HOME/texts"),
        ("loggers=[csv,tensorbord]", "unknown loggers 'tensorbord'", "choose one of: csv, tensorboard, wandb"),
        ("optimizer.lr=1e-3,1e-4", "`optimizer.lr=1e-3,1e-4` is a sweep, and this is one run", "sweep with -m"),
        # a list composed both: the MLM network trained with ARLM's loss, predictor and collator, silently
        ("model=[arlm,mlm]", "model takes one option, not a list (in `model=[arlm,mlm]`)", "pick one: model=OPTION"),
        ("model=null", "`model=null`: a config group takes an option's name, not null", "pick one (model=NAME"),  # a defaults-list fix
        ("--foo", "unknown option --foo", "xlm's own: -v; Hydra's: -m"),  # Hydra's 8-line argparse usage
        # the checkpoint callbacks=none writes (epoch=0-step=50.ckpt): the fix said to write KEY=VALUE, which it is
        ("ckpt_path=run/checkpoints/epoch=0-step=50.ckpt", "cannot parse the override",
         "quote the value for Hydra, and that in quotes for the shell: \"ckpt_path='run/checkpoints/epoch=0-step=50.ckpt'\""),
        # the generic "write KEY=VALUE" for a value Hydra's grammar takes only quoted; and no key at all
        ("job_name=é漢字", "cannot parse the override `job_name=é漢字`", "quote the value for Hydra, and that in quotes "
         "for the shell: \"job_name='é漢字'\""),
        ("=1", "error: `=1` gives a value to no key", "write KEY=VALUE (e.g. seed=1), or GROUP=OPTION"),  # it named `GROUP=null`
        ("+callbacks=none", "error: `+callbacks=none` adds callbacks a second time", "drop the +: callbacks=none"),  # a file's fix
        # Python's 4,300-digit limit on int(): a ValueError traceback from Hydra's override parser
        ("trainer.max_steps=" + "9" * 5000, "cannot parse the override `trainer.max_steps=99999", "write a smaller value"),
    ],
)
def test_mistakes_hydra_finds_are_two_lines_too(tmp_path, override, what, fix):
    """Bad keys and syntax are found by Hydra while composing; they print like our own errors."""
    proc = subprocess.run([sys.executable, "-m", "xlm", "train", "experiment=star_easy_arlm", override],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 2, proc.stderr
    assert what in lines[0] and fix in lines[1], proc.stderr


def test_a_reader_that_leaves_early_is_no_error(tmp_path):
    """`xlm ... | head`: output into a pipe nobody reads ends quietly (exit 141), no traceback."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run([sys.executable, "-m", "xlm", "--help"], stdout=write, stderr=subprocess.PIPE,
                              cwd=tmp_path, text=True, timeout=120)
    finally:
        os.close(write)
    assert (proc.returncode, proc.stderr) == (141, "")


def test_version_has_the_form_of_xpms(capsys):
    from click.testing import CliRunner

    from xpm.cli import main as xpm_main
    from xlm import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"xlm {__version__}\n"
    assert CliRunner().invoke(xpm_main, ["--version"]).output == f"xpm {__version__}\n"


@pytest.mark.parametrize("argv, hint", [(["trian"], "did you mean 'train'?"), (["genrate"], "did you mean 'generate'?"),
                                        (["model"], "did you mean 'models'?"), (["frobnicate"], "")])
def test_a_mistyped_command_gets_the_closest_one(capsys, argv, hint):
    assert main(argv) == 2
    fix = capsys.readouterr().err.splitlines()[1]
    assert fix == f"  fix: {hint}{' ' if hint else ''}run `xlm --help` to see the commands"


REFUSE = (
    "import sys; from xlm.cli import main; rc = main(sys.argv[1:]); "
    "print('RC', rc, [m for m in ('torch', 'lightning') if m in sys.modules])"
)


@pytest.mark.parametrize(
    "argv, what",
    [
        (["train"], "error: no model, loss, collator selected: the config does not say which model to train"),
        (["job_type=train", "seed=3"], "error: no model, loss, collator selected"),
        (["train", "experiment=star_easy_arlm", "trainer.accelerator=gpu"], "error: trainer.accelerator=gpu (from the command line"),
        (["train", "experiment=star_easy_arlm", "trainer_strategy=fsdp"], "error: trainer.accelerator=gpu"),
        (["eval"], "error: eval needs a checkpoint"),
        (["generate", "ckpt_path=missing.ckpt"], "error: checkpoint 'missing.ckpt' does not exist"),
        (["generate", "ckpt_path=."], "error: checkpoint '.' is not a regular file"),  # a folder or a fifo "did not exist"
        (["job_type=trian"], "error: unknown job_type 'trian'"),
        (["train", "experiment=star_easy_arlm", "job_name=../../esc"], "error: job_name=../../esc climbs out of the runs' folder"),
        (["train", "experiment=star_easy_arlm", "~loss"], "error: `~loss` on the command line removed the loss the job needs"),
        (["train", "experiment=star_easy_arlm", "seed=abc"], "error: seed='abc' is not a whole number"),  # a traceback
        (["train", "experiment=star_easy_arlm", "seed="], "error: seed='' is not a whole number"),
        (["eval", "ckpt_path=[a,b]"], "error: ckpt_path takes one checkpoint, not a list"),  # a traceback from pathlib
        # `no` was a non-empty string, so true: the drift check was off, and the warning said allow_model_drift=true
        (["train", "experiment=star_easy_arlm", "allow_model_drift=no"], "error: allow_model_drift='no' is not true or false"),
        # `???` read as the default, false: an unset switch ran as a choice
        (["train", "experiment=star_easy_arlm", "allow_model_drift=???"], "error: allow_model_drift='???' is not true or false"),
    ],
)
def test_jobs_that_cannot_run_are_refused_before_torch_is_imported(tmp_path, argv, what):
    """Item 17: decided from the composed config alone (Hydra's compose API), not after 10 s of imports."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # no GPU, on any machine
    proc = subprocess.run([sys.executable, "-c", REFUSE, *argv], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip().splitlines()[-1] == "RC 2 []", proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith(what) and lines[1].startswith("  fix: "), proc.stderr


@pytest.mark.parametrize("argv, content, said", [
    (["eval"], b"", "the file ends too early (empty, or cut short)"),  # empty
    (["generate"], b"PK\x03\x04" + b"\0" * 500, "PytorchStreamReader failed"),  # a zip cut short: no central directory
    (["train", "experiment=star_easy_arlm"], b"garbage\n", "Unsupported operand"),  # resume of a file that is no checkpoint
])
def test_a_checkpoint_file_torch_cannot_read_is_two_lines_and_leaves_no_run_folder(tmp_path, argv, content, said):
    """A copy cut short, an empty file, a text file: a 45-78 line torch traceback, exit 1, and a run folder."""
    (tmp_path / "bad.ckpt").write_bytes(content)
    proc = subprocess.run([sys.executable, "-m", "xlm", *argv, "ckpt_path=bad.ckpt"], cwd=tmp_path,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "XLM_DATA_DIR": str(tmp_path / "data")},
                          capture_output=True, text=True, timeout=300)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and lines[-2].startswith(f"error: checkpoint '{tmp_path / 'bad.ckpt'}' cannot be read as a checkpoint: "), proc.stderr
    assert said in lines[-2] and lines[-1].startswith("  fix: check ckpt_path=: a copy cut short") and "Traceback" not in proc.stderr
    assert not (tmp_path / "outputs").exists()


def test_a_value_an_object_of_xlm_cannot_take_is_two_lines(tmp_path):
    """`datamodule.batch_size=abc`: a 71-line InstantiationException traceback."""
    proc = subprocess.run([sys.executable, "-m", "xlm", "train", "experiment=star_easy_arlm", "datamodule.batch_size=abc"],
                          cwd=tmp_path, env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "XLM_DATA_DIR": str(tmp_path / "data")},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines()[-2:] == [
        "error: `datamodule` holds a value xlm.datamodule.TaskDataModule cannot take: invalid literal for int() with base 10: 'abc'",
        "  fix: check the values of `datamodule` (`--cfg job` prints the composed config)"]


@pytest.mark.parametrize("override, said", [
    ("hydra.run.dir=afile", "afile: is a file, where a folder was to be made"),  # "already exists, and is not what was expected"
    ("hydra.run.dir=afile/sub", "afile: a file is where a folder is expected"),
    ("job_name=" + "a" * 300, "file name too long"),
])
def test_a_run_folder_that_cannot_be_made_is_two_lines(tmp_path, override, said):
    """A file in the way, a name over 255 bytes: a traceback from Hydra's run_job, exit 1."""
    (tmp_path / "afile").write_text("mine\n")
    proc = subprocess.run([sys.executable, "-m", "xlm", "train", "experiment=star_easy_arlm", override], cwd=tmp_path,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "XLM_DATA_DIR": str(tmp_path / "data")},
                          capture_output=True, text=True, timeout=300)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert lines[-2].startswith("error: cannot make the run's folder or its log: ") and said in lines[-2]
    assert lines[-1] == "  fix: choose a folder you can write (hydra.run.dir=...), or a shorter job_name"
    assert (tmp_path / "afile").read_text() == "mine\n"


def test_a_run_folder_that_holds_a_finished_run_is_refused_before_hydra_writes_there(tmp_path):
    """`hydra.run.dir=` of an earlier run: the second run's config and record went over the first's,
    while checkpoints/last.ckpt stayed the first run's."""
    prev = tmp_path / "prev"
    (prev / ".hydra").mkdir(parents=True)
    (prev / ".hydra" / "config.yaml").write_text("first run\n")
    (prev / "train.json").write_text("{}\n")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, "-c", REFUSE, "train", "experiment=star_easy_mlm", "hydra.run.dir=prev"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip().splitlines()[-1] == "RC 2 []", proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: hydra.run.dir=prev holds a finished run (train.json): a second run there would mix their files "
        "(checkpoints/last.ckpt would stay the first run's)",
        "  fix: choose another folder (hydra.run.dir=...), or move that run away first"]
    assert (prev / ".hydra" / "config.yaml").read_text() == "first run\n"


@pytest.mark.parametrize("override, what, fix", [
    # Lightning's TypeError names no key: the command line's trainer.* overrides are named
    ("trainer.max_steps=abc", "(the command line set trainer.max_steps=abc)", "check the trainer.*"),
    # a wrong value was "does not fit AdamW ... check the keys"
    # and it named "the config", not the optimizer
    ("optimizer.lr=abc", "error: `optimizer` holds a value torch.optim.adamw.AdamW cannot take: '<=' not supported",
     "check the values of `optimizer`"),
])
def test_a_value_lightning_or_torch_refuses_says_it_is_a_value(tmp_path, override, what, fix):
    proc = subprocess.run([sys.executable, "-m", "xlm", "train", "experiment=star_easy_arlm", override], cwd=tmp_path,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "XLM_DATA_DIR": str(tmp_path / "data")},
                          capture_output=True, text=True, timeout=300)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert what in lines[-2] and fix in lines[-1], proc.stderr[-3000:]


def test_no_gpu_is_proven_by_absent_devices_never_by_present_ones(tmp_path):
    from xlm.preflight import no_gpu_reason

    dev = tmp_path / "dev"
    dev.mkdir()
    (dev / "null").touch()
    assert "no GPU" in no_gpu_reason(dev, {}, "linux")
    for device in ("nvidia0", "kfd", "dxg"):  # NVIDIA, AMD ROCm, WSL: maybe a GPU, Lightning decides
        (dev / device).touch()
        assert no_gpu_reason(dev, {}, "linux") is None, device
        (dev / device).unlink()
    (dev / "nvidia0").touch()
    for hidden in ("", "-1"):
        assert "hides every GPU" in no_gpu_reason(dev, {"CUDA_VISIBLE_DEVICES": hidden}, "linux")
    assert no_gpu_reason(dev, {"CUDA_VISIBLE_DEVICES": "0"}, "linux") is None
    (dev / "nvidia0").unlink()
    assert no_gpu_reason(dev, {}, "darwin") is None  # MPS: not ours to judge


@pytest.mark.parametrize("override, said", [
    ("optimizer.lr=abc", None),
    # Lightning failed on it as the trainer started: a traceback, and the folder stayed
    ("+callbacks.foo._target_=collections.OrderedDict", "error: callbacks.foo builds collections.OrderedDict, which is not a "
                                                         "Lightning Callback"),
])
def test_a_job_refused_after_hydra_started_leaves_no_run_folder(tmp_path, override, said):
    """A wrong value found while the job is built: the folder held Hydra's files, the log and the
    model record, and passed for the newest run."""
    proc = subprocess.run([sys.executable, "-m", "xlm", "train", "experiment=star_easy_arlm", override],
                          cwd=tmp_path, env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "XLM_DATA_DIR": str(tmp_path / "data")},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert said is None or said in proc.stderr.splitlines()
    assert not (tmp_path / "outputs").exists()  # not even the empty outputs/train/<job_name>/ made for it


def test_a_job_started_inside_xlm_models_is_refused_before_it_writes_there(tmp_path):
    """Its run folder went into the vendored model, which the job then blamed on the user."""
    inside = tmp_path / "xlm_models" / "zlm"
    inside.mkdir(parents=True)
    (tmp_path / ".xlm_models").write_text("")
    proc = subprocess.run([sys.executable, "-m", "xlm", "train", "experiment=star_easy_arlm"], cwd=inside,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "XLM_DATA_DIR": str(tmp_path / "data")},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and proc.stderr.splitlines()[-2:] == [
        f"error: jobs run from the project folder, not from inside {tmp_path / 'xlm_models'}: the run folder (outputs/...) "
        "would be written into a vendored model",
        f"  fix: cd {tmp_path} and run the command again (or give the run folder: hydra.run.dir=PATH)"], proc.stderr
    assert list(inside.iterdir()) == []


class _Planted:
    """Unpickled, it creates the file it names (a checkpoint's pickle may call anything)."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_checkpoint_is_read_without_running_what_its_pickle_names(tmp_path):
    """torch.load(weights_only=False) ran a planted `__reduce__` before any check."""
    import torch

    canary = tmp_path / "canary"
    torch.save({"state_dict": {}, "hyper_parameters": {"cfg": {}}, "payload": _Planted(str(canary))}, tmp_path / "evil.ckpt")
    proc = subprocess.run([sys.executable, "-m", "xlm", "eval", "ckpt_path=evil.ckpt"], cwd=tmp_path,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "XLM_DATA_DIR": str(tmp_path / "data")},
                          capture_output=True, text=True, timeout=300)
    assert not canary.exists()
    assert proc.returncode == 2 and "which xlm never unpickles: unpickling it could run any code" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_checkpoint_naming_a_standard_library_target_is_refused_before_the_job_is_built(tmp_path):
    """`_target_: shutil.copy` in a checkpoint's stored config ran when eval built the job."""
    import torch

    cfg = {"model": {"_target_": "shutil.copy", "src": str(tmp_path / "secret"), "dst": str(tmp_path / "stolen")}, "paths": {}}
    (tmp_path / "secret").write_text("s\n")
    torch.save({"state_dict": {}, "hyper_parameters": {"cfg": cfg}}, tmp_path / "odd.ckpt")
    proc = subprocess.run([sys.executable, "-m", "xlm", "eval", "ckpt_path=odd.ckpt"], cwd=tmp_path,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "XLM_DATA_DIR": str(tmp_path / "data")},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "names `model._target_: shutil.copy`, a function of Python's standard library" in proc.stderr
    assert not (tmp_path / "stolen").exists() and "Traceback" not in proc.stderr


def test_a_sweep_into_the_folder_of_an_earlier_sweep_is_refused(tmp_path):
    """Its job folders were reused (two checkpoints, one appended log) and its summary listed the
    earlier sweep's jobs as its own."""
    earlier = tmp_path / "sweep"
    (earlier / "0").mkdir(parents=True)
    (earlier / "0" / "train.json").write_text("{}\n")
    proc = subprocess.run([sys.executable, "-m", "xlm", "train", "-m", "experiment=star_easy_arlm", f"hydra.sweep.dir={earlier}"],
                          cwd=tmp_path, env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "XLM_DATA_DIR": str(tmp_path / "data")},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and f"hydra.sweep.dir={earlier} holds an earlier sweep" in proc.stderr, proc.stderr
    assert sorted(p.name for p in earlier.iterdir()) == ["0"]


@pytest.mark.parametrize("argv, said", [
    (["runs", "show", "NAME"], "does not exist: no such run folder or checkpoint"),
    (["eval", "ckpt_path=NAME.ckpt"], "does not exist"),
])
def test_a_path_with_a_name_over_255_bytes_is_a_two_line_error(tmp_path, argv, said):
    """`OSError: [Errno 36] File name too long` was a traceback."""
    name = str(tmp_path / ("a" * 300))
    proc = subprocess.run([sys.executable, "-m", "xlm", *[a.replace("NAME", name) for a in argv]], cwd=tmp_path,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "XLM_DATA_DIR": str(tmp_path / "data")},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and said in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("key", ["optimizer", "trainer", "lightning_module", "seed"])
def test_removing_a_node_every_job_reads_is_two_lines_before_anything_is_written(tmp_path, monkeypatch, capsys, key):
    """`~optimizer` was a ConfigAttributeError traceback, and its run folder stayed."""
    monkeypatch.chdir(tmp_path)
    assert main(["train", "experiment=star_easy_arlm", f"~{key}"]) == 2
    assert f"error: the job needs `{key}`, which the config no longer has (removed with ~{key}?)" in capsys.readouterr().err
    assert not (tmp_path / "outputs").exists()
