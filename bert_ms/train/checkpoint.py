"""Training checkpoints (训练检查点) that lose nothing and survive a crash.

A checkpoint is two files in one folder, named by the optimizer step::

    OUT/checkpoints/step-00000100.safetensors   every tensor: model parameters ("model/<name>"),
                                                optimizer state ("optim/<name>": Adam moments m and v,
                                                the schedule step ``global_step``), loss-scale state
    OUT/checkpoints/step-00000100.json          the sidecar: everything that is not a tensor

The JSON sidecar holds ``format`` (``"bert_ms-checkpoint"``), ``version``, ``step``, the data
position (``epoch``, ``batch_index``, ``data_seed``: replaying the same shuffle with the same seed and
skipping ``batch_index`` batches puts the data stream exactly where it was), the random state
(``seed`` for the per-step seeding, NumPy's and Python's global generator states), the trainer
settings that must match on resume (``signature``), free-form ``extra`` (early-stopping state, metrics),
and ``tensors``: the SHA-256 and byte size of the ``.safetensors`` file.

Crash safety (崩溃安全):

* each file is written to a temporary name in the same folder, flushed and ``fsync``-ed, then
  moved into place with :func:`os.replace` (atomic on POSIX and Windows), and the folder is
  ``fsync``-ed; the tensors go first and the sidecar last, so a sidecar exists only for complete
  tensors;
* file names carry the step, so a new checkpoint never overwrites an old one; only after the new
  one is on disk are the oldest pruned down to ``keep`` (default 2: the last good one and the new
  one). Pruning counts only checkpoints that verify, and never deletes the one just written, so
  corrupt checkpoints with higher step numbers cannot push good new ones out;
* a write killed half-way leaves a hidden ``.step-XXXXXXXX.*.<pid>.*.tmp`` file; the next
  :func:`save` in that folder deletes those whose process is gone (:func:`sweep_orphans`);
* :func:`load` re-hashes the tensors and refuses a truncated, corrupted or mismatched checkpoint
  with a :class:`CheckpointError` that names the file and the problem; :func:`latest` falls back
  past a defective newest checkpoint, :func:`latest_or_error` raises when none is usable (what a
  "resume" that must not silently start over needs).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file
from safetensors.numpy import save as st_save

from bert_ms.data import sha256_of
from bert_ms.runtime.files import atomic_write_bytes

FORMAT = "bert_ms-checkpoint"
VERSION = 1
_NAME = re.compile(r"^step-(\d{8})\.json$")
# what atomic_write_bytes leaves behind when killed: ".step-00000100.safetensors.<pid>.<random>.tmp"
# (files of versions before the pid was added have no "<pid>." part)
_ORPHAN = re.compile(r"^\.step-\d{8}\.(?:safetensors|json)\.(?:(\d+)\.)?[A-Za-z0-9_]+\.tmp$")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used (missing, truncated, corrupted or for another model)."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: ``tensors`` maps ``"model/<name>"`` / ``"optim/<name>"`` to arrays."""

    path: Path
    state: dict[str, Any]
    tensors: dict[str, np.ndarray] = field(repr=False)

    @property
    def step(self) -> int:
        return int(self.state["step"])

    def group(self, prefix: str) -> dict[str, np.ndarray]:
        """The tensors under ``prefix/`` with the prefix removed."""
        cut = len(prefix) + 1
        return {k[cut:]: v for k, v in self.tensors.items() if k.startswith(prefix + "/")}


def _stem(step: int) -> str:
    return f"step-{step:08d}"


