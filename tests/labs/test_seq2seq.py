"""The encoder-decoder: generated task, padding and masks, loss, decoders, errors.

References: an independent words-to-number parser for the task, each pair run
alone without padding for the masked loss, the attention equations written
out with ``rnnviz.cells.gru_cell`` for one decoder step, and exhaustive search
over every output sequence for beam search.
"""

import itertools
import math

import pytest
import torch
from torch import nn

from rnnviz.cells import gru_cell
from rnnviz.data import UnknownCharacterError
from rnnviz.labs.seq2seq import (
    BOS,
    EOS,
    PAD,
    Hypothesis,
    PairVocab,
    Seq2Seq,
    accuracy,
    beam_decode,
    beam_decode_batch,
    beam_search,
    collate,
    evaluate,
    fit,
    greedy_decode,
    masked_cross_entropy,
    number_pair,
    number_pairs,
    number_words,
    sequence_log_probs,
    translate,
)

# ---------------------------------------------------------------- the task

_VALUES = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen eighteen nineteen".split()
    )
}
_VALUES.update(
    {
        w: 10 * k
        for k, w in enumerate(
            "twenty thirty forty fifty sixty seventy eighty ninety".split(), 2
        )
    }
)


def parse_words(text):
    """An independent reader of English number words (the test's reference)."""
    total, current = 0, 0
    for word in text.split():
        if word == "thousand":
            total, current = total + current * 1000, 0
        elif word == "hundred":
            current *= 100
        else:
            current += sum(_VALUES[part] for part in word.split("-"))
    return total + current


@pytest.mark.parametrize(
    "n, words",
    [
        (0, "zero"),
        (13, "thirteen"),
        (20, "twenty"),
        (21, "twenty-one"),
        (100, "one hundred"),
        (101, "one hundred one"),
        (110, "one hundred ten"),
        (1000, "one thousand"),
        (1010, "one thousand ten"),
        (9999, "nine thousand nine hundred ninety-nine"),
        (40_000, "forty thousand"),
        (999_999, "nine hundred ninety-nine thousand nine hundred ninety-nine"),
    ],
)
def test_number_words_examples(n, words):
    assert number_words(n) == words


def test_number_words_round_trip():
    for n in list(range(10_000)) + [12_345, 100_001, 700_070, 999_999]:
        words = number_words(n)
        assert parse_words(words) == n, words
        assert "  " not in words and words == words.strip()


def test_number_pair_source():
    assert number_pair(7) == ("7", "seven")
    assert number_pair(1204)[0] == "1,204" and number_pair(123_456)[0] == "123,456"


@pytest.mark.parametrize("bad", [-1, 1_000_000, 2.0, True, "3"])
def test_number_words_rejects(bad):
    with pytest.raises(ValueError, match="n must be an int"):
        number_words(bad)


def test_pairs_deterministic_and_disjoint():
    a, b = (
        number_pairs(seed=3, limit=2000, n_valid=100, n_test=300),
        number_pairs(seed=3, limit=2000, n_valid=100, n_test=300),
    )
    assert a == b
    assert number_pairs(seed=4, limit=2000, n_valid=100, n_test=300).test != a.test
    sources = [{s for s, _ in split} for split in (a.train, a.valid, a.test)]
    assert [len(s) for s in sources] == [1600, 100, 300]
    assert not (
        sources[0] & sources[1] or sources[0] & sources[2] or sources[1] & sources[2]
    )
    assert set.union(*sources) == {f"{n:,}" for n in range(2000)}
    assert all(
        number_pair(int(s.replace(",", ""))) == (s, t)
        for split in (a.train, a.test)
        for s, t in split
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(limit=0),
        dict(limit=100, n_valid=50, n_test=50),
        dict(n_test=0),
        dict(limit=2_000_000),
        dict(n_valid=1.5),
    ],
)
def test_pairs_reject(kwargs):
    with pytest.raises(ValueError):
        number_pairs(seed=0, **kwargs)


# --------------------------------------------------------------- vocabulary and batches


