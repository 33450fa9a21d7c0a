"""Self-contained HTML views that stay interactive in the static book.

A view is one HTML string with its data inline (quantised to bytes and base64
encoded) and a few lines of plain JavaScript: no CDN, no kernel, no server. It
works the same displayed in a notebook (``IPython.display.HTML``) and in the
built book. Element ids are derived from the data, so the same view gives the
same HTML on every run. Colours come from :mod:`rnnviz.viz.palette`.

- :func:`text_view` colours a text by one unit's gate or state of a trace;
  :func:`series_view` does the same for any per-character values (one script).
- :func:`sampling_view` and :func:`sampling_lab_view` show generated text with
  each character's probability and entropy.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import numbers
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from IPython.display import HTML
from matplotlib import colormaps
from matplotlib.colors import to_hex

from rnnviz.probe import Trace
from rnnviz.viz.animate import keep_keys
from rnnviz.viz.palette import (
    BLUE,
    DARK_GREY,
    GATE_COLORS,
    GREY,
    NEGATIVE,
    TRACK,
    VERMILLION,
    WHITE,
    series_colors,
)
from rnnviz.viz.plots import GATE_LABELS, GATE_RANGE

if TYPE_CHECKING:
    from rnnviz.sampling import Generation, Step

# Each control keeps its keys in JupyterLab (keep_keys); the template is marked once.
_TEMPLATE = keep_keys(
    """
<div class="rnnviz-view" id="{id}" data-lm-suppress-shortcuts="true"
  style="font-family: sans-serif; font-size: 14px; margin: 0.5em 0;">
  <div style="margin-bottom: 0.4em;">
    <label>show <select class="rv-series">{options}</select></label>
    <label style="margin-left: 1em;">unit <input class="rv-unit" type="range"
      min="0" max="{umax}" value="0" style="vertical-align: middle; width: 14em;">
    </label>
    <button class="rv-prev" type="button">&#9664;</button><button class="rv-next"
      type="button">&#9654;</button>
    <span class="rv-label" style="margin-left: 0.6em; font-weight: bold;"></span>
  </div>
  <div class="rv-text" style="font-family: monospace; font-size: 15px;
    line-height: 1.7; white-space: pre-wrap; border: 1px solid {border};
    padding: 0.5em; border-radius: 4px;"></div>
  <div class="rv-hover" style="color: {muted}; font-size: 12px; min-height: 1.3em;
    margin-top: 0.2em;"></div>
