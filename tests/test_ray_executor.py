"""The Ray executor on a real local Ray cluster (a head with two worker slots, started here and
ended here by its process group): the same records as one process, a worker killed -9 mid-unit
retried by Ray with the samples already written skipped, the driver killed -9 and restarted,
artifacts built once by concurrent workers. Every driver runs as its own process (Ray's token
authentication is read from the environment when Ray is first imported)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from qlongbench.run.plan import Cell
from qlongbench.run.units import plan_units, unit_gpus
from qlongbench.spec.config import PrecisionSpec, build_spec
from qlongbench.spec.labels import parse_precision
from qlongbench.types import Sample

DRIVER = """
import json, sys, time
from qlongbench.spec.config import build_spec
from qlongbench.run.runner import Runner
delay = float(sys.argv[2])
def slow(event, **_):  # pickled by value (it lives in __main__): it runs in the Ray workers
    if event == "forward":
        time.sleep(delay)
r = Runner(build_spec(json.loads(sys.argv[1])), fault_hook=slow if delay else None).run()
print(json.dumps({"written": r.written, "skipped": r.skipped, "failed": r.failed_precisions}))
"""


# --- planning (no Ray) -------------------------------------------------------------------------
def _sample(task: str, length: int, i: int, context: int | None = None, cut: int | None = None) -> Sample:
    """A prompt of `length` ids: its own context (ids from 10 * context, default one per sample), cut
    to `cut` ids when given (a nested haystack), then two question ids."""
    n = cut if cut is not None else length
    base = 100_000 * (i if context is None else context) + 10
    ids = tuple(range(base, base + n)) + (1, 2)
    return Sample(sample_id=f"{task}-{length}-{i}", task=task, language="en", instruction_language="en",
                  length=length, index=i, seed=0, status="ok", prompt_ids=ids, prefix_len=n,
                  max_new_tokens=4, expected=("a",), prompt_sha256="x")


def _cells(lengths=(256, 512, 1024), n=2) -> dict[Cell, list[Sample]]:
    return {Cell("niah-single", "en", "en", L): [_sample("niah-single", L, i + 10 * L) for i in range(n)]
            for L in lengths}


def _units_of(units, label):
    return [set(u.sample_ids) for u in units if u.label == label]


def test_units_deal_prompts_and_skip_what_is_written():
    samples = _cells()
    bf16, fp32 = parse_precision(PrecisionSpec(name="bf16")), parse_precision(PrecisionSpec(name="fp32"))
    done = {("bf16", "niah-single-1024-10240")}
    units, skipped = plan_units([bf16, fp32], samples, done, replicas=2)
    assert skipped == 1
    assert [u.name for u in units] == ["bf16#1/2", "bf16#2/2", "fp32#1/2", "fp32#2/2"]
    for label in ("bf16", "fp32"):
        ids = [i for u in units if u.label == label for i in u.sample_ids]
        assert len(ids) == len(set(ids)) == 6 - (label == "bf16")
    # work quadratic in length: the two 1024 prompts (1024 * 1.5 each) outweigh 256 + 512 ones, so
    # each slice takes one 1024 prompt: the longest cell is split, never one slice's alone
    assert all(sum("-1024-" in i for i in part) == 1 for part in _units_of(units, "fp32"))
    from qlongbench.run.scheduler import answer_cost, prefill_cost

    costs = {i: c for u in units if u.label == "fp32" for i, c in zip(u.sample_ids, u.costs, strict=True)}
    assert costs["niah-single-1024-10240"] == (prefill_cost(1024), answer_cost(1026))  # what progress weighs by
    one, _ = plan_units([bf16], samples, set(), replicas=1)
    assert one[0].sample_ids == tuple(s.sample_id for ss in samples.values() for s in ss)  # run order kept
    many, _ = plan_units([bf16], samples, set(), replicas=8)
    assert len(many) == 6  # never more slices than prompts that share nothing
    assert all(u.sample_ids == tuple(sorted(u.sample_ids, key=list(one[0].sample_ids).index)) for u in many)
    nothing, skipped = plan_units([bf16], samples, {("bf16", i) for i in one[0].sample_ids}, replicas=2)
    assert skipped == 6 and [u.sample_ids for u in nothing] == [()]  # a precision already written: one empty unit


def test_units_keep_shared_and_nested_contexts_together():
    """The questions on one context, and the shorter cuts of a nested haystack, stay in one slice
    (so each context is still prefilled once); independent long prompts are spread."""
    bf16 = parse_precision(PrecisionSpec(name="bf16"))
    cells = {Cell("nested", "en", "en", L): [_sample("nested", L, 10 * L + q, context=c, cut=L)
                                             for c in (1, 2) for q in range(3)] for L in (512, 1024, 2048)}
    for cell, ss in cells.items():  # three questions per context, two haystacks, each cut at three lengths
        cells[cell] = [s.model_copy(update={"sample_id": f"{s.sample_id}-c{s.prompt_ids[0] // 100_000}"}) for s in ss]
    units, _ = plan_units([bf16], cells, set(), replicas=2)
    assert len(units) == 2
    haystacks = [{sid.rsplit("-c", 1)[1] for sid in u.sample_ids} for u in units]
    assert haystacks == [{"1"}, {"2"}] or haystacks == [{"2"}, {"1"}]
    assert all(len(u.sample_ids) == 9 for u in units)
    # with the cell dealt whole (before), the 2048 cell went to one slice and both haystacks were
    # prefilled again in the other: count the tokens each unit prefills
    from qlongbench.run.scheduler import group_by_prefix, order_groups, tokens_to_prefill

    by_id = {s.sample_id: s for ss in cells.values() for s in ss}
    prefilled = sum(tokens_to_prefill(order_groups(group_by_prefix([by_id[i] for i in u.sample_ids]))) for u in units)
    assert prefilled == 2 * 2048


def test_unit_gpus_from_engine_and_user():
    spec = build_spec({"model": "m", "precisions": "bf16,vllm-bf16:tensor_parallel_size=4"})
    bf16, tp = (parse_precision(p) for p in spec.precisions)
    assert unit_gpus(bf16, spec, cluster_gpus=8) == 1 and unit_gpus(tp, spec, cluster_gpus=8) == 4
    assert unit_gpus(bf16, spec, cluster_gpus=0) == 0
    assert unit_gpus(bf16, build_spec({"model": "m", "device": "cpu"}), cluster_gpus=8) == 0
    user = build_spec({"model": "m", "gpus": "bf16=2,*=0.5"})
    assert unit_gpus(bf16, user, 8) == 2 and unit_gpus(tp, user, 8) == 0.5
    assert build_spec({"model": "m", "gpus": 1}).gpus == {"*": 1}
    assert build_spec({"model": "m", "executor": "ray"}).identity_sha256() == build_spec({"model": "m"}).identity_sha256()


# --- a local Ray cluster -----------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head():
    """`ray start --head --block` with two CPUs, token authentication and ports of its own, in a
    process group of its own that the teardown ends. Skipped where Ray is not installed."""
    pytest.importorskip("ray")
    env = dict(os.environ, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(16), RAY_USAGE_STATS_ENABLED="0")
    temp = tempfile.mkdtemp(prefix="qlr", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    port = _free_port()
    cmd = [str(Path(sys.executable).with_name("ray")), "start", "--head", "--block", "--num-cpus", "2",
           "--port", str(port), "--include-dashboard", "false", "--dashboard-port", str(_free_port()),
           "--dashboard-agent-listen-port", str(_free_port()), "--temp-dir", temp, "--disable-usage-stats"]
    log = open(Path(temp) / "head.log", "w")
    head = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 120
        while "will now block" not in (Path(temp) / "head.log").read_text():
            assert head.poll() is None and time.time() < deadline, (Path(temp) / "head.log").read_text()[-2000:]
            time.sleep(0.5)
        yield {"address": f"127.0.0.1:{port}", "env": env, "pid": head.pid}
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(head.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        head.wait()
        log.close()


def _driver(spec: dict, head: dict, delay: float = 0.0) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", DRIVER, json.dumps(spec), str(delay)], env=head["env"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _spec(model: Path, out: Path, head: dict | None, **extra) -> dict:
    spec = {"model": str(model), "lengths": [256], "samples": 6, "precisions": "bf16,fp32", "out": str(out),
            **extra}
    if head is not None:
        spec |= {"executor": "ray", "ray_address": head["address"]}
    return spec


def _records(out: Path) -> list[dict]:
    path = out / "records.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def _placements(out: Path) -> dict:
    try:
        return json.loads((out / "run.json").read_text())["executor"]["placements"]
    except (OSError, ValueError, KeyError):
        return {}


def _descends_from(pid: int, ancestor: int) -> bool:
    """Whether pid is a descendant of ancestor (read from /proc)."""
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rpartition(")")[2].split()[1])
    return False


def _wait(what, timeout: float = 300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = what()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_ray_writes_the_same_records_as_one_process(tiny_model, tmp_path, ray_head):
    from qlongbench.run.store import load_run

    spec = {"lengths": [256, 320], "samples": 2}
    local = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(_spec(tiny_model, tmp_path / "l", None, **spec)),
                            "0"], capture_output=True, text=True, timeout=600)
    assert local.returncode == 0, local.stderr[-3000:]
    proc = _driver(_spec(tiny_model, tmp_path / "r", ray_head, replicas=2, **spec), ray_head)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    assert json.loads(out.splitlines()[-1]) == {"written": 8, "skipped": 0, "failed": {}}

    def same(r):
        return {rec.key(): (rec.output, rec.prompt_sha256, rec.gen_config_sha256, rec.status, rec.score,
                            rec.n_generated_tokens) for rec in r.records}

    import ray

    a, b = load_run(tmp_path / "l"), load_run(tmp_path / "r")
    assert same(a) == same(b) and len(same(b)) == 8
    ex = b.header.executor
    assert ex.name == "ray" and ex.ray_version == ray.__version__ and ex.address == ray_head["address"]
    assert sorted(ex.placements) == ["bf16#1/2", "bf16#2/2", "fp32#1/2", "fp32#2/2"]
    assert all(p.node_id and p.device == "cpu" and p.host and p.cpu for p in ex.placements.values())
    assert a.header.executor.name == "local" and a.header.executor.placements["bf16"].node_id is None


def _running_units(head: int) -> int:
    """Processes of the head's cluster whose title is a running unit's task ("ray::qlongbench <unit>"; an
    idle worker is "ray::IDLE"). Other Ray clusters on the machine are not counted."""
    n = 0
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and (p / "cmdline").read_bytes().startswith(b"ray::qlongbench "):
                n += _descends_from(int(p.name), head)
        except OSError:
            pass
    return n


@pytest.mark.parametrize("cpus,per_unit,slots", [(2, 1, 2), (2.0, 0.5, 4), (16, 3, 5), (1, 2, 1), (0, 1, 1)])
def test_unit_slots(cpus, per_unit, slots):
    from qlongbench.run.ray_executor import unit_slots

    assert unit_slots(cpus, per_unit) == slots


def test_no_more_units_run_at_once_than_the_cluster_has_cpus(tiny_model, tmp_path, ray_head):
    """Ray lends a task's CPUs to other tasks while it waits in ray.get (each record's acknowledgement), so
    it would start every unit at once; the driver hands out at most CPUs / cpus-per-unit: four units on
    the 2-CPU head, never more than two running."""
    proc = _driver(_spec(tiny_model, tmp_path / "r", ray_head, replicas=2, lengths=[256, 320], samples=2), ray_head)
    most = 0
    while proc.poll() is None:
        most = max(most, _running_units(ray_head["pid"]))
        time.sleep(0.02)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    assert json.loads(out.splitlines()[-1])["written"] == 8
    assert 1 <= most <= 2, most  # at least one seen: the check can fail


def test_worker_killed_mid_unit_then_driver_killed_resume_exactly_once(tiny_model, tmp_path, ray_head):
    """kill -9 of the worker running bf16 after its first record: Ray retries the unit, which skips
    the records already sent; then kill -9 of the driver mid-sweep; a second driver resumes."""
    from qlongbench.run.store import load_run

    out = tmp_path / "k"
    spec = _spec(tiny_model, out, ray_head)
    d1 = _driver(spec, ray_head, delay=0.03)
    try:
        first = _wait(lambda: _placements(out).get("bf16") if any(r["precision"] == "bf16"
                                                                  for r in _records(out)) else None)
        victim = first["pid"]
        assert _descends_from(victim, ray_head["pid"])  # a Ray worker of our head, not anything else
        os.kill(victim, signal.SIGKILL)
        written_before = sum(r["precision"] == "bf16" for r in _records(out))
        assert 1 <= written_before < 6, "the unit ended before the kill landed"
        retried = _wait(lambda: p if (p := _placements(out).get("bf16")) and p["attempt"] >= 1 else None)
        assert retried["pid"] != victim
        assert retried["skipped"] >= written_before  # the retry did not run them again
        at_driver_kill = len(_records(out))
        assert at_driver_kill < 12, "the sweep ended before the driver kill"
        print(f"worker {victim} killed after {written_before} bf16 records; attempt {retried['attempt']} "
              f"(pid {retried['pid']}) skipped {retried['skipped']}; driver killed at {at_driver_kill}/12 records")
    finally:
        d1.kill()
        d1.communicate()
    assert d1.returncode == -signal.SIGKILL
    d2 = _driver(spec, ray_head)
    stdout, err = d2.communicate(timeout=600)
    assert d2.returncode == 0, err[-3000:]
    result = json.loads(stdout.splitlines()[-1])
    assert result["failed"] == {} and result["written"] + result["skipped"] == 12
    run = load_run(out)  # one record per key, each on its frozen prompt: verified from disk
    assert len(run.records) == 12 and len({r.key() for r in run.records}) == 12
    assert all(r.status == "ok" for r in run.records)
    assert (out / "records.jsonl").read_bytes().count(b"\n") == 12


ARTIFACT = """
import json, sys, time, ray
from qlongbench.backends.build.artifacts import ArtifactCache
from qlongbench.types import QuantRecipe
ray.init(address=sys.argv[1], log_to_driver=False)
cache, counter = sys.argv[2], sys.argv[3]

@ray.remote(num_cpus=1)
def prepare():
    def build(tmp):
        with open(counter, "a") as fh:
            fh.write("built\\n")
        time.sleep(2)
        (tmp / "model.gguf").write_bytes(b"weights")
        return tmp / "model.gguf"
    got = ArtifactCache(cache).get_or_build(kind="gguf", source="m", source_sha256="s",
                                            recipe=QuantRecipe(method="gguf", quant_type="q4_k_m"),
                                            builder={"convert": "1"}, build=build)
    return got.built, got.artifact.sha256, str(got.path)

print(json.dumps(ray.get([prepare.remote(), prepare.remote()])))
"""


def test_an_artifact_two_units_need_is_built_once(tmp_path, ray_head):
    proc = subprocess.run([sys.executable, "-c", ARTIFACT, ray_head["address"], str(tmp_path / "cache"),
                           str(tmp_path / "builds")], env=ray_head["env"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.splitlines()[-1])
    assert sorted(b for b, _, _ in got) == [False, True]  # one built it, the other waited and reused it
    assert len({(sha, path) for _, sha, path in got}) == 1
    assert (tmp_path / "builds").read_text() == "built\n"


def test_a_unit_no_node_can_hold_is_refused_before_anything_is_written(tiny_model, tmp_path, ray_head):
    out = tmp_path / "g"
    proc = subprocess.run([sys.executable, "-m", "qlongbench.cli", "run", "--model", str(tiny_model), "--lengths",
                           "256", "--samples", "1", "--out", str(out), "--no-report", "--executor", "ray",
                           "--ray-address", ray_head["address"], "--gpus", "1"], env=ray_head["env"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "asks for 1 GPUs but no node of the Ray cluster has more than 0" in proc.stderr
    assert not (out / "run.json").exists()
