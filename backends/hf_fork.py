"""Shared-prefix decoding for the transformers engines on CPU: the questions of one prefilled context
decoded together, one row per question, the context's keys and values read once per step.

How `HFSession.generate_many` answers R questions about its cached context (`decode_rows` > 1):
1. each question is prefilled on the session's own cache by the same forward as the one-row path
   (`generate`), so its keys, values and first logits are that path's; they are copied out (float32,
   exact from bf16) and the cache is cropped back to the context;
2. a `ForkedCache` is built: per layer, the context's float32 mirror (hf_mirror.MirrorLayer: views,
   not copied, not per row) and a small per-row buffer [rows, kv_heads, capacity, head_dim] holding
   each row's question and its answer tokens as they are fed;
3. the rows decode in lockstep, one forward per step with explicit position ids; each cache layer
   returns a `ForkedKV` and the attention (hf_attention.attend_forked) scores all rows' queries
   against the context in one product per KV head and each row against its own suffix, merged by
   their log-sum-exp. Rows that finish leave the batch.

Where this pays: a decode step reads the weights and the context's cache once for R rows instead of
R times. Where it differs: the linear layers see R rows and the attention sums in another order than
SDPA over one concatenated cache, so a near-tied greedy token can differ from the one-row path's (the
engine is not batch-invariant bit for bit); records say how many rows decoded together
(`decode_rows`) and `benchmarks/shared_prefix.py` counts the answers the batch shape moved. Only
engines that declare `batch_invariant` (not LLM.int8()) and hold a mirror cache (CPU, bf16/fp16/fp32
full attention, no quantized KV) decode together; others answer one question after another."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from qlongbench import memory as qmem
from qlongbench.backends.hf_attention import ForkedKV
from qlongbench.backends.hf_mirror import MirrorLayer
from qlongbench.backends.session import decode_rows
from qlongbench.types import Generation, GenerationConfig

if TYPE_CHECKING:  # hf.py imports this module at run time
    from qlongbench.backends.hf import HFSession

ROOM = 32
"""Suffix capacity is rounded up to a multiple of this many tokens."""


def forkable(sess: HFSession) -> bool:
    """Whether the session's questions can decode together: an engine whose numbers do not depend on
    the batch by declaration (`batch_invariant`), running the mirror cache (every layer a
    MirrorLayer: plain full attention, CPU, no quantized KV)."""
    b = sess.b
    return (b.batch_invariant and b.mirror_decode and not b.precision.kv
            and all(isinstance(layer, MirrorLayer) for layer in sess.cache.layers))


class _Rows:
    """Per-row suffix lengths, shared by every layer of a ForkedCache."""

    def __init__(self, lengths: Sequence[int], capacity: int, device: Any):
        import torch

        self.lengths = torch.tensor(list(lengths), dtype=torch.long, device=device)
        """Suffix tokens each row holds before the step's token."""
        self.positions = torch.arange(capacity, device=device)
        self.valid: Any = None
        """bool [rows, capacity]: the suffix keys each row sees during the step (its own token included)."""
        self.index: Any = None
        """[rows]: 0..rows-1, where each layer writes the step's token (made once per step, not per layer)."""

    def begin_step(self) -> None:
        import torch

        self.valid = self.positions[None, :] <= self.lengths[:, None]
        self.index = torch.arange(len(self.lengths), device=self.lengths.device)

    def end_step(self) -> None:
        self.lengths = self.lengths + 1

    def select(self, keep: Any) -> None:
        self.lengths = self.lengths[keep]


def _layer_class() -> type:
    from transformers.cache_utils import CacheLayerMixin

    class ForkedLayer(CacheLayerMixin):
        """One layer: the shared prefix (float32) and the rows' suffix buffers (float32)."""

        is_sliding = False

        def __init__(self, prefix: tuple[Any, Any], keys: Any, values: Any, rows: _Rows):
            super().__init__()
            self.prefix_keys, self.prefix_values = prefix
            self.keys, self.values, self.rows = keys, values, rows
            self.device = keys.device
            self.is_initialized = True

        def lazy_initialization(self, key_states: Any, value_states: Any) -> None:
            return None

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            if key_states.shape[2] != 1 or key_states.shape[0] != self.keys.shape[0]:
                raise ValueError("a forked cache takes one token per row")
            at = self.rows.index
            self.keys[at, :, self.rows.lengths] = key_states[:, :, 0].float()
            self.values[at, :, self.rows.lengths] = value_states[:, :, 0].float()
            kv = ForkedKV(self.prefix_keys, self.prefix_values, self.keys, self.values, self.rows.valid)
            return kv, kv  # type: ignore[return-value]

        def get_mask_sizes(self, *args: Any, **kwargs: Any) -> tuple[int, int]:
            return self.get_seq_length() + 1, 0

        def get_seq_length(self, *args: Any, **kwargs: Any) -> int:
            n = int(self.prefix_keys.shape[2])
            return n + int(self.rows.lengths.max()) if len(self.rows.lengths) else n

        def get_max_length(self) -> int:
            return -1

        def select(self, keep: Any) -> None:
            self.keys, self.values = self.keys[keep], self.values[keep]

    return ForkedLayer


