"""WordPiece from scratch: the paper's examples, google-research's tests, and id parity with HF tokenizers."""

from __future__ import annotations

import time

import numpy as np
import pytest

from bert_ms import data
from bert_ms.bert import tokenization as vocab
from bert_ms.bert.tokenization import (
    SPECIAL_TOKENS,
    BasicTokenizer,
    BertTokenizer,
    VocabError,
    WordpieceTokenizer,
    is_chinese_char,
    is_control,
    is_punctuation,
    is_whitespace,
)
from bert_ms.bert.vocab_training import train_wordpiece_vocab

tokenizers = pytest.importorskip("tokenizers")


def write_vocab(tmp_path, tokens, name="vocab.txt"):
    path = tmp_path / name
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def uncased():
    return BertTokenizer.bert_base_uncased()


@pytest.fixture(scope="module")
def chinese():
    return BertTokenizer.bert_base_chinese()


@pytest.fixture(scope="module")
def hf_uncased():
    return tokenizers.BertWordPieceTokenizer(str(vocab.bert_base_uncased_vocab()), lowercase=True)


@pytest.fixture(scope="module")
def hf_chinese():
    return tokenizers.BertWordPieceTokenizer(str(vocab.bert_base_chinese_vocab()), lowercase=True)


# ---------------------------------------------------------------- the BERT paper's example
def test_seed_example_real_vocab(uncased, hf_uncased):
    assert "playing" in uncased.vocab
    enc = uncased.encode("my dog is cute", "he likes playing")
    assert enc.tokens == ["[CLS]", "my", "dog", "is", "cute", "[SEP]", "he", "likes", "playing", "[SEP]"]
    assert enc.token_type_ids == [0] * 6 + [1] * 4
    assert enc.attention_mask == [1] * 10
    hf = hf_uncased.encode("my dog is cute", "he likes playing")
    assert enc.input_ids == hf.ids
    assert enc.token_type_ids == hf.type_ids


