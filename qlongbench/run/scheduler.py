"""Order prompts so each distinct context token is prefilled once.

Samples whose prompts share a context prefix (several questions on one document) form a group;
groups whose prefix is itself a prefix of a longer group's (the nested sweep: one haystack cut at
several lengths) are chained behind it, longest first, so the engine prefills the longest
context once (failing fast if memory runs out) and only crops the cache for the shorter ones.
Pure functions: no engine, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from qlongbench.types import Sample


@dataclass(frozen=True)
class PrefixGroup:
    prefix: tuple[int, ...]
    """Context ids shared by every sample of the group."""
    samples: tuple[Sample, ...]
    """Samples answered on that context, in their original order."""


def common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two id sequences."""
    import numpy as np

    n = min(len(a), len(b))
    if n == 0:
        return 0
    diff = np.flatnonzero(np.asarray(a[:n], dtype=np.int64) != np.asarray(b[:n], dtype=np.int64))
    return int(diff[0]) if diff.size else n


def group_by_prefix(samples: Sequence[Sample]) -> list[PrefixGroup]:
    groups: dict[tuple[int, ...], list[Sample]] = {}
    for s in samples:
        groups.setdefault(tuple(s.prompt_ids[: s.prefix_len]), []).append(s)
    return [PrefixGroup(prefix, tuple(members)) for prefix, members in groups.items()]


def chains(groups: Sequence[PrefixGroup]) -> list[list[PrefixGroup]]:
    """Groups linked by prefix: the longest context first, then the groups whose context is a
    prefix of it (longest first), served by cropping the cache instead of a new prefill."""
    by_prefix = {g.prefix: g for g in groups}
    lengths = sorted({len(g.prefix) for g in groups}, reverse=True)
    out: list[list[PrefixGroup]] = []
    done: set[tuple[int, ...]] = set()
    for g in sorted(groups, key=lambda g: -len(g.prefix)):
        if g.prefix in done:
            continue
        chain = [g] + [by_prefix[p] for n in lengths if n < len(g.prefix)
                       if (p := g.prefix[:n]) in by_prefix and p not in done]
        done.update(member.prefix for member in chain)
        out.append(chain)
    return out


PREFILL_KNEE = 2048
"""Context length (tokens) at which attention's quadratic share of a prefill equals the rest."""


def prefill_cost(n_tokens: int) -> float:
    """Relative cost of prefilling a context of n tokens: n (1 + n / 2048). Fitted to the committed
    n = 50 niah-single records (reports/smollm2/records/niah-single-n50, one CPU per unit): 1K : 2K :
    4K : 8K prefills took 1 : 2.5 : 7.5 : 30 (bnb-nf4) and 1 : 2.5 : 7.7 : 30 (gptq-int4) against
    this formula's 1 : 2.7 : 8 : 27. Only the ratios matter (dealing work to slices)."""
    return n_tokens * (1 + n_tokens / PREFILL_KNEE)


def answer_cost(n_tokens: int) -> float:
    """Relative cost of answering one question on a context of n tokens, in prefill_cost's units:
    64 + n / 16 (committed nested-rows10 records: a question's decode, ten rows at a time, is ~9 % of a
    1K prefill and ~1 % of an 8K one). One question at a time it is 1.5x (llama.cpp) to 10x
    (transformers, on another CPU) dearer against the prefill (suite-rerun, nested, niah-single-n50
    records): the ratio is the engine's and the machine's, so this one only deals slices; the
    progress ETA prices each part at the seconds it measures (progress.CellCounter)."""
    return 64 + n_tokens / 16


class Cost(NamedTuple):
    """A sample's relative cost as the engine spends it, in prefill_cost's units, in two parts: the
    context it prefills (0 when another sample's prefill serves it) and its answer (0 when it
    generates nothing: a log-prob task). The parts are kept apart because their real ratio depends
    on the engine and the machine (progress learns each part's seconds as records arrive)."""

    prefill: float
    answer: float

    @property
    def total(self) -> float:
        return self.prefill + self.answer


def chain_costs(chain: Sequence[PrefixGroup]) -> list[tuple[Sample, Cost]]:
    """Each sample of a chain with its relative cost, as the engine spends it: the chain's longest
    context is prefilled once, with the first question answered on it (drive.generate puts that
    prefill in the first record); every question is answered."""
    first = chain[0].samples[0]
    return [(s, Cost(prefill_cost(len(chain[0].prefix)) if s is first else 0.0,
                     answer_cost(len(s.prompt_ids)) if s.max_new_tokens else 0.0))
            for g in chain for s in g.samples]


def order_groups(groups: Sequence[PrefixGroup]) -> list[PrefixGroup]:
    """Longest context first, each followed by the contexts nested in it (see chains)."""
    return [g for chain in chains(groups) for g in chain]


@dataclass(frozen=True)
class Batch:
    """Independent prompts of similar length answered together (engines that batch, e.g. on GPU)."""

    samples: tuple[Sample, ...]
    """The prompts; none shares a context with another prompt of the run."""


def plan_batches(groups: Sequence[PrefixGroup], batch_size: int) -> list[PrefixGroup | Batch]:
    """Work items, longest first so memory fails fast: prompts that share no context with any other
    are bucketed by target length into batches of `batch_size`; shared or nested contexts stay
    groups, served from one cache."""
    units: list[tuple[int, list[PrefixGroup | Batch]]] = []
    lone: dict[int, list[Sample]] = {}
    for chain in chains(groups):
        if batch_size > 1 and len(chain) == 1 and len(chain[0].samples) == 1:
            s = chain[0].samples[0]
            lone.setdefault(s.length, []).append(s)
        else:
            units.append((len(chain[0].prefix), list(chain)))  # a chain stays together: one cache
    for members in lone.values():
        for i in range(0, len(members), batch_size):
            part = tuple(members[i:i + batch_size])
            item = Batch(part) if len(part) > 1 else PrefixGroup(tuple(part[0].prompt_ids[: part[0].prefix_len]), part)
            units.append((max(len(s.prompt_ids) for s in part), [item]))
    units.sort(key=lambda unit: -unit[0])
    return [item for _, unit in units for item in unit]


def tokens_to_prefill(groups: Sequence[PrefixGroup]) -> int:
    """Context tokens an engine prefills when it serves the groups in this order through one
    cache that it crops to the common prefix between groups."""
    total, current = 0, ()
    for g in groups:
        total += len(g.prefix) - common_prefix_len(current, g.prefix)
        current = g.prefix
    return total
