"""Speed and download size of the live engine (web/live/rnnviz-live.js) in Chromium.

For each page model (web/live/models/{rnn,gru,lstm}-page.js, or a random int8
CharLM of that shape with --random or where the file is missing), in headless
Chromium: load() in a fresh context; per typed character of a 200-character
text, nextProbs() (what a view calls) and probe() (which also copies every
state to plain arrays), median and 90th percentile; probe() of 500 characters
from scratch; gradNorms() at the last of 200 characters (backward only: the
forward is cached); sample() of 200 characters. V8 optimises the engine only
after several hundred steps: the page first runs 1,500 untimed steps, and
"cold" is nextProbs() per character straight after load. Also the bytes of the
models, the engine and a view that loads all three, against the 4 MB budget of
one live view. Prints a table, writes bench/results/live.json.

Run: .venv/bin/python bench/bench_live.py [--quick] [--random]
"""

from __future__ import annotations

import argparse
import functools
import gzip
import http.server
import os
import shutil
import statistics
import tempfile
import threading
from pathlib import Path

from benchlib import (
    BUDGETS,
    ROOT,
    format_table,
    machine_info,
    result,
    status,
    write_result,
)
from playwright.sync_api import sync_playwright

from rnnviz.corpus import load_corpus
from rnnviz.data import Vocab
from rnnviz.models import CharLM
from rnnviz.pretrain import PAGE_CONFIGS
from rnnviz.web import export_web

