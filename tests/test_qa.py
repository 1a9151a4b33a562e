"""Extractive question answering (bert_ms.bert.qa, bert_ms.data.load_email_qa): span decoding, windows,
characters back from tokens, SQuAD's EM/F1, and the email QA set built from the shipped data."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest

from bert_ms import data
from bert_ms.bert import qa
from bert_ms.bert.tokenization import BertTokenizer


@pytest.fixture(scope="module")
def tok():
    return BertTokenizer.bert_base_uncased()


# ---------------------------------------------------------------- span decoding
def _brute_force(s, e, allowed, max_len):
    best = (None, None, -np.inf)
    for i, j in itertools.product(range(len(s)), repeat=2):
        if allowed[i] and allowed[j] and i <= j < i + max_len and s[i] + e[j] > best[2]:
            best = (i, j, s[i] + e[j])
    return best


def test_best_span_is_the_best_valid_span():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(2, 14))
        s, e = rng.normal(size=n), rng.normal(size=n)
        allowed = rng.random(n) < 0.7
        allowed[int(rng.integers(n))] = True
        max_len = int(rng.integers(1, 6))
        i, j, score = qa.best_span(s, e, allowed, max_len)
        bi, bj, bscore = _brute_force(s, e, allowed, max_len)
        assert (i, j) == (bi, bj) and score == pytest.approx(bscore)
        assert i <= j < i + max_len and allowed[i] and allowed[j]


def test_best_span_never_ends_before_it_starts_nor_runs_too_long():
    s = np.array([0.0, 0.0, 0.0, 5.0, 0.0, 0.0])  # best start: 3
    e = np.array([0.0, 4.0, 0.0, 0.0, 0.0, 3.0])  # best end alone: 1, before the start
    i, j, _ = qa.best_span(s, e, max_answer_len=30)
    assert (i, j) == (3, 5)  # argmax separately would give the impossible (3, 1)
    i, j, _ = qa.best_span(s, e, max_answer_len=2)
    assert (i, j) == (3, 3) or (i, j) == (3, 4)
    assert j - i + 1 <= 2
    allowed = np.array([False, True, True, False, True, True])  # e.g. position 3 is in the question
    i, j, _ = qa.best_span(s, e, allowed, 30)
    assert allowed[i] and allowed[j] and i <= j


def test_best_span_rejects_bad_input():
    with pytest.raises(ValueError, match="differ in shape"):
        qa.best_span(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="max_answer_len"):
        qa.best_span(np.zeros(3), np.zeros(3), max_answer_len=0)
    with pytest.raises(ValueError, match="no position"):
        qa.best_span(np.zeros(3), np.zeros(3), np.zeros(3, bool))


# ---------------------------------------------------------------- characters <-> pieces
def test_pieces_with_offsets_equal_the_tokenizer(tok):
    texts = data.load_spam("dev")[0][:300] + [
        "Héllo, WORLD! naïve café [MASK] İstanbul", "Mich\ufffdl wrote:\n> x", "tab\there\x00 and 中文字 ok",
        "$1,499.00 at http://www.x.com/a?b=c&d=e.", ""]
    for text in texts:
        pieces = qa.tokenize_with_offsets(tok, text)
        assert [p for p, _, _ in pieces] == tok.tokenize(text), text[:60]
        for p, s, e in pieces:
            assert 0 <= s < e <= len(text)
            if p not in ("[UNK]", "[MASK]") and e - s == len(p.removeprefix("##")):
                assert text[s:e].lower() == p.removeprefix("##") or not text[s:e].isascii()


def test_answer_token_span_maps_back_to_the_characters(tok):
    context = "On Thu, 22 Aug 2002, John P. Looney wrote:\n> the deal costs $1,499 at http://x.com/deal."
    pieces = qa.tokenize_with_offsets(tok, context)
    for answer in ("John P. Looney", "Thu, 22 Aug 2002", "$1,499", "http://x.com/deal"):
        a = context.index(answer)
        i, j = qa.answer_token_span(pieces, a, a + len(answer))
        assert context[pieces[i][1]:pieces[j][2]] == answer
    with pytest.raises(ValueError, match="0 <= start < end"):
        qa.answer_token_span(pieces, 5, 5)


# ---------------------------------------------------------------- windows with a stride
def _long_context():
    words = [f"word{k}" for k in range(300)]
    words[250] = "Zanzibar"
    return " ".join(words), "Zanzibar"


def test_windows_cover_the_context_with_the_stride(tok):
    context, _ = _long_context()
    pieces = qa.tokenize_with_offsets(tok, context)
    question = "Which island is named?"
    windows = qa.make_windows(tok, question, context, max_length=64, stride=20)
    q = len(tok.tokenize(question))
    room = 64 - q - 3
    assert all(w.input_ids.shape == (64,) for w in windows)
    firsts = [next(k for k, (s, _) in enumerate(w.offsets) if s >= 0) for w in windows]
    assert all(f == q + 2 for f in firsts)  # [CLS] question [SEP] come first
    starts = [pieces.index(next(p for p in pieces if p[1] == w.offsets[q + 2][0])) for w in windows]
    assert starts[:-1] == list(range(0, 20 * (len(starts) - 1), 20))  # a new window every `stride` tokens
    covered = set()
    for w, first in zip(windows, starts):
        n = int(w.context_mask.sum())
        assert n <= room
        covered |= set(range(first, first + n))
        assert (w.token_type_ids[q + 2: q + 2 + n + 1] == 1).all() and (w.token_type_ids[: q + 2] == 0).all()
    assert covered == set(range(len(pieces)))  # every context token is in some window


def test_windows_are_labelled_and_map_back_to_the_answer(tok):
    context, answer = _long_context()
    a = context.index(answer)
    windows = qa.make_windows(tok, "Which island?", context, max_length=64, stride=20, answer_start=a,
                              answer_text=answer)
    holding = [w for w in windows if w.start_position > 0]
    assert holding, "some window must hold the answer"
    for w in windows:
        if w.start_position == 0:
            assert w.end_position == 0  # no answer here: [CLS]
        else:
            assert w.start_position <= w.end_position
            assert context[w.offsets[w.start_position][0]:w.offsets[w.end_position][1]] == answer
    arrays = qa.windows_to_arrays(windows)
    assert set(arrays) == set(qa.QA_KEYS) and arrays["input_ids"].shape == (len(windows), 64)
    with pytest.raises(ValueError, match="is not at character"):
        qa.make_windows(tok, "q", context, answer_start=a + 1, answer_text=answer)


class _OracleModel:
    """Stands in for BertForQuestionAnswering: high logits where the answer's first/last piece ids sit."""

    def __init__(self, first_id, last_id):
        self.first_id, self.last_id, self.training = first_id, last_id, False

    def set_train(self, mode=True):
        self.training = mode

    def __call__(self, input_ids, token_type_ids, attention_mask):
        import mindspore as ms

        ids, seg = input_ids.asnumpy(), token_type_ids.asnumpy()
        start = np.where((ids == self.first_id) & (seg == 1), 10.0, 0.0).astype(np.float32)
        end = np.where((ids == self.last_id) & (seg == 1), 10.0, 0.0).astype(np.float32)
        return ms.Tensor(start), ms.Tensor(end)


