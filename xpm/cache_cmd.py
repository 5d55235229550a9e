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
    from xpm.project import cache_dir, holding_cache
    from xpm.removal import remove_tree

    with holding_cache():  # exclusive: waits for running installs (they hold it shared), and they for it
        remove_tree(cache_dir() / "git", ignore_errors=True)
    click.echo(f"cleaned {cache_dir()}")
