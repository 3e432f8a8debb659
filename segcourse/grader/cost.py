"""What a saved model costs to evaluate, counted before it runs: multiply-adds per pixel.

A small file can hold an expensive model (one large convolution applied many times costs its
weights once but its work at every call), so the grader counts the work of one frame from the
layers of the model loaded with `safe_mode=True` and refuses a model above a bound
(`--max-macs`, status `too_costly`) instead of letting it use the whole evaluation time.

The count walks every layer call of the model on one frame of the lab's size (shared layers
count at each call; nested models are walked too), symbolically: nothing is computed.

- a layer with weights costs its weights times its output positions (every output position
  but the channels): exact for Conv1D/2D/3D, DepthwiseConv, SeparableConv and Dense, and a
  bound for the rest (BatchNormalization costs a few per channel);
- Conv1D/2D/3DTranspose cost their kernel times the *input* positions;
- attention (Attention, AdditiveAttention, MultiHeadAttention, GroupedQueryAttention) adds
  query positions x key positions x width, and Dot and the matrix products of `keras.ops`
  (Matmul, Dot, Tensordot, Einsum) their output size times the contracted length;
- everything else (pooling, resizing, activations, merges) is taken as free: a few operations
  per element, next to nothing beside the convolutions. What the count cannot see is still
  bounded by the evaluation timeout (`--eval-timeout`).
"""

from __future__ import annotations

import math

import keras

ATTENTION = {"Attention", "AdditiveAttention"}
HEADED_ATTENTION = {"MultiHeadAttention", "GroupedQueryAttention"}
PRODUCTS = {"Dot", "Matmul", "Tensordot", "Einsum"}  # layer or keras.ops operation class names
TRANSPOSED = (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose,
              keras.layers.Conv3DTranspose)  # fmt: skip


def macs_per_pixel(model, image_size: tuple[int, int]) -> float:
    """Multiply-adds the model needs per pixel of one (H, W, 3) frame of `image_size`."""
    h, w = (int(v) for v in image_size)
    first = model.inputs[0]  # the grader accepts models with one input only
    x = keras.Input(batch_shape=(1, h, w, *first.shape[3:]), dtype=first.dtype)
    inputs = (
        x
        if isinstance(model, keras.Sequential)
        else keras.tree.map_structure(lambda _: x, model.input)
    )
    counter = _Counter()
    counter.walk(model, inputs)
    return counter.total / (h * w)


class _Counter:
    """Calls the layers of a model on symbolic inputs again and adds up what each call costs."""

    def __init__(self):
        self.total = 0.0

    def walk(self, model, inputs):
        """The model's outputs for `inputs`, counting every layer call on the way."""
        if isinstance(model, keras.Sequential):
            x = inputs
            for layer in model.layers:
                x = self.call(layer, x)
            return x
        if not isinstance(model, keras.Model) or not hasattr(model, "_nodes_by_depth"):
            raise ValueError(
                f"the grader cannot count the work of a {type(model).__name__} model: save a "
                "Functional or Sequential model"
            )
        clone = keras.models.clone_model(
            model, input_tensors=inputs, clone_function=lambda layer: layer,
            call_function=self.call,
        )  # fmt: skip
        return clone.output

    def call(self, layer, *args, **kwargs):
        if isinstance(layer, keras.Model):
            outputs = self.walk(layer, args[0] if len(args) == 1 else list(args))
        else:
            outputs = layer(*args, **kwargs)
        self.total += layer_macs(layer, _shapes((args, kwargs)), _shapes(outputs))
        return outputs


def layer_macs(layer, inputs: list[tuple], outputs: list[tuple]) -> float:
    """Multiply-adds of one call of `layer` (nested models: 0, their layers count), from the
    shapes of its input and output tensors (batch of 1)."""
    if isinstance(layer, keras.Model):
        return 0.0
    name = type(layer).__name__
    out = outputs[0] if outputs else ()
    if name in PRODUCTS and len(inputs) >= 2 and out:
        size_a, size_b, size_out = (math.prod(s[1:]) for s in (inputs[0], inputs[1], out))
        return size_out * math.sqrt(size_a * size_b / max(size_out, 1))  # x contracted length
    macs = 0.0
    weights = sum(math.prod(v.shape) for v in getattr(layer, "weights", []))
    if weights:
        where = inputs[0] if isinstance(layer, TRANSPOSED) and inputs else out
        macs += weights * math.prod(where[1:-1])
    if name in ATTENTION | HEADED_ATTENTION and len(inputs) >= 2:
        query, value = inputs[0], inputs[1]
        heads = getattr(layer, "num_heads", None) or getattr(layer, "num_query_heads", 1)
        width = getattr(layer, "key_dim", None) or getattr(layer, "head_dim", None) or query[-1]
        if name in ATTENTION:
            heads = 1
        macs += 2 * math.prod(query[1:-1]) * math.prod(value[1:-1]) * heads * width
    return macs


def _shapes(structure) -> list[tuple]:
    """The shapes of the (symbolic) tensors in a nested structure, in order."""
    found = []
    for item in keras.tree.flatten(structure):
        shape = getattr(item, "shape", None)
        if shape is not None and all(d is not None for d in shape):
            found.append(tuple(int(d) for d in shape))
    return found
