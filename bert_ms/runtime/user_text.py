"""A user's text, in and out: the inputs of a command (its arguments and the lines of ``--file``), and each
written back as one visible field of a tab-separated output line (no control character reaches the terminal)."""

from __future__ import annotations

from bert_ms.runtime.files import read_text_file


def input_texts(texts: list[str], file: str | None, purpose: str = "classify") -> list[str]:
    """The texts given on the command line and in ``file`` (one per non-empty line); an empty text on the
    command line is refused (there is nothing to ``purpose``), blank lines of a file are skipped."""
    texts = list(texts)
    for i, t in enumerate(texts, 1):
        if not t.strip():
            raise ValueError(f"text {i} on the command line is empty: there is nothing to {purpose}")
    if file:
        texts += [t for t in read_text_file(file, "--file").splitlines() if t.strip()]
    if not texts:
        raise ValueError("no input: give texts on the command line or --file")
    return texts


_BIDI = {0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}


def field(text: str) -> str:
    """One field of a TSV output line: tab, newline and other control or bidirectional-override characters
    written as visible escapes (``\\t``, ``\\n``, ``\\x1b``, ``\\u202e``), so one input is always one row and
    nothing reaches the terminal raw."""
    out = []
    for ch in str(text):
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch in "\t\n\r":
            out.append({"\t": "\\t", "\n": "\\n", "\r": "\\r"}[ch])
        elif code < 0x20 or 0x7F <= code < 0xA0:
            out.append(f"\\x{code:02x}")
        elif code in _BIDI or code in (0x2028, 0x2029) or 0xD800 <= code < 0xE000:  # + lone surrogates (bad bytes)
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)
