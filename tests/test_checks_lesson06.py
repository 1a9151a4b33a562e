"""Adversarial suite for lesson 06's checks (BERT's architecture): every typical mistake rejected on
every one of 20 runs, with the words that name it, and correct answers in other styles accepted on every run.

Also: each check's exact float64 reference equals the package's class on the same weights (so the checks
compare with what ``bert_ms`` computes without running it), the tolerances sit between the worst correct
answer and the nearest typical mistake over many draws, and the checks work in a fresh process in which
a MindSpore operation ran before ``device.setup()`` (the parameter count used to build a model there and
failed with "The runtime has been initialized").

Most wrong answers are written in NumPy (fast); the MindSpore ones are few, because under the check's
tracing a PyNative MindSpore answer costs 0.05-0.2 s a call.
"""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import mindspore as ms
import numpy as np
import pytest
from adversarial import accepted_every_run, rejected_every_run
from mindspore import nn, ops
from mindspore.nn.utils import no_init_parameters
from scipy.special import erf

from bert_ms.bert import reference
from bert_ms.bert.config import BertConfig
from bert_ms.bert.model import (
    BertEmbeddings,
    BertForPreTraining,
    BertMLMHead,
    BertPooler,
    count_parameters,
)
from bert_ms.exercises import check
from bert_ms.exercises import lesson06 as L

ROOT = Path(__file__).resolve().parent.parent


def _solutions():
    spec = importlib.util.spec_from_file_location("solutions_06_adversarial", ROOT / "solutions" / "06_bert_architecture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SOL = _solutions()


def _np(*tensors, dtype=np.float64):
    return tuple(t.asnumpy().astype(dtype) if t.dtype in (ms.float32, ms.float16) else t.asnumpy() for t in tensors)


def _ln(x, gamma, beta, eps=1e-12, ddof=0):
    mean = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True, ddof=ddof)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


# ---------------------------------------------------------------------------------------------
# the references are the package's computation
# ---------------------------------------------------------------------------------------------

def _set(cell, values: dict):
    params = dict(cell.parameters_and_names())
    for name, value in values.items():
        params[name].set_data(ms.Tensor(np.asarray(value, np.float32)))
    cell.set_train(False)


@pytest.mark.parametrize("seed", range(3))
def test_references_equal_the_package_classes(seed):
    rng = np.random.default_rng(seed)
    d = L.draw_embeddings(rng)
    V, H = d["word"].shape
    cfg = BertConfig(vocab_size=V, hidden_size=H, num_hidden_layers=1, num_attention_heads=1, intermediate_size=4 * H,
                     max_position_embeddings=d["position"].shape[0])
    emb = BertEmbeddings(cfg)
    _set(emb, {"word_embeddings.weight": d["word"], "position_embeddings.table.weight": d["position"],
               "token_type_embeddings.weight": d["segment"], "norm.weight": d["gamma"], "norm.bias": d["beta"]})
    got = emb(ms.Tensor(d["input_ids"]), ms.Tensor(d["token_type_ids"])).asnumpy()
    want = reference.embeddings(*(d[k] for k in ("input_ids", "token_type_ids", "word", "position", "segment",
                                                 "gamma", "beta")))
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)

    d = L.draw_pooler(rng)
    H = d["weight"].shape[0]
    cell = BertPooler(replace(cfg, hidden_size=H))
    _set(cell, {"dense.weight": d["weight"], "dense.bias": d["bias"]})
    got = cell(ms.Tensor(d["sequence_output"])).asnumpy()
    np.testing.assert_allclose(got, reference.pooler(d["sequence_output"], d["weight"], d["bias"]),
                               atol=L.POOLER_ATOL, rtol=0)

    d = L.draw_mlm_head(rng)
    V, H = d["word_table"].shape
    head = BertMLMHead(BertConfig(vocab_size=V, hidden_size=H, num_attention_heads=1, intermediate_size=4 * H))
    _set(head, {"transform.dense.weight": d["dense_weight"], "transform.dense.bias": d["dense_bias"],
                "transform.norm.weight": d["gamma"], "transform.norm.bias": d["beta"], "bias": d["bias"]})
    got = head(ms.Tensor(d["hidden"]), ms.Tensor(d["word_table"])).asnumpy()
    np.testing.assert_allclose(got, reference.mlm_head(*(d[k] for k in L._MLM_ARGS)), atol=L.MLM_TOL, rtol=L.MLM_TOL)


