"""Training a WordPiece vocabulary (词表训练) from your own text: what ``bert-ms pretrain --vocab train``
and lesson 05 use to give a small corpus its own vocabulary.

:func:`wordpiece_vocab_from_counts` learns the pieces from word counts; :func:`train_wordpiece_vocab`
counts the words of texts or files (BERT's normalisation and pre-tokenisation, as
:class:`bert_ms.bert.tokenization.BasicTokenizer`) and writes ``vocab.txt`` atomically. Reading a
vocabulary and tokenizing with it is :mod:`bert_ms.bert.tokenization`.
Where this departs from the paper is said in :func:`train_wordpiece_vocab`.
"""

from __future__ import annotations

import collections
import heapq
from collections.abc import Iterable, Sequence
from pathlib import Path

from tokenizers import normalizers, pre_tokenizers

from bert_ms.bert.tokenization import SPECIAL_TOKENS, VocabError
from bert_ms.runtime.files import atomic_write_text


def _is_file(x: str | Path) -> bool:
    if isinstance(x, str) and ("\n" in x or len(x) > 4096):
        return False
    try:
        return Path(x).is_file()
    except OSError:
        return False


def _count_words(texts: Iterable[str], lowercase: bool) -> collections.Counter:
    """Word counts after BERT's normalisation and pre-tokenisation (HF's Rust ``BertNormalizer`` and
    ``BertPreTokenizer``: the same words as :class:`BasicTokenizer`, only faster)."""
    norm = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=lowercase,
                                      lowercase=lowercase)
    pre = pre_tokenizers.BertPreTokenizer()
    counts: collections.Counter = collections.Counter()
    for text in texts:
        counts.update(w for w, _ in pre.pre_tokenize_str(norm.normalize_str(text)))
    return counts


def wordpiece_vocab_from_counts(word_counts: dict[str, int], vocab_size: int, min_frequency: int = 2,
                                limit_alphabet: int | None = 1000,
                                special_tokens: Sequence[str] = SPECIAL_TOKENS) -> list[str]:
    """The vocabulary (ids = positions) that WordPiece training learns from word counts.

    The algorithm of Hugging Face's ``WordPieceTrainer`` (BPE-style merges stored in WordPiece format):

    1. the alphabet (字母表): every character of the corpus, or the ``limit_alphabet`` most frequent
       ones; a word's other characters are dropped from it;
    2. each word becomes its characters, every non-initial one with the ``##`` prefix
       (``playing`` -> ``p ##l ##a ##y ##i ##n ##g``);
    3. repeatedly, the most frequent adjacent pair (counted over all words, weighted by word count)
       is merged into a new token (``p`` + ``##l`` -> ``pl``; ``##i`` + ``##n`` -> ``##in``), until
       the vocabulary holds ``vocab_size`` tokens or no pair occurs ``min_frequency`` times.

    Deterministic by construction (确定性). Ids are handed out in a fixed order: the special tokens,
    the alphabet by code point, the ``##`` characters by code point, then each merge's token as it is
    made. Equal pair counts go, as in HF, to the pair with the smaller (left id, right id), so older
    tokens merge first and words grow from their first letter. Of equally frequent characters beyond
    ``limit_alphabet`` the higher code points are dropped. Hugging Face's trainer breaks the same ties
    by ids that it hands to the ``##`` characters while walking a hash map, a random order in every
    process, so two runs on one text give different vocabularies, with or without threads
    (``RAYON_NUM_THREADS=1`` or ``TOKENIZERS_PARALLELISM=false`` do not help); that is why this is not a
    call to it.
    """
    specials = list(dict.fromkeys(special_tokens))
    char_counts: collections.Counter = collections.Counter()
    for word, count in word_counts.items():
        for ch in word:
            char_counts[ch] += count
    chars = sorted(char_counts)
    if limit_alphabet is not None and len(chars) > limit_alphabet:
        chars = sorted(sorted(chars, key=lambda ch: (-char_counts[ch], ch))[:limit_alphabet])
    alphabet = set(chars)

    id_to_token = specials + [c for c in chars if c not in specials]
    piece_words = []
    for word, count in sorted(word_counts.items()):
        pieces = [ch if i == 0 else "##" + ch for i, ch in enumerate(word) if ch in alphabet]
        if pieces:
            piece_words.append((pieces, count))
    known = set(id_to_token)
    id_to_token += sorted({p for w, _ in piece_words for p in w} - known)
    token_to_id = {t: i for i, t in enumerate(id_to_token)}
    words = [[token_to_id[p] for p in w] for w, _ in piece_words]
    counts = [c for _, c in piece_words]

    pair_counts: collections.Counter = collections.Counter()
    where: dict[tuple[int, int], set[int]] = collections.defaultdict(set)
    for wi, (w, count) in enumerate(zip(words, counts)):
        for pair in zip(w, w[1:]):
            pair_counts[pair] += count
            where[pair].add(wi)
    # a max-heap by count, ties to the smaller (left id, right id); stale entries are re-checked when popped
    heap = [(-c, a, b) for (a, b), c in pair_counts.items()]
    heapq.heapify(heap)
    while len(id_to_token) < vocab_size and heap:
        neg, a, b = heapq.heappop(heap)
        count = pair_counts.get((a, b), 0)
        if count != -neg:
            if count > 0:
                heapq.heappush(heap, (-count, a, b))
            continue
        if count < max(min_frequency, 1):
            break
        token = id_to_token[a] + id_to_token[b].removeprefix("##")
        new = token_to_id.setdefault(token, len(id_to_token))
        if new == len(id_to_token):
            id_to_token.append(token)
        grown: set[tuple[int, int]] = set()
        for wi in sorted(where.pop((a, b), ())):
            w, c = words[wi], counts[wi]
            merged, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    merged.append(new)
                    i += 2
                else:
                    merged.append(w[i])
                    i += 1
            if len(merged) == len(w):
                continue
            for pair in zip(w, w[1:]):
                pair_counts[pair] -= c
            for pair in zip(merged, merged[1:]):
                pair_counts[pair] += c
                where[pair].add(wi)
                if new in pair:
                    grown.add(pair)
            words[wi] = merged
        pair_counts.pop((a, b), None)
        for pair in sorted(grown):
            heapq.heappush(heap, (-pair_counts[pair], *pair))
    return id_to_token


