"""Weight of every built page, with the images it embeds, and of the whole site.

Budgets (docs/DESIGN.md): a page with everything it embeds at most 2 MB,
the site at most 40 MB. Reads _build/html (run `make build` first), prints a
table, writes bench/results/page_weight.json, and exits with status 1 if a
budget is exceeded.

Run: .venv/bin/python bench/page_weight.py
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(
    0, str(Path(__file__).resolve().parent)
)  # benchlib, also when tests/site loads this file
from benchlib import BUDGETS, ROOT, format_table, result, write_result  # noqa: E402

HTML = ROOT / "_build" / "html"
PAGE_BUDGET, SITE_BUDGET = int(BUDGETS["page_bytes"]), int(BUDGETS["site_bytes"])
IMG = re.compile(r"""<img[^>]*\ssrc="([^"]+)\"""")


def page_weight(page: Path) -> int:
    """Bytes of the page plus its local images.

    Shared theme files are not counted here but once, in the site.
    """
    html = page.read_text(encoding="utf-8")
    size = page.stat().st_size
    for src in set(IMG.findall(html)):
        if not src.startswith(("data:", "http")) and (page.parent / src).is_file():
            size += (page.parent / src).stat().st_size
    return size


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--html", default=str(HTML), help="the built site (default _build/html)"
    )
    ap.add_argument(
        "--out",
        default=None,
        help="output JSON (default bench/results/page_weight.json)",
    )
    args = ap.parse_args(argv)
    html = Path(args.html)
    if not (html / "index.html").is_file():
        print(f"no built book at {html}: run `make build` first", file=sys.stderr)
        return 2
    pages = sorted(
        (p for p in html.rglob("*.html") if "_static" not in p.parts),
        key=page_weight,
        reverse=True,
    )
    rows = [{"page": str(p.relative_to(html)), "bytes": page_weight(p)} for p in pages]
    site = sum(p.stat().st_size for p in html.rglob("*") if p.is_file())
    data = result(
        "page_weight",
        {
            "pages": rows,
            "site_bytes": site,
            "budgets": {"page_bytes": PAGE_BUDGET, "site_bytes": SITE_BUDGET},
        },
    )
    path = write_result(data, args.out)
    over = [r for r in rows if r["bytes"] > PAGE_BUDGET]
    print(
        format_table(
            ["page", "MB", "budget 2 MB"],
            [
                [r["page"], round(r["bytes"] / 1e6, 2), "OVER" if r in over else "ok"]
                for r in rows
            ]
            + [
                [
                    "whole site",
                    round(site / 1e6, 2),
                    "OVER 40 MB" if site > SITE_BUDGET else "ok (40 MB)",
                ]
            ],
        )
    )
    print(f"wrote {path}")
    return 1 if over or site > SITE_BUDGET else 0


if __name__ == "__main__":
    sys.exit(main())
