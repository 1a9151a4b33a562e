"""Lesson 07 exercises (pretraining BERT): the 80/10/10 masking rule, the masked-only MLM loss, the NSP
sentence pairs, and Adam's bias correction.

The masking check runs the learner's function on a few thousand fresh random sequences and measures
the rule (15 % of the maskable tokens chosen, then 80 % ``[MASK]`` / 10 % random / 10 % unchanged, and
never ``[CLS]``, ``[SEP]`` or ``[PAD]``). The loss check compares with ``bert_ms.bert.losses.masked_lm_loss``
on fresh random logits and recognises the known wrong versions (d2l's mean over every slot, d2l-en #2582;
pytorchic-bert's division by every slot, #24).
"""

from __future__ import annotations

import math

import mindspore as ms
import numpy as np

from bert_ms.bert.losses import masked_lm_loss
from bert_ms.exercises import Mismatch, exercise, expect_close, to_numpy

__all__ = ["mlm_mask", "mlm_loss", "nsp_pairs", "adam_uncorrected_ratio"]

SPECIAL = ("[CLS]", "[SEP]", "[PAD]")


def _toy_vocab() -> dict[str, int]:
    words = [f"w{i}" for i in range(300)] + [f"##p{i}" for i in range(40)]
    return {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words)}


def _toy_sequence(rng: np.random.Generator, vocab_words: list[str], pad: int = 0) -> list[str]:
    n_a, n_b = int(rng.integers(15, 60)), int(rng.integers(15, 60))
    a = [str(t) for t in rng.choice(vocab_words, n_a)]
    b = [str(t) for t in rng.choice(vocab_words, n_b)]
    return ["[CLS]"] + a + ["[SEP]"] + b + ["[SEP]"] + ["[PAD]"] * pad


@exercise("Exercise 7.1 · the masked-LM rule (15 %, then 80/10/10)")
def mlm_mask(fn):
    """``fn(tokens, vocab, rng) -> (output_tokens, positions, labels)``.

    ``tokens``: a list of strings ``[CLS] A [SEP] B [SEP]`` (sometimes followed by ``[PAD]``);
    ``vocab``: dict token -> id (the pool for random replacements); ``rng``: a ``numpy.random.Generator``.
    Choose 15 % of the tokens that are not ``[CLS]``/``[SEP]``/``[PAD]``; replace each chosen one by
    ``[MASK]`` 80 % of the time, by a random vocabulary token 10 %, and keep it 10 %. Return the new
    tokens, the chosen positions and the original tokens there (the labels)."""
    rng = np.random.default_rng()
    vocab = _toy_vocab()
    words = [t for t in vocab if not t.startswith("[")]
    n_seq = 1500
    maskable = chosen = 0
    kinds = {"[MASK]": 0, "random": 0, "unchanged": 0}
    for k in range(n_seq):
        tokens = _toy_sequence(rng, words, pad=int(rng.integers(0, 6)) if k % 3 == 0 else 0)
        result = fn(list(tokens), vocab, np.random.default_rng(rng.integers(2 ** 32)))
        if not isinstance(result, tuple | list) or len(result) != 3:
            raise Mismatch("return a tuple (output_tokens, positions, labels).")
        out, positions, labels = list(result[0]), [int(p) for p in result[1]], list(result[2])
        if len(out) != len(tokens):
            raise Mismatch(f"the output has {len(out)} tokens for an input of {len(tokens)}; masking replaces "
                           "tokens, it never adds or removes any.")
        if len(labels) != len(positions) or len(set(positions)) != len(positions):
            raise Mismatch(f"expected one label per chosen position and no position twice, got {len(positions)} "
                           f"positions and {len(labels)} labels.")
        for p in positions:
            if tokens[p] in SPECIAL:
                raise Mismatch(f"position {p} ({tokens[p]}) was chosen; [CLS], [SEP] and [PAD] are never masked "
                               f"(tokens: {tokens[max(0, p - 2):p + 3]}).")
        for p, label in zip(positions, labels):
            if label != tokens[p]:
                raise Mismatch(f"the label at position {p} is {label!r} but the original token there was "
                               f"{tokens[p]!r}: labels must be the ORIGINAL tokens (what the model must predict), "
                               "not the corrupted ones.")
        chosen_set = set(positions)
        for i, (t, o) in enumerate(zip(tokens, out)):
            if i not in chosen_set and t != o:
                raise Mismatch(f"position {i} was not chosen but changed from {t!r} to {o!r}: only chosen tokens "
                               "are corrupted.")
            if i in chosen_set and o != t:
                if o == "[MASK]":
                    kinds["[MASK]"] += 1
                elif o in vocab:
                    kinds["random"] += 1
                else:
                    raise Mismatch(f"position {i} was replaced by {o!r}, which is not in the vocabulary.")
            elif i in chosen_set:
                kinds["unchanged"] += 1
        maskable += sum(t not in SPECIAL for t in tokens)
        chosen += len(positions)
    rate = chosen / maskable
    if abs(rate - 0.15) > 0.01:
        raise Mismatch(f"over {n_seq} sequences {rate:.1%} of the maskable tokens were chosen; expected 15 %"
                       + (" (count only the tokens that are not [CLS]/[SEP]/[PAD])." if rate < 0.15 else "."))
    share = {k: v / max(chosen, 1) for k, v in kinds.items()}
    seen = ", ".join(f"{k} {v:.1%}" for k, v in share.items())
    if share["[MASK]"] > 0.97:
        raise Mismatch(f"every chosen token became [MASK] ({seen}). BERT's rule is 80 % [MASK], 10 % a random "
                       "token, 10 % unchanged, so the model cannot trust the tokens it sees.")
    for kind, want in (("[MASK]", 0.8), ("random", 0.1), ("unchanged", 0.1)):
        if abs(share[kind] - want) > 0.02:
            raise Mismatch(f"of the chosen tokens: {seen}; expected [MASK] 80 %, random 10 %, unchanged 10 % "
                           f"({kind} is off). Draw one number r per chosen token: r < 0.8 -> [MASK], "
                           "0.8 <= r < 0.9 -> random, else keep.")


