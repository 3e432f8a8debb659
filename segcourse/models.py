"""The course's models, each written out in the notebook that teaches it.

GENERATED from the notebook cells marked `# @save` (02_segnet.ipynb, 03_unet.ipynb).
Do not edit here: edit the notebook, then run `python -m devtools.build_models`.
"""

import keras
from keras import layers

from segcourse.layers import MaxPoolingWithArgmax2D, MaxUnpooling2D


# From notebooks/solutions/02_segnet.ipynb, cell c10.
def conv_block(x, filters):
    """Two 3x3 convolutions, each followed by batch normalisation and ReLU."""
    for _ in range(2):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=0.9)(x)  # see the note on momentum
        x = layers.Activation("relu")(x)
    return x


def build_segnet(image_size, base_filters=16, depth=4, unpool=True):
    """SegNet: pool `depth` times keeping each maximum's position, unpool there, one logit.

    `unpool=False` upsamples blindly instead (each value fills its 2x2 block), for comparison.
    """
    inputs = keras.Input(shape=(image_size, image_size, 3), name="image")
    x = layers.Rescaling(1 / 255)(inputs)  # the model takes 0..255 pixels
    where = []  # the pooling indices of each level, for the decoder
    for level in range(depth):  # encoder: richer features, smaller maps
        x = conv_block(x, base_filters * 2**level)
        if unpool:
            x, indices = MaxPoolingWithArgmax2D()(x)
            where.append(indices)
        else:
            x = layers.MaxPooling2D()(x)
    for level in reversed(range(depth)):  # decoder: back to full resolution
        x = MaxUnpooling2D()([x, where[level]]) if unpool else layers.UpSampling2D()(x)
        x = conv_block(x, base_filters * 2 ** max(level - 1, 0))  # the next level's width
    logits = layers.Conv2D(1, 1, dtype="float32", name="logits")(x)  # float32 in mixed precision
    return keras.Model(inputs, logits, name="segnet" if unpool else "upsampling_net")


# From notebooks/solutions/03_unet.ipynb, cell c09.
def build_unet(image_size, base_filters=16, depth=4):
    """U-Net: the SegNet shape plus skip connections from each encoder level to the decoder."""
    inputs = keras.Input(shape=(image_size, image_size, 3), name="image")
    x = layers.Rescaling(1 / 255)(inputs)
    skips = []
    for level in range(depth):
        x = conv_block(x, base_filters * 2**level)
        skips.append(x)  # computed once: the same tensor feeds the pooling and the decoder
        x = layers.MaxPooling2D()(x)
    x = conv_block(x, base_filters * 2**depth)  # bottleneck
    for level in reversed(range(depth)):
        x = layers.Conv2DTranspose(base_filters * 2**level, 2, strides=2, padding="same")(x)
        x = layers.Concatenate()([x, skips[level]])  # fine detail from the encoder
        x = conv_block(x, base_filters * 2**level)
    logits = layers.Conv2D(1, 1, dtype="float32", name="logits")(x)  # float32 in mixed precision
    return keras.Model(inputs, logits, name="unet")
