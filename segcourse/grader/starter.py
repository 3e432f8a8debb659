"""Student starter notebooks, generated from their solution notebooks so the two cannot drift.

`python -m segcourse lab build|check` does the lab; `python -m segcourse starters build|check`
does every lesson notebook (notebooks/solutions/NN_*.ipynb -> notebooks/NN_*.ipynb) and the lab.
One notebook is the source: exercise cells hold the answer between `### BEGIN SOLUTION` /
`### END SOLUTION` lines (nbgrader's convention). The lab's regions become a raise; a lesson's
become blanks that let the notebook run on (its checks then say "not answered yet").
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path

from segcourse.paths import project_root

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
SOLUTION = Path("lab/solution/body_segmentation.ipynb")
STARTER = Path("lab/body_segmentation.ipynb")
LESSON_SOLUTIONS = Path("notebooks/solutions")
# Cell metadata keys that only describe one execution (papermill, nbclient, Jupyter UI).
RUN_METADATA = ("execution", "papermill", "collapsed", "scrolled", "ExecuteTime")


class LabBuildError(ValueError):
    """The solution notebook cannot be turned into a starter (bad regions or metadata)."""


def _cell_name(index: int, cell: dict) -> str:
    """How error messages name a cell: its position and nbgrader grade_id if any."""
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return f"cell {index}" + (f" ({grade_id})" if grade_id else "")


def _task_label(cell: dict) -> str:
    """'Task 3' from a grade_id such as 'task3_train', else the grade_id itself."""
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
    found = re.match(r"task(\d+)", grade_id)
    return f"Task {found.group(1)}" if found else (grade_id or "This task")


def _enclosing_function(lines: list[str], indent: str) -> str | None:
    """Name of the nearest `def` above, indented less than the region, if any."""
    for line in reversed(lines):
        found = re.match(r"(\s*)def\s+(\w+)\s*\(", line)
        if found and len(found.group(1)) < len(indent):
            return found.group(2)
    return None


def _replace_regions(source: str, where: str, replace) -> str:
    """Walk the BEGIN/END SOLUTION regions of `source`, putting `replace(line, kept, body)` in each.

    `line` is the region's BEGIN line, `kept` the lines kept so far and `body` the region's
    own lines; a nested, unopened or unclosed region is a LabBuildError naming `where`.
    """
    out: list[str] = []
    begin, body = None, []
    for number, line in enumerate(source.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            if begin is not None:
                raise LabBuildError(f"{where}, line {number}: {BEGIN!r} inside another region.")
            begin, body = line, []
        elif stripped.startswith(END):
            if begin is None:
                raise LabBuildError(f"{where}, line {number}: {END!r} without a {BEGIN!r}.")
            out += replace(begin, out, body)
            begin = None
        elif begin is not None:
            body.append(line)
        else:
            out.append(line)
    if begin is not None:
        raise LabBuildError(f"{where}: {BEGIN!r} is never closed by {END!r}.")
    return "\n".join(out)


def strip_solutions(source: str, task: str = "This task", *, where: str = "cell") -> str:
    """Replace each solution region of a code cell by `# YOUR CODE HERE` and a raise."""

    def placeholder(line: str, kept: list[str], body: list[str]) -> list[str]:
        indent = line[: len(line) - len(line.lstrip())]
        function = _enclosing_function(kept, indent)
        todo = f"write the body of {function}()" if function else "write this code"
        message = f"{task}: {todo}, then run this cell again."
        return [f"{indent}# YOUR CODE HERE", f'{indent}raise NotImplementedError("{message}")']

    return _replace_regions(source, where, placeholder)


def _lesson_label(cell: dict, source: str) -> str:
    """'Exercise 01.2' from the cell's `exercise` metadata or an `# Exercise 01.2` comment."""
    given = cell.get("metadata", {}).get("exercise")
    found = re.search(r"Exercise\s+(\d+\.\d+)", source)
    if given or found:
        return f"Exercise {given or found.group(1)}"
    return "This exercise"


