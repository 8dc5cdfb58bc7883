"""Load a model for the executor: a Keras model (tf-keras or Keras 3) or a SavedModel with TensorFlow,
a .tflite (repaired, see reading/tflite_repair.py) without it. The format is what reading the file
found (advisor.reading); loading only adds the objects the steps need.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from advisor.errors import ModelError, SchemeFailed, shorten
from advisor.models.model_file import ModelFormat
from advisor.models.signature import ModelSignature, TensorSpec
from advisor.reading.keras_object import dims as _dims
from advisor.reading.keras_object import dtype_name as _dtype_name
from advisor.reading.keras_object import is_tf_keras as _is_tf_keras
from advisor.reading.keras_object import signature_of as keras_signature
from advisor.reading.keras_object import unique as _unique
from advisor.reading.tflite_repair import Metadata


@dataclass
class LoadedModel:
    """A model ready for conversion, with what the data checks need to know about its input."""

    path: str
    format: ModelFormat
    keras: object | None  # the Keras object (tf-keras or Keras 3), None for a plain SavedModel
    saved_model: object | None  # the tf.saved_model.load object for a plain SavedModel
    signature: ModelSignature
    custom_objects: dict | None = None
    notes: tuple[str, ...] = ()
    tflite: bytes | None = field(default=None, repr=False)  # the float32 .tflite given as the model (repaired)
    metadata: Metadata = field(default_factory=Metadata, repr=False)  # what the given .tflite carried beside its graph
    float_tflite: bytes | None = field(default=None, repr=False)  # the converter's float32 file, once made
    batch: int | None = None  # the batch the model is converted at: its own, else dynamic (1 once that failed)
    batch_note: str | None = None  # why the batch was fixed at 1, when it was
    id_inputs: tuple[str, ...] = ()  # inputs that hold integer ids (an embedding looks them up): never quantized
    convertible: object | None = field(default=None, repr=False)  # a tf-keras copy converted in its place (fused LSTMs)
    _keras2: object | None = field(default=None, repr=False)

    @classmethod
    def from_keras(cls, model, path: str = "in-memory", sample=None) -> LoadedModel:
        """A Keras model already in memory (tf-keras or Keras 3). A subclassed model that was never
        built has no inputs to read: its signature comes from `sample` (a Dataset) and one call."""
        from advisor.reading.keras_object import known_inputs

        fmt = ModelFormat.KERAS2 if _is_tf_keras(model) else ModelFormat.KERAS3
        signature = keras_signature(model, fmt) if known_inputs(model) else _called_signature(model, fmt, sample)
        model, notes = inference_graph(model, fmt)
        return cls(path, fmt, model, None, signature, None, notes, batch=signature.batch)

    def fuse_recurrent(self, sample) -> str | None:
        """Keras 3 LSTMs convert to WHILE loops; rebuilt in tf-keras they convert to LiteRT's fused
        UNIDIRECTIONAL_SEQUENCE_LSTM (GRUs have no fused kernel either way). The tf-keras copy is converted
        in place of the model when it computes the same outputs on `sample` (a Dataset); a note says so."""
        if self.format is not ModelFormat.KERAS3 or self.keras is None or not _has_lstm(self.keras) or sample is None:
            return None
        import numpy as np

        from advisor.executor.keras3_to_keras2 import to_keras2
        from advisor.executor.tf_env import quiet

        try:
            with quiet():
                rebuilt = to_keras2(self.keras, self.custom_objects)
                rows = {name: array[:8] for name, array in sample.inputs.items()}
                feed = list(rows.values()) if len(rows) > 1 else next(iter(rows.values()))
                ours = rebuilt(feed, training=False)
                theirs = self.keras(feed, training=False)
        except Exception:  # a layer tf-keras cannot rebuild: the model converts as it is
            return None
        ours, theirs = (o if isinstance(o, (list, tuple)) else [o] for o in (ours, theirs))
        close = all(np.allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5) for a, b in zip(ours, theirs))
        if not close:
            return None
        self.convertible = rebuilt
        return ("the model's Keras 3 LSTM layers are converted from a tf-keras copy of the model (the same outputs on the "
                "data), so that they become LiteRT's fused UNIDIRECTIONAL_SEQUENCE_LSTM instead of WHILE loops")

    @property
    def is_keras2(self) -> bool:
        return self.format in (ModelFormat.KERAS2, ModelFormat.KERAS2_SAVEDMODEL)

    def keras2(self):
        """A tf-keras model for TFMOT (a Keras 3 model is rebuilt); SchemeFailed when impossible."""
        if self._keras2 is None:
            if self.is_keras2:
                self._keras2 = self.keras
            elif self.format is ModelFormat.KERAS3:
                from advisor.executor.keras3_to_keras2 import to_keras2

                self._keras2 = to_keras2(self.keras, self.custom_objects)
            elif self.format is ModelFormat.TFLITE:
                raise SchemeFailed(f"{self.path} is a .tflite: training needs a Keras model or a SavedModel")
            else:
                from advisor.executor.keras3_to_keras2 import WHY_KERAS2

                raise SchemeFailed(f"{self.path} is a plain SavedModel without a Keras model; {WHY_KERAS2}")
        return self._keras2

    def fresh_keras2(self):
        """A new tf-keras copy with the same weights, so training never touches the loaded model."""
        from advisor.executor.tf_env import quiet, tensorflow

        tensorflow()
        import tf_keras

        base = self.keras2()
        with quiet():
            copy = tf_keras.models.clone_model(base)
            copy.set_weights(base.get_weights())
        return copy


def load_tflite(path: str) -> LoadedModel:
    """A float32 .tflite as the model: read and repaired as reading found it needs (legacy operator codes,
    no signature, float16 weights), without TensorFlow. An already-quantized one is bad input."""
    from advisor.reading.tflite import read_graph, signature
    from advisor.reading.tflite_model import why_unusable
    from advisor.reading.tflite_repair import repair

    content = Path(path).read_bytes()
    unusable = why_unusable(read_graph(content, path), content)
    if unusable:
        raise ModelError(f"{path}: {unusable}")
    repaired = repair(content)
    return LoadedModel(str(path), ModelFormat.TFLITE, None, None, signature(repaired.content), notes=repaired.notes,
                       tflite=repaired.content, metadata=repaired.metadata)


def load_model(path: str, custom_objects: dict | None = None, fmt: ModelFormat | None = None) -> LoadedModel:
    from advisor.executor.tf_env import quiet, tensorflow

    if fmt is None:
        from advisor.reading import read_model

        fmt = read_model(path).format
    if fmt is ModelFormat.TFLITE:
        return load_tflite(path)
    tf = tensorflow()
    with quiet() as captured:
        try:
            if fmt is ModelFormat.KERAS3:
                import keras

                model = keras.models.load_model(path, compile=False, custom_objects=custom_objects)
            elif fmt is ModelFormat.SAVEDMODEL:
                model = tf.saved_model.load(path)
            else:
                import tf_keras

                model = tf_keras.models.load_model(path, compile=False, custom_objects=custom_objects)
        except Exception as err:  # a file Keras cannot load is bad input, with Keras's reason
            mismatch = library_mismatch(custom_objects, fmt)
            if mismatch:
                raise ModelError(f"{path}: {mismatch}") from None
            lines = [line for line in str(err).splitlines() if line.strip()]
            reason = next((line for line in lines if "Unknown layer" in line or "Could not locate" in line), None)
            if reason:
                raise ModelError(f"{path}: cannot be loaded as {fmt.value}: {shorten(reason, 160)}; name the module that "
                                 "defines it as inputs.custom_objects: python:your.module") from None
            raise ModelError(f"{path}: cannot be loaded as {fmt.value}: {shorten(lines[-1] if lines else type(err).__name__, 200)}") from None
    del captured
    if fmt is ModelFormat.SAVEDMODEL:
        return LoadedModel(str(path), fmt, None, model, _saved_model_signature(path, model))
    model, notes = inference_graph(model, fmt)
    signature = keras_signature(model, fmt)
    return LoadedModel(str(path), fmt, model, None, signature, custom_objects, notes, batch=signature.batch)


def library_mismatch(custom_objects: dict | None, fmt: ModelFormat) -> str | None:
    """The custom classes given are of the other Keras (a Keras 3 layer for a tf-keras file, or the other way)."""
    wanted, other = ("tf_keras", "keras") if fmt in (ModelFormat.KERAS2, ModelFormat.KERAS2_SAVEDMODEL) else ("keras", "tf_keras")
    wrong = []
    for name, value in (custom_objects or {}).items():
        roots = {klass.__module__.split(".")[0] for klass in getattr(value, "__mro__", ())}
        if other in roots and wanted not in roots:
            wrong.append(name)
    if not wrong:
        return None
    saved = "tf-keras (Keras 2)" if wanted == "tf_keras" else "Keras 3"
    given = "Keras 3 (keras)" if other == "keras" else "tf-keras (tf_keras)"
    return (f"saved by {saved}, but inputs.custom_objects gives {', '.join(wrong)} as {given} class(es); "
            f"define them on {wanted}.layers.Layer (the library that saved the model)")


def _called_signature(model, fmt: ModelFormat, sample) -> ModelSignature:
    """Inputs from the sample's arrays, outputs from calling the model on one row of them."""
    import numpy as np

    if sample is None:
        raise ModelError("a subclassed model that was never built needs data (representative or eval) to read its "
                         "input shape from")
    inputs = tuple(TensorSpec(name=name if name != "x" else "input", shape=_dims(array.shape[1:]), dtype=str(array.dtype))
                   for name, array in sample.inputs.items())
    row = [array[:1] for array in sample.inputs.values()]
    produced = model(row if len(row) > 1 else row[0], training=False)
    if isinstance(produced, dict):
        named = list(produced.items())
    else:
        produced = produced if isinstance(produced, (list, tuple)) else [produced]
        named = [(f"output_{i}", tensor) for i, tensor in enumerate(produced)]
    outputs = tuple(TensorSpec(name=name, shape=_dims(np.asarray(t).shape[1:]), dtype=_dtype_name(t.dtype)) for name, t in named)
    parameters = int(sum(int(np.prod(w.shape)) for w in model.weights))
    return ModelSignature(format=fmt.value, inputs=inputs, outputs=outputs, parameters=parameters)


