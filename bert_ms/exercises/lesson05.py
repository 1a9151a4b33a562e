"""Lesson 05 exercises (BERT's input): WordPiece, the input rows, whole-word groups, Chinese [UNK].

Every check draws fresh random inputs, runs the learner's function and the ``bert_ms.bert.tokenization``
reference on them, and names the first mismatch; typical mistakes (a partial ``[UNK]``, continuation
pieces without ``##``, shortest-match-first, the closing ``[SEP]`` in segment 0, positions from 1,
special tokens in a whole-word group, ...) are recognised and named.
"""

from __future__ import annotations

import functools
import string

import numpy as np

from bert_ms.bert.tokenization import BertTokenizer, WordpieceTokenizer
from bert_ms.exercises import Mismatch, exercise, expect_equal

__all__ = ["wordpiece", "bert_inputs", "whole_word_groups", "zh_unk_count"]

# google-research/bert tokenization_test.py's vocabulary
GOOGLE_VOCAB = ["[UNK]", "[CLS]", "[SEP]", "want", "##want", "##ed", "wa", "un", "runn", "##ing", ","]
ZH_SENTENCE = "“我们——来了……”他说。"
SPECIAL = ("[CLS]", "[SEP]", "[PAD]")


# --- the typical wrong versions of greedy longest-match-first ----------------------------------------
def _greedy(word: str, vocab, longest=True, hashes=True, unk="whole") -> list[str]:
    pieces, start = [], 0
    while start < len(word):
        ends = range(len(word), start, -1) if longest else range(start + 1, len(word) + 1)
        match = None
        for end in ends:
            piece = ("##" if start > 0 and hashes else "") + word[start:end]
            if piece in vocab:
                match = (piece, end)
                break
        if match is None:
            if unk == "whole":
                return ["[UNK]"]
            return pieces + ["[UNK]"]  # "partial": keep what matched so far
        pieces.append(match[0])
        start = match[1]
    return pieces


_WORDPIECE_MISTAKES = [
    (dict(unk="partial"), "when some part of a word matches no piece, the WHOLE word becomes [UNK], not only "
                          "the rest (google-research/bert: 'unwantedX' -> ['[UNK]'])."),
    (dict(hashes=False), "continuation pieces must be looked up (and returned) with the '##' prefix."),
    (dict(longest=False), "take the LONGEST prefix that is in the vocabulary first, not the shortest."),
]


def _random_vocab(rng: np.random.Generator) -> tuple[set[str], list[str]]:
    letters = list("abcde")
    starts = {"".join(rng.choice(letters, size=int(rng.integers(1, 5)))) for _ in range(25)}
    conts = {"##" + "".join(rng.choice(letters, size=int(rng.integers(1, 4)))) for _ in range(25)}
    conts |= {f"##{c}" for c in letters[:4]}  # most words can finish; "e" alone sometimes cannot
    vocab = {"[UNK]"} | starts | conts
    words = ["".join(rng.choice(letters, size=int(rng.integers(3, 10)))) for _ in range(40)]
    return vocab, words


@exercise("Exercise 5.1 · greedy longest-match-first WordPiece")
def wordpiece(fn):
    """``fn(word, vocab) -> list of pieces``: ``vocab`` is a set of strings (continuation pieces start with
    ``##``). Greedy longest-match-first (Wu et al. 2016, as in google-research/bert); a word that cannot be
    split completely becomes ``["[UNK]"]``."""
    rng = np.random.default_rng()
    google = set(GOOGLE_VOCAB)
    cases = [(w, google) for w in ("unwanted", "running", "unwantedx", "want", "wa")]
    vocab, words = _random_vocab(rng)
    cases += [(w, vocab) for w in words]
    for word, voc in cases:
        expected = WordpieceTokenizer(sorted(voc)).tokenize_word(word)
        got = fn(word, set(voc))
        if isinstance(got, tuple):
            got = list(got)
        if got == expected:
            continue
        for kwargs, words_ in _WORDPIECE_MISTAKES:
            if got == _greedy(word, voc, **kwargs) != expected:
                raise Mismatch(f"word {word!r}: expected {expected}, got {got}: {words_}")
        shown = sorted(voc)[:12] if voc is not google else GOOGLE_VOCAB
        expect_equal(got, expected, f"word {word!r} with the vocabulary {shown}{' ...' if len(voc) > 12 else ''}")


@functools.lru_cache(maxsize=1)
def _english() -> BertTokenizer:
    return BertTokenizer.bert_base_uncased()


def _reference_inputs(tokens_a, tokens_b, max_len):
    tokens, segments = _english().build_inputs(list(tokens_a), None if tokens_b is None else list(tokens_b))
    n_pad = max_len - len(tokens)
    return (tokens + ["[PAD]"] * n_pad, segments + [0] * n_pad, list(range(max_len)),
            [1] * len(tokens) + [0] * n_pad)


