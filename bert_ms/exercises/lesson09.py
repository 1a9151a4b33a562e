"""Lesson 09 exercises (features, tokens, question answering), in notebook order: ELMo's scalar mix over
BERT's layers (9.1), first-piece token labels (9.2), the windows of a long context (9.3), span decoding (9.4),
SQuAD's EM and F1 (9.5).

Each check runs the learner's function on inputs built to tell the right answer from each typical mistake
on every run (the separately-taken best start and end, a span one token too long or too short, a one-token
span refused, a question token or a padding position chosen, F1 over sets, no normalisation or the wrong
one, one gold answer of several, a tag on every piece, a truncated word half kept, raw layer weights, a
last window that misses the end or is short, stride taken for the overlap), plus fresh random inputs, and
compares with exact float64 / pure-Python references written here (independent of the package's versions,
which an answer may not call).
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from bert_ms.exercises import Mismatch, exercise, expect_close, expect_equal, to_numpy

__all__ = ["scalar_mix", "first_piece_labels", "window_starts", "span_decode", "em_f1"]

_FORBID_SPAN = ("bert_ms.bert.qa:best_span", "bert_ms.bert.qa:predict_answers")
_FORBID_EM = ("bert_ms.bert.qa:exact_match", "bert_ms.bert.qa:f1_score", "bert_ms.bert.qa:squad_em_f1",
              "bert_ms.bert.qa:normalize_answer", "bert_ms.bert.qa:_f1", "bert_ms.data:email_qa_answer_key")
_FORBID_TAGS = ("bert_ms.train.task_data:token_tag_arrays",)
_FORBID_MIX = ("bert_ms.train.features:combine_layers", "bert_ms.train.features:FeatureClassifier",
               "bert_ms.classic.elmo:ScalarMix", "bert_ms.classic.elmo:scalar_mix")
_FORBID_WINDOWS = ("bert_ms.bert.qa:make_windows", "bert_ms.bert.qa:training_windows")


# ---------------------------------------------------------------------------------------- 9.1
def _mix(layers, w, gamma):
    e = np.exp(w - w.max())
    return gamma * np.tensordot(e / e.sum(), layers, axes=(0, 0))


@exercise("Exercise 9.1 · ELMo's scalar mix over BERT's layers", forbid=_FORBID_MIX, time_limit=20)
def scalar_mix(fn):
    """``fn(layers, w, gamma) -> features``: ``layers`` [L+1, B, H] (embeddings then every layer), ``w`` [L+1]
    raw weights, ``gamma`` a number; returns ``gamma * sum_j softmax(w)_j * layers[j]`` [B, H]."""
    rng = np.random.default_rng()
    shapes = [(7, 2, 5), (13, 3, 4), (int(rng.integers(3, 9)), 1, 6)]
    for n, b, h in shapes:
        layers = rng.normal(size=(n, b, h)) + rng.normal(size=(n, 1, 1)) * 2  # layers that differ in level
        w = rng.normal(size=n) * 1.5
        w[int(rng.integers(n))] += 2.0  # one layer clearly ahead: a uniform mix is far from the answer
        gamma = float(rng.uniform(1.5, 3.0))
        want = _mix(layers, w, gamma)
        got = fn(layers.copy(), w.copy(), gamma)
        what = f"layers [{n}, {b}, {h}], w {np.round(w, 3).tolist()}, gamma {gamma:.3f}"
        arr = to_numpy(got)
        if arr.dtype == object:
            raise Mismatch(f"{what}: return the mixed features as an array or Tensor of shape {want.shape}.")
        arr = arr.astype(np.float64)
        if arr.shape != want.shape:
            hint = (" Sum over the layer axis (axis 0), weighted by softmax(w)." if arr.shape == layers.shape else
                    " The mix sums over the layers (axis 0) and keeps the batch and hidden axes.")
            raise Mismatch(f"{what}: expected shape {want.shape}, got {arr.shape}.{hint}")
        sm = np.exp(w - w.max())
        sm /= sm.sum()
        wrong = {
            "the raw weights w were used; the mix uses softmax(w), positive weights that sum to 1 (Peters et al. "
            "2018, eq. 1)": gamma * np.tensordot(w, layers, axes=(0, 0)),
            f"gamma (here {gamma:.3f}) must scale the whole mix": want / gamma,
            "the weights are w / sum(w); the mix uses softmax(w) = exp(w) / sum(exp(w))":
                gamma * np.tensordot(w / w.sum(), layers, axes=(0, 0)),
            "the layers were averaged with equal weights; each layer j gets softmax(w)_j":
                gamma * layers.mean(0),
            "gamma went inside the softmax; the mix is gamma * sum_j softmax(w)_j h_j":
                np.tensordot(np.exp(gamma * w - (gamma * w).max()) / np.exp(gamma * w - (gamma * w).max()).sum(),
                             layers, axes=(0, 0)),
            "the weights are sigmoid(w); the mix uses softmax(w), which sums to 1 over the layers":
                gamma * np.tensordot(1 / (1 + np.exp(-w)), layers, axes=(0, 0)),
            "the weights were applied in reverse layer order": gamma * np.tensordot(sm[::-1], layers, axes=(0, 0)),
        }
        for message, value in wrong.items():
            if np.allclose(arr, value, atol=1e-5, rtol=1e-5) and not np.allclose(value, want, atol=1e-4):
                raise Mismatch(f"{what}: {message}.")
        expect_close(arr, want, what, atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------------------------------- 9.2
def _first_piece(counts, tags, seq_len):
    labels = [-100]
    for c, t in zip(counts, tags):
        if len(labels) + c > seq_len - 1:  # the word does not fit whole before [SEP]: it and the rest are left out
            break
        labels += [t] + [-100] * (c - 1)
    return labels + [-100] * (seq_len - len(labels))


def _tag_cases(rng):
    """(piece counts, tag ids, seq_len, kind); every run: padding, an exact fit, a word cut by the end."""
    cases = []
    for kind in ("padding", "exact fit", "cut word", "cut at a word", "padding"):
        n_words = int(rng.integers(4, 8))
        counts = [int(c) for c in rng.choice([1, 2, 3, 4], size=n_words, p=[0.35, 0.3, 0.2, 0.15])]
        counts[int(rng.integers(0, 2))] = int(rng.integers(3, 5))  # a word of 3-4 pieces among the first two
        tags = [int(t) for t in rng.integers(1, 12, size=n_words)]
        tags[int(rng.integers(0, 2))] = 0  # tag id 0 on a first piece: a real tag, not "no label"
        total = sum(counts)
        if kind == "padding":
            seq_len = total + 2 + int(rng.integers(2, 6))
        elif kind == "exact fit":
            seq_len = total + 2
        elif kind == "cut word":  # the last kept position falls inside a word of several pieces
            k = next(k for k in range(n_words - 1, -1, -1) if counts[k] > 1) if any(c > 1 for c in counts[1:]) else 0
            if k == 0:
                counts[-1] = 3
                k = n_words - 1
            seq_len = 1 + sum(counts[:k]) + 1 + int(rng.integers(0, counts[k] - 1)) + 1
        else:  # exactly the words before word k fit; word k is one piece, so [SEP] alone keeps it out
            k = int(rng.integers(2, n_words))
            counts[k] = 1
            seq_len = 1 + sum(counts[:k]) + 1
        pieces = [[f"w{j}"] + [f"##p{j}{m}" for m in range(c - 1)] for j, c in enumerate(counts)]
        cases.append((pieces, tags, seq_len, kind))
    return cases


@exercise("Exercise 9.2 · a word's tag goes on its first piece only", forbid=_FORBID_TAGS, time_limit=20)
def first_piece_labels(fn):
    """``fn(pieces_per_word, tag_ids, seq_len) -> list of seq_len ints``: the labels of ``[CLS] pieces [SEP]
    [PAD]...`` where each word's tag id sits on its **first** piece and every other position (later pieces,
    [CLS], [SEP], padding) holds -100 (ignored by the loss). A word whose pieces do not all fit before the
    final [SEP] is left out, with every word after it, as :func:`bert_ms.train.task_data.token_tag_arrays` does."""
    rng = np.random.default_rng()
    for pieces, tags, seq_len, kind in _tag_cases(rng):
        counts = [len(p) for p in pieces]
        want = _first_piece(counts, tags, seq_len)
        got = fn([list(p) for p in pieces], list(tags), seq_len)
        try:
            got = [int(x) for x in to_numpy(got).reshape(-1)]
        except (TypeError, ValueError):
            raise Mismatch(f"return a list of {seq_len} integer labels, got {got!r}.") from None
        if got == want:
            continue
        what = f"pieces {pieces}, tag_ids {tags}, seq_len {seq_len}"
        if len(got) != seq_len:
            raise Mismatch(f"{what}: expected {seq_len} labels (one per position, padding included), got "
                           f"{len(got)} (expected {want}, got {got})."
                           + (" A word that does not fit whole before [SEP] is left out." if len(got) > seq_len
                              else ""))
        labels_every, labels_last = [-100], [-100]
        for c, t in zip(counts, tags):
            labels_every += [t] * c
            labels_last += [-100] * (c - 1) + [t]
        if got[:len(labels_every)] == labels_every[:seq_len] and got != want:
            raise Mismatch(f"{what}: the tag went on every piece of a word; only the first piece carries it, the "
                           f"others get -100 (expected {want}, got {got}).")
        if got[:min(len(labels_last), seq_len - 1)] == labels_last[:min(len(labels_last), seq_len - 1)]:
            raise Mismatch(f"{what}: the tag went on a word's last piece; it goes on the first (expected {want}, "
                           f"got {got}).")
        if got[:-1] == want[1:] or got[1:] == want[:-1]:
            raise Mismatch(f"{what}: the labels are shifted by one: position 0 is [CLS] (-100) and the first "
                           f"word's first piece is at position 1 (expected {want}, got {got}).")
        k = next(k for k, (g, x) in enumerate(zip(got, want)) if g != x)
        if k == 0:
            raise Mismatch(f"{what}: position 0 is [CLS] and gets -100, got {got[0]} (expected {want}, got {got}).")
        if kind in ("cut word", "cut at a word") and want[k] == -100 and got[k] >= 0:
            raise Mismatch(f"{what}: position {k} is a word that does not fit whole before the final [SEP] "
                           f"(position {seq_len - 1}); it is left out, with every word after it (expected {want}, "
                           f"got {got}).")
        if want[k] == -100 and got[k] in (0, -1) and all(x == -100 for x in want[k:]):
            raise Mismatch(f"{what}: position {k} ([SEP], padding, or a left-out word) should be -100, got "
                           f"{got[k]}: -100 is the label the loss ignores (expected {want}, got {got}).")
        if want[k] == 0 and got[k] == -100:
            raise Mismatch(f"{what}: position {k} is the first piece of a word tagged 0; tag id 0 is a real tag "
                           f"(is a test like `if tag:` dropping it?). Expected {want}, got {got}.")
        expect_equal(got, want, what)


# ---------------------------------------------------------------------------------------- 9.3
def _starts(n_tokens: int, room: int, stride: int) -> list[int]:
    starts = [0]
    while starts[-1] + room < n_tokens:  # the last window does not reach the end yet
        starts.append(min(starts[-1] + stride, n_tokens - room))
    return starts


def _window_cases(rng):
    room = int(rng.integers(20, 41))
    stride = int(rng.integers(room // 4 + 1, room // 2))  # stride < room / 2: overlap room - stride > stride
    cases = [
        (int(rng.integers(3, room)), room, stride, "shorter"),
        (room, room, stride, "exact"),
        (room + 1, room, stride, "one more"),
        (room + 3 * stride, room, stride, "divisible"),  # the third stride reaches the end exactly
        (room + 3 * stride + int(rng.integers(1, stride)), room, stride, "not divisible"),
        (room + 2 * room + int(rng.integers(1, room)), room, room, "stride = room"),
    ]
    for _ in range(3):
        r = int(rng.integers(8, 60))
        cases.append((int(rng.integers(1, 400)), r, int(rng.integers(1, r + 1)), "random"))
    return cases


@exercise("Exercise 9.3 · where the windows of a long context start", forbid=_FORBID_WINDOWS, time_limit=20)
def window_starts(fn):
    """``fn(n_tokens, room, stride) -> list of ints``: the first context token of every window, as
    :func:`bert_ms.bert.qa.make_windows` cuts them (``stride <= room``): a window every ``stride`` tokens from
    0, as long as a window of ``room`` tokens does not pass the end, plus one last window ending exactly at
    the end if the others do not reach it. A context that fits gets the single window [0]."""
    rng = np.random.default_rng()
    for n, room, stride, kind in _window_cases(rng):
        want = _starts(n, room, stride)
        got = fn(n, room, stride)
        try:
            got = [int(x) for x in to_numpy(got).reshape(-1)] if not isinstance(got, range) else list(got)
        except (TypeError, ValueError):
            raise Mismatch(f"return a list of integer start positions, got {got!r}.") from None
        if got == want:
            continue
        what = f"n_tokens={n}, room={room}, stride={stride}"
        if not got:
            raise Mismatch(f"{what}: no window at all; every context has at least the window [0]. Expected {want}.")
        if kind in ("shorter", "exact") and got != [0]:
            raise Mismatch(f"{what}: the whole context fits in one window (n_tokens <= room): expected [0], got "
                           f"{got}.")
        overlap = room - stride
        if len(got) > 1 and got[1] == overlap != stride:
            raise Mismatch(f"{what}: your windows start every {overlap} tokens, room - stride, the overlap; a new "
                           f"window starts every `stride` tokens (neighbours then overlap by room - stride). "
                           f"Expected {want}.")
        if got[-1] + room < n:
            raise Mismatch(f"{what}: the last {n - got[-1] - room} tokens are in no window (your last window starts "
                           f"at {got[-1]} and holds {room}); add a last window that ends at the end (start "
                           f"{n - room}). Expected {want}.")
        if got[-1] > n - room and n > room:
            raise Mismatch(f"{what}: your last window starts at {got[-1]} and holds only {n - got[-1]} of its {room} "
                           f"tokens; here the last window ends exactly at the end: it starts at n_tokens - room = "
                           f"{n - room} (run_squad.py's short last window is a different rule). Expected {want}.")
        if len(got) != len(set(got)):
            raise Mismatch(f"{what}: a start appears twice; when a stride already reaches the end, no extra window "
                           f"is added. Expected {want}.")
        if len(got) > len(want) and got[:len(want)] == want:
            raise Mismatch(f"{what}: windows go on after one has reached the end (a window starting at {want[-1]} "
                           f"already holds the last token). Expected {want}.")
        expect_equal(got, want, what)


# ---------------------------------------------------------------------------------------- 9.4
def _best_span(s, e, mask, max_len):
    best, span = -np.inf, None
    for i in range(len(s)):
        for j in range(i, min(i + max_len, len(s))):
            if mask[i] and mask[j] and s[i] + e[j] > best:
                best, span = s[i] + e[j], (i, j)
    return span


def _span_cases(rng):
    """(start, end, context_mask, max_len, what it tells apart) -- every run has every kind."""
    cases = []

    def window(n_question, n_context, n_pad):
        n = n_question + 2 + n_context + 1 + n_pad  # [CLS] question [SEP] context [SEP] padding
        mask = np.zeros(n, bool)
        mask[n_question + 2:n_question + 2 + n_context] = True
        return n, mask, n_question + 2

    def noise(n):
        return rng.normal(scale=0.05, size=n)

    def random_case(n, mask, c, scale, max_len):
        """Random scores, redrawn until ignoring the context mask and counting from the context's first
        token give different answers: each mistake is then named by its own message."""
        while True:
            s, e = rng.normal(size=n) * scale, rng.normal(size=n) * scale
            want = _best_span(s, e, mask, max_len)
            if _best_span(s, e, np.ones_like(mask), max_len) != (want[0] - c, want[1] - c):
                return s, e

    # the best end alone lies before the best start
    n, mask, c = window(int(rng.integers(2, 5)), int(rng.integers(9, 13)), int(rng.integers(1, 4)))
    s, e = noise(n), noise(n)
    i0 = c + int(rng.integers(4, 7))
    s[i0] += 6.0
    e[c + int(rng.integers(0, 3))] += 8.0
    e[i0 + 1] += 3.0
    cases.append((s, e, mask, 20, "order"))
    # the best-scoring span is max_len + 1 tokens long, the best valid one exactly max_len
    max_len = int(rng.integers(2, 5))
    n, mask, c = window(int(rng.integers(2, 5)), max_len + int(rng.integers(6, 9)), int(rng.integers(1, 4)))
    s, e = noise(n), noise(n)
    i0 = c + int(rng.integers(1, 4))
    s[i0] += 6.0
    e[i0 + max_len] += 9.0
    e[i0 + max_len - 1] += 7.0
    e[i0 + max_len - 2] += 5.0
    cases.append((s, e, mask, max_len, "length"))
    # sum, not product, of the scores: two negative scores multiply to a large positive number
    n, mask, c = window(int(rng.integers(2, 4)), int(rng.integers(8, 12)), int(rng.integers(1, 3)))
    s, e = noise(n), noise(n)
    a, b = c + 1, c + 4  # b - a = 3: never the context offset c (4 or 5), which another message names
    s[a], e[a + 1] = -4.0, -4.0
    s[b], e[b + 1] = 1.0, 1.0
    cases.append((s, e, mask, 20, "sum"))
    # a one-token answer (start == end) is best; then max_answer_len = 1
    n, mask, c = window(int(rng.integers(2, 5)), int(rng.integers(8, 12)), int(rng.integers(1, 4)))
    s, e = noise(n), noise(n)
    k = c + int(rng.integers(2, 6))
    s[k] += 6.0
    e[k] += 6.0
    e[k + 1] += 2.0
    cases.append((s, e, mask, 10, "one token"))
    s, e = random_case(n, mask, c, 1.0, 1)
    cases.append((s, e, mask, 1, "one token"))
    # the highest start is a question token, the highest end a padding position after the context
    n, mask, c = window(int(rng.integers(3, 6)), int(rng.integers(8, 12)), int(rng.integers(2, 5)))
    s, e = noise(n), noise(n)
    s[int(rng.integers(1, c - 1))] += 12.0  # in the question
    e[n - 1 - int(rng.integers(0, 2))] += 12.0  # padding
    a = c + int(rng.integers(1, 4))
    s[a] += 4.0
    e[a + 2] += 4.0
    cases.append((s, e, mask, n, "context"))  # max_answer_len = the whole window: only the mask excludes them
    # max_answer_len longer than what is left of the window, and fresh random windows
    for _ in range(3):
        n, mask, c = window(int(rng.integers(1, 6)), int(rng.integers(3, 20)), int(rng.integers(0, 6)))
        max_len = int(rng.integers(1, 40))
        cases.append((*random_case(n, mask, c, 2.0, max_len), mask, max_len, "random"))
    return cases


def _as_span(got) -> tuple[int, int]:
    if isinstance(got, (str, bytes)) or not hasattr(got, "__len__"):
        raise Mismatch(f"return the pair (start, end) of token positions, got {got!r}.")
    got = list(got)
    if len(got) < 2:
        raise Mismatch(f"return the pair (start, end) of token positions, got {got!r}.")
    pair = []
    for x in got[:2]:
        x = to_numpy(x).reshape(-1)
        if x.size != 1 or not float(x[0]).is_integer():
            raise Mismatch(f"return the pair (start, end) as two integers (token positions), got {got!r}.")
        pair.append(int(x[0]))
    return pair[0], pair[1]


@exercise("Exercise 9.4 · span decoding (end ≥ start, a maximum length, context tokens only)",
          forbid=_FORBID_SPAN, time_limit=20)
def span_decode(fn):
    """``fn(start_logits, end_logits, context_mask, max_answer_len) -> (i, j)``: NumPy vectors of one
    window's scores and a boolean mask (True at the context's tokens); the span maximising
    ``start_logits[i] + end_logits[j]`` with ``i <= j < i + max_answer_len`` and both ends in the context,
    as positions in the whole window."""
    rng = np.random.default_rng()
    for s, e, mask, max_len, _ in _span_cases(rng):
        want = _best_span(s, e, mask, max_len)
        got = _as_span(fn(s.copy(), e.copy(), mask.copy(), max_len))
        if got == want:
            continue
        i, j = got
        what = (f"start_logits {np.round(s, 2).tolist()}, end_logits {np.round(e, 2).tolist()}, context_mask "
                f"{mask.astype(int).tolist()}, max_answer_len {max_len}")
        if not (0 <= i < len(s) and 0 <= j < len(s)):
            raise Mismatch(f"{what}: your span {got} lies outside the window of {len(s)} tokens (expected {want}).")
        c0 = int(np.argmax(mask))
        if (i + c0, j + c0) == want:
            raise Mismatch(f"{what}: you returned {got}, positions counted from the context's first token; return "
                           f"positions in the whole window (the context starts at {c0}): expected {want}.")
        if (j, i) == want:
            raise Mismatch(f"{what}: start and end are swapped: got {got}, expected {want}.")
        if j < i:
            raise Mismatch(f"{what}: your span {got} ends before it starts: the best start and the best end "
                           f"cannot be taken separately (expected {want}).")
        if not mask[i] or not mask[j]:
            where = i if not mask[i] else j
            raise Mismatch(f"{what}: your span {got} {'starts' if where == i else 'ends'} at position {where}, which "
                           f"is not in the context (the question, [CLS], [SEP] or padding): both ends must be "
                           f"context tokens (expected {want}).")
        if j - i + 1 > max_len:
            raise Mismatch(f"{what}: your span {got} is {j - i + 1} tokens long, more than max_answer_len={max_len}: "
                           f"j < i + max_answer_len, not j <= i + max_answer_len (expected {want}).")
        if s[i] * e[j] > s[want[0]] * e[want[1]]:
            raise Mismatch(f"{what}: a span's score is start_logits[i] + end_logits[j], the sum (the log of the "
                           f"product of the two probabilities), not their product: expected {want}, got {got}.")
        if want[0] == want[1]:
            raise Mismatch(f"{what}: a one-token answer (start == end) is allowed: i <= j, not i < j. Expected "
                           f"{want}, got {got}.")
        if want[1] - want[0] + 1 == max_len:
            raise Mismatch(f"{what}: the best span here is exactly max_answer_len={max_len} tokens long, and that "
                           f"is allowed (j - i + 1 <= max_answer_len): expected {want}, got {got}.")
        raise Mismatch(f"{what}: expected the span {want} (score {s[want[0]] + e[want[1]]:.3f}), got {got} "
                       f"(score {s[i] + e[j]:.3f}).")


# ---------------------------------------------------------------------------------------- 9.5
_PUNCT = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def _normalise(s: str) -> str:
    s = "".join(ch for ch in s.lower() if ch not in _PUNCT)
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", s).split())


def _pair_f1(p: str, g: str):
    """F1 of one pair; None when both normalise to nothing (0 in SQuAD v1.1's script, 1 in v2.0's)."""
    p, g = _normalise(p).split(), _normalise(g).split()
    if not p and not g:
        return None
    same = sum((Counter(p) & Counter(g)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def _em_f1_cases(rng):
    """(prediction, golds, what it tells apart); every kind in every run, the words drawn fresh."""
    def w():
        return str(rng.choice(["delta", "kappa", "sigma", "omega", "lambda", "zeta", "theta", "iota"]))

    a, b, c, d = (str(x) for x in rng.choice(["delta", "kappa", "sigma", "omega", "zeta", "iota"], 4, replace=False))
    cases = [
        (f"The {a.title()} {b.upper()}", [f"{a} {b}"], "case and articles"),
        (f"{a}, {b}.", [f"{a} {b}"], "punctuation"),
        (f"an {a}", [f"{a.title()}!"], "articles"),
        (f"{a} of the {b}", [f"{a} of {b}"], "articles"),
        (f"{a}-{b}", [f"{a}{b}"], "deleted punctuation"),
        ("$1,499", ["1499"], "deleted punctuation"),
        (f"anthem {a}", [f"them {a}"], "whole-word articles"),
        (f"theta {a}", [f"{b} {a}"], "whole-word articles"),
        (f"{a}   {b}", [f" {a} {b} "], "spaces"),
        (f"{a} {b} {c}", [f"{a}"], "precision"),
        (f"{a}", [f"{a} {b} {c} {d}"], "recall"),
        (f"{a} {a} {b}", [f"{a} {b} {b}"], "bags"),
        (f"{a} {a} {a}", [f"{a} {b}"], "bags"),
        (f"{b}", [f"{a}", f"the {b}"], "several golds"),
        (f"{a} {b}", [f"{a} {b} {c}", f"{b}", f"{d}"], "several golds"),
        (f"{a} {b}", [f"{d}", f"{b}", f"{a} {b} {c}"], "several golds"),
        ("", [f"{a} {b}"], "empty"),
        ("the", [f"{a}"], "empty"),
        (f"{a}", ["An."], "empty"),
        ("the", ["a"], "both empty"),
        (f"{c}", [f"{d}"], "nothing shared"),
    ]
    for _ in range(3):
        pred = " ".join(w() for _ in range(int(rng.integers(1, 5))))
        golds = [" ".join(w() for _ in range(int(rng.integers(1, 5)))) for _ in range(int(rng.integers(1, 4)))]
        cases.append((pred, golds, "random"))
    return cases


_EM_HINTS = {
    "case and articles": "lower-case both, and remove the articles a/an/the",
    "punctuation": "remove punctuation from both answers",
    "articles": "remove the articles a/an/the (whole words only)",
    "deleted punctuation": "SQuAD deletes punctuation characters (\"1,499\" -> \"1499\", \"a-b\" -> \"ab\"); it does "
                           "not turn them into spaces",
    "whole-word articles": "remove the articles only as whole words (re.sub(r'\\b(a|an|the)\\b', ' ', s)): "
                           "\"anthem\" and \"theta\" keep their letters",
    "spaces": "split on whitespace and join with single spaces",
    "bags": "F1 counts shared words over the bags (multisets) of words, Counter(p) & Counter(g), not over sets, and "
            "a repeated predicted word is shared at most as often as it is in the gold answer",
    "precision": "precision P = shared words / predicted words, and F1 = 2PR/(P+R), their harmonic mean",
    "recall": "recall R = shared words / gold words, and F1 = 2PR/(P+R), their harmonic mean",
    "several golds": "with several gold answers, exact match and F1 are each the maximum over the gold answers",
    "empty": "an answer that normalises to nothing shares no word: F1 is 0 (check for 0 shared words before "
             "dividing)",
    "both empty": "both normalise to nothing: exact match is 1",
    "nothing shared": "no shared word: F1 is 0",
    "random": "F1 = 2PR/(P+R), P = shared / predicted words, R = shared / gold words, each the best over the gold "
              "answers",
}


@exercise("Exercise 9.5 · SQuAD's exact match and F1", forbid=_FORBID_EM, time_limit=20)
def em_f1(fn):
    """``fn(prediction, golds) -> (em, f1)``, both in [0, 1], ``golds`` a list of every correct answer: after
    SQuAD's normalisation (lower case, punctuation characters deleted, the articles a/an/the removed as
    words, single spaces), em is 1 when the prediction equals a gold answer, f1 the word-overlap F1 over the
    bags of words; each the maximum over the gold answers. When the prediction and a gold answer both
    normalise to nothing, either F1 is accepted (0 in SQuAD v1.1's script, 1 in v2.0's)."""
    rng = np.random.default_rng()
    for pred, golds, kind in _em_f1_cases(rng):
        want_em = float(any(_normalise(pred) == _normalise(g) for g in golds))
        pair = [_pair_f1(pred, g) for g in golds]
        lo = max(0.0 if f is None else f for f in pair)
        hi = max(1.0 if f is None else f for f in pair)
        got = fn(pred, list(golds))
        if isinstance(got, (str, bytes)) or not hasattr(got, "__len__") or len(got) != 2:
            raise Mismatch(f"prediction {pred!r}, golds {golds}: return the pair (em, f1), got {got!r}.")
        try:
            em, f1 = float(to_numpy(got[0])), float(to_numpy(got[1]))
        except (TypeError, ValueError):
            raise Mismatch(f"prediction {pred!r}, golds {golds}: em and f1 must be numbers, got {got!r}.") from None
        what = f"prediction {pred!r}, golds {golds}"
        if abs(em - want_em) < 1e-9 and (abs(f1 - lo) < 1e-9 or abs(f1 - hi) < 1e-9):
            continue
        if (want_em == 1 and em == 100) or (f1 > 1 and min(abs(f1 / 100 - lo), abs(f1 / 100 - hi)) < 1e-9):
            raise Mismatch(f"{what}: return fractions in [0, 1], not percent (got em {em}, f1 {f1}).")
        want = f"{lo:.4f}" if lo == hi else f"{lo:.0f} or {hi:.0f}"
        raise Mismatch(f"{what}: expected (em, f1) = ({want_em:.0f}, {want}), got ({em:g}, {f1:.4f}). "
                       f"Hint: {_EM_HINTS[kind]}.")
