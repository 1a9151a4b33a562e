"""Lesson 08 exercises (fine-tuning): cutting a sentence pair to fit, layer-wise learning rates, the F1
of the spam class, and counting the parameters a classification head adds.

Each check runs the learner's function on inputs chosen so that every typical mistake gives a different
answer from the right one on every run (fixed edge cases plus fresh random ones), compares it with an
exact reference (plain Python / float64 NumPy), and names the first mismatch with the likely mistake:
cutting only ``tokens_a`` or the shorter sentence first, the tie rule reversed, one token too many cut,
room left for [CLS]/[SEP] that ``max_tokens`` already excludes; the decay exponent off by one, the
embeddings given the top layer's rate; accuracy, the ham class's F1, precision or recall alone, 0/0 when
nothing is predicted spam; the biases or the pooler counted wrongly.
"""

from __future__ import annotations

import numbers

import numpy as np

from bert_ms.exercises import Mismatch, exercise, expect_close, to_numpy

__all__ = ["truncate_pair", "layerwise_lr", "spam_f1", "minilm_head_params"]


# --- Exercise 8.1 -----------------------------------------------------------------------------------

def _truncate_seq_pair(a: list, b: list, max_tokens: int) -> tuple[list, list]:
    """google-research/bert ``run_classifier._truncate_seq_pair``: drop the last token of the longer one
    (of ``b`` on a tie) until both fit."""
    a, b = list(a), list(b)
    while len(a) + len(b) > max_tokens:
        if len(a) > len(b):
            a.pop()
        else:
            b.pop()
    return a, b


