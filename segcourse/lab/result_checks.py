"""The self-checks of Tasks 4-6 and the last cell: the test scores, the hand-in files and the
compositing."""

from __future__ import annotations

import json
from pathlib import Path

from segcourse.i18n import N_, tr
from segcourse.lab.common import SelfCheckError, call, need, passed
from segcourse.profiles import smoke_run


def check_evaluation(ns: dict) -> None:
    """Task 4: test IoU and Dice are numbers, consistent, and beat the best constant mask."""
    import numpy as np

    from segcourse import metrics

    test_iou = need(ns, "test_iou", 4, N_("the mean IoU on the test split"))
    test_dice = need(ns, "test_dice", 4, N_("the mean Dice on the test split"))
    model = need(ns, "model", 4, N_("the trained model"))
    test = need(ns, "test", 4, N_("the test split"))
    for name, value in (("test_iou", test_iou), ("test_dice", test_dice)):
        if not isinstance(value, (float, int, np.floating)) or not 0 <= float(value) <= 1:
            raise SelfCheckError(
                tr(
                    "Task 4: `{name}` must be a number in [0, 1], got {value!r}.",
                    name=name,
                    value=value,
                )
            )
    if test_dice + 1e-6 < test_iou:
        raise SelfCheckError(
            tr(
                "Task 4: Dice ({dice:.3f}) can never be below IoU ({iou:.3f}); check that the "
                "two are not swapped.",
                dice=test_dice,
                iou=test_iou,
            )
        )
    logits = model.predict(test.images, verbose=0)
    own = metrics.mean_iou(test.masks, logits > 0)
    if abs(own - float(test_iou)) > 0.03:
        raise SelfCheckError(
            tr(
                "Task 4: `test_iou` is {claimed:.3f} but the model's mean IoU on the test split "
                "(logit > 0) is {own:.3f}: evaluate on `test`, with masks thresholded at logit "
                "0 (probability 0.5), one score per image averaged over images.",
                claimed=float(test_iou),
                own=own,
            )
        )
    constant = metrics.best_constant_iou(test.masks)
    text = tr(
        "test IoU {iou:.3f}, Dice {dice:.3f} (best constant mask: IoU {constant:.3f}).",
        iou=float(test_iou),
        dice=float(test_dice),
        constant=constant,
    )
    if smoke_run():
        text += " " + tr("A smoke run (one epoch): whether the model learned is not judged.")
    elif float(test_iou) <= constant + 0.05:
        raise SelfCheckError(
            tr(
                "Task 4: test IoU {iou:.3f} barely beats the best constant mask "
                "({constant:.3f}), so the model has not learned much. Train longer or revisit "
                "Tasks 1-3.",
                iou=float(test_iou),
                constant=constant,
            )
        )
    passed(4, text)


