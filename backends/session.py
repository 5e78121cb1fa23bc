"""A live KV cache (ContextSession: prefill a context once, ask many questions, crop back; the one
place the sliding-window rule for a cut lives) and the decoding loop every engine shares."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from qlongbench.types import Generation, GenerationConfig


class ContextSession(ABC):
    """One live KV cache: prefill a context once, ask many questions about it."""

    _ids: list[int]
    """The ids in the cache, kept by each engine's session as it extends and crops."""

    @property
    def n_tokens(self) -> int:
        """Tokens currently in the cache."""
        return len(self._ids)

    @property
    def tokens(self) -> tuple[int, ...]:
        """The ids currently in the cache."""
        return tuple(self._ids)

    @abstractmethod
    def extend(self, ids: Sequence[int]) -> float:
        """Append ids to the cache; returns the seconds spent."""

    def crop(self, n: int) -> None:
        """Keep only the first n tokens of the cache. Where the cut cache would no longer hold what the
        next token attends to (`window_kept` false: sliding-window layers keep only their latest
        positions), the kept tokens are prefilled again from an empty cache: a cut is never a read of
        states that are gone. The one place this rule lives for every engine."""
        if n >= len(self._ids):
            return
        if self.window_kept(n):
            self._cut(n)
            return
        kept = list(self._ids[:n])
        self._clear()
        self.extend(kept)

    @abstractmethod
    def _cut(self, n: int) -> None:
        """Drop the engine's cached states after the first n tokens (n < n_tokens, window kept)."""

    def _clear(self) -> None:
        """Empty the cache (and the ids); needed only by an engine whose `window_kept` can be false."""
        raise NotImplementedError(f"{type(self).__name__} declares a window it cannot refill")

    def window_kept(self, n: int) -> bool:
        """Whether the cache cut to its first n tokens still holds the states the next token attends
        to. True by default (every position kept); an engine with sliding-window layers that keep only
        their latest positions answers for them."""
        return True

    def appending_pays(self, keep: int, new: int) -> bool:
        """Whether appending `new` tokens to `keep` cached ones is cheaper than prefilling all
        keep + new from an empty cache (engines where it is not decline short shared prefixes)."""
        return True

    def worth_keeping(self, keep: int, new: int) -> bool:
        """Keep `keep` cached tokens and append `new`? Declined where appending costs more than a fresh
        prefill, and where the cut would be a fresh prefill anyway (the window before `keep` is gone;
        its time is then counted as a prefill)."""
        return self.appending_pays(keep, new) and (keep >= len(self._ids) or self.window_kept(keep))

    @abstractmethod
    def generate(self, ids: Sequence[int], cfg: GenerationConfig) -> Generation:
        """Extend with ids, decode an answer, then crop back: the cache ends as it started."""

    def generate_many(self, questions: Sequence[Sequence[int]], cfgs: Sequence[GenerationConfig]) -> list[Generation]:
        """Answer several questions about the cached context; the cache ends as it started. By default
        one after another (`generate`); an engine that can decode them together, one row per question
        over the shared prefix, overrides this and says so in each Generation's `decode_rows`."""
        if len(questions) != len(cfgs):
            raise ValueError("one generation config per question")
        return [self.generate(ids, cfg) for ids, cfg in zip(questions, cfgs)]

    def close(self) -> None:
        """Free the cache."""


@dataclass(frozen=True)
class Decoded:
    """Tokens chosen by the decoding loop shared by every engine."""

    tokens: tuple[int, ...]
    """Generated ids (the stop token excluded)."""
    finish: Literal["eos", "length"]
    """Why decoding stopped."""
    seconds: float
    """Wall time of the loop (token choice + engine steps)."""


def decode_loop(logits: Any, step: Callable[[int], Any], cfg: GenerationConfig, eos: set[int],
                argmax: Callable[[Any], int], to_numpy: Callable[[Any], Any]) -> Decoded:
    """Greedy or seeded sampling from `logits`, feeding each chosen token to `step` (which returns
    the next logits). Every engine decodes with this loop (one row of `decode_rows`) and the same
    numpy sampler, so a sampling run changes only the engine, not the sampling code."""
    rows, _ = decode_rows([logits], lambda live, tokens: [step(tokens[0])], [cfg], [eos], argmax, to_numpy)
    return rows[0]


def decode_rows(first: Sequence[Any], step: Callable[[list[int], list[int]], Sequence[Any]],
                cfgs: Sequence[GenerationConfig], eos: Sequence[set[int]], argmax: Callable[[Any], int],
                to_numpy: Callable[[Any], Any]) -> tuple[list[Decoded], float]:
    """`decode_loop` for several rows decoded together: row i starts from first[i] and chooses its
    tokens as decode_loop would from the same logits (its own seeded sampler); step(rows, tokens)
    feeds one token to each listed live row and returns their next logits. Rows leave once finished.
    Returns each row's Decoded (seconds: the whole loop's) and the loop's wall time."""
    import numpy as np

    rngs = [np.random.default_rng(c.seed) if c.do_sample else None for c in cfgs]
    out: list[list[int]] = [[] for _ in cfgs]
    finish: list[Literal["eos", "length"]] = ["length"] * len(cfgs)
    logits = list(first)
    live = [i for i, c in enumerate(cfgs) if c.max_new_tokens > 0]
    t0 = time.perf_counter()
    while live:
        fed_rows, fed = [], []
        for i in live:
            rng = rngs[i]
            tok = argmax(logits[i]) if rng is None else sample_token(to_numpy(logits[i]), cfgs[i], rng)
            if tok in eos[i]:
                finish[i] = "eos"
                continue
            out[i].append(tok)
            if len(out[i]) < cfgs[i].max_new_tokens:
                fed_rows.append(i)
                fed.append(tok)
        live = fed_rows
        if live:
            for i, row_logits in zip(live, step(live, fed)):
                logits[i] = row_logits
    seconds = time.perf_counter() - t0
    return [Decoded(tuple(o), f, seconds) for o, f in zip(out, finish)], seconds


def sample_token(logits: Any, cfg: GenerationConfig, rng: Any) -> int:
    """Temperature + nucleus sampling on a float vector of logits."""
    import numpy as np

    z = np.asarray(logits, dtype=np.float64) / max(cfg.temperature, 1e-6)
    p = np.exp(z - z.max())
    p /= p.sum()
    if cfg.top_p < 1.0:
        order = np.argsort(-p, kind="stable")
        sorted_p = p[order]
        keep = np.cumsum(sorted_p) - sorted_p < cfg.top_p
        q = np.zeros_like(p)
        q[order[keep]] = sorted_p[keep]
        p = q / q.sum()
    return int(rng.choice(len(p), p=p))