def save(folder: str | os.PathLike, step: int, tensors: dict[str, np.ndarray], state: dict[str, Any],
         keep: int = 2) -> Path:
    """Write checkpoint ``step`` into ``folder`` atomically; prune to the newest ``keep``.

    Returns the path of the sidecar JSON. An existing, valid checkpoint of the same step is left
    alone (saving is idempotent), so the "save at the end" never rewrites a good periodic save.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sweep_orphans(folder)
    sidecar = folder / (_stem(step) + ".json")
    if sidecar.exists():
        try:
            verify(sidecar)
            return sidecar
        except CheckpointError:
            pass  # a broken same-step checkpoint is replaced (it was never "good")
    blob = st_save({k: np.ascontiguousarray(v) for k, v in tensors.items()})
    tensor_file = folder / (_stem(step) + ".safetensors")
    atomic_write_bytes(tensor_file, blob)
    record = {
        "format": FORMAT,
        "version": VERSION,
        **state,
        "step": int(step),
        "tensors": {"file": tensor_file.name, "sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob)},
    }
    atomic_write_bytes(sidecar, json.dumps(record, indent=1, sort_keys=True).encode())
    prune(folder, keep, protect=step)
    return sidecar


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (True when it cannot be told)."""
    if os.name == "nt":  # os.kill(pid, 0) would terminate it on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists, under another user
        return True
    return True


