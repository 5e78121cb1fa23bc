"""When a cell counts as measured: one rule for the report and the gate. The run plan stores it with
every task's chance level; the report (--min-reference) and the gate's policy set its thresholds."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_FLOOR = 0.10
"""Reference accuracy (0..1) at or below which a cell cannot show a drop."""
DEFAULT_MIN_PARSED = 0.5
"""Share of the reference's answers that must parse for a cell to be measured."""


class MeasureRule(BaseModel):
    """A cell whose reference scores at most `floor` (or its task's chance level, when higher), or
    whose reference answers parse less often than `min_parsed`, is 'not measured' — never 'no drop'."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    floor: float = Field(default=DEFAULT_FLOOR, ge=0.0, le=1.0)
    """Minimum reference accuracy (0..1); the task's chance level applies when higher."""
    min_parsed: float = Field(default=DEFAULT_MIN_PARSED, ge=0.0, le=1.0)
    """Minimum share of the reference's answers that parse."""
    chance: dict[str, float] = Field(default_factory=dict)
    """Chance level per task label (the task's own declaration)."""

    def chance_of(self, task: str) -> float:
        return self.chance.get(task, 0.0)

    def with_thresholds(self, floor: float | None = None, min_parsed: float | None = None) -> MeasureRule:
        """The same rule with the thresholds a reader chose (None keeps the rule's own)."""
        update = {k: v for k, v in (("floor", floor), ("min_parsed", min_parsed)) if v is not None}
        return self.model_copy(update=update) if update else self
