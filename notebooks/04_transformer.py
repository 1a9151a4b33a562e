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
# # 04 · The Transformer (Transformer 模型)
#
# Vaswani et al. 2017, "Attention Is All You Need", replaced recurrence by **attention (注意力)**:
# every position looks at every other position in one step. BERT (lessons 05-08) is exactly the
# *encoder* half of this model, so everything here carries over.
#
# We build each piece twice: once in plain MindSpore ops in this notebook, once by calling the
# package (`bert_ms.attention`, `bert_ms.positional`, `bert_ms.transformer`), and `assert` that the two
# agree. Then we train a tiny encoder-decoder (编码器-解码器) to reverse digit strings and look at
# what its attention learned.
#
# Paper sections: 3.1 (encoder and decoder stacks), 3.2 (attention), 3.3 (feed-forward), 3.4
# (embeddings), 3.5 (positional encoding).

# %%
from bert_ms import device, settings

dev = device.setup(seed=0)

# %%
import math

import matplotlib.pyplot as plt
import mindspore as ms
import numpy as np
from mindspore import nn, ops

from bert_ms.transformer import attention
from bert_ms.transformer import positional
from bert_ms.transformer import model as transformer

rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Scaled dot-product attention (缩放点积注意力), eq. (1)
#
# $$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d_k}}\right) V$$
#
# * each **query (查询)** row of $Q$ is compared with every **key (键)** row of $K$ by a dot product;
# * the scores are divided by $\sqrt{d_k}$ and turned into weights by a softmax over the keys;
# * the output is the weighted average of the **value (值)** rows of $V$.
#
# Step by step, in plain ops:

# %%
B, Tq, Tk, d_k, d_v = 2, 4, 5, 8, 6
q = ms.Tensor(rng.normal(size=(B, Tq, d_k)).astype(np.float32))
k = ms.Tensor(rng.normal(size=(B, Tk, d_k)).astype(np.float32))
v = ms.Tensor(rng.normal(size=(B, Tk, d_v)).astype(np.float32))

scores = ops.matmul(q, k.transpose(0, 2, 1))  # [B, Tq, Tk]: one score per (query, key) pair
scaled = scores / math.sqrt(d_k)
weights = ops.softmax(scaled, -1)  # each row sums to 1
out = ops.matmul(weights, v)  # [B, Tq, d_v]
print("scores", scores.shape, "-> weights", weights.shape, "-> output", out.shape)

pkg_out, pkg_weights = attention.scaled_dot_product_attention(q, k, v)
np.testing.assert_allclose(out.asnumpy(), pkg_out.asnumpy(), rtol=1e-5, atol=1e-5)
np.testing.assert_allclose(weights.asnumpy(), pkg_weights.asnumpy(), rtol=1e-5, atol=1e-6)
assert np.allclose(weights.asnumpy().sum(-1), 1.0, atol=1e-6)
print("plain ops == bert_ms.attention.scaled_dot_product_attention")

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
# are exactly 0 and the remaining weights still sum to 1.

# %%
lengths = [5, 3]  # the second sequence has 2 padding positions
keep = np.array([[1 if t < n else 0 for t in range(Tk)] for n in lengths], dtype=np.int32)
pad_mask = attention.padding_mask(ms.Tensor(keep))  # [B, 1, 1, Tk]
print("padding mask for sequence 2:", pad_mask.asnumpy()[1, 0, 0])
_, w_pad = attention.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None], pad_mask)
w_pad = w_pad.asnumpy()[:, 0]
print("weights of sequence 2 (padded keys 3 and 4):\n", w_pad[1].round(3))
assert np.all(w_pad[1][:, 3:] == 0.0), "padded keys get exactly zero weight"
assert np.allclose(w_pad.sum(-1), 1.0, atol=1e-6)

T = 6
x_self = ms.Tensor(rng.normal(size=(1, 1, T, d_k)).astype(np.float32))
_, w_causal = attention.scaled_dot_product_attention(x_self, x_self, x_self, attention.causal_mask(T))
w_causal = w_causal.asnumpy()[0, 0]
assert np.all(w_causal[np.triu_indices(T, 1)] == 0.0), "no position may look at the future"
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
# transpose. Each head attends on its own, then the heads are concatenated back. Follow the shapes:

# %%
d_model, h = 32, 4
mha = attention.MultiHeadAttention(d_model, h, dropout=0.0)
mha.set_train(False)
x = ms.Tensor(rng.normal(size=(2, 7, d_model)).astype(np.float32))

