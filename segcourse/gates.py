"""The did-it-learn gate for any score: fail a notebook (and CI) whose model does not clearly
beat a baseline that needs no learning (a constant class, a mean pose).

`results.check_learned` is the same gate for the binary lessons' Dice; this one names its
metric and baseline, so the multi-class and pose notebooks say what they compare. The
notebooks pass `what`, `metric` and `baseline` already translated (`segcourse.i18n.tr`).
"""

from __future__ import annotations

from segcourse.i18n import tr
from segcourse.profiles import smoke_run


def check_beats(
    what: str, score: float, floor: float, *, metric: str, baseline: str, margin: float = 0.1
) -> None:
    """Raise AssertionError unless `score` > `floor` + `margin`; print the comparison.

    Under the test suite's smoke profile (one epoch) it reports the score without judging it.
    """
    if smoke_run():
        print(
            tr(
                "{what}: test {metric} {score:.3f}, {baseline} {floor:.3f} after a smoke run "
                "(one epoch); whether the notebook learns is checked by its run in the ci "
                "profile, not here.",
                what=what,
                metric=metric,
                score=score,
                baseline=baseline,
                floor=floor,
            )
        )
        return
    if not score > floor + margin:
        raise AssertionError(
            tr(
                "{what}: test {metric} {score:.3f}, {baseline} {floor:.3f}: not clearly above "
                "the {baseline} (+ {margin}); the model, its loss or the data pipeline is broken.",
                what=what,
                metric=metric,
                score=score,
                baseline=baseline,
                floor=floor,
                margin=margin,
            )
        )
    print(
        tr(
            "{what}: test {metric} {score:.3f}, {baseline} {floor:.3f}: above it by more than "
            "{margin}.",
            what=what,
            metric=metric,
            score=score,
            baseline=baseline,
            floor=floor,
            margin=margin,
        )
    )
