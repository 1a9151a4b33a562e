"""Lesson 03 exercises: ELMo (上下文相关的词向量). Solutions: ``solutions/03_elmo.py``.

Every reference is computed here in float64 NumPy (never with the package's own ELMo code, which the
checks forbid the learner to call), and every input is drawn so that each typical mistake gives a value
far from the right one on every run.
"""

from __future__ import annotations

import mindspore as ms
import numpy as np

from bert_ms.exercises import Mismatch, exercise, to_numpy
from bert_ms.exercises.core import _as_array, _fmt

__all__ = ["backward_states", "bilm_loss", "elmo_scalar_mix"]


# --- Exercise 3.1 · the backward LM's states -------------------------------------------------------

def _recurrent_run(rng, dim_in: int, dim_out: int):
    """A left-to-right tanh recurrence s_t = tanh(s_{t-1} W + x_t U) with fresh random weights.

    Returns ``(run, run64)``: ``run`` is what the learner gets (a MindSpore Tensor in, a Tensor out; a
    NumPy array in, an array out), ``run64`` the float64 reference. The state mixes the features, so a
    flip of the feature axis changes it, and it remembers the last few inputs, so a state that has read
    padding differs from one that has not."""
    w = rng.normal(size=(dim_out, dim_out)) * 0.6 / np.sqrt(dim_out)
    u = rng.normal(size=(dim_in, dim_out)) * 1.5 / np.sqrt(dim_in)

    def run64(x):
        states, s = [], np.zeros((x.shape[0], dim_out))
        for t in range(x.shape[1]):
            s = np.tanh(s @ w + x[:, t] @ u)
            states.append(s)
        return np.stack(states, 1) if states else np.zeros((x.shape[0], 0, dim_out))

    def run(x):
        """[B, T, D] (a MindSpore Tensor or a NumPy array) -> the [B, T, H] states, read left to right."""
        arr = to_numpy(x)
        if arr.ndim != 3 or arr.shape[-1] != dim_in:
            raise ValueError(f"run expects a [B, T, D] input with D = {dim_in} (batch, time, features), "
                             f"got shape {tuple(arr.shape)}")
        out = run64(arr.astype(np.float64))
        if isinstance(x, ms.Tensor):
            return ms.Tensor(out.astype(np.float32))
        return out.astype(arr.dtype) if np.issubdtype(arr.dtype, np.floating) else out

    return run, run64


def _reverse_within(a, lengths):
    """Reverse a[b, :n] for each row b (n = lengths[b]); the padding after it stays where it is."""
    out = a.copy()
    for b, n in enumerate(lengths):
        out[b, :n] = a[b, :n][::-1]
    return out


def _compare_real(got, want, lengths, what, hint=""):
    """Compare [B, T, H] states at the real (unpadded) positions only; name the first that differs."""
    for b, n in enumerate(lengths):
        for t in range(n):
            if not np.allclose(got[b, t], want[b, t], rtol=1e-4, atol=1e-4):
                bad = int((~np.isclose(got[b, :n], want[b, :n], rtol=1e-4, atol=1e-4)).any(-1).sum())
                raise Mismatch(f"{what}, row {b} (length {n} of {got.shape[1]}), position {t}: expected "
                               f"{_fmt(want[b, t])}, got {_fmt(got[b, t])} ({bad} of the row's {n} real "
                               f"positions differ)." + (f" Hint: {hint}" if hint else ""))


def _same_real(got, other, lengths, tol=1e-4) -> bool:
    return all(np.allclose(got[b, :n], other[b, :n], rtol=tol, atol=tol) for b, n in enumerate(lengths))


@exercise("Exercise 3.1 · the backward LM's states, by flipping", forbid=("bert_ms.classic.elmo:BiLM",),
          time_limit=30)