@pytest.mark.parametrize("seed", range(4))
def test_parameter_count_reference_equals_the_built_model(seed):
    for c in L.draw_configs(np.random.default_rng(seed)):
        with no_init_parameters():  # shapes only
            model = BertForPreTraining(c)
        assert count_parameters(model) == L.param_count_reference(c), c
        assert count_parameters(model) == SOL.param_count(c), c


def test_tolerances_sit_between_correct_answers_and_mistakes():
    """Over 150 draws: the float32 answers (MindSpore's CPU tanh, which is off by 1e-4 near |z| = 5, included)
    stay within half the tolerance, and every named mistake is at least 5 tolerances away."""
    rng = np.random.default_rng(2026)

    def worst(got, want, atol, rtol):
        return float(np.max(np.abs(np.asarray(got, np.float64) - want) / (atol + rtol * np.abs(want))))

    ok, bad = [], []
    for _ in range(150):
        d = L.draw_embeddings(rng)
        args = [d[k] for k in ("input_ids", "token_type_ids", "word", "position", "segment", "gamma", "beta")]
        want = reference.embeddings(*args)
        x32 = d["word"][d["input_ids"]] + d["segment"][d["token_type_ids"]] + d["position"][: d["input_ids"].shape[1]]
        ok.append(worst(_ln(x32, d["gamma"], d["beta"]), want, L.EMBEDDINGS_TOL, L.EMBEDDINGS_TOL))
        bad += [worst(w, want, L.EMBEDDINGS_TOL, L.EMBEDDINGS_TOL) for w, _ in L.embeddings_mistakes(d)]

        d = L.draw_pooler(rng)
        want = reference.pooler(d["sequence_output"], d["weight"], d["bias"])
        z = ms.Tensor(d["sequence_output"][:, 0] @ d["weight"].T + d["bias"])
        ok.append(worst(ops.tanh(z).asnumpy(), want, L.POOLER_ATOL, 0.0))
        bad += [worst(w, want, L.POOLER_ATOL, 0.0) for w, _ in L.pooler_mistakes(d)]

        d = L.draw_mlm_head(rng)
        want = reference.mlm_head(*(d[k] for k in L._MLM_ARGS))
        h = d["hidden"] @ d["dense_weight"].T + d["dense_bias"]
        g = (0.5 * h * (1 + erf(h / np.float32(math.sqrt(2))))).astype(np.float32)
        ok.append(worst(_ln(g, d["gamma"], d["beta"]) @ d["word_table"].T + d["bias"], want, L.MLM_TOL, L.MLM_TOL))
        bad += [worst(w, want, L.MLM_TOL, L.MLM_TOL) for w, _ in L.mlm_head_mistakes(d)]
    assert max(ok) < 0.5, max(ok)
    assert min(bad) > 5, min(bad)


def test_checks_need_no_device_setup_and_survive_an_early_mindspore_op():
    """A fresh process: a MindSpore op first (which initialises the runtime), no device.setup, then every
    check on its solution."""
    script = (
        "import importlib.util, mindspore as ms\n"
        "from mindspore import ops\n"
        "ops.add(ms.Tensor(1.0), ms.Tensor(2.0)).asnumpy()\n"
        "spec = importlib.util.spec_from_file_location('s06', 'solutions/06_bert_architecture.py')\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "from bert_ms.exercises import check\n"
        "results = [getattr(check, n)(f) for n, f in m.SOLUTIONS.items()]\n"
        "raise SystemExit(0 if all(results) else 1)\n")
    env = {**os.environ, "GLOG_v": "3"}
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    assert proc.stdout.count("correct.") == 4, proc.stdout


