"""The `.xlm_models` grammar (xlm.manifest, shared with xpm): entries, comments, errors, edits."""

from __future__ import annotations

import os

import pytest

from xlm.manifest import (CredentialsError, GitSource, LocalSource, ManifestError, parse_line, parse_source, parse_text,
                          replace_entry_text)
from xlm.shown import redact
from xlm.textfile import write_atomic

# (line as written, model name, source)
ENTRIES = [
    ("my_model", "my_model", LocalSource()),
    ("  my_model  ", "my_model", LocalSource()),
    ("my_model  # after an entry", "my_model", LocalSource()),
    ("my_model\t# after a tab", "my_model", LocalSource()),
    ("./examples/zlm", "zlm", LocalSource("./examples/zlm")),
    ("./examples/zlm/  # trailing slash", "zlm", LocalSource("./examples/zlm/")),
    ("../models/zlm", "zlm", LocalSource("../models/zlm")),
    ("/abs/zlm", "zlm", LocalSource("/abs/zlm")),
    ("~/zlm", "zlm", LocalSource("~/zlm")),
    ("github.com/lab/zlm", "zlm", GitSource("https://github.com/lab/zlm")),
    ("github.com/lab/zlm@v1  # pinned", "zlm", GitSource("https://github.com/lab/zlm", "v1")),
    ("github.com/lab/mono@>=1.2,<2#subdir=models/zlm", "zlm", GitSource("https://github.com/lab/mono", ">=1.2,<2", "models/zlm")),
    ("https://host/g/m.git", "m", GitSource("https://host/g/m.git")),
    ("ssh://git@host/lab/m.git@main", "m", GitSource("ssh://git@host/lab/m.git", "main")),
    ("git@host:lab/m.git", "m", GitSource("git@host:lab/m.git")),
    ("file:///abs/repo.git", "repo", GitSource("file:///abs/repo.git")),
    ("file:///abs/zlm/.git@v1", "zlm", GitSource("file:///abs/zlm/.git", "v1")),
    # a repository named as its pip project: named as pip normalises it (it could not be added at all)
    ("github.com/lab/awesome-lm@v1", "awesome_lm", GitSource("https://github.com/lab/awesome-lm", "v1")),
    ("github.com/lab/Zeta", "zeta", GitSource("https://github.com/lab/Zeta")),
    ("github.com/lab/mono#subdir=models/My.Big--Model", "my_big_model", GitSource("https://github.com/lab/mono", None, "models/My.Big--Model")),
    # `#name=` names the model (a flat model pushed under another name than its package's)
    ("github.com/lab/xlm-mdlm@v1#name=mdlm", "mdlm", GitSource("https://github.com/lab/xlm-mdlm", "v1", None, "mdlm")),
    ("github.com/lab/zoo#subdir=models/a&name=alpha", "alpha", GitSource("https://github.com/lab/zoo", None, "models/a", "alpha")),
    ("github.com/lab/zoo#name=alpha&subdir=models/a", "alpha", GitSource("https://github.com/lab/zoo", None, "models/a", "alpha")),
    ("github.com/lab/mdlm#name=mdlm", "mdlm", GitSource("https://github.com/lab/mdlm")),  # the name it has anyway
]


@pytest.mark.parametrize("text, name, source", ENTRIES)
def test_entries(text, name, source):
    entry = parse_line(text)
    assert (entry.name, entry.source) == (name, source)


@pytest.mark.parametrize("text", ["", "   ", "# a comment", "   # indented comment", "#my_model"])
def test_blank_and_comment_lines_are_not_entries(text):
    assert parse_line(text) is None


