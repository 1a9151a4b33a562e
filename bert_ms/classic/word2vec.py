"""Static word vectors (静态词向量): one-hot and word2vec skip-gram with negative sampling.

References: Mikolov et al. 2013a, "Efficient Estimation of Word Representations in Vector Space"
(skip-gram, sec. 3.2) and 2013b, "Distributed Representations of Words and Phrases and their
Compositionality" (negative sampling, eq. 4; subsampling of frequent words, eq. 5; the unigram^0.75
noise distribution, sec. 2.2).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import mindspore as ms
import numpy as np
from mindspore import nn, ops

from bert_ms.runtime import device
from bert_ms.runtime.progress import steps as progress_steps


@dataclass
class Vocab:
    """Words sorted by frequency; id 0 is ``<unk>`` for words below ``min_count``."""

    itos: list[str]
    counts: np.ndarray

    @classmethod
    def build(cls, tokens: list[str], min_count: int = 5, max_size: int | None = None) -> Vocab:
        counter = Counter(tokens)
        kept = [(w, c) for w, c in counter.most_common(max_size) if c >= min_count and w != "<unk>"]
        unk = sum(counter.values()) - sum(c for _, c in kept)
        return cls(["<unk>"] + [w for w, _ in kept], np.array([unk] + [c for _, c in kept], dtype=np.int64))

    def __post_init__(self):
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: list[str]) -> np.ndarray:
        return np.array([self.stoi.get(t, 0) for t in tokens], dtype=np.int32)


def one_hot(ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """One-hot vectors (独热编码): every word is orthogonal to every other, so cosine similarity is 0."""
    out = np.zeros((len(ids), vocab_size), dtype=np.float32)
    out[np.arange(len(ids)), ids] = 1.0
    return out


def subsample(ids: np.ndarray, counts: np.ndarray, rng: np.random.Generator, t: float = 1e-4) -> np.ndarray:
    """Drop frequent words with probability ``1 - sqrt(t / f(w))`` (Mikolov 2013b, eq. 5)."""
    freq = counts / counts.sum()
    keep = np.sqrt(t / np.maximum(freq[ids], 1e-12))
    return ids[rng.random(len(ids)) < keep]


def skipgram_pairs(ids: np.ndarray, window: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(center, context) pairs; each center draws its window size uniformly from 1..window, as word2vec does."""
    centers, contexts = [], []
    spans = rng.integers(1, window + 1, size=len(ids))
    for offset in range(1, window + 1):
        use = spans >= offset
        for sign in (-1, 1):
            idx = np.arange(len(ids))
            other = idx + sign * offset
            ok = use & (other >= 0) & (other < len(ids))
            centers.append(ids[idx[ok]])
            contexts.append(ids[other[ok]])
    return np.concatenate(centers).astype(np.int32), np.concatenate(contexts).astype(np.int32)


