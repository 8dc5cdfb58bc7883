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


def test_a_run_its_worker_refuses_for_bad_input_gives_the_worker_back(dense_keras, tmp_path):
    """The data is bound to the model in the worker; a BadInput from there leaves no session open and puts
    the worker, alive, back in the pool for the next run (it used to be neither kept nor ended)."""
    import numpy as np

    import advisor
    from advisor.errors import BadInput
    from advisor.pipeline import session, worker

    np.savez(tmp_path / "bad.npz", x=np.zeros((4, 8, 8, 1), "float32"), mask=np.zeros((4, 3), "float32"))
    answers = {"data": "unlabelled", "hardware": "cpu",
               "inputs": {"model": str(dense_keras), "representative": str(tmp_path / "bad.npz")}}
    with pytest.raises(BadInput, match="unexpected array"):
        advisor.run(answers, out=tmp_path / "out")
    assert session._ACTIVE == {} and any(w.alive for w in worker._idle)
    assert not (tmp_path / "out").exists()
