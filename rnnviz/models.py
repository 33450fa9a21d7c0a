"""Character-level language models built on the fused ``torch.nn`` recurrent layers."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rnnviz.data import Vocab, check_ids

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class CharLM(nn.Module):
    """Embedding -> ``nn.RNN``/``nn.LSTM``/``nn.GRU`` -> dropout -> linear head.

    ``forward(ids (B, T), state=None) -> (logits (B, T, V), state)``. The
    recurrent layer is ``batch_first``. ``seed`` makes the initial weights
    reproducible without touching the global random state.
    """

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int = 128,
        num_layers: int = 1,
        cell: str = "lstm",
        embed_size: int = 32,
        dropout: float = 0.0,
        seed: int | None = None,
        vocab: Vocab | None = None,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
        for name, v in (
            ("vocab_size", vocab_size),
            ("hidden_size", hidden_size),
            ("num_layers", num_layers),
            ("embed_size", embed_size),
        ):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        if vocab is not None and len(vocab) != vocab_size:
            raise ValueError(
                f"vocab has {len(vocab)} characters but vocab_size={vocab_size}"
            )
        self.cell, self.vocab = cell, vocab
        self._config = dict(
            vocab_size=vocab_size,
            hidden_size=hidden_size,
            num_layers=num_layers,
            cell=cell,
            embed_size=embed_size,
            dropout=dropout,
        )
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            self.embed = nn.Embedding(vocab_size, embed_size)
            self.rnn = CELLS[cell](
                embed_size,
                hidden_size,
                num_layers,
                batch_first=True,
                dropout=dropout if num_layers > 1 else 0.0,
            )
            self.drop = nn.Dropout(dropout)
            self.head = nn.Linear(hidden_size, vocab_size)

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments (JSON-serialisable), for checkpoints."""
        return dict(self._config)

    @property
    def vocab_size(self) -> int:
        return self._config["vocab_size"]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def check_ids(self, ids: Tensor) -> Tensor:
        """Validate character ids: an integer tensor (B, T) with values in [0, V)."""
        return check_ids(ids, self.vocab_size)

    def forward(self, ids: Tensor, state=None) -> tuple[Tensor, Any]:
        """Scores for the next character: ids (B, T) -> logits (B, T, V), and the final state."""
        ids = self.check_ids(ids)
        out, state = self.rnn(self.embed(ids), state)  # (B, T, H)
        return self.head(self.drop(out)), state  # (B, T, V)

    def _ids_from(self, inputs) -> tuple[Tensor, str | None]:
        if isinstance(inputs, str):
            if self.vocab is None:
                raise ValueError(
                    "this CharLM has no vocab: pass character ids instead of a string"
                )
            return self.vocab.encode(inputs).unsqueeze(0), inputs  # (1, T)
        if isinstance(inputs, Tensor) and inputs.dim() == 1:
            inputs = inputs.unsqueeze(0)
        return self.check_ids(inputs), None

    def probe(self, inputs, state=None, force=None, force_layers=None):
        """Trace of every gate on ``inputs`` (ids (B, T) or (T,), or a string); see :func:`rnnviz.probe`."""
        from rnnviz.probe import (
            probe_module,
        )  # probe reads models, not the other way at import

        ids, text = self._ids_from(inputs)
        with torch.no_grad():
            tr = probe_module(self.rnn, self.embed(ids), state, force, force_layers)
            logits = self.head(torch.from_numpy(tr.output)).numpy()  # (B, T, V)
        return type(tr)(**{**tr.__dict__, "logits": logits, "text": text})


def sample(
    model: CharLM,
    prompt: str,
    length: int,
    *,
    temperature: float = 1.0,
    seed: int = 0,
) -> str:
    """``prompt`` continued by ``length`` characters drawn from the model.

    ``temperature=0`` is greedy decoding. Deterministic for a given ``seed``.
    A shortcut for :func:`rnnviz.sampling.generate` (which also records every
    step's distribution) with the model's own vocabulary.
    """
    from rnnviz.sampling import generate  # sampling imports this module

    if model.vocab is None:
        raise ValueError("sample needs a CharLM with a vocab")
    if (
        not isinstance(length, int)
        or length < 0
        or temperature < 0
        or not np.isfinite(temperature)
    ):
        raise ValueError(
            f"need an int length >= 0 and a finite temperature >= 0, got {length!r}, {temperature!r}"
        )
    if temperature == 0:
        return (
            prompt
            + generate(
                model, model.vocab, prompt, length, strategy="greedy", top=0
            ).text
        )
    return (
        prompt
        + generate(
            model,
            model.vocab,
            prompt,
            length,
            temperature=temperature,
            seed=seed,
            top=0,
        ).text
    )
