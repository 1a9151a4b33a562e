"""Adversarial suite for lesson 00's checks (bert_ms/exercises/lesson00.py): for every check, typical
mistakes are rejected on every one of 20 runs with a message naming the mistake, and correct answers
in other styles are accepted on every one of 20 runs."""

from __future__ import annotations

import mindspore as ms
import numpy as np
import pytest
from adversarial import accepted_every_run, rejected_every_run
from mindspore import nn, ops

from bert_ms.exercises import check

# --- Exercise 0.1: matmul_flops -------------------------------------------------------------------

FLOPS_WRONG = [
    (lambda m, k, n: m * k * n, "multiply AND one add"),
    (lambda m, k, n: m * n * (2 * k - 1), "convention"),
    (lambda m, k, n: 2 * m * n * (k - 1), "off by one"),
    (lambda m, k, n: 2 * m * n * (k + 1), "off by one"),
    (lambda m, k, n: 2 * m * k * k, "appears twice"),
    (lambda m, k, n: 2 * m * m * n, "appears twice"),
    (lambda m, k, n: m * k + k * n, "entries of the inputs"),
    (lambda m, k, n: 2 * m * n, "outputs"),
    (lambda m, k, n: 2 * 2048 * 256 * 8000, None),  # the quiz's example, hard-coded
    (lambda m, k, n: np.float32(2 * m * k * n), "rounded"),
    (lambda m, k, n: (np.array([m], np.int32) * k * n * 2)[0], "overflow"),  # NumPy int32 arithmetic wraps round
    (lambda m, k, n: f"{2 * m * k * n}", "expected a number"),
    (lambda m, k, n: ms.Tensor(2 * m * k * n), "expected a number"),
]


@pytest.mark.parametrize("answer,words", FLOPS_WRONG)
def test_matmul_flops_rejects(answer, words):
    with np.errstate(over="ignore"):
        rejected_every_run(check.matmul_flops, answer, words)


def _flops_loop(m, k, n):
    per_output = 0
    for _ in range(k):
        per_output += 2  # one multiply, one add
    return m * n * per_output


@pytest.mark.parametrize("answer", [
    lambda m, k, n: 2 * m * k * n,
    lambda m, k, n: float(2 * m * k * n),  # exact below 2**53
    lambda m, k, n: np.int64(m) * k * n * 2,
    lambda m, k, n: m * n * (2 * k - 1) + m * n,  # the strict count plus the first add into the accumulator
    _flops_loop,
])
def test_matmul_flops_accepts(answer):
    accepted_every_run(check.matmul_flops, answer)


# --- Exercise 0.2: linear_cell --------------------------------------------------------------------

def _param(shape, name):
    return ms.Parameter(ms.Tensor(np.zeros(shape, np.float32)), name=name)


class NoBias(nn.Cell):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.weight, self.bias = _param((d_out, d_in), "weight"), _param((d_out,), "bias")

    def construct(self, x):
        return ops.matmul(x, self.weight.T)


class BiasSubtracted(NoBias):
    def construct(self, x):
        return ops.matmul(x, self.weight.T) - self.bias


class OnlyWeight(nn.Cell):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.weight = _param((d_out, d_in), "weight")

    def construct(self, x):
        return ops.matmul(x, self.weight.T)


class Frozen(NoBias):
    def __init__(self, d_in, d_out):
        super().__init__(d_in, d_out)
        self.weight.requires_grad = False
        self.bias.requires_grad = False

    def construct(self, x):
        return ops.matmul(x, self.weight.T) + self.bias


class CopiedAtInit(NoBias):  # construct uses NumPy copies taken in __init__, not the Parameters
    def __init__(self, d_in, d_out):
        super().__init__(d_in, d_out)
        self.w_np, self.b_np = self.weight.asnumpy().copy(), self.bias.asnumpy().copy()

    def construct(self, x):
        return ms.Tensor(x.asnumpy() @ self.w_np.T + self.b_np)


