"""What a remote's refs may look like, beyond names (test_xpm_remote_refs.py): a detached HEAD,
a branch renamed below its old name, an annotated tag asked for by its own id, commit ids that
are absent or ambiguous, a branch named like a pinned commit, a release tag naming a blob. Each
ends in a lock every reader accepts, or in a two-line error that says what to do."""

import subprocess

import pytest

from xpm.project import Project
from xpm_cli import xpm
from xpm_repos import model_files, read_tree

pytestmark = pytest.mark.slow


def _locked(project):
    entry = Project(project).lock().entries["zlm"]
    return entry.resolved, entry.commit


def test_a_detached_head_without_tags_locks_its_commit(upstream, project):
    """It locked `resolved = "HEAD"`, which every reader refused, and `xpm lock` wrote it again."""
    repo = upstream("lab/zlm")
    first = repo.commit("v1", model_files("zlm", "1.0.0"))
    repo.commit("v2", model_files("zlm", "2.0.0"))
    repo.git("checkout", "-q", "--detach", first)
    out = xpm(project, "add", repo.url)
    assert out.stdout == f"added zlm {first[:7]}\n"
    assert _locked(project) == ("", first)
    assert "zlm" in xpm(project, "list").stdout
    (project / "xlm.lock").unlink()
    xpm(project, "lock")
    assert _locked(project) == ("", first)
    repo.git("checkout", "-q", "--detach", "main")  # HEAD at a branch's commit: that branch
    xpm(project, "update")
    assert _locked(project) == ("refs/heads/main", repo.head("main"))


def test_a_branch_renamed_below_its_old_name_does_not_break_the_mirror(upstream, project):
    """`feature` -> `feature/x` upstream: without pruning, the mirror's old ref blocked every
    later full fetch (`cannot lock ref`), until the cache was cleaned by hand."""
    repo = upstream("lab/zlm")
    first = repo.commit("v1", model_files("zlm", "1.0.0"))
    second = repo.commit("v2", model_files("zlm", "2.0.0"))
    repo.commit("v3", model_files("zlm", "3.0.0"))
    repo.branch("feature")
    xpm(project, "add", f"{repo.url}@{first[:7]}")  # a short id behind the tips: the full history
    repo.git("branch", "-q", "-D", "feature")
    repo.branch("feature/x")
    out = xpm(project, "add", f"{repo.url}@{second[:7]}")
    assert out.stdout == f"zlm: {first[:7]} -> {second[:7]}\n"
    assert _locked(project) == ("", second)


def test_an_annotated_tags_own_id_locks_its_commit(upstream, project):
    repo = upstream("lab/zlm")
    commit = repo.commit("v1", model_files("zlm", "1.0.0"))
    repo.tag("v1.0.0", annotated=True)
    tag_object = repo.git("rev-parse", "v1.0.0")
    assert tag_object != commit
    out = xpm(project, "add", f"{repo.url}@{tag_object}")
    assert out.stdout == f"added zlm {commit[:7]}\n"
    assert _locked(project) == ("", commit)  # the same entry as @<the commit's id> would give
    assert read_tree(project / "xlm_models" / "zlm") == repo.tree(commit)
    # `update` exported it again each time ("restored ... it was not the locked tree"), and
    # `outdated` showed the tag's id as ALLOWED, behind the lock forever
    assert xpm(project, "update").stdout == f"zlm: pinned to {commit[:7]}; no newer tags\n"
    row = xpm(project, "outdated").stdout.splitlines()[1].split()
    assert row[:4] == ["zlm", tag_object, commit[:7], commit[:7]] and "locks ALLOWED" not in xpm(project, "outdated").stdout


def test_a_commit_id_in_uppercase_is_the_commit_as_git_reads_it(upstream, project):
    """`@24DDBC75...` (copied from a tool that shows ids in capitals) was "unknown ref"."""
    repo = upstream("lab/zlm")
    first = repo.commit("v1", model_files("zlm", "1.0.0"))
    repo.commit("v2", model_files("zlm", "2.0.0"))
    out = xpm(project, "add", f"{repo.url}@{first.upper()}")
    assert out.stdout == f"added zlm {first[:7]}\n"
    assert _locked(project) == ("", first)
    xpm(project, "install", "--frozen")  # the lock, with the id as written, is one every reader accepts
    out = xpm(project, "add", f"{repo.url}@{repo.head('main')[:8].upper()}")
    assert _locked(project) == ("", repo.head("main"))


def test_a_commit_id_no_ref_leads_to_says_to_check_it(upstream, project):
    repo = upstream("lab/zlm")
    repo.commit("v1", model_files("zlm", "1.0.0"))
    out = xpm(project, "add", f"{repo.url}@{'1' * 40}", code=1)
    assert out.stderr.splitlines() == [
        f"error: model 'zlm': commit {'1' * 12} is not in {repo.url} (no branch or tag of it leads there)",
        "  fix: check the commit id (`git ls-remote URL` lists the refs), or name a tag or branch instead (@REF)",
    ]
    assert not (project / ".xlm_models").exists() and not (project / "xlm.lock").exists()


