"""Pictures of label maps with several classes: one fixed colour per class with a legend, the
one-hot channels of a label map, predictions of several models, a pixel confusion matrix and
instance maps.

The same class always gets the same colour (pass the data set's `CLASS_COLORS`), so figures
from different cells and notebooks can be compared at a glance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.patches import Patch

from segcourse.i18n import tr
from segcourse.plots.alt_text import with_alt_text
from segcourse.plots.masks import _image_rgb, _panel

# Instance ids cycle through these (Okabe-Ito without grey); 0 stays black.
INSTANCE_COLORS = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7")


def label_rgb(labels, colors: Sequence[str]) -> np.ndarray:
    """A label map (H, W) of class numbers as uint8 RGB (H, W, 3), class c in `colors[c]`."""
    arr = np.asarray(labels)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"labels has shape {np.shape(labels)} and dtype {arr.dtype}: expected one map of "
            "integer class numbers (H, W); for model outputs take argmax(axis=-1) first"
        )
    if arr.size and (arr.min() < 0 or arr.max() >= len(colors)):
        raise ValueError(f"labels hold class {int(arr.max())} but only {len(colors)} colours")
    palette = np.round(np.array([to_rgb(c) for c in colors]) * 255).astype(np.uint8)
    return palette[arr]


def instance_rgb(instances) -> np.ndarray:
    """An instance map (H, W) of ids (0 = none) as RGB, each id in its own colour."""
    ids = np.asarray(instances).astype(np.int64)
    palette = np.round(np.array([to_rgb(c) for c in INSTANCE_COLORS]) * 255).astype(np.uint8)
    out = palette[(ids - 1) % len(palette)]
    out[ids == 0] = 0
    return out


def class_legend(class_names: Sequence[str], colors: Sequence[str]) -> list[Patch]:
    """Legend handles: a swatch and "c = name" per class."""
    return [
        Patch(facecolor=c, edgecolor="black", label=f"{i} = {name}")
        for i, (name, c) in enumerate(zip(class_names, colors, strict=True))
    ]


def _legend(fig, class_names, colors) -> None:
    fig.legend(
        handles=class_legend(class_names, colors),
        loc="outside lower center",
        ncol=len(class_names),
        fontsize=9,
        frameon=False,
    )


def show_one_hot(labels, class_names: Sequence[str], colors: Sequence[str], title: str):
    """A label map and its one-hot encoding: one 0/1 panel per class (the channel axis)."""
    arr = np.asarray(labels)
    n = len(class_names)
    fig, axes = plt.subplots(1, n + 1, figsize=(2.6 * (n + 1), 3.2), layout="constrained")
    _panel(axes[0], label_rgb(arr, colors), f"label map {arr.shape[0]}×{arr.shape[1]}")
    for c, name in enumerate(class_names):
        _panel(axes[c + 1], arr == c, f"channel {c}: {name}")
    fig.suptitle(title)
    _legend(fig, class_names, colors)
    return with_alt_text(fig)


def show_scenes(images, labels, class_names: Sequence[str], colors: Sequence[str], title: str):
    """A grid with one column per sample: the image above, its label map below."""
    images, labels = np.asarray(images), np.asarray(labels)
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} label maps")
    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(2.3 * n, 5.0), squeeze=False, layout="constrained")
    for i in range(n):
        _panel(
            axes[0, i], _image_rgb(images[i]), tr("image {i}", i=i), tr("image") if i == 0 else None
        )
        present = ", ".join(class_names[c] for c in np.unique(labels[i]) if c > 0) or "none"
        _panel(axes[1, i], label_rgb(labels[i], colors), present, tr("labels") if i == 0 else None)
    fig.suptitle(title)
    _legend(fig, class_names, colors)
    return with_alt_text(fig)


def show_class_predictions(
    images,
    y_true,
    preds: Mapping[str, np.ndarray],
    class_names: Sequence[str],
    colors: Sequence[str],
    scores: Mapping[str, np.ndarray] | None = None,
    titles: Sequence[str] | None = None,
    title: str = "Predictions",
):
    """One row per image: the image, the true label map, then each model's label map.

    `preds` maps a model name to its label maps (N, H, W); `scores` (same keys) adds each
    model's per-image score, e.g. mean IoU, to its panel titles.
    """
    images, y_true = np.asarray(images), np.asarray(y_true)
    if not preds:
        raise ValueError("preds is empty: give {model name: predicted label maps}")
    n = len(images)
    for name, p in preds.items():
        if len(p) != n or len(y_true) != n:
            raise ValueError(
                f"{n} images, {len(y_true)} truths and {len(p)} predictions from {name!r}"
            )
    cols = 2 + len(preds)
    fig, axes = plt.subplots(
        n, cols, figsize=(2.5 * cols, 2.5 * n + 0.8), squeeze=False, layout="constrained"
    )
    for i in range(n):
        name = titles[i] if titles is not None else f"image {i}"
        _panel(axes[i, 0], _image_rgb(images[i]), name)
        _panel(axes[i, 1], label_rgb(y_true[i], colors), tr("truth"))
        for j, (model, p) in enumerate(preds.items()):
            score = f"\nmean IoU {scores[model][i]:.2f}" if scores is not None else ""
            _panel(axes[i, 2 + j], label_rgb(p[i], colors), f"{model}{score}")
    fig.suptitle(title)
    _legend(fig, class_names, colors)
    return with_alt_text(fig)


def plot_confusion(confusion, class_names: Sequence[str], title: str):
    """The pixel confusion matrix, each row divided by its total (the share of that true class
    given to each predicted class), with the share printed in every cell."""
    cm = np.asarray(confusion, dtype=np.float64)
    if cm.shape != (len(class_names), len(class_names)):
        raise ValueError(f"confusion has shape {cm.shape} for {len(class_names)} class names")
    totals = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(1.3 * n + 2.5, 1.1 * n + 1.6), layout="constrained")
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for r in range(n):
        for c in range(n):
            colour = "white" if share[r, c] > 0.6 else "black"
            ax.text(c, r, f"{share[r, c]:.2f}", ha="center", va="center", color=colour)
    ax.set_xticks(range(n), class_names, rotation=30, ha="right")
    ax.set_yticks(
        range(n),
        [f"{name} ({int(t)} px)" for name, t in zip(class_names, totals[:, 0], strict=True)],
    )
    ax.set_xlabel(tr("predicted class"))
    ax.set_ylabel(tr("true class (pixels)"))
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label=tr("share of the true class's pixels"))
    return with_alt_text(fig)


def show_instances(pictures: Sequence, titles: Sequence[str], title: str):
    """A row of panels for the semantic-vs-instance demo: images, label maps (RGB) or instance
    maps (integer ids, drawn with `instance_rgb`)."""
    shown = []
    for picture in pictures:
        arr = np.asarray(picture)
        shown.append(instance_rgb(arr) if arr.ndim == 2 else _image_rgb(arr))
    if len(titles) != len(shown):
        raise ValueError(f"{len(shown)} pictures but {len(titles)} titles")
    fig, axes = plt.subplots(
        1, len(shown), figsize=(3 * len(shown), 3.4), squeeze=False, layout="constrained"
    )
    for ax, picture, name in zip(axes[0], shown, titles, strict=True):
        _panel(ax, picture, name)
    fig.suptitle(title)
    return with_alt_text(fig)
