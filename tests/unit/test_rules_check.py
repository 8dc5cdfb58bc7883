"""Broken rule sets are caught, with the file and node named; a new target is a rules change alone."""

import shutil
from pathlib import Path

import pytest
import yaml

import advisor
from advisor.engine.rules import load_rules
from advisor.resources import shipped_rules
from advisor.engine.soundness import check_rules, executor_problems
from advisor.errors import RulesError
from advisor.executor.produce import step_of


def checked(rules, **options):
    """The soundness sweep over a coarse space (the full one runs in the slow tier and in `rules check`)."""
    return check_rules(rules, coarse=True, **{"replay": None, **options})


@pytest.fixture
def rules_copy(tmp_path):
    folder = tmp_path / "rules"
    shutil.copytree(shipped_rules(), folder, ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))

    def edit(name: str, change) -> Path:
        path = folder / name
        data = yaml.safe_load(path.read_text())
        change(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return folder

    return folder, edit


def test_unknown_scheme_in_a_leaf_names_file_and_node(rules_copy):
    folder, edit = rules_copy
    edit("tree.yaml", lambda t: t["ladder"][-1]["ladder"].append("fp8"))
    with pytest.raises(RulesError) as err:
        load_rules(folder)
    assert "tree.yaml" in str(err.value) and "post-training-first" in str(err.value) and "unknown scheme 'fp8'" in str(err.value)


def test_unknown_fact_is_caught_with_a_suggestion(rules_copy):
    folder, edit = rules_copy
    edit("tree.yaml", lambda t: t["ladder"][0].update(when={"target.integer_ony": True}))
    with pytest.raises(RulesError, match=r"unknown fact 'target.integer_ony' \(did you mean target.integer_only\?\)"):
        load_rules(folder)


def test_unknown_key_in_the_catalog_is_caught(rules_copy):
    folder, edit = rules_copy
    edit("schemes.yaml", lambda s: s["schemes"]["float16"].update(max_size_reductoin=0.5))
    with pytest.raises(RulesError, match=r"schemes.yaml: schemes.float16.max_size_reductoin: unknown key"):
        load_rules(folder)


def test_hardware_running_an_unknown_scheme_is_caught(rules_copy):
    folder, edit = rules_copy
    edit("hardware.yaml", lambda h: h["targets"]["gpu"]["runs"].append("float8"))
    with pytest.raises(RulesError, match=r"hardware.yaml: targets.gpu.runs\[2\]: unknown scheme 'float8'"):
        load_rules(folder)


def test_a_tree_without_a_catch_all_is_not_total(rules_copy):
    folder, edit = rules_copy
    edit("tree.yaml", lambda t: t["ladder"][-1].update(when={"data": "none"}))
    problems, _ = checked(load_rules(folder), targets=["cpu"])
    assert any("no rule holds" in str(p) and "tree.yaml" in str(p) for p in problems)


def test_an_unreachable_rule_is_reported(rules_copy):
    folder, edit = rules_copy

    def shadow(tree):
        tree["ladder"].insert(0, {"id": "everything-float16", "because": "x", "ladder": ["float16"]})

    edit("tree.yaml", shadow)
    problems, _ = checked(load_rules(folder))
    unreachable = [str(p) for p in problems if "unreachable" in str(p)]
    assert any("integer-only-target" in p for p in unreachable)


def test_a_target_that_cannot_run_the_leaf_is_still_never_recommended_it(rules_copy):
    folder, edit = rules_copy
    edit("hardware.yaml", lambda h: h["targets"]["cpu"].update(runs=["float32", "float16"]))
    rules = load_rules(folder)
    assert checked(rules, targets=["cpu"])[0] == []
    rec = advisor.recommend({"data": "none", "hardware": "cpu"}, rules=folder)
    assert rec.scheme == "float16"


def test_cli_rules_check_exits_2_on_a_broken_set(rules_copy, cli):
    folder, edit = rules_copy
    edit("tree.yaml", lambda t: t["ladder"][0].update(when={"target.integer_ony": True}))
    result = cli("rules", "check", "--rules", str(folder))
    assert result.returncode == 2
    assert "unknown fact 'target.integer_ony'" in result.stderr and "Traceback" not in result.stderr


def test_a_new_target_is_a_rules_change_alone(rules_copy, write_yaml):
    folder, edit = rules_copy
    edit(
        "hardware.yaml",
        lambda h: h["targets"].update(
            {"npu-x": {"title": "an NPU", "integer_only": True, "fast_integer": True, "runs": ["full_integer"]}}
        ),
    )
    rules = load_rules(folder)
    assert checked(rules, targets=["npu-x", "cpu"])[0] == []
    rec = advisor.recommend({"data": "labelled", "hardware": "npu-x"}, rules=folder)
    assert rec.scheme == "full_integer" and rec.fallbacks == []
    with pytest.raises(advisor.BadInput, match="not a known target"):
        advisor.recommend({"data": "labelled", "hardware": "npu-x"})


def test_a_typo_in_an_executor_is_a_rules_error_naming_file_and_node(rules_copy):
    from advisor.pipeline.plan import plan

    folder, edit = rules_copy
    edit("schemes.yaml", lambda s: s["schemes"]["float16"].update(executor="advisor.executor.schemes:flaot16"))
    rules = load_rules(folder)
    problems = [str(p) for p in executor_problems(rules, step_of)]
    assert problems == [f"{folder / 'schemes.yaml'}: schemes.float16.executor: "
                        "'advisor.executor.schemes:flaot16': module advisor.executor.schemes has no flaot16"]
    # advisor run finds it before loading anything, as bad input (exit 2), not a traceback mid-run
    answers = advisor.pipeline.recommend.parse_answers({"data": "none", "hardware": "gpu"}, rules=rules)
    with pytest.raises(RulesError, match=r"schemes.yaml: schemes.float16.executor: .*has no flaot16"):
        plan(answers, rules)


def test_an_executor_outside_the_step_contract_is_reported(rules_copy):
    folder, edit = rules_copy
    edit("schemes.yaml", lambda s: s["pre_steps"]["pruning"].update(executor="json:dumps"))
    problems = [str(p) for p in executor_problems(load_rules(folder), step_of)]
    assert problems == [f"{folder / 'schemes.yaml'}: pre_steps.pruning.executor: "
                        "'json:dumps' does not take (context, model), the step contract"]


def test_the_determinism_proof_can_fail(rules_copy):
    """A replay that disagrees on one answer (as a hash-order bug in the engine would) is reported."""
    from advisor.engine import soundness

    rules = load_rules(rules_copy[0])

    def disagreeing(rules, targets, coarse):
        wait = soundness.fresh_process_digests(rules, targets, coarse)
        return lambda: ["0" * 16, *wait()[1:]]

    problems = [str(p) for p in checked(rules, targets=["gpu"], replay=disagreeing)[0]]
    assert len(problems) == 1 and "not deterministic: another process recommends otherwise" in problems[0]
