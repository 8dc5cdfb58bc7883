"""TFLiteConverter plumbing: build a converter for any model kind, run it quietly, verify the result."""

from __future__ import annotations

import tempfile
from collections.abc import Callable

from advisor.errors import SchemeFailed
from advisor.executor.tf_env import quiet, tensorflow
from advisor.models.signature import tensor_name

def converter_for(model, loaded, batch: int | None, workdir: str):
    """A TFLiteConverter for `model` (a tf-keras model) or, when None, the loaded original.

    The .tflite's serving signature names every input and output as the model's signature does
    (through `tensor_name`), so data and measurements are matched by name, never by position.
    `batch` fixes the batch dimension (1 for integer-only accelerators) or leaves it dynamic (None).
    """
    tf = tensorflow()
    signature = loaded.signature
    specs = [tf.TensorSpec([batch, *spec.shape], spec.dtype, name=tensor_name(spec.name)) for spec in signature.inputs]
    outputs = [tensor_name(spec.name) for spec in signature.outputs]
    if model is None and loaded.saved_model is not None:
        serving = loaded.saved_model.signatures["serving_default"]
        names = signature.input_names

        def call(*args):
            produced = serving(**dict(zip(names, args)))
            return {tensor_name(key): value for key, value in produced.items()}

        function = tf.function(call).get_concrete_function(*specs)
        return tf.lite.TFLiteConverter.from_concrete_functions([function], loaded.saved_model)
    keras_model = model if model is not None else loaded.keras

    def call(*args):
        produced = keras_model(list(args) if len(args) > 1 else args[0], training=False)
        if isinstance(produced, dict):
            produced = [produced[name] for name in signature.output_names]
        produced = produced if isinstance(produced, (list, tuple)) else [produced]
        return dict(zip(outputs, produced))

    if model is None and loaded.format.value == "keras3":
        # Keras 3 variables are not captured by a traced call: export them with the endpoint.
        import keras

        export_dir = tempfile.mkdtemp(prefix="keras3-export-", dir=workdir)
        archive = keras.export.ExportArchive()
        archive.track(keras_model)
        archive.add_endpoint("serve", call, input_signature=specs)
        archive.write_out(export_dir, verbose=False)
        return tf.lite.TFLiteConverter.from_saved_model(export_dir)
    function = tf.function(call).get_concrete_function(*specs)
    return tf.lite.TFLiteConverter.from_concrete_functions([function], keras_model)


def convert(context, model, scheme: str, configure=None) -> bytes:
    """Convert `model` (None: the loaded original) for `context`'s target, configured by
    `configure(converter, tf)`, and check that LiteRT can load the result."""
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
    verify_loads(content, scheme)
    return content


def calibration(context) -> Callable:
    """The converter's representative_dataset for `context`; SchemeFailed without a sample."""
    if context.representative is None:
        raise SchemeFailed("this scheme calibrates on a representative sample (inputs.representative)")
    return representative_dataset(context.representative, context.progress)


def representative_dataset(data, progress=None, label: str = "calibrating", by_name: bool = True) -> Callable:
    """The converter's representative_dataset: one sample at a time, every input, named as the
    .tflite signature names it (`by_name=False`: a list in input order, as the quantization
    debugger takes it), advancing a progress bar."""

    def generate():
        task = progress.task(label, total=len(data)) if progress is not None else None
        for i in range(len(data)):
            row = data.row(i)
            yield {tensor_name(k): v for k, v in row.items()} if by_name else list(row.values())
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


def verify_loads(content: bytes, scheme: str) -> None:
    """Load and prepare the model in the LiteRT interpreter; some models fail only here (16x8)."""
    from ai_edge_litert.interpreter import Interpreter

    with quiet():
        try:
            interpreter = Interpreter(model_content=content)
            interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as err:
            raise SchemeFailed(f"{scheme}: LiteRT cannot prepare the model: {last_line(str(err))}") from None
