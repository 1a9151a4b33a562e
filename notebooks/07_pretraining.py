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
# # 07 · Pretraining BERT (BERT 预训练): MLM 80/10/10 and NSP, and what came after
#
# Pretraining is **self-supervised learning (自监督学习)**: the labels are made from unlabelled text
# itself, so any amount of text can be used; the model is then fine-tuned on a small labelled task
# (lesson 08), which is transfer learning (迁移学习). BERT learns two tasks at once (Devlin et al. 2019,
# sec. 3.1):
#
# * the **masked language model** (掩码语言模型, MLM): 15 % of the tokens are chosen; of those 80 %
#   become `[MASK]`, 10 % a random token and 10 % stay unchanged; the model predicts the originals.
#   Why not an ordinary language model? A left-to-right LM (GPT) may only look left. A deep model that
#   looks both ways at every layer would let each word "see itself" through the other direction, so BERT
#   hides the words it must predict instead (a cloze test, 完形填空).
# * **next sentence prediction** (下一句预测, NSP): is sentence B the sentence that follows A
#   (IsNext), or a sentence from elsewhere (NotNext)? 50 % of each.
#
# **BERT's corpora (预训练语料)**: BooksCorpus (800M words) and English Wikipedia (2,500M words, text
# passages only: lists, tables and headers removed). The paper stresses a *document-level* corpus, not
# shuffled sentences, so that long contiguous sequences and true next sentences exist. Ours is the
# State of the Union addresses shipped in `data/` (measured below).
#
# We write the masking rule and the NSP pairs out and compare them with `bert_ms` (each after an exercise
# that asks you for it), write one training step out by hand and prove it equal to the course `Trainer`
# (and show that a wrong step fails the proof), pretrain a tiny BERT and score it on held-out speeches,
# look at the variants (RoBERTa, ALBERT, SpanBERT, whole-word and ERNIE masking), plot how this project's
# own pretrained BERT learned, and end with BERT's known weaknesses.
#
# The matching lecture of the MindSpore course is step_into_llm, lecture 2 "BERT"
# (`mindspore-courses/step_into_llm`, `Season1.step_into_chatgpt/2.BERT/pretrain/`: Lamb, warmup with
# polynomial decay, clipping at 1.0, on pre-masked data that it does not ship; here the data is made in
# the notebook).

# %%
import os

os.environ.setdefault("GLOG_v", "3")  # MindSpore's log: errors only (each new Trainer would warn "compiled again")
os.environ.setdefault("TQDM_MININTERVAL", "5")  # the training progress bar redraws every 5 s, not 10 times a second
from bert_ms import device, settings

dev = device.setup(seed=0)

# %%
import math
from collections import Counter

import matplotlib.pyplot as plt
import mindspore as ms
import numpy as np
from mindspore import ops

from bert_ms.runtime.progress import bar
from bert_ms import data
from bert_ms.bert import losses, masking, pretraining
from bert_ms.bert.config import BertConfig, scaled_init_range
from bert_ms.bert.inference import fill_mask
from bert_ms.bert.model import BertForPreTraining, load_pretrained
from bert_ms.bert.tokenization import BertTokenizer
from bert_ms.exercises import check
from bert_ms.runtime.settings import REPO_ROOT
from bert_ms.train.tasks import PretrainingTask
from bert_ms.train.evaluation import evaluate
from bert_ms.train.trainer import Trainer, TrainerConfig, read_log


mini_dir = REPO_ROOT / "models" / "mini-bert-sotu"  # the course's pretrained BERT (section 7)
tokenizer = BertTokenizer(mini_dir / "vocab.txt")  # its WordPiece vocabulary, trained on the SOTU speeches
all_train = data.load_sotu("train")
words = sum(len(s.split()) for d in all_train for s in d)
print(f"SOTU training split: {len(all_train)} addresses, {words:,} words "
      f"(BERT's corpora: 3,300M words, {3.3e9 / words:,.0f} times more)")
assert len(all_train) == 187 and 1.4e6 < words < 1.45e6
train_docs = all_train[: settings.pick(20, None)]
print(f"using {len(train_docs)} speeches, {sum(len(d) for d in train_docs):,} sentences; vocabulary {len(tokenizer):,}")

# %% [markdown]
# ## 1. The masked LM rule (掩码规则), written out and measured
#
# Sec. 3.1: choose 15 % of the tokens at random (`[CLS]`, `[SEP]` and `[PAD]` are never chosen); replace
# each chosen token by `[MASK]` 80 % of the time, by a random token of the vocabulary 10 % of the time,
# and leave it as it is 10 % of the time. The labels are the original tokens at the chosen positions.
# Try it yourself before reading on.
#
# **Exercises (练习)** are written in the cell below their heading; the check after it runs your answer on
# fresh random data and tells you the first mismatch. While a cell still raises `NotImplementedError` (or
# holds `None`) the check says "not attempted yet" and the notebook runs on. Solutions:
# `solutions/07_pretraining.py` (open it after trying).
#
# **Exercise 7.1 (练习): the masking rule.** Write `my_mlm_mask(tokens, vocab, rng)`: `tokens` is a list
# of strings, `vocab` a dict token → id, `rng` a `numpy.random.Generator`. Choose 15 % of the tokens that
# are not `[CLS]`, `[SEP]` or `[PAD]` (no upper limit on their number); replace each chosen token by
# `[MASK]` 80 % of the time, by a random vocabulary token 10 %, and leave it 10 %. Return
# `(output_tokens, positions, labels)`, the labels being the original tokens. Draw every random number from
# `rng`: the check calls your function with seeded generators and measures the rule over ~590,000 tokens
# (~60 long sequences): the rate, the split, where the chosen tokens lie and where the random tokens come
# from.

# %%
# Exercise 7.1 (练习): 15 % of the tokens, then 80/10/10
def my_mlm_mask(tokens, vocab, rng):
    raise NotImplementedError  # your code here


check.mlm_mask(my_mlm_mask)

# %% [markdown]
# Here is the rule in a few lines. The number to choose is 15 % of the candidates **rounded at random**
# (9.3 becomes 10 with probability 0.3, else 9), so that on average exactly 15 % are chosen; a random
# permutation of the candidates picks the positions; one uniform number per chosen token picks its kind.
# `bert_ms` keeps at most 20 predictions per sequence (the size of the fixed prediction list of section 2),
# and it draws the random replacements from the tokens that are not bracketed specials such as `[CLS]` or
# `[unused17]` (Google's code draws from the whole vocabulary).

