"""Command-line sub-commands (命令行): ``pretrain``, ``finetune``, ``evaluate``, ``predict``.

They build the same objects the notebooks build (tokenizer, model, :class:`~bert_ms.tasks.Task`,
:class:`~bert_ms.training.Trainer`) and call the same functions, so a command and a notebook cell
give the same numbers. Examples::

    python -m bert_ms pretrain --config mini --corpus sotu --vocab train --out runs/mini \\
        --steps 3000 --batch-size 32 --seq-len 64 --save-every 200
    python -m bert_ms pretrain ... --resume          # continue exactly where the last checkpoint was
    python -m bert_ms finetune --task spam --init runs/mini/model --out runs/spam
    python -m bert_ms evaluate --model runs/spam/model --task spam --split test
    python -m bert_ms predict --model runs/spam/model --task spam "Win a FREE cruise now!!!"
    python -m bert_ms predict --model runs/mini/model --task fill-mask "the [MASK] of the union is strong"

A bad input (missing corpus, vocabulary or model folder) ends with one line ``bert-ms: error: ...``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

SPLITS = ("train", "dev", "test")


# ----------------------------------------------------------------------------------------------
# shared helpers (also used by notebooks)
# ----------------------------------------------------------------------------------------------


def setup(args: argparse.Namespace, seed: int = 0):
    """Device switch + (under msrun) data parallelism; returns (DeviceInfo, DistInfo)."""
    from bert_ms.runtime import device, distributed

    dev = device.setup(target=args.device, mode=args.mode, precision=args.precision, seed=seed,
                       verbose=distributed.launched_by_msrun() is False)
    return dev, distributed.init()


def read_corpus(corpus: str) -> tuple[list[list[str]], list[list[str]]]:
    """``sotu`` -> (train, dev) SOTU documents; ``spam`` -> the train/dev emails as unlabelled documents
    (:func:`bert_ms.data.load_spam_documents`); a PATH -> documents of a text file (one sentence per
    line, documents separated by blank lines, as in google-research/bert), the last 5 % (at least 2) held out."""
    if corpus == "sotu":
        from bert_ms.data import load_sotu

        return load_sotu("train"), load_sotu("dev")
    if corpus == "spam":  # the training emails' text, labels unused (further pretraining in the task's domain)
        from bert_ms.data import load_spam_documents

        return load_spam_documents("train"), load_spam_documents("dev")
    path = Path(corpus)
    if not path.is_file():
        raise FileNotFoundError(f"corpus not found: {corpus!r} (use 'sotu', 'spam' or a text file path)")
    docs, cur = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            cur.append(line.strip())
        elif cur:
            docs.append(cur)
            cur = []
    if cur:
        docs.append(cur)
    if len(docs) < 4:
        raise ValueError(f"corpus {corpus!r} has {len(docs)} document(s), need 4+ (2 held out for next sentence "
                         "prediction); separate documents by blank lines")
    n_dev = max(2, len(docs) // 20)
    return docs[:-n_dev], docs[-n_dev:]


def resolve_vocab(vocab: str, out_dir: Path, train_docs: list[list[str]] | None = None, vocab_size: int = 8000) -> Path:
    """``bert-base-uncased`` -> the shipped vocabulary; ``train`` -> WordPiece trained on the corpus
    (saved as ``OUT/vocab.txt``, reused on resume); a PATH -> that vocab.txt."""
    if vocab == "bert-base-uncased":
        from bert_ms.bert.tokenization import bert_base_uncased_vocab

        return Path(bert_base_uncased_vocab())
    if vocab == "bert-base-chinese":
        from bert_ms.bert.tokenization import bert_base_chinese_vocab

        return Path(bert_base_chinese_vocab())
    if vocab == "train":
        target = out_dir / "vocab.txt"
        if target.exists():
            return target
        if train_docs is None:
            raise ValueError("--vocab train needs a corpus")
        from bert_ms.bert.tokenization import train_wordpiece_vocab

        return Path(train_wordpiece_vocab([" ".join(d) for d in train_docs], vocab_size, target))
    path = Path(vocab)
    if path.is_dir():
        path = path / "vocab.txt"
    if not path.is_file():
        raise FileNotFoundError(f"vocabulary not found: {vocab!r} (use bert-base-uncased, bert-base-chinese, train or a vocab.txt path)")
    return path


def model_dir(path: str) -> Path:
    """An HF-format model folder (config.json + model.safetensors), or a run folder holding ``model/``."""
    p = Path(path)
    for cand in (p, p / "model"):
        if (cand / "config.json").is_file():
            return cand
    raise FileNotFoundError(f"no model at {path!r}: expected config.json + model.safetensors (or a run folder "
                            "with model/)")


def encode_texts(tokenizer, texts: list[str], seq_len: int, pairs: list[str] | None = None) -> dict[str, np.ndarray]:
    return tokenizer.encode_batch(texts, pairs, max_length=seq_len, padding="max_length", truncation=True)


def pretraining_arrays(docs, tokenizer, seq_len: int, max_pred: int, seed: int, dupe_factor: int,
                       cache: Path | None = None) -> dict[str, np.ndarray]:
    """make_pretraining_arrays, cached as .npz (so a resumed run reads the very same examples)."""
    from bert_ms.bert.pretraining import load_arrays, make_pretraining_arrays, save_arrays

    if cache is not None and cache.exists():
        return load_arrays(cache)
    arrays = make_pretraining_arrays(docs, tokenizer, max_seq_length=seq_len, max_predictions_per_seq=max_pred,
                                     seed=seed, dupe_factor=dupe_factor)
    if cache is not None:
        save_arrays(arrays, cache)
    return arrays


def _common_train_args(p: argparse.ArgumentParser, steps: int, batch: int, seq: int, lr: float) -> None:
    p.add_argument("--out", required=True, help="run folder: checkpoints/, metrics.jsonl, model/")
    p.add_argument("--steps", type=int, default=steps, help="optimizer steps (schedule length)")
    p.add_argument("--batch-size", type=int, default=batch, help="global batch size (all workers together)")
    p.add_argument("--accum", type=int, default=1, help="gradient accumulation steps")
    p.add_argument("--seq-len", type=int, default=seq)
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--warmup", type=float, default=0.1, help="warmup: fraction of steps (<1) or a step count")
    p.add_argument("--decay", default="linear", choices=("linear", "poly", "cosine", "constant"))
    p.add_argument("--save-every", type=int, default=0, help="checkpoint every N steps (0: only at the end)")
    p.add_argument("--eval-every", type=int, default=0)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from the newest good checkpoint in --out")
    p.add_argument("--stop-at", type=int, default=None,
                   help="stop after this step (the schedule still spans --steps; --resume continues later)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar (logs still go to metrics.jsonl)")


def _trainer_config(args, **kw):
    from bert_ms.train.trainer import TrainerConfig

    warm = {"warmup_ratio": args.warmup} if args.warmup < 1 else {"warmup_steps": int(args.warmup)}
    return TrainerConfig(total_steps=args.steps, batch_size=args.batch_size, grad_accum_steps=args.accum,
                         lr=args.lr, decay=args.decay, save_every=args.save_every, eval_every=args.eval_every,
                         log_every=args.log_every, seed=args.seed, progress=not args.no_progress, **warm, **kw)


def _write_json(path: Path, obj) -> None:
    from bert_ms.train.checkpoint import atomic_write_bytes

    atomic_write_bytes(path, json.dumps(obj, indent=1).encode())


# ----------------------------------------------------------------------------------------------
# pretrain
# ----------------------------------------------------------------------------------------------


def add_pretrain_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="mini", help="BERT preset: tiny, mini, small, base, large")
    p.add_argument("--corpus", default="sotu", help="sotu, spam (the training emails, labels unused) or a text file (one sentence per line, blank line = new doc)")
    p.add_argument("--vocab", default="train", help="bert-base-uncased, bert-base-chinese, train (WordPiece on the corpus) or a vocab.txt")
    p.add_argument("--vocab-size", type=int, default=8000, help="for --vocab train")
    p.add_argument("--max-predictions", type=int, default=None, help="masked tokens per sequence (default 15%% of seq)")
    p.add_argument("--dupe-factor", type=int, default=1, help="times the corpus is re-cut and re-masked")
    p.add_argument("--dropout", type=float, default=0.1,
                   help="hidden and attention dropout while pretraining (BERT: 0.1; 0 learns faster on a short "
                        "budget); config.json records it")
    p.add_argument("--init", default=None,
                   help="continue from a pretrained model folder (config.json + model.safetensors), e.g. phase 1 "
                        "of BERT's two-phase recipe (short sequences first, then long; sec. A.2). Its shape, vocab "
                        "size and init range are kept; --config/--init-range are then ignored")
    p.add_argument("--init-range", type=float, default=None,
                   help="std of the initial weights (config.initializer_range). Default: BERT's 0.02 scaled by "
                        "sqrt(768 / hidden), the signal gain of BERT-base (0.049 for tiny, 0.035 for mini)")
    _common_train_args(p, steps=1000, batch=32, seq=128, lr=3e-4)


def run_pretrain(args: argparse.Namespace) -> int:
    from bert_ms.bert import weights
    from bert_ms.bert.config import BertConfig, scaled_init_range
    from bert_ms.bert.model import BertForPreTraining, load_pretrained
    from bert_ms.bert.tokenization import BertTokenizer
    from bert_ms.train.tasks import PretrainingTask
    from bert_ms.train.trainer import Trainer, evaluate

    out = Path(args.out)
    train_docs, dev_docs = read_corpus(args.corpus)  # errors before the slow device setup
    shape = BertConfig.preset(args.config)  # unknown preset -> ValueError now
    init_range = args.init_range if args.init_range is not None else scaled_init_range(shape.hidden_size)
    if not init_range > 0:
        raise ValueError(f"--init-range must be > 0, got {args.init_range}")
    dev, dist = setup(args, args.seed)
    out.mkdir(parents=True, exist_ok=True)
    # under msrun every worker trains the (identical) vocabulary; only rank 0 writes it into --out
    if args.init is not None and args.vocab == "train":  # phase 2 keeps phase 1's vocabulary
        init_vocab = model_dir(args.init) / "vocab.txt"
        if not init_vocab.is_file():
            raise FileNotFoundError(f"--init {args.init} has no vocab.txt; pass --vocab PATH")
        args.vocab = str(init_vocab)
    vocab = resolve_vocab(args.vocab, out if dist.is_main else out / f".rank{dist.rank}", train_docs,
                          args.vocab_size)
    tok = BertTokenizer(vocab)
    max_pred = args.max_predictions or max(1, round(0.15 * args.seq_len))
    data_dir = out / "data"
    data_dir.mkdir(exist_ok=True)
    tag = f"{args.seq_len}-{max_pred}-{args.seed}-{args.dupe_factor}"
    train = pretraining_arrays(train_docs, tok, args.seq_len, max_pred, args.seed, args.dupe_factor,
                               data_dir / f"train-{tag}.npz" if dist.is_main or dist.world_size == 1 else None)
    held = pretraining_arrays(dev_docs, tok, args.seq_len, max_pred, args.seed + 1, 1, None)
    if not 0.0 <= args.dropout < 1.0:
        raise ValueError(f"--dropout must be in [0, 1), got {args.dropout}")
    import mindspore as ms

    ms.set_seed(args.seed)  # same initial weights on every worker
    if args.init is not None:
        model = load_pretrained(model_dir(args.init), head="pretraining", config_overrides={
            "hidden_dropout_prob": args.dropout, "attention_probs_dropout_prob": args.dropout})
        config = model.config
        if config.vocab_size != len(tok):
            raise ValueError(f"--init {args.init} has a vocabulary of {config.vocab_size} tokens but --vocab has "
                             f"{len(tok)}; pass the vocab.txt the model was trained with")
        if config.max_position_embeddings < args.seq_len:
            raise ValueError(f"--seq-len {args.seq_len} exceeds the max_position_embeddings="
                             f"{config.max_position_embeddings} of --init {args.init}")
        model.set_train(True)
    else:
        model = BertForPreTraining(BertConfig.preset(
            args.config, vocab_size=len(tok), max_position_embeddings=max(args.seq_len, 128),
            hidden_dropout_prob=args.dropout, attention_probs_dropout_prob=args.dropout, initializer_range=init_range))
    if dist.is_main:
        what = args.config if args.init is None else f"from {args.init}"  # --init keeps that model's shape
        print(f"[bert_ms] pretrain {what}: {len(train['input_ids'])} train / {len(held['input_ids'])} held-out "
              f"sequences of {args.seq_len} tokens, vocab {len(tok)}, {dev}")
    trainer = Trainer(model, PretrainingTask(), train, _trainer_config(args), dev_data=held, out_dir=out)
    state = trainer.fit(until_step=args.stop_at, resume=args.resume)
    metrics = evaluate(model, PretrainingTask(), held, batch_size=args.batch_size)
    if dist.is_main:
        weights.save_pretrained(model, out / "model", vocab_file=vocab)
        _write_json(out / "eval.json", {"step": state.step, "split": "held-out", **metrics})
        print(json.dumps({"step": state.step, **{k: round(v, 4) for k, v in metrics.items()}}))
    return 0


# ----------------------------------------------------------------------------------------------
# finetune / evaluate / predict
# ----------------------------------------------------------------------------------------------

TASKS = ("spam", "sentiment", "same_speech", "pos")
TOKEN_TASKS = ("pos",)  # one label per word; the others have one label per text (or text pair)


def load_task_data(task: str, split: str) -> tuple[list[str], list[str] | None, np.ndarray]:
    """(texts, text pairs or None, labels) of a sequence-classification task's split."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if task == "spam":
        from bert_ms.data import load_spam

        texts, labels = load_spam(split)
        return texts, None, labels
    if task == "same_speech":
        from bert_ms.data import load_sotu
        from bert_ms.train.tasks import same_speech_pairs

        a, b, y = same_speech_pairs(load_sotu(split), seed={"train": 0, "dev": 1, "test": 2}[split])
        return a, b, y
    if task == "sentiment":
        from bert_ms.train.tasks import sentiment_split

        texts, labels = sentiment_split(split)
        return texts, None, labels
    raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")


