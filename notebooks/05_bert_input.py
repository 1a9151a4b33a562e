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
# # 05 · BERT input (BERT 的输入表示)
#
# Before BERT sees a sentence, the text goes through three steps (Devlin et al., 2019, Section 3
# "Input/Output Representations" and Figure 2):
#
# 1. **WordPiece tokenization (WordPiece 分词)**: text → sub-word tokens from a fixed vocabulary
#    (词表) of about 30,000 pieces;
# 2. **special tokens (特殊符号)** `[CLS]` and `[SEP]` and **segment ids (句子编号)** mark the
#    sentence pair;
# 3. **token + segment + position embeddings (词嵌入 + 句子嵌入 + 位置嵌入)** are summed into the
#    vector the first Transformer layer reads.
#
# Pretraining then hides some tokens for the **masked language model (掩码语言模型, MLM)** and
# pairs sentences for **next sentence prediction (下一句预测, NSP)**. We build all of it here, with
# the code in `bert_ms.tokenization` and `bert_ms.pretraining`, and check every number.

# %%
from bert_ms import device, settings

dev = device.setup(seed=0)

# %%
import matplotlib.pyplot as plt
import numpy as np

from bert_ms import data
from bert_ms.bert import pretraining
from bert_ms.bert.tokenization import BasicTokenizer, BertTokenizer, WordpieceTokenizer

# %% [markdown]
# ## 1. Step one: the basic tokenizer (基础分词)
#
# `BasicTokenizer` does what every tokenizer does before looking at the vocabulary:
#
# * remove control characters and turn every kind of whitespace into a space;
# * put spaces around each Chinese character (汉字), so each becomes its own word;
# * for an *uncased* model: lower-case and strip accents (Unicode NFD, then drop the combining marks);
# * split every punctuation mark off as its own token. BERT's definition of punctuation includes
#   all non-alphanumeric ASCII characters, so `$` and `+` count too.

# %%
basic = BasicTokenizer(do_lower_case=True)
text = "UNwant\u00e9d, running! It costs $5+tax. 我爱北京"
print("clean + CJK spacing:", repr(basic.tokenize_chinese_chars(basic.clean_text(text))))
print("strip accents:      ", basic.strip_accents("unwant\u00e9d"))
words = basic.tokenize(text)
print("basic tokens:       ", words)
assert words == ["unwanted", ",", "running", "!", "it", "costs", "$", "5", "+", "tax", ".", "我", "爱", "北", "京"]

# %% [markdown]
# ## 2. Step two: greedy longest-match-first WordPiece (贪心最长匹配)
#
# Each word is split into vocabulary pieces, left to right: take the **longest prefix that is in
# the vocabulary**, then the longest continuation of the rest, and so on. Continuation pieces are
# written with a `##` prefix, so `##ing` ("ing" inside a word) and `ing` (a word on its own) are
# different tokens. If some part of a word matches nothing, the whole word becomes `[UNK]`.
#
# First with google-research/bert's own 11-token test vocabulary:

# %%
toy = WordpieceTokenizer(["[UNK]", "[CLS]", "[SEP]", "want", "##want", "##ed", "wa", "un", "runn", "##ing", ","])
toy_pieces = toy.tokenize(" ".join(basic.tokenize("UNwant\u00e9d,running")))
print(toy_pieces)
assert toy_pieces == ["un", "##want", "##ed", ",", "runn", "##ing"]
assert toy.tokenize("unwantedX") == ["[UNK]"]  # no piece matches "X": the whole word is unknown

# %% [markdown]
# The real bert-base-uncased vocabulary (30,522 tokens) is read in place from an installed package.
# Watch the search for "unaffable": it tries ever shorter prefixes until one is in the vocabulary.

# %%
tok = BertTokenizer.bert_base_uncased()
print("vocabulary size:", len(tok))
steps = tok.wordpiece_tokenizer.trace("unaffable")
for piece, found in steps:
    print(f"  try {piece:12s} {'<- in vocab' if found else ''}")
pieces = tok.wordpiece_tokenizer.tokenize_word("unaffable")
print("unaffable ->", pieces)
assert [p for p, found in steps if found] == pieces and len(pieces) > 1
assert "".join(p.removeprefix("##") for p in pieces) == "unaffable"

