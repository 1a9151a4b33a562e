"""Lesson 01 exercises: static word vectors (静态词向量). Solutions: ``solutions/01_word_vectors.py``.

Every reference is float64 NumPy written out here (not the package's functions, which are the answers
and are forbidden to the learner), and the inputs are drawn so that each typical mistake differs from the
right answer on every run: an ``<unk>`` with the largest count and a word that never occurs (1.1), a
threshold t far from bert_ms's default 1e-4 and frequencies just above and just below it (1.2), σ far from
1/2, K = 1 and K > 1, B > 1 (1.3), an exact copy of the query row on either side of it, ties at the k-th
place, short near neighbours among long far ones, the query at the first or last row (1.4).
"""

from __future__ import annotations

import mindspore as ms
import numpy as np

from bert_ms.exercises import Mismatch, exercise, expect_close, to_numpy

__all__ = ["noise_distribution", "subsample_keep", "skipgram_center_grad", "nearest_words"]

_W2V = "bert_ms.classic.word2vec"
_AUTODIFF = ("mindspore:grad", "mindspore:value_and_grad", "mindspore:vjp", "mindspore:jvp", "mindspore.ops:grad",
             "mindspore.ops:GradOperation")


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# --- Exercise 1.1 ---------------------------------------------------------------------------------

def _noise(counts, power=0.75, unk_zero=True):
    weights = counts.astype(np.float64) ** power
    if unk_zero:
        weights[0] = 0.0
    return weights / weights.sum()


@exercise("Exercise 1.1 · the noise distribution P_n(w) ∝ count(w)^(3/4)", time_limit=30,
          forbid=(f"{_W2V}:noise_distribution",))
def noise_distribution(fn):
    """``fn(counts)``: word counts (NumPy int array, id 0 is ``<unk>``) -> noise probabilities, the
    unigram counts raised to 3/4 and normalised, with ``<unk>`` never drawn (Mikolov 2013b, sec. 2.2)."""
    rng = np.random.default_rng()
    for size in (int(rng.integers(8, 30)), 4):
        counts = np.zeros(size, np.int64)
        while np.unique(counts[1:]).size < size - 1:  # distinct counts from 1 to 100,000: the power matters
            counts = (10 ** rng.uniform(0, 5, size)).astype(np.int64) + 1
        counts[1:3] = counts[1:3].min(), counts[1:3].min() * int(rng.integers(20, 200))  # two words far apart
        counts[0] = counts.max() * 3  # <unk> the most frequent: keeping it shows
        counts[int(rng.integers(1, size))] = 0  # a word that never occurs in this corpus: probability 0
        want = _noise(counts)
        got = to_numpy(fn(counts.copy())).astype(np.float64)
        where = f"for counts {counts.tolist()}" if size <= 8 else f"for {size} words"
        if got.shape != want.shape:
            raise Mismatch(f"{where}: expected one probability per id, shape {want.shape}, got {got.shape}."
                           + (" Keep <unk> in the array (id 0), with probability 0." if got.shape == (size - 1,)
                              else ""))
        if got[0] != 0:
            raise Mismatch(f"{where}: id 0 is <unk> and must never be a noise word: expected probability 0, got "
                           f"{got[0]:.4g}.")
        if not np.isclose(got.sum(), 1.0, atol=1e-6):
            raise Mismatch(f"{where}: the probabilities sum to {got.sum():.4f}, not 1. Hint: normalise after raising "
                           "to the power and after setting <unk> to 0.")
        if np.allclose(got, _noise(counts, 1.0), rtol=1e-5):
            raise Mismatch(f"{where}: you returned the plain unigram distribution. Hint: raise the counts to the 3/4 "
                           "power first, so rare words are drawn more often.")
        if np.allclose(got[1:][counts[1:] > 0], got[1:][counts[1:] > 0][0]):
            raise Mismatch(f"{where}: every word got the same probability: is your power 0 (`3 // 4` is 0)?")
        if np.allclose(got, _noise(counts, 4 / 3), rtol=1e-5):
            raise Mismatch(f"{where}: your power is 4/3; it is 3/4 (< 1, which flattens the distribution).")
        expect_close(got, want, f"noise probabilities {where}", hint="count(w) ** 0.75, <unk> set to 0, then "
                     "divide by the sum.", rtol=1e-5, atol=1e-9)


# --- Exercise 1.2 ---------------------------------------------------------------------------------

@exercise("Exercise 1.2 · subsampling: the probability of keeping a word", time_limit=30,
          forbid=(f"{_W2V}:subsample",))
def subsample_keep(fn):
    """``fn(freq, t)``: relative word frequencies f(w) (NumPy array) and the threshold t -> the
    probability of KEEPING each occurrence, min(1, sqrt(t / f(w))) (Mikolov 2013b, eq. 5 discards a word
    with probability 1 - sqrt(t / f(w)))."""
    rng = np.random.default_rng()
    # never within 3x of bert_ms's default 1e-4, and the second far from the paper's 1e-5 too
    for t in (float(10 ** rng.uniform(-5.5, -4.5)), float(10 ** rng.uniform(-3.5, -2.5))):
        near = t * np.array([0.98, 1.0, 1.03])  # just below, at and just above the threshold
        freq = np.concatenate([t * 10 ** rng.uniform(1.0, 3.0, 4), near, t * 10 ** rng.uniform(-3.0, -1.0, 3)])
        freq = freq[rng.permutation(len(freq))]
        want = np.minimum(1.0, np.sqrt(t / freq))
        got = to_numpy(fn(freq.copy(), t))
        where = f"for t = {t:.3g} and frequencies {np.array2string(freq, precision=3)}"
        if got.dtype == np.bool_:
            raise Mismatch(f"{where}: you returned True/False draws; return the keep PROBABILITY of each word.")
        got = got.astype(np.float64)
        if got.shape == want.shape:
            def close(other, got=got):
                return np.allclose(got, other, rtol=1e-5, atol=1e-9)

            root = np.sqrt(t / freq)
            if close(1 - want) or close(np.maximum(0.0, 1 - root)) or close(1 - root):
                raise Mismatch(f"{where}: that is the probability of DISCARDING a word (eq. 5); return the "
                               "probability of keeping it.")
            if close(root):
                raise Mismatch(f"{where}: rare words (f < t) get sqrt(t/f) > 1, which is not a probability. Hint: cap "
                               "it at 1 (rare words are always kept).")
            if close(np.minimum(1.0, root + t / freq)):
                raise Mismatch(f"{where}: that is the formula of word2vec's C code, sqrt(t/f) + t/f; this exercise "
                               "(and bert_ms) uses the paper's eq. 5: keep with probability min(1, sqrt(t/f)).")
            if close(np.minimum(1.0, np.sqrt(1e-4 / freq))):
                raise Mismatch(f"{where}: you used t = 1e-4, not the t passed in.")
            if close(np.minimum(1.0, t / freq)):
                raise Mismatch(f"{where}: the square root is missing: keep = min(1, sqrt(t / f)).")
            if close(np.minimum(1.0, np.sqrt(freq / t))):
                raise Mismatch(f"{where}: the ratio is upside down: frequent words must be kept LESS often, "
                               "sqrt(t / f).")
        expect_close(got, want, f"keep probabilities {where}", hint="keep = min(1, sqrt(t / f)).", rtol=1e-5,
                     atol=1e-9)


# --- Exercise 1.3 ---------------------------------------------------------------------------------

def _center_grad(v, u_pos, u_neg, pos_factor=None, noise_sign=1.0, noise_reduce="sum", neg_arg=1.0):
    """∂ℓ/∂v_c of one pair's loss ℓ = -log σ(u_o·v_c) - Σ_k log σ(-u_k·v_c), and its typical variants."""
    s_pos = _sigmoid((u_pos * v).sum(-1))
    s_neg = _sigmoid(neg_arg * (u_neg * v[:, None, :]).sum(-1))
    factor = (1 - s_pos) if pos_factor is None else pos_factor(s_pos)
    noise = s_neg[..., None] * u_neg
    noise = noise.sum(1) if noise_reduce == "sum" else noise.mean(1)
    return -factor[:, None] * u_pos + noise_sign * noise


@exercise("Exercise 1.3 · the gradient of the skip-gram loss with respect to the centre vector", time_limit=30,
          forbid=_AUTODIFF)