def vocabs():
    return PairVocab("0123456789,"), PairVocab(" -abcdefghijklmnopqrstuvwxyz")


def test_vocab_specials_and_round_trip():
    src_v, _ = vocabs()
    assert src_v.tokens[:3] == ("<pad>", "<bos>", "<eos>") and (PAD, BOS, EOS) == (
        0,
        1,
        2,
    )
    ids = src_v.encode("1,204", bos=True, eos=True)
    assert ids[0] == BOS and ids[-1] == EOS and len(ids) == 7
    assert src_v.decode(ids) == "1,204"
    assert src_v.decode(ids[:-1] + [PAD, PAD]) == "1,204"
    assert src_v.decode([src_v.encode("7")[0], EOS, src_v.encode("9")[0]]) == "7"


def test_vocab_errors():
    src_v, _ = vocabs()
    with pytest.raises(UnknownCharacterError, match="unknown character 'x'"):
        src_v.encode("12x4")
    with pytest.raises(ValueError, match="empty"):
        src_v.encode("")
    with pytest.raises(ValueError, match="out of range"):
        src_v.decode([3, 99])
    with pytest.raises(ValueError):
        PairVocab("")


def test_collate_shapes_and_mask():
    src_v, tgt_v = vocabs()
    pairs = [number_pair(n) for n in (7, 1204, 45, 9999)]
    b = collate(pairs, src_v, tgt_v)
    S, T = max(len(s) for s, _ in pairs), max(len(t) for _, t in pairs) + 1
    assert b.src.shape == (
        4,
        S,
    ) and b.tgt_in.shape == b.tgt_out.shape == b.mask.shape == (4, T)
    assert b.src_lengths.tolist() == [len(s) for s, _ in pairs]
    assert (
        b.mask.sum(1).tolist() == [len(t) + 1 for _, t in pairs]
        and b.mask.dtype == torch.bool
    )
    for k, (s, t) in enumerate(pairs):
        n = len(t)
        assert src_v.decode(b.src[k]) == s and torch.all(b.src[k, len(s) :] == PAD)
        assert b.tgt_in[k, 0] == BOS and b.tgt_out[k, n] == EOS
        assert torch.equal(
            b.tgt_in[k, 1 : n + 1], b.tgt_out[k, :n]
        )  # shifted by one: teacher forcing
        assert torch.all(b.tgt_out[k, n + 1 :] == PAD) and torch.all(
            b.tgt_in[k, n + 1 :] == PAD
        )
        assert tgt_v.decode(b.tgt_in[k]) == t


def test_collate_errors():
    src_v, tgt_v = vocabs()
    with pytest.raises(ValueError, match="no pairs"):
        collate([], src_v, tgt_v)
    with pytest.raises(ValueError, match="empty"):
        collate([("12", "")], src_v, tgt_v)
    with pytest.raises(UnknownCharacterError):
        collate([("12", "Twelve")], src_v, tgt_v)


# --------------------------------------------------------- model, teacher forcing, loss


def model_and_batch(attention=True, seed=0):
    src_v, tgt_v = vocabs()
    model = Seq2Seq(
        len(src_v),
        len(tgt_v),
        embed_size=8,
        hidden_size=16,
        attention=attention,
        seed=seed,
    )
    pairs = [number_pair(n) for n in (3, 1204, 58, 9017, 600)]
    return model, collate(pairs, src_v, tgt_v), pairs, (src_v, tgt_v)


@pytest.mark.parametrize("attention", [True, False])
def test_teacher_forcing_shapes(attention):
    model, b, pairs, _ = model_and_batch(attention)
    logits, alphas = model(b.src, b.src_lengths, b.tgt_in)
    assert logits.shape == (*b.tgt_in.shape, model.tgt_vocab_size)
    if not attention:
        assert alphas is None
        return
    assert alphas.shape == (*b.tgt_in.shape, b.src.shape[1])
    torch.testing.assert_close(alphas.sum(2), torch.ones(b.tgt_in.shape))
    pad = ~(torch.arange(b.src.shape[1]) < b.src_lengths[:, None])  # (B, S)
    assert torch.all(alphas.masked_select(pad[:, None].expand_as(alphas)) == 0)


