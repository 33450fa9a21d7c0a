"""rnnviz.labs.keras_compat: PyTorch weights in Keras's layout.

Two references: Keras's cell equations written out in numpy (float64, Keras's
layout and gate order, from the Keras 3 source), run with the mapped weights
against ``torch.nn`` modules directly; and Keras 3 itself on its torch backend
(skipped only if Keras is not installed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from rnnviz.labs import keras_compat as kc

KINDS = ["RNN", "LSTM", "GRU"]
B, T, I, H = 3, 7, 5, 4


# ------------------------------------------------------------- numpy reference
def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def keras_step(
    kind: str, weights: list, x: np.ndarray, state: list, reset_after: bool = True
) -> list:
    """One step of Keras's SimpleRNNCell/LSTMCell/GRUCell; x (B, I), state [h] or
    [h, c], (B, H) each."""
    K, R = weights[0], weights[1]  # (I, G*H), (H, G*H)
    b = weights[2] if len(weights) == 3 else None
    h = state[0]
    if kind == "RNN":
        return [np.tanh(x @ K + h @ R + (0 if b is None else b))]
    if kind == "LSTM":
        i, f, c_hat, o = np.split(
            x @ K + h @ R + (0 if b is None else b), 4, axis=1
        )  # Keras: i, f, c, o
        c = _sigmoid(f) * state[1] + _sigmoid(i) * np.tanh(c_hat)
        return [_sigmoid(o) * np.tanh(c), c]
    if reset_after:  # bias (2, 3H): input row, recurrent row
        x_z, x_r, x_h = np.split(
            x @ K + (0 if b is None else b[0]), 3, axis=1
        )  # Keras: z, r, h
        h_z, h_r, h_h = np.split(h @ R + (0 if b is None else b[1]), 3, axis=1)
        z, r = _sigmoid(x_z + h_z), _sigmoid(x_r + h_r)
        hh = np.tanh(x_h + r * h_h)
    else:  # Cho et al.: one bias (3H,), r applied to h before the recurrent product
        x_z, x_r, x_h = np.split(x @ K + (0 if b is None else b), 3, axis=1)
        U_z, U_r, U_h = np.split(R, 3, axis=1)
        z, r = _sigmoid(x_z + h @ U_z), _sigmoid(x_r + h @ U_r)
        hh = np.tanh(x_h + (r * h) @ U_h)
    return [z * h + (1 - z) * hh]


def keras_reference(kind, layers, x, states, reset_after=True):
    """A stack of Keras layers in numpy. x (B, T, I); states[k] = [h] or [h, c] of
    layer k.

    Returns the top outputs (B, T, H) and the final states, one list per layer.
    """
    finals = []
    for weights, state in zip(layers, states):
        outs = []
        for t in range(x.shape[1]):
            state = keras_step(kind, weights, x[:, t], state, reset_after)
            outs.append(state[0])
        x = np.stack(outs, axis=1)
        finals.append(state)
    return x, finals


def _module(kind, num_layers=1, bias=True, seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    return getattr(nn, kind)(I, H, num_layers, bias=bias, batch_first=True).to(dtype)


def _inputs(kind, num_layers, seed=1, dtype=torch.float64):
    """x (B, T, I) and a non-zero initial state in torch's layout, (L, B, H) or a
    pair of them."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, I, generator=g, dtype=dtype)
    h0 = torch.randn(num_layers, B, H, generator=g, dtype=dtype)
    return x, (
        (h0, torch.randn(num_layers, B, H, generator=g, dtype=dtype))
        if kind == "LSTM"
        else h0
    )


def _per_layer(state) -> list[list[np.ndarray]]:
    """torch's (L, B, H) state(s) -> one [h] or [h, c] list of numpy arrays per
    layer."""
    parts = state if isinstance(state, tuple) else (state,)
    return [[p[k].numpy() for p in parts] for k in range(parts[0].shape[0])]


def _torch_run(module, x, state):
    with torch.no_grad():
        out, final = module(x, state)
    return out.numpy(), _per_layer(final)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bias", [True, False])
