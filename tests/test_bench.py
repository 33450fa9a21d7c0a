"""The benchmark scripts' pure parts: tables, result schema, budgets, helpers.

Fast: no benchmark is run.
"""

import json
import math
import os
import re
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import bench_install  # noqa: E402
import bench_live  # noqa: E402
import bench_notebooks  # noqa: E402
import bench_numpy  # noqa: E402
import bench_probe  # noqa: E402
import bench_quality  # noqa: E402
import benchlib  # noqa: E402
import page_weight  # noqa: E402
import refresh_page  # noqa: E402

from rnnviz.models import CharLM  # noqa: E402

DESIGN = ROOT / "docs" / "DESIGN.md"
PAGE = ROOT / "chapters" / "06-appendix" / "benchmarks.ipynb"


# ------------------------------------------------------------------ benchlib
def test_plain_table_pads_columns_and_right_aligns_numbers():
    lines = benchlib.format_table(
        ["name", "seconds"], [["a", 1.5], ["long name", 10]]
    ).splitlines()
    assert lines[0] == "name       seconds"
    assert lines[1] == "---------  -------"
    assert lines[2] == "a              1.5"
    assert lines[3] == "long name       10"


def test_markdown_table_marks_numeric_columns():
    text = benchlib.format_table(["page", "MB"], [["a.html", 0.5]], markdown=True)
    assert text.splitlines() == ["| page | MB |", "|---|---:|", "| a.html | 0.5 |"]


def test_table_rejects_ragged_rows():
    with pytest.raises(ValueError, match="every row needs 2 cells"):
        benchlib.format_table(["a", "b"], [[1, 2], [3]])


def test_cpu_model_reads_proc_cpuinfo_text():
    text = (
        "processor\t: 0\nvendor_id\t: AuthenticAMD\n"
        "model name\t: AMD EPYC 7B13\nflags\t\t: fpu\n"
    )
    assert benchlib.cpu_model(text) == "AMD EPYC 7B13"
    assert benchlib.cpu_model("processor : 0\n")  # falls back to something non-empty


def test_machine_info_has_every_key():
    m = benchlib.machine_info()
    assert set(benchlib.MACHINE_KEYS) <= set(m)
    assert m["cores"] == os.cpu_count() and m["torch"] == torch.__version__
    assert "cores" in benchlib.describe_machine(m)


def test_result_adds_the_common_keys_and_validates():
    payload = {"rows": [], "threads": {"torch": 1}}
    data = benchlib.result("numpy", payload, quick=True)
    assert (
        data["schema"] == benchlib.SCHEMA
        and data["benchmark"] == "numpy"
        and data["quick"] is True
    )
    assert benchlib.validate("numpy", data) == []
    assert json.loads(json.dumps(data)) == data  # plain JSON
    with pytest.raises(ValueError, match="missing key 'threads'"):
        benchlib.result("numpy", {"rows": []})
    with pytest.raises(ValueError, match="unknown benchmark"):
        benchlib.result("nope", payload)


def test_validate_names_what_is_wrong():
    good = benchlib.result(
        "install", {"commit": "abc", "steps": [], "total_seconds": 0.0}
    )
    assert any(
        "schema" in e for e in benchlib.validate("install", good | {"schema": 0})
    )
    assert any(
        "file of 'install'" in e
        for e in benchlib.validate("install", good | {"benchmark": "probe"})
    )
    assert any(
        "machine lacks 'cpu'" in e
        for e in benchlib.validate("install", good | {"machine": {}})
    )
    assert benchlib.validate("install", [1]) == ["expected a JSON object, got list"]


def test_write_result(tmp_path):
    data = benchlib.result(
        "install", {"commit": "abc", "steps": [], "total_seconds": 0.0}
    )
    path = benchlib.write_result(data, tmp_path / "x.json")
    assert json.loads(path.read_text()) == data


def test_status_against_a_budget():
    assert benchlib.status(90.0, 90.0) == "ok"
    assert benchlib.status(90.5, 90.0) == "OVER"
    with pytest.raises(TypeError, match="must be numbers"):
        benchlib.status("90", 90.0)


