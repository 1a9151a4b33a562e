"""Data parallelism with msrun on CPU: two workers end with identical weights, and the loss and
weights equal a single process that sees the same global batch."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from bert_ms.runtime import distributed
from bert_ms.train import data_parallel

REPO = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent('''
    import json, sys
    import numpy as np
    import mindspore as ms
    from mindspore import nn, ops
    from bert_ms.runtime import device
    from bert_ms.runtime import distributed
    from bert_ms.train.tasks import SequenceClassificationTask
    from bert_ms.train.trainer import Trainer, TrainerConfig

    out = sys.argv[1]
    device.setup("CPU", mode="graph", verbose=False)
    dist = distributed.init()

    class Net(nn.Cell):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(30, 16)
            self.norm = nn.LayerNorm((16,))
            self.out = nn.Dense(16, 2)

        def construct(self, ids):
            return self.out(ops.tanh(self.norm(self.emb(ids))).mean(1))

    rng = np.random.default_rng(0)
    data = {"ids": rng.integers(0, 30, (32, 6)).astype(np.int32)}
    data["labels"] = (data["ids"][:, 0] > 14).astype(np.int32)
    cfg = TrainerConfig(total_steps=4, batch_size=8, lr=1e-2, log_every=1, progress=False)
    ms.set_seed(0)  # the same initial weights on every worker
    t = Trainer(Net(), SequenceClassificationTask(2, feature_keys=("ids",)), data, cfg, out_dir=out + "/run")
    t.fit()
    w = {p.name: p.asnumpy().tolist() for p in t.model.trainable_params()}
    json.dump({"rank": dist.rank, "world": dist.world_size, "losses": t.losses(), "params": w},
              open(f"{out}/rank{dist.rank}-of-{dist.world_size}.json", "w"))
''')


def test_not_distributed_outside_msrun(monkeypatch):
    monkeypatch.delenv("MS_WORKER_NUM", raising=False)
    assert not distributed.launched_by_msrun()
    info = distributed.init()
    assert (info.rank, info.world_size, info.is_main) == (0, 1, True)


@pytest.mark.slow
def test_two_msrun_workers_match_each_other_and_a_single_process(tmp_path):
    msrun = data_parallel.msrun_path()
    assert msrun is not None, "msrun is not installed next to this Python"
    script = tmp_path / "dp.py"
    script.write_text(SCRIPT)
    env = data_parallel.launch_env()  # this repository importable, this interpreter's "python" first on PATH
    single, multi = tmp_path / "single", tmp_path / "multi"
    single.mkdir()
    multi.mkdir()
    subprocess.run([sys.executable, str(script), str(single)], env=env, check=True, capture_output=True, timeout=240)
    cmd = [msrun, "--worker_num=2", "--local_worker_num=2", f"--master_port={data_parallel.free_port()}", "--join=True",
           f"--log_dir={tmp_path / 'logs'}", "python", str(script), str(multi)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    logs = "".join(p.read_text()[-2000:] for p in sorted((tmp_path / "logs").glob("worker_*.log")))
    assert proc.returncode == 0, proc.stdout[-2000:] + logs

    ref = json.loads((single / "rank0-of-1.json").read_text())
    r0 = json.loads((multi / "rank0-of-2.json").read_text())
    r1 = json.loads((multi / "rank1-of-2.json").read_text())
    for name in ref["params"]:
        a, b = np.array(r0["params"][name]), np.array(r1["params"][name])
        np.testing.assert_array_equal(a, b, err_msg=f"workers disagree on {name}")
        np.testing.assert_allclose(a, np.array(ref["params"][name]), atol=1e-5, err_msg=name)
    # the logged loss is the mean over workers = the single-process loss over the same global batch
    np.testing.assert_allclose([v for _, v in r0["losses"]], [v for _, v in ref["losses"]], atol=1e-6)
    # only rank 0 writes checkpoints and logs
    assert (multi / "run" / "metrics.jsonl").exists()
    assert len(list((multi / "run" / "checkpoints").glob("*.json"))) == 1


# --- lesson 10's job: the course mini-BERT pretrained by msrun with two workers ------------------------------

def _lesson10_pairs(path: Path) -> None:
    """The pairs of notebooks/10_pretraining_at_scale.py, section 2: 64-token pairs from the first 40 training
    speeches, only those with exactly 9 masked tokens, a whole number of batches of 16."""
    from bert_ms import data
    from bert_ms.bert import pretraining
    from bert_ms.bert.tokenization import BertTokenizer

    tok = BertTokenizer(REPO / "models" / "mini-bert-sotu" / "vocab.txt")
    arrays = pretraining.make_pretraining_arrays(data.load_sotu("train")[:40], tok, max_seq_length=64, seed=3)
    keep = arrays["masked_lm_weights"].sum(1) == 9
    n = int(keep.sum()) // 16 * 16
    np.savez(path, **{k: v[keep][:n] for k, v in arrays.items()})


@pytest.mark.slow
def test_lesson10_job_two_msrun_workers_equal_one_process(tmp_path):
    """What lesson 10 shows in full mode (and skips in smoke mode): after 30 AdamW steps with clipping active
    on every step, the two workers' weights are identical and equal one process's within 1e-5, and each
    worker logs the single process's loss."""
    from bert_ms.bert.model import load_pretrained

    _lesson10_pairs(tmp_path / "pairs.npz")
    job = {"model": str(REPO / "models" / "mini-bert-sotu"), "arrays": str(tmp_path / "pairs.npz"),
           "config": {"total_steps": 30, "batch_size": 16, "lr": 2e-4, "seed": 0}}
    one = data_parallel.launch(job, tmp_path / "one", workers=1)
    two = data_parallel.launch(job, tmp_path / "two", workers=2)
    w0, w1, single = two.weights(0), two.weights(1), one.weights(0)
    start = {p.name: p.asnumpy() for p in load_pretrained(REPO / "models" / "mini-bert-sotu",
                                                             head="pretraining").trainable_params()}
    assert set(w0) == set(single) == set(start)
    assert max(np.abs(w0[k] - w1[k]).max() for k in w0) == 0
    to_single = max(np.abs(w0[k] - single[k]).max() for k in w0)
    moved = max(np.abs(single[k] - start[k]).max() for k in w0)
    assert to_single < 1e-5 and moved > 100 * to_single, (to_single, moved)
    for rank in (0, 1):
        np.testing.assert_allclose(two.record(rank)["losses"], one.record(0)["losses"], atol=1e-5)
        assert two.record(rank)["world_size"] == 2
    assert min(two.record(0)["grad_norms"]) > 1.0  # clipped at every step, after the all-reduce


