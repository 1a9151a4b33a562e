"""Lesson 02 exercises: language models (语言模型). Solutions: ``solutions/02_neural_language_models.py``.

Every check draws fresh random inputs (sizes included), computes the exact answer in float64 NumPy, runs
the learner's function and names the first mismatch. The inputs are chosen so that each typical mistake
gives a different answer on every run: the bigram check's vocabulary holds ids that never occur (so
``len(set(ids))`` or ``ids.max() + 1`` is not V) and k is never 1; the RNN and LSTM checks use a square
case (D = H) beside a rectangular one, biases and states large enough to notice a missing one; the
clipping check uses norms just above and just below the threshold, far above and far below it, for a
threshold below 1 and one above 1. Where the wrong answer equals a typical mistake, the message says which.
The package's and MindSpore's own versions (``NGramLM``, ``perplexity``, ``nn.RNN``, ``nn.LSTM``,
``ops.clip_by_global_norm``, ...) are the answers, so an answer that calls them fails.
"""

from __future__ import annotations

import itertools

import mindspore as ms
import numpy as np

from bert_ms.exercises import Mismatch, exercise, expect_close, to_numpy
from bert_ms.exercises.core import LearnerRaised

__all__ = ["add_k_bigram", "perplexity_from_logits", "rnn_step", "lstm_step", "clip_by_global_norm"]


def _close(a, b, rtol=1e-6, atol=1e-9) -> bool:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# --- Exercise 2.1 ---------------------------------------------------------------------------------

def _bigram(ids, vocab, k, *, pairs=None, denominator="pairs", add=None):
    """P[prev, next] in float64, and the typical wrong versions of it."""
    prev, nxt = (ids[:-1], ids[1:]) if pairs is None else pairs
    counts = np.zeros((vocab, vocab))
    np.add.at(counts, (prev, nxt), 1.0)
    if denominator == "pairs":
        row = counts.sum(1, keepdims=True)
    else:  # every occurrence of the word, the last position included
        row = np.bincount(ids, minlength=vocab).astype(np.float64)[:, None]
    return (counts + k) / (row + (k * vocab if add is None else add))


def _bigram_case(rng: np.random.Generator, k: float):
    """A vocabulary of V ids of which some never occur (the largest one among them), and a sequence whose
    last word occurs nowhere else (it is never a previous word)."""
    vocab = int(rng.integers(8, 13))
    absent = {vocab - 1, int(rng.integers(1, vocab - 2))}  # the top id and one in the middle never occur
    last = int(rng.choice([i for i in range(vocab) if i not in absent]))
    pool = np.array([i for i in range(vocab) if i not in absent and i != last])
    ids = rng.choice(pool, size=int(rng.integers(50, 80)))
    ids[:3] = ids[0]  # a repeated pair makes the matrix asymmetric enough to notice a transpose
    ids = np.append(ids, last).astype(np.int64)
    return ids, vocab, float(k)