def _np_nll(logits: np.ndarray, ids: np.ndarray) -> np.ndarray:
    x = logits.astype(np.float64)
    x = x - x.max(-1, keepdims=True)
    logp = x - np.log(np.exp(x).sum(-1, keepdims=True))
    return -np.take_along_axis(logp, ids[..., None].astype(np.int64), -1)[..., 0]


@exercise("Exercise 7.2 · the masked-LM loss (masked positions only)")
def mlm_loss(fn):
    """``fn(mlm_logits, masked_lm_ids, masked_lm_weights) -> scalar``.

    ``mlm_logits`` [B, P, V] float32, ``masked_lm_ids`` [B, P] int32, ``masked_lm_weights`` [B, P] float32:
    1 for a real prediction, 0 for a padding slot of the fixed-size list. Return the mean cross-entropy
    over the real predictions only: sum(w * nll) / sum(w)."""
    rng = np.random.default_rng()
    b, p, v = int(rng.integers(3, 6)), int(rng.integers(6, 10)), int(rng.integers(20, 40))
    logits = (2.0 * rng.standard_normal((b, p, v))).astype(np.float32)
    ids = rng.integers(0, v, (b, p)).astype(np.int32)
    counts = rng.integers(1, p, b)
    counts[0] = p - 1
    counts[1] = 1  # rows with very different numbers of real predictions
    weights = (np.arange(p)[None, :] < counts[:, None]).astype(np.float32)
    ids[weights == 0] = 0  # padding slots carry label 0 (and point at position 0), as in the data
    expected = masked_lm_loss(ms.Tensor(logits), ms.Tensor(ids), ms.Tensor(weights))
    got = fn(ms.Tensor(logits), ms.Tensor(ids), ms.Tensor(weights))
    g = to_numpy(got).astype(np.float64)
    if g.size != 1:
        raise Mismatch(f"expected one number (a scalar loss), got an array of shape {g.shape}; average the "
                       "per-position losses with the weights.")
    try:
        expect_close(g.reshape(()), expected, "MLM loss", atol=1e-5, rtol=1e-5)
    except Mismatch:
        nll = _np_nll(logits, ids)
        w = weights.astype(np.float64)
        mistakes = [
            (nll.mean(), "this is the mean over EVERY prediction slot, padding included: the weights were applied "
                         "after averaging, so they change nothing (the d2l bug, d2l-en #2582: "
                         "CrossEntropyLoss(reduction='mean') before * weights). Weight each position's loss first, "
                         "then divide by sum(w)."),
            ((nll * w).mean(), "the padding slots were zeroed but the sum was divided by every slot (B × P) "
                               "instead of the number of real predictions sum(w) (pytorchic-bert #24)."),
            ((nll * w).sum(), "this is the sum; divide by the number of real predictions, sum(w)."),
            (((nll * w).sum(1) / w.sum(1)).mean(), "this averages per sequence, then over the batch, so a sequence "
                                                   "with 1 prediction weighs as much as one with many; divide the "
                                                   "total by sum(w) over the whole batch."),
        ]
        for wrong, words in mistakes:
            if math.isclose(float(g.reshape(())), float(wrong), rel_tol=1e-4, abs_tol=1e-5):
                raise Mismatch(f"MLM loss: expected {float(to_numpy(expected)):.6g}, got {float(g.reshape(())):.6g}; "
                               + words) from None
        raise
    # the loss must not move when the logits of padding slots change
    logits[weights == 0] += 50 * rng.standard_normal((int((weights == 0).sum()), v)).astype(np.float32)
    again = to_numpy(fn(ms.Tensor(logits), ms.Tensor(ids), ms.Tensor(weights))).astype(np.float64)
    expect_close(again.reshape(()), expected, "MLM loss after changing only the padding slots' logits",
                 atol=1e-5, rtol=1e-5, hint="positions with weight 0 must not count.")


