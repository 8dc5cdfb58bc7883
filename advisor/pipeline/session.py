"""The parent's side of one run or comparison: a worker opened on the plan and the data, whose crashes
become failed attempts.

    session = Session.open(plan, data, folder, progress)   the baseline measured (or why it could not be)
    session.runnable(rungs)                                 the rungs the data and the model's format allow
    session.attempt(rung)                                   an Attempt, written to attempts/; never a crash

A worker that dies (a native crash, an out-of-memory kill) is replaced by a new one, opened on the
same plan and data with the float32 baseline already made, so the ladder goes on.
"""

from __future__ import annotations

import pickle
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from advisor.errors import AdvisorError
from advisor.models.report import Attempt, Baseline
from advisor.models.rung import Rung
from advisor.pipeline import worker as workers
from advisor.pipeline.data import RunData, missing_data
from advisor.pipeline.plan import Plan
from advisor.pipeline.workbench import BASELINE_FILE, OpenJob, Opened

if TYPE_CHECKING:
    from advisor.executor.pre_step_store import PreStepStore


_ACTIVE: dict[int, Session] = {}  # sessions with a worker, by id: what cancel_all() stops
_LOCK = threading.Lock()
cancelled = threading.Event()  # set by cancel_all(): every session's next step raises KeyboardInterrupt


def cancel_all() -> None:
    """Stop every session of this process (a fleet's Ctrl-C): their workers are killed, and each session
    raises KeyboardInterrupt instead of going on, so its output folder is discarded."""
    cancelled.set()
    with _LOCK:
        active = list(_ACTIVE.values())
    for session in active:
        if isinstance(session.worker, workers.Worker):
            session.worker.kill()


@dataclass(frozen=True)
class Recycling:
    """When a worker is replaced by a fresh one between attempts, so that its memory stays flat (the
    converter keeps about 20 MB per conversion, tensorflow#122598): after this many attempts, or once its
    resident memory has grown this much since it was opened (None: never)."""

    max_attempts: int | None = 20
    max_growth_mb: float | None = 512


