"""selective_integer: the debugger finds a deliberately sensitive layer, and keeping it float recovers accuracy."""

import pytest

from advisor.engine.rules import load_rules
from advisor.pipeline.recommend import parse_answers
from advisor.models.options import RunOptions
from advisor.pipeline.run import execute, plan
from advisor.validator.hardware import check_model

RULES = load_rules()


@pytest.fixture(scope="module")
def sensitive_model(tf, digits, tmp_path_factory):
    """A digits classifier whose first Dense layer has one huge weight on an always-zero pixel.

    In float the weight never matters (the pixel is 0 in every digit); in int8 it sets the layer's
    weight scale, so every other weight rounds to zero and full-integer accuracy collapses."""
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.layers.Input((8, 8, 1)), keras.layers.Flatten(),
        keras.layers.Dense(64, activation="relu", name="sensitive"),
        keras.layers.Dense(64, activation="relu", name="middle"),
        keras.layers.Dense(10, activation="softmax", name="head"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(digits["train"].x, digits["train"].y, epochs=8, verbose=0)
    assert digits["train"].x.reshape(len(digits["train"].x), -1)[:, 0].max() == 0
    kernel, bias = model.get_layer("sensitive").get_weights()
    kernel[0, :] = 1e4
    model.get_layer("sensitive").set_weights([kernel, bias])
    path = tmp_path_factory.mktemp("sensitive") / "sensitive.keras"
    model.save(path)
    return path


def test_the_debugger_ranks_the_sensitive_layer_first(sensitive_model, make_job):
    from advisor.executor.loading import load_model
    from advisor.executor.selective import rank_layers

    job = make_job(loaded=load_model(str(sensitive_model)))
    ranked = rank_layers(job.context, None)
    assert "sensitive" in ranked[0].tensor and ranked[0].error > 10 * ranked[1].error


def test_keeping_it_float_recovers_what_full_integer_lost(sensitive_model, tmp_path):
    answers = parse_answers({
        "data": "unlabelled", "hardware": "cpu", "goals": {"max_accuracy_drop": 0.02},
        "inputs": {"model": str(sensitive_model), "representative": "builtin:digits", "eval": "builtin:digits"},
    })
    the_plan = plan(answers, RULES, RunOptions(latency_runs=5), rungs=[("full_integer", ()), ("selective_integer", ())])
    report = execute(the_plan, out=tmp_path / "out")
    full, selective = report.attempts
    baseline = report.baseline.metrics.accuracy
    assert baseline > 0.9
    assert full.metrics.accuracy_drop > 0.3 and not full.passed
    assert selective.passed and report.chosen == 1 and selective.metrics.accuracy_drop <= 0.02
    kept = selective.metrics.float_layers
    assert len(kept) == 1 and "sensitive" in kept[0]
    # the search judged on the representative inputs (top-1 changes against float32), not on the eval set
    assert "representative inputs" in selective.metrics.selective_judged_on
    assert 0 <= selective.metrics.selective_steps[0].accuracy_drop <= 0.02
    assert selective.metrics.size_bytes < report.baseline.metrics.size_bytes
    # the hardware check shows the layer left in float
    content = (tmp_path / "out" / selective.artifact).read_bytes()
    notes = check_model(content, "cpu", RULES).notes
    assert any("compute in float: FULLY_CONNECTED (each has an int8 kernel: kept float on purpose)" in n for n in notes), notes
