"""Synthetic series, imputation, GRU-D intervals, windows and the small forecasters."""

import math

import pytest
import torch
from torch import nn

from rnnviz.labs.timeseries import (
    ConvRegressor,
    SeqRegressor,
    drop_at_random,
    fit_regressor,
    impute,
    input_saliency,
    lead_lag_series,
    low_rank_series,
    mse,
    num_parameters,
    observed_stats,
    seasonal_series,
    steps_since_observed,
    windows,
)

# ------------------------------------------------------------------ generators


def test_seasonal_series_is_periodic_plus_noise_and_seeded():
    clean = seasonal_series(240, period=12, noise=0.0, seed=3)
    assert clean.shape == (240, 1) and clean.dtype == torch.float32
    assert torch.allclose(
        clean[12:], clean[:-12], atol=1e-5
    )  # exactly periodic without noise
    assert abs(float(clean.var()) - 1.0) < 0.05  # scaled to unit variance
    noisy = seasonal_series(240, period=12, noise=0.5, seed=3)
    assert abs(float((noisy - clean).std()) - 0.5) < 0.1
    assert torch.equal(noisy, seasonal_series(240, period=12, noise=0.5, seed=3))
    assert not torch.equal(noisy, seasonal_series(240, period=12, noise=0.5, seed=4))


def test_lead_lag_channel_one_follows_channel_zero():
    x = lead_lag_series(2000, lag=6, noise=0.0, seed=1)
    assert x.shape == (2000, 3)
    assert torch.allclose(x[6:, 1], x[:-6, 0], atol=1e-6)
    corr = torch.corrcoef(torch.stack([x[:, 0], x[:, 2]]))[0, 1]
    assert abs(float(corr)) < 0.1  # channel 2 is independent


def test_low_rank_series_has_the_stated_rank():
    x, z = low_rank_series(600, dim=64, rank=4, noise=0.0, seed=0)
    assert x.shape == (600, 64) and z.shape == (600, 4)
    s = torch.linalg.svdvals(x.double())
    assert float(s[4] / s[0]) < 1e-5 and float(s[3] / s[0]) > 1e-2
    with pytest.raises(ValueError, match="rank"):
        low_rank_series(10, dim=4, rank=8)


# ------------------------------------------------------------------ missing values


def test_drop_at_random_rate_and_seed():
    m = drop_at_random((10_000, 1), 0.3, seed=0)
    assert m.dtype == torch.bool and abs(1 - float(m.float().mean()) - 0.3) < 0.02
    assert torch.equal(m, drop_at_random((10_000, 1), 0.3, seed=0))
    with pytest.raises(ValueError, match="rate"):
        drop_at_random((5, 1), 1.0)


def forward_fill_loop(x, observed, mean):
    out = x.clone()
    for c in range(x.shape[1]):
        last = None
        for t in range(x.shape[0]):
            if observed[t, c]:
                last = float(x[t, c])
            out[t, c] = last if last is not None else float(mean[c])
    return out


def test_impute_against_loops():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 3, generator=g)
    observed = torch.rand(50, 3, generator=g) > 0.5
    observed[:4, 1] = False  # leading gap
    x_before = x.clone()
    mean = torch.tensor([10.0, 20.0, 30.0])
    assert torch.equal(
        impute(x, observed, "forward", mean), forward_fill_loop(x, observed, mean)
    )
    zero = impute(x, observed, "zero")
    assert torch.equal(zero[observed], x[observed]) and (zero[~observed] == 0).all()
    auto = impute(x, observed, "mean")
    for c in range(3):
        assert torch.allclose(auto[~observed[:, c], c], x[observed[:, c], c].mean())
    assert torch.equal(x, x_before)  # input not mutated


def test_observed_stats_never_read_the_missing_values():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(200, 2, generator=g) * torch.tensor([1.0, 3.0]) + 5.0
    observed = torch.rand(200, 2, generator=g) > 0.4
    mean, std = observed_stats(x, observed)
    for c in range(2):  # the statistics of the observed values alone
        known = x[observed[:, c], c]
        assert torch.allclose(mean[c], known.mean()) and torch.allclose(
            std[c], known.std()
        )
    hidden = torch.where(observed, x, torch.full_like(x, 1e6))  # gaps hold junk
    assert torch.equal(observed_stats(hidden, observed)[0], mean)
    assert torch.allclose(observed_stats(hidden, observed)[1], std)
    nan = torch.where(observed, x, torch.full_like(x, math.nan))
    assert torch.allclose(
        torch.stack(observed_stats(nan, observed)), torch.stack((mean, std))
    )
    # a series whose missing values are large: statistics of all values are off
    gappy = x.clone()
    gappy[~observed] += 10.0
    assert not torch.allclose(gappy.mean(0), mean, atol=1.0)
    assert torch.allclose(observed_stats(gappy, observed)[0], mean)
    with pytest.raises(ValueError, match="two observed"):
        observed_stats(
            x[:3], torch.tensor([[True, True], [False, True], [False, False]])
        )


def test_impute_rejects_bad_input():
    x = torch.zeros(5, 2)
    with pytest.raises(ValueError, match="method"):
        impute(x, torch.ones(5, 2, dtype=torch.bool), "linear")
    with pytest.raises(ValueError, match="bool tensor of shape"):
        impute(x, torch.ones(5, 3, dtype=torch.bool), "zero")
    with pytest.raises(ValueError, match="no observed value"):
        impute(x, torch.zeros(5, 2, dtype=torch.bool), "mean")
    with pytest.raises(ValueError, match=r"\(T, C\)"):
        impute(torch.zeros(5), torch.ones(5, dtype=torch.bool), "zero")


