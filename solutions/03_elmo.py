"""Solutions to the exercises of lesson 03 (ELMo), and typical wrong answers.

Open this file only after trying: ``check.<name>(your_answer)`` in the notebook says whether you are right.
"""

import mindspore as ms
from mindspore import ops


# Exercise 3.1 ------------------------------------------------------------------------------------
def backward_states(run, x, lengths):
    # reverse each row's first lengths[b] positions (the padding stays at the end), run, reverse back
    n = ms.Tensor(lengths, ms.int32)
    reversed_x = ops.reverse_sequence(x, n, seq_dim=1, batch_dim=0)
    return ops.reverse_sequence(run(reversed_x), n, seq_dim=1, batch_dim=0)


def _not_flipped_back(run, x, lengths):
    return run(ops.reverse_sequence(x, ms.Tensor(lengths, ms.int32), seq_dim=1, batch_dim=0))


def _forward_only(run, x, lengths):
    return run(x)


def _whole_row_flipped(run, x, lengths):  # right only without padding
    return ops.flip(run(ops.flip(x, (1,))), (1,))


# Exercise 3.2 ------------------------------------------------------------------------------------
def _ce(logits, targets):
    return ops.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def bilm_loss(fwd_logits, bwd_logits, ids):
    forward = _ce(fwd_logits[:, :-1], ids[:, 1:])  # position t predicts t+1
    backward = _ce(bwd_logits[:, 1:], ids[:, :-1])  # position t predicts t-1
    return (forward + backward) / 2


def _both_predict_next(fwd_logits, bwd_logits, ids):
    return (_ce(fwd_logits[:, :-1], ids[:, 1:]) + _ce(bwd_logits[:, :-1], ids[:, 1:])) / 2


def _summed(fwd_logits, bwd_logits, ids):
    return _ce(fwd_logits[:, :-1], ids[:, 1:]) + _ce(bwd_logits[:, 1:], ids[:, :-1])


# Exercise 3.3 ------------------------------------------------------------------------------------
def scalar_mix(layers, w, gamma):
    s = ops.softmax(w, 0)
    return gamma * sum(s[j] * h for j, h in enumerate(layers))


def _raw_weights(layers, w, gamma):
    return gamma * sum(w[j] * h for j, h in enumerate(layers))


def _no_gamma(layers, w, gamma):
    s = ops.softmax(w, 0)
    return sum(s[j] * h for j, h in enumerate(layers))


SOLUTIONS = {"backward_states": backward_states, "bilm_loss": bilm_loss, "elmo_scalar_mix": scalar_mix}

WRONG = {
    "backward_states": [(_not_flipped_back, "flip the states back"), (_forward_only, "forward states"),
                        (_whole_row_flipped, "padding")],
    "bilm_loss": [(_both_predict_next, "PREVIOUS word"), (_summed, "their mean")],
    "elmo_scalar_mix": [(_raw_weights, "softmax"), (_no_gamma, "γ")],
}
