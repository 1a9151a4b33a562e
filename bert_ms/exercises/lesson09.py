"""Lesson 09 exercises (features, tokens, question answering): span decoding, SQuAD's EM and F1,
first-piece token labels, ELMo's scalar mix over BERT's layers, and the windows of a long context.

Each check draws fresh random inputs, runs the learner's function and the package's reference
(:mod:`bert_ms.bert.qa`, :mod:`bert_ms.train.tasks`) on them, and names the first mismatch; typical
mistakes (the best start and the best end taken separately, no answer normalisation, a tag on every
piece, no softmax over the layer weights, a last window that misses the end) are named.
"""

from __future__ import annotations

import numpy as np

from bert_ms.bert import qa
from bert_ms.exercises import Mismatch, exercise, expect_close, expect_equal, to_numpy

__all__ = ["span_decode", "em_f1", "first_piece_labels", "scalar_mix", "window_starts"]


@exercise("Exercise 9.1 · span decoding (end ≥ start, a maximum length)")
def span_decode(fn):
    """``fn(start_logits, end_logits, max_answer_len) -> (i, j)``: NumPy vectors of one window's scores; the
    span maximising ``start_logits[i] + end_logits[j]`` with ``i <= j < i + max_answer_len``."""
    rng = np.random.default_rng()
    cases = []
    n = int(rng.integers(8, 14))
    s, e = rng.normal(size=n), rng.normal(size=n)
    i0 = int(rng.integers(3, n - 2))
    s[i0] += 6.0
    e[int(rng.integers(0, i0))] += 8.0  # the best end alone lies before the best start
    cases.append((s, e, n))
    s, e = rng.normal(size=n), rng.normal(size=n)
    s[1] += 6.0
    e[n - 1] += 8.0  # the best end alone is too far away
    cases.append((s, e, 3))
    cases += [(rng.normal(size=n), rng.normal(size=n), int(rng.integers(1, 5))) for _ in range(4)]
    for s, e, max_len in cases:
        want = qa.best_span(s, e, None, max_len)[:2]
        got = fn(s.copy(), e.copy(), max_len)
        if got is None or len(got) < 2:
            raise Mismatch("return the pair (start, end).")
        got = (int(got[0]), int(got[1]))
        if got == want:
            continue
        what = f"start_logits {np.round(s, 2).tolist()}, end_logits {np.round(e, 2).tolist()}, max_answer_len {max_len}"
        if got == (int(np.argmax(s)), int(np.argmax(e))):
            raise Mismatch(f"{what}: you took the best start and the best end separately, giving {got}; the end "
                           f"must not come before the start nor lie max_answer_len or more tokens after it "
                           f"(expected {want}).")
        if got[1] < got[0]:
            raise Mismatch(f"{what}: your span {got} ends before it starts (expected {want}).")
        if got[1] - got[0] + 1 > max_len:
            raise Mismatch(f"{what}: your span {got} is {got[1] - got[0] + 1} tokens long, more than "
                           f"max_answer_len={max_len} (expected {want}).")
        raise Mismatch(f"{what}: expected the span {want} (score {s[want[0]] + e[want[1]]:.3f}), got {got} "
                       f"(score {s[got[0]] + e[got[1]]:.3f}).")


_EM_CASES = [
    ("The Eiffel Tower", "eiffel tower"), ("Paris, France.", "paris france"), ("an apple", "Apple"),
    ("the cat sat on the mat", "a cat sat"), ("Denver Broncos", "Broncos"), ("1,499 dollars", "$1,499"),
    ("John P. Looney", "John Looney"), ("", "something"), ("blue", "red"),
]


@exercise("Exercise 9.2 · SQuAD's exact match and F1")
def em_f1(fn):
    """``fn(prediction, gold) -> (em, f1)``, both in [0, 1], after SQuAD's normalisation (lower case, no
    punctuation, no articles a/an/the, single spaces); F1 over the bags of words."""
    rng = np.random.default_rng()
    cases = list(_EM_CASES)
    words = ["alpha", "beta", "gamma", "delta", "the", "a", "Omega,", "pi."]
    for _ in range(4):
        cases.append((" ".join(rng.choice(words, size=int(rng.integers(1, 5)))),
                      " ".join(rng.choice(words, size=int(rng.integers(1, 5))))))
    for pred, gold in cases:
        want = (qa.exact_match(pred, gold), qa.f1_score(pred, gold))
        got = fn(pred, gold)
        if got is None or len(got) != 2:
            raise Mismatch("return the pair (em, f1).")
        em, f1 = float(got[0]), float(got[1])
        if abs(em - want[0]) < 1e-9 and abs(f1 - want[1]) < 1e-6:
            continue
        what = f"prediction {pred!r}, gold {gold!r}"
        if em > 1 or f1 > 1.0 + 1e-9:
            raise Mismatch(f"{what}: return fractions in [0, 1], not percent (got {em}, {f1}).")
        raw_em = float(pred.strip() == gold.strip())
        if em == raw_em != want[0]:
            raise Mismatch(f"{what}: exact match compares the answers after SQuAD's normalisation (lower case, "
                           f"punctuation and the articles a/an/the removed): expected em {want[0]}, got {em}.")
        raise Mismatch(f"{what}: expected (em, f1) = ({want[0]}, {want[1]:.4f}), got ({em}, {f1:.4f}). "
                       "Hint: F1 = 2PR/(P+R), P = shared words / predicted words, R = shared / gold words, and "
                       "0 when nothing is shared.")


