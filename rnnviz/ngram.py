"""Character n-gram language models: the baseline the neural models replaced.

An n-gram model predicts character ``w`` from the ``n - 1`` characters ``h``
before it. Two smoothings, both normalised over the whole vocabulary:

- :class:`AddK`: ``P(w | h) = (c(hw) + k) / (c(h) + k V)``, no backoff, where
  ``c(h) = sum_w c(hw)`` (an unseen context gives the uniform distribution).
- :class:`KneserNey`: interpolated Kneser-Ney (Kneser and Ney 1995, in the form
  of Chen and Goodman 1999) with one absolute discount ``D_m`` per order::

      P_m(w | h) = (max(a(hw) - D_m, 0) + D_m T(h) P_{m-1}(w | h')) / a(h)

  where ``h'`` drops the first character of ``h``, ``T(h)`` is the number of
  distinct ``w`` with ``a(hw) > 0``, ``a(h) = sum_w a(hw)``, and ``P_0 = 1/V``.
  At the model's own order ``a`` is the raw count ``c``; at every lower order it
  is the continuation count ``N1+(.hw)``, the number of distinct characters seen
  before ``hw`` in training. An order whose context has ``a(h) = 0`` passes
  ``P_{m-1}`` through unchanged.

Counting is vectorised: the training text becomes ids (one
:class:`~rnnviz.data.Vocab`), each m-gram an int64 code in base V (first
character most significant), and the tables are sorted code arrays (one sort
of the text serves every order), read with ``np.searchsorted``.

Evaluation predicts every character of a held-out text but the first. Near the
start, where fewer than ``n - 1`` characters precede, a context of length L is
scored by the model of order L + 1 (same smoothing and parameters), so every
order is judged on exactly the same characters. Bits per character are the
mean of ``-log2 P``.

The models have the interface of every character model of the book,
:class:`~rnnviz.protocols.CharModel`: ``model(ids (B, T), state) -> (logits
(B, T, V), state)`` with the log-probabilities ``log P(w | h)`` as logits and
the last ``n - 1`` characters of each row as the state, so
:func:`rnnviz.sampling.generate` decodes them like the neural models.

Limitations: codes must stay below 2**63, so (V + 1)**max_n must too (70 symbols:
max_n <= 10). Counting n = 1..7 on the 4.3M training characters needs about
0.2 GB of memory at its peak.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from rnnviz.corpus import Corpus, load_corpus
from rnnviz.data import Vocab, check_ids

SMOOTHINGS = ("add-k", "kneser-ney")
K_GRID = tuple(
    round(m * 10.0**e, 3) for e in range(-3, 2) for m in (1, 2, 5)
)  # 0.001 .. 50
D_GRID = tuple(
    round(0.05 * i, 2) for i in range(1, 21)
)  # Kneser-Ney: 0.05, 0.10, ..., 1.0
LABELS = {"add-k": "add-k", "kneser-ney": "interpolated Kneser-Ney"}


def _pack(ids: np.ndarray, V: int) -> int:
    """The base-V code of a sequence of ids, first id most significant (0 if empty)."""
    code = 0
    for i in ids.tolist():
        code = code * V + i
    return code


def _encode(vocab: Vocab, text: str, what: str) -> np.ndarray:
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a str, got {type(text).__name__}")
    if not text:
        raise ValueError(f"empty {what}: no characters to count or predict")
    return vocab.encode(text).numpy()  # (N,) int64; raises UnknownCharacterError


@dataclass(frozen=True)
class _Table:
    """Counts of m-grams: sorted codes, their counts, and per-context totals."""

    grams: np.ndarray  # (G,) int64 codes, sorted
    count: np.ndarray  # (G,) int64
    ctx: np.ndarray  # (H,) int64 context codes (gram // V), sorted
    ctx_total: np.ndarray  # (H,) sum of count over the context's grams
    ctx_types: np.ndarray  # (H,) number of distinct grams with that context

    @classmethod
    def build(cls, grams: np.ndarray, count: np.ndarray, V: int) -> _Table:
        ctx = grams // V
        starts = np.flatnonzero(np.r_[True, ctx[1:] != ctx[:-1]]) if len(ctx) else ctx
        total = np.add.reduceat(count, starts) if len(ctx) else count
        types = np.diff(np.r_[starts, len(ctx)])
        return cls(grams, count, ctx[starts], total, types)

    def lookup(self, codes: np.ndarray, V: int) -> np.ndarray:
        """codes (P,) -> (3, P): count, context total, context types (0 if unseen).

        Sorted `codes` are looked up about three times faster (memory locality).
        """
        out = np.zeros((3, len(codes)), dtype=np.int64)
        for table, keys, values, rows in (
            (self.grams, codes, (self.count,), (0,)),
            (self.ctx, codes // V, (self.ctx_total, self.ctx_types), (1, 2)),
        ):
            idx = np.minimum(np.searchsorted(table, keys), max(len(table) - 1, 0))
            found = (
                (table[idx] == keys) & (codes >= 0)
                if len(table)
                else np.zeros(len(codes), bool)
            )
            for row, v in zip(rows, values):
                out[row, found] = v[idx[found]]
        return out


class NGramCounts:
    """Raw and continuation counts of every order 1..max_n in a training text.

    >>> counts = NGramCounts("abracadabra", Vocab.from_text("abcdr"), max_n=3)
    >>> counts.count("abr"), counts.count("a"), counts.continuation_count("a")
    (2, 5, 3)
    """

    def __init__(self, text: str, vocab: Vocab, max_n: int = 7) -> None:
        if (
            isinstance(max_n, bool)
            or not isinstance(max_n, int)
            or not 1 <= max_n <= 10
        ):
            raise ValueError(f"max_n must be an int in 1..10, got {max_n!r}")
        self.vocab, self.max_n, self.V = vocab, max_n, len(vocab)
        if (self.V + 1) ** max_n >= 2**63:
            raise ValueError(
                f"max_n={max_n} is too large for {self.V} symbols: "
                "codes would overflow int64"
            )
        ids = _encode(vocab, text, "training text")
        self.num_chars = len(ids)
        self.raw: dict[int, _Table] = {}  # order -> raw counts c
        self.cont: dict[
            int, _Table
        ] = {}  # order -> continuation counts N1+(.g), orders < max_n
        # One sort serves every order: sort the max_n-grams starting at each position
        # (digits id + 1 in base V + 1, 0 past the end), then every m-gram prefix is
        # sorted too.
        B, N = self.V + 1, len(ids)
        code = np.zeros(N, dtype=np.int64)  # (N,)
        for j in range(max_n):
            code[: N - j] += (ids[j:] + 1) * B ** (max_n - 1 - j)
        code.sort()
        first = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
        level, count = (
            code[first],
            np.diff(np.r_[first, N]),
        )  # distinct padded max_n-grams
        for m in range(max_n, 0, -1):
            if m < max_n:  # drop the last digit: m-gram prefixes, still sorted
                level //= B
                first = np.flatnonzero(np.r_[True, level[1:] != level[:-1]])
                level, count = level[first], np.add.reduceat(count, first)
            real = (
                level % B != 0
            )  # the m-grams that do not run past the end of the text
            digits, grams = level[real], np.zeros(int(real.sum()), dtype=np.int64)
            for k in range(
                m
            ):  # base V + 1 digits 1..V -> base V digits 0..V-1, order kept
                grams = grams * self.V + digits // B ** (m - 1 - k) % B - 1
            self.raw[m] = _Table.build(grams, count[real], self.V)
        for m in range(1, max_n):  # distinct (m+1)-grams, by their last m characters
            suffix = self.raw[m + 1].grams % self.V**m
            self.cont[m] = _Table.build(*np.unique(suffix, return_counts=True), self.V)

    def _code(self, gram: str) -> int:
        ids = _encode(self.vocab, gram, "n-gram")
        if len(ids) > self.max_n:
            raise ValueError(f"{gram!r} is longer than max_n={self.max_n}")
        return _pack(ids, self.V)

    def count(self, gram: str) -> int:
        """How often `gram` occurs in the training text."""
        return int(
            self.raw[len(gram)].lookup(np.array([self._code(gram)]), self.V)[0, 0]
        )

    def continuation_count(self, gram: str) -> int:
        """N1+(.gram): how many distinct characters precede `gram` in training."""
        if len(gram) >= self.max_n:
            raise ValueError(
                f"continuation counts exist for lengths < max_n={self.max_n}"
            )
        return int(
            self.cont[len(gram)].lookup(np.array([self._code(gram)]), self.V)[0, 0]
        )

    def next_counts(self, context: str) -> np.ndarray:
        """(V,) raw counts of each character after `context` (may be empty)."""
        if len(context) >= self.max_n:
            raise ValueError(f"context must be shorter than max_n={self.max_n}")
        return self._query_context(context)[1][len(context) + 1][0]

    def distinct(self, n: int, times: int | None = None) -> int:
        """Number of distinct n-grams in the training text.

        With `times`: only those seen exactly that often.
        """
        return (
            len(self.raw[n].grams)
            if times is None
            else int(np.sum(self.raw[n].count == times))
        )

    def _query_context(self, context: str) -> tuple[int, dict, dict]:
        """(avail, raw, cont) lookups of (context[-m+1:], w) for every w and order m."""
        ids = (
            _encode(self.vocab, context, "context")
            if context
            else np.zeros(0, np.int64)
        )
        if len(ids) >= self.max_n:
            ids = ids[len(ids) - self.max_n + 1 :]
        words = np.arange(self.V)
        raw, cont = {}, {}
        for m in range(1, len(ids) + 2):
            h = ids[len(ids) - m + 1 :]
            codes = (
                _pack(h, self.V) * self.V + words
            )  # (V,) codes of (h, w) for every w
            raw[m] = self.raw[m].lookup(codes, self.V)
            if m < self.max_n:
                cont[m] = self.cont[m].lookup(codes, self.V)
        return len(ids) + 1, raw, cont

    def held_out(self, text: str) -> HeldOut:
        """Look up every n-gram of `text` once, for fast scoring of many models."""
        y = _encode(self.vocab, text, "held-out text")
        if len(y) < 2:
            raise ValueError(
                "held-out text needs at least 2 characters "
                "(the first is never predicted)"
            )
        P = len(y) - 1
        codes = (
            y.copy()
        )  # codes[i]: the m-gram ending at i, -1 where it would start before 0
        raw, cont = {}, {}
        for m in range(1, self.max_n + 1):
            if m > 1:
                codes = np.r_[
                    -1, np.where(codes[:-1] >= 0, codes[:-1] * self.V + y[1:], -1)
                ]
            order = np.argsort(codes[1:])  # look up sorted keys, then put them back
            keys = codes[1:][order]
            raw[m] = np.empty((3, P), dtype=np.int64)
            raw[m][:, order] = self.raw[m].lookup(keys, self.V)  # (3, P)
            if m < self.max_n:
                cont[m] = np.empty((3, P), dtype=np.int64)
                cont[m][:, order] = self.cont[m].lookup(keys, self.V)
        return HeldOut(self, y, np.arange(2, P + 2), raw, cont)


@dataclass(frozen=True)
class HeldOut:
    """Counts looked up for every predicted position of a held-out text."""

    counts: NGramCounts
    ids: np.ndarray  # (N,) the text's ids
    avail: (
        np.ndarray
    )  # (P,) highest usable order at each position (1 + characters before it)
    raw: dict = field(repr=False)  # order -> (3, P) count, context total, context types
    cont: dict = field(
        repr=False
    )  # order -> (3, P), continuation counts, orders < max_n

    def __len__(self) -> int:
        return len(self.avail)


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(
        x, bool
    )


@dataclass(frozen=True)
class _Model:
    counts: NGramCounts
    n: int

    def __post_init__(self) -> None:
        n = self.n
        if (
            isinstance(n, bool)
            or not isinstance(n, int)
            or not 1 <= n <= self.counts.max_n
        ):
            raise ValueError(
                f"n must be an int in 1..{self.counts.max_n} (the counts' max_n), "
                f"got {n!r}"
            )

    def _prepare(self, avail: np.ndarray, raw: dict, cont: dict) -> tuple:
        """The parameter-free part of the computation, for every query (P,)."""
        raise NotImplementedError

    def _evaluate(self, prepared: tuple) -> np.ndarray:
        """(P,) probabilities from `_prepare`'s output and this model's parameter."""
        raise NotImplementedError

    def _probs(self, avail: np.ndarray, raw: dict, cont: dict) -> np.ndarray:
        return self._evaluate(self._prepare(avail, raw, cont))

    def next_probs(self, context: str) -> np.ndarray:
        """(V,) distribution of the character after `context` (its last n-1 count)."""
        avail, raw, cont = self.counts._query_context(
            context[max(0, len(context) - self.n + 1) :]
        )
        return self._probs(np.full(self.counts.V, avail), raw, cont)

    @property
    def vocab(self) -> Vocab:
        """The vocabulary of the counts."""
        return self.counts.vocab

    @property
    def vocab_size(self) -> int:
        return self.counts.V

    def forward(
        self, ids: Tensor, state: tuple[str, ...] | None = None
    ) -> tuple[Tensor, tuple[str, ...]]:
        """The character-model interface: ids (B, T) -> (log P (B, T, V), state).

        ``logits[b, t]`` is ``log next_probs(context)`` (float64) after the
        characters of row ``b`` up to ``t``, preceded by ``state[b]``, the
        row's last ``n - 1`` characters of an earlier call (``None``: no
        earlier text). Returns the new state.
        """
        ids = check_ids(ids, self.counts.V)
        B, _ = ids.shape
        past = ("",) * B if state is None else state
        if (
            not isinstance(past, tuple)
            or len(past) != B
            or not all(isinstance(h, str) for h in past)
        ):
            raise ValueError(
                f"state must be a tuple of {B} strings (each row's last characters), "
                f"or None; got {state!r:.80}"
            )
        chars, keep = self.counts.vocab.chars, self.n - 1
        probs = np.empty((*ids.shape, self.counts.V))  # (B, T, V)
        new = []
        for b, row in enumerate(ids.tolist()):
            h = past[b]
            for t, i in enumerate(row):
                h = (h + chars[i])[max(0, len(h) + 1 - keep) :] if keep else ""
                probs[b, t] = self.next_probs(h)
            new.append(h)
        with np.errstate(divide="ignore"):
            logits = np.log(probs)  # P = 0 -> -inf: never drawn
        return torch.from_numpy(logits), tuple(new)

    def __call__(
        self, ids: Tensor, state: tuple[str, ...] | None = None
    ) -> tuple[Tensor, tuple[str, ...]]:
        """The same as :meth:`forward`."""
        return self.forward(ids, state)

    def log2probs(self, text: str | HeldOut) -> np.ndarray:
        """(N-1,) log2 P of every character of `text` after the first."""
        held = text if isinstance(text, HeldOut) else self.counts.held_out(text)
        if held.counts is not self.counts:
            raise ValueError(
                "the HeldOut was looked up in other counts than this model's"
            )
        return np.log2(self._probs(held.avail, held.raw, held.cont))

    def bpc(self, text: str | HeldOut) -> float:
        """Bits per character on `text`.

        The mean -log2 P over every character but the first.
        """
        return float(-self.log2probs(text).mean())


@dataclass(frozen=True)
class AddK(_Model):
    """Add-k smoothing on the full n-1 character context, no backoff."""

    k: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (_is_number(self.k) and math.isfinite(self.k) and self.k > 0):
            raise ValueError(f"k must be a finite number > 0, got {self.k!r}")

    def _prepare(self, avail, raw, cont):
        top = np.minimum(self.n, avail)  # (P,)
        hi = int(top.max())
        c, tot = raw[hi][0].astype(float), raw[hi][1].astype(float)  # (P,) each
        for m in range(1, hi):  # short contexts at the start of a text
            sel = np.flatnonzero(top == m)
            c[sel], tot[sel] = raw[m][0, sel], raw[m][1, sel]
        return c, tot

    def _evaluate(self, prepared):
        c, tot = prepared
        return (c + self.k) / (tot + self.k * self.counts.V)


@dataclass(frozen=True)
class KneserNey(_Model):
    """Interpolated Kneser-Ney; `discount` is one D for all orders or one per order."""

    discount: float | tuple[float, ...] = 0.75

    def __post_init__(self) -> None:
        super().__post_init__()
        d = self.discount
        ds = (
            (d,) * self.n
            if _is_number(d)
            else tuple(d)
            if isinstance(d, (tuple, list))
            else ()
        )
        if len(ds) != self.n or not all(_is_number(x) and 0 < x <= 1 for x in ds):
            raise ValueError(
                f"discount must be one number in (0, 1] or {self.n} of them, got {d!r}"
            )

    @property
    def discounts(self) -> tuple[float, ...]:
        """(D_1, ..., D_n)."""
        d = self.discount
        return (
            (float(d),) * self.n
            if isinstance(d, (int, float))
            else tuple(map(float, d))
        )

    def _prepare(self, avail, raw, cont):
        """Per order m: a(hw), 1/a(h), T(h)/a(h) and `keep` (1 where m is skipped)."""
        top = np.minimum(self.n, avail)  # (P,)
        terms = []
        for m in range(1, int(top.max()) + 1):
            a, tot, types = (cont[m] if m in cont else raw[m]).astype(
                float
            )  # (P,) each, copies
            own = np.flatnonzero(top == m)  # the model's own order: raw counts
            a[own], tot[own], types[own] = raw[m][:, own]
            active = (top >= m) & (tot > 0)  # else P_m = P_{m-1}
            inv = np.where(active, 1.0 / np.maximum(tot, 1.0), 0.0)
            terms.append((a, inv, types * inv, (~active).astype(float)))
        return tuple(terms)

    def _evaluate(self, prepared):
        p = np.full(len(prepared[0][0]), 1.0 / self.counts.V)  # P_0, uniform
        for (a, inv, t_inv, keep), d in zip(prepared, self.discounts):
            p = np.maximum(a - d, 0.0) * inv + (d * t_inv + keep) * p  # equation of P_m
        return p


def make_model(
    counts: NGramCounts, smoothing: str, n: int, param: float
) -> AddK | KneserNey:
    """AddK(k=param) or KneserNey(discount=param) by name ('add-k' or 'kneser-ney')."""
    if smoothing == "add-k":
        return AddK(counts, n, k=param)
    if smoothing == "kneser-ney":
        return KneserNey(counts, n, discount=param)
    raise ValueError(f"smoothing must be one of {SMOOTHINGS}, got {smoothing!r}")


def sweep(
    held: HeldOut, smoothing: str, n: int, grid: Sequence[float] | None = None
) -> np.ndarray:
    """Bits per character of `held` for each parameter of `grid`.

    The default grid is K_GRID (add-k) or D_GRID (Kneser-Ney).
    """
    grid = (K_GRID if smoothing == "add-k" else D_GRID) if grid is None else grid
    if not len(grid):
        raise ValueError("empty grid: give at least one parameter value")
    models = [make_model(held.counts, smoothing, n, p) for p in grid]
    prepared = models[0]._prepare(
        held.avail, held.raw, held.cont
    )  # shared by the whole grid
    return np.array([-np.log2(m._evaluate(prepared)).mean() for m in models])


def tune(
    held: HeldOut, smoothing: str, n: int, grid: Sequence[float] | None = None
) -> tuple[float, float]:
    """(parameter, bpc): grid value with the lowest bpc on `held`, first if tied."""
    grid = (K_GRID if smoothing == "add-k" else D_GRID) if grid is None else grid
    bpcs = sweep(held, smoothing, n, grid)
    best = int(np.argmin(bpcs))
    return float(grid[best]), float(bpcs[best])


def validation_table(
    valid: HeldOut, orders: Sequence[int] | None = None
) -> dict[str, list[dict]]:
    """smoothing -> one row per n (default 1..max_n): {'n', 'param', 'bpc'}.

    Each param is tuned on `valid`.
    """
    orders = range(1, valid.counts.max_n + 1) if orders is None else orders
    return {
        s: [dict(zip(("n", "param", "bpc"), (n, *tune(valid, s, n)))) for n in orders]
        for s in SMOOTHINGS
    }


def best_of(table: dict[str, list[dict]]) -> dict:
    """The row with the lowest validation bpc of both smoothings, with its smoothing."""
    rows = [dict(row, smoothing=s) for s, rs in table.items() for row in rs]
    return min(rows, key=lambda r: (r["bpc"], r["n"]))


def baseline(corpus: Corpus | None = None, max_n: int = 7) -> dict:
    """The book's n-gram baseline: the configuration best on the validation plays.

    Counts come from the training plays, every order 1..max_n and both smoothings
    are tuned on the validation plays, and only the winner is scored on the test
    plays. Returns plain Python values: 'smoothing', 'n', 'param' (k or D),
    'valid_bpc', 'test_bpc' and the whole 'table' of validation results.
    Deterministic; a few seconds on one core after the corpus is loaded. Any
    object with the str attributes ``train``, ``valid``, ``test`` and ``text``
    (all splits, for the vocabulary) can stand in for the corpus.
    """
    if corpus is None:
        corpus = load_corpus()
    counts = NGramCounts(corpus.train, Vocab.from_text(corpus.text), max_n=max_n)
    table = validation_table(counts.held_out(corpus.valid))
    best = best_of(table)
    model = make_model(counts, best["smoothing"], best["n"], best["param"])
    return {
        "smoothing": best["smoothing"],
        "n": best["n"],
        "param": best["param"],
        "valid_bpc": best["bpc"],
        "test_bpc": model.bpc(corpus.test),
        "table": table,
    }
