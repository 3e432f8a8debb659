"""Pictures of poses: a frame with its heatmaps, and skeletons (truth and prediction) drawn
over frames, with PCK in the titles."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from segcourse.i18n import tr
from segcourse.plots.alt_text import with_alt_text
from segcourse.plots.masks import PREDICTION_COLOR, TRUTH_COLOR, _image_rgb, _panel


def draw_skeleton(ax, joints, names: Sequence[str], bones, color, marker="o", label=None):
    """Draw the bones (pairs of joint names) and joints (K, 2) [x, y] into `ax`."""
    pts = np.asarray(joints, dtype=float)
    where = {name: pts[i] for i, name in enumerate(names)}
    for a, b in bones:
        ax.plot(*zip(where[a], where[b], strict=True), color=color, linewidth=1.6)
    ax.scatter(
        pts[:, 0],
        pts[:, 1],
        s=14,
        color=color,
        marker=marker,
        edgecolors="black",
        linewidths=0.4,
        zorder=3,
        label=label,
    )


def show_heatmaps(image, heatmaps, names: Sequence[str], title: str, joints=None):
    """The frame, then each joint's heatmap over a dimmed copy of it (channel k = joint k).

    All panels share one colour scale, from 0 to the largest value shown.
    """
    maps = np.asarray(heatmaps)
    k = maps.shape[-1]
    if len(names) != k:
        raise ValueError(f"{k} heatmap channels but {len(names)} joint names")
    cols = min(8, k + 1)
    rows = -(-(k + 1) // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(1.9 * cols, 2.0 * rows + 0.5), squeeze=False, layout="constrained"
    )
    picture = _image_rgb(image)
    top = float(maps.max()) if float(maps.max()) > 0 else 1.0
    _panel(axes[0, 0], picture, tr("frame"))
    if joints is not None:
        pts = np.asarray(joints)
        axes[0, 0].scatter(pts[:, 0], pts[:, 1], s=6, color=TRUTH_COLOR)
    for c in range(k):
        ax = axes[(c + 1) // cols, (c + 1) % cols]
        _panel(ax, (picture * 0.35).astype(np.uint8), names[c].replace("_", " "))
        ax.imshow(maps[..., c], cmap="magma", alpha=0.75, vmin=0, vmax=top)
    for ax in axes.flat[k + 1 :]:
        ax.axis("off")
    fig.suptitle(title)
    return with_alt_text(fig)


def show_poses(
    images,
    truth,
    pred,
    names: Sequence[str],
    bones,
    scores=None,
    titles: Sequence[str] | None = None,
    title: str = "Poses: truth and prediction",
):
    """One panel per frame: the true skeleton (green) and the predicted one (yellow) over it.

    `scores` (one per frame, e.g. PCK) goes into the panel titles.
    """
    images, truth, pred = np.asarray(images), np.asarray(truth), np.asarray(pred)
    n = len(images)
    if len(truth) != n or len(pred) != n:
        raise ValueError(f"{n} images, {len(truth)} true poses and {len(pred)} predictions")
    cols = min(n, 6)
    rows = -(-n // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(2.6 * cols, 2.7 * rows + 0.6), squeeze=False, layout="constrained"
    )
    for i in range(n):
        ax = axes[i // cols, i % cols]
        name = titles[i] if titles is not None else f"frame {i}"
        score = f"\nPCK {scores[i]:.2f}" if scores is not None else ""
        _panel(ax, _image_rgb(images[i]), f"{name}{score}")
        draw_skeleton(ax, truth[i], names, bones, TRUTH_COLOR)
        draw_skeleton(ax, pred[i], names, bones, PREDICTION_COLOR, marker="s")
        h, w = images[i].shape[:2]
        ax.set_xlim(-0.5, w - 0.5)
        ax.set_ylim(h - 0.5, -0.5)
    for ax in axes.flat[n:]:
        ax.axis("off")
    fig.suptitle(title)
    fig.legend(
        handles=[
            Line2D([], [], color=TRUTH_COLOR, marker="o", label=tr("truth")),
            Line2D([], [], color=PREDICTION_COLOR, marker="s", label=tr("prediction")),
        ],
        loc="outside lower center",
        ncol=2,
        frameon=False,
    )
    return with_alt_text(fig)
