"""The advisor's own cost: `advisor recommend` cold start, recommend() throughput, and the wall time
and peak memory of `advisor run` for one post-training scheme against a hand-written script that
does the same work: the same two conversions (float32, dynamic range) of the same model, and the
same measurements of each (gzip size, top-1 accuracy on the same evaluation data through the LiteRT
interpreter, and the same number of timed single-input invokes)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import markdown_table, parser, save, tiny_cnn_keras

EVAL_IMAGES = 256
LATENCY_RUNS = 50  # what `advisor run` times by default (RunOptions.latency_runs)

ROOT = Path(__file__).resolve().parents[1]
MEASURE = """
import resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)
"""
HAND_WRITTEN = """
import gzip, os, statistics, sys, time
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf, tf_keras
from ai_edge_litert.interpreter import Interpreter
model = tf_keras.models.load_model(sys.argv[1], compile=False)
out = sys.argv[2]
data = np.load(sys.argv[3])
x, y = data["x"], data["y"]
runs = int(sys.argv[4])
os.makedirs(out, exist_ok=True)
for name, optimize in (("float32", False), ("dynamic_range", True)):
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if optimize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    content = converter.convert()
    with open(os.path.join(out, name + ".tflite"), "wb") as handle:
        handle.write(content)
    gzipped = len(gzip.compress(content, compresslevel=9, mtime=0))
    interpreter = Interpreter(model_content=content, num_threads=os.cpu_count())
    inp, outp = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.resize_tensor_input(inp["index"], [64, *x.shape[1:]])
    interpreter.allocate_tensors()
    correct = 0
    for start in range(0, len(x), 64):
        chunk = x[start:start + 64]
        real = len(chunk)
        if real < 64:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], 64 - real, axis=0)])
        interpreter.set_tensor(inp["index"], chunk)
        interpreter.invoke()
        correct += int((interpreter.get_tensor(outp["index"])[:real].argmax(axis=1) == y[start:start + real]).sum())
    interpreter = Interpreter(model_content=content, num_threads=os.cpu_count())
    interpreter.resize_tensor_input(inp["index"], [1, *x.shape[1:]])
    interpreter.allocate_tensors()
    interpreter.set_tensor(inp["index"], x[:1])
    for _ in range(5):
        interpreter.invoke()
    times = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        interpreter.invoke()
        times.append((time.perf_counter_ns() - start) / 1e6)
    print(name, len(content), gzipped, correct / len(x), statistics.median(times))
