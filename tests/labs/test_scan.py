"""Parallel scans of h_t = a_t h_{t-1} + b_t, and the minGRU / minLSTM layers built
on them.

References: the closed form h_t = sum_s (prod_{s<r<=t} a_r) b_s + (prod_{r<=t} a_r) h0
written with numpy, finite differences (torch.autograd.gradcheck), autograd of the
Python loop, and the minGRU / minLSTM equations of Feng et al. (2024) written out.
"""

import doctest

import numpy as np
import pytest
import torch

import rnnviz.labs.scan
from rnnviz.labs.mingru import MODES, MinGRU, MinGRULM, MinLSTM, g, log_g
from rnnviz.labs.scan import (
    scan,
    scan_cost,
    scan_hillis_steele,
    scan_log,
    scan_log_space,
    scan_sequential,
    scan_tree,
)

PARALLEL = [scan_hillis_steele, scan_tree, scan_log_space]
SHAPES = [
    (1, 1, 1),
    (2, 2, 3),
    (3, 5, 4),
    (2, 8, 1),
    (1, 13, 2),
    (2, 64, 3),
    (2, 100, 2),
    (2, 7, 2, 3),
]


def _ab(shape, seed, dtype=torch.float64, positive_b=True, h0=True):
    gen = torch.Generator().manual_seed(seed)
    a = torch.rand(shape, generator=gen, dtype=dtype) * 0.98 + 0.01  # in (0, 1)
    b = (
        torch.rand(shape, generator=gen, dtype=dtype) + 0.05
        if positive_b
        else torch.randn(shape, generator=gen, dtype=dtype)
    )
    hshape = (shape[0],) + tuple(shape[2:])
    h = (torch.rand(hshape, generator=gen, dtype=dtype) + 0.1) if h0 else None
    return a, b, h


def _closed_form(a, b, h0):
    """h_t = sum_{s<=t} (prod_{s<r<=t} a_r) b_s + (prod_{r<=t} a_r) h0, with numpy,
    one t at a time."""
    a, b = a.numpy(), b.numpy()
    h0 = np.zeros_like(b[:, 0]) if h0 is None else h0.numpy()
    out = np.empty_like(b)
    for t in range(a.shape[1]):
        acc = np.prod(a[:, : t + 1], axis=1) * h0
        for s in range(t + 1):
            acc = acc + np.prod(a[:, s + 1 : t + 1], axis=1) * b[:, s]
        out[:, t] = acc
    return torch.from_numpy(out)


@pytest.mark.parametrize("shape", [(2, 1, 3), (2, 6, 3), (1, 9, 2, 2)])
@pytest.mark.parametrize("with_h0", [False, True])
def test_sequential_reference_matches_closed_form(shape, with_h0):
    a, b, h0 = _ab(shape, 1, positive_b=False, h0=with_h0)
    assert torch.allclose(
        scan_sequential(a, b, h0), _closed_form(a, b, h0), atol=1e-13, rtol=0
    )


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("fn", PARALLEL, ids=lambda f: f.__name__)
@pytest.mark.parametrize("with_h0", [False, True])
def test_parallel_scans_equal_sequential_float64(shape, fn, with_h0):
    a, b, h0 = _ab(shape, 2, h0=with_h0)
    a0, b0 = a.clone(), b.clone()
    ref = scan_sequential(a, b, h0)
    out = fn(a, b, h0)
    assert out.shape == a.shape and out.dtype == torch.float64
    assert (out - ref).abs().max() < 1e-12
    assert torch.equal(a, a0) and torch.equal(b, b0)  # inputs not mutated


@pytest.mark.parametrize(
    "fn", [scan_hillis_steele, scan_tree], ids=lambda f: f.__name__
)
def test_signed_b_and_h0(fn):
    a, b, _ = _ab((3, 37, 4), 3, positive_b=False, h0=False)
    h0 = torch.randn(
        3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(4)
    )
    assert (fn(a, b, h0) - scan_sequential(a, b, h0)).abs().max() < 1e-12
    a = a * torch.sign(
        torch.randn_like(a)
    )  # negative a too: the associative operator does not care
    assert (fn(a, b, h0) - scan_sequential(a, b, h0)).abs().max() < 1e-12


@pytest.mark.parametrize("fn", PARALLEL + [scan_sequential], ids=lambda f: f.__name__)
def test_float32_close_to_float64_reference(fn):
    a, b, h0 = _ab((4, 256, 8), 5)
    ref = scan_sequential(a, b, h0)
    out = fn(a.float(), b.float(), h0.float())
    assert out.dtype == torch.float32
    assert (out.double() - ref).abs().max() < 2e-4 * ref.abs().max()