def strip_lesson_solutions(source: str, label: str, *, where: str = "cell") -> str:
    """A lesson's regions: a function body becomes a NotImplementedError that the check catches;
    top-level `NAME = value` lines become `NAME = ...`, so every later cell still runs."""

    def placeholder(line: str, kept: list[str], body: list[str]) -> list[str]:
        indent = line[: len(line) - len(line.lstrip())]
        function = _enclosing_function(kept, indent)
        if function:
            message = (
                f"{label}: write the body of {function}(); the check below says when it is right."
            )
            return [f"{indent}# YOUR CODE HERE", f'{indent}raise NotImplementedError("{message}")']
        names: list[str] = []
        for text in body:
            found = re.match(rf"{re.escape(indent)}([A-Za-z_]\w*)\s*(?::[^=]*)?=(?!=)", text)
            if found and found.group(1) not in names:
                names.append(found.group(1))
        if not names:
            raise LabBuildError(
                f"{where}: a solution region outside a function must assign names "
                "(NAME = value), so that the starter can keep NAME = ... in its place."
            )
        return [f"{indent}{name} = ...  # YOUR ANSWER HERE" for name in names]

    return _replace_regions(source, where, placeholder)


def _strip_markdown(source: str, where: str) -> str:
    """Replace each solution region of a markdown cell by 'YOUR ANSWER HERE'."""
    return _replace_regions(source, where, lambda line, kept, body: ["YOUR ANSWER HERE"])


def validate_solution(nb: dict) -> None:
    """Raise LabBuildError unless regions and nbgrader metadata are consistent."""
    seen: dict[str, str] = {}
    for index, cell in enumerate(nb.get("cells", [])):
        where = _cell_name(index, cell)
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        meta = cell.get("metadata", {}).get("nbgrader")
        has_region = BEGIN in source
        if meta is None:
            if has_region:
                raise LabBuildError(f"{where} has a solution region but no nbgrader metadata.")
            continue
        grade_id = meta.get("grade_id")
        if not grade_id:
            raise LabBuildError(f"{where}: nbgrader metadata without a grade_id.")
        if grade_id in seen:
            raise LabBuildError(f"{where}: grade_id {grade_id!r} is also used by {seen[grade_id]}.")
        seen[grade_id] = where
        if meta.get("solution") and not has_region:
            raise LabBuildError(f"{where} is a solution cell but has no {BEGIN!r} region.")
        if has_region and not meta.get("solution"):
            raise LabBuildError(f"{where} has a solution region but nbgrader.solution is false.")
        if meta.get("grade"):
            points = meta.get("points")
            if not isinstance(points, (int, float)) or points <= 0:
                raise LabBuildError(f"{where}: graded cell needs positive points, got {points!r}.")


def build_starter_notebook(solution: dict, lesson: bool = False) -> dict:
    """The student version of a solution notebook (a new dict; outputs cleared).

    `lesson=True`: a lesson notebook (no nbgrader metadata; regions become blanks, not raises).
    """
    if not lesson:
        validate_solution(solution)
    starter = copy.deepcopy(solution)
    starter["metadata"] = {
        k: v for k, v in starter.get("metadata", {}).items() if k not in ("papermill", "widgets")
    }
    for index, cell in enumerate(starter["cells"]):
        where = _cell_name(index, cell)
        for key in RUN_METADATA:
            cell.get("metadata", {}).pop(key, None)
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        if BEGIN in source:
            if cell["cell_type"] == "code" and lesson:
                label = _lesson_label(cell, source)
                source = strip_lesson_solutions(source, label, where=where)
            elif cell["cell_type"] == "code":
                source = strip_solutions(source, _task_label(cell), where=where)
            else:
                source = _strip_markdown(source, where)
        cell["source"] = source
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    return starter


