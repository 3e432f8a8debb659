"""Scores that measure the student's work (issue 11): points without learning are capped,
every claimed number is range-checked, a claimed test IoU is recomputed, and `--train-data`
never shares a frame with `--hidden`."""

from __future__ import annotations

import ast
import html
import io
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from submissions import builders as b
from test_grading import course  # noqa: F401 - a shared fixture
from test_sandbox import require_sandbox

from segcourse import grader
from segcourse.grader import handin, traindata
from segcourse.grader.rubric import score_items

ROOT = Path(__file__).resolve().parents[1]
RUBRIC = ROOT / "lab" / "rubric.toml"
SOLUTION = ROOT / "lab" / "solution" / "body_segmentation.ipynb"


def png_bytes() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (40, 160, 60)).save(buffer, format="PNG")
    return buffer.getvalue()


def constant_model_bytes(tmp: Path, bias: float) -> bytes:
    """A safe model.keras whose logits are `bias` everywhere: a constant mask (all person
    for bias > 0, all background for bias < 0), which learned nothing."""
    import keras

    inputs = keras.Input((64, 96, 3))
    outputs = keras.layers.Conv2D(1, 1, kernel_initializer="zeros",
                                  bias_initializer=keras.initializers.Constant(bias))(inputs)  # fmt: skip
    keras.Model(inputs, outputs).save(tmp / "constant.keras")
    return (tmp / "constant.keras").read_bytes()


def hand_in(results_json: str) -> str:
    """A notebook that "trains" nothing: it hands in the model, claims and figure it came with
    (copied, so that the re-run itself saves them), without importing Keras."""
    return f"""\
import shutil
shutil.copyfile('given.bin', 'model.keras')
shutil.copyfile('figure.bin', 'composite.png')
open('results.json', 'w').write({results_json!r})
print('handed in')
"""


def shipped_rubric_text() -> str:
    return RUBRIC.read_text(encoding="utf-8")


def rubric_with(tmp_path: Path, old: str, new: str) -> Path:
    """The shipped rubric with the line that starts with `old` changed (not a comment)."""
    text = shipped_rubric_text()
    assert "\n" + old in text, old
    path = tmp_path / "rubric.toml"
    path.write_text(text.replace("\n" + old, "\n" + new, 1), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ the rubric


def test_shipped_rubric_caps_what_needs_no_learning():
    rubric = grader.load_rubric(RUBRIC)
    assert rubric.max_score == 100
    assert rubric.points_without_learning <= 20
    assert rubric.data["learning"]["max_points_without_learning"] == 20


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("points_without_learning = 5", "points_without_learning = 10", "add up to 25"),
        ("points_without_learning = 0  # claims", "points_without_learning = 11  # claims",
         r"\[results\] needs `points_without_learning`, a number in \[0, 10\]"),
        ("margin = 0.0", "margni = 0.0", r"\[learning\] has unknown key\(s\) margni"),
        ('formats = ["PNG"]', 'formats = ["PostScript-ish"]', "not a format Pillow reads"),
        ('by = "sequence"', 'by = "camera"', "`by` must be one of frame, sequence"),
        ("SEED = 0", "SEEDS = 0", "`seed_parameter` must name an integer"),
        ("tolerance = 0.02", 'tolerance = "small"', "`tolerance`, a number in"),
        ("test_frames = [1, inf]", "test_frames = [5, 1]", "`test_frames` must be"),
        ("[composite]", "[compsite]", r"unknown key\(s\) compsite"),
    ],
)  # fmt: skip
def test_bad_rubric_is_refused_naming_table_and_key(tmp_path, old, new, message):
    path = rubric_with(tmp_path, old, new)
    with pytest.raises(grader.GradingError, match=message) as info:
        grader.load_rubric(path)
    assert str(path) in str(info.value)


def test_rubric_recomputes_with_the_split_of_the_lab_notebook():
    """[results.recompute] must describe the split whose test part the notebook scores."""
    recompute = grader.load_rubric(RUBRIC).recompute
    nb = nbformat.read(SOLUTION, as_version=4)
    calls = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Tuple)
                    and [getattr(e, "id", "") for e in node.targets[0].elts][-1] == "test"
                    and ast.unparse(node.value.func) == "segcourse.split"):  # fmt: skip
                calls.append({k.arg: ast.unparse(k.value) for k in node.value.keywords})
    assert len(calls) == 1, calls
    call = calls[0]
    assert float(call["val"]) == recompute["val"] and float(call["test"]) == recompute["test"]
    assert call["seed"] == recompute["seed_parameter"]
    assert call.get("groups") == ("data.sequence" if recompute["by"] == "sequence" else None)


