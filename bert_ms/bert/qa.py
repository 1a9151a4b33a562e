"""Extractive question answering (抽取式问答): BERT on SQuAD (Devlin et al. 2019, sec. 4.2, fig. 4c).

The input is ``[CLS] question [SEP] context [SEP]`` (segment 0, then segment 1). Fine-tuning adds only
a start vector ``S`` and an end vector ``E`` (both ``[H]``, so ``2H`` new weights; the released code and
``BertForQuestionAnswering`` add one bias each, ``2H + 2``). The probability that the answer starts at
context token ``i`` is a softmax over the positions, ``P_i = exp(S·T_i) / sum_j exp(S·T_j)``, and likewise
for the end with ``E``. The training loss is the mean of the two cross-entropies (the paper: "the sum of
the log-likelihoods of the correct start and end positions"; ``run_squad.py`` halves it). The predicted
span ``(i, j)`` maximises ``S·T_i + E·T_j`` with ``j >= i`` and ``j - i + 1 <= max_answer_len``.

This module holds the parts around the model, in the order a prediction needs them:

* :func:`tokenize_with_offsets` -- word pieces *with* the character span each came from, equal to
  :meth:`BertTokenizer.tokenize` piece for piece (so an answer can be mapped back to characters);
* :func:`make_windows` -- a context longer than the model's window is cut into overlapping windows
  (``doc_stride`` in ``run_squad.py``); each window is one training example, and a window that does not
  contain the whole answer is labelled ``[CLS]`` (position 0), as the released code does for SQuAD 1.1;
* :func:`best_span` -- span decoding with ``end >= start`` and a maximum length, over context tokens only;
* :func:`predict_answers` -- every window of every question, the best span over all windows, mapped
  back to the exact characters of the context;
* :func:`question_windows` / :func:`question_scores` -- training arrays and SQuAD scores of a seeded subset
  of a split's questions (what ``bert-ms finetune`` and ``evaluate --task qa`` use);
* :func:`squad_em_f1` -- SQuAD's exact match and F1 (Rajpurkar et al. 2016), after SQuAD's answer
  normalisation (lower case, no punctuation, no articles ``a/an/the``, single spaces);
* :func:`line_overlap_baseline` -- a simple baseline: the context line sharing most words with the question;
* :func:`frequent_answer_baseline` -- a memorising baseline: the most frequent training answer of the
  question's type that occurs in the context.

Departure from ``run_squad.py``: character offsets are computed per word piece (not per whitespace word
followed by ``get_final_text``), so a predicted span maps back to the exact characters without the
realignment heuristic; :func:`tokenize_with_offsets` is tested to give the tokenizer's own pieces.
"""

from __future__ import annotations

import re
import string
import unicodedata
import weakref
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import mindspore as ms
import numpy as np
from mindspore import ops

from bert_ms.bert.tokenization import (
    INPUT_KEYS,
    SPECIAL_TOKENS,
    BertTokenizer,
    is_chinese_char,
    is_control,
    is_punctuation,
    is_whitespace,
)
from bert_ms.data import seeded_subset
from bert_ms.runtime import device
from bert_ms.runtime.progress import steps as progress_steps

__all__ = [
    "Window", "tokenize_with_offsets", "make_windows", "windows_to_arrays", "answer_token_span", "best_span",
    "predict_answers", "answer_question", "training_windows", "evaluate_answers", "question_windows",
    "question_scores", "span_loss", "normalize_answer",
    "exact_match", "f1_score", "squad_em_f1", "line_overlap_baseline", "frequent_answer_baseline", "QA_KEYS",
]

_SPECIAL = re.compile("|".join(re.escape(t) for t in SPECIAL_TOKENS))
QA_KEYS = (*INPUT_KEYS, "start_positions", "end_positions")


# ----------------------------------------------------------------------------------------------
# word pieces with character offsets
# ----------------------------------------------------------------------------------------------


def _basic_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of BERT's basic tokens: whitespace splits, every punctuation mark and every CJK
    character is a token of its own; control characters are removed without splitting the word they sit
    in (``BasicTokenizer``'s rules)."""
    spans: list[tuple[int, int]] = []
    start = None
    for i, ch in enumerate(text):
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or is_control(ch):
            continue  # removed by clean_text: part of no token, and no boundary either
        if is_whitespace(ch):
            if start is not None:
                spans.append((start, i))
                start = None
            continue
        if is_punctuation(ch) or is_chinese_char(cp):
            if start is not None:
                spans.append((start, i))
                start = None
            spans.append((i, i + 1))
            continue
        if start is None:
            start = i
    if start is not None:
        spans.append((start, len(text)))
    return spans


def _normalise(word: str, lower: bool) -> str:
    """Drop control characters; lower case and strip accents (NFD, drop combining marks) for an uncased
    vocabulary: what ``BasicTokenizer`` does to a word."""
    word = "".join(c for c in word if not (ord(c) in (0, 0xFFFD) or is_control(c)))
    if not lower:
        return word
    word = "".join(c.lower() for c in word)
    return "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")


def tokenize_with_offsets(tokenizer: BertTokenizer, text: str) -> list[tuple[str, int, int]]:
    """``(piece, start, end)`` for every word piece of ``text``: ``text[start:end]`` is where it came from.

    The pieces equal ``tokenizer.tokenize(text)``. A piece of a word whose normalised form has the length
    of the original (the usual case) gets its own characters; otherwise (a character that lower-casing or
    accent stripping changes in length) every piece of that word gets the whole word's span.
    An ``[UNK]`` word keeps its span too, so an answer can still be cut out of the original text.
    Special tokens written in the text (``[SEP]``, ``[MASK]`` ...) stay single pieces, as in ``tokenize``.
    """
    out: list[tuple[str, int, int]] = []
    lower = tokenizer.do_lower_case
    wordpiece = tokenizer.wordpiece_tokenizer
    chunks, last = [], 0
    for m in _SPECIAL.finditer(text):
        chunks += [(last, m.start(), False), (m.start(), m.end(), True)]
        last = m.end()
    chunks.append((last, len(text), False))
    for c0, c1, special in chunks:
        if special:
            out.append((text[c0:c1], c0, c1))
            continue
        for s, e in _basic_spans(text[c0:c1]):
            s, e = s + c0, e + c0
            word = _normalise(text[s:e], lower)
            pieces = wordpiece.tokenize_word(word) if word else []
            if len(word) == e - s and pieces != [wordpiece.unk_token]:
                pos = s
                for p in pieces:
                    n = len(p) - 2 if p.startswith("##") else len(p)
                    out.append((p, pos, pos + n))
                    pos += n
            else:
                out.extend((p, s, e) for p in pieces)
    return out


# ----------------------------------------------------------------------------------------------
# windows over a long context (doc stride)
# ----------------------------------------------------------------------------------------------


@dataclass
class Window:
    """One model input for (question, part of the context).

    ``offsets[t]`` is the character span in the context of token ``t``, ``(-1, -1)`` for the question,
    ``[CLS]``, ``[SEP]`` and padding. ``start_position``/``end_position``: the answer's token span in this
    window, or ``(0, 0)`` (``[CLS]``) when the window does not hold the whole answer.
    """

    example: int
    input_ids: np.ndarray
    token_type_ids: np.ndarray
    attention_mask: np.ndarray
    offsets: list[tuple[int, int]] = field(repr=False)
    start_position: int = 0
    end_position: int = 0

    @property
    def context_mask(self) -> np.ndarray:
        """True at the context's tokens (the only places an answer may start or end)."""
        return np.array([s >= 0 for s, _ in self.offsets])


def answer_token_span(pieces: Sequence[tuple[str, int, int]], start_char: int, end_char: int) -> tuple[int, int]:
    """Indices (first, last) of the pieces that cover characters ``[start_char, end_char)``."""
    if not 0 <= start_char < end_char:
        raise ValueError(f"answer span must have 0 <= start < end, got [{start_char}, {end_char})")
    inside = [k for k, (_, s, e) in enumerate(pieces) if s < end_char and e > start_char]
    if not inside:
        raise ValueError(f"no word piece covers characters [{start_char}, {end_char}) of the context")
    return inside[0], inside[-1]


def make_windows(tokenizer: BertTokenizer, question: str, context: str, max_length: int = 128, stride: int = 64,
                 max_query_length: int = 32, answer_start: int | None = None, answer_text: str | None = None,
                 example: int = 0, pieces: Sequence[tuple[str, int, int]] | None = None) -> list[Window]:
    """Cut ``context`` into windows of ``max_length`` tokens, each ``[CLS] question [SEP] part [SEP]``.

    Windows start every ``stride`` context tokens (``doc_stride``) until one reaches the end, so neighbouring
    windows overlap by ``room - stride`` tokens, where ``room = max_length - len(question) - 3``. With
    ``answer_start``/``answer_text`` each window is labelled with the answer's token span, or ``(0, 0)``.
    ``pieces``: the context's :func:`tokenize_with_offsets`, if already computed.
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    q = tokenizer.tokenize(question)[:max_query_length]
    room = max_length - len(q) - 3
    if room < 1:
        raise ValueError(f"max_length {max_length} leaves no room for the context after a {len(q)}-token question")
    pieces = tokenize_with_offsets(tokenizer, context) if pieces is None else pieces
    span = None
    if answer_start is not None:
        if answer_text is None or context[answer_start:answer_start + len(answer_text)] != answer_text:
            raise ValueError(f"answer {answer_text!r} is not at character {answer_start} of the context")
        span = answer_token_span(pieces, answer_start, answer_start + len(answer_text))
    q_ids = tokenizer.convert_tokens_to_ids(q)
    starts = list(range(0, max(len(pieces) - room, 0) + 1, stride))
    if starts[-1] + room < len(pieces):
        starts.append(len(pieces) - room)
    windows = []
    for first in starts:
        part = pieces[first:first + room]
        ids = [tokenizer.cls_token_id, *q_ids, tokenizer.sep_token_id,
               *tokenizer.convert_tokens_to_ids([p for p, _, _ in part]), tokenizer.sep_token_id]
        offsets = [(-1, -1)] * (len(q) + 2) + [(s, e) for _, s, e in part] + [(-1, -1)]
        n = len(ids)
        pad = max_length - n
        w = Window(example, np.array(ids + [tokenizer.pad_token_id] * pad, np.int32),
                   np.array([0] * (len(q) + 2) + [1] * (n - len(q) - 2) + [0] * pad, np.int32),
                   np.array([1] * n + [0] * pad, np.int32), offsets + [(-1, -1)] * pad)
        if span is not None and first <= span[0] and span[1] < first + len(part):
            shift = len(q) + 2 - first
            w.start_position, w.end_position = span[0] + shift, span[1] + shift
        windows.append(w)
    return windows


def windows_to_arrays(windows: Sequence[Window]) -> dict[str, np.ndarray]:
    """Stack windows into the Trainer's arrays (:data:`QA_KEYS`)."""
    return {"input_ids": np.stack([w.input_ids for w in windows]),
            "token_type_ids": np.stack([w.token_type_ids for w in windows]),
            "attention_mask": np.stack([w.attention_mask for w in windows]),
            "start_positions": np.array([w.start_position for w in windows], np.int32),
            "end_positions": np.array([w.end_position for w in windows], np.int32)}


# ----------------------------------------------------------------------------------------------
# span decoding and the loss
# ----------------------------------------------------------------------------------------------


def best_span(start_logits, end_logits, allowed=None, max_answer_len: int = 30) -> tuple[int, int, float]:
    """The span ``(i, j)`` maximising ``start_logits[i] + end_logits[j]`` with ``i <= j < i + max_answer_len``,
    both at ``allowed`` positions (the context's tokens); returns ``(i, j, score)``.

    Taking the best start and the best end separately can give an end before the start, or a span of
    half the document; the constraint is what ``run_squad.py``'s ``n_best`` search enforces.
    """
    s = np.asarray(start_logits, np.float64).reshape(-1)
    e = np.asarray(end_logits, np.float64).reshape(-1)
    if s.shape != e.shape:
        raise ValueError(f"start and end logits differ in shape: {s.shape} vs {e.shape}")
    if max_answer_len < 1:
        raise ValueError(f"max_answer_len must be >= 1, got {max_answer_len}")
    ok = np.ones(len(s), bool) if allowed is None else np.asarray(allowed, bool).reshape(-1)
    if not ok.any():
        raise ValueError("no position is allowed to hold an answer")
    i, j = np.indices((len(s), len(s)))
    valid = (j >= i) & (j - i < max_answer_len) & ok[:, None] & ok[None, :]
    scores = np.where(valid, s[:, None] + e[None, :], -np.inf)
    k = int(np.argmax(scores))
    return k // len(s), k % len(s), float(scores.flat[k])


def span_loss(start_logits, end_logits, start_positions, end_positions):
    """Mean of the start and end cross-entropies over positions (softmax over the sequence), averaged over
    the batch: ``run_squad.py``'s ``(start_loss + end_loss) / 2``. MindSpore Tensors in, a scalar out."""
    start = ops.cross_entropy(start_logits.astype(ms.float32), start_positions.astype(ms.int32))
    end = ops.cross_entropy(end_logits.astype(ms.float32), end_positions.astype(ms.int32))
    return (start + end) / 2


_FORWARDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _compiled_forward(model):
    """``model``'s forward pass compiled once and kept while the model lives: every call of
    :func:`predict_answers` reuses it (each new compiled function would hold its own memory)."""
    if model not in _FORWARDS:
        def forward(input_ids, token_type_ids, attention_mask):
            return model(input_ids, token_type_ids, attention_mask)

        _FORWARDS[model] = device.jit(forward)  # every batch is padded to one shape
    return _FORWARDS[model]


def predict_answers(model, tokenizer: BertTokenizer, questions: Sequence[str], contexts: Sequence[str],
                    max_length: int = 128, stride: int = 64, max_answer_len: int = 30, batch_size: int = 32,
                    progress: bool = True) -> list[tuple[str, int, int, float]]:
    """``(answer, start_char, end_char, score)`` per question: the best span over all windows of its context
    (a step bar over the batches of windows unless ``progress=False``).

    ``model(input_ids, token_type_ids, attention_mask) -> (start_logits, end_logits)`` (a
    :class:`~bert_ms.bert.model.BertForQuestionAnswering`); the answer is ``context[start_char:end_char]``.
    """
    if len(questions) != len(contexts):
        raise ValueError(f"{len(questions)} questions but {len(contexts)} contexts")
    windows: list[Window] = []
    for k, (q, c) in enumerate(zip(questions, contexts)):
        if not c.strip():
            raise ValueError(f"context {k} is empty")
        windows += make_windows(tokenizer, q, c, max_length, stride, example=k)

    forward = _compiled_forward(model)
    was = getattr(model, "training", False)
    model.set_train(False)
    best: list[tuple[str, int, int, float]] = [("", 0, 0, -np.inf)] * len(questions)
    bar = progress_steps(-(-len(windows) // batch_size), "answer", progress and len(windows) > batch_size)
    try:
        for b in range(0, len(windows), batch_size):
            bar.update()
            chunk = windows[b:b + batch_size]
            arrays = windows_to_arrays(chunk + [chunk[0]] * (batch_size - len(chunk)))
            s, e = forward(*(ms.Tensor(arrays[k]) for k in INPUT_KEYS))
            s, e = s.asnumpy(), e.asnumpy()
            for w, sl, el in zip(chunk, s, e):
                i, j, score = best_span(sl, el, w.context_mask, max_answer_len)
                if score > best[w.example][3]:
                    a, z = w.offsets[i][0], w.offsets[j][1]
                    best[w.example] = (contexts[w.example][a:z], a, z, score)
    finally:
        bar.close()
        model.set_train(was)
    return best


def training_windows(records: Sequence[dict], tokenizer: BertTokenizer, max_length: int = 128, stride: int = 64,
                     seed: int = 0, negatives: int | None = 1) -> dict[str, np.ndarray]:
    """The training arrays of QA records (``question``, ``context``, ``answer``, ``answer_start``, as
    :func:`bert_ms.data.load_email_qa` gives them): every window holding the answer, plus ``negatives``
    windows of the same context without it (labelled ``[CLS]``), drawn with ``seed``; ``negatives=None``
    keeps every window, as ``run_squad.py`` does."""
    rng = np.random.default_rng(seed)
    out: list[Window] = []
    for k, r in enumerate(records):
        ws = make_windows(tokenizer, r["question"], r["context"], max_length, stride, answer_start=r["answer_start"],
                          answer_text=r["answer"], example=k)
        holding = [w for w in ws if w.start_position > 0]
        empty = [w for w in ws if w.start_position == 0]
        if negatives is not None and len(empty) > negatives:
            empty = [empty[i] for i in sorted(rng.choice(len(empty), size=negatives, replace=False))]
        out += holding + empty
    if not out:
        raise ValueError("no QA records to make training windows from")
    return windows_to_arrays(out)


def evaluate_answers(model, tokenizer: BertTokenizer, records: Sequence[dict], max_length: int = 128, stride: int = 64,
                     max_answer_len: int = 48, batch_size: int = 32) -> dict[str, float]:
    """SQuAD's exact match and F1 (percent) of the model's answers to ``records`` (gold: ``answers``, every
    correct answer, or ``answer``)."""
    preds = predict_answers(model, tokenizer, [r["question"] for r in records], [r["context"] for r in records],
                            max_length, stride, max_answer_len, batch_size)
    return squad_em_f1([p[0] for p in preds], [r.get("answers") or r["answer"] for r in records])


def _seeded_records(records: Sequence[dict], limit: int | None, seed: int) -> list[dict]:
    """The QA records of a split, or a seeded subset of ``limit`` of them."""
    return [records[i] for i in seeded_subset(len(records), limit, seed)]


def question_windows(records: Sequence[dict], tokenizer: BertTokenizer, seq_len: int, limit: int | None = None,
                     seed: int = 0) -> dict[str, np.ndarray]:
    """:func:`training_windows` of a seeded subset of ``limit`` records, in windows of ``seq_len`` tokens with a
    stride of half of it (``bert-ms finetune --task qa``; ``--max-train`` / ``--max-eval`` count questions)."""
    return training_windows(_seeded_records(records, limit, seed), tokenizer, seq_len, seq_len // 2, seed=seed)


def question_scores(model, tokenizer: BertTokenizer, records: Sequence[dict], seq_len: int, limit: int | None = None,
                    seed: int = 0, batch_size: int = 32) -> dict[str, float]:
    """Exact match and F1 (percent) over a seeded subset of ``limit`` questions, every window of each context
    (``seq_len`` tokens, a stride of half of it) scored."""
    return evaluate_answers(model, tokenizer, _seeded_records(records, limit, seed), seq_len, seq_len // 2,
                            batch_size=batch_size)


def answer_question(model, tokenizer: BertTokenizer, question: str, context: str, **kwargs) -> tuple[str, int, int, float]:
    """One question: ``(answer, start_char, end_char, score)``; see :func:`predict_answers`."""
    return predict_answers(model, tokenizer, [question], [context], **kwargs)[0]


# ----------------------------------------------------------------------------------------------
# SQuAD's metrics (the official evaluate-v1.1.py) and a baseline
# ----------------------------------------------------------------------------------------------


def normalize_answer(s: str) -> str:
    """Lower case, remove punctuation, the articles a/an/the and extra whitespace (SQuAD v1.1)."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def exact_match(prediction: str, gold: str | Sequence[str]) -> float:
    """1.0 if the normalised prediction equals a normalised gold answer, else 0.0."""
    golds = [gold] if isinstance(gold, str) else list(gold)
    return float(any(normalize_answer(prediction) == normalize_answer(g) for g in golds))


def _f1(prediction: str, gold: str) -> float:
    p, g = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = Counter(p) & Counter(g)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def f1_score(prediction: str, gold: str | Sequence[str]) -> float:
    """Word-overlap F1 between the normalised prediction and the best-matching gold answer."""
    golds = [gold] if isinstance(gold, str) else list(gold)
    return max(_f1(prediction, g) for g in golds)


def squad_em_f1(predictions: Sequence[str], golds: Sequence[str | Sequence[str]]) -> dict[str, float]:
    """Mean exact match and F1 over questions, in percent as SQuAD reports them."""
    if len(predictions) != len(golds) or not golds:
        raise ValueError(f"need as many predictions as gold answers (and at least one): {len(predictions)} vs "
                         f"{len(golds)}")
    em = np.mean([exact_match(p, g) for p, g in zip(predictions, golds)])
    f1 = np.mean([f1_score(p, g) for p, g in zip(predictions, golds)])
    return {"exact_match": 100 * float(em), "f1": 100 * float(f1), "questions": len(golds)}


_STOP = {"what", "which", "who", "whom", "whose", "when", "where", "how", "is", "are", "was", "were", "the", "a",
         "an", "of", "in", "on", "this", "that", "does", "do", "did", "email", "message", "much", "many", "to"}


def line_overlap_baseline(question: str, context: str) -> str:
    """The context line that shares the most (non-stop) words with the question, stripped: the sliding-window
    idea of the SQuAD paper's simplest baseline, with lines as windows. It finds *where* an answer is
    more often than *what* it is: F1 gets partial credit, exact match rarely does."""
    words = set(re.findall(r"\w+", question.lower())) - _STOP
    lines = [ln.strip() for ln in context.splitlines() if ln.strip()]
    if not lines:
        return ""
    scores = [len(words & set(re.findall(r"\w+", ln.lower()))) for ln in lines]
    return lines[int(np.argmax(scores))]


def frequent_answer_baseline(train_records: Sequence[dict], records: Sequence[dict]) -> list[str]:
    """For each of ``records``: the most frequent gold answer of its question type among ``train_records``
    (every answer in their ``answers``, or ``answer``) that occurs in its context, or ``""`` if none does.

    A baseline that reads nothing and remembers everything: it scores wherever the same strings come back
    (a mailing list's address, a poster's name), and nowhere else. Ties go to the answer seen first."""
    counts: dict[str, Counter] = {}
    for r in train_records:
        for a in r.get("answers") or [r["answer"]]:
            counts.setdefault(r["type"], Counter())[a] += 1
    out = []
    for r in records:
        ranked = counts.get(r["type"], Counter()).most_common()
        out.append(next((a for a, _ in ranked if a in r["context"]), ""))
    return out
