"""Plots return Figures and leave global state alone; the animation and the explorer
work."""

import numpy as np
import pytest
import torch
from matplotlib.animation import FuncAnimation
from matplotlib.figure import Figure

from rnnviz import probe
from rnnviz.train import History
from rnnviz.viz.animate import animate_gates
from rnnviz.viz.plots import plot_gate_heatmap, plot_history, plot_unit
from rnnviz.viz.widgets import unit_explorer

TEXT = "Friends, Romans"


def _trace(kind="LSTM", layers=2):
    torch.manual_seed(0)
    m = getattr(torch.nn, kind)(4, 6, layers)
    x = torch.randn(len(TEXT), 1, 4, generator=torch.Generator().manual_seed(1))
    return probe(m, x)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_plot_unit_draws_every_series(kind, no_global_changes):
    tr = _trace(kind)
    fig = plot_unit(tr, unit=2, layer=1, text=TEXT)
    assert isinstance(fig, Figure)
    lines = fig.axes[0].get_lines()
    expected = {
        "RNN": ["h"],
        "LSTM": ["i", "f", "g", "o", "c", "h"],
        "GRU": ["r", "z", "n", "h"],
    }[kind]
    drawn = [l for l in lines if l.get_label() and not l.get_label().startswith("_")]
    assert len(drawn) == len(expected)
    # each line carries the trace's values for that unit
    for line, name in zip(drawn, expected):
        np.testing.assert_allclose(line.get_ydata(), tr.series(name, 1)[:, 0, 2])


def test_plot_on_given_axes_and_errors(no_global_changes):
    tr = _trace()
    fig = Figure()
    ax = fig.add_subplot()
    assert plot_gate_heatmap(tr, "f", text=TEXT, ax=ax) is fig
    img = ax.get_images()[0].get_array()
    np.testing.assert_allclose(img, tr.series("f")[:, 0].T)
    with pytest.raises(
        ValueError, match="text has 3 characters but the trace has 15 steps"
    ):
        plot_unit(tr, 0, text="abc")
    with pytest.raises(IndexError, match=r"unit must be an int in \[0, 6\)"):
        plot_unit(tr, 6)


def test_plot_history(no_global_changes):
    h = History(
        step=[1, 2, 3],
        train_loss=[3.0, 2.0, 1.0],
        grad_norm=[1, 1, 1],
        seconds=[0.1, 0.2, 0.3],
        eval_step=[3],
        val_loss=[1.5],
        eval_seconds=[0.3],
    )
    fig = plot_history(h, smooth=2)
    assert isinstance(fig, Figure) and len(fig.axes[0].get_lines()) == 3
    with pytest.raises(ValueError, match="history is empty"):
        plot_history(History())


def test_animation_reveals_gates_step_by_step(no_global_changes):
    tr = _trace("LSTM")
    anim = animate_gates(tr, TEXT, layer=0, units=[0, 1, 2])
    assert isinstance(anim, FuncAnimation)
    fig = anim._fig
    assert len(fig.axes) == 2 * 5  # i, f, g, o, c panels and their colour bars
    anim._func(4)
    shown = fig.axes[0].get_images()[0].get_array()  # input gate panel
    assert shown.mask[:, :5].sum() == 0 and shown.mask[:, 5:].all()
    np.testing.assert_allclose(shown[:, :5], tr.series("i")[:5, 0, :3].T)
    html = anim.to_jshtml()
    assert html.count("data:image/png;base64") == len(TEXT)
    with pytest.raises(ValueError, match="need the text"):
        animate_gates(tr, "short")


def test_unit_explorer_redraws_when_a_control_changes():
    tr = _trace("GRU")
    ex = unit_explorer(tr, text=TEXT)
    first = ex.image.value
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    ex.unit.value = 3
    second = ex.image.value
    assert second != first
    ex.layer.value = 1
    assert ex.image.value not in (first, second)
    assert ex.unit.max == 5


def test_sweep_animation_redraws_the_widget_function(no_global_changes):
    from rnnviz.viz.animate import animate_sweep

    tr = _trace("LSTM")
    anim = animate_sweep(plot_unit, [dict(trace=tr, unit=u, text=TEXT) for u in (0, 4)])
    anim._func(1)
    ax = anim._fig.axes[0]
    assert ax.get_title().endswith("unit 4")
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), tr.series("i")[:, 0, 4])
    with pytest.raises(ValueError, match="frames is empty"):
        animate_sweep(plot_unit, [])


def test_to_html_embeds_every_frame_as_a_small_deterministic_player():
    import base64
    import io
    import re

    from PIL import Image

    from rnnviz.viz.animate import to_html

    tr = _trace("LSTM")
    html = to_html(animate_gates(tr, TEXT, units=[0, 1])).data
    frames = re.findall(r"data:image/png;base64,([^\"]+)\"", html)
    assert len(frames) == len(TEXT)
    img = Image.open(io.BytesIO(base64.b64decode(frames[3].replace("\\n", ""))))
    assert img.mode == "P"  # palette frames
    assert (
        to_html(animate_gates(tr, TEXT, units=[0, 1])).data == html
    )  # same input, same bytes
    plain = animate_gates(tr, TEXT, units=[0, 1]).to_jshtml()
    assert len(html) < 0.7 * len(plain)