def forked_cache(prefix: Sequence[tuple[Any, Any]], suffixes: Sequence[Sequence[tuple[Any, Any]]],
                 capacity: int, rows: _Rows) -> Any:
    """A transformers Cache whose layers hold `prefix[layer]` once and one suffix buffer row per
    question (suffixes[row][layer] = its question's K/V [1, kv_heads, n, head_dim])."""
    import torch
    from transformers.cache_utils import Cache

    layer_cls = _layer_class()
    layers = []
    for i, (pk, pv) in enumerate(prefix):
        shape = (len(suffixes), pk.shape[1], capacity, pk.shape[3])
        keys = torch.zeros(shape, dtype=torch.float32, device=pk.device)
        values = torch.zeros(shape, dtype=torch.float32, device=pk.device)
        for r, row in enumerate(suffixes):
            k, v = row[i]
            keys[r, :, : k.shape[2]] = k[0]
            values[r, :, : v.shape[2]] = v[0]
        layers.append(layer_cls((pk, pv), keys, values, rows))
    return Cache(layers=layers)


def _float32(layer: MirrorLayer) -> tuple[Any, Any]:
    import torch

    return (layer.keys, layer.values) if layer.keys.dtype == torch.float32 else layer.float32_views()


def answer_many(sess: HFSession, questions: Sequence[Sequence[int]], cfgs: Sequence[GenerationConfig]) -> list[Generation]:
    """`HFSession.generate_many`: rows decoded together where the session can fork, else each
    question as `generate` (ContextSession's default)."""
    from qlongbench.backends.session import ContextSession

    if len(questions) > 1 and len(questions) == len(cfgs) and sess.n_tokens and forkable(sess):
        return generate_rows(sess, questions, cfgs)
    return ContextSession.generate_many(sess, questions, cfgs)


def generate_rows(sess: HFSession, questions: Sequence[Sequence[int]], cfgs: Sequence[GenerationConfig]) -> list[Generation]:
    """Answer each question after the session's context, decoding the rows together; the session's
    cache ends as it started. Each row's prefill time and KV bytes are its own question's (as on the
    one-row path); decode time is the batch's, shared equally; peak memory is the batch's."""
    import torch

    start = sess.n_tokens
    if start == 0:
        raise ValueError("shared-prefix decoding needs a prefilled context")
    with torch.inference_mode():  # the cache's tensors are inference tensors
        return _generate_rows(sess, questions, cfgs, start)


def _generate_rows(sess: HFSession, questions: Sequence[Sequence[int]], cfgs: Sequence[GenerationConfig],
                   start: int) -> list[Generation]:
    import torch

    b = sess.b
    qmem.reset_peak(b.device)
    firsts, suffixes, prefill, kv_bytes = [], [], [], []
    for ids in questions:
        prefill.append(sess._prefill(ids) if ids else 0.0)
        kv_bytes.append(sess.cache_bytes())
        firsts.append(sess._next_logits())
        suffixes.append([(layer.keys[:, :, start:].to(torch.float32, copy=True),  # a copy, also at fp32:
                          layer.values[:, :, start:].to(torch.float32, copy=True))  # the buffer is reused
                         for layer in sess.cache.layers])
        sess.crop(start)
    prefix = [_float32(layer) for layer in sess.cache.layers]
    lengths = [len(ids) for ids in questions]
    need = max(n + c.max_new_tokens for n, c in zip(lengths, cfgs))
    rows = _Rows(lengths, -(-need // ROOM) * ROOM, b.device)
    cache = forked_cache(prefix, suffixes, int(rows.positions.shape[0]), rows)
    held = list(range(len(questions)))
    hook = b.ctx.fault_hook

    def step(live: list[int], tokens: list[int]) -> list[Any]:
        nonlocal held
        if live != held:
            keep = torch.tensor([held.index(i) for i in live], dtype=torch.long, device=b.device)
            for layer in cache.layers:
                layer.select(keep)
            rows.select(keep)
            held = list(live)
        if hook is not None:
            hook("forward", n_tokens=start + int(rows.lengths.max()) + 1)
        x = torch.tensor([[t] for t in tokens], dtype=torch.long, device=b.device)
        pos = (rows.lengths + start)[:, None]
        rows.begin_step()
        out = b.model(input_ids=x, position_ids=pos, **{b.cache_kwarg: cache}, use_cache=True, logits_to_keep=1)
        rows.end_step()
        logits = out.logits[:, -1].float()
        return [logits[j] for j in range(len(live))]

    eos = b.eos_ids()
    decoded, seconds = decode_rows(firsts, step, cfgs, [eos if c.stop_on_eos else set() for c in cfgs],
                                   argmax=lambda t: int(torch.argmax(t)), to_numpy=lambda t: t.float().cpu().numpy())
    sess._sync()
    peak, peak_source = qmem.read_peak(b.device)
    qmem.reset_peak(b.device)
    share = seconds / len(questions)
    return [Generation(text=b.ctx.tokenizer.decode(list(d.tokens)), token_ids=d.tokens, n_prompt_tokens=start + n,
                       finish_reason=d.finish, prefill_seconds=p, decode_seconds=share, n_prefilled_tokens=n,
                       kv_cache_bytes=kv, peak_bytes=peak, peak_source=peak_source, decode_rows=len(questions))
            for d, n, p, kv in zip(decoded, lengths, prefill, kv_bytes)]
