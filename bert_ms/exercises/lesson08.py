"""Lesson 08 exercises (fine-tuning): cutting a sentence pair to fit, layer-wise learning rates, the F1
of the spam class, and counting the parameters a classification head adds.

Each check draws fresh random inputs, runs the learner's function and a reference on them, and names
the first mismatch; typical mistakes (cutting only the second sentence, the embeddings given the top
layer's rate, the F1 of the wrong class, the biases forgotten) are named.
"""

from __future__ import annotations

import numpy as np

from bert_ms.exercises import Mismatch, exercise, expect_close, expect_equal, to_numpy

__all__ = ["truncate_pair", "layerwise_lr", "spam_f1", "minilm_head_params"]


def _truncate_seq_pair(a: list, b: list, max_tokens: int) -> tuple[list, list]:
    """google-research/bert ``run_classifier._truncate_seq_pair``: drop the last token of the longer one
    (of ``b`` on a tie) until both fit."""
    a, b = list(a), list(b)
    while len(a) + len(b) > max_tokens:
        if len(a) > len(b):
            a.pop()
        else:
            b.pop()
    return a, b


@exercise("Exercise 8.1 · cutting a sentence pair to fit (longest first)")
def truncate_pair(fn):
    """``fn(tokens_a, tokens_b, max_tokens) -> (tokens_a, tokens_b)``: BERT's ``_truncate_seq_pair``: while
    the two lists together are longer than ``max_tokens``, drop the **last** token of the longer one (of
    ``tokens_b`` when they are equally long). Return new lists."""
    rng = np.random.default_rng()
    cases = [(list("abcdefghij"), list("xyz"), 8), (list("abc"), list("uvwxyz0123"), 9), (list("abcd"), list("wxyz"), 5)]
    for _ in range(4):
        na, nb = int(rng.integers(1, 15)), int(rng.integers(1, 15))
        cases.append(([f"a{i}" for i in range(na)], [f"b{i}" for i in range(nb)], int(rng.integers(2, na + nb + 2))))
    for a, b, m in cases:
        want = _truncate_seq_pair(a, b, m)
        got = fn(list(a), list(b), m)
        if got is None or len(got) != 2:
            raise Mismatch("return the pair (tokens_a, tokens_b).")
        got = (list(got[0]), list(got[1]))
        if got == want:
            continue
        what = f"tokens_a={a}, tokens_b={b}, max_tokens={m}"
        if len(got[0]) + len(got[1]) > m:
            raise Mismatch(f"{what}: {len(got[0]) + len(got[1])} tokens remain, more than max_tokens={m}.")
        if got[0] == a[: len(got[0])] and got[1] == b[: len(got[1])] and len(got[0]) + len(got[1]) == m \
                and len(got[1]) < len(want[1]):
            raise Mismatch(f"{what}: tokens_b was cut before tokens_a; cut the LONGER sentence first, so that each "
                           f"keeps as much as possible (expected {want}).")

        def from_front(kept, full):
            return 0 < len(kept) < len(full) and kept == full[len(full) - len(kept):]

        if from_front(got[0], a) or from_front(got[1], b):
            raise Mismatch(f"{what}: tokens were dropped from the front; BERT drops the last tokens (the start "
                           f"of a sentence matters most). Expected {want}.")
        expect_equal(got, want, what)


def _layerwise(base_lr: float, decay: float, num_layers: int) -> list[float]:
    return [base_lr * decay ** (num_layers - k) for k in range(num_layers + 1)]


