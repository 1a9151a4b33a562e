# ---
# jupyter:
#   bert_ms:
#     images: 4
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
# **Where this lesson sits.** Static vectors (lesson 01) give "may" one vector, whether it is a month or
# a verb. ELMo (Peters et al. 2018, "Deep contextualized word representations") computes a word's
# vector from its sentence. It pretrains two LSTM language models (lesson 02) on unlabelled text, one
# reading left to right and one right to left, and gives each token a learned mix of **all** their
# layers. Roadmap: static vectors → ELMo → BERT/GPT.
#
# ELMo transfers by **features (基于特征的迁移)**: the pretrained biLM is frozen, and a task model learns
# only how to mix its layers. BERT (lessons 06-08) instead **fine-tunes (微调)** the whole pretrained
# network. Both are semi-supervised (半监督): self-supervised pretraining on raw text, then a
# supervised task with few labels.
#
# No pretrained ELMo weights can be had offline, so we train a small bidirectional LM (双向语言模型)
# ourselves. Departures from the paper, for CPU size: a word lookup table instead of the character CNN,
# no LSTM projection layers, small dimensions and a Penn Treebank budget.
#
# Course lecture: step_into_llm, Season 1, lecture 2 "BERT" (`Season1.step_into_chatgpt/2.BERT`), the
# part on how language models evolved (语言模型衍变).

# %%
from bert_ms import device, settings

dev = device.setup(seed=0)

# %%
import math
import time

import matplotlib.pyplot as plt
import mindspore as ms
import numpy as np
from mindspore import nn, ops

from bert_ms import data
from bert_ms.classic import elmo
from bert_ms.classic import language_model as lm
from bert_ms.classic import word2vec
from bert_ms.classic.word2vec import Vocab
from bert_ms.exercises import check

rng = np.random.default_rng(0)
started = time.perf_counter()
words = [w for line in data.load_ptb("train") for w in line + ["<eos>"]]
words = words[: settings.pick(40_000, len(words))]
# the softmax over the vocabulary is most of a training step's cost: we keep the 5,000 most frequent
# words (91 % of the tokens); the rest become <unk>
vocab = Vocab.build(words, min_count=settings.pick(2, 1), max_size=5_000)
ids = vocab.encode(words)
X, Y = lm.make_chunks(ids, 35)
print(f"{len(ids):,} words, vocabulary {len(vocab):,} ({np.mean(ids == 0):.0%} <unk>), {len(X):,} chunks of 35")

# %% [markdown]
# ## 1. Two language models, one reading backwards
#
# The forward LM maximises Σ_k log p(t_k | t_1..t_{k−1}); the backward LM maximises
# Σ_k log p(t_k | t_{k+1}..t_N) (sec. 3.1). A backward LM is an ordinary left-to-right LSTM run on the
# **reversed** sequence. Reversing its states again puts them back at their positions: the backward
# state at position k has read t_N..t_k and predicts t_{k−1}.

# %%
sentence = "the fed raised interest rates again <eos>".split()
flipped = sentence[::-1]
print(f"{'position':>8}  {'token':9} {'forward predicts':17} {'backward predicts':17}")
for k, tok in enumerate(sentence):
    nxt = sentence[k + 1] if k + 1 < len(sentence) else "-"
    prv = sentence[k - 1] if k > 0 else "-"
    print(f"{k:>8}  {tok:9} {nxt:17} {prv:17}")
print("the backward LSTM reads:", " ".join(flipped))

# %% [markdown]
# ### 1.1 The biLM written out
# `elmo.BiLM` holds the pieces: one embedding table, L forward and L backward single-layer LSTMs
# (a residual connection around every layer above the first, as in the paper's released model), and
# one softmax layer shared by both directions. Here are its L+1 layer representations and its loss
# written out from those pieces: layer 0 is the context-free token vector [x; x], layer j the
# concatenation [→h_j; ←h_j].

# %%
def run_lstms(layers, x):
    """Stacked single-layer LSTMs, residual from the second on; returns every layer's states."""
    states = []
    for i, lstm in enumerate(layers):
        h, _ = lstm(x)
        x = h + x if i > 0 else h
        states.append(x)
    return states


