"""The instructor grader: rubric, submissions, statuses, and a hostile batch in the sandbox."""

from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
import socket
import threading
import time
import zipfile
from pathlib import Path

import nbformat
import pytest
from submissions import builders as b
from test_sandbox import require_sandbox

from segcourse import grader
from segcourse.grader import sandbox as sb
from segcourse.grader import worker

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "lab" / "solution" / "body_segmentation.ipynb"
NORWEGIAN_REFERENCE = ROOT / "lab" / "nb" / "solution" / "body_segmentation.ipynb"


# ------------------------------------------------------------------------------ fast unit tests


def test_rubric_totals_100_and_thresholds_are_ordered():
    rubric = grader.load_rubric(ROOT / "lab" / "rubric.toml")
    assert rubric.max_score == 100
    assert [t["at_least"] for t in rubric.data["iou"]] == [0.5, 0.7, 0.8, 0.85, 0.92]


def test_bad_rubric_names_the_file(tmp_path):
    bad = tmp_path / "rubric.toml"
    bad.write_text("[run]\npoints = 'many'\n")
    with pytest.raises(grader.GradingError, match="rubric.toml"):
        grader.load_rubric(bad)


@pytest.mark.parametrize(
    "members, links",
    [
        ({"../evil.txt": "x"}, None),
        ({"/etc/evil": "x"}, None),
        ({"a/../../evil": "x"}, None),
        ({"body_segmentation.ipynb": "{}"}, {"data": "/etc/passwd"}),
    ],
)
def test_unsafe_zips_are_refused_without_writing_outside(tmp_path, members, links):
    path = b.write_zip(tmp_path, "student", members, links)
    dest = tmp_path / "x" / "work"
    with pytest.raises(grader.Problem) as info:
        grader.unpack(grader.Submission("student", path), dest)
    assert info.value.status == "unsafe_zip"
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "x" / "evil.txt").exists()


def test_zip_bomb_is_capped(tmp_path, monkeypatch):
    monkeypatch.setattr(grader.submissions, "MAX_SUBMISSION_MB", 1)
    path = b.write_zip(tmp_path, "bomb", {"big.bin": b"\0" * (3 * 2**20)})
    with pytest.raises(grader.Problem, match="MB"):
        grader.unpack(grader.Submission("bomb", path), tmp_path / "w")


def test_notebook_choice(tmp_path):
    one = b.write_folder(tmp_path, "one", None, {"my_lab.ipynb": "{}"})
    assert grader.pick_notebook(one, "body_segmentation.ipynb").name == "my_lab.ipynb"
    two = b.write_folder(tmp_path, "two", b.weak(), {"scratch.ipynb": "{}"})
    assert grader.pick_notebook(two, "body_segmentation.ipynb").name == "body_segmentation.ipynb"
    many = b.write_folder(tmp_path, "many", None, {"a.ipynb": "{}", "b.ipynb": "{}"})
    with pytest.raises(grader.Problem, match="2 notebooks"):
        grader.pick_notebook(many, "body_segmentation.ipynb")


def test_parameters_are_injected_after_the_parameters_cell():
    nb = grader.inject_parameters(nbformat.from_dict(b.weak()), {"EPOCHS": 2, "MADS_ROOT": None})
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert tags.index(["injected-parameters"]) == tags.index(["parameters"]) + 1
    assert "EPOCHS = 2\nMADS_ROOT = None" in nb.cells[tags.index(["injected-parameters"])].source


