"""Exercises that check themselves (练习自动检查).

Each lesson's exercises are functions or numbers the learner writes in a marked notebook cell; the
lesson then calls a check::

    from bert_ms.exercises import check

    def my_attention(q, k, v, mask=None):
        raise NotImplementedError  # your code here

    check.attention(my_attention)

A check runs the learner's code on fresh random inputs, compares it with an exact reference, and
prints one line: ``✓`` when it matches, ``✗`` with the *first* mismatch (which input, expected vs got,
a hint) when it does not, and "not attempted yet" while the stub still raises ``NotImplementedError``.
It returns a :class:`Result` (truthy only when correct; it shows nothing as a cell's ``Out[]``, the
printed line is all a learner sees) and never raises, so a notebook always runs top to bottom;
``strict=True`` raises :class:`ExerciseFailed` instead.

What the wrapper in :func:`exercise` guarantees for every check, so that a check never blames the
learner for its own failure and never hangs:

* the learner's function is called through :func:`learner_call`, so an exception raised *in the
  learner's code* is reported as theirs ("your code raised ValueError: … (line 3 of my_fn)"), with
  MindSpore's C++ call-stack banner cut off; an exception in the check's own code is reported as the
  check's failure, with what to report;
* a function that returns ``None`` is told so ("your function returned None: is a `return` missing?");
* ``NotImplementedError`` on the first call is "not attempted yet"; after a call has already returned,
  it is a partial answer ("a branch of your code still raises NotImplementedError");
* a time limit (``time_limit`` seconds for the whole check, learner's code included): an endless loop
  in the learner's code is stopped with a message naming it;
* ``forbid``: the package functions (or classes) the exercise asks the learner to write; an answer that
  calls one of them fails with "this calls bert_ms…; write it yourself", even if its values are right.
  Building blocks that are allowed are simply not listed.

The checks live in ``bert_ms/exercises/lessonNN.py`` (one function per exercise, listed in that
module's ``__all__``); ``check.<name>`` finds them. Solutions are in ``solutions/NN_*.py`` at the root
of the repository, apart from the lessons; ``tests/test_exercises.py`` proves that every check passes
its solution and rejects its stub and its typical wrong answers, and ``tests/test_checks_adversarial.py``
runs each check many times against a larger set of mistakes and of correct answers in other styles.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from bert_ms.exercises import record
from bert_ms.runtime import language, settings

__all__ = ["CheckTimeout", "ExerciseFailed", "LearnerRaised", "Mismatch", "Result", "exercise", "expect_close",
           "expect_equal", "learner_call", "to_numpy"]

REPORT = "please report it (the line above and `bert-ms info`) to the course's issue tracker"
DEFAULT_TIME_LIMIT = 60.0  # seconds for a whole check; the slowest correct answer in the suites takes ~5 s


class Mismatch(Exception):
    """Raised inside a check at the first difference; its message is shown to the learner."""


class ExerciseFailed(AssertionError):
    """Raised by a check called with ``strict=True`` when the answer is not (yet) right."""


class CheckTimeout(Exception):
    """Raised into the learner's code when a check's time limit has passed."""


class _LearnerRaised(Exception):
    """An exception that came out of the learner's code (wrapped, so the check's own errors stay apart)."""

    def __init__(self, error: BaseException, where: str, first_call: bool):
        super().__init__(str(error))
        self.error, self.where, self.first_call = error, where, first_call


LearnerRaised = _LearnerRaised  # a check may catch it to name the mistake behind the learner's own error


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

    def _ipython_display_(self) -> None:
        """The check has printed its line already; as a cell's last value it shows nothing more."""


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


def _as_array(got, what: str) -> np.ndarray:
    try:
        arr = to_numpy(got)
    except Exception as err:  # noqa: BLE001 - whatever the learner returned
        raise Mismatch(f"{what}: expected an array or a Tensor, got {type(got).__name__} ({_short(err)}).") from None
    if arr.dtype == object:
        raise Mismatch(f"{what}: expected an array of numbers, got {_describe(got)}.")
    return arr


