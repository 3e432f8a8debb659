"""The package's shape: imports run one way, no module grows past the size limit, and the
generated `segcourse/models.py` matches the notebook cells it comes from."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "segcourse"
MAX_LINES = 500

sys.path.insert(0, str(ROOT))  # devtools/ lives in the checkout, outside the package
from devtools import build_models  # noqa: E402
from devtools.import_graph import (  # noqa: E402
    find_cycle,
    import_graph,
    imports_of,
    module_name,
    modules,
)


def test_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_relative_and_function_level_imports_are_seen(tmp_path):
    pkg = tmp_path / "segcourse" / "sub"
    pkg.mkdir(parents=True)
    source = pkg / "one.py"
    source.write_text("def f():\n    from ..metrics import dice\n    from . import two\n")
    known = {"segcourse.metrics", "segcourse.sub.two", "segcourse.sub.one"}
    found = imports_of(source, module_name(source, tmp_path), known)
    assert found == {"segcourse.metrics", "segcourse.sub.two"}


def test_the_package_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_lesson_modules_never_import_the_grader():
    graph = import_graph()
    lesson_side = [m for m in graph if not m.startswith("segcourse.grader") and m != "segcourse"]
    offenders = {
        m: sorted(t for t in graph[m] if t.startswith("segcourse.grader"))
        for m in lesson_side
        if m != "segcourse.__main__"
    }
    assert not {m: t for m, t in offenders.items() if t}, offenders


def test_no_module_is_over_the_size_limit():
    long = {
        name: n
        for name, path in modules().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines (split them by concern): {long}"


def test_generated_models_match_the_notebooks():
    current = (PACKAGE / "models.py").read_text(encoding="utf-8")
    assert current == build_models.render(), (
        "segcourse/models.py is out of date with the notebooks' `# @save` cells; run "
        "`python -m devtools.build_models`"
    )


def test_a_saved_cell_that_runs_code_is_refused(tmp_path, monkeypatch):
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text(
        '{"cells": [{"cell_type": "code", "id": "x1", "metadata": {}, "outputs": [], '
        '"source": "# @save\\ndef f():\\n    return 1\\n\\nmodel = f()\\n"}]}'
    )
    monkeypatch.setattr(build_models, "ROOT", tmp_path)
    with pytest.raises(build_models.ModelsBuildError, match=r"nb.ipynb, cell x1: line 4 runs code"):
        build_models.saved_cells(notebook)
