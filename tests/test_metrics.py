"""Numpy metrics against values counted by hand on tiny masks."""

import math

import numpy as np
import pytest

from segcourse import metrics

# Four 3x3 cases. A: truth 4 px, prediction 4 px, overlap 2 px. B: both empty.
# C: truth 1 px, prediction empty. D: truth empty, prediction 2 px.
A_TRUE = [[1, 1, 0], [1, 1, 0], [0, 0, 0]]
A_PRED = [[0, 1, 1], [0, 1, 1], [0, 0, 0]]
EMPTY = [[0, 0, 0]] * 3
C_TRUE = [[0, 0, 0], [0, 1, 0], [0, 0, 0]]
D_PRED = [[1, 1, 0], [0, 0, 0], [0, 0, 0]]
Y_TRUE = np.array([A_TRUE, EMPTY, C_TRUE, EMPTY], dtype=np.uint8)
Y_PRED = np.array([A_PRED, EMPTY, EMPTY, D_PRED], dtype=np.uint8)


def test_dice_iou_accuracy_per_image_by_hand():
    np.testing.assert_allclose(metrics.dice(Y_TRUE, Y_PRED), [2 * 2 / (4 + 4), 1.0, 0.0, 0.0])
    np.testing.assert_allclose(metrics.iou(Y_TRUE, Y_PRED), [2 / 6, 1.0, 0.0, 0.0])
    np.testing.assert_allclose(metrics.pixel_accuracy(Y_TRUE, Y_PRED), [5 / 9, 1.0, 8 / 9, 7 / 9])
    assert metrics.mean_dice(Y_TRUE, Y_PRED) == pytest.approx((0.5 + 1.0) / 4)
    assert metrics.mean_iou(Y_TRUE, Y_PRED) == pytest.approx((1 / 3 + 1.0) / 4)
    assert metrics.dice(Y_TRUE, Y_PRED).shape == (4,)


def test_accepted_shapes_and_dtypes_agree():
    expected = metrics.dice(Y_TRUE, Y_PRED)
    as_bool = metrics.dice(Y_TRUE.astype(bool), Y_PRED.astype(bool))
    as_float_channel = metrics.dice(Y_TRUE[..., None].astype(np.float32), Y_PRED[..., None])
    np.testing.assert_array_equal(as_bool, expected)
    np.testing.assert_array_equal(as_float_channel, expected)
    # one image, (H, W) and (H, W, 1): a batch of one, not H images of one row
    assert metrics.dice(Y_TRUE[0], Y_PRED[0]).tolist() == [0.5]
    assert metrics.dice(Y_TRUE[0][..., None], Y_PRED[0][..., None]).tolist() == [0.5]


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.dice(Y_TRUE, Y_PRED[:3])
    with pytest.raises(ValueError, match="expected one mask"):
        metrics.iou(np.zeros((2, 3, 3, 2)), np.zeros((2, 3, 3, 2)))


def test_non_binary_input_asks_for_a_threshold():
    probs = np.full((1, 3, 3), 0.7)
    with pytest.raises(ValueError, match=r"probs > 0\.5"):
        metrics.dice(Y_TRUE[:1], probs)
    with pytest.raises(ValueError, match=r"mask > 0"):
        metrics.iou(Y_TRUE * 255, Y_PRED)
    with pytest.raises(ValueError, match=r"logits > 0"):
        metrics.pixel_accuracy(Y_TRUE[:1], np.full((1, 3, 3), -2.0))


def test_best_constant_mask_scores():
    # all background: 1 for the empty case only -> 1/3; all foreground: 8/13, 0, 2/10
    masks = Y_TRUE[:3]
    assert metrics.best_constant_dice(masks) == pytest.approx(1 / 3)
    # without the empty mask all foreground wins: A 2*4/(4+9), C 2*1/(1+9)
    no_empty = Y_TRUE[[0, 2]]
    assert metrics.best_constant_dice(no_empty) == pytest.approx((8 / 13 + 0.2) / 2)
    assert metrics.best_constant_iou(no_empty) == pytest.approx((4 / 9 + 1 / 9) / 2)


def test_sigmoid_is_stable_and_correct():
    x = np.array([-1000.0, -2.0, 0.0, 2.0, 1000.0])
    out = metrics.sigmoid(x)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, [0.0, 1 / (1 + math.e**2), 0.5, 1 / (1 + math.e**-2), 1.0])
    assert metrics.sigmoid(np.array([0])).dtype == np.float64


def test_choose_threshold_picks_the_best_dice():
    y_true = np.array([[[1, 1, 0, 0]]])
    probs = np.array([[[0.9, 0.3, 0.2, 0.6]]])
    # t=0.15: all on, Dice 4/6; t=0.25: [1,1,0,1], 4/5; t=0.5: [1,0,0,1], 1/2; t=0.65: 2/3
    choice = metrics.choose_threshold(y_true, probs, thresholds=[0.15, 0.25, 0.5, 0.65])
    assert choice.threshold == 0.25
    assert choice.dice == pytest.approx(0.8)


def test_choose_threshold_ties_keep_the_value_nearest_one_half():
    y_true = np.array([[[1, 1, 0, 0]]])
    probs = np.array([[[0.9, 0.8, 0.1, 0.2]]])
    threshold, score = metrics.choose_threshold(y_true, probs, thresholds=[0.3, 0.45, 0.7])
    assert (threshold, score) == (0.45, 1.0)
    assert metrics.choose_threshold(y_true, probs).threshold == 0.5  # default grid


def test_choose_threshold_refuses_logits():
    with pytest.raises(ValueError, match="sigmoid"):
        metrics.choose_threshold(np.zeros((1, 2, 2)), np.full((1, 2, 2), 3.0))


# ------------------------------------------------------------------ Keras pieces
