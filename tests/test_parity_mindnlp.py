"""Parity (一致性) of bert_ms with Hugging Face BERT run on MindSpore by mindnlp 0.5.1.

``import mindnlp`` patches MindSpore's Tensor for its torch shim, so the reference side runs in a
subprocess: this file is also a script (``python tests/test_parity_mindnlp.py JOB.json``) that
loads a model directory with ``transformers`` and writes its outputs to an ``.npz`` file. One
subprocess per test module keeps the ~6 s mindnlp import to once.

Directions tested: (1) bert_ms random weights -> ``save_pretrained`` -> ``transformers`` loads them;
(2) ``transformers`` random weights -> its ``save_pretrained`` -> ``bert_ms.load_pretrained``.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# never `import mindnlp` in the test process itself (see the module docstring)
pytestmark = pytest.mark.skipif(importlib.util.find_spec("mindnlp") is None, reason="mindnlp is not installed")


def hf_worker(job: dict) -> None:
    """Reference side, runs in its own process: {"runs": [{"dir", "cls", "inputs", "out"}], "create": {...}}."""
    import mindnlp  # noqa: F401  (makes `import torch` the mindtorch shim)
    import torch
    import transformers

    if "create" in job:  # build a random HF model and save it with HF names
        spec = job["create"]
        torch.manual_seed(0)
        cfg = transformers.BertConfig(**spec["config"])
        model = getattr(transformers, spec["cls"])(cfg)
        with torch.no_grad():  # non-trivial LayerNorm parameters and biases
            for name, p in model.named_parameters():
                if "LayerNorm" in name or name.endswith("bias"):
                    p.copy_(torch.randn(p.shape) * 0.1 + (1.0 if name.endswith("LayerNorm.weight") else 0.0))
        model.save_pretrained(spec["dir"])
        if spec.get("bin_dir"):  # the same weights as pytorch_model.bin, written by mindtorch's torch.save
            model.save_pretrained(spec["bin_dir"], safe_serialization=False)
    for run in job["runs"]:
        model = getattr(transformers, run["cls"]).from_pretrained(run["dir"], attn_implementation="eager")
        model.eval()
        data = np.load(run["inputs"])
        kwargs = {k: torch.tensor(data[k].astype(np.int64)) for k in ("input_ids", "token_type_ids", "attention_mask")
                  if k in data}
        if run.get("grad"):  # one loss with MLM labels (-100 = not masked) + NSP labels, and its gradients
            # mindnlp 0.5.1's Tensor.backward() is a no-op (it returns self); its own Trainer takes gradients
            # with mindtorch.autograd.value_and_grad, which fills p.grad, so the reference does the same.
            from mindtorch import autograd

            labels = torch.tensor(data["labels"].astype(np.int64))
            nsp = torch.tensor(data["next_sentence_label"].astype(np.int64))
            named = list(model.named_parameters())
            def pretraining_loss(model=model, kwargs=kwargs, labels=labels, nsp=nsp):
                return model(**kwargs, labels=labels, next_sentence_label=nsp).loss

            loss = autograd.value_and_grad(pretraining_loss, [p for _, p in named])()
            res = {"loss": loss.detach()[None]}
            res.update({f"grad/{n}": p.grad for n, p in named if p.grad is not None})
            np.savez(run["out"], **{k: v.detach().numpy() for k, v in res.items()})
            continue
        with torch.no_grad():
            if run["cls"] == "BertModel":
                out = model(**kwargs, output_hidden_states=True, output_attentions=True)
                res = {"sequence_output": out.last_hidden_state, "pooled_output": out.pooler_output,
                       "hidden_states": torch.stack(out.hidden_states), "attentions": torch.stack(out.attentions)}
            elif run["cls"] == "BertForSequenceClassification":
                res = {"logits": model(**kwargs).logits}
            else:
                out = model(**kwargs)
                res = {"mlm_logits": out.prediction_logits, "nsp_logits": out.seq_relationship_logits}
        np.savez(run["out"], **{k: v.detach().numpy() for k, v in res.items()})


def run_reference(job: dict, tmp: Path, timeout: int = 300) -> None:
    """Run :func:`hf_worker` in a fresh interpreter; fail with its stderr if it breaks."""
    job_file = tmp / "job.json"
    job_file.write_text(json.dumps(job))
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), str(job_file)],
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"mindnlp reference failed:\n{proc.stderr[-3000:]}")


if __name__ == "__main__":
    hf_worker(json.loads(Path(sys.argv[1]).read_text()))
    sys.exit(0)

# ---------------------------------------------------------------------------------------------- tests
import mindspore as ms  # noqa: E402

from bert_ms.bert.config import BertConfig  # noqa: E402
from bert_ms.bert.model import (  # noqa: E402
    BertForPreTraining,
    BertForSequenceClassification,
    BertModel,  # noqa: E402
    load_pretrained,  # noqa: E402
)

ATOL = 1e-5
CFG = dict(vocab_size=211, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
           max_position_embeddings=64, type_vocab_size=2)


def make_inputs(vocab: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Batch of 3 x 12 with two segments and padding (attention_mask 0) in rows 1 and 2."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, (3, 12)).astype(np.int32)
    tt = np.zeros_like(ids)
    tt[0, 6:] = 1
    tt[1, 5:9] = 1
    tt[2, 3:7] = 1
    am = np.ones_like(ids)
    am[1, 9:] = 0
    am[2, 7:] = 0
    ids[am == 0] = 0
    tt[am == 0] = 0
    return {"input_ids": ids, "token_type_ids": tt, "attention_mask": am}


MASKED = np.array([1, 3, 5])  # masked positions, all inside the unpadded part of every row


def make_grad_inputs(inputs: dict[str, np.ndarray], vocab: int) -> dict[str, np.ndarray]:
    """``inputs`` plus pretraining labels in both conventions: ours (positions, ids, weights) and
    Hugging Face's (``labels`` [B, T] with -100 where nothing is predicted)."""
    rng = np.random.default_rng(7)
    b = len(inputs["input_ids"])
    ids = rng.integers(1, vocab, (b, len(MASKED))).astype(np.int32)
    labels = np.full(inputs["input_ids"].shape, -100, np.int32)
    labels[:, MASKED] = ids
    return {**inputs, "masked_lm_positions": np.tile(MASKED, (b, 1)).astype(np.int32), "masked_lm_ids": ids,
            "masked_lm_weights": np.ones((b, len(MASKED)), np.float32), "labels": labels,
            "next_sentence_label": np.array([0, 1, 1], np.int32)}


