"""Figures of the n-gram baseline (the numbers come from :mod:`rnnviz.ngram`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rnnviz.ngram import LABELS, NGramCounts, best_of
from rnnviz.viz.palette import BLUE, GREEN, ORANGE
from rnnviz.viz.plots import new_axes, show_char

#: One colour per smoothing.
COLORS = {"add-k": ORANGE, "kneser-ney": BLUE, "modified-kneser-ney": GREEN}
#: One marker and line style per smoothing.
STYLES = {"add-k": "s--", "kneser-ney": "o-", "modified-kneser-ney": "^-"}


def plot_bpc_by_order(
    table: dict[str, list[dict]],
    *,
    uniform: float | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Validation bits per character against n, one line per smoothing."""
    fig, ax = new_axes(ax, (6.5, 3.6))
    for s, rows in table.items():
        ns, bpc = [r["n"] for r in rows], [r["bpc"] for r in rows]
        ax.plot(
            ns,
            bpc,
            STYLES[s],
            color=COLORS[s],
            lw=1.8,
            label=LABELS[s],
        )
    best = best_of(table)
    ax.plot(
        best["n"],
        best["bpc"],
        "o",
        ms=14,
        mfc="none",
        mec="0.2",
        label="best on validation",
    )
    if uniform is not None:
        ax.axhline(uniform, color="0.5", lw=0.8, ls=":")
        ax.annotate(
            "uniform guess",
            (1, uniform),
            xytext=(0, -11),
            textcoords="offset points",
            fontsize="small",
            color="0.4",
        )
    ax.set_xticks(ns)
    ax.set_xlabel("order n (characters of context + 1)")
    ax.set_ylabel("bits per character")
    ax.set_title("n-gram models on the validation plays")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    return fig


def plot_gain_by_order(
    table: dict[str, list[dict]],
    smoothing: str = "modified-kneser-ney",
    reference: str = "kneser-ney",
    *,
    ax: Axes | None = None,
) -> Figure:
    """Bits per character `smoothing` saves over `reference` at each order n
    (validation bpc of `reference` minus that of `smoothing`), as bars."""
    fig, ax = new_axes(ax, (6.5, 2.8))
    ref = {r["n"]: r["bpc"] for r in table[reference]}
    ns = [r["n"] for r in table[smoothing] if r["n"] in ref]
    gain = [ref[r["n"]] - r["bpc"] for r in table[smoothing] if r["n"] in ref]
    ax.bar(ns, gain, color=COLORS[smoothing], width=0.6)
    ax.axhline(0, color="0.3", lw=0.8)
    ax.set_xticks(ns)
    ax.set_xlabel("order n")
    ax.set_ylabel("bits per character saved")
    ax.set_title(f"{LABELS[smoothing]} against {LABELS[reference]}, validation")
    ax.grid(alpha=0.3, axis="y")
    return fig


def plot_sweep(
    grid: Sequence[float],
    bpc: dict[int, np.ndarray],
    smoothing: str,
    *,
    relative: bool = False,
    ax: Axes | None = None,
) -> Figure:
    """Validation bpc against k (log axis) or D, one line per order n; dots at the
    minima.

    With `relative`, each line is drawn minus its own minimum (the bits lost to a
    poor choice).
    """
    fig, ax = new_axes(ax, (5.5, 3.4))
    colors = _order_colors(bpc)
    for n, y in bpc.items():
        y = np.asarray(y) - (np.min(y) if relative else 0.0)
        best = int(np.argmin(y))
        ax.plot(grid, y, "-", color=colors[n], lw=1.6, label=f"n = {n}")
        ax.plot(grid[best], y[best], "o", color=colors[n], ms=6)
    if smoothing == "add-k":
        ax.set_xscale("log")
    ax.set_xlabel("k (added to every count)" if smoothing == "add-k" else "discount D")
    ax.set_ylabel(
        "bits above the best setting" if relative else "validation bits per character"
    )
    ax.set_title(LABELS[smoothing] + " on the validation plays")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize="small", ncols=2)
    return fig


def _order_colors(bpc: dict[int, np.ndarray]) -> dict[int, tuple]:
    cmap, ns = colormaps["viridis"], sorted(bpc)
    return {n: cmap(0.9 * i / max(len(ns) - 1, 1)) for i, n in enumerate(ns)}


def plot_next_char_table(
    counts: NGramCounts, rows: str, cols: str, *, ax: Axes | None = None
) -> Figure:
    """Heatmap of the bigram estimate P(next | previous) = c(prev next) / c(prev .)."""
    fig, ax = new_axes(ax, (7, 5.8))
    table = np.array([counts.next_counts(r) for r in rows], dtype=float)  # (R, V)
    probs = table / table.sum(axis=1, keepdims=True)
    sel = [counts.vocab.stoi[c] for c in cols]
    im = ax.imshow(
        probs[:, sel], cmap="viridis", vmin=0, vmax=1, interpolation="nearest"
    )
    ax.set_xticks(
        range(len(cols)), [show_char(c) for c in cols], fontfamily="monospace"
    )
    ax.set_yticks(
        range(len(rows)), [show_char(c) for c in rows], fontfamily="monospace"
    )
    ax.set_xlabel("next character w")
    ax.set_ylabel("previous character h")
    fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02, label="P(w | h), counts only")
    return fig
