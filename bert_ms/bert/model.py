"""BERT, top to bottom (Devlin et al. 2019): the model of lessons 05-08, assembled here from lesson 04's parts.

What is where. This file holds what is BERT's own: the embeddings, the pooler, the heads, ``BertModel`` and
``load_pretrained``. The encoder layer is lesson 04's, unchanged, so one forward pass also reads
:mod:`bert_ms.transformer.model` (``Encoder``, ``EncoderLayer``, ``AddNorm``), :mod:`bert_ms.transformer.attention`
(``MultiHeadAttention``, ``padding_mask``), :mod:`bert_ms.transformer.feedforward` (the FFN and GELU) and
:mod:`bert_ms.transformer.layers` (``Linear``, ``LayerNorm``, ``Embedding``) and :mod:`bert_ms.transformer.positional`
(``LearnedPositionEmbedding``). Two things there BERT never uses
and a reader can skip: ``EncoderLayer``'s ``pre_norm`` branch (BERT is post-norm: ``pre_norm=False`` below)
and ``MultiHeadAttention``'s separate ``x_kv`` input (BERT's attention is self-attention, ``x_kv`` is ``x``;
the decoder's cross-attention uses it). Lesson 06 writes the same model out, cell by cell, and proves it equal to this one.

Read it in order:

1. :class:`BertEmbeddings` -- the input representation (输入表示, sec. 3.2 / fig. 2): token + segment
   + position embeddings, then LayerNorm and dropout.
2. :class:`BertEncoder` -- L post-norm Transformer encoder layers, exactly the ``EncoderLayer`` of
   lesson 04 (:mod:`bert_ms.transformer.model`) with BERT's sizes and GELU.
3. :class:`BertPooler` -- ``tanh(W h_[CLS] + b)``, the sentence vector "C" of fig. 1.
4. :class:`BertModel` -- 1 + 2 + 3.
5. The heads: pretraining (MLM with the output layer tied to the token embeddings, and NSP,
   sec. 3.1 / appendix A.1), and fine-tuning on sentences, tokens and question-answer spans (sec. 4).
6. :func:`load_pretrained` -- build any of these from a Hugging Face BERT folder; the tensors are
   read and checked by :mod:`bert_ms.bert.weights`.

Shapes: B = batch, T = sequence length, H = hidden size, A = heads, V = vocabulary, P = masked
positions per sequence. Parameters are float32; matmuls run in the model's compute dtype.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import mindspore as ms
from mindspore import Parameter, Tensor, nn, ops
from mindspore.common.initializer import Zero, initializer

from bert_ms.bert import weights
from bert_ms.bert.config import BertConfig
from bert_ms.runtime.device import resolve_dtype
from bert_ms.transformer.attention import padding_mask
from bert_ms.transformer.feedforward import activation
from bert_ms.transformer.layers import Embedding, LayerNorm, Linear
from bert_ms.transformer.model import Encoder
from bert_ms.transformer.positional import LearnedPositionEmbedding

# ----------------------------------------------------------------------------------------------
# 1. Embeddings (sec. 3.2 / fig. 2). The LayerNorm + dropout step is in the released code, not in
#    the paper's text.
# ----------------------------------------------------------------------------------------------


class BertEmbeddings(nn.Cell):
    """ids [B, T] (+ token_type_ids [B, T]) -> embeddings [B, T, H] (float32)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        std = config.initializer_range
        self.word_embeddings = Embedding(config.vocab_size, config.hidden_size, std)
        self.position_embeddings = LearnedPositionEmbedding(config.max_position_embeddings, config.hidden_size, std)
        self.token_type_embeddings = Embedding(config.type_vocab_size, config.hidden_size, std)
        self.norm = LayerNorm(config.hidden_size, config.layer_norm_eps)
        self.dropout = nn.Dropout(p=config.hidden_dropout_prob)
        self.max_positions = config.max_position_embeddings

    def construct(self, input_ids: Tensor, token_type_ids: Tensor | None = None) -> Tensor:
        seq_len = input_ids.shape[1]
        if seq_len > self.max_positions:
            raise ValueError(f"sequence length {seq_len} exceeds max_position_embeddings={self.max_positions}")
        if token_type_ids is None:
            token_type_ids = ops.zeros_like(input_ids)
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        x = x + self.position_embeddings(seq_len)
        return self.dropout(self.norm(x))

