"""The exercise framework itself (bert_ms/exercises/core.py): who is blamed, time limits, the tripwire.

A check must never blame the learner for its own failure, never hang, say "returned None" where that is
what happened, tell a stub from a partial answer, and notice an answer that calls the very package
function the exercise asks the learner to write.
"""

import numpy as np

from bert_ms.exercises import Mismatch, Result, exercise, expect_close, expect_equal
from bert_ms.exercises.core import _short


def _reference_double(x):
    return 2 * np.asarray(x)


@exercise("Exercise T.1 · doubling", forbid=("tests.test_exercise_framework:_reference_double",), time_limit=2)
def doubling(fn):
    x = np.arange(4.0)
    expect_close(fn(x), 2 * x, "double of [0 1 2 3]")
    expect_close(fn(np.array([-1.5])), np.array([-3.0]), "double of [-1.5]")


@exercise("Exercise T.2 · a check with a bug of its own")
def buggy(fn):
    fn(1.0)
    raise KeyError("internal table")


@exercise("Exercise T.3 · a check that fails before calling")
def broken_before(fn):
    {}["missing"]


def test_a_correct_answer_passes_and_shows_no_out_value(capsys):
    result = doubling(lambda x: np.asarray(x) * 2)
    assert result.ok and capsys.readouterr().out.startswith("✓")
    # as a cell's last value it displays nothing (the printed line is enough)
    assert Result._ipython_display_(result) is None


def test_returning_none_is_named():
    def forgot_return(x):
        2 * x

    result = doubling(forgot_return, quiet=True)
    assert result.status == "fail" and "returned None" in result.message


def test_an_endless_loop_is_stopped_with_a_message():
    def endless(x):
        while True:
            x = x + 1

    result = doubling(endless, quiet=True)
    assert result.status == "fail" and "did not finish within 2 s" in result.message


def test_the_stub_is_todo_but_a_partial_answer_is_not():
    def stub(x):
        raise NotImplementedError

    def partial(x):
        if len(x) > 1:
            return 2 * x
        raise NotImplementedError

    assert doubling(stub, quiet=True).status == "todo"
    result = doubling(partial, quiet=True)
    assert result.status == "fail" and "branch is not written yet" in result.message


def test_the_learners_exception_names_their_line():
    def bad(x):
        y = x * 2
        return y.reshape(3, 3)

    result = doubling(bad, quiet=True)
    assert result.status == "fail" and "your code raised ValueError (line 3 of bad)" in result.message


def test_calling_the_forbidden_reference_fails_even_when_right():
    result = doubling(_reference_double, quiet=True)
    assert result.status == "fail" and "_reference_double" in result.message and "write it yourself" in result.message

    def via_alias(x):  # reached through a local name: still caught
        f = _reference_double
        return f(x)

    assert "write it yourself" in doubling(via_alias, quiet=True).message


def test_the_checks_own_failure_is_not_blamed_on_the_learner():
    result = buggy(lambda x: x, quiet=True)
    assert result.status == "fail" and "check itself is at fault" in result.message
    result = broken_before(lambda x: x, quiet=True)
    assert "not your mistake" in result.message and "your code raised" not in result.message


def test_a_wrong_call_of_the_check_is_named_as_such():
    result = doubling(lambda x: 2 * x, 3, quiet=True)
    assert "called the wrong way" in result.message


def test_not_a_function():
    assert "expected a function" in doubling(42, quiet=True).message


def test_mindspore_banner_is_cut():
    err = RuntimeError("For 'MatMul', shapes do not match.\n\n----------------------------------------------------\n"
                       "- C++ Call Stack: (For framework developers)\n----------------------------------------------------\n"
                       "mindspore/core/ops/mat_mul.cc:123 InferShape")
    assert _short(err) == "For 'MatMul', shapes do not match."


def test_expect_equal_shows_both_lists_on_length_mismatch():
    try:
        expect_equal([1, 2], [1, 2, 3], "ids")
    except Mismatch as m:
        assert "[1, 2, 3]" in str(m) and "[1, 2]" in str(m)
    else:
        raise AssertionError("no mismatch")
