"""Synthetic stand-ins for PH2 and MADS, written in the real archives' on-disk layouts.

With no data and no internet the course still needs images a model has to learn from, so
these generators paint dermoscopy-like lesions and studio frames of a performer from the
statistics in `shared/reference/datasets.md`, and write them exactly as the real archives
unpack (spaced PH2 folder names, 1-bit BMP masks, `||` metadata; double-nested MADS with
`df.csv`), so the loaders use one code path for real and generated data. Pure numpy, Pillow
and SciPy (which scikit-image brings); deterministic for a seed.

    python -m segcourse synth ph2 DEST [--n 200] [--seed 0] [--overwrite]
    python -m segcourse synth mads DEST [--n 240] [--seed 0] [--overwrite]
    python -m segcourse synth preview OUT.png [--seed 0]
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from scipy import ndimage
from tqdm.auto import tqdm

PH2_FOLDER = "PH2Dataset"
PH2_IMAGES = "PH2 Dataset images"
MADS_FOLDER = "segmentation_full_body_mads_dataset_1192_img"
MARKER = ".segcourse-synthetic"  # written into every stand-in so it can be told from real data

DIAGNOSES = ("common nevus", "atypical nevus", "melanoma")
PH2_MIX = (80, 80, 40)
COLOUR_NAMES = {1: "White", 2: "Red", 3: "Light-Brown", 4: "Dark-Brown", 5: "Blue-Gray", 6: "Black"}
# Per-colour RGB of lesion structures (light/dark brown are jittered per case).
PATCH_RGB = {
    1: (218, 208, 204),
    2: (205, 98, 96),
    5: (118, 124, 142),
    6: (42, 32, 34),
}

MADS_ACTIONS = ("HipHop", "Jazz", "Kata", "Taichi", "Sports")
MADS_SIZE = (512, 384)  # width, height
POSE_FAMILY = {"HipHop": "dance", "Jazz": "dance", "Kata": "martial", "Taichi": "taichi", "Sports": "sport"}


# ----------------------------------------------------------------------------- shared helpers


def _rng(seed: int, *keys: int) -> np.random.Generator:
    """An independent generator per (seed, purpose, item): any case can be redrawn alone."""
    return np.random.default_rng([int(seed), *keys])


@functools.lru_cache(maxsize=256)
def _spread(n_out: int, n_grid: int) -> tuple[np.ndarray, np.ndarray]:
    """First grid index and 7 Gaussian weights per output pixel, to smooth-upsample a grid."""
    pos = (np.arange(n_out) + 0.5) * (n_grid - 8) / n_out + 4
    first = np.floor(pos).astype(np.intp) - 3
    weights = np.exp(-0.5 * (pos[None, :] - (first[None, :] + np.arange(7)[:, None])) ** 2)
    return first, (weights / np.sqrt((weights**2).sum(0, keepdims=True))).astype(np.float32)


def _noise(rng: np.random.Generator, h: int, w: int, scale: float) -> np.ndarray:
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


def _claim(dest: str | os.PathLike, name: str, overwrite: bool) -> tuple[Path, Path]:
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
        if not (target / MARKER).is_file():
            raise ValueError(
                f"{target} was not written by segcourse.synth (no {MARKER} file), so "
                "overwrite=True will not delete it; move it away yourself."
            )
    dest.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{name}.partial-", dir=dest))
    (stage / MARKER).write_text("synthetic stand-in written by segcourse.synth\n")
    return target, stage


def _publish(stage: Path, target: Path) -> Path:
    """Move the finished staging folder into place, so readers never see half a dataset."""
    if target.exists():
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    os.replace(stage, target)
    return target


# ----------------------------------------------------------------------------- PH2 stand-in


@dataclass
class Lesion:
    """The clinical description of one synthetic case, sampled before it is painted."""

    diagnosis: int  # 0 common nevus, 1 atypical nevus, 2 melanoma
    asymmetry: int  # 0 symmetric, 1 symmetric in one axis, 2 asymmetric
    network: str  # A absent, T typical, AT atypical
    dots: str
    streaks: str  # A absent, P present
    regression: str
    veil: str
    colours: list[int] = field(default_factory=list)
    low_contrast: bool = False


def _class_counts(n: int) -> list[int]:
    """The 80/80/40 mix scaled to n cases (largest remainder)."""
    exact = [n * c / sum(PH2_MIX) for c in PH2_MIX]
    counts = [int(x) for x in exact]
    order = sorted(range(3), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return counts


def _ph2_ids(rng: np.random.Generator, n: int) -> list[str]:
    """Sorted, non-contiguous ids like the real IMD002, IMD003, IMD004, IMD006, ..."""
    first = [2, 3, 4, 6][:n]
    top = max(437, 2 * n + 10)
    pool = np.setdiff1d(np.arange(7, top + 1), first)
    rest = rng.choice(pool, size=n - len(first), replace=False) if n > len(first) else []
    return [f"IMD{i:03d}" for i in sorted([*first, *(int(x) for x in rest)])]


def _sample_lesion(rng: np.random.Generator, diagnosis: int) -> Lesion:
    """Dermoscopic criteria typical of the diagnosis (what the metadata row reports)."""
    pick = rng.choice
    if diagnosis == 0:
        les = Lesion(0, int(pick([0, 1], p=[0.85, 0.15])), str(pick(["T", "A"], p=[0.7, 0.3])),
                     str(pick(["A", "T"], p=[0.65, 0.35])), "A", "A", "A")
        les.colours = [[3], [4], [3, 4]][int(pick(3, p=[0.35, 0.3, 0.35]))]
        les.low_contrast = bool(rng.random() < 0.3)
    elif diagnosis == 1:
        les = Lesion(1, int(pick([0, 1, 2], p=[0.3, 0.5, 0.2])), str(pick(["T", "AT", "A"], p=[0.4, 0.45, 0.15])),
                     str(pick(["A", "T", "AT"], p=[0.4, 0.3, 0.3])), str(pick(["A", "P"], p=[0.85, 0.15])),
                     str(pick(["A", "P"], p=[0.8, 0.2])), str(pick(["A", "P"], p=[0.95, 0.05])))
        les.colours = [3, 4] if rng.random() < 0.8 else [int(pick([3, 4]))]
        les.low_contrast = bool(rng.random() < 0.12)
    else:
        les = Lesion(2, int(pick([1, 2], p=[0.3, 0.7])), str(pick(["AT", "A", "T"], p=[0.6, 0.3, 0.1])),
                     str(pick(["AT", "A", "T"], p=[0.5, 0.35, 0.15])), str(pick(["A", "P"], p=[0.5, 0.5])),
                     str(pick(["A", "P"], p=[0.5, 0.5])), str(pick(["A", "P"], p=[0.4, 0.6])))
        les.colours = [3, 4]
        if rng.random() < 0.6:
            les.colours.append(6)
    if les.regression == "P":
        les.colours.append(1)
    if les.veil == "P" or (diagnosis == 2 and rng.random() < 0.3):
        les.colours.append(5)
    if diagnosis == 2 and rng.random() < 0.25 or diagnosis == 1 and rng.random() < 0.05:
        les.colours.append(2)
    les.colours = sorted(set(les.colours))
    return les


def _area_target(rng: np.random.Generator, diagnosis: int) -> float:
    """Lesion area fraction: nevi small, melanomas large (overall median ~23 %, mean ~32 %)."""
    if diagnosis == 0:
        return float(np.clip(0.14 * math.exp(0.45 * rng.standard_normal()), 0.03, 0.4))
    if diagnosis == 1:
        return float(np.clip(0.29 * math.exp(0.5 * rng.standard_normal()), 0.05, 0.75))
    return float(np.clip(0.03 + 0.95 * rng.beta(3.5, 1.8), 0.2, 0.98))


def _ph2_size(rng: np.random.Generator) -> tuple[int, int]:
    """(width, height): most often 767x576, otherwise 761-769 by 553-577."""
    if rng.random() < 0.55:
        return 767, 576
    return int(rng.integers(761, 770)), int(rng.integers(553, 578))


def _radius_table(rng: np.random.Generator, les: Lesion, fit: float | None = None, n_angles: int = 1024):
    """Boundary radius per angle: a rotated ellipse with Fourier wobbles (asymmetry grows them).

    `fit` (the frame's aspect ratio) lines a large lesion up with the frame, as a
    dermatologist frames it to fit the field of view.
    """
    theta = np.linspace(-np.pi, np.pi, n_angles, endpoint=False)
    elong = 1 + [0.12, 0.25, 0.35][les.diagnosis] * rng.random()
    rot = rng.normal(0, 0.35) if rng.random() < 0.7 else rng.uniform(-np.pi, np.pi)
    if fit:
        elong, rot = fit * rng.uniform(0.95, 1.05), rng.normal(0, 0.05)
    ea, eb = math.sqrt(elong), 1 / math.sqrt(elong)
    r = 1 / np.sqrt((np.cos(theta - rot) / ea) ** 2 + (np.sin(theta - rot) / eb) ** 2)
    amp = [0.035, 0.07, 0.12][les.diagnosis] * (1 + 0.6 * les.asymmetry)
    wobble = np.zeros_like(theta)
    for k in range(1, 11):
        a = amp * rng.standard_normal() / k**1.1
        if k == 1:
            a *= 0.6 * les.asymmetry
        if fit:  # keep the outline irregular but the lesion inside the frame
            a *= 0.15 if k <= 2 else 0.45
        wobble += a * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    return (r * np.clip(1 + wobble, 0.35, None)).astype(np.float32)


def _draw_curve(draw, rng, start, angle, length, bend, width, fill=255, steps=24):
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


def _skin(rng, h, w, k):
    """Skin with a per-case tone, blotchy redness, fine texture and faint furrows."""
    tone = rng.random()
    light, dark = np.array([230, 200, 182]), np.array([172, 130, 102])
    base = light + (dark - light) * tone + rng.normal(0, [5, 5, 6]) + [rng.uniform(0, 10), 0, 0]
    skin = np.empty((h, w, 3), np.float32)
    skin[:] = base.astype(np.float32)
    broad = _noise(rng, h, w, 90 * k) * 0.035
    red = np.clip(_noise(rng, h, w, 60 * k), 0, None) * rng.uniform(0, 0.05)
    fine = _noise(rng, h, w, 1.5) * 0.018
    furrow = np.exp(-(_noise(rng, h, w, 10 * k) / 0.15) ** 2) * rng.uniform(0.005, 0.03)
    shade = 1 + broad + fine - furrow
    skin *= shade[..., None]
    skin[..., 1:] *= (1 - red)[..., None]
    return skin


def _lesion_field(rng, les, h, w, k, area):
    """Distance-like field f (lesion where f < 1) at working size, its normalised radius, geometry."""
    big = area > 0.35
    touch = (les.diagnosis == 2 or big) and rng.random() < 0.35  # about half the melanomas
    if touch:  # off-centre, so that it runs out of the frame
        angle, dist = rng.uniform(0, 2 * np.pi), rng.uniform(0.12, 0.3)
        cx, cy = w / 2 + dist * w * math.cos(angle), h / 2 + dist * h * math.sin(angle)
    else:
        spread = 0.03 if big else 0.08
        cx, cy = w / 2 + rng.normal(0, spread) * w, h / 2 + rng.normal(0, spread) * h
    table = _radius_table(rng, les, fit=w / h if big and not touch else None)
    yy, xx = np.ogrid[:h, :w]
    dx, dy = (xx - cx).astype(np.float32), (yy - cy).astype(np.float32)
    rho = np.hypot(dx, dy)
    idx = ((np.arctan2(dy, dx) + np.pi) * (len(table) / (2 * np.pi))).astype(np.int32) % len(table)
    g = rho / table[idx]
    rough = _noise(rng, h, w, rng.uniform(10, 30) * k) * [0.025, 0.05, 0.08][les.diagnosis] * (0.3 if big else 1)
    lo, hi = 0.5, 2000.0  # bisection on the scale so that the area matches the target
    gs, rs = g[::2, ::2], rough[::2, ::2]
    for _ in range(24):
        s = math.sqrt(lo * hi)
        if np.mean(gs / s + rs < 1) > area:
            hi = s
        else:
            lo = s
    s = math.sqrt(lo * hi)
    rn = g / s
    f = rn + rough
    inside = f < 1
    labels, count = ndimage.label(inside)
    if count > 1:  # one lesion: drop satellite islands from the field
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        keep = labels == sizes.argmax()
        f[inside & ~keep] = 1.02
        inside = keep
    outside, count = ndimage.label(~inside)
    if count > 1:  # skin enclosed by the lesion belongs to the lesion (as the annotators drew it)
        edge = np.unique(np.concatenate([outside[0], outside[-1], outside[:, 0], outside[:, -1]]))
        f[(outside > 0) & ~np.isin(outside, edge)] = 0.98
    return f, np.clip(rn, 0, 1), (cx, cy, s, table)


def _lesion_colour(rng, les, h, w, k, rn):
    """The lesion's own colours: brown gradient, colour patches, network; ROI masks per colour."""
    light = np.array([198, 134, 94]) + rng.normal(0, [10, 7, 7])
    dark = np.array([116, 72, 50]) + rng.normal(0, [10, 6, 6])
    cols = set(les.colours)
    t0 = {frozenset([3]): rng.uniform(-0.05, 0.3), frozenset([4]): rng.uniform(0.55, 0.85)}.get(
        frozenset(cols & {3, 4}), rng.uniform(0.15, 0.5))
    t0 += 0.25 * (les.diagnosis == 2)
    spread = 0.12 if len(cols & {3, 4}) < 2 else 0.25
    t = t0 + spread * _noise(rng, h, w, rng.uniform(20, 50) * k) + rng.uniform(0.1, 0.45) * (1 - rn) ** 1.5
    t = np.clip(t, -0.1, 1.15)
    col = light.astype(np.float32) + (dark - light).astype(np.float32) * t[..., None]
    ring = np.clip((1 - rn) / 0.3, 0, 1)
    shade = 1 + 0.05 * _noise(rng, h, w, 1.5)
    if les.network != "A":  # a fine brown mesh: the connected dark complement of small light holes
        size = rng.uniform(4, 6) if les.network == "T" else rng.uniform(5, 10)
        lines = np.exp(-((_noise(rng, h, w, max(2.0, size * k)) / 0.35) ** 2))
        region = ring if les.network == "T" else ring * np.clip(_noise(rng, h, w, 60 * k) + 0.5, 0, 1)
        shade -= lines * region * (rng.uniform(0.08, 0.16) if les.network == "T" else rng.uniform(0.14, 0.26))
    col *= shade[..., None]
    weights = {}
    for code in sorted(cols - {3, 4}):
        n = _noise(rng, h, w, rng.uniform(25, 60) * k)
        centre = {1: 0.3, 2: 0.2, 5: 0.9, 6: 0.8}[code]
        threshold = rng.uniform(1.0, 1.5) + (0.2 if code in (1, 6) else 0)
        weight = np.clip((n + centre * (1 - rn) - threshold) * 1.4, 0, 1) * ring
        opacity = {1: 0.6, 2: 0.4, 5: 0.65, 6: 0.75}[code] * rng.uniform(0.8, 1.1)
        rgb = np.array(PATCH_RGB[code], np.float32) + rng.normal(0, 6, 3).astype(np.float32)
        col += (rgb - col) * (weight * opacity)[..., None]
        weights[code] = weight
    return col, weights


def _marks(rng, les, geometry, h, w, k):
    """Dots/globules and streaks painted as a darkening layer (0..1)."""
    cx, cy, s, table = geometry
    layer = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(layer)

    def point(frac, theta):
        r = s * table[int((theta + np.pi) / (2 * np.pi) * len(table)) % len(table)] * frac
        return cx + r * math.cos(theta), cy + r * math.sin(theta)

    if les.dots != "A":
        count = int(rng.integers(5, 16) if les.dots == "T" else rng.integers(8, 30))
        for _ in range(count):
            frac = rng.uniform(0.5, 0.92) if les.dots == "T" else rng.uniform(0.1, 0.95)
            x, y = point(frac, rng.uniform(-np.pi, np.pi))
            r = (rng.uniform(1.5, 3.5) if les.dots == "T" else rng.uniform(1.5, 6)) * k * 1.4
            draw.ellipse((x - r, y - r, x + r, y + r), fill=int(rng.integers(90, 220)))
    if les.streaks == "P":
        start = rng.uniform(-np.pi, np.pi)
        for _ in range(int(rng.integers(8, 25))):
            th = start + rng.normal(0, 0.8)
            draw.line([point(0.78, th), point(rng.uniform(0.95, 1.02), th + rng.normal(0, 0.03))],
                      fill=int(rng.integers(140, 220)), width=max(1, round(rng.uniform(2, 5) * k)))
    if les.dots == "A" and les.streaks == "A":
        return None
    return np.asarray(layer.filter(ImageFilter.BoxBlur(1)), np.float32) / 255


def _blend(img, layer: Image.Image, rgb, strength, blur=None):
    """Paint `rgb` over img where the drawn L layer is bright (softened by a small box blur)."""
    if blur:
        layer = layer.filter(ImageFilter.BoxBlur(blur))
    a = np.asarray(layer, np.float32)[..., None] * (strength / 255)
    img += (np.asarray(rgb, np.float32) - img) * a


def _artefacts(rng, img, h, w, k):
    """Hairs (thin dark curves), gel bubbles (bright rings), occasional ruler and ink marks."""
    kind = rng.random()
    count = 0 if kind < 0.45 else int(rng.integers(1, 7)) if kind < 0.8 else int(rng.integers(10, 40))
    if count:
        hair = Image.new("L", (w, h), 0)
        dh = ImageDraw.Draw(hair)
        for _ in range(count):
            start = (rng.uniform(-50, w + 50), rng.uniform(-50, h + 50))
            _draw_curve(dh, rng, start, rng.uniform(0, 2 * np.pi), rng.uniform(120, 700) * k,
                        rng.normal(0, 0.6), 1, fill=int(rng.choice([150, 200, 255])))
        hair_rgb = np.array([45, 32, 26]) + rng.uniform(-15, 25)
        _blend(img, hair, hair_rgb, rng.uniform(0.75, 0.95))
    if rng.random() < 0.35:
        ring = Image.new("L", (w, h), 0)
        inside = Image.new("L", (w, h), 0)
        dr, di = ImageDraw.Draw(ring), ImageDraw.Draw(inside)
        for _ in range(int(rng.integers(1, 9))):
            x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(4, 45) * k
            box = (x - r, y - r, x + r, y + r)
            di.ellipse(box, fill=255)
            dr.ellipse(box, outline=255, width=1 + int(r > 12))
            q = r * 0.55
            dr.arc((x - q, y - q, x + q, y + q), 200, 250, fill=255, width=max(1, int(r / 10)))
        img *= 1 + 0.04 * np.asarray(inside, np.float32)[..., None] / 255
        _blend(img, ring, (250, 250, 250), 0.65)
    if rng.random() < 0.08:  # ruler along one edge
        ink = Image.new("L", (w, h), 0)
        dk = ImageDraw.Draw(ink)
        y0 = rng.uniform(0.08, 0.2) * h if rng.random() < 0.5 else rng.uniform(0.8, 0.92) * h
        x0, step = rng.uniform(0.2, 0.35) * w, rng.uniform(7, 11) * k
        for i in range(int(rng.integers(20, 40))):
            dk.line([(x0 + i * step, y0), (x0 + i * step, y0 + (14 if i % 5 == 0 else 7) * k)], fill=255)
        dk.line([(x0, y0), (x0 + 40 * step, y0)], fill=255)
        _blend(img, ink, (20, 20, 20), 0.85)
    if rng.random() < 0.05:  # marker-pen ink stroke
        ink = Image.new("L", (w, h), 0)
        _draw_curve(ImageDraw.Draw(ink), rng, (rng.uniform(0, w), rng.uniform(0, h)), rng.uniform(0, 2 * np.pi),
                    rng.uniform(60, 200) * k, rng.normal(0, 1), max(2, round(rng.uniform(5, 14) * k)))
        _blend(img, ink, (70, 50, 110), 0.7, blur=1)
    return img


def _vignette(rng, h, w):
    """The dermatoscope's circular field: black corners in ~60 % of images, dim ones otherwise."""
    yy, xx = np.ogrid[:h, :w]
    cx, cy = w / 2 + rng.normal(0, 0.01) * w, h / 2 + rng.normal(0, 0.01) * h
    d = np.hypot(xx - cx, yy - cy).astype(np.float32) / np.float32(0.5 * math.hypot(w, h))
    if rng.random() < 0.6:
        r_in, width, floor = rng.uniform(0.8, 0.9), rng.uniform(0.03, 0.08), rng.uniform(0.0, 0.06)
    else:
        r_in, width, floor = rng.uniform(0.5, 0.7), rng.uniform(0.4, 0.7), rng.uniform(0.5, 0.85)
    x = np.clip((d - r_in) / np.float32(width), 0, 1)
    fall = x * x * (3 - 2 * x)
    return (1 - 0.06 * d * d) * (1 - np.float32(1 - floor) * fall)


WORK = 0.5  # PH2 cases are painted at half size, then upsampled (the real images are soft too)


@functools.lru_cache(maxsize=1)
def _grain() -> np.ndarray:
    """A fixed bank of sensor noise (int16) from which each image takes a random window."""
    return np.random.default_rng(20130703).normal(0, 2.2, (640, 832, 3)).round().astype(np.int16)


def _add_grain(rng, img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    bank = _grain()
    y, x = int(rng.integers(0, bank.shape[0] - h + 1)), int(rng.integers(0, bank.shape[1] - w + 1))
    return np.clip(img.astype(np.int16) + bank[y:y + h, x:x + w], 0, 255).astype(np.uint8)


def render_ph2_case(seed: int, index: int, diagnosis: int):
    """One synthetic dermoscopy case: (RGB uint8 image, bool lesion mask, ROI masks by colour, Lesion)."""
    rng = _rng(seed, 1, index)
    width, height = _ph2_size(rng)
    k = WORK
    w, h = math.ceil(width * k), math.ceil(height * k)
    les = _sample_lesion(rng, diagnosis)
    area = _area_target(rng, diagnosis)
    skin = _skin(rng, h, w, k)
    f, rn, geometry = _lesion_field(rng, les, h, w, k, area)
    col, weights = _lesion_colour(rng, les, h, w, k, rn)
    marks = _marks(rng, les, geometry, h, w, k)
    if marks is not None:
        col *= (1 - 0.6 * marks)[..., None]
    border_px = rng.uniform(*[(1.5, 6), (2, 10), (3, 14)][diagnosis]) * k
    sharp = geometry[2] * float(geometry[3].mean()) / border_px
    alpha = 1 / (1 + np.exp(np.clip((f - 1) * sharp, -30, 30)))
    if les.low_contrast:
        alpha *= rng.uniform(0.4, 0.65)
    img = skin + (col - skin) * alpha[..., None]
    img = _artefacts(rng, img, h, w, k)
    img *= _vignette(rng, h, w)[..., None]
    small = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    full = small.resize((width, height), Image.Resampling.BICUBIC, box=(0, 0, width * k, height * k))
    image = _add_grain(rng, np.asarray(full))

    def up(field):  # working-size field -> full-size, same box as the image
        return np.asarray(Image.fromarray(field.astype(np.float32)).resize(
            (width, height), Image.Resampling.BILINEAR, box=(0, 0, width * k, height * k)))

    mask = up(f) < 1
    rois = {code: mask for code in set(les.colours) & {3, 4}}
    rois.update({code: (up(wt) > 0.5) & mask for code, wt in weights.items()})
    return image, mask, rois, les


def _ph2_row(case_id: str, les: Lesion, histology: str) -> str:
    """One data row of PH2_dataset.txt in the real '||' layout."""
    colours = "  ".join(str(c) for c in les.colours)
    return (f"|| {case_id} || {histology:>22} || {les.diagnosis:>18} || {les.asymmetry:>9} | "
            f"{les.network:>15} | {les.dots:>13} | {les.streaks:>7} | {les.regression:>16} | "
            f"{les.veil:>17} || {colours:>14} ||")


PH2_HEADER = ("||   Name   || Histological Diagnosis || Clinical Diagnosis || Asymmetry | "
              "Pigment Network | Dots/Globules | Streaks | Regression Areas | Blue-Whitish Veil || "
              "        Colors ||")
PH2_LEGEND = """
Legend:
  Clinical Diagnosis: 0 - Common Nevus; 1 - Atypical Nevus; 2 - Melanoma
  Asymmetry: 0 - Fully Symmetric; 1 - Symmetric in 1 axis; 2 - Fully Asymmetric
  Pigment Network, Dots/Globules: A - Absent; T - Typical; AT - Atypical
  Streaks, Regression Areas, Blue-Whitish Veil: A - Absent; P - Present
  Colors: 1 - White; 2 - Red; 3 - Light-Brown; 4 - Dark-Brown; 5 - Blue-Gray; 6 - Black
"""
PH2_README = """PH2Dataset -- SYNTHETIC STAND-IN written by segcourse.synth (seed {seed}, {n} cases)

These are NOT real dermoscopy images. They imitate the layout and the image statistics of
the PH2 database (Mendonca et al., EMBC 2013) so that course code runs without the data.
Get the real archive from https://www.fc.up.pt/addi/ph2%20database.html

Layout (as in the real archive):
  PH2 Dataset images/IMDxxx/IMDxxx_Dermoscopic_Image/IMDxxx.bmp   24-bit image
  PH2 Dataset images/IMDxxx/IMDxxx_lesion/IMDxxx_lesion.bmp       1-bit mask, 1 = lesion
  PH2 Dataset images/IMDxxx/IMDxxx_roi/IMDxxx_Rk_Labelc.bmp       colour-region masks (some cases)
  PH2_dataset.txt                                                  '||'-delimited metadata
"""


def _save_1bit(mask: np.ndarray, path: Path) -> None:
    """A palettised 1-bit BMP with index 1 = foreground, like the real PH2 masks."""
    Image.fromarray(np.ascontiguousarray(mask, dtype=bool)).save(path, format="BMP")


def synth_ph2(dest, n: int = 200, seed: int = 0, progress: bool = True, overwrite: bool = False) -> Path:
    """Write a PH2-like stand-in under `dest/PH2Dataset/` in the real layout; return that folder."""
    if int(n) < 1:
        raise ValueError(f"synth_ph2: n must be at least 1, got {n}")
    n = int(n)
    target, stage = _claim(dest, PH2_FOLDER, overwrite)
    try:
        rng = _rng(seed, 0)
        ids = _ph2_ids(rng, n)
        diagnoses = np.repeat([0, 1, 2], _class_counts(n))
        rng.shuffle(diagnoses)
        roi_cases = set(rng.choice(n, size=max(1, round(0.1 * n)), replace=False).tolist())
        rows = [PH2_HEADER]
        images = stage / PH2_IMAGES
        for i in tqdm(range(n), desc="synth PH2", unit="case", disable=not progress):
            case = ids[i]
            img, mask, rois, les = render_ph2_case(seed, i, int(diagnoses[i]))
            folder = images / case
            (folder / f"{case}_Dermoscopic_Image").mkdir(parents=True)
            (folder / f"{case}_lesion").mkdir()
            Image.fromarray(img).save(folder / f"{case}_Dermoscopic_Image" / f"{case}.bmp", format="BMP")
            _save_1bit(mask, folder / f"{case}_lesion" / f"{case}_lesion.bmp")
            if i in roi_cases:
                (folder / f"{case}_roi").mkdir()
                for k, code in enumerate(sorted(rois), start=1):
                    _save_1bit(rois[code], folder / f"{case}_roi" / f"{case}_R{k}_Label{code}.bmp")
            histology = "Melanoma" if les.diagnosis == 2 and _rng(seed, 3, i).random() < 0.2 else ""
            rows.append(_ph2_row(case, les, histology))
        (stage / "PH2_dataset.txt").write_text("\n".join(rows) + "\n" + PH2_LEGEND)
        (stage / "Readme.txt").write_text(PH2_README.format(seed=seed, n=n))
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return _publish(stage, target)


def read_ph2_metadata(path: str | os.PathLike) -> dict[str, str]:
    """Case id -> diagnosis name from a PH2_dataset.txt (used by the preview and the tests)."""
    out = {}
    for line in Path(path).read_text(errors="replace").splitlines():
        cells = [c.strip() for c in line.split("||")]
        if len(cells) > 3 and cells[1].startswith("IMD") and cells[3] in ("0", "1", "2"):
            out[cells[1]] = DIAGNOSES[int(cells[3])]
    return out


# ----------------------------------------------------------------------------- MADS stand-in

# Segment lengths and widths as fractions of the standing body height.
BODY = {
    "head": (0.058, 0.07), "neck": 0.045, "torso": 0.30, "shoulder": 0.115, "hip": 0.075,
    "uarm": (0.165, 0.052, 0.044), "farm": (0.145, 0.042, 0.034), "hand": 0.028,
    "thigh": (0.235, 0.09, 0.066), "shin": (0.235, 0.064, 0.045), "foot": (0.08, 0.034),
}


@dataclass
class Pose:
    """Joint angles in degrees in the image plane (0 = pointing down, + = towards +x)."""

    lean: float
    arms: tuple  # ((upper, bend), (upper, bend)) for the image-left and image-right arm
    legs: tuple
    side: bool  # side view (limbs swing in the image plane) or frontal view
    facing: int  # +1 faces image right, -1 left
    foreshorten: tuple  # length factors for the four limbs (out-of-plane motion)


def _sample_pose(rng: np.random.Generator, family: str) -> Pose:
    """Joint angles from one of the pose families: dance, martial arts, tai chi, sport."""
    u = rng.uniform
    facing = 1 if rng.random() < 0.5 else -1
    fore = tuple(float(x) for x in np.clip(rng.normal(0.95, 0.1, 4), 0.55, 1.0))
    if family == "sport" and rng.random() < 0.6:  # running, jumping, throwing, side-on
        swing = u(20, 55)
        arms = ((facing * swing, facing * u(40, 100)), (-facing * swing * u(0.6, 1.2), facing * u(30, 90)))
        if rng.random() < 0.3:  # throwing / reaching up
            arms = ((facing * u(120, 170), facing * u(0, 40)), (-facing * u(20, 60), facing * u(20, 70)))
        stride = u(15, 45)
        legs = ((facing * stride, -facing * u(10, 60)), (-facing * stride * u(0.5, 1), -facing * u(30, 100)))
        return Pose(facing * u(0, 18), arms, legs, True, facing, fore)
    if family == "martial" and rng.random() < 0.3:  # side kick
        kick = (facing * u(70, 110), -facing * u(0, 30))
        stand = (-facing * u(5, 20), -facing * u(0, 20))
        arms = ((facing * u(40, 100), facing * u(60, 130)), (-facing * u(10, 60), facing * u(60, 130)))
        return Pose(-facing * u(5, 25), arms, (kick, stand), True, facing, fore)
    lean = rng.normal(0, 6)
    if family == "dance":
        arms = tuple((u(-15, 175), u(-110, 110)) for _ in range(2))
        legs = [(u(-5, 35), u(-50, 50) * (rng.random() < 0.5)) for _ in range(2)]
        if rng.random() < 0.3:
            k = int(rng.integers(2))
            legs[k] = (u(40, 100), u(-80, 30))
        if rng.random() < 0.2:  # crouch
            legs = [(u(30, 50), -u(40, 70)) for _ in range(2)]
        lean = rng.normal(0, 12)
    elif family == "martial":  # horse stance, punches and blocks
        stance = u(18, 45)
        legs = [(stance, -u(10, 45)), (stance * u(0.7, 1.1), -u(10, 45))]
        punch = (u(75, 100), u(-10, 10))
        guard = (u(5, 40), u(90, 140)) if rng.random() < 0.5 else (u(60, 130), u(60, 110))
        arms = (punch, guard) if rng.random() < 0.5 else (guard, punch)
    else:  # tai chi: slow, rounded, knees soft
        arms = tuple((u(20, 100), u(20, 90)) for _ in range(2))
        legs = [(u(8, 30), -u(5, 35)) for _ in range(2)]
    arms = ((-arms[0][0], -arms[0][1]), (arms[1][0], arms[1][1]))
    legs = ((-legs[0][0], -legs[0][1]), (legs[1][0], legs[1][1]))
    return Pose(lean, arms, legs, False, facing, fore)


def _direction(deg: float) -> np.ndarray:
    rad = math.radians(deg)
    return np.array([math.sin(rad), math.cos(rad)])


def _skeleton(pose: Pose, height: float) -> dict:
    """Joint positions (pixels, pelvis at the origin) and segment widths for a pose."""
    lean = math.radians(pose.lean)
    up = np.array([math.sin(lean), -math.cos(lean)])
    across = np.array([math.cos(lean), math.sin(lean)])
    width = 0.3 if pose.side else 1.0
    neck = up * BODY["torso"] * height
    j = {"pelvis": np.zeros(2), "neckbase": neck,
         "head": neck + up * (BODY["neck"] + BODY["head"][1] * 0.9) * height}
    for k, (name, sign) in enumerate((("l", -1), ("r", 1))):
        sh = neck - up * 0.03 * height + sign * across * BODY["shoulder"] * width * height
        hp = sign * across * BODY["hip"] * width * height
        (ua, ub), (la, lb) = pose.arms[k], pose.legs[k]
        fa, fl = pose.foreshorten[k], pose.foreshorten[2 + k]
        el = sh + _direction(ua + pose.lean) * BODY["uarm"][0] * height * fa
        wr = el + _direction(ua + ub + pose.lean) * BODY["farm"][0] * height * fa
        kn = hp + _direction(la) * BODY["thigh"][0] * height * fl
        an = kn + _direction(la + lb) * BODY["shin"][0] * height * fl
        foot_dir = pose.facing if pose.side else sign * 0.6
        toe = an + np.array([foot_dir * BODY["foot"][0] * height, 0.012 * height])
        j.update({f"{name}sh": sh, f"{name}el": el, f"{name}wr": wr, f"{name}hp": hp,
                  f"{name}kn": kn, f"{name}an": an, f"{name}toe": toe})
    return j


def _capsule(draw, p, q, w1, w2, fill):
    """A tapered capsule from p (width w1) to q (width w2); Pillow draws it without antialiasing."""
    p, q = np.asarray(p, float), np.asarray(q, float)
    d = q - p
    length = float(np.hypot(*d))
    if length > 1e-6:
        nrm = np.array([-d[1], d[0]]) / length
        poly = [p + nrm * w1 / 2, q + nrm * w2 / 2, q - nrm * w2 / 2, p - nrm * w1 / 2]
        draw.polygon([tuple(v) for v in poly], fill=fill)
    for c, wd in ((p, w1), (q, w2)):
        r = wd / 2
        draw.ellipse((c[0] - r, c[1] - r, c[0] + r, c[1] + r), fill=fill)


@dataclass
class Look:
    """How one performer (or a distractor) is dressed."""

    top: np.ndarray
    bottom: np.ndarray
    skin: np.ndarray
    hair: np.ndarray
    shoes: np.ndarray
    sleeves: bool
    trousers: bool
    bulk: float  # clothing width factor (loose tai chi suits, baggy hip hop)
    belt: np.ndarray | None = None
    levels: int = 4  # shading bands (1 = flat)


CLOTHES = np.array([[25, 25, 28], [235, 235, 232], [180, 30, 35], [30, 60, 150], [120, 120, 125],
                    [40, 110, 60], [220, 190, 40], [20, 30, 70], [150, 80, 40], [200, 120, 160],
                    [60, 160, 190], [90, 60, 110]], np.float32)


def _sample_look(rng: np.random.Generator, action: str) -> Look:
    """Clothes, skin and hair for one performer; martial artists often in a white or black gi."""
    skin = np.array([225, 180, 150], np.float32) * rng.uniform(0.45, 1.05) + rng.normal(0, 5, 3)
    hair = np.array([40, 30, 22], np.float32) * rng.uniform(0.4, 2.5)
    top, bottom = CLOTHES[rng.integers(len(CLOTHES))], CLOTHES[rng.integers(len(CLOTHES))]
    belt = None
    if action == "Kata" and rng.random() < 0.8:
        top = bottom = CLOTHES[1] if rng.random() < 0.7 else CLOTHES[0]
        belt = CLOTHES[int(rng.choice([0, 2, 6, 8]))]
    bulk = {"Taichi": 1.3, "HipHop": 1.2, "Kata": 1.15}.get(action, 1.0) * rng.uniform(0.9, 1.1)
    return Look(top.copy(), bottom.copy(), np.clip(skin, 30, 250), np.clip(hair, 10, 230),
                CLOTHES[int(rng.choice([0, 1, 4]))].copy(), bool(rng.random() < 0.7 or action in ("Kata", "Taichi")),
                bool(rng.random() < 0.75 or action != "Sports"), bulk, belt)


def _draw_person(img: Image.Image, mask: Image.Image | None, joints: dict, height: float, look: Look,
                 light: np.ndarray, pose: Pose, offset: np.ndarray) -> None:
    """Paint a shaded articulated body onto `img` and its exact silhouette onto `mask`."""
    draw = ImageDraw.Draw(img)
    mdraw = ImageDraw.Draw(mask) if mask is not None else None
    j = {k: v + offset for k, v in joints.items()}
    b = look.bulk

    def part(p, q, w1, w2, colour, dim=1.0):
        for lev in range(look.levels):
            s = 1 - 0.2 * lev
            shift = light * lev * 0.12 * min(w1, w2)
            tone = (0.72 + 0.11 * lev if look.levels > 1 else 1.0) * dim
            fill = tuple(int(v) for v in np.clip(colour * tone, 0, 255))
            _capsule(draw, p + shift, q + shift, w1 * s, w2 * s, fill)
        if mdraw is not None:
            _capsule(mdraw, p, q, w1, w2, 255)

    def limb_set(side, dim):
        ua, fa, th, sh = BODY["uarm"], BODY["farm"], BODY["thigh"], BODY["shin"]
        legcol = look.bottom if look.trousers else look.skin
        part(j[f"{side}hp"], j[f"{side}kn"], th[1] * height * b, th[2] * height * b, look.bottom, dim)
        part(j[f"{side}kn"], j[f"{side}an"], sh[1] * height * b, sh[2] * height * b, legcol, dim)
        part(j[f"{side}an"], j[f"{side}toe"], BODY["foot"][1] * height * 1.2, BODY["foot"][1] * height, look.shoes, dim)
        return [
            lambda: part(j[f"{side}sh"], j[f"{side}el"], ua[1] * height * b, ua[2] * height * b, look.top, dim),
            lambda: part(j[f"{side}el"], j[f"{side}wr"], fa[1] * height * b, fa[2] * height * b,
                         look.top if look.sleeves else look.skin, dim),
            lambda: part(j[f"{side}wr"], j[f"{side}wr"] + (j[f"{side}wr"] - j[f"{side}el"]) * 0.25,
                         BODY["hand"] * 2 * height, BODY["hand"] * 1.6 * height, look.skin, dim),
        ]

    far, near = ("l", "r") if pose.facing > 0 else ("r", "l")
    far_arm = limb_set(far, 0.85 if pose.side else 1.0)
    near_arm = limb_set(near, 1.0)
    if pose.side:
        for f in far_arm:
            f()
    width = 0.55 if pose.side else 1.0
    tw = BODY["shoulder"] * 2 * width * height * b
    spine = j["neckbase"] - j["pelvis"]
    part(j["pelvis"] + spine * 0.25, j["neckbase"] - spine * 0.08, tw * 0.66, tw * 0.95, look.top)
    hip_w = BODY["thigh"][1] * height * b * 1.1
    waist = j["pelvis"] + (j["neckbase"] - j["pelvis"]) * 0.12
    part(j["lhp"] + (waist - j["pelvis"]), j["rhp"] + (waist - j["pelvis"]), hip_w, hip_w, look.bottom)
    part(j["lhp"], j["rhp"], hip_w, hip_w, look.bottom)
    if look.belt is not None:
        mid = j["pelvis"] + (j["neckbase"] - j["pelvis"]) * 0.22
        part(mid, mid + (j["neckbase"] - j["pelvis"]) * 0.03, tw * 0.72, tw * 0.72, look.belt)
    part(j["neckbase"], j["head"], BODY["neck"] * height, BODY["neck"] * height, look.skin)
    hx, hy = BODY["head"]
    head = j["head"]
    part(head - [0, hy * height * 0.3], head + [0, hy * height * 0.3], 2 * hx * height, 2 * hx * height, look.skin)
    part(head - [0, hy * height * 0.45], head - [pose.facing * hx * height * 0.2, -hy * height * 0.05],
         2 * hx * height * 0.98, 2 * hx * height * 0.9, look.hair)
    if not pose.side:
        for f in far_arm:
            f()
    for f in near_arm:
        f()


@functools.lru_cache(maxsize=64)
def _studio(seed: int, key: int, w: int, h: int):
    """A near-uniform studio background with a floor line and clutter: (image, floor y)."""
    rng = _rng(seed, 5, key)
    wall = np.array(rng.choice([[178, 176, 170], [192, 182, 162], [150, 160, 172], [95, 96, 100],
                                [128, 150, 126], [205, 205, 208]]), np.float32) + rng.normal(0, 6, 3)
    floor_y = int(h * rng.uniform(0.55, 0.74))
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    lx, ly = rng.uniform(0.2, 0.8) * w, rng.uniform(-0.2, 0.3) * h
    glow = 1.08 - 0.25 * np.hypot(xx - lx, yy - ly) / w
    img = wall * glow[..., None]
    floor = wall * rng.uniform(0.55, 0.9) + rng.normal(0, 10, 3)
    depth = (yy[floor_y:] - floor_y) / (h - floor_y)
    img[floor_y:] = floor * (0.85 + 0.25 * depth)[..., None]
    img *= (1 + 0.02 * _noise(rng, h, w, 40))[..., None]
    pic = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(pic)
    d.line([(0, floor_y), (w, floor_y)], fill=tuple(int(v) for v in floor * 0.6), width=int(rng.integers(1, 5)))
    vx = rng.uniform(0.3, 0.7) * w
    for _ in range(int(rng.integers(0, 5))):  # floor mat seams towards a vanishing point
        x_bottom = rng.uniform(-0.5, 1.5) * w
        d.line([(vx + (x_bottom - vx) * 0.05, floor_y), (x_bottom, h)], fill=tuple(int(v) for v in floor * 0.8), width=1)
    for _ in range(int(rng.integers(1, 5))):
        kind = rng.random()
        x = rng.uniform(0, w)
        if kind < 0.4:  # box on the floor
            bw, bh = rng.uniform(25, 90), rng.uniform(20, 80)
            base = floor_y + rng.uniform(5, 40)
            c = CLOTHES[rng.integers(len(CLOTHES))] * 0.5 + wall * 0.4
            d.rectangle((x, base - bh, x + bw, base), fill=tuple(int(v) for v in c))
            d.polygon([(x, base - bh), (x + bw, base - bh), (x + bw + 10, base - bh - 8), (x + 10, base - bh - 8)],
                      fill=tuple(int(v) for v in np.clip(c * 1.25, 0, 255)))
        elif kind < 0.7:  # light stand with a lamp head
            top = rng.uniform(0.1, 0.4) * h
            base = floor_y + rng.uniform(5, 30)
            d.line([(x, top), (x, base)], fill=(40, 40, 42), width=3)
            for dx in (-18, 0, 18):
                d.line([(x, base - 20), (x + dx, base)], fill=(40, 40, 42), width=2)
            lit = rng.random() < 0.5
            d.rectangle((x - 22, top - 30, x + 22, top), fill=(250, 248, 235) if lit else (30, 30, 32))
        elif kind < 0.85:  # wall panel or door
            pw, ph = rng.uniform(40, 120), rng.uniform(0.3, 0.6) * h
            c = wall * rng.uniform(0.75, 1.15)
            d.rectangle((x, floor_y - ph, x + pw, floor_y), fill=tuple(int(v) for v in np.clip(c, 0, 255)),
                        outline=tuple(int(v) for v in c * 0.7))
        else:  # cable on the floor
            _draw_curve(d, rng, (x, rng.uniform(floor_y + 10, h)), rng.uniform(0, 2 * np.pi),
                        rng.uniform(80, 250), rng.normal(0, 1.5), 2, fill=(30, 30, 30))
    return np.asarray(pic), floor_y


def _place(rng, pose, height, floor_y, w, h, x_range):
    """Skeleton joints and the offset that stands the figure on the floor inside x_range."""
    joints = _skeleton(pose, height)
    pts = np.array(list(joints.values()))
    lowest = max(joints["lan"][1], joints["ran"][1], joints["ltoe"][1], joints["rtoe"][1])
    foot_y = rng.uniform(floor_y + 0.05 * (h - floor_y), h - 6)
    lo, hi = x_range[0] - pts[:, 0].min(), x_range[1] - pts[:, 0].max()
    x = rng.uniform(min(lo, hi), max(lo, hi))
    if rng.random() < 0.25 and pose.side:  # jumping
        foot_y -= rng.uniform(5, 30)
    return joints, np.array([x, foot_y - lowest])


def render_mads_frame(seed: int, index: int, action: str, sequence: int, camera: int):
    """One studio frame: (RGB uint8 image, bool performer mask, bool distractor mask)."""
    w, h = MADS_SIZE
    rng = _rng(seed, 6, index)
    look = _sample_look(_rng(seed, 7, MADS_ACTIONS.index(action), sequence), action)
    bg, floor_y = _studio(seed, MADS_ACTIONS.index(action) * 100 + sequence * 10 + camera, w, h)
    img = Image.fromarray(bg.copy())
    light = np.array([rng.uniform(-1, 1), -1.0])
    distractor = np.zeros((h, w), bool)
    height = rng.uniform(0.55, 0.88) * h
    left = rng.random() < 0.5
    person_range = (0.3 * w, 0.98 * w) if left else (0.02 * w, 0.7 * w)
    if rng.random() < 0.35:  # a person-like distractor that must stay out of the mask
        dmask = Image.new("L", (w, h), 0)
        other = (0.02 * w, 0.35 * w) if left else (0.65 * w, 0.98 * w)
        person_range = (0.38 * w, 0.98 * w) if left else (0.02 * w, 0.62 * w)
        tone = np.array(rng.choice([[215, 195, 170], [235, 235, 235], [60, 60, 62], [160, 150, 140]]), np.float32)
        flat = Look(tone, tone * 0.95, tone, tone * 0.9, tone * 0.8, True, True, 1.0, None, levels=1)
        if rng.random() < 0.5:  # mannequin standing on the floor
            stand = Pose(0, ((-rng.uniform(5, 25), -rng.uniform(0, 20)), (rng.uniform(5, 25), rng.uniform(0, 20))),
                         ((-rng.uniform(2, 8), 0), (rng.uniform(2, 8), 0)), False, 1, (1, 1, 1, 1))
            flat.levels = 2
            joints, off = _place(rng, stand, height * rng.uniform(0.85, 1.05), floor_y, w, h, other)
            _draw_person(img, dmask, joints, height, flat, light, stand, off)
        else:  # poster of a dancer on the wall
            ph = rng.uniform(0.28, 0.42) * h
            pw = ph * 0.7
            x0 = rng.uniform(*other) - pw / 2
            y0 = max(4.0, floor_y - ph - rng.uniform(10, 0.3 * h))
            paper = tuple(int(v) for v in rng.choice([[240, 238, 230], [230, 200, 60], [200, 60, 60], [60, 90, 160]]))
            ImageDraw.Draw(img).rectangle((x0, y0, x0 + pw, y0 + ph), fill=paper, outline=(40, 40, 40))
            pose = _sample_pose(rng, "dance")
            figure = ph * 0.78
            joints = _skeleton(pose, figure)
            pts = np.array(list(joints.values()))
            centre = (pts.min(0) + pts.max(0)) / 2
            scale = min(1.0, 0.85 * min(pw, ph) / max(1.0, float((pts.max(0) - pts.min(0)).max())))
            joints = {k: (v - centre) * scale for k, v in joints.items()}
            dark = np.array(paper, np.float32) * 0.25
            silhouette = Look(dark, dark, dark, dark, dark, True, True, 1.0, None, levels=1)
            _draw_person(img, dmask, joints, figure * scale, silhouette, light, pose,
                         np.array([x0 + pw / 2, y0 + ph / 2]))
        distractor = np.asarray(dmask) > 0
    pose = _sample_pose(rng, POSE_FAMILY[action])
    joints, off = _place(rng, pose, height, floor_y, w, h, person_range)
    mask_img = Image.new("L", (w, h), 0)
    _draw_person(img, mask_img, joints, height, look, light, pose, off)
    mask = np.asarray(mask_img) > 0
    distractor &= ~mask
    img = img.filter(ImageFilter.SMOOTH if rng.random() < 0.5 else ImageFilter.Kernel((3, 3), [1, 2, 1, 2, 4, 2, 1, 2, 1]))
    gain = rng.uniform(0.93, 1.07)
    arr = np.asarray(img.point(lambda v: min(255, round(v * gain))))
    return _add_grain(rng, arr), mask, distractor


def mads_names(n: int, seed: int = 0) -> list[tuple[str, str, int, int]]:
    """(file name, action, sequence, camera) for n frames spread over actions, sequences and cameras."""
    rng = _rng(seed, 4)
    groups = [(a, s, c) for c in range(3) for s in (1, 2) for a in MADS_ACTIONS]
    starts = {g: 10 * int(rng.integers(1, 60)) for g in groups}
    steps = {g: 10 * int(rng.integers(2, 8)) for g in groups}
    out = []
    for i in range(n):
        g = groups[i % len(groups)]
        frame = starts[g] + steps[g] * (i // len(groups))
        a, s, c = g
        out.append((f"{a}_{a}{s}_C{c}_{frame:05d}.png", a, s, c))
    return sorted(out)


def synth_mads(dest, n: int = 240, seed: int = 0, progress: bool = True, overwrite: bool = False) -> Path:
    """Write a MADS-like stand-in, double-nested as the Kaggle zip unpacks; return the outer folder."""
    if int(n) < 1:
        raise ValueError(f"synth_mads: n must be at least 1, got {n}")
    n = int(n)
    target, stage = _claim(dest, MADS_FOLDER, overwrite)
    try:
        inner = stage / MADS_FOLDER
        for sub in ("images", "masks", "collages"):
            (inner / sub).mkdir(parents=True)
        rows = [",images,masks,collages"]
        for i, (name, action, seq, cam) in enumerate(
                tqdm(mads_names(n, seed), desc="synth MADS", unit="frame", disable=not progress)):
            img, mask, _ = render_mads_frame(seed, i, action, seq, cam)
            stem = name[:-4]
            Image.fromarray(img).save(inner / "images" / name, compress_level=1)
            grey = mask.astype(np.uint8) * 255
            Image.fromarray(grey).save(inner / "masks" / name, compress_level=1)
            collage = np.concatenate([img, np.repeat(grey[..., None], 3, axis=2)], axis=1)
            Image.fromarray(collage).save(inner / "collages" / f"{stem}.jpg", quality=85)
            rows.append(f"{i},images/{name},masks/{name},collages/{stem}.jpg")
        (stage / "df.csv").write_text("\n".join(rows) + "\n")
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return _publish(stage, target)


# ----------------------------------------------------------------------------- preview and CLI


def preview(out: str | os.PathLike, seed: int = 0, per_row: int = 4, dpi: int = 80) -> Path:
    """Render a titled grid of stand-in samples (PH2 with lesion contours, MADS with mask overlay)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="segcourse-preview-") as tmp:
        ph2 = synth_ph2(Path(tmp) / "ph2", n=5 * per_row, seed=seed, progress=False)
        mads = synth_mads(Path(tmp) / "mads", n=8 * per_row, seed=seed, progress=False)
        diagnosis = read_ph2_metadata(ph2 / "PH2_dataset.txt")
        fig, axes = plt.subplots(5, per_row, figsize=(2.7 * per_row, 11.2), squeeze=False)
        for ax in axes.ravel():
            ax.axis("off")
        for row, name in enumerate(DIAGNOSES):
            cases = [c for c in sorted(diagnosis) if diagnosis[c] == name][:per_row]
            for ax, case in zip(axes[row][: len(cases)], cases, strict=True):
                folder = ph2 / PH2_IMAGES / case
                img = np.asarray(Image.open(folder / f"{case}_Dermoscopic_Image" / f"{case}.bmp"))
                mask = np.asarray(Image.open(folder / f"{case}_lesion" / f"{case}_lesion.bmp").convert("L")) > 0
                ax.imshow(img)
                ax.contour(mask, levels=[0.5], colors=["#00e5ff"], linewidths=0.9)
                ax.set_title(f"{case}: {name}, lesion {mask.mean():.0%}", fontsize=8)
        inner = mads / MADS_FOLDER
        names = sorted(p.name for p in (inner / "images").iterdir())
        picks = [names[int(i)] for i in np.linspace(0, len(names) - 1, 2 * per_row).round()]
        for ax, name in zip(axes[3:].ravel()[: len(picks)], picks, strict=True):
            img = np.asarray(Image.open(inner / "images" / name))
            mask = np.asarray(Image.open(inner / "masks" / name)) > 127
            ax.imshow(img)
            tint = np.zeros((*mask.shape, 4), np.float32)
            tint[mask] = (1.0, 0.0, 0.8, 0.3)
            ax.imshow(tint)
            ax.contour(mask, levels=[0.5], colors=["#ff00cc"], linewidths=0.8)
            ax.set_title(name[:-4], fontsize=7)
        fig.suptitle("segcourse synthetic stand-ins (not real data)\n"
                     "rows 1-3: PH2-like dermoscopy by diagnosis, cyan = lesion mask; "
                     "rows 4-5: MADS-like studio frames, magenta = performer mask", fontsize=10)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, dpi=dpi, format="png")
        plt.close(fig)
    out.parent.mkdir(parents=True, exist_ok=True)
    picture = Image.open(buf).convert("RGB")
    picture.save(out, optimize=True)
    if out.stat().st_size > 380_000:  # keep the README light: a 256-colour palette, dithered
        picture.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.FLOYDSTEINBERG).save(out, optimize=True)
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m segcourse synth ph2|mads DEST [--n N] [--seed S]` or `synth preview OUT.png`."""
    parser = argparse.ArgumentParser(prog="python -m segcourse synth",
                                     description="Write a synthetic stand-in in the real archive layout.")
    sub = parser.add_subparsers(dest="what", required=True)
    for name, n, text in (("ph2", 200, "PH2Dataset/ (dermoscopy)"),
                          ("mads", 240, "segmentation_full_body_mads_dataset_1192_img/ (studio frames)")):
        p = sub.add_parser(name, help=f"write {text} under DEST")
        p.add_argument("dest", help="parent folder for the archive folder")
        p.add_argument("--n", type=int, default=n, help=f"number of cases (default {n})")
        p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        p.add_argument("--overwrite", action="store_true", help="replace an earlier stand-in there")
    p = sub.add_parser("preview", help="render a titled grid of samples into a PNG")
    p.add_argument("out", help="output PNG path")
    p.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        if args.what == "preview":
            path = preview(args.out, seed=args.seed)
        else:
            make = synth_ph2 if args.what == "ph2" else synth_mads
            path = make(args.dest, n=args.n, seed=args.seed, overwrite=args.overwrite)
    except ValueError as err:
        print(f"segcourse synth: error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0
