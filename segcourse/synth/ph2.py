"""The PH2 stand-in: dermoscopy-like lesions painted from the statistics of the real images,
written in the real archive's layout (spaced folder names, 1-bit BMP masks, '||' metadata)."""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from tqdm.auto import tqdm

from ..data.layouts import DIAGNOSES, PH2_FOLDER, PH2_IMAGES, PH2_METADATA, ph2_case_files
from .lesion import Lesion, area_target, lesion_colour, lesion_field, lesion_marks, sample_lesion
from .noise import add_grain, claim, draw_curve, publish, seeded_rng, smooth_noise

PH2_MIX = (80, 80, 40)  # common nevus, atypical nevus, melanoma: the real archive's mix


def class_counts(n: int) -> list[int]:
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


def ph2_size(rng: np.random.Generator) -> tuple[int, int]:
    """(width, height): most often 767x576, otherwise 761-769 by 553-577."""
    if rng.random() < 0.55:
        return 767, 576
    return int(rng.integers(761, 770)), int(rng.integers(553, 578))


def _skin(rng, h, w, k):
    """Skin with a per-case tone, blotchy redness, fine texture and faint furrows."""
    tone = rng.random()
    light, dark = np.array([230, 200, 182]), np.array([172, 130, 102])
    base = light + (dark - light) * tone + rng.normal(0, [5, 5, 6]) + [rng.uniform(0, 10), 0, 0]
    skin = np.empty((h, w, 3), np.float32)
    skin[:] = base.astype(np.float32)
    broad = smooth_noise(rng, h, w, 90 * k) * 0.035
    red = np.clip(smooth_noise(rng, h, w, 60 * k), 0, None) * rng.uniform(0, 0.05)
    fine = smooth_noise(rng, h, w, 1.5) * 0.018
    furrow = np.exp(-((smooth_noise(rng, h, w, 10 * k) / 0.15) ** 2)) * rng.uniform(0.005, 0.03)
    shade = 1 + broad + fine - furrow
    skin *= shade[..., None]
    skin[..., 1:] *= (1 - red)[..., None]
    return skin


def _blend(img, layer: Image.Image, rgb, strength, blur=None):
    """Paint `rgb` over img where the drawn L layer is bright (softened by a small box blur)."""
    if blur:
        layer = layer.filter(ImageFilter.BoxBlur(blur))
    a = np.asarray(layer, np.float32)[..., None] * (strength / 255)
    img += (np.asarray(rgb, np.float32) - img) * a


def _artefacts(rng, img, h, w, k):
    """Hairs (thin dark curves), gel bubbles (bright rings), occasional ruler and ink marks."""
    kind = rng.random()
    count = (
        0 if kind < 0.45 else int(rng.integers(1, 7)) if kind < 0.8 else int(rng.integers(10, 40))
    )
    if count:
        hair = Image.new("L", (w, h), 0)
        dh = ImageDraw.Draw(hair)
        for _ in range(count):
            start = (rng.uniform(-50, w + 50), rng.uniform(-50, h + 50))
            draw_curve(
                dh,
                rng,
                start,
                rng.uniform(0, 2 * np.pi),
                rng.uniform(120, 700) * k,
                rng.normal(0, 0.6),
                1,
                fill=int(rng.choice([150, 200, 255])),
            )
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
            dk.line(
                [(x0 + i * step, y0), (x0 + i * step, y0 + (14 if i % 5 == 0 else 7) * k)], fill=255
            )
        dk.line([(x0, y0), (x0 + 40 * step, y0)], fill=255)
        _blend(img, ink, (20, 20, 20), 0.85)
    if rng.random() < 0.05:  # marker-pen ink stroke
        ink = Image.new("L", (w, h), 0)
        draw_curve(
            ImageDraw.Draw(ink),
            rng,
            (rng.uniform(0, w), rng.uniform(0, h)),
            rng.uniform(0, 2 * np.pi),
            rng.uniform(60, 200) * k,
            rng.normal(0, 1),
            max(2, round(rng.uniform(5, 14) * k)),
        )
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


