"""Just enough of HDF5 to read a Keras file's attributes and its datasets' shapes without h5py or numpy
(importing those two takes longer than `advisor recommend` may): the layout h5py writes by default
(superblock 0 or 1, version-1 object headers, groups as symbol tables, attributes in the object header,
variable-length strings in the global heap), and version-2 object headers with compact links. Anything
else raises Unsupported, and the caller reads the file with h5py instead. Values of datasets are never read.

The HDF5 File Format Specification, version 3: superblock (II.A), symbol table entries and nodes
(III.B-C), v1 B-trees (III.A.1), local and global heaps (III.D-E), object headers (IV.A), and the
dataspace (0x1), datatype (0x3), link (0x6), continuation (0x10), symbol table (0x11) and attribute (0xC)
messages.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

SIGNATURE = b"\x89HDF\r\n\x1a\n"
UNDEFINED = 0xFFFFFFFFFFFFFFFF


class Unsupported(Exception):
    """The file uses a part of HDF5 this reader does not (the caller falls back to h5py)."""


@dataclass(frozen=True)
class Dataset:
    shape: tuple[int, ...]
    kind: str  # "f" float, "i" integer, "S" string, "?" other
    itemsize: int

    @property
    def size(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count


class Group:
    def __init__(self, file: HDF5, address: int):
        self._file = file
        self._address = address
        self._header = None

    def _messages(self):
        if self._header is None:
            self._header = self._file.messages(self._address)
        return self._header

    @property
    def attrs(self) -> dict:
        return {name: value for name, value in (self._file.attribute(data) for kind, data in self._messages() if kind == 0x0C)}

    def members(self) -> dict[str, int]:
        """Name -> object header address of each link in this group."""
        found = {}
        for kind, data in self._messages():
            if kind == 0x11:
                btree, heap = struct.unpack_from(f"<{self._file.o}{self._file.o}", data, 0)
                found.update(self._file.symbol_table(btree, heap))
            elif kind == 0x06:
                name, address = self._file.link(data)
                if address is not None:
                    found[name] = address
            elif kind == 0x02:
                raise Unsupported("dense link storage (a link info message)")
        return found

    def __getitem__(self, path: str):
        node: Group | Dataset = self
        for part in [p for p in path.split("/") if p]:
            if not isinstance(node, Group):
                raise KeyError(path)
            node = node._file.node(node.members()[part])
        return node

    def __contains__(self, name: str) -> bool:
        try:
            self[name]
            return True
        except KeyError:
            return False

    def visit_datasets(self, prefix: str = ""):
        """(path, Dataset) of every dataset below this group."""
        for name, address in self.members().items():
            node = self._file.node(address)
            path = f"{prefix}{name}"
            if isinstance(node, Group):
                yield from node.visit_datasets(path + "/")
            else:
                yield path, node


class HDF5(Group):
    """An HDF5 file read through a seekable binary handle (a file, or a zip member)."""

    def __init__(self, handle):
        self.handle = handle
        head = self.read(0, 24)
        if not head.startswith(SIGNATURE):
            raise Unsupported("not an HDF5 file")
        version = head[8]
        if version in (0, 1):
            self.o, self.length = self._sizes(head[13], head[14])
            root_entry = 24 + (4 if version == 1 else 0) + 4 * self.offset_size  # after base, free-space, EOF, driver
            address = struct.unpack_from(f"<{self.o}", self.read(root_entry + self.offset_size, self.offset_size), 0)[0]
        elif version in (2, 3):
            self.o, self.length = self._sizes(head[9], head[10])
            address = struct.unpack_from(f"<{self.o}", self.read(12 + 3 * self.offset_size, self.offset_size), 0)[0]
        else:
            raise Unsupported(f"superblock version {version}")
        super().__init__(self, address)
        self._nodes: dict[int, Group | Dataset] = {}

    def _sizes(self, offsets: int, lengths: int) -> tuple[str, str]:
        codes = {2: "H", 4: "I", 8: "Q"}
        if offsets not in codes or lengths not in codes:
            raise Unsupported("unusual address sizes")
        self.offset_size, self.length_size = offsets, lengths
        return codes[offsets], codes[lengths]

    def read(self, position: int, size: int) -> bytes:
        self.handle.seek(position)
        data = self.handle.read(size)
        if len(data) < size:
            raise Unsupported("truncated file")
        return data

    def node(self, address: int) -> Group | Dataset:
        if address not in self._nodes:
            messages = self.messages(address)
            kinds = {kind for kind, _ in messages}
            if 0x08 in kinds:  # a layout message: a dataset
                space = next(data for kind, data in messages if kind == 0x01)
                dtype = next(data for kind, data in messages if kind == 0x03)
                kind, size, _ = self.datatype(dtype)
                self._nodes[address] = Dataset(self.dataspace(space), kind, size)
            else:
                group = Group(self, address)
                group._header = messages
                self._nodes[address] = group
        return self._nodes[address]

    # object headers -------------------------------------------------------------------------------

    def messages(self, address: int) -> list[tuple[int, bytes]]:
        head = self.read(address, 16)
        if head[:4] == b"OHDR":
            return self._messages_v2(address)
        if head[0] != 1:
            raise Unsupported(f"object header version {head[0]}")
        count, _, size = struct.unpack_from("<HII", head, 2)
        blocks = [(address + 16, size)]
        found: list[tuple[int, bytes]] = []
        while blocks:
            start, size = blocks.pop(0)
            block = self.read(start, size)
            position = 0
            while position + 8 <= size and len(found) < count:
                kind, length, flags = struct.unpack_from("<HHB", block, position)
                data = block[position + 8: position + 8 + length]
                if flags & 0x02:
                    raise Unsupported("a shared message")
                if kind == 0x10:
                    blocks.append(struct.unpack_from(f"<{self.o}{self.length}", data, 0))
                found.append((kind, data))
                position += 8 + length
        return found

    def _messages_v2(self, address: int) -> list[tuple[int, bytes]]:
        head = self.read(address, 32)
        flags = head[5]
        position = 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
        width = 1 << (flags & 0x03)
        size = int.from_bytes(head[position: position + width], "little")
        blocks = [(address + position + width, size)]
        found: list[tuple[int, bytes]] = []
        extra = 2 if flags & 0x04 else 0
        while blocks:
            start, size = blocks.pop(0)
            block = self.read(start, size)
            if block[:4] == b"OCHK":
                block = block[4:]
            position = 0
            while position + 4 + extra <= len(block) - 4:
                kind, length, message_flags = struct.unpack_from("<BHB", block, position)
                data = block[position + 4 + extra: position + 4 + extra + length]
                if message_flags & 0x02:
                    raise Unsupported("a shared message")
                if kind == 0x10:
                    offset, length_ = struct.unpack_from(f"<{self.o}{self.length}", data, 0)
                    blocks.append((offset, length_))
                found.append((kind, data))
                position += 4 + extra + length
        return found

    # groups ---------------------------------------------------------------------------------------

    def symbol_table(self, btree: int, heap: int) -> dict[str, int]:
        names = self._local_heap(heap)
        found: dict[str, int] = {}
        for node in self._btree_leaves(btree):
            head = self.read(node, 8)
            if head[:4] != b"SNOD":
                raise Unsupported("a damaged symbol table node")
            count = struct.unpack_from("<H", head, 6)[0]
            entry = 2 * self.offset_size + 24
            body = self.read(node + 8, count * entry)
            for i in range(count):
                name_offset, address = struct.unpack_from(f"<{self.o}{self.o}", body, i * entry)
                end = names.index(b"\0", name_offset)
                found[names[name_offset:end].decode()] = address
        return found

    def _local_heap(self, address: int) -> bytes:
        head = self.read(address, 8 + 2 * self.length_size + self.offset_size)
        if head[:4] != b"HEAP":
            raise Unsupported("a damaged local heap")
        size = struct.unpack_from(f"<{self.length}", head, 8)[0]
        data = struct.unpack_from(f"<{self.o}", head, 8 + 2 * self.length_size)[0]
        return self.read(data, size)

    def _btree_leaves(self, address: int):
        head = self.read(address, 8 + 2 * self.offset_size)
        if head[:4] != b"TREE" or head[4] != 0:
            raise Unsupported("not a group B-tree")
        level, used = head[5], struct.unpack_from("<H", head, 6)[0]
        step = self.length_size + self.offset_size
        body = self.read(address + 8 + 2 * self.offset_size, used * step + self.length_size)
        children = [struct.unpack_from(f"<{self.o}", body, self.length_size + i * step)[0] for i in range(used)]
        for child in children:
            if level == 0:
                yield child
            else:
                yield from self._btree_leaves(child)

    def link(self, data: bytes) -> tuple[str, int | None]:
        flags = data[1]
        position = 2
        kind = 0
        if flags & 0x08:
            kind = data[position]
            position += 1
        if flags & 0x04:
            position += 8
        if flags & 0x10:
            position += 1
        width = 1 << (flags & 0x03)
        length = int.from_bytes(data[position: position + width], "little")
        position += width
        name = data[position: position + length].decode()
        position += length
        if kind != 0:  # a soft or external link: not followed
            return name, None
        return name, struct.unpack_from(f"<{self.o}", data, position)[0]

    # attributes, dataspaces, datatypes ------------------------------------------------------------

    def attribute(self, data: bytes) -> tuple[str, object]:
        version = data[0]
        name_size, type_size, space_size = struct.unpack_from("<HHH", data, 2)
        if version == 1:
            position = 8
            pad = lambda n: (n + 7) // 8 * 8  # noqa: E731
        elif version in (2, 3):
            position = 8 + (1 if version == 3 else 0)
            pad = lambda n: n  # noqa: E731
        else:
            raise Unsupported(f"attribute message version {version}")
        if data[1] & 0x03:
            raise Unsupported("a shared datatype or dataspace")
        name = data[position: position + name_size].rstrip(b"\0").decode()
        position += pad(name_size)
        dtype = data[position: position + type_size]
        position += pad(type_size)
        shape = self.dataspace(data[position: position + space_size])
        position += pad(space_size)
        return name, self._value(dtype, shape, data[position:])

    def dataspace(self, data: bytes) -> tuple[int, ...]:
        version, rank = data[0], data[1]
        if version == 1:
            position = 8
        elif version == 2:
            if data[3] == 2:  # a null dataspace
                return (0,)
            position = 4
        else:
            raise Unsupported(f"dataspace version {version}")
        return tuple(struct.unpack_from(f"<{self.length}", data, position + i * self.length_size)[0] for i in range(rank))

    def datatype(self, data: bytes) -> tuple[str, int, bytes]:
        kind = data[0] & 0x0F
        size = struct.unpack_from("<I", data, 4)[0]
        return {0: "i", 1: "f", 3: "S", 9: "V"}.get(kind, "?"), size, data

    def _value(self, dtype: bytes, shape: tuple[int, ...], data: bytes):
        kind, size, raw = self.datatype(dtype)
        count = 1
        for dim in shape:
            count *= dim
        if kind == "S":
            values = [data[i * size: (i + 1) * size].split(b"\0", 1)[0] for i in range(count)]
        elif kind == "V" and (raw[1] & 0x0F) == 1:  # a variable-length string: its bytes are in the global heap
            values = [self._global(data[i * size: (i + 1) * size]) for i in range(count)]
        elif kind == "i":
            code = {1: "b", 2: "h", 4: "i", 8: "q"}[size]
            values = [struct.unpack_from(f"<{code}", data, i * size)[0] for i in range(count)]
        elif kind == "f":
            code = {4: "f", 8: "d"}.get(size)
            if code is None:
                raise Unsupported("an unusual float attribute")
            values = [struct.unpack_from(f"<{code}", data, i * size)[0] for i in range(count)]
        else:
            raise Unsupported(f"an attribute of datatype class {raw[0] & 0x0F}")
        return values[0] if not shape else values

    def _global(self, reference: bytes) -> bytes:
        length, collection, index = struct.unpack_from(f"<I{self.o}I", reference, 0)
        if not collection or collection == UNDEFINED:
            return b""
        head = self.read(collection, 8 + self.length_size)
        if head[:4] != b"GCOL":
            raise Unsupported("a damaged global heap")
        size = struct.unpack_from(f"<{self.length}", head, 8)[0]
        body = self.read(collection + 8 + self.length_size, size - 8 - self.length_size)
        position = 0
        while position + 8 + self.length_size <= len(body):
            number, _, _, object_size = struct.unpack_from(f"<HHI{self.length}", body, position)
            start = position + 8 + self.length_size
            if number == index:
                return body[start: start + min(length, object_size)]
            if number == 0:
                break
            position = start + (object_size + 7) // 8 * 8
        raise Unsupported("a global heap object that is not there")


class _H5pyGroup:
    """The same interface over h5py, for the files this reader does not understand."""

    def __init__(self, group):
        self._group = group

    @property
    def attrs(self) -> dict:
        return {name: _plain(value) for name, value in self._group.attrs.items()}

    def __getitem__(self, path: str):
        import h5py

        node = self._group[path]
        if isinstance(node, h5py.Dataset):
            return Dataset(tuple(int(d) for d in node.shape), node.dtype.kind if node.dtype.kind in "fiS" else "?",
                           node.dtype.itemsize)
        return _H5pyGroup(node)

    def __contains__(self, name: str) -> bool:
        return name in self._group

    def visit_datasets(self, prefix: str = ""):
        import h5py

        found = []
        self._group.visititems(lambda name, node: found.append((prefix + name, self[name])) if isinstance(node, h5py.Dataset) else None)
        return iter(found)


def _plain(value):
    if hasattr(value, "tolist"):
        value = value.tolist()
    return value


def open_hdf5(handle):
    """The file's root group: read here, or by h5py where this reader meets a part of HDF5 it does not know."""
    try:
        root = HDF5(handle)
        root.attrs  # noqa: B018  (read now, so that Unsupported surfaces here)
        return root
    except (Unsupported, struct.error, ValueError, KeyError, IndexError, StopIteration):
        import h5py

        handle.seek(0)
        return _H5pyGroup(h5py.File(handle, "r"))
