"""Adversarial suite for lesson 10's checks (bert_ms/exercises/lesson10.py): for every check, typical
mistakes are rejected on every one of 20 runs with a message naming the mistake, and correct answers
in other styles are accepted on every one of 20 runs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import mindspore as ms
import numpy as np
import pytest
from adversarial import accepted_every_run, rejected_every_run

from bert_ms.exercises import check

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("solutions_10_adv", ROOT / "solutions" / "10_pretraining_at_scale.py")
SOL = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(SOL)


# --- Exercise 10.1: shard ---------------------------------------------------------------------------

def shard_array_split(batch, rank, world_size):
    return {k: np.array_split(v, world_size)[rank] for k, v in batch.items()}


def shard_reshape(batch, rank, world_size):
    return {k: v.reshape(world_size, -1, *v.shape[1:])[rank] for k, v in batch.items()}


def shard_index_list(batch, rank, world_size):
    n = len(batch["labels"])
    idx = [i for i in range(n) if i * world_size // n == rank]
    return {k: v[idx] for k, v in batch.items()}


def shard_tensors(batch, rank, world_size):
    per = len(batch["labels"]) // world_size
    return {k: ms.Tensor(v[rank * per:(rank + 1) * per]) for k, v in batch.items()}


def shard_blocks_of_w(batch, rank, world_size):
    return {k: v[rank * world_size:(rank + 1) * world_size] for k, v in batch.items()}


def shard_shifted(batch, rank, world_size):
    per = len(batch["labels"]) // world_size
    return {k: v[rank * per + 1:(rank + 1) * per + 1] if rank < world_size - 1 else v[rank * per:] for k, v in batch.items()}


def shard_overlapping(batch, rank, world_size):
    per = len(batch["labels"]) // world_size
    start = max(rank * per - 1, 0)
    return {k: v[start:start + per] for k, v in batch.items()}


def shard_per_worker_shuffle(batch, rank, world_size):
    per = len(batch["labels"]) // world_size
    order = np.random.default_rng(rank).permutation(len(batch["labels"]))[:per]
    return {k: v[order] for k, v in batch.items()}


def shard_labels_unshuffled(batch, rank, world_size):
    per = len(batch["labels"]) // world_size
    out = {k: v[rank * per:(rank + 1) * per] for k, v in batch.items()}
    out["labels"] = batch["labels"][:per]
    return out


def shard_reversed(batch, rank, world_size):
    per = len(batch["labels"]) // world_size
    return {k: v[rank * per:(rank + 1) * per][::-1] for k, v in batch.items()}


def shard_last_block_first(batch, rank, world_size):
    per = len(batch["labels"]) // world_size
    r = world_size - 1 - rank
    return {k: v[r * per:(r + 1) * per] for k, v in batch.items()}


def shard_one_key(batch, rank, world_size):
    per = len(batch["labels"]) // world_size
    return {"input_ids": batch["input_ids"][rank * per:(rank + 1) * per]}


@pytest.mark.parametrize("answer", [SOL.shard, shard_array_split, shard_reshape, shard_index_list, shard_tensors])
def test_shard_accepts_correct_styles(answer):
    accepted_every_run(check.shard, answer)


@pytest.mark.parametrize(("answer", "words"), [
    (SOL.shard_strided, "contiguous block"),
    (SOL.shard_same_rows_everywhere, "every worker gets the first"),
    (SOL.shard_inputs_only, "every array must be cut"),
    (shard_blocks_of_w, "blocks of W"),
    (shard_shifted, "shifted by one row"),
    (shard_overlapping, "must not overlap"),
    (shard_per_worker_shuffle, None),
    (shard_labels_unshuffled, "same rows of every array"),
    (shard_reversed, "another order"),
    (shard_last_block_first, "rank r"),
    (shard_one_key, "every key"),
])
def test_shard_rejects_typical_mistakes(answer, words):
    rejected_every_run(check.shard, answer, words)


# --- Exercise 10.2: allreduce_mean ------------------------------------------------------------------

def mean_numpy_stack(worker_grads):
    return [np.mean(np.stack(g), axis=0) for g in zip(*worker_grads)]


def mean_loop(worker_grads):
    out = [np.zeros_like(g) for g in worker_grads[0]]
    for grads in worker_grads:
        for i, g in enumerate(grads):
            out[i] += g / len(worker_grads)
    return out


def mean_in_place(worker_grads):  # what a real all-reduce does: the result lands in the workers' own buffers
    for i in range(len(worker_grads[0])):
        total = sum(w[i] for w in worker_grads)
        for w in worker_grads:
            w[i][...] = total / len(worker_grads)
    return worker_grads[0]


def mean_mindspore(worker_grads):
    return [ms.ops.stack([ms.Tensor(x, ms.float64) for x in g]).mean(0) for g in zip(*worker_grads)]


def mean_tuple(worker_grads):
    return tuple(sum(g) / len(g) for g in zip(*worker_grads))


def mean_over_params(worker_grads):
    return [sum(g) / len(worker_grads[0]) for g in zip(*worker_grads)]


def mean_per_worker(worker_grads):
    return [np.mean(np.concatenate([g.ravel() for g in w])) for w in worker_grads]


def mean_scalar_per_param(worker_grads):
    return [np.mean(np.stack(g)) for g in zip(*worker_grads)]


def mean_last_worker(worker_grads):
    return list(worker_grads[-1])


def mean_wrong_axis(worker_grads):
    return [np.stack(g).mean(axis=1) for g in zip(*worker_grads)]


def mean_of_first_two(worker_grads):
    return [(g[0] + g[1]) / 2 for g in zip(*worker_grads)]


@pytest.mark.parametrize("answer", [SOL.allreduce_mean, mean_numpy_stack, mean_loop, mean_in_place, mean_mindspore,
                                    mean_tuple])
def test_allreduce_mean_accepts_correct_styles(answer):
    accepted_every_run(check.allreduce_mean, answer)


@pytest.mark.parametrize(("answer", "words"), [
    (SOL.allreduce_sum, "the SUM over"),
    (SOL.allreduce_first_worker, "worker 0's gradient alone"),
    (mean_last_worker, "gradient alone"),
    (mean_over_params, "number of parameters"),
    (mean_per_worker, "one array per WORKER"),
    (mean_scalar_per_param, "not over the workers"),
    (mean_wrong_axis, "keeps its shape"),
    (mean_of_first_two, None),
])
def test_allreduce_mean_rejects_typical_mistakes(answer, words):
    rejected_every_run(check.allreduce_mean, answer, words)


# --- Exercise 10.3: accumulate ----------------------------------------------------------------------

def accumulate_numpy(micro_grads, sizes):
    w = np.asarray(sizes, float) / sum(sizes)
    return [np.tensordot(w, np.stack(g), axes=1) for g in zip(*micro_grads)]


def accumulate_running_mean(micro_grads, sizes):
    out, seen = None, 0
    for grads, n in zip(micro_grads, sizes):
        seen += n
        out = list(grads) if out is None else [o + (g - o) * n / seen for o, g in zip(out, grads)]
    return out


def accumulate_sum_of_sums(micro_grads, sizes):  # sizes times the mean gives each micro-batch's sum
    sums = [sum(n * g for n, g in zip(sizes, grads)) for grads in zip(*micro_grads)]
    return [s / sum(sizes) for s in sums]


def accumulate_weighted_not_divided(micro_grads, sizes):
    return [sum(n * g for n, g in zip(sizes, grads)) for grads in zip(*micro_grads)]


def accumulate_weighted_over_k(micro_grads, sizes):
    return [sum(n * g for n, g in zip(sizes, grads)) / len(sizes) for grads in zip(*micro_grads)]


def accumulate_last(micro_grads, sizes):
    return list(micro_grads[-1])


def accumulate_inverse_weights(micro_grads, sizes):
    w = [1 / n for n in sizes]
    return [sum(x * g for x, g in zip(w, grads)) / sum(w) for grads in zip(*micro_grads)]


@pytest.mark.parametrize("answer", [SOL.accumulate, accumulate_numpy, accumulate_running_mean, accumulate_sum_of_sums])
def test_accumulate_accepts_correct_styles(answer):
    accepted_every_run(check.accumulate, answer)


@pytest.mark.parametrize(("answer", "words"), [
    (SOL.accumulate_plain_mean, "counted equally"),
    (SOL.accumulate_plain_sum, "only added up"),
    (accumulate_weighted_not_divided, "not divided by the total"),
    (accumulate_weighted_over_k, "not of micro-batches"),
    (accumulate_last, "one micro-batch's gradient"),
    (accumulate_inverse_weights, None),
])
def test_accumulate_rejects_typical_mistakes(answer, words):
    rejected_every_run(check.accumulate, answer, words)


# --- Exercise 10.4: loss_scale_update ---------------------------------------------------------------

def scale_numpy_style(scale, counter, finite, factor, window):
    if finite:
        counter = counter + 1
        if counter >= window:
            return np.float64(scale * factor), 0, np.True_
        return np.float64(scale), counter, np.True_
    return np.float64(np.maximum(1.0, scale / factor)), 0, np.False_


def scale_list_result(scale, counter, finite, factor, window):
    grow = finite and counter == window - 1
    new = scale * factor if grow else scale if finite else max(scale / factor, 1)
    return [new, 0 if (grow or not finite) else counter + 1, bool(finite)]


def scale_mindspore_rule(scale, counter, finite, factor, window):
    """MindSpore's DynamicLossScaler.adjust, transcribed: the counter wraps modulo the window."""
    if finite:
        new = scale * factor if counter == window - 1 else scale
    else:
        new = max(1.0, scale / factor)
    return new, ((counter + 1) % window) * int(finite), finite


