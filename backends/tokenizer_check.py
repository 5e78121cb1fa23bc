"""Fairness rule 2: a quantized artifact must use exactly the reference tokenizer.

Every engine is fed the reference's token ids, so an artifact whose vocabulary or special tokens
differ would read different text from the same ids. That is an error naming the difference, never a
warning."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from qlongbench.errors import UserError
from qlongbench.tokenizer import PromptTokenizer

SPECIALS = ("bos", "eos")
"""Special tokens both sides always know (pad/unk are often unset on one side only)."""


@dataclass(frozen=True)
class VocabView:
    """A tokenizer reduced to what must match: token text by id and the special token ids."""

    tokens: tuple[str | None, ...]
    """Token text at each id (None for an id with no token)."""
    specials: Mapping[str, int | None]
    """Special token ids by role (bos, eos)."""


def reference_view(tok: PromptTokenizer) -> VocabView:
    return hf_view(tok.hf)


def hf_view(hf_tokenizer: object) -> VocabView:
    vocab = hf_tokenizer.get_vocab()  # type: ignore[attr-defined]
    tokens: list[str | None] = [None] * (max(vocab.values()) + 1 if vocab else 0)
    for text, i in vocab.items():
        tokens[i] = text
    specials = {role: getattr(hf_tokenizer, f"{role}_token_id", None) for role in SPECIALS}
    return VocabView(tokens=tuple(tokens), specials=specials)


def differences(reference: VocabView, other: VocabView, *, padding_prefixes: Sequence[str] = ()) -> list[str]:
    """Human-readable differences (empty when the tokenizers agree). Tokens the other side has
    beyond the reference's vocabulary are allowed only when they are padding (e.g. llama.cpp's
    converter pads the vocabulary to the embedding size with [PAD<n>] tokens)."""
    out: list[str] = []
    n_ref, n_other = len(reference.tokens), len(other.tokens)
    extra = [t for t in other.tokens[n_ref:] if not (t and t.startswith(tuple(padding_prefixes)))] \
        if padding_prefixes else list(other.tokens[n_ref:])
    if n_other < n_ref or extra:
        out.append(f"vocabulary size {n_other} vs {n_ref} in the reference")
    changed = [i for i in range(min(n_ref, n_other)) if reference.tokens[i] != other.tokens[i]]
    if changed:
        shown = ", ".join(f"id {i} is {other.tokens[i]!r} (reference {reference.tokens[i]!r})" for i in changed[:3])
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        out.append(f"{len(changed)} token(s) differ: {shown}{more}")
    for role in SPECIALS:
        a, b = reference.specials.get(role), other.specials.get(role)
        if a is not None and b is not None and a != b:
            out.append(f"{role} token id {b} vs {a} in the reference")
    return out


def require_same(reference: VocabView, other: VocabView, what: str, *, padding_prefixes: Sequence[str] = ()) -> None:
    """UserError naming the differences when `other` (described by `what`) does not match."""
    diff = differences(reference, other, padding_prefixes=padding_prefixes)
    if diff:
        raise UserError(f"the tokenizer of {what} differs from the reference model's: {'; '.join(diff)}. "
                        "Every precision must read the same token ids; use an artifact made from the "
                        "reference model")


def require_same_hf(reference: PromptTokenizer, other_hf: object, what: str) -> None:
    """Compare a Hugging Face tokenizer (e.g. a GPTQ checkpoint's) with the reference by
    fingerprint (vocabulary hash and special tokens), naming the differences on a mismatch."""
    mine = reference.fingerprint()
    theirs = PromptTokenizer(other_hf, use_chat_template=False).fingerprint()
    if mine == theirs:
        return
    diff = differences(reference_view(reference), hf_view(other_hf))
    if not diff:
        diff = [f"{k} {theirs.get(k)!r} vs {v!r} in the reference" for k, v in mine.items() if theirs.get(k) != v]
    raise UserError(f"the tokenizer of {what} differs from the reference model's: {'; '.join(diff)}. "
                    "Every precision must read the same token ids; use an artifact made from the "
                    "reference model")
