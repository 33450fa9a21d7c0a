"""The causal Transformer: attention against torch's, causality, the KV cache and
generation, sizes, errors, training.

References: ``torch.nn.functional.scaled_dot_product_attention(is_causal=True)``
and ``torch.nn.MultiheadAttention`` with a causal mask for the attention; the
full forward pass for the cached one; the sampler it had before
``rnnviz.sampling.generate`` took over, written out in the test, for the
generated texts; a hand count for the parameters; a stated-context evaluation
compared with a plain per-window loss.
"""

import json
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from rnnviz.data import Vocab
from rnnviz.labs import transformer_sweep as ts
from rnnviz.labs.transformer import (
    CausalSelfAttention,
    CharTransformer,
    KVState,
    Uncached,
    causal_attention,
    evaluate_windows,
    num_parameters_formula,
)
from rnnviz.models import CharLM
from rnnviz.sampling import generate, sample
from rnnviz.train import train

V = 11


def _ids(B, T, seed=0, vocab_size=V):
    return torch.randint(
        0, vocab_size, (B, T), generator=torch.Generator().manual_seed(seed)
    )


def _model(**kw):
    kw = dict(dict(d_model=32, num_layers=2, num_heads=4, context=24, seed=3), **kw)
    return CharTransformer(V, **kw).eval()


def test_causal_attention_matches_sdpa():
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 3, 9, 8, generator=g) for _ in range(3))
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(causal_attention(q, k, v), ref, atol=1e-6, rtol=1e-5)


def test_causal_attention_offset_matches_sdpa_on_the_last_rows():
    g = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(1, 2, 10, 4, generator=g) for _ in range(3))
    full = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (1, 2, 10, 4)
    part = causal_attention(q[:, :, 7:], k, v, offset=7)  # queries at positions 7, 8, 9
    torch.testing.assert_close(part, full[:, :, 7:], atol=1e-6, rtol=1e-5)


def test_self_attention_matches_multihead_attention():
    d, h = 16, 4
    mine = CausalSelfAttention(d, h)
    ref = nn.MultiheadAttention(d, h, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(
            torch.cat([mine.q.weight, mine.k.weight, mine.v.weight])
        )
        ref.in_proj_bias.copy_(torch.cat([mine.q.bias, mine.k.bias, mine.v.bias]))
        ref.out_proj.weight.copy_(mine.out.weight)
        ref.out_proj.bias.copy_(mine.out.bias)
    x = torch.randn(3, 7, d, generator=torch.Generator().manual_seed(0))
    mask = nn.Transformer.generate_square_subsequent_mask(7)
    expected, _ = ref(x, x, x, attn_mask=mask, need_weights=False)
    got, _ = mine(x)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_future_tokens_do_not_change_earlier_logits():
    m = _model()
    ids = _ids(2, 20)
    changed = ids.clone()
    changed[:, 12:] = (changed[:, 12:] + 5) % V
    a, _ = m(ids)
    b, _ = m(changed)
    torch.testing.assert_close(a[:, :12], b[:, :12], atol=0, rtol=0)
    assert (a[:, 12:] - b[:, 12:]).abs().max() > 1e-3  # and later ones do change


def test_kv_cache_gives_the_full_forward_logits():
    m = _model()
    ids = _ids(2, 20, seed=4)
    full, _ = m(ids)  # (2, 20, V)
    logits, cache = m.forward_cached(
        ids[:, :5]
    )  # a prompt, then one character at a time
    steps = [logits]
    for t in range(5, 20):
        logits, cache = m.forward_cached(ids[:, t : t + 1], cache)
        steps.append(logits)
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=1e-5)
    assert cache[0][0].shape == (2, 4, 20, 8)  # (B, heads, t, d_head)


