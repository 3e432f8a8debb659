"""Keras losses and metrics against values counted by hand on tiny masks."""

import math

import keras
import numpy as np
import pytest

from segcourse import losses, metrics

# 3x3 cases. A: truth 4 px, prediction 4 px, overlap 2 px. C: truth 1 px.
A_TRUE = [[1, 1, 0], [1, 1, 0], [0, 0, 0]]
A_PRED = [[0, 1, 1], [0, 1, 1], [0, 0, 0]]
EMPTY = [[0, 0, 0]] * 3
C_TRUE = [[0, 0, 0], [0, 1, 0], [0, 0, 0]]


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _batch(masks):
    return np.asarray(masks, dtype=np.float32)[..., None]


def test_dice_loss_from_logits_by_hand():
    y_true = _batch([[[1, 1], [0, 0]]])
    logits = np.zeros_like(y_true)  # probability 0.5 everywhere: overlap 1, sums 2 + 2
    assert float(_np(losses.DiceLoss(smooth=0)(y_true, logits))) == pytest.approx(0.5)
    assert float(_np(losses.DiceLoss(smooth=1)(y_true, logits))) == pytest.approx(1 - 3 / 5)


def test_dice_loss_matches_keras_dice_on_probabilities():
    rng = np.random.default_rng(0)
    y_true = (rng.random((3, 5, 4, 1)) > 0.5).astype(np.float32)
    logits = rng.normal(0, 2, y_true.shape).astype(np.float32)
    ours = losses.DiceLoss(from_logits=True, smooth=0, reduction=None)(y_true, logits)
    keras_dice = keras.losses.Dice(axis=(1, 2, 3), reduction=None)(y_true, metrics.sigmoid(logits))
    np.testing.assert_allclose(_np(ours), _np(keras_dice), rtol=1e-5)
    on_probs = losses.DiceLoss(from_logits=False, smooth=0, reduction=None)(
        y_true, metrics.sigmoid(logits)
    )
    np.testing.assert_allclose(_np(on_probs), _np(ours), rtol=1e-5)


def test_dice_loss_empty_truth_and_empty_prediction_costs_nothing():
    y_true = np.zeros((1, 3, 3, 1), np.float32)
    logits = np.full_like(y_true, -30.0)
    assert float(_np(losses.DiceLoss()(y_true, logits))) == pytest.approx(0.0, abs=1e-6)
    # Keras's unsmoothed Dice calls the same perfect answer a total failure:
    assert float(_np(keras.losses.Dice()(y_true, metrics.sigmoid(logits)))) > 0.99


def test_bce_dice_loss_by_hand():
    y_true = _batch([[[1, 1], [0, 0]]])
    logits = np.zeros_like(y_true)  # BCE is ln 2 per pixel, soft Dice loss 1 - 3/5
    loss = losses.BCEDiceLoss()(y_true, logits)
    assert float(_np(loss)) == pytest.approx(math.log(2) + 0.4, rel=1e-5)
    weighted = losses.BCEDiceLoss(bce_weight=0.5, dice_weight=2.0)(y_true, logits)
    assert float(_np(weighted)) == pytest.approx(0.5 * math.log(2) + 0.8, rel=1e-5)


def _logits_for(masks):
    """Logits of +3 on the mask and -3 elsewhere (probabilities 0.95 / 0.05)."""
    return np.where(_batch(masks) > 0, 3.0, -3.0).astype(np.float32)


def test_dice_coefficient_accumulates_over_batches():
    metric = losses.DiceCoefficient(from_logits=True)
    metric.update_state(_batch([A_TRUE]), _logits_for([A_PRED]))
    metric.update_state(_batch([C_TRUE]), _logits_for([EMPTY]))
    # overlap 2 + 0, truth 4 + 1, prediction 4 + 0: 2*2 / 9 (not the mean of 0.5 and 0)
    assert float(_np(metric.result())) == pytest.approx(4 / 9)
    metric.reset_state()
    metric.update_state(_batch([EMPTY]), _logits_for([EMPTY]))
    assert float(_np(metric.result())) == 1.0


