"""Synthetic memory tasks, SeqModel initialisations and the task training loop."""

import numpy as np
import pytest
import torch

from rnnviz.labs.tasks import (
    ADDING_BASELINE_MSE,
    NO_TARGET,
    SeqModel,
    adding_problem,
    copy_task,
    fit,
    make_batch,
    score,
    task_loss,
)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- adding problem


@pytest.mark.parametrize("length", [2, 3, 10, 51])
def test_adding_layout(length):
    x, y = adding_problem(length, 500, gen())
    assert x.shape == (500, length, 2) and y.shape == (500,)
    values, markers = x[..., 0], x[..., 1]
    assert set(markers.unique().tolist()) <= {0.0, 1.0}
    assert torch.all(markers.sum(1) == 2)  # exactly two markers
    half = length // 2
    assert torch.all(markers[:, :half].sum(1) == 1) and torch.all(
        markers[:, half:].sum(1) == 1
    )
    assert values.min() >= 0 and values.max() < 1
    # the target, recomputed with numpy from the positions of the markers
    v, m = values.numpy(), markers.numpy()
    expected = np.array([v[b, np.flatnonzero(m[b])].sum() for b in range(len(v))])
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-6)


def test_adding_baseline_is_one_sixth_analytically():
    # E[(a + b - 1)^2] for independent a, b ~ U(0, 1), by the midpoint rule on a grid
    n = 2000
    u = (np.arange(n) + 0.5) / n
    a, b = np.meshgrid(u, u)
    assert abs(((a + b - 1) ** 2).mean() - 1 / 6) < 1e-6
    assert ADDING_BASELINE_MSE == pytest.approx(1 / 6, abs=1e-15)


def test_adding_baseline_by_monte_carlo():
    _, y = adding_problem(40, 400_000, gen(7))
    sq = (y.double() - 1) ** 2
    se = sq.std().item() / len(sq) ** 0.5
    assert abs(sq.mean().item() - 1 / 6) < 4 * se
    # and 1 is the best constant: the mean of the target
    assert (
        abs(y.double().mean().item() - 1) < 4 * y.double().std().item() / len(y) ** 0.5
    )


def test_adding_is_deterministic_for_a_generator():
    a, b, c = (
        adding_problem(20, 8, gen(3)),
        adding_problem(20, 8, gen(3)),
        adding_problem(20, 8, gen(4)),
    )
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


@pytest.mark.parametrize(
    "args,err,match",
    [
        ((1, 4, gen()), ValueError, "length must be an int >= 2"),
        ((10.0, 4, gen()), ValueError, "length"),
        ((10, 0, gen()), ValueError, "batch_size"),
        ((10, 4, 0), TypeError, "torch.Generator"),
    ],
)
def test_adding_errors(args, err, match):
    with pytest.raises(err, match=match):
        adding_problem(*args)


# ---------------------------------------------------------------- copy / delayed recall


def test_copy_layout():
    T, K, A = 17, 3, 5
    x, y = copy_task(T, 64, gen(), n_symbols=K, alphabet=A)
    assert x.shape == (64, T, A + 2) and y.shape == (64, T) and y.dtype == torch.int64
    assert torch.all(x.sum(-1) == 1)  # one-hot
    ids = x.argmax(-1)  # (B, T)
    blank, go = A, A + 1
    assert torch.all(ids[:, :K] < A)  # the symbols come first
    assert torch.all(ids[:, K : T - K - 1] == blank)  # then the delay
    assert torch.all(ids[:, T - K - 1] == go)  # then go
    assert torch.all(ids[:, T - K :] == blank)  # no input while recalling
    assert torch.equal(y[:, T - K :], ids[:, :K])  # recall, in order
    assert torch.all(y[:, : T - K] == NO_TARGET)
    # every symbol is recalled exactly T - K steps after it was shown
    for k in range(K):
        assert torch.equal(y[:, k + T - K], ids[:, k])


def test_copy_distractors_fill_the_delay():
    T, K, A, D = 30, 2, 4, 6
    x, y = copy_task(T, 200, gen(1), n_symbols=K, alphabet=A, distractors=D)
    assert x.shape == (200, T, A + 2 + D)
    ids = x.argmax(-1)
    delay = ids[:, K : T - K - 1]
    assert delay.min() >= A + 2 and delay.max() <= A + 1 + D
    assert len(delay.unique()) == D  # all distractors occur
    assert torch.all(ids[:, T - K - 1] == A + 1) and torch.equal(
        y[:, T - K :], ids[:, :K]
    )


