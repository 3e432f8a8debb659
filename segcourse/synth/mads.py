"""The MADS stand-in: studio video of shaded, articulated performers (with person-like
distractors kept out of the mask), written double-nested with `df.csv` as the Kaggle zip unpacks.

Like the real archive it is video: frames come in sequences (`{Action}_{Sequence}`, the real
sequence names) seen by up to three cameras, and the frames of one sequence share performer,
studio, lighting and placement, with a little motion between neighbouring frame numbers. So a
split over frames leaks near-duplicates into the test part, and a split by sequence does not.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from tqdm.auto import tqdm

from ..data.layouts import MADS_FOLDER, parse_mads_name
from .body import (
    CLOTHES,
    Look,
    Pose,
    draw_person,
    interpolate_pose,
    sample_look,
    sample_pose,
    skeleton,
)
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
# The 27 sequences of the real archive (shared/reference/datasets.md), as named in its files.
MADS_SEQUENCES = {
    "HipHop": tuple(f"HipHop{i}" for i in range(1, 7)),
    "Jazz": tuple(f"Jazz{i}" for i in range(1, 7)),
    "Kata": ("F2", "F3", "F4", "N2", "N3", "P3"),
    "Taichi": tuple(f"S{i}" for i in range(1, 7)),
    "Sports": ("Volleyball", "Badminton", "Tennis"),
}
FRAMES_PER_SEQUENCE = 10  # the stand-in's mean, so its 240 frames make 24 sequences (real: 27)
KEY_POSE_EVERY = 150  # frame numbers between two key poses of a sequence's motion


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


def sequence_number(action: str, sequence) -> int:
    """The 1-based place of `sequence` (a name such as 'S1', or its number) in `action`'s list."""
    if action not in MADS_SEQUENCES:
        raise ValueError(f"MADS action must be one of {', '.join(MADS_ACTIONS)}, not {action!r}")
    names = MADS_SEQUENCES[action]
    if isinstance(sequence, str):
        if sequence not in names:
            raise ValueError(
                f"{action} has the sequences {', '.join(names)}; {sequence!r} is not one of them"
            )
        return names.index(sequence) + 1
    if not 1 <= int(sequence) <= len(names):
        raise ValueError(f"{action} has sequences 1-{len(names)}, not {sequence!r}")
    return int(sequence)


@functools.lru_cache(maxsize=256)
def _key_pose(seed: int, action: str, number: int, k: int) -> Pose:
    """Key pose k of a sequence's motion; every key pose keeps the first one's view."""
    family = POSE_FAMILY[action]
    a = MADS_ACTIONS.index(action)
    first = sample_pose(seeded_rng(seed, 9, a, number, 0), family)
    if k == 0:
        return first
    rng = seeded_rng(seed, 9, a, number, k)
    for _ in range(8):
        pose = sample_pose(rng, family)
        if (pose.side, pose.facing) == (first.side, first.facing):
            return pose
    return dataclasses.replace(pose, side=first.side, facing=first.facing)


def sequence_pose(seed: int, action: str, sequence, frame: int) -> Pose:
    """The performer's pose at frame number `frame`: eased from one key pose to the next."""
    number = sequence_number(action, sequence)
    t = frame / KEY_POSE_EVERY
    k = math.floor(t)
    w = t - k
    return interpolate_pose(
        _key_pose(seed, action, number, k),
        _key_pose(seed, action, number, k + 1),
        w * w * (3 - 2 * w),
    )


def render_mads_frame(seed: int, index: int, action: str, sequence, camera: int):
    """Frame number `index` of a sequence (name or number) seen by `camera`: (RGB uint8 image,
    bool performer mask, bool distractor mask). One sequence keeps its performer and motion,
    one sequence and camera its studio, light, distractor and path across the floor."""
    w, h = MADS_SIZE
    number = sequence_number(action, sequence)
    a = MADS_ACTIONS.index(action)
    scene = seeded_rng(seed, 6, a, number, camera)  # fixed over a sequence-camera's frames
    frame_rng = seeded_rng(seed, 8, a, number, camera, index)  # this frame's sensor noise
    look = sample_look(seeded_rng(seed, 7, a, number), action)
    bg, floor_y = studio_background(seed, a * 100 + number * 10 + camera, w, h)
    img = Image.fromarray(bg.copy())
    light = np.array([scene.uniform(-1, 1), -1.0])
    distractor = np.zeros((h, w), bool)
    height = scene.uniform(0.55, 0.88) * h
    left = scene.random() < 0.5
    person_range = (0.3 * w, 0.98 * w) if left else (0.02 * w, 0.7 * w)
    if scene.random() < 0.35:  # a person-like distractor that must stay out of the mask
        dmask = Image.new("L", (w, h), 0)
        other = (0.02 * w, 0.35 * w) if left else (0.65 * w, 0.98 * w)
        person_range = (0.38 * w, 0.98 * w) if left else (0.02 * w, 0.62 * w)
        _draw_distractor(scene, img, dmask, height, floor_y, other, light)
        distractor = np.asarray(dmask) > 0
    pose = sequence_pose(seed, action, number, index)
    joints = skeleton(pose, height)
    off = _track(scene, joints, floor_y, person_range, index)
    mask_img = Image.new("L", (w, h), 0)
    draw_person(img, mask_img, joints, height, look, light, pose, off)
    mask = np.asarray(mask_img) > 0
    distractor &= ~mask
    img = img.filter(
        ImageFilter.SMOOTH
        if scene.random() < 0.5
        else ImageFilter.Kernel((3, 3), [1, 2, 1, 2, 4, 2, 1, 2, 1])
    )
    gain = scene.uniform(0.93, 1.07) * (1 + frame_rng.normal(0, 0.004))  # a faint flicker
    arr = np.asarray(img.point(lambda v: min(255, round(v * gain))))
    return add_grain(frame_rng, arr), mask, distractor


