"""The pretraining command, the learning-rate schedule, half-precision checkpoints and
the shipped models."""

from __future__ import annotations

import json
import math

import pytest
import torch

from rnnviz import pretrain as pt
from rnnviz.checkpoints import (
    ChecksumError,
    load_checkpoint,
    round_weights,
    save_checkpoint,
)
from rnnviz.corpus import load_corpus
from rnnviz.data import Vocab
from rnnviz.models import CharLM
from rnnviz.tbptt import train_stateful
from rnnviz.train import cosine_schedule, evaluate, train


# ---------------------------------------------------------------- the schedule
def test_cosine_schedule_follows_the_formula():
    steps, warmup, final = 500, 50, 0.1
    f = cosine_schedule(steps, warmup, final)
    for s in (1, 25, 50):
        assert f(s) == pytest.approx(s / warmup)
    for s in (51, 200, 377, 500):
        t = (s - warmup) / (steps - warmup)
        assert f(s) == pytest.approx(
            final + (1 - final) * (1 + math.cos(math.pi * t)) / 2
        )
    assert f(10_000) == pytest.approx(final)  # stays at the floor after the end
    values = [f(s) for s in range(warmup, steps + 1)]
    assert all(a >= b for a, b in zip(values, values[1:]))  # monotone decay


@pytest.mark.parametrize("args", [(0,), (10, -1), (10, 5, 1.5), (2.5,)])
def test_cosine_schedule_rejects_bad_arguments(args):
    with pytest.raises(ValueError):
        cosine_schedule(*args)


@pytest.mark.parametrize("loop", [train, train_stateful])
def test_lr_schedule_sets_the_optimizer_lr_every_step(loop):
    text = "to be or not to be, that is the question\n" * 20
    vocab = Vocab.from_text(text)
    ids = vocab.encode(text)
    model = CharLM(len(vocab), 8, cell="gru", embed_size=4, seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    seen = []
    orig_step = opt.step

    def spy(*a, **k):
        seen.append(opt.param_groups[0]["lr"])
        return orig_step(*a, **k)

    opt.step = spy
    sched = cosine_schedule(6, warmup=2, final=0.2)
    loop(
        model,
        ids,
        steps=6,
        batch_size=2,
        seq_len=8,
        optimizer=opt,
        progress=False,
        lr_schedule=sched,
    )
    assert seen == pytest.approx([0.5 * sched(s) for s in range(1, 7)])


def test_lr_schedule_must_be_callable_and_finite():
    text = "abcabcabcabc" * 10
    vocab = Vocab.from_text(text)
    model = CharLM(len(vocab), 4, cell="rnn", embed_size=2, seed=0)
    with pytest.raises(TypeError, match="lr_schedule"):
        train(
            model,
            vocab.encode(text),
            steps=2,
            batch_size=2,
            seq_len=4,
            progress=False,
            lr_schedule=0.5,
        )
    with pytest.raises(ValueError, match="lr_schedule"):
        train(
            model,
            vocab.encode(text),
            steps=2,
            batch_size=2,
            seq_len=4,
            progress=False,
            lr_schedule=lambda s: float("nan"),
        )


# ------------------------------------------------------ half-precision storage
def test_float16_checkpoint_round_trips_exactly_after_rounding(tmp_path):
    vocab = Vocab.from_text("hello world\n")
    model = CharLM(len(vocab), 16, num_layers=2, cell="lstm", embed_size=8, seed=3)
    round_weights(model, torch.float16)
    for (
        v
    ) in model.state_dict().values():  # every weight is now representable in float16
        assert torch.equal(v, v.half().float())
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, vocab, {"note": "x"}, dtype=torch.float16)
    raw = torch.load(path, weights_only=True)
    assert all(t.dtype == torch.float16 for t in raw["state_dict"].values())
    ck = load_checkpoint(path)
    for k, v in model.state_dict().items():
        assert ck.model.state_dict()[k].dtype == torch.float32
        assert torch.equal(ck.model.state_dict()[k], v)
    x = vocab.encode("hello").unsqueeze(0)
    assert torch.equal(ck.model(x)[0], model.eval()(x)[0])


