"""Context lengths: parsing ("4k" = 4096) and the one rule that refuses lengths past the model's
positions. `qlongbench run` and the lm-eval plugin both call check_lengths."""

from __future__ import annotations

import re
from collections.abc import Sequence

from qlongbench.errors import InvalidValue, UserError
from qlongbench.spec.rope import RopeScaling

_LENGTH = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kK]?)\s*$")
MIN_LENGTH = 16
"""Shorter contexts cannot hold an instruction and a question."""
MAX_LENGTH = 1 << 21
"""2M tokens: past every model's positions today; larger numbers are typos that would build
gigabytes of samples before anything runs."""


def parse_length(text: str | int) -> int:
    """'4k' -> 4096 (RULER counts k as 1024), '3000' -> 3000."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        m = _LENGTH.match(str(text))
        if not m:
            raise InvalidValue(f"bad length {text!r}: use integers or a k suffix (4k = 4096)")
        number, k = float(m.group(1)), m.group(2)
        scaled = number * (1024 if k else 1)
        if scaled != int(scaled):
            raise InvalidValue(f"bad length {text!r}: it must come to a whole number of tokens")
        value = int(scaled)
    if value < MIN_LENGTH:
        raise InvalidValue(f"bad length {text!r}: a context length must be at least {MIN_LENGTH} tokens")
    if value > MAX_LENGTH:
        raise InvalidValue(f"bad length {text!r}: {value:,} tokens is past the limit of {MAX_LENGTH:,} (2M); "
                        "use k-suffixed lengths such as 128k")
    return value


def parse_lengths(text: str) -> list[int]:
    return [parse_length(part) for part in text.split(",") if part.strip()]


def check_lengths(lengths: Sequence[int], max_positions: int | None, *, allow_extrapolation: bool,
                  how_to_allow: str = "pass --allow-extrapolation", rope: RopeScaling | None = None) -> None:
    """Refuse lengths past the model's max_position_embeddings: a result there measures RoPE
    extrapolation, not quantization. With RoPE scaling asked for, the limit is the scaled window.
    `how_to_allow` names the switch of the caller's interface."""
    if allow_extrapolation:
        return
    limit = rope.window(max_positions) if rope is not None else max_positions
    if not limit:
        return
    over = [n for n in lengths if n > limit]
    if not over:
        return
    if rope is not None:
        raise UserError(f"length {max(over)} exceeds the {limit}-token window of RoPE scaling {rope} on a model of "
                        f"{max_positions} positions; use a larger factor or shorter lengths")
    raise UserError(f"length {max(over)} exceeds the model's max_position_embeddings ({max_positions}); results "
                    "past it measure RoPE extrapolation, not quantization — use shorter lengths, ask for RoPE "
                    f"scaling (--rope-scaling yarn:{-(-max(over) // max_positions)}: a different model, labelled as "
                    f"one), or {how_to_allow}")