@exercise("Exercise 2.1 · an add-k bigram model", forbid=("bert_ms.classic.language_model:NGramLM",), time_limit=20)
def add_k_bigram(fn):
    """``fn(train_ids, vocab_size, k)`` -> a [V, V] matrix P with P[prev, next] =
    (count(prev, next) + k) / (count(prev) + k·V), counted over consecutive pairs of ``train_ids``."""
    rng = np.random.default_rng()
    ks = [float(rng.choice([0.05, 0.2, 0.5])), float(rng.choice([2.0, 3.0]))]  # k < 1 and k > 1, never 1
    for k in ks:
        ids, vocab, k = _bigram_case(rng, k)
        want = _bigram(ids, vocab, k)
        what = f"P[prev, next] for V={vocab}, k={k} ({len(ids)} ids, {vocab - len(set(ids.tolist()))} of the V never occur)"
        try:
            result = fn(ids.copy(), vocab, k)
        except LearnerRaised as raised:
            if isinstance(raised.error, IndexError):  # a table sized from the ids, indexed by an id past its end
                raise Mismatch(f"{what}: your code raised IndexError ({raised.error}). Hint: take V from vocab_size, "
                               "not from the ids (len(set(ids)) or ids.max() + 1): an id that never occurs in "
                               "train_ids still has a row and a column.") from None
            raise
        got = _as_float_array(result, what)
        if got.shape != want.shape:
            seen = len(set(ids.tolist()))
            hint = ""
            if got.shape in ((seen, seen), (int(ids.max()) + 1,) * 2):
                hint = (" Hint: take V from vocab_size, not from the ids: an id that never occurs in train_ids still "
                        "has a row and a column (it is the curse of dimensionality in miniature).")
            raise Mismatch(f"{what}: expected a [{vocab}, {vocab}] matrix, got shape {got.shape}.{hint}")
        if _close(got, want):
            continue
        diagnoses = [
            (want.T, "your matrix is transposed: row = the previous word, column = the next word."),
            (_bigram(ids, vocab, 1.0), f"you added 1 (add-one smoothing); add the k given (k={k})."),
            (_bigram(ids, vocab, k, add=k), "the denominator adds k once; add k for every one of the V possible next "
                                            "words: count(prev) + k·V."),
            (_bigram(ids, vocab, k, add=vocab), "the denominator adds V; it must add k·V (k for each possible next word)."),
            (_bigram(ids, vocab, k, denominator="all"),
             "count(prev) must count the PAIRS that start with prev: the last word of train_ids has no next word, "
             "so it is not counted as a previous word (count over train_ids[:-1])."),
            (_bigram(ids, vocab, k, pairs=(ids, np.roll(ids, -1))),
             "you counted a pair (last word, first word) that wraps around; pairs are (ids[t], ids[t+1]) for "
             "t = 0..N-2 only."),
            (_bigram(ids, vocab, k, pairs=(ids[:-2], ids[2:])), "you paired each word with the one two places on; "
                                                                "a bigram is (ids[t], ids[t+1])."),
        ]
        for wrong, message in diagnoses:
            if _close(got, wrong):
                raise Mismatch(f"{what}: {message}")
        sums = got.sum(1)
        if not np.allclose(sums, 1.0, atol=1e-6):
            row = int(np.argmax(np.abs(sums - 1.0)))
            raise Mismatch(f"{what}: row {row} sums to {sums[row]:.4g}, but each row is a distribution over the next "
                           "word and must sum to 1. Hint: (count(prev, next) + k) / (count(prev) + k·V).")
        expect_close(got, want, what, hint="(count(prev, next) + k) / (count(prev) + k·V)", rtol=1e-6, atol=1e-9)


def _as_float_array(got, what: str) -> np.ndarray:
    try:
        arr = to_numpy(got)
    except Exception:  # noqa: BLE001 - whatever the learner returned
        raise Mismatch(f"{what}: expected an array or a Tensor, got {type(got).__name__}.") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise Mismatch(f"{what}: expected an array of numbers, got {type(got).__name__} of {arr.dtype}.")
    return arr.astype(np.float64)


# --- Exercise 2.2 ---------------------------------------------------------------------------------

def _log_softmax(z, axis=-1):
    top = z.max(axis, keepdims=True)
    return z - top - np.log(np.exp(z - top).sum(axis, keepdims=True))


@exercise("Exercise 2.2 · perplexity from logits", time_limit=20,
          forbid=("bert_ms.classic.language_model:perplexity", "bert_ms.classic.language_model:NGramLM",
                  "mindspore.train:Perplexity"))
