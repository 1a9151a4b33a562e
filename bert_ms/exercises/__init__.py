"""Self-checking exercises: the framework (core.py), ``check.<name>`` for every check, and one lessonNN.py per lesson."""

from bert_ms.exercises.core import (
    ExerciseFailed,
    Mismatch,
    Result,
    exercise,
    expect_close,
    expect_equal,
    to_numpy,
)

__all__ = ["ExerciseFailed", "Mismatch", "Result", "exercise", "expect_close", "expect_equal", "to_numpy"]
