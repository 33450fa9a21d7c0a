"""Fine-tuning a copy of a character model (rnnviz.labs.finetune).

The loss is measured with rnnviz.train.evaluate, which does not depend on
the code under test; the copy is compared with the original tensor by tensor.
"""

import pytest
import torch

from rnnviz.data import UnknownCharacterError, Vocab
from rnnviz.labs.finetune import (
    fine_tune,
    from_scratch,
    load_sweep,
    split_text,
    split_three,
    sweep,
)
from rnnviz.models import CharLM
from rnnviz.train import evaluate

# A tiny corpus with a strong pattern: after a little training the loss must fall.
TEXT = "A:\nabcabc abd\n\nB:\nbcd bcd abc\n\n" * 40
VOCAB = Vocab.from_text(TEXT + "Z")
IDS = VOCAB.encode(TEXT)


def _model(seed=0):
    return CharLM(
        len(VOCAB),
        hidden_size=16,
        num_layers=1,
        cell="lstm",
        embed_size=8,
        seed=seed,
        vocab=VOCAB,
    )


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_split_text_cuts_at_the_nearest_blank_line():
    head, tail = split_text(TEXT, 0.8)
    assert head + tail == TEXT and head.endswith("\n\n") and tail[:2] in ("A:", "B:")
    blank_lines = [i + 2 for i in range(len(TEXT) - 2) if TEXT[i : i + 2] == "\n\n"]
    best = min(abs(c - 0.8 * len(TEXT)) for c in blank_lines)
    assert abs(len(head) - 0.8 * len(TEXT)) == pytest.approx(best)
    assert split_text("abcdefghij", 0.3) == (
        "abc",
        "defghij",
    )  # no blank line: the exact position
    assert split_text("ab", 0.01) == ("a", "b")  # both parts non-empty


@pytest.mark.parametrize(
    "text, fraction, match",
    [
        ("", 0.5, "at least 2"),
        ("abc", 0.0, "fraction"),
        ("abc", 1.0, "fraction"),
        ("abc", True, "fraction"),
    ],
)
def test_split_text_errors(text, fraction, match):
    with pytest.raises(ValueError, match=match):
        split_text(text, fraction)
    with pytest.raises(TypeError, match="str"):
        split_text(b"abc", 0.5)


def test_fine_tune_copies_lowers_held_out_loss_and_is_deterministic():
    torch.set_num_threads(1)
    model = _model().train()
    before = _state(model)
    head, tail = split_text(TEXT, 0.75)
    tuned, hist = fine_tune(
        model, head, tail, steps=60, lr=1e-2, batch_size=4, seq_len=16, seed=1
    )
    again, _ = fine_tune(
        model,
        VOCAB.encode(head),
        VOCAB.encode(tail),
        steps=60,
        lr=1e-2,
        batch_size=4,
        seq_len=16,
        seed=1,
    )
    # the input is untouched (weights and mode), the copy is another object with
    # other weights
    assert (
        all(torch.equal(before[k], v) for k, v in model.state_dict().items())
        and model.training
    )
    assert tuned is not model and not tuned.training
    assert any(not torch.equal(before[k], v) for k, v in tuned.state_dict().items())
    # deterministic: text and ids give the same run
    assert all(
        torch.equal(v, again.state_dict()[k]) for k, v in tuned.state_dict().items()
    )
    # it learned: held-out loss (measured by evaluate) falls well below the untrained
    # model's
    held = VOCAB.encode(tail)
    assert evaluate(tuned, held) < evaluate(model, held) - 0.5
    assert hist.val_loss[-1] == pytest.approx(
        evaluate(tuned, held, batch_size=16), rel=1e-6
    )


def test_from_scratch_has_the_configuration_and_fresh_seeded_weights():
    model = _model(seed=0)
    a, b, c = (
        from_scratch(model, seed=5),
        from_scratch(model, seed=5),
        from_scratch(model, seed=6),
    )
    assert a.config == model.config and a.vocab == model.vocab
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    assert any(not torch.equal(v, c.state_dict()[k]) for k, v in a.state_dict().items())
    assert any(
        not torch.equal(v, model.state_dict()[k]) for k, v in a.state_dict().items()
    )


def test_fine_tune_errors():
    model = _model()
    with pytest.raises(ValueError, match="train is empty"):
        fine_tune(model, "", steps=1)
    with pytest.raises(UnknownCharacterError, match="unknown character '#'"):
        fine_tune(model, "abc#abc abc", steps=1)
    with pytest.raises(ValueError, match="lr"):
        fine_tune(model, IDS, steps=1, lr=0.0)
    with pytest.raises(ValueError, match="steps"):
        fine_tune(model, IDS, steps=0)
    with pytest.raises(TypeError, match="CharLM"):
        fine_tune(torch.nn.Linear(2, 2), IDS, steps=1)
    with pytest.raises(TypeError, match="str or a 1-D tensor"):
        fine_tune(model, [1, 2, 3], steps=1)
    no_vocab = CharLM(len(VOCAB), hidden_size=4, embed_size=2, seed=0)
    with pytest.raises(ValueError, match="no vocab"):
        fine_tune(no_vocab, "abc", steps=1)
    with pytest.raises(TypeError, match="CharLM"):
        from_scratch("model")


def test_split_three_cuts_the_tail_of_split_text_and_a_tuning_slice():
    train, tune, tail = split_three(TEXT)
    assert train + tune + tail == TEXT and tail == split_text(TEXT, 0.8)[1]
    assert train.endswith("\n\n") and tune.endswith("\n\n") and tune[:2] in ("A:", "B:")
    assert len(train) > 5 * len(tune) > 0


def test_sweep_runs_the_fine_tune_loop_and_picks_the_scratch_rate_by_tuning_loss():
    torch.set_num_threads(1)
    model = _model().eval()
    before = _state(model)
    settings = dict(
        fine_tune_lrs=(1e-3, 1e-2),
        fine_tune_steps=6,
        scratch_lrs=(1e-4, 3e-2),
        scratch_steps=6,
        eval_every=3,
        seeds=(0, 1),
        batch_size=2,
        seq_len=16,
    )
    result = sweep(model, TEXT, **settings)
    runs = result["runs"]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert [r["kind"] for r in runs] == ["fine-tuned"] * 4 + ["from scratch"] * 3
    assert all(r["step"] == [0, 3, 6] for r in runs)
    # the sweep's fine-tuning is fine_tune's: the same weights, the same held-out loss
    train, _, tail = split_three(TEXT)
    tuned, _ = fine_tune(
        model, train, steps=6, lr=1e-2, batch_size=2, seq_len=16, seed=1
    )
    run = next(r for r in runs if r["lr"] == 1e-2 and r["seed"] == 1)
    assert run["tail"][-1] == pytest.approx(
        evaluate(tuned, VOCAB.encode(tail)), rel=1e-6
    )
    assert run["tail"][0] == pytest.approx(
        evaluate(model, VOCAB.encode(tail)), rel=1e-6
    )
    # from scratch: both rates with seed 0, the other seed at the better tuning loss
    first = {r["lr"]: r["tune"][-1] for r in runs[4:6]}
    assert runs[6]["seed"] == 1 and runs[6]["lr"] == min(first, key=first.get)
    assert result["characters"]["tail"] == len(tail)


def test_load_sweep_checks_the_pinned_hash(tmp_path):
    path = tmp_path / "sweep.json"
    path.write_text('{"runs": []}\n')
    with pytest.raises(ValueError, match="sha256"):
        load_sweep(path)
