"""Builds a tiny Llama locally: a SentencePiece BPE tokenizer trained on text generated here, and
a random-init LlamaForCausalLM saved as safetensors. No network."""

from __future__ import annotations

import random
from pathlib import Path

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def corpus_lines(n: int = 6000, seed: int = 0) -> list[str]:
    from qlongbench.tasks.languages import languages

    rng = random.Random(seed)
    langs = list(languages().values())
    lines = []
    for i in range(n):
        lang = langs[i % len(langs)]
        lines.append(lang.filler(rng))
        if i % 7 == 0:
            lines.append(lang.needle.format(key=rng.choice(lang.keys), value=rng.randint(10**6, 10**7 - 1)))
            lines.append(lang.question.format(key=rng.choice(lang.keys)) + " " + lang.instruction)
    return lines


def train_tokenizer(out_dir: Path, vocab_size: int = 2048) -> None:
    import sentencepiece as spm

    out_dir.mkdir(parents=True, exist_ok=True)
    text = out_dir / "corpus.txt"
    text.write_text("\n".join(corpus_lines()), encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(text), model_prefix=str(out_dir / "tokenizer"), vocab_size=vocab_size, model_type="bpe",
        byte_fallback=True, character_coverage=0.9995, normalization_rule_name="identity",
        split_digits=True, bos_id=1, eos_id=2, unk_id=0, pad_id=-1, num_threads=2, minloglevel=2,
        input_sentence_size=200000, shuffle_input_sentence=True, hard_vocab_limit=False,
    )
    text.unlink()


def build_tiny_llama(out_dir: Path, *, hidden: int = 64, layers: int = 2, heads: int = 4, kv_heads: int = 2,
                     intermediate: int = 256, max_positions: int = 8192, chat_template: bool = False,
                     seed: int = 0, initializer_range: float = 0.02) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, LlamaTokenizer

    out_dir = Path(out_dir)
    sp_dir = out_dir / "_sp"
    train_tokenizer(sp_dir)
    tok = LlamaTokenizer.from_pretrained(str(sp_dir))
    if chat_template:
        tok.chat_template = CHAT_TEMPLATE
    tok.save_pretrained(str(out_dir))
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=intermediate,
                      num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
                      max_position_embeddings=max_positions, bos_token_id=1, eos_token_id=2,
                      tie_word_embeddings=False, rope_theta=10000.0, initializer_range=initializer_range)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg)
    model.save_pretrained(str(out_dir), safe_serialization=True)
    # llama.cpp's converter reads the SentencePiece model itself.
    (out_dir / "tokenizer.model").write_bytes((sp_dir / "tokenizer.model").read_bytes())
    for p in sp_dir.iterdir():
        p.unlink()
    sp_dir.rmdir()
    return out_dir
