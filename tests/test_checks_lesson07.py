"""Adversarial suite for lesson 07's checks (bert_ms/exercises/lesson07.py): for every check, typical
mistakes are rejected on every run with a message naming the mistake, and correct answers in other styles
are accepted on every run.

Runs: 20 for every answer that the checks judge without statistics (a mistake caught by the structure of
its output, 7.2, 7.4) and for the mistakes of 7.1 / 7.3 that fail on the first call. The checks of 7.1 and
7.3 call the learner's code ~60 and 4 times with ~590,000 tokens / 12,000 pairs per run (a correct 7.1
answer takes ~0.9 s of CPU), so a mistake caught only by the statistics, and a correct answer, are run
twice: each statistical test's false-pass and false-fail probability per run is below 1e-7 (computed in
the comments of lesson07.py), so every run is deterministic to that precision and 20 runs would prove
nothing more than 2 (they would cost ~5 minutes).
"""

from __future__ import annotations

import math
import random

import mindspore as ms
import numpy as np
import pytest
from adversarial import accepted_every_run, rejected_every_run
from mindspore import ops

from bert_ms.bert import losses, masking, pretraining
from bert_ms.exercises import check

STAT_RUNS = 2  # see the module docstring
SPECIAL = ("[CLS]", "[SEP]", "[PAD]")


def _pool(vocab):
    return [t for t in vocab if not (t.startswith("[") and t.endswith("]"))]


def _kinds(tokens, vocab, rng, positions, split=(0.8, 0.9)):
    out, pool = list(tokens), _pool(vocab)
    for i in positions:
        r = rng.random()
        if r < split[0]:
            out[i] = "[MASK]"
        elif r < split[1]:
            out[i] = pool[int(rng.integers(len(pool)))]
    return out, sorted(int(p) for p in positions), [tokens[i] for i in sorted(positions)]


def _n(m, rate, rng):
    exact = rate * m
    return int(exact) + (rng.random() < exact - int(exact))


def _candidates(tokens):
    return [i for i, t in enumerate(tokens) if t not in SPECIAL]


# --- Exercise 7.1: mlm_mask -----------------------------------------------------------------------

def mask_right(tokens, vocab, rng, rate=0.15, split=(0.8, 0.9)):
    cand = _candidates(tokens)
    pos = rng.choice(cand, _n(len(cand), rate, rng), replace=False) if cand else []
    return _kinds(tokens, vocab, rng, pos, split)


def mask_in_order(tokens, vocab, rng):  # the first 15 % of the maskable tokens
    cand = _candidates(tokens)
    return _kinds(tokens, vocab, rng, cand[:_n(len(cand), 0.15, rng)])


def mask_kinds_in_order(tokens, vocab, rng):  # positions random, then the first 80 % of them [MASK], ...
    cand = _candidates(tokens)
    pos = sorted(rng.choice(cand, _n(len(cand), 0.15, rng), replace=False))
    out, pool = list(tokens), _pool(vocab)
    for j, i in enumerate(pos):
        if j < 0.8 * len(pos):
            out[i] = "[MASK]"
        elif j < 0.9 * len(pos):
            out[i] = pool[int(rng.integers(len(pool)))]
    return out, [int(p) for p in pos], [tokens[i] for i in pos]


def mask_kind_from_position(tokens, vocab, rng):  # the kind is i % 10: 80/10/10, but not random
    cand = _candidates(tokens)
    pos = sorted(int(p) for p in rng.choice(cand, _n(len(cand), 0.15, rng), replace=False))
    out, pool = list(tokens), _pool(vocab)
    for i in pos:
        if i % 10 < 8:
            out[i] = "[MASK]"
        elif i % 10 == 8:
            out[i] = pool[int(rng.integers(len(pool)))]
    return out, pos, [tokens[i] for i in pos]


