"""selective_integer against full_integer and qat on a model where int8 loses accuracy: the accuracy
it recovers, what it costs in size, and its time against quantization-aware training."""

from __future__ import annotations

import tempfile
from pathlib import Path

from _common import markdown_table, parser, save


def sensitive_digits_model(path: Path, seed: int = 0) -> Path:
    """A digits MLP whose first layer has one huge weight on an always-zero pixel: harmless in float,
    it sets the int8 scale so every other weight of that layer rounds to zero."""
    from advisor.executor import builtin
    from advisor.executor.tf_env import quiet, tensorflow

    tensorflow()
    import tf_keras as keras

    train = builtin.split("train")
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.layers.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(128, activation="relu", name="sensitive"),
                              keras.layers.Dense(64, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    with quiet():
        model.fit(train.x, train.y, epochs=10, verbose=0)
        kernel, bias = model.get_layer("sensitive").get_weights()
        kernel[0, :] = 1e4
        model.get_layer("sensitive").set_weights([kernel, bias])
        model.save(path)
    return path


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    from advisor.engine.rules import load_rules
    from advisor.pipeline.recommend import parse_answers
    from advisor.models.options import RunOptions
    from _common import sweep

    rules = load_rules()
    rows, table = [], []
    with tempfile.TemporaryDirectory() as tmp:
        model = sensitive_digits_model(Path(tmp) / "sensitive.keras")
        answers = parse_answers({"data": "labelled", "hardware": "cpu", "goals": {"max_accuracy_drop": 0.01},
                                 "inputs": {"model": str(model), "representative": "builtin:digits",
                                            "train": "builtin:digits", "eval": "builtin:digits"}})
        report = sweep(answers, rules, [(s, ()) for s in ("full_integer", "selective_integer", "qat")], Path(tmp) / "o",
                       RunOptions(epochs=1 if args.quick else 3, latency_runs=20))
        base = report.baseline.metrics
        rows.append({"scheme": "float32", "accuracy": base.accuracy, "size_bytes": base.size_bytes})
        table.append(["float32", f"{base.accuracy:.4f}", "", f"{base.size_bytes / 1000:.1f} kB", "", ""])
        for a in report.attempts:
            m = a.metrics
            extra = ", ".join(m.float_layers) if m is not None and getattr(m, "float_layers", None) else ""
            rows.append({"scheme": a.scheme, "accuracy": m.accuracy if m else None, "accuracy_drop": m.accuracy_drop if m else None,
                         "size_bytes": m.size_bytes if m else None, "seconds": a.seconds, "float_layers": extra, "error": a.error})
            table.append([a.scheme, f"{m.accuracy:.4f}" if m else a.error, f"{m.accuracy_drop * 100:+.2f} pts" if m else "",
                          f"{m.size_bytes / 1000:.1f} kB" if m else "", f"{a.seconds:.1f} s", extra])
    text = markdown_table(["scheme", "top-1 accuracy", "drop", "size", "time to produce + measure", "layers kept float"], table)
    text += ("\n\nThe model: a digits MLP whose first layer carries one huge weight on a pixel that is zero in every "
             "image (harmless in float, ruinous for that layer's int8 scale).")
    save("selective", args, rows, text)


if __name__ == "__main__":
    main()