def task_label_names(task: str) -> list[str]:
    """The label names of a fine-tuning task, in label-id order (``pos``: People's Daily's 44 tags)."""
    if task == "pos":
        from bert_ms.train.tasks import pos_split

        return pos_split("dev")[1]
    if task not in LABEL_NAMES:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    return list(LABEL_NAMES[task])


def task_arrays(task: str, split: str, tokenizer, seq_len: int) -> dict[str, np.ndarray]:
    """A task's split as the Trainer's arrays: encoded texts (+ pairs) and ``labels`` ([N], or [N, T]
    with -100 on ignored positions for ``pos``, see :func:`bert_ms.tasks.token_tag_arrays`)."""
    if task == "pos":
        from bert_ms.train.tasks import pos_split, token_tag_arrays

        tagged, tags = pos_split(split)
        return token_tag_arrays(tagged, tokenizer, tags, seq_len)
    texts, pairs, labels = load_task_data(task, split)
    return {**encode_texts(tokenizer, texts, seq_len, pairs), "labels": labels}


def build_task(task: str):
    """The :class:`~bert_ms.tasks.Task` (loss and metrics) of a fine-tuning task."""
    from bert_ms.train.tasks import SequenceClassificationTask, TokenClassificationTask

    n = len(task_label_names(task))
    return TokenClassificationTask(n, name=task) if task in TOKEN_TASKS else SequenceClassificationTask(n, name=task)


