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

from bert_ms.runtime.progress import bar
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
# A batch holds sentences of different lengths, so the shorter rows are padded at the end. Flipping a
# whole padded row would make the backward LM read the padding first; it must start at each row's
# last real token, and the padding stays where it is.
#
# **Exercise 3.1 (练习): the backward LM's states.** Given any left-to-right recurrent function `run`
# ([B, T, D] → [B, T, H]), an input `x` [B, T, D] and `lengths` (row b holds `lengths[b]` real tokens,
# then padding), return the [B, T, H] states of the same network reading each row right to left from its
# last real token, aligned with the positions of `x`: position t holds the state after reading
# x_{n−1}, …, x_t (n = `lengths[b]`). The states at padding positions are not checked. (`ops.flip`
# reverses a whole axis; `ops.reverse_sequence` reverses the first `lengths[b]` entries of each row.)

# %%
# Exercise 3.1 (练习): backward states by flipping, for padded rows
def my_backward_states(run, x, lengths):
    raise NotImplementedError  # your code here


check.backward_states(my_backward_states)

# %% [markdown]
# **Exercise 3.2 (练习): the biLM loss.** Given both directions' logits at every position, `fwd_logits`
# and `bwd_logits` [B, T, V], and the token ids [B, T], return the mean of the forward LM's and the
# backward LM's mean cross-entropies, each LM predicting the token the table above gives it.

# %%
# Exercise 3.2 (练习): the biLM loss from both directions' logits
def my_bilm_loss_from_logits(fwd_logits, bwd_logits, ids):
    raise NotImplementedError  # your code here


check.bilm_loss(my_bilm_loss_from_logits)

# %% [markdown]
# ### 1.1 The biLM written out
# `elmo.BiLM` holds the pieces: one embedding table, L forward and L backward single-layer LSTMs
# (a residual connection around every layer above the first, as in the paper's released model), and
# one softmax layer shared by both directions. Here are its L+1 layer representations and its loss
# written out from those pieces: layer 0 is the context-free token vector [x; x], layer j the
# concatenation [→h_j; ←h_j]. (Our PTB chunks are all 35 real tokens long, so a plain flip of the time
# axis is the backward run here.)

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
# **different** sense. B shares no word next to the target with A, and C shares more words with A than
# B does: a model that only matched surrounding words would put A nearer C. A static vector gives the
# same similarity for every pair: 1. A contextual vector should put A nearer B than C.

