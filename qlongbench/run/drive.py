"""Driving one loaded precision over its samples: text tasks through a context session (each shared
context prefilled once) or length-bucketed batches, log-prob tasks through the engine's log-prob
passes reduced by the task's scorer. Engine failures become (status, message) results, never a
crash of the sweep."""

from __future__ import annotations

import gc
import logging
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from qlongbench import memory as qmem
from qlongbench.backends.base import Backend
from qlongbench.run.scheduler import Batch, PrefixGroup, common_prefix_len, group_by_prefix, plan_batches
from qlongbench.tasks.base import LogprobRole, Task
from qlongbench.types import Generation, GenerationConfig, Sample, ScoredGeneration, TokenPrompt

if TYPE_CHECKING:  # numpy loads inside the log-prob pass
    from numpy.typing import NDArray

log = logging.getLogger(__name__)

Outcome = tuple[Sample, "Generation | ScoredGeneration | None", str, "str | None"]
"""(sample, what the engine produced, status ok/oom/error, error message)."""


def generate(backend: Backend, samples: Sequence[Sample], gen_cfgs: dict[str, GenerationConfig], *,
             reuse: str, batch_size: int, rows: int = 1) -> Iterator[Outcome]:
    """Exact reuse (default): one cache per precision, cropped to the common prefix between
    contexts, so shared contexts are prefilled once; the ids are the same as a fresh prompt's.
    With reuse="none" every sample is prefilled from scratch in a fresh session (the naive
    harness, kept for benchmarks and equality tests), its context and its question forwarded
    apart as the exact path does (a quantized KV cache stores a forward's tokens only after it, so
    where a prompt is split is part of what it computes). With batch_size > 1, prompts that share no
    context are answered in length-bucketed batches by engines that batch invariantly. The questions
    of one context go to the session `rows` at a time (`ContextSession.generate_many`: decoded
    together by engines that can, one after another by the others)."""
    if reuse == "none":
        plan: list[PrefixGroup | Batch] = [PrefixGroup(tuple(s.prompt_ids[: s.prefix_len]), (s,)) for s in samples]
    else:
        batches = backend.batch_invariant
        plan = plan_batches(group_by_prefix(samples), batch_size if batches else 1)
    sess = None
    for item in plan:
        answered: set[str] = set()
        try:
            if isinstance(item, Batch):
                cfg = gen_cfgs[item.samples[0].task]
                if any(gen_cfgs[s.task] != cfg for s in item.samples):
                    raise ValueError("a batch mixes generation configs")
                gens = backend.generate_batch([TokenPrompt.of(s) for s in item.samples], cfg)
                for s, gen in zip(item.samples, gens):
                    answered.add(s.sample_id)
                    yield s, gen, "ok", None
                continue
            if sess is None or reuse == "none":
                if sess is not None:
                    sess.close()
                sess = backend.session()
            keep = common_prefix_len(sess.tokens, item.prefix)
            if not sess.worth_keeping(keep, len(item.prefix) - keep):
                keep = 0
            sess.crop(keep)
            prefill = sess.extend(item.prefix[keep:]) if len(item.prefix) > keep else 0.0
            for first in range(0, len(item.samples), max(1, rows)):
                chunk = item.samples[first:first + max(1, rows)]
                gens = sess.generate_many([s.prompt_ids[len(item.prefix):] for s in chunk],
                                          [gen_cfgs[s.task] for s in chunk])
                for i, (s, gen) in enumerate(zip(chunk, gens), start=first):
                    if i == 0:
                        gen = gen.model_copy(update={"prefill_seconds": gen.prefill_seconds + prefill,
                                                     "n_prefilled_tokens": gen.n_prefilled_tokens + len(item.prefix) - keep})
                    answered.add(s.sample_id)
                    yield s, gen, "ok", None
        except Exception as err:  # noqa: BLE001 - an engine failure becomes a record, not a crash
            if sess is not None:
                sess.close()
                sess = None
            status, message = engine_failure(err, item.samples[0].sample_id)
            for s in item.samples:
                if s.sample_id not in answered:
                    yield s, None, status, message
    if sess is not None:
        sess.close()


def score_logprobs(backend: Backend, sample: Sample, task: Task, role: LogprobRole,
                   keep: Callable[[dict[str, NDArray[Any]]], None]) -> ScoredGeneration:
    """One log-prob pass over a sample: the engine's chunks fed to the task's scorer; what a
    reference keeps is handed to `keep` (the run directory stores it)."""
    scorer = task.logprob_scorer(sample, role)
    device = str(backend.device)
    qmem.reset_peak(device)
    engine_seconds = 0.0
    it = backend.iter_logprobs(list(sample.prompt_ids), scorer.chunk)
    while True:
        t0 = time.perf_counter()
        chunk = next(it, None)
        engine_seconds += time.perf_counter() - t0
        if chunk is None:
            break
        scorer.feed(chunk.start, chunk.logprobs)
    score, kept = scorer.finish()
    if role.keep and kept is not None:
        keep(kept)
    peak, source = qmem.read_peak(device)
    n = len(sample.prompt_ids)
    gen = Generation(text="", token_ids=(), n_prompt_tokens=n, finish_reason="length", prefill_seconds=engine_seconds,
                     decode_seconds=0.0, n_prefilled_tokens=n, peak_bytes=peak, peak_source=source)
    return ScoredGeneration(generation=gen, score=score)


def engine_failure(err: BaseException, where: str) -> tuple[str, str]:
    """An engine exception as a record's (status, one-line error): oom or error. Logged, and the
    memory it held freed, so the sweep goes on with the next cell."""
    status = "oom" if is_oom(err) else "error"
    log.error("%s on %s: %s", status, where, err)
    log.debug("%s", traceback.format_exc())
    free_memory()
    return status, one_line(err)


def one_line(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0] if text else 'no message'}"


def is_oom(err: BaseException) -> bool:
    """Out of memory on any device: MemoryError, torch's OutOfMemoryError, the CPU allocator's
    'can't allocate memory', llama.cpp's allocation failures."""
    if isinstance(err, MemoryError) or type(err).__name__ == "OutOfMemoryError":
        return True
    text = str(err).lower()
    return any(s in text for s in ("out of memory", "failed to allocate", "can't allocate memory",
                                   "cannot allocate memory", "std::bad_alloc"))


def free_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass
