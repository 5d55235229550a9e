"""The `xpm` console script (`xpm.cli:main` in pyproject), and what every command line shares.

`xpm install` is what users run most (after each pull, in each CI job), and a warm one has
nothing to do: loading click and the command modules was a fifth of its time. So `main()`
runs a plain `xpm install` (no options but -q, -v, -C DIR, -j N, --frozen, --offline) itself,
through the same `install_command` and `report` as the click command in `xpm.commands`, where
every other command line goes (help, other commands and options, and every usage error):

    xpm -q install          here, without click
    xpm install --deps      xpm.commands (click)

Before that, a plain `xpm install` asks `xpm.noop` whether the proof the last clean install
left shows there is nothing to do (os, sys and json only); if so it says `up to date` and
ends, else it runs as if there were no proof. So this module imports nothing of xpm or xlm at
its top.

`main` is also the click group for those who use it as one (`CliRunner().invoke(main, ...)`,
`main.commands`): every attribute but the call is the group's.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_GLOBAL_FLAGS = {"-q": "quiet", "--quiet": "quiet", "-v": "verbose", "--verbose": "verbose"}
_INSTALL_FLAGS = {"--frozen": "frozen", "--offline": "offline"}


def redact(text: str) -> str:
    """Every line xpm prints about a URL goes through `xlm.shown.redact` (imported when first needed)."""
    from xlm.shown import redact

    return redact(text)


def _echo(text: str = "", err: bool = False) -> None:
    print(text, file=sys.stderr if err else sys.stdout, flush=True)


def plain_install(argv: list[str]) -> dict | None:
    """The options of `argv` when it is a plain `xpm install` (see the module docstring), else None."""
    found = {"quiet": False, "verbose": False, "dir": None, "jobs": 8, "frozen": False, "offline": False}
    args = iter(argv)
    for arg in args:
        if arg in _GLOBAL_FLAGS:
            found[_GLOBAL_FLAGS[arg]] = True
        elif arg in ("-C", "--project", "-j", "--jobs"):
            value = next(args, None)
            if value is None or value.startswith("-"):
                return None
            if arg in ("-j", "--jobs"):
                if not (value.isascii() and value.isdigit() and 1 <= int(value) <= 64):
                    return None  # click says what is wrong with it
                found["jobs"] = int(value)
            else:
                found["dir"] = Path(value)
        elif arg == "install":
            for arg in args:
                if arg not in _INSTALL_FLAGS:
                    return None
                found[_INSTALL_FLAGS[arg]] = True
            return found
        else:
            return None
    return None


def _main(argv: list[str] | None = None) -> int | None:
    """Run a plain `xpm install` without click; None when `argv` is not one."""
    found = plain_install(sys.argv[1:] if argv is None else argv)
    if found is None:
        return None
    try:
        if found["dir"] is not None and not found["dir"].is_dir():
            return None  # click's own message for -C FILE or a folder that does not exist
        from xpm.noop import up_to_date

        if up_to_date(None if found["dir"] is None else str(found["dir"])):
            _echo("up to date")  # what install_command says when nothing changed and all is well
            return 0
        install_command(found["dir"], found["quiet"], found["verbose"], found["jobs"], found["offline"], found["frozen"],
                        False, _echo)
    except BaseException as exc:
        code = report(exc, found["verbose"], _echo)
        if code is None:
            raise
        return code
    return 0


class _Main:
    def __call__(self, *args, **kwargs):
        if args or kwargs:  # tests call `main.main(...)`: the group's
            return _click_main()(*args, **kwargs)
        gc = _collect_less()  # the console script
        from xlm.std_streams import make_safe

        make_safe()
        from xpm.interrupt import stop_on_sigterm

        stop_on_sigterm()
        try:
            code = _main()
            if code is not None:
                # A plain install ends here, its output written (`_echo` flushes each line) and
                # every file closed: Python's finalization would tear down each module and
                # thread state, to free nothing the exit does not (~3.5 ms after a cold install).
                for stream in (sys.stdout, sys.stderr):
                    try:
                        stream.flush()
                    except (OSError, ValueError):  # the reader left, or the stream is closed: nothing to keep
                        pass
                os._exit(code)
            return _click_main()()
        except KeyboardInterrupt as exc:  # Ctrl-C while click is imported, before a command could report it
            return report(exc, False, _echo)
        finally:
            # The process ends here: the collection Python runs at exit would walk every
            # object still alive, to free nothing the exit does not (25-36 ms after a cold
            # install of 20 models, timed in the process). Frozen objects are never walked.
            gc.freeze()

    def __getattr__(self, name: str):
        return getattr(_click_main(), name)


def _click_main():
    from xpm.commands import main

    return main


main = _Main()


def _collect_less():
    """An xpm process lives for seconds and makes few reference cycles (refcounting frees the
    rest), but at the default threshold (700 new objects) the cycle collector ran ~24 times in
    a cold install of 20 models, most of them while modules were imported: ~9 % of its CPU
    (interleaved A/B, docs/benchmarks.md). Collected far less often, garbage stays bounded."""
    import gc

    gc.set_threshold(25_000, 20, 20)
    return gc


def scaffold_main(argv: list[str] | None = None) -> None:
    """Console script `xlm-scaffold` (pyproject): `xpm new` under the seed documentation's name."""
    from xpm.new import scaffold_main as run

    run(argv)


