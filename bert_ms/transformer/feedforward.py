"""Position-wise feed-forward network (逐位置前馈网络), Vaswani et al. 2017 eq. (2).

``FFN(x) = max(0, x W_1 + b_1) W_2 + b_2`` applied to every position separately, with inner size
``d_ff`` (2048 in the Transformer base, 3072 = 4H in BERT-base). BERT replaces ReLU by GELU
(Hendrycks & Gimpel 2016; Devlin et al. 2019 sec. 3.1 / A.2), the exact erf form.

The non-linearity is a small cell of its own (:class:`Activation`), so that the opt-in speed option
:func:`bert_ms.accel.accelerate` can swap a fused C++ GELU in from outside; this file holds only the
reference maths.
"""

from __future__ import annotations

import mindspore as ms
from mindspore import Tensor, nn, ops

from bert_ms.transformer.layers import Linear

ACTIVATIONS = ("relu", "gelu", "gelu_new", "gelu_tanh")


def activation(name: str, x: Tensor) -> Tensor:
    """ReLU, exact GELU, or the tanh approximation of GELU (``gelu_new``) used by some checkpoints."""
    if name == "relu":
        return ops.relu(x)
    if name == "gelu":
        return ops.gelu(x, approximate="none")
    return ops.gelu(x, approximate="tanh")


class Activation(nn.Cell):
    """:func:`activation` as a cell without parameters: ``Activation("gelu")(x)``."""

    def __init__(self, kind: str):
        super().__init__()
        if kind not in ACTIVATIONS:
            raise ValueError(f"unknown activation {kind!r}; choose one of {', '.join(ACTIVATIONS)}")
        self.kind = kind

    def construct(self, x: Tensor) -> Tensor:
        return activation(self.kind, x)

    def extend_repr(self) -> str:
        return self.kind


class PositionwiseFeedForward(nn.Cell):
    """``dense2(act(dense1(x)))``: d_model -> d_ff -> d_model. Names follow BERT: ``intermediate``
    is W_1 and ``output`` is W_2."""

    def __init__(self, d_model: int, d_ff: int, act: str = "relu", init_std: float = 0.02,
                 compute_dtype=ms.float32):
        super().__init__()
        self.intermediate = Linear(d_model, d_ff, init_std=init_std, compute_dtype=compute_dtype)
        self.act = Activation(act)
        self.output = Linear(d_ff, d_model, init_std=init_std, compute_dtype=compute_dtype)

    def construct(self, x: Tensor) -> Tensor:
        return self.output(self.act(self.intermediate(x)))
