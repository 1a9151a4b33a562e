"""BERT written out in float64 NumPy: the reference the package is checked against.

:mod:`bert_ms.bert.model` builds BERT from MindSpore cells; this module computes the same functions with
plain arrays, one formula per function in the order of the forward pass, so that each line can be read
against the papers, and the tests, the lesson 06 exercise checks and ``bert-ms selftest`` can compare the
package with it:

* :func:`layer_norm` -- ``(x - mean) / sqrt(var + eps) * gamma + beta`` over the last axis, ``var`` the
  biased variance (divided by H, not H - 1) (Ba et al. 2016, sec. 3; BERT's ``layer_norm_eps`` is 1e-12);
* :func:`gelu` -- the exact GELU ``x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))`` that BERT uses
  (``hidden_act="gelu"``), and :func:`gelu_tanh`, its tanh approximation (Hendrycks & Gimpel 2016, sec. 2);
* :func:`dense` -- ``x W^T + b``, the weight stored [out, in] (the layout of ``nn.Dense`` and of Hugging
  Face's tensors);
* :func:`embeddings` -- ``LayerNorm(token + segment + position embedding)`` (Devlin et al. 2019, sec. 3,
  fig. 2);
* :func:`attention` -- ``softmax(Q K^T / sqrt(d)) V``, masked keys at probability 0, and
  :func:`self_attention`, its multi-head form with the output projection (Vaswani et al. 2017, sec. 3.2);
* :func:`encoder_layer` -- post-norm, ``x = LN(x + SelfAttention(x))`` then ``LN(x + FFN(x))`` with
  ``FFN = dense -> GELU -> dense`` (Vaswani et al. 2017, sec. 3.1 and 3.3; Devlin et al. 2019, sec. 3);
* :func:`pooler` -- ``tanh(W h_[CLS] + b)``, the vector C of Devlin et al. 2019 (sec. 3), with the dense
  layer and tanh of Google's released code;
* :func:`mlm_head` -- ``LayerNorm(GELU(dense(h))) E^T + bias``, scores against the token table E itself
  (tied weights; the masked LM of Devlin et al. 2019, sec. 3.1, with the transform of Google's code);
* :func:`bert_model` -- the whole of ``BertModel`` from Hugging Face tensor names:
  (sequence_output, pooled_output).

Every function casts its inputs to float64, so its answer is exact to ~1e-15, far below float32's ~1e-7.

References: Devlin et al. 2019, "BERT: Pre-training of Deep Bidirectional Transformers for Language
Understanding"; Vaswani et al. 2017, "Attention Is All You Need"; Ba, Kiros & Hinton 2016, "Layer
Normalization"; Hendrycks & Gimpel 2016, "Gaussian Error Linear Units (GELUs)".
"""

from __future__ import annotations

import math

import numpy as np

EPS = 1e-12  # BERT's layer_norm_eps
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _f64(a) -> np.ndarray:
    return np.asarray(a, np.float64)


def layer_norm(x, gamma, beta, eps: float = EPS) -> np.ndarray:
    """LayerNorm over the last axis with the biased variance: (x - mean) / sqrt(var + eps) * gamma + beta."""
    x = _f64(x)
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * _f64(gamma) + _f64(beta)


def gelu(x) -> np.ndarray:
    """The exact GELU, x * Phi(x) = 0.5 x (1 + erf(x / sqrt(2)))."""
    x = _f64(x)
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def gelu_tanh(x) -> np.ndarray:
    """GELU's tanh approximation, 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))."""
    x = _f64(x)
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def dense(x, weight, bias) -> np.ndarray:
    """A dense layer, x W^T + b, with W stored [out, in]."""
    return _f64(x) @ _f64(weight).T + _f64(bias)


def embeddings(input_ids, token_type_ids, word, position, segment, gamma, beta, eps: float = EPS) -> np.ndarray:
    """BERT's input: LayerNorm(word[input_ids] + segment[token_type_ids] + position[:T]), [B, T, H]."""
    input_ids = np.asarray(input_ids)
    x = _f64(word)[input_ids] + _f64(segment)[np.asarray(token_type_ids)] + _f64(position)[: input_ids.shape[1]]
    return layer_norm(x, gamma, beta, eps)


