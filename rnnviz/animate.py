"""Animations that play in a notebook and in the static HTML book.

Each function returns a ``matplotlib.animation.FuncAnimation``; show it with
``IPython.display.HTML(anim.to_jshtml())`` (frames embedded as PNG, no kernel
needed). Artists are created once and updated frame by frame. Frame size is
kept small (about 7 x 4 inches at 72 dpi) so that a page stays within budget.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.animation import FuncAnimation
from matplotlib.figure import Figure

from rnnviz.plots import GATE_COLORS, GATE_LABELS, GATE_RANGE, show_char
from rnnviz.probe import Trace


def _gate_cmap(name: str):
    from matplotlib.colors import LinearSegmentedColormap

    lo, hi = GATE_RANGE.get(name, (-1, 1))
    colors = ["white", GATE_COLORS[name]] if lo == 0 else ["#2b2b2b", "white", GATE_COLORS[name]]
    cmap = LinearSegmentedColormap.from_list(f"gate_{name}", colors)
    cmap.set_bad("#f2f2f2")  # steps not yet read
    return cmap


def animate_gates(
    trace: Trace,
    text: str | None = None,
    layer: int = 0,
    batch: int = 0,
    units: Sequence[int] | None = None,
    names: Sequence[str] | None = None,
    interval: int = 350,
    figsize: tuple[float, float] = (7.0, 4.2),
    dpi: int = 72,
) -> FuncAnimation:
    """Reveal the gates of ``units`` step by step as the model reads ``text``.

    One heatmap per gate (rows: units, columns: characters); frame ``t`` shows
    steps ``0..t`` and a cursor on the character being read. For an LSTM the
    panels are ``i, f, g, o`` and the cell state ``c``; for a GRU ``r, z, n``
    and ``h``; for an RNN ``h``.
    """
    T = len(trace)
    text = trace.text if text is None else text
    if text is None or len(text) != T:
        raise ValueError(f"need the text the trace was recorded on ({T} characters), got {None if text is None else len(text)}")
    H = trace.hidden_size
    units = list(range(min(H, 12))) if units is None else list(units)
    if not units or any(not 0 <= u < H for u in units):
        raise IndexError(f"units must be a non-empty list of ints in [0, {H}), got {units}")
    if names is None:
        names = list(trace.gate_names) + ["c" if trace.kind == "LSTM" else "h"]
    data = {n: trace.series(n, layer)[:, batch][:, units].T for n in names}  # each (U, T)

    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    axes = fig.subplots(len(names), 1, sharex=True)
    axes = np.atleast_1d(axes)
    images, cursors = [], []
    for ax, name in zip(axes, names):
        lo, hi = GATE_RANGE.get(name, (-np.abs(data[name]).max() or 1, np.abs(data[name]).max() or 1))
        masked = np.ma.masked_all(data[name].shape)
        im = ax.imshow(masked, aspect="auto", cmap=_gate_cmap(name), vmin=lo, vmax=hi, interpolation="nearest")
        images.append(im)
        cursors.append(ax.axvspan(-0.5, 0.5, fill=False, ec="black", lw=1.5))
        ax.set_yticks([])
        ax.set_ylabel(name, rotation=0, ha="right", va="center", color=GATE_COLORS[name], fontsize=13, fontweight="bold")
        fig.colorbar(im, ax=ax, fraction=0.025, pad=0.01, ticks=[lo, hi])
    axes[-1].set_xticks(range(T), [show_char(c) for c in text], fontfamily="monospace", fontsize=8)
    title = fig.suptitle("", fontfamily="monospace", fontsize=10)
    legend = ", ".join(GATE_LABELS[n] for n in names)
    fig.supxlabel(f"{trace.kind} layer {layer}, units {units[0]}..{units[-1]}: {legend}", fontsize=8)

    def frame(t: int):
        for im, name in zip(images, names):
            shown = np.ma.masked_all(data[name].shape)
            shown[:, : t + 1] = data[name][:, : t + 1]
            im.set_data(shown)
        for cur in cursors:
            cur.set_x(t - 0.5)
        line = text.replace("\n", " ")
        title.set_text(f"reading: {line[:t]}[{show_char(text[t])}]{line[t + 1:]}"[:90])
        return [*images, *cursors, title]

    return FuncAnimation(fig, frame, frames=T, interval=interval, blit=False)
