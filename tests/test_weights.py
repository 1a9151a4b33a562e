"""Weights in/out: Hugging Face names, heads, validation before assignment, MindSpore checkpoints."""

from __future__ import annotations

import collections
import io
import json
import pickle
import sys
import types
import warnings
import zipfile

import mindspore as ms
import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from bert_ms.bert.model import (
    HEADS,
    BertForPreTraining,
    BertForSequenceClassification,
    load_pretrained,
)
from bert_ms.bert.weights import (
    WeightsError,
    assign_state,
    hf_to_local,
    local_to_hf,
    save_pretrained,
)

IDS = ms.Tensor(np.random.default_rng(0).integers(1, 53, (2, 7)).astype(np.int32))
KW = {"sequence_classification": {"num_labels": 3}, "token_classification": {"num_labels": 4}}


def outputs(model):
    model.set_train(False)
    out = model(IDS)
    flat = out if isinstance(out, tuple) else (out,)
    return [o.asnumpy() for o in flat if o is not None and not isinstance(o, tuple)]


def snapshot(model):
    return {n: p.asnumpy().copy() for n, p in model.parameters_and_names()}


@pytest.fixture
def pretraining_dir(tmp_path, tiny_config):
    model = BertForPreTraining(tiny_config)
    vocab = tmp_path / "v.txt"
    vocab.write_text("[PAD]\n[UNK]\n")
    save_pretrained(model, tmp_path / "m", vocab_file=vocab)
    return tmp_path / "m", model


def test_hf_names(tiny_config):
    assert hf_to_local("bert.encoder.layer.3.attention.self.query.weight") == "bert.encoder.layers.3.attention.query.weight"
    assert hf_to_local("encoder.layer.0.output.LayerNorm.gamma") == "encoder.layers.0.ffn_norm.norm.weight"
    assert hf_to_local("encoder.layer.0.attention.output.LayerNorm.beta") == "encoder.layers.0.attention_norm.norm.bias"
    assert hf_to_local("cls.predictions.bias") == "mlm.bias"
    assert hf_to_local("cls.predictions.transform.LayerNorm.weight") == "mlm.transform.norm.weight"
    assert hf_to_local("cls.predictions.weight") is None and hf_to_local("foo.bar") is None
    for head, cls in HEADS.items():
        for name, _ in cls(tiny_config, **KW.get(head, {})).parameters_and_names():
            assert hf_to_local(local_to_hf(name)) == name


@pytest.mark.parametrize("head", list(HEADS))
def test_roundtrip_every_head(tmp_path, head, tiny_config):
    model = HEADS[head](tiny_config, **KW.get(head, {}))
    model.save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["architectures"] == [type(model).__name__]
    keys = set(load_file(str(tmp_path / "model.safetensors")))
    assert "embeddings.word_embeddings.weight" in keys if head is None else "bert.embeddings.word_embeddings.weight" in keys
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a complete checkpoint loads without any warning
        loaded = type(model).from_pretrained(tmp_path)  # num_labels comes back from config.json
    for a, b in zip(outputs(model), outputs(loaded)):
        np.testing.assert_array_equal(a, b)


def test_vocab_copied_and_pretraining_dir_feeds_bert_model(pretraining_dir):
    path, model = pretraining_dir
    assert (path / "vocab.txt").read_text().startswith("[PAD]")
    enc = load_pretrained(path)  # "bert." prefix stripped, cls.* ignored
    np.testing.assert_array_equal(enc(IDS).sequence_output.asnumpy(), model.bert(IDS).sequence_output.asnumpy())


def test_config_overrides_change_dropout_not_weights(pretraining_dir):
    """Fine-tuning with BERT's dropout 0.1 a model whose config.json says otherwise (e.g. --dropout 0)."""
    path, model = pretraining_dir
    enc = load_pretrained(path, config_overrides={"hidden_dropout_prob": 0.25, "attention_probs_dropout_prob": 0.25})
    assert enc.config.hidden_dropout_prob == 0.25 and enc.config.attention_probs_dropout_prob == 0.25
    assert load_pretrained(path).config.hidden_dropout_prob == model.config.hidden_dropout_prob != 0.25
    np.testing.assert_array_equal(enc(IDS).sequence_output.asnumpy(), model.bert(IDS).sequence_output.asnumpy())


def test_missing_head_named_in_one_warning(pretraining_dir):
    path, model = pretraining_dir
    with pytest.warns(UserWarning) as record:
        clf = load_pretrained(path, head="sequence_classification", num_labels=3)
    msgs = [str(w.message) for w in record if "freshly initialised" in str(w.message)]
    assert len(msgs) == 1 and "classifier.weight" in msgs[0] and "classifier.bias" in msgs[0]
    assert isinstance(clf, BertForSequenceClassification)
    np.testing.assert_array_equal(clf.bert.pooler.dense.weight.asnumpy(), model.bert.pooler.dense.weight.asnumpy())


def test_tf_style_gamma_beta_names(pretraining_dir):
    path, model = pretraining_dir
    tensors = load_file(str(path / "model.safetensors"))
    renamed = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
               for k, v in tensors.items()}
    assert any(k.endswith("gamma") for k in renamed)
    save_file(renamed, str(path / "model.safetensors"), metadata={"format": "pt"})
    loaded = load_pretrained(path, head="pretraining")
    for a, b in zip(outputs(model), outputs(loaded)):
        np.testing.assert_array_equal(a, b)