def attention(q, k, v, keep=True) -> tuple[np.ndarray, np.ndarray]:
    """Scaled dot-product attention, softmax(Q K^T / sqrt(d)) V: (context, probabilities).

    ``keep`` is a boolean mask broadcast against the scores [..., T_q, T_k]: a key where it is False gets
    probability exactly 0 (its score is -inf before the softmax)."""
    q, k, v = _f64(q), _f64(k), _f64(v)
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    scores = np.where(keep, scores, -np.inf)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    return probs @ v, probs


def self_attention(x, layer: dict, heads: int, keep) -> np.ndarray:
    """Multi-head self-attention of one BERT layer, output projection included, [B, T, H].

    ``layer`` holds the layer's tensors under their Hugging Face names without the ``encoder.layer.i.``
    prefix (``attention.self.query.weight``, ...); each head attends with its own H / heads columns."""
    b, t, _ = x.shape

    def split(h):  # [B, T, H] -> [B, heads, T, H / heads]
        return h.reshape(b, t, heads, -1).transpose(0, 2, 1, 3)

    q, k, v = (split(dense(x, layer[f"attention.self.{n}.weight"], layer[f"attention.self.{n}.bias"]))
               for n in ("query", "key", "value"))
    context, _ = attention(q, k, v, keep)
    context = context.transpose(0, 2, 1, 3).reshape(b, t, -1)  # the heads side by side again
    return dense(context, layer["attention.output.dense.weight"], layer["attention.output.dense.bias"])


def encoder_layer(x, layer: dict, heads: int, keep, eps: float = EPS) -> np.ndarray:
    """One post-norm encoder layer: x = LN(x + SelfAttention(x)), then LN(x + FFN(x)), FFN = dense -> GELU -> dense."""
    x = layer_norm(x + self_attention(x, layer, heads, keep), layer["attention.output.LayerNorm.weight"],
                   layer["attention.output.LayerNorm.bias"], eps)
    h = dense(gelu(dense(x, layer["intermediate.dense.weight"], layer["intermediate.dense.bias"])),
              layer["output.dense.weight"], layer["output.dense.bias"])
    return layer_norm(x + h, layer["output.LayerNorm.weight"], layer["output.LayerNorm.bias"], eps)


def pooler(sequence_output, weight, bias) -> np.ndarray:
    """The pooled output C = tanh(W h_[CLS] + b) from the first token's vector, [B, H]."""
    return np.tanh(dense(_f64(sequence_output)[:, 0], weight, bias))


def mlm_head(hidden, dense_weight, dense_bias, gamma, beta, word_table, bias, eps: float = EPS) -> np.ndarray:
    """The tied MLM head: LayerNorm(GELU(dense(h))) E^T + bias, one score per vocabulary word, [..., V]."""
    h = layer_norm(gelu(dense(hidden, dense_weight, dense_bias)), gamma, beta, eps)
    return h @ _f64(word_table).T + _f64(bias)


def bert_model(state: dict, config, input_ids, token_type_ids, attention_mask):
    """``BertModel``'s forward from Hugging Face tensor names (a ``bert.`` prefix is dropped):
    (sequence_output [B, T, H], pooled_output [B, H], or None when ``state`` has no pooler).

    ``config`` gives ``num_hidden_layers``, ``num_attention_heads`` and ``layer_norm_eps``;
    ``attention_mask`` [B, T] is 1 for real tokens, 0 for padding keys (which get probability 0)."""
    w = {k.removeprefix("bert."): _f64(v) for k, v in state.items()}
    eps = config.layer_norm_eps
    x = embeddings(input_ids, token_type_ids, w["embeddings.word_embeddings.weight"],
                   w["embeddings.position_embeddings.weight"], w["embeddings.token_type_embeddings.weight"],
                   w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    keep = np.asarray(attention_mask).astype(bool)[:, None, None, :]  # [B, 1, 1, T]: every head, every query
    for i in range(config.num_hidden_layers):
        prefix = f"encoder.layer.{i}."
        layer = {k.removeprefix(prefix): v for k, v in w.items() if k.startswith(prefix)}
        x = encoder_layer(x, layer, config.num_attention_heads, keep, eps)
    pooled = pooler(x, w["pooler.dense.weight"], w["pooler.dense.bias"]) if "pooler.dense.weight" in w else None
    return x, pooled
