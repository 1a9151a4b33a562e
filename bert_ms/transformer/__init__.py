"""Lesson 04 -- the Transformer: layers (Linear, LayerNorm, Embedding), attention and masks, the feed-forward network, positional encoding, and the encoder-decoder model."""
