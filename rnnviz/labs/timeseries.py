"""Small time-series experiments: seeded synthetic series, missing values, forecasts.

* Generators (each takes a ``seed``, returns float32 tensors): :func:`seasonal_series`
  (periodic signal plus noise), :func:`lead_lag_series` (one channel follows another
  after a lag), :func:`low_rank_series` (high-dimensional inputs driven by a few
  latent oscillators).
* Missing values: :func:`drop_at_random` (missing completely at random),
  :func:`observed_stats` (mean and standard deviation of the observed entries
  only), :func:`impute` (zero, mean or forward fill), :func:`steps_since_observed`
  (the time-interval input of GRU-D, Che et al. 2018).
* Forecasting one step ahead from a window: :func:`windows`, :class:`SeqRegressor`
  (GRU/LSTM/RNN read at its last step, optional linear input projection),
  :class:`ConvRegressor` (a 1-D convolution baseline), :func:`fit_regressor`,
  :func:`mse`, :func:`input_saliency`.

Limitations: one-step-ahead forecasts only, regular time steps, CPU-sized models.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from rnnviz._checks import int_at_least, positive_int, seeded
from rnnviz.train import History
from rnnviz.train import fit as train_loop

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
IMPUTE = ("zero", "mean", "forward")


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _check_series(x: Tensor, name: str = "series") -> None:
    if not isinstance(x, Tensor) or x.dim() != 2 or x.shape[0] == 0:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a non-empty (T, C) tensor, got {shape}")


# ------------------------------------------------------------------ generators


def seasonal_series(
    length: int, period: int, noise: float = 0.3, harmonics: int = 3, seed: int = 0
) -> Tensor:
    """A signal of period ``period`` steps plus Gaussian noise (std ``noise``): (T, 1).

    The signal is a sum of ``harmonics`` sines at frequencies k / period with
    random amplitudes and phases, scaled to unit variance. The best possible
    one-step forecast (knowing the signal) has mean squared error ``noise**2``.
    """
    positive_int("length", length)
    int_at_least("period", period, 2)
    positive_int("harmonics", harmonics)
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}")
    g = _gen(seed)
    t = torch.arange(length, dtype=torch.float64)  # (T,)
    amp = torch.rand(harmonics, generator=g, dtype=torch.float64) + 0.5  # (K,)
    phase = (
        2 * math.pi * torch.rand(harmonics, generator=g, dtype=torch.float64)
    )  # (K,)
    k = torch.arange(1, harmonics + 1, dtype=torch.float64)  # (K,)
    signal = (amp * torch.sin(2 * math.pi * k * t[:, None] / period + phase)).sum(
        1
    )  # (T,)
    signal = signal / math.sqrt(
        float((amp**2).sum()) / 2
    )  # unit variance over whole periods
    eps = torch.randn(length, generator=g, dtype=torch.float64)
    return (signal + noise * eps).float()[:, None]  # (T, 1)


def _ar2(
    length: int, period: float, damping: float, g: torch.Generator, burn_in: int = 200
) -> Tensor:
    """A unit-variance AR(2) oscillator with the given quasi-period: (T,) float64."""
    a1, a2 = 2 * damping * math.cos(2 * math.pi / period), -(damping**2)
    eps = torch.randn(length + burn_in, generator=g, dtype=torch.float64)
    z = torch.zeros(length + burn_in, dtype=torch.float64)
    for t in range(2, length + burn_in):
        z[t] = a1 * z[t - 1] + a2 * z[t - 2] + eps[t]
    z = z[burn_in:]
    return (z - z.mean()) / z.std()


def lead_lag_series(
    length: int, lag: int = 6, noise: float = 0.3, seed: int = 0
) -> Tensor:
    """Three channels (T, 3): 0 leads, 1 follows channel 0 after ``lag`` steps, 2 is
    independent.

    Channels 0 and 2 are AR(2) oscillators (quasi-periods 16 and 11 steps);
    ``x1[t] = x0[t - lag] + noise * eps``. Knowing channel 0, channel 1 is
    predictable ``lag`` steps ahead up to its noise.
    """
    positive_int("length", length)
    positive_int("lag", lag)
    g = _gen(seed)
    lead = _ar2(length + lag, 16.0, 0.97, g)  # (T + lag,)
    other = _ar2(length, 11.0, 0.95, g)  # (T,)
    follow = lead[:length] + noise * torch.randn(
        length, generator=g, dtype=torch.float64
    )
    return torch.stack([lead[lag:], follow, other], dim=1).float()  # (T, 3)


def low_rank_series(
    length: int, dim: int = 512, rank: int = 8, noise: float = 0.5, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """High-dimensional inputs with low-rank structure: ``x`` (T, dim) and latents
    ``z`` (T, rank).

    ``z`` holds ``rank`` unit-variance AR(2) oscillators (quasi-periods 8 to 40
    steps); ``x = z @ A + noise * eps`` with a random Gaussian ``A`` (rank, dim)
    scaled so every input dimension has signal variance 1.
    """
    positive_int("length", length)
    positive_int("dim", dim)
    positive_int("rank", rank)
    if rank > dim:
        raise ValueError(f"rank ({rank}) must not exceed dim ({dim})")
    g = _gen(seed)
    periods = torch.linspace(8.0, 40.0, rank).tolist()
    z = torch.stack([_ar2(length, p, 0.95, g) for p in periods], dim=1)  # (T, r)
    A = torch.randn(rank, dim, generator=g, dtype=torch.float64) / math.sqrt(
        rank
    )  # (r, D)
    x = z @ A + noise * torch.randn(
        length, dim, generator=g, dtype=torch.float64
    )  # (T, D)
    return x.float(), z.float()


# ------------------------------------------------------------------ missing values


def drop_at_random(shape: tuple[int, ...], rate: float, seed: int = 0) -> Tensor:
    """An observation mask of ``shape``: True where observed, each entry missing with
    probability ``rate``."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"rate must be a fraction in [0, 1), got {rate!r}")
    return torch.rand(shape, generator=_gen(seed)) >= rate


