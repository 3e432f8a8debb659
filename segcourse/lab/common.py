"""What the lab's self-checks share: the error they raise, and how they find the student's
variables, call the student's functions and report a pass."""

from __future__ import annotations

from segcourse.i18n import tr

HAND_IN = ("model.keras", "results.json", "composite.png")


class SelfCheckError(ValueError):
    """A self-check found a problem in the student's answer; the message says what to fix."""


def need(ns: dict, name: str, task: int, what: str):
    """The notebook variable `name`, or a SelfCheckError saying which task defines it."""
    if name not in ns or ns[name] is None or ns[name] is Ellipsis:
        raise SelfCheckError(
            tr(
                "Task {task} is not done yet: there is no `{name}` ({what}). Write the code in "
                "the Task {task} cell above and run it; until then that cell stops with "
                "NotImplementedError.",
                task=task,
                name=name,
                what=tr(what),
            )
        )
    return ns[name]


def call(task: int, function, *args, **kwargs):
    """Call a student function, turning NotImplementedError into a clear SelfCheckError."""
    try:
        return function(*args, **kwargs)
    except NotImplementedError as err:
        raise SelfCheckError(
            tr(
                "Task {task} is not done yet: {function}() still raises NotImplementedError "
                "({error}). Replace the `raise` line with your code.",
                task=task,
                function=getattr(function, "__name__", None) or tr("the function"),
                error=err,
            )
        ) from None


def passed(task: int, text: str) -> None:
    """Say that the self-check of `task` passed, and what it found."""
    print(tr("Task {task} self-check passed: {text}", task=task, text=text))
