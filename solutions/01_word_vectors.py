"""Solutions to the exercises of lesson 01 (static word vectors), and typical wrong answers.

Open this file only after trying: ``check.<name>(your_answer)`` in the notebook says whether you are right.
"""

import numpy as np
from mindspore import ops


# Exercise 1.1 ------------------------------------------------------------------------------------
def noise_distribution(counts):
    weights = counts.astype(np.float64) ** 0.75
    weights[0] = 0.0  # <unk>
    return weights / weights.sum()


def _no_power(counts):
    weights = counts.astype(np.float64)
    weights[0] = 0.0
    return weights / weights.sum()


def _unk_kept(counts):
    weights = counts.astype(np.float64) ** 0.75
    return weights / weights.sum()


# Exercise 1.2 ------------------------------------------------------------------------------------
def subsample_keep(freq, t):
    return np.minimum(1.0, np.sqrt(t / freq))


# Exercise 1.3 ------------------------------------------------------------------------------------
def skipgram_center_grad(v, u_pos, u_neg):
    s_pos = ops.sigmoid((u_pos * v).sum(-1))  # σ(u_o·v_c), one per pair
    s_neg = ops.sigmoid((u_neg * v.expand_dims(1)).sum(-1))  # σ(u_k·v_c), [B, K]
    return -(1 - s_pos).expand_dims(-1) * u_pos + (s_neg.expand_dims(-1) * u_neg).sum(1)


def _sigma_instead_of_one_minus_sigma(v, u_pos, u_neg):
    s_pos = ops.sigmoid((u_pos * v).sum(-1))
    s_neg = ops.sigmoid((u_neg * v.expand_dims(1)).sum(-1))
    return -s_pos.expand_dims(-1) * u_pos + (s_neg.expand_dims(-1) * u_neg).sum(1)


def _noise_sign_flipped(v, u_pos, u_neg):
    s_pos = ops.sigmoid((u_pos * v).sum(-1))
    s_neg = ops.sigmoid((u_neg * v.expand_dims(1)).sum(-1))
    return -(1 - s_pos).expand_dims(-1) * u_pos - (s_neg.expand_dims(-1) * u_neg).sum(1)


def _gradient_of_the_mean(v, u_pos, u_neg):
    return skipgram_center_grad(v, u_pos, u_neg) / v.shape[0]


# Exercise 1.4 ------------------------------------------------------------------------------------
def nearest_words(vectors, query, k):
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = unit @ unit[query]
    sims[query] = -np.inf
    return list(np.argsort(-sims)[:k])


def _by_dot_product(vectors, query, k):
    sims = vectors @ vectors[query]
    sims[query] = -np.inf
    return list(np.argsort(-sims)[:k])


def _query_included(vectors, query, k):
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return list(np.argsort(-(unit @ unit[query]))[:k])


SOLUTIONS = {
    "noise_distribution": noise_distribution,
    "subsample_keep": subsample_keep,
    "skipgram_center_grad": skipgram_center_grad,
    "nearest_words": nearest_words,
}

WRONG = {
    "skipgram_center_grad": [(_sigma_instead_of_one_minus_sigma, "σ(u_o·v_c) where it needs"), (_noise_sign_flipped, "wrong sign"),
                             (_gradient_of_the_mean, "batch size")],
    "noise_distribution": [(_no_power, "3/4 power"), (_unk_kept, "<unk>")],
    "subsample_keep": [(lambda freq, t: 1 - np.minimum(1.0, np.sqrt(t / freq)), "discarding"),
                       (lambda freq, t: np.sqrt(t / freq), "cap it at 1")],
    "nearest_words": [(_by_dot_product, "dot product"), (_query_included, "exclude the query")],
}
