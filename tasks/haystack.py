"""Fit-to-length haystacks (after RULER): filler units are added until the prompt, chat template,
instruction, question and answer budget included, reaches the target token count.

Units are words (characters for scripts written without spaces), so the last unit added moves
the count by one to three tokens: a fitted prompt is `FIT_TOLERANCE` tokens short of its target
at most, and never longer. When one word alone would overshoot the tolerance (a small vocabulary
spells a long word in many tokens) the filler ends with part of that word. Nothing is ever cut
from needles, questions or templates.

Filler comes from a `HaystackSource` (tasks/haystack_sources.py): the language's generator, a local
text file or a `datasets` corpus."""

from __future__ import annotations

import bisect
import itertools
import logging
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass


from qlongbench.errors import OverlengthError
from qlongbench.tasks.haystack_sources import HaystackSource
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
    """A long stream of sentences, cut to a number of filler units and interleaved with insertions.

    `separator` splits a sentence into units (and joins a partial one back); `joiner` goes between
    sentences and insertions (the separator unless given: passages use "\n\n")."""

    def __init__(self, sentences: Sequence[str], separator: str, joiner: str | None = None):
        self.separator = separator
        self.joiner = separator if joiner is None else joiner
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

    def sentences_used(self, n_units: int) -> int:
        """Sentences (whole or partial) that the first n_units units draw from."""
        return bisect.bisect_left(self._cum, n_units)

    def extend(self, sentences: Sequence[str]) -> None:
        for s in sentences:
            self.sentences.append(s)
            self._units.append(self._split(s))
            self._cum.append(self._cum[-1] + len(self._units[-1]))

    def unit(self, index: int) -> str:
        """The index-th filler unit (0-based) over all sentences."""
        k = bisect.bisect_right(self._cum, index) - 1
        return self._units[k][index - self._cum[k]]

    def render(self, n_units: int, insertions: Sequence[Insertion] = (), partial_chars: int = 0) -> Rendered:
        """The first n_units filler units, insertions placed at the sentence boundary nearest their
        depth (a partial last sentence is never split by an insertion). `partial_chars` characters of
        the next unit follow (fit() uses them only when a whole unit overshoots the tolerance)."""
        k = bisect.bisect_right(self._cum, n_units) - 1  # full sentences
        pieces: list[str] = list(self.sentences[:k])
        rest = n_units - self._cum[k]
        units = list(self._units[k][:rest]) if k < len(self._units) else []
        if partial_chars > 0 and k < len(self._units):
            units.append(self._units[k][rest][:partial_chars])
        if units:
            pieces.append(self.separator.join(units))
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
        sep = self.joiner

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
    partial_chars: int = 0
    """Characters of one more unit after n_units (only when a whole unit would overshoot the
    tolerance, e.g. a long word that a small vocabulary splits into many tokens)."""


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
    partial = 0
    if budget - c_lo > FIT_TOLERANCE and lo < haystack.n_units:
        # The next unit overshoots by more than the tolerance: take the longest prefix of it that fits.
        word = haystack.unit(lo)
        a, b = 0, len(word)  # a fits (no characters), b does not (the whole unit)
        while b - a > 1:
            mid = (a + b) // 2
            rendered = haystack.render(lo, insertions, partial_chars=mid)
            ids = tokenizer.build(frame, rendered.document)
            if len(ids.ids) <= budget:
                a, c_lo, p_lo, r_lo = mid, len(ids.ids), ids, rendered
            else:
                b = mid
        partial = a
    log.debug("fitted %d units (+%d chars) in %d steps, slack %d", lo, partial, step, budget - c_lo)
    return Fitted(p_lo, r_lo, lo, budget - c_lo, partial)


def filler_sentences(generate: Callable[[random.Random], str], rng: random.Random, n: int) -> list[str]:
    return [generate(rng) for _ in range(n)]


