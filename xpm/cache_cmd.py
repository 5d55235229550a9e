"""`xpm cache dir|clean`: the shared cache of bare mirrors, loaded only when used (`xpm.commands`)."""

from __future__ import annotations

import click


@click.group()
def cache() -> None:
    """The shared cache of bare mirrors ($XPM_CACHE_DIR, default ~/.cache/xpm).

    \b
    Examples:
      xpm cache dir
      xpm cache clean
    """


@cache.command("dir")
def cache_dir_cmd() -> None:
    """Print the cache folder.

    \b
    Example:
      du -sh "$(xpm cache dir)"
    """
    from xpm.project import cache_dir

    click.echo(str(cache_dir()))


@cache.command("clean")
def cache_clean() -> None:
    """Delete the cached mirrors (installed models stay; the next fetch starts over).

    \b
    Example:
      xpm cache clean && xpm install
    """
    from xlm.shown import show
    from xpm.errors import XpmError
    from xpm.project import cache_dir, holding_cache
    from xpm.removal import remove_tree

    mirrors = cache_dir() / "git"
    if not cache_dir().is_dir():  # nothing to clean: its lock would make the folder
        click.echo(f"nothing to clean: {cache_dir()} does not exist")
        return
    with holding_cache(checked=False):  # exclusive: waits for running installs (they hold it shared), and they for it
        try:
            remove_tree(mirrors)
        except OSError as exc:  # never say "cleaned" of what is still there
            raise XpmError(f"cannot delete all of {mirrors}: {exc.strerror or exc} (at '{show(str(exc.filename))}'); "
                           "what is left is still used (a mirror that lost files is fetched again)",
                           "make it deletable (its permissions, `chattr -i`, a read-only mount), then run `xpm cache clean` again") from None
    click.echo(f"cleaned {cache_dir()}")
