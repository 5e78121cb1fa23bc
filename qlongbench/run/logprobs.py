"""RUN_DIR/logprobs/: the distributions a log-prob reference keeps for the others to compare with,
one .npz per (precision, sample), stamped with the sample's prompt hash, written atomically and
read without pickle. What is read is checked before any estimator sees it: the arrays a kept
reference needs, their shapes (one row per position, alike in every array), integer token ids
that are not negative, and log-probs that are never NaN nor +inf (-inf is a token with no mass)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from qlongbench.errors import UserError
from qlongbench.files import atomic_write_bytes, safe_name
from qlongbench.types import Sample

if TYPE_CHECKING:  # numpy loads where arrays are read or written
    from numpy.typing import NDArray

REQUIRED = ("indices", "logprobs", "tail_logmass", "sample_indices", "sample_logprobs")
"""[n, k] top-k token ids, [n, k] their log-probs, [n] log of the mass outside the top k, [n, m] ids
drawn from the tail and [n, m] their log-probs."""


def check_kept(path: Path, arrays: dict[str, NDArray[Any]]) -> None:
    """Refuse kept distributions that are not n rows of one shape (whether n is the document's
    length is the scorer's to check): one UserError line naming the file, the array and what it
    must hold."""
    import numpy as np

    def bad(why: str) -> UserError:
        return UserError(f"{path}: {why}; delete it and run the same command again")

    missing = [k for k in REQUIRED if k not in arrays]
    if missing:
        raise bad(f"array {missing[0]} is missing (a kept reference holds {', '.join(REQUIRED)})")
    idx, lp, tail, s_idx, s_lp = (np.asarray(arrays[k]) for k in REQUIRED)
    if idx.ndim != 2 or idx.dtype.kind not in "iu":
        raise bad(f"indices must be an [n, k] integer array, not {idx.dtype} of shape {idx.shape}")
    n_positions = idx.shape[0]
    if lp.shape != idx.shape or lp.dtype.kind != "f":
        raise bad(f"logprobs must be a float array shaped like indices {idx.shape}, not {lp.dtype} {lp.shape}")
    if tail.shape != (n_positions,) or tail.dtype.kind != "f":
        raise bad(f"tail_logmass must be a float array of shape ({n_positions},), not {tail.dtype} {tail.shape}")
    if s_idx.ndim != 2 or s_idx.shape[0] != n_positions or s_idx.dtype.kind not in "iu":
        raise bad(f"sample_indices must be an [{n_positions}, m] integer array, not {s_idx.dtype} {s_idx.shape}")
    if s_lp.shape != s_idx.shape or s_lp.dtype.kind != "f":
        raise bad(f"sample_logprobs must be a float array shaped like sample_indices {s_idx.shape}")
    ids = [idx, s_idx]
    floats = {"logprobs": lp, "tail_logmass": tail, "sample_logprobs": s_lp}
    if any(a.size and int(a.min()) < 0 for a in ids):
        raise bad("a token id is negative")
    for name, a in floats.items():
        if np.isnan(a).any() or np.isposinf(a).any():
            raise bad(f"{name} holds NaN or +inf (a log-probability is at most 0, or -inf)")


class LogprobFiles:
    """The kept distributions of a run directory, by precision and sample."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, precision: str, sample_id: str) -> Path:
        return self.root / "logprobs" / safe_name(precision) / f"{safe_name(sample_id)}.npz"

    def save(self, precision: str, sample: Sample, arrays: dict[str, NDArray[Any]]) -> None:
        import io

        import numpy as np

        buf = io.BytesIO()
        np.savez(buf, **arrays, prompt_sha256=np.array(sample.prompt_sha256), precision=np.array(precision))
        atomic_write_bytes(self.path(precision, sample.sample_id), buf.getvalue())

    def load(self, precision: str, sample: Sample) -> dict[str, NDArray[Any]]:
        import zipfile

        import numpy as np

        path = self.path(precision, sample.sample_id)
        if not path.is_file():
            raise UserError(f"{precision} kept no distributions for {sample.sample_id} (it failed or has not run); "
                            "nothing to compare with")
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise UserError(f"{path} is damaged ({err}); delete it and run the same command again") from None
        if str(arrays.get("prompt_sha256")) != sample.prompt_sha256:
            raise UserError(f"{path} was kept for other prompt ids than {sample.sample_id}; delete it and run the "
                            "same command again")
        check_kept(path, arrays)
        return arrays
