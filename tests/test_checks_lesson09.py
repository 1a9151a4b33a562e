"""Adversarial suite for lesson 09's checks (9.1 span decoding, 9.2 SQuAD EM/F1, 9.3 first-piece labels,
9.4 the scalar mix, 9.5 window starts): typical mistakes rejected on every run with a message naming the
mistake, correct answers in other styles accepted on every run; and each check's own reference equals the
package's version (which answers may not call)."""

from __future__ import annotations

import re
import string
from collections import Counter

import mindspore as ms
import numpy as np
import pytest
from adversarial import accepted_every_run, rejected_every_run
from mindspore import ops

from bert_ms import data
from bert_ms.bert import qa
from bert_ms.bert.tokenization import BertTokenizer
from bert_ms.exercises import check, lesson09
from bert_ms.train import features, task_data


# ============================================================================ 9.1 span decoding
def _best(s, e, mask, max_len, *, long=0, strict=False, product=False, mask_start=True, mask_end=True):
    best, span = -np.inf, (0, 0)
    for i in range(len(s)):
        for j in range(i + strict, min(i + max_len + long, len(s))):
            if (mask_start and not mask[i]) or (mask_end and not mask[j]):
                continue
            score = s[i] * e[j] if product else s[i] + e[j]
            if score > best:
                best, span = score, (i, j)
    return span


