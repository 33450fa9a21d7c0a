"""Weight of every built page, with the images it embeds, and of the whole site.

Budgets (../shared/DESIGN.md): a page with everything it embeds at most 2 MB,
the site at most 40 MB. Reads _build/html (run `make build` first), prints a
table, writes bench/results/page_weight.json, and exits with status 1 if a
budget is exceeded.

Run: .venv/bin/python bench/page_weight.py
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
OUT = ROOT / "bench" / "results" / "page_weight.json"
PAGE_BUDGET, SITE_BUDGET = 2 * 1024 * 1024, 40 * 1024 * 1024
IMG = re.compile(r"""<img[^>]*\ssrc="([^"]+)\"""")


def page_weight(page: Path) -> int:
    """Bytes of the page plus its local images (shared theme files are counted once, in the site)."""
    html = page.read_text(encoding="utf-8")
    size = page.stat().st_size
    for src in set(IMG.findall(html)):
        if not src.startswith(("data:", "http")) and (page.parent / src).is_file():
            size += (page.parent / src).stat().st_size
    return size


def main() -> int:
    if not (HTML / "index.html").is_file():
        print(f"no built book at {HTML}: run `make build` first", file=sys.stderr)
        return 2
    pages = sorted((p for p in HTML.rglob("*.html") if "_static" not in p.parts), key=page_weight, reverse=True)
    rows = [{"page": str(p.relative_to(HTML)), "bytes": page_weight(p)} for p in pages]
    site = sum(p.stat().st_size for p in HTML.rglob("*") if p.is_file())
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"pages": rows, "site_bytes": site}, indent=2) + "\n")
    over = [r for r in rows if r["bytes"] > PAGE_BUDGET]
    for r in rows:
        print(f"{r['page']:50s} {r['bytes'] / 1e6:6.2f} MB{'  OVER 2 MB' if r in over else ''}")
    print(f"{'whole site':50s} {site / 1e6:6.2f} MB{'  OVER 40 MB' if site > SITE_BUDGET else ''}")
    return 1 if over or site > SITE_BUDGET else 0


if __name__ == "__main__":
    sys.exit(main())
