import pytest

from qlongbench.spec.config import build_spec, parse_named_list, load_yaml
from qlongbench.spec.lengths import parse_length, parse_lengths
from qlongbench.errors import UserError


@pytest.mark.parametrize("text,expected", [
    ("4k", 4096), ("4K", 4096), ("128k", 131072), ("1000", 1000), (" 2k ", 2048), ("1.5k", 1536), (300, 300),
])
def test_parse_length(text, expected):
    assert parse_length(text) == expected


@pytest.mark.parametrize("text", ["", "k", "4m", "-1k", "1.3k", "abc", "8"])
def test_parse_length_rejects(text):
    with pytest.raises(UserError):
        parse_length(text)


def test_parse_lengths_list():
    assert parse_lengths("1k,2k,4k") == [1024, 2048, 4096]


def test_named_list_options_follow_their_precision():
    items = parse_named_list("bf16,bnb-nf4:double_quant=true,compute_dtype=bf16,gguf-q4_k_m:n_threads=2", "precision")
    assert items == [
        {"name": "bf16", "options": {}},
        {"name": "bnb-nf4", "options": {"double_quant": True, "compute_dtype": "bf16"}},
        {"name": "gguf-q4_k_m", "options": {"n_threads": 2}},
    ]


def test_named_list_value_with_colon():
    items = parse_named_list("niah-single:haystack=file:/tmp/a.txt,rag", "task")
    assert items[0]["options"] == {"haystack": "file:/tmp/a.txt"}
    assert items[1]["name"] == "rag"


def test_option_before_name_is_an_error():
    with pytest.raises(UserError, match="comes before"):
        parse_named_list("a=1,bf16", "precision")


def test_spec_defaults_and_identity():
    spec = build_spec({"model": "m", "lengths": "1k,2k"})
    assert spec.lengths == [1024, 2048]
    assert [p.name for p in spec.precisions] == ["bf16"]
    other = build_spec({"model": "m", "lengths": "1k,2k", "out": "elsewhere"})
    assert spec.identity_sha256() == other.identity_sha256()
    assert spec.identity_sha256() != build_spec({"model": "m", "lengths": "1k"}).identity_sha256()


@pytest.mark.parametrize("values,message", [
    ({"samples": 0}, "samples: samples must be at least 1"),
    ({"lengths": []}, "lengths: must name at least one"),
    ({"bogus": 1}, "bogus: Extra inputs are not permitted"),
    ({"device": "tpu"}, "device"),
    ({"samples": "many"}, "samples"),
])
def test_spec_errors_are_one_line(values, message):
    with pytest.raises(UserError) as err:
        build_spec(values)
    text = str(err.value)
    assert message in text
    assert "\n" not in text


def test_yaml_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("lengths: [1k, 2k\nsamples: 3\n")
    with pytest.raises(UserError, match="not valid YAML at line"):
        load_yaml(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n")
    with pytest.raises(UserError, match="mapping"):
        load_yaml(listy)
    with pytest.raises(UserError, match="does not exist"):
        load_yaml(tmp_path / "missing.yaml")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"samples: 3\nname: caf\xe9\n")
    with pytest.raises(UserError, match=r"latin.yaml:2: not UTF-8 text \(byte 20\)"):
        load_yaml(latin)


def test_unknown_task_and_precision_suggest():
    from qlongbench import registry

    with pytest.raises(UserError, match="did you mean niah-single"):
        registry.task_class("niah-singel")
    with pytest.raises(UserError, match="did you mean bf16"):
        registry.backend_class("bf61")


def test_the_default_suite_names_the_run_unless_the_user_chose_a_directory(tmp_path):
    """`qlongbench run` alone writes reports/default/; with --out (or a config's out) and no --name the
    run and its report are named after that directory, as for any model (issue: a bundled-model run
    with --out overwrote reports/default/)."""
    from qlongbench.spec.config import layered_values

    values, source = layered_values({}, {})
    assert build_spec(values, source).name == "default" and source == "default suite"
    values, _ = layered_values({}, {"out": str(tmp_path / "mine")})
    assert build_spec(values).name is None and build_spec(values).out == str(tmp_path / "mine")
    values, _ = layered_values({"out": "runs/x"}, {}, "c.yaml")
    assert build_spec(values).name is None
    values, _ = layered_values({}, {"out": "runs/x", "name": "chosen"})
    assert build_spec(values).name == "chosen"
    values, _ = layered_values({}, {"model": "m", "out": "runs/x"})
    assert "precisions" not in values  # a named model never gets the default suite