def test_forward_with_its_state_is_the_cache():
    """model(ids, state) carries the KV cache: the logits of one full pass."""
    m = _model()
    ids = _ids(2, 20, seed=4)
    full, state = m(ids)  # (2, 20, V)
    assert isinstance(state, KVState) and len(state) == 20
    assert torch.equal(state.ids, ids) and state.cache[0][0].shape == (2, 4, 20, 8)
    logits, state = m(ids[:, :5])
    steps = [logits]
    for t in range(5, 20):
        logits, state = m(ids[:, t : t + 1], state)
        steps.append(logits)
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=1e-5)
    # several positions per call, across the full context: each piece of the
    # stream read as the context allows (here 24 positions, restart from 12)
    long = _ids(2, 50, seed=5)
    got, state = m(long[:, :10])
    rest, state = m(long[:, 10:], state)
    one_by_one, s1 = m(long[:, :10])
    singles = [one_by_one]
    for t in range(10, 50):
        logits, s1 = m(long[:, t : t + 1], s1)
        singles.append(logits)
    torch.testing.assert_close(
        torch.cat([got, rest], 1), torch.cat(singles, 1), atol=1e-5, rtol=1e-5
    )
    assert torch.equal(state.ids, s1.ids) and len(state) <= m.context
    m.train()
    _, live = m(ids)  # with autograd: the cache is part of the graph
    cut = live.detach()
    assert live.cache[0][0].requires_grad and not cut.cache[0][0].requires_grad
    assert torch.equal(cut.cache[1][1], live.cache[1][1]) and cut.ids is live.ids


