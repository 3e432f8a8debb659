"""Scores for label maps with several classes, in numpy: the pixel confusion matrix, IoU per
class, mean IoU per image (for intervals) and the best constant-class prediction (the floor).

Label maps are integer arrays of class numbers 0..C-1, one image (H, W) or a batch (N, H, W),
optionally with a trailing axis of size 1. Scores follow Keras's `MeanIoU`: a class that is
neither in the truth nor in the prediction has no IoU and is left out of the mean, so an image
without dogs is not rewarded for finding none. No deep-learning backend is imported here.
"""

from __future__ import annotations

import numpy as np


def _labels(labels, name: str, num_classes: int) -> np.ndarray:
    """A batch of label maps as int64 (N, H, W); ValueError for floats or out-of-range classes."""
    arr = np.asarray(labels)
    if arr.ndim >= 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(
            f"{name} has shape {np.shape(labels)}: expected label maps (H, W) or (N, H, W); "
            "for model outputs (N, H, W, C) take `argmax(axis=-1)` first"
        )
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"{name} has dtype {arr.dtype}: expected integer class numbers; "
            "for scores or probabilities take `argmax(axis=-1)` first"
        )
    if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
        bad = int(arr.max()) if arr.max() >= num_classes else int(arr.min())
        raise ValueError(
            f"{name} holds class {bad}, outside 0..{num_classes - 1}: check num_classes"
        )
    return arr.astype(np.int64)


def _pair(y_true, y_pred, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    t = _labels(y_true, "y_true", num_classes)
    p = _labels(y_pred, "y_pred", num_classes)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in shape: {t.shape} vs {p.shape}")
    return t, p


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Pixel counts (C, C): row = true class, column = predicted class, over all images."""
    t, p = _pair(y_true, y_pred, num_classes)
    flat = t.ravel() * num_classes + p.ravel()
    return np.bincount(flat, minlength=num_classes**2).reshape(num_classes, num_classes)


def iou_per_class(confusion) -> np.ndarray:
    """IoU of each class from a confusion matrix: TP / (TP + FP + FN); NaN if the class is absent."""
    cm = np.asarray(confusion, dtype=np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"a confusion matrix is square (C, C), got shape {cm.shape}")
    tp = np.diag(cm)
    union = cm.sum(axis=0) + cm.sum(axis=1) - tp
    out = np.full(len(cm), np.nan)
    np.divide(tp, union, out=out, where=union > 0)
    return out


def mean_iou(y_true, y_pred, num_classes: int) -> float:
    """Mean IoU over all pixels of all images (what Keras's `MeanIoU` reports)."""
    return float(np.nanmean(iou_per_class(confusion_matrix(y_true, y_pred, num_classes))))


def mean_iou_per_image(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Each image's mean IoU over the classes in its truth or prediction, shape (N,)."""
    t, p = _pair(y_true, y_pred, num_classes)
    n = len(t)
    flat = (np.arange(n)[:, None] * num_classes**2 + t.reshape(n, -1) * num_classes).ravel()
    counts = np.bincount(flat + p.ravel(), minlength=n * num_classes**2)
    cms = counts.reshape(n, num_classes, num_classes).astype(np.float64)
    tp = np.diagonal(cms, axis1=1, axis2=2)
    union = cms.sum(axis=1) + cms.sum(axis=2) - tp
    present = union > 0
    ious = np.divide(tp, union, out=np.zeros_like(tp), where=present)
    return ious.sum(axis=1) / present.sum(axis=1)


def best_constant(y_true, num_classes: int) -> tuple[int, float]:
    """The class that, predicted for every pixel, gives the highest mean per-image IoU: (class, score).

    A model that does not clearly beat this floor has learned nothing beyond the class frequencies.
    """
    t = _labels(y_true, "y_true", num_classes)
    scores = [
        float(mean_iou_per_image(t, np.full_like(t, c), num_classes).mean())
        for c in range(num_classes)
    ]
    best = int(np.argmax(scores))
    return best, scores[best]


def class_fractions(labels, num_classes: int) -> np.ndarray:
    """The share of all pixels that belong to each class, shape (C,)."""
    t = _labels(labels, "labels", num_classes)
    return np.bincount(t.ravel(), minlength=num_classes) / t.size
