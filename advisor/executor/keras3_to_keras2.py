"""Rebuild a Keras 3 model in tf-keras (Keras 2) from its config and weights.

TFMOT (QAT, pruning, clustering) works only on tf-keras models. Standard layers survive the trip;
custom layers do not, and the error says which layer stopped it.
"""

from __future__ import annotations

from typing import Any

from advisor.errors import SchemeFailed

WHY_KERAS2 = (
    "quantization-aware training, pruning and clustering use the TensorFlow Model Optimization Toolkit, "
    "which supports only Keras 2 (tf-keras) models"
)


def to_keras2(model3, custom_objects: dict | None = None):
    """A tf-keras copy of a Keras 3 model, weights included; SchemeFailed when it cannot be rebuilt."""
    import tf_keras

    config = _translate(model3.get_config())
    cls = tf_keras.Sequential if type(model3).__name__ == "Sequential" else tf_keras.Model
    try:
        model2 = cls.from_config(config, custom_objects=custom_objects)
        model2.set_weights(model3.get_weights())
    except Exception as err:  # any layer tf-keras cannot rebuild
        raise SchemeFailed(
            f"this Keras 3 model could not be rebuilt in tf-keras ({type(err).__name__}: {_first_line(err)}); "
            f"{WHY_KERAS2}: save the model with tf-keras, or use a post-training scheme"
        ) from None
    return model2


def _translate(value: Any) -> Any:
    if isinstance(value, list):
        return [_translate(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        if key.endswith("_initializer"):
            continue  # the weights are copied afterwards; Keras 3 initializers take arguments tf-keras lacks
        if key == "dtype" and isinstance(item, dict) and item.get("class_name") in ("DTypePolicy", "FloatDTypePolicy"):
            out[key] = item["config"]["name"]
        elif key == "inbound_nodes" and isinstance(item, list):
            out[key] = [_node(n) for n in item]
        elif key in ("input_layers", "output_layers") and item and isinstance(item[0], str):
            out[key] = [item]
        else:
            out[key] = _translate(item)
    if value.get("class_name") == "InputLayer":
        config = out["config"]
        if "batch_shape" in config:
            config["batch_input_shape"] = config.pop("batch_shape")
        config.pop("optional", None)
    elif isinstance(out.get("config"), dict) and isinstance(out.get("class_name"), str):
        out["config"] = _known_arguments(out["class_name"], out["config"])
    return out


# Arguments every tf-keras layer accepts through **kwargs.
_BASE_LAYER_ARGUMENTS = {
    "input_dim", "input_shape", "batch_input_shape", "batch_size", "weights", "activity_regularizer",
    "autocast", "implementation", "dtype", "name", "trainable", "dynamic",
}


def _known_arguments(class_name: str, config: dict) -> dict:
    """Drop the arguments Keras 3 added that the tf-keras layer of the same name does not take."""
    import inspect

    import tf_keras

    cls = getattr(tf_keras.layers, class_name, None)
    if cls is None or class_name in ("Sequential", "Functional", "Model"):
        return config
    accepted = set(inspect.signature(cls.__init__).parameters) | _BASE_LAYER_ARGUMENTS
    return {k: v for k, v in config.items() if k in accepted}


def _node(node: Any) -> Any:
    """Keras 3's {"args": [...], "kwargs": {...}} node into tf-keras's [[layer, node, tensor, kwargs], ...]."""
    if not isinstance(node, dict):
        return node
    kwargs = {k: _translate(v) for k, v in node.get("kwargs", {}).items()}
    return [[*history, kwargs] for history in _histories(node.get("args", []))]


def _histories(value: Any) -> list[list]:
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        return [list(value["config"]["keras_history"])]
    if isinstance(value, (list, tuple)):
        return [h for v in value for h in _histories(v)]
    return []


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[-1][:200] if text else ""