def _track(scene, joints: dict, floor_y: int, x_range, frame: int) -> np.ndarray:
    """Where the pelvis is at this frame: a slow drift across the floor, feet inside x_range."""
    w, h = MADS_SIZE
    pts = np.array(list(joints.values()))
    lowest = max(joints["lan"][1], joints["ran"][1], joints["ltoe"][1], joints["rtoe"][1])
    base_x, base_y = scene.uniform(*x_range), scene.uniform(floor_y + 0.05 * (h - floor_y), h - 6)
    swing, depth = scene.uniform(0.03, 0.15) * w, scene.uniform(0, 0.04) * (h - floor_y)
    period, phase = KEY_POSE_EVERY * scene.uniform(2, 5), scene.uniform(0, 2 * np.pi)
    angle = 2 * np.pi * frame / period + phase
    lo, hi = x_range[0] - pts[:, 0].min(), x_range[1] - pts[:, 0].max()
    x = float(np.clip(base_x + swing * np.sin(angle), min(lo, hi), max(lo, hi)))
    foot_y = min(h - 6.0, base_y + depth * np.cos(angle))
    return np.array([x, foot_y - lowest])


def _draw_distractor(rng, img, dmask, height, floor_y, x_range, light) -> None:
    """A mannequin on the floor or a dancer's poster on the wall, inside x_range, into dmask."""
    w, h = MADS_SIZE
    tone = np.array(
        rng.choice([[215, 195, 170], [235, 235, 235], [60, 60, 62], [160, 150, 140]]),
        np.float32,
    )
    flat = Look(tone, tone * 0.95, tone, tone * 0.9, tone * 0.8, True, True, 1.0, None, levels=1)
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
        joints, off = _place(rng, stand, height * rng.uniform(0.85, 1.05), floor_y, w, h, x_range)
        draw_person(img, dmask, joints, height, flat, light, stand, off)
        return
    ph = rng.uniform(0.28, 0.42) * h  # poster of a dancer on the wall
    pw = ph * 0.7
    x0 = rng.uniform(*x_range) - pw / 2
    y0 = max(4.0, floor_y - ph - rng.uniform(10, 0.3 * h))
    paper = tuple(
        int(v) for v in rng.choice([[240, 238, 230], [230, 200, 60], [200, 60, 60], [60, 90, 160]])
    )
    ImageDraw.Draw(img).rectangle((x0, y0, x0 + pw, y0 + ph), fill=paper, outline=(40, 40, 40))
    pose = sample_pose(rng, "dance")
    figure = ph * 0.78
    joints = skeleton(pose, figure)
    pts = np.array(list(joints.values()))
    centre = (pts.min(0) + pts.max(0)) / 2
    scale = min(1.0, 0.85 * min(pw, ph) / max(1.0, float((pts.max(0) - pts.min(0)).max())))
    joints = {k: (v - centre) * scale for k, v in joints.items()}
    dark = np.array(paper, np.float32) * 0.25
    silhouette = Look(dark, dark, dark, dark, dark, True, True, 1.0, None, levels=1)
    centre_xy = np.array([x0 + pw / 2, y0 + ph / 2])
    draw_person(img, dmask, joints, figure * scale, silhouette, light, pose, centre_xy)


def mads_names(n: int, seed: int = 0) -> list[tuple[str, str, str, int]]:
    """(file name, action, sequence, camera) of n frames in whole sequences, sorted by name.

    About FRAMES_PER_SEQUENCE frames per sequence (at least one sequence per action once
    n >= 5, at most the real 27), each seen by one to three cameras; the frames of a
    sequence and camera have consecutive frame numbers, as a video sampled at a fixed step.
    """
    rng = seeded_rng(seed, 4)
    total = sum(len(v) for v in MADS_SEQUENCES.values())
    count = min(total, max(min(n, len(MADS_ACTIONS)), round(n / FRAMES_PER_SEQUENCE)))
    left = {a: [str(s) for s in rng.permutation(MADS_SEQUENCES[a])] for a in MADS_ACTIONS}
    order = []
    while len(order) < count:  # round-robin over the actions
        for a in MADS_ACTIONS:
            if left[a] and len(order) < count:
                order.append((a, left[a].pop(0)))
    out = []
    for (action, sequence), size in zip(
        order, _share(n, rng.uniform(0.6, 1.4, count)), strict=True
    ):
        cams = min(size, int(rng.choice([1, 2, 3, 3, 3])))  # real: 76 pairs of 27 sequences
        cameras = sorted(int(c) for c in rng.choice(3, cams, replace=False))
        start, step = 10 * int(rng.integers(1, 60)), 10 * int(rng.integers(1, 4))
        for j in range(size):
            camera, frame = cameras[j % cams], start + step * (j // cams)
            out.append((f"{action}_{sequence}_C{camera}_{frame:05d}.png", action, sequence, camera))
    return sorted(out)


def _share(n: int, weights: np.ndarray) -> list[int]:
    """n split into len(weights) positive integers in proportion to the weights."""
    extra = n - len(weights)
    exact = extra * weights / weights.sum()
    sizes = np.floor(exact).astype(int)
    for i in np.argsort(sizes - exact)[: extra - int(sizes.sum())]:  # largest remainders
        sizes[i] += 1
    return [int(v) + 1 for v in sizes]


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
            img, mask, _ = render_mads_frame(
                seed, parse_mads_name(name[:-4]).frame, action, seq, cam
            )
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