def check_submission(ns: dict) -> None:
    """Task 5: model.keras loads in safe mode and predicts like the model; results.json fits."""
    import keras
    import numpy as np

    folder = Path(need(ns, "OUTPUT_DIR", 5, N_("the hand-in folder from the parameters cell")))
    model = need(ns, "model", 5, N_("the trained model"))
    test = need(ns, "test", 5, N_("the test split"))
    path = folder / "model.keras"
    if not path.is_file():
        raise SelfCheckError(
            tr(
                "Task 5 is not done yet: {path} does not exist. Save with model.save(...).",
                path=path,
            )
        )
    try:
        loaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as err:  # any failure to load is the student's to fix: say so plainly
        raise SelfCheckError(
            tr(
                "Task 5: {path} does not load with keras.saving.load_model(safe_mode=True): "
                "{error}. Avoid Lambda layers and custom objects in the saved model.",
                path=path,
                error=err,
            )
        ) from None
    sample = test.images[:2]
    mine = np.asarray(model.predict(sample, verbose=0), "float32")
    theirs = np.asarray(loaded.predict(sample, verbose=0), "float32")
    if theirs.shape != mine.shape or not np.allclose(mine, theirs, atol=1e-2, rtol=1e-2):
        raise SelfCheckError(
            tr(
                "Task 5: {path} predicts differently from `model`; save the trained model "
                "after training (and after restoring the best weights).",
                path=path,
            )
        )
    results_path = folder / "results.json"
    if not results_path.is_file():
        raise SelfCheckError(
            tr("Task 5 is not done yet: {path} does not exist.", path=results_path)
        )
    try:
        results = json.loads(results_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise SelfCheckError(
            tr("Task 5: {path} is not valid JSON: {error}.", path=results_path, error=err)
        ) from None
    for key in ("test_iou", "test_dice"):
        if not isinstance(results.get(key), (int, float)):
            raise SelfCheckError(
                tr("Task 5: {path} needs a number under {key!r}.", path=results_path, key=key)
            )
        if key in ns and abs(results[key] - float(ns[key])) > 1e-6:
            raise SelfCheckError(
                tr(
                    "Task 5: {path} says {key} = {claimed}, the notebook has {value}; write "
                    "the scores you measured in Task 4.",
                    path=results_path,
                    key=key,
                    claimed=results[key],
                    value=float(ns[key]),
                )
            )
    text = tr(
        "{model} loads in safe mode and {results} holds the test scores.",
        model=path.name,
        results=results_path.name,
    )
    passed(5, text)


def check_compositing(ns: dict) -> None:
    """Task 6: composite() blends by alpha, soft_alpha() gives soft edges, composite.png exists."""
    import numpy as np

    composite = need(ns, "composite", 6, "composite(image, alpha, background)")
    soft_alpha = need(ns, "soft_alpha", 6, "soft_alpha(logits)")
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (16, 24, 3), dtype=np.uint8)
    background = rng.integers(0, 256, (16, 24, 3), dtype=np.uint8)
    ones, zeros = np.ones((16, 24, 1), "float32"), np.zeros((16, 24, 1), "float32")
    for alpha, expected, name in ((ones, image, "1"), (zeros, background, "0")):
        out = np.asarray(call(6, composite, image, alpha, background))
        if out.shape != image.shape:
            raise SelfCheckError(
                tr(
                    "Task 6: composite() returned shape {shape}, not {expected}.",
                    shape=out.shape,
                    expected=image.shape,
                )
            )
        if np.abs(out.astype("float32") - expected.astype("float32")).max() > 1.0:
            who = tr("the person's image") if name == "1" else tr("the background")
            raise SelfCheckError(
                tr(
                    "Task 6: where alpha is {alpha}, composite() must give {who}.",
                    alpha=name,
                    who=who,
                )
            )
    half = np.asarray(call(6, composite, image, ones / 2, background), "float32")
    middle = (image.astype("float32") + background) / 2
    if np.abs(half - middle).max() > 1.0:
        raise SelfCheckError(
            tr("Task 6: with alpha 0.5 composite() must give the average of both.")
        )
    logits = np.full((32, 32, 1), -8.0, "float32")
    logits[8:24, 8:24] = 8.0
    alpha = np.asarray(call(6, soft_alpha, logits), "float32")
    if alpha.shape != logits.shape or alpha.min() < 0 or alpha.max() > 1:
        raise SelfCheckError(
            tr(
                "Task 6: soft_alpha() must return weights in [0, 1] of shape {expected}; got "
                "shape {shape}, range {low:.2f}..{high:.2f}.",
                expected=logits.shape,
                shape=alpha.shape,
                low=alpha.min(),
                high=alpha.max(),
            )
        )
    if not (alpha[16, 16, 0] > 0.9 and alpha[1, 1, 0] < 0.1):
        raise SelfCheckError(
            tr("Task 6: soft_alpha() must be near 1 inside the person, near 0 far away.")
        )
    edge = alpha[16, 6:11, 0]
    if not np.any((edge > 0.05) & (edge < 0.95)):
        raise SelfCheckError(
            tr(
                "Task 6: soft_alpha() gives a hard edge (only 0 and 1 across the border): blur "
                "the mask (e.g. a Gaussian filter) so that hair and motion blur blend into the "
                "background."
            )
        )
    folder = Path(need(ns, "OUTPUT_DIR", 6, N_("the hand-in folder from the parameters cell")))
    png = folder / "composite.png"
    if not png.is_file() or png.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
        raise SelfCheckError(
            tr("Task 6 is not done yet: {path} is missing or not a PNG image.", path=png)
        )
    passed(6, tr("alpha blending and soft edges work, and {file} is saved.", file=png.name))


def check_result(test_iou: float, constant_iou: float, margin: float = 0.25) -> None:
    """The whole pipeline: an AssertionError (a failed run, in CI too) unless the test IoU clears
    the best constant mask's by `margin`. A smoke run (one epoch) shows the score unjudged."""
    if smoke_run():
        print(
            tr(
                "test IoU {iou:.3f} after a smoke run (one epoch); whether the lab learns is "
                "checked by its run in the ci profile, not here.",
                iou=float(test_iou),
            )
        )
        return
    if test_iou < constant_iou + margin:
        raise AssertionError(
            tr(
                "test IoU {iou:.3f} is less than {margin} above the best constant mask "
                "({constant:.3f}): the model has not learned enough; revisit Tasks 1-3.",
                iou=float(test_iou),
                margin=margin,
                constant=float(constant_iou),
            )
        )
