"""Read a .tflite flatbuffer into plain data: operators with their tensors' dtypes and shapes.

Uses the flatbuffer schema that `ai_edge_litert` ships; never imports TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from advisor.errors import ModelError


@dataclass(frozen=True)
class TensorInfo:
    index: int
    name: str
    dtype: str  # "float32", "int8", ...
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...]  # -1 where the size is dynamic
    constant: bool  # holds data in the file (a weight or a bias)
    quantized: bool  # has scale/zero-point parameters

    @property
    def elements(self) -> int:
        count = 1
        for dim in self.shape:
            count *= max(dim, 1)
        return count


@dataclass(frozen=True)
class OpInfo:
    index: int
    name: str  # builtin name (CONV_2D) or the custom code
    custom: bool
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]

    @property
    def tensors(self) -> tuple[TensorInfo, ...]:
        return self.inputs + self.outputs

    def dtypes(self) -> set[str]:
        return {t.dtype for t in self.tensors}

    def activation_dtypes(self) -> set[str]:
        """Dtypes of the non-constant tensors (what flows between ops)."""
        return {t.dtype for t in self.tensors if not t.constant}


@dataclass(frozen=True)
class Graph:
    ops: tuple[OpInfo, ...]
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    tensors: tuple[TensorInfo, ...]
    subgraphs: int

    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for op in self.ops:
            counts[op.name] = counts.get(op.name, 0) + 1
        return counts


@lru_cache(maxsize=1)
def _schema():
    from ai_edge_litert import schema_py_generated as schema

    names = {
        table: {value: name for name, value in vars(getattr(schema, table)).items() if not name.startswith("_")}
        for table in ("BuiltinOperator", "TensorType")
    }
    return schema, names["BuiltinOperator"], names["TensorType"]


def read_graph(source: bytes | str | Path, name: str | None = None) -> Graph:
    """Parse a .tflite model (bytes or a path); a file that is not one is a ModelError."""
    name = name or (str(source) if not isinstance(source, (bytes, bytearray)) else "model")
    data = bytes(source) if isinstance(source, (bytes, bytearray)) else _read(Path(source))
    schema, op_names, type_names = _schema()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelError(f"{name}: not a .tflite model (no TFL3 flatbuffer identifier)")
    try:
        model = schema.Model.GetRootAs(data, 0)
        buffers = [model.Buffers(i) for i in range(model.BuffersLength())]
        codes = []
        for i in range(model.OperatorCodesLength()):
            code = model.OperatorCodes(i)
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            custom = code.CustomCode()
            codes.append((custom.decode() if custom else op_names.get(builtin, f"BUILTIN_{builtin}"), bool(custom)))
        ops, all_tensors, graph_inputs, graph_outputs = [], [], [], []
        for g in range(model.SubgraphsLength()):
            sub = model.Subgraphs(g)
            tensors = [_tensor(sub.Tensors(i), i, buffers, type_names) for i in range(sub.TensorsLength())]
            if g == 0:
                all_tensors = tensors
                graph_inputs = [tensors[i] for i in sub.InputsAsNumpy()] if sub.InputsLength() else []
                graph_outputs = [tensors[i] for i in sub.OutputsAsNumpy()] if sub.OutputsLength() else []
            for i in range(sub.OperatorsLength()):
                op = sub.Operators(i)
                opname, custom = codes[op.OpcodeIndex()]
                ins = tuple(tensors[t] for t in (op.InputsAsNumpy() if op.InputsLength() else ()) if t >= 0)
                outs = tuple(tensors[t] for t in (op.OutputsAsNumpy() if op.OutputsLength() else ()) if t >= 0)
                ops.append(OpInfo(len(ops), opname, custom, ins, outs))
        return Graph(tuple(ops), tuple(graph_inputs), tuple(graph_outputs), tuple(all_tensors), model.SubgraphsLength())
    except ModelError:
        raise
    except Exception as err:  # a corrupt flatbuffer raises whatever the generated code hits
        raise ModelError(f"{name}: not a readable .tflite model ({type(err).__name__})") from None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ModelError(f"{path}: is a folder, not a .tflite file") from None


def _tensor(tensor, index: int, buffers, type_names) -> TensorInfo:
    buffer = buffers[tensor.Buffer()] if 0 <= tensor.Buffer() < len(buffers) else None
    constant = bool(buffer is not None and (buffer.DataLength() > 0 or buffer.Size() > 0))
    quant = tensor.Quantization()
    quantized = bool(quant is not None and quant.ScaleLength() > 0)
    shape = tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
    signature = tuple(int(d) for d in tensor.ShapeSignatureAsNumpy()) if tensor.ShapeSignatureLength() else shape
    return TensorInfo(
        index=index,
        name=tensor.Name().decode(errors="replace") if tensor.Name() else "",
        dtype=type_names.get(tensor.Type(), str(tensor.Type())).lower(),
        shape=shape,
        shape_signature=signature,
        constant=constant,
        quantized=quantized,
    )


_NUMPY = {"float32": "<f4", "float16": "<f2", "float64": "<f8", "int8": "i1", "uint8": "u1", "int16": "<i2",
          "int32": "<i4", "int64": "<i8"}


@dataclass(frozen=True)
class Weight:
    name: str
    values: object  # numpy array of the stored values (int8 for quantized weights)
    channel_axis: int | None  # the axis of per-channel quantization, None when per-tensor or float


def weights(source: bytes | str | Path) -> list[Weight]:
    """The weight tensors stored in the file (constant, rank >= 2, numeric), as numpy arrays."""
    import numpy as np

    data = bytes(source) if isinstance(source, (bytes, bytearray)) else _read(Path(source))
    schema, _, type_names = _schema()
    model = schema.Model.GetRootAs(data, 0)
    found = []
    for g in range(model.SubgraphsLength()):
        sub = model.Subgraphs(g)
        for i in range(sub.TensorsLength()):
            tensor = sub.Tensors(i)
            dtype = type_names.get(tensor.Type(), "").lower()
            shape = tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
            if dtype not in _NUMPY or len(shape) < 2 or not 0 <= tensor.Buffer() < model.BuffersLength():
                continue
            buffer = model.Buffers(tensor.Buffer())
            if buffer.DataLength():
                raw = buffer.DataAsNumpy().tobytes()
            elif buffer.Offset():  # stored after the flatbuffer
                raw = data[buffer.Offset():buffer.Offset() + buffer.Size()]
            else:
                continue
            values = np.frombuffer(raw, dtype=_NUMPY[dtype])
            if values.size != int(np.prod(shape)):
                continue
            quant = tensor.Quantization()
            axis = quant.QuantizedDimension() if quant is not None and quant.ScaleLength() > 1 else None
            name = tensor.Name().decode(errors="replace") if tensor.Name() else f"tensor {i}"
            found.append(Weight(name, values.reshape(shape), axis))
    return found


@dataclass(frozen=True)
class Constant:
    dtype: str
    elements: int
    nbytes: int  # as stored (int4 packs two values a byte)


def constants(source: bytes | str | Path) -> list[Constant]:
    """Every constant tensor the file stores, with its bytes as stored (each buffer counted once)."""
    data = bytes(source) if isinstance(source, (bytes, bytearray)) else _read(Path(source))
    schema, _, type_names = _schema()
    model = schema.Model.GetRootAs(data, 0)
    found, seen = [], set()
    for g in range(model.SubgraphsLength()):
        sub = model.Subgraphs(g)
        for i in range(sub.TensorsLength()):
            tensor = sub.Tensors(i)
            index = tensor.Buffer()
            if index in seen or not 0 < index < model.BuffersLength():
                continue
            buffer = model.Buffers(index)
            size = buffer.DataLength() or int(buffer.Size())
            if not size:
                continue
            seen.add(index)
            shape = tensor.ShapeAsNumpy() if tensor.ShapeLength() else ()
            elements = 1
            for dim in shape:
                elements *= max(int(dim), 1)
            found.append(Constant(type_names.get(tensor.Type(), str(tensor.Type())).lower(), elements, size))
    return found


def signature(source: bytes | str | Path):
    """The .tflite's inputs and outputs as a ModelSignature: named by its serving signature (or the
    first one) where it has one, else by the subgraph's tensor names."""
    from advisor.models.signature import ModelSignature, TensorSpec

    data = bytes(source) if isinstance(source, (bytes, bytearray)) else _read(Path(source))
    graph = read_graph(data)
    inputs = _signature_tensors(data, graph, "inputs")
    outputs = _signature_tensors(data, graph, "outputs")

    kinds = output_kinds(graph)

    def spec(name, tensor, kind=None):
        dims = tensor.shape_signature[1:] if tensor.shape_signature else ()
        return TensorSpec(name=name, shape=tuple(None if d == -1 else d for d in dims), dtype=tensor.dtype, kind=kind)

    parameters = sum(t.elements for t in graph.tensors if t.constant)
    return ModelSignature(format="tflite", inputs=tuple(spec(*i) for i in inputs),
                          outputs=tuple(spec(name, t, kinds.get(t.index)) for name, t in outputs), parameters=parameters)