def test_budgets_are_those_of_the_design_document():
    text = DESIGN.read_text(encoding="utf-8")
    budgets = dict(
        re.findall(
            r"^\| (.+?) \| (.+?) \|$", text[text.index("## Budgets") :], flags=re.M
        )
    )
    b = benchlib.BUDGETS
    assert (
        "at most 90 s" in budgets["one notebook, executed on 2 CPU cores"]
        and b["notebook_seconds"] == 90
    )
    assert (
        "at most 15 min" in budgets["the whole book executed (nbval), 2 CPU cores"]
        and b["book_seconds"] == 900
    )
    assert "at most 2 MB" in budgets["one built HTML page, with everything it embeds"]
    assert (
        b["page_bytes"] == 2 * 1024**2
        and "at most 40 MB" in budgets["the whole built site"]
    )
    assert (
        b["site_bytes"] == 40 * 1024**2
        and "1e-5" in text
        and b["probe_max_abs_diff"] == 1e-5
    )
    assert (
        "1.45 nats" in budgets["shipped LSTM char model, held-out plays"]
        and b["lstm_test_nats"] == 1.45
    )


def test_results_page_reads_the_schema_the_scripts_write():
    """The page keeps its own copy of the schema: its check output must match.

    The page imports nothing from bench/.
    """
    nb = json.loads(PAGE.read_text(encoding="utf-8"))
    checked = [
        c
        for c in nb["cells"]
        if c["cell_type"] == "code" and "NBVAL_CHECK_OUTPUT" in "".join(c["source"])
    ]
    out = "".join(
        "".join(o.get("text", "")) for c in checked for o in c["outputs"]
    ).splitlines()
    expected = [
        f"{name:12s} {' '.join(benchlib.COMMON_KEYS + keys)}"
        for name, keys in benchlib.REQUIRED_KEYS.items()
    ]
    assert out[: len(expected)] == expected
    assert out[len(expected)] == str(dict(benchlib.BUDGETS))


def test_stored_results_conform_to_their_schema():
    for path in sorted(benchlib.RESULTS.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if (
            "schema" in data
        ):  # files from before the schema are reported as old by the results page
            assert benchlib.validate(path.stem, data) == [], path.name


# ------------------------------------------------------------------ the scripts
def test_numpy_against_torch_row():
    row = bench_numpy.measure("GRU", 3, 4, 2, 3, repeat=1)
    assert row["max_abs_diff_output"] < 1e-12 and row["max_abs_diff_grad"] < 1e-12
    assert row["ratio_forward_vs_torch64"] == pytest.approx(
        row["numpy_forward_us_per_token"] / row["torch64_forward_us_per_token"]
    )
    assert "max|diff|" in bench_numpy.table([row])


def test_numpy_quick_run_writes_a_valid_result(tmp_path):
    assert bench_numpy.main(["--quick", "--out", str(tmp_path / "n.json")]) == 0
    data = json.loads((tmp_path / "n.json").read_text())
    assert benchlib.validate("numpy", data) == [] and data["quick"] is True
    assert {r["kind"] for r in data["rows"]} == {"RNN", "LSTM", "GRU"}


def test_probe_quick_run_writes_a_valid_result(tmp_path, capsys):
    assert bench_probe.main(["--quick", "--out", str(tmp_path / "p.json")]) == 0
    data = json.loads((tmp_path / "p.json").read_text())
    assert benchlib.validate("probe", data) == []
    assert max(data["probe_max_abs_diff"].values()) < 1e-5
    assert "reference cells" in capsys.readouterr().out


def test_live_sizes_quantiles_and_table(tmp_path):
    (tmp_path / "a.js").write_text("x" * 1000)
    (tmp_path / "b.js").write_text("abc")
    files = [tmp_path / "a.js", tmp_path / "b.js"]
    both = bench_live.total(files, tmp_path)
    assert both["bytes"] == 1003 and both["files"] == ["a.js", "b.js"]
    assert both["gzip_bytes"] == sum(bench_live.sizes(f)["gzip_bytes"] for f in files)
    q = bench_live.quantiles([1.0, 2.0, 3.0, 4.0, 100.0])
    assert q["median_ms"] == 3.0 and q["max_ms"] == 100.0 and 4 < q["p90_ms"] <= 100
    assert bench_live.QUICK_LENGTHS.keys() == bench_live.LENGTHS.keys()
    typing = {"median_ms": 0.5, "p90_ms": 0.6, "max_ms": 1.0}
    model = {"source": "random", "load_ms": 30.0, "probe_scratch_ms": 300.0}
    model |= {"grad_norms_ms": 90.0, "sample_ms": 120.0, "bytes": 9e5}
    model |= dict.fromkeys(
        ("typing_next_probs", "typing_next_probs_cold", "typing_probe"), typing
    )
    text = bench_live.table({"gru-page": model | {"gzip_bytes": 6e5}})
    assert "gru-page" in text and "gzip kB" in text


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("hidden,layers", [(7, 1), (20, 2)])
def test_charlm_parameter_formula_counts_like_torch(cell, hidden, layers):
    model = CharLM(11, hidden, layers, cell, embed_size=5)
    assert (
        bench_quality.charlm_parameters(cell, hidden, 11, embed=5, layers=layers)
        == model.num_parameters()
    )


def test_matched_hidden_sizes_have_about_the_lstms_parameters():
    target = bench_quality.charlm_parameters("lstm", 256, 70)
    for cell in ("rnn", "gru"):
        h = bench_quality.matched_hidden(cell, target, 70)
        n = bench_quality.charlm_parameters(cell, h, 70)
        assert abs(n - target) / target < 0.01
        assert abs(bench_quality.charlm_parameters(cell, h + 1, 70) - target) >= abs(
            n - target
        )
    with pytest.raises(ValueError, match="positive parameter count"):
        bench_quality.matched_hidden("gru", 0, 70)


def test_matched_d_model_picks_the_closest_multiple():
    d, n = bench_quality.matched_d_model(
        1000, lambda d: nn.Linear(d, d), multiple=4
    )  # d*d + d parameters
    assert n == d * d + d and d % 4 == 0
    assert all(abs(k * k + k - 1000) >= abs(n - 1000) for k in range(4, 64, 4))


def test_evaluate_windows_is_the_mean_cross_entropy_of_the_windows():
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(5, 5)

        def forward(self, ids):
            return self.embed(
                ids
            ), None  # (B, T, V): the next character depends on this one only

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = Model()
    ids = torch.randint(0, 5, (23,), generator=torch.Generator().manual_seed(1))
    x, y = ids[:20].view(5, 4), ids[1:21].view(5, 4)  # 22 // 4 = 5 whole windows of 4
    with torch.no_grad():
        expected = float(
            nn.functional.cross_entropy(model.embed(x).flatten(0, 1), y.flatten())
        )
    assert bench_quality.evaluate_windows(
        model, ids, context=4, batch_size=2
    ) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="need more than 4 characters"):
        bench_quality.evaluate_windows(model, ids[:4], context=4)


