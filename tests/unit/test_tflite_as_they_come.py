""".tflite files as packages ship them, made with the flatbuffer schema alone: every command reads them,
every scheme takes effect on them (or fails saying so), a crashing step is a failed attempt, and no run
imports TensorFlow (this tier runs without it)."""

import io
import json
import shutil
import zipfile

import numpy as np
import pytest
import yaml

from advisor.engine.rules import load_rules
from advisor.errors import ModelError
from advisor.models.options import RunOptions
from advisor.pipeline.recommend import parse_answers, recommend
from advisor.pipeline.run import run
from advisor.reading import read_model
from advisor.reading.tflite import read_graph
from advisor.reading.tflite_repair import split_associated
from advisor.resources import shipped_rules
from tests.conftest import run_cli
from tests.tflite_builder import data, mlp

QUICK = RunOptions(latency_runs=0)


@pytest.fixture
def files(tmp_path):
    np.save(tmp_path / "calib.npy", data(200))
    np.save(tmp_path / "eval.npy", data(120, seed=2))
    return tmp_path


def answers(files, model: bytes, hardware="cpu", name="m.tflite", **extra):
    (files / name).write_bytes(model)
    raw = {"data": "unlabelled", "hardware": hardware, "goals": {"min_sqnr_db": 20},
           "inputs": {"model": str(files / name), "representative": str(files / "calib.npy"), "eval": str(files / "eval.npy")}}
    raw.update(extra)
    return parse_answers(raw)


def test_a_tflite_without_a_signature_gets_serving_default_and_runs(files, tmp_path):
    report = run(answers(files, mlp(signature=False)), out=tmp_path / "out", options=QUICK)
    assert report.chosen is not None and report.attempts[report.chosen].passed
    assert any("no signature: serving_default was made" in note for note in report.notes)
    assert read_model(files / "m.tflite").signature.input_names == ["x"]


def test_legacy_operator_codes_are_normalized_before_the_quantizer_reads_them(files, tmp_path):
    """LiteRT Quantizer reads builtin_code only: unrepaired, it quantizes nothing (the no-op the check catches)."""
    report = run(answers(files, mlp(legacy_codes=True)), out=tmp_path / "out", options=QUICK.model_copy(update={"scheme": "dynamic_range"}))
    attempt = report.attempts[0]
    assert attempt.error is None and attempt.weights_by_dtype.get("int8", 0) > attempt.weights_by_dtype.get("float32", 0)
    assert any("legacy field only" in note for note in report.notes)


