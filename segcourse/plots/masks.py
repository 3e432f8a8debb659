"""Pictures of images and masks: overlays, outlines, error maps, and grids of samples and
predictions with their scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from scipy import ndimage

from segcourse.i18n import tr
from segcourse.plots.alt_text import with_alt_text

# Okabe-Ito colours (RGB 0-255): error-map classes and contour colours.
ERROR_COLORS = {
    "TN": (0, 0, 0),  # background, right: black
    "TP": (187, 187, 187),  # lesion, right: light grey
    "FP": (230, 159, 0),  # predicted but not true: orange
    "FN": (86, 180, 233),  # true but missed: sky blue
}
ERROR_LABELS = {
    "TP": "true positive (found)",
    "FP": "false positive (extra)",
    "FN": "false negative (missed)",
    "TN": "true negative",
}
TRUTH_COLOR = "#009E73"  # bluish green
PREDICTION_COLOR = "#F0E442"  # yellow


def _image_rgb(image) -> np.ndarray:
    """An image as uint8 RGB (H, W, 3): accepts grey or RGB, uint8 0-255 or float 0-1 / 0-255."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    if img.ndim != 3 or img.shape[-1] not in (3, 4):
        raise ValueError(
            f"image has shape {np.shape(image)}: expected (H, W), (H, W, 1) or (H, W, 3)"
        )
    img = img[..., :3]
    if img.dtype == np.uint8:
        return img
    img = img.astype(np.float64)
    if img.size and img.max() <= 1.0:
        img = img * 255.0
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def _mask2d(mask, name: str = "mask") -> np.ndarray:
    """A binary mask as bool (H, W); probabilities and 0/255 masks are refused with a hint."""
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[-1] == 1:
        m = m[..., 0]
    if m.ndim != 2:
        raise ValueError(f"{name} has shape {np.shape(mask)}: expected (H, W) or (H, W, 1)")
    if m.dtype != bool and not np.isin(m, (0, 1)).all():
        raise ValueError(
            f"{name} is not binary (values {np.unique(m)[:5]}...): threshold it first, "
            "e.g. `probs > 0.5`, `logits > 0` or, for a 0/255 mask, `mask > 0`"
        )
    return m.astype(bool)


def _rgb255(color) -> np.ndarray:
    """A matplotlib colour or an RGB triple (0-1 or 0-255) as float RGB 0-255."""
    if isinstance(color, str):
        return np.array(to_rgb(color)) * 255.0
    rgb = np.asarray(color, dtype=np.float64)[:3]
    return rgb * 255.0 if rgb.max() <= 1.0 else rgb


def outline(mask, thickness: int | None = None) -> np.ndarray:
    """The inner outline of a mask (bool, H x W), `thickness` pixels wide (default: 2, more on large images)."""
    m = _mask2d(mask)
    if thickness is None:
        thickness = max(2, round(min(m.shape) / 128))
    # border_value=1: a lesion running off the image gets no outline along the image frame
    inner = ndimage.binary_erosion(m, iterations=thickness, border_value=1)
    return m & ~inner


