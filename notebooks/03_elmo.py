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
# # 03 · ELMo: a bidirectional LSTM LM and contextual word vectors (上下文相关的词向量)
#
# ELMo (Peters et al. 2018, "Deep contextualized word representations") trains two LSTM language
# models on unlabelled text: one reads left to right, one right to left. A word's ELMo vector is a
# learned mix of **all** layers of both, computed for the sentence at hand, so "interest" in
# "interest rates" and in "interest in the deal" get different vectors.
#
# No pretrained ELMo weights can be had offline, so we train a small bidirectional LM (双向语言模型)
# ourselves (`bert_ms/elmo.py`). Departures from the paper, for CPU size: a word lookup table instead
# of the character CNN, no LSTM projection layers.

# %%
from bert_ms import device, settings

dev = device.setup(seed=0)

# %%
import math

import matplotlib.pyplot as plt
import mindspore as ms
import numpy as np

from bert_ms import data
from bert_ms.classic import elmo
from bert_ms.classic import language_model as lm
from bert_ms.classic.word2vec import Vocab

words = [w for line in data.load_ptb("train") for w in line + ["<eos>"]]
words = words[: settings.pick(30_000, len(words))]
vocab = Vocab.build(words, min_count=settings.pick(3, 2))
ids = vocab.encode(words)
X, Y = lm.make_chunks(ids, 35)
print(f"{len(ids):,} words, vocabulary {len(vocab):,}, {len(X)} chunks of 35")

# %% [markdown]
# ## 1. The biLM objective (sec. 3.1)
#
# The forward LM maximises Σ_k log p(t_k | t_1..t_{k−1}), the backward LM Σ_k log p(t_k | t_{k+1}..t_N).
# They share the token embedding and the softmax; we minimise the mean of the two cross-entropies.

# %%
bilm = elmo.BiLM(len(vocab), dim=settings.pick(32, 128), num_layers=2, dropout=0.1)


def bilm_loss(x, y):  # y is unused: the targets are the input shifted both ways
    return elmo.bilm_loss(bilm, x)


losses = lm.train_lm(bilm, X, Y, steps=settings.pick(25, 2000), batch_size=32, loss_fn=bilm_loss)
print(f"loss: first {losses[0]:.3f} (log V = {math.log(len(vocab)):.3f}), last {np.mean(losses[-10:]):.3f}")
plt.figure(figsize=(5, 3))
plt.plot(losses)
plt.xlabel("step")
plt.ylabel("mean forward/backward cross-entropy")
plt.show()
assert abs(losses[0] - math.log(len(vocab))) < 0.2, "an untrained LM is close to uniform"
assert np.mean(losses[-10:]) < losses[0] - 0.5, "training must lower the loss"

# %% [markdown]
# ## 2. Every layer of the biLM, for one sentence
#
# `layer_states` returns L+1 = 3 tensors: layer 0 is the context-free token embedding (repeated for the
# two directions), layers 1 and 2 concatenate the forward and backward LSTM states.

# %%
bilm.set_train(False)


def states(sentence: str):
    tokens = sentence.split()
    return tokens, [h.asnumpy()[0] for h in bilm.layer_states(ms.Tensor(vocab.encode(tokens)[None, :]))]


word = "interest"
s1, h1 = states("the fed raised interest rates again <eos>")
s2, h2 = states("investors showed little interest in the deal <eos>")
i1, i2 = s1.index(word), s2.index(word)
cos = [float(a[i1] @ b[i2] / np.linalg.norm(a[i1]) / np.linalg.norm(b[i2])) for a, b in zip(h1, h2)]
for j, c in enumerate(cos):
    print(f"layer {j}: cos('{word}' in sentence 1, '{word}' in sentence 2) = {c:.3f}")
assert abs(cos[0] - 1) < 1e-6, "layer 0 is context-free: the same vector in both sentences"
assert max(cos[1:]) < 0.999, "LSTM layers depend on the context"

# %% [markdown]
# ## 3. The ELMo vector: a learned mix of layers (eq. 1)
#
# ELMo_k = γ · Σ_j s_j · h_{k,j}, where s = softmax(w) are L+1 weights learned by the downstream task and
# γ scales the whole vector. Before training, w = 0 so the mix is the plain average of the layers.

# %%
mix = elmo.ScalarMix(num_layers=3)
layers = bilm.layer_states(ms.Tensor(vocab.encode(s1)[None, :]))
vec = mix(layers).asnumpy()
average = np.mean([h.asnumpy() for h in layers], axis=0)
print("ELMo vectors:", vec.shape)
assert np.allclose(vec, average, atol=1e-6)

# %% [markdown]
# A task learns w: e.g. the paper found that lower layers help syntax (part-of-speech tagging) and
# higher layers help meaning (word-sense disambiguation). BERT's feature-based experiments (lesson 08)
# ask the same question of a Transformer: which layers, mixed how?
#
# ## Exercises
# 1. Compare the cosine of "interest" across the two sentences for layer 1 and layer 2 after full
#    training. Which layer is more context-dependent?
# 2. Replace `ScalarMix` by the top layer only. What does ELMo lose?
# 3. Why can't a *single* left-to-right LSTM give "interest" a vector that depends on "rates"?
