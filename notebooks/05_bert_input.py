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
# # 05 · BERT input (BERT 的输入表示)
#
# Before BERT sees a sentence, the text goes through three steps (Devlin et al., 2019, Section 3
# "Input/Output Representations" and Figure 2):
#
# 1. **WordPiece tokenization (WordPiece 分词)**: text → sub-word tokens from a fixed vocabulary
#    (词表) of about 30,000 pieces (21,128 for Chinese);
# 2. **special tokens (特殊符号)** `[CLS]` and `[SEP]` and **segment ids (句子编号)** mark the
#    sentence pair;
# 3. **token + segment + position embeddings (词嵌入 + 句子嵌入 + 位置嵌入)** are summed into the
#    vector the first Transformer layer reads.
#
# Pretraining then hides some tokens for the **masked language model (掩码语言模型, MLM)** and
# pairs sentences for **next sentence prediction (下一句预测, NSP)**. We write the tokenizer and the
# input rows by hand in this notebook, English and Chinese, and prove them equal to
# `bert_ms.bert.tokenization` and to Hugging Face's `tokenizers` on thousands of real sentences; then
# we use the package.
#
# Course: step_into_llm, Season 1, lecture 2 "BERT" (`2.BERT/bert_introduction.ipynb`, whose figure
# `bert-input.png` is Figure 2 of the paper). Pictures: the input rows of an English and of a
# Chinese pair, the characters that bert-base-chinese cannot represent, the 80/10/10 rule measured,
# and Chinese whole-word masking (5 figures).

# %%
from bert_ms import device, settings

dev = device.setup(seed=0)

# %%
import unicodedata

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import font_manager

from bert_ms import data
from bert_ms.bert import masking, pretraining
from bert_ms.bert import tokenization as ref
from bert_ms.bert.tokenization import BertTokenizer

# %% [markdown]
# ## 1. Step one: the basic tokenizer (基础分词)
#
# Before looking at the vocabulary, BERT's tokenizer (google-research/bert `tokenization.py`):
#
# * removes control characters and turns every kind of whitespace into a space;
# * puts spaces around each Chinese character (汉字, the CJK Unified Ideographs blocks), so each
#   becomes its own word: **Chinese BERT reads characters, not words**;
# * for an *uncased* model: lower-cases and strips accents (Unicode NFD, then drop the combining marks);
# * splits every punctuation mark off as its own token. BERT's punctuation is every Unicode `P*`
#   character **plus all non-alphanumeric ASCII**, so `$` and `+` count too.

# %%
CJK = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
       (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]


def is_cjk(ch):
    return any(lo <= ord(ch) <= hi for lo, hi in CJK)


def is_punctuation(ch):
    cp = ord(ch)
    ascii_symbol = 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126
    return ascii_symbol or unicodedata.category(ch).startswith("P")


def is_dropped(ch):  # NUL, the replacement character, and control/format characters (but not \t \n \r)
    return ord(ch) in (0, 0xFFFD) or (unicodedata.category(ch).startswith("C") and ch not in "\t\n\r")


def basic_tokenize(text, lower=True):
    text = "".join(" " if ch.isspace() else ch for ch in text if not is_dropped(ch))
    text = "".join(f" {ch} " if is_cjk(ch) else ch for ch in text)
    words = []
    for word in text.split():
        if lower:
            word = "".join(ch.lower() for ch in word)  # character by character, as HF's Rust code does
            word = "".join(ch for ch in unicodedata.normalize("NFD", word) if unicodedata.category(ch) != "Mn")
        piece = ""
        for ch in word:  # split every punctuation mark off
            if is_punctuation(ch):
                words += [piece, ch] if piece else [ch]
                piece = ""
            else:
                piece += ch
        if piece:
            words.append(piece)
    return words


text = "UNwant\u00e9d, running! It costs $5+tax. 我爱北京"
words = basic_tokenize(text)
print(words)
assert words == ["unwanted", ",", "running", "!", "it", "costs", "$", "5", "+", "tax", ".", "我", "爱", "北", "京"]

n_check = settings.pick(200, 2000)
english = [s for d in data.load_sotu("dev") for s in d][:n_check]
chinese = data.load_peoples_daily(max_lines=n_check)
basic = ref.BasicTokenizer(do_lower_case=True)
for s in [text, *english, *chinese]:
    assert basic_tokenize(s) == basic.tokenize(s), s
