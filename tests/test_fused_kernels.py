"""The fused CPU kernels of bert_ms.accel (built by make setup, on by default) against the reference MindSpore ops.

Element-wise results (GELU and its derivative, LayerNorm's output and dx) must equal the reference ops
within 1e-6 (``rtol=atol=1e-6``), in PyNative and under ``mindspore.jit``; a gradient times a random
``dout`` within 1e-6 of ``|dout|``. LayerNorm's dgamma/dbeta are
sums over all rows: two float32 summation orders differ by more than 1e-6 there, so they are checked
against a float64 NumPy truth (the fused kernel accumulates in double and must be at least as close as
MindSpore's ``LayerNormGrad``) and against the reference at 1e-6 of the summed magnitudes.

Applied from outside: ``accelerate(model)`` swaps fused cells in (same parameters; loss and every
gradient of a whole BERT within 1e-6), ``restore`` undoes it, a plain model has none, and the Trainer
uses them by default where they were built (``fused=None``: loaded, never compiled), always with
``fused=True`` (compiled if missing) and never with ``fused=False``, equal to the op-based Trainer over
three steps. The linear layer (oneDNN sgemm) equals :class:`bert_ms.transformer.layers.Linear`, forward
and every gradient. The seeded-dropout kernel equals :class:`bert_ms.train.dropout.SeededDropout` bit for bit.
Also every fallback (fp16, no compiler, a compile error) and the atomic, source-keyed cache.
"""

from __future__ import annotations

import math
import os
import warnings

import mindspore as ms
import numpy as np
import pytest
from mindspore import Tensor, nn, ops

from bert_ms import device
from bert_ms.accel import (
    FusedAttention,
    FusedEncoderLayer,
    FusedGELU,
    FusedLayerNorm,
    FusedLinear,
    accelerate,
    fused,
    fused_cells,
    restore,
)
from bert_ms.accel.optimizer import FusedAdamWeightDecay
from bert_ms.bert.config import BertConfig
from bert_ms.bert.losses import pretraining_loss
from bert_ms.bert.model import BertForPreTraining, BertModel
from bert_ms.train.dropout import FusedSeededDropout, SeededDropout, seed_parameter
from bert_ms.train.tasks import PretrainingTask
from bert_ms.train.trainer import Trainer, TrainerConfig
from bert_ms.transformer.feedforward import PositionwiseFeedForward
from bert_ms.transformer.layers import LayerNorm, Linear

TOL = dict(rtol=1e-6, atol=1e-6)
pytestmark = pytest.mark.skipif(not fused.available(), reason="fused CPU kernels unavailable (no g++?)")


@pytest.fixture
def restore_device():
    """Tests that call device.setup() put the session's choice (CPU, PyNative, fp32) back."""
    before = device.current()
    yield
    device.setup(before.target, mode=before.mode, precision=before.precision, verbose=False)


def run(fn, mode):
    return ms.jit(fn) if mode == "graph" else fn


