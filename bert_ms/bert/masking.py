"""Masked language model inputs (掩码语言模型, MLM): which tokens are chosen, and what they become.

BERT (Devlin et al., 2019, Section 3.1, Task #1; google-research/bert ``create_pretraining_data.py``):
15 % of the tokens are chosen (never ``[CLS]``, ``[SEP]`` or ``[PAD]``); of these 80 % become ``[MASK]``,
10 % a random token of the vocabulary (:func:`random_token_pool`), 10 % stay unchanged.
:func:`create_masked_lm_predictions` does it for one token sequence, with whole-word masking (全词掩码)
and SpanBERT's geometric span lengths (Joshi et al., 2020; :func:`span_length_distribution`) as options;
:func:`mask_ids_batch` does it for a batch of id arrays at once (dynamic masking, RoBERTa, Liu et al.,
2019, Section 4.1). Sentence pairs and the fixed-shape arrays that hold the result are
:mod:`bert_ms.bert.pretraining`. Departures from google-research/bert are in each function's docstring.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Sequence

import numpy as np

SPECIAL = ("[CLS]", "[SEP]", "[PAD]")  # never chosen for prediction


def as_rng(rng) -> np.random.Generator:
    """A NumPy Generator: ``rng`` itself, or a new one from an int seed (None: fresh entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, int | np.integer):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy Generator or an int seed, got {type(rng).__name__}")


# The last few vocabularies' pools, newest last. Bounded: each entry holds its vocab (so its id() cannot be
# reused while cached) and a pool of about the vocab's size; an unbounded cache keyed by id() kept every
# vocab ever passed alive (a fresh dict per call grew memory without limit).
POOL_CACHE_SIZE = 4
_POOL_CACHE: collections.OrderedDict[int, tuple[object, np.ndarray, list[str]]] = collections.OrderedDict()


def random_token_pool(vocab) -> tuple[np.ndarray, list[str]]:
    """Ids and tokens that may replace a chosen token: every token that is not a bracketed
    special such as ``[CLS]``, ``[PAD]``, ``[MASK]`` or ``[unused17]``.

    The pools of the last :data:`POOL_CACHE_SIZE` vocabularies are cached (least recently used out).

    Departure: google-research/bert draws from the whole vocabulary, specials included.
    """
    vocab = getattr(vocab, "vocab", vocab)
    key = id(vocab)
    hit = _POOL_CACHE.get(key)
    if hit is not None and hit[0] is vocab:
        _POOL_CACHE.move_to_end(key)
        return hit[1], hit[2]
    items = sorted((i, t) for t, i in vocab.items() if not (t.startswith("[") and t.endswith("]")))
    ids = np.array([i for i, _ in items], dtype=np.int64)
    tokens = [t for _, t in items]
    _POOL_CACHE[key] = (vocab, ids, tokens)
    _POOL_CACHE.move_to_end(key)
    while len(_POOL_CACHE) > POOL_CACHE_SIZE:
        _POOL_CACHE.popitem(last=False)
    return ids, tokens


def _n_to_predict(n_candidates: int, masked_lm_prob: float, max_predictions: int, rng: np.random.Generator) -> int:
    """Stochastically rounded ``n * p`` so the expected masked fraction is exactly ``p``."""
    exact = n_candidates * masked_lm_prob
    n = int(math.floor(exact))
    if rng.random() < exact - n:
        n += 1
    return min(n, max_predictions, n_candidates)


def _word_groups(tokens: Sequence[str], candidates: list[int], whole_word: bool,
                 word_ids: Sequence[int] | None) -> list[list[int]]:
    if word_ids is not None:
        groups: list[list[int]] = []
        for i in candidates:
            if groups and word_ids[i] == word_ids[groups[-1][-1]] and groups[-1][-1] == i - 1:
                groups[-1].append(i)
            else:
                groups.append([i])
        return groups
    if not whole_word:
        return [[i] for i in candidates]
    groups = []
    for i in candidates:
        if groups and tokens[i].startswith("##") and groups[-1][-1] == i - 1:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def span_length_distribution(p: float = 0.2, max_len: int = 10) -> np.ndarray:
    """SpanBERT's span lengths: Geometric(p) truncated to ``1..max_len`` and renormalised.

    ``P(l) = p (1-p)^(l-1) / sum_k p (1-p)^(k-1)``; for p=0.2, max 10 the mean is 3.8 words
    (Joshi et al., 2020, Section 3.1). Index ``l - 1`` holds ``P(l)``.
    """
    lengths = np.arange(1, max_len + 1)
    probs = p * (1 - p) ** (lengths - 1)
    return probs / probs.sum()


def _span_length(rng: np.random.Generator, p: float, max_len: int) -> int:
    return int(rng.choice(max_len, p=span_length_distribution(p, max_len))) + 1


