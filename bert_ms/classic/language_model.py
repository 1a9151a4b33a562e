"""Neural language models (神经语言模型): feed-forward (Bengio et al. 2003), then recurrent (LSTM).

A language model assigns P(w_1..w_T) = Π_t P(w_t | w_<t). Both models here predict the next word;
they differ in how much of the past they can see:

* :class:`FeedForwardLM` sees a fixed window of the n-1 previous words (Bengio et al. 2003, sec. 2:
  y = b + U tanh(d + H x), x the concatenated word vectors). The paper's optional direct
  connections W x are left out.
* :class:`RNNLM` carries a hidden state through the whole sequence (Mikolov et al. 2010), here with
  LSTM cells (Hochreiter & Schmidhuber 1997), as ELMo does.

Perplexity (困惑度) = exp(mean cross-entropy per predicted word).
"""

from __future__ import annotations

import math

import mindspore as ms
import numpy as np
from mindspore import nn, ops


class FeedForwardLM(nn.Cell):
    """P(w_t | w_{t-n+1..t-1}) from the concatenation of n-1 word vectors (Bengio 2003, eq. in sec. 2)."""

    def __init__(self, vocab_size: int, context: int = 3, dim: int = 64, hidden: int = 128):
        super().__init__()
        self.context = context
        self.embed = nn.Embedding(vocab_size, dim)
        self.hidden = nn.Dense(context * dim, hidden, activation="tanh")
        self.out = nn.Dense(hidden, vocab_size)

    def construct(self, windows):  # windows: [B, context] word ids
        x = self.embed(windows).reshape(windows.shape[0], -1)
        return self.out(self.hidden(x))  # [B, V] logits


class RNNLM(nn.Cell):
    """An LSTM language model: embedding -> L LSTM layers -> softmax over the vocabulary."""

    def __init__(self, vocab_size: int, dim: int = 64, hidden: int = 128, num_layers: int = 1, dropout: float = 0.0):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim)
        self.lstm = nn.LSTM(dim, hidden, num_layers=num_layers, batch_first=True, dropout=dropout)
        self.out = nn.Dense(hidden, vocab_size)

    def construct(self, ids):  # ids: [B, T]
        states, _ = self.lstm(self.embed(ids))
        return self.out(states)  # [B, T, V]: logits for the word after each position


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
) -> list[float]:
    """Train a language model with Adam and gradient clipping; returns the training-loss curve.

    ``loss_fn(x, y)`` defaults to next-word cross-entropy of ``model(x)`` against ``y``.
    """
    from bert_ms.runtime import device

    optimizer = nn.Adam(model.trainable_params(), learning_rate=lr)
    if loss_fn is None:

        def loss_fn(x, y):
            return _cross_entropy(model(x), y)

    grad_fn = ms.value_and_grad(loss_fn, None, optimizer.parameters)

    def step(x, y):
        loss, grads = grad_fn(x, y)
        optimizer(ops.clip_by_global_norm(grads, clip))
        return loss

    step = device.jit(step)
    model.set_train(True)
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(steps):
        batch = rng.integers(0, len(inputs), size=batch_size)
        losses.append(float(step(ms.Tensor(inputs[batch]), ms.Tensor(targets[batch])).asnumpy()))
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
