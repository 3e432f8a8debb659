"""The MADS performer: poses by dance, martial-art, tai chi and sport family, an articulated
skeleton, clothes, and a shaded body painted with its exact silhouette into the mask."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

# Segment lengths and widths as fractions of the standing body height.
BODY = {
    "head": (0.058, 0.07),
    "neck": 0.045,
    "torso": 0.30,
    "shoulder": 0.115,
    "hip": 0.075,
    "uarm": (0.165, 0.052, 0.044),
    "farm": (0.145, 0.042, 0.034),
    "hand": 0.028,
    "thigh": (0.235, 0.09, 0.066),
    "shin": (0.235, 0.064, 0.045),
    "foot": (0.08, 0.034),
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


def sample_pose(rng: np.random.Generator, family: str) -> Pose:
    """Joint angles from one of the pose families: dance, martial arts, tai chi, sport."""
    u = rng.uniform
    facing = 1 if rng.random() < 0.5 else -1
    fore = tuple(float(x) for x in np.clip(rng.normal(0.95, 0.1, 4), 0.55, 1.0))
    if family == "sport" and rng.random() < 0.6:  # running, jumping, throwing, side-on
        swing = u(20, 55)
        arms = (
            (facing * swing, facing * u(40, 100)),
            (-facing * swing * u(0.6, 1.2), facing * u(30, 90)),
        )
        if rng.random() < 0.3:  # throwing / reaching up
            arms = (
                (facing * u(120, 170), facing * u(0, 40)),
                (-facing * u(20, 60), facing * u(20, 70)),
            )
        stride = u(15, 45)
        legs = (
            (facing * stride, -facing * u(10, 60)),
            (-facing * stride * u(0.5, 1), -facing * u(30, 100)),
        )
        return Pose(facing * u(0, 18), arms, legs, True, facing, fore)
    if family == "martial" and rng.random() < 0.3:  # side kick
        kick = (facing * u(70, 110), -facing * u(0, 30))
        stand = (-facing * u(5, 20), -facing * u(0, 20))
        arms = (
            (facing * u(40, 100), facing * u(60, 130)),
            (-facing * u(10, 60), facing * u(60, 130)),
        )
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


def interpolate_pose(a: Pose, b: Pose, w: float) -> Pose:
    """The pose a share `w` (0..1) of the way from `a` to `b`: joint angles and foreshortening
    blend linearly, the view (side or frontal, facing) is `a`'s. Video frames between key poses."""

    def mix(x, y):
        if isinstance(x, tuple):
            return tuple(mix(p, q) for p, q in zip(x, y, strict=True))
        return float(x + (y - x) * w)

    return Pose(
        mix(a.lean, b.lean),
        mix(a.arms, b.arms),
        mix(a.legs, b.legs),
        a.side,
        a.facing,
        mix(a.foreshorten, b.foreshorten),
    )


def _direction(deg: float) -> np.ndarray:
    rad = math.radians(deg)
    return np.array([math.sin(rad), math.cos(rad)])


def skeleton(pose: Pose, height: float) -> dict:
    """Joint positions (pixels, pelvis at the origin) and segment widths for a pose."""
    lean = math.radians(pose.lean)
    up = np.array([math.sin(lean), -math.cos(lean)])
    across = np.array([math.cos(lean), math.sin(lean)])
    width = 0.3 if pose.side else 1.0
    neck = up * BODY["torso"] * height
    j = {
        "pelvis": np.zeros(2),
        "neckbase": neck,
        "head": neck + up * (BODY["neck"] + BODY["head"][1] * 0.9) * height,
    }
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
        j.update(
            {
                f"{name}sh": sh,
                f"{name}el": el,
                f"{name}wr": wr,
                f"{name}hp": hp,
                f"{name}kn": kn,
                f"{name}an": an,
                f"{name}toe": toe,
            }
        )
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


CLOTHES = np.array(
    [
        [25, 25, 28],
        [235, 235, 232],
        [180, 30, 35],
        [30, 60, 150],
        [120, 120, 125],
        [40, 110, 60],
        [220, 190, 40],
        [20, 30, 70],
        [150, 80, 40],
        [200, 120, 160],
        [60, 160, 190],
        [90, 60, 110],
    ],
    np.float32,
)