def task_head(task: str) -> str:
    return "token_classification" if task in TOKEN_TASKS else "sequence_classification"


def add_finetune_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", default="spam", choices=TASKS)
    p.add_argument("--init", required=True, help="pretrained model folder (HF format or a pretrain run), or 'random'")
    p.add_argument("--config", default="mini",
                   help="for --init random: a preset, or a model folder whose config.json gives the shape")
    p.add_argument("--vocab", default=None, help="vocab for --init random: bert-base-uncased (default), bert-base-chinese or a vocab.txt")
    p.add_argument("--patience", type=int, default=None, help="early stopping: evaluations without improvement")
    p.add_argument("--max-train", type=int, default=None, help="train on a random subset of this many examples")
    _common_train_args(p, steps=300, batch=32, seq=128, lr=1e-4)


def build_classifier(init: str, num_labels: int, config: str = "mini", vocab: str | None = None, seed: int = 0,
                     head: str = "sequence_classification"):
    """(model, tokenizer, vocab path): from a pretrained folder, or randomly initialised.

    For ``init="random"``, ``config`` is a preset name, or a model folder: then the random model has
    exactly that model's shape (positions included), the fair "no pretraining" control. ``head`` is
    ``sequence_classification`` (one label per text, on [CLS]) or ``token_classification``."""
    import mindspore as ms

    from bert_ms.bert.config import BertConfig
    from bert_ms.bert.model import HEADS, load_pretrained
    from bert_ms.bert.tokenization import BertTokenizer

    ms.set_seed(seed)
    if init == "random":
        vocab_path = resolve_vocab(vocab or "bert-base-uncased", Path("."))
        tok = BertTokenizer(vocab_path)
        if (Path(config) / "config.json").is_file():
            shape = BertConfig.from_json_file(Path(config) / "config.json")
            shape.vocab_size = len(tok)
        else:
            shape = BertConfig.preset(config, vocab_size=len(tok))
        return HEADS[head](shape, num_labels=num_labels), tok, vocab_path
    folder = model_dir(init)
    vocab_path = folder / "vocab.txt"
    if vocab is not None:
        vocab_path = resolve_vocab(vocab, Path("."))
    if not vocab_path.is_file():
        raise FileNotFoundError(f"{folder} has no vocab.txt; pass --vocab")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the pretraining head's tensors are not used by a classifier
        # fine-tuning dropout is BERT's 0.1 (sec. A.3), also for a model pretrained with --dropout 0
        model = load_pretrained(folder, head=head, num_labels=num_labels,
                                config_overrides={"hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1})
    return model, BertTokenizer(vocab_path), vocab_path


def run_finetune(args: argparse.Namespace) -> int:
    from bert_ms.bert import weights
    from bert_ms.train.trainer import Trainer, evaluate

    if args.init != "random":
        model_dir(args.init)
    _, dist = setup(args, args.seed)
    names = task_label_names(args.task)
    model, tok, vocab = build_classifier(args.init, len(names), args.config, args.vocab, args.seed,
                                         head=task_head(args.task))
    train = task_arrays(args.task, "train", tok, args.seq_len)
    if args.max_train:  # a seeded random subset (the split files are ordered by label)
        keep = np.sort(np.random.default_rng(args.seed).permutation(len(train["labels"]))[:args.max_train])
        train = {k: v[keep] for k, v in train.items()}
    dev = task_arrays(args.task, "dev", tok, args.seq_len)
    task = build_task(args.task)
    out = Path(args.out)
    trainer = Trainer(model, task, train, _trainer_config(args, patience=args.patience), dev_data=dev, out_dir=out)
    state = trainer.fit(until_step=args.stop_at, resume=args.resume)
    metrics = evaluate(model, task, task_arrays(args.task, "test", tok, args.seq_len), batch_size=args.batch_size)
    if dist.is_main:
        weights.save_pretrained(model, out / "model", vocab_file=vocab, label_names=names)
        _write_json(out / "test.json", {"step": state.step, "init": args.init, "split": "test", **metrics})
        print(json.dumps({"task": args.task, "init": args.init, "step": state.step,
                          **{k: round(v, 4) for k, v in metrics.items()}}))
    return 0


def add_evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model folder (HF format, with vocab.txt)")
    p.add_argument("--task", default="spam", choices=(*TASKS, "pretraining"))
    p.add_argument("--split", default="test", choices=SPLITS)
    p.add_argument("--corpus", default="sotu", help="for --task pretraining")
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=1)


def run_evaluate(args: argparse.Namespace) -> int:
    from bert_ms.bert.model import load_pretrained
    from bert_ms.bert.tokenization import BertTokenizer
    from bert_ms.train.tasks import PretrainingTask
    from bert_ms.train.trainer import evaluate

    folder = model_dir(args.model)
    setup(args, args.seed)
    tok = BertTokenizer(resolve_vocab(str(folder), folder))
    if args.task == "pretraining":
        docs = read_corpus(args.corpus)[1] if args.split == "dev" or args.corpus != "sotu" else None
        if docs is None:
            from bert_ms.data import load_sotu

            docs = load_sotu(args.split)
        arrays = pretraining_arrays(docs, tok, args.seq_len, max(1, round(0.15 * args.seq_len)), args.seed, 1)
        model = load_pretrained(folder, head="pretraining")
        metrics = evaluate(model, PretrainingTask(), arrays, args.batch_size)
    else:
        model = load_pretrained(folder, head=task_head(args.task), num_labels=len(task_label_names(args.task)))
        metrics = evaluate(model, build_task(args.task), task_arrays(args.task, args.split, tok, args.seq_len),
                           args.batch_size)
    print(json.dumps({"model": str(folder), "task": args.task, "split": args.split,
                      **{k: round(v, 4) for k, v in metrics.items()}}))
    return 0


def add_predict_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model folder (HF format, with vocab.txt)")
    p.add_argument("--task", default="spam", choices=(*TASKS, "fill-mask"))
    p.add_argument("--file", default=None, help="a text file, one input per line")
    p.add_argument("--labels", default=None, help="comma-separated label names (default: task's)")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("texts", nargs="*", help="texts to classify (or with [MASK] for fill-mask)")


LABEL_NAMES = {"spam": ("ham", "spam"), "sentiment": ("negative", "positive"), "same_speech": ("different", "same")}


def fill_mask(model, tokenizer, text: str, top_k: int = 5, seq_len: int = 128) -> list[list[tuple[str, float]]]:
    """Top-k (token, probability) for every ``[MASK]`` in ``text`` (BERT's masked LM head)."""
    import mindspore as ms

    enc = encode_texts(tokenizer, [text], seq_len)
    pos = np.where(enc["input_ids"][0] == tokenizer.mask_token_id)[0]
    if len(pos) == 0:
        raise ValueError(f"no [MASK] in {text!r}")
    logits, _ = model(*(ms.Tensor(enc[k]) for k in ("input_ids", "token_type_ids", "attention_mask")),
                      ms.Tensor(pos[None].astype(np.int32)))
    logits = logits.asnumpy()[0].astype(np.float64)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    out = []
    for row in probs:
        top = np.argsort(-row)[:top_k]
        out.append([(tokenizer.convert_ids_to_tokens(int(i)), float(row[i])) for i in top])
    return out


def run_predict(args: argparse.Namespace) -> int:
    import mindspore as ms

    from bert_ms.bert.model import load_pretrained
    from bert_ms.bert.tokenization import BertTokenizer

    folder = model_dir(args.model)
    texts = list(args.texts)
    if args.file:
        path = Path(args.file)
        if not path.is_file():
            raise FileNotFoundError(f"input file not found: {args.file}")
        texts += [t for t in path.read_text(encoding="utf-8").splitlines() if t.strip()]
    if not texts:
        raise ValueError("no input: give texts on the command line or --file")
    setup(args, 0)
    tok = BertTokenizer(resolve_vocab(str(folder), folder))
    if args.task == "fill-mask":
        model = load_pretrained(folder, head="pretraining")
        for t in texts:
            for i, preds in enumerate(fill_mask(model, tok, t, args.top_k, args.seq_len)):
                print(f"{t}\t[MASK]{i + 1}\t" + "  ".join(f"{w} {p:.3f}" for w, p in preds))
        return 0
    if args.task in TOKEN_TASKS:
        return _predict_tags(folder, tok, texts, args.seq_len)
    cfg = json.loads((folder / "config.json").read_text())
    n = len(cfg.get("id2label", {})) or 2
    names = args.labels.split(",") if args.labels else list(LABEL_NAMES.get(args.task, [str(i) for i in range(n)]))
    model = load_pretrained(folder, head="sequence_classification", num_labels=len(names))
    enc = encode_texts(tok, texts, args.seq_len)
    logits = model(*(ms.Tensor(enc[k]) for k in ("input_ids", "token_type_ids", "attention_mask"))).asnumpy()
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    for t, p in zip(texts, probs):
        k = int(p.argmax())
        short = t if len(t) <= 60 else t[:57] + "..."
        print(f"{names[k]}\t{p[k]:.3f}\t{short}")
    sys.stdout.flush()
    return 0


def _predict_tags(folder: Path, tokenizer, texts: list[str], seq_len: int) -> int:
    """``word/TAG`` for each whitespace-separated word (People's Daily is segmented into words: give
    ``迈向 充满 希望 的 新 世纪``). Tag names come from the model's config.json ``id2label``."""
    import mindspore as ms

    from bert_ms.bert.model import load_pretrained
    from bert_ms.train.tasks import token_tag_arrays

    id2label = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("id2label") or {}
    names = [id2label[str(i)] for i in range(len(id2label))]
    if not names:
        raise ValueError(f"{folder}/config.json has no id2label: is it a token classifier saved by finetune?")
    model = load_pretrained(folder, head="token_classification", num_labels=len(names))
    for text in texts:
        words = text.split()
        enc = token_tag_arrays([[(w, names[0]) for w in words]], tokenizer, names[:1], seq_len)
        logits = model(*(ms.Tensor(enc[k]) for k in ("input_ids", "token_type_ids", "attention_mask"))).asnumpy()[0]
        first = np.where(enc["labels"][0] >= 0)[0]  # each word's first piece carries its tag
        tagged = [f"{w}/{names[int(logits[i].argmax())]}" for w, i in zip(words, first)]
        print(" ".join(tagged + words[len(first):]))  # words past seq_len are printed untagged
    sys.stdout.flush()
    return 0
