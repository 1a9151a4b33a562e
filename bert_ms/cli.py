"""The ``bert-ms`` command line (命令行): ``python -m bert_ms <command>``.

Commands: ``info``, ``pretrain``, ``finetune``, ``evaluate``, ``predict``, ``selftest`` (:mod:`bert_ms.selftest`)
and ``exercises`` (your exercise record). They build the objects the notebooks build (tokenizer, model, the
task registry's :class:`~bert_ms.train.tasks.TaskSpec`, the :class:`~bert_ms.train.trainer.Trainer`) and
call the same library functions, so a command and a notebook cell give the same numbers. This file is
only argparse plus one ``run_*`` function per command. Examples::

    python -m bert_ms pretrain --config mini --corpus sotu --vocab train --out runs/mini --steps 3000 --seq-len 64
    python -m bert_ms pretrain ... --resume          # continue exactly where the last checkpoint was
    python -m bert_ms finetune --task spam --init runs/mini/model --out runs/spam
    python -m bert_ms evaluate --model runs/spam/model --task spam --split test
    python -m bert_ms predict --model runs/spam/model --task spam "Win a FREE cruise now!!!"
    python -m bert_ms predict --model runs/mini/model --task fill-mask "the [MASK] of the union is strong"

Every error a user can cause -- a bad argument, a missing or corrupt file, a used ``--out``, a device this
machine lacks, a full disk -- ends with one line ``bert-ms: error: ...``, exit 2 (``BERT_MS_DEBUG=1``: the traceback).

What a run folder (``--out``) holds, and when a second run may use it: :mod:`bert_ms.train.run_folder`.

MindSpore is imported only inside the ``run_*`` functions, so ``bert-ms --help`` answers at once.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bert_ms.bert.config import read_model_config
from bert_ms.bert.pretraining import cached_pretraining_arrays
from bert_ms.bert.tokenization import BertTokenizer
from bert_ms.data import SPLITS, ChecksumError, digest, seeded_rows, sha256_of
from bert_ms.runtime import arguments as argtype
from bert_ms.runtime import device, distributed, settings
from bert_ms.runtime.device import MODES, PRECISIONS, DeviceError
from bert_ms.runtime.files import atomic_write_bytes
from bert_ms.runtime.messages import shorten
from bert_ms.runtime.settings import MissingPackageError
from bert_ms.runtime.user_text import field, input_texts
from bert_ms.train.checkpoint import CheckpointError
from bert_ms.train.corpora import read_corpus
from bert_ms.train.run_folder import RunFolderError, open_run

__version__ = sys.modules[__package__].__version__  # the parent package, always loaded before this module
TEXT_LIMIT = 60      # characters of an input shown in a message or a prediction line
MESSAGE_LIMIT = 500  # characters of one error line


class CliError(Exception):
    """A problem with what the user asked for (an argument, a run folder, an input file). One line."""


class _Parser(argparse.ArgumentParser):
    """argparse, with errors as one line (``bert-ms: error: pretrain: argument --steps: ...``)."""

    def error(self, message: str):
        raise CliError(f"{self.prog.removeprefix('bert-ms ')}: {message} (see {self.prog} --help)")


def setup(args: argparse.Namespace, seed: int = 0):
    """Device switch + (under msrun) data parallelism; returns (DeviceInfo, DistInfo)."""
    dev = device.setup(target=args.device, mode=args.mode, precision=args.precision, seed=seed,
                       verbose=distributed.launched_by_msrun() is False)
    return dev, distributed.init()


def _add_device_args(p: argparse.ArgumentParser) -> None:
    # None = not given: BERT_MS_DEVICE / _PRECISION / _MODE apply, else auto / fp32 / graph (a flag always wins)
    p.add_argument("--device", default=None, help="auto, CPU, GPU or Ascend (default: BERT_MS_DEVICE, else auto)")
    p.add_argument("--precision", default=None, choices=PRECISIONS, help="default: BERT_MS_PRECISION, else fp32")
    p.add_argument("--mode", default=None, choices=MODES, help="default: BERT_MS_MODE, else graph")


def _add_fused_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fused", action=argparse.BooleanOptionalAction, default=None, help="CPU only: bert_ms.accel's fused C++ "
                   "kernels (same results within 1e-6). Default: on where make setup built them; --fused also builds them, "
                   "--no-fused uses MindSpore's ops")


def _add_train_args(p: argparse.ArgumentParser, steps: int, batch: int, seq: int, lr: float) -> None:
    p.add_argument("--out", required=True, type=argtype.folder_name, help="run folder: run.json, checkpoints/, metrics.jsonl, model/")
    p.add_argument("--steps", type=argtype.POSITIVE_INT, default=steps, help="optimizer steps (schedule length)")
    p.add_argument("--batch-size", type=argtype.POSITIVE_INT, default=batch,
                   help="global batch size (all workers together)")
    p.add_argument("--accum", type=argtype.POSITIVE_INT, default=1, help="gradient accumulation steps")
    p.add_argument("--seq-len", type=argtype.int_at_least(8), default=seq, help="tokens per sequence, [CLS]/[SEP] included")
    p.add_argument("--lr", type=argtype.POSITIVE_FLOAT, default=lr, help="peak learning rate (> 0)")
    p.add_argument("--warmup", type=argtype.float_in(0.0), default=0.1, help="warmup: fraction of steps (<1) or a step count")
    p.add_argument("--decay", default="linear", choices=("linear", "poly", "cosine", "constant"))
    p.add_argument("--save-every", type=argtype.POSITIVE_INT, default=None,
                   help="checkpoint every N steps (default: only at the end)")
    p.add_argument("--eval-every", type=argtype.POSITIVE_INT, default=None,
                   help="evaluate on dev every N steps (default: only at the end)")
    p.add_argument("--log-every", type=argtype.POSITIVE_INT, default=10)
    p.add_argument("--seed", type=argtype.seed_value, default=0)
    p.add_argument("--resume", action="store_true", help="continue from the newest good checkpoint in --out "
                                                         "(an error if there is none)")
    p.add_argument("--stop-at", type=argtype.int_at_least(0), default=None,
                   help="stop after this step (the schedule still spans --steps; --resume continues later)")
    _add_fused_arg(p)
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar (logs still go to metrics.jsonl)")


def _trainer_signature(args: argparse.Namespace) -> dict:
    """The training settings a resumed run must share (TrainerConfig.signature, from the arguments)."""
    return {"steps": args.steps, "batch_size": args.batch_size, "accum": args.accum, "lr": args.lr,
            "warmup": args.warmup, "decay": args.decay, "seed": args.seed}


def _trainer_config(args: argparse.Namespace, **kw):
    from bert_ms.train.trainer import TrainerConfig

    warm = {"warmup_ratio": args.warmup} if args.warmup < 1 else {"warmup_steps": int(args.warmup)}
    kw.setdefault("fused", args.fused)
    return TrainerConfig(total_steps=args.steps, batch_size=args.batch_size, grad_accum_steps=args.accum,
                         lr=args.lr, decay=args.decay, save_every=args.save_every or 0,
                         eval_every=args.eval_every or 0, log_every=args.log_every, seed=args.seed,
                         progress=not args.no_progress, **warm, **kw)


def run_info(args: argparse.Namespace) -> int:
    from bert_ms.accel import fused
    from bert_ms.runtime.install import info_lines

    print("\n".join(info_lines(__version__, fused.state())))
    if args.device:
        device.setup(target=args.device, verbose=True)
    return 0


def add_pretrain_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="mini", help="BERT preset: tiny, mini, small, base, large")
    p.add_argument("--corpus", default="sotu", help="sotu, spam (the training emails, labels unused), "
                                                   "peoples-daily (Chinese) or a text file (one sentence per line, "
                                                   "blank line = new doc)")
    p.add_argument("--vocab", default="train", help="bert-base-uncased, bert-base-chinese, train (WordPiece on "
                                                    "the corpus) or a vocab.txt")
    p.add_argument("--vocab-size", type=argtype.int_at_least(6), default=8000, help="for --vocab train")
    p.add_argument("--max-predictions", type=argtype.POSITIVE_INT, default=None,
                   help="masked tokens per sequence (default 15%% of --seq-len)")
    p.add_argument("--dupe-factor", type=argtype.POSITIVE_INT, default=1, help="times the corpus is re-cut and re-masked")
    p.add_argument("--dropout", type=argtype.float_in(0.0, 1.0), default=0.1,
                   help="hidden and attention dropout while pretraining (BERT: 0.1; 0 learns faster on a short "
                        "budget); config.json records it")
    p.add_argument("--init", default=None,
                   help="continue from a pretrained model folder (config.json + model.safetensors), e.g. phase 1 "
                        "of BERT's two-phase recipe (short sequences first, then long; sec. A.2). Its shape, vocab "
                        "size and init range are kept; --config/--init-range are then ignored")
    p.add_argument("--init-range", type=argtype.POSITIVE_FLOAT, default=None,
                   help="std of the initial weights (config.initializer_range). Default: BERT's 0.02 scaled by "
                        "sqrt(768 / hidden), the signal gain of BERT-base (0.049 for tiny, 0.035 for mini)")
    _add_train_args(p, steps=1000, batch=32, seq=128, lr=3e-4)


def run_pretrain(args: argparse.Namespace) -> int:
    from bert_ms.bert import weights
    from bert_ms.bert.inference import resolve_vocab, vocab_file
    from bert_ms.train.evaluation import evaluate
    from bert_ms.train.pretraining_start import initial_model, initial_settings
    from bert_ms.train.tasks import PretrainingTask
    from bert_ms.train.trainer import Trainer

    max_pred = args.max_predictions or max(1, round(0.15 * args.seq_len))
    if max_pred > args.seq_len - 3:
        raise CliError(f"--max-predictions {max_pred} leaves no room in --seq-len {args.seq_len} "
                       "([CLS], two [SEP] and at least one unmasked token)")
    out = Path(args.out)
    train_docs, dev_docs = read_corpus(args.corpus)  # errors before the slow device setup
    init_range, args.vocab = initial_settings(args.init, args.config, args.seq_len, args.vocab, args.init_range)
    vocab_sha = None if args.vocab == "train" else sha256_of(vocab_file(args.vocab))
    corpus_sha = digest([train_docs, dev_docs])
    signature = {"command": "pretrain", "config": None if args.init else args.config, "init": args.init,
                 "init_range": init_range, "dropout": args.dropout, "corpus_sha256": corpus_sha,
                 "vocab": "train" if vocab_sha is None else vocab_sha,
                 "vocab_size": args.vocab_size if vocab_sha is None else None, "seq_len": args.seq_len,
                 "max_predictions": max_pred, "dupe_factor": args.dupe_factor, **_trainer_signature(args)}

    dev, dist = setup(args, args.seed)
    with open_run(out, "pretrain", signature, args.resume, args.command_line, dist.is_main) as run:
        recorded = (run.previous or {}).get("vocab_sha256")  # the vocabulary the run in --out trained with
        if vocab_sha is None and recorded and not (out / "vocab.txt").is_file():
            raise CliError(f"{out / 'vocab.txt'} is missing, and the run in {out} was trained with it; "
                           "choose a new --out folder")
        run.start(vocab_sha256=recorded)
        # under msrun every worker trains the (identical) vocabulary; only rank 0 writes it into --out
        vocab = resolve_vocab(args.vocab, out if dist.is_main else out / f".rank{dist.rank}", train_docs,
                              args.vocab_size)
        actual = sha256_of(vocab)
        if recorded is not None and actual != recorded:
            raise CliError(f"{vocab} is not the vocabulary this run was trained with (its SHA-256 differs from "
                           "run.json's): it is damaged or was replaced; choose a new --out folder")
        tok = BertTokenizer(vocab)
        if recorded is None:
            run.start(vocab_sha256=actual)
        key = {"corpus_sha256": corpus_sha, "vocab_sha256": actual}
        train = cached_pretraining_arrays(train_docs, tok, args.seq_len, max_pred, args.seed, args.dupe_factor,
                                          out / "data" if dist.is_main or dist.world_size == 1 else None, key)
        held = cached_pretraining_arrays(dev_docs, tok, args.seq_len, max_pred, args.seed + 1, 1, None, key)
        model = initial_model(args.init, args.config, len(tok), args.seq_len, args.dropout, init_range, args.seed)
        if dist.is_main:
            what = args.config if args.init is None else f"from {args.init}"  # --init keeps that model's shape
            print(f"[bert_ms] pretrain {what}: {len(train['input_ids'])} train / {len(held['input_ids'])} "
                  f"held-out sequences of {args.seq_len} tokens, vocab {len(tok)}, {dev}")
        trainer = Trainer(model, PretrainingTask(), train, _trainer_config(args), dev_data=held, out_dir=out)
        state = trainer.fit(until_step=args.stop_at, resume=args.resume)
        metrics = evaluate(model, PretrainingTask(), held, batch_size=args.batch_size)
        run.finish(vocab_sha256=actual)
        if dist.is_main:
            weights.save_pretrained(model, out / "model", vocab_file=vocab)
            atomic_write_bytes(out / "eval.json", json.dumps({"step": state.step, "split": "held-out", **metrics},
                                                             indent=1).encode())
            print(json.dumps({"step": state.step, **{k: round(v, 4) for k, v in metrics.items()}}))
    return 0


def _task_names() -> list[str]:
    """The registered tasks (:data:`bert_ms.train.tasks.TASKS`), read only when argparse needs them (--help stays fast)."""
    from bert_ms.train.tasks import TASKS

    return list(TASKS)


def add_finetune_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", default="spam", choices=argtype.LazyChoices(_task_names), metavar="TASK",
                   help="a registered task: %(choices)s")
    p.add_argument("--init", required=True, help="pretrained model folder (HF format or a pretrain run), a model "
                                                 "installed with the course (minilm), or 'random'")
    p.add_argument("--config", default="mini",
                   help="for --init random: a preset, or a model folder whose config.json gives the shape")
    p.add_argument("--vocab", default=None, help="vocab for --init random: bert-base-uncased (default), "
                                                 "bert-base-chinese or a vocab.txt")
    p.add_argument("--patience", type=argtype.POSITIVE_INT, default=None,
                   help="early stopping: evaluations without improvement")
    p.add_argument("--max-train", type=argtype.POSITIVE_INT, default=None, help="train on a random subset of this many examples")
    p.add_argument("--max-eval", type=argtype.POSITIVE_INT, default=None,
                   help="--task qa: score a seeded subset of this many dev/test questions (all: slow on a CPU)")
    _add_train_args(p, steps=300, batch=32, seq=128, lr=1e-4)


def run_finetune(args: argparse.Namespace) -> int:
    from bert_ms.bert import qa, weights
    from bert_ms.bert.inference import check_seq_len, check_vocab, model_dir, vocab_file
    from bert_ms.bert.tokenization import load_vocab
    from bert_ms.train.evaluation import evaluate
    from bert_ms.train.tasks import build_classifier, get_task
    from bert_ms.train.trainer import Trainer

    spec = get_task(args.task)
    if args.max_eval is not None and spec.input_kind != "qa":
        raise CliError(f"--max-eval applies to --task qa only (the {args.task} dev and test sets are scored whole)")
    if args.init != "random":  # errors before the slow device setup
        init = model_dir(args.init)
        init_config = read_model_config(init)[0]
        check_seq_len(init_config, args.seq_len, f"--init {args.init}")
        if args.vocab is None and not (init / "vocab.txt").is_file():
            raise FileNotFoundError(f"{init} has no vocab.txt; pass --vocab")
        vocab_path = vocab_file(args.vocab) if args.vocab is not None else init / "vocab.txt"
        check_vocab(init_config, len(load_vocab(vocab_path)), vocab_path, f"--init {args.init}")
    if args.vocab is not None:
        vocab_file(args.vocab)
    out = Path(args.out)
    signature = {"command": "finetune", "task": args.task, "init": args.init,
                 "config": args.config if args.init == "random" else None, "vocab": args.vocab,
                 "seq_len": args.seq_len, "max_train": args.max_train, "patience": args.patience,
                 "eval_every": args.eval_every, **_trainer_signature(args)}
    _, dist = setup(args, args.seed)
    with open_run(out, "finetune", signature, args.resume, args.command_line, dist.is_main) as run:
        run.start()
        names = spec.label_names()
        model, tok, vocab = build_classifier(args.init, len(names), args.config, args.vocab, args.seed, head=spec.head)
        check_seq_len(model.config, args.seq_len, f"the {args.config} model")
        if spec.input_kind == "qa":  # windows of questions; --max-train / --max-eval count questions
            train = qa.question_windows(spec.load("train"), tok, args.seq_len, args.max_train, args.seed)
            dev_arrays = qa.question_windows(spec.load("dev"), tok, args.seq_len, args.max_eval, args.seed)
        else:  # --max-train: a seeded random subset (the split files are ordered by label)
            train = seeded_rows(spec.arrays("train", tok, args.seq_len), args.max_train, args.seed)
            dev_arrays = spec.arrays("dev", tok, args.seq_len)
        task = spec.task(len(names))
        trainer = Trainer(model, task, train, _trainer_config(args, patience=args.patience), dev_data=dev_arrays,
                          out_dir=out)
        state = trainer.fit(until_step=args.stop_at, resume=args.resume)
        if spec.input_kind == "qa":  # SQuAD's exact match and F1 over the test questions
            metrics = qa.question_scores(model, tok, spec.load("test"), args.seq_len, args.max_eval, args.seed,
                                         args.batch_size)
        else:
            metrics = evaluate(model, task, spec.arrays("test", tok, args.seq_len), batch_size=args.batch_size)
        run.finish()
        if dist.is_main:
            weights.save_pretrained(model, out / "model", vocab_file=vocab,
                                    label_names=None if spec.input_kind == "qa" else names)
            atomic_write_bytes(out / "test.json", json.dumps({"step": state.step, "init": args.init, "split": "test",
                                                              **metrics}, indent=1).encode())
            print(json.dumps({"task": args.task, "init": args.init, "step": state.step,
                              **{k: round(v, 4) for k, v in metrics.items()}}))
    return 0


def add_evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model folder (HF format, with vocab.txt)")
    p.add_argument("--task", default="spam", choices=argtype.LazyChoices(_task_names, "pretraining"), metavar="TASK",
                   help="%(choices)s")
    p.add_argument("--split", default="test", choices=SPLITS)
    p.add_argument("--corpus", default="sotu", help="for --task pretraining: a named corpus (its --split) or a "
                                                   "text file (its held-out tail)")
    p.add_argument("--seq-len", type=argtype.int_at_least(2), default=None,
                   help="tokens per sequence (default 128, or the model's max_position_embeddings if fewer)")
    p.add_argument("--batch-size", type=argtype.POSITIVE_INT, default=32)
    p.add_argument("--seed", type=argtype.seed_value, default=1)
    p.add_argument("--max-eval", type=argtype.POSITIVE_INT, default=None,
                   help="score a seeded subset of this many examples (questions for --task qa, sequences for "
                        "pretraining)")


def _open_model(args: argparse.Namespace, folder: Path, head: str | None = None):
    """(BertConfig, config.json dict, tokenizer) of a model folder, checked before anything compiles:
    ``--seq-len`` against its positions (left out, 128 or the model's ``max_position_embeddings`` if fewer: a
    default never exceeds the model), then ``head`` trained (if given), then its vocabulary's size."""
    from bert_ms.bert import inference

    config, raw_config = read_model_config(folder)
    if args.seq_len is None:
        args.seq_len = min(128, config.max_position_embeddings)
    inference.check_seq_len(config, args.seq_len, folder)
    if head is not None:
        inference.require_trained_head(folder, head, args.task)
    tok = BertTokenizer(inference.vocab_file(folder))
    inference.check_vocab(config, len(tok), inference.vocab_file(folder), folder)
    return config, raw_config, tok


def run_evaluate(args: argparse.Namespace) -> int:
    from bert_ms.bert import qa
    from bert_ms.bert.inference import model_dir, require_trained_head
    from bert_ms.bert.model import load_pretrained
    from bert_ms.train.evaluation import evaluate
    from bert_ms.train.tasks import PretrainingTask, get_task

    folder = model_dir(args.model)
    tok = _open_model(args, folder)[2]
    if args.task == "pretraining":
        require_trained_head(folder, "pretraining", args.task)
        docs = read_corpus(args.corpus, args.split)[1]
        setup(args, args.seed)
        arrays = cached_pretraining_arrays(docs, tok, args.seq_len, max(1, round(0.15 * args.seq_len)), args.seed,
                                           1, None, {})
        model = load_pretrained(folder, head="pretraining")
        metrics = evaluate(model, PretrainingTask(), seeded_rows(arrays, args.max_eval, args.seed), args.batch_size)
    else:
        spec = get_task(args.task)
        require_trained_head(folder, spec.head, args.task)
        arrays = None if spec.input_kind == "qa" else spec.arrays(args.split, tok, args.seq_len)
        setup(args, args.seed)
        names = spec.label_names()
        if spec.input_kind == "qa":
            metrics = qa.question_scores(load_pretrained(folder, head=spec.head), tok, spec.load(args.split),
                                         args.seq_len, args.max_eval, args.seed, args.batch_size)
        else:
            model = load_pretrained(folder, head=spec.head, num_labels=len(names))
            metrics = evaluate(model, spec.task(len(names)), seeded_rows(arrays, args.max_eval, args.seed),
                               args.batch_size)
    print(json.dumps({"model": str(folder), "task": args.task, "split": args.split,
                      **{k: round(v, 4) for k, v in metrics.items()}}))
    return 0


def add_predict_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model folder (HF format, with vocab.txt)")
    p.add_argument("--task", default="spam", choices=argtype.LazyChoices(_task_names, "fill-mask"), metavar="TASK", help="%(choices)s")
    p.add_argument("--file", default=None, help="a UTF-8 text file, one input per line")
    p.add_argument("--labels", default=None, type=argtype.label_list, help="comma-separated label names (default: the model's, else the task's)")
    p.add_argument("--top-k", type=argtype.POSITIVE_INT, default=5)
    p.add_argument("--seq-len", type=argtype.int_at_least(2), default=None,
                   help="tokens per sequence (default 128, or the model's max_position_embeddings if fewer)")
    p.add_argument("--question", default=None, help="--task qa: the question")
    p.add_argument("--context", default=None, help="--task qa: the text that holds the answer")
    p.add_argument("texts", nargs="*", help="texts to classify (or with [MASK] for fill-mask)")
    _add_fused_arg(p)


def run_predict(args: argparse.Namespace) -> int:
    from bert_ms.accel.inference import for_inference
    from bert_ms.bert import inference, qa
    from bert_ms.bert.model import load_pretrained
    from bert_ms.train.task_data import token_tag_arrays
    from bert_ms.train.tasks import get_task

    folder = inference.model_dir(args.model)
    if args.task == "qa":  # the span of --context that answers --question, with its character offsets
        if not args.question or not args.context or not args.context.strip():
            raise CliError("--task qa needs --question \"...\" and --context \"...\"")
        if args.texts or args.file:
            raise CliError("--task qa takes --question and --context, not texts or --file")
        tok = _open_model(args, folder, head="question_answering")[2]
        setup(args, 0)
        model = for_inference(load_pretrained(folder, head="question_answering"), args.fused)
        # a long context is read in windows of --seq-len tokens with a stride of half of it
        answer, start, end, score = qa.answer_question(model, tok, args.question, args.context,
                                                       max_length=args.seq_len, stride=args.seq_len // 2)
        print(f"{field(answer)}\t[{start}:{end}]\t{score:.2f}")
        sys.stdout.flush()
        return 0
    texts = input_texts(args.texts, args.file, "fill in" if args.task == "fill-mask" else "classify")
    _, raw_config, tok = _open_model(args, folder)
    if args.task == "fill-mask":
        inference.require_trained_head(folder, "pretraining", args.task)
        setup(args, 0)
        model = for_inference(load_pretrained(folder, head="pretraining"), args.fused)
        for t in texts:
            for i, preds in enumerate(inference.fill_mask(model, tok, t, args.top_k, args.seq_len)):
                print(f"{field(shorten(t, TEXT_LIMIT))}\t[MASK]{i + 1}\t" + "  ".join(f"{field(w)} {p:.3f}" for w, p in preds))
        sys.stdout.flush()
        return 0
    spec = get_task(args.task)
    inference.require_trained_head(folder, spec.head, args.task)
    if spec.input_kind == "words":
        # word/TAG for each whitespace-separated word (People's Daily is segmented: give 迈向 充满 希望 的 新 世纪)
        names = inference.tag_names(raw_config, folder)
        setup(args, 0)
        model = for_inference(load_pretrained(folder, head="token_classification", num_labels=len(names)), args.fused)
        sentences = [text.split() for text in texts]  # encoded as the tagger was fine-tuned (the tags unused)
        encoded = token_tag_arrays([[(w, names[0]) for w in s] for s in sentences], tok, names[:1], args.seq_len)
        for line in inference.tag_words(model, encoded, sentences, names):
            print(field(line))
    else:
        names = inference.class_names(raw_config, spec.label_names(), args.task, args.labels)
        setup(args, 0)
        model = for_inference(load_pretrained(folder, head=spec.head, num_labels=len(names)), args.fused)
        for t, p in zip(texts, inference.classify(model, tok, texts, args.seq_len)):
            k = int(p.argmax())
            print(f"{field(names[k])}\t{p[k]:.3f}\t{field(shorten(t, TEXT_LIMIT))}")
    sys.stdout.flush()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bert-ms", description="BERT in MindSpore: course companion")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    info = sub.add_parser("info", help="versions, devices, mode, precision and folders")
    info.add_argument("--device", help="also try to set up this device target (CPU, GPU, Ascend, auto)")
    info.set_defaults(func=run_info)
    for name, help_text, add_args, run in (
        ("pretrain", "pretrain BERT (MLM + NSP) on a corpus", add_pretrain_args, run_pretrain),
        ("finetune", "fine-tune a pretrained BERT on a task", add_finetune_args, run_finetune),
        ("evaluate", "evaluate a model folder on a task split", add_evaluate_args, run_evaluate),
        ("predict", "print predictions for texts (or [MASK] fill-ins)", add_predict_args, run_predict),
    ):
        p = sub.add_parser(name, help=help_text)
        _add_device_args(p)
        add_args(p)
        p.set_defaults(func=run)
    from bert_ms import selftest

    p = sub.add_parser("selftest", help="check this installation: a short run of every part of the course")
    selftest.add_arguments(p)
    p.set_defaults(func=selftest.run)
    p = sub.add_parser("exercises", help="your exercises: done, failing (with the last message), untouched")
    p.add_argument("--reset", action="store_true", help="clear the record")
    p.set_defaults(func=run_exercises)
    return parser


def run_exercises(args: argparse.Namespace) -> int:
    """``bert-ms exercises``: the local record of the checks a learner ran (bert_ms.exercises.record)."""
    from bert_ms.exercises import check, record

    if args.reset:
        print("exercise record cleared" if record.reset() else "no exercise record to clear")
        return 0
    print(record.report(check.all_checks()))
    return 0


ERRORS = (CliError, RunFolderError, DeviceError, ChecksumError, CheckpointError, MissingPackageError, ValueError, OSError)


def describe_error(err: BaseException) -> str:
    """One line for an error: whitespace collapsed, at most :data:`MESSAGE_LIMIT` characters."""
    if isinstance(err, OSError) and err.strerror:
        text = f"{err.strerror}: {err.filename}" if err.filename else err.strerror
    else:
        text = str(err) or type(err).__name__
    return shorten(" ".join(text.split()), MESSAGE_LIMIT)


def main(argv: list[str] | None = None) -> int:
    """Run one command; the project's own errors and OSError end as one line on stderr and exit code 2
    (``BERT_MS_DEBUG=1``: the traceback instead)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        args.command_line = " ".join(["bert-ms", *argv])  # what a run folder's lock file names
        return int(args.func(args) or 0)
    except ERRORS as err:
        if settings.debug():
            raise
        sys.stdout.flush()
        print(f"bert-ms: error: {describe_error(err)}", file=sys.stderr)
        return 2
