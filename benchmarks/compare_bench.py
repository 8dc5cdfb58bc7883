"""`advisor compare` on the digits model (every scheme and pre-step, real accuracy) and on MobileNet v2
0.35 (architecture only, random weights: sizes and latency, no accuracy): rows, front, findings, time."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from _common import markdown_table, parser, save, tiny_cnn_keras


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    from advisor.pipeline.compare import compare
    from advisor.engine.rules import load_rules
    from advisor.pipeline.recommend import parse_answers
    from advisor.models.options import RunOptions

    rules = load_rules()
    rows, table = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cases = [("digits CNN (labelled, cpu)", {"data": "labelled", "hardware": "cpu",
                  "goals": {"min_size_reduction": 0.7, "max_accuracy_drop": 0.01},
                  "inputs": {"model": "builtin:digits", "representative": "builtin:digits", "train": "builtin:digits", "eval": "builtin:digits"}})]
        if args.quick:
            model = tiny_cnn_keras(tmp / "tiny.keras")
            size = 32
            name = "tiny CNN 32 (unlabelled, cpu)"
        else:
            from advisor.executor.tf_env import quiet, tensorflow

            tensorflow()
            import tf_keras

            with quiet():
                tf_keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), alpha=0.35).save(tmp / "mnv2.keras")
            model, size, name = tmp / "mnv2.keras", 96, "MobileNet v2 0.35 96 (unlabelled, cpu; random weights)"
        np.savez(tmp / "calib.npz", x=np.random.default_rng(0).random((20, size, size, 3), dtype=np.float32))
        cases.append((name, {"data": "unlabelled", "hardware": "cpu", "goals": {"min_size_reduction": 0.7},
                             "inputs": {"model": str(model), "representative": str(tmp / "calib.npz")}}))
        for index, (case, raw) in enumerate(cases[1:] if args.quick else cases):
            started = time.perf_counter()
            result = compare(parse_answers(raw), rules=rules, out=tmp / f"c{index}", options=RunOptions(latency_runs=20))
            seconds = time.perf_counter() - started
            front = [result.rows[i].label for i in result.front]
            pick = result.rows[result.pick].label if result.pick is not None else None
            rows.append({"case": case, "combinations": len(result.rows), "passed": sum(r.passed for r in result.rows),
                         "front": front, "pick": pick, "findings": result.findings, "seconds": round(seconds, 1)})
            table.append([case, len(result.rows), rows[-1]["passed"], ", ".join(front), pick, "; ".join(result.findings) or "none",
                          f"{seconds:.0f} s"])
    text = markdown_table(["model", "combinations", "meet every goal", "Pareto front", "recommendation", "findings", "time"], table)
    save("compare", args, rows, text)


if __name__ == "__main__":
    main()