</div>
<script>
(function() {{
  var root = document.getElementById("{id}");
  var D = {data};
  var chars = D.text;
  var T = chars.length;
  var series = D.series;
  function decode(b64) {{
    var s = atob(b64), a = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) a[i] = s.charCodeAt(i);
    return a;
  }}
  var bytes = {{}};
  Object.keys(series).forEach(function(k) {{ bytes[k] = decode(series[k].b64); }});
  var sel = root.querySelector(".rv-series"), slider = root.querySelector(".rv-unit");
  var label = root.querySelector(".rv-label"), box = root.querySelector(".rv-text");
  var hover = root.querySelector(".rv-hover");
  var spans = [];
  for (var t = 0; t < T; t++) {{
    var sp = document.createElement("span");
    sp.textContent = chars[t] === "\\n" ? "\\u21b5\\n" : chars[t];
    sp.dataset.t = t;
    sp.addEventListener("mouseenter", function(e) {{
      var t = +e.target.dataset.t, v = value(sel.value, +slider.value, t);
      hover.textContent = "step " + t + ", " + JSON.stringify(chars[t]) + ": " +
        sel.value + " = " + v.toFixed(3);
    }});
    box.appendChild(sp); spans.push(sp);
  }}
  function value(name, u, t) {{
    var s = series[name], q = bytes[name][t * D.units.length + u];
    return s.lo + (s.hi - s.lo) * q / 255;
  }}
  function mix(c1, c2, w) {{
    var a = [1, 3, 5].map(function(i) {{ return parseInt(c1.substr(i, 2), 16); }});
    var b = [1, 3, 5].map(function(i) {{ return parseInt(c2.substr(i, 2), 16); }});
    return "rgb(" + a.map(function(x, i) {{
      return Math.round(x + (b[i] - x) * w); }}).join(",") + ")";
  }}
  function color(name, v) {{
    var s = series[name];
    if (s.lo >= 0) return mix("{white}", s.color, (v - s.lo) / (s.hi - s.lo));
    var m = Math.max(Math.abs(s.lo), Math.abs(s.hi));
    return v >= 0 ? mix("{white}", s.color, v / m)
                  : mix("{white}", "{negative}", -v / m);
  }}
  function draw() {{
    var name = sel.value, u = +slider.value;
    label.textContent = series[name].label + ", unit " + D.units[u];
    for (var t = 0; t < T; t++) {{
      spans[t].style.background = color(name, value(name, u, t));
    }}
    root.dataset.drawn = name + ":" + D.units[u];
  }}
  sel.addEventListener("change", draw);
  slider.addEventListener("input", draw);
  root.querySelector(".rv-prev").addEventListener("click", function() {{
    slider.value = Math.max(0, +slider.value - 1); draw(); }});
  root.querySelector(".rv-next").addEventListener("click", function() {{
    slider.value = Math.min(D.units.length - 1, +slider.value + 1); draw(); }});
  draw();
}})();
</script>
"""
)
_HEX = re.compile(r"#[0-9A-Fa-f]{6}")  # the form the view's script mixes


def _quantise(values: np.ndarray, lo: float, hi: float) -> str:
    """Values in [lo, hi] -> bytes 0..255, base64 (resolution (hi - lo) / 255)."""
    q = np.clip(np.round((values - lo) / (hi - lo) * 255), 0, 255).astype(np.uint8)
    return base64.b64encode(q.tobytes()).decode("ascii")


def _symmetric(v: np.ndarray) -> tuple[float, float]:
    """(-m, m) with m the largest |v| (1 if v is all zeros): a scale centred on 0."""
    m = float(np.abs(v).max())
    return (-m or -1.0, m or 1.0)


def _range(name: str, r: object) -> tuple[float, float]:
    """A colour scale (lo, hi) given for series ``name``, checked."""
    ok = isinstance(r, Sequence) and len(r) == 2
    ok = ok and all(
        isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)
        for x in r
    )
    if not ok or not r[0] < r[1]:
        raise ValueError(
            f"ranges[{name!r}] must be two finite numbers lo < hi, got {r!r}"
        )
    return float(r[0]), float(r[1])


def _series(
    v: np.ndarray, lo: float, hi: float, color: str, label: str
) -> dict[str, Any]:
    """One entry of a view's series: values v (T, U) quantised in [lo, hi]."""
    if not _HEX.fullmatch(color):
        color = to_hex(color)
    return {
        "b64": _quantise(v, lo, hi),
        "lo": lo,
        "hi": hi,
        "color": color,
        "label": label,
    }


def _view(text: str, units: list[int], series: Mapping[str, dict[str, Any]]) -> HTML:
    """The view of ``text`` (T characters) with ``series`` (name -> :func:`_series`)
    over the ``units`` offered by the slider."""
    data = {"text": text, "units": units, "series": dict(series)}
    payload = json.dumps(data, separators=(",", ":"))  # dicts keep their order
    view_id = "rv-" + hashlib.sha256(payload.encode()).hexdigest()[:16]
    options = "".join(
        f'<option value="{html.escape(n)}">{html.escape(s["label"])}</option>'
        for n, s in series.items()
    )
    return HTML(
        _TEMPLATE.format(
            id=view_id,
            data=payload.replace("</", "<\\/"),
            options=options,
            umax=len(units) - 1,
            border=TRACK,
            muted=DARK_GREY,
            white=WHITE,
            negative=NEGATIVE,
        )
    )


