"""Adversarial suite for lesson 08's checks (bert_ms/exercises/lesson08.py): for every check, typical
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
_spec = importlib.util.spec_from_file_location("solutions_08_adv", ROOT / "solutions" / "08_finetuning.py")
SOL = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(SOL)


# --- Exercise 8.1: truncate_pair ------------------------------------------------------------------

def _google(a, b, m):  # the reference loop, mutating its own copies
    a, b = list(a), list(b)
    while len(a) + len(b) > m:
        (a if len(a) > len(b) else b).pop()
    return a, b


def trunc_closed_form(tokens_a, tokens_b, max_tokens):
    """The same cut computed without a loop: the longer is cut to what the shorter leaves; if the shorter
    already fills half, both share the budget and tokens_a keeps the odd token."""
    la, lb = len(tokens_a), len(tokens_b)
    if la + lb <= max_tokens:
        return tuple(tokens_a), tuple(tokens_b)
    short = min(la, lb)
    if max_tokens - short >= short:
        na, nb = (max_tokens - lb, lb) if la > lb else (la, max_tokens - la)
    else:
        na, nb = (max_tokens + 1) // 2, max_tokens // 2
    return tuple(tokens_a[:na]), tuple(tokens_b[:nb])


def trunc_in_place(tokens_a, tokens_b, max_tokens):
    """google-research/bert's own style: pop from the given lists and return them."""
    while True:
        if len(tokens_a) + len(tokens_b) <= max_tokens:
            return tokens_a, tokens_b
        if len(tokens_a) > len(tokens_b):
            tokens_a.pop()
        else:
            tokens_b.pop()


def trunc_numpy(tokens_a, tokens_b, max_tokens):
    na, nb = len(tokens_a), len(tokens_b)
    while na + nb > max_tokens:
        if na > nb:
            na -= 1
        else:
            nb -= 1
    return np.array(tokens_a[:na], dtype=object).tolist(), list(np.array(tokens_b, dtype=object)[:nb])


def trunc_a_only(tokens_a, tokens_b, max_tokens):
    a = list(tokens_a[:max(max_tokens - len(tokens_b), 0)])
    return a, list(tokens_b[:max_tokens - len(a)])


def trunc_shorter_first(tokens_a, tokens_b, max_tokens):
    a, b = list(tokens_a), list(tokens_b)
    while len(a) + len(b) > max_tokens:
        if (len(a) < len(b) and a) or not b:
            a.pop()
        else:
            b.pop()
    return a, b


def trunc_tie_cuts_a(tokens_a, tokens_b, max_tokens):
    a, b = list(tokens_a), list(tokens_b)
    while len(a) + len(b) > max_tokens:
        if len(a) >= len(b):
            a.pop()
        else:
            b.pop()
    return a, b


def trunc_ge(tokens_a, tokens_b, max_tokens):  # cuts while the pair fits exactly, too
    a, b = list(tokens_a), list(tokens_b)
    while a or b:
        if len(a) + len(b) < max_tokens:
            break
        (a if len(a) > len(b) else b).pop()
    return a, b


def trunc_minus_three(tokens_a, tokens_b, max_tokens):  # room for [CLS] and two [SEP] taken twice
    return _google(tokens_a, tokens_b, max(max_tokens - 3, 0))


def trunc_half_each(tokens_a, tokens_b, max_tokens):  # HF-like split: the longer gets the odd token
    la, lb = len(tokens_a), len(tokens_b)
    if la + lb <= max_tokens:
        return list(tokens_a), list(tokens_b)
    if min(la, lb) <= max_tokens // 2:
        return _google(tokens_a, tokens_b, max_tokens)
    long_a = la > lb
    n_long, n_short = max_tokens // 2 + max_tokens % 2, max_tokens // 2
    na, nb = (n_long, n_short) if long_a else (n_short, n_long)
    return list(tokens_a[:na]), list(tokens_b[:nb])


def trunc_package(tokens_a, tokens_b, max_tokens):
    from bert_ms.bert.tokenization import truncate_longest_first
    return truncate_longest_first(tokens_a, tokens_b, max_tokens)


def trunc_hard_coded(tokens_a, tokens_b, max_tokens):
    return list("abcde"), list("xyz")


def trunc_joined(tokens_a, tokens_b, max_tokens):
    a, b = _google(tokens_a, tokens_b, max_tokens)
    return " ".join(a), " ".join(b)


def trunc_swapped_output(tokens_a, tokens_b, max_tokens):
    a, b = _google(tokens_a, tokens_b, max_tokens)
    return b, a


@pytest.mark.parametrize("answer", [SOL.truncate_pair, trunc_closed_form, trunc_in_place, trunc_numpy])
def test_truncate_pair_accepts_correct_styles(answer):
    accepted_every_run(check.truncate_pair, answer)


