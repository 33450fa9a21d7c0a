"""Reference RNN, LSTM and GRU cells, written as the equations.

They follow PyTorch's conventions exactly, so that a trained ``torch.nn.RNN``,
``LSTM`` or ``GRU`` can be replayed through them (see :mod:`rnnviz.probe`):

* parameters are named ``weight_ih`` (shape ``(G*H, I)``), ``weight_hh``
  (``(G*H, H)``), ``bias_ih`` and ``bias_hh`` (``(G*H,)``), with ``G`` gates
  stacked along the first dimension;
* LSTM gate order ``i, f, g, o``::

      i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)
      f = sigmoid(W_if x + b_if + W_hf h + b_hf)
      g = tanh(W_ig x + b_ig + W_hg h + b_hg)
      o = sigmoid(W_io x + b_io + W_ho h + b_ho)
      c' = f * c + i * g
      h' = o * tanh(c')

* GRU gate order ``r, z, n``, with the reset gate applied to ``W_hn h + b_hn``
  (not to ``h`` before the matrix product, as in Cho et al. 2014)::

      r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
      z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
      n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
      h' = (1 - z) * n + z * h

* the Elman RNN: ``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`` (or ``relu``).

Every function takes a batch ``x`` of shape ``(B, I)`` and states of shape
``(B, H)``; biases may be ``None`` (a module built with ``bias=False``).

The gated cells take an optional ``force``: a mapping from gate name to a value
that replaces the gate's activation before the state update, for experiments
such as "what if the forget gate were always open?". A value is a number, or a
tensor broadcastable to (B, H) in which NaN means "leave this unit alone".
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

LSTM_GATES = ("i", "f", "g", "o")
GRU_GATES = ("r", "z", "n")
RNN_GATES: tuple[str, ...] = ()
GATES = {"RNN": RNN_GATES, "LSTM": LSTM_GATES, "GRU": GRU_GATES}


Force = Mapping[str, "float | Tensor"]


def _apply_force(gates: dict[str, Tensor], force: Force | None) -> dict[str, Tensor]:
    """Replace forced gate activations; NaN entries of a tensor value leave a unit as
    computed."""
    if not force:
        return gates
    unknown = set(force) - set(gates)
    if unknown:
        raise KeyError(
            f"cannot force {sorted(unknown)}: this cell's gates are {list(gates)}"
        )
    out = dict(gates)
    for name, value in force.items():
        g = gates[name]
        v = torch.as_tensor(value, dtype=g.dtype)
        out[name] = torch.where(torch.isnan(v), g, v).expand_as(g)
    return out


def _affine(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``x @ weight.T + bias``; shapes (B, I) x (G*H, I) -> (B, G*H)."""
    out = x @ weight.T
    return out if bias is None else out + bias


def rnn_cell(
    x: Tensor,
    h: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
    nonlinearity: str = "tanh",
) -> Tensor:
    """One step of the Elman RNN. Returns ``h'`` of shape (B, H)."""
    a = _affine(x, weight_ih, bias_ih) + _affine(h, weight_hh, bias_hh)  # (B, H)
    if nonlinearity == "tanh":
        return torch.tanh(a)
    if nonlinearity == "relu":
        return torch.relu(a)
    raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")


def lstm_cell(
    x: Tensor,
    h: Tensor,
    c: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
    force: Force | None = None,
) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
    """One LSTM step. Returns ``(h', c', gates)``, gates ``i, f, g, o``, each (B, H)."""
    a = _affine(x, weight_ih, bias_ih) + _affine(h, weight_hh, bias_hh)  # (B, 4H)
    ai, af, ag, ao = a.chunk(4, dim=1)
    gates = {
        "i": torch.sigmoid(ai),
        "f": torch.sigmoid(af),
        "g": torch.tanh(ag),
        "o": torch.sigmoid(ao),
    }
    gates = _apply_force(gates, force)
    i, f, g, o = gates["i"], gates["f"], gates["g"], gates["o"]
    c_next = f * c + i * g
    h_next = o * torch.tanh(c_next)
    return h_next, c_next, gates


def gru_cell(
    x: Tensor,
    h: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
    force: Force | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """One GRU step in torch's convention. Returns ``(h', gates)`` with gates
    ``r, z, n``, each (B, H)."""
    gx = _affine(x, weight_ih, bias_ih)  # (B, 3H)
    gh = _affine(h, weight_hh, bias_hh)  # (B, 3H)
    xr, xz, xn = gx.chunk(3, dim=1)
    hr, hz, hn = gh.chunk(3, dim=1)
    gates = {"r": torch.sigmoid(xr + hr), "z": torch.sigmoid(xz + hz)}
    if force and "r" in force:
        gates = _apply_force(gates, {"r": force["r"]})
    # reset gate applied after the product W_hn h + b_hn
    gates["n"] = torch.tanh(xn + gates["r"] * hn)
    gates = _apply_force(gates, {k: v for k, v in (force or {}).items() if k != "r"})
    z, n = gates["z"], gates["n"]
    h_next = (1 - z) * n + z * h
    return h_next, gates
