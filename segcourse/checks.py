"""The lesson exercises' tests and the course's own versions of the exercise functions.

Each `test_*` raises `exercises.Wrong` with what is off (never the expected value) and tries
the student's answer on inputs the notebook never showed (other sizes, depths and batches),
so hard-coding one number cannot pass. The plain functions are the course's versions that a
starter notebook falls back on (`exercises.use`) until the student's answer passes.
"""

from __future__ import annotations

import numpy as np

from segcourse.exercises import Wrong

_SHAPES = ((3, 8, 8, 1), (5, 6, 10, 1))  # two batches of masks, one of them not square


def _random_masks(shape, seed: int, density: float = 0.4) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) < density).astype("uint8")


def _array(value, what: str) -> np.ndarray:
    try:
        return np.asarray(value)
    except Exception as err:  # noqa: BLE001 - any failure to convert is the student's answer
        raise Wrong(f"{what} should return an array, got {type(value).__name__}.") from err


# --- notebook 1 ---------------------------------------------------------------------------


def lesion_fraction(masks):
    """The share of each mask's pixels that are lesion: one float per mask."""
    return np.asarray(masks).reshape(len(masks), -1).astype(bool).mean(axis=1)


def test_lesion_fraction(fn) -> None:
    for seed, shape in enumerate(_SHAPES):
        masks = _random_masks(shape, seed)
        got = _array(fn(masks), "lesion_fraction")
        if got.shape != (shape[0],):
            raise Wrong(f"for {shape[0]} masks return {shape[0]} values, got shape {got.shape}.")
        if np.any(got < 0) or np.any(got > 1):
            raise Wrong("a share of pixels lies between 0 and 1: divide by the number of pixels.")
        if not np.allclose(got, lesion_fraction(masks)):
            raise Wrong("count the lesion pixels of each mask and divide by all of its pixels.")


def touches_border(masks):
    """True for each mask with a lesion pixel in its outermost rows or columns."""
    m = np.asarray(masks)[..., 0] > 0
    rows = m[:, 0, :] | m[:, -1, :]
    cols = m[:, :, 0] | m[:, :, -1]
    return rows.any(axis=1) | cols.any(axis=1)


def test_touches_border(fn) -> None:
    masks = np.zeros((5, 7, 9, 1), "uint8")
    masks[1, 3, 4] = 1  # inside only
    masks[2, 0, 5] = 1  # top row
    masks[3, 4, 8] = 1  # right column
    masks[4, 6, 0] = 1  # bottom-left corner
    for batch in (masks, _random_masks((4, 12, 6, 1), 3, density=0.03)):
        got = _array(fn(batch), "touches_border")
        if got.dtype != bool or got.shape != (len(batch),):
            raise Wrong(
                f"return one True/False per mask (got dtype {got.dtype}, shape {got.shape})."
            )
        if not np.array_equal(got, touches_border(batch)):
            which = "the edges" if batch is masks else "a batch of non-square masks"
            raise Wrong(f"wrong on {which}: check all four edges, on masks of any size.")


def flip_pair(image, mask):
    """Mirror an image and its mask left-right, together."""
    return image[:, ::-1], mask[:, ::-1]


def test_flip_pair(fn) -> None:
    for height, width in ((6, 6), (5, 9)):
        image = np.zeros((height, width, 3), "uint8")
        mask = np.zeros((height, width, 1), "uint8")
        image[1, 0] = 255
        mask[1, 0] = 1
        out = fn(image, mask)
        if not isinstance(out, tuple) or len(out) != 2:
            raise Wrong("return two things: the flipped image and the flipped mask.")
        out_image, out_mask = (np.asarray(part) for part in out)
        if out_image.shape != image.shape or out_mask.shape != mask.shape:
            raise Wrong("the shapes must stay (H, W, 3) and (H, W, 1).")
        if out_mask.sum() != 1 or out_mask[1, width - 1, 0] != 1:
            raise Wrong(
                f"on a {height} x {width} mask the marked pixel is not mirrored left-right."
            )
        if not np.array_equal(out_image[..., 0] == 255, out_mask[..., 0] == 1):
            raise Wrong("the image and the mask no longer line up: flip both the same way.")


# --- notebook 2 ---------------------------------------------------------------------------


def bottleneck_width(image_size, depth):
    """Width of the feature map after `depth` 2x2 poolings."""
    return image_size // 2**depth


def test_bottleneck_width(fn) -> None:
    for size, depth in ((64, 3), (96, 5), (128, 4), (40, 2)):
        got = fn(size, depth)
        if got != bottleneck_width(size, depth):
            raise Wrong(f"wrong for a {size}-pixel image and {depth} poolings: each one halves it.")


def conv_params(kernel_size, in_channels, filters, use_bias):
    """Weights of a Conv2D layer with square kernels."""
    return kernel_size * kernel_size * in_channels * filters + (filters if use_bias else 0)


def test_conv_params(fn) -> None:
    import keras

    for kernel, channels, filters, bias in ((3, 3, 16, False), (1, 32, 1, True), (5, 7, 4, True)):
        layer = keras.layers.Conv2D(filters, kernel, use_bias=bias)
        layer.build((None, 8, 8, channels))
        if fn(kernel, channels, filters, bias) != layer.count_params():
            what = "with" if bias else "without"
            raise Wrong(
                f"wrong for a {kernel}x{kernel} convolution from {channels} to {filters} "
                f"channels {what} bias: one weight per kernel position, input and output channel."
            )