def perplexity_from_logits(fn):
    """``fn(logits, targets)``: [N, V] MindSpore logits (unnormalised scores) and [N] int targets -> the
    perplexity exp(mean over the N positions of -log softmax(logits)[target]) as a Python float."""
    rng = np.random.default_rng()
    n, vocab = int(rng.integers(20, 40)), int(rng.integers(5, 12))
    # scores of spread 2 around a different offset per row: a softmax does not see the offset, a learner who
    # treats the scores as log-probabilities does
    logits = (rng.normal(0, 2, (n, vocab)) + rng.uniform(-4, 4, (n, 1))).astype(np.float32)
    targets = rng.integers(0, vocab, n).astype(np.int32)
    z = logits.astype(np.float64)
    rows = np.arange(n)
    nll = -_log_softmax(z)[rows, targets]
    want = float(np.exp(nll.mean()))
    got_raw = fn(ms.Tensor(logits), ms.Tensor(targets))
    got, shape = None, ""
    try:
        got_arr = to_numpy(got_raw)
        shape = f" of shape {tuple(got_arr.shape)}"
        if got_arr.size == 1 and np.issubdtype(got_arr.dtype, np.number):
            got = float(got_arr.reshape(-1)[0])
    except (TypeError, ValueError):
        pass
    if got is None:
        raise Mismatch(f"expected one number (the perplexity of all {n} positions together), got "
                       f"{type(got_raw).__name__}{shape}. Hint: average the N losses, then exponentiate.")
    if np.isclose(got, want, rtol=1e-5):
        return
    diagnoses = [
        (float(np.exp(nll.sum())), "you exponentiated the SUM of the losses: take the mean over positions first."),
        (float(nll.mean()), f"{got:.4f} is the mean cross-entropy; perplexity is its exponential."),
        (float(2 ** nll.mean()), "the losses are natural logarithms (nats), so exponentiate with e, not 2."),
        (float(np.exp(nll).mean()), "you averaged the per-position exp(loss); perplexity is exp of the MEAN loss "
                                    "(a geometric mean of 1/p, not an arithmetic one)."),
        (float(np.exp(-z[rows, targets].mean())), "you used the raw scores as log-probabilities; take the log softmax "
                                                  "first (the logits are unnormalised)."),
        (float(np.exp((-_log_softmax(z, 0)[rows, targets]).mean())),
         "the softmax ran over the positions (axis 0); it must run over the vocabulary (the last axis)."),
        (float(np.exp((-_log_softmax(z[:-1])[rows[:-1], targets[1:]]).mean())),
         "you shifted the targets by one; here targets[i] is already the word that logits[i] predicts."),
        (float(1 / np.exp(-nll).mean()), "you took 1 / (mean probability of the targets); perplexity is exp of the "
                                         "mean of -log p."),
    ]
    for wrong, message in diagnoses:  # compared on a log scale: exp(sum) is a huge number, known to float32 only
        if got > 0 and wrong > 0 and abs(np.log(got) - np.log(wrong)) < 1e-4 * max(1.0, abs(np.log(wrong))):
            raise Mismatch(message)
    raise Mismatch(f"expected {want:.6g}, got {got:.6g}. Hint: exp(mean over positions of -log softmax(logits)[target]).")


# --- Exercise 2.3 ---------------------------------------------------------------------------------

@exercise("Exercise 2.3 · one step of a vanilla RNN cell", time_limit=20,
          forbid=("mindspore.nn:RNN", "mindspore.nn:RNNCell", "mindspore.ops:DynamicRNN"))
