"""Adversarial suite for lesson 03's checks: every typical mistake rejected on every one of 20 runs (with the
words its message must contain where the check names the mistake), and correct answers in other styles
accepted on every run. The checks draw fresh inputs each run (padded rows of random lengths, 2-5 layers,
T = 2 and a longer T), so a mistake that could slip through on a lucky draw would show here."""

import mindspore as ms
import numpy as np
import pytest
from adversarial import accepted_every_run, rejected_every_run
from mindspore import ops

from bert_ms.classic import elmo
from bert_ms.exercises import check

# --- Exercise 3.1 · backward states ---------------------------------------------------------------

def _rev_index(lengths, length):
    """[B, T] time indices that reverse each row's first lengths[b] positions and keep the padding."""
    idx = np.tile(np.arange(length), (len(lengths), 1))
    for b, n in enumerate(lengths):
        idx[b, :n] = np.arange(n)[::-1]
    return idx


def bs_numpy_loop(run, x, lengths):  # NumPy, one row at a time, zeros at the padding
    xn = x.asnumpy().astype(np.float64)
    rows = []
    for b, n in enumerate(lengths):
        h = run(xn[b:b + 1, :n][:, ::-1].copy())[:, ::-1]
        rows.append(np.concatenate([h, np.zeros((1, xn.shape[1] - n, h.shape[-1]))], 1))
    return np.concatenate(rows, 0)


def bs_gather(run, x, lengths):  # index arrays; run on a MindSpore Tensor
    idx = _rev_index(lengths, x.shape[1])
    rows = np.arange(len(lengths))[:, None]
    h = run(ms.Tensor(x.asnumpy()[rows, idx])).asnumpy()
    return ms.Tensor(h[rows, idx])


def bs_mindspore_rows(run, x, lengths):  # ops.flip on each row's real part, padding copied from a full run
    full = run(x)
    rows = []
    for b, n in enumerate(lengths):
        real = ops.flip(run(ops.flip(x[b:b + 1, :n], (1,))), (1,))
        rows.append(ops.cat((real, full[b:b + 1, n:]), 1) if n < x.shape[1] else real)
    return ops.cat(rows, 0)


def bs_tuple_lengths(run, x, lengths):  # lengths read as a tuple, nested lists returned
    idx = _rev_index(tuple(lengths), x.shape[1])
    rows = np.arange(len(lengths))[:, None]
    return run(x.asnumpy()[rows, idx])[rows, idx].tolist()


def bs_batch_axis(run, x, lengths):  # flipped the batch, not time
    return ops.flip(run(ops.flip(x, (0,))), (0,))


def bs_reversed_forward(run, x, lengths):  # reversed the forward states instead of the input
    return ops.reverse_sequence(run(x), ms.Tensor(lengths, ms.int32), seq_dim=1, batch_dim=0)


def bs_numpy_whole_row(run, x, lengths):  # ignores lengths: the padding is read first
    return run(x.asnumpy()[:, ::-1].copy())[:, ::-1]


def bs_not_back_whole(run, x, lengths):  # whole-row flip, never flipped back
    return run(ops.flip(x, (1,)))


def bs_feature_axis(run, x, lengths):  # flipped the features
    return run(ops.flip(x, (2,)))


def bs_off_by_one(run, x, lengths):  # reverses one position too few: the last real token is left out
    idx = _rev_index([max(n - 1, 1) for n in lengths], x.shape[1])
    rows = np.arange(len(lengths))[:, None]
    return run(x.asnumpy()[rows, idx])[rows, idx]


def bs_ragged(run, x, lengths):  # a list of per-row arrays of different lengths
    xn = x.asnumpy()
    return [run(xn[b:b + 1, :n][:, ::-1].copy())[0, ::-1] for b, n in enumerate(lengths)]


def bs_package(run, x, lengths):  # right values, but builds the package's BiLM on the way
    elmo.BiLM(5, dim=2, num_layers=1)
    return bs_gather(run, x, lengths)


# --- Exercise 3.2 · the biLM loss -----------------------------------------------------------------

def _np_ce(logits, targets):
    z = logits - logits.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    return -np.take_along_axis(logp, targets[..., None], -1).mean()


