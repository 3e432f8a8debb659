"""Generate `segcourse/models.py` from the notebook cells that teach each model.

The architectures are written out where they are taught; a code cell whose first line is
`# @save` (as in d2l) is copied verbatim into `segcourse/models.py`, which later notebooks, the
lab checks and the benchmarks import. `python -m devtools.build_models` rewrites the file;
`--check` exits 1 when it is out of date with the notebooks (a test runs the same check).
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = (
    "notebooks/solutions/02_segnet.ipynb",
    "notebooks/solutions/03_unet.ipynb",
)  # in teaching order
TARGET = ROOT / "segcourse" / "models.py"
MARKER = "# @save"
ALLOWED = (ast.FunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)

HEADER = '''"""The course's models, each written out in the notebook that teaches it.

GENERATED from the notebook cells marked `{marker}` ({sources}).
Do not edit here: edit the notebook, then run `python -m devtools.build_models`.
"""

import keras
from keras import layers
'''


class ModelsBuildError(ValueError):
    """A marked cell cannot go into the generated module (it runs code, or does not parse)."""


def saved_cells(notebook: Path) -> list[tuple[str, str]]:
    """(cell id, code without the marker line) of every `# @save` cell of one notebook."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    found = []
    for cell in cells:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        first, _, rest = source.partition("\n")
        if cell["cell_type"] != "code" or first.strip() != MARKER:
            continue
        where = f"{notebook.relative_to(ROOT)}, cell {cell.get('id', '?')}"
        try:
            tree = ast.parse(rest)
        except SyntaxError as exc:
            raise ModelsBuildError(
                f"{where}: does not parse ({exc.msg}, line {exc.lineno})"
            ) from exc
        for node in tree.body:
            if not isinstance(node, ALLOWED):
                raise ModelsBuildError(
                    f"{where}: line {node.lineno} runs code; a `{MARKER}` cell may only hold "
                    "imports, functions and classes. Move the rest to the next cell."
                )
        found.append((cell.get("id", "?"), rest.strip("\n")))
    return found


def render() -> str:
    """The text `segcourse/models.py` should have, from the notebooks as they are now."""
    header = HEADER.format(marker=MARKER, sources=", ".join(Path(s).name for s in SOURCES))
    imports: list[str] = []  # a cell's own imports go to the top, as ruff's import order wants
    parts = []
    for source in SOURCES:
        cells = saved_cells(ROOT / source)
        if not cells:
            raise ModelsBuildError(f"{source}: no cell starts with {MARKER!r}")
        for cell_id, code in cells:
            lines = code.splitlines()
            imports += [line for line in lines if line.startswith(("import ", "from "))]
            body = "\n".join(line for line in lines if not line.startswith(("import ", "from ")))
            parts.append(f"\n# From {source}, cell {cell_id}.\n{body.strip()}\n")
    if imports:
        header += "\n" + "\n".join(dict.fromkeys(imports)) + "\n"
    return "\n".join([header, *parts])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.build_models", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is out of date")
    args = parser.parse_args(argv)
    text = render()
    current = TARGET.read_text(encoding="utf-8") if TARGET.is_file() else ""
    if args.check:
        if current != text:
            print(
                f"{TARGET.relative_to(ROOT)} is out of date with the notebooks; run "
                "`python -m devtools.build_models`",
                file=sys.stderr,
            )
            return 1
        print(f"{TARGET.relative_to(ROOT)} is up to date")
        return 0
    if current != text:
        TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)} from {len(SOURCES)} notebooks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
