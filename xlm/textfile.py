"""Reading a project's text files (`.xlm_models`, `xlm.lock`) as hostile input, and writing files atomically.

They come from anywhere (a clone, a pull request, an editor on another system), so the
reader trusts nothing about them:

- it reads bytes, at most ``MAX_FILE_BYTES``, from a regular file only (a folder, a FIFO or
  a device is refused, so a read never hangs), and decodes them as strict UTF-8;
- a line ends at ``\\n`` only (``\\r\\n`` is tolerated): the other breaks `str.splitlines`
  knows (``\\v \\f \\x1c-\\x1e \\x85 U+2028 U+2029``) stay inside their line, where the
  grammar refuses them, so they can never start a second entry;
- a line holds at most ``MAX_LINE_BYTES`` bytes; a UTF-8 BOM at the start is ignored.

The text keeps its ``\\r\\n`` and BOM, so line-preserving edits write them back. Every
failure is a `TextFileError` that names ``file:line`` and says how to fix it; `os_error`
turns any `OSError` into what went wrong with which path, and a fix per cause.

Files xlm and xpm write themselves (the lock, stamps, run records, caches) are replaced whole
by `write_atomic`: a new temporary file next to them, then a rename, so a reader or a crash
sees the old file or the new one, never half of one.
Shared by xlm (discovery) and xpm (project, lock), so it imports nothing heavy.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

MAX_FILE_BYTES = 4 * 1024 * 1024  # a lock of 10,000 models is ~4 MB: far more than any project
MAX_LINE_BYTES = 4096  # any URL, ref or path xpm accepts fits; a longer line is not text
BOM = "\ufeff"


class TextFileError(ValueError):
    """A project file that cannot be read, or a line of it that cannot be understood."""

    def __init__(self, what: str, fix: str, file: Path | str | None = None, line: int | None = None):
        where = f"{file}:{line}: " if file is not None and line is not None else (f"{file}: " if file else "")
        super().__init__(f"{where}{what}")
        self.what, self.fix, self.file, self.line = what, fix, file, line


def read_regular(path: Path | str, limit: int) -> bytes:
    """The bytes of the regular file ``path``, up to ``limit`` + 1 (the caller judges the size):
    a fifo would block, a device never end. Anything else raises an OSError that says why."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "it is not a regular file (a fifo, a device or a socket?)")
        return handle.read(limit + 1)


