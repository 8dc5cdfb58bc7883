"""What the engine returns: the scheme to use, the ladder to fall back on, and why."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reason(_Frozen):
    rule: str = Field(description="The id of the rule (or engine check) that decided.")
    because: str = Field(description="Why, in the guide's terms.")


class PredictedSize(_Frozen):
    size_bytes: int | None = Field(None, description="The .tflite size predicted from the model's tensors; null without a model.")
    size_reduction: float | None = Field(None, description="The fraction of the float32 .tflite it is predicted to remove.")


class Expected(_Frozen):
    max_size_reduction: float = Field(description="Largest fraction of the float32 size the choice removes (the guide's figure).")
    size_bytes: int | None = Field(None, description="The .tflite size predicted from the model's tensors; null without a model.")
    size_reduction: float | None = Field(None, description="The fraction of the float32 .tflite it is predicted to remove.")
    accuracy: str = Field(description="The guide's accuracy class, e.g. 'small loss'.")
    accuracy_drop: float = Field(description="The drop the rules expect of that class (absolute).")
    hardware: list[str] = Field(description="Targets that can run the chosen scheme.")


class Alternative(_Frozen):
    scheme: str = Field(description="A scheme that was not chosen.")
    status: Literal["fallback", "ruled_out", "not_considered"] = Field(
        description="fallback: on the ladder after the choice; ruled_out: a requirement fails; "
        "not_considered: the deciding rule does not list it."
    )
    reason: str = Field(description="Why it was not chosen.")
    would_change: str | None = Field(None, description="The answer that would have allowed it, when one would.")
    expected: PredictedSize | None = Field(None, description="Its predicted size on this model, when the model is known.")


class RecoveryRung(_Frozen):
    scheme: str = Field(description="The scheme carried out after the recovery pre-steps.")
    pre_steps: list[str] = Field(description="The recovery pre-steps, in order.")
    follows: str = Field(description="The ladder's scheme this rung comes right after (reached only when that one fails).")
    because: str = Field(description="Why the rung is there, with the steps' expected effect and its source.")


class Recommendation(_Frozen):
    feasible: bool = Field(description="False when no scheme can meet the answers.")
    scheme: str | None = Field(description="The scheme to try first, or null when infeasible.")
    pre_steps: list[str] = Field(description="Pre-steps to run before quantizing, in order.")
    fallbacks: list[str] = Field(description="The ordered ladder `advisor run` climbs if the choice fails.")
    expected: Expected | None = Field(description="What the choice is expected to give.")
    rationale: list[Reason] = Field(description="The rules that decided, in the order they applied.")
    needs: list[str] = Field(description="When infeasible: what would make it feasible.")
    warnings: list[str] = Field(default_factory=list, description="Things to know before running it.")
    alternatives: list[Alternative] = Field(default_factory=list, description="Every scheme not chosen, and why.")
    backends: dict[str, str] = Field(default_factory=dict, description="Scheme -> the backend that carries it out (the rules' choice for the model's format).")
    recovery: list[RecoveryRung] = Field(default_factory=list, description="Rungs that recover accuracy, each tried right "
                                         "after the scheme it follows fails.")

    @property
    def ladder(self) -> list[str]:
        """The choice followed by its fallbacks."""
        return ([self.scheme] if self.scheme else []) + list(self.fallbacks)

    def rungs(self, pre_steps: list[str] | tuple[str, ...] | None = None) -> list[tuple[str, tuple[str, ...]]]:
        """(scheme, pre-steps) in the order `advisor run` tries them: the ladder (after `pre_steps`, by default
        the recommended ones), each recovery rung right after the scheme it follows."""
        steps = tuple(self.pre_steps if pre_steps is None else pre_steps)
        found = []
        for scheme in self.ladder:
            found.append((scheme, steps))
            found += [(r.scheme, (*steps, *r.pre_steps)) for r in self.recovery if r.follows == scheme]
        return found