def overlay(image, mask, color=TRUTH_COLOR, contour=True, fill=0.25, thickness=None) -> np.ndarray:
    """The image (uint8 RGB) with the mask's outline and/or a translucent fill drawn in `color`."""
    img = _image_rgb(image)
    m = _mask2d(mask)
    if img.shape[:2] != m.shape:
        raise ValueError(f"image is {img.shape[:2]} but mask is {m.shape}: they must match")
    if not 0.0 <= fill <= 1.0:
        raise ValueError(f"fill is the opacity of the filled mask, between 0 and 1; got {fill}")
    rgb = _rgb255(color)
    out = img.astype(np.float64)
    if fill > 0:
        out[m] = (1 - fill) * out[m] + fill * rgb
    if contour:
        out[outline(m, thickness)] = rgb
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def error_map(y_true, y_pred) -> np.ndarray:
    """RGB map (uint8, H x W x 3) of true/false positives/negatives in `ERROR_COLORS`."""
    t, p = _mask2d(y_true, "y_true"), _mask2d(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true is {t.shape} but y_pred is {p.shape}: they must match")
    out = np.empty(t.shape + (3,), dtype=np.uint8)
    out[~t & ~p] = ERROR_COLORS["TN"]
    out[t & p] = ERROR_COLORS["TP"]
    out[~t & p] = ERROR_COLORS["FP"]
    out[t & ~p] = ERROR_COLORS["FN"]
    return out


def _error_legend():
    """Legend handles for the error-map colours."""
    return [
        Patch(facecolor=np.array(ERROR_COLORS[k]) / 255, edgecolor="0.3", label=ERROR_LABELS[k])
        for k in ("TP", "FP", "FN", "TN")
    ]


def _contour_legend():
    """Legend handles for truth and prediction outlines."""
    return [
        Line2D([], [], color=TRUTH_COLOR, lw=3, label=tr("truth outline")),
        Line2D([], [], color=PREDICTION_COLOR, lw=3, label=tr("prediction outline")),
    ]


def _batch(array, name: str) -> np.ndarray:
    """A batch of images or masks as an array with a leading sample axis."""
    arr = np.asarray(array)
    if arr.ndim < 3:
        raise ValueError(f"{name} has shape {arr.shape}: expected a batch (N, H, W[, C])")
    return arr


def _titles(titles, n: int) -> list[str]:
    """One title per sample: the given ones, else 'sample i'."""
    if titles is None:
        return [f"sample {i}" for i in range(n)]
    titles = [str(t) for t in titles]
    if len(titles) != n:
        raise ValueError(f"got {len(titles)} titles for {n} images")
    return titles


def _first(n: int | None, *batches):
    """The first n items of each batch (None stays None); all of them when n is None."""
    if n is None:
        return batches
    if int(n) < 1:
        raise ValueError(f"n is the number of samples to show, at least 1; got {n}")
    return tuple(None if b is None else b[: int(n)] for b in batches)


def _panel(ax, picture, title: str, ylabel: str | None = None) -> None:
    """Show a picture in an axes with a title and no ticks (the y label names the row)."""
    if picture.dtype == bool:
        picture = picture.astype(np.uint8)
        ax.imshow(picture, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(picture, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    if ylabel:
        ax.set_ylabel(ylabel)


def _check_lengths(**arrays) -> int:
    """The common number of samples; ValueError naming the arrays when they differ."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"the batches differ in length: {lengths}")
    return next(iter(lengths.values()))


def show_samples(
    images,
    masks=None,
    titles=None,
    n=None,
    color=TRUTH_COLOR,
    title="Samples: image, mask and outline",
):
    """A grid with one column per sample and three rows: image, mask, image with the mask's outline.

    `images` may be a dataset (anything with `.images`, `.masks` and `.ids`, e.g. what
    `segcourse.load_ph2()` returns) instead of two arrays; `n` shows only the first n samples.
    """
    if masks is None:
        if not (hasattr(images, "images") and hasattr(images, "masks")):
            raise ValueError(
                "show_samples needs masks, or a dataset with .images and .masks "
                "(e.g. segcourse.load_ph2()) as its first argument"
            )
        data = images
        images, masks = data.images, data.masks
        titles = getattr(data, "ids", None) if titles is None else titles
    images, masks = _batch(images, "images"), _batch(masks, "masks")
    images, masks, titles = _first(n, images, masks, titles)
    n = _check_lengths(images=images, masks=masks)
    names = _titles(titles, n)
    fig, axes = plt.subplots(3, n, figsize=(2.4 * n, 7.2), squeeze=False, layout="constrained")
    for i in range(n):
        mask = _mask2d(masks[i], f"masks[{i}]")
        _panel(axes[0, i], _image_rgb(images[i]), names[i], tr("image") if i == 0 else None)
        _panel(
            axes[1, i],
            mask,
            tr("mask ({share:.0%} foreground)", share=mask.mean()),
            tr("mask") if i == 0 else None,
        )
        _panel(
            axes[2, i],
            overlay(images[i], mask, color=color),
            "outline",
            tr("overlay") if i == 0 else None,
        )
    fig.suptitle(title)
    return with_alt_text(fig)


def show_predictions(
    images,
    y_true,
    y_pred,
    titles=None,
    scores=True,
    n=None,
    title="Predictions: image, truth, prediction, outlines, errors",
):
    """One row per image: image, truth, prediction, both outlines, error map; Dice in the titles.

    `y_pred` must be binary: threshold model outputs first (`logits > 0`, `probs > 0.5`).
    `n` shows only the first n images. A legend explains the outline and error-map colours.
    """
    images, y_true, y_pred = (
        _batch(images, "images"),
        _batch(y_true, "y_true"),
        _batch(y_pred, "y_pred"),
    )
    images, y_true, y_pred, titles = _first(n, images, y_true, y_pred, titles)
    n = _check_lengths(images=images, y_true=y_true, y_pred=y_pred)
    names = _titles(titles, n)
    dice = _dice_scores(y_true, y_pred) if scores else None
    fig, axes = plt.subplots(
        n, 5, figsize=(12.5, 2.6 * n + 0.9), squeeze=False, layout="constrained"
    )
    for i in range(n):
        t, p = _mask2d(y_true[i], f"y_true[{i}]"), _mask2d(y_pred[i], f"y_pred[{i}]")
        both = overlay(overlay(images[i], t, TRUTH_COLOR, fill=0), p, PREDICTION_COLOR, fill=0)
        score = f" (Dice {dice[i]:.3f})" if scores else ""
        _panel(axes[i, 0], _image_rgb(images[i]), names[i])
        _panel(axes[i, 1], t, tr("truth"))
        _panel(axes[i, 2], p, f"prediction{score}")
        _panel(axes[i, 3], both, "truth and prediction outlines")
        _panel(axes[i, 4], error_map(t, p), f"errors{score}")
    if scores:
        title = f"{title}\nmean Dice {dice.mean():.3f} over {n} image{'s' if n > 1 else ''}"
    fig.suptitle(title)
    fig.legend(
        handles=_contour_legend() + _error_legend(),
        loc="outside lower center",
        ncol=6,
        fontsize=8,
        frameon=False,
    )
    return with_alt_text(fig)


def compare_predictions(
    images,
    y_true,
    preds: Mapping[str, np.ndarray],
    titles=None,
    scores=True,
    n=None,
    title="Model comparison: errors of each model",
):
    """One row per image: image with the truth outline, truth, then each model's error map and Dice.

    `preds` maps a model name to its binary predictions; `n` shows only the first n images.
    """
    images, y_true = _batch(images, "images"), _batch(y_true, "y_true")
    if not preds:
        raise ValueError("preds is empty: give {model name: binary predictions}")
    preds = {name: _first(n, _batch(p, f"preds[{name!r}]"))[0] for name, p in preds.items()}
    images, y_true, titles = _first(n, images, y_true, titles)
    n = _check_lengths(
        images=images, y_true=y_true, **{f"preds[{k!r}]": v for k, v in preds.items()}
    )
    names = _titles(titles, n)
    dice = {name: _dice_scores(y_true, p) for name, p in preds.items()} if scores else {}
    cols = 2 + len(preds)
    fig, axes = plt.subplots(
        n, cols, figsize=(2.5 * cols, 2.6 * n + 0.9), squeeze=False, layout="constrained"
    )
    for i in range(n):
        t = _mask2d(y_true[i], f"y_true[{i}]")
        _panel(
            axes[i, 0], overlay(images[i], t, TRUTH_COLOR, fill=0), f"{names[i]} + truth outline"
        )
        _panel(axes[i, 1], t, tr("truth"))
        for j, (model, p) in enumerate(preds.items()):
            score = f"\nDice {dice[model][i]:.3f}" if scores else ""
            _panel(
                axes[i, 2 + j],
                error_map(t, _mask2d(p[i], f"preds[{model!r}][{i}]")),
                f"{model}{score}",
            )
    if scores:
        means = ", ".join(f"{model} {d.mean():.3f}" for model, d in dice.items())
        title = f"{title}\nmean Dice: {means}"
    fig.suptitle(title)
    fig.legend(
        handles=_error_legend(), loc="outside lower center", ncol=4, fontsize=8, frameon=False
    )
    return with_alt_text(fig)


def _dice_scores(y_true, y_pred) -> np.ndarray:
    """Per-image Dice via segcourse.metrics (imported here: it loads Keras)."""
    from segcourse.metrics import dice

    return dice(y_true, y_pred)


def show_images(pictures, titles: Sequence[str], title: str):
    """A row of pictures (RGB, grey or overlays) with one title each and a figure title."""
    pictures = list(pictures)
    if len(titles) != len(pictures):
        raise ValueError(f"{len(pictures)} pictures but {len(titles)} titles")
    fig, axes = plt.subplots(
        1, len(pictures), figsize=(3.7 * len(pictures), 4), squeeze=False, layout="constrained"
    )
    for ax, picture, name in zip(axes[0], pictures, titles, strict=True):
        _panel(ax, np.asarray(picture), name)
    fig.suptitle(title)
    return with_alt_text(fig)