def create_masked_lm_predictions(tokens: Sequence[str], vocab, rng, masked_lm_prob: float = 0.15,
                                 max_predictions_per_seq: int = 20, whole_word: bool = False,
                                 span: str | tuple[float, int] | None = None,
                                 word_ids: Sequence[int] | None = None,
                                 ) -> tuple[list[str], list[int], list[str]]:
    """Choose ~15 % of the tokens and corrupt them with the 80/10/10 rule (BERT Section 3.1).

    Args:
        tokens: one sequence, usually ``[CLS] A [SEP] B [SEP]``; ``[CLS]``, ``[SEP]`` and
            ``[PAD]`` are never chosen.
        vocab: ``dict[str, int]`` (or a :class:`~bert_ms.tokenization.BertTokenizer`): the
            pool of random replacement tokens.
        rng: a ``numpy.random.Generator`` (or an int seed).
        whole_word: choose whole words: a word's ``##`` pieces are masked together.
        span: ``"geometric"`` for SpanBERT spans (length ~ Geometric(p=0.2) clipped at 10
            words, mean 3.8; Joshi et al. 2020 Section 3.1) or a tuple ``(p, max_len)``; the
            80/10/10 decision is then made per span, as SpanBERT does.
        word_ids: optional word index per token (e.g. from a Chinese word segmenter):
            pieces of one word are masked together. With real words or phrases this is
            the ERNIE/BERT-wwm-Chinese style; with ``span`` it masks spans of those words.

    Returns ``(output_tokens, masked_positions, masked_labels)``: positions ascending,
    labels the original tokens.

    Departures from google-research/bert: the number to mask is 15 % of the *maskable*
    tokens (not of all tokens incl. ``[CLS]``/``[SEP]``) and is rounded stochastically, so
    the expected masked fraction is exactly ``masked_lm_prob`` (a very short sequence may
    get no prediction, where Google forces at least one); random replacements never draw a
    special token.
    """
    rng = as_rng(rng)
    pool_ids, pool_tokens = random_token_pool(vocab)
    tokens = list(tokens)
    candidates = [i for i, t in enumerate(tokens) if t not in SPECIAL]
    n_predict = _n_to_predict(len(candidates), masked_lm_prob, max_predictions_per_seq, rng)
    groups = _word_groups(tokens, candidates, whole_word or span is not None, word_ids)

    chosen: list[list[int]] = []
    n_chosen = 0
    if span is None:
        for g in rng.permutation(len(groups)):
            if n_chosen >= n_predict:
                break
            group = groups[g]
            if n_chosen + len(group) > n_predict:
                continue
            chosen.append(group)
            n_chosen += len(group)
    else:
        p, max_len = (0.2, 10) if span == "geometric" else span
        covered = np.zeros(len(groups), dtype=bool)
        tries = 0
        while n_chosen < n_predict and tries < 10 * max(n_predict, 1) and len(groups):
            tries += 1
            length = _span_length(rng, p, max_len)
            start = int(rng.integers(len(groups)))
            stop = min(start + length, len(groups))
            if covered[start:stop].any():
                continue
            # keep whole words; stop early when the budget is reached
            span_pos: list[int] = []
            for gi in range(start, stop):
                if n_chosen + len(span_pos) + len(groups[gi]) > n_predict:
                    break
                span_pos.extend(groups[gi])
                covered[gi] = True
            if span_pos:
                chosen.append(span_pos)
                n_chosen += len(span_pos)

    output = list(tokens)
    positions: list[int] = []
    per_span = span is not None
    for unit in chosen:
        units = [unit] if per_span else [[i] for i in unit]
        for sub in units:
            r = rng.random()
            for i in sub:
                if r < 0.8:
                    output[i] = "[MASK]"
                elif r >= 0.9:
                    output[i] = pool_tokens[int(rng.integers(len(pool_ids)))]
                # else: 10 % keep the original token
                positions.append(i)
    positions.sort()
    return output, positions, [tokens[i] for i in positions]


def mask_ids_batch(input_ids: np.ndarray, maskable: np.ndarray, rng, mask_token_id: int,
                   pool_ids: np.ndarray, masked_lm_prob: float = 0.15,
                   max_predictions_per_seq: int = 20) -> dict[str, np.ndarray]:
    """Vectorised token-level masking of a whole id matrix ``[N, T]`` (used for dynamic masking).

    Same rule as :func:`create_masked_lm_predictions` (15 % of the maskable tokens with
    stochastic rounding, at most ``max_predictions_per_seq``, 80/10/10) without the
    Python loop. ``maskable`` is True where a token may be chosen.
    """
    rng = as_rng(rng)
    ids = np.asarray(input_ids)
    n, t = ids.shape
    p = max_predictions_per_seq
    maskable = np.asarray(maskable, dtype=bool)
    n_cand = maskable.sum(axis=1)
    exact = n_cand * masked_lm_prob
    k = np.floor(exact).astype(np.int64)
    k += rng.random(n) < (exact - k)
    k = np.minimum(np.minimum(k, p), n_cand)
    scores = rng.random((n, t))
    scores[~maskable] = 2.0
    order = np.argsort(scores, axis=1, kind="stable")[:, :p] if t >= p else np.argsort(scores, axis=1)
    if order.shape[1] < p:
        order = np.pad(order, ((0, 0), (0, p - order.shape[1])))
    valid = np.arange(p)[None, :] < k[:, None]
    pos = np.where(valid, order, t)  # invalid slots sort to the end
    pos = np.sort(pos, axis=1)
    valid = pos < t
    pos = np.where(valid, pos, 0)
    rows = np.repeat(np.arange(n)[:, None], p, axis=1)
    labels = np.where(valid, ids[rows, pos], 0)
    out_ids = ids.copy()
    r = rng.random((n, p))
    to_mask = valid & (r < 0.8)
    to_rand = valid & (r >= 0.9)
    out_ids[rows[to_mask], pos[to_mask]] = mask_token_id
    out_ids[rows[to_rand], pos[to_rand]] = pool_ids[rng.integers(len(pool_ids), size=int(to_rand.sum()))]
    return {"input_ids": out_ids.astype(np.int32), "masked_lm_positions": pos.astype(np.int32),
            "masked_lm_ids": labels.astype(np.int32), "masked_lm_weights": valid.astype(np.float32)}