def test_wrong_shape_names_tensor_and_shapes_and_loads_nothing(pretraining_dir, tiny_config):
    path, _ = pretraining_dir
    tensors = load_file(str(path / "model.safetensors"))
    tensors["bert.encoder.layer.1.intermediate.dense.weight"] = np.zeros((63, 32), np.float32)
    save_file(tensors, str(path / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(WeightsError, match=r"encoder\.layers\.1\.ffn\.intermediate\.weight.*\(63, 32\).*\(64, 32\)"):
        load_pretrained(path, head="pretraining")
    # all-or-nothing: assigning a state with one bad tensor changes no parameter at all
    model = BertForPreTraining(tiny_config)
    before = snapshot(model)
    state = {n: np.ones_like(a) for n, a in before.items()}
    state["nsp.weight"] = np.ones((3, 16), np.float32)
    with pytest.raises(WeightsError, match="nsp.weight"):
        assign_state(model, state, "test")
    after = snapshot(model)
    assert all(np.array_equal(before[n], after[n]) for n in before)


def test_missing_encoder_tensor_is_an_error(pretraining_dir):
    path, _ = pretraining_dir
    tensors = load_file(str(path / "model.safetensors"))
    del tensors["bert.encoder.layer.0.attention.self.key.bias"]
    save_file(tensors, str(path / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(WeightsError, match=r"lacks 1 encoder tensor.*attention\.key\.bias"):
        load_pretrained(path)


def test_bad_files(pretraining_dir, tmp_path):
    path, _ = pretraining_dir
    with pytest.raises(FileNotFoundError, match="not found"):
        load_pretrained(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="unknown head"):
        load_pretrained(path, head="translation")
    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="corrupt or truncated"):
        load_pretrained(path)
    (path / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(WeightsError, match="corrupt or truncated"):
        load_pretrained(path)
    (path / "model.safetensors").rename(path / "pytorch_model.bin")
    with pytest.raises(WeightsError, match="not a PyTorch zip checkpoint"):
        load_pretrained(path)
    (path / "pytorch_model.bin").unlink()
    with pytest.raises(FileNotFoundError, match="no model.safetensors"):
        load_pretrained(path)
    cfg = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**cfg, "architectures": ["GPT2LMHeadModel"]}))
    with pytest.raises(WeightsError, match="GPT2LMHeadModel"):
        load_pretrained(path)
    (path / "config.json").write_text(json.dumps({**cfg, "architectures": None, "model_type": "roberta"}))
    with pytest.raises(ValueError, match="roberta"):
        load_pretrained(path)
    (path / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_pretrained(path)


def write_torch_zip(path, tensors: dict, monkeypatch, extra=None):
    """Write ``tensors`` in PyTorch's ``torch.save`` zip layout, as real torch does (``torch._utils.
    _rebuild_tensor_v2`` + ``torch.FloatStorage`` persistent ids), using stand-in ``torch`` modules."""
    torch_mod, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while writing")

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    storage_cls = type("FloatStorage", (), {"__module__": "torch"})
    torch_mod.FloatStorage, torch_mod._utils = storage_cls, utils
    monkeypatch.setitem(sys.modules, "torch", torch_mod)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)

    class Storage:
        def __init__(self, key, arr):
            self.key, self.arr = key, arr

    class TensorRef:
        def __init__(self, key, arr):
            self.storage, self.arr = Storage(key, arr), arr

        def __reduce__(self):
            stride = tuple(s // self.arr.itemsize for s in self.arr.strides)
            return _rebuild_tensor_v2, (self.storage, 0, self.arr.shape, stride, False, collections.OrderedDict())

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):
                return ("storage", storage_cls, obj.key, "cpu", obj.arr.size)
            return None

    refs = collections.OrderedDict((k, TensorRef(str(i), np.asarray(v, np.float32)))
                                   for i, (k, v) in enumerate(tensors.items()))
    if extra is not None:
        refs["extra"] = extra

    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump(refs)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", buf.getvalue())
        zf.writestr("archive/byteorder", "little")
        for ref in refs.values():
            if isinstance(ref, TensorRef):
                zf.writestr(f"archive/data/{ref.storage.key}", ref.arr.tobytes(order="A"))  # memory order


def test_pytorch_bin_reader_without_torch(pretraining_dir, monkeypatch):
    path, model = pretraining_dir
    tensors = load_file(str(path / "model.safetensors"))
    tensors["bert.encoder.layer.0.intermediate.dense.weight"] = np.asfortranarray(
        tensors["bert.encoder.layer.0.intermediate.dense.weight"])  # a non-contiguous stride is honoured
    write_torch_zip(path / "pytorch_model.bin", tensors, monkeypatch)
    (path / "model.safetensors").unlink()
    loaded = load_pretrained(path, head="pretraining")
    for a, b in zip(outputs(model), outputs(loaded)):
        np.testing.assert_array_equal(a, b)
    # any other object in the pickle is refused: no code can run while loading
    write_torch_zip(path / "pytorch_model.bin", tensors, monkeypatch, extra=types.SimpleNamespace(a=1))
    with pytest.raises(WeightsError, match="refusing to unpickle types.SimpleNamespace"):
        load_pretrained(path)