# ------------------------------------------------------------------------------ claims


@pytest.mark.parametrize(
    "claims, key, why",
    [
        ('{"test_iou": NaN, "test_dice": 0.5}', "test_iou = nan", "is not finite"),
        ('{"test_iou": 0.8, "test_dice": Infinity}', "test_dice = inf", "is not finite"),
        ('{"test_iou": "0.9", "test_dice": 0.5}', "test_iou = '0.9'", "is not a number"),
        ('{"test_iou": true, "test_dice": 0.5}', "test_iou = True", "is not a number"),
        ('{"test_iou": 87.5, "test_dice": 0.5}', "test_iou = 87.5", "is outside [0, 1]"),
        ('{"test_iou": 0.8, "test_dice": -0.1}', "test_dice = -0.1", "is outside [0, 1]"),
        ('{"test_iou": 0.8, "test_dice": 0.9, "best_constant_iou": 3}', "best_constant_iou = 3",
         "is outside [0, 1]"),
        ('{"test_iou": 0.8, "test_dice": 0.9, "test_frames": 0}', "test_frames = 0",
         "is outside [1, inf]"),
        ('{"test_iou": 0.8, "test_dice": 0.9, "log": [{"loss": NaN}]}', "log[0].loss",
         "not finite"),
        ('{"test_dice": 0.9}', "looked for test_iou, iou", "has no iou"),
        ("[0.8, 0.9]", "results.json is not a JSON object", ""),
    ],
)  # fmt: skip
def test_bad_claims_get_no_points_and_a_reason(tmp_path, claims, key, why):
    (tmp_path / "results.json").write_text(claims)
    rubric = grader.load_rubric(RUBRIC)
    found = handin.read_claims(tmp_path / "results.json", rubric.section("results"), tmp_path)
    assert found.iou is None and found.dice is None
    assert any(key in p and why in p for p in found.problems), found.problems
    outcome = grader.Outcome("s", iou=0.9)  # a model that learned: only the claims are wrong
    checks = {"run": (True, "ran"), "model": (True, "ok"), "composite": (True, "saved"),
              "claims": found, "evaluation": {"baseline_iou": 0.1}}  # fmt: skip
    score_items(outcome, rubric, checks)
    results = next(i for i in outcome.items if "results.json" in i[0])
    assert results[2] == 0 and results[1] == 10
    assert key in "; ".join(outcome.failures) and key in results[3]  # the row's reason too


def test_valid_claims_score_and_a_mismatch_is_flagged_or_costs_the_points(tmp_path):
    (tmp_path / "results.json").write_text('{"test_iou": 0.81, "test_dice": 0.89, "n": 3}')
    rubric = grader.load_rubric(RUBRIC)
    claims = handin.read_claims(tmp_path / "results.json", rubric.section("results"), tmp_path)
    assert (claims.iou, claims.dice, claims.problems) == (0.81, 0.89, [])

    def results_item(recomputed, policy="flag"):
        rubric.data["results"]["recompute"]["on_mismatch"] = policy
        outcome = grader.Outcome("s", iou=0.8)
        evaluation = {"baseline_iou": 0.2, "recomputed_iou": recomputed, "recomputed_frames": 7}
        score_items(outcome, rubric, {"run": (True, ""), "claims": claims,
                                      "evaluation": evaluation})  # fmt: skip
        return next(i for i in outcome.items if "results.json" in i[0]), outcome.failures

    item, failures = results_item(0.805)  # within the tolerance
    assert item[2] == 10 and "recomputed IoU 0.8050 on 7 frames" in item[3] and not failures
    item, failures = results_item(0.5)
    assert item[2] == 10 and "does not match the 0.5000" in item[3]
    assert any("claimed test IoU 0.8100 does not match" in f for f in failures)
    item, failures = results_item(0.5, "no_points")
    assert item[2] == 0 and any("does not match" in f for f in failures)


