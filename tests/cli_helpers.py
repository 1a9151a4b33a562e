"""Running the command line in-process, for the hostile-input tests (test_cli_robustness, test_hostile_cli)."""

from __future__ import annotations

import contextlib
import io
import sys


def run_cli(*argv, stdin: str | None = None) -> tuple[int, str, str]:
    """``bert-ms ARGV`` in this process: (exit code, stdout, stderr); ``stdin`` is fed as standard input."""
    from bert_ms import cli

    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin.encode("utf-8")), encoding="utf-8")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main([str(a) for a in argv])
    finally:
        sys.stdin = old_stdin
    return code, out.getvalue(), err.getvalue()


def output_rows(stdout: str) -> str:
    """``stdout`` without the device line (``[bert_ms] device=CPU ...``), which is not an output row."""
    return "".join(line for line in stdout.splitlines(keepends=True) if not line.startswith("[bert_ms] "))


def one_line_error(result, *needles: str) -> str:
    """The one error line of a refused command (exit code 2, ``bert-ms: error: ...``, no traceback), which
    holds every one of ``needles``."""
    code, _, err = result
    lines = [x for x in err.splitlines() if x.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("bert-ms: error: "), err[-3000:]
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]
