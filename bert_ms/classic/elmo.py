"""ELMo (Peters et al. 2018): a bidirectional LSTM language model and contextual word vectors.

* :class:`BiLM` (双向语言模型), sec. 3.1: a forward LSTM LM reads left to right and predicts the next
  word, a backward LSTM LM reads right to left and predicts the previous word. They share the token
  embedding and the softmax layer; training maximises the sum of both log likelihoods.
* :class:`ScalarMix`, sec. 3.2, eq. 1: the ELMo vector of token k is
  ``ELMo_k = γ · Σ_j s_j · h_{k,j}`` with ``s = softmax(w)``, a task-learned mix of all L+1 layers
  (layer 0 is the token embedding, repeated for both directions).

Departures from the paper, to stay CPU-sized: words are embedded with a lookup table instead of the
character CNN with highway layers, the LSTMs have no projection layer, and there is one residual
connection per layer above the first, as in the paper's released model.
"""

from __future__ import annotations

import mindspore as ms
from mindspore import nn, ops


class BiLM(nn.Cell):
    """Forward and backward multi-layer LSTM LMs with tied input embedding and output softmax."""

    def __init__(self, vocab_size: int, dim: int = 128, num_layers: int = 2, dropout: float = 0.1):
        super().__init__()
        self.num_layers = num_layers
        self.embed = nn.Embedding(vocab_size, dim)
        # single-layer LSTMs stacked by hand, so every layer's states are available to ELMo
        self.forward_layers = nn.CellList([nn.LSTM(dim, dim, batch_first=True) for _ in range(num_layers)])
        self.backward_layers = nn.CellList([nn.LSTM(dim, dim, batch_first=True) for _ in range(num_layers)])
        self.dropout = nn.Dropout(p=dropout)
        self.softmax = nn.Dense(dim, vocab_size)  # shared by both directions (sec. 3.1)

    def _run(self, layers, x):
        states = []
        for i, lstm in enumerate(layers):
            h, _ = lstm(self.dropout(x))
            x = h + x if i > 0 else h  # residual connection between LSTM layers
            states.append(x)
        return states

    def layer_states(self, ids):
        """L+1 tensors [B, T, 2·dim]: the token layer [x; x], then each LSTM layer [forward; backward]."""
        x = self.embed(ids)
        fwd = self._run(self.forward_layers, x)
        bwd = [ops.flip(h, (1,)) for h in self._run(self.backward_layers, ops.flip(x, (1,)))]
        return [ops.cat((x, x), -1)] + [ops.cat((f, b), -1) for f, b in zip(fwd, bwd)]

    def construct(self, ids):
        """Logits of both LMs: forward predicts ids[:, 1:], backward predicts ids[:, :-1]."""
        x = self.embed(ids)
        fwd = self._run(self.forward_layers, x)[-1]
        bwd = ops.flip(self._run(self.backward_layers, ops.flip(x, (1,)))[-1], (1,))
        return self.softmax(self.dropout(fwd[:, :-1])), self.softmax(self.dropout(bwd[:, 1:]))


def bilm_loss(model: BiLM, ids) -> ms.Tensor:
    """Mean of the forward and backward next-word cross-entropies (sec. 3.1, the joint log likelihood)."""
    fwd_logits, bwd_logits = model(ids)
    vocab = fwd_logits.shape[-1]
    fwd = ops.cross_entropy(fwd_logits.reshape(-1, vocab), ids[:, 1:].reshape(-1))
    bwd = ops.cross_entropy(bwd_logits.reshape(-1, vocab), ids[:, :-1].reshape(-1))
    return (fwd + bwd) / 2


def scalar_mix(layers, weights, gamma):
    """ELMo_k = γ Σ_j softmax(w)_j h_{k,j} (Peters et al. 2018, eq. 1): ``layers`` a sequence of same-shaped
    tensors, ``weights`` one scalar per layer, ``gamma`` a scalar. Lesson 09 reuses it on BERT's layers."""
    s = ops.softmax(weights, 0)
    mixed = s[0] * layers[0]
    for j in range(1, len(layers)):
        mixed = mixed + s[j] * layers[j]
    return gamma * mixed


class ScalarMix(nn.Cell):
    """ELMo_k = γ Σ_j softmax(w)_j h_{k,j} (Peters et al. 2018, eq. 1), with w and γ learned."""

    def __init__(self, num_layers: int):
        super().__init__()
        self.weights = ms.Parameter(ms.Tensor([0.0] * num_layers, ms.float32), name="weights")
        self.gamma = ms.Parameter(ms.Tensor(1.0, ms.float32), name="gamma")

    def construct(self, layers):
        return scalar_mix(layers, self.weights, self.gamma)
