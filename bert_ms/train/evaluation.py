"""Evaluation (评估): a model's metrics on every example of a task's arrays.

:func:`evaluate` runs ``task.predict`` compiled, in inference mode, over in-order batches of one static
shape (:func:`eval_batches` pads the last batch and flags the padding rows ``_valid = 0``, so the metrics
count only real examples) and lets the task sum and finalize its metrics. :func:`trim_padding` first cuts
the sequence axis to the longest real example. The :class:`~bert_ms.train.trainer.Trainer` calls it for
its dev evaluations; the notebooks and ``bert-ms evaluate`` call it directly.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import mindspore as ms
import numpy as np

from bert_ms.runtime import device
from bert_ms.runtime.progress import steps as progress_steps


def eval_batches(arrays: dict[str, np.ndarray], batch_size: int) -> Iterator[dict[str, np.ndarray]]:
    """In-order batches over all examples; the last one is padded by repeating row 0 and flagged.

    The ``_valid`` key (1 for real rows, 0 for padding) keeps the shapes static while the metrics
    count only real examples.
    """
    n = len(next(iter(arrays.values())))
    for start in range(0, n, batch_size):
        idx = np.arange(start, min(start + batch_size, n))
        valid = np.ones(batch_size, np.float32)
        if len(idx) < batch_size:
            valid[len(idx):] = 0
            idx = np.concatenate([idx, np.zeros(batch_size - len(idx), dtype=idx.dtype)])
        batch = {k: v[idx] for k, v in arrays.items()}
        batch["_valid"] = valid
        yield batch


def to_inputs(task, batch: dict[str, np.ndarray]) -> tuple:
    """The task's input arrays of ``batch`` as MindSpore Tensors, in ``task.input_keys`` order."""
    missing = [k for k in task.input_keys if k not in batch]
    if missing:
        raise ValueError(f"task {task.name!r} needs batch keys {missing}; the batch has {sorted(batch)}")
    return tuple(ms.Tensor(np.ascontiguousarray(batch[k])) for k in task.input_keys)


EVAL_BATCH_MAX = 256  # rows per evaluation batch at most, whatever --batch-size says


def trim_padding(data: dict[str, np.ndarray], keys: Sequence[str]) -> dict[str, np.ndarray]:
    """``data`` with its sequence axis cut to the longest real example (by ``attention_mask``), rounded up to
    a power of two (at least 8) so that evaluations share a few compiled shapes; the ``keys`` are cut, the
    other arrays kept. Padding positions are masked out of attention, so the real positions' outputs are the
    same: only memory and time change."""
    mask = data.get("attention_mask")
    if mask is None or np.ndim(mask) != 2 or not keys or len(mask) == 0:
        return data
    full = mask.shape[1]
    real = np.asarray(mask).any(axis=0)
    longest = int(np.nonzero(real)[0].max()) + 1 if real.any() else 1
    cut = min(full, max(8, 1 << (longest - 1).bit_length()))
    if cut == full:
        return data
    return {k: (v[:, :cut] if k in keys and np.ndim(v) >= 2 and v.shape[1] == full else v) for k, v in data.items()}


def evaluate(model, task, data: dict[str, np.ndarray], batch_size: int = 64, progress: bool = True,
             _cache: dict | None = None) -> dict[str, float]:
    """Metrics of ``task`` over every example of ``data`` (model in inference mode, compiled in graph mode).

    ``task.predict(model, *inputs)`` gives outputs, ``task.batch_stats(outputs, batch)`` sums over the
    real rows (``batch["_valid"]``), and ``task.finalize(sums)`` turns sums into metrics (accuracy,
    F1, MLM accuracy, NSP accuracy, perplexity = exp(mean MLM loss) ... as the task defines). A step bar runs
    over the batches (more than one) unless ``progress=False``.
    """
    n_examples = len(next(iter(data.values())))
    # memory follows the data, not the flag: a batch larger than the data would only be padding rows. The cap is
    # the next power of two >= the number of examples, so small evaluations keep sharing one compiled shape, and
    # EVAL_BATCH_MAX rows (measured on CPU: 4.7 MB of RSS per row for BERT-tiny at 64 tokens, and no faster).
    batch_size = max(1, min(int(batch_size), EVAL_BATCH_MAX, 1 << max(0, (n_examples - 1).bit_length())))
    data = trim_padding(data, getattr(task, "sequence_keys", ()))  # and the padding follows the longest example
    cache = _cache if _cache is not None else {}
    if "fn" not in cache:
        def predict_step(*inputs):
            return task.predict(model, *inputs)

        cache["fn"] = device.jit(predict_step)
    fn = cache["fn"]
    was_training = model.training
    model.set_train(False)
    sums: dict[str, float] = {}
    n_batches = math.ceil(n_examples / batch_size)
    bar = progress_steps(n_batches, "eval", progress and n_batches > 1)
    try:
        for batch in eval_batches(data, batch_size):
            bar.update()
            out = fn(*to_inputs(task, batch))
            out = tuple(o.asnumpy() for o in (out if isinstance(out, tuple) else (out,)))
            for k, v in task.batch_stats(out, batch).items():
                sums[k] = sums.get(k, 0.0) + float(v)
    finally:
        bar.close()
        model.set_train(was_training)
    return task.finalize(sums)
