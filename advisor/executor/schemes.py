"""How each scheme and pre-step is carried out, each a step of the one contract in step.py.
rules/schemes.yaml points at these by name (`executor: advisor.executor.schemes:float16`), so the
rules engine never imports this module."""

from __future__ import annotations

from advisor.executor import training
from advisor.executor.convert import calibration, convert
from advisor.executor.step import StepContext, StepResult
from advisor.models.report import StepFindings


def float32(context: StepContext, model) -> StepResult:
    return StepResult(content=convert(context, model, "float32"))


def float16(context: StepContext, model) -> StepResult:
    def configure(converter, tf):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]

    return StepResult(content=convert(context, model, "float16", configure))


def dynamic_range(context: StepContext, model) -> StepResult:
    def configure(converter, tf):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]

    return StepResult(content=convert(context, model, "dynamic_range", configure))


def _int8_everywhere(context: StepContext):
    """Int8 kernels where LiteRT has them; an op without one stays float (a mixed model, which the
    hardware check accepts on targets that run float and rejects, naming the op, on the others);
    int8 I/O for integer-only targets."""

    def configure(converter, tf):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = calibration(context)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if context.integer_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8

    return configure


def full_integer(context: StepContext, model) -> StepResult:
    return StepResult(content=convert(context, model, "full_integer", _int8_everywhere(context)))


def int16x8(context: StepContext, model) -> StepResult:
    def configure(converter, tf):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = calibration(context)
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        ]
        if context.integer_io:
            converter.inference_input_type = tf.int16
            converter.inference_output_type = tf.int16

    return StepResult(content=convert(context, model, "int16x8", configure))


def qat(context: StepContext, model) -> StepResult:
    start = model if model is not None else context.loaded.fresh_keras2()
    trained, logs, left = training.quantization_aware(start, context.train, context.options, preserve=context.applied,
                                                      progress=context.progress)
    content = convert(context, trained, "qat", _int8_everywhere(context))
    findings = StepFindings(qat_train_accuracy=round(logs["accuracy"], 4) if "accuracy" in logs else None,
                            qat_unannotated_layers=left or None)
    notes = ()
    if left:
        notes = (f"quantization-aware training left {len(left)} layer(s) TFMOT does not support unannotated: "
                 f"{', '.join(left[:8])}",)
    return StepResult(content=content, findings=findings, notes=notes)


def pruning(context: StepContext, model) -> StepResult:
    start = model if model is not None else context.loaded.fresh_keras2()
    pruned = training.prune(start, context.train, context.options, progress=context.progress)
    return StepResult(model=pruned, findings=StepFindings(target_sparsity=context.options.sparsity))


def clustering(context: StepContext, model) -> StepResult:
    start = model if model is not None else context.loaded.fresh_keras2()
    clustered = training.cluster(start, context.train, context.options, preserve_sparsity="pruning" in context.applied,
                                 progress=context.progress)
    return StepResult(model=clustered, findings=StepFindings(clusters=context.options.clusters))


def selective_integer(context: StepContext, model) -> StepResult:
    from advisor.executor.selective import selective_integer as carry_out

    return carry_out(context, model)