INDEX_OPS = {"GATHER": 1, "EMBEDDING_LOOKUP": 0, "GATHER_ND": 1}  # op -> which input holds indices


def index_inputs(source: bytes | str | Path) -> list[str]:
    """The signature names of the inputs a float32 .tflite uses as indices (token ids into an embedding),
    directly or through a CAST: quantizing them would destroy them."""
    data = bytes(source) if isinstance(source, (bytes, bytearray)) else _read(Path(source))
    graph = read_graph(data)
    consumers: dict[int, list[tuple[OpInfo, int]]] = {}
    for op in graph.ops:
        for position, tensor in enumerate(op.inputs):
            consumers.setdefault(tensor.index, []).append((op, position))

    def indexes(tensor_index: int, depth: int = 0) -> bool:
        for op, position in consumers.get(tensor_index, ()):
            if INDEX_OPS.get(op.name) == position:
                return True
            if op.name in ("CAST", "RESHAPE", "SQUEEZE", "EXPAND_DIMS") and position == 0 and depth < 4 \
                    and indexes(op.outputs[0].index, depth + 1):
                return True
        return False

    names = {t.index: name for name, t in _signature_tensors(data, graph, "inputs")}
    return [names[t.index] for t in graph.inputs if t.index in names and indexes(t.index)]


