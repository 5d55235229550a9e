"""`xpm.rebuild` on its own: what a restore that cannot fetch a recorded commit says, and its fix."""

from __future__ import annotations

import pytest


def test_a_remote_xpm_refuses_gives_its_own_fix_not_push_the_commit(tmp_path, monkeypatch):
    """A recorded `http://` remote is refused for its transport: pushing the commit would not help."""
    from types import SimpleNamespace

    from xpm.git.command import Git
    from xpm.rebuild import MISSING, Unrestorable, commit_in_cache

    monkeypatch.setenv("XPM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("XPM_INSECURE_HOSTS", raising=False)
    with pytest.raises(Unrestorable) as refused:
        commit_in_cache([("http://127.0.0.2/lab/zlm", "http://127.0.0.2/lab/zlm")], "1" * 40, "zlm",
                        SimpleNamespace(git=Git(), offline=False))
    assert "has no transport integrity" in str(refused.value) and "XPM_INSECURE_HOSTS" in refused.value.fix
    assert MISSING not in refused.value.fix
