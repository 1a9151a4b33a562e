# ---
# jupyter:
#   bert_ms:
#     images: 8
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
# # 04 · The Transformer (Transformer 模型)
#
# Vaswani et al. 2017, "Attention Is All You Need", replaced recurrence by **attention (注意力)**:
# every position looks at every other position in one step. BERT (lessons 05-09) is exactly the
# *encoder* half of this model and GPT the *decoder* half, so everything here carries over.
#
# We build every piece in a few lines of MindSpore in this notebook (attention, the masks,
# multi-head attention, the feed-forward network, positional encoding, LayerNorm, the encoder layer
# and the decoder layer), then load the weights of the matching `bert_ms.transformer` class into
# ours and `assert` that both give the same numbers. Only then do we use the package's model (it is
# the same code, compiled and faster) to train a tiny encoder-decoder (编码器-解码器) that reverses
# digit strings, and look at what its attention learned.
#
# Paper sections: 3.1 (encoder and decoder stacks), 3.2 (attention), 3.3 (feed-forward), 3.4
# (embeddings), 3.5 (positional encoding), 5.3 (the optimiser and its warm-up).
# Course: step_into_llm, Season 1, lecture 1 "Transformer" (`1.Transformer/transformer.ipynb`),
# which lecture 2 "BERT" builds on.
#
# Pictures: the √d_k effect, the two masks, the positional encoding (a heat map and its curves), the
# warm-up schedule of eq. (3), the cost of attention against sequence length, the training loss, and
# the cross-attention of the trained model (8 figures; exercise 4.5 draws BERT's schedule with your
# function).

# %%
from bert_ms import device, settings

dev = device.setup(seed=0)

# %%
import math

import matplotlib.pyplot as plt
import mindspore as ms
import numpy as np
from mindspore import nn, ops

from bert_ms.runtime.progress import bar
from bert_ms.transformer import attention as ref_attention
from bert_ms.transformer import feedforward as ref_feedforward
from bert_ms.transformer import model as ref_model
from bert_ms.transformer import positional as ref_positional

rng = np.random.default_rng(0)


def tensor(*shape) -> ms.Tensor:
    """A float32 tensor of standard-normal numbers."""
    return ms.Tensor(rng.normal(size=shape).astype(np.float32))


def randomize(cell: nn.Cell) -> nn.Cell:
    """Give every parameter random values (LayerNorm weights near 1), so equality tests mean something."""
    for p in cell.get_parameters():
        centre = 1.0 if p.name.endswith("norm.weight") else 0.0
        p.set_data(ms.Tensor((centre + 0.3 * rng.normal(size=p.shape)).astype(np.float32)))
    return cell


def load_weights(ours: nn.Cell, reference: nn.Cell) -> None:
    """Copy the reference cell's parameters into ours by name (our sub-cells are named like the package's)."""
    weights = dict(reference.parameters_and_names())  # names relative to this cell, e.g. "query.weight"
    not_loaded, unused = ms.load_param_into_net(ours, weights, strict_load=True)
    assert not not_loaded and not unused, f"names differ: {not_loaded} / {unused}"


def same(a: ms.Tensor, b: ms.Tensor, what: str) -> None:
    np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=1e-5, atol=1e-5)
    print(f"ours == bert_ms: {what}")


# %% [markdown]
# ## 1. Scaled dot-product attention (缩放点积注意力), eq. (1)
#
# $$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d_k}}\right) V$$
#
# * each **query (查询)** row of $Q$ is compared with every **key (键)** row of $K$ by a dot product;
# * the scores are divided by $\sqrt{d_k}$ and turned into weights by a softmax over the keys;
# * the output is the weighted average of the **value (值)** rows of $V$.
#
# An optional additive `mask` (section 2) is added to the scores before the softmax. Four lines:

# %%
def attention(q, k, v, mask=None):
    """Eq. (1). q [..., Tq, d_k], k [..., Tk, d_k], v [..., Tk, d_v] -> (output [..., Tq, d_v], weights [..., Tq, Tk])."""
    scores = ops.matmul(q, k.swapaxes(-1, -2)) / math.sqrt(q.shape[-1])  # one score per (query, key) pair
    if mask is not None:
        scores = scores + mask  # 0 = allowed, -1e9 = hidden
    weights = ops.softmax(scores, -1)  # each row sums to 1
    return ops.matmul(weights, v), weights


B, Tq, Tk, d_k, d_v = 2, 4, 5, 8, 6
q, k, v = tensor(B, Tq, d_k), tensor(B, Tk, d_k), tensor(B, Tk, d_v)
out, weights = attention(q, k, v)
print("q", q.shape, "k", k.shape, "-> weights", weights.shape, "-> output", out.shape)
assert np.allclose(weights.asnumpy().sum(-1), 1.0, atol=1e-6)

ref_out, ref_weights = ref_attention.scaled_dot_product_attention(q, k, v)
same(out, ref_out, "attention output")
same(weights, ref_weights, "attention weights")

# %% [markdown]
# ### Why divide by $\sqrt{d_k}$?
#
# Section 3.2.1: if the components of $q$ and $k$ are independent with mean 0 and variance 1, then
# $q\cdot k = \sum_{i=1}^{d_k} q_i k_i$ has mean 0 and **variance $d_k$**. Large scores push the
# softmax into saturation (one weight ≈ 1, the rest ≈ 0), where its gradients vanish. Dividing by
# $\sqrt{d_k}$ brings the variance back to 1. Let us measure it.

# %%
n_pairs = settings.pick(20_000, 200_000)
dims = [4, 16, 64, 256]
variances = []
for d in dims:
    qs, ks = rng.normal(size=(n_pairs, d)), rng.normal(size=(n_pairs, d))
    dots = (qs * ks).sum(1)
    variances.append(dots.var())
    print(f"d_k={d:4d}  var(q·k)={dots.var():8.2f}  var(q·k/sqrt(d_k))={(dots / math.sqrt(d)).var():.3f}")
    assert abs(dots.var() / d - 1) < 0.1, "the variance of q·k must be close to d_k"
    assert abs((dots / math.sqrt(d)).var() - 1) < 0.1

