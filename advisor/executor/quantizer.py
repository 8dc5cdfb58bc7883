"""The LiteRT Quantizer backend (`litert-quantizer`): each post-training scheme as a recipe applied to a
float32 .tflite. A .tflite input is quantized as it is, without TensorFlow; a Keras model or a
SavedModel is converted to float32 by the TFLite converter first.

    float16            weight-only float casting to 16 bits (weights dequantized at run time)
    dynamic_range      dynamic_wi8_afp32: int8 weights per channel, activations quantized at run time
    full_integer       static_wi8_ai8, calibrated on the representative sample (int8 inputs and outputs)
    int16x8            static_wi8_ai16 (int16 activations, int8 weights, int64 biases)
    selective_integer  static_wi8_ai8 with the layers its validation ranks worst left unquantized
    weight_only_int4   weight_only_wi4_afp32: int4 weights per channel, dequantized to float at run time
"""

from __future__ import annotations

import re

import numpy as np

from advisor.errors import SchemeFailed
from advisor.executor.step import StepContext, StepResult
from advisor.models.signature import tensor_name

BACKEND = "quantizer"


def _float_model(context: StepContext, model) -> bytes:
    """The float32 .tflite the recipes start from: the input itself, or the converter's float32 file."""
    if model is not None:
        from advisor.executor.convert import convert

        return convert(context, model, "float32")
    if context.loaded.tflite is None:  # converted once per loaded model, then shared by every recipe
        from advisor.executor.convert import convert

        context.loaded.float_tflite = context.loaded.float_tflite or convert(context, None, "float32")
        return context.loaded.float_tflite
    return context.loaded.tflite


def _quantize(context: StepContext, model, scheme: str, configure, calibrate: bool = False) -> bytes:
    from advisor._quiet import quiet

    with quiet():
        from litert_quantizer import quantizer

    source = _float_model(context, model)
    task = context.progress.task(f"quantizing: {scheme} (LiteRT Quantizer)", total=None)
    try:
        with quiet():
            engine = quantizer.Quantizer(bytearray(source))
            configure(engine)
            if calibrate and context.loaded.id_inputs:
                _keep_inputs_float(engine)
            result = engine.quantize(_calibrate(engine, context, source, scheme) if calibrate else None)
    except SchemeFailed:
        raise
    except Exception as err:  # the quantizer raises ValueError/RuntimeError with its reason
        from advisor.executor.convert import last_line

        raise SchemeFailed(f"{scheme}: LiteRT Quantizer failed: {last_line(str(err))}") from None
    finally:
        task.finish()
    content = bytes(result.quantized_model)
    if context.integer_io:  # an integer-only target runs batch 1: the quantizer keeps the float model's dynamic batch
        from advisor.reading.tflite_repair import fix_batch

        content = fix_batch(content, 1)
    _verify_loads(content, scheme)
    return content


def _keep_inputs_float(engine) -> None:
    """The model's inputs stay float32 (LiteRT Quantizer quantizes all of a model's inputs or none): an input
    of integer ids must not become int8."""
    from litert_quantizer import qtyping
    from litert_quantizer.algorithm_manager import AlgorithmName

    engine.update_quantization_recipe(regex=".*", operation_name=qtyping.TFLOperationName.INPUT,
                                      algorithm_key=AlgorithmName.NO_QUANTIZE)


def _calibrate(engine, context: StepContext, source: bytes, scheme: str):
    """Calibration on the representative sample, fed by the float model's signature names."""
    if context.representative is None:
        raise SchemeFailed(f"{scheme} calibrates on a representative sample (inputs.representative)")
    from advisor.reading.tflite import signature_key

    key = signature_key(source)
    data = context.representative
    rows = []
    task = context.progress.task("calibrating", total=len(data))
    for i in range(len(data)):
        rows.append({tensor_name(name): np.asarray(value) for name, value in data.row(i).items()})
        task.advance(1)
    task.finish()
    return engine.calibrate({key: rows})


def _verify_loads(content: bytes, scheme: str) -> None:
    from advisor.executor.convert import verify_loads

    verify_loads(content, scheme)


def _recipe(name: str):
    def configure(engine):
        from litert_quantizer import recipe

        engine.load_quantization_recipe(getattr(recipe, name)())

    return configure


def float32(context: StepContext, model) -> StepResult:
    return StepResult(content=_float_model(context, model))