def test_copy_shortest_sequence_has_no_delay():
    x, y = copy_task(3, 2, gen(), n_symbols=1, alphabet=3)
    assert x.argmax(-1)[:, 1].eq(4).all()  # symbol, go, recall
    assert torch.equal(y[:, 2], x.argmax(-1)[:, 0])


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (
            dict(length=10, n_symbols=5),
            r"length must be an int >= 2 \* n_symbols \+ 1 = 11",
        ),
        (dict(length=10, n_symbols=0), "n_symbols"),
        (dict(length=10, alphabet=1, n_symbols=2), "alphabet"),
        (dict(length=10, n_symbols=2, distractors=-1), "distractors"),
        (dict(length=10, n_symbols=2, batch_size=0), "batch_size"),
    ],
)
def test_copy_errors(kwargs, match):
    kwargs = {"batch_size": 4, **kwargs}
    with pytest.raises(ValueError, match=match):
        copy_task(generator=gen(), **kwargs)


def test_make_batch_dispatch_and_errors():
    assert torch.equal(
        make_batch("adding", 9, 3, gen(2))[0], adding_problem(9, 3, gen(2))[0]
    )
    assert torch.equal(
        make_batch("copy", 9, 3, gen(2), n_symbols=2)[1],
        copy_task(9, 3, gen(2), n_symbols=2)[1],
    )
    with pytest.raises(ValueError, match="task must be one of"):
        make_batch("reverse", 9, 3, gen())
    with pytest.raises(ValueError, match="takes no options"):
        make_batch("adding", 9, 3, gen(), n_symbols=2)


# ---------------------------------------------------------------- SeqModel


@pytest.mark.parametrize(
    "cell,torch_cls",
    [("rnn", torch.nn.RNN), ("lstm", torch.nn.LSTM), ("gru", torch.nn.GRU)],
)
def test_seqmodel_forward_matches_torch(cell, torch_cls):
    m = SeqModel(cell, 3, 8, 2, seed=1)
    ref = torch_cls(3, 8, batch_first=True)
    ref.load_state_dict(
        {k[4:]: v for k, v in m.state_dict().items() if k.startswith("rnn.")}
    )
    x = torch.randn(4, 11, 3)
    out, _ = ref(x)
    expected = out @ m.head.weight.T + m.head.bias  # (B, T, 2)
    assert torch.allclose(m(x), expected[:, -1], atol=1e-6)
    m_all = SeqModel(cell, 3, 8, 2, seed=1, readout="all")
    assert torch.allclose(m_all(x), expected, atol=1e-6)


def test_seed_is_reproducible_and_leaves_global_rng():
    torch.manual_seed(5)
    before = torch.rand(1)
    torch.manual_seed(5)
    a, b, c = (
        SeqModel("lstm", 2, 8, 1, seed=3),
        SeqModel("lstm", 2, 8, 1, seed=3),
        SeqModel("lstm", 2, 8, 1, seed=4),
    )
    assert torch.rand(1) == before
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


@pytest.mark.parametrize("cell,gates", [("rnn", 1), ("lstm", 4), ("gru", 3)])
def test_orthogonal_init(cell, gates):
    H = 12
    m = SeqModel(cell, 3, H, 1, init="orthogonal", seed=0)
    default = SeqModel(cell, 3, H, 1, seed=0)
    W = m.rnn.weight_hh_l0.detach()
    for k in range(gates):
        block = W[k * H : (k + 1) * H]  # (H, H)
        assert torch.allclose(block @ block.T, torch.eye(H), atol=1e-5)
        assert torch.allclose(torch.linalg.svdvals(block), torch.ones(H), atol=1e-5)
    # everything else keeps torch's default initialisation
    assert torch.equal(m.rnn.weight_ih_l0, default.rnn.weight_ih_l0)
    assert torch.equal(m.rnn.bias_hh_l0, default.rnn.bias_hh_l0)
    assert not torch.allclose(
        default.rnn.weight_hh_l0[:H] @ default.rnn.weight_hh_l0[:H].T,
        torch.eye(H),
        atol=0.1,
    )


def test_identity_init_copies_the_state_with_relu():
    H = 6
    m = SeqModel("rnn", 2, H, 1, init="identity", nonlinearity="relu", seed=0)
    assert torch.equal(m.rnn.weight_hh_l0, torch.eye(H))
    assert torch.all(m.rnn.bias_ih_l0 == 0) and torch.all(m.rnn.bias_hh_l0 == 0)
    # with zero input, torch's own module must carry a non-negative state unchanged
    # (the IRNN property)
    h0 = torch.rand(1, 3, H)
    out, h_n = m.rnn(torch.zeros(3, 25, 2), h0)
    assert torch.allclose(out, h0[0].unsqueeze(1).expand(3, 25, H)) and torch.allclose(
        h_n, h0
    )


@pytest.mark.parametrize("b", [1.0, 3.0, -2.0])
def test_forget_bias_sets_the_effective_bias(b):
    H = 7
    m = SeqModel("lstm", 2, H, 1, forget_bias=b, seed=0)
    default = SeqModel("lstm", 2, H, 1, seed=0)
    bih, bhh = m.rnn.bias_ih_l0.detach(), m.rnn.bias_hh_l0.detach()
    # the layout we promise: b in bias_ih's forget rows, 0 in bias_hh's
    assert torch.all(bih[H : 2 * H] == b) and torch.all(bhh[H : 2 * H] == 0)
    # the other gates' biases are torch's default
    for sl in (slice(0, H), slice(2 * H, 4 * H)):
        assert torch.equal(bih[sl], default.rnn.bias_ih_l0[sl]) and torch.equal(
            bhh[sl], default.rnn.bias_hh_l0[sl]
        )
    # measured through torch's module: with x = 0 and h0 = 0, c1 = f * c0 + i * g
    # with f = sigmoid(b)
    c0 = torch.full((1, 1, H), 2.0)
    _, (_, c1) = m.rnn(torch.zeros(1, 1, 2), (torch.zeros(1, 1, H), c0))
    bsum = bih + bhh
    i, g = torch.sigmoid(bsum[:H]), torch.tanh(bsum[2 * H : 3 * H])
    f = (c1[0, 0] - i * g) / 2.0
    assert torch.allclose(
        f, torch.full((H,), float(torch.sigmoid(torch.tensor(b)))), atol=1e-6
    )


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(cell="transformer"), "cell must be one of"),
        (dict(cell="lstm", init="identity"), "identity"),
        (dict(cell="gru", forget_bias=1.0), "forget_bias needs an LSTM"),
        (dict(cell="lstm", forget_bias=float("nan")), "finite"),
        (dict(cell="lstm", init="xavier"), "init must be"),
        (dict(cell="lstm", readout="mean"), "readout"),
        (dict(cell="rnn", nonlinearity="sigmoid"), "nonlinearity must be"),
        (dict(cell="gru", nonlinearity="relu"), "plain RNN only"),
        (dict(cell="lstm", hidden_size=0), "hidden_size"),
    ],
)
def test_seqmodel_errors(kwargs, match):
    args = {"input_size": 2, "hidden_size": 4, "output_size": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        SeqModel(**args)


def test_seqmodel_bad_input():
    m = SeqModel("gru", 2, 4, 1)
    with pytest.raises(ValueError, match=r"shape \(B, T, 2\)"):
        m(torch.zeros(5, 2))
    with pytest.raises(ValueError, match=r"shape \(B, T, 2\)"):
        m(torch.zeros(1, 5, 3))
    with pytest.raises(ValueError, match="NaN"):
        m(torch.full((1, 5, 2), float("nan")))


# ------------------------------------------------------------- losses, scores, training


def test_task_loss_and_score_against_numpy():
    x, y = adding_problem(6, 50, gen())
    m = SeqModel("lstm", 2, 4, 1, seed=0)
    with torch.no_grad():
        pred = m(x)[:, 0].numpy()
    loss, s = score("adding", m, x, y)
    assert loss == s == pytest.approx(float(((pred - y.numpy()) ** 2).mean()), rel=1e-5)

    class Oracle(torch.nn.Module):
        """Knows the answer: one-hot logits of the target (first symbol if none)."""

        def __init__(self, y, wrong=0):
            super().__init__()
            self.y, self.wrong = y, wrong

        def forward(self, x):
            logits = (
                torch.nn.functional.one_hot(self.y.clamp(min=0), 4).float() * 10
            )  # (B, T, 4)
            logits[: self.wrong, -1] = logits[: self.wrong, -1].roll(
                1, dims=-1
            )  # make a few wrong
            return logits

    x, y = copy_task(9, 20, gen(), n_symbols=2, alphabet=4)
    assert score("copy", Oracle(y), x, y)[1] == 1.0
    assert score("copy", Oracle(y, wrong=5), x, y)[1] == pytest.approx(1 - 5 / 40)
    # the cross-entropy ignores the steps without a target
    out = torch.randn(20, 9, 4)
    expected = torch.nn.functional.cross_entropy(
        out[:, -2:].flatten(0, 1), y[:, -2:].flatten()
    )
    assert torch.allclose(task_loss("copy", out, y), expected)
    with pytest.raises(ValueError, match="task must be one of"):
        task_loss("sort", out, y)
    with pytest.raises(ValueError, match="task must be one of"):
        score("sort", Oracle(y), x, y)


def _fit(seed=0, **kwargs):
    m = SeqModel("lstm", 2, 8, 1, seed=seed)
    valid = adding_problem(5, 200, gen(100))
    h = fit(
        m,
        "adding",
        5,
        steps=60,
        batch_size=16,
        seed=seed,
        valid=valid,
        eval_every=20,
        **kwargs,
    )
    return m, h


def test_fit_is_deterministic_and_leaves_global_rng():
    torch.manual_seed(9)
    before = torch.rand(1)
    torch.manual_seed(9)
    (ma, ha), (mb, hb), (_, hc) = _fit(0), _fit(0), _fit(1)
    assert torch.rand(1) == before
    assert ha.train_loss == hb.train_loss and ha.metrics == hb.metrics
    assert all(torch.equal(p, q) for p, q in zip(ma.parameters(), mb.parameters()))
    assert ha.train_loss != hc.train_loss
    assert ha.eval_step == [20, 40, 60] and len(ha.step) == 60 and not ma.training


def test_fit_same_seed_same_batches_for_every_cell(monkeypatch):
    # the memory chapter pairs cells by seed: the same seed, the same batches
    seen = {}

    def recording(task, length, batch_size, generator, **kwargs):
        x, y = make_batch(task, length, batch_size, generator, **kwargs)
        seen.setdefault(current, []).append(x.clone())
        return x, y

    monkeypatch.setattr("rnnviz.labs.tasks.make_batch", recording)
    for current, (cell, seed) in enumerate([("rnn", 3), ("gru", 3), ("lstm", 4)]):
        fit(SeqModel(cell, 2, 4, 1, seed=seed), "adding", 6, steps=5, seed=seed)
    assert len(seen[0]) == len(seen[1]) == 5
    assert all(torch.equal(a, b) for a, b in zip(seen[0], seen[1]))
    assert not torch.equal(seen[0][0], seen[2][0])


def test_fit_learns_the_adding_problem_for_short_sequences():
    m = SeqModel("gru", 2, 16, 1, seed=0)
    valid = adding_problem(6, 500, gen(100))
    h = fit(
        m,
        "adding",
        6,
        steps=400,
        batch_size=32,
        lr=0.01,
        seed=0,
        valid=valid,
        eval_every=100,
    )
    test = adding_problem(6, 2000, gen(200))
    assert score("adding", m, *test)[0] < 0.25 * ADDING_BASELINE_MSE
    assert h.metrics["score"][-1] < h.metrics["score"][0]
    assert h.val_loss == h.metrics["score"]  # the adding score is the MSE


def test_fit_stop_at_and_copy_task():
    opts = dict(n_symbols=1, alphabet=4)
    m = SeqModel("lstm", 6, 16, 4, forget_bias=2.0, seed=0, readout="all")
    valid = copy_task(8, 200, gen(100), **opts)
    h = fit(
        m,
        "copy",
        8,
        steps=600,
        batch_size=32,
        lr=0.01,
        seed=0,
        valid=valid,
        eval_every=25,
        stop_at=0.99,
        task_options=opts,
    )
    assert (
        h.metrics["score"][-1] >= 0.99
        and h.step[-1] < 600
        and h.eval_step[-1] == h.step[-1]
    )


@pytest.mark.parametrize(
    "kwargs,err,match",
    [
        (dict(task="sort"), ValueError, "task must be one of"),
        (dict(steps=0), ValueError, "steps"),
        (dict(lr=-1.0), ValueError, "lr must be"),
        (dict(clip=0.0), ValueError, "clip must be"),
        (dict(stop_at=0.01), ValueError, "stop_at needs"),
    ],
)
def test_fit_errors(kwargs, err, match):
    args = {"task": "adding", **kwargs}
    with pytest.raises(err, match=match):
        fit(SeqModel("rnn", 2, 4, 1), length=5, **args)


def test_fit_reports_nan_loss():
    m = SeqModel("rnn", 2, 4, 1)
    with torch.no_grad():
        m.head.bias.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="loss became nan at step 1"):
        fit(m, "adding", 5, steps=3)
