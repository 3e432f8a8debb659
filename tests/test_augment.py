"""Joint augmentation keeps image and mask aligned; the batch feeder is complete and seeded."""

import numpy as np
import pytest

from segcourse.augment import (
    NAMES,
    AugmentError,
    TrainBatches,
    apply_code,
    augment_batch,
    augment_pair,
)


def marked_pairs(n: int = 12, size: int = 8):
    """Images whose red channel equals the mask: a one-pixel asymmetric marker per sample."""
    images = np.zeros((n, size, size, 3), dtype="uint8")
    masks = np.zeros((n, size, size, 1), dtype="uint8")
    for i in range(n):
        row, col = i % size, (3 * i + 1) % size
        masks[i, row, col, 0] = 1
        masks[i, row, (col + 1) % size, 0] = 1  # two pixels: not symmetric under any transform
        images[..., 0] = masks[..., 0] * 200
        images[i, ..., 1] = i  # identifies the sample after shuffling
    return images, masks


def test_each_code_is_a_distinct_square_symmetry():
    image = np.arange(16).reshape(1, 4, 4, 1)
    results = {apply_code(image, code).tobytes() for code in range(len(NAMES))}
    assert len(results) == 8
    assert np.array_equal(apply_code(image, 1)[0, :, :, 0], image[0, :, ::-1, 0])
    assert np.array_equal(apply_code(image, 2)[0, :, :, 0], np.rot90(image[0, :, :, 0]))


def test_image_and_mask_move_together():
    images, masks = marked_pairs(64)
    rng = np.random.default_rng(1)
    out_images, out_masks = augment_batch(images, masks, rng)
    assert np.array_equal(out_images[..., 0], out_masks[..., 0] * 200)
    assert not np.array_equal(out_masks, masks)  # something was actually transformed
    image, mask = augment_pair(images[0], masks[0], rng)
    assert np.array_equal(image[..., 0], mask[..., 0] * 200)


def test_flips_only_without_rotation_on_wide_images():
    images = np.zeros((32, 4, 6, 3), dtype="uint8")
    masks = np.zeros((32, 4, 6, 1), dtype="uint8")
    masks[:, 0, 0] = 1
    images[..., 0] = masks[..., 0]
    out_images, out_masks = augment_batch(images, masks, np.random.default_rng(0), rotate90=False)
    corners = {tuple(np.argwhere(m[..., 0])[0]) for m in out_masks}
    assert corners == {(0, 0), (0, 5)}  # identity or left-right mirror, never upside down
    assert np.array_equal(out_images[..., 0], out_masks[..., 0])
    with pytest.raises(AugmentError, match="square"):
        augment_batch(images, masks, np.random.default_rng(0), rotate90=True)


def test_mismatched_shapes_are_refused():
    with pytest.raises(AugmentError, match="differ"):
        augment_batch(np.zeros((2, 4, 4, 3)), np.zeros((3, 4, 4, 1)), np.random.default_rng(0))


def test_batches_have_expected_shapes_and_dtypes():
    images, masks = marked_pairs(10)
    feeder = TrainBatches(images, masks, batch_size=4, seed=0)
    assert len(feeder) == 3
    x, y = feeder[0]
    assert x.shape == (4, 8, 8, 3) and x.dtype == np.uint8
    assert y.shape == (4, 8, 8, 1) and y.dtype == np.float32
    assert set(np.unique(y)) <= {0.0, 1.0}
    assert feeder[2][0].shape[0] == 2  # the last batch holds the remainder
    with pytest.raises(IndexError):
        feeder[3]


def test_every_sample_once_per_epoch_and_order_changes():
    images, masks = marked_pairs(10)
    feeder = TrainBatches(images, masks, batch_size=4, seed=3)
    orders = []
    for _ in range(3):
        seen = np.concatenate([feeder[i][0][:, 0, 0, 1] for i in range(len(feeder))])
        assert sorted(seen.tolist()) == list(range(10))
        orders.append(feeder._order.copy())
        feeder.on_epoch_end()
    assert not all(np.array_equal(orders[0], order) for order in orders[1:])


def test_same_seed_same_batches_other_seed_differs():
    images, masks = marked_pairs(16)

    def epochs(seed):
        feeder = TrainBatches(images, masks, batch_size=5, seed=seed)
        out = []
        for _ in range(2):
            out += [feeder[i] for i in range(len(feeder))]
            feeder.on_epoch_end()
        return out

    first, again, other = epochs(7), epochs(7), epochs(8)
    assert all(
        np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
        for a, b in zip(first, again, strict=True)
    )
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(first, other, strict=True))


def test_without_augmentation_batches_are_the_originals():
    images, masks = marked_pairs(6)
    feeder = TrainBatches(images, masks, batch_size=6, augment=False, shuffle=False)
    x, y = feeder[0]
    assert np.array_equal(x, images) and np.array_equal(y, masks.astype("float32"))
