"""Lesson 00 exercises: MindSpore basics (MindSpore 基础). Solutions: ``solutions/00_setup.py``.

Every reference is exact: integer arithmetic for the FLOP count, float64 NumPy for the layer, the
gradient and the SGD step (not MindSpore's float32 CPU kernels), so the tolerances only have to admit a
learner's float32 rounding, and each check's inputs are drawn so that every typical mistake differs from
the right answer on every run (distinct dimensions, b far from 0, N ≠ d, a learning rate far from 0.1
and 1, a scalar parameter, ...).
"""

from __future__ import annotations

import inspect
import numbers

import mindspore as ms
import numpy as np
from mindspore import nn

from bert_ms.exercises import Mismatch, exercise, expect_close, to_numpy
from bert_ms.exercises.core import learner_call

__all__ = ["matmul_flops", "linear_cell", "mse_grad", "sgd_update"]

# MindSpore's automatic differentiation: exercise 0.3 asks for the gradient by hand
_AUTODIFF = ("mindspore:grad", "mindspore:value_and_grad", "mindspore:vjp", "mindspore:jvp", "mindspore.ops:grad",
             "mindspore.ops:GradOperation")


_PRIMES = (3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59)


def _distinct(rng, low, high, size):
    """``size`` distinct integers in [low, high)."""
    return [int(v) for v in rng.choice(np.arange(low, high), size=size, replace=False)]


# --- Exercise 0.1 ---------------------------------------------------------------------------------

def _flops_hint(m, k, n, got) -> str:
    """Name the counting mistake ``got`` most likely is, for an [m, k] x [k, n] product."""
    if got == m * k * n:
        return ("that counts only the multiplies; each of the k terms of an output is one multiply AND one add "
                "(a multiply-add counts as 2 FLOPs).")
    if got == m * n * (2 * k - 1):
        return ("that is k multiplies and k − 1 additions per output: exact for a bare sum, but the convention "
                "of benchmarks and papers (and of this exercise) counts one multiply and one add for EACH of the "
                "k terms, i.e. 2 FLOPs per term.")
    if got in (2 * m * n * (k - 1), 2 * m * n * (k + 1)):
        return "off by one term per output: each output entry is a sum of exactly k products."
    if got in (m * n, 2 * m * n):
        return "that counts the outputs (or 2 per output); each output costs a multiply and an add per term, k terms."
    if got in (m * k + k * n, m * k * k * n, 2 * (m * k + k * n)):
        return "that counts the entries of the inputs; count the work for each output entry (k terms each)."
    twice = {2 * a * a * c for a in (m, k, n) for c in (m, k, n)} | {2 * a * c * c for a in (m, k, n)
                                                                      for c in (m, k, n)}
    if got in twice - {2 * m * k * n}:
        return "one of m, k, n appears twice in your count and another not at all; all three dimensions enter once."
    return "count the FLOPs of one output entry (k terms) and multiply by the number of outputs."


@exercise("Exercise 0.1 · the cost of a matrix product", time_limit=10)
def matmul_flops(fn):
    """``fn(m, k, n)`` -> the floating-point operations of an [m, k] x [k, n] product, counted the way
    benchmarks do: one multiply and one add for each of the k terms of each of the m·n outputs."""
    rng = np.random.default_rng()
    # three distinct odd primes: no mistaken formula (k ± 1 for k, a size twice, ...) equals another by chance
    primes = tuple(int(v) for v in rng.choice(_PRIMES, size=3, replace=False))
    m1, n1 = _distinct(rng, 2, 60, 2)
    # large and odd: beyond int32 (an overflowing NumPy int32 wraps round) and beyond float32's 24-bit mantissa
    big = tuple(int(v) | 1 for v in (rng.integers(3000, 9000), rng.integers(201, 900), rng.integers(3000, 9000)))
    for m, k, n in [primes, (m1, 1, n1), big]:  # k = 1: each output is a single product
        got = fn(m, k, n)
        where = f"an [{m}, {k}] × [{k}, {n}] product (m={m}, k={k}, n={n})"
        if isinstance(got, bool) or not isinstance(got, numbers.Real):
            raise Mismatch(f"for {where} expected a number (an int), got {type(got).__name__} {got!r}.")
        want = 2 * m * k * n
        if got == want:
            continue
        if isinstance(got, (float, np.floating)) and abs(float(got) - want) <= 1e-6 * want:
            raise Mismatch(f"for {where} expected {want:,}, got {float(got):,.1f}: your count is rounded (a float32 "
                           "has 24 bits of mantissa). Count with Python ints, which are exact at any size.")
        if isinstance(got, (numbers.Integral, np.integer)) and (got < 0 or got == (want + 2**31) % 2**32 - 2**31
                                                                or got == want % 2**32):
            raise Mismatch(f"for {where} expected {want:,}, got {int(got):,}: a 32-bit integer overflowed. Use Python "
                           "ints (they never overflow), not np.int32.")
        raise Mismatch(f"for {where} expected {want:,}, got {got!r}. Hint: {_flops_hint(m, k, n, got)}")


