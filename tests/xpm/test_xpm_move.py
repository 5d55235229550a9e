"""Moving models (issue 9, items 4 and 5): `xpm add SOURCE@NEWREF` for a listed model, what
`xpm update` says of a pinned one, and `xpm outdated`, against real repositories."""

from __future__ import annotations


import pytest

from xpm import ops
from xpm.project import Project
from xpm.sync import Options
from xpm_cli import xpm
from xpm_repos import model_files, read_tree
from test_xpm_git import RecordingGit

pytestmark = pytest.mark.slow  # builds repositories and runs git


def _short(lab, version: str) -> str:
    return lab.commits[version][:7]


# ----------------------------------------------------------------------------- xpm add, listed
def test_add_of_a_listed_model_moves_its_ref_in_place(lab, project):
    url = lab.zlm.url
    xpm(project, "add", f"{lab.models.url}#subdir=aaa")
    xpm(project, "add", f"{url}@v1.0.0")
    text = f"# our models\n{url}@v1.0.0   # the paper's baseline\n\n{lab.models.url}#subdir=aaa\n"
    (project / ".xlm_models").write_text(text)
    out = xpm(project, "add", f"{url}@v2.0.0")
    assert out.stdout == f"zlm: v1.0.0 ({_short(lab, '1.0.0')}) -> v2.0.0 ({_short(lab, '2.0.0')})\n"
    assert (project / ".xlm_models").read_text() == text.replace("@v1.0.0 ", "@v2.0.0 ")
    entry = Project(project).lock().entries["zlm"]
    assert (entry.requested, entry.resolved, entry.commit) == ("v2.0.0", "refs/tags/v2.0.0", lab.commits["2.0.0"])
    assert read_tree(project / "xlm_models" / "zlm") == lab.zlm.tree("v2.0.0")
    assert xpm(project, "verify").stdout == "zlm: ok\naaa: ok\n"
    out = xpm(project, "add", f"{url}@v2.0.0")  # asked again: nothing moves, nothing is written
    assert out.stdout == f"zlm: unchanged v2.0.0 ({_short(lab, '2.0.0')})\n"
    assert (project / ".xlm_models").read_text() == text.replace("@v1.0.0 ", "@v2.0.0 ")


def test_the_line_keeps_its_own_spelling_of_the_source(lab, project, git_daemon):
    (project / ".xlm_models").write_text("github.com/lab/zlm@v1.0.0\ngithub.com/lab/models#subdir=aaa  # monorepo\n")
    xpm(project, "install")
    out = xpm(project, "add", "https://GitHub.com/lab/zlm.git@v1")  # another spelling of the same repository
    assert out.stdout == f"zlm: v1.0.0 ({_short(lab, '1.0.0')}) -> v1.1.0 ({_short(lab, '1.1.0')})\n"
    out = xpm(project, "add", "https://github.com/lab/models@v1.0.0#subdir=aaa")
    assert out.stdout.startswith("aaa: unchanged v1.0.0 (")  # the newest release already: relocked, not moved
    assert (project / ".xlm_models").read_text() == "github.com/lab/zlm@v1\ngithub.com/lab/models@v1.0.0#subdir=aaa  # monorepo\n"
    out = xpm(project, "add", "github.com/lab/zlm")  # no ref: the newest release
    assert out.stdout == f"zlm: v1.1.0 ({_short(lab, '1.1.0')}) -> v2.0.0 ({_short(lab, '2.0.0')})\n"
    assert (project / ".xlm_models").read_text().startswith("github.com/lab/zlm\n")


def test_a_move_of_the_ref_alone_is_said_as_update_says_it(lab, project):
    """The same commit by its id: the line and the lock changed, and `add` said `unchanged`."""
    commit = lab.commits["1.0.0"]
    xpm(project, "add", f"{lab.zlm.url}@v1.0.0")
    out = xpm(project, "add", f"{lab.zlm.url}@{commit[:10]}")
    assert out.stdout == f"zlm: v1.0.0 ({commit[:7]}) -> {commit[:7]}\n"
    entry = Project(project).lock().entries["zlm"]
    assert (entry.requested, entry.resolved, entry.commit) == (commit[:10], "", commit)
    assert xpm(project, "add", f"{lab.zlm.url}@{commit[:10]}").stdout == f"zlm: unchanged {commit[:7]}\n"