def text_view(
    trace: Trace,
    text: str | None = None,
    names: Sequence[str] | None = None,
    units: Sequence[int] | None = None,
    layer: int = 0,
    batch: int = 0,
) -> HTML:
    """Text coloured by one unit's gate or state, with a unit slider and a series menu.

    ``names`` are series of the trace (default: every gate, then ``c`` and ``h``);
    ``units`` the units offered by the slider (default: all). Values are stored
    to 1/255 of their range; hovering a character shows its value. Each series
    has its colour of :data:`~rnnviz.viz.palette.GATE_COLORS`.
    """
    T = len(trace)
    text = trace.text if text is None else text
    if text is None or len(text) != T:
        raise ValueError(f"need the text the trace was recorded on ({T} characters)")
    H = trace.hidden_size
    units = list(range(H)) if units is None else [int(u) for u in units]
    if not units or any(not 0 <= u < H for u in units):
        raise IndexError(
            f"units must be a non-empty list of ints in [0, {H}), got {units}"
        )
    if names is None:
        names = list(trace.gate_names) + (["c"] if trace.kind == "LSTM" else []) + ["h"]
    series = {}
    for name in names:
        v = trace.series(name, layer)[:, batch][:, units]  # (T, U)
        if not np.isfinite(v).all():
            raise ValueError(f"series {name!r} contains NaN or infinite values")
        lo, hi = GATE_RANGE.get(name, _symmetric(v))
        series[name] = _series(
            v, lo, hi, GATE_COLORS.get(name, BLUE), GATE_LABELS.get(name, name)
        )
    return _view(text, units, series)


def series_view(
    text: str,
    series: Mapping[str, np.ndarray | Sequence[float]],
    *,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    colors: Mapping[str, str] | None = None,
) -> HTML:
    """Text coloured by per-character values, the view of :func:`text_view`.

    ``series`` maps a name (shown in the menu) to values of shape (T,), one per
    character of ``text``, or (T, U) for U columns offered by the slider
    (numbered 0..U-1; the same U for every series). A series' colour scale is
    ``ranges[name]`` if given, else symmetric around 0 (``-max|v|..max|v|``,
    negative values in ``palette.NEGATIVE``); its colour is
    ``colors[name]`` (any matplotlib colour) if given, else the next of
    :data:`~rnnviz.viz.palette.SERIES`. Hovering a character shows its value.
    """
    if not isinstance(text, str) or not text:
        raise ValueError("text must be a non-empty str")
    if not isinstance(series, Mapping) or not series:
        raise ValueError("series must be a non-empty mapping name -> values (T,)")
    T, ranges = len(text), dict(ranges or {})
    unknown = sorted(set(ranges) - set(series))
    if unknown:
        raise KeyError(f"ranges given for series not shown: {unknown}")
    palette = series_colors(series, named=colors)
    entries, width = {}, None
    for name, values in series.items():
        if not isinstance(name, str):
            raise TypeError(f"series names must be str, got {name!r}")
        v = np.asarray(values, dtype=np.float64)
        if v.ndim == 1:
            v = v[:, None]  # (T, 1)
        if v.ndim != 2 or v.shape[0] != T or v.shape[1] == 0:
            raise ValueError(
                f"series {name!r} has shape {np.shape(values)}, the text has {T} "
                f"characters: need ({T},) or ({T}, U)"
            )
        if width is not None and v.shape[1] != width:
            raise ValueError(
                f"series {name!r} has {v.shape[1]} columns, the others {width}"
            )
        width = v.shape[1]
        if not np.isfinite(v).all():
            raise ValueError(f"series {name!r} contains NaN or infinite values")
        lo, hi = _symmetric(v) if name not in ranges else _range(name, ranges[name])
        entries[name] = _series(v, lo, hi, palette[name], name)
    return _view(text, list(range(width)), entries)


# --- The sampling lab: generated text, each character's probability and entropy ---

# bits: the top of the entropy colour scale (higher values take its darkest colour)
_ENTROPY_MAX = 4.0
_LEVELS = 16  # colour levels of the entropy strip; bar heights go from 0 to _BAR px
_BAR = 14

_SAMPLING_CSS = """
#{id} .rs-text {{ font-family: monospace; font-size: 15px; line-height: 1.15;
  border: 1px solid {border}; max-height: 26em; overflow-y: auto;
  padding: 0.5em; border-radius: 4px; }}
#{id} .w {{ white-space: nowrap; }}
#{id} .c {{ display: inline-flex; flex-direction: column; align-items: center;
  width: 0.62em; margin-bottom: 0.35em; vertical-align: top; white-space: pre; }}
#{id} .c > i {{ display: block; align-self: stretch; height: {bar}px;
  background: {track}; margin: 0 1px; border-bottom: 4px solid {white}; }}
#{id} .c:hover {{ outline: 1px solid {hover}; }}
#{id} .pr {{ color: {prompt}; }}
#{id} .pr > i {{ background: none; border-color: transparent; }}
#{id} .rs-head {{ margin: 0.3em 0; }}
#{id} .rs-legend {{ color: {muted}; font-size: 12px; margin-top: 0.3em; }}
#{id} .rs-legend i {{ display: inline-block; width: 10px; height: 8px; }}
{levels}
"""

