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
from bert_ms.exercises import Mismatch, exercise, expect_equal, to_numpy

__all__ = ["wordpiece", "bert_inputs", "whole_word_groups", "zh_unk_count"]

# google-research/bert tokenization_test.py's vocabulary
GOOGLE_VOCAB = ["[UNK]", "[CLS]", "[SEP]", "want", "##want", "##ed", "wa", "un", "runn", "##ing", ","]
ZH_SENTENCE = "“我们——来了……”他说。"
SPECIAL = ("[CLS]", "[SEP]", "[PAD]")
MAX_CHARS = 100  # google-research/bert's max_input_chars_per_word


# --- the typical wrong versions of greedy longest-match-first ----------------------------------------
def _greedy(word: str, vocab, longest=True, hashes=True, unk="whole", max_chars=MAX_CHARS, strip=False) -> list[str]:
    if max_chars is not None and len(word) > max_chars:
        return ["[UNK]"]
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
        pieces.append(match[0].removeprefix("##") if strip else match[0])
        start = match[1]
    return pieces


_WORDPIECE_MISTAKES = [
    (dict(unk="partial"), "when some part of a word matches no piece, the WHOLE word becomes [UNK], not only "
                          "the rest (google-research/bert: 'unwantedx' -> ['[UNK]'])."),
    (dict(hashes=False), "continuation pieces must be looked up (and returned) with the '##' prefix."),
    (dict(strip=True), "continuation pieces are returned WITH their '##' prefix ('##ing', not 'ing'): that is how "
                       "BERT tells a piece inside a word from a word of its own."),
    (dict(longest=False), "take the LONGEST prefix that is in the vocabulary first, not the shortest."),
    (dict(max_chars=None), f"a word longer than {MAX_CHARS} characters is [UNK] without being split "
                           "(google-research/bert's max_input_chars_per_word)."),
    (dict(max_chars=MAX_CHARS - 1), f"only a word LONGER than {MAX_CHARS} characters is [UNK]; a word of exactly "
                                    f"{MAX_CHARS} characters is split as usual (len(word) > {MAX_CHARS})."),
]


def _random_vocab(rng: np.random.Generator) -> tuple[set[str], list[str]]:
    letters = list("abcde")
    starts = {"".join(rng.choice(letters, size=int(rng.integers(1, 5)))) for _ in range(25)}
    conts = {"##" + "".join(rng.choice(letters, size=int(rng.integers(1, 4)))) for _ in range(25)}
    conts |= {f"##{c}" for c in letters[:4]}  # most words can finish; "e" alone sometimes cannot
    vocab = {"[UNK]"} | starts | conts
    words = ["".join(rng.choice(letters, size=int(rng.integers(3, 10)))) for _ in range(40)]
    return vocab, words


def _show_word(word: str) -> str:
    return repr(word) if len(word) <= 20 else f"{word[:10]!r}… ({len(word)} characters)"


@exercise("Exercise 5.1 · greedy longest-match-first WordPiece", time_limit=20,
          forbid=("bert_ms.bert.tokenization:WordpieceTokenizer", "bert_ms.bert.tokenization:BertTokenizer.tokenize"))
def wordpiece(fn):
    """``fn(word, vocab) -> list of pieces``: ``vocab`` is a set of strings (continuation pieces start with
    ``##``). Greedy longest-match-first (Wu et al. 2016, as in google-research/bert); a word that cannot be
    split completely, or that is longer than 100 characters, becomes ``["[UNK]"]``."""
    rng = np.random.default_rng()
    google = set(GOOGLE_VOCAB)
    cases = [(w, google) for w in ("unwanted", "running", "unwantedx", "want", "wa", "un")]
    vocab, words = _random_vocab(rng)
    cases += [(w, vocab) for w in words]
    long_vocab = {"[UNK]", "a", "b", "ab", "##a", "##b", "##ab"}
    long_words = ["".join(rng.choice(list("ab"), size=n)) for n in (MAX_CHARS, MAX_CHARS + 1, MAX_CHARS + 7)]
    cases += [(w, long_vocab) for w in long_words]
    for word, voc in cases:
        expected = WordpieceTokenizer(sorted(voc), max_input_chars_per_word=MAX_CHARS).tokenize_word(word)
        got = fn(word, set(voc))
        if isinstance(got, tuple):
            got = list(got)
        if got == expected:
            continue
        if isinstance(got, str):
            raise Mismatch(f"word {_show_word(word)}: expected a list of pieces like {expected[:8]}, got the string "
                           f"{got[:40]!r}" + (" (return ['[UNK]'], a list)." if got == "[UNK]" else "."))
        for kwargs, words_ in _WORDPIECE_MISTAKES:
            if got == _greedy(word, voc, **kwargs) != expected:
                raise Mismatch(f"word {_show_word(word)}: expected {expected[:8]}, got {got[:8]}: {words_}")
        shown = sorted(voc)[:12] if voc is not google else GOOGLE_VOCAB
        expect_equal(got, expected, f"word {_show_word(word)} with the vocabulary {shown}"
                                    f"{' ...' if len(voc) > 12 else ''}")