@exercise("Exercise 7.3 · next-sentence-prediction pairs (下一句预测)")
def nsp_pairs(fn):
    """``fn(documents, rng) -> list of (sentence_a, sentence_b, label)``.

    ``documents``: a list of documents, each a list of sentences (strings); ``rng``: a
    ``numpy.random.Generator``. For every sentence that has a next sentence in its document, make one pair:
    A is that sentence; with probability 0.5, B is the sentence that follows it (IsNext, label 0),
    otherwise B is a random sentence of a DIFFERENT document (NotNext, label 1)."""
    rng = np.random.default_rng()
    docs = [[f"doc {d} sentence {i}" for i in range(int(rng.integers(3, 12)))] for d in range(int(rng.integers(120, 160)))]
    where = {s: (d, i) for d, doc in enumerate(docs) for i, s in enumerate(doc)}
    pairs = list(fn([list(doc) for doc in docs], np.random.default_rng(rng.integers(2 ** 32))))
    want = sum(len(doc) - 1 for doc in docs)
    if len(pairs) != want:
        raise Mismatch(f"{len(docs)} documents with {sum(len(d) for d in docs)} sentences give {want} pairs (one per "
                       f"sentence that has a next one), got {len(pairs)}.")
    labels = []
    for pair in pairs:
        if len(pair) != 3:
            raise Mismatch(f"each pair must be (sentence_a, sentence_b, label), got {pair!r}.")
        a, b, label = pair
        if a not in where or b not in where:
            raise Mismatch(f"pair {pair!r}: A and B must be sentences of the documents.")
        (da, ia), (db, ib) = where[a], where[b]
        label = int(label)
        labels.append(label)
        if label == 0 and not (db == da and ib == ia + 1):
            if db != da:
                raise Mismatch(f"pair ({a!r}, {b!r}) has label 0 but B comes from another document. Label 0 is "
                               "IsNext (B really follows A), label 1 is NotNext.")
            raise Mismatch(f"pair ({a!r}, {b!r}) has label 0 (IsNext) but B is not the sentence right after A.")
        if label == 1 and db == da and ib == ia + 1:
            raise Mismatch(f"pair ({a!r}, {b!r}) has label 1 (NotNext) but B is the sentence right after A. Label 0 "
                           "is IsNext, label 1 is NotNext: are your labels swapped? (And a NotNext B comes from a different "
                           "document, never from A's own document.)")
        if label == 1 and db == da:
            raise Mismatch(f"pair ({a!r}, {b!r}) is NotNext but B comes from A's own document; draw B from a "
                           "different document (the same document would often be about the same topic, or even "
                           "be the true next sentence).")
        if label not in (0, 1):
            raise Mismatch(f"labels are 0 (IsNext) or 1 (NotNext), got {label}.")
    share = float(np.mean(labels))
    if abs(share - 0.5) > 0.08:
        raise Mismatch(f"{share:.0%} of {len(labels)} pairs are NotNext; expected half (flip a fair coin per pair).")


@exercise("Exercise 7.4 · Adam without bias correction", kind="value")
def adam_uncorrected_ratio(answer):
    """A number: for a gradient that is the same at every step (β1 = 0.9, β2 = 0.999, eps ignored), how many
    times larger than Adam's is the update m/√v of an optimizer WITHOUT bias correction at step t = 10?"""
    t = 10
    factor = math.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)  # the Trainer's correction f_t
    want = 1.0 / factor
    try:
        value = float(answer)
    except (TypeError, ValueError):
        raise Mismatch(f"expected a number, got {answer!r}.") from None
    if math.isclose(value, want, rel_tol=0.01):
        return
    if math.isclose(value, factor, rel_tol=0.01):
        raise Mismatch(f"{value:.4g} is the correction factor f_10 = √(1-β2^t)/(1-β1^t) itself; the uncorrected "
                       "update m/√v is 1/f_t times Adam's.")
    if math.isclose(value, 1.0 / (math.sqrt(1 - 0.999 ** 100) / (1 - 0.9 ** 100)), rel_tol=0.01):
        raise Mismatch(f"{value:.4g} is the ratio at step 100 (the lecture's example); the question asks for t = 10.")
    raise Mismatch(f"{value:.4g} is not it. Hint: with a constant gradient g, m_t = (1-β1^t) g and "
                   "v_t = (1-β2^t) g², while Adam's corrected update m̂/√v̂ is exactly 1.")