def my_layer_states(bilm, tokens):
    x = bilm.embed(tokens)  # [B, T, d]
    forward = run_lstms(bilm.forward_layers, x)
    # the backward LM: flip the sequence, run left to right, flip the states back
    backward = [ops.flip(h, (1,)) for h in run_lstms(bilm.backward_layers, ops.flip(x, (1,)))]
    return [ops.cat((x, x), -1)] + [ops.cat((f, b), -1) for f, b in zip(forward, backward)]


def my_bilm_loss(bilm, tokens):
    d = bilm.embed.embedding_table.shape[1]
    top = my_layer_states(bilm, tokens)[-1]
    fwd_logits = bilm.softmax(top[:, :-1, :d])  # forward state at k predicts token k+1
    bwd_logits = bilm.softmax(top[:, 1:, d:])  # backward state at k predicts token k-1
    vocab_size = fwd_logits.shape[-1]
    forward = ops.cross_entropy(fwd_logits.reshape(-1, vocab_size), tokens[:, 1:].reshape(-1))
    backward = ops.cross_entropy(bwd_logits.reshape(-1, vocab_size), tokens[:, :-1].reshape(-1))
    return (forward + backward) / 2


dim = settings.pick(32, 64)
bilm = elmo.BiLM(len(vocab), dim=dim, num_layers=2, dropout=0.1)
bilm.set_train(False)  # dropout off, so both computations are deterministic
batch = ms.Tensor(X[:4])
mine, theirs = my_layer_states(bilm, batch), bilm.layer_states(batch)
err = max(float(np.abs(a.asnumpy() - b.asnumpy()).max()) for a, b in zip(mine, theirs))
loss_err = abs(float(my_bilm_loss(bilm, batch).asnumpy()) - float(elmo.bilm_loss(bilm, batch).asnumpy()))
print(f"{len(mine)} layers of shape {tuple(mine[0].shape)}; max |Δ| states {err:.1e}, loss {loss_err:.1e}")
assert len(mine) == 3 and err < 1e-5 and loss_err < 1e-5

# %% [markdown]
# ### 1.2 Who sees whom
# Change one input token at a time and watch which positions' top-layer states change. The forward
# half at position k depends on tokens 0..k only, the backward half on tokens k..T−1 only: neither
# direction ever sees both sides. (ELMo is bidirectional only in that it concatenates the two;
# BERT's layers see both sides at once.)

# %%
probe = X[:1, :10].copy()
base = [h.asnumpy()[0] for h in bilm.layer_states(ms.Tensor(probe))][-1]
influence = {"forward": np.zeros((10, 10)), "backward": np.zeros((10, 10))}
for j in range(10):
    changed = probe.copy()
    changed[0, j] = (changed[0, j] + 1) % len(vocab)
    top = bilm.layer_states(ms.Tensor(changed))[-1].asnumpy()[0]
    influence["forward"][:, j] = np.abs(top[:, :dim] - base[:, :dim]).max(1) > 1e-6
    influence["backward"][:, j] = np.abs(top[:, dim:] - base[:, dim:]).max(1) > 1e-6

fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
for ax, (name, m) in zip(axes, influence.items()):
    ax.imshow(m, cmap="Blues")
    ax.set_title(f"{name} LM: state k depends on token j")
    ax.set_xlabel("changed input token j")
    ax.set_ylabel("state position k")
plt.tight_layout()
plt.show()
assert np.array_equal(influence["forward"], np.tril(np.ones((10, 10))))
assert np.array_equal(influence["backward"], np.triu(np.ones((10, 10))))

# %% [markdown]
# **Exercise 3.1 (练习)**: given any left-to-right recurrent function `run` ([B, T, D] → [B, T, H]), return
# the states of the same network reading right to left, aligned with the input positions.
# **Exercise 3.2**: write the biLM loss from both directions' logits at every position.

# %%
# Exercise 3.1 (练习): backward states by flipping
def my_backward_states(run, x):
    raise NotImplementedError  # your code here (ops.flip(..., (1,)))


check.backward_states(my_backward_states)


# Exercise 3.2 (练习): the biLM loss; fwd_logits, bwd_logits are [B, T, V] at every position, ids [B, T]
def my_bilm_loss_from_logits(fwd_logits, bwd_logits, ids):
    raise NotImplementedError  # your code here


check.bilm_loss(my_bilm_loss_from_logits)

# %% [markdown]
# ## 2. Pretraining the biLM
# The written-out pieces are proved equal to the package, so the package trains (`lm.train_lm`: Adam,
# gradient clipping at 1, compiled with `mindspore.jit`) on the Penn Treebank.

