"""Pretraining examples: the 15 % / 80-10-10 masking rule, NSP/SOP pairs, fixed shapes, the dataset pipeline.

Every statistical claim is checked over >= 10,000 seeded draws.
"""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from bert_ms import data
from bert_ms.bert import masking
from bert_ms.bert import pretraining as pt
from bert_ms.bert.tokenization import SPECIAL_TOKENS, BertTokenizer

SPECIALS = {"[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]"}


@pytest.fixture(scope="module")
def tok():
    return BertTokenizer.bert_base_uncased()


@pytest.fixture(scope="module")
def words(tok):
    _, pool = masking.random_token_pool(tok.vocab)
    return [w for w in pool if w.isalpha()]


def random_sequence(rng, words, n_a, n_b, n_pad):
    a = [words[i] for i in rng.integers(len(words), size=n_a)]
    b = [words[i] for i in rng.integers(len(words), size=n_b)]
    return ["[CLS]", *a, "[SEP]", *b, "[SEP]"] + ["[PAD]"] * n_pad


# ---------------------------------------------------------------- masking
def test_masking_rates_over_10000_sequences(tok, words):
    rng = np.random.default_rng(0)
    n_seq, n_cand, n_masked = 10_000, 0, 0
    outcome = {"mask": 0, "random": 0, "same": 0}
    for _ in range(n_seq):
        n_a, n_b = (int(x) for x in rng.integers(3, 20, size=2))
        tokens = random_sequence(rng, words, n_a, n_b, int(rng.integers(0, 5)))
        out, positions, labels = masking.create_masked_lm_predictions(tokens, tok.vocab, rng, 0.15, 20)
        n_cand += n_a + n_b
        n_masked += len(positions)
        assert positions == sorted(set(positions)) and len(positions) <= 20
        for pos, label in zip(positions, labels):
            assert tokens[pos] not in SPECIALS and label == tokens[pos]
            if out[pos] == "[MASK]":
                outcome["mask"] += 1
            elif out[pos] == label:
                outcome["same"] += 1
            else:
                outcome["random"] += 1
                assert out[pos] not in SPECIALS and not out[pos].startswith("[")
        unchosen = [i for i in range(len(tokens)) if i not in positions]
        assert all(out[i] == tokens[i] for i in unchosen)
    assert abs(n_masked / n_cand - 0.15) < 0.005
    assert abs(outcome["mask"] / n_masked - 0.8) < 0.015
    assert abs(outcome["random"] / n_masked - 0.1) < 0.015
    assert abs(outcome["same"] / n_masked - 0.1) < 0.015


def test_max_predictions_cap(tok, words):
    rng = np.random.default_rng(1)
    tokens = random_sequence(rng, words, 100, 100, 0)
    for _ in range(50):
        _, positions, _ = masking.create_masked_lm_predictions(tokens, tok.vocab, rng, 0.15, max_predictions_per_seq=20)
        assert len(positions) == 20  # 15 % of 200 = 30, capped


def test_vectorised_masking_matches_the_rule(tok):
    rng = np.random.default_rng(2)
    n, t = 10_000, 32
    ids = rng.integers(1000, 30000, size=(n, t)).astype(np.int32)
    lengths = rng.integers(8, t + 1, size=n)
    ids[:, 0] = tok.cls_token_id
    for i, length in enumerate(lengths):
        ids[i, length - 1] = tok.sep_token_id
        ids[i, length:] = tok.pad_token_id
    maskable = ~np.isin(ids, [tok.cls_token_id, tok.sep_token_id, tok.pad_token_id])
    pool, _ = masking.random_token_pool(tok.vocab)
    out = masking.mask_ids_batch(ids, maskable, rng, tok.mask_token_id, pool, 0.15, 20)
    w = out["masked_lm_weights"].astype(bool)
    assert abs(w.sum() / maskable.sum() - 0.15) < 0.005
    rows = np.repeat(np.arange(n)[:, None], 20, axis=1)
    pos = out["masked_lm_positions"]
    assert maskable[rows[w], pos[w]].all()  # never [CLS]/[SEP]/[PAD]
    assert (out["masked_lm_ids"][w] == ids[rows[w], pos[w]]).all()
    new = out["input_ids"][rows[w], pos[w]]
    labels = out["masked_lm_ids"][w]
    assert abs(np.mean(new == tok.mask_token_id) - 0.8) < 0.015
    assert abs(np.mean(new == labels) - 0.1) < 0.015
    changed = ~w[:, :, None].any(axis=1)  # unchosen positions keep their ids
    keep = np.ones_like(ids, dtype=bool)
    keep[rows[w], pos[w]] = False
    assert (out["input_ids"][keep] == ids[keep]).all() and changed.shape[0] == n


def test_whole_word_masking_masks_every_piece(tok):
    rng = np.random.default_rng(3)
    tokens = ["[CLS]"] + tok.tokenize("the unaffable tokenization of embeddings is surprisingly cute " * 3) + ["[SEP]"]
    word_of = []
    w = -1
    for t in tokens:
        w += 0 if t.startswith("##") else 1
        word_of.append(w)
    for _ in range(500):
        _, positions, _ = masking.create_masked_lm_predictions(tokens, tok.vocab, rng, 0.3, 40, whole_word=True)
        chosen = set(positions)
        for p in positions:
            assert {i for i, x in enumerate(word_of) if x == word_of[p]} <= chosen


def test_span_lengths_follow_spanbert():
    probs = masking.span_length_distribution(0.2, 10)
    assert abs(float((np.arange(1, 11) * probs).sum()) - 3.8) < 0.01  # SpanBERT Section 3.1
    rng = np.random.default_rng(4)
    draws = np.array([masking._span_length(rng, 0.2, 10) for _ in range(10_000)])
    assert draws.min() == 1 and draws.max() == 10 and abs(draws.mean() - 3.8) < 0.08


def test_span_masking_masks_contiguous_whole_words(tok, words):
    rng = np.random.default_rng(5)
    tokens = random_sequence(rng, words, 60, 60, 0)
    total = 0
    for _ in range(300):
        out, positions, _ = masking.create_masked_lm_predictions(tokens, tok.vocab, rng, 0.15, 40, span="geometric")
        total += len(positions)
        assert all(tokens[p] not in SPECIALS for p in positions)
        runs = np.split(np.array(positions), np.where(np.diff(positions) != 1)[0] + 1)
        assert np.mean([len(r) for r in runs]) > 1.5  # spans, not scattered tokens
    assert abs(total / (300 * 120) - 0.15) < 0.01


# ---------------------------------------------------------------- sentence pairs
@pytest.fixture(scope="module")
def docs(tok):
    return pt.tokenize_documents(data.load_sotu("dev") + data.load_sotu("test"), tok)


def test_nsp_pairs_over_10000(docs, tok):
    rng = np.random.default_rng(6)
    pairs = pt.create_pretraining_pairs(docs, tok, 24, rng) + pt.create_pretraining_pairs(docs, tok, 24, rng)
    assert len(pairs) >= 10_000
    labels = np.array([p.label for p in pairs])
    assert abs(labels.mean() - 0.5) < 0.02
    for p in pairs:
        assert p.tokens_a and p.tokens_b and len(p.tokens) <= 24
        assert (p.doc_b != p.doc_a) == (p.label == 1)  # NotNext never from the same document
        seg = p.segment_ids
        assert seg == [0] * (len(p.tokens_a) + 2) + [1] * (len(p.tokens_b) + 1)
    # IsNext: B really follows A in the document (checked on a sample)
    flat = {d: " " + " ".join(t for s in doc for t in s) + " " for d, doc in enumerate(docs)}
    for p in [q for q in pairs if q.label == 0][:200]:
        text = flat[p.doc_a]
        ia = text.find(" " + " ".join(p.tokens_a) + " ")
        ib = text.find(" " + " ".join(p.tokens_b) + " ", max(ia, 0))
        assert ia >= 0 and ib > ia


