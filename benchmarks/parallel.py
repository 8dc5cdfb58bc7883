"""Many models, many targets: a fleet of 4 models by 2 targets with 1 and 2 workers, the same fleet as Ray
tasks on a local Ray instance, a second run over unchanged inputs, and `compare` on MobileNet v1 with 1
and 2 workers.

Goals: 2 workers at least 1.6x faster than 1 on 2 cores; Ray within 15% of the local pool with identical
results; the second fleet run in seconds, redoing nothing.

    python benchmarks/parallel.py [--quick] [--no-ray] [--no-compare]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from _common import markdown_table, parser, save, tiny_cnn_keras


def fleet_models(folder: Path, quick: bool) -> list[dict]:
    """Four models of different kinds, each with its data: the built-in digits CNN, a digits MLP, a small
    depthwise CNN and the digits mini-Xception (trained by recovery_models.py); quick: the first alone."""
    digits = {"name": "digits", "model": "builtin:digits", "representative": "builtin:digits", "eval": "builtin:digits"}
    if quick:  # one model's two pairs: enough to run every path of the script
        return [digits]
    from advisor.executor.builtin import split
    from advisor.executor.tf_env import quiet, tensorflow

    tensorflow()
    import tf_keras as keras

    rng = np.random.default_rng(0)
    digits_eval = split("eval")
    np.savez(folder / "digits_eval.npz", x=digits_eval.x[:200])
    np.savez(folder / "digits_rep.npz", x=split("representative").x[:200])
    keras.utils.set_random_seed(0)
    mlp = keras.Sequential([keras.layers.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(256, activation="relu"),
                            keras.layers.Dense(10, activation="softmax")])
    with quiet():
        mlp.save(folder / "mlp.keras")
    tiny_cnn_keras(folder / "cnn.keras")
    np.savez(folder / "cnn_data.npz", x=rng.random((200, 32, 32, 3), dtype=np.float32))
    models = [
        digits,
        {"name": "mlp", "model": str(folder / "mlp.keras"), "representative": str(folder / "digits_rep.npz"),
         "eval": str(folder / "digits_eval.npz")},
        {"name": "cnn", "model": str(folder / "cnn.keras"), "representative": str(folder / "cnn_data.npz"),
         "eval": str(folder / "cnn_data.npz")},
    ]
    from recovery_models import build, default_folder

    cache = default_folder()
    cache.mkdir(parents=True, exist_ok=True)
    xception = build("digits-mini-xception", cache)
    models.append({"name": "xception", "model": str(xception), "representative": str(cache / "digits32-representative.npz"),
                   "eval": str(cache / "digits32-eval.npz")})
    return models


def _fleet(models, out: Path, workers: int, engine: str = "local") -> tuple[float, list]:
    import advisor
    from advisor.models.options import RunOptions

    from advisor.pipeline.worker import close_idle

    spec = {"models": models, "data": "unlabelled", "targets": ["cpu", "edgetpu"], "goals": {"max_prediction_change": 0.05}}
    close_idle()  # every run starts its workers cold, as a command does
    started = time.perf_counter()
    result = advisor.fleet(spec, out=str(out), workers=workers, engine=engine, options=RunOptions(latency_runs=20))
    seconds = time.perf_counter() - started
    return seconds, [(p.model, p.target, p.exit_code, p.scheme, p.size_bytes, p.fidelity, p.reused) for p in result.pairs]


def _compare(tmp: Path, workers: int, quick: bool) -> dict:
    import advisor
    from advisor.executor.tf_env import quiet, tensorflow
    from advisor.models.options import RunOptions

    tensorflow()
    import tf_keras

    path = tmp / "mnv1.keras"
    size = 96 if quick else 224
    if not path.exists():
        with quiet():
            tf_keras.applications.MobileNet(weights=None, input_shape=(size, size, 3), alpha=0.25 if quick else 1.0).save(path)
        np.savez(tmp / "mnv1_data.npz", x=np.random.default_rng(0).random((32, size, size, 3), dtype=np.float32))
    answers = {"data": "unlabelled", "hardware": "cpu", "inputs": {"model": str(path), "representative": str(tmp / "mnv1_data.npz"),
                                                                    "eval": str(tmp / "mnv1_data.npz")}}
    started = time.perf_counter()
    comparison = advisor.compare(answers, out=tmp / f"cmp{workers}", force=True, workers=workers,
                                 options=RunOptions(latency_runs=10))
    return {"workers": workers, "rows": len(comparison.rows), "seconds": round(time.perf_counter() - started, 1),
            "results": [(r.label, r.passed, r.metrics.size_bytes if r.metrics else None) for r in comparison.rows]}


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--no-ray", action="store_true")
    p.add_argument("--no-compare", action="store_true")
    args = p.parse_args()
    if args.quick:  # the fleet alone: a Ray instance and MobileNet v1 take minutes
        args.no_ray = args.no_compare = True
    rows, table = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        models = fleet_models(tmp, args.quick)
        if not args.quick:
            _fleet(models[:1], tmp / "warm", 1)  # the built-in model trained and every import cached before timing
        one, results_one = _fleet(models, tmp / "w1", 1)
        two, results_two = _fleet(models, tmp / "w2", 2)
        again, results_again = _fleet(models, tmp / "w2", 2)
        rows.append({"case": f"fleet {len(models)}x2, 1 worker", "seconds": round(one, 1)})
        rows.append({"case": f"fleet {len(models)}x2, 2 workers", "seconds": round(two, 1), "speedup": round(one / two, 2),
                     "identical": [r[:6] for r in results_one] == [r[:6] for r in results_two]})
        rows.append({"case": "the same fleet again (unchanged inputs)", "seconds": round(again, 1),
                     "redone": sum(not r[6] for r in results_again)})
        if not args.no_ray:
            from advisor.pipeline.ray_engine import connect, shutdown

            connect(2, None)
            _fleet(models[:1], tmp / "ray-warm", 2, "ray")
            on_ray, results_ray = _fleet(models, tmp / "ray", 2, "ray")
            shutdown()
            rows.append({"case": f"fleet {len(models)}x2 on a local Ray instance (2 CPUs)", "seconds": round(on_ray, 1),
                         "against_local_pool": round(on_ray / two - 1, 3),
                         "identical": [r[:6] for r in results_ray] == [r[:6] for r in results_two]})
        if not args.no_compare:
            first = _compare(tmp, 1, args.quick)
            second = _compare(tmp, 2, args.quick)
            name = "MobileNet v1 0.25 96" if args.quick else "MobileNet v1 1.0 224"
            rows.append({"case": f"compare {name} ({first['rows']} rows), 1 worker", "seconds": first["seconds"]})
            rows.append({"case": f"compare {name}, 2 workers", "seconds": second["seconds"],
                         "speedup": round(first["seconds"] / second["seconds"], 2),
                         "identical": first["results"] == second["results"]})
    for r in rows:
        extra = []
        if "speedup" in r:
            extra.append(f"{r['speedup']}x")
        if "against_local_pool" in r:
            extra.append(f"{r['against_local_pool']:+.1%} against the local pool")
        if "identical" in r:
            extra.append("identical results" if r["identical"] else "RESULTS DIFFER")
        if "redone" in r:
            extra.append(f"{r['redone']} pair(s) redone")
        table.append([r["case"], f"{r['seconds']:g} s", ", ".join(extra)])
    save("parallel", args, rows, markdown_table(["case", "time", "against the single worker"], table), {"goals": _goals(rows)})


def _goals(rows: list[dict]) -> list[str]:
    def met(ok: bool) -> str:
        return "met" if ok else "NOT met"

    goals = []
    for r in rows:
        if "speedup" in r and r["case"].startswith("fleet"):
            goals.append(f"{r['case']}: {r['speedup']}x against 1 worker (goal >= 1.6x): {met(r['speedup'] >= 1.6)}, "
                         f"{'identical' if r['identical'] else 'DIFFERENT'} results")
        if "against_local_pool" in r:
            goals.append(f"{r['case']}: {r['against_local_pool']:+.1%} against the local pool (goal within 15%): "
                         f"{met(r['against_local_pool'] <= 0.15)}, {'identical' if r['identical'] else 'DIFFERENT'} results")
        if "redone" in r:
            goals.append(f"a second fleet run over unchanged inputs: {r['seconds']:g} s, {r['redone']} pair(s) redone "
                         f"(goal: seconds, none): {met(r['redone'] == 0 and r['seconds'] < 10)}")
    return goals


if __name__ == "__main__":
    main()
