"""Transformer blocks against numpy re-implementations of the paper's equations (Vaswani et al. 2017; the
attention and LayerNorm of :mod:`bert_ms.bert.reference`)."""

from __future__ import annotations

import math

import mindspore as ms
import numpy as np
import pytest
from mindspore.nn.utils import no_init_parameters

from bert_ms.bert import reference
from bert_ms.bert.model import count_parameters
from bert_ms.transformer.attention import (
    MultiHeadAttention,
    causal_mask,
    padding_mask,
    scaled_dot_product_attention,
)
from bert_ms.transformer.feedforward import PositionwiseFeedForward
from bert_ms.transformer.model import AddNorm, Encoder, EncoderLayer, Transformer, TransformerConfig
from bert_ms.transformer.positional import SinusoidalPositionalEncoding, sinusoidal_table

rng = np.random.default_rng(0)


def t(a):
    return ms.Tensor(a)


def test_scaled_dot_product_attention_eq1_with_padding_mask():
    q, k, v = (rng.normal(size=(2, 3, 5, 8)).astype(np.float32) for _ in range(3))
    keep = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], np.float32)
    out, probs = scaled_dot_product_attention(t(q), t(k), t(v), padding_mask(t(keep)))
    want_out, want_p = reference.attention(q, k, v, keep[:, None, None, :].astype(bool))
    np.testing.assert_allclose(probs.asnumpy(), want_p, atol=1e-6)
    np.testing.assert_allclose(out.asnumpy(), want_out, atol=1e-5)
    assert np.all(probs.asnumpy()[0, :, :, 3:] == 0)  # padded keys get exactly zero weight


def test_causal_mask_blocks_the_future():
    q, k, v = (rng.normal(size=(1, 2, 6, 4)).astype(np.float32) for _ in range(3))
    out, probs = scaled_dot_product_attention(t(q), t(k), t(v), causal_mask(6))
    p = probs.asnumpy()
    assert np.all(p[..., np.triu_indices(6, 1)[0], np.triu_indices(6, 1)[1]] == 0)
    _, want_p = reference.attention(q, k, v, np.tril(np.ones((6, 6), bool)))
    np.testing.assert_allclose(p, want_p, atol=1e-6)
    v2 = v.copy()
    v2[..., 4:, :] += 10.0  # changing future values leaves earlier outputs unchanged
    out2, _ = scaled_dot_product_attention(t(q), t(k), t(v2), causal_mask(6))
    np.testing.assert_allclose(out2.asnumpy()[..., :4, :], out.asnumpy()[..., :4, :], atol=1e-6)


def test_multi_head_attention_matches_numpy():
    mha = MultiHeadAttention(16, 4, dropout=0.0, init_std=0.3)
    mha.set_train(False)
    x = rng.normal(size=(2, 5, 16)).astype(np.float32)
    mem = rng.normal(size=(2, 7, 16)).astype(np.float32)
    out, probs = mha(t(x), t(mem))
    W = {n: p.asnumpy() for n, p in mha.parameters_and_names()}

    def proj(name, a):
        return a @ W[f"{name}.weight"].T + W[f"{name}.bias"]

    def split(a):
        return a.reshape(a.shape[0], a.shape[1], 4, 4).transpose(0, 2, 1, 3)

    ctx, p = reference.attention(split(proj("query", x)), split(proj("key", mem)), split(proj("value", mem)), True)
    want = proj("output", ctx.transpose(0, 2, 1, 3).reshape(2, 5, 16))
    assert probs.shape == (2, 4, 5, 7)
    np.testing.assert_allclose(probs.asnumpy(), p, atol=1e-6)
    np.testing.assert_allclose(out.asnumpy(), want, atol=1e-5)
    # self-attention: keys and values from the same sequence
    own, own_p = mha(t(x), t(x))
    ctx, p = reference.attention(split(proj("query", x)), split(proj("key", x)), split(proj("value", x)), True)
    np.testing.assert_allclose(own_p.asnumpy(), p, atol=1e-6)
    np.testing.assert_allclose(own.asnumpy(), proj("output", ctx.transpose(0, 2, 1, 3).reshape(2, 5, 16)), atol=1e-5)


def test_sinusoidal_encoding_formula_sec_3_5():
    table = sinusoidal_table(50, 16)
    for pos in (0, 1, 7, 49):
        for i in range(8):
            angle = pos / 10000 ** (2 * i / 16)
            assert table[pos, 2 * i] == pytest.approx(math.sin(angle), abs=1e-6)
            assert table[pos, 2 * i + 1] == pytest.approx(math.cos(angle), abs=1e-6)
    pe = SinusoidalPositionalEncoding(16, 50, dropout=0.0)
    assert len(pe.trainable_params()) == 0
    x = rng.normal(size=(2, 9, 16)).astype(np.float32)
    np.testing.assert_allclose(pe(t(x)).asnumpy(), x + table[:9], atol=1e-6)


