"""Execution time of every notebook of the book, against the budgets.

Budgets (../shared/DESIGN.md): at most 90 s per notebook, at most 15 min for the
whole book, on 2 CPU cores. Executes each notebook of `_toc.yml` in a fresh
kernel (from its own folder, as the book build does), `--repeat` times, and
reports the median, the slowest cells, and the total. Prints a table and writes
bench/results/notebooks.json.

Run: .venv/bin/python bench/bench_notebooks.py [--repeat 3] [--only lstm]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "notebooks.json"
NOTEBOOK_BUDGET, BOOK_BUDGET = 90.0, 15 * 60.0


def toc_notebooks() -> list[Path]:
    files = re.findall(r"(?:root|file):\s*(\S+)", (ROOT / "_toc.yml").read_text(encoding="utf-8"))
    return [ROOT / f"{f}.ipynb" for f in files if (ROOT / f"{f}.ipynb").is_file()]


def _seconds(cell) -> float:
    ex = cell.get("metadata", {}).get("execution", {})
    start, end = ex.get("iopub.execute_input"), ex.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def run_once(path: Path) -> tuple[float, list[tuple[int, float, str]]]:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    t = time.perf_counter()
    client.execute()
    total = time.perf_counter() - t
    cells = [(k, _seconds(c), "".join(c.source).strip().splitlines()[0][:60] if c.source else "")
             for k, c in enumerate(nb.cells) if c.cell_type == "code"]
    return total, sorted(cells, key=lambda c: -c[1])[:3]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1, help="runs per notebook; the median is reported")
    ap.add_argument("--only", default="", help="substring of the notebook paths to run")
    args = ap.parse_args()
    rows = []
    for path in toc_notebooks():
        rel = str(path.relative_to(ROOT))
        if args.only not in rel:
            continue
        runs = [run_once(path) for _ in range(args.repeat)]
        median = statistics.median(r[0] for r in runs)
        slowest = min(runs, key=lambda r: abs(r[0] - median))[1]
        rows.append({"notebook": rel, "seconds": median, "runs": [r[0] for r in runs],
                     "slowest_cells": [{"cell": k, "seconds": s, "source": src} for k, s, src in slowest]})
        print(f"{rel:45s} {median:6.1f} s  {'ok' if median <= NOTEBOOK_BUDGET else 'OVER 90 s'}", flush=True)
    total = sum(r["seconds"] for r in rows)
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "date": datetime.now().isoformat(timespec="seconds"),
        "repeat": args.repeat,
        "notebooks": rows,
        "total_seconds": total,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'total (sequential)':45s} {total:6.1f} s  {'ok' if total <= BOOK_BUDGET else 'OVER 15 min'}")
    print("slowest cells of the three slowest notebooks:")
    for r in sorted(rows, key=lambda r: -r["seconds"])[:3]:
        for c in r["slowest_cells"]:
            print(f"  {r['notebook']} cell {c['cell']:2d}: {c['seconds']:5.1f} s  {c['source']}")


if __name__ == "__main__":
    main()