def scale_grows_early(scale, counter, finite, factor, window):
    if not finite:
        return max(1.0, scale / factor), 0, False
    if counter + 2 >= window:
        return scale * factor, 0, True
    return scale, counter + 1, True


def scale_every_clean_step(scale, counter, finite, factor, window):
    if not finite:
        return max(1.0, scale / factor), 0, False
    return scale * factor, 0, True


def scale_reversed(scale, counter, finite, factor, window):
    if not finite:
        return scale * factor, 0, False
    if counter + 1 == window:
        return max(1.0, scale / factor), 0, True
    return scale, counter + 1, True


def scale_fixed_two(scale, counter, finite, factor, window):
    if not finite:
        return max(1.0, scale / 2), 0, False
    if counter + 1 == window:
        return scale * 2, 0, True
    return scale, counter + 1, True


def scale_counter_not_reset_after_growth(scale, counter, finite, factor, window):
    if not finite:
        return max(1.0, scale / factor), 0, False
    if (counter + 1) % window == 0:
        return scale * factor, counter + 1, True
    return scale, counter + 1, True


def scale_no_apply_flag_on_clean(scale, counter, finite, factor, window):
    if not finite:
        return max(1.0, scale / factor), 0, False
    if counter + 1 == window:
        return scale * factor, 0, False
    return scale, counter + 1, True


