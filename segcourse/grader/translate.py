"""Norwegian (bokmål) notebooks, generated from the English ones so that the two cannot drift.

One source: an English solution notebook plus a translation file beside it
(notebooks/solutions/nb/01_ph2_tour.yaml for notebooks/solutions/01_ph2_tour.ipynb) that holds
the bokmål text of each markdown cell, keyed by the cell's nbformat id, with a hash of the
English text it translates. The build copies every code cell unchanged (only the parameters
cell's `LANGUAGE = None` becomes `LANGUAGE = "nb"`, so the code's messages come from the
catalogue in bokmål), writes notebooks/nb/solutions/01_ph2_tour.ipynb and builds its starter
notebooks/nb/01_ph2_tour.ipynb the way `starters build` does. A changed English cell makes its
translation stale, and the build and `check` refuse until the translation is updated.

`python -m segcourse translations build|check|todo|messages`; docs/translation.md says how.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from segcourse.grader import messages
from segcourse.grader.starter import LabBuildError, build_starter_notebook, read_notebook
from segcourse.paths import project_root

LANGUAGE = "nb"
# The English notebooks that have a Norwegian version, from the project root: the one list.
# Adding a notebook here makes the build generate it and the tests demand all of its cells.
TRANSLATED = (
    "notebooks/solutions/01_ph2_tour.ipynb",
    "notebooks/solutions/02_segnet.ipynb",
    "notebooks/solutions/03_unet.ipynb",
    "notebooks/solutions/04_losses_and_metrics.ipynb",
    "notebooks/solutions/05_multiclass.ipynb",
    "notebooks/solutions/06_pose.ipynb",
    "lab/solution/body_segmentation.ipynb",
)
HASH_LENGTH = 16  # hex digits of sha256 kept per cell: plenty to notice any edit
_LANGUAGE_LINE = re.compile(r"^LANGUAGE = None(?=\s|$)", re.MULTILINE)


class TranslationBuildError(ValueError):
    """A translation that is missing, stale or malformed, or a notebook that cannot be built."""


@dataclass(frozen=True)
class Target:
    """Where one English notebook's translation and generated Norwegian notebooks live."""

    source: Path  # English solution notebook, e.g. notebooks/solutions/01_ph2_tour.ipynb
    translation: Path  # notebooks/solutions/nb/01_ph2_tour.yaml
    solution: Path  # notebooks/nb/solutions/01_ph2_tour.ipynb
    starter: Path  # notebooks/nb/01_ph2_tour.ipynb
    lesson: bool  # lesson notebook (blanks) or the lab (nbgrader raises)


def target(root: Path, source: str | Path) -> Target:
    """The paths that belong to the English solution notebook `source` (relative to `root`)."""
    source = Path(root) / source
    folder, parent = source.parent, source.parent.parent  # notebooks/solutions, notebooks
    return Target(
        source=source,
        translation=folder / LANGUAGE / f"{source.stem}.yaml",
        solution=parent / LANGUAGE / folder.name / source.name,
        starter=parent / LANGUAGE / source.name,
        lesson=folder.name == "solutions",
    )


def targets(root: Path | None = None, names=TRANSLATED) -> list[Target]:
    """Every translated notebook's Target."""
    root = project_root() if root is None else Path(root)
    return [target(root, name) for name in names]


def source_hash(text: str) -> str:
    """The hash a translation stores of the English text it translates."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_LENGTH]


def _text(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def read_translation(path: Path) -> dict[str, dict]:
    """{cell id: {"source_hash", "text"}} from a translation file, checked for its shape."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TranslationBuildError(
            f"{path} is missing: write one entry per markdown cell of the English notebook "
            "(`python -m segcourse translations todo` lists them)."
        ) from None
    except yaml.YAMLError as err:
        raise TranslationBuildError(f"{path}: not valid YAML ({err}).") from None
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, dict):
        raise TranslationBuildError(f"{path}: expected a top-level `cells:` mapping of cell ids.")
    for cell_id, entry in cells.items():
        if not isinstance(cell_id, str):
            raise TranslationBuildError(
                f'{path}: cell id {cell_id!r} is not a string; quote it ("{cell_id}":).'
            )
        if (
            not isinstance(entry, dict)
            or set(entry) != {"source_hash", "text"}
            or not all(isinstance(entry[key], str) for key in entry)
        ):
            raise TranslationBuildError(
                f"{path}, cell {cell_id}: an entry needs exactly `source_hash` and `text`, "
                "both strings."
            )
    return cells


def problems(english: dict, cells: dict[str, dict], where: Path) -> list[str]:
    """Why `cells` does not translate the markdown of `english`: missing, stale, unknown."""
    found, wanted = [], set()
    for index, cell in enumerate(english.get("cells", [])):
        if cell.get("cell_type") != "markdown":
            continue
        cell_id = cell.get("id")
        if not cell_id:
            found.append(f"{where}: markdown cell {index} of the English notebook has no id.")
            continue
        wanted.add(cell_id)
        expected = source_hash(_text(cell))
        entry = cells.get(cell_id)
        if entry is None:
            found.append(f"{where}: cell {cell_id} has no translation (English hash {expected}).")
        elif entry["source_hash"] != expected:
            found.append(
                f"{where}: the translation of cell {cell_id} is stale: its English text "
                f"changed; update the text, then set source_hash to {expected}."
            )
        elif not entry["text"].strip():
            found.append(f"{where}: the translation of cell {cell_id} is empty.")
    for cell_id in sorted(set(cells) - wanted):
        found.append(f"{where}: cell {cell_id} is not a markdown cell of the English notebook.")
    return found


