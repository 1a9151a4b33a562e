"""Solutions to the exercises of lesson 00 (MindSpore basics), and typical wrong answers.

Open this file only after trying: ``check.<name>(your_answer)`` in the notebook says whether you are right.
"""

import mindspore as ms
import numpy as np
from mindspore import nn, ops


# Exercise 0.1 ------------------------------------------------------------------------------------
def matmul_flops(m, k, n):
    return 2 * m * k * n  # m·n outputs, each k terms of one multiply and one add


def _strict_count(m, k, n):  # k multiplies and k - 1 adds: exact, but not the convention the exercise asks for
    return m * n * (2 * k - 1)


# Exercise 0.2 ------------------------------------------------------------------------------------
class Linear(nn.Cell):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.weight = ms.Parameter(ms.Tensor(np.random.normal(0, 0.1, (d_out, d_in)).astype(np.float32)), name="weight")
        self.bias = ms.Parameter(ms.Tensor(np.zeros(d_out, np.float32)), name="bias")

    def construct(self, x):
        return ops.matmul(x, self.weight.T) + self.bias


def linear_cell(d_in, d_out):
    return Linear(d_in, d_out)


class _TransposedLinear(nn.Cell):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.weight = ms.Parameter(ms.Tensor(np.zeros((d_in, d_out), np.float32)), name="weight")
        self.bias = ms.Parameter(ms.Tensor(np.zeros(d_out, np.float32)), name="bias")

    def construct(self, x):
        return ops.matmul(x, self.weight) + self.bias


class _PlainTensors(nn.Cell):  # not Parameters: MindSpore does not train them
    def __init__(self, d_in, d_out):
        super().__init__()
        self.weight = ms.Tensor(np.zeros((d_out, d_in), np.float32))
        self.bias = ms.Tensor(np.zeros(d_out, np.float32))

    def construct(self, x):
        return ops.matmul(x, self.weight.T) + self.bias


# Exercise 0.3 ------------------------------------------------------------------------------------
def mse_grad(w, b, x, y):
    r = x @ w + b - y  # residuals
    return 2 * x.T @ r / len(y), 2 * r.mean()


def _no_factor_two(w, b, x, y):
    r = x @ w + b - y
    return x.T @ r / len(y), r.mean()


def _summed(w, b, x, y):
    r = x @ w + b - y
    return 2 * x.T @ r, 2 * r.sum()


# Exercise 0.4 ------------------------------------------------------------------------------------
def sgd_update(params, grads, lr):
    return [p - lr * g for p, g in zip(params, grads)]


SOLUTIONS = {"matmul_flops": matmul_flops, "linear_cell": linear_cell, "mse_grad": mse_grad, "sgd_update": sgd_update}

WRONG = {
    "matmul_flops": [(lambda m, k, n: m * k * n, "multiply AND one add"), (_strict_count, "convention")],
    "linear_cell": [(_TransposedLinear, "[d_out, d_in]"), (_PlainTensors, "ms.Parameter")],
    "mse_grad": [(_no_factor_two, "2r"), (_summed, "MEAN")],
    "sgd_update": [(lambda params, grads, lr: [p + lr * g for p, g in zip(params, grads)], "against")],
}
