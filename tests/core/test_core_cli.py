"""`xlm` as a user meets it: help without torch, two-line errors, the Hydra form."""

from __future__ import annotations

import subprocess
import sys

import pytest

from xlm.cli import main
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


def test_unknown_selection_checks_only_plain_group_choices():
    groups = {"experiment": ["a", "b"], "debug": ["overfit"]}
    assert unknown_selection("experiment=c", groups) == ("experiment", "c", ["a", "b"])
    for fine in ("experiment=a", "experiment=null", "experiment=a,c", "loggers=[x,y]", "+experiment=c",
                 "optimizer.lr=1e-3", "seed=3"):
        assert unknown_selection(fine, groups) is None, fine


def test_config_groups_come_from_core_and_model_trees():
    from xlm.external_models import setup_external_models

    setup_external_models()
    groups = config_groups()
    assert groups["trainer_strategy"] == ["cpu", "ddp", "fsdp", "single_device"]
    assert {"arlm", "mlm"} <= set(groups["model"]) and {"star_easy_arlm", "star_easy_mlm"} <= set(groups["experiment"])
