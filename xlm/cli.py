"""`xlm`: argv -> command. Imports nothing heavy at module level, so `xlm --help` stays fast.

Two spellings of every job, one code path: ``xlm train A=B`` is ``xlm job_type=train A=B``,
and anything that looks like a Hydra argument (``key=value``, ``-m``, ``--cfg``) goes to
Hydra as is. Mistakes the user can fix print two lines (what, how to fix) and exit 2;
``-v`` adds the traceback.
"""

from __future__ import annotations

import os
import sys
import traceback
from importlib import import_module
from typing import Callable

from xlm import __version__
from xlm.errors import VERBOSE_ENV, UserError, causes, did_you_mean
from xlm.shown import show

# `xlm <command>` -> job_type; the job itself is in xlm.jobs.
JOB_COMMANDS = {
    "train": "train a model: xlm train experiment=star_easy_arlm [debug=overfit] [KEY=VALUE ...]; resume: ckpt_path=PATH",
    "eval": "metrics of a checkpoint: xlm eval ckpt_path=PATH [eval.split=val|test]",
    "generate": "write predictions of a checkpoint: xlm generate ckpt_path=PATH [generate.output_file=F]",
}
# Other commands: name -> (summary, "module:function" taking argv and returning an exit code).
# Imported only when run, so each may import what it needs.
COMMANDS: dict[str, tuple[str, str]] = {
    "models": ("list the models found (core, .xlm_models, installed), where from, and their problems", "xlm.external.report:models_command"),
    "completion": ('shell completion: eval "$(xlm completion bash)" (or zsh)', "xlm.completion:completion_command"),
    "tokenizer": ("train a byte-level BPE tokenizer on text: xlm tokenizer train FILES --vocab-size N --out DIR", "xlm.data.tokenizer_command:tokenizer_command"),
    "runs": ("the models a run used: xlm runs show RUN|CKPT; what differs: xlm runs diff A B", "xlm.provenance.runs_command:runs_command"),
}


def _setup_models_for_job() -> None:
    """Register the project's models, refusing vendored ones that do not match xlm.lock."""
    from xlm.external.vendored import JOB_BLOCKING_KINDS
    from xlm.external_models import setup_external_models

    setup_external_models(fatal_kinds=JOB_BLOCKING_KINDS)


def _help_sections(width: int) -> tuple[str, list[str]]:
    """(config groups text, model command lines), discovering the models once.

    Help must print even when a model is broken, so failures become a line of text.
    """
    from xlm.config_groups import config_groups
    from xlm.external.commands import help_lines
    from xlm.external_models import setup_external_models

    try:
        found = setup_external_models()
        groups = config_groups()
    except Exception as exc:
        return f"  (config groups unavailable: {exc})", []
    group_width = max((len(g) for g in groups), default=0)
    text = "\n".join(f"  {group:<{group_width}}  {', '.join(options)}" for group, options in groups.items())
    return text, help_lines(width, found.commands)


def help_text() -> str:
    width = max(len(name) for name in [*JOB_COMMANDS, *COMMANDS])
    commands = [f"  {name:<{width}}  {summary}" for name, summary in JOB_COMMANDS.items()]
    commands += [f"  {name:<{width}}  {summary}" for name, (summary, _) in COMMANDS.items()]
    groups_text, model_commands = _help_sections(width)
    commands += model_commands  # from the models' configs/commands.yaml
    return "\n".join(
        [
            f"xlm {__version__}: train language models from Hydra configs",
            "",
            "usage: xlm [-v] COMMAND [-m] [KEY=VALUE ...]",
            "       xlm [-v] job_type=train|eval|generate [-m] [KEY=VALUE ...]   (the Hydra form)",
            "",
            "commands:",
            *commands,
            "",
            "config groups (choose with GROUP=OPTION; -m sweeps comma-separated values):",
            groups_text,
            "",
            "options:",
            "  -v, --verbose  show tracebacks and Hydra's full errors (as HYDRA_FULL_ERROR=1 does)",
            "  -h, --help     this help; `xlm job_type=train --help` shows Hydra's help",
            "  --version      print the version",
            "",
            "examples:",
            "  xlm train experiment=star_easy_arlm debug=overfit",
            "  xlm train -m experiment=star_easy_arlm optimizer.lr=1e-3,1e-4",
            "  xlm eval ckpt_path=outputs/train/star_easy_arlm/<time>/checkpoints/last.ckpt",
            "  xlm train experiment=star_easy_arlm --cfg job      # print the composed config",
        ]
    )