def test_attention_step_matches_equations():
    """One decoder step against Bahdanau's equations and the reference GRU cell."""
    model, b, _, _ = model_and_batch(True)
    memory = model.encode(b.src, b.src_lengths)
    s0, prev = memory.final, b.tgt_in[:, 0]
    logits, s1, alpha = model.step(prev, s0, memory)
    for k in range(b.src.shape[0]):
        h = memory.states[k, : b.src_lengths[k]]  # (S_k, H) real positions only
        e = torch.stack(
            [
                model.v.weight[0]
                @ torch.tanh(
                    model.W_s.weight @ s0[k] + model.W_h.weight @ hj + model.W_h.bias
                )
                for hj in h
            ]
        )
        a = torch.exp(e - e.max()) / torch.exp(e - e.max()).sum()
        c = (a[:, None] * h).sum(0)
        x = torch.cat([model.tgt_embed.weight[prev[k]], c])
        d = model.decoder
        s_ref, _ = gru_cell(
            x[None], s0[k][None], d.weight_ih, d.weight_hh, d.bias_ih, d.bias_hh
        )
        torch.testing.assert_close(alpha[k, : len(a)], a)
        torch.testing.assert_close(s1[k], s_ref[0])
        torch.testing.assert_close(
            logits[k], model.out.weight @ torch.cat([s_ref[0], c]) + model.out.bias
        )


@pytest.mark.parametrize("attention", [True, False])
def test_encoder_final_state_ignores_padding(attention):
    model, b, pairs, (src_v, _) = model_and_batch(attention)
    memory = model.encode(b.src, b.src_lengths)
    for k, (s, _) in enumerate(pairs):
        ids = torch.tensor([src_v.encode(s)])
        _, h = model.encoder(model.src_embed(ids))  # no padding at all
        torch.testing.assert_close(memory.final[k], h[0, 0])


@pytest.mark.parametrize("attention", [True, False])
def test_masked_loss_equals_pairs_one_at_a_time(attention):
    model, b, pairs, (src_v, tgt_v) = model_and_batch(attention)
    logits, _ = model(b.src, b.src_lengths, b.tgt_in)
    masked = masked_cross_entropy(logits, b.tgt_out, b.mask)
    total, count, per_pair = 0.0, 0, []
    for s, t in pairs:  # each pair alone: no padding anywhere
        src = torch.tensor([src_v.encode(s)])
        tgt = tgt_v.encode(t)
        z, _ = model(src, torch.tensor([src.shape[1]]), torch.tensor([[BOS] + tgt]))
        nll = nn.functional.cross_entropy(
            z[0], torch.tensor(tgt + [EOS]), reduction="sum"
        )
        total, count = total + nll, count + len(tgt) + 1
        per_pair.append(-nll)
    torch.testing.assert_close(masked, total / count)
    torch.testing.assert_close(sequence_log_probs(model, b), torch.stack(per_pair))
    unmasked = nn.functional.cross_entropy(logits.transpose(1, 2), b.tgt_out)
    assert (
        abs(unmasked.item() - masked.item()) > 1e-3
    )  # padding counted: a different number


