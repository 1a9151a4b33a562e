"""The committed course BERT (models/mini-bert-sotu) is the file its README describes, and it loads."""

import re
from pathlib import Path

import pytest

from bert_ms.data import sha256_of
from bert_ms.weights import load_pretrained

MODEL = Path(__file__).resolve().parent.parent / "models" / "mini-bert-sotu"


@pytest.mark.parametrize("name", ["model.safetensors", "vocab.txt"])
def test_committed_files_match_the_checksums_in_the_readme(name):
    readme = (MODEL / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith(f"| `{name}` |"))
    expected = re.search(r"sha256 `([0-9a-f]{64})`", row).group(1)
    assert sha256_of(MODEL / name) == expected


def test_course_model_loads_with_its_pretraining_heads():
    model = load_pretrained(MODEL, head="pretraining")
    assert model.config.vocab_size == sum(1 for _ in (MODEL / "vocab.txt").open(encoding="utf-8"))
