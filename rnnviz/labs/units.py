"""Looking inside a trained character model: which units track what, how saturated
the gates are, and where the model beats the n-gram.

Five pieces, all numpy on a :class:`~rnnviz.probe.Trace`:

- **Text features** computed from the text alone, one float per character
  (:mod:`rnnviz.labs.features`, re-exported here: ``FEATURES``, ``text_features``,
  ``speech_passage``).
- **Unit search** (:func:`search_units`): every (layer, series, unit) of a
  trace ranked by its correlation with each feature; :func:`evidence`
  measures the chosen units again on a second, disjoint text.
- **Gate saturation** (:func:`saturation`), after Karpathy et al. (2015): the
  fraction of steps each gate unit spends below ``lo`` (left-saturated) or
  above ``hi`` (right-saturated).
- **Pattern queries** (:func:`select_pattern`, :func:`match_pattern`), after
  LSTMVis (Strobelt et al. 2018): the units on over a chosen span of text,
  and the other passages where the same units are on together.
- **Per-character loss** of the network (:func:`model_bits`) and of an n-gram
  (:func:`ngram_bits`), in bits, for comparisons character by character.

Limitations: a correlation finds units that track a feature *linearly* (or
monotonically, with ``method="spearman"``) on their own; a feature spread over
many units, or a unit that tracks a conjunction of features, is missed.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rnnviz._checks import positive_int
from rnnviz.labs.features import (  # noqa: F401 (re-exported)
    FEATURES,
    speech_passage,
    text_features,
)
from rnnviz.probe import Trace
from rnnviz.viz.palette import BLUE, GATE_COLORS, WHITE
from rnnviz.viz.plots import GATE_LABELS, new_axes

if TYPE_CHECKING:
    from rnnviz.ngram import AddK, KneserNey

# --- unit search ----------------------------------------------------------------------


def series_names(trace: Trace) -> tuple[str, ...]:
    """What the search looks at by default: ``h``, ``c`` (LSTM) and every gate."""
    return ("h",) + (("c",) if trace.kind == "LSTM" else ()) + tuple(trace.gate_names)


def _features_matrix(
    features: Mapping[str, np.ndarray], T: int
) -> tuple[list[str], np.ndarray]:
    if not features:
        raise ValueError("no features given")
    names, rows = list(features), []
    for n in names:
        f = np.asarray(features[n], dtype=float)
        if f.shape != (T,):
            raise ValueError(
                f"feature {n!r} has shape {f.shape}, but the trace has {T} steps: "
                f"need ({T},)"
            )
        if not np.isfinite(f).all():
            raise ValueError(f"feature {n!r} contains NaN or infinite values")
        if np.ptp(f) == 0:
            raise ValueError(
                f"feature {n!r} is constant on this text: its correlation is undefined"
            )
        rows.append(f)
    return names, np.stack(rows, axis=1)  # (T, F)


def _rank(x: np.ndarray) -> np.ndarray:
    """Average ranks (0-based) of each column of x (T, N); ties share a mean rank."""
    T, N = x.shape
    order = np.argsort(x, axis=0, kind="stable")  # (T, N)
    s = np.take_along_axis(x, order, axis=0)
    new = np.r_[np.ones((1, N), bool), s[1:] != s[:-1]]  # first of each run of ties
    group = np.cumsum(new, axis=0) + np.arange(N) * (T + 1)  # run ids, unique overall
    _, first, counts = np.unique(
        group.ravel(order="F"), return_index=True, return_counts=True
    )
    mean_rank = (first % T) + (counts - 1) / 2.0  # per run, in column-major run order
    ranks = np.empty_like(x, dtype=float)
    np.put_along_axis(
        ranks,
        order,
        mean_rank[np.cumsum(new.ravel(order="F")) - 1].reshape(N, T).T,
        axis=0,
    )
    return ranks


def _zscore(x: np.ndarray) -> np.ndarray:
    """Columns of x (T, N) centred and scaled to unit norm; a constant column is 0."""
    varies = x.max(axis=0) > x.min(axis=0)
    x = x - x.mean(axis=0)
    norm = np.sqrt((x * x).sum(axis=0))
    return np.divide(x, norm, out=np.zeros_like(x), where=varies & (norm > 0))


def correlations(
    trace: Trace,
    features: Mapping[str, np.ndarray],
    *,
    names: Sequence[str] | None = None,
    batch: int = 0,
    method: str = "pearson",
) -> tuple[list[str], list[tuple[int, str]], np.ndarray]:
    """Correlation of every unit with every feature.

    Returns (feature names, blocks, R) with R of shape (F, len(blocks), H):
    ``R[j, k, u]`` correlates feature j with unit u of block ``blocks[k] =
    (layer, series)``. A unit that is constant on the text gets r = 0.
    """
    if method not in ("pearson", "spearman"):
        raise ValueError(f"method must be 'pearson' or 'spearman', got {method!r}")
    T = len(trace)
    fnames, F = _features_matrix(features, T)
    if method == "spearman":
        F = _rank(F)
    Fz = _zscore(F)  # (T, F)
    names = series_names(trace) if names is None else tuple(names)
    blocks, out = [], []
    for layer in range(trace.num_layers):
        for name in names:
            x = np.asarray(trace.series(name, layer)[:, batch], dtype=float)  # (T, H)
            if not np.isfinite(x).all():
                raise ValueError(
                    f"trace series {name!r} of layer {layer} contains NaN or "
                    "infinite values"
                )
            blocks.append((layer, name))
            out.append(
                Fz.T @ _zscore(_rank(x) if method == "spearman" else x)
            )  # (F, H)
    return fnames, blocks, np.clip(np.stack(out, axis=1), -1.0, 1.0)


def search_units(
    trace: Trace,
    features: Mapping[str, np.ndarray],
    *,
    top: int = 3,
    names: Sequence[str] | None = None,
    batch: int = 0,
    method: str = "pearson",
) -> list[dict]:
    """The ``top`` units with the largest \\|r\\| for each feature, as rows
    ``{'feature', 'rank', 'layer', 'series', 'unit', 'r'}`` (rank 1 is the best)."""
    top = positive_int("top", top)
    fnames, blocks, R = correlations(
        trace, features, names=names, batch=batch, method=method
    )
    H = R.shape[2]
    rows = []
    for j, f in enumerate(fnames):
        flat = R[j].ravel()  # (K * H,)
        for rank, k in enumerate(
            np.argsort(-np.abs(flat), kind="stable")[:top], start=1
        ):
            layer, name = blocks[k // H]
            rows.append(
                dict(
                    feature=f,
                    rank=rank,
                    layer=layer,
                    series=name,
                    unit=int(k % H),
                    r=float(flat[k]),
                )
            )
    return rows


def evidence(
    rows: Sequence[Mapping],
    trace: Trace,
    features: Mapping[str, np.ndarray],
    *,
    batch: int = 0,
    method: str = "pearson",
) -> list[dict]:
    """``rows`` (from :func:`search_units`) with ``r_evidence``: the same unit's
    correlation with the same feature on another trace (new dicts, inputs kept)."""
    fnames, F = _features_matrix(features, len(trace))
    out = []
    for row in rows:
        if row["feature"] not in fnames:
            raise KeyError(
                f"feature {row['feature']!r} is not among the features given: {fnames}"
            )
        f = F[:, fnames.index(row["feature"])]
        x = np.asarray(
            trace.series(row["series"], row["layer"])[:, batch, row["unit"]],
            dtype=float,
        )
        if not np.isfinite(x).all():
            raise ValueError(
                f"trace series {row['series']!r} of layer {row['layer']} contains "
                "NaN or infinite values"
            )
        pair = np.stack([f, x], axis=1)  # (T, 2)
        z = _zscore(_rank(pair) if method == "spearman" else pair)
        out.append({**row, "r_evidence": float(np.clip(z[:, 0] @ z[:, 1], -1.0, 1.0))})
    return out


# --- pattern queries (LSTMVis) ------------------------------------------------------


def _unit_values(trace: Trace, series: str, layer: int, batch: int) -> np.ndarray:
    x = np.asarray(trace.series(series, layer)[:, batch], dtype=float)  # (T, H)
    if not np.isfinite(x).all():
        raise ValueError(
            f"trace series {series!r} of layer {layer} contains NaN or infinite values"
        )
    return x


def select_pattern(
    trace: Trace,
    start: int,
    stop: int,
    *,
    threshold: float,
    series: str = "h",
    layer: int = 0,
    batch: int = 0,
) -> np.ndarray:
    """The units *on* over a span and *off* on either side of it, after the select
    step of LSTMVis (Strobelt et al. 2018).

    A unit is on at step t when its ``series`` value exceeds ``threshold``.
    Selected are the units on at every step of ``start:stop`` and off at step
    ``start - 1`` and at step ``stop`` (where those steps exist). Returns the
    sorted unit indices, possibly none.
    """
    x = _unit_values(trace, series, layer, batch)
    T = len(x)
    start, stop = operator.index(start), operator.index(stop)
    if not 0 <= start < stop <= T:
        raise ValueError(f"need 0 <= start < stop <= {T}, got {start!r}, {stop!r}")
    on = x > threshold  # (T, H)
    keep = on[start:stop].all(axis=0)
    if start > 0:
        keep &= ~on[start - 1]
    if stop < T:
        keep &= ~on[stop]
    return np.flatnonzero(keep)


def match_pattern(
    trace: Trace,
    units: Sequence[int],
    *,
    threshold: float,
    series: str = "h",
    layer: int = 0,
    batch: int = 0,
    min_length: int = 1,
    slack: int = 0,
) -> list[tuple[int, int]]:
    """The passages where a selected set of units is on together: the match step
    of LSTMVis, simplified.

    Step t *matches* when at most ``slack`` of ``units`` are off there (on:
    value > ``threshold``). Returns the maximal runs of matching steps at least
    ``min_length`` long, as ``(start, stop)`` pairs in order.
    """
    units = [int(u) for u in units]
    if not units:
        raise ValueError("no units given: select_pattern found none to match")
    min_length = positive_int("min_length", min_length)
    if not (isinstance(slack, int) and 0 <= slack < len(units)):
        raise ValueError(f"need 0 <= slack < {len(units)} (the units), got {slack!r}")
    x = _unit_values(trace, series, layer, batch)
    if any(not 0 <= u < x.shape[1] for u in units):
        raise IndexError(f"units must be in [0, {x.shape[1]}), got {units}")
    hit = (x[:, units] <= threshold).sum(axis=1) <= slack  # (T,)
    edges = np.flatnonzero(np.diff(np.r_[0, hit.astype(np.int8), 0]))
    runs = edges.reshape(-1, 2)  # (starts, stops) of the runs of hits
    return [(int(a), int(b)) for a, b in runs if b - a >= min_length]


def match_text(
    text: str,
    matches: Sequence[tuple[int, int]],
    *,
    context: int = 30,
    limit: int | None = None,
) -> tuple[str, np.ndarray, np.ndarray]:
    """The matched passages of ``text`` with ``context`` characters either side,
    for a view: returns (shown text, mask, positions), arrays of its length N.

    ``mask`` is 1.0 on matched characters, ``positions`` the index of each shown
    character in ``text`` (-1 for the blank line that separates two passages).
    ``limit`` keeps the first ``limit`` matches.
    """
    if context < 0:
        raise ValueError(f"context must be >= 0, got {context!r}")
    pieces, where = [], []
    for a, b in list(matches)[:limit]:
        if not 0 <= a < b <= len(text):
            raise ValueError(f"match ({a}, {b}) lies outside a text of {len(text)}")
        lo, hi = max(0, a - context), min(len(text), b + context)
        if pieces:
            pieces.append("\n\n")
            where.append(np.full(2, -1))
        pieces.append(text[lo:hi])
        where.append(np.arange(lo, hi))
    if not pieces:
        raise ValueError("no matches to show")
    positions = np.concatenate(where)
    inside = np.zeros(len(text) + 1, dtype=bool)  # the last entry stands for -1
    for a, b in list(matches)[:limit]:
        inside[a:b] = True
    return "".join(pieces), inside[positions] * 1.0, positions


# --- gate saturation ------------------------------------------------------------------

SIGMOID_GATES = {"LSTM": ("i", "f", "o"), "GRU": ("r", "z"), "RNN": ()}
TANH_GATES = {"LSTM": ("g",), "GRU": ("n",), "RNN": ()}


def saturation(
    trace: Trace,
    lo: float = 0.1,
    hi: float = 0.9,
    gates: Sequence[str] | None = None,
    batch: int = 0,
) -> list[dict]:
    """Fraction of steps each gate unit is left- (< ``lo``) or right-saturated
    (> ``hi``).

    One row per layer and gate: ``{'layer', 'gate', 'left' (H,), 'right' (H,)}``.
    Default gates are the sigmoid gates (LSTM i, f, o; GRU r, z). A tanh
    candidate (``g``, ``n``) may be asked for: its values are mapped from
    (-1, 1) to (0, 1) by (v + 1) / 2 first, so the defaults mean < -0.8 and > 0.8.
    """
    if not (0.0 < lo < hi < 1.0):
        raise ValueError(f"need 0 < lo < hi < 1, got lo={lo!r}, hi={hi!r}")
    gates = SIGMOID_GATES[trace.kind] if gates is None else tuple(gates)
    allowed = SIGMOID_GATES[trace.kind] + TANH_GATES[trace.kind]
    if not gates or any(g not in allowed for g in gates):
        raise KeyError(
            f"{trace.kind} gates to measure are {list(allowed)}, got {list(gates)}"
        )
    rows = []
    for layer in range(trace.num_layers):
        for g in gates:
            v = trace.series(g, layer)[:, batch]  # (T, H)
            if not np.isfinite(v).all():
                raise ValueError(
                    f"gate {g!r} of layer {layer} contains NaN or infinite values"
                )
            if g in TANH_GATES[trace.kind]:
                v = (v + 1.0) / 2.0
            rows.append(
                dict(
                    layer=layer,
                    gate=g,
                    left=(v < lo).mean(axis=0),
                    right=(v > hi).mean(axis=0),
                )
            )
    return rows


def plot_saturation(
    results: Mapping[str, Sequence[Mapping]],
    *,
    lo: float = 0.1,
    hi: float = 0.9,
    ax: Axes | None = None,
) -> Figure:
    """Bars of the mean left- (hatched) and right-saturated (solid) fraction per
    gate, grouped by model and layer; ``results`` maps a model name to
    :func:`saturation` rows."""
    groups = [
        (m, l, [r for r in rows if r["layer"] == l])
        for m, rows in results.items()
        for l in sorted({r["layer"] for r in rows})
    ]
    fig, ax = new_axes(ax, (max(6.0, 0.85 * sum(len(g[2]) for g in groups) + 1.5), 3.2))
    x, ticks, labels = 0.0, [], []
    for model, layer, rows in groups:
        for r in rows:
            color = GATE_COLORS.get(r["gate"], "0.4")
            ax.bar(
                x - 0.2,
                r["left"].mean(),
                0.4,
                color=WHITE,
                edgecolor=color,
                hatch="///",
            )
            ax.bar(x + 0.2, r["right"].mean(), 0.4, color=color, edgecolor=color)
            ticks.append(x)
            labels.append(r["gate"])
            x += 1.0
        ax.annotate(
            f"{model} layer {layer}",
            (x - 0.5 - len(rows) / 2, 1.0),
            xycoords=("data", "axes fraction"),
            ha="center",
            va="bottom",
            fontsize="small",
        )
        ax.axvline(x - 0.5, color="0.8", lw=0.8)
        x += 0.5
    ax.set_xticks(ticks, labels)
    ax.set_xlim(-0.7, x - 0.8)
    top = max(
        max(float(r["left"].mean()), float(r["right"].mean()))
        for _, _, rows in groups
        for r in rows
    )
    ax.set_ylim(0, max(0.05, 1.15 * top))
    ax.set_ylabel("fraction of steps (mean over units)")
    ax.bar(
        0,
        0,
        color=WHITE,
        edgecolor="0.3",
        hatch="///",
        label=f"left-saturated (< {lo})",
    )
    ax.bar(0, 0, color="0.3", label=f"right-saturated (> {hi})")
    ax.legend(
        frameon=False, fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0)
    )
    return fig


def plot_saturation_units(
    rows: Sequence[Mapping], *, title: str = "", ax: Axes | None = None
) -> Figure:
    """Karpathy et al.'s view: one dot per gate unit, its right-saturated fraction (x)
    against its left-saturated fraction (y), in the gate's colour; hollow circles for
    layer 0, filled triangles for layer 1 (squares beyond). Dots lie below the
    anti-diagonal."""
    fig, ax = new_axes(ax, (3.6, 3.6))
    for r in rows:
        color, layer = GATE_COLORS.get(r["gate"], "0.4"), r["layer"]
        style = (
            dict(facecolors="none", edgecolors=color, marker="o")
            if layer == 0
            else dict(color=color, marker="^s"[min(layer, 2) - 1])
        )
        ax.scatter(
            r["right"],
            r["left"],
            s=8,
            alpha=0.5,
            lw=0.6,
            label=f"layer {layer}",
            **style,
        )
    ax.plot([0, 1], [1, 0], color="0.7", lw=0.8, ls=":")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_aspect("equal")
    ax.set_xlabel("fraction right-saturated")
    ax.set_ylabel("fraction left-saturated")
    ax.set_title(title, fontsize="medium")
    ax.legend(frameon=False, fontsize="small", loc="upper right", markerscale=2)
    return fig


# --- per-character loss ---------------------------------------------------------------


def model_bits(
    trace: Trace, ids: np.ndarray | Sequence[int], batch: int = 0
) -> np.ndarray:
    """(T-1,) bits the network spent on each character after the first:
    ``-log2 softmax(logits[t])[ids[t+1]]``, from a CharLM trace's logits (B, T, V)."""
    if trace.logits is None:
        raise ValueError("the trace has no logits: probe a CharLM (model.probe(text))")
    logits = np.asarray(trace.logits[batch], dtype=np.float64)  # (T, V)
    ids = np.asarray(ids).reshape(-1)
    if ids.shape != (len(logits),):
        raise ValueError(
            f"ids have {ids.size} entries but the trace has {len(logits)} steps"
        )
    if len(ids) < 2:
        raise ValueError("need at least 2 characters: the first is never predicted")
    if not np.isfinite(logits).all():
        raise ValueError("the trace's logits contain NaN or infinite values")
    a = logits[:-1]  # (T-1, V): predictions of characters 1..T-1
    m = a.max(axis=1, keepdims=True)
    logz = (m + np.log(np.exp(a - m).sum(axis=1, keepdims=True)))[:, 0]
    return (logz - a[np.arange(len(a)), ids[1:]]) / math.log(2)


