"""Pretraining corpora by name or path (预训练语料): documents of sentences, a training part and a held-out part.

:data:`NAMED_CORPORA` maps ``sotu``, ``spam`` and ``peoples-daily`` to their split loaders;
:func:`read_corpus` also reads a text file laid out as google-research/bert's ``create_pretraining_data.py``
reads it (one sentence per line, documents separated by blank lines). ``bert-ms pretrain`` and
``bert-ms evaluate --task pretraining`` read their ``--corpus`` here.
"""

from __future__ import annotations

from pathlib import Path

from bert_ms.data import load_sotu, load_spam_documents
from bert_ms.runtime.files import read_text_file
from bert_ms.train.task_data import peoples_daily_documents

NAMED_CORPORA = {  # name -> split -> documents (lists of sentences)
    "sotu": load_sotu,
    "spam": load_spam_documents,  # the training emails' text, labels unused (further pretraining in the domain)
    "peoples-daily": peoples_daily_documents,  # Chinese; the POS tagging test text held out
}


def read_corpus(corpus: str, held_out: str = "dev") -> tuple[list[list[str]], list[list[str]]]:
    """A named corpus (:data:`NAMED_CORPORA`: ``sotu``, ``spam``, ``peoples-daily``) -> (train, ``held_out``)
    documents; a PATH -> documents of a text file (one sentence per line, documents separated by blank
    lines, as in google-research/bert), the last 5 % (at least 2) held out."""
    if corpus in NAMED_CORPORA:
        return NAMED_CORPORA[corpus]("train"), NAMED_CORPORA[corpus](held_out)
    if not Path(corpus).exists():
        raise FileNotFoundError(f"corpus not found: {corpus!r} (use {', '.join(map(repr, NAMED_CORPORA))} "
                                "or a text file path)")
    docs, cur = [], []
    for line in read_text_file(corpus, "corpus").splitlines():
        if line.strip():
            cur.append(line.strip())
        elif cur:
            docs.append(cur)
            cur = []
    if cur:
        docs.append(cur)
    if len(docs) < 4:
        raise ValueError(f"corpus {corpus!r} has {len(docs)} document(s), need 4+ (2 held out for next sentence "
                         "prediction); separate documents by blank lines")
    n_dev = max(2, len(docs) // 20)
    return docs[:-n_dev], docs[-n_dev:]
