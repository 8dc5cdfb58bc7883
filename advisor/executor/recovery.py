"""Recovering accuracy without labels: pre-steps of the step contract that rewrite a tf-keras model so
that full-integer quantization of it loses less, using only the representative inputs (or none).

    equalize         batch norms folded, then cross-layer equalization (Nagel et al. 2019): each pair of
                     weighted layers joined by positively homogeneous ops (ReLU, PReLU, pooling, identities)
                     rescaled channel by channel so that both use their 8-bit range alike; the float model
                     must stay itself (60 dB on the data)
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
import weakref

import numpy as np

from advisor.errors import SchemeFailed
from advisor.executor import rewrite as rw
from advisor.executor.step import StepContext, StepResult
from advisor.models.report import RecoveryRecord, StepFindings

FLOAT_SQNR_DB = 60.0  # a rewrite that keeps the float model's outputs at least this close is the same model
PROBE_SAMPLES = 200  # representative inputs the before/after fidelity and the statistics are measured on
EQUALIZE_SWEEPS = 8
RELU6_TOP = 6.0
MAX_SCALE = 1e4  # no channel is rescaled by more than this either way


def _weighted(model, step: str) -> list:
    """The layers a step rewrites; SchemeFailed when the model has none."""
    layers = [layer for layer in model.layers if rw.kind(layer) in rw.WEIGHTED]
    if not layers:
        raise SchemeFailed(f"{step} declined: the model has no {', '.join(rw.WEIGHTED)} layer to rewrite")
    return layers


def _start_weighted(context: StepContext, model, step: str):
    """What a step that corrects each weighted layer on the representative data starts from: the rewritten
    model, its notes, the layers it corrects and the representative inputs."""
    _, folded, notes = _start(context, model)
    return folded, notes, _weighted(folded, step), _inputs(context)


def _start(context: StepContext, model):
    """The tf-keras model a recovery step rewrites (a fresh copy of the loaded one when `model` is None):
    separable convolutions split as the converter splits them, batch norms folded as it folds them."""
    start = model if model is not None else context.loaded.fresh_keras2()
    if not rw.flat(start):
        raise SchemeFailed("recovery steps rewrite a flat Sequential or Functional model; this one nests models")
    split, separable = rw.split_separable(start)
    folded, norms = rw.fold_batch_norms(split)
    notes = []
    if separable:
        notes.append(f"split {len(separable)} separable convolution(s) into their depthwise and pointwise halves")
    if norms:
        notes.append(f"folded {len(norms)} batch norm(s) into the layers before them")
    return start, folded, notes


def _inputs(context: StepContext, count: int = PROBE_SAMPLES, *, required: bool = True):
    """The first `count` representative inputs (as the model takes them); None when there are none and
    not `required`."""
    if context.representative is None:
        if required:
            raise SchemeFailed("this recovery step measures the model on the representative inputs (inputs.representative)")
        return None
    data = context.representative.take(count)
    arrays = list(data.inputs.values())
    return arrays[0] if len(arrays) == 1 else dict(data.inputs)


def _synthetic(context: StepContext, count: int = 64):
    """Standard-normal inputs shaped as the model's (the data-free float check of equalize)."""
    rng = np.random.default_rng(0)
    arrays = {spec.name: rng.standard_normal((count, *[d or 1 for d in spec.shape])).astype(np.float32)
              for spec in context.loaded.signature.inputs}
    return next(iter(arrays.values())) if len(arrays) == 1 else arrays


def _predict(model, x) -> list[np.ndarray]:
    from advisor.executor.tf_env import quiet

    with quiet():
        out = model.predict(x, verbose=0, batch_size=64)
    return [np.asarray(o, dtype=np.float64) for o in (out if isinstance(out, list) else [out])]


def float_sqnr(original, rewritten, x) -> float:
    """The worst output's SQNR of the rewritten float model against the original, in dB."""
    from advisor.validator.fidelity import sqnr_db

    return min(sqnr_db(a.reshape(len(a), -1), b.reshape(len(b), -1)) for a, b in zip(_predict(original, x), _predict(rewritten, x)))


_FIDELITY: dict[int, tuple] = {}  # id(model) -> (a weak reference to it, full integer's fidelity for it)
_REFERENCE: dict[int, tuple] = {}  # id(loaded model) -> (a weak reference to it, its float .tflite's outputs)


