"""Helpers for the adversarial suites of the exercise checks (tests/test_checks_lessonNN.py).

Each check must reject every typical mistake on *every* run (a check draws fresh random inputs each
time, so a mistake that passes one run in twenty is a mistake that passes) and accept every correct
answer written in another valid style on every run. ``RUNS`` runs of each, with a message that names
the run and what the check said.
"""

from __future__ import annotations

RUNS = 20


def rejected_every_run(check, answer, words: str | None = None, runs: int = RUNS) -> None:
    """``check(answer)`` fails on every one of ``runs`` runs; ``words`` (case-insensitive) is in every message."""
    for run in range(runs):
        result = check(answer, quiet=True)
        assert result.status == "fail", f"run {run}: a wrong answer was judged {result.status}: {result.message}"
        if words is not None:
            assert words.lower() in result.message.lower(), f"run {run}: message {result.message!r} lacks {words!r}"
        assert "check itself" not in result.message, f"run {run}: the check blamed itself: {result.message}"


def accepted_every_run(check, answer, runs: int = RUNS) -> None:
    """``check(answer)`` passes on every one of ``runs`` runs."""
    for run in range(runs):
        result = check(answer, quiet=True)
        assert result.ok, f"run {run}: a correct answer was rejected: {result.message}"
