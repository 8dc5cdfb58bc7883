"""A .tflite as a ModelFile: its serving signature (made when it has none), the output kinds its last
ops tell, and its constants by the op that takes them (what the size model reads). A file that needs
repairs before a backend can read it (tflite_repair.py) is read as the repaired float32 model, which is
what a run starts from; an already quantized one is read but marked unusable."""

from __future__ import annotations

from advisor.errors import ModelError
from advisor.models.model_file import ModelFile, ModelFormat
from advisor.models.tensors import LayerTensors, ModelTensors
from advisor.models.tensors import elements as _elements
from advisor.reading.tflite import Graph, quantized_tensors, read_graph, signature, signature_keys
from advisor.reading.tflite_repair import repair

MIN_CONSTANT_ELEMENTS = 16  # smaller float constants are scalars and epsilons, not weights


# LiteRT ops whose second input is a kernel, the Keras layer they come from, and how to lay the
# kernel out as Keras does (output channels last): OHWI and (out, in) to HWIO and (in, out).
KERNEL_OPS = {"CONV_2D": ("Conv2D", (1, 2, 3, 0)), "FULLY_CONNECTED": ("Dense", (1, 0)),
              "DEPTHWISE_CONV_2D": ("DepthwiseConv2D", (1, 2, 3, 0)), "TRANSPOSE_CONV": ("Conv2D", (1, 2, 3, 0)),
              "CONV_3D": ("Conv3D", (0, 1, 2, 3, 4))}


def read(data: bytes, source: str) -> ModelFile:
    graph = read_graph(data, source)
    unusable = why_unusable(graph, data)
    if unusable:
        return ModelFile(source, ModelFormat.TFLITE, signature(data), None, unusable=f"{source}: {unusable}")
    repaired = repair(data)
    fixed = read_graph(repaired.content, source)
    tensors = constants(fixed, len(repaired.content))
    return ModelFile(source, ModelFormat.TFLITE, signature(repaired.content), tensors, notes=repaired.notes)


def why_unusable(graph: Graph, data: bytes) -> str | None:
    """Why a .tflite cannot be a run's starting point: already quantized (quantizing it again would compound
    the error and measure against a quantized baseline), or several signatures and none the one to use."""
    quantized = quantized_tensors(graph)
    if quantized:
        kinds = sorted({t.dtype for t in quantized})
        return (f"already quantized ({len(quantized)} tensor(s) in {', '.join(kinds)}); give the float32 .tflite it was "
                "made from")
    keys = signature_keys(data)
    if len(keys) > 1 and "serving_default" not in keys:
        return (f"the .tflite has {len(keys)} signatures ({', '.join(keys)}) and none is serving_default; the advisor "
                "quantizes one: export the one to deploy alone, or name it serving_default")
    return None


def constants(graph: Graph, size: int) -> ModelTensors:
    """The float constants of a float32 .tflite, each attributed to the op that takes it, kernels laid out
    as Keras lays them out."""
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
    return ModelTensors(tuple(layers), ordered=True, source=".tflite flatbuffer", ops=len(graph.ops), float32_bytes=size)
