"""The lesson exercises' tests and the course's own versions of the exercise functions.

Each `test_*` raises `exercises.Wrong` with what is off (never the expected value) and tries
the student's answer on inputs the notebook never showed (other sizes, depths and batches),
so hard-coding one number cannot pass. The plain functions are the course's versions that a
starter notebook falls back on (`exercises.use`) until the student's answer passes.
"""

from __future__ import annotations

import numpy as np

from segcourse.exercises import Wrong
from segcourse.i18n import tr

_SHAPES = ((3, 8, 8, 1), (5, 6, 10, 1))  # two batches of masks, one of them not square


def _random_masks(shape, seed: int, density: float = 0.4) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) < density).astype("uint8")


def _array(value, what: str) -> np.ndarray:
    try:
        return np.asarray(value)
    except Exception as err:  # noqa: BLE001 - any failure to convert is the student's answer
        raise Wrong(
            tr("{what} should return an array, got {kind}.", what=what, kind=type(value).__name__)
        ) from err


# --- notebook 1 ---------------------------------------------------------------------------


def lesion_fraction(masks):
    """The share of each mask's pixels that are lesion: one float per mask."""
    return np.asarray(masks).reshape(len(masks), -1).astype(bool).mean(axis=1)


def test_lesion_fraction(fn) -> None:
    for seed, shape in enumerate(_SHAPES):
        masks = _random_masks(shape, seed)
        got = _array(fn(masks), "lesion_fraction")
        if got.shape != (shape[0],):
            raise Wrong(
                tr(
                    "for {n} masks return {n} values, got shape {shape}.",
                    n=shape[0],
                    shape=got.shape,
                )
            )
        if np.any(got < 0) or np.any(got > 1):
            raise Wrong(
                tr("a share of pixels lies between 0 and 1: divide by the number of pixels.")
            )
        if not np.allclose(got, lesion_fraction(masks)):
            raise Wrong(tr("count the lesion pixels of each mask and divide by all of its pixels."))


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
                tr(
                    "return one True/False per mask (got dtype {dtype}, shape {shape}).",
                    dtype=got.dtype,
                    shape=got.shape,
                )
            )
        if not np.array_equal(got, touches_border(batch)):
            which = tr("the edges") if batch is masks else tr("a batch of non-square masks")
            raise Wrong(
                tr("wrong on {which}: check all four edges, on masks of any size.", which=which)
            )


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
            raise Wrong(tr("return two things: the flipped image and the flipped mask."))
        out_image, out_mask = (np.asarray(part) for part in out)
        if out_image.shape != image.shape or out_mask.shape != mask.shape:
            raise Wrong(tr("the shapes must stay (H, W, 3) and (H, W, 1)."))
        if out_mask.sum() != 1 or out_mask[1, width - 1, 0] != 1:
            raise Wrong(
                tr(
                    "on a {height} x {width} mask the marked pixel is not mirrored left-right.",
                    height=height,
                    width=width,
                )
            )
        if not np.array_equal(out_image[..., 0] == 255, out_mask[..., 0] == 1):
            raise Wrong(tr("the image and the mask no longer line up: flip both the same way."))


# --- notebook 2 ---------------------------------------------------------------------------


def bottleneck_width(image_size, depth):
    """Width of the feature map after `depth` 2x2 poolings."""
    return image_size // 2**depth


def test_bottleneck_width(fn) -> None:
    for size, depth in ((64, 3), (96, 5), (128, 4), (40, 2)):
        got = fn(size, depth)
        if got != bottleneck_width(size, depth):
            raise Wrong(
                tr(
                    "wrong for a {size}-pixel image and {depth} poolings: each one halves it.",
                    size=size,
                    depth=depth,
                )
            )


def conv_params(kernel_size, in_channels, filters, use_bias):
    """Weights of a Conv2D layer with square kernels."""
    return kernel_size * kernel_size * in_channels * filters + (filters if use_bias else 0)


def test_conv_params(fn) -> None:
    import keras

    for kernel, channels, filters, bias in ((3, 3, 16, False), (1, 32, 1, True), (5, 7, 4, True)):
        layer = keras.layers.Conv2D(filters, kernel, use_bias=bias)
        layer.build((None, 8, 8, channels))
        if fn(kernel, channels, filters, bias) != layer.count_params():
            what = tr("with") if bias else tr("without")
            raise Wrong(
                tr(
                    "wrong for a {kernel}x{kernel} convolution from {channels} to {filters} "
                    "channels {what} bias: one weight per kernel position, input and output "
                    "channel.",
                    kernel=kernel,
                    channels=channels,
                    filters=filters,
                    what=what,
                )
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
            raise Wrong(
                tr(
                    "return a boolean mask of the logits' shape {shape}, got {got}.",
                    shape=shape,
                    got=got.shape,
                )
            )
        if not np.array_equal(got, 1 / (1 + np.exp(-logits)) > 0.5):
            raise Wrong(tr("some pixels differ from sigmoid(logits) > 0.5: where is sigmoid 0.5?"))


# --- notebook 3 ---------------------------------------------------------------------------


def top_concat_channels(base_filters):
    """Channels of the U-Net's last concatenation: upsampled plus skipped."""
    return 2 * base_filters


def test_top_concat_channels(fn) -> None:
    for base in (4, 12, 32):
        if fn(base) != top_concat_channels(base):
            raise Wrong(
                tr(
                    "wrong for base_filters={base}: add what each of the two inputs brings.",
                    base=base,
                )
            )


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
                tr(
                    "a U-Net of depth {depth} has another count: encoder, bottleneck, decoder.",
                    depth=depth,
                )
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
                tr("for a random pair of masks the IoU is off: write |T∪P| in |T|, |P| and |T∩P|.")
            )
    if not np.isclose(fn(1.0), 1.0) or not np.isclose(fn(0.0), 0.0):
        raise Wrong(tr("a perfect mask has IoU 1 and a disjoint one IoU 0."))


def pick_threshold(thresholds, scores):
    """The threshold with the highest score (the first one on a tie)."""
    return thresholds[int(np.argmax(scores))]


def test_pick_threshold(fn) -> None:
    rng = np.random.default_rng(11)
    for n in (7, 19):
        thresholds = np.linspace(0.05, 0.95, n)
        scores = rng.random(n)
        if fn(thresholds, scores) != pick_threshold(thresholds, scores):
            raise Wrong(
                tr("on a random curve of {n} points you did not return the best threshold.", n=n)
            )
    flat = np.ones(5)
    if fn(np.linspace(0.1, 0.9, 5), flat) != 0.1:
        raise Wrong(tr("on a tie, keep the first (lowest) of the best thresholds."))


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
            raise Wrong(tr("return a dict with one entry per label that occurs (and no other)."))
        expected = mean_by_group(values, groups)
        if any(not np.isclose(got[k], expected[k]) for k in expected):
            raise Wrong(tr("some group means are off: average only the values of that group."))


def test_ranking_counterexample(answer) -> None:
    """`answer` = (per-image Dice of model A, per-image Dice of model B), same test images."""
    try:
        dice_a, dice_b = (np.asarray(part, float) for part in answer)
    except (TypeError, ValueError) as err:
        raise Wrong(tr("give two lists of per-image Dice scores: (model_a, model_b).")) from err
    if dice_a.shape != dice_b.shape or dice_a.ndim != 1 or len(dice_a) < 2:
        raise Wrong(tr("both models need a Dice score on the same two or more images."))
    if np.any((dice_a < 0) | (dice_a > 1) | (dice_b < 0) | (dice_b > 1)):
        raise Wrong(tr("a Dice score lies between 0 and 1."))
    iou_a, iou_b = iou_from_dice(dice_a), iou_from_dice(dice_b)
    if not dice_a.mean() > dice_b.mean():
        raise Wrong(tr("model A should have the higher mean Dice."))
    if not iou_a.mean() < iou_b.mean():
        raise Wrong(
            tr("A has the higher mean Dice, but not the lower mean IoU yet: IoU is convex in Dice.")
        )


# --- notebook 5 ---------------------------------------------------------------------------


def one_hot(labels, num_classes):
    """Label maps of class numbers -> one-hot arrays with the classes on a new last axis."""
    return np.eye(num_classes, dtype="float32")[np.asarray(labels)]


