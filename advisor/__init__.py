"""advisor: recommend, carry out and verify a quantization scheme for a TensorFlow model on an edge device.

    import advisor
    rec = advisor.recommend({"data": "none", "hardware": "gpu"})
    rec.scheme, rec.fallbacks, rec.rationale
    report = advisor.run(answers, model=keras_model, representative=x, eval=(x_eval, y_eval), out="out")

Importing this package, and recommending, never imports TensorFlow; running a scheme does (in a
worker process).
"""

from typing import TYPE_CHECKING

from advisor._version import __version__
from advisor.errors import AdvisorError, BadInput

if TYPE_CHECKING:
    from advisor.models.answers import Answers, Goals, Inputs
    from advisor.models.recommendation import Recommendation
    from advisor.pipeline.recommend import parse_answers, recommend

_LAZY = {"Answers": "advisor.models.answers", "Goals": "advisor.models.answers", "Inputs": "advisor.models.answers",
         "Recommendation": "advisor.models.recommendation", "parse_answers": "advisor.pipeline.recommend",
         "recommend": "advisor.pipeline.recommend"}

__all__ = ["recommend", "run", "compare", "check", "fleet", "verify", "parse_answers", "Answers", "Goals", "Inputs", "Recommendation",
           "AdvisorError", "BadInput", "__version__"]


def __getattr__(name: str):
    """The schemas and recommend() load on first use, so the command line can prepare first (cli.main)."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'advisor' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def run(answers, **kwargs):
    """`advisor run` from Python (advisor.pipeline.run.run): paths through the answers, or objects."""
    from advisor.pipeline.run import run as _run

    return _run(answers, **kwargs)


def compare(answers, *, workers: int | None = None, engine: str = "local", address: str | None = None, **kwargs):
    """`advisor compare` from Python (advisor.pipeline.compare.compare): `workers` attempts at once, on this
    machine (engine="local") or as Ray tasks (engine="ray", `address` the cluster)."""
    from advisor.pipeline.compare import compare as _compare
    from advisor.pipeline.recommend import parse_answers

    if not hasattr(answers, "hardware"):
        answers = parse_answers(answers)
    return _compare(answers, workers=workers, engine=engine, address=address, **kwargs)


def fleet(fleet_file, **kwargs):
    """`advisor fleet` from Python (advisor.pipeline.fleet.fleet): a fleet file's path, or its content as a
    dict; `out`, `workers`, `engine` ("local" or "ray"), `address`, `force`, `verify`. Returns the FleetResult."""
    from advisor.pipeline.fleet import fleet as _fleet

    return _fleet(fleet_file, **kwargs)


def verify(folder, **kwargs):
    """`advisor verify` from Python (advisor.pipeline.verify.verify): a run folder re-measured."""
    from advisor.pipeline.verify import verify as _verify

    return _verify(folder, **kwargs)


def check(model, hardware: str, rules=None):
    """`advisor check` from Python: a .tflite (path or bytes) against a target's requirements."""
    from advisor.engine.rules import load_rules
    from advisor.validator.hardware import check_model

    return check_model(model, hardware, rules if rules is not None and not isinstance(rules, str) else load_rules(rules))