def check_overrides(overrides: list[str]) -> None:
    """Catch ``group=option`` typos before Hydra starts, with the options that do exist."""
    from xlm.config_groups import config_groups, unknown_option_fix, unknown_selection

    groups = config_groups()
    for override in overrides:
        group, _, value = override.partition("=")
        if "=" in override and not group.lstrip("+~"):  # `=1`: Hydra blamed a `GROUP=null` nobody wrote
            raise UserError(f"`{show(override)}` gives a value to no key", "write KEY=VALUE (e.g. seed=1), or GROUP=OPTION")
        if group in _ONE_OPTION_GROUPS and value.startswith("[") and "," in value:
            raise UserError(f"{group} takes one option, not a list (in `{override}`): a list composes them on top of "
                            "each other, the last one winning key by key", f"pick one: {group}=OPTION (a sweep: -m {group}=A,B)")
        if (problem := unknown_selection(override, groups)) is not None:
            group, option, choices = problem
            from xlm.external.diagnose import unlisted_option

            if (unlisted := unlisted_option(group, option)) is not None:
                raise UserError(*unlisted)
            raise UserError(f"unknown {group} '{option}' (in `{override}`)", unknown_option_fix(group, option, choices))


# xlm's groups of which a job uses one option (`loggers` and `callbacks` take lists).
_ONE_OPTION_GROUPS = frozenset({"model", "model_type", "collator", "datamodule", "experiment", "trainer_strategy",
                                "lr_scheduler", "tokenizer"})

# Hydra flags followed by a value (`--cfg job`, `-cn NAME`, `--info config`).
_HYDRA_VALUE_FLAGS = {"--cfg", "-c", "--package", "-p", "--info", "-i", "--config-path", "-cp",
                      "--config-name", "-cn", "--config-dir", "-cd", "--experimental-rerun"}


def split_hydra_args(args: list[str]) -> tuple[list[str], list[str]]:
    """``(flags, overrides)``: Hydra's parser wants its flags (-m, --cfg job, ...) first.

    Everything that is not a flag or a flag's value is an override, ``~key`` included.
    """
    flags: list[str] = []
    overrides: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-"):
            overrides.append(arg)
        else:
            flags.append(arg)
            following = args[i + 1] if i + 1 < len(args) else ""
            if arg in _HYDRA_VALUE_FLAGS and following and not following.startswith("-") and "=" not in following:
                flags.append(following)
                i += 1
            elif arg in ("--info", "-i"):  # its value is optional: else Hydra's parser takes the override after it
                flags.append("all")
            elif arg in ("--cfg", "-c"):  # Hydra's parser took the job_type= xlm adds for its value
                raise UserError(f"{arg} needs what to print: job, hydra or all", f"e.g. xlm train experiment=... {arg} job")
        i += 1
    return flags, overrides


_MODES = {"-m": "-m", "--multirun": "-m", "-r": "--run", "--run": "--run", "-c": "--cfg", "--cfg": "--cfg",
          "-i": "--info", "--info": "--info", "-sc": "--shell-completion", "--shell-completion": "--shell-completion"}


_OTHER_FLAGS = {"--resolve", "--hydra-help", "--help", "-h", "--version"}


def _check_one_mode(flags: list[str]) -> None:
    """Hydra runs one of a sweep, a run, --cfg, --info at a time; two were a traceback from its
    parser. A flag Hydra does not know printed its 8-line usage."""
    known = {*_MODES, *_HYDRA_VALUE_FLAGS, *_OTHER_FLAGS}
    if unknown := next((flag for flag in flags if flag.startswith("-") and flag.split("=", 1)[0] not in known), None):
        raise UserError(f"unknown option {unknown}", "xlm's own: -v; Hydra's: -m (a sweep), --cfg job (print the config), "
                        "--info; anything else is an override: KEY=VALUE")
    modes = list(dict.fromkeys(_MODES[flag] for flag in flags if flag in _MODES))
    if len(modes) > 1:
        raise UserError(f"{' and '.join(modes)} cannot be used together: Hydra does one of them at a time",
                        "drop one (to see one sweep job's config: --cfg job with that job's overrides, without -m)")


