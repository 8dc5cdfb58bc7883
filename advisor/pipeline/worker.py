"""Worker processes: where TensorFlow and LiteRT run, so that a native crash ends an attempt, not the run.

The parent (the advisor's own process) plans, searches and writes the report; it never imports
TensorFlow. A worker is a child process (`python -m advisor.pipeline.worker FD`) that receives
requests over a socket and answers them:

    worker.call("open", job)      load the model and data, measure the float32 baseline (workbench.py)
    worker.call("attempt", rung)  produce, measure, check and judge one rung

A request's answer is its value, or the exception it raised (an AdvisorError travels as itself).
While it works, the worker relays its progress bars to the parent, which also learns from them what
the worker was doing when it died: a worker killed by a signal becomes `WorkerCrashed` ("crashed
(signal 11, SIGSEGV) while converting: full_integer"), and the parent starts a new one. The worker's
own stdout and stderr (TensorFlow's C++ logs among them) go to a log file unless --verbose; its tail
explains a crash. Workers are kept warm between runs of one process (`acquire` / `release`).
Requests and answers are pickled, so the same requests can travel to other machines.
"""

from __future__ import annotations

import atexit
import os
import pickle
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from advisor.errors import AdvisorError
from advisor.executor.tf_env import ONEDNN_OFF

LOG_TAIL = 4000  # bytes of a dead worker's log read for its last words


class WorkerCrashed(Exception):
    """The worker process died while answering a request."""

    def __init__(self, returncode: int | None, phase: str | None, last_words: str | None = None):
        self.returncode = returncode
        self.phase = phase
        self.last_words = last_words
        super().__init__(self.describe())

    @property
    def signal(self) -> int | None:
        return -self.returncode if self.returncode is not None and self.returncode < 0 else None

    def describe(self) -> str:
        if self.signal is not None:
            try:
                name = signal.Signals(self.signal).name
            except ValueError:
                name = "unknown signal"
            how = f"crashed (signal {self.signal}, {name}{': out of memory?' if self.signal == signal.SIGKILL else ''})"
        else:
            how = f"exited unexpectedly (exit code {self.returncode})"
        where = f" while {self.phase}" if self.phase else ""
        said = f"; its last words: {self.last_words}" if self.last_words else ""
        return f"{how}{where}{said}"


class WorkerBug(Exception):
    """An unexpected exception in the worker: a bug, with the worker's traceback."""


class Unpicklable(Exception):
    """The worker could not rebuild a request (an object whose class it cannot import)."""


class _Tasks:
    """Applies a worker's relayed progress events to the parent's progress display."""

    def __init__(self, progress):
        self.progress = progress
        self.live: dict[int, Any] = {}
        self.started: list[tuple[int, str]] = []  # (id, description) of unfinished tasks, in start order
        self.last: str | None = None

    def apply(self, event: tuple) -> None:
        kind = event[0]
        if kind == "task":
            _, task_id, description, total = event
            self.live[task_id] = self.progress.task(description, total)
            self.started.append((task_id, description))
            self.last = description
        elif kind == "advance":
            _, task_id, amount, status = event
            if task_id in self.live:
                self.live[task_id].advance(amount, status)
        elif kind == "finish":
            _, task_id, status = event
            task = self.live.pop(task_id, None)
            if task is not None:
                task.finish(status)
            self.started = [(i, d) for i, d in self.started if i != task_id]
        elif kind == "phase":
            self.last = event[1]
        elif kind == "note":
            self.progress.note(event[1])

    @property
    def phase(self) -> str | None:
        """What the worker was doing: its innermost unfinished task, else its last phase."""
        return self.started[-1][1] if self.started else self.last

    def abandon(self, status: str) -> None:
        for task in self.live.values():
            task.finish(status)
        self.live.clear()
        self.started.clear()


_threads: int | None = None  # TensorFlow's threads per new worker while several share the cores (None: all)


def share_cores(workers: int) -> None:
    """Workers started from now on split this machine's cores `workers` ways (1: each takes them all), so
    that parallel workers do not oversubscribe the CPU."""
    global _threads
    _threads = max(1, (os.cpu_count() or 1) // workers) if workers > 1 else None


_spawner: ThreadPoolExecutor | None = None
_spawner_lock = threading.Lock()


def _spawn(*args, **kwargs) -> subprocess.Popen:
    """A process started from one long-lived thread. A worker asks the kernel to kill it when the thread that
    started it ends (PR_SET_PDEATHSIG names a thread, not a process), so a worker started from a fleet pair's
    thread would die with that thread, even after going back to the pool for the next run."""
    global _spawner
    with _spawner_lock:
        if _spawner is None:
            _spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="advisor-spawner")
    return _spawner.submit(subprocess.Popen, *args, **kwargs).result()