def _saved_model_signature(path: str, loaded) -> ModelSignature:
    signature = loaded.signatures.get("serving_default")
    if signature is None:
        raise ModelError(f"{path}: the SavedModel has no serving_default signature")
    inputs = signature.structured_input_signature[1]
    outputs = signature.structured_outputs
    parameters = int(sum(int(v.shape.num_elements() or 0) for v in getattr(loaded, "variables", ())))
    return ModelSignature(
        format=ModelFormat.SAVEDMODEL.value,
        inputs=tuple(TensorSpec(name=name, shape=_dims(spec.shape[1:]), dtype=_dtype_name(spec.dtype))
                     for name, spec in inputs.items()),
        outputs=tuple(TensorSpec(name=name, shape=_dims(spec.shape[1:]), dtype=_dtype_name(spec.dtype))
                      for name, spec in outputs.items()),
        parameters=parameters or None,
    )


def _has_lstm(model) -> bool:
    def walk(layer):
        yield layer
        for attribute in ("layers", "forward_layer", "backward_layer", "layer"):
            inner = getattr(layer, attribute, None)
            for child in inner if isinstance(inner, (list, tuple)) else [inner] if inner is not None else []:
                if child is not layer:
                    yield from walk(child)

    return any(type(layer).__name__ == "LSTM" for layer in walk(model))


