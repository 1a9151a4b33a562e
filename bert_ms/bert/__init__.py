"""Lessons 05-08 -- BERT: WordPiece tokenization and vocabularies, the config, the model with its heads (model.py), weights in Hugging Face format, pretraining data and losses."""
