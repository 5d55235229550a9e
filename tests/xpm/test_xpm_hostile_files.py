"""`.xlm_models` and `xlm.lock` as hostile input: read like xlm reads them, every lock value checked."""

from __future__ import annotations

import json

import pytest

from xpm.errors import LockFileError
from xpm.lock import Lock, LockEntry, dumps, parse_lock, read_lock
from xpm_cli import xpm
from xpm_repos import model_files

COMMIT, HASH = "c" * 40, "sha256-tree:" + "d" * 64


def _lock(**values: str) -> str:
    """A one-model lock; `values` replace (or, set to None, drop) keys of a valid git entry."""
    table = {"name": "zlm", "kind": "git", "source": "https://h/lab/zlm", "requested": "v1", "resolved": "refs/tags/v1.0.0",
             "commit": COMMIT, "hash": HASH, "package": "zlm", **values}
    body = "".join(f"{key} = {json.dumps(value)}\n" for key, value in table.items() if value is not None)  # JSON strings are TOML strings
    return "version = 1\n\n[[model]]\n" + body


def test_the_valid_lock_of_these_tests_parses():
    assert parse_lock(_lock()).entries["zlm"].commit == COMMIT
    local = "version = 1\n[[model]]\nname = 'mine'\nkind = 'local'\nsource = './models/mine'\n"
    assert parse_lock(local).entries["mine"].source == "./models/mine"


# (key = value changed, message after "xlm.lock:LINE: ", line)
BAD_VALUES = [
    ({"name": "Zlm"}, "'Zlm' is not a valid model name (use a lowercase identifier such as my_model)", 4),
    ({"name": "con", "source": "https://h/lab/con"}, "'con' cannot be a model name: it is a Windows device name", 4),
    ({"name": "arlm"}, "'arlm' is reserved for a core model of xlm", 4),  # another name is one `#name=` gives: allowed
    ({"source": "--upload-pack=touch"}, "'--upload-pack=touch@v1' starts with '-' (git would read it as an option)", 6),
    ({"source": "https://h/lab/zlm x"}, "expected one model per line, found 'https://h/lab/zlm x@v1'", 6),
    ({"source": "ssh://-oProxyCommand=x/lab/zlm"}, "the host '-oProxyCommand=x' of 'ssh://-oProxyCommand=x/lab/zlm@v1' starts with '-'", 6),
    ({"source": "https://h/lab/zlm@v2"}, "is not a git source as .xlm_models writes it", 6),
    ({"source": "https://h/lab/zlm  # note"}, "is not a git source as .xlm_models writes it", 6),
    ({"source": "./zlm", "requested": None}, "model 'zlm': './zlm' is not a git source as .xlm_models writes it", 6),
    ({"requested": "-x"}, "the ref '-x' of 'https://h/lab/zlm@-x' starts with '-'", 6),
    ({"requested": "v 1"}, "model 'zlm': expected one model per line, found 'https://h/lab/zlm@v 1'", 6),
    ({"requested": "v1#subdir=x"}, "is not a git source as .xlm_models writes it", 6),
    ({"subdir": "../zlm"}, "subdir '../zlm' must be a plain relative path inside the repository", 6),
    ({"subdir": "a/zlm\u2028"}, "`subdir` holds a control character U+2028 at column 6", 12),
    ({"resolved": "refs/tags/v1\x1b[2J"}, "`resolved` holds a control character U+001B at column 13", 8),
    ({"package": "zlm.sub"}, "'zlm.sub' is not a Python package name", 11),
    ({"package": "class"}, "'class' is not a Python package name", 11),
    # `resolved` is a tag or branch git itself would make
    ({"resolved": "refs/tags/-x"}, "'refs/tags/-x' is not a tag or branch (refs/tags/..., refs/heads/...)", 8),
    ({"resolved": "refs/remotes/origin/x"}, "'refs/remotes/origin/x' is not a tag or branch", 8),
    ({"resolved": "refs/tags/v1..2"}, "'refs/tags/v1..2' is not a tag or branch", 8),
    ({"resolved": "refs/heads/a b"}, "'refs/heads/a b' is not a tag or branch", 8),
    ({"resolved": "v1.0.0"}, "'v1.0.0' is not a tag or branch", 8),
    # and one resolution could make of `requested` (a hand edit: it passed `lock --check` and `verify`)
    ({"requested": "v1.0.0", "resolved": "refs/heads/dev"}, "'refs/heads/dev' cannot be what 'v1.0.0' resolves to", 8),
    ({"requested": COMMIT, "resolved": "refs/tags/v1.0.0"}, f"'refs/tags/v1.0.0' cannot be what '{COMMIT}' resolves to", 8),
    ({"requested": "main", "resolved": ""}, "'' cannot be what 'main' resolves to", 8),
    ({"note": "\u001b[31m"}, "`note` holds a control character U+001B", 12),  # an unknown key too
]


