"""Each optional ability of a backend is declared once, as a method with a safe default on the base
class: no flag beside a method that could disagree with it."""

from __future__ import annotations

from qlongbench.spec.labels import parse_label
from qlongbench import registry
from qlongbench.backends.base import Backend
from qlongbench.backends.session import ContextSession
from qlongbench.spec.config import PrecisionSpec
from qlongbench.spec.labels import parse_precision
from qlongbench.types import Generation, GenerationConfig, TokenPrompt


def test_abilities_are_read_from_the_methods_each_engine_overrides():
    seen = {}
    for name in registry.names(registry.BACKENDS):
        cls = registry.backend_class(name)
        seen[cls.__name__] = (cls.returns_logprobs(), cls.builds_artifacts())
    assert seen == {"HFBackend": (True, False), "BnbBackend": (True, False), "GPTQBackend": (True, True),
                    "AWQBackend": (True, True), "FP8Backend": (True, False),
                    "GGUFBackend": (True, True), "VLLMBackend": (True, False), "VLLMGPTQBackend": (True, True),
                    "VLLMAWQBackend": (True, True)}


def test_the_base_class_declares_every_ability_with_a_safe_default():
    assert Backend.returns_logprobs() is False and Backend.builds_artifacts() is False
    assert Backend.noise_control(parse_precision(PrecisionSpec(name="bf16"))) is None
    for gone in ("supports_batches", "supports_logprobs", "memory"):
        assert gone not in vars(Backend), gone


class _Session(ContextSession):
    def __init__(self) -> None:
        self._ids: list[int] = []

    def extend(self, ids):
        self._ids.extend(ids)
        return 0.0

    def _cut(self, n):
        del self._ids[n:]

    def generate(self, ids, cfg):
        return Generation(text=str(len(ids)), token_ids=(), n_prompt_tokens=len(ids), finish_reason="length",
                          prefill_seconds=0.0, decode_seconds=0.0, n_prefilled_tokens=len(ids))


class _Plain(Backend):
    engine = "fake"
    description = "fake"

    def __init__(self) -> None:  # no model to load
        pass

    def info(self):
        raise NotImplementedError

    def session(self):
        return _Session()


def test_an_engine_that_does_not_batch_still_answers_a_batch_prompt_by_prompt():
    b = _Plain()
    assert b.batch_invariant is False and b.kv_formula_bytes(10) is None
    gens = b.generate_batch([TokenPrompt(ids=(1, 2)), TokenPrompt(ids=(1, 2, 3))], GenerationConfig(max_new_tokens=1))
    assert [g.text for g in gens] == ["2", "3"]


def test_an_engine_baseline_is_what_the_backend_declares_not_a_name_suffix(monkeypatch):
    from qlongbench.spec.precision import Precision
    from qlongbench.spec.references import choose_reference, pick_engine_baseline

    class Declares(_Plain):
        engine = "fake"

        @classmethod
        def full_precision_names(cls):
            return ("fake-full",)

    real = registry.backend_class
    monkeypatch.setattr(registry, "backend_class", lambda name: Declares if name.startswith("fake-") else real(name))
    fake = [Precision(label=n, weights=n, name=n, engine="fake") for n in ("fake-q4", "fake-full", "fake-bf16")]
    # fake-bf16 ends like a full-precision name but its backend does not declare it one.
    assert pick_engine_baseline(fake).label == "fake-full"
    # The reference is a name the reference engine declares, not one that looks like it.
    assert choose_reference(fake) is None and choose_reference([*fake, parse_label("fp32")]) == "fp32"
    assert Backend.full_precision_names() == ()
    assert registry.backend_class("gguf-q4_k_m").full_precision_names() == ("gguf-bf16", "gguf-f16")
