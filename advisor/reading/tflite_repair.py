"""Make a .tflite as it comes from a package into the float32 model every backend can read, and carry
its metadata into what is made from it. Pure Python on the flatbuffer schema `ai_edge_litert` ships;
no TensorFlow.

    legacy operator codes   older files set only `deprecated_builtin_code` (LiteRT Quantizer reads
                            `builtin_code`, 0 = ADD): builtin_code = max(both)
    no signature            a `serving_default` made from subgraph 0's inputs and outputs, named by
                            their tensors
    float16 weights         every DEQUANTIZE of a float16 constant becomes the float32 constant it
                            computes (what the converter writes for a float32 model)
    metadata                TFLite metadata buffers and the zip of associated files appended to the
                            flatbuffer are kept aside and put back on every model made from it
    a fixed batch           the dynamic batch of an integer-only target's model fixed at 1
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field

import numpy as np

from advisor.models.signature import tensor_name

KEEP_METADATA = ("TFLITE_METADATA",)  # metadata entries that describe the model for its users (not the converter's)


@dataclass(frozen=True)
class Metadata:
    """What a .tflite carries beside its graph: metadata buffers by name, and a zip of associated
    files (labels.txt, ...) appended after the flatbuffer."""

    buffers: tuple[tuple[str, bytes], ...] = ()
    associated: bytes = b""

    def __bool__(self) -> bool:
        return bool(self.buffers or self.associated)

    def describe(self) -> str:
        parts = [name for name, _ in self.buffers]
        if self.associated:
            names = zipfile.ZipFile(io.BytesIO(self.associated)).namelist()
            parts.append(f"{len(names)} associated file(s) ({', '.join(names[:4])})")
        return ", ".join(parts)


@dataclass(frozen=True)
class Repaired:
    content: bytes  # the float32 model every backend reads (with its metadata)
    notes: tuple[str, ...] = ()
    metadata: Metadata = field(default_factory=Metadata)


def _schema():
    from ai_edge_litert import schema_py_generated as schema

    return schema


def _unpack(data: bytes):
    return _schema().ModelT.InitFromPackedBuf(data, 0)


def _pack(model) -> bytes:
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def split_associated(data: bytes) -> tuple[bytes, bytes]:
    """(the flatbuffer, the zip of associated files appended to it, or b'')."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        return data, b""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            start = min((info.header_offset for info in archive.infolist()), default=len(data))
    except zipfile.BadZipFile:
        return data, b""
    return data[:start], data[start:]


def repair(data: bytes) -> Repaired:
    """The float32 model a backend can read, with a note for every change made."""
    flat, associated = split_associated(data)
    model = _unpack(flat)
    _internalize(model, flat)
    notes: list[str] = []
    legacy = _normalize_operator_codes(model)
    if legacy:
        notes.append(f"{legacy} operator code(s) were set in the legacy field only (deprecated_builtin_code); they were "
                     "copied to builtin_code, which LiteRT Quantizer reads")
    made = _add_signature(model)
    if made:
        notes.append(f"the .tflite has no signature: serving_default was made from subgraph 0's inputs ({made[0]}) and "
                     f"outputs ({made[1]}), named by their tensors")
    densified = _densify(model, flat)
    if densified:
        notes.append(f"{densified} sparse weight tensor(s) (each behind a DENSIFY op) were expanded to dense constants, "
                     "as the LiteRT interpreter expands them")
    expanded = _float16_to_float32(model)
    if expanded:
        notes.append(f"{expanded} float16 weight tensor(s) (each behind a DEQUANTIZE op) were turned into float32 "
                     "constants first, so the float32 baseline is the model at full precision and every scheme "
                     "quantizes from it")
    metadata = Metadata(tuple((entry.name.decode(errors="replace"), bytes(_buffer(model, entry.buffer)))
                              for entry in (model.metadata or ())
                              if entry.name.decode(errors="replace") in KEEP_METADATA), associated)
    if metadata:
        notes.append(f"the model's metadata ({metadata.describe()}) is kept in every model made from it")
    changed = legacy or made or densified or expanded
    content = (_pack(model) if changed else flat) + associated
    return Repaired(content, tuple(notes), metadata)


def _internalize(model, flat: bytes) -> None:
    """Buffers stored after the flatbuffer (at an offset) moved into it, so that packing keeps them."""
    for buffer in model.buffers or ():
        if getattr(buffer, "offset", 0):
            buffer.data = np.frombuffer(flat[buffer.offset:buffer.offset + buffer.size], dtype=np.uint8)
            buffer.offset, buffer.size = 0, 0


