"""Rewrites of a tf-keras model's graph that keep its float function: batch normalizations folded into
the layer before them, layers given a bias; and the pairs of weighted layers that cross-layer
equalization can rescale. The model is rebuilt with `clone_model` and its weights set
layer by layer; nothing here trains or converts."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

WEIGHTED = ("Conv2D", "DepthwiseConv2D", "Dense")
NORMALIZATION = ("BatchNormalization", "SyncBatchNormalization")
# Between a pair: layers that pass a positive per-channel scale through unchanged, f(s * x) = s * f(x)
# (PReLU and LeakyReLU whatever their slopes, max and average pooling, zero padding, identities).
PASSING = ("ReLU", "Activation", "Dropout", "SpatialDropout2D", "GaussianNoise", "PReLU", "LeakyReLU", "MaxPooling1D",
           "MaxPooling2D", "AveragePooling1D", "AveragePooling2D", "ZeroPadding1D", "ZeroPadding2D")


def kind(layer) -> str:
    return type(layer).__name__


def inbound(layer) -> list:
    nodes = getattr(layer, "inbound_nodes", None) or getattr(layer, "_inbound_nodes", [])
    if len(nodes) != 1:
        return []
    found = nodes[0].inbound_layers
    return list(found) if isinstance(found, (list, tuple)) else [found]


def outbound(layer) -> list:
    nodes = getattr(layer, "outbound_nodes", None) or getattr(layer, "_outbound_nodes", [])
    return [node.outbound_layer for node in nodes]


def flat(model) -> bool:
    """A Sequential or Functional model whose layers are not models themselves."""
    return kind(model) in ("Sequential", "Functional", "Model") and not any(hasattr(layer, "layers") for layer in model.layers)


def activation_of(layer) -> str:
    """A layer's activation by name: a weighted layer's own, an activation layer's ('relu6' for ReLU(6))."""
    if kind(layer) == "ReLU":
        config = layer.get_config()
        if config.get("max_value") is not None and float(config["max_value"]) == 6.0 and not config.get("negative_slope"):
            return "relu6"
        return "relu" if config.get("max_value") is None and not config.get("negative_slope") and not config.get("threshold") else "other"
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "linear") if activation is not None else "linear"


@dataclass
class Rebuild:
    """How to rebuild a model: layers to replace by the identity, configs to change, weights to set."""

    identity: set[str] = field(default_factory=set)
    configs: dict[str, dict] = field(default_factory=dict)  # layer name -> config updates
    weights: dict[str, list[np.ndarray]] = field(default_factory=dict)  # layer name -> its new weights


def rebuild(model, plan: Rebuild):
    """The model with `plan` applied; every other layer keeps its weights."""
    import tf_keras

    from advisor.executor.tf_env import quiet

    def clone(layer):
        if layer.name in plan.identity:
            return tf_keras.layers.Activation("linear", name=layer.name)
        config = layer.get_config()
        if layer.name in plan.configs:
            config = {**config, **plan.configs[layer.name]}
        return type(layer).from_config(config)

    with quiet():
        copy = tf_keras.models.clone_model(model, clone_function=clone)
    for layer in copy.layers:
        if layer.name in plan.weights:
            layer.set_weights(plan.weights[layer.name])
        elif layer.name not in plan.identity and layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return copy


def kernel_and_bias(layer) -> tuple[np.ndarray, np.ndarray]:
    """A weighted layer's kernel and bias (zeros where it has none), in Keras's layout."""
    weights = layer.get_weights()
    kernel = weights[0]
    bias = weights[1] if len(weights) > 1 else np.zeros(output_channels(layer, kernel), np.float32)
    return kernel, bias


def output_channels(layer, kernel: np.ndarray) -> int:
    return kernel.shape[-2] * kernel.shape[-1] if kind(layer) == "DepthwiseConv2D" else kernel.shape[-1]