def test_mapped_weights_in_keras_equations_match_torch(kind, num_layers, bias):
    """The mapping (transpose, bias sum or stack, GRU r/z swap) read by Keras's
    equations gives torch's outputs."""
    module = _module(kind, num_layers, bias)
    x, state = _inputs(kind, num_layers)
    ref_out, ref_final = _torch_run(module, x, state)
    out, final = keras_reference(
        kind, kc.torch_to_keras(module), x.numpy(), _per_layer(state)
    )
    np.testing.assert_allclose(out, ref_out, rtol=0, atol=1e-12)
    for ours, theirs in zip(final, ref_final):
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def _permute_blocks(weights, order, G):
    """Reorder the G gate blocks along the last axis of every array (a wrong
    mapping, on purpose)."""
    return [
        np.concatenate([np.split(w, G, axis=-1)[k] for k in order], axis=-1)
        for w in weights
    ]


@pytest.mark.parametrize(
    "kind, order", [("LSTM", [1, 0, 2, 3]), ("LSTM", [0, 2, 1, 3]), ("GRU", [1, 0, 2])]
)
def test_a_wrong_gate_order_is_detected(kind, order):
    """Negative control: the check above fails if the blocks are ordered otherwise
    (for the GRU: not swapped)."""
    module = _module(kind)
    x, state = _inputs(kind, 1)
    ref_out, _ = _torch_run(module, x, state)
    (weights,) = kc.torch_to_keras(module)
    G = len(kc.TORCH_GATES[kind])
    weights = _permute_blocks(weights[:2], order, G) + [
        _permute_blocks([weights[2]], order, G)[0]
    ]
    out, _ = keras_reference(kind, [weights], x.numpy(), _per_layer(state))
    assert np.abs(out - ref_out).max() > 1e-2


def test_lstm_keeps_torch_block_order_and_gru_swaps_r_and_z():
    for kind, to_keras, expected in [
        ("LSTM", kc.lstm_to_keras, [0, 1, 2, 3]),
        ("GRU", kc.gru_to_keras, [1, 0, 2]),
    ]:
        G = len(kc.TORCH_GATES[kind])
        rows = np.repeat(
            np.arange(G, dtype=float), 2
        )  # torch rows labelled by their block, H = 2
        kernel, recurrent, bias = to_keras(
            rows[:, None] * np.ones((1, 3)),
            rows[:, None] * np.ones((1, 2)),
            rows,
            np.zeros_like(rows),
        )
        assert kernel.shape == (3, 2 * G) and recurrent.shape == (2, 2 * G)
        for w in (
            kernel[0],
            recurrent[0],
            bias.reshape(-1, 2 * G)[0],
        ):  # GRU: row 0 of the (2, 3H) bias
            assert w[::2].tolist() == expected


def test_gru_reset_before_is_a_different_function():
    module = _module("GRU")
    x, state = _inputs("GRU", 1)
    ref_out, _ = _torch_run(module, x, state)
    weights = kc.torch_to_keras(module, reset_after=False)
    assert weights[0][2].shape == (3 * H,)
    out, _ = keras_reference(
        "GRU", weights, x.numpy(), _per_layer(state), reset_after=False
    )
    assert np.abs(out - ref_out).max() > 1e-2


def test_torch_tensors_and_numpy_arrays_give_copies():
    module = _module("LSTM")
    weights = kc.lstm_to_keras(
        module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0, module.bias_hh_l0
    )
    from_numpy = kc.lstm_to_keras(*(p.detach().numpy() for p in module.parameters()))
    for a, b in zip(weights, from_numpy):
        np.testing.assert_array_equal(a, b)
    weights[0][:] = 0  # the module's parameters are not views of the result
    assert module.weight_ih_l0.abs().sum() > 0
    assert weights[0].dtype == np.float64


