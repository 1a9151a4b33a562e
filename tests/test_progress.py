"""The step bar of every long loop (bert_ms.runtime.progress): shown while it runs, gone when it ends."""

import sys

import nbformat
import pytest
from nbclient import NotebookClient

from bert_ms.runtime.progress import steps


def test_a_terminal_bar_draws_steps_and_loss_and_is_cleared(capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    with steps(30, "demo", every=10) as bar:
        for _ in range(30):
            bar.update(0.25)
        assert bar.bar.n == 30 and bar.bar.postfix == "loss=0.2500"
    err = capsys.readouterr().err
    assert "demo:" in err and "/30" in err  # drawn on stderr while it ran
    assert err.endswith("\r") and err.split("\r")[-2].strip() == ""  # and the line blanked at the end


def test_no_bar_reaches_a_stderr_that_is_not_a_terminal(capsys):
    with steps(30, "to a log file") as bar:
        for _ in range(30):
            bar.update(0.25)
    assert capsys.readouterr().err == ""


def test_a_disabled_bar_draws_nothing(capsys):
    with steps(5, "quiet", enabled=False) as bar:
        for _ in range(5):
            bar.update(1.0)
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_in_jupyter_the_bar_is_a_widget_whose_output_is_emptied_when_done():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "from bert_ms.runtime.progress import steps\n"
        "with steps(20, 'demo') as bar:\n"
        "    for i in range(20):\n"
        "        bar.update(0.5)\n"
        "print('summary line')")]
    NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    outputs = nb.cells[0].outputs
    assert not [o for o in outputs if o.get("name") == "stderr"], outputs  # no text bar, no ipywidgets warning
    shown = [o for o in outputs if o["output_type"] == "display_data"]
    assert len(shown) == 1 and shown[0]["data"].get("text/html") == "", shown  # the widget's place, emptied
    assert "%|" not in str(outputs)  # no frozen bar in the stored notebook
    assert outputs[-1].get("text") == "summary line\n"


def test_bar_yields_every_item_and_counts_them():
    from bert_ms.runtime.progress import bar

    assert list(bar(range(7), "items", enabled=False)) == list(range(7))
    assert list(bar((x for x in "abc"), "a generator")) == ["a", "b", "c"]  # no len(): a bar without a total