print(f"ours == bert_ms BasicTokenizer on {len(english)} English and {len(chinese)} Chinese sentences")

# %% [markdown]
# ## 2. Step two: greedy longest-match-first WordPiece (贪心最长匹配)
#
# Each word is split into vocabulary pieces, left to right: take the **longest prefix that is in
# the vocabulary**, then the longest continuation of the rest, and so on. Continuation pieces are
# written with a `##` prefix, so `##ing` ("ing" inside a word) and `ing` (a word on its own) are
# different tokens. If some part of a word matches nothing, the **whole word** becomes `[UNK]`.

# %%
def wordpiece(word, vocab, show=False):
    pieces, start = [], 0
    while start < len(word):
        for end in range(len(word), start, -1):  # the longest candidate first
            piece = ("##" if start > 0 else "") + word[start:end]
            if show:
                print(f"  try {piece:12s} {'<- in the vocabulary' if piece in vocab else ''}")
            if piece in vocab:
                break
        else:  # no candidate matched
            return ["[UNK]"]
        pieces.append(piece)
        start = end
    return pieces


# %% [markdown]
# First with google-research/bert's own 11-token test vocabulary (`tokenization_test.py`):

# %%
toy_vocab = {"[UNK]", "[CLS]", "[SEP]", "want", "##want", "##ed", "wa", "un", "runn", "##ing", ","}
toy = [p for w in basic_tokenize("UNwant\u00e9d,running") for p in wordpiece(w, toy_vocab)]
print(toy)
assert toy == ["un", "##want", "##ed", ",", "runn", "##ing"]
assert wordpiece("unwantedx", toy_vocab) == ["[UNK]"]  # no piece matches "x": the whole word is unknown

# %% [markdown]
# The real bert-base-uncased vocabulary (30,522 tokens) is read in place from an installed package.
# Watch the search for "unaffable": it tries ever shorter prefixes until one is in the vocabulary.

# %%
tok = BertTokenizer.bert_base_uncased()
zh = BertTokenizer.bert_base_chinese()
print("vocabulary sizes: English", len(tok), " Chinese", len(zh))
assert len(tok) == 30522 and len(zh) == 21128
pieces = wordpiece("unaffable", tok.vocab, show=True)
print("unaffable ->", pieces)
assert pieces == tok.wordpiece_tokenizer.tokenize_word("unaffable") and len(pieces) > 1
assert "".join(p.removeprefix("##") for p in pieces) == "unaffable"

# %% [markdown]
# ### The whole tokenizer, checked against `bert_ms` and Hugging Face
#
# Basic tokenization then WordPiece, then one id per token (its line number in `vocab.txt`; a token
# that is not in the vocabulary can only be `[UNK]`). Hugging Face's `tokenizers` is written in Rust
# by other people, so agreeing with it on thousands of real sentences, English and Chinese, is a
# strong test of our fifteen lines.

# %%
from tokenizers import BertWordPieceTokenizer


def tokenize(text, vocab):
    return [p for word in basic_tokenize(text) for p in wordpiece(word, vocab)]


def to_ids(tokens, vocab):
    return [vocab[t] for t in tokens]


hf = BertWordPieceTokenizer(str(ref.bert_base_uncased_vocab()), lowercase=True)
hf_zh = BertWordPieceTokenizer(str(ref.bert_base_chinese_vocab()), lowercase=True)
for name, sents, t, h in (("English", english, tok, hf), ("Chinese", chinese, zh, hf_zh)):
    ours = [to_ids(["[CLS]", *tokenize(s, t.vocab), "[SEP]"], t.vocab) for s in sents]
    package = [t.encode(s).input_ids for s in sents]
    rust = [e.ids for e in h.encode_batch(sents)]
    n_same = sum(a == b == c for a, b, c in zip(ours, package, rust))
    print(f"{name}: {n_same}/{len(sents)} sentences with identical ids (ours, bert_ms, Hugging Face)")
    assert n_same == len(sents)

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
assert paper.tokens[-4:] == ["likes", "play", "##ing", "[SEP]"] and len(paper.tokens) == 11