def to_mask(logits):
    """The mask at probability 0.5, straight from logits."""
    return np.asarray(logits) > 0


def test_to_mask(fn) -> None:
    rng = np.random.default_rng(7)
    for shape in ((4, 8, 8, 1), (2, 5, 3, 1)):
        logits = rng.normal(0, 4, size=shape)
        logits.flat[0] = 0.0  # probability exactly 0.5 is not lesion
        got = _array(fn(logits), "to_mask")
        if got.shape != shape or got.dtype != bool:
            raise Wrong(f"return a boolean mask of the logits' shape {shape}, got {got.shape}.")
        if not np.array_equal(got, 1 / (1 + np.exp(-logits)) > 0.5):
            raise Wrong("some pixels differ from sigmoid(logits) > 0.5: where is sigmoid 0.5?")


# --- notebook 3 ---------------------------------------------------------------------------


def top_concat_channels(base_filters):
    """Channels of the U-Net's last concatenation: upsampled plus skipped."""
    return 2 * base_filters


def test_top_concat_channels(fn) -> None:
    for base in (4, 12, 32):
        if fn(base) != top_concat_channels(base):
            raise Wrong(f"wrong for base_filters={base}: add what each of the two inputs brings.")


def unet_conv3x3(depth):
    """3x3 convolutions in a U-Net of `depth` levels that computes each encoder block once."""
    return 4 * depth + 2


def test_unet_conv3x3(fn) -> None:
    import keras

    from segcourse.models import build_unet

    for depth in (2, 3):
        model = build_unet(32, 2, depth)
        actual = sum(
            type(layer) is keras.layers.Conv2D and layer.kernel_size == (3, 3)
            for layer in model.layers
        )
        if fn(depth) != actual:
            raise Wrong(
                f"a U-Net of depth {depth} has another count: encoder, bottleneck, decoder."
            )


# --- notebook 4 ---------------------------------------------------------------------------


def iou_from_dice(dice):
    """IoU of one mask from its Dice: J = D / (2 - D)."""
    return dice / (2 - dice)


def test_iou_from_dice(fn) -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        truth, pred = rng.random((2, 9, 11)) < rng.uniform(0.1, 0.7, size=(2, 1, 1))
        inter, union = (truth & pred).sum(), (truth | pred).sum()
        total = truth.sum() + pred.sum()
        if union == 0:
            continue
        dice, iou = 2 * inter / total, inter / union
        if not np.isclose(fn(dice), iou):
            raise Wrong(
                "for a random pair of masks the IoU is off: write |T∪P| in |T|, |P| and |T∩P|."
            )
    if not np.isclose(fn(1.0), 1.0) or not np.isclose(fn(0.0), 0.0):
        raise Wrong("a perfect mask has IoU 1 and a disjoint one IoU 0.")


def pick_threshold(thresholds, scores):
    """The threshold with the highest score (the first one on a tie)."""
    return thresholds[int(np.argmax(scores))]


def test_pick_threshold(fn) -> None:
    rng = np.random.default_rng(11)
    for n in (7, 19):
        thresholds = np.linspace(0.05, 0.95, n)
        scores = rng.random(n)
        if fn(thresholds, scores) != pick_threshold(thresholds, scores):
            raise Wrong(f"on a random curve of {n} points you did not return the best threshold.")
    flat = np.ones(5)
    if fn(np.linspace(0.1, 0.9, 5), flat) != 0.1:
        raise Wrong("on a tie, keep the first (lowest) of the best thresholds.")


def mean_by_group(values, groups):
    """The mean of `values` for each distinct label in `groups`, as a dict."""
    values, groups = np.asarray(values, float), np.asarray(groups)
    return {str(name): float(values[groups == name].mean()) for name in np.unique(groups)}


def test_mean_by_group(fn) -> None:
    rng = np.random.default_rng(5)
    for labels in (("a", "b", "c"), ("melanoma", "common nevus")):
        groups = list(rng.choice(labels, size=15))
        values = rng.random(15)
        got = fn(values, groups)
        if not isinstance(got, dict) or set(got) != set(groups):
            raise Wrong("return a dict with one entry per label that occurs (and no other).")
        expected = mean_by_group(values, groups)
        if any(not np.isclose(got[k], expected[k]) for k in expected):
            raise Wrong("some group means are off: average only the values of that group.")


def test_ranking_counterexample(answer) -> None:
    """`answer` = (per-image Dice of model A, per-image Dice of model B), same test images."""
    try:
        dice_a, dice_b = (np.asarray(part, float) for part in answer)
    except (TypeError, ValueError) as err:
        raise Wrong("give two lists of per-image Dice scores: (model_a, model_b).") from err
    if dice_a.shape != dice_b.shape or dice_a.ndim != 1 or len(dice_a) < 2:
        raise Wrong("both models need a Dice score on the same two or more images.")
    if np.any((dice_a < 0) | (dice_a > 1) | (dice_b < 0) | (dice_b > 1)):
        raise Wrong("a Dice score lies between 0 and 1.")
    iou_a, iou_b = iou_from_dice(dice_a), iou_from_dice(dice_b)
    if not dice_a.mean() > dice_b.mean():
        raise Wrong("model A should have the higher mean Dice.")
    if not iou_a.mean() < iou_b.mean():
        raise Wrong(
            "A has the higher mean Dice, but not the lower mean IoU yet: IoU is convex in Dice."
        )
