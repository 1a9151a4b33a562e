"""Scaled dot-product attention and multi-head attention (缩放点积注意力 / 多头注意力).

Vaswani et al. 2017, "Attention Is All You Need", sec. 3.2:

* eq. (1): ``Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V``
* sec. 3.2.2: ``MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O`` with
  ``head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)``.

Masks are *additive*: 0 where attention is allowed and a large negative number where it is
not, so ``softmax`` gives those positions probability (numerically) 0. Two kinds exist:

* the padding mask (填充掩码) hides [PAD] keys (BERT's ``attention_mask``);
* the causal / sequence mask (因果掩码) hides future positions in the decoder (sec. 3.2.3).

The softmax always runs in float32, even under mixed precision.
"""

from __future__ import annotations

import math

import mindspore as ms
import numpy as np
from mindspore import Tensor, nn, ops

from bert_ms.transformer.layers import Linear

_matmul_nt = ops.BatchMatMul(transpose_b=True)  # Q K^T without materialising K^T
NEG_INF = -1e9  # "minus infinity" for the additive masks; exp(-1e9) == 0 in float32


def padding_mask(attention_mask: Tensor) -> Tensor:
    """[B, T] with 1 = real token, 0 = padding  ->  additive mask [B, 1, 1, T] (float32)."""
    if len(attention_mask.shape) != 2:
        raise ValueError("attention_mask must have shape [batch, seq_len]")
    keep = attention_mask.astype(ms.float32)
    return ((keep - 1.0) * -NEG_INF).reshape(keep.shape[0], 1, 1, keep.shape[1])  # +0.0 where allowed, not -0.0


def causal_mask(seq_len: int) -> Tensor:
    """Additive mask [1, 1, T, T] letting position i attend to positions j <= i only (sec. 3.2.3)."""
    future = np.triu(np.ones((seq_len, seq_len), dtype=np.float32), k=1)
    return Tensor(np.where(future > 0, NEG_INF, 0.0).astype(np.float32).reshape(1, 1, seq_len, seq_len))


def scaled_dot_product_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None,
                                 dropout: nn.Cell | None = None) -> tuple[Tensor, Tensor]:
    """Eq. (1). ``q`` [..., Tq, d_k], ``k`` [..., Tk, d_k], ``v`` [..., Tk, d_v]; ``mask`` additive,
    broadcastable to [..., Tq, Tk]. Returns (output [..., Tq, d_v], probabilities [..., Tq, Tk]).

    Departure from the paper: ``dropout`` on the attention probabilities, as BERT and the
    reference Transformer code do (the paper only mentions dropout on sub-layer outputs).
    """
    scores = _matmul_nt(q * (1.0 / math.sqrt(q.shape[-1])), k)  # scaling q is cheaper than scaling Q K^T
    if scores.dtype != ms.float32:
        scores = scores.astype(ms.float32)
    if mask is not None:
        scores = scores + mask
    probs = ops.softmax(scores, -1)
    used = probs if dropout is None else dropout(probs)
    return ops.matmul(used.astype(v.dtype), v), probs


class MultiHeadAttention(nn.Cell):
    """Multi-head attention, sec. 3.2.2, with ``h`` heads of size ``d_k = d_model / h``.

    The projections are named ``query``, ``key``, ``value`` and ``output`` (BERT's naming).
    ``construct(x_q, x_kv, mask)``: self-attention when ``x_kv is x_q``, encoder-decoder
    attention when ``x_kv`` is the encoder output. Returns (output [B, Tq, d_model],
    attention probabilities [B, h, Tq, Tk]).
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.1, init_std: float = 0.02,
                 compute_dtype=ms.float32):
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
        self.num_heads, self.head_dim = num_heads, d_model // num_heads
        self.query = Linear(d_model, d_model, init_std=init_std, compute_dtype=compute_dtype)
        self.key = Linear(d_model, d_model, init_std=init_std, compute_dtype=compute_dtype)
        self.value = Linear(d_model, d_model, init_std=init_std, compute_dtype=compute_dtype)
        self.output = Linear(d_model, d_model, init_std=init_std, compute_dtype=compute_dtype)
        self.dropout = nn.Dropout(p=dropout)

    def _split(self, x: Tensor) -> Tensor:
        """[B, T, d_model] -> [B, h, T, d_k]."""
        b, t, _ = x.shape
        return x.reshape(b, t, self.num_heads, self.head_dim).transpose(0, 2, 1, 3)

    def construct(self, x_q: Tensor, x_kv: Tensor, mask: Tensor | None = None):
        q, k, v = self._split(self.query(x_q)), self._split(self.key(x_kv)), self._split(self.value(x_kv))
        ctx, probs = scaled_dot_product_attention(q, k, v, mask, self.dropout)
        b, _, t, _ = ctx.shape
        ctx = ctx.transpose(0, 2, 1, 3).reshape(b, t, self.num_heads * self.head_dim)
        return self.output(ctx), probs
