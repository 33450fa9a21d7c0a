"""Decoding a character model: greedy, temperature, top-k and top-p (nucleus) sampling.

A language model gives, after each prefix, scores ``z`` (logits) for the next
character; decoding chooses one. :func:`filter_logits` reshapes the scores
(temperature, then top-k, then top-p, the order of common implementations),
:func:`choose` draws from them, and :func:`generate` runs a model from a
prompt and records, for every character it writes, its probability under the
model and under the distribution it was drawn from, the entropy of both, and
the model's top alternatives. :func:`sample` is the same call that returns
only the text.

This is the book's one decoding path. It runs any
:class:`~rnnviz.protocols.CharModel`, ``model(ids (B, T), state) -> (logits
(B, T, V), state)``: it reads the prompt once, then feeds back one character
per step with the state it got. A ``CharLM`` carries its recurrent state; a
``CharTransformer`` carries its key/value cache (so each new character costs
one position); the n-gram models of :mod:`rnnviz.ngram` carry their last
characters and return log-probabilities as logits. There is one temperature
convention: ``temperature`` must be > 0, and the limit ``T -> 0`` is the
explicit ``strategy="greedy"``.

Every random draw comes from a ``torch.Generator`` seeded by the caller; the
global random state is never used.

>>> z = torch.tensor([2.0, 1.0, 0.0, -1.0])
>>> filter_logits(z, top_k=2)
tensor([2., 1., -inf, -inf])
>>> filter_logits(z, top_p=0.7).isfinite().tolist()  # p = .64, .24, ...: two reach 0.7
[True, True, False, False]
>>> distinct_n("abcabcabc", 3), find_loop("the cat sat. sat. sat. sat.")
(0.42857142857142855, Loop(start=7, period=5))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from rnnviz._checks import nonnegative_int, positive_int
from rnnviz.data import UnknownCharacterError, Vocab
from rnnviz.protocols import CharModel, check_char_model

STRATEGIES = ("greedy", "temperature", "top-k", "top-p")
#: Settings of the sampling lab, pairs (label, keyword arguments of :func:`generate`).
LAB_SETTINGS: tuple[tuple[str, dict], ...] = (
    ("greedy", dict(strategy="greedy")),
    ("T = 0.5", dict(strategy="temperature", temperature=0.5)),
    ("T = 0.8", dict(strategy="temperature", temperature=0.8)),
    ("T = 1.0", dict(strategy="temperature", temperature=1.0)),
    ("T = 1.3", dict(strategy="temperature", temperature=1.3)),
    ("top-k, k = 5", dict(strategy="top-k", top_k=5)),
    ("top-k, k = 20", dict(strategy="top-k", top_k=20)),
    ("top-p, p = 0.5", dict(strategy="top-p", top_p=0.5)),
    ("top-p, p = 0.9", dict(strategy="top-p", top_p=0.9)),
)
_LN2 = math.log(2.0)


def _check_logits(logits: Tensor) -> None:
    if not isinstance(logits, Tensor):
        raise TypeError(f"logits must be a torch.Tensor, got {type(logits).__name__}")
    if not logits.is_floating_point():
        raise TypeError(
            f"logits must be a floating-point tensor, got dtype {logits.dtype}"
        )
    if logits.dim() not in (1, 2) or logits.shape[-1] == 0:
        raise ValueError(
            "logits must have shape (V,) or (B, V) with V >= 1, got "
            f"{tuple(logits.shape)}"
        )
    if torch.isnan(logits).any() or (logits == math.inf).any():
        raise ValueError("logits contain NaN or +inf")
    if not torch.isfinite(logits).any(-1).all():
        raise ValueError(
            "a row of logits is entirely -inf: nothing left to choose from"
        )


def _check_params(temperature: float, top_k: int | None, top_p: float | None) -> None:
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, (int, float))
        or not math.isfinite(temperature)
    ):
        raise ValueError(
            f"temperature must be a finite number > 0, got {temperature!r}"
        )
    if temperature <= 0:
        raise ValueError(
            f"temperature must be > 0, got {temperature!r}: for the limit T -> 0 "
            "use strategy='greedy' (argmax)"
        )
    if top_k is not None and (
        isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1
    ):
        raise ValueError(
            f"top_k must be an int >= 1 (or None for no cut), got {top_k!r}"
        )
    if top_p is not None and (
        isinstance(top_p, bool)
        or not isinstance(top_p, (int, float))
        or not 0.0 < top_p <= 1.0
    ):
        raise ValueError(f"top_p must be in (0, 1] (or None for no cut), got {top_p!r}")


def filter_logits(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> Tensor:
    """Logits of the sampling distribution: ``z / T``, dropped characters at ``-inf``.

    logits: (V,) or (B, V). Returns a new tensor of the same shape and dtype;
    ``softmax`` of it is the distribution to draw from.

    - temperature ``T``: ``softmax(z / T)``; ``T < 1`` sharpens, ``T > 1`` flattens.
    - ``top_k``: keep the ``k`` largest scores (all of them if ``k >= V``).
    - ``top_p`` (nucleus): after temperature and top-k, keep the smallest set of
      most likely characters whose probability reaches ``p`` (at least one).

    Ties are broken by index, deterministically: among equal scores the
    lower id ranks first (a stable sort), for both cuts.
    """
    _check_logits(logits)
    _check_params(temperature, top_k, top_p)
    z = logits / temperature  # a new tensor: the input is never changed
    V = z.shape[-1]
    if top_k is not None and top_k < V:
        order = torch.sort(z, dim=-1, descending=True, stable=True).indices  # (..., V)
        drop = order[..., top_k:]
        z = z.scatter(-1, drop, -math.inf)
    if top_p is not None and top_p < 1.0:
        probs = torch.softmax(
            z.double(), dim=-1
        )  # float64, so the cumulative sum is exact enough
        sorted_p, order = torch.sort(probs, dim=-1, descending=True, stable=True)
        before = (
            torch.cumsum(sorted_p, dim=-1) - sorted_p
        )  # probability of the better-ranked ones
        drop_sorted = (
            before >= top_p
        )  # the first character has before = 0 < p: always kept
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        z = z.masked_fill(drop, -math.inf)
    return z


def entropy_bits(logits: Tensor) -> Tensor:
    """Entropy of ``softmax(logits)`` in bits, (..., V) -> (...); ``-inf`` gives 0."""
    p = torch.softmax(logits.double(), dim=-1)
    return torch.special.entr(p).sum(-1) / _LN2


def choose(
    logits: Tensor,
    strategy: str = "temperature",
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """One character id per row: logits (B, V) -> ids (B,) (or (V,) -> a 0-d tensor).

    ``greedy`` is the argmax (ties: the lowest id). The other strategies draw
    from ``softmax(filter_logits(...))`` with ``generator``.
    """
    top_k, top_p = _check_strategy(strategy, top_k, top_p)
    _check_logits(logits)
    if strategy == "greedy":
        return logits.argmax(-1)
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"sampling needs a torch.Generator, got {type(generator).__name__}"
        )
    probs = torch.softmax(filter_logits(logits, temperature, top_k, top_p), dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def _check_strategy(
    strategy: str, top_k: int | None, top_p: float | None
) -> tuple[int | None, float | None]:
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if strategy == "top-k" and top_k is None:
        raise ValueError("strategy 'top-k' needs top_k")
    if strategy == "top-p" and top_p is None:
        raise ValueError("strategy 'top-p' needs top_p")
    if top_k is not None and strategy != "top-k":
        raise ValueError(
            f"top_k is used only by strategy 'top-k', got strategy {strategy!r}"
        )
    if top_p is not None and strategy != "top-p":
        raise ValueError(
            f"top_p is used only by strategy 'top-p', got strategy {strategy!r}"
        )
    return top_k, top_p


@dataclass(frozen=True)
class Step:
    """One generated character and the distribution it came from (entropies in bits)."""

    char: str
    prob: float  # p(char) under the model, softmax(z)
    prob_filtered: (
        float  # p(char) under the distribution it was drawn from (1.0 for greedy)
    )
    entropy: float  # entropy of softmax(z)
    entropy_filtered: (
        float  # entropy of the distribution it was drawn from (0.0 for greedy)
    )
    support: int  # characters left with nonzero probability (1 for greedy)
    top: tuple[
        tuple[str, float], ...
    ]  # the model's most likely characters, (char, p), best first


@dataclass(frozen=True)
class Generation:
    """A prompt, the characters written after it, and how each was chosen."""

    prompt: str
    steps: tuple[Step, ...]
    strategy: str
    temperature: float | None
    top_k: int | None
    top_p: float | None
    seed: int
    vocab_size: int

    @property
    def text(self) -> str:
        """The generated characters (without the prompt)."""
        return "".join(s.char for s in self.steps)

    @property
    def label(self) -> str:
        return describe(self.strategy, self.temperature, self.top_k, self.top_p)

    def _array(self, name: str) -> np.ndarray:
        return np.array([getattr(s, name) for s in self.steps], dtype=float)  # (n,)

    @property
    def probs(self) -> np.ndarray:
        return self._array("prob")

    @property
    def entropies(self) -> np.ndarray:
        return self._array("entropy")

    @property
    def surprisal(self) -> np.ndarray:
        """Surprisal -log2 p(char) of each character under the model in bits, (n,)."""
        return -np.log2(self.probs)

    def stats(self, n: int = 4) -> dict[str, float]:
        """Mean surprisal and entropy (bits per character), distinct-n, loop share."""
        if len(self.steps) < n:
            raise ValueError(
                f"need at least {n} generated characters for statistics, "
                f"got {len(self.steps)}"
            )
        loop = find_loop(self.text)
        return {
            "surprisal_bits": float(self.surprisal.mean()),
            "entropy_bits": float(self.entropies.mean()),
            f"distinct_{n}": distinct_n(self.text, n),
            "loop_share": 0.0
            if loop is None
            else (len(self.text) - loop.start) / len(self.text),
        }


def describe(
    strategy: str,
    temperature: float | None = None,
    top_k: int | None = None,
    top_p: float | None = None,
) -> str:
    """A short label such as ``'greedy'``, ``'T = 0.8'``, ``'top-k, k = 5'`` or
    ``'top-p, p = 0.9, T = 0.8'``."""
    if strategy == "greedy":
        return "greedy"
    t = (
        f"T = {temperature:.1f}"
        if temperature == round(temperature, 1)
        else f"T = {temperature:g}"
    )
    if strategy == "temperature":
        return t
    cut = (
        f"{strategy}, k = {top_k}"
        if strategy == "top-k"
        else f"{strategy}, p = {top_p:g}"
    )
    return cut if temperature == 1.0 else f"{cut}, {t}"


def _check_prompts(vocab: Vocab, prompt: str | Sequence[str]) -> tuple[str, ...]:
    """The prompts as a tuple: one str, or a non-empty sequence of equally long ones."""
    prompts = (prompt,) if isinstance(prompt, str) else prompt
    if not isinstance(prompts, Sequence) or not prompts:
        raise TypeError(
            "prompt must be a str or a non-empty sequence of str, got "
            f"{type(prompt).__name__}"
        )
    for p in prompts:
        if not isinstance(p, str):
            raise TypeError(f"prompt must be a str, got {type(p).__name__}")
        if not p:
            raise ValueError(
                "prompt is empty: give at least one character to condition on"
            )
        unknown = sorted(set(p) - set(vocab.chars))
        if unknown:
            raise UnknownCharacterError(
                f"prompt has characters not in the vocabulary: {unknown!r}"
            )
    lengths = sorted({len(p) for p in prompts})
    if len(lengths) > 1:
        raise ValueError(
            "prompts read side by side must have the same length, got lengths "
            f"{lengths}"
        )
    return tuple(prompts)


def _check_vocab(model: CharModel, vocab: Vocab) -> None:
    if not isinstance(vocab, Vocab):
        raise TypeError(f"vocab must be a rnnviz Vocab, got {type(vocab).__name__}")
    size = getattr(model, "vocab_size", None)
    if isinstance(size, int) and len(vocab) != size:
        raise ValueError(
            f"vocab must be the model's Vocab of {size} characters, "
            f"got {len(vocab)} characters"
        )
    own = getattr(model, "vocab", None)
    if isinstance(own, Vocab) and own != vocab:
        raise ValueError("vocab differs from the model's own vocab")


def _step(model: CharModel, ids: Tensor, state: Any, V: int) -> tuple[Tensor, Any]:
    """One call of the model, checked: ids (B, T) -> (logits (B, T, V), state)."""
    out = model(ids, state)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError(
            "model(ids, state) must return a pair (logits, state), got "
            f"{type(out).__name__}"
        )
    logits, state = out
    if not isinstance(logits, Tensor) or not logits.is_floating_point():
        raise TypeError(
            "the model's logits must be a floating-point torch.Tensor, got "
            f"{getattr(logits, 'dtype', type(logits).__name__)}"
        )
    expected = (*ids.shape, V)
    if tuple(logits.shape) != expected:
        raise ValueError(
            f"the model returned logits of shape {tuple(logits.shape)} for ids of "
            f"shape {tuple(ids.shape)}: expected (B, T, V) = {expected}"
        )
    if torch.isnan(logits[:, -1]).any():
        raise ValueError("the model's logits contain NaN: cannot decode from them")
    return logits, state


@torch.no_grad()
def generate_many(
    model: CharModel,
    vocab: Vocab,
    prompt: str | Sequence[str],
    n: int,
    samples: int = 1,
    *,
    strategy: str = "temperature",
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int = 0,
    top: int = 5,
) -> list[Generation]:
    """``samples`` continuations of ``prompt``, ``n`` characters each, in one batch.

    ``model`` is any :class:`~rnnviz.protocols.CharModel`. ``prompt`` is one
    string or a sequence of equally long strings; every prompt gets
    ``samples`` rows, read side by side (prompt ``i``, sample ``j`` is entry
    ``i * samples + j`` of the result). The prompts are read in one call, then
    each chosen character is fed back with the returned state (no call after
    the last one). A model with ``eval``/``train`` runs in eval mode (no
    dropout) and is put back as it was. The draws come from
    ``torch.Generator().manual_seed(seed)``, so the same call gives the same
    texts; ``top`` alternatives are kept per step.
    """
    check_char_model(model)
    _check_vocab(model, vocab)
    prompts = _check_prompts(vocab, prompt)
    top_k, top_p = _check_strategy(strategy, top_k, top_p)
    if strategy != "greedy":
        _check_params(temperature, top_k, top_p)
    nonnegative_int("n", n)
    positive_int("samples", samples)
    nonnegative_int("top", top)
    gen = torch.Generator().manual_seed(seed)
    was_training = getattr(model, "training", None)
    switch = isinstance(was_training, bool) and callable(getattr(model, "train", None))
    if switch:
        model.train(False)
    try:
        ids = torch.stack([vocab.encode(p) for p in prompts])  # (P, L)
        ids = ids.repeat_interleave(samples, 0)  # (B, L), B = P * samples
        logits, state = _step(model, ids, None, len(vocab))  # (B, L, V)
        z, out = [], []
        for i in range(n):
            last = logits[:, -1]  # (B, V)
            nxt = choose(
                last,
                strategy,
                temperature=temperature,
                top_k=top_k,
                top_p=top_p,
                generator=gen,
            )  # (B,)
            z.append(last)
            out.append(nxt)
            if i + 1 < n:
                logits, state = _step(model, nxt[:, None], state, len(vocab))
    finally:
        if switch:
            model.train(was_training)
    settings = dict(
        strategy=strategy,
        temperature=None if strategy == "greedy" else float(temperature),
        top_k=top_k,
        top_p=top_p,
        seed=seed,
        vocab_size=len(vocab),
    )
    rows = [p for p in prompts for _ in range(samples)]
    if n == 0:
        return [Generation(prompt=p, steps=(), **settings) for p in rows]
    steps = _steps(torch.stack(z, 1), torch.stack(out, 1), vocab, settings, top)
    return [Generation(prompt=p, steps=s, **settings) for p, s in zip(rows, steps)]


def _steps(
    z: Tensor, ids: Tensor, vocab: Vocab, settings: dict, top: int
) -> list[tuple[Step, ...]]:
    """Per-step records from the logits z (B, n, V) and the chosen ids (B, n)."""
    logp = torch.log_softmax(z.double(), -1)  # (B, n, V)
    prob = logp.gather(-1, ids[..., None]).squeeze(-1).exp()  # (B, n)
    ent = entropy_bits(z)  # (B, n)
    if settings["strategy"] == "greedy":
        prob_f, ent_f, support = (
            torch.ones_like(prob),
            torch.zeros_like(ent),
            torch.ones_like(ids),
        )
    else:
        zf = filter_logits(
            z.flatten(0, 1),
            settings["temperature"],
            settings["top_k"],
            settings["top_p"],
        )
        zf = zf.view(z.shape)  # (B, n, V)
        prob_f = (
            torch.softmax(zf.double(), -1).gather(-1, ids[..., None]).squeeze(-1)
        )  # (B, n)
        ent_f, support = entropy_bits(zf), torch.isfinite(zf).sum(-1)  # (B, n)
    k = min(top, z.shape[-1])
    top_q, top_i = torch.sort(logp.exp(), dim=-1, descending=True, stable=True)
    top_q, top_i = top_q[..., :k].tolist(), top_i[..., :k].tolist()  # (B, n, k)
    chars = vocab.chars
    cols = [
        prob.tolist(),
        prob_f.tolist(),
        ent.tolist(),
        ent_f.tolist(),
        support.tolist(),
        ids.tolist(),
    ]
    return [
        tuple(
            Step(
                char=chars[i],
                prob=p,
                prob_filtered=pf,
                entropy=h,
                entropy_filtered=hf,
                support=s,
                top=tuple((chars[j], q) for j, q in zip(tj, tq)),
            )
            for p, pf, h, hf, s, i, tj, tq in zip(
                *(c[b] for c in cols), top_i[b], top_q[b]
            )
        )
        for b in range(ids.shape[0])
    ]


def generate(
    model: CharModel,
    vocab: Vocab,
    prompt: str,
    n: int,
    *,
    strategy: str = "temperature",
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int = 0,
    top: int = 5,
) -> Generation:
    """Continue ``prompt`` by ``n`` characters; :func:`generate_many` with one row.

    ``strategy``: ``"greedy"`` (argmax), ``"temperature"`` (draw from
    ``softmax(z / T)``), ``"top-k"`` (needs ``top_k``) or ``"top-p"`` (needs
    ``top_p``); the last two also apply ``temperature`` first.
    """
    if not isinstance(prompt, str):
        raise TypeError(
            f"prompt must be a str, got {type(prompt).__name__} "
            "(generate_many reads several prompts)"
        )
    return generate_many(
        model,
        vocab,
        prompt,
        n,
        1,
        strategy=strategy,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        seed=seed,
        top=top,
    )[0]


def sample(
    model: CharModel,
    vocab: Vocab,
    prompt: str,
    n: int,
    *,
    strategy: str = "temperature",
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int = 0,
) -> str:
    """``prompt`` followed by the ``n`` characters that :func:`generate` writes.

    The same settings and draws as :func:`generate`; only the text is kept.
    """
    gen = generate(
        model,
        vocab,
        prompt,
        n,
        strategy=strategy,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        seed=seed,
        top=0,
    )
    return prompt + gen.text


def run_lab(
    model: CharModel,
    vocab: Vocab,
    prompt: str,
    n: int,
    *,
    seed: int = 0,
    settings: tuple[tuple[str, dict], ...] = LAB_SETTINGS,
) -> dict[str, Generation]:
    """One generation per setting (default :data:`LAB_SETTINGS`), all from ``seed``.

    Returns label -> Generation.
    """
    return {
        label: generate(model, vocab, prompt, n, seed=seed, **kw)
        for label, kw in settings
    }


def distinct_n(text: str, n: int) -> float:
    """Distinct ``n``-grams over all ``n``-grams of ``text`` (1.0: none repeats)."""
    positive_int("n", n)
    grams = [text[i : i + n] for i in range(len(text) - n + 1)]
    if not grams:
        raise ValueError(f"text of {len(text)} characters has no {n}-grams")
    return len(set(grams)) / len(grams)


class Loop(NamedTuple):
    start: int  # where the text starts repeating itself
    period: int  # length of the repeated piece


def find_loop(text: str, min_repeats: int = 3) -> Loop | None:
    """The earliest point from which ``text`` repeats one piece to its end.

    The piece must occur at least ``min_repeats`` times.

    Returns ``Loop(start, period)`` (the shortest period among the earliest
    starts), or None if the text does not end in such a loop.
    """
    if (
        isinstance(min_repeats, bool)
        or not isinstance(min_repeats, int)
        or min_repeats < 2
    ):
        raise ValueError(f"min_repeats must be an int >= 2, got {min_repeats!r}")
    a = np.frombuffer(text.encode("utf-32-le"), dtype="<u4")  # (L,)
    L, best = len(a), None
    for p in range(1, L // min_repeats + 1):
        differ = np.flatnonzero(a[:-p] != a[p:])  # a[i] != a[i + p]
        start = int(differ[-1]) + 1 if differ.size else 0
        if L - start >= min_repeats * p and (best is None or start < best.start):
            best = Loop(start, p)
    return best
