"""Shared by the benchmark scripts: the machine description, timing helpers, saving results."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="small models and few repetitions (what CI runs)")
    p.add_argument("--results", type=Path, default=RESULTS, help="folder for the .json and .md results")
    return p


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = round(pages / 2**30, 1)
    except (ValueError, OSError):
        pass
    from advisor.pipeline.run import PACKAGES, package_versions

    packages = package_versions((*PACKAGES, "numpy"))  # every tool the advisor drives, as installed
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": packages,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def save(name: str, args, rows: list[dict], table: str, extra: dict | None = None) -> Path:
    args.results.mkdir(parents=True, exist_ok=True)
    suffix = "-quick" if args.quick else ""
    payload = {"benchmark": name, "quick": args.quick, "machine": machine(), "rows": rows, **(extra or {})}
    (args.results / f"{name}{suffix}.json").write_text(json.dumps(payload, indent=2))
    m = payload["machine"]
    header = f"_{m['date']} · {m['cpu']} · {m['cores']} cores · {m['memory_gib']} GiB · Python {m['python']} · TensorFlow {m['packages']['tensorflow']}_\n\n"
    (args.results / f"{name}{suffix}.md").write_text(header + table + "\n")
    print(header + table)
    return args.results / f"{name}{suffix}.json"


def markdown_table(columns: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join("" if c is None else str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def median_p90(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def timed_invokes(content: bytes, sample, threads: int, *, runs: int, budget_s: float) -> tuple[float, float, int]:
    """(median ms, p90 ms, invokes timed) after one warm-up, stopping early when the budget is spent."""
    import time

    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=content, num_threads=threads)
    detail = interpreter.get_input_details()[0]
    if detail["shape_signature"][0] == -1:
        interpreter.resize_tensor_input(detail["index"], [1, *sample.shape[1:]])
    interpreter.allocate_tensors()
    dtype = np.dtype(detail["dtype"])
    scale, zero = detail["quantization"]
    x = sample[:1]
    if dtype.kind in "iu" and scale:
        info = np.iinfo(dtype)
        x = np.clip(np.round(x / scale + zero), info.min, info.max)
    interpreter.set_tensor(detail["index"], x.astype(dtype))
    start = time.perf_counter()
    interpreter.invoke()  # warm-up
    spent = time.perf_counter() - start
    times = []
    deadline = time.perf_counter() + budget_s
    while len(times) < runs and (not times or time.perf_counter() < deadline):
        t0 = time.perf_counter_ns()
        interpreter.invoke()
        times.append((time.perf_counter_ns() - t0) / 1e6)
    del spent
    median, p90 = median_p90(times)
    return median, p90, len(times)


def tiny_cnn_keras(path: Path, size: int = 32):
    """A small CNN (about 60k parameters) for --quick runs: converts in about a second."""
    from advisor.executor.tf_env import quiet, tensorflow

    tensorflow()
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.layers.Input((size, size, 3)),
        keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu"),
        keras.layers.DepthwiseConv2D(3, padding="same", activation="relu"),
        keras.layers.Conv2D(32, 1, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(1024, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    with quiet():
        model.save(path)
    return path


def sweep(answers, rules, rungs, out, options):
    """Every (scheme, pre-steps) rung measured, whether or not an earlier one passed."""
    from advisor.pipeline.run import execute, plan

    return execute(plan(answers, rules, options, rungs=rungs), out=out, sweep=True)


def digits_model(folder: Path, seed: int) -> Path:
    """The built-in digits CNN trained with `seed`: the cached built-in model for its own seed (training is
    seeded, so it is the same model), else trained into `folder`."""
    from advisor.executor import builtin

    if seed == builtin.SEED:
        return builtin.model_path()
    return builtin.train_and_save(folder / "digits.keras", seed=seed)
