"""A small decoder-only (causal) Transformer character model, for Part 5.

Pre-LayerNorm blocks (Vaswani et al. 2017, with the normalisation moved in
front of each sub-layer as in GPT-2), learned positional embeddings and
multi-head self-attention written out as the equation

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k) + M) V,   M[t, s] = -inf for s > t,

so that each position sees itself and the past only. ``CharTransformer`` has
the interface of :class:`rnnviz.models.CharLM` (``forward(ids (B, T)) ->
(logits (B, T, V), None)``), so :func:`rnnviz.train.train` trains it as is.
There is no recurrent state: the model sees at most ``context`` characters.

Generation uses a key/value cache: the keys and values of the characters
already read are kept per layer, so each new character costs one position's
work instead of a full forward pass over the prefix.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from rnnviz.data import Vocab, check_ids
from rnnviz.train import _check_ids

# Keys and values kept per layer during generation, each (B, heads, t, d_head).
Cache = list[tuple[Tensor, Tensor]]


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
    """Multi-head causal self-attention: q, k, v projections, heads, mask, output projection."""

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
        """x (B, T, d) -> (y (B, T, d), (k, v) including the cache, each (B, h, t, d_head))."""
        B, T, d = x.shape
        q, k, v = self._heads(self.q(x)), self._heads(self.k(x)), self._heads(self.v(x))
        offset = 0
        if cache is not None:
            offset = cache[0].shape[-2]
            k, v = torch.cat([cache[0], k], dim=-2), torch.cat([cache[1], v], dim=-2)
        y = causal_attention(q, k, v, offset)  # (B, h, T, d_head)
        return self.out(y.transpose(1, 2).reshape(B, T, d)), (k, v)


class Block(nn.Module):
    """x + attention(LayerNorm(x)), then x + MLP(LayerNorm(x)); the MLP is d -> 4d -> d with GELU."""

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
    """Token + position embeddings -> ``num_layers`` pre-LN blocks -> LayerNorm -> linear head.

    ``forward(ids (B, T), state=None) -> (logits (B, T, V), None)`` with T <= context.
    ``seed`` makes the initial weights reproducible without touching the global random state.
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
            if isinstance(val, bool) or not isinstance(val, int) or val < 1:
                raise ValueError(f"{name} must be a positive int, got {val!r}")
        if d_model % num_heads:
            raise ValueError(
                f"d_model={d_model} must be divisible by num_heads={num_heads}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
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
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
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
                f"{self.context}: a CharTransformer cannot see further back than its context"
            )
        return ids

    def forward_cached(
        self, ids: Tensor, cache: Cache | None = None
    ) -> tuple[Tensor, Cache]:
        """Logits for ``ids`` (B, T) that continue the positions held in ``cache``; returns the longer cache."""
        past = 0 if cache is None else cache[0][0].shape[-2]
        ids = self.check_ids(ids, past)
        T = ids.shape[1]
        x = self.drop(
            self.tok(ids) + self.pos(torch.arange(past, past + T))
        )  # (B, T, d)
        new: Cache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, None if cache is None else cache[i])
            new.append(kv)
        return self.head(self.ln_f(x)), new  # (B, T, V)

    def forward(self, ids: Tensor, state: None = None) -> tuple[Tensor, None]:
        """Scores for the next character: ids (B, T) -> (logits (B, T, V), None). No state is carried."""
        if state is not None:
            raise ValueError(
                "a CharTransformer carries no state between calls: pass state=None"
            )
        return self.forward_cached(ids)[0], None


def num_parameters_formula(
    vocab_size: int, d_model: int, num_layers: int, context: int
) -> int:
    """Parameters of a CharTransformer counted by hand: embeddings, per block 12 d^2 + 13 d, head.

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
    """Held-out nats/char with every scored character given the same context, for any model.

    ``ids`` (N,) is read in windows of ``window`` inputs starting every ``stride``
    characters; each window is run from scratch (no state carried, so an RNN and a
    Transformer see the same text) and only its last ``stride`` targets are
    scored. Every target from position ``window - stride + 1`` on is scored exactly
    once, with between ``window - stride`` and ``window - 1`` characters before it.
    """
    _check_ids("ids", ids)
    for name, val in (
        ("window", window),
        ("stride", stride),
        ("batch_size", batch_size),
    ):
        if isinstance(val, bool) or not isinstance(val, int) or val < 1:
            raise ValueError(f"{name} must be a positive int, got {val!r}")
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


@torch.no_grad()
def generate(
    model: CharTransformer,
    vocab: Vocab,
    prompt: str,
    n: int,
    *,
    temperature: float = 1.0,
    seed: int = 0,
    use_cache: bool = True,
) -> str:
    """Continue ``prompt`` by ``n`` characters; ``temperature=0`` is greedy. Deterministic for ``seed``.

    With ``use_cache`` each new character runs one position through the model,
    reusing the keys and values of the prefix; without it, the whole prefix is
    run again for every character (same text, more work). When the context is
    full, the last ``context // 2`` characters are read afresh (a new cache).
    """
    if not isinstance(model, CharTransformer):
        raise TypeError(f"model must be a CharTransformer, got {type(model).__name__}")
    if not isinstance(prompt, str) or not prompt:
        raise ValueError("prompt is empty: give at least one character to condition on")
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be an int >= 0, got {n!r}")
    if not (math.isfinite(temperature) and temperature >= 0):
        raise ValueError(
            f"temperature must be a finite number >= 0, got {temperature!r}"
        )
    ids = vocab.encode(prompt).tolist()
    keep = max(1, model.context // 2)
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    cache: Cache | None = None
    pending = ids[-model.context :]  # characters not yet read into the cache
    out: list[int] = []
    for _ in range(n):
        if not use_cache:
            cache, pending = None, (ids + out)[-model.context :]
        elif cache is not None and cache[0][0].shape[-2] + len(pending) > model.context:
            cache, pending = None, (ids + out)[-keep:]
        logits, cache = model.forward_cached(
            torch.tensor([pending]), cache
        )  # (1, t, V)
        last = logits[0, -1]  # (V,)
        if temperature == 0:
            nxt = int(last.argmax())
        else:
            nxt = int(
                torch.multinomial(
                    torch.softmax(last / temperature, -1), 1, generator=gen
                )
            )
        out.append(nxt)
        pending = [nxt]
    model.train(was_training)
    return prompt + vocab.decode(out)
