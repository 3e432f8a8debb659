"""Tiny fake PH2 and MADS archives in the real on-disk layouts, for any test module.

`make_ph2_tree(tmp_path, ...)` and `make_mads_tree(tmp_path, ...)` write real BMP / PNG files
with Pillow (a few KB each) and return the archive folder (`from trees import make_ph2_tree`).
A module of its own, not conftest.py: notebooks/ has a conftest too, and `from conftest
import` would pick whichever pytest loaded first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

PH2_IMAGES = "PH2 Dataset images"
MADS_NAME = "segmentation_full_body_mads_dataset_1192_img"
DIAGNOSIS_CODES = {"common nevus": 0, "atypical nevus": 1, "melanoma": 2}


def lesion_pair(width: int, height: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A skin-coloured RGB image with a dark elliptic lesion, and its boolean lesion mask."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    cy, cx = rng.uniform(0.35, 0.65) * height, rng.uniform(0.35, 0.65) * width
    ry, rx = rng.uniform(0.2, 0.35) * height, rng.uniform(0.2, 0.35) * width
    mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    image = np.empty((height, width, 3), np.uint8)
    image[:] = rng.integers(170, 230), rng.integers(130, 190), rng.integers(100, 170)
    image[mask] = rng.integers(60, 120), rng.integers(40, 90), rng.integers(30, 70)
    image = np.clip(image + rng.integers(-8, 9, image.shape), 0, 255).astype(np.uint8)
    return image, mask


def ph2_ids(n: int) -> list[str]:
    """Non-contiguous PH2-style case ids, as in the real archive."""
    return [f"IMD{2 + 3 * i:03d}" for i in range(n)]


def ph2_metadata(ids, diagnoses) -> str:
    """A PH2_dataset.txt with header, blank histology fields, '|'-split criteria and legend."""
    lines = [
        "|| Name || Histological Diagnosis || Clinical Diagnosis || Asymmetry || Pigment "
        "Network | Dots/Globules | Streaks | Regression Areas | Blue-Whitish Veil || Colors ||"
    ]
    for i, (cid, diag) in enumerate(zip(ids, diagnoses, strict=True)):
        histology = "Melanoma" if diag == "melanoma" and i % 2 else ""
        code = DIAGNOSIS_CODES[diag]
        lines.append(
            f"|| {cid} || {histology:>22} ||{code:>20} ||{i % 3:>10} |      T |  A |  A |  A |  A ||"
            f"     {3 + i % 2} ||"
        )
    lines += ["", "Legend:", "|| Clinical Diagnosis || 0 - Common Nevus || 1 - Atypical Nevus ||"]
    lines += ["|| 2 - Melanoma ||", "|| Colors || 1 - White || 2 - Red || 3 - Light-Brown ||"]
    return "\n".join(lines) + "\n"


def write_mask(path: Path, mask: np.ndarray, mode: str = "1") -> None:
    """Write a boolean mask as a 1-bit BMP ('1'), 24-bit RGB 0/255 ('RGB') or grey 0/255 ('L')."""
    path.parent.mkdir(parents=True, exist_ok=True)
    grey = Image.fromarray(mask.astype(np.uint8) * 255)
    if mode == "1":
        grey.convert("1").save(path)
    elif mode == "RGB":
        grey.convert("RGB").save(path)
    else:
        grey.save(path)


def make_ph2_tree(
    tmp_path: Path,
    n: int = 6,
    *,
    ids: list[str] | None = None,
    sizes: list[tuple[int, int]] | None = None,
    diagnoses: list[str] | None = None,
    rgb_mask_ids: tuple[str, ...] = (),
    roi: bool = True,
    extras: bool = True,
    metadata: str | None = "ok",
    parent: bool = True,
    seed: int = 0,
) -> Path:
    """Write a PH2-layout archive and return its 'PH2Dataset' folder.

    Images (`sizes`: list of (width, height); default varies around 40x30) are 24-bit BMPs,
    masks 1-bit BMPs except `rgb_mask_ids` (24-bit RGB 0/255). `roi` adds `_roi` folders,
    `extras` adds user clutter (.jpg copies beside the BMPs, a script and a notes folder
    beside the cases, .DS_Store). `metadata`: "ok", "unreadable" (binary junk) or None
    (no file). With `parent`, the archive sits in `tmp_path/ph2/PH2Dataset`.
    """
    ids = ids or ph2_ids(n)
    sizes = sizes or [(40 + i % 3, 30 - i % 2) for i in range(len(ids))]
    cycle = ["common nevus", "common nevus", "atypical nevus", "atypical nevus", "melanoma"]
    diagnoses = diagnoses or [cycle[i % len(cycle)] for i in range(len(ids))]
    archive = (tmp_path / "ph2" / "PH2Dataset") if parent else (tmp_path / "PH2Dataset")
    images_dir = archive / PH2_IMAGES
    for i, (cid, (width, height)) in enumerate(zip(ids, sizes, strict=True)):
        image, mask = lesion_pair(width, height, seed * 1000 + i)
        case = images_dir / cid
        (case / f"{cid}_Dermoscopic_Image").mkdir(parents=True)
        Image.fromarray(image).save(case / f"{cid}_Dermoscopic_Image" / f"{cid}.bmp")
        mode = "RGB" if cid in rgb_mask_ids else "1"
        write_mask(case / f"{cid}_lesion" / f"{cid}_lesion.bmp", mask, mode)
        if roi and i % 2 == 0:
            write_mask(case / f"{cid}_roi" / f"{cid}_R1_Label4.bmp", ~mask, "1")
        if extras:
            Image.fromarray(image).save(case / f"{cid}_Dermoscopic_Image" / f"{cid}.jpg")
            write_mask(case / f"{cid}_lesion" / f"{cid}_lesion.jpg", ~mask, "L")
    if extras:
        (images_dir / "convert_masks.py").write_text("print('a helper a user left here')\n")
        (images_dir / ".DS_Store").write_bytes(b"\0\1junk")
        (images_dir / "notes").mkdir()
    if metadata == "ok":
        (archive / "PH2_dataset.txt").write_text(ph2_metadata(ids, diagnoses))
    elif metadata == "unreadable":
        (archive / "PH2_dataset.txt").write_bytes(bytes(range(256)) * 4)
    (archive / "Readme.txt").write_text("PH2 database (fake, for tests)\n")
    return archive


def mads_name(i: int) -> str:
    """A real-style MADS file name: {Action}_{Sequence}_{Camera}_{frame:05d}.png."""
    action = ["HipHop", "Jazz", "Kata", "Taichi", "Sports"][i % 5]
    return f"{action}_{action}{1 + i % 2}_C{i % 3}_{30 * i:05d}.png"


def make_mads_tree(
    tmp_path: Path,
    n: int = 5,
    *,
    nested: bool = True,
    df_csv: bool = True,
    collages: bool = True,
    size: tuple[int, int] = (48, 36),
    extras: bool = True,
    seed: int = 0,
) -> Path:
    """Write a MADS-layout archive; returns the outer folder (nested) or the flat folder.

    Images are RGB PNGs of `size` (width, height), masks grey 0/255 PNGs of the same name.
    `extras` adds a converted .jpg copy and a .DS_Store beside the PNGs.
    """
    outer = tmp_path / "mads" / MADS_NAME
    inner = outer / MADS_NAME if nested else outer
    names = [mads_name(i) for i in range(n)]
    for folder in ("images", "masks") + (("collages",) if collages else ()):
        (inner / folder).mkdir(parents=True)
    for i, name in enumerate(names):
        image, mask = lesion_pair(*size, seed * 1000 + 500 + i)
        Image.fromarray(image).save(inner / "images" / name)
        write_mask(inner / "masks" / name, mask, "L")
        if collages:
            Image.fromarray(image).save(inner / "collages" / name.replace(".png", ".jpg"))
    if extras:
        Image.fromarray(image).save(inner / "images" / names[0].replace(".png", ".jpg"))
        (inner / "masks" / ".DS_Store").write_bytes(b"junk")
    if df_csv:
        rows = [",images,masks,collages"]
        rows += [
            f"{i},images/{m},masks/{m},collages/{m.replace('.png', '.jpg')}"
            for i, m in enumerate(names)
        ]
        (outer / "df.csv").write_text("\n".join(rows) + "\n")
    return outer
