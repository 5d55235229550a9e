"""Text from outside made fit to print, and lines refused for what they hide.

`show` hides secrets a URL may carry and escapes what a terminal would not show as it is;
`control_problem` says why a line of a project file may not be read at all (a character that
would make it read otherwise than it shows). Shared by the models file, the lock, the
overrides and every message that quotes what a user or a remote wrote.
"""

from __future__ import annotations

import re

# Never allowed in a line, not even in a comment: C0 and C1 controls but tab (a "\r" before
# the "\n" is stripped first), DEL, the line and paragraph separators, the bidirectional
# controls that make text read differently from what it is, and a BOM past the file's start.
_CONTROL_RE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")
# Never allowed either: characters that show as nothing (zero-width spaces and joiners, soft
# hyphen, word joiners, fillers): `lab\u200b/zlm` reads as `lab/zlm` and names another repository.
_INVISIBLE_RE = re.compile("[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u2060-\u2064"
                           "\u206a-\u206f\u3164\ufe00-\ufe0f\uffa0\ufff9-\ufffb]")
# Shown escaped in messages too: spaces other than U+0020 (a no-break space reads as a space).
_SHOWN_ESCAPED = re.compile(f"{_CONTROL_RE.pattern}|{_INVISIBLE_RE.pattern}|[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_SECRET_AFTER_SCHEME = re.compile(r"(?i)\b(https?://)[^/@\s]+@")
_PASSWORD = re.compile(r"""(?<![^\s'"(/])([^\s/@:'"(]+):[^\s/@]+@""")
_QUERY = re.compile(r"""\?[^\s'"]*=[^\s'"]*""")  # `?key=value`: not a question mark in a sentence ("upstream?)")


def redact(text: str) -> str:
    """``text`` with every password (``user:***@``), http(s) user name or token (``***@``) and
    URL query (``?***``, where tokens go too) hidden."""
    text = _PASSWORD.sub(r"\1:***@", _SECRET_AFTER_SCHEME.sub(r"\1***@", text))
    return _QUERY.sub("?***", text)


def show(text: str, limit: int = 120) -> str:
    """``text`` fit for a message: secrets hidden, invisible characters escaped, cut to ``limit``."""
    text = escaped(redact(text))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def escaped(text: str) -> str:
    """``text`` with control and invisible characters written as escapes (``\\u202e``): a file
    name that holds a right-to-left override or a terminal escape prints as what it is."""
    return _SHOWN_ESCAPED.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def control_problem(text: str) -> str | None:
    """Why ``text`` (one line, without its line break) may not be read, or None."""
    if found := _CONTROL_RE.search(text):
        return (f"control character U+{ord(found.group()):04X} at column {found.start() + 1} "
                "(an editor may show it as a line break, or not at all)")
    if found := _INVISIBLE_RE.search(text):
        return f"invisible character U+{ord(found.group()):04X} at column {found.start() + 1} (an editor shows nothing there)"
    return None