def _old_generate(model, vocab, prompt, n, temperature, seed, use_cache):
    """The Transformer's sampler before it was folded into rnnviz.sampling.generate.

    Written out here, as it was: a KV cache that restarts from the last
    context // 2 characters when the context is full (or the whole window run
    again for every character without the cache), ``temperature == 0`` greedy.
    """
    ids = vocab.encode(prompt).tolist()
    keep = max(1, model.context // 2)
    gen = torch.Generator().manual_seed(seed)
    cache, pending, out = None, ids[-model.context :], []
    with torch.no_grad():
        for _ in range(n):
            if not use_cache:
                cache, pending = None, (ids + out)[-model.context :]
            elif cache is not None and cache[0][0].shape[-2] + len(pending) > (
                model.context
            ):
                cache, pending = None, (ids + out)[-keep:]
            logits, cache = model.forward_cached(torch.tensor([pending]), cache)
            last = logits[0, -1]  # (V,)
            if temperature == 0:
                nxt = int(last.argmax())
            else:
                probs = torch.softmax(last / temperature, -1)
                nxt = int(torch.multinomial(probs, 1, generator=gen))
            out.append(nxt)
            pending = [nxt]
    return prompt + vocab.decode(out)


class _Positions:
    """Counts the positions a model runs: the ids its token embedding looks up."""

    def __init__(self, model):
        self.n = 0
        model.tok.register_forward_hook(self._hook)

    def _hook(self, module, args, output):
        self.n += args[0].numel()


def _small(context, vocab):
    return CharTransformer(
        len(vocab),
        d_model=16,
        num_layers=2,
        num_heads=2,
        context=context,
        seed=0,
        vocab=vocab,
    )


@pytest.mark.parametrize("context", [1, 2, 5, 40])
def test_generate_writes_what_the_old_sampler_wrote(context):
    """The same draws as before, with and without the cache, past the context too."""
    vocab = Vocab("abcdefghij ")
    m = _small(context, vocab)
    prompt = "abc"[:context]
    for T, seed in ((0.8, 3), (1.0, 5), (1.3, 1)):
        for use_cache, model in ((True, m), (False, Uncached(m))):
            old = _old_generate(m, vocab, prompt, 90, T, seed, use_cache)
            new = generate(model, vocab, prompt, 90, temperature=T, seed=seed)
            assert prompt + new.text == old
            assert sample(model, vocab, prompt, 90, temperature=T, seed=seed) == old
    for use_cache, model in ((True, m), (False, Uncached(m))):
        greedy = generate(model, vocab, prompt, 90, strategy="greedy").text
        assert prompt + greedy == _old_generate(m, vocab, prompt, 90, 0, 0, use_cache)


def test_the_cache_costs_one_position_per_character():
    vocab = Vocab("abcdefghij ")
    m = _small(40, vocab)
    P, n = 3, 30  # prompt and generated text fit the context of 40
    counter = _Positions(m)
    cached = generate(m, vocab, "abc", n, temperature=1.0, seed=5)
    assert counter.n == P + (n - 1)  # the prompt once, then one position each
    counter.n = 0
    uncached = generate(Uncached(m), vocab, "abc", n, temperature=1.0, seed=5)
    assert counter.n == sum(P + k for k in range(n))  # the whole window every time
    assert cached.text == uncached.text  # the same text while it fits the context
    counter.n = 0
    generate(m, vocab, "abc", 100, strategy="greedy")  # past the context: restarts
    restarts = 0
    length = P
    for _ in range(99):  # the cache's length before each new character
        if length == 40:
            length, restarts = m.restart_length, restarts + 1
        else:
            length += 1
    assert counter.n == P + 99 + restarts * (m.restart_length - 1)
    assert m.training  # generate put it back in training mode


def test_parameter_count_formula_and_config():
    for d, L, C in ((32, 2, 24), (48, 3, 10), (8, 1, 1)):
        m = CharTransformer(V, d_model=d, num_layers=L, num_heads=4, context=C)
        assert m.num_parameters() == num_parameters_formula(V, d, L, C)
    m = _model(dropout=0.1)
    cfg = json.loads(json.dumps(m.config))
    assert cfg == dict(
        vocab_size=V, d_model=32, num_layers=2, num_heads=4, context=24, dropout=0.1
    )
    again = CharTransformer(**cfg, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(m.parameters(), again.parameters()))


def test_seed_leaves_global_random_state_alone():
    before = torch.random.get_rng_state()
    _model(seed=9)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_errors():
    m = _model()
    with pytest.raises(ValueError, match="exceeds the context of 24"):
        m(_ids(1, 25))
    with pytest.raises(TypeError, match="integer tensor"):
        m(torch.zeros(1, 4))
    with pytest.raises(TypeError, match="torch.Tensor"):
        m([[1, 2]])
    with pytest.raises(ValueError, match=r"shape \(B, T\)"):
        m(torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"lie in \[0, 11\)"):
        m(torch.tensor([[0, 11]]))
    with pytest.raises(ValueError, match="empty"):
        m(torch.zeros(1, 0, dtype=torch.long))
    with pytest.raises(TypeError, match="the KVState it returned"):
        m(_ids(1, 4), state=(torch.zeros(1),))
    _, state = m(_ids(2, 4))
    with pytest.raises(ValueError, match="ids have 1 rows but the state holds 2"):
        m(_ids(1, 4), state)
    with pytest.raises(TypeError, match="Uncached wraps a CharTransformer"):
        Uncached(CharLM(V))
    _, cache = m.forward_cached(_ids(1, 20))
    with pytest.raises(ValueError, match="exceeds the context"):
        m.forward_cached(_ids(1, 5), cache)
    with pytest.raises(ValueError, match="divisible"):
        CharTransformer(V, d_model=30, num_heads=4)
    with pytest.raises(ValueError, match="context must be a positive int"):
        CharTransformer(V, context=0)
    with pytest.raises(ValueError, match="dropout"):
        CharTransformer(V, dropout=1.0)
    with pytest.raises(ValueError, match="vocab has 3"):
        CharTransformer(V, vocab=Vocab("abc"))
    vocab = Vocab("abcdefghijk")
    with pytest.raises(ValueError, match="exceeds the context of 24"):
        generate(m, vocab, "abcdefghijk" * 3, 3)  # a prompt longer than the context
    ids = _ids(1, 100)[0]
    with pytest.raises(ValueError, match="stride=20 must be <= window=10"):
        evaluate_windows(m, ids, window=10, stride=20)
    with pytest.raises(ValueError, match="window \\+ 1"):
        evaluate_windows(m, ids[:10], window=10, stride=5)


def test_evaluate_windows_scores_each_character_once_with_the_stated_context():
    m = _model()
    ids = _ids(1, 107, seed=8)[0]
    window, stride = 20, 5
    got = evaluate_windows(m, ids, window=window, stride=stride, batch_size=3)
    # reference: character t (t >= window - stride + 1) scored once, from exactly
    # the window that ends where it is
    total, count = 0.0, 0
    for s in range(0, ids.numel() - window, stride):
        x, y = ids[s : s + window], ids[s + 1 : s + window + 1]
        with torch.no_grad():
            logits, _ = m(x[None])
        for t in range(window - stride, window):
            total += float(F.cross_entropy(logits[0, t], y[t]))
            count += 1
    assert count == (ids.numel() - window - 1) // stride * stride + stride
    assert math.isclose(got, total / count, rel_tol=1e-5)
    # an LSTM is scored the same way, from a fresh state in every window
    lstm = CharLM(V, 16, seed=0).eval()
    ref = evaluate_windows(lstm, ids, window=window, stride=stride, batch_size=100)
    assert math.isclose(
        ref,
        evaluate_windows(lstm, ids, window=window, stride=stride, batch_size=2),
        rel_tol=1e-5,
    )


def test_a_short_training_run_lowers_held_out_loss():
    text = "to be or not to be that is the question " * 40
    vocab = Vocab.from_text(text)
    ids = vocab.encode(text)
    train_ids, valid_ids = ids[:1200], ids[1200:]
    m = CharTransformer(
        len(vocab),
        d_model=32,
        num_layers=1,
        num_heads=2,
        context=32,
        seed=0,
        vocab=vocab,
    )
    before = evaluate_windows(m, valid_ids, window=32, stride=16)
    assert math.isclose(
        before, math.log(len(vocab)), rel_tol=0.05
    )  # near uniform at initialisation
    hist = train(
        m,
        train_ids,
        valid_ids,
        steps=60,
        batch_size=8,
        seq_len=32,
        lr=3e-3,
        eval_every=60,
        seed=0,
        progress=False,
    )
    after = evaluate_windows(m, valid_ids, window=32, stride=16)
    assert after < 0.5 * before, (before, after)
    assert hist.val_loss[-1] < before


# --- rnnviz.labs.transformer_sweep: the chapter's equal-budget comparison ---


def test_sweep_models_have_matched_sizes_and_seeded_weights():
    vocab = Vocab.from_text("abcdefghij klmnopqrstuvwxyz\n:ABC")
    sizes = {n: ts.make_model(n, vocab, 0).num_parameters() for n in ts.MODELS}
    assert abs(sizes["Transformer"] / sizes["LSTM"] - 1) < 0.05
    a, b = (
        ts.make_model("Transformer", vocab, 1),
        ts.make_model("Transformer", vocab, 1),
    )
    c = ts.make_model("Transformer", vocab, 2)
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)
    with pytest.raises(ValueError, match="unknown model"):
        ts.make_model("GRU", vocab, 0)