def expect_close(got, expected, what: str, hint: str = "", atol: float = 1e-5, rtol: float = 1e-5) -> None:
    """Raise :class:`Mismatch` naming the shape difference or the first element that differs."""
    g, e = _as_array(got, what), to_numpy(expected)
    if g.shape != e.shape:
        raise Mismatch(f"{what}: expected shape {e.shape}, got {g.shape}." + (f" Hint: {hint}" if hint else ""))
    if not (np.issubdtype(g.dtype, np.number) or g.dtype == np.bool_):
        raise Mismatch(f"{what}: expected numbers, got an array of {g.dtype}.")
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
    """Exact comparison of numbers, strings or sequences; names the first differing item and shows both."""
    tail = f" Hint: {hint}" if hint else ""
    if isinstance(expected, Sequence) and not isinstance(expected, str):
        if isinstance(got, np.ndarray) or hasattr(got, "asnumpy"):
            got = to_numpy(got).tolist()
        if not isinstance(got, Sequence) or isinstance(got, str):
            raise Mismatch(f"{what}: expected a list like {list(expected)[:8]}, got {got!r}." + tail)
        for i, (g, e) in enumerate(zip(got, expected)):
            if g != e:
                raise Mismatch(f"{what}: item {i} should be {e!r}, got {g!r} (expected {list(expected)[:12]}, "
                               f"got {list(got)[:12]})." + tail)
        if len(got) != len(expected):
            raise Mismatch(f"{what}: expected {len(expected)} items, got {len(got)} (expected "
                           f"{list(expected)[:12]}, got {list(got)[:12]})." + tail)
        return
    if got != expected:
        raise Mismatch(f"{what}: expected {expected!r}, got {got!r}." + tail)


# --- running the learner's code ------------------------------------------------------------------

def _short(err: BaseException, limit: int = 300) -> str:
    """The first lines of an error message, without MindSpore's C++ call-stack banner."""
    text = str(err)
    for marker in ("\n----------------------------------------------------", "- C++ Call Stack",
                   "\n- Framework Unexpected Exception", "\n[ERROR]"):
        if marker in text:
            text = text.split(marker, 1)[0]
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip() and not set(ln.strip()) <= set("-=")]
    text = " ".join(lines[:3])
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe(value) -> str:
    if value is None:
        return "None"
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"{type(value).__name__} of shape {tuple(value.shape)} and dtype {value.dtype}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} items"
    return type(value).__name__


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../bert_ms
_LIBRARY_DIRS = tuple({os.path.dirname(os.__file__), *(p for p in sys.path if "site-packages" in p)})


@functools.lru_cache(maxsize=4096)
def _is_learner_file(filename: str) -> bool:
    """Code the learner wrote: a notebook cell, a script, a test file; not the package or a library."""
    if filename.startswith("<frozen") or filename.startswith("<string>"):
        return False
    path = os.path.abspath(filename) if not filename.startswith("<") else filename
    if path.startswith(_PACKAGE_DIR + os.sep):
        return False
    return not any(path.startswith(d + os.sep) for d in _LIBRARY_DIRS if d)


class _Session:
    """The state of one check run: its deadline, the forbidden code objects, what the learner did."""

    def __init__(self, time_limit: float, forbid: dict, none_ok: bool):
        self.deadline = time.monotonic() + time_limit
        self.time_limit = time_limit
        self.forbid = forbid  # code object -> dotted name
        self.none_ok = none_ok
        self.calls = 0
        self.returned = 0
        self.forbidden_used: str | None = None
        self.last_return = None
        self.timed_out = False

    # sys.settrace hooks: 'call' events for every Python frame (forbidden functions), 'line' events in the
    # learner's own frames only (the deadline), so library code runs at nearly full speed
    def global_trace(self, frame, event, arg):
        code = frame.f_code
        if code in self.forbid and self.forbidden_used is None:
            self.forbidden_used = self.forbid[code]
        if _is_learner_file(code.co_filename):
            return self.local_trace
        return None

    def local_trace(self, frame, event, arg):
        if event == "line" and time.monotonic() > self.deadline:
            self.timed_out = True
            raise CheckTimeout
        return self.local_trace


