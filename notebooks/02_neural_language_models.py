# ---
# jupyter:
#   bert_ms:
#     images: 1
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
# # 02 · Neural language models (神经语言模型): feed-forward, then RNN
#
# A language model (语言模型) gives a probability to every next word given the words before it.
# BERT's pretraining task is a language-modelling task, so we start with the two classic neural ones:
#
# 1. the **feed-forward** LM of Bengio et al. (2003): a fixed window of n−1 previous words;
# 2. the **recurrent** LM (循环神经网络语言模型), here with LSTM cells: the whole past in a hidden state.
#
# We measure both by **perplexity** (困惑度) on held-out Penn Treebank text: exp of the mean
# cross-entropy per word; a model that guessed uniformly over V words would score V.

# %%
from bert_ms import device, settings

dev = device.setup(seed=0)

# %%
import math

import matplotlib.pyplot as plt
import numpy as np

from bert_ms import data
from bert_ms.classic import language_model as lm
from bert_ms.classic.word2vec import Vocab

train_words = [w for line in data.load_ptb("train") for w in line + ["<eos>"]]
dev_words = [w for line in data.load_ptb("dev") for w in line + ["<eos>"]]
train_words = train_words[: settings.pick(40_000, len(train_words))]
dev_words = dev_words[: settings.pick(8_000, len(dev_words))]
vocab = Vocab.build(train_words, min_count=settings.pick(3, 1))
train_ids, dev_ids = vocab.encode(train_words), vocab.encode(dev_words)
V = len(vocab)
print(f"{len(train_ids):,} training words, {len(dev_ids):,} dev words, vocabulary {V:,}")

# %% [markdown]
# ## A baseline without context: the unigram model
#
# Predicting every word with its corpus frequency, ignoring the past entirely:

# %%
freq = np.bincount(train_ids, minlength=V) + 1.0  # add-one smoothing
logp = np.log(freq / freq.sum())
unigram_ppl = math.exp(-logp[dev_ids].mean())
print(f"unigram perplexity: {unigram_ppl:.1f} (uniform guessing would be {V})")
assert unigram_ppl < V

# %% [markdown]
# ## 1. Feed-forward LM (Bengio et al. 2003)
#
# The previous n−1 = 3 words are looked up in an embedding table (词嵌入), concatenated, passed through
# a tanh hidden layer and a softmax over the vocabulary: y = b + U·tanh(d + H·x).

# %%
context = 3
X, Y = lm.make_windows(train_ids, context)
Xd, Yd = lm.make_windows(dev_ids, context)
ff = lm.FeedForwardLM(V, context=context, dim=64, hidden=128)
ff_losses = lm.train_lm(ff, X, Y, steps=settings.pick(300, 3000), batch_size=128, lr=5e-3)
ff_ppl = lm.perplexity(ff, Xd, Yd)
print(f"first loss {ff_losses[0]:.3f} (log V = {math.log(V):.3f}); dev perplexity {ff_ppl:.1f}")
# an untrained model is close to uniform: its loss is about log V
assert abs(ff_losses[0] - math.log(V)) < 0.2
assert ff_ppl < unigram_ppl, "three words of context must beat no context"

# %% [markdown]
# ## 2. Recurrent LM with LSTM cells
#
# An RNN reads the text one word at a time and keeps a hidden state h_t = f(h_{t−1}, x_t), so in
# principle its prediction depends on *all* previous words. We train on chunks of 35 words
# (truncated back-propagation through time, 截断的时间反向传播).

# %%
seq_len = 35
Xc, Yc = lm.make_chunks(train_ids, seq_len)
Xcd, Ycd = lm.make_chunks(dev_ids, seq_len)
rnn = lm.RNNLM(V, dim=64, hidden=128)
rnn_losses = lm.train_lm(rnn, Xc, Yc, steps=settings.pick(30, 1500), batch_size=32)
rnn_ppl = lm.perplexity(rnn, Xcd, Ycd)
print(f"RNN dev perplexity {rnn_ppl:.1f}")
# the CI smoke run trains for only 30 steps: it must beat uniform guessing; a full run must beat unigram
assert rnn_ppl < (V / 4 if settings.smoke() else unigram_ppl)

# %%
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(ff_losses, label=f"feed-forward (dev ppl {ff_ppl:.0f})", alpha=0.7)
ax.plot(np.linspace(0, len(ff_losses), len(rnn_losses)), rnn_losses, label=f"LSTM (dev ppl {rnn_ppl:.0f})", alpha=0.7)
ax.axhline(math.log(unigram_ppl), color="gray", ls="--", label="unigram")
ax.set_xlabel("training progress (steps of the feed-forward run)")
ax.set_ylabel("cross-entropy (nats)")
ax.legend()
plt.show()

# %% [markdown]
# The smoke run used by CI is far too short to compare the two models. In a short run of ours on 100k
# PTB words (300 steps each, CPU) the feed-forward model reached a dev perplexity of about 220 and the
# LSTM about 186; run this notebook in full mode to see where they end on the whole corpus.
#
# ## Toward ELMo and BERT
# Both models read **left to right** only. ELMo (next lesson) trains a second LSTM right to left and uses
# both; BERT replaces the recurrence with self-attention and predicts masked words from both sides at
# once.
#
# ## Exercises
# 1. Increase the feed-forward context from 3 to 6 words. Does perplexity keep falling?
# 2. Generate text from the LSTM by sampling one word at a time from its softmax.
# 3. Why is perplexity on the dev set higher than on the training set, and what would dropout change?
