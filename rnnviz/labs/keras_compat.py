"""PyTorch recurrent weights in Keras's layout: ``nn.RNN``/``LSTM``/``GRU`` to
``SimpleRNN``/``LSTM``/``GRU``.

The two frameworks store the same matrices differently:

* torch ``weight_ih`` (G*H, I) and ``weight_hh`` (G*H, H) are Keras's ``kernel``
  (I, G*units) and ``recurrent_kernel`` (units, G*units), transposed;
* torch has two bias vectors ``bias_ih`` and ``bias_hh`` (G*H,). Keras's
  ``SimpleRNN`` and ``LSTM`` have one, which is their sum (they are only ever
  added). Keras's ``GRU(reset_after=True)`` keeps two, as the rows of a
  (2, 3*units) ``bias``: the reset gate multiplies ``W_hn h + b_hn``, so
  ``b_hn`` cannot be merged into ``b_in``;
* gate blocks: LSTM ``i, f, g, o`` in torch and ``i, f, c, o`` in Keras, the
  same order (Keras calls the candidate ``c``); GRU ``r, z, n`` in torch and
  ``z, r, h`` in Keras, so the first two blocks swap.

The functions return numpy arrays in the order of Keras's ``layer.set_weights``:
``[kernel, recurrent_kernel, bias]``, or ``[kernel, recurrent_kernel]`` for a
module built with ``bias=False`` (then build the Keras layer with
``use_bias=False``). Nothing here imports Keras.

>>> import torch
>>> lstm = torch.nn.LSTM(input_size=5, hidden_size=4)
>>> weights = (lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0)
>>> [w.shape for w in lstm_to_keras(*weights)]
[(5, 16), (4, 16), (16,)]
>>> gru = torch.nn.GRU(input_size=5, hidden_size=4, num_layers=2)
>>> [[w.shape for w in layer] for layer in torch_to_keras(gru)]
[[(5, 12), (4, 12), (2, 12)], [(4, 12), (4, 12), (2, 12)]]

Limitations: one direction (for a bidirectional module, map each direction and
use Keras's ``Bidirectional``), no LSTM projection (``proj_size``, which Keras
lacks). ``gru_to_keras(..., reset_after=False)`` gives weights for Keras's
other GRU, Cho et al.'s reset-before-product form: a different function of the
same weights, not an equivalent of ``nn.GRU``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Array = np.ndarray

TORCH_GATES = {"RNN": ("h",), "LSTM": ("i", "f", "g", "o"), "GRU": ("r", "z", "n")}
"""Gate blocks along the first axis of torch's ``weight_ih``/``weight_hh``/biases."""

KERAS_GATES = {"RNN": ("h",), "LSTM": ("i", "f", "c", "o"), "GRU": ("z", "r", "h")}
"""Gate blocks along the last axis of Keras's ``kernel``, ``recurrent_kernel`` and
``bias``."""

KERAS_LAYER = {"RNN": "SimpleRNN", "LSTM": "LSTM", "GRU": "GRU"}
"""The Keras layer that computes the same function as each torch module."""


def _numpy(w: Any, name: str) -> Array:
    """A float numpy copy of a tensor or array (detached, on the CPU)."""
    if hasattr(w, "detach"):  # a torch tensor or parameter
        w = w.detach().cpu().numpy()
    a = np.array(w, copy=True)
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"{name} must be floating point, got dtype {a.dtype}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return a


def _check(
    kind: str, weight_ih: Any, weight_hh: Any, bias_ih: Any, bias_hh: Any
) -> tuple[Array, Array, Array | None, Array | None]:
    """Numpy copies of torch's four parameters of one layer, their shapes checked."""
    G = len(TORCH_GATES[kind])
    W_ih, W_hh = _numpy(weight_ih, "weight_ih"), _numpy(weight_hh, "weight_hh")
    if W_hh.ndim != 2 or W_hh.shape[0] != G * W_hh.shape[1]:
        raise ValueError(
            f"{kind} weight_hh must have shape ({G}*H, H), got {W_hh.shape}"
        )
    H = W_hh.shape[1]
    if W_ih.ndim != 2 or W_ih.shape[0] != G * H:
        raise ValueError(
            f"{kind} weight_ih must have shape ({G * H}, I) for H={H}, got {W_ih.shape}"
        )
    if (bias_ih is None) != (bias_hh is None):
        raise ValueError(
            "give both bias_ih and bias_hh, or neither (a module built with bias=False)"
        )
    if bias_ih is None:
        return W_ih, W_hh, None, None
    b_ih, b_hh = _numpy(bias_ih, "bias_ih"), _numpy(bias_hh, "bias_hh")
    for name, b in (("bias_ih", b_ih), ("bias_hh", b_hh)):
        if b.shape != (G * H,):
            raise ValueError(f"{kind} {name} must have shape ({G * H},), got {b.shape}")
    return W_ih, W_hh, b_ih, b_hh


