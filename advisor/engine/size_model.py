"""Predict the .tflite size of each scheme from a model's weight tensors (pure; no TensorFlow).

Conversion is modelled as the TFLite converter does it:
- a batch normalization right after a convolution or dense layer folds into it (its kernel is scaled,
  and a bias appears when the layer had none); elsewhere it becomes a MUL and an ADD, each with a vector;
- a ReLU or ReLU6 right after such a layer fuses into it, as does the layer's own relu activation;
- augmentation, dropout and noise layers leave the inference graph.
Each scheme's `size` entry in rules/schemes.yaml says how its constants are stored (bits per kernel
and bias value, which kernels stay float, which carry per-channel quantization parameters) and how
much graph it adds per op and per constant, fitted on converted models (benchmarks/size_prediction.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from advisor.models.tensors import NORMALIZATION, ModelTensors

FOLDS_INTO = ("Conv1D", "Conv2D", "Conv3D", "DepthwiseConv2D", "Dense", "Conv2DTranspose", "SeparableConv2D")
FUSED_ACTIVATIONS = ("relu", "relu6", "linear", None)
NO_OP = ("InputLayer", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
         "GaussianDropout", "AlphaDropout", "ActivityRegularization", "RandomFlip", "RandomRotation", "RandomZoom",
         "RandomTranslation", "RandomContrast", "RandomCrop", "RandomBrightness", "RandomHeight", "RandomWidth")
ACTIVATION_LAYERS = ("ReLU", "Activation")
# layers the converter expresses in several ops (a 1D convolution is a 2D one between EXPAND_DIMS and
# SQUEEZE; a separable one is a depthwise and a pointwise convolution)
OPS_PER_LAYER = {"Conv1D": 3, "Conv1DTranspose": 3, "SeparableConv1D": 4, "SeparableConv2D": 2}
# LiteRT's fused UNIDIRECTIONAL_SEQUENCE_LSTM takes the input, recurrent and bias weights of each of the four
# gates as separate tensors (so dynamic range's 1,024-value floor applies per gate)
GATES = {"LSTM": 4}


@dataclass(frozen=True)
class ModelFacts:
    """What the engine knows of the model in hand: its format (as the rules name it), its float32
    .tflite size (the baseline of size goals) and the predicted .tflite of each scheme."""

    float32_bytes: int | None = None
    predicted: tuple[tuple[str, int], ...] = ()  # (scheme, bytes)
    error: float = 0.0  # the prediction's measured relative error: the safety margin
    source: str = ""
    format: str | None = None  # keras, savedmodel, tflite
    notes: tuple[str, ...] = ()  # what the prediction could not see, in words

    def bytes_of(self, scheme: str) -> int | None:
        return dict(self.predicted).get(scheme)

    def reduction_of(self, scheme: str) -> float | None:
        size = self.bytes_of(scheme)
        return None if size is None or not self.float32_bytes else 1 - size / self.float32_bytes


@dataclass(frozen=True)
class Kernel:
    elements: int
    channels: int  # per-channel quantization parameters it gets (its output channels)
    kind: str = ""  # the layer it belongs to


@dataclass(frozen=True)
class Converted:
    """What the converter keeps of a model: constants and an op count."""

    kernels: tuple[Kernel, ...]
    vectors: tuple[int, ...]  # biases: elements each
    operands: tuple[int, ...]  # the MUL and ADD vectors of normalizations that do not fold: elements each
    ops: int
    folded: int  # normalizations folded into the layer before them

    @property
    def constants(self) -> int:
        return len(self.kernels) + len(self.vectors) + len(self.operands)


def _channels(kind: str, role: str, shape: tuple[int, ...]) -> int:
    if role == "depthwise_kernel" or kind.startswith("DepthwiseConv"):
        return shape[-2] * shape[-1] if len(shape) >= 2 else 1
    if kind.startswith("Conv") and kind.endswith("Transpose") and len(shape) >= 2:
        return shape[-2]
    if role == "embeddings":
        return 1
    return shape[-1] if shape else 1


def convert(tensors: ModelTensors) -> Converted:
    kernels: list[Kernel] = []
    vectors: list[int] = []
    operands: list[int] = []
    ops = folded = 0
    previous = None  # the last op-producing layer, for folding and fusing
    previous_open = False  # it ends in a linear output, so a following normalization/activation can join it
    for layer in tensors.layers:
        if layer.kind in NO_OP:
            continue
        weights = layer.weights
        if layer.kind in NORMALIZATION:
            channels = next((shape[-1] for _, shape in weights if shape), 0)
            if not tensors.ordered:  # no graph order: assume the usual convolution -> normalization, bias-free
                folded += 1
                vectors.append(channels)
                continue
            if previous_open and previous is not None and previous[1] == channels:
                folded += 1
                if not previous[2]:
                    vectors.append(channels)
                    previous = (previous[0], previous[1], True)
                continue
            operands.extend([channels, channels])
            ops += 2
            previous, previous_open = None, False
            continue
        if layer.kind in ACTIVATION_LAYERS and previous_open and (layer.activation in FUSED_ACTIVATIONS or layer.kind == "ReLU"):
            previous_open = False
            continue
        layer_kernels = [(role, shape) for role, shape in weights if len(shape) >= 2]
        biases = [shape for role, shape in weights if len(shape) < 2]
        gates = GATES.get(layer.kind, 1)  # a fused LSTM stores each gate's weights as a tensor of its own
        for role, shape in layer_kernels:
            elements = 1
            for dim in shape:
                elements *= dim
            kind = "DepthwiseConv2D" if role == "depthwise_kernel" else layer.kind
            kernels.extend([Kernel(elements // gates, _channels(layer.kind, role, shape) // gates, kind)] * gates)
        for shape in biases:
            vectors.extend([(shape[0] if shape else 1) // gates] * gates)
        ops += OPS_PER_LAYER.get(layer.kind, 1) + (layer.activation not in FUSED_ACTIVATIONS)
        if layer_kernels and layer.kind in FOLDS_INTO:
            previous = (layer.name, kernels[-1].channels, bool(biases))
            previous_open = layer.activation in ("linear", None)
        else:
            previous, previous_open = None, False
    if tensors.ops is not None:  # counted in the graph itself
        ops = tensors.ops
    return Converted(tuple(kernels), tuple(vectors), tuple(operands), ops, folded)


def weight_bytes(converted: Converted, size, parameter_bytes: int) -> float:
    """The bytes of the constants and their quantization parameters under a scheme's `size` entry."""
    total = 0.0
    params = 0
    for kernel in converted.kernels:
        stored = kernel.elements >= size.min_quantized_elements and kernel.kind not in size.float_kernels
        total += kernel.elements * (size.kernel_bits if stored else 32) / 8
        if stored and size.kernel_bits < 16:  # integer kernels carry per-channel parameters
            params += kernel.channels
            total += kernel.channels * size.kernel_range_bytes
    for elements in converted.vectors:
        total += elements * size.bias_bits / 8
        if size.activations_quantized:
            params += elements
    for elements in converted.operands:  # quantized like activations: one parameter per tensor
        total += elements * size.operand_bits / 8
        params += size.activations_quantized
    return total + params * parameter_bytes


