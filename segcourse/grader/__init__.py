"""The instructor side of the course: `python -m segcourse grade` (grade lab notebooks in a
bubblewrap sandbox, score them on hidden data) and `python -m segcourse lab` (build the starter).

Each submission is copied to a temporary folder (`submissions`), its notebook is re-run there
with the rubric's parameters injected (`batch`) inside the sandbox (`sandbox` launches
`worker`), and the `model.keras` it saves is scored on the hidden frames by a second sandboxed
worker that loads it with `safe_mode=True`; the hidden data never enters the notebook's
sandbox. Points follow `lab/rubric.toml` (`rubric`); OUT receives `grades.csv`,
`feedback/STUDENT.html`, `summary.md` and `score_distribution.png` (`reports`). Every failure
becomes a status and a reason in the CSV (`statuses`); re-running skips students already in it.

What the notebook prints, and its `results.json` and `composite.png`, are the notebook's own
claims (student code can write anything there); only the hidden-data IoU is computed out of its
reach. Model outputs are read as logits (mask = logit > 0), or as probabilities (mask = p > 0.5)
when the model's last layer ends in a sigmoid.
"""

from .batch import Settings, grade, grade_one, inject_parameters, merge
from .cli import build_parser, main
from .reports import CSV_COLUMNS, Outcome, read_grades, write_feedback, write_grades
from .rubric import Rubric, default_rubric_path, load_rubric
from .statuses import STATUSES, GradingError, Problem
from .submissions import (
    Submission,
    find_submissions,
    parse_shard,
    pick_notebook,
    read_notebook,
    shard_of,
    unpack,
)

__all__ = [
    "CSV_COLUMNS", "STATUSES", "GradingError", "Outcome", "Problem", "Rubric", "Settings",
    "Submission", "build_parser", "default_rubric_path", "find_submissions", "grade",
    "grade_one", "inject_parameters", "load_rubric", "main", "merge", "parse_shard",
    "pick_notebook", "read_grades", "read_notebook", "shard_of", "unpack", "write_feedback",
    "write_grades",
]  # fmt: skip
