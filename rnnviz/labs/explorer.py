"""One LSTM or GRU unit, one step, every intermediate value: the cell explorer.

The controls are the numbers a unit's step depends on, with each gate set by its
*pre-activation* (the sum ``W x_t + b + W h_{t-1} + b`` that enters its
nonlinearity) rather than by ``x_t``, ``h_{t-1}`` and weights: a gate does not
care how that sum was reached, and this way one slider moves one gate.

* LSTM controls: ``c_prev`` and the pre-activations ``a_i, a_f, a_g, a_o``.
  ``h_{t-1}`` reaches an LSTM step only through the pre-activations, so it has
  no control of its own.
* GRU controls: ``h_prev`` (in [-1, 1], where a GRU state always lies), the
  pre-activations ``a_r, a_z`` and the two parts of the candidate's,
  ``a_in = W_in x_t + b_in`` and ``a_hn = W_hn h_{t-1} + b_hn``, kept apart
  because torch's reset gate multiplies the second only:
  ``n = tanh(a_in + r * a_hn)``.

:func:`lstm_values` and :func:`gru_values` compute the step as
:func:`rnnviz.cells.lstm_cell` and :func:`~rnnviz.cells.gru_cell` do;
:func:`plot_lstm_step` and :func:`plot_gru_step` draw it; :class:`CellExplorer`
wires sliders to them, and :func:`sweep_frames` builds the frames of its static
counterpart, ``rnnviz.viz.animate.animate_sweep(plot_lstm_step, frames)``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as W
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyBboxPatch, Rectangle

from rnnviz.viz.palette import (
    BLACK,
    DARK_GREY,
    GATE_COLORS,
    HIGHLIGHT,
    HIGHLIGHT_EDGE,
    INK,
    TRACK,
    WHITE,
)
from rnnviz.viz.plots import new_axes
from rnnviz.viz.widgets import figure_png

LSTM_CONTROLS = ("c_prev", "a_i", "a_f", "a_g", "a_o")
GRU_CONTROLS = ("h_prev", "a_r", "a_z", "a_in", "a_hn")
CONTROLS = {"LSTM": LSTM_CONTROLS, "GRU": GRU_CONTROLS}
# Slider range, step and start value of each control.
SLIDERS: dict[str, tuple[float, float, float, float]] = {
    "c_prev": (-3.0, 3.0, 0.1, 1.5),
    "a_i": (-6.0, 6.0, 0.1, 0.0),
    "a_f": (-6.0, 6.0, 0.1, 2.0),
    "a_g": (-6.0, 6.0, 0.1, 1.0),
    "a_o": (-6.0, 6.0, 0.1, 1.0),
    "h_prev": (-1.0, 1.0, 0.05, 0.6),
    "a_r": (-6.0, 6.0, 0.1, 1.0),
    "a_z": (-6.0, 6.0, 0.1, 0.0),
    "a_in": (-6.0, 6.0, 0.1, -0.5),
    "a_hn": (-6.0, 6.0, 0.1, 1.5),
}
DESCRIPTIONS = {
    "c_prev": "c_{t-1} cell",
    "a_i": "a_i input",
    "a_f": "a_f forget",
    "a_g": "a_g candidate",
    "a_o": "a_o output",
    "h_prev": "h_{t-1} state",
    "a_r": "a_r reset",
    "a_z": "a_z update",
    "a_in": "a_in (x part)",
    "a_hn": "a_hn (h part)",
}


# ----------------------------------------------------------------------------- values


def _real(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    return v


def sigmoid(a: float) -> float:
    """The logistic function, without overflow for large ``|a|``."""
    if a >= 0:
        return 1.0 / (1.0 + math.exp(-a))
    e = math.exp(a)
    return e / (1.0 + e)


def lstm_values(
    c_prev: float, a_i: float, a_f: float, a_g: float, a_o: float
) -> dict[str, float]:
    """Every value of one LSTM unit's step, from its previous cell and its
    pre-activations.

    Returns the controls and ``i, f, g, o, f*c, i*g, c, tanh(c), h`` (torch's gate
    order and equations)::

        >>> v = lstm_values(c_prev=2.0, a_i=0.0, a_f=6.0, a_g=0.0, a_o=0.0)
        >>> round(v["f"], 4), round(v["c"], 4), round(v["h"], 4)
        (0.9975, 1.9951, 0.4818)
    """
    c_prev, a_i, a_f, a_g, a_o = (
        _real(n, v) for n, v in zip(LSTM_CONTROLS, (c_prev, a_i, a_f, a_g, a_o))
    )
    i, f, g, o = sigmoid(a_i), sigmoid(a_f), math.tanh(a_g), sigmoid(a_o)
    fc, ig = f * c_prev, i * g
    c = fc + ig
    tc = math.tanh(c)
    return {
        "c_prev": c_prev,
        "a_i": a_i,
        "a_f": a_f,
        "a_g": a_g,
        "a_o": a_o,
        "i": i,
        "f": f,
        "g": g,
        "o": o,
        "f*c": fc,
        "i*g": ig,
        "c": c,
        "tanh(c)": tc,
        "h": o * tc,
    }


def gru_values(
    h_prev: float, a_r: float, a_z: float, a_in: float, a_hn: float
) -> dict[str, float]:
    """Every value of one GRU unit's step in torch's convention.

    ``a_in = W_in x + b_in`` and ``a_hn = W_hn h_prev + b_hn`` are the input and
    hidden parts of the candidate's pre-activation; the reset gate scales the
    hidden part, bias included. Returns the controls and
    ``r, z, r*a_hn, a_n, n, 1-z, (1-z)*n, z*h, h``::

        >>> v = gru_values(h_prev=0.5, a_r=-6.0, a_z=0.0, a_in=0.0, a_hn=3.0)
        >>> round(v["r"], 4), round(v["n"], 4), round(v["h"], 4)
        (0.0025, 0.0074, 0.2537)
    """
    h_prev, a_r, a_z, a_in, a_hn = (
        _real(n, v) for n, v in zip(GRU_CONTROLS, (h_prev, a_r, a_z, a_in, a_hn))
    )
    if not -1.0 <= h_prev <= 1.0:
        raise ValueError(
            "h_prev must be in [-1, 1] (a GRU state starting there never leaves "
            f"it), got {h_prev}"
        )
    r, z = sigmoid(a_r), sigmoid(a_z)
    rh = r * a_hn
    a_n = a_in + rh
    n = math.tanh(a_n)
    zn, zh = (1.0 - z) * n, z * h_prev
    return {
        "h_prev": h_prev,
        "a_r": a_r,
        "a_z": a_z,
        "a_in": a_in,
        "a_hn": a_hn,
        "r": r,
        "z": z,
        "r*a_hn": rh,
        "a_n": a_n,
        "n": n,
        "1-z": 1.0 - z,
        "(1-z)*n": zn,
        "z*h": zh,
        "h": zn + zh,
    }


VALUES: dict[str, Callable[..., dict[str, float]]] = {
    "LSTM": lstm_values,
    "GRU": gru_values,
}


def format_value(v: float) -> str:
    """How the diagrams print a value: three decimals, a true minus sign."""
    s = f"{v:.3f}"
    return "\u2212" + s[1:] if s.startswith("-") and s != "-0.000" else s.lstrip("-")


# ----------------------------------------------------------------------------- drawing

_BOX_W, _BOX_H = 1.46, 1.04
_R = 0.2  # radius of a x or + node


def _box(
    ax: Axes,
    x: float,
    y: float,
    label: str,
    value: float,
    lo: float,
    hi: float,
    color: str,
    w: float = _BOX_W,
    h: float = _BOX_H,
    size: float = 9.5,
) -> None:
    """A rounded box centred at (x, y): label, value, and a bar of value on [lo, hi]."""
    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2),
            w,
            h,
            boxstyle="round,pad=0,rounding_size=0.12",
            fc=color + "1f",
            ec=color,
            lw=1.6,
            zorder=2,
        )
    )
    ax.text(
        x,
        y + 0.27 * h,
        label,
        ha="center",
        va="center",
        fontsize=size,
        color=INK,
        zorder=3,
    )
    ax.text(
        x,
        y - 0.02 * h,
        format_value(value),
        ha="center",
        va="center",
        fontsize=12,
        fontweight="bold",
        color=INK,
        zorder=3,
    )
    bw, bh, by = w - 0.24, 0.12, y - 0.32 * h
    x0 = x - bw / 2
    ax.add_patch(Rectangle((x0, by - bh / 2), bw, bh, fc=TRACK, ec="none", zorder=3))
    base = 0.0 if lo < 0 < hi else lo
    frac = lambda v: (min(max(v, lo), hi) - lo) / (hi - lo)  # noqa: E731
    left, right = sorted((frac(base), frac(value)))
    ax.add_patch(
        Rectangle(
            (x0 + left * bw, by - bh / 2),
            (right - left) * bw,
            bh,
            fc=color,
            ec="none",
            zorder=4,
        )
    )
    if lo < 0 < hi:  # a tick at zero
        ax.plot(
            [x0 + frac(0.0) * bw] * 2, [by - bh, by + bh], color=INK, lw=0.8, zorder=5
        )
    if not lo <= value <= hi:  # clipped: say so
        ax.text(
            x0 + (bw + 0.1 if value > hi else -0.1),
            by,
            "\u25b8" if value > hi else "\u25c2",
            ha="center",
            va="center",
            fontsize=8,
            color=color,
            zorder=5,
        )


def _node(ax: Axes, x: float, y: float, symbol: str) -> None:
    ax.add_patch(Circle((x, y), _R, fc=WHITE, ec=INK, lw=1.2, zorder=3))
    ax.text(
        x, y - 0.01, symbol, ha="center", va="center", fontsize=11, color=INK, zorder=4
    )


def _arrow(
    ax: Axes,
    start: tuple[float, float],
    end: tuple[float, float],
    color: str = INK,
    lw: float = 1.4,
) -> None:
    ax.annotate(
        "",
        xy=end,
        xytext=start,
        zorder=1,
        arrowprops=dict(
            arrowstyle="-|>,head_length=0.45,head_width=0.22",
            color=color,
            lw=lw,
            shrinkA=0,
            shrinkB=0,
        ),
    )


def _line(
    ax: Axes,
    xs: Sequence[float],
    ys: Sequence[float],
    color: str = INK,
    lw: float = 1.4,
) -> None:
    ax.plot(xs, ys, color=color, lw=lw, zorder=1, solid_capstyle="butt")


def _value_label(
    ax: Axes, x: float, y: float, name: str, value: float, ha: str = "center"
) -> None:
    ax.text(
        x,
        y,
        f"{name} = {format_value(value)}",
        ha=ha,
        va="center",
        fontsize=9.5,
        color=INK,
        zorder=4,
        bbox=dict(boxstyle="round,pad=0.15", fc=WHITE, ec="none", alpha=0.9),
    )


def _preact(
    ax: Axes,
    x: float,
    y: float,
    name: str,
    value: float,
    highlight: str | None,
    ha: str = "center",
) -> None:
    """A pre-activation control, printed where it enters its gate; the swept one
    boxed."""
    sub = name[2:]
    on = highlight == name
    shown = f"{value:.1f}".replace("-", "\u2212")
    ax.text(
        x,
        y,
        f"$a_{{{sub}}}$ = {shown}",
        ha=ha,
        va="center",
        fontsize=10.5 if on else 9.5,
        color=BLACK if on else INK,
        fontweight="bold" if on else "normal",
        zorder=4,
        bbox=dict(
            boxstyle="round,pad=0.25",
            fc=HIGHLIGHT if on else WHITE,
            ec=HIGHLIGHT_EDGE if on else "none",
        ),
    )


def _canvas(ax: Axes | None, note: str | None, kind: str) -> tuple[Figure, Axes]:
    fig, ax = new_axes(ax, (8.0, 4.3))
    ax.set_xlim(0, 12.2)
    ax.set_ylim(-0.05, 6.05)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(
        note if note else f"one {kind} unit, one step",
        fontsize=10,
        loc="left",
        color=INK,
    )
    return fig, ax


def plot_lstm_step(
    c_prev: float = SLIDERS["c_prev"][3],
    a_i: float = SLIDERS["a_i"][3],
    a_f: float = SLIDERS["a_f"][3],
    a_g: float = SLIDERS["a_g"][3],
    a_o: float = SLIDERS["a_o"][3],
    note: str | None = None,
    highlight: str | None = None,
    ax: Axes | None = None,
    source: str = "set by the sliders",
) -> Figure:
    """Draw one LSTM unit's step: ``c_{t-1}`` along the top through ``x f`` and
    ``+ i*g`` to ``c_t``, the gates below fed by their pre-activations, and
    ``h_t = o * tanh(c_t)``.

    Each gate and state is a box with its value and a bar on its range (gates
    [0, 1], candidate and ``h`` [-1, 1], cell [-4, 4]). ``note`` replaces the
    title; ``highlight`` (a control's name) marks the control being swept;
    ``source`` says where the pre-activations come from (printed under their
    formula, in parentheses; empty for nothing).
    """
    v = lstm_values(c_prev, a_i, a_f, a_g, a_o)
    fig, ax = _canvas(ax, note, "LSTM")
    C, H = GATE_COLORS["c"], GATE_COLORS["h"]
    top, mid, low, pre = 5.15, 3.45, 1.85, 0.35
    xf, xi, xg, xo, xh, xout = 3.2, 5.05, 6.75, 8.3, 9.65, 11.3
    xp = 5.9  # the + node and the i*g node above it

    # the cell state's path along the top: c_{t-1} -> x f -> + i*g -> c_t
    cprev_lbl = "$c_{t-1}$ (cell)" if highlight != "c_prev" else "$c_{t-1}$ (swept)"
    _box(ax, 0.95, top, cprev_lbl, v["c_prev"], -4, 4, C, w=1.5)
    _arrow(ax, (1.7, top), (xf - _R, top), C)
    _node(ax, xf, top, "\u00d7")
    _arrow(ax, (xf + _R, top), (xp - _R, top), C)
    _value_label(ax, (xf + xp) / 2, top + 0.32, "f\u00b7c", v["f*c"])
    _node(ax, xp, top, "+")
    _arrow(ax, (xp + _R, top), (xout - 0.9, top), C, lw=2.0)
    _box(ax, xout, top, r"$c_t = f c + i g$", v["c"], -4, 4, C, w=1.8)

    # gates, each fed from below by its pre-activation
    for name, x, label, lo in (
        ("f", xf, r"$f = \sigma(a_f)$", 0),
        ("i", xi, r"$i = \sigma(a_i)$", 0),
        ("g", xg, r"$g = \tanh(a_g)$", -1),
        ("o", xo, r"$o = \sigma(a_o)$", 0),
    ):
        _box(ax, x, low, label, v[name], lo, 1, GATE_COLORS[name])
        _arrow(ax, (x, pre + 0.22), (x, low - _BOX_H / 2), GATE_COLORS[name])
        _preact(ax, x, pre, "a_" + name, v["a_" + name], highlight)
    ax.text(
        0.15,
        1.55,
        "pre-activations\n$a = W x_t + U h_{t-1} + b$"
        + (f"\n({source})" if source else ""),
        fontsize=8,
        color=DARK_GREY,
        va="center",
        ha="left",
        linespacing=1.5,
    )

    _arrow(ax, (xf, low + _BOX_H / 2), (xf, top - _R), GATE_COLORS["f"])
    _node(ax, xp, mid, "\u00d7")
    _arrow(ax, (xi, low + _BOX_H / 2), (xp - 0.15, mid - 0.15), GATE_COLORS["i"])
    _arrow(ax, (xg, low + _BOX_H / 2), (xp + 0.15, mid - 0.15), GATE_COLORS["g"])
    _arrow(ax, (xp, mid + _R), (xp, top - _R), INK)
    _value_label(ax, xp + 0.3, (mid + top) / 2 - 0.05, "i\u00b7g", v["i*g"], ha="left")

    # the output: h_t = o * tanh(c_t)
    _line(ax, [xh, xh], [top, mid + 0.9], C)
    ax.plot([xh], [top], "o", ms=4, color=C, zorder=2)
    _arrow(ax, (xh, mid + 0.9), (xh, mid + _BOX_H / 2), C)
    _box(ax, xh, mid + 0.4, r"$\tanh(c_t)$", v["tanh(c)"], -1, 1, C, h=_BOX_H)
    _arrow(ax, (xh, mid + 0.4 - _BOX_H / 2), (xh, low + _R), C)
    _node(ax, xh, low, "\u00d7")
    _arrow(ax, (xo + _BOX_W / 2, low), (xh - _R, low), GATE_COLORS["o"])
    _arrow(ax, (xh + _R, low), (xout - 0.9, low), H, lw=2.0)
    _box(ax, xout, low, r"$h_t = o\,\tanh(c_t)$", v["h"], -1, 1, H, w=1.8)
    return fig


def plot_gru_step(
    h_prev: float = SLIDERS["h_prev"][3],
    a_r: float = SLIDERS["a_r"][3],
    a_z: float = SLIDERS["a_z"][3],
    a_in: float = SLIDERS["a_in"][3],
    a_hn: float = SLIDERS["a_hn"][3],
    note: str | None = None,
    highlight: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Draw one GRU unit's step (torch's convention): ``h_{t-1}`` along the top through
    ``x z`` and ``+ (1-z)*n`` to ``h_t``; below, the candidate
    ``n = tanh(a_in + r * a_hn)`` with the reset gate scaling the hidden part only.
    """
    v = gru_values(h_prev, a_r, a_z, a_in, a_hn)
    fig, ax = _canvas(ax, note, "GRU")
    Hc, N = GATE_COLORS["h"], GATE_COLORS["n"]
    top, mid, low, pre = 5.15, 3.45, 1.85, 0.35
    xr, xm, xa, xz, xn, xout = 1.35, 3.05, 4.55, 7.0, 9.65, 11.3

    # the state's path along the top: h_{t-1} -> x z -> + (1-z) n -> h_t
    _box(
        ax,
        0.95,
        top,
        "$h_{t-1}$ (state)" if highlight != "h_prev" else "$h_{t-1}$ (swept)",
        v["h_prev"],
        -1,
        1,
        Hc,
        w=1.5,
    )
    _arrow(ax, (1.7, top), (xz - _R, top), Hc)
    _node(ax, xz, top, "\u00d7")
    _value_label(ax, (xz + xn) / 2, top + 0.32, "z\u00b7h", v["z*h"])
    _arrow(ax, (xz + _R, top), (xn - _R, top), Hc)
    _node(ax, xn, top, "+")
    _arrow(ax, (xn + _R, top), (xout - 0.9, top), Hc, lw=2.0)
    _box(ax, xout, top, r"$h_t = z h + (1-z) n$", v["h"], -1, 1, Hc, w=1.8, size=8.5)

    # the update gate: z keeps the old state, 1 - z lets the candidate in
    _box(ax, xz, mid, r"$z = \sigma(a_z)$", v["z"], 0, 1, GATE_COLORS["z"])
    _preact(ax, xz - _BOX_W / 2 - 0.95, mid, "a_z", v["a_z"], highlight)
    _arrow(ax, (xz - _BOX_W / 2 - 0.45, mid), (xz - _BOX_W / 2, mid), GATE_COLORS["z"])
    _arrow(ax, (xz, mid + _BOX_H / 2), (xz, top - _R), GATE_COLORS["z"])
    _node(ax, xn, mid, "\u00d7")
    _arrow(ax, (xz + _BOX_W / 2, mid), (xn - _R, mid), GATE_COLORS["z"])
    ax.text(
        (xz + _BOX_W / 2 + xn - _R) / 2,
        mid + 0.2,
        f"1\u2212z = {format_value(v['1-z'])}",
        ha="center",
        va="bottom",
        fontsize=9,
        color=INK,
    )
    _arrow(ax, (xn, mid + _R), (xn, top - _R), N)
    _value_label(
        ax, xn + 0.3, (mid + top) / 2, "(1\u2212z)\u00b7n", v["(1-z)*n"], ha="left"
    )

    # the candidate: n = tanh(a_in + r * a_hn), reset applied to the hidden part
    _box(ax, xr, low, r"$r = \sigma(a_r)$", v["r"], 0, 1, GATE_COLORS["r"])
    _arrow(ax, (xr, pre + 0.22), (xr, low - _BOX_H / 2), GATE_COLORS["r"])
    _preact(ax, xr, pre, "a_r", v["a_r"], highlight)
    _node(ax, xm, low, "\u00d7")
    _arrow(ax, (xr + _BOX_W / 2, low), (xm - _R, low), GATE_COLORS["r"])
    _arrow(ax, (xm, pre + 0.22), (xm, low - _R), INK)
    _preact(ax, xm, pre, "a_hn", v["a_hn"], highlight)
    ax.text(
        xm,
        pre - 0.32,
        "$W_{hn} h_{t-1} + b_{hn}$",
        ha="center",
        va="center",
        fontsize=8,
        color=DARK_GREY,
    )
    _node(ax, xa, low, "+")
    _arrow(ax, (xm + _R, low), (xa - _R, low), INK)
    _value_label(ax, (xm + xa) / 2, low + 0.35, r"r$\cdot a_{hn}$", v["r*a_hn"])
    _arrow(ax, (xa, pre + 0.22), (xa, low - _R), INK)
    _preact(ax, xa, pre, "a_in", v["a_in"], highlight)
    ax.text(
        xa,
        pre - 0.32,
        "$W_{in} x_t + b_{in}$",
        ha="center",
        va="center",
        fontsize=8,
        color=DARK_GREY,
    )
    _arrow(ax, (xa + _R, low), (xn - _BOX_W / 2, low), INK)
    _value_label(ax, (xa + xn - _BOX_W / 2) / 2 + 0.45, low + 0.3, "$a_n$", v["a_n"])
    _box(ax, xn, low, r"$n = \tanh(a_n)$", v["n"], -1, 1, N)
    _arrow(ax, (xn, low + _BOX_H / 2), (xn, mid - _R), N)
    return fig


PLOTS: dict[str, Callable[..., Figure]] = {"LSTM": plot_lstm_step, "GRU": plot_gru_step}


def sweep_frames(
    base: Mapping[str, float],
    name: str,
    values: Sequence[float],
    note: str | None = None,
) -> list[dict[str, Any]]:
    """Frames for ``animate_sweep``: ``base`` with control ``name`` set to each of
    ``values``.

    Each frame also carries ``note`` (the figure's title) and ``highlight=name``.
    """
    if name not in base:
        raise KeyError(f"{name!r} is not one of the controls {sorted(base)}")
    if len(values) == 0:
        raise ValueError("values is empty: give at least one value to sweep through")
    return [{**base, name: float(x), "note": note, "highlight": name} for x in values]


# ----------------------------------------------------------------------------- widget


class CellExplorer(W.VBox):
    """Sliders for one LSTM or GRU unit's controls; the diagram of its step below.

    ``explorer.kind.value = "GRU"`` swaps the sliders shown;
    ``explorer.sliders["a_f"].value = 4`` redraws. Works without a kernel: the
    diagram is rendered to PNG bytes in ``explorer.image``.
    """

    def __init__(self, kind: str = "LSTM", dpi: int = 80, **values: float) -> None:
        if kind not in CONTROLS:
            raise ValueError(f"kind must be 'LSTM' or 'GRU', got {kind!r}")
        unknown = set(values) - set(SLIDERS)
        if unknown:
            raise TypeError(
                f"unknown controls {sorted(unknown)}; the controls are {list(SLIDERS)}"
            )
        self.dpi = dpi
        self.sliders: dict[str, W.FloatSlider] = {}
        for name, (lo, hi, step, start) in SLIDERS.items():
            value = _real(name, values.get(name, start))
            if not lo <= value <= hi:
                raise ValueError(
                    f"{name} must be in [{lo}, {hi}] (the slider's range), got {value}"
                )
            self.sliders[name] = W.FloatSlider(
                value=value,
                min=lo,
                max=hi,
                step=step,
                description=DESCRIPTIONS[name],
                continuous_update=False,
                readout_format=".2f",
                style={"description_width": "8em"},
                layout=W.Layout(width="26em"),
            )
            self.sliders[name].observe(self._redraw, names="value")
        self.kind = W.ToggleButtons(
            options=list(CONTROLS), value=kind, description="cell"
        )
        self.controls = W.GridBox(
            layout=W.Layout(grid_template_columns="repeat(2, 27em)")
        )
        self.image = W.Image(format="png")
        super().__init__([self.kind, self.controls, self.image])
        self.kind.observe(self._switch, names="value")
        self._switch()

    def values(self) -> dict[str, float]:
        """Every intermediate value of the step the sliders set."""
        return VALUES[self.kind.value](**self._controls())

    def _controls(self) -> dict[str, float]:
        return {n: self.sliders[n].value for n in CONTROLS[self.kind.value]}

    def _switch(self, _change: Any = None) -> None:
        self.controls.children = [self.sliders[n] for n in CONTROLS[self.kind.value]]
        self._redraw()

    def _redraw(self, change: Any = None) -> None:
        if change is not None and change["owner"] not in self.controls.children:
            return  # a slider of the other cell, not shown
        fig = PLOTS[self.kind.value](**self._controls())
        self.image.value = figure_png(fig, self.dpi)


def cell_explorer(kind: str = "LSTM", **values: float) -> CellExplorer:
    """An explorer of one LSTM or GRU unit's step; ``values`` set the sliders' start."""
    return CellExplorer(kind, **values)
