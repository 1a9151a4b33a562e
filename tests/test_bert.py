"""BERT model: parameter counts, config, outputs, tied MLM decoder, heads, PyNative/graph modes, fp16."""

from __future__ import annotations

import json

import mindspore as ms
import numpy as np
import pytest
from mindspore import nn
from mindspore.nn.utils import no_init_parameters

from bert_ms import device
from bert_ms.bert.config import BertConfig
from bert_ms.bert.losses import pretraining_loss
from bert_ms.bert.model import (
    BertForMaskedLM,
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
    BertOutput,
    count_parameters,
)

TINY = dict(vocab_size=97, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
            max_position_embeddings=32)


def T(a):
    return ms.Tensor(a)


def batch(b=3, n=10, vocab=97, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, (b, n)).astype(np.int32)
    tt = np.zeros_like(ids)
    tt[:, n // 2:] = 1
    am = np.ones_like(ids)
    am[1, n - 3:] = 0
    return ids, tt, am


# --------------------------------------------------------------------------- sizes and config
@pytest.mark.parametrize("make, expected", [
    (lambda: BertModel(BertConfig.preset("base")), 109_482_240),
    (lambda: BertModel(BertConfig.preset("large")), 335_141_888),
    (lambda: BertModel(BertConfig.preset("base", vocab_size=21128)), 102_267_648),
    (lambda: BertForPreTraining(BertConfig.preset("base")), 110_106_428),
])
def test_parameter_counts_match_released_models(make, expected):
    with no_init_parameters():  # shapes only, no random numbers drawn
        assert count_parameters(make()) == expected


def test_presets():
    sizes = {n: (c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.intermediate_size)
             for n in ("tiny", "mini", "small", "base", "large") for c in [BertConfig.preset(n)]}
    assert sizes == {"tiny": (2, 128, 2, 512), "mini": (4, 256, 4, 1024), "small": (4, 512, 8, 2048),
                     "base": (12, 768, 12, 3072), "large": (24, 1024, 16, 4096)}
    assert BertConfig.preset("mini", vocab_size=8000).vocab_size == 8000
    with pytest.raises(ValueError, match="unknown BERT preset"):
        BertConfig.preset("medium")
    with pytest.raises(ValueError, match="not divisible"):
        BertConfig(hidden_size=100, num_attention_heads=3)


def test_config_json_roundtrip_and_hf_keys(tmp_path):
    cfg = BertConfig.preset("mini", vocab_size=8000, hidden_dropout_prob=0.2)
    cfg.to_json_file(tmp_path / "config.json", architectures=["BertForMaskedLM"])
    data = json.loads((tmp_path / "config.json").read_text())
    assert data["architectures"] == ["BertForMaskedLM"] and data["model_type"] == "bert"
    assert BertConfig.from_json_file(tmp_path / "config.json") == cfg
    hf = {**cfg.to_dict(), "gradient_checkpointing": False, "position_embedding_type": "absolute"}
    assert BertConfig.from_dict(hf) == cfg  # unknown HF keys are ignored
    with pytest.raises(ValueError, match="model_type"):
        BertConfig.from_dict({"model_type": "gpt2"})
    with pytest.raises(FileNotFoundError):
        BertConfig.from_json_file(tmp_path / "nope.json")


# --------------------------------------------------------------------------- outputs
@pytest.fixture(scope="module")
def tiny():
    model = BertForPreTraining(BertConfig(**TINY), dtype=ms.float32)
    model.set_train(False)
    return model


def test_bert_output_structure(tiny):
    ids, tt, am = batch()
    out = tiny.bert(T(ids), T(tt), T(am), output_hidden_states=True, output_attentions=True)
    assert isinstance(out, BertOutput) and isinstance(out, tuple)
    assert out[0] is out.sequence_output and out[1] is out.pooled_output
    assert out.sequence_output.shape == (3, 10, 32) and out.pooled_output.shape == (3, 32)
    assert len(out.hidden_states) == 3 and len(out.attentions) == 2
    np.testing.assert_allclose(out.hidden_states[-1].asnumpy(), out.sequence_output.asnumpy())
    p = out.attentions[0].asnumpy()
    assert p.shape == (3, 4, 10, 10)
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-5)
    assert np.all(p[1, :, :, 7:] == 0)  # padding gets no attention
    plain = tiny.bert(T(ids), T(tt), T(am))
    assert plain.hidden_states is None and plain.attentions is None
    assert BertModel(BertConfig(**TINY), add_pooling_layer=False)(T(ids)).pooled_output is None