def test_a_move_to_a_ref_that_does_not_exist_changes_nothing(lab, project):
    xpm(project, "add", f"{lab.zlm.url}@v1.0.0")
    before = {name: (project / name).read_bytes() for name in (".xlm_models", "xlm.lock")}
    tree = read_tree(project / "xlm_models")
    out = xpm(project, "add", f"{lab.zlm.url}@v3.0.0", code=1)
    assert "no tag matches the version query 'v3.0.0'" in out.stderr
    assert {name: (project / name).read_bytes() for name in before} == before
    assert read_tree(project / "xlm_models") == tree


def test_add_refuses_another_source_under_a_listed_name(lab, project, upstream):
    xpm(project, "add", f"{lab.zlm.url}@v1")
    fork = upstream("fork/zlm")
    fork.commit("fork", model_files("zlm", "9.0.0"))
    for other in (fork.url, f"{lab.models.url}#subdir=zlm", "./zlm"):
        (project / "zlm").mkdir(exist_ok=True)
        out = xpm(project, "add", other, code=1)
        assert f"model 'zlm' is already listed at {project}/.xlm_models:2 ('{lab.zlm.url}@v1'), from another source than '{other}'" in out.stderr
        assert f"fix: to move it to another ref: `xpm add {lab.zlm.url}@REF`; to use '{other}' instead, `xpm remove zlm` first" in out.stderr
    assert (project / ".xlm_models").read_text().endswith(f"{lab.zlm.url}@v1\n")
    (project / ".xlm_models").write_text("./zlm\n")  # a local model has no ref to move
    out = xpm(project, "add", f"{lab.zlm.url}@v1", code=1)
    assert f"  fix: to use '{lab.zlm.url}@v1' instead, `xpm remove zlm` first\n" in out.stderr  # no ref to move: not offered


@pytest.mark.parametrize("text, ref, new, expected", [
    ("github.com/lab/zlm@v1", "v1", "v2", "github.com/lab/zlm@v2"),
    ("github.com/lab/zlm", None, "v2", "github.com/lab/zlm@v2"),
    ("github.com/lab/zlm@v1", "v1", None, "github.com/lab/zlm"),
    ("git@host:lab/m.git@v1#subdir=x/y", "v1", ">=2,<3", "git@host:lab/m.git@>=2,<3#subdir=x/y"),
    ("ssh://git@host:22/lab/m@main#subdir=m", "main", "dev", "ssh://git@host:22/lab/m@dev#subdir=m"),
    ("file:///srv/git/zlm.git#subdir=a", None, "v1.0.0", "file:///srv/git/zlm.git@v1.0.0#subdir=a"),
])
def test_with_ref_replaces_only_the_ref(text, ref, new, expected):
    from xlm.manifest import parse_source

    assert ops.with_ref(text, ref, new) == expected
    assert parse_source(expected)[1].ref == new


# ----------------------------------------------------------------------------- update of a pin
def test_update_of_a_pinned_tag_names_the_newer_tags_and_the_command_that_moves(lab, project):
    url = lab.zlm.url
    xpm(project, "add", f"{url}@v1.0.0")
    out = xpm(project, "update", "zlm")
    assert out.stdout == (f"zlm: pinned to v1.0.0 ({_short(lab, '1.0.0')}); newer tags: v2.0.0, v1.1.0; "
                          f"to move: xpm add {url}@v2.0.0\n")  # v1.2.0-rc1 is no release
    move = out.stdout.split("to move: xpm ")[1].split()
    out = xpm(project, *move)  # the command it printed, as printed
    assert out.stdout == f"zlm: v1.0.0 ({_short(lab, '1.0.0')}) -> v2.0.0 ({_short(lab, '2.0.0')})\n"
    assert xpm(project, "update").stdout == f"zlm: pinned to v2.0.0 ({_short(lab, '2.0.0')}); no newer tags\n"
    lab.zlm.tag("v2.1.0", lab.commits["main"])
    assert xpm(project, "update").stdout == (f"zlm: pinned to v2.0.0 ({_short(lab, '2.0.0')}); newer tags: v2.1.0; "
                                             f"to move: xpm add {url}@v2.1.0\n")