def rand(*shape, seed=0, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


# ------------------------------------------------------------------------------------------ kernels
@pytest.mark.parametrize("mode", ["pynative", "graph"])
def test_gelu_and_its_gradient_equal_the_reference_ops(mode):
    op = fused.gelu()
    x = np.concatenate([rand(16, 128, 64, scale=2.0).ravel(), np.linspace(-12, 12, 40001, dtype=np.float32)])
    xt = Tensor(x)
    y_ref, y_fus = ops.gelu(xt, approximate="none").asnumpy(), run(op, mode)(xt).asnumpy()
    np.testing.assert_allclose(y_fus, y_ref, **TOL)

    def grads(dy):
        dyt = Tensor(dy)

        def ref(t):
            return (ops.gelu(t, approximate="none") * dyt).sum()

        def fus(t):
            return (op(t) * dyt).sum()

        return run(ms.grad(ref), mode)(xt).asnumpy(), run(ms.grad(fus), mode)(xt).asnumpy()

    # the derivative itself (dout = 1): GELU'(x) = Phi(x) + x phi(x)
    g_ref, g_fus = grads(np.ones_like(x))
    np.testing.assert_allclose(g_fus, g_ref, **TOL)
    # a random dout: the same, scaled by |dout|
    dy = rand(*x.shape, seed=1)
    gd_ref, gd_fus = grads(dy)
    assert (np.abs(gd_fus - gd_ref) <= 1e-6 * np.maximum(np.abs(dy), 1) + 1e-6 * np.abs(gd_ref)).all()

    # both against the exact function in float64: x Phi(x) and Phi(x) + x phi(x). The fused gradient
    # is the closer one (MindSpore's autodiff chain rounds each of its ~10 steps; near x = -0.8, where
    # Phi and x phi nearly cancel, that is ~8e-7).
    xd = x.astype(np.float64)
    cdf = 0.5 * (1 + np.vectorize(math.erf)(xd / math.sqrt(2)))
    grad = cdf + xd * np.exp(-0.5 * xd * xd) / math.sqrt(2 * math.pi)
    assert np.abs(y_fus - xd * cdf).max() < 1e-6
    assert np.abs(g_fus - grad).max() <= np.abs(g_ref - grad).max()
    assert np.abs(gd_fus - dy * grad).max() <= np.abs(gd_ref - dy * grad).max()


@pytest.mark.parametrize("mode", ["pynative", "graph"])
def test_layer_norm_and_its_gradients_equal_the_reference_ops(mode):
    op, eps = fused.layer_norm(), 1e-12
    x = rand(8, 64, 256, scale=3.0) + 0.5
    gamma, beta, dy = rand(256, seed=1) * 0.2 + 1.0, rand(256, seed=2) * 0.1, rand(8, 64, 256, seed=3)
    xt, gt, bt, dyt, et = Tensor(x), Tensor(gamma), Tensor(beta), Tensor(dy), Tensor([eps], ms.float32)
    ln = ops.LayerNorm(begin_norm_axis=-1, begin_params_axis=-1, epsilon=eps)

    def ref(a, g, b):
        return (ln(a, g, b)[0] * dyt).sum()

    def fus(a, g, b):
        return (op(a, g, b, et) * dyt).sum()

    def fwd(a, g, b):
        return op(a, g, b, et)

    y_ref, y_fus = ln(xt, gt, bt)[0].asnumpy(), run(fwd, mode)(xt, gt, bt).asnumpy()
    np.testing.assert_allclose(y_fus, y_ref, **TOL)
    grads_ref = [t.asnumpy() for t in run(ms.grad(ref, grad_position=(0, 1, 2)), mode)(xt, gt, bt)]
    grads_fus = [t.asnumpy() for t in run(ms.grad(fus, grad_position=(0, 1, 2)), mode)(xt, gt, bt)]
    np.testing.assert_allclose(grads_fus[0], grads_ref[0], **TOL)  # dx, element-wise

    # dgamma, dbeta: sums over the 512 rows, compared with float64 truth
    xd = x.reshape(-1, 256).astype(np.float64)
    xhat = (xd - xd.mean(-1, keepdims=True)) / np.sqrt(xd.var(-1, keepdims=True) + eps)
    d2 = dy.reshape(-1, 256).astype(np.float64)
    for name, k, terms in (("dgamma", 1, d2 * xhat), ("dbeta", 2, d2)):
        truth, scale = terms.sum(0), np.abs(terms).sum(0)
        err_fus, err_ref = np.abs(grads_fus[k] - truth), np.abs(grads_ref[k] - truth)
        assert err_fus.max() <= err_ref.max() + 1e-6, name
        assert (np.abs(grads_fus[k] - grads_ref[k]) <= 1e-6 * scale + 1e-6).all(), name


@pytest.mark.parametrize("mode", ["pynative", "graph"])
@pytest.mark.parametrize("shape", [(3, 17, 48), (5, 48), (1, 1, 48), (4, 67, 48)])
def test_linear_and_its_gradients_equal_the_reference_layer(mode, shape):
    """y = x W^T + b (any leading dims; 268 rows split by rows, fewer by output columns; odd counts so the
    thread blocks are uneven) and dx, dW, db,
    against Linear's MatMul + add and their autodiff, for a random dout."""
    plain = Linear(48, 40)
    plain.weight.set_data(Tensor(rand(40, 48, seed=4) * 0.2))
    plain.bias.set_data(Tensor(rand(40, seed=5)))
    cell = FusedLinear(plain, fused.linear())
    cell.set_train(True)
    x, dy = Tensor(rand(*shape, seed=6)), Tensor(rand(*shape[:-1], 40, seed=7))

    def loss(c):
        return lambda t: (c(t) * dy).sum()

    y_ref, y_fus = plain(x).asnumpy(), run(cell, mode)(x).asnumpy()
    assert y_fus.shape == shape[:-1] + (40,)
    np.testing.assert_allclose(y_fus, y_ref, rtol=1e-5, atol=1e-5)
    params = (plain.weight, plain.bias)
    g_ref = run(ms.grad(loss(plain), grad_position=0, weights=params), mode)(x)
    g_fus = run(ms.grad(loss(cell), grad_position=0, weights=params), mode)(x)
    (dx_ref, (dw_ref, db_ref)), (dx_fus, (dw_fus, db_fus)) = g_ref, g_fus
    for name, a, b in (("dx", dx_fus, dx_ref), ("dW", dw_fus, dw_ref), ("db", db_fus, db_ref)):
        np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=1e-5, atol=1e-5, err_msg=name)
    cell.set_train(False)  # inference: the plain cell's ops
    np.testing.assert_array_equal(cell(x).asnumpy(), y_ref)


def _encoder_layer(p):
    """One encoder layer (H 48, 4 heads, T 19: odd sizes) whose attention dropout is the Trainer's seeded one."""
    from bert_ms.train.dropout import seeded_dropouts, swap
    from bert_ms.transformer.model import EncoderLayer

    ms.set_seed(3)
    layer = EncoderLayer(48, 4, 96, dropout=0.0, attention_dropout=p)
    seed = seed_parameter()
    seed.set_data(Tensor(5, ms.int64))
    swap([e for e in seeded_dropouts(layer, seed) if e[1] == "dropout" and e[0] is layer.attention])
    layer.set_train(True)
    return layer


