"""What `advisor verify` found: each recorded goal then and now, and the hardware check then and now."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class GoalCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    goal: str
    limit: float | bool | None = None
    then: float | None = Field(None, description="What the run measured.")
    then_status: str | None = None
    now: float | None = Field(None, description="What verify measured.")
    now_status: str = Field(description="pass | fail | not_measured")


class Verification(BaseModel):
    model_config = ConfigDict(extra="forbid")

    folder: str
    scheme: str
    hardware: str
    holds: bool = Field(description="Every goal still holds and the model still runs on the target.")
    goals: list[GoalCheck] = Field(default_factory=list)
    compatible_then: bool | None = None
    compatible_now: bool | None = None
    problems: list[str] = Field(default_factory=list, description="What the hardware check finds now.")
    error: str | None = Field(None, description="Why the model could not be measured, or no longer counts as its scheme.")
    packages_then: dict[str, str | None] = Field(default_factory=dict, description="The tools the run used.")
    packages_now: dict[str, str | None] = Field(default_factory=dict, description="The tools verify used.")
