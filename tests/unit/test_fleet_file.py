"""A bad fleet file is one line naming the entry (exit 2), before anything runs; no TensorFlow."""

import pytest
import yaml

from advisor.cli.main import main
from advisor.engine.rules import load_rules
from advisor.errors import BadInput
from advisor.pipeline.fleet import read_fleet

RULES = load_rules()


def fleet_file(tmp_path, **change):
    (tmp_path / "m.keras").write_bytes(b"not read here")
    content = {"models": [{"name": "kws", "model": "m.keras", "representative": "builtin:digits"}],
               "data": "unlabelled", "targets": ["cpu", "edgetpu"], "goals": {"max_prediction_change": 0.02}}
    content.update(change)
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(content))
    return path


def test_a_good_fleet_file_gives_one_pair_per_model_and_target(tmp_path):
    _, jobs = read_fleet(fleet_file(tmp_path, target_goals={"edgetpu": {"max_prediction_change": 0.05}}), RULES)
    assert [(j.model, j.target) for j in jobs] == [("kws", "cpu"), ("kws", "edgetpu")]
    assert jobs[0].answers.goals.max_prediction_change == 0.02 and jobs[1].answers.goals.max_prediction_change == 0.05
    assert jobs[0].answers.inputs.model == str(tmp_path / "m.keras")  # relative to the fleet file's folder


@pytest.mark.parametrize("change, message", [
    ({"targets": ["cpu", "edgetpuu"]}, "targets[1]: unknown target 'edgetpuu' (did you mean edgetpu?)"),
    ({"models": [{"name": "kws", "model": "missing.keras"}]}, "models[0] (kws): model: "),
    ({"models": [{"name": "a", "model": "m.keras"}, {"name": "a", "model": "m.keras"}]}, "the name 'a' is used twice"),
    ({"target_goals": {"gpu": {"max_size_mb": 1}}}, "target_goals.gpu: not one of the fleet's targets"),
    ({"goals": {"max_prediction_chnage": 0.1}}, "models[0] (kws) for cpu: goals.max_prediction_chnage"),
    ({"models": [{"name": "kws", "model": "m.keras", "weights": "x"}]}, "models.0.weights"),
    ({"data": None}, "models[0] (kws): data: missing"),
])
def test_a_bad_fleet_file_names_the_entry(tmp_path, change, message):
    with pytest.raises(BadInput) as err:
        read_fleet(fleet_file(tmp_path, **change), RULES)
    assert message in str(err.value)


def test_the_cli_says_it_in_one_line_with_exit_2_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["fleet", str(fleet_file(tmp_path, targets=["tpu"])), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "targets[0]: unknown target 'tpu'" in err and not out.exists()
