"""Training in the page (``web/live/rnnviz-train.js``) against torch, in Chromium.

The script and a page holding the block of
:func:`rnnviz.viz.train_view.training_live_view` are served from a temporary
folder. For the RNN and the LSTM, the page's model and a batch of the page's
adding problem are read back and the same model is built in torch, float64: the
loss, every gradient and the norms ``||dL/dh_k||`` must equal autograd's (rtol
1e-9); one SGD step, two Adam steps and clipped steps must leave the weights
``torch.optim`` and ``clip_grad_norm_`` leave (within 1e-10). Then the LSTM must
beat the 1/6 baseline after a few hundred steps in the page, and the mounted view
must train, pause, reset and draw. This needs Chromium, not the built book.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from rnnviz.viz.train_view import BASELINE_MSE, training_live_view

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "web" / "live" / "rnnviz-train.js"
CHROMIUM = os.environ.get("RNNVIZ_CHROMIUM", "/usr/bin/chromium")
if shutil.which(CHROMIUM) is None:
    if os.environ.get("RNNVIZ_REQUIRE_SITE"):
        raise RuntimeError(f"need Chromium at {CHROMIUM}")
    pytest.skip("Chromium is missing", allow_module_level=True)
if os.environ.get("RNNVIZ_REQUIRE_SITE"):
    from playwright import sync_api
else:
    sync_api = pytest.importorskip("playwright.sync_api")

CELLS = ("rnn", "lstm")
RTOL = 1e-9


def _page_html(*blocks) -> str:
    body = "".join(b.data for b in blocks)
    return (
        '<!doctype html><html data-content_root="./"><head><meta charset="utf-8">'
        f"<title>training in the page</title></head><body>{body}</body></html>"
    )


@pytest.fixture(scope="module")
def url(tmp_path_factory, serve):
    root = tmp_path_factory.mktemp("train")
    (root / "_static" / "live").mkdir(parents=True)
    shutil.copy(SCRIPT, root / "_static" / "live" / "rnnviz-train.js")
    (root / "api.html").write_text(
        '<!doctype html><meta charset="utf-8">'
        '<script src="_static/live/rnnviz-train.js"></script><body>api</body>'
    )
    view = training_live_view(T=10, hidden=8, seed=1, steps_per_frame=4)
    (root / "view.html").write_text(_page_html(view))
    with serve(root) as url:
        yield url


@pytest.fixture(scope="module")
def api(browser, url):
    pg = browser.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(url + "api.html")
    pg.wait_for_function("() => window.rnnvizTrain !== undefined")
    yield pg
    assert not errors, errors
    pg.close()


@pytest.fixture
def view(browser, url):
    pg = browser.new_page(viewport={"width": 1000, "height": 900})
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(url + "view.html")
    pg.wait_for_selector(".rnnviz-train[data-state=ready] svg polyline")
    yield pg
    assert not errors, errors
    pg.close()


# ------------------------------------------------------------ torch on the same weights
class Net(nn.Module):
    """nn.RNN / nn.LSTM (batch first, input 2) and a linear head on h_T, float64."""

    def __init__(self, state: dict) -> None:
        super().__init__()
        cfg = state["config"]
        cell = {"rnn": nn.RNN, "lstm": nn.LSTM}[cfg["cell"]]
        self.cell = cfg["cell"]
        self.rnn = cell(cfg["input"], cfg["hidden"], batch_first=True)
        self.head = nn.Linear(cfg["hidden"], 1)
        self.double()
        sd = {
            k: torch.tensor(t["values"], dtype=torch.float64).reshape(t["shape"])
            for k, t in state["tensors"].items()
        }
        self.load_state_dict(sd, strict=True)  # the page uses torch's names

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)  # (B, T, H)
        return self.head(out[:, -1])[:, 0]  # (B,)

    def unrolled(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The same predictions step by step, with every h_k kept for autograd."""
        B, T, _ = x.shape
        H = self.rnn.hidden_size
        p = dict(self.rnn.named_parameters())
        wih, whh = p["weight_ih_l0"], p["weight_hh_l0"]
        b = p["bias_ih_l0"] + p["bias_hh_l0"]
        h = x.new_zeros(B, H)
        c = x.new_zeros(B, H)
        hs = []
        for t in range(T):
            z = x[:, t] @ wih.T + h @ whh.T + b
            if self.cell == "rnn":
                h = torch.tanh(z)
            else:
                i, f, g, o = z.chunk(4, dim=1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
            hs.append(h)
        return self.head(h)[:, 0], hs


def _batch(b: dict) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor(b["x"], dtype=torch.float64), torch.tensor(
        b["y"], dtype=torch.float64
    )


def _weights(state: dict) -> dict[str, np.ndarray]:
    return {
        k: np.asarray(t["values"]).reshape(t["shape"])
        for k, t in state["tensors"].items()
    }


def _assert_weights(net: Net, state: dict, atol: float = 1e-10) -> None:
    got = _weights(state)
    sd = net.state_dict()
    assert set(got) == set(sd)
    for k, v in got.items():
        np.testing.assert_allclose(v, sd[k].numpy(), rtol=0, atol=atol, err_msg=k)


# ------------------------------------------------------------ the engine
@pytest.mark.parametrize("cell", CELLS)
def test_model_has_torch_layout_and_seeded_init(api, cell):
    H = 6
    make = (
        "([c, H, s]) => rnnvizTrain.state(rnnvizTrain.model("
        "{cell: c, hidden: H, seed: s}))"
    )
    a = api.evaluate(make, [cell, H, 4])
    b = api.evaluate(make, [cell, H, 4])
    other = api.evaluate(make, [cell, H, 5])
    assert a == b and a["tensors"] != other["tensors"]
    G = 4 if cell == "lstm" else 1
    shapes = {k: t["shape"] for k, t in a["tensors"].items()}
    assert shapes == {
        "rnn.weight_ih_l0": [G * H, 2],
        "rnn.weight_hh_l0": [G * H, H],
        "rnn.bias_ih_l0": [G * H],
        "rnn.bias_hh_l0": [G * H],
        "head.weight": [1, H],
        "head.bias": [1],
    }
    w = _weights(a)
    bound = 1 / np.sqrt(H)
    for k, v in w.items():
        if cell == "lstm" and k.startswith("rnn.bias"):
            v = np.delete(v, np.s_[H : 2 * H])  # the forget-gate rows, set below
        assert np.abs(v).max() <= bound, k
    if cell == "lstm":  # forget-gate bias b_if + b_hf = 1
        assert (w["rnn.bias_ih_l0"][H : 2 * H] == 1).all()
        assert (w["rnn.bias_hh_l0"][H : 2 * H] == 0).all()
    Net(a)  # loads into torch's modules with strict names and shapes


def test_adding_problem_follows_the_rules_of_the_task(api):
    b = api.evaluate("() => rnnvizTrain.adding(20, 200, 3)")
    x, y = _batch(b)
    assert x.shape == (200, 20, 2) and y.shape == (200,)
    assert ((x[..., 0] >= 0) & (x[..., 0] < 1)).all()
    markers = x[..., 1]
    assert set(markers.unique().tolist()) == {0.0, 1.0}
    assert (markers[:, :10].sum(1) == 1).all() and (markers[:, 10:].sum(1) == 1).all()
    torch.testing.assert_close(y, (x[..., 0] * markers).sum(1), rtol=0, atol=1e-15)
    assert api.evaluate("() => rnnvizTrain.adding(20, 200, 3)") == b  # seeded
    assert api.evaluate("() => rnnvizTrain.adding(20, 200, 4)") != b
    odd = _batch(api.evaluate("() => rnnvizTrain.adding(7, 50, 1)"))[0][..., 1]
    assert (odd[:, :3].sum(1) == 1).all() and (odd[:, 3:].sum(1) == 1).all()
    assert api.evaluate("() => rnnvizTrain.baseline") == pytest.approx(BASELINE_MSE)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("T", [1, 2, 13])
def test_loss_gradients_and_hidden_norms_equal_torch_autograd(api, cell, T):
    got = api.evaluate(
        """([c, T]) => {
          const m = rnnvizTrain.model({cell: c, hidden: 7, seed: 11});
          const b = rnnvizTrain.adding(Math.max(T, 2), 5, 12);
          if (T === 1) b.x = b.x.map(r => r.slice(0, 1));
          return {state: rnnvizTrain.state(m), batch: b,
                  out: rnnvizTrain.lossAndGrads(m, b)};
        }""",
        [cell, T],
    )
    net = Net(got["state"])
    x, y = _batch(got["batch"])
    loss = nn.functional.mse_loss(net(x), y)
    loss.backward()
    loss = loss.detach()
    assert got["out"]["loss"] == pytest.approx(float(loss), rel=RTOL, abs=1e-15)
    for name, p in net.named_parameters():
        g = np.asarray(got["out"]["grads"][name]).reshape(p.shape)
        np.testing.assert_allclose(
            g, p.grad.numpy(), rtol=RTOL, atol=1e-15, err_msg=name
        )
    pred, hs = net.unrolled(x)
    un_loss = nn.functional.mse_loss(pred, y)
    assert float(un_loss.detach()) == pytest.approx(float(loss), rel=1e-12)
    dh = torch.autograd.grad(un_loss, hs)
    norms = torch.stack([g.norm(dim=1).mean() for g in dh])  # (T,)
    assert len(got["out"]["hNorms"]) == x.shape[1]
    np.testing.assert_allclose(got["out"]["hNorms"], norms.numpy(), rtol=RTOL)


_STEPS = """([c, steps]) => {
  const m = rnnvizTrain.model({cell: c, hidden: 6, seed: 21});
  const before = rnnvizTrain.state(m);
  const runs = steps.map((o, k) => {
    const b = rnnvizTrain.adding(12, 8, 100 + k);
    const r = rnnvizTrain.step(m, b, o);
    return {batch: b, result: r, after: rnnvizTrain.state(m)};
  });
  return {before: before, runs: runs};
}"""


def _check_steps(api, cell, page_opts, make_opt, clip=None):
    """Run the page's steps and torch's on the same weights; compare each one."""
    got = api.evaluate(_STEPS, [cell, page_opts])
    net = Net(got["before"])
    opt = make_opt(net.parameters())
    for run in got["runs"]:
        x, y = _batch(run["batch"])
        opt.zero_grad()
        loss = nn.functional.mse_loss(net(x), y)
        loss.backward()
        loss = loss.detach()
        params = list(net.parameters())
        total = torch.linalg.vector_norm(
            torch.stack([torch.linalg.vector_norm(p.grad) for p in params])
        )
        if clip is not None:
            returned = nn.utils.clip_grad_norm_(params, clip)
            assert float(returned) == pytest.approx(float(total), rel=1e-12)
        opt.step()
        r = run["result"]
        assert r["loss"] == pytest.approx(float(loss), rel=RTOL)
        assert r["gradNorm"] == pytest.approx(float(total), rel=RTOL)
        assert r["clipped"] == (clip is not None and float(total) > clip)
        _assert_weights(net, run["after"])
    return got


@pytest.mark.parametrize("cell", CELLS)
def test_one_sgd_step_equals_torch_optim_sgd(api, cell):
    got = _check_steps(
        api,
        cell,
        [{"optimizer": "sgd", "lr": 0.3}],
        lambda ps: torch.optim.SGD(ps, lr=0.3),
    )
    assert got["runs"][0]["result"]["step"] == 1
    assert got["runs"][0]["after"]["tensors"] != got["before"]["tensors"]


@pytest.mark.parametrize("cell", CELLS)
def test_two_adam_steps_equal_torch_optim_adam(api, cell):
    _check_steps(
        api,
        cell,
        [{"optimizer": "adam", "lr": 0.05}] * 2,
        lambda ps: torch.optim.Adam(ps, lr=0.05),
    )
    opts = {"optimizer": "adam", "lr": 0.02, "betas": [0.8, 0.99], "eps": 1e-6}
    _check_steps(
        api,
        cell,
        [opts] * 3,
        lambda ps: torch.optim.Adam(ps, lr=0.02, betas=(0.8, 0.99), eps=1e-6),
    )


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_clipping_equals_clip_grad_norm(api, cell, kind):
    def make(ps):
        return (torch.optim.SGD if kind == "sgd" else torch.optim.Adam)(ps, lr=0.1)

    got = _check_steps(
        api, cell, [{"optimizer": kind, "lr": 0.1, "clip": 0.05}] * 2, make, clip=0.05
    )
    assert all(r["result"]["clipped"] for r in got["runs"])  # 0.05 is below the norm
    # a clip above the norm leaves the step as it is
    _check_steps(
        api, cell, [{"optimizer": kind, "lr": 0.1, "clip": 1e6}], make, clip=1e6
    )


def test_set_state_round_trips_and_resets_the_optimizer(api):
    got = api.evaluate(
        """() => {
          const R = rnnvizTrain, b = R.adding(10, 4, 1);
          const a = R.model({cell: "lstm", hidden: 5, seed: 1});
          const c = R.model({cell: "lstm", hidden: 5, seed: 2});
          R.step(a, b, {lr: 0.1});
          R.setState(c, R.state(a));
          return {a: R.state(a), c: R.state(c), la: R.lossAndGrads(a, b),
                  lc: R.lossAndGrads(c, b)};
        }"""
    )
    assert got["a"]["tensors"] == got["c"]["tensors"]
    assert got["la"] == got["lc"]


def test_the_lstm_beats_the_baseline_after_a_few_hundred_steps_in_the_page(api):
    got = api.evaluate(
        """() => {
          const R = rnnvizTrain, m = R.model({cell: "lstm", hidden: 16, seed: 0});
          const t0 = performance.now(), losses = [];
          for (let s = 0; s < 300; s++) {
            const r = R.step(m, R.adding(10, 32, 1000 + s),
                             {optimizer: "adam", lr: 0.01, clip: 1});
            losses.push(r.loss);
          }
          const ms = performance.now() - t0;
          return {first: losses[0], held: R.predict(m, R.adding(10, 1000, 7)).loss,
                  ms: ms};
        }"""
    )
    assert got["first"] > BASELINE_MSE  # it starts worse than always answering 1
    assert got["held"] < 0.5 * BASELINE_MSE  # and ends well below it, on new data


_ERRORS = [
    ("rnnvizTrain.model({cell: 'gru'})", "cell"),
    ("rnnvizTrain.model({cell: 'rnn', hidden: 0})", "hidden"),
    ("rnnvizTrain.model({cell: 'rnn', hidden: 2.5})", "hidden"),
    ("rnnvizTrain.model({cell: 'lstm', seed: -1})", "seed"),
    ("rnnvizTrain.model({cell: 'rnn', forgetBias: 1})", "forgetBias"),
    ("rnnvizTrain.model({cell: 'lstm', hiden: 4})", "hiden"),
    ("rnnvizTrain.adding(1, 4, 0)", "T (the sequence length)"),
    ("rnnvizTrain.adding(10, 0, 0)", "batch"),
    ("rnnvizTrain.lossAndGrads({}, rnnvizTrain.adding(4, 2, 0))", "model"),
    ("rnnvizTrain.lossAndGrads(M, {x: [[[1, 0, 0]]], y: [1]})", "2 channels"),
    ("rnnvizTrain.lossAndGrads(M, {x: [[[1, 0]]], y: [1, 2]})", "batch.y"),
    ("rnnvizTrain.lossAndGrads(M, {x: [[[1, 0]], [[1, 0], [0, 1]]], y: [1, 2]})", "T"),
    ("rnnvizTrain.lossAndGrads(M, {x: [[[NaN, 0]]], y: [1]})", "finite"),
    ("rnnvizTrain.step(M, B, {optimizer: 'rmsprop'})", "optimizer"),
    ("rnnvizTrain.step(M, B, {lr: -1})", "lr"),
    ("rnnvizTrain.step(M, B, {lr: 0.1, clip: 0})", "clip"),
    ("rnnvizTrain.step(M, B, {betas: [0.9, 1]})", "betas"),
    ("rnnvizTrain.step(M, B, {optimizer: 'sgd', eps: 1e-6})", "Adam"),
    ("rnnvizTrain.step(M, B, {learningRate: 0.1})", "learningRate"),
    (
        "rnnvizTrain.setState(M, rnnvizTrain.state(rnnvizTrain.model({hidden: 3})))",
        "hidden",
    ),
    (
        "rnnvizTrain.setState(M, rnnvizTrain.state("
        "rnnvizTrain.model({cell: 'rnn', hidden: 4})))",
        "cell",
    ),
    (
        "(() => { const s = rnnvizTrain.state(M); s.tensors['head.bias'].shape = [2];"
        " s.config = {}; return rnnvizTrain.setState(M, s); })()",
        "head.bias",
    ),
]


@pytest.mark.parametrize("code, needle", _ERRORS, ids=[n for _, n in _ERRORS])
def test_bad_arguments_throw_errors_that_name_the_problem(api, code, needle):
    message = api.evaluate(
        """code => {
          const M = rnnvizTrain.model({cell: 'lstm', hidden: 4});
          const B = rnnvizTrain.adding(6, 3, 0);
          try { eval(code); } catch (e) { return e.message; }
          return null;
        }""",
        code,
    )
    assert message is not None, f"no error from {code}"
    assert message.startswith("rnnvizTrain: ") and needle in message, message


# ------------------------------------------------------------ the view
def _steps(pg) -> int:
    return int(pg.get_attribute(".rnnviz-train", "data-steps"))


def test_the_view_mounts_with_labelled_controls_and_initial_charts(view):
    root = view.locator(".rnnviz-train")
    assert root.get_attribute("data-state") == "ready" and _steps(view) == 0
    assert view.locator(".rt-fallback").count() == 0
    for label in ("sequence length T", "hidden units", "learning rate", "optimizer"):
        control = view.get_by_label(label, exact=True)
        assert control.count() == 1, label
    assert view.get_by_label("sequence length T").input_value() == "10"
    assert view.get_by_label("hidden units").input_value() == "8"
    assert view.get_by_label("optimizer").input_value() == "adam"
    assert view.locator(".rt-status[aria-live=polite]").inner_text().startswith("ready")
    charts = view.locator(".rt-chart svg")
    assert charts.count() == 2
    assert charts.nth(0).locator("line.rt-ref").count() == 1  # the 1/6 baseline
    # before training, the gradient at the initial weights is drawn
    assert charts.nth(1).locator("polyline").count() == 2


def test_the_view_trains_pauses_and_resets(view):
    root = view.locator(".rnnviz-train")
    drawn = int(root.get_attribute("data-drawn"))
    view.get_by_role("button", name="Start").click()
    view.wait_for_function(
        "() => Number(document.querySelector('.rnnviz-train').dataset.steps) > 30"
    )
    assert root.get_attribute("data-state") == "running"
    assert int(root.get_attribute("data-drawn")) > drawn
    loss, grad = view.locator(".rt-chart svg").all()
    assert (
        loss.locator("polyline").count() == 2 and grad.locator("polyline").count() == 2
    )
    assert {p.get_attribute("data-model") for p in loss.locator("polyline").all()} == {
        "RNN",
        "LSTM",
    }
    pause = view.get_by_role("button", name="Pause")
    assert pause.get_attribute("aria-pressed") == "true"
    pause.click()
    assert root.get_attribute("data-state") == "paused"
    n = _steps(view)
    view.wait_for_timeout(400)
    assert _steps(view) == n  # paused: no more steps
    assert "paused" in view.locator(".rt-status").inner_text()
    inner = view.evaluate(
        "() => document.querySelector('.rnnviz-train').rnnvizTrainView.state()"
    )
    assert inner["steps"] == n and len(inner["loss"]["lstm"]) == n
    view.get_by_role("button", name="One step").click()
    assert _steps(view) == n + 1
    view.get_by_role("button", name="Reset").click()
    assert _steps(view) == 0
    assert view.locator(".rt-chart svg").nth(0).locator("polyline").count() == 0


def test_the_view_is_driven_from_the_keyboard(view):
    start = view.get_by_role("button", name="Start")
    start.focus()
    view.keyboard.press("Enter")
    view.wait_for_function(
        "() => Number(document.querySelector('.rnnviz-train').dataset.steps) > 5"
    )
    view.keyboard.press("Space")  # the same button, now "Pause"
    n = _steps(view)
    view.wait_for_timeout(300)
    assert _steps(view) == n
    select = view.get_by_label("sequence length T")
    select.focus()
    select.select_option("20")  # a new length: new models, from step 0
    assert _steps(view) == 0
    assert "T = 20" in view.locator(".rt-status").inner_text()
    state = view.evaluate(
        "() => document.querySelector('.rnnviz-train').rnnvizTrainView.state()"
    )
    assert state["T"] == 20 and state["hidden"] == 8
    # the gradient chart now spans distances 0 .. 19
    grad = view.locator(".rt-chart svg").nth(1).locator("polyline").first
    assert len(grad.get_attribute("points").split()) == 20
