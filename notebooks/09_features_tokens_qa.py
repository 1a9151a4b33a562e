# ---
# jupyter:
#   bert_ms:
#     images: 7
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
# # 09 · Features, tokens and questions (特征抽取、序列标注与抽取式问答)
#
# Lesson 08 fine-tuned BERT on whole sentences and sentence pairs, Figure 4 (a) and (b) of the paper
# (Devlin et al. 2019). This lesson does the rest of what sec. 4 and 5.3 show:
#
# 1. **feature extraction** (特征抽取, sec. 5.3, Table 7): freeze a real pretrained BERT (MiniLM) and ask
#    which of its layers make the best features;
# 2. **token classification** (序列标注, Figure 4d): one label per word, on the word's first piece --
#    English truecasing on the speeches, and Chinese part-of-speech tags (词性标注);
# 3. **extractive question answering** (抽取式问答, sec. 4.2, Figure 4c): find the answer to a question as a
#    span of a context that may be longer than the model's window;
# 4. **GLUE** (通用语言理解评估), the benchmark behind the paper's headline numbers, and where our tasks sit.
#
# Exercises 9.1-9.5 (练习) sit where each idea comes up, before the package's version is used: a function you
# write in the cell, and a check below it that runs it on fresh inputs and names the first mistake.
#
# Course: step_into_llm, Season 1, lecture 2 "BERT" (`2.BERT/`), the fine-tuning part.
#
# Pictures: Table 7 ours (three seeds) and the paper's, the learned layer weights, the token tasks against
# their baselines, the windows of a long email, exact match per question type against two baselines, the
# start and end probabilities over an email, and GLUE per task (7 figures).

# %%
import os

os.environ.setdefault("GLOG_v", "3")  # MindSpore's log: errors only (each new Trainer would warn "compiled again")
from bert_ms import device, settings

# smoke mode runs eagerly: compiling MiniLM's graphs would take longer than the few steps it runs
dev = device.setup(seed=0, mode=settings.pick("pynative", "graph"))

# %%
import json
import warnings
from collections import Counter, defaultdict

import matplotlib.pyplot as plt
import mindspore as ms
import numpy as np
from mindspore import nn, ops

from bert_ms.runtime.progress import bar
from bert_ms import data
from bert_ms.bert import qa
from bert_ms.bert.model import load_pretrained
from bert_ms.bert.tokenization import BertTokenizer, bert_base_uncased_vocab
from bert_ms.exercises import check
from bert_ms.runtime.settings import REPO_ROOT
from bert_ms.train import task_data, tasks
from bert_ms.train.features import FeatureClassifier, combine_layers, extract_features
from bert_ms.train.trainer import Trainer, TrainerConfig

MINILM = bert_base_uncased_vocab().parent
SPEECHES = REPO_ROOT / "models" / "mini-bert-sotu"
RESULTS = REPO_ROOT / "scripts" / "results"
tok = BertTokenizer(MINILM / "vocab.txt")
minilm = load_pretrained(MINILM)  # the bare encoder: every layer's hidden states on request
L = minilm.config.num_hidden_layers
print(f"MiniLM: {L} layers, H = {minilm.config.hidden_size}")

# %% [markdown]
# ## 1. Feature extraction: which layers make the best features? (BERT Table 7, on MiniLM)
#
# The paper froze BERT-Base and fed named-entity recognition (CoNLL-2003) the vectors of one layer or a
# combination of layers. Table 7's feature-based rows are: the **embeddings**; the **second-to-last hidden**
# layer; the **last hidden** layer; a **weighted sum of the last four** hidden layers; the **concatenation
# of the last four**; a **weighted sum of all 12 layers** -- against **fine-tuning** the whole model. The
# weights of a weighted sum are learned with the task, as ELMo's scalar mix (lesson 03). Concatenating the
# last four came within 0.3 F1 of fine-tuning.
#
# Ours: the same six rows on MiniLM's hidden states (embeddings + 6 layers, so "the last four" really are
# four of six, and "all layers" are its 6), mean-pooled over each email's tokens, then a linear classifier
# for spam or ham. Every row, fine-tuning included, gets the **same 256 labelled emails**, and we do it for
# each of the **three seeds** of lesson 08 (seed $s$ picks the 256 emails), scored on the 589 test emails;
# the fine-tuning row is lesson 08's recorded run with the same seed and emails. Departure: the paper's
# features fed a two-layer BiLSTM tagging tokens; ours classify whole emails with one linear layer.
#
# The weighted sums are ELMo's **scalar mix** (标量混合) of the layers they combine,
# $\gamma \sum_j \mathrm{softmax}(w)_j h_j$, with $w$ and $\gamma$ learned with the task.
#
# **Exercise 9.1 (练习): the scalar mix.** `my_scalar_mix(layers, w, gamma)` returns
# `gamma * sum_j softmax(w)_j * layers[j]` for `layers` of shape [n_layers, B, H] (here the layers BERT gives,
# embeddings first), `w` of shape [n_layers] and a number `gamma`. Solutions to every exercise:
# `solutions/09_features_tokens_qa.py`.

# %%
# Exercise 9.1 (练习): ELMo's scalar mix over BERT's layers
def my_scalar_mix(layers, w, gamma):
    raise NotImplementedError  # your code here


check.scalar_mix(my_scalar_mix)

# %% [markdown]
# First the combinations, written out on one batch and checked against `bert_ms.train.tasks`:

# %%
SEQ_LEN = 64
texts, labels = data.load_spam("train")
test_texts, test_labels = data.load_spam("test")
SEEDS = settings.pick((0,), (0, 1, 2))
n_labels = settings.pick(32, 256)
subsets = {s: np.sort(np.random.default_rng(s).permutation(len(texts))[:256])[:n_labels] for s in SEEDS}
used = np.unique(np.concatenate(list(subsets.values())))  # every labelled email of any seed, encoded once
n_test = settings.pick(32, len(test_texts))
train_x = tok.encode_batch([texts[i] for i in used], max_length=SEQ_LEN, padding="max_length")
test_x = tok.encode_batch(test_texts[:n_test], max_length=SEQ_LEN, padding="max_length")
y_test = test_labels[:n_test]
print(f"{len(used)} labelled emails in the subsets of {n_labels} of seeds {SEEDS}; {n_test} test emails")

ids, tt, am = (ms.Tensor(train_x[k][:4]) for k in ("input_ids", "token_type_ids", "attention_mask"))
hidden = minilm(ids, tt, am, True).hidden_states  # L + 1 tensors [B, T, H]: embeddings, layer 1, ..., layer L
ours = {
    "embeddings": hidden[0],
    "second_to_last": hidden[-2],
    "last": hidden[-1],
    "concat_last4": ops.concat(hidden[-4:], -1),  # [B, T, 4H]
}
for name, h in ours.items():
    np.testing.assert_allclose(h.asnumpy(), combine_layers(hidden, name).asnumpy(), atol=1e-5, rtol=0)
w4, g4 = ms.Tensor(np.array([0.3, -1.0, 0.5, 2.0], np.float32)), 1.7  # a weighted sum of the last four
p4 = ops.softmax(w4, 0)
mixed = g4 * (p4[0] * hidden[-4] + p4[1] * hidden[-3] + p4[2] * hidden[-2] + p4[3] * hidden[-1])
np.testing.assert_allclose(mixed.asnumpy(), combine_layers(hidden[-4:], "weighted", w4, g4).asnumpy(),
                           atol=1e-5, rtol=0)