@pytest.mark.parametrize("mode", ["pynative", "graph"])
@pytest.mark.parametrize("p", [0.0, 0.3])
def test_attention_and_its_gradients_equal_the_reference_layer(mode, p):
    """The fused self-attention (projections, scores, padding mask, softmax, the seeded dropout's mask on the
    probabilities, weighted sum, heads) against MultiHeadAttention with the same cells: output, probabilities,
    and the gradients of x and of all eight projection parameters, for a random dout."""
    layer = _encoder_layer(p)
    plain = layer.attention
    x = Tensor(rand(3, 19, 48, seed=8))
    keep = np.ones((3, 19), np.int32)
    keep[1, 12:] = 0
    keep[2, 5:] = 0
    from bert_ms.transformer.attention import padding_mask

    mask = padding_mask(Tensor(keep))
    dy = Tensor(rand(3, 19, 48, seed=9))
    params = tuple(plain.trainable_params())

    def loss(cell):
        return lambda t: (cell(t, t, mask)[0] * dy).sum()

    out_ref, probs_ref = plain(x, x, mask)
    g_ref = run(ms.grad(loss(plain), grad_position=0, weights=params), mode)(x)
    assert "attention" in accelerate(layer)
    fused_att = layer.attention
    assert isinstance(fused_att, FusedAttention) and fused_att.seeded == (p > 0)
    out_fus, probs_fus = run(fused_att, mode)(x, x, mask)
    np.testing.assert_allclose(probs_fus.asnumpy(), probs_ref.asnumpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out_fus.asnumpy(), out_ref.asnumpy(), rtol=1e-5, atol=1e-5)
    assert (probs_fus.asnumpy()[1, :, :, 12:] == 0).all()  # padded keys get exactly 0
    g_fus = run(ms.grad(loss(fused_att), grad_position=0, weights=params), mode)(x)
    (dx_ref, dw_ref), (dx_fus, dw_fus) = g_ref, g_fus
    np.testing.assert_allclose(dx_fus.asnumpy(), dx_ref.asnumpy(), rtol=1e-4, atol=1e-5, err_msg="dx")
    for prm, a, b in zip(params, dw_fus, dw_ref):
        np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=1e-4, atol=1e-5, err_msg=prm.name)
    fused_att.set_train(False)  # inference: the reference maths, no dropout
    plain.set_train(False)
    np.testing.assert_allclose(fused_att(x, x, mask)[0].asnumpy(), plain(x, x, mask)[0].asnumpy(), rtol=1e-6,
                               atol=1e-6)
    assert restore(layer) and layer.attention is plain and fused_cells(layer) == []


def test_attention_is_fused_only_where_its_dropout_can_be_reproduced():
    """MindSpore's own random dropout (rate > 0) and a decoder's causal / cross-attention keep the plain cell."""
    from bert_ms.transformer.model import DecoderLayer, EncoderLayer

    random_drop = EncoderLayer(16, 2, 32, dropout=0.0, attention_dropout=0.1)
    assert "attention" not in accelerate(random_drop) and type(random_drop.attention).__name__ == "MultiHeadAttention"
    no_drop = EncoderLayer(16, 2, 32, dropout=0.0, attention_dropout=0.0)
    assert "attention" in accelerate(no_drop)
    decoder = DecoderLayer(16, 2, 32, dropout=0.0, attention_dropout=0.0)
    assert not [n for n in accelerate(decoder) if n.endswith("attention")]


def test_fused_linear_only_for_float32_with_a_bias():
    assert len(accelerate(nn.SequentialCell([Linear(8, 4)]))) == 1
    assert accelerate(nn.SequentialCell([Linear(8, 4, bias=False)])) == []
    assert accelerate(nn.SequentialCell([Linear(8, 4, compute_dtype=ms.float16)])) == []


