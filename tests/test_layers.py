"""SegNet pooling with argmax and unpooling against a plain numpy reference, on any backend."""

import keras
import numpy as np
import pytest

from segcourse.layers import MaxPoolingWithArgmax2D, MaxUnpooling2D


def _reference(x: np.ndarray):
    """Numpy 2x2 max pooling, window argmax (row-major 0..3) and SegNet unpooling of x."""
    b, h, w, c = x.shape
    windows = x.reshape(b, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 5, 2, 4)
    windows = windows.reshape(b, h // 2, w // 2, c, 4)
    pooled, argmax = windows.max(axis=-1), windows.argmax(axis=-1)
    unpooled = np.zeros_like(x)
    for n, i, j, k in np.ndindex(pooled.shape):
        dy, dx = divmod(argmax[n, i, j, k], 2)
        unpooled[n, 2 * i + dy, 2 * j + dx, k] = pooled[n, i, j, k]
    return pooled, argmax, unpooled


def _pool_unpool(x):
    pooled, indices = MaxPoolingWithArgmax2D()(x)
    return (
        keras.ops.convert_to_numpy(pooled),
        keras.ops.convert_to_numpy(indices),
        keras.ops.convert_to_numpy(MaxUnpooling2D()([pooled, indices])),
    )


@pytest.mark.parametrize("shape", [(2, 4, 6, 3), (1, 8, 8, 5)])
def test_unpool_of_pool_keeps_exactly_the_maxima_in_place(shape):
    x = np.random.default_rng(sum(shape)).normal(size=shape).astype("float32")
    pooled, indices, unpooled = _pool_unpool(x)
    ref_pooled, ref_argmax, ref_unpooled = _reference(x)
    assert pooled.shape == ref_pooled.shape and unpooled.shape == x.shape
    np.testing.assert_array_equal(pooled, ref_pooled)
    np.testing.assert_array_equal(indices, ref_argmax)
    np.testing.assert_array_equal(unpooled, ref_unpooled)
    # the maxima stay where they were, everything else is zero
    kept = unpooled != 0
    assert kept.sum() == ref_pooled.size
    np.testing.assert_array_equal(unpooled[kept], x[kept])


def test_ties_put_the_value_at_exactly_one_position_per_window():
    x = np.full((1, 4, 4, 2), 0.5, dtype="float32")
    x[0, 2:, 2:, 1] = -1.0  # a tied window of negative values
    pooled, indices, unpooled = _pool_unpool(x)
    np.testing.assert_array_equal(pooled, _reference(x)[0])
    assert set(np.unique(indices)) <= {0, 1, 2, 3}
    blocks = unpooled.reshape(1, 2, 2, 2, 2, 2).transpose(0, 1, 3, 5, 2, 4).reshape(-1, 4)
    assert ((blocks != 0).sum(axis=1) == 1).all()
    np.testing.assert_array_equal(blocks.sum(axis=1), pooled.ravel())


@pytest.mark.parametrize("shape", [(1, 5, 4, 1), (1, 4, 7, 1)])
def test_odd_height_or_width_is_refused_naming_the_shape(shape):
    with pytest.raises(ValueError, match=r"even height and width.*" + str(shape[1:3])[1:-1]):
        MaxPoolingWithArgmax2D()(np.zeros(shape, dtype="float32"))
    with pytest.raises(ValueError, match="even height and width"):
        MaxPoolingWithArgmax2D()(keras.Input(shape[1:]))


def _segnet_block(shape=(8, 8, 3), filters=4):
    inputs = keras.Input(shape)
    x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(inputs)
    pooled, indices = MaxPoolingWithArgmax2D()(x)
    y = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(pooled)
    y = MaxUnpooling2D()([y, indices])
    outputs = keras.layers.Conv2D(1, 1, activation="sigmoid", dtype="float32")(y)
    return keras.Model(inputs, outputs)


def test_model_saves_and_reloads_in_safe_mode_with_the_same_predictions(tmp_path):
    keras.utils.set_random_seed(0)
    model = _segnet_block()
    assert model.layers[2].output[0].shape == (None, 4, 4, 4)  # dynamic batch
    assert model.layers[4].output.shape == (None, 8, 8, 4)
    path = tmp_path / "segnet.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)  # safe_mode=True by default
    assert [type(layer).__name__ for layer in reloaded.layers][2:5] == [
        "MaxPoolingWithArgmax2D",
        "Conv2D",
        "MaxUnpooling2D",
    ]
    for batch in (2, 3):  # two batch sizes through the same model
        x = np.random.default_rng(batch).normal(size=(batch, 8, 8, 3)).astype("float32")
        expected = model.predict(x, verbose=0)
        assert expected.shape == (batch, 8, 8, 1)
        np.testing.assert_array_equal(reloaded.predict(x, verbose=0), expected)


def test_gradients_flow_through_pool_and_unpool():
    keras.utils.set_random_seed(1)
    model = _segnet_block()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy")
    first = keras.ops.convert_to_numpy(model.layers[1].kernel).copy()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 8, 8, 3)).astype("float32")
    y = (rng.random((4, 8, 8, 1)) > 0.5).astype("float32")
    history = model.fit(x, y, batch_size=2, epochs=1, verbose=0)  # 2 steps
    assert np.isfinite(history.history["loss"]).all()
    # the first convolution is only reached through pooling and unpooling
    assert not np.allclose(keras.ops.convert_to_numpy(model.layers[1].kernel), first)


@pytest.fixture
def mixed_bfloat16():
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    yield
    keras.config.set_dtype_policy(before)


def test_mixed_precision_keeps_bfloat16_and_the_reference_result(mixed_bfloat16):
    x = np.random.default_rng(2).normal(size=(2, 4, 6, 3)).astype("float32")
    pooled, indices = MaxPoolingWithArgmax2D()(x)
    unpooled = MaxUnpooling2D()([pooled, indices])
    assert keras.backend.standardize_dtype(unpooled.dtype) == "bfloat16"
    assert keras.backend.standardize_dtype(indices.dtype) == "int32"
    x16 = keras.ops.convert_to_numpy(keras.ops.cast(keras.ops.cast(x, "bfloat16"), "float32"))
    got = keras.ops.convert_to_numpy(keras.ops.cast(unpooled, "float32"))
    # bfloat16 rounding may create ties, so check the window maxima and one value per window
    blocks = got.reshape(2, 2, 2, 3, 2, 3).transpose(0, 1, 3, 5, 2, 4).reshape(-1, 4)
    assert ((blocks != 0).sum(axis=1) == 1).all()
    np.testing.assert_array_equal(blocks.sum(axis=1), _reference(x16)[0].ravel())
    np.testing.assert_array_equal(got[got != 0], x16[got != 0])
    model = _segnet_block(shape=(4, 6, 3))
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    history = model.fit(x, (x > 0)[..., :1].astype("float32"), batch_size=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