def test_ffn_eq2_and_add_norm():
    ffn = PositionwiseFeedForward(8, 32, act="relu", init_std=0.3)
    x = rng.normal(size=(2, 3, 8)).astype(np.float32)
    W = {n: p.asnumpy() for n, p in ffn.parameters_and_names()}
    h = np.maximum(0, x @ W["intermediate.weight"].T + W["intermediate.bias"])
    np.testing.assert_allclose(ffn(t(x)).asnumpy(), h @ W["output.weight"].T + W["output.bias"], atol=1e-5)
    with pytest.raises(ValueError, match="unknown activation"):
        PositionwiseFeedForward(8, 32, act="swish")
    an = AddNorm(8, dropout=0.0, eps=1e-6)
    y = rng.normal(size=(2, 3, 8)).astype(np.float32)
    np.testing.assert_allclose(an(t(x), t(y)).asnumpy(), reference.layer_norm(x + y, 1.0, 0.0, 1e-6), atol=1e-5)


def test_post_norm_vs_pre_norm_layer():
    """Post-norm (the papers) ends in a LayerNorm, so each position has mean 0 / std 1; pre-norm does not."""
    x = t(rng.normal(1.0, 3.0, size=(2, 4, 16)).astype(np.float32))
    kw = dict(d_model=16, num_heads=2, d_ff=32, dropout=0.0, attention_dropout=0.0)
    post, pre = EncoderLayer(**kw), EncoderLayer(pre_norm=True, **kw)
    post.set_train(False)
    pre.set_train(False)
    a = post(x)[0].asnumpy()
    np.testing.assert_allclose(a.mean(-1), 0, atol=1e-5)
    np.testing.assert_allclose(a.std(-1), 1, atol=1e-3)
    assert np.abs(pre(x)[0].asnumpy().mean(-1)).max() > 0.1
    assert Encoder(2, pre_norm=True, **kw).final_norm is not None
    assert Encoder(2, **kw).final_norm is None


@pytest.fixture(scope="module")
def tiny_transformer():
    model = Transformer(TransformerConfig.preset("tiny", src_vocab_size=40, tgt_vocab_size=40))
    model.set_train(False)
    return model


def test_transformer_decoder_is_causal(tiny_transformer):
    src = t(rng.integers(1, 40, (2, 7)).astype(np.int32))
    tgt = rng.integers(1, 40, (2, 6)).astype(np.int32)
    logits = tiny_transformer(src, t(tgt)).asnumpy()
    assert logits.shape == (2, 6, 40)
    tgt2 = tgt.copy()
    tgt2[:, 4:] = 3  # the future must not influence positions 0..3
    logits2 = tiny_transformer(src, t(tgt2)).asnumpy()
    np.testing.assert_allclose(logits2[:, :4], logits[:, :4], atol=1e-5)
    assert np.abs(logits2[:, 4:] - logits[:, 4:]).max() > 1e-4


def test_transformer_source_padding_is_ignored(tiny_transformer):
    src = rng.integers(1, 40, (1, 7)).astype(np.int32)
    keep = np.array([[1, 1, 1, 1, 1, 0, 0]], np.int32)
    tgt = t(rng.integers(1, 40, (1, 5)).astype(np.int32))
    a = tiny_transformer(t(src), tgt, t(keep)).asnumpy()
    src[0, 5:] = 9
    b = tiny_transformer(t(src), tgt, t(keep)).asnumpy()
    np.testing.assert_allclose(a, b, atol=1e-5)
    c = tiny_transformer(t(src), tgt).asnumpy()  # without the mask the padding leaks in
    assert np.abs(c - a).max() > 1e-4


def test_transformer_presets_and_parameter_count():
    cfg = TransformerConfig.preset("base")
    assert (cfg.d_model, cfg.num_layers, cfg.num_heads, cfg.d_ff, cfg.dropout) == (512, 6, 8, 2048, 0.1)
    big = TransformerConfig.preset("big")
    assert (big.d_model, big.num_heads, big.d_ff, big.dropout) == (1024, 16, 4096, 0.3)
    with pytest.raises(ValueError, match="unknown Transformer preset"):
        TransformerConfig.preset("huge")
    d, f, v = 512, 2048, 37000
    attn, ffn, ln = 4 * (d * d + d), d * f + f + f * d + d, 2 * d
    want = v * d + 6 * (attn + ffn + 2 * ln) + 6 * (2 * attn + ffn + 3 * ln)  # shared embeddings, sec. 3.4
    with no_init_parameters():
        assert count_parameters(Transformer(cfg)) == want
