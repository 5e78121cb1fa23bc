#!/usr/bin/env python
"""qlongbench's KL estimators versus `llama-perplexity --kl-divergence` on the same GGUF files, the
same token ids and the same scored positions.

    scripts/build_llama_perplexity.sh                       # once: build/llama.cpp-<ver>/bin/...
    python scripts/kld_vs_llama_perplexity.py               # defaults below; ~15 min on 2 cores

What it does
1. llama-perplexity -m BASE -f TEXT -c CTX -b CTX --chunks N --kl-divergence-base base.kld
   (writes the token ids and the base's uint16-quantised log-probs of the scored positions), then
   llama-perplexity -m CAND --kl-divergence-base base.kld --kl-divergence for each candidate; its
   "Mean KLD", "Same top p" and "Mean Δp" are parsed.
2. The token ids are read back from base.kld (so the tokenisation is llama.cpp's own), cut into the
   same chunks (first token replaced by BOS when the vocabulary adds one, as llama-perplexity does),
   and every model's full-vocabulary logits at the same positions (n_ctx/2 .. n_ctx-2 of each chunk)
   are computed with llama-cpp-python and cached as float32 log-probs under WORKDIR/cache.
3. Per candidate: exact full-vocabulary KL; a Python replica of llama-perplexity's arithmetic (its
   uint16 base from base.kld, its -16 cut-off) on our candidate logits; the top-k + tail-bucket bound
   for k = 32 (today's default), 256, 1024; adaptive k by cumulative mass; and top-k + m sampled tail
   tokens (tasks/kld_estimate.py) over several seeds. Bytes per position and time per position of the
   reference and candidate side are measured with one thread.

Defaults: SmolLM2-135M-Instruct GGUFs in build/gguf (bf16 base; q8_0, q4_k_m, q2_k), and the
English licence texts shipped with Debian (/usr/share/common-licenses/{GPL-3,GFDL-1.3,MPL-2.0,
Apache-2.0}) concatenated as the prose.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tasks"))
import kld_estimate as ke  # pure numpy; loaded by path, whatever the package layout

PROSE_FILES = ["GPL-3", "GFDL-1.3", "MPL-2.0", "Apache-2.0"]
GGUF = Path("build/gguf")
BLOCK = 256  # rows reduced at a time


# --- llama-perplexity --------------------------------------------------------------------------------
def default_bin() -> str:
    import llama_cpp

    return f"build/llama.cpp-{llama_cpp.__version__}/bin/llama-perplexity"


def run_lp(cmd: list[str], log: Path, rerun: bool = False) -> str:
    line = " ".join(cmd)
    if not rerun and log.is_file() and log.read_text().split("\n", 1)[0] == line:
        print(f"  {Path(cmd[2]).name}: reusing {log}", flush=True)
        return log.read_text()
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    out = res.stdout + "\n" + res.stderr
    log.write_text(line + "\n\n" + out)
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({res.returncode}); see {log}")
    print(f"  {Path(cmd[2]).name}: {time.perf_counter() - t0:.1f} s", flush=True)
    return out


def parse_lp(out: str) -> dict[str, float]:
    def grab(pat: str) -> tuple[float, float]:
        mm = re.search(pat, out)
        if not mm:
            raise ValueError(f"llama-perplexity output lacks {pat!r}")
        return float(mm.group(1)), float(mm.group(2))

    kld, kld_se = grab(r"Mean\s+KLD:\s+([-\d.eE+]+)\s+±\s+([-\d.eE+]+)")
    top, top_se = grab(r"Same top p:\s+([-\d.]+)\s+±\s+([-\d.]+)\s*%")
    dp, dp_se = grab(r"Mean\s+Δp:\s+([-\d.]+)\s+±\s+([-\d.]+)\s*%")
    return {"kld": kld, "kld_se": kld_se, "same_top": top / 100, "same_top_se": top_se / 100,
            "delta_p": dp / 100, "delta_p_se": dp_se / 100}


def read_base_file(path: Path) -> dict:
    """llama-perplexity's --kl-divergence-base file: "_logits_", u32 n_ctx, i32 n_vocab, i32 n_chunk,
    i32 tokens[n_chunk*n_ctx], then per chunk (n_ctx-1-n_ctx/2) rows of nv uint16, nv = 2*((V+1)/2)+4:
    the first 4 uint16 are two floats (scale, min_log_prob), then V codes; log p = scale*code + min."""
    raw = path.read_bytes()
    if raw[:8] != b"_logits_":
        raise ValueError(f"{path} is not a llama-perplexity logits file")
    n_ctx, = np.frombuffer(raw, np.uint32, 1, 8)
    n_vocab, n_chunk = np.frombuffer(raw, np.int32, 2, 12)
    off = 20
    tokens = np.frombuffer(raw, np.int32, int(n_chunk) * int(n_ctx), off)
    off += tokens.nbytes
    nv = 2 * ((int(n_vocab) + 1) // 2) + 4
    rows = int(n_chunk) * (int(n_ctx) - 1 - int(n_ctx) // 2)
    codes = np.frombuffer(raw, np.uint16, rows * nv, off).reshape(rows, nv)
    head = np.ascontiguousarray(codes[:, :4]).view(np.float32)  # [rows, 2]
    return {"n_ctx": int(n_ctx), "n_vocab": int(n_vocab), "n_chunk": int(n_chunk), "tokens": tokens,
            "scale": head[:, 0].copy(), "min_log_prob": head[:, 1].copy(), "codes": codes[:, 4:4 + int(n_vocab)]}


# --- our logits ----------------------------------------------------------------------------------------
def scored_logprobs(model: Path, base: dict, threads: int, cache: Path) -> np.ndarray:
    """[n_chunk*(n_ctx-1-n_ctx/2), V] float32 log-probs at llama-perplexity's scored positions."""
    n_ctx, V, n_chunk = base["n_ctx"], base["n_vocab"], base["n_chunk"]
    first = n_ctx // 2
    per = n_ctx - 1 - first
    path = cache / f"{model.stem}.c{n_ctx}.n{n_chunk}.f32"
    meta = cache / f"{model.stem}.c{n_ctx}.n{n_chunk}.json"
    sha = hash_tokens(base["tokens"])
    if path.is_file() and meta.is_file() and json.loads(meta.read_text()).get("tokens") == sha:
        return np.memmap(path, np.float32, "r", shape=(n_chunk * per, V))
    import llama_cpp
    from scipy.special import log_softmax

    llm = llama_cpp.Llama(str(model), n_ctx=n_ctx, n_batch=n_ctx, n_ubatch=512, n_threads=threads,
                          n_threads_batch=threads, logits_all=True, flash_attn=False, verbose=False)
    add_bos = bool(llama_cpp.llama_vocab_get_add_bos(llama_cpp.llama_model_get_vocab(llm.model)))
    bos = llm.token_bos()
    out = np.memmap(path, np.float32, "w+", shape=(n_chunk * per, V))
    t0 = time.perf_counter()
    for c in range(n_chunk):
        ids = [int(t) for t in base["tokens"][c * n_ctx:(c + 1) * n_ctx]]
        if add_bos:
            ids[0] = bos  # llama-perplexity overwrites (not prepends) each chunk's first token
        llm.reset()
        llm.eval(ids)
        logits = np.asarray(llm.scores[first:n_ctx - 1], dtype=np.float64)
        out[c * per:(c + 1) * per] = log_softmax(logits, axis=1).astype(np.float32)
    out.flush()
    print(f"  {model.name}: logits of {n_chunk} chunks in {time.perf_counter() - t0:.1f} s (add_bos={add_bos})",
          flush=True)
    meta.write_text(json.dumps({"tokens": sha, "add_bos": add_bos}))
    del llm
    return np.memmap(path, np.float32, "r", shape=(n_chunk * per, V))


