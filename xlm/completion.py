"""Shell completion for `xlm`: ``eval "$(xlm completion bash)"`` (or ``zsh``).

The shell function hands the command line up to the cursor to ``xlm completion --line``,
which prints one candidate per line. Both spellings complete the same way (``xlm train
experiment=<TAB>`` and ``xlm job_type=train experiment=<TAB>``): commands first, then
``group=option`` from the config groups on disk (the models' included), keys of xlm's
config.yaml (``trainer.max_<TAB>``) and file names after ``ckpt_path=``. Nothing heavy is
imported: no torch, no Hydra, no model code.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

BASH = r"""# xlm completion for bash: eval "$(xlm completion bash)" (e.g. in ~/.bashrc)
_xlm_complete() {
    local IFS=$'\n'
    COMPREPLY=($(XLM_COMP_WORDBREAKS="$COMP_WORDBREAKS" "${COMP_WORDS[0]}" completion --shell bash \
        --line "${COMP_LINE:0:$COMP_POINT}" 2>/dev/null))
    # a key (experiment=), a node (trainer.) or a folder (outputs/) goes on without a space
    if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *[=./] ]]; then compopt -o nospace; fi
}
complete -F _xlm_complete xlm
"""

ZSH = r"""# xlm completion for zsh: eval "$(xlm completion zsh)" (in ~/.zshrc, after compinit)
_xlm_complete() {
    local -a candidates
    local candidate
    candidates=("${(@f)$(xlm completion --shell zsh --line "${BUFFER[1,CURSOR]}" 2>/dev/null)}")
    for candidate in $candidates; do
        if [[ $candidate == *[=./] ]]; then compadd -Q -S '' -- $candidate; else compadd -Q -- $candidate; fi
    done
}
compdef _xlm_complete xlm
"""

SCRIPTS = {"bash": BASH, "zsh": ZSH}
FLAGS = ["-m", "--multirun", "--cfg", "--info", "--resolve", "-h", "--help"]
FIRST_FLAGS = ["-v", "--verbose", "-h", "--help", "--version"]
BASH_WORDBREAKS = " \t\n\"'><=;|&(:"


def completion_command(argv: list[str]) -> int:
    """``xlm completion bash|zsh`` prints the script; ``--line LINE`` answers the script."""
    from xlm.errors import UserError

    if argv[:1] == ["--shell"] and len(argv) == 4 and argv[2] == "--line":
        shell, line = argv[1], argv[3]
        candidates = complete(line)
        if shell == "bash":
            candidates = for_bash(candidates, current_word(line), os.environ.get("XLM_COMP_WORDBREAKS") or BASH_WORDBREAKS)
        print("\n".join(candidates))
        return 0
    if argv in (["-h"], ["--help"], ["help"]):
        print('usage: xlm completion bash|zsh\n\nprints the shell\'s completion script: add `eval "$(xlm completion bash)"` '
              "to ~/.bashrc (zsh: ~/.zshrc)")
        return 0
    if len(argv) != 1 or argv[0] not in SCRIPTS:
        raise UserError("usage: xlm completion bash|zsh", 'add `eval "$(xlm completion bash)"` to ~/.bashrc (zsh: ~/.zshrc)')
    print(SCRIPTS[argv[0]], end="")
    return 0


def current_word(line: str) -> str:
    """The word being completed: after the last unquoted blank ('' after a blank)."""
    return "" if not line or line[-1].isspace() else _split(line)[-1]


def _split(line: str) -> list[str]:
    for closing in ("", '"', "'"):  # an open quote is part of the word being typed
        try:
            return shlex.split(line + closing)
        except ValueError:
            continue
    return line.split()


def for_bash(candidates: list[str], word: str, wordbreaks: str) -> list[str]:
    """Bash replaces only the text after the word's last break character (``=``, ``:``)."""
    cut = max((word.rfind(c) for c in wordbreaks), default=-1) + 1
    return [c[cut:] for c in candidates if c.startswith(word[:cut])]


