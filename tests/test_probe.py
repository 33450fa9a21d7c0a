"""probe() against the fused torch modules it replays."""

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from rnnviz import probe
from rnnviz.data import Vocab
from rnnviz.models import CharLM

TOL = 1e-5  # the contract: max abs difference below 1e-5 in float32


def _module(kind, layers, batch_first, bias=True, seed=0):
    torch.manual_seed(seed)
    if kind == "RNN-relu":
        return nn.RNN(
            5, 8, layers, batch_first=batch_first, bias=bias, nonlinearity="relu"
        )
    return getattr(nn, kind)(5, 8, layers, batch_first=batch_first, bias=bias)


def _maxdiff(a, b):
    return float(np.abs(np.asarray(a) - b.detach().numpy()).max())


CASES = list(
    itertools.product(["RNN", "RNN-relu", "LSTM", "GRU"], [1, 2, 3], [False, True])
)


@pytest.mark.parametrize("kind,layers,batch_first", CASES)
def test_probe_matches_module(kind, layers, batch_first):
    m = _module(kind, layers, batch_first)
    g = torch.Generator().manual_seed(1)
    T, B = 11, 4
    x = torch.randn((B, T, 5) if batch_first else (T, B, 5), generator=g)
    tr = probe(m, x)
    out, state = m(x)
    assert tr.output.shape == tuple(out.shape)
    assert _maxdiff(tr.output, out) < TOL
    if kind == "LSTM":
        assert _maxdiff(tr.h_n, state[0]) < TOL and _maxdiff(tr.c_n, state[1]) < TOL
    else:
        assert _maxdiff(tr.h_n, state) < TOL and tr.c_n is None
    assert len(tr.layers) == layers
    for lt in tr.layers:
        assert lt.h.shape == (T, B, 8)
        for v in lt.gates.values():
            assert v.shape == (T, B, 8)


@pytest.mark.parametrize(
    "kind,gates",
    [("RNN", ()), ("LSTM", ("i", "f", "g", "o")), ("GRU", ("r", "z", "n"))],
)
def test_probe_matches_each_module_over_a_long_sequence(kind, gates):
    """The check the LSTM chapter cites: two batch-first layers of 32 units, 50 steps.

    Rounding must not build up over the steps; every gate of the kind is recorded.
    """
    torch.manual_seed(20)
    m = getattr(nn, kind)(input_size=8, hidden_size=32, num_layers=2, batch_first=True)
    x = torch.randn(4, 50, 8, generator=torch.Generator().manual_seed(21))  # (B, T, I)
    tr = probe(m, x)
    out, state = m(x)
    assert _maxdiff(tr.output, out) < TOL
    h_n = state[0] if kind == "LSTM" else state
    assert _maxdiff(tr.h_n, h_n) < TOL
    for lt in tr.layers:
        assert tuple(lt.gates) == gates and lt.h.shape == (50, 4, 32)
    assert tr.gate_names == gates


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_intermediate_layers_match_single_layer_modules(kind):
    """Layer l's hidden states equal a 1-layer module with layer l's weights.

    That module is fed layer l-1's output.
    """
    m = _module(kind, 3, batch_first=False, seed=4)
    x = torch.randn(9, 2, 5, generator=torch.Generator().manual_seed(5))
    tr = probe(m, x)
    inp = x
    for l in range(3):
        single = getattr(nn, kind)(inp.shape[-1], 8, 1)
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(single, f"{name}_l0").copy_(getattr(m, f"{name}_l{l}"))
        inp, _ = single(inp)
        assert _maxdiff(tr.layers[l].h, inp) < TOL
        if kind == "LSTM":
            assert tr.layers[l].c.shape == (9, 2, 8)


def test_lstm_gates_match_an_independent_computation():
    """Recompute every gate from torch's own hidden states and the raw weight slices."""
    m = _module("LSTM", 1, False, seed=6)
    x = torch.randn(7, 3, 5, generator=torch.Generator().manual_seed(7))
    tr = probe(m, x)
    out, _ = m(x)
    h_prev = torch.cat(
        [torch.zeros(1, 3, 8), out[:-1]]
    )  # (T, B, H) from the fused module
    H = 8
    act = {"i": torch.sigmoid, "f": torch.sigmoid, "g": torch.tanh, "o": torch.sigmoid}
    for k, name in enumerate("ifgo"):
        rows = slice(k * H, (k + 1) * H)
        pre = (
            x @ m.weight_ih_l0[rows].T
            + m.bias_ih_l0[rows]
            + h_prev @ m.weight_hh_l0[rows].T
            + m.bias_hh_l0[rows]
        )
        assert _maxdiff(tr.layers[0].gates[name], act[name](pre)) < TOL


