"""MLM / NSP losses: masked positions only, against a numpy reference, and the d2l bug is absent."""

from __future__ import annotations

import mindspore as ms
import numpy as np
import pytest

from bert_ms.bert.losses import masked_lm_loss, next_sentence_loss, pretraining_loss


def np_ce(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64)
    z = z - z.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    return -np.take_along_axis(logp, labels[..., None], -1)[..., 0]


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (4, 6, 50)).astype(np.float32)
    ids = rng.integers(0, 50, (4, 6)).astype(np.int32)
    weights = np.array([[1, 1, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0]], np.float32)
    return logits, ids, weights


def T(a):
    return ms.Tensor(a)


def test_mlm_loss_matches_numpy_mean_over_masked(batch):
    logits, ids, w = batch
    want = (np_ce(logits, ids) * w).sum() / w.sum()
    got = masked_lm_loss(T(logits), T(ids), T(w)).asnumpy()
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_mlm_loss_ignores_weight_zero_positions(batch):
    logits, ids, w = batch
    base = masked_lm_loss(T(logits), T(ids), T(w)).asnumpy()
    changed, ids2 = logits.copy(), ids.copy()
    changed[w == 0] = np.random.default_rng(1).normal(0, 10, changed[w == 0].shape)
    ids2[w == 0] = 7
    np.testing.assert_allclose(masked_lm_loss(T(changed), T(ids2), T(w)).asnumpy(), base, rtol=1e-6)
    # ...while changing a masked position does change it
    changed[0, 0, ids2[0, 0]] += 5.0  # raise the true word's logit at a masked position
    assert abs(masked_lm_loss(T(changed), T(ids2), T(w)).asnumpy() - base) > 1e-3


def test_no_d2l_averaging_bug(batch):
    """d2l-en #2582: mean over all positions, then weighting, is not the per-masked-token mean."""
    logits, ids, w = batch
    ce = np_ce(logits, ids)
    buggy = (ce.mean() * w).sum() / w.sum()  # averages before weighting
    also_buggy = ce.mean()  # every position counts
    got = float(masked_lm_loss(T(logits), T(ids), T(w)).asnumpy())
    assert abs(got - buggy) > 1e-2 and abs(got - also_buggy) > 1e-2
    np.testing.assert_allclose(got, ce[w == 1].mean(), rtol=1e-5)


def test_mlm_loss_no_masked_positions_is_zero(batch):
    logits, ids, w = batch
    assert float(masked_lm_loss(T(logits), T(ids), T(np.zeros_like(w))).asnumpy()) == 0.0


def test_nsp_and_total(batch):
    logits, ids, w = batch
    rng = np.random.default_rng(2)
    nsp = rng.normal(0, 2, (4, 2)).astype(np.float32)
    lab = np.array([0, 1, 1, 0], np.int32)
    np.testing.assert_allclose(next_sentence_loss(T(nsp), T(lab)).asnumpy(), np_ce(nsp, lab).mean(), rtol=1e-5)
    total = pretraining_loss(T(logits), T(nsp), T(ids), T(w), T(lab)).asnumpy()
    want = (np_ce(logits, ids) * w).sum() / w.sum() + np_ce(nsp, lab).mean()
    np.testing.assert_allclose(total, want, rtol=1e-5)


def test_bad_shapes_raise(batch):
    logits, ids, w = batch
    with pytest.raises(ValueError, match="shape mismatch"):
        masked_lm_loss(T(logits), T(ids[:, :3]), T(w))
    with pytest.raises(ValueError, match=r"\[batch, 2\]"):
        next_sentence_loss(T(logits[:, 0, :3]), T(np.zeros(4, np.int32)))
