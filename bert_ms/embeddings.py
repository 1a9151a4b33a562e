"""BERT's input representation (输入表示), Devlin et al. 2019 sec. 3.2 / fig. 2.

Each input vector is the sum of a token embedding (词元嵌入, WordPiece), a segment embedding
(片段嵌入, sentence A = 0 / sentence B = 1) and a learned position embedding (位置嵌入), followed by
LayerNorm and dropout (the LayerNorm/dropout step is in the released code, not in the paper's text).
"""

from __future__ import annotations

from mindspore import Tensor, nn, ops

from bert_ms.config import BertConfig
from bert_ms.positional import LearnedPositionEmbedding
from bert_ms.precision import Embedding, LayerNorm


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
