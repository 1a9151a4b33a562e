"""Adversarial suite for lesson 05's checks: every typical mistake rejected on every one of 20 runs (with the
words that name it), every correct answer in another style accepted on every run."""

import numpy as np
import pytest
from adversarial import accepted_every_run, rejected_every_run

from bert_ms.bert import masking
from bert_ms.bert.tokenization import BertTokenizer, WordpieceTokenizer
from bert_ms.exercises import check

SPECIAL = ("[CLS]", "[SEP]", "[PAD]")


# --- 5.1 WordPiece --------------------------------------------------------------------------------------------
def wp(word, vocab, longest=True, hashes=True, partial=False, limit=100, strip=False):
    if limit is not None and len(word) > limit:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        ends = range(len(word), start, -1) if longest else range(start + 1, len(word) + 1)
        for end in ends:
            piece = ("##" if start and hashes else "") + word[start:end]
            if piece in vocab:
                break
        else:
            return pieces + ["[UNK]"] if partial else ["[UNK]"]
        pieces.append(piece[2:] if strip and piece.startswith("##") else piece)
        start = end
    return pieces


def wp_recursive(word, vocab, first=True):
    if first and len(word) > 100:
        return ["[UNK]"]
    if not word:
        return []
    prefix = "" if first else "##"
    for end in range(len(word), 0, -1):
        if prefix + word[:end] in vocab:
            rest = wp_recursive(word[end:], vocab, first=False)
            return ["[UNK]"] if rest == ["[UNK]"] else [prefix + word[:end], *rest]
    return ["[UNK]"]


def wp_tuple(word, vocab):
    return tuple(wp(word, vocab))


WORDPIECE_MISTAKES = [
    (lambda w, v: wp(w, v, partial=True), "WHOLE word becomes [UNK]"),
    (lambda w, v: wp(w, v, hashes=False), "'##' prefix"),
    (lambda w, v: wp(w, v, strip=True), "WITH their '##' prefix"),
    (lambda w, v: wp(w, v, longest=False), "LONGEST"),
    (lambda w, v: wp(w, v, limit=None), "longer than 100 characters"),
    (lambda w, v: wp(w, v, limit=99), "exactly 100 characters"),
    (lambda w, v: "[UNK]" if wp(w, v) == ["[UNK]"] else wp(w, v), "a list"),
    (lambda w, v: list(w), "expected"),  # one piece per character
    (lambda w, v: {"unwanted": ["un", "##want", "##ed"], "running": ["runn", "##ing"]}.get(w, [w]), "expected"),
    (lambda w, v: WordpieceTokenizer(sorted(v)).tokenize_word(w), "write it yourself"),
]


@pytest.mark.parametrize("answer,words", WORDPIECE_MISTAKES)
def test_wordpiece_rejects(answer, words):
    rejected_every_run(check.wordpiece, answer, words)


@pytest.mark.parametrize("answer", [wp, wp_recursive, wp_tuple])
def test_wordpiece_accepts(answer):
    accepted_every_run(check.wordpiece, answer)


# --- 5.2 the input rows ---------------------------------------------------------------------------------------
def rows(a, b, max_len, last_sep=1, first_sep=0, pad_segment=0, pos_start=0, pad_mask=0, pad_positions=True,
         pad="[PAD]"):
    tokens = ["[CLS]", *a, "[SEP]"]
    segments = [0] * (len(a) + 1) + [first_sep]  # [CLS] A, then the first [SEP]
    if b is not None:
        tokens += [*b, "[SEP]"]
        segments += [1] * len(b) + [last_sep]
    n = len(tokens)
    positions = [pos_start + p for p in range(max_len)] if pad_positions else list(range(n)) + [0] * (max_len - n)
    return (tokens + [pad] * (max_len - n), segments + [pad_segment] * (max_len - n), positions,
            [1] * n + [pad_mask] * (max_len - n))


def rows_numpy(a, b, max_len):
    tokens, segments, positions, mask = rows(a, b, max_len)
    return tokens, np.array(segments), np.arange(max_len), np.array(mask, dtype=np.int32)


def rows_one_pass(a, b, max_len):
    out = ([], [], [], [])
    seq = [("[CLS]", 0)] + [(t, 0) for t in a] + [("[SEP]", 0)]
    if b:
        seq += [(t, 1) for t in b] + [("[SEP]", 1)]
    for i in range(max_len):
        token, seg = seq[i] if i < len(seq) else ("[PAD]", 0)
        out[0].append(token)
        out[1].append(seg)
        out[2].append(i)
        out[3].append(int(i < len(seq)))
    return tuple(out)


