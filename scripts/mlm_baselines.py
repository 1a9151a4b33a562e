"""Masked-token and next-sentence accuracy of non-neural baselines (unigram, neighbour counts; token overlap of
the two segments), to put a BERT's numbers in context.

Scored on the same held-out examples as ``python -m bert_ms evaluate --task pretraining`` (same split,
sequence length and masking seed); see :func:`bert_ms.pretraining.masked_token_baselines`. Usage::

    python scripts/mlm_baselines.py --vocab models/mini-bert-sotu/vocab.txt --split test --seq-len 128
    python scripts/mlm_baselines.py --vocab bert-base-chinese --corpus peoples-daily --split test --seq-len 128
"""

from __future__ import annotations

import argparse
import json

from bert_ms.bert.inference import vocab_file
from bert_ms.bert.pretraining import (
    make_pretraining_arrays,
    masked_token_baselines,
    next_sentence_overlap_baseline,
)
from bert_ms.bert.tokenization import BertTokenizer
from bert_ms.train.corpora import NAMED_CORPORA


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vocab", required=True, help="a vocab.txt or a named vocabulary (bert-base-chinese)")
    ap.add_argument("--corpus", default="sotu", choices=sorted(NAMED_CORPORA))
    ap.add_argument("--split", default="test", choices=("dev", "test"))
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--seed", type=int, default=1, help="masking seed of the held-out split (evaluate's default)")
    args = ap.parse_args()
    tok = BertTokenizer(vocab_file(args.vocab))
    docs = NAMED_CORPORA[args.corpus]
    max_pred = max(1, round(0.15 * args.seq_len))
    train = make_pretraining_arrays(docs("train"), tok, args.seq_len, max_pred, seed=0, dupe_factor=1)
    held = make_pretraining_arrays(docs(args.split), tok, args.seq_len, max_pred, seed=args.seed, dupe_factor=1)
    special = tok.convert_tokens_to_ids(["[CLS]", "[SEP]"])
    res = masked_token_baselines(train, held, special_ids=special)
    nsp = next_sentence_overlap_baseline(train, held, special_ids=[*special, tok.convert_tokens_to_ids(["[MASK]"])[0]])
    print(json.dumps({"corpus": args.corpus, "split": args.split, "seq_len": args.seq_len, "masked_tokens": res["masked"],
                      "unigram_accuracy": round(res["unigram"], 4),
                      "unigram_token": tok.convert_ids_to_tokens(res["unigram_id"]),
                      "neighbours_accuracy": round(res["neighbours"], 4),
                      "nsp_majority": round(nsp["majority"], 4), "nsp_overlap_accuracy": round(nsp["overlap"], 4),
                      "nsp_overlap_threshold": round(nsp["threshold"], 4)}))


if __name__ == "__main__":
    main()
