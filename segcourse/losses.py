"""The Keras losses and metrics that training needs, backend-agnostic (`keras.ops` only).

The built-ins are used wherever they exist (`keras.losses.BinaryCrossentropy`,
`keras.losses.Dice`, `keras.metrics.BinaryIoU`); this module adds what Keras lacks: a Dice
loss and a BCE + Dice loss that take logits, and a thresholded Dice metric. Keras metrics
accumulate over the whole epoch (dataset-level Dice / IoU), so their values differ slightly
from the mean of per-image scores in `segcourse.metrics`. The Keras metrics count a pixel as
foreground when its value is >= the threshold (the `BinaryIoU` convention); the numpy helpers
use `> threshold`; the two differ only for values exactly at the threshold.
"""

from __future__ import annotations

import math

import keras
from keras import ops


def _match_rank(y_true, y_pred):
    """y_true with a trailing channel axis added when y_pred has one more axis."""
    if len(y_true.shape) == len(y_pred.shape) - 1:
        y_true = ops.expand_dims(y_true, -1)
    return y_true


def _soft_dice_per_sample(y_true, probs, smooth):
    """Soft Dice of each sample, shape (N,): (2 sum(t p) + smooth) / (sum t + sum p + smooth)."""
    axes = tuple(range(1, len(probs.shape)))
    inter = ops.sum(y_true * probs, axis=axes)
    total = ops.sum(y_true, axis=axes) + ops.sum(probs, axis=axes)
    return (2.0 * inter + smooth) / (total + smooth)


def _logit(p: float) -> float:
    """The logit whose sigmoid is p (0 < p < 1)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"threshold must be a probability strictly between 0 and 1, got {p}")
    return math.log(p / (1.0 - p))


@keras.saving.register_keras_serializable(package="segcourse")
class DiceLoss(keras.losses.Loss):
    """Soft Dice loss per image, 1 - Dice, from logits (default) or probabilities.

    Keras's own `keras.losses.Dice` takes probabilities and has no smoothing, so an empty
    truth with an empty prediction costs it 1.0; here `smooth` (default 1 pixel) makes that
    case cost 0 and keeps the gradient finite. Each image is scored on its own, then averaged.
    """

    def __init__(
        self,
        from_logits=True,
        smooth=1.0,
        reduction="sum_over_batch_size",
        name="dice_loss",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = bool(from_logits)
        self.smooth = float(smooth)

    def call(self, y_true, y_pred):
        y_true = _match_rank(y_true, y_pred)
        probs = ops.sigmoid(y_pred) if self.from_logits else y_pred
        return 1.0 - _soft_dice_per_sample(y_true, probs, self.smooth)

    def get_config(self):
        config = super().get_config()
        config.update(from_logits=self.from_logits, smooth=self.smooth)
        return config


@keras.saving.register_keras_serializable(package="segcourse")
class BCEDiceLoss(keras.losses.Loss):
    """Binary cross-entropy plus soft Dice loss, from logits (default) or probabilities.

    Cross-entropy gives every pixel a gradient; Dice keeps small lesions from being ignored.
    Uses Keras's `binary_crossentropy` (numerically stable from logits) for the first term.
    """

    def __init__(
        self,
        from_logits=True,
        bce_weight=1.0,
        dice_weight=1.0,
        smooth=1.0,
        reduction="sum_over_batch_size",
        name="bce_dice_loss",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = bool(from_logits)
        self.bce_weight = float(bce_weight)
        self.dice_weight = float(dice_weight)
        self.smooth = float(smooth)

    def call(self, y_true, y_pred):
        y_true = _match_rank(y_true, y_pred)
        bce = keras.losses.binary_crossentropy(y_true, y_pred, from_logits=self.from_logits)
        bce = ops.mean(bce, axis=tuple(range(1, len(bce.shape))))
        probs = ops.sigmoid(y_pred) if self.from_logits else y_pred
        dice_loss = 1.0 - _soft_dice_per_sample(y_true, probs, self.smooth)
        return self.bce_weight * bce + self.dice_weight * dice_loss

    def get_config(self):
        config = super().get_config()
        config.update(
            from_logits=self.from_logits,
            bce_weight=self.bce_weight,
            dice_weight=self.dice_weight,
            smooth=self.smooth,
        )
        return config


@keras.saving.register_keras_serializable(package="segcourse")
class DiceCoefficient(keras.metrics.Metric):
    """Dice of thresholded predictions, accumulated over all pixels seen in the epoch.

    `threshold` is a probability; with `from_logits=True` the logits are compared with the
    matching logit (0.0 for 0.5) instead, which gives the same mask without a sigmoid.
    When nothing was predicted and nothing was true, the result is 1.0.
    """

    def __init__(self, from_logits=True, threshold=0.5, name="dice", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.from_logits = bool(from_logits)
        self.threshold = float(threshold)
        self._cut = _logit(self.threshold) if self.from_logits else self.threshold
        self.intersection = self.add_variable(shape=(), initializer="zeros", name="intersection")
        self.true_sum = self.add_variable(shape=(), initializer="zeros", name="true_sum")
        self.pred_sum = self.add_variable(shape=(), initializer="zeros", name="pred_sum")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = _match_rank(ops.convert_to_tensor(y_true), y_pred)
        pred = ops.cast(y_pred >= self._cut, self.dtype)
        true = ops.cast(y_true > 0.5, self.dtype)
        weight = ops.ones_like(pred)
        if sample_weight is not None:
            weight = ops.cast(sample_weight, self.dtype)
            while len(weight.shape) < len(pred.shape):
                weight = ops.expand_dims(weight, -1)
        self.intersection.assign_add(ops.sum(weight * pred * true))
        self.true_sum.assign_add(ops.sum(weight * true))
        self.pred_sum.assign_add(ops.sum(weight * pred))

    def result(self):
        inter, true_sum, pred_sum = (
            ops.convert_to_tensor(v) for v in (self.intersection, self.true_sum, self.pred_sum)
        )
        total = true_sum + pred_sum
        return ops.where(total > 0, 2.0 * inter / ops.maximum(total, 1e-12), 1.0)

    def get_config(self):
        config = super().get_config()
        config.update(from_logits=self.from_logits, threshold=self.threshold)
        return config


def segmentation_metrics(from_logits=True, threshold=0.5) -> list:
    """The metrics to compile with: Dice ("dice") and foreground IoU ("iou"), thresholded.

    `threshold` is a probability. `keras.metrics.BinaryIoU` thresholds raw model outputs
    (y_pred >= threshold), so for logits it gets the matching logit: 0.0 for 0.5.
    """
    cut = _logit(float(threshold)) if from_logits else float(threshold)
    return [
        DiceCoefficient(from_logits=from_logits, threshold=threshold, name="dice"),
        keras.metrics.BinaryIoU(target_class_ids=[1], threshold=cut, name="iou"),
    ]