def rnn_step(fn):
    """``fn(x_t, s_prev, U, W, b)``: inputs [B, D], previous states [B, H], U [H, D], W [H, H], b [H]
    (MindSpore tensors) -> s_t = tanh(U x_t + W s_prev + b), shape [B, H] (Elman 1990)."""
    rng = np.random.default_rng()
    h = int(rng.integers(3, 6))
    for d in (h + int(rng.integers(1, 4)), h):  # a rectangular U, then a square one (U.T and U both fit)
        batch = int(rng.integers(2, 5))
        while True:  # |U x + W s + b| < 2.8, where MindSpore's CPU tanh is accurate to 1e-6 (beyond 4: to 1e-4)
            x, s = rng.normal(0, 0.6, size=(batch, d)), rng.normal(0, 0.6, size=(batch, h))
            U, W = rng.normal(0, 0.35, size=(h, d)), rng.normal(0, 0.35, size=(h, h))
            b = rng.choice([-1, 1], h) * rng.uniform(0.3, 0.7, h)
            pre = x @ U.T + s @ W.T + b
            if np.abs(pre).max() < 2.8 and pre.min() < -0.1 < 0.1 < pre.max():  # both signs: a ReLU is not U x + ...
                break
        what = f"s_t for B={batch}, D={d}, H={h}"
        want = np.tanh(pre)
        got = _as_float_array(fn(*(ms.Tensor(a.astype(np.float32)) for a in (x, s, U, W, b))), what)
        if got.shape != want.shape:
            raise Mismatch(f"{what}: expected shape {want.shape} ([B, H]), got {got.shape}.")
        if _close(got, want, rtol=0, atol=1e-5):
            continue
        diagnoses = [
            (pre, "you returned the pre-activation U x + W s + b: apply tanh to it."),
            (np.tanh(x @ U.T + b), "s_prev has no effect in your cell: add W s_prev, the recurrence."),
            (_sigmoid(pre), "that is a sigmoid; the vanilla cell uses tanh (outputs in (-1, 1))."),
            (np.maximum(pre, 0), "that is a ReLU; Elman's cell uses tanh."),
            (np.tanh(x @ U.T + s @ W.T), "the bias b is missing."),
            (np.tanh(x @ U.T + s @ W.T + 2 * b), "the bias b was added twice."),
            (np.tanh(x @ U.T + s @ W + b), "W is transposed: the recurrence is s_prev @ W.T (W is [H, H], rows = "
                                           "the new state's units)."),
            (np.tanh(x @ U + s @ W.T + b) if d == h else None, "U is transposed: the input term is x_t @ U.T "
                                                               "(U is [H, D], rows = hidden units)."),
            (np.tanh(x @ U.T + b) + s @ W.T, "tanh must wrap the whole sum U x + W s + b, the recurrence included."),
        ]
        for wrong, message in diagnoses:
            if wrong is not None and _close(got, wrong, rtol=0, atol=1e-4):
                raise Mismatch(f"{what}: {message}")
        expect_close(got, want, what, hint="tanh(x_t @ U.T + s_prev @ W.T + b)", rtol=0, atol=1e-5)


# --- Exercise 2.4 ---------------------------------------------------------------------------------

GATES = "ifgo"  # MindSpore's nn.LSTM stacks its four blocks of rows in this order (as PyTorch does)


def _lstm(x, h, c, W_ih, W_hh, b_ih, b_hh, *, order=GATES, variant=""):
    """One LSTM step in float64, and the typical wrong versions of it (``variant``)."""
    hid = h.shape[1]
    z = x @ W_ih.T + (c if variant == "c_in" else h) @ W_hh.T + (0 if variant == "no_b_ih" else b_ih)
    z = z + (0 if variant in ("no_b_hh", "b_ih_twice") else b_hh) + (b_ih if variant == "b_ih_twice" else 0)
    block = {name: z[:, k * hid:(k + 1) * hid] for k, name in enumerate(order)}
    squash, cand = (np.tanh, _sigmoid) if variant == "swapped" else (_sigmoid, np.tanh)
    i, f, g, o = squash(block["i"]), squash(block["f"]), cand(block["g"]), squash(block["o"])
    if variant == "no_forget":
        f = np.ones_like(f)
    c_new = f * c + i * g
    h_new = o * (c_new if variant == "no_tanh_c" else np.tanh(c if variant == "old_c" else c_new))
    return h_new, c_new


