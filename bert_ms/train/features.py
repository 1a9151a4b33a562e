"""Feature-based use of a frozen encoder (特征抽取, BERT Sec. 5.3, Table 7): which layers to take.

:func:`extract_features` runs the encoder once with no gradient and keeps masked-mean-pooled features;
:func:`combine_layers` combines the layers as Table 7 does (the last, the second to last, the sum or the
concatenation of the last four, the embeddings, or a learned weighting); :class:`FeatureClassifier` is the
small classifier trained on them. The learned weighting is ELMo's scalar mix, the one lesson 03 builds
(:func:`bert_ms.classic.elmo.scalar_mix`), which is why this module imports the classic room.
"""

from __future__ import annotations

import mindspore as ms
import numpy as np
from mindspore import ops

from bert_ms.classic.elmo import scalar_mix

COMBINATIONS = ("last", "sum_last4", "concat_last4", "weighted", "second_to_last", "embeddings")


def combine_layers(hidden_states, how: str, weights=None, gamma=None):
    """Combine per-layer hidden states ``[h_0 (embeddings), h_1, ..., h_L]`` (each ``[B, T, H]``).

    ``last``: h_L; ``second_to_last``: h_{L-1}; ``sum_last4``: h_{L-3} + ... + h_L;
    ``concat_last4``: [h_{L-3}; ...; h_L] (``[B, T, 4H]``); ``weighted``: gamma * sum_j softmax(w)_j h_j
    over all layers (lesson 03's ELMo scalar mix, :func:`bert_ms.classic.elmo.scalar_mix`, Peters et al.
    2018, which BERT's Table 7 compares with);
    ``embeddings``: h_0.
    """
    if how not in COMBINATIONS:
        raise ValueError(f"unknown layer combination {how!r}; choose one of {', '.join(COMBINATIONS)}")
    if how == "last":
        return hidden_states[-1]
    if how == "second_to_last":
        return hidden_states[-2]
    if how == "embeddings":
        return hidden_states[0]
    if how == "sum_last4":
        return hidden_states[-1] + hidden_states[-2] + hidden_states[-3] + hidden_states[-4]
    if how == "concat_last4":
        return ops.concat((hidden_states[-4], hidden_states[-3], hidden_states[-2], hidden_states[-1]), -1)
    return scalar_mix(hidden_states, weights, gamma)


def extract_features(bert, arrays: dict[str, np.ndarray], how: str, batch_size: int = 32) -> np.ndarray:
    """Run the frozen encoder once and keep masked-mean-pooled features (特征抽取), as NumPy.

    ``how`` is a :data:`COMBINATIONS` name -> ``[N, H]`` (``[N, 4H]`` for ``concat_last4``), or
    ``"all"`` -> ``[N, L+1, H]`` (every layer, for the learned ``weighted`` mix in
    :class:`FeatureClassifier`). The encoder runs eagerly in inference mode; no gradient ever
    reaches it, which is what "feature-based" means in BERT Sec. 5.3.
    """
    if how not in (*COMBINATIONS, "all"):
        raise ValueError(f"unknown layer combination {how!r}; choose one of {', '.join(COMBINATIONS)} or all")
    was = bert.training
    bert.set_train(False)
    out = []
    try:
        n = len(arrays["input_ids"])
        for start in range(0, n, batch_size):
            sl = slice(start, start + batch_size)
            ids, tt, am = (ms.Tensor(arrays[k][sl]) for k in ("input_ids", "token_type_ids", "attention_mask"))
            hidden = bert(ids, tt, am, True)[2]
            m = am.astype(ms.float32).expand_dims(-1)

            def pool(h, m=m):
                return (h.astype(ms.float32) * m).sum(1) / ops.maximum(m.sum(1), 1.0)

            if how == "all":
                out.append(ops.stack([pool(h) for h in hidden], 1).asnumpy())
            elif how == "weighted":
                raise ValueError("'weighted' is learned: extract with how='all' and use FeatureClassifier(weighted)")
            else:
                out.append(pool(combine_layers(hidden, how)).asnumpy())
    finally:
        bert.set_train(was)
    return np.concatenate(out, 0)


class FeatureClassifier(ms.nn.Cell):
    """A linear classifier on frozen features; with ``weighted=True`` it first learns the scalar mix
    ``gamma * sum_j softmax(w)_j h_j`` of all layers (input ``[B, L+1, H]``).

    Departure from the paper: Table 7 feeds the features to a two-layer BiLSTM for NER; here
    masked-mean-pooled features and one linear layer classify whole sequences, which is enough to
    compare the layer combinations.
    """

    def __init__(self, in_dim: int, num_labels: int, n_layers: int | None = None):
        super().__init__()
        self.weighted = n_layers is not None
        self.layer_weights = ms.Parameter(ms.Tensor(np.zeros(n_layers or 1, np.float32)), name="layer_weights",
                                          requires_grad=self.weighted)
        self.gamma = ms.Parameter(ms.Tensor(1.0, ms.float32), name="gamma", requires_grad=self.weighted)
        self.classifier = ms.nn.Dense(in_dim, num_labels)

    def construct(self, features):
        if self.weighted:
            layers = [features[:, j] for j in range(features.shape[1])]
            features = scalar_mix(layers, self.layer_weights, self.gamma)
        return self.classifier(features)