def quantized_fidelity(context: StepContext, model) -> dict:
    """Full integer's fidelity for `model` on the representative inputs, against the user's float model
    (the worst SQNR and the share of top-1 changes): what a recovery step improves. Empty without
    representative inputs."""
    if context.representative is None:
        return {}
    from advisor.executor.convert import convert
    from advisor.executor.schemes import _int8_everywhere
    from advisor.validator.fidelity import fidelity
    from advisor.validator.metrics import Runner

    sample = context.representative.take(PROBE_SAMPLES)
    signature = context.loaded.signature
    owner = model if model is not None else context.loaded  # a step's "before" is often the step before's "after"
    cached = _FIDELITY.get(id(owner))
    if cached is not None and cached[0]() is owner:
        return cached[1]
    known = _REFERENCE.get(id(context.loaded))
    if known is None or known[0]() is not context.loaded:
        outputs = Runner(convert(context, None, "float32 (recovery probe)"), signature).predict(sample)
        known = _REFERENCE[id(context.loaded)] = (weakref.ref(context.loaded), outputs)
    int8_content = convert(context, model, "full_integer (recovery probe)", _int8_everywhere(context))
    found = fidelity(known[1], Runner(int8_content, signature).predict(sample), signature, inputs="probe",
                     calibration_data=True)
    measured = {"sqnr_db": found.worst_sqnr_db, "prediction_change": found.prediction_change}
    try:
        _FIDELITY[id(owner)] = (weakref.ref(owner), measured)
    except TypeError:  # an object without weak references: measured again next time
        pass
    return measured


def _record(context: StepContext, step: str, before_model, after_model, started: float, layers: list[str],
            sqnr: float | None, notes: list[str], before: dict | None = None) -> RecoveryRecord:
    return RecoveryRecord(step=step, float_sqnr_db=round(sqnr, 2) if sqnr is not None else None,
                          before=before if before is not None else quantized_fidelity(context, before_model),
                          after=quantized_fidelity(context, after_model),
                          layers=layers, seconds=round(time.perf_counter() - started, 2), notes=notes)


def _result(context: StepContext, model, record: RecoveryRecord) -> StepResult:
    if record.before:
        note = (f"{record.step}: full integer's worst SQNR on the representative inputs {record.before.get('sqnr_db')} -> "
                f"{record.after.get('sqnr_db')} dB, top-1 changed {record.before.get('prediction_change')} -> "
                f"{record.after.get('prediction_change')}; {len(record.layers)} layer(s) touched")
    else:
        note = f"{record.step}: {len(record.layers)} layer(s) touched"
    return StepResult(model=model, findings=StepFindings(recovery=[record]), notes=(note, *record.notes))


# ----- equalize ---------------------------------------------------------------------------------


def equalize(context: StepContext, model) -> StepResult:
    """Fold the batch norms, then equalize every pair of weighted layers joined by positively homogeneous
    ops. Through a ReLU6, a channel is rescaled only as far as its largest value on the inputs stays below
    6 (so the clip never acts where it did not), and a channel that reaches 6 is left as it is. The float
    model must stay itself: at least 60 dB against the original on the representative inputs (standard
    normal inputs without them), or the step declines."""
    started = time.perf_counter()
    original, folded, notes = _start(context, model)
    x = _inputs(context, required=False)
    probe = x if x is not None else _synthetic(context)
    found = rw.pairs(folded)
    if not found:
        raise SchemeFailed("equalize declined: no two weighted layers (Conv2D, DepthwiseConv2D, Dense) are joined by "
                           "positively homogeneous ops (ReLU, PReLU, LeakyReLU, pooling, padding, identities), so there is nothing to "
                           "equalize")
    tops = _tops(folded, found, probe)
    equalized, touched, clipped = _equalize_pairs(folded, found, tops)
    sqnr = float_sqnr(original, equalized, probe)
    inputs = "the representative inputs" if x is not None else "standard-normal inputs (no representative inputs)"
    if sqnr < FLOAT_SQNR_DB:
        raise SchemeFailed(f"equalize declined: the rewritten float model is {sqnr:.1f} dB from the original on {inputs} "
                           f"(at least {FLOAT_SQNR_DB:g} dB keeps it the same model)")
    relu6 = [p for p in found if p.relu6]
    notes.append(f"equalized {len(found)} pair(s) of layers; the float model's outputs stay within {sqnr:.0f} dB of the "
                 f"original on {inputs}")
    if relu6:
        notes.append(f"{len(relu6)} pair(s) are joined by ReLU6: {clipped} channel(s) reaching 6 on the inputs kept their "
                     "scale, the others were rescaled only as far as their values stay below 6")
    unpaired = sorted({layer.name for layer in equalized.layers if rw.kind(layer) in rw.WEIGHTED}
                      - {n for p in found for n in (p.first, p.second)})
    if unpaired:
        notes.append(f"{len(unpaired)} weighted layer(s) have no partner (their output branches, or reaches the next "
                     f"weighted layer through an op that does not pass a positive scale, such as a branch or Flatten): {', '.join(unpaired[:6])}"
                     + (" ..." if len(unpaired) > 6 else ""))
    record = _record(context, "equalize", model, equalized, started, sorted(touched),
                     sqnr, [f"equalize: {n}" for n in notes])
    return _result(context, equalized, record)


