"""What a grading run writes: grades.csv, summary.md with its score plot, and one feedback page
per student (rendered from `templates/feedback.html`), all from the students' Outcomes.

A feedback page shows the student's own notebook, so nothing of it may run in the reader's
browser: before nbconvert sees it, the notebook loses its metadata (widget state included)
and every output's metadata, and outputs keep text/plain and image/png only (`safe_notebook`);
it is exported with `templates/nbconvert-feedback` (JupyterLab's page without its scripts),
whose HTML cleaning (markdown, raw cells, highlighted code) is `clean_html`, an allow-list
that keeps no script, no event attribute and no link or image source but `#fragments` and
PNG `data:` images. Every page starts its <head> with `CONTENT_SECURITY_POLICY`: no scripts
at all, images only as `data:`, inline CSS only (the page's own styles).

Nothing a student names is written raw: a grades.csv cell that a spreadsheet would take for a
formula (it starts with = + - @, a tab or a carriage return) gets a leading `'` (OWASP's
rule; a leading `'` is doubled so that `read_grades` can undo it exactly); summary.md shows
names and reasons as plain text (markdown and HTML escaped, line breaks made spaces); text that
cannot be encoded is written with backslash escapes."""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .statuses import STATUSES, GradingError

CSV_COLUMNS = ["student", "status", "score", "max_score", "iou", "dice", "seconds", "reason"]
TEMPLATES = Path(__file__).resolve().parent / "templates"
NBCONVERT_TEMPLATE = "nbconvert-feedback"  # a folder of TEMPLATES
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'"
)
SHOWN_MIME_TYPES = ("text/plain", "image/png")  # what a feedback page shows of an output
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")
_SAFE_TAGS = frozenset(
    "a abbr b blockquote br caption code dd del details div dl dt em h1 h2 h3 h4 h5 h6 hr i img "
    "ins kbd li main mark ol p pre q s samp section small span strong sub summary sup table "
    "tbody td tfoot th thead tr u ul var".split()
)
_SAFE_ATTRIBUTES = frozenset(
    {"class", "id", "title", "alt", "colspan", "rowspan", "data-mime-type"}
)
NOTEBOOK_IMAGE_ALT = "An image that a cell of the notebook displayed"
_IMG_WITHOUT_ALT = re.compile(r"<img\b(?![^>]*\balt\s*=)", re.IGNORECASE)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")  # "'" too, so that it reads back exactly
_MARKDOWN_SPECIAL = set("\\`*_{}[]()#+-.!|~^$:=\"'")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass
class Outcome:
    """The grade of one student."""

    student: str
    status: str = "ok"
    score: float | None = 0.0  # None: not graded (skipped)
    max_score: float = 0.0
    iou: float | None = None
    dice: float | None = None
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    items: list[tuple[str, float, float, str]] = field(default_factory=list)
    notebook: object = None
    composite: bytes | None = None
    notes: list[str] = field(default_factory=list)  # how it was graded (e.g. on what it trained)

    def fail(self, status: str, reason: str) -> None:
        """Record a failure; the first one sets the status."""
        if self.status == "ok":
            self.status = status
        self.failures.append(reason)

    def row(self) -> dict:
        return {
            "student": self.student, "status": self.status, "score": _num(self.score),
            "max_score": _num(self.max_score), "iou": _num(self.iou, 4), "dice": _num(self.dice, 4),
            "seconds": _num(self.seconds, 1),
            "reason": text_of("; ".join(str(f) for f in self.failures))[:2000],
        }  # fmt: skip


def text_of(value) -> str:
    """`value` as text that can be encoded (lone surrogates become backslash escapes)."""
    return str(value).encode("utf-8", "backslashreplace").decode("utf-8")


def csv_cell(value) -> str:
    """A grades.csv cell that no spreadsheet runs as a formula."""
    text = text_of(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def from_csv_cell(text: str) -> str:
    """Undo `csv_cell`."""
    return text[1:] if text.startswith("'") else text


def markdown_text(value) -> str:
    """`value` as plain text inside a markdown table cell: line breaks and other control
    characters become spaces, HTML and markdown syntax are escaped."""
    out = []
    for char in _CONTROL.sub(" ", text_of(value)):
        if char in "&<>":
            out.append({"&": "&amp;", "<": "&lt;", ">": "&gt;"}[char])
        elif char in _MARKDOWN_SPECIAL:
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def _num(value, digits: int = 2) -> str:
    if value is None:
        return ""
    value = round(float(value), digits)
    return str(int(value)) if value == int(value) else str(value)


# ------------------------------------------------------------------------------ feedback page


def _template():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, keep_trailing_newline=True
    )
    return env.get_template("feedback.html")