@functools.lru_cache(maxsize=1)
def _english() -> BertTokenizer:
    return BertTokenizer.bert_base_uncased()


def _reference_inputs(tokens_a, tokens_b, max_len):
    tokens, segments = _english().build_inputs(list(tokens_a), None if tokens_b is None else list(tokens_b))
    n_pad = max_len - len(tokens)
    return (tokens + ["[PAD]"] * n_pad, segments + [0] * n_pad, list(range(max_len)),
            [1] * len(tokens) + [0] * n_pad)


@exercise("Exercise 5.2 · [CLS], [SEP], segments, positions and the attention mask", time_limit=20,
          forbid=("bert_ms.bert.tokenization:BertTokenizer.build_inputs",
                  "bert_ms.bert.tokenization:BertTokenizer.encode"))
def bert_inputs(fn):
    """``fn(tokens_a, tokens_b, max_len) -> (tokens, segment_ids, position_ids, attention_mask)``, four lists
    of length ``max_len``: ``[CLS] A [SEP]`` (segment 0), then for a pair ``B [SEP]`` (segment 1), then
    ``[PAD]`` up to ``max_len`` (segment 0, attention mask 0); position ids are 0, 1, ..., max_len - 1.
    ``tokens_b`` may be None (a single sentence). The inputs always fit in ``max_len``."""
    rng = np.random.default_rng()
    words = [w for w in _english().vocab if w.isalpha() and w.isascii() and len(w) > 2][:5000]
    cases = []
    # (pair?, padding): padded pairs and single sentences, and both exactly filling max_len (no [PAD] at all)
    for pair, n_pad in ((True, int(rng.integers(1, 5))), (False, int(rng.integers(1, 5))), (True, 0), (False, 0)):
        a = [str(w) for w in rng.choice(words, size=int(rng.integers(1, 7)))]
        b = [str(w) for w in rng.choice(words, size=int(rng.integers(1, 7)))] if pair else None
        cases.append((a, b, len(a) + (len(b) + 3 if pair else 2) + n_pad))
    names = ("tokens", "segment_ids", "position_ids", "attention_mask")
    for a, b, max_len in cases:
        what = f"tokens_a={a}, tokens_b={b}, max_len={max_len}"
        got = fn(list(a), None if b is None else list(b), max_len)
        if not isinstance(got, tuple | list) or len(got) != 4:
            raise Mismatch(f"{what}: return four lists (tokens, segment_ids, position_ids, attention_mask), "
                           f"got {type(got).__name__}" + (f" of {len(got)} items." if isinstance(got, tuple | list)
                                                          else "."))
        expected = _reference_inputs(a, b, max_len)
        got = [to_numpy(g).tolist() if hasattr(g, "asnumpy") or isinstance(g, np.ndarray) else list(g) for g in got]
        tokens, segments, positions, mask = got
        for name, g in zip(names, got):
            if len(g) != max_len:
                raise Mismatch(f"{what}: {name} has {len(g)} items, expected max_len = {max_len} (expected "
                               f"{expected[names.index(name)]}, got {g}).")
        n_real = sum(expected[3])
        if b is not None and tokens == expected[0]:
            last_sep, first_sep = len(a) + len(b) + 2, len(a) + 1
            if segments[last_sep] == 0 and segments[last_sep - 1] == 1:
                raise Mismatch(f"{what}: the [SEP] that closes sentence B belongs to segment 1 (segment ids "
                               f"expected {expected[1]}, got {segments}).")
            if segments[first_sep] == 1 and segments[first_sep - 1] == 0:
                raise Mismatch(f"{what}: the [SEP] after sentence A belongs to segment 0 with A (segment ids "
                               f"expected {expected[1]}, got {segments}).")
        if tokens == expected[0] and segments[:n_real] == expected[1][:n_real] and segments[n_real:] != expected[1][n_real:]:
            raise Mismatch(f"{what}: [PAD] positions get segment id 0 (segment ids expected {expected[1]}, got "
                           f"{segments}).")
        if positions == [p + 1 for p in expected[2]]:
            raise Mismatch(f"{what}: position ids count from 0 (expected {expected[2]}, got {positions}).")
        if positions[:n_real] == expected[2][:n_real] and positions != expected[2]:
            raise Mismatch(f"{what}: position ids run 0, 1, ..., max_len - 1 over the [PAD] positions too "
                           f"(expected {expected[2]}, got {positions}).")
        if mask[:n_real] == expected[3][:n_real] and any(m != 0 for m in mask[n_real:]):
            raise Mismatch(f"{what}: the attention mask must be 0 at every [PAD] (expected {expected[3]}, got {mask}).")
        if mask[n_real:] == expected[3][n_real:] and mask[:n_real] != expected[3][:n_real]:
            raise Mismatch(f"{what}: the attention mask is 1 at every real token ([CLS] and [SEP] included) "
                           f"(expected {expected[3]}, got {mask}).")
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


