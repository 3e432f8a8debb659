"""The gettext catalogue of what students read: which English messages exist, and whether
segcourse/locale/<lang>/LC_MESSAGES/segcourse.po translates each one and its .mo is current.

Messages are found in the source, never listed by hand: every `tr("...")`, `_("...")`,
`gettext("...")` and `N_("...")` call with a literal first argument in the lesson-side package
(everything in segcourse/ but the grader), and in the code cells of the translated notebooks
also the `hint="..."` and `why="..."` arguments that `segcourse.exercises` shows translated.
Babel reads and writes the .po file and compiles the .mo file.
"""

from __future__ import annotations

import ast
import gettext
import io
import json
import string
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from segcourse.i18n import DOMAIN, catalogue_path

CALLS = ("tr", "_", "gettext", "N_", "noop")  # functions whose first argument is a message
NOTEBOOK_KEYWORDS = ("hint", "why")  # exercise arguments shown translated (segcourse.exercises)
HEADER_COMMENT = (
    "# The messages students read, translated: one entry per English message found in the\n"
    "# source. `python -m segcourse translations messages` adds and drops entries (never edit\n"
    "# the msgid lines); translate each msgstr, keep every {name} field, then run\n"
    "# `python -m segcourse translations build` to compile the .mo file (docs/translation.md)."
)


class CatalogueError(ValueError):
    """A message that cannot be extracted, or a catalogue file that cannot be read."""


def _called_name(node: ast.Call) -> str | None:
    """`tr` for `tr(...)` and `i18n.tr(...)`; None for anything else."""
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def messages_in_code(code: str, where: str, keywords: tuple[str, ...] = ()) -> list[str]:
    """The messages of one piece of Python source, in order (see the module docstring)."""
    try:
        tree = ast.parse(code, filename=where)
    except SyntaxError as err:
        raise CatalogueError(f"{where}: cannot be parsed for messages ({err}).") from None
    found: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        if _called_name(node) in CALLS and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.append((first.lineno, first.value))
            elif isinstance(first, ast.JoinedStr):
                raise CatalogueError(
                    f"{where}, line {node.lineno}: {_called_name(node)}() of an f-string can "
                    "never be found in the catalogue; pass the values as fields instead: "
                    'tr("{n} cases", n=len(data)).'
                )
        for keyword in node.keywords:
            value = keyword.value
            if (
                keyword.arg in keywords
                and isinstance(value, ast.Constant)
                and isinstance(value.value, str)
            ):
                found.append((value.lineno, value.value))
    return [text for _line, text in sorted(found, key=lambda item: item[0])]


def field_problems(code: str, where: str) -> list[str]:
    """`tr("...{name}...", ...)` calls whose literal needs a field that the call does not pass."""
    problems = []
    for node in ast.walk(ast.parse(code, filename=where)):
        if not (isinstance(node, ast.Call) and _called_name(node) == "tr" and node.args):
            continue
        first = node.args[0]
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            continue
        if any(keyword.arg is None for keyword in node.keywords):
            continue  # tr(text, **fields): the fields are not known here
        given = {keyword.arg for keyword in node.keywords}
        needed = set(_fields(first.value) or ())
        if needed - given or (given and not needed):
            problems.append(
                f"{where}, line {node.lineno}: tr({first.value[:40]!r}...) needs the fields "
                f"{sorted(needed)} but is given {sorted(given)}"
            )
    return problems


