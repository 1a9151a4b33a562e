"""Lesson 03 exercises: ELMo (上下文相关的词向量). Solutions: ``solutions/03_elmo.py``."""

from __future__ import annotations

import mindspore as ms
import numpy as np
from mindspore import ops

from bert_ms.classic import elmo
from bert_ms.exercises import Mismatch, exercise, expect_close, to_numpy

__all__ = ["elmo_scalar_mix", "backward_states", "bilm_loss"]


@exercise("Exercise 3.1 ELMo's scalar mix (eq. 1)")
def elmo_scalar_mix(fn):
    """``fn(layers, w, gamma)``: a list of L+1 MindSpore tensors [B, T, D], the L+1 raw weights w and the
    scale γ -> γ · Σ_j softmax(w)_j · layers[j] (Peters et al. 2018, eq. 1)."""
    rng = np.random.default_rng()
    layers = [rng.normal(size=(2, 5, 4)).astype(np.float32) for _ in range(3)]
    w = rng.normal(size=3).astype(np.float32)
    gamma = np.float32(rng.uniform(0.5, 2.0))
    mix = elmo.ScalarMix(3)
    mix.weights.set_data(ms.Tensor(w))
    mix.gamma.set_data(ms.Tensor(gamma))
    want = mix([ms.Tensor(h) for h in layers]).asnumpy()
    got = to_numpy(fn([ms.Tensor(h) for h in layers], ms.Tensor(w), ms.Tensor(gamma))).astype(np.float64)
    if got.shape == want.shape and not np.allclose(got, want, atol=1e-5):
        if np.allclose(got, gamma * sum(wj * h for wj, h in zip(w, layers)), atol=1e-5):
            raise Mismatch("you used the raw weights w; ELMo normalises them first, s = softmax(w), so they are "
                           "positive and sum to 1.")
        if np.allclose(got * gamma, want, atol=1e-5):
            raise Mismatch("the mix is not scaled: multiply by γ (gamma), the task-learned scale of the whole vector.")
    expect_close(got, want, "the ELMo vectors", hint="gamma * sum(softmax(w)[j] * layers[j])", atol=1e-5)


def _leaky_run(x):
    """A left-to-right recurrence s_t = 0.5 s_{t-1} + x_t, so every state shows what it has read."""
    states, s = [], ops.zeros_like(x[:, 0])
    for t in range(x.shape[1]):
        s = 0.5 * s + x[:, t]
        states.append(s)
    return ops.stack(states, axis=1)


@exercise("Exercise 3.2 the backward LM's states, by flipping")
def backward_states(fn):
    """``fn(run, x)``: ``run`` maps a MindSpore tensor [B, T, D] to the [B, T, H] states of a left-to-right
    recurrent network; return the states of the same network reading RIGHT TO LEFT, aligned with the
    positions of ``x``: position t holds the state after reading x_T, ..., x_t (flip, run, flip back)."""
    rng = np.random.default_rng()
    x = ms.Tensor(rng.normal(size=(2, 6, 3)).astype(np.float32))
    want = ops.flip(_leaky_run(ops.flip(x, (1,))), (1,)).asnumpy()
    got = to_numpy(fn(_leaky_run, x)).astype(np.float64)
    if got.shape == want.shape and not np.allclose(got, want, atol=1e-5):
        if np.allclose(got, _leaky_run(x).asnumpy(), atol=1e-5):
            raise Mismatch("these are the forward states (left to right): reverse the sequence in time "
                           "(ops.flip on axis 1) before running.")
        if np.allclose(got, _leaky_run(ops.flip(x, (1,))).asnumpy(), atol=1e-5):
            raise Mismatch("your states are in reversed order: position 0 holds the state that has read only "
                           "x_T. Flip the states back, so position t is the state after reading x_T..x_t.")
        if np.allclose(got, ops.flip(_leaky_run(x), (1,)).asnumpy(), atol=1e-5):
            raise Mismatch("you flipped the forward states; flip the INPUT, run, then flip the states back.")
    expect_close(got, want, "backward states", hint="ops.flip(run(ops.flip(x, (1,))), (1,))", atol=1e-5)


def _ce(logits, targets):
    logits = logits.reshape(-1, logits.shape[-1]).astype(np.float64)
    top = logits.max(1, keepdims=True)
    logp = logits - top - np.log(np.exp(logits - top).sum(1, keepdims=True))
    return float(-logp[np.arange(len(logits)), targets.reshape(-1)].mean())


@exercise("Exercise 3.3 the biLM loss from both directions' logits")
def bilm_loss(fn):
    """``fn(fwd_logits, bwd_logits, ids)``: logits [B, T, V] of the forward and the backward LM at EVERY
    position, and the token ids [B, T] -> the mean of the two cross-entropies, where the forward LM at
    position t predicts ids[:, t+1] and the backward LM at position t predicts ids[:, t-1] (sec. 3.1)."""
    rng = np.random.default_rng()
    batch, length, vocab = 2, 7, 9
    fwd = rng.normal(size=(batch, length, vocab)).astype(np.float32)
    bwd = rng.normal(size=(batch, length, vocab)).astype(np.float32)
    ids = rng.integers(0, vocab, size=(batch, length)).astype(np.int32)
    f_ok, b_ok = _ce(fwd[:, :-1], ids[:, 1:]), _ce(bwd[:, 1:], ids[:, :-1])
    want = (f_ok + b_ok) / 2
    got = float(to_numpy(fn(ms.Tensor(fwd), ms.Tensor(bwd), ms.Tensor(ids))))
    if np.isclose(got, want, rtol=1e-4):
        return
    if np.isclose(got, (f_ok + _ce(bwd[:, :-1], ids[:, 1:])) / 2, rtol=1e-4):
        raise Mismatch("your backward LM predicts the NEXT word; it reads right to left, so at position t it "
                       "predicts the PREVIOUS word ids[:, t-1] (use bwd_logits[:, 1:] against ids[:, :-1]).")
    if np.isclose(got, (_ce(fwd, ids) + _ce(bwd, ids)) / 2, rtol=1e-4):
        raise Mismatch("each position predicts its own token (off by one): the forward LM at t predicts t+1, "
                       "the backward LM at t predicts t-1.")
    if np.isclose(got, f_ok + b_ok, rtol=1e-4):
        raise Mismatch("you added the two losses; the biLM loss is their mean.")
    raise Mismatch(f"expected {want:.5f}, got {got:.5f}. Hint: forward: fwd_logits[:, :-1] vs ids[:, 1:]; "
                   "backward: bwd_logits[:, 1:] vs ids[:, :-1]; average the two mean cross-entropies.")
