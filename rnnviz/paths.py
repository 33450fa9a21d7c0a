"""Where the book's files are: in the repository, or in the wheel that ships them.

``rnnviz`` and the notebooks read files that live beside the package in the
repository: the checkpoints (``checkpoints/``), the live page models
(``web/live/models/``), the chapters' data files (``chapters/06-appendix/data/``)
and a few others (``references.bib``, the benchmark results). A clone, and the
editable install of ``make install``, read them in place. A wheel (``pip install``
from git, as in the Colab recipe of *Running this book*) carries copies of them as
package data in ``rnnviz/_book/``, laid out as in the repository; the list is
``[tool.setuptools.package-data]`` in ``pyproject.toml``. The checkpoints and the
live models are checked against their pinned sha256 wherever they are read from.

>>> book_file("checkpoints", "charlm-lstm.pt").name
'charlm-lstm.pt'
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
#: The copy of the book's files inside an installed wheel.
SHIPPED = _PACKAGE / "_book"
#: The repository around the package, when it sits in one.
REPOSITORY = _PACKAGE.parent


def book_root() -> Path:
    """The folder laid out as the repository: the wheel's copy if this is an
    installed wheel, else the repository the package sits in.

    The wheel's copy comes first: a checkout never has ``rnnviz/_book/``, while the
    folder beside an installed package is ``site-packages``, whatever it holds.
    """
    return SHIPPED if SHIPPED.is_dir() else REPOSITORY


def book_file(*parts: str) -> Path:
    """A file of the book by its path in the repository, e.g.
    ``book_file("chapters/06-appendix/data/daodejing-1-20.txt")``."""
    return book_root().joinpath(*parts)