def test_palette_frames_keep_the_colours_of_the_figure(no_global_changes):
    """Each frame of the player matches the frame drawn in full colour.

    Five gate colour maps of 16 levels each, grey and antialiased text: too many
    colours for a small palette, which merges the rarer panels' shades.
    """
    import base64
    import io
    import re

    from PIL import Image

    from rnnviz.viz.animate import to_html

    torch.manual_seed(0)
    m = torch.nn.LSTM(4, 12)
    x = torch.randn(len(TEXT), 1, 4, generator=torch.Generator().manual_seed(1))
    anim = animate_gates(probe(m, 3 * x), TEXT, figsize=(7.5, 4.2), dpi=80)
    frames = re.findall(r"data:image/png;base64,([^\"]+)\"", to_html(anim).data)
    for k in (2, len(TEXT) - 1):
        anim._func(k)
        raw = io.BytesIO()
        anim._fig.savefig(raw, format="png", dpi=80)
        truth = np.asarray(Image.open(raw).convert("RGB"), dtype=int)
        shown = Image.open(io.BytesIO(base64.b64decode(frames[k].replace("\\n", ""))))
        error = np.abs(np.asarray(shown.convert("RGB"), dtype=int) - truth).max(-1)
        assert (error > 8).mean() < 1e-3, (k, (error > 8).mean())


def test_unrolled_diagram_labels_every_step(no_global_changes):
    from rnnviz.viz.diagrams import plot_unrolled

    fig = plot_unrolled("to be")
    texts = [t.get_text() for t in fig.axes[0].texts]
    # inputs t, o, space, b and targets o, space, b, e, plus h_1..h_4
    assert all(f"$h_{{{k}}}$" in texts for k in range(1, 5))
    assert (
        texts.count("t") == 1 and texts.count("e") == 1 and texts.count("\u2423") == 2
    )
    with pytest.raises(ValueError, match="at least 2 characters"):
        plot_unrolled("x")
    with pytest.raises(ValueError, match="between 1 and 12"):
        plot_unrolled(steps=40)


def test_to_html_player_needs_nothing_from_the_network():
    import re

    from rnnviz.viz.animate import to_html

    html = to_html(animate_gates(_trace("GRU"), TEXT, units=[0])).data
    assert not re.search(r"https?://", html), (
        "the player must not load anything from outside"
    )
    assert 'title="Play"' in html and "<svg" in html and 'class="fa' not in html


def test_stream_batches_diagram_shows_what_stream_batches_reads(no_global_changes):
    from rnnviz.data import Vocab, stream_batches
    from rnnviz.viz.diagrams import plot_stream_batches

    text = "".join(chr(ord("a") + (k * 7) % 26) for k in range(200))
    B, T = 3, 5
    fig = plot_stream_batches(text, B, T, num_batches=2)
    cells = [
        t.get_text()
        for t in fig.axes[0].texts
        if len(t.get_text()) == 1 and t.get_text() != "\u2026"
    ]
    vocab = Vocab.from_text(text)
    batches = stream_batches(vocab.encode(text), B, T)
    expected = [[""] * (2 * T) for _ in range(B)]
    for k, (x, _) in zip(
        range(2), batches
    ):  # what the data pipeline really yields, batch by batch
        for b in range(B):
            expected[b][k * T : (k + 1) * T] = list(vocab.decode(x[b]))
    assert cells == [ch for row in expected for ch in row]
    with pytest.raises(ValueError, match="need at least"):
        plot_stream_batches(text[:20], B, T, num_batches=2)
    with pytest.raises(ValueError, match="batch_size"):
        plot_stream_batches(text, 0, T)
    with pytest.raises(ValueError, match="empty"):
        plot_stream_batches("", B, T)


def _frames_and_full_renders(anim, steps):
    """The player's frames (decoded) beside full renders of the same steps."""
    import base64
    import io
    import re

    from PIL import Image

    from rnnviz.viz.animate import to_html

    canvas = anim._fig.canvas
    frames = re.findall(r"data:image/png;base64,([^\"]+)\"", to_html(anim).data)
    assert anim._fig.canvas is canvas  # to_html leaves the figure as it was
    pairs = []
    for k in steps:
        anim._func(k)
        raw = io.BytesIO()
        anim._fig.savefig(raw, format="png", dpi=anim._fig.dpi)
        truth = np.asarray(Image.open(raw).convert("RGB"), dtype=int)
        shown = Image.open(io.BytesIO(base64.b64decode(frames[k].replace("\\n", ""))))
        pairs.append((np.asarray(shown.convert("RGB"), dtype=int), truth))
    return len(frames), pairs


def test_state_animation_frames_drawn_once_match_full_renders(no_global_changes):
    """to_html draws a state animation's axes once and only its moving artists
    per frame; every frame must still be the full render of its step."""
    from rnnviz.viz.animate import animate_states

    traces = {"LSTM": _trace("LSTM", 1), "GRU": _trace("GRU", 1)}
    anim = animate_states(traces, TEXT, figsize=(6, 3), dpi=72)
    assert anim._rnnviz_blit
    n, pairs = _frames_and_full_renders(anim, (0, 5, len(TEXT) - 1))
    assert n == len(TEXT)
    for shown, truth in pairs:
        assert shown.shape == truth.shape
        assert (np.abs(shown - truth).max(-1) > 8).mean() < 1e-3


def test_sweep_animation_is_rendered_in_full_every_frame(no_global_changes):
    """A sweep redraws its whole axes per frame: to_html must not draw it once."""
    from rnnviz.viz.animate import animate_sweep

    def plot_fn(ax, a):
        ax.plot([0, 1], [0, a], color="C0")
        ax.set_title(f"a = {a}")

    anim = animate_sweep(plot_fn, [dict(a=1), dict(a=-2), dict(a=3)], dpi=50)
    assert not getattr(anim, "_rnnviz_blit", False)
    n, pairs = _frames_and_full_renders(anim, (0, 1, 2))
    assert n == 3
    for shown, truth in pairs:
        assert (np.abs(shown - truth).max(-1) > 8).mean() < 1e-3
    assert np.abs(pairs[0][0] - pairs[1][0]).max() > 100  # the frames differ
