"""Fit-to-length haystacks (after RULER): filler units are added until the prompt, chat template,
instruction, question and answer budget included, reaches the target token count.

Units are words (characters for scripts written without spaces), so the last unit added moves
the count by one to three tokens: a fitted prompt is `FIT_TOLERANCE` tokens short of its target
at most, and never longer. Nothing is ever cut from needles, questions or templates."""

from __future__ import annotations

import bisect
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from qlongbench.errors import OverlengthError
from qlongbench.tokenizer import ChatFrame, PromptIds, PromptTokenizer

log = logging.getLogger(__name__)

FIT_TOLERANCE = 4
"""Most tokens a fitted prompt may fall short of its budget (one word of filler, see above)."""


@dataclass(frozen=True)
class Insertion:
    """Text placed between haystack sentences at a relative depth."""

    depth: float
    """0.0 = before the first sentence, 1.0 = after the last."""
    text: str
    """The sentence to insert (a needle, a gold passage ...)."""


@dataclass(frozen=True)
class Rendered:
    document: str
    """The haystack text with insertions."""
    insertion_offsets: tuple[int, ...]
    """Character offset of each insertion in the document, in the order given."""


class Haystack:
    """A long stream of sentences, cut to a number of filler units and interleaved with insertions."""

    def __init__(self, sentences: Sequence[str], separator: str):
        self.separator = separator
        self.sentences = list(sentences)
        self._units = [self._split(s) for s in self.sentences]
        self._cum = [0]
        for units in self._units:
            self._cum.append(self._cum[-1] + len(units))

    def _split(self, sentence: str) -> list[str]:
        return sentence.split(self.separator) if self.separator else list(sentence)

    @property
    def n_units(self) -> int:
        return self._cum[-1]

    def extend(self, sentences: Sequence[str]) -> None:
        for s in sentences:
            self.sentences.append(s)
            self._units.append(self._split(s))
            self._cum.append(self._cum[-1] + len(self._units[-1]))

    def render(self, n_units: int, insertions: Sequence[Insertion] = ()) -> Rendered:
        """The first n_units filler units, insertions placed at the sentence boundary nearest their
        depth (a partial last sentence is never split by an insertion)."""
        k = bisect.bisect_right(self._cum, n_units) - 1  # full sentences
        pieces: list[str] = list(self.sentences[:k])
        rest = n_units - self._cum[k]
        if rest > 0:
            pieces.append(self.separator.join(self._units[k][:rest]))
        n_full = k
        order = sorted(range(len(insertions)), key=lambda i: (insertions[i].depth, i))
        slots: dict[int, list[int]] = {}
        for i in order:
            target = insertions[i].depth * n_units
            slot = min(range(n_full + 1), key=lambda b: (abs(self._cum[b] - target), b))
            slots.setdefault(slot, []).append(i)
        out: list[str] = []
        offsets = [0] * len(insertions)
        length = 0
        sep = self.separator

        def add(text: str) -> int:
            nonlocal length
            if out:
                out.append(sep)
                length += len(sep)
            start = length
            out.append(text)
            length += len(text)
            return start

        for b in range(len(pieces) + 1):
            for i in slots.get(b, ()):
                offsets[i] = add(insertions[i].text)
            if b < len(pieces):
                add(pieces[b])
        return Rendered(document="".join(out), insertion_offsets=tuple(offsets))


@dataclass(frozen=True)
class Fitted:
    prompt: PromptIds
    """The fitted token ids."""
    rendered: Rendered
    """The document that produced them."""
    n_units: int
    """Filler units used."""
    slack: int
    """budget - prompt tokens (0..FIT_TOLERANCE)."""


def fit(tokenizer: PromptTokenizer, frame: ChatFrame, haystack: Haystack, budget: int,
        insertions: Sequence[Insertion] = (), more: Callable[[int], Sequence[str]] | None = None) -> Fitted:
    """Most filler units whose prompt fits `budget` tokens. Interpolation search on the token
    count (near-linear in units), bisection as a fallback; `more(n)` supplies sentences when the
    haystack runs short. Raises OverlengthError when even an empty haystack does not fit."""

    def count(n: int) -> tuple[int, PromptIds, Rendered]:
        rendered = haystack.render(n, insertions)
        ids = tokenizer.build(frame, rendered.document)
        return len(ids.ids), ids, rendered

    c_lo, p_lo, r_lo = count(0)
    if c_lo > budget:
        raise OverlengthError(f"the prompt without any haystack needs {c_lo} tokens, more than the {budget} available")
    lo = 0
    while True:
        hi = haystack.n_units
        c_hi, p_hi, r_hi = count(hi)
        if c_hi > budget:
            break
        if more is None:
            return Fitted(p_hi, r_hi, hi, budget - c_hi)
        lo, c_lo, p_lo, r_lo = hi, c_hi, p_hi, r_hi
        haystack.extend(more(max(64, hi)))
    step = 0
    while hi - lo > 1:
        step += 1
        if step % 3 == 0 or c_hi == c_lo:
            n = (lo + hi) // 2
        else:
            n = lo + int((budget - c_lo) * (hi - lo) / (c_hi - c_lo))
            n = min(max(n, lo + 1), hi - 1)
        c, p, r = count(n)
        if c <= budget:
            lo, c_lo, p_lo, r_lo = n, c, p, r
        else:
            hi, c_hi = n, c
    log.debug("fitted %d units in %d steps, slack %d", lo, step, budget - c_lo)
    return Fitted(p_lo, r_lo, lo, budget - c_lo)


def filler_sentences(generate: Callable[[random.Random], str], rng: random.Random, n: int) -> list[str]:
    return [generate(rng) for _ in range(n)]


def token_position(tokenizer: PromptTokenizer, frame: ChatFrame, document: str, char_offset: int) -> int:
    """Token index at which document[char_offset:] begins inside the prompt."""
    return len(tokenizer.encode(frame.head + document[:char_offset], add_special_tokens=frame.add_special_tokens))