# %% [markdown]
# ## 3. The paper's example: 10 tokens or 11?
#
# Figure 2 of the paper shows the pair *"my dog is cute"* / *"he likes playing"* as
# `[CLS] my dog is cute [SEP] he likes play ##ing [SEP]`: **11 tokens**. With the *real*
# bert-base-uncased vocabulary you get **10**, because "playing" is frequent enough to be a single
# entry. The figure was drawn to show what `##` pieces look like; we reproduce it with a tiny
# vocabulary that has "play" and "##ing" but not "playing".

# %%
real = tok.encode("my dog is cute", "he likes playing")
print(len(real.tokens), real.tokens)
print("segments:", real.token_type_ids)
assert "playing" in tok.vocab and len(real.tokens) == 10
assert real.token_type_ids == [0] * 6 + [1] * 4

import tempfile
from pathlib import Path

small_vocab = Path(tempfile.mkdtemp()) / "vocab.txt"
small_vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "my", "dog", "is", "cute", "he",
                                  "likes", "play", "##ing"]) + "\n", encoding="utf-8")
small = BertTokenizer(small_vocab)
paper = small.encode("my dog is cute", "he likes playing")
print(len(paper.tokens), paper.tokens)
print("segments:", paper.token_type_ids)
assert paper.tokens[-4:] == ["likes", "play", "##ing", "[SEP]"]
assert paper.token_type_ids == [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1]

# %% [markdown]
# ### Words the real vocabulary *does* split
#
# Rare words, technical terms and names are split into pieces. No word is ever out of vocabulary
# unless one of its characters is unknown: that is why WordPiece can cover open vocabulary with
# 30k entries.

# %%
for w in ["embeddings", "tokenization", "mindspore", "transformers", "bidirectional", "huggingface"]:
    print(f"{w:15s} -> {tok.tokenize(w)}")
assert tok.tokenize("embeddings") == ["em", "##bed", "##ding", "##s"]
assert all(len(tok.tokenize(w)) > 1 for w in ["tokenization", "mindspore", "huggingface"])

# %% [markdown]
# ### The Chinese vocabulary: one character, one token (字)
#
# bert-base-chinese (21,128 tokens) relies on the basic tokenizer's CJK rule: every Chinese character
# is its own word, so Chinese is modelled **character by character**. Latin words inside Chinese text
# still get WordPiece pieces.

# %%
zh = BertTokenizer.bert_base_chinese()
sentence = data.load_peoples_daily(max_lines=1)[0]
zh_tokens = zh.tokenize(sentence)
print(sentence)
print(zh_tokens)
assert len(zh) == 21128
assert zh.tokenize("我爱北京天安门") == list("我爱北京天安门")
print(zh.tokenize("我用MindSpore训练BERT"))

# %% [markdown]
# ### Same ids as Hugging Face
#
# Our tokenizer is written from scratch, so we check it against Hugging Face's Rust tokenizer on real
# State of the Union sentences and Chinese news text: the ids must be identical.

# %%
from tokenizers import BertWordPieceTokenizer

from bert_ms.bert import tokenization as vocab

n_check = settings.pick(100, 2000)
sents = [s for d in data.load_sotu("dev") for s in d][:n_check]
hf = BertWordPieceTokenizer(str(vocab.bert_base_uncased_vocab()), lowercase=True)
same = sum(tok.encode(s).input_ids == e.ids for s, e in zip(sents, hf.encode_batch(sents)))
hf_zh = BertWordPieceTokenizer(str(vocab.bert_base_chinese_vocab()), lowercase=True)
zh_sents = data.load_peoples_daily(max_lines=n_check)
same_zh = sum(zh.encode(s).input_ids == e.ids for s, e in zip(zh_sents, hf_zh.encode_batch(zh_sents)))
print(f"English: {same}/{len(sents)} identical, Chinese: {same_zh}/{len(zh_sents)} identical")
assert same == len(sents) and same_zh == len(zh_sents)

