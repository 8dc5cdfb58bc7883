"""`selective_integer`: full-integer quantization except the layers most sensitive to it.

The LiteRT quantization debugger measures each quantized layer's error (RMSE over its scale) on
the representative sample; the worst k layers are kept in float, growing k only while the
accuracy goal is missed and the size goal still holds.
"""

from __future__ import annotations

import csv
import io

from advisor.errors import SchemeFailed
from advisor.executor import convert as conv
from advisor.executor.tf_env import quiet, tensorflow

MAX_FLOAT_LAYERS = 8
SENSITIVE = 0.7  # rmse/scale above this is suspect (LiteRT's debugger guide); used without an accuracy goal


def rank_layers(job, model) -> list[tuple[str, str, float]]:
    """(tensor name, op name, rmse/scale) of every quantized layer, worst first."""
    tf = tensorflow()
    converter = _converter(job, model)
    task = job.progress.task("ranking layers by quantization error", total=None) if job.progress else None
    with quiet():
        try:
            debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_dataset=_dataset(job))
            debugger.run()
            buffer = io.StringIO()
            debugger.layer_statistics_dump(buffer)
        except Exception as err:  # the debugger surfaces converter and interpreter errors alike
            raise SchemeFailed(f"selective_integer: the quantization debugger failed: {conv._last_line(str(err))}") from None
    if task is not None:
        task.finish()
    ranked = []
    for row in csv.DictReader(io.StringIO(buffer.getvalue())):
        scale = float(row["scale"] or 0)
        if scale > 0:
            ranked.append((row["tensor_name"], row["op_name"], float(row["mean_squared_error"]) ** 0.5 / scale))
    return sorted(ranked, key=lambda r: -r[2])


def selective_integer(job, model) -> bytes:
    tf = tensorflow()
    ranked = rank_layers(job, model)
    if not ranked:
        raise SchemeFailed("selective_integer: the debugger found no quantized layer to keep in float")
    judge = job.judge
    steps = []
    chosen = None
    limit = min(MAX_FLOAT_LAYERS, len(ranked))
    for k in range(1, limit + 1):
        denied = [name for name, _, _ in ranked[:k]]
        task = job.progress.task(f"converting: selective_integer, {k} layer(s) in float", total=None) if job.progress else None
        with quiet():
            try:
                options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=denied)
                debugger = tf.lite.experimental.QuantizationDebugger(
                    converter=_converter(job, model), debug_dataset=_dataset(job), debug_options=options
                )
                content = bytes(debugger.get_nondebug_quantized_model())
            except Exception as err:
                raise SchemeFailed(f"selective_integer: conversion with {k} float layer(s) failed: {conv._last_line(str(err))}") from None
        if task is not None:
            task.finish()
        conv.verify_loads(content, "selective_integer")
        accuracy = judge.accuracy(content) if judge else None
        size_holds = judge.size_holds(content) if judge else True
        steps.append({"float_layers": k, "layers": denied, "accuracy": accuracy, "size_bytes": len(content), "size_goal_holds": size_holds})
        if not size_holds and chosen is not None:
            break
        chosen = (content, denied)
        if not size_holds:
            break
        if judge is None or judge.accuracy_goal is None or accuracy is None:
            if k >= sum(1 for _, _, err in ranked if err > SENSITIVE):
                break
            continue
        if judge.baseline_accuracy - accuracy <= judge.accuracy_goal + 1e-12:
            break
    content, denied = chosen
    job.extras_for_current = {
        "float_layers": denied,
        "selective_steps": steps,
        "layer_ranking": [{"layer": name, "op": op, "rmse_over_scale": round(err, 4)} for name, op, err in ranked[:10]],
    }
    return content


def _converter(job, model):
    tf = tensorflow()
    with quiet():
        converter = conv.converter_for(model, job.loaded, job.batch, job.workdir)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = _dataset(job)
    return converter


def _dataset(job):
    if job.representative is None:
        raise SchemeFailed("selective_integer calibrates on a representative sample (inputs.representative)")
    x = job.representative

    def generate():
        for i in range(len(x)):
            yield [x[i : i + 1]]

    return generate
