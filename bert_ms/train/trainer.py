"""The training engine (训练引擎): one :class:`Trainer` for the notebooks and the command line.

What one optimizer step does (BERT paper, Devlin et al. 2019, Sec. 3.1 and Appendix A.2):

1. for each of ``grad_accum_steps`` micro-batches (梯度累积): forward, loss, backward; the
   gradients are added up (each micro-batch loss is divided by the number of micro-batches, so
   accumulating 2 x B equals one batch of 2B for a loss that is a mean over examples);
2. under data parallelism (数据并行) the gradients are averaged over workers
   (``nn.DistributedGradReducer``);
3. mixed precision (混合精度): the loss was multiplied by a dynamic loss scale (动态损失缩放);
   the gradients are divided by it and, if any is inf/NaN, the update is skipped and the scale
   halves (``mindspore.amp.DynamicLossScaler`` / ``all_finite``);
4. gradients are clipped to global norm 1.0 (梯度裁剪; as in the BERT reference code);
5. AdamW (``mindspore.nn.AdamWeightDecay``; decoupled weight decay, Loshchilov & Hutter 2019) with
   weight decay 0.01 on weight matrices and none on LayerNorm weights and biases, and a learning
   rate that warms up linearly and then decays linearly (paper: "learning rate warmup over the first
   10,000 steps, and linear decay") or polynomially (:func:`lr_at`).

Adam's bias correction (Kingma & Ba 2015, Algorithm 1). ``mindspore.nn.AdamWeightDecay``, like the
BERT reference optimizer, leaves it out: its update is ``m / (sqrt(v) + eps)`` with the raw moments.
Early in training ``v`` (which forgets with beta2 = 0.999) is then underestimated, and the updates are
up to several times larger than Adam's: 3.2x at step 100, 1.6x at step 500, 1.3x at step 1000. In our
runs that stalled a post-LN BERT-tiny at lr 1e-3 and slowed it at 3e-4. With ``bias_correction=True``
(the default) the correction is folded into the learning rate, as the Adam paper suggests (end of
Sec. 2) and TensorFlow's and MindSpore's own ``nn.Adam`` do: ``lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)``.
The decoupled weight decay is divided by the same factor in step (a per-step weight decay), so it stays
exactly ``lr * weight_decay * w``; the one remaining difference from textbook Adam is that eps acts as
``eps * sqrt(1 - beta2^t)``. ``bias_correction=False`` reproduces the BERT reference optimizer exactly.

Departure from the paper, on purpose: the whole step (forward + backward + update) is one
function compiled by :func:`bert_ms.device.jit` in graph mode.

Exact resume (精确续训): the data order is a pure function of (``seed``, epoch), and the dropout
(随机失活) masks are a pure function of (``seed``, step, micro-batch, layer) through
:class:`bert_ms.train.dropout.SeededDropout`, which replaces every ``nn.Dropout`` of the model during
:meth:`Trainer.fit` and is swapped out again when ``fit()`` returns (MindSpore's CPU dropout kernel
keeps a hidden random state that ``ms.set_seed`` does not reset, so a resumed process would draw
different masks). ``ms.set_seed(seed + step)`` is also called before each step for any other
MindSpore randomness. Checkpoints (:mod:`bert_ms.train.checkpoint`) hold everything else.

Precision: the model decides it (bert_ms models are built with a compute dtype, ``dtype=`` or the
device switch's default); the Trainer reads it from the model's cells (:func:`model_precision`) and
adds the dynamic loss scale for fp16. ``Trainer(..., precision="fp16")`` says it explicitly.

Speed on CPU, on by default where ``make setup`` built them: the step uses the C++ kernels of
:mod:`bert_ms.accel` -- LayerNorm, GELU, the linear layers and the self-attention swapped into the model by
:func:`bert_ms.accel.accelerate` for the duration of ``fit()``, the seeded mask in one kernel instead of
~15 int64 ops per dropout layer, and the global gradient norm of step 4 in one call instead of a Square
and a ReduceSum per parameter tensor, and step 5 with clipping's scale in one call
(:class:`bert_ms.accel.optimizer.FusedAdamWeightDecay`, the same rule and state as ``nn.AdamWeightDecay``)
instead of a Mul and an AdamWeightDecay kernel per parameter tensor -- the same mask bit for bit and the
same numbers to float32 rounding, a BERT-mini step 2.7-3.5x faster than MindSpore's ops, by host (``bench/README.md``).
``TrainerConfig(fused=False)`` runs MindSpore's ops; ``fused=True`` also compiles the kernels if they
were never built. The default never compiles anything, so a run never waits for a compiler.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import mindspore as ms
import numpy as np
from mindspore import Parameter, ParameterTuple, nn, ops
from mindspore.amp import DynamicLossScaler, all_finite

from bert_ms import accel
from bert_ms.accel import fused as fused_kernels
from bert_ms.accel.optimizer import FusedAdamWeightDecay
from bert_ms.runtime import device
from bert_ms.runtime import distributed as dist_mod
from bert_ms.runtime.distributed import shard_rows
from bert_ms.runtime.progress import steps as progress_steps
from bert_ms.train import checkpoint as ckpt
from bert_ms.train.dropout import M31, SEED_PARAM, seed_parameter, seeded_dropouts, swap
from bert_ms.train.evaluation import evaluate, to_inputs

# ----------------------------------------------------------------------------------------------
# Learning-rate schedule: a pure function of the step
# ----------------------------------------------------------------------------------------------

DECAYS = ("linear", "poly", "constant", "cosine")


def lr_at(step: int, peak_lr: float, total_steps: int, warmup_steps: int, decay: str = "linear",
          end_lr: float = 0.0, power: float = 1.0) -> float:
    """Learning rate (学习率) used by optimizer step ``step`` (0-based).

    Warmup: ``peak * (step + 1) / warmup`` for ``step < warmup`` (so step 0 is not wasted at 0).
    Then, with ``t = (step - warmup) / (total - warmup)`` in [0, 1]:
    ``linear``: ``end + (peak - end) * (1 - t)``; ``poly``: ``end + (peak - end) * (1 - t) ** power``
    (the BERT reference ``polynomial_decay``); ``cosine``: half a cosine; ``constant``: ``peak``.
    Steps past ``total`` stay at the final value.
    """
    if decay not in DECAYS:
        raise ValueError(f"unknown lr decay {decay!r}; choose one of {', '.join(DECAYS)}")
    if total_steps <= 0 or warmup_steps < 0:
        raise ValueError(f"total_steps must be > 0 and warmup_steps >= 0, got {total_steps}, {warmup_steps}")
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    if decay == "constant":
        return peak_lr
    span = max(total_steps - warmup_steps, 1)
    t = min(max((step - warmup_steps) / span, 0.0), 1.0)
    if decay == "linear":
        frac = 1.0 - t
    elif decay == "poly":
        frac = (1.0 - t) ** power
    else:
        frac = 0.5 * (1.0 + math.cos(math.pi * t))
    return end_lr + (peak_lr - end_lr) * frac


def no_weight_decay(name: str, shape: tuple[int, ...]) -> bool:
    """True for LayerNorm weights and biases (and any other 1-D parameter), which get no decay."""
    low = name.lower()
    return len(shape) <= 1 or "bias" in low or "norm" in low or low.endswith(("gamma", "beta"))


# ----------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------


@dataclass
class TrainerConfig:
    """Every knob of :class:`Trainer`. ``total_steps`` counts optimizer steps (the schedule length)."""

    total_steps: int = 1000
    batch_size: int = 32               # examples per micro-batch, over all workers together
    grad_accum_steps: int = 1
    lr: float = 1e-4
    warmup_steps: int | None = None    # None: warmup_ratio * total_steps
    warmup_ratio: float = 0.1
    decay: str = "linear"
    end_lr: float = 0.0
    power: float = 1.0
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-6
    bias_correction: bool = True       # Adam's bias correction, folded into the learning rate (see above)
    seed: int = 0                      # data order, dropout masks and MindSpore seed all derive from it
    shuffle: bool = True
    loss_scale: str = "auto"           # "auto" (dynamic for fp16), "dynamic" or "none"
    init_loss_scale: float = 2.0 ** 16
    scale_window: int = 1000
    deterministic_dropout: bool = True
    fused: bool | None = None          # the fused C++ CPU kernels of bert_ms.accel: None = where built (see above)
    log_every: int = 10
    save_every: int = 0                # 0: only at the end (if out_dir is set)
    keep_checkpoints: int = 2
    eval_every: int = 0                # 0: evaluate on dev only at the end
    eval_batch_size: int | None = None
    patience: int | None = None        # early stopping (早停): evaluations without improvement
    progress: bool = True

    def warmup(self) -> int:
        return int(self.warmup_steps if self.warmup_steps is not None else round(self.warmup_ratio * self.total_steps))

    def lr_schedule(self) -> np.ndarray:
        """The learning rate of every optimizer step (one extra entry so the index never runs out)."""
        return np.array([lr_at(s, self.lr, self.total_steps, self.warmup(), self.decay, self.end_lr, self.power)
                         for s in range(self.total_steps + 1)], dtype=np.float32)

    def bias_correction_factors(self) -> np.ndarray:
        """Adam's ``sqrt(1 - beta2^t) / (1 - beta1^t)`` at update ``t = step + 1`` (all 1 without it)."""
        t = np.arange(1, self.total_steps + 2, dtype=np.float64)
        if not self.bias_correction:
            return np.ones_like(t)
        return np.sqrt(1.0 - self.beta2 ** t) / (1.0 - self.beta1 ** t)

    def optimizer_lr(self) -> np.ndarray:
        """What the optimizer is given: :meth:`lr_schedule` times :meth:`bias_correction_factors`."""
        return (self.lr_schedule().astype(np.float64) * self.bias_correction_factors()).astype(np.float32)

    def signature(self) -> dict[str, Any]:
        """Settings that must not change between a run and its resume (else the result differs)."""
        keys = ("total_steps", "batch_size", "grad_accum_steps", "lr", "decay", "end_lr", "power",
                "weight_decay", "clip_norm", "beta1", "beta2", "eps", "bias_correction", "seed", "shuffle")
        sig = {k: getattr(self, k) for k in keys}
        sig["warmup_steps"] = self.warmup()
        return sig


