"""One palette: no colour is written as a hex code outside rnnviz/viz/palette.py, and
the figures and views draw with the palette's colours."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.colors import to_hex
from matplotlib.patches import FancyBboxPatch, Rectangle

from rnnviz import probe
from rnnviz.train import History
from rnnviz.viz import palette
from rnnviz.viz.palette import (
    BLUE,
    GATE_COLORS,
    INK,
    MODEL_COLORS,
    NEGATIVE,
    SERIES,
    TRACK,
    VERMILLION,
    WHITE,
    YELLOW,
)

PACKAGE = Path(__file__).resolve().parents[2] / "rnnviz"
# #abc, #aabbcc or #aabbccdd, but not an HTML entity (&#9664;) or a CSS id (#{id})
HEX = re.compile(r"(?<![&\w])#(?:[0-9A-Fa-f]{8}|[0-9A-Fa-f]{6}|[0-9A-Fa-f]{3})\b")
TEXT = "Friends, Romans"


def _trace(kind="LSTM"):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        m = getattr(torch.nn, kind)(4, 6)
    return probe(m, torch.randn(len(TEXT), 1, 4, generator=torch.Generator()))


def _hex(color) -> str:
    return to_hex(color, keep_alpha=False).upper()


def _data(html):
    return json.loads(
        re.search(r"var D = (\{.*?\});\n", html).group(1).replace("<\\/", "</")
    )


def test_the_pattern_finds_hex_colours_and_nothing_else():
    found = HEX.findall('c = "#0072B2"; s = "color: #ddd;" ; "#fff3c4cc"')
    assert found == ["#0072B2", "#ddd", "#fff3c4cc"]
    assert not HEX.findall('&#9664; #{id} .c {{ }} # a comment, #1 "#12345"')


def test_no_hex_colour_outside_the_palette():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "viz" / "palette.py":
            continue
        for k, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if HEX.search(line):
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{k}: {line}")
    assert not offenders, "name these colours from rnnviz.viz.palette:\n" + "\n".join(
        offenders
    )


def test_every_palette_colour_is_a_six_digit_hex_code():
    # the HTML views mix colours in JavaScript from "#RRGGBB" strings
    names = [n for n in dir(palette) if n.isupper()]
    singles = [
        getattr(palette, n) for n in names if isinstance(getattr(palette, n), str)
    ]
    nested = [
        c
        for n in ("GATE_COLORS", "MODEL_COLORS", "OKABE_ITO")
        for c in getattr(palette, n).values()
    ]
    for c in singles + nested + list(palette.SERIES) + list(palette.EXTRA):
        assert re.fullmatch(r"#[0-9A-F]{6}", c), c
    assert WHITE == "#FFFFFF" and len(set(palette.OKABE_ITO.values())) == 8


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_a_gate_line_has_its_gate_colour(kind, no_global_changes):
    from rnnviz.viz.plots import GATE_LABELS, plot_unit

    fig = plot_unit(_trace(kind), unit=1, text=TEXT)
    lines = [l for l in fig.axes[0].get_lines() if not l.get_label().startswith("_")]
    names = {"LSTM": "ifgoch", "GRU": "rznh"}[kind]
    assert [l.get_label() for l in lines] == [GATE_LABELS[n] for n in names]
    for line, name in zip(lines, names):
        assert _hex(line.get_color()) == GATE_COLORS[name]


def test_models_have_their_colours(no_global_changes):
    from rnnviz.viz.plots import plot_histories

    h = History(step=[1], train_loss=[1.0], eval_step=[1], val_loss=[1.0])
    fig = plot_histories({"GRU": h, "LSTM": h, "other": h})
    got = {l.get_label(): _hex(l.get_color()) for l in fig.axes[0].get_lines()}
    assert got == {
        "GRU": MODEL_COLORS["GRU"],
        "LSTM": MODEL_COLORS["LSTM"],
        "other": palette.EXTRA[0],
    }


def test_animation_colour_scales_run_from_the_palette_to_the_gate(no_global_changes):
    from rnnviz.viz.animate import animate_gates

    anim = animate_gates(_trace("LSTM"), TEXT, units=[0, 1])
    images = [ax.get_images()[0] for ax in anim._fig.axes if ax.get_images()]
    assert len(images) == 5  # i, f, g, o and c
    for im, name in zip(images, "ifgoc"):
        cmap = im.get_cmap()
        low = NEGATIVE if name in "gc" else WHITE  # signed values: a diverging scale
        assert _hex(cmap(0.0)) == low and _hex(cmap(1.0)) == GATE_COLORS[name]
        assert _hex(cmap.get_bad()) == TRACK  # steps not yet read


def test_text_view_colours_each_series_by_its_gate():
    from rnnviz.viz.views import text_view

    html = text_view(_trace("GRU"), TEXT).data
    series = _data(html)["series"]
    assert {n: s["color"] for n, s in series.items()} == {
        n: GATE_COLORS[n] for n in "rznh"
    }
    assert f'mix("{WHITE}", "{NEGATIVE}"' in html and f"solid {TRACK}" in html


def test_series_view_takes_the_series_colours_in_order():
    from rnnviz.viz.views import series_view

    values = {
        "a": np.ones(len(TEXT)),
        "b": -np.ones(len(TEXT)),
        "c": np.ones(len(TEXT)),
    }
    series = _data(series_view(TEXT, values).data)["series"]
    assert [s["color"] for s in series.values()] == list(SERIES[:3])
    given = _data(series_view(TEXT, values, colors={"b": "0.5"}).data)["series"]
    assert [s["color"] for s in given.values()] == [SERIES[0], "#808080", SERIES[1]]


def test_sampling_view_draws_with_the_palette_and_viridis_only():
    from matplotlib import colormaps

    from rnnviz.sampling import Generation, Step
    from rnnviz.viz.views import sampling_view

    step = Step(
        char="a",
        prob=0.5,
        prob_filtered=1.0,
        entropy=1.0,
        entropy_filtered=0.0,
        support=1,
        top=(("a", 0.5),),
    )
    page = sampling_view(
        Generation("x", (step,), "greedy", None, None, None, 0, 2)
    ).data
    assert f"linear-gradient(to top, {BLUE} 50%, {TRACK} 50%)" in page
    assert f"outline: 1px solid {VERMILLION}" in page
    # the entropy strip: 16 levels of reversed viridis, a continuous scale
    strip = {_hex(colormaps["viridis_r"](0.05 + 0.95 * k / 15)) for k in range(16)}
    named = {v for n, v in vars(palette).items() if n.isupper() and isinstance(v, str)}
    used = {c.upper() for c in HEX.findall(page)}
    assert strip <= used and used <= strip | named


def test_diagram_layers_and_explorer_boxes_use_the_palette(no_global_changes):
    from rnnviz.labs.explorer import plot_lstm_step
    from rnnviz.viz.diagrams import plot_unrolled

    fig = plot_unrolled("ab")
    boxes = [p for p in fig.axes[0].patches if isinstance(p, FancyBboxPatch)]
    faces = {_hex(b.get_facecolor()) for b in boxes}
    assert faces == {YELLOW, GATE_COLORS["h"], GATE_COLORS["o"]}

    fig = plot_lstm_step()
    ax = fig.axes[0]
    edges = {
        _hex(p.get_edgecolor()) for p in ax.patches if isinstance(p, FancyBboxPatch)
    }
    assert {GATE_COLORS[n] for n in "ifgoc"} <= edges
    tracks = [
        p
        for p in ax.patches
        if isinstance(p, Rectangle) and _hex(p.get_facecolor()) == TRACK
    ]
    assert len(tracks) >= 5  # one bar track per box
    assert {_hex(t.get_color()) for t in ax.texts if t.get_text()} <= {
        INK,
        palette.BLACK,
        palette.DARK_GREY,
    }


def test_attention_and_unit_plots_use_the_palette(no_global_changes):
    from rnnviz.labs.attention import plot_decode_step
    from rnnviz.labs.units import plot_saturation, saturation

    fig = plot_decode_step(np.full((2, 3), 1 / 3), "abc", "x", 0)
    assert {_hex(b.get_facecolor()) for b in fig.axes[0].patches} == {BLUE}

    fig = plot_saturation({"LSTM": saturation(_trace("LSTM"))})
    solid = {
        _hex(b.get_facecolor())
        for b in fig.axes[0].patches
        if b.get_height() > 0 and not b.get_hatch()
    }
    assert solid <= {GATE_COLORS[n] for n in "ifo"}