def hash_tokens(t: np.ndarray) -> str:
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(t, dtype=np.int32).tobytes()).hexdigest()


# --- estimators on the cached rows ----------------------------------------------------------------------
def blocks(n: int):
    for b0 in range(0, n, BLOCK):
        yield slice(b0, min(n, b0 + BLOCK))


def replica(base: dict, cand: np.ndarray, next_tok: np.ndarray) -> dict:
    """llama-perplexity's kl_divergence arithmetic (perplexity.cpp log_softmax with uint16 base) on
    our candidate log-probs: Σ_{log p_base > -16} p_base (log p_base - log q); same top; Δp on the
    actual next token = p_cand(tok) - p_base(tok)."""
    kl, same, dp = [], [], []
    for sl in blocks(cand.shape[0]):
        plb = base["scale"][sl, None] * base["codes"][sl].astype(np.float32) + base["min_log_prob"][sl, None]
        lq = np.asarray(cand[sl], dtype=np.float64)
        keep = plb > -16.0
        kl.append(np.sum(np.where(keep, np.exp(plb) * (plb - lq), 0.0), axis=1))
        same.append(np.argmax(plb, axis=1) == np.argmax(lq, axis=1))
        tok = next_tok[sl]
        rows = np.arange(len(tok))
        dp.append(np.exp(lq[rows, tok]) - np.exp(plb[rows, tok].astype(np.float64)))
    return {"kl": np.concatenate(kl), "same_top": np.concatenate(same), "delta_p_next": np.concatenate(dp)}


