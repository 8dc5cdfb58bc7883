"""Search strategies: which candidate to try next, when to stop, which result to keep.

A strategy only proposes; `search()` owns the loop, evaluates each proposal with the function it
is given, and enforces the budget. Three strategies share that loop:

    Ladder          the rungs in order; stops at the first that passes (advisor run)
    Sweep           every rung; keeps the first that passed (advisor compare, benchmarks)
    GrowingDenylist 1, 2, 3 ... most sensitive layers kept in float, while the accuracy goal is
                    missed and the size goal holds (selective_integer)

Pure Python: no TensorFlow, no I/O; the evaluation function does the work.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Trial:
    candidate: Any
    outcome: Any


class Strategy(Protocol):
    def propose(self, trials: Sequence[Trial]) -> Any | None:
        """The next candidate after `trials`, or None when there is none."""

    def stop(self, trials: Sequence[Trial]) -> bool:
        """After the last trial: is the search done?"""

    def choose(self, trials: Sequence[Trial]) -> int | None:
        """The index of the trial to keep, or None."""


@dataclass(frozen=True)
class Budget:
    max_attempts: int | None = None
    max_minutes: float | None = None

    def exhausted(self, attempts: int, minutes: float) -> str | None:
        """Why no further attempt may start, or None. The first attempt always starts: a budget bounds the
        search, it does not forgo it (and a run whose setup outlasts a tiny time budget still tries one)."""
        if attempts == 0:
            return None
        if self.max_attempts is not None and attempts >= self.max_attempts:
            return f"the budget of {self.max_attempts} attempt(s) was used up"
        if self.max_minutes is not None and minutes >= self.max_minutes:
            return f"the budget of {self.max_minutes:g} minute(s) ran out after {attempts} attempt(s)"
        return None


@dataclass
class SearchResult:
    trials: list[Trial] = field(default_factory=list)
    chosen: int | None = None
    stopped_by_budget: str | None = None  # why the budget ended the search, when it did
    untried: list[Any] = field(default_factory=list)  # what the budget left untried


def search(strategy: Strategy, evaluate: Callable[[Any], Any], *, budget: Budget | None = None,
           clock: Callable[[], float] = time.monotonic) -> SearchResult:
    budget = budget or Budget()
    started = clock()
    result = SearchResult()
    while (candidate := strategy.propose(result.trials)) is not None:
        reason = budget.exhausted(len(result.trials), (clock() - started) / 60)
        if reason:
            result.stopped_by_budget = reason
            result.untried = _remaining(strategy, result.trials, candidate)
            break
        result.trials.append(Trial(candidate, evaluate(candidate)))
        if strategy.stop(result.trials):
            break
    result.chosen = strategy.choose(result.trials)
    return result


def _remaining(strategy: Strategy, trials: list[Trial], first: Any) -> list[Any]:
    remaining = getattr(strategy, "remaining", None)
    return remaining(len(trials)) if remaining else [first]


class _Rungs:
    """A fixed list of candidates tried in order; outcomes need a boolean `passed`."""

    def __init__(self, rungs: Sequence[Any]):
        self.rungs = list(rungs)

    def propose(self, trials: Sequence[Trial]) -> Any | None:
        return self.rungs[len(trials)] if len(trials) < len(self.rungs) else None

    def remaining(self, tried: int) -> list[Any]:
        return self.rungs[tried:]

    def choose(self, trials: Sequence[Trial]) -> int | None:
        return next((i for i, trial in enumerate(trials) if trial.outcome.passed), None)


class Ladder(_Rungs):
    def stop(self, trials: Sequence[Trial]) -> bool:
        return bool(trials[-1].outcome.passed)


class Sweep(_Rungs):
    def stop(self, trials: Sequence[Trial]) -> bool:
        return False


class GrowingDenylist:
    """Candidates are counts k = 1, 2, ... of the most sensitive layers to keep in float.

    Outcomes need `size_holds` (bool) and `meets` (the accuracy goal: True, False, or None when
    there is no goal or nothing to judge it on). Without a verdict on accuracy it grows to
    `enough_without_goal` layers. When a count breaks the size goal, the count before it is kept.
    """

    def __init__(self, limit: int, enough_without_goal: int):
        self.limit = limit
        self.enough = max(1, min(enough_without_goal, limit))

    def propose(self, trials: Sequence[Trial]) -> int | None:
        k = len(trials) + 1
        return k if k <= self.limit else None

    def stop(self, trials: Sequence[Trial]) -> bool:
        last = trials[-1].outcome
        if not last.size_holds:
            return True
        if last.meets is None:
            return trials[-1].candidate >= self.enough
        return bool(last.meets)

    def choose(self, trials: Sequence[Trial]) -> int | None:
        if not trials:
            return None
        if not trials[-1].outcome.size_holds and len(trials) > 1:
            return len(trials) - 2
        return len(trials) - 1
