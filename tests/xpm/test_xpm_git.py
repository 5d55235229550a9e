"""The git layer against real repositories: mirrors, shallow fetch and its fallback, export."""

import subprocess

import pytest

from xpm.errors import GitMissing, UnknownRef, XpmError
from xpm.git.checkout import UnsafeTree, export_tree
from xpm.git.command import Git
from xpm.git.database import Database
from xpm.git.remote import list_refs
from xpm_repos import model_files, read_tree


class RecordingGit(Git):
    """Records every git command (the runner is injectable, as vendir's)."""

    def __init__(self):
        super().__init__()
        self.calls: list[list[str]] = []

    def run(self, args, cwd=None, **kwargs):
        self.calls.append(list(args))
        return super().run(args, cwd=cwd, **kwargs)

    def popen(self, args, cwd=None, **kwargs):
        self.calls.append(list(args))
        return super().popen(args, cwd=cwd, **kwargs)


def test_list_refs_and_shallow_fetch_by_commit(lab, git_env):
    git = RecordingGit()
    db = Database(git, git_env.cache, lab.zlm.url)
    db.ensure()
    refs = list_refs(git, lab.zlm.url, db.path)
    assert refs.head == "main"
    assert refs.tags["v1.1.0"] == lab.commits["1.1.0"]  # annotated tag peeled to its commit
    wanted = lab.commits["1.0.1-wip"]  # not the tip of any ref
    assert db.missing([wanted]) == [wanted]
    db.fetch([wanted])
    assert db.missing([wanted]) == []
    assert (db.path / "shallow").exists()  # only what was needed came down
    assert db.missing([lab.commits["1.0.0"]]) == [lab.commits["1.0.0"]]
    fetches = [c for c in git.calls if c[0] == "fetch"]
    assert len(fetches) == 1 and "--depth=1" in fetches[0]


def test_full_fetch_fallback_when_the_server_refuses_unadvertised_commits(lab, git_env, git_daemon):
    git_env.add_config("[protocol]\n\tversion = 0\n")  # protocol v0 refuses unadvertised commits
    git = RecordingGit()
    db = Database(git, git_env.cache, "https://github.com/lab/zlm")
    wanted = lab.commits["1.0.1-wip"]
    db.fetch([wanted])
    assert db.missing([wanted, lab.commits["1.0.0"]]) == []  # the full history came down
    assert [c for c in git.calls if c[0] == "fetch"][-1][-2:] == ["+refs/heads/*:refs/xpm/heads/*", "+refs/tags/*:refs/xpm/tags/*"]


def test_commit_gone_upstream(lab, git_env):
    db = Database(Git(), git_env.cache, lab.zlm.url)
    with pytest.raises(UnknownRef, match="commit 0123456789ab is no longer available") as info:
        db.fetch(["0123456789abcdef0123456789abcdef01234567"], {"0123456789abcdef0123456789abcdef01234567": "zlm"})
    assert info.value.fix == "run `xpm update zlm` to lock what its ref points to now"


def test_export_is_the_committed_tree_whatever_gitattributes_say(upstream, git_env, tmp_path):
    repo = upstream("lab/attr")
    files = {**model_files("attr"), ".gitattributes": "ignored.txt export-ignore\nsubst.txt export-subst\n*.txt text eol=crlf\n",
             "ignored.txt": "kept\n", "subst.txt": "$Format:%H$\n"}
    commit = repo.commit("c", files)
    db = Database(Git(), git_env.cache, repo.url)
    db.fetch([commit])
    dest = tmp_path / "out"
    dest.mkdir()
    export_tree(db.git, db.path, commit, None, dest)
    assert read_tree(dest) == repo.tree(commit)


def test_export_subdir_and_missing_subdir(lab, git_env, tmp_path):
    commit = lab.models.head()
    db = Database(Git(), git_env.cache, lab.models.url)
    db.fetch([commit])
    dest = tmp_path / "bbb"
    dest.mkdir()
    export_tree(db.git, db.path, commit, "bbb", dest)
    assert read_tree(dest) == lab.models.tree(commit, "bbb")
    with pytest.raises(XpmError, match="'ccc' is not a folder in commit"):
        (tmp_path / "ccc").mkdir()
        export_tree(db.git, db.path, commit, "ccc", tmp_path / "ccc", "ccc")


