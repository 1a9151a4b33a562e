"""Lesson 10 exercises (pretraining at scale): a worker's shard of the global batch, the all-reduce mean,
gradient accumulation over micro-batches of unequal size, and the dynamic loss-scale rule.

Each check runs the learner's function on inputs chosen so that every typical mistake gives a different
answer from the right one on every run (fixed edge cases plus fresh random ones), compares it with an
exact reference, and names the first mismatch with the likely mistake: every worker taking the same rows,
strided instead of contiguous rows, blocks of W rows instead of B/W, overlapping blocks, labels not cut with
the inputs; the sum instead of the mean, dividing by the number of parameters, one worker's gradients only,
one array per worker instead of per parameter; micro-batch sizes ignored or not divided out; applying a step
that overflowed, no floor at 1, the counter not reset, growing one step early or late, the factor ignored.
"""

from __future__ import annotations

import numpy as np

from bert_ms.exercises import Mismatch, exercise, expect_close, to_numpy

__all__ = ["shard", "allreduce_mean", "accumulate", "loss_scale_update"]


# --- Exercise 10.1 ----------------------------------------------------------------------------------

def _shard_cases(rng) -> list[tuple[int, int]]:
    """(global batch B, workers W) with B/W != W (so blocks of W rows are told apart from blocks of B/W)."""
    cases = [(8, 2), (12, 3), (32, 4)]
    for _ in range(2):
        w = int(rng.integers(2, 6))
        per = int(rng.choice([p for p in range(2, 9) if p != w]))
        cases.append((w * per, w))
    return cases


def _global_batch(b: int, rng) -> dict[str, np.ndarray]:
    """Rows that say which they are: input_ids row i holds 1000*i + position, labels row i is i."""
    t = int(rng.integers(3, 7))
    ids = (1000 * np.arange(b)[:, None] + np.arange(t)[None, :]).astype(np.int32)
    return {"input_ids": ids, "attention_mask": np.ones((b, t), np.int32),
            "masked_lm_weights": np.tile(np.arange(b, dtype=np.float32)[:, None, None], (1, 2, 2)),
            "labels": np.arange(b, dtype=np.int32)}


