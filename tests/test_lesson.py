"""The lesson text: links resolve, English and bokmål match, the figure script is byte-stable."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
LESSON = ROOT / "lesson"
ENGLISH, BOKMAL = LESSON / "README.md", LESSON / "README.nb.md"
MAX_FIGURE_BYTES = 200 * 1024

FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
MD_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
MD_IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?")
HTML_LINK = re.compile(r"""<(?:a|img)\b[^>]*?\b(?:href|src)=["']([^"']+)["']""", re.IGNORECASE)
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)


def prose(path: Path) -> str:
    """The Markdown text without code blocks and inline code (links there are not links)."""
    return INLINE_CODE.sub("", FENCE.sub("", path.read_text(encoding="utf-8")))


def links(path: Path) -> list[str]:
    """Every Markdown and HTML link or image target in a file."""
    text = prose(path)
    return MD_LINK.findall(text) + HTML_LINK.findall(text)


def headings(path: Path) -> list[tuple[int, str]]:
    """(level, text) of every heading, in order."""
    return [(len(h), t) for h, t in HEADING.findall(prose(path))]


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[*_`]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def sections(path: Path) -> list[str]:
    """The text of each level-2 section (from its heading to the next level-1/2 heading)."""
    parts = re.split(r"^#{1,2}\s", prose(path), flags=re.MULTILINE)
    return parts[1:]


def quizzes(path: Path) -> list[str]:
    """The level-2 sections that hold answer blocks: the pre- and the post-lesson quiz."""
    return [s for s in sections(path) if "<details>" in s]


def load_figure_script():
    """lesson/make_figures.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("make_figures", LESSON / "make_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DOCUMENTS = [ENGLISH, BOKMAL, ROOT / "README.md"]


@pytest.mark.parametrize("doc", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc):
    assert doc.is_file(), f"{doc} is missing"
    broken = []
    anchors = {github_slug(text) for _, text in headings(doc)}
    for target in links(doc):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        if not path:
            if anchor not in anchors:
                broken.append(f"#{anchor} (no heading with that anchor)")
            continue
        if not (doc.parent / path).exists():
            broken.append(path)
    assert not broken, f"{doc.relative_to(ROOT)} links to missing targets: {sorted(set(broken))}"


def test_top_level_readme_sends_students_to_the_lesson():
    assert "lesson/README.md" in links(ROOT / "README.md")


def test_both_languages_have_the_same_section_structure():
    english, bokmal = headings(ENGLISH), headings(BOKMAL)
    assert [level for level, _ in english] == [level for level, _ in bokmal], (
        "lesson/README.md and lesson/README.nb.md must have the same headings, level by level"
    )
    assert len(english) >= 10


def test_quizzes_have_5_to_8_answered_questions_in_both_languages():
    sizes = {}
    for doc in (ENGLISH, BOKMAL):
        found = quizzes(doc)
        assert len(found) == 2, (
            f"{doc.name}: expected a pre- and a post-lesson quiz, found {len(found)}"
        )
        sizes[doc.name] = []
        for quiz in found:
            answers = re.findall(r"<details>(.*?)</details>", quiz, re.DOTALL)
            questions = re.findall(r"^\*\*\d+\.", quiz, re.MULTILINE)
            assert len(answers) == quiz.count("<details>"), f"{doc.name}: unclosed <details>"
            assert len(questions) == len(answers), (
                f"{doc.name}: {len(questions)} numbered questions but {len(answers)} answers"
            )
            for answer in answers:
                summary, _, body = answer.partition("</summary>")
                assert "<summary>" in summary, f"{doc.name}: an answer block has no <summary>"
                assert len(body.strip()) > 20, f"{doc.name}: an answer block has no explanation"
            sizes[doc.name].append(len(answers))
            assert 5 <= len(answers) <= 8, f"{doc.name}: a quiz has {len(answers)} questions"
    assert sizes[ENGLISH.name] == sizes[BOKMAL.name], sizes


def test_both_languages_show_every_generated_figure_in_the_same_order():
    expected = sorted(load_figure_script().FIGURES)
    shown = {}
    for doc in (ENGLISH, BOKMAL):
        images = [t for t in MD_IMAGE.findall(prose(doc)) if t.startswith("figures/")]
        shown[doc.name] = images
        assert sorted(Path(t).name for t in images) == expected, (
            f"{doc.name} must show each generated figure exactly once"
        )
    assert shown[ENGLISH.name] == shown[BOKMAL.name]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The figure script run twice into fresh folders."""
    outs = []
    for run in ("first", "second"):
        out = tmp_path_factory.mktemp(run)
        result = subprocess.run(
            [sys.executable, str(LESSON / "make_figures.py"), "--out", str(out)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, f"make_figures.py failed:\n{result.stderr[-3000:]}"
        outs.append(out)
    return outs


def test_figure_script_writes_every_figure_small(two_runs):
    expected = sorted(load_figure_script().FIGURES)
    for out in two_runs:
        written = sorted(p.name for p in out.iterdir())
        assert written == expected
        for name in written:
            size = (out / name).stat().st_size
            assert 0 < size < MAX_FIGURE_BYTES, f"{name} is {size / 1024:.0f} KB"


def test_figure_script_is_byte_stable(two_runs):
    first, second = two_runs
    for path in sorted(first.iterdir()):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert digest == hashlib.sha256((second / path.name).read_bytes()).hexdigest(), (
            f"{path.name} differs between two runs"
        )


def test_committed_figures_match_a_fresh_run(two_runs):
    fresh = two_runs[0]
    for path in sorted(fresh.iterdir()):
        committed = LESSON / "figures" / path.name
        assert committed.is_file(), f"{committed} missing: run python lesson/make_figures.py"
        with Image.open(path) as new, Image.open(committed) as old:
            assert new.size == old.size, f"{path.name}: run python lesson/make_figures.py"
            new_grey = np.asarray(new.convert("L"), dtype=float)
            old_grey = np.asarray(old.convert("L"), dtype=float)
        # Tolerant of font-rendering details across matplotlib patch releases, not of new content.
        difference = float(np.abs(new_grey - old_grey).mean())
        assert difference < 2.0, (
            f"{path.name} is out of date (mean grey difference {difference:.1f}): "
            "run python lesson/make_figures.py"
        )


def test_unknown_figure_name_is_refused(tmp_path):
    result = subprocess.run(
        [sys.executable, str(LESSON / "make_figures.py"), "--out", str(tmp_path), "99_nope.png"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "99_nope.png" in result.stderr
    assert not list(tmp_path.iterdir())
