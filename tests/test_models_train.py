"""CharLM, its probe, sampling, training and checkpoints."""

import math

import numpy as np
import pytest
import torch

from rnnviz import probe
from rnnviz.checkpoints import ChecksumError, load_checkpoint, save_checkpoint
from rnnviz.data import Vocab
from rnnviz.models import CharLM
from rnnviz.train import History, bits, evaluate, train

TEXT = "to be, or not to be: that is the question.\n" * 40
VOCAB = Vocab.from_text(TEXT)


def _model(cell="lstm", layers=2, seed=0):
    return CharLM(
        len(VOCAB),
        hidden_size=16,
        num_layers=layers,
        cell=cell,
        embed_size=8,
        seed=seed,
        vocab=VOCAB,
    )


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_charlm_probe_matches_forward(cell):
    m = _model(cell).eval()
    ids = VOCAB.encode("that is the question").unsqueeze(0)  # (1, T)
    logits, _ = m(ids)
    tr = probe(m, ids)
    assert tr.logits.shape == tuple(logits.shape)
    assert np.abs(tr.logits - logits.detach().numpy()).max() < 1e-5
    tr2 = m.probe("that is the question")
    assert tr2.text == "that is the question"
    assert np.abs(tr2.logits - tr.logits).max() == 0


def test_seed_makes_weights_reproducible_without_touching_global_rng():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a, b, c = _model(seed=5), _model(seed=5), _model(seed=6)
    assert torch.rand(1) == before  # the global generator did not move
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


@pytest.mark.parametrize(
    "ids,err,match",
    [
        (torch.tensor([[0, 1, 99]]), ValueError, r"\[0, \d+\)"),
        (torch.tensor([[0.0, 1.0]]), TypeError, "integer tensor"),
        (torch.zeros(2, 3, 4, dtype=torch.long), ValueError, r"shape \(B, T\)"),
        (torch.zeros(1, 0, dtype=torch.long), ValueError, "empty"),
    ],
)
def test_charlm_bad_ids(ids, err, match):
    with pytest.raises(err, match=match):
        _model()(ids)


def test_charlm_bad_config():
    with pytest.raises(ValueError, match="cell must be one of"):
        CharLM(10, cell="transformer")
    with pytest.raises(ValueError, match="hidden_size must be a positive int"):
        CharLM(10, hidden_size=0)


def test_evaluate_equals_a_direct_cross_entropy():
    m = _model("gru").eval()
    ids = VOCAB.encode(TEXT[:300])
    # one stream, one window: the mean cross-entropy of predicting ids[1:] from ids[:-1]
    logits, _ = m(ids[:-1].unsqueeze(0))
    direct = torch.nn.functional.cross_entropy(logits[0], ids[1:]).item()
    assert evaluate(m, ids, batch_size=1, seq_len=1000) == pytest.approx(
        direct, rel=1e-5
    )
    # carrying the state across windows gives the same number as one long window
    assert evaluate(m, ids, batch_size=1, seq_len=37) == pytest.approx(direct, rel=1e-5)


def test_training_learns_and_is_deterministic():
    ids = VOCAB.encode(TEXT)
    kw = dict(
        steps=60,
        batch_size=8,
        seq_len=32,
        lr=1e-2,
        eval_every=30,
        seed=3,
        progress=False,
    )
    m1, m2 = _model(seed=1), _model(seed=1)
    h1 = train(m1, ids, ids[:400], **kw)
    h2 = train(m2, ids, ids[:400], **kw)
    assert h1.train_loss == h2.train_loss and h1.val_loss == h2.val_loss
    assert h1.eval_step == [30, 60]
    uniform = math.log(len(VOCAB))
    assert h1.train_loss[0] == pytest.approx(uniform, abs=0.3)
    assert h1.val_loss[-1] < 0.6 * uniform  # a repeated line is easy to learn
    assert h1.val_bpc[-1] == pytest.approx(bits(h1.val_loss[-1]))
    assert all(g > 0 for g in h1.grad_norm)
    assert isinstance(h1.to_dict()["train_loss"], list)


def test_clipping_bounds_the_update():
    ids = VOCAB.encode(TEXT)
    m = _model(seed=2)
    h = train(
        m,
        ids,
        None,
        steps=5,
        batch_size=4,
        seq_len=16,
        lr=1e-3,
        clip=1e-3,
        progress=False,
    )
    assert len(h.grad_norm) == 5 and h.val_loss == []


def test_time_budget_stops_early():
    ids = VOCAB.encode(TEXT)
    h = train(
        _model(),
        ids,
        steps=10_000,
        batch_size=4,
        seq_len=16,
        time_budget=0.2,
        progress=False,
    )
    assert 1 <= len(h.step) < 10_000


def test_train_bad_arguments():
    ids = VOCAB.encode(TEXT)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        train(_model(), ids, steps=0, progress=False)
    with pytest.raises(ValueError, match="1-D int64"):
        train(_model(), ids.float(), progress=False)


def test_checkpoint_round_trip(tmp_path):
    m = _model("gru", seed=4)
    path = tmp_path / "m.pt"
    digest = save_checkpoint(path, m, VOCAB, {"steps": 7, "note": "test"})
    ck = load_checkpoint(path, sha256=digest)
    assert ck.metadata == {"steps": 7, "note": "test"} and ck.vocab == VOCAB
    assert ck.model.config == m.config
    sd = m.state_dict()
    assert all(torch.equal(sd[k], v) for k, v in ck.model.state_dict().items())
    assert load_checkpoint(path).sha256 == digest  # the .sha256 file beside it


def test_checkpoint_hash_mismatch_and_missing_hash(tmp_path):
    path = tmp_path / "m.pt"
    save_checkpoint(path, _model(), VOCAB)
    with open(path, "ab") as f:
        f.write(b"tampered")
    with pytest.raises(ChecksumError, match="sha256 mismatch"):
        load_checkpoint(path)
    (tmp_path / "m.pt.sha256").unlink()
    with pytest.raises(ChecksumError, match="refusing an unverified checkpoint"):
        load_checkpoint(path)


def test_checkpoint_refuses_pickled_objects(tmp_path):
    import hashlib

    path = tmp_path / "evil.pt"
    torch.save(
        {"format": "rnnviz-charlm/1", "payload": History()}, path
    )  # an arbitrary object
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ValueError, match="not a safe rnnviz checkpoint"):
        load_checkpoint(path, sha256=digest)
