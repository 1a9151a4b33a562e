"""Lessons 01-03 -- before BERT: word2vec, neural language models (feed-forward and recurrent) and ELMo."""