# ----------------------------------------------------------------------------------------------
# 2-4. Encoder, pooler and the model
# ----------------------------------------------------------------------------------------------


class BertOutput(NamedTuple):
    """What ``BertModel`` returns when called eagerly; inside ``mindspore.jit`` it is the plain tuple
    (index it: ``out[0]``, ``out[1]``)."""

    sequence_output: Tensor  # [B, T, H]: the last layer, one vector per token
    pooled_output: Tensor | None  # [B, H]: tanh(W h_[CLS] + b), None without a pooler
    hidden_states: tuple | None = None  # L + 1 tensors [B, T, H]: embeddings, then every layer
    attentions: tuple | None = None  # L tensors [B, A, T, T]: attention probabilities per layer


class BertEncoder(Encoder):
    """L identical Transformer encoder layers with BERT's sizes, GELU and LayerNorm epsilon."""

    def __init__(self, config: BertConfig, compute_dtype=ms.float32):
        super().__init__(
            config.num_hidden_layers, pre_norm=False, eps=config.layer_norm_eps,
            d_model=config.hidden_size, num_heads=config.num_attention_heads, d_ff=config.intermediate_size,
            dropout=config.hidden_dropout_prob, attention_dropout=config.attention_probs_dropout_prob,
            act=config.hidden_act, init_std=config.initializer_range, compute_dtype=compute_dtype)


class BertPooler(nn.Cell):
    """``tanh(W h_[CLS] + b)``: the sentence vector used by NSP and classification (sec. 3, fig. 1 "C")."""

    def __init__(self, config: BertConfig, compute_dtype=ms.float32):
        super().__init__()
        self.dense = Linear(config.hidden_size, config.hidden_size, init_std=config.initializer_range,
                            compute_dtype=compute_dtype)

    def construct(self, sequence_output: Tensor) -> Tensor:
        return ops.tanh(self.dense(sequence_output[:, 0])).astype(ms.float32)


class PretrainedMixin:
    """``Model.from_pretrained(path)`` and ``model.save_pretrained(path)`` for every model class:
    the class builds itself from ``config.json``, then :mod:`bert_ms.bert.weights` fills it."""

    HEAD: str | None = None

    @classmethod
    def from_pretrained(cls, path, config_overrides: dict | None = None, **kwargs):
        return load_pretrained(path, head=cls.HEAD, config_overrides=config_overrides, **kwargs)

    def save_pretrained(self, path, vocab_file=None, label_names=None):
        return weights.save_pretrained(self, path, vocab_file=vocab_file, label_names=label_names)


class BertModel(PretrainedMixin, nn.Cell):
    """The BERT encoder: ``embeddings`` -> ``encoder`` -> (``pooler``).

    ``dtype``: compute dtype for matmuls (``ms.float16`` for mixed precision); default: the one
    chosen by ``bert_ms.device.setup``. Parameters are always float32.
    """

    HEAD = None

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True, dtype=None):
        super().__init__()
        self.config = config
        self.compute_dtype = resolve_dtype(dtype)
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config, self.compute_dtype)
        self.pooler = BertPooler(config, self.compute_dtype) if add_pooling_layer else None

    def __call__(self, *args, **kwargs) -> BertOutput:
        # Eager calls get the named BertOutput. Inside mindspore.jit the compiler runs ``construct``
        # directly and gets the plain tuple: a NamedTuple built inside a compiled graph goes through
        # MindSpore's Python fallback, which silently stops gradients. So, under jit, index the
        # output (out[0], out[1]) instead of using the attribute names.
        return BertOutput(*super().__call__(*args, **kwargs))

    def construct(self, input_ids, token_type_ids=None, attention_mask=None,
                  output_hidden_states=False, output_attentions=False) -> tuple:
        """Returns (sequence_output, pooled_output, hidden_states, attentions); see :class:`BertOutput`."""
        return self.forward_tuple(input_ids, token_type_ids, attention_mask, output_hidden_states,
                                  output_attentions)

    def forward_tuple(self, input_ids, token_type_ids=None, attention_mask=None,
                      output_hidden_states=False, output_attentions=False) -> tuple:
        """The computation, returning a plain tuple (what the heads call)."""
        if len(input_ids.shape) != 2:
            raise ValueError("input_ids must have shape [batch, seq_len]")
        x = self.embeddings(input_ids, token_type_ids)
        mask = None if attention_mask is None else padding_mask(attention_mask)
        seq, hidden, attentions = self.encoder(x, mask, output_hidden_states, output_attentions)
        pooled = self.pooler(seq) if self.pooler is not None else None
        return seq, pooled, hidden, attentions


