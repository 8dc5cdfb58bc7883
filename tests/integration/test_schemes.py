"""Every scheme and pre-step on a real tiny model: the .tflite loads in LiteRT and has the scheme's dtypes."""

import numpy as np
import pytest

from advisor.reading.tflite import read_graph
from tests.integration.conftest import top1_accuracy
from advisor.validator.weights import weight_statistics


def constant_dtypes(graph):
    return {t.dtype for t in graph.tensors if t.constant}


def activation_dtypes(graph):
    return {t.dtype for op in graph.ops for t in op.tensors if not t.constant}


@pytest.fixture(scope="module")
def baseline_size(loaded_dense, tmp_path_factory):
    from tests.integration.conftest import producer

    content = producer(loaded_dense, tmp_path_factory.mktemp("w")).produce("float32").content
    assert {"float32"} >= activation_dtypes(read_graph(content)) - {"int32"}
    return len(content)


def test_float16_has_float16_weights_and_half_the_size(make_job, baseline_size):
    content = make_job().produce("float16").content
    graph = read_graph(content)
    assert "float16" in constant_dtypes(graph)
    assert len(content) <= 0.55 * baseline_size


def test_dynamic_range_has_int8_weights_and_float_io(make_job, baseline_size):
    content = make_job().produce("dynamic_range").content
    graph = read_graph(content)
    assert "int8" in constant_dtypes(graph)
    assert graph.inputs[0].dtype == "float32" and graph.outputs[0].dtype == "float32"
    assert len(content) <= 0.30 * baseline_size


def test_full_integer_for_an_integer_only_target_is_int8_everywhere_with_batch_one(make_job, baseline_size, digits):
    content = make_job(integer_only=True).produce("full_integer").content
    graph = read_graph(content)
    assert graph.inputs[0].dtype == "int8" and graph.outputs[0].dtype == "int8"
    assert graph.inputs[0].shape_signature[0] == 1
    assert activation_dtypes(graph) <= {"int8", "int32"}
    assert len(content) <= 0.30 * baseline_size
    # it still classifies: LiteRT run with the int8 input scale
    assert top1_accuracy(content, digits["eval"]) > 0.8


def test_full_integer_for_cpu_keeps_float_io(make_job):
    graph = read_graph(make_job(integer_only=False).produce("full_integer").content)
    assert graph.inputs[0].dtype == "float32" and graph.inputs[0].shape_signature[0] == -1
    inner = [op for op in graph.ops if op.name not in ("QUANTIZE", "DEQUANTIZE")]
    assert all(op.activation_dtypes() <= {"int8", "int32"} for op in inner)


def test_int16x8_has_int16_activations(make_job):
    graph = read_graph(make_job().produce("int16x8").content)
    inner = [op for op in graph.ops if op.name not in ("QUANTIZE", "DEQUANTIZE")]
    assert any("int16" in op.activation_dtypes() for op in inner)
    assert "int8" in constant_dtypes(graph)


def test_qat_converts_to_int8(make_job, digits):
    content = make_job(integer_only=True, epochs=1).produce("qat").content
    graph = read_graph(content)
    assert graph.inputs[0].dtype == "int8" and activation_dtypes(graph) <= {"int8", "int32"}
    assert top1_accuracy(content, digits["eval"]) > 0.8


def test_pruning_reaches_its_target_sparsity_in_the_delivered_file(make_job):
    produced = make_job(sparsity=0.5).produce("dynamic_range", ("pruning",))
    stats = weight_statistics(produced.content)
    assert abs(stats.sparsity - 0.5) <= 0.02


def test_clustering_leaves_at_most_the_cluster_count_per_kernel_in_the_delivered_file(make_job):
    produced = make_job(clusters=16).produce("float16", ("clustering",))
    unique = weight_statistics(produced.content).unique_weights
    assert len(unique) == 3 and all(count <= 16 for count in unique.values())