def backward_states(fn):
    """``fn(run, x, lengths)``: ``run`` maps a [B, T, D] input to the [B, T, H] states of a left-to-right
    recurrent network; row b of ``x`` holds ``lengths[b]`` real tokens, then padding. Return the [B, T, H]
    states of the same network reading each row RIGHT TO LEFT from its last real token, aligned with the
    positions of ``x``: position t < lengths[b] holds the state after reading x_{n-1}, ..., x_t
    (n = lengths[b]). States at padding positions are not checked."""
    rng = np.random.default_rng()
    dim_in, dim_out = int(rng.integers(3, 6)), int(rng.integers(4, 7))
    run, run64 = _recurrent_run(rng, dim_in, dim_out)
    # case 1: no padding (every row full); case 2: padded rows, a full one and a length-1 one among them
    length = int(rng.integers(5, 9))
    cases = [[length] * int(rng.integers(2, 4))]
    padded = [length, 1, *rng.integers(2, length, size=int(rng.integers(2, 4))).tolist()]
    cases.append([int(n) for n in rng.permutation(padded)])
    for lengths in cases:
        x64 = rng.normal(size=(len(lengths), length, dim_in))  # padding holds vectors too, like a pad id's
        x32 = x64.astype(np.float32)
        x = x32.astype(np.float64)
        want = _reverse_within(run64(_reverse_within(x, lengths)), lengths)
        what = "backward states" + (" of padded rows" if len(set(lengths)) > 1 else "")
        got = fn(run, ms.Tensor(x32), list(lengths))
        got = _as_array(got, what).astype(np.float64)
        if got.shape != want.shape:
            raise Mismatch(f"{what}: expected shape {want.shape} (batch, time, state), got {got.shape}.")
        if _same_real(got, want, lengths):
            continue
        forward = run64(x)
        if _same_real(got, forward, lengths):
            raise Mismatch(f"{what}: these are the forward states (left to right). Reverse the sequence in "
                           "time (axis 1, not the batch axis 0) before running.")
        if _same_real(got, run64(_reverse_within(x, lengths)), lengths) or _same_real(got, run64(x[:, ::-1]), lengths):
            raise Mismatch(f"{what}: your states are in reversed order: position 0 holds the state that has read "
                           "only the last token. Flip the states back, so position t holds the state after "
                           "reading the tokens from the end down to t.")
        if _same_real(got, forward[:, ::-1], lengths) or _same_real(got, _reverse_within(forward, lengths), lengths):
            raise Mismatch(f"{what}: you reversed the forward states; reverse the INPUT, run, then reverse the "
                           "states back.")
        if _same_real(got, run64(x[:, ::-1])[:, ::-1], lengths):
            raise Mismatch(f"{what}: you flipped each whole row, padding included, so the backward LM read the "
                           "padding before the real tokens. Reverse only the first lengths[b] positions of row b "
                           "(the padding stays at the end).")
        _compare_real(got, want, lengths, what,
                      hint="reverse each row's real tokens in time, run, and reverse the states back.")


# --- Exercise 3.2 · the biLM loss ------------------------------------------------------------------

def _log_softmax(z, axis=-1):
    top = z.max(axis, keepdims=True)
    return z - top - np.log(np.exp(z - top).sum(axis, keepdims=True))


def _ce(logits, targets, axis=-1):
    """Mean cross-entropy of [B, T, V] logits against [B, T] targets, normalised over ``axis``."""
    logp = _log_softmax(logits, axis)
    b, t = np.meshgrid(np.arange(targets.shape[0]), np.arange(targets.shape[1]), indexing="ij")
    return float(-logp[b, t, targets].mean())


def _as_number(got, what) -> float:
    arr = _as_array(got, what)
    if arr.size != 1:
        raise Mismatch(f"{what}: expected one number (the mean loss), got an array of shape {arr.shape}. Hint: "
                       "average the cross-entropies over all predicted positions.")
    if not np.issubdtype(arr.dtype, np.number):
        raise Mismatch(f"{what}: expected a number, got {arr.dtype}.")
    return float(arr.reshape(-1)[0])


@exercise("Exercise 3.2 · the biLM loss from both directions' logits", forbid=("bert_ms.classic.elmo:bilm_loss",),
          time_limit=30)
