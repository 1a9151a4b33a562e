"""Your exercises, recorded (练习记录): which checks you have passed, which fail, which are untouched.

Every check a notebook runs (not the quiet runs of the test suites) appends one line to
``<cache>/exercises.jsonl`` (``BERT_MS_CACHE``, default ``~/.cache/bert_ms``): the time, the check's name
and title, pass or fail, and the printed message. The file is small, human-readable JSON lines, and
safe with several kernels open at once: each line is written with a single ``O_APPEND`` write under an
exclusive ``flock``, and a line that cannot be parsed (a crash mid-write) is skipped when reading.
Nothing leaves the machine.

``bert-ms exercises`` prints, lesson by lesson, the exercises done (passed at least once), attempted but
failing (with the last message) and untouched; ``bert-ms exercises --reset`` clears the record.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

from bert_ms.runtime import settings

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: appends are still single writes
    fcntl = None

FILE_NAME = "exercises.jsonl"


def path() -> Path:
    """Where the record lives (the course cache folder)."""
    return settings.cache_dir() / FILE_NAME


def add(name: str, title: str, status: str, message: str) -> None:
    """Append one check's outcome; never raises (a read-only cache folder must not break a notebook)."""
    if status not in ("pass", "fail"):
        return
    line = json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "check": name, "title": title,
                       "status": status, "message": message[:500]}, ensure_ascii=False) + "\n"
    with contextlib.suppress(OSError):
        fd = os.open(path(), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)  # closing releases the lock


def read() -> list[dict]:
    """Every well-formed record line, oldest first."""
    try:
        text = path().read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    records = []
    for line in text.splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            rec = json.loads(line)
            if isinstance(rec, dict) and isinstance(rec.get("check"), str) and rec.get("status") in ("pass", "fail"):
                records.append(rec)
    return records


def reset() -> bool:
    """Clear the record; True if there was one."""
    try:
        path().unlink()
        return True
    except FileNotFoundError:
        return False


def summary(checks: dict) -> dict[str, dict[str, list]]:
    """lesson -> {"done": [title], "failing": [(title, last message)], "untouched": [title]} over ``checks``
    (name -> check function, as :func:`bert_ms.exercises.check.all_checks` gives)."""
    passed, last_fail = set(), {}
    for rec in read():
        if rec["status"] == "pass":
            passed.add(rec["check"])
        else:
            last_fail[rec["check"]] = rec.get("message", "")
    out: dict[str, dict[str, list]] = {}
    for name, fn in checks.items():
        lesson = fn.__module__.rsplit("lesson", 1)[-1]
        row = out.setdefault(lesson, {"done": [], "failing": [], "untouched": []})
        if name in passed:
            row["done"].append(fn.title)
        elif name in last_fail:
            row["failing"].append((fn.title, last_fail[name]))
        else:
            row["untouched"].append(fn.title)
    return dict(sorted(out.items()))


def report(checks: dict) -> str:
    """The text ``bert-ms exercises`` prints."""
    lines = []
    total = done = 0
    for lesson, row in summary(checks).items():
        n = sum(len(v) for v in row.values())
        total, done = total + n, done + len(row["done"])
        lines.append(f"lesson {lesson}: {len(row['done'])} of {n} done")
        lines += [f"  ✓ {t}" for t in row["done"]]
        lines += [f"  ✗ {t}\n      last: {m}" for t, m in row["failing"]]
        lines += [f"  · {t}" for t in row["untouched"]]
    lines.append(f"{done} of {total} exercises done (record: {path()})")
    return "\n".join(lines)
