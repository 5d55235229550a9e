"""xpm.validation_worker: xlm's validation in a forked child, for the threads of a parallel install."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from xpm import validation_worker
from xpm.errors import XpmError
from xpm.validate import inspect_here
from xpm.validation_worker import ValidationWorker, inspecting
from xpm_cli import xpm
from xpm_repos import model_files

pytestmark = pytest.mark.usefixtures("forkable")


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def _gone(pid: int) -> bool:
    """Ended: no such process, or one that only waits to be reaped (a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _slow_validation(monkeypatch, seconds: float, signal_parent: bool = False):
    """Make the child's validation take `seconds` (patched before the fork, which copies it);
    with `signal_parent`, it first sends its parent the Ctrl-C a user would."""
    def slow(root, name):
        if signal_parent:
            os.kill(os.getppid(), signal.SIGINT)
        time.sleep(seconds)
        return inspect_here(root, name)

    monkeypatch.setattr(validation_worker, "inspect_here", slow)


@pytest.fixture
def worker():
    started = ValidationWorker.start()
    assert started is not None
    yield started
    started.close()


def test_the_child_finds_what_validation_in_this_thread_finds(tmp_path, worker):
    good = _write(tmp_path / "good", model_files("good"))
    bad = _write(tmp_path / "bad", {**model_files("bad"), "bad/broken.py": "def f(:\n",
                                    "configs/model/bad.yaml": "_target_: bad.model.Nothing\nx: [\n"})
    warned = _write(tmp_path / "warned", {**model_files("warned"), "configs/model/warned.yaml": "_target_: warned.model.Nothing\n"})
    for root in (good, bad, warned, tmp_path / "missing"):
        assert worker.inspect(root, root.name) == inspect_here(root, root.name)
    problems, _, _ = worker.inspect(bad, "bad")
    assert {p.kind for p in problems} == {"syntax_error", "invalid_config"}
    assert worker.inspect(good, "good") == ([], [], "good")


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="reads /proc")
def test_the_child_holds_no_descriptor_of_the_parent_but_its_pipes(tmp_path):
    with open(tmp_path / "project.lock", "w"):  # as xpm holds its locks while it validates
        worker = ValidationWorker.start()
        try:
            worker.inspect(tmp_path, "x")  # answered: the child has set itself up
            fds = sorted(int(fd) for fd in os.listdir(f"/proc/{worker.pid}/fd"))
            targets = [os.readlink(f"/proc/{worker.pid}/fd/{fd}") for fd in fds]
        finally:
            worker.close()
    assert fds[:3] == [0, 1, 2] and len(fds) == 5, targets
    assert targets[:3] == [os.devnull] * 3 and sum(t.startswith("pipe:") for t in targets) == 2


def test_the_child_runs_below_xpms_priority(tmp_path, worker):
    """The fetches and exports decide when an install ends; the child takes the CPU they leave."""
    worker.inspect(tmp_path, "x")  # answered: the child has set itself up
    assert os.getpriority(os.PRIO_PROCESS, worker.pid) == os.getpriority(os.PRIO_PROCESS, 0) + validation_worker.NICENESS


def test_an_exception_in_the_child_is_raised_in_the_caller(tmp_path, monkeypatch):
    def fails(root, name):
        raise ValueError(f"cannot read {name}")

    monkeypatch.setattr(validation_worker, "inspect_here", fails)  # the fork copies it
    worker = ValidationWorker.start()
    try:
        with pytest.raises(ValueError, match="cannot read zlm"):
            worker.inspect(tmp_path, "zlm")
        with pytest.raises(ValueError, match="cannot read other"):  # and it answers the next request
            worker.inspect(tmp_path, "other")
    finally:
        worker.close()


def test_a_child_that_died_is_a_two_line_error_naming_the_model(tmp_path, worker):
    os.kill(worker.pid, signal.SIGKILL)
    with pytest.raises(XpmError) as caught:
        worker.inspect(tmp_path, "zlm")
    assert caught.value.what == "model 'zlm': xpm's validation process ended without an answer (killed by signal 9)"
    assert "run the command again" in caught.value.fix


def test_close_stops_and_reaps_the_child_even_while_it_works(tmp_path):
    worker = ValidationWorker.start()
    pid = worker.pid
    worker._requests.write(b"not a request")  # the child waits for the rest of it
    worker._requests.flush()
    worker.close()
    assert _gone(pid) and worker.pid == 0
    worker.close()  # twice is harmless


def test_a_ctrl_c_at_the_fork_is_raised_in_the_parent_once_the_child_can_be_closed(monkeypatch):
    """It landed in the child while Python tidied up after the fork ("Exception ignored in
    _after_fork" on the terminal; fuzz_interrupts2 F6), or in the parent before the worker
    existed. It now waits until both are set up: the parent raises it and closes the child."""
    real_fork, forked = os.fork, []

    def fork():  # the terminal's Ctrl-C, as the fork begins; to this thread, as xpm has no other when it
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)  # forks (threads other tests left would take it)
        pid = real_fork()
        if pid:
            forked.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    with pytest.raises(KeyboardInterrupt):
        ValidationWorker.start()
    assert len(forked) == 1 and _gone(forked[0])
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])  # the mask is as it was


