"""Fine-tuning with TFMOT: quantization-aware training, pruning and clustering, with progress bars.

All models here are tf-keras (Keras 2) models; TensorFlow is imported on first use.
"""

from __future__ import annotations

import math

import numpy as np

from advisor.errors import SchemeFailed
from advisor.models.dataset import Dataset
from advisor.executor.tf_env import quiet, tensorflow, tfmot

SEED = 0


def features(data: Dataset):
    """What Keras's fit and call take: the one array, or a dict keyed by input name."""
    return next(iter(data.inputs.values())) if len(data.inputs) == 1 else dict(data.inputs)


def compile_for_task(model, learning_rate: float, data: Dataset) -> None:
    """Compile with the loss the labels call for: cross-entropy for class indices or one-hot rows,
    binary cross-entropy for one 0/1 output, mean squared error otherwise (from_logits decided by
    the model's own outputs)."""
    tensorflow()
    import tf_keras as keras

    if len(model.outputs) != 1:
        raise SchemeFailed(f"fine-tuning needs a single-output model; this one has {len(model.outputs)} outputs")
    with quiet():
        out = np.asarray(model(_first(features(data), 16), training=False)).reshape(min(16, len(data)), -1)
    y = data.y
    units = out.shape[1]
    probabilities = bool((out >= -1e-6).all() and (out <= 1 + 1e-6).all())
    integral = y.dtype.kind in "iub" or np.array_equal(y, np.round(y))
    if units >= 2 and y.ndim == 2 and y.shape[1] == units:
        loss = keras.losses.CategoricalCrossentropy(from_logits=not probabilities)
    elif units >= 2 and integral:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=not (probabilities and np.allclose(out.sum(axis=1), 1, atol=1e-3)))
    elif units == 1 and integral and set(np.unique(y)) <= {0, 1}:
        loss = keras.losses.BinaryCrossentropy(from_logits=not probabilities)
    else:
        loss = keras.losses.MeanSquaredError()
    metrics = ["accuracy"] if not isinstance(loss, keras.losses.MeanSquaredError) else []
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=metrics)


def _first(x, count: int):
    return {k: v[:count] for k, v in x.items()} if isinstance(x, dict) else x[:count]


def fit(model, data: Dataset, *, epochs: int, batch_size: int, label: str, progress=None, callbacks=(), targets=None) -> dict:
    """Train with one progress bar per epoch showing loss and accuracy; returns the last epoch's logs.
    `targets` replaces the labels (a teacher's outputs, for distillation)."""
    tensorflow()
    import tf_keras as keras

    if data.y is None and targets is None:
        raise SchemeFailed(f"{label} needs labelled training data (inputs.train with x and y)")
    steps = math.ceil(len(data) / batch_size)
    last: dict = {}

    class EpochBars(keras.callbacks.Callback):
        task = None

        def on_epoch_begin(self, epoch, logs=None):
            if progress is not None:
                self.task = progress.task(f"{label}: epoch {epoch + 1}/{epochs}", total=steps)

        def on_train_batch_end(self, batch, logs=None):
            if self.task is not None:
                self.task.advance(1, status=_status(logs))

        def on_epoch_end(self, epoch, logs=None):
            last.update(logs or {})
            if self.task is not None:
                self.task.finish(status=_status(logs))

    keras.utils.set_random_seed(SEED)  # the same model, data and options fine-tune to the same weights
    with quiet():
        model.fit(
            features(data),
            data.y if targets is None else targets,
            epochs=epochs,
            batch_size=batch_size,
            verbose=0,
            shuffle=True,
            callbacks=[EpochBars(), *callbacks],
        )
    return {k: float(v) for k, v in last.items()}


def _status(logs) -> str:
    logs = logs or {}
    parts = []
    if "loss" in logs:
        parts.append(f"loss {float(logs['loss']):.3f}")
    if "accuracy" in logs:
        parts.append(f"acc {float(logs['accuracy']):.3f}")
    return " ".join(parts)


