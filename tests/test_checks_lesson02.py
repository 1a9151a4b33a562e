"""The checks of lesson 02 against typical mistakes and against correct answers in other styles.

Each mistake must be rejected on every one of 20 runs (every run draws fresh inputs), with a message that
names it where the check can tell; each correct variant must be accepted on every run. The last test proves
the LSTM exercise's equations (gate order i, f, g, o; two biases) equal MindSpore's ``nn.LSTM``.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
from collections import Counter
from pathlib import Path

import mindspore as ms
import numpy as np
import pytest
from adversarial import accepted_every_run, rejected_every_run
from mindspore import nn, ops

from bert_ms.classic import language_model as lm
from bert_ms.exercises import check

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("solutions_02_adv", ROOT / "solutions" / "02_neural_language_models.py")
SOL = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(SOL)


def _np(t):
    return t.asnumpy().astype(np.float64) if hasattr(t, "asnumpy") else np.asarray(t, np.float64)


# --- Exercise 2.1: the add-k bigram -----------------------------------------------------------------

def _counts(ids, vocab, prev=None, nxt=None):
    c = np.zeros((vocab, vocab))
    np.add.at(c, (ids[:-1] if prev is None else prev, ids[1:] if nxt is None else nxt), 1)
    return c


def bigram_v_from_set(ids, vocab_size, k):
    v = len(set(ids.tolist()))
    return SOL.add_k_bigram(ids, v, k)


def bigram_v_from_max(ids, vocab_size, k):
    return SOL.add_k_bigram(ids, int(ids.max()) + 1, k)


def bigram_add_one(ids, vocab_size, k):
    return SOL.add_k_bigram(ids, vocab_size, 1.0)


def bigram_plus_v(ids, vocab_size, k):
    c = _counts(ids, vocab_size)
    return (c + k) / (c.sum(1, keepdims=True) + vocab_size)


def bigram_unigram_denominator(ids, vocab_size, k):
    c = _counts(ids, vocab_size)
    return (c + k) / (np.bincount(ids, minlength=vocab_size)[:, None] + k * vocab_size)


def bigram_wraps_around(ids, vocab_size, k):
    c = _counts(ids, vocab_size, ids, np.roll(ids, -1))
    return (c + k) / (c.sum(1, keepdims=True) + k * vocab_size)


def bigram_skips_one(ids, vocab_size, k):
    c = _counts(ids, vocab_size, ids[:-2], ids[2:])
    return (c + k) / (c.sum(1, keepdims=True) + k * vocab_size)


def bigram_joint(ids, vocab_size, k):
    c = _counts(ids, vocab_size)
    return (c + k) / (c.sum() + k * vocab_size ** 2)


def bigram_package(ids, vocab_size, k):
    model = lm.NGramLM(2, vocab_size, k=k).fit(ids)
    return np.array([[model.prob([p], w) for w in range(vocab_size)] for p in range(vocab_size)])


def bigram_loops(ids, vocab_size, k):  # plain Python, nested lists
    pairs = Counter(zip(ids[:-1].tolist(), ids[1:].tolist()))
    prev = Counter(ids[:-1].tolist())
    return [[(pairs[(p, w)] + k) / (prev[p] + k * vocab_size) for w in range(vocab_size)] for p in range(vocab_size)]


def bigram_mindspore(ids, vocab_size, k):  # a float32 MindSpore tensor, counts by a one-hot product
    eye = np.eye(vocab_size, dtype=np.float32)
    counts = ops.matmul(ms.Tensor(eye[ids[:-1]]).T, ms.Tensor(eye[ids[1:]]))
    return (counts + k) / (counts.sum(1, keepdims=True) + k * vocab_size)


@pytest.mark.parametrize("answer, words", [
    (bigram_v_from_set, "take V from vocab_size"),  # the learner's own IndexError, named by the check
    (bigram_v_from_max, "vocab_size"),
    (bigram_add_one, "add-one"),
    (bigram_plus_v, "k·V"),
    (bigram_unigram_denominator, "train_ids[:-1]"),
    (bigram_wraps_around, "wraps around"),
    (bigram_skips_one, "two places"),
    (bigram_joint, "must sum to 1"),
    (bigram_package, "write it yourself"),
])
def test_bigram_rejects(answer, words):
    rejected_every_run(check.add_k_bigram, answer, words)


@pytest.mark.parametrize("answer", [SOL.add_k_bigram, bigram_loops, bigram_mindspore])
def test_bigram_accepts(answer):
    accepted_every_run(check.add_k_bigram, answer)


# --- Exercise 2.2: perplexity from logits -------------------------------------------------------------

def _nll(logits, targets, axis=-1):
    z = _np(logits)
    logp = z - z.max(axis, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(axis, keepdims=True))
    t = _np(targets).astype(int)
    return -logp[np.arange(len(t)), t]


def ppl_base_two(logits, targets):
    return float(2 ** _nll(logits, targets).mean())


def ppl_mean_of_exp(logits, targets):
    return float(np.exp(_nll(logits, targets)).mean())


def ppl_raw_scores(logits, targets):
    z, t = _np(logits), _np(targets).astype(int)
    return float(np.exp(-z[np.arange(len(t)), t].mean()))


def ppl_axis0(logits, targets):
    return float(np.exp(_nll(logits, targets, axis=0).mean()))


def ppl_shifted(logits, targets):
    return math.exp(float(ops.cross_entropy(logits[:-1], targets[1:]).asnumpy()))


def ppl_inverse_mean_prob(logits, targets):
    return float(1 / np.exp(-_nll(logits, targets)).mean())


def ppl_argmax(logits, targets):
    z = _np(logits)
    return float(np.exp(_nll(logits, z.argmax(1)).mean()))


def ppl_per_position(logits, targets):
    return ops.exp(ops.cross_entropy(logits, targets, reduction="none"))


def ppl_metric(logits, targets):
    from mindspore.train import Perplexity

    metric = Perplexity()
    metric.clear()
    metric.update(logits, targets)
    return metric.eval()


def ppl_numpy_logsumexp(logits, targets):  # float64 NumPy
    return float(np.exp(_nll(logits, targets).mean()))


def ppl_geometric_mean(logits, targets):  # (Π p)^(-1/N), with MindSpore's softmax and gather
    p = ops.softmax(logits, axis=-1)
    p_t = ops.gather_elements(p, 1, targets.reshape(-1, 1).astype(ms.int32)).reshape(-1)
    return float(np.prod(_np(p_t) ** (-1.0 / p_t.shape[0])))


def ppl_tensor(logits, targets):  # a 0-d Tensor
    logp = ops.log_softmax(logits, axis=-1)
    picked = ops.gather_elements(logp, 1, targets.reshape(-1, 1).astype(ms.int32))
    return ops.exp(-picked.mean())


@pytest.mark.parametrize("answer, words", [
    (SOL._sum_not_mean, "sum"),
    (ppl_base_two, "not 2"),
    (ppl_mean_of_exp, "geometric mean"),
    (ppl_raw_scores, "log softmax"),
    (ppl_axis0, "axis 0"),
    (ppl_shifted, "shifted"),
    (ppl_inverse_mean_prob, "mean of -log p"),
    (ppl_argmax, "expected"),
    (ppl_per_position, "one number"),
    (ppl_metric, "write it yourself"),
])
def test_perplexity_rejects(answer, words):
    rejected_every_run(check.perplexity_from_logits, answer, words)


@pytest.mark.parametrize("answer", [SOL.perplexity_from_logits, ppl_numpy_logsumexp, ppl_geometric_mean, ppl_tensor])
def test_perplexity_accepts(answer):
    accepted_every_run(check.perplexity_from_logits, answer)


# --- Exercise 2.3: one step of a vanilla RNN ---------------------------------------------------------

def rnn_sigmoid(x, s, U, W, b):
    return ops.sigmoid(ops.matmul(x, U.T) + ops.matmul(s, W.T) + b)


def rnn_relu(x, s, U, W, b):
    return ops.relu(ops.matmul(x, U.T) + ops.matmul(s, W.T) + b)


def rnn_no_bias(x, s, U, W, b):
    return ops.tanh(ops.matmul(x, U.T) + ops.matmul(s, W.T))


def rnn_w_transposed(x, s, U, W, b):
    return ops.tanh(ops.matmul(x, U.T) + ops.matmul(s, W) + b)


def rnn_u_untransposed(x, s, U, W, b):  # runs only where D == H; elsewhere it raises (the learner's error)
    return ops.tanh(ops.matmul(x, U) + ops.matmul(s, W.T) + b)


def rnn_tanh_outside(x, s, U, W, b):
    return ops.tanh(ops.matmul(x, U.T) + b) + ops.matmul(s, W.T)


def rnn_residual(x, s, U, W, b):
    return s + ops.tanh(ops.matmul(x, U.T) + ops.matmul(s, W.T) + b)


def rnn_package(x, s, U, W, b):
    cell = nn.RNNCell(U.shape[1], U.shape[0])
    cell.weight_ih.set_data(U)
    cell.weight_hh.set_data(W)
    cell.bias_ih.set_data(b)
    cell.bias_hh.set_data(ops.zeros_like(b))
    return cell(x, s)


def rnn_numpy(x, s, U, W, b):  # float64 NumPy
    x, s, U, W, b = map(_np, (x, s, U, W, b))
    return np.tanh(x @ U.T + s @ W.T + b)


def rnn_concatenated(x, s, U, W, b):  # [x, s] @ [U, W]ᵀ, one product
    return ops.tanh(ops.matmul(ops.cat([x, s], axis=1), ops.cat([U, W], axis=1).T) + b)


@pytest.mark.parametrize("answer, words", [
    (SOL._no_tanh, "apply tanh"),
    (rnn_sigmoid, "sigmoid"),
    (rnn_relu, "relu"),
    (rnn_no_bias, "bias b is missing"),
    (rnn_w_transposed, "W is transposed"),
    (rnn_u_untransposed, None),
    (rnn_tanh_outside, None),  # rejected every run; in a rectangular case with its own shape error
    (rnn_residual, "expected"),
    (rnn_package, "write it yourself"),
])
def test_rnn_step_rejects(answer, words):
    rejected_every_run(check.rnn_step, answer, words)


@pytest.mark.parametrize("answer", [SOL.rnn_step, rnn_numpy, rnn_concatenated])
def test_rnn_step_accepts(answer):
    accepted_every_run(check.rnn_step, answer)


# --- Exercise 2.4: one step of an LSTM -----------------------------------------------------------------

def _sig(z):
    return 1 / (1 + np.exp(-z))


def _lstm_np(x, h, c, W_ih, W_hh, b_ih, b_hh, order="ifgo", **wrong):
    x, h, c, W_ih, W_hh, b_ih, b_hh = map(_np, (x, h, c, W_ih, W_hh, b_ih, b_hh))
    z = x @ W_ih.T + (c if wrong.get("c_in") else h) @ W_hh.T + b_ih + b_hh
    gate = dict(zip(order, np.split(z, 4, axis=1)))
    i, f, g, o = _sig(gate["i"]), _sig(gate["f"]), np.tanh(gate["g"]), _sig(gate["o"])
    c_new = f * c + i * g
    h_new = o * (c_new if wrong.get("no_tanh") else np.tanh(c if wrong.get("old_c") else c_new))
    return h_new, c_new


def lstm_igfo(*args):  # the candidate read from the second block (TensorFlow's i, j, f, o)
    return _lstm_np(*args, order="igfo")


def lstm_fiog(*args):
    return _lstm_np(*args, order="fiog")


def lstm_swapped(x, h, c, W_ih, W_hh, b_ih, b_hh):
    z = ops.matmul(x, W_ih.T) + ops.matmul(h, W_hh.T) + b_ih + b_hh
    i, f, g, o = ops.chunk(z, 4, axis=1)
    c_t = ops.tanh(f) * c + ops.tanh(i) * ops.sigmoid(g)
    return ops.tanh(o) * ops.tanh(c_t), c_t


def lstm_c_h_swapped(*args):
    h, c = SOL.lstm_step(*args)
    return c, h


def lstm_no_tanh(*args):
    return _lstm_np(*args, no_tanh=True)


def lstm_old_c(*args):
    return _lstm_np(*args, old_c=True)


def lstm_c_in(*args):
    return _lstm_np(*args, c_in=True)


def lstm_b_ih_twice(x, h, c, W_ih, W_hh, b_ih, b_hh):
    return SOL.lstm_step(x, h, c, W_ih, W_hh, b_ih, b_ih)


def lstm_only_h(*args):
    return SOL.lstm_step(*args)[0]


def lstm_package(x, h, c, W_ih, W_hh, b_ih, b_hh):
    cell = nn.LSTMCell(W_ih.shape[1], W_hh.shape[1])
    cell.weight_ih.set_data(W_ih)
    cell.weight_hh.set_data(W_hh)
    cell.bias_ih.set_data(b_ih)
    cell.bias_hh.set_data(b_hh)
    return cell(x, (h, c))


def lstm_numpy(*args):  # float64 NumPy
    return _lstm_np(*args)


def lstm_per_gate(x, h, c, W_ih, W_hh, b_ih, b_hh):  # four products, one per gate, returned as a list
    H = h.shape[1]

    def block(k):
        rows = slice(k * H, (k + 1) * H)
        return ops.matmul(x, W_ih[rows].T) + ops.matmul(h, W_hh[rows].T) + b_ih[rows] + b_hh[rows]

    i, f, g, o = ops.sigmoid(block(0)), ops.sigmoid(block(1)), ops.tanh(block(2)), ops.sigmoid(block(3))
    c_t = f * c + i * g
    return [o * ops.tanh(c_t), c_t]


@pytest.mark.parametrize("answer, words", [
    (SOL._lstm_ifog, "gate order"),
    (lstm_igfo, "gate order"),
    (lstm_fiog, "gate order"),
    (SOL._lstm_no_forget, "forget gate is missing"),
    (SOL._lstm_one_bias, "b_hh is missing"),
    (lstm_swapped, "tanh and sigmoid are swapped"),
    (lstm_c_h_swapped, "(c_t, h_t)"),
    (lstm_no_tanh, "tanh of the cell state"),
    (lstm_old_c, "new cell state"),
    (lstm_c_in, "not the cell state"),
    (lstm_b_ih_twice, "added twice"),
    (lstm_only_h, "pair"),
    (lstm_package, "write it yourself"),
])
def test_lstm_step_rejects(answer, words):
    rejected_every_run(check.lstm_step, answer, words)


@pytest.mark.parametrize("answer", [SOL.lstm_step, lstm_numpy, lstm_per_gate])
def test_lstm_step_accepts(answer):
    accepted_every_run(check.lstm_step, answer)


def test_the_lstm_equations_are_mindsporess_lstm():
    """The gate order and the two biases the exercise states are those of nn.LSTM (and only that order)."""
    rng = np.random.default_rng(0)
    layer = nn.LSTM(5, 4, batch_first=True)
    x = rng.normal(size=(2, 6, 5)).astype(np.float32)
    out, (h_n, c_n) = layer(ms.Tensor(x))
    weights = [getattr(layer, n).asnumpy() for n in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")]
    matching = []
    for order in ("".join(p) for p in itertools.permutations("ifgo")):
        h = c = np.zeros((2, 4))
        states = []
        for t in range(6):
            h, c = _lstm_np(x[:, t], h, c, *weights, order=order)
            states.append(h)
        if np.allclose(np.stack(states, 1), out.asnumpy(), atol=1e-5) and np.allclose(c, c_n.asnumpy()[0], atol=1e-5):
            matching.append(order)
    assert matching == ["ifgo"]
    h = c = ms.Tensor(np.zeros((2, 4), np.float32))
    for t in range(6):
        h, c = SOL.lstm_step(ms.Tensor(x[:, t]), h, c, *(ms.Tensor(w) for w in weights))
    assert np.allclose(h.asnumpy(), h_n.asnumpy()[0], atol=1e-5) and np.allclose(c.asnumpy(), c_n.asnumpy()[0], atol=1e-5)


# --- Exercise 2.5: clipping by the global norm -----------------------------------------------------------

def _global(grads):
    return math.sqrt(sum(float((_np(g) ** 2).sum()) for g in grads))


def clip_squared_test(grads, max_norm):  # compares the SQUARED norm with max_norm
    norm = _global(grads)
    return [g * (max_norm / norm) for g in grads] if norm ** 2 > max_norm else list(grads)


def clip_twice_threshold(grads, max_norm):
    norm = _global(grads)
    return [g * (max_norm / norm) for g in grads] if norm > 2 * max_norm else list(grads)


def clip_l1(grads, max_norm):
    norm = sum(float(np.abs(_np(g)).sum()) for g in grads)
    return [g * (max_norm / max(norm, max_norm)) for g in grads]


def clip_max_abs(grads, max_norm):
    norm = max(float(np.abs(_np(g)).max()) for g in grads)
    return [g * (max_norm / max(norm, max_norm)) for g in grads]


def clip_rms(grads, max_norm):
    flat = np.concatenate([_np(g).ravel() for g in grads])
    norm = float(np.sqrt((flat ** 2).mean()))
    return [g * (max_norm / max(norm, max_norm)) for g in grads]


def clip_first_tensor(grads, max_norm):
    norm = float(np.sqrt((_np(grads[0]) ** 2).sum()))
    return [g * (max_norm / max(norm, max_norm)) for g in grads]


def clip_divide_by_square(grads, max_norm):
    norm = _global(grads)
    return [g * (max_norm / max(norm ** 2, max_norm)) for g in grads]


def clip_concatenated(grads, max_norm):  # one flat tensor back
    flat = ops.cat([g.reshape(-1) for g in grads])
    norm = ops.sqrt((flat * flat).sum())
    return flat * (max_norm / ops.maximum(norm, max_norm))


def clip_by_norm_op(grads, max_norm):
    return list(ops.clip_by_norm(tuple(grads), max_norm))


def clip_numpy(grads, max_norm):  # float64 NumPy, a tuple, min(1, θ/‖g‖)
    norm = _global(grads)
    return tuple(_np(g) * min(1.0, max_norm / norm) for g in grads)


def clip_if(grads, max_norm):  # an if on the norm, MindSpore tensors
    norm = float(ops.sqrt(ops.stack([ops.square(g).sum() for g in grads]).sum()).asnumpy())
    if norm > max_norm:
        return [g * (max_norm / norm) for g in grads]
    return grads


@pytest.mark.parametrize("answer, words", [
    (SOL._per_tensor, "own norm"),
    (SOL._by_value, "clip by value"),
    (SOL._always_rescaled, "unchanged"),
    (clip_squared_test, "not its square"),
    (clip_twice_threshold, "not a multiple of max_norm"),
    (clip_l1, "expected"),
    (clip_max_abs, "expected"),
    (clip_rms, "expected"),
    (clip_first_tensor, "global norm"),
    (clip_divide_by_square, "squared norm"),
    (clip_concatenated, "list of"),
    (SOL._package_clip, "write it yourself"),
    (clip_by_norm_op, "write it yourself"),
])
def test_clip_rejects(answer, words):
    rejected_every_run(check.clip_by_global_norm, answer, words)


@pytest.mark.parametrize("answer", [SOL.clip_by_global_norm, clip_numpy, clip_if])
def test_clip_accepts(answer):
    accepted_every_run(check.clip_by_global_norm, answer)
