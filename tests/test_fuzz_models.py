"""Fuzzing model directories (Hypothesis): copies of the tiny model with a config whose positions
are fewer than asked or whose geometry is absurd, a tokenizer without a chat template, a
safetensors header that lies about its tensors, pickle weights beside the safetensors. `qlongbench
run` on each must exit 0 with a correct run directory, or exit 2 with exactly one error line and
nothing written — never a traceback, never exit 1, and never unpickle a file it was not allowed to.

Budget: QLONGBENCH_FUZZ_EXAMPLES scales the example counts (percent; 100 = CI), e.g.

    QLONGBENCH_FUZZ_EXAMPLES=1000 python -m pytest tests/test_fuzz_models.py

Derandomized; no example database is kept."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz_helpers import assert_clean_outcome, fuzz_settings
from tests.reliability_helpers import cli, tree
from tests.test_fuzz_cli import assert_a_correct_run, fresh_dir

RUN = ("--lengths", "256", "--samples", "1", "--no-report", "-q", "--device", "cpu", "--max-new-tokens", "2")


def copy_model(tiny_model: Path, root: Path) -> Path:
    model = root / "model"
    shutil.copytree(tiny_model, model)
    return model


def run_on(capsys, model: Path, case: Path, *extra: str) -> tuple[int, str]:
    out = case / "run"
    before = tree(case / "run")
    rc, _, err = cli(capsys, ["run", "--model", model, "--out", out, *RUN, *extra])
    assert_clean_outcome(rc, err, before, tree(case / "run"))
    if rc == 0:
        assert_a_correct_run(out)
    return rc, err


# --- config.json -----------------------------------------------------------------------------------
POSITIONS = st.one_of(st.integers(-3, 600), st.integers(2**31, 2**64), st.sampled_from(["64", 1.5, True, None]))
BAD_VALUES = st.one_of(st.integers(-3, 0), st.sampled_from(["64", "abc", 1.5, float("nan"), [], {}, True]))
"""Values no config of a runnable model holds. (Plausible values that merely disagree with the
weights — another head count, or null for "as many KV heads as heads" — are found when the engine
loads them: a precision that could not run, exit 1; README "Reliability" says so.)"""


@st.composite
def config_change(draw) -> tuple[str, object]:
    key = draw(st.sampled_from(["max_position_embeddings", "max_position_embeddings", "num_hidden_layers",
                                "num_attention_heads", "num_key_value_heads", "hidden_size", "vocab_size", "head_dim",
                                "model_type", "architectures"]))
    return key, draw(POSITIONS if key == "max_position_embeddings" else BAD_VALUES)


@fuzz_settings(30)
@given(change=config_change(), lengths=st.sampled_from(["256", "256,512", "64"]))
def test_a_fuzzed_config_runs_correctly_or_is_one_line(capsys, tiny_model, tmp_path, change, lengths):
    """Positions fewer than the lengths asked (refused unless --allow-extrapolation), geometry
    that cannot be (0 or negative heads, a string for a size), an odd type anywhere."""
    key, value = change
    case = fresh_dir(tmp_path)
    model = copy_model(tiny_model, case)
    cfg = json.loads((model / "config.json").read_text())
    cfg[key] = value
    (model / "config.json").write_text(json.dumps(cfg))
    rc, err = run_on(capsys, model, case, "--lengths", lengths)
    if key == "max_position_embeddings" and isinstance(value, int) and not isinstance(value, bool) \
            and 0 < value < max(int(x) for x in lengths.split(",")):
        assert rc == 2 and "max_position_embeddings" in err


# --- the tokenizer ---------------------------------------------------------------------------------

@pytest.mark.parametrize("mode, ok", [("auto", True), ("off", True), ("on", False)])
def test_a_tokenizer_without_a_chat_template(capsys, tiny_model, tmp_path, mode, ok):
    """The tiny model has no chat template: auto and off run plain prompts, on is refused."""
    rc, err = run_on(capsys, tiny_model, tmp_path, "--chat-template", mode)
    assert (rc == 0) is ok, err
    if not ok:
        assert "chat template" in err


TEMPLATES = [
    5, True, [], {}, None, "", "   ", [{"name": "default"}], [{"name": "default", "template": 5}], [1, 2],
    [{"name": "default", "template": "{% for m in messages %}{{ m['content'] }}{% endfor %}"}],
    "{% if %}", "{{ messages[0]['content'] ", "{% for m in messages %}", "{{ raise_exception('no system turn') }}",
    "{{ messages[7]['content'] }}", "hello", "{% if add_generation_prompt %}A:{% endif %}",
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}",
    "{{ messages[0]['content'] }}{{ messages[0]['content'] }}", "{{ messages[0]['content'] | upper }}",
    "{{ messages | length }}", "{% for m in messages %}{{ m['content'][::-1] }}{% endfor %}",
    "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}{{ eos_token }}",
    "{% for m in messages %}{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}\n{% endif %}"]


@fuzz_settings(16)
@given(template=st.sampled_from(TEMPLATES), mode=st.sampled_from(["auto", "on", "off"]))
def test_a_fuzzed_chat_template_runs_correctly_or_is_one_line(capsys, tiny_model, tmp_path, template, mode):
    """tokenizer_config.json's chat_template of the wrong type, broken Jinja, a template that raises,
    drops or rewrites the user's text: the run completes (prompts framed by the template, or plain with
    --chat-template off) or is refused in one line with nothing written."""
    case = fresh_dir(tmp_path)
    model = copy_model(tiny_model, case)
    cfg = json.loads((model / "tokenizer_config.json").read_text())
    cfg["chat_template"] = template
    (model / "tokenizer_config.json").write_text(json.dumps(cfg))
    run_on(capsys, model, case, "--chat-template", mode)


# --- a safetensors header that lies ------------------------------------------------------------------

def read_safetensors(path: Path) -> tuple[dict, bytes]:
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]


def write_safetensors(path: Path, header: dict, body: bytes, length: int | None = None) -> None:
    raw = json.dumps(header).encode("utf-8")
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + body)


LIES = ["shape", "dtype", "offsets-past-end", "offsets-reversed", "offsets-overlap", "header-length", "drop-tensor",
        "extra-tensor", "not-a-dict", "negative-offset", "huge-shape"]


@fuzz_settings(40)
@given(lie=st.sampled_from(LIES), pick=st.integers(0, 10**6), amount=st.integers(1, 4096))
def test_a_safetensors_header_that_lies_is_one_line(capsys, tiny_model, tmp_path, lie, pick, amount):
    case = fresh_dir(tmp_path)
    model = copy_model(tiny_model, case)
    path = model / "model.safetensors"
    header, body = read_safetensors(path)
    names = sorted(k for k in header if k != "__metadata__")
    name = names[pick % len(names)]
    entry = header[name]
    length = None
    if lie == "shape":
        entry["shape"] = [*entry["shape"][:-1], entry["shape"][-1] + amount] if entry["shape"] else [amount]
    elif lie == "dtype":
        entry["dtype"] = ["F64", "I8", "BOOL", "F8_E4M3", "Q4", "f32"][pick % 6]
    elif lie == "offsets-past-end":
        entry["data_offsets"] = [entry["data_offsets"][0], len(body) + amount]
    elif lie == "offsets-reversed":
        entry["data_offsets"] = entry["data_offsets"][::-1]
    elif lie == "offsets-overlap":
        other = header[names[(pick + 1) % len(names)]]
        entry["data_offsets"] = list(other["data_offsets"])
    elif lie == "header-length":
        length = [0, 7, len(json.dumps(header)) + amount, 2**63][pick % 4]
    elif lie == "drop-tensor":
        del header[name]
    elif lie == "extra-tensor":
        header["model.ghost.weight"] = {"dtype": "F32", "shape": [amount], "data_offsets": [0, 4 * amount]}
    elif lie == "not-a-dict":
        header[name] = [1, 2, 3]
    elif lie == "negative-offset":
        entry["data_offsets"] = [-amount, entry["data_offsets"][1]]
    elif lie == "huge-shape":
        entry["shape"] = [2**40, 2**40]
    write_safetensors(path, header, body, length)
    rc, err = run_on(capsys, model, case)
    assert rc == 2 and "model.safetensors" in err, err  # refused before any engine reads it


# --- pickle weights beside the safetensors -------------------------------------------------------------

class _Marker:
    """Unpickling this touches a file: proof that a pickle was loaded."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pt", "model.ckpt"])
