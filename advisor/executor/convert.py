"""TFLiteConverter plumbing: build a converter for any model kind, run it quietly, verify the result."""

from __future__ import annotations

import tempfile
from collections.abc import Callable

import numpy as np

from advisor.errors import SchemeFailed
from advisor.executor.tf_env import quiet, tensorflow
from advisor.tflite_graph import read_graph

BOUNDARY_OPS = {"QUANTIZE", "DEQUANTIZE"}


def converter_for(model, loaded, batch: int | None, workdir: str):
    """A TFLiteConverter for `model` (a tf-keras model) or, when None, the loaded original.

    `batch` fixes the batch dimension (1 for integer-only accelerators) or leaves it dynamic (None).
    """
    tf = tensorflow()
    shape = [batch, *loaded.input_shape]
    spec = tf.TensorSpec(shape, loaded.input_dtype)
    if model is None and loaded.saved_model is not None:
        signature = loaded.saved_model.signatures["serving_default"]
        name = loaded.input_name
        function = tf.function(lambda t: signature(**{name: t})).get_concrete_function(spec)
        return tf.lite.TFLiteConverter.from_concrete_functions([function], loaded.saved_model)
    if model is None and loaded.format.value == "keras3":
        # Keras 3 variables are not captured by a traced call; export a SavedModel with the batch fixed.
        export_dir = tempfile.mkdtemp(prefix="keras3-export-", dir=workdir)
        loaded.keras.export(export_dir, format="tf_saved_model", input_signature=[spec], verbose=False)
        return tf.lite.TFLiteConverter.from_saved_model(export_dir)
    keras_model = model if model is not None else loaded.keras
    if batch is None:
        return tf.lite.TFLiteConverter.from_keras_model(keras_model)
    function = tf.function(lambda t: keras_model(t, training=False)).get_concrete_function(spec)
    return tf.lite.TFLiteConverter.from_concrete_functions([function], keras_model)


def convert(context, model, scheme: str, configure=None, integer_activations: str | None = None) -> bytes:
    """Convert `model` (None: the loaded original) for `context`'s target, configured by
    `configure(converter, tf)`; checks integer kernels when asked and that LiteRT can load the result."""
    tf = tensorflow()
    with quiet():
        converter = converter_for(model, context.loaded, context.batch, context.workdir)
    if configure is not None:
        configure(converter, tf)
    task = context.progress.task(f"converting: {scheme}", total=None)
    try:
        content = run_converter(converter, scheme)
    finally:
        task.finish()
    if integer_activations:
        require_integer(content, scheme, integer_activations)
    verify_loads(content, scheme)
    return content


def calibration(context) -> Callable:
    """The converter's representative_dataset for `context`; SchemeFailed without a sample."""
    if context.representative is None:
        raise SchemeFailed("this scheme calibrates on a representative sample (inputs.representative)")
    return representative_dataset(context.representative, context.progress)


def representative_dataset(x: np.ndarray, progress=None, label: str = "calibrating") -> Callable:
    """The converter's representative_dataset: one sample at a time, advancing a progress bar."""

    def generate():
        task = progress.task(label, total=len(x)) if progress is not None else None
        for i in range(len(x)):
            yield [x[i : i + 1]]
            if task is not None:
                task.advance(1)
        if task is not None:
            task.finish()

    return generate


def run_converter(converter, scheme: str) -> bytes:
    """convert(), quietly; a converter error becomes SchemeFailed naming the unsupported ops."""
    with quiet() as captured:
        try:
            return bytes(converter.convert())
        except Exception as err:  # ConverterError and friends: the reason is in the text
            message = _unsupported_ops(str(err) + captured.text) or last_line(str(err))
            raise SchemeFailed(f"{scheme}: conversion failed: {message}") from None


def _unsupported_ops(text: str) -> str | None:
    for line in text.splitlines():
        if "TF Select ops:" in line or "Flex ops:" in line:
            return "ops with no LiteRT builtin kernel: " + line.split(":", 1)[1].strip()
        if "is neither a custom op nor a flex op" in line:
            op = line.split("'")[1] if "'" in line else line
            return f"op {op} has no LiteRT builtin kernel"
    return None


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[0] if lines else "unknown converter error")[:300]


def require_integer(content: bytes, scheme: str, activations: str) -> None:
    """Fail, naming each op, when an op kept float activations (it has no `activations` kernel)."""
    graph = read_graph(content)
    floating = [
        op for op in graph.ops if op.name not in BOUNDARY_OPS and op.activation_dtypes() & {"float32", "float16"}
    ]
    if floating:
        names = ", ".join(f"{op.name} (op {op.index})" for op in floating[:8])
        raise SchemeFailed(
            f"{scheme}: {len(floating)} op(s) have no {activations} kernel and would stay float: {names}"
        )


def verify_loads(content: bytes, scheme: str) -> None:
    """Load and prepare the model in the LiteRT interpreter; some models fail only here (16x8)."""
    from ai_edge_litert.interpreter import Interpreter

    with quiet():
        try:
            interpreter = Interpreter(model_content=content)
            interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as err:
            raise SchemeFailed(f"{scheme}: LiteRT cannot prepare the model: {last_line(str(err))}") from None
