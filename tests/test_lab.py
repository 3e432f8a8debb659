"""The MADS lab: the starter is generated from the solution, and its self-checks guide students.

Most tests read the notebooks as JSON (no Keras). One test runs the starter in a real kernel
(ci profile, a 16-frame fake MADS archive) up to the first tasks: the unanswered cells must
stop with NotImplementedError, their self-checks must say what to do, and the same checks
must pass once the solution's answers are in place.
"""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pytest

from segcourse import lab
from segcourse.grader import starter as lab_build
from segcourse.grader.starter import BEGIN, END, LabBuildError
from segcourse.lab import SelfCheckError

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / lab_build.SOLUTION
STARTER = ROOT / lab_build.STARTER


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def source(cell: dict) -> str:
    text = cell["source"]
    return "".join(text) if isinstance(text, list) else text


def grading(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def solution_lines(text: str) -> list[str]:
    """The non-blank lines inside the solution regions of a cell."""
    inside, out = False, []
    for line in text.splitlines():
        if line.strip().startswith(BEGIN):
            inside = True
        elif line.strip().startswith(END):
            inside = False
        elif inside and line.strip():
            out.append(line.strip())
    return out


# ------------------------------------------------------------------------- starter build


def test_committed_starter_is_up_to_date(capsys):
    assert lab_build.starter_is_current(SOLUTION, STARTER), "run `python -m segcourse lab build`"
    assert lab_build.main(["check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_lab_check_notices_a_stale_starter_and_build_fixes_it(tmp_path, capsys):
    solution, starter = tmp_path / "solution.ipynb", tmp_path / "starter.ipynb"
    shutil.copy(SOLUTION, solution)
    args = ["--solution", str(solution), "--starter", str(starter)]
    assert lab_build.main(["check", *args]) == 1  # no starter yet
    assert lab_build.main(["build", *args]) == 0
    assert lab_build.main(["check", *args]) == 0
    nb = json.loads(solution.read_text())
    nb["cells"][0]["source"] = "# A changed title\n"
    solution.write_text(json.dumps(nb))
    assert lab_build.main(["check", *args]) == 1
    assert "out of date" in capsys.readouterr().err


def test_starter_has_same_cells_without_solutions_or_outputs():
    solution, starter = cells(SOLUTION), cells(STARTER)
    assert [c["cell_type"] for c in starter] == [c["cell_type"] for c in solution]
    tasks = 0
    for sol, start in zip(solution, starter, strict=True):
        assert sol.get("metadata", {}).get("nbgrader") == start.get("metadata", {}).get("nbgrader")
        assert sol.get("metadata", {}).get("tags") == start.get("metadata", {}).get("tags")
        text = source(start)
        assert BEGIN not in text and END not in text
        if start["cell_type"] == "code":
            assert start["outputs"] == [] and start["execution_count"] is None
        hidden = solution_lines(source(sol))
        if not hidden:
            assert text == source(sol)
            continue
        tasks += 1
        assert "# YOUR CODE HERE" in text and "raise NotImplementedError(" in text
        kept = {line.strip() for line in text.splitlines()}
        leaked = [line for line in hidden if line in kept and not re.fullmatch(r"[)\]}]+", line)]
        assert not leaked, f"solution code left in the starter: {leaked}"
    assert tasks == 6


def test_committed_notebooks_have_no_outputs():
    for path in (SOLUTION, STARTER):
        for cell in cells(path):
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, path


def test_grade_ids_unique_points_match_rubric_and_checks_follow_tasks():
    solution = cells(SOLUTION)
    graded = [grading(c) for c in solution if grading(c)]
    ids = [g["grade_id"] for g in graded]
    assert len(ids) == len(set(ids)) == 12
    assert all(g["schema_version"] == 3 for g in graded)
    rubric = tomllib.loads((ROOT / "lab" / "rubric.toml").read_text())
    rubric_total = sum(
        v["points"] for v in rubric.values() if isinstance(v, dict) and "points" in v
    ) + sum(item["points"] for item in rubric["iou"])
    assert sum(g.get("points", 0) for g in graded if g["grade"]) == rubric_total == 100
    order = [(g["solution"], g["grade"], g["locked"]) for g in graded]
    assert order == [(True, False, False), (False, True, True)] * 6
    for index, cell in enumerate(solution):
        if grading(cell).get("grade"):
            before = [c for c in solution[:index] if c["cell_type"] == "code"][-4:]
            assert any(grading(c).get("solution") for c in before)
            assert "lab.check_" in source(cell)


def test_parameters_cell_holds_what_the_grader_injects():
    tagged = [c for c in cells(SOLUTION) if "parameters" in c["metadata"].get("tags", [])]
    assert len(tagged) == 1
    assigned = set(re.findall(r"^([A-Z_]+)\s*=", source(tagged[0]), re.MULTILINE))
    rubric = tomllib.loads((ROOT / "lab" / "rubric.toml").read_text())
    injected = set(rubric["parameters"]["always"]) | set(rubric["parameters"]["profile"])
    assert injected <= assigned, injected - assigned
    assert {"SEED", "EPOCHS", "IMAGE_SIZE", "OUTPUT_DIR"} <= assigned
    assert re.search(r'^OUTPUT_DIR = "\."', source(tagged[0]), re.MULTILINE)
    # the language is the student's: the Norwegian notebook sets it, the grader never does
    assert re.search(r"^LANGUAGE = None(?=\s)", source(tagged[0]), re.MULTILINE)
    assert "LANGUAGE" not in injected


def test_strip_solutions_keeps_indentation_and_names_the_function():
    text = "def f(x):\n    '''Doc.'''\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n\ny = f(1)"
    out = lab_build.strip_solutions(text, "Task 7")
    assert out.splitlines() == [
        "def f(x):",
        "    '''Doc.'''",
        "    # YOUR CODE HERE",
        '    raise NotImplementedError("Task 7: write the body of f(), then run this cell again.")',
        "",
        "y = f(1)",
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (f"{BEGIN}\nx = 1\n", "never closed"),
        (f"x = 1\n{END}\n", "without"),
        (f"{BEGIN}\n{BEGIN}\n{END}\n", "inside another"),
    ],
)
def test_strip_solutions_rejects_broken_regions(text, problem):
    with pytest.raises(LabBuildError, match=problem):
        lab_build.strip_solutions(text, where="cell 3 (task9)")


def _nb(*cell_list):
    return {"cells": list(cell_list), "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def _code(text, **nbgrader):
    meta = {"nbgrader": {"schema_version": 3, **nbgrader}} if nbgrader else {}
    return {
        "cell_type": "code",
        "source": text,
        "metadata": meta,
        "outputs": [],
        "execution_count": 1,
    }


@pytest.mark.parametrize(
    ("notebook", "problem"),
    [
        (_nb(_code(f"{BEGIN}\n1\n{END}")), "no nbgrader metadata"),
        (_nb(_code("1", grade_id="a", solution=True, grade=False)), "no '### BEGIN SOLUTION'"),
        (_nb(_code("1", grade_id="a", grade=True, points=0)), "positive points"),
        (
            _nb(
                _code("1", grade_id="a", grade=True, points=1),
                _code("2", grade_id="a", grade=True, points=1),
            ),
            "also used",
        ),
        (_nb(_code(f"{BEGIN}\n1\n{END}", grade_id="a", solution=False)), "solution is false"),
    ],
)
def test_build_rejects_inconsistent_metadata(notebook, problem, tmp_path):
    path = tmp_path / "solution.ipynb"
    path.write_text(json.dumps(notebook))
    with pytest.raises(LabBuildError, match=problem):
        lab_build.build_starter(path, tmp_path / "starter.ipynb")
    assert lab_build.main(["check", "--solution", str(path), "--starter", str(tmp_path / "s")]) == 2


# ------------------------------------------------------------------------- self-checks (numpy)


def _blend(image, alpha, background):
    return (alpha * image + (1 - alpha) * background.astype("float32")).round().astype(np.uint8)


def _feather(logits, sigma=1.0):
    from skimage.filters import gaussian

    return np.clip(gaussian((np.asarray(logits) > 0).astype("float32")[..., 0], sigma), 0, 1)[
        ..., None
    ]


def test_compositing_check_explains_each_mistake(tmp_path):
    ns = {"composite": _blend, "soft_alpha": _feather, "OUTPUT_DIR": tmp_path}
    with pytest.raises(SelfCheckError, match="composite.png is missing"):
        lab.check_compositing(ns)
    (tmp_path / "composite.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 16)
    lab.check_compositing(ns)  # passes
    wrong = {**ns, "composite": lambda image, alpha, background: image}
    with pytest.raises(SelfCheckError, match="where alpha is 0"):
        lab.check_compositing(wrong)
    hard = {**ns, "soft_alpha": lambda logits, sigma=1.0: (logits > 0).astype("float32")}
    with pytest.raises(SelfCheckError, match="hard edge"):
        lab.check_compositing(hard)

    def unanswered(logits, sigma=1.0):
        raise NotImplementedError("Task 6: write the body of soft_alpha()")

    with pytest.raises(SelfCheckError, match="still raises NotImplementedError"):
        lab.check_compositing({**ns, "soft_alpha": unanswered})
    with pytest.raises(SelfCheckError, match="Task 6 is not done yet: there is no `composite`"):
        lab.check_compositing({"soft_alpha": _feather})


def test_self_checks_speak_the_notebooks_language(monkeypatch):
    from segcourse import i18n

    monkeypatch.delenv(i18n.LANG_ENV, raising=False)
    try:
        i18n.set_language("nb")  # what the Norwegian notebook's LANGUAGE = "nb" does
        with pytest.raises(SelfCheckError, match="Deloppgave 6 er ikke gjort ennå: .*`composite`"):
            lab.check_compositing({"soft_alpha": _feather})
    finally:
        i18n.set_language(None)
    with pytest.raises(SelfCheckError, match="Task 6 is not done yet"):
        lab.check_compositing({"soft_alpha": _feather})


def test_the_last_cell_judges_the_score_except_in_a_smoke_run(monkeypatch, capsys):
    monkeypatch.setenv("SEGCOURSE_PROFILE", "ci")
    with pytest.raises(AssertionError, match="revisit Tasks 1-3"):
        lab.check_result(0.3, 0.2)
    lab.check_result(0.5, 0.2)
    monkeypatch.setenv("SEGCOURSE_PROFILE", "smoke")
    lab.check_result(0.1, 0.2)
    assert "after a smoke run" in capsys.readouterr().out


# ------------------------------------------------------------------------- the starter, run


@pytest.fixture
def kernel_env(tmp_path, monkeypatch):
    """A tiny MADS archive and the ci profile for a kernel started from this process."""
    from trees import make_mads_tree

    archive = make_mads_tree(tmp_path, n=16, size=(96, 64), extras=False)
    monkeypatch.setenv("SEGCOURSE_PROFILE", "ci")
    monkeypatch.setenv("SEGCOURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MADS_ROOT", str(archive))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    work = tmp_path / "work"
    work.mkdir()
    return work


def test_starter_stops_at_task_1_and_self_checks_guide_then_pass(kernel_env):
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    starter = nbformat.read(STARTER, as_version=4)
    solution = nbformat.read(SOLUTION, as_version=4)
    client = NotebookClient(
        starter,
        timeout=240,
        kernel_name="python3",
        resources={"metadata": {"path": str(kernel_env)}},
    )

    def run(text: str) -> str:
        cell = nbformat.v4.new_code_cell(text)
        client.execute_cell(cell, 0)
        return "".join(o.get("text", "") for o in cell.outputs)

    def fails(text: str) -> str:
        with pytest.raises(CellExecutionError) as err:
            run(text)
        return re.sub(r"\x1b\[[0-9;]*m", "", str(err.value))  # without terminal colours

    by_id = {grading(c).get("grade_id"): source(c) for c in solution.cells}
    with client.setup_kernel():
        first_task = next(i for i, c in enumerate(starter.cells) if grading(c).get("solution"))
        for index, cell in enumerate(starter.cells[:first_task]):
            client.execute_cell(cell, index)
        assert "NotImplementedError: Task 1: write the body of build_model()" in fails(
            source(starter.cells[first_task])
        )
        check1 = source(starter.cells[first_task + 1])
        assert "Task 1 is not done yet: there is no `model`" in fails(check1)
        # Wrong answers get specific feedback.
        sigmoid = (
            "inp = keras.Input((*IMAGE_SIZE, 3)); x = layers.Rescaling(1 / 255)(inp)\n"
            "model = keras.Model(inp, layers.Conv2D(1, 1, activation='sigmoid')(x))"
        )
        run(sigmoid)
        assert "applies sigmoid" in fails(check1)
        frozen = (
            "out = layers.Conv2D(1, 1, kernel_initializer='zeros', bias_initializer="
            "keras.initializers.Constant(-3.0))(x)\n"
            "model = keras.Model(inp, out); model.trainable = False"
        )
        run(frozen)
        assert "cannot fit 4 training images" in fails(check1)
        # The solution's answer passes.
        run(by_id["task1_model"])
        assert "Task 1 self-check passed" in run(check1)
        # Task 2: unanswered, then a loss that expects probabilities, then the solution.
        task2 = next(
            i for i, c in enumerate(starter.cells) if grading(c).get("grade_id") == "task2_compile"
        )
        assert "NotImplementedError: Task 2" in fails(source(starter.cells[task2]))
        check2 = source(starter.cells[task2 + 1])
        assert "Task 2 is not done yet: the model is not compiled" in fails(check2)
        run("model.compile(optimizer='adam', loss=keras.losses.BinaryCrossentropy())")
        assert "does not read logits" in fails(check2)
        run(by_id["task2_compile"])
        assert "Task 2 self-check passed" in run(check2)
