"""Schematic drawings of recurrent networks (boxes and arrows), pyplot-free."""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from rnnviz._checks import positive_int
from rnnviz.viz.palette import GATE_COLORS, WHITE, YELLOW
from rnnviz.viz.plots import new_axes, show_char

_LAYER_COLORS = {"x": YELLOW, "h": GATE_COLORS["h"], "y": GATE_COLORS["o"]}


def _box(
    ax: Axes, x: float, y: float, label: str, color: str, w: float = 0.8, h: float = 0.6
) -> None:
    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2),
            w,
            h,
            boxstyle="round,pad=0.04,rounding_size=0.12",
            fc=color,
            ec="0.2",
            lw=1.2,
            alpha=0.9,
        )
    )
    ax.text(x, y, label, ha="center", va="center", fontsize=11)


def _arrow(
    ax: Axes,
    start,
    end,
    label: str = "",
    color: str = "0.25",
    offset=(0.0, 0.0),
    connection: str = "arc3,rad=0",
) -> None:
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle="-|>",
            mutation_scale=13,
            lw=1.4,
            color=color,
            connectionstyle=connection,
            shrinkA=2,
            shrinkB=2,
        )
    )
    if label:
        mx, my = (
            (start[0] + end[0]) / 2 + offset[0],
            (start[1] + end[1]) / 2 + offset[1],
        )
        ax.text(
            mx,
            my,
            label,
            ha="center",
            va="center",
            fontsize=9,
            color=color,
            bbox=dict(fc=WHITE, ec="none", pad=0.5),
        )


def plot_unrolled(
    text: str | None = None, steps: int = 4, ax: Axes | None = None
) -> Figure:
    """The RNN folded (left) and unrolled over ``steps`` time steps (right).

    Input layer ``x_t`` at the bottom, hidden layer ``h_t`` in the middle with
    the recurrent weights ``W_hh`` carrying it to the next step, output layer
    ``y_t`` on top. With ``text``, the inputs are its characters and the targets
    the next characters (``steps = len(text) - 1``). The same three matrices
    are used at every step.
    """
    if text is not None:
        if len(text) < 2:
            raise ValueError(
                "text must have at least 2 characters (an input and its next "
                f"character), got {text!r}"
            )
        steps = len(text) - 1
    if not 1 <= steps <= 12:
        raise ValueError(f"steps must be between 1 and 12 to stay legible, got {steps}")
    fig, ax = new_axes(ax, (1.6 + 1.45 * steps + 1.2, 3.6))
    # folded network
    _box(ax, 0, 0, "$x_t$", _LAYER_COLORS["x"])
    _box(ax, 0, 1.5, "$h_t$", _LAYER_COLORS["h"])
    _box(ax, 0, 3, "$y_t$", _LAYER_COLORS["y"])
    _arrow(ax, (0, 0.3), (0, 1.2), "$W_{xh}$", offset=(-0.45, 0))
    _arrow(ax, (0, 1.8), (0, 2.7), "$W_{hy}$", offset=(-0.45, 0))
    # the recurrent loop: h_t feeds the next step's h through W_hh
    _arrow(
        ax,
        (0.4, 1.65),
        (0.4, 1.35),
        color=GATE_COLORS["c"],
        connection="arc,angleA=0,angleB=0,armA=28,armB=28,rad=8",
    )
    ax.text(
        1.05,
        1.5,
        "$W_{hh}$",
        ha="center",
        va="center",
        fontsize=9,
        color=GATE_COLORS["c"],
    )
    ax.text(1.75, 1.5, "=", fontsize=22, ha="center", va="center")
    # unrolled
    x0 = 3.4
    for t in range(steps):
        cx = x0 + 1.45 * t
        xin = f"$x_{{{t + 1}}}$" if text is None else f"{show_char(text[t])!r}"[1:-1]
        yout = (
            f"$y_{{{t + 1}}}$" if text is None else f"{show_char(text[t + 1])!r}"[1:-1]
        )
        _box(ax, cx, 0, xin, _LAYER_COLORS["x"])
        _box(ax, cx, 1.5, f"$h_{{{t + 1}}}$", _LAYER_COLORS["h"])
        _box(ax, cx, 3, yout, _LAYER_COLORS["y"])
        _arrow(ax, (cx, 0.3), (cx, 1.2))
        _arrow(ax, (cx, 1.8), (cx, 2.7))
        prev = (cx - 1.45 + 0.4, 1.5) if t else (cx - 1.0, 1.5)
        _arrow(
            ax,
            prev,
            (cx - 0.4, 1.5),
            "$W_{hh}$" if t == 0 else "",
            color=GATE_COLORS["c"],
            offset=(0, 0.28),
        )
        if t == 0:
            ax.text(cx - 1.15, 1.5, "$h_0$", ha="right", va="center", fontsize=11)
    ax.text(
        x0 - 0.55,
        -0.75,
        "input layer: one character at a time",
        fontsize=9,
        color="0.3",
    )
    ax.text(
        x0 - 0.55,
        3.7,
        "output layer: scores for the next character",
        fontsize=9,
        color="0.3",
    )
    ax.set_xlim(-0.8, x0 + 1.45 * (steps - 1) + 0.8)
    ax.set_ylim(-1.0, 4.0)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig


def plot_stream_batches(
    text: str,
    batch_size: int,
    seq_len: int,
    num_batches: int = 3,
    ax: Axes | None = None,
) -> Figure:
    """How :func:`rnnviz.data.stream_batches` reads ``text``: B rows, T columns per
    batch.

    The text is cut into ``batch_size`` contiguous streams (one per row); batch
    k is columns ``k*T .. k*T+T-1`` of every row, drawn in its own colour, so
    the state a row ends batch k with is the right start for batch k+1. Shows
    the first ``num_batches`` batches, character by character.
    """
    batch_size = positive_int("batch_size", batch_size)
    seq_len = positive_int("seq_len", seq_len)
    num_batches = positive_int("num_batches", num_batches)
    if not isinstance(text, str) or not text:
        raise ValueError("text is empty")
    length = len(text) // batch_size
    cols = num_batches * seq_len
    if length < cols + 1:
        raise ValueError(
            f"text of {len(text)} characters gives streams of {length}; "
            f"{num_batches} batches of {seq_len} need at least {cols + 1} per stream"
        )
    fig, ax = new_axes(
        ax, figsize=(min(0.22 * cols + 1.6, 12), 0.36 * batch_size + 1.0)
    )
    palette = [GATE_COLORS[k] for k in ("i", "f", "g", "o", "c")]
    for b in range(batch_size):
        row = text[b * length : b * length + cols]
        for t, ch in enumerate(row):
            k = t // seq_len
            ax.add_patch(
                FancyBboxPatch(
                    (t + 0.06, -b - 0.44),
                    0.88,
                    0.88,
                    boxstyle="square,pad=0",
                    fc=palette[k % len(palette)],
                    ec=WHITE,
                    lw=0.5,
                    alpha=0.35 + 0.2 * (k % 2),
                )
            )
            ax.text(
                t + 0.5,
                -b,
                show_char(ch),
                ha="center",
                va="center",
                fontsize=7,
                family="monospace",
            )
        ax.text(
            -0.4,
            -b,
            f"stream {b}  (chars {b * length:,}…)",
            ha="right",
            va="center",
            fontsize=8,
        )
    for k in range(num_batches):
        ax.text(
            k * seq_len + seq_len / 2,
            0.9,
            f"batch {k}",
            ha="center",
            va="center",
            fontsize=9,
            color=palette[k % len(palette)],
            fontweight="bold",
        )
    ax.text(cols + 0.4, -(batch_size - 1) / 2, "…", ha="left", va="center", fontsize=14)
    ax.set_xlim(-0.5, cols + 1.2)
    ax.set_ylim(-batch_size + 0.3, 1.4)
    ax.set_axis_off()
    ax.set_title(
        f"{batch_size} streams read {seq_len} characters at a time; "
        "each row's state carries into the next batch",
        fontsize=10,
    )
    return fig