# ----------------------------------------------------------------------------------------------
# Data: batches whose order is a pure function of (seed, epoch)
# ----------------------------------------------------------------------------------------------


class ArrayBatches:
    """Batches of aligned NumPy arrays, reshuffled each epoch with ``default_rng([seed, epoch])``.

    The last incomplete batch is dropped so every step has the same static shape (Ascend needs it).
    """

    def __init__(self, arrays: dict[str, np.ndarray], batch_size: int, shuffle: bool = True, seed: int = 0):
        sizes = {k: len(v) for k, v in arrays.items()}
        if not arrays or len(set(sizes.values())) != 1:
            raise ValueError(f"arrays must be non-empty and of equal length, got {sizes}")
        self.arrays, self.batch_size, self.shuffle, self.seed = arrays, int(batch_size), shuffle, seed
        self.n = next(iter(sizes.values()))
        if self.n < self.batch_size:
            raise ValueError(f"only {self.n} examples for a batch of {self.batch_size}")

    def __len__(self) -> int:
        return self.n // self.batch_size

    def order(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.n)
        return np.random.default_rng([self.seed, epoch]).permutation(self.n)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[dict[str, np.ndarray]]:
        """Batches of ``epoch`` starting at batch ``start`` (resume skips without computing)."""
        order = self.order(epoch)
        for b in range(start, len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            yield {k: v[idx] for k, v in self.arrays.items()}


# ----------------------------------------------------------------------------------------------
# Deterministic dropout (the cells live in bert_ms.train.dropout)
# ----------------------------------------------------------------------------------------------


class TrainingDiverged(ValueError):
    """The loss or the gradient became NaN/inf without loss scaling: the step was not applied (one line)."""


def step_seed(seed: int, step: int, micro: int = 0, rank: int = 0) -> int:
    """The dropout seed of one micro-batch: a pure function of (seed, step, micro-batch, rank)."""
    return (seed * 1_000_003 + step * 4099 + micro * 131 + rank * 7) % M31


# ----------------------------------------------------------------------------------------------
# The compiled step
# ----------------------------------------------------------------------------------------------


class _PerStepWeightDecay(nn.Cell):
    """A weight decay that changes with the optimizer's step: ``table[global_step]``."""

    def __init__(self, table: np.ndarray):
        super().__init__()
        self.table = ms.Tensor(np.asarray(table, np.float32))

    def construct(self, global_step):
        return ops.gather(self.table, global_step, 0)


def build_optimizer(model, cfg: TrainerConfig, fused: bool = False):
    """AdamWeightDecay with two groups (decay / no decay) and the warmup-then-decay schedule. ``fused``: the
    same optimizer with its update in one C++ call (:class:`bert_ms.accel.optimizer.FusedAdamWeightDecay`,
    where the fused kernels are on)."""
    params = [p for p in model.trainable_params() if p.name != SEED_PARAM]
    decay = [p for p in params if not no_weight_decay(p.name, tuple(p.shape))]
    plain = [p for p in params if no_weight_decay(p.name, tuple(p.shape))]
    groups = []
    if decay:
        wd = cfg.weight_decay
        if cfg.bias_correction and wd > 0:  # keep the decay at lr * wd * w although lr carries the correction
            wd = _PerStepWeightDecay(cfg.weight_decay / cfg.bias_correction_factors())
        groups.append({"params": decay, "weight_decay": wd})
    if plain:
        groups.append({"params": plain, "weight_decay": 0.0})
    groups.append({"order_params": params})
    lr = ms.Tensor(cfg.optimizer_lr())
    fused = fused and all(p.dtype == ms.float32 for p in params)
    optimizer = FusedAdamWeightDecay if fused else nn.AdamWeightDecay
    return optimizer(groups, learning_rate=lr, beta1=cfg.beta1, beta2=cfg.beta2, eps=cfg.eps)


def model_precision(model) -> str:
    """What ``model`` computes in, from the ``compute_dtype`` its cells were built with (bert_ms's
    ``BertModel``, ``Linear``, ...): "fp16" or "bf16" if any cell computes in it, else "fp32" (also for
    plain MindSpore cells, which compute in their float32 parameters' dtype)."""
    found = {device.precision_of(cell.compute_dtype) for _, cell in model.cells_and_names()
             if getattr(cell, "compute_dtype", None) is not None}
    return next((p for p in ("fp16", "bf16") if p in found), "fp32")


class TrainStep:
    """Forward + backward + (accumulate | all-reduce, unscale, finite check, clip, AdamW update).

    With ``grad_accum_steps == 1`` the whole step is one compiled function. With accumulation,
    :meth:`micro` (compiled) adds scaled gradients into buffers and :meth:`apply` (compiled) updates.
    Both return plain floats / bools to the Python loop. ``sum_of_squares``: a fused kernel for the
    squared global gradient norm (:func:`bert_ms.accel.fused.sum_of_squares`), or None for the ops.
    """

    def __init__(self, model, task, optimizer, cfg: TrainerConfig, precision: str = "fp32",
                 world_size: int = 1, sum_of_squares=None):
        self.model, self.task, self.optimizer, self.cfg = model, task, optimizer, cfg
        self.accum = int(cfg.grad_accum_steps)
        if self.accum < 1:
            raise ValueError(f"grad_accum_steps must be >= 1, got {cfg.grad_accum_steps}")
        params = optimizer.parameters
        mode = cfg.loss_scale
        if mode not in ("auto", "dynamic", "none"):
            raise ValueError(f"loss_scale must be auto, dynamic or none, got {mode!r}")
        use_scaler = mode == "dynamic" or (mode == "auto" and precision == "fp16")
        self.scaler = DynamicLossScaler(cfg.init_loss_scale, 2, cfg.scale_window) if use_scaler else None
        scaler = self.scaler
        reducer = nn.DistributedGradReducer(params, mean=True, degree=world_size) if world_size > 1 else None
        allreduce = ops.AllReduce() if world_size > 1 else None
        inv_accum = 1.0 / self.accum
        clip = float(cfg.clip_norm)
        clip_t = ms.Tensor(clip, ms.float32)  # gradients are float32: parameters are fp32 master weights
        sum_sq = sum_of_squares  # None: the ops below
        fused_update = isinstance(optimizer, FusedAdamWeightDecay)

        def forward(*inputs):
            loss = task.loss(model, *inputs)
            scaled = loss * inv_accum
            if scaler is not None:
                scaled = scaled * scaler.scale_value
            return scaled, loss

        grad_fn = ms.value_and_grad(forward, None, params, has_aux=True)

        if scaler is not None:
            def is_finite(grads, norm):
                return all_finite(grads)
        else:
            def is_finite(grads, norm):  # a NaN/inf in any gradient makes the norm non-finite: never apply it
                return ops.isfinite(norm)

        def update(grads):
            if reducer is not None:
                grads = reducer(grads)
            if scaler is not None:
                grads = scaler.unscale(grads)
            if sum_sq is not None:  # one fused C++ call on CPU (bert_ms.accel), the same sum
                norm = ops.sqrt(sum_sq(*grads)).reshape(())
            else:
                norm = ops.sqrt(ops.addn([ops.sum(ops.square(g)) for g in grads]))
            finite = is_finite(grads, norm)
            factor = clip_t / ops.maximum(norm, clip_t) if clip > 0 else None
            if factor is not None and not fused_update:
                grads = tuple(g * factor for g in grads)
            if finite:
                if fused_update:  # clipping's scale is applied inside the one fused update
                    optimizer(grads, factor)
                else:
                    optimizer(grads)
            if scaler is not None:
                scaler.adjust(finite)
            return norm, finite

        def mean_loss(loss):
            return allreduce(loss) / world_size if allreduce is not None else loss

        if self.accum == 1:
            def full_step(*inputs):
                (_, loss), grads = grad_fn(*inputs)
                norm, finite = update(grads)
                return mean_loss(loss), norm, finite

            self._full = device.jit(full_step)
        else:
            self.buffers = ParameterTuple([Parameter(ms.Tensor(np.zeros(p.shape, np.float32)), name="accum." + p.name,
                                                     requires_grad=False) for p in params])
            buffers = self.buffers

            def micro_step(*inputs):
                (_, loss), grads = grad_fn(*inputs)
                for b, g in zip(buffers, grads):
                    ops.assign_add(b, g)
                return mean_loss(loss)

            def apply_step():
                grads = tuple(b + 0.0 for b in buffers)
                norm, finite = update(grads)
                for b in buffers:
                    ops.assign(b, ops.zeros_like(b))
                return norm, finite

            self._micro = device.jit(micro_step)
            self._apply = device.jit(apply_step)

    def run(self, micro_batches: list[tuple], set_seed: Callable[[int], None]) -> tuple[float, float, bool]:
        """One optimizer step over ``micro_batches`` (tuples of Tensors). Returns (loss, grad norm, updated)."""
        if len(micro_batches) != self.accum:
            raise ValueError(f"expected {self.accum} micro-batches, got {len(micro_batches)}")
        if self.accum == 1:
            set_seed(0)
            loss, norm, finite = self._full(*micro_batches[0])
            return float(loss.asnumpy()), float(norm.asnumpy()), bool(finite.asnumpy())
        total = 0.0
        for m, inputs in enumerate(micro_batches):
            set_seed(m)
            total += float(self._micro(*inputs).asnumpy())
        norm, finite = self._apply()
        return total / self.accum, float(norm.asnumpy()), bool(finite.asnumpy())

    @property
    def loss_scale(self) -> float:
        return float(self.scaler.scale_value.asnumpy()) if self.scaler is not None else 1.0


# ----------------------------------------------------------------------------------------------
# The Trainer
# ----------------------------------------------------------------------------------------------


@dataclass
class TrainState:
    """Where training stands: optimizer steps done and the data position of the next batch."""

    step: int = 0
    epoch: int = 0
    batch_index: int = 0
    best: float | None = None
    best_step: int | None = None
    bad_evals: int = 0
    stopped_early: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)


