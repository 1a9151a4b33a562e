"""Checkpoints are never lost (issue 15): corrupt newer checkpoints never prune good ones, the latest good
one or a clear error, orphan temporary files swept."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import mindspore as ms
import numpy as np
import pytest

from bert_ms.bert.config import BertConfig
from bert_ms.train import checkpoint as ckpt

CFG = BertConfig(vocab_size=40, hidden_size=8, num_hidden_layers=2, num_attention_heads=2, intermediate_size=16,
                 max_position_embeddings=16)
IDS = ms.Tensor(np.arange(1, 15, dtype=np.int32).reshape(2, 7))
ROOT = Path(__file__).resolve().parents[1]


# --- checkpoints are never lost
def tensors(step: int) -> dict[str, np.ndarray]:
    return {"model/w": np.full((4, 4), step, np.float32)}


def corrupt(sidecar: Path) -> None:
    data = sidecar.with_suffix(".safetensors")
    raw = bytearray(data.read_bytes())
    raw[-3] ^= 0xFF
    data.write_bytes(bytes(raw))


def test_corrupt_newer_checkpoints_never_prune_good_new_ones(tmp_path):
    """The probe: every checkpoint corrupt, training restarts from 0, and the new checkpoints were pruned
    at once because the corrupt ones sort higher; the run ended with none usable."""
    for step in (300, 400):
        corrupt(ckpt.save(tmp_path, step, tensors(step), {}))
    for step in (100, 200):
        ckpt.save(tmp_path, step, tensors(step), {}, keep=2)
        assert ckpt.load(tmp_path / f"step-{step:08d}.json").step == step
    with pytest.warns(RuntimeWarning, match="skipping bad checkpoint"):
        assert ckpt.latest(tmp_path).name == "step-00000200.json"
    ckpt.save(tmp_path, 250, tensors(250), {}, keep=2)  # 100 is now the third good one: pruned
    names = [p.name for p in ckpt.list_checkpoints(tmp_path)]
    assert names == ["step-00000200.json", "step-00000250.json", "step-00000300.json", "step-00000400.json"]


def test_latest_or_error(tmp_path):
    with pytest.raises(ckpt.CheckpointError, match="no checkpoint to resume from.*does not exist"):
        ckpt.latest_or_error(tmp_path / "nowhere")
    with pytest.raises(ckpt.CheckpointError, match="holds none"):
        ckpt.latest_or_error(tmp_path)
    for step in (1, 2):
        corrupt(ckpt.save(tmp_path, step, tensors(step), {}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert ckpt.latest(tmp_path) is None  # the default stays: None, and fit(resume=True) starts afresh
        with pytest.raises(ckpt.CheckpointError, match=r"none of the 2 checkpoint\(s\).*step-00000002.*SHA-256"):
            ckpt.latest_or_error(tmp_path)
    good = ckpt.save(tmp_path, 3, tensors(3), {})
    assert ckpt.latest_or_error(tmp_path) == good


def test_orphan_temporary_files_are_swept(tmp_path):
    """A write killed between the temporary file and the rename leaves ``.step-*.tmp`` behind."""
    killed = textwrap.dedent(f"""
        import os
        import numpy as np
        from bert_ms.train import checkpoint as c
        os.replace = lambda *a: os._exit(9)  # die after the bytes are written, before the rename
        c.save({str(tmp_path)!r}, 7, {{"model/w": np.zeros((64, 64), np.float32)}}, {{}})
    """)
    run = subprocess.run([sys.executable, "-c", killed], cwd=ROOT, timeout=120)
    assert run.returncode == 9
    orphans = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(orphans) == 1 and orphans[0].stat().st_size > 64 * 64 * 4
    assert re.fullmatch(r"\.step-00000007\.safetensors\.\d+\.\w+\.tmp", orphans[0].name)  # its pid in the name
    legacy = tmp_path / ".step-00000005.safetensors.k2j4h5g6.tmp"  # written before pids were in the name
    legacy.write_bytes(b"x" * 100)
    mine = tmp_path / f".step-00000008.safetensors.{os.getpid()}.abcd1234.tmp"  # a live writer's: left alone
    mine.write_bytes(b"x")
    other = tmp_path / ".metrics.jsonl.abcd1234.tmp"  # not a checkpoint file: not ours to judge
    other.write_bytes(b"x")
    ckpt.save(tmp_path, 9, tensors(9), {})
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp"))
    assert left == sorted([mine.name, other.name])
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["step-00000009.json"]
