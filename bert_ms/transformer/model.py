"""The Transformer (Vaswani et al. 2017, sec. 3 / fig. 1): Add & Norm, encoder and decoder layers,
and the complete encoder-decoder model (编码器-解码器).

* Add & Norm (残差连接与层归一化), sec. 3.1 / 5.4: ``LayerNorm(x + Dropout(Sublayer(x)))`` -- "post-norm",
  as in the paper and in BERT. ``pre_norm=True`` switches a layer to ``x + Dropout(Sublayer(LayerNorm(x)))``
  (Xiong et al. 2020), which departs from both papers: it trains more stably without warm-up
  and then needs one extra LayerNorm after the last layer (``Encoder.final_norm``).
* Encoder layer: self-attention, then the position-wise FFN, each wrapped in Add & Norm.
* Decoder layer: *masked* self-attention (causal mask), encoder-decoder attention over the
  encoder output, then the FFN -- three sub-layers, each in Add & Norm (sec. 3.1).

BERT's encoder (``bert_ms.bert.BertEncoder``) is a stack of exactly these ``EncoderLayer`` cells.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import mindspore as ms
from mindspore import Tensor, nn, ops

from bert_ms.runtime.device import resolve_dtype
from bert_ms.transformer.attention import MultiHeadAttention, causal_mask, padding_mask
from bert_ms.transformer.feedforward import PositionwiseFeedForward
from bert_ms.transformer.layers import Embedding, LayerNorm, Linear
from bert_ms.transformer.positional import SinusoidalPositionalEncoding


class AddNorm(nn.Cell):
    """``LayerNorm(x + Dropout(y))`` (post-norm); the residual stream stays float32."""

    def __init__(self, d_model: int, dropout: float = 0.1, eps: float = 1e-12):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        self.norm = LayerNorm(d_model, eps)

    def construct(self, x: Tensor, y: Tensor) -> Tensor:
        return self.norm(x + self.dropout(y).astype(x.dtype))


class EncoderLayer(nn.Cell):
    """One encoder layer: self-attention + Add & Norm, FFN + Add & Norm. Returns (x, attention probs)."""

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.1,
                 attention_dropout: float = 0.1, act: str = "relu", eps: float = 1e-12,
                 pre_norm: bool = False, init_std: float = 0.02, compute_dtype=ms.float32):
        super().__init__()
        self.pre_norm = pre_norm
        self.attention = MultiHeadAttention(d_model, num_heads, attention_dropout, init_std, compute_dtype)
        self.attention_norm = AddNorm(d_model, dropout, eps)
        self.ffn = PositionwiseFeedForward(d_model, d_ff, act, init_std, compute_dtype)
        self.ffn_norm = AddNorm(d_model, dropout, eps)

    def construct(self, x: Tensor, mask: Tensor | None = None):
        if self.pre_norm:
            h = self.attention_norm.norm(x)
            a, probs = self.attention(h, h, mask)
            x = x + self.attention_norm.dropout(a).astype(x.dtype)
            f = self.ffn(self.ffn_norm.norm(x))
            return x + self.ffn_norm.dropout(f).astype(x.dtype), probs
        a, probs = self.attention(x, x, mask)
        x = self.attention_norm(x, a)
        return self.ffn_norm(x, self.ffn(x)), probs


class DecoderLayer(nn.Cell):
    """One decoder layer: masked self-attention, encoder-decoder attention, FFN; each with Add & Norm."""

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.1,
                 attention_dropout: float = 0.1, act: str = "relu", eps: float = 1e-6,
                 init_std: float = 0.02, compute_dtype=ms.float32):
        super().__init__()
        self.self_attention = MultiHeadAttention(d_model, num_heads, attention_dropout, init_std, compute_dtype)
        self.self_attention_norm = AddNorm(d_model, dropout, eps)
        self.cross_attention = MultiHeadAttention(d_model, num_heads, attention_dropout, init_std, compute_dtype)
        self.cross_attention_norm = AddNorm(d_model, dropout, eps)
        self.ffn = PositionwiseFeedForward(d_model, d_ff, act, init_std, compute_dtype)
        self.ffn_norm = AddNorm(d_model, dropout, eps)

    def construct(self, y: Tensor, memory: Tensor, self_mask: Tensor, memory_mask: Tensor | None = None):
        a, _ = self.self_attention(y, y, self_mask)
        y = self.self_attention_norm(y, a)
        c, _ = self.cross_attention(y, memory, memory_mask)
        y = self.cross_attention_norm(y, c)
        return self.ffn_norm(y, self.ffn(y))


class Encoder(nn.Cell):
    """A stack of ``EncoderLayer``. Returns (output, all hidden states or None, attention probs or None).

    ``hidden_states`` holds the input and the output of every layer (L + 1 tensors)."""

    def __init__(self, num_layers: int, pre_norm: bool = False, eps: float = 1e-12, **layer_kwargs):
        super().__init__()
        self.layers = nn.CellList([EncoderLayer(pre_norm=pre_norm, eps=eps, **layer_kwargs)
                                   for _ in range(num_layers)])
        d_model = layer_kwargs.get("d_model")
        self.final_norm = LayerNorm(d_model, eps) if pre_norm else None

    def construct(self, x: Tensor, mask: Tensor | None = None, output_hidden_states: bool = False,
                  output_attentions: bool = False):
        hidden = (x,)
        attentions = ()
        for layer in self.layers:
            x, probs = layer(x, mask)
            if output_hidden_states:
                hidden = hidden + (x,)
            if output_attentions:
                attentions = attentions + (probs,)
        if self.final_norm is not None:
            x = self.final_norm(x)
        return x, (hidden if output_hidden_states else None), (attentions if output_attentions else None)


class Decoder(nn.Cell):
    """A stack of ``DecoderLayer``."""

    def __init__(self, num_layers: int, **layer_kwargs):
        super().__init__()
        self.layers = nn.CellList([DecoderLayer(**layer_kwargs) for _ in range(num_layers)])

    def construct(self, y: Tensor, memory: Tensor, self_mask: Tensor, memory_mask: Tensor | None = None):
        for layer in self.layers:
            y = layer(y, memory, self_mask, memory_mask)
        return y


@dataclass
class TransformerConfig:
    """Sizes of the encoder-decoder Transformer (paper table 3). Presets: ``tiny`` (for tests and
    laptops), ``base`` (d_model 512, 6+6 layers, 8 heads, d_ff 2048, dropout 0.1) and ``big``
    (1024, 16 heads, 4096, dropout 0.3)."""

    src_vocab_size: int = 37000
    tgt_vocab_size: int = 37000
    d_model: int = 512
    num_layers: int = 6
    num_heads: int = 8
    d_ff: int = 2048
    dropout: float = 0.1
    max_len: int = 512
    layer_norm_eps: float = 1e-6
    share_embeddings: bool = True  # sec. 3.4: source, target embeddings and pre-softmax weights shared

    PRESETS = {
        "tiny": dict(d_model=64, num_layers=2, num_heads=4, d_ff=256),
        "base": dict(),
        "big": dict(d_model=1024, num_heads=16, d_ff=4096, dropout=0.3),
    }

    @classmethod
    def preset(cls, name: str, **overrides) -> TransformerConfig:
        if name not in cls.PRESETS:
            raise ValueError(f"unknown Transformer preset {name!r}; choose one of {', '.join(cls.PRESETS)}")
        return cls(**{**cls.PRESETS[name], **overrides})

    def to_dict(self) -> dict:
        return asdict(self)


class Transformer(nn.Cell):
    """The encoder-decoder Transformer of fig. 1, returning next-token logits [B, T_tgt, tgt_vocab].

    Embeddings are multiplied by ``sqrt(d_model)`` (sec. 3.4) before the sinusoids are added
    (sec. 3.5). With ``share_embeddings`` the source and target tables and the output projection
    are one matrix (sec. 3.4; needs a shared vocabulary). Masks: ``src_mask`` / ``tgt_mask`` are
    [B, T] 1/0 padding masks; the decoder always adds the causal mask.

    Not from the paper (which does not say): weights start as N(0, 0.02), embeddings as
    N(0, d_model^-0.5), and LayerNorm uses eps = 1e-6.
    """

    def __init__(self, config: TransformerConfig, dtype=None):
        super().__init__()
        if config.share_embeddings and config.src_vocab_size != config.tgt_vocab_size:
            raise ValueError("share_embeddings=True needs src_vocab_size == tgt_vocab_size")
        self.config = config
        cd = resolve_dtype(dtype)
        d = config.d_model
        std = d ** -0.5
        self.scale = math.sqrt(d)
        self.src_embed = Embedding(config.src_vocab_size, d, std)
        self.tgt_embed = None if config.share_embeddings else Embedding(config.tgt_vocab_size, d, std)
        self.generator = None if config.share_embeddings else Linear(d, config.tgt_vocab_size, False,
                                                                     compute_dtype=cd)
        self.positions = SinusoidalPositionalEncoding(d, config.max_len, config.dropout)
        common = dict(d_model=d, num_heads=config.num_heads, d_ff=config.d_ff, dropout=config.dropout,
                      attention_dropout=config.dropout, act="relu", compute_dtype=cd)
        self.encoder = Encoder(config.num_layers, eps=config.layer_norm_eps, **common)
        self.decoder = Decoder(config.num_layers, eps=config.layer_norm_eps, **common)
        self.compute_dtype = cd

    def encode(self, src_ids: Tensor, src_mask: Tensor | None = None) -> Tensor:
        x = self.positions(self.src_embed(src_ids) * self.scale)
        mask = None if src_mask is None else padding_mask(src_mask)
        return self.encoder(x, mask)[0]

    def decode(self, tgt_ids: Tensor, memory: Tensor, src_mask: Tensor | None = None,
               tgt_mask: Tensor | None = None) -> Tensor:
        table = self.src_embed if self.tgt_embed is None else self.tgt_embed
        y = self.positions(table(tgt_ids) * self.scale)
        self_mask = causal_mask(tgt_ids.shape[1])
        if tgt_mask is not None:
            self_mask = self_mask + padding_mask(tgt_mask)
        memory_mask = None if src_mask is None else padding_mask(src_mask)
        y = self.decoder(y, memory, self_mask, memory_mask)
        if self.generator is not None:
            return self.generator(y).astype(ms.float32)
        w = self.src_embed.weight
        if self.compute_dtype != ms.float32:
            y, w = y.astype(self.compute_dtype), w.astype(self.compute_dtype)
        return ops.matmul(y, w.T).astype(ms.float32)

    def construct(self, src_ids: Tensor, tgt_ids: Tensor, src_mask: Tensor | None = None,
                  tgt_mask: Tensor | None = None) -> Tensor:
        return self.decode(tgt_ids, self.encode(src_ids, src_mask), src_mask, tgt_mask)
