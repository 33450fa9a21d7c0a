"""Record every gate and state of a trained recurrent module.

``probe(module, inputs)`` replays a ``torch.nn.RNN``, ``LSTM`` or ``GRU`` (any
number of layers, ``batch_first`` either way) through the reference cells of
:mod:`rnnviz.cells`, step by step, and returns a :class:`Trace`. Training uses
the fused torch module; probing costs one extra forward pass of the reference
cells over the text you look at. The replay is an inference pass: dropout
between layers is not applied (as in ``module.eval()``).

For a character model with the structure of a
:class:`~rnnviz.protocols.RecurrentCharModel` (``embed``, a fused ``rnn``,
``head``; :class:`rnnviz.models.CharLM` is one) the probe also embeds the
characters and applies the output head, so the trace holds the logits too:
:func:`probe_lm`. Dispatch is on that structure, not on the class.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from rnnviz import cells
from rnnviz.data import check_ids
from rnnviz.protocols import RNN_KINDS, RecurrentCharModel, check_recurrent


@dataclass(frozen=True)
class LayerTrace:
    """What one layer did: arrays of shape (T, B, H), time first."""

    h: np.ndarray
    c: np.ndarray | None = None
    gates: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class Trace:
    """The record of one forward pass.

    ``layers[l].h``, ``.c`` (LSTM only) and ``.gates[name]`` have shape (T, B, H).
    ``output`` is what the module returns as its first value, in the module's own
    layout: (B, T, H) if ``batch_first`` else (T, B, H), or (T, H) for unbatched
    input. ``h_n`` and ``c_n`` are the final states, (L, B, H). For a character model,
    ``logits`` has shape (B, T, V) and ``text`` is the decoded input if known.
    """

    kind: str
    layers: tuple[LayerTrace, ...]
    output: np.ndarray
    h_n: np.ndarray
    c_n: np.ndarray | None
    batch_first: bool
    logits: np.ndarray | None = None
    text: str | None = None

    @property
    def gate_names(self) -> tuple[str, ...]:
        return cells.GATES[self.kind]

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def hidden_size(self) -> int:
        return self.layers[0].h.shape[2]

    def __len__(self) -> int:
        return self.layers[0].h.shape[0]

    def series(self, name: str, layer: int = 0) -> np.ndarray:
        """State or gate ``name`` ('h', 'c' or a gate) of ``layer``, (T, B, H)."""
        if not 0 <= layer < self.num_layers:
            raise IndexError(
                f"layer {layer} out of range: the trace has {self.num_layers} layer(s)"
            )
        lt = self.layers[layer]
        if name == "h":
            return lt.h
        if name == "c" and lt.c is not None:
            return lt.c
        if name in lt.gates:
            return lt.gates[name]
        known = ["h"] + (["c"] if lt.c is not None else []) + list(lt.gates)
        raise KeyError(f"{self.kind} trace has no series {name!r}; known: {known}")


def _kind(module: nn.Module) -> str:
    kind = RNN_KINDS.get(type(module))
    if kind is None:
        raise TypeError(
            "probe supports torch.nn.RNN, LSTM and GRU (or a character model made of "
            f"embed, rnn and head, like CharLM), got {type(module).__name__}"
        )
    return kind


def _check_supported(module: nn.RNNBase) -> None:
    if module.bidirectional:
        raise ValueError(
            "probe does not support bidirectional modules yet: "
            "probe each direction separately"
        )
    if getattr(module, "proj_size", 0):
        raise ValueError("probe does not support LSTM with proj_size > 0")


def _as_float_input(module: nn.RNNBase, inputs: Tensor) -> tuple[Tensor, bool]:
    """Return inputs as (T, B, I) and whether they were unbatched."""
    if not isinstance(inputs, Tensor):
        raise TypeError(f"inputs must be a torch.Tensor, got {type(inputs).__name__}")
    if not inputs.is_floating_point():
        raise TypeError(
            f"inputs must be a floating-point tensor, got dtype {inputs.dtype}"
        )
    if inputs.dim() not in (2, 3):
        layout = "(B, T, I)" if module.batch_first else "(T, B, I)"
        raise ValueError(
            f"inputs must have shape {layout} or (T, I), got {tuple(inputs.shape)}"
        )
    if inputs.shape[-1] != module.input_size:
        raise ValueError(
            f"inputs have {inputs.shape[-1]} features in their last dimension, "
            f"but the module expects input_size={module.input_size}"
        )
    if inputs.shape[-2 if inputs.dim() == 2 else 0] == 0 or inputs.numel() == 0:
        raise ValueError(f"inputs are empty: shape {tuple(inputs.shape)}")
    if not torch.isfinite(inputs).all():
        raise ValueError("inputs contain NaN or infinite values")
    if inputs.dim() == 2:
        return inputs.unsqueeze(1), True  # (T, 1, I)
    return (inputs.transpose(0, 1) if module.batch_first else inputs), False


def _initial_state(
    module: nn.RNNBase, kind: str, state, batch: int, unbatched: bool, like: Tensor
):
    L, H = module.num_layers, module.hidden_size
    zeros = like.new_zeros(L, batch, H)
    if state is None:
        return zeros, (zeros.clone() if kind == "LSTM" else None)
    if kind == "LSTM":
        if not (isinstance(state, (tuple, list)) and len(state) == 2):
            raise TypeError("an LSTM state must be a tuple (h0, c0)")
        h0, c0 = state
    else:
        if isinstance(state, (tuple, list)):
            raise TypeError(f"a {kind} state must be a single tensor h0, not a tuple")
        h0, c0 = state, None
    out = []
    for name, s in (("h0", h0), ("c0", c0)):
        if s is None:
            out.append(None)
            continue
        if unbatched and s.dim() == 2:
            s = s.unsqueeze(1)
        if tuple(s.shape) != (L, batch, H):
            raise ValueError(
                f"{name} must have shape {(L, batch, H)} (num_layers, batch, "
                f"hidden), got {tuple(s.shape)}"
            )
        out.append(s.to(like.dtype))
    return out[0], out[1]


def _param(module: nn.RNNBase, name: str, layer: int) -> Tensor | None:
    return getattr(module, f"{name}_l{layer}", None)


def _check_force(kind: str, force, layers, num_layers: int) -> None:
    if not force:
        return
    if kind == "RNN":
        raise ValueError("an RNN has no gates to force")
    unknown = set(force) - set(cells.GATES[kind])
    if unknown:
        raise KeyError(
            f"cannot force {sorted(unknown)}: "
            f"{kind} gates are {list(cells.GATES[kind])}"
        )
    for l in layers or ():
        if not 0 <= l < num_layers:
            raise IndexError(
                f"force_layers has layer {l}, but the module has {num_layers} layer(s)"
            )


@torch.no_grad()
def probe_module(
    module: nn.RNNBase, inputs: Tensor, state=None, force=None, force_layers=None
) -> Trace:
    """Replay ``module`` on ``inputs`` in the reference cells (see :func:`probe`)."""
    kind = _kind(module)
    _check_supported(module)
    _check_force(kind, force, force_layers, module.num_layers)
    x, unbatched = _as_float_input(module, inputs)  # (T, B, I)
    T, B, _ = x.shape
    h0, c0 = _initial_state(module, kind, state, B, unbatched, x)
    layers, h_last, c_last = [], [], []
    for l in range(module.num_layers):
        w_ih, w_hh = _param(module, "weight_ih", l), _param(module, "weight_hh", l)
        b_ih, b_hh = _param(module, "bias_ih", l), _param(module, "bias_hh", l)
        h, c = h0[l], (c0[l] if c0 is not None else None)
        fl = force if force_layers is None or l in force_layers else None
        hs, cs = [], []
        gates: dict[str, list[Tensor]] = {g: [] for g in cells.GATES[kind]}
        for t in range(T):
            if kind == "LSTM":
                h, c, gt = cells.lstm_cell(x[t], h, c, w_ih, w_hh, b_ih, b_hh, force=fl)
                cs.append(c)
            elif kind == "GRU":
                h, gt = cells.gru_cell(x[t], h, w_ih, w_hh, b_ih, b_hh, force=fl)
            else:
                h, gt = (
                    cells.rnn_cell(
                        x[t], h, w_ih, w_hh, b_ih, b_hh, module.nonlinearity
                    ),
                    {},
                )
            hs.append(h)
            for g, v in gt.items():
                gates[g].append(v)
        H_seq = torch.stack(hs)  # (T, B, H)
        layers.append(
            LayerTrace(
                h=H_seq.numpy(),
                c=torch.stack(cs).numpy() if kind == "LSTM" else None,
                gates={g: torch.stack(v).numpy() for g, v in gates.items()},
            )
        )
        h_last.append(h)
        c_last.append(c)
        x = H_seq  # the next layer reads this layer's hidden states
    out = x[:, 0] if unbatched else (x.transpose(0, 1) if module.batch_first else x)
    h_n = torch.stack(h_last)  # (L, B, H)
    c_n = torch.stack(c_last) if kind == "LSTM" else None
    return Trace(
        kind=kind,
        layers=tuple(layers),
        output=out.numpy(),
        h_n=h_n.numpy(),
        c_n=None if c_n is None else c_n.numpy(),
        batch_first=module.batch_first,
    )


def _lm_ids(model: RecurrentCharModel, inputs: object) -> tuple[Tensor, str | None]:
    """Character ids (B, T) from ids (B, T) or (T,), or a string and ``model.vocab``."""
    if isinstance(inputs, str):
        vocab = getattr(model, "vocab", None)
        if vocab is None:
            raise ValueError(
                f"this {type(model).__name__} has no vocab: pass character ids "
                "instead of a string"
            )
        return vocab.encode(inputs).unsqueeze(0), inputs  # (1, T)
    if isinstance(inputs, Tensor) and inputs.dim() == 1:
        inputs = inputs.unsqueeze(0)
    return check_ids(inputs, model.embed.num_embeddings), None  # (B, T)


@torch.no_grad()
def probe_lm(
    model: RecurrentCharModel, inputs, state=None, force=None, force_layers=None
) -> Trace:
    """Trace of a character model ``head(rnn(embed(ids)))`` on ``inputs``, with logits.

    ``inputs``: character ids (B, T) or (T,), or a string encoded with
    ``model.vocab``. The trace's ``logits`` are (B, T, V) and ``text`` is the
    string if one was given. See :func:`probe` for ``state`` and ``force``.
    """
    check_recurrent(model, "probe_lm")
    ids, text = _lm_ids(model, inputs)
    tr = probe_module(model.rnn, model.embed(ids), state, force, force_layers)
    logits = model.head(torch.from_numpy(tr.output)).numpy()  # (B, T, V)
    return Trace(**{**tr.__dict__, "logits": logits, "text": text})


def probe(
    module: nn.Module, inputs, state=None, force=None, force_layers=None
) -> Trace:
    """Record every gate, hidden and cell state of ``module`` on ``inputs``.

    ``module`` is a ``torch.nn.RNN``/``LSTM``/``GRU`` (``inputs``: float tensor
    (T, B, I), (B, T, I) if ``batch_first``, or unbatched (T, I)) or a
    character model made of ``embed``, such a batch-first ``rnn`` and ``head``,
    like :class:`rnnviz.models.CharLM` (``inputs``: character ids (B, T) or
    (T,), or a string encoded with the model's ``vocab``; see :func:`probe_lm`).
    ``state`` is the initial state as torch takes it: ``h0`` of shape (L, B, H),
    or ``(h0, c0)`` for LSTM.

    ``force`` replaces gate activations during the replay (see
    :mod:`rnnviz.cells`), in every layer or only in ``force_layers``; the
    trace then records what the modified network does, no longer the module.
    """
    if isinstance(module, nn.RNNBase):
        return probe_module(module, inputs, state, force, force_layers)
    if hasattr(module, "rnn") and hasattr(module, "embed"):
        return probe_lm(module, inputs, state, force, force_layers)
    _kind(module)  # raises the TypeError that names the module
    raise AssertionError("unreachable")