@exercise("Exercise 8.2 · layer-wise decreasing learning rates")
def layerwise_lr(fn):
    """``fn(base_lr, decay, num_layers) -> list of num_layers + 1 rates``: index 0 for the embeddings, index
    ``l`` for encoder layer ``l`` (1 = the lowest). The top layer (and the new head) trains at ``base_lr``,
    and each layer below gets ``decay`` times the rate of the layer above (Sun et al. 2019, sec. 5.3)."""
    rng = np.random.default_rng()
    cases = [(2e-5, 0.95, 12), (1e-4, float(rng.uniform(0.5, 0.95)), int(rng.integers(2, 8)))]
    for base, decay, n in cases:
        want = _layerwise(base, decay, n)
        got = fn(base, decay, n)
        if got is None:
            raise Mismatch("return the list of rates.")
        got = [float(x) for x in to_numpy(got).reshape(-1)]
        what = f"base_lr={base:g}, decay={decay:.3f}, num_layers={n}"
        if len(got) == n:
            raise Mismatch(f"{what}: expected {n + 1} rates (the embeddings and {n} layers), got {n}.")
        if len(got) == n + 1 and np.allclose(got, want[::-1], rtol=1e-6):
            raise Mismatch(f"{what}: the order is reversed: the TOP layer trains at base_lr and the embeddings at "
                           f"base_lr * decay^{n} (lower layers hold more general features; change them least).")
        expect_close(np.array(got), np.array(want), what, rtol=1e-6, atol=0)


@exercise("Exercise 8.3 · the F1 of the spam class")
def spam_f1(fn):
    """``fn(predictions, labels) -> float``: F1 of class 1 (spam) for two NumPy int arrays of 0/1:
    ``2 * precision * recall / (precision + recall)``, 0.0 when no email is both predicted and truly spam."""
    rng = np.random.default_rng()
    cases = []
    for p_spam in (0.3, 0.5, 0.1):
        y = (rng.random(40) < p_spam).astype(np.int64)
        pred = np.where(rng.random(40) < 0.75, y, 1 - y)
        cases.append((pred, y))
    cases.append((np.zeros(10, np.int64), (np.arange(10) < 3).astype(np.int64)))  # always "ham": F1 0
    for pred, y in cases:
        tp, fp, fn_ = int(((pred == 1) & (y == 1)).sum()), int(((pred == 1) & (y == 0)).sum()), \
            int(((pred == 0) & (y == 1)).sum())
        want = 2 * tp / (2 * tp + fp + fn_) if tp else 0.0
        got = fn(pred.copy(), y.copy())
        if got is None:
            raise Mismatch("return the F1 as a number.")
        got = float(got)
        if abs(got - want) < 1e-9:
            continue
        what = f"predictions {pred.tolist()}, labels {y.tolist()}"
        tn = int(((pred == 0) & (y == 0)).sum())
        ham = 2 * tn / (2 * tn + fn_ + fp) if tn else 0.0
        if abs(got - (pred == y).mean()) < 1e-9:
            raise Mismatch(f"{what}: that is the accuracy ({got:.4f}); F1 of spam is {want:.4f}. With 70 % ham, "
                           "accuracy rewards a model that never says spam; F1 does not.")
        if abs(got - ham) < 1e-9:
            raise Mismatch(f"{what}: that is the F1 of the ham class ({got:.4f}); spam is class 1 (expected "
                           f"{want:.4f}).")
        raise Mismatch(f"{what}: expected F1 {want:.4f} (tp {tp}, fp {fp}, fn {fn_}), got {got:.4f}.")


@exercise("Exercise 8.4 · the parameters a spam head adds to MiniLM", kind="value")
def minilm_head_params(answer):
    """How many **new** parameters does ``BertForSequenceClassification`` with 2 labels add to MiniLM
    (H = 384), i.e. how many are freshly initialised when the pretrained weights are loaded? (The pooler
    comes with the pretrained weights.)"""
    h, k = 384, 2
    want = h * k + k
    if answer == want:
        return
    if answer == h * k:
        raise Mismatch(f"{answer} counts the weights only; the linear layer has one bias per label too.")
    if answer == want + h * h + h:
        raise Mismatch(f"{answer} counts the pooler (H² + H) as new, but it is pretrained and loaded with the "
                       "encoder; only the classifier is new.")
    if answer == 768 * k + k:
        raise Mismatch(f"{answer} is BERT-Base's head (H = 768); MiniLM's hidden size is 384.")
    raise Mismatch(f"expected a count like H × labels + labels; got {answer}.")