def run_ours(model, inputs):
    t = {k: ms.Tensor(v, ms.int32) for k, v in inputs.items()}
    if isinstance(model, BertModel):
        out = model(t["input_ids"], t["token_type_ids"], t["attention_mask"], True, True)
        return {"sequence_output": out.sequence_output.asnumpy(), "pooled_output": out.pooled_output.asnumpy(),
                "hidden_states": np.stack([h.asnumpy() for h in out.hidden_states]),
                "attentions": np.stack([a.asnumpy() for a in out.attentions])}
    mlm, nsp = model(t["input_ids"], t["token_type_ids"], t["attention_mask"])
    return {"mlm_logits": mlm.asnumpy(), "nsp_logits": nsp.asnumpy()}


@pytest.fixture(scope="module")
def parity(tmp_path_factory):
    """Our random model saved for HF, an HF random model saved for us, and HF's outputs on both."""
    ms.set_seed(1)  # the session runs on CPU / PyNative / fp32 (conftest); only the seed differs
    tmp = tmp_path_factory.mktemp("parity")
    ours = BertForPreTraining(BertConfig(**CFG))
    ours.set_train(False)
    # non-trivial LayerNorm/bias values so a swapped gamma/beta or a dropped bias cannot pass
    rng = np.random.default_rng(3)
    for name, p in ours.parameters_and_names():
        if "norm" in name or name.endswith("bias"):
            p.set_data(ms.Tensor(p.asnumpy() + rng.normal(0, 0.1, p.shape).astype(np.float32)))
    ours.save_pretrained(tmp / "ours")
    clf = BertForSequenceClassification(BertConfig(**CFG), num_labels=3)
    clf.save_pretrained(tmp / "ours_clf")
    inputs = make_inputs(CFG["vocab_size"])
    np.savez(tmp / "inputs.npz", **inputs)
    runs = [{"dir": str(tmp / d), "cls": c, "inputs": str(tmp / "inputs.npz"), "out": str(tmp / f"{d}_{c}.npz")}
            for d in ("ours", "hf") for c in ("BertModel", "BertForPreTraining")]
    grad_inputs = make_grad_inputs(inputs, CFG["vocab_size"])
    np.savez(tmp / "grad_inputs.npz", **grad_inputs)
    runs.append({"dir": str(tmp / "ours"), "cls": "BertForPreTraining", "inputs": str(tmp / "grad_inputs.npz"),
                 "out": str(tmp / "ours_grad.npz"), "grad": True})
    runs.append({"dir": str(tmp / "ours_clf"), "cls": "BertForSequenceClassification",
                 "inputs": str(tmp / "inputs.npz"), "out": str(tmp / "ours_clf_BertForSequenceClassification.npz")})
    create = {"config": CFG, "cls": "BertForPreTraining", "dir": str(tmp / "hf"), "bin_dir": str(tmp / "hf_bin")}
    run_reference({"create": create, "runs": runs}, tmp)
    ref = {(r["dir"].rsplit("/", 1)[1], r["cls"]): dict(np.load(r["out"])) for r in runs if not r.get("grad")}
    grads = dict(np.load(tmp / "ours_grad.npz"))
    return {"tmp": tmp, "ours": ours, "clf": clf, "inputs": inputs, "ref": ref, "grad_inputs": grad_inputs,
            "grads": grads}