def sweep_orphans(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of checkpoint writes that were killed half-way; return them.

    A ``.step-*.tmp`` file is deleted when the process named in it no longer exists (or when it
    carries no pid: an older version's). Files of a live process are left alone, so a run that is
    writing right now is never disturbed. Called at the start of every :func:`save`."""
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for f in folder.iterdir():
        m = _ORPHAN.match(f.name)
        if m is None or (m.group(1) is not None and _alive(int(m.group(1)))):
            continue
        try:
            f.unlink()
            removed.append(f)
        except FileNotFoundError:
            pass
    return removed


def list_checkpoints(folder: str | os.PathLike) -> list[Path]:
    """Sidecar paths in ``folder``, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _NAME.match(p.name))


def prune(folder: str | os.PathLike, keep: int, protect: int | None = None) -> list[Path]:
    """Keep the newest ``keep`` checkpoints that verify and delete every checkpoint older than them
    (``keep <= 0`` keeps everything); return the deleted sidecars.

    Only verified checkpoints count: a corrupt checkpoint with a higher step is neither counted nor
    deleted (it never pushes a good one out; a save of its step replaces it), and checkpoint
    ``protect`` (the one just written by :func:`save`) is never deleted.
    """
    if keep <= 0:
        return []
    good, deleted = 0, []
    for sidecar in reversed(list_checkpoints(folder)):
        step = int(_NAME.match(sidecar.name).group(1))
        if step == protect:  # just written and hashed by save(): good, and never deleted
            good += 1
            continue
        if good < keep:
            try:
                verify(sidecar)
                good += 1
            except CheckpointError:
                pass
            continue
        sidecar.unlink(missing_ok=True)  # sidecar first: a half-deleted checkpoint is never "valid"
        sidecar.with_suffix(".safetensors").unlink(missing_ok=True)
        deleted.append(sidecar)
    return deleted


def verify(sidecar: str | os.PathLike) -> dict[str, Any]:
    """Read and check a sidecar and its tensors' hash; return the state or raise CheckpointError."""
    sidecar = Path(sidecar)
    if sidecar.is_dir():
        raise CheckpointError(f"{sidecar} is a folder; pass a step-XXXXXXXX.json file or use latest()")
    if not sidecar.exists():
        raise CheckpointError(f"checkpoint {sidecar} does not exist")
    try:
        state = json.loads(sidecar.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"checkpoint {sidecar} is corrupt: its JSON sidecar does not parse ({err})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{sidecar} is not a bert_ms checkpoint (format={state.get('format')!r})"
                              if isinstance(state, dict) else f"{sidecar} is not a bert_ms checkpoint")
    if state.get("version") != VERSION:
        raise CheckpointError(f"checkpoint {sidecar} has version {state.get('version')}, expected {VERSION}")
    info = state.get("tensors")
    if not (isinstance(info, dict) and isinstance(info.get("file"), str) and isinstance(info.get("bytes"), int)
            and isinstance(info.get("sha256"), str) and "/" not in info["file"] and "\\" not in info["file"]):
        raise CheckpointError(f"checkpoint {sidecar} is corrupt: its sidecar lacks a valid \"tensors\" record")
    tensor_file = sidecar.parent / info["file"]
    if not tensor_file.exists():
        raise CheckpointError(f"checkpoint {sidecar}: tensor file {tensor_file.name} is missing")
    size = tensor_file.stat().st_size
    if size != info["bytes"]:
        raise CheckpointError(f"checkpoint {tensor_file} is truncated or corrupt: {size} bytes, "
                              f"expected {info['bytes']}")
    if sha256_of(tensor_file) != info["sha256"]:
        raise CheckpointError(f"checkpoint {tensor_file} is corrupt: SHA-256 does not match its sidecar")
    return state


def load(sidecar: str | os.PathLike) -> Checkpoint:
    """Load a verified checkpoint (raises :class:`CheckpointError` on any defect)."""
    sidecar = Path(sidecar)
    state = verify(sidecar)
    try:
        tensors = load_file(str(sidecar.parent / state["tensors"]["file"]))
    except Exception as err:  # hash matched but the library still refuses: report, don't crash oddly
        raise CheckpointError(f"checkpoint {sidecar}: cannot read tensors ({err})") from None
    return Checkpoint(sidecar, state, tensors)


def latest(folder: str | os.PathLike, strict: bool = False, require: bool = False) -> Path | None:
    """The newest checkpoint in ``folder`` that verifies, or None if there is none.

    With ``strict=True`` a defective newest checkpoint raises instead of falling back to the
    previous good one. Otherwise the defect is reported with a warning and skipped. With
    ``require=True`` finding no usable checkpoint raises :class:`CheckpointError` (naming the
    defects) instead of returning None.
    """
    found = list_checkpoints(folder)
    defects = []
    for sidecar in reversed(found):
        try:
            verify(sidecar)
            return sidecar
        except CheckpointError as err:
            if strict:
                raise
            defects.append(str(err))
            warnings.warn(f"skipping bad checkpoint: {err}", RuntimeWarning, stacklevel=2)
    if require:
        if not found:
            where = "the folder does not exist" if not Path(folder).is_dir() else "it holds none"
            raise CheckpointError(f"no checkpoint to resume from in {folder} ({where})")
        raise CheckpointError(f"none of the {len(found)} checkpoint(s) in {folder} is usable; the newest: {defects[0]}")
    return None


def latest_or_error(folder: str | os.PathLike) -> Path:
    """The newest checkpoint in ``folder`` that verifies; :class:`CheckpointError` if there is none.

    For a resume that must not silently start from step 0: ``Trainer.fit(resume=True)`` starts
    afresh when the folder has no usable checkpoint, so a caller that demands one checks first::

        trainer.fit(resume=checkpoint.latest_or_error(trainer.checkpoint_dir()))
    """
    return latest(folder, require=True)


def check_compatible(expected: dict[str, tuple[int, ...]], found: dict[str, np.ndarray], what: str,
                     path: Path) -> None:
    """Raise CheckpointError if names or shapes differ (lists up to five differences)."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    wrong = sorted(n for n in set(expected) & set(found) if tuple(expected[n]) != tuple(found[n].shape))
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {missing[:5]}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:5]}")
        if wrong:
            parts.append("shape " + ", ".join(f"{n}: {tuple(found[n].shape)} vs {tuple(expected[n])}"
                                              for n in wrong[:5]))
        raise CheckpointError(f"checkpoint {path} does not match this {what}: " + "; ".join(parts))


def rng_state() -> dict[str, Any]:
    """NumPy's and Python's global generator states, as JSON-friendly lists."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    py = random.getstate()
    return {"numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
            "python": [py[0], list(py[1]), py[2]]}


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