def exact(ref: np.ndarray, cand: np.ndarray, next_tok: np.ndarray) -> dict:
    kl, dp_next, dp_top, agree = [], [], [], []
    for sl in blocks(cand.shape[0]):
        lp = np.asarray(ref[sl], dtype=np.float64)
        lq = np.asarray(cand[sl], dtype=np.float64)
        kl.append(ke.kl_full(lp, lq))
        rows = np.arange(lp.shape[0])
        tok = next_tok[sl]
        dp_next.append(np.exp(lq[rows, tok]) - np.exp(lp[rows, tok]))
        t1 = np.argmax(lp, axis=1)
        dp_top.append(np.exp(lp[rows, t1]) - np.exp(lq[rows, t1]))
        agree.append(t1 == np.argmax(lq, axis=1))
    return {"kl": np.concatenate(kl), "delta_p_next": np.concatenate(dp_next), "delta_p_top": np.concatenate(dp_top),
            "top1": np.concatenate(agree)}


def tail_mass(ref: np.ndarray, k: int) -> float:
    tot = []
    for sl in blocks(ref.shape[0]):
        lp = np.asarray(ref[sl], dtype=np.float64)
        top = -np.partition(-lp, k - 1, axis=1)[:, :k]
        tot.append(1.0 - np.exp(top).sum(axis=1))
    return float(np.mean(np.concatenate(tot)))


def topk_sampled(ref: np.ndarray, k: int, draws: int, scheme: str, seed: int) -> ke.TailSampledRef:
    """One record per row with `draws` tail draws (split into seeds by the caller)."""
    rng = np.random.default_rng(seed)
    parts = [ke.reduce_reference(np.asarray(ref[sl]), k, draws, rng, scheme) for sl in blocks(ref.shape[0])]
    return ke.TailSampledRef(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                               ("indices", "logprobs", "tail_logmass", "sample_indices", "sample_logprobs")))


def candidate_side(rec: ke.TailSampledRef, cand: np.ndarray) -> dict:
    """Everything estimate_kl gathers from the candidate, for all draws at once."""
    lq, lq_tail, slq, top1 = [], [], [], []
    for sl in blocks(cand.shape[0]):
        c = np.asarray(cand[sl], dtype=np.float64)
        idx = rec.indices[sl].astype(np.int64)
        lq.append(np.take_along_axis(c, idx, axis=1))
        np.put_along_axis(c, idx, -np.inf, axis=1)
        lq_tail.append(ke._logsumexp_rows(c))
        slq.append(np.take_along_axis(c, rec.sample_indices[sl].astype(np.int64), axis=1))
        top1.append(np.argmax(np.asarray(cand[sl]), axis=1))
    return {"lq": np.concatenate(lq), "lq_tail": np.concatenate(lq_tail), "slq": np.concatenate(slq),
            "top1": np.concatenate(top1)}


