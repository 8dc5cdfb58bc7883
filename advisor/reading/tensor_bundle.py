"""Read a SavedModel's `variables/variables.index` without TensorFlow: the name, dtype, shape, size
and checksum of every tensor in the checkpoint.

The index is a LevelDB-format table (an SSTable, uncompressed in TensorFlow's tensor bundles) whose
keys are tensor names and whose values are serialized `BundleEntryProto` messages:
dtype = 1, shape = 2 (TensorShapeProto: dim = 2, each with size = 1), shard_id = 3, offset = 4,
size = 5, crc32c = 6. The entry under the empty key is the bundle's header.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from advisor.reading.protobuf import fields, tensor_shape, varint

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER = 48
BLOCK_TRAILER = 5  # compression type (1 byte) and a crc32c (4 bytes) after every block
# tensorflow/core/framework/types.proto: DataType -> bytes per element
ITEMSIZE = {1: 4, 2: 8, 3: 4, 4: 1, 5: 2, 6: 1, 7: 0, 9: 8, 10: 1, 14: 2, 17: 2, 19: 2, 22: 4, 23: 8}
FLOAT_TYPES = {1, 2, 14, 19}  # float, double, bfloat16, half
SKIPPED = ("_CHECKPOINTABLE_OBJECT_GRAPH", "optimizer/", "keras_api/metrics/")  # not the model's weights


@dataclass(frozen=True)
class BundleEntry:
    name: str
    dtype: int
    shape: tuple[int, ...]
    size: int  # bytes in the data shard
    crc32c: int

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOAT_TYPES


def _block_entries(data: bytes, offset: int, size: int):
    """(key, value) of one table block, undoing the keys' shared-prefix compression."""
    block = data[offset : offset + size]
    restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * restarts
    pos, key = 0, b""
    while pos < end:
        shared, pos = varint(block, pos)
        unshared, pos = varint(block, pos)
        length, pos = varint(block, pos)
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        yield key, block[pos : pos + length]
        pos += length


def _handle(data: bytes, pos: int) -> tuple[int, int, int]:
    offset, pos = varint(data, pos)
    size, pos = varint(data, pos)
    return offset, size, pos


def read_index(path: str | Path) -> list[BundleEntry]:
    """Every tensor in the bundle; ValueError when the file is not a readable tensor-bundle index."""
    data = Path(path).read_bytes()
    if len(data) < FOOTER or struct.unpack_from("<Q", data, len(data) - 8)[0] != TABLE_MAGIC:
        raise ValueError(f"{path}: not a tensor-bundle index (no table magic)")
    footer = data[-FOOTER:]
    _, _, pos = _handle(footer, 0)  # the metaindex block: unused
    index_offset, index_size, _ = _handle(footer, pos)
    entries = []
    for _, handle in _block_entries(data, index_offset, index_size):
        block_offset, block_size, _ = _handle(handle, 0)
        if data[block_offset + block_size] != 0:
            raise ValueError(f"{path}: compressed table blocks are not supported")
        for key, value in _block_entries(data, block_offset, block_size):
            if key:
                entries.append(_entry(key.decode(errors="replace"), value))
    return entries


def _entry(name: str, value: bytes) -> BundleEntry:
    dtype = size = crc = 0
    shape: list[int] = []
    for number, field in fields(value):
        if number == 1:
            dtype = field
        elif number == 2:
            shape = tensor_shape(field)
        elif number == 5:
            size = field
        elif number == 6:
            crc = field
    return BundleEntry(name, dtype, tuple(shape), size, crc)


def model_variables(entries: list[BundleEntry]) -> list[BundleEntry]:
    """The model's float variables, each once: a Keras 3 export lists every variable under
    `_all_variables/` and again under `variables/` (by name, never by content: two zero biases are two
    variables)."""
    kept = [e for e in entries if e.is_float and not e.name.startswith(SKIPPED) and ".OPTIMIZER_SLOT" not in e.name]
    if any(e.name.startswith("_all_variables/") for e in kept):
        kept = [e for e in kept if e.name.startswith("_all_variables/")]
    return kept


def weight_count(variables_index: str | Path) -> int:
    """How many float values the model's variables hold."""
    total = 0
    for entry in model_variables(read_index(variables_index)):
        elements = 1
        for dim in entry.shape:
            elements *= dim
        total += elements
    return total