class Worker:
    """One worker process, started on first use and restarted after a crash."""

    def __init__(self, *, verbose: bool = False):
        self.verbose = verbose
        self.threads = _threads
        self.process: subprocess.Popen | None = None
        self.connection: Connection | None = None
        self.log: Path | None = None
        self.requests = 0  # answered since the process started

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def rss_bytes(self) -> int | None:
        """The process's resident memory (Linux /proc; None elsewhere or when it is not running)."""
        if not self.alive:
            return None
        try:
            pages = int(Path(f"/proc/{self.process.pid}/statm").read_text().split()[1])
        except (OSError, ValueError, IndexError):
            return None
        return pages * os.sysconf("SC_PAGE_SIZE")

    def start(self) -> Worker:
        if self.alive:
            return self
        self.close()
        parent, child = socket.socketpair()
        env = {**os.environ, "TF_USE_LEGACY_KERAS": "1"}
        env.setdefault(*ONEDNN_OFF)
        if self.threads is not None:
            env["TF_NUM_INTRAOP_THREADS"] = str(self.threads)
        if not self.verbose:
            env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
            handle, name = tempfile.mkstemp(prefix="advisor-worker-", suffix=".log")
            self.log = Path(name)
            output = handle
        else:
            output = None
        try:
            self.process = _spawn(
                [sys.executable, "-m", "advisor.pipeline.worker", str(child.fileno())],
                pass_fds=[child.fileno()], stdin=subprocess.DEVNULL, stdout=output, stderr=output, env=env,
                cwd=os.getcwd(),
            )
        finally:
            child.close()
            if output is not None:
                os.close(output)
        self.connection = Connection(parent.detach())
        self.requests = 0
        return self

    def call(self, kind: str, payload: Any = None, progress=None) -> Any:
        """Send one request and wait for its answer, relaying progress; raises what the request raised,
        WorkerCrashed when the process died, Unpicklable when the worker could not rebuild the request."""
        from advisor.report.progress import NullProgress

        self.start()
        tasks = _Tasks(progress or NullProgress())
        try:
            if kind == "open":  # the job may name the caller's modules: import them from where the caller does
                self.connection.send(("init", {"sys_path": list(sys.path), "verbose": self.verbose}))
            self.connection.send((kind, payload))
        except (BrokenPipeError, ConnectionResetError, OSError):
            raise self._crashed(tasks) from None
        while True:
            try:
                message = self.connection.recv()
            except (EOFError, ConnectionResetError, OSError):
                raise self._crashed(tasks) from None
            except BaseException:  # Ctrl-C, SIGTERM, an error in the caller: the worker's state is unknown
                tasks.abandon("interrupted")
                self.kill()
                raise
            tag, value = message
            if tag == "progress":
                tasks.apply(value)
                continue
            self.requests += 1
            if tag == "ok":
                return value
            tasks.abandon("failed")
            if tag == "raise":
                raise value
            if tag == "unpicklable":
                raise Unpicklable(value)
            raise WorkerBug(value)

    def _crashed(self, tasks: _Tasks) -> WorkerCrashed:
        phase = tasks.phase
        tasks.abandon("crashed")
        code = None
        if self.process is not None:
            try:
                code = self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                code = self.process.wait()
        crash = WorkerCrashed(code, phase, _last_words(self.log))
        self.close()
        return crash

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.close()

    def close(self) -> None:
        """End the process (politely, then by force) and remove its log."""
        if self.connection is not None:
            try:
                if self.alive:
                    self.connection.send(("exit", None))
            except OSError:
                pass
            self.connection.close()
            self.connection = None
        if self.process is not None:
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        if self.log is not None:
            self.log.unlink(missing_ok=True)
            self.log = None


def _last_words(log: Path | None) -> str | None:
    """The last line a dead worker printed that says something (a C library's or Python's fatal error)."""
    if log is None or not log.is_file():
        return None
    with log.open("rb") as handle:
        handle.seek(max(0, log.stat().st_size - LOG_TAIL))
        lines = [line.strip() for line in handle.read().decode(errors="replace").splitlines() if line.strip()]
    telling = [line for line in lines if not line.startswith(("File ", "Thread ", "Current thread", "Extension modules",
                                                              "<no Python frame>", "Stack (most recent"))
               and "site-packages" not in line and not line.startswith(("I0000", "W0000", "WARNING: All log"))]
    for line in reversed(telling):
        if any(word in line for word in ("Fatal", "fatal", "error", "Error", "corrupt", "free()", "Aborted", "Check failed")):
            return line[:200]
    return None


_idle: list[Worker] = []


def acquire(verbose: bool = False) -> Worker:
    """A warm worker (idle from an earlier run of this process) or a new one, started."""
    while _idle:
        worker = _idle.pop()
        if worker.alive and worker.verbose == verbose and _tf_threads(worker.threads) == _tf_threads(_threads):
            return worker
        worker.close()
    return Worker(verbose=verbose).start()


