"""The shipped tree over the whole answer space: total, deterministic, and never breaking the rules."""

import pytest

from advisor.engine.evaluate import recommend
from advisor.engine.rules import load_rules
from advisor.engine.soundness import answer_space

RULES = load_rules()
# the whole space (184,800 answers) is swept once, by `advisor rules check` in the slow tier
# (tests/cli/test_recommend_cli.py); these tests read a coarse space built in a fixture, never at import


@pytest.fixture(scope="module")
def space():
    return list(answer_space(RULES, coarse=True))


def test_the_space_covers_every_enumerated_answer(space):
    seen = {(a.data, a.hardware, a.can_fine_tune, a.activation_sensitive, a.goals.compressed_download) for a in space}
    assert len(seen) == 3 * 10 * 2 * 2 * 2  # data levels, targets, fine-tune, sensitive, compressed
    assert len(space) > 10_000


@pytest.fixture(scope="module")
def recommendations(space):
    return [(a, recommend(a, RULES)) for a in space]


def test_never_a_scheme_whose_data_or_fine_tuning_is_missing(recommendations):
    for answers, rec in recommendations:
        for sid in rec.ladder:
            scheme = RULES.schemes[sid]
            assert RULES.data_rank[answers.data] >= RULES.data_rank[scheme.data], (answers, sid)
            assert answers.can_fine_tune or not scheme.fine_tune, (answers, sid)
        if rec.pre_steps:
            assert answers.data == "labelled" and answers.can_fine_tune and answers.goals.compressed_download


def test_never_a_scheme_the_hardware_cannot_run(recommendations):
    for answers, rec in recommendations:
        for sid in rec.ladder:
            assert sid in RULES.targets[answers.hardware].runs, (answers, sid)
        if answers.hardware in ("edgetpu", "hexagon-dsp"):
            assert set(rec.ladder) <= {"full_integer", "qat"}
        if RULES.targets[answers.hardware].integer_only:
            assert "selective_integer" not in rec.ladder


def test_size_goals_are_within_what_each_scheme_can_remove(recommendations):
    caps = {"float16": 0.5, "dynamic_range": 0.75, "full_integer": 0.75, "selective_integer": 0.75, "int16x8": 0.75, "qat": 0.75,
            "weight_only_int4": 0.875}
    compressed = {s: RULES.pre_step_catalog[s].compressed_reduction for s in RULES.pre_step_catalog}
    for answers, rec in recommendations:
        need = answers.goals.min_size_reduction
        if need is None:
            continue
        for sid in rec.ladder:
            cap = caps[sid]
            if answers.goals.compressed_download:
                for step in rec.pre_steps:
                    cap = 1 - (1 - cap) * (1 - compressed[step])
            assert cap + 1e-9 >= need, (answers, sid)


def test_infeasible_answers_always_say_what_would_help(recommendations):
    infeasible = [(a, r) for a, r in recommendations if not r.feasible]
    assert infeasible, "the space includes impossible goals"
    for answers, rec in infeasible:
        assert rec.scheme is None and rec.fallbacks == [] and rec.needs


def test_int16x8_always_comes_with_its_speed_warning(recommendations):
    for answers, rec in recommendations:
        if "int16x8" in rec.ladder:
            assert any("reference kernels" in w for w in rec.warnings)


def test_every_scheme_not_chosen_has_a_reason(recommendations):
    for answers, rec in recommendations[::97]:
        named = {alt.scheme for alt in rec.alternatives} | ({rec.scheme} if rec.scheme else set())
        assert named == set(RULES.schemes)
        assert all(alt.reason for alt in rec.alternatives)


def test_a_tflite_model_never_gets_a_scheme_or_pre_step_that_needs_a_keras_graph():
    from advisor.engine.size_model import ModelFacts

    tflite = ModelFacts(format="tflite")
    checked = 0
    for answers in list(answer_space(RULES, coarse=True))[::7]:
        rec = recommend(answers, RULES, tflite)
        for name in (*rec.ladder, *rec.pre_steps):
            assert RULES.takes_format(name, "tflite"), (answers, name)
        assert all(backend == "quantizer" for backend in rec.backends.values())
        if not rec.feasible and answers.data == "labelled":
            checked += 1
    assert RULES.backends_for("qat", "tflite") == [] and checked