def bilm_loss(fn):
    """``fn(fwd_logits, bwd_logits, ids)``: logits [B, T, V] of the forward and the backward LM at EVERY
    position, and the token ids [B, T] -> the mean of the two cross-entropies, where the forward LM at
    position t predicts ids[:, t+1] and the backward LM at position t predicts ids[:, t-1] (sec. 3.1)."""
    rng = np.random.default_rng()
    for length in (2, int(rng.integers(5, 9))):  # T = 2: each direction predicts one token per row
        batch, vocab = int(rng.integers(3, 5)), int(rng.integers(6, 13))  # B·(T-1) ≠ 2: a sum is not a mean
        while True:  # inputs on which the answer and every typical mistake give clearly different losses
            fwd = (2 * rng.normal(size=(batch, length, vocab))).astype(np.float32)
            bwd = (2 * rng.normal(size=(batch, length, vocab))).astype(np.float32)
            ids = rng.integers(0, vocab, size=(batch, length)).astype(np.int32)
            want, diagnoses = _bilm_diagnoses(fwd, bwd, ids)
            values = np.array([want] + [v for v, _ in diagnoses])
            gaps = np.abs(values[:, None] - values[None, :]) + np.eye(len(values))
            if (gaps > 1e-2 * np.maximum(np.abs(values)[:, None], 1.0)).all():
                break
        what = f"the loss for T = {length}"
        got = _as_number(fn(ms.Tensor(fwd), ms.Tensor(bwd), ms.Tensor(ids)), what)
        if np.isclose(got, want, rtol=1e-5, atol=1e-6):
            continue
        for value, message in diagnoses:
            if np.isclose(got, value, rtol=1e-4, atol=1e-5):  # names the mistake only
                raise Mismatch(f"{what}: {message}")
        raise Mismatch(f"{what}: expected {want:.6f}, got {got:.6f}. Hint: the forward LM's logits at positions "
                       "0..T-2 predict the tokens at 1..T-1, the backward LM's at 1..T-1 predict those at 0..T-2; "
                       "average the two mean cross-entropies.")


def _bilm_diagnoses(fwd, bwd, ids):
    """The biLM loss of float32 logits (in float64), and (loss, message) for each typical mistake."""
    batch, length = ids.shape
    f64, b64 = fwd.astype(np.float64), bwd.astype(np.float64)
    forward, backward = _ce(f64[:, :-1], ids[:, 1:]), _ce(b64[:, 1:], ids[:, :-1])
    want = (forward + backward) / 2
    back_next = _ce(b64[:, :-1], ids[:, 1:])
    fwd_prev = _ce(f64[:, 1:], ids[:, :-1])
    probs = {"f": np.exp(_log_softmax(f64)), "b": np.exp(_log_softmax(b64))}
    diagnoses = [
        ((forward + back_next) / 2, "your backward LM predicts the NEXT word; it reads right to left, so at "
                                    "position t it predicts the PREVIOUS word ids[:, t-1]."),
        ((fwd_prev + backward) / 2, "your forward LM predicts the PREVIOUS word; it reads left to right, so at "
                                    "position t it predicts the NEXT word ids[:, t+1]."),
        ((fwd_prev + back_next) / 2, "the two directions are swapped: the forward LM at t predicts t+1, the "
                                     "backward LM at t predicts t-1."),
        ((_ce(f64, ids) + _ce(b64, ids)) / 2, "each position predicts its own token (off by one): the forward "
                                              "LM at t predicts t+1, the backward LM at t predicts t-1."),
        (forward + backward, "you added the two losses; the biLM loss is their mean."),
        (forward, "this is the forward LM's loss alone; average it with the backward LM's."),
        (backward, "this is the backward LM's loss alone; average it with the forward LM's."),
        ((_ce(f64[:, :-1], ids[:, 1:], axis=1) + _ce(b64[:, 1:], ids[:, :-1], axis=1)) / 2,
         "the softmax runs over the wrong axis (time); normalise over the vocabulary, the last axis."),
        ((_ce(f64[:, :-1], ids[:, 1:], axis=0) + _ce(b64[:, 1:], ids[:, :-1], axis=0)) / 2,
         "the softmax runs over the wrong axis (the batch); normalise over the vocabulary, the last axis."),
        ((_ce(probs["f"][:, :-1], ids[:, 1:]) + _ce(probs["b"][:, 1:], ids[:, :-1])) / 2,
         "you applied a softmax before the cross-entropy, which applies its own: pass the raw logits."),
        ((forward + backward) / 2 * batch * (length - 1), "you summed the cross-entropies over the tokens; the "
                                                          "loss is the mean over all predicted positions."),
    ]
    return want, diagnoses


