"""The gradient-flow figures draw exactly the measured numbers."""

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from rnnviz.gradients import by_distance, hidden_grad_norms, scale_recurrent
from rnnviz.models import CharLM
from rnnviz.viz.gradient_plots import (
    plot_grad_by_distance,
    plot_rate_during_training,
    plot_scaled_gradients,
    plot_singular_values,
)
from rnnviz.viz.palette import MODEL_COLORS

V = 7


def _model(cell, layers=2, hidden=5, seed=0):
    return CharLM(
        V, hidden_size=hidden, num_layers=layers, cell=cell, embed_size=4, seed=seed
    )


def _ids(B=3, T=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, V, (B, T), generator=g), torch.randint(
        0, V, (B, T), generator=g
    )


def test_plot_grad_by_distance(no_global_changes):
    curves = {
        "RNN": np.array([1.0, 0.1, 0.01, 0.0]),
        "LSTM": np.array([1.0, 0.5, 0.25, 0.125]),
        "x": np.ones(4),
    }
    fig = plot_grad_by_distance(curves, styles={"x": {"ls": "--"}}, ylim=(1e-3, 2))
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and ax.get_ylim() == pytest.approx((1e-3, 2))
    lines = {l.get_label(): l for l in ax.get_lines()}
    np.testing.assert_array_equal(lines["LSTM"].get_ydata(), curves["LSTM"])
    assert np.isnan(lines["RNN"].get_ydata()[3])  # a zero is not drawn on the log axis
    assert lines["x"].get_linestyle() == "--"
    f2 = Figure()
    ax2 = f2.add_subplot()
    assert plot_grad_by_distance(curves, ax=ax2) is f2
    with pytest.raises(ValueError, match="non-empty mapping"):
        plot_grad_by_distance({})
    with pytest.raises(ValueError, match="NaN or negative"):
        plot_grad_by_distance({"a": np.array([1.0, np.nan])})
    with pytest.raises(ValueError, match="1-D and non-empty"):
        plot_grad_by_distance({"a": np.ones((2, 2))})


def test_plot_singular_values(no_global_changes):
    rng = np.random.default_rng(0)
    sv = np.sort(rng.uniform(0.1, 2, size=(10, 4)), axis=1)[:, ::-1]
    fig = plot_singular_values(
        {"RNN": sv, "LSTM": np.sort(rng.uniform(0, 1, (10, 8)))[:, ::-1]}
    )
    ax = fig.axes[0]
    line = [l for l in ax.get_lines() if l.get_label().startswith("RNN")][0]
    np.testing.assert_allclose(line.get_ydata(), np.median(sv, axis=0))
    np.testing.assert_allclose(line.get_xdata(), (np.arange(4) + 0.5) / 4)
    with pytest.raises(ValueError, match=r"shape \(T, S\)"):
        plot_singular_values({"a": np.ones(3)})
    with pytest.raises(ValueError, match="band"):
        plot_singular_values({"a": sv}, band=(90, 10))
    with pytest.raises(ValueError, match="finite"):
        plot_singular_values({"a": -sv})


def test_plot_scaled_gradients_draws_the_measured_curves(no_global_changes):
    model = _model("rnn", layers=1, hidden=6)
    ids, targets = _ids()
    fig = plot_scaled_gradients({"untrained": model}, ids, targets, radius=1.3)
    line = [l for l in fig.axes[0].get_lines() if l.get_label() == "untrained"][0]
    want = by_distance(hidden_grad_norms(scale_recurrent(model, 1.3), ids, targets)[0])
    np.testing.assert_allclose(line.get_ydata(), want)
    assert "1.30" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match="non-empty mapping"):
        plot_scaled_gradients({}, ids, targets, radius=1.0)


def test_plot_rate_during_training(no_global_changes):
    steps = np.array([0, 20, 40])
    rates = {
        "LSTM": np.array([[0.6, 0.85, 0.9], [0.62, 0.8, 0.88]]),
        "x": np.ones((1, 3)),
    }
    fig = plot_rate_during_training(steps, rates, title="t")
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert len(lines) == 3 and ax.get_title() == "t"
    np.testing.assert_array_equal(lines[1].get_ydata(), rates["LSTM"][1])
    np.testing.assert_array_equal(lines[0].get_xdata(), steps)
    assert lines[0].get_color() == MODEL_COLORS["LSTM"] == lines[1].get_color()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["LSTM", "x"]  # one entry per model, not per seed
    with pytest.raises(ValueError, match="non-empty mapping"):
        plot_rate_during_training(steps, {})
    with pytest.raises(ValueError, match=r"shape \(seeds, 3\)"):
        plot_rate_during_training(steps, {"a": np.ones(3)})
    with pytest.raises(ValueError, match="NaN"):
        plot_rate_during_training(steps, {"a": np.full((1, 3), np.nan)})
    with pytest.raises(ValueError, match="1-D"):
        plot_rate_during_training(np.ones((2, 2)), rates)
