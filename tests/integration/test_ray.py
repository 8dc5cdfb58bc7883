"""The same work as Ray tasks on a local Ray instance (2 CPUs): a fleet's pairs and a comparison's rungs
give the local pool's results, and the inputs reach the tasks through Ray's object store."""

import pytest
import yaml

pytestmark = pytest.mark.tf
ray = pytest.importorskip("ray")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    from advisor.pipeline.ray_engine import connect, shutdown

    connect(2, None)
    yield
    shutdown()


def _pairs(result):
    return [(p.model, p.target, p.exit_code, p.scheme, p.size_bytes, p.fidelity, p.failed_goals) for p in result.pairs]


def test_a_fleet_on_ray_gives_the_local_pools_results(dense_keras, tmp_path):
    import advisor

    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(yaml.safe_dump({"models": [{"name": "dense", "model": str(dense_keras), "representative": "builtin:digits",
                                                 "eval": "builtin:digits"}],
                                     "data": "unlabelled", "targets": ["cpu", "edgetpu"], "goals": {"max_prediction_change": 0.05}}))
    local = advisor.fleet(str(fleet), out=str(tmp_path / "local"), workers=1)
    on_ray = advisor.fleet(str(fleet), out=str(tmp_path / "ray"), workers=2, engine="ray")
    assert _pairs(local) == _pairs(on_ray) and on_ray.environment["engine"] == "ray"
    for pair in on_ray.pairs:  # the driver wrote each pair's folder from what the task sent back
        assert (tmp_path / "ray" / pair.out / "report.json").is_file()
        assert (tmp_path / "ray" / pair.out / "model.tflite").is_file() == (pair.exit_code == 0)


def test_compare_on_ray_measures_the_same_rows(dense_keras, tmp_path):
    import advisor
    from advisor.models.options import RunOptions

    answers = {"data": "unlabelled", "hardware": "cpu", "goals": {"min_size_reduction": 0.6},
               "inputs": {"model": str(dense_keras), "representative": "builtin:digits", "eval": "builtin:digits"}}
    rungs = [("float16", ()), ("dynamic_range", ()), ("full_integer", ())]
    local = advisor.compare(answers, out=tmp_path / "local", rungs=rungs, options=RunOptions(latency_runs=0), workers=1)
    on_ray = advisor.compare(answers, out=tmp_path / "ray", rungs=rungs, options=RunOptions(latency_runs=0), workers=2,
                             engine="ray")

    def rows(comparison):
        return [(r.scheme, r.passed, r.metrics.size_bytes, r.metrics.fidelity.worst_sqnr_db) for r in comparison.rows]

    assert rows(local) == rows(on_ray) and local.front == on_ray.front and local.pick == on_ray.pick
    assert sorted(p.name for p in (tmp_path / "ray" / "attempts").iterdir()) == \
        sorted(p.name for p in (tmp_path / "local" / "attempts").iterdir())