def train_wordpiece_vocab(texts_or_files: Iterable[str] | str | Path, vocab_size: int, out_path: str | Path,
                          lowercase: bool = True, min_frequency: int = 2, limit_alphabet: int | None = 1000) -> Path:
    """Learn a WordPiece vocabulary of ``vocab_size`` tokens and save it as ``vocab.txt``.

    ``texts_or_files`` is a list of strings, or one or more paths of text files. The
    vocabulary starts with the 5 special tokens ``[PAD] [UNK] [CLS] [SEP] [MASK]`` (ids
    0-4), then the characters and the learned pieces (see :func:`wordpiece_vocab_from_counts`).
    Normalisation and pre-tokenisation are BERT's (the same as
    :class:`bert_ms.bert.tokenization.BasicTokenizer`). The result is a pure function of the text and the
    arguments: two runs write byte-identical files. The file is replaced atomically (a crash leaves the
    old file or the new one).

    Departure from the paper: Google's original WordPiece trainer (Schuster & Nakajima,
    2012) picks merges by language-model likelihood and was never released; this one (like HF's
    trainer) picks BPE-style merges by frequency and then stores them in WordPiece format.
    """
    if vocab_size <= len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size must exceed the {len(SPECIAL_TOKENS)} special tokens, got {vocab_size}")
    out_path = Path(out_path)
    if out_path.suffix != ".txt":
        out_path = out_path / "vocab.txt"

    if isinstance(texts_or_files, str | Path) and _is_file(texts_or_files):
        files = [Path(texts_or_files)]
    else:
        items = list(texts_or_files)
        if not items:
            raise ValueError("no training text given")
        files = [Path(x) for x in items] if all(isinstance(x, str | Path) and _is_file(x) for x in items) else None
        if files is None:
            for x in items:
                if not isinstance(x, str):
                    raise TypeError(f"training texts must be str, got {type(x).__name__}")
    if files is not None:
        def lines():
            for f in files:
                try:
                    with open(f, encoding="utf-8") as fh:
                        yield from fh
                except UnicodeDecodeError as err:
                    raise VocabError(f"{f} is not valid UTF-8 text ({err.reason} at byte {err.start})") from None
        word_counts = _count_words(lines(), lowercase)
    else:
        word_counts = _count_words(items, lowercase)
    tokens = wordpiece_vocab_from_counts(word_counts, vocab_size, min_frequency, limit_alphabet)
    atomic_write_text(out_path, "\n".join(tokens) + "\n")
    return out_path