@exercise("Exercise 9.3 · a word's tag goes on its first piece only")
def first_piece_labels(fn):
    """``fn(pieces_per_word, tag_ids, seq_len) -> list of seq_len ints``: the labels of ``[CLS] pieces [SEP]
    [PAD]...`` where each word's tag id sits on its **first** piece and every other position (later pieces,
    [CLS], [SEP], padding) holds -100 (ignored by the loss). The pieces always fit."""
    rng = np.random.default_rng()
    for _ in range(5):
        n_words = int(rng.integers(2, 7))
        counts = [int(rng.choice([1, 1, 2, 3])) for _ in range(n_words)]
        pieces = [[f"w{k}"] + [f"##p{m}" for m in range(c - 1)] for k, c in enumerate(counts)]
        tags = [int(t) for t in rng.integers(0, 9, size=n_words)]
        seq_len = sum(counts) + 2 + int(rng.integers(0, 4))
        want = [-100]
        for c, t in zip(counts, tags):
            want += [t] + [-100] * (c - 1)
        want += [-100] * (seq_len - len(want))
        got = fn([list(p) for p in pieces], list(tags), seq_len)
        got = [int(x) for x in to_numpy(got).reshape(-1)] if got is not None else None
        what = f"pieces {pieces}, tags {tags}, seq_len {seq_len}"
        if got is None:
            raise Mismatch(f"{what}: return the list of labels.")
        every = [-100] + [t for c, t in zip(counts, tags) for _ in range(c)]
        every += [-100] * (seq_len - len(every))
        if got == every and every != want:
            raise Mismatch(f"{what}: the tag went on every piece of a word; only the first piece carries it, "
                           f"the others get -100 (expected {want}).")
        if got[1:] == want[:-1] or (got[0] != -100 and got[1:len(want)] == want[2:] + [-100]):
            raise Mismatch(f"{what}: the labels are shifted by one: position 0 is [CLS] (-100) and the first "
                           f"word's first piece is at position 1 (expected {want}, got {got}).")
        expect_equal(got, want, what)


def _mix(layers, w, gamma):
    e = np.exp(w - w.max())
    return gamma * np.tensordot(e / e.sum(), layers, axes=(0, 0))


@exercise("Exercise 9.4 · ELMo's scalar mix over BERT's layers")
def scalar_mix(fn):
    """``fn(layers, w, gamma) -> features``: ``layers`` [L+1, B, H] (embeddings then every layer), ``w`` [L+1]
    raw weights, ``gamma`` a number; returns ``gamma * sum_j softmax(w)_j * layers[j]`` [B, H] (NumPy)."""
    rng = np.random.default_rng()
    n, b, h = int(rng.integers(3, 8)), 2, 5
    layers = rng.normal(size=(n, b, h))
    w = rng.normal(size=n)
    gamma = float(rng.uniform(0.5, 2.0))
    want = _mix(layers, w, gamma)
    got = fn(layers.copy(), w.copy(), gamma)
    if got is None:
        raise Mismatch("return the mixed features.")
    got = to_numpy(got).astype(np.float64)
    if got.shape == want.shape and np.allclose(got, gamma * np.tensordot(w, layers, axes=(0, 0)), atol=1e-6):
        raise Mismatch("the raw weights were used; the mix uses softmax(w), so the weights are positive and sum "
                       "to 1 (Peters et al. 2018, eq. 1).")
    if got.shape == want.shape and np.allclose(got, want / gamma, atol=1e-6) and abs(gamma - 1) > 1e-3:
        raise Mismatch(f"gamma (here {gamma:.3f}) must scale the whole mix.")
    expect_close(got, want, f"layers [{n}, {b}, {h}], gamma {gamma:.3f}")


def _starts(n_tokens: int, room: int, stride: int) -> list[int]:
    starts = list(range(0, max(n_tokens - room, 0) + 1, stride))
    if starts[-1] + room < n_tokens:
        starts.append(n_tokens - room)
    return starts


@exercise("Exercise 9.5 · where the windows of a long context start")
def window_starts(fn):
    """``fn(n_tokens, room, stride) -> list of ints``: the first context token of every window, as
    :func:`bert_ms.bert.qa.make_windows` cuts them: a window every ``stride`` tokens from 0, as long as a
    window of ``room`` tokens does not pass the end, plus one last window ending exactly at the end if the
    others do not reach it. A context that fits gets the single window [0]."""
    rng = np.random.default_rng()
    cases = [(10, 20, 5), (100, 40, 20), (101, 40, 20)]
    cases += [(int(rng.integers(30, 300)), int(rng.integers(10, 60)), int(rng.integers(5, 30))) for _ in range(4)]
    for n, room, stride in cases:
        stride = min(stride, room)
        want = _starts(n, room, stride)
        got = fn(n, room, stride)
        got = [int(x) for x in got] if got is not None else None
        what = f"n_tokens={n}, room={room}, stride={stride}"
        if got is not None and len(want) > 1 and got == want[:-1]:
            raise Mismatch(f"{what}: the last {n - got[-1] - room} tokens are in no window; add a last window "
                           f"that ends at the end (start {n - room}). Expected {want}.")
        if got is not None and (got and got[-1] + room < n):
            raise Mismatch(f"{what}: your windows stop before the end of the context (the last starts at "
                           f"{got[-1]} and holds {room} tokens). Expected {want}.")
        expect_equal(got, want, what)
