"""Shared test set-up.

* Every test process runs on CPU, PyNative, fp32, through the one device switch (autouse ``_device``);
  tests do not call ``device.setup`` again unless they test the switch itself or need graph mode
  (the ``graph_mode`` fixture, which puts the session's choice back).
* ``tiny_config``: the one tiny BERT used by the model tests (L2 / H32 / A4 / I64, vocabulary 97).
* ``corpus``: a small pretraining corpus (six SOTU dev documents, 40 lines each), one per test module.
"""

import os

import pytest

os.environ.setdefault("GLOG_v", "3")  # keep MindSpore's C++ logging quiet in test output

TINY = dict(vocab_size=97, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
            max_position_embeddings=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def _session_default():
    from bert_ms.runtime import device

    return device.setup(target="CPU", mode="pynative", precision="fp32", seed=0, verbose=False)


@pytest.fixture(scope="session", autouse=True)
def _device():
    return _session_default()


@pytest.fixture
def graph_mode():
    """Graph mode (hot paths compiled with mindspore.jit) for one test, then the session's choice again."""
    from bert_ms.runtime import device

    yield device.setup(target="CPU", mode="graph", precision="fp32", verbose=False)
    _session_default()


@pytest.fixture
def tiny_config():
    """A fresh tiny BertConfig (dropout 0, so outputs are deterministic); override fields with
    ``dataclasses.replace``."""
    from bert_ms.bert.config import BertConfig

    return BertConfig(**TINY)


@pytest.fixture(scope="session", autouse=True)
def _exercise_record(tmp_path_factory):
    """Checks run by the tests never write into the learner's own exercise record (~/.cache/bert_ms)."""
    from bert_ms.exercises import record

    folder = tmp_path_factory.mktemp("exercise_record")
    original = record.path
    record.path = lambda: folder / record.FILE_NAME
    yield folder
    record.path = original


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from bert_ms.data import load_sotu

    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n\n".join("\n".join(d[:40]) for d in load_sotu("dev")[:6]) + "\n", encoding="utf-8")
    return path