def timing(ref: np.ndarray, cand: np.ndarray, k: int, m: int, scheme: str, rows: int = 512,
           repeats: int = 3) -> tuple[float, float]:
    """µs per position of reduce_reference and estimate_kl in blocks of 64 rows (one thread; best of
    `repeats`, since the machine may be shared)."""
    n = min(rows, ref.shape[0])
    r = np.array(ref[:n])
    c = np.array(cand[:n])
    best_r = best_c = float("inf")
    for rep in range(repeats):
        rng = np.random.default_rng(rep)
        t0 = time.perf_counter()
        recs = [ke.reduce_reference(r[b:b + 64], k, m, rng, scheme) for b in range(0, n, 64)]
        t1 = time.perf_counter()
        for b, rec in zip(range(0, n, 64), recs):
            ke.estimate_kl(rec, c[b:b + 64])
        t2 = time.perf_counter()
        best_r, best_c = min(best_r, t1 - t0), min(best_c, t2 - t1)
    return best_r / n * 1e6, best_c / n * 1e6


def adaptive_k(ref: np.ndarray, eps: float, k_max: int) -> np.ndarray:
    """Smallest k per row whose top-k mass reaches 1 - eps (capped at k_max)."""
    ks = []
    for sl in blocks(ref.shape[0]):
        lp = np.asarray(ref[sl], dtype=np.float64)
        part = -np.partition(-lp, k_max - 1, axis=1)[:, :k_max]
        part = -np.sort(-part, axis=1)
        cum = np.cumsum(np.exp(part), axis=1)
        ks.append(np.minimum(np.argmax(cum >= 1 - eps, axis=1) + 1 + (cum[:, -1] < 1 - eps) * k_max, k_max))
    return np.concatenate(ks)


