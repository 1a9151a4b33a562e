"""Data parallelism (数据并行) with ``msrun``: every worker holds the whole model, reads its own
shard of each global batch, and the gradients are averaged over workers before the update.

Launch (CPU, two worker processes on one machine; the same command runs on GPU and Ascend)::

    msrun --worker_num=2 --local_worker_num=2 --master_port=8118 --join=True --log_dir=msrun_logs \\
        python -m bert_ms pretrain --config mini --corpus sotu --vocab train --out runs/dp --steps 100

Multi-card machines: one worker per card, e.g. 8 GPUs or 8 Ascend NPUs on one host::

    msrun --worker_num=8 --local_worker_num=8 --master_port=8118 --join=True --log_dir=logs \\
        python -m bert_ms pretrain --device GPU ...        # or --device Ascend

Two hosts with 8 cards each: run on both ``--worker_num=16 --local_worker_num=8
--master_addr=<IP of host 0> --node_rank=<0 or 1>``. ``msrun`` sets the rank environment of
each worker; :func:`init` then calls ``mindspore.communication.init()`` (HCCL on Ascend,
NCCL on GPU, MindSpore's own gloo-like backend on CPU) and sets
``parallel_mode=DATA_PARALLEL, gradients_mean=True``.

How the :class:`bert_ms.train.trainer.Trainer` uses it: the global batch of ``batch_size`` examples is the
same on every worker (same seed, same order); worker ``r`` keeps rows ``[r*B/W, (r+1)*B/W)``;
``nn.DistributedGradReducer`` averages the gradients, so every worker makes the same update and
the result equals one process with the whole batch (for losses that are means over examples, and
without dropout, whose masks differ per worker). Only rank 0 writes checkpoints and logs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DistInfo:
    """This worker's place in the job."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


_CURRENT = DistInfo()


def launched_by_msrun() -> bool:
    """True inside a process started by ``msrun`` (it sets ``MS_WORKER_NUM`` and ``MS_ROLE``).

    ``msrun`` also runs the script once as the scheduler (``MS_ROLE=MS_SCHED``): that process must
    call ``init()`` too, which serves the cluster and does not return to train.
    """
    return "MS_WORKER_NUM" in os.environ and "MS_ROLE" in os.environ


def init() -> DistInfo:
    """Join the msrun job (if launched by msrun) and switch on data-parallel gradient averaging.

    Call after :func:`bert_ms.device.setup`. Outside msrun it does nothing and returns rank 0 of 1.
    """
    global _CURRENT
    if not launched_by_msrun():
        return _CURRENT
    import mindspore as ms
    from mindspore.communication import get_group_size, get_rank
    from mindspore.communication import init as comm_init

    comm_init()
    ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True)
    _CURRENT = DistInfo(rank=get_rank(), world_size=get_group_size())
    return _CURRENT


def current() -> DistInfo:
    """The DistInfo chosen by :func:`init` (rank 0 of 1 when not distributed)."""
    return _CURRENT


def shard_rows(batch: dict[str, np.ndarray], rank: int, world_size: int) -> dict[str, np.ndarray]:
    """Worker ``rank``'s rows of a global batch: the contiguous block ``[rank*B/W, (rank+1)*B/W)`` of every
    array (the same rows of each, so inputs and labels stay aligned). ``B`` must be divisible by ``W``."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not one of the {world_size} workers 0..{world_size - 1}")
    n = len(next(iter(batch.values())))
    if n % world_size:
        raise ValueError(f"a global batch of {n} rows does not split into {world_size} equal shards")
    per = n // world_size
    return {k: v[rank * per:(rank + 1) * per] for k, v in batch.items()}
