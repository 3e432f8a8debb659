"""One synthetic lesion: its dermoscopic criteria by diagnosis (what the metadata row reports),
its outline and area, and its colours, network, dots and streaks painted at working size."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from scipy import ndimage

from .noise import smooth_noise

# Per-colour RGB of lesion structures (light/dark brown are jittered per case).
PATCH_RGB = {
    1: (218, 208, 204),
    2: (205, 98, 96),
    5: (118, 124, 142),
    6: (42, 32, 34),
}


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


def sample_lesion(rng: np.random.Generator, diagnosis: int) -> Lesion:
    """Dermoscopic criteria typical of the diagnosis (what the metadata row reports)."""
    pick = rng.choice
    if diagnosis == 0:
        les = Lesion(
            0,
            int(pick([0, 1], p=[0.85, 0.15])),
            str(pick(["T", "A"], p=[0.7, 0.3])),
            str(pick(["A", "T"], p=[0.65, 0.35])),
            "A",
            "A",
            "A",
        )
        les.colours = [[3], [4], [3, 4]][int(pick(3, p=[0.35, 0.3, 0.35]))]
        les.low_contrast = bool(rng.random() < 0.3)
    elif diagnosis == 1:
        les = Lesion(
            1,
            int(pick([0, 1, 2], p=[0.3, 0.5, 0.2])),
            str(pick(["T", "AT", "A"], p=[0.4, 0.45, 0.15])),
            str(pick(["A", "T", "AT"], p=[0.4, 0.3, 0.3])),
            str(pick(["A", "P"], p=[0.85, 0.15])),
            str(pick(["A", "P"], p=[0.8, 0.2])),
            str(pick(["A", "P"], p=[0.95, 0.05])),
        )
        les.colours = [3, 4] if rng.random() < 0.8 else [int(pick([3, 4]))]
        les.low_contrast = bool(rng.random() < 0.12)
    else:
        les = Lesion(
            2,
            int(pick([1, 2], p=[0.3, 0.7])),
            str(pick(["AT", "A", "T"], p=[0.6, 0.3, 0.1])),
            str(pick(["AT", "A", "T"], p=[0.5, 0.35, 0.15])),
            str(pick(["A", "P"], p=[0.5, 0.5])),
            str(pick(["A", "P"], p=[0.5, 0.5])),
            str(pick(["A", "P"], p=[0.4, 0.6])),
        )
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


def area_target(rng: np.random.Generator, diagnosis: int) -> float:
    """Lesion area fraction: nevi small, melanomas large (overall median ~23 %, mean ~32 %)."""
    if diagnosis == 0:
        return float(np.clip(0.14 * math.exp(0.45 * rng.standard_normal()), 0.03, 0.4))
    if diagnosis == 1:
        return float(np.clip(0.29 * math.exp(0.5 * rng.standard_normal()), 0.05, 0.75))
    return float(np.clip(0.03 + 0.95 * rng.beta(3.5, 1.8), 0.2, 0.98))


def _radius_table(
    rng: np.random.Generator, les: Lesion, fit: float | None = None, n_angles: int = 1024
):
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


def lesion_field(rng, les, h, w, k, area):
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
    rough = (
        smooth_noise(rng, h, w, rng.uniform(10, 30) * k)
        * [0.025, 0.05, 0.08][les.diagnosis]
        * (0.3 if big else 1)
    )
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


def lesion_colour(rng, les, h, w, k, rn):
    """The lesion's own colours: brown gradient, colour patches, network; ROI masks per colour."""
    light = np.array([198, 134, 94]) + rng.normal(0, [10, 7, 7])
    dark = np.array([116, 72, 50]) + rng.normal(0, [10, 6, 6])
    cols = set(les.colours)
    t0 = {frozenset([3]): rng.uniform(-0.05, 0.3), frozenset([4]): rng.uniform(0.55, 0.85)}.get(
        frozenset(cols & {3, 4}), rng.uniform(0.15, 0.5)
    )
    t0 += 0.25 * (les.diagnosis == 2)
    spread = 0.12 if len(cols & {3, 4}) < 2 else 0.25
    t = (
        t0
        + spread * smooth_noise(rng, h, w, rng.uniform(20, 50) * k)
        + rng.uniform(0.1, 0.45) * (1 - rn) ** 1.5
    )
    t = np.clip(t, -0.1, 1.15)
    col = light.astype(np.float32) + (dark - light).astype(np.float32) * t[..., None]
    ring = np.clip((1 - rn) / 0.3, 0, 1)
    shade = 1 + 0.05 * smooth_noise(rng, h, w, 1.5)
    if les.network != "A":  # a fine brown mesh: the connected dark complement of small light holes
        size = rng.uniform(4, 6) if les.network == "T" else rng.uniform(5, 10)
        lines = np.exp(-((smooth_noise(rng, h, w, max(2.0, size * k)) / 0.35) ** 2))
        region = (
            ring
            if les.network == "T"
            else ring * np.clip(smooth_noise(rng, h, w, 60 * k) + 0.5, 0, 1)
        )
        shade -= (
            lines
            * region
            * (rng.uniform(0.08, 0.16) if les.network == "T" else rng.uniform(0.14, 0.26))
        )
    col *= shade[..., None]
    weights = {}
    for code in sorted(cols - {3, 4}):
        n = smooth_noise(rng, h, w, rng.uniform(25, 60) * k)
        centre = {1: 0.3, 2: 0.2, 5: 0.9, 6: 0.8}[code]
        threshold = rng.uniform(1.0, 1.5) + (0.2 if code in (1, 6) else 0)
        weight = np.clip((n + centre * (1 - rn) - threshold) * 1.4, 0, 1) * ring
        opacity = {1: 0.6, 2: 0.4, 5: 0.65, 6: 0.75}[code] * rng.uniform(0.8, 1.1)
        rgb = np.array(PATCH_RGB[code], np.float32) + rng.normal(0, 6, 3).astype(np.float32)
        col += (rgb - col) * (weight * opacity)[..., None]
        weights[code] = weight
    return col, weights


def lesion_marks(rng, les, geometry, h, w, k):
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
            draw.line(
                [point(0.78, th), point(rng.uniform(0.95, 1.02), th + rng.normal(0, 0.03))],
                fill=int(rng.integers(140, 220)),
                width=max(1, round(rng.uniform(2, 5) * k)),
            )
    if les.dots == "A" and les.streaks == "A":
        return None
    return np.asarray(layer.filter(ImageFilter.BoxBlur(1)), np.float32) / 255
