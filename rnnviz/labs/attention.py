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
  reversals), the task that exposes the fixed-size bottleneck;
  :func:`digit_copy_split` draws training, validation and test strings with
  no string in two of them.
* :func:`bottleneck_sweep`: both models on both tasks, three seeds, several
  training budgets and, on the numbers, three learning rates for the model
  without attention; run once
  with ``python -m rnnviz.labs.attention`` (about 6 CPU-minutes), which
  writes ``chapters/05-future/data/attention-sweep.json``; :func:`load_sweep` reads it
  back, checked against :data:`SWEEP_SHA256`.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from rnnviz._checks import positive_int
from rnnviz.checkpoints import verify_sha256
from rnnviz.labs.seq2seq import (
    ONES,
    TENS,
    PairVocab,
    Seq2Seq,
    accuracy,
    collate,
    fit,
    greedy_decode,
    number_pairs,
    number_words,
    pad_rows,
    translate,
)
from rnnviz.paths import book_file
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


@dataclass(frozen=True)
class CopySplit:
    """Copy pairs with no string in two of the three parts.

    ``test[n]`` holds the held-out pairs of length ``n``; ``valid`` the
    validation pairs (all lengths of training).
    """

    train: list[tuple[str, str]]
    valid: list[tuple[str, str]]
    test: dict[int, list[tuple[str, str]]]


def _distinct_strings(
    length: int, k: int, g: torch.Generator, taken: set[str]
) -> list[str]:
    """``k`` distinct digit strings of ``length``, none in ``taken``."""
    out: list[str] = []
    seen = set(taken)
    while len(out) < k:
        s = "".join(map(str, torch.randint(0, 10, (length,), generator=g).tolist()))
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def digit_copy_split(
    n_train: int,
    min_len: int,
    max_len: int,
    test_max: int,
    per_len: int,
    seed: int,
    held_share: float = 0.2,
) -> CopySplit:
    """Training, validation and test copy pairs, disjoint as strings.

    For each length ``n`` in ``1 .. test_max`` the test gets ``per_len``
    distinct strings, at most ``held_share`` of the ``10 ** n`` strings there
    are; for each training length as many again (at most the same share) go
    to validation. Training then draws ``n_train`` strings, lengths uniform in
    ``min_len .. max_len``, and redraws any held-out one: a test string is
    never seen in training.
    """
    for name, v in (
        ("n_train", n_train),
        ("min_len", min_len),
        ("max_len", max_len),
        ("test_max", test_max),
        ("per_len", per_len),
    ):
        positive_int(name, v)
    if not min_len <= max_len <= test_max:
        raise ValueError(
            f"need min_len <= max_len <= test_max, got {min_len}, {max_len}, {test_max}"
        )
    if not 0 < held_share < 0.5:
        raise ValueError(f"held_share must be in (0, 0.5), got {held_share}")
    g = torch.Generator().manual_seed(seed)
    held: set[str] = set()
    test, valid = {}, []
    for n in range(1, test_max + 1):
        k = max(1, min(per_len, int(held_share * 10**n)))
        test[n] = [(s, s) for s in _distinct_strings(n, k, g, held)]
        held |= {s for s, _ in test[n]}
    for n in range(min_len, max_len + 1):
        k = max(1, min(per_len, int(held_share * 10**n)))
        valid += [(s, s) for s in _distinct_strings(n, k, g, held)]
        held |= {s for s, _ in valid}
    lengths = torch.randint(min_len, max_len + 1, (n_train,), generator=g).tolist()
    train = []
    for n in lengths:
        while True:
            s = "".join(map(str, torch.randint(0, 10, (n,), generator=g).tolist()))
            if s not in held:
                break
        train.append((s, s))
    return CopySplit(train, valid, test)


# --- the sweep: bottleneck or optimisation? -------------------------------------------