mask = am.astype(ms.float32).expand_dims(-1)
pooled = (hidden[-1] * mask).sum(1) / mask.sum(1)  # the mean over real tokens, padding left out
np.testing.assert_allclose(pooled.asnumpy(), extract_features(minilm, {k: v[:4] for k, v in train_x.items()},
                                                                    "last"), atol=1e-5, rtol=0)
print("our combinations, weighted sum and pooling equal bert_ms.train.tasks on MiniLM's hidden states")

# %% [markdown]
# The encoder runs once over all emails (no gradient ever reaches it: that is what "feature-based" means),
# keeping every layer's pooled vector. Since pooling is a mean, pooling then combining equals combining then
# pooling. A learned weighted sum needs its own small model, the scalar mix
# $\gamma \sum_j \mathrm{softmax}(w)_j h_j$ over the layers it mixes, trained together with the classifier:

# %%
def pooled_layers(input_ids, token_type_ids, attention_mask):
    """Every layer's mean over the real tokens: [B, L+1, H]."""
    layers = minilm(input_ids, token_type_ids, attention_mask, True)[2]
    m = attention_mask.astype(ms.float32).expand_dims(-1)
    return ops.stack([(h * m).sum(1) / m.sum(1) for h in layers], 1)


pooled_layers = device.jit(pooled_layers)  # compiled once (graph mode); batches padded to one shape


def features(arrays, batch=32):
    n = len(arrays["input_ids"])
    out = []
    for b in bar(range(0, n, batch), "features"):
        idx = np.arange(b, b + batch) % n  # the last batch wraps around: same shape, extra rows dropped below
        out.append(pooled_layers(*(ms.Tensor(arrays[k][idx]) for k in ("input_ids", "token_type_ids",
                                                                        "attention_mask"))).asnumpy())
    return np.concatenate(out)[:n]


all_used, all_test = features(train_x), features(test_x)  # [N, L+1, H]
np.testing.assert_allclose(all_used[:8], extract_features(minilm, {k: v[:8] for k, v in train_x.items()}, "all"),
                           atol=1e-4, rtol=0)


class ScalarMixClassifier(nn.Cell):
    """gamma * sum_j softmax(w)_j h_j over the layers given, then a linear layer."""

    def __init__(self, n_layers, dim, num_labels):
        super().__init__()
        self.w = ms.Parameter(ms.Tensor(np.zeros(n_layers, np.float32)), name="w")
        self.gamma = ms.Parameter(ms.Tensor(1.0, ms.float32), name="gamma")
        self.classifier = nn.Dense(dim, num_labels)

    def construct(self, layers):  # [B, n_layers, H]
        weights = ops.softmax(self.w, 0).reshape(1, -1, 1)
        return self.classifier(self.gamma * (layers * weights).sum(1))


mix = ScalarMixClassifier(L, all_used.shape[-1], 2)
ref = FeatureClassifier(all_used.shape[-1], 2, n_layers=L)
ref.layer_weights.set_data(ms.Tensor(np.random.default_rng(1).normal(size=L).astype(np.float32)))
mix.w.set_data(ref.layer_weights.value())
mix.classifier.weight.set_data(ref.classifier.weight.value())
mix.classifier.bias.set_data(ref.classifier.bias.value())
x4 = ms.Tensor(all_used[:4, 1:].astype(np.float32))
np.testing.assert_allclose(mix(x4).asnumpy(), ref(x4).asnumpy(), atol=1e-5, rtol=0)


LINEAR_STEPS = settings.pick(10, 300)


def fit_linear(model, x, y, steps=LINEAR_STEPS):
    """Full-batch Adam on the frozen features (cross-entropy), one compiled step."""
    opt = nn.Adam(model.trainable_params(), learning_rate=1e-2)

    def loss_fn(a, b):
        return ops.cross_entropy(model(a), b)

    grad_fn = ms.value_and_grad(loss_fn, None, opt.parameters)

    def step(a, b):
        loss, grads = grad_fn(a, b)
        opt(grads)
        return loss

    step = device.jit(step)
    xt, yt = ms.Tensor(x.astype(np.float32)), ms.Tensor(y.astype(np.int32))
    for _ in range(steps):
        step(xt, yt)
    return model


def accuracy(model, x, y):
    return float((model(ms.Tensor(x.astype(np.float32))).asnumpy().argmax(-1) == y).mean())


ROWS = {  # Table 7's feature-based rows: name -> (the layers it uses, learned weights?)
    "embeddings": (slice(0, 1), False),
    "second_to_last": (slice(L - 1, L), False),
    "last": (slice(L, L + 1), False),
    "weighted_last4": (slice(L - 3, L + 1), True),
    "concat_last4": (slice(L - 3, L + 1), False),  # [N, 4, H] flattened to [N, 4H]
    "weighted_all": (slice(1, L + 1), True),  # all 6 layers, as the paper's "all 12 layers"
}
budgets = [json.loads(line) for line in (RESULTS / "spam_label_budgets.jsonl").read_text().splitlines()]
finetuned = {r["seed"]: r["accuracy"] for r in budgets if (r["start"], r["labels"], r["split"]) == ("minilm", 256, "test")}
feature_acc = {name: {} for name in (*ROWS, "fine-tuned (lesson 08)")}
mix_weights = {}
for s in SEEDS:  # about 15 s a seed on two cores
    rows = np.searchsorted(used, subsets[s])
    x_s, y_s = all_used[rows], labels[subsets[s]]
    mu, sd = x_s.mean(0, keepdims=True), x_s.std(0, keepdims=True) + 1e-6  # standardised on this seed's emails
    x_s, x_t = (x_s - mu) / sd, (all_test - mu) / sd
    for name, (layers, learned) in ROWS.items():
        ms.set_seed(s)
        a, b = x_s[:, layers], x_t[:, layers]
        if learned:
            clf = fit_linear(ScalarMixClassifier(a.shape[1], a.shape[2], 2), a, y_s)
            mix_weights[(name, s)] = ops.softmax(clf.w, 0).asnumpy()
        else:
            a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
            clf = fit_linear(nn.Dense(a.shape[1], 2), a, y_s)
        feature_acc[name][s] = accuracy(clf, b, y_test)
    # lesson 08's recorded fine-tuning run on the same 256 emails and seed (see lesson 08, sec. 5)
    feature_acc["fine-tuned (lesson 08)"][s] = finetuned.get(s, float("nan"))
    print(f"seed {s} done", flush=True)
mean_acc = {name: float(np.mean(list(v.values()))) for name, v in feature_acc.items()}
print("row                       " + "  ".join(f"seed {s}" for s in SEEDS) + "   mean")
for name, per_seed in feature_acc.items():
    print(f"{name:24s}  " + "  ".join(f"{per_seed[s]:.3f} " for s in SEEDS) + f"  {mean_acc[name]:.3f}")
layer_weights = np.mean([mix_weights[("weighted_all", s)] for s in SEEDS], 0)
print("learned weights of the mix of all layers (layer 1 ... layer 6), mean of the seeds:", np.round(layer_weights, 3))

# %% [markdown]
# The paper's own numbers beside ours (CoNLL-2003 NER, dev F1, BERT-Base; Table 7) -- a different task and
# metric, so compare the *order* of the rows, not the values:

# %%
paper = {"embeddings": 91.0, "second_to_last": 95.6, "last": 94.9, "weighted_last4": 95.9,
         "concat_last4": 96.1, "weighted_all": 95.5, "fine-tuned (lesson 08)": 96.4}
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), sharey=True)
names = list(paper)
axes[0].barh(names, [mean_acc[n] for n in names], color="C0", label="mean of the seeds")
for k, n in enumerate(names):
    axes[0].scatter(list(feature_acc[n].values()), [k] * len(SEEDS), color="k", s=10, zorder=3)
axes[0].axvline(0.698, color="gray", ls="--", label="always 'ham'")
axes[0].set_xlim(0.6, 1.0)
axes[0].set_xlabel("ours: spam test accuracy (MiniLM, 256 labels; dots: seeds)")
axes[0].legend(loc="lower right")
axes[1].barh(names, [paper[n] for n in names], color="C1")
axes[1].set_xlim(88, 97)
axes[1].set_xlabel("paper: CoNLL-2003 dev F1 (BERT-Base)")
plt.tight_layout()
plt.show()

fig, ax = plt.subplots(figsize=(5, 2.5))
ax.bar([f"layer {i}" for i in range(1, L + 1)], layer_weights)
ax.set_ylabel("softmax(w)")
ax.set_title("the learned mix of all layers (mean of the seeds)")
plt.show()
assert abs(layer_weights.sum() - 1) < 1e-5

# %% [markdown]
# **What it shows** (full mode, three seeds; the cell below asserts each sentence).
#
# * **Fine-tuning** the whole model on the same 256 emails (lesson 08's recorded runs: 0.949, 0.934, 0.956)
#   beats every frozen-feature row **on each of the three seeds**, by 1 to 2 points over that seed's best row
#   (on average 0.946, against 0.928 for the best frozen row, the weighted sum of all layers). The paper's
#   gap was smaller (96.4 against 96.1 for the concatenation of the last four). A single seed would
#   not have shown it: seed 1's fine-tuned run (0.934) is below seed 0's best frozen row (0.935) -- each row
#   must be compared on the same emails. Frozen features are still a strong and cheap alternative: the
#   encoder runs once, and one set of features serves many classifiers.
# * The **last layer** is the worst row on every seed (0.855 on average), more than 6 points behind the
#   second-to-last (0.917). MiniLM's last layer was trained to compare whole sentences (its
#   sentence-embedding objective), not to keep the words an email is made of; in the paper, too, the last
#   layer lost to the second-to-last and to the last four.
# * The other rows are close: the weighted sum of all layers (0.928), the concatenation of the last four
#   (0.926), the weighted sum of the last four (0.921) and the **embeddings** alone (0.920) lie within one
#   point on average, and which of them is best changes with the seed. That the embeddings nearly tie is where
#   our task differs from the paper's NER (embeddings 5 points behind there): spam is told by its words, and a
#   mean of word vectors is a bag of words, while a word's entity type depends on its context.
# * The learned mix of all layers spreads its weight nearly evenly: on every seed each of the 6 layers gets
#   between 0.1 and 0.25.

# %%
frozen = [n for n in ROWS]
ft = feature_acc["fine-tuned (lesson 08)"]
best_of_seed = {s: max(frozen, key=lambda n: feature_acc[n][s]) for s in SEEDS}
lead = {s: ft[s] - feature_acc[best_of_seed[s]][s] for s in SEEDS}
print("best frozen row per seed:", best_of_seed, "| fine-tuning's lead over it:",
      {s: round(v, 3) for s, v in lead.items()})
by_mean = sorted(frozen, key=mean_acc.get, reverse=True)
print("frozen rows by mean accuracy:", [(n, round(mean_acc[n], 3)) for n in by_mean])
all_weights = np.array([mix_weights[("weighted_all", s)] for s in SEEDS])
if not settings.smoke():
    assert all(0.008 < lead[s] < 0.023 for s in SEEDS), lead  # fine-tuning ahead on every seed, by 1-2 points
    assert ft[1] < feature_acc["weighted_all"][0] and lead[1] > 0  # seed 1 against seed 0: the wrong comparison
    assert all(min(frozen, key=lambda n: feature_acc[n][s]) == "last" for s in SEEDS)
    assert mean_acc["second_to_last"] - mean_acc["last"] > 0.06
    assert by_mean[0] == "weighted_all" and by_mean[-1] == "last"
    assert set(by_mean[1:4]) == {"concat_last4", "weighted_last4", "embeddings"}
    assert mean_acc[by_mean[0]] - mean_acc[by_mean[3]] < 0.01 and len(set(best_of_seed.values())) > 1
    assert abs(mean_acc["fine-tuned (lesson 08)"] - 0.946) < 0.0005 and abs(mean_acc["weighted_all"] - 0.928) < 0.0015
    assert all_weights.min() > 0.1 and all_weights.max() < 0.25

# %% [markdown]
# ## 2. Token classification (序列标注): one label per word, on its first piece
#
# A token-level task puts the classifier on *every* position's final vector instead of on `[CLS]` (Figure
# 4d). A word that WordPiece cuts into several pieces keeps its label on the **first** piece; the other
# pieces, `[CLS]`, `[SEP]` and padding get the label -100 and are left out of the loss and the accuracy
# (sec. 5.3: "we use the representation of the first sub-token as the input to the token-level classifier").
#
# **Exercise 9.2 (练习): first-piece labels.** `my_first_piece_labels(pieces_per_word, tag_ids, seq_len)` returns
# the `seq_len` labels of `[CLS] pieces [SEP] [PAD]...`: each word's tag on its first piece, -100 everywhere
# else. A word whose pieces do not all fit before the final `[SEP]` is left out, with every word after it (as
# `task_data.token_tag_arrays`, used below, does).

# %%
# Exercise 9.2 (练习): a word's tag on its first piece
def my_first_piece_labels(pieces_per_word, tag_ids, seq_len):
    raise NotImplementedError  # your code here


check.first_piece_labels(my_first_piece_labels)

# %% [markdown]
# ### 2a. English: restoring capital letters (truecasing, 大小写恢复)
#
# No tagged English text ships with the course, but the speeches carry their own labels: the letter case.
# An uncased BERT never sees capitals, so "restore the case of every word" is a real token task built from
# shipped text (`data.load_sotu_casing`): each word is `lower`, `Title` or `UPPER`. The model must infer
# "United States" from "the united states" -- but "the states" stays lower case. We fine-tune the course
# BERT, pretrained on these very speeches (lesson 07), against the same model from random weights.