# %%
special = {"[CLS]", "[SEP]", "[PAD]"}
pool = [t for t in tokenizer.vocab if not (t.startswith("[") and t.endswith("]"))]  # the random replacements


def mask_tokens(tokens, pool, rng, rate=0.15, max_predictions=20):
    candidates = [i for i, t in enumerate(tokens) if t not in special]
    exact = len(candidates) * rate
    n = min(int(exact) + (rng.random() < exact - int(exact)), max_predictions)  # rounded at random
    chosen = [candidates[j] for j in rng.permutation(len(candidates))[:n]]
    out = list(tokens)
    for i in chosen:
        r = rng.random()
        if r < 0.8:
            out[i] = "[MASK]"  # 80 %
        elif r >= 0.9:
            out[i] = pool[rng.integers(len(pool))]  # 10 %: a random token
        # else: 10 % stay as they are
    positions = sorted(chosen)
    return out, positions, [tokens[i] for i in positions]


enc = tokenizer.encode("The state of the union is strong, and our economy is growing.",
                       "Congress must act on the budget this year.")
out, positions, labels = mask_tokens(enc.tokens, pool, np.random.default_rng(3))
for i, (orig, new) in enumerate(zip(enc.tokens, out)):
    mark = f"  <- predict {labels[positions.index(i)]!r}" if i in positions else ""
    print(f"{i:2d} {orig:12s} {new:12s}{mark}")

# %% [markdown]
# `mask_tokens` draws the same random numbers in the same order as the package's
# `create_masked_lm_predictions` (one for the rounding, one permutation, then one number per chosen token
# and one integer per random replacement), so **given generators with the same seed, the two give the
# same output**: the cell below asserts it on every sequence it masks. Then it measures the rule over
# thousands of sequences: what fraction of the maskable tokens is chosen, and what happens to the chosen
# ones? (The paper: 15 %, then 80 % / 10 % / 10 %.)

# %%
assert pool == masking.random_token_pool(tokenizer.vocab)[1]  # the same replacement pool, in the same order
rng, rng_package = np.random.default_rng(0), np.random.default_rng(0)
sentences = [s for d in train_docs for s in d]
counts, n_tokens, n_chosen = Counter(), 0, 0
n_sequences = settings.pick(3000, 10_000)
for k in range(n_sequences):
    tokens = ["[CLS]"] + tokenizer.tokenize(sentences[k % len(sentences)])[:60] + ["[SEP]"]
    out, positions, labels = mask_tokens(tokens, pool, rng)
    assert (out, positions, labels) == masking.create_masked_lm_predictions(tokens, tokenizer.vocab, rng_package)
    n_tokens += sum(t not in special for t in tokens)
    n_chosen += len(positions)
    for p, label in zip(positions, labels):
        assert tokens[p] not in special
        counts["[MASK]" if out[p] == "[MASK]" else "unchanged" if out[p] == label else "random"] += 1
chosen = n_chosen / n_tokens
split = {k: v / n_chosen for k, v in counts.items()}
print(f"mask_tokens = bert_ms's create_masked_lm_predictions on all {n_sequences:,} sequences (same seed, same output)")
print(f"chosen: {chosen:.2%} of {n_tokens:,} tokens;", {k: f"{v:.1%}" for k, v in split.items()})
print(f"so {chosen * split['[MASK]']:.1%} of all tokens are [MASK] in pretraining (and 0 % when fine-tuning)")
assert abs(chosen - 0.15) < 0.005
assert abs(split["[MASK]"] - 0.8) < 0.015 and abs(split["random"] - 0.1) < 0.015
assert abs(split["unchanged"] - 0.1) < 0.015
assert abs(chosen * split["[MASK]"] - 0.12) < 0.005

# %% [markdown]
# Why not always `[MASK]`? `[MASK]` never appears when the model is fine-tuned, so BERT must also learn
# to represent ordinary tokens well: a chosen token may be left as it is (10 %) or replaced (10 %), and
# the model cannot know which visible tokens are corrupted.
#
# ## 2. The MLM loss counts masked positions only
#
# Each sequence has a fixed-size list of at most 20 prediction slots (static shapes); the unused slots
# are padding with weight 0 (they point at position 0 with label 0). The loss is the mean over the
# **real predictions only**, $\sum_i w_i\,\mathrm{nll}_i / \sum_i w_i$.
#
# Two well-known courses get this wrong. The PyTorch version of d2l (d2l-en issue #2582) computes
# `nn.CrossEntropyLoss()` with its default `reduction="mean"`, which already averages over **every
# slot, padding included**, into one number; it then multiplies that number by the weights and divides
# by their sum, which gives the same number back: the weights do nothing, and every padding slot trains
# the model to predict label 0 at position 0. pytorchic-bert (issue #24) weights first but divides by
# every slot ($B \times P$) instead of $\sum w$, which shrinks the loss by the share of real slots.
#
# **Exercise 7.2 (练习): the MLM loss.** Write it in MindSpore: `mlm_logits` [B, P, V], `masked_lm_ids`
# [B, P] (int32), `masked_lm_weights` [B, P] (1 = a real prediction, 0 = a padding slot). Return the mean
# cross-entropy over the real predictions only. The check also tries the d2l and pytorchic-bert versions
# on you: it tells you if yours is one of them.

# %%
# Exercise 7.2 (练习): the masked-only MLM loss
def my_mlm_loss(mlm_logits, masked_lm_ids, masked_lm_weights):
    raise NotImplementedError  # your code here


check.mlm_loss(my_mlm_loss)

# %% [markdown]
# The three versions in NumPy, and `bert_ms`'s `masked_lm_loss`. Scrambling the logits at weight-0 slots
# must leave the right loss unchanged:

# %%
rng = np.random.default_rng(1)
logits = rng.standard_normal((2, 5, 30)).astype(np.float32)
ids = rng.integers(0, 30, (2, 5)).astype(np.int32)
weights = np.array([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], np.float32)
ids[weights == 0] = 0


