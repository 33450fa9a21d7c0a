"""Truncated BPTT: detaching the carried state, stateful training, clipping.

References are computed independently of rnnviz.tbptt: explicit autograd on
one window with the incoming state as a constant, a single forward pass over
the whole streams, and the clipping formulas written out.
"""

import copy
import math

import pytest
import torch
from torch import nn

from rnnviz.data import Vocab, num_stream_batches, stream_batches
from rnnviz.models import CharLM
from rnnviz.tbptt import detach_state, train_stateful
from rnnviz.train import DivergedError, clip_gradients

TEXT = (
    "to be, or not to be: that is the question.\n"
    "whether 'tis nobler in the mind to suffer\n"
) * 6
VOCAB = Vocab.from_text(TEXT)
IDS = VOCAB.encode(TEXT)  # (N,)
B, T = 3, 7


def _model(cell="lstm", seed=0, **kw):
    kw = {"hidden_size": 8, "embed_size": 4, **kw}
    return CharLM(len(VOCAB), cell=cell, seed=seed, vocab=VOCAB, **kw)


def _ce(logits, y):
    return nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())


def _params(model):
    return [p for p in model.parameters()]


# --- detach_state -------------------------------------------------------------


def test_detach_state_tensor_tuple_nested_and_none():
    w = torch.randn(3, requires_grad=True)
    h, c = (
        torch.randn(1, 2, 3) * w,
        torch.randn(1, 2, 3) + w,
    )  # (layers, B, H), with a graph
    for state in (h, (h, c), [h, (c, h)]):
        out = detach_state(state)
        flat_in, flat_out = _flatten(state), _flatten(out)
        assert type(out) is type(state)
        for a, b in zip(flat_in, flat_out):
            assert a.grad_fn is not None  # the input keeps its graph
            assert b.grad_fn is None and not b.requires_grad
            assert (
                torch.equal(a, b) and a.data_ptr() == b.data_ptr()
            )  # same values, no copy
    assert detach_state(None) is None


def _flatten(s):
    return [s] if isinstance(s, torch.Tensor) else [t for x in s for t in _flatten(x)]


@pytest.mark.parametrize("bad", [3, "h", {"h": torch.zeros(1)}])
def test_detach_state_rejects_other_types(bad):
    with pytest.raises(TypeError, match="state must be None, a Tensor, a tuple"):
        detach_state(bad)


# --- what detach does to the gradient --------------------------------------------


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_detached_gradient_is_the_window_alone_and_attached_is_full_bptt(cell):
    model = _model(cell)
    (x1, y1), (x2, y2) = list(stream_batches(IDS, B, T))[:2]

    def grads(loss):
        return torch.cat(
            [g.flatten() for g in torch.autograd.grad(loss, _params(model))]
        )

    _, h1 = model(x1)
    logits, _ = model(x2, detach_state(h1))
    g_detached = grads(_ce(logits, y2))
    logits, _ = model(x2, h1)  # not detached: the graph reaches into batch 1
    g_attached = grads(_ce(logits, y2))

    with torch.no_grad():  # reference 1: window 2 alone, incoming state a constant
        _, h_const = model(x1)
    logits, _ = model(x2, h_const)
    ref_window = grads(_ce(logits, y2))
    logits, _ = model(
        torch.cat([x1, x2], 1)
    )  # reference 2: one forward over both windows
    ref_full = grads(_ce(logits[:, T:], y2))

    assert torch.allclose(g_detached, ref_window, atol=1e-6)
    assert torch.allclose(g_attached, ref_full, atol=1e-6)
    assert (g_attached - g_detached).norm() > 1e-3 * g_attached.norm()


def test_without_detach_a_second_backward_raises():
    model = _model("lstm")
    (x1, y1), (x2, y2) = list(stream_batches(IDS, B, T))[:2]
    logits, h = model(x1)
    _ce(logits, y1).backward()  # frees batch 1's graph
    logits, _ = model(x2, h)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        _ce(logits, y2).backward()
    logits, _ = model(x2, detach_state(h))
    _ce(logits, y2).backward()  # fine once detached


# --- train_stateful ----------------------------------------------------------------