def test_bad_input_is_named():
    m = _module("GRU")
    W_ih, W_hh, b_ih, b_hh = (p.detach() for p in m.parameters())
    with pytest.raises(ValueError, match="weight_hh"):
        kc.gru_to_keras(W_ih, W_hh[:8])
    with pytest.raises(ValueError, match="weight_ih"):
        kc.gru_to_keras(W_ih[:8], W_hh)
    with pytest.raises(ValueError, match="weight_hh"):
        kc.lstm_to_keras(W_ih, W_hh)  # a GRU's weights are not an LSTM's
    with pytest.raises(ValueError, match="both"):
        kc.gru_to_keras(W_ih, W_hh, b_ih, None)
    with pytest.raises(ValueError, match="bias_hh"):
        kc.gru_to_keras(W_ih, W_hh, b_ih, b_hh[:3])
    with pytest.raises(ValueError, match="NaN"):
        kc.rnn_to_keras(torch.full((4, 5), float("nan")), torch.zeros(4, 4))
    with pytest.raises(TypeError, match="floating"):
        kc.rnn_to_keras(np.zeros((4, 5), dtype=int), np.zeros((4, 4)))
    with pytest.raises(TypeError, match="nn.RNN, LSTM or GRU"):
        kc.torch_to_keras(nn.Linear(3, 4))
    with pytest.raises(ValueError, match="bidirectional"):
        kc.torch_to_keras(nn.GRU(3, 4, bidirectional=True))
    with pytest.raises(ValueError, match="proj_size"):
        kc.torch_to_keras(nn.LSTM(3, 4, proj_size=2))


# ------------------------------------------------------------------ Keras itself
@pytest.fixture(scope="module")
def keras():
    """Keras 3 on its torch backend; skips the test if Keras is absent."""
    with pytest.MonkeyPatch.context() as mp:
        if "keras" not in sys.modules:
            mp.setenv("KERAS_BACKEND", "torch")  # read once, at the first import
        keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip(f"keras was imported with the {keras.backend.backend()} backend")
    return keras


def _keras_stack(keras, module, reset_after=True):
    kind = type(module).__name__
    Layer = getattr(keras.layers, kc.KERAS_LAYER[kind])
    extra = {"reset_after": reset_after} if kind == "GRU" else {}
    layers = []
    for k, weights in enumerate(kc.torch_to_keras(module, reset_after=reset_after)):
        layer = Layer(
            H, return_sequences=True, return_state=True, use_bias=module.bias, **extra
        )
        layer.build((None, None, I if k == 0 else H))
        layer.set_weights(weights)
        layers.append(layer)
    return layers


def _keras_run(layers, x, state):
    """Returns the top outputs (B, T, H) and, per layer, [h] or [h, c], as numpy
    arrays."""
    finals = []
    with torch.no_grad():
        for k, layer in enumerate(layers):
            x, *last = layer(x, initial_state=[torch.as_tensor(s) for s in state[k]])
            finals.append([s.numpy() for s in last])
    return x.numpy(), finals


# float32, Keras's default: on the torch backend a float64 layer still computes some
# products in float32 (keras-team/keras#23704), so float64 would not be tighter.
ATOL = 1e-5


def _max_diff(a, b) -> float:
    return float(np.abs(np.asarray(a, dtype=np.float64) - b).max())


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bias", [True, False])
def test_keras_layers_with_mapped_weights_match_torch(keras, kind, num_layers, bias):
    module = _module(kind, num_layers, bias, dtype=torch.float32)
    x, state = _inputs(kind, num_layers, dtype=torch.float32)
    ref_out, ref_final = _torch_run(module, x, state)
    out, final = _keras_run(_keras_stack(keras, module), x, _per_layer(state))
    assert out.shape == ref_out.shape == (B, T, H)
    assert _max_diff(out, ref_out) < ATOL
    for ours, theirs in zip(final, ref_final, strict=True):
        assert len(ours) == len(theirs) == (2 if kind == "LSTM" else 1)
        for a, b in zip(ours, theirs):
            assert _max_diff(a, b) < ATOL


@pytest.mark.parametrize("kind", KINDS)
def test_go_backwards_and_stateful_match_torch(keras, kind):
    """go_backwards=True is the module on the flipped sequence; stateful=True is the
    state passed back."""
    module = _module(kind, dtype=torch.float32)
    x, _ = _inputs(kind, 1, dtype=torch.float32)
    Layer = getattr(keras.layers, kc.KERAS_LAYER[kind])
    backwards = Layer(H, return_sequences=True, go_backwards=True)
    stateful = Layer(H, return_sequences=True, stateful=True)
    for layer in (backwards, stateful):
        layer.build((B, T, I))
        layer.set_weights(kc.torch_to_keras(module)[0])
    with torch.no_grad():
        assert _max_diff(backwards(x).numpy(), module(x.flip(1))[0].numpy()) < ATOL
        halves = torch.cat([stateful(x[:, :3]), stateful(x[:, 3:])], dim=1)
        assert _max_diff(halves.numpy(), module(x)[0].numpy()) < ATOL
        stateful.reset_state()
        assert _max_diff(stateful(x[:, 3:]).numpy(), module(x[:, 3:])[0].numpy()) < ATOL


