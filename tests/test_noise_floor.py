"""--noise-floor: each engine declares the perturbed twin it can run (another thread count), the plan
adds the twin of the reference and of each engine baseline, run.json names the controls, and the
engine-baseline rule never picks a control as the baseline."""

from __future__ import annotations

import json

import pytest

from qlongbench.spec.labels import parse_label
from qlongbench.backends.base import Backend, ValidateContext, other_thread_count
from qlongbench.backends.bnb import BnbBackend
from qlongbench.backends.gguf import GGUFBackend
from qlongbench.backends.gptq import GPTQBackend
from qlongbench.backends.hf import HFBackend
from qlongbench.backends.vllm import VLLMBackend
from qlongbench.backends.vllm_options import count_cpus
from qlongbench.errors import UserError
from qlongbench.spec.config import PrecisionSpec, build_spec
from qlongbench.spec.labels import parse_precision
from tests.plan_helpers import labels, planned

CPU = ValidateContext(model="m", device="cpu")


@pytest.fixture
def torch_threads():
    """set(n): torch's thread count for the test, put back afterwards."""
    import torch

    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


def spec(precisions: str, **kw):
    return build_spec({"model": "m", "precisions": precisions, **kw})


def test_the_base_class_offers_no_control_and_the_quantizing_hf_engines_inherit_none():
    assert Backend.noise_control(parse_precision(PrecisionSpec(name="bf16"))) is None
    assert BnbBackend.noise_control(parse_precision(PrecisionSpec(name="bnb-nf4"))) is None  # bnb takes no threads option
    assert GPTQBackend.noise_control(parse_precision(PrecisionSpec(name="gptq-int4"))) is None
    assert [other_thread_count(n) for n in (1, 2, 3, 8)] == [2, 1, 1, 4]


def test_transformers_control_is_one_thread_or_two(torch_threads):
    assert HFBackend.noise_control(parse_precision(PrecisionSpec(name="bf16", options={"threads": 4}))) == {"threads": 1}
    assert HFBackend.noise_control(parse_precision(PrecisionSpec(name="fp32", options={"threads": 1}))) == {"threads": 2}
    torch_threads(2)
    assert HFBackend.noise_control(parse_precision(PrecisionSpec(name="bf16"))) == {"threads": 1}
    torch_threads(1)
    assert HFBackend.noise_control(parse_precision(PrecisionSpec(name="bf16"))) == {"threads": 2}


def test_llama_cpp_control_halves_n_threads(monkeypatch):
    control = GGUFBackend.noise_control
    assert control(parse_precision(PrecisionSpec(name="gguf-bf16", options={"n_threads": 8}))) == {"n_threads": 4}
    assert control(parse_precision(PrecisionSpec(name="gguf-bf16", options={"n_threads": 1}))) == {"n_threads": 2}
    monkeypatch.setenv("OMP_NUM_THREADS", "6")  # llama_lib.default_threads reads it
    assert control(parse_precision(PrecisionSpec(name="gguf-f16"))) == {"n_threads": 3}
    with pytest.raises(UserError, match="n_threads"):  # refused when the label is parsed, before any control
        parse_precision(PrecisionSpec(name="gguf-bf16", options={"n_threads": "many"}))


def test_vllm_control_halves_its_cpus(monkeypatch):
    import qlongbench.backends.vllm as vllm
    import qlongbench.backends.vllm_options as vllm_options

    for module in (vllm, vllm_options):
        monkeypatch.setattr(module, "cpu_threads", lambda: 8)
    control = VLLMBackend.noise_control
    assert control(parse_precision(PrecisionSpec(name="vllm-bf16"))) == {"threads": 4}
    assert control(parse_precision(PrecisionSpec(name="vllm-bf16", options={"threads": 1}))) == {"threads": 2}
    assert control(parse_precision(PrecisionSpec(name="vllm-bf16", options={"threads": "0-3,6"}))) == {"threads": 2}
    assert control(parse_precision(PrecisionSpec(name="vllm-bf16", options={"threads": "auto"}))) == {"threads": 4}
    assert control(parse_precision(PrecisionSpec(name="vllm-bf16", options={"threads": "0-3|4-7"}))) is None
    assert [count_cpus(v) for v in (3, "auto", "2", "0-1,4-5", "0-3|4-7", "x", 0, True)] == [3, 8, 1, 4, None, None,
                                                                                          None, None]
    for module in (vllm, vllm_options):
        monkeypatch.setattr(module, "cpu_threads", lambda: 1)
    assert control(parse_precision(PrecisionSpec(name="vllm-bf16"))) is None  # one CPU: no second thread count to run


