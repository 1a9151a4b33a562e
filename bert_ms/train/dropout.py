"""Seeded dropout (可复现的随机失活): the Trainer's dropout, whose masks are a pure function of a seed.

Inverted dropout (Srivastava et al. 2014): each element is kept with probability ``1 - p`` and scaled
by ``1 / (1 - p)``. MindSpore's CPU dropout kernel keeps a hidden random state that ``ms.set_seed``
does not reset, so a resumed process would draw other masks than an uninterrupted run. Here the mask
is an integer hash instead:

    key = mix(seed * 131 + layer_id)       u = mix(mix(index) xor key) / 2^31       keep if u >= p

with ``mix`` a 31-bit xor-shift-multiply hash (the murmur3 finalizer's pattern) and ``index`` the
element's position in the tensor. ``seed`` is one shared int64 Parameter the Trainer sets before every
micro-batch (:func:`bert_ms.train.trainer.step_seed`), so the masks of step ``s`` are the same in an
uninterrupted run and in a resumed one.

The Trainer swaps these cells in for the model's ``nn.Dropout`` cells at the start of ``fit()`` and
swaps the originals back at the end (:func:`seeded_dropouts` + :func:`swap`); nobody else has to
undo anything. :class:`FusedSeededDropout` computes the same mask, bit for bit, with one C++ kernel of
:mod:`bert_ms.accel.fused` (``TrainerConfig(fused=True)``); ``tests/test_fused_kernels.py`` checks it
against :class:`SeededDropout`, the one home of the hash.
"""

from __future__ import annotations

from typing import Any

import mindspore as ms
from mindspore import Parameter, nn, ops

from bert_ms.transformer.layers import dropout_rate

M31 = 0x7FFFFFFF
SEED_PARAM = "bert_ms_dropout_seed"  # the Trainer's seed Parameter: training state, never a weight


def mix(h):
    """A 31-bit integer hash (xor-shift-multiply, as in the murmur3 finalizer) on int64 tensors."""
    m = ms.Tensor(M31, ms.int64)
    h = ops.bitwise_xor(h, ops.floor_div(h, 65536))
    h = ops.bitwise_and(h * 0x45D9F3B, m)
    h = ops.bitwise_xor(h, ops.floor_div(h, 65536))
    h = ops.bitwise_and(h * 0x45D9F3B, m)
    return ops.bitwise_xor(h, ops.floor_div(h, 65536))


def layer_key(seed, layer_id: int):
    """``mix(seed * 131 + layer_id)``: one int64 key per dropout layer and seed."""
    return mix(ops.bitwise_and(seed * 131 + layer_id, ms.Tensor(M31, ms.int64)))


def seeded_mask_apply(x, key, p: float, scale: float):
    """``x * scale`` where ``mix(mix(index) xor key) / 2^31 >= p``, else 0 (the reference ops)."""
    idx = ops.arange(0, x.size, dtype=ms.int64).reshape(x.shape)
    u = mix(ops.bitwise_xor(mix(idx), key)).astype(ms.float32) * (1.0 / 2147483648.0)
    return ops.select(u >= p, x * scale, ops.zeros_like(x))


def seed_parameter() -> Parameter:
    """The shared int64 seed of all seeded dropout cells of one model (set in place before each step)."""
    return Parameter(ms.Tensor(0, ms.int64), name=SEED_PARAM, requires_grad=False)


class SeededDropout(nn.Cell):
    """Inverted dropout whose mask is a pure function of (``seed``, ``layer_id``, element index)."""

    def __init__(self, p: float, seed: Parameter, layer_id: int):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout rate must be in [0, 1), got {p}")
        self.p = float(p)
        self.scale = 1.0 / (1.0 - self.p)
        self.seed = seed
        self.layer_id = int(layer_id)

    def construct(self, x):
        if not self.training or self.p == 0.0:
            return x
        return seeded_mask_apply(x, layer_key(self.seed, self.layer_id), self.p, self.scale)

    def mask_key(self):
        """This layer's key as an int64 [1] tensor (what a fused kernel that applies this mask itself needs,
        e.g. :class:`bert_ms.accel.FusedAttention` on the attention probabilities)."""
        return layer_key(self.seed, self.layer_id).reshape((1,))

    def extend_repr(self) -> str:
        return f"p={self.p}, layer_id={self.layer_id}"


class FusedSeededDropout(SeededDropout):
    """:class:`SeededDropout` with the mask computed by one C++ kernel (``kernel``, from
    :func:`bert_ms.accel.fused.dropout`) for float32 tensors: the same mask bit for bit."""

    def __init__(self, p: float, seed: Parameter, layer_id: int, kernel):
        super().__init__(p, seed, layer_id)
        self.kernel = kernel
        self.rate = ms.Tensor([self.p, self.scale], ms.float32)

    def construct(self, x):
        if not self.training or self.p == 0.0:
            return x
        key = layer_key(self.seed, self.layer_id)
        if x.dtype == ms.float32:
            return self.kernel(x, key.reshape((1,)), self.rate)
        return seeded_mask_apply(x, key, self.p, self.scale)


def seeded_dropouts(model, seed: Parameter, kernel=None) -> list[tuple[Any, str, SeededDropout]]:
    """A :class:`SeededDropout` (a :class:`FusedSeededDropout` if ``kernel`` is given) for every
    ``nn.Dropout`` in ``model``, as ``(parent, attribute, new cell)``; the model is not changed yet
    (:func:`swap` puts them in). Layer ids number the cells in ``cells_and_names`` order."""
    out = []
    for layer_id, (_, parent) in enumerate(list(model.cells_and_names())):
        for attr, child in list(parent._cells.items()):  # noqa: SLF001 - Cell children
            if isinstance(child, nn.Dropout):
                lid = layer_id * 64 + len(out)
                cell = (SeededDropout(dropout_rate(child), seed, lid) if kernel is None
                        else FusedSeededDropout(dropout_rate(child), seed, lid, kernel))
                out.append((parent, attr, cell))
    return out


def swap(entries: list[tuple[Any, str, Any]]) -> list[tuple[Any, str, Any]]:
    """Put each ``(parent, attribute, cell)`` into its parent, in the parent's training mode; return the
    entries that swap back."""
    undo = []
    for parent, attr, cell in entries:
        undo.append((parent, attr, parent._cells[attr]))  # noqa: SLF001
        cell.set_train(parent.training)  # a cell made or kept outside the model missed its set_train()
        parent._cells[attr] = cell  # noqa: SLF001 - direct, so no parameter is renamed
    return undo
