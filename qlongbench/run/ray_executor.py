"""The Ray executor: each unit of work is a Ray task that asks for its own GPUs and CPUs; Ray
places it on a node, and retries it (with the samples already received skipped) when its worker
process or node is lost. Records come back to the driver through a small actor on the driver's
node, the sink, which the driver polls: the driver stays the only writer of records.jsonl.

Why not a streaming generator task: Ray retries one from the start and drops as many of the new
attempt's yields as the lost attempt had delivered (by position). An attempt that skips the
samples already written yields fewer items, so that would silently drop records; an attempt that
skips nothing would recompute every delivered sample. The sink is keyed by (precision, sample)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from qlongbench.errors import UserError
from qlongbench.run.drive import one_line
from qlongbench.run.executors import Ledger
from qlongbench.run.header import ExecutorInfo
from qlongbench.run.plan import Cell
from qlongbench.run.units import Unit, UnitContext, run_unit, unit_gpus
from qlongbench.spec.config import RunSpec
from qlongbench.spec.precision import Precision
from qlongbench.tokenizer import PromptTokenizer
from qlongbench.types import Record, Sample

log = logging.getLogger(__name__)

MAX_RETRIES = 3
"""Attempts Ray makes after the first when a unit's worker process or node is lost."""
POLL_S = 0.5
"""Longest wait for records before the driver looks at which units ended."""
FORWARDED_ENV = ("HF_", "HUGGINGFACE_", "TRANSFORMERS_", "TOKENIZERS_", "QLONGBENCH_", "LLAMA_", "VLLM_")
"""Environment variables (by prefix) the driver hands to every worker: hub offline switches and
caches, the engines' own settings."""


class _Sink:
    """Records on their way from the units to the driver (a Ray actor on the driver's node)."""

    def __init__(self) -> None:
        import asyncio

        self.queue: list[tuple[str, Any]] = []
        self.seen: dict[str, set[tuple[str, str]]] = {}
        self.attempts: dict[str, int] = {}
        self.ready = asyncio.Event()

    async def begin(self, unit: str, label: str) -> tuple[int, set[tuple[str, str]]]:
        """An attempt of a unit starts: its attempt number, and the keys of its precision received
        so far (a retried attempt skips them)."""
        attempt = self.attempts.get(unit, -1) + 1
        self.attempts[unit] = attempt
        return attempt, set(self.seen.get(label, ()))

    async def put(self, unit: str, key: tuple[str, str] | None, event: Any) -> None:
        if key is not None:
            self.seen.setdefault(key[0], set()).add(key)
        self.queue.append((unit, event))
        self.ready.set()

    async def take(self, timeout: float) -> list[tuple[str, Any]]:
        import asyncio

        if not self.queue:
            try:
                await asyncio.wait_for(self.ready.wait(), timeout)
            except asyncio.TimeoutError:
                pass
        out, self.queue = self.queue, []
        self.ready.clear()
        return out


def _unit_task(unit: Unit, ctx: UnitContext, sink: Any, parts: list[Any], *after: Any) -> str:
    """One unit on a Ray worker: its samples fetched from the object store, its records sent to the
    sink one at a time (each acknowledged before the next sample is run)."""
    import ray

    rc = ray.get_runtime_context()
    attempt, seen = ray.get(sink.begin.remote(unit.name, unit.label))
    ids = set(unit.sample_ids)
    samples = [s for part in ray.get(list(parts)) for s in part if s.sample_id in ids]
    where = {"node_id": rc.get_node_id(), "attempt": attempt, "skipped": sum(1 for k in seen if k[1] in ids),
             "accelerator_ids": [str(i) for i in rc.get_accelerator_ids().get("GPU", [])]}
    for event in run_unit(unit, ctx, samples, skip=seen, where=where):
        key = event.key() if isinstance(event, Record) else None
        ray.get(sink.put.remote(unit.name, key, event))
    return unit.name


