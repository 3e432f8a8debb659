"""Print the module table of docs/architecture.md: each module of `segcourse`, its line count,
its first docstring line, and which package modules import it (from the import graph)."""

from __future__ import annotations

import ast
from pathlib import Path

from devtools.import_graph import import_graph, modules


def summary(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    first = " ".join(doc.split("\n\n")[0].split())
    sentence = first.split(": ")[0] if len(first) > 110 and ": " in first[:60] else first
    sentence = (
        sentence if len(sentence) <= 140 else sentence[: sentence.rfind(" ", 0, 137)] + " ..."
    )
    return sentence.replace("|", "\\|")


def table() -> str:
    graph = import_graph()
    users = {name: sorted(m for m, targets in graph.items() if name in targets) for name in graph}
    rows = ["| module | lines | what | imported by |", "|---|---|---|---|"]
    for name, path in modules().items():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        by = (
            ", ".join(f"`{u.removeprefix('segcourse.')}`" for u in users[name])
            or "only notebooks, CLI, tests"
        )
        rows.append(f"| `{name}` | {lines} | {summary(path)} | {by} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
