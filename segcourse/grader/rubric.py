"""The lab's rubric (`lab/rubric.toml`): reading and checking it, the notebook parameters it
injects, and turning one submission's checks into its points."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .statuses import GradingError

SECTIONS = ("run", "model", "results", "composite")


def default_rubric_path() -> Path:
    """`lab/rubric.toml` of the course checkout."""
    from segcourse.paths import project_root

    return project_root() / "lab" / "rubric.toml"


@dataclass
class Rubric:
    """The points of the lab, as read from the rubric TOML file."""

    path: Path
    data: dict

    @property
    def max_score(self) -> float:
        return sum(self.data[s]["points"] for s in SECTIONS) + sum(
            t["points"] for t in self.data["iou"]
        )

    def section(self, name: str) -> dict:
        return self.data[name]


def load_rubric(path: str | os.PathLike | None = None) -> Rubric:
    """Read and check the rubric (default `lab/rubric.toml`)."""
    path = Path(path) if path else default_rubric_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GradingError(f"{path}: rubric not found (pass --rubric PATH).") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise GradingError(f"{path}: not valid TOML: {exc}") from None
    for name in SECTIONS:
        points = data.get(name, {}).get("points")
        if not isinstance(points, int | float) or points < 0:
            raise GradingError(f"{path}: [{name}] needs a non-negative `points` number.")
    for key in ("model", "results", "composite"):
        if not isinstance(data[key].get("file"), str):
            raise GradingError(f"{path}: [{key}] needs a `file` name.")
    thresholds = data.get("iou")
    if not isinstance(thresholds, list) or not thresholds:
        raise GradingError(f"{path}: needs [[iou]] tables with `at_least` and `points`.")
    for t in thresholds:
        if not isinstance(t.get("at_least"), int | float) or not isinstance(
            t.get("points"), int | float
        ):
            raise GradingError(f"{path}: every [[iou]] needs numbers `at_least` and `points`.")
    data.setdefault("parameters", {}).setdefault("always", {})
    data["parameters"].setdefault("profile", {})
    data.setdefault("notebook", "body_segmentation.ipynb")
    data.setdefault("profile", "cpu")
    return Rubric(path, data)


# ------------------------------------------------------------------------------ parameters


def parameter_values(rubric: Rubric, profile, use_profile: bool, workdir: str) -> dict:
    """The values to inject: the rubric's `always` ones, plus its `profile` ones if asked."""
    tables = [rubric.data["parameters"]["always"]]
    if use_profile:
        tables.append(rubric.data["parameters"]["profile"])
    values = {}
    for table in tables:
        for name, value in table.items():
            values[name] = _expand(value, profile, workdir, rubric.path)
    return values


def _expand(value, profile, workdir: str, where: Path):
    if not isinstance(value, str):
        return value
    if value == "{none}":
        return None
    match = re.fullmatch(r"\{profile\.(\w+)\}", value)
    if match:
        if not hasattr(profile, match[1]):
            raise GradingError(f"{where}: profiles have no field {match[1]!r}.")
        return getattr(profile, match[1])
    return value.replace("{workdir}", workdir)


# ------------------------------------------------------------------------------ points


def score_items(outcome, rubric: Rubric, checks: dict) -> None:
    """Turn the checks (name -> (passed, note)) into the outcome's rubric items and score."""
    items = []
    for name, label in (
        ("run", "runs without errors"),
        ("model", "model saved, safe, right shapes"),
    ):
        passed, note = checks.get(
            name, (False, "not checked: " + (outcome.failures[:1] or ["-"])[0])
        )
        points = rubric.section(name)["points"]
        items.append((label, points, points if passed else 0, note))
    for t in sorted(rubric.data["iou"], key=lambda t: t["at_least"]):
        reached = outcome.iou is not None and outcome.iou >= t["at_least"]
        note = "no IoU (no usable model)" if outcome.iou is None else f"IoU {outcome.iou:.4f}"
        items.append(
            (
                f"hidden-data IoU >= {t['at_least']:.2f}",
                t["points"],
                t["points"] if reached else 0,
                note,
            )
        )
    for name, label in (
        ("results", "held-out Dice and IoU reported"),
        ("composite", "compositing figure saved"),
    ):
        passed, note = checks.get(name, (False, "not checked"))
        points = rubric.section(name)["points"]
        items.append((label, points, points if passed else 0, note))
        if not passed and name in checks:
            outcome.failures.append(note)
    outcome.items = items
    outcome.score = sum(earned for _, _, earned, _ in items)
