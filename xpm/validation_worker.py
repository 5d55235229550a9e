"""xlm's static validation in a forked process, off the GIL of the threads that fetch and export.

A cold install of many models is CPU-bound on few cores, and the threads of a parallel install
share one GIL: while one thread validates (compiling every module, composing every YAML file:
about half of the time the process held the GIL in a cold install of 20 models, py-spy
--gil), no other thread can start git or read what it sends. One child, forked before any
thread starts, validates for all of them on another core, below xpm's priority. A thread sends a folder and a name
(`submit`) and goes on: it fetches the next model while the child validates, and the verdict
(problems, warnings, package) is waited for only when the model is about to be locked. A
thread of the parent reads the answers as they come, so the child never blocks on a full
pipe. Validations run one at a time in the child, in the order asked. Messages are
`marshal`led (built in: `pickle` costs an import before the first fetch); only an exception,
which should not happen, is pickled.

The child runs xlm's validation only (it reads files and never imports model code), ignores
Ctrl-C (the parent kills it at once, so no validation delays the interrupt), holds no
descriptor of the parent's but its two pipes, and ends when the parent closes its request pipe
or kills it, or within a fifth of a second of the parent's death.
"""

from __future__ import annotations

import marshal
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from xpm.errors import XpmError
from xpm.validate import Inspection, inspect_here, inspect_now


_DEFERRED = {signal.SIGINT, signal.SIGTERM}


class ValidationWorker:
    def __init__(self, pid: int, requests, answers):
        self.pid, self._requests, self._answers = pid, requests, answers
        self._sending = threading.Lock()  # one request at a time; guards `_pending` against `_failure`
        self._pending: deque[_Verdict] = deque()  # asked, not yet answered: in the order asked
        self._failure: tuple[str, str] | None = None  # (what, fix) once the child stopped answering
        self._reaping = threading.Lock()  # a pid is signalled only until it is reaped
        self._reader = threading.Thread(target=self._read_answers, name="xpm-validation-answers", daemon=True)
        self._reader.start()

    @classmethod
    def start(cls) -> ValidationWorker | None:
        """Fork the child; None where forking is unsafe or impossible (no `fork`, other threads,
        no process or descriptor left)."""
        if not hasattr(os, "fork") or threading.active_count() > 1:
            return None  # a fork copies no thread but the caller, and none of the locks they hold
        fds: list[int] = []
        parent = os.getpid()
        # Ctrl-C and SIGTERM wait until both sides are set up: in the child, one that lands while
        # Python tidies up after the fork printed "Exception ignored in _after_fork"; in the
        # parent, it is raised once the worker exists, so that it can be closed.
        unblock = signal.pthread_sigmask(signal.SIG_BLOCK, _DEFERRED)
        try:
            fds += os.pipe()
            fds += os.pipe()
            pid = os.fork()
        except OSError:  # out of processes or descriptors: the threads validate, as without a child
            for fd in fds:
                os.close(fd)
            signal.pthread_sigmask(signal.SIG_SETMASK, unblock)
            return None
        request_r, request_w, answer_r, answer_w = fds
        if pid == 0:  # the child: never returns
            code = 1
            try:
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent decides
                signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's clean-up (`xpm.interrupt`): nothing to undo
                signal.pthread_sigmask(signal.SIG_SETMASK, unblock)
                _keep_only(request_r, answer_w)
                _exit_with(parent)
                _serve(request_r, answer_w)
                code = 0
            finally:
                os._exit(code)  # no atexit handler, no flush of buffers copied from the parent
        os.close(request_r)
        os.close(answer_w)
        worker = cls(pid, os.fdopen(request_w, "wb"), os.fdopen(answer_r, "rb"))
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, unblock)  # a Ctrl-C that came meanwhile is raised here
        except BaseException:
            worker.close()
            raise
        return worker

    def submit(self, root: Path, name: str) -> Callable[[], Inspection]:
        """Ask the child to validate `root`; the returned call waits for what
        `validate.inspect_here(root, name)` returns (thread-safe)."""
        verdict = _Verdict(name)
        with self._sending:
            if self._failure is not None:
                verdict.ended(self._failure)
                return verdict
            self._pending.append(verdict)  # first: the answer may come before the write returns
            try:
                marshal.dump((str(root), name), self._requests)
                self._requests.flush()
            except (OSError, ValueError):  # the child is gone: the reader answers every verdict
                pass
        return verdict

    def inspect(self, root: Path, name: str) -> Inspection:
        """`submit`, then wait."""
        return self.submit(root, name)()

    def _read_answers(self) -> None:
        """Hand each answer to the verdict asked first; once the child ends, answer all the others."""
        while True:
            try:
                answer = marshal.load(self._answers)
            except (OSError, EOFError, ValueError, TypeError):  # marshal: ValueError/TypeError for bad data
                break
            try:
                self._pending.popleft().answered(answer)
            except IndexError:  # an answer nobody asked for: the child is not ours to trust
                break
        why = self._ended()
        with self._sending:
            # One error for every verdict still waiting, naming the model the child was on: the
            # others only queued behind it (the command reports the same error once).
            about = f"model '{self._pending[0].name}': " if self._pending else ""
            self._failure = (f"{about}xpm's validation process ended without an answer ({why})",
                             "run the command again; if it ends the same way, the model's files crash xlm's validation: "
                             "report them to xpm's developers")
            while self._pending:
                self._pending.popleft().ended(self._failure)

    def _ended(self) -> str:
        """How the child ended: it closed its pipe, so it exits now (waited for at most a second)."""
        deadline = time.monotonic() + 1
        while True:
            with self._reaping:
                try:
                    pid, status = os.waitpid(self.pid, os.WNOHANG) if self.pid else (-1, 0)
                except ChildProcessError:
                    pid = -1
                if pid:
                    self.pid = 0
                    break
            if time.monotonic() > deadline:
                return "it stopped answering"
            time.sleep(0.01)
        if pid == -1:
            return "it is gone"
        return f"killed by signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit status {os.WEXITSTATUS(status)}"

    def stop(self) -> None:
        """Kill the child from any thread (Ctrl-C): a thread waiting for its answer gets an error
        now, rather than when a validation nobody wants ends. `close` reaps it."""
        with self._reaping:
            if self.pid:
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def close(self) -> None:
        """Stop the child now (it may be validating a tree nobody waits for) and reap it."""
        with self._reaping:
            if self.pid:
                try:
                    os.kill(self.pid, signal.SIGKILL)
                    os.waitpid(self.pid, 0)
                except (ProcessLookupError, ChildProcessError):
                    pass
                self.pid = 0
        self._reader.join()  # it ends now: the answer pipe's only writer was the child (see `start`; git gets no descriptor)
        for stream in (self._requests, self._answers):
            try:
                stream.close()
            except OSError:
                pass