def ngram_bits(model: AddK | KneserNey, text: str) -> np.ndarray:
    """(T-1,) bits an :mod:`rnnviz.ngram` model spends on each character after the
    first."""
    return -model.log2probs(text)


def group_means(
    values: np.ndarray, groups: Sequence, order: Sequence | None = None
) -> list[dict]:
    """Mean of ``values`` (N,) per label in ``groups`` (N,): rows
    ``{'group', 'mean', 'n'}``."""
    values, groups = np.asarray(values, dtype=float), np.asarray(groups)
    if values.shape != groups.shape or values.ndim != 1:
        raise ValueError(
            "values and groups must be 1-D of equal length, got "
            f"{values.shape} and {groups.shape}"
        )
    order = list(dict.fromkeys(groups.tolist())) if order is None else list(order)
    return [
        dict(
            group=g, mean=float(values[groups == g].mean()), n=int((groups == g).sum())
        )
        for g in order
        if (groups == g).any()
    ]


def plot_unit_feature(
    trace: Trace,
    row: Mapping,
    feature: np.ndarray,
    *,
    text: str | None = None,
    start: int = 0,
    stop: int | None = None,
    batch: int = 0,
    ax: Axes | None = None,
) -> Figure:
    """One unit (a :func:`search_units` row) over steps ``start:stop`` with the
    feature drawn behind it in grey; dotted lines mark newlines of ``text``."""
    x = trace.series(row["series"], row["layer"])[:, batch, row["unit"]]  # (T,)
    feature = np.asarray(feature, dtype=float)
    if feature.shape != x.shape:
        raise ValueError(
            f"feature has shape {feature.shape}, the trace has {len(x)} steps"
        )
    stop = len(x) if stop is None else stop
    if not 0 <= start < stop <= len(x):
        raise ValueError(f"need 0 <= start < stop <= {len(x)}, got {start}, {stop}")
    fig, ax = new_axes(ax, (9, 2.4))
    t = np.arange(start, stop)
    ax2 = ax.twinx()
    ax2.fill_between(t, feature[start:stop], step="mid", color="0.85", lw=0)
    ax2.set_ylabel(row["feature"], color="0.45")
    ax2.tick_params(axis="y", colors="0.45")
    ax.set_zorder(ax2.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.plot(t, x[start:stop], color=GATE_COLORS.get(row["series"], BLUE), lw=1.3)
    if text is not None:
        for k in range(start, stop):
            if text[k] == "\n":
                ax.axvline(k, color="0.6", lw=0.5, ls=":")
    ax.set_xlim(start - 0.5, stop - 0.5)
    ax.set_xlabel("character")
    ax.set_ylabel(f"{row['series']} unit {row['unit']}")
    ax.set_title(
        f"layer {row['layer']} {GATE_LABELS.get(row['series'], row['series'])}, "
        f"unit {row['unit']} and {row['feature']}",
        fontsize="medium",
    )
    return fig
