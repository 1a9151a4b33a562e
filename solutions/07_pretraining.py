"""Solutions to the exercises of lesson 07 (notebooks/07_pretraining.py), and typical wrong answers.

Open this file after you have tried: each exercise's check (``bert_ms.exercises.check``) tells you
whether your own answer is right. ``tests/test_exercises.py`` runs every solution through its check
and proves that each wrong answer below is rejected with a message naming the mistake.
"""

import math

from mindspore import ops

SPECIAL = ("[CLS]", "[SEP]", "[PAD]")


# Exercise 7.1 ---------------------------------------------------------------------------------
# choose 15 % of the maskable tokens, then 80 % [MASK] / 10 % random / 10 % unchanged
def mlm_mask(tokens, vocab, rng):
    candidates = [i for i, t in enumerate(tokens) if t not in SPECIAL]
    exact = 0.15 * len(candidates)
    n = int(exact) + (rng.random() < exact - int(exact))  # rounded at random: exactly 15 % on average
    positions = sorted(int(i) for i in rng.choice(candidates, n, replace=False))
    words = [t for t in vocab if not (t.startswith("[") and t.endswith("]"))]
    out = list(tokens)
    for i in positions:
        r = rng.random()
        if r < 0.8:
            out[i] = "[MASK]"
        elif r < 0.9:
            out[i] = words[int(rng.integers(len(words)))]
        # else: keep the original token
    return out, positions, [tokens[i] for i in positions]


def mlm_mask_always_mask(tokens, vocab, rng):
    out, positions, labels = mlm_mask(tokens, vocab, rng)
    for i in positions:
        out[i] = "[MASK]"
    return out, positions, labels


def mlm_mask_with_specials(tokens, vocab, rng):
    positions = sorted(int(i) for i in rng.choice(len(tokens), round(0.15 * len(tokens)), replace=False))
    out = list(tokens)
    for i in positions:
        out[i] = "[MASK]" if rng.random() < 0.8 else tokens[i]
    return out, positions, [tokens[i] for i in positions]


def mlm_mask_corrupted_labels(tokens, vocab, rng):
    out, positions, _ = mlm_mask(tokens, vocab, rng)
    return out, positions, [out[i] for i in positions]


def mlm_mask_in_order(tokens, vocab, rng):
    candidates = [i for i, t in enumerate(tokens) if t not in SPECIAL]
    positions = candidates[:round(0.15 * len(candidates))]  # the first 15 %, not a random 15 %
    words = [t for t in vocab if not (t.startswith("[") and t.endswith("]"))]
    out = list(tokens)
    for i in positions:
        r = rng.random()
        if r < 0.8:
            out[i] = "[MASK]"
        elif r < 0.9:
            out[i] = words[int(rng.integers(len(words)))]
    return out, positions, [tokens[i] for i in positions]


def mlm_mask_no_unchanged(tokens, vocab, rng):
    out, positions, labels = mlm_mask(tokens, vocab, rng)
    words = [t for t in vocab if not t.startswith("[")]
    for i in positions:
        if out[i] == tokens[i]:  # the 10 % that should stay: replaced too
            out[i] = words[int(rng.integers(len(words)))]
    return out, positions, labels


# Exercise 7.2 ---------------------------------------------------------------------------------
# the MLM loss over the real predictions only
def mlm_loss(mlm_logits, masked_lm_ids, masked_lm_weights):
    logp = ops.log_softmax(mlm_logits, -1)
    nll = -ops.gather_elements(logp, -1, masked_lm_ids.expand_dims(-1)).squeeze(-1)  # [B, P]
    return (nll * masked_lm_weights).sum() / masked_lm_weights.sum()


def mlm_loss_d2l(mlm_logits, masked_lm_ids, masked_lm_weights):
    v = mlm_logits.shape[-1]
    mean = ops.cross_entropy(mlm_logits.reshape(-1, v), masked_lm_ids.reshape(-1))  # reduction="mean": a scalar
    weighted = mean * masked_lm_weights.reshape(-1, 1)
    return weighted.sum() / (masked_lm_weights.sum() + 1e-8)  # = mean: the weights did nothing