def skipgram_center_grad(fn):
    """``fn(v, u_pos, u_neg)``: centre vectors [B, D], true context vectors [B, D], noise context vectors
    [B, K, D] (MindSpore float32 tensors) -> [B, D], row i the gradient of pair i's loss
    ℓ_i = -log σ(u_o·v_c) - Σ_k log σ(-u_k·v_c) (Mikolov 2013b, eq. 4) with respect to its v_c:
    -(1 - σ(u_o·v_c)) u_o + Σ_k σ(u_k·v_c) u_k. Derived by hand: MindSpore's autodiff is not allowed."""
    rng = np.random.default_rng()
    for batch, dim, k in [(int(rng.integers(4, 9)), int(rng.integers(5, 10)), int(rng.integers(3, 7))),
                          (int(rng.integers(2, 4)), int(rng.integers(2, 5)), 1)]:
        # float32 inputs, and the reference computed in float64 from those very values
        v, u_pos = (rng.normal(0, 0.8, (batch, dim)).astype(np.float32) for _ in range(2))
        u_neg = rng.normal(0, 0.8, (batch, k, dim)).astype(np.float32)
        got = fn(*(ms.Tensor(a) for a in (v, u_pos, u_neg)))
        v, u_pos, u_neg = (a.astype(np.float64) for a in (v, u_pos, u_neg))
        want = _center_grad(v, u_pos, u_neg)
        got = to_numpy(got)
        where = f"for a batch of B={batch} pairs, D={dim}, K={k} noise word{'s' if k > 1 else ''}"
        if got.shape == want.shape:
            got = got.astype(np.float64)

            def close(other, got=got):
                return np.allclose(got, other, rtol=1e-4, atol=1e-5)

            if not close(want):
                if close(-want):
                    raise Mismatch(f"{where}: your result is minus the gradient (the direction of descent); return "
                                   "∂ℓ/∂v_c itself.")
                if close(want / batch):
                    raise Mismatch(f"{where}: your gradient is divided by the batch size: give each pair's own "
                                   "gradient (of ℓ_i, not of the batch mean).")
                if close(_center_grad(v, u_pos, u_neg, pos_factor=lambda s: s)):
                    raise Mismatch(f"{where}: the true pair's term has σ(u_o·v_c) where it needs 1 − σ(u_o·v_c). "
                                   "Hint: d/dx log σ(x) = 1 − σ(x).")
                if close(_center_grad(v, u_pos, u_neg, noise_sign=-1.0)):
                    raise Mismatch(f"{where}: the noise term has the wrong sign: d/dx [−log σ(−x)] = +σ(x), so the "
                                   "noise vectors enter with a plus (the descent step then moves v_c away from them).")
                if close(_center_grad(v, u_pos, u_neg, neg_arg=-1.0)):
                    raise Mismatch(f"{where}: the noise words are weighted by σ(−u_k·v_c); the derivative of "
                                   "−log σ(−x) is σ(+x).")
                if close(_center_grad(v, u_pos, u_neg, noise_reduce="mean")):
                    raise Mismatch(f"{where}: you averaged over the K noise words; the loss SUMS over them.")
                if close(_center_grad(v, u_pos, u_neg, pos_factor=lambda s: 0 * s)):
                    raise Mismatch(f"{where}: the true context's term −(1 − σ(u_o·v_c)) u_o is missing.")
                if close(-(1 - _sigmoid((u_pos * v).sum(-1)))[:, None] * u_pos):
                    raise Mismatch(f"{where}: the noise words' term Σ_k σ(u_k·v_c) u_k is missing.")
        expect_close(got, want, f"gradient {where}", hint="−(1 − σ(u_o·v_c)) u_o + Σ_k σ(u_k·v_c) u_k, one row per "
                     "pair.", rtol=1e-4, atol=1e-5)


# --- Exercise 1.4 ---------------------------------------------------------------------------------

def _neighbour_case(rng, size, dim, query, k, copies=(), tie=False):
    """Vectors for one nearest-neighbour question: the query's nearest rows (by cosine) are short and
    the rest long, so ranking by the dot product gets them wrong; optionally exact copies of the query
    at the rows ``copies`` (cosine 1, to be listed first: a tie with the query itself, which an answer
    that drops the first of the sorted rows instead of the query's own index gets wrong) and two rows
    pointing the same way at the k-th place (a tie: either may come first)."""
    directions = rng.normal(0, 1, (size, dim))
    unit = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    cos = unit @ unit[query]
    cos[query] = np.inf
    order = np.argsort(-cos)  # query first, then its neighbours
    lengths = rng.uniform(2.0, 6.0, size)
    lengths[order[1:k + 2]] = rng.uniform(0.05, 0.2, k + 1)  # the true neighbours (and the next one) are short
    lengths[query] = rng.uniform(0.5, 1.5)
    vectors = unit * lengths[:, None]
    if tie:  # the k-th and (k+1)-th neighbours point the same way: both have the k-th best cosine
        kth, nxt = order[k], order[k + 1]
        vectors[nxt] = vectors[kth] * rng.uniform(1.5, 3.0)
    for row in copies:
        vectors[row] = vectors[query]
    return vectors