# --- Exercise 3.3 · the scalar mix -----------------------------------------------------------------

def _distinct_weights(rng, n):
    """n raw weights whose softmax is far from uniform and far from the weights themselves."""
    while True:
        w = rng.uniform(-2.5, 2.5, size=n)
        if np.min(np.diff(np.sort(w))) > 0.4 and abs(w.sum()) > 0.3:
            return w


@exercise("Exercise 3.3 · ELMo's scalar mix (eq. 1)", forbid=("bert_ms.classic.elmo:ScalarMix", "bert_ms.classic.elmo:scalar_mix"), time_limit=30)
def elmo_scalar_mix(fn):
    """``fn(layers, w, gamma)``: a list of L+1 MindSpore tensors [B, T, D], the L+1 raw weights w and the
    scale γ -> γ · Σ_j softmax(w)_j · layers[j] (Peters et al. 2018, eq. 1)."""
    rng = np.random.default_rng()
    # case 1: 3 layers of width D = 3, so weights broadcast along the features instead of the layers give
    # wrong numbers rather than an error; case 2: another number of layers and another width
    n2 = int(rng.choice([2, 4, 5]))
    for n_layers, width in ((3, 3), (n2, int(rng.integers(5, 8)))):
        batch, length = int(rng.integers(2, 4)), int(rng.integers(3, 6))
        layers = [rng.normal(size=(batch, length, width)).astype(np.float32) for _ in range(n_layers)]
        w = _distinct_weights(rng, n_layers).astype(np.float32)
        gamma = np.float32(rng.uniform(1.4, 3.0) if rng.random() < 0.5 else rng.uniform(0.2, 0.7))  # γ far from 1
        h = np.stack([a.astype(np.float64) for a in layers])  # [L+1, B, T, D]
        w64, g64 = w.astype(np.float64), float(gamma)
        s = np.exp(w64 - w64.max()) / np.exp(w64 - w64.max()).sum()
        want = g64 * np.tensordot(s, h, axes=1)
        what = f"the ELMo vectors ({n_layers} layers of width {width})"
        got = fn([ms.Tensor(a) for a in layers], ms.Tensor(w), ms.Tensor(gamma))
        got = _as_array(got, what).astype(np.float64)
        if got.shape != want.shape:
            raise Mismatch(f"{what}: expected shape {want.shape} (the shape of one layer), got {got.shape}. "
                           "Hint: the mix is a weighted sum over the layers, not over the batch, time or features.")
        if np.allclose(got, want, rtol=1e-5, atol=1e-5):
            continue
        diagnoses = [
            (g64 * np.tensordot(w64, h, axes=1), "you used the raw weights w; ELMo normalises them first, "
                                                 "s = softmax(w), so they are positive and sum to 1."),
            (np.tensordot(s, h, axes=1), "the mix is not scaled: multiply by γ (gamma), the task-learned scale of "
                                         "the whole vector."),
            (g64 * h.mean(0), "you averaged the layers with equal weights; weigh layer j by softmax(w)_j."),
            (g64 * np.tensordot(w64 / w64.sum(), h, axes=1), "you divided w by its sum; ELMo's weights are "
                                                             "softmax(w), which is positive even where w is not."),
            (g64 * h.sum(0) * s if width == n_layers else None,
             "the weights were broadcast along the last axis (the features), not along the layers: weight "
             "layers[j] as a whole by softmax(w)[j]."),
            (g64 * np.tensordot(np.log(s), h, axes=1), "you used log_softmax; the weights are softmax(w)."),
            (np.tensordot(s, h, axes=1) / g64, "you divided by γ; multiply by it."),
        ]
        for value, message in diagnoses:
            if value is not None and np.allclose(got, value, rtol=1e-4, atol=1e-4):  # names the mistake only
                raise Mismatch(f"{what}: {message}")
        bad = ~np.isclose(got, want, rtol=1e-5, atol=1e-5)
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise Mismatch(f"{what} at index {idx}: expected {_fmt(want[idx])}, got {_fmt(got[idx])} "
                       f"({int(bad.sum())} of {bad.size} values differ). Hint: γ times the sum over the layers "
                       "of softmax(w)[j] · layers[j].")
