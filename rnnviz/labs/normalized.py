"""LSTM cells with layer normalisation or recurrent batch normalisation.

Both keep PyTorch's LSTM parameters (``weight_ih`` (4H, I), ``weight_hh``
(4H, H), ``bias_ih``, ``bias_hh``; gate order i, f, g, o) and normalise the
two affine maps and the cell before its ``tanh``:

* ``norm="layer"`` (Ba et al. 2016)::

      a = LN(W_hh h + b_hh; alpha_h, beta_h) + LN(W_ih x + b_ih; alpha_x, beta_x)
      c' = f * c + i * g
      h' = o * tanh(LN(c'; alpha_c, beta_c))

  ``LN`` normalises each sample over its features (the 4H pre-activations
  together, as in the paper's equations), gains start at 1 and shifts at 0;
  the same in training and inference.

* ``norm="batch"`` (Cooijmans et al. 2017)::

      a = BN_t(W_hh h; gamma_h) + BN_t(W_ih x; gamma_x) + b_ih + b_hh
      c' = f * c + i * g
      h' = o * tanh(BN_t(c'; gamma_c, beta_c))

  ``BN_t`` normalises each feature over the batch with statistics of its own
  for every time step ``t`` (population averages, momentum ``momentum``, are
  used in inference); steps ``t >= max_steps`` share the statistics of step
  ``max_steps - 1``. The shifts of the two affine terms are fixed at 0 (the
  bias ``b`` plays that role) and the gains start at 0.1, as in the paper.
  The step index travels in the state, so a carried state continues counting.

* ``norm="none"``: the plain LSTM, equal to ``nn.LSTMCell``.

:class:`NormCharLM` is :class:`rnnviz.models.CharLM` with such a cell in place
of ``nn.LSTM`` (one layer, a Python loop over time, so several times slower).
With the same ``seed`` it starts from exactly the CharLM's weights.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnviz._checks import positive_int, seeded
from rnnviz.data import check_ids
from rnnviz.models import CharLM

NORMS = ("none", "layer", "batch")
State = tuple[Tensor, Tensor, Tensor]  # h (1, B, H), c (1, B, H), step index () int64


class NormLSTMCell(nn.Module):
    """One LSTM step with ``norm`` in ``NORMS``:
    ``forward(x (B, I), h (B, H), c (B, H), t)`` returns ``(h', c')``; ``t`` (an
    int) selects the batch-norm statistics. The LSTM weights are drawn as
    ``nn.LSTMCell`` draws them, from ``seed``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        norm: str = "layer",
        *,
        max_steps: int = 64,
        momentum: float = 0.1,
        eps: float = 1e-5,
        gamma: float = 0.1,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        input_size = positive_int("input_size", input_size)
        hidden_size = positive_int("hidden_size", hidden_size)
        max_steps = positive_int("max_steps", max_steps)
        if not 0.0 < momentum <= 1.0:
            raise ValueError(f"momentum must be in (0, 1], got {momentum!r}")
        self.norm, self.max_steps, self.momentum, self.eps = (
            norm,
            max_steps,
            momentum,
            eps,
        )
        H, G = hidden_size, 4 * hidden_size
        with seeded(seed):  # torch's initialisation, U(-1/sqrt(H), 1/sqrt(H))
            ref = nn.LSTMCell(input_size, hidden_size)
        self.weight_ih, self.weight_hh = (
            ref.weight_ih,
            ref.weight_hh,
        )  # (4H, I), (4H, H)
        self.bias_ih, self.bias_hh = ref.bias_ih, ref.bias_hh  # (4H,)
        if norm == "layer":
            self.gain_x, self.shift_x = (
                nn.Parameter(torch.ones(G)),
                nn.Parameter(torch.zeros(G)),
            )
            self.gain_h, self.shift_h = (
                nn.Parameter(torch.ones(G)),
                nn.Parameter(torch.zeros(G)),
            )
            self.gain_c, self.shift_c = (
                nn.Parameter(torch.ones(H)),
                nn.Parameter(torch.zeros(H)),
            )
        elif norm == "batch":
            self.gain_x, self.gain_h = (
                nn.Parameter(torch.full((G,), gamma)),
                nn.Parameter(torch.full((G,), gamma)),
            )
            self.gain_c, self.shift_c = (
                nn.Parameter(torch.full((H,), gamma)),
                nn.Parameter(torch.zeros(H)),
            )
            for part, D in (("x", G), ("h", G), ("c", H)):  # buffers (T_max, D)
                self.register_buffer(f"mean_{part}", torch.zeros(max_steps, D))
                self.register_buffer(f"var_{part}", torch.ones(max_steps, D))

    @property
    def hidden_size(self) -> int:
        return self.weight_hh.shape[1]

    def batch_norm(self, part: str, a: Tensor, t0: int) -> Tensor:
        """Normalise ``a`` (B, T, D), steps ``t0 .. t0+T-1``, per feature and step
        (no gain or shift).

        In training with the batch's own statistics of each step (and the
        population averages of that step move towards them), in inference
        with the population averages.
        """
        B, T, D = a.shape
        mean, var = getattr(self, f"mean_{part}"), getattr(self, f"var_{part}")
        if not self.training:
            k = (t0 + torch.arange(T)).clamp(max=self.max_steps - 1)  # (T,)
            return (a - mean[k]) / torch.sqrt(var[k] + self.eps)
        if B < 2:
            raise ValueError(
                "batch normalisation in training needs a batch of at least 2 sequences"
            )
        if t0 + T <= self.max_steps:  # one statistic per (step, feature): one call
            flat = a.reshape(B, T * D)
            out = F.batch_norm(
                flat,
                mean[t0 : t0 + T].view(-1),
                var[t0 : t0 + T].view(-1),
                None,
                None,
                True,
                self.momentum,
                self.eps,
            )  # updates the buffers' rows in place
            return out.reshape(B, T, D)
        steps = [
            F.batch_norm(
                a[:, t],
                mean[min(t0 + t, self.max_steps - 1)],
                var[min(t0 + t, self.max_steps - 1)],
                None,
                None,
                True,
                self.momentum,
                self.eps,
            )
            for t in range(T)
        ]
        return torch.stack(steps, dim=1)  # (B, T, D)

    def input_term(self, ax: Tensor, t0: int = 0) -> Tensor:
        """The normalised input term of every step: ``ax = x W_ih^T`` (B, T, 4H) ->
        (B, T, 4H)."""
        if self.norm == "none":
            return ax + self.bias_ih
        if self.norm == "layer":
            return F.layer_norm(
                ax + self.bias_ih, ax.shape[-1:], self.gain_x, self.shift_x, self.eps
            )
        return self.gain_x * self.batch_norm("x", ax, t0) + self.bias_ih

    def step(
        self, zx: Tensor, h: Tensor, c: Tensor, t: int = 0
    ) -> tuple[Tensor, Tensor]:
        """One step from the input term ``zx`` (B, 4H) of :meth:`input_term`:
        ``(h', c')``, (B, H) each."""
        ah = h @ self.weight_hh.T  # (B, 4H)
        if self.norm == "none":
            a = zx + ah + self.bias_hh
        elif self.norm == "layer":
            a = zx + F.layer_norm(
                ah + self.bias_hh, ah.shape[-1:], self.gain_h, self.shift_h, self.eps
            )
        else:
            a = (
                zx
                + self.gain_h * self.batch_norm("h", ah[:, None], t)[:, 0]
                + self.bias_hh
            )
        ai, af, ag, ao = a.chunk(4, dim=1)  # (B, H) each
        i, f, g, o = (
            torch.sigmoid(ai),
            torch.sigmoid(af),
            torch.tanh(ag),
            torch.sigmoid(ao),
        )
        c_next = f * c + i * g
        if self.norm == "layer":
            c_out = F.layer_norm(
                c_next, c_next.shape[-1:], self.gain_c, self.shift_c, self.eps
            )
        elif self.norm == "batch":
            c_out = (
                self.gain_c * self.batch_norm("c", c_next[:, None], t)[:, 0]
                + self.shift_c
            )
        else:
            c_out = c_next
        return o * torch.tanh(c_out), c_next

    def forward(
        self, x: Tensor, h: Tensor, c: Tensor, t: int = 0
    ) -> tuple[Tensor, Tensor]:
        """One step: x (B, I), h (B, H), c (B, H) at step ``t`` -> ``(h', c')``."""
        if x.dim() != 2 or x.shape[1] != self.weight_ih.shape[1]:
            raise ValueError(
                f"x must have shape (B, {self.weight_ih.shape[1]}), "
                f"got {tuple(x.shape)}"
            )
        if h.shape != (x.shape[0], self.hidden_size) or c.shape != h.shape:
            raise ValueError(
                f"h and c must have shape ({x.shape[0]}, {self.hidden_size}), "
                f"got {tuple(h.shape)} and {tuple(c.shape)}"
            )
        zx = self.input_term((x @ self.weight_ih.T)[:, None], t)[:, 0]  # (B, 4H)
        return self.step(zx, h, c, t)


