"""Self-checking exercises for the lesson notebooks (`from segcourse import exercises as ex`).

Three kinds, each identified by an id such as "02.3" (notebook 2, exercise 3):

- `check(id, answer, test, hint)`: the student wrote a function or a value; `test(answer)`
  raises `Wrong("what is off")` or AssertionError when it is not right.
- `predict(id, prediction, options)` before an experiment, `reveal(id, outcome)` after it: the
  prediction is recorded first, then compared with what the notebook measured.
- `explain(id, text)`: a short free-text answer that the notebook keeps; never auto-graded.

In a starter notebook an unanswered exercise (a `...` value, or a function that still raises
NotImplementedError) prints "not answered yet" and a hint, and the notebook goes on. With
`SEGCOURSE_EXERCISES=strict` (how the solution notebooks run in CI) an unanswered or wrong
exercise raises `ExerciseError`, so a broken solution cannot pass unnoticed; with
`SEGCOURSE_EXERCISES=blank` (how CI runs the starters) `summary()` raises unless every exercise
is still unanswered, so a starter that leaks an answer cannot pass either. Answers are kept in
`<notebook>_exercises.json` in the results folder, so predictions and explanations survive.
Messages and hints are shown in the language of `segcourse.i18n` (English, or SEGCOURSE_LANG=nb).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from segcourse.i18n import N_, tr
from segcourse.i18n import gettext as _

NOT_ANSWERED = N_("not answered yet")
# The statuses summary() prints, marked for the catalogue (translated where they are shown).
STATUS_WORDS = (
    N_("unanswered"),
    N_("wrong"),
    N_("correct"),
    N_("predicted"),
    N_("right"),
    N_("missed"),
    N_("short"),
    N_("answered"),
)
STRICT_ENV = "SEGCOURSE_EXERCISES"
_STATE: dict[str, dict] = {}  # id -> {"kind", "status", ...}; the notebook kernel's record
_RECORD: list[Path | None] = [None]  # where answers are kept (set by `record_to`)


class ExerciseError(ValueError):
    """Raised in strict mode when an exercise is unanswered or wrong."""


class Wrong(AssertionError):  # noqa: N818 - reads as `raise Wrong("...")` in a check
    """Raised by a check's test to say what is off, without giving the answer away."""


def strict() -> bool:
    """Whether unanswered or wrong exercises stop the notebook (solution notebooks in CI)."""
    return os.environ.get(STRICT_ENV, "").strip().lower() == "strict"


def record_to(path: str | Path | None) -> None:
    """Keep answers in the JSON file `path` (start_run picks one per notebook); None: memory only."""
    _RECORD[0] = None if path is None else Path(path)
    _STATE.clear()
    if _RECORD[0] is not None and _RECORD[0].is_file():
        try:
            _STATE.update(json.loads(_RECORD[0].read_text(encoding="utf-8")))
        except (OSError, ValueError):
            print(tr("note: {path} could not be read; answers start afresh", path=_RECORD[0]))


def _save(exercise: str, fresh: bool = False, **entry) -> None:
    """Record one exercise's state in memory and, if set, in exercises.json.

    `fresh` forgets what was kept before (an answer taken back is not the old answer).
    """
    _STATE[exercise] = {**({} if fresh else _STATE.get(exercise, {})), **entry}
    path = _RECORD[0]
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(_STATE, indent=1, sort_keys=True), encoding="utf-8")
        tmp.replace(path)


def _say(exercise: str, text: str) -> None:
    print(tr("Exercise {exercise}: {text}", exercise=exercise, text=text))


def _hint(hint: str | None) -> str:
    """' Hint: ...' after a message, or nothing; `hint` is already in the language in use."""
    return " " + tr("Hint: {hint}", hint=hint) if hint else ""


def _unanswered(exercise: str, hint: str | None, kind: str) -> bool:
    _save(exercise, fresh=True, kind=kind, status="unanswered")
    if strict():
        raise ExerciseError(
            tr("Exercise {exercise} is not answered yet (strict mode).", exercise=exercise)
        )
    _say(exercise, _(NOT_ANSWERED) + "." + _hint(hint))
    return False


def is_blank(answer: Any) -> bool:
    """True for the starter's placeholders: `...`, None, or an empty string."""
    return answer is Ellipsis or answer is None or (isinstance(answer, str) and not answer.strip())


def check(exercise: str, answer: Any, test: Callable[[Any], Any], hint: str | None = None) -> bool:
    """Run `test(answer)`; print correct / not answered yet / what is wrong; return True if right.

    `test` should try the answer on an input the student has not seen (another size, depth or
    batch), so that hard-coding one number cannot pass. `hint` is English; it is shown
    translated when the catalogue has it.
    """
    hint = _(hint) if hint else hint
    if is_blank(answer):
        return _unanswered(exercise, hint, "check")
    try:
        test(answer)
    except NotImplementedError:
        return _unanswered(exercise, hint, "check")
    except (AssertionError, ValueError, TypeError, IndexError, KeyError) as err:
        reason = str(err).strip() or type(err).__name__
        _save(exercise, kind="check", status="wrong", reason=reason)
        if strict():
            raise ExerciseError(
                tr("Exercise {exercise} is wrong: {reason}", exercise=exercise, reason=reason)
            ) from err
        _say(exercise, tr("not right yet: {reason}", reason=reason) + _hint(hint))
        return False
    _save(exercise, kind="check", status="correct")
    _say(exercise, _("correct."))
    return True


