"""Which device the transformers engines run on (torch imported only when asked)."""

from __future__ import annotations

from qlongbench.errors import UserError


def resolve_device(requested: str) -> str:
    """auto -> cuda when torch sees one, else cpu; cuda without a device is a UserError."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but torch sees no CUDA device; use --device cpu")
    return requested