def test_toc_notebooks_keeps_existing_notebooks_in_order():
    toc = (
        "root: intro\nparts:\n  - chapters:\n    - file: chapters/01-background/index\n"
        "      sections:\n      - file: chapters/01-background/ngram\n"
        "      - file: chapters/01-background/history\n"
    )
    assert bench_notebooks.toc_notebooks(toc) == [
        "chapters/01-background/ngram.ipynb",
        "chapters/01-background/history.ipynb",
    ]
    assert "chapters/01-background/history.ipynb" in bench_notebooks.toc_notebooks()


def test_cell_seconds_from_nbclient_timestamps():
    meta = {
        "execution": {
            "iopub.execute_input": "2026-11-23T19:05:32.100000Z",
            "shell.execute_reply": "2026-11-23T19:05:34.600000Z",
        }
    }
    assert bench_notebooks.cell_seconds(meta) == pytest.approx(2.5)
    assert bench_notebooks.cell_seconds({}) == 0.0


def test_summarise_reports_the_median_and_its_runs_cells():
    runs = [(10.0, [(1, 9.0, "a")]), (30.0, [(2, 29.0, "b")]), (12.0, [(3, 11.0, "c")])]
    row = bench_notebooks.summarise("x.ipynb", runs)
    assert (
        row["seconds"] == 12.0
        and row["runs"] == [10.0, 30.0, 12.0]
        and row["status"] == "ok"
    )
    assert row["slowest_cells"] == [{"cell": 3, "seconds": 11.0, "source": "c"}]
    assert bench_notebooks.summarise("y", [(95.0, [])])["status"] == "OVER"


def test_only_cheap_notebooks_are_repeated():
    first = {"a": 5.0, "b": 50.0, "c": 19.9}
    assert bench_notebooks.to_repeat(first, repeat=3, below=20) == ["a", "c"]
    assert bench_notebooks.to_repeat(first, repeat=1, below=20) == []


