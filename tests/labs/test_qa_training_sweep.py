"""The training Q&A's sweep (rnnviz.labs.qa_training_sweep): the L1 penalty, the
range-test schedule, and short runs checked against what they must do."""

import math

import pytest
import torch

from rnnviz.data import Vocab
from rnnviz.labs import qa_training_sweep as qs
from rnnviz.labs.normalized import NormCharLM
from rnnviz.models import CharLM

TEXT = "abcabc abd bcd bcd abc\n" * 60
VOCAB = Vocab.from_text(TEXT)
IDS = VOCAB.encode(TEXT)
V = len(VOCAB)


def test_l1_penalty_is_the_recurrent_weights_magnitude_only():
    lm = CharLM(V, 8, cell="lstm", embed_size=4, seed=0)
    w = lm.rnn.weight_hh_l0  # (32, 8)
    assert qs.recurrent_weights(lm) is w
    expected = 0.5 * sum(abs(float(x)) for x in w.detach().flatten())
    assert float(qs.l1_penalty(lm, 0.5).detach()) == pytest.approx(expected, rel=1e-5)
    norm = NormCharLM(V, 8, "layer", 4, seed=0)
    assert qs.recurrent_weights(norm) is norm.cell.weight_hh
    (grad,) = torch.autograd.grad(qs.l1_penalty(lm, 0.1), w)
    assert torch.equal(grad, 0.1 * torch.sign(w.detach()))  # its subgradient


def test_range_schedule_grows_geometrically_from_lo_to_hi():
    f = qs.range_schedule(100, 1e-5, 1.0)
    assert 1e-5 * f(0) == pytest.approx(1e-5)
    assert 1e-5 * f(100) == pytest.approx(1.0)
    assert f(50) ** 2 == pytest.approx(f(100))


def test_make_gives_every_variant_the_same_starting_weights():
    base = qs.make("baseline", V, 3)
    for v in qs.VARIANTS:
        m = qs.make(v, V, 3)
        assert torch.equal(qs.recurrent_weights(m), base.rnn.weight_hh_l0)
    with pytest.raises(ValueError, match="variant"):
        qs.make("spectral norm", V, 0)


def test_l1_shrinks_the_recurrent_weights_and_runs_are_deterministic():
    runs = [
        qs.run("baseline", 1e-2, 0, IDS, IDS[:200], V, steps=30, l1=l1)
        for l1 in (0.0, 1e-2, 0.0)
    ]
    (m0, h0), (m1, _), (_, h2) = runs
    assert h0.val_loss == h2.val_loss  # same seed, same run
    size = [float(qs.recurrent_weights(m).detach().abs().mean()) for m in (m0, m1)]
    assert size[1] < 0.5 * size[0]


def test_range_test_records_every_step_until_it_stops():
    out = qs.range_test(0, IDS, V, steps=12)
    assert len(out["lr"]) == len(out["train_bpc"]) <= 12
    assert out["lr"][0] == pytest.approx(
        qs.RANGE_LO * qs.range_schedule(12, qs.RANGE_LO, qs.RANGE_HI)(1)
    )
    assert all(math.isfinite(v) for v in out["train_bpc"])