@pytest.mark.parametrize("state", ["carry", "reset"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_train_stateful_matches_explicit_sgd_steps(state, cell):
    lr = 0.5
    model = _model(cell)
    ref = copy.deepcopy(model)
    train_stateful(
        model,
        IDS,
        steps=3,
        batch_size=B,
        seq_len=T,
        state=state,
        clip=None,
        progress=False,
        optimizer=torch.optim.SGD(model.parameters(), lr=lr),
    )
    h = None
    for x, y in list(stream_batches(IDS, B, T))[:3]:
        with (
            torch.no_grad()
        ):  # the state entering the next batch, from the current weights
            _, h_next = ref(x, h)
        logits, _ = ref(x, h)
        grads = torch.autograd.grad(_ce(logits, y), _params(ref))
        with torch.no_grad():
            for p, g in zip(_params(ref), grads):
                p -= lr * g
        h = h_next if state == "carry" else None
    for p, q in zip(_params(model), _params(ref)):
        assert torch.allclose(p, q, atol=1e-6)


def _losses_lr0(state, steps):
    model = _model("lstm")
    hist = train_stateful(
        model,
        IDS,
        steps=steps,
        batch_size=B,
        seq_len=T,
        state=state,
        clip=None,
        progress=False,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.0),
    )
    return model, torch.tensor(hist.train_loss, dtype=torch.float64)


def test_carry_reads_the_streams_as_one_forward_pass_and_restarts_at_the_end():
    n = num_stream_batches(len(IDS), B, T)
    model, losses = _losses_lr0("carry", n + 2)
    L = len(IDS) // B
    streams = IDS[: B * L].reshape(B, L)  # (B, L)
    with torch.no_grad():
        logits, _ = model(streams[:, :-1])  # one pass, the state never cut
    ref = [
        _ce(logits[:, s : s + T], streams[:, s + 1 : s + T + 1]).item()
        for s in range(0, L - 1, T)
    ]
    assert len(ref) == n
    assert torch.allclose(losses[:n], torch.tensor(ref, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(
        losses[n:], losses[:2]
    )  # wrapped around, state reset to zeros


def test_reset_starts_every_batch_from_zeros():
    n = num_stream_batches(len(IDS), B, T)
    model, losses = _losses_lr0("reset", n)
    with torch.no_grad():
        ref = [_ce(model(x)[0], y).item() for x, y in stream_batches(IDS, B, T)]
    assert torch.allclose(losses, torch.tensor(ref, dtype=torch.float64), atol=1e-5)
    _, carried = _losses_lr0("carry", n)
    assert losses[0] == carried[0] and not torch.allclose(losses[1:], carried[1:])


def test_deterministic_for_a_seed_and_global_rng_untouched():
    def run(seed):
        m = _model("lstm", num_layers=2, dropout=0.3)
        h = train_stateful(
            m,
            IDS,
            IDS[:200],
            steps=6,
            batch_size=B,
            seq_len=T,
            lr=1e-2,
            eval_every=3,
            seed=seed,
            progress=False,
        )
        return h, m.state_dict()

    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    (h1, s1), (h2, s2), (h3, _) = run(0), run(0), run(1)
    assert torch.rand(1) == before
    assert (
        h1.train_loss == h2.train_loss
        and h1.grad_norm == h2.grad_norm
        and h1.val_loss == h2.val_loss
    )
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    assert h1.train_loss != h3.train_loss  # another seed, other dropout masks
    assert h1.eval_step == [3, 6] and h1.step == list(range(1, 7))


def test_records_the_gradient_norm_before_clipping_and_the_raw_gradient():
    model = _model("lstm")
    ref = copy.deepcopy(model)
    seen = []
    hist = train_stateful(
        model,
        IDS,
        steps=1,
        batch_size=B,
        seq_len=T,
        clip=1e-3,
        progress=False,
        on_gradient=lambda step, g: seen.append((step, g)),
    )
    x, y = next(stream_batches(IDS, B, T))
    g = torch.cat(
        [t.flatten() for t in torch.autograd.grad(_ce(ref(x)[0], y), _params(ref))]
    )
    assert seen[0][0] == 1 and torch.allclose(seen[0][1], g, atol=1e-7)
    assert hist.grad_norm[0] == pytest.approx(float(g.double().norm()), rel=1e-5)
    assert hist.grad_norm[0] > 1e-3  # so the clipping acted on it


# --- clipping ------------------------------------------------------------------------


def _grads_on(params, seed=0, scale=5.0):
    gen = torch.Generator().manual_seed(seed)
    for p in params:
        p.grad = scale * torch.randn(p.shape, generator=gen)
    return torch.cat([p.grad.flatten() for p in params]).clone()  # (P,)


@pytest.mark.parametrize("clip", [0.5, 1e3])
def test_clip_by_norm_rescales_all_gradients_together(clip):
    params = _params(_model("gru"))
    g = _grads_on(params)
    norm = clip_gradients(params, clip, "norm")
    after = torch.cat([p.grad.flatten() for p in params])
    true_norm = math.sqrt(sum(float(v) ** 2 for v in g.double()))  # written out
    assert norm == pytest.approx(true_norm, rel=1e-5)
    expected = g * min(1.0, clip / true_norm)
    assert torch.allclose(after, expected, rtol=1e-5, atol=1e-7)
    assert float(after.norm()) <= clip * (1 + 1e-5)
    assert float(nn.functional.cosine_similarity(after, g, dim=0)) == pytest.approx(
        1.0, abs=1e-6
    )


def test_clip_by_value_clamps_each_element_and_turns_the_direction():
    params = _params(_model("gru"))
    g = _grads_on(params)
    norm = clip_gradients(params, 1.0, "value")
    after = torch.cat([p.grad.flatten() for p in params])
    assert norm == pytest.approx(
        float(g.double().norm()), rel=1e-5
    )  # measured before clipping
    assert torch.equal(after, torch.where(g > 1.0, 1.0, torch.where(g < -1.0, -1.0, g)))
    assert float(after.abs().max()) <= 1.0
    assert float(nn.functional.cosine_similarity(after, g, dim=0)) < 0.99


def test_no_clipping_only_measures():
    params = _params(_model("rnn"))
    g = _grads_on(params)
    for clip, mode in ((None, "norm"), (1.0, None), (math.inf, "norm")):
        assert clip_gradients(params, clip, mode) == pytest.approx(
            float(g.norm()), rel=1e-5
        )
        assert torch.equal(torch.cat([p.grad.flatten() for p in params]), g)


@pytest.mark.parametrize("mode", ["norm", "value", None])
def test_train_stateful_applies_the_clipped_gradient(mode):
    clip = 0.01
    model = _model("rnn")
    before = torch.cat([p.detach().flatten() for p in model.parameters()])
    hist = train_stateful(
        model,
        IDS,
        steps=1,
        batch_size=B,
        seq_len=T,
        clip=clip,
        clip_mode=mode,
        progress=False,
        optimizer=torch.optim.SGD(model.parameters(), lr=1.0),
    )
    step = before - torch.cat(
        [p.detach().flatten() for p in model.parameters()]
    )  # the applied gradient
    raw = hist.grad_norm[0]
    assert raw > clip
    if mode == "norm":
        assert float(step.norm()) == pytest.approx(clip, rel=1e-4)
    elif mode == "value":
        assert float(step.abs().max()) == pytest.approx(clip, rel=1e-4)
        assert float(step.norm()) < raw
    else:
        assert float(step.norm()) == pytest.approx(raw, rel=1e-4)


# --- errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"state": "keep"}, "state must be 'carry' or 'reset'"),
        ({"clip_mode": "l1"}, "clip_mode must be 'norm', 'value' or None"),
        ({"clip": 0.0}, "clip must be positive or None"),
        ({"clip": float("nan")}, "clip must be positive or None"),
        ({"clip": -1.0, "clip_mode": "value"}, "clip must be positive or None"),
        ({"steps": 0}, "steps must be a positive int"),
        ({"seq_len": 2.5}, "seq_len must be a positive int"),
        ({"batch_size": True}, "batch_size must be a positive int"),
        ({"time_budget": 0}, "time_budget must be positive"),
        ({"batch_size": 400}, "ids too short"),
    ],
)
def test_train_stateful_bad_arguments(kwargs, match):
    kw = {"steps": 2, "batch_size": B, "seq_len": T, "progress": False, **kwargs}
    with pytest.raises(ValueError, match=match):
        train_stateful(_model(), IDS, **kw)


def test_train_stateful_bad_ids():
    with pytest.raises(ValueError, match="train_ids must be a 1-D int64 tensor"):
        train_stateful(_model(), IDS.float(), steps=1, progress=False)
    with pytest.raises(ValueError, match="valid_ids must be a 1-D int64 tensor"):
        train_stateful(_model(), IDS, IDS[None], steps=1, progress=False)


def test_clip_gradients_bad_arguments():
    params = _params(_model())
    with pytest.raises(ValueError, match="clip_mode"):
        clip_gradients(params, 1.0, "max")
    with pytest.raises(ValueError, match="clip must be positive or None"):
        clip_gradients(params, 0.0, "norm")
    with pytest.raises(ValueError, match="clip must be positive or None"):
        clip_gradients(params, -1.0, "value")


class _NaNAt(nn.Module):
    """A CharLM whose logits become NaN from the ``bad``-th call on."""

    def __init__(self, bad):
        super().__init__()
        self.inner, self.bad, self.calls = _model("gru"), bad, 0

    def forward(self, x, state=None):
        self.calls += 1
        logits, state = self.inner(x, state)
        return (logits * math.nan if self.calls >= self.bad else logits), state


def test_nan_loss_raises_with_the_history_so_far():
    with pytest.raises(FloatingPointError, match="loss became nan at step 3") as err:
        train_stateful(_NaNAt(3), IDS, steps=5, batch_size=B, seq_len=T, progress=False)
    assert isinstance(err.value, DivergedError)
    assert err.value.step == 3 and err.value.history.step == [1, 2]
    assert all(math.isfinite(v) for v in err.value.history.train_loss)


class _InfGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        return g * math.inf


class _InfGradModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = _model("rnn")

    def forward(self, x, state=None):
        logits, state = self.inner(x, state)
        return _InfGrad.apply(logits), state  # finite loss, infinite gradient


def test_infinite_gradient_raises():
    with pytest.raises(DivergedError, match="gradient norm became (inf|nan) at step 1"):
        train_stateful(
            _InfGradModel(), IDS, steps=2, batch_size=B, seq_len=T, progress=False
        )


def test_time_budget_stops_early():
    hist = train_stateful(
        _model(),
        IDS,
        IDS[:100],
        steps=10_000,
        batch_size=B,
        seq_len=T,
        time_budget=1e-9,
        progress=False,
    )
    assert hist.step == [1] and hist.eval_step == [1]