def render_ph2_case(seed: int, index: int, diagnosis: int):
    """One synthetic dermoscopy case: (RGB uint8 image, bool lesion mask, ROI masks by colour, Lesion)."""
    rng = seeded_rng(seed, 1, index)
    width, height = ph2_size(rng)
    k = WORK
    w, h = math.ceil(width * k), math.ceil(height * k)
    les = sample_lesion(rng, diagnosis)
    area = area_target(rng, diagnosis)
    skin = _skin(rng, h, w, k)
    f, rn, geometry = lesion_field(rng, les, h, w, k, area)
    col, weights = lesion_colour(rng, les, h, w, k, rn)
    marks = lesion_marks(rng, les, geometry, h, w, k)
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
    full = small.resize(
        (width, height), Image.Resampling.BICUBIC, box=(0, 0, width * k, height * k)
    )
    image = add_grain(rng, np.asarray(full))

    def up(field):  # working-size field -> full-size, same box as the image
        return np.asarray(
            Image.fromarray(field.astype(np.float32)).resize(
                (width, height), Image.Resampling.BILINEAR, box=(0, 0, width * k, height * k)
            )
        )

    mask = up(f) < 1
    rois = {code: mask for code in set(les.colours) & {3, 4}}
    rois.update({code: (up(wt) > 0.5) & mask for code, wt in weights.items()})
    return image, mask, rois, les


def _ph2_row(case_id: str, les: Lesion, histology: str) -> str:
    """One data row of PH2_dataset.txt in the real '||' layout."""
    colours = "  ".join(str(c) for c in les.colours)
    return (
        f"|| {case_id} || {histology:>22} || {les.diagnosis:>18} || {les.asymmetry:>9} | "
        f"{les.network:>15} | {les.dots:>13} | {les.streaks:>7} | {les.regression:>16} | "
        f"{les.veil:>17} || {colours:>14} ||"
    )


PH2_HEADER = (
    "||   Name   || Histological Diagnosis || Clinical Diagnosis || Asymmetry | "
    "Pigment Network | Dots/Globules | Streaks | Regression Areas | Blue-Whitish Veil || "
    "        Colors ||"
)
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


def synth_ph2(
    dest, n: int = 200, seed: int = 0, progress: bool = True, overwrite: bool = False
) -> Path:
    """Write a PH2-like stand-in under `dest/PH2Dataset/` in the real layout; return that folder."""
    if int(n) < 1:
        raise ValueError(f"synth_ph2: n must be at least 1, got {n}")
    n = int(n)
    target, stage = claim(dest, PH2_FOLDER, overwrite)
    try:
        rng = seeded_rng(seed, 0)
        ids = _ph2_ids(rng, n)
        diagnoses = np.repeat([0, 1, 2], class_counts(n))
        rng.shuffle(diagnoses)
        roi_cases = set(rng.choice(n, size=max(1, round(0.1 * n)), replace=False).tolist())
        rows = [PH2_HEADER]
        images = stage / PH2_IMAGES
        for i in tqdm(range(n), desc="synth PH2", unit="case", disable=not progress):
            case = ids[i]
            img, mask, rois, les = render_ph2_case(seed, i, int(diagnoses[i]))
            folder = images / case
            image_file, mask_file = (folder / name for name in ph2_case_files(case))
            image_file.parent.mkdir(parents=True)
            mask_file.parent.mkdir()
            Image.fromarray(img).save(image_file, format="BMP")
            _save_1bit(mask, mask_file)
            if i in roi_cases:
                (folder / f"{case}_roi").mkdir()
                for k, code in enumerate(sorted(rois), start=1):
                    _save_1bit(rois[code], folder / f"{case}_roi" / f"{case}_R{k}_Label{code}.bmp")
            histology = (
                "Melanoma" if les.diagnosis == 2 and seeded_rng(seed, 3, i).random() < 0.2 else ""
            )
            rows.append(_ph2_row(case, les, histology))
        (stage / PH2_METADATA).write_text("\n".join(rows) + "\n" + PH2_LEGEND)
        (stage / "Readme.txt").write_text(PH2_README.format(seed=seed, n=n))
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return publish(stage, target)


def read_ph2_metadata(path: str | os.PathLike) -> dict[str, str]:
    """Case id -> diagnosis name from a PH2_dataset.txt (used by the preview and the tests)."""
    out = {}
    for line in Path(path).read_text(errors="replace").splitlines():
        cells = [c.strip() for c in line.split("||")]
        if len(cells) > 3 and cells[1].startswith("IMD") and cells[3] in ("0", "1", "2"):
            out[cells[1]] = DIAGNOSES[cells[3]]
    return out
