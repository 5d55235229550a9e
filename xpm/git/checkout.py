"""A checkout: one commit's tree (or a subdir of it) exported from a mirror into a folder.

`git archive` streams the tree as tar and Python's tarfile writes it with the `data` filter,
which refuses absolute paths and any symlink or hard link that would leave the destination.
Nothing is checked out, so no hook, filter or submodule of the repository ever runs.
"""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

from xpm.errors import GitError, XpmError, last_line
from xpm.git.command import Git


class UnsafeTree(XpmError):
    """The tree holds a path or a link that would leave the model's folder."""


def export_tree(git: Git, mirror: Path, commit: str, subdir: str | None, dest: Path, name: str = "model") -> None:
    """Write the tree of `commit:subdir` into the (existing, empty) folder `dest`."""
    treeish = f"{commit}:{subdir}" if subdir else commit
    proc = git.popen(["archive", "--format=tar", treeish], cwd=mirror, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as archive:
            for member in archive:
                try:
                    archive.extract(member, dest, filter="data")
                except tarfile.FilterError as exc:
                    raise UnsafeTree(
                        f"model '{name}': commit {commit[:12]} has '{member.name}' that leaves the model's folder ({exc})",
                        "make the link relative and inside the model (or remove it) upstream; nothing was installed",
                    ) from None
    except tarfile.ReadError:
        pass  # git failed before writing a header: its stderr below says why
    finally:
        proc.stdout.close()
        stderr = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
        proc.wait()
    if proc.returncode != 0:
        if "invalid path" in stderr:  # git refuses to archive e.g. `.git/config` planted in a tree
            raise UnsafeTree(
                f"model '{name}': commit {commit[:12]} holds a path git refuses to write ({last_line(stderr)})",
                "remove that path upstream; nothing was installed",
            )
        if "not a valid object name" in stderr or "not a tree object" in stderr:
            raise XpmError(
                f"model '{name}': '{subdir}' is not a folder in commit {commit[:12]}",
                "check #subdir=... against the repository's layout at that ref",
            )
        raise GitError(["archive", "--format=tar", treeish], proc.returncode, stderr, str(mirror))