class HardCoded(NoBias):  # ignores its arguments
    def __init__(self, d_in, d_out):
        super().__init__(3, 1)

    def construct(self, x):
        return ops.matmul(x, self.weight.T) + self.bias


class DenseInside(nn.Cell):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.dense = nn.Dense(d_in, d_out)

    def construct(self, x):
        return self.dense(x)


class OpsDense(NoBias):
    def construct(self, x):
        return ops.dense(x, self.weight, self.bias)


LINEAR_WRONG = [
    (NoBias, "bias is not added"),
    (BiasSubtracted, "subtracted"),
    (OnlyWeight, "bias [d_out] is missing"),
    (Frozen, "requires_grad=False"),
    (CopiedAtInit, "not from a copy"),
    (HardCoded, "expected 2 trainable parameters"),
    (DenseInside, "write it yourself"),
    (lambda d_in, d_out: nn.Dense(d_in, d_out), "write it yourself"),
    (OpsDense, "write it yourself"),
    (lambda d_in, d_out: NoBias, "return an instance"),
    (lambda d_in, d_out: np.zeros((d_out, d_in)), "nn.Cell"),
]


@pytest.mark.parametrize("answer,words", LINEAR_WRONG)
def test_linear_cell_rejects(answer, words):
    rejected_every_run(check.linear_cell, answer, words)


class Transposed(NoBias):  # (W xᵀ)ᵀ with Python's @, bias broadcast by hand
    def construct(self, x):
        return (self.weight @ x.T).T + self.bias.expand_dims(0)


class MulSum(NoBias):  # no matmul at all
    def construct(self, x):
        return (x.expand_dims(1) * self.weight.expand_dims(0)).sum(-1) + self.bias


def _via_function(d_in, d_out):
    return MulSum(d_in, d_out)


@pytest.mark.parametrize("answer", [Transposed, MulSum, _via_function])
def test_linear_cell_accepts(answer):
    accepted_every_run(check.linear_cell, answer)


# --- Exercise 0.3: mse_grad -----------------------------------------------------------------------

def _res(w, b, x, y):
    return x @ w + b - y


MSE_WRONG = [
    (lambda w, b, x, y: (x.T @ _res(w, b, x, y) / len(y), _res(w, b, x, y).mean()), "2r"),
    (lambda w, b, x, y: (2 * x.T @ _res(w, b, x, y), 2 * _res(w, b, x, y).sum()), "MEAN"),
    (lambda w, b, x, y: (2 * x.T @ (y - x @ w - b) / len(y), 2 * (y - x @ w - b).mean()), "wrong sign"),
    (lambda w, b, x, y: (2 * x.T @ _res(w, b, x, y) / x.shape[1], 2 * _res(w, b, x, y).mean()), "features"),
    (lambda w, b, x, y: (2 * x.T @ (x @ w - y) / len(y), 2 * (x @ w - y).mean()), "ignores b"),
    (lambda w, b, x, y: (2 * x.T @ _res(w, b, x, y) / len(y), 2 * (x @ w - y).mean()), "ignores b"),
    (lambda w, b, x, y: (2 * x.T @ _res(w, b, x, y) / len(y), 2 * _res(w, b, x, y) / len(y)), "one number"),
    (lambda w, b, x, y: (2 * _res(w, b, x, y).mean(), 2 * x.T @ _res(w, b, x, y) / len(y)), "in that order"),
    (lambda w, b, x, y: 2 * x.T @ _res(w, b, x, y) / len(y), "return a pair"),
    (lambda w, b, x, y: (2 * (x * _res(w, b, x, y)[:, None]).mean(1), 2 * _res(w, b, x, y).mean()), "dL/dw"),
]


@pytest.mark.parametrize("answer,words", MSE_WRONG)
def test_mse_grad_rejects(answer, words):
    rejected_every_run(check.mse_grad, answer, words)


