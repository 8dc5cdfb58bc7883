"""`selective_integer`: full-integer quantization except the layers most sensitive to it.

The LiteRT quantization debugger measures each quantized layer's error (RMSE over its scale) on
the representative sample; the GrowingDenylist search keeps the worst k layers in float, growing k
while the accuracy or fidelity goals are missed (judged by the step's Judge, on data other than the
evaluation set) and the size goal still holds.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from advisor.errors import SchemeFailed
from advisor.executor import convert as conv
from advisor.executor.step import StepContext, StepResult
from advisor.models.report import RankedLayer, SelectiveStep, StepFindings
from advisor.executor.tf_env import quiet, tensorflow
from advisor.engine.search import GrowingDenylist, search

MAX_FLOAT_LAYERS = 8
SENSITIVE = 0.7  # rmse/scale above this is suspect (LiteRT's debugger guide); used without an accuracy goal


@dataclass(frozen=True)
class Layer:
    tensor: str
    op: str
    error: float  # rmse / scale


@dataclass(frozen=True)
class Candidate:
    content: bytes
    layers: list[str]
    accuracy_drop: float | None
    size_holds: bool
    meets: bool | None


def rank_layers(context: StepContext, model) -> list[Layer]:
    """Every quantized layer by its quantization error, worst first."""
    tf = tensorflow()
    task = context.progress.task("ranking layers by quantization error", total=None)
    with quiet():
        try:
            debugger = tf.lite.experimental.QuantizationDebugger(converter=_converter(context, model),
                                                                 debug_dataset=_calibration(context, by_name=False))
            debugger.run()
            buffer = io.StringIO()
            debugger.layer_statistics_dump(buffer)
        except Exception as err:  # the debugger surfaces converter and interpreter errors alike
            raise SchemeFailed(f"selective_integer: the quantization debugger failed: {conv.last_line(str(err))}") from None
    task.finish()
    ranked = []
    for row in csv.DictReader(io.StringIO(buffer.getvalue())):
        scale = float(row["scale"] or 0)
        if scale > 0:
            ranked.append(Layer(row["tensor_name"], row["op_name"], float(row["mean_squared_error"]) ** 0.5 / scale))
    return sorted(ranked, key=lambda layer: -layer.error)


def selective_integer(context: StepContext, model) -> StepResult:
    ranked = rank_layers(context, model)
    return keep_worst_in_float(context, ranked, lambda layers: _convert_keeping_float(context, model, layers))


def keep_worst_in_float(context: StepContext, ranked: list[Layer], keeping_float) -> StepResult:
    """The GrowingDenylist search over `ranked` (worst first): `keeping_float(tensors)` makes the model
    with those layers left in float; the step's Judge says when the goals are met."""
    if not ranked:
        raise SchemeFailed("selective_integer: no quantized layer was ranked to keep in float")
    judge = context.judge

    def evaluate(k: int) -> Candidate:
        layers = [layer.tensor for layer in ranked[:k]]
        content = keeping_float(layers)
        meets, drop = judge.meets(content) if judge else (None, None)
        return Candidate(content, layers, drop, judge.size_holds(content) if judge else True, meets)

    strategy = GrowingDenylist(limit=min(MAX_FLOAT_LAYERS, len(ranked)),
                               enough_without_goal=sum(1 for layer in ranked if layer.error > SENSITIVE))
    result = search(strategy, evaluate)
    chosen = result.trials[result.chosen].outcome
    findings = StepFindings(
        float_layers=chosen.layers,
        selective_steps=[SelectiveStep(float_layers=t.candidate, layers=t.outcome.layers, accuracy_drop=t.outcome.accuracy_drop,
                                       size_bytes=len(t.outcome.content), size_goal_holds=t.outcome.size_holds)
                         for t in result.trials],
        layer_ranking=[RankedLayer(layer=l.tensor, op=l.op, rmse_over_scale=round(l.error, 4)) for l in ranked[:10]],
        selective_judged_on=judge.data if judge is not None else None,
    )
    return StepResult(content=chosen.content, findings=findings)


def _convert_keeping_float(context: StepContext, model, layers: list[str]) -> bytes:
    tf = tensorflow()
    task = context.progress.task(f"converting: selective_integer, {len(layers)} layer(s) in float", total=None)
    with quiet():
        try:
            options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=layers)
            debugger = tf.lite.experimental.QuantizationDebugger(
                converter=_converter(context, model), debug_dataset=_calibration(context, by_name=False), debug_options=options
            )
            content = bytes(debugger.get_nondebug_quantized_model())
        except Exception as err:
            raise SchemeFailed(f"selective_integer: conversion with {len(layers)} float layer(s) failed: {conv.last_line(str(err))}") from None
    task.finish()
    conv.verify_loads(content, "selective_integer")
    return content


def _converter(context: StepContext, model):
    tf = tensorflow()
    with quiet():
        converter = conv.converter_for(model, context.loaded, conv.batch_of(context), context.workdir)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = _calibration(context)
    return converter


def _calibration(context: StepContext, by_name: bool = True):
    if context.representative is None:
        raise SchemeFailed("selective_integer calibrates on a representative sample (inputs.representative)")
    return conv.representative_dataset(context.representative, by_name=by_name, ids=context.loaded.id_inputs)