# --- Exercise 0.2 ---------------------------------------------------------------------------------

@exercise("Exercise 0.2 · a Cell: the linear layer", time_limit=30,
          forbid=("mindspore.nn:Dense", "mindspore.ops:dense", "mindspore.mint.nn:Linear",
                  "mindspore.mint.nn.functional:linear", "bert_ms.transformer.layers:Linear"))
def linear_cell(fn):
    """``fn(d_in, d_out)`` -> an ``nn.Cell`` with two trainable parameters, weight [d_out, d_in] and bias
    [d_out], whose ``construct(x)`` returns x @ weight.T + bias (the layout of ``nn.Dense``). ``fn`` may
    be the class itself."""
    rng = np.random.default_rng()
    first = (*_distinct(rng, 2, 9, 2), int(rng.integers(2, 6)))  # d_in ≠ d_out, a few rows
    for d_in, d_out, rows in [first, (int(rng.integers(2, 6)), 1, 1)]:  # then one output, one row
        # a class is not wrapped by the framework: call it through learner_call so its errors are the learner's
        cell = learner_call(fn, d_in, d_out) if inspect.isclass(fn) else fn(d_in, d_out)
        what = f"{type(cell).__name__}({d_in}, {d_out})"
        if inspect.isclass(cell):
            raise Mismatch(f"you returned the class {cell.__name__}; return an instance, {cell.__name__}(d_in, d_out).")
        if not isinstance(cell, nn.Cell):
            raise Mismatch(f"return an instance of your nn.Cell subclass, got {type(cell).__name__}.")
        trainable = cell.trainable_params()
        shapes = [tuple(p.shape) for p in trainable]
        if not trainable:
            frozen = [p for p in cell.get_parameters() if not p.requires_grad]
            raise Mismatch(f"{what} has no trainable parameters. Hint: "
                           + ("your Parameters have requires_grad=False, so MindSpore would not train them."
                              if frozen else "wrap weight and bias in ms.Parameter(...) so MindSpore finds and trains "
                                             "them (a plain Tensor attribute is a constant)."))
        if (d_in, d_out) in shapes and (d_out, d_in) not in shapes:
            raise Mismatch(f"{what}: your weight has shape {(d_in, d_out)}; store it as [d_out, d_in] = {(d_out, d_in)}, "
                           "as nn.Dense does, and multiply by its transpose.")
        if sorted(shapes) != sorted([(d_out, d_in), (d_out,)]):
            missing = "the bias [d_out] is missing. " if shapes == [(d_out, d_in)] else ""
            raise Mismatch(f"{what}: expected 2 trainable parameters of shapes {(d_out, d_in)} (weight) and {(d_out,)} "
                           f"(bias), found {[(p.name, tuple(p.shape)) for p in trainable]}. {missing}".rstrip())
        # give the parameters values the check knows, then call the learner's cell on fresh inputs
        values = {}
        for p in trainable:
            values[tuple(p.shape)] = rng.normal(0, 1, p.shape).astype(np.float32)
            p.set_data(ms.Tensor(values[tuple(p.shape)]))
        weight, bias = values[(d_out, d_in)].astype(np.float64), values[(d_out,)].astype(np.float64)
        x = rng.normal(0, 1, (rows, d_in)).astype(np.float32)
        got = learner_call(cell, ms.Tensor(x))
        want = x.astype(np.float64) @ weight.T + bias
        arr = to_numpy(got)
        if arr.shape == want.shape and np.allclose(arr, want - bias, atol=1e-4):
            raise Mismatch(f"{what}(x) for x of shape {x.shape}: the bias is not added. construct must return "
                           "x @ weight.T + bias.")
        if arr.shape == want.shape and np.allclose(arr, want - 2 * bias, atol=1e-4):
            raise Mismatch(f"{what}(x): the bias is subtracted; construct must return x @ weight.T + bias.")
        expect_close(arr, want, f"{what}(x) for x of shape {x.shape}, after the check set your weight and bias to new "
                     "values", hint="construct must return x @ weight.T + bias, computed from the Parameters "
                                    "themselves (not from a copy taken in __init__).", atol=1e-5, rtol=1e-5)


