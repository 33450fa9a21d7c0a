"""The architecture of the repository, checked: the package's import graph, one training
loop, one palette, code that fits the page, and a repository that stands alone."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "rnnviz"
NOTEBOOKS = sorted((ROOT / "chapters").rglob("*.ipynb"))
HEX = re.compile(r"#[0-9A-Fa-f]{6}\b")
MAX_LINE = 88


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path) -> tuple[set[str], list[str]]:
    """(rnnviz modules imported at module level, rnnviz imports inside a function)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top: set[str] = set()
    nested: list[str] = []

    def targets(node: ast.AST) -> set[str]:
        out = set()
        if isinstance(node, ast.Import):
            out = {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from rnnviz.viz import palette` imports the module rnnviz.viz.palette
            out = {f"{node.module}.{a.name}" for a in node.names}
            out = {m if m in MODULES else node.module for m in out}
        return {m for m in out if m == "rnnviz" or m.startswith("rnnviz.")}

    def type_checking(node: ast.AST) -> bool:
        return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)

    def visit(node: ast.AST, in_function: bool, in_type_checking: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, True, in_type_checking)
            elif type_checking(child):
                visit(child, in_function, True)  # never executed: not an edge
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                found = targets(child)
                if in_function and found:
                    nested.extend(sorted(found))
                elif not in_type_checking:
                    top.update(found)
            else:
                visit(child, in_function, in_type_checking)

    visit(tree, False, False)
    return top, nested


GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def test_the_graph_is_read_from_the_real_package():
    assert {"rnnviz.models", "rnnviz.train", "rnnviz.viz.palette"} <= set(MODULES)
    assert "rnnviz.data" in GRAPH["rnnviz.models"][0]


def test_no_rnnviz_module_imports_another_inside_a_function():
    lazy = {m: nested for m, (_, nested) in GRAPH.items() if nested}
    assert not lazy, f"imports inside functions (hide cycles, surprise readers): {lazy}"


def test_the_import_graph_has_no_cycle():
    edges = {
        m: {t for t in top if t in MODULES and t != m} for m, (top, _) in GRAPH.items()
    }
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(edges[m]):
            if state.get(t) == 1:
                cycle = stack[stack.index(t) :] + [t]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)


def test_the_core_never_imports_the_labs_or_the_drawing():
    core = [m for m in MODULES if not m.startswith(("rnnviz.labs", "rnnviz.viz"))]
    bad = {
        m: sorted(t for t in GRAPH[m][0] if t.startswith(("rnnviz.labs", "rnnviz.viz")))
        for m in core
    }
    assert not {m: t for m, t in bad.items() if t}


def test_the_drawing_never_imports_the_labs():
    viz = [m for m in MODULES if m.startswith("rnnviz.viz")]
    bad = {
        m: sorted(t for t in GRAPH[m][0] if t.startswith("rnnviz.labs")) for m in viz
    }
    assert not {m: t for m, t in bad.items() if t}


def test_at_most_two_files_step_an_optimizer():
    stepping = sorted(
        str(p.relative_to(ROOT))
        for p in MODULES.values()
        if re.search(
            r"\b(opt|optimizer|optim)\w*\.step\(\)", p.read_text(encoding="utf-8")
        )
    )
    assert 1 <= len(stepping) <= 2, f"one training loop, not {stepping}"


def _code_cells(path: Path) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def test_there_are_notebooks_to_check():
    assert len(NOTEBOOKS) >= 30


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_name_colours_from_the_palette_and_fit_the_page(path):
    hexes, long_lines = [], []
    for source in _code_cells(path):
        for line in source.splitlines():
            if HEX.search(line):
                hexes.append(line.strip())
            if len(line) > MAX_LINE:
                long_lines.append(line)
    assert not hexes, f"hex colours (use rnnviz.viz.palette): {hexes}"
    assert not long_lines, (
        f"{len(long_lines)} code lines over {MAX_LINE}: {long_lines[:3]}"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_glue_bookkeeping_stays_out_of_the_page(path):
    """glue(..., display=False) only in cells tagged remove-cell (still executed)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    shown = [
        "".join(c["source"])
        for c in nb["cells"]
        if c["cell_type"] == "code"
        and "remove-cell" not in c.get("metadata", {}).get("tags", [])
    ]
    calls = [
        line.strip()
        for source in shown
        for line in source.splitlines()
        if re.match(r"\s*glue\(", line)
    ]
    assert not calls, f"{len(calls)} glue calls in visible cells: {calls[:3]}"
    hidden = sum(
        "".join(c["source"]).count("glue(")
        for c in nb["cells"]
        if "remove-cell" in c.get("metadata", {}).get("tags", [])
    )
    prose = "".join(
        "".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"
    )
    if "{glue:" in prose:  # the values the prose shows are still glued, in hidden cells
        assert hidden > 0


def _tracked_files() -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout
        files = [ROOT / f for f in out.decode().split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        # not a git checkout: walk the tree
        skip = {".git", ".venv", "_build"}
        files = [p for p in ROOT.rglob("*") if p.is_file() and not skip & set(p.parts)]
    return [p for p in files if p.is_file()]


def test_the_repository_stands_alone():
    parent = "../" + "shared"  # spelled so that this file does not mention it
    mentions = []
    for p in _tracked_files():
        try:
            text = p.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if parent in text:
            mentions.append(str(p.relative_to(ROOT)))
    assert not mentions, f"files that point outside the repository: {mentions}"


def _ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True
    )


def test_ruff_lint_is_clean():
    r = _ruff("check", "--no-cache", ".")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]


def test_ruff_format_leaves_everything_as_it_is():
    r = _ruff("format", "--check", "--no-cache", ".")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
