"""The user's mistakes, as one exception type the CLI catches once at the top.

A :class:`UserError` prints as two lines (what is wrong and where; how to fix it) and exits
non-zero without a traceback. Anything else is the tool's own failure and keeps its traceback.
Import-light: the CLI imports it before anything heavy. `xlm.config_errors` turns Hydra's and
OmegaConf's reports of config mistakes into these.
"""

from __future__ import annotations

import os

EXIT_USER_ERROR = 2
# "1" when the user asked for tracebacks (`xlm -v`, or HYDRA_FULL_ERROR=1); the CLI sets it
# for the whole process tree, so DDP workers started by Lightning answer the same way.
VERBOSE_ENV = "XLM_VERBOSE"


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV) == "1"


class UserError(Exception):
    """Something the user can fix: a bad override, a missing checkpoint, an unknown option."""

    exit_code = EXIT_USER_ERROR  # 1 where the two lines sum up a crash (a sweep whose job crashed)

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(what)
        self.what, self.fix = what, fix

    def render(self) -> str:
        return f"error: {self.what}\n  fix: {self.fix}"



def first_of(items, limit: int, sep: str = ", ") -> str:
    """``a, b, c and 4 more``: the first ``limit`` of ``items`` (texts), then how many are left out."""
    items = list(items)
    return sep.join(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")


def did_you_mean(word: str, choices) -> str:
    """``"did you mean 'train'? "`` when ``word`` is close to one of ``choices``, else ``""``."""
    import difflib

    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'? " if close else ""


def causes(exc: BaseException | None):
    """`exc` and the exceptions it was raised from or during, outermost first (each once)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__