# %% [markdown]
# ### Words the real vocabulary *does* split
#
# Rare words, technical terms and names are split into pieces. No word is ever out of vocabulary
# unless one of its characters is unknown (or the word is absurdly long: exercise 5.1): that is why
# WordPiece covers an open vocabulary with 30k entries.

# %%
for w in ["embeddings", "tokenization", "mindspore", "transformers", "bidirectional", "huggingface"]:
    print(f"{w:15s} -> {wordpiece(w, tok.vocab)}")
assert wordpiece("embeddings", tok.vocab) == ["em", "##bed", "##ding", "##s"]
assert all(len(wordpiece(w, tok.vocab)) > 1 for w in ["tokenization", "mindspore", "huggingface"])

# %% [markdown]
# ## 4. Chinese: one character, one token (字)
#
# bert-base-chinese (21,128 tokens) relies on the basic tokenizer's CJK rule: every Chinese character
# is its own word, so Chinese is modelled **character by character**, and WordPiece never has to
# split a Chinese word. Latin words inside Chinese text still get WordPiece pieces. The vocabulary
# holds 7,322 Chinese characters, each also as a `##` continuation; they were chosen by frequency
# ("the top 8000 characters are character-tokenized, other characters are mapped to [UNK]", Jacob
# Devlin in google-research/bert issue #65), so a rare character is `[UNK]`.

# %%
print(tokenize("我爱北京天安门", zh.vocab))
print(tokenize("我用MindSpore训练BERT", zh.vocab))
assert tokenize("我爱北京天安门", zh.vocab) == list("我爱北京天安门")
cjk_chars = [t for t in zh.vocab if len(t) == 1 and is_cjk(t)]
assert len(cjk_chars) == 7322 and all(f"##{c}" in zh.vocab for c in cjk_chars)

# Figures: device.setup() registered the course's pinned Chinese font, Noto Sans SC (SIL OFL 1.1, from the
# locked package pylopdf-fonts-zh-cn; bert_ms.runtime.fonts), as matplotlib's fallback for the glyphs
# DejaVu Sans lacks, so Chinese characters are drawn on any machine, with or without a system CJK font.
from bert_ms.runtime import fonts

assert fonts.FAMILY in {f.name for f in font_manager.fontManager.ttflist}
print("Chinese font for figures:", fonts.FAMILY)

# %% [markdown]
# ### Why does "——" become `[UNK]`?
#
# The first line of our People's Daily sample (人民日报, January 1998) has two `[UNK]`:

# %%
headline = chinese[0]
print(headline)
print(tokenize(headline, zh.vocab))
assert tokenize(headline, zh.vocab).count("[UNK]") == 2

# %% [markdown]
# The dash "——" (破折号) is written with two **EM DASH** characters (U+2014). U+2014 is Unicode
# punctuation (category `Pd`), so the basic tokenizer splits "——" into two one-character words;
# and "—" is **not in the bert-base-chinese vocabulary**, not even as `##—`, so each is `[UNK]`. It is
# not alone: the curly quotation marks “ ” ‘ ’ (引号) and the ellipsis … (省略号), the other
# Chinese punctuation marks that Unicode places in its General Punctuation block, are missing too,
# while the full-width forms (，：（）！？) and the CJK punctuation 、。《》「」 are there. The English
# bert-base-uncased vocabulary does have "—" and the curly quotes. Google's release does not say why
# (the Chinese-BERT-wwm and MacBERT models reuse the same vocabulary and inherit the gap); what we can
# measure is how much of the `[UNK]` in real Chinese text it explains:

# %%
missing = ["—", "“", "”", "‘", "’", "…"]
print({m: unicodedata.name(m) for m in missing})
assert basic_tokenize("——") == ["—", "—"] and all(unicodedata.category(m).startswith("P") for m in missing)
assert not any(m in zh.vocab or f"##{m}" in zh.vocab for m in missing)
assert all(m in tok.vocab for m in ["—", "“", "”", "…"])  # the English vocabulary has them
assert all(c in zh.vocab for c in "，：（）！？、。《》「」")

unk_sources = {}
n_tokens = 0
for s in chinese:
    for w in basic_tokenize(s):
        pieces = wordpiece(w, zh.vocab)
        n_tokens += len(pieces)
        if pieces == ["[UNK]"]:
            unk_sources[w] = unk_sources.get(w, 0) + 1