def with_alt_text(page: str) -> str:
    """`page` with an `alt` attribute on every `<img>` that lacks one (nbconvert adds none)."""
    return _IMG_WITHOUT_ALT.sub(f'<img alt="{NOTEBOOK_IMAGE_ALT}"', page)


def safe_notebook(nb):
    """A copy of `nb` that carries nothing a browser would run or fetch: no notebook or cell
    metadata (widget state, attachments), no output metadata (nbconvert writes an image's
    width and height into the page unquoted), and outputs of SHOWN_MIME_TYPES only (an
    output with none of them says what was removed)."""
    import copy

    import nbformat

    nb = nbformat.from_dict(copy.deepcopy(dict(nb)))
    nb.metadata = nbformat.from_dict({"language_info": {"name": "python"}})
    cells = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") not in ("code", "markdown", "raw"):
            continue
        cell.metadata = nbformat.from_dict({})
        cell.pop("attachments", None)
        if cell.cell_type == "code":
            cell.outputs = [out for out in map(_safe_output, cell.get("outputs", [])) if out]
        cells.append(cell)
    nb.cells = cells
    return nb


def _safe_output(output):
    """`output` with nothing but text and PNG images (None: a kind nbconvert does not show)."""
    import nbformat

    kind = output.get("output_type")
    if kind in ("stream", "error"):
        return output
    if kind not in ("display_data", "execute_result"):
        return None
    data = output.get("data", {})
    kept = {}
    for mime in SHOWN_MIME_TYPES:
        value = data.get(mime)
        value = "".join(value) if isinstance(value, list) else value
        if isinstance(value, str) and (mime != "image/png" or _BASE64.fullmatch(value)):
            kept[mime] = value
    if not kept:
        removed = ", ".join(sorted(str(m) for m in data)) or "no data"
        kept["text/plain"] = f"[an output the feedback page does not show: {removed}]"
    output.data, output.metadata = nbformat.from_dict(kept), nbformat.from_dict({})
    output.pop("transient", None)
    return output


def clean_html(element) -> str:
    """nbconvert's `clean_html` filter, stricter: an allow-list of harmless tags and
    attributes; links only to `#fragments` of the page, images only as PNG `data:` URLs."""
    import bleach

    def allowed(tag: str, name: str, value: str) -> bool:
        if name == "href":
            return tag == "a" and value.startswith("#")
        if name == "src":
            return tag == "img" and value.startswith("data:image/png;base64,")
        return name in _SAFE_ATTRIBUTES

    text = element.decode() if isinstance(element, bytes) else str(element)
    cleaner = bleach.sanitizer.Cleaner(
        tags=_SAFE_TAGS, attributes=allowed, protocols={"data"}, strip=True, strip_comments=True
    )
    return cleaner.clean(text)


def render_notebook(nb) -> tuple[str | None, str | None]:
    """The notebook as a sanitised HTML page (see the module docstring), or (None, why it
    could not be rendered)."""
    try:
        from nbconvert import HTMLExporter

        exporter = HTMLExporter(
            template_name=NBCONVERT_TEMPLATE, extra_template_basedirs=[str(TEMPLATES)],
            sanitize_html=True, filters={"clean_html": clean_html},
        )  # fmt: skip
        resources = {
            "content_security_policy": CONTENT_SECURITY_POLICY,
            "metadata": {"name": "Lab feedback"},  # the page title, unless the notebook sets one
        }
        page, _ = exporter.from_notebook_node(safe_notebook(nb), resources=resources)
    except Exception as exc:  # noqa: BLE001 - a broken notebook still gets its grade page
        return None, str(exc)[:300]
    if CONTENT_SECURITY_POLICY not in page.split("</head>", 1)[0]:
        return None, f"the {NBCONVERT_TEMPLATE} template did not add the page's security policy"
    return with_alt_text(page), None