# %%
course_tok = BertTokenizer(SPEECHES / "vocab.txt")
case_train = data.load_sotu_casing("train", max_sentences=settings.pick(256, 8000))
case_test = data.load_sotu_casing("test", max_sentences=settings.pick(64, 1000))
tags = list(data.CASING_TAGS)
case_tr = task_data.token_tag_arrays(case_train, course_tok, tags, SEQ_LEN)
case_te = task_data.token_tag_arrays(case_test, course_tok, tags, SEQ_LEN)
# one word cut into pieces: its tag sits on the first piece only
row = next(i for i, s in enumerate(case_train) if any(len(course_tok.tokenize(w)) > 1 for w, _ in s[:10]))
pieces = [course_tok.convert_ids_to_tokens(int(i)) for i in case_tr["input_ids"][row][:14]]
print(list(zip(pieces, [tags[y] if y >= 0 else "-100" for y in case_tr["labels"][row][:14]])))
split_word = next(w for w, _ in case_train[row][:10] if len(course_tok.tokenize(w)) > 1)
n_pieces = len(course_tok.tokenize(split_word))
print(f"'{split_word}' is {n_pieces} pieces: one labelled, {n_pieces - 1} ignored")
assert case_tr["labels"][row][0] == -100  # [CLS]
assert all(((case_tr["labels"][r] >= 0).sum() == min(len(s), (case_tr["attention_mask"][r].sum() - 2)))
           or (case_tr["labels"][r] >= 0).sum() <= len(s) for r, s in enumerate(case_train[:50]))


def token_predictions(model, arrays, batch=64):
    model.set_train(False)
    out = []
    for b in range(0, len(arrays["input_ids"]), batch):
        logits = model(*(ms.Tensor(arrays[k][b:b + batch]) for k in ("input_ids", "token_type_ids", "attention_mask")))
        out.append(logits.asnumpy().argmax(-1))
    return np.concatenate(out)


def capitals_f1(pred, gold):
    """F1 of 'has a capital' (Title or UPPER) over the scored words: the words that matter."""
    p, g = pred > 0, gold > 0
    tp = (p & g).sum()
    return 2 * tp / max(2 * tp + (p & ~g).sum() + (~p & g).sum(), 1)


case_scores = {}
for start in ("speeches (pretrained)", "random init"):
    model, _, _ = tasks.build_classifier(str(SPEECHES) if start.startswith("speeches") else "random", len(tags),
                                         config=str(SPEECHES), vocab=str(SPEECHES / "vocab.txt"), seed=0,
                                         head="token_classification")
    cfg = TrainerConfig(total_steps=settings.pick(3, 250), batch_size=32, lr=3e-4, warmup_ratio=0.1, seed=0,
                        log_every=50, progress=True)
    model.set_train(True)
    Trainer(model, tasks.TokenClassificationTask(len(tags), name="casing"), case_tr, cfg).fit()
    pred, gold = token_predictions(model, case_te), case_te["labels"]
    scored = gold >= 0
    case_scores[start] = ((pred[scored] == gold[scored]).mean(), capitals_f1(pred[scored], gold[scored]))

# the baselines score the same words: those that fit in the window
fits = [s[: int((case_te["labels"][r] >= 0).sum())] for r, s in enumerate(case_test)]
by_word = defaultdict(Counter)
for s in case_train:
    for i, (w, t) in enumerate(s):
        if i > 0:
            by_word[w][t] += 1
lookup = {w: c.most_common(1)[0][0] for w, c in by_word.items()}
gold_words = np.array([tags.index(t) for s in fits for _, t in s])
rule = np.array([tags.index("Title" if i == 0 else lookup.get(w, "lower")) for s in fits for i, (w, _) in enumerate(s)])
case_scores["lookup + capital first word"] = ((rule == gold_words).mean(), capitals_f1(rule, gold_words))
case_scores["always lower"] = ((gold_words == 0).mean(), 0.0)
for name, (acc, f1) in case_scores.items():
    print(f"{name:28s} word accuracy {acc:.3f}   F1 of capitalised words {f1:.3f}")
pretrained_f1, random_f1 = case_scores["speeches (pretrained)"][1], case_scores["random init"][1]
lookup_f1 = case_scores["lookup + capital first word"][1]
if not settings.smoke():
    assert pretrained_f1 > random_f1 + 0.01 and abs(pretrained_f1 - lookup_f1) < 0.01

# %% [markdown]
# Word accuracy hides the task: 93 % of words are lower case, so "always lower" scores 0.93. On the words that
# matter, the capitalised ones, the course BERT pretrained on these speeches **matches** the lookup table
# with its first-word rule (F1 within 0.01, about 0.92) after 250 steps, and is ahead of the same model
# trained from random weights (asserted above). The lookup table already knows most names ("washington",
# "congress"); what it cannot know is context ("the states" vs "the united states"), and a pretrained model
# has seen that context. Exercise: train for 1,000 steps (about a minute) and see whether the pretrained
# model pulls ahead.

# %% [markdown]
# ### 2b. Chinese: part-of-speech tags (词性标注) on People's Daily
#
# People's Daily, January 1998 (人民日报): 19,484 sentences segmented into words and tagged with 44
# part-of-speech tags (`n` noun, `v` verb, `w` punctuation ...). The Chinese vocabulary cuts every word into
# characters, so a three-character word is three tokens, and its tag goes on the first. Two starts with the
# same shape (BERT-tiny) and the bert-base-chinese vocabulary: this project's Chinese BERT (`models/mini-bert-zh`,
# pretrained on People's Daily, lesson 08), and the same model from **random** weights. Its pretraining text
# held out exactly these test sentences, so the pretrained start has not seen them. Two yardsticks without a
# network: always `n`, and each word's most frequent tag in the training sentences (the classic lookup baseline).

# %%
zh_tok = BertTokenizer.bert_base_chinese()
pos_train, pos_tags = task_data.pos_split("train")
pos_test, _ = task_data.pos_split("test")
pos_train = pos_train[: settings.pick(256, len(pos_train))]
pos_test = pos_test[: settings.pick(64, 1000)]
pos_tr = task_data.token_tag_arrays(pos_train, zh_tok, pos_tags, 128)
pos_te = task_data.token_tag_arrays(pos_test, zh_tok, pos_tags, 128)
print(" ".join(f"{w}/{t}" for w, t in pos_train[0][:8]))
assert pos_tr["labels"][0][0] == -100 and pos_tr["labels"][0][1] == pos_tags.index(pos_train[0][0][1])

ZH = REPO_ROOT / "models" / "mini-bert-zh"
pos_steps = settings.pick(3, 200)
pos_acc = {}
for start in ("zh", "random"):
    init = str(ZH) if start == "zh" else "random"
    pos_model, _, _ = tasks.build_classifier(init, len(pos_tags), config=str(ZH), vocab=str(ZH / "vocab.txt"),
                                             seed=0, head="token_classification")
    cfg = TrainerConfig(total_steps=pos_steps, batch_size=32, lr=1e-3, warmup_ratio=0.1, log_every=50, progress=True)
    pos_model.set_train(True)
    Trainer(pos_model, tasks.TokenClassificationTask(len(pos_tags), name="pos"), pos_tr, cfg).fit()
    pred, gold = token_predictions(pos_model, pos_te), pos_te["labels"]
    pos_acc[start] = float((pred[gold >= 0] == gold[gold >= 0]).mean())
    del pos_model
test_tags = [t for s in pos_test for _, t in s]
always_n = test_tags.count("n") / len(test_tags)
per_word = task_data.most_frequent_tag_accuracy(task_data.pos_split("train")[0], pos_test)
print(f"{pos_steps} steps: Chinese BERT {pos_acc['zh']:.3f} | the same from random weights {pos_acc['random']:.3f} | "
      f"always 'n' {always_n:.3f} | each word's most frequent tag {per_word:.3f}")