def count_parameters(model: nn.Cell) -> int:
    """Number of trainable scalars; a Parameter shared by two cells (tied weights) counts once."""
    seen: dict[int, int] = {}
    for p in model.trainable_params():
        seen[id(p)] = int(p.size)
    return sum(seen.values())

# ----------------------------------------------------------------------------------------------
# 5. Heads (sec. 3.1, 4 / fig. 4). The MLM output layer is *tied* to the token embedding table (same
#    Parameter), after a dense + GELU + LayerNorm transform, plus a per-word output bias -- the layout
#    of the released code and Hugging Face (``cls.predictions.*``). Like the original
#    ``run_pretraining.py``, the MLM logits are computed only at the masked positions
#    (``masked_lm_positions``): with 15 % masking that skips ~85 % of the largest matmul.
# ----------------------------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------------------------
# 6. Loading a pretrained model
# ----------------------------------------------------------------------------------------------


def load_pretrained(path: str | Path, head: str | None = None, config_overrides: dict | None = None,
                    allow_unused: bool = False, **head_kwargs):
    """Build a model from a Hugging Face BERT directory (config.json + model.safetensors).

    ``head``: None (``BertModel``), "pretraining", "masked_lm", "sequence_classification",
    "token_classification" or "question_answering"; ``head_kwargs`` go to the model class
    (e.g. ``num_labels=3``, ``dtype=ms.float16``; ``num_labels`` defaults to the size of the
    config's ``id2label``). Works with and without the ``bert.`` prefix. The model is returned
    in evaluation mode (``set_train(False)``), like ``transformers``' ``from_pretrained``.
    ``config_overrides`` replaces config.json values that do not change a tensor's shape, e.g.
    ``{"hidden_dropout_prob": 0.1}`` to fine-tune with dropout a model pretrained without it.
    Head tensors missing from the file (a new classifier) are initialised and named in a warning.
    Encoder tensors the model does not use (e.g. ``config_overrides={"num_hidden_layers": 2}`` on a
    6-layer file) are an error unless ``allow_unused=True`` (see :func:`weights.assign_state`).
    """
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; choose one of {', '.join(str(h) for h in HEADS)}")
    raw_config = weights.read_config(path)  # config.json, read once and checked
    try:
        config = BertConfig.from_dict(raw_config)
    except (TypeError, ValueError) as err:
        raise weights.WeightsError(f"{Path(path) / 'config.json'}: {err}") from None
    if config_overrides:
        config = replace(config, **config_overrides)
    weights.check_config_against_file(config, path)  # before anything is allocated
    if head in ("sequence_classification", "token_classification") and "num_labels" not in head_kwargs:
        if raw_config.get("id2label"):
            head_kwargs["num_labels"] = len(raw_config["id2label"])
    model = HEADS[head](config, **head_kwargs)
    weights.load_weights(model, path, allow_unused=allow_unused)
    model.set_train(False)
    return model


save_pretrained = weights.save_pretrained
