"""The lesson exercises: blank answers let a starter run on, wrong ones say what is off
without the answer, strict mode stops a broken solution, and the starter build blanks regions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from segcourse import exercises as ex
from segcourse.grader.starter import LabBuildError, build_starter_notebook


@pytest.fixture(autouse=True)
def fresh(tmp_path, monkeypatch):
    monkeypatch.delenv(ex.STRICT_ENV, raising=False)
    ex.record_to(tmp_path / "nb_exercises.json")
    yield
    ex.record_to(None)


def mean_test(fn):
    for shape in ((2, 4, 4, 1), (3, 5, 7, 1)):  # a second size the student has not seen
        masks = np.random.default_rng(len(shape)).integers(0, 2, shape)
        got = np.asarray(fn(masks))
        if got.shape != (len(masks),) or not np.allclose(got, masks.mean(axis=(1, 2, 3))):
            raise ex.Wrong("one value per mask: lesion pixels over all pixels.")


def not_done(masks):
    raise NotImplementedError("Exercise 01.1: write the body")


def test_unanswered_prints_hint_and_goes_on(capsys):
    assert ex.check("01.1", not_done, mean_test, hint="count pixels") is False
    assert ex.check("01.2", ..., mean_test) is False
    out = capsys.readouterr().out
    assert "01.1: not answered yet. Hint: count pixels" in out and "01.2: not answered" in out


def test_a_hard_coded_answer_fails_on_the_unseen_input(capsys):
    seen = np.random.default_rng(4).integers(0, 2, (2, 4, 4, 1)).mean(axis=(1, 2, 3))
    assert ex.check("01.1", lambda masks: seen, mean_test) is False
    out = capsys.readouterr().out
    assert "not right yet: one value per mask" in out
    assert ex.check("01.1", lambda m: m.mean(axis=(1, 2, 3)), mean_test) is True
    assert ex.solved("01.1")


def test_strict_mode_stops_on_unanswered_and_wrong(monkeypatch):
    monkeypatch.setenv(ex.STRICT_ENV, "strict")
    with pytest.raises(ex.ExerciseError, match="not answered"):
        ex.check("01.1", ..., mean_test)
    with pytest.raises(ex.ExerciseError, match="wrong"):
        ex.check("01.1", lambda m: m.sum(axis=(1, 2, 3)), mean_test)


def test_prediction_is_recorded_before_and_compared_after(tmp_path, capsys):
    assert ex.predict("02.3", "unpooling", options=("upsampling", "unpooling")) is True
    assert ex.reveal("02.3", "upsampling") is False
    kept = json.loads((tmp_path / "nb_exercises.json").read_text())
    assert kept["02.3"]["prediction"] == "unpooling" and kept["02.3"]["status"] == "missed"
    ex.predict("02.3", ...)  # taken back: the old prediction no longer counts
    assert ex.reveal("02.3", "upsampling") is None
    assert "no prediction was recorded" in capsys.readouterr().out


def test_use_falls_back_to_the_reference_until_solved():
    assert ex.use("01.1", not_done, "reference") == "reference"
    ex.check("01.1", lambda m: m.mean(axis=(1, 2, 3)), mean_test)
    assert ex.use("01.1", "student", "reference") == "student"


def test_explanations_are_kept_but_short_ones_ask_for_more(tmp_path):
    assert ex.explain("03.2", "because", min_words=5) is False
    assert ex.explain("03.2", "the skips carry fine detail past the bottleneck") is True
    kept = json.loads((tmp_path / "nb_exercises.json").read_text())
    assert kept["03.2"]["text"].startswith("the skips")


def cell(kind, source, **meta):
    extra = {"outputs": [], "execution_count": None} if kind == "code" else {}
    return {"cell_type": kind, "id": "x", "metadata": meta, "source": source, **extra}


def test_lesson_starter_blanks_functions_and_values_and_markdown():
    solution = {
        "cells": [
            cell(
                "code",
                "def f(x):\n    ### BEGIN SOLUTION\n    return x * 2\n    ### END SOLUTION\n",
                exercise="01.1",
            ),
            cell(
                "code",
                "### BEGIN SOLUTION\nGUESS = 'unet'\n### END SOLUTION\nex.predict('03.1', GUESS)",
            ),
            cell("markdown", "Why?\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION"),
        ],
        "metadata": {},
    }
    cells = build_starter_notebook(solution, lesson=True)["cells"]
    assert "return x * 2" not in cells[0]["source"]
    assert 'raise NotImplementedError("Exercise 01.1: write the body of f()' in cells[0]["source"]
    assert cells[1]["source"].startswith("GUESS = ...") and "'unet'" not in cells[1]["source"]
    assert "Because." not in cells[2]["source"] and "YOUR ANSWER HERE" in cells[2]["source"]


def test_a_top_level_region_without_an_assignment_is_refused():
    solution = {
        "cells": [cell("code", "### BEGIN SOLUTION\nprint(1)\n### END SOLUTION")],
        "metadata": {},
    }
    with pytest.raises(LabBuildError, match="must assign names"):
        build_starter_notebook(solution, lesson=True)


def _exercise_calls(notebook):
    """(id, kind) of every `ex.check/predict/explain` call in a notebook's code cells."""
    import re

    nb = json.loads(notebook.read_text(encoding="utf-8"))
    code = "\n".join(
        "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        for c in nb["cells"]
        if c["cell_type"] == "code"
    )
    return set(re.findall(r"ex\.(check|predict|explain)\(\s*\"(\d\d\.\d)\"", code))


LESSONS = sorted(
    (Path(__file__).resolve().parent.parent / "notebooks" / "solutions").glob("*.ipynb")
)


@pytest.mark.parametrize("notebook", LESSONS, ids=[p.stem for p in LESSONS])
def test_each_lesson_has_three_exercises_of_more_than_one_kind(notebook):
    calls = _exercise_calls(notebook)
    ids = {exercise for _kind, exercise in calls}
    kinds = {kind for kind, _exercise in calls}
    assert len(ids) >= 3, f"{notebook.name}: only {sorted(ids)}"
    assert len(kinds) >= 2, f"{notebook.name}: only {kinds} exercises"
    prefix = notebook.name[:2]
    assert all(exercise.startswith(prefix + ".") for exercise in ids), sorted(ids)


@pytest.mark.parametrize("notebook", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_starters_are_current_and_blank(notebook):
    from segcourse.grader.starter import starter_is_current

    starter = notebook.parent.parent / notebook.name
    assert starter_is_current(notebook, starter, lesson=True), (
        "run `python -m segcourse starters build`"
    )
    text = starter.read_text(encoding="utf-8")
    assert "### BEGIN SOLUTION" not in text and "YOUR" in text


def test_blank_mode_refuses_a_starter_that_holds_an_answer(monkeypatch):
    monkeypatch.setenv(ex.STRICT_ENV, "blank")
    ex.check("01.1", ..., mean_test)
    assert ex.summary() == {"01.1": "unanswered"}
    ex.check("01.2", lambda m: m.mean(axis=(1, 2, 3)), mean_test)
    with pytest.raises(ex.ExerciseError, match="hold answers"):
        ex.summary()


def test_strict_summary_refuses_an_exercise_left_open(monkeypatch):
    ex.predict("02.4", ...)
    monkeypatch.setenv(ex.STRICT_ENV, "strict")
    with pytest.raises(ex.ExerciseError, match="not done"):
        ex.summary()
