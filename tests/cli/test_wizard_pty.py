"""Whole wizard sessions in a real pseudo-terminal (pexpect), compared with `advisor recommend --answers`."""

import json
import os
import sys

import pexpect
import pytest

from tests.conftest import ROOT, run_cli

DOWN, ENTER, CTRL_C, ESC = "\x1b[B", "\r", "\x03", "\x1b"


def spawn(*args, cwd=None):
    env = {**os.environ, "COLUMNS": "120", "LINES": "50", "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1"}
    child = pexpect.spawn(sys.executable, ["-m", "advisor", "wizard", *args], cwd=str(cwd or ROOT), env=env,
                          encoding="utf-8", timeout=30, dimensions=(50, 120))
    return child


def answer(child, prompt, keys):
    child.expect_exact(prompt)
    child.send(keys)


def recommended(path):
    result = run_cli("recommend", "--answers", str(path), "--json")
    return json.loads(result.stdout)


def finish(child):
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus


def test_gpu_without_data_enter_through_everything(tmp_path):
    saved = tmp_path / "gpu.yaml"
    child = spawn("--save", str(saved))
    answer(child, "What data can you provide?", ENTER)  # none
    answer(child, "Where will the model run?", DOWN + ENTER)  # gpu
    # no labels: the fidelity goals are offered; a GPU's latency cannot be measured here, so it is not asked
    for prompt in ("Fraction of the size", "Largest file size", "Largest accuracy drop", "Smallest SQNR",
                   "Largest share of inputs whose top-1 class may change", "Model file"):
        answer(child, prompt, ENTER)
    child.expect_exact("Use ")
    child.expect_exact("float16")
    assert finish(child) == 0
    rec = recommended(saved)
    assert rec["scheme"] == "float16" and saved.read_text().startswith("data: none")


def test_edgetpu_with_labelled_data_going_back_once(tmp_path):
    saved = tmp_path / "tpu.yaml"
    child = spawn("--save", str(saved))
    answer(child, "What data can you provide?", DOWN + ENTER)  # unlabelled
    answer(child, "Where will the model run?", DOWN * 10 + ENTER)  # "<- back", after the ten targets
    answer(child, "What data can you provide?", DOWN + ENTER)  # unlabelled -> labelled
    answer(child, "Where will the model run?", DOWN * 3 + ENTER)  # edgetpu
    answer(child, "May the model be fine-tuned", ENTER)  # yes
    answer(child, "Are its activations sensitive", ENTER)  # no
    answer(child, "Fraction of the size", ENTER)
    answer(child, "Largest file size", ENTER)
    answer(child, "Largest accuracy drop", "2" + ENTER)  # rejected, re-asked with the reason
    child.expect_exact("must be between 0 and 1")
    child.send("\x7f" + "0.01" + ENTER)
    answer(child, "How is accuracy measured", DOWN + ENTER)  # top1
    answer(child, "compressed download", ENTER)
    for prompt in ("Model file", "Representative sample", "Labelled training data", "Evaluation data"):
        answer(child, prompt, ENTER)
    child.expect_exact("qat")
    assert finish(child) == 0
    rec = recommended(saved)
    assert rec["scheme"] == "qat" and rec["fallbacks"] == ["full_integer"]
    assert "metric: top1" in saved.read_text()


def test_prefilled_answers_kept_with_enter_and_saved_when_offered(tmp_path):
    prefill = tmp_path / "pre.yaml"
    prefill.write_text("data: none\nhardware: cpu\ngoals: {min_size_reduction: 0.6}\n")
    child = spawn("--answers", str(prefill), cwd=tmp_path)
    for prompt in ("What data", "Where will the model run", "Are its activations sensitive", "Fraction of the size",
                   "Largest file size", "Largest accuracy drop", "Smallest SQNR", "Largest share of inputs",
                   "Largest latency", "Model file"):
        answer(child, prompt, ENTER)
    answer(child, "Save these answers?", ENTER)
    answer(child, "Save to", ENTER)  # the offered name
    assert finish(child) == 0
    saved = tmp_path / "answers.yaml"
    assert recommended(saved) == recommended(prefill)
    assert recommended(saved)["scheme"] == "dynamic_range"


@pytest.mark.parametrize("key", [CTRL_C, ESC])
def test_interrupting_exits_130_and_writes_nothing(tmp_path, key):
    saved = tmp_path / "never.yaml"
    child = spawn("--save", str(saved), cwd=tmp_path)
    answer(child, "What data can you provide?", ENTER)
    child.expect_exact("Where will the model run?")
    child.send(key)
    assert finish(child) == 130
    assert list(tmp_path.iterdir()) == []


def test_an_ethos_u_target_is_offered_with_its_latency_and_ram_questions(tmp_path):
    saved = tmp_path / "npu.yaml"
    child = spawn("--save", str(saved))
    answer(child, "What data can you provide?", DOWN + ENTER)  # unlabelled
    answer(child, "Where will the model run?", DOWN * 6 + ENTER)  # ethos-u55-128
    answer(child, "Are its activations sensitive", ENTER)
    for prompt in ("Fraction of the size", "Largest file size", "Largest accuracy drop", "Smallest SQNR", "Largest share of inputs"):
        answer(child, prompt, ENTER)
    answer(child, "Largest latency", "2" + ENTER)  # estimated by Vela there
    answer(child, "Largest working memory", "64" + ENTER)
    for prompt in ("Model file", "Representative sample", "Evaluation data"):
        answer(child, prompt, ENTER)
    child.expect_exact("full_integer")
    assert finish(child) == 0
    text = saved.read_text()
    assert "hardware: ethos-u55-128" in text and "max_latency_ms: 2.0" in text and "max_ram_kb: 64.0" in text
