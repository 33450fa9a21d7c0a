"""The cell explorer: its values equal the reference cells and torch, its diagram
shows them, its widget redraws without a kernel, bad values fail clearly."""

import math

import pytest
import torch
from matplotlib.figure import Figure

from rnnviz.cells import gru_cell, lstm_cell
from rnnviz.labs.explorer import (
    GRU_CONTROLS,
    LSTM_CONTROLS,
    cell_explorer,
    format_value,
    gru_values,
    lstm_values,
    plot_gru_step,
    plot_lstm_step,
    sweep_frames,
)

LSTM_CASES = [
    dict(c_prev=1.5, a_i=0.3, a_f=2.0, a_g=-0.7, a_o=1.1),
    dict(c_prev=-2.9, a_i=-6.0, a_f=6.0, a_g=6.0, a_o=-6.0),
    dict(c_prev=0.0, a_i=40.0, a_f=-40.0, a_g=0.0, a_o=0.0),
]
GRU_CASES = [
    dict(h_prev=0.6, a_r=1.0, a_z=0.0, a_in=-0.5, a_hn=1.5),
    dict(h_prev=-1.0, a_r=-6.0, a_z=6.0, a_in=2.0, a_hn=-3.0),
    dict(h_prev=1.0, a_r=40.0, a_z=-40.0, a_in=0.1, a_hn=0.2),
]
D = torch.float64


def _t(*xs):
    return torch.tensor([list(xs)], dtype=D).T  # (len(xs), 1): a stack of 1x1 weights


def _lstm_weights(case, x, h):
    """1x1 weights whose pre-activations at (x, h) are the case's a_i, a_f, a_g, a_o."""
    a = torch.tensor([case[k] for k in ("a_i", "a_f", "a_g", "a_o")], dtype=D)
    w_ih, w_hh = _t(0.7, -1.3, 0.4, 2.0), _t(-0.5, 0.9, 1.7, -0.2)  # arbitrary (4, 1)
    b_ih = torch.tensor([0.1, -0.2, 0.3, 0.05], dtype=D)
    b_hh = a - (w_ih[:, 0] * x + b_ih + w_hh[:, 0] * h)  # makes the sum equal a
    return w_ih, w_hh, b_ih, b_hh


def _gru_weights(case, x, h):
    """1x1 weights with W_ir x + b_ir + W_hr h + b_hr = a_r, ..., W_in x + b_in = a_in,
    W_hn h + b_hn = a_hn."""
    w_ih, w_hh = _t(0.8, -0.6, 1.2), _t(-1.1, 0.3, 0.9)  # (3, 1)
    b_ih = torch.tensor([0.2, 0.1, case["a_in"] - 1.2 * x], dtype=D)
    b_hh = torch.tensor(
        [
            case["a_r"] - (0.8 * x + 0.2 - 1.1 * h),
            case["a_z"] - (-0.6 * x + 0.1 + 0.3 * h),
            case["a_hn"] - 0.9 * h,
        ],
        dtype=D,
    )
    return w_ih, w_hh, b_ih, b_hh


@pytest.mark.parametrize("case", LSTM_CASES)
def test_lstm_values_equal_the_reference_cell_and_torch(case):
    v = lstm_values(**case)
    x, h = 0.8, -0.4  # any input and previous h: only the pre-activations matter
    params = _lstm_weights(case, x, h)
    xt, ht, ct = (torch.tensor([[u]], dtype=D) for u in (x, h, case["c_prev"]))
    h1, c1, gates = lstm_cell(xt, ht, ct, *params)
    for k in ("i", "f", "g", "o"):
        assert v[k] == pytest.approx(gates[k].item(), abs=1e-12)
    assert v["c"] == pytest.approx(c1.item(), abs=1e-12) and v["h"] == pytest.approx(
        h1.item(), abs=1e-12
    )
    assert v["f*c"] == pytest.approx(v["f"] * case["c_prev"]) and v[
        "i*g"
    ] == pytest.approx(v["i"] * v["g"])
    assert v["tanh(c)"] == pytest.approx(math.tanh(v["c"]))

    cell = torch.nn.LSTMCell(1, 1).to(D)
    with torch.no_grad():
        for name, p in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), params):
            getattr(cell, name).copy_(p)
        h2, c2 = cell(xt, (ht, ct))
    assert v["h"] == pytest.approx(h2.item(), abs=1e-12) and v["c"] == pytest.approx(
        c2.item(), abs=1e-12
    )


@pytest.mark.parametrize("case", GRU_CASES)
def test_gru_values_equal_the_reference_cell_and_torch(case):
    v = gru_values(**case)
    x, h = -0.3, case["h_prev"]
    params = _gru_weights(case, x, h)
    xt, ht = torch.tensor([[x]], dtype=D), torch.tensor([[h]], dtype=D)
    h1, gates = gru_cell(xt, ht, *params)
    for k in ("r", "z", "n"):
        assert v[k] == pytest.approx(gates[k].item(), abs=1e-12)
    assert v["h"] == pytest.approx(h1.item(), abs=1e-12)
    assert v["r*a_hn"] == pytest.approx(v["r"] * case["a_hn"])
    assert v["a_n"] == pytest.approx(case["a_in"] + v["r"] * case["a_hn"])
    assert v["(1-z)*n"] + v["z*h"] == pytest.approx(v["h"])

    cell = torch.nn.GRUCell(1, 1).to(D)
    with torch.no_grad():
        for name, p in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), params):
            getattr(cell, name).copy_(p)
        h2 = cell(xt, ht)
    assert v["h"] == pytest.approx(h2.item(), abs=1e-12)