def test_keras_gru_reset_before_is_cho_not_torch(keras):
    module = _module("GRU", dtype=torch.float32)
    x, state = _inputs("GRU", 1, dtype=torch.float32)
    ref_out, _ = _torch_run(module, x, state)
    out, _ = _keras_run(
        _keras_stack(keras, module, reset_after=False), x, _per_layer(state)
    )
    weights = [
        [w.astype(np.float64) for w in layer]
        for layer in kc.torch_to_keras(module, reset_after=False)
    ]
    state64 = [[s.astype(np.float64) for s in layer] for layer in _per_layer(state)]
    cho, _ = keras_reference(
        "GRU", weights, x.double().numpy(), state64, reset_after=False
    )
    assert _max_diff(out, cho) < ATOL
    assert _max_diff(out, ref_out) > 1e-2


def test_keras_own_converters_invert_the_mapping(keras):
    """Keras's torch backend maps Keras weights back to torch's for cuDNN: that must
    undo ours."""
    rnn = pytest.importorskip("keras.src.backend.torch.rnn")
    lstm, gru = _module("LSTM"), _module("GRU")
    back = rnn.prepare_lstm_params(
        *(torch.from_numpy(w) for w in kc.torch_to_keras(lstm)[0]), "cpu"
    )
    torch.testing.assert_close(back[0], lstm.weight_ih_l0.detach(), rtol=0, atol=0)
    torch.testing.assert_close(back[1], lstm.weight_hh_l0.detach(), rtol=0, atol=0)
    torch.testing.assert_close(
        back[2] + back[3], (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach(), rtol=0, atol=0
    )
    back = rnn.prepare_gru_params(
        *(torch.from_numpy(w) for w in kc.torch_to_keras(gru)[0]), "cpu"
    )
    for ours, theirs in zip(
        back, [gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0]
    ):
        torch.testing.assert_close(ours, theirs.detach(), rtol=0, atol=0)


_STATE_PROBE = r"""
import json
import numpy as np, torch
def state():
    # not Python's `random`, from which Keras draws its seeds: neither rnnviz nor
    # the book uses it
    return {
        "dtype": str(torch.get_default_dtype()),
        "threads": torch.get_num_threads(),
        "interop": torch.get_num_interop_threads(),
        "grad": torch.is_grad_enabled(),
        "device": str(torch.get_default_device()),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "matmul": torch.get_float32_matmul_precision(),
        "anomaly": torch.is_anomaly_enabled(),
        "inference": torch.is_inference_mode_enabled(),
        "rng": torch.random.get_rng_state().tolist(),
        "np_rng": np.random.get_state()[1].tolist(),
        "print": repr(torch._tensor_str.PRINT_OPTS.__dict__),
        "np_print": repr(np.get_printoptions()),
    }
before = state()
import keras
# build and call: the initialisers draw random numbers
layer = keras.layers.LSTM(4, return_sequences=True)
layer.build((None, None, 3))
with torch.no_grad():
    layer(torch.ones(2, 5, 3))
after = state()
changed = [k for k in before if before[k] != after[k]]
print(json.dumps({"backend": keras.backend.backend(), "changed": changed}))
"""


def test_import_keras_is_quiet_and_leaves_torch_alone(keras, tmp_path):
    """In a fresh interpreter: nothing on stderr, and torch's global state as it was
    (other notebooks share it)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KERAS_", "PYTHONWARNINGS"))
    }
    env |= {
        "KERAS_BACKEND": "torch",
        "KERAS_HOME": str(tmp_path),
    }  # keras writes keras.json there, not in ~
    done = subprocess.run(
        [sys.executable, "-c", _STATE_PROBE],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    report = json.loads(done.stdout)
    assert report == {"backend": "torch", "changed": []}