def _tokens(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def _pair_cases(rng) -> list[tuple[list, list, int]]:
    """Fixed cases, each separating a typical mistake, then random ones (distinct token strings)."""
    shapes = [
        (10, 3, 8),   # only A (the longer) is cut: (5, 3)
        (3, 10, 9),   # only B (the longer) is cut: (3, 6); "cut A only" fails here
        (5, 5, 7),    # a tie with an odd budget: B gives way first, so A keeps the odd token: (4, 3)
        (4, 9, 5),    # both cut, B the longer, odd budget: (3, 2); a rule giving the odd token to the longer fails
        (9, 6, 8),    # both cut to half: (4, 4)
        (3, 4, 7),    # exactly full: nothing is cut (`>=` instead of `>` cuts one)
        (2, 3, 20),   # far below the budget: nothing is cut
        (0, 6, 4),    # an empty A: ([], 4)
        (6, 0, 4),    # an empty B: (4, [])
        (3, 2, 0),    # no room at all: ([], [])
    ]
    cases = [(_tokens("a", na), _tokens("b", nb), m) for na, nb, m in shapes]
    for _ in range(6):
        na, nb = int(rng.integers(1, 25)), int(rng.integers(1, 25))
        m = int(rng.integers(1, na + nb))  # always something to cut
        cases.append((_tokens("a", na), _tokens("b", nb), m))
    na = int(rng.integers(4, 20))  # a random tie with an odd budget that cuts both
    cases.append((_tokens("a", na), _tokens("b", na), 2 * int(rng.integers(1, na)) + 1))
    return cases


def _as_token_list(x, which: str) -> list:
    if isinstance(x, str) or not hasattr(x, "__len__"):
        raise Mismatch(f"{which}: expected a list of tokens, got {type(x).__name__} {x!r:.60}.")
    return list(to_numpy(x).tolist()) if hasattr(x, "asnumpy") or isinstance(x, np.ndarray) else list(x)


def _show(tokens: list) -> str:
    return "[" + ", ".join(map(str, tokens[:12])) + (", …" if len(tokens) > 12 else "") + "]"


@exercise("Exercise 8.1 · cutting a sentence pair to fit (longest first)", time_limit=20,
          forbid=("bert_ms.bert.tokenization:truncate_longest_first",))
def truncate_pair(fn):
    """``fn(tokens_a, tokens_b, max_tokens) -> (tokens_a, tokens_b)``: BERT's ``_truncate_seq_pair``: while
    the two lists together are longer than ``max_tokens``, drop the **last** token of the longer one (of
    ``tokens_b`` when they are equally long). ``max_tokens`` is the room for the tokens of A and B only
    ([CLS] and the two [SEP] are already taken out: BERT passes ``max_seq_length - 3``)."""
    rng = np.random.default_rng()
    for a, b, m in _pair_cases(rng):
        want_a, want_b = _truncate_seq_pair(a, b, m)
        got = fn(list(a), list(b), m)
        if isinstance(got, (str, bytes)) or not hasattr(got, "__len__") or len(got) != 2:
            raise Mismatch(f"return the pair (tokens_a, tokens_b) as two lists; got {type(got).__name__}.")
        ga, gb = _as_token_list(got[0], "the first list you returned"), _as_token_list(got[1], "the second list")
        if (ga, gb) == (want_a, want_b):
            continue
        what = (f"tokens_a = {_show(a)} ({len(a)} tokens), tokens_b = {_show(b)} ({len(b)} tokens), "
                f"max_tokens = {m}")
        expected = f"expected {len(want_a)} + {len(want_b)} tokens ({_show(want_a)}, {_show(want_b)})"
        yours = f"got {len(ga)} + {len(gb)} ({_show(ga)}, {_show(gb)})"

        def from_front(kept, full):
            return 0 < len(kept) < len(full) and kept == full[len(full) - len(kept):]

        if from_front(ga, a) or from_front(gb, b):
            raise Mismatch(f"{what}: tokens were dropped from the front; BERT drops the LAST tokens (the start "
                           f"of a sentence matters most). {expected}, {yours}.")
        if ga != a[:len(ga)] or gb != b[:len(gb)]:
            raise Mismatch(f"{what}: each returned list must be the start of its own input, in order (A's tokens in "
                           f"the first, B's in the second). {expected}, {yours}.")
        total, room = len(ga) + len(gb), min(m, len(a) + len(b))
        if total > m:
            raise Mismatch(f"{what}: {total} tokens remain, more than max_tokens = {m}. {expected}.")
        if total < room:
            if room - total == 1:
                hint = ("one token too many was cut: keep cutting only while len(a) + len(b) is MORE than "
                        "max_tokens (`>`, not `>=`); a pair that fits exactly is left alone.")
            elif room == m and room - total in (2, 3):
                hint = ("room was left for [CLS] and [SEP], but max_tokens already excludes them (BERT calls "
                        "_truncate_seq_pair with max_seq_length - 3): fill max_tokens with the tokens of A and B.")
            else:
                hint = "more was cut than needed: stop as soon as the two fit in max_tokens together."
            raise Mismatch(f"{what}: {total} tokens remain where {room} fit. {expected}, {yours}. Hint: {hint}")
        longer_is_a = len(a) > len(b)
        both_cut = len(want_a) < len(a) and len(want_b) < len(b)
        if len(a) == len(b):
            hint = ("on a tie (equal lengths) drop from tokens_b, so when both are cut tokens_a keeps the odd "
                    "token: the rule `if len(a) > len(b): cut a, else: cut b`.")
        elif both_cut:
            hint = ("cut ONE token at a time from the longer one, comparing the lengths again after each cut (on a "
                    "tie drop from tokens_b): once both are equally long they take turns, and tokens_a keeps the odd "
                    "token.")
        else:
            short, long_ = ("tokens_b", "tokens_a") if longer_is_a else ("tokens_a", "tokens_b")
            hint = (f"{short}, the shorter one here, was cut, but only {long_}, the longer, needs cutting: cut the "
                    "LONGER sentence first, whichever it is (not always tokens_a, not always tokens_b), so that "
                    "each keeps as much as possible.")
        raise Mismatch(f"{what}: {expected}, {yours}. Hint: {hint}")


# --- Exercise 8.2 -----------------------------------------------------------------------------------

def _layerwise(base_lr: float, decay: float, num_layers: int) -> np.ndarray:
    return np.array([base_lr * decay ** (num_layers - k) for k in range(num_layers + 1)], dtype=np.float64)


@exercise("Exercise 8.2 · layer-wise decreasing learning rates", time_limit=10)
def layerwise_lr(fn):
    """``fn(base_lr, decay, num_layers) -> list of num_layers + 1 rates``: index 0 for the embeddings, index
    ``l`` for encoder layer ``l`` (1 = the lowest). The top layer (and the new head) trains at ``base_lr``,
    and each layer below gets ``decay`` times the rate of the layer above (Sun et al. 2019, sec. 5.3)."""
    rng = np.random.default_rng()
    cases = [(2e-5, 0.95, 12),  # BERT-Base, Sun et al.'s decay
             (float(rng.choice([1e-4, 3e-4, 5e-5])) * float(rng.uniform(0.5, 2.0)), float(rng.uniform(0.5, 0.9)),
              int(rng.integers(2, 9))),
             (float(rng.uniform(1e-5, 1e-3)), float(rng.uniform(0.6, 0.9)), 1),  # one layer: [base*decay, base]
             (3e-4, float(rng.uniform(0.7, 0.9)), 6)]  # MiniLM's six layers
    for base, decay, n in cases:
        want = _layerwise(base, decay, n)
        got = fn(base, decay, n)
        if isinstance(got, (dict, str)):
            raise Mismatch(f"return a list of {n + 1} numbers (embeddings first), got a {type(got).__name__}.")
        try:
            g = np.asarray(to_numpy(got), dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise Mismatch(f"return a list of {n + 1} numbers, got {type(got).__name__}.") from None
        what = f"base_lr = {base:.4g}, decay = {decay:.4f}, num_layers = {n}"
        shown = f"expected {np.array2string(want, precision=3)}, got {np.array2string(g, precision=3)}"

        def same(x, y):
            return len(x) == len(y) and np.allclose(x, y, rtol=1e-6, atol=0)

        if len(g) == n:
            which = ("the embeddings' rate (index 0) is missing" if same(g, want[1:])
                     else "one rate per layer AND one for the embeddings")
            raise Mismatch(f"{what}: expected {n + 1} rates, got {n}: {which}. {shown}.")
        if len(g) == n + 2:
            raise Mismatch(f"{what}: expected {n + 1} rates (the embeddings, then layers 1..{n}), got {n + 2}; the "
                           f"head trains at the top layer's rate and needs no entry of its own. {shown}.")
        if len(g) != n + 1:
            raise Mismatch(f"{what}: expected {n + 1} rates (the embeddings, then layers 1..{n}), got {len(g)}. {shown}.")
        if same(g, want):
            continue
        if same(g, want[::-1]):
            hint = (f"the order is reversed: the TOP layer (index {n}) trains at base_lr and the embeddings (index 0) at "
                    f"base_lr * decay^{n}; lower layers hold more general features, so they change least.")
        elif same(g, want * decay):
            hint = (f"every rate is decay times too small (the exponent is one too large): the top layer (index {n}) "
                    f"trains at base_lr itself, layer l at base_lr * decay^({n} - l).")
        elif same(g, want / decay):
            hint = (f"every rate is decay times too large (the exponent is one too small): the top layer (index {n}) "
                    f"trains at base_lr, the embeddings at base_lr * decay^{n}.")
        elif same(g[1:], want[1:]) and np.isclose(g[0], want[1], rtol=1e-6, atol=0):
            hint = (f"the embeddings got layer 1's rate; they sit one step below layer 1: base_lr * decay^{n}.")
        elif same(g[1:], want[1:]) and np.isclose(g[0], base, rtol=1e-6, atol=0):
            hint = (f"the embeddings got base_lr, the TOP layer's rate; they are the bottom of the stack: "
                    f"base_lr * decay^{n}.")
        elif np.allclose(g, base, rtol=1e-6, atol=0):
            hint = "every layer got base_lr: multiply by decay once for each step down from the top layer."
        else:
            hint = f"layer l trains at base_lr * decay^({n} - l), l = 0 (the embeddings) .. {n} (the top layer)."
        expect_close(g, want, what, hint=hint, rtol=1e-6, atol=0)


# --- Exercise 8.3 -----------------------------------------------------------------------------------

def _counts(pred: np.ndarray, y: np.ndarray, c: int = 1) -> tuple[int, int, int, int]:
    tp = int(((pred == c) & (y == c)).sum())
    fp = int(((pred == c) & (y != c)).sum())
    fn = int(((pred != c) & (y == c)).sum())
    tn = int(((pred != c) & (y != c)).sum())
    return tp, fp, fn, tn


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def _f1_mistakes(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """The values of the typical wrong formulas on these arrays (nan where a formula has none)."""
    tp, fp, fn, tn = _counts(pred, y)
    p = tp / (tp + fp) if tp + fp else np.nan
    r = tp / (tp + fn) if tp + fn else np.nan
    ham = _f1(tn, fn, fp)
    return {
        "accuracy": (tp + tn) / len(y),
        "ham": ham,
        "precision": p,
        "recall": r,
        "mean": (p + r) / 2,
        "macro": (_f1(tp, fp, fn) + ham) / 2,
        "jaccard": tp / (tp + fp + fn) if tp + fp + fn else np.nan,
    }


def _separating_draw(rng, n: int, p_spam: float, p_right: float) -> tuple[np.ndarray, np.ndarray]:
    """Labels and predictions on which the F1 of spam and every typical wrong value differ pairwise by > 1e-3
    (so each mistake is rejected and named on every run)."""
    while True:
        y = (rng.random(n) < p_spam).astype(np.int64)
        pred = np.where(rng.random(n) < p_right, y, 1 - y)
        values = [_f1(*_counts(pred, y)[:3]), *_f1_mistakes(pred, y).values()]
        if all(abs(u - v) > 1e-3 for i, u in enumerate(values) for v in values[i + 1:]):  # all finite, all apart
            return pred, y


@exercise("Exercise 8.3 · the F1 of the spam class", time_limit=10,
          forbid=("bert_ms.train.tasks:f1_from_sums", "bert_ms.train.tasks:classification_stats",
                  "mindspore.train:F1", "mindspore.train:Fbeta"))
def spam_f1(fn):
    """``fn(predictions, labels) -> float``: F1 of class 1 (spam) for two NumPy int arrays of 0/1:
    ``2 * precision * recall / (precision + recall)``, 0.0 when no email is both predicted and truly spam
    (then precision or recall is 0, or 0/0)."""
    rng = np.random.default_rng()
    cases = [_separating_draw(rng, int(rng.integers(16, 33)), p_spam, p_right)
             for p_spam, p_right in ((0.3, 0.8), (0.5, 0.7), (0.15, 0.85))]
    edge = [  # 0/0 cases, each with its own reason
        (np.zeros(10, np.int64), (np.arange(10) < 3).astype(np.int64),
         "nothing is predicted spam, so precision is 0/0"),
        (np.array([1, 1, 0, 0, 0, 0, 0, 0], np.int64), np.array([0, 0, 1, 1, 1, 0, 0, 0], np.int64),
         "no predicted spam is really spam: precision and recall are both 0, and 2PR/(P+R) is 0/0"),
        (np.zeros(9, np.int64), np.zeros(9, np.int64), "there is no spam at all, predicted or true"),
        (np.array([1, 0, 1, 0, 0, 1], np.int64), np.array([1, 0, 1, 0, 0, 1], np.int64), "every email right"),
    ]
    cases = [(p, y, "") for p, y in cases] + edge
    for pred, y, why in cases:
        tp, fp, fn_, tn = _counts(pred, y)
        want = _f1(tp, fp, fn_)
        with np.errstate(divide="ignore", invalid="ignore"):
            got = fn(pred.copy(), y.copy())
        if isinstance(got, (str, bytes, bool, np.bool_)) or (not isinstance(got, numbers.Number)
                                                             and np.size(to_numpy(got)) != 1):
            raise Mismatch(f"return the F1 as one number, got {type(got).__name__} {got!r:.60}.")
        got = float(to_numpy(got).reshape(()))
        if abs(got - want) < 1e-6:
            continue
        what = (f"predictions {''.join(map(str, pred.tolist()))}, labels {''.join(map(str, y.tolist()))} "
                f"(tp {tp}, fp {fp}, fn {fn_}, tn {tn})")
        if not np.isfinite(got):
            raise Mismatch(f"{what}: got {got}; {why or 'a division by zero'}. F1 is 0.0 whenever no email is both "
                           "predicted spam and truly spam: handle that case before dividing.")
        names = {
            "accuracy": "that is the accuracy; with 70 % ham, accuracy rewards a model that never says spam, F1 does not.",
            "ham": "that is the F1 of the ham class (class 0); spam is class 1.",
            "precision": "that is the precision tp / (tp + fp) alone; F1 combines it with the recall.",
            "recall": "that is the recall tp / (tp + fn) alone; F1 combines it with the precision.",
            "mean": "that is the arithmetic mean (P + R) / 2; F1 is the harmonic mean 2PR / (P + R).",
            "macro": "that is the mean of both classes' F1 (macro-F1); the exercise asks for the spam class's alone.",
            "jaccard": "that is tp / (tp + fp + fn) (the Jaccard index); F1 = 2tp / (2tp + fp + fn) counts tp twice.",
        }
        with np.errstate(divide="ignore", invalid="ignore"):
            mistakes = _f1_mistakes(pred, y)
        for key, value in mistakes.items():
            if np.isfinite(value) and abs(got - value) < 1e-6 and abs(value - want) > 1e-6:
                raise Mismatch(f"{what}: expected F1 {want:.4f}, got {got:.4f}: {names[key]}")
        if why:
            raise Mismatch(f"{what}: expected {want:.4f}, got {got:.4f} ({why}).")
        raise Mismatch(f"{what}: expected F1 {want:.4f}, got {got:.4f}.")


# --- Exercise 8.4 -----------------------------------------------------------------------------------

@exercise("Exercise 8.4 · the parameters a spam head adds to MiniLM", kind="value", time_limit=5)
def minilm_head_params(answer):
    """How many **new** parameters does ``BertForSequenceClassification`` with 2 labels add to MiniLM
    (H = 384), i.e. how many are freshly initialised when the pretrained weights are loaded? (The pooler
    comes with the pretrained weights.)"""
    if isinstance(answer, (str, bytes, bool, np.bool_)) or not isinstance(answer, numbers.Number):
        raise Mismatch(f"give the count as a number (an int), got {type(answer).__name__} {answer!r:.40}.")
    h, k, base = 384, 2, 768
    want = h * k + k
    if answer == want:
        return
    wrong = {
        h * k: "counts the weights only; the linear layer has one bias per label too.",
        k: "counts the biases only; the weight matrix is new too.",
        want + h * h + h: "counts the pooler as new, but it is pretrained and loaded with the encoder; only the "
                          "classifier is new.",
        h * h + h: "is the pooler's size (a H x H matrix and its bias); the pooler is pretrained, and the new "
                   "classifier maps H numbers to one logit per label.",
        base * k + k: "is BERT-Base's head (H = 768); MiniLM's hidden size is 384.",
        base * k: "is BERT-Base's weight matrix alone (H = 768); MiniLM's hidden size is 384, and the biases count too.",
        h + 1: "is a head with ONE output; a 2-label classifier has one logit (a weight row and a bias) per label.",
        h * k + 1: "gives the layer a single bias; there is one bias per label.",
        h * 3 + 3: "is a 3-label head; spam vs ham has 2 labels.",
        h + k: "adds H and the number of labels; the weight matrix has H numbers for EACH label.",
    }
    if answer in wrong:
        raise Mismatch(f"{answer} {wrong[answer]}")
    if answer > 1_000_000:
        raise Mismatch(f"{answer} is (nearly) the whole model; count only the tensors load_pretrained reports as "
                       "freshly initialised.")
    raise Mismatch(f"{answer} is not it: count the numbers in the new tensors (their shapes) that load_pretrained "
                   "reports as freshly initialised.")
