"""The reference cells against torch's own cell modules, one step at a time."""

import pytest
import torch
from torch import nn

from rnnviz import cells


def _params(m: nn.Module):
    return m.weight_ih, m.weight_hh, m.bias_ih, m.bias_hh


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_cell_matches_torch(nonlinearity):
    torch.manual_seed(0)
    m = nn.RNNCell(5, 7, nonlinearity=nonlinearity)
    x, h = torch.randn(3, 5), torch.randn(3, 7)
    assert torch.allclose(
        cells.rnn_cell(x, h, *_params(m), nonlinearity=nonlinearity), m(x, h), atol=1e-6
    )


def test_lstm_cell_matches_torch():
    torch.manual_seed(1)
    m = nn.LSTMCell(5, 7)
    x, h, c = torch.randn(3, 5), torch.randn(3, 7), torch.randn(3, 7)
    h1, c1, gates = cells.lstm_cell(x, h, c, *_params(m))
    h_ref, c_ref = m(x, (h, c))
    assert torch.allclose(h1, h_ref, atol=1e-6) and torch.allclose(c1, c_ref, atol=1e-6)
    assert list(gates) == ["i", "f", "g", "o"]
    # the gates satisfy the published update equations
    assert torch.allclose(c1, gates["f"] * c + gates["i"] * gates["g"], atol=1e-6)
    assert torch.allclose(h1, gates["o"] * torch.tanh(c1), atol=1e-6)


def test_gru_cell_matches_torch_and_states_its_reset_convention():
    torch.manual_seed(2)
    m = nn.GRUCell(5, 7)
    x, h = torch.randn(3, 5), torch.randn(3, 7)
    h1, gates = cells.gru_cell(x, h, *_params(m))
    assert torch.allclose(h1, m(x, h), atol=1e-6)
    assert list(gates) == ["r", "z", "n"]
    # Cho et al.'s placement (reset applied to h before W_hn) is a different function
    W_in, W_hn = m.weight_ih[14:], m.weight_hh[14:]
    b_in, b_hn = m.bias_ih[14:], m.bias_hh[14:]
    n_cho = torch.tanh(x @ W_in.T + b_in + (gates["r"] * h) @ W_hn.T + b_hn)
    h_cho = (1 - gates["z"]) * n_cho + gates["z"] * h
    assert (h_cho - h1).abs().max() > 1e-3


def test_cells_without_bias():
    torch.manual_seed(3)
    m = nn.LSTMCell(4, 6, bias=False)
    x, h, c = torch.randn(2, 4), torch.randn(2, 6), torch.randn(2, 6)
    h1, c1, _ = cells.lstm_cell(x, h, c, m.weight_ih, m.weight_hh, None, None)
    h_ref, c_ref = m(x, (h, c))
    assert torch.allclose(h1, h_ref, atol=1e-6) and torch.allclose(c1, c_ref, atol=1e-6)


def test_unknown_nonlinearity():
    with pytest.raises(ValueError, match="nonlinearity"):
        cells.rnn_cell(
            torch.zeros(1, 2),
            torch.zeros(1, 3),
            torch.zeros(3, 2),
            torch.zeros(3, 3),
            nonlinearity="gelu",
        )
