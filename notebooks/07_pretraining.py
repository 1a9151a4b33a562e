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
# # 07 · Pretraining BERT (BERT 预训练): MLM 80/10/10 and NSP, and what came after
#
# BERT is pretrained on unlabelled text with two tasks at once (Devlin et al. 2019, sec. 3.1):
#
# * the **masked language model** (掩码语言模型, MLM): 15 % of the tokens are chosen; of those 80 %
#   become `[MASK]`, 10 % a random token and 10 % stay unchanged; the model predicts the originals;
# * **next sentence prediction** (下一句预测, NSP): is sentence B the sentence that follows A
#   (IsNext), or a sentence from elsewhere (NotNext)? 50 % of each.
#
# We build the examples from the State of the Union addresses shipped in `data/`, measure that the
# rules hold, pretrain a tiny BERT with the course `Trainer`, look at the variants RoBERTa, ALBERT and
# SpanBERT changed, and finally evaluate the mini-BERT this project pretrained with the same code.

# %%
from bert_ms import device, settings

dev = device.setup(seed=0)

# %%
import tempfile
from collections import Counter
from pathlib import Path

import matplotlib.pyplot as plt
import mindspore as ms
import numpy as np

from bert_ms import data
from bert_ms.bert import losses
from bert_ms.bert import pretraining
from bert_ms.bert.config import BertConfig, scaled_init_range
from bert_ms.bert.model import BertForPreTraining
from bert_ms.train.tasks import PretrainingTask
from bert_ms.bert.tokenization import BertTokenizer
from bert_ms.train.trainer import Trainer, TrainerConfig, evaluate
from bert_ms.bert.tokenization import train_wordpiece_vocab

train_docs = data.load_sotu("train")[: settings.pick(20, None)]
print(f"{len(train_docs)} speeches, {sum(len(d) for d in train_docs):,} sentences")

workdir = Path(tempfile.mkdtemp(prefix="bert_ms_07_"))
vocab_file = train_wordpiece_vocab([s for d in train_docs for s in d], settings.pick(2000, 8000), workdir / "vocab.txt")
tokenizer = BertTokenizer(vocab_file)
print("WordPiece vocabulary trained on the corpus:", len(tokenizer), "tokens")

# %% [markdown]
# ## 1. The masked LM rule, measured
#
# One sequence first. `create_masked_lm_predictions` returns the corrupted tokens, the chosen
# positions and the original tokens there (the labels).

# %%
enc = tokenizer.encode("The state of the union is strong, and our economy is growing.",
                       "Congress must act on the budget this year.")
out, positions, labels = pretraining.create_masked_lm_predictions(enc.tokens, tokenizer.vocab, np.random.default_rng(3))
for i, (orig, new) in enumerate(zip(enc.tokens, out)):
    mark = f"  <- predict {labels[positions.index(i)]!r}" if i in positions else ""
    print(f"{i:2d} {orig:12s} {new:12s}{mark}")

# %% [markdown]
# Now over 10,000 sequences: what fraction of the maskable tokens is chosen, and what happens to the
# chosen ones? (The paper: 15 %, then 80 % / 10 % / 10 %.)

# %%
rng = np.random.default_rng(0)
sentences = [s for d in train_docs for s in d]
special = {"[CLS]", "[SEP]", "[PAD]"}
counts, n_tokens, n_chosen = Counter(), 0, 0
for k in range(10_000):
    tokens = ["[CLS]"] + tokenizer.tokenize(sentences[k % len(sentences)])[:60] + ["[SEP]"]
    out, positions, labels = pretraining.create_masked_lm_predictions(tokens, tokenizer.vocab, rng)
    n_tokens += sum(t not in special for t in tokens)
    n_chosen += len(positions)
    for p, label in zip(positions, labels):
        assert tokens[p] not in special
        counts["[MASK]" if out[p] == "[MASK]" else "unchanged" if out[p] == label else "random"] += 1
chosen = n_chosen / n_tokens
split = {k: v / n_chosen for k, v in counts.items()}
print(f"chosen: {chosen:.2%} of {n_tokens:,} tokens;", {k: f"{v:.1%}" for k, v in split.items()})
assert abs(chosen - 0.15) < 0.005
assert abs(split["[MASK]"] - 0.8) < 0.015 and abs(split["random"] - 0.1) < 0.015
assert abs(split["unchanged"] - 0.1) < 0.015

# %% [markdown]
# Why not always `[MASK]`? `[MASK]` never appears when the model is fine-tuned, so BERT must also learn
# to represent ordinary tokens well: a chosen token may be left as it is (10 %) or replaced (10 %), and
# the model cannot know which visible tokens are corrupted.
#
# ## 2. The MLM loss counts masked positions only
#
# The model predicts at most 20 positions per sequence; the unused slots are padding with weight 0.
# The loss is the **mean over real predictions only** (a bug in several courses averages over every
# position). Changing the logits at weight-0 slots must leave the loss unchanged:

