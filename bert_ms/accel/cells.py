"""Fused versions of the model's cells, swapped in from outside: :func:`accelerate` and :func:`restore`.

``accelerate(model)`` replaces every :class:`~bert_ms.transformer.layers.LayerNorm` by a
:class:`FusedLayerNorm`, every exact-GELU :class:`~bert_ms.transformer.feedforward.Activation` of a
float32 feed-forward network by a :class:`FusedGELU`, every float32
:class:`~bert_ms.transformer.layers.Linear` with a bias by a :class:`FusedLinear`, and then every
:class:`~bert_ms.transformer.attention.MultiHeadAttention` whose dropout it can reproduce (the Trainer's
seeded dropout, or none) by a :class:`FusedAttention`. A fused cell holds the *same* Parameter objects
as the cell it replaces, so parameter names, checkpoints, optimizer state and weights are unchanged;
``restore(model)`` puts the original cells back. The model files themselves never mention the kernels.

These cells use the C++ kernels in training mode only and the reference ops otherwise (see
:mod:`bert_ms.accel.fused` for the MindSpore limitation behind that). For inference,
``accelerate(model, inference=True)`` also replaces every post-norm float32
:class:`~bert_ms.transformer.model.EncoderLayer` by a :class:`FusedEncoderLayer`: one kernel per layer in
evaluation mode, the plain layer in training mode; :mod:`bert_ms.accel.inference` compiles a model with it.
"""

from __future__ import annotations

import math

import mindspore as ms
import numpy as np
from mindspore import nn, ops

from bert_ms.accel import fused
from bert_ms.transformer.attention import MultiHeadAttention, scaled_dot_product_attention
from bert_ms.transformer.feedforward import Activation, PositionwiseFeedForward, activation
from bert_ms.transformer.layers import LayerNorm, Linear, dropout_rate
from bert_ms.transformer.model import EncoderLayer

_TWIN = "_bert_ms_fused_twin"  # a plain cell remembers its fused twin, so repeated swaps reuse one object
_ATTENTION_TWIN = "_bert_ms_fused_attention"  # the same for a MultiHeadAttention (made in the second pass)
_LAYER_TWIN = "_bert_ms_fused_layer"  # the same for an EncoderLayer (accelerate(..., inference=True))


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


def _linear(matmul, x, w, b):
    """``x W^T + b`` over the last axis with MindSpore's ops: the reference path of the fused cells below (as
    :class:`~bert_ms.transformer.layers.Linear` computes it in float32)."""
    shape = x.shape
    y = matmul(x.reshape(-1, shape[-1]), w) + b
    return y.reshape(shape[:-1] + (w.shape[0],))


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
        self.compute_dtype = plain.compute_dtype  # what the GELU swap and the Trainer's precision read
        self.kernel = kernel
        object.__setattr__(self, "plain", plain)

    def construct(self, x):
        if self.training and x.dtype == ms.float32:
            return self.kernel(x, self.weight, self.bias)
        return _linear(self.matmul, x, self.weight, self.bias)


class FusedAttention(nn.Cell):
    """:class:`~bert_ms.transformer.attention.MultiHeadAttention` (self-attention of an encoder layer) as three
    fused C++ calls forward and three backward in training mode: the Q, K, V and output projections (the
    fused linear kernel), and the core -- scores, padding mask, softmax, dropout on the probabilities, the
    weighted sum, the heads split and merged -- in one. It holds ``plain``'s Parameters (names unchanged)
    and its dropout cell, the Trainer's seeded dropout (the kernel applies that mask bit for bit) or one of
    rate 0. In inference, or for another dtype or mask shape, it runs the reference maths."""

    def __init__(self, plain: MultiHeadAttention, kernel, linear):
        super().__init__()
        self.wq, self.bq = plain.query.weight, plain.query.bias  # the same Parameters: names stay as they were
        self.wk, self.bk = plain.key.weight, plain.key.bias
        self.wv, self.bv = plain.value.weight, plain.value.bias
        self.wo, self.bo = plain.output.weight, plain.output.bias
        self.num_heads, self.head_dim = plain.num_heads, plain.head_dim
        p = dropout_rate(plain.dropout)
        self.seeded = hasattr(plain.dropout, "mask_key") and p > 0
        self.rate = ms.Tensor([p, 1.0 / (1.0 - p), 1.0 / math.sqrt(self.head_dim), self.num_heads], ms.float32)
        self.no_key = ms.Tensor(np.zeros(1, np.int64))
        self.kernel, self.linear = kernel, linear
        self.matmul = ops.MatMul(transpose_b=True)
        object.__setattr__(self, "plain", plain)
        object.__setattr__(self, "drop", plain.dropout)  # not a child cell: its seed Parameter keeps its name

    def _split(self, x):
        b, t, _ = x.shape
        return x.reshape(b, t, self.num_heads, self.head_dim).transpose(0, 2, 1, 3)

    def construct(self, x_q, x_kv, mask=None):
        padding = mask is None or (len(mask.shape) == 4 and mask.shape[1] == 1 and mask.shape[2] == 1)
        if self.training and x_q.dtype == ms.float32 and x_kv.shape == x_q.shape and padding:
            q = self.linear(x_q, self.wq, self.bq)
            k = self.linear(x_kv, self.wk, self.bk)
            v = self.linear(x_kv, self.wv, self.bv)
            b, t, h = q.shape
            m = ops.zeros((b, t), ms.float32) if mask is None else mask.reshape(b, t).astype(ms.float32)
            key = self.drop.mask_key() if self.seeded else self.no_key
            ctx, probs = self.kernel(q, k, v, m, key, self.rate)
            return self.linear(ctx, self.wo, self.bo), probs
        mm = self.matmul
        q = _linear(mm, x_q, self.wq, self.bq)
        k, v = _linear(mm, x_kv, self.wk, self.bk), _linear(mm, x_kv, self.wv, self.bv)
        ctx, probs = scaled_dot_product_attention(self._split(q), self._split(k), self._split(v), mask,
                                                  self.drop if self.training else None)
        b, _, t, _ = ctx.shape
        ctx = ctx.transpose(0, 2, 1, 3).reshape(b, t, self.num_heads * self.head_dim)
        return _linear(mm, ctx, self.wo, self.bo), probs


def _weight_and_bias(cell):
    """(W, b) of a linear layer, plain or fused (the same Parameters either way)."""
    return cell.weight, cell.bias


def _attention_parameters(att):
    """wq, bq, wk, bk, wv, bv, wo, bo of a MultiHeadAttention or of its FusedAttention twin."""
    if isinstance(att, FusedAttention):
        return att.wq, att.bq, att.wk, att.bk, att.wv, att.bv, att.wo, att.bo
    return sum((_weight_and_bias(c) for c in (att.query, att.key, att.value, att.output)), ())


class FusedEncoderLayer(nn.Cell):
    """A post-norm :class:`~bert_ms.transformer.model.EncoderLayer` (float32, exact GELU or ReLU, biases) as one
    fused C++ call in **inference** (``cell.training`` unset): the Q, K, V projections, the attention core,
    the output projection, both Add & Norm steps and the FFN, with every dropout the identity, as in the
    reference in evaluation mode. It holds ``plain``'s Parameters (names unchanged). In training mode, or
    for another dtype or mask shape, it runs ``plain`` (the reference maths, or the training kernels where
    :func:`accelerate` swapped them into ``plain``'s cells).

    The kernel is a ``Custom`` op, so a ``mindspore.jit`` graph holding it must return no ``None`` (see
    :mod:`bert_ms.accel.inference`, which compiles such a graph)."""

    ACTIVATIONS = {"gelu": 0.0, "relu": 1.0}

    def __init__(self, plain: EncoderLayer, kernel):
        super().__init__()
        att = plain.attention
        (self.wq, self.bq, self.wk, self.bk, self.wv, self.bv, self.wo, self.bo) = _attention_parameters(att)
        self.g1, self.be1 = plain.attention_norm.norm.weight, plain.attention_norm.norm.bias
        self.w1, self.b1 = _weight_and_bias(plain.ffn.intermediate)
        self.w2, self.b2 = _weight_and_bias(plain.ffn.output)
        self.g2, self.be2 = plain.ffn_norm.norm.weight, plain.ffn_norm.norm.bias
        self.num_heads = att.num_heads
        kind = _unfused(plain.ffn.act).kind
        eps = _unfused(plain.attention_norm.norm).eps
        self.cfg = ms.Tensor([att.num_heads, eps, self.ACTIVATIONS[kind], 0.0], ms.float32)
        self.kernel = kernel
        object.__setattr__(self, "plain", plain)  # not a child cell: its Parameters keep their names

    def construct(self, x, mask=None):
        padding = mask is None or (len(mask.shape) == 4 and mask.shape[1] == 1 and mask.shape[2] == 1)
        if not self.training and x.dtype == ms.float32 and len(x.shape) == 3 and padding:
            b, t, _ = x.shape
            m = ops.zeros((b, t), ms.float32) if mask is None else mask.reshape(b, t).astype(ms.float32)
            return self.kernel(x, m, self.wq, self.bq, self.wk, self.bk, self.wv, self.bv, self.wo, self.bo,
                               self.g1, self.be1, self.w1, self.b1, self.w2, self.b2, self.g2, self.be2, self.cfg)
        return self.plain(x, mask)

    def add_flags_recursive(self, **flags):
        self.plain.add_flags_recursive(**flags)  # set_train() reaches the plain layer too: not a child cell
        return super().add_flags_recursive(**flags)


def _unfused(cell):
    """The plain cell behind a fused one (the cell itself if it is not fused): what its settings are read from."""
    return cell.plain if isinstance(cell, _FUSED) else cell


def _layer_kernel(layer, build: bool):
    """The fused encoder-layer kernel for ``layer`` (an EncoderLayer), or None where it does not apply: pre-norm,
    a compute dtype other than float32, a projection without a bias, another activation, two epsilons."""
    if type(layer) is not EncoderLayer or layer.pre_norm:
        return None
    att, ffn = layer.attention, layer.ffn
    act = _unfused(ffn.act)
    if not isinstance(att, (MultiHeadAttention, FusedAttention)) or act.kind not in FusedEncoderLayer.ACTIVATIONS:
        return None
    linears = (ffn.intermediate, ffn.output) + (() if isinstance(att, FusedAttention) else
                                                 (att.query, att.key, att.value, att.output))
    if any(getattr(c, "compute_dtype", None) != ms.float32 or c.bias is None for c in linears):
        return None
    if _unfused(layer.attention_norm.norm).eps != _unfused(layer.ffn_norm.norm).eps:
        return None
    return fused.encoder_layer(att.num_heads, build)


_FUSED = (FusedLayerNorm, FusedGELU, FusedLinear, FusedAttention, FusedEncoderLayer)


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


