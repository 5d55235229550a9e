"""The `xpm` command line: thin click commands over `xpm.ops` (the console script is
`xpm.cli.main`, which runs a plain `xpm install` without click and hands everything else here).

Errors are caught once, at the top (`xpm.click_group.XpmGroup`, through `xpm.cli.report`): a user error
prints what and how to fix it and exits 1; `-v` adds the traceback and every git command run.
To add a command:

    @main.command()
    def mycommand(): ...
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from xlm.errors import first_of
from xlm.shown import redact  # every line xpm prints about a URL goes through it
from xpm.cli import describe as _describe
from xpm.cli import install_command, requirements_check, warn
from xpm.click_group import XpmGroup
from xpm.errors import XpmError


@click.group(cls=XpmGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks and every git command.")
@click.option("-C", "--project", "project_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), help="Run as if started in this folder.")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines.")
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=8, show_default=True, help="Remotes fetched in parallel.")
@click.version_option(package_name="xlm", prog_name="xpm", message="%(prog)s %(version)s")  # as `xlm --version`
@click.pass_context
def main(ctx: click.Context, verbose: bool, project_dir: Path | None, quiet: bool, jobs: int) -> None:
    """xpm: share xlm models through git. Pins them in xlm.lock, vendors them into xlm_models/.

    \b
    Examples:
      xpm add github.com/lab/zlm@v1    share a model: resolve, vendor, lock
      xpm install                      after a clone or a pull
      xpm install --frozen             in CI: the lock must match .xlm_models
      xpm update zlm                   move zlm to its newest matching tag
      xpm -v install                   show every git command and tracebacks
    """
    ctx.obj = {"verbose": verbose, "dir": project_dir, "quiet": quiet, "jobs": jobs}


def _project(ctx: click.Context, create: bool = False):
    from xpm.project import Project

    return Project.find(ctx.obj["dir"], create=create)


def _options(ctx: click.Context, offline: bool = False):
    from xpm.progress import Progress, quiet
    from xpm.sync import Options

    progress = quiet if ctx.obj["quiet"] else Progress()
    return Options(offline=offline, jobs=ctx.obj["jobs"], verbose=ctx.obj["verbose"], progress=progress, warn=_warn)


def _warn(name: str, message: str) -> None:
    """Printed even with -q: a warning is not progress."""
    warn(name, message, click.echo)


_DEPS_HELP = "Also install the models' missing Python requirements into this interpreter (torch, lightning, hydra-core, xlm stay)."


@main.command()
@click.argument("source")
@click.option("--offline", is_flag=True, help="Use only the local cache.")
@click.option("--deps", is_flag=True, help=_DEPS_HELP)
@click.pass_context
def add(ctx: click.Context, source: str, offline: bool, deps: bool) -> None:
    """Add SOURCE[@REF][#subdir=PATH]: resolve, fetch, validate, vendor, lock.

    REF is a tag, a branch, a commit (full or short) or a version query on tags
    (v1, v1.2, '>=1.2,<2'); without it, the newest release tag, else the default branch.
    For a model already listed from SOURCE, its line moves to REF (comment and place kept).

    \b
    Examples:
      xpm add github.com/lab/zlm@v1                    newest v1.x.y tag
      xpm add github.com/lab/zlm@main                  a branch (update moves it)
      xpm add 'github.com/lab/zlm@>=1.2,<2'            a version range (quote it)
      xpm add https://host/g/models.git@v2#subdir=zlm  one model of a monorepo
      xpm add git@host:lab/zlm.git@3f2a9c1             a commit
      xpm add file:///srv/git/zlm.git                  a repository on disk
      xpm add ./models/my_model                        a local folder (not pinned)
      xpm add github.com/lab/zlm@v1 --deps             and pip-install what the models need
      xpm add github.com/lab/zlm@v2.0.0                move a listed model to v2.0.0
    """
    from xpm import ops

    name, outcome, listed = ops.add(_project(ctx, create=True), source, _options(ctx, offline))
    old = outcome.previous.entries.get(name) if listed and outcome.previous else None
    new = outcome.lock.entries[name]
    if listed and new.kind != "git":
        click.echo(f"{name}: unchanged {_describe(new)}")  # the same local model again
    elif old is None or old.kind != "git" or new.kind != "git":
        click.echo(f"added {name} {_describe(new)}")
    elif (move := _move(old, new)) is None:
        click.echo(f"{name}: unchanged {_describe(new)}")
    else:
        click.echo(f"{name}: {move}")
    _say_if_xlm_skips(ctx, name)
    _say_if_overridden(_project(ctx), [name])
    _requirements(ctx, deps)


def _say_if_overridden(project, names: list[str]) -> None:
    """A model `add` or `update` moved that a working copy overrides: xlm goes on using the copy."""
    from xlm.overrides import read_overrides
    from xlm.textfile import TextFileError

    try:
        found = read_overrides(project.root)
    except TextFileError:  # `xpm install` names a file that cannot be read
        return
    for name in sorted(set(names) & set(found)):
        click.echo(f"note: {name} is overridden by the working copy {found[name].root(project.root)}: xlm uses it, not "
                   f"{project.models_dir / name} (`xpm develop --off {name}` ends it)", err=True)


def _say_if_xlm_skips(ctx: click.Context, name: str) -> None:
    """A model that conflicts with another of the project's is added (the other may be the one to
    change), with a warning: xlm would skip it, and `xlm models` would say why."""
    from xpm.names import why_xlm_skips

    project = _project(ctx)
    if (problem := why_xlm_skips(project.models_file, name)) is not None:
        click.echo(f"warning: xlm will skip model '{name}': {problem.what} ({problem.where})\n  fix: {problem.fix}", err=True)


@main.command()
@click.argument("name")
@click.pass_context
def remove(ctx: click.Context, name: str) -> None:
    """Remove model NAME: its line, its lock entry and its vendored folder.

    \b
    Example:
      xpm remove zlm
    """
    from xpm import ops

    name, ended = ops.remove(_project(ctx), name)
    click.echo(f"removed {name}" + (" and ended its override (xpm develop)" if ended else ""))


@main.command()
@click.option("--frozen", is_flag=True, help="CI: fail if xlm.lock is missing or out of date; never write it.")
@click.option("--offline", is_flag=True, help="Use only the local cache; list what is missing.")
@click.option("--deps", is_flag=True, help=_DEPS_HELP)
@click.option("--from-run", "from_run", metavar="PATH", help="Restore the exact models a run used (its folder, or a checkpoint).")
@click.pass_context
def install(ctx: click.Context, frozen: bool, offline: bool, deps: bool, from_run: str | None) -> None:
    """Make xlm_models/ match xlm.lock (locking new or changed entries first).

    With --from-run, put back the models a run used, byte for byte: its git models at the
    recorded commits (in .xlm_models, xlm.lock, xlm_models/), its local folders rebuilt in
    xlm_restored/ from their commit and saved patch; every one must hash as recorded.

    \b
    Examples:
      xpm install             after a clone or a pull
      xpm install --frozen    in CI
      xpm install --offline   from the cache only (on a plane, behind a firewall)
      xpm install --deps      and pip-install the Python requirements the models declare
      xpm install --from-run outputs/train/star_easy_zlm/2025-01-01_12-00-00
    """
    if from_run is not None:
        if not from_run.strip():  # not the current folder by accident
            raise click.UsageError("--from-run needs a run folder or a checkpoint: it was given an empty path")
        if frozen:
            raise click.UsageError("--from-run writes .xlm_models and xlm.lock; --frozen never does: use one of them")
        _restore(ctx, from_run, offline, deps)
        return
    obj = ctx.obj
    install_command(obj["dir"], obj["quiet"], obj["verbose"], obj["jobs"], offline, frozen, deps, click.echo)


def _restore(ctx: click.Context, path: str, offline: bool, deps: bool) -> None:
    from xpm.restore import restore

    project = _project(ctx, create=True)
    done = restore(project, path, _options(ctx, offline))
    click.echo(f"restored the models of {done.origin}:" if done.steps else f"{done.origin} used no model xpm restores")
    for step in done.steps:
        click.echo(f"  {step.said}")
    for ended in done.ended:
        click.echo(f"ended the override {ended}: the run's code is used")
    for line in done.notes:
        click.echo(redact(line), err=True)
    for line in done.skipped:
        click.echo(redact(f"warning: {line}"), err=True)
    if project.models_file.exists():  # nothing restored into a folder that was no project: nothing to check
        requirements_check(project, ctx.obj["quiet"], deps, False, click.echo)


def _requirements(ctx: click.Context, deps: bool, frozen: bool = False) -> None:
    requirements_check(_project(ctx), ctx.obj["quiet"], deps, frozen, click.echo)


@main.command()
@click.argument("names", nargs=-1)
@click.option("--offline", is_flag=True, help="Resolve against the refs last seen in the cache.")
@click.pass_context
def update(ctx: click.Context, names: tuple[str, ...], offline: bool) -> None:
    """Re-resolve refs (branch heads, newest matching tag) of NAMES, or of every model.

    A model pinned to one version (a full tag such as v1.0.0, or a commit) stays there, and
    update says which newer tags exist and how to move: xpm add SOURCE@TAG.

    \b
    Examples:
      xpm update           every model
      xpm update zlm       only zlm
    """
    from xpm import ops, report

    project, options = _project(ctx), _options(ctx, offline)
    outcome = ops.update(project, options, list(names))
    previous = outcome.previous.entries if outcome.previous else {}
    pinned = report.pins(project, outcome.lock, options)
    if not names and all(entry.kind != "git" for entry in outcome.lock.entries.values()):
        click.echo("no git models in .xlm_models: nothing to update")
    moved: list[str] = []
    asked = {ops.listed_name(name, set(outcome.lock.entries)) for name in names}  # `awesome-lm` is `awesome_lm`
    for name, entry in sorted(outcome.lock.entries.items()):
        if names and name not in asked:
            continue
        if entry.kind != "git":
            if names:  # asked for by name: say why nothing moved
                click.echo(f"{name}: local ({entry.source}), not pinned: nothing to update")
            continue
        old = previous.get(name)
        if old is None or old.kind != "git":
            click.echo(f"{name}: new -> {_describe(entry)}")
            moved.append(name)
        elif (move := _move(old, entry)) is not None:
            click.echo(f"{name}: {move}")
            moved.append(name)
        else:
            # Same commit, yet placed again: its folder was not the locked tree (edited, deleted).
            restored = f"; restored {project.models_dir / name} (it was not the locked tree)" if name in outcome.installed else ""
            click.echo(f"{name}: {_pinned(entry, pinned[name]) if name in pinned else f'unchanged {_describe(entry)}'}{restored}")
    _say_if_overridden(project, moved)


def _move(old, new) -> str | None:
    """`v1.0.0 (4b123d2) -> v1.1.0 (7a0982d)` when a git model's lock entry moved, None when not. A
    ref that moves on the same commit (a new tag, a tag for a commit id) moves too; a branch and a
    tag of one name are told apart."""
    if old.commit == new.commit and _describe(old) == _describe(new) and old.resolved == new.resolved:
        return None
    kinds = old.resolved != new.resolved and _describe(old).split()[0] == _describe(new).split()[0]
    return f"{_kind(old) if kinds else ''}{_describe(old)} -> {_kind(new) if kinds else ''}{_describe(new)}"


def _kind(entry) -> str:
    return "tag " if (entry.resolved or "").startswith("refs/tags/") else "branch " if entry.resolved else ""


def _pinned(entry, pin) -> str:
    """`pinned to v1.0.0 (4b123d2); newer tags: v1.1.0, v2.0.0; to move: xpm add SOURCE@v2.0.0`."""
    shown = first_of(pin.newer, 5)
    what = f"pinned to {_describe(entry)}; "
    if not pin.newer:
        return what + "no newer tags"
    return what + f"{'newer' if pin.version_known else 'newest'} tags: {shown}; to move: xpm add {pin.move}"


@main.command("lock")
@click.option("--check", is_flag=True, help="Exit 1 when xlm.lock is out of date with .xlm_models.")
@click.option("--offline", is_flag=True, help="Use only the local cache.")
@click.pass_context
def lock_cmd(ctx: click.Context, check: bool, offline: bool) -> None:
    """Resolve and write xlm.lock without installing.

    \b
    Examples:
      xpm lock            lock new or changed entries of .xlm_models
      xpm lock --check    in CI or a pre-commit hook: is xlm.lock up to date?
    """
    from xpm import ops

    project = _project(ctx)
    if check:
        diff = ops.lock_check(project)
        if diff:
            raise XpmError(f"{project.lock_file} is out of date:\n    " + "\n    ".join(diff), "run `xpm lock` and commit xlm.lock")
        click.echo("xlm.lock is up to date")
        return
    outcome = ops.lock(project, _options(ctx, offline))
    click.echo(f"wrote {project.lock_file}" if outcome.lock_written else "xlm.lock is up to date")


@main.command("list")
@click.pass_context
def list_cmd(ctx: click.Context) -> None:
    """Show each model: source, requested and resolved ref, commit, state.

    States: ok, modified (files whose content changed since install: a touch or a copy is
    no change), missing (no folder), incomplete (no install stamp xpm can trust), other
    commit (the folder holds another commit than xlm.lock's, e.g. after a pull), not
    installed (listed, not locked yet), local (not managed by xpm), override -> PATH
    (xlm uses the working copy at PATH: `xpm develop`). An ok or local model that xlm skips
    (a conflict with another model, requirements not met) says so: `xlm models` says why.

    \b
    Example:
      xpm list
    """
    from xpm import report

    project = _project(ctx)
    rows = report.list_models(project)
    if not rows:
        click.echo(f"no models in {project.models_file}: add one with `xpm add SOURCE` or `xpm new NAME`")
        return
    table = [("NAME", "SOURCE", "REQUESTED", "RESOLVED", "COMMIT", "STATE")]
    table += [(r.name, r.source, r.requested or "-", r.resolved or "-", r.commit or "-", r.state) for r in rows]
    echo_table(table)


def echo_table(table: list[tuple[str, ...]]) -> None:
    """Print rows (the header first) in columns two spaces apart (`xpm list`, `xpm outdated`)."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


@main.command()
@click.pass_context
def verify(ctx: click.Context) -> None:
    """Re-hash every vendored model against xlm.lock; exit 1 on any difference.

    A model also fails when its folder holds another commit than the lock's, or has no
    install stamp xpm can trust.

    \b
    Example:
      xpm verify && xlm train experiment=star_easy_zlm
    """
    from xpm import report

    verdicts = report.verify(_project(ctx))
    for v in verdicts:
        if v.state == "modified":
            on_disk = v.actual or "not a tree hash: it holds something that is neither a file nor a link"
            click.echo(f"{v.name}: modified (xlm.lock {v.expected}, on disk {on_disk})")
            for label, paths in (("modified", v.modified), ("added", v.added), ("deleted", v.deleted)):
                for path in paths:
                    click.echo(f"    {label}: {_shown_path(path)}")
        elif v.state == "other commit":
            if v.installed != v.commit:
                why = f"xlm_models/{v.name} holds commit {str(v.installed)[:12]}, xlm.lock wants {str(v.commit)[:12]}"
            else:
                why = f"xlm_models/{v.name} was installed with another content hash than xlm.lock's {v.expected}"
            click.echo(f"{v.name}: other commit ({why}) (run: xpm install)")
        elif v.state == "incomplete":
            click.echo(f"{v.name}: incomplete (xlm_models/{v.name} has no install stamp xpm can trust: an interrupted "
                       "install, a damaged stamp, or a folder xpm did not make) (run: xpm install)")
        else:
            click.echo(f"{v.name}: {v.state}" + ("" if v.ok else " (run: xpm install)"))
    if not verdicts:
        click.echo("no git models in .xlm_models: nothing to verify")
    bad = sum(not v.ok for v in verdicts)
    if bad:
        raise XpmError(f"{bad} model(s) differ from xlm.lock", "run `xpm install` to restore them (an edited folder is kept in xlm_models/.xpm/edits/)")


def _shown_path(path: str) -> str:
    """A path found on disk, printable: bytes that are not UTF-8 and control characters escaped."""
    text = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}" for c in text)


# `xpm new` lives in its own module, loaded only when used; `xlm-scaffold` is the same command.
main.lazy["new"] = "xpm.new:new"
main.lazy["import-json"] = "xpm.import_json:import_json"  # xlm-core's xlm_models.json -> .xlm_models
main.lazy["outdated"] = "xpm.outdated:outdated_cmd"  # reads every remote's refs: loaded only when used
main.lazy["develop"] = "xpm.develop:develop_cmd"  # working copies instead of vendored models (xlm.overrides.toml)
main.lazy["cache"] = "xpm.cache_cmd:cache"  # the shared cache of mirrors: dir, clean


if __name__ == "__main__":
    sys.exit(main())
