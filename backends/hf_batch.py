"""transformers: independent prompts answered in one left-padded batch (attention mask + explicit
positions, so each row computes what it would alone). Worth it on a GPU; the runner batches only
when --batch-size > 1 and the engine's numbers do not depend on the batch."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from qlongbench.backends.session import sample_token
from qlongbench.memory import sync_device
from qlongbench.types import Generation, GenerationConfig, TokenPrompt


def generate_batch(self: Any, prompts: Sequence[TokenPrompt], cfg: GenerationConfig) -> list[Generation]:
    """Independent prompts in one left-padded batch (attention mask + explicit positions, so
    each row computes what it would alone). Worth it on a GPU; the runner batches only when
    --batch-size > 1. Timings and KV bytes are the batch's, shared equally by its rows."""
    import numpy as np
    import torch
    from transformers import DynamicCache

    n, width = len(prompts), max(len(p.ids) for p in prompts)
    ids = torch.full((n, width), self.pad_id(), dtype=torch.long)
    mask = torch.zeros((n, width), dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, width - len(p.ids):] = torch.tensor(p.ids, dtype=torch.long)
        mask[i, width - len(p.ids):] = 1
    ids, mask = ids.to(self.device), mask.to(self.device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache(config=self.model.config)
    hook = self.ctx.fault_hook
    if hook is not None:
        hook("forward", n_tokens=width)

    def forward(x: Any, pos: Any) -> Any:
        with torch.inference_mode():
            out = self.model(input_ids=x, attention_mask=mask, position_ids=pos,
                             **{self.cache_kwarg: cache}, use_cache=True, logits_to_keep=1)
        return out.logits[:, -1].float()

    t0 = time.perf_counter()
    logits = forward(ids, positions)
    sync_device(self.device)
    prefill = time.perf_counter() - t0
    kv = sum(int(t.nbytes) for layer in cache.layers for t in (layer.keys, layer.values) if t is not None)
    eos = self.eos_ids() if cfg.stop_on_eos else set()
    rngs = [np.random.default_rng(cfg.seed) for _ in prompts] if cfg.do_sample else None
    tokens: list[list[int]] = [[] for _ in prompts]
    finish = ["length"] * n
    live = [cfg.max_new_tokens > 0] * n
    pos = positions[:, -1:]
    t0 = time.perf_counter()
    while any(live):
        chosen = torch.argmax(logits, dim=-1).tolist() if rngs is None else [
            sample_token(row, cfg, rng) for row, rng in zip(logits.cpu().numpy(), rngs)]
        for i, tok in enumerate(chosen):
            if not live[i]:
                continue
            if tok in eos:
                live[i], finish[i] = False, "eos"
                continue
            tokens[i].append(tok)
            if len(tokens[i]) == cfg.max_new_tokens:
                live[i] = False
        if not any(live):
            break
        feed = torch.tensor([[t] for t in chosen], dtype=torch.long, device=self.device)
        mask = torch.cat([mask, torch.ones((n, 1), dtype=mask.dtype, device=self.device)], dim=1)
        pos = pos + 1
        logits = forward(feed, pos)
    sync_device(self.device)
    decode = time.perf_counter() - t0
    return [Generation(text=self.ctx.tokenizer.decode(t), token_ids=tuple(t), n_prompt_tokens=len(p.ids),
                       finish_reason=f, prefill_seconds=prefill / n, decode_seconds=decode / n,
                       n_prefilled_tokens=len(p.ids), kv_cache_bytes=kv // n)
            for p, t, f in zip(prompts, tokens, finish)]