def float16(context: StepContext, model) -> StepResult:
    def configure(engine):
        from litert_quantizer import qtyping
        from litert_quantizer.algorithm_manager import AlgorithmName

        engine.add_weight_only_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED, num_bits=16,
                                      algorithm_key=AlgorithmName.FLOAT_CASTING)

    return StepResult(content=_quantize(context, model, "float16", configure))


def dynamic_range(context: StepContext, model) -> StepResult:
    return StepResult(content=_quantize(context, model, "dynamic_range", _recipe("dynamic_wi8_afp32")))


def full_integer(context: StepContext, model) -> StepResult:
    return StepResult(content=_quantize(context, model, "full_integer", _recipe("static_wi8_ai8"), calibrate=True))


def int16x8(context: StepContext, model) -> StepResult:
    return StepResult(content=_quantize(context, model, "int16x8", _recipe("static_wi8_ai16"), calibrate=True))


def weight_only_int4(context: StepContext, model) -> StepResult:
    return StepResult(content=_quantize(context, model, "weight_only_int4", _recipe("weight_only_wi4_afp32")))


def scope_regex(tensor: str) -> str:
    """The recipe regex for the op that outputs `tensor`: LiteRT Quantizer matches re.search against an op's
    scope, its output names each followed by ';'. Anchored, so that no op whose name contains another's
    (`dense_1`, `my_dense`) is left float with it."""
    return f"(^|;){re.escape(tensor)};"


def selective_integer(context: StepContext, model) -> StepResult:
    """static_wi8_ai8, with the layers its own validation ranks worst (error over the quantization
    step, as LiteRT's debugger ranks them) left unquantized through the recipe's regex scope."""
    from advisor.executor.selective import Layer, keep_worst_in_float
    from advisor.reading.tflite import read_graph, tensor_scales

    source = _float_model(context, model)
    ops = read_graph(source).ops
    outputs = {t.name: op.name for op in ops for t in op.outputs}
    inputs = {t.name: [i.name for i in op.inputs if not i.constant] for op in ops for t in op.outputs}
    errors: dict[str, float] = {}

    def rank(engine, quantized: bytes):
        from litert_quantizer.utils.validation_utils import ValidationErrorMetric

        from advisor.reading.tflite import signature_key

        key = signature_key(source)
        data = {key: [{tensor_name(n): np.asarray(v) for n, v in context.representative.row(i).items()}
                      for i in range(min(len(context.representative), 32))]}
        result = engine.validate(data, error_metrics=[ValidationErrorMetric.MSE]).get_signature_comparison_result(key)
        scales = tensor_scales(quantized)
        measured = {**result.intermediate_tensors, **result.output_tensors}
        total = {name: float(m["mse"]) ** 0.5 / scales[name] for name, m in measured.items() if scales.get(name)}
        # the validation runs the whole model, so each tensor's error includes what came in with its
        # inputs: a layer is charged only with what it adds (as the converter's debugger measures it)
        for name, error in total.items():
            if name in outputs:
                errors[name] = max(0.0, error - max((total.get(i, 0.0) for i in inputs.get(name, [])), default=0.0))

    task = context.progress.task("ranking layers by quantization error (LiteRT Quantizer)", total=None)
    try:
        from advisor._quiet import quiet

        with quiet():
            from litert_quantizer import quantizer

            engine = quantizer.Quantizer(bytearray(source))
            _recipe("static_wi8_ai8")(engine)
            quantized = engine.quantize(_calibrate(engine, context, source, "selective_integer")).quantized_model
            rank(engine, bytes(quantized))
    except SchemeFailed:
        raise
    except Exception as err:
        from advisor.executor.convert import last_line

        raise SchemeFailed(f"selective_integer: LiteRT Quantizer's validation failed: {last_line(str(err))}") from None
    finally:
        task.finish()
    ranked = sorted((Layer(name, outputs[name], error) for name, error in errors.items()), key=lambda layer: -layer.error)

    def keeping_float(layers: list[str]) -> bytes:
        def configure(engine):
            from litert_quantizer import qtyping
            from litert_quantizer.algorithm_manager import AlgorithmName

            _recipe("static_wi8_ai8")(engine)
            for layer in layers:
                engine.update_quantization_recipe(regex=scope_regex(layer), operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                                                  algorithm_key=AlgorithmName.NO_QUANTIZE)

        return _quantize(context, model, f"selective_integer, {len(layers)} layer(s) in float", configure, calibrate=True)

    return keep_worst_in_float(context, ranked, keeping_float)
