"""Golden answers -> recommendation pairs (cases.yaml), from the guide's table and workflow."""

from pathlib import Path

import pytest
import yaml

import advisor

CASES = yaml.safe_load((Path(__file__).parent / "cases.yaml").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_golden_case(case):
    rec = advisor.recommend(case["answers"])
    assert rec.feasible == case.get("feasible", True)
    if not rec.feasible:
        assert rec.scheme is None and rec.fallbacks == []
        assert any(case["needs_contain"] in need for need in rec.needs), rec.needs
        return
    assert rec.scheme == case["scheme"]
    if "fallbacks" in case:
        assert rec.fallbacks == case["fallbacks"]
    assert rec.pre_steps == case.get("pre_steps", [])
    if "rule" in case:
        assert case["rule"] in [r.rule for r in rec.rationale]
    if "warnings_contain" in case:
        assert any(case["warnings_contain"] in w for w in rec.warnings), rec.warnings