@pytest.mark.parametrize("answer, words", [
    (trunc_a_only, "cut the longer sentence first"),
    (trunc_shorter_first, "the shorter one here"),
    (trunc_tie_cuts_a, "on a tie"),
    (trunc_ge, "one token too many"),
    (trunc_minus_three, "[CLS]"),
    (trunc_half_each, "odd token"),
    (trunc_package, "write it yourself"),
    (trunc_hard_coded, "expected"),
    (trunc_joined, "list of tokens"),
    (trunc_swapped_output, "start of its own input"),
    (SOL.truncate_from_the_front, "from the front"),
])
def test_truncate_pair_rejects_mistakes(answer, words):
    rejected_every_run(check.truncate_pair, answer, words)


def test_the_check_reference_is_google_bert_s_loop_not_the_package_split():
    """The package's truncate_longest_first (HF tokenizers' rule) gives the odd token to the longer one on a
    tie-breaking cut; the exercise asks for _truncate_seq_pair, so the two differ and the check says so."""
    from bert_ms.bert.tokenization import truncate_longest_first

    a, b = list("abcd"), list("uvwxyzpqr")
    assert _google(a, b, 5) == (list("abc"), list("uv"))
    assert truncate_longest_first(a, b, 5) != _google(a, b, 5)


# --- Exercise 8.2: layerwise_lr -------------------------------------------------------------------

def lr_numpy(base_lr, decay, num_layers):
    return base_lr * np.power(decay, np.arange(num_layers, -1, -1, dtype=np.float64))


def lr_loop_down(base_lr, decay, num_layers):
    rates, r = [], base_lr
    for _ in range(num_layers + 1):
        rates.append(r)
        r *= decay
    return tuple(reversed(rates))


def lr_mindspore(base_lr, decay, num_layers):
    k = ms.Tensor(np.arange(num_layers + 1), ms.float32)
    return ms.Tensor(base_lr, ms.float32) * ms.ops.pow(ms.Tensor(decay, ms.float32), num_layers - k)


def lr_exponent_plus_one(base_lr, decay, num_layers):
    return [base_lr * decay ** (num_layers - k + 1) for k in range(num_layers + 1)]


def lr_exponent_minus_one(base_lr, decay, num_layers):
    return [base_lr * decay ** (num_layers - k - 1) for k in range(num_layers + 1)]


def lr_embeddings_like_layer_one(base_lr, decay, num_layers):
    rates = [base_lr * decay ** (num_layers - k) for k in range(num_layers + 1)]
    rates[0] = rates[1]
    return rates


def lr_embeddings_at_top(base_lr, decay, num_layers):
    rates = [base_lr * decay ** (num_layers - k) for k in range(num_layers + 1)]
    rates[0] = base_lr
    return rates


def lr_with_head(base_lr, decay, num_layers):
    return [base_lr * decay ** (num_layers - k) for k in range(num_layers + 1)] + [base_lr]


def lr_linear(base_lr, decay, num_layers):  # subtracts instead of multiplying
    return [base_lr * (1 - (1 - decay) * (num_layers - k)) for k in range(num_layers + 1)]


def lr_constant(base_lr, decay, num_layers):
    return [base_lr] * (num_layers + 1)


def lr_hard_coded(base_lr, decay, num_layers):
    return [2e-5 * 0.95 ** (12 - k) for k in range(13)]


def lr_dict(base_lr, decay, num_layers):
    return {k: base_lr * decay ** (num_layers - k) for k in range(num_layers + 1)}


@pytest.mark.parametrize("answer", [SOL.layerwise_lr, lr_numpy, lr_loop_down, lr_mindspore])
def test_layerwise_lr_accepts_correct_styles(answer):
    accepted_every_run(check.layerwise_lr, answer)


@pytest.mark.parametrize("answer, words", [
    (SOL.layerwise_lr_reversed, "reversed"),
    (SOL.layerwise_lr_without_embeddings, "embeddings' rate"),
    (lr_exponent_plus_one, "exponent is one too large"),
    (lr_exponent_minus_one, "exponent is one too small"),
    (lr_embeddings_like_layer_one, "layer 1's rate"),
    (lr_embeddings_at_top, "top layer's rate"),
    (lr_with_head, "needs no entry"),
    (lr_linear, "base_lr * decay^("),
    (lr_constant, "every layer got base_lr"),
    (lr_hard_coded, "expected"),
    (lr_dict, "a list"),
])
def test_layerwise_lr_rejects_mistakes(answer, words):
    rejected_every_run(check.layerwise_lr, answer, words)


# --- Exercise 8.3: spam_f1 ------------------------------------------------------------------------

def f1_from_pr(predictions, labels):
    tp = np.sum((predictions == 1) & (labels == 1))
    if tp == 0:
        return 0.0
    p, r = tp / np.sum(predictions == 1), tp / np.sum(labels == 1)
    return float(2 * p * r / (p + r))