def test_dice_coefficient_thresholds_logits_and_probabilities_alike():
    y_true = _batch([A_TRUE])
    logits = np.where(_batch(A_PRED) > 0, 0.5, -3.0).astype(np.float32)  # p = 0.62 on the mask
    probs = metrics.sigmoid(logits)
    for threshold, expected in [(0.5, 0.5), (0.7, 0.0)]:
        on_logits = losses.DiceCoefficient(from_logits=True, threshold=threshold)
        on_probs = losses.DiceCoefficient(from_logits=False, threshold=threshold)
        on_logits.update_state(y_true, logits)
        on_probs.update_state(y_true, probs)
        assert float(_np(on_logits.result())) == pytest.approx(expected)
        assert float(_np(on_probs.result())) == pytest.approx(expected)


def test_binary_iou_threshold_zero_on_logits_equals_one_half_on_probabilities():
    rng = np.random.default_rng(1)
    y_true = (rng.random((4, 6, 5, 1)) > 0.6).astype(np.float32)
    logits = rng.normal(0, 2, y_true.shape).astype(np.float32)
    logits[np.abs(logits) < 1e-3] = 1.0  # keep away from the tie at exactly 0
    _, iou_logits = losses.segmentation_metrics(from_logits=True)
    _, iou_probs = losses.segmentation_metrics(from_logits=False)
    assert iou_logits.threshold == 0.0 and iou_probs.threshold == 0.5
    iou_logits.update_state(y_true, logits)
    iou_probs.update_state(y_true, metrics.sigmoid(logits))
    pred = logits > 0
    truth = y_true > 0
    by_hand = (truth & pred).sum() / (truth | pred).sum()
    assert float(_np(iou_logits.result())) == pytest.approx(by_hand, rel=1e-5)
    assert float(_np(iou_probs.result())) == pytest.approx(by_hand, rel=1e-5)


def test_segmentation_metrics_on_the_hand_counted_cases():
    dice_metric, iou_metric = losses.segmentation_metrics()
    assert (dice_metric.name, iou_metric.name) == ("dice", "iou")
    y_true, logits = _batch([A_TRUE, C_TRUE]), _logits_for([A_PRED, EMPTY])
    for metric in (dice_metric, iou_metric):
        metric.update_state(y_true, logits)
    assert float(_np(dice_metric.result())) == pytest.approx(4 / 9)
    assert float(_np(iou_metric.result())) == pytest.approx(2 / 7)  # overlap 2, union 6 + 1


def test_dice_coefficient_rejects_a_threshold_outside_zero_one():
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        losses.DiceCoefficient(from_logits=True, threshold=1.0)


def test_model_with_custom_loss_and_metrics_saves_and_loads(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.random((4, 8, 8, 1)).astype(np.float32)
    y = (x > 0.5).astype(np.float32)
    inputs = keras.Input((8, 8, 1))
    model = keras.Model(inputs, keras.layers.Conv2D(1, 3, padding="same")(inputs))
    model.compile(
        optimizer="adam",
        loss=losses.BCEDiceLoss(dice_weight=0.5),
        metrics=losses.segmentation_metrics(),
    )
    history = model.fit(x, y, epochs=1, batch_size=2, verbose=0)
    assert {"loss", "dice", "iou"} <= set(history.history)
    before = model.evaluate(x, y, verbose=0, return_dict=True)
    path = tmp_path / "tiny.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.loss, losses.BCEDiceLoss)
    assert loaded.loss.dice_weight == 0.5
    after = loaded.evaluate(x, y, verbose=0, return_dict=True)
    for key in ("loss", "dice", "iou"):
        assert after[key] == pytest.approx(before[key], rel=1e-5)


def test_configs_round_trip():
    for obj in (
        losses.DiceLoss(from_logits=False, smooth=2.0),
        losses.BCEDiceLoss(bce_weight=0.3),
        losses.DiceCoefficient(threshold=0.3, name="d"),
    ):
        clone = type(obj).from_config(obj.get_config())
        assert clone.get_config() == obj.get_config()