def test_predict_answers_maps_the_best_window_back_to_characters(tok):
    context, answer = _long_context()
    context = context.replace("Zanzibar", "Zanzibar, Tanzania")
    answer = "Zanzibar, Tanzania"
    pieces = tok.tokenize(answer)
    model = _OracleModel(tok.vocab[pieces[0]], tok.vocab[pieces[-1]])
    text, s, e, score = qa.answer_question(model, tok, "Where?", context, max_length=48, stride=16)
    assert (text, s, e) == (answer, context.index(answer), context.index(answer) + len(answer))
    assert score == pytest.approx(20.0)
    with pytest.raises(ValueError, match="empty"):
        qa.predict_answers(model, tok, ["Where?"], ["  "])


def test_span_loss_is_the_mean_of_two_cross_entropies():
    import mindspore as ms

    rng = np.random.default_rng(0)
    s, e = rng.normal(size=(3, 7)).astype(np.float32), rng.normal(size=(3, 7)).astype(np.float32)
    ys, ye = np.array([0, 2, 6]), np.array([1, 2, 6])

    def ce(x, y):
        x = x - x.max(1, keepdims=True)
        return float(np.mean(np.log(np.exp(x).sum(1)) - x[np.arange(3), y]))

    got = qa.span_loss(*(ms.Tensor(a) for a in (s, e, ys.astype(np.int32), ye.astype(np.int32)))).asnumpy()
    assert float(got) == pytest.approx((ce(s, ys) + ce(e, ye)) / 2, rel=1e-5)