def test_update_of_a_pinned_commit(lab, project):
    url = lab.zlm.url
    xpm(project, "add", f"{url}@{lab.commits['1.1.0']}")  # a commit a release tag points at
    assert xpm(project, "update", "zlm").stdout == (f"zlm: pinned to {_short(lab, '1.1.0')}; newer tags: v2.0.0; "
                                                    f"to move: xpm add {url}@v2.0.0\n")
    xpm(project, "remove", "zlm")
    xpm(project, "add", f"{url}@{lab.commits['1.0.1-wip'][:8]}")  # no tag on it: which are newer, only history knows
    assert xpm(project, "update", "zlm").stdout == (f"zlm: pinned to {_short(lab, '1.0.1-wip')}; newest tags: v2.0.0, v1.1.0, v1.0.0; "
                                                    f"to move: xpm add {url}@v2.0.0\n")


def test_update_says_it_restored_an_edited_folder(lab, project):
    """It put the locked tree back over the user's edits and said only `unchanged`."""
    xpm(project, "add", f"{lab.zlm.url}@v1")
    (project / "xlm_models" / "zlm" / "zlm" / "model.py").write_text("# my edit\n")
    folder = project / "xlm_models" / "zlm"
    assert xpm(project, "update").stdout == (f"zlm: unchanged v1.1.0 ({_short(lab, '1.1.0')}); "
                                             f"restored {folder} (it was not the locked tree)\n")
    assert xpm(project, "update").stdout == f"zlm: unchanged v1.1.0 ({_short(lab, '1.1.0')})\n"


def test_a_query_or_a_branch_is_no_pin(lab, project):
    xpm(project, "add", f"{lab.zlm.url}@v1")
    xpm(project, "add", f"{lab.models.url}@main#subdir=aaa")
    out = xpm(project, "update").stdout
    assert "pinned" not in out and f"zlm: unchanged v1.1.0 ({_short(lab, '1.1.0')})" in out


# ----------------------------------------------------------------------------- xpm outdated
def _table(out: str) -> dict[str, list[str]]:
    """{name: [requested, locked, allowed, latest]} of the table (columns: two spaces or more)."""
    import re

    lines = [line for line in out.splitlines() if not line.startswith("`")]
    assert re.split(r"\s{2,}", lines[0]) == ["NAME", "REQUESTED", "LOCKED", "ALLOWED", "LATEST"]
    return {cells[0]: cells[1:] for cells in (re.split(r"\s{2,}", line.strip()) for line in lines[1:])}


def test_outdated(lab, project, upstream):
    other = upstream("lab/other")
    o1 = other.commit("1.0.0", model_files("other", "1.0.0"))
    other.tag("v1.0.0")
    (project / "mine").mkdir()
    (project / ".xlm_models").write_text(
        f"./mine\n{lab.zlm.url}@v1\n{other.url}@v1.0.0\n{lab.models.url}#subdir=aaa\n{lab.models.url}@main#subdir=bbb\n")
    xpm(project, "install")
    before = {name: (project / name).read_bytes() for name in (".xlm_models", "xlm.lock")}
    v13 = lab.zlm.commit("1.3", model_files("zlm", "1.3.0"))[:7]  # upstream moves on after the lock
    lab.zlm.tag("v1.3.0")
    o11 = other.commit("1.1.0", model_files("other", "1.1.0"))[:7]
    other.tag("v1.1.0")
    m1 = lab.models.head("v1.0.0")[:7]
    m2 = lab.models.commit("bbb 2", {"bbb/bbb/model.py": "class BbbModel:\n    'two'\n"})[:7]
    c = {k: v[:7] for k, v in lab.commits.items()}
    out = xpm(project, "outdated").stdout
    assert _table(out) == {
        "zlm": ["v1", f"v1.1.0 ({c['1.1.0']})", f"v1.3.0 ({v13})", f"v2.0.0 ({c['2.0.0']})"],  # a query: update moves it
        "other": ["v1.0.0", f"v1.0.0 ({o1[:7]})", f"v1.0.0 ({o1[:7]})", f"v1.1.0 ({o11})"],  # a pin: only `xpm add` does
        "aaa": ["-", f"v1.0.0 ({m1})", f"v1.0.0 ({m1})", f"v1.0.0 ({m1})"],
        "bbb": ["main", f"main ({m1})", f"main ({m2})", f"v1.0.0 ({m1})"],
    }
    assert out.splitlines()[-1] == "`xpm update zlm bbb` locks ALLOWED; beyond what a model requests: xpm add SOURCE@TAG"
    assert {name: (project / name).read_bytes() for name in before} == before  # nothing moved or written
    assert xpm(project, "update", "zlm").stdout == f"zlm: v1.1.0 ({c['1.1.0']}) -> v1.3.0 ({v13})\n"  # what ALLOWED said