def test_injected_values_keep_their_python_type_and_go_first_without_a_parameters_cell():
    nb = b.notebook("print(IMAGE_SIZE)", parameters=None)
    nb = grader.inject_parameters(nb, {"IMAGE_SIZE": (64, 96), "OUTPUT_DIR": "."})
    assert nb.cells[0].metadata.tags == ["injected-parameters"]
    scope: dict = {}
    exec(nb.cells[0].source, scope)
    assert scope["IMAGE_SIZE"] == (64, 96) and scope["OUTPUT_DIR"] == "."
    again = grader.inject_parameters(nb, {"IMAGE_SIZE": (32, 48)})  # replaces, never stacks
    injected = [c for c in again.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "(32, 48)" in injected[0].source


def test_feedback_page_escapes_every_value_and_describes_every_image(tmp_path):
    import io

    from PIL import Image

    nb = b.notebook("print(1)")
    nb.cells[-1].outputs = [
        nbformat.v4.new_output(
            "display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}
        )
    ]
    png = io.BytesIO()
    Image.new("RGB", (20, 20)).save(png, format="PNG")
    outcome = grader.Outcome(
        "<b>eve</b>",
        status="cell_error",
        score=5,
        max_score=100,
        failures=["<script>alert(1)</script>"],
        notebook=nb,
        items=[("runs <ok>", 15, 0, "a & b")],
        composite=png.getvalue(),
    )
    for notebook in (nb, None):
        outcome.notebook = notebook
        grader.write_feedback(outcome, tmp_path / "page.html")
        page = (tmp_path / "page.html").read_text()
        assert "<b>eve</b>" not in page and "&lt;b&gt;eve&lt;/b&gt;" in page
        assert "<script>alert(1)" not in page and "runs &lt;ok&gt;" in page and "a &amp; b" in page
        images = re.findall(r"<img\b[^>]*>", page)
        assert len(images) == (2 if notebook else 1)
        assert all(re.search(r"\balt=\"[^\"]+\"", tag) for tag in images), images


def test_shards_are_stable_and_cover_everyone():
    students = [f"s{i:03d}" for i in range(60)]
    shards = [grader.shard_of(s, 3) for s in students]
    assert shards == [grader.shard_of(s, 3) for s in students]
    assert set(shards) == {1, 2, 3}
    with pytest.raises(grader.GradingError):
        grader.parse_shard("4/3")


def test_execute_refuses_without_sandbox(tmp_path, monkeypatch):
    monkeypatch.setattr(sb, "sandbox_problem", lambda: "bwrap is not installed")
    (tmp_path / "subs").mkdir()
    with pytest.raises(grader.GradingError, match="--no-sandbox"):
        grader.grade(tmp_path / "subs", tmp_path / "hidden", tmp_path / "out")


def test_merge_combines_shards(tmp_path):
    for i, name in enumerate(("a", "b")):
        out = tmp_path / f"out{i}"
        out.mkdir()
        row = dict.fromkeys(grader.CSV_COLUMNS, "")
        row.update(student=name, status="ok", score=str(50 + i), max_score="100")
        grader.write_grades(out / "grades.csv", [row])
    assert (
        grader.main(
            [
                "--merge",
                str(tmp_path / "out0"),
                str(tmp_path / "out1"),
                "--out",
                str(tmp_path / "all"),
            ]
        )
        == 0
    )
    rows = grader.read_grades(tmp_path / "all" / "grades.csv")
    assert [(r["student"], r["score"]) for r in rows] == [("a", "50"), ("b", "51")]
    assert (tmp_path / "all" / "summary.md").is_file()
    assert (tmp_path / "all" / "score_distribution.png").stat().st_size > 1000


# ------------------------------------------------------------------------------ the batch


def snapshot(*folders: Path) -> dict:
    """Hash and mtime of every file under the folders."""
    state = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            info = path.lstat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
            state[str(path)] = (digest, info.st_mtime_ns, info.st_mode)
    return state


class Listener:
    """A local TCP server that records whether anything ever connected."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.5)
        self.port, self.hits, self.stop = self.sock.getsockname()[1], 0, False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
                self.hits += 1
                conn.close()
            except OSError:
                pass


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """Stand-in training data in a private cache and hidden test frames with a secret file."""
    from segcourse.synth import synth_mads

    root = tmp_path_factory.mktemp("course")
    cache = root / "cache"
    synth_mads(cache / "synthetic" / "mads", n=64, seed=0, progress=False)
    hidden = synth_mads(root / "instructor" / "hidden-frames", n=10, seed=7, progress=False)
    (hidden / "SECRET-hidden-marker.txt").write_text("the hidden answers")
    old = os.environ.get("SEGCOURSE_CACHE")
    os.environ["SEGCOURSE_CACHE"] = str(cache)
    yield root, hidden
    if old is None:
        os.environ.pop("SEGCOURSE_CACHE", None)
    else:
        os.environ["SEGCOURSE_CACHE"] = old


def lambda_model_bytes(tmp: Path) -> bytes:
    """A model.keras holding a Lambda layer (its code would run on load without safe_mode)."""
    import keras

    inputs = keras.Input((64, 96, 3))
    outputs = keras.layers.Lambda(lambda t: t[..., :1] * 0.0)(inputs)
    keras.Model(inputs, outputs).save(tmp / "lambda.keras")
    return (tmp / "lambda.keras").read_bytes()


def test_hostile_batch_grades_to_completion(course, tmp_path):
    require_sandbox()
    root, hidden = course
    subs, out = root / "submissions", root / "grades-out-4f1c"
    shutil.rmtree(subs, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    subs.mkdir()
    listener = Listener()
    marker = "MARKER-of-honest-student.txt"
    b.write_folder(subs, "honest", b.honest(), {marker: "mine"})
    weak = b.notebook_bytes(b.weak())
    b.write_zip(subs, "weak", {"weak/body_segmentation.ipynb": weak})
    expected = {"honest": "ok", "weak": "ok"}

    def add(student, nb, status, files=None):
        b.write_folder(subs, student, nb, files)
        expected[student] = status

    add("membomb", b.hostile(b.MEMORY_BOMB), "memory")
    add("forkbomb", b.hostile(b.FORK_BOMB), "cell_error")
    add("sysexit", b.hostile(b.SYS_EXIT), "cell_error")
    add("osexit", b.hostile(b.OS_EXIT), "kernel_died")
    add("segfault", b.hostile(b.SEGFAULT), "kernel_died")
    add("hugeoutput", b.hostile(b.HUGE_OUTPUT), "no_model")
    hidden_file = next(hidden.rglob("*.png"))
    add("readhidden", b.hostile(b.read_file(hidden_file) + b.list_folder(hidden)), "no_model")
    add(
        "readother",
        b.hostile(b.read_file(subs / "honest" / marker) + b.list_folder(subs)),
        "no_model",
    )
    names = ["SECRET-hidden-marker.txt", marker, out.name, "hidden-frames"]
    add("searchdisk", b.hostile(b.search_disk(names)), "no_model")
    targets = [
        subs / "honest" / "pwned.txt",
        hidden / "pwned.txt",
        root / "pwned.txt",
        ROOT / "pwned.txt",
        Path.home() / "pwned-by-student.txt",
    ]
    add("writeout", b.hostile(b.write_outside(targets)), "no_model")
    add("network", b.hostile(b.network(listener.port)), "no_model")
    add(  # the run saves it: a model.keras handed in is removed before the re-run
        "lambda",
        b.hostile("import shutil\nshutil.copyfile('lambda.bin', 'model.keras')"),
        "model_unsafe",
        {"lambda.bin": lambda_model_bytes(tmp_path)},
    )
    b.write_zip(subs, "zipslip", {"body_segmentation.ipynb": weak, "../../escaped.txt": "x"})
    b.write_bare(subs, "malformed", '{"cells": [ not json')
    b.write_folder(subs, "nonotebook", None, {"README.md": "forgot it"})
    expected.update(zipslip="unsafe_zip", malformed="invalid_notebook", nonotebook="no_notebook")

    before = snapshot(subs, hidden)
    top_before = sorted(p.name for p in root.iterdir())
    rows = grader.grade(
        subs,
        hidden,
        out,
        timeout=150,
        memory_gb=6,
        jobs=2,
        profile="ci",
        progress=False,
        keep_models=True,
    )
    listener.stop = True
    got = {r["student"]: r for r in rows}
    assert {s: got[s]["status"] for s in expected} == expected, {s: got[s]["reason"] for s in got}
    for student, row in got.items():
        assert "LEAK" not in row["reason"], (student, row["reason"])
        assert (out / "feedback" / f"{student}.html").is_file()
    assert "BlockingIOError" in got["forkbomb"]["reason"]
    assert "SystemExit" in got["sysexit"]["reason"]
    assert "Lambda" in got["lambda"]["reason"] or "safe_mode" in got["lambda"]["reason"]
    huge = (out / "feedback" / "hugeoutput.html").read_text()
    assert "output truncated by the grader" in huge and len(huge) < 15 * 2**20
    assert listener.hits == 0
    # nothing outside OUT and the temporary folders changed
    assert snapshot(subs, hidden) == before
    assert sorted(p.name for p in root.iterdir() if p != out) == top_before
    assert not any(t.exists() for t in targets) and not (root / "escaped.txt").exists()
    leftovers = [p for p in Path(os.environ.get("TMPDIR", "/tmp")).glob("segcourse-grade-*")]
    assert leftovers == []
    # honest beats weak, and the score equals a direct evaluation of the same model
    honest, weak_row = got["honest"], got["weak"]
    assert float(honest["score"]) > float(weak_row["score"]) and float(honest["score"]) >= 55
    assert float(honest["iou"]) > float(weak_row["iou"])
    direct = worker.evaluate_model(out / "models" / "honest.keras", hidden, (64, 96))
    assert abs(direct["iou"] - float(honest["iou"])) < 1e-4
    with open(out / "grades.csv", newline="") as handle:
        assert next(csv.reader(handle)) == grader.CSV_COLUMNS
    assert "score distribution" in (out / "summary.md").read_text()
    # re-running skips finished students; --no-execute grades the stored outputs
    again = grader.grade(subs, hidden, out, timeout=150, jobs=2, profile="ci", progress=False)
    assert {r["student"]: r["status"] for r in again} == {s: got[s]["status"] for s in got}


def test_endless_notebook_is_stopped_at_the_timeout_and_the_batch_goes_on(course, tmp_path):
    """Kept out of the hostile batch, whose honest notebook needs a long timeout to train."""
    require_sandbox()
    _, hidden = course
    subs = tmp_path / "subs"
    b.write_folder(subs, "loop", b.hostile(b.INFINITE_LOOP))
    b.write_bare(subs, "malformed", '{"cells": [ not json')
    started = time.monotonic()
    rows = grader.grade(subs, hidden, tmp_path / "out", timeout=8, profile="ci", progress=False)
    got = {r["student"]: r for r in rows}
    assert got["loop"]["status"] == "timeout", got["loop"]
    assert got["malformed"]["status"] == "invalid_notebook"
    assert time.monotonic() - started < 120  # the loop was killed at its deadline, not waited for


def test_no_execute_grades_submitted_files(course, tmp_path):
    require_sandbox()
    root, hidden = course
    subs = tmp_path / "subs"
    nb = b.weak()
    nb["cells"][-1]["outputs"] = [
        nbformat.v4.new_output("error", ename="ValueError", evalue="boom", traceback=[])
    ]
    nb["cells"][-1]["execution_count"] = 1
    b.write_folder(subs, "crashed", nb, {"model.keras": lambda_model_bytes(tmp_path)})
    rows = grader.grade(subs, hidden, tmp_path / "out", execute=False, profile="ci", progress=False)
    assert rows[0]["status"] == "cell_error" and "ValueError: boom" in rows[0]["reason"]
    assert "Lambda" in rows[0]["reason"] or "safe_mode" in rows[0]["reason"]


def as_executed(path: Path) -> dict:
    """The notebook at `path` as if it had run: each code cell numbered, with one output line."""
    nb = nbformat.read(path, as_version=4)
    for count, cell in enumerate((c for c in nb.cells if c.cell_type == "code"), start=1):
        cell.execution_count = count
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"cell {count}\n")]
    return nb


def test_a_norwegian_hand_in_is_graded_like_the_english_one(course, tmp_path):
    """The generated Norwegian reference solution, as handed in, gets the English one's grade."""
    import io

    import keras
    from PIL import Image

    _root, hidden = course
    inputs = keras.Input((64, 96, 3))  # the ci profile's image size
    outputs = keras.layers.Conv2D(1, 1, kernel_initializer="zeros", bias_initializer="ones")(inputs)
    keras.Model(inputs, outputs).save(tmp_path / "model.keras")
    png = io.BytesIO()
    Image.new("RGB", (48, 32), "green").save(png, format="PNG")
    files = {
        "model.keras": (tmp_path / "model.keras").read_bytes(),
        "results.json": '{"test_iou": 0.4, "test_dice": 0.55, "test_frames": 10}',
        "composite.png": png.getvalue(),
    }
    subs = tmp_path / "subs"
    for student, notebook in (("english", REFERENCE), ("norwegian", NORWEGIAN_REFERENCE)):
        b.write_folder(subs, student, as_executed(notebook), files)
        broken = as_executed(notebook)
        check = next(c for c in broken.cells if "lab.check_evaluation" in c.source)
        check.outputs = [
            nbformat.v4.new_output("error", ename="SelfCheckError", evalue="Task 4", traceback=[])
        ]
        b.write_folder(subs, f"{student}-broken", broken, files)
    rows = grader.grade(
        subs,
        hidden,
        tmp_path / "out",
        execute=False,
        sandbox=False,
        profile="ci",
        jobs=2,
        progress=False,
    )
    got = {row["student"]: row for row in rows}
    for kind in ("", "-broken"):
        english, norwegian = got[f"english{kind}"], got[f"norwegian{kind}"]
        for key in ("status", "score", "reason"):
            assert english[key] == norwegian[key], (kind, key)
    assert got["english"]["status"] == "ok" and float(got["english"]["score"]) > 0
    assert got["english-broken"]["status"] == "cell_error"
    assert "Self-check for Task 4" in got["norwegian-broken"]["reason"]


@pytest.mark.skipif(not REFERENCE.is_file(), reason="the lab's reference solution is not there yet")
def test_reference_solution_scores_like_a_direct_evaluation(course, tmp_path, monkeypatch):
    require_sandbox()
    root, hidden = course
    # the reference trains on the full-size stand-in (its self-checks need a learnable set)
    monkeypatch.setenv("SEGCOURSE_CACHE", str(tmp_path / "cache"))
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copytree(REFERENCE.parent, subs / "reference")
    rows = grader.grade(
        subs,
        hidden,
        tmp_path / "out",
        timeout=900,
        memory_gb=8,
        profile="ci",
        progress=False,
        keep_models=True,
    )
    row = rows[0]
    assert row["status"] == "ok", row["reason"]
    direct = worker.evaluate_model(
        tmp_path / "out" / "models" / "reference.keras", hidden, (64, 96)
    )
    assert abs(direct["iou"] - float(row["iou"])) < 1e-4
    assert float(row["score"]) >= 55  # runs, model, results and composite at least


def test_cli_requires_paths():
    with pytest.raises(SystemExit):
        grader.main(["subs"])


def test_zip_of_a_folder_unpacks_to_its_root(tmp_path):
    path = tmp_path / "s.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("s/body_segmentation.ipynb", "{}")
        archive.writestr("__MACOSX/s/._body_segmentation.ipynb", "junk")
    root = grader.unpack(grader.Submission("s", path), tmp_path / "w")
    assert (root / "body_segmentation.ipynb").is_file()