class _Verdict:
    """One validation asked of the child; calling it waits for the answer (an Inspection)."""

    def __init__(self, name: str):
        self.name, self._done, self._answer, self._failure = name, threading.Event(), None, None

    def answered(self, answer) -> None:
        self._answer = answer
        self._done.set()

    def ended(self, failure: tuple[str, str]) -> None:
        self._failure = failure
        self._done.set()

    def __call__(self) -> Inspection:
        self._done.wait()
        if self._failure is not None:
            raise XpmError(*self._failure)
        answer = self._answer
        if isinstance(answer, bytes):
            import pickle

            raise pickle.loads(answer)
        problems, warnings, package = answer
        return _problems(problems), _problems(warnings), package


def _keep_only(*kept: int) -> None:
    """Drop every descriptor the fork copied but the child's two pipes: a child that outlives a
    killed parent must hold none of its locks (project, cache), and no reader of the parent's
    output may wait for the child to close it. Standard streams go to /dev/null."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    low = 3
    for fd in sorted(kept):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, _max_fd())


def _max_fd() -> int:
    try:
        return max(int(name) for name in os.listdir("/proc/self/fd")) + 1  # Linux: the open ones
    except (OSError, ValueError):
        return os.sysconf("SC_OPEN_MAX")


def _exit_with(parent: int) -> None:
    """End the child soon after its parent dies (a killed xpm, whose children are given to
    another process): a validation nobody waits for must not run on. A thread watches, as no
    signal tells a process of its parent's death portably."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, name="xpm-parent-watch", daemon=True).start()


def _serve(requests_fd: int, answers_fd: int) -> None:
    _yield_to_fetches()
    _prepare()
    requests, answers = os.fdopen(requests_fd, "rb"), os.fdopen(answers_fd, "wb")
    while True:
        try:
            root, name = marshal.load(requests)
        except EOFError:
            return
        try:
            problems, warnings, package = inspect_here(Path(root), name)
            answer = ([p._asdict() for p in problems], [p._asdict() for p in warnings], package)
        except Exception as exc:  # the parent raises it, as if it had validated in its own thread
            answer = _pickled(exc)
        marshal.dump(answer, answers)
        answers.flush()


NICENESS = 5  # added to xpm's own: a third of the CPU share of a process at xpm's priority


def _yield_to_fetches() -> None:
    """Run below xpm's priority. A verdict is waited for only when its model is locked, at the
    end; what decides when the install ends is the fetches and exports (and the server's side of
    them, on the same cores when it is local), so on a busy machine the child takes the CPU they
    leave. Interleaved cold installs of 20 models on 2 cores: 0.97 of the time at equal priority.
    Not lower: on a machine that other jobs keep busy, the verdicts still come."""
    try:
        os.nice(NICENESS)
    except (AttributeError, OSError):  # no `nice` here: at xpm's priority, as before
        pass


def _prepare() -> None:
    """Import what validating needs (~20 ms) now, while the parent is still starting its first
    fetches and a core is idle, not when the first model comes in and git keeps both cores
    busy. A failure here is met again, and reported, when a model is validated."""
    from importlib import import_module

    try:
        for name in ("yaml", "xlm.external.validation"):  # yaml: xlm's config checks import it when first needed
            import_module(name)
    except Exception:  # noqa: BLE001
        pass


def _pickled(exc: Exception) -> bytes:
    import pickle

    try:
        return pickle.dumps(exc)
    except Exception:  # an exception that does not pickle: its text does
        return pickle.dumps(RuntimeError(f"{type(exc).__name__}: {exc}"))


def _problems(fields: list[dict]) -> list:
    if not fields:
        return []
    from xlm.external.errors import Problem

    return [Problem(**f) for f in fields]


class _InCallingThread:
    """Validation without a child: nothing runs that a Ctrl-C would have to stop."""

    inspect = staticmethod(inspect_here)
    submit = staticmethod(inspect_now)

    def stop(self) -> None:
        pass


@contextmanager
def inspecting(parallel: bool):
    """For the block, what validates (`.submit(root, name)`, whose result is called for the
    Inspection) and stops at Ctrl-C (`.stop()`): the child when `parallel` work is about to
    start and a child can be forked, else validation in the calling thread."""
    worker = ValidationWorker.start() if parallel else None
    try:
        yield worker if worker is not None else _InCallingThread()
    finally:
        if worker is not None:
            worker.close()