# ---------------------------------------------------------------- SQuAD EM and F1
def test_squad_normalisation_em_and_f1():
    assert qa.normalize_answer("The  Cat, sat!") == "cat sat"
    assert qa.exact_match("the cat sat", "Cat sat.") == 1.0
    assert qa.exact_match("cat", ["dog", "a cat"]) == 1.0
    assert qa.f1_score("cat sat down", "the cat sat") == pytest.approx(0.8)  # P 2/3, R 1
    assert qa.f1_score("dog", "cat") == 0.0
    scores = qa.squad_em_f1(["cat sat", "dog"], ["the cat sat", ["cat", "a dog"]])
    assert scores == {"exact_match": 100.0, "f1": 100.0, "questions": 2}
    assert qa.squad_em_f1(["x"], ["y"])["f1"] == 0.0
    with pytest.raises(ValueError, match="as many"):
        qa.squad_em_f1(["a"], [])


def test_line_overlap_baseline_finds_the_line_not_the_span():
    context = "Subject: Cheap flights\n\nHello,\nOn Mon, 2 Sep 2002, Ann Lee wrote:\n> see you"
    line = qa.line_overlap_baseline("Who wrote the quoted message?", context)
    assert line == "On Mon, 2 Sep 2002, Ann Lee wrote:"
    assert qa.exact_match(line, "Ann Lee") == 0.0 and 0 < qa.f1_score(line, "Ann Lee") < 1


# ---------------------------------------------------------------- the email QA set
@pytest.mark.parametrize("split", data.SPLITS)
def test_every_answer_is_at_its_recorded_offset(split):
    records = data.load_email_qa(split)
    assert len(records) > 1000
    kinds = {r["type"] for r in records}
    assert kinds == set(data.EMAIL_QA_QUESTIONS)
    for r in records:
        assert r["context"][r["answer_start"]:r["answer_start"] + len(r["answer"])] == r["answer"], r["id"]
        assert r["answer"] in r["answers"] and all(a in r["context"] for a in r["answers"])
        assert r["question"] in data.EMAIL_QA_QUESTIONS[r["type"]]
    assert len({r["id"] for r in records}) == len(records)


def test_email_answers_are_whole_word_pieces(tok):
    """Every answer starts and ends on a piece boundary, so the model can predict it exactly."""
    for r in data.load_email_qa("test"):
        pieces = qa.tokenize_with_offsets(tok, r["context"])
        i, j = qa.answer_token_span(pieces, r["answer_start"], r["answer_start"] + len(r["answer"]))
        assert r["context"][pieces[i][1]:pieces[j][2]] == r["answer"], r["id"]


def test_email_qa_is_deterministic_and_found_by_its_rules():
    assert data.load_email_qa("dev") == data.load_email_qa("dev")
    text = ("Subject: Re: lunch\n\nOn Thu, 22 Aug 2002, John P. Looney wrote:\n> it costs $1,499.\n"
            "See http://www.x.com/a.html, or mail me@x.org.")
    found = data.email_qa_answers(text)
    assert found["subject"] == [("Re: lunch", 9)]
    assert [a for a, _ in found["quoted_author"]] == ["John P. Looney"]
    assert [a for a, _ in found["quoted_date"]] == ["Thu, 22 Aug 2002"]
    assert [a for a, _ in found["money"]] == ["$1,499"]
    assert [a for a, _ in found["url"]] == ["http://www.x.com/a.html"]
    assert [a for a, _ in found["email_address"]] == ["me@x.org"]
    with pytest.raises(ValueError, match="split"):
        data.load_email_qa("validation")


def test_answer_key_is_squads_normalisation():
    for text in ["The  Cat, sat!", "$1,499.00", "an apple a day", "Re: [ILUG] the-list", "theme", ""]:
        assert data.email_qa_answer_key(text) == qa.normalize_answer(text)