class NormCharLM(nn.Module):
    """Embedding -> :class:`NormLSTMCell` over time -> dropout -> linear head.

    ``forward(ids (B, T), state=None) -> (logits (B, T, V), state)`` with
    ``state = (h (1, B, H), c (1, B, H), t)``, ``t`` the number of steps read
    so far (a 0-d int64 tensor). The embedding, the LSTM weights and the head
    are those of ``CharLM(vocab_size, hidden_size, cell="lstm", embed_size,
    seed=seed)``; the normalisation parameters start as their papers say.
    """

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int = 128,
        norm: str = "layer",
        embed_size: int = 32,
        dropout: float = 0.0,
        seed: int | None = None,
        max_steps: int = 64,
    ) -> None:
        super().__init__()
        base = CharLM(
            vocab_size,
            hidden_size,
            cell="lstm",
            embed_size=embed_size,
            dropout=dropout,
            seed=seed,
        )
        self.norm, self._vocab_size = norm, vocab_size
        self.embed, self.drop, self.head = base.embed, base.drop, base.head
        self.cell = NormLSTMCell(
            embed_size, hidden_size, norm, max_steps=max_steps, seed=0
        )
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(self.cell, name).copy_(getattr(base.rnn, f"{name}_l0"))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def check_ids(self, ids: Tensor) -> Tensor:
        """Validate character ids: an integer tensor (B, T) with values in [0, V)."""
        return check_ids(ids, self._vocab_size)

    def forward(self, ids: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """ids (B, T) -> (logits (B, T, V), state), like
        :meth:`rnnviz.models.CharLM.forward`."""
        ids = self.check_ids(ids)
        B, T = ids.shape
        H = self.cell.hidden_size
        if state is None:
            h, c, t0 = torch.zeros(B, H), torch.zeros(B, H), 0
        else:
            if (
                len(state) != 3
                or tuple(state[0].shape) != (1, B, H)
                or tuple(state[1].shape) != (1, B, H)
            ):
                raise ValueError(
                    f"state must be (h, c, t) with h and c of shape (1, {B}, {H})"
                )
            h, c, t0 = state[0][0], state[1][0], int(state[2])
        # the input terms of all steps at once: (B, T, 4H)
        zx = self.cell.input_term(self.embed(ids) @ self.cell.weight_ih.T, t0)
        out = []
        for t in range(T):
            h, c = self.cell.step(zx[:, t], h, c, t0 + t)  # (B, H) each
            out.append(h)
        hs = torch.stack(out, dim=1)  # (B, T, H)
        return self.head(self.drop(hs)), (h[None], c[None], torch.tensor(t0 + T))
