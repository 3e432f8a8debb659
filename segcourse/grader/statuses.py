"""What can become of a submission: the statuses of grades.csv and the two grader exceptions.

Every other grader module imports these, so they sit at the bottom of the import graph.
"""

from __future__ import annotations

STATUSES = {
    "ok": "graded; see the points for what was missing",
    "timeout": "the notebook ran past the time limit",
    "memory": "the notebook ran out of memory",
    "disk": "the notebook filled its size-limited work area (or a file grew past its cap)",
    "kernel_died": "the kernel died (a crash, an exit or a kill)",
    "cell_error": "a cell raised an error",
    "not_run": "the submitted notebook holds no outputs (it was not run)",
    "no_model": "no model.keras was saved",
    "model_unsafe": "model.keras needs code to load (a Lambda layer or custom objects)",
    "model_invalid": "model.keras could not be read",
    "wrong_shape": "the model's input or output shape is not the lab's",
    "too_costly": "the model needs more multiply-adds per pixel than the grader allows",
    "eval_error": "the model could not be evaluated",
    "invalid_notebook": "the notebook is not a valid .ipynb file",
    "no_notebook": "no notebook to grade was found",
    "unsafe_zip": "the zip holds paths outside itself, links or too much data",
    "invalid_submission": "the submission could not be read",
    "grader_error": "the grader failed on this submission (please report it)",
    "worker_died": "the cluster worker grading it died twice (a crash or out of memory)",
    "skipped": "not graded: the entry is hidden (its name starts with '.')",
}


class GradingError(ValueError):
    """Bad grader input (rubric, folders, options): a message naming the file and the problem."""


class Problem(Exception):
    """A submission problem that ends its grading early: a status and a reason."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason
