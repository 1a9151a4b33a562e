"""BERT pretraining examples (预训练样本): sentence pairs for NSP and masked tokens for MLM.

Follows google-research/bert ``create_pretraining_data.py`` (Devlin et al., 2019,
Section 3.1 and Appendix A.1):

* Next sentence prediction (下一句预测, NSP): for 50 % of the pairs B is the segment that
  really follows A in the same document (label 0, ``IsNext``), for 50 % B comes from a
  different, random document (label 1, ``NotNext``). ALBERT's sentence order prediction
  (句序预测, SOP; Lan et al., 2020, Section 3.1) instead always takes two consecutive
  segments and swaps them half of the time (label 1 = swapped).
* Sequences fill ``max_seq_length`` tokens, except 10 % that get a random shorter target
  length, so the model also sees short inputs (Appendix A.2).
* Masked language model (掩码语言模型, MLM): the pairs' tokens are masked by
  :mod:`bert_ms.bert.masking` (15 % chosen; 80 % ``[MASK]``, 10 % random, 10 % unchanged).
* Static masking (静态掩码) computes the masks once (BERT); dynamic masking (动态掩码,
  RoBERTa, Liu et al., 2019, Section 4.1) draws new masks every epoch
  (``pretraining_dataset(..., dynamic_masking=True)``).
* Everything is padded to fixed shapes (Ascend compiles one graph per shape).

Departures from google-research/bert are listed in each function's docstring.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bert_ms.bert.masking import as_rng, create_masked_lm_predictions, mask_ids_batch, random_token_pool
from bert_ms.bert.tokenization import INPUT_KEYS
from bert_ms.data import digest, sha256_of
from bert_ms.runtime.files import atomic_write_bytes
from bert_ms.runtime.messages import shorten
from bert_ms.runtime.progress import bar as progress_bar

COLUMNS = (*INPUT_KEYS, "masked_lm_positions", "masked_lm_ids",
           "masked_lm_weights", "next_sentence_label")
# --------------------------------------------------------------------------------------
# sentence pairs
# --------------------------------------------------------------------------------------
@dataclass
class PretrainingPair:
    """One (A, B) pair before masking. ``label``: NSP 1 = NotNext (random B), SOP 1 = swapped."""

    tokens_a: list[str]
    tokens_b: list[str]
    label: int
    doc_a: int
    doc_b: int

    @property
    def tokens(self) -> list[str]:
        return ["[CLS]", *self.tokens_a, "[SEP]", *self.tokens_b, "[SEP]"]

    @property
    def segment_ids(self) -> list[int]:
        return [0] * (len(self.tokens_a) + 2) + [1] * (len(self.tokens_b) + 1)


def truncate_seq_pair(tokens_a: list, tokens_b: list, max_num_tokens: int, rng: np.random.Generator) -> None:
    """Trim the longer of the two in place, one token at a time, from the front or the back at
    random (google-research/bert ``truncate_seq_pair``: avoids always cutting sentence ends)."""
    while len(tokens_a) + len(tokens_b) > max_num_tokens:
        trunc = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        if rng.random() < 0.5:
            del trunc[0]
        else:
            trunc.pop()


def tokenize_documents(documents: Sequence[Sequence[str]], tokenizer) -> list[list[list[str]]]:
    """Tokenize every sentence; sentences with no token and documents with no sentence are dropped (a step bar
    over the documents when there are 50 or more: the 187 SOTU training speeches take some 15 s on a CPU)."""
    out = []
    for doc in progress_bar(documents, "tokenize", enabled=len(documents) >= 50):
        if isinstance(doc, str):
            raise TypeError("documents must be a list of documents, each a list of sentences (got a str)")
        toks = [tokenizer.tokenize(s) if isinstance(s, str) else list(s) for s in doc]
        toks = [t for t in toks if t]
        if toks:
            out.append(toks)
    return out


def _pairs_from_document(docs: list[list[list[str]]], d: int, max_seq_length: int, rng: np.random.Generator,
                         short_seq_prob: float, nsp: bool, sop: bool) -> list[PretrainingPair]:
    document = docs[d]
    max_num_tokens = max_seq_length - 3
    target = max_num_tokens
    if rng.random() < short_seq_prob:
        target = int(rng.integers(2, max_num_tokens + 1))
    pairs: list[PretrainingPair] = []
    chunk: list[list[str]] = []
    length = 0
    i = 0
    while i < len(document):
        chunk.append(document[i])
        length += len(document[i])
        if i == len(document) - 1 or length >= target:
            if not chunk:
                break
            want_random = nsp and not sop and rng.random() < 0.5
            swap = sop and rng.random() < 0.5
            if not want_random and len(chunk) == 1 and i + 1 < len(document):
                # departure: pull in the next sentence so that IsNext stays at 50 %
                i += 1
                chunk.append(document[i])
            a_end = int(rng.integers(1, len(chunk))) if len(chunk) >= 2 else 1
            tokens_a = [t for seg in chunk[:a_end] for t in seg]
            doc_b = d
            if want_random:
                target_b = max(target - len(tokens_a), 1)
                r = int(rng.integers(len(docs) - 1))
                doc_b = r if r < d else r + 1  # never the same document
                other = docs[doc_b]
                start = int(rng.integers(len(other)))
                tokens_b = []
                for seg in other[start:]:
                    tokens_b.extend(seg)
                    if len(tokens_b) >= target_b:
                        break
                i -= len(chunk) - a_end  # put the unused sentences back
            elif len(chunk) >= 2:
                tokens_b = [t for seg in chunk[a_end:] for t in seg]
            else:
                # a one-sentence document tail: split the sentence itself
                if len(tokens_a) < 2:
                    chunk, length = [], 0
                    i += 1
                    continue
                cut = int(rng.integers(1, len(tokens_a)))
                tokens_a, tokens_b = tokens_a[:cut], tokens_a[cut:]
            truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng)
            if tokens_a and tokens_b:
                if sop:
                    label = int(swap)
                    if swap:
                        tokens_a, tokens_b = tokens_b, tokens_a
                else:
                    label = int(want_random)
                pairs.append(PretrainingPair(tokens_a, tokens_b, label, d, doc_b))
            chunk, length = [], 0
        i += 1
    return pairs


def create_pretraining_pairs(documents, tokenizer, max_seq_length: int, rng, short_seq_prob: float = 0.1,
                             nsp: bool = True, sop: bool = False) -> list[PretrainingPair]:
    """Cut every document into ``(A, B)`` pairs (google-research/bert ``create_instances_from_document``).

    Sentences are accumulated until the target length (``max_seq_length - 3``, or with
    probability ``short_seq_prob`` a random length in ``[2, max_seq_length - 3]``); A is a
    random prefix of that chunk. NSP: with probability 0.5 B is taken from a random
    *different* document (label 1), else B is the rest of the chunk (label 0). SOP (ALBERT):
    B is always the rest of the chunk and the two are swapped with probability 0.5
    (label 1). The longer segment is truncated first. ``nsp=False, sop=False`` gives
    contiguous pairs with label 0 (RoBERTa-style MLM-only data).

    ``documents``: list of documents, each a list of sentences (str, or already tokenised).

    Departures from google-research/bert: a NotNext B is drawn from the other documents
    directly (Google retries 10 times and could, in principle, keep the same document);
    and when the chunk holds one sentence and the draw says IsNext, the next sentence is
    pulled in (Google falls back to NotNext there, so its IsNext share is below 50 %).
    """
    if nsp and sop:
        raise ValueError("choose nsp or sop, not both")
    if max_seq_length < 5:
        raise ValueError(f"max_seq_length must be at least 5 ([CLS] a [SEP] b [SEP]), got {max_seq_length}")
    rng = as_rng(rng)
    docs = tokenize_documents(documents, tokenizer)
    if nsp and len(docs) < 2:
        raise ValueError("next sentence prediction needs at least 2 non-empty documents")
    pairs: list[PretrainingPair] = []
    for d in range(len(docs)):
        pairs.extend(_pairs_from_document(docs, d, max_seq_length, rng, short_seq_prob, nsp, sop))
    return pairs


# --------------------------------------------------------------------------------------
# fixed-shape arrays
# --------------------------------------------------------------------------------------
def pairs_to_arrays(pairs: Sequence[PretrainingPair], tokenizer, max_seq_length: int,
                    max_predictions_per_seq: int, rng=None, masked_lm_prob: float = 0.15,
                    static_masking: bool = True, whole_word: bool = False, span=None) -> dict[str, np.ndarray]:
    """Mask (if ``static_masking``) and pad the pairs into the 7 fixed-shape columns of :data:`COLUMNS`."""
    rng = as_rng(rng)
    n, t, p = len(pairs), max_seq_length, max_predictions_per_seq
    out = {
        "input_ids": np.full((n, t), tokenizer.pad_token_id, dtype=np.int32),
        "token_type_ids": np.zeros((n, t), dtype=np.int32),
        "attention_mask": np.zeros((n, t), dtype=np.int32),
        "masked_lm_positions": np.zeros((n, p), dtype=np.int32),
        "masked_lm_ids": np.zeros((n, p), dtype=np.int32),
        "masked_lm_weights": np.zeros((n, p), dtype=np.float32),
        "next_sentence_label": np.zeros((n,), dtype=np.int32),
    }
    vocab = tokenizer.vocab
    unk = tokenizer.unk_token_id
    for row, pair in enumerate(pairs):
        tokens = pair.tokens
        if len(tokens) > t:
            raise ValueError(f"pair {row} has {len(tokens)} tokens > max_seq_length={t}")
        if static_masking:
            tokens, positions, labels = create_masked_lm_predictions(
                tokens, vocab, rng, masked_lm_prob, p, whole_word=whole_word, span=span)
            k = len(positions)
            out["masked_lm_positions"][row, :k] = positions
            out["masked_lm_ids"][row, :k] = [vocab.get(x, unk) for x in labels]
            out["masked_lm_weights"][row, :k] = 1.0
        out["input_ids"][row, :len(tokens)] = [vocab.get(x, unk) for x in tokens]
        out["token_type_ids"][row, :len(tokens)] = pair.segment_ids
        out["attention_mask"][row, :len(tokens)] = 1
        out["next_sentence_label"][row] = pair.label
    return out


def make_pretraining_arrays(documents, tokenizer, max_seq_length: int = 128, max_predictions_per_seq: int = 20,
                            seed: int = 0, dupe_factor: int = 1, short_seq_prob: float = 0.1,
                            masked_lm_prob: float = 0.15, nsp: bool = True, sop: bool = False,
                            whole_word: bool = False, span=None, static_masking: bool = True,
                            max_examples: int | None = None) -> dict[str, np.ndarray]:
    """Documents -> the 7 fixed-shape pretraining columns (google-research/bert pipeline).

    The corpus is cut into pairs ``dupe_factor`` times (each time with different pair
    boundaries and masks, as Google's ``dupe_factor``), the examples are shuffled, then
    masked once (static masking). With ``static_masking=False`` the MLM columns are left
    empty (weights 0) for :func:`pretraining_dataset` with ``dynamic_masking=True``.

    Shapes: ``input_ids``, ``token_type_ids``, ``attention_mask`` ``[N, T]`` int32;
    ``masked_lm_positions``, ``masked_lm_ids`` ``[N, P]`` int32; ``masked_lm_weights``
    ``[N, P]`` float32 (1 = real prediction, 0 = padding); ``next_sentence_label`` ``[N]``
    int32 (NSP: 1 = NotNext; SOP: 1 = swapped).
    """
    rng = np.random.default_rng(seed)
    docs = tokenize_documents(documents, tokenizer)
    pairs: list[PretrainingPair] = []
    for _ in range(dupe_factor):
        pairs.extend(create_pretraining_pairs(docs, tokenizer, max_seq_length, rng, short_seq_prob, nsp, sop))
    order = rng.permutation(len(pairs))
    if max_examples is not None:
        order = order[:max_examples]
    pairs = [pairs[i] for i in order]
    return pairs_to_arrays(pairs, tokenizer, max_seq_length, max_predictions_per_seq, rng, masked_lm_prob,
                           static_masking, whole_word, span)


def save_arrays(arrays: dict[str, np.ndarray], path: str | Path) -> Path:
    """Save the columns as one ``.npz`` (the precomputed-data format of the course)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def load_arrays(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(Path(path)) as z:
        arrays = {k: z[k] for k in z.files}
    missing = [c for c in COLUMNS if c not in arrays]
    if missing:
        raise ValueError(f"{path} lacks the column(s) {', '.join(missing)}")
    return arrays


# --------------------------------------------------------------------------------------
# mindspore.dataset pipeline
# --------------------------------------------------------------------------------------
def original_ids(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """The unmasked token ids of pretraining arrays: ``masked_lm_ids`` put back at their positions."""
    ids = arrays["input_ids"].copy()
    rows, cols = np.nonzero(arrays["masked_lm_weights"] > 0)
    ids[rows, arrays["masked_lm_positions"][rows, cols]] = arrays["masked_lm_ids"][rows, cols]
    return ids


def masked_token_baselines(train: dict[str, np.ndarray], held: dict[str, np.ndarray],
                           special_ids: Sequence[int] = ()) -> dict[str, float]:
    """Two yardsticks for masked-token accuracy that use no neural network, scored on ``held``.

    * ``unigram``: always the most frequent *real* token of the training text (what an MLM learns first);
      padding (``attention_mask == 0``) and ``special_ids`` (pass [CLS] and [SEP]) are not counted;
    * ``neighbours``: the token seen most often between the same left and right neighbours in the
      training text (else after the same left neighbour, else the unigram). It sees one token on each
      side, and those can themselves be ``[MASK]`` or random, exactly as the model sees them.

    A BERT below ``neighbours`` has not yet learned to use more than the adjacent tokens.
    """
    text = original_ids(train)
    left, mid, right = text[:, :-2].ravel().tolist(), text[:, 1:-1].ravel().tolist(), text[:, 2:].ravel().tolist()
    real = np.ones(text.shape, bool) if "attention_mask" not in train else train["attention_mask"] == 1
    real &= ~np.isin(text, np.asarray(list(special_ids), dtype=text.dtype))
    unigram = int(np.bincount(text[real]).argmax())
    both: dict[tuple[int, int], Counter] = defaultdict(Counter)
    after: dict[int, Counter] = defaultdict(Counter)
    for a, b, c in zip(left, mid, right):
        both[(a, c)][b] += 1
        after[a][b] += 1
    ids, t = held["input_ids"], held["input_ids"].shape[1]
    rows, cols = np.nonzero(held["masked_lm_weights"] > 0)
    hits_unigram = hits_neighbours = 0
    for r, c in zip(rows.tolist(), cols.tolist()):
        pos, target = int(held["masked_lm_positions"][r, c]), int(held["masked_lm_ids"][r, c])
        a = int(ids[r, pos - 1]) if pos > 0 else -1
        b = int(ids[r, pos + 1]) if pos + 1 < t else -1
        counts = both.get((a, b)) or after.get(a)
        hits_unigram += target == unigram
        hits_neighbours += target == (counts.most_common(1)[0][0] if counts else unigram)
    n = max(len(rows), 1)
    return {"unigram": hits_unigram / n, "neighbours": hits_neighbours / n, "unigram_id": unigram, "masked": len(rows)}


def next_sentence_overlap_baseline(train: dict[str, np.ndarray], held: dict[str, np.ndarray],
                                   special_ids: Sequence[int] = ()) -> dict[str, float]:
    """A yardstick for next-sentence accuracy that uses no neural network: segment B follows A when the
    two share enough tokens (the Jaccard overlap of their token sets, ``[MASK]`` and ``special_ids``
    left out), with the threshold that scores best on ``train``. It is a topic detector, which is most
    of what NSP asks (Lan et al. 2020, ALBERT, sec. 4.2). Returns the held-out accuracy, the threshold and
    the majority baseline (the more frequent label's share of ``held``)."""
    def overlaps(arrays):
        ids, types, mask = arrays["input_ids"], arrays["token_type_ids"], arrays["attention_mask"]
        drop = set(special_ids)
        out = np.zeros(len(ids))
        for i in range(len(ids)):
            a = {t for t, ty, m in zip(ids[i], types[i], mask[i]) if m and ty == 0 and t not in drop}
            b = {t for t, ty, m in zip(ids[i], types[i], mask[i]) if m and ty == 1 and t not in drop}
            out[i] = len(a & b) / max(len(a | b), 1)
        return out

    train_next, held_next = train["next_sentence_label"] == 0, held["next_sentence_label"] == 0  # 0 = IsNext
    train_x, held_x = overlaps(train), overlaps(held)
    candidates = np.unique(np.quantile(train_x, np.linspace(0, 1, 201)))
    scores = [((train_x >= c) == train_next).mean() for c in candidates]
    best = float(candidates[int(np.argmax(scores))])
    share = float(held_next.mean())
    return {"overlap": float(((held_x >= best) == held_next).mean()), "threshold": best,
            "majority": max(share, 1 - share)}


class PretrainingSource:
    """Random-access source for ``mindspore.dataset.GeneratorDataset``: one example per index.

    With ``dynamic_masking`` every visit of an example draws new masks (RoBERTa) from a
    generator seeded by ``(seed, index, visit)``, so runs are reproducible and each epoch
    differs.
    """

    def __init__(self, arrays: dict[str, np.ndarray], dynamic_masking: bool = False, seed: int = 0,
                 mask_token_id: int | None = None, special_ids: Sequence[int] = (), pool_ids: np.ndarray | None = None,
                 masked_lm_prob: float = 0.15):
        missing = [c for c in COLUMNS if c not in arrays]
        if missing:
            raise ValueError(f"arrays lack the column(s) {', '.join(missing)}")
        n = {len(arrays[c]) for c in COLUMNS}
        if len(n) != 1:
            raise ValueError(f"columns differ in length: {sorted(n)}")
        self.arrays = {c: np.ascontiguousarray(arrays[c]) for c in COLUMNS}
        self.dynamic_masking = dynamic_masking
        self.seed = seed
        if dynamic_masking and (mask_token_id is None or pool_ids is None):
            raise ValueError("dynamic masking needs the tokenizer (mask id, special ids, random-token pool)")
        self.mask_token_id = mask_token_id
        self.special_ids = np.array(sorted(special_ids), dtype=np.int64)
        self.pool_ids = pool_ids
        self.masked_lm_prob = masked_lm_prob
        self.visits = np.zeros(len(self), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.arrays["input_ids"])

    def __getitem__(self, index: int):
        index = int(index)
        row = [self.arrays[c][index] for c in COLUMNS]
        if not self.dynamic_masking:
            return tuple(row)
        visit = int(self.visits[index])
        self.visits[index] += 1
        rng = np.random.default_rng([self.seed, index, visit])
        ids = row[0][None, :]
        maskable = (row[2][None, :] == 1) & ~np.isin(ids, self.special_ids)
        p = row[3].shape[0]
        m = mask_ids_batch(ids, maskable, rng, self.mask_token_id, self.pool_ids, self.masked_lm_prob, p)
        return (m["input_ids"][0], row[1], row[2], m["masked_lm_positions"][0], m["masked_lm_ids"][0],
                m["masked_lm_weights"][0], row[6])


def pretraining_dataset(arrays_or_source, batch_size: int, shuffle: bool = True, seed: int = 0,
                        num_shards: int | None = None, shard_id: int | None = None,
                        dynamic_masking: bool = False, tokenizer=None, drop_remainder: bool = True,
                        num_parallel_workers: int = 1, masked_lm_prob: float = 0.15, repeat: int = 1):
    """A ``mindspore.dataset.GeneratorDataset`` yielding the 7 columns, batched to static shapes.

    Args:
        arrays_or_source: the dict from :func:`make_pretraining_arrays`, a ``.npz`` path
            saved with :func:`save_arrays`, or a :class:`PretrainingSource`.
        shuffle / seed: shuffle the examples (``mindspore.dataset.config.set_seed(seed)``
            makes the order reproducible).
        num_shards / shard_id: data parallelism (数据并行): each of ``num_shards`` workers
            reads its own disjoint 1/num_shards of the examples (pass
            ``get_group_size()`` / ``get_rank()`` under ``msrun``).
        dynamic_masking: re-mask every epoch (needs ``tokenizer``); the stored MLM columns
            are ignored and the stored ``input_ids`` must be unmasked
            (``make_pretraining_arrays(..., static_masking=False)``).
        drop_remainder: keep every batch the same shape (needed for Ascend graph mode).
        num_parallel_workers: threads for the Python source. Masking is light and holds the
            GIL, so 1 was fastest on a 2-core CPU (``bench/bench_data.py``: ~24k examples/s
            static, ~5k dynamic, slower with 2); raise it only on many-core hosts.
    """
    import mindspore.dataset as ds

    if isinstance(arrays_or_source, PretrainingSource):
        source = arrays_or_source
    else:
        arrays = load_arrays(arrays_or_source) if isinstance(arrays_or_source, str | Path) else arrays_or_source
        kwargs = {}
        if dynamic_masking:
            if tokenizer is None:
                raise ValueError("dynamic_masking=True needs tokenizer=... (for [MASK] and the random tokens)")
            kwargs = dict(mask_token_id=tokenizer.mask_token_id,
                          special_ids=[tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id],
                          pool_ids=random_token_pool(tokenizer.vocab)[0])
        source = PretrainingSource(arrays, dynamic_masking=dynamic_masking, seed=seed,
                                   masked_lm_prob=masked_lm_prob, **kwargs)
    if (num_shards is None) != (shard_id is None):
        raise ValueError("give both num_shards and shard_id, or neither")
    if num_shards is not None and not 0 <= shard_id < num_shards:
        raise ValueError(f"shard_id must be in [0, {num_shards}), got {shard_id}")
    if shuffle:
        ds.config.set_seed(seed)
    dataset = ds.GeneratorDataset(source, column_names=list(COLUMNS), shuffle=shuffle, num_shards=num_shards,
                                  shard_id=shard_id, num_parallel_workers=num_parallel_workers,
                                  python_multiprocessing=False)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    if repeat > 1:
        dataset = dataset.repeat(repeat)
    return dataset


def cached_pretraining_arrays(docs, tokenizer, seq_len: int, max_pred: int, seed: int, dupe_factor: int,
                              folder: Path | None, key: dict) -> dict[str, np.ndarray]:
    """:func:`~bert_ms.bert.pretraining.make_pretraining_arrays`, cached in ``folder`` as
    ``train-<hash>.npz`` (so a resumed run reads the very same examples).

    The hash covers ``key`` (corpus and vocabulary digests) and the masking settings, so another
    corpus or vocabulary never reads an old cache. The file is written atomically with a sidecar
    ``.json`` holding its SHA-256; a cache that fails the check is rebuilt (it is a pure function
    of its inputs), with a note on stderr."""
    key = {**key, "seq_len": seq_len, "max_predictions": max_pred, "seed": seed, "dupe_factor": dupe_factor,
           "format": 2}
    if folder is not None:
        name = f"train-{digest(key)[:16]}"
        npz, sidecar = folder / f"{name}.npz", folder / f"{name}.json"
        if npz.exists():
            try:
                expected = json.loads(sidecar.read_text(encoding="utf-8"))["sha256"]
                if sha256_of(npz) != expected:
                    raise ValueError("its SHA-256 does not match its sidecar")
                return load_arrays(npz)
            except (OSError, ValueError, KeyError, TypeError) as err:
                print(f"[bert_ms] {npz} is damaged ({shorten(err, 120)}); rebuilding it", file=sys.stderr)
    arrays = make_pretraining_arrays(docs, tokenizer, max_seq_length=seq_len, max_predictions_per_seq=max_pred,
                                     seed=seed, dupe_factor=dupe_factor)
    if folder is not None:
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        blob = buf.getvalue()
        atomic_write_bytes(npz, blob)
        atomic_write_bytes(sidecar, json.dumps({"sha256": hashlib.sha256(blob).hexdigest(), "key": key},
                                               indent=1).encode())
    return arrays