def test_outdated_reads_each_remote_once_and_offline_none(lab, project):
    (project / ".xlm_models").write_text(f"{lab.zlm.url}@v1\n{lab.models.url}#subdir=aaa\n{lab.models.url}#subdir=bbb\n")
    xpm(project, "install")
    git = RecordingGit()
    table, errors = ops_outdated(project, Options(git=git))
    assert errors == [] and len(table) == 3
    assert sorted(c for c in git.calls if c[0] == "ls-remote") == sorted(git.calls) and len(git.calls) == 2
    lab.zlm.tag("v1.9.0", lab.commits["main"])
    git = RecordingGit()
    table, errors = ops_outdated(project, Options(git=git, offline=True))
    assert git.calls == [] and errors == []
    assert {r.name: r.allowed for r in table}["zlm"] == f"v1.1.0 ({lab.commits['1.1.0'][:7]})"  # the refs as last listed
    table, _ = ops_outdated(project, Options(git=RecordingGit()))
    assert {r.name: r.allowed for r in table}["zlm"] == f"v1.9.0 ({lab.commits['main'][:7]})"


def ops_outdated(project, options):
    from xpm.outdated import outdated

    return outdated(Project(project), options)


def test_outdated_offline_without_a_snapshot_and_an_unreachable_remote(lab, project, tmp_path, monkeypatch):
    (project / ".xlm_models").write_text(f"{lab.zlm.url}@v1\n")
    xpm(project, "install")
    monkeypatch.setenv("XPM_CACHE_DIR", str(tmp_path / "empty-cache"))
    out = xpm(project, "outdated", "--offline", code=1)  # the refs could not be read: exit 1, as for an unreachable remote
    assert _table(out.stdout) == {"zlm": ["v1", f"v1.1.0 ({lab.commits['1.1.0'][:7]})", "?", "?"]}
    assert out.stderr == ("error: the cache holds no refs of the remote of zlm yet; they show ?\n"
                          "  fix: run `xpm outdated` once without --offline\n")
    with open(project / ".xlm_models", "a") as handle:
        handle.write(f"{(tmp_path / 'nowhere').as_uri()}@v1\n")
    out = xpm(project, "outdated", code=1)
    rows = _table(out.stdout)
    assert rows["zlm"][2] == f"v1.1.0 ({lab.commits['1.1.0'][:7]})" and rows["nowhere"] == ["v1", "-", "?", "?"]
    assert f"warning: model 'nowhere': cannot reach {(tmp_path / 'nowhere').as_uri()}" in out.stderr
    assert "error: could not read the refs of 1 remote(s); their models show ?" in out.stderr


def test_outdated_says_gone_for_a_ref_deleted_upstream(lab, project):
    lab.zlm.git("checkout", "-q", "-b", "feature")
    xpm(project, "add", f"{lab.zlm.url}@feature")
    lab.zlm.git("checkout", "-q", "main")
    lab.zlm.git("branch", "-q", "-D", "feature")
    assert _table(xpm(project, "outdated").stdout)["zlm"][2] == "gone"


def test_outdated_with_no_git_models(project):
    (project / ".xlm_models").write_text("")
    assert xpm(project, "outdated").stdout == f"no git models in {project}/.xlm_models: nothing is outdated\n"