def test_float16_checkpoint_is_half_the_size(tmp_path):
    vocab = Vocab.from_text("abcdefgh")
    model = CharLM(len(vocab), 64, cell="gru", embed_size=8, seed=0)
    save_checkpoint(tmp_path / "a.pt", model, vocab)
    save_checkpoint(tmp_path / "b.pt", model, vocab, dtype=torch.float16)
    a, b = (tmp_path / "a.pt").stat().st_size, (tmp_path / "b.pt").stat().st_size
    assert 0.45 < b / a < 0.6


def test_save_checkpoint_rejects_integer_dtype(tmp_path):
    vocab = Vocab.from_text("ab")
    with pytest.raises(ValueError, match="dtype"):
        save_checkpoint(
            tmp_path / "c.pt", CharLM(2, 4, seed=0), vocab, dtype=torch.int8
        )


# ------------------------------------------------------------ the command
@pytest.fixture
def tiny_configs(monkeypatch):
    tiny = {
        c: dict(
            model=dict(hidden_size=8, num_layers=1, embed_size=4, dropout=0.0),
            train=dict(
                steps=3,
                batch_size=4,
                seq_len=16,
                lr=1e-2,
                clip=1.0,
                warmup=1,
                final=0.1,
            ),
        )
        for c in pt.CONFIGS
    }
    monkeypatch.setattr(pt, "CONFIGS", tiny)
    return tiny


def test_pretrain_writes_a_verified_deterministic_checkpoint(tmp_path, tiny_configs):
    p1 = pt.pretrain("gru", tmp_path / "a", threads=1, progress=False)
    p2 = pt.pretrain("gru", tmp_path / "b", threads=1, progress=False)
    a, b = load_checkpoint(p1), load_checkpoint(p2)
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k])  # same seed, same weights
    meta = a.metadata
    assert meta["steps"] == 3 and meta["cell"] == "gru" and meta["threads"] == 1
    assert meta["characters_seen"] == 3 * 4 * 16
    assert meta["parameters"] == a.model.num_parameters()
    corpus = load_corpus()
    test_ids = a.vocab.encode(corpus.test)
    assert meta["test_nats"] == pytest.approx(
        evaluate(a.model, test_ids, batch_size=32), abs=1e-6
    )
    assert meta["test_bpc"] == pytest.approx(meta["test_nats"] / math.log(2))
    assert len(meta["history"]["val_loss"]) == len(meta["history"]["eval_step"]) >= 1
    json.dumps(meta)


def test_pretrain_cli_device_flag_trains_the_same_model_on_the_cpu(
    tmp_path, tiny_configs
):
    assert (
        pt.main(["rnn", "--out", str(tmp_path / "a"), "--threads", "1", "--quiet"]) == 0
    )
    argv = ["rnn", "--out", str(tmp_path / "b"), "--threads", "1", "--quiet"]
    assert pt.main([*argv, "--device", "cpu"]) == 0
    a, b = (load_checkpoint(tmp_path / d / "charlm-rnn.pt") for d in "ab")
    for k, v in a.model.state_dict().items():  # the metadata holds the seconds
        assert torch.equal(v, b.model.state_dict()[k])
    with pytest.raises(ValueError, match="device"):
        pt.main([*argv, "--device", "nonsense"])


def test_pretrain_cli_rejects_unknown_cells(capsys):
    with pytest.raises(SystemExit):
        pt.main(["transformer"])
    assert "invalid choice" in capsys.readouterr().err


def test_pretrain_rejects_bad_steps(tmp_path):
    with pytest.raises(ValueError, match="steps"):
        pt.pretrain("rnn", tmp_path, steps=0)


