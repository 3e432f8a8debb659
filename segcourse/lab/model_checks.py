"""The self-checks of Tasks 1-3: the model, its loss and metrics, and its training."""

from __future__ import annotations

import math

from segcourse.i18n import N_, tr
from segcourse.lab.common import SelfCheckError, need, passed


def _soft_dice(logits, masks) -> float:
    """Dice of thresholded logits (logit > 0) against {0, 1} masks, pooled over pixels."""
    import numpy as np

    pred = np.asarray(logits) > 0
    truth = np.asarray(masks) > 0.5
    total = pred.sum() + truth.sum()
    return 1.0 if total == 0 else float(2 * (pred & truth).sum() / total)


def overfit_check(model, images, masks, steps: int = 30, learning_rate: float = 3e-3) -> dict:
    """Train a fresh copy of `model` on a few images; a model that can learn fits them quickly.

    Returns the first and last training loss, the Dice on those images (in training mode, so
    batch-norm statistics that have not settled yet do not matter) and the logit range.
    """
    import keras
    import numpy as np

    clone = keras.models.clone_model(model)
    clone.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
    )
    x = np.asarray(images).astype("float32")
    y = np.asarray(masks).astype("float32")
    losses = [float(clone.train_on_batch(x, y)) for _ in range(steps)]
    logits = keras.ops.convert_to_numpy(clone(x, training=True)).astype("float32")
    return {
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "dice": _soft_dice(logits, y),
        "min_logit": float(logits.min()),
        "max_logit": float(logits.max()),
    }


def check_model(ns: dict) -> None:
    """Task 1: input (H, W, 3) 0..255, output (H, W, 1) float32 logits, and it can learn."""
    import keras

    model = need(ns, "model", 1, N_("the model that build_model() returns"))
    height, width = need(ns, "IMAGE_SIZE", 1, N_("the image size from the parameters cell"))
    train = need(ns, "train", 1, N_("the training split"))
    if not isinstance(model, keras.Model):
        raise SelfCheckError(
            tr("Task 1: `model` must be a keras.Model, got {kind}.", kind=type(model).__name__)
        )
    in_shape = tuple(model.inputs[0].shape)[1:] if model.inputs else None
    if in_shape != (height, width, 3):
        raise SelfCheckError(
            tr(
                "Task 1: the model's input must be (height, width, 3) = {expected}, got "
                "{shape}. Use keras.Input(shape=input_shape).",
                expected=(height, width, 3),
                shape=in_shape,
            )
        )
    out_shape = tuple(model.outputs[0].shape)[1:]
    if out_shape != (height, width, 1):
        raise SelfCheckError(
            tr(
                "Task 1: the model's output must be one channel at full size, {expected}, got "
                "{shape}. Check that every pooling step has a matching upsampling step and "
                "that the last layer is a 1x1 convolution with 1 filter.",
                expected=(height, width, 1),
                shape=out_shape,
            )
        )
    if str(model.outputs[0].dtype) != "float32":
        raise SelfCheckError(
            tr(
                "Task 1: the output is {dtype}; give the last layer dtype='float32' so that "
                "the logits keep full precision under mixed precision.",
                dtype=model.outputs[0].dtype,
            )
        )
    last = model.layers[-1]
    if getattr(getattr(last, "activation", None), "__name__", "linear") not in ("linear", None):
        raise SelfCheckError(
            tr(
                "Task 1: the last layer {layer!r} applies {activation}; the course convention "
                "is raw logits (no activation): sigmoid is applied in the loss and metrics.",
                layer=last.name,
                activation=last.activation.__name__,
            )
        )
    if not any(isinstance(layer, keras.layers.Rescaling) for layer in model.layers):
        raise SelfCheckError(
            tr(
                "Task 1: the model must accept images with values 0..255 and scale them "
                "itself: put keras.layers.Rescaling(1 / 255) right after the Input, so "
                "model.keras is all the grader needs."
            )
        )
    fit = overfit_check(model, train.images[:4], train.masks[:4])
    if fit["max_logit"] <= 1 and fit["min_logit"] >= 0:
        raise SelfCheckError(
            tr(
                "Task 1: after training on 4 images every output is between 0 and 1: the "
                "model outputs probabilities, not logits. Remove the final sigmoid."
            )
        )
    if not fit["last_loss"] < 0.6 * fit["first_loss"] or fit["dice"] < 0.6:
        raise SelfCheckError(
            tr(
                "Task 1: the model cannot fit 4 training images: after 30 Adam steps the loss "
                "went from {first:.3f} to {last:.3f} and Dice is {dice:.2f} (a working U-Net "
                "gets the loss below 60 % of its start and Dice above 0.6). Look for a "
                "missing activation between convolutions, a frozen layer, or a skip "
                "connection that is never used.",
                first=fit["first_loss"],
                last=fit["last_loss"],
                dice=fit["dice"],
            )
        )
    text = tr(
        "{count:,} parameters; on 4 images the loss fell from {first:.2f} to {last:.2f} in 30 "
        "steps (Dice {dice:.2f}).",
        count=model.count_params(),
        first=fit["first_loss"],
        last=fit["last_loss"],
        dice=fit["dice"],
    )
    passed(1, text)