_LAB_SCRIPT = """
<script>
(function() {{
  var root = document.getElementById("{id}");
  var sel = root.querySelector(".rs-select"), gens = root.querySelectorAll(".rs-gen");
  function show() {{
    for (var k = 0; k < gens.length; k++) {{
      gens[k].style.display = k === sel.selectedIndex ? "" : "none";
    }}
    root.dataset.drawn = sel.value;
  }}
  function step(d) {{
    sel.selectedIndex = (sel.selectedIndex + d + gens.length) % gens.length; show();
  }}
  sel.addEventListener("change", show);
  root.querySelector(".rs-prev").addEventListener("click", function() {{ step(-1); }});
  root.querySelector(".rs-next").addEventListener("click", function() {{ step(1); }});
  show();
}})();
</script>
"""


def _entropy_colours() -> list[str]:
    """The entropy strip's colours: pale for a sure model, dark for an unsure one.

    Viridis, reversed: a perceptually uniform, colour-blind-safe scale (the
    palette's eight colours are for categories, not for a continuous scale).
    """
    cmap = colormaps["viridis_r"]
    return [to_hex(cmap(0.05 + 0.95 * k / (_LEVELS - 1))) for k in range(_LEVELS)]


def _show(ch: str) -> str:
    return {"\n": "\u21b5", "\t": "\u21e5"}.get(ch, ch)


def _shown(ch: str) -> str:
    """A cell's character: a space becomes a no-break space (a flex box drops it)."""
    return "\u00a0" if ch == " " else _show(ch)


def _cell(
    ch: str,
    title: str | None = None,
    prob: float | None = None,
    entropy: float | None = None,
) -> str:
    """One character over its probability bar (class h0..h14) and entropy strip
    (class e0..e15)."""
    shown = html.escape(_shown(ch))
    if prob is None:  # a prompt character: no bar
        return f'<span class="c pr">{shown}<i></i></span>'
    h = round(_BAR * prob)
    e = min(_LEVELS - 1, int(entropy / _ENTROPY_MAX * (_LEVELS - 1) + 0.5))
    title = html.escape(title or "", quote=False).replace('"', "&quot;")
    return f'<span class="c h{h} e{e}" title="{title}">{shown}<i></i></span>'


def _p(p: float) -> str:
    """0.523 -> '.523', 1.0 -> '1'."""
    return "1" if p >= 0.9995 else f"{p:.3f}"[1:]


def _tooltip(step: Step) -> str:
    alts = " ".join(
        f"{_show(c) if c != ' ' else chr(0x2423)} {_p(p)}" for c, p in step.top
    )
    drawn = (
        ""
        if step.support == 1 and step.prob_filtered == 1.0
        else f" (drawn with {_p(step.prob_filtered)})"
    )
    return (
        f"{_show(step.char)!r} p {_p(step.prob)}{drawn}, "
        f"H {step.entropy:.2f} bits\ntop: {alts}"
    )


def _lines(cells: list[tuple[str, str]]) -> str:
    """Cells (char, markup) grouped into unbreakable words; a newline ends the line."""
    out, word = [], []
    for ch, markup in cells:
        word.append(markup)
        if ch in " \n":
            out.append(
                '<span class="w">'
                + "".join(word)
                + "</span>"
                + ("<br>" if ch == "\n" else "")
            )
            word = []
    if word:
        out.append('<span class="w">' + "".join(word) + "</span>")
    return "".join(out)


def _generation_block(
    gen: Generation, label: str | None = None, hidden: bool = False
) -> str:
    cells = [(c, _cell(c)) for c in gen.prompt]
    cells += [
        (s.char, _cell(s.char, _tooltip(s), s.prob, s.entropy)) for s in gen.steps
    ]
    head = ""
    if len(gen.steps) >= 4:
        st = gen.stats()
        head = (
            f"<b>{html.escape(label or gen.label)}</b>, seed {gen.seed}: "
            f"{len(gen.steps)} characters, "
            f"mean surprisal {st['surprisal_bits']:.2f} bits, "
            f"mean entropy {st['entropy_bits']:.2f} bits, "
            f"distinct 4-grams {st['distinct_4']:.0%}, "
            f"in a loop {st['loop_share']:.0%}"
        )
    style = ' style="display: none"' if hidden else ""
    name = html.escape(label or gen.label, quote=True)
    return (
        f'<div class="rs-gen" data-label="{name}"{style}>'
        f'<div class="rs-head">{head}</div>'
        f'<div class="rs-text">{_lines(cells)}</div></div>'
    )


