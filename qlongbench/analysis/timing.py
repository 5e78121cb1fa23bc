"""Where a run's wall clock went, from its records: each precision's share of the clock (durations),
its prefill and decode seconds (phase_seconds; the prefill of contexts apart), and which records
were decoded in batches."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

from qlongbench.types import Record


def durations(records: list[Record], started: str, resumed: Sequence[str] = ()) -> dict[str, tuple[int, float]]:
    """precision -> (records, seconds of the run's wall clock spent on it). Each record is credited the
    time since the record before it (any precision's) or since its invocation started (`started`, then
    each of `resumed`), whichever is later: so a precision run alone is timed from the previous one's
    last record to its own last, loading and converting included; precisions at work side by side (Ray)
    share the clock between them; and the idle time between a stopped invocation's last record and
    the resume after it counts for none (a run made over several sessions is not charged the nights
    between them). The sum over precisions is the run's working wall clock."""
    from datetime import datetime

    starts = sorted(datetime.fromisoformat(t) for t in (started, *resumed))
    out: dict[str, tuple[int, float]] = {}
    previous = starts[0]
    for t, r in sorted(((datetime.fromisoformat(r.created_at), r) for r in records), key=lambda tr: tr[0]):
        since = max([previous] + [s for s in starts if s <= t])
        n, seconds = out.pop(r.precision, (0, 0.0))
        out[r.precision] = (n + 1, seconds + max(0.0, (t - since).total_seconds()))  # re-inserted: last record last
        previous = t
    return out


class PhaseSeconds(NamedTuple):
    """Seconds one precision (or one task) spent prefilling and decoding, summed over its records."""

    records: int
    prefill: float
    decode: float
    contexts: float = 0.0
    """Of `prefill`, the records that prefilled a context (`prefilled_context`): what is left of the
    prefill if every question appended to a kept context and every answer were free."""


def prefilled_context(r: Record) -> bool:
    """Whether a record's prefill was mostly context: it prefilled at least half of its prompt (a
    context's first question, an 8K document scored whole, a nested sweep extending 1K to 2K; a kept
    chat-template header reused is a few tokens), not a question appended to a context kept in the
    cache (22 of 8,166 tokens). Records older than the count (None) reused nothing."""
    return r.n_prefilled_tokens is None or 2 * r.n_prefilled_tokens >= r.n_prompt_tokens


def phase_seconds(records: list[Record], key: Callable[[Record], str]) -> dict[str, PhaseSeconds]:
    """key (a record's precision, or its task) -> its records' summed prefill and decode seconds, in
    first-seen order. A batch's decode time is already shared between its rows, so sums count it once;
    what a precision's wall clock (`durations`) holds beyond the two is loading, quantizing, converting,
    scoring and writing."""
    out: dict[str, PhaseSeconds] = {}
    for r in records:
        n, pre, dec, contexts = out.get(key(r), PhaseSeconds(0, 0.0, 0.0))
        seconds = r.prefill_seconds or 0.0
        out[key(r)] = PhaseSeconds(n + 1, pre + seconds, dec + (r.decode_seconds or 0.0),
                                   contexts + (seconds if prefilled_context(r) else 0.0))
    return out


def batched(records: list[Record]) -> dict[str, tuple[int, int]]:
    """precision -> (records decoded in a batch of rows, the largest batch), for precisions with any."""
    out: dict[str, tuple[int, int]] = {}
    for r in records:
        if r.decode_rows is not None and r.decode_rows > 1:
            n, most = out.get(r.precision, (0, 0))
            out[r.precision] = (n + 1, max(most, r.decode_rows))
    return out