def accelerate(model, build: bool = True, inference: bool = False) -> list[str]:
    """Swap the fused CPU kernels into ``model``: every LayerNorm, every float32 exact GELU, every float32
    linear layer with a bias, then every multi-head attention whose dropout the kernel can reproduce.
    ``inference=True`` then also swaps every post-norm float32 encoder layer for a :class:`FusedEncoderLayer`
    (one kernel per layer in evaluation mode; the cells above still serve training).

    Returns the names of the cells replaced (e.g. ``"bert.embeddings.norm"``), ``[]`` when the kernels
    are not available here (not on CPU, or not built: see :func:`bert_ms.accel.fused.library` for
    ``build``). Parameters, their names and the outputs (to ~1e-6) are unchanged; :func:`restore` undoes it.
    """
    if not fused.available(build):
        return []
    if inference:
        return _accelerate_layers(model, build, accelerate(model, build))
    kernels = {"layer_norm": fused.layer_norm(), "gelu": fused.gelu(), "linear": fused.linear(build)}
    swapped = []
    for name, parent, attr, child in _children(model):
        twin = _fused_twin(parent, child, kernels)
        if twin is not None:
            twin.set_train(child.training)  # a model already in training mode runs the kernels at once
            parent._cells[attr] = twin  # noqa: SLF001 - direct, so no parameter is renamed
            swapped.append(name)
    # second pass: the self-attention of every encoder layer (a decoder's is causal or cross-attention)
    linear = kernels["linear"]
    for name, parent, attr, child in _children(model):
        if type(child) is not MultiHeadAttention or type(parent) is not EncoderLayer or linear is None:
            continue
        if not all(isinstance(c, FusedLinear) for c in (child.query, child.key, child.value, child.output)):
            continue  # the first pass left a projection plain (not float32, or no bias)
        p = dropout_rate(child.dropout)
        if p > 0 and not hasattr(child.dropout, "mask_key"):
            continue  # MindSpore's own random dropout: its mask cannot be reproduced inside the kernel
        kernel = fused.attention(child.num_heads, build)
        if kernel is None:
            continue
        twin = child.__dict__.get(_ATTENTION_TWIN)
        if twin is None or twin.drop is not child.dropout:
            twin = FusedAttention(child, kernel, linear)  # made again only when the dropout cell changed
            object.__setattr__(child, _ATTENTION_TWIN, twin)
        twin.set_train(child.training)
        parent._cells[attr] = twin  # noqa: SLF001
        swapped.append(name)
    done = set(swapped)  # the projections inside a fused attention are no longer cells of the model
    return [name for name in fused_cells(model) if name in done]


def _accelerate_layers(model, build: bool, swapped: list[str]) -> list[str]:
    """The ``inference=True`` pass of :func:`accelerate`: every encoder layer the layer kernel applies to."""
    layers = []
    for name, parent, attr, child in _children(model):
        if isinstance(child, FusedEncoderLayer):
            layers.append(name)  # already swapped by an earlier call
            continue
        kernel = _layer_kernel(child, build)
        if kernel is None:
            continue
        twin = child.__dict__.get(_LAYER_TWIN)
        if twin is None:
            twin = FusedEncoderLayer(child, kernel)
            object.__setattr__(child, _LAYER_TWIN, twin)
        twin.set_train(child.training)
        parent._cells[attr] = twin  # noqa: SLF001
        layers.append(name)
    inside = tuple(f"{n}." for n in layers)  # cells inside a fused layer are no longer cells of the model
    return [n for n in swapped if not n.startswith(inside)] + layers


def restore(model, names: list[str] | None = None) -> list[str]:
    """Put back the original cell of every fused cell in ``model`` (only those in ``names`` if given; the
    fused projections inside a restored attention cell with it); returns the names restored. The next
    :func:`accelerate` swaps the same fused cells in again."""
    restored = []
    for name, parent, attr, child in _children(model):
        if isinstance(child, _FUSED) and (names is None or name in names):
            _put_back(parent, attr, child)
            restored.append(name)
    return restored


def _put_back(parent, attr, child) -> None:
    child.plain.set_train(child.training)
    parent._cells[attr] = child.plain  # noqa: SLF001
    if isinstance(child, FusedEncoderLayer):  # every fused cell inside the layer comes back too
        restore(child.plain)
    elif isinstance(child, FusedAttention):  # its projections, swapped by accelerate's first pass, come back too
        for sub_attr, sub in list(child.plain._cells.items()):  # noqa: SLF001
            if isinstance(sub, _FUSED):
                _put_back(child.plain, sub_attr, sub)


def fused_cells(model) -> list[str]:
    """Names of the fused cells now in ``model`` (``[]`` for a plain model)."""
    return [name for name, _, _, child in _children(model) if isinstance(child, _FUSED)]