# ---------------------------------------------------------------------------------------------
# Exercise 6.1 · the embeddings
# ---------------------------------------------------------------------------------------------

def emb_numpy64(input_ids, token_type_ids, word, position, segment, gamma, beta):
    ids, tt, word, position, segment, gamma, beta = _np(input_ids, token_type_ids, word, position, segment, gamma, beta)
    return _ln(word[ids] + segment[tt] + position[: ids.shape[1]], gamma, beta)


def emb_numpy32_loops(input_ids, token_type_ids, word, position, segment, gamma, beta):
    """float32, one token at a time, the variance as E[x^2] - E[x]^2 and 1/sqrt."""
    ids, tt, word, position, segment, gamma, beta = _np(input_ids, token_type_ids, word, position, segment, gamma, beta,
                                                        dtype=np.float32)
    out = np.zeros(ids.shape + (word.shape[1],), np.float32)
    for b in range(ids.shape[0]):
        for t in range(ids.shape[1]):
            x = word[ids[b, t]] + segment[tt[b, t]] + position[t]
            mean = x.mean()
            var = (x * x).mean() - mean * mean
            out[b, t] = (x - mean) * (1.0 / np.sqrt(var + np.float32(1e-12))) * gamma + beta
    return out


def emb_ms_gather(input_ids, token_type_ids, word, position, segment, gamma, beta):
    positions = ops.arange(input_ids.shape[1]).expand_dims(0)
    x = ops.gather(word, input_ids, 0) + ops.gather(segment, token_type_ids, 0) + ops.gather(position, positions, 0)
    mean = x.mean(-1, keep_dims=True)
    var = ((x - mean) ** 2).mean(-1, keep_dims=True)
    return (x - mean) / ops.sqrt(var + 1e-12) * gamma + beta


def emb_no_positions(input_ids, token_type_ids, word, position, segment, gamma, beta):
    ids, tt, word, position, segment, gamma, beta = _np(input_ids, token_type_ids, word, position, segment, gamma, beta)
    return _ln(word[ids] + segment[tt], gamma, beta)


def emb_no_gamma_beta(input_ids, token_type_ids, word, position, segment, gamma, beta):
    ids, tt, word, position, segment, gamma, beta = _np(input_ids, token_type_ids, word, position, segment, gamma, beta)
    return _ln(word[ids] + segment[tt] + position[: ids.shape[1]], 1.0, 0.0)


def emb_unbiased_variance(input_ids, token_type_ids, word, position, segment, gamma, beta):
    ids, tt, word, position, segment, gamma, beta = _np(input_ids, token_type_ids, word, position, segment, gamma, beta)
    return _ln(word[ids] + segment[tt] + position[: ids.shape[1]], gamma, beta, ddof=1)


def emb_eps_1e6(input_ids, token_type_ids, word, position, segment, gamma, beta):
    ids, tt, word, position, segment, gamma, beta = _np(input_ids, token_type_ids, word, position, segment, gamma, beta)
    return _ln(word[ids] + segment[tt] + position[: ids.shape[1]], gamma, beta, eps=1e-6)


def emb_first_row_segments(input_ids, token_type_ids, word, position, segment, gamma, beta):
    ids, tt, word, position, segment, gamma, beta = _np(input_ids, token_type_ids, word, position, segment, gamma, beta)
    return _ln(word[ids] + segment[tt[:1]] + position[: ids.shape[1]], gamma, beta)


def emb_flattened(input_ids, token_type_ids, word, position, segment, gamma, beta):
    out = emb_numpy64(input_ids, token_type_ids, word, position, segment, gamma, beta)
    return out.reshape(-1, out.shape[-1])


def emb_dropout_on(input_ids, token_type_ids, word, position, segment, gamma, beta):
    x = SOL.bert_embeddings(input_ids, token_type_ids, word, position, segment, gamma, beta)
    return ops.dropout(x, p=0.1, training=True)


def emb_package_class(input_ids, token_type_ids, word, position, segment, gamma, beta):
    V, H = word.shape
    cell = BertEmbeddings(BertConfig(vocab_size=V, hidden_size=H, num_attention_heads=1, intermediate_size=4 * H,
                                     max_position_embeddings=position.shape[0], hidden_dropout_prob=0.0))
    _set(cell, {"word_embeddings.weight": word.asnumpy(), "position_embeddings.table.weight": position.asnumpy(),
                "token_type_embeddings.weight": segment.asnumpy(), "norm.weight": gamma.asnumpy(),
                "norm.bias": beta.asnumpy()})
    return cell(input_ids, token_type_ids)


def emb_mindspore_layer_norm(input_ids, token_type_ids, word, position, segment, gamma, beta):
    x = word[input_ids] + segment[token_type_ids] + position[: input_ids.shape[1]]
    norm = nn.LayerNorm((word.shape[1],), epsilon=1e-12)
    norm.gamma.set_data(gamma)
    norm.beta.set_data(beta)
    return norm(x)


@pytest.mark.parametrize("answer", [SOL.bert_embeddings, emb_numpy64, emb_numpy32_loops, emb_ms_gather],
                         ids=lambda f: f.__name__)
def test_embeddings_accepts_correct_answers(answer):
    accepted_every_run(check.bert_embeddings, answer)


@pytest.mark.parametrize("answer, words", [
    (SOL.embeddings_without_layer_norm, "without the LayerNorm"),
    (emb_no_gamma_beta, "gamma and shift beta were not applied"),
    (SOL.embeddings_without_segments, "segment embeddings"),
    (emb_no_positions, "position embeddings are missing"),
    (SOL.embeddings_positions_from_one, "off by one"),
    (emb_first_row_segments, "segment ids of the first row"),
    (emb_unbiased_variance, "unbiased variance"),
    (SOL.embeddings_pytorch_eps, "1e-5"),
    (emb_eps_1e6, "1e-6"),
    (emb_flattened, "expected shape"),
    (emb_dropout_on, None),
], ids=lambda x: getattr(x, "__name__", str(x)))
def test_embeddings_rejects_mistakes(answer, words):
    rejected_every_run(check.bert_embeddings, answer, words)


@pytest.mark.parametrize("answer", [emb_package_class, emb_mindspore_layer_norm], ids=lambda f: f.__name__)
def test_embeddings_rejects_the_package_and_mindspore_layer_norm(answer):
    rejected_every_run(check.bert_embeddings, answer, "write it yourself", runs=3)


# ---------------------------------------------------------------------------------------------
# Exercise 6.2 · the pooler
# ---------------------------------------------------------------------------------------------

def pool_numpy64(sequence_output, weight, bias):
    seq, w, b = _np(sequence_output, weight, bias)
    return np.tanh(seq[:, 0] @ w.T + b)


def pool_numpy32_exp(sequence_output, weight, bias):
    """float32 NumPy with tanh written out as 1 - 2 / (exp(2z) + 1), row by row."""
    seq, w, b = _np(sequence_output, weight, bias, dtype=np.float32)
    rows = []
    for i in range(seq.shape[0]):
        z = w @ seq[i, 0] + b
        rows.append(1.0 - 2.0 / (np.exp(2.0 * z) + 1.0))
    return np.stack(rows)


def pool_ms_dense(sequence_output, weight, bias):
    dense = nn.Dense(weight.shape[1], weight.shape[0])
    dense.weight.set_data(weight)
    dense.bias.set_data(bias)
    return ops.tanh(dense(sequence_output[:, 0]))


def pool_last(sequence_output, weight, bias):
    seq, w, b = _np(sequence_output, weight, bias)
    return np.tanh(seq[:, -1] @ w.T + b)


def pool_no_bias(sequence_output, weight, bias):
    seq, w, b = _np(sequence_output, weight, bias)
    return np.tanh(seq[:, 0] @ w.T)


def pool_sigmoid(sequence_output, weight, bias):
    return ops.sigmoid(ops.matmul(sequence_output[:, 0], weight.T) + bias)


def pool_every_position(sequence_output, weight, bias):
    seq, w, b = _np(sequence_output, weight, bias)
    return np.tanh(seq @ w.T + b)


