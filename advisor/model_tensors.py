"""A model's layers and weight tensors, read from its files without TensorFlow: what the size model
(engine/size_model.py) predicts the .tflite of each scheme from.

    .tflite      the flatbuffer's constants, by the op that takes them (a float32 .tflite only)
    .keras zip   config.json (layer order and classes) and model.weights.h5 (layers/<name>/vars/<i>)
    .h5          the model_config attribute and model_weights/<layer>/ (datasets named by weight_names)
    SavedModel   variables/variables.index (names, dtypes and shapes; no layer order)
    in memory    a Keras model object's layers (already loaded)

Weights are attributed to the innermost layer that owns them, so nested models count once.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

from advisor.models.tensors import NORMALIZATION, LayerTensors, ModelTensors
from advisor.models.tensors import elements as _elements

ROLES = ("depthwise_kernel", "kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance", "embeddings")
NORM_ROLES = ("gamma", "beta", "moving_mean", "moving_variance")


def read_tensors(path: str | Path) -> ModelTensors | None:
    """The layers of the model at `path`, or None when its files do not say (a ModelError is not raised
    here: the caller decides whether a model it cannot read is an error)."""
    path = Path(path)
    try:
        if path.is_dir():
            return _saved_model(path)
        if zipfile.is_zipfile(path):
            return _keras_zip(path)
        with path.open("rb") as handle:
            head = handle.read(8)
        if head.startswith(b"\x89HDF"):
            return _h5(path)
        if head[4:8] == b"TFL3":
            return _tflite(path)
    except (OSError, KeyError, ValueError, json.JSONDecodeError, zipfile.BadZipFile):
        return None
    return None


def _flatten(config: dict) -> list[dict]:
    """Every layer of a Keras config in order, nested models opened in place."""
    layers = []
    for layer in config.get("config", {}).get("layers", []):
        if isinstance(layer.get("config"), dict) and "layers" in layer["config"]:
            layers.extend(_flatten(layer))
        else:
            layers.append(layer)
    return layers


def _layer_name(layer: dict) -> str:
    return layer.get("config", {}).get("name") or layer.get("name", "")


def _activation(layer: dict) -> str | None:
    value = layer.get("config", {}).get("activation")
    if isinstance(value, dict):  # Keras 3 serializes activations as objects
        value = value.get("config", value.get("class_name"))
    return value if isinstance(value, str) else None


def _role(weight_name: str, kind: str, rank: int, position: int) -> str:
    base = weight_name.rsplit("/", 1)[-1].split(":")[0]
    if base in ROLES:
        return base
    if kind in NORMALIZATION:
        return NORM_ROLES[position] if position < len(NORM_ROLES) else "other"
    if kind.startswith("DepthwiseConv") and rank >= 2:
        return "depthwise_kernel"
    return "kernel" if rank >= 2 else "bias"


def _assemble(config: dict, weights: dict[str, list[tuple[str, tuple[int, ...]]]], source: str) -> ModelTensors:
    layers = []
    for layer in _flatten(config):
        name, kind = _layer_name(layer), layer.get("class_name", "")
        found = weights.pop(name, [])
        roles = tuple((_role(weight, kind, len(shape), i), shape) for i, (weight, shape) in enumerate(found))
        layers.append(LayerTensors(name, kind, roles, _activation(layer)))
    for name, found in weights.items():  # weights whose layer the config does not name
        roles = tuple((_role(weight, "", len(shape), i), shape) for i, (weight, shape) in enumerate(found))
        layers.append(LayerTensors(name, _kind_from_roles(roles), roles))
    return ModelTensors(tuple(layers), ordered=True, source=source)


def _h5(path: Path) -> ModelTensors | None:
    import h5py

    with h5py.File(path, "r") as handle:
        if "model_config" not in handle.attrs:
            return None
        config = json.loads(_text(handle.attrs["model_config"]))
        plain = {_layer_name(layer) for layer in _flatten(config)}
        root = handle["model_weights"] if "model_weights" in handle else handle
        weights: dict[str, list] = {}
        for group_name in root.attrs.get("layer_names", []):
            group_name = _text(group_name)
            group = root[group_name]
            for weight_name in group.attrs.get("weight_names", []):
                weight_name = _text(weight_name)
                dataset = group[weight_name]
                if dataset.dtype.kind != "f":
                    continue
                parts = weight_name.split(":")[0].split("/")
                # a plain layer's group holds its weights; a nested model's names the inner layer in the path
                owner = group_name if group_name in plain or len(parts) < 2 else parts[-2]
                weights.setdefault(owner, []).append((weight_name, tuple(int(d) for d in dataset.shape)))
    return _assemble(config, weights, "h5")


def _keras_zip(path: Path) -> ModelTensors | None:
    """A .keras zip's weights sit under the path Keras saved each layer by: `layers/<snake_case class
    name>[_<n>]/vars/<i>`, counted per class within each model (nested models have their own)."""
    import h5py

    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
        if "model.weights.h5" not in archive.namelist():
            return None
        data = archive.read("model.weights.h5")
    stored: dict[str, list] = {}

    def visit(name, node):
        if isinstance(node, h5py.Dataset) and "/vars/" in name and not name.startswith("optimizer") and node.dtype.kind == "f":
            stored.setdefault(name.rsplit("/vars/", 1)[0], []).append((name, tuple(int(d) for d in node.shape)))

    with h5py.File(io.BytesIO(data), "r") as handle:
        handle.visititems(visit)
    weights: dict[str, list] = {}
    for prefix, layer in _saved_paths(config, "layers"):
        found = stored.pop(prefix, None) or stored.pop(f"layers/{_layer_name(layer)}", None)
        if found:
            weights[_layer_name(layer)] = sorted(found, key=lambda item: int(item[0].rsplit("/", 1)[-1]))
    for prefix, found in stored.items():  # weights under a path the config does not explain
        weights.setdefault(prefix.rsplit("/", 1)[-1], sorted(found, key=lambda item: int(item[0].rsplit("/", 1)[-1])))
    return _assemble(config, weights, "keras")


def _snake_case(name: str) -> str:
    """Keras's own naming of saved layers (keras.src.utils.naming.to_snake_case)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _saved_paths(config: dict, prefix: str):
    """(path in model.weights.h5, layer config) of every plain layer, nested models opened in place."""
    counts: dict[str, int] = {}
    for layer in config.get("config", {}).get("layers", []):
        base = _snake_case(layer.get("class_name", "layer"))
        count = counts.get(base, 0)
        counts[base] = count + 1
        path = f"{prefix}/{base}" if count == 0 else f"{prefix}/{base}_{count}"
        if isinstance(layer.get("config"), dict) and "layers" in layer["config"]:
            yield from _saved_paths(layer, f"{path}/layers")
        else:
            yield path, layer


_VARIABLE = re.compile(r"^(?P<layer>.*)/(?P<role>[^/]+)/\.ATTRIBUTES/VARIABLE_VALUE$")


def _saved_model(path: Path) -> ModelTensors | None:
    from advisor.tensor_bundle import SKIPPED, read_index

    index = path / "variables" / "variables.index"
    if not index.is_file():
        return None
    weights: dict[str, list] = {}
    seen = set()
    for entry in read_index(index):
        if not entry.is_float or entry.name.startswith(SKIPPED) or ".OPTIMIZER_SLOT" in entry.name:
            continue
        identity = (entry.shape, entry.size, entry.crc32c)
        if identity in seen:  # Keras 3 exports store every variable twice
            continue
        seen.add(identity)
        match = _VARIABLE.match(entry.name)
        layer, role = (match["layer"], match["role"]) if match else (entry.name, entry.name)
        weights.setdefault(layer, []).append((role, entry.shape))
    layers = []
    for name, found in weights.items():
        roles = tuple((_role(role, "", len(shape), i), shape) for i, (role, shape) in enumerate(found))
        layers.append(LayerTensors(name, _kind_from_roles(roles), roles))
    pb = path / "saved_model.pb"
    constants, ops = _graph(pb.read_bytes()) if pb.is_file() else ([], None)
    for index, shape in enumerate(constants):
        role = "kernel" if len(shape) >= 2 else "bias"
        layers.append(LayerTensors(f"constant_{index}", "Constant", ((role, shape),)))
    source = "SavedModel variables.index" + (" and saved_model.pb" if pb.is_file() else "")
    return ModelTensors(tuple(layers), ordered=False, source=source, ops=ops)


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
    from advisor.protobuf import fields, map_entries, tensor_shape

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


# LiteRT ops whose second input is a kernel, the Keras layer they come from, and how to lay the
# kernel out as Keras does (output channels last): OHWI and (out, in) to HWIO and (in, out).
KERNEL_OPS = {"CONV_2D": ("Conv2D", (1, 2, 3, 0)), "FULLY_CONNECTED": ("Dense", (1, 0)),
              "DEPTHWISE_CONV_2D": ("DepthwiseConv2D", (1, 2, 3, 0)), "TRANSPOSE_CONV": ("Conv2D", (1, 2, 3, 0)),
              "CONV_3D": ("Conv3D", (0, 1, 2, 3, 4))}


def _tflite(path: Path) -> ModelTensors | None:
    from advisor.errors import ModelError
    from advisor.tflite_graph import read_graph

    content = path.read_bytes()
    try:
        graph = read_graph(content)
    except ModelError:
        return None
    if any(t.quantized for t in graph.tensors):  # only a float32 .tflite is a starting point
        return None
    layers, seen = [], set()
    for op in graph.ops:
        kind, order = KERNEL_OPS.get(op.name, ("Other", None))
        weights = []
        for position, tensor in enumerate(op.inputs):
            if not tensor.constant or tensor.index in seen or tensor.dtype not in ("float32", "float16"):
                continue
            seen.add(tensor.index)
            if order is not None and position == 1 and len(tensor.shape) == len(order):
                weights.append(("kernel", tuple(tensor.shape[i] for i in order)))
            elif _elements(tensor.shape) >= MIN_CONSTANT_ELEMENTS or (order is not None and position == 2):
                weights.append(("kernel" if len(tensor.shape) >= 2 else "bias", tuple(tensor.shape)))
        layers.append(LayerTensors(f"op_{op.index}", kind if order is not None else "Constant", tuple(weights), "linear"))
    return ModelTensors(tuple(layers), ordered=True, source=".tflite flatbuffer", ops=len(graph.ops),
                        float32_bytes=len(content))


def _kind_from_roles(roles) -> str:
    names = {role for role, _ in roles}
    if names & set(NORM_ROLES):
        return "BatchNormalization"
    if "depthwise_kernel" in names:
        return "DepthwiseConv2D"
    kernels = [shape for role, shape in roles if role == "kernel"]
    if kernels:
        return {2: "Dense", 3: "Conv1D", 4: "Conv2D"}.get(len(kernels[0]), "Other")
    return "Other"


def from_keras_object(model) -> ModelTensors | None:
    """The layers of a Keras model object (tf-keras or Keras 3), nested models opened in place."""
    layers = []

    def add(layer):
        inner = getattr(layer, "layers", None)
        if inner:
            for child in inner:
                add(child)
            return
        kind = type(layer).__name__
        found = [(w.name, tuple(int(d) for d in w.shape)) for w in getattr(layer, "weights", [])
                 if "float" in str(getattr(w, "dtype", "float32"))]
        roles = tuple((_role(name, kind, len(shape), i), shape) for i, (name, shape) in enumerate(found))
        activation = getattr(getattr(layer, "activation", None), "__name__", None)
        layers.append(LayerTensors(layer.name, kind, roles, activation))

    add(model)
    return ModelTensors(tuple(layers), ordered=True, source="model object") if layers else None


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
