"""LiteRT Quantizer's own algorithms in its static int8 recipe (static_wi8_ai8), for a float .tflite on an
integer-only target: which take effect, what they do to fidelity, and whether every op stays integer.

For each algorithm (the default min/max, OCTAV, MSE, GPTQ): the worst output's SQNR against the float
model on the evaluation inputs, the activations the recipe left in float32 (an integer-only target cannot
run them), the file's size, or the quantizer's error. None is shipped unless it beats min/max here with
every activation integer.

    python benchmarks/quantizer_algorithms.py                     the built-in digits CNN
    python benchmarks/quantizer_algorithms.py --model NAME=FLOAT.tflite,CALIBRATION.npy,EVAL.npy [--no-builtin]
                                                                  and a float .tflite of your own (one input;
                                                                  pretrained ones are not shipped)
    python benchmarks/quantizer_algorithms.py --quick             a tiny CNN
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from _common import markdown_table, parser, save, tiny_cnn_keras

ALGORITHMS = ["MIN_MAX_UNIFORM_QUANT", "OCTAV", "MSE", "GPTQ"]
CALIBRATION_ROWS = 100
EVAL_ROWS = 200


def _float_tflite(keras_path: Path) -> bytes:
    from advisor.executor.tf_env import quiet, tensorflow

    tf = tensorflow()
    import tf_keras

    with quiet():
        converter = tf.lite.TFLiteConverter.from_keras_model(tf_keras.models.load_model(keras_path, compile=False))
        return converter.convert()


def _cases(args, folder: Path) -> list[dict]:
    cases = []
    if args.quick or not args.no_builtin:
        if args.quick:
            path = tiny_cnn_keras(folder / "tiny.keras")
            rng = np.random.default_rng(0)
            calibration, evaluation = (rng.random((n, 32, 32, 3), dtype=np.float32) for n in (20, 20))
            name = "tiny CNN 32 (random inputs)"
        else:
            from advisor.executor import builtin

            path = builtin.model_path()
            calibration, evaluation = builtin.split("representative").inputs["x"], builtin.split("eval").inputs["x"]
            name = "digits CNN (built-in)"
        cases.append({"name": name, "float": _float_tflite(path), "calibration": calibration, "eval": evaluation})
    for spec in [] if args.quick else args.model or []:
        name, _, files = spec.partition("=")
        model, calibration, evaluation = files.split(",")
        cases.append({"name": name, "float": Path(model).read_bytes(), "calibration": np.load(calibration),
                      "eval": np.load(evaluation)})
    return cases


def _outputs(content: bytes, inputs: np.ndarray) -> list[np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=content)
    interpreter.allocate_tensors()
    given, outputs = interpreter.get_input_details()[0], interpreter.get_output_details()
    rows = []
    for x in inputs:
        x = x[None]
        if given["dtype"] != np.float32:
            scale, zero = given["quantization"]
            x = np.clip(np.round(x / scale + zero), -128, 127)
        interpreter.set_tensor(given["index"], x.astype(given["dtype"]))
        interpreter.invoke()
        row = []
        for spec in outputs:
            y = interpreter.get_tensor(spec["index"]).astype(np.float32)
            if spec["dtype"] != np.float32:
                scale, zero = spec["quantization"]
                y = (y - zero) * scale
            row.append(y.ravel())
        rows.append(row)
    return [np.array([row[k] for row in rows]) for k in range(len(outputs))]


def _measure(case: dict, algorithm: str) -> dict:
    from advisor._quiet import quiet
    from advisor.reading.tflite import read_graph, signature_key

    with quiet():
        from litert_quantizer import quantizer, recipe
        from litert_quantizer.algorithm_manager import AlgorithmName

    source = case["float"]
    key = signature_key(source)
    name = _input_name(source, key)
    row = {"model": case["name"], "algorithm": algorithm}
    try:
        with quiet():
            engine = quantizer.Quantizer(bytearray(source))
            engine.load_quantization_recipe(recipe.static_wi8_ai8(algorithm_key=getattr(AlgorithmName, algorithm)))
            calibration = case["calibration"][:CALIBRATION_ROWS]
            qsvs = engine.calibrate({key: [{name: calibration[i:i + 1]} for i in range(len(calibration))]})
            content = bytes(engine.quantize(qsvs).quantized_model)
    except Exception as err:  # the quantizer's own ValueError/RuntimeError, with its reason
        return {**row, "error": " ".join(str(err).split())[:160]}
    reference, quantized = (_outputs(c, case["eval"][:EVAL_ROWS]) for c in (source, content))
    sqnr = min(10 * np.log10(float((r ** 2).sum()) / max(float(((r - q) ** 2).sum()), 1e-30)) for r, q in zip(reference, quantized))
    graph = read_graph(content)
    float_activations = sorted({t.name for op in graph.ops for t in op.outputs if t.dtype == "float32"})
    return {**row, "worst_sqnr_db": round(sqnr, 2), "size_bytes": len(content), "float32_activations": len(float_activations),
            "float32_examples": float_activations[:3]}


def _input_name(source: bytes, key: str) -> str:
    """The calibration feed is keyed by the signature's input names."""
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_content=source).get_signature_list()[key]["inputs"][0]


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--model", action="append", help="NAME=FLOAT.tflite,CALIBRATION.npy,EVAL.npy (repeatable)")
    p.add_argument("--no-builtin", action="store_true", help="only the models given with --model")
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in _cases(args, Path(tmp)):
            rows += [_measure(case, algorithm) for algorithm in ALGORITHMS]
    table = markdown_table(
        ["model", "algorithm", "worst SQNR", "float32 activations left", "size", "error"],
        [[r["model"], r["algorithm"], f"{r['worst_sqnr_db']:.2f} dB" if "worst_sqnr_db" in r else "",
          str(r.get("float32_activations", "")), f"{r['size_bytes'] / 1000:.0f} kB" if "size_bytes" in r else "",
          r.get("error", "")] for r in rows])
    verdicts = []
    for model in dict.fromkeys(r["model"] for r in rows):
        base = next((r for r in rows if r["model"] == model and r["algorithm"] == "MIN_MAX_UNIFORM_QUANT" and "error" not in r), None)
        for r in rows:
            if r["model"] != model or r["algorithm"] == "MIN_MAX_UNIFORM_QUANT" or base is None:
                continue
            helps = ("error" not in r and r["float32_activations"] <= base["float32_activations"]
                     and r["worst_sqnr_db"] > base["worst_sqnr_db"] + 0.5)
            if "error" in r:
                why = r["error"]
            else:
                why = (f"{r['worst_sqnr_db'] - base['worst_sqnr_db']:+.2f} dB, {r['float32_activations']} float32 activations "
                       f"against {base['float32_activations']}")
            verdicts.append(f"{model}, {r['algorithm']}: {'helps' if helps else 'does not help'} ({why})")
    text = table + "\n\n" + "\n".join(f"- {v}" for v in verdicts)
    save("quantizer_algorithms", args, rows, text, {"verdicts": verdicts})


if __name__ == "__main__":
    main()