def nll_numpy(logits: np.ndarray, ids: np.ndarray) -> np.ndarray:
    logp = logits - logits.max(-1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
    return -np.take_along_axis(logp, ids[..., None], -1)[..., 0]  # [B, P]


def three_losses(logits: np.ndarray) -> tuple[float, float, float]:
    nll = nll_numpy(logits, ids)
    ours = float(losses.masked_lm_loss(ms.Tensor(logits), ms.Tensor(ids), ms.Tensor(weights)).asnumpy())
    assert abs(ours - (nll * weights).sum() / weights.sum()) < 1e-5  # bert_ms = the formula above
    d2l = float(nll.mean() * (weights.reshape(-1, 1)).sum() / weights.sum())  # mean first: = nll.mean()
    pytorchic = float((nll * weights).mean())
    return ours, d2l, pytorchic


before = three_losses(logits)
logits[weights == 0] += 100 * rng.standard_normal((int((weights == 0).sum()), 30)).astype(np.float32)
after = three_losses(logits)
for name, b, a in zip(("masked only (bert_ms)", "d2l: mean first", "pytorchic: / B×P"), before, after):
    print(f"{name:22s} before {b:8.4f}   after scrambling the padding slots {a:8.4f}")
assert abs(before[0] - after[0]) < 1e-5, "the right loss ignores the padding slots"
assert abs(before[1] - after[1]) > 1.0, "d2l's loss moves with them"
assert abs(before[2] - before[0] * weights.mean()) < 1e-5, "pytorchic's is the right loss times the share of real slots"

# %% [markdown]
# ## 3. Next sentence prediction pairs
#
# For NSP each example is a pair (A, B): half of the time B is the text that follows A (IsNext, label 0),
# otherwise it is text from a **different** document (NotNext, label 1). Sentence by sentence first.
#
# **Exercise 7.3 (练习): NSP pairs.** `documents` is a list of documents, each a list of sentences.
# For every sentence that has a next one in its document, make one pair `(a, b, label)`: with
# probability 0.5, `b` is the next sentence (IsNext, label 0); otherwise `b` is a random sentence from a
# **different** document (NotNext, label 1). Draw from `rng`. The check measures ~12,000 pairs: the
# NotNext share, that the labels follow no pattern, and where a NotNext B comes from.

# %%
# Exercise 7.3 (练习): IsNext / NotNext pairs
def my_nsp_pairs(documents, rng):
    raise NotImplementedError  # your code here


check.nsp_pairs(my_nsp_pairs)

# %% [markdown]
# Written out: one coin per sentence; a NotNext B is a random sentence of a random *other* document (a
# random index among the other $n - 1$ documents). The function does not care what a sentence is, so to
# measure it we give it `(document, index)` tags instead of text (the speeches repeat sentences such as
# "Thank you.", which text alone could not place).

# %%
def nsp_pairs(documents, rng):
    pairs = []
    for d, doc in enumerate(documents):
        for i in range(len(doc) - 1):
            if rng.random() < 0.5:
                pairs.append((doc[i], doc[i + 1], 0))  # IsNext
            else:
                other = int(rng.integers(len(documents) - 1))
                other += other >= d  # any document but d
                pairs.append((doc[i], documents[other][int(rng.integers(len(documents[other])))], 1))  # NotNext
    return pairs


tagged = [[(d, i) for i in range(len(doc))] for d, doc in enumerate(train_docs)]
ours_pairs = nsp_pairs(tagged, np.random.default_rng(0))
ours_not_next = np.mean([label for _, _, label in ours_pairs])
assert all(b == (a[0], a[1] + 1) for a, b, label in ours_pairs if label == 0), "IsNext: B is the next sentence"
assert all(b[0] != a[0] for a, b, label in ours_pairs if label == 1), "NotNext: B from another speech"
print(f"ours: {len(ours_pairs):,} sentence pairs from {len(train_docs)} speeches, NotNext share {ours_not_next:.1%}")

# %% [markdown]
# `bert_ms`'s `create_pretraining_pairs` builds the pairs the way BERT's `create_pretraining_data.py` does:
# it gathers sentences into a chunk of up to `max_seq_length - 3` tokens (sometimes a shorter random
# length), A is the chunk's first few sentences and B the rest (IsNext) or text from another document
# (NotNext). It draws different random numbers from ours (chunk lengths, where A ends, truncation), so we
# compare what both must share, not outputs: about half NotNext, an IsNext B from A's own speech, a NotNext B
# never from it.

# %%
pairs = pretraining.create_pretraining_pairs(train_docs[:20], tokenizer, 64, np.random.default_rng(0))
for pair in pairs[:2]:
    kind = "NotNext" if pair.label else "IsNext"
    print(f"[{kind}] A: {' '.join(pair.tokens_a)[:90]}\n          B: {' '.join(pair.tokens_b)[:90]}\n")
not_next = np.mean([p.label for p in pairs])
print(f"bert_ms: {len(pairs):,} pairs of up to 64 tokens from 20 speeches, NotNext share {not_next:.1%} "
      f"(ours: {ours_not_next:.1%})")
assert abs(not_next - 0.5) < 0.05 and abs(ours_not_next - 0.5) < 0.05
assert all(p.doc_a == p.doc_b for p in pairs if p.label == 0), "an IsNext B comes from A's speech"
assert all(p.doc_a != p.doc_b for p in pairs if p.label == 1), "a NotNext B never comes from the same speech"

# %% [markdown]
# ## 4. One training step, written out (训练步骤)
#
# `make_pretraining_arrays` turns the documents into the seven fixed-shape arrays the model needs
# (static shapes: Ascend requires them). We build two identical BERT-tiny models: we train **ours** with
# a step written out below, and **theirs** with the course `Trainer` (what `python -m bert_ms pretrain`
# runs), on the same batches. Both models train without dropout, so nothing random is left.
#
# The step, as in BERT's `run_pretraining.py` (appendix A.2):
#
# 1. **loss and gradients**: `mindspore.value_and_grad(loss_fn, None, params)` returns the loss (MLM +
#    NSP) and its gradient with respect to every parameter;
# 2. **gradient clipping (梯度裁剪)**: if the global norm $\|g\|$ of all gradients together is above 1.0,
#    every gradient is scaled by $1/\|g\|$;
# 3. **the schedule (学习率调度)**: the learning rate warms up linearly, then decays linearly to 0;
# 4. **AdamW (权重衰减解耦的 Adam)**, the update of MindSpore's `nn.AdamWeightDecay`:
#    $m \leftarrow \beta_1 m + (1-\beta_1) g$, $v \leftarrow \beta_2 v + (1-\beta_2) g^2$,
#    $w \leftarrow w - \eta_t\,\big(f_t\, m / (\sqrt v + \epsilon) + \lambda w\big)$, with weight decay
#    $\lambda = 0.01$ on weight matrices only (not on LayerNorm or biases).
#
# $f_t = \sqrt{1-\beta_2^t}/(1-\beta_1^t)$ is **Adam's bias correction (偏差校正)**, a departure from
# BERT's own optimizer, which (like `nn.AdamWeightDecay`) uses the raw $m/\sqrt v$. Early on $v$ is far
# below its true size, so those updates are several times larger than Adam's (3.2× at step 100): for our
# post-LayerNorm BERT-tiny that stalled training at lr 1e-3. The `Trainer` folds $f_t$ into the learning
# rate it gives `nn.AdamWeightDecay` and divides the weight decay by $f_t$, which is exactly the update
# above; `TrainerConfig(bias_correction=False)` gives back BERT's optimizer.
#
# A second departure, for small models: **the scale of the initial weights (初始化尺度)**. BERT draws
# every weight from $N(0, 0.02^2)$, a value chosen for $H = 768$. A layer's output grows like
# $\sigma\sqrt{H}$, so at $H = 128$ the same 0.02 makes each layer's signal ~2.4x weaker, and the
# query-key product ~6x weaker. Our BERT-tiny started at 0.02 stayed a *bag of words* (uniform attention)
# for 10,000 steps. Started at $0.02\sqrt{768/128} \approx 0.049$ (BERT-base's signal gain), its attention
# turned positional within 1,000 steps (`models/mini-bert-sotu/README.md`). `scaled_init_range` computes
# it, and `python -m bert_ms pretrain` uses it by default.
#
# **Exercise 7.4 (练习): Adam without bias correction.** The gradient is the same at every step;
# $\beta_1 = 0.9$, $\beta_2 = 0.999$, ignore $\epsilon$. How many times larger than Adam's (corrected)
# update is the raw update $m/\sqrt v$ at step $t = 10$? Work it out on paper (three decimals); the
# right-hand plot below shows the whole curve once you have answered.

# %%
# Exercise 7.4 (练习): a number
adam_ratio_at_10 = None  # your answer

check.adam_uncorrected_ratio(adam_ratio_at_10)

# %%
seq_len, batch_size = 32, 32
arrays = pretraining.make_pretraining_arrays(train_docs, tokenizer, max_seq_length=seq_len,
                                             max_predictions_per_seq=5, seed=0,
                                             max_examples=settings.pick(1024, None))
order = np.random.default_rng(0).permutation(len(arrays["input_ids"]))  # shuffled once, used in this order
arrays = {k: v[order] for k, v in arrays.items()}
print({k: v.shape for k, v in arrays.items()})

config = BertConfig.preset("tiny", vocab_size=len(tokenizer), max_position_embeddings=seq_len,
                          initializer_range=scaled_init_range(128),  # 0.049 instead of 0.02
                          hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
ours = BertForPreTraining(config)
theirs = BertForPreTraining(config)
for (name, p), (name2, q) in zip(ours.parameters_and_names(), theirs.parameters_and_names()):
    assert name == name2
    q.set_data(ms.Tensor(p.asnumpy()))  # the same initial weights

peak_lr, total_steps, warmup_steps = 1e-3, settings.pick(20, 2000), settings.pick(2, 100)
beta1, beta2, eps, weight_decay, clip_norm = 0.9, 0.999, 1e-6, 0.01, 1.0


def learning_rate(step: int) -> float:
    """Step 0, 1, 2, ...: linear warmup to the peak, then linear decay to 0 at total_steps."""
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    return peak_lr * (total_steps - step) / (total_steps - warmup_steps)


trainer_config = TrainerConfig(total_steps=total_steps, warmup_steps=warmup_steps, batch_size=batch_size,
                               lr=peak_lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                               clip_norm=clip_norm, log_every=settings.pick(5, 50), progress=True)
schedule = np.array([learning_rate(s) for s in range(total_steps)])
np.testing.assert_allclose(schedule, trainer_config.lr_schedule()[:total_steps], rtol=1e-6)
correction = np.array([math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t) for t in range(1, total_steps + 1)])
np.testing.assert_allclose(correction, trainer_config.bias_correction_factors()[:total_steps], rtol=1e-9)

fig, axes = plt.subplots(1, 2, figsize=(10, 3))
axes[0].plot(schedule)
axes[0].axvline(warmup_steps, color="gray", ls=":", label="end of warmup")
axes[0].set(xlabel="step", ylabel="learning rate", title="warmup, then linear decay")
axes[0].legend()
t = np.arange(1, 1001)
axes[1].plot(t, (1 - beta1 ** t) / np.sqrt(1 - beta2 ** t))
axes[1].axhline(1.0, color="gray", ls=":")
axes[1].set(xlabel="step t", ylabel="m/√v  ÷  Adam's update", title="without bias correction (constant gradient)")
plt.tight_layout()
plt.show()
assert abs((1 - beta1 ** 100) / math.sqrt(1 - beta2 ** 100) - 3.24) < 0.01  # "3.2x at step 100"

# %% [markdown]
# The schedule (left) is what section 5 trains with, and `learning_rate` equals the `Trainer`'s
# `lr_schedule()` at every step; `correction` equals its `bias_correction_factors()`.
#
# The step itself. `grad_fn` is built once; each call runs the model forward, the loss, and the backward
# pass. `adamw_update` returns the change $\Delta w$ of every parameter and updates the optimizer state
# $m, v$ (which starts at zero) in place.

# %%
def loss_fn(input_ids, token_type_ids, attention_mask, positions, mlm_ids, mlm_weights, nsp_label):
    mlm_logits, nsp_logits = ours(input_ids, token_type_ids, attention_mask, positions)
    return losses.pretraining_loss(mlm_logits, nsp_logits, mlm_ids, mlm_weights, nsp_label)


params = ours.trainable_params()
grad_fn = ms.value_and_grad(loss_fn, None, params)  # d loss / d every parameter


def global_norm(grads) -> float:
    return float(ops.sqrt(sum((g * g).sum() for g in grads)).asnumpy())


def clip(grads):  # to a global norm of at most 1.0
    scale = min(1.0, clip_norm / global_norm(grads))
    return [g * scale for g in grads]


def adamw_update(grads, m, v, t: int, lr: float, decay: bool = True) -> list:
    f = math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)  # Adam's bias correction at update t = 1, 2, ...
    deltas = []
    for i, (p, g) in enumerate(zip(params, grads)):
        m[i] = beta1 * m[i] + (1 - beta1) * g
        v[i] = beta2 * v[i] + (1 - beta2) * g * g
        update = f * m[i] / (ops.sqrt(v[i]) + eps)
        if decay and len(p.shape) > 1:  # decoupled weight decay, for weight matrices only
            update = update + weight_decay * p
        deltas.append(-lr * update)
    return deltas


