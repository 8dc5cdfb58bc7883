"""Recovering accuracy without labels: pre-steps of the step contract that rewrite a tf-keras model so
that full-integer quantization of it loses less, using only the representative inputs (or none).

    equalize         batch norms folded, then cross-layer equalization (Nagel et al. 2019): each pair of
                     weighted layers joined by ReLU or linear ops rescaled channel by channel so that both
                     use their 8-bit range alike; the float model must stay itself (60 dB on the data)
    bias_correction  each layer's bias corrected by the mean shift its int8 weights cause on its inputs
    adaround         each layer's weights rounded up or down (Nagel et al. 2020) to reconstruct its float
                     outputs on the representative inputs, written on the converter's own int8 grid
    distill          quantization-aware fine-tuning against the float model's own outputs (KL for class
                     scores, MSE for values) on unlabelled inputs

Every step records what it did (StepFindings.recovery): the float SQNR of the rewrite, full integer's
fidelity before and after on the representative inputs, the layers touched, the time.
"""

from __future__ import annotations

import time

import numpy as np

from advisor.errors import SchemeFailed
from advisor.executor import rewrite as rw
from advisor.executor.step import StepContext, StepResult
from advisor.models.report import RecoveryRecord, StepFindings

FLOAT_SQNR_DB = 60.0  # a rewrite that keeps the float model's outputs at least this close is the same model
PROBE_SAMPLES = 200  # representative inputs the before/after fidelity and the statistics are measured on
EQUALIZE_SWEEPS = 8


def _start(context: StepContext, model):
    """The tf-keras model a recovery step rewrites (a fresh copy of the loaded one), and its inputs."""
    if context.representative is None and context.applied is None:
        raise SchemeFailed("this recovery step needs the representative inputs")
    start = model if model is not None else context.loaded.fresh_keras2()
    if not rw.flat(start):
        raise SchemeFailed("recovery steps rewrite a flat Sequential or Functional model; this one nests models")
    return start


def _inputs(context: StepContext, count: int = PROBE_SAMPLES):
    if context.representative is None:
        raise SchemeFailed("this recovery step measures the model on the representative inputs (inputs.representative)")
    data = context.representative.take(count)
    arrays = list(data.inputs.values())
    return arrays[0] if len(arrays) == 1 else dict(data.inputs)


def _predict(model, x) -> list[np.ndarray]:
    from advisor.executor.tf_env import quiet

    with quiet():
        out = model.predict(x, verbose=0, batch_size=64)
    return [np.asarray(o, dtype=np.float64) for o in (out if isinstance(out, list) else [out])]


def float_sqnr(original, rewritten, x) -> float:
    """The worst output's SQNR of the rewritten float model against the original, in dB."""
    from advisor.validator.fidelity import sqnr_db

    return min(sqnr_db(a.reshape(len(a), -1), b.reshape(len(b), -1)) for a, b in zip(_predict(original, x), _predict(rewritten, x)))


def quantized_fidelity(context: StepContext, model) -> dict:
    """Full integer's fidelity for this model on the representative inputs: the worst SQNR and the share of
    top-1 changes, against the model's own float outputs (what a recovery step improves)."""
    from advisor.executor.convert import convert
    from advisor.executor.schemes import _int8_everywhere
    from advisor.validator.fidelity import fidelity
    from advisor.validator.metrics import Runner

    sample = context.representative.take(PROBE_SAMPLES)
    float_content = convert(context, model, "float32 (recovery probe)")
    int8_content = convert(context, model, "full_integer (recovery probe)", _int8_everywhere(context))
    signature = context.loaded.signature
    reference = Runner(float_content, signature).predict(sample)
    found = fidelity(reference, Runner(int8_content, signature).predict(sample), signature, inputs="probe", calibration_data=True)
    return {"sqnr_db": found.worst_sqnr_db, "prediction_change": found.prediction_change}


def _record(context: StepContext, step: str, before_model, after_model, started: float, layers: list[str],
            sqnr: float | None, notes: list[str]) -> RecoveryRecord:
    return RecoveryRecord(step=step, float_sqnr_db=round(sqnr, 2) if sqnr is not None else None,
                          before=quantized_fidelity(context, before_model), after=quantized_fidelity(context, after_model),
                          layers=layers, seconds=round(time.perf_counter() - started, 2), notes=notes)