# %%
def bilm_objective(x, y):  # y is unused: the targets are the input shifted both ways
    return elmo.bilm_loss(bilm, x)


steps = settings.pick(25, 600)
losses = lm.train_lm(bilm, X, Y, steps=steps, batch_size=32, lr=3e-3, loss_fn=bilm_objective)
bilm.set_train(False)
print(f"loss: first {losses[0]:.3f} (log V = {math.log(len(vocab)):.3f}), last {np.mean(losses[-10:]):.3f}")
plt.figure(figsize=(5, 3))
plt.plot(losses)
plt.xlabel("step")
plt.ylabel("mean forward/backward cross-entropy")
plt.title("biLM pretraining on PTB")
plt.show()
assert abs(losses[0] - math.log(len(vocab))) < 0.2, "an untrained LM is close to uniform"
assert np.mean(losses[-10:]) < losses[0] - 0.5, "training must lower the loss"

# %% [markdown]
# ## 3. Context dependence, shown
#
# ### 3.1 One word, three sentences
# For each word, sentence A and sentence B use it in the **same** sense (the control) and sentence C in a
# **different** sense, while sharing more words with A than B does: a hard test, because a model that
# only matched surrounding words would put A nearer C. A static vector gives the same similarity for
# every pair: 1. A contextual vector should put A nearer B than C. Our biLM is tiny and trained for
# minutes, so we ask that it pass for most of the words, and print where it does not.

# %%
triples = {
    "may": ("prices may rise in the next few months", "the company may sell its stake",
            "prices rose in may after a weak april"),
    "interest": ("the bank raised interest rates on loans", "lower interest rates helped the bond market",
                 "the bank showed little interest in the loans"),
    "fall": ("prices could fall sharply next year", "shares may fall further",
             "prices rose sharply last fall"),
    "share": ("the company will share the costs with its partner", "the two firms agreed to share the profits",
              "the company earned $ N a share"),
}


def vectors_of(sentence, word):
    tokens = sentence.split() + ["<eos>"]
    missing = [t for t in tokens if t not in vocab.stoi]
    assert not missing or settings.smoke(), f"not in the PTB vocabulary: {missing}"
    layers = bilm.layer_states(ms.Tensor(vocab.encode(tokens)[None, :]))
    return [h.asnumpy()[0, tokens.index(word)] for h in layers]