n_unk = sum(unk_sources.values())
from_marks = sum(unk_sources.get(m, 0) for m in missing)
print(f"{n_unk} [UNK] in {n_tokens} tokens of {len(chinese)} lines; {from_marks / n_unk:.1%} of them are the six marks")
print("other [UNK] words:", sorted((w for w in unk_sources if w not in missing), key=unk_sources.get, reverse=True)[:10])
assert from_marks / n_unk > 0.99  # the rest are rare characters outside the 7,322

top = sorted(unk_sources.items(), key=lambda kv: -kv[1])[:10]
plt.figure(figsize=(7, 2.8))
plt.bar([f"{w}\nU+{ord(w[0]):04X}" for w, _ in top], [c for _, c in top],
        color=["#e06666" if w in missing else "#999999" for w, _ in top])
plt.ylabel("[UNK] count")
plt.title(f"what becomes [UNK] in {len(chinese)} lines of People's Daily (bert-base-chinese)")
plt.show()

# %% [markdown]
# The model was pretrained with this vocabulary, so it saw these marks as `[UNK]` as well: for
# classification that matters little, but a task that must reproduce the text (error correction,
# generation) loses them. The usual remedies: map them to marks the vocabulary has before tokenizing
# (e.g. “ ” → ", — → -), or give them the `[unusedN]` slots (this vocabulary has 99) and fine-tune.

# %%
assert sum(t.startswith("[unused") for t in zh.vocab) == 99
normalised = headline.replace("—", "-")
print(tokenize(normalised, zh.vocab)[8:14])
assert "[UNK]" not in tokenize(normalised, zh.vocab)

# %% [markdown]
# ## 5. `[CLS]`, `[SEP]`, segment ids and position ids, by hand
#
# A BERT input is one sequence, even for a sentence pair:
#
# * `[CLS]` (classification token) comes first. Its final hidden state $C$ is what the NSP head reads
#   in pretraining and what a classifier reads after fine-tuning (section 3: "used as the aggregate
#   sequence representation for classification tasks"). It is **not** a ready-made summary of the
#   sentence: the paper warns that "the vector C is not a meaningful sentence representation without
#   fine-tuning, since it was trained with NSP" (section 3.1). It becomes useful once the whole
#   model is fine-tuned on a task (lesson 08);
# * `[SEP]` closes each segment;
# * segment ids (token type ids) say which sentence a token belongs to: 0 for `[CLS]`, A and the
#   first `[SEP]`; 1 for B and the last `[SEP]`;
# * position ids are simply 0, 1, 2, ... (BERT learns one vector per position, up to 512);
# * a batch is padded with `[PAD]` to one length; the **attention mask (注意力掩码)** is 1 for real
#   tokens and 0 for `[PAD]`, and becomes the additive padding mask of lesson 04.

# %%
def bert_inputs(tokens_a, tokens_b=None, max_len=None):
    tokens = ["[CLS]", *tokens_a, "[SEP]"]
    segments = [0] * len(tokens)
    if tokens_b is not None:
        tokens += [*tokens_b, "[SEP]"]
        segments += [1] * (len(tokens_b) + 1)
    mask = [1] * len(tokens)
    n_pad = 0 if max_len is None else max_len - len(tokens)
    tokens, segments, mask = tokens + ["[PAD]"] * n_pad, segments + [0] * n_pad, mask + [0] * n_pad
    return tokens, segments, list(range(len(tokens))), mask


pairs = [(tok, "my dog is cute", "he likes playing"), (small, "my dog is cute", "he likes playing"),
         (zh, "我爱北京天安门", "天安门上太阳升"), (zh, chinese[1], chinese[2])]