fig, axes = plt.subplots(1, 2, figsize=(10, 2.8))
axes[0].barh(list(case_scores), [f for _, f in case_scores.values()])
axes[0].set_xlabel("English truecasing: F1 of capitalised words")
axes[1].barh(["Chinese BERT-tiny (pretrained)", "BERT-tiny (random init)", "always 'n'", "most frequent tag per word"],
             [pos_acc["zh"], pos_acc["random"], always_n, per_word])
axes[1].set_xlabel("Chinese POS: word accuracy")
plt.tight_layout()
plt.show()
if not settings.smoke():
    assert pos_acc["random"] > always_n + 0.4, "the tagger must learn far more than 'noun'"
    assert pos_acc["random"] < per_word - 0.1, "the text says the lookup table stays ahead"
    assert pos_acc["zh"] > pos_acc["random"] + 0.05, "the text says pretraining is worth 5+ points here"
    assert pos_acc["zh"] < per_word - 0.05, "the text says the lookup table stays ahead of both"
    assert abs(pos_acc["zh"] - 0.825) < 0.01 and abs(pos_acc["random"] - 0.744) < 0.01, pos_acc  # the text's numbers

# %% [markdown]
# **Pretraining pays, and the lookup table still wins.** In full mode this cell trains each start for only 200
# steps (under half a minute each) and scores the first 1,000 test sentences: the Chinese BERT is more than 5
# points ahead of the same model from random weights (0.825 against 0.744 on this machine), both far above
# always `n` and both behind the lookup table (asserted above). The
# course's longer run, `bert-ms finetune --task pos --init random --config tiny --vocab bert-base-chinese
# --steps 1500 --batch-size 32 --seq-len 128 --lr 1e-3` (about 2 minutes), reaches about **0.80** word accuracy
# on the 83,949 test words that fit in 128 tokens, against **0.913** for each word's most frequent tag. A small
# BERT trained from scratch on 15,587 sentences does *not* beat the lookup table: it must learn from
# characters what the table is given as whole words, with no pretraining to know them first. The paper's
# token-level results start from pretrained weights (sec. 5.3). Whether this project's small Chinese BERT
# gets past the lookup table with the longer run is left to you: the same command with `--init
# models/mini-bert-zh` (and no `--config` or `--vocab`; about 2 minutes).

# %% [markdown]
# ## 3. Extractive question answering (抽取式问答)
#
# SQuAD (Rajpurkar et al. 2016) gives a question and a passage; the answer is a span of the passage. BERT
# packs `[CLS] question [SEP] passage [SEP]` and adds only two vectors, a **start vector** $S$ and an **end
# vector** $E$ in $\mathbb{R}^H$ (sec. 4.2): the probability that the answer starts at token $i$ is a softmax
# over the positions, $P^{start}_i = e^{S \cdot T_i} / \sum_j e^{S \cdot T_j}$, and likewise for the end.
# That is $2H$ new weights (768 for MiniLM's $H = 384$); the released code and `BertForQuestionAnswering`
# give each a bias too ($2H + 2$). Training maximises the log-likelihood of the right start and end.
#
# ### 3a. The span head, built here

# %%
class SpanHead(nn.Cell):
    """start_logits_i = S . T_i + b_s and end_logits_i = E . T_i + b_e for every token i."""

    def __init__(self, bert):
        super().__init__()
        h = bert.config.hidden_size
        self.bert = bert
        self.S = ms.Parameter(ms.Tensor(np.zeros(h, np.float32)), name="S")
        self.E = ms.Parameter(ms.Tensor(np.zeros(h, np.float32)), name="E")
        self.b = ms.Parameter(ms.Tensor(np.zeros(2, np.float32)), name="b")

    def construct(self, input_ids, token_type_ids, attention_mask):
        T = self.bert(input_ids, token_type_ids, attention_mask)[0]  # [B, T, H]
        return ops.matmul(T, self.S) + self.b[0], ops.matmul(T, self.E) + self.b[1]


with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    ms.set_seed(0)
    reference = load_pretrained(MINILM, head="question_answering")
print([str(w.message).split(": ")[-1] for w in caught if "freshly" in str(w.message)], "are new")
span_head = SpanHead(load_pretrained(MINILM, head=None))
W = reference.qa_outputs.weight.value().asnumpy()  # [2, H]: row 0 is S, row 1 is E
span_head.S.set_data(ms.Tensor(W[0]))
span_head.E.set_data(ms.Tensor(W[1]))
span_head.b.set_data(reference.qa_outputs.bias.value())
span_head.set_train(False)
example = data.load_email_qa("train")[0]
pair = tok.encode_batch([example["question"]], [example["context"]], max_length=128, padding="max_length")
inputs = [ms.Tensor(pair[k]) for k in ("input_ids", "token_type_ids", "attention_mask")]  # [CLS] q [SEP] c [SEP]
for ours_l, ref_l in zip(span_head(*inputs), reference(*inputs)):
    np.testing.assert_allclose(ours_l.asnumpy(), ref_l.asnumpy(), atol=1e-5, rtol=0)
new = sum(int(np.prod(p.shape)) for p in (span_head.S, span_head.E, span_head.b))
print(f"our span head equals BertForQuestionAnswering: {new} new parameters = 2 x 384 + 2")
assert new == 2 * 384 + 2

# %% [markdown]
# ### 3b. Rule-made questions about real emails
#
# SQuAD cannot be had offline, so we make questions about the shipped emails **by rule**
# (`data.load_email_qa`): six question types, each asked in one of three fixed wordings (18 wordings in all),
# and answers found by regular expressions, not by people -- the email's subject; the author and the date of
# a quoted message, from reply lines such as `On Thu, 22 Aug 2002, John P. Looney wrote:`; a web address; an
# email address in the body; a dollar amount. (The shipped emails keep only the `Subject:` header, so senders
# and dates come from the quoted reply lines in the bodies.) A rule can miss an answer or find a wrong one,
# and the model learns it as it is; the rules themselves would score 100 % here by construction. The context
# is the whole email, up to 2,000 characters. Answers are recorded with their character offset; an email with
# several web addresses counts each of them correct, as SQuAD keeps several gold answers.
#
# **Answers recur.** A mailing list's address and web page, a regular poster's name, "$1" come back in
# hundreds of emails, in the training and the test emails alike. A test question whose answer the model was
# trained on can be answered from memory, without reading. So the split (`data.email_qa_splits`) keeps them
# apart: 20 test questions of each type about the test emails, 20 **dev** questions of each type about the dev
# emails (for choosing the learning rate), and 100 training questions of each type about the training emails,
# drawn only from those whose answers are **not** test or dev answers (compared as exact match compares
# them). The test questions whose answer *is* a training answer are kept apart, as a contrast, and scored
# on their own.

# %%
qa_split = data.email_qa_splits(n_train=settings.pick(4, 100), n_eval=settings.pick(1, 20))
qa_train, qa_dev, qa_test, qa_seen = (qa_split[k] for k in ("train", "dev", "test", "test_seen"))
print(f"{len(qa_train)} training, {len(qa_dev)} dev, {len(qa_test)} test questions "
      f"({dict(Counter(r['type'] for r in qa_test))}); {len(qa_seen)} test questions with a training answer")
