"""Our own Table 1 for a model we trained: every scheme and pre-step on the built-in digits CNN
(accuracy, drop, size, gzip size, latency), over several training seeds so the spread is visible.
Each seed trains its own model; everything is produced and measured by `advisor run`."""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from _common import markdown_table, parser, save

COMBOS = [  # (pre-steps, schemes)
    ((), ["float16", "dynamic_range", "full_integer", "int16x8", "qat"]),
    (("pruning",), ["dynamic_range", "full_integer", "qat"]),
    (("clustering",), ["full_integer", "qat"]),
    (("pruning", "clustering"), ["full_integer"]),
]
QUICK_COMBOS = [((), ["dynamic_range", "full_integer"]), (("pruning",), ["full_integer"])]


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    args = p.parse_args()
    from advisor.engine.rules import load_rules
    from advisor.pipeline.recommend import parse_answers
    from advisor.models.options import RunOptions
    from _common import digits_model, sweep

    rules = load_rules()
    seeds = range(1 if args.quick else args.seeds)
    measured: dict[tuple, list[dict]] = {}
    for seed in seeds:
        with tempfile.TemporaryDirectory() as tmp:
            model = digits_model(Path(tmp), seed)
            answers = parse_answers({
                "data": "labelled", "hardware": "cpu",
                "inputs": {"model": str(model), "representative": "builtin:digits", "train": "builtin:digits", "eval": "builtin:digits"},
            })
            for index, (steps, schemes) in enumerate(QUICK_COMBOS if args.quick else COMBOS):
                report = sweep(answers, rules, [(s, tuple(steps)) for s in schemes], Path(tmp) / f"out{index}",
                               RunOptions(epochs=1 if args.quick else 3, learning_rate=1e-4, latency_runs=20 if args.quick else 100))
                if index == 0:
                    measured.setdefault(("float32", ()), []).append(report.baseline.metrics.model_dump())
                for attempt in report.attempts:
                    if attempt.metrics is not None:
                        measured.setdefault((attempt.scheme, steps), []).append(attempt.metrics.model_dump())
                    else:
                        measured.setdefault((attempt.scheme, steps), []).append({"error": attempt.error})
            print(f"seed {seed} done", flush=True)

    rows, table = [], []
    for (scheme, steps), runs in measured.items():
        ok = [r for r in runs if "error" not in r]
        row = {"scheme": scheme, "pre_steps": list(steps), "seeds": len(runs), "failed": len(runs) - len(ok)}
        for key in ("accuracy", "accuracy_drop", "size_bytes", "gzip_bytes", "latency_ms", "sparsity"):
            values = [r[key] for r in ok if r.get(key) is not None]
            if values:
                row[key] = round(statistics.mean(values), 5)
                row[key + "_sd"] = round(statistics.stdev(values), 5) if len(values) > 1 else 0.0
        rows.append(row)
        table.append([
            "+".join([*steps, scheme]), _pm(row, "accuracy", 4), _pm(row, "accuracy_drop", 4, 100, " pts"),
            _kb(row, "size_bytes"), _kb(row, "gzip_bytes"), _pm(row, "latency_ms", 4, 1, " ms"),
            _pm(row, "sparsity", 3) if "sparsity" in row else "", row["failed"] or "",
        ])
    columns = ["scheme", "top-1 accuracy", "drop", "size", "gzip size", "latency (2 threads)", "sparsity", "failed runs"]
    text = markdown_table(columns, table) + f"\n\nMean ± standard deviation over {len(seeds)} training seed(s); " \
        "accuracy on the 360-image evaluation split through LiteRT; latency is the median of single-image invokes."
    save("digits_accuracy", args, rows, text)


def _pm(row, key, digits, scale=1, unit=""):
    if key not in row:
        return ""
    return f"{row[key] * scale:.{digits}g} ± {row[key + '_sd'] * scale:.2g}{unit}"


def _kb(row, key):
    return f"{row[key] / 1000:.1f} kB" if key in row else ""


if __name__ == "__main__":
    main()
