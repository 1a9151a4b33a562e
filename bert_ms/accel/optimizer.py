"""AdamW in one call: :class:`FusedAdamWeightDecay`, ``mindspore.nn.AdamWeightDecay`` with every update fused.

``nn.AdamWeightDecay`` (the Trainer's optimizer; Loshchilov & Hutter 2019, decoupled weight decay, without
Adam's bias correction, as in the BERT reference optimizer) launches one CPU kernel per parameter tensor: 78
for BERT-mini, each a pass over the parameter, its gradient and both moments; gradient clipping multiplies
every gradient by its scale first, another 78 kernels. The update is memory-bound, so those launches and the
extra pass are most of its cost. This subclass does the same update, clipping's scale included, in **one**
C++ call over all tensors (``AdamWeightDecayUpdate`` in ``csrc/fused_ops.cc``), split evenly between the
threads.

It is ``nn.AdamWeightDecay`` in every other respect: the same constructor (parameter groups, a learning
rate schedule, a per-step weight decay), the same state (``moments1``, ``moments2``, ``global_step``, so a
checkpoint of one resumes in the other), the same rule. The moments come out bit for bit equal to
MindSpore's kernel, the parameters to float32 rounding: the last subtraction is one fused multiply-add, so
they can differ by one rounding of it, ~1e-7 of the parameter (``tests/test_fused_kernels.py``).

The kernel writes the parameters and moments in place, which a MindSpore ``Custom`` op cannot declare;
the primitive is marked ``side_effect_mem`` instead, as MindSpore marks its own optimizers, so that a graph
keeps the call and runs it after every read of the old values (it takes every gradient as an input, so it
runs after the whole backward pass). CPU and float32 parameters only; the Trainer uses it where the fused
kernels are on (``TrainerConfig(fused=...)``) and ``nn.AdamWeightDecay`` elsewhere.
"""

from __future__ import annotations

import mindspore as ms
import numpy as np
from mindspore import nn, ops

from bert_ms.accel import fused


class FusedAdamWeightDecay(nn.AdamWeightDecay):
    """``nn.AdamWeightDecay`` whose update of all parameters is one fused call; ``construct(gradients,
    scale)`` multiplies the gradients by ``scale`` (clipping's factor) inside that call."""

    def __init__(self, params, learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-6, weight_decay=0.0):
        super().__init__(params, learning_rate=learning_rate, beta1=beta1, beta2=beta2, eps=eps,
                         weight_decay=weight_decay)
        self._update = fused.adamw_update()
        if self._update is None:
            raise RuntimeError("FusedAdamWeightDecay needs bert_ms's fused CPU kernels (bert_ms.accel.fused)")
        if not all(self.optim_filter):
            raise ValueError("FusedAdamWeightDecay updates every parameter it is given: no parallel optimizer split")
        if any(p.dtype != ms.float32 for p in self._parameters):
            raise ValueError("FusedAdamWeightDecay needs float32 parameters")
        self._count = len(self._parameters)
        # 1 where a parameter decays, 0 where it does not: wd * flag is the decay the kernel applies
        self._decay_mask = ms.Tensor(np.array(self.decay_flags, np.float32))
        self._betas = ops.concat((self.beta1.reshape(1), self.beta2.reshape(1), self.eps.reshape(1)))

    def _per_parameter(self, value):
        """A float32 [k] vector of one hyper-parameter: per group (a tuple, one entry per parameter) or shared."""
        if isinstance(value, tuple):
            return ops.stack([ops.cast(v, ms.float32).reshape(()) for v in value])
        return ops.broadcast_to(ops.cast(value, ms.float32).reshape(1), (self._count,))

    def construct(self, gradients, scale=None):
        weight_decay = self.get_weight_decay()  # both read at the step before it advances, as the parent does
        lr = self.get_lr()
        self.assignadd(self.global_step, self.global_step_increase_tensor)
        s = ops.ones((1,), ms.float32) if scale is None else ops.cast(scale, ms.float32).reshape(1)
        hyper = ops.concat((self._betas, s, self._per_parameter(lr),
                            self._per_parameter(weight_decay) * self._decay_mask))
        return self._update(*self._parameters, *self.moments1, *self.moments2, *gradients, hyper)
