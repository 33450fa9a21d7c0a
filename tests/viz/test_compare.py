"""Comparing models: the side-by-side state animation and the held-out curves."""

import numpy as np
import pytest
import torch
from matplotlib.animation import FuncAnimation
from matplotlib.figure import Figure

from rnnviz import probe
from rnnviz.train import History
from rnnviz.viz.animate import animate_states
from rnnviz.viz.plots import MODEL_COLORS, plot_histories

TEXT = "If music be"
# The tests call frame functions directly; matplotlib warns when such an animation
# is never saved.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Animation was deleted without rendering"
)


def _traces(hidden=(6, 5, 7), layers=1, text=TEXT):
    out = {}
    for k, (kind, H) in enumerate(zip(("RNN", "LSTM", "GRU"), hidden)):
        torch.manual_seed(k)
        m = getattr(torch.nn, kind)(4, H, layers)
        x = torch.randn(
            len(text), 2, 4, generator=torch.Generator().manual_seed(10 + k)
        )  # (T, B, I)
        out[kind] = probe(m, x)
    return out


def test_frame_k_shows_exactly_steps_0_to_k(no_global_changes):
    traces = _traces(layers=2)
    units = {"RNN": [0, 5, 2], "LSTM": [4, 1], "GRU": [6, 0, 3, 2]}
    anim = animate_states(traces, TEXT, units=units, layer=1, batch=1)
    assert isinstance(anim, FuncAnimation)
    fig = anim._fig
    panels = [ax for ax in fig.axes if ax.get_images() and ax.get_ylabel() in traces]
    assert [ax.get_ylabel() for ax in panels] == [
        "RNN",
        "LSTM",
        "GRU",
    ]  # one row per model, in order
    images = [ax.get_images()[0] for ax in panels]
    for k in (0, 4, len(TEXT) - 1):
        anim._func(k)
        for ax, im, (key, tr) in zip(panels, images, traces.items()):
            assert ax.get_images() == [im], "artists must be created once and updated"
            shown = im.get_array()  # (U, T), masked where not yet read
            expected = tr.series("h", 1)[:, 1][:, units[key]].T  # (U, T)
            assert shown.shape == expected.shape
            mask = np.ma.getmaskarray(shown)
            assert not mask[:, : k + 1].any() and mask[:, k + 1 :].all()
            np.testing.assert_array_equal(shown[:, : k + 1].data, expected[:, : k + 1])


def test_one_unit_list_for_all_and_default_units(no_global_changes):
    traces = _traces()
    anim = animate_states(traces, TEXT, units=[0, 3])
    anim._func(2)
    shapes = [
        ax.get_images()[0].get_array().shape
        for ax in anim._fig.axes
        if ax.get_ylabel() in traces
    ]
    assert shapes == [(2, len(TEXT))] * 3
    anim = animate_states(traces, TEXT)  # default: first 12 units, here all of them
    shapes = [
        ax.get_images()[0].get_array().shape
        for ax in anim._fig.axes
        if ax.get_ylabel() in traces
    ]
    assert shapes == [(6, len(TEXT)), (5, len(TEXT)), (7, len(TEXT))]


def test_animate_states_bad_input():
    traces = _traces()
    with pytest.raises(ValueError, match="non-empty mapping"):
        animate_states({}, TEXT)
    with pytest.raises(ValueError, match="non-empty mapping"):
        animate_states([traces["RNN"]], TEXT)
    with pytest.raises(TypeError, match=r"traces\['x'\] must be a Trace"):
        animate_states({"x": np.zeros((11, 1, 4))}, TEXT)
    with pytest.raises(ValueError, match="has 11 steps but text has 3 characters"):
        animate_states(traces, "abc")
    short = _traces(text="abc")["GRU"]
    with pytest.raises(
        ValueError, match=r"traces\['GRU'\] has 3 steps but text has 11"
    ):
        animate_states({"RNN": traces["RNN"], "GRU": short}, TEXT)
    with pytest.raises(IndexError, match=r"units for 'LSTM' must be .* \[0, 5\)"):
        animate_states(traces, TEXT, units=[0, 5])
    with pytest.raises(IndexError, match="non-empty"):
        animate_states(traces, TEXT, units=[])
    with pytest.raises(KeyError, match="no entry for 'GRU'"):
        animate_states(traces, TEXT, units={"RNN": [0], "LSTM": [0]})
    with pytest.raises(IndexError, match="layer 1 out of range"):
        animate_states(traces, TEXT, layer=1)
    with pytest.raises(IndexError, match="batch 2 out of range"):
        animate_states(traces, TEXT, batch=2)


def _history(vals):
    n = len(vals)
    return History(
        step=list(range(1, n + 1)),
        train_loss=[1.0] * n,
        grad_norm=[1.0] * n,
        seconds=[0.1] * n,
        eval_step=list(range(1, n + 1)),
        val_loss=list(vals),
        eval_seconds=[0.1] * n,
    )


def test_plot_histories(no_global_changes):
    hs = {
        "RNN": _history([2.0, 1.5]),
        "GRU": _history([1.9, 1.4, 1.2]),
        "mine": _history([2.2]),
    }
    fig = plot_histories(hs)
    assert isinstance(fig, Figure)
    lines = fig.axes[0].get_lines()
    assert [l.get_label() for l in lines] == ["RNN", "GRU", "mine"]
    np.testing.assert_allclose(lines[1].get_ydata(), hs["GRU"].val_bpc)
    assert (
        lines[0].get_color() == MODEL_COLORS["RNN"]
        and lines[1].get_color() == MODEL_COLORS["GRU"]
    )
    assert lines[2].get_color() not in MODEL_COLORS.values()
    given = Figure()
    ax = given.add_subplot()
    assert plot_histories(hs, ax=ax) is given
    with pytest.raises(ValueError, match="non-empty mapping"):
        plot_histories({})
    with pytest.raises(
        ValueError, match=r"histories\['x'\] has no held-out evaluation"
    ):
        plot_histories({"x": History()})