def _tops(model, found: list[rw.Pair], x) -> dict[str, np.ndarray]:
    """Per pair, the largest magnitude of each channel reaching its second layer on `x`."""
    wanted = [model.get_layer(p.second) for p in found]
    if not wanted:
        return {}
    values = _layer_inputs(model, wanted, x)
    return {name: np.abs(v.reshape(-1, v.shape[-1])).max(axis=0).astype(np.float64) for name, v in values.items()}


def _equalize_pairs(model, chosen: list[rw.Pair], tops: dict[str, np.ndarray]):
    """Rescale each pair's channels (Nagel et al.: s = sqrt(r1 * r2) / r2, both ranges become sqrt(r1 * r2)),
    sweeping until the scales settle; returns the model, the layers touched and the ReLU6 channels left
    alone because they reach 6. No channel's activations grow beyond the largest channel's of the tensor
    (activations are quantized per tensor, so one blown-up channel would cost every other its precision),
    nor beyond 6 through a ReLU6."""
    weights = {name: [np.asarray(w, np.float64) for w in model.get_layer(name).get_weights()]
               for p in chosen for name in (p.first, p.second)}
    for name in weights:
        if len(weights[name]) == 1:  # a layer without a bias gets one: its scaled outputs need it
            layer = model.get_layer(name)
            weights[name].append(np.zeros(rw.output_channels(layer, weights[name][0]), np.float64))
    tops = {name: top.copy() for name, top in tops.items()}
    touched, clipped = set(), set()
    for _ in range(EQUALIZE_SWEEPS):
        for pair in chosen:
            first, second = model.get_layer(pair.first), model.get_layer(pair.second)
            k1, b1 = weights[pair.first][0], weights[pair.first][1]
            k2 = weights[pair.second][0]
            r1 = _output_range(first, k1)
            r2 = _input_range(second, k2)
            top = tops.get(pair.second)
            if r1.shape != r2.shape or top is None or top.shape != r1.shape:
                continue
            valid = (r1 > 0) & (r2 > 0)
            s = np.ones_like(r1)
            s[valid] = np.sqrt(r1[valid] / r2[valid])
            limit = RELU6_TOP if pair.relu6 else top.max()
            s = np.maximum(s, top / limit * (1 + 1e-6))
            s = np.clip(s, 1 / MAX_SCALE, MAX_SCALE)
            if pair.relu6:
                saturated = top >= RELU6_TOP * (1 - 1e-3)
                s = np.where(saturated, 1.0, s)
                clipped.update((pair.second, int(c)) for c in np.flatnonzero(saturated))
            tops[pair.second] = top / s
            weights[pair.first][0] = rw.scale_outputs(first, k1, 1 / s)
            weights[pair.first][1] = b1 / s
            weights[pair.second][0] = rw.scale_inputs(second, k2, s)
            touched.update((pair.first, pair.second))
    weights = {name: [w.astype(np.float32) for w in values] for name, values in weights.items()}
    plan = rw.Rebuild(configs={name: {"use_bias": True} for name in weights}, weights=weights)
    return rw.rebuild(model, plan), touched, len(clipped)


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
    folded, notes, layers, x = _start_weighted(context, model, "bias_correction")
    means = _input_means(folded, layers, x)
    plan = rw.Rebuild()
    touched = []
    for layer in layers:
        if layer.name not in means:
            continue
        kernel, bias = rw.kernel_and_bias(layer)
        shift = _output_shift(layer, quantized(layer, kernel) - kernel, means[layer.name])
        plan.weights[layer.name] = [kernel, (bias - shift).astype(np.float32)]
        plan.configs[layer.name] = {"use_bias": True}
        touched.append(layer.name)
    corrected = rw.rebuild(folded, plan)
    notes.append(f"corrected {len(touched)} layer(s)' biases for their int8 weights' mean error on "
                 f"{min(PROBE_SAMPLES, len(context.representative))} representative inputs")
    record = _record(context, "bias_correction", model, corrected, started, touched, None,
                     [f"bias_correction: {n}" for n in notes])
    return _result(context, corrected, record)


