"""A small decoder-only (causal) Transformer character model, for Part 5.

Pre-LayerNorm blocks (Vaswani et al. 2017, with the normalisation moved in
front of each sub-layer as in GPT-2), learned positional embeddings and
multi-head self-attention written out as the equation

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k) + M) V,   M[t, s] = -inf for s > t,

so that each position sees itself and the past only. ``CharTransformer`` has
the interface of every character model of the book,
:class:`~rnnviz.protocols.CharModel` (``forward(ids (B, T), state) ->
(logits (B, T, V), state)``), so :func:`rnnviz.train.train` trains it and
:func:`rnnviz.sampling.generate` decodes it as they are. It sees at most
``context`` characters.

Its state is a key/value cache (:class:`KVState`): the keys and values of
the characters already read, kept per layer, so that each new character
costs one position's work instead of a full forward pass over the prefix.
When the context is full, the model starts a new cache from the last
``context // 2`` characters (the new one included) and goes on.
:class:`Uncached` reads the same model without a cache, re-running the last
``context`` characters for every new one: the comparison the chapter times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from rnnviz._checks import positive_int, probability, seeded
from rnnviz.data import Vocab, check_ids, check_stream

# Keys and values kept per layer during generation, each (B, heads, t, d_head).
Cache = list[tuple[Tensor, Tensor]]


@dataclass(frozen=True, eq=False)
class KVState:
    """What a :class:`CharTransformer` carries from one call to the next.

    ``cache``: per layer the keys and values ``(k, v)`` of the positions read,
    each (B, heads, t, d_head); ``ids``: the characters they hold, (B, t),
    oldest first, so that the model can re-read the latest ones when its
    context is full.
    """

    cache: Cache
    ids: Tensor

    def __len__(self) -> int:
        return self.ids.shape[1]

    def detach(self) -> KVState:
        """The same state cut from the autograd graph (for stateful training)."""
        cache = [(k.detach(), v.detach()) for k, v in self.cache]
        return KVState(cache, self.ids)


def causal_attention(q: Tensor, k: Tensor, v: Tensor, offset: int = 0) -> Tensor:
    """softmax(q k^T / sqrt(d_k) + M) v with the causal mask M.

    q (B, h, Tq, d_k); k, v (B, h, Tk, d_k). Query i sits at position
    ``offset + i`` and key j at position j, so query i may see keys
    j <= offset + i (``offset = Tk - Tq`` when the keys include a cache).
    """
    Tq, Tk = q.shape[-2], k.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, h, Tq, Tk)
    future = torch.ones(Tq, Tk, dtype=torch.bool, device=q.device).triu(
        1 + offset
    )  # True above the diagonal
    scores = scores.masked_fill(future, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v  # (B, h, Tq, d_k)


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention: q, k, v projections, heads, mask, output."""

    def __init__(self, d_model: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads, self.d_head = num_heads, d_model // num_heads
        self.q = nn.Linear(d_model, d_model)
        self.k = nn.Linear(d_model, d_model)
        self.v = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)

    def _heads(self, x: Tensor) -> Tensor:
        B, T, _ = x.shape
        return x.view(B, T, self.num_heads, self.d_head).transpose(
            1, 2
        )  # (B, h, T, d_head)

    def forward(
        self, x: Tensor, cache: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """x (B, T, d) -> (y (B, T, d), (k, v) with the cache, each (B, h, t, d_h))."""
        B, T, d = x.shape
        q, k, v = self._heads(self.q(x)), self._heads(self.k(x)), self._heads(self.v(x))
        offset = 0
        if cache is not None:
            offset = cache[0].shape[-2]
            k, v = torch.cat([cache[0], k], dim=-2), torch.cat([cache[1], v], dim=-2)
        y = causal_attention(q, k, v, offset)  # (B, h, T, d_head)
        return self.out(y.transpose(1, 2).reshape(B, T, d)), (k, v)


class Block(nn.Module):
    """x + attention(LayerNorm(x)), then x + MLP(LayerNorm(x)).

    The MLP is d -> 4d -> d with GELU.
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, num_heads)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model)
        )
        self.drop = nn.Dropout(dropout)

    def forward(
        self, x: Tensor, cache: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """x (B, T, d) -> (x + attention + MLP (B, T, d), (k, v) with the cache)."""
        a, kv = self.attn(self.ln1(x), cache)
        x = x + self.drop(a)
        return x + self.drop(self.mlp(self.ln2(x))), kv  # (B, T, d)


class CharTransformer(nn.Module):
    """Token + position embeddings -> ``num_layers`` pre-LN blocks -> LayerNorm -> head.

    ``forward(ids (B, T), state=None) -> (logits (B, T, V), state)``: the state
    is a :class:`KVState`; without one, T <= context. ``seed`` makes the
    initial weights reproducible without touching the global random state.
    """

    def __init__(
        self,
        vocab_size: int,
        d_model: int = 128,
        num_layers: int = 2,
        num_heads: int = 4,
        context: int = 256,
        dropout: float = 0.0,
        seed: int | None = None,
        vocab: Vocab | None = None,
    ) -> None:
        super().__init__()
        for name, val in (
            ("vocab_size", vocab_size),
            ("d_model", d_model),
            ("num_layers", num_layers),
            ("num_heads", num_heads),
            ("context", context),
        ):
            positive_int(name, val)
        if d_model % num_heads:
            raise ValueError(
                f"d_model={d_model} must be divisible by num_heads={num_heads}"
            )
        probability("dropout", dropout)
        if vocab is not None and len(vocab) != vocab_size:
            raise ValueError(
                f"vocab has {len(vocab)} characters but vocab_size={vocab_size}"
            )
        self.vocab = vocab
        self._config = dict(
            vocab_size=vocab_size,
            d_model=d_model,
            num_layers=num_layers,
            num_heads=num_heads,
            context=context,
            dropout=dropout,
        )
        with seeded(seed):
            self.tok = nn.Embedding(vocab_size, d_model)
            self.pos = nn.Embedding(context, d_model)
            self.drop = nn.Dropout(dropout)
            self.blocks = nn.ModuleList(
                Block(d_model, num_heads, dropout) for _ in range(num_layers)
            )
            self.ln_f = nn.LayerNorm(d_model)
            self.head = nn.Linear(d_model, vocab_size)
            for (
                name,
                p,
            ) in (
                self.named_parameters()
            ):  # GPT-2's initialisation: N(0, 0.02) weights, zero biases
                if name.endswith("bias"):
                    nn.init.zeros_(p)
                elif p.dim() >= 2:
                    nn.init.normal_(p, 0.0, 0.02)

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments (JSON-serialisable)."""
        return dict(self._config)

    @property
    def vocab_size(self) -> int:
        return self._config["vocab_size"]

    @property
    def context(self) -> int:
        return self._config["context"]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def check_ids(self, ids: Tensor, past: int = 0) -> Tensor:
        """Validate ids (B, T): integer, values in [0, V), past + T <= context."""
        ids = check_ids(ids, self.vocab_size)
        if past + ids.shape[1] > self.context:
            raise ValueError(
                f"sequence of {past + ids.shape[1]} positions exceeds the context of "
                f"{self.context}: a CharTransformer cannot see further back than "
                "its context"
            )
        return ids

    def forward_cached(
        self, ids: Tensor, cache: Cache | None = None
    ) -> tuple[Tensor, Cache]:
        """Logits for ``ids`` (B, T) after the positions held in ``cache``.

        Returns (logits (B, T, V), the longer cache).
        """
        past = 0 if cache is None else cache[0][0].shape[-2]
        return self._run(self.check_ids(ids, past), cache, past)

    def _run(self, ids: Tensor, cache: Cache | None, past: int) -> tuple[Tensor, Cache]:
        """:meth:`forward_cached` on ids already checked, ``past`` positions cached."""
        T = ids.shape[1]
        x = self.drop(
            self.tok(ids) + self.pos(torch.arange(past, past + T))
        )  # (B, T, d)
        new: Cache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, None if cache is None else cache[i])
            new.append(kv)
        return self.head(self.ln_f(x)), new  # (B, T, V)

    @property
    def restart_length(self) -> int:
        """Characters a full context restarts from (the newest one included)."""
        return max(1, self.context // 2)

    def forward(
        self, ids: Tensor, state: KVState | None = None
    ) -> tuple[Tensor, KVState]:
        """Scores for the next character: ids (B, T) -> (logits (B, T, V), state).

        ``state=None`` reads ``ids`` from the first position (T <= context).
        With the :class:`KVState` of an earlier call, ``ids`` continue those
        texts: each new position costs one position's work, and when the
        context is full the cache restarts from the last
        :attr:`restart_length` characters (the next one included).
        """
        if state is None:
            ids = self.check_ids(ids)
            logits, cache = self._run(ids, None, 0)
            return logits, KVState(cache, ids)
        if not isinstance(state, KVState):
            raise TypeError(
                "a CharTransformer's state is the KVState it returned, or None; got "
                f"{type(state).__name__}"
            )
        ids = check_ids(ids, self.vocab_size)
        if ids.shape[0] != state.ids.shape[0]:
            raise ValueError(
                f"ids have {ids.shape[0]} rows but the state holds {state.ids.shape[0]}"
            )
        cache, covered, pieces = state.cache, state.ids, []
        while ids.shape[1]:
            if covered.shape[1] == self.context:  # full: re-read the latest ones
                covered = covered[:, covered.shape[1] - (self.restart_length - 1) :]
                piece = ids[:, : self.context - covered.shape[1]]
                logits, cache = self._run(torch.cat([covered, piece], 1), None, 0)
                logits = logits[:, covered.shape[1] :]  # (B, piece, V)
            else:
                piece = ids[:, : self.context - covered.shape[1]]
                logits, cache = self._run(piece, cache, covered.shape[1])
            covered = torch.cat([covered, piece], 1)  # (B, t)
            pieces.append(logits)
            ids = ids[:, piece.shape[1] :]
        return torch.cat(pieces, 1), KVState(cache, covered)  # (B, T, V)


class Uncached(nn.Module):
    """A :class:`CharTransformer` read without a key/value cache, for comparison.

    ``forward(ids (B, T), state) -> (logits (B, T, V), state)`` with ``state``
    the last ``context`` characters read, (B, t): every new character re-runs
    the whole window of the last ``context`` characters from scratch. While the
    text fits the context it gives the cached model's logits, at far more work
    per character; beyond, it slides by one character where the cache restarts.
    """

    def __init__(self, model: CharTransformer) -> None:
        super().__init__()
        if not isinstance(model, CharTransformer):
            raise TypeError(
                f"Uncached wraps a CharTransformer, got {type(model).__name__}"
            )
        self.model = model

    @property
    def vocab_size(self) -> int:
        return self.model.vocab_size

    def forward(
        self, ids: Tensor, state: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """ids (B, T) after the ids ``state`` (B, t) -> (logits (B, T, V), state)."""
        ids = check_ids(ids, self.vocab_size)
        C = self.model.context
        past = ids[:, :0] if state is None else check_ids(state, self.vocab_size)
        if past.shape[0] != ids.shape[0]:
            raise ValueError(
                f"ids have {ids.shape[0]} rows but the state holds {past.shape[0]}"
            )
        seq, P = torch.cat([past, ids], 1), past.shape[1]  # (B, P + T)
        pieces = []
        first = min(seq.shape[1], C)  # the positions one window from 0 covers
        if first > P:
            pieces.append(self.model.forward_cached(seq[:, :first])[0][:, P:])
        for end in range(max(first, P) + 1, seq.shape[1] + 1):
            window = seq[:, end - C : end]  # (B, C): the last C characters
            pieces.append(self.model.forward_cached(window)[0][:, -1:])
        return torch.cat(pieces, 1), seq[:, -C:]  # (B, T, V), (B, <= C)


def num_parameters_formula(
    vocab_size: int, d_model: int, num_layers: int, context: int
) -> int:
    """Parameters of a CharTransformer counted by hand.

    Embeddings, per block 12 d^2 + 13 d, the head.

    Per block: q, k, v, out (4 d^2 + 4 d), MLP (8 d^2 + 5 d), two LayerNorms (4 d).
    """
    V, d = vocab_size, d_model
    return V * d + context * d + num_layers * (12 * d * d + 13 * d) + 2 * d + d * V + V


@torch.no_grad()
def evaluate_windows(
    model: nn.Module,
    ids: Tensor,
    *,
    window: int = 128,
    stride: int = 64,
    batch_size: int = 64,
) -> float:
    """Held-out nats/char, every scored character with the same context, any model.

    ``ids`` (N,) is read in windows of ``window`` inputs starting every ``stride``
    characters; each window is run from scratch (no state carried, so an RNN and a
    Transformer see the same text) and only its last ``stride`` targets are
    scored. Every target from position ``window - stride + 1`` on is scored exactly
    once, with between ``window - stride`` and ``window - 1`` characters before it.
    """
    check_stream("ids", ids)
    for name, val in (
        ("window", window),
        ("stride", stride),
        ("batch_size", batch_size),
    ):
        positive_int(name, val)
    if stride > window:
        raise ValueError(f"stride={stride} must be <= window={window}")
    if ids.numel() < window + 1:
        raise ValueError(
            f"ids has {ids.numel()} characters: need at least window + 1 = {window + 1}"
        )
    starts = torch.arange(0, ids.numel() - window, stride)  # (W,)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for b in range(0, len(starts), batch_size):
        idx = starts[b : b + batch_size, None] + torch.arange(
            window + 1
        )  # (b, window + 1)
        chunk = ids[idx]
        logits, _ = model(chunk[:, :-1])  # (b, window, V)
        loss = nn.functional.cross_entropy(
            logits[:, -stride:].flatten(0, 1),
            chunk[:, -stride:].flatten(),
            reduction="sum",
        )
        total += float(loss)
        count += chunk[:, -stride:].numel()
    model.train(was_training)
    return total / count
