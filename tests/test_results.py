"""A lesson run's plumbing: settings resolution, results files, reusing saved models, the
score tables and the did-it-learn check."""

from __future__ import annotations

import json

import numpy as np
import pytest

from segcourse import metrics, results
from segcourse.data import SegmentationData
from segcourse.profiles import PROFILES


def _data(n, diagnosis=None, root="/data/PH2"):
    masks = np.zeros((n, 4, 4, 1), dtype=np.uint8)
    images = np.zeros((n, 4, 4, 3), dtype=np.uint8)
    return SegmentationData(images, masks, [f"IMD{i:03d}" for i in range(n)], diagnosis, root)


@pytest.fixture
def run(tmp_path):
    return results.start_run(
        "02_segnet",
        {"PROFILE": "ci", "SEED": 3, "EPOCHS": 2, "LEARNING_RATE": 1e-3},
        results_dir=str(tmp_path / "results"),
        model_dir=str(tmp_path / "models"),
    )


def test_none_takes_the_profile_value_and_given_values_win(tmp_path, capsys):
    run = results.start_run(
        "02",
        {"PROFILE": "ci", "SEED": 3, "EPOCHS": 2},
        results_dir=str(tmp_path / "r"),
        model_dir=str(tmp_path / "m"),
    )
    ci = PROFILES["ci"]
    assert (run.image_size, run.batch_size, run.base_filters) == (
        ci.image_size,
        ci.batch_size,
        ci.base_filters,
    )
    assert run.epochs == 2 and run.seed == 3 and run.show_every == ci.show_every
    assert run.model_dir.is_dir() and run.results_dir.is_dir()
    assert "2 epochs" in capsys.readouterr().out


def test_epochs_from_another_profile_field(tmp_path):
    run = results.start_run(
        "04", {"PROFILE": "ci"}, epochs_from="loss_epochs", results_dir=str(tmp_path)
    )
    assert run.epochs == PROFILES["ci"].loss_epochs != PROFILES["ci"].epochs


def test_an_unknown_setting_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown setting.*'epoch'"):
        results.start_run("x", {}, epoch=3)


def test_saved_json_and_finding_the_model_again(run):
    data = _data(10)
    train, val, test = data.subset(range(6)), data.subset([6, 7]), data.subset([8, 9])
    settings = run.settings(data, train, val, test, depth=4)
    model = run.model_path()
    model.write_bytes(b"model")
    path = run.save({**settings, "test_dice": 0.5, "model_path": str(model)})
    saved = json.loads(path.read_text())
    assert saved["notebook"] == "02_segnet" and saved["profile"] == "ci" and saved["seed"] == 3
    assert saved["n_train"] == 6 and saved["depth"] == 4 and saved["wall_time_s"] >= 0
    assert run.find_model("02_segnet", settings) == model
    assert run.find_model("02_segnet", {**settings, "depth": 3}) is None  # other settings
    assert run.find_model("03_unet", settings) is None  # no results file
    model.unlink()
    assert run.find_model("02_segnet", settings) is None  # the model file is gone


def test_score_table_per_group_and_the_printed_table(capsys):
    truth = np.zeros((3, 2, 2), dtype=bool)
    truth[:, 0, 0] = True
    pred = truth.copy()
    pred[2] = ~truth[2]  # the third image is all wrong
    table = metrics.score_table(truth, pred, ["a", "b", "b"])
    assert list(table) == ["all", "a", "b"]
    assert table["a"] == {"n": 1, "dice": 1.0, "iou": 1.0}
    assert table["b"]["n"] == 2 and table["b"]["dice"] == pytest.approx(0.5)
    assert table["all"]["dice"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="2 group labels for 3 images"):
        metrics.score_table(truth, pred, ["a", "b"])
    results.print_scores({"M": table}, "title")
    out = capsys.readouterr().out.splitlines()
    # the "all" row shows the bootstrap interval of the mean; group rows only the mean
    assert table["all"]["dice_ci"] == [0.0, 1.0]  # per-image Dice 1, 1, 0
    assert out[0] == "title" and out[1].split() == ["M"] and out[2].split() == ["n", "Dice", "IoU"]
    assert out[3].split()[:2] == ["all", "3"]
    assert out[3].count("0.667 [0.000, 1.000]") == 2  # Dice and IoU
    assert out[4].split() == ["a", "1", "1.000", "1.000"]
    # each model's Dice column starts where its header says
    assert out[3].index("0.667") == out[2].index("Dice") == out[1].index("M")


def test_check_learned_fails_a_model_no_better_than_a_constant(capsys, monkeypatch):
    monkeypatch.setenv("SEGCOURSE_PROFILE", "ci")
    results.check_learned("U-Net", 0.80, 0.40)
    assert "0.800 > best constant 0.400" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="U-Net: test Dice 0.500 is not clearly above"):
        results.check_learned("U-Net", 0.50, 0.40)


def test_check_learned_only_reports_under_the_smoke_profile(capsys, monkeypatch):
    """A one-epoch smoke run of a starter is not judged, and says so; any other profile is."""
    monkeypatch.setenv("SEGCOURSE_PROFILE", "smoke")
    results.check_learned("U-Net", 0.10, 0.40)
    out = capsys.readouterr().out
    assert "0.100 after a smoke run" in out and "ci profile" in out
    monkeypatch.setenv("SEGCOURSE_PROFILE", "cpu")
    with pytest.raises(AssertionError, match="not clearly above"):
        results.check_learned("U-Net", 0.10, 0.40)


def test_print_split_counts_each_diagnosis(capsys):
    part = _data(3, ["melanoma", "common nevus", "melanoma"])
    results.print_split(part, part, _data(1))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "     train: 3 cases (1 common nevus, 0 atypical nevus, 2 melanoma)"
    assert lines[2] == "      test: 1 cases"