def _external_buffers(flat: bytes) -> bool:
    model = _schema().Model.GetRootAs(flat, 0)
    return any(model.Buffers(i).Offset() for i in range(model.BuffersLength()))


def _buffer(model, index: int):
    data = model.buffers[index].data if 0 <= index < len(model.buffers) else None
    return np.asarray(data if data is not None else [], dtype=np.uint8).tobytes()


def _normalize_operator_codes(model) -> int:
    fixed = 0
    for code in model.operatorCodes or ():
        builtin = max(code.builtinCode or 0, code.deprecatedBuiltinCode or 0)
        if builtin != (code.builtinCode or 0):
            code.builtinCode = builtin
            fixed += 1
        code.deprecatedBuiltinCode = min(builtin, 127)
    return fixed


def _add_signature(model) -> tuple[str, str] | None:
    """A serving_default over subgraph 0 when the model has no signature; (input names, output names)."""
    if model.signatureDefs:
        return None
    schema = _schema()
    graph = model.subgraphs[0]
    used: set[str] = set()

    def mapping(index: int, fallback: str):
        raw = graph.tensors[index].name
        name = tensor_name(raw.decode(errors="replace") if raw else fallback)
        base, n = name, 1
        while name in used:
            n += 1
            name = f"{base}_{n}"
        used.add(name)
        entry = schema.TensorMapT()
        entry.name, entry.tensorIndex = name.encode(), int(index)
        return entry

    signature = schema.SignatureDefT()
    signature.signatureKey = b"serving_default"
    signature.subgraphIndex = 0
    signature.inputs = [mapping(i, f"input_{n}") for n, i in enumerate(graph.inputs)]
    signature.outputs = [mapping(i, f"output_{n}") for n, i in enumerate(graph.outputs)]
    model.signatureDefs = [signature]
    return (", ".join(e.name.decode() for e in signature.inputs), ", ".join(e.name.decode() for e in signature.outputs))


def _op_names(model) -> list[str]:
    schema = _schema()
    names = {value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    return [names.get(max(code.builtinCode or 0, code.deprecatedBuiltinCode or 0), "") for code in model.operatorCodes or ()]


def _densify(model, flat: bytes) -> int:
    """Fold every DENSIFY of a constant sparse tensor into the dense constant the interpreter computes."""
    codes = _op_names(model)
    graph = model.subgraphs[0]
    targets = [op for op in graph.operators or () if codes[op.opcodeIndex] == "DENSIFY"
               and graph.tensors[op.inputs[0]].sparsity is not None]
    if not targets:
        return 0
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from advisor._quiet import quiet

    with quiet():  # without XNNPACK, which would take the constant subgraphs over and never run DENSIFY
        interpreter = Interpreter(model_content=flat, experimental_preserve_all_tensors=True,
                                  experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        for detail in interpreter.get_input_details():
            if -1 in list(detail.get("shape_signature", [])):
                interpreter.resize_tensor_input(detail["index"], [max(1, int(d)) for d in detail["shape_signature"]])
        interpreter.allocate_tensors()
        for detail in interpreter.get_input_details():
            interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], dtype=detail["dtype"]))
        interpreter.invoke()
        dense = {int(op.outputs[0]): np.array(interpreter.get_tensor(int(op.outputs[0]))) for op in targets}
    schema = _schema()
    for index, values in dense.items():
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(np.ascontiguousarray(values).tobytes(), dtype=np.uint8)
        model.buffers.append(buffer)
        graph.tensors[index].buffer = len(model.buffers) - 1
    graph.operators = [op for op in graph.operators if op not in targets]
    _drop_unused(model)
    return len(dense)


def _float16_to_float32(model) -> int:
    """Fold every DEQUANTIZE of a float16 constant into a float32 constant; drop what is left unused."""
    schema = _schema()
    codes = _op_names(model)
    float16, float32 = schema.TensorType.FLOAT16, schema.TensorType.FLOAT32
    folded = 0
    for graph in model.subgraphs:
        kept = []
        for op in graph.operators or ():
            source = graph.tensors[op.inputs[0]] if op.inputs is not None and len(op.inputs) else None
            if (codes[op.opcodeIndex] == "DEQUANTIZE" and source is not None
                    and source.type == float16 and _buffer(model, source.buffer)):
                values = np.frombuffer(_buffer(model, source.buffer), dtype="<f2").astype("<f4")
                target = graph.tensors[op.outputs[0]]
                buffer = schema.BufferT()
                buffer.data = np.frombuffer(values.tobytes(), dtype=np.uint8)
                model.buffers.append(buffer)
                target.buffer = len(model.buffers) - 1
                target.type = float32
                folded += 1
            else:
                kept.append(op)
        graph.operators = kept
    if folded:
        _drop_unused(model)
    return folded