def write_feedback(outcome: Outcome, dest: Path) -> None:
    """The student's executed notebook as HTML (sanitised), headed by the score breakdown."""
    import base64

    from markupsafe import Markup

    page, error = (
        render_notebook(outcome.notebook) if outcome.notebook is not None else (None, None)
    )
    values = {
        "student": outcome.student,
        "score": _num(outcome.score),
        "max_score": _num(outcome.max_score),
        "status": outcome.status,
        "explanation": STATUSES.get(outcome.status, ""),
        "items": [
            {"label": label, "earned": _num(earned), "points": _num(points), "note": str(note)}
            for label, points, earned, note in outcome.items
        ],
        "failures": outcome.failures,
        "notes": outcome.notes,
        "composite": base64.b64encode(outcome.composite).decode() if outcome.composite else None,
    }
    template = _template()
    match = re.search(r"<body[^>]*>", page or "")
    if match:
        header = template.render(**values, standalone=False)
        page = page[: match.end()] + header + page[match.end() :]
    else:  # a page of its own; nbconvert's (sanitised) markup, if any, goes in as markup
        notebook_html = Markup(page) if page else None
        page = template.render(**values, standalone=True, notebook_html=notebook_html, error=error,
                               content_security_policy=CONTENT_SECURITY_POLICY)  # fmt: skip
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(page, encoding="utf-8", errors="backslashreplace")


# ------------------------------------------------------------------------------ grades


def read_grades(path: Path) -> list[dict]:
    """The rows of a grades.csv (empty if missing)."""
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8", errors="backslashreplace") as handle:
        rows = list(csv.DictReader(handle))
    if rows and set(CSV_COLUMNS) - set(rows[0]):
        raise GradingError(f"{path}: not a grades.csv (columns {', '.join(rows[0])}).")
    return [{k: from_csv_cell(v or "") for k, v in row.items() if k is not None} for row in rows]


def write_grades(path: Path, rows: list[dict]) -> None:
    """Write grades.csv sorted by student."""
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for row in sorted(rows, key=lambda r: r["student"]):
            writer.writerow({k: csv_cell(row.get(k, "")) for k in CSV_COLUMNS})
    os.replace(tmp, path)


def write_summary(out: Path, rows: list[dict], note: str = "") -> None:
    """summary.md and score_distribution.png for all graded rows."""
    scores = [float(r["score"]) for r in rows if r["score"] != ""]
    max_score = max((float(r["max_score"]) for r in rows if r["max_score"]), default=0)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    lines = ["# Lab grades", "", note, "", f"Students graded: {len(rows)}"]
    if scores:
        ordered = sorted(scores)
        median = (
            ordered[len(ordered) // 2]
            if len(ordered) % 2
            else sum(ordered[len(ordered) // 2 - 1 : len(ordered) // 2 + 1]) / 2
        )
        lines.append(f"Score (out of {_num(max_score)}): mean {sum(scores) / len(scores):.1f}, "
                     f"median {median:.1f}, min {_num(min(scores))}, max {_num(max(scores))}")  # fmt: skip
    lines += ["", "| status | students | meaning |", "|---|---|---|"]
    lines += [f"| {markdown_text(s)} | {n} | {STATUSES.get(s, '')} |"
              for s, n in sorted(counts.items())]  # fmt: skip
    problems = [r for r in rows if r["status"] != "ok"]
    if problems:
        lines += [
            "",
            "## Submissions with problems",
            "",
            "| student | status | reason |",
            "|---|---|---|",
        ]
        lines += [
            f"| {markdown_text(r['student'])} | {markdown_text(r['status'])} | "
            f"{markdown_text(r['reason'][:200])} |"
            for r in problems
        ]
    lines += ["", "![score distribution](score_distribution.png)", ""]
    (out / "summary.md").write_text("\n".join(lines), encoding="utf-8", errors="backslashreplace")
    plot_scores(scores, max_score, out / "score_distribution.png")


def plot_scores(scores: list[float], max_score: float, dest: Path) -> None:
    """A titled histogram of the scores."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    top = max_score or 100
    ax.hist(scores, bins=[top * i / 20 for i in range(21)], color="#4477aa", edgecolor="white")
    ax.set_title(f"Lab score distribution ({len(scores)} students)")
    ax.set_xlabel(f"score (out of {_num(top)})")
    ax.set_ylabel("students")
    ax.set_xlim(0, top)
    fig.tight_layout()
    fig.savefig(dest, dpi=100)
    plt.close(fig)
