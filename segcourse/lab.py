"""The self-checks of the MADS lab notebook (`from segcourse import lab`; `lab.check_model(globals())`).

Each `check_*` reads the student's variables from the notebook namespace and stops with a
`SelfCheckError` that says what is wrong and what to do. Lesson-side code: it never imports the
grader, and it imports Keras only when a check is called.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

HAND_IN = ("model.keras", "results.json", "composite.png")


class SelfCheckError(ValueError):
    """A self-check found a problem in the student's answer; the message says what to fix."""


def _need(ns: dict, name: str, task: int, what: str):
    """The notebook variable `name`, or a SelfCheckError saying which task defines it."""
    if name not in ns or ns[name] is None or ns[name] is Ellipsis:
        raise SelfCheckError(
            f"Task {task} is not done yet: there is no `{name}` ({what}). Write the code in the "
            f"Task {task} cell above and run it; until then that cell stops with "
            "NotImplementedError."
        )
    return ns[name]


def _call(task: int, function, *args, **kwargs):
    """Call a student function, turning NotImplementedError into a clear SelfCheckError."""
    try:
        return function(*args, **kwargs)
    except NotImplementedError as err:
        raise SelfCheckError(
            f"Task {task} is not done yet: {getattr(function, '__name__', 'the function')}() "
            f"still raises NotImplementedError ({err}). Replace the `raise` line with your code."
        ) from None


def _passed(task: int, text: str) -> None:
    print(f"Task {task} self-check passed: {text}")


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

    model = _need(ns, "model", 1, "the model that build_model() returns")
    height, width = _need(ns, "IMAGE_SIZE", 1, "the image size from the parameters cell")
    train = _need(ns, "train", 1, "the training split")
    if not isinstance(model, keras.Model):
        raise SelfCheckError(f"Task 1: `model` must be a keras.Model, got {type(model).__name__}.")
    in_shape = tuple(model.inputs[0].shape)[1:] if model.inputs else None
    if in_shape != (height, width, 3):
        raise SelfCheckError(
            f"Task 1: the model's input must be (height, width, 3) = {(height, width, 3)}, got "
            f"{in_shape}. Use keras.Input(shape=input_shape)."
        )
    out_shape = tuple(model.outputs[0].shape)[1:]
    if out_shape != (height, width, 1):
        raise SelfCheckError(
            f"Task 1: the model's output must be one channel at full size, {(height, width, 1)}, "
            f"got {out_shape}. Check that every pooling step has a matching upsampling step "
            "and that the last layer is a 1x1 convolution with 1 filter."
        )
    if str(model.outputs[0].dtype) != "float32":
        raise SelfCheckError(
            f"Task 1: the output is {model.outputs[0].dtype}; give the last layer "
            "dtype='float32' so that the logits keep full precision under mixed precision."
        )
    last = model.layers[-1]
    if getattr(getattr(last, "activation", None), "__name__", "linear") not in ("linear", None):
        raise SelfCheckError(
            f"Task 1: the last layer {last.name!r} applies {last.activation.__name__}; the course "
            "convention is raw logits (no activation): sigmoid is applied in the loss and metrics."
        )
    if not any(isinstance(layer, keras.layers.Rescaling) for layer in model.layers):
        raise SelfCheckError(
            "Task 1: the model must accept images with values 0..255 and scale them itself: put "
            "keras.layers.Rescaling(1 / 255) right after the Input, so model.keras is all the "
            "grader needs."
        )
    fit = overfit_check(model, train.images[:4], train.masks[:4])
    if fit["max_logit"] <= 1 and fit["min_logit"] >= 0:
        raise SelfCheckError(
            "Task 1: after training on 4 images every output is between 0 and 1: the model "
            "outputs probabilities, not logits. Remove the final sigmoid."
        )
    if not fit["last_loss"] < 0.6 * fit["first_loss"] or fit["dice"] < 0.6:
        raise SelfCheckError(
            "Task 1: the model cannot fit 4 training images: after 30 Adam steps the loss went "
            f"from {fit['first_loss']:.3f} to {fit['last_loss']:.3f} and Dice is {fit['dice']:.2f} "
            "(a working U-Net gets the loss below 60 % of its start and Dice above 0.6). Look for "
            "a missing activation between convolutions, a frozen layer, or a skip connection "
            "that is never used."
        )
    _passed(
        1,
        f"{model.count_params():,} parameters; on 4 images the loss fell from "
        f"{fit['first_loss']:.2f} to {fit['last_loss']:.2f} in 30 steps (Dice {fit['dice']:.2f}).",
    )