def test_steps_since_observed_follows_the_gru_d_recursion():
    g = torch.Generator().manual_seed(1)
    observed = torch.rand(40, 2, generator=g) > 0.6
    ref = torch.zeros(40, 2)
    for t in range(1, 40):  # Che et al. (2018), eq. (2), with s_t - s_{t-1} = 1
        for c in range(2):
            ref[t, c] = 1.0 if observed[t - 1, c] else 1.0 + ref[t - 1, c]
    assert torch.equal(steps_since_observed(observed), ref)
    with pytest.raises(ValueError, match="bool"):
        steps_since_observed(torch.ones(3, 1))


# ------------------------------------------------------------------ windows and models


def test_windows_align_inputs_and_next_targets():
    s = torch.arange(10.0)[:, None]
    X, y = windows(s, 2 * s, 3)
    assert X.shape == (7, 3, 1) and y.shape == (7, 1)
    assert X[0, :, 0].tolist() == [0.0, 1.0, 2.0] and float(y[0]) == 6.0
    assert X[-1, :, 0].tolist() == [6.0, 7.0, 8.0] and float(y[-1]) == 18.0
    with pytest.raises(ValueError, match="more than window"):
        windows(s, s, 10)
    with pytest.raises(ValueError, match="steps but targets"):
        windows(s, s[:5], 2)


def test_seq_regressor_matches_a_manual_forward():
    m = SeqRegressor(6, 2, hidden_size=5, proj_size=3, seed=0)
    x = torch.randn(4, 7, 6, generator=torch.Generator().manual_seed(0))
    h = torch.zeros(1, 5)
    cell = nn.GRUCell(3, 5)
    cell.load_state_dict(
        {k.removesuffix("_l0"): v for k, v in m.rnn.state_dict().items()}
    )
    ref = []
    for b in range(4):
        h = torch.zeros(1, 5)
        for t in range(7):
            h = cell(m.proj(x[b : b + 1, t]), h)
        ref.append(m.head(h)[0])
    assert torch.allclose(m(x), torch.stack(ref), atol=1e-6)
    assert num_parameters(m) == 6 * 3 + 3 + 3 * 5 * (3 + 5 + 2) + 5 * 2 + 2
    assert torch.equal(
        m.head.weight, SeqRegressor(6, 2, 5, proj_size=3, seed=0).head.weight
    )
    with pytest.raises(ValueError, match="expected x of shape"):
        m(torch.zeros(4, 7, 5))
    with pytest.raises(ValueError, match="cell"):
        SeqRegressor(1, 1, cell="tcn")


def test_conv_regressor_matches_a_manual_convolution():
    m = ConvRegressor(2, 1, window=6, channels=3, kernel_size=4, seed=0)
    x = torch.randn(5, 6, 2, generator=torch.Generator().manual_seed(1))
    w, b = m.conv.weight, m.conv.bias  # (3, 2, 4), (3,)
    h = torch.stack(
        [torch.einsum("bkc,ock->bo", x[:, j : j + 4], w) + b for j in range(3)], dim=2
    )  # (B, 3, 3)
    ref = m.head(torch.relu(h).flatten(1))
    assert torch.allclose(m(x), ref, atol=1e-6)
    with pytest.raises(ValueError, match="kernel_size"):
        ConvRegressor(1, 1, window=3, kernel_size=5)
    with pytest.raises(ValueError, match="expected x of shape"):
        m(torch.zeros(5, 7, 2))


def test_fit_learns_a_linear_rule_and_is_deterministic():
    s = seasonal_series(600, period=8, noise=0.05, seed=0)
    X, y = windows(s, s, 16)
    runs = []
    for _ in range(2):
        m = ConvRegressor(1, 1, 16, seed=0)
        runs.append(
            fit_regressor(m, X[:400], y[:400], (X[400:], y[400:]), steps=150, seed=0)
        )
    assert runs[0].train_loss == runs[1].train_loss
    assert runs[0].val_loss[-1] < 0.1 * float(y[400:].var())
    assert runs[0].val_loss == [float(mse(m, X[400:], y[400:])[0])]  # once, at the end
    with pytest.raises(ValueError, match="finite"):
        bad = X.clone()
        bad[0, 0, 0] = math.nan
        fit_regressor(ConvRegressor(1, 1, 16), bad, y, steps=1)


def test_input_saliency_finds_the_lag_of_a_linear_model():
    class Lag3(nn.Module):
        def forward(self, x):
            return 2.0 * x[:, -3]  # depends on lag 3 only

    sal = input_saliency(Lag3(), torch.randn(4, 10, 1))
    assert sal.shape == (10,) and float(sal[-3]) == 2.0 and float(sal.sum()) == 2.0


def test_saliency_and_mse_leave_the_model_alone():
    m = SeqRegressor(2, 1, hidden_size=4, seed=0)
    X, y = torch.randn(6, 5, 2), torch.randn(6, 1)
    m.train()
    err = mse(m, X, y)
    assert m.training and err.shape == (1,)
    with torch.no_grad():
        assert torch.allclose(err, ((m.eval()(X) - y) ** 2).mean(0))
    sal = input_saliency(m, X)
    assert sal.shape == (5,) and all(p.grad is None for p in m.parameters())
    # finite-difference check of one position's sensitivity
    x = X.double()
    m64 = SeqRegressor(2, 1, hidden_size=4, seed=0).double().eval()
    eps = 1e-6
    bumped = x.clone()
    bumped[0, 2, 1] += eps
    with torch.no_grad():
        fd = float((m64(bumped)[0, 0] - m64(x)[0, 0]) / eps)
    x.requires_grad_(True)
    (g,) = torch.autograd.grad(m64(x)[:, 0].sum(), x)
    assert abs(float(g[0, 2, 1]) - fd) < 1e-5
