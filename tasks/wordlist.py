"""Word lists fitted to a token budget (the documents of cwe-easy, cwe-hard and fwe).

A list task's document is not filler around needles but the items themselves, so RULER's fit
(most filler units that fit) becomes: the largest core list that fits (`largest`), then the slack
it leaves, less than one step of the core, filled with extra items that cannot change the answer
(`fill`): a word appearing fewer times than the answer's words, or the fwe noise word. The extras
are chosen by a subset sum over their token costs, so a fitted prompt is FIT_TOLERANCE tokens
short of its budget at most, like a haystack, and never longer."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from qlongbench.tasks.haystack import FIT_TOLERANCE
from qlongbench.tokenizer import ChatFrame, PromptIds, PromptTokenizer

log = logging.getLogger(__name__)

Item = TypeVar("Item")


@dataclass(frozen=True)
class ListLayout(Generic[Item]):
    """How a sequence of items becomes the document's text."""

    entry: Callable[[int, Item], str]
    """Text of the item at 0-based position i ("12. lantern" for a numbered list)."""
    separator: str = " "
    """Between entries."""

    def render(self, items: Sequence[Item]) -> str:
        return self.separator.join(self.entry(i, it) for i, it in enumerate(items))


@dataclass(frozen=True)
class ListFit(Generic[Item]):
    prompt: PromptIds
    """The fitted ids."""
    items: tuple[Item, ...]
    """The document's items in order (core and extras)."""
    document: str
    """Their text."""
    extras: tuple[Item, ...]
    """The extra items that filled the slack (also inside `items`)."""
    slack: int
    """budget - prompt tokens."""
    replaced: int = 0
    """Occurrences replaced by a slightly longer word to close the last tokens of slack."""


def largest(tok: PromptTokenizer, frame: ChatFrame, layout: ListLayout[Item], core: Callable[[int], list[Item]],
            lo: int, hi: int, budget: int) -> tuple[int, int] | None:
    """Largest n in lo..hi whose core(n) fits `budget` tokens (token count non-decreasing in n), with
    its token count; None when even core(lo) does not fit."""

    def count(n: int) -> int:
        return len(tok.build(frame, layout.render(core(n))).ids)

    c_lo = count(lo)
    if c_lo > budget:
        return None
    c_hi = count(hi)
    if c_hi <= budget:
        return hi, c_hi
    while hi - lo > 1:  # count(lo) fits, count(hi) does not
        mid = (lo + hi) // 2
        c = count(mid)
        if c <= budget:
            lo, c_lo = mid, c
        else:
            hi = mid
    return lo, c_lo


def subset_sum(costs: Sequence[int], target: int) -> list[int]:
    """Indices of items (each used once) whose costs add up to the largest total <= target; items
    earlier in the sequence are preferred."""
    if target <= 0:
        return []
    parent: list[tuple[int, int] | None] = [None] * (target + 1)
    reached = [False] * (target + 1)
    reached[0] = True
    for i, c in enumerate(costs):
        if c <= 0 or c > target:
            continue
        for s in range(target, c - 1, -1):
            if not reached[s] and reached[s - c]:
                reached[s] = True
                parent[s] = (i, s - c)
    best = max(s for s in range(target + 1) if reached[s])
    out = []
    while best:
        i, best = parent[best]  # type: ignore[misc]
        out.append(i)
    return sorted(out)


def fill(tok: PromptTokenizer, frame: ChatFrame, layout: ListLayout[Item], items: Sequence[Item],
         pool: Sequence[Item], budget: int, rng: random.Random, *,
         replaceable: Callable[[Item], bool] | None = None, attempts: int = 6) -> ListFit[Item]:
    """`items` fitted already; extras from `pool` (each at most once, at seeded random positions)
    fill what is left of `budget`. Costs are estimated per extra from the entries before it and
    checked on the whole prompt; the estimate is corrected and the choice redone when tokenization
    is not additive. The closest fit that is not over budget wins. When what is left is less than
    any extra costs, one occurrence of a `replaceable` item is replaced by an unused pool item a few
    tokens longer (the list's counts stay valid when every pool item and every replaceable item
    is a word that may appear once more or once less)."""
    base = tok.build(frame, layout.render(items))
    budget_left = budget - len(base.ids)
    best = ListFit(base, tuple(items), layout.render(items), (), budget_left)
    if budget_left <= FIT_TOLERANCE or not pool:
        return best
    n = len(items)
    tail = list(items[-2:])
    before = tok.count(layout.render(tail))
    # The cost of one more entry at position n (numbers of later extras differ in a digit at most).
    costs = [tok.count(layout.render(tail) + layout.separator + layout.entry(n, p)) - before for p in pool]
    target = budget_left
    for attempt in range(attempts):
        chosen = subset_sum(costs, target)
        extras = [pool[i] for i in chosen]
        seq = list(items)
        place = random.Random(rng.getrandbits(64))
        for e in extras:
            seq.insert(place.randrange(len(seq) + 1), e)
        document = layout.render(seq)
        prompt = tok.build(frame, document)
        slack = budget - len(prompt.ids)
        if 0 <= slack < best.slack:
            best = ListFit(prompt, tuple(seq), document, tuple(extras), slack)
        if 0 <= slack <= FIT_TOLERANCE:
            break
        # Aim the next choice so that its real cost lands on the budget.
        estimated = sum(costs[i] for i in chosen)
        error = (len(prompt.ids) - len(base.ids)) - estimated
        target = max(0, budget_left - error)
        log.debug("list fill attempt %d: slack %d (estimate off by %d)", attempt, slack, error)
    if best.slack > FIT_TOLERANCE and replaceable is not None:
        best = _replace(tok, frame, layout, best, pool, budget, rng, replaceable)
    return best


def _replace(tok: PromptTokenizer, frame: ChatFrame, layout: ListLayout[Item], fitted: ListFit[Item],
             pool: Sequence[Item], budget: int, rng: random.Random, replaceable: Callable[[Item], bool],
             rounds: int = 4) -> ListFit[Item]:
    """Close a slack smaller than one entry: replace one occurrence of a replaceable item by an
    unused pool item whose entry is longer by up to the slack, a few times over."""
    n = len(fitted.items)
    used = set(fitted.items)

    def cost(item: Item) -> int:
        return tok.count(layout.entry(n, item))

    best = fitted
    for _ in range(rounds):
        seq = list(best.items)
        spare = {p: cost(p) for p in dict.fromkeys(pool) if p not in used}
        present = {u: cost(u) for u in dict.fromkeys(seq) if replaceable(u)}
        need = best.slack
        pairs = [(spare[v] - c, u, v) for u, c in present.items() for v in spare
                 if need - FIT_TOLERANCE <= spare[v] - c <= need]
        if not pairs:
            pairs = [(spare[v] - c, u, v) for u, c in present.items() for v in spare if 0 < spare[v] - c <= need]
        if not pairs:
            break
        top = max(d for d, _, _ in pairs)
        _, u, v = rng.choice(sorted((p for p in pairs if p[0] == top), key=lambda p: (str(p[1]), str(p[2]))))
        at = rng.choice([i for i, it in enumerate(seq) if it == u])
        seq[at] = v
        document = layout.render(seq)
        prompt = tok.build(frame, document)
        slack = budget - len(prompt.ids)
        if not 0 <= slack < best.slack:
            break
        used.add(v)
        best = ListFit(prompt, tuple(seq), document, best.extras, slack, best.replaced + 1)
        if slack <= FIT_TOLERANCE:
            break
    return best