def test_email_qa_splits_keep_test_answers_out_of_training():
    split = data.email_qa_splits(n_train=30, n_eval=5)
    assert split == data.email_qa_splits(n_train=30, n_eval=5)  # deterministic
    key = data.email_qa_answer_key
    counts = {name: Counter(r["type"] for r in recs) for name, recs in split.items()}
    assert all(n == 30 for n in counts["train"].values()) and len(counts["train"]) == 6
    assert all(n == 5 for n in counts["test"].values()) and all(n == 5 for n in counts["dev"].values())
    trained = {key(a) for r in split["train"] for a in r["answers"]}
    for name in ("dev", "test"):
        assert not any(key(a) in trained for r in split[name] for a in r["answers"]), name
    assert split["test_seen"] and all(key(r["answer"]) in trained for r in split["test_seen"])
    assert not {r["id"] for r in split["test_seen"]} & {r["id"] for r in split["test"]}
    emails = {name: {r["email_id"] for r in recs} for name, recs in split.items()}
    assert not emails["train"] & (emails["test"] | emails["dev"] | emails["test_seen"])


def test_frequent_answer_baseline_remembers_what_recurs():
    train = [{"type": "url", "answers": ["http://a.org"], "context": ""},
             {"type": "url", "answers": ["http://a.org", "http://b.org"], "context": ""},
             {"type": "money", "answer": "$5", "context": ""}]
    records = [{"type": "url", "context": "see http://b.org or http://a.org"},
               {"type": "url", "context": "see http://b.org"},
               {"type": "url", "context": "nothing here"},
               {"type": "subject", "context": "http://a.org"}]
    assert qa.frequent_answer_baseline(train, records) == ["http://a.org", "http://b.org", "", ""]


# ---------------------------------------------------------------- the command line, --task qa
@pytest.mark.slow
def test_cli_finetune_evaluate_predict_qa(tmp_path, capsys):
    """finetune -> evaluate -> predict with --task qa on a tiny random BERT (the path, not the quality)."""
    import json

    from bert_ms import cli, device

    out = tmp_path / "run"
    common = ["--device", "CPU", "--seq-len", "48"]
    try:
        code = cli.main(["finetune", "--task", "qa", "--init", "random", "--config", "tiny", "--vocab",
                         "bert-base-uncased", "--out", str(out), "--steps", "2", "--batch-size", "4", "--max-train", "6",
                         "--max-eval", "3", "--no-progress", *common])
        printed = capsys.readouterr().out
        assert code == 0, printed
        result = json.loads(printed.strip().splitlines()[-1])
        assert result["task"] == "qa" and result["questions"] == 3 and 0 <= result["exact_match"] <= 100
        code = cli.main(["evaluate", "--model", str(out), "--task", "qa", "--split", "dev", "--max-eval", "2",
                         *common])
        scores = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert code == 0 and scores["questions"] == 2 and "f1" in scores
        context = "On Thu, 22 Aug 2002, John P. Looney wrote:\n> see you at http://x.com/a.html"
        code = cli.main(["predict", "--model", str(out), "--task", "qa", "--question", "Who wrote the quoted message?",
                         "--context", context, *common])
        answer, where, _ = capsys.readouterr().out.strip().splitlines()[-1].split("\t")
        start, end = (int(x) for x in where.strip("[]").split(":"))
        assert code == 0 and context[start:end] == answer and answer
        code = cli.main(["predict", "--model", str(out), "--task", "qa", "--question", "Who?", *common])
        err = capsys.readouterr().err
        assert code == 2 and "--task qa needs --question" in err
    finally:
        device.setup("CPU", mode="pynative", precision="fp32", verbose=False)


# ---------------------------------------------------------------- the truecasing token task (lesson 09)
def test_sotu_casing_tags_words_by_their_case():
    assert [data.casing_tag(w) for w in ("union", "Congress", "I", "NATO", "1812", ",", "McKinley")] == \
        ["lower", "Title", "Title", "UPPER", "lower", "lower", "Title"]
    sentences = data.load_sotu_casing("dev", max_sentences=50)
    assert len(sentences) == 50 and all(w == w.lower() for s in sentences for w, _ in s)
    assert {t for s in sentences for _, t in s} <= set(data.CASING_TAGS)
    first = data.load_sotu("dev")[0][0]
    assert " ".join(w for w, _ in sentences[0]).replace(" ", "") == "".join(first.lower().split())