def _assert_close(got: dict, want: dict, atol: float = ATOL):
    assert got.keys() == want.keys()
    for key in want:
        assert got[key].shape == want[key].shape, key
        np.testing.assert_allclose(got[key], want[key], atol=atol, rtol=0, err_msg=key)


def test_bert_model_matches_transformers(parity):
    """Sequence/pooled output, every hidden state and attention map agree within 1e-5 (fp32)."""
    model = BertModel.from_pretrained(parity["tmp"] / "ours")  # the encoder part of our pretraining model
    _assert_close(run_ours(model, parity["inputs"]), parity["ref"][("ours", "BertModel")])


def test_pretraining_heads_match_transformers(parity):
    _assert_close(run_ours(parity["ours"], parity["inputs"]), parity["ref"][("ours", "BertForPreTraining")])


def test_loads_weights_written_by_transformers(parity):
    """The other direction: a random HF model saved by HF loads here and gives HF's outputs."""
    hf_dir = parity["tmp"] / "hf"
    _assert_close(run_ours(load_pretrained(hf_dir), parity["inputs"]), parity["ref"][("hf", "BertModel")])
    model = load_pretrained(hf_dir, head="pretraining")
    _assert_close(run_ours(model, parity["inputs"]), parity["ref"][("hf", "BertForPreTraining")])


def test_classifier_saved_here_loads_in_transformers(parity):
    """A 3-label classifier: config.json carries id2label, so transformers builds the same head."""
    clf = parity["clf"]
    clf.set_train(False)
    t = {k: ms.Tensor(v, ms.int32) for k, v in parity["inputs"].items()}
    got = clf(t["input_ids"], t["token_type_ids"], t["attention_mask"]).asnumpy()
    want = parity["ref"][("ours_clf", "BertForSequenceClassification")]["logits"]
    assert want.shape == (3, 3)
    np.testing.assert_allclose(got, want, atol=ATOL, rtol=0)


def test_loads_pytorch_model_bin_without_torch(parity):
    """``pytorch_model.bin`` written by the torch shim is read by the torch-free reader."""
    bin_dir = parity["tmp"] / "hf_bin"
    assert (bin_dir / "pytorch_model.bin").is_file() and not (bin_dir / "model.safetensors").exists()
    model = load_pretrained(bin_dir, head="pretraining")
    _assert_close(run_ours(model, parity["inputs"]), parity["ref"][("hf", "BertForPreTraining")])


def test_padding_really_matters(parity):
    """Guard against a vacuous comparison: without the attention mask the outputs differ from HF's."""
    inputs = dict(parity["inputs"])
    inputs["attention_mask"] = np.ones_like(inputs["attention_mask"])
    got = run_ours(parity["ours"], inputs)["mlm_logits"]
    assert np.abs(got - parity["ref"][("ours", "BertForPreTraining")]["mlm_logits"]).max() > 1e-3


def test_training_gradients_match_transformers(parity):
    """Training, not just inference, is the reference's: the pretraining loss (MLM over the masked
    positions only + NSP) and the gradient of every parameter agree with transformers' loss and
    gradients (through ``mindtorch.autograd.value_and_grad``), given the same weights and labels (dropout off on both sides)."""
    from bert_ms.bert.weights import local_to_hf
    from bert_ms.train.tasks import PretrainingTask

    model, g = parity["ours"], parity["grad_inputs"]
    model.set_train(False)
    keys = ("input_ids", "token_type_ids", "attention_mask", "masked_lm_positions", "masked_lm_ids",
            "masked_lm_weights", "next_sentence_label")
    args = [ms.Tensor(g[k]) for k in keys]
    params = model.trainable_params()
    loss, grads = ms.value_and_grad(lambda *a: PretrainingTask().loss(model, *a), None, params)(*args)
    want = parity["grads"]
    np.testing.assert_allclose(loss.asnumpy(), want["loss"][0], atol=ATOL, rtol=0)
    assert 6.0 < float(loss) < 8.0  # ~ln(211) + ln(2): random weights, so a real loss, not a zero
    compared = 0
    for p, grad in zip(params, grads):
        name = f"grad/{local_to_hf(p.name)}"
        assert name in want, f"no reference gradient for {p.name} ({name})"
        ref = want[name]
        np.testing.assert_allclose(grad.asnumpy(), ref, atol=1e-5, rtol=1e-4, err_msg=p.name)
        compared += 1
        # a gradient that is zero on both sides would prove nothing; the key bias is zero by construction
        # (it shifts every score of a query equally, and the softmax cancels it)
        assert np.abs(ref).max() > 1e-6 or name.endswith("key.bias"), name
    assert compared == len(params) == len({k for k in want if k.startswith("grad/")})
