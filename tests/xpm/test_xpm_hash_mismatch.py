"""A tree that does not hash to xlm.lock's content hash: named with both hashes, every such
model reported, nothing installed, the lock left as it was."""

from __future__ import annotations

import shutil

import pytest

from xpm.project import Project
from xpm_cli import xpm

pytestmark = pytest.mark.slow  # builds repositories and runs git


def test_hash_mismatch_names_both_hashes(lab, project):
    xpm(project, "add", f"{lab.zlm.url}@v1")
    lock = (project / "xlm.lock").read_text()
    real = Project(project).lock().entries["zlm"].hash
    fake = "sha256-tree:" + "0" * 64
    (project / "xlm.lock").write_text(lock.replace(real, fake))
    shutil.rmtree(project / "xlm_models" / "zlm")
    out = xpm(project, "install", code=1)
    assert f"model 'zlm': content of commit {lab.commits['1.1.0'][:12]} hashes to {real}, but xlm.lock says {fake}" in out.stderr
    assert "`xpm update zlm`" in out.stderr
    assert not (project / "xlm_models" / "zlm").exists()
    assert (project / "xlm.lock").read_text() == lock.replace(real, fake)  # left untouched


def test_every_mismatched_model_of_one_remote_is_reported(lab, project):
    """Two models of one monorepo whose hashes the lock gets wrong: the first stopped the
    remote's work, and the second was never named (fuzz_parallel P1)."""
    (project / ".xlm_models").write_text(f"{lab.models.url}#subdir=aaa\n{lab.models.url}#subdir=bbb\n")
    xpm(project, "install")
    lock = (project / "xlm.lock").read_text()
    hashes = {name: entry.hash for name, entry in Project(project).lock().entries.items()}
    for name, real in hashes.items():
        lock = lock.replace(real, "sha256-tree:" + name[0] * 64)
    (project / "xlm.lock").write_text(lock)
    shutil.rmtree(project / "xlm_models")
    out = xpm(project, "install", code=1)
    for name, real in hashes.items():
        assert f"model '{name}': content of commit " in out.stderr and f"hashes to {real}, but xlm.lock says" in out.stderr
    assert not (project / "xlm_models").exists() and (project / "xlm.lock").read_text() == lock
