"""Make the next `make build` execute the results page again, to show new bench/results.

The book builds with ``execute_notebooks: cache``: a notebook whose code did
not change is neither re-read by Sphinx nor executed again, so after the
benchmarks wrote new JSON files the results page would keep its old figures.
This removes the page's entries from the execution cache (``_build/.jupyter_cache``)
and updates the notebook's modification time (its content is untouched).

Run: .venv/bin/python bench/refresh_page.py   (make bench does, before its last build)
"""

from __future__ import annotations

import sys
from pathlib import Path

from benchlib import ROOT

PAGE = ROOT / "chapters" / "06-appendix" / "benchmarks.ipynb"
CACHE = ROOT / "_build" / ".jupyter_cache"


def forget(page: Path = PAGE, cache: Path = CACHE) -> int:
    """Remove ``page``'s records from the jupyter-cache at ``cache`` and touch it.

    Returns the number of records removed.
    """
    removed = 0
    if cache.is_dir():
        from jupyter_cache import get_cache

        jc = get_cache(str(cache))
        for rec in jc.list_cache_records():
            if Path(rec.uri).resolve() == page.resolve():
                jc.remove_cache(rec.pk)
                removed += 1
    if page.is_file():
        page.touch()
    return removed


def main() -> int:
    if not PAGE.is_file():
        print(f"no results page at {PAGE}", file=sys.stderr)
        return 1
    print(
        f"{PAGE.relative_to(ROOT)}: {forget()} cached execution(s) removed; "
        "the next build executes it"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
