"""`advisor recommend`, `schema` and `rules check` from the command line: outputs and exit codes."""

import json
import subprocess

import pytest
import sys

from tests.conftest import ROOT


def test_recommend_json_prints_the_contract_object(cli):
    result = cli("recommend", "--answers", "examples/edgetpu.yaml", "--json")
    assert result.returncode == 0, result.stderr
    rec = json.loads(result.stdout)
    for key in ("feasible", "scheme", "pre_steps", "fallbacks", "expected", "rationale", "needs"):
        assert key in rec
    assert rec["scheme"] == "full_integer"
    assert set(rec["expected"]) >= {"max_size_reduction", "accuracy", "hardware"}
    assert all(set(r) == {"rule", "because"} for r in rec["rationale"])


def test_recommend_panel_names_the_scheme_and_the_deciding_rule(cli):
    result = cli("recommend", "--answers", "examples/edgetpu.yaml", env={"COLUMNS": "120"})
    assert result.returncode == 0
    assert "full_integer" in result.stdout and "integer-only-target" in result.stdout


def test_infeasible_exits_3_and_still_prints_the_object(cli, write_yaml):
    path = write_yaml("data: none\nhardware: edgetpu\n")
    result = cli("recommend", "--answers", str(path), "--json")
    assert result.returncode == 3
    rec = json.loads(result.stdout)
    assert rec["feasible"] is False and rec["scheme"] is None
    assert any("representative sample" in need for need in rec["needs"])


def test_bad_answers_exit_2_with_one_line(cli, write_yaml):
    path = write_yaml("data: none\nhardware: gpu\ngoals:\n  max_accuracy_drop: 2\n")
    result = cli("recommend", "--answers", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines == [f"advisor: error: {path}: goals.max_accuracy_drop: must be between 0 and 1 (inclusive)"]


def test_mistyped_hardware_suggests_the_right_one(cli, write_yaml):
    path = write_yaml("data: none\nhardware: edge-tpu\n")
    result = cli("recommend", "--answers", str(path))
    assert result.returncode == 2 and "did you mean edgetpu?" in result.stderr
    assert "Traceback" not in result.stderr


def test_mistyped_command_suggests_the_right_one(cli):
    result = cli("recomend", "--answers", "x.yaml")
    assert result.returncode == 2
    assert "did you mean recommend?" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_missing_answers_option_is_usage_error(cli):
    result = cli("recommend")
    assert result.returncode == 2 and "--answers" in result.stderr


def test_schema_lists_the_rule_sets_targets(cli):
    result = cli("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["properties"]["hardware"]["enum"] == ["cpu", "gpu", "android-gpu", "edgetpu", "hexagon-dsp", "microcontroller",
                                                     "ethos-u55-128", "ethos-u55-256", "ethos-u65-256", "ethos-u85-256"]
    assert schema["properties"]["data"]["enum"] == ["none", "unlabelled", "labelled"]
    assert schema["additionalProperties"] is False
    assert "ethos-u85-256" in schema["properties"]["hardware"]["description"]  # the words list every target too
    ram = schema["$defs"]["Goals"]["properties"]["max_ram_kb"]["description"]
    assert "Vela's SRAM" in ram and "not measured elsewhere" not in ram


@pytest.mark.slow
def test_rules_check_passes_on_the_shipped_rules(cli):
    """The whole answer space, twice (here and in a fresh process): the suite's one full sweep."""
    result = cli("rules", "check")
    assert result.returncode == 0, result.stderr
    assert "sound" in result.stdout


def test_console_script_is_installed():
    script = ROOT / ".venv" / "bin" / "advisor"
    exe = str(script) if script.exists() else None
    if exe is None:  # installed elsewhere: the same entry point through python -m
        exe = sys.executable
    result = subprocess.run([exe, "--version"] if exe != sys.executable else [exe, "-m", "advisor", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("advisor ")


def test_run_without_a_model_is_bad_input(cli, write_yaml):
    path = write_yaml("data: none\nhardware: cpu\n")
    result = cli("run", "--answers", str(path), "--out", str(path.parent / "out"))
    assert result.returncode == 2 and "inputs.model" in result.stderr and "Traceback" not in result.stderr
    assert not (path.parent / "out").exists()


def test_run_with_a_mistyped_scheme_suggests_the_right_one(cli, write_yaml):
    path = write_yaml("data: none\nhardware: cpu\ninputs: {model: builtin:digits}\n")
    result = cli("run", "--answers", str(path), "--scheme", "float_16", "--out", str(path.parent / "out"))
    assert result.returncode == 2 and "did you mean float16?" in result.stderr


def test_run_on_infeasible_answers_exits_3_without_writing(cli, write_yaml):
    path = write_yaml("data: none\nhardware: edgetpu\ninputs: {model: builtin:digits}\n")
    result = cli("run", "--answers", str(path), "--out", str(path.parent / "out"), env={"COLUMNS": "120"})
    assert result.returncode == 3 and "representative sample" in result.stdout
    assert not (path.parent / "out").exists()


def test_run_refuses_an_existing_folder(cli, write_yaml):
    path = write_yaml("data: none\nhardware: cpu\ninputs: {model: builtin:digits}\n")
    out = path.parent / "out"
    out.mkdir()
    (out / "x").write_text("keep")
    result = cli("run", "--answers", str(path), "--out", str(out))
    assert result.returncode == 2 and "--force" in result.stderr and (out / "x").read_text() == "keep"


def test_run_rejects_bad_options(cli, write_yaml):
    path = write_yaml("data: none\nhardware: cpu\ninputs: {model: builtin:digits}\n")
    result = cli("run", "--answers", str(path), "--sparsity", "1.5", "--out", str(path.parent / "o"))
    assert result.returncode == 2 and "--sparsity: must be between 0 and 1" in result.stderr


def test_wizard_without_a_terminal_points_to_answers_files():
    result = subprocess.run([sys.executable, "-m", "advisor", "wizard"], stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2
    assert "not one" in result.stderr and "--answers" in result.stderr and "Traceback" not in result.stderr
