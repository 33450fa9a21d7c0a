"""The test plays give final numbers only (Parts 4-6).

Tuning, illustrations, prompts, reference texts, context curves and fine-tuning
use the validation plays. A code cell of Parts 4-6 that reads the test plays'
text (or names them, or prompts with one of their speakers) must say that it
reports final numbers, a comment line ``# Final numbers ...`` in the cell, or
that it only checks the test plays are kept apart (a prompt or a training text
is not in them), ``# Kept apart ...``. A
number that the training command measured on the test plays and stored in a
checkpoint (``test_bpc``) is read, not measured, and needs no mark.
"""

import json
import re
from pathlib import Path

import pytest

from rnnviz.corpus import TEST_PLAYS

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("04-code", "05-future", "06-appendix")
NOTEBOOKS = sorted(
    p for part in PARTS for p in (ROOT / "chapters" / part).glob("*.ipynb")
)
#: Speakers who appear only in the test plays, as prompts would name them.
TEST_SPEAKERS = ("Hamlet", "Shylock", "Portia", "Ophelia", "Polonius")
READS_TEST = re.compile(
    r"\bcorpus\.test\b|\bTEST_PLAYS\b|split_plays\[[\"']test[\"']\]|"
    r"(?<![\"'])\btest_(?:ids|text|plays)\b|"
    + "|".join(re.escape(repr(s)[1:-1]) for s in TEST_PLAYS)
    + "|"
    + "|".join(rf"\b{s}:" for s in TEST_SPEAKERS)
)
IMPORTS = re.compile(
    r"^\s*from [\w.]+ import \([^)]*\)|^\s*(?:from [\w.]+ )?import .*$", re.MULTILINE
)
MARK = re.compile(r"^\s*# (?:Final numbers|Kept apart)", re.MULTILINE)


def _cells(path: Path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for k, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            # a name imported is not yet read
            yield k, IMPORTS.sub("", "".join(cell["source"]))


def test_the_patterns_find_what_they_should():
    hits = [
        "test_ids = vocab.encode(corpus.test)",
        'PROMPT = "Hamlet:\\nTo be"',
        'plays = corpus.plays["the-merchant-of-venice"]',
        'for slug in corpus.split_plays["test"]:',
    ]
    misses = ["valid_ids = vocab.encode(corpus.valid)", 'meta["test_bpc"]', '"Brutus:"']
    assert all(READS_TEST.search(s) for s in hits)
    assert not any(READS_TEST.search(s) for s in misses)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_test_plays_only_in_final_number_cells(path):
    assert NOTEBOOKS, "no notebooks found"
    bad = [
        f"cell {k}: {READS_TEST.search(src).group(0)!r}"
        for k, src in _cells(path)
        if READS_TEST.search(src) and not MARK.search(src)
    ]
    assert not bad, (
        f"{path.name} reads the test plays outside a final-numbers cell "
        "(mark the cell '# Final numbers ...' or '# Kept apart ...' if that is "
        f"what it does): {bad}"
    )
