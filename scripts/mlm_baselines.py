"""Two non-neural baselines for masked-token accuracy (掩码词预测准确率), to put a BERT's number in context.

* unigram: always predict the most frequent training token (what an MLM learns first);
* neighbours: predict the token seen most often between the same left and right neighbours in the
  training text (falling back to the left neighbour alone, then to the unigram). It sees only one
  token on each side, and those may themselves be [MASK] or random, exactly as BERT sees them.

Both are scored on the same held-out examples as ``python -m bert_ms evaluate --task pretraining``
(same split, sequence length, masking seed). Usage::

    python scripts/mlm_baselines.py --vocab models/mini-bert-sotu/vocab.txt --split test --seq-len 128

A BERT that does not beat "neighbours" has not yet learned to use more than the adjacent words.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict

import numpy as np

from bert_ms.commands import pretraining_arrays
from bert_ms.data import load_sotu
from bert_ms.tokenization import BertTokenizer


def unmask(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """The original token ids: the masked positions put back."""
    ids = arrays["input_ids"].copy()
    rows, cols = np.nonzero(arrays["masked_lm_weights"] > 0)
    ids[rows, arrays["masked_lm_positions"][rows, cols]] = arrays["masked_lm_ids"][rows, cols]
    return ids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vocab", required=True)
    ap.add_argument("--split", default="test", choices=("dev", "test"))
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--seed", type=int, default=1, help="masking seed (evaluate's default)")
    args = ap.parse_args()
    tok = BertTokenizer(args.vocab)
    max_pred = max(1, round(0.15 * args.seq_len))
    train = unmask(pretraining_arrays(load_sotu("train"), tok, args.seq_len, max_pred, 0, 1))
    held = pretraining_arrays(load_sotu(args.split), tok, args.seq_len, max_pred, args.seed, 1)

    left, mid, right = train[:, :-2].ravel(), train[:, 1:-1].ravel(), train[:, 2:].ravel()
    unigram = int(np.bincount(mid).argmax())
    both: dict[tuple[int, int], Counter] = defaultdict(Counter)
    left_only: dict[int, Counter] = defaultdict(Counter)
    for a, b, c in zip(left.tolist(), mid.tolist(), right.tolist()):
        both[(a, c)][b] += 1
        left_only[a][b] += 1

    ids = held["input_ids"]
    n = hit_unigram = hit_neighbours = 0
    rows, cols = np.nonzero(held["masked_lm_weights"] > 0)
    for r, c in zip(rows, cols):
        pos, target = int(held["masked_lm_positions"][r, c]), int(held["masked_lm_ids"][r, c])
        a = int(ids[r, pos - 1]) if pos > 0 else -1
        b = int(ids[r, pos + 1]) if pos + 1 < ids.shape[1] else -1
        counts = both.get((a, b)) or left_only.get(a)
        guess = counts.most_common(1)[0][0] if counts else unigram
        n += 1
        hit_unigram += target == unigram
        hit_neighbours += target == guess
    print(json.dumps({"split": args.split, "seq_len": args.seq_len, "masked_tokens": n,
                      "unigram_accuracy": round(hit_unigram / n, 4),
                      "unigram_token": tok.convert_ids_to_tokens([unigram])[0],
                      "neighbours_accuracy": round(hit_neighbours / n, 4)}))


if __name__ == "__main__":
    main()
