"""Lesson 00 exercises: MindSpore basics (MindSpore 基础). Solutions: ``solutions/00_setup.py``."""

from __future__ import annotations

import mindspore as ms
import numpy as np
from mindspore import nn

from bert_ms.exercises import Mismatch, exercise, expect_close, to_numpy

__all__ = ["matmul_flops", "linear_cell", "mse_grad", "sgd_update"]


@exercise("Exercise 0.1 the cost of a matrix product")
def matmul_flops(fn):
    """``fn(m, k, n)`` -> the floating-point operations of an [m, k] x [k, n] product: one multiply and
    one add for each of the k terms of each of the m·n outputs."""
    rng = np.random.default_rng()
    for m, k, n in [(2, 3, 4), tuple(int(v) for v in rng.integers(1, 500, 3)), (2048, 256, 8000)]:
        got = fn(m, k, n)
        want = 2 * m * k * n
        if got == m * k * n:
            raise Mismatch(f"for [{m}, {k}] x [{k}, {n}] you counted {got:,}: that counts only the multiplies; "
                           "each term is one multiply AND one add.")
        if got != want:
            raise Mismatch(f"for [{m}, {k}] x [{k}, {n}] expected {want:,}, got {got!r}.")


@exercise("Exercise 0.2 a Cell: the linear layer")
def linear_cell(fn):
    """``fn(d_in, d_out)`` -> an ``nn.Cell`` with two trainable parameters, weight [d_out, d_in] and bias
    [d_out], whose ``construct(x)`` returns x @ weight.T + bias (the layout of ``nn.Dense``)."""
    rng = np.random.default_rng()
    d_in, d_out = int(rng.integers(2, 6)), int(rng.integers(2, 6))
    while d_out == d_in:
        d_out = int(rng.integers(2, 7))
    cell = fn(d_in, d_out)
    if not isinstance(cell, nn.Cell):
        raise Mismatch(f"return an instance of your nn.Cell subclass, got {type(cell).__name__}.")
    params = {tuple(p.shape): p for p in cell.trainable_params()}
    if len(cell.trainable_params()) != 2:
        raise Mismatch(f"expected 2 trainable parameters (weight and bias), found "
                       f"{[(p.name, tuple(p.shape)) for p in cell.trainable_params()]}."
                       + (" Hint: wrap each in ms.Parameter so MindSpore trains it." if not cell.trainable_params() else ""))
    if (d_in, d_out) in params and (d_out, d_in) not in params:
        raise Mismatch(f"your weight has shape {(d_in, d_out)}; store it as [d_out, d_in] = {(d_out, d_in)}, as nn.Dense "
                       "does, and multiply by its transpose.")
    if (d_out, d_in) not in params or (d_out,) not in params:
        raise Mismatch(f"expected parameter shapes {(d_out, d_in)} and {(d_out,)}, got {sorted(params)}.")
    for p in cell.trainable_params():  # give the parameters values the check knows
        p.set_data(ms.Tensor(rng.normal(size=p.shape).astype(np.float32)))
    weight, bias = params[(d_out, d_in)].asnumpy(), params[(d_out,)].asnumpy()
    x = rng.normal(size=(3, d_in)).astype(np.float32)
    got = to_numpy(cell(ms.Tensor(x)))
    expect_close(got, x @ weight.T + bias, "cell(x)", hint="construct must return x @ weight.T + bias", atol=1e-5)


@exercise("Exercise 0.3 the gradient of a mean squared error, by hand")
def mse_grad(fn):
    """``fn(w, b, x, y)``: NumPy arrays w [d], b a number, x [N, d], y [N] -> (dL/dw [d], dL/db) for
    L = mean((x @ w + b - y) ** 2)."""
    rng = np.random.default_rng()
    n, d = 8, 3
    w, b = rng.normal(size=d), float(rng.normal())
    x, y = rng.normal(size=(n, d)), rng.normal(size=n)
    wt, bt = ms.Parameter(ms.Tensor(w.astype(np.float32)), name="w"), ms.Parameter(ms.Tensor(np.float32(b)), name="b")

    def loss(xx, yy):
        return ((ms.ops.matmul(xx, wt) + bt - yy) ** 2).mean()

    gw, gb = ms.grad(loss, None, (wt, bt))(ms.Tensor(x.astype(np.float32)), ms.Tensor(y.astype(np.float32)))
    want_w, want_b = gw.asnumpy().astype(np.float64), float(gb.asnumpy())
    got = fn(w.copy(), b, x.copy(), y.copy())
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise Mismatch("return a pair (dL/dw, dL/db).")
    got_w, got_b = to_numpy(got[0]).astype(np.float64), float(to_numpy(got[1]))
    if got_w.shape == want_w.shape and np.allclose(got_w * 2, want_w, rtol=1e-4, atol=1e-5):
        raise Mismatch("your gradient is half the true one: the derivative of r² is 2r.")
    if got_w.shape == want_w.shape and np.allclose(got_w, want_w * n, rtol=1e-4, atol=1e-5):
        raise Mismatch(f"your gradient is {n} times too large: L is the MEAN over the {n} examples, so divide by N.")
    if got_w.shape == want_w.shape and np.allclose(got_w, -want_w, rtol=1e-4, atol=1e-5):
        raise Mismatch("wrong sign: the residual is (prediction - y).")
    expect_close(got_w, want_w, "dL/dw (checked against mindspore.grad)", hint="2/N · xᵀ (x w + b − y)", rtol=1e-4,
                 atol=1e-5)
    expect_close(got_b, want_b, "dL/db (checked against mindspore.grad)", hint="2/N · Σ (x w + b − y)", rtol=1e-4,
                 atol=1e-5)


@exercise("Exercise 0.4 one step of stochastic gradient descent")
def sgd_update(fn):
    """``fn(params, grads, lr)``: lists of NumPy arrays and the learning rate -> the new parameters
    p - lr · g (what ``nn.SGD`` does when you call ``optimizer(grads)``)."""
    rng = np.random.default_rng()
    shapes = [(3, 2), (2,)]
    params = [rng.normal(size=s).astype(np.float32) for s in shapes]
    grads = [rng.normal(size=s).astype(np.float32) for s in shapes]
    lr = float(rng.uniform(0.05, 0.5))
    cell_params = [ms.Parameter(ms.Tensor(p.copy()), name=f"p{i}") for i, p in enumerate(params)]
    nn.SGD(cell_params, learning_rate=lr)(tuple(ms.Tensor(g) for g in grads))
    want = [p.asnumpy() for p in cell_params]
    got = fn([p.copy() for p in params], [g.copy() for g in grads], lr)
    if not isinstance(got, (tuple, list)) or len(got) != len(want):
        raise Mismatch(f"return a list of {len(want)} updated parameters, got {type(got).__name__}.")
    got = [to_numpy(g).astype(np.float64) for g in got]
    if all(np.allclose(g, p + lr * d, atol=1e-6) for g, p, d in zip(got, params, grads)):
        raise Mismatch("you moved WITH the gradient (p + lr·g); descent moves against it: p - lr·g.")
    for i, (g, w) in enumerate(zip(got, want)):
        expect_close(g, w, f"parameter {i} after one step (checked against nn.SGD)", hint="p - lr * g", atol=1e-6)
