"""Figures of gradient flow through time (the numbers come from
:mod:`rnnviz.gradients`)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from rnnviz.gradients import scaled_gradient_curves
from rnnviz.models import CharLM
from rnnviz.viz.palette import (
    BLACK,
    EXTRA,
    GREEN,
    MODEL_COLORS,
    ORANGE,
    PURPLE,
    SKY,
    series_colors,
)
from rnnviz.viz.plots import new_axes


def plot_grad_by_distance(
    curves: Mapping[str, np.ndarray],
    ax: Axes | None = None,
    *,
    ylabel: str = r"$\|\partial L / \partial h_{T-d}\|$",
    styles: Mapping[str, Mapping] | None = None,
    ylim: tuple[float, float] | None = None,
    title: str | None = None,
    legend_loc: str = "best",
) -> Figure:
    """Curves against distance ``d`` from the loss on a log scale, one per label.

    ``curves`` maps a label to values (D,) indexed by distance (see
    :func:`~rnnviz.gradients.by_distance`). Labels in ``MODEL_COLORS`` get their colour;
    ``styles`` may add matplotlib keywords per label (e.g. ``{"ls": "--"}``). Zeros are
    not drawn. A fixed ``legend_loc`` keeps the legend still in an animation.
    """
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError(
            "curves must be a non-empty mapping label -> values by distance"
        )
    arrays = {}
    for key, v in curves.items():
        v = np.asarray(v, dtype=np.float64)
        if v.ndim != 1 or v.size == 0:
            raise ValueError(
                f"curves[{key!r}] must be 1-D and non-empty, got shape {v.shape}"
            )
        if np.isnan(v).any() or (v < 0).any():
            raise ValueError(
                f"curves[{key!r}] contains NaN or negative values; norms are >= 0"
            )
        arrays[key] = v
    fig, ax = new_axes(ax, (6.5, 3.4))
    colors = series_colors(arrays, named=MODEL_COLORS, order=EXTRA)
    for key, v in arrays.items():
        kw = {"color": colors[key], "lw": 1.8}
        kw.update((styles or {}).get(key, {}))
        ax.plot(np.arange(v.size), np.where(v > 0, v, np.nan), label=key, **kw)
    ax.set_yscale("log")
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_xlabel("distance d from the loss (steps back)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, which="major")
    ax.legend(frameon=False, fontsize="small", loc=legend_loc)
    if title:
        ax.set_title(title)
    return fig


def plot_singular_values(
    spectra: Mapping[str, np.ndarray],
    ax: Axes | None = None,
    *,
    band: tuple[float, float] = (10, 90),
) -> Figure:
    """Singular values of the step Jacobians, one spectrum per model.

    ``spectra`` maps a label to ``sv`` (T, S) (see
    :class:`~rnnviz.gradients.StepJacobians`). The line is the median over steps of the
    k-th largest singular value; the band spans the ``band`` percentiles over steps. The
    x axis is ``k / S``, so spectra of different sizes (the LSTM's 2H) share it.
    Dashed: 1.
    """
    if not isinstance(spectra, Mapping) or not spectra:
        raise ValueError(
            "spectra must be a non-empty mapping label -> (T, S) singular values"
        )
    lo, hi = band
    if not 0 <= lo < hi <= 100:
        raise ValueError(
            f"band must be two percentiles 0 <= lo < hi <= 100, got {band!r}"
        )
    fig, ax = new_axes(ax, (6.5, 3.4))
    colors = series_colors(spectra, named=MODEL_COLORS, order=EXTRA)
    for key, sv in spectra.items():
        sv = np.asarray(sv, dtype=np.float64)
        if sv.ndim != 2 or 0 in sv.shape:
            raise ValueError(f"spectra[{key!r}] must have shape (T, S), got {sv.shape}")
        if not np.isfinite(sv).all() or (sv < 0).any():
            raise ValueError(f"spectra[{key!r}] must be finite and >= 0")
        color = colors[key]
        k = (np.arange(sv.shape[1]) + 0.5) / sv.shape[1]
        floor = np.finfo(np.float64).tiny  # log axis: exact zeros drawn at the floor
        p_lo, med, p_hi = (
            np.maximum(np.percentile(sv, q, axis=0), floor) for q in (lo, 50, hi)
        )
        ax.fill_between(k, p_lo, p_hi, color=color, alpha=0.2, lw=0)
        ax.plot(k, med, color=color, lw=1.8, label=f"{key} ({sv.shape[1]} values)")
    ax.axhline(1.0, color="0.4", ls="--", lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("rank k / S (largest first)")
    ax.set_ylabel("singular value of $\\partial s_t / \\partial s_{t-1}$")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize="small")
    return fig


def plot_rate_during_training(
    steps: np.ndarray,
    rates: Mapping[str, np.ndarray],
    ax: Axes | None = None,
    *,
    ylabel: str = "factor per step back",
    title: str | None = None,
) -> Figure:
    """A per-checkpoint number of each model against training steps, one line per seed.

    ``steps``: (C,) training steps of the checkpoints. ``rates`` maps a label to
    values (S, C), one row per seed (e.g. the factor by which the gradient shrinks
    per step back, fitted at each checkpoint). Labels in ``MODEL_COLORS`` get their
    colour; the first seed's line carries the label, the others are thinner.
    """
    steps = np.asarray(steps, dtype=np.float64)
    if steps.ndim != 1 or steps.size == 0:
        raise ValueError(f"steps must be 1-D and non-empty, got shape {steps.shape}")
    if not isinstance(rates, Mapping) or not rates:
        raise ValueError("rates must be a non-empty mapping label -> (seeds, steps)")
    fig, ax = new_axes(ax, (6.5, 3.4))
    colors = series_colors(rates, named=MODEL_COLORS, order=EXTRA)
    for key, v in rates.items():
        v = np.asarray(v, dtype=np.float64)
        if v.ndim != 2 or v.shape[0] == 0 or v.shape[1] != steps.size:
            raise ValueError(
                f"rates[{key!r}] must have shape (seeds, {steps.size}), got {v.shape}"
            )
        if not np.isfinite(v).all():
            raise ValueError(f"rates[{key!r}] contains NaN or infinite values")
        for s, row in enumerate(v):
            ax.plot(
                steps,
                row,
                color=colors[key],
                lw=1.8 if s == 0 else 0.9,
                marker="o" if s == 0 else None,
                ms=3,
                label=key if s == 0 else None,
            )
    ax.set_xlabel("training steps")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize="small")
    if title:
        ax.set_title(title)
    return fig


def plot_scaled_gradients(
    models: Mapping[str, CharLM],
    ids: Tensor,
    targets: Tensor,
    radius: float,
    ax: Axes | None = None,
    *,
    ylim: tuple[float, float] | None = None,
) -> Figure:
    """``||dL/dh_{T-d}||`` (top layer) of each model with its recurrent matrices
    rescaled.

    Each model of ``models`` (label -> :class:`~rnnviz.models.CharLM`) is copied by
    :func:`~rnnviz.gradients.scale_recurrent` to spectral radius ``radius`` and measured
    with :func:`~rnnviz.gradients.hidden_grad_norms` on ``ids``, ``targets`` (B, T),
    loss at the last step (:func:`rnnviz.gradients.scaled_gradient_curves`). The pure
    function behind the spectral-radius widget and its animation.
    """
    curves = scaled_gradient_curves(models, ids, targets, radius)
    colors = series_colors(models, order=(BLACK, PURPLE, GREEN, ORANGE, SKY))
    fig, ax = new_axes(ax, (6.5, 3.4))
    plot_grad_by_distance(
        curves,
        ax,
        styles={k: {"color": c} for k, c in colors.items()},
        ylim=ylim,
        title=f"recurrent matrix rescaled to spectral radius {radius:.2f}",
        legend_loc="lower right",
    )
    # dotted: the size at the loss; above it the gradient grows
    for key, v in curves.items():
        ax.axhline(v[0], color=colors.get(key, "0.5"), lw=0.8, ls=":")
    return fig
