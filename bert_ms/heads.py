"""Task heads on top of :class:`~bert_ms.bert.BertModel` (Devlin et al. 2019, sec. 3.1, 3.3, 4).

* Pre-training (预训练): the masked language model (掩码语言模型, MLM) and next sentence
  prediction (下一句预测, NSP), sec. 3.1 and appendix A.1.
* Fine-tuning (微调): sequence classification (CLS vector), token classification (every token)
  and extractive question answering (start/end logits), sec. 4 / fig. 4.

The MLM output layer is *tied* to the token embedding table (same Parameter), after a
dense + GELU + LayerNorm transform, plus a per-word output bias -- the layout of the released
code and Hugging Face (``cls.predictions.*``). Like the original ``run_pretraining.py``, the MLM
logits are computed only at the masked positions (``masked_lm_positions``): with 15 % masking
that skips ~85 % of the largest matmul.
"""

from __future__ import annotations

import mindspore as ms
from mindspore import Parameter, Tensor, nn, ops
from mindspore.common.initializer import Zero, initializer

from bert_ms.bert import BertModel, PretrainedMixin
from bert_ms.config import BertConfig
from bert_ms.feedforward import activation
from bert_ms.precision import LayerNorm, Linear


def gather_positions(sequence_output: Tensor, positions: Tensor) -> Tensor:
    """[B, T, H] and int positions [B, P] -> [B, P, H] (``gather_indexes`` of the original code)."""
    return ops.gather(sequence_output, positions, 1, batch_dims=1)


class BertPredictionHeadTransform(nn.Cell):
    """dense -> activation -> LayerNorm, applied before the vocabulary projection."""

    def __init__(self, config: BertConfig, compute_dtype=ms.float32):
        super().__init__()
        self.act = config.hidden_act
        self.dense = Linear(config.hidden_size, config.hidden_size, init_std=config.initializer_range,
                            compute_dtype=compute_dtype)
        self.norm = LayerNorm(config.hidden_size, config.layer_norm_eps)

    def construct(self, x: Tensor) -> Tensor:
        return self.norm(activation(self.act, self.dense(x)))


class BertMLMHead(nn.Cell):
    """MLM head: transform, then ``h E^T + bias`` with the (tied) token embedding table ``E``."""

    def __init__(self, config: BertConfig, compute_dtype=ms.float32):
        super().__init__()
        self.transform = BertPredictionHeadTransform(config, compute_dtype)
        self.bias = Parameter(initializer(Zero(), (config.vocab_size,), ms.float32), name="bias")
        self.compute_dtype = compute_dtype
        self.matmul = ops.MatMul(transpose_b=True)

    def construct(self, x: Tensor, embedding_table: Tensor) -> Tensor:
        h = self.transform(x)
        shape = h.shape
        h = h.reshape(-1, shape[-1])
        w = embedding_table
        if self.compute_dtype != ms.float32:
            h, w = h.astype(self.compute_dtype), w.astype(self.compute_dtype)
        logits = self.matmul(h, w).astype(ms.float32) + self.bias
        return logits.reshape(shape[:-1] + (-1,))


class BertForPreTraining(PretrainedMixin, nn.Cell):
    """BERT + MLM head + NSP head. ``construct`` returns (mlm_logits [B, P, V], nsp_logits [B, 2]);
    P = number of ``masked_lm_positions`` per sequence, or T when they are not given."""

    HEAD = "pretraining"

    def __init__(self, config: BertConfig, dtype=None):
        super().__init__()
        self.config = config
        self.bert = BertModel(config, add_pooling_layer=True, dtype=dtype)
        cd = self.bert.compute_dtype
        self.mlm = BertMLMHead(config, cd)
        self.nsp = Linear(config.hidden_size, 2, init_std=config.initializer_range, compute_dtype=cd)

    def construct(self, input_ids, token_type_ids=None, attention_mask=None, masked_lm_positions=None):
        out = self.bert(input_ids, token_type_ids, attention_mask)
        seq, pooled = out[0], out[1]
        if masked_lm_positions is not None:
            seq = gather_positions(seq, masked_lm_positions)
        mlm_logits = self.mlm(seq, self.bert.embeddings.word_embeddings.weight)
        return mlm_logits, self.nsp(pooled).astype(ms.float32)