def adaptive_bound(ref: np.ndarray, cand: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """Top-k + tail bucket bound with a per-row k (exact arithmetic; the record would be ragged)."""
    out = []
    for sl in blocks(ref.shape[0]):
        lp = np.asarray(ref[sl], dtype=np.float64)
        lq = np.asarray(cand[sl], dtype=np.float64)
        kk = ks[sl]
        kmax = int(kk.max())
        idx = np.argpartition(-lp, kmax - 1, axis=1)[:, :kmax]
        v = np.take_along_axis(lp, idx, axis=1)
        o = np.argsort(-v, axis=1)
        idx = np.take_along_axis(idx, o, axis=1)
        keep = np.arange(kmax)[None, :] < kk[:, None]
        tlp = np.take_along_axis(lp, idx, axis=1)
        tlq = np.take_along_axis(lq, idx, axis=1)
        head = np.sum(np.where(keep, np.exp(tlp) * (tlp - tlq), 0.0), axis=1)
        mask = np.zeros_like(lp, dtype=bool)
        np.put_along_axis(mask, idx, keep, axis=1)
        from scipy.special import logsumexp

        pt = logsumexp(np.where(mask, -np.inf, lp), axis=1)
        qt = logsumexp(np.where(mask, -np.inf, lq), axis=1)
        out.append(head + np.where(np.isfinite(pt), np.exp(pt) * (pt - qt), 0.0))
    return np.concatenate(out)


# --- main ------------------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=None, help="llama-perplexity (default build/llama.cpp-<ver>/bin/...)")
    ap.add_argument("--base", type=Path, default=GGUF / "smollm2-135m-bf16.gguf")
    ap.add_argument("--cand", nargs="+", type=Path,
                    default=[GGUF / f"smollm2-135m-{q}.gguf" for q in ("q8_0", "q4_k_m", "q2_k")])
    ap.add_argument("--text", type=Path, default=None, help="prose file (default: Debian licence texts)")
    ap.add_argument("--ctx", type=int, default=2048)
    ap.add_argument("--chunks", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seeds", type=int, default=5, help="repeats of each sampled estimator")
    ap.add_argument("--workdir", type=Path, default=Path("build/kld-cmp"))
    ap.add_argument("--k", default="1,8,16,32,64", help="top-k sizes combined with tail draws")
    ap.add_argument("--m", default="0,8,16,32,64", help="tail draws per position (iid)")
    ap.add_argument("--k-bound", default="256,1024", help="top-k sizes evaluated as a bucket bound only")
    ap.add_argument("--systematic", default="32:32", help="k:m evaluated with systematic draws")
    ap.add_argument("--timing-only", default="", metavar="K:M[:SCHEME],...",
                    help="only time these records on the cached rows (e.g. 32:0,32:32) and exit")
    ap.add_argument("--rerun", action="store_true", help="rerun llama-perplexity even if its log exists")
    ap.add_argument("--json", type=Path, default=None, help="write all figures here")
    args = ap.parse_args()

    wd = args.workdir
    (wd / "cache").mkdir(parents=True, exist_ok=True)
    lp_bin = args.bin or default_bin()
    text = args.text
    if text is None:
        text = wd / "prose.txt"
        text.write_text("\n\n".join(Path("/usr/share/common-licenses", f).read_text() for f in PROSE_FILES))
    common = ["-c", str(args.ctx), "-b", str(args.ctx), "-t", str(args.threads), "-fa", "off"]

    print("llama-perplexity:", flush=True)
    base_file = wd / f"base.c{args.ctx}.n{args.chunks}.kld"
    run_lp([lp_bin, "-m", str(args.base), "-f", str(text), "--chunks", str(args.chunks), *common,
            "--kl-divergence-base", str(base_file)], wd / "lp-base.log", args.rerun or not base_file.is_file())
    lp = {}
    for c in args.cand:
        out = run_lp([lp_bin, "-m", str(c), *common, "--kl-divergence-base", str(base_file), "--kl-divergence"],
                     wd / f"lp-{c.stem}.log", args.rerun)
        lp[c.stem] = parse_lp(out)

    base = read_base_file(base_file)
    n_ctx, first = base["n_ctx"], base["n_ctx"] // 2
    per = n_ctx - 1 - first
    next_tok = np.concatenate([base["tokens"][c * n_ctx + first + 1: (c + 1) * n_ctx]
                               for c in range(base["n_chunk"])]).astype(np.int64)
    print(f"{base['n_chunk']} chunks x {per} scored positions = {len(next_tok)}; vocab {base['n_vocab']}", flush=True)

    print("llama-cpp-python logits:", flush=True)
    ref = scored_logprobs(args.base, base, args.threads, wd / "cache")
    cands = {c.stem: scored_logprobs(c, base, args.threads, wd / "cache") for c in args.cand}

    if args.timing_only:
        print("time per position, one thread, best of 3 (reference side / candidate side), µs:")
        for spec in args.timing_only.split(","):
            f = spec.split(":")
            k, m, scheme = int(f[0]), int(f[1]), (f[2] if len(f) > 2 else "iid")
            tr, tc = timing(ref, next(iter(cands.values())), k, m, scheme)
            print(f"   top{k}+{m} {scheme:10s} {tr:8.0f} {tc:8.0f}", flush=True)
        try:  # today's tasks/kld.py path, for comparison
            from qlongbench.tasks import kld as old

            n = 512
            r, c = np.array(ref[:n]), np.array(next(iter(cands.values()))[:n])
            best_r = best_c = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                tops = [old.reduce_topk(np.array(r[b:b + 64]), 32) for b in range(0, n, 64)]
                t1 = time.perf_counter()
                for b, t in zip(range(0, n, 64), tops):
                    old.compare_with_reference(t, np.array(c[b:b + 64]))
                t2 = time.perf_counter()
                best_r, best_c = min(best_r, t1 - t0), min(best_c, t2 - t1)
            print(f"   tasks/kld.py top32 {best_r / n * 1e6:8.0f} {best_c / n * 1e6:8.0f}")
        except ImportError as err:
            print(f"   (tasks/kld.py not importable: {err})")
        return

    results: dict = {"n_positions": len(next_tok), "n_ctx": n_ctx, "n_chunk": base["n_chunk"],
                     "vocab": base["n_vocab"], "text": str(text), "tail_mass": {}, "candidates": {}}
    for k in (32, 256, 1024):
        results["tail_mass"][k] = tail_mass(ref, k)
    print("reference mass outside top-k:", {k: round(v, 4) for k, v in results["tail_mass"].items()}, flush=True)

    # Base from llama-perplexity's file vs ours: how far apart are the two logits paths?
    base_gap = []
    for sl in blocks(ref.shape[0]):
        plb = base["scale"][sl, None] * base["codes"][sl].astype(np.float32) + base["min_log_prob"][sl, None]
        lp_ = np.asarray(ref[sl], dtype=np.float64)
        mask = plb > -16
        base_gap.append(np.max(np.where(mask, np.abs(plb - lp_), 0.0), axis=1))
    results["base_max_abs_logprob_gap"] = float(np.max(np.concatenate(base_gap)))
    print(f"max |log p_base(file) - log p_base(ours)| over kept tokens: {results['base_max_abs_logprob_gap']:.2e}")

    ks = sorted({int(x) for x in args.k.split(",")})
    ms = sorted({int(x) for x in args.m.split(",")})
    bound_only = sorted({int(x) for x in args.k_bound.split(",")})
    mmax, S = max(ms), args.seeds
    # Reference records: per k, S x mmax iid draws per position (seed s = draws [s*mmax, (s+1)*mmax);
    # the first m of a seed's draws are an iid sample of size m), plus S systematic records of m_sys.
    recs: dict = {}
    for k in ks:
        recs[(k, "iid")] = topk_sampled(ref, k, S * mmax, "iid", 1000 + k)
        print(f"  reference records k={k}: {S} x {mmax} iid draws", flush=True)
    for k in bound_only:
        recs[(k, "iid")] = topk_sampled(ref, k, 0, "iid", 0)
    sys_k, sys_m = (int(x) for x in args.systematic.split(":"))
    sys_recs = [topk_sampled(ref, sys_k, sys_m, "systematic", 2000 + s) for s in range(S)]
    print("  reference records done", flush=True)
    eps_list = (1e-2, 1e-3)
    aks = {eps: adaptive_k(ref, eps, 8192) for eps in eps_list}

    for name, cand in cands.items():
        t_start = time.perf_counter()
        r: dict = {"llama_perplexity": lp[name]}
        rep = replica(base, cand, next_tok)
        ex = exact(ref, cand, next_tok)
        r["replica"] = {"kl": float(rep["kl"].mean()), "same_top": float(rep["same_top"].mean()),
                        "delta_p_next": float(rep["delta_p_next"].mean())}
        r["exact"] = {"kl": float(ex["kl"].mean()), "kl_se": float(ex["kl"].std(ddof=1) / np.sqrt(len(ex["kl"]))),
                      "top1": float(ex["top1"].mean()), "delta_p_next": float(ex["delta_p_next"].mean()),
                      "delta_p_top": float(ex["delta_p_top"].mean())}
        methods: dict = {}

        def add(key: str, k: int, m: int, scheme: str, cv: bool, ests: list[ke.KLEstimate],
                methods: dict = methods, exact_kl: float = r["exact"]["kl"]) -> None:
            means = [float(e.kl.mean()) for e in ests]
            methods[key] = {"k": k, "m": m, "scheme": scheme, "control_variate": cv,
                            "bytes": ke.record_bytes_per_position(k, m), "kl": float(np.mean(means)),
                            "kl_seeds": means, "sd_over_seeds": float(np.std(means, ddof=1)) if len(means) > 1 else 0.0,
                            "mc_se_est": float(np.mean([ke.mean_with_se(e)[1] for e in ests])),
                            "max_abs_err_seeds": float(np.max(np.abs(np.array(means) - exact_kl))),
                            "top1": float(ests[0].top1_agree.mean()), "delta_p_top": float(ests[0].delta_p.mean())}

        for k in ks + bound_only:
            rec = recs[(k, "iid")]
            cs = candidate_side(rec, cand)
            args_ = (rec.logprobs, rec.tail_logmass, cs["lq"], cs["lq_tail"])
            kw = {"ref_top1": rec.indices[:, 0], "cand_top1": cs["top1"]}
            add(f"top{k}+bucket", k, 0, "-", True, [ke.kl_sampled_tail(*args_, np.zeros((len(rec.indices), 0)),
                                                                       np.zeros((len(rec.indices), 0)), **kw)])
            if k in bound_only:
                continue
            for m in ms:
                if m == 0:
                    continue
                for cv in ((True, False) if (k, m) == (32, 32) else (True,)):
                    ests = []
                    for s in range(S):
                        cols = slice(s * mmax, s * mmax + m)
                        ests.append(ke.kl_sampled_tail(*args_, rec.sample_logprobs[:, cols], cs["slq"][:, cols],
                                                       control_variate=cv, **kw))
                    add(f"top{k}+{m}" + ("" if cv else " plain"), k, m, "iid", cv, ests)
        ests = []
        for rec in sys_recs:
            cs = candidate_side(rec, cand)
            ests.append(ke.kl_sampled_tail(rec.logprobs, rec.tail_logmass, cs["lq"], cs["lq_tail"],
                                           rec.sample_logprobs, cs["slq"], ref_top1=rec.indices[:, 0],
                                           cand_top1=cs["top1"]))
        add(f"top{sys_k}+{sys_m} syst", sys_k, sys_m, "systematic", True, ests)
        for eps in eps_list:
            kk = aks[eps]
            b_ = adaptive_bound(ref, cand, kk)
            methods[f"adaptive 1-{eps:g}"] = {
                "k": float(kk.mean()), "m": 0, "bytes": float(8 * kk.mean() + 4 + 4), "kl": float(b_.mean()),
                "kl_seeds": [float(b_.mean())], "sd_over_seeds": 0.0, "mc_se_est": 0.0,
                "k_max": int(kk.max()), "k_median": float(np.median(kk))}
        r["methods"] = methods
        results["candidates"][name] = r
        print(f"  {name}: estimators in {time.perf_counter() - t_start:.0f} s", flush=True)

    # Time per position (one thread), on the first candidate.
    first_cand = next(iter(cands.values()))
    results["timing_us"] = {}
    for k, m in [(32, 0), (256, 0), (1024, 0), (32, 32), (32, 64), (64, 64)]:
        results["timing_us"][f"top{k}+{m}"] = timing(ref, first_cand, k, m, "iid")
    results["timing_us"][f"top{sys_k}+{sys_m} syst"] = timing(ref, first_cand, sys_k, sys_m, "systematic")

    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))


