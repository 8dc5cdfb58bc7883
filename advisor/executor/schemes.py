"""How each scheme and pre-step is carried out. rules/schemes.yaml points at these by name
(`executor: advisor.executor.schemes:float16`), so the rules engine never imports this module."""

from __future__ import annotations

from advisor.executor import training


def float32(job, model):
    return job.convert(model, "float32")


def float16(job, model):
    def configure(converter, tf):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]

    return job.convert(model, "float16", configure)


def dynamic_range(job, model):
    def configure(converter, tf):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]

    return job.convert(model, "dynamic_range", configure)


def _int8_everywhere(job):
    """Int8 kernels only (an op without one fails the conversion); int8 I/O for integer-only targets."""

    def configure(converter, tf):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = job.representative_dataset()
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if job.integer_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8

    return configure


def full_integer(job, model):
    return job.convert(model, "full_integer", _int8_everywhere(job), integer_activations="int8")


def int16x8(job, model):
    def configure(converter, tf):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = job.representative_dataset()
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        ]
        if job.integer_io:
            converter.inference_input_type = tf.int16
            converter.inference_output_type = tf.int16

    return job.convert(model, "int16x8", configure, integer_activations="int16")


def qat(job, model):
    trained = job.quantization_aware(model)
    return job.convert(trained, "qat", _int8_everywhere(job), integer_activations="int8")


def pruning(job, model, applied: tuple[str, ...]):
    return training.prune(model, job.train, job.options, progress=job.progress)


def clustering(job, model, applied: tuple[str, ...]):
    return training.cluster(
        model, job.train, job.options, preserve_sparsity="pruning" in applied, progress=job.progress
    )


def selective_integer(job, model):
    from advisor.executor.selective import selective_integer as carry_out

    return carry_out(job, model)
