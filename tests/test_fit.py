"""The one training loop, rnnviz.train.fit.

References are independent of the loop: training loops written out here step
by step (Adam from torch.optim, or plain SGD with the update written by hand),
torch's own clip_grad_norm_ / clip_grad_value_, and the clipping formula.
"""

import copy
import math
from dataclasses import dataclass

import pytest
import torch
from torch import Tensor, nn

from rnnviz.data import Vocab, stream_batches
from rnnviz.models import CharLM
from rnnviz.tbptt import carried_loss
from rnnviz.train import DivergedError, History, fit

TEXT = "to be, or not to be: that is the question.\nwhether 'tis nobler\n" * 8
VOCAB = Vocab.from_text(TEXT)
IDS = VOCAB.encode(TEXT)  # (N,)


class Net(nn.Module):
    """A small regression model with dropout, so that the RNG matters."""

    def __init__(self, seed=0, dropout=0.3):
        super().__init__()
        torch.manual_seed(seed)
        self.body = nn.Sequential(
            nn.Linear(3, 16), nn.Tanh(), nn.Dropout(dropout), nn.Linear(16, 1)
        )

    def forward(self, x):
        return self.body(x)[:, 0]  # (B,)


def _data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)  # (N, 3)
    return x, x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.randn(n, generator=g)


def _batches(seed=1, size=8):
    x, y = _data()
    g = torch.Generator().manual_seed(seed)

    def batch(step):
        idx = torch.randint(0, len(y), (size,), generator=g)  # (B,)
        return x[idx], y[idx]

    return batch


def _mse(model, batch):
    x, y = batch
    return nn.functional.mse_loss(model(x), y)


def _flat(tensors):
    return torch.cat([t.detach().flatten() for t in tensors])


def _fresh():
    with torch.random.fork_rng(devices=[]):
        return Net()


# --- step for step against loops written out here ------------------------------------


def test_stateless_caller_equals_a_written_out_adam_loop():
    steps, lr, clip, seed = 12, 1e-2, 0.5, 7
    model, ref = _fresh(), _fresh()
    hist = fit(model, _batches(), _mse, steps=steps, lr=lr, clip=clip, seed=seed)

    losses, norms = [], []
    batch = _batches()
    opt = torch.optim.Adam(ref.parameters(), lr=lr)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the dropout masks
        ref.train()
        for step in range(1, steps + 1):
            x, y = batch(step)
            loss = nn.functional.mse_loss(ref(x), y)
            opt.zero_grad()
            loss.backward()
            norms.append(float(nn.utils.clip_grad_norm_(ref.parameters(), clip)))
            opt.step()
            losses.append(loss.item())
    assert hist.train_loss == losses and hist.grad_norm == norms
    assert hist.step == list(range(1, steps + 1))
    assert torch.equal(_flat(model.parameters()), _flat(ref.parameters()))
    assert not model.training


def test_stateless_caller_equals_sgd_with_the_update_written_out():
    steps, lr, clip = 6, 0.1, 0.3
    model, ref = _fresh(), _fresh()
    fit(
        model,
        _batches(),
        _mse,
        steps=steps,
        clip=clip,
        seed=3,
        optimizer=torch.optim.SGD(model.parameters(), lr=lr),
    )
    batch = _batches()
    params = list(ref.parameters())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        for step in range(1, steps + 1):
            grads = torch.autograd.grad(_mse(ref, batch(step)), params)
            norm = math.sqrt(sum(float((g.double() ** 2).sum()) for g in grads))
            scale = min(1.0, clip / (norm + 1e-6))  # the clipping formula
            with torch.no_grad():
                for p, g in zip(params, grads):
                    p -= lr * scale * g
    assert torch.allclose(_flat(model.parameters()), _flat(params), atol=1e-6)


def test_stateful_caller_equals_a_written_out_tbptt_loop():
    B, T, steps, lr, seed = 3, 7, 8, 1e-2, 2

    def charlm():
        return CharLM(len(VOCAB), 8, num_layers=2, embed_size=4, dropout=0.2, seed=0)

    def endless():
        while True:
            first = True
            for x, y in stream_batches(IDS, B, T):
                yield x, y, first
                first = False

    model, ref = charlm(), charlm()
    hist = fit(model, endless(), carried_loss(), steps=steps, lr=lr, seed=seed)

    losses, state, batches = [], None, endless()
    opt = torch.optim.Adam(ref.parameters(), lr=lr)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        ref.train()
        for _ in range(steps):
            x, y, first = next(batches)
            logits, new = ref(x, None if first else state)
            state = tuple(s.detach() for s in new)  # carried, no gradient
            loss = nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(ref.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())
    assert hist.train_loss == losses
    assert torch.equal(_flat(model.parameters()), _flat(ref.parameters()))


# --- clipping ---------------------------------------------------------------------


