"""`advisor recommend` cold: the median of fresh processes, beside `python -c pass` measured in the same
run (interleaved, so both see the same machine), without a model and with MobileNet v1's .h5 (17 MB)
and a size goal; and whether any of those processes imported TensorFlow (checked, not assumed)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import markdown_table, parser, save

ROOT = Path(__file__).resolve().parents[1]
GOALS = {"without a model": 0.150, "with MobileNet v1's .h5": 0.200}
PROBE = ("import runpy, sys; sys.argv = ['advisor', *sys.argv[1:]]\n"
         "try:\n    runpy.run_module('advisor', run_name='__main__')\nexcept SystemExit:\n    pass\n"
         "print('HEAVY=' + ','.join(m for m in ('tensorflow', 'tf_keras', 'keras') if m in sys.modules), file=sys.stderr)")


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def heavy_modules(answers: Path) -> str:
    result = subprocess.run([sys.executable, "-c", PROBE, "recommend", "--answers", str(answers), "--json"],
                            capture_output=True, text=True, cwd=ROOT)
    line = next((l for l in result.stderr.splitlines() if l.startswith("HEAVY=")), "HEAVY=?")
    return line.split("=", 1)[1]


def mobilenet_h5(folder: Path, quick: bool) -> Path:
    from advisor.executor.tf_env import quiet, tensorflow

    tensorflow()
    import tf_keras

    with quiet():
        model = (tf_keras.applications.MobileNet(weights=None, input_shape=(224, 224, 3)) if not quick
                 else tf_keras.Sequential([tf_keras.layers.Input((64,)), tf_keras.layers.Dense(256), tf_keras.layers.Dense(10)]))
    path = folder / ("mobilenet_v1.h5" if not quick else "mlp.h5")
    model.save(path)
    return path


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    runs = 3 if args.quick else 10
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = mobilenet_h5(tmp, args.quick)
        plain = ROOT / "examples" / "edgetpu.yaml"
        sized = tmp / "answers.json"
        sized.write_text(json.dumps({"data": "unlabelled", "hardware": "cpu", "goals": {"min_size_reduction": 0.7},
                                     "inputs": {"model": str(model)}}))
        commands = {"python -c pass": [sys.executable, "-c", "pass"],
                    "without a model": [sys.executable, "-m", "advisor", "recommend", "--answers", str(plain), "--json"],
                    "with MobileNet v1's .h5": [sys.executable, "-m", "advisor", "recommend", "--answers", str(sized), "--json"]}
        for command in commands.values():  # warm the file cache and the rule-set cache once
            timed(command)
        seconds: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(runs):
            for name, command in commands.items():
                seconds[name].append(timed(command))
        heavy = {name: heavy_modules(plain if name == "without a model" else sized) for name in GOALS}
    bare = statistics.median(seconds["python -c pass"])
    rows, table, goals = [], [], []
    for name, samples in seconds.items():
        median = statistics.median(samples)
        rows.append({"command": name, "median_s": median, "samples_s": samples, "imported": heavy.get(name)})
        shown = "" if name == "python -c pass" else f", {median - bare:.3f} s over python; TensorFlow imported: {heavy[name] or 'no'}"
        table.append([name, f"{median:.3f} s{shown}"])
        if name in GOALS:
            label = name if not args.quick else f"{name} (quick: an MLP, not MobileNet)"
            goals.append(f"recommend {label}: {median:.3f} s cold, median of {runs} (goal <= {GOALS[name]:.2f} s): "
                         f"{'met' if median <= GOALS[name] and not heavy[name] else 'NOT met'}")
    text = markdown_table(["command (cold process)", f"median of {runs}"], table) + "\n\n" + "\n".join(f"- {g}" for g in goals)
    save("recommend_speed", args, rows, text, {"goals": goals})


if __name__ == "__main__":
    main()