def test_weight_statistics_read_the_file_not_the_keras_model(make_job):
    """Unpruned, the same model's file has almost no zeros and hundreds of distinct int8 values per channel."""
    stats = weight_statistics(make_job().produce("dynamic_range").content)
    assert stats.sparsity < 0.05 and max(stats.unique_weights.values()) > 100


def test_pruning_then_qat_keeps_the_sparsity(make_job):
    """Sparsity-preserving QAT: the int8 weights of the .tflite stay about half zeros."""
    from ai_edge_litert.interpreter import Interpreter

    job = make_job(integer_only=True, epochs=2, sparsity=0.5)
    content = job.produce("qat", ("pruning",)).content
    interpreter = Interpreter(model_content=content)
    weights = [interpreter.get_tensor(d["index"]) for d in interpreter.get_tensor_details()
               if d["dtype"] == np.int8 and len(d["shape"]) == 2 and d["shape"].prod() > 1000]
    zeros = sum((w == 0).sum() for w in weights) / sum(w.size for w in weights)
    assert zeros >= 0.45


def test_pre_steps_are_reused_between_attempts(make_job):
    job = make_job()
    job.produce("dynamic_range", ("pruning",))
    first = job._pre_stepped[("pruning",)]
    job.produce("float16", ("pruning",))
    assert job._pre_stepped[("pruning",)] is first


def test_an_op_without_an_int8_kernel_is_named_by_the_hardware_check(tf, digits, tmp_path):
    """The converter leaves CUMSUM in float without a word; the check names it, not its neighbours."""
    import tf_keras as keras

    from advisor.engine.rules import load_rules
    from advisor.executor.loading import LoadedModel
    from advisor.validator.hardware import check_model
    from tests.integration.conftest import producer

    model = keras.Sequential([keras.layers.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(16),
                              keras.layers.Lambda(lambda t: tf.math.cumsum(t, axis=1)), keras.layers.Dense(10)])
    loaded = LoadedModel.from_keras(model, "cumsum")
    content = producer(loaded, tmp_path, integer_only=True, representative=digits["representative"].x[:50]).produce("full_integer").content
    report = check_model(content, "edgetpu", load_rules())
    assert not report.compatible and report.root_causes == ["CUMSUM"]
    assert any(p.op == "CUMSUM" and "CUMSUM has no int8 kernel in LiteRT" in p.reason for p in report.problems)


def test_fine_tuning_a_64px_xception_block_does_not_crash_the_worker(tf, tmp_path):
    """TensorFlow 2.21's oneDNN kernels corrupt memory training this block (a separable-conv residual block
    at 64x64, as in fer's emotion model): its first epoch aborted the worker until workers ran with
    TF_ENABLE_ONEDNN_OPTS=0. Setting TF_ENABLE_ONEDNN_OPTS=1 makes this test fail."""
    import tf_keras

    import advisor
    from advisor.models.options import RunOptions

    L = tf_keras.layers
    i = L.Input((64, 64, 1))
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(8, 3, padding="same")(i)))
    r = L.BatchNormalization()(L.Conv2D(16, 1, strides=2, padding="same")(x))
    x = L.ReLU()(L.BatchNormalization()(L.SeparableConv2D(16, 3, padding="same")(x)))
    x = L.BatchNormalization()(L.SeparableConv2D(16, 3, padding="same")(x))
    x = L.Add()([L.MaxPooling2D(3, strides=2, padding="same")(x), r])
    tf_keras.Model(i, L.Softmax()(L.GlobalAveragePooling2D()(L.Conv2D(7, 3, padding="same")(x)))).save(tmp_path / "xception.h5")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", x=rng.normal(size=(16, 64, 64, 1)).astype("float32"), y=rng.integers(0, 7, 16))
    data = str(tmp_path / "data.npz")
    report = advisor.run({"data": "labelled", "hardware": "cpu", "budget": {"max_attempts": 1},
                          "inputs": {"model": str(tmp_path / "xception.h5"), "representative": data, "train": data, "eval": data}},
                         out=tmp_path / "out", options=RunOptions(scheme="qat", epochs=1, latency_runs=0))
    assert report.attempts[0].error is None and report.attempts[0].metrics is not None
