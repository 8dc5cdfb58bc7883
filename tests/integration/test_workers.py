"""Attempts on two workers give the report one worker gives: the same attempts in the same order, the
same choice, the same files; a rung made speculatively after the one that passed is discarded."""

import pytest

from advisor.engine.rules import load_rules
from advisor.models.options import RunOptions
from advisor.pipeline.recommend import parse_answers

pytestmark = pytest.mark.tf
RULES = load_rules()


def _answers(model):
    return parse_answers({"data": "unlabelled", "hardware": "cpu", "goals": {"min_size_reduction": 0.6},
                          "inputs": {"model": str(model), "representative": "builtin:digits", "eval": "builtin:digits"}})


def _essence(attempts):
    return [(a.scheme, a.backend, a.passed, a.error, a.metrics.size_bytes if a.metrics else None,
             a.metrics.fidelity.worst_sqnr_db if a.metrics and a.metrics.fidelity else None,
             [(v.goal, v.status) for v in a.verdicts]) for a in attempts]


def test_run_on_two_workers_keeps_the_ladder_and_its_answer(dense_keras, tmp_path):
    from advisor.pipeline.plan import plan
    from advisor.pipeline.run import execute

    reports, files = {}, {}
    for workers in (1, 2):
        options = RunOptions(latency_runs=3, scheme="float16", workers=workers)  # float16 misses 60%, dynamic range meets it
        out = tmp_path / f"w{workers}"
        reports[workers] = execute(plan(_answers(dense_keras), RULES, options), out=out)
        files[workers] = sorted(p.name for p in (out / "attempts").iterdir())
    one, two = reports[1], reports[2]
    assert _essence(one.attempts) == _essence(two.attempts)
    assert [a.scheme for a in one.attempts] == ["float16", "dynamic_range"] and one.chosen == two.chosen == 1
    assert files[1] == files[2]
    discarded = [n for n in two.notes if "discarded when that rung passed" in n]
    assert all("--workers 2" in n for n in discarded)


def test_compare_on_two_workers_measures_the_same_rows(dense_keras, tmp_path):
    from advisor.pipeline.compare import compare

    rungs = [("float16", ()), ("dynamic_range", ()), ("full_integer", ())]
    rows = {}
    for workers in (1, 2):
        comparison = compare(_answers(dense_keras), rules=RULES, out=tmp_path / f"c{workers}", rungs=rungs,
                             options=RunOptions(latency_runs=0, workers=workers))  # latency varies between runs
        rows[workers] = comparison
    assert _essence(rows[1].rows) == _essence(rows[2].rows)
    assert rows[1].pick == rows[2].pick and rows[1].front == rows[2].front
