"""Just enough of the protobuf wire format to read TensorFlow's files without TensorFlow."""

from __future__ import annotations

import struct


def varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def signed(value: int) -> int:
    """An int64 field's value (negative numbers arrive as 64-bit two's complement)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def fields(message: bytes):
    """(field number, value) of every field; length-delimited values as bytes."""
    pos = 0
    while pos < len(message):
        key, pos = varint(message, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = varint(message, pos)
        elif wire == 1:
            value, pos = struct.unpack_from("<Q", message, pos)[0], pos + 8
        elif wire == 2:
            length, pos = varint(message, pos)
            value, pos = message[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = struct.unpack_from("<I", message, pos)[0], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, value


def map_entries(entries) -> dict:
    """A protobuf map (repeated key = 1, value = 2 messages) as a dict of key -> value bytes."""
    found = {}
    for entry in entries:
        parts = dict(fields(entry))
        key = parts.get(1, b"")
        found[key.decode() if isinstance(key, bytes) else key] = parts.get(2, b"")
    return found


def tensor_shape(message: bytes) -> list[int]:
    """A TensorShapeProto's dimensions (dim = 2, each with size = 1; -1 where unknown)."""
    return [signed(dict(fields(dim)).get(1, 0)) for number, dim in fields(message) if number == 2]