# ----------------------------------------------------------------------------- shared with xpm.commands
def report(exc: BaseException, verbose: bool, echo) -> int | None:
    """Say what went wrong (two lines; the redacted traceback too with -v) and return the exit
    code; None for what is not ours to report (SystemExit)."""
    from xpm.errors import XpmError

    def traceback() -> None:
        if verbose:
            import traceback

            echo(redact(traceback.format_exc()).rstrip("\n"), err=True)

    if isinstance(exc, XpmError):
        traceback()
        echo(exc.render(), err=True)
        return 1
    if isinstance(exc, RuntimeError) and isinstance(exc.__cause__, KeyboardInterrupt):
        exc = exc.__cause__  # Python wraps what a class body's `__set_name__` raises: a Ctrl-C while a module loads
    if isinstance(exc, KeyboardInterrupt):
        from xpm.interrupt import Terminated

        stopped = "terminated" if isinstance(exc, Terminated) else "interrupted"
        echo(f"{stopped}: nothing half-written is left; run the command again to finish it", err=True)
        return 143 if isinstance(exc, Terminated) else 130
    if isinstance(exc, BrokenPipeError):  # `xpm list | head`: the reader left; say nothing more
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141  # what a shell reports for a process ended by SIGPIPE, as xlm does (what was done stays done)
    if isinstance(exc, OSError):  # a full disk, a read-only or unwritable folder, a name too long...
        from xpm.errors import from_os_error

        traceback()
        echo(from_os_error(exc).render(), err=True)
        return 1
    if isinstance(exc, Exception):  # our own bug: one line unless -v
        traceback()
        echo(redact(f"error: internal error: {type(exc).__name__}: {exc}\n  fix: run again with -v and report the traceback"), err=True)
        return 1
    return None


def warn(name: str, message: str, echo) -> None:
    """Printed even with -q: a warning is not progress."""
    echo(redact(f"warning: model '{name}': {message}"), err=True)


def describe(entry) -> str:
    """`v1.1.0 (de67e8d)`, `main (51c0a2e)`, `de67e8d` (a commit), or a local model's source:
    `(local)` for a bare name, whose folder xlm looks up."""
    from xpm.resolve import describe

    if entry.kind == "git":
        return describe(entry.resolved or "", entry.commit)
    return "(local)" if entry.source == entry.name else entry.source


def install_command(project_dir: Path | None, quiet: bool, verbose: bool, jobs: int, offline: bool, frozen: bool, deps: bool,
                    echo) -> None:
    """`xpm install` (but --from-run): make xlm_models/ match the lock, say what changed,
    then check the models' requirements."""
    from xpm import noop, ops
    from xpm.ops import overrides_note
    from xpm.progress import Progress, quiet as silent
    from xpm.project import Project
    from xpm.sync import Options

    project = Project.find(project_dir)
    before = noop.snapshot(project.root)  # for the no-op proof: nothing may change while this runs
    warned: list[str] = []

    def warned_about(name: str, message: str) -> None:
        warned.append(name)
        warn(name, message, echo)

    options = Options(offline=offline, jobs=jobs, verbose=verbose, progress=silent if quiet else Progress(), warn=warned_about)
    outcome = ops.install(project, options, frozen=frozen)
    for name in outcome.installed:
        echo(f"installed {name} {describe(outcome.lock.entries[name])}")
    for name in outcome.removed:
        echo(f"removed {name}")
    if not outcome.installed and not outcome.removed:
        changes = lock_changes(outcome) if outcome.lock_written else ""
        echo(f"up to date; wrote xlm.lock ({changes})" if changes else "up to date")
    if note := overrides_note(project, frozen):
        echo(redact(note), err=True)
    met = requirements_check(project, quiet, deps, frozen, echo, outcome.lock)
    clean = met and not warned and note is None and outcome.lock == outcome.previous  # the lock file is this lock
    noop.record(project, before, outcome.lock if clean else None)


def lock_changes(outcome) -> str:
    """`+loc, -old, ~zlm`: the models the lock gained, lost or changed (a local model's line
    added or removed installs nothing, yet changes the lock)."""
    new, old = outcome.lock.entries, outcome.previous.entries if outcome.previous else {}
    marks = [("+" if name not in old else "-" if name not in new else "~") + name
             for name in sorted(new.keys() | old.keys()) if new.get(name) != old.get(name)]
    return ", ".join(marks)


def requirements_check(project, quiet: bool, deps: bool, frozen: bool, echo, lock=None) -> bool:
    """Check every model's Python requirements against this interpreter: print warnings (the
    command still succeeds), fail with --frozen, install what is missing with --deps.
    True when every requirement holds. `lock`: the lock `xlm_models/` was just made to match
    (`xpm.deps.model_roots`)."""
    from xpm import deps as requirements

    if deps:  # the check after installing (or finding nothing to install) is the check
        say = None if quiet else (lambda line: echo(redact(line), err=True))
        installed, report = requirements.install_missing(project, say, lock=lock)
        if installed:
            echo(f"installed requirements: {' '.join(installed)}")
    else:
        report = requirements.check(project, lock)
    if report.ok:
        return True
    if frozen:
        raise requirements.frozen_error(report)
    for line in requirements.warning_lines(report):
        echo(redact(line), err=True)
    return False


if __name__ == "__main__":
    sys.exit(main())