# --- Exercise 0.3 ---------------------------------------------------------------------------------

def _mse_grads(w, b, x, y):
    r = x @ w + b - y
    return 2 * x.T @ r / len(y), 2 * r.mean()


@exercise("Exercise 0.3 · the gradient of a mean squared error, by hand", time_limit=30, forbid=_AUTODIFF)
def mse_grad(fn):
    """``fn(w, b, x, y)``: NumPy float64 arrays w [d], b a number, x [N, d], y [N] -> (dL/dw [d], dL/db)
    for L = mean((x @ w + b - y) ** 2)."""
    rng = np.random.default_rng()
    n1, d1 = _distinct(rng, 2, 12, 2)
    for n, d in [(n1, d1), (int(rng.integers(13, 40)), 1)]:  # N ≠ d; then one feature
        w = rng.normal(0, 1, d)
        b = float(rng.choice([-1, 1]) * rng.uniform(0.5, 2.0))  # far from 0: a forgotten b shows
        x, y = rng.normal(0, 1, (n, d)), rng.normal(0, 1, n)
        want_w, want_b = _mse_grads(w, b, x, y)
        got = fn(w.copy(), b, x.copy(), y.copy())
        where = f"for N={n} examples with d={d} features"
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise Mismatch(f"{where}: return a pair (dL/dw, dL/db), got {_kind(got)}.")
        got_w, got_b = to_numpy(got[0]).astype(np.float64), to_numpy(got[1]).astype(np.float64)
        if got_w.size == 1 and got_b.shape == (d,) and d > 1:
            raise Mismatch(f"{where}: your pair is (dL/db, dL/dw); return (dL/dw, dL/db) in that order.")
        if got_b.size != 1:
            raise Mismatch(f"{where}: dL/db should be one number, got an array of shape {got_b.shape}. Hint: b is "
                           "added to every prediction, so its gradient sums (here: averages) over the examples.")
        got_b = float(got_b.reshape(()))
        if got_w.shape == want_w.shape:
            _mse_diagnose(got_w, got_b, w, b, x, y, want_w, want_b, where)
        # float32 answers round each of the N products: the error scales with the largest entry, not with each one
        # (the typical mistakes are off by factors: 2, N, d, a sign)
        scale = 1e-5 * max(float(np.abs(want_w).max()), float(np.abs(want_b).max()), 1e-3)
        expect_close(got_w, want_w, f"dL/dw {where}", hint="2/N · xᵀ (x w + b − y)", rtol=1e-4, atol=scale)
        expect_close(got_b, want_b, f"dL/db {where}", hint="2/N · Σ (x w + b − y)", rtol=1e-4, atol=scale)