def _layer_inputs(model, layers, x) -> dict[str, np.ndarray]:
    import tf_keras

    from advisor.executor.tf_env import quiet

    wanted = [layer for layer in layers if layer.input is not None and not isinstance(layer.input, list)]
    with quiet():
        probe = tf_keras.Model(model.inputs, [layer.input for layer in wanted])
        values = probe.predict(x, verbose=0, batch_size=64)
    values = values if isinstance(values, list) else [values]
    return {layer.name: np.asarray(v, dtype=np.float32) for layer, v in zip(wanted, values)}


def _input_means(model, layers, x) -> dict[str, np.ndarray]:
    """Per layer, the mean of what it multiplies by its kernel: its input vector (Dense) or its patch,
    (kh, kw, in), zero padding included (convolutions)."""
    means = {}
    for layer in layers:
        values = _layer_inputs(model, [layer], x).get(layer.name)
        if values is None:
            continue
        if rw.kind(layer) == "Dense":
            means[layer.name] = values.reshape(-1, values.shape[-1]).mean(axis=0, dtype=np.float64)
            continue
        total, count = 0.0, 0
        for start in range(0, len(values), 32):
            rows = _patch_rows(layer, values[start:start + 32])
            total, count = total + rows.sum(axis=0, dtype=np.float64), count + len(rows)
        kh, kw = layer.get_config()["kernel_size"]
        means[layer.name] = (total / count).reshape(kh, kw, values.shape[-1])
    return means