# ------------------------------------------------------------------------ accelerate(model), from outside
TINY = dict(vocab_size=97, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
            max_position_embeddings=32, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
_LAYER = ["attention", "attention_norm.norm", "ffn.intermediate", "ffn.act", "ffn.output", "ffn_norm.norm"]
SWAPPED = (["nsp", "bert.embeddings.norm"] + [f"bert.encoder.layers.{i}.{c}" for i in range(2) for c in _LAYER]
           + ["bert.pooler.dense", "mlm.transform.dense", "mlm.transform.norm"])  # in cells_and_names() order


def _pretraining_batch():
    rng = np.random.default_rng(0)
    ids = Tensor(rng.integers(1, 97, (3, 16)).astype(np.int32))
    tt = Tensor(np.repeat([[0] * 8 + [1] * 8], 3, 0).astype(np.int32))
    am = Tensor(np.ones((3, 16), np.int32))
    pos = Tensor(np.array([[1, 4, 7], [2, 3, 9], [5, 6, 11]], np.int32))
    lab = Tensor(rng.integers(1, 97, (3, 3)).astype(np.int32))
    w = Tensor(np.ones((3, 3), np.float32))
    nsp = Tensor(np.array([0, 1, 0], np.int32))
    return ids, tt, am, pos, lab, w, nsp


def _loss_and_grads(model, mode):
    model.set_train(True)  # the fused kernels run in training mode (dropout is 0 here)

    def loss_fn(*xs):
        mlm, nsp_logits = model(*xs[:4])
        return pretraining_loss(mlm, nsp_logits, *xs[4:])

    grad_fn = run(ms.value_and_grad(loss_fn, None, model.trainable_params()), mode)
    loss, grads = grad_fn(*_pretraining_batch())
    return float(loss.asnumpy()), [g.asnumpy() for g in grads]


def test_a_plain_model_has_no_fused_cells():
    model = BertForPreTraining(BertConfig(**TINY))
    assert fused_cells(model) == []
    assert not any(isinstance(c, (FusedLayerNorm, FusedGELU)) for _, c in model.cells_and_names())


@pytest.mark.parametrize("mode", ["pynative", "graph"])
def test_accelerate_swaps_cells_and_changes_no_number(mode):
    """The same model before and after accelerate(): same parameters (objects and names), the same loss
    and gradients within 1e-6 in training mode; restore() gives back the original cells."""
    ms.set_seed(0)
    model = BertForPreTraining(BertConfig(**TINY))
    params = [(p.name, id(p)) for p in model.trainable_params()]
    plain_norm, plain_act = model.bert.embeddings.norm, model.bert.encoder.layers[0].ffn.act
    loss_off, g_off = _loss_and_grads(model, mode)

    assert accelerate(model) == SWAPPED == fused_cells(model)
    assert isinstance(model.bert.embeddings.norm, FusedLayerNorm)
    assert isinstance(model.bert.encoder.layers[0].ffn.act, FusedGELU)
    assert [(p.name, id(p)) for p in model.trainable_params()] == params  # shared, not copied or renamed
    loss_on, g_on = _loss_and_grads(model, mode)
    assert abs(loss_on - loss_off) <= 1e-6 * abs(loss_off)
    for a, b in zip(g_on, g_off):
        np.testing.assert_allclose(a, b, **TOL)

    assert restore(model) == SWAPPED and fused_cells(model) == []
    assert model.bert.embeddings.norm is plain_norm and model.bert.encoder.layers[0].ffn.act is plain_act
    accelerate(model)
    twin = model.bert.embeddings.norm
    restore(model)
    assert accelerate(model) == SWAPPED and model.bert.embeddings.norm is twin  # the same fused cells again
    restore(model)


def test_the_fused_kernels_really_run_in_training_mode():
    """The fused cell calls its kernel while training (a spy kernel shows it) and the reference op in
    inference; so the 1e-6 equality above compares two different computations."""
    norm = LayerNorm(8)
    calls = []
    real = fused.layer_norm()

    def spy(*args):
        calls.append(1)
        return real(*args)

    cell = FusedLayerNorm(norm, spy)
    x = Tensor(rand(4, 8, seed=5))
    cell.set_train(True)
    y_train = cell(x).asnumpy()
    cell.set_train(False)
    y_eval = cell(x).asnumpy()
    assert calls == [1]
    np.testing.assert_allclose(y_train, y_eval, **TOL)


def test_inference_graphs_use_the_reference_ops():
    """In inference mode the ops run, so a jit graph with a None output (no pooler) still compiles."""
    model = BertModel(BertConfig(**TINY), add_pooling_layer=False)
    assert len(accelerate(model)) == 1 + 2 * len(_LAYER)
    model.set_train(False)
    ids = Tensor(np.random.default_rng(0).integers(1, 97, (2, 16)).astype(np.int32))
    seq, pooled = ms.jit(model.forward_tuple)(ids)[:2]
    assert seq.shape == (2, 16, 32) and pooled is None
    model.set_train(True)  # the same cells, now with the fused kernels: equal outputs (dropout is 0)

    def sequence_output(t):
        return model.forward_tuple(t)[0]

    np.testing.assert_allclose(ms.jit(sequence_output)(ids).asnumpy(), seq.asnumpy(), **TOL)


def test_fused_gelu_only_for_float32_exact_gelu():
    fp16 = BertModel(BertConfig(**TINY), add_pooling_layer=False, dtype="fp16")
    swapped = accelerate(fp16)
    assert swapped and not [n for n in swapped if n.endswith(".act")]  # LayerNorm (always fp32) only
    tanh = BertModel(BertConfig(**{**TINY, "hidden_act": "gelu_new"}), add_pooling_layer=False)
    assert not [n for n in accelerate(tanh) if n.endswith(".act")]
    assert accelerate(PositionwiseFeedForward(8, 16, act="gelu")) == ["intermediate", "act", "output"]
    assert accelerate(PositionwiseFeedForward(8, 16, act="relu")) == ["intermediate", "output"]
    assert swapped and not [n for n in swapped if n.split(".")[-1] in ("query", "intermediate", "dense")]  # fp16


# ------------------------------------------------------------------------ inference: one kernel per layer
@pytest.mark.parametrize("mode", ["pynative", "graph"])
@pytest.mark.parametrize("act", ["gelu", "relu"])
def test_encoder_layer_kernel_equals_the_reference_layer_in_inference(mode, act):
    """The fused encoder layer (projections, attention core, output projection, both Add & Norm, the FFN) against
    EncoderLayer in evaluation mode (dropout on, so the identity): output within 1e-5, probabilities within
    1e-6, padded keys exactly 0; with and without a padding mask; in training mode it is the reference layer."""
    from bert_ms.transformer.attention import padding_mask
    from bert_ms.transformer.model import EncoderLayer

    ms.set_seed(4)
    layer = EncoderLayer(48, 4, 96, dropout=0.1, attention_dropout=0.1, act=act)
    layer.set_train(False)
    holder = nn.CellList([layer])
    x = Tensor(rand(3, 19, 48, seed=10))
    keep = np.ones((3, 19), np.int32)
    keep[1, 12:] = 0
    keep[2, 5:] = 0
    mask = padding_mask(Tensor(keep))
    refs = [layer(x, m) for m in (mask, None)]
    params = [(p.name, id(p)) for p in holder.trainable_params()]
    assert accelerate(holder, inference=True) == ["0"] and fused_cells(holder) == ["0"]
    fused_layer = holder[0]
    assert isinstance(fused_layer, FusedEncoderLayer)
    assert [(p.name, id(p)) for p in holder.trainable_params()] == params  # the same Parameters, same names
    for m, (out_ref, probs_ref) in zip((mask, None), refs):
        out, probs = run(fused_layer, mode)(x, m)
        np.testing.assert_allclose(out.asnumpy(), out_ref.asnumpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(probs.asnumpy(), probs_ref.asnumpy(), rtol=1e-5, atol=1e-6)
    assert (run(fused_layer, mode)(x, mask)[1].asnumpy()[1, :, :, 12:] == 0).all()
    holder.set_train(True)  # training: the reference layer itself (its dropout draws: compare the mode only)
    assert layer.training and fused_layer.training
    assert restore(holder) == ["0"] and holder[0] is layer and fused_cells(holder) == []


def test_encoder_layer_kernel_applies_only_where_it_computes_the_same():
    """Pre-norm, fp16 compute and the tanh GELU keep the plain layer; a decoder has no encoder layer."""
    from bert_ms.transformer.model import DecoderLayer, EncoderLayer

    def swapped(layer):
        return [n for n in accelerate(nn.CellList([layer]), inference=True) if n == "0"]

    assert swapped(EncoderLayer(16, 2, 32, act="gelu")) == ["0"]
    assert swapped(EncoderLayer(16, 2, 32, act="gelu", pre_norm=True)) == []
    assert swapped(EncoderLayer(16, 2, 32, act="gelu_new")) == []
    assert swapped(EncoderLayer(16, 2, 32, act="gelu", compute_dtype=ms.float16)) == []
    assert swapped(DecoderLayer(16, 2, 32)) == []


@pytest.mark.parametrize("pooler", [True, False])
def test_compiled_inference_forward_equals_the_reference_model(pooler):
    """compile_forward: every encoder layer fused, evaluation mode, a jit graph returning only tensors (the
    sequence output, and the pooled one with a pooler), equal to the reference model in evaluation mode
    within 1e-5, with and without an attention mask; restore() gives the plain model back."""
    from bert_ms.accel.inference import compile_forward

    ms.set_seed(1)
    model = BertModel(BertConfig(**{**TINY, "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1}),
                      add_pooling_layer=pooler)
    model.set_train(False)
    rng = np.random.default_rng(2)
    ids = Tensor(rng.integers(1, 97, (2, 16)).astype(np.int32))
    tt = Tensor(np.repeat([[0] * 8 + [1] * 8], 2, 0).astype(np.int32))
    am = np.ones((2, 16), np.int32)
    am[1, 10:] = 0
    am = Tensor(am)
    refs = [model(ids), model(ids, tt, am)]
    forward, swapped = compile_forward(model)
    assert [n for n in swapped if n.startswith("encoder.")] == ["encoder.layers.0", "encoder.layers.1"]
    assert not model.training
    for args, ref in zip(((ids,), (ids, tt, am)), refs):
        out = forward(*args)
        assert len(out) == (2 if pooler else 1)
        np.testing.assert_allclose(out[0].asnumpy(), ref.sequence_output.asnumpy(), rtol=1e-5, atol=1e-5)
        if pooler:
            np.testing.assert_allclose(out[1].asnumpy(), ref.pooled_output.asnumpy(), rtol=1e-5, atol=1e-5)
    assert restore(model) and fused_cells(model) == []


def test_compiled_inference_forward_of_a_head():
    """A head (here a classifier) returns tensors already: compiled as it is, the same logits as the reference."""
    from bert_ms.accel.inference import compile_forward
    from bert_ms.bert.model import BertForSequenceClassification

    ms.set_seed(2)
    model = BertForSequenceClassification(BertConfig(**TINY), num_labels=3)
    model.set_train(False)
    ids = Tensor(np.random.default_rng(3).integers(1, 97, (2, 16)).astype(np.int32))
    ref = model(ids).asnumpy()
    forward, swapped = compile_forward(model)
    assert "bert.encoder.layers.1" in swapped
    np.testing.assert_allclose(forward(ids).asnumpy(), ref, rtol=1e-5, atol=1e-5)
    restore(model)


# ------------------------------------------------------------------------------------------ fallback
@pytest.fixture
def fresh_build(tmp_path, monkeypatch):
    """An empty kernel folder and no remembered build; the real build is restored afterwards."""
    monkeypatch.setenv("BERT_MS_KERNELS", str(tmp_path / "kernels"))
    fused.reset()
    yield tmp_path
    monkeypatch.undo()
    fused.reset()
    assert fused.library() is not None


def _warnings_of(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn()
    return result, [w for w in caught if "fused CPU kernels are off" in str(w.message)]


def _warnings_of(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn()
    return result, [w for w in caught if "fused CPU kernels are off" in str(w.message)]


def test_no_compiler_warns_once_and_uses_the_ops(fresh_build, monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler-bert-ms")
    lib, first = _warnings_of(fused.library)
    assert lib is None and len(first) == 1 and "no C++ compiler" in str(first[0].message)
    ffn = PositionwiseFeedForward(8, 16, act="gelu")
    swapped, again = _warnings_of(lambda: accelerate(ffn))
    assert swapped == [] and not fused.available() and not again  # warned once only
    assert fused.gelu() is None and fused.layer_norm() is None and fused.dropout() is None
    x = Tensor(rand(2, 8))
    np.testing.assert_array_equal(ffn(x).asnumpy(), ffn.output(ops.gelu(ffn.intermediate(x))).asnumpy())


def test_a_compile_error_warns_and_uses_the_ops(fresh_build, monkeypatch):
    broken = fresh_build / "broken.cc"
    broken.write_text("this is not C++\n")
    monkeypatch.setattr(fused, "SOURCE", broken)
    lib, caught = _warnings_of(fused.library)
    assert lib is None and len(caught) == 1 and fused.gelu() is None
    assert not [p for p in (fresh_build / "kernels").iterdir() if p.suffix == ".so"]  # no partial library


def test_a_default_run_never_compiles(fresh_build, monkeypatch):
    """Nothing built: the default (build=False) loads nothing, compiles nothing, warns nothing, and a
    Trainer with the default config trains on MindSpore's ops; fused=True then builds the kernels."""
    def no_compiler(name, lib):
        raise AssertionError(f"compiled {name} although nothing asked for a build")

    monkeypatch.setattr(fused, "_compile", no_compiler)
    available, caught = _warnings_of(lambda: fused.available(build=False))
    assert available is False and not caught and not (fresh_build / "kernels").exists()
    model = nn.SequentialCell([Linear(4, 2), nn.Dropout(p=0.1)])
    arrays = {"features": np.zeros((8, 4), np.float32), "labels": np.zeros(8, np.int32)}
    from bert_ms.train.tasks import SequenceClassificationTask

    task = SequenceClassificationTask(2, feature_keys=("features",))
    trainer, caught = _warnings_of(lambda: Trainer(model, task, arrays, TrainerConfig(total_steps=1, batch_size=4,
                                                                                     progress=False)))
    assert not trainer._accelerate and not caught
    monkeypatch.undo()
    monkeypatch.setenv("BERT_MS_KERNELS", str(fresh_build / "kernels"))
    assert fused.available(build=True) and fused.linear(build=True) is not None  # fused=True builds them
    assert sorted(p.name.split("-")[0] for p in (fresh_build / "kernels").iterdir()) == ["fused_ops", "linear_ops"]
    fused.reset()
    assert fused.available(build=False)  # and from now on a default run loads them


def test_setup_without_a_compiler_says_so_in_one_line_per_library_and_succeeds(tmp_path):
    """What `make setup` runs (`python -m bert_ms.accel`) on a machine with no C++ compiler: exit 0 (setup goes
    on), one line per library naming the reason, nothing written."""
    import subprocess
    import sys

    env = {**os.environ, "CXX": "no-such-compiler-bert-ms", "BERT_MS_KERNELS": str(tmp_path / "k")}
    res = subprocess.run([sys.executable, "-m", "bert_ms.accel"], capture_output=True, text=True, env=env, timeout=300)
    lines = [ln for ln in res.stdout.splitlines() if ln.strip()]
    assert res.returncode == 0 and len(lines) == len(fused.LIBRARIES), res.stdout + res.stderr
    for name, line in zip(fused.LIBRARIES, lines):
        assert line.startswith(f"fused CPU kernels: {name}") and "not built" in line and "no C++ compiler" in line
        assert "MindSpore's ops" in line
    assert not (tmp_path / "k").exists() or not any((tmp_path / "k").iterdir())


def test_the_library_is_cached_by_source_hash(fresh_build):
    lib = fused.library()
    assert lib is not None and lib.parent == fresh_build / "kernels" and lib.name.startswith("fused_ops-")
    assert lib == fused.library_path("fused_ops")
    assert [p.name for p in lib.parent.iterdir()] == [lib.name]  # the temp file was renamed, not left
    mtime = os.stat(lib).st_mtime_ns
    fused.reset()
    assert fused.library() == lib and os.stat(lib).st_mtime_ns == mtime  # reused, not rebuilt


# ------------------------------------------------------------------- seeded dropout and gradient norm
def _seeded_dropout(p, use_fused, seed_value):
    """The Trainer's SeededDropout cell (the reference ops), or its fused twin with the C++ kernel."""
    seed = seed_parameter()
    seed.set_data(Tensor(seed_value, ms.int64))
    cell = FusedSeededDropout(p, seed, 77, fused.dropout()) if use_fused else SeededDropout(p, seed, 77)
    cell.set_train(True)
    return cell


def _weighted_sum(cell, dy):
    def weighted(t):
        return (cell(t) * dy).sum()

    return weighted


@pytest.mark.parametrize("mode", ["pynative", "graph"])
@pytest.mark.parametrize("p,seed_value", [(0.1, 0), (0.5, 12345), (0.9, 2 ** 40 + 3)])
def test_fused_dropout_is_the_reference_mask_bit_for_bit(mode, p, seed_value):
    """Forward output and gradient of the fused kernel equal the int64-op reference exactly: same kept
    elements, same scale (the hash is integer arithmetic; nothing may differ, not even by rounding)."""
    x = Tensor(rand(8, 4, 64, 33, seed=2))  # 67,584 elements: not a multiple of any vector width
    dy = Tensor(rand(8, 4, 64, 33, seed=3))
    outs, grads = [], []
    for use_fused in (True, False):
        cell = _seeded_dropout(p, use_fused, seed_value)
        outs.append(run(cell, mode)(x).asnumpy())
        grads.append(run(ms.grad(_weighted_sum(cell, dy)), mode)(x).asnumpy())
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(grads[0], grads[1])
    kept = outs[0] != 0
    assert abs(1 - kept.mean() - p) < 0.01  # the configured rate
    np.testing.assert_allclose(outs[0][kept], x.asnumpy()[kept] / (1 - p), rtol=1e-6)
    np.testing.assert_array_equal(grads[0] != 0, kept)  # the backward pass regenerates the same mask


def test_fused_sum_of_squares_is_the_float64_sum():
    op = fused.sum_of_squares()
    tensors = [rand(3, 5, seed=1), rand(1, seed=2), rand(30522, 64, seed=3, scale=1e-3), rand(4099, seed=4)]
    got = float(op(*[Tensor(t) for t in tensors]).asnumpy()[0])
    want = sum(float((t.astype(np.float64) ** 2).sum()) for t in tensors)
    assert got == pytest.approx(want, rel=1e-6)

    def in_graph(a, b, c, d):
        return op(a, b, c, d)

    assert float(ms.jit(in_graph)(*[Tensor(t) for t in tensors]).asnumpy()[0]) == got


# ------------------------------------------------------------------------------------------ the Trainer
def _train_three_steps(fused_on, monkeypatch):
    """Three Trainer steps (fit to step 1, then to 3: the fused cells are swapped in twice); returns
    what the Trainer swapped in, the losses, norms and weights."""
    from bert_ms import accel

    swapped = []
    real = accel.accelerate
    monkeypatch.setattr(accel, "accelerate", lambda model, **kw: swapped.append(real(model, **kw)) or swapped[-1])
    rng = np.random.default_rng(0)
    n, t, k = 16, 16, 3
    data = {"input_ids": rng.integers(5, 97, (n, t)).astype(np.int32),
            "token_type_ids": (np.arange(t) >= t // 2).astype(np.int32)[None].repeat(n, 0),
            "attention_mask": np.ones((n, t), np.int32),
            "masked_lm_positions": np.sort(rng.choice(np.arange(1, t), (n, k)), 1).astype(np.int32),
            "masked_lm_ids": rng.integers(5, 97, (n, k)).astype(np.int32),
            "masked_lm_weights": np.ones((n, k), np.float32),
            "next_sentence_label": rng.integers(0, 2, n).astype(np.int32)}
    ms.set_seed(0)
    model = BertForPreTraining(BertConfig(**{**TINY, "hidden_dropout_prob": 0.3, "attention_probs_dropout_prob": 0.3}))
    cfg = TrainerConfig(total_steps=3, batch_size=8, lr=1e-2, log_every=1, clip_norm=0.5, progress=False,
                        fused=fused_on)
    trainer = Trainer(model, PretrainingTask(), data, cfg)
    fused_dropout = [type(c) for _, _, c in trainer._dropouts]
    modes, set_seed = [], trainer._set_seed  # called inside fit(), before every step

    def spy(micro):
        modes.extend(c.training for _, c in model.cells_and_names()
                     if isinstance(c, (FusedLayerNorm, FusedGELU, SeededDropout)))
        set_seed(micro)

    trainer._set_seed = spy
    trainer.fit(until_step=1)
    trainer.fit()
    assert modes and all(modes)  # every cell swapped in ran in training mode (the kernels, the dropout)
    assert fused_cells(model) == [] and not any(isinstance(c, SeededDropout) for _, c in model.cells_and_names())
    norms = [r["grad_norm"] for r in trainer.state.history if "grad_norm" in r]
    return (swapped, fused_dropout, trainer.step_fn, [loss for _, loss in trainer.losses()], norms,
            {p.name: p.asnumpy() for p in model.trainable_params()})


def test_trainer_with_fused_kernels_follows_the_reference(restore_device, monkeypatch):
    """Three Trainer steps with dropout 0.3 and clipping (norm > 0.5, so the clip is active): the fused
    dropout, gradient-norm, GELU and LayerNorm kernels against the op-based Trainer, same masks. After
    fit() the model is plain again."""
    device.setup("CPU", mode="graph", verbose=False)
    swapped_on, drop_on, step_on, loss_on, norm_on, w_on = _train_three_steps(True, monkeypatch)
    swapped_off, drop_off, step_off, loss_off, norm_off, w_off = _train_three_steps(False, monkeypatch)
    assert swapped_on == [SWAPPED, SWAPPED] and swapped_off == []
    assert set(drop_on) == {FusedSeededDropout} and set(drop_off) == {SeededDropout}
    assert len(loss_on) == 3 and min(norm_off) > 0.5
    np.testing.assert_allclose(loss_on, loss_off, rtol=1e-5)
    np.testing.assert_allclose(norm_on, norm_off, rtol=1e-5)
    for name in w_off:
        np.testing.assert_allclose(w_on[name], w_off[name], rtol=1e-5, atol=1e-6, err_msg=name)


def _default_trainer(**kw):
    model = nn.SequentialCell([Linear(4, 2), nn.Dropout(p=0.1)])
    arrays = {"features": np.zeros((8, 4), np.float32), "labels": np.zeros(8, np.int32)}
    from bert_ms.train.tasks import SequenceClassificationTask

    return Trainer(model, SequenceClassificationTask(2, feature_keys=("features",)), arrays,
                   TrainerConfig(total_steps=1, batch_size=4, progress=False, **kw))


def test_fused_is_on_by_default_where_built_and_off_on_request():
    """The kernels are built in this environment (make setup, or the test session above): the default
    Trainer uses them, the fused dropout and the fused AdamW included; fused=False uses the ops."""
    assert TrainerConfig().fused is None and fused.library_path("fused_ops").exists()
    on = _default_trainer()
    assert on._accelerate and [type(c) for _, _, c in on._dropouts] == [FusedSeededDropout]
    assert type(on.optimizer) is FusedAdamWeightDecay
    off = _default_trainer(fused=False)
    assert not off._accelerate and [type(c) for _, _, c in off._dropouts] == [SeededDropout]
    assert type(off.optimizer) is nn.AdamWeightDecay


# ------------------------------------------------------------------------------------------ the fused AdamW
def _adamw_pair(per_step_decay):
    """The same parameters (two groups: decay, none) under nn.AdamWeightDecay and FusedAdamWeightDecay,
    with a learning-rate schedule; the decay group's weight decay is a per-step table if asked."""
    from bert_ms.train.trainer import _PerStepWeightDecay

    shapes = [(64, 32), (32,), (1000,), (7, 3)]
    init = [rand(*s, seed=10 + i) for i, s in enumerate(shapes)]

    def make(cls):
        ps = [ms.Parameter(Tensor(a.copy()), name=f"p{i}") for i, a in enumerate(init)]
        wd = _PerStepWeightDecay(np.linspace(0.01, 0.05, 10)) if per_step_decay else 0.01
        groups = [{"params": [ps[0], ps[2]], "weight_decay": wd}, {"params": [ps[1], ps[3]], "weight_decay": 0.0},
                  {"order_params": ps}]
        lr = Tensor(np.linspace(1e-2, 1e-3, 10).astype(np.float32))
        return ps, cls(groups, learning_rate=lr, beta1=0.9, beta2=0.999, eps=1e-6)

    return shapes, make(nn.AdamWeightDecay), make(FusedAdamWeightDecay)


@pytest.mark.parametrize("per_step_decay", [False, True])
def test_fused_adamw_is_mindspores_adamw_with_clipping_scale(restore_device, per_step_decay):
    """Five compiled steps with a clipping scale: nn.AdamWeightDecay on g * scale (the Trainer's ops path) and
    FusedAdamWeightDecay(g, scale) give the same moments bit for bit and the same parameters to float32
    rounding (one rounding of the last subtraction apart); the state the checkpoints hold is the same."""
    device.setup("CPU", mode="graph", verbose=False)
    shapes, (pa, oa), (pb, ob) = _adamw_pair(per_step_decay)
    before = [p.asnumpy().copy() for p in pb]

    def step_ops(scale, *grads):
        oa(tuple(g * scale for g in grads))
        return scale

    def step_fused(scale, *grads):
        ob(grads, scale)
        return scale

    step_ops, step_fused = ms.jit(step_ops), ms.jit(step_fused)
    rng = np.random.default_rng(3)
    for i in range(5):
        grads = [Tensor(rng.standard_normal(s).astype(np.float32)) for s in shapes]
        scale = Tensor(np.float32(0.5 + 0.1 * i))
        step_ops(scale, *grads)
        step_fused(scale, *grads)
    for a, b, ma, mb, va, vb, b0 in zip(pa, pb, oa.moments1, ob.moments1, oa.moments2, ob.moments2, before):
        np.testing.assert_array_equal(mb.asnumpy(), ma.asnumpy(), err_msg=f"first moment of {a.name}")
        np.testing.assert_array_equal(vb.asnumpy(), va.asnumpy(), err_msg=f"second moment of {a.name}")
        # p - lr * update with one rounding less: within an ulp of the operands (~1e-7 of |p| <= 4 here)
        np.testing.assert_allclose(b.asnumpy(), a.asnumpy(), rtol=0, atol=5e-7, err_msg=a.name)
        assert np.abs(b.asnumpy() - b0).max() > 1e-4  # it really moved
    assert int(ob.global_step.asnumpy().reshape(-1)[0]) == int(oa.global_step.asnumpy().reshape(-1)[0]) == 5
    assert [p.name for p in ob.moments1] == [p.name for p in oa.moments1]
    assert [p.name for p in ob.moments2] == [p.name for p in oa.moments2]


def test_fused_adamw_decays_only_where_asked():
    """Weight decay applies to the decay group only: with zero gradients, a decaying weight shrinks by
    lr * wd * w and a non-decaying one stays put."""
    p = [ms.Parameter(Tensor(np.full((5,), 2.0, np.float32)), name="w"),
         ms.Parameter(Tensor(np.full((3,), 2.0, np.float32)), name="b")]
    opt = FusedAdamWeightDecay([{"params": [p[0]], "weight_decay": 0.1}, {"params": [p[1]], "weight_decay": 0.0}],
                               learning_rate=0.5)
    opt((Tensor(np.zeros(5, np.float32)), Tensor(np.zeros(3, np.float32))))
    np.testing.assert_allclose(p[0].asnumpy(), 2.0 - 0.5 * 0.1 * 2.0, rtol=1e-6)
    np.testing.assert_array_equal(p[1].asnumpy(), 2.0)


def test_fused_adamw_refuses_what_it_cannot_update():
    with pytest.raises(ValueError, match="float32"):
        FusedAdamWeightDecay([ms.Parameter(Tensor(np.zeros(3, np.float16)), name="h")])