# Layers that do nothing at inference (augmentation, noise, dropout): left out of the graph that is
# converted, so their random ops (which LiteRT has no kernel for) never reach the converter.
INFERENCE_IDENTITY = {
    "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast", "RandomBrightness",
    "RandomHeight", "RandomWidth", "RandomSaturation", "RandomHue", "RandomColorJitter", "RandomGrayscale",
    "GaussianNoise", "GaussianDropout", "AlphaDropout", "Dropout", "SpatialDropout1D", "SpatialDropout2D",
    "SpatialDropout3D", "ActivityRegularization",
}


def inference_graph(model, fmt: ModelFormat) -> tuple[object, tuple[str, ...]]:
    """A Keras 3 model without the layers that are identity at inference (nested Sequential blocks of
    them included), and a note naming them; other models are left as they are."""
    dropped: list[str] = []

    def identity_only(layer) -> bool:
        inner = getattr(layer, "layers", None)
        if inner is not None and type(layer).__name__ in ("Sequential", "Functional", "Model"):
            return bool(inner) and all(identity_only(child) for child in inner)
        return type(layer).__name__ in INFERENCE_IDENTITY

    # tf-keras converts these layers as the identity they are at inference (and its clone_model loops
    # forever on a nested model replaced this way); Keras 3 exports their random ops, which LiteRT lacks.
    if fmt is not ModelFormat.KERAS3 or type(model).__name__ not in ("Sequential", "Functional", "Model"):
        return model, ()
    if not any(identity_only(layer) for layer in model.layers):
        return model, ()
    import keras as library

    class Passthrough(library.layers.Layer):
        """Identity that also takes the mask and training arguments a nested model's call node carries."""

        def call(self, inputs, mask=None, training=None):
            return inputs

    def replace(layer):
        if identity_only(layer):
            dropped.append(layer.name)
            return Passthrough(name=layer.name)
        return layer

    from advisor.executor.tf_env import quiet

    try:
        with quiet():
            stripped = library.models.clone_model(model, clone_function=replace)
    except Exception:  # a graph clone_model cannot rebuild: convert it as it is
        return model, ()
    return stripped, (f"left out {len(dropped)} layer(s) that do nothing at inference (augmentation, noise, dropout): "
                      f"{', '.join(dropped)}",)