# %% [markdown]
# ## 4. `[CLS]`, `[SEP]` and segment ids
#
# A BERT input is one sequence, even for a sentence pair:
#
# * `[CLS]` (classification token) comes first; its final hidden state is the summary used for
#   NSP and for sentence classification;
# * `[SEP]` closes each segment;
# * segment ids (token type ids) say which sentence a token belongs to: 0 for `[CLS]`, A and the
#   first `[SEP]`; 1 for B and the last `[SEP]`;
# * position ids are simply 0, 1, 2, ...
#
# The three id rows below are what the embedding layer receives.

# %%
enc = paper
positions = list(range(len(enc.tokens)))
rows = [("token", enc.tokens), ("segment", [f"E_{'A' if s == 0 else 'B'}" for s in enc.token_type_ids]),
        ("position", [f"E_{p}" for p in positions])]
fig, ax = plt.subplots(figsize=(11, 2.4))
colors = {"token": "#fde9c9", "segment": "#d9ead3", "position": "#dbe5f1"}
for r, (name, cells) in enumerate(rows):
    y = 2 - r
    ax.text(-0.7, y, name, ha="right", va="center", fontsize=10)
    for c, label in enumerate(cells):
        ax.add_patch(plt.Rectangle((c - 0.45, y - 0.35), 0.9, 0.7, color=colors[name]))
        ax.text(c, y, label, ha="center", va="center", fontsize=8)
ax.set_xlim(-3, len(enc.tokens))
ax.set_ylim(-0.6, 2.6)
ax.axis("off")
ax.set_title("BERT input = token + segment + position embeddings (Figure 2 of the paper)")
plt.show()

# %% [markdown]
# ## 5. Token + segment + position embeddings (三种嵌入相加)
#
# Each id row indexes its own embedding table; the three vectors are **added** (not concatenated),
# then layer-normalised (LayerNorm) in the real model. BERT-base uses tables of 30,522 × 768,
# 2 × 768 and 512 × 768; here a hidden size of 16 keeps things small. Position embeddings are
# *learned* in BERT, not the sinusoids of the original Transformer.

# %%
import mindspore as ms
from mindspore import nn

hidden = 16
token_emb = nn.Embedding(len(small), hidden)
segment_emb = nn.Embedding(2, hidden)
position_emb = nn.Embedding(512, hidden)

ids = ms.Tensor(np.array([enc.input_ids], dtype=np.int32))
seg = ms.Tensor(np.array([enc.token_type_ids], dtype=np.int32))
pos = ms.Tensor(np.arange(len(enc.input_ids), dtype=np.int32)[None, :])
summed = token_emb(ids) + segment_emb(seg) + position_emb(pos)
print("input ids", ids.shape, "-> embeddings", summed.shape)
assert summed.shape == (1, 11, hidden)
# the sum for "##ing" (position 9, segment B) is exactly the three table rows added
manual = (token_emb.embedding_table.asnumpy()[enc.input_ids[9]] + segment_emb.embedding_table.asnumpy()[1]
          + position_emb.embedding_table.asnumpy()[9])
assert np.allclose(summed.asnumpy()[0, 9], manual, atol=1e-6)

# %% [markdown]
# ## 6. Masked language model: the 80/10/10 rule (掩码策略)
#
# BERT picks **15 %** of the tokens (never `[CLS]`, `[SEP]` or padding) and asks the model to predict
# the originals. Of the chosen tokens (Section 3.1, Task #1):
#
# * **80 %** become `[MASK]`;
# * **10 %** become a random token;
# * **10 %** stay unchanged.
#
# Why not always `[MASK]`? `[MASK]` never appears when fine-tuning, so the model must also produce good
# representations for real tokens; the random 10 % keeps it from trusting the input blindly.

# %%
rng = np.random.default_rng(0)
pair_tokens = tok.encode("the man went to the store to buy a gallon of milk",
                         "he bought a gallon of milk and some bread").tokens
masked, where, labels = pretraining.create_masked_lm_predictions(pair_tokens, tok.vocab, rng)
print(" ".join(masked))
print("positions:", where, "labels:", labels)
assert all(pair_tokens[p] not in ("[CLS]", "[SEP]") for p in where)