def _legend() -> str:
    ramp = "".join(f'<i class="e{k}"></i>' for k in range(0, _LEVELS, 3))
    return (
        '<div class="rs-legend">Under each character: a blue bar, its probability '
        "under the model (full height = 1), and a colour strip, the entropy of the "
        f"model's distribution at that step (0 {ramp} {_ENTROPY_MAX:g}+ bits). "
        "Grey: the prompt. Hover over a character for the model's top "
        "alternatives.</div>"
    )


def _sampling_html(
    blocks: str, key: str, controls: str = "", script: bool = False
) -> str:
    view_id = "rs-" + hashlib.sha256(key.encode()).hexdigest()[:16]
    levels = "\n".join(
        [
            f"#{view_id} .e{k} > i {{ border-color: {c}; }} "
            f"#{view_id} i.e{k} {{ background: {c}; }}"
            for k, c in enumerate(_entropy_colours())
        ]
        + [
            f"#{view_id} .h{h} > i {{ background: linear-gradient(to top, "
            f"{BLUE} {100 * h / _BAR:.0f}%, {TRACK} {100 * h / _BAR:.0f}%); }}"
            for h in range(1, _BAR + 1)
        ]
    )
    css = _SAMPLING_CSS.format(
        id=view_id,
        bar=_BAR,
        levels=levels,
        border=TRACK,
        track=TRACK,
        white=WHITE,
        hover=VERMILLION,
        prompt=GREY,
        muted=DARK_GREY,
    )
    out = (
        f'<div class="rnnviz-sampling" id="{view_id}" '
        'data-lm-suppress-shortcuts="true" '
        'style="font-family: sans-serif; font-size: 14px; margin: 0.5em 0;">'
        f"<style>{css}</style>{controls}{blocks}{_legend()}</div>"
    )
    return keep_keys(out) + (_LAB_SCRIPT.format(id=view_id) if script else "")


def sampling_html(gen: Generation) -> str:
    """The HTML of :func:`sampling_view` as a string (no script; for an
    ``ipywidgets.HTML``)."""
    block = _generation_block(gen)
    return _sampling_html(block, block)


def sampling_view(gen: Generation) -> HTML:
    """A :class:`rnnviz.sampling.Generation` as text, each character over its
    probability and entropy.

    Plain HTML and CSS, no script: the bar under a character is its probability
    under the model, the strip its entropy; hovering shows the model's top
    alternatives at that step.
    """
    return HTML(sampling_html(gen))


def sampling_lab_view(
    generations: Mapping[str, Generation] | Sequence[Generation],
) -> HTML:
    """Several generations, one shown at a time, with a menu to switch between them
    (inline script).

    ``generations``: a mapping label -> Generation (e.g. from
    :func:`rnnviz.sampling.run_lab`) or a sequence of Generations (labelled by
    their settings). Without a script the first one is shown.
    """
    items = (
        list(generations.items())
        if hasattr(generations, "items")
        else [(g.label, g) for g in generations]
    )
    if not items:
        raise ValueError("no generations to show")
    labels = [label for label, _ in items]
    if len(set(labels)) != len(labels):
        raise ValueError(f"labels must be distinct, got {labels}")
    blocks = "".join(
        _generation_block(g, label, hidden=k > 0) for k, (label, g) in enumerate(items)
    )
    options = "".join(
        f'<option value="{html.escape(l, quote=True)}">{html.escape(l)}</option>'
        for l in labels
    )
    controls = (
        f'<div><label>setting <select class="rs-select">{options}</select></label> '
        f'<button class="rs-prev" type="button">&#9664;</button>'
        f'<button class="rs-next" type="button">&#9654;</button></div>'
    )
    return HTML(_sampling_html(blocks, blocks, controls, script=True))
