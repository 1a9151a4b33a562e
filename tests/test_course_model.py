"""The committed course BERTs (models/mini-bert-sotu, its email-adapted continuation
models/mini-bert-sotu-email, and the Chinese models/mini-bert-zh) are the files their READMEs and
models/MANIFEST.json describe, and they load."""

import importlib.util
import json
import re
from pathlib import Path

import pytest

from bert_ms.bert.model import load_pretrained
from bert_ms.data import sha256_of

MODELS = Path(__file__).resolve().parent.parent / "models"
FOLDERS = ["mini-bert-sotu", "mini-bert-sotu-email"]
ALL_FOLDERS = [*FOLDERS, "mini-bert-zh"]


@pytest.mark.parametrize("folder", ALL_FOLDERS)
@pytest.mark.parametrize("name", ["model.safetensors", "vocab.txt"])
def test_committed_files_match_the_checksums_in_the_readme(folder, name):
    """Compares committed files only (each model file with the sha256 its README states); runs no model."""
    readme = (MODELS / folder / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith(f"| `{name}` |"))
    expected = re.search(r"sha256 `([0-9a-f]{64})`", row).group(1)
    assert sha256_of(MODELS / folder / name) == expected


@pytest.mark.parametrize("folder", ALL_FOLDERS)
def test_course_model_loads_with_its_pretraining_heads(folder):
    model = load_pretrained(MODELS / folder, head="pretraining")
    assert model.config.vocab_size == sum(1 for _ in (MODELS / folder / "vocab.txt").open(encoding="utf-8"))


def test_email_model_continues_the_sotu_model():
    """Same shape and vocabulary: only the weights moved during further pretraining."""
    sotu, email = (load_pretrained(MODELS / f, head="pretraining") for f in FOLDERS)
    assert sotu.config == email.config
    assert (MODELS / FOLDERS[0] / "vocab.txt").read_bytes() == (MODELS / FOLDERS[1] / "vocab.txt").read_bytes()


def test_the_models_manifest_is_what_its_script_writes_from_the_files():
    spec = importlib.util.spec_from_file_location("models_manifest", MODELS.parent / "scripts" / "build_models_manifest.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    committed = json.loads((MODELS / "MANIFEST.json").read_text(encoding="utf-8"))
    assert committed == script.manifest(), "models/MANIFEST.json is stale: python scripts/build_models_manifest.py"
    assert sorted(committed["models"]) == sorted(p.name for p in MODELS.iterdir() if p.is_dir())
    for name, entry in committed["models"].items():
        assert entry["trained_on"] and entry["data_licence"] and entry["licence"] == "Apache-2.0", name


def test_the_chinese_model_has_the_bert_base_chinese_vocabulary():
    import hashlib

    vocab = (MODELS / "mini-bert-zh" / "vocab.txt").read_bytes()
    assert b"\r" not in vocab and hashlib.md5(vocab).hexdigest() == "3b5b76c4aef48ecf8cb3abaafe960f09"