def quantization_aware(model, data: Dataset, options, *, preserve: tuple[str, ...] = (), progress=None):
    """QAT on a float tf-keras model; after pruning/clustering, the collaborative scheme that keeps them.

    Only the layers TFMOT supports are annotated (TFMOT's documented way for models with others, such
    as preprocessing or custom layers); the rest stay float while training and are quantized, where
    LiteRT can, by the converter. It fails only when no layer can be annotated."""
    mot = tfmot()
    quantize = mot.quantization.keras
    with quiet():
        try:
            annotated, left = annotate_supported(model, mot)
            if preserve:
                with quantize.quantize_scope():
                    qat = quantize.quantize_apply(annotated, _preserving_scheme(mot, preserve))
            else:
                from advisor.executor import qat_scheme

                with qat_scheme.scope():
                    qat = quantize.quantize_apply(annotated, qat_scheme.scheme())
        except (ValueError, RuntimeError, TypeError, KeyError) as err:
            raise SchemeFailed(f"quantization-aware training cannot wrap this model: {_one_line(err)}") from None
    calibrate_ranges(qat, model, data)
    compile_for_task(qat, options.learning_rate, data)
    logs = fit(qat, data, epochs=options.epochs, batch_size=options.batch_size, label="qat", progress=progress)
    return qat, logs, left


CALIBRATION_SAMPLES = 500


def calibrate_ranges(qat, float_model, data: Dataset) -> int:
    """Start every activation quantizer of a QAT model at the range its layer's float output has on the
    training inputs (as post-training calibration would), not TFMOT's [-6, 6]: a layer whose outputs reach
    60 would otherwise be clipped at 6 from the first step. That includes the logits a softmax layer
    quantizes before its activation. Returns how many ranges were set."""
    import tf_keras

    from tensorflow_model_optimization.python.core.quantization.keras import quantize_layer, quantize_wrapper

    x = _first(features(data), CALIBRATION_SAMPLES)
    named = [layer for layer in float_model.layers if not isinstance(layer, tf_keras.layers.InputLayer)
             and not hasattr(layer, "layers")]  # a nested model's own output is not this graph's
    heads = _quantized_before_activation(qat, named, quantize_wrapper)
    try:
        with quiet():
            probe = tf_keras.Model(float_model.inputs, [layer.output for layer in named] + [layer.input for layer in heads])
            produced = probe.predict(x, verbose=0, batch_size=64)
    except (ValueError, AttributeError):  # a graph the probe cannot be cut from: TFMOT's own ranges, moved while training
        return 0
    produced = produced if isinstance(produced, list) else [produced]
    ranges = {layer.name: (float(np.min(out)), float(np.max(out))) for layer, out in zip(named, produced)}
    logits = {layer.name: _linear_range(layer, values) for layer, values in zip(heads, produced[len(named):])}
    inputs = [np.asarray(v) for v in (x.values() if isinstance(x, dict) else [x])]
    low_in, high_in = min(float(v.min()) for v in inputs), max(float(v.max()) for v in inputs)
    set_ = 0
    for layer in qat.layers:
        if isinstance(layer, quantize_wrapper.QuantizeWrapper) and layer.layer.name in ranges:
            low, high = ranges[layer.layer.name]
            pre_low, pre_high = logits.get(layer.layer.name, (low, high))
            for variable in layer.weights:
                if variable.name.endswith(("post_activation_min:0", "output_min:0")):
                    variable.assign(min(0.0, low))
                    set_ += 1
                elif variable.name.endswith(("post_activation_max:0", "output_max:0")):
                    variable.assign(max(0.0, high))
                elif variable.name.endswith("pre_activation_min:0"):
                    variable.assign(min(0.0, pre_low))
                    set_ += 1
                elif variable.name.endswith("pre_activation_max:0"):
                    variable.assign(max(0.0, pre_high))
        elif isinstance(layer, quantize_layer.QuantizeLayer):
            for variable in layer.weights:
                if variable.name.endswith("_min:0"):
                    variable.assign(min(0.0, low_in))
                elif variable.name.endswith("_max:0"):
                    variable.assign(max(0.0, high_in))
    _set_kernel_ranges(qat, quantize_wrapper)
    return set_