def _swap_rz(a: Array, axis: int) -> Array:
    """Reorder the three gate blocks of `a` along `axis` from torch's r, z, n to
    Keras's z, r, h."""
    r, z, n = np.split(a, 3, axis=axis)
    return np.concatenate([z, r, n], axis=axis)


def rnn_to_keras(
    weight_ih: Any, weight_hh: Any, bias_ih: Any = None, bias_hh: Any = None
) -> list[Array]:
    """One ``nn.RNN`` layer's weights for ``keras.layers.SimpleRNN``.

    weight_ih (H, I), weight_hh (H, H), biases (H,) or None ->
    ``[kernel (I, H), recurrent_kernel (H, H), bias (H,) = bias_ih + bias_hh]``.
    """
    W_ih, W_hh, b_ih, b_hh = _check("RNN", weight_ih, weight_hh, bias_ih, bias_hh)
    weights = [W_ih.T.copy(), W_hh.T.copy()]
    return weights if b_ih is None else weights + [b_ih + b_hh]


def lstm_to_keras(
    weight_ih: Any, weight_hh: Any, bias_ih: Any = None, bias_hh: Any = None
) -> list[Array]:
    """One ``nn.LSTM`` layer's weights for ``keras.layers.LSTM``.

    weight_ih (4H, I), weight_hh (4H, H), biases (4H,) or None ->
    ``[kernel (I, 4H), recurrent_kernel (H, 4H), bias (4H,) = bias_ih + bias_hh]``.
    The gate blocks keep their order: torch's ``i, f, g, o`` is Keras's ``i, f, c, o``.
    """
    W_ih, W_hh, b_ih, b_hh = _check("LSTM", weight_ih, weight_hh, bias_ih, bias_hh)
    weights = [W_ih.T.copy(), W_hh.T.copy()]
    return weights if b_ih is None else weights + [b_ih + b_hh]


def gru_to_keras(
    weight_ih: Any,
    weight_hh: Any,
    bias_ih: Any = None,
    bias_hh: Any = None,
    *,
    reset_after: bool = True,
) -> list[Array]:
    """One ``nn.GRU`` layer's weights for ``keras.layers.GRU(reset_after=...)``.

    weight_ih (3H, I), weight_hh (3H, H), biases (3H,) or None ->
    ``[kernel (I, 3H), recurrent_kernel (H, 3H), bias]``, the gate blocks
    reordered from torch's ``r, z, n`` to Keras's ``z, r, h``.

    With ``reset_after=True`` (Keras's default, the same function as ``nn.GRU``)
    ``bias`` is (2, 3H): row 0 from ``bias_ih``, row 1 from ``bias_hh``. With
    ``reset_after=False`` it is ``bias_ih + bias_hh`` (3H,), and the Keras layer
    computes Cho et al.'s candidate ``tanh(W_in x + b_in + W_hn (r * h) + b_hn)``
    instead of torch's ``tanh(W_in x + b_in + r * (W_hn h + b_hn))``.
    """
    W_ih, W_hh, b_ih, b_hh = _check("GRU", weight_ih, weight_hh, bias_ih, bias_hh)
    weights = [_swap_rz(W_ih.T, axis=1), _swap_rz(W_hh.T, axis=1)]
    if b_ih is None:
        return weights
    if reset_after:
        return weights + [np.stack([_swap_rz(b_ih, axis=0), _swap_rz(b_hh, axis=0)])]
    return weights + [_swap_rz(b_ih + b_hh, axis=0)]


def torch_to_keras(module: Any, *, reset_after: bool = True) -> list[list[Array]]:
    """Every layer of a ``torch.nn.RNN``/``LSTM``/``GRU``, as Keras ``set_weights``
    lists.

    Returns one list per layer (``num_layers`` of them); layer ``k`` goes to
    the ``k``-th of a stack of Keras layers, all but the last built with
    ``return_sequences=True``. ``reset_after`` is passed to :func:`gru_to_keras`
    (GRU only). A module with ``nonlinearity="relu"`` maps to
    ``SimpleRNN(activation="relu")``.
    """
    kind = type(module).__name__
    if kind not in TORCH_GATES:
        raise TypeError(f"expected torch.nn.RNN, LSTM or GRU, got {kind}")
    if module.bidirectional:
        raise ValueError(
            "bidirectional modules are not supported: map each direction and use "
            "keras.layers.Bidirectional"
        )
    if getattr(module, "proj_size", 0):
        raise ValueError("LSTM with proj_size > 0 has no Keras equivalent")
    convert = {"RNN": rnn_to_keras, "LSTM": lstm_to_keras, "GRU": gru_to_keras}[kind]
    extra = {"reset_after": reset_after} if kind == "GRU" else {}
    layers = []
    for k in range(module.num_layers):
        names = ["weight_ih", "weight_hh"] + (
            ["bias_ih", "bias_hh"] if module.bias else []
        )
        params = [getattr(module, f"{name}_l{k}") for name in names]
        layers.append(convert(*params, **extra))
    return layers