@exercise("Exercise 5.2 · [CLS], [SEP], segments, positions and the attention mask")
def bert_inputs(fn):
    """``fn(tokens_a, tokens_b, max_len) -> (tokens, segment_ids, position_ids, attention_mask)``, four lists
    of length ``max_len``: ``[CLS] A [SEP]`` (segment 0), then for a pair ``B [SEP]`` (segment 1), then
    ``[PAD]`` up to ``max_len`` (segment 0, attention mask 0); position ids are 0, 1, ..., max_len - 1.
    ``tokens_b`` may be None (a single sentence). The inputs always fit in ``max_len``."""
    rng = np.random.default_rng()
    words = [w for w in _english().vocab if w.isalpha() and w.isascii() and len(w) > 2][:5000]
    cases = []
    for pair, min_pad in ((True, 1), (False, 0), (True, 0)):  # the first case always has padding
        a = list(rng.choice(words, size=int(rng.integers(1, 6))))
        b = list(rng.choice(words, size=int(rng.integers(1, 6)))) if pair else None
        cases.append((a, b, len(a) + (len(b) + 3 if pair else 2) + int(rng.integers(min_pad, 4))))
    names = ("tokens", "segment_ids", "position_ids", "attention_mask")
    for a, b, max_len in cases:
        what = f"tokens_a={a}, tokens_b={b}, max_len={max_len}"
        got = fn(list(a), None if b is None else list(b), max_len)
        if not isinstance(got, tuple | list) or len(got) != 4:
            raise Mismatch(f"{what}: return four lists (tokens, segment_ids, position_ids, attention_mask).")
        expected = _reference_inputs(a, b, max_len)
        got = [list(np.asarray(g).tolist()) if not isinstance(g, list) else g for g in got]
        tokens, segments, positions, mask = got
        if b is not None and tokens == expected[0]:
            last_sep = len(a) + len(b) + 2
            if len(segments) == max_len and segments[last_sep] == 0 and segments[last_sep - 1] == 1:
                raise Mismatch(f"{what}: the [SEP] that closes sentence B belongs to segment 1 (segment ids "
                               f"expected {expected[1]}, got {segments}).")
        if positions == [p + 1 for p in expected[2]]:
            raise Mismatch(f"{what}: position ids count from 0 (expected {expected[2]}, got {positions}).")
        n_real = sum(expected[3])
        if mask[:n_real] == expected[3][:n_real] and any(m != 0 for m in mask[n_real:]):
            raise Mismatch(f"{what}: the attention mask must be 0 at every [PAD] (expected {expected[3]}, got {mask}).")
        for name, g, e in zip(names, got, expected):
            expect_equal(g, e, f"{what}: {name}")


def _reference_groups(tokens) -> list[list[int]]:
    groups: list[list[int]] = []
    for i, t in enumerate(tokens):
        if t in SPECIAL:
            continue
        if t.startswith("##") and groups and groups[-1][-1] == i - 1:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def _random_pieces(rng: np.random.Generator) -> list[str]:
    def word():
        first = "".join(rng.choice(list(string.ascii_lowercase), size=int(rng.integers(2, 5))))
        return [first] + [f"##{rng.choice(list('sedingly'))}{rng.choice(list('aeiou'))}"
                          for _ in range(int(rng.choice([0, 0, 1, 2])))]

    a = [p for _ in range(int(rng.integers(3, 6))) for p in word()]
    b = [p for _ in range(int(rng.integers(2, 5))) for p in word()]
    return ["[CLS]", *a, "[SEP]", *b, "[SEP]"] + ["[PAD]"] * int(rng.integers(1, 4))


@exercise("Exercise 5.3 · whole-word groups for whole-word masking")
def whole_word_groups(fn):
    """``fn(tokens) -> list of lists of positions``: the words that whole-word masking chooses from. Each
    group holds the position of a word's first piece and of the ``##`` pieces that follow it; ``[CLS]``,
    ``[SEP]`` and ``[PAD]`` belong to no group (they are never masked). Groups in order."""
    rng = np.random.default_rng()
    cases = [["[CLS]", "un", "##aff", "##able", "play", "##ing", "[SEP]", "em", "##bed", "##ding", "##s", "[SEP]"]]
    cases += [_random_pieces(rng) for _ in range(5)]
    for tokens in cases:
        expected = _reference_groups(tokens)
        got = [list(map(int, g)) for g in fn(list(tokens))]
        if got == expected:
            continue
        where = f"tokens {tokens}"
        if got == [[i] for g in expected for i in g]:
            raise Mismatch(f"{where}: a '##' piece continues the word before it and joins that word's group "
                           f"(expected {expected}, got {got}).")
        flat = {i for g in got for i in g}
        specials = sorted(i for i in flat if tokens[i] in SPECIAL)
        if specials:
            raise Mismatch(f"{where}: [CLS], [SEP] and [PAD] are never masked, so they belong to no group "
                           f"(your groups contain positions {specials}).")
        expect_equal(got, expected, where)


@functools.lru_cache(maxsize=1)
def _chinese() -> BertTokenizer:
    return BertTokenizer.bert_base_chinese()


@exercise("Exercise 5.4 · [UNK] in Chinese text", kind="value")
def zh_unk_count(answer):
    """How many ``[UNK]`` tokens does bert-base-chinese produce for ``“我们——来了……”他说。``
    (``BertTokenizer.bert_base_chinese().tokenize``)? Work it out first, then run the tokenizer."""
    tokens = _chinese().tokenize(ZH_SENTENCE)
    expected = tokens.count("[UNK]")
    marks = {"“", "”", "—", "…"}
    if answer == expected:
        return
    grouped = sum(1 for w in ("“", "——", "……", "”") if w in ZH_SENTENCE)
    if answer == grouped:
        raise Mismatch(f"expected {expected}, got {answer}: every '—' and every '…' is a punctuation mark of its own, "
                       "so '——' is two tokens and '……' two more.")
    if answer == 0:
        raise Mismatch(f"expected {expected}, got 0: none of {sorted(marks)} is in the bert-base-chinese "
                       "vocabulary (check with `'—' in tok.vocab`).")
    raise Mismatch(f"expected {expected}, got {answer!r}. Hint: which characters of the sentence are missing from "
                   "the vocabulary, and how does the basic tokenizer split punctuation?")
