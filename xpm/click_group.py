"""The click group of `xpm`: commands loaded when first used, and errors reported once.

A user error raised by a command is reported by `xpm.cli.report` (two lines, exit 1); a
command line click cannot read is the same two lines, exit 2 (`UsageMistake`), with click's
own suggestion moved into the fix line.
"""

from __future__ import annotations

import click

from xpm.cli import report


class XpmGroup(click.Group):
    """A click group that reports errors once and can load commands lazily.

    `lazy` maps a command name to "module:attribute", imported only when that command is used
    (or help lists it), so a rarely used command never slows down `xpm install`:

        main.lazy["new"] = "xpm.new:new"
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, str] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, name: str):
        if name in self.lazy and name not in self.commands:
            import importlib

            module, _, attribute = self.lazy[name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attribute), name)
        return super().get_command(ctx, name)

    def make_context(self, *args, **kwargs) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            raise _usage(exc) from None
        except OSError as exc:  # writing `--help`: `xpm --help | head -1` ends 141, as a command's output does
            raise click.exceptions.Exit(report(exc, False, click.echo)) from None

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _usage(exc) from None
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BaseException as exc:
            code = report(exc, (ctx.obj or {}).get("verbose", False), click.echo)
            if code is None:
                raise
            ctx.exit(code)


class UsageMistake(click.ClickException):
    """A command line click cannot read (a missing argument, an unknown option or command), in
    xpm's two lines; exit 2, as usage errors are."""

    exit_code = 2

    def __init__(self, what: str, fix: str):
        super().__init__(what)
        self.fix = fix

    def show(self, file=None) -> None:
        click.echo(f"error: {self.message}\n  fix: {self.fix}", err=True)


def _usage(exc: click.UsageError) -> click.ClickException:
    if type(exc).__name__ == "NoArgsIsHelpError":  # a bare `xpm`: click prints the help
        return exc
    import re

    what, hint = exc.format_message(), ""
    if (guess := re.search(r"\.?\s*\(?(Did you mean [^()]*\?)\)?$", what)) is not None:  # click's suggestion goes to the fix
        what, hint = what[:guess.start()], f"{guess.group(1)[:1].lower()}{guess.group(1)[1:]} or "
    what = what.rstrip(".")
    command = exc.ctx.command_path if exc.ctx is not None else "xpm"
    return UsageMistake(f"{what[:1].lower()}{what[1:]} (in `{command}`)", f"{hint}run `{command} --help` for its usage")
