"""Mixed-precision building blocks (混合精度): Linear, LayerNorm and Embedding cells.

Mixed precision as in Micikevicius et al. 2018 ("Mixed Precision Training"): parameters are kept
in float32 ("master weights"), matmuls and activations run in the compute dtype (float16 or
bfloat16), and the numerically sensitive parts -- LayerNorm, softmax and the losses -- run in
float32. With ``compute_dtype=float32`` every cast below is skipped, so fp32 pays nothing.

The compute dtype is chosen once per model (``dtype=`` argument, default: the device switch's
``bert_ms.device.current().compute_dtype``). Parameter names (``weight``, ``bias``) follow the
Hugging Face / PyTorch layout so checkpoints map one-to-one.

These cells hold only the reference maths. The opt-in speed option :func:`bert_ms.accel.accelerate`
swaps a fused C++ version of :class:`LayerNorm` in from outside (same parameters, same results to ~1e-6).
"""

from __future__ import annotations

import mindspore as ms
from mindspore import Parameter, nn, ops
from mindspore.common.initializer import Normal, One, Zero, initializer


class Linear(nn.Cell):
    """``y = x W^T + b`` with ``W`` of shape [out, in] (the PyTorch/HF layout).

    The matmul runs in ``compute_dtype``; the output stays in ``compute_dtype``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, init_std: float = 0.02,
                 compute_dtype=ms.float32):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(initializer(Normal(init_std), (out_features, in_features), ms.float32), name="weight")
        self.bias = Parameter(initializer(Zero(), (out_features,), ms.float32), name="bias") if bias else None
        self.compute_dtype = compute_dtype
        self.cast = compute_dtype != ms.float32
        self.matmul = ops.MatMul(transpose_b=True)

    def construct(self, x):
        shape = x.shape
        x2 = x.reshape(-1, shape[-1])
        w = self.weight
        if self.cast:
            x2 = x2.astype(self.compute_dtype)
            w = w.astype(self.compute_dtype)
        y = self.matmul(x2, w)
        if self.bias is not None:
            b = self.bias.astype(self.compute_dtype) if self.cast else self.bias
            y = y + b  # a broadcast add: its gradient is a plain ReduceSum (BiasAddGrad is slow on CPU)
        return y.reshape(shape[:-1] + (self.out_features,))


class LayerNorm(nn.Cell):
    """Layer normalisation (层归一化, Ba et al. 2016) over the last axis, always computed in float32:
    ``(x - mean) / sqrt(var + eps) * weight + bias`` with the mean and (biased) variance of each row,
    computed by MindSpore's ``ops.LayerNorm``."""

    def __init__(self, hidden_size: int, eps: float = 1e-12):
        super().__init__()
        self.weight = Parameter(initializer(One(), (hidden_size,), ms.float32), name="weight")
        self.bias = Parameter(initializer(Zero(), (hidden_size,), ms.float32), name="bias")
        self.eps = float(eps)
        self.norm = ops.LayerNorm(begin_norm_axis=-1, begin_params_axis=-1, epsilon=eps)

    def construct(self, x):
        if x.dtype != ms.float32:
            x = x.astype(ms.float32)
        return self.norm(x, self.weight, self.bias)[0]


class Embedding(nn.Cell):
    """A lookup table (词嵌入表) of shape [num_embeddings, dim]; output stays float32."""

    def __init__(self, num_embeddings: int, dim: int, init_std: float = 0.02):
        super().__init__()
        self.num_embeddings, self.dim = num_embeddings, dim
        self.weight = Parameter(initializer(Normal(init_std), (num_embeddings, dim), ms.float32), name="weight")

    def construct(self, ids):
        return ops.gather(self.weight, ids, 0)


def dropout_rate(cell: nn.Cell) -> float:
    """The rate of a dropout cell (MindSpore's ``nn.Dropout`` or the Trainer's seeded one). ``nn.Dropout(p=...)``
    keeps a stale ``keep_prob=0.5``, so ``p`` is read when it exists (``p or 1 - keep_prob`` once turned
    dropout 0 into 0.5)."""
    return float(cell.p) if getattr(cell, "p", None) is not None else 1.0 - float(cell.keep_prob)
