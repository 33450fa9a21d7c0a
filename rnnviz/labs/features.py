"""Text features for reading a character model's units: one float per character.

Computed from the text alone (:data:`FEATURES`): position in the line, inside
a ``Name:`` line, position in the speech, line number in the speech, position
in the word, inside a word, vowel. The corpus (:mod:`rnnviz.corpus`) has no
brackets or double quotes, so there is no bracket or quote feature. Line
features count a newline as the last character of the line it ends.
:mod:`rnnviz.labs.units` correlates units with them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def check_text(text: str) -> None:
    """Raise a clear error unless ``text`` is a non-empty str."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if not text:
        raise ValueError("empty text: no characters to compute features of")


def _last_before(flags: np.ndarray) -> np.ndarray:
    """(T,) index of the last True strictly before each position (-1 if none)."""
    t = np.arange(len(flags))
    last = np.maximum.accumulate(np.where(flags, t, -1))  # last True at or before t
    return np.r_[-1, last[:-1]]


def line_position(text: str) -> np.ndarray:
    """Characters since the last newline: 0 for a line's first character.

    >>> line_position("ab\\ncd").tolist()
    [0.0, 1.0, 2.0, 0.0, 1.0]
    """
    check_text(text)
    nl = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32) == ord("\n")
    return (np.arange(len(text)) - _last_before(nl) - 1).astype(float)


def line_start(text: str) -> np.ndarray:
    """1 for the first character of each line (a blank line's newline too), else 0."""
    return (line_position(text) == 0).astype(float)


def _line_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, stop, line without its newline) for every line; stop includes the
    newline."""
    spans, start = [], 0
    for line in text.splitlines(keepends=True):
        spans.append((start, start + len(line), line.rstrip("\n")))
        start += len(line)
    return spans


def name_line(text: str) -> np.ndarray:
    """1 for every character of a speaker's ``Name:`` line (its newline too), else 0.

    A name line is a non-blank line ending in ``:`` at the start of the text or
    after a blank line, the corpus's layout (a speech line may end in ``:`` too,
    but never follows a blank line). The text should start at a line start.

    >>> name_line("Cassius:\\nHa!\\n\\nAll:\\nAy:\\n").astype(int).tolist()
    [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0]
    """
    check_text(text)
    out, prev = np.zeros(len(text)), ""
    for k, (a, b, line) in enumerate(_line_spans(text)):
        if line.strip() and line.endswith(":") and (k == 0 or not prev.strip()):
            out[a:b] = 1.0
        prev = line
    return out


def speech_position(text: str) -> np.ndarray:
    """Characters since the last ``Name:`` line ended: 0 on the first character of
    a speech and inside name lines (text before any name line counts from 0).

    >>> speech_position("Al:\\nAy.\\n").tolist()
    [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0]
    """
    name = name_line(text)
    end = np.r_[name[:-1] > name[1:], False]  # the newline closing a name line
    pos = np.arange(len(text)) - _last_before(end) - 1
    return np.where(name > 0, 0.0, pos).astype(float)


def speech_line(text: str) -> np.ndarray:
    """Line number within the speech: 0 on the name line, 1 on the first spoken line.

    >>> speech_line("Al:\\nAy\\nNo\\n").tolist()
    [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0]
    """
    name, start = name_line(text), line_start(text)
    count = np.cumsum(start)  # lines begun so far
    at_name = np.where((name > 0) & (start > 0), count, 0)
    return (count - np.maximum.accumulate(at_name)).astype(float)


def _is_word_char(text: str) -> np.ndarray:
    return np.array([ch.isalpha() or ch == "'" for ch in text])


def word_position(text: str) -> np.ndarray:
    """1-based position of a character in its word (letters and apostrophes), 0
    between words.

    >>> word_position("I'll go.").tolist()
    [1.0, 2.0, 3.0, 4.0, 0.0, 1.0, 2.0, 0.0]
    """
    check_text(text)
    word = _is_word_char(text)
    return np.where(word, np.arange(len(text)) - _last_before(~word), 0).astype(float)


def in_word(text: str) -> np.ndarray:
    """1 for a letter or apostrophe, else 0."""
    check_text(text)
    return _is_word_char(text).astype(float)


def vowel(text: str) -> np.ndarray:
    """1 for a, e, i, o, u (either case), else 0."""
    check_text(text)
    return np.array([ch in "aeiouAEIOU" for ch in text], dtype=float)


#: Feature name -> function text -> (T,) float array.
FEATURES: dict[str, Callable[[str], np.ndarray]] = {
    "line_position": line_position,
    "line_start": line_start,
    "name_line": name_line,
    "speech_position": speech_position,
    "speech_line": speech_line,
    "word_position": word_position,
    "in_word": in_word,
    "vowel": vowel,
}


def text_features(
    text: str, names: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """Features of :data:`FEATURES` (default: all) of ``text``: name -> (T,) array."""
    names = list(FEATURES) if names is None else list(names)
    unknown = [n for n in names if n not in FEATURES]
    if unknown:
        raise KeyError(f"unknown features {unknown}; known: {list(FEATURES)}")
    return {n: FEATURES[n](text) for n in names}


def speech_passage(text: str, start: int, length: int) -> str:
    """Whole speeches of ``text`` from the first speech starting at or after
    ``start``, up to ``length`` characters (at least one speech). Speeches are
    separated by blank lines; the text is taken to start and end with a speech."""
    if length < 1 or not 0 <= start < len(text):
        raise ValueError(
            f"need 0 <= start < {len(text)} and length >= 1, got {start}, {length}"
        )
    if start == 0:
        a = 0  # the text is taken to start with a speech
    else:
        k = text.find("\n\n", max(start - 2, 0))
        if k < 0:
            raise ValueError(f"no speech starts at or after character {start}")
        a = k + 2
    if a + length >= len(text):
        return text[a:]  # the rest fits
    b = text.rfind("\n\n", a, a + length + 1)  # the last speech end that fits
    b = text.find("\n\n", a) if b < 0 else b  # none fits: the first speech, whole
    return text[a : len(text) if b < 0 else b + 1]