def _output_shift(layer, error: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """The mean shift of a layer's outputs that the kernel `error` causes on inputs of mean `mean`."""
    if rw.kind(layer) == "Dense":
        return mean @ error
    if rw.kind(layer) == "DepthwiseConv2D":
        return np.einsum("hwc,hwcm->cm", mean, error).reshape(-1)
    return np.einsum("hwi,hwio->o", mean, error)


# ----- AdaRound ---------------------------------------------------------------------------------

ZETA, GAMMA = 1.1, -0.1  # the rectified sigmoid's stretch (Louizos et al.), as AdaRound uses it
ROWS = 1024  # input rows (positions of a convolution's patches) each layer's rounding is fitted on
ITERATIONS = 300
REGULARIZATION = 0.01


def adaround(context: StepContext, model) -> StepResult:
    """Per weighted layer, in order: learn whether each weight rounds down or up so that the layer's
    outputs on its float inputs are reconstructed best, then write the weights as integer times the
    converter's own scale (the largest weight of each channel keeps its value, so the converter finds the
    same scale and its round-to-nearest reproduces the choice)."""
    started = time.perf_counter()
    folded, notes, layers, x = _start_weighted(context, model, "adaround")
    inputs = _layer_inputs(folded, layers, x)
    plan = rw.Rebuild()
    chosen: dict[str, np.ndarray] = {}
    flipped = 0
    task = context.progress.task("adaround: learning the rounding of each layer", total=len(layers))
    for layer in layers:
        if layer.name not in inputs:
            task.advance(1)
            continue
        kernel, bias = rw.kernel_and_bias(layer)
        integers = _learn_rounding(layer, kernel, inputs[layer.name])
        flipped += int((integers != np.clip(np.round(kernel / weight_scales(layer, kernel)), -127, 127)).sum())
        chosen[layer.name] = integers
        plan.weights[layer.name] = [(integers * weight_scales(layer, kernel)).astype(np.float32), bias]
        plan.configs[layer.name] = {"use_bias": True}
        task.advance(1, status=layer.name)
    task.finish()
    rounded = rw.rebuild(folded, plan)
    total = sum(v.size for v in chosen.values())
    notes.append(f"learned the rounding of {len(chosen)} layer(s) on {min(PROBE_SAMPLES, len(context.representative))} "
                 f"representative inputs: {flipped:,} of {total:,} weights ({flipped / max(total, 1):.1%}) round the other "
                 "way than to the nearest")
    record = _record(context, "adaround", model, rounded, started, sorted(chosen), None, [f"adaround: {n}" for n in notes])
    result = _result(context, rounded, record)
    result.model._advisor_adaround = chosen  # the integers chosen per layer, for tests that read the .tflite back
    return result


def _patch_rows(layer, values: np.ndarray) -> np.ndarray:
    """Each output position's patch of a convolution's input, (kh, kw, in) flattened as the kernel is."""
    import tensorflow as tf

    config = layer.get_config()
    kh, kw = config["kernel_size"]
    sh, sw = config["strides"]
    dh, dw = config.get("dilation_rate", (1, 1))
    patches = tf.image.extract_patches(values.astype(np.float32), sizes=[1, kh, kw, 1], strides=[1, sh, sw, 1],
                                       rates=[1, dh, dw, 1], padding=config["padding"].upper()).numpy()
    return patches.reshape(-1, kh * kw * values.shape[-1])


def _patches(layer, values: np.ndarray) -> np.ndarray:
    """The rows a layer multiplies by its kernel, subsampled to ROWS: the inputs themselves (Dense), or
    each output position's patch (convolutions)."""
    if rw.kind(layer) == "Dense":
        rows = values.reshape(-1, values.shape[-1])
    else:
        rows = _patch_rows(layer, values[:max(1, -(-ROWS * 4 // max(1, values.shape[1] * values.shape[2])))])
    if len(rows) > ROWS:
        rows = rows[np.random.default_rng(0).choice(len(rows), ROWS, replace=False)]
    return rows.astype(np.float32)


def _learn_rounding(layer, kernel: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The integers (on the converter's grid) AdaRound chooses for `kernel`: a rectified sigmoid per weight,
    fitted to reconstruct the layer's float outputs on its inputs, annealed to 0 or 1."""
    import tensorflow as tf

    scale = weight_scales(layer, kernel)
    ratio = kernel / scale
    floor = np.floor(ratio)
    rest = np.clip(ratio - floor, 1e-4, 1 - 1e-4)
    rows = tf.constant(_patches(layer, values))
    if rw.kind(layer) == "DepthwiseConv2D":  # (rows, kh*kw, in) by (kh*kw, in, multiplier)
        kh, kw, channels, multiplier = kernel.shape
        rows = tf.reshape(rows, (-1, kh * kw, channels))
        shape = (kh * kw, channels, multiplier)

        def apply(x, w):
            return tf.einsum("rkc,kcm->rcm", x, w)
    else:
        shape = (-1, kernel.shape[-1])

        def apply(x, w):
            return tf.matmul(x, w)
    w = kernel.reshape(shape).astype(np.float32)
    base = tf.constant(floor.reshape(w.shape).astype(np.float32))
    s = tf.constant(np.broadcast_to(scale, kernel.shape).reshape(w.shape).astype(np.float32))
    target = apply(rows, tf.constant(w))
    v = tf.Variable(-np.log((ZETA - GAMMA) / (rest.reshape(w.shape) - GAMMA) - 1).astype(np.float32))
    optimizer = tf.keras.optimizers.Adam(1e-2)
    warm = int(0.2 * ITERATIONS)
    size = float(w.size)

    @tf.function
    def step(beta, regularize):
        with tf.GradientTape() as tape:
            h = tf.clip_by_value(tf.sigmoid(v) * (ZETA - GAMMA) + GAMMA, 0.0, 1.0)
            loss = tf.reduce_mean(tf.square(apply(rows, (base + h) * s) - target))
            loss += regularize * REGULARIZATION * tf.reduce_sum(1.0 - tf.pow(tf.abs(2.0 * h - 1.0), beta)) / size
        optimizer.apply_gradients([(tape.gradient(loss, v), v)])

    for index in range(ITERATIONS):
        beta = 20.0 - (20.0 - 2.0) * max(0, index - warm) / max(1, ITERATIONS - warm)
        step(tf.constant(beta), tf.constant(1.0 if index >= warm else 0.0))
    hard = (v.numpy() >= 0).astype(np.float32)
    return _fixed_grid(layer, (floor.reshape(w.shape) + hard).reshape(kernel.shape), ratio)


def _fixed_grid(layer, integers: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """Integers in [-127, 127] whose per-channel extreme stays at +-127 where the float extreme was (so that
    the converter computes the same scale from the rewritten weights)."""
    channels = rw.output_channels(layer, ratio)
    top = np.abs(ratio).reshape(-1, channels)
    flat = np.clip(integers, -127, 127).reshape(top.shape).copy()
    where = top.argmax(axis=0)
    columns = np.arange(channels)
    flat[where, columns] = np.sign(ratio.reshape(top.shape)[where, columns]) * 127
    return flat.reshape(integers.shape)


# ----- distillation ------------------------------------------------------------------------------


def distill(context: StepContext, model) -> StepResult:
    """Quantization-aware fine-tuning against the float model's own outputs on unlabelled inputs (the
    training inputs without labels, else the representative ones; never the evaluation data): KL
    divergence for class scores, mean squared error for values, every output counted. With labels the
    ladder's quantization-aware training comes first; this step never reads them."""
    import tf_keras

    from advisor.executor import qat_scheme, training
    from advisor.executor.tf_env import quiet, tfmot
    from advisor.models.dataset import Dataset

    started = time.perf_counter()
    _, teacher, notes = _start(context, model)
    source = context.train if context.train is not None else context.representative
    if source is None:
        raise SchemeFailed("distill fine-tunes on unlabelled inputs (inputs.train or inputs.representative)")
    inputs = Dataset(source.inputs, None, source.source)
    targets = _predict(teacher, training.features(inputs))
    mot = tfmot()
    with quiet():
        try:
            annotated, left = training.annotate_supported(teacher, mot)
            with qat_scheme.scope():
                student = mot.quantization.keras.quantize_apply(annotated, qat_scheme.scheme())
        except (ValueError, RuntimeError, TypeError, KeyError) as err:
            raise SchemeFailed(f"distill cannot wrap this model for quantization-aware training: {err}") from None
    training.calibrate_ranges(student, teacher, inputs)
    outputs = context.loaded.signature.outputs
    losses = [_loss_for(spec.kind, target) for spec, target in zip(outputs, targets)]
    student.compile(optimizer=tf_keras.optimizers.Adam(context.options.learning_rate), loss=losses)
    training.fit(student, inputs, epochs=context.options.epochs, batch_size=context.options.batch_size, label="distill",
                 progress=context.progress, targets=[t.astype(np.float32) for t in targets] if len(targets) > 1
                 else targets[0].astype(np.float32))
    kinds = ", ".join(f"{spec.name}: {type(loss).__name__}" for spec, loss in zip(outputs, losses))
    notes.append(f"{context.options.epochs} epoch(s) of quantization-aware training against the float model's outputs on "
                 f"{len(inputs)} unlabelled inputs ({inputs.source}); losses {kinds}")
    if left:
        notes.append(f"{len(left)} layer(s) TFMOT does not support stay float while training: {', '.join(left[:6])}")
    record = _record(context, "distill", model, student, started,
                     [layer.name for layer in teacher.layers if rw.kind(layer) in rw.WEIGHTED], None,
                     [f"distill: {n}" for n in notes])
    return _result(context, student, record)


def _loss_for(kind: str | None, target: np.ndarray):
    """KL divergence for class probabilities (scores, or an output of unknown kind that sums to one),
    cross-entropy for one score, squared error for values and logits."""
    import tf_keras

    probabilities = (target.ndim > 1 and target.shape[-1] > 1 and target.min() >= 0
                     and np.allclose(target.sum(axis=-1), 1, atol=1e-3))
    if kind != "values" and probabilities:
        return tf_keras.losses.KLDivergence()
    if kind == "scores" and (target.ndim == 1 or target.shape[-1] == 1) and target.min() >= 0 and target.max() <= 1:
        return tf_keras.losses.BinaryCrossentropy()
    return tf_keras.losses.MeanSquaredError()
