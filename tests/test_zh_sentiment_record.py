"""The record of scripts/zh_sentiment_budgets.py (lesson 08's Chinese hands-on): whole, chosen on dev by the
stated rule, and made with the recipe its docstring states. Lesson 08 asserts what the record shows."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "scripts" / "results"


def _script():
    spec = importlib.util.spec_from_file_location("zh_sentiment_budgets", ROOT / "scripts" / "zh_sentiment_budgets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(name):
    return [json.loads(line) for line in (RESULTS / name).read_text().splitlines()]


def test_the_rates_are_chosen_on_dev_inside_the_grid():
    script, grid = _script(), _rows("zh_sentiment_lr_grid.jsonl")
    assert {(r["split"], r["budget"], r["seed"]) for r in grid} == {("dev", "200", 0)}
    chosen = script.chosen_rates(grid)
    for start in script.STARTS:
        tried = sorted(r["lr"] for r in grid if r["start"] == start)
        assert tried[0] < chosen[start] < tried[-1], f"{start}: the best rate {chosen[start]} is at the grid's edge"
    assert chosen == {"zh": 3e-3, "random": 3e-4}
    # a tie goes to the smaller rate
    tie = [{**r, "accuracy": 0.5} for r in grid]
    assert script.chosen_rates(tie) == {s: min(r["lr"] for r in grid if r["start"] == s) for s in script.STARTS}


def test_the_record_is_whole_and_made_with_the_stated_recipe():
    script, records = _script(), _rows("zh_sentiment_budgets.jsonl")
    chosen = script.chosen_rates(_rows("zh_sentiment_lr_grid.jsonl"))
    cells = [(r["start"], r["labels"], r["seed"]) for r in records]
    assert len(cells) == len(set(cells)) == 18, "2 starts x 3 budgets x 3 seeds, each once"
    assert set(cells) == {(s, n, sd) for s in script.STARTS for n in (200, 1000, 4000) for sd in (0, 1, 2)}
    for r in records:
        assert r["split"] == "test" and r["lr"] == chosen[r["start"]]
        assert (r["seq_len"], r["batch_size"]) == (64, 32) and r["steps"] == script.steps_for(r["labels"])
        assert 0.5 < r["accuracy"] <= 1.0 and 0.0 <= r["f1"] <= 1.0
    assert [script.steps_for(n) for n in (200, 1000, 4000)] == [100, 157, 625]  # five epochs, at least 100 steps
