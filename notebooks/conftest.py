"""nbval over the lesson notebooks: solution notebooks run their exercises in strict mode.

A solution notebook whose exercise is unanswered or wrong must fail CI, while a starter must
run to the end with every check saying "not answered yet". The kernel inherits the
environment when nbval starts it (at a notebook's first cell), so the switch is set here.
"""

from __future__ import annotations

import os

import pytest

STRICT = "SEGCOURSE_EXERCISES"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Strict exercises for notebooks under a `solutions` folder, plain ones for starters."""
    if "solutions" in item.path.parts:
        os.environ[STRICT] = "strict"
    else:
        os.environ.pop(STRICT, None)