LIVE = ROOT / "web" / "live"
ENGINE, VIEWS = LIVE / "rnnviz-live.js", LIVE / "rnnviz-live-views.js"
CELLS = ("rnn", "gru", "lstm")
#: Characters typed, probed from scratch, back-propagated through and sampled;
#: untimed steps before the warm figures; fresh contexts timed for load().
LENGTHS = {"typed": 200, "scratch": 500, "grad": 200, "sample": 200, "warmup": 1500}
LOADS = 3
#: --quick: a smoke test of seconds, not a measurement.
QUICK_LENGTHS = {"typed": 40, "scratch": 100, "grad": 40, "sample": 40, "warmup": 200}
QUICK_LOADS = 1
CHROMIUM = os.environ.get("RNNVIZ_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]

# Every call of one page.evaluate; times in ms by performance.now().
RESET = "(n, t) => rnnvizLive.probe(n, rnnvizLive.vocab(n).find(c => c !== t[0]))"
TYPING = f"""([n, t, fn]) => {{
  const f = rnnvizLive[fn], ms = [];
  ({RESET})(n, t);
  for (let k = 1; k <= t.length; k++) {{
    const t0 = performance.now(); f(n, t.slice(0, k)); ms.push(performance.now() - t0);
  }}
  return ms;
}}"""
REPEATED = f"""([n, t, repeat, what, length]) => {{
  const ms = [], run = {{
    scratch: () => rnnvizLive.probe(n, t),
    grad: () => rnnvizLive.gradNorms(n, t, t.length - 1),
    sample: () => rnnvizLive.sample(n, t, length, {{seed: 1}}),
  }}[what];
  for (let i = 0; i <= repeat; i++) {{  // call 0 is a warm-up
    if (what === "scratch") ({RESET})(n, t);
    const t0 = performance.now(); run(); ms.push(performance.now() - t0);
  }}
  return ms.slice(1);
}}"""
LOAD = """async n => {
  const t0 = performance.now(); await rnnvizLive.load(n);
  return performance.now() - t0;
}"""


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Quiet, and cross-origin isolated: performance.now() in 5 us steps, not 100."""

    def end_headers(self):
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, *args):
        pass


def prepare(folder: Path, random: bool) -> dict[str, str]:
    """Engine, views and models into ``folder``; return name -> 'shipped'/'random'."""
    (folder / "live" / "models").mkdir(parents=True)
    for f in (ENGINE, VIEWS):
        if f.is_file():
            shutil.copy(f, folder / "live" / f.name)
    (folder / "index.html").write_text(
        '<!doctype html><meta charset="utf-8">'
        '<script src="live/rnnviz-live.js"></script><body>bench</body>'
    )
    sources, vocab = {}, None
    for cell in CELLS:
        name = f"{cell}-page"
        shipped, dest = LIVE / "models" / f"{name}.js", folder / "live" / "models"
        if shipped.is_file() and not random:
            shutil.copy(shipped, dest / shipped.name)
            sources[name] = "shipped"
            continue
        vocab = vocab or Vocab.from_text(load_corpus().text)
        cfg = PAGE_CONFIGS[cell]["model"]
        model = CharLM(len(vocab), cell=cell, seed=0, vocab=vocab, **cfg).eval()
        export_web(model, dest / f"{name}.js", name=name, dtype="int8")
        sources[name] = "random"
    return sources


def sizes(path: Path) -> dict[str, int]:
    """Bytes of the file as served, and gzipped (level 6, as web servers do)."""
    raw = path.read_bytes()
    return {"bytes": len(raw), "gzip_bytes": len(gzip.compress(raw, 6))}


def total(files: list[Path], root: Path) -> dict:
    """The bytes and gzip bytes of ``files`` together, and their paths under root."""
    each = [sizes(f) for f in files]
    out = {k: sum(s[k] for s in each) for k in ("bytes", "gzip_bytes")}
    return out | {"files": [f.relative_to(root).as_posix() for f in files]}


def quantiles(ms: list[float]) -> dict[str, float]:
    """Median, 90th percentile (inclusive: within the data) and maximum, in ms."""
    return {
        "median_ms": round(statistics.median(ms), 3),
        "p90_ms": round(statistics.quantiles(ms, n=10, method="inclusive")[-1], 3),
        "max_ms": round(max(ms), 3),
    }


def measure(browser, url: str, name: str, text: str, repeat: int, quick: bool) -> dict:
    """The times of one model (ms): load, typing cold and warm, probe, grad, sample."""
    n, loads = (QUICK_LENGTHS, QUICK_LOADS) if quick else (LENGTHS, LOADS)
    times = []
    for _ in range(loads):  # a fresh context each time: no cache, no model in the page
        ctx = browser.new_context()
        page = ctx.new_page()
        page.goto(url)
        times.append(page.evaluate(LOAD, name))
        if len(times) < loads:
            ctx.close()

    def typing(fn):
        return quantiles(page.evaluate(TYPING, [name, text[: n["typed"]], fn]))

    def median(what, t):
        ms = page.evaluate(REPEATED, [name, t, repeat, what, n["sample"]])
        return round(statistics.median(ms), 2)

    out = {"load_ms": round(statistics.median(times), 2)}
    out["typing_next_probs_cold"] = typing("nextProbs")
    page.evaluate(f"n => rnnvizLive.sample(n, 'a', {n['warmup']})", name)
    out["typing_next_probs"] = typing("nextProbs")
    out["typing_probe"] = typing("probe")
    out["probe_scratch_ms"] = median("scratch", text[: n["scratch"]])
    out["grad_norms_ms"] = median("grad", text[: n["grad"]])
    out["sample_ms"] = median("sample", text[:20])
    out["cross_origin_isolated"] = page.evaluate("crossOriginIsolated")
    ctx.close()
    return out


def table(models: dict) -> str:
    """The plain-text table of the models' times (ms) and sizes (kB)."""
    rows = []
    for n, m in models.items():
        q, t = m["typing_next_probs"], m["typing_probe"]
        ms = [m["load_ms"], q["median_ms"], q["p90_ms"], t["median_ms"], t["p90_ms"]]
        ms += [m["typing_next_probs_cold"]["median_ms"], m["probe_scratch_ms"]]
        ms += [m["grad_norms_ms"], m["sample_ms"]]
        kb = [round(m["bytes"] / 1e3), round(m["gzip_bytes"] / 1e3)]
        rows.append([n, m["source"], *(round(x, 2) for x in ms), *kb])
    head = ["model", "weights", "load", "next/ch", "p90", "probe/ch", "p90", "cold"]
    head += ["probe scratch", "grad", "sample", "kB", "gzip kB"]
    return format_table(head, rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--quick",
        action="store_true",
        help="short texts, one call per median: a smoke test of seconds",
    )
    ap.add_argument("--random", action="store_true", help="random page-shape models")
    ap.add_argument("--repeat", type=int, default=5, help="calls per median")
    ap.add_argument("--out", default=None, help="default bench/results/live.json")
    args = ap.parse_args(argv)
    lengths, repeat = (QUICK_LENGTHS, 1) if args.quick else (LENGTHS, args.repeat)
    text = load_corpus().valid[: lengths["scratch"]]
    machine = machine_info()  # the load average before Chromium starts
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sources = prepare(folder, args.random)
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(_Handler, directory=tmp)
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                chromium = browser.version
                models = {
                    n: {"source": s}
                    | measure(browser, url, n, text, repeat, args.quick)
                    for n, s in sources.items()
                }
                browser.close()
        finally:
            server.shutdown()
        live = folder / "live"
        for n in models:
            models[n] |= sizes(live / "models" / f"{n}.js")
        files = [live / ENGINE.name] + sorted((live / "models").glob("*.js"))
        files += [live / VIEWS.name] if (live / VIEWS.name).is_file() else []
        engine, view = sizes(live / ENGINE.name), total(files, folder)
    data = result(
        "live",
        {
            "chromium": chromium,
            "text": f"load_corpus().valid[:{lengths['scratch']}]",
            "lengths": lengths,
            "repeat": repeat,
            "models": models,
            "engine": engine,
            "view_all_models": view,
        },
        quick=args.quick,
        machine=machine,
    )
    path = write_result(data, args.out)
    print(f"Chromium {chromium}, {machine['cores']} cores, times in ms:")
    print(table(models))
    budget = BUDGETS["live_view_bytes"]
    print(
        f"engine {engine['bytes'] / 1e3:.0f} kB ({engine['gzip_bytes'] / 1e3:.0f} "
        f"gzip); a view with all three models {view['bytes'] / 1e6:.2f} MB "
        f"({view['gzip_bytes'] / 1e6:.2f} MB gzip), budget {budget / 1e6:g} MB: "
        f"{status(view['bytes'], budget)}\nwrote {path}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