BERT_INPUT_MISTAKES = [
    (lambda a, b, n: rows(a, b, n, last_sep=0), "closes sentence B belongs to segment 1"),
    (lambda a, b, n: rows(a, b, n, first_sep=1), "after sentence A belongs to segment 0"),
    (lambda a, b, n: rows(a, b, n, pad_segment=1), "segment id 0"),
    (lambda a, b, n: rows(a, b, n, pos_start=1), "count from 0"),
    (lambda a, b, n: rows(a, b, n, pad_positions=False), "over the [PAD] positions too"),
    (lambda a, b, n: rows(a, b, n, pad_mask=1), "0 at every [PAD]"),
    (lambda a, b, n: (lambda r: (r[0], r[1], r[2], [0 if t in ("[CLS]", "[SEP]") else m for t, m in zip(r[0], r[3])]))(
        rows(a, b, n)), "[CLS] and [SEP] included"),
    (lambda a, b, n: rows(a, b, n, pad="[pad]"), "tokens"),
    (lambda a, b, n: tuple(x[: n - 1] for x in rows(a, b, n)), "items"),  # truncated by one
    (lambda a, b, n: tuple(x + y for x, y in zip(rows(a, b, n), (["[PAD]"], [0], [n], [0]))), "items"),  # one too many
    (lambda a, b, n: rows(a, None, n) if b is None else rows(a + b, None, n), "tokens"),  # no [SEP] between A and B
    (lambda a, b, n: rows(a, b, n)[:3], "four lists"),
    (lambda a, b, n: (lambda tok: (lambda t, s: (t + ["[PAD]"] * (n - len(t)), s + [0] * (n - len(t)), list(range(n)),
                                                 [1] * len(t) + [0] * (n - len(t))))(*tok.build_inputs(a, b)))(
        BertTokenizer.bert_base_uncased()), "write it yourself"),
]


@pytest.mark.parametrize("answer,words", BERT_INPUT_MISTAKES)
def test_bert_inputs_rejects(answer, words):
    rejected_every_run(check.bert_inputs, answer, words)


@pytest.mark.parametrize("answer", [lambda a, b, n: rows(a, b, n), rows_numpy, rows_one_pass])
def test_bert_inputs_accepts(answer):
    accepted_every_run(check.bert_inputs, answer)


# --- 5.3 whole-word groups ------------------------------------------------------------------------------------
def groups_right(tokens):
    groups = []
    for i, t in enumerate(tokens):
        if t in SPECIAL:
            continue
        if t.startswith("##") and groups and groups[-1][-1] == i - 1:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def groups_buffer(tokens):  # a running buffer, flushed at every word start and at the end
    groups, current = [], []
    for i, t in enumerate(tokens):
        if t in SPECIAL or not t.startswith("##"):
            if current:
                groups.append(current)
            current = [] if t in SPECIAL else [i]
        else:
            current.append(i)
    if current:
        groups.append(current)
    return groups


def groups_forgot_flush(tokens):
    groups, current = [], []
    for i, t in enumerate(tokens):
        if t in SPECIAL:
            continue
        if t.startswith("##"):
            current.append(i)
        else:
            if current:
                groups.append(current)
            current = [i]
    return groups  # the last word is never appended


GROUP_MISTAKES = [
    (lambda toks: [[i] for i, t in enumerate(toks) if t not in SPECIAL], "continues the word before it"),
    (lambda toks: groups_right([t if t != "[PAD]" else "x" for t in toks]), "never masked"),  # [PAD] kept
    (lambda toks: groups_right([t if t != "[SEP]" else "x" for t in toks]), "never masked"),  # [SEP] kept
    (groups_forgot_flush, "last word's group"),
    (lambda toks: [[i - 1 for i in g] for g in groups_right(toks)], "[CLS] at position 0"),
    (lambda toks: [i for g in groups_right(toks) for i in g], "flat list"),
    (lambda toks: [[toks[i] for i in g] for g in groups_right(toks)], "POSITIONS"),
    (lambda toks: [g for g in groups_right(toks) if len(g) > 1], "expected"),  # only multi-piece words
    (lambda toks: groups_right(toks)[::-1], "expected"),  # not in order
    (lambda toks: masking._word_groups(toks, [i for i, t in enumerate(toks) if t not in SPECIAL], True, None),
     "write it yourself"),
]


@pytest.mark.parametrize("answer,words", GROUP_MISTAKES)
def test_whole_word_groups_rejects(answer, words):
    rejected_every_run(check.whole_word_groups, answer, words)


@pytest.mark.parametrize("answer", [groups_right, groups_buffer,
                                    lambda toks: tuple(np.array(g) for g in groups_right(toks))])
def test_whole_word_groups_accepts(answer):
    accepted_every_run(check.whole_word_groups, answer)


# --- 5.4 the [UNK] count (a value) ----------------------------------------------------------------------------
@pytest.mark.parametrize("answer,words", [
    (4, "'——' is two tokens"), (0, "vocabulary"), (2, "not only the dash"), (1, "not only the dash"),
    (5, "Hint"), (7, "Hint"), ("6", "a number"), (True, "a number"), ([6], "a number"),
])
def test_zh_unk_count_rejects(answer, words):
    rejected_every_run(check.zh_unk_count, answer, words, runs=3)  # a value check draws nothing: 3 runs suffice


@pytest.mark.parametrize("answer", [6, np.int64(6), 6.0])
def test_zh_unk_count_accepts(answer):
    accepted_every_run(check.zh_unk_count, answer, runs=3)
