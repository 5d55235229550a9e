"""A damaged cache: the mirror's pack truncated, bytes flipped in it, the pack gone, its own
files garbled, something else in its place. Each is detected and the mirror fetched again,
once, into a fresh one; never a raw git error. A damaged refs snapshot is ignored."""

import json
import os
import random
import shutil
from pathlib import Path

import pytest

from xpm import ops
from xpm.errors import CorruptMirror
from xpm.git.command import Git
from xpm.git.remote import mirror_name
from xpm.project import Project
from xpm.sync import Options
from xpm_cli import xpm
from xpm_repos import model_files, read_tree

pytestmark = pytest.mark.slow


def _truncate(pack):
    data = pack.read_bytes()
    pack.write_bytes(data[: len(data) // 2])


def _flip(pack):
    data = bytearray(pack.read_bytes())
    middle = len(data) // 2
    for i in range(middle, middle + 64):
        data[i] ^= 0xFF
    pack.write_bytes(bytes(data))


def _delete(pack):
    pack.unlink()  # its .idx stays: git knows the objects and cannot read them


DAMAGE = {"truncated": _truncate, "flipped bytes": _flip, "pack deleted": _delete}


def _damage(cache, how) -> int:
    packs = sorted((cache / "git" / "db").glob("*/objects/pack/*.pack"))
    for pack in packs:
        pack.chmod(0o644)
        DAMAGE[how](pack)
    return len(packs)


@pytest.fixture
def heavy(upstream):
    """A model with a 256 KiB binary: most of the pack is that blob's compressed bytes."""
    repo = upstream("lab/heavy")
    blob = random.Random(7).randbytes(256 * 1024)
    repo.commit("v1", {**model_files("heavy"), "heavy/weights.bin": blob})
    repo.tag("v1.0.0")
    return repo


def _fresh_copy(project, tmp_path, name):
    clone = tmp_path / name
    clone.mkdir()
    for file in (".xlm_models", "xlm.lock"):
        shutil.copy(project / file, clone / file)
    return clone


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_mirror_is_fetched_again_into_a_fresh_one(how, heavy, project, git_env, tmp_path):
    xpm(project, "add", f"{heavy.url}@v1")
    assert _damage(git_env.cache, how) == 1
    clone = _fresh_copy(project, tmp_path, "clone")
    out = xpm(clone, "install")
    assert out.stdout == f"installed heavy v1.0.0 ({heavy.head()[:7]})\n" and out.stderr == ""
    assert read_tree(clone / "xlm_models" / "heavy") == heavy.tree("v1.0.0")
    assert (clone / "xlm.lock").read_bytes() == (project / "xlm.lock").read_bytes()
    # The fresh mirror is whole: another project installs from it without the network.
    other = _fresh_copy(project, tmp_path, "other")
    shutil.rmtree(heavy.path)
    assert xpm(other, "install", "--offline").stdout.startswith("installed heavy v1.0.0")


class DamagingGit(Git):
    """A disk that damages every pack a fetch writes: real git, real damage."""

    def run(self, args, cwd=None, **kwargs):
        proc = super().run(args, cwd=cwd, **kwargs)
        if args[0] == "fetch":
            for pack in cwd.glob("objects/pack/*.pack"):
                pack.chmod(0o644)
                _truncate(pack)
        return proc


def test_a_mirror_still_damaged_after_fetching_again_is_a_clear_error(heavy, project, git_env, tmp_path):
    xpm(project, "add", f"{heavy.url}@v1")
    shutil.rmtree(git_env.cache)
    clone = _fresh_copy(project, tmp_path, "clone")
    with pytest.raises(CorruptMirror) as info:
        ops.install(Project(clone), Options(git=DamagingGit()))
    mirror = git_env.cache / "git" / "db" / mirror_name(heavy.url)
    assert info.value.what.startswith(f"the cache mirror {mirror} of {heavy.url} is damaged (")
    assert info.value.what.endswith("and fetching it again into a fresh mirror did not help")
    assert info.value.fix.startswith("run `xpm cache clean`, then the command again")
    assert not (clone / "xlm_models" / "heavy").exists()


class SignalledGit(Git):
    """The terminal's Ctrl-C reaches every process of xpm's group: git cat-file dies of it."""

    def popen(self, args, cwd=None, **kwargs):
        import signal

        proc = super().popen(args, cwd=cwd, **kwargs)
        if args in (["cat-file", "--batch"], ["cat-file", "--batch-command"]):  # the export's (not --batch-check)
            proc.send_signal(signal.SIGINT)
            proc.wait()
        return proc


def test_a_git_killed_by_a_signal_is_not_taken_for_a_damaged_mirror(heavy, project, git_env, tmp_path):
    """A Ctrl-C during an export replaced the warm mirror, and left it empty when the fetch
    again was stopped too."""
    from xpm.errors import GitError

    xpm(project, "add", f"{heavy.url}@v1")
    mirror = git_env.cache / "git" / "db" / mirror_name(heavy.url)
    before = sorted(p.name for p in (mirror / "objects" / "pack").iterdir())
    clone = _fresh_copy(project, tmp_path, "clone")
    said = []
    with pytest.raises(GitError) as info:
        ops.install(Project(clone), Options(git=SignalledGit(), progress=lambda name, message: said.append(message)))
    assert "git was stopped by signal 2" in info.value.what and not isinstance(info.value, CorruptMirror)
    assert not any("damaged" in message for message in said)
    assert sorted(p.name for p in (mirror / "objects" / "pack").iterdir()) == before  # the mirror was kept
    assert not (clone / "xlm_models").exists()


def test_offline_a_damaged_mirror_is_reported_not_fetched(heavy, project, git_env, tmp_path):
    xpm(project, "add", f"{heavy.url}@v1")
    _damage(git_env.cache, "truncated")
    clone = _fresh_copy(project, tmp_path, "clone")
    out = xpm(clone, "install", "--offline", code=1)
    mirror = next((git_env.cache / "git" / "db").glob("*.git"))
    assert out.stderr.startswith(f"error: the cache mirror {mirror} of {heavy.url} is damaged (")
    assert out.stderr.endswith(
        "; --offline, so it was not fetched again\n"
        "  fix: run the command again without --offline (the mirror is fetched again), or run `xpm cache clean`\n")
    assert xpm(clone, "install").stdout.startswith("installed heavy v1.0.0")  # online, it repairs itself


@pytest.mark.parametrize("file, text", [("config", "[[[\n"), ("shallow", "zzz\n"), ("packed-refs", "zzzz junk\n")])
@pytest.mark.parametrize("command", ["install", "update"])
def test_a_mirror_whose_own_files_are_damaged_is_fetched_again(heavy, project, git_env, tmp_path, file, text, command):
    """Was a raw git error (`fatal: bad config line 1 in file ./config`) in every later command."""
    xpm(project, "add", f"{heavy.url}@v1")
    [mirror] = (git_env.cache / "git" / "db").glob("*.git")
    (mirror / file).write_text(text)
    shutil.rmtree(project / "xlm_models" / "heavy")
    out = xpm(project, command)
    assert "error" not in out.stderr
    assert read_tree(project / "xlm_models" / "heavy") == heavy.tree("v1.0.0")
    assert (mirror / file).read_text() != text if (mirror / file).exists() else True


@pytest.mark.parametrize("shape", ["file", "fifo", "dangling link", "link loop", "folder without HEAD"])
def test_what_holds_a_mirrors_name_and_is_no_mirror_is_replaced(heavy, project, git_env, tmp_path, shape):
    """The error named a temporary folder that did not exist (`.init-...: a file is where a folder is expected`)."""
    xpm(project, "add", f"{heavy.url}@v1")
    [mirror] = (git_env.cache / "git" / "db").glob("*.git")
    shutil.rmtree(mirror)
    if shape == "file":
        mirror.write_text("x")
    elif shape == "fifo":
        os.mkfifo(mirror)
    elif shape == "dangling link":
        os.symlink(tmp_path / "nowhere", mirror)
    elif shape == "link loop":
        os.symlink(mirror, mirror)
    else:
        (mirror / "objects").mkdir(parents=True)
    shutil.rmtree(project / "xlm_models" / "heavy")
    assert xpm(project, "install").stdout.startswith("installed heavy v1.0.0")
    assert (mirror / "HEAD").is_file() and not mirror.is_symlink()
    assert xpm(project, "update").stdout == f"heavy: unchanged v1.0.0 ({heavy.head()[:7]})\n"


def _upper(path):
    data = json.loads(path.read_text())
    data["tags"] = {k: v.upper() for k, v in data["tags"].items()}
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("damage", [
    lambda p: (p.unlink(), os.mkfifo(p)),  # read, it would block forever
    lambda p: (p.unlink(), os.symlink("/dev/zero", p)),  # read whole, it filled memory until the OOM killer came
    lambda p: p.write_text("[" * 100_000 + "]" * 100_000),  # RecursionError in json
    lambda p: p.write_text(json.dumps({"tags": {"v1.0.0": "g" * 40}, "branches": {}})),
    _upper,  # the commit was locked as written, and the lock reader refused it
    lambda p: (p.unlink(), p.mkdir()),
    lambda p: p.write_text("{}"),  # was read as a remote with no refs: "push a commit there first", offline
], ids=["fifo", "dev-zero", "deep", "not-hex", "uppercase", "folder", "empty"])
def test_a_damaged_refs_snapshot_is_ignored(lab, project, damage):
    """The refs last listed resolve offline; a snapshot that is not what xpm wrote is as none."""
    xpm(project, "add", f"{lab.zlm.url}@v1")
    [mirror] = (Path(os.environ["XPM_CACHE_DIR"]) / "git" / "db").iterdir()
    damage(mirror / "xpm-refs.json")
    (project / ".xlm_models").write_text(f"{lab.zlm.url}@v1.1\n")  # resolved again: from the snapshot, offline
    out = xpm(project, "install", "--offline", code=1)
    assert f"--offline, but the cache lacks:\n    - the refs of {lab.zlm.url}" in out.stderr
    xpm(project, "install")  # online: listed again, and the snapshot saved anew
    assert "v1.1" in Project(project).lock().entries["zlm"].requested
    assert json.loads((mirror / "xpm-refs.json").read_text())["tags"]["v1.1.0"] == lab.commits["1.1.0"]
    assert xpm(project, "install", "--offline").stdout == "up to date\n"
