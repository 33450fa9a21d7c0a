"""Layer- and batch-normalised LSTM cells (rnnviz.labs.normalized) against
references."""

import numpy as np
import pytest
import torch
from torch import nn

from rnnviz import cells
from rnnviz.labs.normalized import NormCharLM, NormLSTMCell
from rnnviz.models import CharLM

torch.set_num_threads(1)


def _inputs(B=5, I=6, H=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(B, I, generator=g),
        torch.randn(B, H, generator=g),
        torch.randn(B, H, generator=g),
    )


def _ln(a, gain, shift, eps=1e-5):
    """Layer norm written out in numpy (float64): per row, population variance."""
    a = a.detach().double().numpy()
    mu, var = a.mean(-1, keepdims=True), a.var(-1, keepdims=True)
    return (
        gain.detach().double().numpy() * (a - mu) / np.sqrt(var + eps)
        + shift.detach().double().numpy()
    )


def _sig(a):
    return 1 / (1 + np.exp(-a))


def test_unnormalised_cell_equals_torch_and_reference_cells():
    x, h, c = _inputs()
    cell = NormLSTMCell(6, 7, norm="none", seed=1)
    ref = nn.LSTMCell(6, 7)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(ref, name).copy_(getattr(cell, name))
    h1, c1 = cell(x, h, c)
    h2, c2 = ref(x, (h, c))
    h3, c3, _ = cells.lstm_cell(
        x, h, c, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh
    )
    assert torch.allclose(h1, h2, atol=1e-6) and torch.allclose(c1, c2, atol=1e-6)
    assert torch.allclose(h1, h3, atol=1e-6) and torch.allclose(c1, c3, atol=1e-6)


def test_seed_draws_the_weights_of_lstmcell():
    cell = NormLSTMCell(6, 7, norm="layer", seed=3)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        ref = nn.LSTMCell(6, 7)
    assert torch.equal(cell.weight_hh, ref.weight_hh) and torch.equal(
        cell.bias_ih, ref.bias_ih
    )


def test_unnormalised_charlm_equals_charlm_with_the_same_seed():
    V = 11
    ids = torch.randint(0, V, (3, 20), generator=torch.Generator().manual_seed(2))
    a = CharLM(V, 16, cell="lstm", embed_size=8, seed=4)
    b = NormCharLM(V, 16, norm="none", embed_size=8, seed=4)
    la, (ha, ca) = a(ids)
    lb, (hb, cb, t) = b(ids)
    assert torch.allclose(la, lb, atol=1e-6)
    assert (
        torch.allclose(ha, hb, atol=1e-6)
        and torch.allclose(ca, cb, atol=1e-6)
        and int(t) == 20
    )
    # the state carries over: two halves equal one pass
    l1, s = b(ids[:, :12])
    l2, _ = b(ids[:, 12:], s)
    assert torch.allclose(torch.cat([l1, l2], 1), lb, atol=1e-6)


def test_layer_norm_cell_matches_the_equations_of_ba_et_al():
    x, h, c = _inputs(seed=5)
    cell = NormLSTMCell(6, 7, norm="layer", seed=2)
    with torch.no_grad():  # non-trivial gains and shifts
        g = torch.Generator().manual_seed(9)
        for p in (
            cell.gain_x,
            cell.shift_x,
            cell.gain_h,
            cell.shift_h,
            cell.gain_c,
            cell.shift_c,
        ):
            p.copy_(torch.randn(p.shape, generator=g))
    h1, c1 = cell(x, h, c)
    W_ih, W_hh = (
        cell.weight_ih.detach().double().numpy(),
        cell.weight_hh.detach().double().numpy(),
    )
    X, Hp, C = x.double().numpy(), h.double().numpy(), c.double().numpy()
    a = _ln(
        torch.from_numpy(Hp @ W_hh.T) + cell.bias_hh.double(), cell.gain_h, cell.shift_h
    ) + _ln(
        torch.from_numpy(X @ W_ih.T) + cell.bias_ih.double(), cell.gain_x, cell.shift_x
    )
    i, f, gg, o = np.split(a, 4, axis=1)
    c_ref = _sig(f) * C + _sig(i) * np.tanh(gg)
    h_ref = _sig(o) * np.tanh(_ln(torch.from_numpy(c_ref), cell.gain_c, cell.shift_c))
    assert np.allclose(c1.detach().numpy(), c_ref, atol=1e-5)
    assert np.allclose(h1.detach().numpy(), h_ref, atol=1e-5)


