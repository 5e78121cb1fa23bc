"""Formatting shared by every writer: percentages, numbers, Markdown escaping (one place each)."""

from __future__ import annotations

import re

from qlongbench.memory import format_bytes


def pct(x: float | None, digits: int = 1) -> str:
    """0.875 -> '87.5'; None -> '–'."""
    return "–" if x is None else f"{100 * x:.{digits}f}"


def num(x: float | None) -> str:
    """Thousands separators for large values, three significant digits for small ones."""
    if x is None:
        return "–"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def sci(x: float | None) -> str:
    return "–" if x is None else f"{x:.3g}"


def signed_pts(x: float | None) -> str:
    """A drop in points with its sign: 0.125 -> '+12.5'."""
    return "–" if x is None else f"{100 * x:+.1f}"


_MD_SPECIAL = re.compile(r"[\\|`*\[\]~&<>$]|(?<![^\W_])_|_(?![^\W_])")
"""Characters that start Markdown (GFM) syntax inside a line: emphasis, code, links and images,
strike-through, table cells, raw HTML and entities, and math (GitHub renders `$…$` as TeX). An
underscore inside a word (q4_k_m) starts nothing and stays as it is."""
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_LINE_BREAKS = str.maketrans({c: " " for c in "\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029"})


def md_escape(text: str) -> str:
    """Text that comes out of Markdown as exactly this text, on one line: nothing in it starts a
    link, an image, emphasis, code, math, HTML or a new table cell (used in tables, headings and lists;
    never inside a code span, where backslashes are literal)."""
    return _MD_SPECIAL.sub(lambda m: _ENTITIES.get(m[0], "\\" + m[0]), str(text).translate(_LINE_BREAKS))


def md_excerpt(text: str, limit: int = 160) -> str:
    """A model's output (or any long text) in a Markdown table cell: its first `limit` characters
    (then an ellipsis), escaped as md_escape does; an empty text shows as '(empty)'."""
    text = str(text)
    if not text.strip():
        return "(empty)"
    return md_escape(text[:limit] + ("…" if len(text) > limit else ""))


def md_code(text: str) -> str:
    """A code span holding exactly this text, on one line: its fence is longer than any run of
    backticks inside, and a space pads text that starts or ends with a backtick or a space (a code
    span drops one space at each end). Inside it nothing is Markdown or HTML."""
    body = str(text).translate(_LINE_BREAKS) or " "
    fence = "`" * (max(map(len, re.findall("`+", body)), default=0) + 1)
    pad = " " if body[0] in "` " or body[-1] in "` " else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def kv_formula(total: int | None, by_layer_type: dict[str, int] | None) -> str:
    """The analytic KV size, split by layer type where the model has sliding-window layers (their share
    stops growing at the window, so the split says where the bytes are)."""
    if not by_layer_type:
        return format_bytes(total)
    parts = " + ".join(f"{kind} {format_bytes(b)}" for kind, b in sorted(by_layer_type.items()))
    return f"{format_bytes(total)} ({parts})"
