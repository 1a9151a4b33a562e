"""Your exercises, recorded (bert_ms.exercises.record and `bert-ms exercises`): passes, failures with their
last message, untouched exercises; safe with two kernels writing at once; --reset clears it."""

import contextlib
import io
import json
import subprocess
import sys
import textwrap

from bert_ms import cli
from bert_ms.exercises import check, record


def _cli(*argv):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(list(argv))
    return code, out.getvalue()


def test_a_learners_runs_are_recorded_and_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(record, "path", lambda: tmp_path / "exercises.jsonl")
    check.matmul_flops(lambda m, k, n: m * n * (2 * k - 1) + 1)          # a wrong answer
    check.matmul_flops(lambda m, k, n: 2 * m * k * n)                    # then the right one
    check.mse_grad(lambda w, b, x, y: (w, b))                            # wrong, never fixed
    check.matmul_flops(lambda m, k, n: 0, quiet=True)                    # quiet runs (the tests') are not kept
    rows = record.read()
    assert [r["status"] for r in rows] == ["fail", "pass", "fail"]
    summary = record.summary(check.all_checks())["00"]
    assert any("0.1" in t for t in summary["done"])
    (title, last), = [f for f in summary["failing"] if "0.3" in f[0]]
    assert last.startswith("✗")
    code, out = _cli("exercises")
    assert code == 0 and "lesson 00:" in out and "✓ Exercise 0.1" in out and "last: ✗" in out
    assert "lesson 09:" in out and "· Exercise 9.1" in out  # untouched
    code, out = _cli("exercises", "--reset")
    assert code == 0 and "cleared" in out and record.read() == []


def test_a_cut_line_is_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(record, "path", lambda: tmp_path / "exercises.jsonl")
    record.add("matmul_flops", "Exercise 0.1", "pass", "✓")
    with open(tmp_path / "exercises.jsonl", "a", encoding="utf-8") as f:
        f.write('{"check": "mse_grad", "stat')  # a crash mid-write
    assert [r["check"] for r in record.read()] == ["matmul_flops"]


def test_two_kernels_writing_at_once_lose_no_line(tmp_path):
    code = textwrap.dedent("""
        import sys
        from bert_ms.exercises import record
        record.path = lambda: __import__("pathlib").Path(sys.argv[1])
        for i in range(300):
            record.add(f"check_{sys.argv[2]}_{i}", "t", "pass" if i % 2 else "fail", "x" * 200)
    """)
    target = tmp_path / "exercises.jsonl"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(target), str(k)]) for k in range(2)]
    assert all(p.wait(timeout=300) == 0 for p in procs)
    rows = target.read_text(encoding="utf-8").splitlines()
    assert len(rows) == 600 and all(json.loads(line)["check"].startswith("check_") for line in rows)
