"""Language models (语言模型): n-gram counts, feed-forward (Bengio et al. 2003), recurrent (Elman / LSTM).

A language model assigns P(w_1..w_T) = Π_t P(w_t | w_<t). Every model here predicts the next word;
they differ in how much of the past they can see and in how they share statistics:

* :class:`NGramLM`: counts of (n-1 previous words, next word) with add-k smoothing (加k平滑). A table
  indexed by n-1 words has V^(n-1) rows, most never seen: the curse of dimensionality (维度灾难) that
  Bengio et al. (2003) answered with word vectors.
* :class:`FeedForwardLM` sees a fixed window of the n-1 previous words (Bengio et al. 2003, sec. 2:
  y = b + W x + U tanh(d + H x), x the concatenated word vectors). The direct connections W x are
  optional (``direct=True``), as in the paper.
* :class:`RNNLM` carries a hidden state through the whole sequence (Mikolov et al. 2010): with
  ``cell="rnn"`` the Elman cell s_t = tanh(U x_t + W s_{t-1} + b) (MindSpore's ``nn.RNN``), with
  ``cell="lstm"`` (the default) LSTM cells (Hochreiter & Schmidhuber 1997), as ELMo uses.

Perplexity (困惑度) = exp(mean cross-entropy per predicted word).
"""

from __future__ import annotations

import math

import mindspore as ms
import numpy as np
from mindspore import nn, ops

from bert_ms.classic.word2vec import TrainStep
from bert_ms.runtime import device
from bert_ms.runtime.progress import steps as progress_steps


class FeedForwardLM(nn.Cell):
    """P(w_t | w_{t-n+1..t-1}) from the concatenation x of n-1 word vectors (Bengio 2003, sec. 2):
    y = b + W x + U tanh(d + H x). ``hidden`` is H (with bias d), ``out`` is U (with bias b) and, with
    ``direct=True``, ``direct`` is the bias-free W of the direct connections; without it W = 0, the
    variant the paper also reports."""

    def __init__(self, vocab_size: int, context: int = 3, dim: int = 64, hidden: int = 128, direct: bool = False):
        super().__init__()
        self.context = context
        self.embed = nn.Embedding(vocab_size, dim)
        self.hidden = nn.Dense(context * dim, hidden, activation="tanh")
        self.out = nn.Dense(hidden, vocab_size)
        self.direct = nn.Dense(context * dim, vocab_size, has_bias=False) if direct else None

    def construct(self, windows):  # windows: [B, context] word ids
        x = self.embed(windows).reshape(windows.shape[0], -1)
        y = self.out(self.hidden(x))
        if self.direct is not None:
            y = y + self.direct(x)
        return y  # [B, V] logits


class RNNLM(nn.Cell):
    """A recurrent language model: embedding -> L recurrent layers -> softmax over the vocabulary.

    ``cell="rnn"``: Elman's cell, s_t = tanh(U x_t + W s_{t-1} + b), as MindSpore's ``nn.RNN`` computes
    it (U = ``weight_ih_l0``, W = ``weight_hh_l0``; it keeps two biases, b = ``bias_ih_l0 + bias_hh_l0``).
    ``cell="lstm"``: ``nn.LSTM``. The initial state is zero."""

    def __init__(self, vocab_size: int, dim: int = 64, hidden: int = 128, num_layers: int = 1, dropout: float = 0.0,
                 cell: str = "lstm"):
        super().__init__()
        if cell not in ("lstm", "rnn"):
            raise ValueError(f"cell must be 'lstm' or 'rnn', got {cell!r}")
        self.cell = cell
        self.embed = nn.Embedding(vocab_size, dim)
        layer = nn.LSTM if cell == "lstm" else nn.RNN
        self.rnn = layer(dim, hidden, num_layers=num_layers, batch_first=True, dropout=dropout)
        self.out = nn.Dense(hidden, vocab_size)

    def construct(self, ids):  # ids: [B, T]
        states, _ = self.rnn(self.embed(ids))
        return self.out(states)  # [B, T, V]: logits for the word after each position