_LSTM_MISTAKES = [
    ("no_forget", "the forget gate is missing: c_t = f ⊙ c_prev + i ⊙ g, with f = σ(the f block)."),
    ("swapped", "tanh and sigmoid are swapped: the gates i, f, o use the sigmoid (values in (0, 1)), the "
                "candidate g uses tanh."),
    ("no_b_hh", "b_hh is missing: MindSpore's LSTM has two biases and adds both (b_ih + b_hh)."),
    ("no_b_ih", "b_ih is missing: MindSpore's LSTM has two biases and adds both (b_ih + b_hh)."),
    ("b_ih_twice", "b_ih was added twice and b_hh not at all: add b_ih + b_hh."),
    ("no_tanh_c", "h_t = o ⊙ tanh(c_t): the tanh of the cell state is missing."),
    ("old_c", "h_t must use the NEW cell state: h_t = o ⊙ tanh(c_t), not tanh(c_prev)."),
    ("c_in", "W_hh multiplies the previous hidden state h_prev, not the cell state c_prev."),
]


@exercise("Exercise 2.4 · one step of an LSTM cell", time_limit=20,
          forbid=("mindspore.nn:LSTM", "mindspore.nn:LSTMCell", "mindspore.ops:LSTM", "mindspore.ops:DynamicRNN"))
def lstm_step(fn):
    """``fn(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh)``: inputs [B, D], previous hidden and cell states
    [B, H], W_ih [4H, D], W_hh [4H, H], b_ih and b_hh [4H] (MindSpore tensors, the blocks of 4H rows in
    MindSpore's order i, f, g, o) -> the pair (h_t, c_t), each [B, H]:
    z = x W_ihᵀ + h W_hhᵀ + b_ih + b_hh; i, f, o = σ(blocks); g = tanh(block); c_t = f⊙c + i⊙g;
    h_t = o⊙tanh(c_t)."""
    rng = np.random.default_rng()
    h = int(rng.integers(3, 6))
    for d in (h + int(rng.integers(1, 4)), h):  # a rectangular W_ih, then a square one
        batch = int(rng.integers(2, 5))
        while True:  # every pre-activation and cell state within (-2.8, 2.8), where MindSpore's CPU tanh is exact to 1e-6
            x, hp = rng.normal(0, 0.6, size=(batch, d)), rng.normal(0, 0.5, size=(batch, h))
            # a cell state beyond (-1, 1), as a trained LSTM has: c and h cannot be told apart by their range
            cp = rng.choice([-1, 1], (batch, h)) * rng.uniform(0.5, 1.7, (batch, h))
            W_ih, W_hh = rng.normal(0, 0.35, size=(4 * h, d)), rng.normal(0, 0.35, size=(4 * h, h))
            b_ih = rng.choice([-1, 1], 4 * h) * rng.uniform(0.25, 0.6, 4 * h)
            b_hh = rng.choice([-1, 1], 4 * h) * rng.uniform(0.25, 0.6, 4 * h)
            args = (x, hp, cp, W_ih, W_hh, b_ih, b_hh)
            z = x @ W_ih.T + hp @ W_hh.T + b_ih + b_hh
            if np.abs(z).max() < 2.8 and np.abs(cp).max() + 1 < 2.8:
                break
        want_h, want_c = _lstm(*args)
        what = f"B={batch}, D={d}, H={h}"
        out = fn(*(ms.Tensor(a.astype(np.float32)) for a in args))
        if not isinstance(out, tuple | list) or len(out) != 2:
            shape = f" of shape {tuple(out.shape)}" if hasattr(out, "shape") else ""
            raise Mismatch(f"{what}: expected the pair (h_t, c_t), got {type(out).__name__}{shape}. Hint: "
                           "`return h_t, c_t` (the next step needs both states).")
        got_h, got_c = (_as_float_array(v, f"{what}, {name}") for v, name in zip(out, ("h_t", "c_t")))
        for got, want, name in ((got_h, want_h, "h_t"), (got_c, want_c, "c_t")):
            if got.shape != want.shape:
                raise Mismatch(f"{what}: expected {name} of shape {want.shape} ([B, H]), got {got.shape}.")
        ok_h, ok_c = _close(got_h, want_h, 0, 2e-5), _close(got_c, want_c, 0, 2e-5)
        if ok_h and ok_c:
            continue
        if _close(got_h, want_c, 0, 1e-4) and _close(got_c, want_h, 0, 1e-4):
            raise Mismatch(f"{what}: you returned (c_t, h_t); return (h_t, c_t), hidden state first, as nn.LSTM does.")
        for variant, message in _LSTM_MISTAKES:
            wh, wc = _lstm(*args, variant=variant)
            if _close(got_h, wh, 0, 1e-4) and _close(got_c, wc, 0, 1e-4):
                raise Mismatch(f"{what}: {message}")
        for order in ("".join(p) for p in itertools.permutations(GATES)):
            if order == GATES:
                continue
            wh, wc = _lstm(*args, order=order)
            if _close(got_h, wh, 0, 1e-4) and _close(got_c, wc, 0, 1e-4):
                blocks = ", ".join(f"rows {k}H:{k + 1}H = {name}" for k, name in enumerate(order))
                raise Mismatch(f"{what}: wrong gate order: you read the blocks as {blocks}. MindSpore stacks them "
                               f"as i, f, g, o (input gate, forget gate, candidate, output gate).")
        if ok_h != ok_c:
            good, bad = ("h_t", "c_t") if ok_h else ("c_t", "h_t")
            raise Mismatch(f"{what}: {good} is right but {bad} is not. Hint: c_t = f ⊙ c_prev + i ⊙ g; "
                           "h_t = o ⊙ tanh(c_t).")
        expect_close(got_c, want_c, f"{what}, c_t", hint="c_t = f ⊙ c_prev + i ⊙ g, gates in the order i, f, g, o",
                     rtol=0, atol=2e-5)
        expect_close(got_h, want_h, f"{what}, h_t", hint="h_t = o ⊙ tanh(c_t)", rtol=0, atol=2e-5)