def _signature_tensors(data: bytes, graph: Graph, which: str) -> list[tuple[str, TensorInfo]]:
    """(name, tensor) of the serving signature's inputs or outputs (subgraph 0's, by tensor name, without one)."""
    schema, _, _ = _schema()
    model = schema.Model.GetRootAs(data, 0)
    by_index = {t.index: t for t in graph.tensors}
    if model.SignatureDefsLength():
        keys = [model.SignatureDefs(i).SignatureKey().decode() for i in range(model.SignatureDefsLength())]
        chosen = model.SignatureDefs(keys.index("serving_default") if "serving_default" in keys else 0)
        if chosen.SubgraphIndex() == 0:
            count = chosen.InputsLength() if which == "inputs" else chosen.OutputsLength()
            entry = chosen.Inputs if which == "inputs" else chosen.Outputs
            return [(entry(i).Name().decode(), by_index[entry(i).TensorIndex()]) for i in range(count)]
    return [(t.name, t) for t in (graph.inputs if which == "inputs" else graph.outputs)]


SCORE_OPS = ("SOFTMAX", "LOGISTIC", "LOG_SOFTMAX")
PASS_THROUGH = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS", "DEQUANTIZE", "QUANTIZE", "IDENTITY")


def output_kinds(graph: Graph) -> dict[int, str]:
    """Each graph output's kind, read from the op that makes it (through reshapes): `scores` after a
    softmax or a sigmoid, `values` otherwise (boxes, landmarks, embeddings, logits the graph cannot tell
    from regression; task.outputs says otherwise)."""
    producer = {t.index: op for op in graph.ops for t in op.outputs}
    kinds = {}
    for tensor in graph.outputs:
        op = producer.get(tensor.index)
        while op is not None and op.name in PASS_THROUGH and op.inputs:
            op = producer.get(op.inputs[0].index)
        kinds[tensor.index] = "scores" if op is not None and op.name in SCORE_OPS else "values"
    return kinds


def signature_keys(source: bytes | str | Path) -> list[str]:
    data = bytes(source) if isinstance(source, (bytes, bytearray)) else _read(Path(source))
    schema, _, _ = _schema()
    model = schema.Model.GetRootAs(data, 0)
    return [model.SignatureDefs(i).SignatureKey().decode() for i in range(model.SignatureDefsLength())]


def signature_key(source: bytes | str | Path) -> str:
    """The signature the advisor drives a .tflite by: serving_default, else its only one (a repaired
    model always has one); a ModelError when it has several and none is serving_default."""
    keys = signature_keys(source)
    if "serving_default" in keys:
        return "serving_default"
    if len(keys) == 1:
        return keys[0]
    if not keys:
        raise ModelError("the .tflite has no signature; the advisor makes serving_default from subgraph 0 when it reads "
                         "the model (advisor.reading.tflite_repair)")
    raise ModelError(f"the .tflite has {len(keys)} signatures ({', '.join(keys)}) and none is serving_default; the "
                     "advisor quantizes one: export the one to deploy alone, or name it serving_default")


def tensor_scales(source: bytes | str | Path) -> dict[str, float]:
    """The quantization scale of every per-tensor quantized tensor, by name."""
    data = bytes(source) if isinstance(source, (bytes, bytearray)) else _read(Path(source))
    schema, _, _ = _schema()
    model = schema.Model.GetRootAs(data, 0)
    scales = {}
    for g in range(model.SubgraphsLength()):
        sub = model.Subgraphs(g)
        for i in range(sub.TensorsLength()):
            tensor = sub.Tensors(i)
            quant = tensor.Quantization()
            if quant is not None and quant.ScaleLength() == 1 and tensor.Name():
                scales[tensor.Name().decode(errors="replace")] = float(quant.Scale(0))
    return scales


def quantized_tensors(source: bytes | str | Path | Graph) -> list[TensorInfo]:
    """Tensors that carry quantization parameters or hold integer weights: a float model has none."""
    graph = source if isinstance(source, Graph) else read_graph(source)
    return [t for t in graph.tensors if t.quantized or (t.constant and t.dtype in ("int8", "uint8", "int4", "int16")
                                                        and len(t.shape) >= 2)]
