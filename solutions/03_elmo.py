"""Solutions to the exercises of lesson 03 (ELMo), and typical wrong answers.

Open this file only after trying: ``check.<name>(your_answer)`` in the notebook says whether you are right.
"""

from mindspore import ops


# Exercise 3.1 ------------------------------------------------------------------------------------
def scalar_mix(layers, w, gamma):
    s = ops.softmax(w, 0)
    return gamma * sum(s[j] * h for j, h in enumerate(layers))


def _raw_weights(layers, w, gamma):
    return gamma * sum(w[j] * h for j, h in enumerate(layers))


def _no_gamma(layers, w, gamma):
    s = ops.softmax(w, 0)
    return sum(s[j] * h for j, h in enumerate(layers))


# Exercise 3.2 ------------------------------------------------------------------------------------
def backward_states(run, x):
    return ops.flip(run(ops.flip(x, (1,))), (1,))


def _not_flipped_back(run, x):
    return run(ops.flip(x, (1,)))


def _forward_only(run, x):
    return run(x)


# Exercise 3.3 ------------------------------------------------------------------------------------
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


SOLUTIONS = {"elmo_scalar_mix": scalar_mix, "backward_states": backward_states, "bilm_loss": bilm_loss}

WRONG = {
    "elmo_scalar_mix": [(_raw_weights, "softmax"), (_no_gamma, "γ")],
    "backward_states": [(_not_flipped_back, "flip the states back"), (_forward_only, "forward states")],
    "bilm_loss": [(_both_predict_next, "PREVIOUS word"), (_summed, "their mean")],
}