def _rows_of(got: dict, key: str) -> list[int]:
    a = to_numpy(got[key])
    if key == "input_ids":
        return [int(v) // 1000 for v in a[:, 0]] if a.ndim == 2 and a.shape[0] else []
    if key == "masked_lm_weights":
        return [int(v) for v in a.reshape(len(a), -1)[:, 0]]
    return [int(v) for v in a.reshape(-1)]


@exercise("Exercise 10.1 · a worker's shard of the global batch", time_limit=20,
          forbid=("bert_ms.runtime.distributed:shard_rows",))
def shard(fn):
    """``fn(batch, rank, world_size) -> dict``: worker ``rank``'s rows of a global batch (a dict of arrays
    with ``B`` rows each): the contiguous block ``[rank*B/W, (rank+1)*B/W)`` of EVERY array, as the Trainer
    cuts it (``B`` is divisible by ``W``)."""
    rng = np.random.default_rng()
    for b, w in _shard_cases(rng):
        per = b // w
        seen: dict[int, int] = {}
        for rank in range(w):
            batch = _global_batch(b, rng)
            got = fn({k: v.copy() for k, v in batch.items()}, rank, w)
            what = f"B = {b} rows, W = {w} workers (rank {rank})"
            if not isinstance(got, dict):
                raise Mismatch(f"{what}: return a dict with the same keys as the batch, got {type(got).__name__}.")
            if set(got) != set(batch):
                raise Mismatch(f"{what}: return every key of the batch ({', '.join(sorted(batch))}); got "
                               f"{', '.join(sorted(map(str, got))) or 'none'}.")
            want = list(range(rank * per, (rank + 1) * per))
            rows = {}
            for key in batch:
                arr = to_numpy(got[key])
                if arr.shape[1:] != batch[key].shape[1:]:
                    raise Mismatch(f"{what}: {key} should keep the shape of one row {batch[key].shape[1:]}, got "
                                   f"{arr.shape}: cut along the first axis (rows) only.")
                if len(arr) != per:
                    hint = (f"every array must be cut, not only some: {key} still has all {b} rows."
                            if len(arr) == b else
                            f"blocks of W = {w} rows were taken; each worker gets B/W = {per} rows."
                            if len(arr) == w else f"each worker gets B/W = {b}/{w} = {per} rows.")
                    raise Mismatch(f"{what}: {key} has {len(arr)} rows, expected {per}. Hint: {hint}")
                if key != "attention_mask":  # all ones: it cannot say which rows it holds
                    rows[key] = _rows_of(got, key)
            if len({tuple(r) for r in rows.values()}) > 1:
                raise Mismatch(f"{what}: the arrays hold different rows ({'; '.join(f'{k}: {v}' for k, v in rows.items())}): "
                               "take the SAME rows of every array, so each input keeps its labels.")
            got_rows = rows["input_ids"]
            if got_rows == want:
                for r in got_rows:
                    seen[r] = rank
                continue
            shown = f"expected rows {want}, got rows {got_rows}"
            if got_rows == list(range(rank, b, w)):
                hint = ("every W-th row (rank, rank + W, ...) was taken. That also splits the batch, but the "
                        "Trainer (and this exercise) gives each worker a contiguous block: rows rank*B/W to "
                        "(rank+1)*B/W - 1.")
            elif got_rows == list(range(per)) and rank > 0:
                hint = ("every worker gets the first B/W rows: the rank must choose the block, else all workers "
                        "compute the same gradient and the rest of the batch is never seen.")
            elif got_rows == list(range((rank + 1) * per, (rank + 2) * per)):
                hint = ("that is the block of rank r + 1: ranks count from 0, so rank r starts at row r*B/W (rank 0 "
                        "at row 0).")
            elif got_rows == list(range(rank * per + 1, (rank + 1) * per + 1)):
                hint = "the block is shifted by one row: rank r starts at row r*B/W (rank 0 at row 0)."
            elif any(r in seen for r in got_rows):
                dup = next(r for r in got_rows if r in seen)
                hint = (f"row {dup} was already given to rank {seen[dup]}: the blocks of the workers must not "
                        "overlap (each row of the global batch goes to exactly one worker).")
            elif sorted(got_rows) == want:
                hint = "the right rows, in another order: keep them in the order of the global batch."
            else:
                hint = "rank r holds rows r*B/W, r*B/W + 1, ..., (r+1)*B/W - 1 of every array."
            raise Mismatch(f"{what}: {shown}. Hint: {hint}")


# --- Exercise 10.2 ----------------------------------------------------------------------------------

def _worker_grads(rng, w: int, p: int) -> list[list[np.ndarray]]:
    shapes = [tuple(int(s) for s in rng.integers(1, 5, size=int(rng.integers(1, 3)))) for _ in range(p)]
    shapes[0] = (5, 3)  # a matrix whose first axis is not W (2-4), and shapes that differ between parameters
    shapes[-1] = (5,)
    return [[rng.normal(size=s) * 10.0 ** rng.uniform(-3, 0) for s in shapes] for _ in range(w)]


@exercise("Exercise 10.2 · the all-reduce mean of the workers' gradients", time_limit=20)
def allreduce_mean(fn):
    """``fn(worker_grads) -> list of arrays``: ``worker_grads[r][i]`` is worker ``r``'s gradient of
    parameter ``i``; return, for each parameter, the mean of its gradient over the ``W`` workers (what every
    worker holds after the all-reduce)."""
    rng = np.random.default_rng()
    for w, p in ((2, 3), (3, 2), (4, 5), (int(rng.integers(2, 5)), 4)):
        if w == p:
            p += 1
        grads = _worker_grads(rng, w, p)
        want = [np.mean([grads[r][i] for r in range(w)], axis=0) for i in range(p)]
        got = fn([[g.copy() for g in worker] for worker in grads])
        what = f"{w} workers, {p} parameters"
        if isinstance(got, (str, dict)) or not hasattr(got, "__len__"):
            raise Mismatch(f"{what}: return a list with one array per parameter, got {type(got).__name__}.")
        got = list(got)
        if len(got) != p:
            hint = ("one array per WORKER was returned: the result has one array per PARAMETER (the workers' "
                    "gradients of each parameter are averaged)." if len(got) == w else
                    "return one array per parameter, in the order of the parameters.")
            raise Mismatch(f"{what}: expected {p} arrays (one per parameter), got {len(got)}. Hint: {hint}")
        for i, (g, e) in enumerate(zip(got, want)):
            gi = np.asarray(to_numpy(g), dtype=np.float64)
            name = f"{what}: parameter {i} (shape {e.shape})"
            if gi.shape != e.shape:
                hint = ("a mean over the entries of the gradient, not over the workers: average the W gradients "
                        "element by element." if gi.size == 1 else "average over the workers only; every "
                        "parameter keeps its shape.")
                raise Mismatch(f"{name}: expected shape {e.shape}, got {gi.shape}. Hint: {hint}")
            if np.allclose(gi, e, rtol=1e-6, atol=1e-12):
                continue
            total = np.sum([grads[r][i] for r in range(w)], axis=0)
            if np.allclose(gi, total, rtol=1e-6, atol=1e-12):
                hint = (f"that is the SUM over the {w} workers: divide by the number of workers. (With the sum, "
                        f"the step would be {w} times the one of a single process on the global batch.)")
            elif np.allclose(gi, total / p, rtol=1e-6, atol=1e-12):
                hint = f"the sum was divided by the number of parameters ({p}); divide by the number of workers ({w})."
            elif any(np.allclose(gi, grads[r][i], rtol=1e-6, atol=1e-12) for r in range(w)):
                r = next(r for r in range(w) if np.allclose(gi, grads[r][i], rtol=1e-6, atol=1e-12))
                hint = f"that is worker {r}'s gradient alone: average all {w} workers' gradients."
            else:
                hint = "mean over workers r of worker_grads[r][i], for each parameter i."
            expect_close(gi, e, name, hint=hint, rtol=1e-6, atol=1e-12)


# --- Exercise 10.3 ----------------------------------------------------------------------------------

@exercise("Exercise 10.3 · accumulating micro-batches into one batch", time_limit=20)
def accumulate(fn):
    """``fn(micro_grads, sizes) -> list of arrays``: ``micro_grads[m][i]`` is the gradient of parameter
    ``i`` of micro-batch ``m``'s MEAN loss, ``sizes[m]`` its number of examples; return the gradient of the
    mean loss over all the examples of all micro-batches (what one batch holding them all would give)."""
    rng = np.random.default_rng()
    cases = [[4, 4], [8, 8, 2], [3, 5], [int(rng.integers(1, 6)), int(rng.integers(6, 12)), int(rng.integers(1, 6))]]
    for sizes in cases:
        k = len(sizes)
        grads = _worker_grads(rng, k, 3)
        n = np.asarray(sizes, np.float64)
        want = [sum(n[m] * grads[m][i] for m in range(k)) / n.sum() for i in range(3)]
        got = fn([[g.copy() for g in micro] for micro in grads], list(sizes))
        what = f"{k} micro-batches of {sizes} examples"
        if isinstance(got, (str, dict)) or not hasattr(got, "__len__"):
            raise Mismatch(f"{what}: return a list with one array per parameter, got {type(got).__name__}.")
        got = list(got)
        if len(got) != 3:
            raise Mismatch(f"{what}: expected 3 arrays (one per parameter), got {len(got)}.")
        for i, (g, e) in enumerate(zip(got, want)):
            gi = np.asarray(to_numpy(g), dtype=np.float64)
            name = f"{what}: parameter {i}"
            if gi.shape != e.shape:
                raise Mismatch(f"{name}: expected shape {e.shape}, got {gi.shape}; each parameter keeps its shape.")
            if np.allclose(gi, e, rtol=1e-6, atol=1e-12):
                continue
            plain = sum(grads[m][i] for m in range(k))
            weighted = sum(n[m] * grads[m][i] for m in range(k))

            def close(x, got=gi):
                return np.allclose(got, x, rtol=1e-6, atol=1e-12)

            if close(plain / k):
                hint = (f"each micro-batch counted equally, but they hold {sizes} examples: weight micro-batch m's "
                        "gradient by its size and divide by the total number of examples (a mean over examples, "
                        "not over micro-batches).")
            elif close(plain):
                hint = ("the gradients were only added up: each is the gradient of a MEAN loss, so weight by the "
                        "sizes and divide by the total number of examples.")
            elif close(weighted):
                hint = f"weighted by the sizes, but not divided by the total number of examples ({int(n.sum())})."
            elif close(weighted / k):
                hint = f"divide the size-weighted sum by the number of examples ({int(n.sum())}), not of micro-batches ({k})."
            elif close(grads[-1][i]) or close(grads[0][i]):
                hint = "that is one micro-batch's gradient: combine all of them."
            else:
                hint = "sum over m of sizes[m] * micro_grads[m][i], divided by sum(sizes)."
            expect_close(gi, e, name, hint=hint, rtol=1e-6, atol=1e-12)


# --- Exercise 10.4 ----------------------------------------------------------------------------------

def _scaler_step(scale: float, counter: int, finite: bool, factor: float, window: int) -> tuple[float, int, bool]:
    """``mindspore.amp.DynamicLossScaler.adjust``: halve on overflow (never below 1), grow after ``window``
    clean steps in a row."""
    if not finite:
        return max(1.0, scale / factor), 0, False
    if counter == window - 1:
        return scale * factor, 0, True
    return scale, counter + 1, True


def _flag_runs(rng, window: int) -> list[bool]:
    """Overflows, a clean run of exactly ``window`` steps (grows), then more, with random stretches."""
    flags = [False, False] + [True] * window + [False] + [True] * (window - 1) + [False] + [True] * (window + 1)
    flags += [bool(x) for x in rng.random(int(rng.integers(4, 10))) > 0.3]
    return flags


@exercise("Exercise 10.4 · the dynamic loss-scale rule", time_limit=20)
def loss_scale_update(fn):
    """``fn(scale, counter, finite, factor, window) -> (scale, counter, apply)``: one step of dynamic loss
    scaling (MindSpore's ``DynamicLossScaler``). ``counter`` counts the clean steps since the last change.
    If the gradients overflowed (``finite`` False): skip the update, divide the scale by ``factor`` (but
    never below 1) and reset the counter. Else apply the update and count the step; at the ``window``-th
    clean step in a row multiply the scale by ``factor`` and reset the counter."""
    rng = np.random.default_rng()
    cases = [(2.0 ** 16, 2.0, 3), (2.0 ** 10, 2.0, 1), (8.0, 4.0, 4),
             (float(2 ** int(rng.integers(3, 20))), float(rng.choice([2.0, 3.0, 4.0])), int(rng.integers(2, 6)))]
    for start, factor, window in cases:
        flags = _flag_runs(rng, window)
        if start == 8.0:  # overflows at a small scale: the floor at 1 is reached
            flags = [False] * 4 + flags
        scale, counter = start, 0
        for step, finite in enumerate(flags, 1):
            want = _scaler_step(scale, counter, finite, factor, window)
            got = fn(scale, counter, finite, factor, window)
            where = (f"factor {factor:g}, window {window}; step {step}: scale {scale:g}, counter {counter}, "
                     f"{'clean gradients' if finite else 'overflow (inf/NaN)'}")
            if isinstance(got, (str, dict)) or not hasattr(got, "__len__") or len(got) != 3:
                raise Mismatch(f"{where}: return the three values (scale, counter, apply); got {got!r:.80}.")
            try:
                g_scale, g_counter = float(to_numpy(got[0])), int(to_numpy(got[1]))
                g_apply = bool(to_numpy(got[2]))
            except (TypeError, ValueError):
                raise Mismatch(f"{where}: return numbers (scale, counter) and a bool (apply); got {got!r:.80}.") from None
            if (g_scale, g_counter, g_apply) == want or (np.isclose(g_scale, want[0], rtol=1e-12) and
                                                         (g_counter, g_apply) == want[1:]):
                scale, counter = want[0], want[1]
                continue
            expected = f"expected (scale {want[0]:g}, counter {want[1]}, {'apply' if want[2] else 'skip'})"
            yours = f"got ({g_scale:g}, {g_counter}, {'apply' if g_apply else 'skip'})"
            if not finite and g_apply:
                hint = ("an update with inf/NaN gradients would write inf/NaN into every weight: skip it "
                        "(apply = False); only the scale and the counter change.")
            elif finite and not g_apply:
                hint = "the gradients are finite: apply the update (apply = True)."
            elif not finite and np.isclose(g_scale, scale / factor) and scale / factor < 1:
                hint = "the scale went below 1: it never goes below 1 (max(1, scale / factor))."
            elif not finite and np.isclose(g_scale, scale * factor):
                hint = "on an overflow the scale must go DOWN (divide by factor), not up."
            elif not finite and np.isclose(g_scale, want[0]) and g_counter != 0:
                hint = "after an overflow the counter starts again from 0: growing needs `window` clean steps IN A ROW."
            elif finite and want[0] != scale and np.isclose(g_scale, scale):
                hint = (f"this is the {window}-th clean step in a row (counter was {counter} = window - 1): the scale "
                        f"grows by the factor now and the counter goes back to 0."
                        if g_counter != counter + 1 else
                        f"the counter reached the window ({window}) and the scale was not grown: at counter == "
                        f"window - 1 a clean step multiplies the scale by the factor and resets the counter.")
            elif finite and want[0] == scale and not np.isclose(g_scale, scale):
                hint = (f"the scale grew after {counter + 1} clean step(s), not {window}: it grows only at the "
                        f"{window}-th clean step in a row (counter == window - 1)."
                        if np.isclose(g_scale, scale * factor) else "a clean step does not change the scale until "
                        "the window is full.")
            elif factor != 2 and (np.isclose(g_scale, want[0] * 2 / factor) or np.isclose(g_scale, scale / 2)
                                  or np.isclose(g_scale, scale * 2)):
                hint = f"use the factor you are given ({factor:g}), not a fixed 2."
            elif np.isclose(g_scale, want[0]) and g_counter != want[1]:
                hint = ("the counter: +1 after a clean step, back to 0 after an overflow and after the scale grew.")
            else:
                hint = "halve (divide by factor, floor 1) and skip on overflow; count clean steps; grow at the window."
            raise Mismatch(f"{where}: {expected}, {yours}. Hint: {hint}")