def _cosines(vectors, query):
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return unit @ unit[query]


@exercise("Exercise 1.4 · nearest neighbours by cosine similarity", time_limit=30,
          forbid=(f"{_W2V}:nearest", f"{_W2V}:cosine_similarity", f"{_W2V}:analogy"))
def nearest_words(fn):
    """``fn(vectors, query, k)``: a [V, D] NumPy matrix, a row index and k -> the indices of the k rows with
    the highest cosine similarity to row ``query``, best first, the query itself excluded (rows tied in
    cosine may come in either order)."""
    rng = np.random.default_rng()
    cases = []  # (size, query, k, rows that are exact copies of the query, tie at the k-th place)
    for _ in range(6):  # copies on both sides of the query: however a sort orders ties, the query is not first
        size = int(rng.integers(9, 14))
        query = int(rng.integers(2, size - 2))
        copies = (int(rng.integers(0, query)), int(rng.integers(query + 1, size)))
        cases.append((size, query, int(rng.integers(3, 5)), copies, False))
    big = int(rng.integers(30, 60))
    cases += [(big, int(rng.integers(1, big - 1)), int(rng.integers(5, 9)), (), True),
              (big, 0, 1, (), False),  # the first row, k = 1
              (big, big - 1, int(rng.integers(2, 5)), (), True)]  # the last row
    for size, query, k, copies, tie in cases:
        vectors = _neighbour_case(rng, size, int(rng.integers(4, 9)), query, k, copies, tie)
        cos = _cosines(vectors, query)
        cos[query] = -np.inf
        best = np.sort(cos)[::-1][:k]
        raw = fn(vectors.copy(), query, k)
        where = f"for row {query} of a [{size}, {vectors.shape[1]}] matrix with k={k}"
        if copies:
            where += f" (rows {copies[0]} and {copies[1]} are exact copies of row {query})"
        arr = to_numpy(raw).reshape(-1) if not isinstance(raw, (list, tuple)) else np.asarray(raw).reshape(-1)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number)):
            raise Mismatch(f"{where}: expected a list of row indices (integers), got {raw!r}.")
        if arr.size and not np.all(np.equal(np.mod(arr, 1), 0)):
            raise Mismatch(f"{where}: expected row indices (integers), got {arr[:8].tolist()}: similarities? Return "
                           "the indices of the best rows.")
        got = [int(i) for i in arr]
        want = [int(i) for i in np.argsort(-cos, kind="stable")[:k]]
        if query in got:
            raise Mismatch(f"{where}: row {query} is in its own neighbour list {got}: exclude the query row itself "
                           "(its cosine with itself is 1), by its index: dropping the first row of the sorted list "
                           "drops a copy when one ties with it.")
        if len(got) != k:
            raise Mismatch(f"{where}: expected {k} indices, got {len(got)}: expected {want}, got {got}.")
        if len(set(got)) != k or any(not 0 <= i < size for i in got):
            raise Mismatch(f"{where}: expected {k} different row indices in 0..{size - 1}, got {got}.")
        got_cos = cos[got]
        if not np.allclose(got_cos, best, rtol=0, atol=1e-6):
            dots = vectors @ vectors[query]
            dots[query] = -np.inf
            i = int(np.argmax(~np.isclose(got_cos, best, rtol=0, atol=1e-6)))
            if got == [int(j) for j in np.argsort(-dots)[:k]]:
                raise Mismatch(f"{where}: you ranked by the dot product: expected {want}, got {got}. Hint: divide by "
                               "both vectors' lengths (cosine), or long vectors win.")
            if np.allclose(got_cos, np.sort(cos[np.isfinite(cos)])[:k], atol=1e-6):
                raise Mismatch(f"{where}: you returned the LEAST similar rows: expected {want}, got {got}. Sort from "
                               "the highest cosine down.")
            if copies and not set(copies) & set(got):
                raise Mismatch(f"{where}: the exact copies of row {query} (cosine 1) are missing from {got}: they are "
                               "different rows; exclude only the query, by its index.")
            raise Mismatch(f"{where}: place {i} should hold a row of cosine {best[i]:.4f}, got row {got[i]} of cosine "
                           f"{got_cos[i]:.4f} (expected {want}, got {got}). Hint: sort by cosine similarity, highest "
                           "first.")
