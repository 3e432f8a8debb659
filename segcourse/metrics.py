"""Segmentation scores: per-image Dice, IoU and pixel accuracy in numpy, and the Keras losses
and metrics that training needs.

Numpy side (evaluation, plots, grading): inputs are binary masks, bool or 0/1 numbers, of shape
`(H, W)`, `(H, W, 1)` (one image) or `(N, H, W)`, `(N, H, W, 1)` (a batch); scores come back per
image, shape `(N,)`. Probabilities and logits are refused: threshold them first
(`probs > 0.5`, `logits > 0`), so that a score never depends on a hidden threshold.

Empty masks: when truth and prediction are both empty, Dice and IoU are 1.0 (perfect
agreement: nothing to find, nothing found); when exactly one of them is empty they are 0.0.

Keras side: the built-ins are used wherever they exist (`keras.losses.BinaryCrossentropy`,
`keras.losses.Dice`, `keras.metrics.BinaryIoU`); this module adds what Keras lacks: a Dice
loss and a BCE + Dice loss that take logits, and a thresholded Dice metric. Keras metrics
accumulate over the whole epoch (dataset-level Dice / IoU), so their values differ slightly
from the mean of per-image scores reported by the numpy functions. The Keras metrics count a
pixel as foreground when its value is >= the threshold (the `BinaryIoU` convention); the numpy
helpers use `> threshold`; the two differ only for values exactly at the threshold.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import keras
import numpy as np
from keras import ops

# ---------------------------------------------------------------------------------------------
# numpy: per-image scores


def _as_batch(mask, name: str) -> np.ndarray:
    """A mask or batch of masks as a bool array (N, H, W); raises ValueError if not binary."""
    arr = np.asarray(mask)
    shape = arr.shape
    if arr.ndim == 4 and shape[-1] == 1:
        arr = arr[..., 0]
    elif arr.ndim == 3 and shape[-1] == 1:  # one image (H, W, 1)
        arr = arr[None, ..., 0]
    elif arr.ndim == 2:
        arr = arr[None]
    elif arr.ndim != 3:
        raise ValueError(
            f"{name} has shape {shape}: expected one mask (H, W) or (H, W, 1), "
            "or a batch (N, H, W) or (N, H, W, 1)"
        )
    if arr.dtype == bool:
        return arr
    if not (np.issubdtype(arr.dtype, np.number)):
        raise ValueError(f"{name} has dtype {arr.dtype}: expected bool or 0/1 numbers")
    is_binary = (arr == 0) | (arr == 1)
    if not is_binary.all():
        bad = arr[~is_binary].flat[0]
        if np.issubdtype(arr.dtype, np.integer) and arr.max() == 255:
            hint = "it looks like a 0/255 mask: use `mask > 0`"
        elif np.issubdtype(arr.dtype, np.floating) and arr.min() >= 0 and arr.max() <= 1:
            hint = "it looks like probabilities: threshold them first, e.g. `probs > 0.5`"
        else:
            hint = (
                "threshold first, e.g. `probs > 0.5` for probabilities or `logits > 0` "
                "for logits"
            )
        raise ValueError(f"{name} is not a binary mask (it contains {bad!r}); {hint}")
    return arr.astype(bool)


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    """Truth and prediction as flat bool batches (N, H*W) of one shape."""
    t = _as_batch(y_true, "y_true")
    p = _as_batch(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(
            f"y_true and y_pred differ in shape: {np.shape(y_true)} vs {np.shape(y_pred)} "
            f"(as masks: {t.shape} vs {p.shape})"
        )
    return t.reshape(len(t), -1), p.reshape(len(p), -1)


def _counts(y_true, y_pred) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per image: intersection, truth area and prediction area (pixel counts)."""
    t, p = _pair(y_true, y_pred)
    inter = np.count_nonzero(t & p, axis=1).astype(np.float64)
    return inter, t.sum(axis=1, dtype=np.float64), p.sum(axis=1, dtype=np.float64)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 1.0 where both masks were empty (denominator 0)."""
    out = np.ones_like(denominator)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def dice(y_true, y_pred) -> np.ndarray:
    """Per-image Dice, 2|T∩P| / (|T| + |P|), shape (N,); both masks empty -> 1.0."""
    inter, t, p = _counts(y_true, y_pred)
    return _ratio(2 * inter, t + p)


def iou(y_true, y_pred) -> np.ndarray:
    """Per-image IoU (Jaccard), |T∩P| / |T∪P|, shape (N,); both masks empty -> 1.0."""
    inter, t, p = _counts(y_true, y_pred)
    return _ratio(inter, t + p - inter)


def pixel_accuracy(y_true, y_pred) -> np.ndarray:
    """Per-image share of pixels labelled correctly, shape (N,)."""
    t, p = _pair(y_true, y_pred)
    return (t == p).mean(axis=1)


def mean_dice(y_true, y_pred) -> float:
    """Mean of the per-image Dice scores."""
    return float(dice(y_true, y_pred).mean())


def mean_iou(y_true, y_pred) -> float:
    """Mean of the per-image IoU scores."""
    return float(iou(y_true, y_pred).mean())


def _best_constant(score, masks) -> float:
    """Best mean score of an all-background or all-foreground prediction."""
    masks = _as_batch(masks, "masks")
    return max(float(score(masks, np.zeros_like(masks)).mean()),
               float(score(masks, np.ones_like(masks)).mean()))


def best_constant_dice(masks) -> float:
    """Mean Dice of the better constant mask (all background or all foreground): a floor to beat."""
    return _best_constant(dice, masks)


def best_constant_iou(masks) -> float:
    """Mean IoU of the better constant mask (all background or all foreground): a floor to beat."""
    return _best_constant(iou, masks)


def sigmoid(x) -> np.ndarray:
    """Logistic function without overflow for large |x|: probabilities from logits."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class ThresholdChoice(NamedTuple):
    """The chosen probability threshold and the mean Dice it gave."""

    threshold: float
    dice: float