def test_a_short_id_two_commits_deep_in_history_share_is_ambiguous(upstream, project):
    repo = upstream("lab/zlm")
    parent = repo.commit("v1", model_files("zlm", "1.0.0")).encode()
    stream = b"".join(  # 1,500 commits: two of them share their first 4 digits
        b"commit refs/heads/main\ncommitter T <t@e> 1700000000 +0000\ndata %d\nc%d\n" % (len(b"c%d" % i), i)
        + (b"from %s\n" % parent if i == 0 else b"")
        + b"M 100644 inline n\ndata %d\n%d\n" % (len(b"%d" % i), i)
        for i in range(1500))
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo.path, input=stream, check=True)
    repo.git("reset", "-q", "--hard", "main")
    history = repo.git("rev-list", "main~1").split()
    prefixes = [c[:4] for c in history]
    shared = next(p for p in prefixes if prefixes.count(p) > 1)
    out = xpm(project, "add", f"{repo.url}@{shared}", code=1)
    assert out.stderr.splitlines() == [
        f"error: model 'zlm': commit prefix '{shared}' is ambiguous in {repo.url}",
        "  fix: write more digits of the commit id",
    ]


def test_a_branch_named_like_a_pinned_commit_never_moves_it(upstream, project):
    """git reads 40 hex digits as an object id; so does xpm, before any tag or branch name."""
    repo = upstream("lab/zlm")
    first = repo.commit("v1", model_files("zlm", "1.0.0"))
    repo.commit("v2", model_files("zlm", "2.0.0"))
    xpm(project, "add", f"{repo.url}@{first}")
    repo.branch(first, "main")
    out = xpm(project, "update")
    assert out.stdout == f"zlm: pinned to {first[:7]}; no newer tags\n"
    assert _locked(project) == ("", first)


def test_a_short_id_pin_stays_when_a_new_branch_tip_shares_its_digits(upstream, project):
    """A short id resolves to a ref tip that starts with it, else to the history's commit; a pin
    made from the history moved to a branch pushed later whose tip started with the same digits."""
    repo = upstream("lab/zlm")
    first = repo.commit("v1", model_files("zlm", "1.0.0"))
    repo.commit("v2", model_files("zlm", "2.0.0"))
    xpm(project, "add", f"{repo.url}@{first[:8]}")
    assert _locked(project) == ("", first)
    repo.branch(first[:8], "main")  # a branch named by those digits: a ref that "starts with" them
    assert xpm(project, "update").stdout.startswith(f"zlm: pinned to {first[:7]}")
    assert _locked(project) == ("", first)


def test_a_pinned_tag_deleted_upstream_is_never_read_as_a_version_query(upstream, project):
    """`@v1.0.0` whose tag was deleted: `update` read it as `==1.0.0` and moved the model to
    `v1.0.0+hotfix`, another commit, with exit code 0."""
    repo = upstream("lab/zlm")
    first = repo.commit("v1", model_files("zlm", "1.0.0"))
    repo.tag("v1.0.0")
    xpm(project, "add", f"{repo.url}@v1.0.0")
    repo.git("tag", "-d", "v1.0.0")
    repo.commit("hotfix", model_files("zlm", "1.0.1"))
    repo.tag("v1.0.0+hotfix")
    out = xpm(project, "update")
    assert _locked(project) == ("refs/tags/v1.0.0", first)
    assert out.stderr == (f"warning: model 'zlm': tag v1.0.0 no longer exists upstream: the locked commit {first[:7]} stays "
                          f"(to move: xpm add {repo.url}@TAG)\n")
    assert xpm(project, "outdated").stdout.splitlines()[1].split()[:4] == ["zlm", "v1.0.0", "v1.0.0", f"({first[:7]})"]
    assert "gone" in xpm(project, "outdated").stdout.splitlines()[1]


def test_a_source_with_a_space_is_refused_as_the_argument(upstream, project):
    """It was refused as line 2 of an .xlm_models that did not exist."""
    repo = upstream("lab/models")
    out = xpm(project, "add", f"{repo.url}#subdir=sp ace/zlm", code=1)
    assert out.stderr.startswith(f"error: cannot add '{repo.url}#subdir=sp ace/zlm': ") and "holds a space" in out.stderr
    assert not (project / ".xlm_models").exists()


def test_a_release_tag_that_names_a_blob_is_named_in_the_error(upstream, project):
    repo = upstream("lab/zlm")
    repo.commit("v1", model_files("zlm", "1.0.0"))
    repo.tag("v1.0.0")
    blob = repo.git("rev-parse", "HEAD:zlm/__init__.py")
    repo.tag("v2.0.0", blob)
    out = xpm(project, "add", repo.url, code=1)
    assert out.stderr.startswith(f"error: model 'zlm': tag v2.0.0 ({blob[:12]}) is a blob, not a commit\n")
    assert xpm(project, "add", f"{repo.url}@v1").stdout.startswith("added zlm v1.0.0 (")


def test_a_ref_no_file_system_can_store_does_not_break_the_full_fetch(upstream, project):
    """A tag whose name has a component over 255 bytes (a server may keep it in packed-refs)
    failed every full fetch with `cannot lock ref`: it is left out, as resolution ignores it."""
    repo = upstream("lab/zlm")
    first = repo.commit("v1", model_files("zlm", "1.0.0"))
    second = repo.commit("v2", model_files("zlm", "2.0.0"))
    repo.git("pack-refs", "--all")
    packed = repo.path / ".git" / "packed-refs"
    lines = packed.read_text().splitlines(True)
    lines.append(f"{second} refs/tags/v9-{'x' * 300}\n")
    packed.write_text(lines[0] + "".join(sorted(lines[1:])))
    out = xpm(project, "add", f"{repo.url}@{first[:7]}")  # a short id behind the tips: the full history
    assert out.stdout == f"added zlm {first[:7]}\n"
    assert _locked(project) == ("", first)