def test_masked_loss_errors():
    logits, targets = torch.zeros(2, 3, 5), torch.zeros(2, 3, dtype=torch.long)
    with pytest.raises(ValueError, match="expected logits"):
        masked_cross_entropy(logits, targets[:, :2], torch.ones(2, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="bool"):
        masked_cross_entropy(logits, targets, torch.ones(2, 3))
    with pytest.raises(ValueError, match="at least one True"):
        masked_cross_entropy(logits, targets, torch.zeros(2, 3, dtype=torch.bool))


def test_model_errors():
    with pytest.raises(ValueError, match="hidden_size"):
        Seq2Seq(5, 5, hidden_size=0)
    model, b, _, _ = model_and_batch()
    with pytest.raises(ValueError, match="src_lengths"):
        model.encode(b.src, b.src_lengths + 10)
    with pytest.raises(ValueError, match="src must be"):
        model.encode(b.src[0], b.src_lengths)


def test_init_leaves_global_rng_alone():
    state = torch.get_rng_state()
    a, b = Seq2Seq(5, 6, seed=1), Seq2Seq(5, 6, seed=1)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


# ------------------------------------------------ beam search against exhaustive search


def table_step(seed, V=5, sharpness=2.0):
    """A step function whose next-token distribution depends on the whole prefix
    (via a hash)."""

    def logits_for(prefix):
        g = torch.Generator().manual_seed(hash((seed,) + prefix) % (2**31))
        return sharpness * torch.randn(V, generator=g)

    def step(
        prev, state
    ):  # state: (K, L) the ids before prev; reordered by the search like a real state
        prefixes = [tuple(row.tolist()) + (int(p),) for row, p in zip(state, prev)]
        logp = torch.stack(
            [torch.log_softmax(logits_for(p), 0) for p in prefixes]
        )  # (K, V)
        new = torch.cat(
            [state, prev[:, None]], 1
        )  # the state carries the prefix, ending in prev
        return logp, new

    def log_prob(tokens):
        prefix, total = (BOS,), 0.0
        for tok in tokens:
            total += torch.log_softmax(logits_for(prefix), 0)[tok].item()
            prefix += (tok,)
        return total

    return step, torch.full((1, 0), -1, dtype=torch.long), log_prob


def all_outputs(V, max_len, banned=(PAD, BOS)):
    """Every output sequence: ends in <eos> within max_len, or is max_len long
    without <eos>."""
    words = [t for t in range(V) if t not in banned and t != EOS]
    for n in range(max_len):
        for body in itertools.product(words, repeat=n):
            yield body + (EOS,)
    yield from itertools.product(words, repeat=max_len)


@pytest.mark.parametrize("seed", range(12))
def test_beam_equals_exhaustive_when_wide(seed):
    V, max_len = 5, 4
    step, state, log_prob = table_step(seed, V)
    scores = {seq: log_prob(seq) for seq in all_outputs(V, max_len)}
    best = max(scores, key=scores.get)
    top = beam_search(step, state, beam_width=(V - 3) ** max_len, max_len=max_len)[0]
    assert top.tokens == best and math.isclose(top.log_prob, scores[best], rel_tol=1e-5)
    for width in (
        1,
        2,
        3,
    ):  # narrower beams: never better than the optimum, scores consistent
        h = beam_search(step, state, beam_width=width, max_len=max_len)[0]
        assert h.log_prob <= scores[best] + 1e-6 and math.isclose(
            h.log_prob, scores[h.tokens], rel_tol=1e-5
        )


def test_greedy_is_not_always_optimal_but_a_wide_beam_is():
    """Makes the test above meaningful: for some tables greedy misses the best one."""
    V, max_len, misses = 5, 4, 0
    for seed in range(12):
        step, state, log_prob = table_step(seed, V)
        scores = {seq: log_prob(seq) for seq in all_outputs(V, max_len)}
        misses += beam_search(step, state, 1, max_len)[0].tokens != max(
            scores, key=scores.get
        )
    assert misses >= 1


@pytest.mark.parametrize("seed", range(4))
def test_length_normalised_beam_equals_exhaustive(seed):
    V, max_len, alpha = 5, 4, 1.0
    step, state, log_prob = table_step(seed, V)
    scores = {seq: log_prob(seq) / len(seq) ** alpha for seq in all_outputs(V, max_len)}
    top = beam_search(
        step,
        state,
        beam_width=(V - 3) ** max_len,
        max_len=max_len,
        length_penalty=alpha,
    )[0]
    assert top.tokens == max(scores, key=scores.get)


@pytest.mark.parametrize("seed", range(3))
def test_model_beam_equals_exhaustive(seed):
    """A small random model with sharp outputs; the reference scores every sequence
    by teacher forcing."""
    src_v, tgt_v = PairVocab("0123"), PairVocab("ab")
    model = Seq2Seq(
        len(src_v), len(tgt_v), embed_size=4, hidden_size=8, seed=seed
    ).eval()
    with torch.no_grad():
        model.out.weight.mul_(6.0)
    src, max_len = src_v.encode("3102"), 4
    outputs = list(all_outputs(len(tgt_v), max_len))
    n = len(outputs)
    tgt_in = torch.full((n, max_len + 1), PAD)
    tgt_out, mask = (
        torch.full((n, max_len + 1), PAD),
        torch.zeros(n, max_len + 1, dtype=torch.bool),
    )
    for k, seq in enumerate(outputs):
        tgt_in[k, : len(seq)] = torch.tensor((BOS,) + seq[:-1])
        tgt_out[k, : len(seq)], mask[k, : len(seq)] = torch.tensor(seq), True
    from rnnviz.labs.seq2seq import Batch

    batch = Batch(
        torch.tensor([src] * n), torch.full((n,), len(src)), tgt_in, tgt_out, mask
    )
    scores = sequence_log_probs(model, batch)  # (n,)
    best = outputs[int(scores.argmax())]
    top = beam_decode(model, src, beam_width=2**max_len, max_len=max_len)[0]
    assert top.tokens == best and math.isclose(
        top.log_prob, scores.max().item(), rel_tol=1e-4
    )


def test_beam_width_one_is_greedy():
    src_v, tgt_v = vocabs()
    model = Seq2Seq(len(src_v), len(tgt_v), embed_size=8, hidden_size=16, seed=2).eval()
    with torch.no_grad():
        model.out.weight.mul_(4.0)
    sources = [number_pair(n)[0] for n in (5, 17, 304, 1204, 9999, 6060)]
    b = collate([(s, "x") for s in sources], src_v, tgt_v)
    greedy, _ = greedy_decode(model, b.src, b.src_lengths, max_len=12)
    for s, g in zip(sources, greedy):
        beam = beam_decode(model, src_v.encode(s), beam_width=1, max_len=12)
        assert (
            len(beam) == 1
            and beam[0].tokens == g.tokens
            and beam[0].finished == g.finished
        )
        assert math.isclose(beam[0].log_prob, g.log_prob, rel_tol=1e-5)
    greedy_text = translate(model, sources, src_v, tgt_v, max_len=30)
    assert greedy_text == translate(
        model, sources, src_v, tgt_v, beam_width=1, max_len=30
    )


def test_hypotheses_sorted_and_score():
    step, state, _ = table_step(0)
    hyps = beam_search(step, state, beam_width=4, max_len=4, length_penalty=0.5)
    scores = [h.score(0.5) for h in hyps]
    assert scores == sorted(scores, reverse=True)
    assert Hypothesis((3, 4, EOS), -3.0, True).score(1.0) == -1.0


@pytest.mark.parametrize("width", [0, -1, 1.5, True, "3"])
def test_bad_beam_width(width):
    step, state, _ = table_step(0)
    with pytest.raises(ValueError, match="beam_width"):
        beam_search(step, state, beam_width=width, max_len=4)


def test_decode_errors():
    src_v, tgt_v = vocabs()
    model = Seq2Seq(len(src_v), len(tgt_v), embed_size=8, hidden_size=16)
    with pytest.raises(ValueError, match="max_len"):
        beam_decode(model, src_v.encode("12"), beam_width=2, max_len=0)
    with pytest.raises(ValueError, match="empty"):
        beam_decode(model, [], beam_width=2, max_len=5)
    with pytest.raises(ValueError, match="empty"):
        translate(model, ["12", ""], src_v, tgt_v)
    with pytest.raises(UnknownCharacterError, match="unknown character"):
        translate(model, ["12", "1.5"], src_v, tgt_v, beam_width=3)
    with pytest.raises(TypeError, match="sequence of strings"):
        translate(model, "12", src_v, tgt_v)
    with pytest.raises(ValueError, match="step must return"):
        beam_search(
            lambda prev, s: (torch.zeros(3, 5), s),
            torch.zeros(1, 2),
            beam_width=2,
            max_len=3,
        )


# ---------------------------------------------------------------- accuracy and training


def test_accuracy():
    assert accuracy(["seven", "six"], ["seven", "sixty"]) == (0.5, (5 + 3) / (5 + 5))
    assert accuracy([""], ["one"]) == (0.0, 0.0)
    with pytest.raises(ValueError, match="equally many"):
        accuracy(["a"], ["a", "b"])


def test_fit_learns_and_is_deterministic():
    src_v, tgt_v = vocabs()
    pairs = number_pairs(seed=0, limit=300, n_valid=20, n_test=20)
    train, valid = (
        collate(pairs.train, src_v, tgt_v),
        collate(pairs.valid, src_v, tgt_v),
    )
    runs = []
    for _ in range(2):
        model = Seq2Seq(len(src_v), len(tgt_v), embed_size=8, hidden_size=24, seed=0)
        h = fit(
            model,
            train,
            valid,
            steps=60,
            batch_size=16,
            lr=1e-2,
            eval_every=20,
            progress=False,
        )
        runs.append((h, model))
    (h, model), (h2, _) = runs
    assert h.train_loss == h2.train_loss and h.val_loss == h2.val_loss
    assert h.eval_step == [0, 20, 40, 60] and len(h.train_loss) == 60
    assert h.val_loss[-1] < 0.6 * h.val_loss[0]
    assert evaluate(model, valid) == h.val_loss[-1]
    with pytest.raises(ValueError, match="steps"):
        fit(model, train, valid, steps=0)


def test_fit_metrics_are_recorded_and_leave_training_unchanged():
    src_v, tgt_v = vocabs()
    pairs = number_pairs(seed=0, limit=300, n_valid=20, n_test=20)
    train, valid = (
        collate(pairs.train, src_v, tgt_v),
        collate(pairs.valid, src_v, tgt_v),
    )
    seen_modes = []

    def metrics(m):
        seen_modes.append(m.training)
        return {"n_params": float(sum(p.numel() for p in m.parameters()))}

    hists = []
    for extra in (None, metrics):
        model = Seq2Seq(len(src_v), len(tgt_v), embed_size=8, hidden_size=16, seed=1)
        hists.append(
            fit(
                model,
                train,
                valid,
                steps=20,
                batch_size=8,
                eval_every=10,
                progress=False,
                metrics=extra,
            )
        )
    plain, with_metrics = hists
    assert plain.train_loss == with_metrics.train_loss
    assert plain.val_loss == with_metrics.val_loss
    n = float(sum(p.numel() for p in model.parameters()))
    assert with_metrics.metrics == {"n_params": [n, n, n]}
    assert seen_modes == [False, False, False]  # evaluated in eval mode
    with pytest.raises(TypeError, match="metrics must be callable"):
        fit(model, train, valid, steps=1, metrics=3)


@pytest.mark.parametrize("attention", [True, False])
@pytest.mark.parametrize(
    "width, penalty", [(1, 0.0), (2, 0.0), (3, 0.0), (5, 0.0), (3, 1.0)]
)
def test_batched_beam_equals_one_at_a_time(width, penalty, attention):
    src_v, tgt_v = vocabs()
    model = Seq2Seq(
        len(src_v),
        len(tgt_v),
        embed_size=8,
        hidden_size=16,
        attention=attention,
        seed=3,
    ).eval()
    with torch.no_grad():
        model.out.weight.mul_(3.0)
    sources = [number_pair(n)[0] for n in (5, 17, 304, 1204, 9999, 6060, 88, 1000)]
    b = collate([(s, "x") for s in sources], src_v, tgt_v)
    batched = beam_decode_batch(
        model, b.src, b.src_lengths, width, max_len=9, length_penalty=penalty
    )
    for s, h in zip(sources, batched):
        ref = beam_decode(
            model, src_v.encode(s), width, max_len=9, length_penalty=penalty
        )[0]
        assert h.tokens == ref.tokens and h.finished == ref.finished
        assert math.isclose(h.log_prob, ref.log_prob, rel_tol=1e-4, abs_tol=1e-5)