def cos(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


same_vs_diff = {}
for word, (a, b, c) in triples.items():
    va, vb, vc = vectors_of(a, word), vectors_of(b, word), vectors_of(c, word)
    same = [cos(x, y) for x, y in zip(va, vb)]
    diff = [cos(x, y) for x, y in zip(va, vc)]
    same_vs_diff[word] = (same, diff)
    print(f"{word:9s} " + "  ".join(f"layer {j}: same {s:.2f} / different {d:.2f}"
                                    for j, (s, d) in enumerate(zip(same, diff))))
    assert abs(same[0] - 1) < 1e-6 and abs(diff[0] - 1) < 1e-6, "layer 0 is context-free"
passed = [w for w, (same, diff) in same_vs_diff.items() if same[-1] > diff[-1]]
print(f"top layer puts the same sense nearer for {len(passed)} of {len(triples)} words: {passed}")
if not settings.smoke():
    assert len(passed) >= 3

# %% [markdown]
# ### 3.2 Hundreds of occurrences, coloured by sense
# A handful of sentences can be luck. Here is every occurrence of "may" and of "interest" in the Penn
# Treebank, each labelled by its neighbours: "may" is the month after in / last / since / until or
# before a day number, the verb before be / have / not; "interest" is financial before rates / rate /
# payments / income / expense, and means attention before "in". We project each word's top-layer
# vectors onto their two main directions (PCA, as in lesson 01).

# %%
all_tokens = [w for split in ("train", "dev", "test") for line in data.load_ptb(split) for w in line + ["<eos>"]]
all_ids = vocab.encode(all_tokens)
rules = {
    "may": {"month": lambda p, n: p in {"in", "last", "since", "until", "through", "early", "late", "next"}
            or n == "N",
            "verb": lambda p, n: n in {"be", "have", "not"}},
    "interest": {"financial": lambda p, n: n in {"rates", "rate", "payments", "income", "expense"},
                 "attention": lambda p, n: n == "in"},
}
half = 17  # each occurrence is read in a window of 17 words on each side


def occurrences(word, limit):
    found = {sense: [] for sense in rules[word]}
    for i in np.flatnonzero(all_ids == vocab.stoi[word]):
        if half <= i < len(all_ids) - half:
            senses = [s for s, rule in rules[word].items() if rule(all_tokens[i - 1], all_tokens[i + 1])]
            if len(senses) == 1 and len(found[senses[0]]) < limit:
                found[senses[0]].append(i)
    return found


def top_vectors(positions):
    windows = np.stack([all_ids[i - half : i + half + 1] for i in positions]).astype(np.int32)
    return bilm.layer_states(ms.Tensor(windows))[-1].asnumpy()[:, half]


fig, axes = plt.subplots(1, 2, figsize=(10, 4))
separation, chance = {}, {}
for ax, word in zip(axes, rules):
    found = occurrences(word, limit=settings.pick(40, 150))
    vecs = {sense: top_vectors(pos) for sense, pos in found.items()}
    stacked = np.concatenate(list(vecs.values()))
    centred = stacked - stacked.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    start = 0
    for sense, v in vecs.items():
        xy = centred[start : start + len(v)] @ vt[:2].T
        ax.scatter(xy[:, 0], xy[:, 1], s=10, alpha=0.6, label=f"{sense} ({len(v)})")
        start += len(v)
    ax.set_title(f'"{word}": top-layer biLM vectors (PCA)')
    ax.legend()
    # how well do the senses separate? leave-one-out nearest class centroid, cosine
    unit = {s: v / np.linalg.norm(v, axis=1, keepdims=True) for s, v in vecs.items()}
    correct = total = 0
    for s, v in unit.items():
        for i in range(len(v)):
            cents = {t: (u.sum(0) - (v[i] if t == s else 0)) / (len(u) - (t == s)) for t, u in unit.items()}
            correct += max(cents, key=lambda t: v[i] @ cents[t] / np.linalg.norm(cents[t])) == s
            total += 1
    separation[word] = correct / total
    chance[word] = max(len(v) for v in vecs.values()) / total  # always answering the larger sense
plt.tight_layout()
plt.show()
for word in rules:
    print(f"{word}: top-layer sense accuracy {separation[word]:.2f}; layer 0, one vector for every occurrence, "
          f"can only answer the larger sense: {chance[word]:.2f}")
if not settings.smoke():
    assert all(separation[w] > max(0.75, chance[w] + 0.15) for w in rules)

# %% [markdown]
# ### 3.3 Nearest neighbours: by contextual vector, and in GloVe
# Take one occurrence of "may" of each sense and find the tokens of held-out text (PTB test) whose
# top-layer vectors are nearest to it (cosine). The neighbours of the month are months (often "may" in a
# date), those of the verb are modal verbs. GloVe, a static vector, has one neighbour list for "may",
# whatever the sentence, and no month is on it.

# %%
def all_layers(chunks):
    """[N, 35] ids -> [N, 35, L+1, 2·dim]: every layer of the frozen biLM, 100 chunks at a time."""
    out = [np.stack([h.asnumpy() for h in bilm.layer_states(ms.Tensor(chunks[i : i + 100].astype(np.int32)))], 2)
           for i in range(0, len(chunks), 100)]
    return np.concatenate(out)


bank_ids = vocab.encode([w for line in data.load_ptb("test") for w in line + ["<eos>"]])
bank_ids = bank_ids[: settings.pick(3_500, len(bank_ids)) // 35 * 35]
bank_words = [vocab.itos[i] for i in bank_ids]
bank = all_layers(bank_ids.reshape(-1, 35))[:, :, -1].reshape(-1, 2 * dim)  # top layer of every token
bank_unit = bank / np.linalg.norm(bank, axis=1, keepdims=True)

glove_words, glove = data.load_glove_50d()
gstoi = {w: i for i, w in enumerate(glove_words[:100_000])}
glove = np.asarray(glove[:100_000], dtype=np.float32)
print("GloVe 'may' ->", word2vec.nearest(glove, glove_words[:100_000], gstoi, "may", k=8))

months = {"january", "february", "march", "april", "june", "july", "august", "september", "october", "november",
          "december"}
modals = {"might", "could", "would", "will", "should", "can", "must"}


def sense_of(i):
    """A month, a modal verb, or neither, for token i of the held-out text (a "may" by the rules of 3.2)."""
    w, prev, nxt = bank_words[i], bank_words[max(i - 1, 0)], bank_words[min(i + 1, len(bank_words) - 1)]
    if w in months or (w == "may" and rules["may"]["month"](prev, nxt)):
        return "month"
    if w in modals or (w == "may" and rules["may"]["verb"](prev, nxt)):
        return "modal"
    return "other"


found_senses = {}
for query, sense in [("sales fell sharply in may from a year earlier", "month"),
                     ("analysts said the company may report a loss", "modal")]:
    v = vectors_of(query, "may")[-1]
    sims = bank_unit @ (v / np.linalg.norm(v))
    best = np.argsort(-sims)[:8]
    found_senses[sense] = [sense_of(i) for i in best]
    print(f"\n'may' in: {query}")
    for i in best[:5]:
        print(f"   {sims[i]:.2f}  {' '.join(bank_words[max(0, i - 4) : i])} [{bank_words[i]}] "
              f"{' '.join(bank_words[i + 1 : i + 4])}   ({sense_of(i)})")
    print(f"   of the 8 nearest tokens, {found_senses[sense].count(sense)} are {sense}s")
glove_near = word2vec.nearest(glove, glove_words[:100_000], gstoi, "may", k=10)
if not settings.smoke():
    assert found_senses["month"].count("month") >= 4 and found_senses["modal"].count("modal") >= 4
    assert not months & set(glove_near), "GloVe's single 'may' vector has no month among its neighbours"

# %% [markdown]
# ## 4. The ELMo vector: a learned mix of layers (eq. 1)
#
# $$ \mathrm{ELMo}_k = \gamma \sum_{j=0}^{L} s_j\, h_{k,j}, \qquad s = \mathrm{softmax}(w) $$
#
# w (L+1 numbers) and γ are learned by the downstream task while the biLM stays frozen. Written out,
# against the package's `ScalarMix` with non-trivial weights:

# %%
def my_scalar_mix(layers, w, gamma):
    s = ops.softmax(w, 0)
    return gamma * sum(s[j] * h for j, h in enumerate(layers))


mix = elmo.ScalarMix(num_layers=3)
mix.weights.set_data(ms.Tensor([0.5, -1.0, 2.0], ms.float32))
mix.gamma.set_data(ms.Tensor(1.7, ms.float32))
layers = bilm.layer_states(batch)
err = float(np.abs(my_scalar_mix(layers, mix.weights, mix.gamma).asnumpy() - mix(layers).asnumpy()).max())
print(f"max |Δ| = {err:.1e}")
assert err < 1e-5

# %% [markdown]
# **Exercise 3.3 (练习)**: write the scalar mix yourself (without looking above!).

# %%
# Exercise 3.3 (练习): gamma * sum_j softmax(w)_j * layers[j]
def my_mix(layers, w, gamma):
    raise NotImplementedError  # your code here


check.elmo_scalar_mix(my_mix)

# %% [markdown]
# ### 4.1 Training the mix on a small task: which words were swapped in?
# A task needs labels; we make some from held-out text. In PTB dev sentences, 15 % of the words are
# replaced by random words (drawn by corpus frequency, so a replaced word looks like any other word on
# its own), and the task is to tell, for each token, whether it was replaced (替换词检测, the task of
# ELECTRA's discriminator). The biLM is frozen; the task model is a `ScalarMix` followed by a small
# network (one tanh layer of 64 units, then one logit), trained with Adam on a balanced set of tokens.
# We compare the learned mix with the same network on each single layer.

# %%
dev_ids = vocab.encode([w for line in data.load_ptb("dev") for w in line + ["<eos>"]])
dev_ids = dev_ids[: settings.pick(8_750, 35_000)].reshape(-1, 35)
freq = np.bincount(ids, minlength=len(vocab)).astype(np.float64)
freq[0] = 0
corrupt = dev_ids.copy()
replaced = rng.random(dev_ids.shape) < 0.15
corrupt[replaced] = rng.choice(len(vocab), size=int(replaced.sum()), p=freq / freq.sum())
replaced &= corrupt != dev_ids  # a "replacement" by the same word is no replacement
features = all_layers(corrupt).reshape(-1, 3, 2 * dim)  # every token: its L+1 = 3 layer vectors
labels = replaced.reshape(-1)
pos, neg = np.flatnonzero(labels), np.flatnonzero(~labels)
keep = np.concatenate([pos, rng.choice(neg, size=len(pos), replace=False)])  # balanced: chance is 50 %
keep = keep[rng.permutation(len(keep))]
cut = int(0.8 * len(keep))
train_idx, test_idx = keep[:cut], keep[cut:]
print(f"{len(keep):,} tokens ({len(pos):,} replaced), {len(train_idx):,} to train, {len(test_idx):,} to test")


class MixClassifier(nn.Cell):
    """ELMo's scalar mix (or one fixed layer) -> a small task network -> one logit: was the token replaced?"""

    def __init__(self, fixed_layer=None):
        super().__init__()
        self.mix = elmo.ScalarMix(3)
        self.fixed_layer = fixed_layer
        self.hidden = nn.Dense(2 * dim, 64, activation="tanh")
        self.out = nn.Dense(64, 1)

    def construct(self, feats):  # feats: [B, L+1, 2·dim]
        if self.fixed_layer is None:
            h = self.mix([feats[:, j] for j in range(3)])
        else:
            h = feats[:, self.fixed_layer]
        return self.out(self.hidden(h)).squeeze(-1)


task_steps = settings.pick(60, 600)


def train_task(model):
    def loss_fn(f, y):
        return ops.binary_cross_entropy_with_logits(model(f), y, ops.ones_like(y), ops.ones_like(y))

    step = device.jit(word2vec.TrainStep(loss_fn, nn.Adam(model.trainable_params(), learning_rate=1e-2)))
    order = np.random.default_rng(0)
    for _ in range(task_steps):
        b = order.choice(train_idx, size=256)
        step(ms.Tensor(features[b]), ms.Tensor(labels[b].astype(np.float32)))
    scores = model(ms.Tensor(features[test_idx])).asnumpy()
    return float(((scores > 0) == labels[test_idx]).mean())


accuracy = {}
for name, layer in [("layer 0", 0), ("layer 1", 1), ("layer 2", 2), ("learned mix", None)]:
    task = MixClassifier(fixed_layer=layer)
    accuracy[name] = train_task(task)
    if layer is None:
        learned_s = ops.softmax(task.mix.weights, 0).asnumpy()
        learned_gamma = float(task.mix.gamma.asnumpy())
print({k: round(v, 3) for k, v in accuracy.items()}, "| learned s =", np.round(learned_s, 2),
      f"γ = {learned_gamma:.2f}")

fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
axes[0].bar(list(accuracy), list(accuracy.values()), color=["gray", "tab:blue", "tab:blue", "tab:green"])
axes[0].axhline(0.5, color="gray", ls="--")
axes[0].set_ylabel("test accuracy (chance 0.5)")
axes[0].set_title("replaced-word detection on frozen biLM features")
axes[1].bar([f"s_{j}" for j in range(3)], learned_s)
axes[1].set_title("the learned layer weights softmax(w)")
plt.tight_layout()
plt.show()
assert abs(learned_s.sum() - 1) < 1e-5
if not settings.smoke():  # the smoke run's biLM has trained for seconds: its features mean little
    assert accuracy["layer 0"] < 0.6, "a word on its own does not tell whether it was swapped in"
    assert accuracy["learned mix"] > accuracy["layer 0"] + 0.1
    assert accuracy["learned mix"] >= max(accuracy["layer 1"], accuracy["layer 2"]) - 0.02
    assert learned_s[0] < learned_s[2] and learned_s[2] == learned_s.max(), "the task leans on the top layer"

# %% [markdown]
# The token layer alone is near chance, because a swapped-in word is an ordinary word; only its fit with
# the neighbours gives it away. The learned mix does as well as the best single layer without our having
# to know which one that is, and its weights lean on the contextual layers, the top one most. The paper found
# the same kind of thing with real tasks: lower layers help syntax (part-of-speech tagging), higher
# layers help meaning (word-sense disambiguation), so each task learns its own mix. BERT's
# feature-based experiments (lesson 09) ask the same question of a Transformer.
#
# ## 5. Toward BERT
# ELMo's two directions never meet inside the network: the forward LSTM never sees the right context
# (section 1.2), so ELMo is only **shallowly** bidirectional (浅层双向). A deep bidirectional LM cannot be
# trained left to right, because every word would see itself. BERT's masked language model (lesson 07)
# hides the words to predict instead, and the Transformer (lesson 04) replaces the recurrence.

# %%
print(f"lesson ran in {time.perf_counter() - started:.0f} s")
