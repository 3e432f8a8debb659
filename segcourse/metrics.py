"""Segmentation scores in numpy: per-image Dice, IoU and pixel accuracy, the best constant
mask, threshold choice, score tables per group, and honest statistics on per-image scores
(bootstrap confidence intervals, paired bootstrap and sign test for comparing two models).

Inputs are binary masks, bool or 0/1 numbers, of shape `(H, W)`, `(H, W, 1)` (one image) or
`(N, H, W)`, `(N, H, W, 1)` (a batch); scores come back per image, shape `(N,)`. Probabilities
and logits are refused: threshold them first (`probs > 0.5`, `logits > 0`), so that a score
never depends on a hidden threshold. No deep-learning backend is imported here.

Empty masks: when truth and prediction are both empty, Dice and IoU are 1.0 (perfect
agreement: nothing to find, nothing found); when exactly one of them is empty they are 0.0.
The Keras losses and metrics used in training live in `segcourse.losses`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


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
                "threshold first, e.g. `probs > 0.5` for probabilities or `logits > 0` for logits"
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
    return max(
        float(score(masks, np.zeros_like(masks)).mean()),
        float(score(masks, np.ones_like(masks)).mean()),
    )


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
        raise ValueError("probs must be probabilities in [0, 1]; for logits pass `sigmoid(logits)`")
    scores = np.array([mean_dice(y_true, probs > t) for t in thresholds])
    best = np.flatnonzero(scores == scores.max())
    pick = best[np.argmin(np.abs(thresholds[best] - 0.5))]
    return ThresholdChoice(float(thresholds[pick]), float(scores[pick]))


def score_table(y_true, y_pred, groups=None, order=None) -> dict[str, dict]:
    """Mean Dice and IoU over all images and per group: `{row: {"n", "dice", "iou"}}`.

    `groups` gives each image's group (e.g. its diagnosis; None: no group rows); rows follow
    `order` when given, else the order in which groups first appear. Empty groups are left out.
    The "all" row also has "dice_ci" and "iou_ci": `[low, high]`, the 95 % percentile
    bootstrap interval of the mean (`bootstrap_ci`, seed 0, so tables are reproducible).
    """
    d, j = dice(y_true, y_pred), iou(y_true, y_pred)
    rows = {"all": np.ones(len(d), dtype=bool)}
    if groups is not None:
        groups = list(groups)
        if len(groups) != len(d):
            raise ValueError(f"score_table: {len(groups)} group labels for {len(d)} images")
        names = order if order is not None else dict.fromkeys(g for g in groups if g is not None)
        for name in names:
            rows[name] = np.array([g == name for g in groups])
    table = {
        name: {
            "n": int(rows[name].sum()),
            "dice": float(d[rows[name]].mean()),
            "iou": float(j[rows[name]].mean()),
        }
        for name in rows
        if rows[name].any()
    }
    if "all" in table:
        table["all"]["dice_ci"] = list(bootstrap_ci(d)[1:])
        table["all"]["iou_ci"] = list(bootstrap_ci(j)[1:])
    return table


def _scores(values, name: str) -> np.ndarray:
    """Per-image scores as a 1-D float array; ValueError if empty, not 1-D or not finite."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} has shape {arr.shape}: expected one score per image, (N,)")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: need at least one per-image score")
    bad = ~np.isfinite(arr)
    if bad.any():
        kind = "NaN" if np.isnan(arr).any() else "infinite"
        raise ValueError(
            f"{name} contains {int(bad.sum())} {kind} value(s) (first at index "
            f"{int(np.flatnonzero(bad)[0])}): drop or fix those images first"
        )
    return arr


def _resampled_means(values: np.ndarray, n_boot: int, seed) -> np.ndarray:
    """Means of `n_boot` resamples with replacement of `values`, shape (n_boot,)."""
    if int(n_boot) != n_boot or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(values), size=(int(n_boot), len(values)))
    return values[index].mean(axis=1)


def _interval(means: np.ndarray, level: float) -> tuple[float, float]:
    """The central `level` percentile interval of the resampled means."""
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}")
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def bootstrap_ci(values, n_boot=2000, level=0.95, seed=0) -> tuple[float, float, float]:
    """Mean of per-image scores and its percentile bootstrap interval: `(mean, low, high)`.

    Resamples the images with replacement `n_boot` times; the interval says how much the mean
    would move on another test set of the same size from the same source. It does not cover
    a shift of source (other scanner, other hospital).
    """
    values = _scores(values, "values")
    low, high = _interval(_resampled_means(values, n_boot, seed), level)
    return float(values.mean()), low, high


def paired_bootstrap(a, b, n_boot=2000, level=0.95, seed=0) -> dict:
    """Is model a better than model b on the same images? Bootstrap of the mean of a - b.

    `a` and `b` are per-image scores in the same image order. Returns `{"diff": mean a - b,
    "ci": [low, high], "p_value": share of resamples with mean difference <= 0 (one-sided: small
    means a is reliably better), "n": number of images}`. Pairing removes the variation between
    images that both models share, so it is far more sensitive than comparing two intervals.
    """
    a, b = _scores(a, "a"), _scores(b, "b")
    if len(a) != len(b):
        raise ValueError(f"a has {len(a)} scores but b has {len(b)}: pair them image by image")
    diffs = a - b
    means = _resampled_means(diffs, n_boot, seed)
    return {
        "diff": float(diffs.mean()),
        "ci": list(_interval(means, level)),
        "p_value": float(np.mean(means <= 0)),
        "n": len(diffs),
    }


def sign_test(a, b) -> dict:
    """Exact sign test on paired per-image scores: does a beat b on more images than chance?

    Returns `{"greater": images with a > b, "less": a < b, "ties": a == b, "p_value": exact
    two-sided binomial p-value (p = 1/2) over the untied images; 1.0 when all are tied}`.
    """
    from scipy.stats import binomtest

    a, b = _scores(a, "a"), _scores(b, "b")
    if len(a) != len(b):
        raise ValueError(f"a has {len(a)} scores but b has {len(b)}: pair them image by image")
    greater, less = int(np.sum(a > b)), int(np.sum(a < b))
    untied = greater + less
    p_value = binomtest(greater, untied, 0.5).pvalue if untied else 1.0
    return {"greater": greater, "less": less, "ties": len(a) - untied, "p_value": float(p_value)}


def format_ci(mean, low, high, digits=3) -> str:
    """A mean and its interval as text: `format_ci(0.9123, 0.894, 0.928)` -> '0.912 [0.894, 0.928]'."""
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"