# (line, message after "FILE:LINE: ", fix)
ERRORS = [
    ("my_model other", "expected one model per line, found 'my_model other'", "put each model on its own line"),
    ("My-Model", "'My-Model' is not a valid model name (use a lowercase identifier such as my_model)", "rename the model"),
    ("class", "'class' is a Python keyword and cannot be a model name", "rename the model"),
    ("./models/My-Model", "'My-Model' is not a valid model name (use a lowercase identifier such as my_model)", "rename the model"),
    ("my_model#note", "'#' starts a comment only after white space, found 'my_model#note'", "write 'my_model  #note'"),
    ("./examples/zlm#x", "'#' starts a comment only after white space, found './examples/zlm#x'", "write './examples/zlm  #x'"),
    ("github.com/lab/zlm#v1", "unknown fragment '#v1' (only '#subdir=path/in/repo', '#name=NAME' and '#subdir=path/in/repo&name=NAME' are supported)", "host/repo[@ref][#subdir=dir]"),
    ("github.com/lab/zlm#name=a&name=b", "unknown fragment '#name=a&name=b' (only '#subdir=path/in/repo', '#name=NAME' and '#subdir=path/in/repo&name=NAME' are supported)", "host/repo[@ref][#subdir=dir]"),
    ("github.com/lab/zlm#name=", "unknown fragment '#name=' (only '#subdir=path/in/repo', '#name=NAME' and '#subdir=path/in/repo&name=NAME' are supported)", "host/repo[@ref][#subdir=dir]"),
    ("github.com/lab/zlm#name=Bad-Name", "#name=Bad-Name: 'Bad-Name' is not a valid model name (use a lowercase identifier such as my_model)", "#name=my_model"),
    ("github.com/lab/zlm#name=mlm", "#name=mlm: 'mlm' is reserved for a core model of xlm", "#name=my_model"),
    ("github.com/lab/zlm@", "'@' must be followed by a tag, branch, commit or version query", "host/repo[@ref][#subdir=dir]"),
    ("github.com/../../etc", "the path of 'github.com/../../etc' has a '.' or '..' component", "the repository's own path"),
    ("https://h/lab/./zlm", "the path of 'https://h/lab/./zlm' has a '.' or '..' component", "the repository's own path"),
    # a subdir is taken as written: '/etc' is not guessed to mean 'etc'
    ("github.com/lab/mono#subdir=/etc", "subdir '/etc' must be a plain relative path inside the repository", "from its top: #subdir=path/to/model"),
    ("github.com/lab/mono#subdir=//etc", "subdir '//etc' must be a plain relative path inside the repository", "from its top: #subdir=path/to/model"),
    ("github.com/lab/mono#subdir=a/../b", "subdir 'a/../b' must be a plain relative path inside the repository", "from its top: #subdir=path/to/model"),
    ("github.com/lab/mono#subdir=a/.GIT", "subdir 'a/.GIT' is inside a .git folder, which xpm never exports: name the model's folder", "host/repo[@ref][#subdir=dir]"),
    ("github.com/lab/mono#subdir=models//zlm", "subdir 'models//zlm' must be a plain relative path inside the repository", "write #subdir=models/zlm"),
    ("github.com/lab/mono#subdir=./models/zlm", "subdir './models/zlm' must be a plain relative path inside the repository", "write #subdir=models/zlm"),
    ("github.com/lab/mono#subdir=zlm/", "subdir 'zlm/' must be a plain relative path inside the repository", "write #subdir=zlm"),
    # a local folder is used as it is: a ref is a git source's (the URL is the fix, not a rename)
    ("../repos/bar_lm@v0.1.0", "'../repos/bar_lm@v0.1.0' is a local folder with a ref: a local folder is used as it is",
     "give its URL: file://<the absolute path of ../repos/bar_lm>@v0.1.0"),
    ("/srv/repos/bar_lm@v1", "'/srv/repos/bar_lm@v1' is a local folder with a ref: a local folder is used as it is",
     "give its URL: file:///srv/repos/bar_lm@v1 (or drop"),
    # what git would read as an option
    ("-oProxyCommand=touch@host:x", "'-oProxyCommand=touch@host:x' starts with '-' (git would read it as an option)", "host/repo"),
    ("ssh://-oProxyCommand=x/lab/m", "the host '-oProxyCommand=x' of 'ssh://-oProxyCommand=x/lab/m' starts with '-' (git would read it as an option)", "no part of a source"),
    ("ssh://-l@host/lab/m", "the user '-l' of 'ssh://-l@host/lab/m' starts with '-' (git would read it as an option)", "no part of a source"),
    ("git@host:-u/m.git", "the path '-u/m.git' of 'git@host:-u/m.git' starts with '-' (git would read it as an option)", "no part of a source"),
    ("github.com/lab/zlm@--upload-pack=x", "the ref '--upload-pack=x' of 'github.com/lab/zlm@--upload-pack=x' starts with '-' (git would read it as an option)", "no part of a source"),
    ("github.com/lab/mono#subdir=-zlm", "the subdir '-zlm' of 'github.com/lab/mono#subdir=-zlm' starts with '-' (git would read it as an option)", "no part of a source"),
    # control characters: never a second entry, never hidden
    ("zlm\x0bother", "control character U+000B at column 4 (an editor may show it as a line break, or not at all)", "put each model on its own line"),
    ("zlm  # note\u2028github.com/evil/x", "control character U+2028 at column 12 (an editor may show it as a line break, or not at all)", "delete it"),
    ("github.com/lab/\u202ezlm", "control character U+202E at column 16 (an editor may show it as a line break, or not at all)", "delete it"),
    ("zlm\x00", "control character U+0000 at column 4 (an editor may show it as a line break, or not at all)", "delete it"),
    # characters that show as nothing: `lab\u200b/zlm` reads as lab/zlm and is another repository
    ("github.com/lab\u200b/zlm@v1", "invisible character U+200B at column 15 (an editor shows nothing there)", "delete it"),
    ("github.com/lab/zlm@v1.1.0\u2060", "invisible character U+2060 at column 26 (an editor shows nothing there)", "delete it"),
    ("z\u00adlm", "invisible character U+00AD at column 2 (an editor shows nothing there)", "delete it"),
    ("github.com/lab/zlm\u00a0@v1", "expected one model per line, found 'github.com/lab/zlm\\u00a0@v1'", ""),  # shown as what it is, not a space
    # reserved names
    ("xlm_models", "'xlm_models' cannot be a model name: xlm_models/ is where xpm vendors a project's models", "rename the model"),
    ("./models/con", "'con' cannot be a model name: it is a Windows device name, so its folder cannot be created on Windows", "rename the model"),
    ("./models/__main__", "'__main__' cannot be a model name: names with two leading and trailing underscores are Python's own", "rename the model"),
    ("__pycache__", "'__pycache__' cannot be a model name: names with two leading and trailing underscores are Python's own", "rename the model"),
    ("sitecustomize", "'sitecustomize' cannot be a model name: Python runs a module of that name at every start of a process that has it on its path", "rename the model"),
    ("github.com/lab/3d-lm", "'3d_lm' is not a valid model name (use a lowercase identifier such as my_model); the name comes from the repository or subdir's last component", "name the model: add #name=NAME to the line"),
    ("github.com/lab/ARLM", "'arlm' is reserved for a core model of xlm; the name comes from the repository or subdir's last component", "name the model: add #name=NAME to the line"),
    ("https://h/lab/mono.git#subdir=models/ilm", "'ilm' is reserved for a core model of xlm; the name comes from the repository or subdir's last component", "name the model: add #name=NAME to the line"),
    ("github.com/lab/lpt9.git", "'lpt9' cannot be a model name: it is a Windows device name, so its folder cannot be created on Windows; the name comes from the repository or subdir's last component", "name the model: add #name=NAME to the line"),
    ("m" * 101, f"'{'m' * 37}...' is 101 characters long; a model name has at most 100", "rename the model"),
    # malformed URLs
    ("foo://host/lab/m", "unknown URL scheme 'foo://' in 'foo://host/lab/m' (use one of: https://, http://, ssh://, git+ssh://, ssh+git://, git://, file://)", "host/repo"),
    ("https:///lab/m", "'https:///lab/m' has no host name", "host/repo"),
    ("github.com:lab/zlm", "'github.com:lab' in 'github.com:lab/zlm' is not a host name (with an optional :port)", "host/repo"),
    ("git@github.com/lab/zlm", "'git@github.com/lab/zlm' mixes an ssh user with an https path", "write git@github.com:lab/zlm (ssh)"),
]


