"""The lab's rubric (`lab/rubric.toml`): reading and checking it, the notebook parameters it
injects, and turning one submission's checks into its points.

Points that need no learning are capped: a model whose hidden-data IoU is not above the best
constant mask's (plus the rubric's margin) earns no IoU points, and every other item at most
its `points_without_learning`, so running a notebook that saves an all-person mask with
made-up claims is worth little (the `[learning]` table of the rubric says how much)."""

from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .statuses import GradingError

SECTIONS = ("run", "model", "results", "composite")
LABELS = {
    "run": "runs without errors",
    "model": "model saved, safe, right shapes",
    "results": "held-out Dice and IoU reported",
    "composite": "compositing figure saved",
}
_ITEM_KEYS = {"points", "points_without_learning", "description"}
ALLOWED = {
    "": {"notebook", "profile", "learning", "parameters", "iou", *SECTIONS},
    "learning": {"margin", "max_points_without_learning"},
    "run": _ITEM_KEYS,
    "model": _ITEM_KEYS | {"file"},
    "results": _ITEM_KEYS | {"file", "iou_keys", "dice_keys", "ranges", "recompute"},
    "results.recompute": {"val", "test", "by", "seed_parameter", "tolerance", "on_mismatch"},
    "composite": _ITEM_KEYS | {"file", "formats"},
    "iou": {"at_least", "points"},
    "parameters": {"always", "profile"},
}
SPLIT_BY = ("frame", "sequence")
ON_MISMATCH = ("flag", "no_points")


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

    @property
    def points_without_learning(self) -> float:
        """The most a submission whose model did not learn can score."""
        return sum(self.data[s]["points_without_learning"] for s in SECTIONS)

    def section(self, name: str) -> dict:
        return self.data[name]

    @property
    def recompute(self) -> dict | None:
        """`[results.recompute]` with the split seed filled in, or None when absent."""
        table = self.data["results"].get("recompute")
        if table is None:
            return None
        return {**table, "seed": self.data["parameters"]["always"][table["seed_parameter"]]}


# ------------------------------------------------------------------------------ reading


