"""The kld task: top-k + tail KL (pure functions, table-tested), the reference's top-k file, sample
building, and real runs on the tiny model (bf16 vs fp32 is tiny; a perturbed model is not)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.special import log_softmax, rel_entr

from qlongbench.errors import UserError
from qlongbench.tasks.base import BuildContext
from qlongbench.tasks.haystack import FIT_TOLERANCE
from qlongbench.tasks.kld import KLDivergence, bucket_edges, identical, summarize
from qlongbench.tasks.kld_estimate import KLEstimate, estimate_kl, kl_sampled_tail, reduce_reference


def _dists(rows: int, vocab: int, seed: int, scale: float = 3.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return log_softmax(rng.normal(0, scale, size=(rows, vocab)), axis=1).astype(np.float32)


def _full_kl(lp: np.ndarray, lq: np.ndarray) -> np.ndarray:
    return rel_entr(np.exp(lp.astype(np.float64)), np.exp(lq.astype(np.float64))).sum(axis=1)


# --- pure functions (the estimator itself is table-tested in test_kld_estimate.py) --------------------
def _bound(ref, cand, k):
    return estimate_kl(reduce_reference(ref, k, 0, np.random.default_rng(0)), cand)


def test_the_bucket_bound_equals_the_full_kl_when_k_is_the_vocabulary():
    ref, cand = _dists(40, 50, 0), _dists(40, 50, 1)
    np.testing.assert_allclose(_bound(ref, cand, 50).kl, _full_kl(ref, cand), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("k", [1, 2, 8, 32, 49])
def test_without_tail_draws_the_kl_is_a_lower_bound_and_with_them_an_estimate(k):
    ref, cand = _dists(30, 50, 2), _dists(30, 50, 3)
    full = _full_kl(ref, cand)
    bound = _bound(ref, cand, k).kl
    assert np.all(bound >= 0) and np.all(bound <= full + 1e-6)
    assert bound.mean() > 0.05 * full.mean()  # it is not trivially zero either
    est = estimate_kl(reduce_reference(ref, k, 64, np.random.default_rng(1)), cand)
    assert np.all(est.kl >= est.bound - 1e-12)  # the draws only ever add the tail's own KL
    assert abs(est.kl.mean() - full.mean()) < abs(bound.mean() - full.mean()) + 1e-9


def test_identical_distributions_give_zero_kl_full_agreement_and_no_delta_p():
    ref = _dists(10, 30, 6)
    m = estimate_kl(reduce_reference(ref, 5, 8, np.random.default_rng(0)), ref.copy())
    np.testing.assert_allclose(m.kl, 0.0, atol=1e-7)
    assert m.top1_agree.all()
    np.testing.assert_allclose(m.delta_p, 0.0, atol=1e-7)


@pytest.mark.parametrize(
    "p, q, expected",
    [
        # Two tokens kept, tail empty: plain KL of [0.5, 0.5] vs [0.25, 0.75].
        ([0.5, 0.5], [0.25, 0.75], 0.5 * np.log(2) + 0.5 * np.log(0.5 / 0.75)),
        # The candidate's tail mass counts: p = [0.9 | tail 0.1], q = [0.6 | tail 0.4].
        ([0.9], [0.6], 0.9 * np.log(0.9 / 0.6) + 0.1 * np.log(0.1 / 0.4)),
        # Equal top mass, tail equal: zero even though k = 1.
        ([0.7], [0.7], 0.0),
    ],
)
def test_bucket_kl_table(p, q, expected):
    lp = np.log(np.array([p]))
    lq = np.log(np.array([q]))
    tail_p = 1 - sum(p)
    tail_q = 1 - sum(q)
    lp_tail = np.array([np.log(tail_p) if tail_p > 1e-12 else -np.inf])
    lq_tail = np.array([np.log(tail_q) if tail_q > 1e-12 else -np.inf])
    got = kl_sampled_tail(lp, lp_tail, lq, lq_tail, np.zeros((1, 0)), np.zeros((1, 0))).bound[0]
    assert got == pytest.approx(expected, abs=1e-12)


def test_a_candidate_that_underflows_gives_a_large_finite_kl():
    lp = np.log(np.array([[0.6, 0.4]]))
    lq = np.array([[-np.inf, 0.0]])  # the candidate puts no mass on the reference's top token
    m = kl_sampled_tail(lp, np.array([-np.inf]), lq, np.array([-np.inf]), np.zeros((1, 0)), np.zeros((1, 0)))
    assert np.isfinite(m.kl[0]) and m.kl[0] > 100
    assert m.delta_p[0] == pytest.approx(0.6)


def test_top1_agreement_and_delta_p_by_hand():
    ref = np.log(np.array([[0.7, 0.2, 0.1], [0.5, 0.3, 0.2]], dtype=np.float32))
    cand = np.log(np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1]], dtype=np.float32))
    m = estimate_kl(reduce_reference(ref, 2, 4, np.random.default_rng(0)), cand)
    assert m.top1_agree.tolist() == [True, False]
    np.testing.assert_allclose(m.delta_p, [0.1, 0.3], atol=1e-6)


def test_summarize_buckets_positions_in_order():
    n = 16
    m = KLEstimate(kl=np.arange(n, dtype=float), kl_var=np.full(n, 0.5), bound=np.zeros(n),
                   top1_agree=np.arange(n) < 12, delta_p=np.full(n, 0.01))
    s = summarize(m, 4)
    assert s.metrics["kl_var"] == pytest.approx(n * 0.5 / n ** 2) and s.metrics["kl_is_bound"] == 0.0
    assert summarize(identical(3), 1).metrics["mean_kl"] == 0.0
    assert [s.metrics[f"kl_b{b}"] for b in range(4)] == [1.5, 5.5, 9.5, 13.5]
    assert [s.metrics[f"top1_b{b}"] for b in range(4)] == [1.0, 1.0, 1.0, 0.0]
    assert s.score == s.metrics["top1"] == 0.75
    assert s.metrics["mean_kl"] == 7.5 and s.metrics["n_positions"] == 16
    assert bucket_edges(10, 3).tolist() == [0, 3, 7, 10]


# --- the kept distributions (run directory) ---------------------------------------------------------
def _sample(sid="kld-en-256-0000", ids=(5, 6, 7)):
    from qlongbench.hashing import ids_sha256
    from qlongbench.types import Sample

    return Sample(sample_id=sid, task="kld", language="en", instruction_language="en", length=256, index=0, seed=0,
                  status="ok", prompt_ids=ids, prefix_len=len(ids), max_new_tokens=0, expected=(),
                  prompt_sha256=ids_sha256(ids))


def test_kept_files_round_trip_and_refuse_other_prompts(tmp_path):
    from qlongbench.run.store import LogprobFiles

    top = reduce_reference(_dists(12, 40, 7), 8, 4, np.random.default_rng(0))
    files = LogprobFiles(tmp_path)
    s = _sample()
    files.save("bf16", s, {"indices": top.indices, "logprobs": top.logprobs, "tail_logmass": top.tail_logmass,
                           "sample_indices": top.sample_indices, "sample_logprobs": top.sample_logprobs})
    back = files.load("bf16", s)
    np.testing.assert_array_equal(back["indices"], top.indices)
    np.testing.assert_array_equal(back["logprobs"], top.logprobs)
    assert not list(files.path("bf16", s.sample_id).parent.glob(".*")), "no temp file left behind"
    with pytest.raises(UserError, match="other prompt ids"):
        files.load("bf16", _sample(ids=(1, 2, 3)))
    with pytest.raises(UserError, match="kept no distributions"):
        files.load("fp32", s)


# --- samples ------------------------------------------------------------------------------------------
def _ctx(tok, length=256, n=3, language="en"):
    return BuildContext(tokenizer=tok, length=length, language=language, instruction_language=language,
                        n_samples=n, seed=11, max_new_tokens=0)


def test_samples_fill_the_length_with_filler(tiny_tokenizer):
    samples = KLDivergence().build(_ctx(tiny_tokenizer, 300))
    assert len({s.prompt_sha256 for s in samples}) == 3
    for s in samples:
        assert s.status == "ok" and s.task == "kld" and s.expected == ()
        assert 300 - FIT_TOLERANCE <= len(s.prompt_ids) <= 300
        assert s.prefix_len == len(s.prompt_ids) and s.max_new_tokens == 0


def test_samples_from_a_haystack_file(tiny_tokenizer, tmp_path):
    text = tmp_path / "doc.txt"
    from qlongbench.tasks.languages import get_language
    import random

    rng = random.Random(0)
    text.write_text("\n".join(get_language("en").filler(rng) for _ in range(400)), encoding="utf-8")
    samples = KLDivergence({"haystack": f"file:{text}"}).build(_ctx(tiny_tokenizer, 256, 2))
    assert all(256 - FIT_TOLERANCE <= len(s.prompt_ids) <= 256 for s in samples)
    assert samples[0].prompt_ids != samples[1].prompt_ids  # each sample starts elsewhere in the file
    short = tmp_path / "short.txt"
    short.write_text("Only a few words here.\n", encoding="utf-8")
    with pytest.raises(UserError, match="fewer than 256 tokens"):
        KLDivergence({"haystack": f"file:{short}"}).build(_ctx(tiny_tokenizer, 256, 1))
    with pytest.raises(UserError, match="haystack="):
        KLDivergence({"haystack": "wikipedia"}).build(_ctx(tiny_tokenizer, 256, 1))


def test_kld_is_not_scored_from_text(tiny_tokenizer):
    s = KLDivergence().build(_ctx(tiny_tokenizer, 64, 1))[0]
    with pytest.raises(UserError, match="log-probabilities"):
        KLDivergence().score(s, "anything")


# --- real engines on the tiny model ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def perturbed_model(tiny_model, tmp_path_factory) -> Path:
    """The tiny model with every weight matrix nudged: a deliberately different model, same vocabulary."""
    import torch
    from safetensors.torch import load_file, save_file

    out = tmp_path_factory.mktemp("perturbed") / "model"
    shutil.copytree(tiny_model, out)
    weights = load_file(str(out / "model.safetensors"))
    gen = torch.Generator().manual_seed(1)
    weights = {k: v + 0.02 * torch.randn(v.shape, generator=gen).to(v.dtype) if v.ndim == 2 else v
               for k, v in weights.items()}
    save_file(weights, str(out / "model.safetensors"), metadata={"format": "pt"})
    return out


def _backend(name: str, model: Path, tok, tmp_path: Path):
    from qlongbench.backends.base import LoadContext
    from qlongbench.spec.config import PrecisionSpec
    from qlongbench.spec.labels import parse_precision
    from qlongbench.registry import backend_class

    ctx = LoadContext(model=str(model), revision=None, device="cpu", cache_dir=tmp_path / "cache", tokenizer=tok)
    return backend_class(name)(parse_precision(PrecisionSpec(name=name)), ctx)


def _score(task, backend, sample, kept, keep=False):
    from qlongbench.run.drive import score_logprobs
    from qlongbench.tasks.base import LogprobRole

    saved = {}
    out = score_logprobs(backend, sample, task, LogprobRole(keep=keep, compare_with=kept), saved.update)
    return out, saved


def test_bf16_vs_fp32_is_tiny_and_a_perturbed_model_is_not(tiny_model, perturbed_model, tiny_tokenizer, tmp_path):
    import torch

    torch.set_num_threads(1)
    task = KLDivergence({"top_k": 16, "chunk": 100, "buckets": 4})
    samples = task.build(_ctx(tiny_tokenizer, 256, 2))
    ref = _backend("bf16", tiny_model, tiny_tokenizer, tmp_path)
    kept = {}
    try:
        for s in samples:
            out, kept[s.sample_id] = _score(task, ref, s, {}, keep=True)
            assert out.score.score == 1.0 and out.score.metrics["mean_kl"] == 0.0
            assert kept[s.sample_id]["indices"].shape == (len(s.prompt_ids), 16)
    finally:
        ref.close()
    results = {}
    for name, model in (("fp32", tiny_model), ("bf16-perturbed", perturbed_model)):
        b = _backend(name.split("-")[0], model, tiny_tokenizer, tmp_path)
        try:
            results[name] = [_score(task, b, s, {"": kept[s.sample_id]})[0] for s in samples]
        finally:
            b.close()
    fp32 = [o.score.metrics["mean_kl"] for o in results["fp32"]]
    bad = [o.score.metrics["mean_kl"] for o in results["bf16-perturbed"]]
    assert max(fp32) < 1e-4
    assert min(bad) > 100 * max(fp32)
    for s, o in zip(samples, results["fp32"]):
        assert o.score.score > 0.9  # top-1 agreement
        assert {f"kl_b{b}" for b in range(4)} <= set(o.score.metrics)
        assert o.generation.n_prefilled_tokens == len(s.prompt_ids)
        assert o.generation.prefill_seconds > 0 and o.generation.peak_bytes


def test_runner_runs_the_reference_first_and_records_kld(tiny_model, tmp_path):
    """--precisions fp32,bf16: bf16 is the reference (choose_reference), so it is moved first."""
    from qlongbench.spec.config import build_spec
    from qlongbench.run.runner import Runner
    from qlongbench.run.store import RunDir

    spec = build_spec({"model": str(tiny_model), "precisions": "fp32,bf16", "tasks": "kld:top_k=8,niah-single",
                       "lengths": [256], "samples": 2, "out": str(tmp_path / "run"), "device": "cpu"})
    result = Runner(spec).run()
    assert not result.failed_precisions
    rd = RunDir(result.run_dir)
    assert rd.read_header().plan.logprob_reference == "bf16"
    records = rd.records()
    kld = [r for r in records if r.task.startswith("kld")]
    assert [r.precision for r in kld] == ["bf16", "bf16", "fp32", "fp32"]
    for r in kld:
        assert r.status == "ok" and r.output == "" and r.n_generated_tokens == 0
        assert {"mean_kl", "delta_p", "top1", "kl_b0", "kl_b7", "top1_b7"} <= set(r.metrics)
        assert r.score == pytest.approx(r.metrics["top1"])
    assert all(r.metrics["mean_kl"] < 1e-4 for r in kld if r.precision == "fp32")
    kept = sorted(p.name for p in (result.run_dir / "logprobs" / "bf16").iterdir())
    assert len(kept) == 2 and all(name.endswith(".npz") for name in kept)
    niah = [r for r in records if r.task == "niah-single"]
    assert niah and all(r.kv_cache_bytes and r.peak_bytes for r in niah)


def test_the_logprob_reference_needs_an_hf_reference_and_runs_first():
    from tests.plan_helpers import planned

    plan = planned("bnb-nf4,fp16", tasks="kld")
    assert plan.logprob_reference == "fp16" and [p.name for p in plan.precisions] == ["fp16", "bnb-nf4"]
    assert plan.logprob_tasks == ("kld",) and plan.reference == "fp16"
    with pytest.raises(UserError, match="add bf16, fp16 or fp32"):
        planned("bnb-nf4", tasks="kld")
    # Without a log-prob task the order given is kept.
    plan = planned("bnb-nf4,bf16")
    assert [p.name for p in plan.precisions] == ["bnb-nf4", "bf16"] and plan.logprob_reference is None


def test_a_candidate_without_the_kept_reference_fails_clearly(tiny_model, tiny_tokenizer, tmp_path):
    from qlongbench.run.store import LogprobFiles

    sample = KLDivergence().build(_ctx(tiny_tokenizer, 64, 1))[0]
    with pytest.raises(UserError, match="kept no distributions"):
        LogprobFiles(tmp_path).load("bf16", sample)


def test_resuming_with_another_precision_list_keeps_the_reference_and_its_files(tiny_model, tmp_path):
    """The kld reference is fixed when the run starts: a resume that lists fp32 first (or leaves the
    reference out) compares with the kept bf16 files, which are never rewritten."""
    from qlongbench.run.runner import Runner
    from qlongbench.run.store import RunDir

    base = {"model": str(tiny_model), "tasks": "kld:top_k=8,tail_samples=4", "lengths": [128], "samples": 1,
            "out": str(tmp_path / "run"), "device": "cpu"}
    Runner(build_spec({**base, "precisions": "bf16"})).run()
    kept = {p: p.read_bytes() for p in (tmp_path / "run" / "logprobs").rglob("*.npz")}
    assert kept
    Runner(build_spec({**base, "precisions": "fp32,bnb-nf4"})).run()
    rd = RunDir(tmp_path / "run")
    assert rd.read_header().plan.logprob_reference == "bf16"
    assert {p: p.read_bytes() for p in (tmp_path / "run" / "logprobs").rglob("*.npz")} == kept
    fp32 = [r for r in rd.records() if r.precision == "fp32"]
    assert fp32 and fp32[0].status == "ok" and fp32[0].metrics["mean_kl"] < 1e-3


def build_spec(values):
    from qlongbench.spec.config import build_spec as _build

    return _build(values)
