"""Find out what a model file is (by content, without TensorFlow) and load it.

Formats: a `.keras` zip (its metadata.json says the Keras version), an HDF5 file (its
`keras_version` attribute), a SavedModel folder (with `keras_metadata.pb` it is tf-keras; without,
a plain SavedModel, which only the post-training schemes can use).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from advisor.errors import ModelError, SchemeFailed


class ModelFormat(str, Enum):
    KERAS2 = "keras2"  # tf-keras .keras / .h5
    KERAS3 = "keras3"  # Keras 3 .keras / .h5
    KERAS2_SAVEDMODEL = "keras2-savedmodel"  # tf-keras SavedModel folder
    SAVEDMODEL = "savedmodel"  # plain SavedModel (no Keras object)


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
    if head.startswith(b"PK"):
        return _keras_zip_format(path)
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return _h5_format(path)
    raise ModelError(f"{path}: not a Keras model (.keras zip or HDF5) nor a SavedModel folder")


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
    input_name: str | None
    input_shape: tuple  # without the batch dimension; None where dynamic
    input_dtype: str
    classes: int | None  # size of the last output dimension
    _keras2: object | None = field(default=None, repr=False)

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

                self._keras2 = to_keras2(self.keras)
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


def load_model(path: str) -> LoadedModel:
    from advisor.executor.tf_env import quiet, tensorflow

    fmt = detect_format(path)
    tf = tensorflow()
    with quiet() as captured:
        try:
            if fmt is ModelFormat.KERAS3:
                import keras

                model = keras.models.load_model(path, compile=False)
            elif fmt is ModelFormat.SAVEDMODEL:
                model = tf.saved_model.load(path)
            else:
                import tf_keras

                model = tf_keras.models.load_model(path, compile=False)
        except Exception as err:  # a file Keras cannot load is bad input, with Keras's reason
            lines = [line for line in str(err).splitlines() if line.strip()]
            raise ModelError(f"{path}: cannot be loaded as {fmt.value}: {(lines[-1] if lines else type(err).__name__)[:200]}") from None
    del captured
    if fmt is ModelFormat.SAVEDMODEL:
        return _describe_saved_model(path, model)
    if len(model.inputs) != 1:
        raise ModelError(f"{path}: the model has {len(model.inputs)} inputs; the advisor handles one")
    tensor = model.inputs[0]
    output = model.outputs[0]
    return LoadedModel(
        path=str(path),
        format=fmt,
        keras=model,
        saved_model=None,
        input_name=None,
        input_shape=tuple(tensor.shape[1:]),
        input_dtype=_dtype_name(tensor.dtype),
        classes=int(output.shape[-1]) if output.shape[-1] is not None else None,
    )


def _describe_saved_model(path: str, loaded) -> LoadedModel:
    signature = loaded.signatures.get("serving_default")
    if signature is None:
        raise ModelError(f"{path}: the SavedModel has no serving_default signature")
    inputs = signature.structured_input_signature[1]
    if len(inputs) != 1:
        raise ModelError(f"{path}: the serving signature has {len(inputs)} inputs; the advisor handles one")
    (name, spec), = inputs.items()
    outputs = list(signature.structured_outputs.values())
    last = outputs[0].shape[-1] if outputs else None
    return LoadedModel(
        path=str(path),
        format=ModelFormat.SAVEDMODEL,
        keras=None,
        saved_model=loaded,
        input_name=name,
        input_shape=tuple(spec.shape[1:]),
        input_dtype=_dtype_name(spec.dtype),
        classes=int(last) if last is not None else None,
    )


def _dtype_name(dtype) -> str:
    return getattr(dtype, "name", str(dtype))
