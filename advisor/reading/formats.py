"""What kind of model file a path holds, by its first bytes (never its extension)."""

from __future__ import annotations

from advisor.errors import ModelError
from advisor.models.model_file import ModelFormat

HDF5 = b"\x89HDF\r\n\x1a\n"
ZIP = b"PK"
TFLITE = b"TFL3"  # the flatbuffer's file identifier, at offset 4


def sniff(head: bytes) -> str | None:
    """'tflite', 'zip' or 'hdf5' from a file's first 8 bytes; None when it is none of them."""
    if head[4:8] == TFLITE:
        return "tflite"
    if head.startswith(ZIP):
        return "zip"
    if head.startswith(HDF5):
        return "hdf5"
    return None


def keras_major(version, source: str) -> ModelFormat:
    major = str(version).split(".")[0]
    if major == "3":
        return ModelFormat.KERAS3
    if major == "2":
        return ModelFormat.KERAS2
    raise ModelError(f"{source}: saved by Keras {version}, which the advisor does not know")
