"""Position information (位置编码): the Transformer's fixed sinusoids and BERT's learned table.

Self-attention is permutation-invariant, so the order of tokens must be added to the input.

* Vaswani et al. 2017, sec. 3.5: ``PE(pos, 2i) = sin(pos / 10000^(2i/d_model))``,
  ``PE(pos, 2i+1) = cos(pos / 10000^(2i/d_model))`` -- fixed, not trained.
* Devlin et al. 2019, sec. 3 / fig. 2: BERT learns one vector per position instead
  (``max_position_embeddings`` rows, 512 in the released models).
"""

from __future__ import annotations

import numpy as np
from mindspore import Tensor, nn

from bert_ms.transformer.layers import Embedding


def sinusoidal_table(max_len: int, d_model: int) -> np.ndarray:
    """The [max_len, d_model] table of sec. 3.5 (even columns sin, odd columns cos)."""
    pos = np.arange(max_len, dtype=np.float64)[:, None]
    div = np.power(10000.0, np.arange(0, d_model, 2, dtype=np.float64) / d_model)
    table = np.zeros((max_len, d_model), dtype=np.float64)
    table[:, 0::2] = np.sin(pos / div)
    table[:, 1::2] = np.cos(pos / div[: d_model // 2])
    return table.astype(np.float32)


class SinusoidalPositionalEncoding(nn.Cell):
    """Adds the fixed sinusoid table to [B, T, d_model] inputs (no parameters), then dropout."""

    def __init__(self, d_model: int, max_len: int = 5000, dropout: float = 0.1):
        super().__init__()
        self.table = Tensor(sinusoidal_table(max_len, d_model))  # a constant, not a Parameter
        self.dropout = nn.Dropout(p=dropout)

    def construct(self, x: Tensor) -> Tensor:
        return self.dropout(x + self.table[: x.shape[1]].astype(x.dtype))


class LearnedPositionEmbedding(nn.Cell):
    """BERT's trained position table: position ids 0..T-1 -> vectors [1, T, dim]."""

    def __init__(self, max_positions: int, dim: int, init_std: float = 0.02):
        super().__init__()
        self.max_positions = max_positions
        self.table = Embedding(max_positions, dim, init_std)

    def construct(self, seq_len: int) -> Tensor:
        # positions 0..T-1 are simply the first T rows of the table
        return self.table.weight[:seq_len].expand_dims(0)