def _check_package(flags: list[str], overrides: list[str]) -> None:
    """`--cfg job --package KEY` of a key the job's config lacks: Hydra printed its bare `package 'KEY'
    not found in config`, nothing more."""
    given = next((flags[i + 1] for i, flag in enumerate(flags[:-1]) if flag in ("--package", "-p")), None)
    shown = next((flags[i + 1] for i, flag in enumerate(flags[:-1]) if flag in ("--cfg", "-c")), None)
    if not given or given == "_global_" or shown != "job":
        return
    from omegaconf import OmegaConf

    from xlm import preflight

    cfg = preflight.compose(overrides)
    if OmegaConf.select(cfg, given) is None:
        parent, _, _ = given.rpartition(".")
        node = OmegaConf.select(cfg, parent) if parent else cfg
        keys = [f"{parent}.{k}" if parent else str(k) for k in node.keys()] if OmegaConf.is_dict(node) else []
        raise UserError(f"--package {given}: the job's config has no key '{given}'",
                        f"{did_you_mean(given, keys)}give a key it has: {', '.join(keys) if keys else '`--cfg job` prints them'}")


def _checkpoint_job_name(cfg, overrides: list[str]) -> list[str]:
    """``job_name=<the checkpoint's>`` when the job takes its config from a checkpoint, so that
    ``xlm eval ckpt_path=...`` writes to outputs/eval/<experiment>/, not outputs/eval/run/."""
    import re

    path = cfg.get("ckpt_path")
    if not path or cfg.get("model") is not None or any(o.lstrip("+").startswith("job_name=") for o in overrides):
        return []
    from xlm.from_checkpoint import stored_job_name

    name = stored_job_name(str(path))
    return [f"job_name={name}"] if name and re.fullmatch(r"[\w.-]+", name) else []


def run_hydra(args: list[str]) -> int:
    """Compose the config from ``args`` (overrides and Hydra flags) and run the job it names."""
    from xlm import preflight
    from xlm.config_errors import explain

    flags, overrides = split_hydra_args(args)
    if not flags or {"-m", "--multirun"} & set(flags):  # a job that writes a run folder
        preflight.check_not_in_vendored(overrides)
        preflight.check_sweep_dir(overrides)
    _setup_models_for_job()
    _check_one_mode(flags)
    check_overrides(overrides)
    _check_package(flags, overrides)
    if not flags:  # one plain run: refuse what cannot run before torch is imported
        preflight.check_run_dir(overrides)
        cfg = preflight.compose(overrides)
        preflight.check(cfg, JOB_COMMANDS, preflight.selections(overrides), overrides)
        overrides += _checkpoint_job_name(cfg, overrides)
    # Hydra reads sys.argv; Lightning's DDP launcher later re-runs sys.argv in each worker,
    # so the rewritten argv must itself be a valid `xlm` command (it is: the Hydra form).
    sys.argv = [sys.argv[0], *flags, *overrides]
    # Hydra then raises instead of printing its own report, so the user's mistakes it finds
    # (unknown key, bad syntax) print as two lines like ours; other failures keep the traceback.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    from xlm.jobs import failed_sweep_jobs, main as hydra_main, started

    try:
        hydra_main()
    except Exception as exc:
        if (error := explain(exc, choices=preflight.selections(overrides))) is None:
            unwritable = next((e for e in causes(exc) if isinstance(e, OSError)), None)
            if started() or unwritable is None:
                raise
            from xlm.textfile import os_error  # Hydra could not make the run's folder or its log file

            error = UserError(f"cannot make the run's folder or its log: {os_error(unwritable)[0]}",
                              "choose a folder you can write (hydra.run.dir=...), or a shorter job_name")
        raise error from exc
    if failed := failed_sweep_jobs():  # each said why when it ended; the sweep went on
        error = UserError(f"{len(failed)} job(s) of the sweep failed (their errors are above; summary.csv lists them as failed): "
                          + "; ".join(" ".join(overrides) for overrides, _ in failed),
                          "fix what each error says, then run those jobs again (without -m, with their overrides)")
        if any(crashed for _, crashed in failed):  # a bug or out of memory is no mistake of the user's: 1, as for one job
            error.exit_code = 1
        raise error
    return 0


