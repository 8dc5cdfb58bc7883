"""What `advisor compare` writes: compare.json's model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from advisor.models.recommendation import Recommendation
from advisor.models.report import Attempt, Baseline


class Comparison(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recommendation: Recommendation
    baseline: Baseline | None
    rows: list[Attempt]
    front: list[int] = Field(description="Indexes of the rows on the Pareto front (smaller, more accurate, faster).")
    objectives: list[str] = Field(description="What the front was computed over.")
    pick: int | None = Field(description="The row the recommendation would try first.")
    findings: list[str] = Field(default_factory=list, description="What the comparison says about the rules.")
    stopped_by_budget: str | None = Field(None, description="Why the budget ended the comparison, when it did.")
    untried: list[str] = Field(default_factory=list, description="Combinations the budget left untried.")
    error: str | None = Field(None, description="Why nothing could be compared (the float32 baseline could not be made), when so.")
    notes: list[str] = Field(default_factory=list)

    @property
    def any_passed(self) -> bool:
        return any(row.passed for row in self.rows)
