"""word2vec, the neural language models and ELMo's biLM: the claims lessons 01-03 make."""

import math

import mindspore as ms
import numpy as np
import pytest

from bert_ms.classic import elmo, word2vec
from bert_ms.classic import language_model as lm


def test_vocab_puts_rare_words_into_unk_and_counts_them():
    vocab = word2vec.Vocab.build("a a a b b c".split(), min_count=2)
    assert vocab.itos == ["<unk>", "a", "b"]
    assert vocab.counts.tolist() == [1, 3, 2]
    assert vocab.encode(["b", "zzz"]).tolist() == [2, 0]


def test_subsampling_keeps_rare_words_and_drops_frequent_ones_at_the_eq5_rate():
    counts = np.array([0, 1_000_000, 10])
    ids = np.array([1] * 50_000 + [2] * 50_000)
    kept = word2vec.subsample(ids, counts, np.random.default_rng(0), t=1e-4)
    freq = counts / counts.sum()
    expected_keep = math.sqrt(1e-4 / freq[1])
    assert abs((kept == 1).sum() / 50_000 - expected_keep) < 0.01
    assert (kept == 2).sum() == 50_000  # sqrt(t/f) > 1: always kept


def test_skipgram_pairs_stay_within_the_window():
    ids = np.arange(100, dtype=np.int32)
    centers, contexts = word2vec.skipgram_pairs(ids, window=3, rng=np.random.default_rng(0))
    gaps = np.abs(centers - contexts)
    assert gaps.min() == 1 and gaps.max() == 3
    assert len(centers) > 2 * 100  # at least one neighbour each side on average


def test_skipgram_initial_loss_is_1_plus_k_times_log2():
    model = word2vec.SkipGramNS(50, 8)
    c = ms.Tensor(np.arange(10, dtype=np.int32))
    loss = model(c, c, ms.Tensor(np.ones((10, 5), np.int32)))
    assert abs(float(loss.asnumpy()) - 6 * math.log(2)) < 1e-5


def test_analogy_excludes_the_question_words():
    words = ["man", "king", "woman", "queen"]
    vecs = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 1]], dtype=np.float32)
    stoi = {w: i for i, w in enumerate(words)}
    assert word2vec.analogy(vecs, words, stoi, "man", "king", "woman", k=1) == ["queen"]
    with pytest.raises(KeyError, match="dog"):
        word2vec.analogy(vecs, words, stoi, "man", "king", "dog")


def test_windows_and_chunks_are_next_word_targets():
    ids = np.arange(20)
    x, y = lm.make_windows(ids, 3)
    assert x[0].tolist() == [0, 1, 2] and y[0] == 3 and len(x) == 17
    x, y = lm.make_chunks(ids, 5)
    assert x.shape == (3, 5) and (y == x + 1).all()


def test_perplexity_of_an_untrained_lm_is_near_the_vocabulary_size():
    model = lm.FeedForwardLM(200, context=2, dim=8, hidden=8)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 200, size=(256, 2)).astype(np.int32)
    y = rng.integers(0, 200, size=256).astype(np.int32)
    assert 150 < lm.perplexity(model, x, y) < 260


def test_bilm_directions_see_only_their_side():
    """Forward states at t ignore tokens after t; backward states at t ignore tokens before t."""
    model = elmo.BiLM(30, dim=8, num_layers=2, dropout=0.0)
    model.set_train(False)
    a = np.array([[1, 2, 3, 4, 5, 6]], dtype=np.int32)
    b = a.copy()
    b[0, 5] = 9  # change the last token
    la, lb = (model.layer_states(ms.Tensor(x)) for x in (a, b))
    for ha, hb in zip(la[1:], lb[1:]):
        ha, hb = ha.asnumpy()[0], hb.asnumpy()[0]
        np.testing.assert_allclose(ha[:5, :8], hb[:5, :8], atol=1e-6)  # forward half, positions 0..4
        assert not np.allclose(ha[:5, 8:], hb[:5, 8:])  # backward half sees the change
    c = a.copy()
    c[0, 0] = 9  # change the first token
    lc = model.layer_states(ms.Tensor(c))
    for ha, hc in zip(la[1:], lc[1:]):
        np.testing.assert_allclose(ha.asnumpy()[0, 1:, 8:], hc.asnumpy()[0, 1:, 8:], atol=1e-6)


def test_bilm_loss_of_untrained_model_is_log_v_and_scalar_mix_averages():
    model = elmo.BiLM(40, dim=8, num_layers=2, dropout=0.0)
    ids = ms.Tensor(np.random.default_rng(0).integers(0, 40, size=(4, 12)).astype(np.int32))
    assert abs(float(elmo.bilm_loss(model, ids).asnumpy()) - math.log(40)) < 0.1
    layers = model.layer_states(ids)
    mixed = elmo.ScalarMix(3)(layers).asnumpy()
    np.testing.assert_allclose(mixed, np.mean([h.asnumpy() for h in layers], axis=0), atol=1e-6)