# ------------------------------------------------------------ the shipped models
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_shipped_checkpoint_is_pinned_and_within_budget(cell):
    ck = pt.load_pretrained(cell)
    meta = ck.metadata
    assert ck.sha256 == pt.PRETRAINED_SHA256[cell]
    assert ck.model.config == {
        **pt.CONFIGS[cell]["model"],
        "cell": cell,
        "vocab_size": len(ck.vocab),
    }
    assert meta["steps"] == pt.CONFIGS[cell]["train"]["steps"]
    assert meta["threads"] == 2
    assert meta["seconds"] <= pt.BUDGET_SECONDS[cell]
    assert ck.vocab == Vocab.from_text(load_corpus().text)
    for v in ck.model.state_dict().values():
        assert bool(torch.isfinite(v).all())


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_shipped_metadata_states_the_budget_the_chapter_tabulates(cell):
    """The pretrained chapter's budget table and its step axis read these fields."""
    meta = pt.load_pretrained(cell).metadata
    train_cfg = meta["train"]
    assert train_cfg == pt.CONFIGS[cell]["train"]
    assert meta["model"] == pt.CONFIGS[cell]["model"]
    per_step = train_cfg["batch_size"] * train_cfg["seq_len"]
    assert meta["characters_seen"] == meta["steps"] * per_step
    h = meta["history"]
    assert len(h["eval_step"]) == len(h["val_loss"]) >= 2
    assert (
        h["eval_step"] == sorted(h["eval_step"]) and h["eval_step"][-1] == meta["steps"]
    )
    assert meta["valid_plays"] == ["julius-caesar", "twelfth-night"]
    assert meta["test_plays"] == ["hamlet", "the-merchant-of-venice"]


def test_shipped_lstm_meets_the_quality_budget_on_the_test_plays():
    """The LSTM's test loss is recomputed here, not read from its metadata."""
    ck = pt.load_pretrained("lstm")
    test_ids = ck.vocab.encode(load_corpus().test)
    nats = evaluate(ck.model, test_ids, batch_size=32)
    assert nats == pytest.approx(ck.metadata["test_nats"], abs=1e-4)
    assert nats <= 1.45


def test_load_pretrained_refuses_other_bytes(tmp_path, monkeypatch):
    monkeypatch.setitem(pt.PRETRAINED_SHA256, "rnn", "0" * 64)
    with pytest.raises(ChecksumError):
        pt.load_pretrained("rnn")
    with pytest.raises(ValueError, match="cell"):
        pt.load_pretrained("transformer")


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_page_checkpoint_is_pinned_and_within_budget(cell):
    ck = pt.load_pretrained(cell, page=True)
    meta = ck.metadata
    assert ck.sha256 == pt.PAGE_SHA256[cell] and meta["page"] is True
    assert ck.model.config == {
        **pt.PAGE_CONFIGS[cell]["model"],
        "cell": cell,
        "vocab_size": len(ck.vocab),
    }
    assert meta["steps"] == pt.PAGE_CONFIGS[cell]["train"]["steps"]
    assert meta["threads"] == 1
    assert meta["seconds"] <= pt.PAGE_BUDGET_SECONDS[cell]
    assert ck.vocab == Vocab.from_text(load_corpus().text)


def test_page_models_have_one_shape_and_one_budget(monkeypatch):
    shapes = {json.dumps(c["model"] | {"dropout": 0}) for c in pt.PAGE_CONFIGS.values()}
    steps = {c["train"]["steps"] for c in pt.PAGE_CONFIGS.values()}
    assert len(shapes) == 1 and len(steps) == 1
    assert pt.checkpoint_path("gru", page=True).name == "charlm-gru-page.pt"
    monkeypatch.delitem(pt.PAGE_SHA256, "rnn", raising=False)
    with pytest.raises(FileNotFoundError, match="rnn --page"):
        pt.load_pretrained("rnn", page=True)
