"""Messages that stay one readable line: an input quoted in an error or a prediction row is cut, never
printed whole (a 60 KB email in a message is a wall of text)."""

from __future__ import annotations


def shorten(text, limit: int = 60) -> str:
    """``str(text)`` cut to ``limit`` characters (the last three ``...``)."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."
