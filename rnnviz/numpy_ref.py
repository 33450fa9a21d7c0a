"""RNN, LSTM and GRU forward and backward passes from scratch in numpy (float64).

No torch inside: these are the equations of Part 3, written out, with the
backward pass (backpropagation through time) derived by hand. They follow
PyTorch's conventions so that a ``torch.nn.RNN``/``LSTM``/``GRU`` can be checked
against them with copied weights (:func:`params_from_torch`):

* parameters ``weight_ih_l{k}`` (G*H, I or H), ``weight_hh_l{k}`` (G*H, H),
  ``bias_ih_l{k}`` and ``bias_hh_l{k}`` (G*H,), gates stacked along the first
  axis; biases absent for a module built with ``bias=False``;
* gate order: LSTM ``i, f, g, o``; GRU ``r, z, n`` with the reset gate applied to
  ``W_hn h + b_hn``; the RNN is the Elman RNN with tanh;
* inputs (T, B, I), outputs (T, B, H) of the top layer, states (L, B, H).

:func:`forward` returns ``(outputs, final_state, cache)``; :func:`backward`
takes dL/d(outputs) (and optionally dL/d(final state)) with the cache and returns
the gradient of every parameter, of the input ``"x"`` and of the initial state
``"h0"`` (and ``"c0"``). :func:`head_loss` is the linear head with softmax
cross-entropy of a language model, forward and backward.

Limitations: one direction, no projection (``proj_size``), tanh only, no dropout.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

Array = np.ndarray
Params = dict[str, Array]
NUM_GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def sigmoid(a: Array) -> Array:
    """The logistic function, computed without overflow for large |a|."""
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


# ----------------------------------------------------------------- one step each
def rnn_step(
    x: Array, h: Array, W_ih: Array, W_hh: Array, b_ih: Array, b_hh: Array
) -> Array:
    """h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh): x (B, I), h (B, H) ->
    h_t (B, H)."""
    return np.tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)


def lstm_step(
    x: Array, h: Array, c: Array, W_ih: Array, W_hh: Array, b_ih: Array, b_hh: Array
) -> tuple[Array, Array, dict[str, Array]]:
    """One LSTM step. Returns (h_t, c_t, gates i, f, g, o), each (B, H)."""
    a = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh  # (B, 4H)
    a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)
    i, f, g, o = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)
    c = f * c + i * g
    h = o * np.tanh(c)
    return h, c, {"i": i, "f": f, "g": g, "o": o}


def gru_step(
    x: Array, h: Array, W_ih: Array, W_hh: Array, b_ih: Array, b_hh: Array
) -> tuple[Array, dict[str, Array]]:
    """One GRU step (torch's convention). Returns (h_t, gates), the gates r, z, n
    and hn = W_hn h + b_hn, each (B, H)."""
    x_r, x_z, x_n = np.split(x @ W_ih.T + b_ih, 3, axis=1)  # each (B, H)
    h_r, h_z, h_n = np.split(h @ W_hh.T + b_hh, 3, axis=1)
    r, z = sigmoid(x_r + h_r), sigmoid(x_z + h_z)
    n = np.tanh(x_n + r * h_n)  # reset gate applied after the product W_hn h + b_hn
    return (1 - z) * n + z * h, {"r": r, "z": z, "n": n, "hn": h_n}


# ------------------------------------------------------- the backward of one step
def rnn_step_backward(
    dh: Array, h: Array, W_ih: Array, W_hh: Array
) -> tuple[Array, Array, Array]:
    """dL/dh_t (B, H), h_t -> (dL/da_t, dL/dx_t, dL/dh_{t-1} through this step),
    where a_t is the pre-activation."""
    da = dh * (1 - h**2)  # tanh' = 1 - tanh^2
    return da, da @ W_ih, da @ W_hh


def lstm_step_backward(
    dh: Array,
    dc: Array,
    c_prev: Array,
    c: Array,
    gates: Mapping[str, Array],
    W_ih: Array,
    W_hh: Array,
) -> tuple[Array, Array, Array, Array]:
    """(dL/dh_t, dL/dc_t from later steps) -> (dL/da_t (B, 4H), dL/dx_t,
    dL/dh_{t-1}, dL/dc_{t-1})."""
    i, f, g, o = gates["i"], gates["f"], gates["g"], gates["o"]
    tc = np.tanh(c)
    # the cell is reached directly and through h_t = o tanh(c_t)
    dc = dc + dh * o * (1 - tc**2)
    di, df, dg, do = dc * g, dc * c_prev, dc * i, dh * tc
    da = np.concatenate(
        [di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2), do * o * (1 - o)], axis=1
    )
    return da, da @ W_ih, da @ W_hh, dc * f


def gru_step_backward(
    dh: Array, h_prev: Array, gates: Mapping[str, Array], W_ih: Array, W_hh: Array
) -> tuple[Array, Array, Array, Array]:
    """dL/dh_t -> (dL/d(W_ih x + b_ih), dL/d(W_hh h + b_hh), dL/dx_t, dL/dh_{t-1}),
    the first two (B, 3H)."""
    r, z, n, hn = gates["r"], gates["z"], gates["n"], gates["hn"]
    da_n = dh * (1 - z) * (1 - n**2)
    da_z = dh * (h_prev - n) * z * (1 - z)
    da_r = da_n * hn * r * (1 - r)
    dgx = np.concatenate([da_r, da_z, da_n], axis=1)  # (B, 3H)
    dgh = np.concatenate([da_r, da_z, da_n * r], axis=1)  # (B, 3H)
    return dgx, dgh, dgx @ W_ih, dh * z + dgh @ W_hh


# ------------------------------------------------------------- parameters, checks
def params_from_torch(module: Any) -> Params:
    """float64 numpy copies of a ``torch.nn.RNN``/``LSTM``/``GRU``'s parameters,
    under torch's names."""
    kind = type(module).__name__
    if kind not in NUM_GATES:
        raise TypeError(f"expected torch.nn.RNN, LSTM or GRU, got {kind}")
    if module.bidirectional or getattr(module, "proj_size", 0):
        raise ValueError("bidirectional modules and proj_size > 0 are not supported")
    if kind == "RNN" and module.nonlinearity != "tanh":
        raise ValueError(
            f"only the tanh RNN is supported, got nonlinearity={module.nonlinearity!r}"
        )
    return {
        name: p.detach().cpu().double().numpy().copy()
        for name, p in module.named_parameters()
    }


def init_params(
    kind: str,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    *,
    bias: bool = True,
    seed: int = 0,
) -> Params:
    """Random parameters as torch initialises them: uniform in
    (-1/sqrt(H), 1/sqrt(H))."""
    _check_kind(kind)
    rng, G, H, k = (
        np.random.default_rng(seed),
        NUM_GATES[kind],
        hidden_size,
        hidden_size**-0.5,
    )
    params: Params = {}
    for layer in range(num_layers):
        shapes = {
            "weight_ih": (G * H, input_size if layer == 0 else H),
            "weight_hh": (G * H, H),
        }
        if bias:
            shapes |= {"bias_ih": (G * H,), "bias_hh": (G * H,)}
        for name, shape in shapes.items():
            params[f"{name}_l{layer}"] = rng.uniform(-k, k, size=shape)
    return params


def _check_kind(kind: str) -> None:
    if kind not in NUM_GATES:
        raise ValueError(f"kind must be one of {sorted(NUM_GATES)}, got {kind!r}")


def _array(name: str, value: Any, shape: tuple[int, ...] | None = None) -> Array:
    """float64 array (a new one if a conversion was needed), checked for shape and
    NaN."""
    a = np.asarray(value, dtype=np.float64)
    if shape is not None and a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
    if np.isnan(a).any():
        raise ValueError(f"{name} contains NaN")
    return a


def _layers(
    kind: str, params: Mapping[str, Any], input_size: int
) -> list[tuple[Array, ...]]:
    """Per layer (W_ih, W_hh, b_ih, b_hh), checked; absent biases become zeros."""
    _check_kind(kind)
    if "weight_hh_l0" not in params:
        raise KeyError("missing parameter 'weight_hh_l0'")
    if np.ndim(params["weight_hh_l0"]) != 2:
        raise ValueError(
            "weight_hh_l0 must be a matrix (G*H, H), got shape "
            f"{np.shape(params['weight_hh_l0'])}"
        )
    numbered = [re.fullmatch(r"(?:weight|bias)_(?:ih|hh)_l(\d+)", k) for k in params]
    G, L = NUM_GATES[kind], 1 + max(int(m[1]) for m in numbered if m)
    H = np.shape(params["weight_hh_l0"])[1]
    has_bias = "bias_ih_l0" in params or "bias_hh_l0" in params
    expected = {f"{w}_l{k}" for k in range(L) for w in ("weight_ih", "weight_hh")}
    expected |= (
        {f"{b}_l{k}" for k in range(L) for b in ("bias_ih", "bias_hh")}
        if has_bias
        else set()
    )
    if expected - set(params):
        raise KeyError(f"missing parameter(s) {sorted(expected - set(params))}")
    if set(params) - expected:
        raise KeyError(
            f"unexpected parameter(s) {sorted(set(params) - expected)} "
            "(bidirectional or projection modules are not supported)"
        )
    layers = []
    for k in range(L):
        W_ih = _array(
            f"weight_ih_l{k}",
            params[f"weight_ih_l{k}"],
            (G * H, input_size if k == 0 else H),
        )
        W_hh = _array(f"weight_hh_l{k}", params[f"weight_hh_l{k}"], (G * H, H))
        b = [
            _array(f"{n}_l{k}", params[f"{n}_l{k}"], (G * H,))
            if has_bias
            else np.zeros(G * H)
            for n in ("bias_ih", "bias_hh")
        ]
        layers.append((W_ih, W_hh, *b))
    return layers


# -------------------------------------------------------------------- the drivers
@dataclass(frozen=True)
class LayerCache:
    """What one layer's backward pass needs: its input, states and gates over time."""

    x: Array  # (T, B, I) input of this layer
    h: Array  # (T+1, B, H): h[0] is the initial state, h[t+1] the output at step t
    c: Array | None  # (T+1, B, H) for the LSTM, else None
    gates: dict[str, Array]  # name -> (T, B, H)


@dataclass(frozen=True)
class Cache:
    """Returned by :func:`forward`, consumed by :func:`backward`."""

    kind: str
    params: Params  # the checked float64 parameters, torch's names
    layers: tuple[LayerCache, ...]
    has_bias: bool


def forward(
    kind: str, params: Mapping[str, Any], x: Any, state: Any = None
) -> tuple[Array, Array | tuple[Array, Array], Cache]:
    """Run a multi-layer RNN/LSTM/GRU over x (T, B, I).

    ``state``: None (zeros), h0 (L, B, H), or for the LSTM a pair (h0, c0).
    Returns outputs (T, B, H) of the top layer, the final state (h_n (L, B, H),
    or for the LSTM a pair (h_n, c_n)) and a :class:`~rnnviz.numpy_ref.Cache` for
    :func:`backward`.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"x must have shape (T, B, I) with T, B >= 1, got {x.shape}")
    x = _array("x", x)
    layers = _layers(kind, params, x.shape[2])
    L, (T, B, _), H = len(layers), x.shape, layers[0][1].shape[1]
    h0, c0 = _initial_state(kind, state, (L, B, H), ("h0", "c0"))
    checked: Params = {}
    caches, inp = [], x
    for k, (W_ih, W_hh, b_ih, b_hh) in enumerate(layers):
        checked |= {
            f"weight_ih_l{k}": W_ih,
            f"weight_hh_l{k}": W_hh,
            f"bias_ih_l{k}": b_ih,
            f"bias_hh_l{k}": b_hh,
        }
        hs, cs, gates = [h0[k]], [c0[k]], []
        for t in range(T):
            if kind == "RNN":
                h, c, g = rnn_step(inp[t], hs[-1], W_ih, W_hh, b_ih, b_hh), cs[-1], {}
            elif kind == "LSTM":
                h, c, g = lstm_step(inp[t], hs[-1], cs[-1], W_ih, W_hh, b_ih, b_hh)
            else:
                (h, g), c = gru_step(inp[t], hs[-1], W_ih, W_hh, b_ih, b_hh), cs[-1]
            hs.append(h)
            cs.append(c)
            gates.append(g)
        stacked = {
            n: np.stack([g[n] for g in gates]) for n in gates[0]
        }  # name -> (T, B, H)
        caches.append(
            LayerCache(
                inp, np.stack(hs), np.stack(cs) if kind == "LSTM" else None, stacked
            )
        )
        inp = caches[-1].h[1:]  # (T, B, H): the next layer's input
    h_n = np.stack([lc.h[-1] for lc in caches])  # (L, B, H)
    final = (h_n, np.stack([lc.c[-1] for lc in caches])) if kind == "LSTM" else h_n
    has_bias = "bias_ih_l0" in params
    return inp, final, Cache(kind, checked, tuple(caches), has_bias)


def _initial_state(
    kind: str, state: Any, shape: tuple[int, int, int], names: tuple[str, str]
) -> tuple[Array, Array]:
    """(h, c) from None (zeros), h, or for the LSTM a pair (h, c); c is zeros for
    the RNN and the GRU."""
    if state is None:
        return np.zeros(shape), np.zeros(shape)
    if kind == "LSTM":
        if not (isinstance(state, (tuple, list)) and len(state) == 2):
            raise ValueError(f"the LSTM state must be a pair ({names[0]}, {names[1]})")
        return _array(names[0], state[0], shape), _array(names[1], state[1], shape)
    return _array(names[0], state, shape), np.zeros(shape)


def backward(cache: Cache, dout: Any, dstate: Any = None) -> dict[str, Array]:
    """Backpropagation through time.

    ``dout``: dL/d(outputs) (T, B, H); ``dstate``: None, dL/dh_n (L, B, H) or for
    the LSTM a pair (dL/dh_n, dL/dc_n). Returns the gradient of every parameter
    (torch's names; biases only if the parameters had them), ``"x"`` (T, B, I),
    ``"h0"`` (L, B, H) and, for the LSTM, ``"c0"``.
    """
    kind, L = cache.kind, len(cache.layers)
    T, B, H = cache.layers[-1].h[1:].shape
    d_top = _array("dout", dout, (T, B, H))
    dh_n, dc_n = _initial_state(kind, dstate, (L, B, H), ("dh_n", "dc_n"))
    grads: dict[str, Array] = {}
    dh0, dc0 = np.zeros((L, B, H)), np.zeros((L, B, H))
    for k in reversed(range(L)):
        lc, W_ih, W_hh = (
            cache.layers[k],
            cache.params[f"weight_ih_l{k}"],
            cache.params[f"weight_hh_l{k}"],
        )
        dW_ih, dW_hh = np.zeros_like(W_ih), np.zeros_like(W_hh)
        db_ih, db_hh = np.zeros(W_ih.shape[0]), np.zeros(W_hh.shape[0])
        dx = np.zeros_like(lc.x)
        # the gradient arriving from step t+1 (or from the final state)
        dh_next, dc_next = dh_n[k], dc_n[k]
        for t in reversed(range(T)):
            dh = d_top[t] + dh_next  # dL/dh_t: from the output at t and from step t+1
            g_t = {n: v[t] for n, v in lc.gates.items()}
            if kind == "RNN":
                da, dx[t], dh_next = rnn_step_backward(dh, lc.h[t + 1], W_ih, W_hh)
                dgx = dgh = da
            elif kind == "LSTM":
                da, dx[t], dh_next, dc_next = lstm_step_backward(
                    dh, dc_next, lc.c[t], lc.c[t + 1], g_t, W_ih, W_hh
                )
                dgx = dgh = da
            else:
                dgx, dgh, dx[t], dh_next = gru_step_backward(
                    dh, lc.h[t], g_t, W_ih, W_hh
                )
            # the weights are shared: their gradient sums over time
            dW_ih += dgx.T @ lc.x[t]
            dW_hh += dgh.T @ lc.h[t]
            db_ih += dgx.sum(axis=0)
            db_hh += dgh.sum(axis=0)
        grads |= {f"weight_ih_l{k}": dW_ih, f"weight_hh_l{k}": dW_hh}
        if cache.has_bias:
            grads |= {f"bias_ih_l{k}": db_ih, f"bias_hh_l{k}": db_hh}
        dh0[k], dc0[k] = dh_next, dc_next
        d_top = dx  # the input of layer k is the output of layer k-1
    grads["x"], grads["h0"] = d_top, dh0
    if kind == "LSTM":
        grads["c0"] = dc0
    return grads


# ------------------------------------------------------------- the language model
def head_loss(
    h: Any, weight: Any, bias: Any, targets: Any
) -> tuple[float, dict[str, Array]]:
    """Mean cross-entropy (nats) of softmax(h W^T + b) against targets, and its
    gradients.

    h: (T, B, H); weight: (V, H); bias: (V,); targets: integer ids (T, B).
    Returns ``(loss, {"h": (T, B, H), "weight": (V, H), "bias": (V,)})``.
    """
    h = np.asarray(h, dtype=np.float64)
    if h.ndim != 3 or h.shape[0] == 0 or h.shape[1] == 0:
        raise ValueError(f"h must have shape (T, B, H) with T, B >= 1, got {h.shape}")
    h = _array("h", h)
    V = np.shape(weight)[0] if np.ndim(weight) == 2 else -1
    weight = _array("weight", weight, (V, h.shape[2]))
    bias = _array("bias", bias, (V,))
    targets = np.asarray(targets)
    if targets.shape != h.shape[:2] or not np.issubdtype(targets.dtype, np.integer):
        raise ValueError(
            f"targets must be integer ids of shape {h.shape[:2]}, "
            f"got {targets.dtype} {targets.shape}"
        )
    if targets.min() < 0 or targets.max() >= V:
        raise ValueError(
            f"targets must lie in [0, {V}), "
            f"got values in [{targets.min()}, {targets.max()}]"
        )
    logits = h @ weight.T + bias  # (T, B, V)
    shifted = logits - logits.max(axis=2, keepdims=True)
    # (T, B, V) log-softmax
    log_p = shifted - np.log(np.exp(shifted).sum(axis=2, keepdims=True))
    N = targets.size
    t_idx, b_idx = np.indices(targets.shape)
    loss = -log_p[t_idx, b_idx, targets].mean()
    dlogits = np.exp(log_p)  # softmax - one_hot, divided by the N terms of the mean
    dlogits[t_idx, b_idx, targets] -= 1
    dlogits /= N
    return float(loss), {
        "h": dlogits @ weight,
        "weight": np.einsum("tbv,tbh->vh", dlogits, h),
        "bias": dlogits.sum(axis=(0, 1)),
    }