Q = mha.query(x)
print("Q = x W^Q            ", Q.shape)
Qh = Q.reshape(2, 7, h, d_model // h)
print("reshape to heads     ", Qh.shape)
Qh = Qh.transpose(0, 2, 1, 3)
print("transpose: [B,h,T,dk]", Qh.shape)
Kh, Vh = mha._split(mha.key(x)), mha._split(mha.value(x))
ctx, probs = attention.scaled_dot_product_attention(Qh, Kh, Vh)
print("per-head attention   ", ctx.shape, "weights", probs.shape)
concat = ctx.transpose(0, 2, 1, 3).reshape(2, 7, d_model)
print("concatenate heads    ", concat.shape)
by_hand = mha.output(concat)

pkg, pkg_probs = mha(x, x)
np.testing.assert_allclose(by_hand.asnumpy(), pkg.asnumpy(), rtol=1e-5, atol=1e-5)
assert pkg_probs.shape == (2, h, 7, 7)
print("by hand == bert_ms.attention.MultiHeadAttention")

# %% [markdown]
# ## 4. Sinusoidal positional encoding (位置编码), section 3.5
#
# Attention ignores order: permuting the input rows permutes the output rows. The Transformer adds
# a fixed vector per position:
#
# $$PE_{(pos, 2i)} = \sin(pos / 10000^{2i/d_{model}}),\qquad PE_{(pos, 2i+1)} = \cos(pos / 10000^{2i/d_{model}})$$
#
# Low dimensions oscillate fast, high dimensions slowly, like the hands of a clock.

# %%
max_len, d_pe = 100, 64
pe = positional.sinusoidal_table(max_len, d_pe)
pos = np.arange(max_len)[:, None]
omega = 1.0 / 10000 ** (np.arange(0, d_pe, 2) / d_pe)
assert np.allclose(pe[:, 0::2], np.sin(pos * omega), atol=1e-5)
assert np.allclose(pe[:, 1::2], np.cos(pos * omega), atol=1e-5)

plt.figure(figsize=(8, 3.2))
plt.imshow(pe.T, aspect="auto", cmap="RdBu")
plt.xlabel("position")
plt.ylabel("dimension")
plt.colorbar()
plt.title("sinusoidal positional encoding PE[pos, dim]")
plt.show()

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
# ## 5. Add & Norm, the encoder layer and the decoder layer (编码器层 / 解码器层)
#
# Each sub-layer (attention or feed-forward) is wrapped as **post-norm** Add & Norm (残差连接与层归一化),
# exactly as in the paper (section 3.1) and in BERT:
#
# $$\mathrm{LayerNorm}(x + \mathrm{Dropout}(\mathrm{Sublayer}(x)))$$
#
# Many later models (GPT-2, the Annotated Transformer's code) use *pre-norm*
# $x + \mathrm{Sublayer}(\mathrm{LayerNorm}(x))$ instead; `bert_ms` offers it as `pre_norm=True` and
# says so, but the default follows the paper.

# %%
an = transformer.AddNorm(d_model, dropout=0.0)
an.set_train(False)
y = ms.Tensor(rng.normal(size=(2, 7, d_model)).astype(np.float32))
s = (x + y).asnumpy()
manual = (s - s.mean(-1, keepdims=True)) / np.sqrt(s.var(-1, keepdims=True) + 1e-12)
np.testing.assert_allclose(an(x, y).asnumpy(), manual, rtol=1e-4, atol=1e-4)
print("AddNorm(x, y) == LayerNorm(x + y)")

# %% [markdown]
# The **encoder layer** = self-attention + Add & Norm, then the position-wise feed-forward network
# (逐位置前馈网络) $\max(0, xW_1+b_1)W_2+b_2$ + Add & Norm. The **decoder layer** has three sub-layers:
# *masked* self-attention, encoder-decoder (cross) attention (交叉注意力) whose keys and values are the
# encoder output ("memory"), and the feed-forward network. Shapes are kept at every step, which is
# why layers can be stacked.

# %%
enc_layer = transformer.EncoderLayer(d_model, h, d_ff=64, dropout=0.0, attention_dropout=0.0)
dec_layer = transformer.DecoderLayer(d_model, h, d_ff=64, dropout=0.0, attention_dropout=0.0)
enc_layer.set_train(False)
dec_layer.set_train(False)
memory, enc_probs = enc_layer(x)
target_in = ms.Tensor(rng.normal(size=(2, 5, d_model)).astype(np.float32))
dec_out = dec_layer(target_in, memory, attention.causal_mask(5))
print("encoder:", x.shape, "->", memory.shape, "attention", enc_probs.shape)
print("decoder:", target_in.shape, "+ memory", memory.shape, "->", dec_out.shape)
assert memory.shape == x.shape and dec_out.shape == target_in.shape

# the decoder is causal: changing target position 4 leaves positions 0..3 unchanged
changed = target_in.asnumpy().copy()
changed[:, 4] += 1.0
dec_out2 = dec_layer(ms.Tensor(changed), memory, attention.causal_mask(5))
assert np.allclose(dec_out.asnumpy()[:, :4], dec_out2.asnumpy()[:, :4], atol=1e-5)
assert not np.allclose(dec_out.asnumpy()[:, 4], dec_out2.asnumpy()[:, 4], atol=1e-3)

# %% [markdown]
# ## 6. The full encoder-decoder on a toy task: reverse a digit string
#
# `bert_ms.transformer.Transformer` is figure 1 of the paper: embeddings × $\sqrt{d_{model}}$ + positional
# encoding, $N$ encoder layers, $N$ decoder layers, and an output projection tied to the embeddings
# (section 3.4). We teach a tiny one to **reverse** strings of digits: input `3 1 4 1 5 9`, output
# `9 5 1 4 1 3`. The decoder is trained with **teacher forcing**: it reads `<s>` + the correct output
# shifted right and predicts the next token at every position at once (the causal mask keeps it honest).
#
# Departure from `bert_ms`' defaults: we re-initialise the weight matrices with Xavier/Glorot uniform,
# as the reference Transformer code does. The package initialises linear layers with BERT's
# N(0, 0.02), which is far too small for a 32-wide model: the attention scores start ≈ 0 and the
# query/key gradients are ≈ 0, so training sits on a plateau (try it: comment out the loop).

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


cfg = transformer.TransformerConfig.preset("tiny", src_vocab_size=VOCAB, tgt_vocab_size=VOCAB,
                                           d_model=settings.pick(32, 64), num_layers=settings.pick(1, 2),
                                           num_heads=4, d_ff=settings.pick(64, 128), dropout=0.0, max_len=32)
model = transformer.Transformer(cfg)
for p in model.trainable_params():
    if len(p.shape) == 2 and "embed" not in p.name:
        p.set_data(initializer(XavierUniform(), p.shape, ms.float32))
print(cfg)

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
train_rng = np.random.default_rng(1)
steps = settings.pick(250, 800)
losses = []
model.set_train(True)
for _ in range(steps):
    batch = [ms.Tensor(a) for a in make_batch(64, train_rng)]
    losses.append(float(train_step(*batch).asnumpy()))  # the first call compiles the graph
model.set_train(False)
print(f"loss: first {losses[0]:.3f}, last {np.mean(losses[-20:]):.4f} (chance: ln 10 = {math.log(10):.3f})")
plt.figure(figsize=(5, 3))
plt.semilogy(losses)
plt.xlabel("step")
plt.ylabel("cross-entropy")
plt.title("reversing digit strings")
plt.show()
assert np.mean(losses[-20:]) < 0.5 * math.log(10)

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
# To reverse, output position $t$ must copy input position $T-1-t$. We run the decoder layer by hand
# (the package cells, one after another) to get the **encoder-decoder attention** weights of the last
# decoder layer: the anti-diagonal should light up.

# %%
def cross_attention_maps(model, src: np.ndarray, tgt_in: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Cross-attention probabilities [B, heads, T_tgt, T_src] of every decoder layer, and the logits."""
    memory = model.encode(ms.Tensor(src))
    y = model.positions(model.src_embed(ms.Tensor(tgt_in)) * model.scale)
    mask = attention.causal_mask(tgt_in.shape[1])
    maps = []
    for layer in model.decoder.layers:  # DecoderLayer.construct, sub-layer by sub-layer
        a, _ = layer.self_attention(y, y, mask)
        y = layer.self_attention_norm(y, a)
        c, probs = layer.cross_attention(y, memory)
        y = layer.cross_attention_norm(y, c)
        y = layer.ffn_norm(y, layer.ffn(y))
        maps.append(probs.asnumpy())
    logits = ops.matmul(y, model.src_embed.weight.T)  # the output projection tied to the embeddings
    return maps, logits.asnumpy()


one_src, one_in, one_tgt = make_batch(1, np.random.default_rng(7))
layer_maps, logits_by_hand = cross_attention_maps(model, one_src, one_in)
np.testing.assert_allclose(logits_by_hand, model(ms.Tensor(one_src), ms.Tensor(one_in)).asnumpy(), atol=1e-4)
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
# ## Exercises (练习)
#
# 1. Remove the division by $\sqrt{d_k}$ (write your own attention with `d_model=256`, 4 heads) and compare the
#    entropy of the attention rows at initialisation with and without scaling.
# 2. Train the toy model on the **copy** task instead of reverse. Which diagonal lights up in the
#    cross-attention map? Then try **sorting** the digits: is it harder? Why?
# 3. Replace the sinusoids by nothing at all (set `model.positions.table` to zeros). Can the model still
#    reverse? What about copying? Explain with the permutation-invariance of attention.
# 4. Build the model with `bert_ms`' default initialisation (skip the Xavier loop) and watch the loss curve.
#    Then try `pre_norm=True` encoder layers (`transformer.EncoderLayer(..., pre_norm=True)`).
# 5. Count the parameters of `TransformerConfig.preset("base")` with `bert_ms.bert.count_parameters` and
#    compare with the 65 M of table 3 (the paper's vocabulary is 37,000 shared BPE tokens).
