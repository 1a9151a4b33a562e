"""Solutions to the exercises of lesson 09 (notebooks/09_features_tokens_qa.py), and typical wrong answers.

Open this file after you have tried: each exercise's check (``bert_ms.exercises.check``) tells you
whether your own answer is right. ``tests/test_exercises.py`` runs every solution through its check
and proves that each wrong answer below is rejected with a message naming the mistake.
"""

import re
import string
from collections import Counter

import numpy as np


# Exercise 9.1 -------------------------------------------------------------- the scalar mix
def scalar_mix(layers, w, gamma):
    s = np.exp(w - w.max())
    s = s / s.sum()
    return gamma * np.tensordot(s, layers, axes=(0, 0))


def scalar_mix_raw_weights(layers, w, gamma):
    return gamma * np.tensordot(w, layers, axes=(0, 0))


def scalar_mix_without_gamma(layers, w, gamma):
    return scalar_mix(layers, w, 1.0)


# Exercise 9.2 -------------------------------------------------------------- first-piece labels
def first_piece_labels(pieces_per_word, tag_ids, seq_len):
    labels = [-100]  # [CLS]
    for pieces, tag in zip(pieces_per_word, tag_ids):
        if len(labels) + len(pieces) > seq_len - 1:  # the word does not fit whole before [SEP]: stop here
            break
        labels += [tag] + [-100] * (len(pieces) - 1)
    return labels + [-100] * (seq_len - len(labels))  # [SEP] and padding


def first_piece_labels_on_every_piece(pieces_per_word, tag_ids, seq_len):
    labels = [-100]
    for pieces, tag in zip(pieces_per_word, tag_ids):
        if len(labels) + len(pieces) > seq_len - 1:
            break
        labels += [tag] * len(pieces)
    return labels + [-100] * (seq_len - len(labels))


def first_piece_labels_cutting_a_word(pieces_per_word, tag_ids, seq_len):
    labels = [-100]
    for pieces, tag in zip(pieces_per_word, tag_ids):
        labels += [tag] + [-100] * (len(pieces) - 1)
    labels = labels[:seq_len - 1]  # cut where the window ends, half a word kept
    return labels + [-100] * (seq_len - len(labels))


# Exercise 9.3 -------------------------------------------------------------- window starts
def window_starts(n_tokens, room, stride):
    starts = list(range(0, max(n_tokens - room, 0) + 1, stride))
    if starts[-1] + room < n_tokens:
        starts.append(n_tokens - room)  # one last window that ends at the end
    return starts


def window_starts_missing_the_end(n_tokens, room, stride):
    return list(range(0, max(n_tokens - room, 0) + 1, stride))


def window_starts_every_overlap(n_tokens, room, stride):
    return window_starts(n_tokens, room, room - stride)


# Exercise 9.4 -------------------------------------------------------------- span decoding
def span_decode(start_logits, end_logits, context_mask, max_answer_len):
    best, span = -np.inf, (0, 0)
    for i in range(len(start_logits)):
        if not context_mask[i]:
            continue  # the answer starts in the context
        for j in range(i, min(i + max_answer_len, len(end_logits))):  # end >= start, at most max_answer_len tokens
            if context_mask[j] and start_logits[i] + end_logits[j] > best:
                best, span = start_logits[i] + end_logits[j], (i, j)
    return span


def span_decode_separately(start_logits, end_logits, context_mask, max_answer_len):
    return int(np.argmax(start_logits)), int(np.argmax(end_logits))


def span_decode_without_max_length(start_logits, end_logits, context_mask, max_answer_len):
    return span_decode(start_logits, end_logits, context_mask, len(start_logits))


def span_decode_ignoring_the_mask(start_logits, end_logits, context_mask, max_answer_len):
    return span_decode(start_logits, end_logits, np.ones(len(start_logits), bool), max_answer_len)


# Exercise 9.5 -------------------------------------------------------------- SQuAD's exact match and F1
def _normalize(s):
    s = "".join(ch for ch in s.lower() if ch not in set(string.punctuation))  # delete punctuation
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", s).split())  # articles as whole words, single spaces


def _f1(prediction, gold):
    p, g = _normalize(prediction).split(), _normalize(gold).split()
    same = sum((Counter(p) & Counter(g)).values())  # shared words, counted over the bags
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def em_f1(prediction, golds):
    em = max(float(_normalize(prediction) == _normalize(g)) for g in golds)
    return em, max(_f1(prediction, g) for g in golds)


def em_f1_unnormalised(prediction, golds):
    p, g = prediction.split(), golds[0].split()
    same = sum((Counter(p) & Counter(g)).values())
    f1 = 0.0 if same == 0 else 2 * same / (len(p) + len(g))
    return float(prediction.strip() == golds[0].strip()), f1


def em_f1_percent(prediction, golds):
    em, f1 = em_f1(prediction, golds)
    return 100 * em, 100 * f1


def em_f1_over_sets(prediction, golds):
    def f1(p, g):
        p, g = set(_normalize(p).split()), set(_normalize(g).split())
        same = len(p & g)
        return 0.0 if same == 0 else 2 * same / (len(p) + len(g))
    return max(float(_normalize(prediction) == _normalize(g)) for g in golds), max(f1(prediction, g) for g in golds)


def em_f1_first_gold_only(prediction, golds):
    return em_f1(prediction, golds[:1])


SOLUTIONS = {
    "span_decode": span_decode,
    "em_f1": em_f1,
    "first_piece_labels": first_piece_labels,
    "scalar_mix": scalar_mix,
    "window_starts": window_starts,
}

WRONG = {
    "span_decode": [
        (span_decode_separately, "ends before it starts"),
        (span_decode_without_max_length, "max_answer_len"),
        (span_decode_ignoring_the_mask, "not in the context"),
    ],
    "em_f1": [
        (em_f1_unnormalised, "lower-case"),
        (em_f1_percent, "not percent"),
        (em_f1_over_sets, "bags"),
        (em_f1_first_gold_only, "maximum over the gold answers"),
    ],
    "first_piece_labels": [
        (first_piece_labels_on_every_piece, "only the first piece"),
        (first_piece_labels_cutting_a_word, "does not fit whole"),
    ],
    "scalar_mix": [(scalar_mix_raw_weights, "softmax(w)"), (scalar_mix_without_gamma, "gamma")],
    "window_starts": [(window_starts_missing_the_end, "last window"), (window_starts_every_overlap, "overlap")],
}