def load_rubric(path: str | os.PathLike | None = None) -> Rubric:
    """Read and check the rubric (default `lab/rubric.toml`); a GradingError names the file,
    the table and the key of the first problem."""
    path = Path(path) if path else default_rubric_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GradingError(f"{path}: rubric not found (pass --rubric PATH).") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise GradingError(f"{path}: not valid TOML: {exc}") from None
    _Checker(path).check(data)
    return Rubric(path, data)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class _Checker:
    """The checks of `load_rubric`; each failure is a GradingError naming the file."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, text: str):
        raise GradingError(f"{self.path}: {text} (see the comments in lab/rubric.toml).")

    def keys(self, table, where: str) -> dict:
        label = f"[{where}]" if where else "the top level"
        if not isinstance(table, dict):
            self.fail(f"{label} must be a table")
        unknown = sorted(set(table) - ALLOWED[where])
        if unknown:
            self.fail(f"{label} has unknown key(s) {', '.join(unknown)}; known: "
                      f"{', '.join(sorted(ALLOWED[where]))}")  # fmt: skip
        return table

    def number(self, table: dict, key: str, where: str, low=0.0, high=math.inf) -> float:
        value = table.get(key)
        if not _is_number(value) or not low <= value <= high:
            span = f"in [{low:g}, {high:g}]" if high < math.inf else f"at least {low:g}"
            self.fail(f"[{where}] needs `{key}`, a number {span} (found {value!r})")
        return value

    def check(self, data: dict) -> None:
        self.keys(data, "")
        for key in ("notebook", "profile"):
            if key in data and not isinstance(data[key], str):
                self.fail(f"`{key}` must be a string")
        data.setdefault("notebook", "body_segmentation.ipynb")
        data.setdefault("profile", "cpu")
        for name in SECTIONS:
            table = self.keys(data.get(name, {}), name)
            points = self.number(table, "points", name)
            self.number(table, "points_without_learning", name, high=points)
            if "description" in table and not isinstance(table["description"], str):
                self.fail(f"[{name}] `description` must be a string")
        for key in ("model", "results", "composite"):
            if not isinstance(data[key].get("file"), str) or not data[key]["file"]:
                self.fail(f"[{key}] needs a `file` name")
        self.learning(data)
        self.thresholds(data.get("iou"))
        self.parameters(data)
        self.results(data)
        self.formats(data["composite"])

    def learning(self, data: dict) -> None:
        table = self.keys(data.get("learning", {}), "learning")
        self.number(table, "margin", "learning", high=1.0)
        cap = self.number(table, "max_points_without_learning", "learning")
        total = sum(data[s]["points_without_learning"] for s in SECTIONS)
        if total > cap:
            parts = ", ".join(f"[{s}] {data[s]['points_without_learning']:g}" for s in SECTIONS)
            self.fail(f"the points_without_learning add up to {total:g} ({parts}), more than "
                      f"[learning] max_points_without_learning = {cap:g}; lower them")  # fmt: skip

    def thresholds(self, thresholds) -> None:
        if not isinstance(thresholds, list) or not thresholds:
            self.fail("needs [[iou]] tables with `at_least` and `points`")
        for t in thresholds:
            self.keys(t, "iou")
            self.number(t, "at_least", "[iou]", high=1.0)
            self.number(t, "points", "[iou]")

    def parameters(self, data: dict) -> None:
        table = self.keys(data.setdefault("parameters", {}), "parameters")
        for key in ("always", "profile"):
            values = table.setdefault(key, {})
            if not isinstance(values, dict):
                self.fail(f"[parameters.{key}] must be a table of NAME = value")
            bad = [n for n in values if not n.isidentifier()]
            if bad:
                self.fail(f"[parameters.{key}] names must be Python names, not {bad[0]!r}")

    def results(self, data: dict) -> None:
        results = data["results"]
        for key in ("iou_keys", "dice_keys"):
            keys = results.setdefault(key, [key[: -len("_keys")]])
            if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
                self.fail(f"[results] `{key}` must be a non-empty list of key names")
        ranges = results.setdefault("ranges", {})
        if not isinstance(ranges, dict):
            self.fail("[results.ranges] must be a table of KEY = [low, high]")
        for key, span in ranges.items():
            ok = isinstance(span, list) and len(span) == 2
            ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) for v in span)
            if not ok or not span[0] <= span[1]:
                self.fail(f"[results.ranges] `{key}` must be [low, high] with low <= high, "
                          f"not {span!r}")  # fmt: skip
        if "recompute" not in results:
            return
        where = "results.recompute"
        table = self.keys(results["recompute"], where)
        self.number(table, "val", where, high=0.99)
        self.number(table, "test", where, high=0.99)
        self.number(table, "tolerance", where, high=1.0)
        if table.get("by") not in SPLIT_BY:
            self.fail(
                f"[{where}] `by` must be one of {', '.join(SPLIT_BY)}, not {table.get('by')!r}"
            )
        if table.get("on_mismatch") not in ON_MISMATCH:
            self.fail(f"[{where}] `on_mismatch` must be one of {', '.join(ON_MISMATCH)}, "
                      f"not {table.get('on_mismatch')!r}")  # fmt: skip
        name = table.get("seed_parameter")
        seed = data["parameters"]["always"].get(name) if isinstance(name, str) else None
        if not isinstance(seed, int) or isinstance(seed, bool):
            self.fail(f"[{where}] `seed_parameter` must name an integer that [parameters.always] "
                      f"injects (found {name!r} = {seed!r}), so the grader splits with the "
                      "notebook's seed")  # fmt: skip

    def formats(self, composite: dict) -> None:
        from PIL import Image

        Image.init()
        formats = composite.setdefault("formats", ["PNG"])
        if not isinstance(formats, list) or not formats:
            self.fail("[composite] `formats` must be a non-empty list of image formats")
        unknown = [f for f in formats if not isinstance(f, str) or f.upper() not in Image.OPEN]
        if unknown:
            self.fail(f"[composite] `formats` holds {unknown[0]!r}, not a format Pillow reads "
                      f"(e.g. {', '.join(sorted(Image.OPEN)[:6])})")  # fmt: skip


# ------------------------------------------------------------------------------ parameters


def parameter_values(rubric: Rubric, profile, use_profile: bool, workdir: str,
                     train_data: str | None = None) -> dict:  # fmt: skip
    """The values to inject: the rubric's `always` ones, plus its `profile` ones if asked;
    `train_data` is the folder of the training frames as the notebook sees it."""
    tables = [rubric.data["parameters"]["always"]]
    if use_profile:
        tables.append(rubric.data["parameters"]["profile"])
    values = {}
    for table in tables:
        for name, value in table.items():
            values[name] = _expand(value, profile, workdir, train_data, rubric.path)
    return values


def _expand(value, profile, workdir: str, train_data: str | None, where: Path):
    if not isinstance(value, str):
        return value
    if value == "{none}":
        return None
    if value == "{train_data}":
        return train_data
    match = re.fullmatch(r"\{profile\.(\w+)\}", value)
    if match:
        if not hasattr(profile, match[1]):
            raise GradingError(f"{where}: profiles have no field {match[1]!r}.")
        return getattr(profile, match[1])
    return value.replace("{workdir}", workdir)


# ------------------------------------------------------------------------------ points


def learning(rubric: Rubric, iou: float | None, baseline: float | None) -> tuple[bool, str]:
    """Whether the model learned (hidden IoU above the best constant mask's plus the margin),
    and a sentence that says why or why not."""
    margin = rubric.data["learning"]["margin"]
    if iou is None:
        return False, "no usable model, so nothing learned"
    if baseline is None:
        return False, "the evaluation gave no constant-mask baseline"
    bar = f"the best constant mask's {baseline:.4f}" + (f" + {margin:g}" if margin else "")
    if iou > baseline + margin:
        return True, f"hidden IoU {iou:.4f} is above {bar}"
    return False, f"the model did not learn: hidden IoU {iou:.4f} is not above {bar}"


def claim_check(rubric: Rubric, claims, evaluation: dict) -> tuple[bool, str, str | None]:
    """The results item: (passed, note, flag). `claims` is a `handin.Claims` (or None when not
    checked); `flag` is the mismatch between the claimed and the recomputed test IoU, if any."""
    if claims is None:
        return False, "not checked", None
    if claims.problems:
        return False, "; ".join(claims.problems), None
    note = f"claims test IoU {claims.iou:.4f} and Dice {claims.dice:.4f}"
    recompute = rubric.recompute
    recomputed = evaluation.get("recomputed_iou")
    if recompute is None:
        return True, note, None
    if recomputed is None:
        skipped = evaluation.get("recompute_skipped") or "the model was not evaluated"
        return True, f"{note} (not recomputed: {skipped})", None
    gap = abs(claims.iou - recomputed)
    where = f"{evaluation.get('recomputed_frames', '?')} frames of the notebook's own test split"
    if gap <= recompute["tolerance"]:
        return True, f"{note}; the grader recomputed IoU {recomputed:.4f} on {where}", None
    flag = (f"claimed test IoU {claims.iou:.4f} does not match the {recomputed:.4f} the grader "
            f"recomputed on {where} (off by {gap:.4f}, more than {recompute['tolerance']:g})")  # fmt: skip
    return recompute["on_mismatch"] != "no_points", f"{note}; {flag}", flag


def score_items(outcome, rubric: Rubric, checks: dict) -> None:
    """Turn the checks into the outcome's rubric items and score: "run", "model" and
    "composite" are (passed, note), "claims" a `handin.Claims`, "evaluation" the evaluation's
    result (hidden IoU, constant-mask baseline, recomputed test IoU)."""
    evaluation = checks.get("evaluation") or {}
    learned, why = learning(rubric, outcome.iou, evaluation.get("baseline_iou"))
    items = []

    def add(name: str, passed: bool, note: str) -> None:
        table = rubric.section(name)
        points, capped = table["points"], table["points_without_learning"]
        earned = 0 if not passed else points if learned else min(points, capped)
        if passed and earned < points:
            note = f"{note} ({why}: {earned:g} of {points:g})"
        items.append((table.get("description", LABELS[name]), points, earned, note))

    first_failure = "not checked: " + (outcome.failures[:1] or ["-"])[0]
    for name in ("run", "model"):
        add(name, *checks.get(name, (False, first_failure)))
    baseline = evaluation.get("baseline_iou")
    for t in sorted(rubric.data["iou"], key=lambda t: t["at_least"]):
        reached = learned and outcome.iou >= t["at_least"]
        note = "no IoU (no usable model)" if outcome.iou is None else f"IoU {outcome.iou:.4f}"
        if baseline is not None:
            note += f" (best constant mask {baseline:.4f})"
        if outcome.iou is not None and outcome.iou >= t["at_least"] and not learned:
            note += f": {why}"
        items.append((f"hidden-data IoU >= {t['at_least']:.2f}", t["points"],
                      t["points"] if reached else 0, note))  # fmt: skip
    passed, note, flag = claim_check(rubric, checks.get("claims"), evaluation)
    add("results", passed, note)
    if "claims" in checks and (flag or not passed):
        outcome.failures.append(flag or note)  # each problem names the file
    passed, note = checks.get("composite", (False, "not checked"))
    add("composite", passed, note)
    if not passed and "composite" in checks:
        outcome.failures.append(note)
    if outcome.iou is not None and not learned:
        outcome.failures.append(f"{why} (at most {rubric.points_without_learning:g} points)")
    outcome.items = items
    outcome.score = sum(earned for _, _, earned, _ in items)