def mlm_loss_pytorchic(mlm_logits, masked_lm_ids, masked_lm_weights):
    nll = -ops.gather_elements(ops.log_softmax(mlm_logits, -1), -1, masked_lm_ids.expand_dims(-1)).squeeze(-1)
    return (nll * masked_lm_weights).mean()


def mlm_loss_per_sequence(mlm_logits, masked_lm_ids, masked_lm_weights):
    nll = -ops.gather_elements(ops.log_softmax(mlm_logits, -1), -1, masked_lm_ids.expand_dims(-1)).squeeze(-1)
    return ((nll * masked_lm_weights).sum(1) / masked_lm_weights.sum(1)).mean()


# Exercise 7.3 ---------------------------------------------------------------------------------
# NSP pairs, half IsNext (label 0), half NotNext from another document (label 1)
def nsp_pairs(documents, rng):
    pairs = []
    for d, doc in enumerate(documents):
        for i in range(len(doc) - 1):
            if rng.random() < 0.5:
                pairs.append((doc[i], doc[i + 1], 0))
            else:
                other = d
                while other == d:  # a different document
                    other = int(rng.integers(len(documents)))
                pairs.append((doc[i], documents[other][int(rng.integers(len(documents[other])))], 1))
    return pairs


def nsp_pairs_same_document(documents, rng):
    pairs = []
    for doc in documents:
        for i in range(len(doc) - 1):
            if rng.random() < 0.5:
                pairs.append((doc[i], doc[i + 1], 0))
            else:
                pairs.append((doc[i], doc[int(rng.integers(len(doc)))], 1))  # may even be the true next one
    return pairs


def nsp_pairs_labels_swapped(documents, rng):
    return [(a, b, 1 - label) for a, b, label in nsp_pairs(documents, rng)]


def nsp_pairs_45(documents, rng):
    pairs = []
    for d, doc in enumerate(documents):
        for i in range(len(doc) - 1):
            if rng.random() < 0.55:  # NotNext only 45 % of the time
                pairs.append((doc[i], doc[i + 1], 0))
            else:
                other = (d + 1 + int(rng.integers(len(documents) - 1))) % len(documents)
                pairs.append((doc[i], documents[other][int(rng.integers(len(documents[other])))], 1))
    return pairs


def nsp_pairs_always_next(documents, rng):
    return [(doc[i], doc[i + 1], 0) for doc in documents for i in range(len(doc) - 1)]


# Exercise 7.4 ---------------------------------------------------------------------------------
# with a constant gradient, m/√v = (1 - β1^t) / √(1 - β2^t); Adam's corrected update is 1
adam_uncorrected_ratio = (1 - 0.9 ** 10) / math.sqrt(1 - 0.999 ** 10)  # about 6.53

SOLUTIONS = {
    "mlm_mask": mlm_mask,
    "mlm_loss": mlm_loss,
    "nsp_pairs": nsp_pairs,
    "adam_uncorrected_ratio": adam_uncorrected_ratio,
}

WRONG = {
    "mlm_mask": [
        (mlm_mask_always_mask, "every chosen token became [MASK]"),
        (mlm_mask_with_specials, "never masked"),
        (mlm_mask_corrupted_labels, "ORIGINAL tokens"),
        (mlm_mask_no_unchanged, "unchanged"),
        (mlm_mask_in_order, "not spread over the sequence"),
    ],
    "mlm_loss": [
        (mlm_loss_d2l, "d2l"),
        (mlm_loss_pytorchic, "pytorchic-bert"),
        (mlm_loss_per_sequence, "per sequence"),
    ],
    "nsp_pairs": [
        (nsp_pairs_same_document, "own document"),
        (nsp_pairs_labels_swapped, "IsNext"),
        (nsp_pairs_always_next, "expected half"),
        (nsp_pairs_45, "expected half"),
    ],
    "adam_uncorrected_ratio": [
        (math.sqrt(1 - 0.999 ** 10) / (1 - 0.9 ** 10), "correction factor"),
        ((1 - 0.9 ** 100) / math.sqrt(1 - 0.999 ** 100), "step 100"),
        ((1 - 0.9 ** 11) / math.sqrt(1 - 0.999 ** 11), "t = 11"),
    ],
}
