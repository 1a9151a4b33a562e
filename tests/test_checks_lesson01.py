"""Adversarial suite for lesson 01's checks (bert_ms/exercises/lesson01.py): for every check, typical
mistakes are rejected on every one of 20 runs with a message naming the mistake, and correct answers
in other styles are accepted on every one of 20 runs."""

from __future__ import annotations

import mindspore as ms
import numpy as np
import pytest
from adversarial import accepted_every_run, rejected_every_run
from mindspore import ops

from bert_ms.classic import word2vec
from bert_ms.exercises import check

# --- Exercise 1.1: noise_distribution -------------------------------------------------------------


def _pow(counts, power):
    w = counts.astype(np.float64) ** power
    w[0] = 0.0
    return w / w.sum()


def _unk_zeroed_after(counts):
    p = counts.astype(np.float64) ** 0.75
    p /= p.sum()
    p[0] = 0.0
    return p


def _power_of_probabilities(counts):  # normalise, then raise to 3/4, never renormalised
    p = counts.astype(np.float64)
    p[0] = 0.0
    return (p / p.sum()) ** 0.75


NOISE_WRONG = [
    (lambda counts: _pow(counts, 1.0), "3/4 power"),
    (lambda counts: _pow(counts, 3 // 4), "same probability"),
    (lambda counts: _pow(counts, 4 / 3), "4/3"),
    (lambda counts: _pow(counts, 0.5), "count(w) ** 0.75"),
    (lambda counts: (counts ** 0.75) / (counts ** 0.75).sum(), "<unk>"),
    (lambda counts: (counts[1:] ** 0.75) / (counts[1:] ** 0.75).sum(), "keep <unk> in the array"),
    (_unk_zeroed_after, "sum to"),
    (_power_of_probabilities, "sum to"),
    (lambda counts: word2vec.noise_distribution(counts), "write it yourself"),
    (lambda counts: np.full(len(counts), 1 / len(counts)), "<unk>"),
]


@pytest.mark.parametrize("answer,words", NOISE_WRONG)
def test_noise_distribution_rejects(answer, words):
    rejected_every_run(check.noise_distribution, answer, words)


def _noise_loop(counts):
    weights = [0.0] + [float(c) ** (3 / 4) for c in counts[1:]]
    total = sum(weights)
    return [w / total for w in weights]


def _noise_mindspore(counts):  # float32 MindSpore ops
    w = ops.pow(ms.Tensor(counts, ms.float32), 0.75) * ms.Tensor(np.arange(len(counts)) > 0, ms.float32)
    return w / w.sum()


def _noise_from_frequencies(counts):  # (c / N) ** 0.75 is proportional to c ** 0.75
    f = counts / counts.sum()
    w = np.where(np.arange(len(counts)) == 0, 0.0, f ** 0.75)
    return w / w.sum()


@pytest.mark.parametrize("answer", [_noise_loop, _noise_mindspore, _noise_from_frequencies])
def test_noise_distribution_accepts(answer):
    accepted_every_run(check.noise_distribution, answer)


# --- Exercise 1.2: subsample_keep -----------------------------------------------------------------

SUBSAMPLE_WRONG = [
    (lambda freq, t: 1 - np.minimum(1.0, np.sqrt(t / freq)), "discarding"),
    (lambda freq, t: np.maximum(0.0, 1 - np.sqrt(t / freq)), "discarding"),
    (lambda freq, t: np.sqrt(t / freq), "cap it at 1"),
    (lambda freq, t: np.minimum(1.0, np.sqrt(t / freq) + t / freq), "C code"),
    (lambda freq, t: np.minimum(1.0, np.sqrt(1e-4 / freq)), "t = 1e-4"),
    (lambda freq, t: np.minimum(1.0, t / freq), "square root"),
    (lambda freq, t: np.minimum(1.0, np.sqrt(freq / t)), "upside down"),
    (lambda freq, t: np.maximum(1.0, np.sqrt(t / freq)), "keep = min(1"),
    (lambda freq, t: np.random.default_rng(0).random(len(freq)) < np.minimum(1.0, np.sqrt(t / freq)), "draws"),
    (lambda freq, t: np.where(freq > t, np.sqrt(t / freq), 0.0), "keep probabilities"),
]


@pytest.mark.parametrize("answer,words", SUBSAMPLE_WRONG)
def test_subsample_keep_rejects(answer, words):
    rejected_every_run(check.subsample_keep, answer, words)


def _subsample_forbidden(freq, t):  # estimate the keep rate by running the package's subsampler
    counts = np.round(freq * 1e9).astype(np.int64)
    ids = np.repeat(np.arange(len(freq)), 200)
    kept = word2vec.subsample(ids, counts, np.random.default_rng(0), t=t)
    return np.bincount(kept, minlength=len(freq)) / 200


def test_subsample_keep_forbids_the_package():
    rejected_every_run(check.subsample_keep, _subsample_forbidden, "write it yourself")


@pytest.mark.parametrize("answer", [
    lambda freq, t: np.clip(np.sqrt(t / freq), 0, 1),
    lambda freq, t: [min(1.0, (t / f) ** 0.5) for f in freq],
    lambda freq, t: np.where(freq <= t, 1.0, np.sqrt(t / np.maximum(freq, t))),
    lambda freq, t: ops.clamp(ops.sqrt(t / ms.Tensor(freq, ms.float32)), max=1.0),
])
def test_subsample_keep_accepts(answer):
    accepted_every_run(check.subsample_keep, answer)


# --- Exercise 1.3: skipgram_center_grad -----------------------------------------------------------

def _parts(v, u_pos, u_neg):
    s_pos = ops.sigmoid((u_pos * v).sum(-1, keepdims=True))  # [B, 1]
    s_neg = ops.sigmoid((u_neg * v.expand_dims(1)).sum(-1, keepdims=True))  # [B, K, 1]
    return s_pos, s_neg


def _g_sigma(v, u_pos, u_neg):
    s_pos, s_neg = _parts(v, u_pos, u_neg)
    return -s_pos * u_pos + (s_neg * u_neg).sum(1)


def _g_noise_sign(v, u_pos, u_neg):
    s_pos, s_neg = _parts(v, u_pos, u_neg)
    return -(1 - s_pos) * u_pos - (s_neg * u_neg).sum(1)


def _g_ascent(v, u_pos, u_neg):
    s_pos, s_neg = _parts(v, u_pos, u_neg)
    return (1 - s_pos) * u_pos - (s_neg * u_neg).sum(1)


def _g_batch_mean(v, u_pos, u_neg):
    s_pos, s_neg = _parts(v, u_pos, u_neg)
    return (-(1 - s_pos) * u_pos + (s_neg * u_neg).sum(1)) / v.shape[0]


def _g_noise_mean(v, u_pos, u_neg):
    s_pos, s_neg = _parts(v, u_pos, u_neg)
    return -(1 - s_pos) * u_pos + (s_neg * u_neg).mean(1)


def _g_sigma_minus(v, u_pos, u_neg):  # σ(−u_k·v_c) for the noise words
    s_pos, _ = _parts(v, u_pos, u_neg)
    s_neg = ops.sigmoid(-(u_neg * v.expand_dims(1)).sum(-1, keepdims=True))
    return -(1 - s_pos) * u_pos + (s_neg * u_neg).sum(1)


def _g_no_positive(v, u_pos, u_neg):
    _, s_neg = _parts(v, u_pos, u_neg)
    return (s_neg * u_neg).sum(1)


def _g_no_noise(v, u_pos, u_neg):
    s_pos, _ = _parts(v, u_pos, u_neg)
    return -(1 - s_pos) * u_pos


def _g_wrt_context(v, u_pos, u_neg):  # the gradient with respect to u_o instead of v_c
    s_pos, _ = _parts(v, u_pos, u_neg)
    return -(1 - s_pos) * v


def _g_autodiff(v, u_pos, u_neg):
    def loss(vv):
        pos = ops.log(ops.sigmoid((u_pos * vv).sum(-1)))
        neg = ops.log(ops.sigmoid(-(u_neg * vv.expand_dims(1)).sum(-1))).sum(-1)
        return -(pos + neg).sum()

    return ms.grad(loss)(v)


GRAD_WRONG = [
    (_g_sigma, "where it needs 1 − σ"),
    (_g_noise_sign, "wrong sign"),
    (_g_ascent, "minus the gradient"),
    (_g_batch_mean, "batch size"),
    (_g_noise_mean, "averaged over the K noise words"),
    (_g_sigma_minus, "σ(−u_k·v_c)"),
    (_g_no_positive, "true context's term"),
    (_g_no_noise, "noise words' term"),
    (_g_wrt_context, "gradient for a batch"),
    (lambda v, u_pos, u_neg: ops.zeros_like(v), "gradient for a batch"),
]


@pytest.mark.parametrize("answer,words", GRAD_WRONG)
def test_skipgram_center_grad_rejects(answer, words):
    rejected_every_run(check.skipgram_center_grad, answer, words)


def test_skipgram_center_grad_forbids_autodiff():
    rejected_every_run(check.skipgram_center_grad, _g_autodiff, "write it yourself", runs=3)


def _g_numpy_loop(v, u_pos, u_neg):  # float64 NumPy, one pair at a time
    v, u_pos, u_neg = (t.asnumpy().astype(np.float64) for t in (v, u_pos, u_neg))
    out = np.zeros_like(v)
    for i in range(len(v)):
        out[i] = -(1 - 1 / (1 + np.exp(-u_pos[i] @ v[i]))) * u_pos[i]
        for u in u_neg[i]:
            out[i] += u / (1 + np.exp(-u @ v[i]))
    return out


def _g_einsum_style(v, u_pos, u_neg):  # σ(−x) = 1 − σ(x), matmul for the noise scores
    s_pos = ops.sigmoid(-(u_pos * v).sum(-1)).expand_dims(-1)  # 1 − σ(u_o·v_c)
    scores = ops.bmm(u_neg, v.expand_dims(-1))  # [B, K, 1]
    return -s_pos * u_pos + ops.bmm(ops.sigmoid(scores).transpose(0, 2, 1), u_neg).squeeze(1)


@pytest.mark.parametrize("answer", [_g_numpy_loop, _g_einsum_style])
def test_skipgram_center_grad_accepts(answer):
    accepted_every_run(check.skipgram_center_grad, answer)


# --- Exercise 1.4: nearest_words ------------------------------------------------------------------

def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _cos_sorted(vectors, query):
    return np.argsort(-(_unit(vectors) @ _unit(vectors[query])))


def _skip_first(vectors, query, k):  # assumes the query always sorts first
    return list(_cos_sorted(vectors, query)[1:k + 1])


def _skip_first_reversed(vectors, query, k):
    sims = _unit(vectors) @ _unit(vectors[query])
    return list(np.argsort(sims)[::-1][1:k + 1])


def _exclude_by_value(vectors, query, k):
    sims = _unit(vectors) @ _unit(vectors[query])
    sims[sims > 1 - 1e-9] = -np.inf
    return list(np.argsort(-sims)[:k])


def _by_dot(vectors, query, k):
    sims = vectors @ vectors[query]
    sims[query] = -np.inf
    return list(np.argsort(-sims)[:k])


def _by_distance(vectors, query, k):  # Euclidean distance on the raw vectors
    d = np.linalg.norm(vectors - vectors[query], axis=1)
    d[query] = np.inf
    return list(np.argsort(d)[:k])


def _ascending(vectors, query, k):
    sims = _unit(vectors) @ _unit(vectors[query])
    sims[query] = np.inf
    return list(np.argsort(sims)[:k])


def _columns_normalised(vectors, query, k):
    unit = vectors / np.linalg.norm(vectors, axis=0, keepdims=True)
    sims = unit @ unit[query]
    sims[query] = -np.inf
    return list(np.argsort(-sims)[:k])


def _k_plus_one(vectors, query, k):
    sims = _unit(vectors) @ _unit(vectors[query])
    sims[query] = -np.inf
    return list(np.argsort(-sims)[:k + 1])


def _hard_k(vectors, query, k):
    sims = _unit(vectors) @ _unit(vectors[query])
    sims[query] = -np.inf
    return list(np.argsort(-sims)[:5])


def _similarities(vectors, query, k):
    sims = _unit(vectors) @ _unit(vectors[query])
    sims[query] = -np.inf
    return np.sort(sims)[::-1][:k]


def _package(vectors, query, k):
    itos = [str(i) for i in range(len(vectors))]
    return [int(w) for w in word2vec.nearest(vectors, itos, {w: i for i, w in enumerate(itos)}, str(query), k)]


def _package_analogy(vectors, query, k):
    itos = [str(i) for i in range(len(vectors))]
    w = str(query)
    return [int(x) for x in word2vec.analogy(vectors, itos, {s: i for i, s in enumerate(itos)}, w, w, w, k)]


NEAREST_WRONG = [
    (_skip_first, "exclude the query"),
    (_skip_first_reversed, "exclude the query"),
    (_exclude_by_value, "exact copies"),
    (_by_dot, "dot product"),
    (_by_distance, "expected"),
    (_ascending, "least similar"),
    (_columns_normalised, "cosine"),
    (_k_plus_one, "indices, got"),
    (_hard_k, "indices, got"),
    (_similarities, "integers"),
    (_package, "write it yourself"),
    (_package_analogy, "write it yourself"),
]


@pytest.mark.parametrize("answer,words", NEAREST_WRONG)
def test_nearest_words_rejects(answer, words):
    rejected_every_run(check.nearest_words, answer, words)


def _loop_argmax(vectors, query, k):  # k passes of argmax, float32
    unit = _unit(vectors.astype(np.float32))
    sims = unit @ unit[query]
    sims[query] = -np.inf
    out = []
    for _ in range(k):
        best = int(np.argmax(sims))
        out.append(best)
        sims[best] = -np.inf
    return out


def _unit_distance(vectors, query, k):  # Euclidean distance between unit vectors ranks like the cosine
    unit = _unit(vectors)
    d = ((unit - unit[query]) ** 2).sum(1)
    d[query] = np.inf
    return tuple(np.argsort(d, kind="stable")[:k])


def _mindspore_topk(vectors, query, k):
    x = ms.Tensor(vectors, ms.float32)
    unit = x / ops.norm(x, dim=1, keepdim=True)
    sims = ops.matmul(unit, unit[query])
    mask = ms.Tensor(np.arange(len(vectors)) == query)
    sims = ops.masked_fill(sims, mask, ms.Tensor(-2.0, ms.float32))
    return ops.topk(sims, k)[1]


def _rows_normalised_only(vectors, query, k):  # dividing by the query's length changes no ranking
    sims = _unit(vectors) @ vectors[query]
    order = [int(i) for i in np.argsort(-sims) if i != query]
    return order[:k]


@pytest.mark.parametrize("answer", [_loop_argmax, _unit_distance, _mindspore_topk, _rows_normalised_only])
def test_nearest_words_accepts(answer):
    accepted_every_run(check.nearest_words, answer)