@pytest.mark.parametrize("value", [0, -2, "two", True, 1.5])
def test_a_bad_threads_value_is_one_line(value):
    with pytest.raises(UserError) as err:
        parse_precision(PrecisionSpec(name="bf16", options={"threads": value}))
    assert str(err.value).startswith(f"precision bf16: option threads={value!r}: input should be ")
    assert "\n" not in str(err.value)
    HFBackend.validate(parse_precision(PrecisionSpec(name="bf16", options={"threads": 3})), CPU)
    with pytest.raises(UserError, match="takes no option threads"):  # bnb does not take it
        parse_precision(PrecisionSpec(name="bnb-nf4", options={"threads": 1}))


def test_a_bad_threads_value_stops_the_cli_before_the_run(tiny_model, tmp_path, capsys):
    from qlongbench.cli import main

    out = tmp_path / "r"
    assert main(["run", "--model", str(tiny_model), "--precisions", "bf16:threads=0", "--lengths", "256",
                 "--samples", "1", "--out", str(out), "--no-report"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["qlongbench: error: precision bf16: option threads=0: input should be greater than or equal to 1"]
    assert not (out / "run.json").exists()


def test_the_plan_adds_a_twin_after_the_reference_and_each_engine_baseline(monkeypatch, torch_threads):
    torch_threads(2)
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    plan = planned("bf16,gguf-q4_k_m", noise_floor=True)
    assert labels(plan) == ["bf16", "bf16:threads=1", "gguf-bf16", "gguf-bf16:n_threads=2",
                                                    "gguf-q4_k_m"]
    assert plan.controls == {"bf16:threads=1": "bf16", "gguf-bf16:n_threads=2": "gguf-bf16"}
    assert plan.added == ("gguf-bf16",)  # a control is not an auto-added engine baseline
    # The twin keeps the original's options (those the baseline inherited from the quant).
    plan = planned("gguf-q4_k_m:n_threads=1,n_batch=64", noise_floor=True)
    assert labels(plan) == ["gguf-bf16:n_batch=64,n_threads=1",
                                                    "gguf-bf16:n_batch=64,n_threads=2", "gguf-q4_k_m:n_batch=64,n_threads=1"]
    # A user-given full-precision GGUF is the engine's baseline too; without the flag nothing is added.
    plan = planned("fp16,gguf-q8_0,gguf-f16", noise_floor=True)
    assert plan.controls == {"fp16:threads=1": "fp16", "gguf-f16:n_threads=2": "gguf-f16"}
    plan = planned("bf16,gguf-q4_k_m")
    assert plan.controls == {} and len(plan.precisions) == 3


def test_a_listed_twin_is_not_added_twice_and_an_engine_without_a_control_adds_none(monkeypatch, torch_threads):
    import qlongbench.backends.vllm as vllm

    torch_threads(2)
    plan = planned("bf16,bnb-nf4,bf16:threads=1", noise_floor=True)
    assert labels(plan) == ["bf16", "bf16:threads=1", "bnb-nf4"]  # once, beside bf16
    assert plan.controls == {"bf16:threads=1": "bf16"}
    monkeypatch.setattr(vllm, "cpu_threads", lambda: 1)
    plan = planned("bf16,vllm-gptq-int4:group_size=64", noise_floor=True)
    assert labels(plan) == ["bf16", "bf16:threads=1", "vllm-bf16",
                                                    "vllm-gptq-int4:group_size=64"]
    assert plan.controls == {"bf16:threads=1": "bf16"}


def test_the_reference_twin_runs_right_after_the_logprob_reference(monkeypatch, torch_threads):
    torch_threads(2)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    plan = planned("gguf-q4_k_m,bf16", tasks="kld", noise_floor=True)
    order = labels(plan)
    assert order[:2] == ["bf16", "bf16:threads=1"] and plan.logprob_reference == "bf16"
    assert order.index("gguf-bf16") < order.index("gguf-bf16:n_threads=1") < order.index("gguf-q4_k_m")


def test_a_control_is_never_the_engine_baseline_but_is_compared_with_it(monkeypatch, torch_threads):
    from qlongbench.spec.references import pick_engine_baseline

    llama = [parse_label(p) for p in ("gguf-bf16:n_threads=1", "gguf-bf16", "gguf-q4_k_m")]
    # Without the controls the first full-precision label listed wins: the twin.
    assert pick_engine_baseline(llama).label == "gguf-bf16:n_threads=1"
    assert pick_engine_baseline(llama, {"gguf-bf16:n_threads=1": "gguf-bf16"}).label == "gguf-bf16"
    torch_threads(2)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # the twins are bf16:threads=1 and gguf-bf16:n_threads=1
    plan = planned("bf16,bf16:threads=1,gguf-bf16,gguf-bf16:n_threads=1,gguf-q4_k_m", noise_floor=True)
    assert plan.controls == {"bf16:threads=1": "bf16", "gguf-bf16:n_threads=1": "gguf-bf16"}
    assert plan.engine_baselines == {"llama.cpp": "gguf-bf16"}
    assert plan.engine_baselines_for("bf16") == {"gguf-bf16:n_threads=1": "gguf-bf16", "gguf-q4_k_m": "gguf-bf16"}


def test_the_flag_and_the_spec_field(tmp_path):
    from qlongbench.cli import build_parser, spec_from_args

    base = ["run", "--model", str(tmp_path)]
    assert spec_from_args(build_parser().parse_args([*base, "--noise-floor"])).noise_floor is True
    assert spec_from_args(build_parser().parse_args(base)).noise_floor is False
    on, off = spec("bf16", noise_floor=True), spec("bf16")
    assert on.sample_identity() == off.sample_identity()  # the flag can be added on a resume
    assert on.identity_sha256() != off.identity_sha256()


def test_hf_runs_with_its_threads_and_gives_the_count_back_on_close(tiny_model, tiny_tokenizer, tmp_path,
                                                                    torch_threads):
    import torch

    from qlongbench.backends.base import LoadContext

    torch_threads(2)
    ctx = LoadContext(model=str(tiny_model), revision=None, device="cpu", cache_dir=tmp_path, tokenizer=tiny_tokenizer)
    backend = HFBackend(parse_precision(PrecisionSpec(name="fp32", options={"threads": 1})), ctx)
    try:
        assert torch.get_num_threads() == 1
        info = backend.info()
        assert info.precision == "fp32:threads=1" and info.recipe.options["threads"] == 1
    finally:
        backend.close()
    assert torch.get_num_threads() == 2
    backend.close()  # a second close leaves it alone
    assert torch.get_num_threads() == 2


def test_a_noise_floor_run_writes_the_twin_and_names_it_in_run_json(tiny_model, tmp_path, torch_threads):
    from qlongbench.run.header import RunHeader
    from qlongbench.run.runner import Runner
    from qlongbench.run.store import RunDir

    torch_threads(2)
    values = {"model": str(tiny_model), "precisions": "bf16", "lengths": [256], "samples": 2,
              "out": str(tmp_path / "r")}
    result = Runner(build_spec({**values, "noise_floor": True})).run()
    assert result.failed_precisions == {}
    rd = RunDir(tmp_path / "r")
    records = rd.records()
    assert sorted(r.precision for r in records) == ["bf16", "bf16", "bf16:threads=1", "bf16:threads=1"]
    assert all(r.status == "ok" for r in records)
    header = rd.read_header()
    assert header.plan.controls == {"bf16:threads=1": "bf16"} and header.plan.added == ()
    assert header.precisions["bf16"].recipe.options["threads"] == 2
    assert header.precisions["bf16:threads=1"].recipe.options["threads"] == 1
    data = json.loads(rd.run_json.read_text())
    assert data["plan"]["controls"] == {"bf16:threads=1": "bf16"}
    data["plan"].pop("controls")  # a plan without controls loads (none)
    assert RunHeader.load(data).plan.controls == {}
    # A resume without the flag keeps the controls it found (and has nothing to run).
    again = Runner(build_spec(values)).run()
    assert again.written == 0 and rd.read_header().plan.controls == {"bf16:threads=1": "bf16"}


def test_a_noise_floor_run_with_llama_cpp_and_kld(gguf_setup, tmp_path, torch_threads):
    """The GGUF twin runs after its original, and kld compares it with the reference and with the
    original (the engine baseline, never the twin): every record is ok."""
    from qlongbench.run.runner import Runner
    from qlongbench.run.store import RunDir

    torch_threads(2)
    spec = build_spec({"model": gguf_setup.model, "precisions": "bf16,gguf-q8_0:n_threads=2", "tasks": "niah,kld",
                       "lengths": [256], "samples": 1, "noise_floor": True, "cache_dir": str(gguf_setup.cache_dir),
                       "out": str(tmp_path / "r")})
    result = Runner(spec).run()
    assert result.failed_precisions == {}
    header = RunDir(tmp_path / "r").read_header()
    assert header.plan.controls == {"bf16:threads=1": "bf16", "gguf-bf16:n_threads=1": "gguf-bf16:n_threads=2"}
    assert set(header.precisions) == {"bf16", "bf16:threads=1", "gguf-bf16:n_threads=2", "gguf-bf16:n_threads=1",
                                      "gguf-q8_0:n_threads=2"}
    assert header.precisions["gguf-bf16:n_threads=1"].recipe.options["n_threads"] == 1
    # kld scores the twin against its original's kept distributions: ok only if the original ran first.
    records = RunDir(tmp_path / "r").records()
    assert len(records) == 10 and all(r.status == "ok" for r in records), [(r.precision, r.error) for r in records]
    twin = next(r for r in records if r.precision == "gguf-bf16:n_threads=1" and r.task == "kld")
    assert twin.metrics, twin