@pytest.mark.parametrize("target", ["../../etc/passwd", "/etc/passwd"])
def test_symlinks_leaving_the_model_are_refused(upstream, git_env, tmp_path, target):
    repo = upstream("lab/evil")
    repo.commit("c", model_files("evil"))
    (repo.path / "evil" / "leak").symlink_to(target)
    commit = repo.commit("link")
    db = Database(Git(), git_env.cache, repo.url)
    db.fetch([commit])
    (tmp_path / "out").mkdir()
    with pytest.raises(UnsafeTree, match="symlink 'evil/leak' -> '[^']+', (which leaves the model's folder|an absolute path)"):
        export_tree(db.git, db.path, commit, None, tmp_path / "out", "evil")


def test_a_link_out_of_the_subdir_is_refused_even_inside_the_repository(upstream, git_env, tmp_path):
    repo = upstream("lab/mono")
    repo.commit("c", {**{f"aaa/{k}": v for k, v in model_files("aaa").items()}, "secret.txt": "s"})
    (repo.path / "aaa" / "aaa" / "up.txt").symlink_to("../../secret.txt")
    commit = repo.commit("link")
    db = Database(Git(), git_env.cache, repo.url)
    db.fetch([commit])
    (tmp_path / "out").mkdir()
    with pytest.raises(UnsafeTree, match="symlink 'aaa/up.txt' -> '../../secret.txt', which leaves the model's folder"):
        export_tree(db.git, db.path, commit, "aaa", tmp_path / "out", "aaa")


def test_a_planted_dot_git_folder_is_refused(upstream, git_env, tmp_path):
    repo = upstream("lab/dotgit")
    repo.commit("c", model_files("dotgit"))

    def mktree(entries: str) -> str:
        return subprocess.run(["git", "mktree"], cwd=repo.path, input=entries, capture_output=True, text=True, check=True).stdout.strip()

    config = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo.path, input="[core]\n\tfsmonitor = touch pwned\n",
                            capture_output=True, text=True, check=True).stdout.strip()
    dot_git = mktree(f"100644 blob {config}\tconfig\n")
    top = repo.git("ls-tree", "HEAD") + f"\n040000 tree {dot_git}\t.git\n"
    commit = repo.git("commit-tree", mktree(top), "-m", "planted .git")
    db = Database(Git(), git_env.cache, repo.url)
    repo.git("update-ref", "refs/heads/main", commit)
    db.fetch([commit])
    (tmp_path / "out").mkdir()
    with pytest.raises(UnsafeTree, match=r"contains '\.git' \(in some spelling\) in '\.git/config'"):
        export_tree(db.git, db.path, commit, None, tmp_path / "out", "dotgit")
    assert not (tmp_path / "out" / ".git").exists()


def test_filters_from_the_user_config_never_run_on_export(upstream, git_env, tmp_path):
    repo = upstream("lab/filtered")
    commit = repo.commit("c", {**model_files("filtered"), ".gitattributes": "* filter=evil\n"})
    marker = tmp_path / "smudged"  # as git-lfs's smudge would run for every file
    git_env.add_config(f"[filter \"evil\"]\n\tsmudge = touch {marker} && cat\n\tclean = cat\n")
    db = Database(Git(), git_env.cache, repo.url)
    db.fetch([commit])
    (tmp_path / "out").mkdir()
    export_tree(db.git, db.path, commit, None, tmp_path / "out", "filtered")
    assert not marker.exists()
    assert read_tree(tmp_path / "out") == repo.tree(commit)


def test_links_inside_the_model_are_kept(upstream, git_env, tmp_path):
    repo = upstream("lab/linky")
    repo.commit("c", model_files("linky"))
    (repo.path / "linky" / "alias.py").symlink_to("model.py")
    commit = repo.commit("link")
    db = Database(Git(), git_env.cache, repo.url)
    db.fetch([commit])
    (tmp_path / "out").mkdir()
    export_tree(db.git, db.path, commit, None, tmp_path / "out", "linky")
    assert (tmp_path / "out" / "linky" / "alias.py").is_symlink()


def test_git_missing(monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(GitMissing) as info:
        Git().run(["--version"])
    assert "git was not found on PATH" in info.value.render()


def test_a_mirror_holds_only_what_git_needs(lab, git_env):
    """Every file and folder made costs a cold install of many models: a new mirror is HEAD,
    config, objects/, refs/ and xpm-url, and a fetch adds no FETCH_HEAD (git 2.29+)."""
    git = Git()
    db = Database(git, git_env.cache, lab.zlm.url)
    db.ensure()
    assert sorted(p.name for p in db.path.iterdir()) == ["HEAD", "config", "objects", "refs", "xpm-url"]
    db.fetch([lab.commits["1.1.0"]])
    made = {str(p.relative_to(db.path)) for p in db.path.rglob("*")}
    assert "info" not in made and ("FETCH_HEAD" not in made or git.version < (2, 29))
    assert db.missing([lab.commits["1.1.0"]]) == []
