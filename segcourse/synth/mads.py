"""The MADS stand-in: studio frames of a shaded, articulated performer (with person-like
distractors kept out of the mask), written double-nested with `df.csv` as the Kaggle zip unpacks."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from tqdm.auto import tqdm

from ..data.layouts import MADS_FOLDER
from .body import CLOTHES, Look, Pose, draw_person, sample_look, sample_pose, skeleton
from .noise import add_grain, claim, draw_curve, publish, seeded_rng, smooth_noise

MADS_ACTIONS = ("HipHop", "Jazz", "Kata", "Taichi", "Sports")
MADS_SIZE = (512, 384)  # width, height
POSE_FAMILY = {
    "HipHop": "dance",
    "Jazz": "dance",
    "Kata": "martial",
    "Taichi": "taichi",
    "Sports": "sport",
}


@functools.lru_cache(maxsize=64)
def studio_background(seed: int, key: int, w: int, h: int):
    """A near-uniform studio background with a floor line and clutter: (image, floor y)."""
    rng = seeded_rng(seed, 5, key)
    wall = np.array(
        rng.choice(
            [
                [178, 176, 170],
                [192, 182, 162],
                [150, 160, 172],
                [95, 96, 100],
                [128, 150, 126],
                [205, 205, 208],
            ]
        ),
        np.float32,
    ) + rng.normal(0, 6, 3)
    floor_y = int(h * rng.uniform(0.55, 0.74))
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    lx, ly = rng.uniform(0.2, 0.8) * w, rng.uniform(-0.2, 0.3) * h
    glow = 1.08 - 0.25 * np.hypot(xx - lx, yy - ly) / w
    img = wall * glow[..., None]
    floor = wall * rng.uniform(0.55, 0.9) + rng.normal(0, 10, 3)
    depth = (yy[floor_y:] - floor_y) / (h - floor_y)
    img[floor_y:] = floor * (0.85 + 0.25 * depth)[..., None]
    img *= (1 + 0.02 * smooth_noise(rng, h, w, 40))[..., None]
    pic = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(pic)
    d.line(
        [(0, floor_y), (w, floor_y)],
        fill=tuple(int(v) for v in floor * 0.6),
        width=int(rng.integers(1, 5)),
    )
    vx = rng.uniform(0.3, 0.7) * w
    for _ in range(int(rng.integers(0, 5))):  # floor mat seams towards a vanishing point
        x_bottom = rng.uniform(-0.5, 1.5) * w
        d.line(
            [(vx + (x_bottom - vx) * 0.05, floor_y), (x_bottom, h)],
            fill=tuple(int(v) for v in floor * 0.8),
            width=1,
        )
    for _ in range(int(rng.integers(1, 5))):
        kind = rng.random()
        x = rng.uniform(0, w)
        if kind < 0.4:  # box on the floor
            bw, bh = rng.uniform(25, 90), rng.uniform(20, 80)
            base = floor_y + rng.uniform(5, 40)
            c = CLOTHES[rng.integers(len(CLOTHES))] * 0.5 + wall * 0.4
            d.rectangle((x, base - bh, x + bw, base), fill=tuple(int(v) for v in c))
            d.polygon(
                [
                    (x, base - bh),
                    (x + bw, base - bh),
                    (x + bw + 10, base - bh - 8),
                    (x + 10, base - bh - 8),
                ],
                fill=tuple(int(v) for v in np.clip(c * 1.25, 0, 255)),
            )
        elif kind < 0.7:  # light stand with a lamp head
            top = rng.uniform(0.1, 0.4) * h
            base = floor_y + rng.uniform(5, 30)
            d.line([(x, top), (x, base)], fill=(40, 40, 42), width=3)
            for dx in (-18, 0, 18):
                d.line([(x, base - 20), (x + dx, base)], fill=(40, 40, 42), width=2)
            lit = rng.random() < 0.5
            d.rectangle(
                (x - 22, top - 30, x + 22, top), fill=(250, 248, 235) if lit else (30, 30, 32)
            )
        elif kind < 0.85:  # wall panel or door
            pw, ph = rng.uniform(40, 120), rng.uniform(0.3, 0.6) * h
            c = wall * rng.uniform(0.75, 1.15)
            d.rectangle(
                (x, floor_y - ph, x + pw, floor_y),
                fill=tuple(int(v) for v in np.clip(c, 0, 255)),
                outline=tuple(int(v) for v in c * 0.7),
            )
        else:  # cable on the floor
            draw_curve(
                d,
                rng,
                (x, rng.uniform(floor_y + 10, h)),
                rng.uniform(0, 2 * np.pi),
                rng.uniform(80, 250),
                rng.normal(0, 1.5),
                2,
                fill=(30, 30, 30),
            )
    return np.asarray(pic), floor_y


def _place(rng, pose, height, floor_y, w, h, x_range):
    """Skeleton joints and the offset that stands the figure on the floor inside x_range."""
    joints = skeleton(pose, height)
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
    rng = seeded_rng(seed, 6, index)
    look = sample_look(seeded_rng(seed, 7, MADS_ACTIONS.index(action), sequence), action)
    bg, floor_y = studio_background(
        seed, MADS_ACTIONS.index(action) * 100 + sequence * 10 + camera, w, h
    )
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
        tone = np.array(
            rng.choice([[215, 195, 170], [235, 235, 235], [60, 60, 62], [160, 150, 140]]),
            np.float32,
        )
        flat = Look(
            tone, tone * 0.95, tone, tone * 0.9, tone * 0.8, True, True, 1.0, None, levels=1
        )
        if rng.random() < 0.5:  # mannequin standing on the floor
            stand = Pose(
                0,
                (
                    (-rng.uniform(5, 25), -rng.uniform(0, 20)),
                    (rng.uniform(5, 25), rng.uniform(0, 20)),
                ),
                ((-rng.uniform(2, 8), 0), (rng.uniform(2, 8), 0)),
                False,
                1,
                (1, 1, 1, 1),
            )
            flat.levels = 2
            joints, off = _place(rng, stand, height * rng.uniform(0.85, 1.05), floor_y, w, h, other)
            draw_person(img, dmask, joints, height, flat, light, stand, off)
        else:  # poster of a dancer on the wall
            ph = rng.uniform(0.28, 0.42) * h
            pw = ph * 0.7
            x0 = rng.uniform(*other) - pw / 2
            y0 = max(4.0, floor_y - ph - rng.uniform(10, 0.3 * h))
            paper = tuple(
                int(v)
                for v in rng.choice([[240, 238, 230], [230, 200, 60], [200, 60, 60], [60, 90, 160]])
            )
            ImageDraw.Draw(img).rectangle(
                (x0, y0, x0 + pw, y0 + ph), fill=paper, outline=(40, 40, 40)
            )
            pose = sample_pose(rng, "dance")
            figure = ph * 0.78
            joints = skeleton(pose, figure)
            pts = np.array(list(joints.values()))
            centre = (pts.min(0) + pts.max(0)) / 2
            scale = min(1.0, 0.85 * min(pw, ph) / max(1.0, float((pts.max(0) - pts.min(0)).max())))
            joints = {k: (v - centre) * scale for k, v in joints.items()}
            dark = np.array(paper, np.float32) * 0.25
            silhouette = Look(dark, dark, dark, dark, dark, True, True, 1.0, None, levels=1)
            draw_person(
                img,
                dmask,
                joints,
                figure * scale,
                silhouette,
                light,
                pose,
                np.array([x0 + pw / 2, y0 + ph / 2]),
            )
        distractor = np.asarray(dmask) > 0
    pose = sample_pose(rng, POSE_FAMILY[action])
    joints, off = _place(rng, pose, height, floor_y, w, h, person_range)
    mask_img = Image.new("L", (w, h), 0)
    draw_person(img, mask_img, joints, height, look, light, pose, off)
    mask = np.asarray(mask_img) > 0
    distractor &= ~mask
    img = img.filter(
        ImageFilter.SMOOTH
        if rng.random() < 0.5
        else ImageFilter.Kernel((3, 3), [1, 2, 1, 2, 4, 2, 1, 2, 1])
    )
    gain = rng.uniform(0.93, 1.07)
    arr = np.asarray(img.point(lambda v: min(255, round(v * gain))))
    return add_grain(rng, arr), mask, distractor


def mads_names(n: int, seed: int = 0) -> list[tuple[str, str, int, int]]:
    """(file name, action, sequence, camera) for n frames spread over actions, sequences and cameras."""
    rng = seeded_rng(seed, 4)
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


def synth_mads(
    dest, n: int = 240, seed: int = 0, progress: bool = True, overwrite: bool = False
) -> Path:
    """Write a MADS-like stand-in, double-nested as the Kaggle zip unpacks; return the outer folder."""
    if int(n) < 1:
        raise ValueError(f"synth_mads: n must be at least 1, got {n}")
    n = int(n)
    target, stage = claim(dest, MADS_FOLDER, overwrite)
    try:
        inner = stage / MADS_FOLDER
        for sub in ("images", "masks", "collages"):
            (inner / sub).mkdir(parents=True)
        rows = [",images,masks,collages"]
        for i, (name, action, seq, cam) in enumerate(
            tqdm(mads_names(n, seed), desc="synth MADS", unit="frame", disable=not progress)
        ):
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
    return publish(stage, target)
