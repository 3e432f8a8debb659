"""nbval over the lesson notebooks: solutions run their exercises strictly, starters blank.

A solution notebook whose exercise is unanswered or wrong must fail CI, while a starter must
run to the end with every check saying "not answered yet" (`exercises.summary` raises in the
starter if any exercise holds an answer). The kernel inherits the environment when nbval
starts it (at a notebook's first cell), so the switch is set here.
"""

from __future__ import annotations

import os

import pytest

STRICT = "SEGCOURSE_EXERCISES"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Strict exercises for notebooks under a `solutions` folder, blank ones for starters."""
    os.environ[STRICT] = "strict" if "solutions" in item.path.parts else "blank"