#: The settings of :func:`bottleneck_sweep` as shipped.
SWEEP_CONFIG = {
    "seeds": [0, 1, 2],
    "hidden": 64,
    "embed": 32,
    "batch_size": 64,
    "clip": 1.0,
    "lr_attention": 3e-3,
    "lrs_plain": [1e-3, 3e-3, 1e-2],
    "numbers_steps_attention": 400,
    "numbers_steps_plain": 1600,
    "numbers_every": 400,
    "copy_embed": 16,
    "copy_train": 20_000,
    "copy_min": 1,
    "copy_max": 10,
    "copy_test_max": 14,
    "copy_per_len": 200,
    "copy_steps": 1800,
    "copy_every": 600,
}
#: Where :func:`bottleneck_sweep` is shipped, in the repository.
SWEEP_PATH = ("chapters", "05-future", "data", "attention-sweep.json")
#: sha256 of the shipped ``chapters/05-future/data/attention-sweep.json``.
SWEEP_SHA256 = "2d198ecc0453f5bbfe17d0a4cca4d11f6bb2f43fcc4d042db4a9ffdbad6b6679"


def _numbers_run(
    attention: bool, lr: float, seed: int, steps: int, cfg: dict
) -> dict[str, list[float]]:
    pairs = number_pairs(seed=0)
    sv = PairVocab.from_texts([s for s, _ in pairs.train])
    tv = PairVocab.from_texts([t for _, t in pairs.train])
    train, valid = collate(pairs.train, sv, tv), collate(pairs.valid, sv, tv)
    digits = [len(s.replace(",", "")) for s, _ in pairs.test]

    def metrics(m: Seq2Seq) -> dict[str, float]:
        out = {}
        for name, split in (("valid", pairs.valid), ("test", pairs.test)):
            pred = translate(m, [s for s, _ in split], sv, tv, max_len=50)
            out[f"exact_{name}"] = accuracy(pred, [t for _, t in split])[0]
            if name == "test":
                for d in (1, 2, 3, 4):
                    idx = [k for k, n in enumerate(digits) if n == d]
                    out[f"exact_test_{d}"] = accuracy(
                        [pred[k] for k in idx], [split[k][1] for k in idx]
                    )[0]
        return out

    model = Seq2Seq(
        len(sv), len(tv), cfg["embed"], cfg["hidden"], attention=attention, seed=seed
    )
    h = fit(
        model,
        train,
        valid,
        steps=steps,
        batch_size=cfg["batch_size"],
        lr=lr,
        clip=cfg["clip"],
        seed=seed,
        eval_every=cfg["numbers_every"],
        progress=False,
        metrics=metrics,
    )
    return {"step": h.eval_step, "val_loss": h.val_loss, **h.metrics}


def _copy_run(
    attention: bool, lr: float, seed: int, cfg: dict
) -> dict[str, list[float]]:
    split = digit_copy_split(
        cfg["copy_train"],
        cfg["copy_min"],
        cfg["copy_max"],
        cfg["copy_test_max"],
        cfg["copy_per_len"],
        seed=0,
    )
    digits = PairVocab("0123456789")
    train = collate(split.train, digits, digits)
    valid = collate(split.valid, digits, digits)

    def exact(m: Seq2Seq, pairs) -> float:
        sources = [s for s, _ in pairs]
        pred = translate(m, sources, digits, digits, max_len=cfg["copy_test_max"] + 5)
        return accuracy(pred, [t for _, t in pairs])[0]

    def metrics(m: Seq2Seq) -> dict[str, float]:
        out = {"exact_valid": exact(m, split.valid)}
        for n, pairs in split.test.items():
            out[f"exact_test_{n}"] = exact(m, pairs)
        return out

    model = Seq2Seq(
        len(digits),
        len(digits),
        cfg["copy_embed"],
        cfg["hidden"],
        attention=attention,
        seed=seed,
    )
    h = fit(
        model,
        train,
        valid,
        steps=cfg["copy_steps"],
        batch_size=cfg["batch_size"],
        lr=lr,
        clip=cfg["clip"],
        seed=seed,
        eval_every=cfg["copy_every"],
        progress=False,
        metrics=metrics,
    )
    return {"step": h.eval_step, "val_loss": h.val_loss, **h.metrics}


