"""Progress you can see (进度条): one bar for every long loop of the course, the Trainer's included.

``steps(total, desc)`` is a ``tqdm.auto`` bar: in JupyterLab a widget (ipywidgets is in the lock), in a
terminal plain text on stderr (only when stderr is a terminal: a log file or a pipe gets no bar). It shows
the steps done, the rate, the time left and, through ``update(loss)``, the running loss; it is cleared when
the loop ends (``leave=False``; in Jupyter its output is replaced by an empty one), so a stored notebook
keeps the cell's own summary line, not a frozen bar. ``enabled=False`` draws nothing (the command line's
``--no-progress``). ``bar(iterable, desc)`` is the same for a ``for`` loop.
"""

from __future__ import annotations


class Steps:
    """A step bar: ``update(loss)`` after each step, ``close()`` at the end (or use it as a context manager)."""

    def __init__(self, total: int, desc: str, enabled: bool = True, initial: int = 0, every: int = 10):
        self.bar, self.every, self.n, self._shown = None, max(1, every), 0, None
        if enabled:
            # imported here: the package imports without tqdm.auto choosing its front-end at import time
            from tqdm.auto import tqdm
            from tqdm.notebook import tqdm_notebook

            kw = dict(total=total, initial=initial, desc=desc, leave=False, dynamic_ncols=True)
            if issubclass(tqdm, tqdm_notebook):  # Jupyter: a widget shown under a display id, emptied on close
                from IPython.display import display

                self.bar = tqdm(**kw, display=False)
                self._shown = display(self.bar.container, display_id=True)
            else:  # a terminal: drawn only where stderr is one (disable=None), so logs and captured stderr stay clean
                self.bar = tqdm(**kw, disable=None)

    def update(self, loss: float | None = None, **postfix) -> None:
        self.n += 1
        if self.bar is None:
            return
        self.bar.update(1)
        if loss is not None and (self.n % self.every == 0 or self.n == 1):
            self.bar.set_postfix(loss=f"{loss:.4f}", **postfix, refresh=False)

    def postfix(self, **values) -> None:
        if self.bar is not None:
            self.bar.set_postfix(**values, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            if self._shown is not None:  # no frozen "0%" left in a stored notebook's output: an empty output
                from IPython.display import HTML

                self._shown.update(HTML(""))
                self._shown = None

    def __enter__(self) -> Steps:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def steps(total: int, desc: str, enabled: bool = True, **kw) -> Steps:
    return Steps(total, desc, enabled, **kw)


def bar(iterable, desc: str, total: int | None = None, enabled: bool = True):
    """``for x in bar(range(steps), "train"):`` the items of ``iterable`` under a step bar, cleared at the end
    (the lessons' own loops; like ``tqdm(iterable, leave=False)``, without a frozen bar in a stored notebook)."""
    if total is None:
        try:
            total = len(iterable)
        except TypeError:
            total = None
    with Steps(total, desc, enabled) as shown:
        for item in iterable:
            yield item
            shown.update()