def print_table(res: dict) -> None:
    print(f"\n{res['n_chunk']} chunks x {res['n_ctx']} tokens, {res['n_positions']} scored positions, "
          f"vocab {res['vocab']}; reference mass outside top-k: "
          + ", ".join(f"k={k}: {v:.3f}" for k, v in res["tail_mass"].items()))
    print(f"max |log p_base (llama-perplexity file) - log p_base (llama-cpp-python)| over tokens above -16: "
          f"{res['base_max_abs_logprob_gap']:.2e}")
    for name, r in res["candidates"].items():
        L = r["llama_perplexity"]
        lpk, ex = L["kld"], r["exact"]["kl"]
        print(f"\n== {name} ==  llama-perplexity KLD {lpk:.5e} ± {L['kld_se']:.1e} | replica {r['replica']['kl']:.5e} "
              f"({pct(r['replica']['kl'], lpk)}) | exact {ex:.5e} ({pct(ex, lpk)})")
        print(f"   same top: llama-perplexity {L['same_top']:.4f}, replica {r['replica']['same_top']:.4f}, "
              f"ours {r['exact']['top1']:.4f} | Δp(next token, cand-base): llama-perplexity {L['delta_p']:+.5f}, "
              f"replica {r['replica']['delta_p_next']:+.5f} | ours Δp(ref top-1, ref-cand) {r['exact']['delta_p_top']:+.5f}")
        print(f"   {'method':20s} {'B/pos':>6s} {'mean KL':>11s} {'vs lp':>8s} {'vs exact':>8s} "
              f"{'SD seeds':>8s} {'MC SE':>7s} {'max|err|':>8s}")
        for key, m in r["methods"].items():
            print(f"   {key:20s} {m['bytes']:6.0f} {m['kl']:11.5e} {pct(m['kl'], lpk):>8s} {pct(m['kl'], ex):>8s} "
                  f"{rel(m['sd_over_seeds'], ex):>8s} {rel(m['mc_se_est'], ex):>7s} "
                  f"{rel(m.get('max_abs_err_seeds', abs(m['kl'] - ex)), ex):>8s}")
    if "timing_us" in res:
        print("\ntime per position, one thread (reference side reduce / candidate side estimate), µs:")
        for key, (tr, tc) in res["timing_us"].items():
            print(f"   {key:20s} {tr:8.0f} {tc:8.0f}")
    print("\nSD seeds: spread of the mean over the seeds (each a full set of independent draws); MC SE: the "
          "estimator's own standard error of the mean from its per-position variances; max|err|: worst seed "
          "against exact; all relative to exact.")


def pct(a: float, b: float) -> str:
    return f"{100 * (a - b) / b:+.2f}%"


def rel(a: float, b: float) -> str:
    return f"{100 * a / b:.2f}%"


if __name__ == "__main__":
    main()