# %%
rng = np.random.default_rng(1)
logits = rng.standard_normal((2, 5, 30)).astype(np.float32)
ids = rng.integers(0, 30, (2, 5)).astype(np.int32)
weights = np.array([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], np.float32)
before = float(losses.masked_lm_loss(ms.Tensor(logits), ms.Tensor(ids), ms.Tensor(weights)).asnumpy())
logits[weights == 0] += 100 * rng.standard_normal((int((weights == 0).sum()), 30)).astype(np.float32)
after = float(losses.masked_lm_loss(ms.Tensor(logits), ms.Tensor(ids), ms.Tensor(weights)).asnumpy())
logp = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) - logits.max(-1, keepdims=True)
reference = -(np.take_along_axis(logp, ids[..., None], -1)[..., 0] * weights).sum() / weights.sum()
print(f"loss before {before:.6f}, after scrambling padded slots {after:.6f}, NumPy reference {reference:.6f}")
assert abs(before - after) < 1e-6 and abs(after - reference) < 1e-5

# %% [markdown]
# ## 3. Next sentence prediction pairs
#
# For each example, A is a run of sentences from one speech; B is what follows (IsNext, label 0) or,
# half of the time, text from a **different** speech (NotNext, label 1).

# %%
pairs = pretraining.create_pretraining_pairs(train_docs, tokenizer, 64, np.random.default_rng(0))
for pair in pairs[:2]:
    kind = "NotNext" if pair.label else "IsNext"
    print(f"[{kind}] A: {' '.join(pair.tokens_a)[:90]}\n          B: {' '.join(pair.tokens_b)[:90]}\n")
not_next = np.mean([p.label for p in pairs])
print(f"{len(pairs):,} pairs, NotNext share {not_next:.1%}")
assert abs(not_next - 0.5) < 0.05
assert all(p.doc_a != p.doc_b for p in pairs if p.label == 1), "a NotNext B never comes from the same speech"

# %% [markdown]
# ## 4. Pretraining a tiny BERT
#
# `make_pretraining_arrays` turns the documents into the seven fixed-shape arrays the model needs
# (static shapes: Ascend requires them). The course `Trainer` runs AdamW with warmup and linear decay,
# gradient clipping at 1.0, and a compiled training step: the same code as `python -m bert_ms pretrain`.
#
# One departure from BERT's own optimizer: **Adam's bias correction (偏差校正) is on**. BERT's reference
# code (and MindSpore's `nn.AdamWeightDecay`) divides the raw moments, $m/\sqrt{v}$. In the first steps
# $v$ is still far below its true size, so those updates are several times larger than Adam's (3.2x at
# step 100). For this post-LayerNorm model that was enough to stall training at lr 1e-3; with the
# correction, lr 2e-3 trains. `TrainerConfig(bias_correction=False)` gives back the reference optimizer:
# try it as an exercise.
#
# A second departure, for small models: **the scale of the initial weights (初始化尺度)**. BERT draws
# every weight from $N(0, 0.02^2)$, a value chosen for $H = 768$. A layer's output grows like
# $\sigma\sqrt{H}$, so at $H = 128$ the same 0.02 makes each layer's signal ~2.4x weaker, and the
# query-key product ~6x weaker. Our BERT-tiny started at 0.02 stayed a *bag of words* (uniform attention)
# for 10,000 steps. Started at $0.02\sqrt{768/128} \approx 0.049$ (BERT-base's signal gain), its attention
# turned positional within 1,000 steps (`models/mini-bert-sotu/README.md`). `scaled_init_range` computes
# it, and `python -m bert_ms pretrain` uses it by default. We also train without dropout: on a short
# budget it only slows learning (fine-tuning puts BERT's 0.1 back).

# %%
seq_len = 64
arrays = pretraining.make_pretraining_arrays(train_docs, tokenizer, max_seq_length=seq_len,
                                             max_predictions_per_seq=10, seed=0,
                                             max_examples=settings.pick(512, None))
print({k: v.shape for k, v in arrays.items()})