def loss_numpy64(fwd, bwd, ids):
    f, b, i = (t.asnumpy() for t in (fwd, bwd, ids))
    f, b = f.astype(np.float64), b.astype(np.float64)
    return (_np_ce(f[:, :-1], i[:, 1:]) + _np_ce(b[:, 1:], i[:, :-1])) / 2


def loss_loops(fwd, bwd, ids):  # plain Python over positions, float per term
    f, b, i = (t.asnumpy().astype(np.float64) for t in (fwd, bwd, ids))
    total, count = 0.0, 0
    for r in range(i.shape[0]):
        for t in range(i.shape[1]):
            if t + 1 < i.shape[1]:
                total += -(f[r, t, int(i[r, t + 1])] - np.log(np.exp(f[r, t]).sum()))
                count += 1
            if t > 0:
                total += -(b[r, t, int(i[r, t - 1])] - np.log(np.exp(b[r, t]).sum()))
                count += 1
    return total / count  # both directions predict the same number of tokens: the mean of the two means


def loss_one_call(fwd, bwd, ids):  # both directions in one cross-entropy call
    v = fwd.shape[-1]
    logits = ops.cat((fwd[:, :-1].reshape(-1, v), bwd[:, 1:].reshape(-1, v)), 0)
    targets = ops.cat((ids[:, 1:].reshape(-1), ids[:, :-1].reshape(-1)), 0)
    return ops.cross_entropy(logits, targets)


def _ms_ce(logits, targets, reduction="mean"):
    return ops.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction=reduction)


def loss_swapped(fwd, bwd, ids):
    return (_ms_ce(fwd[:, 1:], ids[:, :-1]) + _ms_ce(bwd[:, :-1], ids[:, 1:])) / 2


def loss_own_token(fwd, bwd, ids):
    return (_ms_ce(fwd, ids) + _ms_ce(bwd, ids)) / 2


def loss_time_axis(fwd, bwd, ids):  # log-softmax over time, not the vocabulary
    f = ops.log_softmax(fwd[:, :-1], 1)
    b = ops.log_softmax(bwd[:, 1:], 1)
    nll = ops.nll_loss
    v = fwd.shape[-1]
    return (nll(f.reshape(-1, v), ids[:, 1:].reshape(-1)) + nll(b.reshape(-1, v), ids[:, :-1].reshape(-1))) / 2


def loss_double_softmax(fwd, bwd, ids):
    return (_ms_ce(ops.softmax(fwd[:, :-1], -1), ids[:, 1:]) + _ms_ce(ops.softmax(bwd[:, 1:], -1), ids[:, :-1])) / 2


def loss_forward_only(fwd, bwd, ids):
    return _ms_ce(fwd[:, :-1], ids[:, 1:])


def loss_token_sum(fwd, bwd, ids):
    return (_ms_ce(fwd[:, :-1], ids[:, 1:], "sum") + _ms_ce(bwd[:, 1:], ids[:, :-1], "sum")) / 2


def loss_per_token(fwd, bwd, ids):  # forgot the mean: one loss per position
    return (_ms_ce(fwd[:, :-1], ids[:, 1:], "none") + _ms_ce(bwd[:, 1:], ids[:, :-1], "none")) / 2


def loss_off_by_two(fwd, bwd, ids):
    if ids.shape[1] < 3:
        return loss_own_token(fwd, bwd, ids)
    return (_ms_ce(fwd[:, :-2], ids[:, 2:]) + _ms_ce(bwd[:, 2:], ids[:, :-2])) / 2


def loss_package(fwd, bwd, ids):  # the package's loss, fed the logits through a fake model
    return elmo.bilm_loss(lambda _: (fwd[:, :-1], bwd[:, 1:]), ids)


# --- Exercise 3.3 · the scalar mix ------------------------------------------------------------------

def mix_numpy(layers, w, gamma):
    h = np.stack([a.asnumpy().astype(np.float64) for a in layers])
    w = w.asnumpy().astype(np.float64)
    s = np.exp(w - w.max()) / np.exp(w - w.max()).sum()
    return float(gamma.asnumpy()) * np.einsum("j,jbtd->btd", s, h)


