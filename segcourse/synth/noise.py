"""Helpers both painters share: seeded generators, smooth noise, sensor grain, curves, and
writing a stand-in into place safely (staged beside it, refusing to replace user files)."""

from __future__ import annotations

import functools
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ..data.layouts import STANDIN_MARKER_FILE


def seeded_rng(seed: int, *keys: int) -> np.random.Generator:
    """An independent generator per (seed, purpose, item): any case can be redrawn alone."""
    return np.random.default_rng([int(seed), *keys])


@functools.lru_cache(maxsize=256)
def _spread(n_out: int, n_grid: int) -> tuple[np.ndarray, np.ndarray]:
    """First grid index and 7 Gaussian weights per output pixel, to smooth-upsample a grid."""
    pos = (np.arange(n_out) + 0.5) * (n_grid - 8) / n_out + 4
    first = np.floor(pos).astype(np.intp) - 3
    weights = np.exp(-0.5 * (pos[None, :] - (first[None, :] + np.arange(7)[:, None])) ** 2)
    return first, (weights / np.sqrt((weights**2).sum(0, keepdims=True))).astype(np.float32)


def smooth_noise(rng: np.random.Generator, h: int, w: int, scale: float) -> np.ndarray:
    """Smooth unit-variance noise with blobs about `scale` pixels across (separable Gaussian basis)."""
    if scale < 2:
        return rng.standard_normal((h, w), dtype=np.float32)
    gh, gw = int(h / scale) + 9, int(w / scale) + 9
    grid = rng.standard_normal((gh, gw), dtype=np.float32)
    (fy, wy), (fx, wx) = _spread(h, gh), _spread(w, gw)
    cols = sum(wx[k][None, :] * grid[:, fx + k] for k in range(7))  # (gh, w): small
    out = wy[0][:, None] * cols[fy]
    for k in range(1, 7):
        out += wy[k][:, None] * cols[fy + k]
    return out


def draw_curve(draw, rng, start, angle, length, bend, width, fill=255, steps=24):
    """A smooth curve from `start` turning by `bend` radians over `length` pixels."""
    x, y = start
    pts = [(x, y)]
    step = length / steps
    wiggle = rng.normal(0, 0.02, steps).cumsum()
    for i in range(steps):
        a = angle + bend * i / steps + wiggle[i]
        x, y = x + step * math.cos(a), y + step * math.sin(a)
        pts.append((x, y))
    draw.line(pts, fill=fill, width=width, joint="curve")
    return pts


@functools.lru_cache(maxsize=1)
def _grain() -> np.ndarray:
    """A fixed bank of sensor noise (int16) from which each image takes a random window."""
    return np.random.default_rng(20130703).normal(0, 2.2, (640, 832, 3)).round().astype(np.int16)


def add_grain(rng, img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    bank = _grain()
    y, x = int(rng.integers(0, bank.shape[0] - h + 1)), int(rng.integers(0, bank.shape[1] - w + 1))
    return np.clip(img.astype(np.int16) + bank[y : y + h, x : x + w], 0, 255).astype(np.uint8)


def claim(dest: str | os.PathLike, name: str, overwrite: bool) -> tuple[Path, Path]:
    """Check the target archive folder and make a private staging folder beside it."""
    dest = Path(dest).expanduser().resolve()
    if dest.exists() and not dest.is_dir():
        raise ValueError(f"synthetic data destination {dest} exists and is not a folder")
    target = dest / name
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        if not overwrite:
            raise ValueError(
                f"{target} already exists and is not empty; refusing to overwrite it. "
                "Choose another destination or pass overwrite=True (--overwrite)."
            )
        if not (target / STANDIN_MARKER_FILE).is_file():
            raise ValueError(
                f"{target} was not written by segcourse.synth (no {STANDIN_MARKER_FILE} file), so "
                "overwrite=True will not delete it; move it away yourself."
            )
    dest.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{name}.partial-", dir=dest))
    (stage / STANDIN_MARKER_FILE).write_text("synthetic stand-in written by segcourse.synth\n")
    return target, stage


def publish(stage: Path, target: Path) -> Path:
    """Move the finished staging folder into place, so readers never see half a dataset."""
    if target.exists():
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    os.replace(stage, target)
    return target
