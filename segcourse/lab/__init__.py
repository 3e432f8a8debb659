"""The self-checks of the MADS lab notebook (`from segcourse import lab`; `lab.check_model(globals())`).

Each `check_*` reads the student's variables from the notebook namespace and stops with a
`SelfCheckError` that says what is wrong and what to do, in the notebook's language (its
LANGUAGE parameter, else $SEGCOURSE_LANG; see `segcourse.i18n`). Lesson-side code: it never
imports the grader, and it imports Keras only when a check is called. `model_checks` holds the
checks of Tasks 1-3 (the model, its loss, its training), `result_checks` those of Tasks 4-6 and
the last cell (the scores, the hand-in files, the compositing), `common` what they share.
"""

from segcourse.lab.common import HAND_IN, SelfCheckError
from segcourse.lab.model_checks import check_compiled, check_model, check_training, overfit_check
from segcourse.lab.result_checks import (
    check_compositing,
    check_evaluation,
    check_result,
    check_submission,
)

__all__ = [
    "HAND_IN",
    "SelfCheckError",
    "check_compiled",
    "check_compositing",
    "check_evaluation",
    "check_model",
    "check_result",
    "check_submission",
    "check_training",
    "overfit_check",
]