class RayExecutor:
    """Units as Ray tasks on a cluster (--ray-address / $RAY_ADDRESS) or on a local Ray."""

    name = "ray"

    def __init__(self, spec: RunSpec):
        self.spec = spec
        self.address = spec.ray_address or os.environ.get("RAY_ADDRESS") or None
        self._ray: Any = None

    def connect(self) -> Any:
        """Ray, initialised once: joined to the cluster, or a local Ray started for the run."""
        if self._ray is not None:
            return self._ray
        try:
            import ray
        except ImportError:
            raise UserError("--executor ray needs Ray: pip install 'qlongbench[ray]'") from None
        if not ray.is_initialized():
            env = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV)}
            debug = logging.getLogger("qlongbench").isEnabledFor(logging.DEBUG)
            try:
                ray.init(address=self.address or "local", include_dashboard=False if not self.address else None,
                         log_to_driver=debug, logging_level=logging.INFO if debug else logging.ERROR,
                         runtime_env={"env_vars": env} if env else None)
            except (ConnectionError, RuntimeError, ValueError) as err:
                hint = "" if os.environ.get("RAY_AUTH_MODE") else (
                    " (a cluster started by `ray start` with a token in ~/.ray/auth_token wants RAY_AUTH_MODE=token "
                    "here too)")
                raise UserError(f"cannot join the Ray cluster at {self.address}: {one_line(err)}{hint}") from None
        self._ray = ray
        return ray

    def driver_device(self, spec: RunSpec, precisions: Sequence[Precision]) -> str:
        """cpu or cuda as asked (the driver needs no GPU of its own); auto: cuda when the cluster has
        GPUs. A unit no node could ever hold is refused here, before anything is written (Ray
        would wait for it forever)."""
        ray = self.connect()
        self._resources(ray, [Unit(p, ()) for p in precisions])
        if spec.device != "auto":
            return spec.device
        return "cuda" if ray.cluster_resources().get("GPU", 0) > 0 else "cpu"

    def info(self) -> ExecutorInfo:
        return ExecutorInfo(name="ray", ray_version=self.connect().__version__, address=self.address)

    def run(self, units: Sequence[Unit], ctx: UnitContext, samples: dict[Cell, list[Sample]], ledger: Ledger,
            *, tokenizer: PromptTokenizer) -> None:
        ray = self.connect()
        try:
            self._run(ray, units, ctx, samples, ledger)
        finally:
            ray.shutdown()
            self._ray = None

    def _resources(self, ray: Any, units: Sequence[Unit]) -> dict[str, float]:
        """GPUs of each unit, refused up front when no node could ever hold it (a unit's GPUs are
        all on one node; Ray would wait for it forever)."""
        nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
        node_gpus = max((n.get("GPU", 0) for n in nodes), default=0)
        node_cpus = max((n.get("CPU", 0) for n in nodes), default=0)
        gpus = {u.name: unit_gpus(u.precision, self.spec, ray.cluster_resources().get("GPU", 0)) for u in units}
        for u in units:
            if gpus[u.name] > node_gpus:
                raise UserError(f"precision {u.label} asks for {gpus[u.name]:g} GPUs but no node of the Ray cluster "
                                f"has more than {node_gpus:g}; lower --gpus, or add GPU nodes")
        if self.spec.cpus_per_unit > node_cpus:
            raise UserError(f"each unit asks for {self.spec.cpus_per_unit:g} CPUs but no Ray node has more than "
                            f"{node_cpus:g}; lower --cpus-per-unit")
        return gpus

    def _run(self, ray: Any, units: Sequence[Unit], ctx: UnitContext, samples: dict[Cell, list[Sample]],
             ledger: Ledger) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        todo = [u for u in units if u.sample_ids]
        for u in units:
            if not u.sample_ids:
                ledger.start(u)
        if not todo:
            return
        gpus = self._resources(ray, todo)
        here = ray.get_runtime_context().get_node_id()
        sink = ray.remote(num_cpus=0)(_Sink).options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=here, soft=False)).remote()
        cell_of = {s.sample_id: cell for cell, ss in samples.items() for s in ss}
        parts = {cell: ray.put(ss) for cell, ss in samples.items()
                 if any(cell_of[i] == cell for u in todo for i in u.sample_ids)}
        logprob = bool(ctx.plan.logprob_tasks)
        task = ray.remote(_unit_task)
        refs_of: dict[str, list[Any]] = {}
        pending: dict[Any, Unit] = {}

        def submit(u: Unit) -> None:
            # A log-prob task compares with its reference's (and engine baseline's) kept files:
            # those units finish first (Ray holds the task until its arguments are ready).
            deps = set(ctx.plan.logprob_role(u.label)[1].values()) - {u.label} if logprob else set()
            after = [r for label in sorted(deps) for r in refs_of.get(label, [])]
            cells = sorted({cell_of[i] for i in u.sample_ids}, key=lambda c: c.stem())
            ref = task.options(num_cpus=self.spec.cpus_per_unit, num_gpus=gpus[u.name], max_retries=MAX_RETRIES,
                               retry_exceptions=False, name=f"qlongbench {u.name}").remote(
                u, ctx, sink, [parts[c] for c in cells], *after)
            refs_of.setdefault(u.label, []).append(ref)
            pending[ref] = u
            ledger.start(u, f"; on Ray, {gpus[u.name]:g} GPU, {self.spec.cpus_per_unit:g} CPU")

        queue = list(todo)
        by_name = {u.name: u for u in todo}
        lost: list[tuple[Unit, BaseException]] = []
        while queue or pending:
            # Ray lends a task's CPUs to others while it waits in ray.get (each record's acknowledgement),
            # so it would start more units than the cluster has CPUs: the driver hands out at most that many.
            free = unit_slots(ray.cluster_resources().get("CPU", 0.0), self.spec.cpus_per_unit) - len(pending)
            for _ in range(min(free, len(queue))):
                submit(queue.pop(0))
            for name, event in ray.get(sink.take.remote(POLL_S)):
                ledger.apply(by_name[name], event)
            ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0)
            for ref in ready:
                unit = pending.pop(ref)
                try:
                    ray.get(ref)
                except Exception as err:  # noqa: BLE001 - a lost unit is reported; its samples stay to run
                    lost.append((unit, err))
        # Every event a finished unit sent was acknowledged before it returned: one last take has them.
        while batch := ray.get(sink.take.remote(0)):
            for name, event in batch:
                ledger.apply(by_name[name], event)
        for unit, err in lost:
            ledger.lost(unit, _why(err))


def unit_slots(cluster_cpus: float, cpus_per_unit: float) -> int:
    """How many units may run at once: as many as the cluster's CPUs hold, at least one."""
    return max(1, int(cluster_cpus // cpus_per_unit))


def _why(err: BaseException) -> str:
    """A Ray failure as one line: the worker or node lost past the retries, or the unit's own error."""
    cause = getattr(err, "cause", None)
    if cause is not None:
        return one_line(cause)
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else 'no message'}"