def _one_sgd_step(clip, mode):
    """(parameters before, after, the raw gradient's norm) of one SGD step, lr 1."""
    model = _fresh()
    before = _flat(model.parameters())
    hist = fit(
        model,
        _batches(),
        _mse,
        steps=1,
        clip=clip,
        clip_mode=mode,
        seed=0,
        optimizer=torch.optim.SGD(model.parameters(), lr=1.0),
    )
    return before, _flat(model.parameters()), hist.grad_norm[0]


def _torch_clipped_gradient(clip_fn):
    ref = _fresh()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        ref.train()
        _mse(ref, _batches()(1)).backward()
    raw = float(nn.utils.clip_grad_norm_(ref.parameters(), math.inf))
    clip_fn(ref.parameters())
    return _flat(p.grad for p in ref.parameters()), raw


@pytest.mark.parametrize(
    "mode,clip_fn",
    [
        ("norm", lambda ps: nn.utils.clip_grad_norm_(ps, 0.05)),
        ("value", lambda ps: nn.utils.clip_grad_value_(ps, 0.05)),
        (None, lambda ps: None),
    ],
)
def test_the_applied_update_is_torchs_clipped_gradient(mode, clip_fn):
    before, after, norm = _one_sgd_step(0.05, mode)
    expected, raw = _torch_clipped_gradient(clip_fn)
    assert norm == pytest.approx(raw, rel=1e-6) and raw > 0.05  # before clipping
    assert torch.allclose(before - after, expected, atol=1e-7)


def test_clip_none_changes_nothing():
    a, b = _one_sgd_step(None, "norm"), _one_sgd_step(1.0, None)
    assert torch.equal(a[1], b[1])


# --- divergence -------------------------------------------------------------------


class _NaNFrom(nn.Module):
    def __init__(self, bad):
        super().__init__()
        self.inner, self.bad, self.calls = _fresh(), bad, 0

    def forward(self, x):
        self.calls += 1
        out = self.inner(x)
        return out * math.nan if self.calls >= self.bad else out


def test_nan_loss_raises_diverged_error_with_the_history_so_far():
    model = _NaNFrom(3)
    with pytest.raises(DivergedError, match="loss became nan at step 3") as err:
        fit(model, _batches(), _mse, steps=5, progress=True)
    assert isinstance(err.value, FloatingPointError) and err.value.step == 3
    assert err.value.history.step == [1, 2] and len(err.value.history.train_loss) == 2
    assert not model.training


class _InfGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        return g * math.inf


def test_infinite_gradient_norm_raises():
    def loss(model, batch):
        return _mse(model, batch) + 0 * _InfGrad.apply(model(batch[0])).sum()

    with pytest.raises(DivergedError, match="gradient norm became (inf|nan) at step 1"):
        fit(_fresh(), _batches(), loss, steps=3, clip=None)


# --- random state, evaluation, stopping ----------------------------------------------


def test_global_rng_untouched_and_seed_draws_the_dropout_masks():
    def run(seed):
        model = _fresh()
        return fit(model, _batches(), _mse, steps=5, seed=seed), _flat(
            model.parameters()
        )

    torch.manual_seed(123)
    before = torch.rand(2)
    torch.manual_seed(123)
    (h1, w1), (h2, w2), (h3, _) = run(0), run(0), run(1)
    assert torch.equal(torch.rand(2), before)
    assert h1.train_loss == h2.train_loss and torch.equal(w1, w2)
    assert h1.train_loss[0] != h3.train_loss[0]  # another seed, other masks


def _eval_mse(model):
    x, y = _data(32, seed=9)
    with torch.no_grad():
        return float(nn.functional.mse_loss(model(x), y))


def test_evaluation_every_k_steps_at_the_start_and_at_the_end():
    model = _fresh()
    start = _eval_mse(model.eval())
    hist = fit(
        model,
        _batches(),
        _mse,
        steps=7,
        evaluate=_eval_mse,
        eval_every=3,
        eval_at_start=True,
    )
    assert hist.eval_step == [0, 3, 6, 7] and hist.val_loss[0] == start
    assert hist.val_loss[-1] == _eval_mse(model)  # the trained model, in eval mode
    assert len(hist.eval_seconds) == 4 and hist.metrics == {}
    assert hist.val_bpc[-1] == pytest.approx(hist.val_loss[-1] / math.log(2))
    assert all(a <= b for a, b in zip(hist.seconds, hist.seconds[1:]))
    assert hist.cpu_seconds > 0 and isinstance(hist.to_dict()["metrics"], dict)


