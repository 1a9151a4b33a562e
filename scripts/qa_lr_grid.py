"""The learning rate of lesson 09's email QA, chosen on the dev questions: the record the notebook reads.

Everything is lesson 09's section 3 but the rate: MiniLM (all-MiniLM-L6-v2) with BertForQuestionAnswering's
head (seed 0), the answer-disjoint split of :func:`bert_ms.data.email_qa_splits` (600 training questions,
100 per type; 120 dev questions about the dev emails, none of whose answers is a training answer), windows
of 128 tokens every 64 context pieces, every window holding the answer plus one without it per question,
AdamW with 10 % warm-up then linear decay, batch 16, 150 steps, seed 0, the fused CPU kernels. Each rate's
dev exact match and F1 (answers up to 48 pieces) is one JSON line in ``--out``; rates already there are
skipped. Grid: 1e-4 and 3e-4 (google-research/bert's small-model rates; 3e-4 is what MiniLM chose on spam in
lesson 08) and one step beyond, 1e-3. The test questions are not touched here.

    nice python scripts/qa_lr_grid.py --out scripts/results/qa_lr_grid.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("GLOG_v", "3")

import mindspore as ms  # noqa: E402

from bert_ms import data, device  # noqa: E402
from bert_ms.bert import qa  # noqa: E402
from bert_ms.bert.model import load_pretrained  # noqa: E402
from bert_ms.bert.tokenization import BertTokenizer, bert_base_uncased_vocab  # noqa: E402
from bert_ms.train import tasks  # noqa: E402
from bert_ms.train.trainer import Trainer, TrainerConfig  # noqa: E402

GRID = (1e-4, 3e-4, 1e-3)
MAX_LEN, STRIDE, MAX_ANSWER, STEPS, BATCH = 128, 64, 48, 150, 16


def run_one(lr: float, split: dict, predictions: Path | None = None) -> dict:
    minilm = bert_base_uncased_vocab().parent
    tok = BertTokenizer(minilm / "vocab.txt")
    ms.set_seed(0)
    model = load_pretrained(minilm, head="question_answering")
    arrays = qa.training_windows(split["train"], tok, MAX_LEN, STRIDE, seed=0, negatives=1)
    cfg = TrainerConfig(total_steps=STEPS, batch_size=BATCH, lr=lr, warmup_ratio=0.1, seed=0, log_every=10,
                        progress=False, fused=True)
    model.set_train(True)
    t0 = time.time()
    Trainer(model, tasks.QuestionAnsweringTask(), arrays, cfg).fit()
    seconds = time.time() - t0
    scores = qa.evaluate_answers(model, tok, split["dev"], MAX_LEN, STRIDE, MAX_ANSWER)
    if predictions is not None:  # every split's answers, kept apart from the record (which holds dev only)
        said = {}
        for name in ("dev", "test", "test_seen"):
            recs = split[name]
            said[name] = [p[0] for p in qa.predict_answers(model, tok, [r["question"] for r in recs],
                                                            [r["context"] for r in recs], MAX_LEN, STRIDE, MAX_ANSWER)]
        predictions.mkdir(parents=True, exist_ok=True)
        (predictions / f"qa_answers_lr{lr:g}.json").write_text(json.dumps(said))
    return {"task": "email_qa", "split": "dev", "lr": lr, "steps": STEPS, "batch_size": BATCH, "seed": 0,
            "max_length": MAX_LEN, "stride": STRIDE, "train_questions": len(split["train"]),
            "dev_questions": scores["questions"], "exact_match": round(scores["exact_match"], 2),
            "f1": round(scores["f1"], 2), "train_seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--lr", type=float, nargs="*", default=list(GRID))
    parser.add_argument("--predictions", type=Path, default=None,
                        help="a folder for every split's answers (for checking a notebook run against)")
    args = parser.parse_args()
    device.setup("CPU", mode="graph", seed=0)
    done = set()
    if args.out.exists():
        done = {json.loads(line)["lr"] for line in args.out.read_text().splitlines() if line.strip()}
    split = data.email_qa_splits()
    for lr in args.lr:
        if lr in done:
            continue
        row = run_one(lr, split, args.predictions)
        print(json.dumps(row), flush=True)
        with args.out.open("a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