def _result(context: StepContext, model, record: RecoveryRecord) -> StepResult:
    note = (f"{record.step}: full integer's worst SQNR on the representative inputs {record.before.get('sqnr_db')} -> "
            f"{record.after.get('sqnr_db')} dB, top-1 changed {record.before.get('prediction_change')} -> "
            f"{record.after.get('prediction_change')}; {len(record.layers)} layer(s) touched")
    return StepResult(model=model, findings=StepFindings(recovery=[record]), notes=(note, *record.notes))


# ----- equalize ---------------------------------------------------------------------------------


def equalize(context: StepContext, model) -> StepResult:
    """Fold the batch norms, then equalize every pair of weighted layers joined by positively homogeneous
    ops. ReLU6 between a pair is read as ReLU when that keeps the float model itself (60 dB); otherwise
    such pairs are left as they are."""
    started = time.perf_counter()
    original = _start(context, model)
    x = _inputs(context)
    folded, norms = rw.fold_batch_norms(original)
    found = rw.pairs(folded)
    notes = []
    candidates = [("reading ReLU6 between pairs as ReLU", found), ("leaving pairs joined by ReLU6 alone",
                                                                   [p for p in found if not p.relu6])]
    for how, chosen in candidates:
        relu6 = {name for pair in chosen for name in pair.relu6}
        model_ = rw.relu6_as_relu(folded, relu6) if relu6 else folded
        model_, touched = _equalize_pairs(model_, chosen)
        sqnr = float_sqnr(original, model_, x)
        if sqnr >= FLOAT_SQNR_DB:
            skipped = len(found) - len(chosen)
            notes.append(f"equalize: folded {len(norms)} batch norm(s) and equalized {len(chosen)} pair(s) of layers, "
                         f"{how}" + (f" ({skipped} pair(s) joined by ReLU6 left alone)" if skipped else "")
                         + f"; the float model's outputs stay within {sqnr:.0f} dB of the original")
            unpaired = sorted({layer.name for layer in model_.layers if rw.kind(layer) in rw.WEIGHTED}
                              - {n for p in chosen for n in (p.first, p.second)})
            if unpaired:
                notes.append(f"equalize: {len(unpaired)} weighted layer(s) have no partner (their output branches or "
                             f"feeds no weighted layer directly): {', '.join(unpaired[:6])}")
            record = _record(context, "equalize", original, model_, started, sorted(touched | set(norms)), sqnr, notes)
            return _result(context, model_, record)
        notes.append(f"equalize: {how} changed the float model ({sqnr:.1f} dB against the original)")
    raise SchemeFailed("equalize declined: " + "; ".join(notes))


def _equalize_pairs(model, chosen: list[rw.Pair]):
    """Rescale each pair's channels (Nagel et al.: s = sqrt(r1 * r2) / r2, both ranges become sqrt(r1 * r2)),
    sweeping until the scales settle; returns the model and the layers touched."""
    weights = {name: list(model.get_layer(name).get_weights()) for p in chosen for name in (p.first, p.second)}
    for name in weights:
        if len(weights[name]) == 1:  # a layer without a bias gets one: its scaled outputs need it
            layer = model.get_layer(name)
            weights[name].append(np.zeros(rw.output_channels(layer, weights[name][0]), np.float32))
    touched = set()
    for _ in range(EQUALIZE_SWEEPS):
        for pair in chosen:
            first, second = model.get_layer(pair.first), model.get_layer(pair.second)
            k1, b1 = weights[pair.first][0], weights[pair.first][1]
            k2 = weights[pair.second][0]
            r1 = _output_range(first, k1)
            r2 = _input_range(second, k2)
            if r1.shape != r2.shape:
                continue
            valid = (r1 > 0) & (r2 > 0)
            s = np.ones_like(r1)
            s[valid] = np.sqrt(r1[valid] * r2[valid]) / r2[valid]
            weights[pair.first][0] = rw.scale_outputs(first, k1, 1 / s).astype(np.float32)
            weights[pair.first][1] = (b1 / s).astype(np.float32)
            weights[pair.second][0] = rw.scale_inputs(second, k2, s).astype(np.float32)
            touched.update((pair.first, pair.second))
    plan = rw.Rebuild(configs={name: {"use_bias": True} for name in weights}, weights=weights)
    return rw.rebuild(model, plan), touched