# %%
triples = {
    "may": ("prices may rise in the next few months", "the company may sell its stake",
            "prices rose in may after a weak april"),
    "interest": ("the bank raised interest rates on loans", "investors earned interest on their bonds",
                 "the bank showed little interest in the loans"),
    "fall": ("prices could fall sharply next year", "shares may fall further",
             "prices rose sharply last fall"),
    "share": ("the company will share the costs with its partner", "the two firms agreed to share profits",
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


def shared_with(a, other, word):
    return sorted((set(a.split()) & set(other.split())) - {word})


def neighbours(sentence, word):
    t = sentence.split()
    k = t.index(word)
    return set(t[max(k - 1, 0) : k] + t[k + 1 : k + 2])


same_vs_diff = {}
for word, (a, b, c) in triples.items():
    assert not neighbours(a, word) & neighbours(b, word), "B shares no word next to the target with A"
    assert len(shared_with(a, c, word)) > len(shared_with(a, b, word)), "C shares more words with A than B does"
    va, vb, vc = vectors_of(a, word), vectors_of(b, word), vectors_of(c, word)
    same = [cos(x, y) for x, y in zip(va, vb)]
    diff = [cos(x, y) for x, y in zip(va, vc)]
    same_vs_diff[word] = (same, diff)
    verdict = "same sense nearer" if same[-1] > diff[-1] else "DIFFERENT sense nearer"
    print(f"{word:9s} " + "  ".join(f"layer {j}: same {s:.2f} / different {d:.2f}"
                                    for j, (s, d) in enumerate(zip(same, diff)))
          + f"  -> top layer: {verdict} by {abs(same[-1] - diff[-1]):.3f}"
          + f" (A shares {shared_with(a, b, word)} with B, {shared_with(a, c, word)} with C)")
    assert abs(same[0] - 1) < 1e-6 and abs(diff[0] - 1) < 1e-6, "layer 0 is context-free"
margin = {w: same[-1] - diff[-1] for w, (same, diff) in same_vs_diff.items()}  # top layer: same minus different
passed = [w for w in triples if margin[w] > 0]
print(f"top layer puts the same sense nearer for {len(passed)} of {len(triples)} words: {passed}")

# %% [markdown]
# In full mode the top layer puts the same sense nearer for "may" and "fall" (by about 0.1) and for
# "share" (by about 0.03). For "interest" it is a tie: both similarities are 0.96 to two decimals, and
# which one wins by a few thousandths changes from one training run to another (two of our full runs,
# on a busy machine, went different ways). Sentence C, "the bank showed little interest in the loans",
# shares "the bank" and "loans" with A, and that weighs as much as the sense. Four sentences are thin
# evidence either way, so 3.2 counts many occurrences.

# %%
if not settings.smoke():
    assert min(margin["may"], margin["fall"]) > 0.08 and 0.02 < margin["share"] < 0.05
    assert abs(margin["interest"]) < 0.01, "interest: a tie"

# %% [markdown]
# ### 3.2 Hundreds of occurrences, coloured by sense
# Four sentences can be luck. Here are many Penn Treebank occurrences of two ambiguous words, each read in
# a window of 17 words on either side (a window that occurs twice in the corpus is counted once):
#
# - **"may"**, a month or the modal verb, labelled by its neighbours: a month after in / last / since /
#   until / through / early / late / next or before a day number (N), the verb before be / have / not.
#   We read every context this rule calls a month: all are months. Because the label comes from the
#   adjacent words, any vector that holds those words separates the two senses.
# - **"interest in"**, a stake in a company ("sold its N N interest in the unit") or attention ("showed
#   little interest in the bonds"), labelled by reading each sentence (the lists are in the code). The
#   next word is "in" for all of them, so the adjacent words alone cannot decide.
#
# For each we measure how well the senses separate (leave-one-out nearest class centroid, cosine) with
# three kinds of vector: the top biLM layer at the word; **the adjacent words only** (the biLM's layer-0
# vectors of the previous and the next word, side by side), the baseline that shows what the biLM adds to
# its neighbours; and always answering the larger sense. The scatter projects the top-layer vectors onto
# their two main directions (PCA, as in lesson 01).

# %%
all_tokens = [w for split in ("train", "dev", "test") for line in data.load_ptb(split) for w in line + ["<eos>"]]
all_ids = vocab.encode(all_tokens)
half = 17  # each occurrence is read in a window of 17 words on each side
month_after = {"in", "last", "since", "until", "through", "early", "late", "next"}


def may_sense(i):
    """'month' after in / last / since / ... or before a day number, 'verb' before be / have / not."""
    month = all_tokens[i - 1] in month_after or all_tokens[i + 1] == "N"
    verb = all_tokens[i + 1] in {"be", "have", "not"}
    return None if month == verb else "month" if month else "verb"


# "interest in", labelled by hand: positions in all_tokens, every context read
interest_in = {
    "stake": [
        1141, 32324, 74352, 106621, 107019, 145167, 145559, 147695, 214316, 252146, 283783, 306829, 412251, 424900,
        424981, 461805, 492148, 514904, 561011, 633462, 642945, 657130, 660662, 708267, 717197, 720253,
        721718, 724554, 740791, 751508, 759835, 761370, 761593, 761616, 761638, 786600, 787146, 824631, 845763,
        846064, 856040, 856067, 896199, 903988, 922148, 925247, 946540, 960573, 975800, 992615, 997828, 1005914,
        1005955, 1009104, 1083088,
    ],
    "attention": [
        22207, 23792, 32174, 32534, 59791, 69675, 71475, 94366, 95966, 104197, 111223, 116310, 116320, 137985,
        150483, 157552, 162747, 169256, 176533, 221347, 246451, 287693, 303133, 303189, 323018, 357185, 372969,
        372984, 382312, 401248, 413863, 426029, 432211, 440983, 461399, 494733, 508386, 513408, 513566, 513797,
        528441, 549971, 561555, 600386, 609383, 613898, 627296, 628068, 646763, 664646, 696196, 705152, 744867,
        760821, 763317, 839957, 879705, 914286, 920572, 939049, 940604, 942189, 964370, 964426, 1012969,
    ],
}


def occurrences(word, limit):
    """{sense: positions} of labelled occurrences with a full window, each distinct window once."""
    if word == "may":
        labelled = [(i, may_sense(i)) for i, w in enumerate(all_tokens) if w == "may"]
    else:
        labelled = [(i, sense) for sense, where in interest_in.items() for i in where]
    found, seen = {}, set()
    for i, sense in labelled:
        window = tuple(all_ids[i - half : i + half + 1])
        if sense and half <= i < len(all_ids) - half and window not in seen:
            seen.add(window)
            if len(found.setdefault(sense, [])) < limit:
                found[sense].append(i)
    return found


def sense_features(positions):
    """Top-layer vectors at the word, and the adjacent words' layer-0 vectors side by side."""
    windows = np.stack([all_ids[i - half : i + half + 1] for i in positions]).astype(np.int32)
    layers = bilm.layer_states(ms.Tensor(windows))
    tokens = layers[0].asnumpy()[:, :, :dim]  # layer 0 is [x; x]: the token vectors
    return layers[-1].asnumpy()[:, half], np.concatenate([tokens[:, half - 1], tokens[:, half + 1]], 1)


def centroid_accuracy(vecs):
    """Leave-one-out nearest class centroid (cosine) over {sense: [n, d] vectors}."""
    unit = {s: v / np.linalg.norm(v, axis=1, keepdims=True) for s, v in vecs.items()}
    correct = total = 0
    for s, v in unit.items():
        for i in range(len(v)):
            cents = {t: (u.sum(0) - (v[i] if t == s else 0)) / (len(u) - (t == s)) for t, u in unit.items()}
            correct += max(cents, key=lambda t: v[i] @ cents[t] / np.linalg.norm(cents[t])) == s
            total += 1
    return correct / total


fig, axes = plt.subplots(1, 2, figsize=(10, 4))
accuracy_by = {}
for ax, word in zip(axes, ["may", "interest in"]):
    found = occurrences(word, limit=settings.pick(40, 150))
    top, adjacent = {}, {}
    for sense, where in found.items():
        top[sense], adjacent[sense] = sense_features(where)
    counts = {s: len(v) for s, v in found.items()}
    accuracy_by[word] = {"top layer": centroid_accuracy(top), "adjacent words only": centroid_accuracy(adjacent),
                         "larger sense": max(counts.values()) / sum(counts.values())}
    stacked = np.concatenate(list(top.values()))
    centred = stacked - stacked.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    start = 0
    for sense, v in top.items():
        xy = centred[start : start + len(v)] @ vt[:2].T
        ax.scatter(xy[:, 0], xy[:, 1], s=10, alpha=0.6, label=f"{sense} ({len(v)})")
        start += len(v)
    ax.set_title(f'"{word}": top-layer biLM vectors (PCA)')
    ax.legend()
plt.tight_layout()
plt.show()
for word, acc in accuracy_by.items():
    print(f"{word:12s} sense accuracy: " + ", ".join(f"{k} {v:.2f}" for k, v in acc.items()))
for sense, where in occurrences("interest in", limit=2).items():
    for i in where:
        print(f"   {sense:9s} ... {' '.join(all_tokens[i - 6 : i])} [interest] {' '.join(all_tokens[i + 1 : i + 6])} ...")

# %% [markdown]
# For "may" the adjacent words alone separate the senses best (0.99; the top layer a few points less;
# always answering the larger sense 0.60). The labels were read off those very words, so this shows only
# that the top-layer vector keeps most of what the neighbours say; the scatter shows two overlapping
# clouds. "interest in" is the fairer test: the next word is "in" every time, and the adjacent words (in
# effect the previous word) give 0.72, where the top layer gives about 0.78 (the larger sense: 0.54).
# Those 6 or 7 points, on 120 occurrences, are what the biLM adds by reading beyond the neighbours. It is
# a modest gain, and the scatter shows the two senses mixed rather than in two clusters.

# %%
if not settings.smoke():
    may_acc, interest_acc = accuracy_by["may"], accuracy_by["interest in"]
    assert may_acc["adjacent words only"] > may_acc["top layer"] > may_acc["larger sense"] + 0.25
    assert interest_acc["top layer"] > interest_acc["adjacent words only"] + 0.04
    assert interest_acc["adjacent words only"] > interest_acc["larger sense"] + 0.1
    assert sum(map(len, occurrences("interest in", limit=150).values())) == 120

# %% [markdown]
# ### 3.3 Nearest neighbours: by contextual vector, and in GloVe
# Take one occurrence of "may" of each sense and find the tokens of held-out text (PTB test) whose
# top-layer vectors are nearest to it (cosine), first among all tokens, then among the tokens that are
# not "may" itself. GloVe, a static vector, has one neighbour list for "may", whatever the sentence.
# Each neighbour is labelled month, modal (verb) or other; we checked the rules by hand on PTB test:
# every "may" there that is not a month by the rule of 3.2 is the verb, "march" before on / of / in is
# not the month, and "will", "can", "might" after "good" or before "of" are nouns.

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

months = {"january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december"}
modals = {"might", "could", "would", "will", "should", "can", "must", "may"}


def sense_of(i):
    """month, modal or other, for token i of the held-out text (rules checked by hand on PTB test)."""
    w, prev = bank_words[i], bank_words[max(i - 1, 0)]
    nxt = bank_words[min(i + 1, len(bank_words) - 1)]
    if w == "may":
        return "month" if prev in month_after or nxt == "N" else "modal"
    if w in months and not (w == "march" and nxt in {"on", "of", "in"}):
        return "month"
    if w in modals and prev != "good" and nxt != "of":
        return "modal"
    return "other"


found_senses, nearest_of = {}, {}
for query, sense in [("sales fell sharply in may from a year earlier", "month"),
                     ("analysts said the company may report a loss", "modal")]:
    v = vectors_of(query, "may")[-1]
    sims = bank_unit @ (v / np.linalg.norm(v))
    order = np.argsort(-sims)
    for scope, best in [("all tokens", order[:8]), ("not 'may'", [i for i in order if bank_words[i] != "may"][:8])]:
        found_senses[sense, scope], nearest_of[sense, scope] = [sense_of(i) for i in best], list(best)
        print(f"\n'may' in: {query}   nearest 8 of {scope}: {found_senses[sense, scope].count(sense)} are {sense}s")
        for i in best[:5]:
            print(f"   {sims[i]:.2f}  {' '.join(bank_words[max(0, i - 4) : i])} [{bank_words[i]}] "
                  f"{' '.join(bank_words[i + 1 : i + 4])}   ({sense_of(i)})")
glove_near = word2vec.nearest(glove, glove_words[:100_000], gstoi, "may", k=10)
print("\nGloVe 'may' ->", glove_near, f"({len(months & set(glove_near))} months)")
may_senses = [sense_of(i) for i, w in enumerate(bank_words) if w == "may"]
print(f"'may' in the held-out text: {may_senses.count('modal')} verbs, {may_senses.count('month')} months")

# %% [markdown]
# The verb query works as hoped: its 8 nearest tokens are all modal verbs, and so are the 8 nearest
# that are not "may". The month query half works: half or more of its 8 nearest tokens are months, but
# all of them are "may" itself used as a month ("on may N"), and among the other words none is a month:
# the five nearest are all spelled like modal verbs ("will", "would", ...). The top layer still carries
# much of the word itself, and in PTB "may" is nearly always the verb (88 of the 97 in the
# held-out text), so even a month-"may" sits nearer the modal verbs than the other months. GloVe's single
# "may" vector has no month among its ten nearest words either: its neighbours are words of hedging
# ("likely", "possibly", "however") and one modal verb, "could".

# %%
if not settings.smoke():
    assert found_senses["modal", "all tokens"].count("modal") == 8 == found_senses["modal", "not 'may'"].count("modal")
    month_hits = [i for i, s in zip(nearest_of["month", "all tokens"], found_senses["month", "all tokens"])
                  if s == "month"]
    assert len(month_hits) >= 4 and all(bank_words[i] == "may" for i in month_hits)
    assert "month" not in found_senses["month", "not 'may'"]
    assert {bank_words[i] for i in nearest_of["month", "not 'may'"][:5]} <= modals
    assert (may_senses.count("modal"), len(may_senses)) == (88, 97)
    assert not months & set(glove_near) and [w for w in glove_near if w in modals] == ["could"]
    assert {"likely", "possibly", "however"} <= set(glove_near)

# %% [markdown]
# ## 4. The ELMo vector: a learned mix of layers (eq. 1)
#
# $$ \mathrm{ELMo}_k = \gamma \sum_{j=0}^{L} s_j\, h_{k,j}, \qquad s = \mathrm{softmax}(w) $$
#
# w (L+1 numbers) and γ are learned by the downstream task while the biLM stays frozen.
#
# **Exercise 3.3 (练习): the scalar mix.** Given the list of L+1 layer tensors [B, T, D], the L+1 raw
# weights w and the scale γ, return the ELMo vectors of eq. 1 (any number of layers).

# %%
# Exercise 3.3 (练习): ELMo's scalar mix, gamma * sum_j softmax(w)_j * layers[j]
def my_mix(layers, w, gamma):
    raise NotImplementedError  # your code here


check.elmo_scalar_mix(my_mix)

# %% [markdown]
# Written out, against the package's `ScalarMix` with non-trivial weights:

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
for name, layer in bar([("layer 0", 0), ("layer 1", 1), ("layer 2", 2), ("learned mix", None)], "task models"):
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
