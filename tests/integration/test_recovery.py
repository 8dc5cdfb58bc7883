"""The recovery steps on small real models: equalize keeps the float model, AdaRound's integers are the
ones in the .tflite, bias correction cancels the weights' mean error, distillation trains against every
output of a two-output model, and a run reaches the recovery rungs."""

import json

import numpy as np
import pytest

from tests.integration.conftest import producer

pytestmark = pytest.mark.tf


@pytest.fixture(scope="session")
def cbr_model(tf, digits, tmp_path_factory):
    """Conv, batch norm, ReLU6, depthwise, pointwise and dense: the layers recovery rewrites, with channel
    ranges made uneven (as trained networks have them) by scaling the batch norms' gammas."""
    import tf_keras as keras
    from tf_keras import layers

    keras.utils.set_random_seed(3)
    inputs = keras.Input((8, 8, 1), name="image")
    x = layers.Conv2D(8, 3, padding="same", use_bias=False)(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU(6.0)(x)
    x = layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU(6.0)(x)
    x = layers.Conv2D(16, 1)(x)
    x = layers.ReLU()(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(10, activation="softmax", name="digit")(x)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(5e-3), "sparse_categorical_crossentropy")
    model.fit(digits["train"].x, digits["train"].y, epochs=3, verbose=0)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([gamma * rng.uniform(0.05, 3.0, gamma.shape), beta, mean, variance])
    path = tmp_path_factory.mktemp("recovery") / "cbr.keras"
    model.save(path)
    return path


@pytest.fixture
def context(cbr_model, digits, tmp_path):
    from advisor.executor.loading import load_model

    return producer(load_model(str(cbr_model)), tmp_path, integer_only=True,
                    representative=digits["representative"].x[:200]).producer.context


def test_equalize_keeps_the_float_model_and_evens_the_ranges(context):
    from advisor.executor import recovery
    from advisor.executor import rewrite as rw

    result = recovery.equalize(context, None)
    record = result.findings.recovery[0]
    assert record.step == "equalize" and record.float_sqnr_db >= 60
    assert {"conv2d", "depthwise_conv2d", "conv2d_1"} <= set(record.layers)
    assert record.before["sqnr_db"] is not None and record.after["sqnr_db"] is not None
    assert any("ReLU6" in note for note in result.notes)
    _, folded, _ = recovery._start(context, None)

    def imbalance(model):  # how differently the pair conv2d -> depthwise_conv2d uses its channels' ranges
        first, second = model.get_layer("conv2d"), model.get_layer("depthwise_conv2d")
        r1 = recovery._output_range(first, first.get_weights()[0])
        r2 = recovery._input_range(second, second.get_weights()[0])
        return float(np.median(np.abs(np.log(r1 / r2))))

    assert imbalance(result.model) < imbalance(folded) / 4
    assert not any(rw.kind(layer) == "BatchNormalization" for layer in result.model.layers)


def test_equalize_pairs_layers_across_prelu_pooling_and_leaky_relu_and_keeps_the_float_model(tf, tmp_path):
    """MTCNN's networks join their convolutions by PReLU and max pooling, which pass a positive scale
    through; Flatten does not (it mixes channels into one axis)."""
    import tf_keras as keras
    from tf_keras import layers

    from advisor.executor import recovery
    from advisor.executor import rewrite as rw
    from advisor.executor.loading import load_model

    keras.utils.set_random_seed(1)
    inputs = keras.Input((12, 12, 3))
    x = layers.PReLU(shared_axes=[1, 2], alpha_initializer=keras.initializers.Constant(0.25))(layers.Conv2D(8, 3, name="a")(inputs))
    x = layers.MaxPooling2D(2)(x)
    x = layers.LeakyReLU(0.1)(layers.Conv2D(8, 3, name="b")(x))
    x = layers.Flatten()(layers.Conv2D(4, 1, name="c")(x))
    model = keras.Model(inputs, layers.Dense(3, name="d")(x))
    for layer in model.layers:  # channels of uneven range, as trained networks have them
        if layer.name in ("a", "b"):
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel * np.random.default_rng(2).uniform(0.05, 4.0, kernel.shape[-1]), bias])
    assert {(p.first, p.second) for p in rw.pairs(model)} == {("a", "b"), ("b", "c")}
    model.save(tmp_path / "prelu.keras")
    rng = np.random.default_rng(0)
    context = producer(load_model(str(tmp_path / "prelu.keras")), tmp_path, integer_only=True,
                       representative=rng.normal(size=(64, 12, 12, 3)).astype("float32")).producer.context
    record = recovery.equalize(context, None).findings.recovery[0]
    assert record.float_sqnr_db >= 60 and {"a", "b", "c"} <= set(record.layers)


