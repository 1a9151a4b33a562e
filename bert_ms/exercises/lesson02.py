"""Lesson 02 exercises: language models (语言模型). Solutions: ``solutions/02_neural_language_models.py``."""

from __future__ import annotations

import mindspore as ms
import numpy as np

from bert_ms.classic import language_model as lm
from bert_ms.exercises import Mismatch, exercise, expect_close, to_numpy

__all__ = ["add_k_bigram", "perplexity_from_logits", "rnn_step", "clip_by_global_norm"]


@exercise("Exercise 2.1 an add-k bigram model")
def add_k_bigram(fn):
    """``fn(train_ids, vocab_size, k)`` -> a [V, V] NumPy matrix P with P[prev, next] =
    (count(prev, next) + k) / (count(prev) + k·V), counted over consecutive pairs of ``train_ids``."""
    rng = np.random.default_rng()
    vocab, k = 6, float(rng.choice([0.1, 0.5, 1.0]))
    ids = rng.integers(0, vocab, size=60)
    ids[:3] = [2, 2, 2]  # make the matrix asymmetric enough to notice a transpose
    ref = lm.NGramLM(2, vocab, k=k).fit(ids)
    want = np.array([[ref.prob([p], w) for w in range(vocab)] for p in range(vocab)])
    got = to_numpy(fn(ids.copy(), vocab, k)).astype(np.float64)
    if got.shape != want.shape:
        raise Mismatch(f"expected a [{vocab}, {vocab}] matrix P[prev, next], got shape {got.shape}.")
    if not np.allclose(got, want, rtol=1e-6, atol=1e-9):
        if np.allclose(got, want.T, rtol=1e-6, atol=1e-9):
            raise Mismatch("your matrix is transposed: row = the previous word, column = the next word.")
        sums = got.sum(1)
        if not np.allclose(sums, 1.0, atol=1e-6):
            raise Mismatch(f"row sums are {np.round(sums, 3)}, but each row is a distribution over the next word "
                           "and must sum to 1. Hint: add k for every one of the V possible next words, so the "
                           "denominator is count(prev) + k·V.")
    expect_close(got, want, f"P[prev, next] with k={k}", hint="(count(prev, next) + k) / (count(prev) + k·V)",
                 rtol=1e-6, atol=1e-9)


@exercise("Exercise 2.2 perplexity from logits")
def perplexity_from_logits(fn):
    """``fn(logits, targets)``: [N, V] MindSpore logits (unnormalised scores) and [N] int targets -> the
    perplexity exp(mean over the N positions of -log softmax(logits)[target]) as a Python float."""
    rng = np.random.default_rng()
    n, vocab = 20, 7
    logits = rng.normal(0, 2, (n, vocab)).astype(np.float32)
    targets = rng.integers(0, vocab, n).astype(np.int32)
    top = logits.astype(np.float64).max(1, keepdims=True)
    logp = logits - top - np.log(np.exp(logits - top).sum(1, keepdims=True))  # log softmax
    nll = -logp[np.arange(n), targets]
    want = float(np.exp(nll.mean()))
    got = float(to_numpy(fn(ms.Tensor(logits), ms.Tensor(targets))))
    if np.isclose(got, want, rtol=1e-4):
        return
    if np.isclose(got, float(np.exp(nll.sum())), rtol=1e-4):
        raise Mismatch("you exponentiated the SUM of the losses: take the mean over positions first.")
    if np.isclose(got, float(nll.mean()), rtol=1e-4):
        raise Mismatch(f"{got:.4f} is the mean cross-entropy; perplexity is its exponential ({want:.4f}).")
    if np.isclose(got, float(2 ** nll.mean()), rtol=1e-4):
        raise Mismatch("the losses are natural logarithms (nats), so exponentiate with e, not 2.")
    raise Mismatch(f"expected {want:.4f}, got {got:.4f}. Hint: ops.cross_entropy(logits, targets) is the mean "
                   "-log softmax of the targets; perplexity = exp of it.")