# what the softmax does with unscaled scores of a large d_k: almost one-hot
d = 256
row = (rng.normal(size=(1, d)) @ rng.normal(size=(d, 10))).ravel()
p_raw = np.exp(row - row.max()) / np.exp(row - row.max()).sum()
p_scaled = np.exp((row - row.max()) / math.sqrt(d)) / np.exp((row - row.max()) / math.sqrt(d)).sum()
fig, ax = plt.subplots(1, 2, figsize=(9, 2.8))
ax[0].plot(dims, variances, "o-", label="measured")
ax[0].plot(dims, dims, "k:", label="d_k")
ax[0].set_xlabel("d_k")
ax[0].set_ylabel("var(q·k)")
ax[0].legend()
ax[1].bar(np.arange(10) - 0.2, p_raw, 0.4, label="softmax(q·k)")
ax[1].bar(np.arange(10) + 0.2, p_scaled, 0.4, label="softmax(q·k/√d_k)")
ax[1].set_title("10 keys, d_k = 256")
ax[1].legend(fontsize=8)
plt.tight_layout()
plt.show()
assert p_raw.max() > p_scaled.max()

# %% [markdown]
# ## 2. Masks (掩码)
#
# Two things must be hidden from attention:
#
# * **padding mask (填充掩码)**: `[PAD]` positions added to make a batch rectangular are not words;
# * **causal mask (因果掩码 / sequence mask)**: when the decoder predicts word $t$ it must not see
#   words $t+1, t+2, \dots$ (section 3.2.3).
#
# Both are **additive**: 0 where attention is allowed, a very negative number (−10⁹) where it is not,
# added to the scores *before* the softmax. $e^{-10^9}$ is exactly 0 in float32, so the masked weights
# are exactly 0 and the remaining weights still sum to 1. (Masking *after* the softmax would leave
# rows that no longer sum to 1: exercise 4.1 catches that mistake.)
#
# The padding mask gets the shape $[B, 1, 1, T]$: the scores of multi-head attention are
# $[B, h, T_q, T_k]$, and the two axes of size 1 let one mask row serve every head and every query.

# %% [markdown]
# **Exercises (练习) in this lesson** sit where their idea is taught, before the lesson writes its own
# version: each is a function you write in the cell under it; the check runs it on fresh random inputs
# (sizes too) against an exact float64 NumPy answer and says what is wrong. Solutions:
# `solutions/04_transformer.py` (open it after trying).

# %%
from bert_ms.exercises import check

# %% [markdown]
# **Exercise 4.1 (练习): attention with a boolean mask.** Write `my_attention(q, k, v, mask=None)`
# returning the output of eq. (1) (or the pair `(output, weights)`). This time `mask` is a **boolean**
# tensor broadcastable to $[\dots, T_q, T_k]$, `True` where a query may attend to a key
# (e.g. `ops.masked_fill` helps).

# %%
# Exercise 4.1 (练习): scaled dot-product attention with a boolean mask
def my_attention(q, k, v, mask=None):
    raise NotImplementedError  # your code here


check.attention(my_attention)

# %% [markdown]
# **Exercise 4.2 (练习): the causal mask.** `my_causal_mask(T)` returns the additive $[T, T]$ mask
# (or $[1, 1, T, T]$): 0 where query $i$ may attend to key $j$ ($j \le i$), a large negative number
# where $j > i$ (−10⁹ or −∞; anything at or below −10⁴ hides a key).

# %%
# Exercise 4.2 (练习): the causal mask
def my_causal_mask(t):
    raise NotImplementedError  # your code here


check.causal_mask(my_causal_mask)

# %% [markdown]
# **Exercise 4.3 (练习): the padding mask.** `my_padding_mask(keep)` takes BERT's `attention_mask`,
# an int32 tensor $[B, T]$ with 1 for real tokens and 0 for `[PAD]`, and returns the additive mask
# of shape $[B, 1, 1, T]$: 0 for a real token, a large negative number (as in exercise 4.2) for `[PAD]`.

# %%
# Exercise 4.3 (练习): the padding mask
def my_padding_mask(keep):
    raise NotImplementedError  # your code here


check.padding_mask(my_padding_mask)

# %%
NEG = -1e9


def padding_mask(keep):
    """keep [B, T]: 1 = real token, 0 = [PAD]  ->  additive mask [B, 1, 1, T]."""
    keep = keep.asnumpy()
    return ms.Tensor(np.where(keep == 1, 0.0, NEG).astype(np.float32)[:, None, None, :])


def causal_mask(t):
    """Additive [1, 1, T, T]: query i may attend to keys j <= i only (the upper triangle is hidden)."""
    future = np.triu(np.ones((t, t), dtype=bool), k=1)
    return ms.Tensor(np.where(future, NEG, 0.0).astype(np.float32)[None, None])


def show(mask) -> str:
    """A mask as a grid of '0' (allowed) and '-inf' (hidden), for printing."""
    return "\n".join(" ".join(f"{'0' if x == 0 else '-inf':>4}" for x in r) for r in mask)


lengths = [5, 3]  # the second sequence has 2 padding positions
keep = ms.Tensor(np.array([[1 if t < n else 0 for t in range(Tk)] for n in lengths], dtype=np.int32))
pad_mask, causal = padding_mask(keep), causal_mask(6)
print("padding mask of sequence 2, shape", pad_mask.shape, "\n" + show(pad_mask.asnumpy()[1, 0]))
print("causal mask, shape", causal.shape, "\n" + show(causal.asnumpy()[0, 0]))

np.testing.assert_array_equal(pad_mask.asnumpy(), ref_attention.padding_mask(keep).asnumpy())
np.testing.assert_array_equal(causal.asnumpy(), ref_attention.causal_mask(6).asnumpy())
print("ours == bert_ms: padding_mask and causal_mask")

# %% [markdown]
# Applied to attention: the padded keys get weight exactly 0, and no query sees a later position.

# %%
_, w_pad = attention(q, k, v, pad_mask[:, 0])  # single-head attention: drop the head axis
w_pad = w_pad.asnumpy()
print("weights of sequence 2 (padded keys 3 and 4):\n", w_pad[1].round(3))
assert np.all(w_pad[1][:, 3:] == 0.0), "padded keys get exactly zero weight"
assert np.allclose(w_pad.sum(-1), 1.0, atol=1e-6)

x_self = tensor(1, 1, 6, d_k)
_, w_causal = attention(x_self, x_self, x_self, causal)
w_causal = w_causal.asnumpy()[0, 0]
assert np.all(w_causal[np.triu_indices(6, 1)] == 0.0), "no position may look at the future"
assert np.allclose(w_causal.sum(-1), 1.0, atol=1e-6)
assert w_causal[0, 0] == 1.0  # the first position can only look at itself

