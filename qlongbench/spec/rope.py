"""RoPE scaling asked for by the user: the one way past a model's max_position_embeddings.

A model run with its rotary positions rescaled is **a different model** from the one published:
`--rope-scaling yarn:4` is recorded in the run's plan (run.json), hashed into the spec's identity
(a resume cannot change it), labelled in every report, and only engines that declare the type run
it (transformers: linear, dynamic, yarn; llama.cpp: linear, yarn). Without it, a length past the
model's positions is refused up front (spec.lengths.check_lengths)."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from qlongbench.errors import InvalidValue

RopeType = Literal["linear", "dynamic", "yarn"]


class RopeScaling(BaseModel):
    """`TYPE:FACTOR`, e.g. `yarn:4` (positions × 4); the original window is the model's own
    max_position_embeddings unless given (`yarn:4:8192`)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    type: RopeType
    """linear (positions divided by the factor), dynamic (NTK-aware, transformers only) or yarn."""
    factor: float = Field(gt=1.0)
    """How many times the original window the positions stretch to."""
    original_max_position_embeddings: int | None = Field(default=None, ge=1)
    """The window the model was trained for (default: its config's max_position_embeddings)."""

    @classmethod
    def parse(cls, text: str) -> RopeScaling:
        parts = [p.strip() for p in str(text).split(":")]
        if len(parts) not in (2, 3) or parts[0] not in ("linear", "dynamic", "yarn"):
            raise InvalidValue(f"rope_scaling {text!r}: write TYPE:FACTOR with TYPE linear, dynamic or yarn "
                               "(e.g. yarn:4), optionally :ORIGINAL_WINDOW")
        try:
            factor = float(parts[1])
            original = int(parts[2]) if len(parts) == 3 else None
        except ValueError:
            raise InvalidValue(f"rope_scaling {text!r}: the factor is a number above 1 and the window a whole "
                               "number of tokens (e.g. yarn:4 or yarn:4:8192)") from None
        if not math.isfinite(factor) or factor <= 1.0 or (original is not None and original < 1):
            raise InvalidValue(f"rope_scaling {text!r}: the factor must be above 1 and the window positive")
        return cls(type=parts[0], factor=factor, original_max_position_embeddings=original)  # type: ignore[arg-type]

    def window(self, max_positions: int | None) -> int | None:
        """Positions the scaled model reaches (None when the model's own window is unknown)."""
        original = self.original_max_position_embeddings or max_positions
        return int(original * self.factor) if original else None

    def with_window(self, max_positions: int | None) -> RopeScaling:
        """The same scaling with its original window filled in from the model's config."""
        if self.original_max_position_embeddings is not None or not max_positions:
            return self
        return self.model_copy(update={"original_max_position_embeddings": max_positions})

    def describe(self) -> str:
        """'yarn ×4 over 8,192 positions'."""
        window = (f" over {self.original_max_position_embeddings:,} positions"
                  if self.original_max_position_embeddings else "")
        return f"{self.type} ×{self.factor:g}{window}"

    def __str__(self) -> str:
        tail = f":{self.original_max_position_embeddings}" if self.original_max_position_embeddings else ""
        return f"{self.type}:{self.factor:g}{tail}"
