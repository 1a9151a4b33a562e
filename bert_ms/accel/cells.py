"""Fused versions of the model's cells, swapped in from outside: :func:`accelerate` and :func:`restore`.

``accelerate(model)`` replaces every :class:`~bert_ms.transformer.layers.LayerNorm` by a
:class:`FusedLayerNorm`, every exact-GELU :class:`~bert_ms.transformer.feedforward.Activation` of a
float32 feed-forward network by a :class:`FusedGELU`, and every float32
:class:`~bert_ms.transformer.layers.Linear` with a bias by a :class:`FusedLinear`. A fused cell holds the *same* Parameter objects
as the cell it replaces, so parameter names, checkpoints, optimizer state and weights are unchanged;
``restore(model)`` puts the original cells back. The model files themselves never mention the kernels.

Both fused cells use the C++ kernels in training mode only and the reference ops otherwise (see
:mod:`bert_ms.accel.fused` for the MindSpore limitation behind that).
"""

from __future__ import annotations

import mindspore as ms
from mindspore import nn

from bert_ms.accel import fused
from bert_ms.transformer.feedforward import Activation, PositionwiseFeedForward, activation
from bert_ms.transformer.layers import LayerNorm, Linear

_TWIN = "_bert_ms_fused_twin"  # a plain cell remembers its fused twin, so repeated swaps reuse one object


class FusedLayerNorm(nn.Cell):
    """:class:`~bert_ms.transformer.layers.LayerNorm` with the fused C++ forward and one-pass backward
    in training mode; ``plain`` is the cell it replaces (its ``weight`` and ``bias`` are shared)."""

    def __init__(self, plain: LayerNorm, kernel):
        super().__init__()
        self.weight, self.bias = plain.weight, plain.bias  # the same Parameters: names stay as they were
        self.norm = plain.norm
        self.kernel = kernel
        self.eps = ms.Tensor([plain.eps], ms.float32)  # the kernel takes eps as a [1] tensor
        object.__setattr__(self, "plain", plain)  # not a child cell: no second copy of the parameters

    def construct(self, x):
        if x.dtype != ms.float32:
            x = x.astype(ms.float32)
        if self.training:
            return self.kernel(x, self.weight, self.bias, self.eps)
        return self.norm(x, self.weight, self.bias)[0]


class FusedGELU(nn.Cell):
    """The exact GELU as the fused C++ kernel (forward and gradient) in training mode on float32
    tensors; :func:`~bert_ms.transformer.feedforward.activation` otherwise."""

    def __init__(self, plain: Activation, kernel):
        super().__init__()
        if plain.kind != "gelu":
            raise ValueError(f"the fused kernel is the exact GELU, not {plain.kind!r}")
        self.kernel = kernel
        object.__setattr__(self, "plain", plain)

    def construct(self, x):
        if self.training and x.dtype == ms.float32:
            return self.kernel(x)
        return activation("gelu", x)


class FusedLinear(nn.Cell):
    """:class:`~bert_ms.transformer.layers.Linear` (float32, with a bias) as one fused C++ call forward and
    one backward (dx, dW, db) in training mode; ``plain`` is the cell it replaces (its ``weight`` and
    ``bias`` are shared). Inference runs the plain cell's ops."""

    def __init__(self, plain: Linear, kernel):
        super().__init__()
        if plain.cast or plain.bias is None:
            raise ValueError("the fused linear kernel is float32 with a bias")
        self.weight, self.bias = plain.weight, plain.bias
        self.matmul = plain.matmul
        self.in_features, self.out_features = plain.in_features, plain.out_features
        self.compute_dtype, self.cast = plain.compute_dtype, False
        self.kernel = kernel
        object.__setattr__(self, "plain", plain)

    def construct(self, x):
        if self.training and x.dtype == ms.float32:
            return self.kernel(x, self.weight, self.bias)
        shape = x.shape
        y = self.matmul(x.reshape(-1, shape[-1]), self.weight) + self.bias
        return y.reshape(shape[:-1] + (self.out_features,))


_FUSED = (FusedLayerNorm, FusedGELU, FusedLinear)


def _children(model):
    """(full name, parent, attribute, child) for every child cell of ``model``, outermost first."""
    for parent_name, parent in list(model.cells_and_names()):
        for attr, child in list(parent._cells.items()):  # noqa: SLF001 - Cell children
            if child is not None:
                yield (f"{parent_name}.{attr}" if parent_name else attr), parent, attr, child


def _fused_twin(parent, child, kernels):
    """The fused cell for ``child``, or None when it has none (or the kernel does not apply)."""
    twin = child.__dict__.get(_TWIN)
    if twin is not None:
        return twin
    if type(child) is LayerNorm:
        twin = FusedLayerNorm(child, kernels["layer_norm"])
    elif type(child) is Linear:
        if kernels["linear"] is None or child.cast or child.bias is None:
            return None  # no oneDNN here, fp16/bf16 compute, or no bias: the plain cell stays
        twin = FusedLinear(child, kernels["linear"])
    elif isinstance(child, Activation) and child.kind == "gelu":
        if isinstance(parent, PositionwiseFeedForward) and parent.intermediate.compute_dtype != ms.float32:
            return None  # fp16/bf16 activations: the kernel is float32 only
        twin = FusedGELU(child, kernels["gelu"])
    else:
        return None
    object.__setattr__(child, _TWIN, twin)
    return twin


def accelerate(model, build: bool = True) -> list[str]:
    """Swap the fused CPU kernels into ``model``: every LayerNorm, every float32 exact GELU and every
    float32 linear layer with a bias.

    Returns the names of the cells replaced (e.g. ``"bert.embeddings.norm"``), ``[]`` when the kernels
    are not available here (not on CPU, or not built: see :func:`bert_ms.accel.fused.library` for
    ``build``). Parameters, their names and the outputs (to ~1e-6) are unchanged; :func:`restore` undoes it.
    """
    if not fused.available(build):
        return []
    kernels = {"layer_norm": fused.layer_norm(), "gelu": fused.gelu(), "linear": fused.linear(build)}
    swapped = []
    for name, parent, attr, child in _children(model):
        twin = _fused_twin(parent, child, kernels)
        if twin is not None:
            twin.set_train(child.training)  # a model already in training mode runs the kernels at once
            parent._cells[attr] = twin  # noqa: SLF001 - direct, so no parameter is renamed
            swapped.append(name)
    return swapped


def restore(model, names: list[str] | None = None) -> list[str]:
    """Put back the original cell of every fused cell in ``model`` (only those in ``names`` if given);
    returns the names restored. The next :func:`accelerate` swaps the same fused cells in again."""
    restored = []
    for name, parent, attr, child in _children(model):
        if isinstance(child, _FUSED) and (names is None or name in names):
            child.plain.set_train(child.training)
            parent._cells[attr] = child.plain  # noqa: SLF001
            restored.append(name)
    return restored


def fused_cells(model) -> list[str]:
    """Names of the fused cells now in ``model`` (``[]`` for a plain model)."""
    return [name for name, _, _, child in _children(model) if isinstance(child, _FUSED)]
