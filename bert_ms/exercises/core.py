"""Exercises that check themselves (练习自动检查).

Each lesson's exercises are functions or numbers the learner writes in a marked notebook cell; the
lesson then calls a check::

    from bert_ms.exercises import check

    def my_attention(q, k, v, mask=None):
        raise NotImplementedError  # your code here

    check.attention(my_attention)

A check runs the learner's code on fresh random inputs, compares it with the package's reference,
and prints one line: ``✓`` when it matches, ``✗`` with the *first* mismatch (which input, expected
vs got, a hint) when it does not, and "not attempted yet" while the stub still raises
``NotImplementedError``. It returns a :class:`Result` (truthy only when correct) and never raises,
so a notebook always runs top to bottom; ``strict=True`` raises :class:`ExerciseFailed` instead.

The checks live in ``bert_ms/exercises/lessonNN.py`` (one function per exercise, listed in that
module's ``__all__``); ``check.<name>`` finds them. Solutions are in ``solutions/NN_*.py`` at the root
of the repository, apart from the lessons, and ``tests/test_exercises.py`` proves that every check
passes its solution and rejects its stub and a typical wrong answer.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["ExerciseFailed", "Mismatch", "Result", "exercise", "expect_close", "expect_equal", "to_numpy"]


class Mismatch(Exception):
    """Raised inside a check at the first difference; its message is shown to the learner."""


class ExerciseFailed(AssertionError):
    """Raised by a check called with ``strict=True`` when the answer is not (yet) right."""


@dataclass(frozen=True)
class Result:
    """The outcome of one check: ``ok`` is True only for a correct answer; ``status`` is "pass",
    "fail" or "todo" (the stub still raises ``NotImplementedError``)."""

    exercise: str
    status: str
    message: str

    @property
    def ok(self) -> bool:
        return self.status == "pass"

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        return self.message


def to_numpy(x) -> np.ndarray:
    """A MindSpore Tensor, NumPy array, list or number as a NumPy array."""
    if hasattr(x, "asnumpy"):
        return x.asnumpy()
    return np.asarray(x)


def _fmt(a) -> str:
    a = np.asarray(a)
    if a.ndim == 0:
        return f"{a.item():.6g}" if np.issubdtype(a.dtype, np.floating) else repr(a.item())
    return np.array2string(a, precision=4, threshold=8, edgeitems=3)


def expect_close(got, expected, what: str, hint: str = "", atol: float = 1e-5, rtol: float = 1e-5) -> None:
    """Raise :class:`Mismatch` naming the shape difference or the first element that differs."""
    g, e = to_numpy(got), to_numpy(expected)
    if g.shape != e.shape:
        raise Mismatch(f"{what}: expected shape {e.shape}, got {g.shape}." + (f" Hint: {hint}" if hint else ""))
    g64, e64 = g.astype(np.float64), e.astype(np.float64)
    if not np.all(np.isfinite(g64)) and np.all(np.isfinite(e64)):
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(g64))[0])
        raise Mismatch(f"{what}: got a non-finite value {g64[idx]} at index {idx}." + (f" Hint: {hint}" if hint else ""))
    bad = ~np.isclose(g64, e64, atol=atol, rtol=rtol)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f" at index {idx}" if idx else ""
        raise Mismatch(f"{what}{where}: expected {_fmt(e64[idx])}, got {_fmt(g64[idx])} "
                       f"({int(bad.sum())} of {bad.size} values differ)." + (f" Hint: {hint}" if hint else ""))


def expect_equal(got, expected, what: str, hint: str = "") -> None:
    """Exact comparison of numbers, strings or sequences; names the first differing item."""
    if isinstance(expected, Sequence) and not isinstance(expected, str):
        if not isinstance(got, Sequence) or isinstance(got, str):
            raise Mismatch(f"{what}: expected a list like {list(expected)[:8]}, got {got!r}."
                           + (f" Hint: {hint}" if hint else ""))
        for i, (g, e) in enumerate(zip(got, expected)):
            if g != e:
                raise Mismatch(f"{what}: item {i} should be {e!r}, got {g!r} (expected {list(expected)[:12]}, "
                               f"got {list(got)[:12]})." + (f" Hint: {hint}" if hint else ""))
        if len(got) != len(expected):
            raise Mismatch(f"{what}: expected {len(expected)} items, got {len(got)}." + (f" Hint: {hint}" if hint else ""))
        return
    if got != expected:
        raise Mismatch(f"{what}: expected {expected!r}, got {got!r}." + (f" Hint: {hint}" if hint else ""))


def exercise(title: str, kind: str = "function") -> Callable:
    """Decorator for a check function ``fn(answer, ...)`` that raises :class:`Mismatch` on the first
    difference. The wrapper turns the outcome into a printed line and a :class:`Result`.

    ``kind="function"``: the answer is a function (its stub raises ``NotImplementedError``);
    ``kind="value"``: the answer is a number, list or string (its stub is ``None`` or ``...``)."""
    if kind not in ("function", "value"):
        raise ValueError(f"kind must be 'function' or 'value', got {kind!r}")

    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def run(answer, *args, strict: bool = False, quiet: bool = False, **kwargs) -> Result:
            try:
                if kind == "value" and (answer is None or answer is Ellipsis):
                    raise NotImplementedError
                fn(answer, *args, **kwargs)
            except NotImplementedError:
                todo = ("replace the `raise NotImplementedError` in your cell" if kind == "function"
                        else "replace the `None` in your cell with your answer")
                result = Result(title, "todo", f"… {title}: not attempted yet ({todo}).")
            except Mismatch as m:
                result = Result(title, "fail", f"✗ {title}: {m}")
            except Exception as err:  # noqa: BLE001 - the learner's code may raise anything
                result = Result(title, "fail", f"✗ {title}: your code raised {type(err).__name__}: {err}")
            else:
                result = Result(title, "pass", f"✓ {title}: correct.")
            if not quiet:
                print(result.message)
            if strict and not result.ok:
                raise ExerciseFailed(result.message)
            return result

        run.title, run.kind = title, kind
        return run

    return wrap
