"""A new scheme is one rules entry and one step function: registered here from a temporary rules
folder, it is recommended, carried out, measured and reported like the shipped ones."""

import shutil

import yaml

from advisor.pipeline.recommend import parse_answers
from advisor.engine.rules import load_rules
from advisor.engine.soundness import check_rules
from advisor.executor.convert import convert
from advisor.executor.step import StepResult
from advisor.resources import shipped_rules
from advisor.pipeline.run import run
from advisor.reading.tflite import read_graph


def weights_in_half(context, model) -> StepResult:
    """The throwaway scheme's step: float16 weights, written against the step contract only."""

    def configure(converter, tf):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]

    return StepResult(content=convert(context, model, "weights_in_half", configure), notes=("made by a test",))


def test_a_scheme_registered_in_a_rules_folder_runs_end_to_end(dense_keras, tmp_path):
    folder = tmp_path / "rules"
    shutil.copytree(shipped_rules(), folder, ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
    catalog = yaml.safe_load((folder / "schemes.yaml").read_text())
    catalog["schemes"]["weights_in_half"] = {
        "executor": f"{__name__}:weights_in_half", "title": "weights in half precision", "data": "none",
        "fine_tune": False, "max_size_reduction": 0.5, "accuracy": "insignificant", "facts": ["A test's scheme."],
    }
    (folder / "schemes.yaml").write_text(yaml.safe_dump(catalog, sort_keys=False))
    hardware = yaml.safe_load((folder / "hardware.yaml").read_text())
    hardware["targets"]["cpu"]["runs"].append("weights_in_half")
    (folder / "hardware.yaml").write_text(yaml.safe_dump(hardware, sort_keys=False))
    tree = yaml.safe_load((folder / "tree.yaml").read_text())
    tree["ladder"][-1]["ladder"].insert(0, "weights_in_half")
    (folder / "tree.yaml").write_text(yaml.safe_dump(tree, sort_keys=False))

    rules = load_rules(folder)
    from advisor.executor.produce import step_of

    assert check_rules(rules, step_of=step_of, coarse=True, targets=["cpu"])[0] == []
    answers = parse_answers({"data": "none", "hardware": "cpu", "inputs": {"model": str(dense_keras)}}, rules=rules)
    report = run(answers, rules=rules, out=tmp_path / "out")
    assert report.recommendation.scheme == "weights_in_half"
    attempt = report.attempts[0]
    assert attempt.scheme == "weights_in_half" and attempt.passed and report.chosen == 0
    assert attempt.notes == ["made by a test"] and 0.45 < attempt.metrics.size_reduction < 0.5
    graph = read_graph((tmp_path / "out" / "model.tflite").read_bytes())
    assert "float16" in {t.dtype for t in graph.tensors if t.constant}