@pytest.mark.parametrize("iou, baseline", [(0.07, 0.07), (0.05, 0.07), (0.0, 0.0), (None, None)])
def test_without_learning_at_most_the_capped_points(iou, baseline):
    """Everything else passes; a hidden IoU at or below the best constant mask's scores <= 20."""
    rubric = grader.load_rubric(RUBRIC)
    claims = handin.Claims(iou=0.99, dice=0.99)
    outcome = grader.Outcome("s", iou=iou)
    checks = {"run": (True, "ran"), "model": (True, "ok"), "composite": (True, "saved"),
              "claims": claims, "evaluation": {"baseline_iou": baseline}}  # fmt: skip
    score_items(outcome, rubric, checks)
    assert outcome.score <= rubric.points_without_learning <= 20
    if iou is not None:
        assert any("did not learn" in f for f in outcome.failures)
    learned = grader.Outcome("s", iou=0.95)
    score_items(learned, rubric, {**checks, "evaluation": {"baseline_iou": 0.07}})
    assert learned.score == 100


# ------------------------------------------------------------------------------ --train-data


def two_sets(tmp_path: Path) -> tuple[Path, Path]:
    """A training and a hidden MADS set with no frame in common (by name or by content)."""
    from segcourse.synth import synth_mads

    train = synth_mads(tmp_path / "train", n=8, seed=2, progress=False)
    hidden = synth_mads(tmp_path / "hidden", n=8, seed=3, progress=False)
    t_inner, h_inner = traindata.archive_of(train, "t"), traindata.archive_of(hidden, "h")
    for name in {p.name for p in (h_inner / "images").glob("*.png")}:
        for sub in ("images", "masks"):
            (t_inner / sub / name).unlink(missing_ok=True)
    traindata.check_disjoint(train, hidden)  # disjoint to start with
    return train, hidden


