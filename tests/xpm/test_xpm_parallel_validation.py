"""A parallel install with its validation child, end to end: verdicts, reports, Ctrl-C
(xpm.validation_worker's own rules: test_xpm_validation_worker.py)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from xpm import validation_worker
from xpm.validate import inspect_here
from xpm.validation_worker import ValidationWorker
from xpm_cli import xpm
from xpm_repos import model_files

pytestmark = pytest.mark.usefixtures("forkable")


def test_a_parallel_install_validates_in_the_child_and_reports_as_before(upstream, project, monkeypatch):
    repos = {}
    for name in ("aaa", "bbb", "ccc"):
        repos[name] = upstream(f"lab/{name}")
        files = model_files(name)
        if name == "bbb":
            files["bbb/broken.py"] = "return 1\n"  # compiles only inside a function
        repos[name].commit("model", files)
        repos[name].tag("v1")
    started = []
    real = ValidationWorker.start.__func__

    def start(cls):
        worker = real(cls)
        started.append(worker)
        return worker

    monkeypatch.setattr(ValidationWorker, "start", classmethod(start))
    (project / ".xlm_models").write_text("".join(f"{r.url}@v1\n" for r in repos.values()))
    out = xpm(project, "install", code=1).output
    assert len(started) == 1 and started[0] is not None and started[0].pid == 0  # forked once, closed
    assert "model 'bbb' from " in out and "is not a valid xlm model" in out
    assert "bbb@" in out and "broken.py:1" in out and "'return' outside function" in out
    assert not (project / "xlm_models" / "aaa").exists()  # nothing is installed

    (project / ".xlm_models").write_text("".join(f"{r.url}@v1\n" for name, r in repos.items() if name != "bbb"))
    xpm(project, "install")
    assert sorted(p.name for p in (project / "xlm_models").iterdir() if not p.name.startswith(".")) == ["aaa", "ccc"]
    assert len(started) == 2 and started[1].pid == 0


def test_ctrl_c_during_a_parallel_update_leaves_no_staged_model(upstream, project, monkeypatch):
    from xpm import vendor

    repos = [upstream(f"lab/{name}") for name in ("aaa", "bbb", "ccc")]
    for repo in repos:
        repo.commit("model", model_files(repo.path.name))
        repo.tag("v1.0.0")
    (project / ".xlm_models").write_text("".join(f"{r.url}@v1\n" for r in repos))
    xpm(project, "install")
    for repo in repos:
        repo.commit("model", model_files(repo.path.name, "1.1.0"))
        repo.tag("v1.1.0")
    stage, staged = vendor.stage, []

    def interrupted(*args, **kwargs):
        if args[3] == "bbb":  # the name: once the other models staged, Ctrl-C reaches this thread
            deadline = time.monotonic() + 30
            while len(staged) < 2 and time.monotonic() < deadline:
                time.sleep(0.001)
            raise KeyboardInterrupt
        staged.append(stage(*args, **kwargs))
        return staged[-1]

    monkeypatch.setattr(vendor, "stage", interrupted)
    out = xpm(project, "update", code=130).output
    assert "interrupted: nothing half-written is left" in out
    assert len(staged) == 2 and not any(s.path.exists() for s in staged)
    assert "1.0.0" in (project / "xlm_models" / "aaa" / "aaa" / "__init__.py").read_text()


@pytest.mark.parametrize("jobs", ["1", "4"])
def test_every_invalid_model_of_an_install_is_reported(upstream, project, jobs):
    """Not only the first: one run names every model to fix."""
    repos = {}
    for name in ("aaa", "bbb", "ccc"):
        repos[name] = upstream(f"lab/{name}")
        files = model_files(name)
        if name != "bbb":
            files[f"{name}/broken.py"] = "return 1\n"
        repos[name].commit("model", files)
        repos[name].tag("v1")
    (project / ".xlm_models").write_text("".join(f"{r.url}@v1\n" for r in repos.values()))
    out = xpm(project, "-j", jobs, "install", code=1).output
    assert out.count("is not a valid xlm model") == 2 and out.count("  fix: fix the model upstream") == 2
    assert "model 'aaa' from " in out and "model 'ccc' from " in out and "model 'bbb' from" not in out
    assert not (project / "xlm_models").exists()


def test_a_parallel_install_fetches_on_while_the_child_validates(upstream, project, monkeypatch):
    """A thread hands its export to the child and fetches the next model; it waits for no
    verdict. With 2 threads and 3 models, the third is exported before the first is judged."""
    repos = [upstream(f"lab/{name}") for name in ("aaa", "bbb", "ccc")]
    for repo in repos:
        repo.commit("model", model_files(repo.path.name))
        repo.tag("v1")
    seen = project.parent / "seen"

    def patient(root, name):  # the child: how many exports are staged before it judges the first
        deadline = time.monotonic() + 10
        while len(os.listdir(root.parent)) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        with open(seen, "a") as out:
            out.write(f"{len(os.listdir(root.parent))}\n")
        return inspect_here(root, name)

    monkeypatch.setattr(validation_worker, "inspect_here", patient)
    (project / ".xlm_models").write_text("".join(f"{r.url}@v1\n" for r in repos))
    xpm(project, "-j", "2", "install")
    assert seen.read_text().split()[0] == "3"
    assert sorted(p.name for p in (project / "xlm_models").iterdir() if not p.name.startswith(".")) == ["aaa", "bbb", "ccc"]


def test_ctrl_c_while_the_verdicts_are_waited_for_stops_at_once(upstream, project, monkeypatch):
    """Once every model is staged, the main thread waits for the child's verdicts: Ctrl-C there
    ends the command as anywhere else."""
    repos = [upstream(f"lab/{name}") for name in ("aaa", "bbb")]
    for repo in repos:
        repo.commit("model", model_files(repo.path.name))
        repo.tag("v1")

    def stuck(root, name):  # every model staged, the threads done: then the user's Ctrl-C
        deadline = time.monotonic() + 10
        while len(os.listdir(root.parent)) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.5)
        os.kill(os.getppid(), signal.SIGINT)
        time.sleep(60)

    monkeypatch.setattr(validation_worker, "inspect_here", stuck)
    (project / ".xlm_models").write_text("".join(f"{r.url}@v1\n" for r in repos))
    begun = time.monotonic()
    out = xpm(project, "install", code=130).output
    assert time.monotonic() - begun < 30
    assert "interrupted: nothing half-written is left" in out
    assert not (project / "xlm_models").exists() and not (project / "xlm.lock").exists()