def _quantized_before_activation(qat, named: list, quantize_wrapper) -> list:
    """The float layers (of `named`) whose QAT wrapper quantizes their output before their activation too (a
    Dense or convolution ending in softmax: the converter keeps the logits as a tensor of their own)."""
    wrapped = {layer.layer.name for layer in qat.layers if isinstance(layer, quantize_wrapper.QuantizeWrapper)
               and any(v.name.endswith("pre_activation_min:0") for v in layer.weights)}
    return [layer for layer in named if layer.name in wrapped and not isinstance(layer.input, list)]


def _linear_range(layer, inputs: np.ndarray) -> tuple[float, float]:
    """The range of `layer`'s output on `inputs` with its activation taken off (its logits)."""
    linear = type(layer).from_config({**layer.get_config(), "activation": "linear"})
    linear.build(inputs.shape)
    linear.set_weights(layer.get_weights())
    out = np.concatenate([np.asarray(linear(inputs[start:start + 256])) for start in range(0, len(inputs), 256)])
    return float(out.min()), float(out.max())


def _set_kernel_ranges(qat, quantize_wrapper) -> None:
    """Each kernel quantizer's range set to its kernel's (symmetric, per channel where it has one per
    channel), as the first training step would: TFMOT starts them at [-6, 6], which rounds every weight
    below 6/127 to zero in a model that is evaluated or converted before it has trained."""
    for layer in qat.layers:
        if not isinstance(layer, quantize_wrapper.QuantizeWrapper):
            continue
        variables = {v.name.rsplit("/", 1)[-1].split(":")[0]: v for v in layer.weights}
        for attribute in ("kernel", "depthwise_kernel"):
            kernel = variables.get(attribute)
            low, high = variables.get(f"{attribute}_min"), variables.get(f"{attribute}_max")
            if kernel is None or low is None or high is None:
                continue
            values = np.abs(np.asarray(kernel.numpy()))
            size = int(np.prod(low.shape)) if low.shape.rank else 1
            if size == 1:
                top = np.full(low.shape, values.max())
            elif size == values.shape[-1]:
                top = values.reshape(-1, values.shape[-1]).max(axis=0)
            elif values.ndim >= 2 and size == values.shape[-2] * values.shape[-1]:
                top = values.reshape(-1, size).max(axis=0)
            else:
                continue
            top = np.maximum(top, 1e-8).reshape(low.shape).astype(np.float32)
            low.assign(-top)
            high.assign(top)


def annotate_supported(model, mot):
    """(the model annotated for QAT, the names of the layers left unannotated).

    When TFMOT supports every layer, the whole model is annotated, as `quantize_model` does, so its
    layout transforms fold each batch normalization into the convolution before it. Otherwise each layer
    TFMOT supports is annotated, and so is every batch normalization right after an annotated
    convolution or dense layer (the same transforms fold it); the rest stay float."""
    import tf_keras

    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import default_8bit_quantize_registry

    registry = default_8bit_quantize_registry.Default8BitQuantizeRegistry()
    layers = [layer for layer in model.layers if not isinstance(layer, tf_keras.layers.InputLayer)]
    foldable = {layer.name for layer in layers if _folds_after_annotated(layer, registry)}
    supported = {layer.name for layer in layers if registry.supports(layer)} | foldable
    left = [layer.name for layer in layers if layer.name not in supported]
    if not supported:
        raise SchemeFailed(f"quantization-aware training: TFMOT supports none of this model's layers ({', '.join(left[:6])}); "
                           "it needs a QuantizeConfig for them (tfmot quantize_annotate_layer)")
    if not left and isinstance(model, (tf_keras.Sequential, tf_keras.Model)) and _functional(model):
        return mot.quantization.keras.quantize_annotate_model(model), []

    def annotate(layer):
        if layer.name in supported and not isinstance(layer, tf_keras.layers.InputLayer):
            return mot.quantization.keras.quantize_annotate_layer(layer)
        return layer

    return tf_keras.models.clone_model(model, clone_function=annotate), left