def _as_groups(got, where: str) -> list[list[int]]:
    """The learner's groups as lists of ints, or a Mismatch saying what the value is instead."""
    if hasattr(got, "asnumpy") or isinstance(got, np.ndarray):
        got = to_numpy(got).tolist()
    if not isinstance(got, list | tuple):
        raise Mismatch(f"{where}: expected a list of groups (lists of positions), got {type(got).__name__}.")
    groups = []
    for g in got:
        if isinstance(g, int | np.integer) and not isinstance(g, bool):
            raise Mismatch(f"{where}: expected a list of groups, each a LIST of positions (e.g. [[1, 2, 3], [4]]), "
                           f"got a flat list {list(got)[:12]}.")
        if isinstance(g, str) or not hasattr(g, "__iter__"):
            raise Mismatch(f"{where}: each group must be a list of positions, got {g!r}.")
        g = list(g)
        if any(isinstance(i, str) for i in g):
            raise Mismatch(f"{where}: a group holds the POSITIONS of the pieces (ints), not the pieces themselves "
                           f"(got {g}).")
        if not all(isinstance(i, int | np.integer) and not isinstance(i, bool) for i in g):
            raise Mismatch(f"{where}: positions must be ints, got {g}.")
        groups.append([int(i) for i in g])
    return groups


@exercise("Exercise 5.3 · whole-word groups for whole-word masking", time_limit=10,
          forbid=("bert_ms.bert.masking:_word_groups",))
def whole_word_groups(fn):
    """``fn(tokens) -> list of lists of positions``: the words that whole-word masking chooses from. Each
    group holds the position of a word's first piece and of the ``##`` pieces that follow it; ``[CLS]``,
    ``[SEP]`` and ``[PAD]`` belong to no group (they are never masked). Groups in order."""
    rng = np.random.default_rng()
    cases = [["[CLS]", "un", "##aff", "##able", "play", "##ing", "[SEP]", "em", "##bed", "##ding", "##s", "[SEP]"]]
    cases += [_random_pieces(rng) for _ in range(5)]
    for tokens in cases:
        expected = _reference_groups(tokens)
        where = f"tokens {tokens}"
        got = _as_groups(fn(list(tokens)), where)
        if got == expected:
            continue
        if got == [[i] for g in expected for i in g]:
            raise Mismatch(f"{where}: a '##' piece continues the word before it and joins that word's group "
                           f"(expected {expected}, got {got}).")
        if got == [[i - 1 for i in g] for g in expected]:
            raise Mismatch(f"{where}: positions are indices into `tokens` itself, [CLS] at position 0 "
                           f"(expected {expected}, got {got}).")
        flat = {i for g in got for i in g}
        if any(not 0 <= i < len(tokens) for i in flat):
            raise Mismatch(f"{where}: position {max(flat)} is outside the tokens (0 .. {len(tokens) - 1}).")
        specials = sorted(i for i in flat if tokens[i] in SPECIAL)
        if specials:
            raise Mismatch(f"{where}: [CLS], [SEP] and [PAD] are never masked, so they belong to no group "
                           f"(your groups contain positions {specials}).")
        if got == expected[:-1]:
            raise Mismatch(f"{where}: the last word's group {expected[-1]} is missing (expected {expected}, got "
                           f"{got}); if you build a group while you loop, append it once the loop is over.")
        expect_equal(got, expected, where)


@functools.lru_cache(maxsize=1)
def _chinese() -> BertTokenizer:
    return BertTokenizer.bert_base_chinese()


@exercise("Exercise 5.4 · [UNK] in Chinese text", kind="value")
def zh_unk_count(answer):
    """How many ``[UNK]`` tokens does bert-base-chinese produce for ``“我们——来了……”他说。``
    (``BertTokenizer.bert_base_chinese().tokenize``)? Work it out first, then run the tokenizer."""
    if isinstance(answer, str) or isinstance(answer, bool) or not isinstance(answer, int | float | np.number):
        raise Mismatch(f"expected a number (an int), got {type(answer).__name__} {answer!r}.")
    tokens = _chinese().tokenize(ZH_SENTENCE)
    expected = tokens.count("[UNK]")
    if answer == expected:
        return
    marks = ("“", "”", "—", "…")
    dashes = ZH_SENTENCE.count("—")
    grouped = sum(1 for w in ("“", "——", "……", "”") if w in ZH_SENTENCE)
    if answer == grouped:
        raise Mismatch(f"got {answer}: every '—' and every '…' is a punctuation mark of its own, so '——' is two "
                       "tokens and '……' two more.")
    if answer == 0:
        raise Mismatch(f"got 0: none of {list(marks)} is in the bert-base-chinese vocabulary (check with "
                       "`'—' in zh.vocab`).")
    if answer in (dashes, dashes // 2):
        raise Mismatch(f"got {answer}: not only the dash: the curly quotation marks “ ” and the ellipsis … are "
                       "missing from the vocabulary too.")
    raise Mismatch(f"got {answer!r}. Hint: which characters of the sentence are missing from the vocabulary, and "
                   "how does the basic tokenizer split punctuation?")
