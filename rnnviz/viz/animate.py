"""Animations that play in a notebook and in the static HTML book.

Each function returns a ``matplotlib.animation.FuncAnimation``; show it with
:func:`to_html` (``anim.to_jshtml()`` works too): a JavaScript player with its
frames embedded as palette PNGs and a stable element id, no kernel needed.
Artists are created once and updated frame by frame. Frame size is kept small
(about 7 x 4 inches at 72 dpi) so that a page stays within budget. Colours come
from :mod:`rnnviz.viz.palette`.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from IPython.display import HTML
from matplotlib.animation import FuncAnimation, HTMLWriter
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from PIL import Image

from rnnviz.probe import Trace
from rnnviz.viz.palette import BLACK, GATE_COLORS, NEGATIVE, TRACK, WHITE
from rnnviz.viz.plots import GATE_LABELS, GATE_RANGE, show_char


def _gate_cmap(name: str, levels: int = 16) -> LinearSegmentedColormap:
    """A colour map from white (or, for signed values, from the palette's
    ``NEGATIVE`` through white) to the gate's colour; masked steps (not yet read)
    are ``TRACK`` grey.

    ``levels`` discrete colours keep the embedded PNG frames small.
    """
    lo, hi = GATE_RANGE.get(name, (-1, 1))
    colors = (
        [WHITE, GATE_COLORS[name]] if lo == 0 else [NEGATIVE, WHITE, GATE_COLORS[name]]
    )
    return LinearSegmentedColormap.from_list(
        f"gate_{name}", colors, N=levels
    ).with_extremes(bad=TRACK)


def _hidden(shape: tuple[int, ...]) -> np.ma.MaskedArray:
    """An all-masked float array (masked_all leaves its data uninitialised)."""
    return np.ma.masked_array(np.zeros(shape), mask=True)


def _lay_out_once(fig: Figure) -> None:
    """Lay out ``fig`` as it stands and drop its layout engine.

    For animations whose frames all share one layout. With any engine attached,
    even ``"none"``, savefig draws the figure twice (a layout pass, then the
    render); with none it draws once, so the frames render in half the time.
    """
    fig.draw_without_rendering()
    fig.set_layout_engine(None)


def _redraws_only_its_artists(anim: FuncAnimation) -> FuncAnimation:
    """Mark ``anim`` as one whose frame function changes only the artists it
    returns, so that :func:`to_html` may draw the rest of the figure once."""
    anim._rnnviz_blit = True
    return anim


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
        raise ValueError(
            f"need the text the trace was recorded on ({T} characters), "
            f"got {None if text is None else len(text)}"
        )
    H = trace.hidden_size
    units = list(range(min(H, 12))) if units is None else list(units)
    if not units or any(not 0 <= u < H for u in units):
        raise IndexError(
            f"units must be a non-empty list of ints in [0, {H}), got {units}"
        )
    if names is None:
        names = list(trace.gate_names) + ["c" if trace.kind == "LSTM" else "h"]
    data = {
        n: trace.series(n, layer)[:, batch][:, units].T for n in names
    }  # each (U, T)

    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    axes = fig.subplots(len(names), 1, sharex=True)
    axes = np.atleast_1d(axes)
    images, cursors = [], []
    for ax, name in zip(axes, names):
        lo, hi = GATE_RANGE.get(
            name, (-np.abs(data[name]).max() or 1, np.abs(data[name]).max() or 1)
        )
        im = ax.imshow(
            _hidden(data[name].shape),
            aspect="auto",
            cmap=_gate_cmap(name),
            vmin=lo,
            vmax=hi,
            interpolation="nearest",
        )
        images.append(im)
        cursors.append(ax.axvspan(-0.5, 0.5, fill=False, ec=BLACK, lw=1.5))
        ax.set_yticks([])
        ax.set_ylabel(
            name,
            rotation=0,
            ha="right",
            va="center",
            color=GATE_COLORS[name],
            fontsize=13,
            fontweight="bold",
        )
        fig.colorbar(im, ax=ax, fraction=0.025, pad=0.01, ticks=[lo, hi])
    axes[-1].set_xticks(
        range(T), [show_char(c) for c in text], fontfamily="monospace", fontsize=8
    )
    title = fig.suptitle("", fontfamily="monospace", fontsize=10)
    legend = ", ".join(GATE_LABELS[n] for n in names)
    fig.supxlabel(
        f"{trace.kind} layer {layer}, units {units[0]}..{units[-1]}: {legend}",
        fontsize=8,
    )

    def frame(t: int):
        for im, name in zip(images, names):
            shown = _hidden(data[name].shape)
            shown[:, : t + 1] = data[name][:, : t + 1]
            im.set_data(shown)
        for cur in cursors:
            cur.set_x(t - 0.5)
        line = text.replace("\n", " ")
        title.set_text(f"reading: {line[:t]}[{show_char(text[t])}]{line[t + 1 :]}"[:90])
        return [*images, *cursors, title]

    frame(0)
    _lay_out_once(fig)  # every frame has this layout (a monospace title, fixed length)
    return _redraws_only_its_artists(
        FuncAnimation(fig, frame, frames=T, interval=interval, blit=False)
    )


def animate_sweep(
    plot_fn: Callable[..., Figure],
    frames: Sequence[dict[str, Any]],
    figsize: tuple[float, float] = (7.0, 3.2),
    dpi: int = 72,
    interval: int = 900,
) -> FuncAnimation:
    """The static counterpart of a widget: one frame per control setting.

    Frame ``k`` clears the axes and draws ``plot_fn(ax=ax, **frames[k])``, the
    same pure function the widget calls, so the HTML book plays through the
    settings a reader would pick with the slider.
    """
    if not frames:
        raise ValueError("frames is empty: give at least one set of keyword arguments")
    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    ax = fig.add_subplot()

    def frame(k: int):
        ax.clear()
        for extra in fig.axes[1:]:  # colour bars added by the previous frame
            extra.remove()
        plot_fn(ax=ax, **frames[k])
        return []

    frame(0)
    return FuncAnimation(fig, frame, frames=len(frames), interval=interval, blit=False)


class _PalettePNGWriter(HTMLWriter):
    """HTMLWriter whose embedded frames are palette PNGs of at most ``colors`` colours.

    An indexed PNG is smaller than the RGBA frame matplotlib writes. Use enough
    colours: the gate animation draws five colour maps of 16 levels each beside
    grey and antialiased text, and a palette of 48 merged the shades of its rarer
    panels (the cell state drew the wrong colours); 256 keeps them.
    """

    def __init__(self, colors: int, **kwargs: Any) -> None:
        super().__init__(embed_frames=True, **kwargs)
        self.colors = colors

    def grab_frame(self, **savefig_kwargs: Any) -> None:
        raw = io.BytesIO()
        self.fig.savefig(raw, format="png", dpi=self.dpi, **savefig_kwargs)
        self.add_image(Image.open(raw))

    def add_image(self, image: Image.Image) -> None:
        """Append ``image`` (any mode) as the next frame."""
        img = image.convert("RGB").quantize(
            colors=self.colors, method=Image.Quantize.MEDIANCUT
        )
        out = io.BytesIO()
        img.save(out, format="PNG", optimize=True)
        self._saved_frames.append(base64.encodebytes(out.getvalue()).decode("ascii"))


def _save_blitted(anim: FuncAnimation, writer: _PalettePNGWriter, path: Path) -> None:
    """What ``anim.save(path, writer)`` writes, drawing the still parts once.

    The figure is rendered once without the artists that the frame function
    returns (its background: axes, ticks, labels, colour bars); each frame
    restores that background and draws only those artists on it, as
    matplotlib's blitting does on screen. ``anim.save`` renders the whole
    figure for every frame, which for a gate animation is five times slower.
    Their axes' spines are left out of the background too and drawn over
    them, as a full render draws them; the frames agree with full renders to
    the palette's rounding (tests/viz/test_plots_widgets.py). The frame
    function must return every artist it changes.
    """
    fig = anim._fig
    frames = list(anim.new_saved_frame_seq())
    own_canvas = fig.canvas
    canvas = FigureCanvasAgg(fig)  # attaches itself to fig
    moving = list(anim._func(frames[0], *anim._args))
    # the spines of their axes too: a full render draws them over the images
    spines = [
        spine
        for ax in dict.fromkeys(a.axes for a in moving if a.axes is not None)
        for spine in ax.spines.values()
    ]
    try:
        for artist in moving + spines:
            artist.set_animated(True)  # left out of the background
        canvas.draw()
        background = canvas.copy_from_bbox(fig.bbox)
        renderer = canvas.get_renderer()
        writer.setup(fig, path, dpi=fig.dpi)
        for k in frames:
            canvas.restore_region(background)
            for artist in [*anim._func(k, *anim._args), *spines]:
                artist.draw(renderer)
            size = canvas.get_width_height()
            writer.add_image(Image.frombuffer("RGBA", size, canvas.buffer_rgba()))
        writer.finish()
    finally:
        for artist in moving + spines:
            artist.set_animated(False)
        fig.set_canvas(own_canvas)


# The player's buttons, drawn as inline SVG on a 16 x 16 grid in the text colour:
# no icon font from a CDN and no Unicode symbol that the reader's fonts may lack
# (Debian's have no glyph for first frame, pause or last frame: an empty box).
_ICON_PATHS = {
    "fa-minus": "M2 7h12v2H2z",  # slower
    "fa-fast-backward": "M2 3h2v10H2zm7 0v10L4 8zm6 0v10l-5-5z",  # first frame
    "fa-step-backward": "M3 3h2v10H3zm10 0v10L5 8z",  # previous frame
    "fa-play fa-flip-horizontal": "M12 2v12L3 8z",  # play backwards
    "fa-pause": "M3 3h3.5v10H3zm6.5 0H13v10H9.5z",  # pause
    "fa-play": "M4 2v12l9-6z",  # play
    "fa-step-forward": "M11 3h2v10h-2zM3 3v10l8-5z",  # next frame
    "fa-fast-forward": "M12 3h2v10h-2zM1 3v10l5-5zm6 0v10l5-5z",  # last frame
    "fa-plus": "M7 2h2v5h5v2H9v5H7V9H2V7h5z",  # faster
}
_UNKNOWN_ICON = "M8 4a4 4 0 1 0 0 8 4 4 0 0 0 0-8z"  # a dot, for a button added later


def _icon(name: str) -> str:
    """The inline SVG for the Font Awesome icon ``name`` (``"fa-play"``, ...)."""
    return (
        '<svg viewBox="0 0 16 16" width="1em" height="1em" fill="currentColor"'
        ' aria-hidden="true" focusable="false" style="vertical-align: -0.125em">'
        f'<path d="{_ICON_PATHS.get(name, _UNKNOWN_ICON)}"/></svg>'
    )


def _label_button(tag: re.Match[str]) -> str:
    """``<button ...>`` with an ``aria-label`` equal to its ``title`` if it has
    none, so that a screen reader names the button and not its icon."""
    attrs = tag.group(1) or ""
    title = re.search(r'\stitle="([^"]*)"', attrs)
    if title and not re.search(r"\saria-label=", attrs):
        attrs += f' aria-label="{title.group(1)}"'
    return f"<button{attrs}>"


_CONTROL = re.compile(r"<(?:button|input|select|textarea)\b[^>]*?(/?)>")
_SCRIPT = re.compile(r"(<script\b.*?</script>)", re.S)


def keep_keys(html: str) -> str:
    """``html`` with ``data-lm-suppress-shortcuts`` on every control outside scripts.

    In JupyterLab's command mode the arrow keys, Enter and Space are notebook
    shortcuts: Lumino matches a shortcut's selector walking up from the focused
    element and stops at the first element carrying this attribute, so the
    attribute must sit on the control itself (on a view's root it comes too late:
    the focused control already matches the notebook's ``:focus`` selector).
    """

    def mark(tag: re.Match[str]) -> str:
        t = tag.group(0)
        if "data-lm-suppress-shortcuts" in t:
            return t
        end = len(t) - len(tag.group(1)) - 1  # before "/>" or ">"
        return t[:end] + ' data-lm-suppress-shortcuts="true"' + t[end:]

    parts = _SCRIPT.split(html)  # odd items are the scripts
    return "".join(p if i % 2 else _CONTROL.sub(mark, p) for i, p in enumerate(parts))


def to_html(anim: FuncAnimation, default_mode: str = "loop", colors: int = 256) -> HTML:
    """Embed ``anim`` as a self-contained HTML player (JavaScript, frames inline).

    Like ``anim.to_jshtml()`` but with palette-compressed frames, an element id
    derived from the frames (the same animation gives the same HTML on every
    run), and buttons drawn as inline SVG icons (no icon font from a CDN, no
    symbol the reader's fonts may lack). Display the result in a notebook; it
    plays in the static book.
    """
    writer = _PalettePNGWriter(
        colors, fps=1000.0 / anim._interval, default_mode=default_mode
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "animation.html"
        if getattr(anim, "_rnnviz_blit", False):
            _save_blitted(anim, writer, path)
        else:
            anim.save(str(path), writer=writer, dpi=anim._fig.dpi)
        html = path.read_text()
    # The player's icons come from a Font Awesome stylesheet on a CDN: offline its
    # buttons would be blank. Drop the link and draw the icons as inline SVG.
    html = re.sub(
        r'<link rel="stylesheet"\s+href="https?://[^"]*font-awesome[^"]*">', "", html
    )
    html = re.sub(
        r'<i class="fa ([a-z -]+)"></i>', lambda m: _icon(m.group(1).strip()), html
    )
    html = re.sub(r"<button(\s[^>]*)?>", _label_button, html)
    html = keep_keys(html)
    ids = set(re.findall(r"_anim_img([0-9a-f]{32})", html))
    digest = hashlib.sha256("".join(writer._saved_frames).encode()).hexdigest()[:32]
    for old in ids:
        html = html.replace(old, digest)
    return HTML(html)


def _units_for(
    key: str, trace: Trace, units: Sequence[int] | Mapping[str, Sequence[int]] | None
) -> list[int]:
    """The units of ``trace`` to show: the given list, this model's entry, or the
    first 12."""
    H = trace.hidden_size
    if units is None:
        chosen = list(range(min(H, 12)))
    elif isinstance(units, Mapping):
        if key not in units:
            raise KeyError(f"units has no entry for {key!r}; it has {sorted(units)}")
        chosen = list(units[key])
    else:
        chosen = list(units)
    if not chosen or any(
        not isinstance(u, (int, np.integer)) or not 0 <= u < H for u in chosen
    ):
        raise IndexError(
            f"units for {key!r} must be a non-empty list of ints in [0, {H}), "
            f"got {chosen}"
        )
    return chosen


def animate_states(
    traces: Mapping[str, Trace],
    text: str,
    units: Sequence[int] | Mapping[str, Sequence[int]] | None = None,
    layer: int = 0,
    batch: int = 0,
    interval: int = 300,
    figsize: tuple[float, float] = (7.0, 4.2),
    dpi: int = 72,
) -> FuncAnimation:
    """Several models' hidden states ``h`` side by side as they read the same ``text``.

    ``traces`` maps a label (``"RNN"``, ``"LSTM"``, ...) to a
    :class:`~rnnviz.probe.Trace` of ``len(text)`` steps. The figure has one heatmap per
    model, stacked in the mapping's order (rows: units, columns: characters, one shared
    colour scale from -1 to 1). Frame ``k`` shows steps ``0..k`` of every model and a
    cursor on character ``k``; later steps are grey. ``units`` is one list for all
    models, a mapping label -> list, or ``None`` for the first 12 units of each.
    """
    if not isinstance(traces, Mapping) or not traces:
        raise ValueError("traces must be a non-empty mapping label -> Trace")
    for key, tr in traces.items():
        if not isinstance(tr, Trace):
            raise TypeError(f"traces[{key!r}] must be a Trace, got {type(tr).__name__}")
        if not isinstance(text, str) or len(tr) != len(text):
            n = len(text) if isinstance(text, str) else type(text).__name__
            raise ValueError(
                f"traces[{key!r}] has {len(tr)} steps but text has {n} characters"
            )
        if not 0 <= batch < tr.layers[0].h.shape[1]:
            raise IndexError(
                f"batch {batch} out of range for traces[{key!r}] "
                f"({tr.layers[0].h.shape[1]} sequences)"
            )
    T = len(text)
    data = {}  # label -> (U, T) hidden states of the chosen units
    for key, tr in traces.items():
        chosen = _units_for(key, tr, units)
        data[key] = tr.series("h", layer)[:, batch][:, chosen].T  # (U, T)

    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(data), 1, sharex=True))
    cmap = _gate_cmap("h")
    images, cursors = [], []
    for ax, (key, values) in zip(axes, data.items()):
        im = ax.imshow(
            _hidden(values.shape),
            aspect="auto",
            cmap=cmap,
            vmin=-1,
            vmax=1,
            interpolation="nearest",
        )
        images.append(im)
        cursors.append(ax.axvspan(-0.5, 0.5, fill=False, ec=BLACK, lw=1.5))
        ax.set_yticks([])
        ax.set_ylabel(
            key, rotation=0, ha="right", va="center", fontsize=12, fontweight="bold"
        )
    fig.colorbar(images[0], ax=list(axes), fraction=0.025, pad=0.01, ticks=[-1, 0, 1])
    axes[-1].set_xticks(
        range(T), [show_char(c) for c in text], fontfamily="monospace", fontsize=8
    )
    title = fig.suptitle("", fontfamily="monospace", fontsize=10)
    sizes = ", ".join(f"{k}: {v.shape[0]} units" for k, v in data.items())
    fig.supxlabel(f"hidden state h, layer {layer} ({sizes})", fontsize=8)
    line = text.replace("\n", " ")

    def frame(k: int):
        for im, values in zip(images, data.values()):
            shown = _hidden(values.shape)
            shown[:, : k + 1] = values[:, : k + 1]
            im.set_data(shown)
        for cur in cursors:
            cur.set_x(k - 0.5)
        title.set_text(f"reading: {line[:k]}[{show_char(text[k])}]{line[k + 1 :]}"[:90])
        return [*images, *cursors, title]

    frame(0)
    _lay_out_once(fig)  # every frame has this layout (a monospace title, fixed length)
    return _redraws_only_its_artists(
        FuncAnimation(fig, frame, frames=T, interval=interval, blit=False)
    )