def test_gru_gates_match_an_independent_computation():
    m = _module("GRU", 1, False, seed=8)
    x = torch.randn(7, 3, 5, generator=torch.Generator().manual_seed(9))
    tr = probe(m, x)
    out, _ = m(x)
    h_prev = torch.cat([torch.zeros(1, 3, 8), out[:-1]])
    H = 8
    W, U, b, c = m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0
    s = lambda k: slice(k * H, (k + 1) * H)  # noqa: E731
    r = torch.sigmoid(x @ W[s(0)].T + b[s(0)] + h_prev @ U[s(0)].T + c[s(0)])
    z = torch.sigmoid(x @ W[s(1)].T + b[s(1)] + h_prev @ U[s(1)].T + c[s(1)])
    n = torch.tanh(x @ W[s(2)].T + b[s(2)] + r * (h_prev @ U[s(2)].T + c[s(2)]))
    for name, ref in (("r", r), ("z", z), ("n", n)):
        assert _maxdiff(tr.layers[0].gates[name], ref) < TOL


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_initial_state_and_no_bias(kind):
    m = _module(kind, 2, True, bias=False, seed=10)
    g = torch.Generator().manual_seed(11)
    x = torch.randn(3, 6, 5, generator=g)
    h0 = torch.randn(2, 3, 8, generator=g)
    state = (h0, torch.randn(2, 3, 8, generator=g)) if kind == "LSTM" else h0
    tr = probe(m, x, state)
    out, _ = m(x, state)
    assert _maxdiff(tr.output, out) < TOL


def test_unbatched_input():
    m = _module("GRU", 2, False)
    x = torch.randn(6, 5, generator=torch.Generator().manual_seed(12))
    tr = probe(m, x)
    out, _ = m(x)
    assert tr.output.shape == (6, 8) and _maxdiff(tr.output, out) < TOL
    assert tr.layers[0].h.shape == (6, 1, 8)


def test_probe_does_not_change_the_module_or_inputs():
    m = _module("LSTM", 2, False)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    x = torch.randn(4, 2, 5)
    x0 = x.clone()
    probe(m, x)
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())
    assert torch.equal(x, x0)


def test_trace_series_errors():
    tr = probe(_module("GRU", 1, False), torch.randn(3, 1, 5))
    assert tr.series("z").shape == (3, 1, 8)
    with pytest.raises(KeyError, match="no series 'c'"):
        tr.series("c")
    with pytest.raises(IndexError, match="layer 1 out of range"):
        tr.series("h", layer=1)


@pytest.mark.parametrize(
    "make_input,match",
    [
        (lambda: torch.randn(4, 2, 3), "input_size=5"),
        (lambda: torch.randn(4, 2, 5, 1), "must have shape"),
        (lambda: torch.ones(4, 2, 5, dtype=torch.long), "floating-point"),
        (lambda: torch.full((4, 2, 5), float("nan")), "NaN"),
        (lambda: torch.randn(0, 2, 5), "empty"),
        (lambda: [[0.0] * 5], "torch.Tensor"),
    ],
)
def test_bad_inputs_get_clear_errors(make_input, match):
    with pytest.raises((ValueError, TypeError), match=match):
        probe(_module("LSTM", 1, False), make_input())


def test_bad_state_and_unsupported_modules():
    x = torch.randn(4, 2, 5)
    with pytest.raises(ValueError, match=r"h0 must have shape \(2, 2, 8\)"):
        probe(_module("GRU", 2, False), x, torch.zeros(1, 2, 8))
    with pytest.raises(TypeError, match=r"tuple \(h0, c0\)"):
        probe(_module("LSTM", 1, False), x, torch.zeros(1, 2, 8))
    with pytest.raises(TypeError, match="supports torch.nn.RNN, LSTM and GRU"):
        probe(nn.Linear(5, 8), x)
    with pytest.raises(ValueError, match="bidirectional"):
        probe(nn.LSTM(5, 8, bidirectional=True), x)


def test_forcing_lstm_gates_changes_the_state_as_the_equations_say():
    m = _module("LSTM", 2, False, seed=13)
    g = torch.Generator().manual_seed(14)
    x = torch.randn(6, 3, 5, generator=g)
    h0, c0 = torch.randn(2, 3, 8, generator=g), torch.randn(2, 3, 8, generator=g)
    # forget gate open and input gate shut: the cell keeps c0 exactly
    tr = probe(m, x, (h0, c0), force={"f": 1.0, "i": 0.0})
    for l in range(2):
        np.testing.assert_allclose(
            tr.layers[l].c, np.broadcast_to(c0[l].numpy(), (6, 3, 8)), atol=1e-6
        )
        assert (tr.layers[l].gates["f"] == 1).all()
    # forcing only layer 1 leaves layer 0 as the module computes it
    tr1 = probe(m, x, (h0, c0), force={"f": 0.0}, force_layers=[1])
    ref = probe(m, x, (h0, c0))
    np.testing.assert_allclose(tr1.layers[0].h, ref.layers[0].h)
    assert np.abs(tr1.layers[1].h - ref.layers[1].h).max() > 1e-3
    # NaN entries leave those units alone
    nan_force = torch.full((8,), float("nan"))
    nan_force[2] = 0.0
    tr2 = probe(m, x, (h0, c0), force={"o": nan_force})
    assert (tr2.layers[0].gates["o"][:, :, 2] == 0).all() and (
        tr2.layers[0].h[:, :, 2] == 0
    ).all()
    np.testing.assert_allclose(
        tr2.layers[0].gates["o"][0, :, 3], ref.layers[0].gates["o"][0, :, 3]
    )