def test_train_data_sharing_a_hidden_frame_by_name_is_refused(tmp_path, capsys):
    train, hidden = two_sets(tmp_path)
    t_inner, h_inner = traindata.archive_of(train, "t"), traindata.archive_of(hidden, "h")
    leaked = sorted((h_inner / "images").glob("*.png"))[0]
    for sub in ("images", "masks"):  # the same name, even with other pixels
        shutil.copyfile(next((t_inner / sub).glob("*.png")), t_inner / sub / leaked.name)
    subs = tmp_path / "subs"
    b.write_folder(subs, "someone", b.weak())
    out = tmp_path / "out"
    code = grader.main([str(subs), "--hidden", str(hidden), "--out", str(out),
                        "--train-data", str(train), "--quiet"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert str(t_inner / "images" / leaked.name) in err and "by name" in err
    assert not out.exists()  # refused before anyone was graded


def test_train_data_sharing_a_hidden_frame_under_another_name_is_refused(tmp_path):
    train, hidden = two_sets(tmp_path)
    t_inner, h_inner = traindata.archive_of(train, "t"), traindata.archive_of(hidden, "h")
    leaked = sorted((h_inner / "images").glob("*.png"))[-1]
    renamed = "Jazz_Jazz9_C2_99999.png"
    for sub in ("images", "masks"):
        shutil.copyfile(h_inner / sub / leaked.name, t_inner / sub / renamed)
    with pytest.raises(grader.GradingError, match="the same image as --hidden") as info:
        grader.grade(tmp_path / "subs", hidden, tmp_path / "out", train_data=train,
                     profile="ci", progress=False)  # fmt: skip
    assert str(t_inner / "images" / renamed) in str(info.value)
    assert str(leaked) in str(info.value)
    with pytest.raises(grader.GradingError, match="needs --execute"):
        grader.grade(tmp_path / "subs", hidden, tmp_path / "out", train_data=train,
                     execute=False, profile="ci", progress=False)  # fmt: skip


# ------------------------------------------------------------------------------ the batch


def test_constant_models_with_junk_claims_score_at_most_20(course, tmp_path):  # noqa: F811
    """Re-run in the sandbox on the stand-in: an all-person model with made-up claims and an
    all-background model with a NaN claim; the feedback says what the run trained on."""
    require_sandbox()
    _, hidden = course
    subs = tmp_path / "subs"
    figure = png_bytes()
    junk = '{"test_iou": 0.97, "test_dice": 0.98, "best_constant_iou": 0.1}'
    b.write_folder(subs, "ones", b.hostile(hand_in(junk)),
                   {"given.bin": constant_model_bytes(tmp_path, 1.0), "figure.bin": figure})  # fmt: skip
    b.write_folder(subs, "zeros", b.hostile(hand_in('{"test_iou": NaN, "test_dice": 0.9}')),
                   {"given.bin": constant_model_bytes(tmp_path, -1.0), "figure.bin": figure})  # fmt: skip
    out = tmp_path / "out"
    rows = {r["student"]: r for r in grader.grade(subs, hidden, out, timeout=120, jobs=2,
                                                   profile="ci", progress=False)}  # fmt: skip
    for student in ("ones", "zeros"):
        row = rows[student]
        assert row["status"] == "ok", row
        assert float(row["score"]) <= 20, row
        assert "did not learn" in row["reason"], row
        page = (out / "feedback" / f"{student}.html").read_text()
        assert "synthetic stand-in" in page and "did not learn" in page
    # the all-person model's IoU on the notebook's own test split, computed here independently
    from segcourse import data, metrics, split
    from segcourse.grader.batch import standin_folder

    frames = data.load_mads(standin_folder(), image_size=(64, 96), cache=False, progress=False)
    _, _, own_test = split(frames, val=0.1, test=0.2, seed=0, groups=frames.sequence)
    expected = metrics.mean_iou(own_test.masks, own_test.masks * 0 + 1)
    flag = re.search(r"claimed test IoU 0\.9700 does not match the ([0-9.]+) the grader "
                     rf"recomputed on {len(own_test)} frames", rows["ones"]["reason"])  # fmt: skip
    assert flag and abs(float(flag[1]) - expected) < 1e-4, (expected, rows["ones"]["reason"])
    assert flag[0] in (out / "feedback" / "ones.html").read_text()
    assert "test_iou = nan is not finite" in rows["zeros"]["reason"].lower()
    assert "synthetic stand-in" in (out / "summary.md").read_text()


def test_train_data_is_what_the_notebook_reads_and_the_claims_are_checked_on(course, tmp_path):  # noqa: F811
    require_sandbox()
    from segcourse import data as D
    from segcourse import split
    from segcourse.synth import synth_mads

    _, hidden = course
    train = synth_mads(tmp_path / "instructor-train", n=40, seed=11, progress=False)
    inner = traindata.archive_of(train, "t")
    h_names = {p.name for p in traindata.archive_of(hidden, "h").glob("images/*.png")}
    for name in h_names:
        for sub in ("images", "masks"):
            (inner / sub / name).unlink(missing_ok=True)
    frames = D.load_mads(train, image_size=(64, 96), cache=False, progress=False)
    _, _, test = split(frames, val=0.1, test=0.2, seed=0, groups=frames.sequence)
    marker = sorted(frames.ids)[0]
    look = """\
import os
images = os.path.join(MADS_ROOT, 'images')
print('TRAINING FRAMES', MADS_ROOT, sorted(os.listdir(images))[:1])
"""
    subs = tmp_path / "subs"
    b.write_folder(subs, "reader", b.hostile(look + hand_in('{"test_iou": 0.5, "test_dice": 0.6}')),
                   {"given.bin": constant_model_bytes(tmp_path, 1.0), "figure.bin": png_bytes()})  # fmt: skip
    out = tmp_path / "out"
    rows = grader.grade(subs, hidden, out, timeout=120, profile="ci", progress=False,
                        train_data=train)  # fmt: skip
    row = rows[0]
    assert row["status"] == "ok" and float(row["score"]) <= 20, row
    page = html.unescape((out / "feedback" / "reader.html").read_text())
    assert str(traindata.INSIDE_TRAIN) in page and marker in page  # it read --train-data
    assert "synthetic stand-in" not in page
    assert "The re-run trained on the instructor's MADS training frames" in page
    assert f"recomputed on {len(test)} frames of the notebook's own test split" in row["reason"]
    assert str(inner) in (out / "summary.md").read_text()
    assert inner.is_dir() and (inner / "images" / f"{marker}.png").is_file()  # left as it was