def check_compiled(ns: dict) -> None:
    """Task 2: the model is compiled with a loss that reads logits and Dice/IoU metrics."""
    import keras
    import numpy as np

    model = need(ns, "model", 2, N_("the model from Task 1"))
    if getattr(model, "optimizer", None) is None or getattr(model, "loss", None) is None:
        raise SelfCheckError(
            tr(
                "Task 2 is not done yet: the model is not compiled. Call "
                "model.compile(optimizer=..., loss=..., metrics=...) in compile_model()."
            )
        )
    loss = model.loss
    if isinstance(loss, str):
        loss = keras.losses.get(loss)
    y = np.zeros((2, 8, 8, 1), "float32")
    y[:, :4] = 1
    sign = 2 * y - 1

    def value(logits) -> float:
        return float(keras.ops.convert_to_numpy(loss(y, logits.astype("float32"))).mean())

    near, far, wrong = value(1.0 * sign), value(4.0 * sign), value(-4.0 * sign)
    if not all(math.isfinite(v) and v >= 0 for v in (near, far, wrong)):
        raise SelfCheckError(
            tr(
                "Task 2: the loss gives {near:.3g}, {far:.3g}, {wrong:.3g} on simple logits; a "
                "loss must be finite and not negative.",
                near=near,
                far=far,
                wrong=wrong,
            )
        )
    if not (near > far + 0.05 and wrong > near):
        raise SelfCheckError(
            tr(
                "Task 2: the loss does not read logits: more confident correct logits should "
                "lower it (got {near:.3f} for logits +-1 and {far:.3f} for +-4) and wrong ones "
                "raise it ({wrong:.3f}). Use keras.losses.BinaryCrossentropy(from_logits=True), "
                "or the BCE + Dice loss from segcourse.losses.",
                near=near,
                far=far,
                wrong=wrong,
            )
        )
    val = need(ns, "val", 2, N_("the validation split"))
    scores = model.evaluate(
        val.images[:2], val.masks[:2].astype("float32"), verbose=0, return_dict=True
    )
    names = [name.lower() for name in scores]
    if not any("dice" in n for n in names) or not any("iou" in n for n in names):
        raise SelfCheckError(
            tr(
                "Task 2: compile the model with a Dice and an IoU metric; it reports only "
                "{names}. segcourse.losses.segmentation_metrics(from_logits=True) gives both.",
                names=names,
            )
        )
    text = tr(
        "the loss reads logits and the model reports {names}.", names=", ".join(sorted(names))
    )
    passed(2, text)


def _metric_key(history: dict, word: str) -> str | None:
    """The validation key of the history that contains `word` (e.g. 'val_dice')."""
    keys = [k for k in history if k.startswith("val_") and word in k.lower()]
    return keys[0] if keys else None


def check_training(ns: dict) -> None:
    """Task 3: fit() ran with validation data, the loss fell, the best weights are in place."""
    history = need(ns, "history", 3, N_("what model.fit() returns"))
    model = need(ns, "model", 3, N_("the trained model"))
    val = need(ns, "val", 3, N_("the validation split"))
    logs = getattr(history, "history", None)
    if not isinstance(logs, dict) or not logs.get("loss"):
        raise SelfCheckError(
            tr("Task 3: `history` must be the History object that model.fit returns.")
        )
    if "val_loss" not in logs:
        raise SelfCheckError(
            tr(
                "Task 3: no validation scores in the history: pass validation_data=(val.images, "
                "val.masks) to model.fit so that the best epoch can be chosen on data not "
                "trained on."
            )
        )
    losses = logs["loss"]
    if len(losses) > 1 and not losses[-1] < losses[0]:
        raise SelfCheckError(
            tr(
                "Task 3: the training loss did not fall ({first:.3f} -> {last:.3f}); check the "
                "learning rate and that the masks are 0/1 floats.",
                first=losses[0],
                last=losses[-1],
            )
        )
    now = model.evaluate(val.images, val.masks.astype("float32"), verbose=0, return_dict=True)
    candidates = [("val_loss", min, "loss")]
    for word in ("dice", "iou"):
        key = _metric_key(logs, word)
        if key:
            candidates.append((key, max, key[4:]))
    for key, best_of, name in candidates:
        if name in now and abs(float(now[name]) - best_of(logs[key])) <= 0.01 + 0.01 * abs(
            best_of(logs[key])
        ):
            break
    else:
        raise SelfCheckError(
            tr(
                "Task 3: the model does not hold the weights of its best validation epoch (its "
                "validation scores now, {scores}, match no epoch's best). Add "
                "keras.callbacks.EarlyStopping(monitor=..., mode=..., patience=..., "
                "restore_best_weights=True) to the callbacks.",
                scores=_fmt(now),
            )
        )
    text = tr(
        "{epochs} epochs; best validation {key} {best:.3f}.",
        epochs=len(losses),
        key=key,
        best=best_of(logs[key]),
    )
    passed(3, text)


def _fmt(scores: dict) -> str:
    return ", ".join(f"{k} {float(v):.3f}" for k, v in scores.items())
