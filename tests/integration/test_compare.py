"""`advisor compare` on a tiny model: every allowed scheme once, the files agree, the picture is an image."""

import json
import re

import pytest

from advisor.pipeline.compare import compare
from advisor.engine.rules import load_rules
from advisor.pipeline.recommend import parse_answers
from advisor.models.options import RunOptions

RULES = load_rules()


@pytest.fixture(scope="module")
def compared(dense_keras, tmp_path_factory):
    out = tmp_path_factory.mktemp("cmp") / "out"
    answers = parse_answers({
        "data": "unlabelled", "hardware": "cpu", "goals": {"min_size_reduction": 0.6},
        "inputs": {"model": str(dense_keras), "representative": "builtin:digits", "eval": "builtin:digits"},
    })
    return compare(answers, rules=RULES, out=out, options=RunOptions(latency_runs=5)), out


def test_every_allowed_scheme_appears_once_per_backend(compared):
    comparison, _ = compared
    both = ["float16", "dynamic_range", "full_integer", "selective_integer", "int16x8"]
    assert sorted(r.label for r in comparison.rows) == sorted(
        [f"{s}@{b}" for s in both for b in ("converter", "quantizer")] + ["weight_only_int4"])
    assert all(r.backend == (r.variant or "quantizer") for r in comparison.rows)


def test_the_pick_and_the_front_are_marked_and_float16_misses_the_size_goal(compared):
    comparison, _ = compared
    assert comparison.rows[comparison.pick].scheme == comparison.recommendation.scheme == "dynamic_range"
    float16 = next(r for r in comparison.rows if r.scheme == "float16")
    assert not float16.passed and comparison.any_passed
    assert comparison.front and all(comparison.rows[i].metrics for i in comparison.front)


def test_compare_json_matches_the_markdown_table(compared):
    comparison, out = compared
    saved = json.loads((out / "compare.json").read_text())
    table = [line for line in (out / "compare.md").read_text().splitlines() if re.match(r"\| \d+ \|", line)]
    assert len(table) == len(saved["rows"])
    for line, row in zip(table, saved["rows"]):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[1] == (f"{row['scheme']} ({row['variant']})" if row["variant"] else row["scheme"])
        assert cells[3] == f"{row['metrics']['size_bytes'] / 1e6:.3f} MB"
    assert saved["front"] == comparison.front and saved["pick"] == comparison.pick


def test_the_plot_is_a_valid_png(compared):
    import matplotlib.image

    _, out = compared
    data = (out / "compare.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(out / "compare.png")
    assert image.shape[0] > 400 and image.shape[1] > 800


def test_cli_compare_exits_4_when_no_scheme_meets_every_goal(tmp_path, write_yaml, cli):
    import os

    answers = write_yaml("data: unlabelled\nhardware: gpu\ngoals: {min_size_reduction: 0.49, max_size_mb: 0.05}\n"
                         "inputs: {model: builtin:digits, representative: builtin:digits, eval: builtin:digits}\n")
    result = cli("compare", "--answers", str(answers), "--out", str(tmp_path / "c"),
                 env={"ADVISOR_CACHE_DIR": os.environ["ADVISOR_CACHE_DIR"], "COLUMNS": "160"})
    assert result.returncode == 4, result.stderr[-2000:]
    assert {p.name for p in (tmp_path / "c").iterdir()} >= {"compare.json", "compare.md", "compare.png", "attempts"}
