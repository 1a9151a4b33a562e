"""Solutions to the exercises of lesson 02 (language models), and typical wrong answers.

Open this file only after trying: ``check.<name>(your_answer)`` in the notebook says whether you are right.
"""

import math

import numpy as np
from mindspore import ops


# Exercise 2.1 ------------------------------------------------------------------------------------
def add_k_bigram(train_ids, vocab_size, k):
    counts = np.zeros((vocab_size, vocab_size))
    np.add.at(counts, (train_ids[:-1], train_ids[1:]), 1)  # counts[prev, next]
    return (counts + k) / (counts.sum(1, keepdims=True) + k * vocab_size)


def _denominator_plus_k(train_ids, vocab_size, k):
    counts = np.zeros((vocab_size, vocab_size))
    np.add.at(counts, (train_ids[:-1], train_ids[1:]), 1)
    return (counts + k) / (counts.sum(1, keepdims=True) + k)


def _transposed(train_ids, vocab_size, k):
    return add_k_bigram(train_ids, vocab_size, k).T


# Exercise 2.2 ------------------------------------------------------------------------------------
def perplexity_from_logits(logits, targets):
    return math.exp(float(ops.cross_entropy(logits, targets).asnumpy()))


def _sum_not_mean(logits, targets):
    return math.exp(float(ops.cross_entropy(logits, targets, reduction="sum").asnumpy()))


def _cross_entropy_only(logits, targets):
    return float(ops.cross_entropy(logits, targets).asnumpy())


# Exercise 2.3 ------------------------------------------------------------------------------------
def rnn_step(x_t, s_prev, U, W, b):
    return ops.tanh(ops.matmul(x_t, U.T) + ops.matmul(s_prev, W.T) + b)


def _no_tanh(x_t, s_prev, U, W, b):
    return ops.matmul(x_t, U.T) + ops.matmul(s_prev, W.T) + b


def _no_recurrence(x_t, s_prev, U, W, b):
    return ops.tanh(ops.matmul(x_t, U.T) + b)


# Exercise 2.4 ------------------------------------------------------------------------------------
def lstm_step(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    z = ops.matmul(x_t, W_ih.T) + ops.matmul(h_prev, W_hh.T) + b_ih + b_hh  # [B, 4H]
    i, f, g, o = ops.chunk(z, 4, axis=1)  # MindSpore's order of the four blocks: i, f, g, o
    i, f, g, o = ops.sigmoid(i), ops.sigmoid(f), ops.tanh(g), ops.sigmoid(o)
    c_t = f * c_prev + i * g
    h_t = o * ops.tanh(c_t)
    return h_t, c_t


def _lstm_ifog(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):  # the blocks read as i, f, o, g
    z = ops.matmul(x_t, W_ih.T) + ops.matmul(h_prev, W_hh.T) + b_ih + b_hh
    i, f, o, g = ops.chunk(z, 4, axis=1)
    c_t = ops.sigmoid(f) * c_prev + ops.sigmoid(i) * ops.tanh(g)
    return ops.sigmoid(o) * ops.tanh(c_t), c_t


def _lstm_no_forget(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    z = ops.matmul(x_t, W_ih.T) + ops.matmul(h_prev, W_hh.T) + b_ih + b_hh
    i, f, g, o = ops.chunk(z, 4, axis=1)
    c_t = c_prev + ops.sigmoid(i) * ops.tanh(g)
    return ops.sigmoid(o) * ops.tanh(c_t), c_t


def _lstm_one_bias(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    z = ops.matmul(x_t, W_ih.T) + ops.matmul(h_prev, W_hh.T) + b_ih
    i, f, g, o = ops.chunk(z, 4, axis=1)
    c_t = ops.sigmoid(f) * c_prev + ops.sigmoid(i) * ops.tanh(g)
    return ops.sigmoid(o) * ops.tanh(c_t), c_t


# Exercise 2.5 ------------------------------------------------------------------------------------
def clip_by_global_norm(grads, max_norm):
    norm = ops.sqrt(sum((g * g).sum() for g in grads))
    scale = max_norm / ops.maximum(norm, max_norm)
    return [g * scale for g in grads]


def _per_tensor(grads, max_norm):
    return [g * (max_norm / ops.maximum(ops.sqrt((g * g).sum()), max_norm)) for g in grads]


def _by_value(grads, max_norm):
    return [ops.clamp(g, -max_norm, max_norm) for g in grads]


def _always_rescaled(grads, max_norm):
    norm = ops.sqrt(sum((g * g).sum() for g in grads))
    return [g * (max_norm / norm) for g in grads]


def _package_clip(grads, max_norm):
    return list(ops.clip_by_global_norm(tuple(grads), max_norm))


SOLUTIONS = {
    "add_k_bigram": add_k_bigram,
    "perplexity_from_logits": perplexity_from_logits,
    "rnn_step": rnn_step,
    "lstm_step": lstm_step,
    "clip_by_global_norm": clip_by_global_norm,
}

WRONG = {
    "add_k_bigram": [(_denominator_plus_k, "k·V"), (_transposed, "transposed")],
    "perplexity_from_logits": [(_sum_not_mean, "mean over positions"), (_cross_entropy_only, "exponential")],
    "rnn_step": [(_no_tanh, "apply tanh"), (_no_recurrence, "recurrence")],
    "lstm_step": [(_lstm_ifog, "gate order"), (_lstm_no_forget, "forget gate"), (_lstm_one_bias, "two biases")],
    "clip_by_global_norm": [(_per_tensor, "own norm"), (_by_value, "clip by value"), (_always_rescaled, "unchanged"),
                            (_package_clip, "write it yourself")],
}
