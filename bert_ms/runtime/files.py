"""Files: never half-written, and read with an error that names them.

Writing (原子写入): the new content goes to a temporary file beside the target, is flushed and fsynced,
then renamed over it, so a crash or a full disk leaves the old file or the new one, never a mix.
Checkpoints, run records, caches and trained vocabularies are all written this way. Reading: a UTF-8 text
file, pipe or standard input, where a missing file, a directory or bad bytes is one line naming it."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (a rename is durable only once its folder is)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one.

    The temporary file is ``.<name>.<pid>.<random>.tmp`` beside ``path``; the pid lets
    :func:`bert_ms.train.checkpoint.sweep_orphans` tell a killed writer's leftovers from a live one's."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """:func:`atomic_write_bytes` of ``text``, encoded as UTF-8 (line ends as given)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def read_text_file(path: str | Path, what: str) -> str:
    """The text of a UTF-8 file, a pipe or FIFO (``--file <(...)``, ``/dev/stdin``), or ``-`` for standard
    input; a missing file, a directory or invalid UTF-8 is an error naming it."""
    if str(path) == "-":
        raw, path = sys.stdin.buffer.read(), Path("<standard input>")
    else:
        path = Path(path)
        if path.is_dir():
            raise IsADirectoryError(f"{what} {str(path)!r} is a directory, not a file")
        if not path.exists():
            raise FileNotFoundError(f"{what} not found: {str(path)!r}")
        with open(path, "rb") as f:  # also a pipe or a FIFO, which is_file() calls "not a file"
            raw = f.read()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ValueError(f"{what} {path} is not valid UTF-8: byte 0x{raw[err.start]:02x} on line {line} "
                       f"(offset {err.start}); save it as UTF-8") from None


def read_json_object(path: str | Path, what: str, error: type[Exception] = ValueError) -> dict:
    """The JSON object (a dict) in a UTF-8 file, e.g. a model's ``config.json``; a file that is not valid
    UTF-8 or JSON, or holds something other than an object, raises ``error`` naming the file."""
    text = read_text_file(path, what)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise error(f"{path} is not valid JSON: {err}") from None
    if not isinstance(raw, dict):
        raise error(f"{path} does not hold a JSON object")
    return raw
