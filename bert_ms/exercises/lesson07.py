"""Lesson 07 exercises (pretraining BERT): the 80/10/10 masking rule, the masked-only MLM loss, the NSP
sentence pairs, and Adam's bias correction.

The two random exercises (7.1 masking, 7.3 NSP pairs) are judged by their statistics, measured on a few
long inputs so that the learner's function is called only 63 times (7.1) or 4 times (7.3). Every
statistical test below has a false-fail probability (a correct answer rejected) and a false-pass
probability against the near miss it is sized for (a wrong answer accepted) under 1e-7 per run; all of
them together stay under 1e-6 per run. The numbers are computed in the comments next to each test
(normal / chi-square tails, scipy.stats; counts as drawn below).

7.1 (``mlm_mask``), per run: 59 sequences, most of 8,000-12,000 maskable tokens (~590,000 maskable tokens,
~88,000 chosen), one of them under four seeds and once more for the rng: 63 calls. Tests: the rng first
(the same seed gives the same output, another seed another one), then the rate (15 %), the kinds
(80/10/10, a chi-square), where the chosen positions lie (uniform over the sequence, and neighbours chosen
together as often as chance gives), the kinds independent of the position and of the token, and the random
tokens drawn from the vocabulary (not from the sentences' words) and spread over it.

7.3 (``nsp_pairs``), per run: one corpus of 250 documents of 50 sentences (12,250 pairs) plus short
documents; a small corpus for the rng. Tests: the NotNext share (0.5), labels independent of their
neighbours and of the position in the document, a NotNext B spread over the other documents and over
their sentences.
"""

from __future__ import annotations

import math

import numpy as np

from bert_ms.exercises import Mismatch, exercise, expect_close, to_numpy

__all__ = ["mlm_mask", "mlm_loss", "nsp_pairs", "adam_uncorrected_ratio"]

SPECIAL = ("[CLS]", "[SEP]", "[PAD]")
_SPECIAL_SET = frozenset(SPECIAL)

# chi-square thresholds with a tail probability of 1e-7 (scipy.stats.chi2.isf(1e-7, df))
_CHI2_1E7 = {2: 32.24, 4: 38.24, 9: 50.17, 18: 67.95}


def _chi2(observed: np.ndarray, expected: np.ndarray) -> float:
    observed, expected = np.asarray(observed, float), np.asarray(expected, float)
    return float(((observed - expected) ** 2 / expected).sum())


# -----------------------------------------------------------------------------------------------
# Exercise 7.1: the masking rule
# -----------------------------------------------------------------------------------------------
_N_WORDS = 2000  # the pool of random replacements: every non-special token of the toy vocabulary


def _toy_vocab() -> dict[str, int]:
    words = [f"w{i}" for i in range(_N_WORDS - 40)] + [f"##p{i}" for i in range(40)]
    return {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words)}


def _sequence(rng: np.random.Generator, words: np.ndarray, n_maskable: int, pad: int) -> list[str]:
    body = words[rng.integers(len(words), size=n_maskable)].tolist()
    cut = int(rng.integers(1, n_maskable)) if n_maskable > 1 else 1
    return ["[CLS]", *body[:cut], "[SEP]", *body[cut:], "[SEP]"] + ["[PAD]"] * pad


def _call_mask(fn, tokens: list[str], vocab: dict, seed: int):
    result = fn(list(tokens), dict(vocab), np.random.default_rng(seed))
    if not isinstance(result, tuple | list) or len(result) != 3:
        raise Mismatch(f"return a tuple (output_tokens, positions, labels), got {type(result).__name__}"
                       + (f" of {len(result)} items." if isinstance(result, tuple | list) else "."))
    out, positions, labels = result
    try:
        out = [str(t) for t in out]
        labels = [str(t) for t in labels]
        positions = [int(p) for p in positions]
    except (TypeError, ValueError):
        raise Mismatch("return (output_tokens, positions, labels): a list of tokens, a list of integer positions "
                       "and a list of tokens.") from None
    n = len(tokens)
    if len(out) != n:
        raise Mismatch(f"the output has {len(out)} tokens for an input of {n}; masking replaces tokens, it never "
                       "adds or removes any.")
    if len(labels) != len(positions):
        raise Mismatch(f"expected one label per chosen position, got {len(positions)} positions and {len(labels)} "
                       "labels.")
    if len(set(positions)) != len(positions):
        raise Mismatch("a position was chosen twice; choose positions without replacement "
                       "(rng.choice(..., replace=False) or rng.permutation).")
    for p in positions:
        if not 0 <= p < n:
            raise Mismatch(f"position {p} is outside the sequence of {n} tokens.")
        if tokens[p] in _SPECIAL_SET:
            raise Mismatch(f"position {p} ({tokens[p]}) was chosen; [CLS], [SEP] and [PAD] are never masked "
                           f"(tokens there: {tokens[max(0, p - 2):p + 3]}).")
    for p, label in zip(positions, labels):
        if label != tokens[p]:
            raise Mismatch(f"the label at position {p} is {label!r} but the original token there was {tokens[p]!r}: "
                           "labels must be the ORIGINAL tokens (what the model must predict), not the corrupted ones.")
    chosen = np.zeros(n, bool)
    chosen[positions] = True
    changed = np.asarray(tokens, dtype=object) != np.asarray(out, dtype=object)
    bad = np.nonzero(changed & ~chosen)[0]
    if len(bad):
        i = int(bad[0])
        raise Mismatch(f"position {i} was not chosen but changed from {tokens[i]!r} to {out[i]!r}: only the chosen "
                       "tokens are corrupted.")
    for p in positions:
        if out[p] not in vocab:
            raise Mismatch(f"position {p} was replaced by {out[p]!r}, which is not in the vocabulary.")
    return out, positions, labels