def test_sop_swaps_half_the_pairs(docs, tok):
    rng = np.random.default_rng(7)
    pairs = pt.create_pretraining_pairs(docs, tok, 24, rng, nsp=False, sop=True)
    labels = np.array([p.label for p in pairs])
    assert len(pairs) > 5000 and abs(labels.mean() - 0.5) < 0.03
    assert all(p.doc_a == p.doc_b for p in pairs)
    flat = {d: " " + " ".join(t for s in doc for t in s) + " " for d, doc in enumerate(docs)}
    for p in pairs[:300]:
        ia = flat[p.doc_a].find(" " + " ".join(p.tokens_a) + " ")
        ib = flat[p.doc_a].find(" " + " ".join(p.tokens_b) + " ")
        assert ia >= 0 and ib >= 0 and (ib < ia) == (p.label == 1)


def test_short_sequences_about_ten_percent(docs, tok):
    rng = np.random.default_rng(8)
    full = pt.create_pretraining_pairs(docs[:10], tok, 128, rng, short_seq_prob=0.0)
    short = pt.create_pretraining_pairs(docs[:10], tok, 128, rng, short_seq_prob=0.5)
    lengths = lambda ps: np.mean([len(p.tokens) for p in ps])
    assert lengths(short) < lengths(full) - 10


def test_pair_errors(tok):
    with pytest.raises(ValueError, match="at least 2"):
        pt.create_pretraining_pairs([["one doc only.", "two sentences."]], tok, 32, 0)
    with pytest.raises(ValueError, match="nsp or sop"):
        pt.create_pretraining_pairs([["a."], ["b."]], tok, 32, 0, nsp=True, sop=True)
    with pytest.raises(TypeError, match="got a str"):
        pt.create_pretraining_pairs(["not a list of sentences"], tok, 32, 0)


# ---------------------------------------------------------------- arrays and pipeline
@pytest.fixture(scope="module")
def arrays(tok):
    return pt.make_pretraining_arrays(data.load_sotu("test")[:8], tok, max_seq_length=48, max_predictions_per_seq=8,
                                      seed=0)


def test_array_shapes_dtypes_and_segments(arrays, tok):
    n = len(arrays["input_ids"])
    assert n > 200
    for name, (shape, dtype) in {"input_ids": ((n, 48), np.int32), "token_type_ids": ((n, 48), np.int32),
                                 "attention_mask": ((n, 48), np.int32), "masked_lm_positions": ((n, 8), np.int32),
                                 "masked_lm_ids": ((n, 8), np.int32), "masked_lm_weights": ((n, 8), np.float32),
                                 "next_sentence_label": ((n,), np.int32)}.items():
        assert arrays[name].shape == shape and arrays[name].dtype == dtype, name
    for row in range(n):
        ids, seg, mask = arrays["input_ids"][row], arrays["token_type_ids"][row], arrays["attention_mask"][row]
        length = int(mask.sum())
        assert (mask[:length] == 1).all() and (ids[length:] == tok.pad_token_id).all() and (seg[length:] == 0).all()
        assert ids[0] == tok.cls_token_id and ids[length - 1] == tok.sep_token_id
        seps = np.where(ids[:length] == tok.sep_token_id)[0]
        assert len(seps) == 2
        assert (seg[:seps[0] + 1] == 0).all() and (seg[seps[0] + 1:length] == 1).all()
        w = arrays["masked_lm_weights"][row]
        k = int(w.sum())
        assert (w[:k] == 1).all() and (w[k:] == 0).all()
        assert k >= 1 or (length - 3) * 0.15 < 1  # only a very short sequence may get no prediction
        pos = arrays["masked_lm_positions"][row][:k]
        assert (pos < length).all() and (np.diff(pos) > 0).all()
        assert not np.isin(arrays["masked_lm_ids"][row][:k], [tok.cls_token_id, tok.sep_token_id, tok.pad_token_id]).any()
        assert (arrays["masked_lm_positions"][row][k:] == 0).all() and (arrays["masked_lm_ids"][row][k:] == 0).all()


