"""Formatting shared by every writer: percentages, numbers, Markdown escaping (one place each)."""

from __future__ import annotations


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


def md_escape(text: str) -> str:
    """Markdown table cells: escape the characters that change meaning, drop raw HTML."""
    out = str(text).replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")
    out = out.replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")
    return out
