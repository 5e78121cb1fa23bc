"""The reference tokenizer: renders prompts (with the chat template when there is one) and freezes
them as token ids split into a shareable context prefix and a per-question suffix."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import JsonValue

from qlongbench.errors import UserError
from qlongbench.hashing import sha256_json

if TYPE_CHECKING:  # transformers is imported where a tokenizer loads, never by `import qlongbench`
    from transformers import PreTrainedTokenizerBase

log = logging.getLogger(__name__)

_DOC = "\u2063QLB_DOCUMENT\u2063"


@dataclass(frozen=True)
class PromptIds:
    ids: tuple[int, ...]
    """Full prompt."""
    prefix_len: int
    """ids[:prefix_len] ends with the document: shareable between questions on the same context."""
    document_start: int
    """Token index where the document begins (after chat header and instruction)."""


@dataclass(frozen=True)
class ChatFrame:
    """The text around the document: head + document + tail is the whole prompt text."""

    head: str
    tail: str
    add_special_tokens: bool
    """True when no chat template is used: the tokenizer adds BOS itself."""


class PromptTokenizer:
    """Wraps a Hugging Face tokenizer; every prompt any engine sees is built here, once."""

    def __init__(self, hf_tokenizer: PreTrainedTokenizerBase, *, use_chat_template: bool | str = True, source: str = ""):
        """use_chat_template: True/"auto" (when the tokenizer has one), "on" (required), False/"off"."""
        self.hf = hf_tokenizer
        self.source = source
        self.has_chat_template = bool(getattr(hf_tokenizer, "chat_template", None))
        if use_chat_template == "on" and not self.has_chat_template:
            raise UserError(f"the tokenizer of {source or 'the model'} has no chat template, but one is required "
                            "(--chat-template on); use --chat-template auto or off for a base model")
        self.use_chat_template = use_chat_template not in (False, "off") and self.has_chat_template
        if self.use_chat_template:  # a template that cannot frame a prompt is refused now, not mid-run
            template = hf_tokenizer.chat_template
            if not (isinstance(template, str) or (isinstance(template, dict) and template
                                                  and all(isinstance(v, str) for v in template.values()))):
                raise UserError(f"the chat template of {source or 'the model'} is {type(template).__name__} "
                                f"{str(template)[:60]!r}, not Jinja text (tokenizer_config.json's chat_template); fix "
                                "it, or run with --chat-template off")
            self.frame("Read this.\n\n", "\n\nWhat is it?", "Answer:")

    @classmethod
    def load(cls, model: str, *, revision: str | None = None, trust_remote_code: bool = False,
             use_chat_template: bool | str = True) -> PromptTokenizer:
        from transformers import AutoTokenizer

        try:
            tok = AutoTokenizer.from_pretrained(model, revision=revision, trust_remote_code=trust_remote_code)
        except Exception as err:  # noqa: BLE001 - missing, corrupt or unknown tokenizers raise many types
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            if isinstance(err, (KeyError, TypeError, IndexError, AttributeError)):  # a file's value of the wrong shape
                first = f"{type(err).__name__}: {first} (a value in its tokenizer_config.json or tokenizer.json)"
            raise UserError(f"cannot load the tokenizer of {model!r}: {first}") from None
        return cls(tok, use_chat_template=use_chat_template, source=model)

    # --- plain text <-> ids -------------------------------------------------------------
    def encode(self, text: str, *, add_special_tokens: bool = False) -> list[int]:
        return list(self.hf.encode(text, add_special_tokens=add_special_tokens))

    def count(self, text: str, *, add_special_tokens: bool = False) -> int:
        return len(self.encode(text, add_special_tokens=add_special_tokens))

    def decode(self, ids: list[int] | tuple[int, ...]) -> str:
        return self.hf.decode(list(ids), skip_special_tokens=True)

    @property
    def eos_token_ids(self) -> tuple[int, ...]:
        ids = set()
        if self.hf.eos_token_id is not None:
            ids.add(int(self.hf.eos_token_id))
        return tuple(sorted(ids))

    # --- prompts ------------------------------------------------------------------------
    def frame(self, before_document: str, after_document: str, answer_prefix: str = "") -> ChatFrame:
        """Text around the document. With a chat template the user turn is
        `before_document + document + after_document` and the assistant turn starts after it; without
        one, `answer_prefix` follows the question (RULER's base-model style)."""
        if self.use_chat_template:
            try:
                rendered = self.hf.apply_chat_template(
                    [{"role": "user", "content": before_document + _DOC + after_document}],
                    tokenize=False, add_generation_prompt=True,
                )
            except Exception as err:  # noqa: BLE001 - Jinja syntax, raise_exception(), undefined names ...
                first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                raise UserError(f"the chat template of {self.source or 'the model'} cannot render a prompt "
                                f"({type(err).__name__}: {first}); fix it, or run with --chat-template off") from None
            if not isinstance(rendered, str) or rendered.count(_DOC) != 1:
                raise UserError(f"the chat template of {self.source or 'the model'} does not keep the "
                                "user message intact; rerun with --chat-template off")
            head, tail = rendered.split(_DOC)
            return ChatFrame(head=head, tail=tail, add_special_tokens=False)
        tail = after_document + (("\n" + answer_prefix) if answer_prefix else "")
        return ChatFrame(head=before_document, tail=tail, add_special_tokens=True)

    def build(self, frame: ChatFrame, document: str) -> PromptIds:
        """Token ids of head + document + tail, split after the document.

        The prefix is tokenized on its own so that every question on the same document shares
        exactly the same prefix ids; the suffix is whatever the whole text adds after it, so the
        ids stay those of the whole text whenever the tokenizer does not merge across the cut."""
        prefix_text = frame.head + document
        prefix = self.encode(prefix_text, add_special_tokens=frame.add_special_tokens)
        whole = self.encode(prefix_text + frame.tail, add_special_tokens=frame.add_special_tokens)
        if whole[: len(prefix)] == prefix:
            suffix = whole[len(prefix):]
        else:
            # A merge across the cut: keep the prefix shareable and tokenize the tail alone.
            suffix = self.encode(frame.tail)
        head_len = len(self.encode(frame.head, add_special_tokens=frame.add_special_tokens)) if frame.head else (
            1 if frame.add_special_tokens and self.hf.bos_token_id is not None else 0)
        return PromptIds(ids=tuple(prefix + suffix), prefix_len=len(prefix), document_start=head_len)

    def fingerprint(self) -> dict[str, JsonValue]:
        """What must match between the reference and a quantized artifact's tokenizer."""
        vocab = self.hf.get_vocab()
        specials = {name: getattr(self.hf, name, None) for name in ("bos_token", "eos_token", "unk_token", "pad_token")}
        return {"vocab_size": len(vocab), "vocab_sha256": sha256_json(sorted(vocab.items(), key=lambda kv: kv[1])),
                "special_tokens": {k: v for k, v in specials.items() if v is not None}}

    def chat_template_sha256(self) -> str | None:
        if not self.has_chat_template:
            return None
        return sha256_json(self.hf.chat_template)
