"""Self-contained HTML views that stay interactive in the static book.

A view is one HTML string with its data inline (quantised to bytes and base64
encoded) and a few lines of plain JavaScript: no CDN, no kernel, no server. It
works the same displayed in a notebook (``IPython.display.HTML``) and in the
built book. Element ids are derived from the data, so the same view gives the
same HTML on every run.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Sequence

import numpy as np
from IPython.display import HTML

from rnnviz.plots import GATE_COLORS, GATE_LABELS, GATE_RANGE
from rnnviz.probe import Trace

_TEMPLATE = """
<div class="rnnviz-view" id="{id}" style="font-family: sans-serif; font-size: 14px; margin: 0.5em 0;">
  <div style="margin-bottom: 0.4em;">
    <label>show <select class="rv-series">{options}</select></label>
    <label style="margin-left: 1em;">unit <input class="rv-unit" type="range" min="0" max="{umax}" value="0"
      style="vertical-align: middle; width: 14em;"></label>
    <button class="rv-prev" type="button">&#9664;</button><button class="rv-next" type="button">&#9654;</button>
    <span class="rv-label" style="margin-left: 0.6em; font-weight: bold;"></span>
  </div>
  <div class="rv-text" style="font-family: monospace; font-size: 15px; line-height: 1.7; white-space: pre-wrap;
    border: 1px solid #ddd; padding: 0.5em; border-radius: 4px;"></div>
  <div class="rv-hover" style="color: #555; font-size: 12px; min-height: 1.3em; margin-top: 0.2em;"></div>
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
      hover.textContent = "step " + t + ", " + JSON.stringify(chars[t]) + ": " + sel.value + " = " + v.toFixed(3);
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
    return "rgb(" + a.map(function(x, i) {{ return Math.round(x + (b[i] - x) * w); }}).join(",") + ")";
  }}
  function color(name, v) {{
    var s = series[name];
    if (s.lo >= 0) return mix("#ffffff", s.color, (v - s.lo) / (s.hi - s.lo));
    var m = Math.max(Math.abs(s.lo), Math.abs(s.hi));
    return v >= 0 ? mix("#ffffff", s.color, v / m) : mix("#ffffff", "#3b3b3b", -v / m);
  }}
  function draw() {{
    var name = sel.value, u = +slider.value;
    label.textContent = series[name].label + ", unit " + D.units[u];
    for (var t = 0; t < T; t++) spans[t].style.background = color(name, value(name, u, t));
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


def _quantise(values: np.ndarray, lo: float, hi: float) -> str:
    """Values in [lo, hi] -> bytes 0..255, base64 (resolution (hi - lo) / 255)."""
    q = np.clip(np.round((values - lo) / (hi - lo) * 255), 0, 255).astype(np.uint8)
    return base64.b64encode(q.tobytes()).decode("ascii")


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
    to 1/255 of their range; hovering a character shows its value.
    """
    T = len(trace)
    text = trace.text if text is None else text
    if text is None or len(text) != T:
        raise ValueError(f"need the text the trace was recorded on ({T} characters)")
    H = trace.hidden_size
    units = list(range(H)) if units is None else [int(u) for u in units]
    if not units or any(not 0 <= u < H for u in units):
        raise IndexError(f"units must be a non-empty list of ints in [0, {H}), got {units}")
    if names is None:
        names = list(trace.gate_names) + (["c"] if trace.kind == "LSTM" else []) + ["h"]
    series = {}
    for name in names:
        v = trace.series(name, layer)[:, batch][:, units]  # (T, U)
        if not np.isfinite(v).all():
            raise ValueError(f"series {name!r} contains NaN or infinite values")
        lo, hi = GATE_RANGE.get(name, (-float(np.abs(v).max()) or -1.0, float(np.abs(v).max()) or 1.0))
        series[name] = {"b64": _quantise(v, lo, hi), "lo": lo, "hi": hi,
                        "color": GATE_COLORS.get(name, "#0072B2"), "label": GATE_LABELS.get(name, name)}
    data = {"text": text, "units": units, "series": series}
    payload = json.dumps(data, separators=(",", ":"))  # dicts keep their order
    view_id = "rv-" + hashlib.sha256(payload.encode()).hexdigest()[:16]
    options = "".join(f'<option value="{html.escape(n)}">{html.escape(GATE_LABELS.get(n, n))}</option>' for n in names)
    return HTML(_TEMPLATE.format(id=view_id, data=payload.replace("</", "<\\/"), options=options, umax=len(units) - 1))