@pytest.mark.parametrize("fn", PARALLEL, ids=lambda f: f.__name__)
def test_gradients_equal_autograd_of_the_loop(fn):
    a, b, h0 = _ab((2, 19, 3), 6)
    w = torch.randn(
        2, 19, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(7)
    )  # a random loss
    grads = []
    for f in (scan_sequential, fn):
        xs = [t.clone().requires_grad_() for t in (a, b, h0)]
        (f(*xs) * w).sum().backward()
        grads.append([x.grad for x in xs])
    for g_ref, g_par in zip(*grads):
        assert (g_ref - g_par).abs().max() < 1e-12


@pytest.mark.parametrize("fn", PARALLEL + [scan_sequential], ids=lambda f: f.__name__)
def test_gradcheck_finite_differences(fn):
    a, b, h0 = _ab((2, 6, 2), 8)
    xs = tuple(t.clone().requires_grad_() for t in (a, b, h0))
    assert torch.autograd.gradcheck(fn, xs, eps=1e-6, atol=1e-8)


def test_scan_log_takes_logarithms():
    a, b, h0 = _ab((2, 30, 3), 9)
    out = scan_log(torch.log(a), torch.log(b), torch.log(h0))
    assert (out - torch.log(scan_sequential(a, b, h0))).abs().max() < 1e-12
    assert (
        scan_log(torch.log(a), torch.log(b)) - torch.log(scan_sequential(a, b))
    ).abs().max() < 1e-12


def test_scan_dispatch_and_cost():
    a, b, h0 = _ab((1, 10, 2), 10)
    for method in rnnviz.labs.scan.METHODS:
        assert torch.allclose(
            scan(a, b, h0, method=method), scan_sequential(a, b, h0), atol=1e-12
        )
    for k in range(0, 12):
        T = 2**k
        assert scan_cost(T, "sequential") == (T - 1, T - 1)
        assert scan_cost(T, "hillis_steele") == (
            k,
            k * T - (T - 1),
        )  # sum over d = 2^j < T of (T - d)
        assert scan_cost(T, "tree") == (max(0, 2 * k - 1), max(0, 2 * T - 2 - k))
    assert doctest.testmod(rnnviz.labs.scan).failed == 0


# --- errors -----------------------------------------------------------------------


@pytest.mark.parametrize("fn", PARALLEL + [scan_sequential], ids=lambda f: f.__name__)
def test_scan_errors(fn):
    a, b, h0 = _ab((2, 5, 3), 11)
    with pytest.raises(ValueError, match="same shape"):
        fn(a, b[:, :4])
    with pytest.raises(ValueError, match=r"\(B, T, ...\)"):
        fn(a[0, :, 0], b[0, :, 0])
    with pytest.raises(ValueError, match="h0 must have shape"):
        fn(a, b, h0[:, :2])
    with pytest.raises(ValueError, match="empty"):
        fn(a[:, :0], b[:, :0])
    with pytest.raises(TypeError, match="floating-point"):
        fn(a.long(), b.long())
    with pytest.raises(TypeError, match="same dtype"):
        fn(a, b.float())
    with pytest.raises(TypeError, match="torch.Tensor"):
        fn(a.numpy(), b)


def test_log_space_rejects_non_positive_inputs():
    a, b, h0 = _ab((2, 5, 3), 12)
    for bad in ("a", "b", "h0"):
        args = {"a": a.clone(), "b": b.clone(), "h0": h0.clone()}
        args[bad].view(-1)[3] = 0.0 if bad != "b" else -0.5
        with pytest.raises(ValueError, match=f"needs {bad} > 0"):
            scan_log_space(**args)
    with pytest.raises(ValueError, match="method must be one of"):
        scan(a, b, method="blelloch")
    with pytest.raises(ValueError, match="T must be a positive int"):
        scan_cost(0, "tree")


# --- minGRU / minLSTM ---------------------------------------------------------------


def _paper_mingru(layer, x, h0):
    """Feng et al. (2024), minGRU, written out: z = sigmoid(W_z x + b_z),
    h~ = g(W_h x + b_h)."""
    W_z, W_h = layer.linear.weight.chunk(2, dim=0)
    b_z, b_h = layer.linear.bias.chunk(2)
    h, hs = h0, []
    for t in range(x.shape[1]):
        z = torch.sigmoid(x[:, t] @ W_z.T + b_z)
        h_tilde = g(x[:, t] @ W_h.T + b_h)
        h = (1 - z) * h + z * h_tilde
        hs.append(h)
    return torch.stack(hs, dim=1)