def _output_range(layer, kernel: np.ndarray) -> np.ndarray:
    if rw.kind(layer) == "DepthwiseConv2D":
        return np.abs(kernel).max(axis=(0, 1)).reshape(-1)
    return np.abs(kernel).reshape(-1, kernel.shape[-1]).max(axis=0)


def _input_range(layer, kernel: np.ndarray) -> np.ndarray:
    if rw.kind(layer) == "Dense":
        return np.abs(kernel).max(axis=1)
    if rw.kind(layer) == "DepthwiseConv2D":
        return np.abs(kernel).max(axis=(0, 1, 3))
    return np.abs(kernel).max(axis=(0, 1, 3))


# ----- the converter's int8 weight grid ----------------------------------------------------------


def weight_scales(layer, kernel: np.ndarray) -> np.ndarray:
    """The converter's per-channel int8 scales for a kernel (symmetric, [-127, 127]), broadcastable to it."""
    if rw.kind(layer) == "DepthwiseConv2D":
        top = np.abs(kernel).max(axis=(0, 1), keepdims=True)
    else:
        top = np.abs(kernel).reshape(-1, kernel.shape[-1]).max(axis=0).reshape((1,) * (kernel.ndim - 1) + (-1,))
    return np.where(top > 0, top / 127.0, 1.0).astype(np.float64)


def quantized(layer, kernel: np.ndarray) -> np.ndarray:
    """The kernel as the converter stores it in int8, dequantized (round to nearest)."""
    scale = weight_scales(layer, kernel)
    return (np.clip(np.round(kernel / scale), -127, 127) * scale).astype(np.float32)


# ----- bias correction ---------------------------------------------------------------------------


def bias_correction(context: StepContext, model) -> StepResult:
    """Each weighted layer's bias less the mean shift its int8 weights cause: (W_q - W) applied to the mean
    of the layer's inputs on the representative data (the float model's), per output channel."""
    started = time.perf_counter()
    original = _start(context, model)
    folded, norms = rw.fold_batch_norms(original)
    x = _inputs(context)
    layers = [layer for layer in folded.layers if rw.kind(layer) in rw.WEIGHTED]
    means = _input_means(folded, layers, x)
    plan = rw.Rebuild()
    touched = []
    for layer in layers:
        kernel, bias = rw.kernel_and_bias(layer)
        if layer.name not in means:
            continue
        error = quantized(layer, kernel) - kernel
        shift = _output_shift(layer, error, means[layer.name])
        plan.weights[layer.name] = [kernel, (bias - shift).astype(np.float32)]
        plan.configs[layer.name] = {"use_bias": True}
        touched.append(layer.name)
    corrected = rw.rebuild(folded, plan)
    notes = [f"bias_correction: corrected {len(touched)} layer(s)' biases for their int8 weights' mean error on "
             f"{PROBE_SAMPLES} representative inputs" + (f" (after folding {len(norms)} batch norm(s))" if norms else "")]
    record = _record(context, "bias_correction", original, corrected, started, touched, None, notes)
    return _result(context, corrected, record)


def _layer_inputs(model, layers, x) -> dict[str, np.ndarray]:
    import tf_keras

    from advisor.executor.tf_env import quiet

    wanted = [layer for layer in layers if layer.input is not None and not isinstance(layer.input, list)]
    with quiet():
        probe = tf_keras.Model(model.inputs, [layer.input for layer in wanted])
        values = probe.predict(x, verbose=0, batch_size=64)
    values = values if isinstance(values, list) else [values]
    return {layer.name: np.asarray(v, dtype=np.float64) for layer, v in zip(wanted, values)}


def _input_means(model, layers, x) -> dict[str, np.ndarray]:
    return {name: v.reshape(-1, v.shape[-1]).mean(axis=0) for name, v in _layer_inputs(model, layers, x).items()}


def _output_shift(layer, error: np.ndarray, mean: np.ndarray) -> np.ndarray:
    if rw.kind(layer) == "Dense":
        return mean @ error
    if rw.kind(layer) == "DepthwiseConv2D":
        return (error.sum(axis=(0, 1)) * mean[:, None]).reshape(-1)
    return np.einsum("hwio,i->o", error, mean)


# ----- AdaRound ---------------------------------------------------------------------------------

ZETA, GAMMA = 1.1, -0.1  # the rectified sigmoid's stretch (Louizos et al.), as AdaRound uses it
ROWS = 2048  # input rows (positions of a convolution's patches) each layer's rounding is fitted on
ITERATIONS = 400
REGULARIZATION = 0.01