@pytest.mark.parametrize("text, what, fix", ERRORS)
def test_errors_name_the_file_and_line(text, what, fix, tmp_path):
    file = tmp_path / ".xlm_models"
    with pytest.raises(ManifestError) as info:
        parse_text(f"# models\n\n{text}\n", file)
    assert str(info.value) == f"{file}:3: {what}"
    assert (info.value.what, info.value.line) == (what, 3)
    assert fix in info.value.fix


SECRETS = [
    ("https://alice:s3cret-TOKEN@github.com/lab/zlm@v1", "https://***@github.com/lab/zlm@v1"),
    ("https://s3cret-TOKEN@github.com/lab/zlm", "https://***@github.com/lab/zlm"),
    ("http://s3cret-TOKEN@host/lab/zlm.git", "http://***@host/lab/zlm.git"),
    ("ssh://git:s3cret-TOKEN@host/lab/zlm.git", "ssh://git:***@host/lab/zlm.git"),
    ("alice:s3cret-TOKEN@github.com/lab/zlm", "alice:***@github.com/lab/zlm"),
]


@pytest.mark.parametrize("text, shown", SECRETS)
def test_credentials_are_refused_and_never_printed(text, shown, tmp_path):
    file = tmp_path / ".xlm_models"
    for line in (text, f"{text}  # mine", f"{text} {text}"):
        with pytest.raises(ManifestError) as info:
            parse_text(f"{line}\n", file)
        assert "s3cret-TOKEN" not in str(info.value) + info.value.fix
        assert shown in info.value.what and info.value.line == 1
    with pytest.raises(CredentialsError) as info:
        parse_source(text)
    assert info.value.what == f"'{shown}' holds credentials (a password or token in the URL), which xpm would write to xlm.lock"
    assert "git config --global credential.helper store" in info.value.fix