def test_padding_does_not_change_real_tokens(tiny):
    ids, tt, am = batch()
    a = tiny.bert(T(ids), T(tt), T(am)).sequence_output.asnumpy()
    ids2 = ids.copy()
    ids2[1, 7:] = 5
    b = tiny.bert(T(ids2), T(tt), T(am)).sequence_output.asnumpy()
    np.testing.assert_allclose(a[1, :7], b[1, :7], atol=1e-5)
    np.testing.assert_allclose(a[0], b[0], atol=1e-6)


def test_segments_matter(tiny):
    ids, tt, am = batch()
    a = tiny.bert(T(ids), T(tt), T(am)).sequence_output.asnumpy()
    b = tiny.bert(T(ids), T(np.zeros_like(tt)), T(am)).sequence_output.asnumpy()
    assert np.abs(a - b).max() > 1e-3


def test_input_errors(tiny):
    with pytest.raises(ValueError, match=r"\[batch, seq_len\]"):
        tiny.bert(T(np.ones(5, np.int32)))
    with pytest.raises(ValueError, match="max_position_embeddings"):
        tiny.bert(T(np.ones((1, 40), np.int32)))


# --------------------------------------------------------------------------- heads
def test_mlm_decoder_is_tied_to_token_embeddings(tiny):
    emb = tiny.bert.embeddings.word_embeddings.weight
    names = [n for n, _ in tiny.parameters_and_names()]
    assert not any("decoder" in n for n in names)  # no second [V, H] matrix
    assert sum(int(np.prod(p.shape)) == 97 * 32 for p in tiny.trainable_params()) == 1
    # the logits are h E^T + b, with E the embedding table: check against numpy
    ids, tt, am = batch()
    seq = tiny.bert(T(ids), T(tt), T(am)).sequence_output
    h = tiny.mlm.transform(seq).asnumpy()
    logits, _ = tiny(T(ids), T(tt), T(am))
    np.testing.assert_allclose(logits.asnumpy(), h @ emb.asnumpy().T + tiny.mlm.bias.asnumpy(), atol=1e-4)
    # and the MLM loss sends gradient into the embedding rows of predicted words that never occur in the input
    unseen = sorted(set(range(97)) - set(ids.ravel().tolist()))[0]

    def mlm_only(e):
        return tiny.mlm(seq, e)[0, 0, unseen]

    g = ms.grad(mlm_only)(emb).asnumpy()
    assert np.abs(g[unseen]).sum() > 0


def test_masked_positions_gather(tiny):
    ids, tt, am = batch()
    pos = np.array([[1, 4], [0, 6], [9, 2]], np.int32)
    full, nsp = tiny(T(ids), T(tt), T(am))
    part, nsp2 = tiny(T(ids), T(tt), T(am), T(pos))
    assert full.shape == (3, 10, 97) and part.shape == (3, 2, 97) and nsp.shape == (3, 2)
    np.testing.assert_allclose(part.asnumpy(), np.take_along_axis(full.asnumpy(), pos[..., None], 1), atol=1e-5)
    np.testing.assert_allclose(nsp2.asnumpy(), nsp.asnumpy())


def test_head_shapes():
    cfg = BertConfig(**TINY)
    ids, tt, am = batch()
    assert BertForMaskedLM(cfg)(T(ids), T(tt), T(am)).shape == (3, 10, 97)
    assert BertForSequenceClassification(cfg, num_labels=3)(T(ids), T(tt), T(am)).shape == (3, 3)
    assert BertForTokenClassification(cfg, num_labels=5)(T(ids), T(tt), T(am)).shape == (3, 10, 5)
    start, end = BertForQuestionAnswering(cfg)(T(ids), T(tt), T(am))
    assert start.shape == (3, 10) and end.shape == (3, 10)
    with pytest.raises(ValueError, match="num_labels"):
        BertForSequenceClassification(cfg, num_labels=0)


