"""Gradient flow through time in a recurrent character model such as ``CharLM``.

How strongly does the loss at one step reach back to the hidden state of an
earlier step? :func:`hidden_grad_norms` measures ``||dL/dh_t||`` exactly, by
replaying the model step by step through the reference cells of
:mod:`rnnviz.cells` (with the model's own weights, by default in float64) and
asking autograd for the gradient at every state. :func:`step_jacobians` gives
the one-step Jacobians ``ds_t/ds_{t-1}`` whose product carries that gradient
(``s = h``, or ``s = (h, c)`` for the LSTM), their singular values and the norm
of their product over distance; :func:`forget_products` the LSTM's direct cell
path, the product of forget gates.

The replay needs the model's structure, not its class: any
:class:`~rnnviz.protocols.RecurrentCharModel`, an ``embed`` layer, a fused
batch-first ``rnn`` (``nn.RNN``, ``nn.LSTM`` or ``nn.GRU``) and a linear
``head`` with ``logits = head(rnn(embed(ids)))`` (dropout, if any, only
between them). :class:`rnnviz.models.CharLM` is one; a model with its own
cell (``NormCharLM``, ``MinGRULM``) has no fused ``rnn`` to replay and is
refused with a ``TypeError``.

Every measurement is an inference pass: dropout is not applied. Distances
count steps back from the loss: distance ``d`` is step ``loss_step - d``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from rnnviz import cells
from rnnviz.data import check_ids
from rnnviz.probe import probe
from rnnviz.protocols import RecurrentCharModel, check_recurrent


def _check_model(model: RecurrentCharModel) -> str:
    """The kind ('RNN', 'LSTM', 'GRU') of a model the replay can read."""
    kind = check_recurrent(model, "a gradient measurement")
    if not all(torch.isfinite(p).all() for p in model.parameters()):
        raise ValueError("model has NaN or infinite weights")
    return kind


def _ids(model: RecurrentCharModel, ids: Tensor) -> Tensor:
    return check_ids(ids, model.embed.num_embeddings)


def _layer_weights(
    rnn: nn.RNNBase, layer: int, dtype: torch.dtype
) -> list[Tensor | None]:
    """(weight_ih, weight_hh, bias_ih, bias_hh) of one layer, detached, in ``dtype``."""
    out = []
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        p = getattr(rnn, f"{name}_l{layer}", None)
        out.append(None if p is None else p.detach().to(dtype))
    return out


def _step(kind: str, weights, nonlinearity: str, x: Tensor, s: Tensor) -> Tensor:
    """One step of one layer on the state ``s``: (B, H), or (B, 2H) = (h, c) (LSTM)."""
    if kind == "LSTM":
        h, c = s.chunk(2, dim=-1)
        h, c, _ = cells.lstm_cell(x, h, c, *weights)
        return torch.cat([h, c], dim=-1)  # (B, 2H)
    if kind == "GRU":
        return cells.gru_cell(x, s, *weights)[0]
    return cells.rnn_cell(x, s, *weights, nonlinearity=nonlinearity)


def _check_pair(
    model: RecurrentCharModel, ids: Tensor, targets: Tensor
) -> tuple[Tensor, Tensor]:
    """Character ids (B, T) and their targets (B, T), validated by the model."""
    ids = _ids(model, ids)
    if not isinstance(targets, Tensor) or tuple(targets.shape) != tuple(ids.shape):
        got = (
            tuple(targets.shape)
            if isinstance(targets, Tensor)
            else type(targets).__name__
        )
        raise ValueError(
            f"targets must be a tensor of shape {tuple(ids.shape)} like ids, got {got}"
        )
    return ids, _ids(model, targets)


def _check_step(loss_step: int, T: int) -> int:
    if (
        isinstance(loss_step, bool)
        or not isinstance(loss_step, (int, np.integer))
        or not -T <= loss_step < T
    ):
        raise IndexError(f"loss_step must be an int in [{-T}, {T}), got {loss_step!r}")
    return int(loss_step) % T


def hidden_grad_norms(
    model: RecurrentCharModel,
    ids: Tensor,
    targets: Tensor,
    *,
    loss_step: int = -1,
    wrt: str = "h",
    reduce: str = "mean",
    dtype: torch.dtype = torch.float64,
) -> np.ndarray:
    """Norm of ``dL/dh_t`` of every layer and step, for the loss at one step.

    ``ids``, ``targets``: (B, T) character ids and next characters. ``L`` is the
    cross-entropy of ``targets[:, loss_step]`` at step ``loss_step``, one term per
    sequence, so each sequence's gradient is its own. ``dL/dh_t`` is the total
    derivative: every path from ``h_t`` (of layer ``l``) to the loss, through
    later steps and higher layers. ``wrt='c'`` measures the LSTM's cell states
    (the standard BPTT ``delta c_t``, which includes the path ``c_t -> h_t``).
    Returns (L, T) (mean over the batch of the per-sequence norm) or (L, B, T)
    with ``reduce='none'``; steps after ``loss_step`` get 0.
    """
    kind = _check_model(model)
    ids, targets = _check_pair(model, ids, targets)
    if wrt not in ("h", "c") or (wrt == "c" and kind != "LSTM"):
        raise ValueError(
            f"wrt must be 'h' (or 'c' for an LSTM), got {wrt!r} for a {kind}"
        )
    if reduce not in ("mean", "none"):
        raise ValueError(f"reduce must be 'mean' or 'none', got {reduce!r}")
    B, T = ids.shape
    s_end = _check_step(loss_step, T)
    rnn, L, H = model.rnn, model.rnn.num_layers, model.rnn.hidden_size
    weights = [_layer_weights(rnn, l, dtype) for l in range(L)]
    nl = getattr(rnn, "nonlinearity", "tanh")
    x = model.embed(ids).detach().to(dtype)  # (B, T, E)

    def zeros() -> Tensor:  # an initial state, a leaf of the graph
        return torch.zeros(B, H, dtype=dtype, requires_grad=True)

    state = [(zeros(), zeros()) if kind == "LSTM" else zeros() for _ in range(L)]
    hs: list[list[Tensor]] = [
        [] for _ in range(L)
    ]  # [l][t]: h of layer l at step t, (B, H)
    cs: list[list[Tensor]] = [[] for _ in range(L)]  # the same for the LSTM's c
    for t in range(s_end + 1):
        inp = x[:, t]  # (B, E)
        for l in range(L):
            if kind == "LSTM":
                h, c, _ = cells.lstm_cell(inp, *state[l], *weights[l])
                state[l] = (h, c)
                cs[l].append(
                    c
                )  # the node h_t is computed from: dL/dc_t includes the path via h_t
            elif kind == "GRU":
                h = state[l] = cells.gru_cell(inp, state[l], *weights[l])[0]
            else:
                h = state[l] = cells.rnn_cell(
                    inp, state[l], *weights[l], nonlinearity=nl
                )
            hs[l].append(h)
            inp = h  # the next layer reads h
    head_w, head_b = (
        model.head.weight.detach().to(dtype),
        model.head.bias.detach().to(dtype),
    )
    logits = hs[-1][s_end] @ head_w.T + head_b  # (B, V)
    loss = nn.functional.cross_entropy(logits, targets[:, s_end], reduction="sum")
    nodes = hs if wrt == "h" else cs
    grads = torch.autograd.grad(loss, [n for layer in nodes for n in layer])
    norms = np.zeros((L, B, T))
    for k, g in enumerate(grads):
        l, t = divmod(k, s_end + 1)
        norms[l, :, t] = g.norm(dim=1).numpy()
    return norms.mean(axis=1) if reduce == "mean" else norms  # (L, T) or (L, B, T)


def by_distance(values: np.ndarray, loss_step: int = -1) -> np.ndarray:
    """Per-step values (..., T) by distance from ``loss_step``: (..., loss_step + 1).

    Entry ``d`` of the result is step ``loss_step - d``.
    """
    values = np.asarray(values)
    if values.ndim < 1 or values.shape[-1] == 0:
        raise ValueError(
            f"values must have a non-empty last (time) axis, got shape {values.shape}"
        )
    s = _check_step(loss_step, values.shape[-1])
    return values[..., s::-1]


@dataclass(frozen=True)
class StepJacobians:
    """The one-step Jacobians of one layer along one text.

    ``J[t] = ds_t / ds_{t-1}``, shape (T, S, S), with ``s = h`` (S = H) or, for
    the LSTM, ``s = (h, c)`` stacked (S = 2H). ``sv[t]`` are the singular values
    of ``J[t]`` in decreasing order, (T, S). ``product_norm[d]`` is the spectral
    norm of ``ds_{T-1} / ds_{T-1-d} = J[T-1] ... J[T-d]``, (T,), with 1 at d = 0.
    """

    kind: str
    J: np.ndarray
    sv: np.ndarray
    product_norm: np.ndarray


def product_norms(J: np.ndarray) -> np.ndarray:
    """Spectral norms of ``J[T-1] @ ... @ J[T-d]`` for d = 0..T-1: (T,).

    The product is renormalised at each step (its scale kept as a log), so
    long products neither underflow nor overflow before the final ``exp``.
    """
    J = np.asarray(J, dtype=np.float64)
    if J.ndim != 3 or J.shape[1] != J.shape[2] or J.shape[0] == 0:
        raise ValueError(f"J must have shape (T, S, S) with T >= 1, got {J.shape}")
    if not np.isfinite(J).all():
        raise ValueError("J contains NaN or infinite values")
    T, S, _ = J.shape
    P, log_scale = np.eye(S), 0.0
    out = np.empty(T)
    out[0] = 1.0
    for d in range(1, T):
        P = P @ J[T - d]
        s = np.linalg.norm(P, 2)
        if s == 0:
            out[d:] = 0.0
            break
        log_scale += np.log(s)
        P = P / s
        out[d] = np.exp(log_scale)
    return out


def step_jacobians(
    model: RecurrentCharModel,
    ids: Tensor,
    layer: int = 0,
    dtype: torch.dtype = torch.float64,
) -> StepJacobians:
    """Jacobians ``ds_t/ds_{t-1}`` of ``layer`` along one text ``ids`` ((T,) or (1, T)).

    The layer's inputs (the embeddings, or the layer below) are held fixed: this
    is the recurrent Jacobian of that layer alone. Computed with autograd
    (``torch.func.jacrev``, vectorised over steps) on the reference cells.
    """
    kind = _check_model(model)
    if isinstance(ids, Tensor) and ids.dim() == 1:
        ids = ids.unsqueeze(0)
    ids = _ids(model, ids)
    if ids.shape[0] != 1:
        raise ValueError(
            "step_jacobians reads one text at a time: ids must be (T,) or (1, T), "
            f"got {tuple(ids.shape)}"
        )
    rnn = model.rnn
    if (
        isinstance(layer, bool)
        or not isinstance(layer, (int, np.integer))
        or not 0 <= layer < rnn.num_layers
    ):
        raise IndexError(
            f"layer must be an int in [0, {rnn.num_layers}), got {layer!r}"
        )
    H = rnn.hidden_size
    nl = getattr(rnn, "nonlinearity", "tanh")
    with torch.no_grad():
        inp = model.embed(ids[0]).to(dtype)  # (T, E)
        for l in range(layer + 1):
            w = _layer_weights(rnn, l, dtype)
            s = torch.zeros(1, 2 * H if kind == "LSTM" else H, dtype=dtype)
            prev, seq = [], []
            for t in range(inp.shape[0]):
                prev.append(s[0])
                s = _step(kind, w, nl, inp[t : t + 1], s)
                seq.append(s[0])
            xs, s_prev = (
                inp,
                torch.stack(prev),
            )  # (T, I), (T, S): the inputs of the last layer run
            inp = torch.stack(seq)[:, :H]  # (T, H): what the next layer reads

    def one(x: Tensor, s: Tensor) -> Tensor:  # (I,), (S,) -> (S,)
        return _step(kind, w, nl, x.unsqueeze(0), s.unsqueeze(0))[0]

    J = torch.func.vmap(torch.func.jacrev(one, argnums=1))(
        xs, s_prev
    ).numpy()  # (T, S, S)
    sv = np.linalg.svd(J, compute_uv=False)  # (T, S)
    return StepJacobians(kind=kind, J=J, sv=sv, product_norm=product_norms(J))


def forget_products(
    model: RecurrentCharModel, ids: Tensor, layer: int = 0
) -> np.ndarray:
    """The LSTM's cell path: ``prod_{k=T-d}^{T-1} f_k`` for d = 0..T-1, per unit.

    ``ids``: (B, T). Returns (T, B, H), 1 at d = 0: the diagonal of
    ``dc_{T-1}/dc_{T-1-d}`` along the path through the cells alone.
    """
    kind = _check_model(model)
    if kind != "LSTM":
        raise ValueError(f"forget_products needs an LSTM, got a {kind}")
    f = probe(model, ids).series("f", layer)  # (T, B, H); probe checks ids, layer
    rev = f[::-1].astype(np.float64)  # rev[k] = f_{T-1-k}
    out = np.ones_like(rev)
    out[1:] = np.cumprod(rev[:-1], axis=0)
    return out  # (T, B, H)


def parameter_grad_norms(
    model: RecurrentCharModel, ids: Tensor, targets: Tensor
) -> dict[str, float]:
    """``||dL/dp||`` for every named parameter, L the mean cross-entropy over (B, T).

    Uses ``torch.autograd.grad``: the model's ``.grad`` fields are left as they were.
    Dropout is off during the pass; the model's train/eval mode is restored.
    """
    _check_model(model)
    ids, targets = _check_pair(model, ids, targets)
    was_training = model.training
    model.eval()
    try:
        logits, _ = model(ids)  # (B, T, V)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        grads = torch.autograd.grad(loss, [p for _, p in named])
    finally:
        model.train(was_training)
    return {n: float(g.norm()) for (n, _), g in zip(named, grads)}


def spectral_radius(W: np.ndarray | Tensor) -> float:
    """Largest absolute eigenvalue of a square matrix."""
    W = np.asarray(W.detach() if isinstance(W, Tensor) else W, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise ValueError(f"W must be a square matrix, got shape {W.shape}")
    return float(np.abs(np.linalg.eigvals(W)).max())


def scale_recurrent(model: RecurrentCharModel, radius: float) -> RecurrentCharModel:
    """A copy of ``model`` whose recurrent matrices have spectral radius ``radius``.

    Every layer's ``weight_hh`` block of each gate ((H, H)) is rescaled on its
    own; the input weights and biases are unchanged. ``model`` is not modified.
    """
    _check_model(model)
    if (
        isinstance(radius, bool)
        or not isinstance(radius, (int, float))
        or not np.isfinite(radius)
        or radius < 0
    ):
        raise ValueError(f"radius must be a finite number >= 0, got {radius!r}")
    out = copy.deepcopy(model)
    H = out.rnn.hidden_size
    with torch.no_grad():
        for l in range(out.rnn.num_layers):
            W = getattr(out.rnn, f"weight_hh_l{l}")  # (G*H, H)
            for k in range(W.shape[0] // H):
                block = W[k * H : (k + 1) * H]
                rho = spectral_radius(block)
                if rho == 0:
                    raise ValueError(
                        f"layer {l}, gate block {k}: recurrent matrix is nilpotent "
                        "(spectral radius 0), cannot rescale"
                    )
                block.mul_(radius / rho)
    return out


def scaled_gradient_curves(
    models: Mapping[str, RecurrentCharModel],
    ids: Tensor,
    targets: Tensor,
    radius: float,
) -> dict[str, np.ndarray]:
    """``||dL/dh_{T-d}||`` (top layer) of each model, recurrent matrices rescaled.

    Each model of ``models`` (label -> a
    :class:`~rnnviz.protocols.RecurrentCharModel`) is copied by
    :func:`scale_recurrent` to spectral radius ``radius`` and measured with
    :func:`hidden_grad_norms` on ``ids``, ``targets`` (B, T), loss at the last
    step. Returns label -> values (T,) by distance ``d`` from the loss.
    """
    if not isinstance(models, Mapping) or not models:
        raise ValueError("models must be a non-empty mapping label -> model")
    return {
        key: by_distance(
            hidden_grad_norms(scale_recurrent(m, radius), ids, targets)[-1]
        )
        for key, m in models.items()
    }  # label -> (T,)
