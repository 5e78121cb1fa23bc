"""The noise floor: how much a precision changes under a perturbation that must not change the model
(the same precision at another thread count, `--noise-floor`), measured like any candidate — answers
changed against its original and KL from it. Each quantized candidate's changed answers and KL are
read beside the floor of the baseline it is compared with; an engine's full-precision run against
the reference (gguf-bf16 against bf16) is that engine's own floor."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from qlongbench.analysis.drops import DropStats
from qlongbench.analysis.kld import KLRow
from qlongbench.analysis.pairing import ALL_LANGUAGES
from qlongbench.analysis.stats import Interval


@dataclass(frozen=True)
class Changes:
    """Answers that differ between a candidate and its baseline over the measured cells."""

    changed: int
    """Paired items whose score differs."""
    compared: int
    """Paired items in measured cells (per language; pooled cells are not counted twice)."""


@dataclass(frozen=True)
class KLSummary:
    """KL of a candidate from a baseline on the longest kld documents."""

    mean_kl: float
    """Mean KL (nats) over documents and positions."""
    interval: Interval | None
    """Bootstrap interval over documents (None for one document)."""
    top1: float
    """Top-1 agreement with the baseline."""
    documents: int
    """Documents compared."""
    length: int
    """Their length."""
    bound: str | None = None
    """Set when the KL is a lower bound (top-k only)."""


@dataclass(frozen=True)
class NoiseFloor:
    """What the control of one baseline measured."""

    baseline: str
    """The precision whose floor this is (the reference, or an engine's full-precision run)."""
    control: str
    """The perturbed twin (e.g. bf16:threads=1)."""
    changes: Changes | None
    """Its answers changed against the baseline."""
    kl: KLSummary | None
    """Its KL from the baseline."""


def changes(drops: Sequence[DropStats], candidate: str, versus: str) -> Changes | None:
    rows = [d for d in drops if d.candidate == candidate and d.reference == versus and d.paired is not None
            and d.unmeasured is None and d.language != ALL_LANGUAGES]
    if not rows:
        return None
    return Changes(sum(d.paired.changed for d in rows), sum(d.paired.n for d in rows))  # type: ignore[union-attr]


def kl_summary(rows: Sequence[KLRow], candidate: str, versus: str) -> KLSummary | None:
    mine = [k for k in rows if k.precision == candidate and k.versus == versus]
    if not mine:
        return None
    k = max(mine, key=lambda r: (r.length, r.n))
    return KLSummary(k.mean_kl, k.mean_kl_interval, k.top1, k.n, k.length, k.bound)


def noise_floors(controls: Mapping[str, str], drops: Sequence[DropStats], kld: Sequence[KLRow]) -> dict[str, NoiseFloor]:
    """baseline -> its floor, for every control the run holds."""
    return {base: NoiseFloor(base, control, changes(drops, control, base), kl_summary(kld, control, base))
            for control, base in controls.items()}