def bottleneck_sweep(
    cfg: dict | None = None,
    log: bool = True,
    tasks: Sequence[str] = ("numbers", "copy"),
) -> dict:
    """Both models of the attention chapter, on the numbers and on copying.

    Every run of a task has the same budget of steps (minibatches of
    ``batch_size`` pairs), evaluated every ``*_every`` steps: the held-out
    loss, exact match on the validation pairs (to choose the learning rate)
    and on the test pairs (by number of digits, or by string length). The
    model with attention keeps the chapters' learning rate. On the numbers
    the model without it is tried with each of ``lrs_plain`` on the first
    seed, and the one with the lowest final validation loss
    (``numbers_lr_plain`` in the result) is run with the other seeds.
    Returns a dict for JSON, with the CPU seconds (``time.process_time``) of
    each run; ``tasks`` picks the tasks to run.
    """
    cfg = dict(SWEEP_CONFIG if cfg is None else cfg)
    out: dict = {"config": cfg, "numbers": {}, "copy": {}}

    def run(task: str, name: str, lr: float, seed: int) -> dict:
        start = time.process_time()
        if task == "numbers":
            key = "numbers_steps_" + ("attention" if name == "attention" else "plain")
            r = _numbers_run(name == "attention", lr, seed, cfg[key], cfg)
        else:
            r = _copy_run(name == "attention", lr, seed, cfg)
        r["cpu_seconds"] = time.process_time() - start
        out[task].setdefault(name, {}).setdefault(f"{lr:g}", {})[str(seed)] = r
        if log:
            print(
                task,
                name,
                f"lr={lr:g}",
                f"seed={seed}",
                f"{r['cpu_seconds']:.0f} s",
                f"exact_valid={r['exact_valid'][-1]:.3f}",
                flush=True,
            )
        return r

    first, rest = cfg["seeds"][0], cfg["seeds"][1:]
    for seed in cfg["seeds"] if "numbers" in tasks else ():
        run("numbers", "attention", cfg["lr_attention"], seed)
    # the learning rate of the model without attention: each value with the
    # first seed, the best by validation loss at the end with the other seeds
    if "numbers" in tasks:
        final = {
            lr: run("numbers", "no attention", lr, first)["val_loss"][-1]
            for lr in cfg["lrs_plain"]
        }
        best = min(final, key=final.get)
        out["numbers_lr_plain"] = best
        for seed in rest:
            run("numbers", "no attention", best, seed)
    for name in ("attention", "no attention") if "copy" in tasks else ():
        for seed in cfg["seeds"]:
            run("copy", name, cfg["lr_attention"], seed)
    return out


def load_sweep(path: str | Path | None = None, sha256: str | None = None) -> dict:
    """The shipped result of :func:`bottleneck_sweep`, checked against
    :data:`SWEEP_SHA256` (or ``sha256``)."""
    path = Path(book_file(*SWEEP_PATH) if path is None else path)
    verify_sha256(path, sha256 or SWEEP_SHA256 or None, "sweep result")
    return json.loads(path.read_text())


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m rnnviz.labs.attention [--out PATH] [--only TASK]``: run the
    sweep and write it (``--only numbers`` or ``copy`` reruns one task into the
    result already at ``--out``)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--out", default=str(book_file(*SWEEP_PATH)))
    parser.add_argument(
        "--only",
        choices=("numbers", "copy"),
        help="run one task and replace it in the result already at --out",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.only is None:
        result = bottleneck_sweep()
    else:
        result = json.loads(Path(args.out).read_text())
        part = bottleneck_sweep(tasks=(args.only,))
        result[args.only] = part[args.only]
        if args.only == "numbers":
            result["numbers_lr_plain"] = part["numbers_lr_plain"]
    Path(args.out).write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