def test_dataset_batches_shards_and_dynamic_masking(arrays, tok, tmp_path):
    n = len(arrays["input_ids"])
    seen = []
    for shard in range(2):
        ds = pt.pretraining_dataset(arrays, batch_size=16, shuffle=True, seed=0, num_shards=2, shard_id=shard)
        rows = []
        for batch in ds.create_dict_iterator(output_numpy=True, num_epochs=1):
            assert batch["input_ids"].shape == (16, 48) and batch["masked_lm_weights"].dtype == np.float32
            rows.extend(map(bytes, batch["input_ids"]))
        assert len(rows) == (n // 2) // 16 * 16
        seen.append(set(rows))
    assert not (seen[0] & seen[1])  # data parallel shards are disjoint

    plain = pt.make_pretraining_arrays(data.load_sotu("test")[:4], tok, 48, 8, seed=0, static_masking=False)
    assert plain["masked_lm_weights"].sum() == 0 and not (plain["input_ids"] == tok.mask_token_id).any()
    path = pt.save_arrays(plain, tmp_path / "plain.npz")
    epochs = []
    for _ in range(2):
        ds = pt.pretraining_dataset(path, batch_size=8, shuffle=False, dynamic_masking=True, tokenizer=tok)
        epochs.append(next(ds.create_dict_iterator(output_numpy=True, num_epochs=1)))
    src = pt.PretrainingSource(plain, dynamic_masking=True, seed=0, mask_token_id=tok.mask_token_id,
                               special_ids=[tok.cls_token_id, tok.sep_token_id, tok.pad_token_id],
                               pool_ids=masking.random_token_pool(tok.vocab)[0])
    first, second = src[0], src[0]
    assert not np.array_equal(first[3], second[3]) or not np.array_equal(first[0], second[0])  # new masks per visit
    assert np.array_equal(first[1], plain["token_type_ids"][0]) and first[6] == plain["next_sentence_label"][0]
    assert epochs[0]["masked_lm_weights"].sum() > 0
    np.testing.assert_array_equal(epochs[0]["input_ids"], epochs[1]["input_ids"])  # same seed, same masks
    with pytest.raises(ValueError, match="needs tokenizer"):
        pt.pretraining_dataset(plain, batch_size=8, dynamic_masking=True)


def test_masked_token_baselines_on_a_text_with_a_rule():
    """A toy text "a, 100 + a, a + 1, 50, 50" in which every masked token follows from its neighbours: counting them must
    find every masked token, and the unigram guess only the most frequent one."""
    from bert_ms.bert.pretraining import masked_token_baselines, original_ids

    rng = np.random.default_rng(0)
    a = rng.integers(1, 20, (400, 1))
    rows = np.concatenate([a, 100 + a, a + 1, np.full((400, 1), 50), np.full((400, 1), 50)], axis=1)  # [400, 5]

    def masked(ids, seed):
        r = np.random.default_rng(seed)
        pos = np.full((len(ids), 2), 0)
        pos[:, 0] = 1  # always the rule-determined token
        pos[:, 1] = r.choice([3, 4], len(ids))  # and one of the two 50s
        arrays = {"input_ids": ids.copy(), "masked_lm_positions": pos, "masked_lm_ids": np.take_along_axis(ids, pos, 1),
                  "masked_lm_weights": np.ones(pos.shape, np.float32)}
        np.put_along_axis(arrays["input_ids"], pos, 3, 1)  # 3 = [MASK]
        return arrays

    train, held = masked(rows[:300], 1), masked(rows[300:], 2)
    np.testing.assert_array_equal(original_ids(train), rows[:300])
    res = masked_token_baselines(train, held)
    assert res["masked"] == 200 and res["unigram_id"] == 50
    assert res["unigram"] == pytest.approx(0.5)  # right for every masked 50, wrong for every 100 + a
    assert res["neighbours"] == pytest.approx(1.0)  # (a, a+1) -> 100 + a; (a+1 or 50, ...) -> 50


def test_masked_token_baselines_never_guess_padding_or_special_tokens():
    """Short sequences padded with [PAD] (id 0): [PAD], [CLS] (2) and [SEP] (3) outnumber every word, yet the
    unigram yardstick must be the most frequent *real* token (7 here)."""
    from bert_ms.bert.pretraining import masked_token_baselines

    n, t = 50, 12
    ids = np.zeros((n, t), np.int64)
    ids[:, 0], ids[:, 4] = 2, 3  # [CLS] w w w [SEP] [PAD]...
    ids[:, 1:4] = [7, 7, 9]
    mask = (np.arange(t) < 5).astype(np.int32)[None].repeat(n, 0)
    arrays = {"input_ids": ids, "attention_mask": mask, "masked_lm_positions": np.full((n, 1), 3),
              "masked_lm_ids": np.full((n, 1), 9), "masked_lm_weights": np.ones((n, 1), np.float32)}
    res = masked_token_baselines(arrays, arrays, special_ids=[2, 3])
    assert res["unigram_id"] == 7
    assert masked_token_baselines(arrays, arrays)["unigram_id"] != 0  # padding is excluded even without special_ids


# --- memory: the random-token pool cache (issue 15)
def test_random_token_pool_cache_is_bounded():
    """1000 calls with fresh vocab dicts: the cache keeps a few, not all (4.8 GB after 8,000 in the probe)."""

    class Vocab(dict):  # a dict that can be weakly referenced, to see whether it is kept alive
        pass

    base = {t: i for i, t in enumerate([*SPECIAL_TOKENS, *(f"w{i}" for i in range(200))])}
    first = Vocab(base)
    alive = weakref.ref(first)
    ids, _ = masking.random_token_pool(first)
    assert len(ids) == 200
    del first
    for _ in range(1000):
        masking.random_token_pool(Vocab(base))
    gc.collect()
    assert alive() is None
    assert len(masking._POOL_CACHE) <= masking.POOL_CACHE_SIZE
    # and the cache still works: the same vocab object gets the same arrays back
    v = Vocab(base)
    assert masking.random_token_pool(v)[0] is masking.random_token_pool(v)[0]


def test_next_sentence_overlap_baseline_detects_shared_topics():
    from bert_ms.bert.pretraining import next_sentence_overlap_baseline

    def pairs(rows):  # rows: (tokens of A, tokens of B, label 0 = IsNext)
        n, t = len(rows), 12
        out = {k: np.zeros((n, t), np.int32) for k in ("input_ids", "token_type_ids", "attention_mask")}
        out["next_sentence_label"] = np.array([r[2] for r in rows], np.int32)
        for i, (a, b, _) in enumerate(rows):
            ids = [101, *a, 102, *b, 102]
            out["input_ids"][i, :len(ids)] = ids
            out["token_type_ids"][i, len(a) + 2:len(ids)] = 1
            out["attention_mask"][i, :len(ids)] = 1
        return out

    same = [([5, 6, 7], [6, 7, 8], 0), ([9, 10, 11], [10, 11, 12], 0)]  # a shared topic: IsNext
    other = [([5, 6, 7], [20, 21, 22], 1), ([9, 10, 11], [30, 31, 32], 1)]
    res = next_sentence_overlap_baseline(pairs(same + other), pairs([same[0], other[1], other[0]]), [101, 102])
    assert res["overlap"] == 1.0 and 0 < res["threshold"] <= 0.5 and res["majority"] == pytest.approx(2 / 3)
    flipped = pairs([(a, b, 1 - y) for a, b, y in same + other])  # a rule fitted to the opposite labels fails
    assert next_sentence_overlap_baseline(pairs(same + other), flipped, [101, 102])["overlap"] <= 0.5