def test_evaluate_may_return_a_loss_and_metrics():
    def both(model):
        return {"loss": _eval_mse(model), "double": 2 * _eval_mse(model)}

    hist = fit(_fresh(), _batches(), _mse, steps=4, evaluate=both, eval_every=2)
    assert hist.metrics["double"] == [2 * v for v in hist.val_loss]
    hist = fit(_fresh(), _batches(), _mse, steps=2, evaluate=lambda m: {"acc": 0.5})
    assert hist.val_loss == [] and hist.metrics == {"acc": [0.5]}
    keys = iter([{"loss": 1.0}, {"acc": 1.0}])
    with pytest.raises(ValueError, match="evaluate returned"):
        fit(
            _fresh(),
            _batches(),
            _mse,
            steps=2,
            evaluate=lambda m: next(keys),
            eval_every=1,
        )


def test_stop_ends_training_after_an_evaluation():
    hist = fit(
        _fresh(),
        _batches(),
        _mse,
        steps=50,
        evaluate=_eval_mse,
        eval_every=2,
        stop=lambda h: h.eval_step[-1] >= 6,
    )
    assert hist.step == list(range(1, 7)) and hist.eval_step == [2, 4, 6]
    with pytest.raises(ValueError, match="stop is checked after evaluations"):
        fit(_fresh(), _batches(), _mse, steps=5, evaluate=_eval_mse, stop=bool)


def test_time_budget_stops_early_and_evaluates_the_last_step():
    hist = fit(
        _fresh(),
        _batches(),
        _mse,
        steps=10_000,
        evaluate=_eval_mse,
        eval_every=1000,
        time_budget=1e-9,
    )
    assert hist.step == [1] and hist.eval_step == [1]


@dataclass(frozen=True)
class _Pair:
    x: Tensor
    y: Tensor


@pytest.mark.parametrize("device", ["cpu", torch.device("cpu")])
def test_device_cpu_and_batches_as_iterables_and_dataclasses(device):
    x, y = _data(16)
    seen = []

    def loss(model, batch):
        seen.append(batch)
        return nn.functional.mse_loss(model(batch.x), batch.y)

    pairs = [_Pair(x[i : i + 4], y[i : i + 4]) for i in range(0, 16, 4)]
    hist = fit(_fresh(), iter(pairs), loss, steps=4, device=device)
    assert len(hist.step) == 4
    assert all(type(b) is _Pair and b.x.device.type == "cpu" for b in seen)
    assert torch.equal(seen[2].x, pairs[2].x)
    with pytest.raises(ValueError, match="batches ran out at step 5"):
        fit(_fresh(), pairs, loss, steps=5)


def test_on_gradient_sees_the_raw_gradient():
    seen = []
    fit(
        _fresh(),
        _batches(),
        _mse,
        steps=1,
        clip=1e-4,
        on_gradient=lambda step, g: seen.append((step, g.clone())),
    )
    ref = _fresh()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        grads = torch.autograd.grad(_mse(ref, _batches()(1)), list(ref.parameters()))
    assert seen[0][0] == 1 and torch.allclose(seen[0][1], _flat(grads), atol=1e-7)


# --- bad arguments ----------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,err,match",
    [
        ({"steps": 0}, ValueError, "steps must be a positive int"),
        ({"steps": 2.0}, ValueError, "steps must be a positive int"),
        ({"eval_every": 0}, ValueError, "eval_every must be a positive int"),
        ({"lr": -1.0}, ValueError, "lr must be a finite number > 0"),
        ({"clip": 0.0}, ValueError, "clip must be positive or None"),
        ({"clip_mode": "l1"}, ValueError, "clip_mode must be"),
        ({"time_budget": 0}, ValueError, "time_budget must be positive"),
        ({"seed": 1.5}, ValueError, "seed must be an int"),
        ({"device": "nonsense"}, ValueError, "device must name a torch device"),
        ({"evaluate": 3}, TypeError, "evaluate must be callable"),
        ({"stop": "yes"}, TypeError, "stop must be callable"),
        ({"optimizer": "adam"}, TypeError, "optimizer must be a torch.optim"),
        ({"lr_schedule": 0.5}, TypeError, "lr_schedule must be a callable"),
    ],
)
def test_bad_arguments(kwargs, err, match):
    with pytest.raises(err, match=match):
        fit(_fresh(), _batches(), _mse, **{"steps": 2, **kwargs})


def test_bad_batches_loss_and_model():
    with pytest.raises(TypeError, match="batches must be a callable"):
        fit(_fresh(), 5, _mse, steps=1)
    with pytest.raises(TypeError, match="loss_fn must be callable"):
        fit(_fresh(), _batches(), None, steps=1)
    with pytest.raises(TypeError, match="loss_fn must return a scalar tensor"):
        fit(_fresh(), _batches(), lambda m, b: m(b[0]), steps=1)
    frozen = copy.deepcopy(_fresh()).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        fit(frozen, _batches(), _mse, steps=1)


def test_history_defaults_are_not_shared():
    a, b = History(), History()
    a.step.append(1)
    a.metrics["x"] = [1.0]
    assert b.step == [] and b.metrics == {}