FOLDS_INTO = ("Conv2D", "DepthwiseConv2D", "Dense")


def _folds_after_annotated(layer, registry) -> bool:
    """A batch normalization whose only input is a convolution or dense layer TFMOT annotates."""
    if type(layer).__name__ not in ("BatchNormalization", "SyncBatchNormalization"):
        return False
    nodes = getattr(layer, "inbound_nodes", None) or getattr(layer, "_inbound_nodes", [])
    if len(nodes) != 1:
        return False
    inbound = nodes[0].inbound_layers
    inbound = inbound if isinstance(inbound, (list, tuple)) else [inbound]
    return len(inbound) == 1 and type(inbound[0]).__name__ in FOLDS_INTO and registry.supports(inbound[0])


def _functional(model) -> bool:
    return type(model).__name__ in ("Sequential", "Functional") or getattr(model, "_is_graph_network", False)


def _preserving_scheme(mot, preserve: tuple[str, ...]):
    combine = mot.experimental.combine
    if "clustering" in preserve:
        return combine.Default8BitClusterPreserveQuantizeScheme(preserve_sparsity="pruning" in preserve)
    return combine.Default8BitPrunePreserveQuantizeScheme()


def prune(model, data: Dataset, options, progress=None):
    """Magnitude pruning to `options.sparsity` with a polynomial-decay schedule that ends before training does."""
    mot = tfmot()
    sparsity = mot.sparsity.keras
    steps_per_epoch = math.ceil(len(data) / options.batch_size)
    total = steps_per_epoch * options.epochs
    frequency = max(1, total // 20)
    # Reach the target at 70% of training (on a step the schedule prunes at), then fine-tune at it.
    end_step = max(frequency, (int(total * 0.7) // frequency) * frequency)
    schedule = sparsity.PolynomialDecay(
        initial_sparsity=0.0, final_sparsity=options.sparsity, begin_step=0, end_step=end_step, frequency=frequency
    )
    with quiet():
        try:
            pruned = sparsity.prune_low_magnitude(model, pruning_schedule=schedule)
        except ValueError as err:
            raise SchemeFailed(f"pruning cannot wrap this model: {_one_line(err)}") from None
    compile_for_task(pruned, options.learning_rate, data)
    fit(pruned, data, epochs=options.epochs, batch_size=options.batch_size, label="pruning", progress=progress,
        callbacks=[sparsity.UpdatePruningStep()])
    with quiet():
        return sparsity.strip_pruning(pruned)


def cluster(model, data: Dataset, options, *, preserve_sparsity: bool = False, progress=None):
    """Weight clustering (k-means++ centroids), fine-tuned, then stripped; sparsity kept after pruning."""
    mot = tfmot()
    clustering = mot.clustering.keras
    kwargs = {
        "number_of_clusters": options.clusters,
        "cluster_centroids_init": clustering.CentroidInitialization.KMEANS_PLUS_PLUS,
    }
    with quiet():
        if preserve_sparsity:
            from tensorflow_model_optimization.python.core.clustering.keras.experimental import cluster as experimental

            clustered = experimental.cluster_weights(model, preserve_sparsity=True, **kwargs)
        else:
            clustered = clustering.cluster_weights(model, **kwargs)
    if clustered is None:  # what cluster_weights returns for a Keras 3 model
        raise SchemeFailed("clustering returned no model: it needs a tf-keras (Keras 2) model")
    compile_for_task(clustered, options.learning_rate, data)
    fit(clustered, data, epochs=options.epochs, batch_size=options.batch_size, label="clustering", progress=progress)
    with quiet():
        return clustering.strip_clustering(clustered)


def _one_line(err: Exception) -> str:
    lines = [line for line in str(err).splitlines() if line.strip()]
    return (lines[0] if lines else type(err).__name__)[:240]
