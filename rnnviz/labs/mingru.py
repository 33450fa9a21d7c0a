"""minGRU and minLSTM (Feng et al. 2024): gated recurrences whose gates ignore h_{t-1}.

Both layers compute ``h_t = a_t * h_{t-1} + b_t`` with ``a_t, b_t`` functions of
``x_t`` alone, so a whole sequence is one parallel scan (:mod:`rnnviz.labs.scan`):

- minGRU:  z_t = sigmoid(W_z x_t + b_z),  h~_t = g(W_h x_t + b_h),
           h_t = (1 - z_t) * h_{t-1} + z_t * h~_t;
- minLSTM: f_t, i_t = sigmoid(...), f'_t = f_t / (f_t + i_t),
           i'_t = i_t / (f_t + i_t), h_t = f'_t * h_{t-1} + i'_t * h~_t.

Note the paper's convention: z_t weights the *new* candidate (PyTorch's GRU lets
z_t weight the old state). ``g(x) = x + 1/2 for x >= 0, sigmoid(x) for x < 0``
keeps the candidate positive, which the log-space scan needs.
``forward(x, h0, mode)`` runs the parallel form (``mode="log"`` is the paper's
log-space scan, ``"tree"`` or ``"hillis_steele"`` scan a, b directly,
``"sequential"`` loops); ``step`` is one step of generation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnviz._checks import positive_int, seeded
from rnnviz.labs.scan import METHODS, scan, scan_log

MODES = ("log", "tree", "hillis_steele", "sequential")
CELLS = ("mingru", "minlstm")


def softplus(x: Tensor) -> Tensor:
    """log(1 + e^x), accurate everywhere (``F.softplus`` switches to x above 20,
    off by e^-20)."""
    return torch.logaddexp(x, torch.zeros((), dtype=x.dtype))


def g(x: Tensor) -> Tensor:
    """The paper's positive activation: x + 1/2 for x >= 0, sigmoid(x) below
    (continuous at 0)."""
    return torch.where(x >= 0, F.relu(x) + 0.5, torch.sigmoid(x))


def log_g(x: Tensor) -> Tensor:
    """log g(x), computed without forming g(x) for very negative x."""
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), -softplus(-x))


class _MinRNN(nn.Module):
    """Shared plumbing: input checks, the four modes, the sequential step."""

    n_gates = 1

    def __init__(
        self, input_size: int, hidden_size: int, seed: int | None = None
    ) -> None:
        super().__init__()
        input_size = positive_int("input_size", input_size)
        hidden_size = positive_int("hidden_size", hidden_size)
        self.input_size, self.hidden_size = input_size, hidden_size
        with seeded(seed):  # rows: the gates', then the candidate's
            self.linear = nn.Linear(input_size, (self.n_gates + 1) * hidden_size)

    def _check(self, x: Tensor, h0: Tensor | None, time_axis: bool) -> None:
        want = "(B, T, I)" if time_axis else "(B, I)"
        if not isinstance(x, Tensor) or not x.is_floating_point():
            raise TypeError(f"x must be a floating-point torch.Tensor {want}")
        if (
            x.dim() != (3 if time_axis else 2)
            or x.shape[-1] != self.input_size
            or 0 in x.shape
        ):
            raise ValueError(
                f"x must have shape {want} with I = {self.input_size} and no empty "
                f"dimension, got {tuple(x.shape)}"
            )
        if h0 is not None and (
            not isinstance(h0, Tensor)
            or tuple(h0.shape) != (x.shape[0], self.hidden_size)
        ):
            got = tuple(h0.shape) if isinstance(h0, Tensor) else type(h0).__name__
            raise ValueError(
                f"h0 must have shape (B, H) = {(x.shape[0], self.hidden_size)}, "
                f"got {got}"
            )

    def log_coefficients(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """log a_t and log b_t, each (..., H), from x (..., I)."""
        raise NotImplementedError

    def coefficients(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """a_t and b_t, each (..., H), from x (..., I), computed directly (not as
        the exp of their logs)."""
        raise NotImplementedError

    def step(self, x_t: Tensor, h: Tensor | None = None) -> Tensor:
        """One step, for generation: x_t (B, I), h (B, H) or None (zeros) ->
        h_t (B, H)."""
        self._check(x_t, h, time_axis=False)
        a, b = self.coefficients(x_t)  # (B, H) each
        return b if h is None else a * h + b

    def forward(self, x: Tensor, h0: Tensor | None = None, mode: str = "log") -> Tensor:
        """Every hidden state: x (B, T, I), h0 (B, H) or None (zeros) -> h (B, T, H)."""
        self._check(x, h0, time_axis=True)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if mode == "log":
            if h0 is not None and bool((h0 < 0).any()):
                raise ValueError(
                    "mode='log' needs h0 >= 0 (states of these layers are positive)"
                )
            log_a, log_b = self.log_coefficients(x)  # (B, T, H) each
            log_h0 = (
                None
                if h0 is None
                else torch.log(h0.clamp_min(torch.finfo(h0.dtype).tiny))
            )
            return torch.exp(scan_log(log_a, log_b, log_h0))  # (B, T, H)
        assert mode in METHODS
        a, b = self.coefficients(x)  # (B, T, H) each
        return scan(a, b, h0, method=mode)  # (B, T, H)


class MinGRU(_MinRNN):
    """minGRU layer: ``h_t = (1 - z_t) * h_{t-1} + z_t * g(W_h x_t + b_h)`` with
    ``z_t = sigmoid(W_z x_t + b_z)``.

    Parameters: ``linear`` (2H, I) stacks the rows of W_z then W_h; 2(HI + H) in all.
    """

    n_gates = 1

    def coefficients(self, x: Tensor) -> tuple[Tensor, Tensor]:
        k, pre = self.linear(x).chunk(2, dim=-1)  # (..., H) each
        z = torch.sigmoid(k)
        return 1 - z, z * g(pre)

    def log_coefficients(self, x: Tensor) -> tuple[Tensor, Tensor]:
        k, pre = self.linear(x).chunk(2, dim=-1)
        return -softplus(k), -softplus(-k) + log_g(pre)  # log(1 - z), log z + log g


class MinLSTM(_MinRNN):
    """minLSTM layer: ``h_t = f'_t * h_{t-1} + i'_t * g(W_h x_t + b_h)`` with f', i' the
    forget and input gates normalised to sum to 1.

    Parameters: ``linear`` (3H, I) stacks W_f, W_i, W_h; 3(HI + H) in all.
    """

    n_gates = 2

    def coefficients(self, x: Tensor) -> tuple[Tensor, Tensor]:
        kf, ki, pre = self.linear(x).chunk(3, dim=-1)  # (..., H) each
        f, i = torch.sigmoid(kf), torch.sigmoid(ki)
        return f / (f + i), i / (f + i) * g(pre)

    def log_coefficients(self, x: Tensor) -> tuple[Tensor, Tensor]:
        kf, ki, pre = self.linear(x).chunk(3, dim=-1)
        diff = softplus(-kf) - softplus(-ki)  # log i - log f
        return -softplus(diff), -softplus(-diff) + log_g(pre)  # log f', log i' + log g


class MinGRULM(nn.Module):
    """Character LM: embedding -> ``num_layers`` residual blocks -> LayerNorm ->
    linear head.

    A block is ``x + Min(LN(x))`` then ``x + MLP(LN(x))`` (MLP: D -> expansion*D ->
    GELU -> D), with ``Min`` a :class:`MinGRU` or :class:`MinLSTM` of width D. The
    interface is :class:`rnnviz.models.CharLM`'s:
    ``forward(ids (B, T), state=None) -> (logits (B, T, V), state)`` with ``state``
    a tuple of one (B, D) tensor per layer, so :func:`rnnviz.train.train` and
    :func:`rnnviz.train.evaluate` work unchanged.
    """

    def __init__(
        self,
        vocab_size: int,
        d_model: int = 64,
        num_layers: int = 2,
        expansion: int = 2,
        cell: str = "mingru",
        mode: str = "log",
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        vocab_size = positive_int("vocab_size", vocab_size)
        D = positive_int("d_model", d_model)
        num_layers = positive_int("num_layers", num_layers)
        expansion = positive_int("expansion", expansion)
        self.vocab_size, self.mode = vocab_size, mode
        layer = MinGRU if cell == "mingru" else MinLSTM
        with seeded(seed):
            self.embed = nn.Embedding(vocab_size, D)
            self.norms = nn.ModuleList(nn.LayerNorm(D) for _ in range(2 * num_layers))
            self.rnns = nn.ModuleList(layer(D, D) for _ in range(num_layers))
            self.mlps = nn.ModuleList(
                nn.Sequential(
                    nn.Linear(D, expansion * D), nn.GELU(), nn.Linear(expansion * D, D)
                )
                for _ in range(num_layers)
            )
            self.norm_out = nn.LayerNorm(D)
            self.head = nn.Linear(D, vocab_size)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _check_state(self, state: tuple[Tensor, ...] | None) -> None:
        if state is not None and len(state) != len(self.rnns):
            raise ValueError(
                f"state must hold one (B, D) tensor per layer ({len(self.rnns)}), "
                f"got {len(state)}"
            )

    def forward(
        self,
        ids: Tensor,
        state: tuple[Tensor, ...] | None = None,
        mode: str | None = None,
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        """ids (B, T) -> logits (B, T, V) and the last state of every layer, each
        (B, D)."""
        if (
            not isinstance(ids, Tensor)
            or ids.dim() != 2
            or ids.dtype != torch.int64
            or ids.numel() == 0
        ):
            raise ValueError(
                "ids must be a non-empty (B, T) int64 tensor of character ids"
            )
        if int(ids.min()) < 0 or int(ids.max()) >= self.vocab_size:
            raise ValueError(f"ids must lie in [0, {self.vocab_size})")
        self._check_state(state)
        mode = self.mode if mode is None else mode
        x = self.embed(ids)  # (B, T, D)
        last = []
        for k, (rnn, mlp) in enumerate(zip(self.rnns, self.mlps)):
            h0 = None if state is None else state[k]
            h = rnn(self.norms[2 * k](x), h0, mode=mode)  # (B, T, D)
            last.append(h[:, -1])
            x = x + h
            x = x + mlp(self.norms[2 * k + 1](x))
        return self.head(self.norm_out(x)), tuple(last)  # (B, T, V)

    def step(
        self, ids_t: Tensor, state: tuple[Tensor, ...] | None = None
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        """One character per sequence, for generation: ids_t (B,) -> logits (B, V)
        and the new state.

        Uses each layer's ``step`` (constant work per character, no scan)."""
        if (
            not isinstance(ids_t, Tensor)
            or ids_t.dim() != 1
            or ids_t.dtype != torch.int64
            or ids_t.numel() == 0
        ):
            raise ValueError(
                "ids_t must be a non-empty (B,) int64 tensor of character ids"
            )
        if int(ids_t.min()) < 0 or int(ids_t.max()) >= self.vocab_size:
            raise ValueError(f"ids must lie in [0, {self.vocab_size})")
        self._check_state(state)
        x = self.embed(ids_t)  # (B, D)
        new = []
        for k, (rnn, mlp) in enumerate(zip(self.rnns, self.mlps)):
            h = rnn.step(self.norms[2 * k](x), None if state is None else state[k])
            new.append(h)
            x = x + h
            x = x + mlp(self.norms[2 * k + 1](x))
        return self.head(self.norm_out(x)), tuple(new)  # (B, V)
