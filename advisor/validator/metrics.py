"""Measure a .tflite with the LiteRT interpreter: size, gzip size, top-1 accuracy, latency."""

from __future__ import annotations

import gzip
import os
import statistics
import time

import numpy as np

ACCURACY_METRIC = "top-1 accuracy"
EVAL_BATCH = 64
WARMUP = 5


def sizes(content: bytes) -> tuple[int, int]:
    return len(content), len(gzip.compress(content, compresslevel=9, mtime=0))


def _interpreter(content: bytes, threads: int | None):
    from ai_edge_litert.interpreter import Interpreter

    from advisor.executor.tf_env import quiet

    with quiet():
        interpreter = Interpreter(model_content=content, num_threads=threads or os.cpu_count() or 1)
    return interpreter


def _to_input(x: np.ndarray, detail: dict) -> np.ndarray:
    dtype = np.dtype(detail["dtype"])
    scale, zero = detail["quantization"]
    if dtype.kind in "iu" and scale:
        info = np.iinfo(dtype)
        return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)
    return x.astype(dtype, copy=False)


def _from_output(y: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero = detail["quantization"]
    if np.dtype(detail["dtype"]).kind in "iu" and scale:
        return (y.astype(np.float32) - zero) * scale
    return y.astype(np.float32, copy=False)


def predict(content: bytes, x: np.ndarray, *, threads: int | None = None, progress=None, label="running") -> np.ndarray:
    """The model's (first) output for every row of `x`, through LiteRT, dequantized to float32."""
    interpreter = _interpreter(content, threads)
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    batch = EVAL_BATCH if inp["shape_signature"][0] == -1 else int(inp["shape"][0])
    if inp["shape_signature"][0] == -1:
        interpreter.resize_tensor_input(inp["index"], [batch, *x.shape[1:]])
    interpreter.allocate_tensors()
    task = progress.task(label, total=len(x)) if progress is not None else None
    results = []
    for start in range(0, len(x), batch):
        chunk = x[start : start + batch]
        real = len(chunk)
        if real < batch:  # pad the last batch; only its real rows count
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch - real, axis=0)])
        interpreter.set_tensor(inp["index"], _to_input(chunk, inp))
        interpreter.invoke()
        results.append(_from_output(interpreter.get_tensor(out["index"]), out)[:real].copy())
        if task is not None:
            task.advance(real)
    if task is not None:
        task.finish()
    return np.concatenate(results)


def top1(scores: np.ndarray) -> np.ndarray:
    return scores.reshape(len(scores), -1).argmax(axis=1)


def top1_accuracy(content: bytes, x: np.ndarray, y: np.ndarray, *, threads: int | None = None, progress=None, label="accuracy") -> float:
    """Fraction of `x` whose highest output is the label `y`, run through LiteRT (quantized I/O handled)."""
    return float((top1(predict(content, x, threads=threads, progress=progress, label=label)) == y).mean())


def latency(content: bytes, sample: np.ndarray, *, runs: int = 50, threads: int | None = None) -> tuple[float, float, int]:
    """(median ms, p90 ms, threads) of single-input invokes after a warm-up, on this host's CPU."""
    threads = threads or os.cpu_count() or 1
    interpreter = _interpreter(content, threads)
    inp = interpreter.get_input_details()[0]
    if inp["shape_signature"][0] == -1:
        interpreter.resize_tensor_input(inp["index"], [1, *sample.shape[1:]])
    interpreter.allocate_tensors()
    interpreter.set_tensor(inp["index"], _to_input(sample[:1], inp))
    for _ in range(WARMUP):
        interpreter.invoke()
    times = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        interpreter.invoke()
        times.append((time.perf_counter_ns() - start) / 1e6)
    times.sort()
    p90 = times[min(len(times) - 1, int(round(0.9 * (len(times) - 1))))]
    return statistics.median(times), p90, threads
