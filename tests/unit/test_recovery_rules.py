"""The recovery part of the tree: where its rungs go on the ladder, when they are left out, and the
errors a broken recovery node gives."""

import pytest

from advisor.engine.evaluate import recommend
from advisor.engine.rules import load_rules
from advisor.errors import RulesError
from advisor.pipeline.recommend import parse_answers
from tests.unit.test_rules_check import checked, rules_copy  # noqa: F401  (the fixture)

RULES = load_rules()
EQ_BC, ADA = ("equalize", "bias_correction"), ("adaround",)


def rungs(answers: dict) -> list[tuple]:
    return recommend(parse_answers(answers), RULES).rungs()


def test_an_integer_only_target_with_a_fidelity_goal_gets_the_recovery_rungs_cheapest_first():
    found = rungs({"data": "unlabelled", "hardware": "edgetpu", "goals": {"max_prediction_change": 0.01}})
    assert found == [("full_integer", ()), ("full_integer", EQ_BC), ("full_integer", ADA)]
    rec = recommend(parse_answers({"data": "unlabelled", "hardware": "edgetpu", "goals": {"min_sqnr_db": 30}}), RULES)
    rules = [r.rule for r in rec.rationale]
    assert "integer-only-recovery" in rules and "recovery:adaround+full_integer" in rules
    because = next(r.because for r in rec.rationale if r.rule == "recovery:adaround+full_integer")
    assert "Measured: +1.55 dB" in because and "benchmarks/results/recovery.md" in because  # the rule set's median of six cases
    assert all(r.follows == "full_integer" for r in rec.recovery)


def test_with_labels_quantization_aware_training_comes_after_the_recovery_rungs():
    found = rungs({"data": "labelled", "hardware": "ethos-u55-128", "goals": {"max_accuracy_drop": 0.03}})
    assert found.index(("full_integer", ADA)) < found.index(("qat", ()))


def test_no_recovery_without_an_accuracy_goal_or_on_a_target_with_float_ops():
    assert rungs({"data": "unlabelled", "hardware": "edgetpu"}) == [("full_integer", ())]
    assert all(not steps for _, steps in rungs({"data": "unlabelled", "hardware": "cpu", "goals": {"min_sqnr_db": 30}}))


def test_a_step_the_answers_do_not_allow_is_left_out_and_said_so(rules_copy):  # noqa: F811
    folder, edit = rules_copy
    edit("tree.yaml", lambda t: t["recovery"][0]["rungs"].append(
        {"scheme": "full_integer", "pre_steps": ["distill"], "after": ["qat"], "because": "fine-tunes against the float model"}))
    rules = load_rules(folder)
    answers = parse_answers({"data": "unlabelled", "hardware": "edgetpu", "can_fine_tune": False,
                             "goals": {"max_prediction_change": 0.01}})
    rec = recommend(answers, rules)
    assert [tuple(r.pre_steps) for r in rec.recovery] == [EQ_BC, ADA]
    assert any(r.rule == "recovery" and "distill" in r.because and "can_fine_tune" in r.because for r in rec.rationale)
    allowed = recommend(answers.model_copy(update={"can_fine_tune": True}), rules)
    assert [tuple(r.pre_steps) for r in allowed.recovery] == [EQ_BC, ADA, ("distill",)]


def test_a_tflite_model_gets_no_recovery_rung():
    from advisor.engine.size_model import ModelFacts

    rec = recommend(parse_answers({"data": "unlabelled", "hardware": "edgetpu", "goals": {"min_sqnr_db": 30}}), RULES,
                    ModelFacts(format="tflite"))
    assert rec.recovery == []


def test_a_compression_step_in_a_recovery_rung_names_file_and_node(rules_copy):  # noqa: F811
    folder, edit = rules_copy
    edit("tree.yaml", lambda t: t["recovery"][0]["rungs"][0]["pre_steps"].append("pruning"))
    with pytest.raises(RulesError, match=r"tree.yaml: recovery\[0\] \('integer-only-recovery'\)\.rungs\[0\]\.pre_steps\[2\]: "
                                          r"'pruning' is not a recovery pre-step"):
        load_rules(folder)


def test_a_recovery_part_without_a_catch_all_is_not_total(rules_copy):  # noqa: F811
    folder, edit = rules_copy
    edit("tree.yaml", lambda t: t["recovery"].pop())
    problems, _ = checked(load_rules(folder))
    assert any(p.node == "recovery" and "no rule holds" in p.message for p in problems)
