"""Solutions to the exercises of lesson 05 (notebooks/05_bert_input.py), and typical wrong answers.

Open this file after you have tried: each exercise's check (``bert_ms.exercises.check``) tells you
whether your own answer is right. ``tests/test_exercises.py`` runs every solution through its check
and proves that each wrong answer below is rejected with a message naming the mistake.
"""


# Exercise 5.1: greedy longest-match-first WordPiece
def wordpiece(word, vocab):
    if len(word) > 100:  # google-research/bert's max_input_chars_per_word
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:  # the longest candidate first
            piece = ("##" if start > 0 else "") + word[start:end]
            if piece in vocab:
                break
            end -= 1
        if end == start:  # nothing matched: the whole word is unknown
            return ["[UNK]"]
        pieces.append(piece)
        start = end
    return pieces


def wordpiece_partial_unk(word, vocab):
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start and ("##" if start > 0 else "") + word[start:end] not in vocab:
            end -= 1
        if end == start:
            return pieces + ["[UNK]"]  # keeps "un ##want ##ed" and adds [UNK] for the rest
        pieces.append(("##" if start > 0 else "") + word[start:end])
        start = end
    return pieces


def wordpiece_without_hashes(word, vocab):
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start and word[start:end] not in vocab:
            end -= 1
        if end == start:
            return ["[UNK]"]
        pieces.append(word[start:end])
        start = end
    return pieces


def wordpiece_shortest_first(word, vocab):
    pieces, start = [], 0
    while start < len(word):
        end = start + 1
        while end <= len(word) and ("##" if start > 0 else "") + word[start:end] not in vocab:
            end += 1
        if end > len(word):
            return ["[UNK]"]
        pieces.append(("##" if start > 0 else "") + word[start:end])
        start = end
    return pieces


def wordpiece_without_length_limit(word, vocab):
    pieces, start = [], 0  # no `len(word) > 100` test: a 101-character word is split like any other
    while start < len(word):
        end = len(word)
        while end > start and ("##" if start > 0 else "") + word[start:end] not in vocab:
            end -= 1
        if end == start:
            return ["[UNK]"]
        pieces.append(("##" if start > 0 else "") + word[start:end])
        start = end
    return pieces


# Exercise 5.2: the input rows of figure 2, padded to max_len
def bert_inputs(tokens_a, tokens_b, max_len):
    tokens = ["[CLS]", *tokens_a, "[SEP]"]
    segments = [0] * len(tokens)
    if tokens_b is not None:
        tokens += [*tokens_b, "[SEP]"]
        segments += [1] * (len(tokens_b) + 1)
    n_pad = max_len - len(tokens)
    return (tokens + ["[PAD]"] * n_pad, segments + [0] * n_pad, list(range(max_len)),
            [1] * len(tokens) + [0] * n_pad)


def bert_inputs_last_sep_in_segment_a(tokens_a, tokens_b, max_len):
    tokens, segments, positions, mask = bert_inputs(tokens_a, tokens_b, max_len)
    if tokens_b is not None:
        segments[len(tokens_a) + len(tokens_b) + 2] = 0
    return tokens, segments, positions, mask


def bert_inputs_positions_from_one(tokens_a, tokens_b, max_len):
    tokens, segments, _, mask = bert_inputs(tokens_a, tokens_b, max_len)
    return tokens, segments, list(range(1, max_len + 1)), mask


def bert_inputs_attending_to_padding(tokens_a, tokens_b, max_len):
    tokens, segments, positions, _ = bert_inputs(tokens_a, tokens_b, max_len)
    return tokens, segments, positions, [1] * max_len


# Exercise 5.3: whole-word groups
def whole_word_groups(tokens):
    groups = []
    for i, t in enumerate(tokens):
        if t in ("[CLS]", "[SEP]", "[PAD]"):
            continue
        if t.startswith("##") and groups and groups[-1][-1] == i - 1:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def whole_word_groups_one_per_piece(tokens):
    return [[i] for i, t in enumerate(tokens) if t not in ("[CLS]", "[SEP]", "[PAD]")]


def whole_word_groups_with_specials(tokens):
    groups = []
    for i, t in enumerate(tokens):
        if t.startswith("##") and groups:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


# Exercise 5.4: “ ” and each — and … are missing from bert-base-chinese: 1 + 2 + 2 + 1 = 6
zh_unk_count = 6

SOLUTIONS = {
    "wordpiece": wordpiece,
    "bert_inputs": bert_inputs,
    "whole_word_groups": whole_word_groups,
    "zh_unk_count": zh_unk_count,
}

WRONG = {
    "wordpiece": [
        (wordpiece_partial_unk, "whole word becomes [UNK]"),
        (wordpiece_without_hashes, "'##' prefix"),
        (wordpiece_shortest_first, "longest"),
        (wordpiece_without_length_limit, "longer than 100 characters"),
    ],
    "bert_inputs": [
        (bert_inputs_last_sep_in_segment_a, "belongs to segment 1"),
        (bert_inputs_positions_from_one, "count from 0"),
        (bert_inputs_attending_to_padding, "0 at every [PAD]"),
    ],
    "whole_word_groups": [
        (whole_word_groups_one_per_piece, "continues the word before it"),
        (whole_word_groups_with_specials, "never masked"),
    ],
    "zh_unk_count": [
        (4, "'——' is two tokens"),
        (0, "is in the bert-base-chinese vocabulary"),
    ],
}