def notebook_code(path: Path) -> list[tuple[str, str]]:
    """(cell id, source) of every code cell of a notebook."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    cells = []
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") == "code":
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else source
            lines = [line for line in source.splitlines() if not line.lstrip().startswith("%")]
            cells.append((cell.get("id", f"#{index}"), "\n".join(lines)))
    return cells


def extract(root: Path, notebooks: list[Path]) -> dict[str, list[str]]:
    """Every message -> the files that use it: the lesson-side package, then `notebooks`."""
    root = Path(root)
    found: dict[str, list[str]] = {}

    def add(text: str, where: str) -> None:
        if text.strip():
            places = found.setdefault(text, [])
            if where not in places:
                places.append(where)

    package = root / "segcourse"
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if relative.startswith("segcourse/grader/") or relative == "segcourse/i18n.py":
            continue
        for text in messages_in_code(path.read_text(encoding="utf-8"), relative):
            add(text, relative)
    for notebook in notebooks:
        relative = Path(notebook).relative_to(root).as_posix()
        for cell_id, code in notebook_code(notebook):
            for text in messages_in_code(code, f"{relative}, cell {cell_id}", NOTEBOOK_KEYWORDS):
                add(text, relative)
    return found


def po_path(root: Path, lang: str) -> Path:
    """segcourse/locale/<lang>/LC_MESSAGES/segcourse.po under `root`."""
    return Path(root) / "segcourse" / "locale" / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalogue(path: Path, lang: str) -> Catalog:
    """A .po file as a Babel catalogue, with an error that names the file."""
    try:
        with Path(path).open("rb") as handle:
            return read_po(handle, locale=lang, domain=DOMAIN)
    except FileNotFoundError:
        raise CatalogueError(
            f"{path} is missing: run `python -m segcourse translations messages` to start it."
        ) from None
    except Exception as err:  # noqa: BLE001 - Babel raises several kinds on a broken file
        raise CatalogueError(f"{path} is not a readable .po file: {err}") from None


def _new_catalogue(lang: str, old: Catalog | None) -> Catalog:
    """An empty catalogue for `lang` that keeps the dates of `old` (no churn on re-runs)."""
    now = datetime.now(UTC).replace(microsecond=0)
    return Catalog(
        locale=lang,
        domain=DOMAIN,
        header_comment=HEADER_COMMENT,
        project="segcourse",
        version="1",
        copyright_holder="the segcourse authors",
        msgid_bugs_address="the course's issue tracker",
        creation_date=old.creation_date if old else now,
        revision_date=old.revision_date if old else now,
        last_translator="the segcourse authors",
        language_team=lang,
        fuzzy=False,
    )


def update(root: Path, lang: str, notebooks: list[Path]) -> tuple[Path, int, int]:
    """Rewrite the .po of `lang` with exactly the extracted messages, keeping translations.

    Returns (path, messages, untranslated). Messages no longer used are dropped.
    """
    path = po_path(root, lang)
    old = read_catalogue(path, lang) if path.is_file() else None
    catalogue = _new_catalogue(lang, old)
    for text, places in extract(root, notebooks).items():
        kept = old.get(text) if old else None
        string_ = kept.string if kept is not None and not kept.fuzzy else ""
        catalogue.add(text, string_, locations=[(place, None) for place in places])
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    write_po(buffer, catalogue, width=100, include_lineno=False, ignore_obsolete=True)
    path.write_bytes(buffer.getvalue())
    untranslated = sum(1 for message in catalogue if message.id and not message.string)
    return path, len(catalogue), untranslated


def _fields(text: str) -> list[str] | None:
    """The str.format field names of `text` in order, or None when its braces do not parse."""
    try:
        return sorted(name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name)
    except ValueError:
        return None


def coverage_problems(root: Path, lang: str, notebooks: list[Path]) -> list[str]:
    """What keeps the .po of `lang` from covering every message; empty when it does."""
    path = po_path(root, lang)
    catalogue = read_catalogue(path, lang)
    wanted = extract(root, notebooks)
    problems = []
    for text, places in wanted.items():
        message = catalogue.get(text)
        where = f"{text!r} (used in {', '.join(places)})"
        if message is None:
            problems.append(f"{path}: no entry for {where}")
        elif not message.string:
            problems.append(f"{path}: no translation of {where}")
        elif message.fuzzy:
            problems.append(f"{path}: the translation of {where} is marked fuzzy: check it")
        elif _fields(message.string) != _fields(text):
            problems.append(
                f"{path}: the translation of {text!r} has the fields {_fields(message.string)}, "
                f"the English {_fields(text)}: keep every {{name}} as it is"
            )
    unused = [message.id for message in catalogue if message.id and message.id not in wanted]
    problems += [f"{path}: {text!r} is no longer used" for text in unused]
    if problems:
        problems.append("run `python -m segcourse translations messages`, then translate")
    return problems


def compiled(catalogue: Catalog) -> bytes:
    """The .mo bytes of a catalogue (fuzzy and untranslated entries left out)."""
    buffer = io.BytesIO()
    write_mo(buffer, catalogue, use_fuzzy=False)
    return buffer.getvalue()


def compile_catalogue(root: Path, lang: str) -> Path:
    """Write segcourse/locale/<lang>/LC_MESSAGES/segcourse.mo from its .po; return its path."""
    catalogue = read_catalogue(po_path(root, lang), lang)
    target = catalogue_path(lang, Path(root) / "segcourse" / "locale")
    target.write_bytes(compiled(catalogue))
    return target


def _entries(mo: bytes) -> dict:
    """The messages of .mo bytes as gettext reads them (the header entry left out)."""
    translations = gettext.GNUTranslations(io.BytesIO(mo))
    return {key: value for key, value in translations._catalog.items() if key != ""}


def mo_is_current(root: Path, lang: str) -> bool:
    """Whether the committed .mo holds exactly what compiling the .po would give."""
    target = catalogue_path(lang, Path(root) / "segcourse" / "locale")
    if not target.is_file():
        return False
    fresh = compiled(read_catalogue(po_path(root, lang), lang))
    try:
        return _entries(target.read_bytes()) == _entries(fresh)
    except OSError:
        return False
