"""Reading and measuring the attention of :class:`rnnviz.labs.seq2seq.Seq2Seq`.

* :func:`collect_attention`: greedy decoding of source strings with the
  attention weights of every emitted token, trimmed to the real source and output.
* :func:`aligned_positions`: for a number pair ``("9,017", "nine thousand
  seventeen")``, the source digit(s) each target character's word speaks for.
* :func:`aligned_mass` and :func:`attention_entropy`: how much weight lands on
  those digits, and how spread out a row of weights is (bits).
* :func:`plot_attention_map` and :func:`plot_decode_step`: the weights as a
  heatmap (output characters x source characters) and one decoding step.
* :func:`digit_copy_pairs`: random digit strings and their copies (or
  reversals), the task that exposes the fixed-size bottleneck.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from rnnviz._checks import positive_int
from rnnviz.labs.seq2seq import (
    ONES,
    TENS,
    PairVocab,
    Seq2Seq,
    greedy_decode,
    number_words,
    pad_rows,
)
from rnnviz.viz.palette import BLUE, VERMILLION
from rnnviz.viz.plots import new_axes, show_char

# --- collecting the weights -----------------------------------------------------------


@dataclass(frozen=True)
class AttentionMap:
    """One greedy translation and its attention weights."""

    source: str
    output: str  # the decoded text, without <eos>
    # (T, len(source)): one row per emitted token; T = len(output) + 1 (<eos> last)
    # if finished
    weights: Tensor
    finished: bool  # False if decoding was cut at max_len (then there is no <eos> row)


@torch.no_grad()
def collect_attention(
    model: Seq2Seq,
    sources: Sequence[str],
    src_vocab: PairVocab,
    tgt_vocab: PairVocab,
    max_len: int = 50,
) -> list[AttentionMap]:
    """Greedy-decode ``sources`` in one padded batch and keep each one's weights
    ``alpha_t`` (rows) over its source."""
    if isinstance(sources, str):
        raise TypeError("sources must be a sequence of strings, not one string")
    if not sources:
        raise ValueError("no sources to decode")
    if not model.attention:
        raise ValueError(
            "the model has no attention (built with attention=False): no weights to "
            "collect"
        )
    # ValueError on unknown characters or empty strings
    encoded = [src_vocab.encode(s) for s in sources]
    was_training = model.training
    model.eval()
    try:
        hyps, alphas = greedy_decode(
            model, pad_rows(encoded), torch.tensor([len(e) for e in encoded]), max_len
        )
    finally:
        model.train(was_training)
    out = []
    for b, (source, h) in enumerate(zip(sources, hyps)):
        weights = alphas[b, : len(h.tokens), : len(source)].clone()  # (T, S)
        out.append(
            AttentionMap(source, tgt_vocab.decode(h.tokens), weights, h.finished)
        )
    return out


# --- the alignment rule ---------------------------------------------------------------


def aligned_positions(source: str, target: str) -> list[tuple[int, ...]]:
    """For each character of ``target``, the source positions of the digit(s) its
    word speaks for.

    The rule, word by word of ``number_words(n)``: the thousands digit's word
    and "thousand" speak for the thousands digit; the hundreds digit's word and
    "hundred" for the hundreds digit; a tens word ("forty") for the tens digit;
    a units word ("five", also after a hyphen) for the units digit; a teen word
    ("ten" ... "nineteen") for both the tens and the units digit; "zero" for
    the digit 0. Spaces and hyphens speak for nothing: ``()``.

    >>> aligned_positions("45", "forty-five")
    [(0,), (0,), (0,), (0,), (0,), (), (1,), (1,), (1,), (1,)]
    >>> aligned_positions("1,014", "one thousand fourteen")[-1]  # the 1 and the 4
    (3, 4)
    """
    if not isinstance(source, str) or not isinstance(target, str):
        raise TypeError("source and target must be strings")
    digits = source.replace(",", "")
    if (
        not digits.isdigit()
        or not digits.isascii()
        or len(digits) > 4
        or f"{int(digits):,}" != source
    ):
        raise ValueError(
            "source must be a number 0..9,999 written as number_pair writes it, "
            f"got {source!r}"
        )
    n = int(digits)
    if target != number_words(n):
        raise ValueError(
            f"target {target!r} is not number_words({n}) = {number_words(n)!r}"
        )
    # where[p]: the source position of 10**p's digit
    where = [k for k, ch in enumerate(source) if ch != ","][::-1]
    words: list[tuple[str, tuple[int, ...]]] = []
    if n >= 1000:
        words += [(ONES[n // 1000], (where[3],)), ("thousand", (where[3],))]
    if n % 1000 >= 100:
        words += [(ONES[n % 1000 // 100], (where[2],)), ("hundred", (where[2],))]
    r = n % 100
    if r >= 20:
        words.append((TENS[r // 10] + ("-" if r % 10 else ""), (where[1],)))
    elif r >= 10:
        words.append((ONES[r], (where[1], where[0])))
    if (r % 10 and r not in range(10, 20)) or n == 0:
        words.append((ONES[r % 10], (where[0],)))
    out: list[tuple[int, ...]] = []
    for k, (word, pos) in enumerate(words):
        joiner = k > 0 and not words[k - 1][0].endswith("-")
        out += [()] * joiner + [() if ch == "-" else pos for ch in word]
    # the words rebuild number_words(n) exactly (tested on 0..9,999)
    assert len(out) == len(target)
    return out


def _check_weights(alpha: Tensor, name: str = "alpha") -> None:
    if not isinstance(alpha, Tensor) or not alpha.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor")
    if alpha.dim() < 1 or alpha.shape[-1] == 0:
        raise ValueError(
            f"{name} must have a non-empty last (source) dimension, "
            f"got shape {tuple(alpha.shape)}"
        )
    if torch.isnan(alpha).any():
        raise ValueError(f"{name} contains NaN")
    if (alpha < 0).any() or not torch.allclose(
        alpha.sum(-1), torch.ones(()), atol=1e-4
    ):
        raise ValueError(f"{name}: every row must be non-negative and sum to 1")


def aligned_mass(alpha: Tensor, positions: Sequence[tuple[int, ...]]) -> Tensor:
    """Attention weight on the aligned source positions, per target character: (T,).

    ``alpha`` (T, S), one row per target character; ``positions`` T tuples from
    :func:`aligned_positions`. Characters that speak for nothing get NaN.
    """
    _check_weights(alpha)
    if alpha.dim() != 2 or alpha.shape[0] != len(positions):
        raise ValueError(
            f"alpha must be (T, S) with T = len(positions) = {len(positions)}, "
            f"got {tuple(alpha.shape)}"
        )
    S = alpha.shape[1]
    mask = torch.zeros(alpha.shape, dtype=torch.bool)  # (T, S)
    for t, pos in enumerate(positions):
        if any(not 0 <= j < S for j in pos):
            raise ValueError(
                f"position out of range 0..{S - 1} at target character {t}: {pos}"
            )
        mask[t, list(pos)] = True
    mass = (alpha * mask).sum(1)  # (T,)
    return mass.masked_fill(~mask.any(1), math.nan)


def attention_entropy(alpha: Tensor) -> Tensor:
    """Entropy in bits of each row of weights: ``-sum_j alpha_j log2 alpha_j``
    (0 log 0 = 0); shape ``alpha.shape[:-1]``.

    A row on one position has entropy 0, a uniform row over S positions log2 S.
    """
    _check_weights(alpha)
    return -torch.special.xlogy(alpha, alpha).sum(-1) / math.log(2)


# --- pictures -------------------------------------------------------------------------


def _row_labels(output: str, rows: int) -> list[str]:
    if rows not in (len(output), len(output) + 1):
        raise ValueError(
            f"weights have {rows} rows: need len(output) = {len(output)} or one more "
            "for <eos>"
        )
    return [show_char(ch) for ch in output] + ["eos"] * (rows - len(output))


def plot_attention_map(
    weights: Tensor | np.ndarray,
    source: str,
    output: str,
    ax: Axes | None = None,
    cmap: str = "viridis",
    colorbar: bool = False,
    marks: Sequence[tuple[int, ...]] | None = None,
) -> Figure:
    """Heatmap of attention weights (T, S): output characters (rows) against source
    characters (columns), 0 to 1.

    ``marks``: optional source positions per row (as from
    :func:`aligned_positions`), drawn as small open circles.
    """
    w = np.asarray(weights, dtype=float)
    if w.ndim != 2 or w.shape[1] != len(source):
        raise ValueError(
            f"weights must be (T, len(source)) = (T, {len(source)}), got {w.shape}"
        )
    labels = _row_labels(output, w.shape[0])
    if marks is not None and len(marks) > w.shape[0]:
        raise ValueError(f"marks has {len(marks)} rows but weights only {w.shape[0]}")
    fig, ax = new_axes(ax, (2.4, 0.16 * len(labels) + 1.2))
    im = ax.imshow(w, cmap=cmap, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    if marks is not None:
        pts = [(j, t) for t, pos in enumerate(marks) for j in pos]
        if pts:
            ax.scatter(
                *zip(*pts),
                s=9,
                facecolors="none",
                edgecolors=VERMILLION,
                linewidths=0.8,
            )
    ax.set_xticks(range(len(source)), list(source))
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("source character")
    if colorbar:
        fig.colorbar(im, ax=ax, label="attention weight")
    return fig


def plot_decode_step(
    weights: Tensor | np.ndarray,
    source: str,
    output: str,
    t: int,
    ax: Axes | None = None,
    color: str = BLUE,
) -> Figure:
    """Step ``t`` of a decoding: the weights ``weights[t]`` over the source as bars,
    the output so far above."""
    w = np.asarray(weights, dtype=float)
    if w.ndim != 2 or w.shape[1] != len(source):
        raise ValueError(
            f"weights must be (T, len(source)) = (T, {len(source)}), got {w.shape}"
        )
    labels = _row_labels(output, w.shape[0])
    if (
        isinstance(t, bool)
        or not isinstance(t, (int, np.integer))
        or not 0 <= t < len(labels)
    ):
        raise ValueError(f"t must be an int in 0..{len(labels) - 1}, got {t!r}")
    fig, ax = new_axes(ax, (4, 2.4))
    ax.bar(range(len(source)), w[t], color=color, width=0.7)
    ax.set_xticks(range(len(source)), list(source), fontsize=12)
    ax.set_ylim(0, 1)
    ax.set_ylabel("attention weight")
    written = output[:t] + f"[{labels[t]}]"
    ax.set_title(f"step {t + 1}: {written}", fontsize=9, loc="left", family="monospace")
    return fig


# --- the copy task --------------------------------------------------------------------


def digit_copy_pairs(
    n: int, min_len: int, max_len: int, seed: int, reverse: bool = False
) -> list[tuple[str, str]]:
    """``n`` random digit strings, lengths uniform in ``min_len..max_len``, each
    paired with itself (or reversed)."""
    n = positive_int("n", n)
    min_len = positive_int("min_len", min_len)
    max_len = positive_int("max_len", max_len)
    if min_len > max_len:
        raise ValueError(f"min_len must be <= max_len, got {min_len} > {max_len}")
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(min_len, max_len + 1, (n,), generator=g).tolist()
    out = []
    for length in lengths:
        s = "".join(map(str, torch.randint(0, 10, (length,), generator=g).tolist()))
        out.append((s, s[::-1] if reverse else s))
    return out