# --- Exercise 2.5 ---------------------------------------------------------------------------------

def _clip_cases(rng: np.random.Generator):
    """(what, grads, max_norm): a threshold below 1 and one above 1, each with a global norm just above it
    and just below it; then one far above and one far below. The shapes vary, a 0-d tensor included."""
    cases = [("far above", float(rng.uniform(8, 30)), float(rng.uniform(0.5, 3.0))),
             ("far below", float(rng.uniform(0.02, 0.2)), float(rng.uniform(0.5, 3.0)))]
    for max_norm in (float(rng.uniform(0.3, 0.8)), float(rng.uniform(1.5, 5.0))):
        for ratio, label in ((rng.uniform(1.01, 1.04), "just above"), (rng.uniform(0.96, 0.99), "just below")):
            cases.append((label, float(ratio), max_norm))
    out = []
    for label, ratio, max_norm in cases:
        n_tensors = int(rng.integers(3, 5))
        shapes = [tuple(int(s) for s in rng.integers(2, 6, size=int(rng.integers(1, 3)))) for _ in range(n_tensors - 1)]
        shapes.insert(int(rng.integers(0, n_tensors)), ())  # a scalar gradient, as a bias of size 1 gives
        grads = [rng.normal(0, 1, shape) for shape in shapes]
        norm = np.sqrt(sum((g ** 2).sum() for g in grads))
        grads = [(g * (ratio * max_norm / norm)).astype(np.float32) for g in grads]
        out.append((label, grads, max_norm))
    return out


def _global_norm(grads) -> float:
    return float(np.sqrt(sum((g.astype(np.float64) ** 2).sum() for g in grads)))


@exercise("Exercise 2.5 · clipping by the global gradient norm", time_limit=20,
          forbid=("mindspore.ops:clip_by_global_norm", "mindspore.ops:clip_by_norm"))
