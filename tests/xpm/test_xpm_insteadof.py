"""The URL git contacts: xpm applies the user's `url.<base>.insteadOf` rules itself (one `git
config` per command, not a `git ls-remote --get-url` per remote), and must get git's answer.

Every case is checked against git's own `ls-remote --get-url` in the same configuration."""

import subprocess

import pytest

from xpm.git import transport
from xpm.git.command import Git
from xpm.git.database import Database

# Rules in the order a user might write them: overlapping prefixes, equal lengths under two
# bases (the base git meets first wins), a base whose section appears twice, a base only in
# case different from another, an empty prefix (matches every URL), pushInsteadOf (for
# pushes only: never applied to a fetch), non-ASCII bytes.
CONFIG = (
    '[url "git://mirror.example/"]\n\tinsteadOf = https://github.com/\n'
    '[url "ssh://git@long.example/"]\n\tinsteadOf = https://github.com/lab/\n'
    '[url "https://first.example/"]\n\tinsteadOf = https://same.example/a/\n'
    '[url "https://second.example/"]\n\tinsteadOf = https://same.example/b/\n\tinsteadOf = https://same.example/a/\n'
    '[url "https://first.example/"]\n\tinsteadOf = https://same.example/c/\n'
    '[url "https://Case.example/"]\n\tinsteadOf = https://case.example/x\n'
    '[url "https://case.example/"]\n\tinsteadOf = https://case.example/y\n'
    '[url "file:///srv/git/"]\n\tinsteadOf = gh:\n'
    '[url "https://push.example/"]\n\tpushInsteadOf = https://github.com/lab/zlm\n'
    '[url "https://ünï.example/"]\n\tinsteadOf = https://u.example/\n'
    '[url "https://EMPTY.example/"]\n\tinsteadOf =\n'
)

URLS = [
    "https://github.com/lab/zlm",  # two prefixes match: the longer one
    "https://github.com/other/zlm",
    "https://github.com/lab",  # shorter than the longer prefix: the shorter rule
    "https://same.example/a/repo",  # equal prefixes under two bases: the base git met first
    "https://same.example/b/repo",
    "https://same.example/c/repo",  # the first base, from its second section
    "https://case.example/xy",
    "https://case.example/yx",
    "https://CASE.example/xy",  # prefixes are compared as bytes: case matters
    "gh:lab/zlm",
    "https://u.example/ü/repo",
    "ssh://git@host.example/lab/zlm.git",  # only the empty prefix matches
]


def _git_answer(mirror, url: str) -> str:
    proc = subprocess.run(["git", "ls-remote", "--get-url", "--", url], cwd=mirror, env={**Git()._env(mirror)},
                          capture_output=True, check=True)
    return proc.stdout.decode("utf-8", "replace").removesuffix("\n")


@pytest.mark.parametrize("empty_rule", [False, True])
def test_insteadof_rules_are_applied_as_git_applies_them(git_env, empty_rule):
    config = CONFIG if empty_rule else CONFIG.replace('[url "https://EMPTY.example/"]\n\tinsteadOf =\n', "")
    git_env.add_config(config)
    git = Git()
    db = Database(git, git_env.cache, "https://github.com/lab/zlm")
    db.ensure()
    rules = git._config(db.path).rewrites
    assert rules is not None
    for url in URLS:
        expected = _git_answer(db.path, url)
        assert git._effective_url(url, db.path) == expected, url
        assert transport.rewritten(url, rules) == expected, url
    if not empty_rule:  # the table exercises each rule: a change of the tie-break would show
        assert _git_answer(db.path, "https://same.example/a/repo") == "https://first.example/repo"
        assert _git_answer(db.path, "https://github.com/lab/zlm") == "ssh://git@long.example/zlm"
        assert _git_answer(db.path, "ssh://git@host.example/lab/zlm.git") == "ssh://git@host.example/lab/zlm.git"


def test_one_git_config_reads_the_rules_for_every_remote(git_env, monkeypatch):
    git_env.add_config(CONFIG)
    git = Git()
    db = Database(git, git_env.cache, "https://github.com/lab/zlm")
    db.ensure()
    ran = []
    real = git._exec
    monkeypatch.setattr(git, "_exec", lambda args, *a, **k: ran.append(args[0]) or real(args, *a, **k))
    for url in URLS:
        if "/" in url:
            git._effective_url(url, db.path)
    assert ran == ["config"]


def test_a_url_without_a_slash_and_a_rule_without_a_value_are_left_to_git(git_env, monkeypatch):
    """`host:repo` may name a remote of the user's config; a valueless rule makes git refuse
    its config: in both cases xpm asks git, as it did for every URL before."""
    git_env.add_config('[remote "mirror:zlm"]\n\turl = https://elsewhere.example/zlm\n')
    git = Git()
    db = Database(git, git_env.cache, "https://github.com/lab/zlm")
    db.ensure()
    assert git._effective_url("mirror:zlm", db.path) == _git_answer(db.path, "mirror:zlm") == "https://elsewhere.example/zlm"
    git_env.add_config('[url "https://x.example/"]\n\tinsteadOf\n')
    git = Git()
    assert git._config(db.path).rewrites is None
    assert git._effective_url("https://github.com/lab/zlm", db.path) == "https://github.com/lab/zlm"


@pytest.mark.parametrize("listing,rewrites,ssh", [
    (b"", (), False),
    (b"url.git://m/.insteadof\nhttps://g/\0url.git://m/.insteadof\nhttps://h/\0", ((b"git://m/", (b"https://g/", b"https://h/")),), False),
    (b"core.sshcommand\nssh -i k\0", (), True),
    (b"core.sshcommand\nssh -i k\0core.sshcommand\n\0", (), False),  # the last value wins: set to nothing
    (b"url.a.b.insteadof\n\0", ((b"a.b", (b"",)),), False),  # an empty prefix: a rule that matches everything
    (b"url.x.insteadof\0", None, False),  # no value at all: git refuses the config
])
def test_parse_user_config(listing, rewrites, ssh):
    parsed = transport.parse_user_config(listing)
    assert parsed.rewrites == rewrites and parsed.ssh_command is ssh