def mask_from_sentence(tokens, vocab, rng):  # random replacements drawn from the sequence itself
    cand = _candidates(tokens)
    pos = sorted(int(p) for p in rng.choice(cand, _n(len(cand), 0.15, rng), replace=False))
    out = list(tokens)
    for i in pos:
        r = rng.random()
        if r < 0.8:
            out[i] = "[MASK]"
        elif r < 0.9:
            out[i] = tokens[cand[int(rng.integers(len(cand)))]]
    return out, pos, [tokens[i] for i in pos]


def mask_from_first_words(tokens, vocab, rng):  # random replacements from the first 100 words only
    cand = _candidates(tokens)
    pos = sorted(int(p) for p in rng.choice(cand, _n(len(cand), 0.15, rng), replace=False))
    out, pool = list(tokens), _pool(vocab)[:100]
    for i in pos:
        r = rng.random()
        if r < 0.8:
            out[i] = "[MASK]"
        elif r < 0.9:
            out[i] = pool[int(rng.integers(len(pool)))]
    return out, pos, [tokens[i] for i in pos]


def mask_own_rng(tokens, vocab, rng):  # ignores the rng it is given
    return mask_right(tokens, vocab, np.random.default_rng())


def mask_fixed_seed(tokens, vocab, rng):  # ignores the rng it is given, reproducibly
    return mask_right(tokens, vocab, np.random.default_rng(0))


def mask_global_numpy(tokens, vocab, rng):
    cand = _candidates(tokens)
    pos = sorted(int(p) for p in np.random.choice(cand, int(0.15 * len(cand)), replace=False))
    return _kinds(tokens, vocab, rng, pos)


def mask_of_all_tokens(tokens, vocab, rng):  # 15 % of len(tokens), specials and padding included
    cand = _candidates(tokens)
    n = min(_n(len(tokens), 0.15, rng), len(cand))
    return _kinds(tokens, vocab, rng, rng.choice(cand, n, replace=False))


def mask_evenly_spaced(tokens, vocab, rng):  # exactly 15 %, evenly spaced from a random start: not random
    cand = _candidates(tokens)
    n = _n(len(cand), 0.15, rng)
    step = len(cand) / max(n, 1)
    start = rng.random() * step
    return _kinds(tokens, vocab, rng, [cand[int(start + j * step)] for j in range(n)])


def mask_with_replacement(tokens, vocab, rng):
    cand = _candidates(tokens)
    pos = rng.choice(cand, _n(len(cand), 0.15, rng), replace=True)
    out = list(tokens)
    for i in pos:
        out[i] = "[MASK]"
    return out, [int(p) for p in pos], [tokens[i] for i in pos]


def mask_package(tokens, vocab, rng):
    return masking.create_masked_lm_predictions(tokens, vocab, rng, max_predictions_per_seq=10 ** 6)


STAT_MISTAKES = [
    (mask_in_order, "not spread over the sequence"),
    (mask_kinds_in_order, "depends on where it is"),
    (mask_kind_from_position, "computed from the position or the token"),
    (lambda t, v, r: mask_right(t, v, r, rate=0.14), "expected 15 %"),
    (lambda t, v, r: mask_right(t, v, r, rate=0.16), "expected 15 %"),
    (lambda t, v, r: mask_right(t, v, r, split=(0.815, 0.91)), "expected [MASK] 80 %"),
    (mask_from_sentence, "not in the sentence itself"),
    (mask_from_first_words, "not spread evenly over the vocabulary"),
    (mask_own_rng, "same seed gave different outputs"),
    (mask_global_numpy, "same seed gave different outputs"),
    (mask_fixed_seed, "different seeds gave the same output"),
    (mask_of_all_tokens, "ALL the tokens"),
    (mask_evenly_spaced, "neighbouring tokens"),
]


@pytest.mark.parametrize("answer,words", STAT_MISTAKES)
def test_mlm_mask_rejects_statistical_mistakes(answer, words):
    rejected_every_run(check.mlm_mask, answer, words, runs=STAT_RUNS)


