"""`xlm` as a user meets it: help without torch, two-line errors, the Hydra form."""

from __future__ import annotations

import subprocess
import sys

import pytest

from xlm.cli import main, split_hydra_args
from xlm.config_groups import config_groups, unknown_selection


def test_help_lists_commands_and_config_groups_without_importing_torch():
    code = (
        "import sys; from xlm.cli import main; main(['--help']); "
        "heavy = [m for m in ('torch', 'lightning', 'hydra') if m in sys.modules]; "
        "print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out
    for text in ("train", "eval", "generate", "job_type=train", "experiment", "star_easy_arlm", "star_easy_mlm",
                 "trainer_strategy", "ddp", "debug", "overfit", "loggers", "tensorboard"):
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
    assert flags == ["--cfg", "job", "-m", "--info"]
    assert overrides == ["experiment=a", "~optimizer.weight_decay", "foo", "seed=1"]


@pytest.mark.parametrize(
    "override, what, fix",
    [
        ("optimizer.lrr=1", "error: the config has no key 'optimizer.lrr'", "add it with +optimizer.lrr=1"),
        ("+optimizer.lr=1", "'optimizer.lr' is already in the config", "drop the +: optimizer.lr=1"),
        ("optimizer", "cannot parse the override `optimizer`", "write overrides as KEY=VALUE"),
        ("loggers=[csv,tensorbord]", "unknown loggers 'tensorbord'", "choose one of: csv, tensorboard, wandb"),
    ],
)
def test_mistakes_hydra_finds_are_two_lines_too(tmp_path, override, what, fix):
    """Bad keys and syntax are found by Hydra while composing; they print like our own errors."""
    proc = subprocess.run([sys.executable, "-m", "xlm", "train", "experiment=star_easy_arlm", override],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 2, proc.stderr
    assert what in lines[0] and fix in lines[1], proc.stderr
