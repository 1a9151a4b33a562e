"""Solutions to the exercises of lesson 04 (notebooks/04_transformer.py), and typical wrong answers.

Open this file after you have tried: each exercise's check (``bert_ms.exercises.check``) tells you
whether your own answer is right. ``tests/test_exercises.py`` runs every solution through its check
and proves that each wrong answer below is rejected with a message naming the mistake.
"""

import math

import mindspore as ms
import numpy as np
from mindspore import ops


# Exercise 4.1: scaled dot-product attention, eq. (1), with a boolean mask (True = may attend)
def attention(q, k, v, mask=None):
    scores = ops.matmul(q, k.swapaxes(-1, -2)) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = ops.masked_fill(scores, ops.logical_not(mask), -1e9)  # hide BEFORE the softmax
    weights = ops.softmax(scores, -1)
    return ops.matmul(weights, v), weights


def attention_without_sqrt_dk(q, k, v, mask=None):
    scores = ops.matmul(q, k.swapaxes(-1, -2))
    if mask is not None:
        scores = ops.masked_fill(scores, ops.logical_not(mask), -1e9)
    return ops.matmul(ops.softmax(scores, -1), v)


def attention_mask_after_softmax(q, k, v, mask=None):
    weights = ops.softmax(ops.matmul(q, k.swapaxes(-1, -2)) / math.sqrt(q.shape[-1]), -1)
    if mask is not None:
        weights = weights * mask.astype(weights.dtype)  # zeroes the hidden weights, but rows no longer sum to 1
    return ops.matmul(weights, v)


def attention_softmax_over_queries(q, k, v, mask=None):
    scores = ops.matmul(q, k.swapaxes(-1, -2)) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = ops.masked_fill(scores, ops.logical_not(mask), -1e9)
    return ops.matmul(ops.softmax(scores, -2), v)


# Exercise 4.2: the causal mask
def causal_mask(t):
    return ms.Tensor(np.triu(np.ones((t, t), np.float32), k=1) * -1e9)


def causal_mask_hiding_the_diagonal(t):
    return ms.Tensor(np.triu(np.ones((t, t), np.float32)) * -1e9)


def causal_mask_zero_one(t):
    return ms.Tensor(np.tril(np.ones((t, t), np.float32)))


def causal_mask_hiding_the_past(t):
    return ms.Tensor(np.tril(np.ones((t, t), np.float32), k=-1) * -1e9)


# Exercise 4.3: the padding mask
def padding_mask(keep):
    b, t = keep.shape
    return ((1.0 - keep.astype(ms.float32)) * -1e9).reshape(b, 1, 1, t)


def padding_mask_flat(keep):
    return (1.0 - keep.astype(ms.float32)) * -1e9  # [B, T]: broadcasts against the wrong axes of the scores


def padding_mask_inverted(keep):
    b, t = keep.shape
    return (keep.astype(ms.float32) * -1e9).reshape(b, 1, 1, t)


# Exercise 4.4: the sinusoidal positional encoding
def sinusoidal_pe(max_len, d_model):
    pos = np.arange(max_len)[:, None]
    angle = pos / 10000 ** (np.arange(0, d_model, 2) / d_model)  # one frequency per pair (2i, 2i+1)
    pe = np.zeros((max_len, d_model), np.float32)
    pe[:, 0::2] = np.sin(angle)
    pe[:, 1::2] = np.cos(angle[:, : d_model // 2])  # an odd d_model has one sine column more than cosines
    return pe


def sinusoidal_pe_swapped(max_len, d_model):
    pe = sinusoidal_pe(max_len, d_model)
    return np.stack([pe[:, 1::2], pe[:, 0::2]], axis=-1).reshape(max_len, d_model)


def sinusoidal_pe_halves(max_len, d_model):
    pe = sinusoidal_pe(max_len, d_model)
    return np.concatenate([pe[:, 0::2], pe[:, 1::2]], axis=1)


# Exercise 4.5: BERT's schedule: linear warm-up, then linear decay to 0 (steps counted from 0)
def linear_warmup_lr(step, peak_lr, total_steps, warmup_steps):
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    t = min((step - warmup_steps) / max(total_steps - warmup_steps, 1), 1.0)
    return peak_lr * (1.0 - t)


def linear_warmup_lr_off_by_one(step, peak_lr, total_steps, warmup_steps):
    if step < warmup_steps:
        return peak_lr * step / warmup_steps  # step 0 gets rate 0: a wasted step
    return linear_warmup_lr(step, peak_lr, total_steps, warmup_steps)


def linear_warmup_lr_decay_over_total(step, peak_lr, total_steps, warmup_steps):
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    return peak_lr * max(1.0 - step / total_steps, 0.0)  # jumps down at the end of the warm-up


SOLUTIONS = {
    "attention": attention,
    "causal_mask": causal_mask,
    "padding_mask": padding_mask,
    "sinusoidal_pe": sinusoidal_pe,
    "linear_warmup_lr": linear_warmup_lr,
}

WRONG = {
    "attention": [
        (attention_without_sqrt_dk, "√d_k"),
        (attention_mask_after_softmax, "after the softmax"),
        (attention_softmax_over_queries, "over the keys"),
    ],
    "causal_mask": [
        (causal_mask_hiding_the_diagonal, "diagonal"),
        (causal_mask_zero_one, "0/1"),
        (causal_mask_hiding_the_past, "past is hidden"),
    ],
    "padding_mask": [
        (padding_mask_flat, "[B, 1, 1, T]"),
        (padding_mask_inverted, "inverted"),
    ],
    "sinusoidal_pe": [
        (sinusoidal_pe_swapped, "swapped"),
        (sinusoidal_pe_halves, "interleaves"),
    ],
    "linear_warmup_lr": [
        (linear_warmup_lr_off_by_one, "step + 1"),
        (linear_warmup_lr_decay_over_total, "end of the warm-up"),
    ],
}
