"""SegNet's unpooling (Badrinarayanan et al., 2017) as two Keras layers, backend-agnostic.

The encoder pools with `MaxPoolingWithArgmax2D` and keeps, for each pooled value, which of the
four positions in its 2x2 window held the maximum; the decoder's `MaxUnpooling2D` puts each
value back at that position, zeros elsewhere, so boundaries come back where they were instead
of being smeared by a plain upsampling. Written with `keras.ops` only: it runs on TensorFlow,
JAX and PyTorch, and a saved model reloads with `keras.models.load_model` (safe mode).

Indices are int32 per-window positions 0..3 (row-major: 0 top-left, 1 top-right, 2 bottom-left,
3 bottom-right), not flat indices into the whole image as in `tf.nn.max_pool_with_argmax`.
"""

from __future__ import annotations

import keras
from keras import ops

WINDOW = 4  # positions in a 2x2 window


def _check_shape(shape, layer: str) -> None:
    """ValueError unless `shape` is (batch, H, W, C) with even H and W (None: not known yet)."""
    if len(shape) != 4:
        raise ValueError(f"{layer} expects 4D input (batch, H, W, C), got shape {tuple(shape)}")
    if any(d is not None and d % 2 for d in shape[1:3]):
        raise ValueError(
            f"{layer} needs even height and width for its 2x2 windows, got shape {tuple(shape)}; "
            "crop or pad the images (e.g. to a multiple of 2**depth)"
        )


@keras.saving.register_keras_serializable(package="segcourse")
class MaxPoolingWithArgmax2D(keras.layers.Layer):
    """2x2 max pooling, stride 2, that also returns where each maximum was.

    Call on x of shape (B, H, W, C), H and W even; returns `[pooled, indices]`, both of shape
    (B, H/2, W/2, C): the window maxima and their int32 position 0..3 in the window (ties: one
    of the tied positions). Feed both to the matching `MaxUnpooling2D` in the decoder.
    """

    def build(self, input_shape):
        _check_shape(input_shape, type(self).__name__)

    def call(self, x):
        _, h, w, c = ops.shape(x)
        # (B, H, W, C) -> (B, H/2, 2, W/2, 2, C) -> (B, H/2, W/2, C, 4): one row per window
        windows = ops.reshape(x, (-1, h // 2, 2, w // 2, 2, c))
        windows = ops.reshape(
            ops.transpose(windows, (0, 1, 3, 5, 2, 4)), (-1, h // 2, w // 2, c, WINDOW)
        )
        pooled = ops.max(windows, axis=-1)
        indices = ops.cast(ops.argmax(windows, axis=-1), "int32")
        return [pooled, indices]

    def compute_output_spec(self, x):
        _check_shape(x.shape, type(self).__name__)
        b, h, w, c = x.shape
        shape = (b, None if h is None else h // 2, None if w is None else w // 2, c)
        return [
            keras.KerasTensor(shape, dtype=self.compute_dtype),
            keras.KerasTensor(shape, dtype="int32"),
        ]


@keras.saving.register_keras_serializable(package="segcourse")
class MaxUnpooling2D(keras.layers.Layer):
    """SegNet unpooling: each value goes back to the position of its max in a 2x2 block.

    Call on `[x, indices]`, x of shape (B, H, W, C) and `indices` the second output of the
    matching `MaxPoolingWithArgmax2D` (same shape); returns (B, 2H, 2W, C), zeros at the three
    other positions of every block. No weights: the decoder's convolutions fill the gaps.
    """

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError("MaxUnpooling2D is called on [x, indices]")
        x_shape, i_shape = (tuple(s) for s in input_shape)
        if len(x_shape) != 4 or len(i_shape) != 4:
            raise ValueError(f"MaxUnpooling2D expects 4D x and indices, got {x_shape}, {i_shape}")
        if any(
            a is not None and b is not None and a != b
            for a, b in zip(x_shape, i_shape, strict=True)
        ):
            raise ValueError(
                f"MaxUnpooling2D: x has shape {x_shape} but indices have shape {i_shape}"
            )

    def call(self, inputs):
        x, indices = inputs
        _, h, w, c = ops.shape(x)
        # one_hot in x's dtype (bfloat16 under mixed precision): the product keeps that dtype
        mask = ops.one_hot(ops.cast(indices, "int32"), WINDOW, dtype=x.dtype)
        blocks = ops.reshape(ops.expand_dims(x, -1) * mask, (-1, h, w, c, 2, 2))
        # (B, H, W, C, 2, 2) -> (B, H, 2, W, 2, C) -> (B, 2H, 2W, C)
        return ops.reshape(ops.transpose(blocks, (0, 1, 4, 2, 5, 3)), (-1, 2 * h, 2 * w, c))

    def compute_output_spec(self, inputs):
        x = inputs[0]
        b, h, w, c = x.shape
        shape = (b, None if h is None else 2 * h, None if w is None else 2 * w, c)
        return keras.KerasTensor(shape, dtype=self.compute_dtype)