def f1_swapped_names(predictions, labels):
    """Precision and recall mixed up by name: F1 is symmetric in them, so this is still the F1."""
    tp = int(np.sum(predictions * labels))
    recall = tp / max(int(predictions.sum()), 1)   # (really the precision)
    precision = tp / max(int(labels.sum()), 1)     # (really the recall)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def f1_mindspore(predictions, labels):
    p, y = ms.Tensor(predictions, ms.float32), ms.Tensor(labels, ms.float32)
    tp, fp, fn = (p * y).sum(), (p * (1 - y)).sum(), ((1 - p) * y).sum()
    return float((2 * tp / ms.ops.maximum(2 * tp + fp + fn, ms.Tensor(1.0))).asnumpy())


def f1_precision(predictions, labels):
    tp = np.sum((predictions == 1) & (labels == 1))
    return float(tp / max(np.sum(predictions == 1), 1))


def f1_recall(predictions, labels):
    tp = np.sum((predictions == 1) & (labels == 1))
    return float(tp / max(np.sum(labels == 1), 1))


def f1_arithmetic_mean(predictions, labels):
    return (f1_precision(predictions, labels) + f1_recall(predictions, labels)) / 2


def f1_macro(predictions, labels):
    return (SOL.spam_f1(predictions, labels) + SOL.spam_f1(1 - predictions, 1 - labels)) / 2


def f1_jaccard(predictions, labels):
    tp = np.sum((predictions == 1) & (labels == 1))
    return float(tp / max(np.sum((predictions == 1) | (labels == 1)), 1))


def f1_zero_division_nan(predictions, labels):
    tp = np.sum((predictions == 1) & (labels == 1))
    p = tp / np.sum(predictions == 1)
    r = tp / np.sum(labels == 1)
    return float(2 * p * r / (p + r))


def f1_zero_division_raises(predictions, labels):
    tp = int(((predictions == 1) & (labels == 1)).sum())
    p = tp / int((predictions == 1).sum())
    r = tp / int((labels == 1).sum())
    return 2 * p * r / (p + r)


def f1_package(predictions, labels):
    from bert_ms.train.tasks import f1_from_sums
    tp = float(((predictions == 1) & (labels == 1)).sum())
    fp = float(((predictions == 1) & (labels == 0)).sum())
    fn = float(((predictions == 0) & (labels == 1)).sum())
    return f1_from_sums({"tp1": tp, "fp1": fp, "fn1": fn}, 1)


def f1_three_numbers(predictions, labels):
    return f1_precision(predictions, labels), f1_recall(predictions, labels), SOL.spam_f1(predictions, labels)


@pytest.mark.parametrize("answer", [SOL.spam_f1, f1_from_pr, f1_swapped_names, f1_mindspore,
                                    lambda predictions, labels: SOL.spam_f1(labels, predictions)])
def test_spam_f1_accepts_correct_styles(answer):
    accepted_every_run(check.spam_f1, answer)


@pytest.mark.parametrize("answer, words", [
    (SOL.spam_f1_is_accuracy, "accuracy"),
    (SOL.spam_f1_of_ham, "ham class"),
    (f1_precision, "precision tp / (tp + fp) alone"),
    (f1_recall, "recall tp / (tp + fn) alone"),
    (f1_arithmetic_mean, "harmonic mean"),
    (f1_macro, "macro-F1"),
    (f1_jaccard, "Jaccard"),
    (f1_zero_division_nan, "handle that case"),
    (f1_zero_division_raises, "ZeroDivisionError"),
    (f1_package, "write it yourself"),
    (f1_three_numbers, "one number"),
])
def test_spam_f1_rejects_mistakes(answer, words):
    rejected_every_run(check.spam_f1, answer, words)


# --- Exercise 8.4: minilm_head_params -------------------------------------------------------------

@pytest.mark.parametrize("answer", [SOL.minilm_head_params, np.int64(770), 770.0])
def test_minilm_head_params_accepts_the_count(answer):
    accepted_every_run(check.minilm_head_params, answer, runs=2)  # a value check: nothing is random


@pytest.mark.parametrize("answer, words", [
    (768, "weights only"),
    (2, "biases only"),
    (148_610, "pooler as new"),
    (147_840, "pooler's size"),
    (1538, "BERT-Base"),
    (1536, "BERT-Base"),
    (385, "ONE output"),
    (769, "single bias"),
    (1155, "3-label"),
    (386, "EACH label"),
    (22_713_986, "whole model"),
    ("770", "a number"),
    (771, "not it"),
])
def test_minilm_head_params_rejects_mistakes(answer, words):
    rejected_every_run(check.minilm_head_params, answer, words, runs=2)


def test_checks_do_not_print_their_answers(capsys):
    check.minilm_head_params(768)
    check.minilm_head_params(5)
    assert "770" not in capsys.readouterr().out