def read_text(path: Path | str) -> str | None:
    """The checked text of ``path``, or None when there is no such file."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket (open() cannot open one): no file to read
            raise TextFileError(f"{path} is not a regular file", "replace it with a plain text file") from None
        raise TextFileError(*os_error(exc, path)) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise TextFileError(f"{path} is a folder, not a file", "move the folder away (or rename it), then run the command again")
        if not stat.S_ISREG(mode):
            raise TextFileError(f"{path} is not a regular file", "replace it with a plain text file")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise TextFileError(*os_error(exc, path)) from None
    finally:
        os.close(fd)
    return decode(data, path)


def decode(data: bytes, path: Path | str | None = None) -> str:
    """``data`` as text, refused when it is too large, holds a too long line or is not UTF-8."""
    if len(data) > MAX_FILE_BYTES:
        raise TextFileError(f"larger than {MAX_FILE_BYTES // 2**20} MiB: not a file xlm or xpm writes", "check the file's content", path)
    if len(data) > MAX_LINE_BYTES:  # else no line can be too long
        for number, line in enumerate(data.split(b"\n"), start=1):
            if len(line.removesuffix(b"\r")) > MAX_LINE_BYTES:
                what = f"line is {len(line)} bytes long, more than the {MAX_LINE_BYTES} allowed"
                raise TextFileError(what, "shorten it: one model (or lock key) per line", path, number)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        number = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        what = f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at column {column})"
        raise TextFileError(what, "save the file as UTF-8 (the models file and the lock are plain UTF-8 text)", path, number) from None


def toml_error(exc: ValueError, text: str) -> tuple[str, int | None]:
    """What `tomllib` refused in ``text``, and its line when known. A TOMLDecodeError names
    its line; any other ValueError is Python's own limit on a number it converts (an integer
    of more than 4,300 digits), found at the first line that holds one."""
    import re
    import sys
    import tomllib

    if isinstance(exc, tomllib.TOMLDecodeError):
        found = re.search(r"line (\d+)", str(exc))
        return f"not valid TOML ({exc})", int(found.group(1)) if found else None
    limit = sys.get_int_max_str_digits()
    long = re.search(rf"[0-9_]{{{limit + 1},}}", text) if limit else None
    line = text.count("\n", 0, long.start()) + 1 if long else None
    return f"not readable TOML: {str(exc).split(';')[0]}", line


def lines(text: str) -> list[str]:
    """The lines of ``text``: split on ``\\n`` only, without ``\\r\\n`` / ``\\n`` or a leading BOM."""
    found = text.removeprefix(BOM).split("\n")
    if found[-1] == "":  # the last line's "\n" ends it; it does not start another
        found.pop()
    return [line.removesuffix("\r") for line in found]


def lines_with_ends(text: str) -> list[str]:
    """The lines of ``text`` with their ``\\n`` (split on ``\\n`` only); joined they are ``text``."""
    found = text.split("\n")
    last = found.pop()
    return [line + "\n" for line in found] + ([last] if last else [])


def newline_of(text: str) -> str:
    """The line ending ``text`` uses (its first line's): ``\\r\\n`` or ``\\n``."""
    first = text.find("\n")
    return "\r\n" if first > 0 and text[first - 1] == "\r" else "\n"


# ----------------------------------------------------------------------------- OS errors
_FIXES = {
    errno.ENOSPC: ("no space left on the device", "free some space on that disk, then run the command again"),
    errno.EDQUOT: ("disk quota exceeded", "free some space (or ask for a larger quota), then run the command again"),
    errno.EROFS: ("read-only file system", "run the command where that folder is writable (a writable copy, or remount it read-write)"),
    errno.EACCES: ("permission denied", "make it readable and writable for your user (ls -ld shows its owner and mode)"),
    errno.EPERM: ("operation not permitted", "make it writable for your user, and check it is not immutable (lsattr)"),
    errno.ENOTDIR: ("a file is where a folder is expected", "move that file away (or rename it), then run the command again"),
    errno.EEXIST: ("already exists, and is not what was expected there", "move it away (or rename it), then run the command again"),
    errno.EISDIR: ("is a folder, where a file is expected", "move the folder away (or rename it), then run the command again"),
    errno.ENAMETOOLONG: ("file name too long", "use a shorter path: move the project (or the cache) to a folder with a shorter name"),
    errno.ELOOP: ("too many levels of symbolic links", "replace the symbolic link with a real folder or file"),
    errno.ENOENT: ("no such file or folder", "check the path (a folder on it may have been moved or deleted)"),
    errno.EIO: ("input/output error", "check the disk (dmesg, fsck), then run the command again"),
    errno.EMFILE: ("too many open files", "raise the limit (ulimit -n) or use fewer parallel jobs (-j)"),
}


def os_error(exc: OSError, path: Path | str | None = None) -> tuple[str, str]:
    """(what, fix) for an `OSError`: the cause in words, the path it concerns, how to fix it."""
    cause, fix = _FIXES.get(exc.errno, (exc.strerror or str(exc), "check the path, its permissions and the disk"))
    where = exc.filename if exc.filename is not None else path  # of a rename, the file that was moved
    if exc.errno == errno.EEXIST and where is not None and os.path.isfile(where):  # mkdir where a file is
        cause = "is a file, where a folder was to be made"
    if exc.errno == errno.ENOTDIR and where is not None:
        blocking = next((p for p in reversed(Path(where).parents) if os.path.isfile(p)), None)
        if blocking is not None:  # name the file in the way, not the path that runs through it
            where, cause = blocking, f"{cause} (on the way to {where})"
    return (f"{where}: {cause}" if where is not None else cause), fix


# ----------------------------------------------------------------------------- writing
def write_atomic(path: Path, text: str | bytes, durable: bool = True) -> None:
    """Write ``text`` (UTF-8, or bytes as they are) to ``path`` through a temporary file and a
    rename: old or new, never half. ``durable=False`` skips the fsync, for files whose loss in
    a power cut is harmless."""
    tmp = write_temp(path, text, durable)
    try:
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        raise _about(exc, path)


def _new_temp(path: Path) -> tuple[int, str]:
    """A new, empty file `.<name>.<random>.tmp` next to `path` (as mkstemp, but mode 0666 less the umask)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = os.path.join(path.parent, f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary file name", str(path.parent))


def write_temp(path: Path, text: str | bytes, durable: bool = True) -> Path:
    """A new temporary file next to ``path`` holding ``text`` (UTF-8, or bytes as they are),
    flushed to disk, with ``path``'s mode: renaming it onto ``path`` is all that is left of the
    write. An OSError names ``path``."""
    path = Path(path)
    try:
        fd, tmp = _new_temp(path)
    except OSError as exc:
        raise _about(exc, path) from None
    try:
        # Made with the mode open() gives (the kernel applies the umask: reading it would mean
        # setting it, process-wide, which races with other threads); keep an old file's mode.
        try:
            os.fchmod(fd, path.stat().st_mode & 0o7777)
        except FileNotFoundError:
            pass
        binary = isinstance(text, bytes)
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8", "newline": ""})) as handle:
            handle.write(text)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _about(exc, path)
    return Path(tmp)


def _about(exc: BaseException, path: Path) -> BaseException:
    """``exc``, when an OSError, naming ``path`` (the file the user knows), not a temporary file or nothing."""
    if isinstance(exc, OSError):
        exc.filename, exc.filename2 = str(path), None
    return exc
