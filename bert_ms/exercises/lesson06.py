"""Lesson 06 exercises (BERT's architecture): the input embeddings, the pooler, the tied MLM head and
the parameter count.

Every check draws fresh random sizes and weights, runs the learner's function and the
``bert_ms.bert.model`` reference (``BertEmbeddings``, ``BertPooler``, ``BertMLMHead``, ``BertModel``)
on them, and names the first mismatch. Where the wrong answer equals a typical mistake (no LayerNorm,
a missing segment table, mean pooling, no tanh, a missing output bias, the tied MLM matrix counted
twice, ...), the message says which one.
"""

from __future__ import annotations

import math

import mindspore as ms
import numpy as np
from mindspore.nn.utils import no_init_parameters

from bert_ms.bert.config import BertConfig
from bert_ms.bert.model import BertEmbeddings, BertForPreTraining, BertMLMHead, BertPooler, count_parameters
from bert_ms.exercises import Mismatch, exercise, expect_close, to_numpy

__all__ = ["bert_embeddings", "pooler", "mlm_head", "param_count"]

EPS = 1e-12  # BERT's layer_norm_eps
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _config(rng: np.random.Generator, **overrides) -> BertConfig:
    heads = int(rng.integers(1, 4))
    sizes = dict(vocab_size=int(rng.integers(30, 60)), hidden_size=4 * heads * int(rng.integers(2, 4)),
                 num_hidden_layers=1, num_attention_heads=heads, max_position_embeddings=int(rng.integers(16, 24)),
                 hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    sizes["intermediate_size"] = 4 * sizes["hidden_size"]
    return BertConfig(**{**sizes, **overrides})


def _fill(cell, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random weights for every parameter of ``cell`` (LayerNorm γ around 1, biases non-zero)."""
    values = {}
    for name, p in cell.parameters_and_names():
        if name.endswith("norm.weight"):
            a = 1.0 + 0.2 * rng.standard_normal(p.shape)
        else:
            a = 0.5 * rng.standard_normal(p.shape)
        p.set_data(ms.Tensor(a.astype(np.float32)))
        values[name] = a.astype(np.float32)
    cell.set_train(False)
    return values


def _layer_norm(x: np.ndarray, gamma=None, beta=None) -> np.ndarray:
    x = x.astype(np.float64)
    y = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + EPS)
    return y if gamma is None else y * gamma + beta


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def _name_mistake(got, candidates: list[tuple[np.ndarray, str]], what: str) -> None:
    """Raise a Mismatch naming the first typical mistake that ``got`` equals."""
    g = to_numpy(got).astype(np.float64)
    for wrong, words in candidates:
        if g.shape == wrong.shape and np.allclose(g, wrong, atol=1e-4, rtol=1e-4):
            raise Mismatch(f"{what}: {words}")


@exercise("Exercise 6.1 · BERT's input embeddings")
def bert_embeddings(fn):
    """``fn(input_ids, token_type_ids, word, position, segment, gamma, beta) -> [B, T, H]``.

    ``input_ids``, ``token_type_ids``: int32 Tensors [B, T]; ``word`` [V, H], ``position`` [P, H] (P > T),
    ``segment`` [2, H]: the three tables; ``gamma``, ``beta`` [H]: the LayerNorm (eps 1e-12). BERT's
    input (sec. 3.2, fig. 2): LayerNorm(token + segment + position embedding)."""
    rng = np.random.default_rng()
    cfg = _config(rng)
    emb = BertEmbeddings(cfg)
    w = _fill(emb, rng)
    word, pos, seg = (w["word_embeddings.weight"], w["position_embeddings.table.weight"],
                      w["token_type_embeddings.weight"])
    gamma, beta = w["norm.weight"], w["norm.bias"]
    b, t = 2, int(rng.integers(5, cfg.max_position_embeddings - 2))
    ids = rng.integers(0, cfg.vocab_size, size=(b, t)).astype(np.int32)
    split = int(rng.integers(2, t - 1))
    tt = np.broadcast_to((np.arange(t) >= split).astype(np.int32), (b, t)).copy()
    expected = emb(ms.Tensor(ids), ms.Tensor(tt))
    got = fn(ms.Tensor(ids), ms.Tensor(tt), *(ms.Tensor(a) for a in (word, pos, seg, gamma, beta)))
    try:
        expect_close(got, expected, f"embeddings of a batch {list(ids.shape)}", atol=1e-4, rtol=1e-4)
    except Mismatch:
        x = word[ids] + seg[tt] + pos[:t]
        _name_mistake(got, [
            (x, "this is the sum of the three embeddings without the LayerNorm. BERT normalises the sum "
                "(LayerNorm with gamma, beta) before the first layer."),
            (_layer_norm(x), "the LayerNorm's scale gamma and shift beta were not applied."),
            (_layer_norm(word[ids] + pos[:t], gamma, beta), "the segment embeddings (segment[token_type_ids]) "
                                                            "are missing: sentence A and B would look the same."),
            (_layer_norm(word[ids] + seg[tt], gamma, beta), "the position embeddings are missing: without them "
                                                            "self-attention cannot tell word order."),
            (_layer_norm(word[ids] + seg[tt] + pos[1:t + 1], gamma, beta),
             "the positions are off by one: the first token uses row 0 of the position table (position[:T])."),
        ], "embeddings")
        raise


@exercise("Exercise 6.2 · the pooler")
def pooler(fn):
    """``fn(sequence_output, weight, bias) -> [B, H]``: the pooled output C = tanh(W h_[CLS] + b).

    ``sequence_output`` [B, T, H] float32; ``weight`` [H, H] in the PyTorch layout [out, in]; ``bias`` [H]."""
    rng = np.random.default_rng()
    cfg = _config(rng)
    cell = BertPooler(cfg)
    w = _fill(cell, rng)
    weight, bias = w["dense.weight"], w["dense.bias"]
    seq = rng.standard_normal((3, int(rng.integers(4, 9)), cfg.hidden_size)).astype(np.float32)
    expected = cell(ms.Tensor(seq))
    got = fn(ms.Tensor(seq), ms.Tensor(weight), ms.Tensor(bias))
    try:
        expect_close(got, expected, "pooled output", atol=1e-5, rtol=1e-5)
    except Mismatch:
        cls = seq[:, 0].astype(np.float64)
        _name_mistake(got, [
            (cls @ weight.T + bias, "the tanh is missing: C = tanh(W h_[CLS] + b)."),
            (np.tanh(seq.mean(1) @ weight.T + bias), "this is mean pooling over all positions; BERT's pooler "
                                                     "takes the first token, [CLS] (sequence_output[:, 0])."),
            (np.tanh(seq[:, -1] @ weight.T + bias), "this pools the last position; [CLS] is the first token "
                                                    "(sequence_output[:, 0])."),
            (np.tanh(cls @ weight + bias), "the weight was not transposed: it is stored [out, in], so compute "
                                           "h @ W.T + b (what nn.Dense does)."),
            (cls, "this returns the [CLS] vector itself; the pooler is a dense layer with tanh on it."),
        ], "pooler")
        raise


@exercise("Exercise 6.3 · the tied MLM head")
def mlm_head(fn):
    """``fn(hidden, dense_weight, dense_bias, gamma, beta, word_table, bias) -> logits [B, P, V]``.

    ``hidden`` [B, P, H]: final vectors at the masked positions. The head: dense (H -> H, weight [out, in]),
    exact GELU, LayerNorm (gamma, beta, eps 1e-12), then the scores against every row of the token
    embedding table ``word_table`` [V, H] (tied weights) plus a per-word ``bias`` [V]."""
    rng = np.random.default_rng()
    cfg = _config(rng)
    head = BertMLMHead(cfg)
    w = _fill(head, rng)
    table = (0.5 * rng.standard_normal((cfg.vocab_size, cfg.hidden_size))).astype(np.float32)
    hidden = rng.standard_normal((2, int(rng.integers(2, 6)), cfg.hidden_size)).astype(np.float32)
    dw, db, gamma, beta, bias = (w["transform.dense.weight"], w["transform.dense.bias"], w["transform.norm.weight"],
                                 w["transform.norm.bias"], w["bias"])
    expected = head(ms.Tensor(hidden), ms.Tensor(table))
    got = fn(*(ms.Tensor(a) for a in (hidden, dw, db, gamma, beta, table, bias)))
    try:
        expect_close(got, expected, f"MLM logits for hidden {list(hidden.shape)}", atol=1e-4, rtol=1e-4)
    except Mismatch:
        h = hidden.astype(np.float64) @ dw.T + db
        right = _layer_norm(_gelu(h), gamma, beta)
        _name_mistake(got, [
            (hidden @ table.T + bias, "the transform (dense -> GELU -> LayerNorm) before the tied output layer "
                                      "is missing."),
            (right @ table.T, "the per-word output bias is missing (logits = h E^T + bias)."),
            (_layer_norm(np.maximum(h, 0), gamma, beta) @ table.T + bias, "ReLU was used; BERT's head uses GELU."),
            (_layer_norm(_gelu_tanh(h), gamma, beta) @ table.T + bias,
             "this is GELU's tanh approximation; hidden_act='gelu' is the exact erf form "
             "(ops.gelu(x, approximate='none'))."),
            (_gelu(h) @ table.T + bias, "the LayerNorm of the transform is missing."),
        ], "MLM head")
        raise


def _reference_count(v: int, h: int, layers: int, positions: int) -> int:
    cfg = BertConfig(vocab_size=v, hidden_size=h, num_hidden_layers=layers, num_attention_heads=1,
                     intermediate_size=4 * h, max_position_embeddings=positions)
    with no_init_parameters():  # shapes only: even BERT-Large is instant
        return count_parameters(BertForPreTraining(cfg))


@exercise("Exercise 6.4 · counting BERT's parameters, heads included")
def param_count(fn):
    """``fn(vocab_size, hidden_size, num_layers, max_positions=512) -> int``: the trainable parameters of
    ``BertForPreTraining`` -- BertModel (pooler included) plus the MLM head (transform + output bias, its
    output matrix tied to the token table) and the NSP head -- with an FFN of 4H and 2 segment types."""
    rng = np.random.default_rng()
    cases = [(30522, 768, 12, 512), (21128, 768, 12, 512),
             (int(rng.integers(1000, 9000)), 64 * int(rng.integers(1, 5)), int(rng.integers(1, 7)),
              int(rng.choice([128, 256, 512])))]
    for v, h, layers, p in cases:
        got = fn(v, h, layers, p)
        if got is None:
            raise Mismatch(f"param_count({v}, {h}, {layers}, {p}) returned None; return the number.")
        want = _reference_count(v, h, layers, p)
        if int(got) == want:
            continue
        diff = want - int(got)
        heads = h * h + h + 2 * h + v + 2 * h + 2
        missing = {
            -v * h: "the MLM output matrix was counted as a new V x H matrix; it is tied to the token table "
                    "(the same Parameter), so it counts once",
            heads: "only BertModel was counted; add the MLM head (H² + H + 2H + V) and the NSP head (2H + 2)",
            heads - (h * h + h): "the pooler (H² + H) and the heads are missing",
            v: "the MLM output bias (one per word: V) is missing",
            h * h + h + 2 * h: "the MLM transform (dense H² + H, LayerNorm 2H) is missing",
            h * h + h: "a dense layer (H² + H: the pooler or the MLM transform's dense) is missing",
            2 * h + 2: "the NSP head (a [2, H] matrix and 2 biases) is missing",
            p * h: "the position table (max_positions × H) is missing",
            (2 * layers + 2) * 2 * h: "the LayerNorms (2H each: two per layer, one after the embeddings, one in "
                                      "the MLM transform) are missing",
            layers * (4 * h + 4 * h + h) + h + h + v + 2: "the biases are missing (4H in attention, 4H + H in "
                                                          "the FFN, H in the pooler and the MLM transform, V "
                                                          "output biases, 2 in NSP)",
        }
        words = missing.get(diff)
        hint = f" It looks like {words}." if words else ""
        raise Mismatch(f"param_count({v}, {h}, {layers}, {p}): expected {want:,}, got {int(got):,} "
                       f"(off by {diff:+,}).{hint}")