def sample_look(rng: np.random.Generator, action: str) -> Look:
    """Clothes, skin and hair for one performer; martial artists often in a white or black gi."""
    skin = np.array([225, 180, 150], np.float32) * rng.uniform(0.45, 1.05) + rng.normal(0, 5, 3)
    hair = np.array([40, 30, 22], np.float32) * rng.uniform(0.4, 2.5)
    top, bottom = CLOTHES[rng.integers(len(CLOTHES))], CLOTHES[rng.integers(len(CLOTHES))]
    belt = None
    if action == "Kata" and rng.random() < 0.8:
        top = bottom = CLOTHES[1] if rng.random() < 0.7 else CLOTHES[0]
        belt = CLOTHES[int(rng.choice([0, 2, 6, 8]))]
    bulk = {"Taichi": 1.3, "HipHop": 1.2, "Kata": 1.15}.get(action, 1.0) * rng.uniform(0.9, 1.1)
    return Look(
        top.copy(),
        bottom.copy(),
        np.clip(skin, 30, 250),
        np.clip(hair, 10, 230),
        CLOTHES[int(rng.choice([0, 1, 4]))].copy(),
        bool(rng.random() < 0.7 or action in ("Kata", "Taichi")),
        bool(rng.random() < 0.75 or action != "Sports"),
        bulk,
        belt,
    )


def draw_person(
    img: Image.Image,
    mask: Image.Image | None,
    joints: dict,
    height: float,
    look: Look,
    light: np.ndarray,
    pose: Pose,
    offset: np.ndarray,
) -> None:
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
        part(
            j[f"{side}hp"], j[f"{side}kn"], th[1] * height * b, th[2] * height * b, look.bottom, dim
        )
        part(j[f"{side}kn"], j[f"{side}an"], sh[1] * height * b, sh[2] * height * b, legcol, dim)
        part(
            j[f"{side}an"],
            j[f"{side}toe"],
            BODY["foot"][1] * height * 1.2,
            BODY["foot"][1] * height,
            look.shoes,
            dim,
        )
        return [
            lambda: part(
                j[f"{side}sh"],
                j[f"{side}el"],
                ua[1] * height * b,
                ua[2] * height * b,
                look.top,
                dim,
            ),
            lambda: part(
                j[f"{side}el"],
                j[f"{side}wr"],
                fa[1] * height * b,
                fa[2] * height * b,
                look.top if look.sleeves else look.skin,
                dim,
            ),
            lambda: part(
                j[f"{side}wr"],
                j[f"{side}wr"] + (j[f"{side}wr"] - j[f"{side}el"]) * 0.25,
                BODY["hand"] * 2 * height,
                BODY["hand"] * 1.6 * height,
                look.skin,
                dim,
            ),
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
    part(
        j["lhp"] + (waist - j["pelvis"]),
        j["rhp"] + (waist - j["pelvis"]),
        hip_w,
        hip_w,
        look.bottom,
    )
    part(j["lhp"], j["rhp"], hip_w, hip_w, look.bottom)
    if look.belt is not None:
        mid = j["pelvis"] + (j["neckbase"] - j["pelvis"]) * 0.22
        part(mid, mid + (j["neckbase"] - j["pelvis"]) * 0.03, tw * 0.72, tw * 0.72, look.belt)
    part(j["neckbase"], j["head"], BODY["neck"] * height, BODY["neck"] * height, look.skin)
    hx, hy = BODY["head"]
    head = j["head"]
    part(
        head - [0, hy * height * 0.3],
        head + [0, hy * height * 0.3],
        2 * hx * height,
        2 * hx * height,
        look.skin,
    )
    part(
        head - [0, hy * height * 0.45],
        head - [pose.facing * hx * height * 0.2, -hy * height * 0.05],
        2 * hx * height * 0.98,
        2 * hx * height * 0.9,
        look.hair,
    )
    if not pose.side:
        for f in far_arm:
            f()
    for f in near_arm:
        f()
