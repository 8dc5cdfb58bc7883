"""Find out what a model file is (by content, without TensorFlow) and load it.

Formats: a `.keras` zip (its metadata.json says the Keras version), an HDF5 file (its
`keras_version` attribute), a SavedModel folder (with `keras_metadata.pb` it is tf-keras; without,
a plain SavedModel, which only the post-training schemes can use), a .tflite flatbuffer (float32
only: LiteRT Quantizer quantizes it, and loading it never imports TensorFlow).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from advisor.errors import ModelError, SchemeFailed
from advisor.models.signature import ModelSignature, TensorSpec


class ModelFormat(str, Enum):
    KERAS2 = "keras2"  # tf-keras .keras / .h5
    KERAS3 = "keras3"  # Keras 3 .keras / .h5
    KERAS2_SAVEDMODEL = "keras2-savedmodel"  # tf-keras SavedModel folder
    SAVEDMODEL = "savedmodel"  # plain SavedModel (no Keras object)
    TFLITE = "tflite"  # a float32 .tflite flatbuffer

    @property
    def family(self) -> str:
        """The format as the rules name it (`model.format`): keras, savedmodel or tflite."""
        return {"keras2": "keras", "keras3": "keras", "keras2-savedmodel": "savedmodel"}.get(self.value, self.value)


def detect_format(path: str | Path) -> ModelFormat:
    path = Path(path)
    if path.is_dir():
        if not (path / "saved_model.pb").is_file() and not (path / "saved_model.pbtxt").is_file():
            raise ModelError(f"{path}: a folder, but not a SavedModel (no saved_model.pb)")
        return ModelFormat.KERAS2_SAVEDMODEL if (path / "keras_metadata.pb").is_file() else ModelFormat.SAVEDMODEL
    if not path.is_file():
        raise ModelError(f"{path}: no such model file or folder")
    with path.open("rb") as handle:
        head = handle.read(8)
    if head[4:8] == b"TFL3":
        return ModelFormat.TFLITE
    if head.startswith(b"PK"):
        return _keras_zip_format(path)
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return _h5_format(path)
    raise ModelError(f"{path}: not a Keras model (.keras zip or HDF5), a SavedModel folder nor a .tflite")


def _major(version: str, path: Path) -> ModelFormat:
    major = str(version).split(".")[0]
    if major == "3":
        return ModelFormat.KERAS3
    if major == "2":
        return ModelFormat.KERAS2
    raise ModelError(f"{path}: saved by Keras {version}, which the advisor does not know")


def _keras_zip_format(path: Path) -> ModelFormat:
    try:
        with zipfile.ZipFile(path) as archive:
            meta = json.loads(archive.read("metadata.json"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError):
        raise ModelError(f"{path}: a zip file, but not a .keras model (no readable metadata.json)") from None
    if "keras_version" not in meta:
        raise ModelError(f"{path}: metadata.json does not say which Keras saved it")
    return _major(meta["keras_version"], path)


def _h5_format(path: Path) -> ModelFormat:
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            version = handle.attrs.get("keras_version")
            has_model = "model_config" in handle.attrs
    except OSError as err:
        raise ModelError(f"{path}: unreadable HDF5 file ({err})") from None
    if version is None or not has_model:
        raise ModelError(f"{path}: an HDF5 file without a Keras model in it (weights only?)")
    return _major(version.decode() if isinstance(version, bytes) else version, path)


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
    tflite: bytes | None = field(default=None, repr=False)  # the float32 .tflite given as the model
    float_tflite: bytes | None = field(default=None, repr=False)  # the converter's float32 file, once made
    _keras2: object | None = field(default=None, repr=False)

    @classmethod
    def from_keras(cls, model, path: str = "in-memory", sample=None) -> LoadedModel:
        """A Keras model already in memory (tf-keras or Keras 3). A subclassed model that was never
        built has no inputs to read: its signature comes from `sample` (a Dataset) and one call."""
        fmt = ModelFormat.KERAS2 if _is_tf_keras(model) else ModelFormat.KERAS3
        try:
            known = getattr(model, "inputs", None) is not None
        except (AttributeError, ValueError):
            known = False
        signature = keras_signature(model, fmt) if known else _called_signature(model, fmt, sample)
        model, notes = inference_graph(model, fmt)
        return cls(path, fmt, model, None, signature, None, notes)

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
    """A float32 .tflite as the model: read as it is, without TensorFlow. An already-quantized one is
    bad input (quantizing it again would compound the error and measure against a quantized baseline)."""
    from advisor.tflite_graph import quantized_tensors, signature, signature_key

    content = Path(path).read_bytes()
    quantized = quantized_tensors(content)
    if quantized:
        kinds = sorted({t.dtype for t in quantized})
        raise ModelError(f"{path}: already quantized ({len(quantized)} tensor(s) in {', '.join(kinds)}); give the float32 "
                         ".tflite it was made from")
    signature_key(content)  # one signature to drive, or a clear error
    return LoadedModel(str(path), ModelFormat.TFLITE, None, None, signature(content), tflite=content)


def load_model(path: str, custom_objects: dict | None = None) -> LoadedModel:
    from advisor.executor.tf_env import quiet, tensorflow

    fmt = detect_format(path)
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
            lines = [line for line in str(err).splitlines() if line.strip()]
            reason = next((line for line in lines if "Unknown layer" in line or "Could not locate" in line), None)
            if reason:
                raise ModelError(f"{path}: cannot be loaded as {fmt.value}: {reason.strip()[:160]}; name the module that "
                                 "defines it as inputs.custom_objects: python:your.module") from None
            raise ModelError(f"{path}: cannot be loaded as {fmt.value}: {(lines[-1] if lines else type(err).__name__)[:200]}") from None
    del captured
    if fmt is ModelFormat.SAVEDMODEL:
        return LoadedModel(str(path), fmt, None, model, _saved_model_signature(path, model))
    model, notes = inference_graph(model, fmt)
    return LoadedModel(str(path), fmt, model, None, keras_signature(model, fmt), custom_objects, notes)


def keras_signature(model, fmt: ModelFormat) -> ModelSignature:
    """Inputs named by their input layers, outputs by the layers that produce them (tf-keras and Keras 3)."""
    def layer_name(tensor, fallback: str) -> str:
        history = getattr(tensor, "_keras_history", None)
        layer = history[0] if history else None
        return getattr(layer, "name", None) or fallback

    if getattr(model, "inputs", None) is None:
        raise ModelError(f"{getattr(model, 'name', 'the model')}: its inputs are not known (a subclassed model that was never built)")
    inputs = tuple(TensorSpec(name=layer_name(t, f"input_{i}"), shape=_dims(t.shape[1:]), dtype=_dtype_name(t.dtype))
                   for i, t in enumerate(model.inputs))
    outputs = tuple(TensorSpec(name=layer_name(t, f"output_{i}"), shape=_dims(t.shape[1:]), dtype=_dtype_name(t.dtype))
                    for i, t in enumerate(model.outputs))
    parameters = int(sum(int(w.numpy().size) if hasattr(w, "numpy") else int(w.size) for w in model.weights))
    return ModelSignature(format=fmt.value, inputs=inputs, outputs=_unique(outputs), parameters=parameters)


def _is_tf_keras(model) -> bool:
    return any(klass.__module__.startswith("tf_keras") for klass in type(model).__mro__)


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


def _unique(specs: tuple) -> tuple:
    seen: dict[str, int] = {}
    named = []
    for spec in specs:
        count = seen.get(spec.name, 0)
        seen[spec.name] = count + 1
        named.append(spec if count == 0 else spec.model_copy(update={"name": f"{spec.name}_{count}"}))
    return tuple(named)


def _dims(shape) -> tuple:
    return tuple(None if d is None or d == -1 else int(d) for d in shape)


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


def _dtype_name(dtype) -> str:
    return getattr(dtype, "name", str(dtype))


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
