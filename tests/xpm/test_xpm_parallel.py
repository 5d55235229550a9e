"""xpm.parallel.run_all: the per-remote tasks of install and outdated, on a few threads."""

from __future__ import annotations

import threading
import time

import pytest

from xpm.parallel import run_all


def test_results_come_in_the_order_of_the_tasks_whatever_order_they_end_in():
    tasks = [lambda k=k: time.sleep(0.002 * (5 - k)) or k * k for k in range(6)]
    assert run_all(tasks, workers=4) == [0, 1, 4, 9, 16, 25]


def test_an_exception_is_the_result_of_its_task_and_the_other_tasks_still_run():
    ran = []

    def fails():
        raise ValueError("remote gone")

    results = run_all([lambda: ran.append("a") or "a", fails, lambda: ran.append("c") or "c"], workers=2)
    assert results[0] == "a" and results[2] == "c" and sorted(ran) == ["a", "c"]
    assert isinstance(results[1], ValueError) and str(results[1]) == "remote gone"


@pytest.mark.parametrize("workers", [1, 3])
def test_no_more_threads_run_at_once_than_asked(workers):
    lock, running, most = threading.Lock(), [0], [0]

    def task():
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.01)
        with lock:
            running[0] -= 1
        return threading.current_thread()

    threads = run_all([task] * 7, workers)
    assert most[0] <= workers
    if workers == 1:  # one is enough: no thread is started
        assert set(threads) == {threading.current_thread()}


def test_no_tasks_no_threads():
    assert run_all([], workers=8) == []


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("stop", [KeyboardInterrupt, SystemExit])
def test_an_interrupt_in_a_task_stops_the_others_from_starting_and_is_raised(workers, stop):
    ran = []

    def interrupted():
        ran.append("stop")
        raise stop()

    def later(k):
        time.sleep(0.01)
        ran.append(k)

    tasks = [interrupted] + [lambda k=k: later(k) for k in range(6)]
    with pytest.raises(stop):
        run_all(tasks, workers)
    assert ran[0] == "stop" and len(ran) <= workers  # at most the tasks already running finish


def test_a_ctrl_c_the_kernel_hands_to_a_task_thread_stops_the_caller_at_once():
    """A process signal goes to any thread that does not block it; Python runs the handler in the
    main thread only when that thread wakes, so an untimed join slept through it."""
    import signal

    ended = threading.Event()

    def signalled():
        time.sleep(0.2)  # the caller is in its wait by now
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)
        ended.wait(10)

    begun = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_all([signalled, lambda: ended.wait(10)], 2, on_stop=ended.set)
    assert time.monotonic() - begun < 5


def test_a_second_ctrl_c_does_not_cut_a_shielded_clean_up_short():
    """A second Ctrl-C 50-100 ms after the first left whole exported trees in staging/ (fuzzing)."""
    from xpm.interrupt import shielded

    removed, interrupts = [], [KeyboardInterrupt(), KeyboardInterrupt()]

    def clean_up():
        if interrupts:
            raise interrupts.pop()
        removed.append("staging")

    shielded(clean_up)
    assert removed == ["staging"] and interrupts == []
