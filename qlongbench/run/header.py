"""run.json: the run header, the contract between a run and everything that reads it.

A typed, versioned pydantic model (after inspect_ai's EvalLog): written by the runner, read by the
report, the gate and a resumed run. A file written by an earlier version of the format is migrated
when read (`RunHeader.load`, one step per version in MIGRATIONS); qlongbench 0.1.0's unversioned
run.json is refused with one line naming that release (no committed run needs it)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from qlongbench.errors import UserError
from qlongbench.run.migrate import v2_to_v3, v3_to_v4
from qlongbench.run.plan import RunPlan, Sha256
from qlongbench.spec.config import RunSpec
from qlongbench.spec.labels import OPTIONS
from qlongbench.types import BackendInfo, Count, IsoTime, Name

HEADER_VERSION = 4
"""Version 1: the unversioned dict of qlongbench 0.1.0 (no longer read). Version 2: the decisions
about the run as loose fields (model, tasks, generation configs, engine baselines, controls,
log-prob reference). Version 3: this model, those decisions in one typed RunPlan. Version 4: each
placement names the CPU its unit ran on (a run resumed on another machine says which made what)."""
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {2: v2_to_v3, 3: v3_to_v4}
"""version n -> the function that turns a version-n file into version n + 1 (data only, run/migrate.py)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


def _samples_file(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*\.jsonl", name):
        raise ValueError(f"{name!r} is not the name of a samples file (a plain NAME.jsonl inside samples/)")
    return name


SamplesFile = Annotated[str, AfterValidator(_samples_file)]


class Environment(_Model):
    """Where the run was made."""

    versions: dict[str, str] = Field(default_factory=dict)
    """qlongbench, python and every engine library found."""
    platform: str = ""
    """platform.platform()."""
    machine: str = ""
    """platform.machine()."""
    argv: list[str] = Field(default_factory=list)
    """Command line of the run's first invocation."""


class Placement(_Model):
    """Where one unit of work (a precision, or a slice of its prompts) ran."""

    precision: str
    """The precision label."""
    host: str = ""
    """Host name of the machine."""
    cpu: str = ""
    """CPU model of the machine (run/device.py cpu_model; empty in a header written before version 4).
    Torch picks its CPU kernels by the instruction set, so a near-tied greedy answer can move with
    the CPU: a unit resumed on another machine records the CPU of its latest attempt."""
    node_id: str | None = None
    """Ray node id (None in-process)."""
    device: str = ""
    """Device the engine ran on (cpu, cuda, cuda:0 ...)."""
    accelerator_ids: list[str] = Field(default_factory=list)
    """GPUs Ray assigned to the unit."""
    pid: Count | None = None
    """Process that ran it (the latest attempt)."""
    attempt: Count = 0
    """Ray's attempt number of the unit's task (0: first try; more after a worker was lost)."""
    skipped: Count = 0
    """Samples this attempt skipped because their records had already reached the driver."""


class ExecutorInfo(_Model):
    """How the run's precisions were executed (the latest invocation)."""

    name: Literal["local", "ray"] = "local"
    """local: in the driver process; ray: each unit a Ray task, records written by the driver."""
    ray_version: str | None = None
    """Ray's version, under ray."""
    address: str | None = None
    """The Ray cluster joined (None: a local Ray started for the run)."""
    placements: dict[str, Placement] = Field(default_factory=dict)
    """Per unit (precision label, or label#i/n for a slice): where it ran, across invocations."""
    cpus: dict[str, list[str]] = Field(default_factory=dict)
    """Per precision label: every CPU that wrote records of it, across invocations (a placement keeps
    only its unit's latest attempt, so a slice finished on another machine would hide the first)."""


class RunHeader(_Model):
    """Everything a run directory holds besides its samples and records."""

    version: int = HEADER_VERSION
    """Format version of this file."""
    run_id: Name
    """Unique id; every record of the run carries it."""
    name: Name
    """Run name (the report's default directory)."""
    created_at: IsoTime
    """UTC ISO-8601 time the run started."""
    spec: RunSpec
    """The spec of the latest invocation (precisions may have been added on a resume)."""
    spec_sha256: str
    """Hash of the first invocation's identity fields."""
    sample_identity_sha256: str
    """Hash of the fields that decide the frozen samples; a resume must match it."""
    seed: int
    """Run seed."""
    plan: RunPlan
    """Everything decided about the run before anything was measured (run/plan.py): model, tasks,
    precisions, reference, engine baselines, controls, measure rule. A resumed run holds its
    earlier plan and the resuming invocation's together."""
    environment: Environment = Field(default_factory=Environment)
    """Versions and machine."""
    precisions: dict[str, BackendInfo] = Field(default_factory=dict)
    """What each precision that loaded was: engine, recipe, versions, weight bytes."""
    precision_errors: dict[str, str] = Field(default_factory=dict)
    """Precisions that could not load, with the one-line reason."""
    samples: dict[SamplesFile, Sha256] = Field(default_factory=dict)
    """Per samples file (name in samples/): sha256 of its bytes, binding the frozen prompts to this run."""
    resumed_at: list[IsoTime] = Field(default_factory=list)
    """UTC times of later invocations that resumed the run."""
    executor: ExecutorInfo = Field(default_factory=ExecutorInfo)
    """Where the precisions ran: executor, Ray version, node and device of each unit."""

    @field_validator("version")
    @classmethod
    def _known_version(cls, v: int) -> int:
        if not 2 <= v <= HEADER_VERSION:
            raise ValueError(f"version {v} is not one this qlongbench reads (2 to {HEADER_VERSION}); a newer "
                             "qlongbench wrote it, or the file was edited")
        return v

    def cpus(self, label: str) -> list[str]:
        """The CPUs the units of one precision ran on, as recorded (empty before version 4). More
        than one: its records were made on different machines (docs/design.md, one label one load)."""
        placed = {p.cpu for p in self.executor.placements.values() if p.precision == label and p.cpu}
        return sorted(placed | set(self.executor.cpus.get(label, ())))

    def precision_labels(self) -> set[str]:
        """Every precision label this run planned, across its invocations (engine baselines and
        controls included): the labels its records may carry, whether or not the precision loaded."""
        return set(self.plan.labels)

    @classmethod
    def load(cls, data: dict[str, Any], where: str = "run.json") -> RunHeader:
        """A header read from run.json, migrated first, one version at a time, when an earlier format
        wrote it, then validated strictly (a number written as a string, or true for 1, is refused).
        Only file data is migrated: code builds headers directly."""
        version = data.get("version")
        if version is None:
            raise UserError(f"{where} was written by qlongbench 0.1.0 (a run header without a version), which this "
                            f"qlongbench no longer reads; start the run over with --new, or read it with qlongbench 0.1.0")
        while isinstance(version, int) and not isinstance(version, bool) and version in MIGRATIONS:
            data = MIGRATIONS[version](data)
            version = data["version"]
        return cls.model_validate_json(json.dumps(data), strict=True, context=OPTIONS)