config = BertConfig.preset("tiny", vocab_size=len(tokenizer), max_position_embeddings=seq_len,
                          initializer_range=scaled_init_range(128),  # 0.049 instead of 0.02
                          hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
model = BertForPreTraining(config)
steps = settings.pick(30, 1500)
trainer = Trainer(model, PretrainingTask(), arrays,
                  TrainerConfig(total_steps=steps, batch_size=32, lr=1e-3, warmup_ratio=0.1,
                                log_every=5, progress=not settings.smoke()))
trainer.fit()
curve = trainer.losses()
print(f"loss: first {curve[0][1]:.2f} -> last {curve[-1][1]:.2f}")
plt.figure(figsize=(5, 3))
plt.plot(*zip(*curve))
plt.xlabel("step")
plt.ylabel("MLM + NSP loss")
plt.title("tiny BERT on SOTU")
plt.show()
# at the start the MLM loss is about log(vocab) and NSP about log 2
assert abs(curve[0][1] - (np.log(len(tokenizer)) + np.log(2))) < 1.0
assert np.mean([v for _, v in curve[-3:]]) < curve[0][1] - 0.5

# %% [markdown]
# ## 5. What came after: RoBERTa, ALBERT, SpanBERT
#
# * **RoBERTa** (Liu et al. 2019) drops NSP and uses **dynamic masking** (动态掩码): a new mask every
#   time a sequence is seen, instead of one mask fixed when the data is made (static).
# * **ALBERT** (Lan et al. 2020) replaces NSP by **sentence-order prediction** (句子顺序预测, SOP): B
#   always follows A in the same document, but half the time the two are swapped. Topic no longer gives
#   the answer away.
# * **SpanBERT** (Joshi et al. 2020) masks contiguous **spans** whose lengths follow a geometric
#   distribution (p = 0.2, clipped at 10), mean 3.8 words.

# %%
tokens = ["[CLS]"] + tokenizer.tokenize(sentences[0])[:40] + ["[SEP]"]
static = pretraining.create_masked_lm_predictions(tokens, tokenizer.vocab, np.random.default_rng(7))[1]
epochs = [pretraining.create_masked_lm_predictions(tokens, tokenizer.vocab, np.random.default_rng([7, e]))[1]
          for e in range(3)]
print("static mask, every epoch:", static)
for e, pos in enumerate(epochs):
    print(f"dynamic mask, epoch {e}:", pos)
assert len({tuple(p) for p in epochs}) > 1

sop = pretraining.make_pretraining_arrays(train_docs[:5], tokenizer, max_seq_length=64, seed=0,
                                          nsp=False, sop=True)
print(f"SOP: {sop['next_sentence_label'].mean():.1%} of the pairs are swapped")
assert 0.35 < sop["next_sentence_label"].mean() < 0.65

rng = np.random.default_rng(0)
span_lengths = []
words = " ".join(sentences[:2000]).split()
for k in range(settings.pick(100, 1000)):
    chunk = ["[CLS]"] + words[7 * k : 7 * k + 400] + ["[SEP]"]  # long chunks: the 15 % budget rarely cuts a span
    _, pos, _ = pretraining.create_masked_lm_predictions(chunk, tokenizer.vocab, rng, span="geometric",
                                                          max_predictions_per_seq=400)
    runs = np.split(np.array(pos), np.where(np.diff(pos) != 1)[0] + 1) if pos else []
    span_lengths += [len(r) for r in runs]
dist = pretraining.span_length_distribution()
print(f"SpanBERT theory: mean span {np.dot(np.arange(1, 11), dist):.2f}; measured runs of masked positions: "
      f"{np.mean(span_lengths):.2f}")
plt.figure(figsize=(5, 3))
plt.bar(np.arange(1, 11), dist, alpha=0.6, label="Geometric(0.2), clipped at 10")
plt.hist(span_lengths, bins=np.arange(0.5, 15.5), density=True, histtype="step", label="measured runs")
plt.xlabel("span length (words)")
plt.legend()
plt.show()
assert abs(np.dot(np.arange(1, 11), dist) - 3.8) < 0.05
# the last span of a sequence is cut to the budget, adjacent spans can merge: runs stay near 3.8
assert 3.3 < np.mean(span_lengths) < 4.3

# %% [markdown]
# ## 6. The course's pretrained BERT, and how far it got
#
# `models/mini-bert-sotu/` holds a BERT pretrained by this project with `python -m bert_ms pretrain`
# on the SOTU training speeches. The exact commands and logs are in that folder's README. It is a CPU
# run: BERT-tiny in BERT's two phases, 4,000 steps of 32 × 32 tokens, then 4,000 steps of 32 × 128
# tokens (`pretrain --init` continues from phase 1), about 35 minutes on 2 cores, with the init scale
# of section 4 and no dropout. The project set two targets for it on held-out speeches:
# * masked-token accuracy 0.3: **reached** (0.327 on the test split);
# * NSP accuracy 0.75: **reached**, narrowly (0.751).
#
# We measure it on speeches it never saw, against two yardsticks that use no neural network:
# * always predicting the most frequent token (the *unigram* stage every MLM passes through);
# * predicting the token seen most often between the same two *neighbours* in the training text.

# %%
from bert_ms.bert.inference import fill_mask
from bert_ms.runtime.settings import REPO_ROOT
from bert_ms.bert.model import load_pretrained

mini_dir = REPO_ROOT / "models" / "mini-bert-sotu"
mini = load_pretrained(mini_dir, head="pretraining")
mini_tok = BertTokenizer(mini_dir / "vocab.txt")
held_out = pretraining.make_pretraining_arrays(data.load_sotu("test"), mini_tok, max_seq_length=128, seed=1,
                                               max_examples=settings.pick(256, None))
metrics = evaluate(mini, PretrainingTask(), held_out, batch_size=32)
print({k: round(float(v), 3) for k, v in metrics.items()})

# two yardsticks without a neural network, counted on the training speeches
train_arrays = pretraining.make_pretraining_arrays(data.load_sotu("train")[: settings.pick(30, None)], mini_tok,
                                                   max_seq_length=128, seed=2)
base = pretraining.masked_token_baselines(train_arrays, held_out)
unigram_acc = base["unigram"]
print(f"unigram baseline: always {mini_tok.convert_ids_to_tokens(base['unigram_id'])!r} -> accuracy {unigram_acc:.3f}")
print(f"neighbours baseline: the most frequent token between the same two neighbours -> {base['neighbours']:.3f}")
print(f"the model: masked-token accuracy {metrics['mlm_accuracy']:.3f} (target 0.3), "
      f"NSP accuracy {metrics['nsp_accuracy']:.3f} (target 0.75, chance 0.5)")
assert metrics["mlm_accuracy"] > base["neighbours"], "the model must beat counting the two neighbours"
assert metrics["mlm_accuracy"] > settings.pick(0.27, 0.3), "the full test split gives 0.327"
assert metrics["nsp_accuracy"] > settings.pick(0.65, 0.74), "NSP must be well above chance (0.5); the full test split gives 0.751"

for text in ["the congress of the united [MASK] must act.", "we will [MASK] taxes for working families."]:
    top = fill_mask(mini, mini_tok, text, top_k=5, seq_len=128)[0]
    print(f"{text:55s} -> {[t for t, _ in top]}")

# where does each head look? average attention at offsets -2..+2 from every position
cols = [ms.Tensor(held_out[c][:16]) for c in ("input_ids", "token_type_ids", "attention_mask")]
maps = mini.bert(*cols, False, True)[3]  # output_attentions=True: one [B, heads, T, T] map per layer
offsets = (-2, -1, 0, 1, 2)
at_offset = {}  # (layer, head) -> {offset: mean attention}
for layer, a in enumerate(maps):
    a = a.asnumpy()
    for head in range(a.shape[1]):
        at_offset[layer, head] = {k: np.mean([np.diagonal(a[b, head], k).mean() for b in range(len(a))])
                                  for k in offsets}
        print(f"layer {layer} head {head}: " + "  ".join(f"{k:+d}: {v:.3f}" for k, v in at_offset[layer, head].items()))
layer0 = [row for (layer, _), row in at_offset.items() if layer == 0]
assert max(r[-1] for r in layer0) > 0.5 and max(r[1] for r in layer0) > 0.5, \
    "layer 0 should have a previous-token head and a next-token head"

# %% [markdown]
# The model beats both yardsticks, and its fill-mask answers fit the slot. How does it use word order?
# The attention printout above shows it: in layer 0, one head puts ~0.79 of its weight on the
# **previous** token and the other ~0.74 on the **next** one, so every position sees its two neighbours
# (uniform attention would give each position ~1/120). Layer 1 mixes in the wider context, which is what
# lets it tell the era and topic of two segments (NSP).
#
# The previous version of this model, trained at BERT's init std 0.02 for 10,000 steps, never grew these
# heads: its attention stayed uniform, it was a bag of words, and it stopped at 0.157. Exercise 5 lets you
# watch a model start at 0.02 instead.

# %% [markdown]
# ## Exercises
# 1. Pretrain the tiny model with `sop=True` instead of NSP. Is SOP harder? Why?
# 2. Set `whole_word=True`: all pieces of a word are masked together. How does the MLM accuracy change,
#    and why is the task harder?
# 3. Try `python -m bert_ms pretrain --config mini --corpus sotu --steps 200 --out runs/mine` and kill it
#    with Ctrl-C halfway; run it again with `--resume`. Compare its log with an uninterrupted run.
# 4. In section 4, add `bias_correction=False` to the `TrainerConfig` (BERT's original optimizer) and train
#    again. Compare the loss curves, then try lr 5e-4 without the correction.
# 5. In section 4, build the model with `initializer_range=0.02` (BERT's value) and train it again. Then
#    print its heads as in section 6 (`model.bert(ids, tt, am, False, True)` returns the attention maps).
#    Does a previous-token head appear? Try 0.1 too.