def clip_by_global_norm(fn):
    """``fn(grads, max_norm)``: a list of MindSpore gradient tensors -> the list rescaled by
    max_norm / max(global_norm, max_norm), global_norm = sqrt(sum of every element squared, over ALL
    tensors) (Pascanu et al. 2013, algorithm 1). Gradients at or below max_norm come back unchanged."""
    rng = np.random.default_rng()
    for label, grads, max_norm in _clip_cases(rng):
        g64 = [g.astype(np.float64) for g in grads]
        norm = _global_norm(grads)
        scale = max_norm / max(norm, max_norm)
        want = [g * scale for g in g64]
        what = f"{label} the threshold (global norm {norm:.4g}, max_norm {max_norm:.4g})"
        out = fn([ms.Tensor(g) for g in grads], max_norm)
        if hasattr(out, "shape") and not isinstance(out, list | tuple):
            raise Mismatch(f"{what}: expected a list of {len(grads)} tensors (one per gradient), got "
                           f"{type(out).__name__} of shape {tuple(out.shape)}.")
        try:
            got = [_as_float_array(t, f"{what}, tensor {i}") for i, t in enumerate(out)]
        except TypeError:
            raise Mismatch(f"{what}: expected a list of {len(grads)} tensors, got {type(out).__name__}.") from None
        if len(got) != len(want):
            raise Mismatch(f"{what}: expected {len(want)} tensors back (shapes {[g.shape for g in grads]}), got "
                           f"{len(got)} (shapes {[g.shape for g in got]}).")
        for i, (g, w) in enumerate(zip(got, want)):
            if g.shape != w.shape:
                raise Mismatch(f"{what}: tensor {i} should keep its shape {w.shape}, got {g.shape}.")
        if all(_close(g, w, 1e-5, 1e-7) for g, w in zip(got, want)):
            continue
        unchanged = all(_close(g, w0, 1e-5, 1e-7) for g, w0 in zip(got, g64))
        if unchanged and norm > max_norm:
            alone = ("; every tensor on its own is within max_norm here, so the norm must be ONE global norm over "
                     "all tensors" if all(np.linalg.norm(g.ravel()) <= max_norm for g in g64) else "")
            raise Mismatch(f"{what}: the global norm is above max_norm, so the gradients must be scaled by "
                           f"max_norm / global_norm; yours came back unchanged{alone}. Hint: the test is "
                           "global_norm > max_norm, with the norm itself (not its square, not a multiple of max_norm).")
        if norm <= max_norm:
            raise Mismatch(f"{what}: these gradients are already within max_norm and must come back unchanged; "
                           "scale by max_norm / max(global_norm, max_norm), which is 1 here.")
        per_tensor = [g * min(1.0, max_norm / max(np.linalg.norm(g.ravel()), 1e-30)) for g in g64]
        by_value = [np.clip(g, -max_norm, max_norm) for g in g64]
        squared = [g * (max_norm / max(norm ** 2, max_norm)) for g in g64]
        for wrong, message in (
            (per_tensor, "you clipped each tensor by its own norm. Use ONE global norm over all tensors, so the "
                         "update keeps its direction."),
            (by_value, "you clipped each element to [-max_norm, max_norm] (clip by value); rescale the whole "
                       "gradient by max_norm / global_norm instead."),
            (squared, "you divided by the squared norm; global_norm = sqrt(sum of squares)."),
        ):
            if all(_close(g, w, 1e-5, 1e-7) for g, w in zip(got, wrong)):
                raise Mismatch(f"{what}: {message}")
        for i, (g, w) in enumerate(zip(got, want)):
            expect_close(g, w, f"{what}, tensor {i}", hint="multiply every tensor by max_norm / global_norm, "
                         "global_norm = sqrt(sum over ALL tensors of every element squared)", rtol=1e-5, atol=1e-7)
