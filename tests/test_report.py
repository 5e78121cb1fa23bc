"""The report built from the committed fixture run (tests/data/report_run, made by
tests/data/make_report_fixture.py with outcomes chosen by hand): the numbers in its tables, the
files it writes, and that nothing from a model or a dataset reaches the HTML unescaped."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import pytest

from qlongbench.analysis import stats
from qlongbench.analysis.paired_test import McNemarEvidence
from qlongbench.analysis.power import min_detectable_binary
from qlongbench.analysis.build import build
from qlongbench.analysis.cells import CellKey
from qlongbench.analysis.data import ReportData
from qlongbench.analysis.examples import EXAMPLES_PER_PRECISION
from qlongbench.analysis.pairing import ALL_LANGUAGES
from qlongbench.errors import UserError
from qlongbench.render.prose import comparison_statements
from qlongbench.render.write import write

FIXTURE = Path(__file__).parent / "data" / "report_run"
MIB = 2**20
EXPECTED_CHARTS = {"accuracy-niah-single.png", "drop-niah-single.png", "heatmap-drops.png", "memory.png",
                   "throughput.png", "kld.png", "rates.png", "memory-split.png"}


@pytest.fixture(scope="module")
def data() -> ReportData:
    return build(FIXTURE)


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory) -> Path:
    return write(FIXTURE, tmp_path_factory.mktemp("report") / "out")


def _cell(data, prec, lang, length, task="niah-single"):
    return next(c for c in data.cells if c.key == CellKey(prec, task, lang, length))


def _drop(drops, prec, lang, length, task="niah-single"):
    return next(d for d in drops if (d.candidate, d.task, d.language, d.length) == (prec, task, lang, length))


# --- numbers --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "prec, lang, length, n, n_ok, right, overlength, oom, error",
    [
        ("bf16", "en", 512, 10, 10, 9, 0, 0, 0),
        ("bnb-nf4", "en", 512, 10, 10, 6, 0, 0, 0),
        ("bnb-nf4", "de", 512, 10, 8, 7, 1, 0, 1),
        ("gguf-q4_k_m", "en", 512, 10, 9, 5, 0, 1, 0),
        ("bf16", "de", 256, 10, 10, 10, 0, 0, 0),
    ],
)
def test_cell_counts_accuracy_and_wilson_interval(data, prec, lang, length, n, n_ok, right, overlength, oom, error):
    c = _cell(data, prec, lang, length)
    assert (c.n, c.n_ok, c.n_overlength, c.n_oom, c.n_error) == (n, n_ok, overlength, oom, error)
    assert c.accuracy == pytest.approx(right / n_ok)
    assert c.interval == stats.wilson_interval(right, n_ok)
    assert c.overlength_rate == overlength / n and c.oom_rate == oom / n and c.error_rate == error / n


def test_parse_failure_and_empty_output_rates(data):
    c = _cell(data, "bnb-nf4", "en", 512)
    assert c.parse_failure_rate == pytest.approx(0.2)  # the empty output and "I cannot find it."
    assert c.empty_rate == pytest.approx(0.1)
    assert _cell(data, "bf16", "en", 512).parse_failure_rate == 0.0


def test_paired_drop_by_hand(data):
    d = _drop(data.drops, "bnb-nf4", "en", 512)
    p = d.paired
    # bf16 right on 0-8, nf4 right on 0-4 and 8: three items only the reference got right.
    assert p.n == 10 and p.drop == pytest.approx(0.3)
    assert (p.discordant_ref_only, p.discordant_cand_only) == (3, 0)
    assert p.method == "exact unconditional McNemar"
    assert p.p_value == pytest.approx(McNemarEvidence(3, 0, 10).p_value())  # 0.109; the conditional test: 0.25
    assert p.relative_drop == pytest.approx(0.3 / 0.9)
    # its family: bnb-nf4 vs bf16 over 2 languages x 2 lengths and the 2 pooled cells
    assert d.family_size == 6 and d.family == "bnb-nf4 vs bf16"
    raw = sorted(x.paired.p_value for x in data.drops + data.pooled_drops if x.family == d.family)
    assert d.p_adjusted == pytest.approx(max(6 * raw[0], 5 * raw[1])) and d.p_adjusted > 0.05
    assert d.verdict == "within noise" and d.adjusted_interval.contains(0.0)
    assert d.adjusted_interval.confidence == pytest.approx(1 - 0.05 / 6)  # the first step stopped Holm
    assert d.min_detectable_drop == pytest.approx(min_detectable_binary(10, 0.0, 0.05 / 6))
    # de-512: sample 9 was overlength for everyone (left out); nf4 crashed on 8, which counts as a
    # wrong answer (analysis.pairing), and lost 7: 9 items paired, two discordant.
    de = _drop(data.drops, "bnb-nf4", "de", 512)
    assert (de.paired.n, de.paired.drop, de.paired.discordant_ref_only) == (9, pytest.approx(2 / 9), 2)
    assert de.failures == ("error",)


def test_pooled_drop_pairs_items_over_languages(data):
    p = _drop(data.pooled_drops, "bnb-nf4", ALL_LANGUAGES, 512).paired
    assert p.n == 19 and p.reference_mean == pytest.approx(18 / 19) and p.candidate_mean == pytest.approx(13 / 19)
    # b = 5 (one of them the crash), c = 0: below 0.05 on its own, not after Holm over the six cells
    pooled_drop = _drop(data.pooled_drops, "bnb-nf4", ALL_LANGUAGES, 512)
    assert p.p_value < 0.05 and p.interval.low > 0
    assert pooled_drop.p_adjusted == pytest.approx(6 * p.p_value) and pooled_drop.verdict == "within noise"
    assert pooled_drop.adjusted_interval.low < 0
    pooled = [c for c in data.pooled_cells if c.key == CellKey("bf16", "niah-single", ALL_LANGUAGES, 512)][0]
    assert (pooled.n, pooled.n_ok, pooled.accuracy) == (20, 19, pytest.approx(18 / 19))


def test_identical_precision_is_within_noise_everywhere(data):
    for d in data.drops:
        if d.candidate == "gguf-bf16":
            assert d.paired.drop == 0 and d.paired.p_value == 1.0 and d.verdict == "within noise"


def test_engine_matched_drops_compare_gguf_with_gguf(data):
    assert {(d.candidate, d.reference) for d in data.engine_drops} == {("gguf-q4_k_m", "gguf-bf16")}
    d = _drop(data.engine_drops, "gguf-q4_k_m", "en", 512).paired
    assert d.n == 10 and d.drop == pytest.approx(4 / 10)  # gguf-bf16 right on 9; q4 on 5 (its OOM on 7 counts as wrong)
    assert any("gguf-q4_k_m is also compared with gguf-bf16" in s for s in comparison_statements(data))


def test_kld_is_reported_as_kl_not_as_accuracy(data):
    assert data.logprob_tasks == ("kld",)
    assert all(d.task != "kld" for d in data.drops + data.pooled_drops + data.engine_drops)
    assert all(c.key.task != "kld" for c in data.accuracy_cells)
    k = next(k for k in data.kld if (k.precision, k.length) == ("bnb-nf4", 256))
    # Documents 0 and 1: 0.02 · (1 + 0.05 i) · (1 + 0.15 b) averaged over buckets b = 0..7.
    assert k.n == 2 and k.mean_kl == pytest.approx(0.02 * 1.025 * 1.525)
    assert k.bucket_kl[0] == pytest.approx(0.02 * 1.025) and k.bucket_kl[-1] == pytest.approx(0.02 * 1.025 * 2.05)
    assert list(k.bucket_kl) == sorted(k.bucket_kl)  # damage grows with position
    assert len(k.positions) == 8 and k.positions[0] < k.positions[-1] < 256
    assert {r.precision for r in data.kld} == {"bnb-nf4", "gguf-bf16", "gguf-q4_k_m"}  # not the reference
    assert {r.versus for r in data.kld} == {"bf16"}  # 0.1.0 kept no engine-matched KL
    assert k.bound == "lower bound: top-k + one tail bucket" or k.bound is None


def test_memory_rows_and_the_crossover(data):
    hf = next(m for m in data.memory if (m.precision, m.length) == ("bf16", 512))
    assert hf.kv_cache_bytes == hf.kv_cache_bytes_formula == hf.tokens * 2048
    gguf = next(m for m in data.memory if (m.precision, m.length) == ("gguf-q4_k_m", 512))
    assert gguf.kv_cache_bytes - gguf.kv_cache_bytes_formula == 6 * 1024  # llama.cpp overhead in the fixture
    assert hf.throughput.prefill_tokens_per_s == pytest.approx(2000, rel=1e-3)
    assert hf.throughput.decode_tokens_per_s == pytest.approx(40, rel=1e-3)
    assert hf.total_bytes == hf.weight_bytes + hf.kv_cache_bytes
    assert hf.weight_bytes == 50 * MIB and hf.peak_source == "process-peak-rss"
    savings = {s.precision: s for s in data.savings}
    assert savings["bnb-nf4"].saved_bytes == 34 * MIB
    assert savings["bnb-nf4"].crossover_tokens == 34 * MIB // 2048 == 17408
    assert savings["gguf-q4_k_m"].crossover_tokens == 35 * MIB // 2048
    # 1 KiB more than the reference's 50 MiB: the same weights counted by another engine, no saving or cost
    assert savings["gguf-bf16"].saved_bytes == 0 and savings["gguf-bf16"].crossover_tokens is None


def test_failure_examples_are_the_discordant_items_and_the_engine_failures(data):
    ex = {(e.precision, e.sample_id): e for e in data.examples}
    assert ex[("bnb-nf4", "niah-single-en-512-0005")].output == "<script>alert(1)</script>"
    assert ex[("bnb-nf4", "niah-single-de-512-0008")].status == "error"
    assert ex[("gguf-q4_k_m", "niah-single-en-512-0007")].status == "oom"
    assert sum(e.precision == "bnb-nf4" and e.status == "ok" for e in data.examples) == EXAMPLES_PER_PRECISION


# --- files --------------------------------------------------------------------------------------------------
def test_report_writes_every_file(out_dir):
    names = {p.name for p in out_dir.iterdir()}
    assert {"index.html", "summary.md", "results.json"} | EXPECTED_CHARTS <= names


@pytest.mark.parametrize("name", sorted(EXPECTED_CHARTS))
def test_charts_are_valid_non_trivial_pngs(out_dir, name):
    from PIL import Image

    path = out_dir / name
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.width >= 500 and im.height >= 250
        colors = im.convert("RGB").getcolors(maxcolors=1 << 20)
        assert colors is None or len(colors) > 20, "an almost blank image"


def test_summary_markdown_holds_the_numbers(out_dir):
    md = (out_dir / "summary.md").read_text(encoding="utf-8")
    assert "| niah-single | en | 512 | bnb-nf4 | transformers | 10 | 60.0 | 31.3–83.2 | 20.0 | 0 | 0 | 0 |" in md
    assert "| niah-single | de | 512 | bnb-nf4 | transformers | 8 | 87.5 |" in md
    assert re.search(r"\| niah-single \| en \| 512 \| bnb-nf4 \| 10 \| 90\.0 \| 60\.0 \| \+30\.0 \| [^|]+ \(99\.17 %\) \| "
                     r"3 lost / 0 gained \| 0\.109 \| 0\.547 \| within noise \|", md)
    assert "| niah-single | all | 512 | bnb-nf4 | 19 | 94.7 | 68.4 | +26.3 |" in md
    assert "gguf-q4_k_m vs gguf-bf16" in md
    # Pooled over languages (19 paired items) the drop's raw p is 0.025, but not after Holm over the
    # candidate's six comparisons: the signals with power lead the row (KL, answers changed).
    # Two kld documents: a Student-t interval with one degree of freedom, and a position trend that a
    # sign-flip test across two documents cannot call (p ≥ 0.5).
    assert ("| bnb-nf4 | 0.042 (0.029…0.055) nats, top-1 93.1 % | 6 of 39 | 0 / 4 / 0 (6) (crashed in 1) | none | "
            "drop grows with length: no evidence; larger outside English: no evidence; KL grows with position: no evidence; "
            "changes more answers than the floor: not measured | 16 MiB (34 MiB) | "
            "17k tokens |") in md
    assert "which the KV cache takes back at 17,408 tokens" in md
    assert "22 comparisons in 4 families (one per candidate and baseline), Holm at α = 0.05 within each" in md
    # The answer comes first: the verdict table opens the file, the full tables are collapsed.
    assert (md.index("## At a glance") < md.index("## The study's questions") < md.index("## Drops that survive Holm")
            < md.index("<details>"))
    assert "±11 points" in md
    assert "<script>" not in md


def test_results_json_is_machine_readable(out_dir, data):
    payload = json.loads((out_dir / "results.json").read_text(encoding="utf-8"))
    assert payload["reference"] == "bf16" and payload["logprob_tasks"] == ["kld"]
    drop = next(d for d in payload["drops"] if (d["candidate"], d["language"], d["length"]) == ("bnb-nf4", "en", 512))
    assert drop["paired"]["drop"] == pytest.approx(0.3) and drop["verdict"] == "within noise"
    assert {"p_value", "interval", "method", "changed"} <= set(drop["paired"])
    assert {"p_value", "p_adjusted", "tested_level", "adjusted_interval", "family", "family_size",
            "min_detectable_drop", "verdict"} <= set(drop)
    assert drop["p_value"] == pytest.approx(0.109, abs=1e-3) and drop["p_adjusted"] == pytest.approx(0.547, abs=1e-3)
    assert payload["multiplicity"]["procedure"] == "Holm" and payload["multiplicity"]["comparisons"] == 22
    assert payload["multiplicity"]["families"]["bnb-nf4 vs bf16"] == 6
    for name in ("length_trend", "language_contrast", "kl_position_trend"):
        assert set(payload[name]) == {"bnb-nf4", "gguf-bf16", "gguf-q4_k_m"}
    assert payload["kl_position_trend"]["bnb-nf4"]["answer"] == "no evidence"
    assert payload["kl_position_trend"]["bnb-nf4"]["interval_note"].startswith("unbounded: 2 documents")
    cell = next(c for c in payload["cells"] if c["key"] == {"precision": "gguf-q4_k_m", "task": "niah-single",
                                                             "language": "en", "length": 512})
    assert cell["oom_rate"] == pytest.approx(0.1)
    assert {s["precision"]: s["crossover_tokens"] for s in payload["savings"]}["bnb-nf4"] == 17408
    assert len(payload["kld"]) == len(data.kld) and payload["provenance"]["model"]["num_key_value_heads"] == 2


# --- HTML: self-contained and escaped -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def html(out_dir) -> str:
    return (out_dir / "index.html").read_text(encoding="utf-8")


def test_model_output_is_escaped_in_the_html(html):
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html.lower()
    assert "kernel &lt;b&gt;failed&lt;/b&gt; &amp; stopped" in html
    assert "<b>failed</b>" not in html


def test_html_is_self_contained(html, out_dir):
    sources = re.findall(r'\bsrc="([^"]*)"', html)
    assert len(sources) == len(EXPECTED_CHARTS)
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    hrefs = re.findall(r'\bhref="([^"]*)"', html)
    assert hrefs and all(h.startswith("#") for h in hrefs)
    assert "default-src 'none'" in html  # the CSP forbids loading anything else
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", html)
    embedded = {base64.b64decode(s.split(",", 1)[1]) for s in sources}
    assert embedded == {(out_dir / n).read_bytes() for n in EXPECTED_CHARTS}


def test_html_has_the_sections_and_provenance(html):
    for anchor in ("glance", "outside", "accuracy", "memory", "kld", "rates", "examples", "provenance"):
        assert f'id="{anchor}"' in html
    assert "What was compared with what" in html and "quant_type=Q4_K_M" in html
    assert "±11 points" in html and "17,408 tokens" in html
    assert "within noise" in html and "min. detectable" in html
    assert "ab" * 32 in html  # artifact hash


def test_labels_from_the_run_are_escaped_everywhere(tmp_path):
    """A hostile precision label and model source (they come from configs and hubs) stay text."""
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    evil = '<img src=x onerror="alert(2)">'
    records = (run / "records.jsonl").read_text(encoding="utf-8").replace('"gguf-bf16"', json.dumps(evil))
    (run / "records.jsonl").write_text(records, encoding="utf-8")
    meta = json.loads((run / "run.json").read_text(encoding="utf-8"))
    meta["precisions"][evil] = meta["precisions"].pop("gguf-bf16")
    plan = meta["plan"]  # a label is free text: a file= path, a hub id
    next(p for p in plan["precisions"] if p["label"] == "gguf-bf16")["label"] = evil
    plan["engine_baselines"] = {"llama.cpp": evil}
    plan["model"]["source"] = "</title><script>alert(3)</script>"
    (run / "run.json").write_text(json.dumps(meta), encoding="utf-8")
    out = write(run, tmp_path / "out")
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "<script" not in page.lower() and "<img src=x" not in page and "onerror=\"alert" not in page
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in page


def test_the_cpus_each_precision_ran_on_are_shown_and_two_are_flagged(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    meta = json.loads((run / "run.json").read_text(encoding="utf-8"))
    meta["executor"]["placements"] = {
        "bf16": {"precision": "bf16", "cpu": "CPU A [avx2]"},
        "bnb-nf4#1/2": {"precision": "bnb-nf4", "cpu": "CPU A [avx2]"},
        "bnb-nf4#2/2": {"precision": "bnb-nf4", "cpu": "CPU B [avx512f]"}}
    (run / "run.json").write_text(json.dumps(meta), encoding="utf-8")
    page = (write(run, tmp_path / "out") / "index.html").read_text(encoding="utf-8")
    rows = {r.split("</td>")[0]: r for r in page.split("<tr><td>")[1:]}
    assert '<td class="mono">CPU A [avx2]</td>' in rows["bf16"]
    assert '<td class="mono worse">CPU A [avx2]<br>CPU B [avx512f]</td>' in rows["bnb-nf4"]
    assert rows["gguf-q4_k_m"].split("\n</tr>")[0].endswith('<td class="mono">–</td>')  # no placement: unknown


# --- behaviour ------------------------------------------------------------------------------------------------
def test_records_on_different_inputs_are_refused(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    lines = (run / "records.jsonl").read_text(encoding="utf-8").splitlines()
    first = next(i for i, line in enumerate(lines) if '"precision":"bnb-nf4"' in line and '"status":"ok"' in line)
    row = json.loads(lines[first])
    row["prompt_sha256"] = "0" * 64
    lines[first] = json.dumps(row)
    (run / "records.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(UserError, match="other prompt ids than the frozen sample"):
        build(run)


def test_a_run_with_one_precision_still_renders(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    lines = [l for l in (run / "records.jsonl").read_text(encoding="utf-8").splitlines() if '"precision":"bf16"' in l]
    (run / "records.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = write(run, tmp_path / "out")
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "Only one precision in this run" in page
    assert not (out / "drop-niah-single.png").exists() and (out / "accuracy-niah-single.png").exists()


def test_stale_charts_are_removed_but_nothing_else(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "accuracy-old-task.png").write_bytes(b"old")
    (out / "photo.png").write_bytes(b"mine")
    write(FIXTURE, out)
    assert not (out / "accuracy-old-task.png").exists() and (out / "photo.png").read_bytes() == b"mine"


def test_cli_report_and_default_directory(tmp_path, monkeypatch, capsys):
    from qlongbench.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["report", str(FIXTURE), "-q"]) == 0
    assert (tmp_path / "reports" / "fixture-report" / "index.html").is_file()
    assert "reports/fixture-report/index.html" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "nope"), "-q"]) == 2
    assert "not a qlongbench run directory" in capsys.readouterr().err


def test_fixture_is_reproducible(tmp_path):
    """The committed fixture is what its script writes (regenerate it with the script after a change)."""
    import subprocess
    import sys

    script = FIXTURE.parent / "make_report_fixture.py"
    copy = tmp_path / "data"
    copy.mkdir()
    shutil.copy(script, copy / script.name)
    # Run the script against a copy so the committed files are never touched by the test.
    text = (copy / script.name).read_text(encoding="utf-8").replace(
        "sys.path.insert(0, str(HERE.parents[1]))", f"sys.path.insert(0, {str(Path(__file__).parents[1])!r})")
    (copy / script.name).write_text(text, encoding="utf-8")
    subprocess.run([sys.executable, str(copy / script.name)], check=True, capture_output=True)
    for name in ("run.json", "records.jsonl", "samples/niah-single-en-512.jsonl", "samples/kld-en-256.jsonl"):
        assert (copy / "report_run" / name).read_bytes() == (FIXTURE / name).read_bytes(), name


@pytest.mark.parametrize("field, value, needle", [("score", 2.0, "score: Input should be less than or equal to 1"),
                                                  ("score", -0.5, "score: Input should be greater than or equal to 0"),
                                                  ("kv_cache_bytes", -3, "kv_cache_bytes: Input should be greater"),
                                                  ("status", "done", "status: Input should be")])
def test_a_record_with_a_bad_value_is_one_line_naming_file_line_and_field(tmp_path, capsys, field, value, needle):
    """A value no qlongbench writes (score 2.0 used to reach the statistics and exit 1 as an
    'unexpected ValueError') is refused on load: exit 2, the file, the line, the field."""
    from qlongbench.cli import main

    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    lines = (run / "records.jsonl").read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[2])
    first[field] = value
    lines[2] = json.dumps(first)
    (run / "records.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    code = main(["report", str(run), "--out", str(tmp_path / "out"), "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert f"records.jsonl:3: not a valid record: {needle}" in err[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("candidate, saved", [
    (50 * MIB - 256, 0),                 # 256 B apart (vLLM's checkpoint count vs transformers'): the same weights
    (50 * MIB + 1024, 0),
    (int(50 * MIB * 0.991), 0),          # under 1 %: still the same weights
    (int(50 * MIB * 0.98), 50 * MIB - int(50 * MIB * 0.98)),  # 2 % smaller: a saving
    (16 * MIB, 34 * MIB),
    (60 * MIB, -10 * MIB),               # larger: a cost, shown as no saving
])
def test_a_weight_difference_is_a_saving_only_past_one_percent(candidate, saved):
    from qlongbench.analysis.memory import weights_saved

    assert weights_saved(50 * MIB, candidate) == saved