def _core_command_form(command: str, rest: list[str]) -> UserError | None:
    """`xlm command=NAME ARGS`, as xlm-core ran a model's command, when NAME is one: here it runs by
    its name (Hydra would say the config has no key 'command', and `+command=` that no model is selected)."""
    from xlm.external.commands import find_command

    name = command.split("=", 1)[1]
    if find_command(name) is None:
        return None
    return UserError(f"`{command}` is xlm-core's way to run a model command; here a model command runs by its name",
                     "run: " + " ".join(["xlm", name, *rest]))


def _dispatch(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(help_text())
        return 0
    command, rest = argv[0], argv[1:]
    if command == "--version":
        print(f"xlm {__version__}")  # the form of `xpm --version`
        return 0
    if command in JOB_COMMANDS:
        if any(arg in ("-h", "--help") for arg in rest):
            print(f"xlm {command}: {JOB_COMMANDS[command]}\n\nconfig groups:\n{_help_sections(0)[0]}")
            return 0
        return run_hydra([f"job_type={command}", *rest])
    if command in COMMANDS:
        module, _, function = COMMANDS[command][1].partition(":")
        target: Callable[[list[str]], int] = getattr(import_module(module), function)
        return int(target(rest) or 0)
    if command.lstrip("+").startswith("command=") and (said := _core_command_form(command, rest)) is not None:
        raise said
    if "=" in command or command.startswith("-"):
        return run_hydra(argv)
    from xlm.external.commands import find_command, run_command, skipped_command

    if (model_command := find_command(command)) is not None:
        return run_command(model_command, rest)
    if (skipped := skipped_command(command)) is not None:
        raise skipped
    from xlm.external_models import setup_external_models

    names = [*JOB_COMMANDS, *COMMANDS, *(c.name for c in setup_external_models().commands)]
    raise UserError(f"unknown command '{command}'", f"{did_you_mean(command, names)}run `xlm --help` to see the commands")


def main(argv: list[str] | None = None) -> int:
    from xlm.std_streams import make_safe

    make_safe()
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = False
    while argv and argv[0] in ("-v", "--verbose"):
        verbose = True
        argv.pop(0)
    if argv and (argv[0] in (*JOB_COMMANDS, "runs", "models") or "=" in argv[0]) and any(a in ("-v", "--verbose") for a in argv):
        verbose = True  # `xlm train ... -v`, `xlm runs show RUN -v`: no Hydra flag, override or path is spelt so
        argv = [a for a in argv if a not in ("-v", "--verbose")]
    # HYDRA_FULL_ERROR=1 asks for tracebacks too, unless it is ours (run_hydra sets it, and
    # DDP workers inherit it along with VERBOSE_ENV, which then decides).
    saved = {name: os.environ.get(name) for name in (VERBOSE_ENV, "HYDRA_FULL_ERROR")}
    inherited = saved[VERBOSE_ENV]
    verbose = verbose or inherited == "1" or (inherited is None and saved["HYDRA_FULL_ERROR"] == "1")
    os.environ[VERBOSE_ENV] = "1" if verbose else "0"
    try:
        return _dispatch(argv)
    except UserError as exc:
        if verbose:
            traceback.print_exc()
        print(exc.render(), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except SystemExit as exc:  # Lightning's own Ctrl-C handling exits with 1, as a crash does
        jobs = sys.modules.get("xlm.jobs")
        if exc.code == 1 and jobs is not None and (said := jobs.interrupted()) is not None:
            print(said, file=sys.stderr)
            return 130
        raise
    except BrokenPipeError:  # `xlm runs show RUN | head`: the reader has gone, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # or the exit's flush fails again
        return 141  # what a shell reports for a process ended by SIGPIPE
    finally:  # called in-process (tests, python -c), the next call starts from the same place
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


if __name__ == "__main__":
    sys.exit(main())
