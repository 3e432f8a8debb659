"""Outdoor scenes with several object classes, for the multi-class lesson: people, balls and
dogs on grass under a sky (the scene of the lesson's first figure, varied), with a label map
and an instance map per image.

The background is busy on purpose (clouds, bushes, distant trees, fences, flowers, a path,
shadows), object colours overlap between classes, and objects occlude each other, so that
colour alone does not give the class and a model must learn shapes. Every pixel's label is
the class of the nearest object drawn over it; edges are antialiased in the image only.
Deterministic for (seed, index); a few hundred 64 x 64 scenes take well under a second.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from segcourse.i18n import N_

from .noise import add_grain, seeded_rng

# The data's class names, in English; N_ marks them for the catalogue, so that notebooks can
# show them translated (tr(name)) in figures and tables.
CLASS_NAMES = (N_("background"), N_("person"), N_("ball"), N_("dog"))
BACKGROUND, PERSON, BALL, DOG = range(len(CLASS_NAMES))
# A fixed colour per class (Okabe-Ito; background grey), the lesson's Figure 1 colours.
CLASS_COLORS = ("#D9D9D9", "#E69F00", "#0072B2", "#009E73")

SKIN = np.array([[241, 204, 178], [224, 172, 135], [188, 130, 92], [141, 85, 54], [92, 58, 40]])
CLOTH = np.array(
    [
        [200, 40, 40],
        [40, 70, 160],
        [235, 235, 230],
        [30, 30, 35],
        [230, 190, 40],
        [60, 130, 70],
        [120, 120, 125],
        [150, 90, 50],
        [220, 120, 170],
        [90, 170, 210],
    ]
)
FUR = np.array([[120, 75, 40], [30, 28, 26], [235, 230, 220], [205, 160, 90], [130, 130, 128]])
BALL_COLORS = np.array(
    [[245, 245, 245], [220, 40, 40], [245, 140, 30], [240, 210, 40], [40, 90, 200], [60, 60, 60]]
)


class Scene(NamedTuple):
    """One rendered scene: RGB image (H, W, 3) uint8, class labels and instance ids (H, W) uint8."""

    image: np.ndarray
    labels: np.ndarray
    instances: np.ndarray


class Scenes(NamedTuple):
    """Scenes stacked: images (N, H, W, 3) uint8, labels and instances (N, H, W) uint8."""

    images: np.ndarray
    labels: np.ndarray
    instances: np.ndarray


class _Canvas:
    """An image being painted, its label map and instance map, on a square grid of `size`."""

    def __init__(self, size: int):
        self.size = size
        self.image = np.zeros((size, size, 3), np.float32)
        self.labels = np.zeros((size, size), np.uint8)
        self.instances = np.zeros((size, size), np.uint8)
        self.next_id = 1

    def window(self, y0, y1, x0, x1):
        """Pixel-centre coordinates of the grid window covering [y0, y1] x [x0, x1] (pixels)."""
        s = self.size
        r0, r1 = max(0, math.floor(y0) - 1), min(s, math.ceil(y1) + 2)
        c0, c1 = max(0, math.floor(x0) - 1), min(s, math.ceil(x1) + 2)
        if r0 >= r1 or c0 >= c1:
            return None
        yy = np.arange(r0, r1, dtype=np.float32)[:, None]  # broadcast, not a full grid
        xx = np.arange(c0, c1, dtype=np.float32)[None, :]
        return (slice(r0, r1), slice(c0, c1)), yy, xx

    def paint(self, where, distance, colour, shade=None, label=None, instance=0, opacity=1.0):
        """Blend `colour` where the signed distance (pixels, < 0 inside) says; label the inside."""
        index, _, _ = where
        alpha = np.clip(0.5 - distance, 0.0, 1.0) * opacity
        tone = np.asarray(colour, np.float32)[None, None, :]
        if shade is not None:
            tone = tone * shade[..., None]
        patch = self.image[index]
        patch += alpha[..., None] * (tone - patch)
        if label is not None:
            inside = distance <= 0
            self.labels[index][inside] = label
            self.instances[index][inside] = instance


def _sd_disc(yy, xx, cy, cx, r):
    return np.hypot(yy - cy, xx - cx) - r


def _sd_capsule(yy, xx, p, q, r):
    """Signed distance to a segment p-q (y, x) thickened by r: a limb with round ends."""
    (y0, x0), (y1, x1) = p, q
    dy, dx = y1 - y0, x1 - x0
    t = np.clip(((yy - y0) * dy + (xx - x0) * dx) / max(dy * dy + dx * dx, 1e-6), 0, 1)
    return np.hypot(yy - (y0 + t * dy), xx - (x0 + t * dx)) - r


def _sd_ellipse(yy, xx, cy, cx, a, b, angle=0.0):
    """Approximate signed distance to a rotated ellipse with half-axes a (along x) and b."""
    c, s = math.cos(angle), math.sin(angle)
    u = (xx - cx) * c + (yy - cy) * s
    v = -(xx - cx) * s + (yy - cy) * c
    return (np.hypot(u / a, v / b) - 1) * min(a, b)


def _disc(canvas, cy, cx, r):
    """(window, signed distance) of a disc, or (None, None) when it lies outside the image."""
    where = canvas.window(cy - r, cy + r, cx - r, cx + r)
    return (None, None) if where is None else (where, _sd_disc(*where[1:], cy, cx, r))


def _capsule(canvas, p, q, r):
    (y0, x0), (y1, x1) = p, q
    where = canvas.window(min(y0, y1) - r, max(y0, y1) + r, min(x0, x1) - r, max(x0, x1) + r)
    return (None, None) if where is None else (where, _sd_capsule(*where[1:], p, q, r))


def _ellipse(canvas, cy, cx, a, b, angle=0.0):
    reach = max(a, b)
    where = canvas.window(cy - reach, cy + reach, cx - reach, cx + reach)
    if where is None:
        return None, None
    return where, _sd_ellipse(*where[1:], cy, cx, a, b, angle)


def _shade(where, cy, cx, extent, light, strength=0.35):
    """Brighter towards the light, darker away from it: a shaded, round-looking object."""
    _, yy, xx = where
    along = ((yy - cy) * light[0] + (xx - cx) * light[1]) / max(extent, 1e-6)
    return np.clip(1.0 - strength * along, 0.55, 1.35)


def _draw(canvas, shape, colour, light=None, label=None, instance=0, centre=None, extent=1.0):
    """Paint one shape; with `light`, shade it about `centre` over `extent` pixels."""
    where, distance = shape
    if where is None:
        return
    shade = None if light is None else _shade(where, *centre, extent, light)
    canvas.paint(where, distance, colour, shade, label, instance)


def _jitter(rng, colour, amount=18):
    return np.clip(np.asarray(colour, np.float32) + rng.normal(0, amount, 3), 0, 255)


def _background(canvas, rng, horizon):
    """Sky with clouds, hills, grass with texture, bushes, far trees, a path, a fence, flowers."""
    s = canvas.size
    rows = np.arange(s, dtype=np.float32)[:, None]
    top = _jitter(rng, [90, 150, 220] if rng.random() < 0.75 else [170, 175, 185], 20)
    low = _jitter(rng, [200, 225, 245] if rng.random() < 0.8 else [240, 190, 150], 15)
    t = np.clip(rows / max(horizon, 1), 0, 1)[..., None]
    canvas.image[:] = (1 - t) * top + t * low
    grass = _jitter(rng, [85, 145, 65], 20)
    depth = np.clip((rows - horizon) / max(s - horizon, 1), 0, 1)[..., None]
    ground = grass * (0.8 + 0.35 * depth)
    below = rows[:, 0] >= horizon
    canvas.image[below] = np.broadcast_to(ground, (s, s, 3))[below]
    texture = rng.normal(0, 9, (s, s)).astype(np.float32)
    canvas.image[below] += texture[below][..., None]
    for _ in range(int(rng.integers(0, 4))):  # clouds: clusters of white discs
        cy, cx = rng.uniform(0.05, 0.8) * horizon, rng.uniform(0, s)
        tone = _jitter(rng, [245, 245, 248], 8)
        for _ in range(int(rng.integers(3, 6))):
            r = rng.uniform(0.03, 0.07) * s
            oy, ox = rng.normal(0, 0.02 * s), rng.normal(0, 0.06 * s)
            _draw(canvas, _disc(canvas, cy + oy, cx + ox, r), tone)
    if rng.random() < 0.6:  # a far hill
        cx, a = rng.uniform(0, s), rng.uniform(0.3, 0.7) * s
        _draw(canvas, _ellipse(canvas, horizon, cx, a, rng.uniform(0.05, 0.12) * s), grass * 0.75)
    if rng.random() < 0.5:  # a sandy path towards the horizon
        x_far, x_near = rng.uniform(0.3, 0.7) * s, rng.uniform(0, 1) * s
        _draw(
            canvas,
            _capsule(canvas, (horizon, x_far), (s * 1.1, x_near), rng.uniform(0.04, 0.1) * s),
            _jitter(rng, [200, 180, 140], 12),
        )
    for _ in range(int(rng.integers(0, 4))):  # distant trees: trunk and crown, background class
        x, h = rng.uniform(0, s), rng.uniform(0.12, 0.3) * s
        base = horizon + rng.uniform(0, 0.04) * s
        _draw(
            canvas,
            _capsule(canvas, (base, x), (base - h, x), 0.015 * s + 0.3),
            _jitter(rng, [100, 70, 45]),
        )
        crown = _jitter(rng, [45, 100, 45], 15)
        for _ in range(3):
            _draw(
                canvas,
                _disc(
                    canvas, base - h + rng.normal(0, 0.03 * s), x + rng.normal(0, 0.04 * s), 0.3 * h
                ),
                crown,
            )
    for _ in range(int(rng.integers(0, 5))):  # bushes along the horizon and in the field
        cy, cx = horizon + rng.uniform(0, 0.35) * (s - horizon), rng.uniform(0, s)
        tone = _jitter(rng, [50, 105, 50], 15)
        r = rng.uniform(0.03, 0.07) * s * (0.6 + (cy - horizon) / s)
        for _ in range(3):
            _draw(
                canvas, _disc(canvas, cy + rng.normal(0, r * 0.3), cx + rng.normal(0, r), r), tone
            )
    if rng.random() < 0.35:  # a fence: posts and a rail
        y = horizon + rng.uniform(0.05, 0.25) * (s - horizon)
        h, wood = rng.uniform(0.06, 0.12) * s, _jitter(rng, [140, 100, 60])
        _draw(
            canvas, _capsule(canvas, (y - 0.7 * h, -5), (y - 0.7 * h, s + 5), 0.01 * s + 0.3), wood
        )
        for x in np.arange(rng.uniform(0, 0.15) * s, s, rng.uniform(0.1, 0.2) * s):
            _draw(canvas, _capsule(canvas, (y, x), (y - h, x), 0.012 * s + 0.3), wood)
    flowers = int(rng.integers(0, 25))  # specks in ball colours, one pixel each
    ys = rng.integers(min(int(horizon) + 1, s - 1), s, flowers)
    xs = rng.integers(0, s, flowers)
    colours = BALL_COLORS[rng.integers(len(BALL_COLORS), size=flowers)]
    canvas.image[ys, xs] = 0.3 * canvas.image[ys, xs] + 0.7 * colours


def _shadow(canvas, y, x, width):
    """A soft dark ellipse on the ground under an object (it stays background)."""
    where, distance = _ellipse(canvas, y, x, width, max(0.25 * width, 0.8))
    if where is not None:
        canvas.paint(where, distance / 2, [0, 0, 0], opacity=0.3)


def _person(canvas, rng, foot_y, x, height, light, instance):
    """A person standing, walking or waving, with their feet at (foot_y, x)."""
    h = height
    skin = _jitter(rng, SKIN[rng.integers(len(SKIN))], 8)
    shirt = _jitter(rng, CLOTH[rng.integers(len(CLOTH))])
    trousers = _jitter(rng, CLOTH[rng.integers(len(CLOTH))])
    hair = _jitter(rng, [50, 35, 25], 25)
    hip = (foot_y - 0.47 * h, x)
    neck = (foot_y - 0.82 * h, x + rng.normal(0, 0.02 * h))
    head = (neck[0] - 0.09 * h, neck[1])
    _shadow(canvas, foot_y, x, 0.18 * h)
    legs, arms = [], []
    for side in (-1, 1):  # thigh, shin and shoe
        spread = math.radians(rng.uniform(-8, 25)) * side
        bend = math.radians(rng.uniform(-25, 25))
        knee = (hip[0] + 0.24 * h * math.cos(spread), hip[1] + 0.24 * h * math.sin(spread))
        ankle = (
            knee[0] + 0.23 * h * math.cos(spread + bend),
            knee[1] + 0.23 * h * math.sin(spread + bend),
        )
        toe = (ankle[0], ankle[1] + side * 0.05 * h)
        legs += [(hip, knee, 0.045, trousers), (knee, ankle, 0.04, trousers)]
        legs.append((ankle, toe, 0.03, np.array([40.0, 40.0, 40.0])))
    sleeves = rng.random() < 0.6
    for side in (-1, 1):  # hanging, out to the side or waving above the head
        up = math.radians(
            rng.choice([rng.uniform(5, 30), rng.uniform(60, 110), rng.uniform(130, 170)])
        )
        fold = math.radians(rng.uniform(-40, 40))
        shoulder = (neck[0] + 0.04 * h, neck[1] + side * 0.055 * h)
        elbow = (
            shoulder[0] + 0.17 * h * math.cos(up),
            shoulder[1] + side * 0.17 * h * math.sin(up),
        )
        wrist = (
            elbow[0] + 0.16 * h * math.cos(up + fold),
            elbow[1] + side * 0.16 * h * math.sin(up + fold),
        )
        arms += [(shoulder, elbow, 0.032, shirt), (elbow, wrist, 0.028, shirt if sleeves else skin)]
    torso = [(neck, hip, 0.085, shirt)]  # over the legs, under the arms
    for p, q, r, colour in legs + torso + arms:
        centre = ((p[0] + q[0]) / 2, (p[1] + q[1]) / 2)
        shape = _capsule(canvas, p, q, r * h + 0.3)
        _draw(canvas, shape, colour, light, PERSON, instance, centre, 2 * r * h + 1)
    for dy, r, colour in ((-0.01, 0.075, hair), (0.01, 0.065, skin)):  # hair, then the face
        shape = _disc(canvas, head[0] + dy * h, head[1], r * h + 0.3)
        _draw(canvas, shape, colour, light, PERSON, instance, head, 0.15 * h)


def _dog(canvas, rng, foot_y, x, length, light, instance):
    """A dog standing side-on, facing left or right, feet at foot_y."""
    fur = _jitter(rng, FUR[rng.integers(len(FUR))], 12)
    face = 1 if rng.random() < 0.5 else -1
    n = length
    body_y = foot_y - 0.32 * n
    _shadow(canvas, foot_y, x, 0.55 * n)

    def part(shape, colour, centre, extent, shaded=True):
        _draw(canvas, shape, colour, light if shaded else None, DOG, instance, centre, extent)

    for dx in (-0.32, -0.22, 0.22, 0.32):  # legs
        top = (body_y, x + dx * n)
        foot = (foot_y, x + dx * n + rng.normal(0, 0.04 * n))
        part(_capsule(canvas, top, foot, 0.05 * n + 0.3), fur * 0.85, top, 0.1 * n)
    root = (body_y - 0.05 * n, x - face * 0.4 * n)
    tail = (body_y - 0.25 * n * rng.uniform(0.2, 1), x - face * 0.62 * n)
    part(_capsule(canvas, root, tail, 0.035 * n + 0.3), fur, tail, 0.1 * n)
    part(_ellipse(canvas, body_y, x, 0.45 * n, 0.15 * n + 0.3), fur, (body_y, x), 0.4 * n)
    if rng.random() < 0.4:  # a patch of another colour
        spot = (body_y - 0.03 * n, x + rng.normal(0, 0.15 * n))
        patch = FUR[rng.integers(len(FUR))].astype(np.float32)
        part(_ellipse(canvas, *spot, 0.14 * n, 0.09 * n), patch, (body_y, x), 0.4 * n)
    head = (body_y - 0.2 * n, x + face * 0.45 * n)
    part(_disc(canvas, *head, 0.13 * n + 0.3), fur, head, 0.26 * n)
    snout = (head[0] + 0.05 * n, head[1] + face * 0.13 * n)
    part(_ellipse(canvas, *snout, 0.09 * n, 0.06 * n + 0.3), fur * 0.9, snout, 0.2 * n)
    ear = (head[0] - 0.02 * n, head[1] - face * 0.06 * n)
    part(_ellipse(canvas, *ear, 0.04 * n + 0.3, 0.09 * n, 0.3 * face), fur * 0.6, ear, 1, False)


def _ball(canvas, rng, cy, cx, r, light, instance, on_ground=True):
    """A shaded ball: plain, with a band of another colour (beach ball) or a dark panel."""
    colour = BALL_COLORS[rng.integers(len(BALL_COLORS))]
    if on_ground:
        _shadow(canvas, cy + r, cx, 1.1 * r)
    where, inside = _disc(canvas, cy, cx, r)
    if where is None:
        return
    canvas.paint(where, inside, colour, _shade(where, cy, cx, 2 * r, light), BALL, instance)
    style = rng.random()
    _, yy, xx = where
    if style < 0.3 and r > 2:  # a band across the ball, clipped to it
        band = _sd_capsule(yy, xx, (cy - r, cx - 0.3 * r), (cy + r, cx + 0.3 * r), 0.3 * r)
        canvas.paint(where, np.maximum(band, inside), BALL_COLORS[rng.integers(len(BALL_COLORS))])
    elif style < 0.55 and r > 2:  # a dark panel in the middle
        canvas.paint(where, _sd_disc(yy, xx, cy + 0.1 * r, cx - 0.1 * r, 0.3 * r), [30, 30, 30])


def render_scene(seed: int, index: int, size: int = 64) -> Scene:
    """Scene `index` of the set `seed`, `size` x `size` pixels: image, labels and instances.

    People, dogs and balls stand on the grass at random depths (nearer is larger and is drawn
    later, so it occludes); some balls fly. At least one object; the image has sensor grain.
    """
    if int(size) < 16:
        raise ValueError(f"render_scene: size must be at least 16 pixels, got {size}")
    size = int(size)
    rng = seeded_rng(seed, 30, index)
    canvas = _Canvas(size)
    horizon = rng.uniform(0.3, 0.55) * size
    _background(canvas, rng, horizon)
    light = np.array([rng.uniform(0.3, 1.0), rng.uniform(-1, 1)])
    light /= np.linalg.norm(light)
    counts = {
        PERSON: int(rng.choice([0, 1, 1, 2, 2, 3])),
        DOG: int(rng.choice([0, 0, 1, 1, 2])),
        BALL: int(rng.choice([0, 1, 1, 2, 3])),
    }
    if sum(counts.values()) == 0:
        counts[int(rng.choice([PERSON, DOG, BALL]))] = 1
    objects = []
    for cls, count in counts.items():
        for _ in range(count):
            foot_y = horizon + rng.uniform(0.15, 1.0) * (size - horizon)
            objects.append((foot_y, cls, rng.uniform(0.05, 0.95) * size))
    for foot_y, cls, x in sorted(objects):  # far to near
        scale = 0.55 + 0.45 * (foot_y - horizon) / (size - horizon)
        instance = canvas.next_id
        canvas.next_id += 1
        if cls == PERSON:
            _person(canvas, rng, foot_y, x, rng.uniform(0.5, 0.85) * size * scale, light, instance)
        elif cls == DOG:
            _dog(canvas, rng, foot_y, x, rng.uniform(0.32, 0.5) * size * scale, light, instance)
        else:
            r = rng.uniform(0.06, 0.11) * size * scale + 0.5
            flying = rng.random() < 0.25
            cy = foot_y - r - (rng.uniform(0.1, 0.4) * size if flying else 0)
            _ball(canvas, rng, cy, x, r, light, instance, on_ground=not flying)
    gain = rng.uniform(0.8, 1.15) * _jitter(rng, [1, 1, 1], 0.04)
    image = np.clip(canvas.image * gain, 0, 255).astype(np.uint8)
    return Scene(add_grain(rng, image), canvas.labels, canvas.instances)


def make_scenes(n: int, size: int = 64, seed: int = 0, first: int = 0) -> Scenes:
    """Scenes first..first+n-1 of the set `seed`, stacked: images (n, size, size, 3), labels
    and instances (n, size, size). Disjoint index ranges give disjoint training and test sets."""
    if int(n) < 1:
        raise ValueError(f"make_scenes: n must be at least 1, got {n}")
    scenes = [render_scene(seed, i, size) for i in range(int(first), int(first) + int(n))]
    return Scenes(*(np.stack(parts) for parts in zip(*scenes, strict=True)))


def two_balls(
    size: int = 64, gap: float = 6.0, radius: float | None = None, seed: int = 0
) -> Scene:
    """Two balls of one class side by side on the grass, `gap` pixels apart (<= 0: touching).

    The instance map gives them ids 1 and 2; the label map cannot tell them apart.
    """
    size = int(size)
    rng = seeded_rng(seed, 31)
    canvas = _Canvas(size)
    horizon = 0.4 * size
    _background(canvas, rng, horizon)
    r = 0.12 * size if radius is None else float(radius)
    cy = 0.72 * size
    light = np.array([0.8, -0.6])
    for k, cx in enumerate((size / 2 - r - gap / 2, size / 2 + r + gap / 2), start=1):
        _ball(canvas, rng, cy, cx, r, light, k)
    return Scene(
        add_grain(rng, np.clip(canvas.image, 0, 255).astype(np.uint8)),
        canvas.labels,
        canvas.instances,
    )