_CURRENT: list[_Session] = []


def _where(tb) -> str:
    """'line N of fn' for the innermost frame of the learner's code in a traceback."""
    found = ""
    while tb is not None:
        code = tb.tb_frame.f_code
        if _is_learner_file(code.co_filename):
            found = f"line {tb.tb_lineno - code.co_firstlineno + 1} of {code.co_name}"
        tb = tb.tb_next
    return found


def learner_call(fn, *args, **kwargs):
    """Call the learner's ``fn`` inside a running check: time limit, forbidden-function tripwire, and an
    exception raised by their code marked as theirs. Checks call the answer through this (the wrapper in
    :func:`exercise` does it for a function answer; call it yourself for an object the answer made)."""
    session = _CURRENT[-1] if _CURRENT else None
    if session is None:
        return fn(*args, **kwargs)
    first = session.returned == 0
    session.calls += 1
    previous = sys.gettrace()
    sys.settrace(session.global_trace)
    try:
        value = fn(*args, **kwargs)
    except CheckTimeout:
        raise
    except Exception as err:  # noqa: BLE001 - the learner's code may raise anything
        if session.timed_out:
            raise CheckTimeout from None
        raise _LearnerRaised(err, _where(err.__traceback__), first) from None
    finally:
        sys.settrace(previous)
    if session.forbidden_used:
        raise Mismatch(f"your code calls {session.forbidden_used}, the package's own version of what this exercise "
                       "asks you to write; write it yourself (plain NumPy or MindSpore operations are fine).")
    session.returned += 1
    session.last_return = value
    if value is None and not session.none_ok:
        raise Mismatch("your function returned None: is a `return` missing at its end?")
    return value


def _wrap_answer(answer):
    if inspect.isclass(answer) or not callable(answer):
        return answer

    @functools.wraps(answer)
    def called(*args, **kwargs):
        return learner_call(answer, *args, **kwargs)

    return called


def _resolve_forbidden(names) -> dict:
    """'module:attr' (or objects) -> {code object: 'module.attr'}; a class contributes all its methods."""
    table = {}
    for item in names:
        if isinstance(item, str):
            module_name, _, attr = item.partition(":")
            obj = importlib.import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
            label = f"{module_name}.{attr}"
        else:
            obj, label = item, f"{item.__module__}.{item.__qualname__}"
        if inspect.isclass(obj):
            for member in vars(obj).values():
                member = getattr(member, "__func__", member)
                if inspect.isfunction(member):
                    table[member.__code__] = label
        else:
            func = inspect.unwrap(getattr(obj, "__func__", obj))
            if hasattr(func, "__code__"):
                table[func.__code__] = label
    return table


