"""Reading models without TensorFlow: one `read_model` for every format, each file opened once and only
its tensors' shapes read (never their values, but for a .tflite, which is its own graph).

    .keras zip    keras_zip.py      .h5           keras_h5.py     (both through keras_config.py)
    SavedModel    saved_model.py    (tensor_bundle.py and protobuf.py read its files)
    .tflite       tflite_model.py   (tflite.py reads the flatbuffer; tflite_repair.py makes it readable)
    a Keras object keras_object.py
"""

from __future__ import annotations

from pathlib import Path

from advisor.errors import ModelError
from advisor.models.model_file import ModelFile


def read_model(source) -> ModelFile:
    """The ModelFile of a path (a model file or a SavedModel folder) or of a Keras model object; a
    ModelError naming the path when it is none of them or cannot be read."""
    if not isinstance(source, (str, Path)):
        from advisor.reading import keras_object

        return keras_object.read(source)
    path = Path(source)
    if path.is_dir():
        from advisor.reading import saved_model

        return saved_model.read(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file or folder")
    from advisor.reading.formats import sniff

    try:
        with path.open("rb") as handle:
            kind = sniff(handle.read(8))
            handle.seek(0)
            if kind == "tflite":
                from advisor.reading import tflite_model

                return tflite_model.read(handle.read(), str(path))
            if kind == "zip":
                from advisor.reading import keras_zip

                return keras_zip.read(handle, str(path))
            if kind == "hdf5":
                from advisor.reading import keras_h5

                return keras_h5.read(handle, str(path))
    except OSError as err:
        raise ModelError(f"{path}: cannot be read: {err.strerror or err}") from None
    raise ModelError(f"{path}: not a Keras model (.keras zip or HDF5), a SavedModel folder nor a .tflite")
