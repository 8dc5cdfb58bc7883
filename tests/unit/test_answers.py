"""The answers model: the contract's fields, strict keys, ranges, files, and one-line errors."""

import json

import pytest

import advisor
from advisor.errors import AnswersError
from advisor.models.answers import dump_answers_yaml, read_answers_file
from advisor.pipeline.recommend import parse_answers
from advisor.engine.rules import load_rules

RULES = load_rules()


def test_minimal_answers_take_the_contract_defaults():
    answers = parse_answers({"data": "none", "hardware": "gpu"})
    assert answers.can_fine_tune is True
    assert answers.activation_sensitive is False
    assert answers.goals.compressed_download is False
    assert answers.goals.max_accuracy_drop is None
    assert answers.inputs.model is None


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"hardware": "gpu"}, "answers: data: required"),
        ({"data": "some", "hardware": "gpu"}, "answers: data: 'some' is not a data level"),
        ({"data": "none", "hardware": "edge-tpu"}, "(did you mean edgetpu?)"),
        ({"data": "none", "hardware": "gpu", "goal": {}}, "answers: goal: unknown key (did you mean goals?)"),
        (
            {"data": "none", "hardware": "gpu", "goals": {"max_acuracy_drop": 0.1}},
            "goals.max_acuracy_drop: unknown key (did you mean max_accuracy_drop?)",
        ),
        ({"data": "none", "hardware": "gpu", "goals": {"max_accuracy_drop": 2}}, "goals.max_accuracy_drop: must be between 0 and 1"),
        ({"data": "none", "hardware": "gpu", "goals": {"min_size_reduction": 1}}, "goals.min_size_reduction: must be between 0 and 1 (exclusive)"),
        ({"data": "none", "hardware": "gpu", "goals": {"max_size_mb": -1}}, "goals.max_size_mb: must be greater than 0"),
        ({"data": "none", "hardware": "gpu", "goals": {"max_latency_ms": "fast"}}, "goals.max_latency_ms: must be a number"),
        ({"data": "none", "hardware": "gpu", "can_fine_tune": "yes"}, "can_fine_tune: must be true or false"),
        ({"data": "none", "hardware": "gpu", "inputs": {"modle": "x.keras"}}, "inputs.modle: unknown key (did you mean model?)"),
    ],
)
def test_bad_answers_give_one_line_naming_the_field(raw, message):
    with pytest.raises(AnswersError) as err:
        parse_answers(raw)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_answers_files_in_yaml_and_json_agree(tmp_path):
    raw = {"data": "unlabelled", "hardware": "edgetpu", "goals": {"max_accuracy_drop": 0.02}}
    (tmp_path / "a.json").write_text(json.dumps(raw))
    (tmp_path / "a.yml").write_text(dump_answers_yaml(parse_answers(raw)))
    assert read_answers_file(tmp_path / "a.json", rules=RULES) == read_answers_file(tmp_path / "a.yml", rules=RULES)


def test_relative_inputs_resolve_against_the_answers_file(tmp_path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "a.yaml"
    path.write_text("data: none\nhardware: cpu\ninputs: {model: net.keras, eval: builtin:digits}\n")
    answers = read_answers_file(path, rules=RULES)
    assert answers.inputs.model == str(tmp_path / "sub" / "net.keras")
    assert answers.inputs.eval == "builtin:digits"


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("a.txt", "data: none", "must be a .yaml, .yml or .json file"),
        ("a.yaml", "data: [none\n", "not valid YAML"),
        ("a.json", "{", "not valid JSON"),
        ("a.yaml", "- 1\n- 2\n", "must be a mapping"),
    ],
)
def test_unreadable_answers_files_name_the_file(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(AnswersError) as err:
        read_answers_file(path, rules=RULES)
    assert str(err.value).startswith(str(path))
    assert message in str(err.value)


def test_missing_answers_file():
    with pytest.raises(AnswersError, match="no such file"):
        read_answers_file("/nonexistent/answers.yaml", rules=RULES)


def test_recommend_accepts_dict_or_answers_alike():
    raw = {"data": "labelled", "hardware": "edgetpu"}
    assert advisor.recommend(raw) == advisor.recommend(advisor.Answers(**raw))


def test_max_size_mb_is_judged_against_the_model_file(tmp_path):
    from tests.fake_models import dense_h5

    model = dense_h5(tmp_path / "net.h5")  # 4 MB of float32 weights
    base = {"data": "unlabelled", "hardware": "cpu", "inputs": {"model": str(model)}}
    # 1.5 MB of a 4 MB model needs 62.5% off: float16 (50%) is out, dynamic range (75%) is in
    rec = advisor.recommend({**base, "goals": {"max_size_mb": 1.5}})
    assert rec.scheme == "dynamic_range" and "float16" not in rec.fallbacks
    # 0.5 MB needs 87.5%: only 4-bit weights reach it (on a CPU, beyond the guide); 0.4 MB nothing does
    assert advisor.recommend({**base, "goals": {"max_size_mb": 0.5}}).scheme == "weight_only_int4"
    assert not advisor.recommend({**base, "goals": {"max_size_mb": 0.4}}).feasible
    # without a model file the limit cannot be judged: said, not guessed
    rec = advisor.recommend({"data": "none", "hardware": "cpu", "goals": {"max_size_mb": 0.5}})
    assert rec.feasible and any("max_size_mb was not judged" in w for w in rec.warnings)


def test_a_missing_model_file_is_bad_input():
    with pytest.raises(AnswersError, match="inputs.model: no such file"):
        advisor.recommend({"data": "none", "hardware": "cpu", "inputs": {"model": "/nope/net.keras"}})
