"""Scoring text after a warm-up of context (rnnviz.labs.context).

References: rnnviz.train.evaluate (an independent loop over contiguous
streams) and explicit forward passes of the model over the whole window.
"""

import numpy as np
import pytest
import torch
from torch import nn

from rnnviz.data import Vocab
from rnnviz.labs.context import (
    char_losses,
    context_curve,
    context_lengths,
    random_starts,
    stream_losses,
    warmup_losses,
)
from rnnviz.models import CharLM
from rnnviz.train import evaluate

TEXT = (
    "to be, or not to be: that is the question.\n"
    "whether 'tis nobler in the mind to suffer\n" * 4
)
VOCAB = Vocab.from_text(TEXT)
IDS = VOCAB.encode(TEXT)  # (N,)


def _model(cell="lstm", seed=0):
    return CharLM(
        len(VOCAB),
        hidden_size=12,
        num_layers=2,
        cell=cell,
        embed_size=6,
        seed=seed,
        vocab=VOCAB,
    )


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_stream_losses_mean_equals_evaluate(cell, batch_size):
    model = _model(cell)
    losses, positions = stream_losses(model, IDS, batch_size)
    L = len(IDS) // batch_size
    assert losses.shape == positions.shape == (batch_size, L - 1)
    assert positions[0, 0] == 1 and positions[-1, -1] == batch_size * L - 1
    assert float(losses.mean()) == pytest.approx(
        evaluate(model, IDS, batch_size=batch_size, seq_len=17), abs=1e-6
    )


def test_warmup_losses_match_one_forward_pass_over_the_window():
    model = _model().eval()
    starts, w, span = torch.tensor([40, 77, 150]), 9, 11
    got = warmup_losses(model, IDS, starts, w, span)
    for row, s in enumerate(starts.tolist()):
        x, y = (
            IDS[s - w - 1 : s + span - 1],
            IDS[s - w : s + span],
        )  # read from s-w-1, score up to s+span-1
        with torch.no_grad():
            logits, _ = model(x[None])
        ref = nn.functional.cross_entropy(logits[0], y, reduction="none")[
            w:
        ]  # the block only
        torch.testing.assert_close(got[row], ref, atol=1e-6, rtol=1e-5)


def test_chunked_reading_equals_one_call_and_state_is_returned():
    model = _model().eval()
    x, y = IDS[:120].view(2, 60), IDS[1:121].view(2, 60)
    a, sa = char_losses(model, x, y, chunk=7)
    b, sb = char_losses(model, x, y, chunk=1000)
    torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(sa[1], sb[1], atol=1e-6, rtol=1e-5)
    losses, state = warmup_losses(model, IDS, [30, 60], 5, 4, return_state=True)
    assert losses.shape == (2, 4) and state[0].shape == (2, 2, 12)


def test_longer_warmup_changes_the_loss_and_zero_warmup_is_a_cold_start():
    model = _model().eval()
    starts = torch.tensor([100, 200])
    a = warmup_losses(model, IDS, starts, 0, 5)
    b = warmup_losses(model, IDS, starts, 50, 5)
    assert not torch.allclose(a, b)
    curve = context_curve(model, IDS, starts, (0, 50), 5)
    np.testing.assert_allclose(
        curve, np.stack([a.mean(1).numpy(), b.mean(1).numpy()]), rtol=1e-6
    )
    assert context_lengths(0, 3).tolist() == [1, 2, 3]


def test_model_mode_and_input_are_preserved():
    model = _model().train()
    ids = IDS.clone()
    warmup_losses(model, ids, [50], 10, 5)
    assert model.training and torch.equal(ids, IDS)


def test_random_starts_are_seeded_distinct_and_in_range():
    a = random_starts(1000, 20, 100, 30, torch.Generator().manual_seed(3))
    b = random_starts(1000, 20, 100, 30, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and len(set(a.tolist())) == 20
    assert int(a.min()) >= 101 and int(a.max()) <= 970
    with pytest.raises(ValueError, match="valid starts"):
        random_starts(100, 50, 90, 5, torch.Generator())
    with pytest.raises(TypeError, match="Generator"):
        random_starts(100, 5, 10, 5, 0)


def test_errors():
    model = _model()
    with pytest.raises(ValueError, match="starts must lie"):
        warmup_losses(model, IDS, [5], 10, 3)
    with pytest.raises(ValueError, match="starts must lie"):
        warmup_losses(model, IDS, [len(IDS) - 2], 0, 3)
    with pytest.raises(ValueError, match="non-empty"):
        warmup_losses(model, IDS, [], 0, 3)
    with pytest.raises(ValueError, match="span"):
        warmup_losses(model, IDS, [20], 0, 0)
    with pytest.raises(ValueError, match="1-D int64"):
        warmup_losses(model, IDS.float(), [20], 0, 3)
    with pytest.raises(ValueError, match="at least 2"):
        stream_losses(model, IDS[:1])
    with pytest.raises(TypeError, match="Vocab.encode"):
        stream_losses(model, "to be")
    with pytest.raises(ValueError, match="at least 2"):
        stream_losses(model, IDS[:5], batch_size=4)
    with pytest.raises(ValueError, match="warmups is empty"):
        context_curve(model, IDS, [20], (), 3)
