"""The guide's Table 1 on this machine: sizes and host-CPU latency of each post-training scheme,
produced by `advisor run` (one run per model climbs a ladder of every scheme, sharing the baseline).

Architectures come from tf_keras.applications with weights=None (no downloads), so accuracy is not
meaningful and is not reported. --quick: a tiny CNN only.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from _common import markdown_table, parser, save, timed_invokes, tiny_cnn_keras

MODELS = {
    # name: (builder, input size, the guide's float and optimized sizes in MB)
    "MobileNet v1 1.0 224": ("MobileNet", 224, 16.9, 4.3),
    "MobileNet v2 1.0 224": ("MobileNetV2", 224, 14.0, 3.6),
    "Inception v3": ("InceptionV3", 299, 95.7, 23.9),
    "ResNet v2 101": ("ResNet101V2", 224, 178.3, 44.9),
}
QUICK = {"tiny CNN 32": ("tiny", 32, None, None)}
SCHEMES = ["float16", "dynamic_range", "full_integer", "int16x8"]


def build(builder: str, size: int, folder: Path, quick: bool) -> Path:
    from advisor.executor.tf_env import quiet, tensorflow

    if builder == "tiny":
        return tiny_cnn_keras(folder / "tiny.keras", size)
    tensorflow()
    import tf_keras

    with quiet():
        model = getattr(tf_keras.applications, builder)(weights=None, input_shape=(size, size, 3))
        path = folder / f"{builder}.keras"
        model.save(path)
    return path


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--models", nargs="*", choices=list(MODELS), help="a subset of the models (default: all four)")
    args = p.parse_args()
    from advisor.engine.rules import load_rules
    from advisor.pipeline.recommend import parse_answers
    from advisor.models.options import RunOptions
    from _common import sweep

    rules = load_rules()
    rows, table = [], []
    runs, budget = (10, 2.0) if args.quick else (30, 20.0)
    chosen = QUICK if args.quick else {k: v for k, v in MODELS.items() if not args.models or k in args.models}
    for name, (builder, size, guide_float, guide_opt) in chosen.items():
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            model = build(builder, size, folder, args.quick)
            calib = np.random.default_rng(0).random((20 if not args.quick else 10, size, size, 3), dtype=np.float32)
            np.savez(folder / "calib.npz", x=calib)
            answers = parse_answers({"data": "unlabelled", "hardware": "cpu",
                                     "inputs": {"model": str(model), "representative": str(folder / "calib.npz")}})
            started = time.perf_counter()
            report = sweep(answers, rules, [(s, ()) for s in SCHEMES], folder / "out", RunOptions(latency_runs=0))
            seconds = time.perf_counter() - started
            out = folder / "out"
            entries = [("float32", report.baseline.artifact, report.baseline.metrics, None)]
            entries += [(a.scheme, a.artifact, a.metrics, a.error) for a in report.attempts]
            base = report.baseline.metrics.size_bytes
            for scheme, artifact, metrics, error in entries:
                row = {"model": name, "scheme": scheme, "error": error}
                if metrics is not None:
                    content = (out / artifact).read_bytes()
                    row |= {"size_mb": round(metrics.size_bytes / 1e6, 3), "size_mib": round(metrics.size_bytes / 2**20, 3),
                            "ratio": round(metrics.size_bytes / base, 3)}
                    for threads in (1, 2):
                        median, p90, n = timed_invokes(content, calib, threads, runs=runs, budget_s=budget)
                        row |= {f"ms_{threads}t": round(median, 3), f"p90_{threads}t": round(p90, 3), f"runs_{threads}t": n}
                row["guide_mb"] = guide_float if scheme == "float32" else guide_opt if scheme == "full_integer" else None
                rows.append(row)
                table.append([name, scheme, row.get("size_mb"), row.get("size_mib"), row.get("ratio"), row["guide_mb"],
                              _ms(row, 1), _ms(row, 2), error or ""])
            rows.append({"model": name, "run_seconds": round(seconds, 1)})
            print(f"{name}: advisor run took {seconds:.1f} s", flush=True)
    columns = ["model", "scheme", "MB", "MiB", "x float32", "guide MB", "1 thread ms (p90)", "2 threads ms (p90)", "note"]
    goals = _goals(rows)
    text = markdown_table(columns, table) + "\n\n" + "\n".join(f"- {g}" for g in goals)
    name = "table1" if args.quick or not args.models else "table1-" + "-".join(m.split()[0].lower() + m.split()[1] for m in args.models)
    save(name, args, rows, text, {"goals": goals})


def _ms(row: dict, threads: int) -> str:
    if f"ms_{threads}t" not in row:
        return ""
    return f"{row[f'ms_{threads}t']:.2f} ({row[f'p90_{threads}t']:.2f}, n={row[f'runs_{threads}t']})"


def _goals(rows: list[dict]) -> list[str]:
    lines = []
    by = {(r["model"], r["scheme"]): r for r in rows if "scheme" in r}
    for model in {r["model"] for r in rows if "scheme" in r}:
        if not model.startswith("MobileNet"):
            continue
        for scheme, limit in (("full_integer", 0.27), ("float16", 0.51)):
            r = by.get((model, scheme))
            if r and "ratio" in r:
                lines.append(f"{model}: {scheme} is {r['ratio']:.3f}x float32 (goal <= {limit}x): {'met' if r['ratio'] <= limit else 'NOT met'}")
        f32, i8 = by.get((model, "float32")), by.get((model, "full_integer"))
        if model.startswith("MobileNet v2") and f32 and i8 and "ms_1t" in i8:
            speedup = f32["ms_1t"] / i8["ms_1t"]
            lines.append(f"{model}: full integer is {speedup:.2f}x faster than float32 at 1 thread (goal >= 1.5x): {'met' if speedup >= 1.5 else 'NOT met'}")
    return sorted(lines)


if __name__ == "__main__":
    main()