def check_compiled(ns: dict) -> None:
    """Task 2: the model is compiled with a loss that reads logits and Dice/IoU metrics."""
    import keras
    import numpy as np

    model = _need(ns, "model", 2, "the model from Task 1")
    if getattr(model, "optimizer", None) is None or getattr(model, "loss", None) is None:
        raise SelfCheckError(
            "Task 2 is not done yet: the model is not compiled. Call model.compile(optimizer=..., "
            "loss=..., metrics=...) in compile_model()."
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
            f"Task 2: the loss gives {near:.3g}, {far:.3g}, {wrong:.3g} on simple logits; a loss "
            "must be finite and not negative."
        )
    if not (near > far + 0.05 and wrong > near):
        raise SelfCheckError(
            "Task 2: the loss does not read logits: more confident correct logits should lower "
            f"it (got {near:.3f} for logits +-1 and {far:.3f} for +-4) and wrong ones raise it "
            f"({wrong:.3f}). Use keras.losses.BinaryCrossentropy(from_logits=True), or the "
            "BCE + Dice loss from segcourse.losses."
        )
    val = _need(ns, "val", 2, "the validation split")
    scores = model.evaluate(
        val.images[:2], val.masks[:2].astype("float32"), verbose=0, return_dict=True
    )
    names = [name.lower() for name in scores]
    if not any("dice" in n for n in names) or not any("iou" in n for n in names):
        raise SelfCheckError(
            f"Task 2: compile the model with a Dice and an IoU metric; it reports only {names}. "
            "segcourse.losses.segmentation_metrics(from_logits=True) gives both."
        )
    _passed(2, "the loss reads logits and the model reports " + ", ".join(sorted(names)) + ".")


def _metric_key(history: dict, word: str) -> str | None:
    """The validation key of the history that contains `word` (e.g. 'val_dice')."""
    keys = [k for k in history if k.startswith("val_") and word in k.lower()]
    return keys[0] if keys else None


def check_training(ns: dict) -> None:
    """Task 3: fit() ran with validation data, the loss fell, the best weights are in place."""
    history = _need(ns, "history", 3, "what model.fit() returns")
    model = _need(ns, "model", 3, "the trained model")
    val = _need(ns, "val", 3, "the validation split")
    logs = getattr(history, "history", None)
    if not isinstance(logs, dict) or not logs.get("loss"):
        raise SelfCheckError("Task 3: `history` must be the History object that model.fit returns.")
    if "val_loss" not in logs:
        raise SelfCheckError(
            "Task 3: no validation scores in the history: pass validation_data=(val.images, "
            "val.masks) to model.fit so that the best epoch can be chosen on data not trained on."
        )
    losses = logs["loss"]
    if len(losses) > 1 and not losses[-1] < losses[0]:
        raise SelfCheckError(
            f"Task 3: the training loss did not fall ({losses[0]:.3f} -> {losses[-1]:.3f}); check "
            "the learning rate and that the masks are 0/1 floats."
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
            "Task 3: the model does not hold the weights of its best validation epoch (its "
            f"validation scores now, {_fmt(now)}, match no epoch's best). Add "
            "keras.callbacks.EarlyStopping(monitor=..., mode=..., patience=..., "
            "restore_best_weights=True) to the callbacks."
        )
    _passed(3, f"{len(losses)} epochs; best validation {key} {best_of(logs[key]):.3f}.")


def _fmt(scores: dict) -> str:
    return ", ".join(f"{k} {float(v):.3f}" for k, v in scores.items())


def check_evaluation(ns: dict) -> None:
    """Task 4: test IoU and Dice are numbers, consistent, and beat the best constant mask."""
    import numpy as np

    from segcourse import metrics

    test_iou = _need(ns, "test_iou", 4, "the mean IoU on the test split")
    test_dice = _need(ns, "test_dice", 4, "the mean Dice on the test split")
    model = _need(ns, "model", 4, "the trained model")
    test = _need(ns, "test", 4, "the test split")
    for name, value in (("test_iou", test_iou), ("test_dice", test_dice)):
        if not isinstance(value, (float, int, np.floating)) or not 0 <= float(value) <= 1:
            raise SelfCheckError(f"Task 4: `{name}` must be a number in [0, 1], got {value!r}.")
    if test_dice + 1e-6 < test_iou:
        raise SelfCheckError(
            f"Task 4: Dice ({test_dice:.3f}) can never be below IoU ({test_iou:.3f}); check that "
            "the two are not swapped."
        )
    logits = model.predict(test.images, verbose=0)
    own = metrics.mean_iou(test.masks, logits > 0)
    if abs(own - float(test_iou)) > 0.03:
        raise SelfCheckError(
            f"Task 4: `test_iou` is {float(test_iou):.3f} but the model's mean IoU on the test "
            f"split (logit > 0) is {own:.3f}: evaluate on `test`, with masks thresholded at "
            "logit 0 (probability 0.5), one score per image averaged over images."
        )
    constant = metrics.best_constant_iou(test.masks)
    if float(test_iou) <= constant + 0.05:
        raise SelfCheckError(
            f"Task 4: test IoU {float(test_iou):.3f} barely beats the best constant mask "
            f"({constant:.3f}), so the model has not learned much. Train longer or revisit "
            "Tasks 1-3."
        )
    _passed(
        4,
        f"test IoU {float(test_iou):.3f}, Dice {float(test_dice):.3f} "
        f"(best constant mask: IoU {constant:.3f}).",
    )


