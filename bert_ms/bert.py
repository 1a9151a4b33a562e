"""BERT = the Transformer encoder (Devlin et al. 2019, sec. 3): embeddings, a stack of
post-norm ``EncoderLayer`` cells from :mod:`bert_ms.transformer`, and the pooler.

``BertModel(...)(input_ids, token_type_ids, attention_mask)`` returns a :class:`BertOutput`
(sequence output [B, T, H], pooled output [B, H], optional hidden states and attention maps).
"""

from __future__ import annotations

from typing import NamedTuple

import mindspore as ms
from mindspore import Tensor, nn, ops

from bert_ms.attention import padding_mask
from bert_ms.config import BertConfig
from bert_ms.embeddings import BertEmbeddings
from bert_ms.precision import Linear, resolve_dtype
from bert_ms.transformer import Encoder


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
    """``from_pretrained(path)`` / ``save_pretrained(path)`` for every model class (see :mod:`bert_ms.weights`)."""

    HEAD: str | None = None

    @classmethod
    def from_pretrained(cls, path, **kwargs):
        from bert_ms.weights import load_pretrained

        return load_pretrained(path, head=cls.HEAD, **kwargs)

    def save_pretrained(self, path, vocab_file=None):
        from bert_ms.weights import save_pretrained

        save_pretrained(self, path, vocab_file=vocab_file)


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
