"""Fidelity without labels: how far each scheme's outputs are from float32's, and how well that
predicts the real accuracy drop.

1. The built-in digits CNN, trained once per seed: per scheme, the top-1 drop measured with labels
   beside the share of inputs whose top-1 class changed (`max_prediction_change`) and the SQNR
   (`min_sqnr_db`), all on the same 360 evaluation images. These figures are the source of the
   expected fidelity per accuracy class in rules/schemes.yaml.
2. The guide's Table 1 CNNs (random weights with batch norms set from the random inputs, so the
   activations do not vanish; --models): fidelity per scheme.
--quick: one seed of the digits model and a tiny CNN.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import numpy as np

from _common import digits_model, markdown_table, parser, save, sweep
from table1 import MODELS, build

DIGITS_SCHEMES = ["float16", "dynamic_range", "full_integer", "int16x8", "selective_integer"]
CNN_SCHEMES = ["float16", "dynamic_range", "full_integer"]


def digits_rows(seeds, quick: bool) -> list[dict]:
    from advisor.pipeline.recommend import parse_answers
    from advisor.engine.rules import load_rules
    from advisor.models.options import RunOptions

    rules = load_rules()
    rows = []
    for seed in seeds:
        with tempfile.TemporaryDirectory() as tmp:
            model = digits_model(Path(tmp), seed)
            answers = parse_answers({"data": "unlabelled", "hardware": "cpu", "inputs": {
                "model": str(model), "representative": "builtin:digits", "eval": "builtin:digits"}}, rules=rules)
            schemes = DIGITS_SCHEMES[:3] if quick else DIGITS_SCHEMES
            report = sweep(answers, rules, [(s, ()) for s in schemes], Path(tmp) / "o", RunOptions(latency_runs=0))
            for a in report.attempts:
                if a.metrics is None:
                    rows.append({"part": "digits", "seed": seed, "scheme": a.scheme, "error": a.error})
                    continue
                f = a.metrics.fidelity
                rows.append({"part": "digits", "seed": seed, "scheme": a.scheme, "accuracy_drop": a.metrics.accuracy_drop,
                             "prediction_change": f.prediction_change, "sqnr_db": f.worst_sqnr_db,
                             "cosine": min(o.cosine for o in f.outputs.values())})
    return rows


def lively(builder: str, size: int, folder: Path, calib: np.ndarray) -> Path:
    """A random-weight CNN whose activations do not vanish: with glorot kernels and identity batch
    norms, MobileNet's features shrink to ~1e-18 and every output is the same 1/1000, so fidelity
    means nothing. Each batch norm's moving statistics are set from the calibration inputs (one
    forward pass in training mode with momentum 0), as a trained network's would be."""
    from advisor.executor.tf_env import quiet, tensorflow

    tensorflow()
    import tf_keras

    with quiet():
        model = getattr(tf_keras.applications, builder)(weights=None, input_shape=(size, size, 3))
        norms = [layer for layer in model.layers if isinstance(layer, tf_keras.layers.BatchNormalization)]
        for layer in norms:
            layer.momentum = 0.0
        model(calib, training=True)
        for layer in norms:
            layer.momentum = 0.99
        path = folder / f"{builder}.keras"
        model.save(path)
    return path


def cnn_rows(models: dict, quick: bool) -> list[dict]:
    from advisor.pipeline.recommend import parse_answers
    from advisor.engine.rules import load_rules
    from advisor.models.options import RunOptions

    rules = load_rules()
    rows = []
    for name, (builder, size, _, _) in models.items():
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            rng = np.random.default_rng(0)
            count = 8 if quick else 16
            calib = rng.random((count, size, size, 3), dtype=np.float32) * 2 - 1
            model = build(builder, size, folder, quick) if quick else lively(builder, size, folder, calib)
            np.savez(folder / "calib.npz", x=calib)
            np.savez(folder / "eval.npz", x=rng.random((count, size, size, 3), dtype=np.float32) * 2 - 1)
            answers = parse_answers({"data": "unlabelled", "hardware": "cpu", "inputs": {
                "model": str(model), "representative": str(folder / "calib.npz"), "eval": str(folder / "eval.npz")}}, rules=rules)
            report = sweep(answers, rules, [(s, ()) for s in CNN_SCHEMES], folder / "o", RunOptions(latency_runs=0))
            for a in report.attempts:
                f = a.metrics.fidelity if a.metrics else None
                rows.append({"part": "cnn", "model": name, "scheme": a.scheme, "error": a.error,
                             "sqnr_db": f.worst_sqnr_db if f else None, "prediction_change": f.prediction_change if f else None,
                             "cosine": min(o.cosine for o in f.outputs.values()) if f else None, "inputs": count})
    return rows


def _mean_sd(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return ""
    if len(values) == 1:
        return f"{values[0]:.4g}"
    return f"{statistics.mean(values):.4g} ± {statistics.stdev(values):.2g}"


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--models", nargs="*", default=[], choices=list(MODELS), help="Table 1 CNNs to add (default: none)")
    p.add_argument("--skip-digits", action="store_true")
    args = p.parse_args()
    rows = [] if args.skip_digits else digits_rows(range(1 if args.quick else args.seeds), args.quick)
    models = {"tiny CNN 32": ("tiny", 32, None, None)} if args.quick else {m: MODELS[m] for m in args.models}
    rows += cnn_rows(models, args.quick)
    text = []
    digits = [r for r in rows if r["part"] == "digits" and "error" not in r]
    if digits:
        table = []
        for scheme in dict.fromkeys(r["scheme"] for r in digits):
            mine = [r for r in digits if r["scheme"] == scheme]
            bounded = sum(1 for r in mine if r["accuracy_drop"] <= r["prediction_change"] + 1e-9)
            table.append([scheme, _mean_sd([r["accuracy_drop"] * 100 for r in mine]) + " pts",
                          _mean_sd([r["prediction_change"] * 100 for r in mine]) + " %",
                          _mean_sd([r["sqnr_db"] for r in mine]) + " dB", _mean_sd([r["cosine"] for r in mine]),
                          f"{bounded}/{len(mine)}"])
        text.append("Digits CNN, 360 evaluation images, over seeds (mean ± sd):\n\n" + markdown_table(
            ["scheme", "top-1 drop (labels)", "top-1 changed (no labels)", "worst SQNR", "worst cosine",
             "drop <= changed"], table))
    cnn = [r for r in rows if r["part"] == "cnn"]
    if cnn:
        text.append("Table 1 CNNs, random weights (batch norms set from the inputs) and random inputs in [-1, 1]; "
                    "16 inputs calibrate, 16 others measure:\n\n" + markdown_table(
            ["model", "scheme", "worst SQNR dB", "top-1 changed", "worst cosine", "inputs", "note"],
            [[r["model"], r["scheme"], r["sqnr_db"], f"{r['prediction_change']:.1%}" if r["prediction_change"] is not None else "",
              r["cosine"], r["inputs"], r["error"] or ""] for r in cnn]))
    name = "fidelity" if not args.models or args.quick else "fidelity-" + "-".join(m.split()[0].lower() + m.split()[1].lower() for m in args.models)
    save(name, args, rows, "\n\n".join(text))


if __name__ == "__main__":
    main()