def _set_language(source: str, where: str) -> str:
    """The parameters cell with `LANGUAGE = None` set to this language."""
    if len(_LANGUAGE_LINE.findall(source)) != 1:
        raise TranslationBuildError(
            f"{where}: the parameters cell needs one `LANGUAGE = None` line, which the "
            f'{LANGUAGE} notebook sets to LANGUAGE = "{LANGUAGE}".'
        )
    return _LANGUAGE_LINE.sub(f'LANGUAGE = "{LANGUAGE}"', source)


def translated_notebook(english: dict, cells: dict[str, dict], source_name: str) -> dict:
    """The Norwegian solution notebook: translated markdown, the English code (a new dict)."""
    nb = copy.deepcopy(english)
    nb.setdefault("metadata", {})["segcourse"] = {
        "language": LANGUAGE,
        "generated_from": source_name,
    }
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            cell["source"] = cells[cell["id"]]["text"].splitlines(keepends=True)
        elif "parameters" in cell.get("metadata", {}).get("tags", []):
            text = _set_language(_text(cell), f"{source_name}, cell {cell.get('id')}")
            cell["source"] = text.splitlines(keepends=True)
    return nb


def dumps(nb: dict) -> str:
    """Notebook JSON the way Jupyter and the starter build write it."""
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def render(item: Target, root: Path) -> tuple[str, str]:
    """(solution, starter) JSON text of one Norwegian notebook; refuses on any problem."""
    english = read_notebook(item.source, TranslationBuildError)
    cells = read_translation(item.translation)
    found = problems(english, cells, item.translation.relative_to(root))
    if found:
        raise TranslationBuildError("\n".join(found))
    source_name = item.source.relative_to(root).as_posix()
    solution = translated_notebook(english, cells, source_name)
    try:
        starter = build_starter_notebook(solution, lesson=item.lesson)
    except LabBuildError as err:
        raise TranslationBuildError(f"{source_name}: {err}") from None
    return dumps(solution), dumps(starter)


def build(root: Path | None = None, names=TRANSLATED) -> list[Path]:
    """Write every Norwegian solution and starter notebook; return the paths written."""
    root = project_root() if root is None else Path(root)
    written = []
    for item in targets(root, names):
        solution, starter = render(item, root)
        for path, text in ((item.solution, solution), (item.starter, starter)):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


def notebook_problems(root: Path | None = None, names=TRANSLATED) -> list[str]:
    """Stale or missing translations, and generated notebooks that differ from the build."""
    root = project_root() if root is None else Path(root)
    found: list[str] = []
    for item in targets(root, names):
        try:
            solution, starter = render(item, root)
        except TranslationBuildError as err:
            found += str(err).splitlines()
            continue
        for path, text in ((item.solution, solution), (item.starter, starter)):
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                found.append(f"{path.relative_to(root)} differs from what the build writes.")
    return found


def check(root: Path | None = None, names=TRANSLATED) -> list[str]:
    """Everything that is not current: translations, generated notebooks and the catalogue."""
    root = project_root() if root is None else Path(root)
    found = notebook_problems(root, names)
    notebooks = [item.source for item in targets(root, names)]
    found += messages.coverage_problems(root, LANGUAGE, notebooks)
    if not messages.mo_is_current(root, LANGUAGE):
        found.append(f"{messages.po_path(root, LANGUAGE).with_suffix('.mo')} is out of date.")
    return found


def todo(root: Path | None = None, names=TRANSLATED) -> str:
    """The English text of every markdown cell whose translation is missing or stale."""
    root = project_root() if root is None else Path(root)
    out = []
    for item in targets(root, names):
        english = read_notebook(item.source, TranslationBuildError)
        cells = read_translation(item.translation) if item.translation.is_file() else {}
        for cell in english.get("cells", []):
            if cell.get("cell_type") != "markdown":
                continue
            expected = source_hash(_text(cell))
            entry = cells.get(cell.get("id"))
            if entry is None or entry["source_hash"] != expected:
                state = "missing" if entry is None else "stale"
                out.append(
                    f"## {item.translation.relative_to(root)}: {state}\n"
                    f'  "{cell.get("id")}":\n    source_hash: "{expected}"\n    text: |-\n'
                    + "".join(
                        f"      {line}" if line.strip() else "\n"
                        for line in _text(cell).splitlines(keepends=True)
                    )
                )
    return "\n\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """`python -m segcourse translations build|check|todo|messages`."""
    parser = argparse.ArgumentParser(
        prog="python -m segcourse translations",
        description="The Norwegian notebooks and the message catalogue (docs/translation.md).",
    )
    parser.add_argument(
        "action",
        choices=("build", "check", "todo", "messages"),
        help="build: compile the catalogue and write the Norwegian notebooks; check: fail on "
        "anything stale; todo: print the English cells to translate; messages: update the .po",
    )
    args = parser.parse_args(argv)
    root = project_root()
    try:
        if args.action == "messages":
            sources = [item.source for item in targets(root)]
            path, count, untranslated = messages.update(root, LANGUAGE, sources)
            print(f"wrote {path}: {count} messages, {untranslated} without a translation")
            return 0
        if args.action == "todo":
            print(todo(root) or "every translated notebook is up to date")
            return 0
        if args.action == "build":
            print(f"wrote {messages.compile_catalogue(root, LANGUAGE)}")
            for path in build(root):
                print(f"wrote {path}")
            return 0
        found = check(root)
    except (TranslationBuildError, messages.CatalogueError) as err:
        print(f"segcourse translations: {err}", file=sys.stderr)
        return 2
    for line in found:
        print(line, file=sys.stderr)
    if found:
        print("then run `python -m segcourse translations build`", file=sys.stderr)
        return 1
    print("every translation is current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