def adaround(context: StepContext, model) -> StepResult:
    """Per weighted layer, in order: learn whether each weight rounds down or up so that the layer's
    outputs on its float inputs are reconstructed best, then write the weights as integer times the
    converter's own scale (the largest weight of each channel keeps its value, so the converter finds the
    same scale and its round-to-nearest reproduces the choice)."""
    started = time.perf_counter()
    original = _start(context, model)
    folded, norms = rw.fold_batch_norms(original)
    x = _inputs(context)
    layers = [layer for layer in folded.layers if rw.kind(layer) in rw.WEIGHTED]
    inputs = _layer_inputs(folded, layers, x)
    plan = rw.Rebuild()
    chosen: dict[str, np.ndarray] = {}
    for index, layer in enumerate(layers):
        if layer.name not in inputs:
            continue
        task = context.progress.task(f"adaround: {layer.name} ({index + 1}/{len(layers)})", total=None)
        kernel, bias = rw.kernel_and_bias(layer)
        integers = _learn_rounding(layer, kernel, inputs[layer.name])
        chosen[layer.name] = integers
        plan.weights[layer.name] = [(integers * weight_scales(layer, kernel)).astype(np.float32), bias]
        plan.configs[layer.name] = {"use_bias": True}
        task.finish()
    rounded = rw.rebuild(folded, plan)
    notes = [f"adaround: learned the rounding of {len(chosen)} layer(s) on {PROBE_SAMPLES} representative inputs"
             + (f" (after folding {len(norms)} batch norm(s))" if norms else "")]
    record = _record(context, "adaround", original, rounded, started, sorted(chosen), None, notes)
    result = _result(context, rounded, record)
    result.model._advisor_adaround = chosen  # the integers chosen per layer, for tests that read the .tflite back
    return result


def _patches(layer, values: np.ndarray) -> np.ndarray:
    """The rows a layer multiplies by its kernel: the inputs themselves (Dense), or each output position's
    patch (Conv2D), subsampled to ROWS."""
    import tensorflow as tf

    if rw.kind(layer) == "Dense":
        rows = values.reshape(-1, values.shape[-1])
    else:
        config = layer.get_config()
        kh, kw = config["kernel_size"]
        sh, sw = config["strides"]
        dh, dw = config.get("dilation_rate", (1, 1))
        patches = tf.image.extract_patches(values.astype(np.float32), sizes=[1, kh, kw, 1], strides=[1, sh, sw, 1],
                                           rates=[1, dh, dw, 1], padding=config["padding"].upper()).numpy()
        rows = patches.reshape(-1, kh * kw * values.shape[-1])  # (kh, kw, in) flattened, as the kernel is
    if len(rows) > ROWS:
        rows = rows[np.random.default_rng(0).choice(len(rows), ROWS, replace=False)]
    return rows.astype(np.float32)