# %% [markdown]
# Now the course `Trainer` on `theirs`, on the same batches in the same order (`shuffle=False`), at the
# **peak learning rate** 1e-3 from the first step (`warmup_steps=0`, `decay="constant"`), so that every
# update is full-size. `fit(until_step=k)` stops after step k; we call it once per step and record how
# much every weight tensor moved, $\Delta w$. Our step must move every tensor by the same $\Delta w$:
# we measure the difference **relative to the size of the update**, $\|\Delta w_\text{ours} - \Delta
# w_\text{Trainer}\| / \|\Delta w_\text{Trainer}\|$, for every tensor and every step, and keep the worst.
#
# A comparison is only a proof if a wrong step fails it. So, from the same gradients, we also compute three
# wrong steps, each with its own $m, v$: **without weight decay**, **without clipping**, and **clipping
# each tensor to norm 1 on its own** instead of all together. Only our own step moves `ours`.
#
# Two tensors do not move at all: the biases of the attention **keys**. Adding the same number to every
# score of a softmax row changes nothing, so their gradient is zero up to rounding, and what is left of
# their "update" is rounding noise; the comparison leaves them out (the cell asserts that they are the
# only ones).

# %%
n_check = settings.pick(3, 10)
check_config = TrainerConfig(total_steps=n_check, warmup_steps=0, decay="constant", batch_size=batch_size,
                             lr=peak_lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                             clip_norm=clip_norm, shuffle=False, progress=False)
