"""The book's one palette: Okabe and Ito's eight colour-blind-safe colours.

Every figure, animation and HTML view takes its colours from here, and the
notebooks name them (``BLUE``, ``VERMILLION``, ...) instead of writing hex
codes. One colour per gate or state (:data:`GATE_COLORS`), one per model
(:data:`MODEL_COLORS`), and one order for any other list of lines
(:data:`SERIES`, :func:`series_colors`).

>>> series_colors(["a", "b"]) == {"a": BLUE, "b": VERMILLION}
True
>>> series_colors(["LSTM", "x"], named=MODEL_COLORS)["LSTM"] == MODEL_COLORS["LSTM"]
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

BLACK = "#000000"
ORANGE = "#E69F00"
SKY = "#56B4E9"
GREEN = "#009E73"  # bluish green
YELLOW = "#F0E442"
BLUE = "#0072B2"
VERMILLION = "#D55E00"
PURPLE = "#CC79A7"  # reddish purple
#: The eight colours by name.
OKABE_ITO = {
    "black": BLACK,
    "orange": ORANGE,
    "sky": SKY,
    "green": GREEN,
    "yellow": YELLOW,
    "blue": BLUE,
    "vermillion": VERMILLION,
    "purple": PURPLE,
}

# Neutrals: text, reference lines, what is left out.
WHITE = "#FFFFFF"  # the zero end of a colour scale; a fill that hides what is behind
INK = "#333333"
DARK_GREY = "#555555"
GREY = "#999999"
LIGHT_GREY = "#BBBBBB"
TRACK = "#E4E4E4"  # the background of a bar or a slider track
NEGATIVE = "#3B3B3B"  # the far end of a diverging scale, for negative values
HIGHLIGHT = "#FFF3C4"  # a highlighted box (pale yellow), edged with HIGHLIGHT_EDGE
HIGHLIGHT_EDGE = "#B08800"

#: One colour per gate or state, the same in every figure and view.
GATE_COLORS = {
    "i": BLUE,  # input gate
    "f": ORANGE,  # forget gate
    "g": GREEN,  # candidate
    "o": PURPLE,  # output gate
    "c": VERMILLION,  # cell state
    "h": SKY,  # hidden state
    "r": BLUE,  # GRU reset gate
    "z": ORANGE,  # GRU update gate
    "n": GREEN,  # GRU candidate
}
#: One colour per model when models are compared.
MODEL_COLORS = {"RNN": BLACK, "LSTM": BLUE, "GRU": VERMILLION}
#: The order in which any other set of lines takes its colours.
SERIES = (BLUE, VERMILLION, ORANGE, GREEN, PURPLE, SKY, YELLOW, BLACK)
#: Colours for lines beside the named models (those not in MODEL_COLORS).
EXTRA = (GREEN, PURPLE, ORANGE, SKY, YELLOW, BLUE, VERMILLION)


def series_colors(
    labels: Iterable[str],
    *,
    named: Mapping[str, str] | None = None,
    order: tuple[str, ...] = SERIES,
) -> dict[str, str]:
    """A colour for each label: ``named[label]`` if given, else the next of ``order``.

    The order repeats when there are more labels than colours.
    """
    named = dict(named or {})
    labels = list(labels)
    if not order:
        raise ValueError("order must hold at least one colour")
    out, k = {}, 0
    for label in labels:
        if label in named:
            out[label] = named[label]
        else:
            out[label] = order[k % len(order)]
            k += 1
    return out