def _mse_diagnose(got_w, got_b, w, b, x, y, want_w, want_b, where):
    def close(a, c):
        return np.allclose(a, c, rtol=1e-5, atol=1e-7)

    n, d = x.shape
    if close(got_w, want_w / 2) and close(got_b, want_b / 2):
        raise Mismatch(f"{where}: your gradient is half the true one: the derivative of r² is 2r.")
    if close(got_w, want_w * n) and close(got_b, want_b * n):
        raise Mismatch(f"{where}: your gradient is {n} times too large: L is the MEAN over the N={n} examples, so "
                       "divide by N.")
    if d > 1 and close(got_w, want_w * n / d):
        raise Mismatch(f"{where}: you divided by d={d} (the number of features); L averages over the N={n} "
                       "examples, so divide by N.")
    if close(got_w, -want_w) and close(got_b, -want_b):
        raise Mismatch(f"{where}: wrong sign: the residual is (prediction − y) = x w + b − y.")
    no_b_w, no_b_b = _mse_grads(w, 0.0, x, y)
    if close(got_w, no_b_w):
        raise Mismatch(f"{where}: your dL/dw ignores b: the residual is x w + b − y, b included.")
    if close(got_w, want_w) and close(got_b, no_b_b):
        raise Mismatch(f"{where}: your dL/db ignores b: the residual is x w + b − y, b included.")


def _kind(value) -> str:
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)} items"
    if hasattr(value, "shape"):
        return f"{type(value).__name__} of shape {tuple(value.shape)}"
    return type(value).__name__


# --- Exercise 0.4 ---------------------------------------------------------------------------------

@exercise("Exercise 0.4 · one step of stochastic gradient descent", time_limit=30, forbid=("mindspore.nn:SGD",))
def sgd_update(fn):
    """``fn(params, grads, lr)``: lists of NumPy arrays and the learning rate -> the new parameters
    p - lr · g, one per parameter (what ``nn.SGD`` does when you call ``optimizer(grads)``)."""
    rng = np.random.default_rng()
    for count in (int(rng.integers(3, 5)), 1):
        shapes = [(int(rng.integers(2, 5)), int(rng.integers(2, 4))), (int(rng.integers(2, 6)),), (), (3, 2, 2)][:count]
        params = [np.array(rng.normal(0, 1, s)) for s in shapes]
        grads = [np.array(rng.normal(0, 1, s)) for s in shapes]
        lr = float(rng.uniform(0.2, 0.6))  # far from 0.1 and from 1: a hard-coded or forgotten rate shows
        want = [p - lr * g for p, g in zip(params, grads)]
        got = fn([p.copy() for p in params], [g.copy() for g in grads], lr)
        where = f"for {count} parameter{'s' if count > 1 else ''} of shapes {shapes} and lr={lr:.3f}"
        if isinstance(got, np.ndarray) or hasattr(got, "asnumpy") or not isinstance(got, (list, tuple)):
            raise Mismatch(f"{where}: return a list with one updated array per parameter, got {_kind(got)}.")
        if len(got) != len(want):
            raise Mismatch(f"{where}: expected a list of {len(want)} updated parameters, got {len(got)}. Hint: update "
                           "every parameter with its own gradient.")
        got = [to_numpy(g).astype(np.float64) for g in got]
        same = [g.shape == w.shape for g, w in zip(got, want)]
        if all(same):
            def all_close(candidates, got=got):
                return all(np.allclose(g, c, rtol=1e-6, atol=1e-7) for g, c in zip(got, candidates))

            if all_close([p + lr * g for p, g in zip(params, grads)]):
                raise Mismatch(f"{where}: you moved WITH the gradient (p + lr·g); descent moves against it: p − lr·g.")
            if all_close([p - g for p, g in zip(params, grads)]):
                raise Mismatch(f"{where}: the learning rate is missing: the step is lr·g, not g.")
            if all_close([p - 0.1 * g for p, g in zip(params, grads)]):
                raise Mismatch(f"{where}: you used lr = 0.1, not the lr passed in ({lr:.3f}).")
            if all_close([-lr * g for g in grads]) or all_close([lr * g for g in grads]):
                raise Mismatch(f"{where}: you returned the step, not the new parameters: return p − lr·g.")
        for i, (g, w) in enumerate(zip(got, want)):
            # a float32 answer rounds p and lr·g: its error scales with them, not with p − lr·g (which may cancel)
            scale = 1e-6 * max(float(np.abs(params[i]).max(initial=0.0)), float(np.abs(lr * grads[i]).max(initial=0.0)), 1.0)
            expect_close(g, w, f"{where}: parameter {i} (shape {shapes[i]}) after one step", hint="p − lr · g",
                         rtol=1e-5, atol=scale)
