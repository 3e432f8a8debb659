"""The MADS lab: build the student starter from the reference solution, and its self-checks.

One notebook is the source (`lab/solution/body_segmentation.ipynb`): task cells hold the
answer between `### BEGIN SOLUTION` / `### END SOLUTION` lines (nbgrader's convention), so
the starter is generated from it and the two cannot drift. `python -m segcourse lab build`
writes the starter; `python -m segcourse lab check` fails when the committed one is stale.

The `check_*` functions are the notebook's self-check cells: each reads the student's
variables from the notebook namespace and stops with a `SelfCheckError` that says what is
wrong and what to do. They import Keras only when called, so building stays backend-free.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import re
import sys
from pathlib import Path

from segcourse.paths import project_root

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
SOLUTION = Path("lab/solution/body_segmentation.ipynb")
STARTER = Path("lab/body_segmentation.ipynb")
HAND_IN = ("model.keras", "results.json", "composite.png")
# Cell metadata keys that only describe one execution (papermill, nbclient, Jupyter UI).
RUN_METADATA = ("execution", "papermill", "collapsed", "scrolled", "ExecuteTime")


class LabBuildError(ValueError):
    """The solution notebook cannot be turned into a starter (bad regions or metadata)."""


class SelfCheckError(ValueError):
    """A self-check found a problem in the student's answer; the message says what to fix."""


# --------------------------------------------------------------------------- starter build


def _cell_name(index: int, cell: dict) -> str:
    """How error messages name a cell: its position and nbgrader grade_id if any."""
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return f"cell {index}" + (f" ({grade_id})" if grade_id else "")


def _task_label(cell: dict) -> str:
    """'Task 3' from a grade_id such as 'task3_train', else the grade_id itself."""
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
    found = re.match(r"task(\d+)", grade_id)
    return f"Task {found.group(1)}" if found else (grade_id or "This task")


def _enclosing_function(lines: list[str], indent: str) -> str | None:
    """Name of the nearest `def` above, indented less than the region, if any."""
    for line in reversed(lines):
        found = re.match(r"(\s*)def\s+(\w+)\s*\(", line)
        if found and len(found.group(1)) < len(indent):
            return found.group(2)
    return None


