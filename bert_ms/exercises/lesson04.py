"""Lesson 04 exercises (the Transformer): attention, the two masks, positional encoding, BERT's schedule.

Every check draws fresh random inputs (sizes included), computes the exact answer in float64 NumPy, runs
the learner's function and names the first mismatch. Where the wrong answer equals a typical mistake (no
``sqrt(d_k)``, the mask applied after the softmax or with the wrong sign, a softmax over the queries, a
mask that hides the diagonal, sine and cosine swapped, the exponent ``i/d`` instead of ``2i/d``, an
off-by-one warm-up, a decay over ``total`` instead of ``total - warmup``, ...), the message says which one.
The package's own versions (``bert_ms.transformer.attention``, ``bert_ms.transformer.positional``,
``bert_ms.train.trainer.lr_at``) are the answers, so an answer that calls them fails.
"""

from __future__ import annotations

import math

import mindspore as ms
import numpy as np

from bert_ms.exercises import Mismatch, exercise, expect_close, to_numpy

__all__ = ["attention", "causal_mask", "padding_mask", "sinusoidal_pe", "linear_warmup_lr"]

BIG_NEGATIVE = -1e4  # an additive mask entry counts as "hidden" at or below this value (exp(-1e4) == 0 in float32)
HIDE = -1e9


def _first(out):
    """The learner may return ``output`` or ``(output, weights)``."""
    return out[0] if isinstance(out, tuple | list) and len(out) == 2 else out