@pytest.mark.parametrize("answer,words", [
    (mask_with_replacement, "chosen twice"),
    (mask_package, "write it yourself"),
    (lambda t, v, r: tuple(mask_right(t, v, r))[:2], "return a tuple"),
    (lambda t, v, r: (lambda o, p, lab: (o, p, [o[i] for i in p]))(*mask_right(t, v, r)), "ORIGINAL"),
    (lambda t, v, r: (lambda o, p, lab: (o + ["[SEP]"], p, lab))(*mask_right(t, v, r)), "never adds or removes"),
    (lambda t, v, r: (lambda o, p, lab: (o, p, lab[:-1]))(*mask_right(t, v, r)), "one label per chosen position"),
    (lambda t, v, r: (lambda o, p, lab: ([x if x != "[MASK]" else "<mask>" for x in o], p, lab))(*mask_right(t, v, r)),
     "not in the vocabulary"),
])
def test_mlm_mask_rejects_structural_mistakes(answer, words):
    rejected_every_run(check.mlm_mask, answer, words)


def mask_bernoulli(tokens, vocab, rng):  # every maskable token chosen with probability 0.15 (HF's collator)
    out, positions, pool = list(tokens), [], _pool(vocab)
    for i, t in enumerate(tokens):
        if t not in SPECIAL and rng.random() < 0.15:
            positions.append(i)
            r = rng.random()
            out[i] = "[MASK]" if r < 0.8 else pool[int(rng.integers(len(pool)))] if r < 0.9 else t
    return out, positions, [tokens[i] for i in positions]


def mask_numpy_vectorised(tokens, vocab, rng):  # Google's round(), numpy throughout, positions unsorted
    toks = np.array(tokens, dtype=object)
    cand = np.flatnonzero(~np.isin(toks, SPECIAL))
    pos = rng.permutation(cand)[:max(1, int(round(0.15 * len(cand))))]
    r = rng.random(len(pos))
    pool = np.array(list(vocab), dtype=object)  # the whole vocabulary, specials included (Google's choice)
    out = toks.copy()
    out[pos[r < 0.8]] = "[MASK]"
    rand = pos[(r >= 0.8) & (r < 0.9)]
    out[rand] = pool[rng.integers(len(pool), size=len(rand))]
    return out.tolist(), pos.tolist(), toks[pos].tolist()


def mask_python_loop(tokens, vocab, rng):  # kinds decided in the drawing order, a tuple of tuples
    cand = [i for i in range(len(tokens)) if tokens[i] not in SPECIAL]
    order = rng.permutation(len(cand))
    n = _n(len(cand), 0.15, rng)
    words = sorted(set(vocab) - {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"})
    out = list(tokens)
    for j in range(n):
        i = cand[order[j]]
        u = rng.random()
        if u < 0.8:
            out[i] = "[MASK]"
        elif u >= 0.9:
            pass
        else:
            out[i] = words[rng.integers(0, len(words))]
    positions = tuple(cand[order[j]] for j in range(n))
    return tuple(out), positions, tuple(tokens[i] for i in positions)


@pytest.mark.parametrize("answer", [mask_bernoulli, mask_numpy_vectorised, mask_python_loop])  # + the solution
def test_mlm_mask_accepts(answer):
    accepted_every_run(check.mlm_mask, answer, runs=STAT_RUNS)


# --- Exercise 7.2: mlm_loss -----------------------------------------------------------------------

def _nll(logits, ids, axis=-1):
    logp = ops.log_softmax(logits, axis)
    return -ops.gather_elements(logp, -1, ids.expand_dims(-1)).squeeze(-1)


LOSS_WRONG = [
    (lambda lg, i, w: _nll(lg, i).mean(), "d2l"),
    (lambda lg, i, w: (_nll(lg, i) * w).mean(), "pytorchic-bert"),
    (lambda lg, i, w: (_nll(lg, i) * w).sum(), "this is the sum"),
    (lambda lg, i, w: ((_nll(lg, i) * w).sum(1) / w.sum(1)).mean(), "per sequence"),
    (lambda lg, i, w: ops.cross_entropy(lg.reshape(-1, lg.shape[-1]), i.reshape(-1), ignore_index=0),
     "ignore_index"),
    (lambda lg, i, w: -(_nll(lg, i) * w).sum() / w.sum(), "sign"),
    (lambda lg, i, w: (-ops.gather_elements(ops.log_softmax(lg, 1), -1, i.expand_dims(-1)).squeeze(-1) * w).sum()
     / w.sum(), "vocabulary axis"),
    (lambda lg, i, w: (-ops.gather_elements(ops.softmax(lg, -1), -1, i.expand_dims(-1)).squeeze(-1) * w).sum()
     / w.sum(), "log_softmax"),
    (lambda lg, i, w: (_nll(lg, i) * w).sum() / (w.sum() + 1), "expected"),
    (lambda lg, i, w: _nll(lg, i) * w / w.sum(), "scalar"),
    (lambda lg, i, w: losses.masked_lm_loss(lg, i, w), "write it yourself"),
]


@pytest.mark.parametrize("answer,words", LOSS_WRONG)
def test_mlm_loss_rejects(answer, words):
    rejected_every_run(check.mlm_loss, answer, words)


def _loss_numpy64(lg, i, w):
    x = lg.asnumpy().astype(np.float64)
    x = x - x.max(-1, keepdims=True)
    logp = x - np.log(np.exp(x).sum(-1, keepdims=True))
    nll = -np.take_along_axis(logp, i.asnumpy()[..., None].astype(np.int64), -1)[..., 0]
    wn = w.asnumpy()
    return float((nll * wn).sum() / wn.sum())


def _loss_selected(lg, i, w):  # keep the real slots, then an ordinary mean cross-entropy
    keep = w.asnumpy().reshape(-1) > 0
    idx = ms.Tensor(np.flatnonzero(keep).astype(np.int32))
    flat = lg.reshape(-1, lg.shape[-1])
    return ops.cross_entropy(ops.gather(flat, idx, 0), ops.gather(i.reshape(-1), idx, 0))


def _loss_reduction_none(lg, i, w):
    nll = ops.cross_entropy(lg.reshape(-1, lg.shape[-1]), i.reshape(-1), reduction="none")
    return (nll * w.reshape(-1)).sum() / w.sum()


@pytest.mark.parametrize("answer", [_loss_numpy64, _loss_selected, _loss_reduction_none,
                                    lambda lg, i, w: np.float64(_loss_numpy64(lg, i, w))])
def test_mlm_loss_accepts(answer):
    accepted_every_run(check.mlm_loss, answer)


# --- Exercise 7.3: nsp_pairs ----------------------------------------------------------------------

def _other_doc(n, d, rng):
    r = int(rng.integers(n - 1))
    return r if r < d else r + 1


def nsp_right(documents, rng, p=0.5):
    pairs = []
    for d, doc in enumerate(documents):
        for i in range(len(doc) - 1):
            if rng.random() >= p:
                pairs.append((doc[i], doc[i + 1], 0))
            else:
                other = documents[_other_doc(len(documents), d, rng)]
                pairs.append((doc[i], other[int(rng.integers(len(other)))], 1))
    return pairs


def nsp_alternating(documents, rng):
    pairs = []
    for d, doc in enumerate(documents):
        for i in range(len(doc) - 1):
            if len(pairs) % 2 == 0:
                pairs.append((doc[i], doc[i + 1], 0))
            else:
                other = documents[_other_doc(len(documents), d, rng)]
                pairs.append((doc[i], other[int(rng.integers(len(other)))], 1))
    return pairs


def nsp_next_doc_first(documents, rng):  # NotNext B: always the next document's first sentence
    pairs = []
    for d, doc in enumerate(documents):
        for i in range(len(doc) - 1):
            if rng.random() < 0.5:
                pairs.append((doc[i], doc[i + 1], 0))
            else:
                pairs.append((doc[i], documents[(d + 1) % len(documents)][0], 1))
    return pairs


def nsp_random_doc_first(documents, rng):  # a random other document, but always its first sentence
    pairs = []
    for d, doc in enumerate(documents):
        for i in range(len(doc) - 1):
            if rng.random() < 0.5:
                pairs.append((doc[i], doc[i + 1], 0))
            else:
                pairs.append((doc[i], documents[_other_doc(len(documents), d, rng)][0], 1))
    return pairs


def nsp_next_doc_random_sentence(documents, rng):  # a random sentence, but always of the next document
    pairs = []
    for d, doc in enumerate(documents):
        for i in range(len(doc) - 1):
            if rng.random() < 0.5:
                pairs.append((doc[i], doc[i + 1], 0))
            else:
                other = documents[(d + 1) % len(documents)]
                pairs.append((doc[i], other[int(rng.integers(len(other)))], 1))
    return pairs


def nsp_blocks(documents, rng):  # IsNext in the first half of each document, NotNext in the second
    pairs = []
    for d, doc in enumerate(documents):
        for i in range(len(doc) - 1):
            if i < (len(doc) - 1) / 2:
                pairs.append((doc[i], doc[i + 1], 0))
            else:
                other = documents[_other_doc(len(documents), d, rng)]
                pairs.append((doc[i], other[int(rng.integers(len(other)))], 1))
    return pairs


def nsp_position_dependent(documents, rng):  # random coins, but NotNext 35 % early in a document, 65 % late
    pairs = []
    for d, doc in enumerate(documents):
        for i in range(len(doc) - 1):
            p = 0.35 if i < (len(doc) - 1) / 2 else 0.65
            if rng.random() >= p:
                pairs.append((doc[i], doc[i + 1], 0))
            else:
                other = documents[_other_doc(len(documents), d, rng)]
                pairs.append((doc[i], other[int(rng.integers(len(other)))], 1))
    return pairs


def nsp_own_rng(documents, rng):
    return nsp_right(documents, np.random.default_rng())


def nsp_python_random(documents, rng):
    pairs = []
    for d, doc in enumerate(documents):
        for i in range(len(doc) - 1):
            if random.random() < 0.5:
                pairs.append((doc[i], doc[i + 1], 0))
            else:
                other = documents[_other_doc(len(documents), d, rng)]
                pairs.append((doc[i], other[int(rng.integers(len(other)))], 1))
    return pairs


def nsp_fixed_seed(documents, rng):
    return nsp_right(documents, np.random.default_rng(0))


NSP_STAT_MISTAKES = [
    (lambda docs, rng: nsp_right(docs, rng, p=0.45), "expected half"),
    (lambda docs, rng: nsp_right(docs, rng, p=0.4), "expected half"),
    (lambda docs, rng: nsp_right(docs, rng, p=0.55), "expected half"),
    (nsp_alternating, "not in a pattern"),
    (nsp_blocks, "not in a pattern"),
    (nsp_position_dependent, "depends on where A is"),
    (nsp_next_doc_first, "not come from a random other document"),
    (nsp_next_doc_random_sentence, "not come from a random other document"),
    (nsp_random_doc_first, "not a random sentence of its document"),
    (nsp_own_rng, "same seed gave different pairs"),
    (nsp_python_random, "same seed gave different pairs"),
    (nsp_fixed_seed, "different seeds gave the same pairs"),
]


@pytest.mark.parametrize("answer,words", NSP_STAT_MISTAKES)
def test_nsp_pairs_rejects_statistical_mistakes(answer, words):
    rejected_every_run(check.nsp_pairs, answer, words, runs=STAT_RUNS)


def nsp_last_sentence_too(documents, rng):  # an A for every sentence, the last one paired with another document
    pairs = nsp_right(documents, rng)
    for d, doc in enumerate(documents):
        other = documents[_other_doc(len(documents), d, rng)]
        pairs.append((doc[-1], other[0], 1))
    return pairs


def nsp_shifted(documents, rng):  # A = every sentence that has a PREVIOUS one, B = the previous one
    return [(doc[i], doc[i - 1], 0) if rng.random() < 0.5 else (doc[i], documents[_other_doc(len(documents), d, rng)][0], 1)
            for d, doc in enumerate(documents) for i in range(1, len(doc))]


def nsp_package(documents, rng):
    class Words:
        def tokenize(self, s):
            return s.split()

    pretraining.create_pretraining_pairs(documents[:3], Words(), 32, rng)
    return nsp_right(documents, rng)


@pytest.mark.parametrize("answer,words", [
    (nsp_last_sentence_too, "pairs (one per sentence"),
    (nsp_shifted, "not the sentence right after A"),
    (lambda docs, rng: [(a, b, "NotNext" if lab else "IsNext") for a, b, lab in nsp_right(docs, rng)],
     "the integer 0 (IsNext) or 1"),
    (lambda docs, rng: [(a, b, 1 - lab) for a, b, lab in nsp_right(docs, rng)], "IsNext"),
    (lambda docs, rng: [(a, b) for a, b, _ in nsp_right(docs, rng)], "(sentence_a, sentence_b, label)"),
    (lambda docs, rng: [(b, a, lab) if lab else (a, b, lab) for a, b, lab in nsp_right(docs, rng)], "no pair starts"),
    (nsp_package, "write it yourself"),
])
def test_nsp_pairs_rejects_structural_mistakes(answer, words):
    rejected_every_run(check.nsp_pairs, answer, words)


def nsp_sentence_uniform(documents, rng):  # NotNext B: uniform over all sentences of the other documents
    flat = [(d, s) for d, doc in enumerate(documents) for s in doc]
    pairs = []
    for d, doc in enumerate(documents):
        for i in range(len(doc) - 1):
            if rng.random() < 0.5:
                pairs.append([doc[i], doc[i + 1], np.int64(0)])
            else:
                while True:
                    e, s = flat[int(rng.integers(len(flat)))]
                    if e != d:
                        break
                pairs.append([doc[i], s, np.int64(1)])
    return pairs


def nsp_vectorised(documents, rng):  # all coins at once, documents by a random offset
    n = len(documents)
    heads = [(d, i) for d, doc in enumerate(documents) for i in range(len(doc) - 1)]
    coins = rng.random(len(heads)) < 0.5
    offsets = rng.integers(1, n, size=len(heads))
    picks = rng.random(len(heads))
    out = []
    for (d, i), notnext, off, u in zip(heads, coins, offsets, picks):
        if notnext:
            other = documents[(d + off) % n]
            out.append((documents[d][i], other[int(u * len(other))], 1))
        else:
            out.append((documents[d][i], documents[d][i + 1], 0))
    return out


@pytest.mark.parametrize("answer", [nsp_right, nsp_sentence_uniform, nsp_vectorised])
def test_nsp_pairs_accepts(answer):
    accepted_every_run(check.nsp_pairs, answer, runs=STAT_RUNS)


# --- Exercise 7.4: adam_uncorrected_ratio ---------------------------------------------------------

def _ratio(t):
    return (1 - 0.9 ** t) / math.sqrt(1 - 0.999 ** t)


@pytest.mark.parametrize("answer,words", [
    (_ratio(9), "t = 9"),
    (_ratio(11), "t = 11"),
    (_ratio(14), "t = 14"),
    (_ratio(15), "t = 15"),
    (_ratio(100), "step 100"),
    (1 / _ratio(10), "correction factor"),
    ((1 - 0.9 ** 10) / (1 - 0.999 ** 10), "square root"),
    ((1 - 0.999 ** 10) / math.sqrt(1 - 0.9 ** 10), "swapped"),
    (6.5, "three decimals"),
    (1.0, "not it"),
    ("6.53", "expected a number"),
    ([6.53, 3.24], "expected a number"),
])
def test_adam_ratio_rejects(answer, words):
    rejected_every_run(check.adam_uncorrected_ratio, answer, words)


@pytest.mark.parametrize("answer", [
    _ratio(10), 6.53, 6.528, np.float32(_ratio(10)), np.float64(0.6513216 / 0.0997747),
    ms.Tensor(_ratio(10), ms.float32), 1 / (math.sqrt(1 - 0.999 ** 10) / (1 - 0.9 ** 10)),
])
def test_adam_ratio_accepts(answer):
    accepted_every_run(check.adam_uncorrected_ratio, answer)
