"""The numpy forward and backward passes against torch (float64) and finite
differences."""

import numpy as np
import pytest
import torch
from torch import nn

from rnnviz import numpy_ref as nr

KINDS = ["RNN", "LSTM", "GRU"]
T, B, I, H = 6, 3, 4, 5


def _module(kind: str, num_layers: int, bias: bool = True, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return getattr(nn, kind)(I, H, num_layers, bias=bias).double()


def _state(kind: str, L: int, gen: torch.Generator, requires_grad: bool = False):
    make = lambda: torch.randn(
        L, B, H, dtype=torch.double, generator=gen
    ).requires_grad_(requires_grad)  # noqa: E731
    return (make(), make()) if kind == "LSTM" else make()


def _np(state):
    return (
        tuple(s.detach().numpy() for s in state)
        if isinstance(state, tuple)
        else state.detach().numpy()
    )


def _flat(state) -> list[torch.Tensor]:
    return list(state) if isinstance(state, tuple) else [state]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_forward_matches_torch(kind, num_layers):
    m = _module(kind, num_layers)
    gen = torch.Generator().manual_seed(1)
    x, state = (
        torch.randn(T, B, I, dtype=torch.double, generator=gen),
        _state(kind, num_layers, gen),
    )
    with torch.no_grad():
        ref_out, ref_final = m(x, state)
    out, final, _ = nr.forward(kind, nr.params_from_torch(m), x.numpy(), _np(state))
    assert out.shape == (T, B, H)
    np.testing.assert_allclose(out, ref_out.numpy(), rtol=0, atol=1e-10)
    for ours, theirs in zip(_flat(final), _flat(ref_final)):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("kind", KINDS)
def test_forward_zero_state_and_no_bias(kind):
    m = _module(kind, 2, bias=False)
    x = torch.randn(
        T, B, I, dtype=torch.double, generator=torch.Generator().manual_seed(2)
    )
    with torch.no_grad():
        ref_out, _ = m(x)
    out, _, _ = nr.forward(kind, nr.params_from_torch(m), x.numpy())
    np.testing.assert_allclose(out, ref_out.numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("bias", [True, False])
def test_backward_matches_autograd(kind, num_layers, bias):
    m = _module(kind, num_layers, bias=bias, seed=3)
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(T, B, I, dtype=torch.double, generator=gen, requires_grad=True)
    state = _state(kind, num_layers, gen, requires_grad=True)
    out, final = m(x, state)
    dout = torch.randn(out.shape, dtype=torch.double, generator=gen)
    dfinal = [
        torch.randn(s.shape, dtype=torch.double, generator=gen) for s in _flat(final)
    ]
    loss = (out * dout).sum() + sum((s * d).sum() for s, d in zip(_flat(final), dfinal))
    loss.backward()
    ref = {n: p.grad.numpy() for n, p in m.named_parameters()}
    ref["x"] = x.grad.numpy()
    for name, s in zip(("h0", "c0"), _flat(state)):
        ref[name] = s.grad.numpy()

    _, _, cache = nr.forward(
        kind, nr.params_from_torch(m), x.detach().numpy(), _np(state)
    )
    dstate = tuple(d.numpy() for d in dfinal) if kind == "LSTM" else dfinal[0].numpy()
    grads = nr.backward(cache, dout.numpy(), dstate)
    assert set(grads) == set(ref)
    for name in ref:
        assert grads[name].shape == ref[name].shape, name
        np.testing.assert_allclose(
            grads[name], ref[name], rtol=0, atol=1e-8, err_msg=name
        )


def _loss_fn(kind, params, x, state, dout, dfinal):
    """A scalar loss of the numpy forward: a fixed random projection of the outputs
    and the final state."""
    out, final, _ = nr.forward(kind, params, x, state)
    finals = final if isinstance(final, tuple) else (final,)
    return float(
        (out * dout).sum() + sum((f * d).sum() for f, d in zip(finals, dfinal))
    )


def _problem(kind, seed):
    """Two-layer parameters (scaled up so that gates saturate partly), input, state
    and loss weights."""
    rng = np.random.default_rng(seed)
    params = {n: 2 * p for n, p in nr.init_params(kind, I, H, 2, seed=seed).items()}
    x = rng.normal(size=(T, B, I))
    state = tuple(rng.normal(size=(2, B, H)) for _ in range(2 if kind == "LSTM" else 1))
    dout = rng.normal(size=(T, B, H))
    dfinal = tuple(rng.normal(size=(2, B, H)) for _ in state)
    return params, x, state, dout, dfinal


def _worst_fd_error(kind, params, x, state, dout, dfinal, grads, seed=0, eps=1e-6):
    """Largest relative error of `grads` against central differences, 3 random
    coordinates per array."""
    rng = np.random.default_rng(seed)
    inputs = dict(params, x=x, h0=state[0]) | (
        {"c0": state[1]} if kind == "LSTM" else {}
    )
    worst = 0.0
    for name, value in inputs.items():
        for flat in rng.choice(value.size, size=3, replace=False):
            idx = np.unravel_index(flat, value.shape)
            losses = []
            for sign in (1, -1):
                v = value.copy()
                v[idx] += sign * eps
                new = dict(inputs, **{name: v})
                s = (new["h0"], new["c0"]) if kind == "LSTM" else new["h0"]
                losses.append(
                    _loss_fn(
                        kind, {n: new[n] for n in params}, new["x"], s, dout, dfinal
                    )
                )
            numeric, analytic = (losses[0] - losses[1]) / (2 * eps), grads[name][idx]
            worst = max(
                worst, abs(numeric - analytic) / max(abs(numeric), abs(analytic), 1e-3)
            )
    return worst


@pytest.mark.parametrize("kind", KINDS)
def test_backward_matches_finite_differences(kind):
    """Central differences on random coordinates of every parameter, the input and
    the state."""
    params, x, state, dout, dfinal = _problem(kind, seed=5)
    one = lambda pair: pair if kind == "LSTM" else pair[0]  # noqa: E731
    _, _, cache = nr.forward(kind, params, x, one(state))
    grads = nr.backward(cache, dout, one(dfinal))
    assert 0 < _worst_fd_error(kind, params, x, state, dout, dfinal, grads) < 1e-6


def test_finite_difference_check_can_fail():
    """A wrong LSTM gradient (the cell path's forget gate dropped) fails the same
    check."""
    params, x, state, dout, dfinal = _problem("LSTM", seed=7)
    _, _, cache = nr.forward("LSTM", params, x, state)
    good = nr.backward(cache, dout, dfinal)
    lc = cache.layers[1]
    wrong = dict(
        lc.gates, f=np.zeros_like(lc.gates["f"])
    )  # backward now thinks dc_{t-1} = 0
    broken = nr.Cache(
        "LSTM",
        cache.params,
        (cache.layers[0], nr.LayerCache(lc.x, lc.h, lc.c, wrong)),
        True,
    )
    bad = nr.backward(broken, dout, dfinal)
    assert _worst_fd_error("LSTM", params, x, state, dout, dfinal, good) < 1e-6
    assert _worst_fd_error("LSTM", params, x, state, dout, dfinal, bad) > 1e-2


def test_head_loss_matches_torch():
    gen = torch.Generator().manual_seed(9)
    V = 7
    h = torch.randn(T, B, H, dtype=torch.double, generator=gen, requires_grad=True)
    head = nn.Linear(H, V).double()
    targets = torch.randint(0, V, (T, B), generator=gen)
    loss = nn.functional.cross_entropy(head(h).reshape(-1, V), targets.reshape(-1))
    loss.backward()
    ours, grads = nr.head_loss(
        h.detach().numpy(),
        head.weight.detach().numpy(),
        head.bias.detach().numpy(),
        targets.numpy(),
    )
    assert abs(ours - loss.item()) < 1e-12
    np.testing.assert_allclose(grads["h"], h.grad.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        grads["weight"], head.weight.grad.numpy(), rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(
        grads["bias"], head.bias.grad.numpy(), rtol=0, atol=1e-12
    )


def test_head_loss_is_stable_for_large_logits():
    h = np.full((1, 1, 2), 1000.0)
    loss, grads = nr.head_loss(
        h, np.array([[1.0, 0.0], [0.0, 0.0]]), np.zeros(2), np.array([[0]])
    )
    assert loss == pytest.approx(0.0) and np.isfinite(grads["h"]).all()


def test_init_params_match_torch_layout():
    for kind in KINDS:
        ours = nr.init_params(kind, I, H, 2, seed=0)
        ref = nr.params_from_torch(_module(kind, 2))
        assert {n: p.shape for n, p in ours.items()} == {
            n: p.shape for n, p in ref.items()
        }
        assert all(np.abs(p).max() <= H**-0.5 for p in ours.values())
    assert "bias_ih_l0" not in nr.init_params("RNN", I, H, bias=False)
    a, b = nr.init_params("GRU", I, H, seed=1), nr.init_params("GRU", I, H, seed=1)
    assert all(np.array_equal(a[n], b[n]) for n in a)


def test_inputs_are_not_mutated():
    params = nr.init_params("LSTM", I, H, 2, seed=0)
    before = {n: p.copy() for n, p in params.items()}
    x = np.random.default_rng(0).normal(size=(T, B, I))
    x0 = x.copy()
    out, _, cache = nr.forward("LSTM", params, x)
    dout = np.ones_like(out)
    nr.backward(cache, dout)
    assert all(np.array_equal(params[n], before[n]) for n in params)
    assert np.array_equal(x, x0) and np.array_equal(dout, np.ones_like(out))


# ------------------------------------------------------------------ errors
def _lstm():
    return nr.init_params("LSTM", I, H, 2, seed=0), np.zeros((T, B, I))


def test_error_unknown_kind():
    params, x = _lstm()
    with pytest.raises(ValueError, match="kind must be one of"):
        nr.forward("lstm", params, x)


@pytest.mark.parametrize("shape", [(T, I), (0, B, I), (T, B, I + 1)])
def test_error_bad_input_shape(shape):
    params, _ = _lstm()
    with pytest.raises(ValueError, match=r"shape"):
        nr.forward("LSTM", params, np.zeros(shape))


def test_error_nan_input_and_parameter():
    params, x = _lstm()
    x[2, 1, 0] = np.nan
    with pytest.raises(ValueError, match="x contains NaN"):
        nr.forward("LSTM", params, x)
    params, x = _lstm()
    params["weight_hh_l1"][0, 0] = np.nan
    with pytest.raises(ValueError, match="weight_hh_l1 contains NaN"):
        nr.forward("LSTM", params, x)


def test_error_missing_and_unexpected_parameters():
    params, x = _lstm()
    del params["bias_hh_l1"]
    with pytest.raises(KeyError, match="bias_hh_l1"):
        nr.forward("LSTM", params, x)
    params, x = _lstm()
    del params["weight_hh_l0"]
    with pytest.raises(KeyError, match="weight_hh_l0"):
        nr.forward("LSTM", params, x)
    params, x = _lstm()
    params["weight_ih_l0_reverse"] = params["weight_ih_l0"]
    with pytest.raises(KeyError, match="unexpected"):
        nr.forward("LSTM", params, x)


def test_error_wrong_parameter_shape_or_kind():
    params, x = _lstm()
    with pytest.raises(ValueError, match=r"weight_ih_l0 must have shape \(15, 4\)"):
        nr.forward("GRU", params, x)  # LSTM weights have 4H rows, a GRU needs 3H
    params["weight_hh_l0"] = np.zeros(4 * H)
    with pytest.raises(ValueError, match="weight_hh_l0 must be a matrix"):
        nr.forward("LSTM", params, x)


def test_error_bad_state():
    params, x = _lstm()
    with pytest.raises(ValueError, match="pair"):
        nr.forward("LSTM", params, x, np.zeros((2, B, H)))
    with pytest.raises(ValueError, match=r"c0 must have shape \(2, 3, 5\)"):
        nr.forward("LSTM", params, x, (np.zeros((2, B, H)), np.zeros((1, B, H))))
    rnn = nr.init_params("RNN", I, H, seed=0)
    with pytest.raises(ValueError, match="h0 contains NaN"):
        nr.forward("RNN", rnn, x, np.full((1, B, H), np.nan))


def test_error_bad_backward_arguments():
    params, x = _lstm()
    out, _, cache = nr.forward("LSTM", params, x)
    with pytest.raises(ValueError, match=r"dout must have shape \(6, 3, 5\)"):
        nr.backward(cache, out[:-1])
    with pytest.raises(ValueError, match="dout contains NaN"):
        nr.backward(cache, np.full_like(out, np.nan))
    with pytest.raises(ValueError, match=r"dc_n must have shape"):
        nr.backward(cache, out, (np.zeros((2, B, H)), np.zeros((B, H))))


def test_error_params_from_torch():
    with pytest.raises(TypeError, match="expected torch.nn.RNN"):
        nr.params_from_torch(nn.Linear(3, 4))
    with pytest.raises(ValueError, match="bidirectional"):
        nr.params_from_torch(nn.GRU(3, 4, bidirectional=True))
    with pytest.raises(ValueError, match="proj_size"):
        nr.params_from_torch(nn.LSTM(3, 4, proj_size=2))
    with pytest.raises(ValueError, match="tanh"):
        nr.params_from_torch(nn.RNN(3, 4, nonlinearity="relu"))


def test_error_head_loss_arguments():
    h, W, b = np.zeros((T, B, H)), np.zeros((7, H)), np.zeros(7)
    good = np.zeros((T, B), dtype=int)
    with pytest.raises(ValueError, match="integer ids"):
        nr.head_loss(h, W, b, good.astype(float))
    with pytest.raises(ValueError, match=r"in \[0, 7\)"):
        nr.head_loss(h, W, b, good + 7)
    with pytest.raises(ValueError, match=r"weight must have shape \(7, 5\)"):
        nr.head_loss(h, W[:, :-1], b, good)
    with pytest.raises(ValueError, match=r"h must have shape \(T, B, H\)"):
        nr.head_loss(h[0], W, b, good)
    with pytest.raises(ValueError, match="h contains NaN"):
        nr.head_loss(np.full_like(h, np.nan), W, b, good)
