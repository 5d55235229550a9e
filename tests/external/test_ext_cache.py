"""The start-up caches: remembered verdicts and installed metadata never hide a change."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from xlm.external import installed
from xlm.external.cache import FileMemo
from xlm.external.discovery import discover
from xlm.external_models import find_external_models

from .builders import make_distribution, make_model


def test_a_changed_file_is_judged_again(project):
    root = project.model("m")
    project.models_file("m")
    assert find_external_models().problems == []
    (root / "configs" / "model" / "m.yaml").write_text("model: [\n")  # broken after a clean run
    [problem] = find_external_models().problems
    assert problem.kind == "invalid_config"
    (root / "m" / "loss.py").write_text("class Other:\n    pass\n")
    (root / "configs" / "model" / "m.yaml").write_text("# @package _global_\nmodel:\n  _target_: m.model.MModel\n")
    assert [p.kind for p in find_external_models().warnings] == ["bad_target"]
    (root / "m" / "loss.py").write_text("class Other(:\n    pass\n")
    assert [(p.kind, p.where) for p in find_external_models().problems] == [("syntax_error", f"{root / 'm' / 'loss.py'}:1")]


def test_memo_trusts_only_an_unchanged_signature(tmp_path, monkeypatch):
    monkeypatch.setenv("XLM_CACHE_DIR", str(tmp_path / "cache"))
    file = tmp_path / "f.yaml"
    file.write_text("a: 1\n")
    memo = FileMemo("t.json", 1)
    memo.put(str(file), FileMemo.signature(str(file)), "k", "v")
    memo.save()
    again = FileMemo("t.json", 1)
    assert again.get(str(file), FileMemo.signature(str(file)), "k") == "v"
    file.write_text("a: 22\n")
    assert again.get(str(file), FileMemo.signature(str(file)), "k") is None
    assert FileMemo("t.json", 2).get(str(file), FileMemo.signature(str(file)), "k") is None  # other format


def test_a_distribution_installed_later_is_seen(project, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    sys.path.append(str(site))
    assert "late" not in [m.name for m in discover().models]
    make_model(site, "late", configs="late/configs", root=site)
    make_distribution(site, "xlmtest-late", {"late": "late"}, ["late"])
    assert "late" in [m.name for m in discover().models]
    assert installed.installed().top_level["late"] == ("xlmtest-late",)


def test_threads_asking_at_once_read_the_installed_distributions_once(tmp_path, monkeypatch):
    """A parallel `xpm install` validates on several threads; the first to need the table reads it."""
    import threading
    import time

    monkeypatch.setenv("XLM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(installed, "_memo", None)
    scans, real_scan = [], installed._scan

    def slow_scan(paths):
        scans.append(threading.current_thread().name)
        time.sleep(0.05)  # long enough for every other thread to arrive
        return real_scan(paths)

    monkeypatch.setattr(installed, "_scan", slow_scan)
    found = []
    threads = [threading.Thread(target=lambda: found.append(installed.installed())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(scans) == 1 and len(found) == 4 and all(f is found[0] for f in found)


def test_a_warm_start_imports_neither_yaml_nor_importlib_metadata(tmp_path):
    make_model(tmp_path, "my_model")
    (tmp_path / ".xlm_models").write_text("my_model\n")
    code = textwrap.dedent(
        """
        import json, sys
        from xlm.external_models import setup_external_models
        found = setup_external_models(strict_validation=True)
        print(json.dumps({"names": found.names, "imported": sorted(m for m in ("yaml", "importlib.metadata") if m in sys.modules)}))
        """
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XLM_CACHE_DIR": str(tmp_path / "cache")}

    def run():
        out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    cold, warm = run(), run()
    assert "yaml" in cold["imported"] and "my_model" in cold["names"]
    assert warm == {"names": cold["names"], "imported": []}


def _every_value(entries, value):
    return {path: [signature, {key: value for key in values}] for path, (signature, values) in entries.items()}


@pytest.mark.parametrize("corrupt", [
    lambda entries: {path: 5 for path in entries},
    lambda entries: {path: [] for path in entries},
    lambda entries: {path: [entry[0], "x"] for path, entry in entries.items()},
    lambda entries: _every_value(entries, 5),
    lambda entries: _every_value(entries, ["x"]),
    lambda entries: _every_value(entries, [None, "two", [["a", "b"]]]),
    lambda entries: [1, 2],
])
def test_a_cache_of_another_shape_is_read_again_not_trusted(project, tmp_path, monkeypatch, corrupt):
    """The cache is JSON anyone can write: an entry of another shape counts as absent."""
    from xlm.external.checks import MEMO_FILE

    cache_dir = tmp_path / "own-cache"
    monkeypatch.setenv("XLM_CACHE_DIR", str(cache_dir))
    root = project.model("m")
    (root / "m" / "broken.py").write_text("x = (\n")
    project.models_file("m")
    expected = [(p.kind, p.where) for p in find_external_models().problems]
    assert expected == [("syntax_error", f"{root / 'm' / 'broken.py'}:1")]
    memo = cache_dir / MEMO_FILE
    data = json.loads(memo.read_text())
    data["data"] = corrupt(data["data"])
    memo.write_text(json.dumps(data))
    assert [(p.kind, p.where) for p in find_external_models().problems] == expected