trainer = Trainer(theirs, PretrainingTask(), arrays, check_config)
names = [q.name for q in theirs.trainable_params()]


def moves(delta) -> bool:  # more than rounding noise: an rms change above 1/1000 of the learning rate
    return float(np.sqrt(np.mean(delta * delta))) > 1e-3 * peak_lr


steps = {  # name: (how the gradients are clipped, weight decay on or off)
    "ours, as written above": (clip, True),
    "without weight decay": (clip, False),
    "without clipping": (lambda grads: grads, True),
    "each tensor clipped alone": (lambda grads: [clip([g])[0] for g in grads], True),
}
state = {name: ([ops.zeros_like(p) for p in params], [ops.zeros_like(p) for p in params]) for name in steps}
worst = dict.fromkeys(steps, 0.0)
our_log, still = [], set()
ours.set_train(True)
for step in bar(range(n_check), "one step at a time"):
    before = [q.asnumpy().copy() for q in theirs.trainable_params()]  # a copy: asnumpy() can share memory
    trainer.fit(until_step=step + 1)  # one step of the Trainer
    their_delta = [q.asnumpy() - b for q, b in zip(theirs.trainable_params(), before)]
    still |= {name for name, d in zip(names, their_delta) if not moves(d)}
    batch = [ms.Tensor(arrays[k][step * batch_size:(step + 1) * batch_size]) for k in pretraining.COLUMNS]
    loss, grads = grad_fn(*batch)
    our_log.append((float(loss.asnumpy()), global_norm(grads)))
    deltas = {}
    for name, (clipping, decay) in steps.items():
        deltas[name] = [d.asnumpy() for d in adamw_update(clipping(grads), *state[name], step + 1, peak_lr, decay)]
        relative = max(np.linalg.norm(a - b) / np.linalg.norm(b)
                       for a, b, tensor in zip(deltas[name], their_delta, names) if tensor not in still)
        worst[name] = max(worst[name], relative)
    for p, d in zip(params, deltas["ours, as written above"]):
        p.set_data(p + ms.Tensor(d))  # only our own step moves our model

print("tensors the Trainer did not move:", sorted(still))
assert still == {n for n in names if n.endswith("attention.key.bias")}
their_losses = [loss for _, loss in trainer.losses()]
print("ours:    loss", " ".join(f"{x:.4f}" for x, _ in our_log))
print("Trainer: loss", " ".join(f"{x:.4f}" for x in their_losses))
print("gradient norm before clipping:", " ".join(f"{n:.2f}" for _, n in our_log))
print(f"worst relative difference of Δw from the Trainer's over {n_check} steps at lr {peak_lr:g}:")
for name, value in worst.items():
    print(f"  {name:28s} {value:.1e}")
np.testing.assert_allclose([x for x, _ in our_log], their_losses, rtol=1e-5)
assert all(n > clip_norm for _, n in our_log), "every one of these gradients is clipped"
assert worst["ours, as written above"] < 2e-4, "our step and the Trainer's step are the same computation"
assert all(value > 1e-3 for name, value in worst.items() if not name.startswith("ours")), "each wrong step is caught"
assert worst["without clipping"] > 0.1 and worst["each tensor clipped alone"] > 0.1, "tens of percent"

# %% [markdown]
# Our step follows the Trainer's: the losses agree to 1e-5 and every tensor's update differs from the
# Trainer's by less than 2e-4 of its size (float32 rounding: a LayerNorm weight near 1.0 is stored to
# about 6e-8, against an update of about 1e-3). Each wrong step fails by far more than that: without weight
# decay the update is off by over 1e-3 of its size (the decay $\eta\lambda w$ is small, but it is there at
# every step), and the two wrong clippings are off by more than 10 % (in full mode by several times the
# update itself, in the tensor where they differ most). Adam divides by $\sqrt v$, so a
# gradient scaled by one constant factor at every step would change the update only through $\epsilon$;
# but the norms differ from step to step (printed above) and from tensor to tensor, and $\epsilon$ is not
# negligible next to the smallest gradients, so clipping, and clipping all tensors together, changes every
# update.

# %% [markdown]
# ## 5. Pretraining a tiny BERT
#
# A fresh BERT-tiny (the same configuration, new random weights), trained by the `Trainer` with the
# schedule of section 4: the step above, compiled into one graph (`mindspore.jit`), for 2,000 steps of
# 32 sequences of 32 tokens. Then we score it on held-out speeches (the dev split) against the **unigram
# yardstick**: always predicting the most frequent token of the training text, and, as a loss, predicting
# every masked token with its training frequency and NSP with 50/50. That is the stage every MLM passes
# through first: its loss is the dashed line in the plot.

# %%
model = BertForPreTraining(config)
trainer = Trainer(model, PretrainingTask(), arrays, trainer_config)
trainer.fit()
curve = trainer.losses()