def test_sweep_grids_bracket_the_rates_and_run_records_a_budget(tmp_path):
    assert set(ts.LRS) == set(ts.MODELS) and all(len(v) >= 3 for v in ts.LRS.values())
    assert 1e-3 in ts.LRS["Transformer"]  # the bench's rate is among the candidates
    text = "First Citizen:\nBefore we proceed any further, hear me speak.\n" * 20
    vocab = Vocab.from_text(text)
    ids = vocab.encode(text)
    r = ts.run("LSTM", vocab, ids, {"valid": ids}, steps=3, lr=1e-2, seed=0)
    assert r["steps"] == 3 and r["seed"] == 0 and r["cpu_seconds"] > 0
    assert (
        math.isfinite(r["valid_bpc"]) and 0 < r["valid_bpc"] < math.log2(len(vocab)) + 1
    )
    out = tmp_path / "s.json"
    ts.write({"tuning": [dict(r, valid_bpc=1 / 3)], "final": []}, out)
    assert json.loads(out.read_text())["tuning"][0]["valid_bpc"] == 0.3333


def test_shipped_sweep_is_complete_and_equal_budget():
    if not ts.DEFAULT_OUT.exists():
        pytest.skip("the sweep's result is not shipped")
    sweep = json.loads(ts.DEFAULT_OUT.read_text())
    assert sweep["budgets"] == list(ts.BUDGETS)
    for steps in sweep["budgets"]:
        for name in ts.MODELS:
            runs = [
                r for r in sweep["final"] if r["model"] == name and r["steps"] == steps
            ]
            assert sorted(r["seed"] for r in runs) == sorted(sweep["seeds"])
            assert {r["lr"] for r in runs} == {sweep["best_lr"][f"{name}@{steps}"]}
            tuned = {
                r["lr"]: r["valid_bpc"]
                for r in sweep["tuning"]
                if r["model"] == name and r["steps"] == steps
            }
            assert sorted(tuned) == sorted(sweep["lrs"][name])
            ok = {lr: b for lr, b in tuned.items() if b is not None}
            assert min(ok, key=ok.get) == sweep["best_lr"][f"{name}@{steps}"]
