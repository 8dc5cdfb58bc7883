"""Attempts on several workers at once, with the answer one worker would give.

    attempt_all(sessions, rungs, budget, ladder=True)

Each session (a worker opened on the same plan, pipeline/session.py) takes the next rung in the plan's
order. On a ladder (`advisor run`) a rung after one that passed is never started; a rung already started
after it (speculatively) is finished and discarded, and the result names it. The trials kept are those
one worker would have made, in the same order, so the report is the same as with `--workers 1`. On a
sweep (`advisor compare`) every rung is made. The budget is counted as one worker counts it: rung k
starts only when k attempts would have been allowed before it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from advisor.engine.search import Budget, SearchResult, Trial


@dataclass
class ParallelResult(SearchResult):
    discarded: list[Any] = field(default_factory=list)  # rungs made speculatively after the chosen one, not reported


def attempt_all(evaluators: Sequence[Callable[[Any], Any]], rungs: Sequence[Any], *, budget: Budget | None = None,
                ladder: bool = True, clock: Callable[[], float] = time.monotonic) -> ParallelResult:
    """Every rung evaluated by one of `evaluators` (one per worker, each called from its own thread);
    outcomes need a boolean `passed`."""
    budget = budget or Budget()
    started = clock()
    lock = threading.Lock()
    outcomes: dict[int, Any] = {}
    state = {"next": 0, "passed": None, "stopped": None, "error": None}

    def take() -> int | None:
        with lock:
            index = state["next"]
            if index >= len(rungs) or state["error"] is not None:
                return None
            if ladder and state["passed"] is not None and index > state["passed"]:
                return None
            reason = budget.exhausted(index, (clock() - started) / 60)
            if reason:
                state["stopped"] = state["stopped"] or (index, reason)
                return None
            state["next"] += 1
            return index

    def work(evaluate: Callable[[Any], Any]) -> None:
        while (index := take()) is not None:
            try:
                outcome = evaluate(rungs[index])
            except BaseException as err:  # Ctrl-C or a bug in one thread ends the others' work too
                with lock:
                    state["error"] = state["error"] or err
                return
            with lock:
                outcomes[index] = outcome
                if ladder and outcome.passed and (state["passed"] is None or index < state["passed"]):
                    state["passed"] = index

    threads = [threading.Thread(target=work, args=(evaluate,), daemon=True) for evaluate in evaluators[1:]]
    for thread in threads:
        thread.start()
    try:
        work(evaluators[0])
    finally:
        for thread in threads:
            thread.join()
    if state["error"] is not None:
        raise state["error"]
    return _result(rungs, outcomes, state, ladder)


def _result(rungs, outcomes: dict[int, Any], state: dict, ladder: bool) -> ParallelResult:
    result = ParallelResult()
    last = state["passed"] if ladder and state["passed"] is not None else len(rungs) - 1
    for index in range(last + 1):
        if index not in outcomes:
            break
        result.trials.append(Trial(rungs[index], outcomes[index]))
    result.discarded = [rungs[i] for i in sorted(outcomes) if i > last]
    result.chosen = next((i for i, trial in enumerate(result.trials) if trial.outcome.passed), None)
    if state["stopped"] is not None and (result.chosen is None or not ladder):  # a ladder that passed was not stopped
        result.stopped_by_budget = state["stopped"][1]
        result.untried = list(rungs[len(result.trials):])
    return result
