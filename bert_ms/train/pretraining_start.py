"""Where a pretraining run starts (``bert-ms pretrain``): a new BERT of a preset, or a pretrained model continued.

The second is phase 2 of BERT's two-phase recipe (short sequences first, then long; Devlin et al. 2019,
sec. A.2): ``--init`` names the phase-1 model, whose shape, vocabulary and initializer range are kept.
:func:`initial_settings` checks the start before the slow device setup; :func:`initial_model` builds it.
"""

from __future__ import annotations

from bert_ms.bert.config import BertConfig, read_model_config, scaled_init_range
from bert_ms.bert.inference import check_seq_len, model_dir


def initial_settings(init: str | None, preset: str, seq_len: int, vocab: str,
                     init_range: float | None) -> tuple[float, str]:
    """(the initializer range, the vocabulary) of a run: from ``--init``'s model (``--vocab train``: its
    ``vocab.txt``; ``seq_len`` checked against its positions), else the preset's range (``init_range`` if
    given, else :func:`~bert_ms.bert.config.scaled_init_range`) and ``vocab`` as given."""
    if init is not None:
        init_config = read_model_config(model_dir(init))[0]
        check_seq_len(init_config, seq_len, f"--init {init}")
        if vocab == "train":  # phase 2 keeps phase 1's vocabulary
            init_vocab = model_dir(init) / "vocab.txt"
            if not init_vocab.is_file():
                raise FileNotFoundError(f"--init {init} has no vocab.txt; pass --vocab PATH")
            vocab = str(init_vocab)
        return init_config.initializer_range, vocab
    shape = BertConfig.preset(preset)  # an unknown preset is an error now
    return (init_range if init_range is not None else scaled_init_range(shape.hidden_size)), vocab


def initial_model(init: str | None, preset: str, vocab_size: int, seq_len: int, dropout: float, init_range: float,
                  seed: int = 0):
    """The :class:`~bert_ms.bert.model.BertForPreTraining` a run trains, its initial weights drawn with
    ``seed`` (the same on every worker): the ``--init`` model with hidden and attention ``dropout`` (its
    vocabulary must have ``vocab_size`` tokens), else a new model of ``preset`` with positions for
    ``max(seq_len, 128)`` tokens."""
    import mindspore as ms

    from bert_ms.bert.model import BertForPreTraining, load_pretrained

    ms.set_seed(seed)  # same initial weights on every worker
    if init is not None:
        model = load_pretrained(model_dir(init), head="pretraining", config_overrides={
            "hidden_dropout_prob": dropout, "attention_probs_dropout_prob": dropout})
        if model.config.vocab_size != vocab_size:
            raise ValueError(f"--init {init} has a vocabulary of {model.config.vocab_size} tokens but "
                             f"--vocab has {vocab_size}; pass the vocab.txt the model was trained with")
        model.set_train(True)
        return model
    return BertForPreTraining(BertConfig.preset(
        preset, vocab_size=vocab_size, max_position_embeddings=max(seq_len, 128),
        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout, initializer_range=init_range))