pairs += [(tok, a, b) for a, b in zip(english[: n_check // 2], english[1: n_check // 2 + 1])]
for t, a, b in pairs:
    max_len = len(t.tokenize(a)) + len(t.tokenize(b)) + 3 + 4  # room for 4 [PAD]
    tokens, segments, positions, mask = bert_inputs(tokenize(a, t.vocab), tokenize(b, t.vocab), max_len)
    enc = t.encode(a, b, max_length=max_len, padding=True)
    assert (tokens, to_ids(tokens, t.vocab), segments, mask) == (enc.tokens, enc.input_ids, enc.token_type_ids,
                                                                 enc.attention_mask)
    assert positions == list(range(max_len))
print(f"ours == bert_ms BertTokenizer.encode on {len(pairs)} sentence pairs (tokens, ids, segments, mask)")
zh_tokens, zh_segments, zh_positions, zh_mask = bert_inputs(tokenize("我爱北京天安门", zh.vocab),
                                                            tokenize("天安门上太阳升", zh.vocab), max_len=20)
print(zh_tokens, zh_segments, zh_mask, sep="\n")

# %% [markdown]
# The id rows below are what the embedding layer receives (Figure 2 of the paper), for the paper's
# English pair and for a Chinese pair.

# %%
def draw_rows(tokens, segments, title):
    rows = [("token", list(tokens)), ("segment", [f"E_{'A' if s == 0 else 'B'}" for s in segments]),
            ("position", [f"E_{p}" for p in range(len(tokens))])]
    colors = {"token": "#fde9c9", "segment": "#d9ead3", "position": "#dbe5f1"}
    fig, ax = plt.subplots(figsize=(0.75 * len(tokens) + 2, 2.4))
    for r, (name, cells) in enumerate(rows):
        y = 2 - r
        ax.text(-0.7, y, name, ha="right", va="center", fontsize=10)
        for c, label in enumerate(cells):
            ax.add_patch(plt.Rectangle((c - 0.45, y - 0.35), 0.9, 0.7, color=colors[name]))
            ax.text(c, y, label, ha="center", va="center", fontsize=8)
    ax.set_xlim(-3, len(tokens))
    ax.set_ylim(-0.6, 2.6)
    ax.axis("off")
    ax.set_title(title)
    plt.show()


paper_tokens, paper_segments, _, _ = bert_inputs(["my", "dog", "is", "cute"], ["he", "likes", "play", "##ing"])
assert paper_tokens == paper.tokens and paper_segments == paper.token_type_ids
draw_rows(paper_tokens, paper_segments, "BERT input = token + segment + position embeddings (Figure 2 of the paper)")
n_real = sum(zh_mask)
draw_rows(zh_tokens[:n_real], zh_segments[:n_real], "the same rows for a Chinese pair (one token per character)")

# %% [markdown]
# ## 6. Token + segment + position embeddings (三种嵌入相加)
#
# Each id row indexes its own embedding table; the three vectors are **added** (not concatenated),
# then layer-normalised (LayerNorm) in the real model. BERT-base uses tables of 30,522 × 768,
# 2 × 768 and 512 × 768; here a hidden size of 16 keeps things small. Position embeddings are
# *learned* in BERT, not the sinusoids of the original Transformer. Lesson 06 builds
# `BertEmbeddings` (sum, LayerNorm, dropout) and checks it against `bert_ms`.

# %%
import mindspore as ms
from mindspore import nn

hidden = 16
token_emb = nn.Embedding(len(small), hidden)
segment_emb = nn.Embedding(2, hidden)
position_emb = nn.Embedding(512, hidden)

enc = paper
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
# ## 7. Masked language model: the 80/10/10 rule (掩码策略)
#
# **Why mask at all?** GPT is **autoregressive (自回归)**: it predicts the next token from the tokens
# to its left, and the causal mask of lesson 04 keeps it from peeking. BERT wants every layer to see
# the left *and* the right context (bidirectional, 双向). A bidirectional model cannot be trained to
# predict the next word, because each word would "see itself" through the other positions after a
# single layer. So BERT corrupts the input and reconstructs it, an **autoencoding (自编码)**
# (denoising) objective: the masked language model, the "cloze" task of section 3.1.
#
# BERT picks **15 %** of the tokens (never `[CLS]`, `[SEP]` or padding) and asks the model to predict
# the originals. Of the chosen tokens (Section 3.1, Task #1):
#
# * **80 %** become `[MASK]`;
# * **10 %** become a random token;
# * **10 %** stay unchanged.
#
# Why not always `[MASK]`? `[MASK]` never appears when fine-tuning, so the model must also produce good
# representations for real tokens; the random 10 % keeps it from trusting the input blindly. Lesson 07
# writes the 15 % / 80/10/10 masking and the NSP pair builder itself and proves both equal to the
# package's; here we measure the package's.

# %%
rng = np.random.default_rng(0)
pair_tokens = tok.encode("the man went to the store to buy a gallon of milk",
                         "he bought a gallon of milk and some bread").tokens
masked, where, labels = masking.create_masked_lm_predictions(pair_tokens, tok.vocab, rng)
print(" ".join(masked))
print("positions:", where, "labels:", labels)
assert all(pair_tokens[p] not in ("[CLS]", "[SEP]") for p in where)

# %%
n_draws = settings.pick(2_000, 20_000)
counts = {"[MASK]": 0, "random": 0, "unchanged": 0}
n_chosen = n_candidates = 0
for _ in range(n_draws):
    out, where, labels = masking.create_masked_lm_predictions(pair_tokens, tok.vocab, rng)
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
# ### Whole-word masking (全词掩码), English and Chinese
#
# Masking `##ing` alone while `play` stays visible makes the task too easy. Whole-word masking
# (released by Google in 2019) chooses whole words: all pieces of a word are masked together; the
# groups are the word's first piece and the `##` pieces that follow it (exercise 5.3).

# %%
words_tokens = ["[CLS]"] + tok.tokenize("tokenization of unaffable embeddings") + ["[SEP]"]
out, where, _ = masking.create_masked_lm_predictions(words_tokens, tok.vocab, np.random.default_rng(3),
                                                         masked_lm_prob=0.5, whole_word=True)
print(words_tokens)
print(out)
for p in where:  # a chosen continuation piece always comes with the rest of its word
    start = p
    while words_tokens[start].startswith("##"):
        start -= 1
    assert start in where

# %% [markdown]
# In Chinese every character is a token and there are no `##` pieces to group, so "whole words" must
# come from a **word segmenter (分词)**. That is Chinese BERT-wwm (Cui et al. 2019, segmenting with
# LTP): the characters of one word are masked together. Our People's Daily sample is segmented by
# hand, so we pass each character's word index as `word_ids`. In the printed line ■ is `[MASK]`; a chosen
# character can also become a random token from the whole vocabulary or stay as it is (the 80/10/10 rule).

# %%
segmented = data.load_peoples_daily(max_lines=4, keep_tags=True)[3]  # [(word, POS tag), ...]
zh_wwm_tokens, word_ids = ["[CLS]"], [-1]
for i, (word, _) in enumerate(segmented):
    pieces = tokenize(word, zh.vocab)
    zh_wwm_tokens += pieces
    word_ids += [i] * len(pieces)
zh_wwm_tokens, word_ids = zh_wwm_tokens + ["[SEP]"], word_ids + [-1]
out, where, _ = masking.create_masked_lm_predictions(zh_wwm_tokens, zh.vocab, np.random.default_rng(1),
                                                         masked_lm_prob=0.3, word_ids=word_ids)
print(" ".join(w for w, _ in segmented))
print("".join(t if t != "[MASK]" else "■" for t in out[1:-1]))
chosen_words = {word_ids[p] for p in where}
for w in chosen_words:  # every character of a chosen word is chosen
    assert all(p in where for p, wid in enumerate(word_ids) if wid == w)
assert any(sum(wid == w for wid in word_ids) > 1 for w in chosen_words)  # at least one multi-character word

fig, ax = plt.subplots(figsize=(0.45 * len(zh_wwm_tokens), 1.4))
for p, t in enumerate(zh_wwm_tokens):
    color = "#e06666" if p in where else ("#dddddd" if word_ids[p] % 2 else "#f4f4f4")
    ax.add_patch(plt.Rectangle((p - 0.45, -0.4), 0.9, 0.8, color=color))
    label = t[1:4] if word_ids[p] < 0 else f"{t}\n{word_ids[p]}"
    ax.text(p, 0, label, ha="center", va="center", fontsize=7)
ax.set_xlim(-1, len(zh_wwm_tokens))
ax.set_ylim(-0.6, 0.6)
ax.axis("off")
ax.set_title("Chinese whole-word masking: one box per character, labelled with its word index; red = chosen")
plt.show()

# %% [markdown]
# ## 8. Sentence pairs for next sentence prediction (下一句预测)
#
# Half of the pairs are **IsNext** (B really follows A in the same document), half **NotNext** (B is
# taken from a *different* document). The State of the Union corpus keeps document boundaries for
# exactly this reason. Here the package builds the pairs (lesson 07 writes the builder out).

# %%
docs = data.load_sotu("dev")[: settings.pick(4, 23)]
nsp_pairs = pretraining.create_pretraining_pairs(docs, tok, max_seq_length=64, rng=np.random.default_rng(0))
is_next = [p for p in nsp_pairs if p.label == 0]
not_next = [p for p in nsp_pairs if p.label == 1]
print(f"{len(nsp_pairs)} pairs, IsNext share {len(is_next) / len(nsp_pairs):.3f}")
print("IsNext :", " ".join(is_next[0].tokens))
print("NotNext:", " ".join(not_next[0].tokens))
assert all(p.doc_a != p.doc_b for p in not_next) and all(p.doc_a == p.doc_b for p in is_next)
assert abs(len(is_next) / len(nsp_pairs) - 0.5) < (0.1 if settings.smoke() else 0.05)

# %% [markdown]
# ## Exercises (练习)
#
# Each exercise is a function (or a number) you write in the cell under it; the check runs it on fresh
# random inputs against `bert_ms` and says what is wrong. Solutions: `solutions/05_bert_input.py`
# (open it after trying). Write them without scrolling up.

# %%
from bert_ms.exercises import check

# %% [markdown]
# **Exercise 5.1 (练习): WordPiece.** `my_wordpiece(word, vocab)` returns the pieces of one (already
# basic-tokenized) word as a list; `vocab` is a set of strings. One rule more than our `wordpiece`
# above, as in google-research/bert (`max_input_chars_per_word`): a word longer than 100 characters is
# `["[UNK]"]` without being split. The check uses random vocabularies, google-research/bert's
# "unwanted running" vocabulary and words of 100 and 101 characters.

# %%
# Exercise 5.1 (练习): greedy longest-match-first WordPiece
def my_wordpiece(word, vocab):
    raise NotImplementedError  # your code here


check.wordpiece(my_wordpiece)

# %% [markdown]
# **Exercise 5.2 (练习): the input rows.** `my_inputs(tokens_a, tokens_b, max_len)` returns four lists
# of length `max_len`: tokens, segment ids, position ids and the attention mask (`tokens_b` may be
# `None`). The tokens always fit in `max_len`, sometimes exactly (no `[PAD]` at all); cutting a pair
# that is too long is lesson 07's business.

# %%
# Exercise 5.2 (练习): [CLS], [SEP], segments, positions, padding
def my_inputs(tokens_a, tokens_b, max_len):
    raise NotImplementedError  # your code here


check.bert_inputs(my_inputs)

# %% [markdown]
# **Exercise 5.3 (练习): whole-word groups.** `my_groups(tokens)` returns the groups whole-word masking
# chooses from: lists of positions, a word's first piece with the `##` pieces that follow it; `[CLS]`,
# `[SEP]` and `[PAD]` are in no group.

# %%
# Exercise 5.3 (练习): whole-word groups
def my_groups(tokens):
    raise NotImplementedError  # your code here


check.whole_word_groups(my_groups)

# %% [markdown]
# **Exercise 5.4 (练习): `[UNK]` in Chinese.** Without running the tokenizer, how many `[UNK]` tokens
# does bert-base-chinese give for `“我们——来了……”他说。`? Then check your reasoning with `zh.tokenize`.

# %%
# Exercise 5.4 (练习): a number
n_unk = None  # your answer

check.zh_unk_count(n_unk)

# %% [markdown]
# ### Going further (no check)
#
# * Find three English words that the real vocabulary splits into 4 or more pieces. Does the split
#   follow morphology (prefixes, stems, suffixes)? `wordpiece(word, tok.vocab, show=True)` shows the search.
# * Train your own vocabulary with `bert_ms.bert.vocab_training.train_wordpiece_vocab` on State of the Union
#   sentences with `vocab_size` 2,000 and 8,000 (a few seconds each). How many tokens does the average
#   sentence take with each, and with the 30,522-token bert-base vocabulary?
# * Change `masked_lm_prob` to 0.4 and re-run the 80/10/10 measurement. Which shares change and which
#   stay the same? Then compare `whole_word=True` with `span="geometric"` on a long sentence.
