"""Lesson 06 exercises (BERT's architecture): the input embeddings, the pooler, the tied MLM head and
the parameter count of the whole pretraining model.

Every check draws fresh random sizes and weights, computes the exact answer in float64 NumPy
(:mod:`bert_ms.bert.reference`, the same formulas as ``bert_ms.bert.model``'s ``BertEmbeddings``,
``BertPooler``, ``BertMLMHead``, and here ``count_parameters(BertForPreTraining(config))``;
``tests/test_checks_lesson06.py`` proves they agree),
runs the learner's function and names the first mismatch. No check runs a MindSpore operation of its own
or builds a model, so a check works whether or not ``device.setup()`` ran first.

The inputs are drawn so that each typical mistake is far outside the tolerance on every run, and the
tolerances admit every correct formula (MindSpore float32 on CPU, NumPy float32 or float64). Where the
wrong answer equals a typical mistake (no LayerNorm, a missing segment table, positions from 1, the
PyTorch epsilon, mean pooling, no tanh, an untransposed weight, a missing transform, GELU or output bias,
a forgotten or double-counted term of the parameter count, ...), the message says which one. The
package's own classes are the answers, so an answer that calls them fails.
"""

from __future__ import annotations

import math
import numbers

import mindspore as ms
import numpy as np

from bert_ms.bert import reference
from bert_ms.bert.config import BertConfig
from bert_ms.bert.reference import gelu, gelu_tanh, layer_norm
from bert_ms.exercises import Mismatch, exercise, expect_close, to_numpy

__all__ = ["bert_embeddings", "pooler", "mlm_head", "param_count"]


# Tolerances, measured over 1,000 draws: the worst correct float32 answer uses 2 % (embeddings), 34 %
# (pooler, MindSpore's tanh) and 10 % (MLM head) of them; the nearest named mistake is 34, 2,300 and 13
# times them away. tests/test_checks_lesson06.py keeps correct answers under half and mistakes over five.
EMBEDDINGS_TOL = 1e-5  # atol = rtol; LayerNorm outputs are O(1); an epsilon of 1e-6 is ~30 of these away
POOLER_ATOL = 3e-4  # mistakes are > 0.5 away; MindSpore's CPU tanh is off by up to 1.0e-4 near |z| = 5 (it rounds to ±1 there)
MLM_TOL = 3e-5  # atol = rtol; logits are O(10); GELU's tanh approximation is ~15 of these away

# the package's own versions of what the exercises ask for
# (not the primitive mindspore.ops.LayerNorm: every primitive's __init__ shares one decorator's code object)
_FORBID_LAYER_NORM = ("bert_ms.transformer.layers:LayerNorm", "mindspore.nn:LayerNorm", "mindspore.ops:layer_norm",
                      "mindspore.mint.nn:LayerNorm")
_FORBID_MODELS = ("bert_ms.bert.model:BertModel", "bert_ms.bert.model:BertForPreTraining",
                  "bert_ms.bert.model:BertForMaskedLM")


# --- the exact answers are bert_ms.bert.reference's (float64); typical mistakes of the formulas ---------

def _layer_norm_unbiased(x: np.ndarray, gamma, beta) -> np.ndarray:
    """The typical mistake: LayerNorm with the unbiased variance (divided by H - 1, np.var's ddof=1)."""
    x = np.asarray(x, np.float64)
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).sum(-1, keepdims=True) / (x.shape[-1] - 1)
    return (x - mean) / np.sqrt(var + reference.EPS) * np.asarray(gamma, np.float64) + np.asarray(beta, np.float64)


def _f64(*arrays):
    return tuple(np.asarray(a, np.float64) for a in arrays)


def parameter_terms(c) -> dict[str, int]:
    """Every trainable tensor group of ``BertForPreTraining(c)``, by name (the MLM output matrix is the
    token table itself, so it has no entry of its own)."""
    V, H, L, I = c.vocab_size, c.hidden_size, c.num_hidden_layers, c.intermediate_size  # noqa: E741
    P, S = c.max_position_embeddings, c.type_vocab_size
    return {
        "token table": V * H, "position table": P * H, "segment table": S * H, "embedding LayerNorm": 2 * H,
        "attention weights": L * 4 * H * H, "attention biases": L * 4 * H, "attention LayerNorms": L * 2 * H,
        "FFN weights": L * 2 * H * I, "FFN biases": L * (I + H), "FFN LayerNorms": L * 2 * H,
        "pooler weight": H * H, "pooler bias": H,
        "MLM transform weight": H * H, "MLM transform bias": H, "MLM transform LayerNorm": 2 * H,
        "MLM output bias": V, "NSP weight": 2 * H, "NSP bias": 2,
    }