@dataclass
class SharedWork:
    """What runs of the same model and data share (a fleet's pairs): the float32 baseline of one kind of target,
    which the first run to open makes while the others wait and then reopen on it, and the model's pre-stepped
    models (a PreStepStore, the same for all its pairs)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    opened: Opened | None = None
    pre_step_store: PreStepStore | None = None


@dataclass
class Session:
    plan: Plan
    data: RunData
    folder: object  # output.OutputFolder
    progress: object
    worker: object = None
    opened: Opened | None = None
    error: str | None = None  # why the float32 baseline could not be made
    notes: list[str] = field(default_factory=list)
    crashes: int = 0
    recycling: Recycling = field(default_factory=lambda: Recycling())
    attempts_since_open: int = 0
    rss_after_open: int | None = None
    recycled: int = 0  # workers replaced to keep memory flat
    pre_step_store: PreStepStore | None = None  # shared with other runs of this model (a fleet's pairs)

    @classmethod
    def open(cls, plan: Plan, data: RunData, folder, progress, *, verbose: bool = False,
             shared: SharedWork | None = None) -> Session:
        if shared is not None:
            with shared.lock:
                if shared.opened is None:
                    session = cls._first(plan, data, folder, progress, verbose, shared.pre_step_store)
                    shared.opened = session.opened
                    return session
            session = cls.reopen(plan, data, folder, progress, shared.opened, verbose=verbose,
                                 pre_step_store=shared.pre_step_store)
            session.folder.write(BASELINE_FILE, shared.opened.content)
            session.notes.append("float32 baseline made once for this model's pairs of the fleet (targets of this kind) "
                                 "and shared; measured again here")
            return session
        return cls._first(plan, data, folder, progress, verbose)

    @classmethod
    def _first(cls, plan: Plan, data: RunData, folder, progress, verbose: bool, pre_step_store=None) -> Session:
        """A session that makes the float32 baseline itself."""
        return cls(plan, data, folder, progress, pre_step_store=pre_step_store)._started(verbose, baseline=None)

    def _register(self) -> None:
        with _LOCK:
            _ACTIVE[id(self)] = self

    def _job(self, baseline: bytes | None) -> OpenJob:
        return OpenJob(self.plan, self.data, baseline, str(self.folder.work), self.opened.batch if self.opened else None,
                       self.pre_step_store)

    def _open(self, baseline: bytes | None) -> None:
        try:
            opened = self.worker.call("open", self._job(baseline), self.progress)
        except workers.Unpicklable as err:
            if self.plan.in_memory is None and self.plan.metric is None:  # files only: the worker runs other code
                raise AdvisorError(f"the worker process could not read the run's job ({err}); is the advisor being "
                                   "upgraded while it runs?") from None
            self.worker = _in_process(self, str(err))
            opened = self.worker.call("open", self._job(baseline), self.progress)
        except (workers.WorkerCrashed, workers.WorkerBug) as failure:
            if cancelled.is_set():
                raise KeyboardInterrupt from None
            self.crashes += 1
            why = self._failure(failure)
            if baseline is None:
                self.error = f"the float32 baseline could not be made: {why}"
                return
            raise AdvisorError(f"a new worker could not reopen the run: {why}") from None
        if baseline is None:
            self.opened = opened
            self.folder.write(BASELINE_FILE, opened.content)
        self.attempts_since_open = 0
        self.rss_after_open = self.worker.rss_bytes()

    def _recycle_if_due(self) -> None:
        """A fresh worker, reopened with the baseline already made, when this one is due for recycling."""
        due = self.recycling.max_attempts is not None and self.attempts_since_open >= self.recycling.max_attempts
        rss = self.worker.rss_bytes()
        grown = (rss - self.rss_after_open) / 2**20 if rss is not None and self.rss_after_open is not None else 0.0
        if not due and not (self.recycling.max_growth_mb is not None and grown > self.recycling.max_growth_mb):
            return
        self.worker.close()
        self.worker = workers.Worker(verbose=self.worker.verbose).start()
        self._open(baseline=self.opened.content)
        self.recycled += 1

    def clone(self, verbose: bool = False) -> Session:
        """Another worker opened on the same plan and data, with this session's float32 baseline (not made
        again): for attempts in parallel. Its notes and crashes are this session's."""
        return Session.reopen(self.plan, self.data, self.folder, self.progress, self.opened, verbose=verbose, notes=self.notes,
                              pre_step_store=self.pre_step_store)

    @classmethod
    def reopen(cls, plan: Plan, data: RunData, folder, progress, opened: Opened, *, verbose: bool = False,
               notes: list[str] | None = None, pre_step_store=None) -> Session:
        """A session on a new worker for a plan whose float32 baseline was made elsewhere (`opened`)."""
        session = cls(plan, data, folder, progress, opened=opened, notes=notes if notes is not None else [],
                      pre_step_store=pre_step_store)
        return session._started(verbose, baseline=opened.content)

    def _started(self, verbose: bool, baseline: bytes | None) -> Session:
        """This session with a worker, opened on the plan; if the opening fails, the worker is given back or
        ended (see `end`) and the error goes on."""
        self.worker = workers.acquire(verbose) if _can_travel(self.plan) else _in_process(self)
        self._register()
        try:
            if cancelled.is_set():  # a fleet's Ctrl-C came before this session was there for cancel_all to stop
                raise KeyboardInterrupt
            self._open(baseline)
        except BaseException as err:
            self.end(err)
            raise
        return self

    @property
    def baseline(self) -> Baseline | None:
        return self.opened.baseline if self.opened else None

    @property
    def all_notes(self) -> list[str]:
        return [*(self.opened.notes if self.opened else self.data.notes), *self.notes]

    def runnable(self, rungs) -> list[Rung]:
        """The rungs the data and the model's format can support; the others are noted and left out."""
        kept = []
        for rung in rungs:
            missing = missing_data(rung, self.data, self.plan.rules)
            reason = f"skipped: {missing[1]} (inputs.{missing[0]})" if missing else self._format_reason(rung)
            if reason:
                self.notes.append(f"{rung.label}: {reason}")
            else:
                kept.append(rung)
        return kept

    def _format_reason(self, rung: Rung) -> str | None:
        rules, family = self.plan.rules, self.opened.model_family if self.opened else self.plan.model_format
        for name in (*rung.pre_steps, rung.scheme):
            if not rules.takes_format(name, family):
                entry = rules.schemes.get(name) or rules.pre_step_catalog[name]
                label = rules.model_formats[family].label if family in rules.model_formats else family
                return f"skipped: {name} needs {entry.model_need or 'another model format'}; the model is {label}"
        return None

    def attempt(self, rung: Rung) -> Attempt:
        """One rung produced, measured and judged in the worker; a crash is this attempt's failure."""
        started = time.perf_counter()
        if cancelled.is_set():
            raise KeyboardInterrupt
        if isinstance(self.worker, workers.Worker):
            self._recycle_if_due()
        self.attempts_since_open += 1
        try:
            attempted = self.worker.call("attempt", rung, self.progress)
        except (workers.WorkerCrashed, workers.WorkerBug) as failure:
            if cancelled.is_set():
                raise KeyboardInterrupt from None
            self.crashes += 1
            why = self._failure(failure)
            if isinstance(failure, workers.WorkerCrashed):
                self._open(baseline=self.opened.content)  # a fresh worker for the rungs after this one
            return Attempt(scheme=rung.scheme, pre_steps=list(rung.pre_steps), backend=rung.backend, variant=rung.variant,
                           error=why, seconds=round(time.perf_counter() - started, 2))
        for path, content in attempted.files.items():
            self.folder.write(path, content)
        return attempted.attempt

    def _failure(self, failure: Exception) -> str:
        """A crash or a bug in the worker, in one line (a bug's traceback goes to the notes)."""
        if isinstance(failure, workers.WorkerCrashed):
            return f"the worker {failure.describe()}"
        lines = [line for line in str(failure).strip().splitlines() if line.strip()]
        self.notes.append("an internal error in the worker (a bug in the advisor; please report it):\n" + str(failure).strip())
        return f"an internal error in the worker: {lines[-1] if lines else 'unknown'} (its traceback is in the notes)"

    def end(self, error: BaseException | None) -> None:
        """Close after the run, or after `error`: a worker that refused the input (an AdvisorError it answered
        with) goes back to the pool; one interrupted by Ctrl-C or a bug, its state unknown, is ended."""
        self.close(healthy=error is None or isinstance(error, AdvisorError))

    def close(self, healthy: bool = True) -> None:
        with _LOCK:
            _ACTIVE.pop(id(self), None)
        if self.worker is None:
            return
        if healthy:
            workers.release(self.worker)
        else:
            self.worker.kill()
        self.worker = None


def _can_travel(plan: Plan) -> bool:
    """Whether the plan pickles (a model object or a metric function defined where a worker cannot
    import it does not)."""
    if plan.in_memory is None and plan.metric is None:
        return True
    try:
        pickle.dumps(plan)
    except Exception:
        return False
    return True


def _in_process(session: Session, why: str | None = None) -> workers.InProcess:
    reason = f" ({why})" if why else ""
    session.notes.append(f"the model object or metric function cannot be sent to a worker process{reason}: attempts "
                         "run in this process, where a native crash would end the run")
    return workers.InProcess()
