"""Measure a .tflite with the LiteRT interpreter: sizes, every output for every input row, latency.

Inputs and outputs are matched by the names of the model's signature (the .tflite's serving
signature carries them), never by position; int8/int16 inputs and outputs are (de)quantized.
"""

from __future__ import annotations

import gzip
import os
import statistics
import tempfile
import time

import numpy as np

from advisor.models.signature import tensor_name

EVAL_BATCH = 64
WARMUP = 5


def sizes(content: bytes) -> tuple[int, int]:
    return len(content), len(gzip.compress(content, compresslevel=9, mtime=0))


def _to_input(x: np.ndarray, detail: dict) -> np.ndarray:
    dtype = np.dtype(detail["dtype"])
    scale, zero = detail["quantization"]
    if dtype.kind in "iu" and scale and x.dtype.kind == "f":
        info = np.iinfo(dtype)
        return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)
    return x.astype(dtype, copy=False)


def _from_output(y: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero = detail["quantization"]
    if np.dtype(detail["dtype"]).kind in "iu" and scale:
        return (y.astype(np.float32) - zero) * scale
    return y.astype(np.float32, copy=False)


class Runner:
    """One .tflite in the LiteRT interpreter, fed and read by the names of `signature`."""

    def __init__(self, content: bytes, signature, threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        from advisor._quiet import quiet

        self.threads = threads or os.cpu_count() or 1
        with quiet():
            self.interpreter = Interpreter(model_content=content, num_threads=self.threads)
        self.inputs = self._bind(signature.input_names, self.interpreter.get_input_details(), "inputs")
        self.outputs = self._bind(signature.output_names, self.interpreter.get_output_details(), "outputs")

    def _bind(self, names: list[str], details: list[dict], kind: str) -> dict[str, dict]:
        """Model name -> tensor detail, through the serving signature; by position without one."""
        signatures = self.interpreter.get_signature_list()
        if signatures:
            key = "serving_default" if "serving_default" in signatures else next(iter(signatures))
            runner = self.interpreter.get_signature_runner(key)
            by_name = runner.get_input_details() if kind == "inputs" else runner.get_output_details()
            if all(tensor_name(n) in by_name for n in names):
                index = {d["index"]: d for d in details}
                return {n: {**index.get(by_name[tensor_name(n)]["index"], {}), **by_name[tensor_name(n)]} for n in names}
            if len(names) == 1 and len(by_name) == 1:
                return {names[0]: next(iter(by_name.values()))}
        if len(details) != len(names):
            raise ValueError(f"the .tflite has {len(details)} {kind}, the model {len(names)}")
        return dict(zip(names, details))

    def _prepare(self, batch: int, shapes: dict[str, tuple]) -> None:
        """Size the inputs for `batch` (and every other dimension the model leaves open, from the data's
        `shapes`) and allocate, once per size (allocating again is not free, and some kernels, int8 LSTMs
        among them, do not survive it)."""
        wanted = {}
        for name, detail in self.inputs.items():
            signature = list(detail["shape_signature"])
            shape = [batch, *(shapes[name] if -1 in signature[1:] else detail["shape"][1:])]
            wanted[name] = tuple(int(d) for d in shape)
        if getattr(self, "_prepared", None) == wanted:
            return
        for name, detail in self.inputs.items():
            if -1 in list(detail["shape_signature"]):
                self.interpreter.resize_tensor_input(detail["index"], list(wanted[name]))
        self.interpreter.allocate_tensors()
        self._prepared = wanted

    def batch(self) -> int:
        first = next(iter(self.inputs.values()))
        return EVAL_BATCH if first["shape_signature"][0] == -1 else int(first["shape"][0])

    def predict(self, data, *, progress=None, label: str = "running") -> dict[str, np.ndarray]:
        """Every output (dequantized to float32) for every row of `data` (a Dataset)."""
        batch = self.batch()
        self._prepare(batch, {name: data.inputs[name].shape[1:] for name in self.inputs})
        task = progress.task(label, total=len(data)) if progress is not None else None
        results: dict[str, list] = {name: [] for name in self.outputs}
        for start in range(0, len(data), batch):
            chunk = data.take(batch, start)
            real = len(chunk)
            for name, detail in self.inputs.items():
                x = chunk.inputs[name]
                if real < batch:  # pad the last batch; only its real rows count
                    x = np.concatenate([x, np.repeat(x[-1:], batch - real, axis=0)])
                self.interpreter.set_tensor(detail["index"], _to_input(x, detail))
            self.interpreter.invoke()
            for name, detail in self.outputs.items():
                results[name].append(_from_output(self.interpreter.get_tensor(detail["index"]), detail)[:real].copy())
            if task is not None:
                task.advance(real)
        if task is not None:
            task.finish()
        return {name: np.concatenate(parts) for name, parts in results.items()}

    def latency(self, row: dict[str, np.ndarray], runs: int) -> tuple[float, float]:
        """(median ms, p90 ms) of single-input invokes after a warm-up, on this host's CPU."""
        self._prepare(1, {name: row[name].shape[1:] for name in self.inputs})
        for name, detail in self.inputs.items():
            self.interpreter.set_tensor(detail["index"], _to_input(row[name], detail))
        with timing_lock():  # one advisor process times at a time, so parallel workers do not slow each other's figures
            for _ in range(WARMUP):
                self.interpreter.invoke()
            times = []
            for _ in range(runs):
                start = time.perf_counter_ns()
                self.interpreter.invoke()
                times.append((time.perf_counter_ns() - start) / 1e6)
        times.sort()
        return statistics.median(times), times[min(len(times) - 1, int(round(0.9 * (len(times) - 1))))]


def timing_lock():
    """This host's latency lock (an flock on a file in the temporary folder): workers measuring at once would
    each report the other's load as their model's latency."""
    from advisor._filelock import exclusive

    return exclusive(os.path.join(tempfile.gettempdir(), "advisor-latency.lock"))


def top1(scores: np.ndarray) -> np.ndarray:
    return scores.reshape(len(scores), -1).argmax(axis=1)