def choose_threshold(y_true, probs, thresholds=None) -> ThresholdChoice:
    """The threshold (mask = probs > t) that maximises mean Dice on validation data.

    Ties go to the threshold nearest 0.5, so the default is kept unless the data argue
    otherwise. Choose on validation data, then apply the threshold unchanged to the test set.
    """
    probs = np.asarray(probs)
    if thresholds is None:
        thresholds = np.round(np.arange(0.05, 0.951, 0.05), 2)
    thresholds = np.asarray(thresholds, dtype=np.float64).ravel()
    if thresholds.size == 0:
        raise ValueError("thresholds is empty: give at least one value between 0 and 1")
    if not np.issubdtype(probs.dtype, np.floating) or probs.min() < 0 or probs.max() > 1:
        raise ValueError(
            "probs must be probabilities in [0, 1]; for logits pass `sigmoid(logits)`"
        )
    scores = np.array([mean_dice(y_true, probs > t) for t in thresholds])
    best = np.flatnonzero(scores == scores.max())
    pick = best[np.argmin(np.abs(thresholds[best] - 0.5))]
    return ThresholdChoice(float(thresholds[pick]), float(scores[pick]))


# ---------------------------------------------------------------------------------------------
# Keras: losses and metrics (backend-agnostic, keras.ops only)


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

    def __init__(self, from_logits=True, smooth=1.0, reduction="sum_over_batch_size",
                 name="dice_loss", dtype=None):
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

    def __init__(self, from_logits=True, bce_weight=1.0, dice_weight=1.0, smooth=1.0,
                 reduction="sum_over_batch_size", name="bce_dice_loss", dtype=None):
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
        config.update(from_logits=self.from_logits, bce_weight=self.bce_weight,
                      dice_weight=self.dice_weight, smooth=self.smooth)
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
        inter, true_sum, pred_sum = (ops.convert_to_tensor(v) for v in
                                     (self.intersection, self.true_sum, self.pred_sum))
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
