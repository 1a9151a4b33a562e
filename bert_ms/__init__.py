"""bert_ms: BERT and the Transformer in MindSpore, for the MindSpore open course on
pre-trained language models (昇思MindSpore技术公开课, BERT unit).

The package is laid out by lesson (see ``docs/architecture.md``)::

    runtime/      lesson 00   settings, the device switch, msrun data parallelism
    classic/      01-03       word2vec, neural language models, ELMo
    transformer/  04          layers, attention and masks, feed-forward, positions, the encoder-decoder
    bert/         05-09       tokenization, config, model.py (embeddings, pooler, heads), weights, pretraining data,
                              losses, inference, extractive QA, a NumPy reference BERT
    train/        07-10       the Trainer, checkpoints, tasks and their data, frozen features, run folders
    accel/        (CPU speed) fused C++ kernels, built by make setup, applied to a model from outside
    exercises/    all         the self-checking exercises
    data.py                   the shipped, checksummed data and read-in-place corpora
    selftest.py               ``bert-ms selftest``
    cli.py                    the ``bert-ms`` command line

Start every notebook with::

    from bert_ms import device
    device.setup()

The names below are the public API; they are imported on first use, so ``import bert_ms`` is cheap.
"""

from __future__ import annotations

import importlib

__version__ = "0.2.0"

_PUBLIC = {
    # runtime
    "device": "bert_ms.runtime.device",
    "settings": "bert_ms.runtime.settings",
    "data": "bert_ms.data",
    # BERT
    "BertConfig": "bert_ms.bert.config",
    "BertModel": "bert_ms.bert.model",
    "BertForPreTraining": "bert_ms.bert.model",
    "BertForMaskedLM": "bert_ms.bert.model",
    "BertForSequenceClassification": "bert_ms.bert.model",
    "BertForTokenClassification": "bert_ms.bert.model",
    "BertForQuestionAnswering": "bert_ms.bert.model",
    "load_pretrained": "bert_ms.bert.model",
    "save_pretrained": "bert_ms.bert.weights",
    "BertTokenizer": "bert_ms.bert.tokenization",
    # training
    "Trainer": "bert_ms.train.trainer",
    "TrainerConfig": "bert_ms.train.trainer",
}
_MODULES = {"device", "settings", "data"}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'bert_ms' has no attribute {name!r}")
    module = importlib.import_module(_PUBLIC[name])
    value = module if name in _MODULES else getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