# the unigram yardstick, counted on the training text and scored on held-out speeches
held_out_short = pretraining.make_pretraining_arrays(data.load_sotu("dev"), tokenizer, max_seq_length=seq_len,
                                                     max_predictions_per_seq=5, seed=1,
                                                     max_examples=settings.pick(256, 4096))
text = pretraining.original_ids(arrays)  # the training text, masked tokens put back
real = (arrays["attention_mask"] == 1) & ~np.isin(text, tokenizer.convert_tokens_to_ids(["[CLS]", "[SEP]"]))
frequency = np.bincount(text[real], minlength=len(tokenizer)) + 1.0  # add-one: every token has some probability
frequency /= frequency.sum()
rows, cols = np.nonzero(held_out_short["masked_lm_weights"] > 0)
targets = held_out_short["masked_lm_ids"][rows, cols]
unigram_short = float((targets == frequency.argmax()).mean())
unigram_loss = float(-np.log(frequency[targets]).mean())
scores = evaluate(model, PretrainingTask(), held_out_short, batch_size=64)

steps_run, losses_run = zip(*curve)
window = settings.pick(5, 50)
smooth = np.convolve(losses_run, np.ones(window) / window, mode="valid")
plt.figure(figsize=(6, 3.2))
plt.plot(steps_run, losses_run, alpha=0.3, label="training loss")
plt.plot(steps_run[window - 1:], smooth, label=f"mean of {window} steps")
plt.axhline(unigram_loss + np.log(2), color="gray", ls="--", label="unigram yardstick + ln 2 (held out)")
plt.xlabel("step")
plt.ylabel("MLM + NSP loss")
plt.title("tiny BERT on SOTU, 32 tokens")
plt.legend()
plt.show()
print(f"loss: first {curve[0][1]:.2f}, mean of the last {window} steps {smooth[-1]:.2f}; "
      f"unigram yardstick {unigram_loss:.2f} + ln 2 = {unigram_loss + np.log(2):.2f}")
print(f"held-out speeches ({len(targets):,} masked tokens): MLM loss {scores['mlm_loss']:.2f} "
      f"(unigram {unigram_loss:.2f}), masked-token accuracy {scores['mlm_accuracy']:.3f} "
      f"(always {tokenizer.convert_ids_to_tokens(int(frequency.argmax()))!r}: {unigram_short:.3f}), "
      f"NSP accuracy {scores['nsp_accuracy']:.3f} (chance 0.5)")
# at the start the MLM loss is about log(vocab) and NSP about log 2
assert abs(curve[0][1] - (np.log(len(tokenizer)) + np.log(2))) < 1.0
assert smooth[-1] < curve[0][1] - 0.5
if not settings.smoke():  # 20 smoke steps end far above the yardstick
    assert abs(unigram_loss - 6.60) < 0.02 and abs(unigram_short - 0.059) < 0.005
    assert smooth[0] > unigram_loss + np.log(2) + 1.0, "the first steps are far above the line"
    assert abs(smooth[-1] - 6.42) < 0.1 and smooth[-1] < unigram_loss + np.log(2) - 0.7, "then far below it"
    assert abs(scores["mlm_loss"] - 5.99) < 0.1 and abs(scores["mlm_accuracy"] - 0.167) < 0.015
    assert abs(scores["nsp_accuracy"] - 0.5) < 0.02, "NSP at chance with 32-token pairs"

# %% [markdown]
# The loss falls fast to the dashed line, the held-out loss of the unigram yardstick plus $\ln 2$: the loss
# of a model that knows how frequent each token is, and nothing else. It does not stop there: after 2,000
# steps the mean training loss is 6.42, 0.9 below the line. On the held-out speeches the MLM loss is 5.99
# against the yardstick's 6.60, and the masked-token accuracy 0.167 against 0.059 for always guessing
# "the": the model predicts from the context, not from the frequencies alone. Its NSP accuracy stays at
# chance (0.506): with 32-token pairs each segment is a dozen words or so, and the course's own BERT stayed
# at chance too through its 4,000 steps at 32 tokens (section 7).

