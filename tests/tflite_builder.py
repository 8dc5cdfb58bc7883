"""Small float32 .tflite models written with the flatbuffer schema alone (no TensorFlow), shaped like the
files found in packages: without a signature, with legacy operator codes, with float16 weights behind
DEQUANTIZE ops, with metadata and a zip of associated files appended, with a box head beside a class head."""

from __future__ import annotations

import io
import zipfile

import numpy as np


def _schema():
    from ai_edge_litert import schema_py_generated as schema

    return schema


def mlp(*, inputs: int = 32, hidden: int = 64, classes: int = 4, box: bool = False, batch: int = -1, signature: bool = True,
        legacy_codes: bool = False, float16: bool = False, metadata: bool = False, seed: int = 0) -> bytes:
    """x (N, inputs) -> FULLY_CONNECTED(hidden, relu) -> FULLY_CONNECTED(classes) -> SOFTMAX = 'scores';
    with `box`, also -> FULLY_CONNECTED(4) = 'box' (values)."""
    import flatbuffers

    s = _schema()
    rng = np.random.default_rng(seed)
    model = s.ModelT()
    model.version = 3
    model.buffers = [s.BufferT()]
    codes: dict[str, int] = {}
    graph = s.SubGraphT()
    graph.tensors, graph.operators = [], []

    def code(name: str) -> int:
        if name not in codes:
            entry = s.OperatorCodeT()
            value = getattr(s.BuiltinOperator, name)
            entry.builtinCode = 0 if legacy_codes else value
            entry.deprecatedBuiltinCode = min(value, 127)
            entry.version = 1
            codes[name] = len(codes)
            model.operatorCodes = [*(model.operatorCodes or []), entry]
        return codes[name]

    def tensor(name: str, shape, dtype="FLOAT32", data: np.ndarray | None = None) -> int:
        t = s.TensorT()
        t.name = name.encode()
        t.shape = [1 if d == -1 else d for d in shape]
        t.shapeSignature = list(shape)
        t.type = getattr(s.TensorType, dtype)
        t.buffer = 0
        if data is not None:
            buffer = s.BufferT()
            buffer.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype=np.uint8)
            model.buffers.append(buffer)
            t.buffer = len(model.buffers) - 1
        graph.tensors.append(t)
        return len(graph.tensors) - 1

    def op(name: str, ins, outs, options=None, kind=None):
        o = s.OperatorT()
        o.opcodeIndex = code(name)
        o.inputs, o.outputs = list(ins), list(outs)
        if options is not None:
            o.builtinOptionsType, o.builtinOptions = kind, options
        graph.operators.append(o)

    def weight(name: str, shape) -> int:
        values = (rng.normal(size=shape) / np.sqrt(shape[-1])).astype(np.float32)
        if not float16:
            return tensor(name, shape, data=values)
        half = tensor(name + "_fp16", shape, "FLOAT16", values.astype(np.float16))
        full = tensor(name, shape)
        op("DEQUANTIZE", [half], [full])
        return full

    def dense(name: str, source: int, width: int, units: int, relu: bool) -> int:
        options = s.FullyConnectedOptionsT()
        options.fusedActivationFunction = s.ActivationFunctionType.RELU if relu else s.ActivationFunctionType.NONE
        kernel, bias = weight(name + "/kernel", (units, width)), tensor(name + "/bias", (units,), data=np.zeros(units, np.float32))
        out = tensor(name, (batch, units))
        op("FULLY_CONNECTED", [source, kernel, bias], [out], options, s.BuiltinOptions.FullyConnectedOptions)
        return out

    x = tensor("x", (batch, inputs))
    h = dense("hidden", x, inputs, hidden, relu=True)
    logits = dense("logits", h, hidden, classes, relu=False)
    scores = tensor("scores", (batch, classes))
    softmax = s.SoftmaxOptionsT()
    softmax.beta = 1.0
    op("SOFTMAX", [logits], [scores], softmax, s.BuiltinOptions.SoftmaxOptions)
    outputs = [scores]
    if box:
        outputs.append(dense("box", h, hidden, 4, relu=False))
    graph.inputs, graph.outputs = [x], outputs
    model.subgraphs = [graph]
    if signature:
        sig = s.SignatureDefT()
        sig.signatureKey, sig.subgraphIndex = b"serving_default", 0

        def entry(name, index):
            m = s.TensorMapT()
            m.name, m.tensorIndex = name.encode(), index
            return m

        sig.inputs = [entry("x", x)]
        sig.outputs = [entry("scores", scores)] + ([entry("box", outputs[1])] if box else [])
        model.signatureDefs = [sig]
    if metadata:
        buffer = s.BufferT()
        buffer.data = np.frombuffer(b"a model description", dtype=np.uint8)
        model.buffers.append(buffer)
        meta = s.MetadataT()
        meta.name, meta.buffer = b"TFLITE_METADATA", len(model.buffers) - 1
        model.metadata = [meta]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    content = bytes(builder.Output())
    if metadata:
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as z:
            z.writestr("labels.txt", "\n".join(f"class {i}" for i in range(classes)))
        content += archive.getvalue()
    return content


def data(count: int = 200, inputs: int = 32, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(count, inputs)).astype(np.float32)


def with_external_buffers(content: bytes) -> bytes:
    """The same model with its weight buffers stored after the flatbuffer, at offsets (as LiteRT Quantizer
    and newer converters write large buffers)."""
    import flatbuffers

    s = _schema()
    model = s.ModelT.InitFromPackedBuf(content, 0)
    moved = [(i, bytes(np.asarray(b.data, dtype=np.uint8))) for i, b in enumerate(model.buffers) if b.data is not None and len(b.data) >= 256]
    for i, _ in moved:
        model.buffers[i].data = None
        model.buffers[i].offset, model.buffers[i].size = 1, 1  # placeholders, fixed below

    def pack() -> bytes:
        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())

    flat = pack()
    start = (len(flat) + 15) // 16 * 16
    tail, position = b"", start
    for i, data in moved:
        model.buffers[i].offset, model.buffers[i].size = position, len(data)
        tail += data + b"\0" * ((-len(data)) % 16)
        position = start + len(tail)
    flat = pack()
    assert len(flat) <= start, "the offsets were laid out for a flatbuffer of the first size"
    return flat + b"\0" * (start - len(flat)) + tail