def scale_outputs(layer, kernel: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """The kernel with each output channel multiplied by `factor` (one value per output channel)."""
    if kind(layer) == "DepthwiseConv2D":
        return kernel * factor.reshape(kernel.shape[-2], kernel.shape[-1])
    return kernel * factor


def scale_inputs(layer, kernel: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """The kernel with each input channel multiplied by `factor`."""
    if kind(layer) == "Dense":
        return kernel * factor[:, None]
    if kind(layer) == "DepthwiseConv2D":
        return kernel * factor[None, None, :, None]
    return kernel * factor[None, None, :, None]


def fold_batch_norms(model) -> tuple[object, list[str]]:
    """Each batch normalization whose only input is a weighted layer with a linear output (used by it
    alone) folded into that layer, as the converter folds it; returns the model and the folded norms."""
    plan = Rebuild()
    folded = []
    for layer in model.layers:
        if kind(layer) not in NORMALIZATION:
            continue
        before = inbound(layer)
        if len(before) != 1 or kind(before[0]) not in WEIGHTED or activation_of(before[0]) != "linear" \
                or len(outbound(before[0])) != 1 or layer.get_config().get("axis") not in (-1, [-1], 3, [3], 1, [1]):
            continue
        conv = before[0]
        gamma, beta, mean, variance = _norm_weights(layer)
        scale = gamma / np.sqrt(variance + layer.get_config().get("epsilon", 1e-3))
        kernel, bias = kernel_and_bias(conv)
        if kind(conv) == "Dense" and kernel.shape[-1] != scale.size:
            continue
        plan.weights[conv.name] = [scale_outputs(conv, kernel, scale), ((bias - mean) * scale + beta).astype(np.float32)]
        plan.configs[conv.name] = {"use_bias": True}
        plan.identity.add(layer.name)
        folded.append(layer.name)
    return (rebuild(model, plan) if folded else model), folded


def _norm_weights(layer) -> tuple[np.ndarray, ...]:
    config = layer.get_config()
    values = list(layer.get_weights())
    gamma = values.pop(0) if config.get("scale", True) else None
    beta = values.pop(0) if config.get("center", True) else None
    mean, variance = values
    gamma = np.ones_like(mean) if gamma is None else gamma
    beta = np.zeros_like(mean) if beta is None else beta
    return gamma, beta, mean, variance


@dataclass(frozen=True)
class Pair:
    first: str  # a weighted layer whose outputs...
    second: str  # ...only this weighted layer reads, through positively homogeneous ops
    through: tuple[str, ...]  # the layers between them (activations, identities)
    relu6: tuple[str, ...] = ()  # ReLU6 among them (and `first`'s own activation, if relu6)


def pairs(model) -> list[Pair]:
    """Consecutive weighted layers joined by ops that pass a positive scale through (ReLU, linear, identity;
    ReLU6 recorded, as it does only once read as ReLU). A layer whose output branches pairs with nothing."""
    found = []
    for layer in model.layers:
        if kind(layer) not in WEIGHTED or activation_of(layer) not in ("linear", "relu", "relu6"):
            continue
        if kind(layer) == "DepthwiseConv2D" and layer.get_config().get("depth_multiplier", 1) != 1:
            continue
        relu6 = [layer.name] if activation_of(layer) == "relu6" else []
        through, current = [], layer
        while True:
            after = outbound(current)
            if len(after) != 1:
                break
            nxt = after[0]
            if kind(nxt) in WEIGHTED:
                if len(inbound(nxt)) == 1:
                    found.append(Pair(layer.name, nxt.name, tuple(through), tuple(relu6)))
                break
            name = activation_of(nxt) if kind(nxt) in ("ReLU", "Activation") else ("linear" if kind(nxt) in PASSING else None)
            if name not in ("linear", "relu", "relu6") or (kind(nxt) == "ReLU" and name == "other"):
                break
            if name == "relu6":
                relu6.append(nxt.name)
            through.append(nxt.name)
            current = nxt
    return found


def functional(model):
    """A Sequential model as the Functional model of the same layers; other models as they are."""
    if kind(model) != "Sequential":
        return model
    import tf_keras

    return tf_keras.Model(model.inputs, model.outputs, name=model.name)


def split_separable(model) -> tuple[object, list[str]]:
    """Each SeparableConv2D as the DepthwiseConv2D and 1x1 Conv2D it computes (the converter splits it
    the same way, so the float function does not change); the pointwise half keeps the layer's name.
    Returns the model and the layers split."""
    names = [layer.name for layer in model.layers if kind(layer) == "SeparableConv2D"]
    if not names:
        return model, []
    import tf_keras

    from advisor.executor.tf_env import quiet

    graph = functional(model)
    tensors, created = {}, []
    with quiet():
        for layer in graph.layers:
            if kind(layer) == "InputLayer":
                config = layer.get_config()
                tensors[layer.name] = tf_keras.Input(batch_shape=config["batch_input_shape"], dtype=config["dtype"],
                                                     name=layer.name)
                continue
            args = [tensors[source.name] for source in inbound(layer)]
            x = args[0] if len(args) == 1 else args
            if kind(layer) == "SeparableConv2D":
                c = layer.get_config()
                depthwise = tf_keras.layers.DepthwiseConv2D(
                    c["kernel_size"], strides=c["strides"], padding=c["padding"], depth_multiplier=c["depth_multiplier"],
                    dilation_rate=c["dilation_rate"], use_bias=False, name=f"{layer.name}_depthwise")
                pointwise = tf_keras.layers.Conv2D(c["filters"], 1, use_bias=c["use_bias"], activation=c["activation"],
                                                   name=layer.name)
                tensors[layer.name] = pointwise(depthwise(x))
                weights = layer.get_weights()
                created += [(depthwise, weights[:1]), (pointwise, weights[1:])]
            else:
                copy = type(layer).from_config(layer.get_config())
                tensors[layer.name] = copy(x)
                created.append((copy, layer.get_weights()))
        rebuilt = tf_keras.Model([tensors[name] for name in graph.input_names],
                                 [tensors[name] for name in graph.output_names], name=model.name)
    for layer, weights in created:
        if weights:
            layer.set_weights(weights)
    return rebuilt, names