def _drop_unused(model) -> None:
    """Remove tensors no op, input, output or signature uses, and buffers no tensor or metadata uses."""
    for g, graph in enumerate(model.subgraphs):
        used = set(graph.inputs if graph.inputs is not None else ()) | set(graph.outputs if graph.outputs is not None else ())
        for op in graph.operators or ():
            for group in (op.inputs, op.outputs, op.intermediates):
                used |= {int(i) for i in (group if group is not None else ()) if i >= 0}
        for signature in model.signatureDefs or ():
            if signature.subgraphIndex == g:
                used |= {entry.tensorIndex for entry in (*(signature.inputs or ()), *(signature.outputs or ()))}
        order = sorted(used)
        remap = {old: new for new, old in enumerate(order)}
        graph.tensors = [graph.tensors[i] for i in order]

        def renumber(values):
            return None if values is None else [remap[int(i)] if i >= 0 else int(i) for i in values]

        graph.inputs, graph.outputs = renumber(graph.inputs), renumber(graph.outputs)
        for op in graph.operators or ():
            op.inputs, op.outputs, op.intermediates = renumber(op.inputs), renumber(op.outputs), renumber(op.intermediates)
        for signature in model.signatureDefs or ():
            if signature.subgraphIndex == g:
                for entry in (*(signature.inputs or ()), *(signature.outputs or ())):
                    entry.tensorIndex = remap[entry.tensorIndex]
    used_buffers = {0} | {t.buffer for graph in model.subgraphs for t in graph.tensors}
    used_buffers |= {entry.buffer for entry in model.metadata or ()}
    used_buffers |= {int(b) for b in (model.metadataBuffer if model.metadataBuffer is not None else ())}
    order = sorted(b for b in used_buffers if b < len(model.buffers))
    remap = {old: new for new, old in enumerate(order)}
    model.buffers = [model.buffers[i] for i in order]
    for graph in model.subgraphs:
        for tensor in graph.tensors:
            tensor.buffer = remap.get(tensor.buffer, 0)
    for entry in model.metadata or ():
        entry.buffer = remap[entry.buffer]
    if model.metadataBuffer is not None:
        model.metadataBuffer = [remap[int(b)] for b in model.metadataBuffer if int(b) in remap]


def carry_metadata(content: bytes, metadata: Metadata) -> bytes:
    """`content` with the source model's metadata buffers (where it lacks them) and associated files.
    A model whose buffers live after its flatbuffer (at offsets) is not re-packed: its metadata buffers
    are kept where the tool that made it kept them, and only the associated files are appended."""
    if not metadata:
        return content
    flat, _ = split_associated(content)
    if metadata.buffers and not _external_buffers(flat):
        model = _unpack(flat)
        present = {entry.name.decode(errors="replace") for entry in model.metadata or ()}
        missing = [(name, data) for name, data in metadata.buffers if name not in present]
        if missing:
            schema = _schema()
            model.metadata = list(model.metadata or ())
            for name, data in missing:
                buffer = schema.BufferT()
                buffer.data = np.frombuffer(data, dtype=np.uint8)
                model.buffers.append(buffer)
                entry = schema.MetadataT()
                entry.name, entry.buffer = name.encode(), len(model.buffers) - 1
                model.metadata.append(entry)
            flat = _pack(model)
    return flat + metadata.associated


def fix_batch(content: bytes, batch: int = 1) -> bytes:
    """`content` with every dynamic leading dimension fixed at `batch` (an integer-only target needs it).
    Edited in place (the vectors keep their length), so buffers stored after the flatbuffer keep their
    offsets and whatever follows the flatbuffer stays as it is."""
    schema = _schema()
    data = bytearray(content)
    model = schema.Model.GetRootAs(data, 0)
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        for i in range(graph.TensorsLength()):
            tensor = graph.Tensors(i)
            if not tensor.ShapeSignatureLength():
                continue
            signature = tensor.ShapeSignatureAsNumpy()  # a view into `data`
            if int(signature[0]) == -1:
                signature[0] = batch
                if tensor.ShapeLength():
                    tensor.ShapeAsNumpy()[0] = batch
    return bytes(data)
