"""Running one task per remote on a few threads, results in order.

Plain threads rather than `concurrent.futures`: that module imports `logging` (and with it
`traceback`, `linecache`, `tokenize`), ~5 ms of every cold `xpm install` for a pool this
small. A task's exception is its result, so the caller can clean up after every task before
it raises the first.
"""

from __future__ import annotations

import threading
from typing import Callable


def run_all(tasks: list, workers: int, on_stop: Callable[[], None] | None = None) -> list:
    """Call each of `tasks` on up to `workers` threads (in this thread when one is enough);
    return what each returned, or the `Exception` it raised, in the order of `tasks`.

    Ctrl-C (in the caller or a task) or a SystemExit stops handing out tasks, waits for the
    running ones, and is raised. `on_stop`, called first when Ctrl-C reaches the caller, is
    what makes the running tasks end soon (a wait they cannot leave on their own)."""
    results: list = [None] * len(tasks)
    todo = iter(range(len(tasks)))
    lock, stop = threading.Lock(), threading.Event()

    def work() -> None:
        while not stop.is_set():
            with lock:
                index = next(todo, None)
            if index is None:
                return
            try:
                results[index] = tasks[index]()
            except Exception as exc:  # the caller's to report, after every task has ended
                results[index] = exc
            except BaseException as exc:  # no new task; raised in the caller below
                results[index] = exc
                stop.set()
                return

    count = min(workers, len(tasks))
    if count <= 1:
        work()
    else:
        threads = [threading.Thread(target=work, name=f"xpm-{n}") for n in range(count)]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                thread.join()
        except BaseException:
            stop.set()
            if on_stop is not None:
                on_stop()
            for thread in threads:
                thread.join()
            raise
    if stopped := next((r for r in results if isinstance(r, BaseException) and not isinstance(r, Exception)), None):
        raise stopped
    return results
