"""`advisor verify`: a run's model still meets its goals (exit 0); a worse model.tflite swapped in does
not (exit 4, with the figures then and now); a folder that is not a run is bad input (exit 2)."""

import json
import shutil

import pytest

pytestmark = pytest.mark.tf


@pytest.fixture(scope="module")
def run_folder(dense_keras, tmp_path_factory):
    from advisor.cli.main import main

    base = tmp_path_factory.mktemp("verify")
    answers = base / "answers.json"
    answers.write_text(json.dumps({"data": "unlabelled", "hardware": "cpu", "goals": {"min_size_reduction": 0.6},
                                   "inputs": {"model": str(dense_keras), "representative": "builtin:digits",
                                              "eval": "builtin:digits"}}))
    assert main(["run", "--answers", str(answers), "--out", str(base / "out")]) == 0
    return base / "out"


def test_an_unchanged_run_still_holds(run_folder, capsys):
    from advisor.cli.main import main

    before = sorted(p.name for p in run_folder.rglob("*"))
    assert main(["verify", str(run_folder), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["holds"] and found["goals"][0]["goal"] == "min_size_reduction"
    assert found["goals"][0]["now"] == pytest.approx(found["goals"][0]["then"], abs=1e-4)
    assert sorted(p.name for p in run_folder.rglob("*")) == before  # verify writes nothing into the folder


def test_a_worse_model_is_caught_with_the_figures_then_and_now(run_folder, tmp_path, capsys):
    from advisor.cli.main import main

    swapped = tmp_path / "swapped"
    shutil.copytree(run_folder, swapped)
    shutil.copy(swapped / "attempts" / "float32.tflite", swapped / "model.tflite")  # no smaller than float32
    assert main(["verify", str(swapped), "--json"]) == 4
    found = json.loads(capsys.readouterr().out)
    size = next(g for g in found["goals"] if g["goal"] == "min_size_reduction")
    assert size["then_status"] == "pass" and size["now_status"] == "fail" and size["then"] > 0.6 > size["now"]
    assert not found["holds"]


def test_a_folder_that_is_not_a_run_is_bad_input(tmp_path, capsys):
    from advisor.cli.main import main

    assert main(["verify", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "report.json: missing" in err and "Traceback" not in err