def check_submission(ns: dict) -> None:
    """Task 5: model.keras loads in safe mode and predicts like the model; results.json fits."""
    import keras
    import numpy as np

    folder = Path(_need(ns, "OUTPUT_DIR", 5, "the hand-in folder from the parameters cell"))
    model = _need(ns, "model", 5, "the trained model")
    test = _need(ns, "test", 5, "the test split")
    path = folder / "model.keras"
    if not path.is_file():
        raise SelfCheckError(
            f"Task 5 is not done yet: {path} does not exist. Save with model.save(...)."
        )
    try:
        loaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as err:  # any failure to load is the student's to fix: say so plainly
        raise SelfCheckError(
            f"Task 5: {path} does not load with keras.saving.load_model(safe_mode=True): {err}. "
            "Avoid Lambda layers and custom objects in the saved model."
        ) from None
    sample = test.images[:2]
    mine = np.asarray(model.predict(sample, verbose=0), "float32")
    theirs = np.asarray(loaded.predict(sample, verbose=0), "float32")
    if theirs.shape != mine.shape or not np.allclose(mine, theirs, atol=1e-2, rtol=1e-2):
        raise SelfCheckError(
            f"Task 5: {path} predicts differently from `model`; save the trained model after "
            "training (and after restoring the best weights)."
        )
    results_path = folder / "results.json"
    if not results_path.is_file():
        raise SelfCheckError(f"Task 5 is not done yet: {results_path} does not exist.")
    try:
        results = json.loads(results_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise SelfCheckError(f"Task 5: {results_path} is not valid JSON: {err}.") from None
    for key in ("test_iou", "test_dice"):
        if not isinstance(results.get(key), (int, float)):
            raise SelfCheckError(f"Task 5: {results_path} needs a number under {key!r}.")
        if key in ns and abs(results[key] - float(ns[key])) > 1e-6:
            raise SelfCheckError(
                f"Task 5: {results_path} says {key} = {results[key]}, the notebook has "
                f"{float(ns[key])}; write the scores you measured in Task 4."
            )
    _passed(5, f"{path.name} loads in safe mode and {results_path.name} holds the test scores.")


def check_compositing(ns: dict) -> None:
    """Task 6: composite() blends by alpha, soft_alpha() gives soft edges, composite.png exists."""
    import numpy as np

    composite = _need(ns, "composite", 6, "composite(image, alpha, background)")
    soft_alpha = _need(ns, "soft_alpha", 6, "soft_alpha(logits)")
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (16, 24, 3), dtype=np.uint8)
    background = rng.integers(0, 256, (16, 24, 3), dtype=np.uint8)
    ones, zeros = np.ones((16, 24, 1), "float32"), np.zeros((16, 24, 1), "float32")
    for alpha, expected, name in ((ones, image, "1"), (zeros, background, "0")):
        out = np.asarray(_call(6, composite, image, alpha, background))
        if out.shape != image.shape:
            raise SelfCheckError(
                f"Task 6: composite() returned shape {out.shape}, not {image.shape}."
            )
        if np.abs(out.astype("float32") - expected.astype("float32")).max() > 1.0:
            who = "the person's image" if name == "1" else "the background"
            raise SelfCheckError(f"Task 6: where alpha is {name}, composite() must give {who}.")
    half = np.asarray(_call(6, composite, image, ones / 2, background), "float32")
    middle = (image.astype("float32") + background) / 2
    if np.abs(half - middle).max() > 1.0:
        raise SelfCheckError("Task 6: with alpha 0.5 composite() must give the average of both.")
    logits = np.full((32, 32, 1), -8.0, "float32")
    logits[8:24, 8:24] = 8.0
    alpha = np.asarray(_call(6, soft_alpha, logits), "float32")
    if alpha.shape != logits.shape or alpha.min() < 0 or alpha.max() > 1:
        raise SelfCheckError(
            f"Task 6: soft_alpha() must return weights in [0, 1] of shape {logits.shape}; got "
            f"shape {alpha.shape}, range {alpha.min():.2f}..{alpha.max():.2f}."
        )
    if not (alpha[16, 16, 0] > 0.9 and alpha[1, 1, 0] < 0.1):
        raise SelfCheckError(
            "Task 6: soft_alpha() must be near 1 inside the person, near 0 far away."
        )
    edge = alpha[16, 6:11, 0]
    if not np.any((edge > 0.05) & (edge < 0.95)):
        raise SelfCheckError(
            "Task 6: soft_alpha() gives a hard edge (only 0 and 1 across the border): blur the "
            "mask (e.g. a Gaussian filter) so that hair and motion blur blend into the background."
        )
    folder = Path(_need(ns, "OUTPUT_DIR", 6, "the hand-in folder from the parameters cell"))
    png = folder / "composite.png"
    if not png.is_file() or png.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
        raise SelfCheckError(f"Task 6 is not done yet: {png} is missing or not a PNG image.")
    _passed(6, f"alpha blending and soft edges work, and {png.name} is saved.")
