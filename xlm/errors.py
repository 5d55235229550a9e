"""The user's mistakes, as one exception type the CLI catches once at the top.

A :class:`UserError` prints as two lines (what is wrong and where; how to fix it) and exits
non-zero without a traceback. Anything else is the tool's own failure and keeps its traceback.
Import-light: the CLI imports it before anything heavy.
"""

from __future__ import annotations

EXIT_USER_ERROR = 2


class UserError(Exception):
    """Something the user can fix: a bad override, a missing checkpoint, an unknown option."""

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(what)
        self.what, self.fix = what, fix

    def render(self) -> str:
        return f"error: {self.what}\n  fix: {self.fix}"
