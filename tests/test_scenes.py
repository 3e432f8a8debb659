"""The multi-class notebook's pieces: the scene generator, the multi-class scores, the gate,
the label-map figures and the notebook's exercise checks."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy import ndimage  # noqa: E402

from segcourse import checks, multiclass  # noqa: E402
from segcourse.exercises import Wrong  # noqa: E402
from segcourse.gates import check_beats  # noqa: E402
from segcourse.plots import labels as label_plots  # noqa: E402
from segcourse.synth import scenes  # noqa: E402

C = len(scenes.CLASS_NAMES)


@pytest.fixture(scope="module")
def sample():
    """60 scenes of 48 x 48, the ci size."""
    return scenes.make_scenes(60, 48, seed=5)


def test_a_scene_is_the_same_for_its_seed_and_index_only():
    a, b = scenes.render_scene(3, 7, 40), scenes.render_scene(3, 7, 40)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a.image, scenes.render_scene(3, 8, 40).image)
    assert not np.array_equal(a.image, scenes.render_scene(4, 7, 40).image)


def test_make_scenes_stacks_disjoint_index_ranges():
    first = scenes.make_scenes(3, 32, seed=1)
    later = scenes.make_scenes(2, 32, seed=1, first=3)
    assert first.images.shape == (3, 32, 32, 3) and first.labels.shape == (3, 32, 32)
    assert np.array_equal(later.labels[0], scenes.render_scene(1, 3, 32).labels)
    assert not any(np.array_equal(x, y) for x in first.images for y in later.images)


def test_labels_and_instances_agree(sample):
    assert sample.labels.dtype == np.uint8 and sample.labels.max() < C
    assert np.array_equal(sample.labels > 0, sample.instances > 0)
    for labels, ids in zip(sample.labels, sample.instances, strict=True):
        for i in np.unique(ids[ids > 0]):
            assert len(np.unique(labels[ids == i])) == 1, "an object has pixels of two classes"


def test_every_class_occurs_and_background_dominates_without_swamping(sample):
    share = multiclass.class_fractions(sample.labels, C)
    assert 0.6 < share[scenes.BACKGROUND] < 0.95
    assert all(share[c] > 0.005 for c in (scenes.PERSON, scenes.BALL, scenes.DOG))
    assert share[scenes.BALL] < share[scenes.PERSON], "balls should be the rarer class"


def test_colour_alone_does_not_beat_the_constant_class(sample):
    """A nearest-mean-colour classifier per pixel must not reach the constant-class floor."""
    train, test = sample[0][:40], sample[0][40:]
    y_train, y_test = sample.labels[:40], sample.labels[40:]
    pixels = train.reshape(-1, 3).astype(float)
    means = np.stack([pixels[y_train.ravel() == c].mean(axis=0) for c in range(C)])
    dist = ((test.reshape(-1, 1, 3).astype(float) - means[None]) ** 2).sum(axis=-1)
    by_colour = dist.argmin(axis=1).reshape(y_test.shape)
    _, floor = multiclass.best_constant(y_test, C)
    assert multiclass.mean_iou_per_image(y_test, by_colour, C).mean() < floor


def test_two_balls_merge_into_one_region_only_when_touching():
    for gap, regions in ((6, 2), (3, 2), (-1, 1)):
        scene = scenes.two_balls(48, gap=gap)
        assert len(np.unique(scene.instances)) - 1 == 2
        assert set(np.unique(scene.labels)) == {scenes.BACKGROUND, scenes.BALL}
        assert ndimage.label(scene.labels == scenes.BALL)[1] == regions, f"gap {gap}"


def test_a_too_small_scene_is_refused():
    with pytest.raises(ValueError, match="at least 16"):
        scenes.render_scene(0, 0, 8)


# --- scores -------------------------------------------------------------------------------


def test_confusion_matrix_counts_pixels_by_true_and_predicted_class():
    truth = np.array([[0, 0, 1], [2, 2, 1]])
    pred = np.array([[0, 1, 1], [2, 0, 0]])
    cm = multiclass.confusion_matrix(truth, pred, 3)
    assert cm.tolist() == [[1, 1, 0], [1, 1, 0], [1, 0, 1]]
    assert cm.sum() == truth.size


def test_iou_per_class_has_nan_for_an_absent_class_and_matches_keras():
    import keras

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, size=(4, 9, 7))  # class 3 never occurs
    pred = np.where(rng.random(truth.shape) < 0.7, truth, rng.integers(0, 3, size=truth.shape))
    ious = multiclass.iou_per_class(multiclass.confusion_matrix(truth, pred, 4))
    assert np.isnan(ious[3]) and np.all((ious[:3] > 0) & (ious[:3] < 1))
    t, p = truth == 1, pred == 1
    assert ious[1] == pytest.approx((t & p).sum() / (t | p).sum())
    keras_miou = keras.metrics.MeanIoU(4)
    keras_miou.update_state(truth, pred)
    assert multiclass.mean_iou(truth, pred, 4) == pytest.approx(
        float(keras_miou.result()), abs=1e-6
    )


def test_mean_iou_per_image_skips_classes_in_neither_map():
    truth = np.zeros((2, 4, 4), int)
    truth[0, :2] = 1
    pred = truth.copy()
    pred[1, 0, 0] = 2  # image 1: one false ball pixel
    scores = multiclass.mean_iou_per_image(truth, pred, 3)
    assert scores[0] == 1.0  # background and person perfect; no ball in either: left out
    assert scores[1] == pytest.approx((15 / 16 + 0) / 2)  # background 15/16, ball 0


def test_best_constant_is_the_best_single_class_everywhere():
    truth = np.zeros((3, 4, 4), int)
    truth[:, :3] = 2  # three quarters of every image are class 2
    cls, score = multiclass.best_constant(truth, 3)
    assert cls == 2 and score == pytest.approx(0.75 / 2)


def test_scores_refuse_probabilities_and_unknown_classes():
    with pytest.raises(ValueError, match="argmax"):
        multiclass.confusion_matrix(np.zeros((4, 4), int), np.zeros((4, 4)), 2)
    with pytest.raises(ValueError, match="outside 0..1"):
        multiclass.confusion_matrix(np.full((4, 4), 2), np.zeros((4, 4), int), 2)
    with pytest.raises(ValueError, match="differ in shape"):
        multiclass.mean_iou_per_image(np.zeros((4, 4), int), np.zeros((4, 5), int), 2)


# --- the gate -----------------------------------------------------------------------------


def test_the_gate_fails_a_model_that_does_not_clearly_beat_the_baseline(monkeypatch):
    monkeypatch.setenv("SEGCOURSE_PROFILE", "ci")
    check_beats("model", 0.5, 0.3, metric="mean IoU", baseline="constant class")
    with pytest.raises(AssertionError, match="not clearly above the constant class"):
        check_beats("model", 0.35, 0.3, metric="mean IoU", baseline="constant class")


def test_the_gate_only_reports_under_the_smoke_profile(monkeypatch, capsys):
    monkeypatch.setenv("SEGCOURSE_PROFILE", "smoke")
    check_beats("model", 0.1, 0.3, metric="PCK", baseline="mean pose")
    assert "smoke run" in capsys.readouterr().out


# --- figures ------------------------------------------------------------------------------


def test_label_rgb_uses_each_class_colour_and_refuses_scores():
    labels = np.array([[0, 1], [2, 3]])
    rgb = label_plots.label_rgb(labels, scenes.CLASS_COLORS)
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    assert rgb[1, 0].tolist() == [0, 114, 178]  # ball: #0072B2
    with pytest.raises(ValueError, match="argmax"):
        label_plots.label_rgb(np.zeros((2, 2, 4)), scenes.CLASS_COLORS)


def test_figures_have_titles_and_a_legend_per_class(sample):
    names, colours = scenes.CLASS_NAMES, scenes.CLASS_COLORS
    figures = [
        label_plots.show_scenes(sample.images[:2], sample.labels[:2], names, colours, "scenes"),
        label_plots.show_one_hot(sample.labels[0], names, colours, "one-hot"),
        label_plots.show_class_predictions(
            sample.images[:2], sample.labels[:2], {"m": sample.labels[:2]}, names, colours
        ),
    ]
    for fig in figures:
        assert fig.get_suptitle()
        assert len(fig.legends[0].get_texts()) == C
    confusion = label_plots.plot_confusion(np.eye(C) * 5, names, "cm")
    assert confusion.axes[0].get_title() == "cm"
    with pytest.raises(ValueError, match="2 titles"):
        label_plots.show_instances([sample.labels[0]], ["a", "b"], "x")


# --- exercise checks ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "test, answer",
    [
        (checks.test_one_hot, checks.one_hot),
        (checks.test_iou_from_confusion, checks.iou_from_confusion),
        (checks.test_count_objects, checks.count_objects),
    ],
)
def test_the_course_answers_pass(test, answer):
    test(answer)


WRONG = {
    "classes first": (
        checks.test_one_hot,
        lambda labels, n: np.moveaxis(checks.one_hot(labels, n), -1, 0),
    ),
    "one class too many": (checks.test_one_hot, lambda labels, n: checks.one_hot(labels, n + 1)),
    "zero for an absent class": (
        checks.test_iou_from_confusion,
        lambda cm: np.nan_to_num(checks.iou_from_confusion(cm)),
    ),
    "recall instead of IoU": (
        checks.test_iou_from_confusion,
        lambda cm: np.diag(cm) / np.maximum(np.asarray(cm).sum(axis=1), 1),
    ),
    "8-connectivity": (
        checks.test_count_objects,
        lambda labels, c: ndimage.label(np.asarray(labels) == c, np.ones((3, 3)))[1],
    ),
    "pixels instead of regions": (
        checks.test_count_objects,
        lambda labels, c: int((np.asarray(labels) == c).sum()),
    ),
    "hard-coded count": (checks.test_count_objects, lambda labels, c: 2),
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_typical_wrong_answers_fail(name):
    test, answer = WRONG[name]
    with pytest.raises(Wrong):
        test(answer)