def test_equalize_declines_when_the_float_model_would_change(context, monkeypatch):
    from advisor.errors import SchemeFailed
    from advisor.executor import recovery

    monkeypatch.setattr(recovery, "FLOAT_SQNR_DB", 1000.0)
    with pytest.raises(SchemeFailed, match="equalize declined: the rewritten float model is .* dB from the original"):
        recovery.equalize(context, None)


def _int8_tensors(content: bytes) -> list[np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=content)
    interpreter.allocate_tensors()
    found = []
    for detail in interpreter.get_tensor_details():
        if detail["dtype"] == np.int8 and len(detail["shape"]) >= 2:
            try:
                found.append(interpreter.get_tensor(detail["index"]))
            except ValueError:  # a tensor computed at run time: no data yet
                pass
    return found


def _tflite_layout(kind: str, integers: np.ndarray) -> np.ndarray:
    if kind == "Conv2D":  # (kh, kw, in, out) -> (out, kh, kw, in)
        return integers.transpose(3, 0, 1, 2)
    if kind == "DepthwiseConv2D":  # (kh, kw, in, multiplier) -> (1, kh, kw, in * multiplier)
        return integers.reshape(1, *integers.shape[:2], -1)
    return integers.T  # Dense: (in, out) -> (out, in)


def test_adaround_integers_are_the_ones_in_the_tflite(context):
    from advisor.executor import recovery, schemes
    from advisor.executor import rewrite as rw

    result = recovery.adaround(context, None)
    chosen = result.model._advisor_adaround
    assert set(chosen) == {"conv2d", "depthwise_conv2d", "conv2d_1", "digit"}
    content = schemes.full_integer(context, result.model).content
    stored = _int8_tensors(content)
    _, folded, _ = recovery._start(context, None)
    flipped = 0
    for name, integers in chosen.items():
        layer = folded.get_layer(name)
        expected = _tflite_layout(rw.kind(layer), integers.astype(np.int8))
        assert any(t.shape == expected.shape and np.array_equal(t, expected) for t in stored), f"{name}: not in the .tflite"
        kernel = layer.get_weights()[0]
        flipped += int((integers != np.round(kernel / recovery.weight_scales(layer, kernel))).sum())
    assert flipped > 0  # learned rounding, not round-to-nearest
    assert result.findings.recovery[0].after["sqnr_db"] is not None


def test_bias_correction_cancels_the_mean_error_of_int8_weights(context, digits):
    from advisor.executor import recovery
    from advisor.executor import rewrite as rw

    result = recovery.bias_correction(context, None)
    _, folded, _ = recovery._start(context, None)
    x = digits["representative"].x[:200]

    def first_layer_shift(model):  # mean output of conv2d with its int8 weights, less the float one
        layer = model.get_layer("conv2d")
        kernel, bias = rw.kernel_and_bias(layer)
        patches = recovery._layer_inputs(model, [layer], x)["conv2d"]
        import tensorflow as tf

        def out(k):
            return tf.nn.conv2d(patches, k, 1, "SAME").numpy() + bias
        original = folded.get_layer("conv2d")
        reference = tf.nn.conv2d(patches, original.get_weights()[0], 1, "SAME").numpy() + rw.kernel_and_bias(original)[1]
        return np.abs((out(recovery.quantized(layer, kernel)) - reference).reshape(-1, kernel.shape[-1]).mean(axis=0)).max()

    before, after = first_layer_shift(folded), first_layer_shift(result.model)
    assert before > 1e-4 and after < before / 10
    record = result.findings.recovery[0]
    assert record.step == "bias_correction" and set(record.layers) == {"conv2d", "depthwise_conv2d", "conv2d_1", "digit"}


@pytest.fixture(scope="session")
def two_outputs(tf, digits, tmp_path_factory):
    """A digit classifier that also regresses the image's ink: class scores and a value."""
    import tf_keras as keras
    from tf_keras import layers

    keras.utils.set_random_seed(4)
    inputs = keras.Input((8, 8, 1), name="image")
    x = layers.Conv2D(8, 3, activation="relu")(inputs)
    x = layers.Flatten()(x)
    x = layers.Dense(32, activation="relu")(x)
    digit = layers.Dense(10, activation="softmax", name="digit")(x)
    ink = layers.Dense(1, name="ink")(x)
    model = keras.Model(inputs, [digit, ink])
    model.compile("adam", ["sparse_categorical_crossentropy", "mse"])
    train = digits["train"]
    model.fit(train.x, [train.y, train.x.mean(axis=(1, 2, 3))], epochs=2, verbose=0)
    path = tmp_path_factory.mktemp("recovery") / "two.keras"
    model.save(path)
    return path