def _replace_regions(source: str, where: str, replace) -> str:
    """Walk the BEGIN/END SOLUTION regions of `source`, putting `replace(line, kept)` in each.

    `line` is the region's BEGIN line and `kept` the lines kept so far; a nested, unopened or
    unclosed region is a LabBuildError naming `where` and the line.
    """
    out: list[str] = []
    inside = False
    for number, line in enumerate(source.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            if inside:
                raise LabBuildError(f"{where}, line {number}: {BEGIN!r} inside another region.")
            inside = True
            out += replace(line, out)
        elif stripped.startswith(END):
            if not inside:
                raise LabBuildError(f"{where}, line {number}: {END!r} without a {BEGIN!r}.")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise LabBuildError(f"{where}: {BEGIN!r} is never closed by {END!r}.")
    return "\n".join(out)


def strip_solutions(source: str, task: str = "This task", *, where: str = "cell") -> str:
    """Replace each solution region of a code cell by `# YOUR CODE HERE` and a raise."""

    def placeholder(line: str, kept: list[str]) -> list[str]:
        indent = line[: len(line) - len(line.lstrip())]
        function = _enclosing_function(kept, indent)
        todo = f"write the body of {function}()" if function else "write this code"
        message = f"{task}: {todo}, then run this cell again."
        return [f"{indent}# YOUR CODE HERE", f'{indent}raise NotImplementedError("{message}")']

    return _replace_regions(source, where, placeholder)


def _strip_markdown(source: str, where: str) -> str:
    """Replace each solution region of a markdown cell by 'YOUR ANSWER HERE'."""
    return _replace_regions(source, where, lambda line, kept: ["YOUR ANSWER HERE"])


def validate_solution(nb: dict) -> None:
    """Raise LabBuildError unless regions and nbgrader metadata are consistent."""
    seen: dict[str, str] = {}
    for index, cell in enumerate(nb.get("cells", [])):
        where = _cell_name(index, cell)
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        meta = cell.get("metadata", {}).get("nbgrader")
        has_region = BEGIN in source
        if meta is None:
            if has_region:
                raise LabBuildError(f"{where} has a solution region but no nbgrader metadata.")
            continue
        grade_id = meta.get("grade_id")
        if not grade_id:
            raise LabBuildError(f"{where}: nbgrader metadata without a grade_id.")
        if grade_id in seen:
            raise LabBuildError(f"{where}: grade_id {grade_id!r} is also used by {seen[grade_id]}.")
        seen[grade_id] = where
        if meta.get("solution") and not has_region:
            raise LabBuildError(f"{where} is a solution cell but has no {BEGIN!r} region.")
        if has_region and not meta.get("solution"):
            raise LabBuildError(f"{where} has a solution region but nbgrader.solution is false.")
        if meta.get("grade"):
            points = meta.get("points")
            if not isinstance(points, (int, float)) or points <= 0:
                raise LabBuildError(f"{where}: graded cell needs positive points, got {points!r}.")


def build_starter_notebook(solution: dict) -> dict:
    """The student version of a solution notebook (a new dict; outputs cleared)."""
    validate_solution(solution)
    starter = copy.deepcopy(solution)
    starter["metadata"] = {
        k: v for k, v in starter.get("metadata", {}).items() if k not in ("papermill", "widgets")
    }
    for index, cell in enumerate(starter["cells"]):
        where = _cell_name(index, cell)
        for key in RUN_METADATA:
            cell.get("metadata", {}).pop(key, None)
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        if BEGIN in source:
            if cell["cell_type"] == "code":
                source = strip_solutions(source, _task_label(cell), where=where)
            else:
                source = _strip_markdown(source, where)
        cell["source"] = source
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    return starter


def _read(path: Path) -> dict:
    """A notebook as a plain dict, with a clear error for a missing or broken file."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LabBuildError(f"{path}: notebook not found.") from None
    except json.JSONDecodeError as err:
        raise LabBuildError(f"{path}: not a valid notebook (JSON error: {err}).") from None


def _dumps(nb: dict) -> str:
    """Notebook JSON the way Jupyter writes it (one-space indent, trailing newline)."""
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def _normalised(nb: dict) -> dict:
    """A notebook with every cell source as one string, for comparing content only."""
    nb = copy.deepcopy(nb)
    for cell in nb.get("cells", []):
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(cell["source"])
    return nb


def build_starter(solution_path: str | Path, starter_path: str | Path) -> Path:
    """Write the starter notebook generated from the solution notebook; return its path."""
    starter = build_starter_notebook(_read(Path(solution_path)))
    starter_path = Path(starter_path)
    starter_path.parent.mkdir(parents=True, exist_ok=True)
    starter_path.write_text(_dumps(starter), encoding="utf-8")
    return starter_path


def starter_is_current(solution_path: str | Path, starter_path: str | Path) -> bool:
    """Whether the starter on disk is exactly what `build_starter` would write."""
    expected = build_starter_notebook(_read(Path(solution_path)))
    if not Path(starter_path).is_file():
        return False
    return _normalised(_read(Path(starter_path))) == _normalised(expected)


def main(argv: list[str] | None = None) -> int:
    """`python -m segcourse lab build|check`: write the starter, or test that it is current."""
    parser = argparse.ArgumentParser(
        prog="python -m segcourse lab",
        description="Generate the lab's student starter from the reference solution notebook.",
    )
    parser.add_argument("action", choices=("build", "check"), help="build: write; check: compare")
    parser.add_argument("--solution", type=Path, default=None, help=f"default: {SOLUTION}")
    parser.add_argument("--starter", type=Path, default=None, help=f"default: {STARTER}")
    args = parser.parse_args(argv)
    root = project_root()
    solution = args.solution or root / SOLUTION
    starter = args.starter or root / STARTER
    try:
        if args.action == "build":
            print(f"wrote {build_starter(solution, starter)} from {solution}")
            return 0
        if starter_is_current(solution, starter):
            print(f"{starter} is up to date with {solution}")
            return 0
    except LabBuildError as err:
        print(f"segcourse lab: {err}", file=sys.stderr)
        return 2
    print(
        f"{starter} is out of date with {solution}: run `python -m segcourse lab build`.",
        file=sys.stderr,
    )
    return 1


# --------------------------------------------------------------------------- self-checks


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
    scores = model.evaluate(val.images[:2], val.masks[:2].astype("float32"), verbose=0,
                            return_dict=True)
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
    _passed(4, f"test IoU {float(test_iou):.3f}, Dice {float(test_dice):.3f} "
               f"(best constant mask: IoU {constant:.3f}).")


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
            raise SelfCheckError(f"Task 6: composite() returned shape {out.shape}, not {image.shape}.")
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
        raise SelfCheckError("Task 6: soft_alpha() must be near 1 inside the person, near 0 far away.")
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
