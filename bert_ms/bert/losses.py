"""Pre-training losses (预训练损失), Devlin et al. 2019 sec. 3.1 and appendix A.2.

The MLM loss is the cross-entropy at the *masked* positions only, averaged over those positions
(``masked_lm_weights`` is 1 for a real masked position and 0 for padding in the fixed-size
position list). Weights are applied to the per-position losses *before* averaging -- averaging
first and weighting afterwards lets unmasked/padded positions leak into the loss (the d2l bug,
d2l-en #2582). All losses run in float32.
"""

from __future__ import annotations

import mindspore as ms
from mindspore import Tensor, ops


def _token_nll(logits: Tensor, labels: Tensor) -> Tensor:
    """-log softmax(logits)[label] per row: logits [..., C], labels [...] -> [...]."""
    logp = ops.log_softmax(logits.astype(ms.float32), -1)
    return -ops.gather_elements(logp, -1, labels.astype(ms.int32).expand_dims(-1)).squeeze(-1)


def masked_lm_loss(mlm_logits: Tensor, masked_lm_ids: Tensor, masked_lm_weights: Tensor) -> Tensor:
    """Mean cross-entropy over positions whose weight is 1: ``sum(w * nll) / sum(w)``.

    ``mlm_logits`` [B, P, V], ``masked_lm_ids`` [B, P], ``masked_lm_weights`` [B, P]. If no position
    is masked the loss is 0 (the denominator is clamped at 1).
    """
    if mlm_logits.shape[:-1] != masked_lm_ids.shape or masked_lm_ids.shape != masked_lm_weights.shape:
        raise ValueError("shape mismatch: need mlm_logits [B, P, V], masked_lm_ids [B, P], masked_lm_weights [B, P]")
    w = masked_lm_weights.astype(ms.float32)
    nll = _token_nll(mlm_logits, masked_lm_ids)
    return (nll * w).sum() / ops.maximum(w.sum(), ops.ones((), ms.float32))


def next_sentence_loss(nsp_logits: Tensor, next_sentence_label: Tensor) -> Tensor:
    """2-class cross-entropy, label 0 = "IsNext", 1 = "NotNext"; mean over the batch."""
    if len(nsp_logits.shape) != 2 or nsp_logits.shape[-1] != 2:
        raise ValueError("nsp_logits must have shape [batch, 2]")
    return _token_nll(nsp_logits, next_sentence_label.reshape(-1)).mean()


def pretraining_loss(mlm_logits, nsp_logits, masked_lm_ids, masked_lm_weights, next_sentence_label) -> Tensor:
    """MLM loss + NSP loss (sec. 3.1: "the training loss is the sum of the mean masked LM likelihood
    and the mean next sentence prediction likelihood", appendix A.2)."""
    return (masked_lm_loss(mlm_logits, masked_lm_ids, masked_lm_weights)
            + next_sentence_loss(nsp_logits, next_sentence_label))
