"""Ascend-friendly shapes: training and evaluation batches have one fixed shape, so graph mode compiles the
training step and the evaluation step once per run, whatever the lengths of the texts.

Graph-mode compilations are counted with MindSpore's own record of compiled graphs
(``mindspore.common.api.ms_compile_cache``: one entry, a "phase", per (function, input shapes and
dtypes) compiled); the counter is shown to count by feeding a second sequence length on purpose.
"""

from __future__ import annotations

import numpy as np
import pytest

from bert_ms.runtime import device


def compiled_phases() -> set[str]:
    from mindspore.common import api

    return set(api.ms_compile_cache)


def count(before: set[str], name: str) -> int:
    """New compiled graphs of the function ``name`` since ``before``."""
    return sum(1 for phase in compiled_phases() - before if name in phase)


@pytest.fixture
def graph_mode():
    previous = device.current()
    info = device.setup(target="CPU", mode="graph", precision="fp32", verbose=False)
    yield info
    device.setup(target=previous.target, mode=previous.mode, precision=previous.precision, verbose=False)


def _spam_arrays(n: int, seq_len: int):
    from bert_ms import data
    from bert_ms.bert.inference import encode_texts
    from bert_ms.bert.tokenization import BertTokenizer, bert_base_uncased_vocab

    texts, labels = data.load_spam("train")
    tok = BertTokenizer(bert_base_uncased_vocab())
    cut = np.random.default_rng(n).integers(2, 60, n)  # emails cut to 2..59 words: lengths of every kind
    texts, labels = [" ".join(t.split()[:k]) for t, k in zip(texts[:n], cut)], np.asarray(labels[:n])
    lengths = [len(tok.tokenize(t)) + 2 for t in texts]
    return encode_texts(tok, texts, seq_len) | {"labels": labels.astype(np.int32)}, lengths


@pytest.mark.slow
def test_one_compile_for_training_and_one_for_evaluation_over_varied_lengths(graph_mode):
    from bert_ms.bert.config import BertConfig
    from bert_ms.bert.model import BertForSequenceClassification
    from bert_ms.train.evaluation import eval_batches, evaluate
    from bert_ms.train.tasks import build_task
    from bert_ms.train.trainer import ArrayBatches, Trainer, TrainerConfig

    arrays, lengths = _spam_arrays(43, 48)
    assert min(lengths) < 20 and max(lengths) > 48, f"the texts should vary in length, got {sorted(lengths)}"
    train = {k: v[:35] for k, v in arrays.items()}  # 35 = 4 batches of 8 + 3 left over
    dev = {k: v[35:] for k, v in arrays.items()}  # 8 examples: one batch; and 5 of them below
    # every batch of an epoch has one shape: the remainder is dropped in training, padded in evaluation
    batches = ArrayBatches(train, 8, seed=0)
    assert {b["input_ids"].shape for b in batches.epoch(0)} == {(8, 48)} and len(batches) == 4
    small = {k: v[:5] for k, v in dev.items()}
    assert [b["input_ids"].shape for b in eval_batches(small, 8)] == [(8, 48)]
    assert list(next(eval_batches(small, 8))["_valid"]) == [1, 1, 1, 1, 1, 0, 0, 0]

    cfg = BertConfig.preset("tiny", vocab_size=30522, num_hidden_layers=1, hidden_size=32, num_attention_heads=2,
                            intermediate_size=64, max_position_embeddings=64)
    model = BertForSequenceClassification(cfg, num_labels=2)
    task = build_task("classification", num_labels=2)
    before = compiled_phases()
    trainer = Trainer(model, task, train, TrainerConfig(total_steps=8, batch_size=8, lr=1e-3, progress=False,
                                                        log_every=4), dev_data=dev)
    state = trainer.fit()  # two epochs of 4 steps, then one evaluation on dev
    assert state.step == 8 and state.epoch == 2
    trainer.evaluate(small)  # a dev set whose size is not a multiple of the batch: the same shape
    assert count(before, "full_step") == 1, sorted(compiled_phases() - before)
    assert count(before, "predict_step") == 1, sorted(compiled_phases() - before)

    # the counter counts: another sequence length is another graph (as it would be on Ascend)
    other, _ = _spam_arrays(8, 32)
    before = compiled_phases()
    evaluate(model, task, other, 8, _cache=trainer._eval_cache)  # noqa: SLF001 - the Trainer's compiled step
    assert count(before, "predict_step") == 1


@pytest.mark.slow
def test_pretraining_arrays_have_one_shape_and_one_compile(graph_mode):
    from bert_ms.bert.config import BertConfig
    from bert_ms.bert.model import BertForPreTraining
    from bert_ms.bert.pretraining import make_pretraining_arrays
    from bert_ms.bert.tokenization import BertTokenizer, bert_base_uncased_vocab
    from bert_ms.train.tasks import build_task
    from bert_ms.train.trainer import Trainer, TrainerConfig

    rng = np.random.default_rng(0)
    words = ["the", "budget", "we", "must", "and", "nation", "people", "war", "peace", "work"]
    documents = [[" ".join(rng.choice(words, rng.integers(2, 25))) + "." for _ in range(rng.integers(2, 6))]
                 for _ in range(12)]
    tok = BertTokenizer(bert_base_uncased_vocab())
    arrays = make_pretraining_arrays(documents, tok, max_seq_length=32, max_predictions_per_seq=5, seed=0)
    real = arrays["attention_mask"].sum(1)
    assert real.min() < real.max(), "the pairs should vary in length"
    assert {v.shape[1:] for k, v in arrays.items() if k != "next_sentence_label"} <= {(32,), (5,)}

    cfg = BertConfig.preset("tiny", vocab_size=30522, num_hidden_layers=1, hidden_size=32, num_attention_heads=2,
                            intermediate_size=64, max_position_embeddings=64)
    model = BertForPreTraining(cfg)
    n_batches = len(real) // 4
    before = compiled_phases()
    trainer = Trainer(model, build_task("pretraining"), arrays,
                      TrainerConfig(total_steps=n_batches, batch_size=4, lr=1e-3, progress=False, log_every=2))
    trainer.fit()  # one epoch
    assert trainer.state.epoch == 1 and trainer.state.batch_index == 0
    assert count(before, "full_step") == 1, sorted(compiled_phases() - before)