@pytest.mark.parametrize("answer", [SOL.loss_scale_update, scale_numpy_style, scale_list_result, scale_mindspore_rule])
def test_loss_scale_update_accepts_correct_styles(answer):
    accepted_every_run(check.loss_scale_update, answer)


@pytest.mark.parametrize(("answer", "words"), [
    (SOL.loss_scale_applies_overflow, "skip it"),
    (SOL.loss_scale_no_floor, "below 1"),
    (SOL.loss_scale_grows_late, "not grown"),
    (SOL.loss_scale_keeps_counting, "starts again from 0"),
    (scale_grows_early, "not " ),
    (scale_every_clean_step, "clean step(s), not"),
    (scale_reversed, "go DOWN"),
    (scale_fixed_two, "not a fixed 2"),
    (scale_counter_not_reset_after_growth, "counter"),
    (scale_no_apply_flag_on_clean, "apply the update"),
])
def test_loss_scale_update_rejects_typical_mistakes(answer, words):
    rejected_every_run(check.loss_scale_update, answer, words)


def test_the_checks_reference_rule_is_mindsporess_loss_scaler():
    """The check's reference (_scaler_step) gives mindspore.amp.DynamicLossScaler's scale at every step of a
    random run of overflows and clean steps."""
    from mindspore.amp import DynamicLossScaler

    from bert_ms.exercises.lesson10 import _scaler_step

    rng = np.random.default_rng(0)
    for window in (1, 3, 7):
        scaler = DynamicLossScaler(2.0 ** 12, 2, window)
        scale, counter = 2.0 ** 12, 0
        for finite in rng.random(60) > 0.25:
            scaler.adjust(ms.Tensor(bool(finite)))
            scale, counter, _ = _scaler_step(scale, counter, bool(finite), 2.0, window)
            assert float(scaler.scale_value.asnumpy()) == scale
            assert int(scaler.counter.asnumpy()) == counter