def _tf_threads(threads: int | None) -> str | None:
    """The TensorFlow threads a worker started with `threads` runs: those, else what the environment says."""
    return str(threads) if threads is not None else os.environ.get("TF_NUM_INTRAOP_THREADS")


def release(worker) -> None:
    """Keep a healthy worker process for the next run of this process (an InProcess stand-in is not kept)."""
    if isinstance(worker, Worker) and worker.alive:
        _idle.append(worker)
    else:
        worker.close()


@atexit.register
def close_idle() -> None:
    """End every warm worker of this process (the next run starts a new one)."""
    while _idle:
        _idle.pop().close()


class InProcess:
    """The worker's interface without a process: for objects that cannot travel (a model whose class
    only this process can import). A native crash here ends the run."""

    alive = True
    verbose = False
    requests = 0

    def rss_bytes(self) -> None:
        return None

    def __init__(self):
        self.state = _State()

    def start(self) -> InProcess:
        return self

    def call(self, kind: str, payload: Any = None, progress=None) -> Any:
        from advisor.report.progress import NullProgress

        return self.state.handle(kind, payload, progress or NullProgress())

    def kill(self) -> None:
        pass

    def close(self) -> None:
        pass


# ----- the worker's side -------------------------------------------------------------------------


class _Relay:
    """A progress display in the worker that forwards every event to the parent."""

    def __init__(self, send: Callable[[tuple], None]):
        self._send = send
        self._next = 0

    def task(self, description: str, total: float | None = None):
        self._next += 1
        task_id = self._next
        self._send(("progress", ("task", task_id, description, total)))
        return _RelayTask(self._send, task_id)

    def note(self, text: str) -> None:
        self._send(("progress", ("note", text)))

    def phase(self, text: str) -> None:
        self._send(("progress", ("phase", text)))

    def close(self) -> None:
        pass


class _RelayTask:
    def __init__(self, send, task_id: int):
        self._send, self._id = send, task_id

    def advance(self, amount: float = 1, status: str | None = None) -> None:
        self._send(("progress", ("advance", self._id, amount, status)))

    def finish(self, status: str | None = None) -> None:
        self._send(("progress", ("finish", self._id, status)))


class _State:
    """What a worker holds between requests: the opened workbench."""

    def __init__(self):
        self.bench = None

    def handle(self, kind: str, payload: Any, progress) -> Any:
        from advisor.pipeline import workbench

        if kind == "open":
            self.bench = None
            self.bench = workbench.Workbench.open(payload, progress)
            return self.bench.opened
        if kind == "attempt":
            if self.bench is None:
                raise RuntimeError("attempt before open")
            return self.bench.attempt(payload, progress)
        if kind == "assess":  # (content, rung): a .tflite made earlier, judged as that rung's attempt
            if self.bench is None:
                raise RuntimeError("assess before open")
            content, rung = payload
            return self.bench.assess(content, rung, progress)
        if kind == "ping":
            return os.getpid()
        if kind == "imported":  # which of these modules the worker has imported (the no-TensorFlow tests ask)
            return [name for name in payload if name in sys.modules]
        if kind == "crash":  # for tests: die as a native crash would
            os.kill(os.getpid(), payload or signal.SIGSEGV)
        raise RuntimeError(f"unknown request {kind!r}")


def _die_with_parent() -> None:
    """Linux: the kernel kills this process when the thread that started it ends (even by kill -9): the
    parent's spawner thread (`_spawn`), which lives as long as the parent."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def serve(fd: int) -> None:
    import faulthandler

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _die_with_parent()
    faulthandler.enable()
    connection = Connection(fd)
    state = _State()
    relay = _Relay(connection.send)
    while True:
        try:
            raw = connection.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            kind, payload = pickle.loads(raw)
        except Exception as err:  # a class this process cannot import
            connection.send(("unpicklable", f"{type(err).__name__}: {' '.join(str(err).split())[:300]}"))
            continue
        if kind == "exit":
            return
        if kind == "init":
            sys.path[:] = payload["sys_path"]
            from advisor.executor.tf_env import set_verbose

            set_verbose(payload["verbose"])
            continue
        started = time.perf_counter()
        try:
            value = state.handle(kind, payload, relay)
            _collect()  # a corrupted heap aborts here, still inside this request
            reply = ("ok", value)
        except AdvisorError as err:
            reply = ("raise", err)
        except Exception:  # a bug: its traceback goes to the parent
            reply = ("bug", traceback.format_exc())
        del started
        try:
            connection.send(reply)
        except (pickle.PicklingError, TypeError, AttributeError):
            connection.send(("bug", traceback.format_exc()))
        except OSError:
            return


def _collect() -> None:
    import gc

    gc.collect()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
