"""A llama.cpp context as a ContextSession: the frozen ids fed through `llama_decode` on a batch
filled here, the cache cropped with `llama_memory_seq_rm`, decoding by the loop every engine shares.

Prefill batches hold at least `GGUFSettings.prefill_rows` query rows (64 where llama.cpp's CPU flash
attention has a tiled kernel): a question appended to a kept context, or the short tail of a long
prompt, is fed again with the cached tokens just before it (cut and recomputed) until it is 64 rows.
The tiled kernel computes each row alone, so the recomputed tokens come out as they were, and a
token's numbers no longer depend on where its prompt was split: an appended question's logits are
the fresh whole prompt's, bit for bit (SmolLM2 Q4_K_M after 8K tokens: 3.6 apart before, fed as 22
rows to the row-at-a-time kernel; 3.2x faster now, benchmarks/llamacpp_settings.py). Decode steps stay
one row."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from qlongbench import memory as qmem
from qlongbench.backends.session import ContextSession, decode_loop, decode_rows
from qlongbench.backends.llama_lib import _last_engine_error
from qlongbench.types import Generation, GenerationConfig

PREFILL_ATTENTION = "flash_attn_tiled"
"""BackendInfo.attention of a llama.cpp precision whose prefill batches hold at least 64 rows (runs
made before recorded None, their appended questions computed by the row-at-a-time kernel)."""


def prefill_chunks(n_new: int, n_cached: int, n_batch: int, min_rows: int) -> tuple[int, list[int]]:
    """How to feed `n_new` tokens after `n_cached` ones: (cached tokens to cut and feed again, the
    batch sizes of what is fed). Each batch holds at most n_batch rows and, where the tokens allow, at
    least min_rows: a short feed takes cached tokens before it, a short last batch takes rows from the
    one before. min_rows 1 (or above n_batch // 2, where the two cannot both hold) feeds plain
    n_batch batches."""
    if n_new <= 0:
        return 0, []
    pad = 1 < min_rows and 2 * min_rows <= n_batch
    back = min(max(0, min_rows - n_new), n_cached) if pad else 0
    total = n_new + back
    sizes = [min(n_batch, total - i) for i in range(0, total, n_batch)]
    if pad and len(sizes) > 1 and sizes[-1] < min_rows:
        moved = min_rows - sizes[-1]
        sizes[-2] -= moved
        sizes[-1] += moved
    return back, sizes


class GGUFSession(ContextSession):
    """The backend's one llama.cpp context as a session (sequence 0). Opening a session clears the
    KV cache; a previous session of the same backend is closed by it."""

    def __init__(self, backend: Any):
        """backend: the GGUFBackend whose one llama.cpp context this session drives."""
        self.b = backend
        self.lc = backend.llama_cpp
        if backend.active is not None:
            backend.active.closed = True
        backend.active = self
        self.closed = False
        self._ids: list[int] = []
        self._last_logits: Any = None
        self.refed = 0
        """Cached tokens the last feed cut and fed again to fill its first batch (prefill_chunks)."""
        if backend.ctx_ptr is not None:
            self.lc.llama_memory_clear(self.lc.llama_get_memory(backend.ctx_ptr), True)
        # Peak RSS per prompt on CPU; llama.cpp's GPU buffers are invisible to torch's allocator.
        self._cpu = backend.settings.n_gpu_layers == 0
        if self._cpu:
            qmem.reset_peak("cpu")

    def _check(self) -> None:
        if self.closed:
            raise RuntimeError("this GGUF session was closed (a newer session of the backend took its context)")

    def _decode(self, ids: Sequence[int], all_logits: bool, prefill: bool = True) -> Any:
        """Feed ids after the cached ones; float32 logits of every fed position, or of the last. A
        prefill is fed in batches of at least `prefill_rows` (prefill_chunks: cached tokens before a
        short feed are cut and fed again, where the cut keeps the sliding window); a decode step is
        one row. `self.refed` is the number of cached tokens fed again."""
        import numpy as np

        self._check()
        hook = self.b.ctx.fault_hook
        if hook is not None:
            hook("forward", n_tokens=len(self._ids) + len(ids))
        if self.b.ensure_context(len(self._ids) + len(ids)) and self._ids:
            # A bigger context replaced the old one: refill it with what the session held.
            held, self._ids = self._ids, []
            self._decode(held, all_logits=False)
        rows_min = self.b.settings.prefill_rows if prefill else 1
        back, sizes = prefill_chunks(len(ids), len(self._ids), self.b.n_batch, rows_min)
        if back and not self.window_kept(len(self._ids) - back):
            back, sizes = prefill_chunks(len(ids), 0, self.b.n_batch, rows_min)
        if back:
            ids = self._ids[-back:] + [int(t) for t in ids]
            self._cut(len(self._ids) - back)
        self.refed = back
        rows = []
        last = None
        start = 0
        for size in sizes:
            part = [int(t) for t in ids[start:start + size]]
            start += size
            n = len(self._ids)
            self._submit([(tok, n + i, 0, all_logits or i == len(part) - 1) for i, tok in enumerate(part)])
            self._ids.extend(part)
            if all_logits:
                ptr = self.lc.llama_get_logits(self.b.ctx_ptr)
                rows.append(np.ctypeslib.as_array(ptr, shape=(len(part) * self.b.n_vocab,))
                            .reshape(len(part), self.b.n_vocab).copy())
            else:
                last = self._logits_at(-1)
        if all_logits:
            out = np.concatenate(rows)[back:] if rows else np.zeros((0, self.b.n_vocab), dtype=np.float32)
            self._last_logits = out[-1] if len(out) else self._last_logits
            return out
        self._last_logits = last if last is not None else self._last_logits
        return last

    def _submit(self, tokens: Sequence[tuple[int, int, int, bool]]) -> None:
        """One llama_decode of (token, position, sequence, wants logits) entries (at most n_batch)."""
        batch = self.b.batch
        batch.n_tokens = len(tokens)
        for i, (tok, pos, seq, logits) in enumerate(tokens):
            batch.token[i] = tok
            batch.pos[i] = pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq
            batch.logits[i] = logits
        rc = self.lc.llama_decode(self.b.ctx_ptr, batch)
        if rc == 1:
            raise MemoryError(f"llama.cpp found no KV-cache slot for {len(tokens)} tokens at position {tokens[0][1]}")
        if rc != 0:
            raise RuntimeError(f"llama_decode failed with code {rc}: {_last_engine_error()}")

    def _logits_at(self, i: int) -> Any:
        """A float32 copy of the logits of the last batch's i-th entry."""
        import numpy as np

        return np.ctypeslib.as_array(self.lc.llama_get_logits_ith(self.b.ctx_ptr, i), shape=(self.b.n_vocab,)).copy()

    def forward_all(self, ids: Sequence[int]) -> Any:
        """Append ids; float32 logits [len(ids), vocab] at each of their positions."""
        return self._decode(ids, all_logits=True)

    def extend(self, ids: Sequence[int]) -> float:
        t0 = time.perf_counter()
        if ids:
            self._decode(ids, all_logits=False)
        return time.perf_counter() - t0

    def window_kept(self, n: int) -> bool:
        """A sliding layer's cache without swa_full keeps only about its window (plus a batch) of the
        latest positions: cut below them, llama.cpp leaves it empty and would read nothing (measured on
        Gemma 3: a crop from 2,048 to 1,000 tokens changed the next token)."""
        if n == 0 or self.b.ctx_ptr is None or not self.b.n_swa or self.b.opts.swa_full:
            return True
        low = self.lc.llama_memory_seq_pos_min(self.lc.llama_get_memory(self.b.ctx_ptr), 0)
        return 0 <= low <= max(0, n - self.b.n_swa)

    def _clear(self) -> None:
        self._check()
        self.lc.llama_memory_clear(self.lc.llama_get_memory(self.b.ctx_ptr), True)
        self._ids, self._last_logits = [], None

    def _cut(self, n: int) -> None:
        self._check()
        if self.b.ctx_ptr is not None:
            ok = self.lc.llama_memory_seq_rm(self.lc.llama_get_memory(self.b.ctx_ptr), 0, n, -1)
            if not ok:
                raise RuntimeError("llama.cpp could not remove tokens from this model's cache")
        del self._ids[n:]
        self._last_logits = None

    def cache_bytes(self) -> int:
        """Bytes of this sequence's KV state (llama.cpp's own serialised size of the cells in use)."""
        if self.b.ctx_ptr is None or not self._ids:
            return 0
        return int(self.lc.llama_state_seq_get_size(self.b.ctx_ptr, 0))

    def _next_logits(self) -> Any:
        if self._last_logits is None:
            last = self._ids[-1]
            self.crop(len(self._ids) - 1)
            self._decode([last], all_logits=False)
        return self._last_logits

    def generate(self, ids: Sequence[int], cfg: GenerationConfig) -> Generation:
        import numpy as np

        self._check()
        start = len(self._ids)
        if not ids and start == 0:
            raise ValueError("cannot generate from an empty prompt")
        prefill = self.extend(ids) if ids else 0.0
        prefilled = len(ids) + self.refed if ids else 0
        kv_bytes = self.cache_bytes()
        n_prompt = len(self._ids)
        logits = self._next_logits()
        eos = self.b.eos if cfg.stop_on_eos else set()
        decoded = decode_loop(logits, lambda tok: self._decode([tok], all_logits=False, prefill=False), cfg, eos,
                              argmax=lambda a: int(np.argmax(a)), to_numpy=lambda a: a)
        out, finish, decode = list(decoded.tokens), decoded.finish, decoded.seconds
        peak, peak_source = qmem.read_peak("cpu") if self._cpu else (None, None)
        self.crop(start)
        if self._cpu:
            qmem.reset_peak("cpu")
        return Generation(text=self.b.ctx.tokenizer.decode(out), token_ids=tuple(out), n_prompt_tokens=n_prompt,
                          finish_reason=finish, prefill_seconds=prefill, decode_seconds=decode,
                          n_prefilled_tokens=prefilled, kv_cache_bytes=kv_bytes, peak_bytes=peak,
                          peak_source=peak_source)

    def generate_many(self, questions: Sequence[Sequence[int]], cfgs: Sequence[GenerationConfig]) -> list[Generation]:
        """The questions decoded together as sequences 1..n of a unified cache, each a copy of the
        context's sequence 0 that shares its cells (`llama_memory_seq_cp` copies no keys or values):
        the questions are fed in one batch, then one token per live row per `llama_decode`. Only
        when the backend was made for rows (`LoadContext.decode_rows`); otherwise one after another.
        llama.cpp's kernels see the batch, so each Generation says how many rows it decoded with.
        Prefill and decode wall times are the batch's, shared equally; KV bytes are each row's own
        sequence (the context's cells and its question's), as on the one-row path."""
        if len(questions) != len(cfgs):
            raise ValueError("one generation config per question")
        self._check()
        start = len(self._ids)
        n = len(questions)
        if (n < 2 or n > self.b.rows or not start or not all(questions) or n > self.b.n_batch
                or any(c.max_new_tokens <= 0 for c in cfgs)):
            return super().generate_many(questions, cfgs)
        need = start + sum(len(q) + c.max_new_tokens for q, c in zip(questions, cfgs))
        if self.b.opts.n_ctx and need > self.b.opts.n_ctx:  # a fixed context too small for all rows at once
            return super().generate_many(questions, cfgs)
        t0 = time.perf_counter()
        if self.b.ensure_context(need):  # a bigger context: refill the context (counted as the first row's prefill)
            held, self._ids = self._ids, []
            self._decode(held, all_logits=False)
        grown = time.perf_counter() - t0
        hook = self.b.ctx.fault_hook
        if hook is not None:
            hook("forward", n_tokens=need)
        mem = self.lc.llama_get_memory(self.b.ctx_ptr)
        if self._cpu:
            qmem.reset_peak("cpu")
        try:
            return self._generate_rows(questions, cfgs, mem, grown)
        finally:
            for r in range(1, n + 1):
                self.lc.llama_memory_seq_rm(mem, r, -1, -1)

    def _generate_rows(self, questions: Sequence[Sequence[int]], cfgs: Sequence[GenerationConfig], mem: Any,
                       grown: float) -> list[Generation]:
        import numpy as np

        start, n = len(self._ids), len(questions)
        t0 = time.perf_counter()
        for r in range(1, n + 1):
            self.lc.llama_memory_seq_cp(mem, 0, r, -1, -1)
        entries = [(int(tok), start + i, r, i == len(q) - 1)
                   for r, q in enumerate(questions, start=1) for i, tok in enumerate(q)]
        firsts: list[Any] = []
        first = 0
        for size in prefill_chunks(len(entries), 0, self.b.n_batch, self.b.settings.prefill_rows)[1]:
            part = entries[first:first + size]
            first += size
            self._submit(part)
            firsts.extend(self._logits_at(i) for i, e in enumerate(part) if e[3])
        prefill = time.perf_counter() - t0
        kv_bytes = [int(self.lc.llama_state_seq_get_size(self.b.ctx_ptr, r)) for r in range(1, n + 1)]
        pos = [start + len(q) for q in questions]

        def step(live: list[int], tokens: list[int]) -> list[Any]:
            self._submit([(tok, pos[i], i + 1, True) for i, tok in zip(live, tokens)])
            for i in live:
                pos[i] += 1
            return [self._logits_at(j) for j in range(len(live))]

        eos = self.b.eos
        decoded, seconds = decode_rows(firsts, step, cfgs, [eos if c.stop_on_eos else set() for c in cfgs],
                                       argmax=lambda a: int(np.argmax(a)), to_numpy=lambda a: a)
        peak, peak_source = qmem.read_peak("cpu") if self._cpu else (None, None)
        if self._cpu:
            qmem.reset_peak("cpu")
        return [Generation(text=self.b.ctx.tokenizer.decode(list(d.tokens)), token_ids=d.tokens,
                           n_prompt_tokens=start + len(q), finish_reason=d.finish,
                           prefill_seconds=prefill / n + (grown if i == 0 else 0.0), decode_seconds=seconds / n,
                           n_prefilled_tokens=len(q), kv_cache_bytes=kv, peak_bytes=peak, peak_source=peak_source,
                           decode_rows=n)
                for i, (d, q, kv) in enumerate(zip(decoded, questions, kv_bytes))]

    def close(self) -> None:
        if not self.closed and self.b.ctx_ptr is not None:
            self.lc.llama_memory_clear(self.lc.llama_get_memory(self.b.ctx_ptr), True)
        self.closed = True
        if self.b.active is self:
            self.b.active = None
        self._last_logits = None