def test_a_scheme_that_did_not_take_effect_fails_saying_so(files, tmp_path):
    """A step that hands back the float model unchanged: measured, but failed by its own weights."""
    folder = tmp_path / "rules"
    shutil.copytree(shipped_rules(), folder, ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
    catalog = yaml.safe_load((folder / "schemes.yaml").read_text())
    catalog["schemes"]["dynamic_range"]["implementations"]["quantizer"] = "tests.steps:unchanged"
    (folder / "schemes.yaml").write_text(yaml.safe_dump(catalog, sort_keys=False))
    rules = load_rules(folder)
    a = parse_answers(answers(files, mlp()).model_dump(exclude_defaults=True), rules=rules)
    report = run(a, rules=rules, out=tmp_path / "out", options=QUICK)
    first = report.attempts[0]
    assert first.scheme == "dynamic_range" and not first.passed
    assert "LiteRT Quantizer left 100% of the weight bytes in float32" in first.error and "did not take effect" in first.error
    assert first.weights_by_dtype["float32"] > 0 and "int8" not in first.weights_by_dtype
    assert report.chosen is not None and report.attempts[report.chosen].scheme != "dynamic_range"  # the ladder went on
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["attempts"][0]["error"] == first.error and saved["attempts"][0]["weights_by_dtype"]


def test_a_step_that_crashes_its_process_fails_its_attempt_and_the_ladder_goes_on(files, tmp_path):
    folder = tmp_path / "rules"
    shutil.copytree(shipped_rules(), folder, ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
    catalog = yaml.safe_load((folder / "schemes.yaml").read_text())
    catalog["schemes"]["dynamic_range"]["implementations"]["quantizer"] = "tests.steps:segfault"
    (folder / "schemes.yaml").write_text(yaml.safe_dump(catalog, sort_keys=False))
    (files / "m.tflite").write_bytes(mlp())
    answers_file = files / "a.yaml"
    answers_file.write_text(yaml.safe_dump(answers(files, mlp()).model_dump(exclude_defaults=True)))
    result = run_cli("run", "--answers", str(answers_file), "--out", str(tmp_path / "out"), "--rules", str(folder))
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    crashed = report["attempts"][0]
    assert crashed["scheme"] == "dynamic_range" and not crashed["passed"]
    assert "crashed (signal 11, SIGSEGV) while" in crashed["error"]
    assert report["attempts"][report["chosen"]]["passed"]
    assert sorted(p.name for p in tmp_path.iterdir() if "advisor" in p.name) == []  # no staging folder left


def test_metadata_and_associated_files_travel_into_every_model(files, tmp_path):
    report = run(answers(files, mlp(metadata=True)), out=tmp_path / "out", options=QUICK)
    written = (tmp_path / "out" / "model.tflite").read_bytes()
    flat, associated = split_associated(written)
    assert zipfile.ZipFile(io.BytesIO(associated)).read("labels.txt").startswith(b"class 0")
    from ai_edge_litert import schema_py_generated as schema

    names = [m.name for m in schema.ModelT.InitFromPackedBuf(flat, 0).metadata or []]
    assert b"TFLITE_METADATA" in names
    assert any("metadata (TFLITE_METADATA, 1 associated file(s) (labels.txt))" in note for note in report.notes)


def test_float16_weights_become_the_float32_baseline_and_the_prediction_is_right(files, tmp_path):
    inspected = read_model(files / "m.tflite") if (files / "m.tflite").exists() else None
    assert inspected is None
    report = run(answers(files, mlp(float16=True)), out=tmp_path / "out", options=QUICK)
    assert "float16" not in report.baseline.weights_by_dtype and report.baseline.weights_by_dtype["float32"] > 0
    assert any("float16 weight tensor(s)" in note for note in report.notes)
    facts = recommend(answers(files, mlp(float16=True)))
    assert facts.expected.size_bytes > 0 and facts.expected.size_reduction > 0  # never a negative prediction
    assert read_model(files / "m.tflite").tensors.float32_bytes == report.baseline.metrics.size_bytes


def test_a_box_head_is_judged_as_values_and_the_class_head_as_scores(files, tmp_path):
    a = answers(files, mlp(box=True), goals={"min_sqnr_db": 10, "max_prediction_change": 0.5})
    report = run(a, out=tmp_path / "out", options=QUICK)
    fidelity = report.attempts[0].metrics.fidelity
    assert fidelity.outputs["scores"].kind == "scores" and fidelity.outputs["scores"].top1_agreement is not None
    assert fidelity.outputs["box"].kind == "values" and fidelity.outputs["box"].top1_agreement is None
    assert fidelity.outputs["box"].relative_error is not None
    assert fidelity.prediction_change == pytest.approx(1 - fidelity.outputs["scores"].top1_agreement)


def test_task_outputs_names_the_kind_the_model_cannot_tell(files, tmp_path):
    a = answers(files, mlp(box=True), goals={"max_prediction_change": 0.5}, task={"outputs": {"scores": "values"}})
    verdict = run(a, out=tmp_path / "out", options=QUICK).attempts[0].verdicts[0]
    assert verdict.status == "not_measured" and "no output is class scores" in verdict.reason and "task.outputs" in verdict.reason
    with pytest.raises(Exception, match="task.outputs: the model has no output 'nope'"):
        run(answers(files, mlp(), task={"outputs": {"nope": "scores"}}), out=tmp_path / "o2", options=QUICK)


def test_an_integer_only_target_gets_a_fixed_batch_of_one(files, tmp_path):
    report = run(answers(files, mlp(batch=-1), hardware="edgetpu"), out=tmp_path / "out", options=QUICK)
    attempt = report.attempts[0]
    assert not [p for p in attempt.hardware.problems if "batch" in p.reason]
    graph = read_graph((tmp_path / "out" / attempt.artifact).read_bytes())
    assert graph.inputs[0].shape_signature[0] == 1


def test_recommend_refuses_an_already_quantized_tflite_as_run_does(files, tmp_path):
    report = run(answers(files, mlp(), hardware="edgetpu"), out=tmp_path / "out", options=QUICK)
    quantized = tmp_path / "out" / report.attempts[0].artifact
    raw = {"data": "none", "hardware": "cpu", "inputs": {"model": str(quantized)}}
    with pytest.raises(ModelError, match="already quantized"):
        recommend(raw)
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(raw))
    result = run_cli("recommend", "--answers", str(tmp_path / "a.yaml"))
    assert result.returncode == 2 and "already quantized" in result.stderr and "Traceback" not in result.stderr


def test_no_run_on_a_tflite_imports_tensorflow(files, tmp_path):
    (files / "m.tflite").write_bytes(mlp(float16=True, signature=False, legacy_codes=True))
    code = ("import sys, yaml; from advisor.pipeline.run import run; from advisor.pipeline.recommend import parse_answers; "
            "from advisor.models.options import RunOptions; "
            f"r = run(parse_answers(yaml.safe_load(open('{files / 'a.yaml'}'))), out='{tmp_path / 'out'}', "
            "options=RunOptions(latency_runs=0)); "
            "import advisor.pipeline.worker as w; heavy = ('tensorflow', 'tf_keras', 'keras'); "
            "worker = w.acquire(); print('WORKER=' + ','.join(worker.call('imported', heavy))); "
            "print('HEAVY=' + ','.join(m for m in heavy if m in sys.modules))")
    (files / "a.yaml").write_text(yaml.safe_dump(answers(files, mlp(float16=True, signature=False, legacy_codes=True)).model_dump(exclude_defaults=True)))
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-2:] == ["WORKER=", "HEAVY="]


