"""Vocabulary files that lie (issue 15): a repeated line names both lines, bad UTF-8 names the file, and
WordPiece training is deterministic."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import mindspore as ms
import numpy as np
import pytest

from bert_ms.bert.config import BertConfig
from bert_ms.bert.tokenization import SPECIAL_TOKENS, BertTokenizer, VocabError, load_vocab

CFG = BertConfig(vocab_size=40, hidden_size=8, num_hidden_layers=2, num_attention_heads=2, intermediate_size=16,
                 max_position_embeddings=16)
IDS = ms.Tensor(np.arange(1, 15, dtype=np.int32).reshape(2, 7))
ROOT = Path(__file__).resolve().parents[1]


# --- vocabulary files
def write_vocab(path: Path, tokens: list[str]) -> Path:
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return path


def test_duplicate_vocab_line_is_refused_naming_both_lines(tmp_path):
    tokens = [*SPECIAL_TOKENS, "a", "b", "a", "c"]
    with pytest.raises(VocabError, match=r"line 8 repeats the token 'a' of line 6"):
        BertTokenizer(write_vocab(tmp_path / "vocab.txt", tokens))
    assert len(BertTokenizer(write_vocab(tmp_path / "ok.txt", [*SPECIAL_TOKENS, "a", "b", "c"]))) == 8


def test_invalid_utf8_vocab_names_the_file(tmp_path):
    path = tmp_path / "latin1-vocab.txt"
    path.write_bytes("\n".join([*SPECIAL_TOKENS, "café"]).encode("latin-1"))
    with pytest.raises(VocabError, match=r"latin1-vocab\.txt is not valid UTF-8 \(line 6"):
        load_vocab(path)


TRAIN_SCRIPT = textwrap.dedent("""
    import hashlib, sys
    from bert_ms import data
    from bert_ms.bert.vocab_training import train_wordpiece_vocab
    sents = [s for d in data.load_sotu("train")[:8] for s in d]
    path = train_wordpiece_vocab(sents, 1200, sys.argv[1])
    print(hashlib.sha256(path.read_bytes()).hexdigest())
""")


def test_vocab_training_is_deterministic(tmp_path):
    """Two processes (different hash seeds) write byte-identical vocab.txt files. HF's trainer did not:
    it numbers the ``##`` characters in hash-map order, and that order breaks ties between merges."""
    digests = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", TRAIN_SCRIPT, str(tmp_path / seed / "vocab.txt")], env=env,
                             cwd=ROOT, capture_output=True, text=True, timeout=300, check=True)
        digests.append(out.stdout.strip())
    assert digests[0] == digests[1]
    lines = (tmp_path / "1" / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert lines[:5] == list(SPECIAL_TOKENS) and len(lines) == 1200 and len(set(lines)) == 1200
    assert hashlib.sha256((tmp_path / "1" / "vocab.txt").read_bytes()).hexdigest() == digests[0]