def test_distill_trains_against_every_output_without_labels(two_outputs, digits, tmp_path):
    from advisor.executor import recovery, schemes
    from advisor.executor.loading import load_model
    from advisor.reading.tflite import signature

    context = producer(load_model(str(two_outputs)), tmp_path, integer_only=True,
                       representative=digits["representative"].x[:300], epochs=1).producer.context
    assert context.train is None  # unlabelled: the representative inputs are all there is
    result = recovery.distill(context, None)
    record = result.findings.recovery[0]
    notes = " ".join(record.notes)
    assert "digit: KLDivergence" in notes and "ink: MeanSquaredError" in notes
    assert "300 unlabelled inputs" in notes
    assert record.after["sqnr_db"] is not None and record.before["sqnr_db"] is not None
    content = schemes.full_integer(context, result.model).content
    assert {o.name for o in signature(content).outputs} == {"digit", "ink"}


def test_a_run_reaches_the_recovery_rungs_and_reports_them(cbr_model, digits, tmp_path):
    from advisor.cli.main import main

    rep, ev = tmp_path / "rep.npy", tmp_path / "eval.npy"
    np.save(rep, digits["representative"].x[:200])
    np.save(ev, digits["eval"].x[:100])
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({
        "data": "unlabelled", "hardware": "edgetpu", "goals": {"min_sqnr_db": 90},  # more than 8 bits can give
        "budget": {"max_attempts": 2},
        "inputs": {"model": str(cbr_model), "representative": str(rep), "eval": str(ev)}}))
    code = main(["run", "--answers", str(answers), "--out", str(tmp_path / "out")])
    assert code == 4
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    plain, recovered = report["attempts"]
    assert plain["pre_steps"] == [] and recovered["pre_steps"] == ["equalize", "bias_correction"]
    assert recovered["error"] is None
    steps = [r["step"] for r in recovered["recovery"]]
    assert steps == ["equalize", "bias_correction"]
    assert any(r["rule"] == "recovery:equalize+bias_correction+full_integer" for r in report["recommendation"]["rationale"])
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "recovery steps" in markdown and "`equalize`: float model kept at" in markdown


def test_a_model_with_nothing_to_rewrite_is_declined_before_any_work(tf, tmp_path):
    """A recurrent model (here an LSTM alone): no conv or dense layer, so each step says so at once, without
    converting anything (an int8 LSTM can crash the converter)."""
    import tf_keras as keras

    from advisor.errors import SchemeFailed
    from advisor.executor import recovery
    from advisor.executor.loading import load_model

    keras.utils.set_random_seed(5)
    model = keras.Sequential([keras.Input((6, 3), name="seq"), keras.layers.LSTM(4, name="state")])
    model.save(tmp_path / "lstm.keras")
    context = producer(load_model(str(tmp_path / "lstm.keras")), tmp_path, integer_only=True,
                       representative=np.random.default_rng(0).random((20, 6, 3), dtype=np.float32)).producer.context
    for step, reason in (("equalize", "nothing to equalize"), ("bias_correction", "no Conv2D, DepthwiseConv2D, Dense layer"),
                         ("adaround", "no Conv2D, DepthwiseConv2D, Dense layer")):
        with pytest.raises(SchemeFailed, match=reason):
            getattr(recovery, step)(context, None)


def test_quantization_aware_wrapping_starts_the_logits_at_their_range(tf, digits):
    """A softmax head is quantized before its activation too (the converter keeps the logits as a tensor):
    that range must start at the logits' own, not TFMOT's [-6, 6], which clipped a trained classifier's
    logits (a digits MobileNetV2's reach 26) and cost distillation 7 dB before it had trained at all."""
    import tf_keras as keras
    from tf_keras import layers

    from advisor.executor import qat_scheme, training
    from advisor.executor.tf_env import tfmot
    from advisor.models.dataset import Dataset

    keras.utils.set_random_seed(5)
    inputs = keras.Input((8, 8, 1), name="image")
    x = layers.Flatten()(layers.Conv2D(4, 3, activation="relu")(inputs))
    model = keras.Model(inputs, layers.Dense(10, activation="softmax", name="digit")(x))
    head = model.get_layer("digit")
    head.set_weights([head.get_weights()[0] * 20, head.get_weights()[1]])
    data = Dataset({"image": digits["representative"].x[:200]}, None, "representative")
    features = keras.Model(model.inputs, head.input).predict(data.x, verbose=0) @ head.get_weights()[0]
    logits = features + head.get_weights()[1]
    assert logits.max() > 6 and logits.min() < -6
    mot = tfmot()
    annotated, _ = training.annotate_supported(model, mot)
    with qat_scheme.scope():
        student = mot.quantization.keras.quantize_apply(annotated, qat_scheme.scheme())
    training.calibrate_ranges(student, model, data)
    wrapper = next(layer for layer in student.layers if getattr(layer, "layer", None) is not None and layer.layer.name == "digit")
    ranges = {v.name.rsplit("/", 1)[-1].split(":")[0]: float(v.numpy()) for v in wrapper.weights if "activation_m" in v.name}
    assert ranges["pre_activation_min"] == pytest.approx(logits.min(), rel=1e-4)
    assert ranges["pre_activation_max"] == pytest.approx(logits.max(), rel=1e-4)
