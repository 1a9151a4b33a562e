# ---
# jupyter:
#   bert_ms:
#     images: 5
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
# # 10 · Pretraining at scale (大规模预训练): data parallelism, accumulation, clipping and mixed precision
#
# BERT-Base was pretrained for 1,000,000 steps on batches of 256 sequences (Devlin et al. 2019, appendix
# A.2) on 16 TPU chips for four days. One CPU would need years (section 6 computes how many). Four ideas make
# such runs possible, and each is meant to leave the *mathematics* of the training step unchanged (section 1
# shows the one place where data parallelism does not quite, and section 5 what fp16 rounds away):
#
# * **data parallelism** (数据并行): $W$ workers (cards, 卡) each hold the whole model, each computes the
#   gradient of its own shard of the global batch, and an **all-reduce** (全归约) averages the gradients, so
#   every worker makes the same update as one process on the whole batch;
# * **gradient accumulation** (梯度累积): the same idea on one card, over time instead of over cards;
# * **clipping by global norm** (按全局范数裁剪), done once, *after* the all-reduce;
# * **mixed precision** (混合精度) with **loss scaling** (损失缩放): fp16 halves the memory and on GPU/Ascend
#   runs several times faster, but small gradients underflow to zero unless the loss is scaled up first.
#
# For each we write the idea out in a few lines, prove it equal to what the package does on real BERT
# gradients, and then use the package: a real `msrun` job with two CPU worker processes on the course
# mini-BERT (lesson 07's `models/mini-bert-sotu`, dropout 0), whose two workers end with identical weights
# that equal one process on the same global batch.
#
# Course: step_into_llm, Season 1, lecture 2 "BERT", its pretraining notebook (`2.BERT/pretrain/`):
# gradients averaged with `DistributedGradReducer`, `clip_by_global_norm`, loss scaling for fp16, data from a
# MindRecord file, launched with `mpirun -n 2`. Here the launcher is MindSpore's own `msrun` (the
# recommended one since MindSpore 2.3) and the data are NumPy arrays made in the notebook.
#
# Pictures: the all-reduce mean against the global batch's gradient, the loss of two workers and of one
# process, BERT's gradients against fp16's range, the dynamic loss scale of an fp16 run, and the hours
# BERT-Base takes on 8 to 1,024 cards (5 figures).

# %%
import os

os.environ.setdefault("GLOG_v", "3")  # MindSpore's log: errors only (each new Trainer would warn "compiled again")
from bert_ms import device, settings

dev = device.setup(seed=0)

# %%
from collections import Counter

import matplotlib.pyplot as plt
import mindspore as ms
import ml_dtypes
import numpy as np
from mindspore import ops
from mindspore.nn.utils import no_init_parameters

from bert_ms import data
from bert_ms.bert import pretraining
from bert_ms.bert.config import BertConfig
from bert_ms.bert.model import BertForPreTraining, count_parameters, load_pretrained
from bert_ms.bert.tokenization import BertTokenizer
from bert_ms.exercises import check
from bert_ms.runtime import distributed
from bert_ms.runtime.settings import REPO_ROOT
from bert_ms.train import data_parallel
from bert_ms.train.tasks import PretrainingTask
from bert_ms.train.trainer import Trainer, TrainerConfig

MODEL = REPO_ROOT / "models" / "mini-bert-sotu"  # lesson 07's BERT-tiny: L2, H128, A2, dropout 0
WORK = settings.cache_dir() / "lesson10"
tokenizer = BertTokenizer(MODEL / "vocab.txt")
task = PretrainingTask()
SEQ_LEN, BATCH, WORKERS = 64, 16, 2

# %% [markdown]
# ## 1. Data parallelism, written out
#
# The data: pretraining pairs (MLM + NSP, lesson 07's pipeline) cut from State of the Union speeches, 64
# tokens each. A **global batch** (全局批量) of $B = 16$ pairs is split between $W = 2$ workers, 8 pairs each.
#
# One detail decides whether "the mean over workers" really equals "one process on the whole batch". BERT's
# MLM loss is the mean over the *masked tokens* of a batch, and lesson 07's masking picks about 15 % of each
# pair's tokens, so pairs hold different numbers of masked tokens. Count them:

# %%
documents = data.load_sotu("train")[:40]  # 1.5 s; the same pairs in smoke and full mode
arrays = pretraining.make_pretraining_arrays(documents, tokenizer, max_seq_length=SEQ_LEN, seed=3)
masked = arrays["masked_lm_weights"].sum(1).astype(int)  # masked tokens per pair
usual = Counter(masked).most_common(1)[0][0]
print(f"{len(masked)} pairs; masked tokens per pair: {dict(sorted(Counter(masked).items()))}")
print(f"{(masked == usual).mean():.0%} of the pairs have exactly {usual} masked tokens")
assert usual == 9 and (masked == usual).mean() > 0.5  # 15 % of the 61 maskable tokens, rounded at random

# %% [markdown]
# Each worker's shard is a contiguous block of rows: worker $r$ of $W$ keeps rows $[rB/W, (r+1)B/W)$ of
# *every* array (inputs, masks and labels alike). Every worker reads the same global batch (the same seed,
# the same order) and keeps its own block.
#
# **Exercise 10.1.** Write the shard: `my_shard(batch, rank, world_size)` returns worker `rank`'s rows of
# every array of `batch`. The check tries several batch sizes and numbers of workers.

