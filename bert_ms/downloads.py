"""Datasets the course uses that can only be had online (在线数据集): Baidu EmoTect and IMDB.

They are never needed by a test or a smoke run. :func:`download` fetches an archive once
into ``settings.cache_dir() / name``, checks its sha256 and unpacks it; later calls use
the cache. Offline, or on a checksum mismatch, it raises :class:`DownloadError` saying
what to do (e.g. copy the archive there by hand).

Checksums: the build machines reach no dataset website, so the pins below are the values
published by other projects for the same files: IMDB's sha256 (the value TensorFlow Datasets
and many loaders pin) and EmoTect's MD5 (the one PaddleHub pins; no sha256 is published). A
download is checked against the pin before it is kept; for a dataset with only an MD5 pin the
sha256 of the verified archive is then recorded next to it (``<file>.sha256``) and checked on
every later load. A dataset with no pin at all falls back to recording the first download's
sha256 ("trust on first use").
"""

from __future__ import annotations

import shutil
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bert_ms.data import sha256_of
from bert_ms.runtime import settings


class DownloadError(RuntimeError):
    """A download failed (offline, bad URL) or an archive does not match its checksum."""


@dataclass(frozen=True)
class RemoteDataset:
    name: str
    url: str
    filename: str
    sha256: str | None  # None: recorded by the first successful download, verified afterwards
    licence: str
    description: str
    md5: str | None = None  # a published MD5, checked before the sha256 is recorded


REMOTE: dict[str, RemoteDataset] = {
    "emotect": RemoteDataset(
        name="emotect",
        url="https://baidu-nlp.bj.bcebos.com/emotion_detection-dataset-1.0.0.tar.gz",
        filename="emotion_detection-dataset-1.0.0.tar.gz",
        sha256=None,  # no published sha256; the MD5 below is PaddleHub's pin
        md5="512d256add5f9ebae2c101b74ab053e9",
        licence="Baidu EmoTect (Apache-2.0 per the PaddleNLP repository)",
        description="Chinese chat utterances, 3 emotion classes (0 negative, 1 neutral, 2 positive); "
                    "the dataset of the course's bert_emotect_finetune notebook",
    ),
    "imdb": RemoteDataset(
        name="imdb",
        url="https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
        filename="aclImdb_v1.tar.gz",
        sha256="c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
        licence="research use, cite Maas et al. (2011)",
        description="IMDB movie reviews, 25k train / 25k test, binary sentiment",
    ),
}


def _expected_sha(spec: RemoteDataset, archive: Path) -> str | None:
    if spec.sha256:
        return spec.sha256
    record = archive.with_name(archive.name + ".sha256")
    return record.read_text().split()[0] if record.is_file() else None


def download(name: str | RemoteDataset, cache_dir: str | Path | None = None, timeout: float = 30.0) -> Path:
    """Fetch (once) and verify the archive of a remote dataset; returns its local path."""
    spec = REMOTE.get(name) if isinstance(name, str) else name
    if spec is None:
        raise KeyError(f"unknown remote dataset {name!r}; known: {', '.join(sorted(REMOTE))}")
    folder = Path(cache_dir) if cache_dir is not None else settings.cache_dir() / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / spec.filename
    record = archive.with_name(archive.name + ".sha256")

    if archive.is_file():
        expected = _expected_sha(spec, archive)
        actual = sha256_of(archive)
        if expected is not None and actual != expected:
            raise DownloadError(f"checksum mismatch for {archive}: expected sha256 {expected}, got {actual}; "
                                "delete the file to download it again")
        if expected is None:
            record.write_text(f"{actual}  {spec.filename}\n")
        return archive

    part = archive.with_name(archive.name + ".part")
    try:
        with urllib.request.urlopen(spec.url, timeout=timeout) as resp, open(part, "wb") as out:
            shutil.copyfileobj(resp, out)
    except (urllib.error.URLError, OSError, ValueError) as err:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"could not download {spec.name} from {spec.url} ({err}). Are you offline? Download the file on "
            f"a machine with internet access and copy it to {archive}") from err
    actual = sha256_of(part)
    if spec.sha256 is None and spec.md5 is not None:
        import hashlib

        with open(part, "rb") as f:
            md5 = hashlib.md5(f.read(), usedforsecurity=False).hexdigest()
        if md5 != spec.md5:
            part.unlink(missing_ok=True)
            raise DownloadError(f"checksum mismatch for {spec.filename} downloaded from {spec.url}: expected md5 "
                                f"{spec.md5}, got {md5}")
    if spec.sha256 is not None and actual != spec.sha256:
        part.unlink(missing_ok=True)
        raise DownloadError(f"checksum mismatch for {spec.filename} downloaded from {spec.url}: expected sha256 "
                            f"{spec.sha256}, got {actual}")
    part.replace(archive)
    if spec.sha256 is None:
        record.write_text(f"{actual}  {spec.filename}\n")
    return archive


def extract(name: str | RemoteDataset, cache_dir: str | Path | None = None, timeout: float = 30.0) -> Path:
    """Download (if needed) and unpack the archive; returns the folder it was unpacked into."""
    archive = download(name, cache_dir, timeout)
    target = archive.parent / "extracted"
    done = target / ".complete"
    if not done.is_file():
        target.mkdir(exist_ok=True)
        with tarfile.open(archive) as tar:
            tar.extractall(target, filter="data")
        done.write_text(sha256_of(archive))
    return target


def load_emotect(split: str = "train", cache_dir: str | Path | None = None) -> tuple[list[str], np.ndarray]:
    """Baidu EmoTect ``(texts, labels)``; 0 negative, 1 neutral, 2 positive. Needs a download once."""
    if split not in ("train", "dev", "test"):
        raise ValueError(f"split must be train, dev or test, got {split!r}")
    root = extract("emotect", cache_dir)
    files = sorted(root.rglob(f"{split}.tsv"))
    if not files:
        raise DownloadError(f"no {split}.tsv inside {root}; the archive layout is not the expected one")
    texts, labels = [], []
    for i, line in enumerate(files[0].read_text(encoding="utf-8").splitlines()):
        parts = line.split("\t")
        if i == 0 and not parts[0].strip().isdigit():
            continue  # header "label\ttext_a"
        if len(parts) >= 2:
            labels.append(int(parts[0]))
            texts.append(parts[1])
    return texts, np.array(labels, dtype=np.int32)


def load_imdb(split: str = "train", cache_dir: str | Path | None = None) -> tuple[list[str], np.ndarray]:
    """IMDB reviews ``(texts, labels)``, 1 = positive; ``split`` train or test. Needs a download once."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be train or test, got {split!r}")
    root = extract("imdb", cache_dir)
    base = next(iter(sorted(root.rglob(f"aclImdb/{split}"))), None)
    if base is None:
        raise DownloadError(f"no aclImdb/{split} inside {root}; the archive layout is not the expected one")
    texts, labels = [], []
    for label, sub in ((0, "neg"), (1, "pos")):
        for f in sorted((base / sub).glob("*.txt")):
            texts.append(f.read_text(encoding="utf-8").replace("<br />", " "))
            labels.append(label)
    return texts, np.array(labels, dtype=np.int32)