def _check_observed(x: Tensor, observed: Tensor) -> None:
    if observed.shape != x.shape or observed.dtype != torch.bool:
        raise ValueError(
            f"observed must be a bool tensor of shape {tuple(x.shape)}, "
            f"got {observed.dtype} {tuple(observed.shape)}"
        )


def observed_stats(x: Tensor, observed: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and standard deviation (C,) of each channel of ``x`` (T, C) over its
    observed entries only (``observed`` (T, C) True); the unobserved entries of
    ``x`` (NaN, a placeholder, or the true values of a synthetic series) are
    never read.

    The standard deviation uses Bessel's correction, as ``Tensor.std()``.
    Pass the training part only (``x[:n], observed[:n]``): statistics that
    include held-out steps leak them into the inputs.
    """
    _check_series(x, "x")
    _check_observed(x, observed)
    counts = observed.sum(0)  # (C,)
    if (counts < 2).any():
        raise ValueError("every channel needs at least two observed values")
    known = torch.where(observed, x, torch.zeros(()))  # (T, C), gaps read as 0
    mean = known.sum(0) / counts  # (C,)
    dev = torch.where(observed, x - mean, torch.zeros(()))  # (T, C)
    std = ((dev**2).sum(0) / (counts - 1)).sqrt()  # (C,)
    return mean, std


def impute(
    x: Tensor, observed: Tensor, method: str, mean: Tensor | None = None
) -> Tensor:
    """Fill the unobserved entries of ``x`` (T, C); ``observed`` (T, C): True if known.

    ``"zero"``: 0. ``"mean"``: ``mean`` (C,) (default: mean of the observed
    entries of each channel of ``x``; when ``x`` holds held-out steps too, pass
    the training part's, from :func:`observed_stats`). ``"forward"``: the last
    observed value of the channel (causal: never looks ahead); before the first
    observation, ``mean``. The input is not modified.
    """
    _check_series(x, "x")
    _check_observed(x, observed)
    if method not in IMPUTE:
        raise ValueError(f"method must be one of {IMPUTE}, got {method!r}")
    if method == "zero":
        return torch.where(observed, x, torch.zeros(()))
    if mean is None:
        counts = observed.sum(0)  # (C,)
        if (counts == 0).any():
            raise ValueError("a channel has no observed value: give mean= explicitly")
        mean = torch.where(observed, x, torch.zeros(())).sum(0) / counts  # (C,)
    if mean.shape != (x.shape[1],):
        raise ValueError(
            f"mean must have shape ({x.shape[1]},), got {tuple(mean.shape)}"
        )
    if method == "mean":
        return torch.where(observed, x, mean.to(x.dtype))
    T = x.shape[0]
    idx = torch.where(
        observed,
        torch.arange(T)[:, None],
        torch.full_like(observed, -1, dtype=torch.long),
    )
    last = torch.cummax(
        idx, dim=0
    ).values  # (T, C) index of the last observation so far, -1 if none
    filled = torch.gather(x, 0, last.clamp(min=0))  # (T, C)
    return torch.where(last >= 0, filled, mean.to(x.dtype))


def steps_since_observed(observed: Tensor) -> Tensor:
    """GRU-D's time interval delta (T, C) for unit time steps (Che et al. 2018, eq. 2).

    ``delta[0] = 0``; ``delta[t] = 1`` if the channel was observed at ``t - 1``,
    else ``1 + delta[t - 1]``: the number of steps since the last observation
    before ``t`` (or since the start).
    """
    if observed.dim() != 2 or observed.dtype != torch.bool:
        raise ValueError(
            "observed must be a (T, C) bool tensor, "
            f"got {observed.dtype} {tuple(observed.shape)}"
        )
    T = observed.shape[0]
    t = torch.arange(T)[:, None]  # (T, 1)
    seen = torch.where(observed, t, torch.full_like(observed, -1, dtype=torch.long))
    prev = torch.cat(
        [torch.full_like(seen[:1], -1), torch.cummax(seen, dim=0).values[:-1]]
    )  # (T, C)
    return torch.where(prev >= 0, t - prev, t).float()


# ------------------------------------------------------------------ windows and models


def windows(inputs: Tensor, targets: Tensor, window: int) -> tuple[Tensor, Tensor]:
    """One-step-ahead examples: ``X[n] = inputs[n : n + window]`` (N, W, C_in),
    ``y[n] = targets[n + window]``.

    ``inputs`` (T, C_in) and ``targets`` (T, C_out) are aligned in time; N = T - window.
    """
    _check_series(inputs, "inputs")
    _check_series(targets, "targets")
    positive_int("window", window)
    if inputs.shape[0] != targets.shape[0]:
        raise ValueError(
            f"inputs have {inputs.shape[0]} steps but targets {targets.shape[0]}"
        )
    if inputs.shape[0] <= window:
        raise ValueError(f"need more than window={window} steps, got {inputs.shape[0]}")
    X = inputs.unfold(0, window, 1).transpose(1, 2)[:-1]  # (N, W, C_in), a view
    return X, targets[window:]  # (N, C_out)


class SeqRegressor(nn.Module):
    """[optional Linear projection] -> ``nn.GRU``/``nn.LSTM``/``nn.RNN`` -> Linear on
    the last step.

    ``forward(x (B, W, C_in)) -> (B, C_out)``. ``proj_size`` inserts a learned
    linear map C_in -> proj_size before the recurrent layer. ``seed`` fixes the
    initial weights without touching the global random state.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden_size: int = 32,
        cell: str = "gru",
        proj_size: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
        for name, v in (
            ("in_features", in_features),
            ("out_features", out_features),
            ("hidden_size", hidden_size),
        ):
            positive_int(name, v)
        self.in_features = in_features
        with seeded(seed):
            self.proj = (
                nn.Linear(in_features, positive_int("proj_size", proj_size))
                if proj_size
                else None
            )
            self.rnn = CELLS[cell](
                proj_size or in_features, hidden_size, batch_first=True
            )
            self.head = nn.Linear(hidden_size, out_features)

    def forward(self, x: Tensor) -> Tensor:
        """The next value from a window: x (B, W, F) -> prediction (B, out)."""
        if x.dim() != 3 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"expected x of shape (B, W, {self.in_features}), got {tuple(x.shape)}"
            )
        if self.proj is not None:
            x = self.proj(x)  # (B, W, P)
        out, _ = self.rnn(x)  # (B, W, H)
        return self.head(out[:, -1])  # (B, C_out)


class ConvRegressor(nn.Module):
    """A 1-D convolution baseline: Conv1d (``kernel_size``) -> ReLU -> Linear over the
    whole window.

    ``forward(x (B, W, C_in)) -> (B, C_out)``; ``window`` must be the W it is used with.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        window: int,
        channels: int = 8,
        kernel_size: int = 5,
        seed: int = 0,
    ) -> None:
        super().__init__()
        for name, v in (
            ("in_features", in_features),
            ("out_features", out_features),
            ("window", window),
            ("channels", channels),
            ("kernel_size", kernel_size),
        ):
            positive_int(name, v)
        if kernel_size > window:
            raise ValueError(
                f"kernel_size ({kernel_size}) must not exceed window ({window})"
            )
        self.in_features, self.window = in_features, window
        with seeded(seed):
            self.conv = nn.Conv1d(in_features, channels, kernel_size)
            self.head = nn.Linear(channels * (window - kernel_size + 1), out_features)

    def forward(self, x: Tensor) -> Tensor:
        """The next value from a window: x (B, W, F) -> prediction (B, out)."""
        if x.dim() != 3 or x.shape[1:] != (self.window, self.in_features):
            raise ValueError(
                f"expected x of shape (B, {self.window}, {self.in_features}), "
                f"got {tuple(x.shape)}"
            )
        h = torch.relu(self.conv(x.transpose(1, 2)))  # (B, channels, W - k + 1)
        return self.head(h.flatten(1))  # (B, C_out)


def num_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def mse(model: nn.Module, X: Tensor, y: Tensor, batch_size: int = 1024) -> Tensor:
    """Mean squared error per output channel on (X, y), in evaluation mode: (C_out,)."""
    was_training = model.training
    model.eval()
    err = torch.cat(
        [
            (model(X[s : s + batch_size]) - y[s : s + batch_size]) ** 2
            for s in range(0, len(X), batch_size)
        ]
    )  # (N, C_out)
    model.train(was_training)
    return err.mean(0)


def fit_regressor(
    model: nn.Module,
    X: Tensor,
    y: Tensor,
    held_out: tuple[Tensor, Tensor] | None = None,
    *,
    steps: int = 300,
    batch_size: int = 64,
    lr: float = 1e-2,
    seed: int = 0,
) -> History:
    """Train ``model`` on X (N, W, C_in), y (N, C_out) with Adam and the squared error.

    No gradient clipping. Minibatches are drawn with a ``seed``-ed generator;
    the global random state is untouched. ``held_out = (X, y)`` is scored once,
    at the end: its :func:`mse` averaged over the channels is
    ``History.val_loss[-1]`` (call :func:`mse` for each channel's).
    ``History.cpu_seconds`` is the process time of the loop (with the held-out
    score). The model is left in evaluation mode. See :func:`rnnviz.train.fit`.
    """
    positive_int("batch_size", batch_size)
    if len(X) != len(y) or len(X) == 0:
        raise ValueError(
            f"need as many (> 0) targets as inputs, got {len(X)} and {len(y)}"
        )
    if not (torch.isfinite(X).all() and torch.isfinite(y).all()):
        raise ValueError("X and y must be finite: impute missing values (NaN) first")
    g = _gen(seed)

    def batch(step: int) -> tuple[Tensor, Tensor]:
        idx = torch.randint(0, len(X), (batch_size,), generator=g)  # (B,)
        return X[idx], y[idx]

    return train_loop(
        model,
        batch,
        lambda m, b: nn.functional.mse_loss(m(b[0]), b[1]),
        steps=steps,
        lr=lr,
        clip=None,
        evaluate=None
        if held_out is None
        else lambda m: float(mse(m, *held_out).mean()),
        seed=seed,
    )


def input_saliency(model: nn.Module, X: Tensor, output: int = 0) -> Tensor:
    """Mean ``|d prediction / d input|`` over examples and input channels, per
    position in the window: (W,).

    Position W - 1 is the most recent step (lag 1), position W - k is lag k.
    The model is put in evaluation mode; its parameters' ``.grad`` are untouched.
    """
    x = X.detach().clone().requires_grad_(True)  # (N, W, C)
    model.eval()
    (grad,) = torch.autograd.grad(model(x)[:, output].sum(), x)  # (N, W, C)
    return grad.abs().mean(dim=(0, 2))  # (W,)