def span_vectorised(s, e, mask, max_len):
    n = len(s)
    i, j = np.indices((n, n))
    ok = (j >= i) & (j - i < max_len) & mask[:, None] & mask[None, :]
    scores = np.where(ok, np.add.outer(s, e), -np.inf)
    k = int(np.argmax(scores))
    return np.int64(k // n), np.int64(k % n)


def span_probabilities_mindspore(s, e, mask, max_len):
    """Softmax probabilities over the context with MindSpore, then the best product P_start * P_end."""
    neg = ms.Tensor(np.where(mask, 0.0, -1e9).astype(np.float32))
    ps = ops.softmax(ms.Tensor(s.astype(np.float32)) + neg, 0).asnumpy().astype(np.float64)
    pe = ops.softmax(ms.Tensor(e.astype(np.float32)) + neg, 0).asnumpy().astype(np.float64)
    n = len(s)
    best, span = -1.0, None
    for i in range(n):
        for j in range(i, min(n, i + max_len)):
            if mask[i] and mask[j] and ps[i] * pe[j] > best:
                best, span = ps[i] * pe[j], [i, j]
    return span


def span_separately(s, e, mask, max_len):
    return int(np.argmax(np.where(mask, s, -np.inf))), int(np.argmax(np.where(mask, e, -np.inf)))


def span_one_too_long(s, e, mask, max_len):
    return _best(s, e, mask, max_len, long=1)


def span_one_too_short(s, e, mask, max_len):
    return _best(s, e, mask, max(max_len - 1, 1))


def span_strict(s, e, mask, max_len):
    return _best(s, e, mask, max_len, strict=True)


def span_masks_start_only(s, e, mask, max_len):
    return _best(s, e, mask, max_len, mask_end=False)


def span_masks_end_only(s, e, mask, max_len):
    return _best(s, e, mask, max_len, mask_start=False)


def span_product(s, e, mask, max_len):
    return _best(s, e, mask, max_len, product=True)


def span_in_context_positions(s, e, mask, max_len):
    i, j = _best(s[mask], e[mask], np.ones(int(mask.sum()), bool), max_len)
    return i, j


def span_swapped(s, e, mask, max_len):
    i, j = _best(s, e, mask, max_len)
    return j, i


def span_hard_coded(s, e, mask, max_len):
    return 6, 7


def span_package(s, e, mask, max_len):
    return qa.best_span(s, e, mask, max_len)[:2]


def span_score_only(s, e, mask, max_len):
    i, j = _best(s, e, mask, max_len)
    return float(s[i] + e[j])


@pytest.mark.parametrize("answer", [span_vectorised, span_probabilities_mindspore])
def test_span_decode_accepts(answer):
    accepted_every_run(check.span_decode, answer)


@pytest.mark.parametrize("answer, words", [
    (span_separately, "ends before it starts"),
    (span_one_too_long, "j < i + max_answer_len"),
    (span_one_too_short, "exactly max_answer_len"),
    (span_strict, "one-token answer"),
    (span_masks_start_only, "not in the context"),
    (span_masks_end_only, "not in the context"),
    (span_product, "not their product"),
    (span_in_context_positions, "whole window"),
    (span_swapped, "swapped"),
    (span_hard_coded, None),
    (span_package, "write it yourself"),
    (span_score_only, "pair"),
])
def test_span_decode_rejects(answer, words):
    rejected_every_run(check.span_decode, answer, words)


def test_span_reference_equals_the_package():
    rng = np.random.default_rng(0)
    for _ in range(50):
        for s, e, mask, max_len, _ in lesson09._span_cases(rng):
            assert lesson09._best_span(s, e, mask, max_len) == qa.best_span(s, e, mask, max_len)[:2]


# ============================================================================ 9.2 EM and F1
def _norm(s, *, lower=True, punct="delete", articles="words"):
    s = s.lower() if lower else s
    if punct == "delete":
        s = "".join(ch for ch in s if ch not in set(string.punctuation))
    elif punct == "space":
        s = "".join(" " if ch in set(string.punctuation) else ch for ch in s)
    if articles == "words":
        s = re.sub(r"\b(a|an|the)\b", " ", s)
    elif articles == "replace":
        for a in ("the", "an", "a "):
            s = s.replace(a, " ")
    elif articles == "leading":
        s = re.sub(r"^(a|an|the)\s+", "", s.strip())
    return " ".join(s.split())


def _f1(p, g, *, norm=_norm, bags=True, mean="harmonic", count="min"):
    p, g = norm(p).split(), norm(g).split()
    if count == "pred":
        same = sum(1 for x in p if x in g)
    elif bags:
        same = sum((Counter(p) & Counter(g)).values())
    else:
        p, g = set(p), set(g)
        same = len(p & g)
    if same == 0:
        return 0.0
    prec, rec = same / len(p), same / len(g)
    return 2 * prec * rec / (prec + rec) if mean == "harmonic" else (prec + rec) / 2


def _emf1(norm=_norm, golds_of=lambda gs: gs, combine=max, **kw):
    def answer(pred, golds):
        gs = golds_of(golds)
        return (combine([float(norm(pred) == norm(g)) for g in gs]),
                combine([_f1(pred, g, norm=norm, **kw) for g in gs]))
    return answer


def emf1_squad2(pred, golds):
    """SQuAD v2.0's convention: two answers that both normalise to nothing have F1 1."""
    def f1(p, g):
        p, g = _norm(p).split(), _norm(g).split()
        if not p or not g:
            return float(p == g)
        same = sum((Counter(p) & Counter(g)).values())
        return 0.0 if same == 0 else 2 * same / (len(p) + len(g))
    return max(float(_norm(pred) == _norm(g)) for g in golds), max(f1(pred, g) for g in golds)


def emf1_regex_numpy(pred, golds):
    punct = re.compile(f"[{re.escape(string.punctuation)}]")

    def norm(s):
        return " ".join(re.sub(r"\b(?:a|an|the)\b", " ", punct.sub("", s.lower())).split())

    ems, f1s = [], []
    for g in golds:
        p_words, g_words = norm(pred).split(), norm(g).split()
        ems.append(np.float64(norm(pred) == norm(g)))
        shared = 0
        remaining = list(g_words)
        for w in p_words:  # a loop instead of a Counter
            if w in remaining:
                remaining.remove(w)
                shared += 1
        f1s.append(0.0 if shared == 0 else 2.0 * shared / (len(p_words) + len(g_words)))
    return np.max(ems), np.max(f1s)


def emf1_zero_division(pred, golds):
    scores = []
    for g in golds:
        p, q = _norm(pred).split(), _norm(g).split()
        same = sum((Counter(p) & Counter(q)).values())
        prec, rec = same / len(p), same / len(q)  # before checking for no shared word
        scores.append(0.0 if same == 0 else 2 * prec * rec / (prec + rec))
    return max(float(_norm(pred) == _norm(g)) for g in golds), max(scores)


def emf1_package(pred, golds):
    return qa.exact_match(pred, golds), qa.f1_score(pred, golds)


def emf1_percent(pred, golds):
    em, f1 = _emf1()(pred, golds)
    return 100 * em, 100 * f1


@pytest.mark.parametrize("answer", [_emf1(), emf1_squad2, emf1_regex_numpy])
def test_em_f1_accepts(answer):
    accepted_every_run(check.em_f1, answer)


@pytest.mark.parametrize("answer, words", [
    (_emf1(norm=lambda s: _norm(s, lower=False)), "lower-case"),
    (_emf1(norm=lambda s: _norm(s, punct="keep")), "remove punctuation"),
    (_emf1(norm=lambda s: _norm(s, punct="space")), "deletes punctuation"),
    (_emf1(norm=lambda s: _norm(s, articles="replace")), "whole words"),
    (_emf1(norm=lambda s: _norm(s, articles="leading")), "articles"),
    (_emf1(norm=lambda s: _norm(s, articles="keep")), "articles"),
    (_emf1(norm=lambda s: s.lower().strip()), None),
    (_emf1(bags=False), "bags"),
    (_emf1(count="pred"), "bags"),
    (_emf1(mean="arithmetic"), "harmonic mean"),
    (_emf1(golds_of=lambda gs: gs[:1]), "maximum over the gold answers"),
    (_emf1(golds_of=lambda gs: gs[-1:]), "maximum over the gold answers"),
    (_emf1(golds_of=lambda gs: [" ".join(gs)]), "maximum over the gold answers"),
    (_emf1(combine=lambda xs: float(np.mean(xs))), "maximum over the gold answers"),
    (emf1_zero_division, "ZeroDivisionError"),
    (emf1_percent, "not percent"),
    (emf1_package, "write it yourself"),
])
def test_em_f1_rejects(answer, words):
    rejected_every_run(check.em_f1, answer, words)


def test_em_f1_reference_equals_the_package():
    rng = np.random.default_rng(0)
    for _ in range(20):
        for pred, golds, _ in lesson09._em_f1_cases(rng):
            assert lesson09._normalise(pred) == qa.normalize_answer(pred) == data.email_qa_answer_key(pred)
            pair = [lesson09._pair_f1(pred, g) for g in golds]
            assert max(0.0 if f is None else f for f in pair) == pytest.approx(qa.f1_score(pred, golds), abs=1e-12)


# ============================================================================ 9.3 first-piece labels
def _labels(pieces_per_word, tag_ids, seq_len, *, where="first", room=1, cls=True, pad=-100, fill=True,
            keep_zero=True, cut_words=False):
    labels = [-100] if cls else []
    for pieces, tag in zip(pieces_per_word, tag_ids):
        if not cut_words and len(labels) + len(pieces) > seq_len - room:
            break
        if not keep_zero and not tag:
            tag = -100
        if where == "first":
            labels += [tag] + [-100] * (len(pieces) - 1)
        elif where == "last":
            labels += [-100] * (len(pieces) - 1) + [tag]
        else:
            labels += [tag] * len(pieces)
    if cut_words:
        labels = labels[:seq_len - 1]
    labels += [-100]  # [SEP]
    return labels + [pad] * (seq_len - len(labels)) if fill else labels


def labels_numpy(pieces_per_word, tag_ids, seq_len):
    out = np.full(seq_len, -100, np.int64)
    pos = 1
    for pieces, tag in zip(pieces_per_word, tag_ids):
        if pos + len(pieces) > seq_len - 1:
            break
        out[pos] = tag
        pos += len(pieces)
    return out


def labels_mindspore_tuple(pieces_per_word, tag_ids, seq_len):
    starts, pos = [], 1
    for pieces in pieces_per_word:
        if pos + len(pieces) >= seq_len:
            break
        starts.append(pos)
        pos += len(pieces)
    out = ms.Tensor(np.full(seq_len, -100, np.int32))
    for k, p in enumerate(starts):
        out[p] = int(tag_ids[k])
    return tuple(int(x) for x in out.asnumpy())


def labels_package(pieces_per_word, tag_ids, seq_len):
    class Tok:
        cls_token_id, sep_token_id, unk_token_id = 1, 2, 3
        table = {" ".join(p): p for p in pieces_per_word}

        def tokenize(self, word):
            return self.table[word]

        def convert_tokens_to_ids(self, pieces):
            return [10] * len(pieces)

    words = [(" ".join(p), str(t)) for p, t in zip(pieces_per_word, tag_ids)]
    out = task_data.token_tag_arrays([words], Tok(), [str(k) for k in range(12)], seq_len)
    return out["labels"][0].tolist()


@pytest.mark.parametrize("answer", [_labels, labels_numpy, labels_mindspore_tuple])
def test_first_piece_labels_accepts(answer):
    accepted_every_run(check.first_piece_labels, answer)


@pytest.mark.parametrize("answer, words", [
    (lambda p, t, n: _labels(p, t, n, where="every"), "only the first piece"),
    (lambda p, t, n: _labels(p, t, n, where="last"), "last piece"),
    (lambda p, t, n: _labels(p, t, n, cls=False), "shifted by one"),
    (lambda p, t, n: _labels(p, t, n, pad=0), "the loss ignores"),
    (lambda p, t, n: _labels(p, t, n, pad=-1), "the loss ignores"),
    (lambda p, t, n: _labels(p, t, n, keep_zero=False), "tag id 0"),
    (lambda p, t, n: _labels(p, t, n, cut_words=True), "does not fit whole"),
    (lambda p, t, n: _labels(p, t, n, room=0), "does not fit whole"),
    (lambda p, t, n: _labels(p, t, n, fill=False), "padding included"),
    (lambda p, t, n: _labels(p, t, sum(map(len, p)) + 2)  # no truncation: every word kept
     + [-100] * max(n - sum(map(len, p)) - 2, 0), "labels"),
    (lambda p, t, n: [-100, t[0]] + [-100] * (n - 2), None),
    (lambda p, t, n: [0 if x == -100 and k == 0 else x for k, x in enumerate(_labels(p, t, n))], "[CLS]"),
    (labels_package, "write it yourself"),
])
def test_first_piece_labels_rejects(answer, words):
    rejected_every_run(check.first_piece_labels, answer, words)


def test_first_piece_reference_equals_the_package():
    rng = np.random.default_rng(0)
    for _ in range(20):
        for pieces, tags, seq_len, _ in lesson09._tag_cases(rng):
            want = lesson09._first_piece([len(p) for p in pieces], tags, seq_len)
            assert labels_package(pieces, tags, seq_len) == want


# ============================================================================ 9.4 the scalar mix
def mix_mindspore(layers, w, gamma):
    x = ms.Tensor(layers.astype(np.float32))
    s = ops.softmax(ms.Tensor(w.astype(np.float32)), 0).reshape(-1, 1, 1)
    return gamma * (x * s).sum(0)


def mix_einsum_loop(layers, w, gamma):
    e = [np.exp(v) for v in w]
    total = sum(e)
    return gamma * sum((e[j] / total) * layers[j] for j in range(len(w)))


def _mix_wrong(weights, *, scale=True, axis=0):
    def answer(layers, w, gamma):
        v = weights(np.asarray(w, np.float64), gamma)
        out = np.tensordot(v, layers, axes=(0, axis)) if axis == 0 else (layers * v[:, None, None]).sum(axis)
        return gamma * out if scale else out
    return answer


def _softmax(v):
    e = np.exp(v - v.max())
    return e / e.sum()


def mix_package(layers, w, gamma):
    hidden = [ms.Tensor(h.astype(np.float32)) for h in layers]
    return features.combine_layers(hidden, "weighted", weights=ms.Tensor(w.astype(np.float32)), gamma=gamma)


@pytest.mark.parametrize("answer", [mix_mindspore, mix_einsum_loop])
def test_scalar_mix_accepts(answer):
    accepted_every_run(check.scalar_mix, answer)


@pytest.mark.parametrize("answer, words", [
    (_mix_wrong(lambda w, g: w), "raw weights"),
    (_mix_wrong(lambda w, g: _softmax(w), scale=False), "gamma"),
    (_mix_wrong(lambda w, g: w / w.sum()), "w / sum(w)"),
    (_mix_wrong(lambda w, g: np.full(len(w), 1 / len(w))), "equal weights"),
    (_mix_wrong(lambda w, g: _softmax(g * w), scale=False), "inside the softmax"),
    (_mix_wrong(lambda w, g: 1 / (1 + np.exp(-w))), "sigmoid"),
    (_mix_wrong(lambda w, g: _softmax(w)[::-1]), "reverse"),
    (_mix_wrong(lambda w, g: _softmax(w), axis=2), "shape"),
    (lambda layers, w, gamma: gamma * layers[-1], None),
    (lambda layers, w, gamma: gamma * layers * _softmax(w)[:, None, None], "axis 0"),
    (mix_package, "write it yourself"),
])
def test_scalar_mix_rejects(answer, words):
    rejected_every_run(check.scalar_mix, answer, words)


# ============================================================================ 9.5 window starts
def starts_while(n, room, stride):
    s = 0
    out = [0]
    while s + room < n:
        s = min(s + stride, n - room)
        out.append(s)
    return out


def starts_numpy(n, room, stride):
    starts = np.arange(0, max(n - room, 0) + 1, stride)
    if starts[-1] + room < n:
        starts = np.append(starts, n - room)
    return starts


def starts_run_squad(n, room, stride):
    out, s = [], 0
    while True:
        out.append(s)
        if s + room >= n:
            return out
        s += min(room, stride)


def starts_always_append(n, room, stride):
    out = list(range(0, max(n - room, 0) + 1, stride))
    return out + [max(n - room, 0)] if n > room else out


def starts_past_end(n, room, stride):
    return list(range(0, n, stride))


def starts_off_by_one(n, room, stride):
    out = list(range(0, max(n - room, 0) + 1, stride))
    if out[-1] + room < n:
        out.append(n - room + 1)
    return out


def starts_empty_when_short(n, room, stride):
    return [] if n <= room else starts_while(n, room, stride)


def starts_negative_when_short(n, room, stride):
    return [n - room] if n <= room else starts_while(n, room, stride)


def starts_package(n, room, stride):
    tok = BertTokenizer.bert_base_uncased()
    context = " ".join(["x"] * n)
    windows = qa.make_windows(tok, "", context, max_length=room + 3, stride=stride)
    return [w.offsets[2][0] // 2 for w in windows]


@pytest.mark.parametrize("answer", [starts_while, starts_numpy, lambda n, r, s: tuple(starts_while(n, r, s))])
def test_window_starts_accepts(answer):
    accepted_every_run(check.window_starts, answer)


@pytest.mark.parametrize("answer, words", [
    (lambda n, r, s: list(range(0, max(n - r, 0) + 1, s)), "in no window"),
    (lambda n, r, s: starts_while(n, r, r - s) if r - s > 0 else starts_while(n, r, s), "overlap"),
    (starts_run_squad, "short last window"),
    (starts_always_append, "twice"),
    (starts_past_end, "window"),
    (starts_off_by_one, "holds only"),
    (starts_empty_when_short, "no window at all"),
    (starts_negative_when_short, "fits in one window"),
    (lambda n, r, s: [0], "in no window"),
    (starts_package, "write it yourself"),
])
def test_window_starts_rejects(answer, words):
    rejected_every_run(check.window_starts, answer, words)


def test_window_reference_equals_make_windows():
    tok = BertTokenizer.bert_base_uncased()
    rng = np.random.default_rng(0)
    cases = [c for _ in range(3) for c in lesson09._window_cases(rng)]
    for n, room, stride, _ in cases:
        assert starts_package(n, room, stride) == lesson09._starts(n, room, stride), (n, room, stride)
    assert tok is not None