"""


def measured(command: list[str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MiB, exit code) of a command, each in a fresh process."""
    out = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True, text=True, check=True)
    seconds, rss_kib, code = out.stdout.split()
    return float(seconds), int(rss_kib) / 1024, int(code)


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    python = sys.executable
    answers = ROOT / "examples" / "edgetpu.yaml"
    repeats = 2 if args.quick else 20
    rows, table, goals = [], [], []

    bare = [measured([python, "-c", "pass"])[0] for _ in range(repeats)]
    cold = [measured([python, "-m", "advisor", "recommend", "--answers", str(answers), "--json"])[0] for _ in range(repeats)]
    ratio = statistics.median(cold) / statistics.median(bare)
    rows.append({"measure": "recommend_cold_start_s", "median": statistics.median(cold), "bare_python_s": statistics.median(bare), "ratio": ratio})
    table.append(["`advisor recommend --json` cold start", f"{statistics.median(cold):.3f} s (python -c pass: {statistics.median(bare):.3f} s, {ratio:.1f}x)"])
    goals.append(f"recommend cold start {statistics.median(cold):.3f} s (goal <= 0.15 s; python -c pass "
                 f"{statistics.median(bare):.3f} s): {'met' if statistics.median(cold) <= 0.15 else 'NOT met'}")

    import advisor
    from advisor.engine.rules import load_rules
    from advisor.engine.soundness import answer_space

    rules = load_rules()
    same = {"data": "labelled", "hardware": "edgetpu", "goals": {"max_accuracy_drop": 0.01, "min_size_reduction": 0.7}}
    varied = [a.model_dump(exclude_defaults=True) for a in list(answer_space(rules))[:: 53]]
    for label, inputs in (("same answers", [same]), (f"{len(varied)} different answers", varied)):
        n = 20_000 if not args.quick else 1_000
        for a in inputs:
            advisor.recommend(a)
        start = time.perf_counter()
        for i in range(n):
            advisor.recommend(inputs[i % len(inputs)])
        rate = n / (time.perf_counter() - start)
        rows.append({"measure": f"recommend_calls_per_s ({label})", "value": rate})
        table.append([f"`advisor.recommend()` calls/s, {label}", f"{rate:,.0f}"])
        goals.append(f"recommend() {label}: {rate:,.0f} calls/s (goal >= 20,000): {'met' if rate >= 20_000 else 'NOT met'}")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model, shape = _model(tmp, args.quick)
        rng = np.random.default_rng(0)
        evaluation = tmp / "eval.npz"
        np.savez(evaluation, x=rng.random((EVAL_IMAGES, *shape), dtype=np.float32), y=rng.integers(0, 10, EVAL_IMAGES))
        answers_file = tmp / "answers.yaml"
        answers_file.write_text(f"data: none\nhardware: cpu\ninputs: {{model: {model}, eval: {evaluation}}}\n")
        script = tmp / "hand_written.py"
        script.write_text(HAND_WRITTEN)
        advisor_runs, hand_runs = [], []
        for i in range(1 if args.quick else 3):
            hand_runs.append(measured([python, str(script), str(model), str(tmp / f"hand{i}"), str(evaluation), str(LATENCY_RUNS)]))
            advisor_runs.append(measured([python, "-m", "advisor", "run", "--answers", str(answers_file), "--scheme", "dynamic_range",
                                          "--out", str(tmp / f"adv{i}")]))
        codes = [r[2] for r in advisor_runs + hand_runs]
        if any(codes):
            raise SystemExit(f"advisor_cost: a timed command failed (exit codes: advisor {[r[2] for r in advisor_runs]}, "
                             f"hand-written {[r[2] for r in hand_runs]}); its time would mean nothing")
        report = json.loads((tmp / "adv0" / "report.json").read_text())
        measured_by_advisor = [report["baseline"]["metrics"], *(a["metrics"] for a in report["attempts"])]
        if not all(m["accuracy"] is not None and m["latency_ms"] is not None for m in measured_by_advisor):
            raise SystemExit("advisor_cost: the run did not measure accuracy and latency; the comparison would be unfair")
        adv = statistics.median(r[0] for r in advisor_runs)
        hand = statistics.median(r[0] for r in hand_runs)
        adv_rss = max(r[1] for r in advisor_runs)
        hand_rss = max(r[1] for r in hand_runs)
        overhead = adv / hand
        rows.append({"measure": "run_vs_hand_written", "model": model.name, "advisor_s": adv, "hand_written_s": hand, "ratio": overhead,
                     "advisor_peak_rss_mib": adv_rss, "hand_written_peak_rss_mib": hand_rss, "eval_images": EVAL_IMAGES,
                     "latency_runs": LATENCY_RUNS, "advisor_exit_codes": [r[2] for r in advisor_runs]})
        table.append([f"`advisor run --scheme dynamic_range` on {model.stem} vs a hand-written script doing the same",
                      f"{adv:.1f} s vs {hand:.1f} s ({overhead:.2f}x); peak RSS {adv_rss:.0f} MiB vs {hand_rss:.0f} MiB"])
        goals.append(f"run overhead {overhead:.2f}x a hand-written script (goal <= 1.1x): {'met' if overhead <= 1.1 else 'NOT met'}")
    text = markdown_table(["measure", "result"], table) + "\n\n" + "\n".join(f"- {g}" for g in goals) + (
        f"\n\nBoth convert float32 then dynamic range from the same .keras file and measure each the same way: gzip size, "
        f"top-1 accuracy on the same {EVAL_IMAGES} images through the LiteRT interpreter, and {LATENCY_RUNS} timed "
        "single-image invokes after 5 warm-ups. The run also checks the hardware and writes both reports. "
        "A command that fails stops the benchmark.")
    save("advisor_cost", args, rows, text, {"goals": goals})


def _model(folder: Path, quick: bool) -> tuple[Path, tuple]:
    if quick:
        return tiny_cnn_keras(folder / "tiny_cnn_32.keras"), (32, 32, 3)
    from advisor.executor.tf_env import quiet, tensorflow

    tensorflow()
    import tf_keras

    with quiet():
        model = tf_keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3))
        path = folder / "mobilenet_v2_100_96.keras"
        model.save(path)
    return path, (96, 96, 3)


if __name__ == "__main__":
    main()
