"""A precision label is parsed once into a typed Precision: its backend declares its options as a
pydantic model (a docstring per field), an unknown or ill-typed option is one line naming it and what
it takes, and `qlongbench precisions` lists every backend's options from that model."""

from __future__ import annotations

import pytest

from qlongbench import registry
from qlongbench.errors import UserError
from qlongbench.spec.labels import OPTIONS, parse_label
from qlongbench.spec.precision import BackendOptions, Precision


@pytest.mark.parametrize("text, engine, kv, weights", [
    ("bf16", "transformers", None, "bf16"),
    ("bf16:threads=2", "transformers", None, "bf16:threads=2"),
    ("gguf-q4_k_m+kv=q8_0:n_threads=1", "llama.cpp", "q8_0", "gguf-q4_k_m:n_threads=1"),
    ("gptq-int4:seq_len=256,group_size=64,n_samples=16", "transformers", None,
     "gptq-int4:group_size=64,n_samples=16,seq_len=256"),
    ("bnb-nf4:double_quant=true", "transformers", None, "bnb-nf4:double_quant=True"),
])
def test_a_label_parses_once_into_a_typed_precision(text, engine, kv, weights):
    p = parse_label(text)
    assert (p.engine, p.kv, p.weights) == (engine, kv, weights)
    assert isinstance(p.options, registry.backend_class(p.name).Options)
    assert Precision.model_validate_json(p.model_dump_json(), strict=True, context=OPTIONS) == p  # run.json keeps it typed


def test_options_are_typed_with_their_defaults():
    p = parse_label("gptq-int4:group_size=64,compute_dtype=FP16")
    assert p.options.group_size == 64 and p.options.n_samples == 128 and p.options.compute_dtype == "fp16"
    assert parse_label("gguf-q8_0:file=/x.gguf").options.given_artifact() == "/x.gguf"
    assert parse_label("vllm-bf16:tensor_parallel_size=4").options.gpus_per_unit() == 4
    assert parse_label("bf16").options.gpus_per_unit() == 1 and parse_label("bf16").options.given_artifact() is None


@pytest.mark.parametrize("text, needle", [
    ("bnb-nf4:group_size=64", "precision bnb-nf4 takes no option group_size; options: double_quant, compute_dtype"),
    ("bnb-nf4:compute_dtype=int3", "option compute_dtype='int3': input should be 'bf16', 'fp16', 'fp32'"),
    ("bnb-nf4:double_quant=1", "option double_quant=1: input should be true or false"),
    ("bnb-int8:double_quant=true", "double_quant applies to the 4-bit types only"),
    ("gguf-q4_k_m:n_threads=0", "option n_threads=0: input should be greater than or equal to 1"),
    ("gguf-q4_k_m:type_v=q8_0,flash_attn=false", "needs flash_attn=true"),
    ("gguf-q4_k_m+kv=q8_0:type_k=q4_0", "give the KV cache type once"),
    ("gptq-int4:group_size=0", "option group_size=0: group_size must be a positive integer or -1"),
    ("vllm-bf16:threads=x", "option threads='x': input should be a valid integer or string should match pattern"),
    ("bf16+kv=q8_0", "no KV cache type 'q8_0'"),
])
def test_a_bad_option_is_one_line_naming_it(text, needle):
    with pytest.raises(UserError) as err:
        parse_label(text)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_a_precision_read_back_is_typed_by_its_backend_and_refused_in_one_line():
    import json

    from pydantic import ValidationError

    data = json.loads(parse_label("gguf-q4_k_m").model_dump_json())
    with pytest.raises(ValidationError, match="option n_threads=0: input should be greater than or equal to 1"):
        Precision.model_validate(data | {"options": {"n_threads": 0}}, context=OPTIONS)
    with pytest.raises(ValidationError, match="unknown precision 'gguf-q9'"):
        Precision.model_validate(data | {"name": "gguf-q9"}, context=OPTIONS)


def test_every_backend_declares_its_options_with_docs():
    for name in registry.names(registry.BACKENDS):
        model = registry.backend_class(name).Options
        assert issubclass(model, BackendOptions)
        for key, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{key} has no docstring"


def test_the_listing_prints_each_backends_options(capsys):
    from qlongbench.cli import main

    assert main(["precisions"]) == 0
    out = capsys.readouterr().out
    assert "options of gguf-bf16" in out and "n_threads=unset  CPU threads" in out
    assert "group_size=128  Columns that share one scale" in out and "threads=unset  torch's thread count" in out


def test_a_bad_option_stops_the_cli_with_exit_2(tmp_path, capsys):
    from qlongbench.cli import main

    assert main(["run", "--model", str(tmp_path), "--precisions", "bf16,gguf-q4_k_m:n_batch=lots",
                 "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["qlongbench: error: precision gguf-q4_k_m: option n_batch='lots': input should be a valid integer"]
    assert not (tmp_path / "r").exists()