fig, ax = plt.subplots(1, 2, figsize=(8, 3))
ax[0].imshow(w_pad[1], cmap="viridis")
ax[0].set_title("padding mask: keys 3, 4 are [PAD]")
ax[0].set_xlabel("key")
ax[0].set_ylabel("query")
ax[1].imshow(w_causal, cmap="viridis")
ax[1].set_title("causal mask: lower triangle")
ax[1].set_xlabel("key")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 3. Multi-head attention (多头注意力), section 3.2.2
#
# $$\mathrm{MultiHead}(Q,K,V) = \mathrm{Concat}(\mathrm{head}_1,\dots,\mathrm{head}_h)W^O,\quad
# \mathrm{head}_i = \mathrm{Attention}(QW_i^Q, KW_i^K, VW_i^V)$$
#
# In code, the $h$ projections $W_i^Q$ (each $d_{model}\times d_k$) are one $d_{model}\times d_{model}$
# matrix; the result is **split** into $h$ heads of size $d_k = d_{model}/h$ by a reshape and a
# transpose. Each head attends on its own, then the heads are concatenated back and projected by
# $W^O$. Our sub-cells are called `query`, `key`, `value`, `output`, as in `bert_ms` and BERT's
# checkpoints, so the package's weights load into ours by name.

# %%
def split_heads(x, h):
    """[B, T, d_model] -> [B, h, T, d_k]: reshape to h heads, then move the head axis forward."""
    b, t, d_model = x.shape
    return x.reshape(b, t, h, d_model // h).transpose(0, 2, 1, 3)


def merge_heads(x):
    """[B, h, T, d_k] -> [B, T, h·d_k]: the Concat of the heads."""
    b, h, t, d_head = x.shape
    return x.transpose(0, 2, 1, 3).reshape(b, t, h * d_head)


class MultiHeadAttention(nn.Cell):
    def __init__(self, d_model, h):
        super().__init__()
        self.h = h
        self.query = nn.Dense(d_model, d_model)  # W^Q for all heads at once
        self.key = nn.Dense(d_model, d_model)
        self.value = nn.Dense(d_model, d_model)
        self.output = nn.Dense(d_model, d_model)  # W^O

    def construct(self, x_q, x_kv, mask=None):
        """Self-attention when x_kv is x_q; encoder-decoder attention when x_kv is the encoder output."""
        q = split_heads(self.query(x_q), self.h)
        k = split_heads(self.key(x_kv), self.h)
        v = split_heads(self.value(x_kv), self.h)
        ctx, weights = attention(q, k, v, mask)  # every head at once: the head axis is a batch axis
        return self.output(merge_heads(ctx)), weights


d_model, h = 32, 4
x = tensor(2, 7, d_model)
Q = nn.Dense(d_model, d_model)(x)
print("Q = x W^Q             ", Q.shape)
print("split into heads      ", split_heads(Q, h).shape, "= [B, h, T, d_k]")
print("concatenate the heads ", merge_heads(split_heads(Q, h)).shape)
assert (merge_heads(split_heads(Q, h)) == Q).all()  # the split is undone exactly

ref_mha = randomize(ref_attention.MultiHeadAttention(d_model, h, dropout=0.0))
ref_mha.set_train(False)
mha = MultiHeadAttention(d_model, h)
load_weights(mha, ref_mha)
out, probs = mha(x, x, causal_mask(7))
ref_out, ref_probs = ref_mha(x, x, ref_attention.causal_mask(7))
assert probs.shape == (2, h, 7, 7)
same(out, ref_out, "MultiHeadAttention (causal self-attention)")
same(probs, ref_probs, "its attention weights, per head")

# %% [markdown]
# ## 4. The position-wise feed-forward network (逐位置前馈网络), eq. (2)
#
# $$\mathrm{FFN}(x) = \max(0,\ xW_1 + b_1)\,W_2 + b_2$$
#
# Two linear layers with a ReLU between them, applied to every position separately and identically
# ("position-wise"): $d_{model} \to d_{ff} \to d_{model}$, with $d_{ff} = 2048 = 4 \cdot 512$ in the
# base model. BERT uses GELU instead of ReLU (lesson 06). Attention mixes information *across*
# positions; the FFN transforms each position on its own.

# %%
class FeedForward(nn.Cell):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.intermediate = nn.Dense(d_model, d_ff)  # W_1, b_1 (BERT's name)
        self.output = nn.Dense(d_ff, d_model)  # W_2, b_2

    def construct(self, x):
        return self.output(ops.relu(self.intermediate(x)))


d_ff = 64
ref_ffn = randomize(ref_feedforward.PositionwiseFeedForward(d_model, d_ff, act="relu"))
ref_ffn.set_train(False)
ffn = FeedForward(d_model, d_ff)
load_weights(ffn, ref_ffn)
same(ffn(x), ref_ffn(x), "FeedForward")
# position-wise: position 3 alone gives the same output as position 3 inside the sequence
np.testing.assert_allclose(ffn(x[:, 3:4]).asnumpy(), ffn(x).asnumpy()[:, 3:4], rtol=1e-5, atol=1e-5)

# %% [markdown]
# ## 5. Sinusoidal positional encoding (位置编码), section 3.5
#
# Attention ignores order: permuting the input rows permutes the output rows. The Transformer adds
# a fixed vector per position:
#
# $$PE_{(pos, 2i)} = \sin(pos / 10000^{2i/d_{model}}),\qquad PE_{(pos, 2i+1)} = \cos(pos / 10000^{2i/d_{model}})$$
#
# Each pair of columns $(2i, 2i+1)$ shares one frequency $\omega_i = 10000^{-2i/d_{model}}$: low
# dimensions oscillate fast, high dimensions slowly, like the hands of a clock.

# %% [markdown]
# **Exercise 4.4 (练习): positional encoding.** `my_pe(max_len, d_model)` returns the
# $[max\_len, d_{model}]$ table of section 3.5 (NumPy or MindSpore). One case more than the lesson's
# own `positional_encoding` below: an **odd** $d_{model}$, whose last column $d_{model}-1$ is even and so
# a sine (it has no cosine partner).

# %%
# Exercise 4.4 (练习): the sinusoidal positional encoding
def my_pe(max_len, d_model):
    raise NotImplementedError  # your code here


check.sinusoidal_pe(my_pe)

# %%
def positional_encoding(max_len, d_model):
    pos = np.arange(max_len)[:, None]
    omega = 1.0 / 10000 ** (np.arange(0, d_model, 2) / d_model)  # one frequency per column pair
    pe = np.zeros((max_len, d_model), np.float32)
    pe[:, 0::2] = np.sin(pos * omega)
    pe[:, 1::2] = np.cos(pos * omega)
    return pe


max_len, d_pe = 100, 64
pe = positional_encoding(max_len, d_pe)
np.testing.assert_allclose(pe, ref_positional.sinusoidal_table(max_len, d_pe), atol=1e-5)
print("ours == bert_ms: the sinusoid table", pe.shape)

# the module adds the table to its input (dropout is off at inference)
pos_enc = ref_positional.SinusoidalPositionalEncoding(d_pe, max_len, dropout=0.0)
pos_enc.set_train(False)
x_pe = tensor(2, 10, d_pe)
np.testing.assert_allclose(pos_enc(x_pe).asnumpy(), x_pe.asnumpy() + pe[:10], atol=1e-6)

plt.figure(figsize=(8, 3.2))
plt.imshow(pe.T, aspect="auto", cmap="RdBu")
plt.xlabel("position")
plt.ylabel("dimension")
plt.colorbar()
plt.title("sinusoidal positional encoding PE[pos, dim]")
plt.show()

# %% [markdown]
# The same table as curves: each dimension is a sine or cosine of the position, and the higher the
# dimension, the longer its period ($2\pi / \omega_i$, from $2\pi$ for $i = 0$ up to $10000 \cdot 2\pi$).

# %%
plt.figure(figsize=(8, 3))
for dim in (4, 5, 6, 7, 20):
    plt.plot(np.arange(max_len), pe[:, dim], label=f"dim {dim} ({'sin' if dim % 2 == 0 else 'cos'})")
plt.xlabel("position")
plt.ylabel("PE[pos, dim]")
plt.legend(fontsize=8, ncol=5, loc="lower left")
plt.title("positional encoding curves (d_model = 64)")
plt.show()
periods = 2 * np.pi * 10000 ** (np.arange(0, d_pe, 2) / d_pe)
assert np.isclose(periods[0], 2 * np.pi) and np.all(np.diff(periods) > 0)
assert np.allclose(pe[:, 4], np.sin(np.arange(max_len) / 10000 ** (4 / d_pe)), atol=1e-6)

# %% [markdown]
# ### Relative positions are linear maps (rotations)
#
# The paper chose sinusoids because "for any fixed offset $k$, $PE_{pos+k}$ can be represented as a
# linear function of $PE_{pos}$". For each frequency $\omega_i$ the pair $(\sin, \cos)$ is a point on a
# circle, and moving $k$ steps **rotates** it by the angle $k\omega_i$:
#
# $$\begin{pmatrix}\sin((pos+k)\omega)\\ \cos((pos+k)\omega)\end{pmatrix} =
# \begin{pmatrix}\cos k\omega & \sin k\omega\\ -\sin k\omega & \cos k\omega\end{pmatrix}
# \begin{pmatrix}\sin(pos\,\omega)\\ \cos(pos\,\omega)\end{pmatrix}$$
#
# So one block-diagonal matrix $M_k$, which does **not** depend on $pos$, maps every $PE_{pos}$ to
# $PE_{pos+k}$:

# %%
def shift_matrix(k: int, d: int) -> np.ndarray:
    """Block-diagonal rotation M_k with M_k @ PE[pos] == PE[pos + k] for every pos."""
    m = np.zeros((d, d))
    for i, w in enumerate(1.0 / 10000 ** (np.arange(0, d, 2) / d)):
        c, s = np.cos(k * w), np.sin(k * w)
        m[2 * i: 2 * i + 2, 2 * i: 2 * i + 2] = [[c, s], [-s, c]]
    return m


for offset in (1, 5, 17):
    M = shift_matrix(offset, d_pe)
    shifted = pe[: max_len - offset].astype(np.float64) @ M.T
    err = np.abs(shifted - pe[offset:]).max()
    print(f"k={offset:2d}: max |M_k PE[pos] - PE[pos+k]| = {err:.1e}")
    assert err < 1e-4
    assert np.allclose(M @ M.T, np.eye(d_pe))  # a rotation: lengths are kept

# %% [markdown]
# ## 6. Add & Norm, the encoder layer and the decoder layer (编码器层 / 解码器层)
#
# Each sub-layer (attention or feed-forward) is wrapped as **post-norm** Add & Norm (残差连接与层归一化),
# exactly as in the paper (section 3.1) and in BERT:
#
# $$\mathrm{LayerNorm}(x + \mathrm{Dropout}(\mathrm{Sublayer}(x)))$$
#
# **Layer normalisation (层归一化)** (Ba et al. 2016) normalises each position's vector to mean 0 and
# variance 1 over its $d_{model}$ features, then scales and shifts it with learned `weight` (γ) and
# `bias` (β). Many later models (GPT-2, the Annotated Transformer's code) use *pre-norm*
# $x + \mathrm{Sublayer}(\mathrm{LayerNorm}(x))$ instead; `bert_ms` offers it as `pre_norm=True` and
# says so, but the default follows the paper.

# %%
class LayerNorm(nn.Cell):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = ms.Parameter(ms.Tensor(np.ones(d, np.float32)), name="weight")  # γ
        self.bias = ms.Parameter(ms.Tensor(np.zeros(d, np.float32)), name="bias")  # β
        self.eps = eps

    def construct(self, x):
        mean = x.mean(-1, keep_dims=True)
        var = ((x - mean) ** 2).mean(-1, keep_dims=True)  # the biased variance, as in the paper
        return (x - mean) / ops.sqrt(var + self.eps) * self.weight + self.bias


class AddNorm(nn.Cell):
    """LayerNorm(x + Dropout(y)), where y = Sublayer(x)."""

    def __init__(self, d, eps, dropout=0.0):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        self.norm = LayerNorm(d, eps)

    def construct(self, x, y):
        return self.norm(x + self.dropout(y))


y_sub = tensor(2, 7, d_model)
ref_an = randomize(ref_model.AddNorm(d_model, dropout=0.0))
ref_an.set_train(False)
an = AddNorm(d_model, eps=1e-12)
load_weights(an, ref_an)
same(an(x, y_sub), ref_an(x, y_sub), "AddNorm")

# %% [markdown]
# The **encoder layer** = multi-head self-attention + Add & Norm, then the FFN + Add & Norm. The
# **decoder layer** has three sub-layers: *masked* self-attention (the causal mask), encoder-decoder
# (cross) attention (交叉注意力) whose keys and values are the encoder output ("memory"), and the FFN.
# Every sub-layer keeps the shape $[B, T, d_{model}]$, which is why layers can be stacked $N = 6$ times.
# Our decoder layer also returns the cross-attention weights, to look at them in section 8.

# %%
class EncoderLayer(nn.Cell):
    def __init__(self, d_model, h, d_ff, eps=1e-12, dropout=0.0):
        super().__init__()
        self.attention = MultiHeadAttention(d_model, h)
        self.attention_norm = AddNorm(d_model, eps, dropout)
        self.ffn = FeedForward(d_model, d_ff)
        self.ffn_norm = AddNorm(d_model, eps, dropout)

    def construct(self, x, mask=None):
        a, weights = self.attention(x, x, mask)
        x = self.attention_norm(x, a)
        return self.ffn_norm(x, self.ffn(x)), weights


class DecoderLayer(nn.Cell):
    def __init__(self, d_model, h, d_ff, eps=1e-6, dropout=0.0):
        super().__init__()
        self.self_attention = MultiHeadAttention(d_model, h)
        self.self_attention_norm = AddNorm(d_model, eps, dropout)
        self.cross_attention = MultiHeadAttention(d_model, h)
        self.cross_attention_norm = AddNorm(d_model, eps, dropout)
        self.ffn = FeedForward(d_model, d_ff)
        self.ffn_norm = AddNorm(d_model, eps, dropout)

    def construct(self, y, memory, self_mask, memory_mask=None):
        a, _ = self.self_attention(y, y, self_mask)  # masked: no peeking at later target words
        y = self.self_attention_norm(y, a)
        c, cross_weights = self.cross_attention(y, memory, memory_mask)  # queries: target; keys, values: source
        y = self.cross_attention_norm(y, c)
        return self.ffn_norm(y, self.ffn(y)), cross_weights


ref_enc = randomize(ref_model.EncoderLayer(d_model, h, d_ff, dropout=0.0, attention_dropout=0.0))
ref_dec = randomize(ref_model.DecoderLayer(d_model, h, d_ff, dropout=0.0, attention_dropout=0.0))
ref_enc.set_train(False)
ref_dec.set_train(False)
enc_layer, dec_layer = EncoderLayer(d_model, h, d_ff), DecoderLayer(d_model, h, d_ff)
load_weights(enc_layer, ref_enc)
load_weights(dec_layer, ref_dec)

src_keep = ms.Tensor(np.array([[1] * 7, [1] * 5 + [0] * 2], dtype=np.int32))  # source 2 has 2 [PAD]
memory, enc_weights = enc_layer(x, padding_mask(src_keep))
ref_memory, _ = ref_enc(x, ref_attention.padding_mask(src_keep))
same(memory, ref_memory, "EncoderLayer (with a padding mask)")

target_in = tensor(2, 5, d_model)
dec_out, cross = dec_layer(target_in, memory, causal_mask(5), padding_mask(src_keep))
same(dec_out, ref_dec(target_in, memory, ref_attention.causal_mask(5), ref_attention.padding_mask(src_keep)),
     "DecoderLayer (causal self-attention + cross-attention)")
print("encoder:", x.shape, "->", memory.shape, "   decoder:", target_in.shape, "+ memory ->", dec_out.shape)
assert memory.shape == x.shape and dec_out.shape == target_in.shape
assert np.all(cross.asnumpy()[1, :, :, 5:] == 0.0)  # no target word attends to a padded source word

# the decoder is causal: changing target position 4 leaves positions 0..3 unchanged
changed = target_in.asnumpy().copy()
changed[:, 4] += 1.0
dec_out2, _ = dec_layer(ms.Tensor(changed), memory, causal_mask(5))
dec_out1, _ = dec_layer(target_in, memory, causal_mask(5))
assert np.allclose(dec_out1.asnumpy()[:, :4], dec_out2.asnumpy()[:, :4], atol=1e-5)
assert not np.allclose(dec_out1.asnumpy()[:, 4], dec_out2.asnumpy()[:, 4], atol=1e-3)
print("changing target word 4 leaves the outputs at positions 0..3 unchanged")

# %% [markdown]
# ## 7. Training: the warm-up learning-rate schedule (学习率预热)
#
# Section 5.3 trains with Adam and a learning rate that first **rises linearly** for `warmup_steps`
# steps, then **decays** as $1/\sqrt{\text{step}}$ (eq. 3):
#
# $$lrate = d_{model}^{-0.5}\cdot\min(step^{-0.5},\ step\cdot warmup\_steps^{-1.5}),\qquad warmup\_steps = 4000$$
#
# Why warm up? At the start Adam's moment estimates are noisy and post-norm Transformers diverge
# with a large step size; a small rate for the first steps avoids it. BERT (appendix A.2) uses the
# same idea with a different shape: a linear warm-up to $10^{-4}$ over 10,000 steps, then a **linear**
# decay to 0 at step 1,000,000. Exercise 4.5 asks you to write that one, and draws it with your
# function; here we draw eq. (3).

# %%
def transformer_lr(step, d_model=512, warmup=4000):
    """Eq. (3) of Vaswani et al.; steps count from 1."""
    return d_model ** -0.5 * min(step ** -0.5, step * warmup ** -1.5)


steps_v = np.arange(1, 40_001)
curves = {dm: np.array([transformer_lr(s, dm) for s in steps_v]) for dm in (256, 512, 1024)}

fig, ax = plt.subplots(1, 2, figsize=(10, 3))
for dm, c in curves.items():
    ax[0].plot(steps_v / 1000, c, label=f"d_model = {dm}")
    ax[1].plot(steps_v[:8000] / 1000, c[:8000], label=f"d_model = {dm}")
for a in ax:
    a.axvline(4, ls=":", c="k")
    a.set_xlabel("step (thousands)")
ax[0].set_ylabel("learning rate")
ax[0].set_title("Transformer, eq. (3): warm-up 4,000 steps")
ax[0].legend(fontsize=8)
ax[1].set_title("the first 8,000 steps: linear rise, then 1/√step")
plt.tight_layout()
plt.show()

peak_step = steps_v[curves[512].argmax()]
print(f"eq. (3), d_model 512: peak {curves[512].max():.2e} at step {peak_step}")
assert peak_step == 4000 and np.isclose(curves[512].max(), (512 * 4000) ** -0.5)
assert np.allclose(curves[512][:4000], steps_v[:4000] * 512 ** -0.5 * 4000 ** -1.5)  # linear during the warm-up
assert np.isclose(curves[512][16_000 - 1], curves[512][4000 - 1] / 2)  # 4x the steps, half the rate

# %% [markdown]
# **Exercise 4.5 (练习): BERT's learning-rate schedule.** `my_lr(step, peak_lr, total_steps, warmup_steps)`
# for steps counted from 0: `peak_lr * (step + 1) / warmup_steps` while `step < warmup_steps` (so step 0
# already trains), then a straight line from `peak_lr` at `step == warmup_steps` down to 0 at
# `total_steps`, and 0 afterwards. The Trainer of lessons 07-09 uses the package's version of this
# function; the check refuses an answer that calls it, so write it yourself.

# %%
# Exercise 4.5 (练习): linear warm-up, then linear decay
def my_lr(step, peak_lr, total_steps, warmup_steps):
    raise NotImplementedError  # your code here


lr_result = check.linear_warmup_lr(my_lr)

# %% [markdown]
# Once your `my_lr` passes, this cell draws BERT's schedule with it (appendix A.2: peak $10^{-4}$,
# 10,000 warm-up steps, 1,000,000 steps in all), next to eq. (3) scaled to the same peak.

# %%
if lr_result:
    steps_b = np.arange(0, 1_000_000, 500)
    bert_curve = np.array([float(my_lr(int(s), 1e-4, 1_000_000, 10_000)) for s in steps_b])
    eq3 = np.array([transformer_lr(int(s) + 1, 512, 10_000) for s in steps_b])
    plt.figure(figsize=(6, 3))
    plt.plot(steps_b / 1e6, bert_curve, label="BERT: linear warm-up, linear decay (your my_lr)")
    plt.plot(steps_b / 1e6, eq3 * 1e-4 / eq3.max(), label="eq. (3), warm-up 10,000, same peak")
    plt.xlabel("step (millions)")
    plt.ylabel("learning rate")
    plt.legend(fontsize=8)
    plt.show()
    assert np.isclose(bert_curve.max(), 1e-4) and bert_curve[-1] < 1e-6
else:
    print("write my_lr above first: this cell then draws BERT's schedule with it.")

# %% [markdown]
# ## 8. The full encoder-decoder on a toy task: reverse a digit string
#
# `bert_ms.transformer.model.Transformer` is figure 1 of the paper, built from the same layers we
# just wrote: embeddings × $\sqrt{d_{model}}$ + positional encoding, $N$ encoder layers, $N$ decoder
# layers, and an output projection tied to the embeddings (section 3.4). From here on we use it,
# because it is compiled (`device.jit`) and faster. We teach a tiny one to **reverse** strings of
# digits: input `3 1 4 1 5 9`, output `9 5 1 4 1 3`. The decoder is trained with **teacher forcing
# (教师强制)**: it reads `<s>` + the correct output shifted right and predicts the next token at every
# position at once (the causal mask keeps it honest).
#
# Departures, for a model this small: Adam with a constant learning rate of 3·10⁻³ (no warm-up, no
# label smoothing), and the weight matrices re-initialised with Xavier/Glorot uniform, as the
# reference Transformer code does. The package initialises linear layers with BERT's N(0, 0.02),
# which is far too small for a 32-wide model: the attention scores start ≈ 0 and the query/key
# gradients are ≈ 0, so training sits on a plateau.

# %%
from mindspore.common.initializer import XavierUniform, initializer

PAD, BOS, N_DIGITS = 0, 1, 10  # token 2 + d is digit d
VOCAB = 2 + N_DIGITS
SEQ = settings.pick(6, 8)


def make_batch(n: int, rng: np.random.Generator):
    digits = rng.integers(0, N_DIGITS, size=(n, SEQ))
    src = (digits + 2).astype(np.int32)
    tgt = src[:, ::-1].copy()  # the task: reverse
    tgt_in = np.concatenate([np.full((n, 1), BOS, np.int32), tgt[:, :-1]], axis=1)  # shifted right
    return src, tgt_in, tgt


cfg = ref_model.TransformerConfig.preset("tiny", src_vocab_size=VOCAB, tgt_vocab_size=VOCAB,
                                         d_model=settings.pick(32, 64), num_layers=settings.pick(1, 2),
                                         num_heads=4, d_ff=settings.pick(64, 128), dropout=0.0, max_len=32)
model = ref_model.Transformer(cfg)
for p in model.trainable_params():
    if len(p.shape) == 2 and "embed" not in p.name:
        p.set_data(initializer(XavierUniform(), p.shape, ms.float32))
print(cfg)

# %% [markdown]
# ### Before training: why the first loss is above ln 10
#
# The digits of the targets are uniform and independent of everything the untrained model computes, so
# its cross-entropy is $\ln 10 + \mathrm{KL}(\text{uniform over the digits}\,\|\,p)$: $\ln 10 = 2.30$ is the
# *best* a model that knows nothing can do, reached only by predicting exactly that uniform
# distribution. The untrained model predicts something else, for two reasons we can measure:
#
# * its 12 outputs include `<pad>` and `<s>`, which are never targets (uniform over 12 costs $\ln 12 = 2.48$);
# * its logits are not near 0. The output layer is the embedding table itself (tied, sec. 3.4), so a logit
#   is the dot product of the decoder's output (LayerNorm makes its length $\approx\sqrt{d_{model}}$) with an
#   embedding row (initialised with standard deviation $d_{model}^{-1/2}$): the logits start with a
#   standard deviation near 1, random preferences that the targets punish. Shrinking the same logits
#   towards 0 brings the loss down to $\ln 12$.
#
# The tied layer also gives the untrained model a habit: the decoder's output still carries its input
# token's embedding (the residual connections), and that embedding's dot product with itself is the
# largest, so the model's top guess is often the token it was fed.

# %%
def cross_entropy(logits: np.ndarray, targets: np.ndarray) -> float:
    """Mean cross-entropy in float64 (log-softmax over the last axis)."""
    z = logits - logits.max(-1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(-1, keepdims=True))
    return float(-np.take_along_axis(log_p, targets[..., None], -1).mean())


probe_src, probe_in, probe_tgt = make_batch(512, np.random.default_rng(2))
logits0 = model(ms.Tensor(probe_src), ms.Tensor(probe_in)).asnumpy().astype(np.float64)
by_scale = {scale: cross_entropy(scale * logits0, probe_tgt) for scale in (1.0, 0.5, 0.2, 0.0)}
top_is_input = float((logits0.argmax(-1) == probe_in).mean())
print(f"untrained model: logits std {logits0.std():.2f}; cross-entropy {by_scale[1.0]:.3f} "
      f"(ln 10 = {math.log(10):.3f}, ln 12 = {math.log(VOCAB):.3f})")
for scale, ce in by_scale.items():
    print(f"  logits x {scale:.1f}: cross-entropy {ce:.3f}")
print(f"the top guess is the decoder's own input token at {top_is_input:.0%} of positions (1/12 = {1 / VOCAB:.0%})")
assert by_scale[1.0] > math.log(10) and np.isclose(by_scale[0.0], math.log(VOCAB))
assert by_scale[1.0] > by_scale[0.5] > by_scale[0.2] > by_scale[0.0]  # the excess comes from the logits' spread
assert 0.5 < logits0.std() < 2.0
assert top_is_input > 3 / VOCAB

# %% [markdown]
# ### Training with teacher forcing

# %%
optimizer = nn.Adam(model.trainable_params(), learning_rate=3e-3)


def loss_fn(src, tgt_in, tgt):
    logits = model(src, tgt_in)
    return ops.cross_entropy(logits.reshape(-1, VOCAB), tgt.reshape(-1))


grad_fn = ms.value_and_grad(loss_fn, None, optimizer.parameters)


def train_step(src, tgt_in, tgt):
    loss, grads = grad_fn(src, tgt_in, tgt)
    optimizer(grads)
    return loss


train_step = device.jit(train_step)
held_loss = device.jit(loss_fn)  # the same loss, no update: on a fixed held-out batch
held_batch = [ms.Tensor(a) for a in make_batch(256, np.random.default_rng(3))]
train_rng = np.random.default_rng(1)
steps, eval_every = settings.pick(150, 800), 5
losses, held_steps, held_losses = [], [], []
model.set_train(True)
for step in bar(range(steps), "train"):
    batch = [ms.Tensor(a) for a in make_batch(64, train_rng)]
    losses.append(float(train_step(*batch).asnumpy()))  # the first call compiles the graph
    if (step + 1) % eval_every == 0:
        held_steps.append(step + 1)
        held_losses.append(float(held_loss(*held_batch).asnumpy()))
    if (step + 1) % (steps // 4) == 0:
        print(f"step {step + 1}/{steps}: training loss {np.mean(losses[-20:]):.3f}, held-out {held_losses[-1]:.3f}")
model.set_train(False)
print(f"loss: first {losses[0]:.3f}, last {np.mean(losses[-20:]):.4f} (the best without learning: "
      f"ln 10 = {math.log(10):.3f})")

held = np.array(held_losses)
best_before = np.concatenate([[np.inf], np.minimum.accumulate(held)[:-1]])  # the best held-out loss so far
spike = int(np.argmax(held - np.where(np.isinf(best_before), held, best_before)))  # the largest jump up
relapse = int(np.argmax(held[1:] / best_before[1:])) + 1  # the largest jump up relative to the best so far
back = next((held_steps[i] for i in range(relapse, len(held)) if held[i] <= best_before[relapse]), None)
print(f"spike: at step {held_steps[spike]} the held-out loss is {held[spike]:.3f}, "
      f"{held[spike] / best_before[spike]:.0f} times its best so far ({best_before[spike]:.3f})")
print(f"largest relapse: {best_before[relapse]:.4f} -> {held[relapse]:.4f} (x{held[relapse] / best_before[relapse]:.0f}) "
      f"at step {held_steps[relapse]}; back below {best_before[relapse]:.4f} at step {back}; "
      f"last {held[-1]:.4f}")

plt.figure(figsize=(6, 3))
plt.semilogy(np.arange(1, steps + 1), losses, lw=0.8, label="training batch (64 new strings per step)")
plt.semilogy(held_steps, held_losses, "k.-", ms=3, lw=0.8, label="fixed held-out batch (256 strings)")
plt.axvline(held_steps[spike], ls=":", c="r")
plt.axvline(held_steps[relapse], ls=":", c="orange")
plt.xlabel("step")
plt.ylabel("cross-entropy")
plt.title("reversing digit strings (Adam, constant lr 3e-3)")
plt.legend(fontsize=8)
plt.show()
assert np.mean(losses[-20:]) < 0.5 * math.log(10)
if not settings.smoke():  # 150 smoke steps end before the loss is small enough to relapse
    assert held[spike] > 5 * best_before[spike] and held[relapse] > 10 * best_before[relapse]
    assert held_steps[spike] < held_steps[relapse] and back is not None and held[-1] < best_before[relapse]

# %% [markdown]
# The curve is not smooth, and the bumps are not bad luck with a batch: the black curve is the loss on
# one fixed batch the model never trains on, and it jumps too. First a **spike** (red line): the
# held-out loss, already small, shoots up to more than 5 times its best so far. Then a long **noisy
# stretch**, where it keeps relapsing (orange line: its largest relapse, more than 10 times its best
# so far) before it settles below all of them at the end. Every training batch is 64 new random
# strings of the same kind, so nothing in the data changes; what changes is the weights: an update
# that makes the loss on unseen strings worse has overshot. Our rate of 3·10⁻³ stays the same for all
# 800 steps, large for weights that are already close to a solution; the schedules of section 7 lower
# the rate as training goes on, the usual cure (try it with your `my_lr` of exercise 4.5: see "Going
# further"). The log scale makes the small losses of the noisy stretch look noisier than the large
# ones of the start.

# %% [markdown]
# At test time there is no correct output to feed the decoder: **greedy decoding (贪心解码)** starts
# from `<s>`, predicts one token, appends it, and repeats. The encoder runs once.

# %%
def greedy_decode(model, src: np.ndarray) -> np.ndarray:
    memory = model.encode(ms.Tensor(src))
    out = np.full((len(src), 1), BOS, np.int32)
    for _ in range(src.shape[1]):
        logits = model.decode(ms.Tensor(out), memory).asnumpy()
        out = np.concatenate([out, logits[:, -1].argmax(-1).astype(np.int32)[:, None]], axis=1)
    return out[:, 1:]


test_src, _, test_tgt = make_batch(500, np.random.default_rng(123))
pred = greedy_decode(model, test_src)
token_acc = (pred == test_tgt).mean()
seq_acc = (pred == test_tgt).all(1).mean()
print(f"greedy decoding: token accuracy {token_acc:.3f}, whole-sequence accuracy {seq_acc:.3f} "
      f"(chance: {1 / N_DIGITS:.2f} and {N_DIGITS ** -SEQ:.0e})")
print("input   ", test_src[0] - 2)
print("output  ", pred[0] - 2)
assert token_acc > 0.8, "the model should have learned to reverse (chance is 0.1)"

# %% [markdown]
# ### What did the cross-attention learn?
#
# To reverse, output position $t$ must copy input position $T-1-t$. We load each trained decoder
# layer's weights into **our own** `DecoderLayer` (section 6), which returns the **encoder-decoder
# attention** weights, and run the decoder with it: the anti-diagonal should light up. That the
# logits equal the package model's shows once more that our layers are the same computation.

# %%
def cross_attention_maps(model, src: np.ndarray, tgt_in: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Cross-attention weights [B, heads, T_tgt, T_src] of every decoder layer, and the logits."""
    memory = model.encode(ms.Tensor(src))
    y = model.positions(model.src_embed(ms.Tensor(tgt_in)) * model.scale)  # embeddings · √d_model + PE
    maps = []
    for trained in model.decoder.layers:
        ours = DecoderLayer(cfg.d_model, cfg.num_heads, cfg.d_ff, eps=cfg.layer_norm_eps)
        load_weights(ours, trained)
        ours.set_train(False)
        y, weights = ours(y, memory, causal_mask(tgt_in.shape[1]))
        maps.append(weights.asnumpy())
    logits = ops.matmul(y, model.src_embed.weight.T)  # the output projection tied to the embeddings
    return maps, logits.asnumpy()


one_src, one_in, one_tgt = make_batch(1, np.random.default_rng(7))
layer_maps, logits_by_hand = cross_attention_maps(model, one_src, one_in)
np.testing.assert_allclose(logits_by_hand, model(ms.Tensor(one_src), ms.Tensor(one_in)).asnumpy(),
                           rtol=1e-4, atol=1e-4)
assert len(layer_maps) == cfg.num_layers and all(np.allclose(m.sum(-1), 1.0, atol=1e-5) for m in layer_maps)
maps = layer_maps[-1]
fig, axes = plt.subplots(1, cfg.num_heads, figsize=(3 * cfg.num_heads, 3))
for head, ax in enumerate(axes):
    ax.imshow(maps[0, head], cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(SEQ), one_src[0] - 2)
    ax.set_yticks(range(SEQ), one_tgt[0] - 2)
    ax.set_title(f"head {head}")
axes[0].set_xlabel("input digit (key)")
axes[0].set_ylabel("output digit (query)")
plt.suptitle("encoder-decoder attention of the last decoder layer")
plt.tight_layout()
plt.show()
mirrored = [m[0].mean(0)[np.arange(SEQ), SEQ - 1 - np.arange(SEQ)].mean() for m in layer_maps]
print("average weight on the mirrored input position, per decoder layer:", np.round(mirrored, 2),
      f"(uniform: {1 / SEQ:.2f})")
assert max(mirrored) > 2 / SEQ, "some decoder layer must look at the mirrored position"

# %% [markdown]
# ## 9. Encoder-only, decoder-only, and the cost of attention
#
# The two halves of the Transformer became the two families of pretrained language models:
#
# * **Decoder-only: GPT (Radford et al. 2018).** A stack of decoder layers *without* the
#   cross-attention (there is no encoder): masked self-attention + FFN. It is trained to predict the
#   next token from the previous ones, an **autoregressive (自回归)** language model, and the causal
#   mask is what lets it train on every position at once, exactly like our decoder above.
# * **Encoder-only: BERT (lessons 05-09).** A stack of encoder layers with *no* causal mask, so
#   every token sees its left and its right context (**bidirectional**, 双向). Such a model cannot be
#   trained to predict the next word: in a bidirectional stack each word would "see itself" through
#   the other positions after one layer. So BERT corrupts the input and reconstructs it: the
#   **masked language model (掩码语言模型, MLM)**, an **autoencoding (自编码)** objective (lesson 05
#   builds its inputs, lesson 07 trains it).
#
# **Cost.** Self-attention compares every position with every other one: per head and per layer it
# builds a $T \times T$ score matrix, so its time and memory grow as $O(T^2)$ with the sequence
# length $T$, while the FFN grows as $O(T)$. Our toy sequences are short; BERT's input stops at
# 512 tokens, and BERT pretrains 90 % of its steps at length 128 because "longer sequences are
# disproportionately expensive because attention is quadratic to the sequence length" (appendix
# A.2). Counting the multiply-adds of one BERT-base layer ($d_{model} = 768$, $d_{ff} = 3072$):

# %%
d_bert, dff_bert, heads_bert = 768, 3072, 12
T_range = np.array([128, 256, 512, 1024, 2048, 4096, 8192])
attn_scores = 2 * T_range ** 2 * d_bert  # QK^T and weights·V over all heads: 2 · T² · d_model
ffn_cost = 2 * T_range * d_bert * dff_bert
score_mb = heads_bert * T_range ** 2 * 4 / 2 ** 20  # the float32 weights of one layer, one example
for t, s, f, mb in zip(T_range, attn_scores, ffn_cost, score_mb):
    print(f"T={t:5d}: QK^T and ·V {s / 1e9:7.2f} G multiply-adds, FFN {f / 1e9:6.2f} G, "
          f"attention weights {mb:8.1f} MiB")
assert np.allclose(attn_scores[1:] / attn_scores[:-1], 4)  # twice the length, four times the work
assert score_mb[T_range == 512][0] == 12.0  # 12 heads · 512² · 4 bytes
# 2 T² d_model = 2 T d_model d_ff  <=>  T = d_ff: the quadratic part overtakes the FFN at T = 3072
assert (attn_scores > ffn_cost).tolist() == (T_range > dff_bert).tolist()
plt.figure(figsize=(5, 3))
plt.loglog(T_range, attn_scores, "o-", label="QKᵀ and ·V  (∝ T²)")
plt.loglog(T_range, ffn_cost, "s-", label="FFN  (∝ T)")
plt.axvline(512, ls=":", c="k")
plt.xlabel("sequence length T")
plt.ylabel("multiply-adds per layer")
plt.title("one BERT-base layer")
plt.legend(fontsize=8)
plt.show()
print(f"the T² part overtakes the FFN at T = d_ff = {dff_bert}")

# %% [markdown]
# ### Going further (no check; each takes a few minutes in full mode)
#
# * Train the toy model on the **copy** task instead of reverse (change `make_batch`). Which diagonal
#   lights up in the cross-attention? Then try **sorting** the digits: is it harder? Why?
# * Set `model.positions.table` to zeros before training. Can the model still reverse? Explain with
#   the permutation-invariance of attention.
# * Skip the Xavier loop (the package's N(0, 0.02) initialisation) and watch the loss curve.
# * Train with a schedule instead of the constant 3·10⁻³: set the rate before each step with
#   `ops.assign(optimizer.learning_rate, ms.Tensor(my_lr(step, 3e-3, steps, 50), ms.float32))`. Do the
#   relapses of the held-out loss go away? Is the final loss lower?