def test_no_child_while_other_threads_run_or_for_serial_work(monkeypatch):
    import threading

    monkeypatch.setattr(threading, "active_count", lambda: 2)  # a fork would copy their locks, not them
    assert ValidationWorker.start() is None
    with inspecting(parallel=True) as inspector:
        assert inspector.inspect is inspect_here
        inspector.stop()  # nothing to stop
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    with inspecting(parallel=False) as inspector:
        assert inspector.inspect is inspect_here


def test_no_child_when_the_system_refuses_one_and_no_descriptor_leaks(monkeypatch):
    def refused():
        raise BlockingIOError(11, "Resource temporarily unavailable")

    before = set(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    monkeypatch.setattr(os, "fork", refused)
    assert ValidationWorker.start() is None
    if before is not None:
        assert set(os.listdir("/proc/self/fd")) == before


def test_stop_answers_a_waiting_thread_at_once(tmp_path, monkeypatch):
    import threading

    _slow_validation(monkeypatch, 60)
    worker = ValidationWorker.start()
    pid, caught = worker.pid, []

    def wait():
        try:
            worker.inspect(tmp_path, "zlm")
        except XpmError as exc:
            caught.append(exc)

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.2)
    started = time.monotonic()
    worker.stop()
    thread.join(10)
    assert not thread.is_alive() and time.monotonic() - started < 5
    assert caught[0].what == "model 'zlm': xpm's validation process ended without an answer (killed by signal 9)"
    worker.close()
    assert _gone(pid) and worker.pid == 0


def test_ctrl_c_during_a_parallel_install_does_not_wait_for_validation(upstream, project, monkeypatch):
    """Ctrl-C used to wait for every validation already running: minutes for large configs."""
    repos = [upstream(f"lab/{name}") for name in ("aaa", "bbb")]
    for repo in repos:
        repo.commit("model", model_files(repo.path.name))
        repo.tag("v1")
    (project / ".xlm_models").write_text("".join(f"{r.url}@v1\n" for r in repos))
    _slow_validation(monkeypatch, 60, signal_parent=True)
    started = []
    real = ValidationWorker.start.__func__
    monkeypatch.setattr(ValidationWorker, "start", classmethod(lambda cls: started.append(real(cls)) or started[-1]))
    begun = time.monotonic()
    out = xpm(project, "install", code=130).output
    assert time.monotonic() - begun < 30
    assert "interrupted: nothing half-written is left" in out
    assert started[0].pid == 0 and not (project / "xlm_models").exists() and not (project / "xlm.lock").exists()


def test_the_child_ends_soon_after_its_parent_is_killed(tmp_path, monkeypatch):
    _slow_validation(monkeypatch, 60)
    read, write = os.pipe()
    parent = os.fork()
    if parent == 0:  # a parent for the worker, killed while its child validates
        try:
            worker = ValidationWorker.start()
            os.write(write, str(worker.pid).encode())
            worker.inspect(tmp_path, "zlm")
        finally:
            os._exit(1)
    os.close(write)
    child = int(os.read(read, 32))
    os.close(read)
    time.sleep(0.3)
    os.kill(parent, signal.SIGKILL)
    os.waitpid(parent, 0)
    deadline = time.monotonic() + 10
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(child)


def test_answers_reach_the_verdicts_asked_in_order_and_a_full_pipe_blocks_no_one(tmp_path, monkeypatch):
    """Several validations are asked before any is waited for; answers much larger than a pipe
    (64 KiB) must not stall the child while nobody waits for them."""
    from xlm.external.errors import Problem

    def noisy(root, name):
        warning = Problem(name, "w" * 200, f"{root}/configs/x.yaml:1", "fix", "warning")
        return [], [warning] * 2000, name  # about 500 KB marshalled

    monkeypatch.setattr(validation_worker, "inspect_here", noisy)
    worker = ValidationWorker.start()
    try:
        verdicts = [worker.submit(tmp_path, f"m{i}") for i in range(6)]
        deadline = time.monotonic() + 30
        while worker._pending and time.monotonic() < deadline:  # every answer read while nobody waits
            time.sleep(0.01)
        assert not worker._pending
        for i, verdict in enumerate(reversed(verdicts)):
            problems, warnings, package = verdict()
            assert package == f"m{5 - i}" and problems == [] and len(warnings) == 2000
    finally:
        worker.close()


def test_a_verdict_asked_after_the_child_died_fails_at_once(tmp_path, worker):
    os.kill(worker.pid, signal.SIGKILL)
    worker._reader.join(10)
    with pytest.raises(XpmError, match=r"^xpm's validation process ended without an answer \(killed by signal 9\)$"):
        worker.submit(tmp_path, "late")()


def test_a_child_killed_mid_validation_is_one_error_naming_the_model_it_was_on(tmp_path, monkeypatch):
    """Every model waiting behind it said that its own files crash xlm's validation (fuzz_parallel P2)."""
    _slow_validation(monkeypatch, 60)
    worker = ValidationWorker.start()
    try:
        verdicts = [worker.submit(tmp_path, name) for name in ("first", "second", "third")]
        time.sleep(0.2)
        os.kill(worker.pid, signal.SIGKILL)
        said = set()
        for verdict in verdicts:
            with pytest.raises(XpmError) as caught:
                verdict()
            said.add(caught.value.render())
    finally:
        worker.close()
    assert said == {"error: model 'first': xpm's validation process ended without an answer (killed by signal 9)\n"
                    "  fix: run the command again; if it ends the same way, the model's files crash xlm's validation: "
                    "report them to xpm's developers"}
