"""A SavedModel folder, read without TensorFlow: saved_model.pb's serving_default signature (the
protobuf read here) and baked constants, and the variables' shapes from variables/variables.index.
With keras_metadata.pb it is a tf-keras SavedModel, else a plain one (only post-training schemes)."""

from __future__ import annotations

import re
import struct
from pathlib import Path

from advisor.errors import ModelError
from advisor.models.model_file import ModelFile, ModelFormat
from advisor.models.signature import ModelSignature, TensorSpec
from advisor.models.tensors import LayerTensors, ModelTensors
from advisor.models.tensors import elements as _elements
from advisor.reading import keras_config as kc
from advisor.reading.protobuf import fields, map_entries, tensor_shape
from advisor.reading.tensor_bundle import model_variables, read_index

DTYPES = {1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8", 7: "string", 9: "int64",
          10: "bool", 14: "bfloat16", 17: "uint16", 19: "float16", 22: "uint32", 23: "uint64"}
_VARIABLE = re.compile(r"^(?P<layer>.*)/(?P<role>[^/]+)/\.ATTRIBUTES/VARIABLE_VALUE$")


def read(path: Path) -> ModelFile:
    pb = path / "saved_model.pb"
    if not pb.is_file():
        raise ModelError(f"{path}: a folder, but not a SavedModel (no saved_model.pb)")
    fmt = ModelFormat.KERAS2_SAVEDMODEL if (path / "keras_metadata.pb").is_file() else ModelFormat.SAVEDMODEL
    data = pb.read_bytes()
    inputs, outputs = _signature(data, path)
    tensors = _tensors(path, data)
    parameters = _variables(path)
    signature = ModelSignature(format=fmt.value, inputs=inputs, outputs=outputs, parameters=parameters or None)
    return ModelFile(str(path), fmt, signature, tensors)


def _signature(data: bytes, path: Path) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    signature = None
    for number, meta_graph in fields(data):
        if number != 2:
            continue
        signatures = map_entries(value for n, value in fields(meta_graph) if n == 5)
        signature = signatures.get("serving_default")
        if signature is not None:
            break
    if signature is None:
        raise ModelError(f"{path}: the SavedModel has no serving_default signature")
    parts = {1: [], 2: []}
    for number, value in fields(signature):
        if number in parts:
            parts[number].append(value)
    inputs = tuple(_tensor_info(name, info) for name, info in sorted(map_entries(parts[1]).items()))
    outputs = tuple(_tensor_info(name, info) for name, info in sorted(map_entries(parts[2]).items()))
    return inputs, outputs


def _tensor_info(name: str, info: bytes) -> TensorSpec:
    dtype, dims = 1, []
    for number, value in fields(info):
        if number == 2:
            dtype = value
        elif number == 3:
            dims = tensor_shape(value)
    return TensorSpec(name=name, shape=kc.dims(dims[1:]), dtype=DTYPES.get(dtype, f"dtype {dtype}"))


def _variables(path: Path) -> int | None:
    from advisor.reading.tensor_bundle import weight_count

    index = path / "variables" / "variables.index"
    try:
        return weight_count(index) if index.is_file() else None
    except (OSError, ValueError, IndexError, struct.error):
        return None


def _tensors(path: Path, data: bytes) -> ModelTensors | None:
    index = path / "variables" / "variables.index"
    weights: dict[str, list] = {}
    if index.is_file():
        try:
            entries = model_variables(read_index(index))
        except (OSError, ValueError, IndexError, struct.error):
            entries = []
        for entry in entries:
            match = _VARIABLE.match(entry.name)
            layer, role = (match["layer"], match["role"]) if match else (entry.name, entry.name)
            weights.setdefault(layer, []).append((role, entry.shape))
    layers = []
    for name, found in weights.items():
        roles = tuple((kc.role(role, "", len(shape), i), shape) for i, (role, shape) in enumerate(found))
        layers.append(LayerTensors(name, kc.kind_from_roles(roles), roles))
    constants, ops = _graph(data)
    for number, shape in enumerate(constants):
        role = "kernel" if len(shape) >= 2 else "bias"
        layers.append(LayerTensors(f"constant_{number}", "Constant", ((role, shape),)))
    if not layers:
        return None
    return ModelTensors(tuple(layers), ordered=False, source="SavedModel variables.index and saved_model.pb", ops=ops)


MIN_CONSTANT_ELEMENTS = 16  # smaller float constants are scalars and epsilons, not weights


# TensorFlow ops that do not become a LiteRT op: bookkeeping, shape logic the converter folds away, and
# what it fuses into the op before (bias, ReLU) or folds into it (batch normalization)
NOT_AN_OP = {b"Const", b"Identity", b"ReadVariableOp", b"NoOp", b"Placeholder", b"StatefulPartitionedCall",
             b"PartitionedCall", b"VarHandleOp", b"AssignVariableOp", b"Shape", b"Assert", b"Equal", b"All",
             b"BiasAdd", b"Relu", b"Relu6", b"FusedBatchNormV3", b"DisableCopyOnRead"}


def _graph(data: bytes) -> tuple[list[tuple[int, ...]], int | None]:
    """From a SavedModel's saved_model.pb: the shapes of the float Const tensors baked into its graph and
    functions (weights that are not variables, such as fixed filter banks), each counted once; and the
    op count of its largest function (the whole model's call), less what the converter removes.

    SavedModel: meta_graphs = 2; MetaGraphDef: graph_def = 2; GraphDef: node = 1, library = 2;
    FunctionDefLibrary: function = 1; FunctionDef: node_def = 3; NodeDef: op = 2, attr = 5;
    AttrValue: tensor = 8; TensorProto: dtype = 1, tensor_shape = 2, tensor_content = 4.
    """
    from advisor.reading.protobuf import fields, map_entries, tensor_shape

    def bodies(graph: bytes):
        for number, part in fields(graph):
            if number == 1:
                yield [part]
            elif number == 2:
                for n, function in fields(part):
                    if n == 1:
                        yield [node for k, node in fields(function) if k == 3]

    seen, shapes, most = set(), [], None
    for number, meta in fields(data):
        if number != 2:
            continue
        for graph in (value for n, value in fields(meta) if n == 2):
            for body in bodies(graph):
                ops = 0
                for node in body:
                    parts = list(fields(node))
                    op = next((v for n, v in parts if n == 2), b"")
                    ops += op not in NOT_AN_OP
                    if op != b"Const":
                        continue
                    value = map_entries(v for n, v in parts if n == 5).get("value")
                    info = dict(fields(dict(fields(value)).get(8, b""))) if value else {}
                    shape = tuple(tensor_shape(info.get(2, b"")))
                    if info.get(1) != 1 or _elements(shape) < MIN_CONSTANT_ELEMENTS:
                        continue
                    identity = (shape, hash(info.get(4, b"")))
                    if identity not in seen:
                        seen.add(identity)
                        shapes.append(shape)
                most = ops if most is None else max(most, ops)
    return shapes, most