# %%
n_draws = settings.pick(2_000, 20_000)
counts = {"[MASK]": 0, "random": 0, "unchanged": 0}
n_chosen = n_candidates = 0
for _ in range(n_draws):
    out, where, labels = pretraining.create_masked_lm_predictions(pair_tokens, tok.vocab, rng)
    n_chosen += len(where)
    n_candidates += len(pair_tokens) - 3
    for p, label in zip(where, labels):
        counts["[MASK]" if out[p] == "[MASK]" else "unchanged" if out[p] == label else "random"] += 1
shares = {k: v / n_chosen for k, v in counts.items()}
print(f"masked fraction {n_chosen / n_candidates:.4f} over {n_draws} draws;",
      {k: round(v, 4) for k, v in shares.items()})
tol = 4 * np.sqrt(0.8 * 0.2 / n_chosen)  # four standard errors
assert abs(n_chosen / n_candidates - 0.15) < 0.01
assert abs(shares["[MASK]"] - 0.8) < tol and abs(shares["random"] - 0.1) < tol and abs(shares["unchanged"] - 0.1) < tol
plt.figure(figsize=(4, 2.5))
plt.bar(list(shares), list(shares.values()), color=["#e06666", "#f6b26b", "#93c47d"])
plt.axhline(0.8, ls=":", c="k")
plt.axhline(0.1, ls=":", c="k")
plt.title("what happens to a chosen token")
plt.show()

# %% [markdown]
# ### Whole-word masking (全词掩码)
#
# Masking `##ing` alone while `play` stays visible makes the task too easy. Whole-word masking
# (released by Google in 2019, and the idea behind Chinese BERT-wwm) chooses whole words: all pieces of
# a word are masked together. `span="geometric"` goes further with SpanBERT's contiguous spans.

# %%
words_tokens = ["[CLS]"] + tok.tokenize("tokenization of unaffable embeddings") + ["[SEP]"]
out, where, _ = pretraining.create_masked_lm_predictions(words_tokens, tok.vocab, np.random.default_rng(3),
                                                         masked_lm_prob=0.5, whole_word=True)
print(words_tokens)
print(out)
for p in where:  # a chosen continuation piece always comes with the rest of its word
    start = p
    while words_tokens[start].startswith("##"):
        start -= 1
    assert start in where

# %% [markdown]
# ## 7. Sentence pairs for next sentence prediction (下一句预测)
#
# Half of the pairs are **IsNext** (B really follows A in the same document), half **NotNext** (B is
# taken from a *different* document). The State of the Union corpus keeps document boundaries for
# exactly this reason.

# %%
docs = data.load_sotu("dev")[: settings.pick(4, 23)]
pairs = pretraining.create_pretraining_pairs(docs, tok, max_seq_length=64, rng=np.random.default_rng(0))
is_next = [p for p in pairs if p.label == 0]
not_next = [p for p in pairs if p.label == 1]
print(f"{len(pairs)} pairs, IsNext share {len(is_next) / len(pairs):.3f}")
print("IsNext :", " ".join(is_next[0].tokens))
print("NotNext:", " ".join(not_next[0].tokens))
assert all(p.doc_a != p.doc_b for p in not_next) and all(p.doc_a == p.doc_b for p in is_next)
assert abs(len(is_next) / len(pairs) - 0.5) < (0.1 if settings.smoke() else 0.05)

# %% [markdown]
# ## Exercises (练习)
#
# 1. Find three English words that the real vocabulary splits into 4 or more pieces. Does the split
#    follow morphology (prefixes, stems, suffixes)? Try `tok.wordpiece_tokenizer.trace(word)`.
# 2. Train your own vocabulary with `bert_ms.tokenization.train_wordpiece_vocab` on State of the Union
#    sentences with `vocab_size` 2,000 and 8,000. How many tokens does the average sentence take with
#    each, and with the 30,522-token bert-base vocabulary?
# 3. Change `masked_lm_prob` to 0.4 and re-run the 80/10/10 measurement. Which shares change and which
#    stay the same? Then compare `whole_word=True` with `span="geometric"` on a long sentence.