def test_buffers_stored_after_the_flatbuffer_survive_every_rewrite(files, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    from advisor.reading.tflite_repair import fix_batch, repair
    from tests.tflite_builder import with_external_buffers

    external = with_external_buffers(mlp(signature=False, metadata=False))

    def outputs(content):
        interpreter = Interpreter(model_content=content)
        interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], data(1))
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])

    reference = outputs(mlp(signature=False))
    assert np.allclose(outputs(external), reference)
    assert np.allclose(outputs(repair(external).content), reference)  # re-packed with its buffers inside
    assert np.allclose(outputs(fix_batch(external)), reference)  # edited in place
    report = run(answers(files, external, hardware="edgetpu"), out=tmp_path / "out", options=QUICK)
    assert report.attempts[0].metrics is not None and report.attempts[0].error is None


def test_a_run_in_process_leaves_no_stand_in_for_the_next_run(files, tmp_path):
    """A metric function a worker cannot import runs the attempts in this process; the next run gets a real
    worker process again (a native crash there must not end the caller)."""
    from advisor.pipeline import worker as workers

    def metric(outputs, y):
        return 0.0

    report = run(answers(files, mlp()), out=tmp_path / "a", options=QUICK, metric=metric)
    assert any("cannot be sent to a worker process" in n for n in report.notes)
    assert all(isinstance(w, workers.Worker) for w in workers._idle)
    later = run(answers(files, mlp()), out=tmp_path / "b", options=QUICK)
    assert not any("cannot be sent to a worker process" in n for n in later.notes)


def test_a_layer_left_float_by_selective_integer_is_matched_whole():
    import re

    from advisor.executor.quantizer import scope_regex

    pattern = scope_regex("model/dense/MatMul")
    assert re.search(pattern, "model/dense/MatMul;") and re.search(pattern, "a;model/dense/MatMul;")
    assert not re.search(pattern, "model/dense/MatMul_1;") and not re.search(pattern, "my_model/dense/MatMul;")
