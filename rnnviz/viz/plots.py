"""Static figures. Every function takes ``ax=None``, draws only there and returns
the Figure; none touches ``rcParams`` or pyplot's global figure list (a new
figure is a bare ``matplotlib.figure.Figure``, shown in Jupyter by displaying it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rnnviz.probe import Trace
from rnnviz.train import History, bits
from rnnviz.viz.palette import (
    BLUE,
    EXTRA,
    GATE_COLORS,
    MODEL_COLORS,
    VERMILLION,
    series_colors,
)

GATE_LABELS = {
    "i": "input gate i",
    "f": "forget gate f",
    "g": "candidate g",
    "o": "output gate o",
    "c": "cell state c",
    "h": "hidden state h",
    "r": "reset gate r",
    "z": "update gate z",
    "n": "candidate n",
}
# Value range of each series, for colour scales that mean the same on every figure.
GATE_RANGE = {
    "i": (0, 1),
    "f": (0, 1),
    "o": (0, 1),
    "r": (0, 1),
    "z": (0, 1),
    "g": (-1, 1),
    "n": (-1, 1),
    "h": (-1, 1),
}


def new_axes(
    ax: Axes | None, figsize: tuple[float, float] = (7, 3)
) -> tuple[Figure, Axes]:
    """Return ``(fig, ax)``: the given axes' figure, or a new pyplot-free figure."""
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def show_char(ch: str) -> str:
    """A visible label for a character (newline and space made visible)."""
    return {"\n": "\u21b5", " ": "\u2423", "\t": "\u21e5"}.get(ch, ch)


def _text_for(trace: Trace, text: str | None, T: int) -> str | None:
    text = trace.text if text is None else text
    if text is not None and len(text) != T:
        raise ValueError(f"text has {len(text)} characters but the trace has {T} steps")
    return text


def _check_index(name: str, value: int, size: int) -> None:
    if not isinstance(value, (int, np.integer)) or not 0 <= value < size:
        raise IndexError(f"{name} must be an int in [0, {size}), got {value!r}")


def plot_unit(
    trace: Trace,
    unit: int,
    layer: int = 0,
    batch: int = 0,
    text: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Every gate and state of one hidden unit over time, one colour per gate."""
    T = len(trace)
    _check_index("unit", unit, trace.hidden_size)
    _check_index("batch", batch, trace.layers[0].h.shape[1])
    text = _text_for(trace, text, T)
    fig, ax = new_axes(ax, (max(6.0, 0.16 * T), 3.2))
    names = list(trace.gate_names) + (["c"] if trace.kind == "LSTM" else []) + ["h"]
    t = np.arange(T)
    for name in names:
        y = trace.series(name, layer)[:, batch, unit]  # (T,)
        style = "--" if name in ("c", "h") else "-"
        ax.plot(t, y, style, color=GATE_COLORS[name], label=GATE_LABELS[name], lw=1.6)
    ax.axhline(0, color="0.6", lw=0.6)
    ax.set_xlim(-0.5, T - 0.5)
    ax.set_title(f"{trace.kind} layer {layer}, unit {unit}")
    ax.set_ylabel("activation")
    if text is not None:
        ax.set_xticks(t, [show_char(ch) for ch in text], fontfamily="monospace")
    else:
        ax.set_xlabel("time step t")
    ax.legend(
        loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small", frameon=False
    )
    return fig


def plot_gate_heatmap(
    trace: Trace,
    name: str,
    layer: int = 0,
    batch: int = 0,
    units: Sequence[int] | None = None,
    text: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Heatmap of gate or state ``name``: units (rows) by time (columns)."""
    values = trace.series(name, layer)[:, batch]  # (T, H)
    T, H = values.shape
    units = list(range(H)) if units is None else list(units)
    for u in units:
        _check_index("unit", u, H)
    text = _text_for(trace, text, T)
    fig, ax = new_axes(ax, (max(6.0, 0.16 * T), 0.5 + 0.12 * len(units)))
    lo, hi = GATE_RANGE.get(name, (-np.abs(values).max(), np.abs(values).max()))
    cmap = "viridis" if lo == 0 else "RdBu_r"
    im = ax.imshow(
        values[:, units].T,
        aspect="auto",
        cmap=cmap,
        vmin=lo,
        vmax=hi,
        interpolation="nearest",
    )
    ax.set_yticks(
        range(len(units)),
        [str(u) for u in units] if len(units) <= 24 else [""] * len(units),
    )
    ax.set_ylabel("unit")
    if text is not None:
        ax.set_xticks(range(T), [show_char(ch) for ch in text], fontfamily="monospace")
    ax.set_title(f"{GATE_LABELS.get(name, name)} ({trace.kind} layer {layer})")
    fig.colorbar(im, ax=ax, fraction=0.03, pad=0.01)
    return fig


def plot_history(history: History, ax: Axes | None = None, smooth: int = 25) -> Figure:
    """Training loss (moving average) and held-out loss in bits per character."""
    if not history.step:
        raise ValueError("history is empty: nothing was trained")
    fig, ax = new_axes(ax, (6, 3.2))
    y = np.asarray([bits(v) for v in history.train_loss])
    k = max(1, min(smooth, len(y)))
    ma = np.convolve(y, np.ones(k) / k, mode="valid")
    ax.plot(history.step, y, color="0.8", lw=0.8, label="training minibatch")
    ax.plot(
        history.step[k - 1 :],
        ma,
        color=BLUE,
        lw=1.8,
        label=f"training, mean of {k} steps",
    )
    if history.eval_step:
        ax.plot(
            history.eval_step,
            history.val_bpc,
            "o-",
            color=VERMILLION,
            lw=1.8,
            label="held-out plays",
        )
    ax.set_xlabel("step")
    ax.set_ylabel("bits per character")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    return fig


def plot_histories(histories: Mapping[str, History], ax: Axes | None = None) -> Figure:
    """Held-out bits per character against training step, one line per model.

    ``histories`` maps a label (``"RNN"``, ``"LSTM"``, ...) to a
    :class:`~rnnviz.train.History` with at least one held-out evaluation. Labels in
    ``MODEL_COLORS`` get their colour; others get the next colour of the palette.
    """
    if not isinstance(histories, Mapping) or not histories:
        raise ValueError("histories must be a non-empty mapping label -> History")
    for key, h in histories.items():
        if not isinstance(h, History) or not h.eval_step:
            raise ValueError(f"histories[{key!r}] has no held-out evaluation to plot")
    fig, ax = new_axes(ax, (6, 3.2))
    colors = series_colors(histories, named=MODEL_COLORS, order=EXTRA)
    for key, h in histories.items():
        color = colors[key]
        ax.plot(h.eval_step, h.val_bpc, "o-", color=color, lw=1.8, ms=4, label=key)
    ax.set_xlabel("training step")
    ax.set_ylabel("held-out bits per character")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    return fig
