"""Lesson 01 exercises: static word vectors (静态词向量). Solutions: ``solutions/01_word_vectors.py``."""

from __future__ import annotations

import mindspore as ms
import numpy as np

from bert_ms.classic import word2vec
from bert_ms.exercises import Mismatch, exercise, expect_close, expect_equal, to_numpy

__all__ = ["skipgram_center_grad", "noise_distribution", "subsample_keep", "nearest_words"]


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _center_grad(v, u_pos, u_neg, pos_factor=None, noise_sign=1.0):
    """∂ℓ/∂v_c of one pair's loss ℓ = -log σ(u_o·v_c) - Σ_k log σ(-u_k·v_c)."""
    s_pos = _sigmoid((u_pos * v).sum(-1))
    s_neg = _sigmoid((u_neg * v[:, None, :]).sum(-1))
    factor = (1 - s_pos) if pos_factor is None else pos_factor(s_pos)
    return -factor[:, None] * u_pos + noise_sign * (s_neg[..., None] * u_neg).sum(1)


@exercise("Exercise 1.1 the gradient of the skip-gram loss with respect to the centre vector")
def skipgram_center_grad(fn):
    """``fn(v, u_pos, u_neg)``: centre vectors [B, D], true context vectors [B, D], noise context vectors
    [B, K, D] (MindSpore float32 tensors) -> [B, D], row i the gradient of pair i's loss
    ℓ_i = -log σ(u_o·v_c) - Σ_k log σ(-u_k·v_c) (Mikolov 2013b, eq. 4) with respect to its v_c:
    -(1 - σ(u_o·v_c)) u_o + Σ_k σ(u_k·v_c) u_k."""
    rng = np.random.default_rng()
    for batch, dim, k in [(6, 8, 5), (3, 4, 2)]:
        v, u_pos = (rng.normal(0, 0.7, (batch, dim)) for _ in range(2))
        u_neg = rng.normal(0, 0.7, (batch, k, dim))
        got = to_numpy(fn(*(ms.Tensor(a.astype(np.float32)) for a in (v, u_pos, u_neg)))).astype(np.float64)
        want = _center_grad(v, u_pos, u_neg)
        if got.shape == want.shape and not np.allclose(got, want, rtol=1e-4, atol=1e-5):
            def close(other, got=got):
                return np.allclose(got, other, rtol=1e-4, atol=1e-5)

            if close(want / batch):
                raise Mismatch("your gradient is divided by the batch size: give each pair's own gradient "
                               "(of ℓ_i, not of the batch mean).")
            if close(_center_grad(v, u_pos, u_neg, pos_factor=lambda s: s)):
                raise Mismatch("the true pair's term has σ(u_o·v_c) where it needs 1 - σ(u_o·v_c). "
                               "Hint: d/dx log σ(x) = 1 - σ(x).")
            if close(_center_grad(v, u_pos, u_neg, noise_sign=-1.0)):
                raise Mismatch("the noise term has the wrong sign: d/dx [-log σ(-x)] = +σ(x), so the noise "
                               "vectors enter with a plus (the descent step then moves v_c away from them).")
        expect_close(got, want, f"gradient for a batch of {batch} pairs with {k} noise words",
                     hint="-(1 - σ(u_o·v_c)) u_o + Σ_k σ(u_k·v_c) u_k", rtol=1e-4, atol=1e-5)


@exercise("Exercise 1.2 the noise distribution P_n(w) ∝ count(w)^(3/4)")
def noise_distribution(fn):
    """``fn(counts)``: word counts (NumPy int array, id 0 is ``<unk>``) -> noise probabilities, the
    unigram counts raised to 3/4 and normalised, with ``<unk>`` never drawn (Mikolov 2013b, sec. 2.2)."""
    rng = np.random.default_rng()
    counts = rng.integers(1, 5000, size=12)
    want = word2vec.noise_distribution(counts)
    got = to_numpy(fn(counts.copy())).astype(np.float64)
    if got.shape != want.shape:
        raise Mismatch(f"expected one probability per word, shape {want.shape}, got {got.shape}.")
    if not np.isclose(got.sum(), 1.0, atol=1e-6):
        raise Mismatch(f"the probabilities sum to {got.sum():.4f}, not 1. Hint: divide by the total.")
    if got[0] != 0:
        raise Mismatch(f"id 0 is <unk> and must never be a noise word: expected probability 0, got {got[0]:.4g}.")
    plain = counts.astype(np.float64)
    plain[0] = 0
    if np.allclose(got, plain / plain.sum(), rtol=1e-5):
        raise Mismatch("you returned the plain unigram distribution. Hint: raise the counts to the 3/4 power "
                       "first, so rare words are drawn more often.")
    expect_close(got, want, "noise probabilities", hint="count(w) ** 0.75, then normalise.", rtol=1e-5, atol=1e-8)


@exercise("Exercise 1.3 subsampling: the probability of keeping a word")
def subsample_keep(fn):
    """``fn(freq, t)``: relative word frequencies f(w) (NumPy array) and the threshold t -> the
    probability of KEEPING each occurrence, min(1, sqrt(t / f(w))) (Mikolov 2013b, eq. 5 discards a word
    with probability 1 - sqrt(t / f(w)))."""
    rng = np.random.default_rng()
    freq = np.concatenate([10 ** rng.uniform(-2, -1, 4), 10 ** rng.uniform(-7, -5, 4)])
    t = 1e-4
    want = np.minimum(1.0, np.sqrt(t / freq))
    got = to_numpy(fn(freq.copy(), t)).astype(np.float64)
    if got.shape == want.shape and np.allclose(got, 1 - want, rtol=1e-5):
        raise Mismatch("that is the probability of DISCARDING a word; return the probability of keeping it.")
    if got.shape == want.shape and np.allclose(got, np.sqrt(t / freq), rtol=1e-5):
        raise Mismatch("rare words get sqrt(t/f) > 1, which is not a probability. Hint: cap it at 1 "
                       "(rare words are always kept).")
    expect_close(got, want, "keep probabilities", hint="keep = min(1, sqrt(t / f)).", rtol=1e-5, atol=1e-9)


@exercise("Exercise 1.4 nearest neighbours by cosine similarity")
def nearest_words(fn):
    """``fn(vectors, query, k)``: a [V, D] NumPy matrix, a row index and k -> the indices of the k rows with
    the highest cosine similarity to row ``query``, best first, the query itself excluded."""
    rng = np.random.default_rng()
    for _ in range(3):
        vectors = rng.normal(size=(40, 6)) * rng.uniform(0.1, 5.0, size=(40, 1))  # very different lengths
        query, k = int(rng.integers(40)), 5
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        sims = unit @ unit[query]
        sims[query] = -np.inf
        want = [int(i) for i in np.argsort(-sims)[:k]]
        got = [int(i) for i in np.asarray(fn(vectors.copy(), query, k)).reshape(-1)]
        if query in got:
            raise Mismatch(f"row {query} is in its own neighbour list {got}: exclude the query word itself "
                           "(its cosine with itself is 1).")
        dots = vectors @ vectors[query]
        dots[query] = -np.inf
        if got == [int(i) for i in np.argsort(-dots)[:k]] and got != want:
            raise Mismatch(f"for row {query} you ranked by the dot product {got}, expected {want}. Hint: divide "
                           "by both vectors' lengths (cosine), or long vectors win.")
        expect_equal(got, want, f"neighbours of row {query}", hint="sort by cosine similarity, highest first.")