def test_shard_rows_rejects_a_bad_rank_and_an_uneven_batch():
    from bert_ms.runtime.distributed import shard_rows

    batch = {"x": np.arange(12).reshape(6, 2), "y": np.arange(6)}
    assert shard_rows(batch, 1, 3)["y"].tolist() == [2, 3]
    assert shard_rows(batch, 1, 3)["x"].tolist() == [[4, 5], [6, 7]]
    with pytest.raises(ValueError, match="rank 3 is not one of the 3 workers"):
        shard_rows(batch, 3, 3)
    with pytest.raises(ValueError, match="6 rows does not split into 4"):
        shard_rows(batch, 0, 4)


def test_launch_says_in_one_line_when_msrun_is_missing_or_a_worker_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(data_parallel, "msrun_path", lambda: None)
    with pytest.raises(data_parallel.LaunchError, match="msrun was not found"):
        data_parallel.launch({"model": "x", "arrays": "y", "config": {}}, tmp_path / "a", workers=2)
    job = {"model": str(tmp_path / "no-such-model"), "arrays": str(tmp_path / "no.npz"), "config": {"total_steps": 1}}
    with pytest.raises(data_parallel.LaunchError) as err:
        data_parallel.launch(job, tmp_path / "b", workers=1, timeout=120)
    message = str(err.value)
    assert "\n" not in message and "the 1-worker job failed" in message and "no weights from ranks [0]" in message