class BertForMaskedLM(PretrainedMixin, nn.Cell):
    """BERT (no pooler) + MLM head; returns mlm_logits [B, P, V] (P = T without positions)."""

    HEAD = "masked_lm"

    def __init__(self, config: BertConfig, dtype=None):
        super().__init__()
        self.config = config
        self.bert = BertModel(config, add_pooling_layer=False, dtype=dtype)
        self.mlm = BertMLMHead(config, self.bert.compute_dtype)

    def construct(self, input_ids, token_type_ids=None, attention_mask=None, masked_lm_positions=None):
        seq = self.bert(input_ids, token_type_ids, attention_mask)[0]
        if masked_lm_positions is not None:
            seq = gather_positions(seq, masked_lm_positions)
        return self.mlm(seq, self.bert.embeddings.word_embeddings.weight)


class BertForSequenceClassification(PretrainedMixin, nn.Cell):
    """Dropout + linear layer on the pooled [CLS] vector -> logits [B, num_labels] (sec. 4.1)."""

    HEAD = "sequence_classification"

    def __init__(self, config: BertConfig, num_labels: int = 2, dtype=None):
        super().__init__()
        if num_labels < 1:
            raise ValueError(f"num_labels must be >= 1, got {num_labels}")
        self.config, self.num_labels = config, num_labels
        self.bert = BertModel(config, add_pooling_layer=True, dtype=dtype)
        self.dropout = nn.Dropout(p=config.hidden_dropout_prob)
        self.classifier = Linear(config.hidden_size, num_labels, init_std=config.initializer_range,
                                 compute_dtype=self.bert.compute_dtype)

    def construct(self, input_ids, token_type_ids=None, attention_mask=None):
        pooled = self.bert(input_ids, token_type_ids, attention_mask)[1]
        return self.classifier(self.dropout(pooled)).astype(ms.float32)


class BertForTokenClassification(PretrainedMixin, nn.Cell):
    """Dropout + linear layer on every token -> logits [B, T, num_labels] (sec. 4.3, NER)."""

    HEAD = "token_classification"

    def __init__(self, config: BertConfig, num_labels: int = 2, dtype=None):
        super().__init__()
        if num_labels < 1:
            raise ValueError(f"num_labels must be >= 1, got {num_labels}")
        self.config, self.num_labels = config, num_labels
        self.bert = BertModel(config, add_pooling_layer=False, dtype=dtype)
        self.dropout = nn.Dropout(p=config.hidden_dropout_prob)
        self.classifier = Linear(config.hidden_size, num_labels, init_std=config.initializer_range,
                                 compute_dtype=self.bert.compute_dtype)

    def construct(self, input_ids, token_type_ids=None, attention_mask=None):
        seq = self.bert(input_ids, token_type_ids, attention_mask)[0]
        return self.classifier(self.dropout(seq)).astype(ms.float32)


class BertForQuestionAnswering(PretrainedMixin, nn.Cell):
    """Span extraction (sec. 4.2, SQuAD): one linear layer gives start and end logits [B, T] each."""

    HEAD = "question_answering"

    def __init__(self, config: BertConfig, dtype=None):
        super().__init__()
        self.config = config
        self.bert = BertModel(config, add_pooling_layer=False, dtype=dtype)
        self.qa_outputs = Linear(config.hidden_size, 2, init_std=config.initializer_range,
                                 compute_dtype=self.bert.compute_dtype)

    def construct(self, input_ids, token_type_ids=None, attention_mask=None):
        logits = self.qa_outputs(self.bert(input_ids, token_type_ids, attention_mask)[0]).astype(ms.float32)
        return logits[..., 0], logits[..., 1]


HEADS = {
    None: BertModel,
    "pretraining": BertForPreTraining,
    "masked_lm": BertForMaskedLM,
    "sequence_classification": BertForSequenceClassification,
    "token_classification": BertForTokenClassification,
    "question_answering": BertForQuestionAnswering,
}
