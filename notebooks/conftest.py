"""nbval over the lesson notebooks: solutions run their exercises strictly, starters blank.

A solution notebook whose exercise is unanswered or wrong must fail CI, while a starter must
run to the end with every check saying "not answered yet" (`exercises.summary` raises in the
starter if any exercise holds an answer). Starters run in the smoke profile (one epoch of
tiny models): outside its exercises a starter's code is its solution's (`starters check`
fails otherwise), and the solution's run in the suite's own profile shows that it learns.
The kernel inherits the environment when nbval starts it (at a notebook's first cell), so
the switches are set here, per notebook.
"""

from __future__ import annotations

import os

import pytest

from segcourse.profiles import SMOKE

STRICT = "SEGCOURSE_EXERCISES"
PROFILE = "SEGCOURSE_PROFILE"
SUITE_PROFILE = os.environ.get(PROFILE)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Strict exercises for notebooks under a `solutions` folder, blank smoke runs for starters."""
    solution = "solutions" in item.path.parts
    os.environ[STRICT] = "strict" if solution else "blank"
    if solution and SUITE_PROFILE is not None:
        os.environ[PROFILE] = SUITE_PROFILE
    elif solution:
        os.environ.pop(PROFILE, None)
    else:
        os.environ[PROFILE] = SMOKE


def pytest_sessionfinish(session):
    """Leave the environment as the suite found it."""
    if SUITE_PROFILE is None:
        os.environ.pop(PROFILE, None)
    else:
        os.environ[PROFILE] = SUITE_PROFILE