def token_position(tokenizer: PromptTokenizer, frame: ChatFrame, document: str, char_offset: int) -> int:
    """Token index at which document[char_offset:] begins inside the prompt: the first token holding
    its first character or the whitespace right before it. The text before is counted without
    trailing spaces, which tokenizers attach to the next word ("▁One", "ĠOne"); counting them would
    add a lone-space token that the whole prompt does not have. Newlines are tokens of their own."""
    before = frame.head + document[:char_offset]
    return len(tokenizer.encode(before.rstrip(" ") or before, add_special_tokens=frame.add_special_tokens))



# "filler" is the language's own generator; "file:<path>" and "hf:<dataset>[:<config>]" are real
# text split into sentences. A real text is read as a ring: each sample starts at a seeded
# sentence and reads on in order, so the haystack is natural running text.


class SentenceFeed:
    """Takes sentences from a stream: a first chunk, then as many again as given so far each time
    fit() asks for more (geometric growth keeps the number of re-fits logarithmic)."""

    def __init__(self, stream: Iterator[str], chunk: int):
        self.stream = stream
        self.chunk = chunk
        self.given = 0

    def take(self, n: int) -> list[str]:
        out = list(itertools.islice(self.stream, n))
        self.given += len(out)
        return out

    def first(self) -> list[str]:
        return self.take(self.chunk)

    def more(self, _units: int) -> list[str]:
        return self.take(max(self.chunk, self.given))


@dataclass(frozen=True)
class GrowingHaystack:
    """A haystack and the feed that grows it while fit() searches."""

    haystack: Haystack
    """Holds the sentences taken so far."""
    feed: SentenceFeed
    """Pass feed.more as fit(..., more=)."""


def start_haystack(source: HaystackSource, rng: random.Random, separator: str, chunk: int,
                   joiner: str | None = None) -> GrowingHaystack:
    """A haystack holding the first chunk of the source's stream, and the feed that grows it."""
    feed = SentenceFeed(source.stream(rng), chunk)
    return GrowingHaystack(Haystack(feed.first(), separator, joiner), feed)


@dataclass(frozen=True)
class SharedFit:
    """One document fitted for several questions: every prompt has the same prefix ids."""

    fitted: Fitted
    """The fit, made with the question whose suffix is longest (so that every question fits)."""
    prompts: tuple[PromptIds, ...]
    """One prompt per frame, in the order given."""
    slacks: tuple[int, ...]
    """budget - prompt tokens, per frame."""
    positions: tuple[int, ...]
    """Token index of each insertion in the prompts (see token_position)."""
    document_tokens: int
    """Tokens of the document (with its insertions)."""

    def depth_actual(self, position: int) -> float:
        """Where a token index lies in the document, in percent (0 = its first token)."""
        start = self.fitted.prompt.document_start
        return round(100.0 * (position - start) / max(1, self.document_tokens), 3)


def fit_shared(tokenizer: PromptTokenizer, frames: Sequence[ChatFrame], haystack: Haystack, budget: int,
               insertions: Sequence[Insertion] = (), more: Callable[[int], Sequence[str]] | None = None) -> SharedFit:
    """fit() for several frames that differ only after the document (questions on one context).
    Callers keep the suffixes equal in tokens where they can: a shorter question is short of the
    budget by the difference. Raises OverlengthError like fit()."""
    tails = [tokenizer.count(f.tail) for f in frames]
    longest = max(range(len(frames)), key=lambda i: (tails[i], -i))
    fitted = fit(tokenizer, frames[longest], haystack, budget, insertions, more)
    doc = fitted.rendered.document
    prompts = tuple(fitted.prompt if i == longest else tokenizer.build(f, doc) for i, f in enumerate(frames))
    prefix = fitted.prompt.ids[: fitted.prompt.prefix_len]
    for p in prompts:
        if p.ids[: p.prefix_len] != prefix:
            raise ValueError("questions on one context must share the text before the document")
    slacks = tuple(budget - len(p.ids) for p in prompts)
    if max(slacks) > FIT_TOLERANCE:
        log.warning("a question on a shared context is %d tokens short of its budget (questions differ in "
                    "length)", max(slacks))
    positions = tuple(token_position(tokenizer, frames[longest], doc, off) for off in fitted.rendered.insertion_offsets)
    return SharedFit(fitted, prompts, slacks, positions, fitted.prompt.prefix_len - fitted.prompt.document_start)
