"""The wizard's question flow with a replaced prompt helper: order, skips, back, validation, saving."""

import pytest
import yaml

import advisor
from advisor.cli.wizard import BACK, Prompter, converse, questions, save_answers, validate_value, wizard
from advisor.engine.rules import load_rules
from advisor.models.answers import read_answers_file
from advisor.pipeline.recommend import parse_answers

RULES = load_rules()


class Scripted(Prompter):
    """Answers by question key; records what was asked and with which default."""

    def __init__(self, script):
        self.script = {k: list(v) if isinstance(v, list) else [v] for k, v in script.items()}
        self.asked = []

    def ask(self, question, default, can_go_back):
        self.asked.append((question.key, default, can_go_back))
        queue = self.script.get(question.key)
        if not queue:
            return default
        return queue.pop(0) if len(queue) > 1 else queue[0]


def keys(prompter):
    return [key for key, _, _ in prompter.asked]


def test_questions_come_in_the_order_the_tree_needs():
    assert [q.key for q in questions(RULES)][:4] == ["data", "hardware", "can_fine_tune", "activation_sensitive"]


def test_no_fine_tuning_question_without_labelled_data():
    prompter = Scripted({"data": "unlabelled", "hardware": "cpu"})
    converse(RULES, prompter)
    assert "can_fine_tune" not in keys(prompter)
    assert "inputs.train" not in keys(prompter) and "inputs.representative" in keys(prompter)


def test_no_activation_question_for_a_target_that_cannot_run_16x8_when_it_changes_nothing():
    prompter = Scripted({"data": "unlabelled", "hardware": "edgetpu"})
    converse(RULES, prompter)
    assert "activation_sensitive" not in keys(prompter)
    prompter = Scripted({"data": "unlabelled", "hardware": "microcontroller"})
    converse(RULES, prompter)
    assert "activation_sensitive" in keys(prompter)


def test_compressed_download_is_asked_only_when_pruning_could_run():
    prompter = Scripted({"data": "none", "hardware": "cpu"})
    converse(RULES, prompter)
    assert "goals.compressed_download" not in keys(prompter)
    prompter = Scripted({"data": "labelled", "hardware": "cpu"})
    converse(RULES, prompter)
    assert "goals.compressed_download" in keys(prompter)


def test_back_returns_to_the_previous_question_and_changes_the_path():
    prompter = Scripted({"data": ["labelled", "none"], "hardware": [BACK, "gpu"]})
    answers = converse(RULES, prompter)
    assert keys(prompter)[:4] == ["data", "hardware", "data", "hardware"]
    assert answers.data == "none" and answers.hardware == "gpu"
    assert prompter.asked[0][2] is False and prompter.asked[1][2] is True  # no back on the first question


def test_empty_goals_mean_no_goal_and_give_the_engines_answer():
    answers = converse(RULES, Scripted({"data": "none", "hardware": "gpu"}))
    assert answers.goals.model_dump(exclude_defaults=True) == {}
    assert advisor.recommend(answers).scheme == "float16"


def test_prefilled_answers_are_the_defaults():
    prefill = parse_answers({"data": "labelled", "hardware": "edgetpu", "goals": {"max_accuracy_drop": 0.01}})
    prompter = Scripted({})
    answers = converse(RULES, prompter, prefill)
    defaults = {key: default for key, default, _ in prompter.asked}
    assert defaults["data"] == "labelled" and defaults["hardware"] == "edgetpu"
    assert defaults["goals.max_accuracy_drop"] == 0.01
    assert answers == prefill


@pytest.mark.parametrize(
    "key, raw, reason",
    [
        ("goals.max_accuracy_drop", "2", "must be between 0 and 1"),
        ("goals.max_size_mb", "-1", "must be greater than 0"),
        ("goals.min_size_reduction", "lots", "is not a number"),
    ],
)
def test_typed_values_are_validated_by_the_answers_model(key, raw, reason):
    question = next(q for q in questions(RULES) if q.key == key)
    value, problem = validate_value(question, raw)
    assert value is None and reason in problem


def test_a_valid_number_and_an_empty_answer():
    question = next(q for q in questions(RULES) if q.key == "goals.max_accuracy_drop")
    assert validate_value(question, "0.02") == (0.02, None)
    assert validate_value(question, "  ") == (None, None)


def test_saved_answers_round_trip_to_the_same_recommendation(tmp_path, monkeypatch):
    from tests.fake_models import dense_h5

    model = tmp_path / "models" / "net.h5"
    model.parent.mkdir()
    dense_h5(model)
    monkeypatch.chdir(tmp_path)
    prompter = Scripted({"data": "unlabelled", "hardware": "cpu", "goals.max_size_mb": 1.5, "inputs.model": "models/net.h5"})
    answers = converse(RULES, prompter)
    shown = advisor.recommend(answers)
    saved = save_answers(answers, tmp_path / "elsewhere" / "a.yaml")
    assert yaml.safe_load(saved.read_text())["inputs"]["model"] == "../models/net.h5"
    assert advisor.recommend(read_answers_file(saved, rules=RULES)) == shown


def test_the_session_saves_where_asked_and_offers_no_run_without_a_model(tmp_path):
    from rich.console import Console

    prompter = Scripted({"data": "none", "hardware": "gpu", "save": True, "save_path": str(tmp_path / "mine.yaml")})
    code, saved = wizard(RULES, prompter, prefill=None, save=None, console=Console(file=open("/dev/null", "w")))
    assert code == 0 and saved == tmp_path / "mine.yaml" and saved.exists()
    assert "run_now" not in keys(prompter)


def test_a_named_model_brings_the_offer_to_run_it_now(tmp_path):
    from rich.console import Console

    prompter = Scripted({"data": "none", "hardware": "gpu", "inputs.model": "builtin:digits", "run_now": False})
    code, saved = wizard(RULES, prompter, prefill=None, save=str(tmp_path / "a.yaml"), console=Console(file=open("/dev/null", "w")))
    assert code == 0 and "run_now" in keys(prompter) and "save" not in keys(prompter)
    assert read_answers_file(saved, rules=RULES).inputs.model == "builtin:digits"


def test_without_labels_the_fidelity_goals_are_asked_and_with_labels_the_metric():
    unlabelled = Scripted({"data": "unlabelled", "hardware": "cpu", "goals.min_sqnr_db": 30.0,
                           "goals.max_prediction_change": 0.02})
    answers = converse(RULES, unlabelled)
    assert {"goals.min_sqnr_db", "goals.max_prediction_change"} <= set(keys(unlabelled))
    assert "task.metric" not in keys(unlabelled)
    assert answers.goals.min_sqnr_db == 30.0 and answers.goals.max_prediction_change == 0.02
    labelled = Scripted({"data": "labelled", "hardware": "cpu", "task.metric": "mae"})
    answers = converse(RULES, labelled)
    assert "goals.min_sqnr_db" not in keys(labelled) and "task.metric" in keys(labelled)
    assert answers.task.metric == "mae"
    automatic = converse(RULES, Scripted({"data": "labelled", "hardware": "cpu"}))
    assert automatic.task.metric is None


def test_only_measurable_goals_are_asked_latency_on_the_host_and_ram_on_a_microcontroller():
    for hardware, latency, ram in (("cpu", True, False), ("gpu", False, False), ("edgetpu", False, False),
                                   ("microcontroller", False, True)):
        prompter = Scripted({"data": "unlabelled", "hardware": hardware})
        converse(RULES, prompter)
        assert ("goals.max_latency_ms" in keys(prompter)) is latency, hardware
        assert ("goals.max_ram_kb" in keys(prompter)) is ram, hardware
