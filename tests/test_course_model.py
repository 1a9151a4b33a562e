"""The committed course BERTs (models/mini-bert-sotu and its email-adapted continuation
models/mini-bert-sotu-email) are the files their READMEs describe, and they load."""

import re
from pathlib import Path

import pytest

from bert_ms.bert.model import load_pretrained
from bert_ms.data import sha256_of

MODELS = Path(__file__).resolve().parent.parent / "models"
FOLDERS = ["mini-bert-sotu", "mini-bert-sotu-email"]


@pytest.mark.parametrize("folder", FOLDERS)
@pytest.mark.parametrize("name", ["model.safetensors", "vocab.txt"])
def test_committed_files_match_the_checksums_in_the_readme(folder, name):
    readme = (MODELS / folder / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith(f"| `{name}` |"))
    expected = re.search(r"sha256 `([0-9a-f]{64})`", row).group(1)
    assert sha256_of(MODELS / folder / name) == expected


@pytest.mark.parametrize("folder", FOLDERS)
def test_course_model_loads_with_its_pretraining_heads(folder):
    model = load_pretrained(MODELS / folder, head="pretraining")
    assert model.config.vocab_size == sum(1 for _ in (MODELS / folder / "vocab.txt").open(encoding="utf-8"))


def test_email_model_continues_the_sotu_model():
    """Same shape and vocabulary: only the weights moved during further pretraining."""
    sotu, email = (load_pretrained(MODELS / f, head="pretraining") for f in FOLDERS)
    assert sotu.config == email.config
    assert (MODELS / FOLDERS[0] / "vocab.txt").read_bytes() == (MODELS / FOLDERS[1] / "vocab.txt").read_bytes()
