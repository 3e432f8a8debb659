"""Joint image+mask augmentation and the batch feeder that trains the lesson models.

A flip or rotation must move the image and its mask together, otherwise the model learns
from labels that no longer match the pixels. Every transform here is one of the eight
symmetries of a square (flips and quarter turns), applied by numpy to a whole group of
samples at once, so feeding batches costs far less than the training step it feeds.
"""

from __future__ import annotations

import math

import keras
import numpy as np

# Transform codes 0..7: bit 0 = mirror left-right, bits 1-2 = number of quarter turns.
N_TRANSFORMS = 8
NAMES = (
    "identity",
    "flip left-right",
    "rotate 90",
    "rotate 90 + flip",
    "rotate 180",
    "rotate 180 + flip",
    "rotate 270",
    "rotate 270 + flip",
)


class AugmentError(ValueError):
    """Images and masks that cannot be augmented or batched (bad shapes or sizes)."""


def _check_pair(images: np.ndarray, masks: np.ndarray, rotate90: bool) -> None:
    """Raise AugmentError unless images (N,H,W,C) and masks (N,H,W,1) fit together."""
    if images.ndim != 4 or masks.ndim != 4:
        raise AugmentError(
            f"images and masks must be 4-D batches (N, H, W, C); got shapes "
            f"{images.shape} and {masks.shape}."
        )
    if images.shape[:3] != masks.shape[:3]:
        raise AugmentError(
            f"images {images.shape} and masks {masks.shape} differ in count or size; "
            "each image needs a mask of the same height and width."
        )
    if rotate90 and images.shape[1] != images.shape[2]:
        raise AugmentError(
            f"quarter-turn rotations need square images, got {images.shape[1]}x"
            f"{images.shape[2]}; pass rotate90=False (flips only) for non-square images."
        )


def random_codes(n: int, rng: np.random.Generator, rotate90: bool = True) -> np.ndarray:
    """`n` random transform codes: all eight square symmetries, or only a left-right flip."""
    if rotate90:
        return rng.integers(0, N_TRANSFORMS, size=n)
    return rng.integers(0, 2, size=n)


def apply_code(batch: np.ndarray, code: int) -> np.ndarray:
    """Transform a batch (N, H, W, C) by one code: mirror left-right, then turn."""
    if code & 1:
        batch = batch[:, :, ::-1]
    turns = (int(code) >> 1) & 3
    if turns:
        batch = np.rot90(batch, k=turns, axes=(1, 2))
    return batch


def augment_batch(
    images: np.ndarray,
    masks: np.ndarray,
    rng: np.random.Generator,
    *,
    rotate90: bool = True,
    codes: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Apply one random symmetry per sample to images and masks alike (new arrays).

    Samples that draw the same transform are processed together, so the cost is at most
    eight vectorised numpy copies per batch whatever the batch size.
    """
    images, masks = np.asarray(images), np.asarray(masks)
    _check_pair(images, masks, rotate90)
    if codes is None:
        codes = random_codes(len(images), rng, rotate90)
    out_images = np.empty_like(images)
    out_masks = np.empty_like(masks)
    for code in np.unique(codes):
        rows = np.flatnonzero(codes == code)
        out_images[rows] = apply_code(images[rows], code)
        out_masks[rows] = apply_code(masks[rows], code)
    return out_images, out_masks


def augment_pair(
    image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, *, rotate90: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Augment a single image (H, W, C) and its mask (H, W, 1) with the same random symmetry."""
    images, masks = augment_batch(image[None], mask[None], rng, rotate90=rotate90)
    return images[0], masks[0]


class TrainBatches(keras.utils.PyDataset):
    """Shuffled, augmented training batches from in-memory arrays, for `model.fit`.

    Yields `(images, masks)`: images keep their dtype (uint8 0..255; the model rescales
    inside), masks become float32 in {0, 1}. The order of an epoch and the transform of
    every sample depend only on `(seed, epoch, batch index)`, so a run is reproducible
    and batches can be produced in any order.
    """

    def __init__(
        self,
        images: np.ndarray,
        masks: np.ndarray,
        batch_size: int = 16,
        *,
        augment: bool = True,
        rotate90: bool = True,
        shuffle: bool = True,
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        images, masks = np.asarray(images), np.asarray(masks)
        _check_pair(images, masks, rotate90 and augment)
        if len(images) == 0:
            raise AugmentError("TrainBatches got no samples; check the split sizes.")
        if int(batch_size) < 1:
            raise AugmentError(f"batch_size must be a positive integer, got {batch_size!r}.")
        self.images = images
        self.masks = masks.astype("float32", copy=False)
        self.batch_size = int(batch_size)
        self.augment = augment
        self.rotate90 = rotate90
        self.shuffle = shuffle
        self.seed = int(seed)
        self.epoch = 0
        self._order = self._epoch_order()

    def _epoch_order(self) -> np.ndarray:
        """The sample order of the current epoch."""
        if not self.shuffle:
            return np.arange(len(self.images))
        return np.random.default_rng([self.seed, self.epoch]).permutation(len(self.images))

    def __len__(self) -> int:
        return math.ceil(len(self.images) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range (0..{len(self) - 1})")
        rows = np.sort(self._order[index * self.batch_size : (index + 1) * self.batch_size])
        images, masks = self.images[rows], self.masks[rows]
        if self.augment:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            images, masks = augment_batch(images, masks, rng, rotate90=self.rotate90)
        return images, masks

    def on_epoch_end(self) -> None:
        """Move to the next epoch: a new order and new transforms."""
        self.epoch += 1
        self._order = self._epoch_order()