def test_one_hot(fn) -> None:
    rng = np.random.default_rng(13)
    for shape, classes in (((5, 7), 3), ((2, 4, 6), 5), ((3, 3), 2)):
        labels = rng.integers(0, classes, size=shape)
        got = _array(fn(labels, classes), "one_hot")
        if got.shape != (*shape, classes):
            raise Wrong(
                tr(
                    "for labels of shape {shape} and {c} classes the result has shape {got}: "
                    "add one axis of length {c} at the end.",
                    shape=shape,
                    c=classes,
                    got=got.shape,
                )
            )
        if not np.array_equal(got, one_hot(labels, classes)):
            raise Wrong(
                tr("each pixel needs a 1 in the channel of its class and 0 in all the others.")
            )


def iou_from_confusion(confusion):
    """IoU per class from a pixel confusion matrix (rows: truth); NaN for an absent class."""
    cm = np.asarray(confusion, dtype=float)
    tp = np.diag(cm)
    union = cm.sum(axis=0) + cm.sum(axis=1) - tp
    return np.divide(tp, union, out=np.full(len(cm), np.nan), where=union > 0)


def test_iou_from_confusion(fn) -> None:
    rng = np.random.default_rng(17)
    for classes in (3, 5):
        cm = rng.integers(0, 50, size=(classes, classes))
        cm[-1, :] = 0  # the last class never occurs in the truth ...
        cm[:, -1] = 0  # ... nor in the prediction: it has no IoU
        got = _array(fn(cm), "iou_from_confusion").astype(float)
        if got.shape != (classes,):
            raise Wrong(tr("return one IoU per class: {c} values here.", c=classes))
        want = iou_from_confusion(cm)
        if not np.isnan(got[-1]):
            raise Wrong(
                tr(
                    "a class that is in neither the truth nor the prediction has no IoU: "
                    "return NaN for it, not a number."
                )
            )
        if not np.allclose(got[:-1], want[:-1]):
            raise Wrong(
                tr(
                    "some IoUs are off on a random {c}x{c} matrix: TP is on the diagonal, "
                    "FN in the rest of the row, FP in the rest of the column.",
                    c=classes,
                )
            )


def count_objects(labels, cls):
    """The number of 4-connected regions of class `cls` in one label map."""
    from scipy import ndimage

    return int(ndimage.label(np.asarray(labels) == cls)[1])


def test_count_objects(fn) -> None:
    grid = np.zeros((9, 12), dtype="uint8")
    grid[1:3, 1:3] = 2  # a ball
    grid[1:3, 3:5] = 2  # touching it: the same region
    grid[6:8, 1:3] = 2  # apart
    grid[3, 5] = 2  # meets the first region at a corner only
    grid[5:8, 7:11] = 1  # another class
    cases = ((grid, 2, "balls"), (grid, 1, "people"), (grid, 3, "a class that is absent"))
    for labels, cls, what in cases:
        if fn(labels, cls) != count_objects(labels, cls):
            raise Wrong(
                tr(
                    "wrong count of {what} on a small map: regions that share an edge are one "
                    "object, regions that only meet at a corner are two (4-connectivity).",
                    what=what,
                )
            )
    rng = np.random.default_rng(19)
    random_map = rng.integers(0, 3, size=(15, 20))
    if fn(random_map, 1) != count_objects(random_map, 1):
        raise Wrong(tr("wrong count on a random 15x20 label map: label the pixels of one class."))


# --- notebook 6 ---------------------------------------------------------------------------


def peak_xy(heatmap):
    """(x, y) of the largest value of one heatmap (H, W): x is the column, y the row."""
    row, col = np.unravel_index(int(np.argmax(heatmap)), np.shape(heatmap))
    return int(col), int(row)


def test_peak_xy(fn) -> None:
    rng = np.random.default_rng(23)
    for height, width in ((20, 31), (16, 9), (12, 12)):
        heatmap = rng.random((height, width)) * 0.5
        row, col = int(rng.integers(height)), int(rng.integers(width))
        heatmap[row, col] = 2.0
        got = fn(heatmap)
        try:
            x, y = (int(v) for v in got)
        except (TypeError, ValueError) as err:
            raise Wrong(tr("return two numbers, (x, y).")) from err
        if (x, y) == (row, col) and row != col:
            raise Wrong(tr("x and y are swapped: x counts columns (across), y counts rows (down)."))
        if (x, y) != (col, row):
            raise Wrong(
                tr(
                    "on a {h}x{w} heatmap the peak is elsewhere: find the largest value and turn "
                    "its flat index back into a row and a column.",
                    h=height,
                    w=width,
                )
            )
