"""Adversarial suite for lesson 04's checks: every typical mistake rejected on every one of 20 runs (with the
words that name it), every correct answer in another style accepted on every run."""

import math

import mindspore as ms
import numpy as np
import pytest
from adversarial import accepted_every_run, rejected_every_run
from mindspore import ops

from bert_ms.exercises import check
from bert_ms.train.trainer import lr_at
from bert_ms.transformer import attention as package_attention
from bert_ms.transformer import positional


def _np(x):
    return x.asnumpy().astype(np.float64) if hasattr(x, "asnumpy") else np.asarray(x, np.float64)


def _softmax(s, axis=-1):
    e = np.exp(s - s.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


# --- 4.1 attention ------------------------------------------------------------------------------------------
def att_numpy_float64(q, k, v, mask=None):
    q, k, v = _np(q), _np(k), _np(v)
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is not None:
        s = np.where(mask.asnumpy(), s, -np.inf)
    return _softmax(s) @ v


def att_renormalise_after_softmax(q, k, v, mask=None):
    w = ops.softmax(ops.matmul(q, k.swapaxes(-1, -2)) / math.sqrt(q.shape[-1]), -1)
    if mask is not None:
        w = w * mask.astype(ms.float32)
        w = w / w.sum(-1, keepdims=True)  # zero, then renormalise: the same weights
    return ops.matmul(w, v), w


def att_loop(q, k, v, mask=None):
    q, k, v = _np(q), _np(k), _np(v)
    m = None if mask is None else np.broadcast_to(mask.asnumpy(), (*q.shape[:-1], k.shape[-2]))
    out = np.zeros((*q.shape[:-1], v.shape[-1]))
    for idx in np.ndindex(*q.shape[:-1]):
        batch = idx[:-1]
        scores = np.array([q[idx] @ k[(*batch, j)] / math.sqrt(q.shape[-1]) for j in range(k.shape[-2])])
        if m is not None:
            scores[~m[idx]] = -1e30
        out[idx] = _softmax(scores) @ v[batch]
    return out


def att_no_sqrt(q, k, v, mask=None):
    s = ops.matmul(q, k.swapaxes(-1, -2))
    if mask is not None:
        s = ops.masked_fill(s, ops.logical_not(mask), -1e9)
    return ops.matmul(ops.softmax(s, -1), v)


def _att(q, k, v, mask, scale=None, fill=None, axis=-1, after=None):
    s = ops.matmul(q, k.swapaxes(-1, -2)) / (math.sqrt(q.shape[-1]) if scale is None else scale(q, k, v))
    if mask is not None and fill is not None:
        s = fill(s, mask)
    w = ops.softmax(s, axis)
    if mask is not None and after is not None:
        w = after(w, mask)
    return ops.matmul(w, v)


ATTENTION_MISTAKES = [
    (att_no_sqrt, "√d_k"),
    (lambda q, k, v, mask=None: _att(q, k, v, mask, scale=lambda q, k, v: q.shape[-1],
                                     fill=lambda s, m: ops.masked_fill(s, ops.logical_not(m), -1e9)), "divided by d_k"),
    (lambda q, k, v, mask=None: _att(q, k, v, mask, scale=lambda q, k, v: math.sqrt(k.shape[-2]),
                                     fill=lambda s, m: ops.masked_fill(s, ops.logical_not(m), -1e9)), "number of keys"),
    (lambda q, k, v, mask=None: _att(q, k, v, mask, scale=lambda q, k, v: math.sqrt(v.shape[-1]),
                                     fill=lambda s, m: ops.masked_fill(s, ops.logical_not(m), -1e9)), "√d_v"),
    (lambda q, k, v, mask=None: _att(q, k, v, mask, after=lambda w, m: w * m.astype(ms.float32)), "after the softmax"),
    (lambda q, k, v, mask=None: _att(q, k, v, mask, fill=lambda s, m: ops.masked_fill(s, m, -1e9)), "inverted"),
    (lambda q, k, v, mask=None: _att(q, k, v, mask, fill=lambda s, m: s + m.astype(ms.float32)), "added to the scores"),
    (lambda q, k, v, mask=None: _att(q, k, v, mask, fill=lambda s, m: s + (1.0 - m.astype(ms.float32)) * 1e9),
     "wrong sign"),
    (lambda q, k, v, mask=None: _att(q, k, v, mask, axis=-2,
                                     fill=lambda s, m: ops.masked_fill(s, ops.logical_not(m), -1e9)), "over the queries"),
    (lambda q, k, v, mask=None: _att(q, k, v, None), "attention with a padding mask"),  # ignores the mask
    (lambda q, k, v, mask=None: ops.softmax(ops.matmul(q, k.swapaxes(-1, -2)) / math.sqrt(q.shape[-1]), -1),
     "shape of the attention weights"),
    (lambda q, k, v, mask=None: package_attention.scaled_dot_product_attention(
        q, k, v, None if mask is None else (1.0 - mask.astype(ms.float32)) * -1e9), "write it yourself"),
]


@pytest.mark.parametrize("answer,words", ATTENTION_MISTAKES)
def test_attention_rejects(answer, words):
    rejected_every_run(check.attention, answer, words)


def att_list_output(q, k, v, mask=None):
    s = ops.matmul(q / math.sqrt(q.shape[-1]), k.swapaxes(-1, -2))
    if mask is not None:
        s = s + (1.0 - mask.astype(ms.float32)) * -1e4
    return ops.matmul(ops.softmax(s, -1), v)


@pytest.mark.parametrize("answer", [att_numpy_float64, att_renormalise_after_softmax, att_list_output, att_loop])
def test_attention_accepts(answer):
    accepted_every_run(check.attention, answer)


# --- 4.2 causal mask ----------------------------------------------------------------------------------------
def _times_inf(x):
    with np.errstate(invalid="ignore"):
        return x * -np.inf  # 0 · -inf = nan wherever x is 0


def _zero_times_inf(t):
    return _times_inf(np.triu(np.ones((t, t)), k=1))


CAUSAL_MISTAKES = [
    (lambda t: np.triu(np.ones((t, t)), k=0) * -1e9, "diagonal"),
    (lambda t: np.tril(np.ones((t, t)), k=-1) * -1e9, "past is hidden"),
    (lambda t: np.tril(np.ones((t, t))), "0/1"),
    (lambda t: np.triu(np.ones((t, t)), k=1), "0/1"),  # 1 where hidden
    (lambda t: np.tril(np.ones((t, t), bool)), "boolean"),
    (lambda t: np.triu(np.ones((t, t)), k=1) * 1e9, "positive"),
    (lambda t: np.triu(np.ones((t, t)), k=2) * -1e9, "next position"),
    (_zero_times_inf, "nan"),  # 0 · -inf below the diagonal
    (lambda t: np.triu(np.ones((6, 6)), k=1) * -1e9, "shape"),  # hard-coded size
    (lambda t: (np.triu(np.ones((t, t)), k=1) * -1e9).ravel(), "shape"),
    (lambda t: np.triu(np.ones((t, t)), k=1) * -10.0, "hidden"),  # not negative enough
    (lambda t: package_attention.causal_mask(t), "write it yourself"),
]


@pytest.mark.parametrize("answer,words", CAUSAL_MISTAKES)
def test_causal_mask_rejects(answer, words):
    rejected_every_run(check.causal_mask, answer, words)


@pytest.mark.parametrize("answer", [
    lambda t: ms.Tensor(np.where(np.arange(t)[None, :] > np.arange(t)[:, None], -np.inf, 0.0)),  # -inf
    lambda t: [[0.0 if j <= i else -1e4 for j in range(t)] for i in range(t)],  # lists, the threshold itself
    lambda t: ops.triu(ops.ones((t, t), ms.float32), 1).reshape(1, 1, t, t) * float(np.finfo(np.float32).min),
    lambda t: np.where(np.tril(np.ones((t, t), bool)), 0.0, -6e4).astype(np.float16)[None],  # float16's large negative
])
def test_causal_mask_accepts(answer):
    accepted_every_run(check.causal_mask, answer)


# --- 4.3 padding mask ---------------------------------------------------------------------------------------
def _pm(keep, fn):
    k = keep.asnumpy().astype(np.float64)
    return fn(k)


PADDING_MISTAKES = [
    (lambda keep: _pm(keep, lambda k: (1 - k) * -1e9), "[B, 1, 1, T]"),
    (lambda keep: _pm(keep, lambda k: ((1 - k) * -1e9)[:, None, :]), "[B, 1, 1, T]"),
    (lambda keep: _pm(keep, lambda k: ((1 - k) * -1e9)[:, None, :, None]), "last axis"),
    (lambda keep: _pm(keep, lambda k: (k * -1e9)[:, None, None, :]), "inverted"),
    (lambda keep: _pm(keep, lambda k: k[:, None, None, :]), "0/1"),
    (lambda keep: _pm(keep, lambda k: (k == 1)[:, None, None, :]), "boolean"),
    (lambda keep: _pm(keep, lambda k: ((1 - k) * 1e9)[:, None, None, :]), "positive"),
    (lambda keep: _pm(keep, lambda k: _times_inf(1 - k)[:, None, None, :]), "nan"),
    (lambda keep: _pm(keep, lambda k: np.where(np.arange(k.shape[1]) < k.shape[1] - 2, 0.0, -1e9)[None, None, None, :]
                      .repeat(k.shape[0], 0)), "should be"),  # assumes two [PAD] in every row
    (lambda keep: package_attention.padding_mask(keep), "write it yourself"),
]


@pytest.mark.parametrize("answer,words", PADDING_MISTAKES)
def test_padding_mask_rejects(answer, words):
    rejected_every_run(check.padding_mask, answer, words)


@pytest.mark.parametrize("answer", [
    lambda keep: ops.expand_dims(ops.expand_dims((keep.astype(ms.float32) - 1.0) * 1e9, 1), 1),
    lambda keep: np.where(keep.asnumpy() == 0, -np.inf, 0.0)[:, None, None, :],
    lambda keep: ms.Tensor([[[[0.0 if x else -1e4 for x in row]]] for row in keep.asnumpy().tolist()]),
])
def test_padding_mask_accepts(answer):
    accepted_every_run(check.padding_mask, answer)


# --- 4.4 positional encoding --------------------------------------------------------------------------------
def pe_right(max_len, d, pos_offset=0, exponent=lambda c, d: (c - c % 2) / d, base=10000.0, swap=False):
    pos = np.arange(pos_offset, max_len + pos_offset)[:, None]
    cols = np.arange(d)
    angle = pos / base ** exponent(cols, d)
    even = cols % 2 == 0
    return np.where(even != swap, np.sin(angle), np.cos(angle)).astype(np.float32)


def pe_halves(max_len, d):
    pos = np.arange(max_len)[:, None]
    w = 10000.0 ** -(np.arange(0, d, 2) / d)
    return np.concatenate([np.sin(pos * w), np.cos(pos * w[: d // 2])], axis=1)


def pe_pair_loop(max_len, d):  # leaves the last column of an odd d_model at 0
    pe = np.zeros((max_len, d))
    for i in range(d // 2):
        w = 10000.0 ** (-2 * i / d)
        pe[:, 2 * i] = np.sin(np.arange(max_len) * w)
        pe[:, 2 * i + 1] = np.cos(np.arange(max_len) * w)
    return pe


PE_MISTAKES = [
    (lambda n, d: pe_right(n, d, swap=True), "swapped"),
    (lambda n, d: pe_halves(n, d), "interleaves"),
    (lambda n, d: pe_right(n, d, exponent=lambda c, d: (c // 2) / d), "i/d_model"),
    (lambda n, d: pe_right(n, d, exponent=lambda c, d: c / d), "shares ONE frequency"),
    (lambda n, d: pe_right(n, d, pos_offset=1), "count from 0"),
    (lambda n, d: pe_right(n, d, base=1000.0), "base is 10000"),
    (lambda n, d: pe_right(n, d, exponent=lambda c, d: -(c - c % 2) / d), "MULTIPLIED"),
    (lambda n, d: np.sin(np.arange(n)[:, None] / 10000.0 ** ((np.arange(d) - np.arange(d) % 2) / d)), "cos, not sin"),
    (pe_pair_loop, "odd d_model"),
    (lambda n, d: pe_right(n, d).T, "transposed"),
    (lambda n, d: pe_right(37, d), "shape"),  # a hard-coded max_len
    (lambda n, d: positional.sinusoidal_table(n, d), "write it yourself"),
]


@pytest.mark.parametrize("answer,words", PE_MISTAKES)
def test_sinusoidal_pe_rejects(answer, words):
    rejected_every_run(check.sinusoidal_pe, answer, words)


def pe_mindspore_exp_log(max_len, d):
    pos = ops.arange(max_len, dtype=ms.float32).reshape(-1, 1)
    cols = ops.arange(d, dtype=ms.float32)
    angle = pos * ops.exp(-(cols - cols % 2) / d * math.log(10000.0))
    return ops.where((cols % 2) == 0, ops.sin(angle), ops.cos(angle))


def pe_elementwise(max_len, d):
    return [[math.sin(p / 10000 ** (2 * (j // 2) / d)) if j % 2 == 0 else math.cos(p / 10000 ** (2 * (j // 2) / d))
             for j in range(d)] for p in range(max_len)]


@pytest.mark.parametrize("answer", [pe_right, pe_mindspore_exp_log, pe_elementwise])
def test_sinusoidal_pe_accepts(answer):
    accepted_every_run(check.sinusoidal_pe, answer)


# --- 4.5 the learning-rate schedule ------------------------------------------------------------------------
def lr_right(step, peak, total, warmup):
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * max(0.0, 1.0 - (step - warmup) / (total - warmup))


LR_MISTAKES = [
    (lambda s, p, t, w: p * s / w if s < w else lr_right(s, p, t, w), "step + 1"),
    (lambda s, p, t, w: p * (s + 1) / w if s <= w else lr_right(s, p, t, w), "step < warmup_steps"),
    (lambda s, p, t, w: lr_right(s, p, t, w) if s < w else p * max(0.0, 1 - s / t), "end of the warm-up"),
    (lambda s, p, t, w: lr_right(s, p, t, w) if s < w else p * max(0.0, 1 - (s - w) / t), "total_steps - warmup_steps"),
    (lambda s, p, t, w: lr_right(s, p, t, w) if s < w else p * max(0.0, 1 - (s - w + 1) / (t - w)), "off by one"),
    (lambda s, p, t, w: lr_right(s, p, t, w) if s < w else p * (1 - (s - w) / (t - w)), "negative"),
    (lambda s, p, t, w: p if s < w else lr_right(s, p, t, w), "no warm-up"),
    (lambda s, p, t, w: 1e-4 * (s + 1) / w if s < w else lr_right(s, 1e-4, t, w), "expected"),  # hard-coded peak
    (lambda s, p, t, w: [lr_right(s, p, t, w)] * 2, "one number"),
    (lambda s, p, t, w: lr_at(s, p, t, w, "linear"), "write it yourself"),
]


@pytest.mark.parametrize("answer,words", LR_MISTAKES)
def test_linear_warmup_lr_rejects(answer, words):
    rejected_every_run(check.linear_warmup_lr, answer, words)


@pytest.mark.parametrize("answer", [
    lr_right,
    lambda s, p, t, w: ms.Tensor(min((s + 1) / w, np.clip((t - s) / (t - w), 0.0, 1.0)) * p, ms.float32),  # 0-d Tensor
    lambda s, p, t, w: np.float64(p * np.interp(s, [-1, w - 1, w, t], [0.0, 1.0, 1.0, 0.0])),
])
def test_linear_warmup_lr_accepts(answer):
    accepted_every_run(check.linear_warmup_lr, answer)