class Trainer:
    """Train any ``nn.Cell`` through a task (batch dict of NumPy arrays -> loss and metrics).

    ``train_data`` is a dict of aligned NumPy arrays (shuffled per epoch with the seed) or an object
    with ``__len__`` and ``epoch(epoch, start) -> iterator of batch dicts`` that is a pure function of
    its arguments. ``out_dir`` receives ``metrics.jsonl`` (one JSON line per log step and per
    evaluation) and ``checkpoints/``. Only rank 0 writes under data parallelism. ``precision``
    ("fp32" / "fp16" / "bf16" or a MindSpore dtype): what the model computes in; default: read from
    the model (:func:`model_precision`). It turns the fp16 loss scale on.
    """

    def __init__(self, model, task, train_data, cfg: TrainerConfig | None = None, dev_data=None,
                 out_dir: str | os.PathLike | None = None, dist=None, precision=None):
        self.model, self.task, self.cfg = model, task, cfg or TrainerConfig()
        self.dev_data, self.out_dir = dev_data, Path(out_dir) if out_dir else None
        self.dist = dist or dist_mod.current()
        self.precision = model_precision(model) if precision is None else device.precision_of(precision)
        if self.cfg.batch_size % self.dist.world_size:
            raise ValueError(f"batch_size {self.cfg.batch_size} is not divisible by {self.dist.world_size} workers")
        if isinstance(train_data, dict):
            train_data = ArrayBatches(train_data, self.cfg.batch_size, self.cfg.shuffle, self.cfg.seed)
        self.data = train_data
        if len(self.data) < 1:
            raise ValueError("training data has no complete batch")
        self.state = TrainState()
        # Mixed precision is the model's business (it keeps fp32 master weights and computes in its own
        # dtype); the Trainer adds the dynamic loss scale for fp16.
        # The C++ kernels: fused=None (default) where make setup built them (never compiled here); fused=True
        # builds them if missing (else one warning and the ops); fused=False: MindSpore's ops.
        self._build_kernels = self.cfg.fused is True
        use_fused = (self.cfg.fused is not False) and fused_kernels.available(build=self._build_kernels)
        # Seeded dropout cells replace the model's nn.Dropout during fit() only, made once here; outside
        # fit() the model is the caller's own again (so save_pretrained and eager calls see no training state).
        self._seed_param = seed_parameter() if self.cfg.deterministic_dropout else None
        self._dropouts = (seeded_dropouts(model, self._seed_param, fused_kernels.dropout() if use_fused else None)
                          if self._seed_param is not None else [])
        self._accelerate = use_fused
        self.optimizer = build_optimizer(model, self.cfg, fused=use_fused)
        self.step_fn = TrainStep(model, task, self.optimizer, self.cfg, self.precision, self.dist.world_size,
                                 sum_of_squares=fused_kernels.sum_of_squares() if use_fused else None)
        self._eval_cache: dict = {}

    # -- state that goes into checkpoints ---------------------------------------------------------
    def _model_params(self):
        return [(p.name, p) for p in self.model.get_parameters() if p.name != SEED_PARAM]

    def _optim_params(self):
        opt = self.optimizer
        items = [("global_step", opt.global_step)]
        items += [(p.name, p) for p in opt.moments1] + [(p.name, p) for p in opt.moments2]
        if self.step_fn.scaler is not None:
            items += [("scale_value", self.step_fn.scaler.scale_value), ("scale_counter", self.step_fn.scaler.counter)]
        return items

    def checkpoint_dir(self) -> Path | None:
        return self.out_dir / "checkpoints" if self.out_dir else None

    def save_checkpoint(self) -> Path | None:
        """Write a checkpoint of the current step (rank 0 only); returns its sidecar path."""
        if not self.dist.is_main or self.out_dir is None:
            return None
        tensors = {"model/" + n: p.asnumpy() for n, p in self._model_params()}
        tensors.update({"optim/" + n: p.asnumpy() for n, p in self._optim_params()})
        s = self.state
        state = {"epoch": s.epoch, "batch_index": s.batch_index, "data_seed": self.cfg.seed, "seed": self.cfg.seed,
                 "rng": ckpt.rng_state(), "signature": self.cfg.signature(), "task": self.task.name,
                 "world_size": self.dist.world_size, "precision": self.precision,
                 "extra": {"best": s.best, "best_step": s.best_step, "bad_evals": s.bad_evals,
                           "stopped_early": s.stopped_early},
                 "trainer_config": asdict(self.cfg)}
        return ckpt.save(self.checkpoint_dir(), s.step, tensors, state, keep=self.cfg.keep_checkpoints)

    def load_checkpoint(self, path: str | os.PathLike) -> int:
        """Restore everything from a checkpoint sidecar (or the newest good one in a folder)."""
        path = Path(path)
        if path.is_dir():
            found = ckpt.latest(path if path.name == "checkpoints" else path / "checkpoints")
            if found is None:
                raise ckpt.CheckpointError(f"no valid checkpoint in {path}")
            path = found
        c = ckpt.load(path)
        sig = c.state.get("signature", {})
        diff = {k: (sig.get(k), v) for k, v in self.cfg.signature().items() if sig.get(k) != v}
        if diff:
            raise ckpt.CheckpointError(f"checkpoint {path} was made with other settings (checkpoint vs now): {diff}")
        if c.state.get("task") != self.task.name:
            raise ckpt.CheckpointError(f"checkpoint {path} is for task {c.state.get('task')!r}, not {self.task.name!r}")
        model_p, optim_p = dict(self._model_params()), dict(self._optim_params())
        ckpt.check_compatible({n: tuple(p.shape) for n, p in model_p.items()}, c.group("model"), "model", path)
        ckpt.check_compatible({n: tuple(p.shape) for n, p in optim_p.items()}, c.group("optim"), "optimizer", path)
        for group, params in (("model", model_p), ("optim", optim_p)):
            for n, arr in c.group(group).items():
                # in place (not set_data): graphs compiled earlier keep reading this parameter's memory
                ops.assign(params[n], ms.Tensor(arr.reshape(params[n].shape), dtype=params[n].dtype))
        st = c.state
        extra = st.get("extra", {})
        self.state = TrainState(step=c.step, epoch=st["epoch"], batch_index=st["batch_index"],
                                best=extra.get("best"), best_step=extra.get("best_step"),
                                bad_evals=extra.get("bad_evals", 0), stopped_early=extra.get("stopped_early", False))
        ckpt.set_rng_state(st["rng"])
        self._trim_log(c.step)
        return c.step

    # -- logging ----------------------------------------------------------------------------------
    def _log_path(self) -> Path | None:
        return self.out_dir / "metrics.jsonl" if self.out_dir else None

    def log(self, record: dict[str, Any]) -> None:
        self.state.history.append(record)
        path = self._log_path()
        if path is not None and self.dist.is_main:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a") as f:
                f.write(json.dumps(record) + "\n")

    def _trim_log(self, step: int) -> None:
        """After a resume, drop log lines written after the checkpoint (they will be written again)."""
        path = self._log_path()
        if path is None or not path.exists() or not self.dist.is_main:
            return
        keep = []
        for line in path.read_text().splitlines():
            try:
                if json.loads(line).get("step", 0) <= step:
                    keep.append(line)
            except json.JSONDecodeError:
                continue  # a line cut by a crash
        ckpt.atomic_write_bytes(path, ("\n".join(keep) + "\n" if keep else "").encode())

    # -- the loop ---------------------------------------------------------------------------------
    def _stream(self) -> Iterator[tuple[int, int, dict[str, np.ndarray]]]:
        """(epoch, index of the next batch, batch) from the current data position onwards."""
        epoch, start = self.state.epoch, self.state.batch_index
        while True:
            for i, batch in enumerate(self.data.epoch(epoch, start), start=start):
                yield epoch, i + 1, batch
            epoch, start = epoch + 1, 0

    def _shard(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.dist.world_size == 1:
            return batch
        return shard_rows(batch, self.dist.rank, self.dist.world_size)

    def _set_seed(self, micro: int) -> None:
        seed = step_seed(self.cfg.seed, self.state.step, micro, self.dist.rank)
        ms.set_seed(seed)
        if self._seed_param is not None:
            ops.assign(self._seed_param, ms.Tensor(seed, ms.int64))  # in place: compiled graphs see it

    @property
    def _progress(self) -> bool:
        """Whether this process draws progress bars: asked for, and the main worker (one bar per run)."""
        return self.cfg.progress and self.dist.is_main

    def _evaluate_dev(self) -> dict[str, float]:
        bs = self.cfg.eval_batch_size or self.cfg.batch_size
        metrics = evaluate(self.model, self.task, self.dev_data, bs, progress=self._progress, _cache=self._eval_cache)
        s = self.state
        key, mode = self.task.monitor
        value = metrics[key]
        better = s.best is None or (value > s.best if mode == "max" else value < s.best)
        if better:
            s.best, s.best_step, s.bad_evals = value, s.step, 0
        else:
            s.bad_evals += 1
        self.log({"step": s.step, "split": "dev", **metrics})
        return metrics

    def fit(self, until_step: int | None = None, resume: str | os.PathLike | bool | None = None) -> TrainState:
        """Train until ``until_step`` (default ``total_steps``) or early stopping; return the state.

        ``resume=True`` continues from the newest good checkpoint in ``out_dir`` (if there is one);
        a path resumes from that checkpoint. ``until_step < total_steps`` stops early on purpose
        (the schedule still spans ``total_steps``), which is how a crash is simulated in the tests.
        """
        cfg = self.cfg
        if resume:
            where = self.checkpoint_dir() if resume is True else resume
            if where is not None and (resume is not True or ckpt.latest(where) is not None):
                step = self.load_checkpoint(where)
                if self.dist.is_main:
                    print(f"[bert_ms] resumed from step {step} ({where})")
        stop = min(until_step if until_step is not None else cfg.total_steps, cfg.total_steps)
        first_step = self.state.step
        bar = progress_steps(stop, f"train {self.task.name}", self._progress, initial=self.state.step)
        stream = self._stream()
        t_last, ex_since, tok_since, loss_since, n_since = time.perf_counter(), 0, 0, 0.0, 0
        # for the duration of fit(): the seeded dropout and (fused=True) the fused GELU / LayerNorm cells
        undo = swap(self._dropouts)
        accelerated = accel.accelerate(self.model, build=self._build_kernels) if self._accelerate else []
        self.model.set_train(True)  # after the swaps, so the cells swapped in train too
        try:
            while self.state.step < stop and not self.state.stopped_early:
                micro, position = [], None
                for _ in range(self.step_fn.accum):
                    epoch, nxt, batch = next(stream)
                    position = (epoch, nxt)
                    local = self._shard(batch)
                    micro.append(to_inputs(self.task, local))
                    ex_since += len(next(iter(batch.values())))
                    tok_since += int(self.task.tokens(batch))
                loss, norm, updated = self.step_fn.run(micro, self._set_seed)
                if not updated and self.step_fn.scaler is None:
                    raise TrainingDiverged(
                        f"step {self.state.step + 1}: the loss ({loss:.4g}) or the gradient (norm {norm:.4g}) is not "
                        f"finite, so the update was not applied and training stopped; the weights are those of step "
                        f"{self.state.step} (the last checkpoint is kept). Likely cause: the learning rate "
                        f"({cfg.lr:g}) is too high; lower it, or train in fp16 with loss scaling")
                s = self.state
                s.step += 1
                s.epoch, s.batch_index = position
                if s.batch_index >= len(self.data):
                    s.epoch, s.batch_index = s.epoch + 1, 0
                loss_since += loss
                n_since += 1
                bar.update()
                if s.step % cfg.log_every == 0 or s.step == stop:
                    dt = max(time.perf_counter() - t_last, 1e-9)
                    done = int(self.optimizer.global_step.asnumpy().reshape(-1)[0])  # updates made so far
                    lr = lr_at(max(done - 1, 0), cfg.lr, cfg.total_steps, cfg.warmup(), cfg.decay, cfg.end_lr,
                               cfg.power)
                    rec = {"step": s.step, "epoch": s.epoch, "loss": loss_since / n_since, "last_loss": loss,
                           "lr": lr, "grad_norm": norm, "updated": updated, "loss_scale": self.step_fn.loss_scale,
                           "examples_per_s": ex_since / dt, "tokens_per_s": tok_since / dt}
                    self.log(rec)
                    bar.postfix(loss=f"{rec['loss']:.4f}", tok_s=f"{rec['tokens_per_s']:.0f}")
                    t_last, ex_since, tok_since, loss_since, n_since = time.perf_counter(), 0, 0, 0.0, 0
                else:
                    s.history.append({"step": s.step, "last_loss": loss})
                if self.dev_data is not None and cfg.eval_every and s.step % cfg.eval_every == 0:
                    self._evaluate_dev()
                    if cfg.patience is not None and s.bad_evals >= cfg.patience:
                        s.stopped_early = True
                    t_last = time.perf_counter()
                if cfg.save_every and s.step % cfg.save_every == 0:
                    self.save_checkpoint()
        finally:
            accel.restore(self.model, accelerated)
            self._dropouts = swap(undo)
            bar.close()
        s = self.state
        if self.out_dir is not None and (s.step == stop or s.stopped_early):
            self.save_checkpoint()  # before the final evaluation, so a failure there loses no training
        if self.dev_data is not None and not cfg.eval_every and s.step == stop and s.step > first_step:
            self._evaluate_dev()
        return s

    def evaluate(self, data: dict[str, np.ndarray], batch_size: int | None = None) -> dict[str, float]:
        """The task's metrics on ``data`` with the current weights (see :func:`evaluate`)."""
        return evaluate(self.model, self.task, data, batch_size or self.cfg.eval_batch_size or self.cfg.batch_size,
                        progress=self._progress, _cache=self._eval_cache)

    def losses(self) -> list[tuple[int, float]]:
        """(step, loss of that step) for every step run in this process."""
        return [(h["step"], h["last_loss"]) for h in self.state.history if "last_loss" in h]


def read_log(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` file (what the notebooks plot)."""
    out = []
    for line in Path(path).read_text().splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out