# %%
# Exercise 10.1 · a worker's shard of the global batch
def my_shard(batch, rank, world_size):
    raise NotImplementedError  # your code here


check.shard(my_shard)

# %% [markdown]
# The lesson's version, the same as the package's `distributed.shard_rows`, which the Trainer calls:

# %%
def shard(batch, rank, world_size):
    per = len(next(iter(batch.values()))) // world_size  # B / W rows each
    return {key: rows[rank * per:(rank + 1) * per] for key, rows in batch.items()}


equal = {k: v[masked == usual] for k, v in arrays.items()}  # pairs with exactly `usual` masked tokens
batch = {k: v[:BATCH] for k, v in equal.items()}
for rank in range(WORKERS):
    ours, theirs = shard(batch, rank, WORKERS), distributed.shard_rows(batch, rank, WORKERS)
    assert all(np.array_equal(ours[k], theirs[k]) for k in batch)
print("the shards of ranks 0 and 1 equal distributed.shard_rows'")

# %% [markdown]
# Now the gradients. Each worker computes the gradient of *its shard's* mean loss. The **all-reduce** sums a
# tensor over the workers and hands every worker the result; divided by $W$ it is the mean:
#
# $$\bar g = \frac{1}{W} \sum_{r=0}^{W-1} g_r, \qquad g_r = \nabla_\theta \, L(\text{shard}_r).$$
#
# If the loss is a mean over examples and every shard has $B/W$ of them, $\bar g$ is exactly the gradient of
# the global batch's mean loss: the mean of equal-sized means is the mean of all.
#
# **Exercise 10.2.** Write the all-reduce mean: `my_allreduce_mean(worker_grads)` gets `worker_grads[r][i]`,
# worker `r`'s gradient of parameter `i` (NumPy arrays), and returns one averaged array per parameter.

# %%
# Exercise 10.2 · the all-reduce mean of the workers' gradients
def my_allreduce_mean(worker_grads):
    raise NotImplementedError  # your code here


check.allreduce_mean(my_allreduce_mean)

# %% [markdown]
# The lesson's version, and the proof on real BERT gradients: the mini-BERT's gradient on the whole batch of
# 16 against the mean of the two workers' gradients on 8 pairs each. First on a batch where every pair has
# the same number of masked tokens, then on one where the two shards hold different numbers.

# %%
def allreduce_mean(worker_grads):
    return [np.mean(np.stack(grads), axis=0) for grads in zip(*worker_grads)]  # parameter by parameter


model = load_pretrained(MODEL, head="pretraining")
params = model.trainable_params()
loss_and_grads = ms.value_and_grad(lambda *inputs: task.loss(model, *inputs), None, params)


def gradients(batch):
    """The loss and the float64 gradients of every parameter for one batch (what one worker computes)."""
    loss, grads = loss_and_grads(*[ms.Tensor(batch[k]) for k in task.input_keys])
    return float(loss), [g.asnumpy().astype(np.float64) for g in grads]


def relative_difference(a, b):
    return np.sqrt(sum(((x - y) ** 2).sum() for x, y in zip(a, b)) / sum((y ** 2).sum() for y in b))


_, global_grad = gradients(batch)
worker_grads = [gradients(shard(batch, r, WORKERS))[1] for r in range(WORKERS)]
mean_grad = allreduce_mean(worker_grads)
diff_equal = relative_difference(mean_grad, global_grad)