for r in qa_test[:: max(len(qa_test) // 5, 1)][:5]:
    print(f"  {r['question']:45s} -> {r['answer'][:50]!r} (character {r['answer_start']})")
assert all(r["context"][r["answer_start"]:r["answer_start"] + len(r["answer"])] == r["answer"] for r in qa_train)
key = data.email_qa_answer_key
trained_answers = {key(a) for r in qa_train for a in r["answers"]}
assert not any(key(a) in trained_answers for r in qa_dev + qa_test for a in r["answers"])
assert all(key(r["answer"]) in trained_answers for r in qa_seen)
# how often a test answer is an answer somewhere in the training emails: what a plain split would have given
pool_answers = {key(a) for r in data.load_email_qa("train") for a in r["answers"]}
recurring = {t: np.mean([any(key(a) in pool_answers for a in r["answers"]) for r in qa_test if r["type"] == t])
             for t in sorted({r["type"] for r in qa_test})}
print("share of these test questions whose answer is also an answer in some training email:",
      {t: round(float(v), 2) for t, v in recurring.items()})

# %% [markdown]
# ### 3c. A long context: windows with a stride
#
# An email can be longer than the window (128 tokens here; 384 for BERT on SQuAD). The released code cuts the
# passage into windows that start every `doc_stride` tokens, so they overlap; each window is its own
# `[CLS] question [SEP] part [SEP]`. A window that holds the whole answer is labelled with its start and end
# token; one that does not is labelled `[CLS]` (position 0). At prediction time every window is scored and the
# best span over all of them wins. To map a span back to text, every piece keeps the characters it came from
# (`qa.tokenize_with_offsets`, equal to the tokenizer's pieces), so the answer is cut out of the original
# email exactly -- capitals, punctuation and all.
#
# **Exercise 9.3 (练习): windows.** `my_window_starts(n_tokens, room, stride)` returns the first context token of
# each window of a context of `n_tokens` pieces, when `room` pieces fit beside the question, as
# `qa.make_windows` cuts them: a window every `stride` tokens, plus one last window that ends exactly at the
# end if the others do not reach it. (Then try `MAX_LEN, STRIDE = 192, 96` in the cell below and run section 3
# again, about 2 minutes: fewer windows, more context each -- does EM change?)

# %%
# Exercise 9.3 (练习): where the windows start
def my_window_starts(n_tokens, room, stride):
    raise NotImplementedError  # your code here


check.window_starts(my_window_starts)

# %%
MAX_LEN, STRIDE, MAX_ANSWER = settings.pick(64, 128), settings.pick(32, 64), 48
long_one = max(qa_train, key=lambda r: len(r["context"]))
pieces = qa.tokenize_with_offsets(tok, long_one["context"])
windows = qa.make_windows(tok, long_one["question"], long_one["context"], MAX_LEN, STRIDE,
                          answer_start=long_one["answer_start"], answer_text=long_one["answer"], pieces=pieces)
a0 = long_one["answer_start"]
first, last = qa.answer_token_span(pieces, a0, a0 + len(long_one["answer"]))
print(f"{len(pieces)} context pieces -> {len(windows)} windows; the answer is pieces {first}-{last}")
fig, ax = plt.subplots(figsize=(7, 2.5))
for k, w in enumerate(windows):
    spans = [p for p in range(len(pieces)) if pieces[p][1:] in set(w.offsets)]
    ax.plot([spans[0], spans[-1]], [k, k], lw=6, color="C2" if w.start_position else "C7")
ax.axvspan(first, last + 1, color="C3", alpha=0.3, label="answer")
ax.set_xlabel("context piece")
ax.set_ylabel("window")
ax.set_title(f"windows of {MAX_LEN} tokens every {STRIDE} pieces (green: holds the answer)")
ax.legend()
plt.show()
for w in windows:
    if w.start_position:
        got = long_one["context"][w.offsets[w.start_position][0]:w.offsets[w.end_position][1]]
        assert got == long_one["answer"], (got, long_one["answer"])
assert any(w.start_position for w in windows) and not all(w.start_position for w in windows)

# %% [markdown]
# ### 3d. Fine-tuning MiniLM
#
# Training examples are windows. Departure from `run_squad.py`, for the CPU budget: we train on every window
# that holds the answer and **one** window of the same email that does not (labelled `[CLS]`), instead of on
# all windows. The loss is the mean of the start and end cross-entropies (`qa.span_loss`); everything else
# is lesson 08's recipe: AdamW, warm-up then linear decay, batch 16, 150 steps -- about two epochs of the
# windows, about a minute and a half on two cores. The learning rate is chosen on the **dev** questions from the grid
# 1e-4, 3e-4 (google-research/bert's rates for small models) and 1e-3: `scripts/qa_lr_grid.py` runs this very
# training once per rate and records the dev EM and F1 in `scripts/results/qa_lr_grid.jsonl`, and the cell
# below takes the rate with the best dev EM. (Until that record exists the cell says so and uses 3e-4,
# MiniLM's rate on spam in lesson 08.) The record says 3e-4 by a wide margin: dev EM 75.0 (F1 84.1) against
# 61.7 (75.0) at 1e-4 and 35.0 (47.4) at 1e-3, so the best rate lies inside the grid, not at its edge. The
# test questions are used once, below.

# %%
class SpanTask(tasks.Task):
    """Loss and outputs of extractive QA for the Trainer."""

    name = "qa"
    input_keys = qa.QA_KEYS

    def loss(self, model, input_ids, token_type_ids, attention_mask, start_positions, end_positions):
        start_logits, end_logits = model(input_ids, token_type_ids, attention_mask)
        return qa.span_loss(start_logits, end_logits, start_positions, end_positions)


grid_file = RESULTS / "qa_lr_grid.jsonl"
qa_grid = sorted((json.loads(line) for line in grid_file.read_text().splitlines() if line.strip()),
                 key=lambda r: r["lr"]) if grid_file.exists() else []
if [r["lr"] for r in qa_grid] == [1e-4, 3e-4, 1e-3]:
    assert all(r["dev_questions"] == 120 and r["steps"] == 150 for r in qa_grid)
    QA_LR = max(qa_grid, key=lambda r: (r["exact_match"], r["f1"], r["lr"]))["lr"]  # best dev EM (then F1)
    print("dev EM / F1 by learning rate:", ", ".join(f"{r['lr']:g}: {r['exact_match']:.1f} / {r['f1']:.1f}"
                                                     for r in qa_grid), f" -> {QA_LR:g}")
    assert QA_LR == 3e-4 and [round(r["exact_match"], 1) for r in qa_grid] == [61.7, 75.0, 35.0]
    assert [round(r["f1"], 1) for r in qa_grid] == [75.0, 84.1, 47.4]
else:
    QA_LR = 3e-4
    print("the dev grid is not recorded yet (python scripts/qa_lr_grid.py --out scripts/results/qa_lr_grid.jsonl);"
          " using 3e-4, MiniLM's rate on spam in lesson 08")

qa_arrays = qa.training_windows(qa_train, tok, MAX_LEN, STRIDE, seed=0, negatives=1)
print(f"{len(qa_arrays['input_ids'])} training windows from {len(qa_train)} questions, "
      f"{(qa_arrays['start_positions'] > 0).mean():.0%} holding the answer")

qa_model = reference  # BertForQuestionAnswering with MiniLM's weights (its head equals SpanHead above)
qa_model.set_train(True)
qa_steps = settings.pick(1, 150)
cfg = TrainerConfig(total_steps=qa_steps, batch_size=16, lr=QA_LR, warmup_ratio=0.1, seed=0, log_every=10,
                    progress=True)
qa_trainer = Trainer(qa_model, SpanTask(), qa_arrays, cfg)
qa_trainer.fit()
print("loss every 10 steps:", [round(loss, 3) for _, loss in qa_trainer.losses()[::10]])
del qa_trainer  # its optimizer state is no longer needed

# %% [markdown]
# To answer, every window's best span is decoded (`qa.best_span`): the pair $(i, j)$ with the highest
# $S \cdot T_i + E \cdot T_j$, with $i \le j$, at most `MAX_ANSWER` tokens, both in the context; the best span
# over all windows of the email wins, cut out of the text by its character offsets (`qa.predict_answers`).
#
# **Exercise 9.4 (练习): span decoding.** `my_span_decode(start_logits, end_logits, context_mask, max_answer_len)`
# gets one window's scores (NumPy vectors) and a boolean mask, True at the context's tokens; it returns the pair
# `(i, j)` maximising `start_logits[i] + end_logits[j]` with `i <= j < i + max_answer_len` and both `i` and `j`
# context tokens (never the question, `[CLS]`, `[SEP]` or padding), as positions in the whole window.

# %%
# Exercise 9.4 (练习): the best valid span
def my_span_decode(start_logits, end_logits, context_mask, max_answer_len):
    raise NotImplementedError  # your code here


check.span_decode(my_span_decode)

# %% [markdown]
# ### 3e. Exact match and F1, against two baselines
#
# SQuAD's two metrics (Rajpurkar et al. 2016), after normalising both answers (lower case, punctuation and
# the articles a/an/the removed, single spaces): **exact match** (EM, 精确匹配) is 1 when the prediction equals
# a gold answer; **F1** is the harmonic mean of precision and recall over the bags of words, so a partly right
# span earns partial credit. With several gold answers, each is the best over them. Both are averaged over
# questions (in percent).
#
# **Exercise 9.5 (练习): exact match and F1.** `my_em_f1(prediction, golds)` returns `(em, f1)` in [0, 1] for
# one question, `golds` the list of its correct answers: SQuAD's normalisation first (lower case, punctuation
# characters deleted, the articles a/an/the removed as words, single spaces), F1 over the bags of words, and
# each the best over the gold answers.

# %%
# Exercise 9.5 (练习): SQuAD's metrics
def my_em_f1(prediction, golds):
    raise NotImplementedError  # your code here


check.em_f1(my_em_f1)

# %% [markdown]
# Two baselines:
#
# * **memory**: the most frequent training answer of the question's type that occurs in the email
#   (`qa.frequent_answer_baseline`; it is told the type) -- it reads nothing and remembers everything;
# * **line overlap**, in the spirit of the SQuAD paper's sliding-window baseline: the line of the email that
#   shares the most words with the question -- it finds *where* an answer is, not *what* it is.
#
# Each is scored on the test questions (no answer seen in training) and, apart, on the contrast set of test
# questions whose answer is a training answer.

# %%
def scores_of(records):
    """Model, memory and line-overlap answers for records, scored in total and per question type."""
    preds = qa.predict_answers(qa_model, tok, [r["question"] for r in records], [r["context"] for r in records],
                               MAX_LEN, STRIDE, MAX_ANSWER)
    answers = {"MiniLM fine-tuned": [p[0] for p in preds],
               "memory baseline": qa.frequent_answer_baseline(qa_train, records),
               "line-overlap baseline": [qa.line_overlap_baseline(r["question"], r["context"]) for r in records]}
    golds = [r["answers"] for r in records]
    out = {}
    for name, said in answers.items():
        out[name] = {"all": qa.squad_em_f1(said, golds)}
        for t in sorted({r["type"] for r in records}):
            idx = [i for i, r in enumerate(records) if r["type"] == t]
            out[name][t] = qa.squad_em_f1([said[i] for i in idx], [golds[i] for i in idx])
    return out, answers["MiniLM fine-tuned"]


unseen, preds = scores_of(qa_test)
seen, _ = scores_of(qa_seen)
for name in unseen:
    u, s = unseen[name]["all"], seen[name]["all"]
    print(f"{name:22s} test (answers not seen in training, {u['questions']}): EM {u['exact_match']:5.1f} "
          f"F1 {u['f1']:5.1f} | answers seen in training ({s['questions']}): EM {s['exact_match']:5.1f} "
          f"F1 {s['f1']:5.1f}")
qtypes = [t for t in unseen["MiniLM fine-tuned"] if t != "all"]
for t in qtypes:
    print(f"  {t:14s} " + " | ".join(f"{name.split()[0]} EM {unseen[name][t]['exact_match']:5.1f} "
                                      f"F1 {unseen[name][t]['f1']:5.1f}" for name in unseen))
for i in range(0, len(qa_test), max(len(qa_test) // 6, 1)):
    print(f"  {qa_test[i]['question']:42s} {preds[i][:40]!r:44s} gold {qa_test[i]['answer'][:40]!r}")

fig, ax = plt.subplots(figsize=(8, 3))
xs = np.arange(len(qtypes))
for k, name in enumerate(unseen):
    ax.bar(xs + (k - 1) * 0.27, [unseen[name][t]["exact_match"] for t in qtypes], 0.27, label=name)
ax.set_xticks(xs, qtypes, rotation=20)
ax.set_ylabel("exact match (%)")
ax.set_title("test questions whose answers were never training answers")
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()
assert unseen["memory baseline"]["all"]["exact_match"] == 0  # by construction: no test answer is a training answer
assert all(0 <= v[k]["all"][m] <= 100 for v in (unseen, seen) for k in v for m in ("exact_match", "f1"))
if not settings.smoke():
    assert seen["memory baseline"]["all"]["exact_match"] > 90
    assert unseen["line-overlap baseline"]["all"]["exact_match"] == seen["line-overlap baseline"]["all"]["exact_match"] == 0
    assert unseen["line-overlap baseline"]["subject"]["f1"] > 75 and unseen["line-overlap baseline"]["all"]["f1"] < 20
    assert min(recurring[t] for t in ("email_address", "money", "quoted_author", "url")) >= 0.8
    assert max(recurring[t] for t in ("subject", "quoted_date")) <= 0.4
    model_test, model_seen = unseen["MiniLM fine-tuned"]["all"], seen["MiniLM fine-tuned"]["all"]
    assert 68 <= model_test["exact_match"] <= 76 and 76 <= model_test["f1"] <= 84, model_test  # "about 72 / 80"
    assert 76 <= model_seen["exact_match"] <= 84 and 84 <= model_seen["f1"] <= 92, model_seen  # "about 80 / 88"
    assert model_seen["exact_match"] - model_test["exact_match"] >= 4  # remembered strings add points
    assert model_test["exact_match"] > 60 + max(unseen[b]["all"]["exact_match"] for b in unseen if "baseline" in b)

# %% [markdown]
# **Reading the numbers** (full mode; every number here is asserted in the cell above).
#
# * The **memory** baseline answers none of the test questions exactly -- by construction, since no test
#   answer is a training answer. On the contrast set, the test questions whose answer *is* a training answer,
#   the same baseline, which reads nothing, answers more than 90 % exactly. That is what a plain split would
#   have rewarded: 80 % or more of these test questions about addresses, web addresses, amounts and quoted
#   authors have an answer that is also an answer in some training email (at most 40 % of the subjects and
#   dates; printed in 3b).
# * The **line-overlap** baseline answers no question exactly, in either set. Its one good type is the
#   subject (F1 above 75): the question says "subject" and so does the line, but it answers with the whole
#   line, `Subject:` included, which earns F1 and never an exact match.
# * The **model's** EM on the test questions is what it learned to *read*: answers it was never trained on,
#   found from the shape of the email. It answers about 72 % of them exactly (F1 about 80), more than 60
#   points above both baselines, after 150 steps on 600 questions. On the contrast set it reaches about 80 %
#   (F1 about 88): the gap, some 4 to 10 points, is what remembered strings would have added to a plain
#   split's number.

# %% [markdown]
# Where the model looks: the start and end probabilities (the softmax over positions) for one held-out email.

# %%
r = next(q for q in qa_test if q["type"] == "quoted_author") if any(q["type"] == "quoted_author" for q in qa_test) \
    else qa_test[0]
ws = qa.make_windows(tok, r["question"], r["context"], MAX_LEN, STRIDE)
qa_model.set_train(False)
arrays = qa.windows_to_arrays(ws)
all_start, all_end = (x.asnumpy() for x in qa_model(*(ms.Tensor(arrays[k]) for k in qa.QA_KEYS[:3])))
scores = [qa.best_span(all_start[k], all_end[k], w.context_mask, MAX_ANSWER)[2] for k, w in enumerate(ws)]
k_best = int(np.argmax(scores))  # the window whose best span scores highest
best, s_log, e_log = ws[k_best], all_start[k_best], all_end[k_best]
ctx = best.context_mask
p_start = np.exp(s_log[ctx] - s_log[ctx].max())
p_start /= p_start.sum()
p_end = np.exp(e_log[ctx] - e_log[ctx].max())
p_end /= p_end.sum()
words = [tok.convert_ids_to_tokens(int(i)) for i in best.input_ids[ctx]]
top = int(np.argmax(p_start + p_end))
lo = max(top - 20, 0)
fig, ax = plt.subplots(figsize=(9, 3))
ax.plot(p_start[lo:lo + 40], "-o", ms=3, label="P(start)")
ax.plot(p_end[lo:lo + 40], "-o", ms=3, label="P(end)")
ax.set_xticks(range(len(words[lo:lo + 40])), words[lo:lo + 40], rotation=90, fontsize=7)
ax.set_title(f"{r['question']}  (gold: {r['answer'][:40]!r})")
ax.legend()
plt.tight_layout()
plt.show()
assert abs(p_start.sum() - 1) < 1e-6

# %% [markdown]
# Ask it yourself (the command line does the same: `bert-ms predict --model <run> --task qa --question "..."
# --context "..."`):

# %%
my_question = "Who wrote the quoted message?"
my_context = """Subject: Re: dinner on Friday

On Wed, 4 Sep 2002, Mary Ann Smith wrote:
> Shall we meet at the station at seven?

Seven is fine. See http://www.example.com/map.html for the way."""
answer, start_char, end_char, score = qa.answer_question(qa_model, tok, my_question, my_context,
                                                         max_length=MAX_LEN, stride=STRIDE, max_answer_len=MAX_ANSWER)
print(f"{my_question} -> {answer!r} (characters {start_char}-{end_char}, score {score:.2f})")
assert my_context[start_char:end_char] == answer

# %% [markdown]
# ## 4. GLUE (通用语言理解评估): the benchmark behind the headline numbers
#
# GLUE (Wang et al. 2019) is nine English sentence and sentence-pair tasks with one leaderboard. BERT's
# Table 1 reports them on the hidden test sets (the "Average" leaves out WNLI, whose test set was
# adversarial to every system; the official GLUE score includes it: BERT-Large scored 80.5).
#
# | task | shape | what | train size | metric | BERT-Base | BERT-Large |
# | --- | --- | --- | --- | --- | --- | --- |
# | MNLI (m / mm) | pair | entailment, contradiction or neutral, many genres | 393k | accuracy | 84.6 / 83.4 | 86.7 / 85.9 |
# | QQP | pair | are two Quora questions the same question? | 364k | F1 | 71.2 | 72.1 |
# | QNLI | pair | does the sentence answer the question? (from SQuAD) | 105k | accuracy | 90.5 | 92.7 |
# | SST-2 | single | movie-review sentiment | 67k | accuracy | 93.5 | 94.9 |
# | CoLA | single | is the sentence grammatical? | 8.5k | Matthews corr. | 52.1 | 60.5 |
# | STS-B | pair | similarity score 1-5 (regression) | 5.7k | Spearman corr. | 85.8 | 86.5 |
# | MRPC | pair | are two news sentences paraphrases? | 3.7k | F1 | 88.9 | 89.3 |
# | RTE | pair | entailment, small | 2.5k | accuracy | 66.4 | 70.1 |
# | WNLI | pair | pronoun resolution as entailment | 634 | accuracy | (excluded) | (excluded) |
# | **Average** (without WNLI) | | | | | **79.6** | **82.1** |
#
# Beside them: the best system before (OpenAI GPT) averaged 75.1 and BiLSTM + ELMo 71.0; non-expert humans
# score **87.1** on the GLUE leaderboard (Nangia & Bowman 2019). The largest gains of BERT are on the small
# pair tasks (RTE, MRPC) and CoLA, where pretraining has the most to give.
#
# **Where our offline tasks sit.** Spam vs ham (lesson 08) is a single-sentence classification like SST-2 and
# CoLA; the same-speech pairs are a pair classification like MRPC or QQP; truecasing and Chinese POS are token
# tasks like the paper's CoNLL-2003 NER (sec. 5.3), which is not part of GLUE; the email questions are
# extractive QA like SQuAD (sec. 4.2; QNLI is SQuAD recast as a pair task). None of our tasks is in GLUE: the
# data cannot be downloaded in this course's offline setting, and our models are far smaller.

# %%
glue = {  # BERT Table 1, GLUE test: MNLI-m, MNLI-mm, QQP, QNLI, SST-2, CoLA, STS-B, MRPC, RTE
    "BERT-Base": [84.6, 83.4, 71.2, 90.5, 93.5, 52.1, 85.8, 88.9, 66.4],
    "BERT-Large": [86.7, 85.9, 72.1, 92.7, 94.9, 60.5, 86.5, 89.3, 70.1],
    "OpenAI GPT": [82.1, 81.4, 70.3, 87.4, 91.3, 45.4, 80.0, 82.3, 56.0],
}
glue_tasks = ["MNLI-m", "MNLI-mm", "QQP", "QNLI", "SST-2", "CoLA", "STS-B", "MRPC", "RTE"]
averages = {name: round(float(np.mean(v)), 1) for name, v in glue.items()}
print("averages over the nine columns:", averages)
assert averages == {"BERT-Base": 79.6, "BERT-Large": 82.1, "OpenAI GPT": 75.1}  # the paper's Average column

fig, ax = plt.subplots(figsize=(9, 3))
xs = np.arange(len(glue_tasks))
for k, (name, scores) in enumerate(glue.items()):
    ax.bar(xs + (k - 1) * 0.27, scores, 0.27, label=name)
ax.set_xticks(xs, glue_tasks)
ax.set_ylim(40, 100)
ax.set_ylabel("GLUE test score")
ax.legend(ncol=3)
plt.show()
