"""TFLiteConverter plumbing: build a converter for any model kind, run it quietly, verify the result."""

from __future__ import annotations

import tempfile
from collections.abc import Callable

from advisor.errors import SchemeFailed, shorten
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
    # an input of integer ids is taken as int32 (and cast to what the model declares), so that no scheme
    # quantizes it: an int8 id loses every id above the few its scale can hold
    specs = [tf.TensorSpec([batch, *spec.shape], "int32" if spec.name in loaded.id_inputs else spec.dtype,
                           name=tensor_name(spec.name)) for spec in signature.inputs]
    declared = [spec.dtype for spec in signature.inputs]
    outputs = [tensor_name(spec.name) for spec in signature.outputs]

    def cast(args):
        return [tf.cast(arg, dtype) if arg.dtype != dtype else arg for arg, dtype in zip(args, declared)]
    if model is None and loaded.saved_model is not None:
        serving = loaded.saved_model.signatures["serving_default"]
        names = signature.input_names

        def call(*args):
            produced = serving(**dict(zip(names, cast(args))))
            return {tensor_name(key): value for key, value in produced.items()}

        function = tf.function(call).get_concrete_function(*specs)
        return tf.lite.TFLiteConverter.from_concrete_functions([function], loaded.saved_model)
    keras_model = model if model is not None else (loaded.convertible or loaded.keras)

    def call(*args):
        args = cast(args)
        produced = keras_model(list(args) if len(args) > 1 else args[0], training=False)
        if isinstance(produced, dict):
            produced = [produced[name] for name in signature.output_names]
        produced = produced if isinstance(produced, (list, tuple)) else [produced]
        return dict(zip(outputs, produced))

    if model is None and loaded.format.value == "keras3" and loaded.convertible is None:
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
    `configure(converter, tf)`, and check that LiteRT can load the result.

    The batch is the target's (1 on integer-only targets), else the model's own, else dynamic; when a
    dynamic batch does not convert (recurrent and attention models often do not), the model is converted
    at batch 1 from then on, for every scheme, and the loaded model says so in `batch_note`."""
    loaded = context.loaded
    batch = batch_of(context)
    try:
        content = _convert_at(context, model, scheme, configure, batch)
    except SchemeFailed as err:
        if batch is not None:
            raise
        content = _convert_at(context, model, scheme, configure, 1)
        loaded.batch = 1
        loaded.batch_note = (f"converted at batch 1: with a dynamic batch the converter failed ({str(err).split(': ', 1)[-1]}); "
                             "every scheme is converted at batch 1")
    verify_loads(content, scheme)
    return content


def batch_of(context) -> int | None:
    """The batch to convert at: the target's (1 on integer-only targets), else the model's own, else dynamic."""
    return context.batch if context.batch is not None else context.loaded.batch


def _convert_at(context, model, scheme: str, configure, batch: int | None) -> bytes:
    tf = tensorflow()
    with quiet():
        converter = converter_for(model, context.loaded, batch, context.workdir)
    if configure is not None:
        configure(converter, tf)
    task = context.progress.task(f"converting: {scheme}" + (f" at batch {batch}" if batch else ""), total=None)
    try:
        return run_converter(converter, scheme)
    finally:
        task.finish()


def calibration(context) -> Callable:
    """The converter's representative_dataset for `context`; SchemeFailed without a sample."""
    if context.representative is None:
        raise SchemeFailed("this scheme calibrates on a representative sample (inputs.representative)")
    return representative_dataset(context.representative, context.progress, ids=context.loaded.id_inputs)


def representative_dataset(data, progress=None, label: str = "calibrating", by_name: bool = True, ids=()) -> Callable:
    """The converter's representative_dataset: one sample at a time, every input, named as the
    .tflite signature names it (`by_name=False`: a list in input order, as the quantization
    debugger takes it), advancing a progress bar; inputs of integer ids (`ids`) as int32."""

    def generate():
        task = progress.task(label, total=len(data)) if progress is not None else None
        for i in range(len(data)):
            row = {k: v.astype("int32") if k in ids else v for k, v in data.row(i).items()}
            yield {tensor_name(k): v for k, v in row.items()} if by_name else list(row.values())
            if task is not None:
                task.advance(1)
        if task is not None:
            task.finish()

    return generate


def run_converter(converter, scheme: str) -> bytes:
    """convert(), quietly; a converter error becomes SchemeFailed in one line: the unsupported ops, or
    the failing op's own error without the MLIR locations around it."""
    with quiet() as captured:
        try:
            return bytes(converter.convert())
        except Exception as err:  # ConverterError and friends: the reason is in the text
            text = str(err) + "\n" + captured.text
            message = _unsupported_ops(text) or converter_error(text) or last_line(str(err))
            raise SchemeFailed(f"{scheme}: conversion failed: {message}") from None


def converter_error(text: str) -> str | None:
    """The converter's first error line without its MLIR location (`loc(...)`, `<unknown>:0:`)."""
    for line in text.splitlines():
        if "error:" not in line:
            continue
        reason = line.split("error:", 1)[1].strip()
        if reason.startswith("loc("):
            depth, end = 0, None
            for i, char in enumerate(reason):
                depth += char == "("
                depth -= char == ")"
                if depth == 0 and char == ")":
                    end = i
                    break
            reason = reason[end + 1:].lstrip(" :") if end is not None else reason
        if reason and not reason.startswith("Lowering") and "failed while converting" not in reason:
            return shorten(reason, 300)
    return None


def _unsupported_ops(text: str) -> str | None:
    for line in text.splitlines():
        if "TF Select ops:" in line or "Flex ops:" in line:
            return "ops with no LiteRT builtin kernel: " + line.split(":", 1)[1].strip()
        if "is neither a custom op nor a flex op" in line:
            op = line.split("'")[1] if "'" in line else line
            return f"op {op} has no LiteRT builtin kernel"
    return None


def last_line(text: str) -> str:
    """A tool's error in one line: the converter's own error where there is one, else its first line."""
    found = converter_error(text)
    if found:
        return found
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return shorten(lines[0] if lines else "unknown converter error", 300)


def verify_loads(content: bytes, scheme: str) -> None:
    """Load and prepare the model in the LiteRT interpreter; some models fail only here (16x8)."""
    from ai_edge_litert.interpreter import Interpreter

    with quiet():
        try:
            interpreter = Interpreter(model_content=content)
            interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as err:
            raise SchemeFailed(f"{scheme}: LiteRT cannot prepare the model: {last_line(str(err))}") from None