@pytest.mark.parametrize("values, what, line", BAD_VALUES)
def test_every_lock_value_is_checked_with_file_and_line(values, what, line):
    with pytest.raises(LockFileError) as info:
        parse_lock(_lock(**values), "xlm.lock")
    assert info.value.what.startswith(f"xlm.lock:{line}: "), info.value.what
    assert what in info.value.what
    assert "restore it from version control, or delete it and run `xpm lock`" in info.value.fix


@pytest.mark.parametrize("requested, resolved", [
    (None, "refs/heads/trunk"), (None, ""), ("main", "refs/heads/main"), ("v1", "refs/tags/v1.10.0"),
    ("nightly", "refs/tags/nightly"), (COMMIT, ""), ("abcd12", ""), ("abcd12", "refs/tags/abcd12"),
])
def test_what_resolution_makes_of_a_request_is_accepted(requested, resolved):
    assert parse_lock(_lock(requested=requested, resolved=resolved)).entries["zlm"].resolved == resolved


def test_a_local_entry_is_checked_too():
    text = "version = 1\n[[model]]\nname = 'mine'\nkind = 'local'\nsource = 'github.com/lab/mine'\n"
    with pytest.raises(LockFileError, match="xlm.lock:5: model 'mine': 'github.com/lab/mine' is not a local source"):
        parse_lock(text, "xlm.lock")


def test_credentials_in_the_lock_are_refused_without_printing_them():
    with pytest.raises(LockFileError) as info:
        parse_lock(_lock(source="https://alice:s3cret@h/lab/zlm"), "xlm.lock")
    assert "s3cret" not in info.value.render()
    assert info.value.what.startswith("xlm.lock:6: 'https://***@h/lab/zlm@v1' holds credentials")
    assert "delete xlm.lock and run `xpm lock`" in info.value.fix and "credential.helper" in info.value.fix


def test_a_lock_with_crlf_and_a_bom_reads_and_lines_are_counted_on_newline_only(tmp_path):
    path = tmp_path / "xlm.lock"
    text = dumps(Lock({"zlm": LockEntry("zlm", "git", "https://h/lab/zlm", None, "refs/heads/main", COMMIT, None, HASH, "zlm")}))
    path.write_bytes(("\ufeff" + text.replace("\n", "\r\n")).encode())
    assert read_lock(path).entries["zlm"].commit == COMMIT
    path.write_bytes(b"version = 1\n# \xe2\x80\xa8 a separator in a comment\n[[model]]\nname = 'Bad'\nkind = 'local'\nsource = 'x'\n")
    with pytest.raises(LockFileError, match=rf"^{path}:4: 'Bad' is not a valid model name"):
        read_lock(path)


@pytest.mark.parametrize(
    "data, what",
    [
        (b"version = 1\n# \xff\n", "xlm.lock:2: not valid UTF-8 (byte 0xff at column 3)"),
        (b"version = 1\n#" + b"x" * 5000 + b"\n", "xlm.lock:2: line is 5001 bytes long, more than the 4096 allowed"),
    ],
)
def test_lock_bytes_are_checked(data, what, tmp_path):
    (tmp_path / "xlm.lock").write_bytes(data)
    with pytest.raises(LockFileError) as info:
        read_lock(tmp_path / "xlm.lock")
    assert info.value.what == f"{tmp_path}/{what}"
    assert "restore it from version control" in info.value.fix