def test_install_plan_follows_ci_run():
    """The benchmark runs what .ci/run runs, in its order, after make install."""
    ci = (ROOT / ".ci" / "run").read_text()
    ci_steps = [line.strip() for line in ci.splitlines() if line.startswith("make ")]
    names = [n for n, _ in bench_install.plan()]
    assert names[1 : 1 + len(ci_steps)] == ci_steps
    assert names[1 + len(ci_steps) :] == [bench_install.COLD_BUILD[0]]


def test_install_derived_figures():
    def step(name, seconds, rc=0):
        return {"name": name, "seconds": seconds, "returncode": rc}

    steps = [
        step("make install", 60),
        step("make test", 400),
        step("make build", 300),
        step("make test-site", 5),
        step("make test-browser", 150),
        step("make build, nothing cached", 420),
    ]
    assert bench_install.derived(steps) == {
        "book_fresh_seconds": 480,
        "ci_seconds": 915,
    }
    assert bench_install.derived(steps[:-1])["book_fresh_seconds"] is None
    steps[3] = step("make test-site", 5, rc=2)
    assert bench_install.derived(steps) == {
        "book_fresh_seconds": 480,
        "ci_seconds": None,
    }
    assert bench_install.derived(steps[:2]) == {
        "book_fresh_seconds": None,
        "ci_seconds": None,
    }


def test_install_plan_and_environment():
    assert [n for n, _ in bench_install.plan()] == [
        "make install",
        "make test",
        "make build",
        "make test-site",
        "make test-browser",
        "make build, nothing cached",
    ]
    assert [n for n, _ in bench_install.plan(skip_test=True)] == ["make install"]
    root = Path("/repo")
    env = {
        "PATH": os.pathsep.join(["/repo/.venv/bin", "/usr/bin", "/bin"]),
        "VIRTUAL_ENV": "/repo/.venv",
        "PYTHONPATH": "/x",
        "HOME": "/root",
        "MAKEFLAGS": " -- BENCH_INSTALL=1",
        "MAKELEVEL": "1",
    }
    clean = bench_install.clean_env(env, root)
    assert clean["PATH"] == os.pathsep.join(["/usr/bin", "/bin"])
    assert (
        not {"VIRTUAL_ENV", "PYTHONPATH", "MAKEFLAGS", "MAKELEVEL"} & set(clean)
        and clean["HOME"] == "/root"
    )
    assert env["VIRTUAL_ENV"] == "/repo/.venv"  # input untouched
    assert bench_install.tail("1\n2\n3\n4", 2) == "3\n4"


def test_page_weight_counts_local_images_and_flags_the_budget(tmp_path):
    site = tmp_path / "html"
    (site / "ch").mkdir(parents=True)
    (site / "index.html").write_text("<html></html>")
    (site / "ch" / "a.png").write_bytes(b"x" * 1000)
    page = site / "ch" / "p.html"
    page.write_text(
        '<img alt="" src="a.png"><img src="data:image/png;base64,AA"><img src="a.png">'
    )
    assert (
        page_weight.page_weight(page) == page.stat().st_size + 1000
    )  # each image counted once
    out = tmp_path / "w.json"
    assert page_weight.main(["--html", str(site), "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert (
        benchlib.validate("page_weight", data) == []
        and data["pages"][0]["page"] == "ch/p.html"
    )
    (site / "ch" / "a.png").write_bytes(b"x" * (page_weight.PAGE_BUDGET + 1))
    assert page_weight.main(["--html", str(site), "--out", str(out)]) == 1
    assert page_weight.main(["--html", str(tmp_path / "none"), "--out", str(out)]) == 2


def test_refresh_page_forgets_the_cached_execution(tmp_path):
    import nbformat
    from jupyter_cache import get_cache

    page, other = tmp_path / "page.ipynb", tmp_path / "other.ipynb"
    for k, p in enumerate((page, other)):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(f"1 + {k}", execution_count=1)]
        nbformat.write(nb, p)
    cache = get_cache(str(tmp_path / "cache"))
    for p in (page, other):
        cache.cache_notebook_file(str(p), check_validity=False)
    os.utime(page, (0, 0))
    assert refresh_page.forget(page, tmp_path / "cache") == 1
    assert [Path(r.uri).name for r in cache.list_cache_records()] == ["other.ipynb"]
    assert page.stat().st_mtime > 0
    assert refresh_page.forget(page, tmp_path / "no-cache") == 0
    assert math.isfinite(page.stat().st_mtime)