@exercise("Exercise 2.3 one step of a vanilla RNN cell")
def rnn_step(fn):
    """``fn(x_t, s_prev, U, W, b)``: inputs [B, D], previous states [B, H], U [H, D], W [H, H], b [H]
    (MindSpore tensors) -> s_t = tanh(U x_t + W s_prev + b), shape [B, H] (Elman 1990)."""
    rng = np.random.default_rng()
    batch, d, h = 3, 5, 4
    # moderate sizes keep |U x + W s + b| < 3, where MindSpore's CPU tanh is accurate to 1e-6
    x, s = rng.normal(0, 0.5, size=(batch, d)), rng.normal(0, 0.5, size=(batch, h))
    U, W, b = rng.normal(0, 0.3, size=(h, d)), rng.normal(0, 0.3, size=(h, h)), rng.normal(0, 0.5, size=h)
    pre = x @ U.T + s @ W.T + b
    want = np.tanh(pre)
    got = to_numpy(fn(*(ms.Tensor(a.astype(np.float32)) for a in (x, s, U, W, b)))).astype(np.float64)
    if got.shape == want.shape and not np.allclose(got, want, atol=1e-5):
        if np.allclose(got, pre, atol=1e-4):
            raise Mismatch("you returned the pre-activation U x + W s + b: apply tanh to it.")
        if np.allclose(got, np.tanh(x @ U.T + b), atol=1e-5):
            raise Mismatch("s_prev has no effect in your cell: add W s_prev, the recurrence.")
        if np.allclose(got, 1 / (1 + np.exp(-pre)), atol=1e-5):
            raise Mismatch("that is a sigmoid; the vanilla cell uses tanh (outputs in (-1, 1)).")
    expect_close(got, want, "s_t", hint="tanh(x_t @ U.T + s_prev @ W.T + b)", atol=1e-5)


@exercise("Exercise 2.4 clipping by the global gradient norm")
def clip_by_global_norm(fn):
    """``fn(grads, max_norm)``: a list of MindSpore gradient tensors -> the list rescaled by
    max_norm / max(global_norm, max_norm), global_norm = sqrt(sum of every element squared, over ALL
    tensors) (Pascanu et al. 2013, algorithm 1). Small gradients pass unchanged."""
    rng = np.random.default_rng()
    for scale in (10.0, 0.01):  # one call that must clip, one that must not
        grads = [rng.normal(0, scale, shape).astype(np.float32) for shape in [(3, 4), (4,), (2, 2)]]
        norm = float(np.sqrt(sum((g.astype(np.float64) ** 2).sum() for g in grads)))
        max_norm = 1.0
        want = [g * (max_norm / max(norm, max_norm)) for g in grads]
        got = [to_numpy(t).astype(np.float64) for t in fn([ms.Tensor(g) for g in grads], max_norm)]
        if len(got) != len(want):
            raise Mismatch(f"expected {len(want)} tensors back, got {len(got)}.")
        if all(w.shape == g.shape and np.allclose(w, g, rtol=1e-4, atol=1e-6) for w, g in zip(want, got)):
            continue
        what = f"large gradients (global norm {norm:.1f} > 1)" if norm > max_norm else f"small gradients (norm {norm:.3f})"
        per_tensor = [g * min(1.0, max_norm / np.linalg.norm(g)) for g in grads]
        if all(np.allclose(p, g, rtol=1e-4, atol=1e-6) for p, g in zip(per_tensor, got)):
            raise Mismatch(f"{what}: you clipped each tensor by its own norm. Use ONE global norm over all "
                           "tensors, so the update keeps its direction.")
        if all(np.allclose(np.clip(w0, -max_norm, max_norm), g, atol=1e-6) for w0, g in zip(grads, got)):
            raise Mismatch(f"{what}: you clipped each element to [-max_norm, max_norm] (clip by value); rescale "
                           "the whole gradient by max_norm / global_norm instead.")
        if norm < max_norm:
            raise Mismatch(f"{what}: these were already below max_norm and must come back unchanged; scale by "
                           "max_norm / max(global_norm, max_norm).")
        for i, (w, g) in enumerate(zip(want, got)):
            expect_close(g, w, f"{what}, tensor {i}", hint="multiply every tensor by max_norm / global_norm",
                         rtol=1e-4, atol=1e-6)

