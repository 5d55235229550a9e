"""The cache is outside input: a mirror someone else changed is not one xpm runs git in.

git obeys a repository's own files, and xpm names the mirror to git, so git's own guard for
repositories it finds (`safe.directory`) does not apply: a planted `config` (`uploadpack`,
`include.path`, `insteadOf`), a `commondir`, an `alternates` file, a link to another
repository, or a mirror another user made would run commands or fetch elsewhere. Each test
plants one, runs commands that contact the remote, and checks that a canary command never ran,
that the real commit was installed, and that the mirror is one xpm made again.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from xpm.git.remote import mirror_name
from xpm_cli import xpm
from xpm_repos import read_tree

pytestmark = pytest.mark.slow


def _plant_config(mirror, canary, extra=""):
    (mirror / "config").write_text((mirror / "config").read_text() + extra)


PLANTS = {
    # git takes the URL xpm passes as the name of a configured remote
    "uploadpack": lambda m, c, url, tmp: _plant_config(m, c, f'[remote "{url}"]\n\tuploadpack = "touch {c}; git-upload-pack"\n'),
    "include.path": lambda m, c, url, tmp: (
        (tmp / "included").write_text(f'[remote "{url}"]\n\tuploadpack = "touch {c}; git-upload-pack"\n'),
        _plant_config(m, c, f"[include]\n\tpath = {tmp / 'included'}\n")),
    "insteadOf to another repository": lambda m, c, url, tmp: _plant_config(
        m, c, f'[url "{(tmp / "served" / "lab" / "other").as_uri()}"]\n\tinsteadOf = {url}\n'),
    "commondir": lambda m, c, url, tmp: (
        subprocess.run(["git", "init", "-q", "--bare", str(tmp / "elsewhere.git")], check=True),
        subprocess.run(["git", "-C", str(tmp / "elsewhere.git"), "config", f"remote.{url}.uploadpack",
                        f"touch {c}; git-upload-pack"], check=True),
        (m / "commondir").write_text(str(tmp / "elsewhere.git") + "\n")),
    "alternates": lambda m, c, url, tmp: (m / "objects" / "info").mkdir(parents=True, exist_ok=True) or (
        m / "objects" / "info" / "alternates").write_text(str(tmp / "elsewhere") + "\n"),
    "writable by every user": lambda m, c, url, tmp: m.chmod(0o777),
    "made for another URL": lambda m, c, url, tmp: (m / "xpm-url").write_text("https://example.org/other/repo\n"),
    "shallow is a folder": lambda m, c, url, tmp: (m / "shallow").unlink(missing_ok=True) or (m / "shallow").mkdir(),
    "config is a folder": lambda m, c, url, tmp: (m / "config").unlink() or (m / "config").mkdir(),
}


@pytest.mark.parametrize("plant", list(PLANTS))
def test_a_mirror_someone_changed_is_replaced_and_runs_nothing(lab, upstream, project, git_env, tmp_path, plant):
    other = upstream("lab/other")
    other.commit("not zlm", {"other/__init__.py": "", "configs/model/other.yaml": "_target_: other.X\n"})
    other.tag("v1.1.0")
    canary = tmp_path / "CANARY"
    xpm(project, "add", f"{lab.zlm.url}@v1.0.0")
    mirror = git_env.cache / "git" / "db" / mirror_name(lab.zlm.url)
    PLANTS[plant](mirror, canary, lab.zlm.url, tmp_path)
    xpm(project, "outdated")
    out = xpm(project, "add", f"{lab.zlm.url}@v1.1.0")  # a commit the mirror lacks: a fetch
    assert out.stdout.startswith("zlm: v1.0.0 (")
    assert not canary.exists()
    assert read_tree(project / "xlm_models" / "zlm") == lab.zlm.tree("v1.1.0")
    assert (mirror / "config").is_file() and not (mirror / "commondir").exists() and not (mirror / "objects" / "info" / "alternates").exists()
    assert "insteadOf" not in (mirror / "config").read_text() and (mirror.stat().st_mode & 0o002) == 0
    assert (mirror / "xpm-url").read_text() == lab.zlm.url + "\n"


def test_a_mirror_that_is_a_link_to_another_repository_writes_nothing_there(lab, project, git_env, tmp_path):
    victim = tmp_path / "victim.git"
    subprocess.run(["git", "init", "-q", "--bare", str(victim)], check=True)
    before = sorted(p.relative_to(victim) for p in victim.rglob("*"))
    xpm(project, "add", f"{lab.zlm.url}@v1.0.0")
    mirror = git_env.cache / "git" / "db" / mirror_name(lab.zlm.url)
    subprocess.run(["rm", "-rf", str(mirror)], check=True)
    mirror.symlink_to(victim)
    xpm(project, "add", f"{lab.zlm.url}@v1.1.0")
    assert sorted(p.relative_to(victim) for p in victim.rglob("*")) == before
    assert not mirror.is_symlink() and (mirror / "HEAD").is_file()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="handing a folder to another user needs root")
def test_a_mirror_another_user_owns_is_replaced(lab, project, git_env):
    xpm(project, "add", f"{lab.zlm.url}@v1.0.0")
    mirror = git_env.cache / "git" / "db" / mirror_name(lab.zlm.url)
    for path in [mirror, *mirror.rglob("*")]:
        os.lchown(path, 65534, 65534)
    xpm(project, "add", f"{lab.zlm.url}@v1.1.0")
    assert mirror.stat().st_uid == 0


@pytest.mark.parametrize("shape", ["world-writable root", "world-writable db", "db is a link", "another user's root"])
def test_a_cache_another_user_can_change_is_refused(lab, project, git_env, tmp_path, shape):
    xpm(project, "add", f"{lab.zlm.url}@v1.0.0")
    cache = git_env.cache
    if shape == "world-writable root":
        cache.chmod(0o1777)  # sticky does not help: another user can still make `git` first
        folder, fix = cache, f"chmod o-w {cache}"
    elif shape == "world-writable db":
        (cache / "git" / "db").chmod(0o777)
        folder, fix = cache / "git" / "db", f"chmod o-w {cache / 'git' / 'db'}"
    elif shape == "db is a link":
        (cache / "git" / "db").rename(tmp_path / "db")
        (cache / "git" / "db").symlink_to(tmp_path / "db")
        folder, fix = cache / "git" / "db", f"delete it (rm {cache / 'git' / 'db'}: xpm makes the folder again)"
    else:
        if not hasattr(os, "geteuid") or os.geteuid() != 0:
            pytest.skip("handing a folder to another user needs root")
        os.chown(cache, 65534, 65534)
        folder, fix = cache, f"chown -R 0 {cache}"
    out = xpm(project, "add", f"{lab.zlm.url}@v1.1.0", code=1)
    said = out.stderr.splitlines()
    assert said[0].startswith(f"error: xpm's cache folder {folder} ") and "another user could put a repository" in said[0]
    assert said[1] == f"  fix: {fix}, or set XPM_CACHE_DIR to a folder of your own"
    assert "v1.0.0" in (project / "xlm.lock").read_text()
    assert xpm(project, "cache", "clean").stdout == f"cleaned {cache}\n"  # runs no git: it may clean such a cache


@pytest.mark.parametrize("lock", ["shallow.lock", "packed-refs.lock", "refs/tags/v9.lock"])
def test_a_lock_file_a_killed_git_left_in_the_mirror_is_deleted_and_the_mirror_kept(lab, project, git_env, lock):
    """Under xpm's own lock of the mirror, a lock of git's there was left by a killed git (a
    timeout, Ctrl-C, a killed xpm): every later fetch failed with `Unable to create '...lock':
    File exists`, and then the mirror was taken for damaged and fetched again from scratch."""
    xpm(project, "add", f"{lab.zlm.url}@v1.0.0")
    mirror = git_env.cache / "git" / "db" / mirror_name(lab.zlm.url)
    packs = set((mirror / "objects" / "pack").iterdir())
    (mirror / lock).parent.mkdir(parents=True, exist_ok=True)
    (mirror / lock).write_text("")  # shallow.lock: taken while a --depth=1 fetch receives its pack
    out = xpm(project, "add", f"{lab.zlm.url}@v1.1.0")
    assert out.stdout.startswith("zlm: v1.0.0 (") and "error" not in out.stderr
    assert read_tree(project / "xlm_models" / "zlm") == lab.zlm.tree("v1.1.0")
    assert not (mirror / lock).exists()
    assert packs <= set((mirror / "objects" / "pack").iterdir())  # fetched into, not replaced


def test_a_umask_of_000_makes_no_cache_xpm_then_refuses(lab, project, git_env):
    old = os.umask(0)
    try:
        xpm(project, "add", f"{lab.zlm.url}@v1.0.0")
        xpm(project, "add", f"{lab.zlm.url}@v1.1.0")
    finally:
        os.umask(old)
    for folder in (git_env.cache, git_env.cache / "git", git_env.cache / "git" / "db", git_env.cache / "git" / "locks"):
        assert folder.stat().st_mode & 0o002 == 0


def test_offline_a_mirror_xpm_will_not_use_is_named_with_the_reason(lab, project, git_env, tmp_path):
    """An older xpm's mirror (another config) is not used: --offline said only that the cache lacked the commit."""
    xpm(project, "add", f"{lab.zlm.url}@v1.0.0")
    mirror = git_env.cache / "git" / "db" / mirror_name(lab.zlm.url)
    (mirror / "config").write_text((mirror / "config").read_text() + "[pack]\n\tthreads = 1\n")
    clone = tmp_path / "clone"
    clone.mkdir()
    for name in (".xlm_models", "xlm.lock"):
        (clone / name).write_bytes((project / name).read_bytes())
    out = xpm(clone, "install", "--offline", code=1)
    assert (f"    - a usable mirror of {lab.zlm.url}: the one there is not as xpm makes it "
            "(its config is not the one xpm writes), so it is fetched again online\n") in out.stderr
