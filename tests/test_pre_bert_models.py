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


def test_one_sgd_train_step_equals_the_hand_derived_gradient():
    """word2vec.train_step with nn.SGD: table <- table - lr * dℓ/dtable, ℓ the mean of eq. 4 (Mikolov 2013b)."""
    from mindspore import nn

    rng = np.random.default_rng(0)
    vocab, dim, batch, k, lr = 30, 6, 8, 3, 0.5
    model = word2vec.SkipGramNS(vocab, dim)
    model.context.embedding_table.set_data(ms.Tensor(rng.normal(0, 0.5, (vocab, dim)).astype(np.float32)))
    v_tab, u_tab = model.center.embedding_table.asnumpy().copy(), model.context.embedding_table.asnumpy().copy()
    c, o = rng.integers(1, vocab, batch), rng.integers(1, vocab, batch)
    n = rng.integers(1, vocab, (batch, k))
    step = word2vec.train_step(model, nn.SGD(model.trainable_params(), learning_rate=lr))
    loss = float(step(*(ms.Tensor(a.astype(np.int32)) for a in (c, o, n))).asnumpy())

    def sig(x):
        return 1 / (1 + np.exp(-x))

    v, up, un = v_tab[c], u_tab[o], u_tab[n]
    sp, sn = (up * v).sum(-1), (un * v[:, None]).sum(-1)
    assert loss == pytest.approx(-(np.log(sig(sp)) + np.log(sig(-sn)).sum(-1)).mean(), rel=1e-5)
    grad_v, grad_u = np.zeros_like(v_tab), np.zeros_like(u_tab)
    np.add.at(grad_v, c, (-(1 - sig(sp))[:, None] * up + (sig(sn)[..., None] * un).sum(1)) / batch)
    np.add.at(grad_u, o, -(1 - sig(sp))[:, None] * v / batch)
    np.add.at(grad_u, n, sig(sn)[..., None] * v[:, None] / batch)
    np.testing.assert_allclose(model.center.embedding_table.asnumpy(), v_tab - lr * grad_v, atol=1e-6)
    np.testing.assert_allclose(model.context.embedding_table.asnumpy(), u_tab - lr * grad_u, atol=1e-6)


def test_direct_connections_add_w_x_to_the_bengio_output():
    """y = b + W x + U tanh(d + H x) (Bengio 2003, sec. 2); direct=False is the same with W = 0."""
    with_w = lm.FeedForwardLM(40, context=2, dim=4, hidden=5, direct=True)
    without = lm.FeedForwardLM(40, context=2, dim=4, hidden=5, direct=False)
    for name in ("embed.embedding_table", "hidden.weight", "hidden.bias", "out.weight", "out.bias"):
        dict(without.parameters_and_names())[name].set_data(dict(with_w.parameters_and_names())[name].copy())
    ids = np.array([[1, 2], [3, 39]], dtype=np.int32)
    x = with_w.embed.embedding_table.asnumpy()[ids].reshape(2, -1)
    expected = without(ms.Tensor(ids)).asnumpy() + x @ with_w.direct.weight.asnumpy().T
    np.testing.assert_allclose(with_w(ms.Tensor(ids)).asnumpy(), expected, atol=1e-5)
    assert without.direct is None


def test_vanilla_rnnlm_follows_the_elman_equation():
    """RNNLM(cell="rnn"): s_t = tanh(U x_t + W s_{t-1} + b) from s_0 = 0, logits = out(s_t)."""
    model = lm.RNNLM(20, dim=4, hidden=3, cell="rnn")
    ids = np.array([[1, 5, 7, 2, 9]], dtype=np.int32)
    x = model.embed.embedding_table.asnumpy()[ids[0]]
    r = model.rnn
    U, W = r.weight_ih_l0.asnumpy(), r.weight_hh_l0.asnumpy()
    b = r.bias_ih_l0.asnumpy() + r.bias_hh_l0.asnumpy()
    s, states = np.zeros(3), []
    for t in range(5):
        s = np.tanh(U @ x[t] + W @ s + b)
        states.append(s)
    logits = np.array(states) @ model.out.weight.asnumpy().T + model.out.bias.asnumpy()
    np.testing.assert_allclose(model(ms.Tensor(ids)).asnumpy()[0], logits, atol=1e-5)
    with pytest.raises(ValueError, match="cell must be"):
        lm.RNNLM(20, cell="gru")


def test_add_k_ngram_counts_and_normalises():
    ids = [0, 1, 2, 0, 1, 1, 2, 0]
    bigram = lm.NGramLM(2, 3, k=0.5).fit(ids)
    assert bigram.prob([0], 1) == pytest.approx((2 + 0.5) / (2 + 1.5))  # 0->1 twice, 0 seen twice as a context
    for n in (1, 2, 3):
        model = lm.NGramLM(n, 3, k=0.1).fit(ids)
        for context in ([], [0], [1, 2], [2, 2]):
            if len(context) >= n - 1:
                assert sum(model.prob(context, w) for w in range(3)) == pytest.approx(1.0)
    unigram = lm.NGramLM(1, 3, k=1.0).fit(ids)
    probs = np.array([3 + 1, 3 + 1, 2 + 1]) / (8 + 3)
    assert unigram.perplexity(ids) == pytest.approx(math.exp(-np.mean(np.log(probs[ids]))))
    with pytest.raises(ValueError, match="k > 0"):
        lm.NGramLM(2, 3, k=0)