def exercise(title: str, kind: str = "function", *, forbid: Sequence = (), time_limit: float = DEFAULT_TIME_LIMIT,
             none_ok: bool = False) -> Callable:
    """Decorator for a check function ``fn(answer, ...)`` that raises :class:`Mismatch` on the first
    difference. The wrapper turns the outcome into a printed line and a :class:`Result`.

    ``kind="function"``: the answer is a function (its stub raises ``NotImplementedError``); it reaches
    the check wrapped by :func:`learner_call`. ``kind="value"``: the answer is a number, list or string
    (its stub is ``None`` or ``...``). ``forbid``: ``"module:attr"`` names of what the learner must not
    call; ``time_limit``: seconds for the whole check; ``none_ok``: ``None`` is a legitimate return."""
    if kind not in ("function", "value"):
        raise ValueError(f"kind must be 'function' or 'value', got {kind!r}")

    def wrap(fn: Callable) -> Callable:
        signature = inspect.signature(fn)
        forbidden: dict | None = None

        @functools.wraps(fn)
        def run(answer=None, *args, strict: bool = False, quiet: bool = False, **kwargs) -> Result:
            nonlocal forbidden
            name = fn.__name__
            try:
                signature.bind(answer, *args, **kwargs)
            except TypeError as err:
                result = Result(title, "fail", f"✗ {title}: check.{name} was called the wrong way ({err}); "
                                               f"call it as check.{name}(your_answer).")
                return _finish(result, quiet, strict)
            if forbidden is None:
                forbidden = _resolve_forbidden(forbid)
            session = _Session(time_limit, forbidden, none_ok)
            _CURRENT.append(session)
            try:
                if kind == "value" and (answer is None or answer is Ellipsis):
                    raise NotImplementedError
                if kind == "function" and not callable(answer):
                    raise Mismatch(f"expected a function (pass its name without brackets), got {_describe(answer)}.")
                fn(_wrap_answer(answer) if kind == "function" else answer, *args, **kwargs)
            except NotImplementedError:  # a value stub, or raised by the check itself on the learner's behalf
                result = _todo(title, kind)
            except _LearnerRaised as raised:
                result = _learner_error(title, raised)
            except Mismatch as m:
                result = Result(title, "fail", f"✗ {title}: {m}")
            except CheckTimeout:
                result = Result(title, "fail", f"✗ {title}: your code did not finish within {session.time_limit:.0f} s, "
                                               "so the check stopped it (an endless loop? a `while` whose condition "
                                               "never changes?).")
            except RecursionError:
                result = Result(title, "fail", f"✗ {title}: your code recursed without end (RecursionError).")
            except Exception as err:  # noqa: BLE001 - the check's own code failed
                if session.returned:
                    result = Result(title, "fail", f"✗ {title}: the check could not use what your code returned "
                                                   f"({_describe(session.last_return)}): {type(err).__name__}: "
                                                   f"{_short(err)}. If that is the kind of value the exercise asks "
                                                   f"for, the check itself is at fault: {REPORT}.")
                else:
                    result = Result(title, "fail", f"✗ {title}: the check itself failed before your answer was "
                                                   f"judged ({type(err).__name__}: {_short(err)}); this is not "
                                                   f"your mistake: {REPORT}.")
            else:
                result = Result(title, "pass", f"✓ {title}: correct.")
            finally:
                _CURRENT.pop()
            if not quiet:  # a learner's run, not a test suite's: kept in the exercise record
                record.add(name, title, result.status, result.message)
            return _finish(result, quiet, strict)

        run.title, run.kind, run.forbid = title, kind, tuple(forbid)
        return run

    return wrap


def _todo(title: str, kind: str) -> Result:
    todo = ("replace the `raise NotImplementedError` in your cell" if kind == "function"
            else "replace the `None` in your cell with your answer")
    return Result(title, "todo", f"… {title}: not attempted yet ({todo}).")


def _learner_error(title: str, raised: _LearnerRaised) -> Result:
    err = raised.error
    if isinstance(err, NotImplementedError):
        if raised.first_call:
            return _todo(title, "function")
        return Result(title, "fail", f"✗ {title}: your code raised NotImplementedError for some inputs after "
                                     "returning for others: a branch is not written yet"
                                     + (f" ({raised.where})." if raised.where else "."))
    where = f" ({raised.where})" if raised.where else ""
    return Result(title, "fail", f"✗ {title}: your code raised {type(err).__name__}{where}: {_short(err)}")


def _in_language(result: Result) -> Result:
    """The Chinese edition prints the check's line from the catalog (bert_ms.runtime.language)."""
    if settings.language() != "zh":
        return result
    mark, _, rest = result.message.partition(" ")
    title, body = result.exercise, rest[len(result.exercise) + 2:] if rest.startswith(result.exercise) else rest
    return Result(result.exercise, result.status, f"{mark} {language.to_chinese(title)}：{language.to_chinese(body)}")


def _finish(result: Result, quiet: bool, strict: bool) -> Result:
    result = _in_language(result)
    if not quiet:
        print(result.message)
    if strict and not result.ok:
        raise ExerciseFailed(result.message)
    return result