def complete(line: str) -> list[str]:
    """The candidates for the last word of ``line`` (an ``xlm ...`` command line up to the cursor)."""
    words = _split(line)
    word = current_word(line)
    before = words[1:len(words) - (1 if word else 0)]  # without `xlm` and the word being typed
    while before and before[0] in ("-v", "--verbose"):
        before.pop(0)
    if not before:
        if word.startswith("-"):
            return _matching(FIRST_FLAGS, word)
        if "=" not in word:
            return _matching([*_commands(), "job_type="], word)
    elif not _is_job(before[0]):
        return []  # `xlm models ...`, a model's command: their own arguments
    if word.startswith("-"):
        return _matching(FLAGS, word)
    return _override(word, job_named=any(_is_job_name(w) for w in before))


def _is_job(first: str) -> bool:
    from xlm.cli import JOB_COMMANDS

    return first in JOB_COMMANDS or "=" in first or first.startswith("-")


def _is_job_name(word: str) -> bool:
    from xlm.cli import JOB_COMMANDS

    return word in JOB_COMMANDS or word.startswith("job_type=")


def _commands() -> list[str]:
    from xlm.cli import COMMANDS, JOB_COMMANDS

    names = [*JOB_COMMANDS, *COMMANDS]
    try:
        from xlm.external_models import setup_external_models

        names += [c.name for c in setup_external_models().commands]
    except Exception:  # noqa: BLE001  (a broken model must not break the shell)
        pass
    return names


def _override(word: str, job_named: bool) -> list[str]:
    """``group=option``, ``key.sub=``, ``ckpt_path=FILE`` for the override being typed."""
    prefix = word[: len(word) - len(word.lstrip("+~"))]
    key, eq, value = word[len(prefix):].partition("=")
    groups = _groups()
    if eq:
        if key == "job_type":
            from xlm.cli import JOB_COMMANDS

            options = list(JOB_COMMANDS)
        elif key in groups:
            options = [*groups[key], "null"]
        elif key == "ckpt_path" or key.endswith(("_path", "_dir", "_file")):
            return [f"{prefix}{key}={path}" for path in _paths(value)]
        else:
            return []
        return _matching([f"{prefix}{key}={option}" for option in options], word)
    keys = [f"{group}=" for group in groups] + ([] if job_named else ["job_type="])
    node, _, _ = key.rpartition(".")
    keys += [f"{node + '.' if node else ''}{name}" for name in _config_keys(node) if not (job_named and name == "job_type=")]
    if "+" in prefix:  # `+KEY` adds what the config lacks: every key and group here it has (xlm refuses `+optimizer.lr=`)
        keys = [k for k in keys if k.endswith(".")]  # a node to add a new key under
    return _matching([f"{prefix}{k}" for k in keys], word)


def _groups() -> dict[str, list[str]]:
    from xlm.config_groups import config_groups

    try:
        from xlm.external_models import setup_external_models

        setup_external_models()
    except Exception:  # noqa: BLE001  (core groups still complete)
        pass
    return config_groups()


def _config_keys(node: str) -> list[str]:
    """Keys under ``node`` of xlm's config.yaml: ``name.`` for a mapping, ``name=`` for a value."""
    import yaml

    from xlm.config_groups import CORE_CONFIG_DIR

    try:
        tree = yaml.safe_load((CORE_CONFIG_DIR / "config.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return []
    tree.pop("defaults", None)
    for part in filter(None, node.split(".")):
        tree = tree.get(part) if isinstance(tree, dict) else None
    if not isinstance(tree, dict):
        return []
    return [f"{k}." if isinstance(v, dict) else f"{k}=" for k, v in tree.items() if not str(k).startswith("_")]


def _paths(partial: str) -> list[str]:
    """Files and folders (``name/``) starting with ``partial``."""
    folder, slash, start = partial.rpartition("/")
    shown = folder + slash
    where = Path(os.path.expanduser(shown or "."))
    try:
        entries = sorted(p for p in where.iterdir() if p.name.startswith(start) and (start or not p.name.startswith(".")))
    except OSError:
        return []
    return [f"{shown}{p.name}/" if p.is_dir() else f"{shown}{p.name}" for p in entries]


def _matching(candidates: list[str], word: str) -> list[str]:
    return sorted(dict.fromkeys(c for c in candidates if c.startswith(word)))


if __name__ == "__main__":
    sys.exit(completion_command(sys.argv[1:]))