# %% [markdown]
# ## 6. What came after: RoBERTa, ALBERT, SpanBERT, whole words and ERNIE
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
static = masking.create_masked_lm_predictions(tokens, tokenizer.vocab, np.random.default_rng(7))[1]
epochs = [masking.create_masked_lm_predictions(tokens, tokenizer.vocab, np.random.default_rng([7, e]))[1]
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
text_words = " ".join(sentences[:2000]).split()
for k in range(settings.pick(100, 1000)):
    chunk = ["[CLS]"] + text_words[7 * k : 7 * k + 400] + ["[SEP]"]  # long chunks: the 15 % budget rarely cuts a span
    _, pos, _ = masking.create_masked_lm_predictions(chunk, tokenizer.vocab, rng, span="geometric",
                                                          max_predictions_per_seq=400)
    runs = np.split(np.array(pos), np.where(np.diff(pos) != 1)[0] + 1) if pos else []
    span_lengths += [len(r) for r in runs]
dist = masking.span_length_distribution()
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
# **Whole-word masking (全词掩码)** (a later release of BERT) masks all WordPiece pieces of a word together:
# predicting `##ing` when `play` is visible is too easy. **ERNIE** (Baidu, Sun et al. 2019) goes one level
# up, with *knowledge masking*: besides single tokens it masks whole **phrases** and whole **entities**
# (names of people, places, organisations) as one unit, which matters most for Chinese, where BERT's
# pieces are single characters (BERT-wwm-Chinese, Cui et al. 2019, masks whole words from a word
# segmenter). In `create_masked_lm_predictions`, `word_ids` says which tokens form one unit. Here the
# entity "george washington" and the phrase "a lot of" are units: every draw masks all of a unit or
# none of it.

# %%
text = "george washington said that a lot of people in the new nation wanted peace and trade"
tokens = ["[CLS]"] + text.split() + ["[SEP]"]
units = {"george": 0, "washington": 0, "a": 1, "lot": 1, "of": 1}  # entity 0, phrase 1
unit_of, next_unit = [], 2
for tok in tokens:
    if tok in units:
        unit_of.append(units[tok])
    else:
        unit_of.append(next_unit)  # every other word is a unit of its own
        next_unit += 1
entity, phrase = [1, 2], [5, 6, 7]
seen = Counter()
for draw in range(200):
    out, pos, _ = masking.create_masked_lm_predictions(tokens, tokenizer.vocab, np.random.default_rng(draw),
                                                           masked_lm_prob=0.3, word_ids=unit_of)
    for name, unit in (("entity", entity), ("phrase", phrase)):
        hit = [p in pos for p in unit]
        assert all(hit) or not any(hit), f"{name} split in draw {draw}: {pos}"
        seen[name] += all(hit)
    if draw < 3:
        print(" ".join(out))
print(f"over 200 draws the entity was masked whole {seen['entity']} times, the phrase {seen['phrase']} times, "
      "never in part")
assert seen["entity"] > 0 and seen["phrase"] > 0

# %% [markdown]
# ## 7. The course's pretrained BERT, and how it learned
#
# `models/mini-bert-sotu/` holds a BERT pretrained by this project with `python -m bert_ms pretrain`
# on the SOTU training speeches. The exact commands and logs are in that folder's README. It is a CPU
# run: BERT-tiny in BERT's two phases, 4,000 steps of 32 × 32 tokens, then 4,000 steps of 32 × 128
# tokens (`pretrain --init` continues from phase 1), about 35 minutes on 2 cores, with the init scale
# of section 4 and no dropout. BERT itself trained 90 % of its steps at 128 tokens and the rest at 512.
# The Trainer logged both phases (`training_log_phase1.jsonl`, `training_log.jsonl`):

# %%
phase1, phase2 = read_log(mini_dir / "training_log_phase1.jsonl"), read_log(mini_dir / "training_log.jsonl")
offset = max(r["step"] for r in phase1)  # phase 2 continues where phase 1 stopped
train1 = [(r["step"], r["loss"]) for r in phase1 if "split" not in r]
train2 = [(offset + r["step"], r["loss"]) for r in phase2 if "split" not in r]
dev = [(r["step"], r) for r in phase1 if r.get("split") == "dev"] + \
      [(offset + r["step"], r) for r in phase2 if r.get("split") == "dev"]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
axes[0].plot(*zip(*train1), label="phase 1: 32 tokens")
axes[0].plot(*zip(*train2), label="phase 2: 128 tokens")
axes[0].axvline(offset, color="gray", ls=":")
axes[0].set(xlabel="step", ylabel="training loss (MLM + NSP)", title="mini-bert-sotu: training loss")
axes[0].legend()
axes[1].plot([s for s, _ in dev], [r["mlm_accuracy"] for _, r in dev], "o-", label="masked-token accuracy")
axes[1].plot([s for s, _ in dev], [r["nsp_accuracy"] for _, r in dev], "s-", label="NSP accuracy")
axes[1].axhline(0.5, color="gray", ls=":", label="NSP chance")
axes[1].axvline(offset, color="gray", ls=":")
axes[1].set(xlabel="step", ylabel="dev accuracy", title="held-out (dev) speeches")
axes[1].legend()
plt.tight_layout()
plt.show()
end1, end2 = dev[len(dev) // 2 - 1][1], dev[-1][1]
print(f"end of phase 1: MLM {end1['mlm_accuracy']:.3f}, NSP {end1['nsp_accuracy']:.3f}; "
      f"end of phase 2: MLM {end2['mlm_accuracy']:.3f}, NSP {end2['nsp_accuracy']:.3f}")
print(f"training loss: last of phase 1 {train1[-1][1]:.2f}, first of phase 2 {train2[0][1]:.2f}")
assert len(train1) == len(train2) == 40 and len(dev) == 8
assert abs(end1["nsp_accuracy"] - 0.5) < 0.03, "with 32-token pairs NSP stayed at chance"
assert end2["nsp_accuracy"] > 0.75 and abs(end2["mlm_accuracy"] - 0.329) < 0.001
assert train2[0][1] > train1[-1][1] + 0.5, "the loss jumps when the sequences grow to 128 tokens"
mlm_curve = [r["mlm_accuracy"] for _, r in dev]
assert all(a < b for a, b in zip(mlm_curve, mlm_curve[1:])), "the masked-token accuracy rose at every evaluation"

# %% [markdown]
# Three things to read off the curves:
# * in phase 1 the **NSP accuracy stayed at chance** (0.51): with 32 tokens per pair, each segment is a
#   few words and the model could not tell a continuation from a random sentence. It rose to 0.75 only
#   in phase 2, with 128-token pairs;
# * the training loss **jumped** when phase 2 started: positions 32-127 had never been used (their rows
#   of the position table had received no gradient, only weight decay), and every sequence was four times
#   longer;
# * the masked-token accuracy kept rising through both phases (0.26 → 0.33).
#
# The project set two targets for this model on held-out speeches: masked-token accuracy 0.3 (reached,
# 0.327 on the test split) and NSP accuracy 0.75 (reached, narrowly: 0.751). We measure it on speeches it
# never saw, against two yardsticks that use no neural network:
# * always predicting the most frequent token (the *unigram* stage every MLM passes through);
# * predicting the token seen most often between the same two *neighbours* in the training text.

# %%
mini = load_pretrained(mini_dir, head="pretraining")
held_out = pretraining.make_pretraining_arrays(data.load_sotu("test"), tokenizer, max_seq_length=128, seed=1,
                                               max_examples=settings.pick(256, None))
metrics = evaluate(mini, PretrainingTask(), held_out, batch_size=32)
print({k: round(float(v), 3) for k, v in metrics.items()})

# two yardsticks without a neural network, counted on the training speeches
train_arrays = pretraining.make_pretraining_arrays(all_train[: settings.pick(30, None)], tokenizer,
                                                   max_seq_length=128, seed=2)
text = pretraining.original_ids(train_arrays)  # the training text, masked tokens put back
real = (train_arrays["attention_mask"] == 1) & ~np.isin(text, tokenizer.convert_tokens_to_ids(["[CLS]", "[SEP]"]))
unigram_id = int(np.bincount(text[real]).argmax())  # the most frequent real token ([PAD], [CLS], [SEP] excluded)
rows, cols = np.nonzero(held_out["masked_lm_weights"] > 0)
unigram_acc = float((held_out["masked_lm_ids"][rows, cols] == unigram_id).mean())
base = pretraining.masked_token_baselines(train_arrays, held_out)
print(f"unigram baseline: always {tokenizer.convert_ids_to_tokens(unigram_id)!r} -> accuracy {unigram_acc:.3f}")
print(f"neighbours baseline: the most frequent token between the same two neighbours -> {base['neighbours']:.3f}")
print(f"the model: masked-token accuracy {metrics['mlm_accuracy']:.3f} (target 0.3), "
      f"NSP accuracy {metrics['nsp_accuracy']:.3f} (target 0.75, chance 0.5)")
assert tokenizer.convert_ids_to_tokens(unigram_id) == "the" and 0.04 < unigram_acc < 0.09
assert metrics["mlm_accuracy"] > base["neighbours"] > unigram_acc, "the model must beat counting the two neighbours"
assert metrics["mlm_accuracy"] > settings.pick(0.27, 0.3), "the full test split gives 0.327"
assert metrics["nsp_accuracy"] > settings.pick(0.65, 0.74), "NSP must be well above chance (0.5); the full test split gives 0.751"

guesses = {}
for text in ["the congress of the united [MASK] must act.", "we will [MASK] taxes for working families."]:
    guesses[text] = [t for t, _ in fill_mask(mini, tokenizer, text, top_k=5, seq_len=128)[0]]
    print(f"{text:55s} -> {guesses[text]}")
assert guesses["the congress of the united [MASK] must act."][0] == "states"
assert {"cut", "reduce", "increase", "raise", "lower"} & set(guesses["we will [MASK] taxes for working families."])

# where does each head look? average attention at offsets -2..+2 from every position
cols = [ms.Tensor(held_out[c][:16]) for c in ("input_ids", "token_type_ids", "attention_mask")]
maps = mini.bert(*cols, output_attentions=True).attentions  # one [B, heads, T, T] map per layer
offsets = (-2, -1, 0, 1, 2)
at_offset = {}  # (layer, head) -> {offset: mean attention}
for layer, a in enumerate(maps):
    a = a.asnumpy()
    for head in range(a.shape[1]):
        at_offset[layer, head] = {k: np.mean([np.diagonal(a[b, head], k).mean() for b in range(len(a))])
                                  for k in offsets}
        print(f"layer {layer} head {head}: " + "  ".join(f"{k:+d}: {v:.3f}" for k, v in at_offset[layer, head].items()))
layer0 = [row for (layer, _), row in at_offset.items() if layer == 0]
assert max(r[-1] for r in layer0) > 0.7 and max(r[1] for r in layer0) > 0.7, \
    "layer 0 should have a previous-token head and a next-token head"

# how far does each head look? over the real tokens of each sequence: the entropy of an attention row as a
# share of uniform attention's (log n), and the weight on tokens more than 10 positions away
n_real = held_out["attention_mask"][:16].sum(1)
spread = {}  # (layer, head) -> (entropy share, weight far away)
for layer, a in enumerate(maps):
    a = a.asnumpy()
    for head in range(a.shape[1]):
        entropy, far = [], []
        for b, n in enumerate(n_real):
            p = a[b, head, :n, :n]
            entropy.append(np.mean(-(p * np.log(p + 1e-12)).sum(-1)) / np.log(n))
            distance = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :])
            far.append(np.mean((p * (distance > 10)).sum(-1)))
        spread[layer, head] = (float(np.mean(entropy)), float(np.mean(far)))
        print(f"layer {layer} head {head}: entropy {spread[layer, head][0]:.2f} of uniform attention's, "
              f"weight on tokens more than 10 positions away {spread[layer, head][1]:.2f}")
assert all(spread[0, h][0] < 0.2 and spread[0, h][1] < 0.15 for h in range(2)), "layer 0 looks at the neighbours"
assert all(abs(spread[1, h][0] - 0.88) < 0.01 and 0.6 < spread[1, h][1] < 0.72 for h in range(2)), "layer 1 looks far"
assert all(max(at_offset[1, h].values()) < 0.03 for h in range(2)), "layer 1: little weight on any near offset"

# %% [markdown]
# The model beats both yardsticks, and its fill-mask answers fit the slot. How does it use word order?
# The attention printout above shows it: in layer 0, one head puts more than 0.7 of its weight on the
# **previous** token and the other more than 0.7 on the **next** one, so every position sees its two neighbours
# (uniform attention would give each position ~1/120). Layer 1 does the opposite: at offsets −2..+2 its
# heads put only ~0.016 each, because they spread their weight over the whole sequence. The last printout
# measures it over the real tokens: in layer 1 the entropy of an attention row is 0.88 of uniform
# attention's and about two thirds of the weight goes to tokens more than 10 positions away; in layer 0 the
# entropy is below 0.2 of uniform's and about a tenth of the weight goes that far. So a position's layer-1
# output is a summary of the whole pair, both segments, which is where topic and era could be read from;
# what NSP actually takes from it is not measured here.
#
# The previous version of this model, trained at BERT's init std 0.02 for 10,000 steps, never grew these
# heads: its attention stayed uniform, it was a bag of words, and it stopped at 0.157.
#
# ## 8. BERT's known weaknesses (BERT 的局限)
#
# * **Independent predictions.** The MLM loss is a sum of one term per masked token, each predicted from
#   the corrupted input alone: two masks in "the united [MASK] [MASK]" are guessed independently, as if
#   $P(x_i, x_j \mid \tilde x) = P(x_i \mid \tilde x)\,P(x_j \mid \tilde x)$. XLNet (Yang et al. 2019)
#   answered this with permutation language modelling.
# * **Pretrain/fine-tune mismatch.** About 12 % of pretraining tokens are `[MASK]` (section 1), a token
#   that never occurs in fine-tuning; the 80/10/10 rule only softens it. ELECTRA (Clark et al. 2020)
#   removes `[MASK]` and learns from every token instead of 15 %.
# * **512 tokens.** The learned position table ends at 512 (lesson 06), and attention's cost grows with
#   the square of the length: long documents must be cut or read in windows.
# * NSP turned out to be of little use (RoBERTa), and is easy to solve by topic alone (ALBERT).

# %% [markdown]
# ### More to explore (these take minutes in full mode; no check)
# 1. Pretrain the tiny model with `sop=True` instead of NSP (section 6's arrays). Is SOP harder? Why?
# 2. Set `whole_word=True` in `make_pretraining_arrays`: all pieces of a word are masked together. How does
#    the MLM accuracy change, and why is the task harder?
# 3. Add `bias_correction=False` to `trainer_config` (BERT's original optimizer) and train again (about as
#    long as section 5). Compare the loss curves, then try lr 5e-4 without the correction.
# 4. Build the model with `initializer_range=0.02` (BERT's value) and train it again. Then print its heads
#    as in section 7 (`model.bert(ids, tt, am, output_attentions=True).attentions`). Does a previous-token
#    head appear? Try 0.1 too.
# 5. Run `python -m bert_ms pretrain --config mini --corpus sotu --steps 200 --out runs/mine`, kill it with
#    Ctrl-C halfway and run it again with `--resume`. Compare its log with an uninterrupted run.