# --------------------------------------------------------------------------- modes and precision
def _train_steps(model, graph: bool, steps: int = 3):
    """value_and_grad + AdamWeightDecay, eager or compiled with mindspore.jit."""
    ids, tt, am = batch()
    pos = np.array([[1, 4], [0, 6], [2, 3]], np.int32)
    lab = np.take_along_axis(ids, pos, 1)
    w = np.ones(pos.shape, np.float32)
    nsp = np.array([0, 1, 0], np.int32)
    opt = nn.AdamWeightDecay(model.trainable_params(), learning_rate=1e-2)

    def loss_fn(*args):
        mlm_logits, nsp_logits = model(*args[:4])
        return pretraining_loss(mlm_logits, nsp_logits, *args[4:])

    grad_fn = ms.value_and_grad(loss_fn, None, opt.parameters)

    def step(*args):
        loss, grads = grad_fn(*args)
        opt(grads)
        return loss

    if graph:
        step = ms.jit(step)
    model.set_train(True)
    args = [T(a) for a in (ids, tt, am, pos, lab, w, nsp)]
    return [float(step(*args).asnumpy()) for _ in range(steps)]


def _tiny_copy(dtype=ms.float32, dropout=0.0):
    cfg = BertConfig(**{**TINY, "hidden_dropout_prob": dropout, "attention_probs_dropout_prob": dropout})
    ms.set_seed(7)
    return BertForPreTraining(cfg, dtype=dtype)


def test_training_step_pynative_and_graph_agree():
    eager = _train_steps(_tiny_copy(), graph=False)
    graph = _train_steps(_tiny_copy(), graph=True)
    assert eager[-1] < eager[0]  # it learns
    np.testing.assert_allclose(graph, eager, rtol=1e-4)


def test_forward_under_jit_matches_pynative(tiny):
    ids, tt, am = batch()

    @ms.jit
    def fwd(a, b, c):
        out = tiny.bert(a, b, c, True, True)  # a plain tuple inside jit
        return out[0], out[1], out[3][1]

    seq, pooled, att = fwd(T(ids), T(tt), T(am))
    ref = tiny.bert(T(ids), T(tt), T(am), True, True)
    np.testing.assert_allclose(seq.asnumpy(), ref.sequence_output.asnumpy(), atol=1e-5)
    np.testing.assert_allclose(pooled.asnumpy(), ref.pooled_output.asnumpy(), atol=1e-5)
    np.testing.assert_allclose(att.asnumpy(), ref.attentions[1].asnumpy(), atol=1e-6)


def test_gradients_through_bert_model_under_jit():
    """Under jit BertModel returns a plain tuple, so gradients flow (a NamedTuple built in a compiled
    graph would silently stop them); they equal the eager gradients."""
    model = BertModel(BertConfig(**TINY))
    model.set_train(False)
    ids, tt, am = batch()
    params = model.trainable_params()

    def f(a, b, c):
        out = model(a, b, c)
        return out[0].sum() + out[1].sum()

    eager = ms.grad(f, None, params)(T(ids), T(tt), T(am))
    graph = ms.jit(ms.grad(f, None, params))(T(ids), T(tt), T(am))
    assert sum(float(np.abs(g.asnumpy()).sum()) for g in graph) > 0
    for a, b in zip(eager, graph):
        np.testing.assert_allclose(b.asnumpy(), a.asnumpy(), atol=1e-5)


def test_fp16_mixed_precision_close_to_fp32(tiny):
    half = BertForPreTraining(BertConfig(**TINY), dtype=ms.float16)
    half.set_train(False)
    ms.load_param_into_net(half, {n: ms.Parameter(p.asnumpy(), n) for n, p in tiny.parameters_and_names()})
    assert all(p.dtype == ms.float32 for p in half.trainable_params())  # master weights stay fp32
    ids, tt, am = batch()
    a, b = tiny(T(ids), T(tt), T(am)), half(T(ids), T(tt), T(am))
    assert b[0].dtype == ms.float32  # logits come back in fp32 for the loss
    np.testing.assert_allclose(b[0].asnumpy(), a[0].asnumpy(), atol=5e-2)
    np.testing.assert_allclose(b[1].asnumpy(), a[1].asnumpy(), atol=5e-2)
    assert np.abs(b[0].asnumpy() - a[0].asnumpy()).max() > 0  # it really ran in fp16
    losses = _train_steps(half, graph=True, steps=2)
    assert all(np.isfinite(losses))


def test_dtype_follows_device_switch():
    info = device.current()
    assert BertModel(BertConfig(**TINY)).compute_dtype == info.compute_dtype
    assert BertModel(BertConfig(**TINY), dtype="fp16").compute_dtype == ms.float16
    with pytest.raises(device.DeviceError, match="'bf16' is not available on CPU"):
        BertModel(BertConfig(**TINY), dtype="bf16")
    with pytest.raises(device.DeviceError, match="unknown precision"):
        BertModel(BertConfig(**TINY), dtype="fp8")
