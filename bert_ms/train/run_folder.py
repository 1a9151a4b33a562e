"""Run folders (运行目录): one writer at a time, one set of settings, records written atomically.

``bert-ms pretrain/finetune --out OUT`` write checkpoints, ``run.json`` (the command and the settings that
change the result) and ``model/`` into one folder. :class:`RunLock` keeps a second run out while one
writes; :func:`claim_run_folder` refuses to train into a folder whose run had other settings (its
checkpoints would be silently kept) unless nothing there is worth protecting, and checks ``--resume``;
:func:`open_run` does both for a training command and hands it the :class:`RunRecord` it writes ``run.json`` with.

A run folder holds ``run.json`` (the settings that decide the result), ``.lock`` (held while a run writes
there), ``checkpoints/``, ``metrics.jsonl``, ``model/`` and, for pretraining, ``vocab.txt`` and ``data/``
(the masked examples, cached under a hash of corpus, vocabulary and masking settings). A second run into a
used folder must either have the same settings or ``--resume``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

from bert_ms.runtime.files import atomic_write_bytes, read_text_file
from bert_ms.runtime.messages import shorten
from bert_ms.train import checkpoint as ckpt
from bert_ms.train.checkpoint import CheckpointError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


class RunFolderError(ValueError):
    """A run folder this run may not write into, or cannot resume from (one line, naming what to do)."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OSError, ValueError):
        return False
    return True


class RunLock:
    """An exclusive lock on a run folder, held while a run writes there (``OUT/.lock``).

    The lock is ``flock`` on the file, so the kernel drops it when its process dies: the lock file of
    a killed run is simply taken over. The file records the holder's pid and command, which the
    error names when another live run holds it. (Without ``fcntl``, a lock file whose pid is dead is
    taken over.)"""

    def __init__(self, folder: str | Path, command: str = "bert-ms"):
        self.folder, self.path, self.command = Path(folder), Path(folder) / ".lock", command
        self.fd: int | None = None

    def _busy(self, holder: dict) -> RunFolderError:
        pid = holder.get("pid", "?")
        what = holder.get("command", "bert-ms")
        since = holder.get("started", "")
        return RunFolderError(f"--out {self.folder} is in use by another run (pid {pid}: {shorten(what, 80)}"
                        f"{', since ' + since if since else ''}); wait for it to finish or choose another --out")

    def _holder(self) -> dict:
        try:
            holder = json.loads(self.path.read_text(encoding="utf-8") or "{}")
            return holder if isinstance(holder, dict) else {}
        except (OSError, ValueError):
            return {}

    def __enter__(self) -> RunLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        record = json.dumps({"pid": os.getpid(), "command": self.command,
                             "started": time.strftime("%Y-%m-%d %H:%M:%S")}).encode()
        if fcntl is None:  # pragma: no cover - no flock: a pid file, taken over when its pid is dead
            holder = self._holder()
            if holder.get("pid") not in (None, os.getpid()) and _pid_alive(int(holder["pid"])):
                raise self._busy(holder)
            atomic_write_bytes(self.path, record)
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise self._busy(self._holder()) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, record, 0)
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
        elif fcntl is None:  # pragma: no cover
            with contextlib.suppress(OSError):
                self.path.unlink()


def _describe_diff(before: dict, now: dict) -> str:
    def show(v):
        s = json.dumps(v, ensure_ascii=False)
        return s[:15] + "..." if len(s) > 18 else s

    keys = [k for k in sorted(set(before) | set(now)) if before.get(k) != now.get(k)]
    return ", ".join(f"{k}: {show(before.get(k))} -> {show(now.get(k))}" for k in keys[:6]) + (
        f" and {len(keys) - 6} more" if len(keys) > 6 else "")


