"""Running one task per remote on a few threads, results in order.

Plain threads rather than `concurrent.futures`: that module imports `logging` (and with it
`traceback`, `linecache`, `tokenize`), ~5 ms of every cold `xpm install` for a pool this
small. A task's exception is its result, so the caller can clean up after every task before
it raises the first.
"""

from __future__ import annotations

import threading
from typing import Callable

from xpm.interrupt import shielded


def run_all(tasks: list, workers: int, on_stop: Callable[[], None] | None = None) -> list:
    """Call each of `tasks` on up to `workers` threads (in this thread when one is enough);
    return what each returned, or the `Exception` it raised, in the order of `tasks`.

    Ctrl-C (in the caller or a task) or a SystemExit stops handing out tasks, waits for the
    running ones, and is raised. `on_stop`, called first when Ctrl-C reaches the caller, is
    what makes the running tasks end soon (a wait they cannot leave on their own)."""
    results: list = [None] * len(tasks)
    todo = iter(range(len(tasks)))
    state = threading.Condition()
    stop = threading.Event()
    counts = {"running": 0, "ended": 0}  # tasks, counted under `state`

    def work() -> None:
        while True:
            with state:  # a task starts only while no stop is set: after one, `running` only falls
                index = None if stop.is_set() else next(todo, None)
                if index is None:
                    return
                counts["running"] += 1
            try:
                results[index] = tasks[index]()
            except Exception as exc:  # the caller's to report, after every task has ended
                results[index] = exc
            except BaseException as exc:  # no new task; raised in the caller below
                results[index] = exc
                stop.set()
            finally:
                with state:
                    counts["running"] -= 1
                    counts["ended"] += 1
                    state.notify_all()

    def done() -> bool:
        return counts["running"] == 0 and (stop.is_set() or counts["ended"] == len(tasks))

    count = min(workers, len(tasks))
    if count <= 1:
        work()
    else:
        threads = [threading.Thread(target=work, name=f"xpm-{n}") for n in range(count)]
        try:
            for thread in threads:
                thread.start()
            _wait(state, done)
        except BaseException:
            with state:
                stop.set()
            if on_stop is not None:
                on_stop()
            shielded(lambda: _wait(state, done))  # the tasks' own clean-up is what leaves nothing half-written
            raise
        for thread in threads:
            thread.join()  # each has ended its last task: only its own exit is left
    if stopped := next((r for r in results if isinstance(r, BaseException) and not isinstance(r, Exception)), None):
        raise stopped
    return results


def _wait(state: threading.Condition, done: Callable[[], bool]) -> None:
    """Wait until `done()`, in short timed waits on the tasks' own count, never `Thread.join`:
    - the kernel may hand Ctrl-C to any thread, and Python runs its handler in this one only
      when this one wakes, so an untimed wait would sleep through it until the tasks ended;
    - on 3.11 a Ctrl-C that interrupts `join` marks a thread that still runs as ended, and the
      caller would then clean up under a running task."""
    with state:
        while not state.wait_for(done, 0.1):
            pass