def _softmax(s: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(s - s.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _np_attention(q, k, v, allowed=None, scale=None, variant="right"):
    """Eq. (1) in float64, and the typical wrong versions of it (``variant``)."""
    scale = math.sqrt(q.shape[-1]) if scale is None else scale
    scores = q @ np.swapaxes(k, -1, -2) / scale
    if allowed is not None:
        allowed = np.broadcast_to(allowed, scores.shape)
        if variant == "inverted":
            scores = np.where(allowed, HIDE, scores)
        elif variant == "added_bool":
            scores = scores + allowed
        elif variant == "plus_big":
            scores = np.where(allowed, scores, -HIDE)
        elif variant not in ("after", "after_add"):
            scores = np.where(allowed, scores, HIDE)
    w = _softmax(scores, -2 if variant == "axis" else -1)
    if allowed is not None and variant == "after":
        w = w * allowed
    if allowed is not None and variant == "after_add":
        w = w + np.where(allowed, 0.0, HIDE)
    return w @ v


_ATTENTION_MISTAKES = [
    (dict(scale=1.0), "the scores were not divided by √d_k (eq. 1: softmax(QKᵀ/√d_k)V)."),
    ("d_k", "the scores were divided by d_k; divide by √d_k (math.sqrt(q.shape[-1]))."),
    ("t_k", "the scores were divided by √T_k (the number of keys); d_k is the LAST axis of q and k."),
    ("d_v", "the scores were divided by √d_v (v's last axis); d_k is the last axis of q and k."),
    (dict(variant="after"), "the mask was applied after the softmax: the hidden weights were zeroed but the row no "
                            "longer sums to 1. Hide the scores BEFORE the softmax (where not allowed: -1e9)."),
    (dict(variant="after_add"), "the mask was added after the softmax; hide the scores BEFORE the softmax."),
    (dict(variant="inverted"), "the mask is inverted: True means 'may attend', so hide the scores where the mask "
                               "is False (e.g. ops.masked_fill(scores, ops.logical_not(mask), -1e9))."),
    (dict(variant="added_bool"), "the boolean mask was added to the scores as 0/1; a boolean mask selects: fill the "
                                 "scores with -1e9 where it is False (an ADDITIVE mask would be 0 / -1e9)."),
    (dict(variant="plus_big"), "the hidden scores got +1e9 instead of -1e9 (the wrong sign): they take all the "
                               "weight instead of none."),
    (dict(variant="axis"), "the softmax ran over the queries; it must run over the keys (the last axis)."),
]


def _attention_cases(rng: np.random.Generator):
    """(what, q, k, v, allowed or None): sizes drawn so that d_k, d_v, T_q and T_k all differ."""
    d_k, d_v = int(rng.choice([12, 16, 24])), int(rng.integers(2, 4))  # d_v < every T_k: outputs and weights differ in shape
    b, tq, tk = 2, int(rng.integers(2, 5)), int(rng.integers(5, 10))

    def normal(*shape):
        return rng.normal(size=shape).astype(np.float32)

    lengths = np.array([1, int(rng.integers(2, tk)), tk])[rng.permutation(3)]  # one key only, some, none hidden
    t = int(rng.integers(4, 8))
    h = int(rng.integers(2, 4))
    lengths4 = np.array([int(rng.integers(1, tk)), tk])
    return [
        ("without a mask", normal(b, tq, d_k), normal(b, tk, d_k), normal(b, tk, d_v), None),
        ("with a padding mask [B, 1, T_k] (keys past each length hidden)", normal(3, tq, d_k), normal(3, tk, d_k),
         normal(3, tk, d_v), np.arange(tk)[None, None, :] < lengths[:, None, None]),
        ("with a causal mask [T, T] (self-attention: q = k)", *(lambda x: (x, x))(normal(b, t, d_k)),
         normal(b, t, d_v), np.tril(np.ones((t, t), bool))),
        (f"with {h} heads, q [B, h, T_q, d_k] and a padding mask [B, 1, 1, T_k]", normal(2, h, tq, d_k),
         normal(2, h, tk, d_k), normal(2, h, tk, d_v), np.arange(tk)[None, None, None, :] < lengths4[:, None, None, None]),
    ]


@exercise("Exercise 4.1 · scaled dot-product attention", time_limit=20,
          forbid=("bert_ms.transformer.attention:scaled_dot_product_attention",
                  "bert_ms.transformer.attention:MultiHeadAttention", "mindspore.nn:MultiheadAttention"))
def attention(fn):
    """``fn(q, k, v, mask=None) -> output`` (or ``(output, weights)``), eq. (1).

    ``q`` [..., Tq, d_k], ``k`` [..., Tk, d_k], ``v`` [..., Tk, d_v] float32 Tensors; ``mask`` is None or a
    **boolean** Tensor broadcastable to [..., Tq, Tk], True where a query may attend to a key."""
    rng = np.random.default_rng()
    for what, q, k, v, allowed in _attention_cases(rng):
        q64, k64, v64 = q.astype(np.float64), k.astype(np.float64), v.astype(np.float64)
        expected = _np_attention(q64, k64, v64, allowed)
        mask = None if allowed is None else ms.Tensor(allowed)
        got = _first(fn(ms.Tensor(q), ms.Tensor(k), ms.Tensor(v), mask))
        got_np = to_numpy(got) if hasattr(got, "asnumpy") or isinstance(got, np.ndarray) else got
        weights_shape = (*q.shape[:-1], k.shape[-2])
        if getattr(got_np, "shape", None) == weights_shape != expected.shape:
            raise Mismatch(f"attention {what}: expected the output [..., T_q, d_v] = {expected.shape}, got "
                           f"{weights_shape}, the shape of the attention weights. Return weights @ v (eq. 1 ends "
                           "with ·V).")
        try:
            expect_close(got_np, expected, f"attention {what}", atol=1e-4, rtol=1e-4)
        except Mismatch:
            g = np.asarray(got_np, dtype=np.float64) if getattr(got_np, "shape", None) == expected.shape else None
            if g is not None:
                sizes = {"d_k": q.shape[-1], "t_k": math.sqrt(k.shape[-2]), "d_v": math.sqrt(v.shape[-1])}
                for kwargs, words in _ATTENTION_MISTAKES:
                    kw = dict(scale=sizes[kwargs]) if isinstance(kwargs, str) else kwargs
                    if allowed is None and "variant" in kw and kw["variant"] != "axis":
                        continue
                    with np.errstate(all="ignore"):
                        wrong = _np_attention(q64, k64, v64, allowed, **kw)
                    if np.allclose(g, wrong, atol=1e-3, rtol=1e-3, equal_nan=True):
                        raise Mismatch(f"attention {what}: {words}") from None
            raise


def _as_square(got, t: int, what: str) -> np.ndarray:
    m = to_numpy(got)
    if m.dtype == object:
        raise Mismatch(f"{what}: expected an array of numbers, got {type(got).__name__}.")
    if m.ndim < 2 or m.shape[-2:] != (t, t) or m.size != t * t:
        raise Mismatch(f"{what}: expected shape ({t}, {t}) (or [1, 1, {t}, {t}]), got {m.shape}.")
    return m.reshape(t, t)


def _zero_one_hint(m: np.ndarray) -> str | None:
    if m.dtype == np.bool_ or np.isin(m.astype(np.float64), (0.0, 1.0)).all():
        return ("this looks like a 0/1 (keep) or boolean mask. Attention ADDS this mask to the scores, so it must be 0 "
                "where attention is allowed and a large negative number (e.g. -1e9 or -inf) where it is not.")
    return None


def _check_additive(m: np.ndarray, allowed: np.ndarray, what: str) -> None:
    if not np.issubdtype(m.dtype, np.number):
        raise Mismatch(f"{what}: expected numbers, got an array of {m.dtype}.")
    m = m.astype(np.float64)
    if np.isnan(m).any():
        idx = tuple(int(i) for i in np.argwhere(np.isnan(m))[0])
        raise Mismatch(f"{what}: entry {idx} is nan (0 × -inf is nan). Build the mask with np.where(hidden, -1e9, 0.0) "
                       "or multiply by a finite -1e9.")
    if (m >= -BIG_NEGATIVE).any():
        idx = tuple(int(i) for i in np.argwhere(m >= -BIG_NEGATIVE)[0])
        raise Mismatch(f"{what}: entry {idx} is {m[idx]:g}, a large POSITIVE number: hidden entries must be very "
                       "negative (e.g. -1e9), so that exp(score + mask) = 0.")
    hidden = m <= BIG_NEGATIVE
    open_ = m == 0.0
    bad = ~((allowed & open_) | (~allowed & hidden))
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        want = "0 (allowed)" if allowed[idx] else f"≤ {BIG_NEGATIVE:g} (hidden)"
        raise Mismatch(f"{what}: entry {idx} should be {want}, got {m[idx]:g}.")


@exercise("Exercise 4.2 · the causal mask", time_limit=10,
          forbid=("bert_ms.transformer.attention:causal_mask",))
def causal_mask(fn):
    """``fn(T) -> mask``: the additive causal mask (sec. 3.2.3), shape [T, T] (or [1, 1, T, T]): 0 where query i
    may attend to key j (j <= i), a large negative number (-1e9, -inf, anything <= -1e4) where j > i."""
    rng = np.random.default_rng()
    for t in (int(rng.integers(3, 6)), int(rng.integers(6, 13)), 1, 2):
        what = f"causal_mask({t})"
        m = _as_square(fn(t), t, what)
        allowed = np.tril(np.ones((t, t), bool))
        hint = _zero_one_hint(m)
        if hint and t > 1:
            raise Mismatch(f"{what}: {hint}")
        if np.issubdtype(m.dtype, np.number) and t > 1:
            m64 = m.astype(np.float64)
            hidden = m64 <= BIG_NEGATIVE
            if not np.isnan(m64).any() and hidden.any():
                if np.array_equal(hidden, np.tril(np.ones((t, t), bool), k=-1)):
                    raise Mismatch(f"{what}: the past is hidden instead of the future; query i may attend to "
                                   "keys j <= i (the lower triangle stays 0, use np.triu(..., k=1) for the hidden part).")
                if np.array_equal(hidden, np.triu(np.ones((t, t), bool))):
                    raise Mismatch(f"{what}: the diagonal is hidden, but position i must be allowed to attend "
                                   "to itself: hide only j > i (np.triu(..., k=1)).")
                if t > 2 and np.array_equal(hidden, np.triu(np.ones((t, t), bool), k=2)):
                    raise Mismatch(f"{what}: key j = i + 1 (the next position) is visible: hide every j > i "
                                   "(np.triu(..., k=1), not k=2).")
        _check_additive(m, allowed, what)


@exercise("Exercise 4.3 · the padding mask", time_limit=10,
          forbid=("bert_ms.transformer.attention:padding_mask",))
def padding_mask(fn):
    """``fn(keep) -> mask``: ``keep`` is an int32 Tensor [B, T] (1 = real token, 0 = [PAD]); return the
    additive mask of shape [B, 1, 1, T] (0 for real tokens, a large negative number for [PAD])."""
    rng = np.random.default_rng()
    for _ in range(2):
        b, t = int(rng.integers(3, 6)), int(rng.integers(5, 10))
        lengths = rng.integers(1, t + 1, size=b)
        lengths[:3] = [t - int(rng.integers(1, t - 1)), t, 1]  # padded, not padded at all, one real token
        lengths = lengths[rng.permutation(b)]
        keep = (np.arange(t)[None, :] < lengths[:, None]).astype(np.int32)
        what = f"padding_mask(keep) for lengths {lengths.tolist()}, T = {t}"
        m = to_numpy(fn(ms.Tensor(keep)))
        if m.dtype == object:
            raise Mismatch(f"{what}: expected an array or a Tensor of numbers, got {m.dtype}.")
        shape = (b, 1, 1, t)
        if m.shape != shape:
            if m.shape == (b, 1, t, 1):
                raise Mismatch(f"{what}: expected shape {shape} = [B, 1, 1, T], got {m.shape}: the positions must be "
                               "on the LAST axis, the keys' axis of the scores [B, heads, T_q, T_k].")
            if m.size == keep.size:
                raise Mismatch(f"{what}: expected shape {shape} = [B, 1, 1, T], got {m.shape}. The scores are "
                               "[B, heads, Tq, Tk]: the mask needs axes of size 1 for heads and queries, or it "
                               "broadcasts against the wrong axes (reshape to (B, 1, 1, T)).")
            raise Mismatch(f"{what}: expected shape {shape} = [B, 1, 1, T], got {m.shape}.")
        hint = _zero_one_hint(m)
        if hint:
            raise Mismatch(f"{what}: {hint}")
        allowed = keep.astype(bool).reshape(shape)
        if np.issubdtype(m.dtype, np.number) and np.array_equal(m.astype(np.float64) <= BIG_NEGATIVE, allowed):
            raise Mismatch(f"{what}: the mask is inverted: it hides the real tokens (keep == 1) and lets [PAD] "
                           "through. Hide where keep == 0.")
        _check_additive(m, allowed, what)


def _pe_reference(max_len: int, d: int, base: float = 10000.0, exponent: str = "2i", offset: int = 0,
                  multiply: bool = False) -> np.ndarray:
    pos = np.arange(offset, max_len + offset, dtype=np.float64)[:, None]
    cols = np.arange(d)
    if exponent == "2i":
        expo = (cols - cols % 2) / d  # the pair (2i, 2i+1) shares 2i/d
    elif exponent == "i":
        expo = (cols // 2) / d
    else:  # "j": every column its own exponent
        expo = cols / d
    freq = base ** expo if multiply else base ** -expo
    angle = pos * freq
    return np.where(cols % 2 == 0, np.sin(angle), np.cos(angle))


def _pe_variants(max_len: int, d: int, right: np.ndarray) -> list[tuple[np.ndarray, str]]:
    pos = np.arange(max_len, dtype=np.float64)[:, None]
    w = 10000.0 ** -(np.arange(0, d, 2) / d)
    swapped = np.zeros((max_len, d))
    swapped[:, 0::2] = np.cos(pos * w)
    swapped[:, 1::2] = np.sin(pos * w[: d // 2])
    halves = np.concatenate([np.sin(pos * w), np.cos(pos * w[: d // 2])], axis=1)
    all_sin = np.sin(pos * w.repeat(2)[:d])
    last_zero = right.copy()
    last_zero[:, -1] = 0.0
    return [
        (swapped, "sine and cosine are swapped: even columns 2i are sin, odd columns 2i+1 are cos (sec. 3.5)."),
        (_pe_reference(max_len, d, exponent="j"), "each column got its own frequency 10000^(j/d); the pair "
                                                  "(2i, 2i+1) shares ONE frequency 10000^(2i/d_model)."),
        (halves, "all sines first, then all cosines (the tensor2tensor layout); the paper interleaves them: "
                 "column 2i is sin, column 2i+1 is cos."),
        (_pe_reference(max_len, d, exponent="i"), "the exponent is i/d_model; it must be 2i/d_model (i indexes the "
                                                  "pair of columns, so column 2i uses 2i/d_model)."),
        (_pe_reference(max_len, d, offset=1), "positions count from 0: the first row is PE[0] = (0, 1, 0, 1, ...)."),
        (_pe_reference(max_len, d, multiply=True), "pos was MULTIPLIED by 10000^(2i/d_model); it is divided: "
                                                   "sin(pos / 10000^(2i/d_model))."),
        (_pe_reference(max_len, d, base=1000.0), "the base is 10000, not 1000."),
        (all_sin, "the odd columns 2i+1 are cos, not sin."),
        (last_zero, f"for an odd d_model ({d}) the last column {d - 1} is even, so it is a sine: "
                    f"sin(pos / 10000^({d - 1}/{d})), not left at 0."),
    ]


@exercise("Exercise 4.4 · sinusoidal positional encoding", time_limit=10,
          forbid=("bert_ms.transformer.positional:sinusoidal_table",
                  "bert_ms.transformer.positional:SinusoidalPositionalEncoding"))
def sinusoidal_pe(fn):
    """``fn(max_len, d_model) -> table [max_len, d_model]`` with PE[pos, 2i] = sin(pos / 10000^(2i/d_model)) and
    PE[pos, 2i+1] = cos(pos / 10000^(2i/d_model)) (sec. 3.5); for an odd d_model the last column is a sine."""
    rng = np.random.default_rng()
    cases = [(int(rng.integers(20, 120)), int(rng.choice([8, 16, 32, 64]))),
             (int(rng.integers(10, 60)), int(rng.choice([5, 7, 9, 11, 13]))),
             (1, int(rng.choice([4, 6])))]
    for max_len, d in cases:
        what = f"PE table for max_len={max_len}, d_model={d}"
        got = fn(max_len, d)
        expected = _pe_reference(max_len, d)
        try:
            expect_close(got, expected, what, atol=1e-4, rtol=1e-4)
        except Mismatch:
            g = to_numpy(got)
            if g.shape == expected.shape[::-1] and np.issubdtype(g.dtype, np.number) and np.allclose(
                    g, expected.T, atol=1e-4):  # also when max_len == d_model, where the shape cannot tell
                raise Mismatch(f"{what}: expected [max_len, d_model] with one ROW per position; your table is the "
                               "right one transposed (one column per position).") from None
            if g.shape == expected.shape and np.issubdtype(g.dtype, np.number):
                for wrong, words in _pe_variants(max_len, d, expected):
                    if wrong.shape == g.shape and np.allclose(g, wrong, atol=1e-4):
                        raise Mismatch(f"{what}: {words}") from None
            elif g.shape == expected.shape[::-1]:
                raise Mismatch(f"{what}: expected shape {expected.shape} = [max_len, d_model], got {g.shape}: "
                               "transposed (one ROW per position).") from None
            raise


def _reference_lr(step: int, peak: float, total: int, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * (1.0 - min((step - warmup) / (total - warmup), 1.0))


def _linear_variants(step: int, peak: float, total: int, warmup: int) -> list[tuple[float, str]]:
    right = _reference_lr(step, peak, total, warmup)
    decay = (lambda t: peak * (1.0 - t))
    return [
        (peak * step / warmup if step < warmup else right,
         "steps are counted from 0 and step 0 must already train: during the warm-up the rate is "
         "peak · (step + 1) / warmup_steps."),
        (peak * (step + 1) / warmup if step <= warmup else right,
         "the warm-up covers steps 0 .. warmup_steps - 1 (step < warmup_steps); at step == warmup_steps the decay "
         "has begun, at peak_lr."),
        (right if step < warmup else peak * max(1.0 - step / total, 0.0),
         "the decay must run from the end of the warm-up to total_steps: t = (step - warmup_steps) / "
         "(total_steps - warmup_steps), rate = peak · (1 - t) (it must not jump down after the warm-up)."),
        (right if step < warmup else peak * max(1.0 - (step - warmup) / total, 0.0),
         "divide by the length of the decay, total_steps - warmup_steps, not by total_steps."),
        (right if step < warmup else decay(min((step - warmup + 1) / (total - warmup), 1.0)),
         "the decay starts at peak_lr: step == warmup_steps gets peak_lr, t = (step - warmup_steps) / "
         "(total_steps - warmup_steps) (off by one)."),
        (right if step < warmup else decay((step - warmup) / (total - warmup)),
         "past total_steps the rate must stay at 0, not turn negative (clip t to at most 1)."),
        (peak if step < warmup else right, "there is no warm-up: the rate must rise linearly from "
                                           "peak / warmup_steps at step 0 to peak_lr."),
    ]


@exercise("Exercise 4.5 · BERT's learning-rate schedule", time_limit=10,
          forbid=("bert_ms.train.trainer:lr_at", "bert_ms.train.trainer:TrainerConfig.lr_schedule"))
def linear_warmup_lr(fn):
    """``fn(step, peak_lr, total_steps, warmup_steps) -> float`` for 0-based ``step``: linear warm-up
    ``peak · (step + 1) / warmup_steps`` while ``step < warmup_steps``, then linear decay from ``peak_lr`` at
    ``step == warmup_steps`` to 0 at ``total_steps`` (BERT, Devlin et al. 2019 appendix A.2), staying at 0
    afterwards."""
    rng = np.random.default_rng()
    configs = []
    for peak in rng.choice([5e-5, 3e-4, 1e-3, 2e-3], size=2, replace=False):
        warmup = int(rng.integers(5, 50))
        configs.append((float(peak), warmup, warmup + int(rng.integers(20, 200))))
    configs.append((1e-4, 10_000, 1_000_000))  # BERT's own
    for peak, warmup, total in configs:
        steps = [0, 1, int(rng.integers(2, warmup - 1)), warmup - 1, warmup, warmup + 1,
                 int(rng.integers(warmup + 2, total - 1)), total - 1, total, total + int(rng.integers(1, 50))]
        for step in steps:
            where = f"step {step} (peak_lr={peak:g}, total_steps={total}, warmup_steps={warmup})"
            raw = fn(step, peak, total, warmup)
            try:
                got = float(to_numpy(raw))
            except (TypeError, ValueError):
                raise Mismatch(f"{where}: expected one number (a float), got {type(raw).__name__}.") from None
            want = _reference_lr(step, peak, total, warmup)
            if math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-15):
                continue
            for wrong, words in _linear_variants(step, peak, total, warmup):
                if math.isclose(got, wrong, rel_tol=1e-6, abs_tol=1e-15):
                    raise Mismatch(f"{where}: expected {want:.6g}, got {got:.6g}: {words}")
            raise Mismatch(f"{where}: expected {want:.6g}, got {got:.6g}.")
