"""Pose frames with their 2-D joints, drawn by the MADS stand-in's painter, and the joints'
file format: one JSON file per frame.

The Kaggle MADS copy has masks but no joints, so a pose lesson needs frames whose joints are
known exactly. These come from the stand-in's own painter (`body.sample_pose`, `skeleton`,
`draw_person` on `mads.studio_background`): one performer per square frame, drawn at
`supersample` times the size and reduced, so edges are smooth and joints sub-pixel exact.

The JSON of a frame (`joints/<stem>.json`, next to `images/<stem>.png` and `masks/<stem>.png`):

    {"image": "images/frame_00000.png", "mask": "masks/frame_00000.png",
     "width": 64, "height": 64, "action": "Kata",
     "joints": {"head": [31.2, 9.8], "neck": [31.0, 14.1], ...},
     "skeleton": [["head", "neck"], ...]}

Joint coordinates are `[x, y]` in pixels of that image, x to the right and y down, with
(0, 0) the centre of the top-left pixel. The 14 joints are JOINT_NAMES (the joints of the
Leeds Sports Pose data set). "left" and "right" are the painter's two chains: in a frontal
view the left chain is on the image's left.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image

from segcourse.i18n import N_

from .body import draw_person, sample_look, sample_pose, skeleton
from .mads import MADS_ACTIONS, POSE_FAMILY, studio_background
from .noise import add_grain, claim, publish, seeded_rng

# Our joint name -> the painter's key (`body.skeleton`). The names are data and stay English;
# N_ marks them for the catalogue, so that notebooks can show them translated (tr(name)).
PAINTER_KEYS = {
    N_("head"): "head",
    N_("neck"): "neckbase",
    N_("left_shoulder"): "lsh",
    N_("left_elbow"): "lel",
    N_("left_wrist"): "lwr",
    N_("right_shoulder"): "rsh",
    N_("right_elbow"): "rel",
    N_("right_wrist"): "rwr",
    N_("left_hip"): "lhp",
    N_("left_knee"): "lkn",
    N_("left_ankle"): "lan",
    N_("right_hip"): "rhp",
    N_("right_knee"): "rkn",
    N_("right_ankle"): "ran",
}
JOINT_NAMES = tuple(PAINTER_KEYS)
SKELETON = (  # the bones drawn between joints
    ("head", "neck"),
    ("neck", "left_shoulder"),
    ("left_shoulder", "left_elbow"),
    ("left_elbow", "left_wrist"),
    ("neck", "right_shoulder"),
    ("right_shoulder", "right_elbow"),
    ("right_elbow", "right_wrist"),
    ("left_shoulder", "left_hip"),
    ("right_shoulder", "right_hip"),
    ("left_hip", "right_hip"),
    ("left_hip", "left_knee"),
    ("left_knee", "left_ankle"),
    ("right_hip", "right_knee"),
    ("right_knee", "right_ankle"),
)
STUDIOS = 12  # distinct studio backgrounds shared by the frames of a set


class PoseFrame(NamedTuple):
    """One frame: RGB image (S, S, 3) uint8, person mask (S, S) bool, joints (K, 2) [x, y]."""

    image: np.ndarray
    mask: np.ndarray
    joints: np.ndarray
    action: str


def render_pose_frame(seed: int, index: int, size: int = 64, supersample: int = 4) -> PoseFrame:
    """Frame `index` of the pose set `seed`: one performer in a studio, with exact joints.

    Pose, clothes, body height and place on the floor are drawn per frame (so frames are
    independent, unlike the stand-in's video sequences); the studio is one of STUDIOS.
    """
    if int(size) < 16 or int(supersample) < 1:
        raise ValueError(
            f"render_pose_frame: need size >= 16 and supersample >= 1, got {size}, {supersample}"
        )
    size, ss = int(size), int(supersample)
    big = size * ss
    rng = seeded_rng(seed, 40, index)
    action = MADS_ACTIONS[int(rng.integers(len(MADS_ACTIONS)))]
    background, floor_y = studio_background(seed, 4000 + int(rng.integers(STUDIOS)), big, big)
    image = Image.fromarray(background.copy())
    mask = Image.new("L", (big, big), 0)
    pose = sample_pose(rng, POSE_FAMILY[action])
    look = sample_look(rng, action)
    height = rng.uniform(0.5, 0.8) * big
    joints = skeleton(pose, height)
    offset = _stand(rng, joints, floor_y, big)
    light = np.array([rng.uniform(-1, 1), -1.0])
    draw_person(image, mask, joints, height, look, light, pose, offset)
    small = np.asarray(image.reduce(ss)) if ss > 1 else np.asarray(image)
    person = (np.asarray(mask.reduce(ss)) if ss > 1 else np.asarray(mask)) > 127
    points = np.array([joints[PAINTER_KEYS[name]] + offset for name in JOINT_NAMES])
    points = (points - (ss - 1) / 2) / ss  # big-pixel centres -> small-pixel centres
    return PoseFrame(add_grain(rng, small), person, points.astype(np.float32), action)


def _stand(rng, joints: dict, floor_y: int, big: int) -> np.ndarray:
    """The offset that stands the figure on the floor with every joint inside the frame."""
    pts = np.array(list(joints.values()))
    margin = 0.04 * big
    lowest = max(joints[k][1] for k in ("lan", "ran", "ltoe", "rtoe"))
    foot_y = rng.uniform(floor_y + 0.1 * (big - floor_y), big - margin)
    dy = max(foot_y - lowest, margin - pts[:, 1].min())
    dy = min(dy, big - margin - pts[:, 1].max())
    lo, hi = margin - pts[:, 0].min(), big - margin - pts[:, 0].max()
    dx = rng.uniform(lo, hi) if lo < hi else (lo + hi) / 2
    return np.array([dx, dy])


def frame_record(stem: str, frame: PoseFrame) -> dict:
    """The JSON record of one frame (see the module doc)."""
    h, w = frame.image.shape[:2]
    return {
        "image": f"images/{stem}.png",
        "mask": f"masks/{stem}.png",
        "width": int(w),
        "height": int(h),
        "action": frame.action,
        "joints": {
            name: [round(float(x), 3), round(float(y), 3)]
            for name, (x, y) in zip(JOINT_NAMES, frame.joints, strict=True)
        },
        "skeleton": [list(bone) for bone in SKELETON],
    }


def write_joints(path: str | Path, stem: str, frame: PoseFrame) -> Path:
    """Write one frame's joints as JSON to `path` (the format of the module doc)."""
    path = Path(path)
    path.write_text(json.dumps(frame_record(stem, frame), indent=1) + "\n", encoding="utf-8")
    return path


def read_joints(path: str | Path) -> tuple[dict, np.ndarray]:
    """One frame's JSON record and its joints as an array (K, 2) in JOINT_NAMES order."""
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        joints = record["joints"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f"{path}: not a joints file of segcourse.synth.joints ({err}); write it again with "
            "`synth_pose` or fix it by hand (see the module doc for the format)"
        ) from err
    missing = [name for name in JOINT_NAMES if name not in joints]
    if missing:
        raise ValueError(f"{path}: joints {missing} are missing; expected all of {JOINT_NAMES}")
    return record, np.array([joints[name] for name in JOINT_NAMES], np.float32)


def synth_pose(dest, n: int, size: int = 64, seed: int = 0, overwrite: bool = False) -> Path:
    """Write n pose frames to DEST/pose_<size>_<seed>_<n>/ (images, masks, joints); return it."""
    if int(n) < 1:
        raise ValueError(f"synth_pose: n must be at least 1, got {n}")
    target, stage = claim(dest, f"pose_{int(size)}_{int(seed)}_{int(n)}", overwrite)
    try:
        for sub in ("images", "masks", "joints"):
            (stage / sub).mkdir()
        for index in range(int(n)):
            stem = f"frame_{index:05d}"
            frame = render_pose_frame(seed, index, size)
            Image.fromarray(frame.image).save(stage / "images" / f"{stem}.png", compress_level=1)
            Image.fromarray(frame.mask.astype(np.uint8) * 255).save(stage / "masks" / f"{stem}.png")
            write_joints(stage / "joints" / f"{stem}.json", stem, frame)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return publish(stage, target)


class PoseSet(NamedTuple):
    """A pose set read back from disk: images (N, S, S, 3), masks (N, S, S), joints (N, K, 2)."""

    images: np.ndarray
    masks: np.ndarray
    joints: np.ndarray
    actions: list[str]
    root: Path


def load_pose_set(folder: str | Path) -> PoseSet:
    """Read every frame that `synth_pose` wrote into `folder`, in file-name order."""
    folder = Path(folder)
    files = sorted((folder / "joints").glob("*.json"))
    if not files:
        raise ValueError(f"{folder}: no joints/*.json files; write a pose set with `synth_pose`")
    images, masks, joints, actions = [], [], [], []
    for path in files:
        record, points = read_joints(path)
        images.append(np.asarray(Image.open(folder / record["image"]).convert("RGB")))
        masks.append(np.asarray(Image.open(folder / record["mask"])) > 127)
        joints.append(points)
        actions.append(str(record.get("action", "")))
    return PoseSet(np.stack(images), np.stack(masks), np.stack(joints), actions, folder)


def pose_set(n: int, size: int = 64, seed: int = 0, root: str | Path | None = None) -> PoseSet:
    """The pose set of n frames: read from `root` (default: the cache folder), written first if
    missing. Same arguments, same frames."""
    from ..paths import cache_dir

    root = Path(root) if root is not None else cache_dir()
    folder = root / f"pose_{int(size)}_{int(seed)}_{int(n)}"
    if not (folder / "joints").is_dir() or len(list((folder / "joints").glob("*.json"))) != n:
        synth_pose(root, n, size, seed, overwrite=folder.exists())
    return load_pose_set(folder)