@pytest.mark.parametrize("allow_pickle", [False, True], ids=["safetensors-only", "allow-pickle"])
def test_pickle_weights_beside_safetensors_are_never_unpickled(capsys, tiny_model, tmp_path, name, allow_pickle):
    """Both formats present: the safetensors load; the pickle is never unpickled (it would touch
    a marker file), with or without --allow-pickle (safetensors are preferred)."""
    import pickle

    model = copy_model(tiny_model, tmp_path)
    marker = tmp_path / "UNPICKLED"
    (model / name).write_bytes(pickle.dumps(_Marker(str(marker))))
    rc, err = run_on(capsys, model, tmp_path, *(["--allow-pickle"] if allow_pickle else []))
    assert rc == 0, err
    assert not marker.exists()


# --- a GPTQ checkpoint=DIR broken the ways a download, an editor or another model would ----------------

PROJ = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def fake_checkpoint(tiny_model: Path, root: Path) -> Path:
    """The tiny model's files as a GPTQ int4 checkpoint (group size 64): its linear layers packed as
    GPTQ lays them out (qweight, scales, qzeros, g_idx; the numbers are not a quantization) and the
    settings in config.json. Every check made before the run passes (the test below proves it), so
    each break below is what the checks must find."""
    import numpy as np
    from safetensors.numpy import load_file, save_file

    ck = root / "ckpt"
    shutil.copytree(tiny_model, ck)
    tensors = load_file(ck / "model.safetensors")
    for name in [n for n in tensors if n.endswith(".weight") and n.split(".")[-2] in PROJ]:
        out, inp = tensors.pop(name).shape
        prefix, groups = name[: -len(".weight")], -(-inp // 64)
        tensors |= {f"{prefix}.qweight": np.zeros((inp * 4 // 32, out), np.int32),
                    f"{prefix}.scales": np.ones((groups, out), np.float16),
                    f"{prefix}.qzeros": np.zeros((groups, out * 4 // 32), np.int32),
                    f"{prefix}.g_idx": np.arange(inp, dtype=np.int32) // 64}
    save_file(tensors, ck / "model.safetensors", metadata={"format": "pt"})
    cfg = json.loads((ck / "config.json").read_text())
    cfg["quantization_config"] = {"quant_method": "gptq", "bits": 4, "group_size": 64, "desc_act": False, "sym": True,
                                  "checkpoint_format": "gptq"}
    (ck / "config.json").write_text(json.dumps(cfg, indent=2))
    return ck


def test_the_fake_checkpoint_passes_every_check_made_before_the_run(tiny_model, tmp_path):
    from qlongbench.run.model import load_tokenizer
    from qlongbench.run.planner import validate_precisions
    from qlongbench.spec.config import build_spec
    from qlongbench.spec.labels import parse_precision

    spec = build_spec({"model": str(tiny_model), "precisions": f"gptq-int4:checkpoint={fake_checkpoint(tiny_model, tmp_path)}"})
    precisions = [parse_precision(p) for p in spec.precisions]
    validate_precisions(precisions, str(tiny_model), "cpu")
    validate_precisions(precisions, str(tiny_model), "cpu", tokenizer=load_tokenizer(str(tiny_model), spec))


CHECKPOINT_BREAKS = ["config-cut", "config-not-object", "quant-missing", "quant-value", "quant-not-object",
                     "geometry", "legacy-cut", "legacy-value", "tokenizer-json", "tokenizer-swapped", "safetensors",
                     "no-weights", "pickle-only", "python-file", "auto-map", "unquantized", "packed"]
QUANT_BAD = {"bits": [0, 1, 5, 16, 8, 2, "4", 4.0, True, None, []], "group_size": [0, -2, 32, 128, -1, "128", 1.5, True],
             "desc_act": ["yes", 1, []], "sym": ["no", 0, {}], "quant_method": ["awq", "bitsandbytes", 5, None]}


@st.composite
def checkpoint_break(draw):
    kind = draw(st.sampled_from(CHECKPOINT_BREAKS))
    key = draw(st.sampled_from(sorted(QUANT_BAD)))
    return kind, key, draw(st.sampled_from(QUANT_BAD[key])), draw(st.integers(0, 10**6)), draw(st.sampled_from(LIES))


def break_checkpoint(ck: Path, tiny_model: Path, brk) -> None:
    kind, key, value, pick, lie = brk
    config = ck / "config.json"
    cfg = json.loads(config.read_text())
    if kind == "config-cut":
        text = config.read_text()
        config.write_text(text[: pick % (len(text) - 1)])
    elif kind == "config-not-object":
        config.write_text(json.dumps([cfg, 1, "x", None][pick % 4]))
    elif kind == "quant-missing":
        del cfg["quantization_config"]
        config.write_text(json.dumps(cfg))
    elif kind == "quant-value":
        cfg["quantization_config"][key] = value
        if key == "quant_method" and value is None:
            cfg["quantization_config"]["method"] = "awq"
        config.write_text(json.dumps(cfg))
    elif kind == "quant-not-object":
        cfg["quantization_config"] = [[1], "gptq", 4, True][pick % 4]
        config.write_text(json.dumps(cfg))
    elif kind == "geometry":
        name = ["num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size"][pick % 4]
        cfg[name] = [cfg[name] * 2, cfg[name] + 1, 0, -1, "64", 1.5][pick // 4 % 6]
        config.write_text(json.dumps(cfg))
    elif kind in ("legacy-cut", "legacy-value"):
        quant = cfg.pop("quantization_config")
        config.write_text(json.dumps(cfg))
        if kind == "legacy-value":
            quant[key] = value
            if key == "quant_method" and value is None:
                quant["method"] = "awq"
            (ck / "quantize_config.json").write_text(json.dumps(quant))
        else:
            text = json.dumps(quant)
            (ck / "quantize_config.json").write_text(text[: pick % (len(text) - 1)] if pick % 3 else "[]")
    elif kind == "tokenizer-json":
        name = ["tokenizer.json", "tokenizer_config.json"][pick % 2]
        text = (ck / name).read_text()
        (ck / name).write_text(text[: pick % (len(text) - 1)])
    elif kind == "tokenizer-swapped":
        from tests.engine_fixtures import swapped_vocab_tokenizer

        swapped_vocab_tokenizer(tiny_model, ck, 5 + pick % 40, 60 + pick % 40)
    elif kind == "safetensors":
        path = ck / "model.safetensors"
        header, body = read_safetensors(path)
        names = sorted(k for k in header if k != "__metadata__")
        header[names[pick % len(names)]]["data_offsets"] = {
            "offsets-past-end": [0, len(body) + 1], "offsets-reversed": [8, 0]}.get(lie, [0, 0])
        write_safetensors(path, header, body, None if lie != "header-length" else 7)
    elif kind == "no-weights":
        (ck / "model.safetensors").unlink()
    elif kind == "unquantized":  # GPTQ settings beside the reference's own weights
        shutil.copy(tiny_model / "model.safetensors", ck / "model.safetensors")
    elif kind == "packed":
        import numpy as np
        from safetensors.numpy import load_file, save_file

        tensors = load_file(ck / "model.safetensors")
        names = sorted(n for n in tensors if n.rsplit(".", 1)[-1] in ("qweight", "scales", "qzeros"))
        name = names[pick % len(names)]
        a = tensors[name]
        tensors[name] = [a[:-1], a.astype(np.float32) if a.dtype == np.int32 else a[:, :-1], a.reshape(-1),
                         None][pick // len(names) % 4]
        if tensors[name] is None:
            del tensors[name]
        save_file(tensors, ck / "model.safetensors", metadata={"format": "pt"})
    elif kind == "pickle-only":
        (ck / "model.safetensors").rename(ck / "pytorch_model.bin")
    elif kind == "python-file":
        (ck / "modeling_evil.py").write_text("raise SystemExit('ran')\n")
    elif kind == "auto-map":
        cfg["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.Model"}
        config.write_text(json.dumps(cfg))


@fuzz_settings(40)
@given(brk=checkpoint_break())
def test_a_broken_checkpoint_is_one_line_before_the_run(capsys, tiny_model, tmp_path, brk):
    """A checkpoint=DIR broken any of these ways is refused before the reference runs: one line naming
    the checkpoint (its directory or the file), exit 2, nothing written — not error records and exit 1
    after bf16 ran."""
    case = fresh_dir(tmp_path)
    ck = fake_checkpoint(tiny_model, case)
    break_checkpoint(ck, tiny_model, brk)
    out = case / "run"
    rc, _, err = cli(capsys, ["run", "--model", tiny_model, "--out", out, *RUN, "--precisions",
                              f"bf16,gptq-int4:checkpoint={ck}"])
    assert_clean_outcome(rc, err, {}, tree(out))
    assert rc == 2 and str(ck) in err, err