class NGramLM:
    """An n-gram language model with add-k smoothing (加k平滑, Lidstone): for a context h of n-1 words,

        P(w | h) = (count(h, w) + k) / (count(h) + k·V)

    ``n=1`` is the unigram model. Positions with fewer than n-1 previous words are not predicted (as the
    feed-forward LM's windows). Counts live in dictionaries, so only seen n-grams take memory; the full
    table would have V^n entries."""

    def __init__(self, n: int, vocab_size: int, k: float = 1.0):
        if n < 1 or k <= 0:
            raise ValueError(f"need n >= 1 and k > 0, got n={n}, k={k}")
        self.n, self.vocab_size, self.k = n, vocab_size, float(k)
        self.counts: dict[tuple, int] = {}
        self.context_counts: dict[tuple, int] = {}

    def fit(self, ids) -> NGramLM:
        ids = [int(i) for i in ids]
        for t in range(self.n - 1, len(ids)):
            h, w = tuple(ids[t - self.n + 1 : t]), ids[t]
            self.counts[h + (w,)] = self.counts.get(h + (w,), 0) + 1
            self.context_counts[h] = self.context_counts.get(h, 0) + 1
        return self

    def prob(self, context, word: int) -> float:
        """P(word | the last n-1 ids of ``context``)."""
        h = tuple(int(i) for i in context)[len(context) - self.n + 1 :] if self.n > 1 else ()
        return (self.counts.get(h + (int(word),), 0) + self.k) / (self.context_counts.get(h, 0) + self.k * self.vocab_size)

    def perplexity(self, ids) -> float:
        """exp(mean -log P(w_t | w_{t-n+1..t-1})) over positions t >= n-1 of ``ids``."""
        ids = [int(i) for i in ids]
        logs = [math.log(self.prob(ids[t - self.n + 1 : t], ids[t])) for t in range(self.n - 1, len(ids))]
        return math.exp(-sum(logs) / len(logs))


def make_windows(ids: np.ndarray, context: int) -> tuple[np.ndarray, np.ndarray]:
    """All (previous ``context`` words, next word) examples of a token-id sequence."""
    idx = np.arange(context)[None, :] + np.arange(len(ids) - context)[:, None]
    return ids[idx].astype(np.int32), ids[context:].astype(np.int32)


def make_chunks(ids: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut a token-id sequence into [N, seq_len] inputs and the same shifted by one as targets."""
    n = (len(ids) - 1) // seq_len
    x = ids[: n * seq_len].reshape(n, seq_len)
    y = ids[1 : n * seq_len + 1].reshape(n, seq_len)
    return x.astype(np.int32), y.astype(np.int32)


def _cross_entropy(logits, targets):
    return ops.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def train_lm(
    model: nn.Cell,
    inputs: np.ndarray,
    targets: np.ndarray,
    steps: int,
    batch_size: int = 64,
    lr: float = 3e-3,
    clip: float = 1.0,
    seed: int = 0,
    loss_fn=None,
    progress: bool = True,
) -> list[float]:
    """Train a language model with Adam and gradient clipping; returns the training-loss curve.

    ``loss_fn(x, y)`` defaults to next-word cross-entropy of ``model(x)`` against ``y``.
    """
    optimizer = nn.Adam(model.trainable_params(), learning_rate=lr)
    if loss_fn is None:

        def loss_fn(x, y):
            return _cross_entropy(model(x), y)

    step = device.jit(TrainStep(loss_fn, optimizer, clip=clip))
    model.set_train(True)
    rng = np.random.default_rng(seed)
    losses = []
    with progress_steps(steps, f"train {type(model).__name__}", progress) as bar:
        for _ in range(steps):
            batch = rng.integers(0, len(inputs), size=batch_size)
            losses.append(float(step(ms.Tensor(inputs[batch]), ms.Tensor(targets[batch])).asnumpy()))
            bar.update(losses[-1])
    model.set_train(False)
    return losses


def perplexity(model: nn.Cell, inputs: np.ndarray, targets: np.ndarray, batch_size: int = 256) -> float:
    """exp(mean cross-entropy) over every predicted word of a held-out set."""
    model.set_train(False)
    total, count = 0.0, 0
    for start in range(0, len(inputs), batch_size):
        x, y = inputs[start : start + batch_size], targets[start : start + batch_size]
        loss = float(_cross_entropy(model(ms.Tensor(x)), ms.Tensor(y)).asnumpy())
        total += loss * y.size
        count += y.size
    return math.exp(total / count)