def test_the_reset_gate_scales_the_bias_of_the_hidden_part_too():
    # torch: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)); with r -> 0 the whole
    # hidden part goes
    v = gru_values(
        h_prev=0.0, a_r=-40.0, a_z=0.0, a_in=0.0, a_hn=5.0
    )  # h = 0: a_hn is all bias
    assert abs(v["n"]) < 1e-12


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts] + [
        fig.axes[0].get_title(loc="left")
    ]


@pytest.mark.parametrize(
    "plot, values, case",
    [
        (plot_lstm_step, lstm_values, LSTM_CASES[0]),
        (plot_gru_step, gru_values, GRU_CASES[0]),
    ],
)
def test_the_diagram_shows_every_value(plot, values, case, no_global_changes):
    fig = plot(**case)
    assert isinstance(fig, Figure)
    text = "\n".join(_texts(fig))
    v = values(**case)
    shown = [k for k in v if not k.startswith("a_") and k not in ("c_prev", "h_prev")]
    for k in shown:
        assert format_value(v[k]) in text, (
            f"{k} = {format_value(v[k])} is not in the diagram"
        )
    for k in v:
        if k.startswith("a_") and k != "a_n":
            assert f"{v[k]:.1f}".replace("-", "\u2212") in text
    # on given axes, with a note as its title
    fig2 = Figure()
    ax = fig2.add_subplot()
    assert plot(**case, note="a story", highlight=next(iter(case)), ax=ax) is fig2
    assert ax.get_title(loc="left") == "a story"


def test_format_value():
    assert format_value(0.12345) == "0.123"
    assert format_value(-1.0) == "\u22121.000"
    assert format_value(-1e-9) == "0.000"


def test_explorer_redraws_and_switches_cells_without_a_kernel():
    ex = cell_explorer()
    first = ex.image.value
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    assert [s.description for s in ex.controls.children] == [
        ex.sliders[n].description for n in LSTM_CONTROLS
    ]
    assert all(not s.continuous_update for s in ex.sliders.values())
    ex.sliders["a_f"].value = -4.0
    second = ex.image.value
    assert second != first
    assert ex.values()["f"] == pytest.approx(1 / (1 + math.exp(4.0)))
    ex.kind.value = "GRU"
    assert list(ex.controls.children) == [ex.sliders[n] for n in GRU_CONTROLS]
    third = ex.image.value
    assert third not in (first, second) and set(ex.values()) >= {"r", "z", "n", "h"}
    before = ex.image.value
    ex.sliders[
        "a_f"
    ].value = 3.0  # an LSTM slider, hidden while the GRU is shown: no redraw
    assert ex.image.value == before
    ex.sliders["a_r"].value = -3.0
    assert ex.image.value != before
    ex.kind.value = "LSTM"
    assert ex.values()["a_f"] == 3.0  # the hidden slider kept its value


def test_sweep_frames_drive_the_animation(no_global_changes):
    from rnnviz.viz.animate import animate_sweep

    base = dict(c_prev=2.0, a_i=-6.0, a_f=0.0, a_g=1.0, a_o=2.0)
    frames = sweep_frames(base, "a_f", [-6, 0, 6], note="forget")
    assert [f["a_f"] for f in frames] == [-6.0, 0.0, 6.0] and frames[0][
        "highlight"
    ] == "a_f"
    assert base["a_f"] == 0.0  # not mutated
    anim = animate_sweep(plot_lstm_step, frames)
    anim._func(2)
    text = "\n".join(_texts(anim._fig))
    assert format_value(lstm_values(**{**base, "a_f": 6.0})["c"]) in text
    anim._draw_was_started = (
        True  # drawn by hand above; silences matplotlib's "deleted without rendering"
    )
    with pytest.raises(KeyError, match="'a_x' is not one of the controls"):
        sweep_frames(base, "a_x", [0])
    with pytest.raises(ValueError, match="values is empty"):
        sweep_frames(base, "a_f", [])


def test_errors():
    good = LSTM_CASES[0]
    with pytest.raises(ValueError, match="a_f must be finite, got nan"):
        lstm_values(**{**good, "a_f": float("nan")})
    with pytest.raises(ValueError, match="c_prev must be finite, got inf"):
        plot_lstm_step(**{**good, "c_prev": math.inf})
    with pytest.raises(TypeError, match="a_g must be a real number"):
        lstm_values(**{**good, "a_g": "1"})
    with pytest.raises(ValueError, match=r"h_prev must be in \[-1, 1\]"):
        gru_values(**{**GRU_CASES[0], "h_prev": 1.5})
    with pytest.raises(ValueError, match="kind must be 'LSTM' or 'GRU'"):
        cell_explorer("RNN")
    with pytest.raises(TypeError, match=r"unknown controls \['a_q'\]"):
        cell_explorer(a_q=1.0)
    with pytest.raises(ValueError, match=r"a_f must be in \[-6.0, 6.0\]"):
        cell_explorer(a_f=7.0)


def test_the_lstm_diagram_says_where_its_pre_activations_come_from(no_global_changes):
    default = "\n".join(_texts(plot_lstm_step(**LSTM_CASES[0])))
    assert "(set by the sliders)" in default
    named = "\n".join(_texts(plot_lstm_step(**LSTM_CASES[0], source="trained")))
    assert "(trained)" in named and "sliders" not in named
    (bare,) = [
        t
        for t in _texts(plot_lstm_step(**LSTM_CASES[0], source=""))
        if t.startswith("pre-activations")
    ]
    assert bare == "pre-activations\n$a = W x_t + U h_{t-1} + b$"