def test_forcing_gru_gates():
    m = _module("GRU", 1, False, seed=15)
    g = torch.Generator().manual_seed(16)
    x, h0 = torch.randn(5, 2, 5, generator=g), torch.randn(1, 2, 8, generator=g)
    tr = probe(m, x, h0, force={"z": 1.0})  # update gate shut: the state never changes
    np.testing.assert_allclose(
        tr.layers[0].h, np.broadcast_to(h0[0].numpy(), (5, 2, 8)), atol=1e-6
    )
    tr = probe(
        m, x, h0, force={"r": 0.0}
    )  # reset: the candidate ignores the past entirely
    n_ref = torch.tanh(x @ m.weight_ih_l0[16:].T + m.bias_ih_l0[16:])
    np.testing.assert_allclose(
        tr.layers[0].gates["n"], n_ref.detach().numpy(), atol=1e-6
    )


def test_forcing_errors():
    x = torch.randn(3, 1, 5)
    with pytest.raises(KeyError, match=r"cannot force \['q'\]"):
        probe(_module("LSTM", 1, False), x, force={"q": 1.0})
    with pytest.raises(ValueError, match="no gates to force"):
        probe(_module("RNN", 1, False), x, force={"f": 1.0})
    with pytest.raises(IndexError, match="force_layers has layer 3"):
        probe(_module("GRU", 2, False), x, force={"z": 1.0}, force_layers=[3])


# --- character models: dispatch on the structure embed -> rnn -> head -------------


class _SameStructure(nn.Module):
    """Not a CharLM: its own class with an embedding, a fused LSTM and a head."""

    def __init__(self, vocab_size=9, vocab=None, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.embed = nn.Embedding(vocab_size, 4)
        self.rnn = nn.LSTM(4, 6, 2, batch_first=True)
        self.head = nn.Linear(6, vocab_size)
        self.vocab = vocab

    def forward(self, ids, state=None):
        out, state = self.rnn(self.embed(ids), state)
        return self.head(out), state


def test_any_model_with_the_structure_is_probed_with_its_logits():
    vocab = Vocab("abcdefgh ")
    twin = _SameStructure(len(vocab), vocab)
    ids = vocab.encode("a bad cage")[None]  # (1, T)
    tr = probe(twin, ids)
    with torch.no_grad():
        logits, (h_n, c_n) = twin(ids)  # the fused module is the reference
    assert tr.kind == "LSTM" and tr.num_layers == 2 and tr.text is None
    assert _maxdiff(tr.logits, logits) < TOL and _maxdiff(tr.c_n, c_n) < TOL
    by_text = probe(twin, "a bad cage")
    assert by_text.text == "a bad cage"
    np.testing.assert_array_equal(by_text.logits, tr.logits)
    np.testing.assert_array_equal(probe(twin, ids[0]).logits, tr.logits)  # (T,)
    lm = CharLM(len(vocab), hidden_size=6, num_layers=2, embed_size=4, vocab=vocab)
    lm.load_state_dict(twin.state_dict())  # the same weights in a CharLM
    np.testing.assert_array_equal(lm.probe(ids).logits, tr.logits)
    np.testing.assert_array_equal(probe(lm, "a bad cage").logits, tr.logits)


def test_character_models_without_the_structure_get_clear_errors():
    twin = _SameStructure()
    with pytest.raises(ValueError, match="has no vocab"):
        probe(twin, "abc")
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 9\)"):
        probe(twin, torch.tensor([[0, 9]]))
    twin.rnn = nn.LSTM(4, 6, 2)  # not batch-first: (B, T) ids cannot be replayed
    with pytest.raises(TypeError, match="batch-first torch.nn.RNN/LSTM/GRU"):
        probe(twin, torch.tensor([[0, 1]]))
    own_cell = nn.Module()
    own_cell.embed, own_cell.cell = nn.Embedding(9, 4), nn.LSTMCell(4, 6)
    with pytest.raises(TypeError, match="supports torch.nn.RNN, LSTM and GRU"):
        probe(own_cell, torch.tensor([[0, 1]]))
