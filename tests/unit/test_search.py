"""Each search strategy on its own, with fake steps: what it proposes, when it stops, what it keeps,
and how the budget ends a search."""

from dataclasses import dataclass

from advisor.engine.search import Budget, GrowingDenylist, Ladder, Sweep, search


@dataclass
class Outcome:
    passed: bool


def fake_steps(passing: set[str]):
    tried = []

    def evaluate(rung):
        tried.append(rung)
        return Outcome(rung in passing)

    return evaluate, tried


def test_the_ladder_stops_at_the_first_rung_that_passes():
    evaluate, tried = fake_steps({"b", "c"})
    result = search(Ladder(["a", "b", "c"]), evaluate)
    assert tried == ["a", "b"] and result.chosen == 1 and result.stopped_by_budget is None


def test_the_ladder_tries_every_rung_when_none_passes():
    evaluate, tried = fake_steps(set())
    result = search(Ladder(["a", "b", "c"]), evaluate)
    assert tried == ["a", "b", "c"] and result.chosen is None


def test_the_sweep_tries_everything_and_keeps_the_first_pass():
    evaluate, tried = fake_steps({"b", "c"})
    result = search(Sweep(["a", "b", "c"]), evaluate)
    assert tried == ["a", "b", "c"] and result.chosen == 1


def test_a_budget_of_attempts_stops_the_search_and_says_what_was_left():
    evaluate, tried = fake_steps({"c"})
    result = search(Ladder(["a", "b", "c"]), evaluate, budget=Budget(max_attempts=2))
    assert tried == ["a", "b"] and result.chosen is None
    assert result.stopped_by_budget == "the budget of 2 attempt(s) was used up" and result.untried == ["c"]


def test_a_budget_of_minutes_starts_no_attempt_after_the_time_is_up():
    now = [0.0]
    evaluate, tried = fake_steps(set())

    def slow(rung):
        now[0] += 90  # every attempt takes a minute and a half
        return evaluate(rung)

    result = search(Sweep(["a", "b", "c", "d"]), slow, budget=Budget(max_minutes=2.5), clock=lambda: now[0])
    assert tried == ["a", "b"] and "2.5 minute(s) ran out after 2 attempt(s)" in result.stopped_by_budget
    assert result.untried == ["c", "d"]


def test_a_budget_that_is_not_reached_changes_nothing():
    evaluate, tried = fake_steps({"c"})
    result = search(Ladder(["a", "b", "c"]), evaluate, budget=Budget(max_attempts=3, max_minutes=60))
    assert tried == ["a", "b", "c"] and result.chosen == 2 and result.stopped_by_budget is None


@dataclass
class Candidate:
    size_holds: bool
    meets: bool | None


def denylist(outcomes: dict[int, Candidate], limit=8, enough=3):
    tried = []

    def evaluate(k):
        tried.append(k)
        return outcomes[k]

    return search(GrowingDenylist(limit, enough), evaluate), tried


def test_the_denylist_grows_until_the_accuracy_goal_is_met():
    result, tried = denylist({1: Candidate(True, False), 2: Candidate(True, False), 3: Candidate(True, True),
                              4: Candidate(True, True)})
    assert tried == [1, 2, 3] and result.chosen == 2


def test_the_denylist_keeps_the_last_count_that_held_the_size_goal():
    result, tried = denylist({1: Candidate(True, False), 2: Candidate(False, True)})
    assert tried == [1, 2] and result.chosen == 0


def test_the_denylist_keeps_its_first_candidate_even_when_it_breaks_the_size_goal():
    result, tried = denylist({1: Candidate(False, True)})
    assert tried == [1] and result.chosen == 0


def test_without_a_verdict_on_accuracy_the_denylist_keeps_the_layers_flagged_sensitive():
    result, tried = denylist({k: Candidate(True, None) for k in range(1, 9)}, enough=3)
    assert tried == [1, 2, 3] and result.chosen == 2


def test_the_denylist_stops_at_its_limit():
    result, tried = denylist({k: Candidate(True, False) for k in range(1, 9)}, limit=4)
    assert tried == [1, 2, 3, 4] and result.chosen == 3


def test_a_budget_spent_before_the_first_attempt_still_lets_it_start():
    """Setup (loading, the float32 baseline) may outlast a tiny time budget; one attempt is always made,
    on a clock that says the budget is spent from the start."""
    evaluate, tried = fake_steps(set())
    ticks = iter(range(0, 10_000, 600))  # a minute passes between every two readings
    result = search(Ladder(["a", "b"]), evaluate, budget=Budget(max_minutes=0.5), clock=lambda: next(ticks))
    assert tried == ["a"] and "ran out after 1 attempt(s)" in result.stopped_by_budget
