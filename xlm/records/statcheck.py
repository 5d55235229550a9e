"""The stat comparison that proves a vendored file unchanged without reading it.

One implementation for `xlm.records.stamps.changed_files` (xlm's start-up check, `xpm list`,
`verify`, `install`) and for xpm's no-op proof (`xpm.noop`), which runs before anything else
of xpm is imported: so this module imports only `os` and `stat`. Equal mode, size, mtime and
ctime, with the mtime older than the stamp, prove a file unchanged; anything else proves
nothing (the caller re-hashes, or falls back to the full check). The ctime is what no program
sets: an edit whose old mtime was put back (`touch -r`, `rsync -a` of an edited copy, a tool
that keeps timestamps) keeps the size and mtime a stamp records, never the ctime.
"""

from __future__ import annotations

import os
import stat
import sys

# git stores names as bytes, UTF-8 by convention, and records hold them as UTF-8 text. The OS
# hands Python names decoded with the file system encoding, which is not UTF-8 under a latin-1
# locale or `LC_ALL=C PYTHONUTF8=0`: there `données.py` arrives as `donn\udcc3\udca9es.py`.
_UTF8_NAMES = sys.getfilesystemencoding().lower().replace("-", "") == "utf8"


def as_recorded(name: str) -> str:
    """A name as the OS gave it, in the form records hold it (its bytes read as UTF-8)."""
    return name if _UTF8_NAMES else os.fsencode(name).decode("utf-8", "surrogateescape")


def as_local(name: str) -> str:
    """A recorded name (or relative path) as the OS takes it: the same bytes on disk, whatever
    the locale (`os.open(as_local(name))` creates the file git names)."""
    return name if _UTF8_NAMES else os.fsdecode(name.encode("utf-8", "surrogateescape"))


def file_mode(st_mode: int) -> str | None:
    """The mode the content hash records, or None for what no commit holds (a fifo, a socket,
    a device): such a thing is never opened (reading a fifo would wait forever)."""
    if stat.S_ISLNK(st_mode):
        return "120000"
    if stat.S_ISREG(st_mode):
        return "100755" if st_mode & 0o111 else "100644"
    return None


def scan(root: str, ignored) -> dict[str, os.stat_result]:
    """lstat data of every entry of `root` but folders, by relative path (folders named in
    `ignored` skipped); a loop, not recursion, so no nesting depth makes it fail."""
    out: dict[str, os.stat_result] = {}
    folders = [(root, "")]
    while folders:
        folder, prefix = folders.pop()
        with os.scandir(folder) as it:
            for item in it:
                rel = prefix + as_recorded(item.name)
                if item.is_dir(follow_symlinks=False):
                    if item.name not in ignored:
                        folders.append((item.path, rel + "/"))
                else:
                    out[rel] = item.stat(follow_symlinks=False)
    return out


def proven(rec: list, st: os.stat_result, stamp_mtime_ns: int, ctime_ns: int | None) -> bool:
    """Whether the stamp's record `rec` ([mode, size, mtime_ns, ...]) and the file's recorded
    ctime prove the file of lstat `st` has the recorded content: equal size, mtime and ctime, the
    mtime older than the stamp (a file written in the stamp's own clock tick may have been edited
    after it: git's "racily clean"). `ctime_ns` None: a stamp of an older xpm recorded none, and
    size and mtime decide, as they did then."""
    return (ctime_ns is None or ctime_ns == st.st_ctime_ns) and rec[1] == st.st_size and rec[2] == st.st_mtime_ns < stamp_mtime_ns


def all_proven(root: str, files: dict, stamp_mtime_ns: int, ignored, ctimes: dict) -> bool:
    """Whether stat data alone prove `root` holds exactly `files` (path -> record, as `proven`
    takes; `ctimes`: path -> ctime_ns): same paths, same modes, every file proven. False says
    only "look closer"."""
    seen = scan(root, ignored)
    if seen.keys() != files.keys():
        return False
    return all(file_mode(st.st_mode) == files[path][0] and proven(files[path], st, stamp_mtime_ns, ctimes.get(path))
               for path, st in seen.items())