def pool_batch_axis(sequence_output, weight, bias):
    seq, w, b = _np(sequence_output, weight, bias)
    return np.tanh(seq[0] @ w.T + b)  # [T, H]: the first sequence, not the first token


def pool_max(sequence_output, weight, bias):
    seq, w, b = _np(sequence_output, weight, bias)
    return np.tanh(seq.max(1) @ w.T + b)


def pool_package_class(sequence_output, weight, bias):
    H = weight.shape[0]
    cell = BertPooler(BertConfig(hidden_size=H, num_attention_heads=1, intermediate_size=4 * H))
    _set(cell, {"dense.weight": weight.asnumpy(), "dense.bias": bias.asnumpy()})
    return cell(sequence_output)


@pytest.mark.parametrize("answer", [SOL.pooler, pool_numpy64, pool_numpy32_exp, pool_ms_dense], ids=lambda f: f.__name__)
def test_pooler_accepts_correct_answers(answer):
    accepted_every_run(check.pooler, answer)


@pytest.mark.parametrize("answer, words", [
    (SOL.pooler_mean, "mean pooling"),
    (SOL.pooler_without_tanh, "tanh is missing"),
    (SOL.pooler_weight_not_transposed, "not transposed"),
    (pool_last, "last position"),
    (pool_no_bias, "bias b is missing"),
    (pool_sigmoid, "sigmoid"),
    (pool_max, "max pooling"),
    (pool_every_position, "expected shape"),
    (pool_batch_axis, "expected shape"),
], ids=lambda x: getattr(x, "__name__", str(x)))
def test_pooler_rejects_mistakes(answer, words):
    rejected_every_run(check.pooler, answer, words)


def test_pooler_rejects_the_package_class():
    rejected_every_run(check.pooler, pool_package_class, "write it yourself", runs=3)


# ---------------------------------------------------------------------------------------------
# Exercise 6.3 · the tied MLM head
# ---------------------------------------------------------------------------------------------

def mlm_numpy64(hidden, dense_weight, dense_bias, gamma, beta, word_table, bias):
    h, w, b, g, be, table, out_bias = _np(hidden, dense_weight, dense_bias, gamma, beta, word_table, bias)
    z = h @ w.T + b
    return _ln(0.5 * z * (1 + erf(z / math.sqrt(2))), g, be) @ table.T + out_bias


def mlm_numpy32_einsum(hidden, dense_weight, dense_bias, gamma, beta, word_table, bias):
    h, w, b, g, be, table, out_bias = _np(hidden, dense_weight, dense_bias, gamma, beta, word_table, bias,
                                          dtype=np.float32)
    z = np.einsum("bph,oh->bpo", h, w) + b
    a = (z * 0.5 * (1 + erf(z / np.float32(math.sqrt(2))))).astype(np.float32)
    return np.einsum("bph,vh->bpv", _ln(a, g, be, eps=np.float32(1e-12)), table) + out_bias


def mlm_ms_cells(hidden, dense_weight, dense_bias, gamma, beta, word_table, bias):
    H = dense_weight.shape[0]
    dense, norm = nn.Dense(H, H), nn.LayerNorm((H,), epsilon=1e-12)
    dense.weight.set_data(dense_weight)
    dense.bias.set_data(dense_bias)
    norm.gamma.set_data(gamma)
    norm.beta.set_data(beta)
    return ops.matmul(norm(ops.gelu(dense(hidden))), word_table.T) + bias


def mlm_tanh_gelu(hidden, dense_weight, dense_bias, gamma, beta, word_table, bias):
    h = ops.gelu(ops.matmul(hidden, dense_weight.T) + dense_bias, approximate="tanh")
    mean = h.mean(-1, keep_dims=True)
    h = (h - mean) / ops.sqrt(((h - mean) ** 2).mean(-1, keep_dims=True) + 1e-12) * gamma + beta
    return ops.matmul(h, word_table.T) + bias


