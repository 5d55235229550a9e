"""Shell completion of `xlm` (both spellings) and `xpm`, in real bash (and zsh when installed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from xlm.completion import complete, for_bash

BIN = str(Path(sys.executable).parent)  # where the `xlm` and `xpm` scripts of this interpreter are


def shell_env(tmp_path: Path) -> dict:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "XLM_CACHE_DIR": str(tmp_path / "cache")}


@pytest.mark.parametrize(
    "line, expected",
    [
        ("xlm ", ["completion", "eval", "generate", "job_type=", "models", "runs", "tokenizer", "train"]),
        ("xlm tr", ["train"]),
        ("xlm -", ["--help", "--verbose", "--version", "-h", "-v"]),
        ("xlm -v ev", ["eval"]),
        ("xlm job_type=tr", ["job_type=train"]),
        ("xlm train experiment=star_easy_a", ["experiment=star_easy_arlm"]),
        ("xlm job_type=train experiment=star_easy_a", ["experiment=star_easy_arlm"]),
        ("xlm train trainer.max_s", ["trainer.max_steps="]),
        ("xlm job_type=eval trainer.max_s", ["trainer.max_steps="]),
        ("xlm train trainer_strategy=d", ["trainer_strategy=ddp"]),
        # `+KEY` adds what the config lacks: `+optimizer.lr=` (xlm refuses it: drop the +) was offered
        ("xlm train +optimizer.l", []),
        ("xlm train +optim", ["+optimizer."]),
        ("xlm train +callb", []),
        ("xlm train debug=", ["debug=null", "debug=overfit"]),
        ("xlm train -m", ["-m"]),
        ("xlm models ", []),
    ],
)
def test_candidates(line, expected):
    assert complete(line) == expected


def test_job_type_is_offered_once_and_only_in_the_hydra_form():
    assert "job_type=" in complete("xlm seed=1 ")
    assert "job_type=" not in complete("xlm train ")
    assert "job_type=" not in complete("xlm job_type=train ")
    assert "experiment=" in complete("xlm job_type=train ") and "trainer." in complete("xlm train ")


def test_files_after_ckpt_path(tmp_path, monkeypatch):
    run = tmp_path / "outputs" / "train" / "x" / "checkpoints"
    run.mkdir(parents=True)
    (run / "last.ckpt").touch()
    monkeypatch.chdir(tmp_path)
    assert complete("xlm eval ckpt_path=out") == ["ckpt_path=outputs/"]
    assert complete(f"xlm eval ckpt_path={run}/l") == [f"ckpt_path={run}/last.ckpt"]


def test_bash_is_given_only_the_text_after_the_last_word_break():
    assert for_bash(["experiment=star_easy_arlm"], "experiment=star", " =:") == ["star_easy_arlm"]
    assert for_bash(["train"], "tr", " =:") == ["train"]
    assert for_bash(["ckpt_path=a:b/"], "ckpt_path=a:", " =:") == ["b/"]


BASH = """
eval "$(xlm completion bash)"
eval "$(_XPM_COMPLETE=bash_source xpm)"
ask() {
    COMP_LINE="$1"; COMP_POINT=${#1}; read -ra COMP_WORDS <<< "$1"
    [[ "$1" == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
    COMPREPLY=(); "$2" "${COMP_WORDS[0]}" 2>/dev/null; echo "$1 -> ${COMPREPLY[*]}"  # as bash calls it
}
ask "xlm train experiment=star_easy_a" _xlm_complete
ask "xlm job_type=train trainer_strategy=dd" _xlm_complete
ask "xlm ge" _xlm_complete
ask "xpm ad" _xpm_completion
ask "xpm new --fr" _xpm_completion
"""


def test_in_bash(tmp_path):
    out = subprocess.run(["bash", "-c", BASH], cwd=tmp_path, env=shell_env(tmp_path), capture_output=True, text=True,
                         timeout=120).stdout.splitlines()
    assert out == [
        "xlm train experiment=star_easy_a -> star_easy_arlm",  # bash breaks words at '='
        "xlm job_type=train trainer_strategy=dd -> ddp",
        "xlm ge -> generate",
        "xpm ad -> add",
        "xpm new --fr -> --from",
    ]


ZSH = r"""
zmodload zsh/zpty
zpty z 'zsh -f -i'
zpty -w z 'PS1="> "; bindkey -e; autoload -Uz compinit && compinit -u -D'
zpty -w z 'eval "$(xlm completion zsh)"'
zpty -w -n z $'xlm job_type=train experiment=star_easy_a\t'
sleep 4
zpty -w -n z $'\x01echo RESULT \n'
sleep 2
out=""
while zpty -r -t z line; do out+="$line"; done
print -r -- "$out" | tr -d '\r' | grep -a -o "RESULT xlm [a-z_=]* experiment=[a-z_]*" | tail -1
"""


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_in_zsh(tmp_path):
    out = subprocess.run(["zsh", "-f", "-c", ZSH], cwd=tmp_path, env=shell_env(tmp_path), capture_output=True, text=True,
                         timeout=120).stdout
    assert out.strip() == "RESULT xlm job_type=train experiment=star_easy_arlm"


def test_the_command_explains_its_use(capsys):
    from xlm.cli import main

    assert main(["completion"]) == 2
    assert 'eval "$(xlm completion bash)"' in capsys.readouterr().err
    assert main(["completion", "zsh"]) == 0 and "compdef _xlm_complete xlm" in capsys.readouterr().out