def read_notebook(path: Path, error: type[ValueError] = LabBuildError) -> dict:
    """A notebook as a plain dict; `error` (naming the file) for a missing or broken one."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: notebook not found.") from None
    except json.JSONDecodeError as err:
        raise error(f"{path}: not a valid notebook (JSON error: {err}).") from None


def _dumps(nb: dict) -> str:
    """Notebook JSON the way Jupyter writes it (one-space indent, trailing newline)."""
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def _normalised(nb: dict) -> dict:
    """A notebook with every cell source as one string, for comparing content only."""
    nb = copy.deepcopy(nb)
    for cell in nb.get("cells", []):
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(cell["source"])
    return nb


def build_starter(
    solution_path: str | Path, starter_path: str | Path, lesson: bool = False
) -> Path:
    """Write the starter notebook generated from the solution notebook; return its path."""
    starter = build_starter_notebook(read_notebook(Path(solution_path)), lesson=lesson)
    starter_path = Path(starter_path)
    starter_path.parent.mkdir(parents=True, exist_ok=True)
    starter_path.write_text(_dumps(starter), encoding="utf-8")
    return starter_path


def starter_is_current(
    solution_path: str | Path, starter_path: str | Path, lesson: bool = False
) -> bool:
    """Whether the starter on disk is exactly what `build_starter` would write."""
    expected = build_starter_notebook(read_notebook(Path(solution_path)), lesson=lesson)
    if not Path(starter_path).is_file():
        return False
    return _normalised(read_notebook(Path(starter_path))) == _normalised(expected)


def main(argv: list[str] | None = None) -> int:
    """`python -m segcourse lab build|check`: write the starter, or test that it is current."""
    parser = argparse.ArgumentParser(
        prog="python -m segcourse lab",
        description="Generate the lab's student starter from the reference solution notebook.",
    )
    parser.add_argument("action", choices=("build", "check"), help="build: write; check: compare")
    parser.add_argument("--solution", type=Path, default=None, help=f"default: {SOLUTION}")
    parser.add_argument("--starter", type=Path, default=None, help=f"default: {STARTER}")
    args = parser.parse_args(argv)
    root = project_root()
    solution = args.solution or root / SOLUTION
    starter = args.starter or root / STARTER
    try:
        if args.action == "build":
            print(f"wrote {build_starter(solution, starter)} from {solution}")
            return 0
        if starter_is_current(solution, starter):
            print(f"{starter} is up to date with {solution}")
            return 0
    except LabBuildError as err:
        print(f"segcourse lab: {err}", file=sys.stderr)
        return 2
    print(
        f"{starter} is out of date with {solution}: run `python -m segcourse lab build`.",
        file=sys.stderr,
    )
    return 1


def course_starters(root: Path) -> list[tuple[Path, Path, bool]]:
    """(solution, starter, is_lesson) for every lesson notebook and the lab."""
    pairs = [
        (source, root / "notebooks" / source.name, True)
        for source in sorted((root / LESSON_SOLUTIONS).glob("[0-9][0-9]_*.ipynb"))
    ]
    return pairs + [(root / SOLUTION, root / STARTER, False)]


def starters_main(argv: list[str] | None = None) -> int:
    """`python -m segcourse starters build|check`: every lesson starter and the lab's at once."""
    parser = argparse.ArgumentParser(
        prog="python -m segcourse starters",
        description="Generate every student starter notebook from its solution notebook.",
    )
    parser.add_argument("action", choices=("build", "check"), help="build: write; check: compare")
    args = parser.parse_args(argv)
    stale = []
    try:
        for solution, starter, lesson in course_starters(project_root()):
            if args.action == "build":
                print(f"wrote {build_starter(solution, starter, lesson)}")
            elif not starter_is_current(solution, starter, lesson):
                stale.append(starter)
    except LabBuildError as err:
        print(f"segcourse starters: {err}", file=sys.stderr)
        return 2
    for starter in stale:
        print(f"{starter} is out of date with its solution notebook", file=sys.stderr)
    if stale:
        print("run `python -m segcourse starters build`", file=sys.stderr)
        return 1
    if args.action == "check":
        print("every starter notebook is up to date")
    return 0