def mlm_untied_decoder(hidden, dense_weight, dense_bias, gamma, beta, word_table, bias):
    """A fresh output matrix of the right shape instead of the token table."""
    h, w, b, g, be, table, out_bias = _np(hidden, dense_weight, dense_bias, gamma, beta, word_table, bias)
    z = h @ w.T + b
    decoder = np.random.default_rng(0).normal(0, 0.5, table.shape)
    return _ln(0.5 * z * (1 + erf(z / math.sqrt(2))), g, be) @ decoder.T + out_bias


def mlm_no_gelu(hidden, dense_weight, dense_bias, gamma, beta, word_table, bias):
    h, w, b, g, be, table, out_bias = _np(hidden, dense_weight, dense_bias, gamma, beta, word_table, bias)
    return _ln(h @ w.T + b, g, be) @ table.T + out_bias


def mlm_swapped(hidden, dense_weight, dense_bias, gamma, beta, word_table, bias):
    h, w, b, g, be, table, out_bias = _np(hidden, dense_weight, dense_bias, gamma, beta, word_table, bias)
    z = _ln(h @ w.T + b, g, be)
    return 0.5 * z * (1 + erf(z / math.sqrt(2))) @ table.T + out_bias


def mlm_not_transposed(hidden, dense_weight, dense_bias, gamma, beta, word_table, bias):
    h, w, b, g, be, table, out_bias = _np(hidden, dense_weight, dense_bias, gamma, beta, word_table, bias)
    z = h @ w + b
    return _ln(0.5 * z * (1 + erf(z / math.sqrt(2))), g, be) @ table.T + out_bias


def mlm_package_class(hidden, dense_weight, dense_bias, gamma, beta, word_table, bias):
    V, H = word_table.shape
    head = BertMLMHead(BertConfig(vocab_size=V, hidden_size=H, num_attention_heads=1, intermediate_size=4 * H))
    _set(head, {"transform.dense.weight": dense_weight.asnumpy(), "transform.dense.bias": dense_bias.asnumpy(),
                "transform.norm.weight": gamma.asnumpy(), "transform.norm.bias": beta.asnumpy(),
                "bias": bias.asnumpy()})
    return head(hidden, word_table)


@pytest.mark.parametrize("answer", [SOL.mlm_head, mlm_numpy64, mlm_numpy32_einsum, mlm_ms_cells],
                         ids=lambda f: f.__name__)
def test_mlm_head_accepts_correct_answers(answer):
    accepted_every_run(check.mlm_head, answer)


@pytest.mark.parametrize("answer, words", [
    (SOL.mlm_head_without_transform, "transform"),
    (SOL.mlm_head_without_bias, "output bias"),
    (SOL.mlm_head_relu, "ReLU"),
    (SOL.mlm_head_without_layer_norm, "LayerNorm of the transform is missing"),
    (mlm_tanh_gelu, "tanh approximation"),
    (mlm_no_gelu, "GELU of the transform is missing"),
    (mlm_swapped, "swapped"),
    (mlm_not_transposed, "not transposed"),
    (mlm_untied_decoder, None),
], ids=lambda x: getattr(x, "__name__", str(x)))
def test_mlm_head_rejects_mistakes(answer, words):
    rejected_every_run(check.mlm_head, answer, words)


def test_mlm_head_rejects_the_package_class():
    rejected_every_run(check.mlm_head, mlm_package_class, "write it yourself", runs=3)


# ---------------------------------------------------------------------------------------------
# Exercise 6.4 · the parameter count
# ---------------------------------------------------------------------------------------------

def count_by_parts(c):
    """Section 2's breakdown (by part) plus the heads, in another order."""
    V, H, n_layers, F = c.vocab_size, c.hidden_size, c.num_hidden_layers, c.intermediate_size
    layer = (3 * (H * H + H)) + (H * H + H) + (H * F + F) + (F * H + H) + 2 * (2 * H)
    heads = (H * H + H + 2 * H + V) + (2 * H + 2)  # MLM transform + output bias, NSP
    return (V + c.max_position_embeddings + c.type_vocab_size + 2) * H + n_layers * layer + (H * H + H) + heads