def mix_python_floats(layers, w, gamma):  # exp / sum written out, no max subtracted
    ws = [float(v) for v in w.asnumpy()]
    z = sum(np.exp(v) for v in ws)
    out = 0
    for v, h in zip(ws, layers):
        out = out + (np.exp(v) / z) * h.asnumpy()
    return float(gamma.asnumpy()) * out


def mix_stack_last(layers, w, gamma):  # stacked on a new last axis, weights along it
    return gamma * (ops.stack(layers, -1) * ops.softmax(w, 0)).sum(-1)


def mix_uniform(layers, w, gamma):
    return gamma * sum(layers) / len(layers)


def mix_normalised(layers, w, gamma):
    return gamma * sum((w[j] / w.sum()) * h for j, h in enumerate(layers))


def mix_broadcast_features(layers, w, gamma):  # weights along D, not along the layers
    return gamma * (ops.stack(layers, 0) * ops.softmax(w, 0)).sum(0)


def mix_three_layers(layers, w, gamma):  # hard-coded for the lesson's 3 layers
    s = ops.softmax(w, 0)
    return gamma * (s[0] * layers[0] + s[1] * layers[1] + s[2] * layers[2])


def mix_log_softmax(layers, w, gamma):
    s = ops.log_softmax(w, 0)
    return gamma * sum(s[j] * h for j, h in enumerate(layers))


def mix_softmax_values(layers, w, gamma):  # softmax over the layers' values, attention-style
    h = ops.stack(layers, 0) * w.reshape(-1, 1, 1, 1)
    return gamma * (ops.softmax(h, 0) * ops.stack(layers, 0)).sum(0)


def mix_package(layers, w, gamma):
    mix = elmo.ScalarMix(len(layers))
    mix.weights.set_data(w)
    mix.gamma.set_data(gamma)
    return mix(layers)


CASES = {
    "backward_states": {
        "wrong": [(bs_batch_axis, "forward states"), (bs_reversed_forward, "reversed the forward states"),
                  (bs_numpy_whole_row, "padding"), (bs_not_back_whole, "reversed order"), (bs_feature_axis, None),
                  (bs_off_by_one, None), (bs_ragged, "array"), (bs_package, "write it yourself")],
        "right": [bs_numpy_loop, bs_gather, bs_mindspore_rows, bs_tuple_lengths],
    },
    "bilm_loss": {
        "wrong": [(loss_swapped, "swapped"), (loss_own_token, "own token"), (loss_time_axis, "wrong axis"),
                  (loss_double_softmax, "softmax before"), (loss_forward_only, "forward LM's loss alone"),
                  (loss_token_sum, "summed"), (loss_per_token, "one number"), (loss_off_by_two, None),
                  (loss_package, "write it yourself")],
        "right": [loss_numpy64, loss_loops, loss_one_call],
    },
    "elmo_scalar_mix": {
        "wrong": [(mix_uniform, "equal weights"), (mix_normalised, "divided w by its sum"),
                  (mix_broadcast_features, "features"), (mix_three_layers, None), (mix_log_softmax, "log_softmax"),
                  (mix_softmax_values, None), (mix_package, "write it yourself")],
        "right": [mix_numpy, mix_python_floats, mix_stack_last],
    },
}

WRONG = [(name, fn, words) for name, case in CASES.items() for fn, words in case["wrong"]]
RIGHT = [(name, fn) for name, case in CASES.items() for fn in case["right"]]


@pytest.mark.parametrize("name,answer,words", WRONG, ids=[f"{n}-{f.__name__}" for n, f, _ in WRONG])
def test_mistake_rejected_every_run(name, answer, words):
    rejected_every_run(getattr(check, name), answer, words)


@pytest.mark.parametrize("name,answer", RIGHT, ids=[f"{n}-{f.__name__}" for n, f in RIGHT])
def test_correct_style_accepted_every_run(name, answer):
    accepted_every_run(getattr(check, name), answer)


def test_every_check_of_the_lesson_is_covered():
    from bert_ms.exercises import lesson03
    assert set(CASES) == set(lesson03.__all__)
    for case in CASES.values():
        assert len(case["wrong"]) >= 5 and len(case["right"]) >= 2