def test_a_query_string_is_refused_and_never_printed(tmp_path):
    for text in ("https://host/lab/zlm.git?private_token=s3cret-TOKEN", "github.com/lab/zlm?t=s3cret-TOKEN@v1"):
        with pytest.raises(CredentialsError) as info:
            parse_text(f"{text}\n", tmp_path / ".xlm_models")
        assert "s3cret" not in str(info.value) and "has a query string ('?...')" in info.value.what
        assert "?***" in info.value.what and "remove the query from the URL" in info.value.fix


def test_redact_hides_passwords_and_http_tokens_only():
    assert redact("cannot reach https://tok@h/x: 403") == "cannot reach https://***@h/x: 403"
    assert redact("'ssh://u:pw@h/x' and u:pw@h/x") == "'ssh://u:***@h/x' and u:***@h/x"
    for kept in ("ssh://git@host/lab/m.git", "git@host:lab/m.git", "file:///abs/x@v1", "git://127.0.0.1:9418/lab/zlm@v1"):
        assert redact(kept) == kept


def test_user_names_ports_and_addresses_that_are_fine():
    assert parse_source("ssh://git@host:2222/lab/m.git")[1] == GitSource("ssh://git@host:2222/lab/m.git")
    assert parse_source("https://[::1]:8443/lab/m.git")[1] == GitSource("https://[::1]:8443/lab/m.git")
    assert parse_source("git@host:lab/m.git@v-1")[1] == GitSource("git@host:lab/m.git", "v-1")
    assert parse_source("HTTPS://host/lab/m")[0] == "m"
    assert parse_source("FILE:///srv/lab/m")[1] == GitSource("file:///srv/lab/m")  # schemes ignore case: never refused later


def test_entries_keep_file_order_and_their_line_numbers(tmp_path):
    file = tmp_path / ".xlm_models"
    entries = parse_text("# models\nb\n\na  # why\n./x/c\n", file)
    assert [(e.name, e.text, e.where()) for e in entries] == [("b", "b", f"{file}:2"), ("a", "a", f"{file}:4"), ("c", "./x/c", f"{file}:5")]


def test_replacing_an_entry_keeps_every_other_line_and_its_comment():
    text = "# models\nzlm  # the example\nother\n"
    assert replace_entry_text(text, "zlm", "github.com/lab/zlm@v1") == "# models\ngithub.com/lab/zlm@v1  # the example\nother\n"
    assert replace_entry_text(text, "zlm", None) == "# models\nother\n"


def test_atomic_writes_keep_the_files_mode(tmp_path):
    new = tmp_path / ".xlm_models"
    write_atomic(new, "a\n")
    umask = os.umask(0)
    os.umask(umask)
    assert new.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() would make it, not mkstemp's 0600
    new.chmod(0o640)
    write_atomic(new, "b\n")
    assert new.read_text() == "b\n" and new.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == [".xlm_models"]  # no temporary file left
