"""Solutions to the exercises of lesson 10 (notebooks/10_pretraining_at_scale.py), and typical wrong answers.

Open this file after you have tried: each exercise's check (``bert_ms.exercises.check``) tells you
whether your own answer is right. ``tests/test_exercises.py`` runs every solution through its check
and proves that each wrong answer below is rejected with a message naming the mistake.
"""

import numpy as np


# Exercise 10.1 ---- a worker's shard of the global batch (contiguous rows, as the Trainer cuts it)
def shard(batch, rank, world_size):
    per = len(next(iter(batch.values()))) // world_size
    return {key: rows[rank * per:(rank + 1) * per] for key, rows in batch.items()}


def shard_strided(batch, rank, world_size):
    return {key: rows[rank::world_size] for key, rows in batch.items()}


def shard_same_rows_everywhere(batch, rank, world_size):
    per = len(next(iter(batch.values()))) // world_size
    return {key: rows[:per] for key, rows in batch.items()}


def shard_inputs_only(batch, rank, world_size):
    per = len(batch["input_ids"]) // world_size
    return {key: rows[rank * per:(rank + 1) * per] if key == "input_ids" else rows for key, rows in batch.items()}


# Exercise 10.2 ---- the all-reduce mean: for each parameter, the mean of the workers' gradients
def allreduce_mean(worker_grads):
    return [sum(grads) / len(grads) for grads in zip(*worker_grads)]  # zip(*...): parameter by parameter


def allreduce_sum(worker_grads):
    return [sum(grads) for grads in zip(*worker_grads)]


def allreduce_first_worker(worker_grads):
    return [np.array(g) for g in worker_grads[0]]


# Exercise 10.3 ---- accumulation: the mean loss over all examples, so weight each micro-batch by its size
def accumulate(micro_grads, sizes):
    total = sum(sizes)
    return [sum(n * g for n, g in zip(sizes, grads)) / total for grads in zip(*micro_grads)]


def accumulate_plain_mean(micro_grads, sizes):
    return [sum(grads) / len(grads) for grads in zip(*micro_grads)]


def accumulate_plain_sum(micro_grads, sizes):
    return [sum(grads) for grads in zip(*micro_grads)]


# Exercise 10.4 ---- one step of dynamic loss scaling (mindspore.amp.DynamicLossScaler.adjust)
def loss_scale_update(scale, counter, finite, factor, window):
    if not finite:
        return max(1.0, scale / factor), 0, False  # skip the step, halve the scale, start counting again
    if counter + 1 == window:
        return scale * factor, 0, True  # window clean steps in a row: try a larger scale
    return scale, counter + 1, True


def loss_scale_applies_overflow(scale, counter, finite, factor, window):
    if not finite:
        return max(1.0, scale / factor), 0, True
    if counter + 1 == window:
        return scale * factor, 0, True
    return scale, counter + 1, True


def loss_scale_no_floor(scale, counter, finite, factor, window):
    if not finite:
        return scale / factor, 0, False
    if counter + 1 == window:
        return scale * factor, 0, True
    return scale, counter + 1, True


def loss_scale_grows_late(scale, counter, finite, factor, window):
    if not finite:
        return max(1.0, scale / factor), 0, False
    if counter == window:
        return scale * factor, 0, True
    return scale, counter + 1, True


def loss_scale_keeps_counting(scale, counter, finite, factor, window):
    if not finite:
        return max(1.0, scale / factor), counter, False
    if counter + 1 >= window:
        return scale * factor, 0, True
    return scale, counter + 1, True


SOLUTIONS = {
    "shard": shard,
    "allreduce_mean": allreduce_mean,
    "accumulate": accumulate,
    "loss_scale_update": loss_scale_update,
}

WRONG = {
    "shard": [(shard_strided, "contiguous block"), (shard_same_rows_everywhere, "every worker gets the first"),
              (shard_inputs_only, "every array must be cut")],
    "allreduce_mean": [(allreduce_sum, "the SUM over"), (allreduce_first_worker, "gradient alone")],
    "accumulate": [(accumulate_plain_mean, "counted equally"), (accumulate_plain_sum, "only added up")],
    "loss_scale_update": [(loss_scale_applies_overflow, "skip it"), (loss_scale_no_floor, "below 1"),
                          (loss_scale_grows_late, "not grown"), (loss_scale_keeps_counting, "starts again from 0")],
}