# ----------------------------------------------------------------------------- through the command line
def test_invalid_utf8_in_the_models_file_is_an_error_with_file_and_line(project):
    (project / ".xlm_models").write_bytes(b"# models\n\xe9lm\n")
    out = xpm(project, "install", code=1)
    assert out.stderr == (f"error: {project}/.xlm_models:2: not valid UTF-8 (byte 0xe9 at column 1)\n"
                          "  fix: save the file as UTF-8 (the models file and the lock are plain UTF-8 text)\n")
    assert not (project / "xlm_models").exists() and not (project / "xlm.lock").exists()


def test_a_models_file_that_is_a_folder_is_an_error_not_a_walk_to_the_parent(project, tmp_path):
    (tmp_path / ".xlm_models").write_text("")  # a project above: never silently used instead
    (project / ".xlm_models").mkdir()
    for command in (("install",), ("add", "./x"), ("list",)):
        out = xpm(project, *command, code=1)
        assert out.stderr.startswith(f"error: {project}/.xlm_models is a folder, not a file\n  fix: move the folder away"), out.stderr
    assert not (project / "xlm_models").exists() and (tmp_path / ".xlm_models").read_text() == ""


def test_a_lock_that_is_a_folder_is_an_error(project):
    (project / ".xlm_models").write_text("")
    (project / "xlm.lock").mkdir()
    out = xpm(project, "install", code=1)
    assert out.stderr.startswith(f"error: {project}/xlm.lock is a folder, not a file\n")


def test_add_to_a_crlf_models_file_with_a_bom_keeps_both(lab, project):
    text = "\ufeff# my models\r\n# more\r\n"
    (project / ".xlm_models").write_bytes(text.encode())
    xpm(project, "add", f"{lab.zlm.url}@v1.0.0")
    assert (project / ".xlm_models").read_bytes().decode() == text + f"{lab.zlm.url}@v1.0.0\r\n"
    xpm(project, "install")
    xpm(project, "remove", "zlm")
    assert (project / ".xlm_models").read_bytes().decode() == text


def test_add_refuses_credentials_and_never_prints_them(project):
    out = xpm(project, "add", "https://alice:s3cret@github.com/lab/zlm@v1", code=1)
    assert "s3cret" not in out.output
    assert "'https://***@github.com/lab/zlm@v1' holds credentials" in out.stderr
    assert "credential.helper store" in out.stderr
    assert list(project.iterdir()) == []


def test_add_refuses_a_model_root_that_would_shadow_a_module(upstream, project):
    repo = upstream("lab/shady")
    commit = repo.commit("shadows", {**model_files("shady"), "typing.py": "raise SystemExit('never run')\n", "torch/__init__.py": ""})
    out = xpm(project, "add", repo.url, code=1)
    assert f"error: model 'shady' from {repo.url} (commit {commit[:12]}) is not a valid xlm model:" in out.stderr
    assert ("External model 'shady' has a top-level module 'typing.py' that would shadow the standard library module "
            f"'typing' (its folder goes on sys.path) (shady@{commit[:7]}:typing.py); fix: move it into the package "
            "(shady/typing.py, imported as shady.typing), rename it, or delete it") in out.stderr
    assert "'torch' that would shadow the installed module 'torch' (from torch)" in out.stderr
    assert list(project.iterdir()) == []  # nothing installed, nothing left behind


@pytest.mark.parametrize("name, hidden", [("json", "the standard library module 'json'"), ("xlm", "xlm itself")])
def test_add_refuses_a_package_that_xlm_refuses_in_any_environment(upstream, project, name, hidden):
    """It used to be added, locked and installed; every xlm command then refused the project."""
    repo = upstream(f"lab/{name}")
    commit = repo.commit("c", model_files(name))
    out = xpm(project, "add", repo.url, code=1)
    assert (f"Python package conflict: Model '{name}' defines package '{name}', which would shadow {hidden} "
            f"({name}@{commit[:7]}:{name}); fix: rename the package to a model-specific name (such as '{name}_model') "
            "and update its _target_ paths") in out.stderr
    assert list(project.iterdir()) == []


