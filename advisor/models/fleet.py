"""The fleet file (`advisor fleet FLEET.yaml`) and what a fleet run returns (fleet.json)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FleetModel(_Strict):
    name: str = Field(pattern=NAME, description="Names the pair folders: OUT/<name>/<target>/.")
    model: str = Field(description="The model file or SavedModel folder (relative paths: from the fleet file's folder).")
    representative: str | None = None
    train: str | None = None
    eval: str | None = None
    custom_objects: str | None = Field(None, description="python:module with the model's custom layers.")
    data: str | None = Field(None, description="This model's data level (default: the fleet's).")
    task: dict[str, Any] | None = Field(None, description="As the answers file's task (metric, outputs' kinds).")


class FleetFile(_Strict):
    models: list[FleetModel] = Field(min_length=1)
    targets: list[str] = Field(min_length=1, description="The rule set's targets every model is run for.")
    data: str | None = Field(None, description="none | unlabelled | labelled, for every model that does not say.")
    can_fine_tune: bool | None = None
    activation_sensitive: bool | None = None
    goals: dict[str, Any] = Field(default_factory=dict, description="Goals shared by every pair.")
    target_goals: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Per target, merged over `goals`.")
    budget: dict[str, Any] = Field(default_factory=dict, description="Per pair, as the answers file's budget.")
    strict: bool = False


class FleetPair(_Strict):
    model: str
    target: str
    out: str = Field(description="The pair's folder, relative to the fleet's output folder.")
    exit_code: int = Field(description="The pair's `advisor run` exit code (0 passed, 4 goals not met, 2 bad input, 3 infeasible).")
    chosen: int | None = None
    scheme: str | None = Field(None, description="The chosen attempt's scheme, with its pre-steps (e.g. equalize+full_integer).")
    size_bytes: int | None = None
    fidelity: float | None = Field(None, description="The chosen attempt's worst output SQNR against float32, dB.")
    prediction_change: float | None = None
    failed_goals: list[str] = Field(default_factory=list, description="Goals the best attempt missed, or 'hardware'.")
    error: str | None = Field(None, description="Why the pair could not run.")
    reused: bool = Field(False, description="Inputs, answers and tools unchanged: the earlier result was kept.")
    key: str | None = Field(None, description="The content hash the pair was run under.")
    seconds: float | None = None
    verified: bool | None = Field(None, description="fleet --verify: every goal still holds.")


class FleetResult(_Strict):
    pairs: list[FleetPair] = Field(default_factory=list)
    environment: dict[str, Any] = Field(default_factory=dict)
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        return 0 if self.pairs and all(p.exit_code == 0 and p.verified is not False for p in self.pairs) else 4