def count_numpy(c):
    """As a NumPy int64 from a list of tensor shapes."""
    V, H, F = c.vocab_size, c.hidden_size, c.intermediate_size
    shapes = [(V, H), (c.max_position_embeddings, H), (c.type_vocab_size, H), (H,), (H,)]
    for _ in range(c.num_hidden_layers):
        shapes += [(H, H), (H,)] * 4 + [(H,), (H,), (F, H), (F,), (H, F), (H,), (H,), (H,)]
    shapes += [(H, H), (H,), (H, H), (H,), (H,), (H,), (V,), (2, H), (2,)]
    return np.sum([np.prod(s) for s in shapes])


def count_as_float(c):
    return float(SOL.param_count(c))


def _minus(term):
    def wrong(c):
        return SOL.param_count(c) - term(c)

    return wrong


H_ = lambda c: c.hidden_size  # noqa: E731
count_no_positions = _minus(lambda c: c.max_position_embeddings * H_(c))
count_no_segments = _minus(lambda c: c.type_vocab_size * H_(c))
count_no_nsp = _minus(lambda c: 2 * H_(c) + 2)
count_no_layer_norms = _minus(lambda c: 2 * H_(c) * (2 * c.num_hidden_layers + 2))
count_one_norm_per_layer = _minus(lambda c: 2 * H_(c) * c.num_hidden_layers)
count_no_mlm_transform = _minus(lambda c: H_(c) ** 2 + 3 * H_(c))
count_no_pooler = _minus(lambda c: H_(c) ** 2 + H_(c))
count_no_biases = _minus(lambda c: c.num_hidden_layers * (5 * H_(c) + c.intermediate_size) + 2 * H_(c)
                         + c.vocab_size + 2)
count_three_projections = _minus(lambda c: c.num_hidden_layers * (H_(c) ** 2 + H_(c)))


def count_512_positions(c):
    return SOL.param_count(replace(c, max_position_embeddings=512))


def count_two_segments(c):
    return SOL.param_count(replace(c, type_vocab_size=2))


def count_heads_multiply(c):
    """Q, K, V counted per head as H x H each."""
    return SOL.param_count(c) + c.num_hidden_layers * 3 * (c.num_attention_heads - 1) * H_(c) ** 2


def count_hard_coded_base(c):
    return 110_106_428


def count_as_string(c):
    return f"{SOL.param_count(c):,}"


def count_package(c):
    with no_init_parameters():
        return count_parameters(BertForPreTraining(c))


@pytest.mark.parametrize("answer", [SOL.param_count, count_by_parts, count_numpy, count_as_float],
                         ids=lambda f: f.__name__)
def test_param_count_accepts_correct_answers(answer):
    accepted_every_run(check.param_count, answer)


@pytest.mark.parametrize("answer, words", [
    (SOL.param_count_untied, "tied"),
    (SOL.param_count_encoder_only, "only BertModel"),
    (SOL.param_count_without_output_bias, "output bias"),
    (SOL.param_count_ffn_4h, "intermediate_size"),
    (count_no_positions, "position table"),
    (count_no_segments, "segment table"),
    (count_no_nsp, "NSP head"),
    (count_no_layer_norms, "LayerNorms are missing"),
    (count_one_norm_per_layer, "one LayerNorm per layer"),
    (count_no_mlm_transform, "MLM transform"),
    (count_no_pooler, "pooler"),
    (count_no_biases, "biases are missing"),
    (count_three_projections, "attention projection"),
    (count_512_positions, "max_position_embeddings"),
    (count_two_segments, "type_vocab_size"),
    (count_heads_multiply, "one H x H matrix per head"),
    (count_hard_coded_base, "expected"),
    (count_as_string, "whole number"),
], ids=lambda x: getattr(x, "__name__", str(x)))
def test_param_count_rejects_mistakes(answer, words):
    rejected_every_run(check.param_count, answer, words)


def test_param_count_rejects_the_package():
    rejected_every_run(check.param_count, count_package, "write it yourself", runs=3)