def _paper_minlstm(layer, x, h0):
    """minLSTM written out: f, i = sigmoid(...), normalised to f / (f + i) and
    i / (f + i)."""
    W_f, W_i, W_h = layer.linear.weight.chunk(3, dim=0)
    b_f, b_i, b_h = layer.linear.bias.chunk(3)
    h, hs = h0, []
    for t in range(x.shape[1]):
        f = torch.sigmoid(x[:, t] @ W_f.T + b_f)
        i = torch.sigmoid(x[:, t] @ W_i.T + b_i)
        h = f / (f + i) * h + i / (f + i) * g(x[:, t] @ W_h.T + b_h)
        hs.append(h)
    return torch.stack(hs, dim=1)


def test_g_and_log_g():
    x = torch.linspace(-30, 30, 601, dtype=torch.float64)
    assert (g(x) > 0).all()
    assert torch.allclose(
        g(torch.tensor([0.0, 1.0, -1.0])), torch.tensor([0.5, 1.5, 1 / (1 + np.e)])
    )
    xn = x.numpy()
    ref = np.where(
        xn >= 0, np.log(np.maximum(xn, 0) + 0.5), xn - np.log1p(np.exp(xn))
    )  # log sigmoid(x), exactly
    assert np.abs(log_g(x).numpy() - ref).max() < 1e-12


@pytest.mark.parametrize(
    "cls,paper", [(MinGRU, _paper_mingru), (MinLSTM, _paper_minlstm)]
)
@pytest.mark.parametrize("T", [1, 2, 17, 64])
def test_layers_all_modes_equal_paper_and_step(cls, paper, T):
    layer = cls(5, 6, seed=0).double()
    gen = torch.Generator().manual_seed(T)
    x = torch.randn(3, T, 5, dtype=torch.float64, generator=gen)
    h0 = torch.rand(3, 6, dtype=torch.float64, generator=gen)
    with torch.no_grad():
        ref = paper(layer, x, h0)
        for mode in MODES:
            out = layer(x, h0, mode=mode)
            assert out.shape == (3, T, 6)
            assert (out - ref).abs().max() < 1e-12, mode
        h, steps = h0, []
        for t in range(T):
            h = layer.step(x[:, t], h)
            steps.append(h)
        assert (torch.stack(steps, 1) - ref).abs().max() < 1e-12
        zero = paper(layer, x, torch.zeros(3, 6, dtype=torch.float64))
        assert (
            layer(x, mode="log") - zero
        ).abs().max() < 1e-12  # h0 = None means zeros
        assert torch.equal(
            layer.step(x[:, 0]),
            layer.step(x[:, 0], torch.zeros(3, 6, dtype=torch.float64)),
        )


@pytest.mark.parametrize("cls", [MinGRU, MinLSTM])
def test_layer_gradients_agree_across_modes(cls):
    x = torch.randn(
        2, 23, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3)
    )
    grads = []
    for mode in MODES:
        layer = cls(4, 5, seed=1).double()
        layer(x, mode=mode).pow(2).sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in layer.parameters()]))
    for gr in grads[1:]:
        assert (gr - grads[-1]).abs().max() < 1e-10  # grads[-1] is the sequential loop


def test_layer_parameters_and_seed():
    assert sum(p.numel() for p in MinGRU(7, 5).parameters()) == 2 * (5 * 7 + 5)
    assert sum(p.numel() for p in MinLSTM(7, 5).parameters()) == 3 * (5 * 7 + 5)
    assert torch.equal(
        MinGRU(3, 4, seed=2).linear.weight, MinGRU(3, 4, seed=2).linear.weight
    )
    assert not torch.equal(
        MinGRU(3, 4, seed=2).linear.weight, MinGRU(3, 4, seed=3).linear.weight
    )


def test_layer_errors():
    layer = MinGRU(4, 5)
    x = torch.randn(2, 3, 4)
    with pytest.raises(ValueError, match=r"x must have shape \(B, T, I\)"):
        layer(torch.randn(2, 3, 6))
    with pytest.raises(ValueError, match=r"x must have shape \(B, T, I\)"):
        layer(torch.randn(3, 4))
    with pytest.raises(ValueError, match=r"x must have shape \(B, I\)"):
        layer.step(x)
    with pytest.raises(ValueError, match="h0 must have shape"):
        layer(x, torch.zeros(2, 4))
    with pytest.raises(ValueError, match="mode must be one of"):
        layer(x, mode="parallel")
    with pytest.raises(ValueError, match="h0 >= 0"):
        layer(x, -torch.ones(2, 5), mode="log")
    with pytest.raises(TypeError, match="floating-point"):
        layer(x.long())
    with pytest.raises(ValueError, match="hidden_size must be a positive int"):
        MinGRU(4, 0)


