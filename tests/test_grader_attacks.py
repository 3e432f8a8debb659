"""Attacks on the grader from issue 11: each test builds the attack and checks it is handled."""

from __future__ import annotations

import csv
import io
import json
import os
import threading
from pathlib import Path

import nbformat
import pytest
from submissions import builders as b
from test_grading import course, lambda_model_bytes  # noqa: F401 - a shared fixture
from test_sandbox import require_sandbox

from segcourse import grader
from segcourse.grader import handin, safefs
from segcourse.grader import sandbox as sb

DEPTH = 1500  # deeper than Python's recursion limit


def png_bytes(size=(64, 64)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def weak_model_bytes(tmp: Path) -> bytes:
    """A valid (weak) model.keras, as a student might hand in."""
    import keras

    inputs = keras.Input((64, 96, 3))
    outputs = keras.layers.Conv2D(1, 1, bias_initializer="ones")(inputs)
    keras.Model(inputs, outputs).save(tmp / "weak.keras")
    return (tmp / "weak.keras").read_bytes()


def grade_quick(subs: Path, hidden: Path, out: Path, **kw) -> dict:
    """--no-execute (nothing runs): rows by student."""
    kw = {"execute": False, "profile": "ci", "progress": False, **kw}
    return {r["student"]: r for r in grader.grade(subs, hidden, out, **kw)}


def make_deep(root: Path, depth: int, name: str = "a") -> None:
    """`depth` nested folders under root, made without recursion or long paths."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir(name, dir_fd=fd)
            inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
        with open(os.open("leaf.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as f:
            f.write("deep")
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------ (3) capabilities


def test_every_sandbox_drops_all_capabilities(course, tmp_path, monkeypatch):  # noqa: F811
    require_sandbox()
    _, hidden = course
    subs = tmp_path / "subs"
    b.write_folder(subs, "weak", b.weak())
    real = sb.sandboxed_python
    probes = []

    def probing(module_args, **kw):
        exchange = next(src for src, dest in kw["rw"].items() if dest == sb.INSIDE_GRADER)
        run = real(["probe", str(sb.INSIDE_GRADER / "probe.json")], **kw)
        found = Path(exchange) / "probe.json"
        probes.append((module_args[0], json.loads(found.read_text()) if found.is_file() else run))
        found.unlink(missing_ok=True)
        return real(module_args, **kw)

    monkeypatch.setattr(sb, "sandboxed_python", probing)
    rows = grader.grade(subs, hidden, tmp_path / "out", timeout=150, profile="ci", progress=False)
    assert rows[0]["status"] == "ok", rows[0]["reason"]
    assert [kind for kind, _ in probes] == ["notebook", "evaluate"], probes
    for kind, probe in probes:
        assert isinstance(probe, dict), (kind, probe)
        assert probe["CapEff"] == 0 and probe["CapPrm"] == 0 and probe["CapAmb"] == 0, (kind, probe)
        if os.geteuid() == 0:
            assert probe["uid"] != 0 and probe["gid"] != 0, (kind, probe)


def test_bwrap_is_told_to_drop_every_capability():
    args = sb.bwrap_args(protected=[], rw={}, ro={}, env={}, chdir=sb.INSIDE_TMP,
                         limits=sb.Limits(), switch_uid=False)  # fmt: skip
    assert args[args.index("--cap-drop") + 1] == "ALL"


# ------------------------------------------------------------------------------ (6) stale files


def test_submitted_output_files_are_not_graded_under_execute(course, tmp_path):  # noqa: F811
    require_sandbox()
    _, hidden = course
    subs = tmp_path / "subs"
    files = {
        "model.keras": weak_model_bytes(tmp_path),
        "results.json": json.dumps({"test_iou": 0.9, "test_dice": 0.95}),
        "composite.png": png_bytes(),
    }
    b.write_folder(subs, "lazy", b.hostile("print('saves nothing')"), files)
    rows = grader.grade(subs, hidden, tmp_path / "out", timeout=120, profile="ci", progress=False)
    row = rows[0]
    assert row["status"] == "no_model", row
    assert row["iou"] == "" and float(row["score"]) == 15, row  # only "runs without errors"
    assert (subs / "lazy" / "model.keras").is_file()  # the submission itself is unchanged


# ------------------------------------------------------------------------------ (5) image format


def test_postscript_named_png_is_refused_without_ghostscript(tmp_path, monkeypatch):
    from PIL import EpsImagePlugin

    calls = []

    def no_ghostscript(*args, **kwargs):
        calls.append(args)
        raise AssertionError("Ghostscript was started on a student file")

    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", no_ghostscript)
    monkeypatch.setattr(EpsImagePlugin, "has_ghostscript", lambda: True)
    eps = tmp_path / "composite.png"
    eps.write_bytes(
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\n%%EndComments\n"
        b"newpath 0 0 moveto 64 64 lineto stroke\nshowpage\n%%EOF\n"
    )
    outcome = grader.Outcome("eve")
    passed, note = handin.check_composite(eps, outcome)
    assert not passed and "PNG" in note and outcome.composite is None
    assert calls == []
    good = tmp_path / "good" / "composite.png"
    good.parent.mkdir()
    good.write_bytes(png_bytes())
    assert handin.check_composite(good, outcome)[0]


# ------------------------------------------------------------------------------ (4) deep nesting


def test_deep_nesting_cannot_stop_the_batch(course, tmp_path):  # noqa: F811
    require_sandbox()
    _, hidden = course
    subs = tmp_path / "subs"
    nb = b.notebook_bytes(b.hostile("print('fine')"))
    b.write_zip(subs.parent, "deepzip", {"body_segmentation.ipynb": nb,
                                         "a/" * DEPTH + "x.txt": "deep"})  # fmt: skip
    subs.mkdir()
    (subs.parent / "deepzip.zip").rename(subs / "deepzip.zip")
    make_deep(b.write_folder(subs, "deepdir", b.hostile("print('fine')")), DEPTH)
    burrow = """\
os.chdir(os.path.expanduser('~'))
for _ in range(3000):  # deeper than PATH_MAX allows as one path
    os.mkdir('d'); os.chdir('d')
print('made')
"""
    b.write_folder(subs, "burrow", b.hostile(burrow))
    b.write_folder(subs, "other", b.hostile("print('fine')"))
    try:
        rows = grader.grade(subs, hidden, tmp_path / "out", timeout=120, profile="ci",
                            progress=False)  # fmt: skip
    finally:
        safefs.remove_tree(subs / "deepdir")
    got = {r["student"]: r for r in rows}
    assert set(got) == {"deepzip", "deepdir", "burrow", "other"}
    assert got["deepzip"]["status"] == "unsafe_zip" and "deep" in got["deepzip"]["reason"]
    assert got["deepdir"]["status"] == "invalid_submission", got["deepdir"]
    assert "deep" in got["deepdir"]["reason"]
    assert got["burrow"]["status"] == "no_model" and got["other"]["status"] == "no_model"
    leftovers = list(Path(os.environ.get("TMPDIR", "/tmp")).glob("segcourse-grade-*"))
    assert leftovers == [], got["burrow"]["reason"]


def test_remove_tree_needs_no_recursion_and_no_short_paths(tmp_path):
    make_deep(tmp_path, 3000, name="d" * 20)  # 63 000 characters as one path
    safefs.remove_tree(tmp_path / ("d" * 20))
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ (9) names


def test_name_that_is_not_utf8_gets_a_row(course, tmp_path):  # noqa: F811
    _, hidden = course
    subs = tmp_path / "subs"
    subs.mkdir()
    b.write_folder(Path(os.fsdecode(bytes(subs) + b"/")), os.fsdecode(b"bad\xff"), b.weak())
    b.write_folder(subs, "good", b.weak())
    rows = grade_quick(subs, hidden, tmp_path / "out")
    assert set(rows) == {"bad\\xff", "good"} and rows["bad\\xff"]["status"] == "not_run"
    again = grader.read_grades(tmp_path / "out" / "grades.csv")
    assert sorted(r["student"] for r in again) == ["bad\\xff", "good"]


def test_formula_names_are_neutralised_in_grades_csv(course, tmp_path):  # noqa: F811
    _, hidden = course
    subs = tmp_path / "subs"
    names = ['=HYPERLINK("http:__evil")', "+1", "-2", "@SUM(A1)", "'quoted"]
    for name in names:
        b.write_folder(subs, name, b.weak())
    out = tmp_path / "out"
    grade_quick(subs, hidden, out)
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")], cells
    assert sorted(r["student"] for r in grader.read_grades(out / "grades.csv")) == sorted(names)
    again = grade_quick(subs, hidden, out)  # a re-run finds every student already graded
    assert sorted(again) == sorted(names)


def test_summary_escapes_markdown_html_and_newlines(course, tmp_path):  # noqa: F811
    import mistune

    _, hidden = course
    subs = tmp_path / "subs"
    evil = "x\n# Heading <img src=x onerror=alert(1)> [click](http:__evil) *b* | c"
    b.write_folder(subs, evil, b.weak())
    out = tmp_path / "out"
    grade_quick(subs, hidden, out)
    text = (out / "summary.md").read_text(encoding="utf-8")
    html = mistune.create_markdown(plugins=["table"])(text)
    assert html.count("<img") == 1  # the score plot only
    for tag in ("<a ", "<em", "<strong", "<h1>Heading", "<h1>x"):
        assert tag not in html, (tag, html)
    problems = text.split("## Submissions with problems")[1]
    assert len([ln for ln in problems.splitlines() if ln.startswith("|")]) == 3  # head, rule, row
    assert "onerror" in html  # shown as text, not dropped


def test_console_output_has_no_terminal_escapes(course, tmp_path, capsys):  # noqa: F811
    _, hidden = course
    subs = tmp_path / "subs"
    b.write_folder(subs, "evil\x1b]0;owned\x07\x1b[2J\x1b[31mred", b.weak())
    code = grader.main([str(subs), "--hidden", str(hidden), "--out", str(tmp_path / "out"),
                        "--no-execute", "--profile", "ci", "--quiet"])  # fmt: skip
    printed = capsys.readouterr()
    assert code == 0
    assert "evil" in printed.out and "red" in printed.out
    assert "\x1b" not in printed.out + printed.err and "\x07" not in printed.out + printed.err


def test_folder_beside_zip_of_the_same_name_both_get_rows(course, tmp_path):  # noqa: F811
    _, hidden = course
    subs = tmp_path / "subs"
    b.write_folder(subs, "dup", b.weak())
    b.write_zip(subs, "dup", {"body_segmentation.ipynb": b.weak()})
    rows = grade_quick(subs, hidden, tmp_path / "out")
    assert set(rows) == {"dup", "dup.zip"}
    assert all(r["status"] == "not_run" for r in rows.values())
    assert all("dup.zip" in r["reason"] and "dup/" in r["reason"] for r in rows.values())


def test_fifo_named_zip_is_refused_without_opening_it(course, tmp_path):  # noqa: F811
    _, hidden = course
    subs = tmp_path / "subs"
    b.write_folder(subs, "good", b.weak())
    os.mkfifo(subs / "x.zip")
    done: dict = {}
    worker = threading.Thread(
        target=lambda: done.update(grade_quick(subs, hidden, tmp_path / "out")), daemon=True
    )
    worker.start()
    worker.join(timeout=120)
    if worker.is_alive():  # unblock the grader stuck on the pipe, then fail
        fd = os.open(subs / "x.zip", os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        pytest.fail("the grader hung on a FIFO named x.zip")
    assert set(done) == {"good", "x"}
    assert done["x"]["status"] == "invalid_submission" and "regular" in done["x"]["reason"]


def test_dot_names_get_a_skipped_row(course, tmp_path):  # noqa: F811
    _, hidden = course
    subs = tmp_path / "subs"
    b.write_folder(subs, ".sneaky", b.weak())
    (subs / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    b.write_folder(subs, "good", b.weak())
    rows = grade_quick(subs, hidden, tmp_path / "out")
    assert set(rows) == {".sneaky", ".DS_Store", "good"}
    for name in (".sneaky", ".DS_Store"):
        assert rows[name]["status"] == "skipped" and "." in rows[name]["reason"], rows[name]
    assert rows["good"]["status"] == "not_run"
    assert "skipped" in grader.STATUSES


# ------------------------------------------------------------------------------ (1) symlinks


def test_output_folder_swapped_for_a_link_to_another_submission(course, tmp_path):  # noqa: F811
    require_sandbox()
    _, hidden = course
    subs = tmp_path / "subs"
    victim = b.write_folder(subs, "victim", b.weak(), {
        "model.keras": weak_model_bytes(tmp_path),
        "results.json": json.dumps({"test_iou": 0.9, "test_dice": 0.95}),
        "composite.png": png_bytes(),
    })  # fmt: skip
    swap = f"""\
here = os.getcwd()
os.chdir('/')
os.rename(here, here + '-old')
os.symlink({str(victim)!r}, here)
print('swapped')
"""
    nb = b.notebook_bytes(b.hostile(swap))
    b.write_zip(subs, "thief", {"thief/body_segmentation.ipynb": nb})
    rows = grader.grade(subs, hidden, tmp_path / "out", timeout=120, profile="ci",
                        progress=False, execute=True)  # fmt: skip
    got = {r["student"]: r for r in rows}
    assert got["thief"]["status"] == "no_model", got["thief"]
    assert got["thief"]["iou"] == "" and float(got["thief"]["score"]) <= 15, got["thief"]
    assert "link" in got["thief"]["reason"] or "outside" in got["thief"]["reason"]
    nbformat.read(victim / b.LAB_NOTEBOOK, as_version=4)  # the victim's files are untouched
