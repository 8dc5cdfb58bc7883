"""The two backends side by side: the TFLite converter and LiteRT Quantizer, per scheme, on the same
models and data, through `advisor run`'s own steps and measurements.

Per (model, scheme, backend): .tflite size, accuracy drop (digits, with labels) or fidelity against
float32 (SQNR and top-1 changes, without labels), and host latency (median of single invokes).
weight_only_int4 has only the quantizer. Models: the built-in digits CNN (trained, labelled), a small
MLP and the guide's Table 1 CNNs (random weights, batch norms set from the inputs: fidelity.py's
`lively`), with random inputs. The default backend per scheme in rules/schemes.yaml is chosen from
these figures. --quick: the MLP alone, few repetitions.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from _common import markdown_table, parser, save, sweep

SCHEMES = ["float16", "dynamic_range", "full_integer", "int16x8", "weight_only_int4"]
CNNS = {"MobileNet v1": ("MobileNet", 224), "MobileNet v2": ("MobileNetV2", 224), "Inception v3": ("InceptionV3", 299),
        "ResNet v2 101": ("ResNet101V2", 224)}


def mlp(folder: Path) -> tuple[Path, Path, Path]:
    from advisor.executor.tf_env import quiet, tensorflow

    tensorflow()
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1200, 20)).astype("float32")
    y = (x[:, :3] @ rng.normal(size=(3, 4)) + 0.1 * rng.normal(size=(1200, 4))).argmax(1)
    model = keras.Sequential([keras.layers.Input((20,), name="features"), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(32, activation="relu"), keras.layers.Dense(4, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    with quiet():
        model.fit(x[:1000], y[:1000], epochs=10, verbose=0)
        model.save(folder / "mlp.keras")
    np.savez(folder / "calib.npz", x=x[:200])
    np.savez(folder / "eval.npz", x=x[1000:], y=y[1000:])
    return folder / "mlp.keras", folder / "calib.npz", folder / "eval.npz"


def cnn(builder: str, size: int, folder: Path, count: int) -> tuple[Path, Path, Path]:
    from fidelity import lively

    rng = np.random.default_rng(0)
    calib = rng.random((count, size, size, 3), dtype=np.float32) * 2 - 1
    np.savez(folder / "calib.npz", x=calib)
    np.savez(folder / "eval.npz", x=rng.random((count, size, size, 3), dtype=np.float32) * 2 - 1)
    return lively(builder, size, folder, calib), folder / "calib.npz", folder / "eval.npz"


def measure(name: str, model: Path, calib, eval_, folder: Path, latency_runs: int) -> list[dict]:
    from advisor.pipeline.recommend import parse_answers
    from advisor.engine.rules import load_rules
    from advisor.models.options import RunOptions

    rules = load_rules()
    answers = parse_answers({"data": "unlabelled", "hardware": "cpu", "inputs": {
        "model": str(model), "representative": str(calib), "eval": str(eval_)}}, rules=rules)
    rungs = [(s, (), b) for s in SCHEMES for b in rules.backends_for(s, "keras")]
    report = sweep(answers, rules, rungs, folder / "o", RunOptions(latency_runs=latency_runs, threads=1))
    rows = []
    for a in report.attempts:
        m, f = a.metrics, (a.metrics.fidelity if a.metrics else None)
        rows.append({"model": name, "scheme": a.scheme, "backend": a.backend, "error": a.error,
                     "size_bytes": m.size_bytes if m else None, "size_reduction": m.size_reduction if m else None,
                     "accuracy_drop": m.accuracy_drop if m else None,
                     "sqnr_db": f.worst_sqnr_db if f else None, "prediction_change": f.prediction_change if f else None,
                     "latency_ms": m.latency_ms if m else None})
    return rows


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--models", nargs="*", choices=list(CNNS), default=None, help="Table 1 CNNs (default: all four)")
    args = p.parse_args()
    rows = []
    latency_runs = 10 if args.quick else 50
    if not args.quick:  # quick: the MLP alone
        with tempfile.TemporaryDirectory() as tmp:
            rows += measure("digits CNN", Path("builtin:digits"), "builtin:digits", "builtin:digits", Path(tmp), latency_runs)
    with tempfile.TemporaryDirectory() as tmp:
        rows += measure("MLP 20-64-32-4", *mlp(Path(tmp)), Path(tmp), latency_runs)
    chosen = [] if args.quick else (args.models if args.models is not None else list(CNNS))
    for name in chosen:
        builder, size = CNNS[name]
        with tempfile.TemporaryDirectory() as tmp:
            rows += measure(name, *cnn(builder, size, Path(tmp), 16), Path(tmp), latency_runs)
        print(name, "done", flush=True)
    table = []
    for r in rows:
        if r["error"]:
            table.append([r["model"], r["scheme"], r["backend"], "", "", "", "", "", r["error"][:80]])
            continue
        drop = "" if r["accuracy_drop"] is None else f"{r['accuracy_drop'] * 100:+.2f} pts"
        change = "" if r["prediction_change"] is None else f"{r['prediction_change']:.1%}"
        table.append([r["model"], r["scheme"], r["backend"], f"{r['size_bytes']:,}", f"{r['size_reduction']:.1%}", drop,
                      f"{r['sqnr_db']:.1f} dB" if r["sqnr_db"] is not None else "", change,
                      f"{r['latency_ms']:.3f} ms" if r["latency_ms"] is not None else ""])
    text = markdown_table(["model", "scheme", "backend", "size", "reduction", "top-1 drop", "worst SQNR", "top-1 changed",
                           "latency (1 thread)"], table)
    save("backends", args, rows, text)


if __name__ == "__main__":
    main()