# --- the language model ---------------------------------------------------------------


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_lm_shapes_state_and_modes(cell):
    model = MinGRULM(11, d_model=8, num_layers=2, cell=cell, seed=0).double().eval()
    ids = torch.randint(0, 11, (3, 20), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits, state = model(ids)
        assert (
            logits.shape == (3, 20, 11) and len(state) == 2 and state[0].shape == (3, 8)
        )
        for mode in MODES:
            assert (model(ids, mode=mode)[0] - logits).abs().max() < 1e-10
            first, s = model(
                ids[:, :7], mode=mode
            )  # two windows with the state carried = one window
            second, s2 = model(ids[:, 7:], s, mode=mode)
            assert (torch.cat([first, second], 1) - logits).abs().max() < 1e-10
            assert all((u - v).abs().max() < 1e-10 for u, v in zip(s2, state))


def test_lm_parameter_count_and_errors():
    V, D, L, e = 13, 8, 3, 2
    model = MinGRULM(V, D, L, e, seed=0)
    block = 2 * (D * D + D) + (D * e * D + e * D + e * D * D + D) + 2 * 2 * D
    assert model.num_parameters() == V * D + L * block + 2 * D + D * V + V
    ids = torch.zeros(1, 4, dtype=torch.long)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 13\)"):
        model(ids + 13)
    with pytest.raises(ValueError, match=r"\(B, T\) int64"):
        model(ids[0])
    with pytest.raises(ValueError, match="one \\(B, D\\) tensor per layer"):
        model(ids, (torch.zeros(1, D),))
    with pytest.raises(ValueError, match="cell must be one of"):
        MinGRULM(V, cell="gru")
    with pytest.raises(ValueError, match="mode must be one of"):
        MinGRULM(V, mode="fast")


def test_lm_trains_with_rnnviz_train():
    from rnnviz.train import evaluate, train

    ids = torch.tensor(
        [0, 1, 2, 3] * 200, dtype=torch.long
    )  # a cycle: learnable to ~0 loss
    model = MinGRULM(4, d_model=16, num_layers=1, seed=0)
    before = evaluate(model, ids)
    train(
        model,
        ids,
        None,
        steps=60,
        batch_size=8,
        seq_len=16,
        lr=1e-2,
        progress=False,
        seed=0,
    )
    assert evaluate(model, ids) < 0.25 * before


def test_lm_step_mode_equals_parallel_forward():
    model = MinGRULM(9, d_model=8, num_layers=2, seed=1).double().eval()
    ids = torch.randint(0, 9, (2, 15), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits, state = model(ids)
        s, steps = None, []
        for t in range(15):
            out, s = model.step(ids[:, t], s)
            steps.append(out)
    assert (torch.stack(steps, 1) - logits).abs().max() < 1e-10
    assert all((u - v).abs().max() < 1e-12 for u, v in zip(s, state))
    with pytest.raises(ValueError, match=r"\(B,\) int64"):
        model.step(ids)


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
@pytest.mark.parametrize("layers", [1, 3, 8])
def test_stacks_converge_under_a_constant_input(cell, layers):
    """The revival chapter's proof: with a_t in (0, 1) and position-wise maps
    between the layers, a constant input makes every layer, and the logits,
    converge, so no stack tracks the parity of 1^n."""
    lm = MinGRULM(7, d_model=16, num_layers=layers, cell=cell, mode="tree", seed=layers)
    lm = lm.double()
    with torch.no_grad():
        logits, _ = lm(torch.full((2, 1500), 3))  # (2, T, V)
        a, _ = lm.rnns[0].coefficients(lm.norms[0](lm.embed(torch.tensor([[3]]))))
    assert 0 < float(a.min()) and float(a.max()) < 1  # the contraction of the proof
    change = (logits[:, 1:] - logits[:, :-1]).abs().amax((0, 2))  # (T - 1,)
    assert change[0] > 1e-4 and change[-1] < 1e-12
    odd, even = torch.softmax(logits[0, -1], -1), torch.softmax(logits[0, -2], -1)
    assert (odd - even).abs().max() < 1e-12  # the same answer for n and n + 1