def solved(exercise: str) -> bool:
    """Whether `check` passed for this exercise in this kernel (or in the kept record)."""
    return _STATE.get(exercise, {}).get("status") == "correct"


def use(exercise: str, answer: Any, reference: Any) -> Any:
    """The student's answer once its check passed, else the course's `reference` (with a note).

    Lets a starter notebook run on when an exercise is not done: later cells use the reference.
    """
    if solved(exercise):
        return answer
    print(
        tr(
            "(Exercise {exercise} is not solved yet: the cells below use the course's version.)",
            exercise=exercise,
        )
    )
    return reference


def predict(exercise: str, prediction: Any, options: Sequence | None = None) -> bool:
    """Record a prediction BEFORE the cell that shows the outcome; return whether one was made."""
    if is_blank(prediction):
        return _unanswered(
            exercise, _("write your prediction before running the next cells."), "predict"
        )
    if options is not None and prediction not in options:
        message = tr(
            "choose one of {options}, got {prediction!r}.",
            options=list(options),
            prediction=prediction,
        )
        if strict():
            raise ExerciseError(tr("Exercise {exercise}: {text}", exercise=exercise, text=message))
        _say(exercise, message)
        return False
    _save(exercise, kind="predict", status="predicted", prediction=_jsonable(prediction))
    _say(exercise, tr("prediction recorded: {prediction!r}.", prediction=prediction))
    return True


def reveal(
    exercise: str,
    outcome: Any,
    agrees: Callable[[Any, Any], bool] | None = None,
    why: str = "",
) -> bool | None:
    """Compare the recorded prediction with the measured `outcome`; print both and `why`.

    `agrees(prediction, outcome)` decides a match (default: equality). An outcome of an
    experiment is never strict: a wrong prediction is part of learning, not an error. `why` is
    English; it is shown translated when the catalogue has it.
    """
    why = _(why) if why else ""
    entry = _STATE.get(exercise, {})
    if entry.get("kind") != "predict" or "prediction" not in entry:
        text = tr("no prediction was recorded; the outcome is {outcome!r}.", outcome=outcome)
        _say(exercise, f"{text} {why}".strip())
        _save(exercise, kind="predict", outcome=_jsonable(outcome), status="unanswered")
        return None
    prediction = entry["prediction"]
    right = bool(agrees(prediction, outcome) if agrees else prediction == outcome)
    verdict = _("your prediction holds") if right else _("your prediction did not hold")
    _save(exercise, outcome=_jsonable(outcome), status="right" if right else "missed")
    text = tr(
        "you predicted {prediction!r}; measured {outcome!r}: {verdict}.",
        prediction=prediction,
        outcome=outcome,
        verdict=verdict,
    )
    _say(exercise, f"{text} {why}".strip())
    return right


def explain(exercise: str, text: str, min_words: int = 8) -> bool:
    """Keep a short free-text answer (not graded); ask for more when it is blank or too short."""
    if is_blank(text):
        return _unanswered(
            exercise, tr("write at least {n} words in your own words.", n=min_words), "explain"
        )
    words = len(str(text).split())
    if words < min_words:
        message = tr(
            "{words} words kept; say a little more (at least {n}).", words=words, n=min_words
        )
        _save(exercise, kind="explain", status="short", text=str(text))
        if strict():
            raise ExerciseError(tr("Exercise {exercise}: {text}", exercise=exercise, text=message))
        _say(exercise, message)
        return False
    _save(exercise, kind="explain", status="answered", text=str(text))
    _say(
        exercise,
        tr("answer kept ({words} words). Compare it with the discussion below.", words=words),
    )
    return True


def expects_blank() -> bool:
    """Whether this run is a starter checked in CI: every exercise must still be unanswered."""
    return os.environ.get(STRICT_ENV, "").strip().lower() == "blank"


def summary() -> dict[str, str]:
    """Print and return each exercise's status in this notebook run.

    In strict mode every exercise must be done; in blank mode none may be (see the module doc).
    """
    statuses = {name: entry.get("status", "?") for name, entry in sorted(_STATE.items())}
    for exercise, status in statuses.items():
        _say(exercise, _(status))
    if expects_blank():
        answered = [name for name, status in statuses.items() if status != "unanswered"]
        if answered:
            raise ExerciseError(
                tr("a starter must come unanswered, but {names} hold answers.", names=answered)
            )
    if strict():
        open_ = [name for name, status in statuses.items() if status in ("unanswered", "wrong")]
        if open_:
            raise ExerciseError(tr("exercises {names} are not done (strict mode).", names=open_))
    return statuses


def _jsonable(value: Any) -> Any:
    """A value that json can keep (numbers as floats, everything else as its repr)."""
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return repr(value)