# a global batch whose two shards hold different numbers of masked tokens
rows = np.concatenate([np.nonzero(masked == usual)[0][:BATCH // 2], np.nonzero(masked < usual)[0][:BATCH // 2]])
uneven = {k: v[rows] for k, v in arrays.items()}
shard_counts = [int(shard(uneven, r, WORKERS)["masked_lm_weights"].sum()) for r in range(WORKERS)]
diff_uneven = relative_difference(allreduce_mean([gradients(shard(uneven, r, WORKERS))[1] for r in range(WORKERS)]),
                                  gradients(uneven)[1])
print(f"equal masked tokens per shard ({usual * BATCH // 2} and {usual * BATCH // 2}): relative difference "
      f"{diff_equal:.1e}")
print(f"unequal ({shard_counts[0]} and {shard_counts[1]}): relative difference {diff_uneven:.1e}")
assert diff_equal < 1e-5 and shard_counts == [72, 54] and 0.085 < diff_uneven < 0.095

# %% [markdown]
# With equal counts the all-reduce mean *is* the global gradient (to float32 rounding). With unequal counts
# (this batch is uneven on purpose: 72 masked tokens on one worker, 54 on the other) it is not: the mean of
# the two shards' means gives each masked token of the smaller shard more weight, and the gradient differs by
# 9 % of its size. That is a different weighting of the tokens, not a bug of `bert_ms`: Google's BERT divides
# each TPU core's MLM loss by that core's own number of masked tokens too, so a data-parallel BERT optimises
# the mean of the shards' means. A *proof* of equality must avoid it, so from here on the data are the pairs
# with exactly 9 masked tokens each (15 % of a pair's 61 maskable tokens is 9.15: most pairs get 9, some 10).
#
# The picture: every gradient entry of the global batch against the all-reduce mean (on the diagonal) and
# against the all-reduce **sum**, a common bug (twice as large with two workers).

# %%
flat = lambda grads: np.concatenate([g.ravel() for g in grads])  # noqa: E731
g_global, g_mean = flat(global_grad), flat(mean_grad)
g_sum = flat([sum(grads) for grads in zip(*worker_grads)])
pick = np.random.default_rng(0).choice(len(g_global), 4000, replace=False)
fig, ax = plt.subplots(figsize=(5.5, 4.5))
ax.scatter(g_global[pick], g_sum[pick], s=4, color="tab:red", label="sum over workers")
ax.scatter(g_global[pick], g_mean[pick], s=4, color="tab:blue", label="mean over workers (all-reduce / W)")
lim = np.abs(g_global[pick]).max()
ax.plot([-lim, lim], [-lim, lim], color="gray", lw=0.8)
ax.set_xlabel("gradient on the global batch (one process)")
ax.set_ylabel("combined gradient of 2 workers")
ax.set_title("4,000 gradient entries of the mini-BERT")
ax.legend()
plt.show()
assert relative_difference([g_sum], [WORKERS * g_global]) < 1e-5

# %% [markdown]
# **What breaks it.** Two mistakes a data-parallel loop can make:
#
# * a **sum** instead of a mean (the picture): every gradient is $W$ times too large. With plain SGD that is a
#   learning rate $W$ times too high; Adam is nearly blind to a constant factor on the gradient, so with Adam
#   it is nearly hidden, which is why it goes unnoticed until the worker count changes;
# * a **per-worker shuffle**: each worker shuffles the data with its own seed and takes its block. The workers
#   then no longer split one global batch: over an epoch some pairs are seen by two workers and some by none.

# %%
n_rows = len(equal["input_ids"]) // BATCH * BATCH


def times_seen(seed_of_rank):
    """How often each pair is seen in one epoch when worker r shuffles with seed_of_rank(r)."""
    seen = np.zeros(n_rows, int)
    for rank in range(WORKERS):
        order = np.random.default_rng(seed_of_rank(rank)).permutation(n_rows)
        for step in range(n_rows // BATCH):
            seen[shard({"row": order[step * BATCH:(step + 1) * BATCH]}, rank, WORKERS)["row"]] += 1
    return seen


seen = times_seen(lambda rank: rank)  # the mistake: each worker its own seed
never, twice = (seen == 0).mean(), (seen == 2).mean()
print(f"one epoch of {n_rows} pairs with a per-worker shuffle: {never:.0%} never seen, {twice:.0%} seen twice")
print(f"with one shared seed: every pair seen exactly once: {bool((times_seen(lambda rank: 0) == 1).all())}")
assert 0.15 < never < 0.35 and abs(never - twice) < 1e-9 and (times_seen(lambda rank: 0) == 1).all()

# %% [markdown]
# About a quarter of the pairs are never seen and a quarter are seen twice: each worker sees a random half
# of the data. With one shared seed (what the Trainer does) every pair is seen exactly once per epoch.
#
# ## 2. A real run: `msrun` with two CPU workers
#
# `msrun` (MindSpore's launcher) starts a scheduler process and $W$ worker processes; each worker runs the same
# script, `mindspore.communication.init()` connects them (over the loopback network on one CPU machine; NCCL
# on GPUs, HCCL on Ascend), and `bert_ms.runtime.distributed.init()` switches on data-parallel mode. The
# Trainer then cuts each global batch with `shard_rows` and averages the gradients with
# `nn.DistributedGradReducer`, an all-reduce mean, before clipping and the AdamW update.
#
# The job: the mini-BERT, the pairs with equal masked counts, global batch 16, AdamW at 2e-4. It runs twice:
# once as one plain process, once under `msrun` with two workers. Each process writes its final weights.

# %%
WORK.mkdir(parents=True, exist_ok=True)
np.savez(WORK / "pairs.npz", **{k: v[:n_rows] for k, v in equal.items()})
STEPS = settings.pick(3, 30)
job = {"model": str(MODEL), "arrays": str(WORK / "pairs.npz"),
       "config": {"total_steps": STEPS, "batch_size": BATCH, "lr": 2e-4, "seed": 0}}
one = data_parallel.launch(job, WORK / "one", workers=1)
print("\n".join(dict.fromkeys(line for line in one.log.splitlines() if line.startswith("[rank"))))
two, skipped = None, None
if settings.smoke():
    skipped = ("smoke mode does not launch msrun (joining the job alone takes 10-20 s on 2 cores); "
               "tests/test_distributed.py runs this same job and checks the same equalities")
else:
    try:
        two = data_parallel.launch(job, WORK / "two", workers=WORKERS)
        print("ran:", " ".join(two.command[:6]), "...")
        print("\n".join(dict.fromkeys(line for line in two.log.splitlines() if line.startswith("[rank"))))
    except data_parallel.LaunchError as err:  # e.g. a sandbox that forbids the loopback network
        skipped = f"msrun could not run here: {err}"
if skipped:
    print(f"The two-worker run is skipped, and with it the comparisons below: {skipped}")

# %% [markdown]
# The proof: the two workers hold **identical** weights (every bit), and they equal the single process's
# weights up to float32 rounding, although each worker saw only half of every batch.

# %%
if two is not None:
    w0, w1, single = two.weights(0), two.weights(1), one.weights(0)
    start = {p.name: p.asnumpy() for p in load_pretrained(MODEL, head="pretraining").trainable_params()}
    between_workers = max(np.abs(w0[k] - w1[k]).max() for k in w0)
    to_single = max(np.abs(w0[k] - single[k]).max() for k in w0)
    moved = max(np.abs(single[k] - start[k]).max() for k in w0)
    print(f"after {STEPS} steps: rank 0 vs rank 1: largest difference {between_workers:g}")
    print(f"2 workers vs 1 process: largest difference {to_single:.1e}; the weights moved by up to {moved:.1e}")
    assert between_workers == 0 and to_single < 1e-5 and moved > 100 * to_single
    for rank in range(WORKERS):  # each worker logs the mean loss over the workers: the single process's loss
        assert np.allclose(two.record(rank)["losses"], one.record(0)["losses"], atol=1e-5)

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(range(1, STEPS + 1), one.record(0)["losses"], lw=4, alpha=0.4, color="gray", label="1 process, batch 16")
for rank, style in ((0, "-"), (1, "--")) if two is not None else ():
    ax.plot(range(1, STEPS + 1), two.record(rank)["losses"], style, label=f"rank {rank} of 2 (mean over workers)")
ax.set_xlabel("step")
ax.set_ylabel("MLM + NSP loss")
ax.set_title("the same training run, on 1 and on 2 workers")
ax.legend()
plt.show()

# %% [markdown]
# The logged loss of each worker is the mean over the workers (an all-reduce of the loss), so both ranks log
# the single process's curve.
#
# **Speed on this machine.** Each worker computes its $1/W$ of the batch, so on $W$ real cards a step takes about
# $1/W$ of the time plus the all-reduce. Here the two workers share the same CPU cores (and talk through the
# loopback network), so this is a demonstration of the mechanism, not a speed-up:

# %%
t_one = one.record(0)["step_s"]
if two is not None:
    t_two = two.record(0)["step_s"]
    print(f"1 process: {t_one * 1000:.0f} ms per step ({BATCH * SEQ_LEN / t_one:,.0f} tokens/s); "
          f"2 workers on {os.cpu_count()} cores: {t_two * 1000:.0f} ms per step ({BATCH * SEQ_LEN / t_two:,.0f} tokens/s), "
          f"{t_two / t_one:.1f}x the time")
    print(f"the 2-worker launch took {two.seconds:.0f} s in all (msrun, start-up, compiling), the 1-process one "
          f"{one.seconds:.0f} s")

# %% [markdown]
# ## 3. Gradient accumulation: the same idea on one card
#
# When a batch of $B$ does not fit in one card's memory, run $k$ micro-batches (微批次) one after another, add
# up their gradients, and update once. Like the workers of section 1, the micro-batches each give the
# gradient of their own mean loss. When they are of equal size, the mean of those gradients is the gradient
# of the whole batch. When they are not (the last micro-batch of an epoch, or a batch cut to fit a memory
# budget), each must count by its number of examples:
#
# $$g = \frac{\sum_m n_m \, g_m}{\sum_m n_m}.$$
#
# **Exercise 10.3.** Write `my_accumulate(micro_grads, sizes)`: `micro_grads[m][i]` is micro-batch `m`'s
# gradient of parameter `i` (of its mean loss), `sizes[m]` its number of examples; return the gradient of
# the mean loss over all the examples.

# %%
# Exercise 10.3 · accumulating micro-batches into one batch
def my_accumulate(micro_grads, sizes):
    raise NotImplementedError  # your code here


check.accumulate(my_accumulate)

# %% [markdown]
# The lesson's version, on real gradients: the batch of 16 as two micro-batches of 6 and 10 pairs (each pair
# with 9 masked tokens, so examples and masked tokens count alike).

# %%
def accumulate(micro_grads, sizes):
    total = sum(sizes)
    return [sum(n * g for n, g in zip(sizes, grads)) / total for grads in zip(*micro_grads)]


parts = [{k: v[:6] for k, v in batch.items()}, {k: v[6:] for k, v in batch.items()}]
micro_grads = [gradients(part)[1] for part in parts]
weighted = relative_difference(accumulate(micro_grads, [6, 10]), global_grad)
unweighted = relative_difference(allreduce_mean(micro_grads), global_grad)
print(f"micro-batches of 6 and 10 pairs: weighted by size {weighted:.1e}, a plain mean {unweighted:.1e}")
assert weighted < 1e-5 and unweighted > 1e-2

# %% [markdown]
# The Trainer accumulates with `TrainerConfig(grad_accum_steps=k)`: its micro-batches all have `batch_size`
# examples (an incomplete last batch is dropped), so it divides each micro-batch's loss by $k$. Proof: 2
# micro-batches of 8 give the same weights as one batch of 16 after the same number of steps.

# %%
ACC_STEPS = settings.pick(2, 10)
pairs = {k: v[:n_rows] for k, v in equal.items()}
trained = {}
for name, micro, accum in (("one batch of 16", 16, 1), ("2 micro-batches of 8", 8, 2)):
    net = load_pretrained(MODEL, head="pretraining")
    config = TrainerConfig(total_steps=ACC_STEPS, batch_size=micro, grad_accum_steps=accum, lr=2e-4, progress=False)
    Trainer(net, task, pairs, config).fit()
    trained[name] = {p.name: p.asnumpy() for p in net.trainable_params()}
a, b = trained.values()
accum_diff = max(np.abs(a[k] - b[k]).max() for k in a)
print(f"after {ACC_STEPS} steps: largest weight difference {accum_diff:.1e}")
assert accum_diff < 1e-5

# %% [markdown]
# ## 4. Clipping by global norm, after the all-reduce
#
# BERT clips the gradient to global norm 1.0 before each update (lesson 07): if $\|g\| = \sqrt{\sum_i
# \|g_i\|^2}$ over all parameters exceeds 1, every gradient is multiplied by $1/\|g\|$. Written out, and
# compared with MindSpore's `ops.clip_by_global_norm` (what the course's notebook calls):

# %%
def clip_by_global_norm(grads, clip_norm=1.0):
    norm = np.sqrt(sum((g ** 2).sum() for g in grads))
    return [g * (clip_norm / max(norm, clip_norm)) for g in grads], norm


clipped, norm = clip_by_global_norm(global_grad)
theirs = ops.clip_by_global_norm(tuple(ms.Tensor(g.astype(np.float32)) for g in global_grad), 1.0)
assert max(np.abs(c - t.asnumpy()).max() for c, t in zip(clipped, theirs)) < 1e-6
print(f"global norm of the batch's gradient: {norm:.2f}, so it is scaled by {1 / norm:.3f}; "
      "equal to ops.clip_by_global_norm")

# %% [markdown]
# In data parallelism the norm must be that of the *averaged* gradient: clip after the all-reduce, once. If
# each worker clipped its own gradient first, the result would differ whenever a worker's norm exceeds the
# threshold:

# %%
after, _ = clip_by_global_norm(allreduce_mean(worker_grads))
before = allreduce_mean([clip_by_global_norm(g)[0] for g in worker_grads])
worker_norms = [clip_by_global_norm(g)[1] for g in worker_grads]
print(f"workers' norms {worker_norms[0]:.2f} and {worker_norms[1]:.2f}")
print(f"clip after the all-reduce: norm {np.sqrt(sum((g ** 2).sum() for g in after)):.3f}, equal to the global "
      f"batch's clipped gradient (difference {relative_difference(after, clipped):.1e})")
print(f"clip on each worker, then average: norm {np.sqrt(sum((g ** 2).sum() for g in before)):.3f}, "
      f"{relative_difference(before, clipped):.1e} away")
assert relative_difference(after, clipped) < 1e-5 and relative_difference(before, clipped) > 1e-3

# %% [markdown]
# The Trainer's step does reduce → unscale → norm → clip → update, in that order (`TrainStep` in
# `bert_ms/train/trainer.py`). The `msrun` run of section 2 shows it: the gradient norm was above 1 at every
# step, so every step was clipped, and the two workers still matched the single process.

# %%
if two is not None:
    norms = two.record(0)["grad_norms"]
    print(f"gradient norms of the {STEPS} steps: {min(norms):.2f} to {max(norms):.2f} (clip threshold 1.0)")
    assert min(norms) > 1.0

# %% [markdown]
# ## 5. Mixed precision and loss scaling
#
# fp16 (half precision, 半精度) stores a number in 16 bits: 5 bits of exponent and 10 of mantissa. It halves
# the memory of activations and, on GPU tensor cores and Ascend's cube units, runs matrix products several
# times faster than fp32. Its range is narrow:

# %%
f16 = np.finfo(np.float16)
print(f"fp16: largest {f16.max:g}, smallest normal {f16.tiny:.2e}, smallest subnormal "
      f"{f16.smallest_subnormal:.2e}")
with np.errstate(over="ignore"):  # 70000 overflows on purpose
    big = np.float16(70000.0)
print("1e-8 in fp16:", np.float16(1e-8), "| 70000 in fp16:", big, "| 1 + 1e-4 in fp16:", np.float16(1 + 1e-4))
assert np.float16(1e-8) == 0 and np.isinf(big) and np.float16(1 + 1e-4) == 1

# %% [markdown]
# Gradients are small. Here is every gradient entry of the mini-BERT on the batch of section 1 (computed in
# fp32), against fp16's limits: entries left of the red line become **zero** in fp16 (underflow, 下溢),
# entries between the lines keep only a few significant bits. Multiplying the loss by $S = 2^{16}$ multiplies
# every gradient by $S$ (the chain rule is linear) and moves the whole histogram to the right; dividing by $S$
# afterwards, in fp32, gives the gradients back.

# %%
magnitudes = np.abs(g_global[g_global != 0])
flushed, subnormal = (magnitudes < f16.smallest_subnormal).mean(), (magnitudes < f16.tiny).mean()
print(f"{len(magnitudes):,} non-zero gradient entries: {flushed:.1%} would be zero in fp16, {subnormal:.0%} "
      "below fp16's smallest normal number")
SCALE = 2.0 ** 16
too_big = magnitudes * SCALE > f16.max
print(f"scaled by 2^16: {(magnitudes * SCALE < f16.smallest_subnormal).mean():.2%} zero, {too_big.sum()} entries "
      f"above fp16's largest number ({f16.max:g}), the largest {magnitudes.max() * SCALE:.3g}")
fig, ax = plt.subplots(figsize=(7, 3.5))
bins = np.linspace(-14, 6, 120)
ax.hist(np.log10(magnitudes), bins=bins, alpha=0.7, label="gradients")
ax.hist(np.log10(magnitudes * SCALE), bins=bins, alpha=0.5, label="gradients x 2^16")
ax.axvline(np.log10(f16.smallest_subnormal), color="red", label="fp16 smallest subnormal")
ax.axvline(np.log10(f16.tiny), color="orange", label="fp16 smallest normal")
ax.axvline(np.log10(f16.max), color="black", label="fp16 largest")
ax.set_xlabel("log10 |gradient|")
ax.set_ylabel("entries")
ax.legend(fontsize=8)
plt.show()
assert 0.01 < flushed < 0.03 and (magnitudes * SCALE < f16.smallest_subnormal).mean() < flushed / 10
over = {p.name: int((np.abs(g) * SCALE > f16.max).sum()) for p, g in zip(params, global_grad)}
over = {name: n for name, n in over.items() if n}
print("entries that 2^16 would push above fp16's largest number:", over)
assert list(over) == ["bert.embeddings.token_type_embeddings.weight"]

# %% [markdown]
# At $2^{16}$ almost nothing underflows, but a handful of entries would overflow. They are the gradients of
# the token-type embeddings (each of its two rows adds up a contribution from every token of the batch).
# Mixed precision keeps the embeddings, LayerNorm and the loss in fp32, so in the real run below these sums
# never pass through fp16; the matrix products' gradients do.
#
# That was NumPy rounding fp32 numbers. The real thing: the same model built to compute in fp16
# (`dtype="fp16"`; its parameters stay fp32 "master weights", 主权重, and are cast to fp16 for each layer), so
# the whole backward pass runs in fp16 on this CPU. We count the gradient entries that come out exactly zero
# although they are not zero in fp32, with the loss unscaled and scaled by $2^8$ and $2^{16}$ (and divided back
# in fp32):

# %%
model16 = load_pretrained(MODEL, head="pretraining", dtype="fp16")
params16 = model16.trainable_params()
inputs = [ms.Tensor(batch[k]) for k in task.input_keys]
nonzero32 = [g != 0 for g in global_grad]
lost = {}
for scale in (1.0, 2.0 ** 8, 2.0 ** 16):
    grads16 = ms.grad(lambda *x, s=scale: task.loss(model16, *x) * s, None, params16)(*inputs)
    grads16 = [g.asnumpy().astype(np.float64) / scale for g in grads16]
    lost[scale] = int(sum(((g == 0) & nz).sum() for g, nz in zip(grads16, nonzero32)))
    print(f"loss scale {scale:>7g}: {lost[scale]:>7,} gradient entries flushed to zero; relative error against fp32 "
          f"{relative_difference(grads16, global_grad):.1e}")
n_entries = sum(g.size for g in global_grad)
print(f"unscaled, fp16 loses {lost[1.0] / n_entries:.1%} of the {n_entries:,} gradient entries")
assert 0.015 < lost[1.0] / n_entries < 0.025 and lost[2.0 ** 16] < lost[1.0] / 100

# %% [markdown]
# **Static or dynamic scaling.** A fixed scale (static loss scaling) must be chosen by hand: too small and
# gradients underflow, too large and some overflow to `inf`, and an update with `inf` would destroy every
# weight. **Dynamic loss scaling** (动态损失缩放; Micikevicius et al. 2018, "Mixed Precision Training") finds the
# largest safe scale by itself:
#
# * if any gradient is `inf` or `NaN`: **skip** the update, divide the scale by a factor (2), never below 1;
# * after `window` clean steps in a row: multiply the scale by the factor (try a larger one again).
#
# **Exercise 10.4.** Write one step of the rule: `my_loss_scale_update(scale, counter, finite, factor, window)`
# returns `(scale, counter, apply)`, where `counter` counts the clean steps since the scale last changed. The
# check replays runs of overflows and clean steps against MindSpore's `DynamicLossScaler`.

# %%
# Exercise 10.4 · the dynamic loss-scale rule
def my_loss_scale_update(scale, counter, finite, factor, window):
    raise NotImplementedError  # your code here


check.loss_scale_update(my_loss_scale_update)

# %% [markdown]
# The lesson's version, and the proof against the Trainer's loss scaler (`mindspore.amp.DynamicLossScaler`,
# which `TrainerConfig(loss_scale="auto")` switches on for fp16). The run starts at a scale of $2^{20}$,
# far too large, so the first steps overflow; a window of 5 clean steps makes the growing visible. The
# Trainer runs one step at a time so that we can look at the weights after each step.

# %%
def loss_scale_update(scale, counter, finite, factor=2.0, window=1000):
    if not finite:
        return max(1.0, scale / factor), 0, False
    if counter + 1 == window:
        return scale * factor, 0, True
    return scale, counter + 1, True


FP16_STEPS = settings.pick(8, 30)
config16 = TrainerConfig(total_steps=FP16_STEPS, batch_size=BATCH, lr=2e-4, init_loss_scale=2.0 ** 20,
                         scale_window=5, log_every=1, progress=False)
trainer16 = Trainer(load_pretrained(MODEL, head="pretraining", dtype="fp16"), task, pairs, config16)
weights_changed = []
for step in range(1, FP16_STEPS + 1):
    before = [p.asnumpy().copy() for p in trainer16.model.trainable_params()]
    trainer16.fit(until_step=step)
    weights_changed.append(any((p.asnumpy() != w).any() for p, w in zip(trainer16.model.trainable_params(), before)))
log16 = [h for h in trainer16.state.history if "loss_scale" in h]
applied = [h["updated"] for h in log16]
scales = [h["loss_scale"] for h in log16]  # the scale after each step's adjustment

scale, counter, replay = 2.0 ** 20, 0, []
for finite in applied:
    scale, counter, _ = loss_scale_update(scale, counter, finite, 2.0, 5)
    replay.append(scale)
print("updated:", "".join("✓" if a else "✗" for a in applied))
print("scale:  ", [int(np.log2(s)) for s in scales], "(log2)")
assert replay == scales, "the written rule and the Trainer's scaler disagree"
assert weights_changed == applied and not all(applied)
print(f"{applied.count(False)} steps skipped: the weights did not change on them, and the written rule gives "
      "the Trainer's scale at every step")

# %%
fig, ax = plt.subplots(figsize=(7, 3))
steps = np.arange(1, len(scales) + 1)
ax.step(steps, np.log2(scales), where="post", color="tab:blue", label="loss scale after the step")
skipped = ~np.array(applied)
ax.scatter(steps[skipped], np.log2(scales)[skipped], color="red", zorder=3, label="overflow: step skipped")
ax.set_xlabel("step")
ax.set_ylabel("log2(loss scale)")
ax.set_title("dynamic loss scaling in an fp16 run (window 5)")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# The scale falls until the gradients fit, grows after every 5 clean steps, and falls again when the larger
# scale overflows: it hovers just below the largest safe value. With the Trainer's default window of 1,000
# steps it grows far less often.
#
# **bf16** (bfloat16, 脑浮点) keeps fp32's 8 exponent bits and only 7 mantissa bits: the same range as fp32, so
# gradients do not underflow and no loss scaling is needed, but only 2-3 significant digits (so the master
# weights and the sums stay in fp32):

# %%
bf16 = ml_dtypes.bfloat16
print("1e-8 in bf16:", bf16(1e-8), "| 1e-30 in bf16:", bf16(1e-30), "| 70000 in bf16:", bf16(70000.0),
      "| 1 + 1/256 in bf16:", bf16(1 + 1 / 256))
print(f"gradient entries that bf16 would flush to zero: {(magnitudes.astype(bf16) == 0).mean():.1%}")
assert float(bf16(1e-8)) > 0 and float(bf16(1 + 1 / 256)) == 1.0 and (magnitudes.astype(bf16) == 0).sum() == 0
print("on this machine:", device._precision_problem("CPU", "bf16"))

# %% [markdown]
# What a CPU cannot show: the speed. On this machine fp16 demonstrates the numbers (underflow, scaling,
# skipped steps), not a gain: MindSpore's CPU kernels have no fast fp16 path. The gain comes from the matrix
# units of accelerators: an NVIDIA A100's datasheet gives 19.5 TFLOP/s in fp32 and 312 TFLOP/s in fp16/bf16
# on its tensor cores; Ascend 910's cube units are built for fp16 (and bf16 on 910B). There
# `bert-ms pretrain --device GPU --precision fp16` (or `--device Ascend --precision bf16`) runs this lesson's
# recipe.
#
# ## 6. Cost at scale, honestly
#
# How much computing did BERT-Base's pretraining take? A training step costs about $6N$ floating-point
# operations per token for a model of $N$ parameters ($2N$ for the forward pass, $4N$ for the backward; Kaplan
# et al. 2020), plus the attention scores, which the rule leaves out: $QK^T$ and the weighted sum of $V$ cost
# $4TH$ per token and layer forward, $12LTH$ with the backward.

# %%
with no_init_parameters():
    base = BertForPreTraining(BertConfig.preset("base"))
N = count_parameters(base)
L, H = base.config.num_hidden_layers, base.config.hidden_size
STEPS_PAPER, BATCH_PAPER = 1_000_000, 256
tokens_512 = STEPS_PAPER * BATCH_PAPER * 512  # the paper's headline: 1M steps of 256 x 512 tokens
tokens_mixed = STEPS_PAPER * BATCH_PAPER * (0.9 * 128 + 0.1 * 512)  # 90 % of the steps at 128 tokens (A.2)


def train_flops(tokens, seq_len):
    return tokens * (6 * N + 12 * L * seq_len * H)


flops_512 = train_flops(tokens_512, 512)
flops_mixed = (train_flops(STEPS_PAPER * BATCH_PAPER * 0.9 * 128, 128)
               + train_flops(STEPS_PAPER * BATCH_PAPER * 0.1 * 512, 512))
print(f"BERT-Base with its pretraining heads: N = {N:,} parameters")
print(f"1M steps x 256 x 512 tokens = {tokens_512:.3g} tokens -> {flops_512:.2e} FLOPs "
      f"(the attention term adds {12 * L * 512 * H / (6 * N):.0%})")
print(f"as trained (90 % of the steps at 128 tokens): {tokens_mixed:.3g} tokens -> {flops_mixed:.2e} FLOPs")
assert abs(tokens_512 - 1.31e11) < 0.01e11 and 1.0e8 < N < 1.2e8

# %% [markdown]
# On cards of 312 TFLOP/s of dense fp16/bf16 matrix arithmetic (an NVIDIA A100's datasheet figure; Ascend
# 910's published fp16 figure is 256 TFLOP/s) at a **model FLOPs utilisation** (MFU, 算力利用率) of 40 %,
# a good value for a well-tuned BERT run:

# %%
PEAK, MFU = 312e12, 0.40
cards = [8, 64, 1024]
hours = {c: flops_512 / (c * PEAK * MFU) / 3600 for c in cards}
for c in cards:
    per_card = BATCH_PAPER / c
    note = "" if per_card >= 1 else "  <- less than one sequence per card: the batch of 256 cannot be split this far"
    print(f"{c:>5} cards: {hours[c]:7.1f} hours ({hours[c] / 24:5.2f} days); {per_card:g} sequences per card{note}")

# this machine, at the rate the single process of section 2 reached on the mini-BERT
here = 6 * count_parameters(model) * BATCH * SEQ_LEN / t_one  # model: section 1's mini-BERT
years = flops_512 / here / 3600 / 24 / 365
print(f"this machine: {here / 1e9:.1f} GFLOP/s on the mini-BERT -> BERT-Base would take {years:.0f} years")
assert 0.9e20 < flops_512 < 1.0e20 and 20 < hours[8] < 30 and years > 1

fig, ax = plt.subplots(figsize=(5.5, 3.2))
ax.bar([str(c) for c in cards], [hours[c] for c in cards], color=["tab:blue", "tab:blue", "tab:gray"])
ax.set_yscale("log")
ax.set_ylim(top=4 * max(hours.values()))  # room for the labels under the title
ax.set_xlabel("cards (312 TFLOP/s each, 40 % MFU)")
ax.set_ylabel("hours")
ax.set_title("BERT-Base pretraining, 1M steps x 256 x 512 tokens")
for i, c in enumerate(cards):
    ax.text(i, hours[c], f"{hours[c]:.1f} h", ha="center", va="bottom")
plt.show()

# %% [markdown]
# Read with care:
#
# * **1,024 cards do not fit this batch.** 256 sequences split over 1,024 cards is a quarter of a sequence
#   each. To use more cards, the global batch must grow, and a larger batch changes the optimisation: with
#   LAMB, a layer-wise adaptive optimiser, You et al. (2020, "Large Batch Optimization for Deep Learning:
#   Training BERT in 76 Minutes") trained BERT-Large on 1,024 TPU v3 chips with batches of 32,768-65,536
#   sequences. (The course's pretraining notebook uses LAMB too.)
# * **Communication is not free.** An all-reduce moves every gradient (here 110 M numbers, 440 MB in fp32)
#   over the network at every step; across machines this is what keeps MFU below its single-card value.
# * The paper's own hardware: 4 Cloud TPUs in a pod (16 chips) for 4 days, for BERT-Base.
#
# The commands (docs/distributed.md): on one machine with 8 cards, one worker per card:
#
# ```bash
# msrun --worker_num=8 --local_worker_num=8 --master_port=8118 --join=True --log_dir=logs \
#     python -m bert_ms pretrain --device GPU --precision fp16 --config base --corpus PATH ...
# ```
#
# On two machines with 8 cards each, the same command on both, with `--worker_num=16 --local_worker_num=8
# --master_addr=<IP of machine 0> --node_rank=0` (and `--node_rank=1` on the second). `--batch-size` is the
# global batch: each card gets its share.
#
# ## 7. Summary
#
# * Data parallelism: every worker holds the model and the same global batch, keeps its block of rows, and
#   the all-reduce mean of the gradients equals one process on the whole batch, exactly when the loss is a
#   mean over equal-sized shards (BERT's MLM loss: equal masked counts). Proved on real gradients, then by a
#   real two-worker `msrun` job whose workers ended with identical weights, equal to one process.
# * Gradient accumulation is the same sum over time: weight by size, or use equal micro-batches.
# * Clip once, after the all-reduce.
# * In fp16 the mini-BERT's backward pass flushed 2 % of its gradient entries to zero; a loss scale of $2^{16}$
#   kept them; dynamic loss scaling skips the steps that overflow and finds the scale by itself; bf16 needs no
#   scaling.
# * BERT-Base's pretraining is about $10^{20}$ FLOPs: about a day on 8 cards of 312 TFLOP/s at 40 % MFU, years
#   on one CPU.
#
# Left out: model parallelism and ZeRO (the model itself split over cards, for models that do not fit one),
# MindSpore's automatic parallel modes, LAMB, and a MindRecord data pipeline (our arrays fit in memory).
