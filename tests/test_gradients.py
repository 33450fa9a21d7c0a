"""Gradient-flow measurements against torch's cells, autograd and finite differences."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from rnnviz.gradients import (
    by_distance,
    forget_products,
    hidden_grad_norms,
    parameter_grad_norms,
    product_norms,
    scale_recurrent,
    spectral_radius,
    step_jacobians,
)
from rnnviz.models import CharLM

V = 7
TORCH_CELLS = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}


def _model(cell, layers=2, hidden=5, seed=0, scale=1.0):
    m = CharLM(
        V, hidden_size=hidden, num_layers=layers, cell=cell, embed_size=4, seed=seed
    )
    if (
        scale != 1.0
    ):  # larger weights: gradients that neither vanish nor blow up in 6 steps
        with torch.no_grad():
            for n, p in m.rnn.named_parameters():
                if n.startswith("weight_hh"):
                    p.mul_(scale)
    return m


def _ids(B=3, T=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, V, (B, T), generator=g), torch.randint(
        0, V, (B, T), generator=g
    )


def _torch_cells(model):
    """torch.nn.RNNCell/LSTMCell/GRUCell per layer with the model's weights, float64."""
    out, H = [], model.rnn.hidden_size
    for l in range(model.rnn.num_layers):
        cell = TORCH_CELLS[model.cell](
            model.rnn.input_size if l == 0 else H, H
        ).double()
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(cell, name).copy_(getattr(model.rnn, f"{name}_l{l}"))
        out.append(cell)
    return out


def _reference_loss(model, ids, targets, loss_step, dh, dc):
    """Loss at ``loss_step``, perturbations dh[l, t], dc[l, t] (B, H) on the states."""
    tc, L, H = _torch_cells(model), model.rnn.num_layers, model.rnn.hidden_size
    B = ids.shape[0]
    x = model.embed(ids).detach().double()  # (B, T, E)
    h = [torch.zeros(B, H, dtype=torch.float64) for _ in range(L)]
    c = [torch.zeros(B, H, dtype=torch.float64) for _ in range(L)]
    for t in range(loss_step + 1):
        inp = x[:, t]
        for l in range(L):
            if model.cell == "lstm":
                h[l], c[l] = tc[l](inp, (h[l], c[l]))
                c[l] = c[l] + dc[l, t]
            else:
                h[l] = tc[l](inp, h[l])
            h[l] = h[l] + dh[l, t]
            inp = h[l]
    logits = nn.functional.linear(
        h[-1], model.head.weight.double(), model.head.bias.double()
    )
    return nn.functional.cross_entropy(logits, targets[:, loss_step], reduction="sum")


def _reference_grads(model, ids, targets, loss_step):
    """dL/dh and dL/dc of every layer and step, (L, T, B, H).

    Computed with torch cells and zero perturbations.
    """
    L, H = model.rnn.num_layers, model.rnn.hidden_size
    B, T = ids.shape
    dh = torch.zeros(L, T, B, H, dtype=torch.float64, requires_grad=True)
    dc = torch.zeros(L, T, B, H, dtype=torch.float64, requires_grad=True)
    loss = _reference_loss(model, ids, targets, loss_step, dh, dc)
    gh, gc = torch.autograd.grad(loss, [dh, dc], allow_unused=True)
    return gh, (gc if gc is not None else torch.zeros_like(dh))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("loss_step", [5, 3])
