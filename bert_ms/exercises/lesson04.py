"""Lesson 04 exercises (the Transformer): attention, the two masks, positional encoding, BERT's schedule.

Every check draws fresh random inputs, runs the learner's function and the ``bert_ms.transformer``
reference on them, and names the first mismatch. Where the wrong answer equals a typical mistake
(no ``sqrt(d_k)``, the mask applied after the softmax, a mask that hides the diagonal, sine and
cosine swapped, an off-by-one warm-up, ...), the message says which one.
"""

from __future__ import annotations

import math

import mindspore as ms
import numpy as np

from bert_ms.exercises import Mismatch, exercise, expect_close, to_numpy
from bert_ms.train.trainer import lr_at
from bert_ms.transformer import attention as _attention
from bert_ms.transformer import positional

__all__ = ["attention", "causal_mask", "padding_mask", "sinusoidal_pe", "linear_warmup_lr"]

BIG_NEGATIVE = -1e4  # an additive mask entry counts as "hidden" at or below this value


def _first(out):
    """The learner may return ``output`` or ``(output, weights)``."""
    return out[0] if isinstance(out, tuple | list) else out


def _softmax(s: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(s - s.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _np_attention(q, k, v, allowed=None, scale=None, variant="right"):
    """Eq. (1) in float64, and the typical wrong versions of it (``variant``)."""
    d_k = q.shape[-1]
    scale = math.sqrt(d_k) if scale is None else scale
    scores = q @ np.swapaxes(k, -1, -2) / scale
    if allowed is not None and variant == "inverted":
        allowed = ~allowed
    if allowed is not None and variant not in ("after", "after_add"):
        scores = np.where(allowed, scores, -1e9)
    w = _softmax(scores, -2 if variant == "axis" else -1)
    if allowed is not None and variant == "after":
        w = w * allowed
    if allowed is not None and variant == "after_add":
        w = w + np.where(allowed, 0.0, -1e9)
    return w @ v


_ATTENTION_MISTAKES = [
    (dict(scale=1.0), "the scores were not divided by √d_k (eq. 1: softmax(QKᵀ/√d_k)V)."),
    ("d_k", "the scores were divided by d_k; divide by √d_k (math.sqrt(q.shape[-1]))."),
    (dict(variant="after"), "the mask was applied after the softmax: the hidden weights were zeroed but the row no "
                            "longer sums to 1. Hide the scores BEFORE the softmax (where not allowed: -1e9)."),
    (dict(variant="after_add"), "the mask was added after the softmax; add -1e9 to the scores BEFORE the softmax."),
    (dict(variant="inverted"), "the mask is inverted: True means 'may attend', so hide where the mask is False."),
    (dict(variant="axis"), "the softmax ran over the queries; it must run over the keys (the last axis)."),
]


@exercise("Exercise 4.1 · scaled dot-product attention")
def attention(fn):
    """``fn(q, k, v, mask=None) -> output`` (or ``(output, weights)``), eq. (1).

    ``q`` [..., Tq, d_k], ``k`` [..., Tk, d_k], ``v`` [..., Tk, d_v] float32 Tensors; ``mask`` is None or a
    **boolean** Tensor broadcastable to [..., Tq, Tk], True where a query may attend to a key."""
    rng = np.random.default_rng()
    b, tq, tk, d_k, d_v = 2, int(rng.integers(3, 6)), int(rng.integers(5, 8)), 16, int(rng.integers(3, 6))
    lengths = rng.integers(2, tk, size=b)
    t_self = int(rng.integers(4, 7))
    cases = [
        ("without a mask", (b, tq, tk), None),
        ("with a padding mask (keys past each length hidden)", (b, tq, tk),
         (np.arange(tk)[None, None, :] < lengths[:, None, None])),  # [B, 1, Tk]
        ("with a causal mask (self-attention)", (b, t_self, t_self), np.tril(np.ones((t_self, t_self), bool))),
    ]
    for what, (nb, nq, nk), allowed in cases:
        q = rng.normal(size=(nb, nq, d_k)).astype(np.float32)
        k = q if allowed is not None and allowed.ndim == 2 else rng.normal(size=(nb, nk, d_k)).astype(np.float32)
        v = rng.normal(size=(nb, nk, d_v)).astype(np.float32)
        mask = None if allowed is None else ms.Tensor(allowed)
        additive = None if allowed is None else ms.Tensor(np.where(allowed, 0.0, _attention.NEG_INF).astype(np.float32))
        expected, _ = _attention.scaled_dot_product_attention(ms.Tensor(q), ms.Tensor(k), ms.Tensor(v), additive)
        got = to_numpy(_first(fn(ms.Tensor(q), ms.Tensor(k), ms.Tensor(v), mask)))
        if got.shape == (nb, nq, nk) and nk != d_v:
            raise Mismatch(f"attention {what}: expected the output [B, Tq, d_v] = {expected.shape}, got {got.shape}, "
                           "the shape of the attention weights. Return weights @ v (eq. 1 ends with ·V).")
        try:
            expect_close(got, expected, f"attention {what}", atol=1e-4, rtol=1e-4)
        except Mismatch:
            if got.shape == expected.shape:
                q64, k64, v64 = q.astype(np.float64), k.astype(np.float64), v.astype(np.float64)
                for kwargs, words in _ATTENTION_MISTAKES:
                    kw = dict(scale=d_k) if kwargs == "d_k" else kwargs
                    if allowed is None and kw.get("variant") in ("after", "after_add", "inverted"):
                        continue
                    wrong = _np_attention(q64, k64, v64, allowed, **kw)
                    if np.allclose(got, wrong, atol=1e-3, rtol=1e-3, equal_nan=True):
                        raise Mismatch(f"attention {what}: {words}") from None
            raise


def _as_square(got, t: int, what: str) -> np.ndarray:
    m = to_numpy(got)
    if m.size != t * t or (m.ndim >= 2 and m.shape[-2:] != (t, t)):
        raise Mismatch(f"{what}: expected shape ({t}, {t}) (or [1, 1, {t}, {t}]), got {m.shape}.")
    return m.reshape(t, t)


def _zero_one_hint(m: np.ndarray) -> str | None:
    if m.dtype == np.bool_ or np.isin(m.astype(np.float64), (0.0, 1.0)).all():
        return ("this looks like a 0/1 (keep) mask. Attention ADDS the mask to the scores, so it must be 0 where "
                "attention is allowed and a large negative number (e.g. -1e9) where it is not.")
    return None


def _check_additive(m: np.ndarray, allowed: np.ndarray, what: str) -> None:
    m = m.astype(np.float64)
    if np.isnan(m).any():
        idx = tuple(int(i) for i in np.argwhere(np.isnan(m))[0])
        raise Mismatch(f"{what}: entry {idx} is nan (0 × -inf is nan). Build the mask with np.where(hidden, -1e9, 0.0) "
                       "or multiply by a finite -1e9.")
    hidden = m <= BIG_NEGATIVE
    open_ = np.isclose(m, 0.0, atol=1e-6)
    bad = ~((allowed & open_) | (~allowed & hidden))
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        want = "0 (allowed)" if allowed[idx] else f"≤ {BIG_NEGATIVE:g} (hidden)"
        raise Mismatch(f"{what}: entry {idx} should be {want}, got {m[idx]:g}.")


@exercise("Exercise 4.2 · the causal mask")
def causal_mask(fn):
    """``fn(T) -> mask``: the additive causal mask (sec. 3.2.3), shape [T, T] or [1, 1, T, T]: 0 where
    query i may attend to key j (j <= i), a large negative number (e.g. -1e9) where j > i."""
    rng = np.random.default_rng()
    for t in (int(rng.integers(3, 6)), int(rng.integers(6, 10)), 1):
        m = _as_square(fn(t), t, f"causal_mask({t})")
        allowed = np.tril(np.ones((t, t), bool))
        hint = _zero_one_hint(m)
        if hint and t > 1:
            raise Mismatch(f"causal_mask({t}): {hint}")
        hidden = m.astype(np.float64) <= BIG_NEGATIVE
        if t > 1 and hidden.any() and not np.isnan(m.astype(np.float64)).any():
            if np.array_equal(hidden, ~np.triu(np.ones((t, t), bool))):
                raise Mismatch(f"causal_mask({t}): the past is hidden instead of the future; query i may attend to "
                               "keys j <= i (the lower triangle stays 0, use np.triu(..., k=1) for the hidden part).")
            if np.array_equal(hidden, np.triu(np.ones((t, t), bool))):
                raise Mismatch(f"causal_mask({t}): the diagonal is hidden, but position i must be allowed to attend "
                               "to itself: hide only j > i (np.triu(..., k=1)).")
        _check_additive(m, allowed, f"causal_mask({t})")


@exercise("Exercise 4.3 · the padding mask")
def padding_mask(fn):
    """``fn(keep) -> mask``: ``keep`` is an int32 Tensor [B, T] (1 = real token, 0 = [PAD]); return the
    additive mask of shape [B, 1, 1, T] (0 for real tokens, a large negative number for [PAD])."""
    rng = np.random.default_rng()
    b, t = int(rng.integers(2, 5)), int(rng.integers(5, 9))
    lengths = rng.integers(1, t + 1, size=b)
    lengths[0] = t - 2  # at least one sequence is padded
    keep = (np.arange(t)[None, :] < lengths[:, None]).astype(np.int32)
    m = to_numpy(fn(ms.Tensor(keep)))
    expected = to_numpy(_attention.padding_mask(ms.Tensor(keep)))
    if m.shape != expected.shape:
        if m.size == keep.size:
            raise Mismatch(f"padding_mask: expected shape {expected.shape} = [B, 1, 1, T], got {m.shape}. The scores "
                           "are [B, heads, Tq, Tk]: the mask needs axes of size 1 for heads and queries, or it "
                           "broadcasts against the wrong axes (reshape to (B, 1, 1, T)).")
        raise Mismatch(f"padding_mask: expected shape {expected.shape} = [B, 1, 1, T], got {m.shape}.")
    hint = _zero_one_hint(m)
    if hint:
        raise Mismatch(f"padding_mask: {hint}")
    allowed = keep.astype(bool).reshape(expected.shape)
    hidden = m.astype(np.float64) <= BIG_NEGATIVE
    if np.array_equal(hidden, allowed):
        raise Mismatch("padding_mask: the mask is inverted: it hides the real tokens (keep == 1) and lets [PAD] "
                       "through. Hide where keep == 0.")
    _check_additive(m, allowed, "padding_mask")


def _pe_variants(max_len: int, d: int) -> list[tuple[np.ndarray, str]]:
    pos = np.arange(max_len, dtype=np.float64)[:, None]
    w = 1.0 / 10000 ** (np.arange(0, d, 2) / d)
    swapped = np.zeros((max_len, d))
    swapped[:, 0::2], swapped[:, 1::2] = np.cos(pos * w), np.sin(pos * w)
    per_column = 1.0 / 10000 ** (np.arange(d) / d)  # exponent j/d for column j instead of 2i/d for the pair
    by_column = np.zeros((max_len, d))
    by_column[:, 0::2], by_column[:, 1::2] = np.sin(pos * per_column[0::2]), np.cos(pos * per_column[1::2])
    halves = np.concatenate([np.sin(pos * w), np.cos(pos * w)], axis=1)
    base_d = np.zeros((max_len, d))
    w_i = 1.0 / 10000 ** (np.arange(d // 2) / d)  # i/d instead of 2i/d
    base_d[:, 0::2], base_d[:, 1::2] = np.sin(pos * w_i), np.cos(pos * w_i)
    return [
        (swapped, "sine and cosine are swapped: even columns 2i are sin, odd columns 2i+1 are cos (sec. 3.5)."),
        (by_column, "each column got its own frequency 10000^(j/d); the pair (2i, 2i+1) shares ONE frequency "
                    "10000^(2i/d_model)."),
        (halves, "all sines first, then all cosines (the tensor2tensor layout); the paper interleaves them: "
                 "column 2i is sin, column 2i+1 is cos."),
        (base_d, "the exponent is i/d_model; it must be 2i/d_model (i indexes the pair of columns)."),
    ]


@exercise("Exercise 4.4 · sinusoidal positional encoding")
def sinusoidal_pe(fn):
    """``fn(max_len, d_model) -> table [max_len, d_model]`` with PE[pos, 2i] = sin(pos / 10000^(2i/d_model)) and
    PE[pos, 2i+1] = cos(pos / 10000^(2i/d_model)) (sec. 3.5)."""
    rng = np.random.default_rng()
    max_len, d = int(rng.integers(20, 60)), int(rng.choice([8, 16, 32]))
    got = to_numpy(fn(max_len, d))
    expected = positional.sinusoidal_table(max_len, d)
    try:
        expect_close(got, expected, f"PE table ({max_len}, {d})", atol=1e-4, rtol=1e-4)
    except Mismatch:
        if got.shape == expected.shape:
            for wrong, words in _pe_variants(max_len, d):
                if np.allclose(got, wrong, atol=1e-4):
                    raise Mismatch(f"PE table ({max_len}, {d}): {words}") from None
        raise


def _linear_variants(step: int, peak: float, total: int, warmup: int) -> list[tuple[float, str]]:
    off_by_one = peak * step / warmup if step < warmup else lr_at(step, peak, total, warmup)
    over_total = (peak * (step + 1) / warmup if step < warmup else peak * max(1.0 - step / total, 0.0))
    unclamped = (peak * (step + 1) / warmup if step < warmup
                 else peak * (1.0 - (step - warmup) / max(total - warmup, 1)))
    return [
        (off_by_one, "steps are counted from 0 and step 0 must already train: during the warm-up the rate is "
                     "peak · (step + 1) / warmup_steps."),
        (over_total, "the decay must run from the end of the warm-up to total_steps: "
                     "t = (step - warmup_steps) / (total_steps - warmup_steps), rate = peak · (1 - t)."),
        (unclamped, "past total_steps the rate must stay at 0, not turn negative (clip t to [0, 1])."),
    ]


@exercise("Exercise 4.5 · BERT's learning-rate schedule")
def linear_warmup_lr(fn):
    """``fn(step, peak_lr, total_steps, warmup_steps) -> float`` for 0-based ``step``: linear warm-up
    ``peak · (step + 1) / warmup_steps`` while ``step < warmup_steps``, then linear decay to 0 at
    ``total_steps`` (BERT, Devlin et al. 2019 appendix A.2), staying at 0 afterwards. The reference is
    ``bert_ms.train.trainer.lr_at(..., decay="linear")``."""
    rng = np.random.default_rng()
    peak, warmup = float(rng.choice([1e-4, 5e-5, 3e-4])), int(rng.integers(5, 50))
    total = warmup + int(rng.integers(20, 200))
    steps = [0, int(rng.integers(1, warmup)), warmup - 1, warmup, int(rng.integers(warmup + 1, total)), total - 1,
             total, total + int(rng.integers(1, 50))]
    for step in steps:
        got = float(to_numpy(fn(step, peak, total, warmup)))
        want = lr_at(step, peak, total, warmup, "linear")
        if math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-12):
            continue
        where = f"step {step} (peak_lr={peak:g}, total_steps={total}, warmup_steps={warmup})"
        for wrong, words in _linear_variants(step, peak, total, warmup):
            if math.isclose(got, wrong, rel_tol=1e-6, abs_tol=1e-12):
                raise Mismatch(f"{where}: expected {want:.6g}, got {got:.6g}: {words}")
        raise Mismatch(f"{where}: expected {want:.6g}, got {got:.6g}.")
