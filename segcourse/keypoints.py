"""Keypoints as heatmaps, in numpy: a Gaussian heatmap per joint as the training target, the
keypoints read back from the heatmaps' maxima, PCK as the score and the mean pose as the floor.

Joints are arrays (N, K, 2) of [x, y] in pixels (x right, y down, (0, 0) the centre of the
top-left pixel); heatmaps are (N, H, W, K), channel k for joint k, as a network outputs them.
"""

from __future__ import annotations

import numpy as np


def _joints(joints, name: str = "joints") -> np.ndarray:
    arr = np.asarray(joints, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[-1] != 2:
        raise ValueError(
            f"{name} has shape {np.shape(joints)}: expected (N, K, 2) or (K, 2) [x, y] pixels"
        )
    return arr


def gaussian_heatmaps(joints, height: int, width: int, sigma: float = 1.5) -> np.ndarray:
    """One Gaussian bump per joint, peak 1 at the joint: float32 (N, height, width, K).

    sigma (pixels) sets the bump's width: too small and the target is nearly all zeros, too
    large and neighbouring joints blur into each other.
    """
    if not sigma > 0:
        raise ValueError(f"sigma is the bump's width in pixels and must be > 0, got {sigma}")
    pts = _joints(joints)
    ys = np.arange(height, dtype=np.float64)[None, :, None, None]
    xs = np.arange(width, dtype=np.float64)[None, None, :, None]
    dx2 = (xs - pts[:, None, None, :, 0]) ** 2
    dy2 = (ys - pts[:, None, None, :, 1]) ** 2
    return np.exp(-(dx2 + dy2) / (2 * sigma**2)).astype(np.float32)


def heatmap_peaks(heatmaps) -> np.ndarray:
    """The [x, y] of each channel's maximum: (N, H, W, K) heatmaps -> (N, K, 2) keypoints."""
    maps = np.asarray(heatmaps)
    if maps.ndim == 3:
        maps = maps[None]
    if maps.ndim != 4:
        raise ValueError(f"heatmaps have shape {np.shape(heatmaps)}: expected (N, H, W, K)")
    n, h, w, k = maps.shape
    flat = maps.transpose(0, 3, 1, 2).reshape(n, k, h * w).argmax(axis=-1)
    return np.stack([flat % w, flat // w], axis=-1).astype(np.float64)


def reference_size(joints) -> np.ndarray:
    """Each person's size for PCK: max(height, width) of the box around their joints, (N,)."""
    pts = _joints(joints)
    extent = pts.max(axis=1) - pts.min(axis=1)
    return extent.max(axis=1)


def correct_keypoints(pred, truth, alpha: float = 0.1) -> np.ndarray:
    """Which predicted joints lie within alpha x the person's size of the truth: bool (N, K)."""
    p, t = _joints(pred, "pred"), _joints(truth, "truth")
    if p.shape != t.shape:
        raise ValueError(f"pred and truth differ in shape: {p.shape} vs {t.shape}")
    if not alpha > 0:
        raise ValueError(f"alpha is a fraction of the person's size and must be > 0, got {alpha}")
    distance = np.hypot(*(p - t).transpose(2, 0, 1))
    return distance <= alpha * reference_size(t)[:, None]


def pck(pred, truth, alpha: float = 0.1) -> np.ndarray:
    """PCK@alpha per frame, shape (N,): the share of its joints that are correct."""
    return correct_keypoints(pred, truth, alpha).mean(axis=1)


def mean_pose(joints) -> np.ndarray:
    """The average position of each joint over a set of frames, (K, 2): the baseline pose."""
    return _joints(joints).mean(axis=0)


def predict_mean_pose(pose, n: int) -> np.ndarray:
    """The same pose for n frames, (n, K, 2): what a model that ignores the image predicts."""
    return np.repeat(np.asarray(pose, dtype=np.float64)[None], int(n), axis=0)