def test_add_warns_of_a_package_named_like_an_installed_module(upstream, project):
    """xlm refuses it where that module is installed, unless it is the model's own install."""
    repo = upstream("lab/torch")
    repo.commit("c", model_files("torch"))
    out = xpm(project, "add", repo.url)
    assert out.stderr == ("warning: xlm will skip model 'torch': Python package conflict: Model 'torch' defines package 'torch', "
                          f"which would shadow the installed module 'torch' (from torch) ({project / 'xlm_models' / 'torch' / 'torch'})\n"
                          "  fix: rename the package to a model-specific name (such as 'torch_model') and update its _target_ paths\n")
    assert (project / "xlm_models" / "torch" / "torch" / "__init__.py").is_file()


def test_a_lock_the_reader_would_refuse_is_never_written(tmp_path):
    from xpm.errors import XpmError
    from xpm.lock import write_lock

    entry = parse_lock(_lock()).entries["zlm"]
    long = Lock({"zlm": LockEntry(**{**entry._asdict(), "requires": ("a" * 5000,)})})
    with pytest.raises(XpmError, match="model 'zlm': its `requires` would make a line of xlm.lock longer than the 4096 bytes"):
        write_lock(tmp_path / "xlm.lock", long)
    assert not (tmp_path / "xlm.lock").exists()
    write_lock(tmp_path / "xlm.lock", Lock({"zlm": LockEntry(**{**entry._asdict(), "requires": ("a" * 1000,) * 9})}))
    assert read_lock(tmp_path / "xlm.lock").entries["zlm"].requires == ("a" * 1000,) * 9  # many short lines are fine


def test_a_lock_larger_than_the_reader_allows_is_never_written(tmp_path):
    """Each model's requirements may be within their limits (500 of 1024 bytes) and a lock of
    nine such models still over the 4 MiB a lock may hold: the largest model is named."""
    from xpm.errors import XpmError
    from xpm.lock import write_lock

    entry = parse_lock(_lock()).entries["zlm"]
    requires = tuple(f"r{i}>=" + "1." * 500 for i in range(500))
    entries = {f"m{i}": LockEntry(**{**entry._asdict(), "name": f"m{i}", "package": f"m{i}", "source": f"https://h/lab/m{i}",
                                   "requires": requires[: 500 - i]}) for i in range(9)}
    with pytest.raises(XpmError, match=r"xlm.lock would be larger than the 4 MiB a lock may hold; model 'm0' takes 5\d\d,\d\d\d bytes"):
        write_lock(tmp_path / "xlm.lock", Lock(entries))
    assert not (tmp_path / "xlm.lock").exists()
    del entries["m0"], entries["m1"]
    write_lock(tmp_path / "xlm.lock", Lock(entries))
    assert read_lock(tmp_path / "xlm.lock").entries["m8"].requires == requires[:492]


def test_add_warns_when_xlm_would_skip_the_model_for_a_conflict_with_another(upstream, project):
    """Both put a top-level `common` on sys.path: xlm skips the later one, and `xpm add` said nothing."""
    repos = {}
    for name in ("ma", "mb"):
        repos[name] = upstream(f"lab/{name}")
        repos[name].commit("c", {**model_files(name), "common.py": "x = 1\n"})
    assert xpm(project, "add", repos["ma"].url).stderr == ""
    out = xpm(project, "add", repos["mb"].url)  # added: the other model may be the one to change
    assert out.stdout.startswith("added mb ")
    assert out.stderr.startswith("warning: xlm will skip model 'mb': Python module conflict: Both 'ma' and 'mb' put a "
                                 "top-level module 'common' on sys.path (")
    assert "\n  fix: move common.py into the package (mb/common.py, imported as mb.common) or rename it\n" in out.stderr
    states = {row.split()[0]: " ".join(row.split()[5:]) for row in xpm(project, "list").stdout.splitlines()[1:]}
    assert states == {"ma": "ok", "mb": "ok (xlm skips it: see `xlm models`)"}  # it said ok: xpm's part is fine, yet no job can use it