def param_count_reference(c) -> int:
    return sum(parameter_terms(c).values())


def _name_mistake(got, candidates, what: str, atol: float, rtol: float) -> None:
    """Raise a Mismatch naming the first typical mistake that ``got`` equals (within the tolerance)."""
    try:
        g = to_numpy(got).astype(np.float64)
    except (TypeError, ValueError):
        return
    for wrong, words in candidates:
        wrong = np.asarray(wrong, np.float64)
        if g.shape == wrong.shape and np.all(np.isfinite(g)) and np.allclose(g, wrong, atol=atol, rtol=rtol):
            raise Mismatch(f"{what}: {words}")


def _expect_or_name(got, expected, what: str, hint: str, mistakes, atol: float, rtol: float) -> None:
    """``got`` must equal ``expected``; if not, the typical mistake it equals (``mistakes()``: (array, words)
    pairs, made only then) is named, else the first mismatch with ``hint``."""
    try:
        expect_close(got, expected, what, hint=hint, atol=atol, rtol=rtol)
    except Mismatch:
        _name_mistake(got, mistakes(), what, atol, rtol)
        raise


# --- Exercise 6.1 ----------------------------------------------------------------------------------

def draw_embeddings(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Sizes and weights that separate every typical mistake: tables of BERT's initial scale (std 0.02,
    so the LayerNorm's epsilon matters: 1e-5 instead of 1e-12 changes outputs by ~1 %), three rows with
    different segment splits (one all sentence A), the first and last token ids, P > T + 1, B != T."""
    H = int(rng.choice([16, 24, 32, 48]))
    V, P = int(rng.integers(30, 80)), int(rng.integers(12, 40))
    T = int(rng.integers(4, P - 1))
    ids = rng.integers(0, V, size=(3, T))
    ids[0, 1], ids[1, -1] = 0, V - 1
    split0, split1 = int(rng.integers(1, T)), int(rng.integers(1, T))
    if split1 == split0:
        split1 = split0 % (T - 1) + 1
    token_types = np.zeros((3, T), np.int64)
    token_types[0, split0:], token_types[1, split1:] = 1, 1
    return dict(input_ids=ids.astype(np.int32), token_type_ids=token_types.astype(np.int32),
                word=(0.02 * rng.standard_normal((V, H))).astype(np.float32),
                position=(0.02 * rng.standard_normal((P, H))).astype(np.float32),
                segment=(0.02 * rng.standard_normal((2, H))).astype(np.float32),
                gamma=(1.0 + 0.2 * rng.standard_normal(H)).astype(np.float32),
                beta=(0.2 * rng.standard_normal(H)).astype(np.float32))


def embeddings_mistakes(d: dict) -> list[tuple[np.ndarray, str]]:
    ids, tt = d["input_ids"], d["token_type_ids"]
    word, pos, seg = _f64(d["word"], d["position"], d["segment"])
    gamma, beta, T = d["gamma"], d["beta"], ids.shape[1]
    x = word[ids] + seg[tt] + pos[:T]
    return [
        (x, "this is the sum of the three embeddings without the LayerNorm; BERT normalises the sum "
            "(LayerNorm with gamma and beta) before the first layer."),
        (layer_norm(x, 1.0, 0.0), "the LayerNorm's scale gamma and shift beta were not applied (y = x_hat * gamma + beta)."),
        (layer_norm(word[ids] + pos[:T], gamma, beta), "the segment embeddings (segment[token_type_ids]) are "
                                                       "missing: sentences A and B would look the same."),
        (layer_norm(word[ids] + seg[tt], gamma, beta), "the position embeddings are missing: without them "
                                                       "self-attention cannot tell word order."),
        (layer_norm(word[ids] + seg[tt] + pos[1:T + 1], gamma, beta),
         "the positions are off by one: the first token uses row 0 of the position table (position[:T])."),
        (layer_norm(word[ids] + seg[tt[:1]] + pos[:T], gamma, beta),
         "every row used the segment ids of the first row; use token_type_ids row by row."),
        (_layer_norm_unbiased(x, gamma, beta), "this LayerNorm uses the unbiased variance (divided by H - 1); "
                                               "LayerNorm divides by H."),
        (layer_norm(x, gamma, beta, eps=1e-5), "the LayerNorm's epsilon looks like 1e-5 (PyTorch's default); "
                                               "BERT's layer_norm_eps is 1e-12."),
        (layer_norm(x, gamma, beta, eps=1e-6), "the LayerNorm's epsilon looks like 1e-6; BERT's layer_norm_eps "
                                               "is 1e-12."),
    ]


@exercise("Exercise 6.1 · BERT's input embeddings", forbid=("bert_ms.bert.model:BertEmbeddings",
                                                            "bert_ms.transformer.positional:LearnedPositionEmbedding",
                                                            *_FORBID_LAYER_NORM, *_FORBID_MODELS), time_limit=30)
def bert_embeddings(fn):
    """``fn(input_ids, token_type_ids, word, position, segment, gamma, beta) -> [B, T, H]``.

    ``input_ids``, ``token_type_ids``: int32 Tensors [B, T]; ``word`` [V, H], ``position`` [P, H] (P > T),
    ``segment`` [2, H]: the three tables; ``gamma``, ``beta`` [H]: the LayerNorm (eps 1e-12, written by
    the learner). BERT's input (sec. 3.2, fig. 2): LayerNorm(token + segment + position embedding)."""
    d = draw_embeddings(np.random.default_rng())
    expected = reference.embeddings(*(d[k] for k in ("input_ids", "token_type_ids", "word", "position", "segment",
                                                     "gamma", "beta")))
    got = fn(*(ms.Tensor(d[k]) for k in ("input_ids", "token_type_ids", "word", "position", "segment", "gamma",
                                         "beta")))
    B, T = d["input_ids"].shape
    V, H = d["word"].shape
    what = (f"embeddings of a batch [{B}, {T}] (vocabulary {V}, hidden size {H}, "
            f"{d['position'].shape[0]} positions)")
    _expect_or_name(got, expected, what, "the result is [B, T, H]: one LayerNorm-ed vector per token.",
                    lambda: embeddings_mistakes(d), EMBEDDINGS_TOL, EMBEDDINGS_TOL)


# --- Exercise 6.2 ----------------------------------------------------------------------------------

def draw_pooler(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """[B=3, T in 4..9, H]: pre-activations z = W h_[CLS] + b of spread ~2, and two of them placed at
    |z| ~ 5 on purpose, where MindSpore's float32 tanh is least accurate; B != T always."""
    H = int(rng.choice([16, 24, 32, 48]))
    T = int(rng.integers(4, 10))
    seq = rng.standard_normal((3, T, H)).astype(np.float32)
    weight = (2.0 / math.sqrt(H) * rng.standard_normal((H, H))).astype(np.float32)
    bias = (0.5 * rng.standard_normal(H)).astype(np.float64)
    z = seq[:, 0].astype(np.float64) @ weight.T.astype(np.float64)
    j0, j1 = rng.choice(H, size=2, replace=False)
    bias[j0] = rng.uniform(4.9, 5.1) - z[0, j0]  # z[0, j0] ~ +5
    bias[j1] = -rng.uniform(4.9, 5.1) - z[1, j1]  # z[1, j1] ~ -5
    return dict(sequence_output=seq, weight=weight, bias=bias.astype(np.float32))


def pooler_mistakes(d: dict) -> list[tuple[np.ndarray, str]]:
    seq, weight, bias = _f64(d["sequence_output"], d["weight"], d["bias"])
    cls = seq[:, 0]
    return [
        (cls @ weight.T + bias, "the tanh is missing: C = tanh(W h_[CLS] + b)."),
        (np.tanh(seq.mean(1) @ weight.T + bias), "this is mean pooling over all positions; BERT's pooler takes "
                                                 "the first token, [CLS] (sequence_output[:, 0])."),
        (np.tanh(seq.max(1) @ weight.T + bias), "this is max pooling over the positions; BERT's pooler takes the "
                                                "first token, [CLS] (sequence_output[:, 0])."),
        (np.tanh(seq[:, -1] @ weight.T + bias), "this pools the last position; [CLS] is the first token "
                                                "(sequence_output[:, 0])."),
        (np.tanh(seq[:, 1] @ weight.T + bias), "this pools position 1; [CLS] is at position 0 "
                                               "(sequence_output[:, 0])."),
        (np.tanh(cls @ weight + bias), "the weight was not transposed: it is stored [out, in], so compute "
                                       "h @ W.T + b (what nn.Dense does)."),
        (np.tanh(cls @ weight.T), "the bias b is missing: C = tanh(W h_[CLS] + b)."),
        (1.0 / (1.0 + np.exp(-(cls @ weight.T + bias))), "this is a sigmoid; the pooler's activation is tanh."),
        (np.tanh(cls) @ weight.T + bias, "the tanh was applied before the dense layer; C = tanh(W h_[CLS] + b)."),
        (np.tanh(cls), "the dense layer is missing: C = tanh(W h_[CLS] + b)."),
        (cls, "this returns the [CLS] vector itself; the pooler is a dense layer with tanh on it."),
    ]


@exercise("Exercise 6.2 · the pooler", forbid=("bert_ms.bert.model:BertPooler", *_FORBID_MODELS), time_limit=30)
def pooler(fn):
    """``fn(sequence_output, weight, bias) -> [B, H]``: the pooled output C = tanh(W h_[CLS] + b).

    ``sequence_output`` [B, T, H] float32; ``weight`` [H, H] in the PyTorch layout [out, in]; ``bias`` [H]."""
    d = draw_pooler(np.random.default_rng())
    expected = reference.pooler(d["sequence_output"], d["weight"], d["bias"])
    got = fn(ms.Tensor(d["sequence_output"]), ms.Tensor(d["weight"]), ms.Tensor(d["bias"]))
    what = f"pooled output of sequence_output {list(d['sequence_output'].shape)}"
    _expect_or_name(got, expected, what, "C has one H-vector per sequence: [B, H].", lambda: pooler_mistakes(d),
                    POOLER_ATOL, 0.0)


# --- Exercise 6.3 ----------------------------------------------------------------------------------

def draw_mlm_head(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """hidden [2, P in 2..5, H], a vocabulary of 30..80 words. The transform's pre-activations spread ~2
    (where GELU's tanh approximation is furthest from the exact erf form) and the output bias is non-zero."""
    H = int(rng.choice([16, 24, 32, 48]))
    V, P = int(rng.integers(30, 80)), int(rng.integers(2, 6))
    return dict(hidden=rng.standard_normal((2, P, H)).astype(np.float32),
                dense_weight=(2.0 / math.sqrt(H) * rng.standard_normal((H, H))).astype(np.float32),
                dense_bias=(0.5 * rng.standard_normal(H)).astype(np.float32),
                gamma=(1.0 + 0.2 * rng.standard_normal(H)).astype(np.float32),
                beta=(0.2 * rng.standard_normal(H)).astype(np.float32),
                word_table=(0.5 * rng.standard_normal((V, H))).astype(np.float32),
                bias=(0.5 * rng.standard_normal(V)).astype(np.float32))


_MLM_ARGS = ("hidden", "dense_weight", "dense_bias", "gamma", "beta", "word_table", "bias")


def mlm_head_mistakes(d: dict) -> list[tuple[np.ndarray, str]]:
    hidden, dw, db, table, bias = _f64(d["hidden"], d["dense_weight"], d["dense_bias"], d["word_table"], d["bias"])
    gamma, beta = d["gamma"], d["beta"]
    h = hidden @ dw.T + db
    right = layer_norm(gelu(h), gamma, beta)
    return [
        (hidden @ table.T + bias, "the transform (dense -> GELU -> LayerNorm) before the tied output layer is "
                                  "missing."),
        (right @ table.T, "the per-word output bias is missing (logits = h E^T + bias)."),
        (layer_norm(np.maximum(h, 0), gamma, beta) @ table.T + bias, "ReLU was used; BERT's head uses GELU."),
        (layer_norm(gelu_tanh(h), gamma, beta) @ table.T + bias,
         "this is GELU's tanh approximation; hidden_act='gelu' is the exact erf form "
         "(ops.gelu(x, approximate='none'))."),
        (layer_norm(h, gamma, beta) @ table.T + bias, "the GELU of the transform is missing "
                                                      "(dense -> GELU -> LayerNorm)."),
        (gelu(h) @ table.T + bias, "the LayerNorm of the transform is missing (dense -> GELU -> LayerNorm)."),
        (gelu(layer_norm(h, gamma, beta)) @ table.T + bias, "GELU and LayerNorm are swapped; the order is "
                                                            "dense -> GELU -> LayerNorm."),
        (layer_norm(gelu(hidden @ dw + db), gamma, beta) @ table.T + bias,
         "the dense weight was not transposed: it is stored [out, in], so compute h @ W.T + b."),
        (layer_norm(gelu(hidden @ dw.T), gamma, beta) @ table.T + bias, "the dense layer's bias is missing."),
        (layer_norm(gelu(h), 1.0, 0.0) @ table.T + bias, "the LayerNorm's gamma and beta were not applied."),
        (_layer_norm_unbiased(gelu(h), gamma, beta) @ table.T + bias,
         "this LayerNorm uses the unbiased variance (divided by H - 1); LayerNorm divides by H."),
    ]


@exercise("Exercise 6.3 · the tied MLM head", forbid=("bert_ms.bert.model:BertMLMHead",
                                                      "bert_ms.bert.model:BertPredictionHeadTransform",
                                                      *_FORBID_MODELS), time_limit=30)
def mlm_head(fn):
    """``fn(hidden, dense_weight, dense_bias, gamma, beta, word_table, bias) -> logits [B, P, V]``.

    ``hidden`` [B, P, H]: final vectors at the masked positions. The head: dense (H -> H, weight [out, in]),
    exact GELU, LayerNorm (gamma, beta, eps 1e-12), then the scores against every row of the token
    embedding table ``word_table`` [V, H] (tied weights) plus a per-word ``bias`` [V]."""
    d = draw_mlm_head(np.random.default_rng())
    expected = reference.mlm_head(*(d[k] for k in _MLM_ARGS))
    got = fn(*(ms.Tensor(d[k]) for k in _MLM_ARGS))
    what = f"MLM logits for hidden {list(d['hidden'].shape)} and a vocabulary of {d['word_table'].shape[0]}"
    _expect_or_name(got, expected, what, "one score per vocabulary word at each position: [B, P, V].",
                    lambda: mlm_head_mistakes(d), MLM_TOL, MLM_TOL)


# --- Exercise 6.4 ----------------------------------------------------------------------------------

def draw_configs(rng: np.random.Generator) -> list:
    """BERT-Base, then two configurations in which every field differs from Base's habits: a vocabulary
    of any size, I != 4H, P != 512, 1 or 3+ segment types, heads that do not change the count."""
    configs = [BertConfig()]
    for types in (1, int(rng.integers(3, 17))):
        heads = int(rng.integers(1, 13))
        H = heads * int(rng.choice([8, 16, 24, 32]))
        configs.append(BertConfig(vocab_size=int(rng.integers(500, 60000)), hidden_size=H,
                                  num_hidden_layers=int(rng.integers(1, 25)), num_attention_heads=heads,
                                  intermediate_size=int(rng.choice([2, 3, 5, 6]) * H + rng.integers(1, H)),
                                  max_position_embeddings=int(rng.choice([64, 128, 256, 1024, 2048])
                                                              + rng.integers(1, 64)),
                                  type_vocab_size=types))
    return configs


def param_count_mistakes(c) -> list[tuple[int, str]]:
    """(want - got, what was forgotten or counted twice) for the typical mistakes, most specific first."""
    t = parameter_terms(c)
    V, H, L, I = c.vocab_size, c.hidden_size, c.num_hidden_layers, c.intermediate_size  # noqa: E741
    mlm = t["MLM transform weight"] + t["MLM transform bias"] + t["MLM transform LayerNorm"] + t["MLM output bias"]
    nsp = t["NSP weight"] + t["NSP bias"]
    biases = (t["attention biases"] + t["FFN biases"] + t["pooler bias"] + t["MLM transform bias"]
              + t["MLM output bias"] + t["NSP bias"])
    norms = t["embedding LayerNorm"] + t["attention LayerNorms"] + t["FFN LayerNorms"] + t["MLM transform LayerNorm"]
    return [
        (-V * H, "the MLM output matrix was counted as a new V x H matrix; it is tied to the token table (the same "
                 "Parameter), so it counts once"),
        (mlm + nsp, "only BertModel was counted; the MLM head (transform and output bias) and the NSP head are "
                    "missing"),
        (mlm + nsp + t["pooler weight"] + t["pooler bias"], "the pooler and both heads are missing"),
        (mlm, "the MLM head (its transform and its output bias) is missing"),
        (nsp, "the NSP head (a [2, H] matrix and 2 biases) is missing"),
        (t["NSP bias"], "the NSP head's 2 biases are missing"),
        (t["MLM output bias"], "the MLM output bias (one per vocabulary word: V) is missing"),
        (mlm - t["MLM output bias"], "the MLM transform (dense H x H + H, LayerNorm 2H) is missing"),
        (H * H + H, "a dense H x H layer with its bias is missing (the pooler, or the MLM transform's dense)"),
        (t["position table"], "the position table (max_position_embeddings x H) is missing"),
        (t["segment table"], "the segment table (type_vocab_size x H) is missing"),
        ((c.max_position_embeddings - 512) * H, "the position table was counted with 512 rows; use "
                                                "max_position_embeddings"),
        ((c.type_vocab_size - 2) * H, "the segment table was counted with 2 rows; use type_vocab_size"),
        (L * (2 * H + 1) * (I - 4 * H), "the FFN was counted with 4H; use intermediate_size"),
        (norms, "the LayerNorms are missing (2H each: two per layer, one after the embeddings, one in the MLM "
                "transform)"),
        (t["attention LayerNorms"] + t["FFN LayerNorms"], "the LayerNorms of the layers (two per layer, 2H each) "
                                                          "are missing"),
        (L * 2 * H, "one LayerNorm per layer is missing (each layer has two, 2H each)"),
        (2 * H, "one LayerNorm (2H) is missing: the one after the embeddings, or the MLM transform's"),
        (biases, "the biases are missing (4H in attention, I + H in the FFN, H in the pooler and the MLM transform, "
                 "V output biases, 2 in NSP)"),
        (t["attention biases"] + t["FFN biases"], "the biases of the layers are missing (4H in attention, I + H "
                                                  "in the FFN, per layer)"),
        (L * (H * H + H), "one attention projection per layer is missing (Q, K, V and the output: four H x H "
                          "matrices with biases)"),
        (t["token table"], "the token table (V x H) is missing"),
        (-L * 3 * (c.num_attention_heads - 1) * H * H, "Q, K and V were counted as one H x H matrix per head; the "
                                                       "heads share them (each head uses H/A of the columns)"),
    ]


def _as_count(got, c) -> int:
    if isinstance(got, bool) or not isinstance(got, numbers.Real):
        try:
            arr = to_numpy(got)
        except Exception:  # noqa: BLE001 - whatever the learner returned
            arr = None
        if arr is None or arr.size != 1 or not np.issubdtype(arr.dtype, np.number):
            raise Mismatch(f"param_count({_describe_config(c)}) returned {type(got).__name__} {got!r:.60}; "
                           "return one whole number.")
        got = arr.reshape(()).item()
    value = float(got)
    if not math.isfinite(value) or value != round(value):
        raise Mismatch(f"param_count({_describe_config(c)}) returned {got!r}, not a whole number.")
    return int(round(value))


def _describe_config(c) -> str:
    return (f"vocab_size={c.vocab_size}, hidden_size={c.hidden_size}, num_hidden_layers={c.num_hidden_layers}, "
            f"num_attention_heads={c.num_attention_heads}, intermediate_size={c.intermediate_size}, "
            f"max_position_embeddings={c.max_position_embeddings}, type_vocab_size={c.type_vocab_size}")


@exercise("Exercise 6.4 · counting BERT's parameters, heads included",
          forbid=("bert_ms.bert.model:count_parameters", "bert_ms.bert.model:BertEmbeddings",
                  "bert_ms.bert.model:BertPooler", "bert_ms.bert.model:BertMLMHead", *_FORBID_MODELS), time_limit=30)
def param_count(fn):
    """``fn(config) -> int``: the trainable parameters of ``BertForPreTraining(config)`` -- BertModel
    (pooler included) plus the MLM head (transform and output bias; its output matrix is tied to the token
    table) and the NSP head -- for any ``BertConfig``: every size field counts."""
    for c in draw_configs(np.random.default_rng()):
        got = _as_count(fn(c), c)
        want = param_count_reference(c)
        if got == want:
            continue
        diff = want - got
        words = next((w for d, w in param_count_mistakes(c) if d == diff and d != 0), None)
        hint = f" It looks like {words}." if words else ""
        raise Mismatch(f"BertConfig({_describe_config(c)}): expected {want:,} parameters, got {got:,} "
                       f"(off by {diff:+,}).{hint}")