def noise_distribution(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """The unigram distribution raised to 3/4 (Mikolov 2013b, sec. 2.2); ``<unk>`` is never a noise word."""
    weights = counts.astype(np.float64) ** power
    weights[0] = 0.0
    return weights / weights.sum()


class SkipGramNS(nn.Cell):
    """Skip-gram with negative sampling.

    Each word has a *center* vector v and a *context* vector u. For a true pair (c, o) and K noise
    words w_k the loss is Mikolov 2013b, eq. 4 (negated, averaged over the batch)::

        -log σ(u_o · v_c) - Σ_k log σ(-u_{w_k} · v_c)

    The center table ``center.embedding_table`` is the word vector used afterwards.
    """

    def __init__(self, vocab_size: int, dim: int = 100):
        super().__init__()
        init = ms.common.initializer.Uniform(0.5 / dim)
        self.center = nn.Embedding(vocab_size, dim, embedding_table=init)
        self.context = nn.Embedding(vocab_size, dim, embedding_table="zeros")

    def construct(self, centers, contexts, negatives):
        v = self.center(centers)  # [B, D]
        u_pos = self.context(contexts)  # [B, D]
        u_neg = self.context(negatives)  # [B, K, D]
        pos = ops.logsigmoid((u_pos * v).sum(-1))
        neg = ops.logsigmoid(-(u_neg * v.expand_dims(1)).sum(-1)).sum(-1)
        return -(pos + neg).mean()

    def vectors(self) -> np.ndarray:
        return self.center.embedding_table.asnumpy()


class TrainStep(nn.Cell):
    """One optimisation step as a cell: the loss and its gradient with respect to the optimiser's
    parameters (``mindspore.value_and_grad``), optionally clipped to a global norm, then one optimiser
    update. Returns the loss. Being a cell, each instance compiles its own graph under ``mindspore.jit``
    without MindSpore's "compiled again" warning."""

    def __init__(self, loss_fn, optimizer: nn.Optimizer, clip: float | None = None):
        super().__init__(auto_prefix=False)
        self.optimizer = optimizer
        self.clip = clip
        self.grad_fn = ms.value_and_grad(loss_fn, None, optimizer.parameters)

    def construct(self, *inputs):
        loss, grads = self.grad_fn(*inputs)
        if self.clip is not None:
            grads = ops.clip_by_global_norm(grads, self.clip)
        self.optimizer(grads)
        return loss


def train_step(model: SkipGramNS, optimizer: nn.Optimizer):
    """One training step ``step(centers, contexts, negatives) -> loss``: the eq. 4 loss of the batch,
    its gradient with respect to both tables (``mindspore.value_and_grad``) and one optimiser update.

    With ``nn.SGD`` the update is ``table <- table - lr * gradient``, the plain stochastic gradient
    descent of Mikolov 2013b; :func:`train_skipgram` uses Adam instead (faster on a small corpus).
    Compiled with ``mindspore.jit`` in graph mode (:func:`bert_ms.runtime.device.jit`)."""
    return device.jit(TrainStep(model, optimizer))


def train_skipgram(
    tokens: list[str],
    dim: int = 100,
    window: int = 5,
    negatives: int = 5,
    min_count: int = 5,
    steps: int = 2000,
    batch_size: int = 1024,
    lr: float = 0.005,
    seed: int = 0,
    progress: bool = True,
) -> tuple[Vocab, SkipGramNS, list[float]]:
    """Train skip-gram on a token list; returns the vocabulary, the model and the loss curve.

    Departs from Mikolov 2013b: Adam instead of SGD with a linearly decaying rate, and a fixed number of
    batches of ``batch_size`` pairs instead of passes over the corpus."""
    rng = np.random.default_rng(seed)
    vocab = Vocab.build(tokens, min_count=min_count)
    ids = vocab.encode(tokens)
    ids = subsample(ids[ids > 0], vocab.counts, rng)
    centers, contexts = skipgram_pairs(ids, window, rng)
    noise = noise_distribution(vocab.counts)
    model = SkipGramNS(len(vocab), dim)
    step = train_step(model, nn.Adam(model.trainable_params(), learning_rate=lr))
    losses = []
    order = rng.permutation(len(centers))
    with progress_steps(steps, "skip-gram", progress) as bar:
        for i in range(steps):
            start = (i * batch_size) % max(1, len(order) - batch_size)
            batch = order[start : start + batch_size]
            neg = rng.choice(len(vocab), size=(len(batch), negatives), p=noise).astype(np.int32)
            loss = step(ms.Tensor(centers[batch]), ms.Tensor(contexts[batch]), ms.Tensor(neg))
            losses.append(float(loss.asnumpy()))
            bar.update(losses[-1])
    return vocab, model, losses


def cosine_similarity(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Cosine of ``query`` with every row of ``vectors``."""
    norms = np.linalg.norm(vectors, axis=1) * np.linalg.norm(query) + 1e-9
    return vectors @ query / norms


def nearest(vectors: np.ndarray, itos: list[str], stoi: dict[str, int], word: str, k: int = 5) -> list[str]:
    """The ``k`` words whose vectors have the highest cosine similarity with ``word`` (excluding itself)."""
    if word not in stoi:
        raise KeyError(f"{word!r} is not in the vocabulary")
    sims = cosine_similarity(vectors, vectors[stoi[word]])
    sims[stoi[word]] = -np.inf
    return [itos[i] for i in np.argsort(-sims)[:k]]


def analogy(vectors: np.ndarray, itos: list[str], stoi: dict[str, int], a: str, b: str, c: str, k: int = 5):
    """Solve "a is to b as c is to ?" with vector offsets: argmax cos(x, b - a + c), excluding a, b, c."""
    missing = [w for w in (a, b, c) if w not in stoi]
    if missing:
        raise KeyError(f"not in the vocabulary: {missing}")
    unit = vectors / (np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-9)
    query = unit[stoi[b]] - unit[stoi[a]] + unit[stoi[c]]
    sims = unit @ query
    for w in (a, b, c):
        sims[stoi[w]] = -np.inf
    return [itos[i] for i in np.argsort(-sims)[:k]]
