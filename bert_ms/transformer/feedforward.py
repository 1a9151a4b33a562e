"""Position-wise feed-forward network (逐位置前馈网络), Vaswani et al. 2017 eq. (2).

``FFN(x) = max(0, x W_1 + b_1) W_2 + b_2`` applied to every position separately, with inner size
``d_ff`` (2048 in the Transformer base, 3072 = 4H in BERT-base). BERT replaces ReLU by GELU
(Hendrycks & Gimpel 2016; Devlin et al. 2019 sec. 3.1 / A.2), the exact erf form.

Speed option: on CPU, in training mode, :class:`PositionwiseFeedForward` computes the exact GELU with the fused C++
kernel of :mod:`bert_ms.fused` (the same function to ~1e-6; one pass forward and one backward instead
of MindSpore's chain of element-wise ops). :func:`activation` below is the reference it reproduces;
``bert_ms.device.setup(fused=False)`` or ``BERT_MS_FUSED=0`` turns the option off.
"""

from __future__ import annotations

import mindspore as ms
from mindspore import Tensor, nn, ops

from bert_ms.accel import fused
from bert_ms.transformer.layers import Linear

ACTIVATIONS = ("relu", "gelu", "gelu_new", "gelu_tanh")


def activation(name: str, x: Tensor) -> Tensor:
    """ReLU, exact GELU, or the tanh approximation of GELU (``gelu_new``) used by some checkpoints."""
    if name == "relu":
        return ops.relu(x)
    if name == "gelu":
        return ops.gelu(x, approximate="none")
    return ops.gelu(x, approximate="tanh")


class PositionwiseFeedForward(nn.Cell):
    """``dense2(act(dense1(x)))``: d_model -> d_ff -> d_model. Names follow BERT: ``intermediate``
    is W_1 and ``output`` is W_2."""

    def __init__(self, d_model: int, d_ff: int, act: str = "relu", init_std: float = 0.02,
                 compute_dtype=ms.float32):
        super().__init__()
        if act not in ACTIVATIONS:
            raise ValueError(f"unknown activation {act!r}; choose one of {', '.join(ACTIVATIONS)}")
        self.act = act
        self.intermediate = Linear(d_model, d_ff, init_std=init_std, compute_dtype=compute_dtype)
        self.output = Linear(d_ff, d_model, init_std=init_std, compute_dtype=compute_dtype)
        # the fused CPU GELU (bert_ms.fused) when it applies, else None and the reference ops run
        self.fused_gelu = fused.gelu() if act == "gelu" and fused.wanted(compute_dtype) else None

    def construct(self, x: Tensor) -> Tensor:
        h = self.intermediate(x)
        if self.fused_gelu is not None and self.training:  # training only: see bert_ms.fused
            return self.output(self.fused_gelu(h))
        return self.output(activation(self.act, h))