def _learn_rounding(layer, kernel: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The integers (on the converter's grid) AdaRound chooses for `kernel`."""
    import tensorflow as tf

    scale = weight_scales(layer, kernel)
    ratio = kernel / scale
    floor = np.floor(ratio)
    rest = np.clip(ratio - floor, 1e-4, 1 - 1e-4)
    if rw.kind(layer) == "DepthwiseConv2D":  # each channel alone: no cross-channel patches to reconstruct
        return _fixed_grid(np.where(rest >= 0.5, floor + 1, floor), ratio)
    w = kernel.reshape(-1, kernel.shape[-1]).astype(np.float32)
    base = floor.reshape(w.shape).astype(np.float32)
    s = scale.reshape(1, -1).astype(np.float32)
    x = tf.constant(_patches(layer, values))
    target = tf.matmul(x, w)
    v = tf.Variable(-np.log((ZETA - GAMMA) / (rest.reshape(w.shape) - GAMMA) - 1).astype(np.float32))
    optimizer = tf.keras.optimizers.Adam(1e-2) if hasattr(tf.keras.optimizers, "Adam") else None
    warm = int(0.2 * ITERATIONS)
    for step in range(ITERATIONS):
        beta = 20.0 - (20.0 - 2.0) * max(0, step - warm) / max(1, ITERATIONS - warm)
        with tf.GradientTape() as tape:
            h = tf.clip_by_value(tf.sigmoid(v) * (ZETA - GAMMA) + GAMMA, 0.0, 1.0)
            soft = (base + h) * s
            loss = tf.reduce_mean(tf.square(tf.matmul(x, soft) - target))
            if step >= warm:
                loss += REGULARIZATION * tf.reduce_sum(1.0 - tf.pow(tf.abs(2.0 * h - 1.0), beta)) / float(w.size)
        optimizer.apply_gradients([(tape.gradient(loss, v), v)])
    hard = (v.numpy() >= 0).astype(np.float32)
    return _fixed_grid((base + hard).reshape(kernel.shape), ratio)


def _fixed_grid(integers: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """Integers in [-127, 127] whose per-channel extreme stays at +-127 where the float extreme was (so that
    the converter computes the same scale from the rewritten weights)."""
    integers = np.clip(integers, -127, 127)
    top = np.abs(ratio).reshape(-1, ratio.shape[-1]) if ratio.ndim > 1 else np.abs(ratio)[:, None]
    flat = integers.reshape(top.shape)
    where = top.argmax(axis=0)
    columns = np.arange(top.shape[1])
    flat[where, columns] = np.sign(ratio.reshape(top.shape)[where, columns]) * 127
    return flat.reshape(integers.shape)


# ----- distillation ------------------------------------------------------------------------------


def distill(context: StepContext, model) -> StepResult:
    """Quantization-aware fine-tuning against the float model's own outputs on unlabelled inputs (the
    training inputs without labels, else the representative ones; never the evaluation data): KL
    divergence for class scores, mean squared error for values, every output counted."""
    from advisor.executor import training
    from advisor.executor.tf_env import quiet, tfmot
    from advisor.models.dataset import Dataset

    started = time.perf_counter()
    teacher = _start(context, model)
    source = context.train if context.train is not None else context.representative
    if source is None:
        raise SchemeFailed("distill fine-tunes on unlabelled inputs (inputs.train or inputs.representative)")
    inputs = Dataset(source.inputs, None, source.source)
    x = training.features(inputs)
    targets = _predict(teacher, x)
    mot = tfmot()
    with quiet():
        try:
            annotated, left = training.annotate_supported(teacher, mot)
            student = mot.quantization.keras.quantize_apply(annotated)
        except (ValueError, RuntimeError, TypeError, KeyError) as err:
            raise SchemeFailed(f"distill cannot wrap this model for quantization-aware training: {err}") from None
    training.calibrate_ranges(student, teacher, inputs)
    kinds = {spec.name: spec.kind for spec in context.loaded.signature.outputs}
    losses = [_loss_for(kinds.get(name), target) for name, target in zip([o.name for o in context.loaded.signature.outputs], targets)]
    import tf_keras

    student.compile(optimizer=tf_keras.optimizers.Adam(context.options.learning_rate), loss=losses)
    teacher_targets = targets[0] if len(targets) == 1 else targets
    task_data = Dataset(inputs.inputs, None, inputs.source)
    training.fit(student, task_data, epochs=context.options.epochs, batch_size=context.options.batch_size, label="distill",
                 progress=context.progress, targets=teacher_targets)
    notes = [f"distill: {context.options.epochs} epoch(s) of quantization-aware training against the float model's outputs on "
             f"{len(inputs)} unlabelled inputs ({inputs.source})" + (f"; {len(left)} layer(s) TFMOT does not support left float"
                                                                      if left else "")]
    record = RecoveryRecord(step="distill", float_sqnr_db=None, before=quantized_fidelity(context, teacher), after={},
                            layers=[layer.name for layer in teacher.layers if rw.kind(layer) in rw.WEIGHTED],
                            seconds=round(time.perf_counter() - started, 2), notes=notes)
    return StepResult(model=student, findings=StepFindings(recovery=[record]), notes=tuple(notes))


def _loss_for(kind: str | None, target: np.ndarray):
    import tf_keras

    if kind == "scores":
        units = target.shape[-1] if target.ndim > 1 else 1
        if units == 1:
            return tf_keras.losses.BinaryCrossentropy(from_logits=not (target.min() >= 0 and target.max() <= 1))
        if target.min() >= 0 and np.allclose(target.sum(axis=-1), 1, atol=1e-3):
            return tf_keras.losses.KLDivergence()
    return tf_keras.losses.MeanSquaredError()