@exercise("Exercise 7.1 · the masked-LM rule (15 %, then 80/10/10)",
          forbid=("bert_ms.bert.masking:create_masked_lm_predictions", "bert_ms.bert.masking:mask_ids_batch"),
          time_limit=60)
def mlm_mask(fn):
    """``fn(tokens, vocab, rng) -> (output_tokens, positions, labels)``.

    ``tokens``: a list of strings ``[CLS] A [SEP] B [SEP]``, sometimes followed by ``[PAD]`` tokens;
    ``vocab``: dict token -> id (the pool for random replacements); ``rng``: a ``numpy.random.Generator``.
    Choose 15 % of the tokens that are not ``[CLS]``/``[SEP]``/``[PAD]`` (no upper limit), at random;
    replace each chosen one by ``[MASK]`` 80 % of the time, by a random vocabulary token 10 %, and keep it
    10 %. Return the new tokens, the chosen positions and the original tokens there (the labels)."""
    rng = np.random.default_rng()
    vocab = _toy_vocab()
    pool = [t for t in vocab if not (t.startswith("[") and t.endswith("]"))]
    pool_index = {t: i for i, t in enumerate(pool)}
    words = np.array(pool, dtype=object)[rng.choice(len(pool), 200, replace=False)]  # the sentences' words

    # the inputs: one sequence S of 10,000 maskable tokens called with four seeds (the rng tests, kinds per
    # position), 55 long sequences of 8,000-12,000 maskable tokens (a quarter with 30-60 % padding: 15 % of ALL
    # tokens is then far from 15 % of the maskable ones), and three short ones (edge cases: 20, 40 and 7
    # maskable tokens): 63 calls with the rng's extra one, ~590,000 maskable tokens, ~88,000 chosen
    seeds = [int(s) for s in rng.integers(2 ** 32, size=4)]
    s_tokens = _sequence(rng, words, 10_000, 0)
    repeats = [_call_mask(fn, s_tokens, vocab, s) for s in seeds]
    # the rng: the same seed must give the same output, and other seeds other outputs
    again = _call_mask(fn, s_tokens, vocab, seeds[0])
    if again != repeats[0]:
        raise Mismatch("the same sequence and an rng with the same seed gave different outputs: your function does "
                       "not draw (only) from the rng it is given. Use rng.random / rng.choice / rng.integers / "
                       "rng.permutation, not np.random.* or the random module.")
    if any(r[0] == repeats[0][0] and r[1] == repeats[0][1] for r in repeats[1:]):
        raise Mismatch("rngs with different seeds gave the same output: your function does not use the rng it is "
                       "given (it draws from a generator of its own, or from none).")
    inputs = [(s_tokens, r) for r in repeats]
    for k in range(55):
        m = int(rng.integers(8000, 12_001))
        pad = int(rng.integers(int(0.3 * m), int(0.6 * m))) if k % 4 == 0 else 0
        tokens = _sequence(rng, words, m, pad)
        inputs.append((tokens, _call_mask(fn, tokens, vocab, int(rng.integers(2 ** 32)))))
    for m in (20, 40, 7):
        tokens = _sequence(rng, words, m, 3)
        inputs.append((tokens, _call_mask(fn, tokens, vocab, int(rng.integers(2 ** 32)))))

    maskable = n_chosen = 0
    kinds = np.zeros(3, int)                     # [MASK], random, unchanged
    kind_by_bin = np.zeros((3, 10), int)         # kind x tenth of the sequence (by rank among the maskable)
    chosen_by_bin = np.zeros(10, int)
    cand_by_bin = np.zeros(10, int)
    adjacent = adjacent_expected = 0.0
    random_outside = random_total = 0            # random replacements that are pool tokens not in the sentence
    pool_bins = np.zeros(10, int)                # where in the pool the random replacements lie
    words_used = set(words.tolist())
    for tokens, (out, positions, _) in inputs:
        cand = np.flatnonzero(~np.isin(np.asarray(tokens, dtype=object), SPECIAL))
        m = len(cand)
        rank = np.full(len(tokens), -1)
        rank[cand] = np.arange(m)
        bins = np.minimum(10 * np.arange(m) // m, 9)
        np.add.at(cand_by_bin, bins, 1)
        k = len(positions)
        maskable += m
        n_chosen += k
        mask = np.zeros(m, bool)
        mask[rank[positions]] = True
        adjacent += float((mask[1:] & mask[:-1]).sum())
        adjacent_expected += k * (k - 1) / m
        for p in positions:
            b = bins[rank[p]]
            chosen_by_bin[b] += 1
            o = out[p]
            kind = 0 if o == "[MASK]" else 2 if o == tokens[p] else 1
            kinds[kind] += 1
            kind_by_bin[kind, b] += 1
            if kind == 1:
                random_total += 1
                if o in pool_index and o not in words_used:
                    random_outside += 1
                if o in pool_index:
                    pool_bins[10 * pool_index[o] // len(pool)] += 1

    # (1) the rate. ~590,000 maskable tokens: a per-token coin (the noisiest correct way) gives a rate with
    # sd sqrt(0.15 * 0.85 / 590,000) = 0.00046; the tolerance 0.005 is 10.7 sd from 0.15 and from 0.14 / 0.16
    # (false fail and false pass < 1e-26).
    rate = n_chosen / maskable
    if abs(rate - 0.15) > 0.005:
        hint = ""
        if 0.155 < rate < 0.25:
            hint = (" Is the number taken as 15 % of ALL the tokens, [CLS]/[SEP]/[PAD] included? Count only the "
                    "tokens that may be chosen.")
        raise Mismatch(f"over {len(inputs)} sequences {rate:.2%} of the {maskable:,} maskable tokens were chosen; "
                       "expected 15 %." + hint)
    share = kinds / max(n_chosen, 1)
    seen = f"[MASK] {share[0]:.1%}, random {share[1]:.1%}, unchanged {share[2]:.1%}"
    if share[0] > 0.97:
        raise Mismatch(f"every chosen token became [MASK] ({seen}). BERT's rule is 80 % [MASK], 10 % a random "
                       "token, 10 % unchanged, so the model cannot trust the tokens it sees.")
    # (2) the kinds: chi-square (2 df) of the ~88,000 chosen tokens against 80/10/10. Threshold 32.24:
    # false fail 1e-7. Against the near miss 0.815 / 0.095 / 0.09 the noncentrality is 88,000 * 0.00153 = 135
    # and P(chi2 < 32.24) = 9e-10 (scipy.stats.ncx2.cdf(32.24, 2, 135)): false pass < 1e-9.
    if _chi2(kinds, n_chosen * np.array([0.8, 0.1, 0.1])) > _CHI2_1E7[2]:
        raise Mismatch(f"of the {n_chosen:,} chosen tokens: {seen}; expected [MASK] 80 %, random 10 %, unchanged "
                       "10 %. Draw one number r per chosen token: r < 0.8 -> [MASK], 0.8 <= r < 0.9 -> a random "
                       "token, else keep it.")
    # (3) where the chosen tokens lie: each tenth of every sequence should hold 15 % of its maskable tokens.
    # Chi-square, 9 df, threshold 50.17: false fail < 1e-7 (sampling without replacement has less variance
    # than the chi-square assumes, so less); taking the first 15 % puts everything in the first 2 tenths.
    expected_bins = cand_by_bin * n_chosen / maskable
    if _chi2(chosen_by_bin, expected_bins) > _CHI2_1E7[9]:
        shares = ", ".join(f"{c / max(n, 1):.1%}" for c, n in zip(chosen_by_bin, cand_by_bin))
        raise Mismatch("the chosen positions are not spread over the sequence: share chosen in each tenth of the "
                       f"sequences (start to end): {shares}; expected 15 % everywhere. Choose the positions at random "
                       "(rng.choice(candidates, n, replace=False)), not in order.")
    # (4) neighbours chosen together: for a random k-subset of m positions, k(k-1)/m adjacent pairs are
    # expected (~13,000 here, sd ~ 115); the tolerance of 10 % is > 10 sd (false fail < 1e-20). Evenly spaced
    # or clumped choices are far outside it.
    if abs(adjacent - adjacent_expected) > 0.1 * adjacent_expected:
        raise Mismatch(f"neighbouring tokens were both chosen {adjacent:.0f} times, where choosing positions "
                       f"independently gives about {adjacent_expected:.0f}: the positions are not a random choice "
                       "(evenly spaced? in runs?). Choose them with rng.choice(candidates, n, replace=False).")
    # (5) the kind must not depend on the position: chi-square of kind x tenth, 18 df, threshold 67.95
    # (false fail 1e-7). Kinds given in order (the first 80 % of the sorted positions [MASK]...) put every
    # [MASK] in the first 8 tenths: a chi-square in the tens of thousands.
    row, col = kind_by_bin.sum(1, keepdims=True), kind_by_bin.sum(0, keepdims=True)
    expected_kb = np.maximum(row * col / max(n_chosen, 1), 1e-9)
    if _chi2(kind_by_bin, expected_kb) > _CHI2_1E7[18]:
        first_tenth = kind_by_bin[:, 0] / max(kind_by_bin[:, 0].sum(), 1)
        last_tenth = kind_by_bin[:, 9] / max(kind_by_bin[:, 9].sum(), 1)
        raise Mismatch("whether a chosen token becomes [MASK], random or stays depends on where it is: [MASK] share "
                       f"{first_tenth[0]:.0%} in the first tenth of the sequences, {last_tenth[0]:.0%} in the last. "
                       "Draw the kind for each chosen token at random (one rng.random() each), not by its rank.")
    # (6) the kind must not depend on the token or the position either: in sequence S (the same tokens under
    # four seeds) a position chosen under two seeds gets the same kind with probability 0.8² + 0.1² + 0.1² =
    # 0.66. ~1,350 such comparisons (sd < 0.02); the threshold 0.85 is > 9 sd away (false fail < 1e-18); a kind
    # computed from the position or the token agrees every time (1.0).
    agree = total = 0
    for i in range(len(repeats)):
        for j in range(i + 1, len(repeats)):
            ki = {p: _kind(s_tokens, repeats[i][0], p) for p in repeats[i][1]}
            for p in repeats[j][1]:
                if p in ki:
                    total += 1
                    agree += ki[p] == _kind(s_tokens, repeats[j][0], p)
    if total and agree / total > 0.85:
        raise Mismatch(f"a position chosen under two different seeds got the same kind ([MASK] / random / unchanged) "
                       f"{agree / total:.0%} of the time; independent draws agree 66 % of the time. The kind is "
                       "computed from the position or the token: draw it with the rng for each chosen token.")
    # (7) the random replacements come from the vocabulary: the sentences use 200 of the 2,000 pool tokens,
    # so a uniform draw from the pool lands outside the sentence 90 % of the time (~8,800 draws, sd 0.0032;
    # the threshold 0.8 is 31 sd away); a draw from the sentence never does.
    if random_total and random_outside / random_total < 0.8:
        raise Mismatch(f"only {random_outside / random_total:.0%} of the random replacements are vocabulary tokens that "
                       "are not in the sentence itself: the random token must be drawn from the whole vocabulary "
                       "(e.g. a random key of vocab), not from the sentence's own tokens.")
    # (8) ... spread uniformly over it: chi-square over the 10 tenths of the pool, 9 df, threshold 50.17
    # (false fail 1e-7; ~880 draws per tenth).
    if random_total and _chi2(pool_bins, np.full(10, pool_bins.sum() / 10)) > _CHI2_1E7[9]:
        raise Mismatch("the random replacements are not spread evenly over the vocabulary (share per tenth of the "
                       f"vocabulary: {', '.join(f'{c / pool_bins.sum():.0%}' for c in pool_bins)}); draw each one "
                       "uniformly from all the (non-special) vocabulary tokens.")


def _kind(tokens, out, p) -> int:
    return 0 if out[p] == "[MASK]" else 2 if out[p] == tokens[p] else 1


# -----------------------------------------------------------------------------------------------
# Exercise 7.2: the masked-only MLM loss
# -----------------------------------------------------------------------------------------------
def _np_nll(logits: np.ndarray, ids: np.ndarray) -> np.ndarray:
    x = logits.astype(np.float64)
    x = x - x.max(-1, keepdims=True)
    logp = x - np.log(np.exp(x).sum(-1, keepdims=True))
    return -np.take_along_axis(logp, ids[..., None].astype(np.int64), -1)[..., 0]


def _loss_mistakes(nll: np.ndarray, w: np.ndarray, ids: np.ndarray) -> list[tuple[float, str]]:
    real_or_nonzero = ids != 0
    return [
        (nll.mean(), "this is the mean over EVERY prediction slot, padding included: the weights were applied "
                     "after averaging, so they change nothing (the d2l bug, d2l-en #2582: "
                     "CrossEntropyLoss(reduction='mean') before * weights). Weight each position's loss first, "
                     "then divide by sum(w)."),
        ((nll * w).mean(), "the padding slots were zeroed but the sum was divided by every slot (B × P) instead of "
                           "the number of real predictions sum(w) (pytorchic-bert #24)."),
        ((nll * w).sum(), "this is the sum; divide by the number of real predictions, sum(w)."),
        (((nll * w).sum(1) / w.sum(1)).mean(), "this averages per sequence, then over the batch, so a sequence with 1 "
                                               "prediction weighs as much as one with many; divide the total by sum(w) "
                                               "over the whole batch."),
        ((nll * real_or_nonzero).sum() / real_or_nonzero.sum(),
         "this leaves out the slots whose label is id 0 (ignore_index=0?): real predictions can have label 0 too. "
         "Use the weights, not the label ids, to tell real predictions from padding."),
        (-(nll * w).sum() / w.sum(), "the sign is flipped: the loss is the NEGATIVE log-probability of the label."),
    ]


@exercise("Exercise 7.2 · the masked-LM loss (masked positions only)",
          forbid=("bert_ms.bert.losses:masked_lm_loss", "bert_ms.bert.losses:pretraining_loss"), time_limit=30)
def mlm_loss(fn):
    """``fn(mlm_logits, masked_lm_ids, masked_lm_weights) -> scalar``.

    ``mlm_logits`` [B, P, V] float32, ``masked_lm_ids`` [B, P] int32, ``masked_lm_weights`` [B, P] float32:
    1 for a real prediction, 0 for a padding slot of the fixed-size list. Return the mean cross-entropy
    over the real predictions only: sum(w * nll) / sum(w)."""
    import mindspore as ms

    rng = np.random.default_rng()
    while True:  # draw until every typical mistake is at least 1e-3 (relative) away from the right loss
        b, p, v = int(rng.integers(3, 6)), int(rng.integers(6, 10)), int(rng.integers(20, 40))
        logits = (2.0 * rng.standard_normal((b, p, v))).astype(np.float32)
        ids = rng.integers(1, v, (b, p)).astype(np.int32)
        counts = rng.integers(2, p, b)
        counts[0] = p - 1
        counts[1] = 1  # rows with very different numbers of real predictions
        weights = (np.arange(p)[None, :] < counts[:, None]).astype(np.float32)
        ids[0, 0] = 0  # a real prediction whose label is id 0
        ids[weights == 0] = 0  # padding slots carry label 0 (and point at position 0), as in the data
        nll, w = _np_nll(logits, ids), weights.astype(np.float64)
        want = float((nll * w).sum() / w.sum())  # exact, in float64
        mistakes = _loss_mistakes(nll, w, ids)
        listed = [x for x, _ in mistakes]
        # two mistakes with no value of their own above (they get the general hint): log_softmax over the
        # positions axis, and the probability instead of its log; they must not land on a listed one
        x = logits.astype(np.float64)
        over_p = x - x.max(1, keepdims=True)
        over_p = over_p - np.log(np.exp(over_p).sum(1, keepdims=True))
        prob = np.exp(-nll)
        unlisted = [float((-np.take_along_axis(over_p, ids[..., None].astype(np.int64), -1)[..., 0] * w).sum() / w.sum()),
                    float((-prob * w).sum() / w.sum())]
        if (all(abs(v - want) > 1e-3 * abs(want) for v in listed + unlisted)
                and all(abs(u - v) > 1e-3 * abs(v) for u in unlisted for v in listed)):
            break
    got = fn(ms.Tensor(logits), ms.Tensor(ids), ms.Tensor(weights))
    g = to_numpy(got).astype(np.float64)
    if g.size != 1:
        raise Mismatch(f"expected one number (a scalar loss), got an array of shape {g.shape}; average the "
                       "per-position losses with the weights.")
    value = float(g.reshape(()))
    if not math.isclose(value, want, rel_tol=1e-5, abs_tol=1e-6):
        for wrong, words in mistakes:
            if math.isclose(value, wrong, rel_tol=1e-4, abs_tol=1e-6):
                raise Mismatch(f"MLM loss: expected {want:.6g}, got {value:.6g}; " + words)
        raise Mismatch(f"MLM loss: expected {want:.6g}, got {value:.6g}. Hint: log_softmax over the vocabulary axis "
                       "(the last), the negative log-probability of each label, weighted, divided by sum(w).")
    # the loss must not move when the logits of padding slots change
    logits[weights == 0] += 50 * rng.standard_normal((int((weights == 0).sum()), v)).astype(np.float32)
    again = to_numpy(fn(ms.Tensor(logits), ms.Tensor(ids), ms.Tensor(weights))).astype(np.float64)
    expect_close(again.reshape(()), want, "MLM loss after changing only the padding slots' logits",
                 atol=1e-6, rtol=1e-5, hint="positions with weight 0 must not count.")


# -----------------------------------------------------------------------------------------------
# Exercise 7.3: NSP pairs
# -----------------------------------------------------------------------------------------------
def _check_pairs(pairs, docs: list[list[str]]) -> list[tuple[int, int, int, int, int]]:
    """Validate the structure; return (doc_a, index_a, doc_b, index_b, label) per pair."""
    where = {s: (d, i) for d, doc in enumerate(docs) for i, s in enumerate(doc)}
    want = sum(max(len(doc) - 1, 0) for doc in docs)
    try:
        pairs = list(pairs)
    except TypeError:
        raise Mismatch(f"return a list of (sentence_a, sentence_b, label), got {type(pairs).__name__}.") from None
    if len(pairs) != want:
        raise Mismatch(f"{len(docs)} documents with {sum(len(d) for d in docs)} sentences give {want} pairs (one per "
                       f"sentence that has a next one in its document), got {len(pairs)}.")
    rows = []
    for pair in pairs:
        if not isinstance(pair, tuple | list) or len(pair) != 3:
            raise Mismatch(f"each pair must be (sentence_a, sentence_b, label), got {pair!r}.")
        a, b, label = pair
        if not isinstance(a, str) or not isinstance(b, str) or a not in where or b not in where:
            raise Mismatch(f"pair {tuple(pair)!r}: A and B must be sentences (strings) of the documents.")
        if isinstance(label, bool) or not isinstance(label, int | np.integer) or int(label) not in (0, 1):
            raise Mismatch(f"pair ({a!r}, {b!r}): the label must be the integer 0 (IsNext) or 1 (NotNext), "
                           f"got {label!r}.")
        (da, ia), (db, ib) = where[a], where[b]
        label = int(label)
        if label == 0 and not (db == da and ib == ia + 1):
            if db != da:
                raise Mismatch(f"pair ({a!r}, {b!r}) has label 0 but B comes from another document. Label 0 is "
                               "IsNext (B really follows A), label 1 is NotNext.")
            raise Mismatch(f"pair ({a!r}, {b!r}) has label 0 (IsNext) but B is not the sentence right after A.")
        if label == 1 and db == da and ib == ia + 1:
            raise Mismatch(f"pair ({a!r}, {b!r}) has label 1 (NotNext) but B is the sentence right after A. Label 0 "
                           "is IsNext, label 1 is NotNext: are your labels swapped? (And a NotNext B comes from a "
                           "different document, never from A's own document.)")
        if label == 1 and db == da:
            raise Mismatch(f"pair ({a!r}, {b!r}) is NotNext but B comes from A's own document; draw B from a "
                           "different document (the same document would often be about the same topic, or even "
                           "be the true next sentence).")
        rows.append((da, ia, db, ib, label))
    heads = sorted((r[0], r[1]) for r in rows)
    expected_heads = [(d, i) for d, doc in enumerate(docs) for i in range(len(doc) - 1)]
    if heads != expected_heads:
        missing = sorted(set(expected_heads) - set(heads))[:1]
        if missing:
            d, i = missing[0]
            raise Mismatch(f"no pair starts with {docs[d][i]!r}: every sentence that has a next one in its document "
                           "is the A of exactly one pair (the last sentence of a document is no A).")
        raise Mismatch("a sentence is the A of two pairs; each sentence that has a next one is the A of exactly one.")
    return rows


@exercise("Exercise 7.3 · next-sentence-prediction pairs (下一句预测)",
          forbid=("bert_ms.bert.pretraining:create_pretraining_pairs", "bert_ms.bert.pretraining:_pairs_from_document"),
          time_limit=60)
def nsp_pairs(fn):
    """``fn(documents, rng) -> list of (sentence_a, sentence_b, label)``.

    ``documents``: a list of documents, each a list of sentences (strings); ``rng``: a
    ``numpy.random.Generator``. For every sentence that has a next sentence in its document, make one pair:
    A is that sentence; with probability 0.5, B is the sentence that follows it (IsNext, label 0),
    otherwise B is a random sentence of a DIFFERENT document (NotNext, label 1)."""
    rng = np.random.default_rng()
    tag = int(rng.integers(1000))

    # the statistics, on one large corpus: 250 documents of 50 sentences (12,250 pairs), then short documents
    # (two of 1 sentence, which give no pair but may give a NotNext B, and two of 2 sentences) at random places
    n_reg, length = 250, 50
    sizes = [length] * n_reg + [1, 1, 2, 2]
    order = rng.permutation(len(sizes))
    sizes = [sizes[i] for i in order]
    docs = [[f"doc {d} sentence {i}" for i in range(n)] for d, n in enumerate(sizes)]
    regular = np.array([n == length for n in sizes])
    reg_index = np.cumsum(regular) - 1  # a regular document's number among the regular ones
    rows = _check_pairs(fn([list(doc) for doc in docs], np.random.default_rng(rng.integers(2 ** 32))), docs)
    labels = np.array([r[4] for r in rows])
    # (1) the NotNext share: 12,252 pairs, sd 0.5 / sqrt(12,252) = 0.0045; the tolerance 0.025 is 5.5 sd from
    # 0.5 and from 0.45 / 0.55: false fail 3e-8 (two-sided), false pass for p = 0.45 or 0.4 below 2e-8.
    share = float(labels.mean())
    if abs(share - 0.5) > 0.025:
        raise Mismatch(f"{share:.1%} of {len(labels):,} pairs are NotNext; expected half (flip a fair coin per pair: "
                       "rng.random() < 0.5).")
    # (2) independent labels: pairs in document order, the next pair's label equals this one's half of the
    # time (12,000 neighbours, sd 0.0046); the band 0.4-0.6 is 22 sd wide each side. Alternating labels give 0.
    rows.sort()
    same = [r[4] == s[4] for r, s in zip(rows, rows[1:]) if r[0] == s[0]]
    if abs(np.mean(same) - 0.5) > 0.1:
        raise Mismatch(f"in document order, a pair's label equals the next pair's label {np.mean(same):.0%} of the time; "
                       "independent coin flips give 50 %. Draw each pair's label at random, not in a pattern.")
    # (3) labels independent of the position in the document: NotNext share per fifth of the regular documents
    # (2 x 5 table, 4 df, threshold 38.24: false fail 1e-7).
    reg_rows = [r for r in rows if regular[r[0]]]
    table = np.zeros((2, 5))
    for _, ia, _, _, label in reg_rows:
        table[label, min(5 * ia // (length - 1), 4)] += 1
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    if _chi2(table, expected) > _CHI2_1E7[4]:
        per = table[1] / table.sum(0)
        raise Mismatch("the NotNext share depends on where A is in its document (per fifth, start to end: "
                       f"{', '.join(f'{x:.0%}' for x in per)}); flip the coin independently for every pair.")
    # (4) a NotNext B spread over the other documents: (doc_b - doc_a) mod 250 over the regular documents is
    # uniform on 1..249 (chi-square over 10 bins, 9 df, threshold 50.17: false fail 1e-7; ~6,000 draws).
    nn = [r for r in reg_rows if r[4] == 1 and regular[r[2]]]
    offsets = np.array([(reg_index[db] - reg_index[da]) % n_reg for da, _, db, _, _ in nn])
    off_bins = np.bincount(np.minimum((offsets - 1) * 10 // (n_reg - 1), 9), minlength=10)
    expected_off = np.bincount(np.minimum(np.arange(n_reg - 1) * 10 // (n_reg - 1), 9), minlength=10) / (n_reg - 1)
    if _chi2(off_bins, expected_off * len(nn)) > _CHI2_1E7[9]:
        top = np.bincount(offsets).argmax()
        raise Mismatch(f"a NotNext B does not come from a random other document: {np.mean(offsets == top):.0%} of them "
                       f"come from the document {top} places after A's. Draw B's document at random among the others.")
    # (5) ... and over their sentences: B's index in its document uniform on 0..49 (10 bins of 5, 9 df,
    # threshold 50.17: false fail 1e-7). Always the first sentence puts everything in bin 0.
    idx_bins = np.bincount(np.array([ib for _, _, _, ib, _ in nn]) * 10 // length, minlength=10)
    if _chi2(idx_bins, np.full(10, len(nn) / 10)) > _CHI2_1E7[9]:
        raise Mismatch(f"a NotNext B is not a random sentence of its document: {idx_bins[0] / len(nn):.0%} of them are "
                       "in the first tenth of their document (expected 10 %). Draw the sentence at random too.")

    # (6) the rng, on a small corpus: the same seed twice, then another seed
    small = [[f"s{tag} doc {d} sentence {i}" for i in range(int(rng.integers(4, 8)))] for d in range(30)]
    seed = int(rng.integers(2 ** 32))
    one = _check_pairs(fn([list(doc) for doc in small], np.random.default_rng(seed)), small)
    two = _check_pairs(fn([list(doc) for doc in small], np.random.default_rng(seed)), small)
    if sorted(one) != sorted(two):
        raise Mismatch("the same documents and an rng with the same seed gave different pairs: your function does not "
                       "draw (only) from the rng it is given. Use rng.random / rng.integers, not np.random.* or the "
                       "random module.")
    three = _check_pairs(fn([list(doc) for doc in small], np.random.default_rng(seed + 1)), small)
    if sorted(one) == sorted(three):
        raise Mismatch("rngs with different seeds gave the same pairs: your function does not use the rng it is given.")


# -----------------------------------------------------------------------------------------------
# Exercise 7.4: Adam without bias correction
# -----------------------------------------------------------------------------------------------
def _ratio(t: int, beta1: float = 0.9, beta2: float = 0.999) -> float:
    return (1 - beta1 ** t) / math.sqrt(1 - beta2 ** t)


@exercise("Exercise 7.4 · Adam without bias correction", kind="value")
def adam_uncorrected_ratio(answer):
    """A number: for a gradient that is the same at every step (β1 = 0.9, β2 = 0.999, eps ignored), how many
    times larger than Adam's is the update m/√v of an optimizer WITHOUT bias correction at step t = 10?"""
    want = _ratio(10)
    # The ratio is nearly flat around t = 10: the nearest other steps give 6.539 (t = 14), 6.559 (t = 11),
    # 6.507 (t = 15), 6.470 (t = 9), at least 0.011 away. The tolerance 0.004 (0.06 %) admits 6.53 and
    # every correct formula, and no other step.
    tol = 0.004
    if isinstance(answer, bool) or isinstance(answer, str):
        raise Mismatch(f"expected a number, got {answer!r}.")
    try:
        value = float(to_numpy(answer).reshape(()))
    except (TypeError, ValueError):
        raise Mismatch(f"expected a number, got {answer!r}.") from None
    if abs(value - want) <= tol:
        return
    known = [(1 / _ratio(10), "is the correction factor f_10 = √(1-β2^t)/(1-β1^t) itself; the uncorrected update "
                               "m/√v is 1/f_t times Adam's."),
             (_ratio(100), "is the ratio at step 100 (the lesson's example); the question asks for t = 10."),
             ((1 - 0.9 ** 10) / (1 - 0.999 ** 10), "has no square root: the update divides by √v, so use √(1-β2^t)."),
             ((1 - 0.999 ** 10) / math.sqrt(1 - 0.9 ** 10), "has β1 and β2 swapped: m carries β1 = 0.9, v carries "
                                                             "β2 = 0.999."),
             (math.sqrt(1 - 0.999 ** 10) / math.sqrt(1 - 0.9 ** 10), "is not it: m_t = (1-β1^t) g has no square "
                                                                      "root; only v enters through √v.")]
    for wrong, words in known:
        if abs(value - wrong) <= max(tol, 1e-3 * abs(wrong)):
            raise Mismatch(f"{value:.4g} " + words)
    for t in range(1, 101):
        if t != 10 and abs(value - _ratio(t)) <= 0.002:
            raise Mismatch(f"{value:.4g} is the ratio at step t = {t}, not t = 10. Counting convention: m_0 = v_0 = 0, "
                           "and after the t-th update m_t = (1-β1^t) g and v_t = (1-β2^t) g².")
    if abs(value - want) <= 0.01 * want:
        raise Mismatch(f"{value:.4g} is close but not precise enough: give at least three decimals (the ratios at "
                       "neighbouring steps differ by less than 1 %).")
    raise Mismatch(f"{value:.4g} is not it. Hint: with a constant gradient g, m_t = (1-β1^t) g and "
                   "v_t = (1-β2^t) g², while Adam's corrected update m̂/√v̂ is exactly 1.")