def test_batch_norm_cell_training_statistics_and_inference():
    x, h, c = _inputs(B=16, seed=6)
    cell = NormLSTMCell(
        6, 7, norm="batch", seed=2, max_steps=3, momentum=1.0
    )  # momentum 1: keep the last batch
    assert torch.allclose(
        cell.gain_h, torch.full((28,), 0.1)
    )  # the paper's initial gain
    cell.train()
    h1, c1 = cell(x, h, c, t=1)
    # step 1's statistics are those of this batch (unbiased variance), the others
    # untouched
    ax = x @ cell.weight_ih.T
    assert torch.allclose(cell.mean_x[1], ax.mean(0), atol=1e-6)
    assert torch.allclose(cell.var_x[1], ax.var(0, unbiased=True), atol=1e-5)
    assert torch.all(cell.mean_x[0] == 0) and torch.all(cell.var_x[2] == 1)
    # the normalised pre-activation of the input term has batch mean 0 and variance
    # gamma^2
    z = cell.input_term(ax[:, None], 1)[:, 0] - cell.bias_ih
    assert torch.allclose(z.mean(0), torch.zeros(28), atol=1e-5)
    assert torch.allclose(z.var(0, unbiased=False), torch.full((28,), 0.01), rtol=1e-3)
    # inference with population statistics equal to this batch's gives nearly the
    # same step
    cell.eval()
    with torch.no_grad():
        for part in ("x", "h", "c"):  # biased variance, as used in training
            v = getattr(cell, f"var_{part}")
            v[1] *= 15 / 16
    h2, c2 = cell(x, h, c, t=1)
    assert torch.allclose(h1, h2, atol=1e-5) and torch.allclose(c1, c2, atol=1e-6)
    # steps past max_steps use the statistics of the last step
    ha, _ = cell(x, h, c, t=2)
    hb, _ = cell(x, h, c, t=50)
    assert torch.equal(ha, hb)


def test_batch_norm_all_steps_at_once_equals_step_by_step():
    torch.manual_seed(0)
    a = torch.randn(8, 5, 12)  # (B, T, D)
    c1 = NormLSTMCell(4, 3, norm="batch", max_steps=5, seed=0)
    c2 = NormLSTMCell(4, 3, norm="batch", max_steps=5, seed=0)
    whole = c1.batch_norm("x", a, 0)  # one call for the five steps
    parts = torch.cat([c2.batch_norm("x", a[:, t : t + 1], t) for t in range(5)], 1)
    assert torch.allclose(whole, parts, atol=1e-6)
    assert torch.allclose(c1.mean_x, c2.mean_x) and torch.allclose(c1.var_x, c2.var_x)
    # past max_steps in training: the last step's statistics keep being updated
    c1.batch_norm("x", a, 3)
    assert not torch.allclose(c1.mean_x[4], c2.mean_x[4])


def test_normalised_models_train_and_carry_their_step_count():
    V = 9
    ids = torch.randint(0, V, (4, 10), generator=torch.Generator().manual_seed(0))
    for norm in ("layer", "batch"):
        m = NormCharLM(V, 8, norm=norm, embed_size=4, seed=0, max_steps=6)
        logits, state = m(ids)
        assert (
            logits.shape == (4, 10, V)
            and state[0].shape == (1, 4, 8)
            and int(state[2]) == 10
        )
        nn.functional.cross_entropy(logits.flatten(0, 1), ids.flatten()).backward()
        assert all(
            p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters()
        )
        m.eval()
        with torch.no_grad():
            whole, _ = m(ids)
            a, s = m(ids[:, :4])
            b, _ = m(ids[:, 4:], s)
        assert torch.allclose(torch.cat([a, b], 1), whole, atol=1e-6)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="norm must be one of"):
        NormLSTMCell(3, 4, norm="group")
    with pytest.raises(ValueError, match="hidden_size must be a positive int"):
        NormLSTMCell(3, 0)
    cell = NormLSTMCell(3, 4, norm="batch")
    with pytest.raises(ValueError, match=r"x must have shape \(B, 3\)"):
        cell(torch.zeros(2, 5), torch.zeros(2, 4), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="h and c must have shape"):
        cell(torch.zeros(2, 3), torch.zeros(2, 5), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="at least 2 sequences"):
        cell(torch.zeros(1, 3), torch.zeros(1, 4), torch.zeros(1, 4))
    m = NormCharLM(5, 4, norm="layer", embed_size=2, seed=0)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 5\)"):
        m(torch.tensor([[0, 5]]))
    with pytest.raises(TypeError, match="integer"):
        m(torch.zeros(1, 2))
    with pytest.raises(ValueError, match=r"shape \(B, T\)"):
        m(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="state must be"):
        m(
            torch.tensor([[1, 2]]),
            (torch.zeros(1, 2, 4), torch.zeros(1, 2, 4), torch.tensor(0)),
        )
