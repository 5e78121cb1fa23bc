"""`qlongbench quantize`: build (or find in the cache) the quantized artifacts of precisions without
running any task, e.g. on a GPU box before a CPU sweep, or to warm a CI cache.

A precision's backend builds artifacts when it overrides `prepare_artifact` (GGUF conversion, GPTQ
quantization). Precisions quantized at load time (bitsandbytes) or not at
all (bf16) have nothing to build, and say so."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from typing import TYPE_CHECKING

from qlongbench import registry
from qlongbench.backends.build.artifacts import Artifact
from qlongbench.spec.config import RunSpec
from qlongbench.spec.labels import parse_precision
from qlongbench.spec.precision import Precision

if TYPE_CHECKING:
    from qlongbench.backends.base import Backend, LoadContext

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QuantizeResult:
    """What `quantize` did for one precision."""

    precision: str
    """Precision label."""
    engine: str
    """Engine that will load the artifact."""
    artifact: Artifact | None
    """The built or cached artifact (None when there is nothing to build)."""
    built: bool
    """True when this call built it, False when it came from the cache."""
    note: str | None = None
    """Why nothing was built, when nothing was."""
    path: str | None = None
    """Where the artifact lies."""


def quantize(spec: RunSpec, *, progress: Callable[[str, int, int], None] | None = None) -> list[QuantizeResult]:
    """Build the artifacts of spec.precisions for spec.model into the artifact cache."""
    from qlongbench.backends.base import LoadContext
    from qlongbench.run.device import resolve_device
    from qlongbench.run.model import default_cache_dir, load_tokenizer, resolve_model
    from qlongbench.backends.build.artifacts import ArtifactCache
    from qlongbench.run.planner import needs_artifact_cache, validate_precisions

    precisions = [parse_precision(p) for p in spec.precisions]  # unknown names and bad options fail first
    classes = [(p, registry.backend_class(p.name)) for p in precisions]
    if needs_artifact_cache(spec, precisions):
        ArtifactCache(default_cache_dir(spec)).check_writable()
    device = resolve_device(spec.device)
    model = resolve_model(spec).path
    validate_precisions(precisions, model, device, trust_remote_code=spec.trust_remote_code,
                        allow_pickle=spec.allow_pickle)
    tok = load_tokenizer(model, spec)
    ctx = LoadContext(model=model, revision=spec.revision, device=device, cache_dir=default_cache_dir(spec),
                      tokenizer=tok, trust_remote_code=spec.trust_remote_code, allow_pickle=spec.allow_pickle)
    out: list[QuantizeResult] = []
    for i, (prec, cls) in enumerate(classes):
        if progress:
            progress(prec.label, i, len(classes))
        out.append(_one(prec, cls, ctx))
    if progress:
        progress("done", len(classes), len(classes))
    return out


def _one(prec: Precision, cls: type[Backend], ctx: LoadContext) -> QuantizeResult:
    engine = cls.engine
    if not cls.builds_artifacts():
        why = ("quantized while loading; nothing to build" if cls.extra else "the unquantized reference; nothing to build")
        return QuantizeResult(precision=prec.label, engine=engine, artifact=None, built=False, note=why)
    if prec.options.given_artifact() is not None:
        return QuantizeResult(precision=prec.label, engine=engine, artifact=None, built=False,
                              note="loads the given file / checkpoint; nothing to build")
    prepared = cls.prepare_artifact(prec, ctx)
    return QuantizeResult(precision=prec.label, engine=engine, artifact=prepared.artifact, built=prepared.built,
                          path=str(prepared.path))


def format_results(results: Sequence[QuantizeResult]) -> list[str]:
    """One line per precision for the CLI."""
    width = max((len(r.precision) for r in results), default=0)
    lines = []
    for r in results:
        if r.artifact is None:
            lines.append(f"{r.precision:<{width}}  -       {r.note}")
            continue
        a = r.artifact
        state = "built " if r.built else "cached"
        lines.append(f"{r.precision:<{width}}  {state}  {r.path}  ({a.size_bytes / 2**20:.1f} MiB, sha256 {a.sha256[:12]}, "
                     f"built {a.built_at} in {a.build_seconds:.1f}s)")
    return lines