def test_seed_example_small_vocab_gives_the_papers_11_tokens(tmp_path):
    words = ["my", "dog", "is", "cute", "he", "likes", "play", "##ing"]
    tok = BertTokenizer(write_vocab(tmp_path, [*SPECIAL_TOKENS, *words]))
    assert "playing" not in tok.vocab
    enc = tok.encode("my dog is cute", "he likes playing")
    assert enc.tokens == ["[CLS]", "my", "dog", "is", "cute", "[SEP]", "he", "likes", "play", "##ing", "[SEP]"]
    assert enc.token_type_ids == [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
    hf = tokenizers.BertWordPieceTokenizer(str(tmp_path / "vocab.txt"), lowercase=True)
    assert hf.encode("my dog is cute", "he likes playing").ids == enc.input_ids


# ---------------------------------------------------------------- google-research/bert tokenization_test.py
GOOGLE_VOCAB = ["[UNK]", "[CLS]", "[SEP]", "want", "##want", "##ed", "wa", "un", "runn", "##ing", ","]


def test_google_full_tokenizer(tmp_path):
    tok = BertTokenizer(write_vocab(tmp_path, [*GOOGLE_VOCAB, "[PAD]", "[MASK]"]))
    tokens = tok.tokenize("UNwant\u00E9d,running")
    assert tokens == ["un", "##want", "##ed", ",", "runn", "##ing"]
    assert tok.convert_tokens_to_ids(tokens) == [7, 4, 5, 10, 8, 9]


def test_google_wordpiece():
    wp = WordpieceTokenizer({t: i for i, t in enumerate(GOOGLE_VOCAB)})
    assert wp.tokenize("") == []
    assert wp.tokenize("unwanted running") == ["un", "##want", "##ed", "runn", "##ing"]
    assert wp.tokenize("unwantedX running") == ["[UNK]", "runn", "##ing"]
    assert wp.tokenize("a" * 101) == ["[UNK]"]  # over max_input_chars_per_word


def test_google_basic_tokenizer():
    assert BasicTokenizer().tokenize("ah\u535A\u63A8zz") == ["ah", "\u535A", "\u63A8", "zz"]
    assert BasicTokenizer(True).tokenize(" \tHeLLo!how  \n Are yoU?  ") == ["hello", "!", "how", "are", "you", "?"]
    assert BasicTokenizer(True).tokenize("H\u00E9llo") == ["hello"]
    assert BasicTokenizer(False).tokenize(" \tHeLLo!how  \n Are yoU?  ") == ["HeLLo", "!", "how", "Are", "yoU", "?"]


def test_character_classes():
    assert is_whitespace(" ") and is_whitespace("\t") and is_whitespace("\u00A0") and not is_whitespace("A")
    assert is_control("\u0005") and not is_control("A") and not is_control(" ") and not is_control("\t")
    assert is_punctuation("-") and is_punctuation("$") and is_punctuation("`") and is_punctuation(".")
    assert not is_punctuation("A") and not is_punctuation(" ")
    assert is_chinese_char(ord("中")) and not is_chinese_char(ord("あ")) and not is_chinese_char(ord("a"))


def test_real_vocab_splits_rare_words(uncased):
    assert uncased.tokenize("embeddings") == ["em", "##bed", "##ding", "##s"]
    for word in ("tokenization", "unaffable"):
        pieces = uncased.tokenize(word)
        assert len(pieces) > 1 and all(p.startswith("##") for p in pieces[1:])
        assert "".join(p.removeprefix("##") for p in pieces) == word


def test_chinese_vocab_one_token_per_character(chinese):
    import sys

    assert "bhsenti" not in sys.modules  # located, never imported (importing it downloads a model)
    text = "我爱北京天安门"
    assert chinese.tokenize(text) == list(text)


# ---------------------------------------------------------------- parity with HF tokenizers
EDGE_CASES = [
    "", " ", "\t\n", "Héllo, wörld! naïve café résumé Ångström", "ΟΔΟΣ Straße İstanbul",
    "emoji 😀🎉👍🏽 and ❤️ hearts", "mixed 中文English混合 text 123abc", "$100 + 5% ^ `x` ~y | {z}",
    "don't won't y'all ... ?! --", "\u200bzero\u200dwidth\ufeff", "full-width ＡＢＣ１２３，。！",
    "control\x00chars\x07here\ufffd", "a" * 150, "[MASK] is a [CLS] token", "日本語のテキストとカタカナ",
    "한국어 텍스트", "<html><b>bold</b></html>", "e.g. U.S.A. 3.14159 1,000,000",
]


def english_sentences(n: int) -> list[str]:
    docs = data.load_sotu("dev") + data.load_sotu("test")
    sents = [s for d in docs for s in d]
    step = max(1, len(sents) // n)
    return sents[::step][:n]


def chinese_sentences(n: int) -> list[str]:
    pd = data.load_peoples_daily(max_lines=n)
    texts, _ = data.load_chinese_sentiment()
    step = max(1, len(texts) // n)
    return pd + texts[::step][:n]


def assert_parity(ours, hf, texts):
    hf_ids = [e.ids for e in hf.encode_batch(texts)]
    mismatches = [(t, ours.encode(t).input_ids, h) for t, h in zip(texts, hf_ids) if ours.encode(t).input_ids != h]
    assert not mismatches, f"{len(mismatches)} of {len(texts)} differ, first: {mismatches[0]}"


def test_parity_english_sotu(uncased, hf_uncased):
    start = time.perf_counter()
    texts = english_sentences(3000) + EDGE_CASES
    assert len(texts) >= 3000
    assert_parity(uncased, hf_uncased, texts)
    assert time.perf_counter() - start < 20


def test_parity_chinese(chinese, hf_chinese):
    texts = chinese_sentences(1500) + EDGE_CASES
    assert len(texts) >= 3000
    assert_parity(chinese, hf_chinese, texts)


def test_parity_with_minilm_tokenizer_json(uncased):
    hf = tokenizers.Tokenizer.from_file(str(vocab.minilm_tokenizer_json()))
    hf.no_truncation()
    hf.no_padding()
    texts = english_sentences(300) + EDGE_CASES + chinese_sentences(100)
    assert_parity(uncased, hf, texts)


def test_pair_truncation_matches_hf(uncased, hf_uncased):
    rng = np.random.default_rng(0)
    for _ in range(300):
        la, lb = rng.integers(1, 30, size=2)
        max_len = int(rng.integers(5, 50))
        a, b = " ".join(["apple"] * la), " ".join(["banana"] * lb)
        hf_uncased.enable_truncation(max_len)
        try:
            expected = hf_uncased.encode(a, b)
        finally:
            hf_uncased.no_truncation()
        ours = uncased.encode(a, b, max_length=max_len)
        assert ours.input_ids == expected.ids and ours.token_type_ids == expected.type_ids


# ---------------------------------------------------------------- batch, padding, decode
def test_encode_padding_and_batch(uncased):
    enc = uncased.encode("hello world", max_length=8, padding="max_length")
    assert enc.tokens == ["[CLS]", "hello", "world", "[SEP]"] + ["[PAD]"] * 4
    assert enc.attention_mask == [1] * 4 + [0] * 4 and enc.input_ids[-1] == uncased.pad_token_id
    batch = uncased.encode_batch(["hello world", "a much longer sentence than the first one was"], ["x", "y"],
                                  max_length=12)
    assert set(batch) == {"input_ids", "token_type_ids", "attention_mask"}
    for arr in batch.values():
        assert arr.shape == (2, 12) and arr.dtype == np.int32
    assert batch["attention_mask"][1].sum() == 12  # truncated to fill
    assert batch["attention_mask"][0].sum() == len(uncased.encode("hello world", "x").input_ids)
    longest = uncased.encode_batch(["a", "a b c"])
    assert longest["input_ids"].shape == (2, 5)


def test_decode_joins_pieces(uncased):
    ids = uncased.encode("Tokenization of embeddings", "is fun").input_ids
    assert uncased.decode(ids) == "tokenization of embeddings is fun"
    assert uncased.decode(ids, skip_special_tokens=False).startswith("[CLS] tokenization")


def test_special_token_ids(uncased, chinese):
    assert (uncased.pad_token_id, uncased.unk_token_id, uncased.cls_token_id, uncased.sep_token_id,
            uncased.mask_token_id) == (0, 100, 101, 102, 103)
    assert len(uncased) == 30522 and len(chinese) == 21128
    assert uncased.tokenize("the [MASK] sat") == ["the", "[MASK]", "sat"]


# ---------------------------------------------------------------- errors
def test_vocab_errors(tmp_path):
    with pytest.raises(VocabError, match="not found"):
        BertTokenizer(tmp_path / "nope.txt")
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    with pytest.raises(VocabError, match="empty"):
        BertTokenizer(tmp_path / "empty.txt")
    path = write_vocab(tmp_path, ["[PAD]", "[UNK]", "[CLS]", "hello"], "partial.txt")
    with pytest.raises(VocabError, match=r"\[SEP\], \[MASK\]"):
        BertTokenizer(path)


def test_input_type_errors(uncased):
    with pytest.raises(TypeError, match="bytes"):
        uncased.tokenize(b"hello")
    with pytest.raises(TypeError, match="NoneType"):
        uncased.encode(None)
    with pytest.raises(TypeError, match="int"):
        uncased.encode("a", 3)
    with pytest.raises(TypeError, match="list of str"):
        uncased.encode_batch("just one string")


# ---------------------------------------------------------------- vocabulary training
def test_train_wordpiece_vocab_roundtrip(tmp_path):
    sents = [s for d in data.load_sotu("test")[:6] for s in d]
    path = train_wordpiece_vocab(sents, vocab_size=1500, out_path=tmp_path / "trained")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[:5] == list(SPECIAL_TOKENS)
    assert 500 < len(lines) <= 1500
    tok = BertTokenizer(path)
    basic = BasicTokenizer()
    for s in sents[:200]:
        enc = tok.encode(s)
        assert tok.unk_token_id not in enc.input_ids
        assert tok.decode(enc.input_ids) == " ".join(basic.tokenize(s))
    hf = tokenizers.BertWordPieceTokenizer(str(path), lowercase=True)
    assert_parity(tok, hf, sents[:200])


def test_trace_shows_the_greedy_search(uncased):
    for word in ("unaffable", "embeddings", "playing", "xqzjw"):
        steps = uncased.wordpiece_tokenizer.trace(word)
        found = [p for p, ok in steps if ok]
        pieces = uncased.wordpiece_tokenizer.tokenize_word(word)
        assert found == pieces or (pieces == ["[UNK]"] and "".join(p.removeprefix("##") for p in found) != word)
        # each failed try is one character shorter than the one before it (longest match first)
        for (prev, ok), (cur, _) in zip(steps, steps[1:]):
            if not ok:
                assert len(cur) == len(prev) - 1