def claim_run_folder(out: Path, command: str, signature: dict, resume: bool) -> dict | None:
    """Check that this run may write into ``out`` (hold :class:`RunLock` first); return the previous
    ``run.json`` record, if any.

    * A folder used by a run with other settings is refused -- its checkpoints would be silently
      kept ("a valid checkpoint of the same step is left alone") and ``model/`` would no longer match
      them -- naming ``--resume`` or a new folder. The same settings again are allowed.
    * ``--resume`` needs the same settings and at least one checkpoint that verifies.
    """
    record_path = out / "run.json"
    ckpt_dir = out / "checkpoints"
    previous = None
    if record_path.exists():
        try:
            previous = json.loads(read_text_file(record_path, "run record"))
        except json.JSONDecodeError as err:
            raise RunFolderError(f"{record_path} is corrupt ({err}); choose a new --out folder") from None
        if not isinstance(previous, dict) or not isinstance(previous.get("signature"), dict):
            raise RunFolderError(f"{record_path} is not a bert-ms run record; choose a new --out folder")
        diff = _describe_diff(previous["signature"], signature)
        if diff and not ckpt.list_checkpoints(ckpt_dir) and not (out / "model").exists():
            # refused or stopped before its first checkpoint: nothing to protect, the new settings are taken
            previous, diff = None, ""
        if diff:
            if resume:
                raise RunFolderError(f"--resume needs the settings of the run in {out}, which differ: {diff}; drop "
                               "--resume and choose a new --out folder to train with the new settings")
            raise RunFolderError(f"--out {out} holds a {previous.get('command', 'bert-ms')} run with other settings "
                           f"({diff}); pass --resume (with its settings) to continue it, or choose a new --out folder")
    elif ckpt.list_checkpoints(ckpt_dir) and not resume:
        raise RunFolderError(f"--out {out} already holds checkpoints of an earlier run; pass --resume to continue it, "
                       "or choose a new --out folder")
    if resume:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the bad checkpoints are summed up in the one line below
                ckpt.latest(ckpt_dir, require=True)
        except CheckpointError as err:
            raise RunFolderError(f"--resume: {err}") from None
    return previous


def write_run_record(out: Path, command: str, signature: dict, **extra) -> None:
    atomic_write_bytes(out / "run.json", json.dumps({"command": command, "bert_ms": sys.modules["bert_ms"].__version__,
                                                     "signature": signature, **extra}, indent=1).encode())


class RunRecord:
    """One training run's ``run.json``. The folder is claimed (:func:`claim_run_folder`: ``previous`` is the
    record found there) on the worker that writes (``writer``: rank 0 under msrun; the others claim and write
    nothing); :meth:`start` writes the record, except into a folder from before ``run.json`` (checkpoints, no
    record: ``legacy``), which :meth:`finish` records once its checkpoints have resumed."""

    def __init__(self, out: Path, command: str, signature: dict, resume: bool, writer: bool = True):
        self.out, self.command, self.signature, self.writer = out, command, signature, writer
        self.previous = claim_run_folder(out, command, signature, resume) if writer else None
        self.legacy = writer and self.previous is None and bool(ckpt.list_checkpoints(out / "checkpoints"))

    def start(self, **extra) -> None:
        """Write ``run.json`` (the command, the signature and ``extra``), unless the folder is legacy."""
        if self.writer and not self.legacy:
            write_run_record(self.out, self.command, self.signature, **extra)

    def finish(self, **extra) -> None:
        """Record a legacy folder, now that its checkpoints have resumed."""
        if self.writer and self.legacy:
            write_run_record(self.out, self.command, self.signature, **extra)


@contextlib.contextmanager
def open_run(out: Path, command: str, signature: dict, resume: bool, command_line: str,
             writer: bool = True) -> Iterator[RunRecord]:
    """The :class:`RunRecord` of a run into ``out``, the writer holding :class:`RunLock` (naming
    ``command_line``) until the block ends."""
    with RunLock(out, command_line) if writer else contextlib.nullcontext():
        yield RunRecord(out, command, signature, resume, writer)