def predict_bytes(converted: Converted, size, parameter_bytes: int) -> int:
    overhead = size.overhead
    graph = overhead.base + overhead.per_op * converted.ops + overhead.per_constant * converted.constants
    return int(round(weight_bytes(converted, size, parameter_bytes) + graph))


def predict_all(tensors: ModelTensors, rules, model_format: str | None = None) -> dict[str, int]:
    """Predicted .tflite bytes of every scheme that has a `size` entry in `rules` (as the backend the
    rules choose for `model_format` stores it)."""
    if rules.catalog.size_model is None:
        return {}
    converted = convert(tensors)
    parameter_bytes = rules.catalog.size_model.parameter_bytes
    sizes = {sid: rules.size_of(sid, model_format) for sid in rules.schemes}
    return {sid: predict_bytes(converted, size, parameter_bytes) for sid, size in sizes.items() if size is not None}


def model_size(tensors: ModelTensors, rules, baseline: str = "float32", model_format: str | None = None) -> ModelFacts | None:
    """The ModelFacts of a model whose tensors were read; None when the rules cannot predict its baseline."""
    predicted = predict_all(tensors, rules, model_format)
    if baseline not in predicted:
        return None
    if tensors.float32_bytes is not None:  # a float32 .tflite: its real graph is the baseline's overhead
        converted = convert(tensors)
        parameter_bytes = rules.catalog.size_model.parameter_bytes
        base = rules.schemes[baseline].size
        overhead = tensors.float32_bytes - weight_bytes(converted, base, parameter_bytes)
        sizes = {sid: rules.size_of(sid, model_format) for sid in predicted}
        predicted = {sid: round(weight_bytes(converted, size, parameter_bytes) + overhead
                                + (size.overhead.per_constant - base.overhead.per_constant) * converted.constants)
                     for sid, size in sizes.items()}
        predicted[baseline] = tensors.float32_bytes
    return ModelFacts(float32_bytes=predicted[baseline], predicted=tuple(predicted.items()),
                      error=rules.catalog.size_model.graph_error if tensors.ops is not None and tensors.float32_bytes is None
                      else rules.catalog.size_model.error,
                      source=tensors.source, format=model_format)


CROSS_CHECK = 0.10  # the float32 weights predicted and 4 bytes per parameter may differ this much


def cross_checked(facts: ModelFacts, tensors: ModelTensors, parameters: int | None, rules,
                  model_format: str | None = None) -> ModelFacts:
    """`facts` when the weights the reader attributed to layers account for the model's parameter count
    (at most 10% missing; a SavedModel's baked constants may add to it); else the prediction made again
    with the unattributed parameters counted as kernels of their own, and a note that says so."""
    if not parameters or tensors.float32_bytes is not None:  # a .tflite is its own constants
        return facts
    counted = tensors.parameters
    if counted >= (1 - CROSS_CHECK) * parameters:
        return facts
    from dataclasses import replace

    from advisor.models.tensors import LayerTensors

    note = (f"the size prediction's reader attributed {counted:,} of the model's {parameters:,} parameters to layers; "
            f"the other {parameters - counted:,} are counted as kernels")
    extra = LayerTensors("unattributed", "Dense", (("kernel", (parameters - counted, 1)),), "linear")
    again = model_size(replace(tensors, layers=(*tensors.layers, extra)), rules, model_format=model_format) or facts
    return replace(again, notes=(*again.notes, note))