def _mse_autodiff(w, b, x, y):
    wt, bt = ms.Parameter(ms.Tensor(w.astype(np.float32)), name="w"), ms.Parameter(ms.Tensor(np.float32(b)), name="b")

    def loss(xx, yy):
        return ((ops.matmul(xx, wt) + bt - yy) ** 2).mean()

    gw, gb = ms.grad(loss, None, (wt, bt))(ms.Tensor(x.astype(np.float32)), ms.Tensor(y.astype(np.float32)))
    return gw.asnumpy(), gb.asnumpy()


def test_mse_grad_forbids_autodiff():
    rejected_every_run(check.mse_grad, _mse_autodiff, "write it yourself", runs=3)


def _mse_loops(w, b, x, y):
    n, d = x.shape
    gw, gb = [0.0] * d, 0.0
    for i in range(n):
        r = sum(x[i, j] * w[j] for j in range(d)) + b - y[i]
        for j in range(d):
            gw[j] += 2 * r * x[i, j] / n
        gb += 2 * r / n
    return gw, gb


def _mse_mindspore(w, b, x, y):  # float32 MindSpore ops
    xt, r = ms.Tensor(x, ms.float32), ms.Tensor(x @ w + b - y, ms.float32)
    return (2 * ops.matmul(r, xt) / len(y)), (2 * r.mean())


@pytest.mark.parametrize("answer", [_mse_loops, _mse_mindspore,
                                    lambda w, b, x, y: [np.mean(2 * _res(w, b, x, y)[:, None] * x, axis=0),
                                                        np.array([2 * _res(w, b, x, y).mean()])]])
def test_mse_grad_accepts(answer):
    accepted_every_run(check.mse_grad, answer)


# --- Exercise 0.4: sgd_update ---------------------------------------------------------------------

def _sgd_first_only(params, grads, lr):
    return [params[0] - lr * grads[0]] + list(params[1:])


def _sgd_nn(params, grads, lr):
    ps = [ms.Parameter(ms.Tensor(p.astype(np.float32)), name=f"p{i}") for i, p in enumerate(params)]
    nn.SGD(ps, learning_rate=lr)(tuple(ms.Tensor(g.astype(np.float32)) for g in grads))
    return [p.asnumpy() for p in ps]


SGD_WRONG = [
    (lambda params, grads, lr: [p + lr * g for p, g in zip(params, grads)], "against"),
    (lambda params, grads, lr: [p - g for p, g in zip(params, grads)], "learning rate is missing"),
    (lambda params, grads, lr: [p - 0.1 * g for p, g in zip(params, grads)], "lr = 0.1"),
    (lambda params, grads, lr: [-lr * g for g in grads], "the step"),
    (lambda params, grads, lr: [p - lr * g for p, g in zip(params[:1], grads[:1])], "every parameter"),
    (_sgd_first_only, "parameter 1"),
    (lambda params, grads, lr: [p - lr * g * g for p, g in zip(params, grads)], "p − lr · g"),
    (lambda params, grads, lr: [p - lr * lr * g for p, g in zip(params, grads)], "p − lr · g"),
    (lambda params, grads, lr: params[0] - lr * grads[0], "return a list"),
    (lambda params, grads, lr: [p - lr * g for p, g in zip(params, reversed(grads))], None),
    (_sgd_nn, "write it yourself"),
]


@pytest.mark.parametrize("answer,words", SGD_WRONG)
def test_sgd_update_rejects(answer, words):
    rejected_every_run(check.sgd_update, answer, words)


def _sgd_in_place(params, grads, lr):
    for p, g in zip(params, grads):
        p -= lr * g
    return params


@pytest.mark.parametrize("answer", [
    _sgd_in_place,
    lambda params, grads, lr: tuple(np.subtract(p, np.multiply(lr, g)) for p, g in zip(params, grads)),
    lambda params, grads, lr: [(ms.Tensor(p, ms.float32) - lr * ms.Tensor(g, ms.float32)) for p, g in zip(params, grads)],
])
def test_sgd_update_accepts(answer):
    accepted_every_run(check.sgd_update, answer)