def test_hidden_grad_norms_match_torch_cells(cell, loss_step):
    model = _model(cell, scale=3.0)
    ids, targets = _ids()
    gh, gc = _reference_grads(model, ids, targets, loss_step)
    want_h = gh.norm(dim=3).permute(0, 2, 1).numpy()  # (L, B, T)
    got = hidden_grad_norms(model, ids, targets, loss_step=loss_step, reduce="none")
    np.testing.assert_allclose(got, want_h, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(
        hidden_grad_norms(model, ids, targets, loss_step=loss_step),
        want_h.mean(axis=1),
        rtol=1e-9,
        atol=1e-14,
    )
    assert (got[:, :, loss_step + 1 :] == 0).all() and (
        got[:, :, : loss_step + 1] > 0
    ).all()
    if cell == "lstm":
        # BPTT for the cell: delta c_t = delta h_t * o_t * (1 - tanh(c_t)^2)
        # + (the path through c_{t+1}), the second term being what a perturbation
        # of c after h_t was computed sees (torch cells).
        tr = model.probe(ids)
        want_c = []
        for l in range(2):
            o = (
                torch.from_numpy(tr.series("o", l)).double().transpose(0, 1)
            )  # (B, T, H)
            tanh_c = torch.tanh(torch.from_numpy(tr.series("c", l)).double()).transpose(
                0, 1
            )
            delta_c = gh[l].transpose(0, 1) * o * (1 - tanh_c**2) + gc[l].transpose(
                0, 1
            )  # (B, T, H)
            want_c.append(delta_c.norm(dim=2).numpy())
        got_c = hidden_grad_norms(
            model, ids, targets, loss_step=loss_step, wrt="c", reduce="none"
        )
        np.testing.assert_allclose(got_c, np.array(want_c), rtol=1e-5, atol=1e-12)
        assert (
            got_c[:, :, loss_step] > 0
        ).all()  # the cell at the loss step feeds h there


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_hidden_grad_norms_match_finite_differences(cell):
    model = _model(cell, layers=2, hidden=3, scale=2.0)
    ids, targets = _ids(B=1, T=5)
    L, T, H, eps = 2, 5, 3, 1e-6
    fd = np.zeros((L, T, H))
    for l in range(L):
        for t in range(T):
            for k in range(H):
                vals = []
                for sign in (1, -1):
                    dh = torch.zeros(L, T, 1, H, dtype=torch.float64)
                    dh[l, t, 0, k] = sign * eps
                    with torch.no_grad():
                        vals.append(
                            float(
                                _reference_loss(
                                    model, ids, targets, T - 1, dh, torch.zeros_like(dh)
                                )
                            )
                        )
                fd[l, t, k] = (vals[0] - vals[1]) / (2 * eps)
    got = hidden_grad_norms(model, ids, targets)  # (L, T), B = 1
    np.testing.assert_allclose(got, np.linalg.norm(fd, axis=2), rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_hidden_grad_norms_match_the_fused_module(cell):
    """Single layer: restart the fused torch module from the state at step t.

    The gradient is taken with respect to that state.
    """
    model = copy.deepcopy(_model(cell, layers=1, hidden=6, scale=2.0)).double()
    ids, targets = _ids(B=2, T=7)
    want = []
    for t in range(6):
        with torch.no_grad():
            _, state = model.rnn(model.embed(ids[:, : t + 1]))
        state = (
            tuple(s.clone().requires_grad_() for s in state)
            if cell == "lstm"
            else state.clone().requires_grad_()
        )
        out, _ = model.rnn(model.embed(ids[:, t + 1 :]), state)
        loss = nn.functional.cross_entropy(
            model.head(out[:, -1]), targets[:, -1], reduction="sum"
        )
        g = torch.autograd.grad(loss, state[0] if cell == "lstm" else state)[
            0
        ]  # (1, B, H)
        want.append(g[0].norm(dim=1).mean().item())
    got = hidden_grad_norms(model, ids, targets)[0]
    np.testing.assert_allclose(got[:6], want, rtol=1e-9)


def test_float32_measurement_is_close_and_inputs_untouched():
    model = _model("lstm")
    ids, targets = _ids()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ids0 = ids.clone()
    a = hidden_grad_norms(model, ids, targets, dtype=torch.float32)
    b = hidden_grad_norms(model, ids, targets)
    np.testing.assert_allclose(a, b, rtol=1e-4)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(ids, ids0) and all(p.grad is None for p in model.parameters())


def test_hidden_grad_norms_errors():
    model = _model("gru")
    ids, targets = _ids()
    with pytest.raises(TypeError, match="needs a recurrent character model"):
        hidden_grad_norms(nn.GRU(4, 5), ids, targets)
    with pytest.raises(ValueError, match=r"targets must be a tensor of shape \(3, 6\)"):
        hidden_grad_norms(model, ids, targets[:, :4])
    with pytest.raises(ValueError, match="ids must lie in"):
        hidden_grad_norms(model, ids, targets + V)
    with pytest.raises(ValueError, match="wrt must be 'h'"):
        hidden_grad_norms(model, ids, targets, wrt="c")
    with pytest.raises(ValueError, match="reduce must be"):
        hidden_grad_norms(model, ids, targets, reduce="sum")
    with pytest.raises(IndexError, match=r"loss_step must be an int in \[-6, 6\)"):
        hidden_grad_norms(model, ids, targets, loss_step=6)
    bad = copy.deepcopy(model)
    with torch.no_grad():
        bad.rnn.weight_hh_l0[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite weights"):
        hidden_grad_norms(bad, ids, targets)


def test_by_distance():
    v = np.arange(12).reshape(2, 6)
    np.testing.assert_array_equal(by_distance(v), v[:, ::-1])
    np.testing.assert_array_equal(by_distance(v, loss_step=2), [[2, 1, 0], [8, 7, 6]])
    with pytest.raises(ValueError, match="non-empty last"):
        by_distance(np.zeros((2, 0)))
    with pytest.raises(IndexError, match="loss_step"):
        by_distance(v, loss_step=-7)


def _torch_states(model, ids, layer):
    """Inputs x_t and states (h_{t-1}, c_{t-1}) of ``layer`` on ids (1, T) (torch)."""
    tc, H = _torch_cells(model), model.rnn.hidden_size
    inp = model.embed(ids[0]).detach().double()  # (T, E)
    for l in range(layer + 1):
        h, c = (
            torch.zeros(1, H, dtype=torch.float64),
            torch.zeros(1, H, dtype=torch.float64),
        )
        xs, prev, outs = inp, [], []
        for t in range(len(inp)):
            prev.append((h, c))
            if model.cell == "lstm":
                h, c = tc[l](inp[t : t + 1], (h, c))
            else:
                h = tc[l](inp[t : t + 1], h)
            outs.append(h[0])
        inp = torch.stack(outs)
    return tc[layer], xs, prev


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_step_jacobians_match_autograd_jacobian(cell):
    model = _model(cell, layers=2, hidden=4, scale=2.0)
    ids, _ = _ids(B=1, T=6)
    sj = step_jacobians(model, ids[0], layer=1)
    tcell, xs, prev = _torch_states(model, ids, layer=1)
    H = 4
    for t in range(6):
        h, c = prev[t]
        if cell == "lstm":
            f = lambda s: torch.cat(tcell(xs[t : t + 1], (s[:, :H], s[:, H:])), dim=1)  # noqa: E731
            s0 = torch.cat([h, c], dim=1)
        else:
            f, s0 = (lambda s: tcell(xs[t : t + 1], s)), h
        J = torch.autograd.functional.jacobian(f, s0)[0, :, 0, :].numpy()  # (S, S)
        np.testing.assert_allclose(sj.J[t], J, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(
            sj.sv[t], np.linalg.svd(J, compute_uv=False), rtol=1e-9, atol=1e-12
        )
    assert (
        sj.J.shape == ((6, 8, 8) if cell == "lstm" else (6, 4, 4))
        and sj.kind == cell.upper()
    )


def test_rnn_jacobian_is_the_published_formula():
    """dh_t/dh_{t-1} = diag(1 - h_t^2) W_hh, tanh RNN (Pascanu et al. 2013, eq. 5)."""
    model = _model("rnn", layers=1, hidden=6, scale=2.0)
    ids, _ = _ids(B=1, T=8)
    sj = step_jacobians(model, ids)
    h = model.probe(ids).series("h")[:, 0].astype(np.float64)  # (T, H)
    W = model.rnn.weight_hh_l0.detach().double().numpy()
    want = (1 - h**2)[:, :, None] * W[None]  # (T, H, H)
    np.testing.assert_allclose(sj.J, want, atol=1e-6)


def test_product_norms_are_norms_of_the_explicit_product():
    rng = np.random.default_rng(0)
    J = rng.normal(size=(9, 4, 4)) * 0.5
    want = [1.0] + [
        np.linalg.norm(
            np.linalg.multi_dot([J[8 - k] for k in range(d)] + [np.eye(4)]), 2
        )
        for d in range(1, 9)
    ]
    np.testing.assert_allclose(product_norms(J), want, rtol=1e-10)
    np.testing.assert_allclose(
        product_norms(J * 1e-40)[5], want[5] * 1e-200, rtol=1e-10
    )  # no underflow
    assert (product_norms(np.zeros((4, 2, 2)))[1:] == 0).all()
    with pytest.raises(ValueError, match=r"shape \(T, S, S\)"):
        product_norms(np.zeros((3, 2, 4)))
    with pytest.raises(ValueError, match="NaN"):
        product_norms(np.full((3, 2, 2), np.nan))


def test_step_jacobians_errors():
    model = _model("lstm")
    ids, _ = _ids()
    with pytest.raises(ValueError, match="one text at a time"):
        step_jacobians(model, ids)
    with pytest.raises(IndexError, match=r"layer must be an int in \[0, 2\)"):
        step_jacobians(model, ids[0], layer=2)
    with pytest.raises(TypeError, match="batch-first torch.nn.RNN/LSTM/GRU `rnn`"):
        step_jacobians(nn.LSTM(3, 3), ids[0])


class _SameStructure(nn.Module):
    """Not a CharLM: its own class with the structure embed -> rnn -> head."""

    def __init__(self, lm: CharLM) -> None:
        super().__init__()
        self.embed, self.rnn, self.head = lm.embed, lm.rnn, lm.head

    def forward(self, ids, state=None):
        out, state = self.rnn(self.embed(ids), state)
        return self.head(out), state


class _OwnCell(nn.Module):
    """A character model without a fused torch RNN (like NormCharLM): no replay."""

    def __init__(self) -> None:
        super().__init__()
        self.embed, self.cell = nn.Embedding(V, 4), nn.GRUCell(4, 5)
        self.head = nn.Linear(5, V)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_the_measurements_read_the_structure_not_the_class(cell):
    lm = _model(cell)
    twin = _SameStructure(lm)
    ids, targets = _ids()
    np.testing.assert_array_equal(
        hidden_grad_norms(twin, ids, targets), hidden_grad_norms(lm, ids, targets)
    )
    np.testing.assert_array_equal(
        step_jacobians(twin, ids[0]).J, step_jacobians(lm, ids[0]).J
    )
    assert parameter_grad_norms(twin, ids, targets) == parameter_grad_norms(
        lm, ids, targets
    )
    if cell == "lstm":
        np.testing.assert_array_equal(
            forget_products(twin, ids), forget_products(lm, ids)
        )
    for bad in (_OwnCell(), nn.Linear(3, 3)):
        with pytest.raises(TypeError, match="needs a recurrent character model"):
            hidden_grad_norms(bad, ids, targets)
    lm.rnn.batch_first = False  # a replay of (B, T) ids needs a batch-first rnn
    with pytest.raises(TypeError, match="batch-first"):
        hidden_grad_norms(lm, ids, targets)


def test_forget_products_are_the_cell_path_of_the_jacobian():
    """diag(dc_t/dc_{t-1}) = f_t, from torch's LSTMCell by autograd.

    And their products along the text.
    """
    model = _model("lstm", layers=2, hidden=4, scale=2.0)
    ids, _ = _ids(B=1, T=6)
    got = forget_products(model, ids, layer=1)  # (T, 1, H)
    tcell, xs, prev = _torch_states(model, ids, layer=1)
    f = []
    for t in range(6):
        h, c = prev[t]
        J = torch.autograd.functional.jacobian(
            lambda c_: tcell(xs[t : t + 1], (h, c_))[1], c
        )[0, :, 0, :]
        f.append(torch.diagonal(J).numpy())  # (H,)
    f = np.array(f)  # (T, H)
    want = np.array(
        [np.prod(f[6 - d :], axis=0) for d in range(6)]
    )  # d = 0 -> empty product 1
    np.testing.assert_allclose(got[:, 0], want, rtol=1e-6)
    with pytest.raises(ValueError, match="needs an LSTM"):
        forget_products(_model("gru"), ids)


def test_parameter_grad_norms_match_backward():
    model = _model("lstm")
    model.train()
    ids, targets = _ids()
    got = parameter_grad_norms(model, ids, targets)
    ref = copy.deepcopy(model).eval()
    logits, _ = ref(ids)
    nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten()).backward()
    want = {n: p.grad.norm().item() for n, p in ref.named_parameters()}
    assert got.keys() == want.keys()
    np.testing.assert_allclose([got[n] for n in want], list(want.values()), rtol=1e-6)
    assert model.training and all(p.grad is None for p in model.parameters())
    with pytest.raises(ValueError, match="targets must be a tensor"):
        parameter_grad_norms(model, ids, targets[0])


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_scale_recurrent(cell):
    model = _model(cell, hidden=6)
    before = copy.deepcopy(model.state_dict())
    out = scale_recurrent(model, 1.7)
    H = 6
    for l in range(2):
        W = getattr(out.rnn, f"weight_hh_l{l}").detach().numpy()
        for k in range(W.shape[0] // H):
            assert (
                abs(np.abs(np.linalg.eigvals(W[k * H : (k + 1) * H])).max() - 1.7)
                < 1e-5
            )
        np.testing.assert_array_equal(
            getattr(out.rnn, f"weight_ih_l{l}").detach(), before[f"rnn.weight_ih_l{l}"]
        )
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert spectral_radius(np.diag([0.5, -2.0])) == 2.0
    with pytest.raises(ValueError, match="radius must be a finite number"):
        scale_recurrent(model, -1.0)
    with pytest.raises(ValueError, match="square matrix"):
        spectral_radius(np.zeros((2, 3)))
    nil = copy.deepcopy(model)
    with torch.no_grad():
        nil.rnn.weight_hh_l0.zero_()
    with pytest.raises(ValueError, match="spectral radius 0"):
        scale_recurrent(nil, 1.0)
