"""`python -m segcourse grade`: grade lab notebooks in a sandbox and score them on hidden data.

    python -m segcourse grade SUBMISSIONS --hidden HIDDEN --out OUT [--execute | --no-execute]
        [--timeout S] [--memory GB] [--jobs N] [--shard I/N] [--profile P] [--no-sandbox]
    python -m segcourse grade --merge OUT1 OUT2 ... [--out OUT]

Each entry of SUBMISSIONS (a folder, a .zip of one, or a bare .ipynb; its name is the student
id) is copied to a temporary folder, its notebook is re-run there with nbclient inside a
bubblewrap sandbox (`segcourse.sandbox`), and the `model.keras` it saves is then scored on the
hidden frames by a second sandboxed process that loads it with `safe_mode=True`. The hidden
data never enters the notebook's sandbox. Points follow `lab/rubric.toml`. OUT receives
`grades.csv`, `feedback/STUDENT.html` (the executed notebook with the score breakdown),
`summary.md` and `score_distribution.png`. Every failure becomes a status and a reason in the
CSV; re-running skips students already in it.

What the notebook prints, and its `results.json` and `composite.png`, are the notebook's own
claims (student code can write anything there); only the hidden-data IoU is computed out of its
reach. Model outputs are read as logits (mask = logit > 0), or as probabilities (mask = p > 0.5)
when the model's last layer ends in a sigmoid.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import html
import json
import math
import os
import re
import shutil
import stat
import sys
import tempfile
import threading
import time
import tomllib
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from . import sandbox as sb

CSV_COLUMNS = ["student", "status", "score", "max_score", "iou", "dice", "seconds", "reason"]
STATUSES = {
    "ok": "graded; see the points for what was missing",
    "timeout": "the notebook ran past the time limit",
    "memory": "the notebook ran out of memory",
    "kernel_died": "the kernel died (a crash, an exit or a kill)",
    "cell_error": "a cell raised an error",
    "not_run": "the submitted notebook holds no outputs (it was not run)",
    "no_model": "no model.keras was saved",
    "model_unsafe": "model.keras needs code to load (a Lambda layer or custom objects)",
    "model_invalid": "model.keras could not be read",
    "wrong_shape": "the model's input or output shape is not the lab's",
    "eval_error": "the model could not be evaluated",
    "invalid_notebook": "the notebook is not a valid .ipynb file",
    "no_notebook": "no notebook to grade was found",
    "unsafe_zip": "the zip holds paths outside itself, links or too much data",
    "invalid_submission": "the submission could not be read",
    "grader_error": "the grader failed on this submission (please report it)",
}
MAX_SUBMISSION_MB = 300  # uncompressed size of one submission
MAX_MEMBERS = 5000  # files in one zip or folder
MAX_NOTEBOOK_MB = 20
MAX_RESULTS_KB = 1024
MAX_IMAGE_PIXELS = 50_000_000
MAX_MODEL_MB = 500
RUN_GRACE_S = 90  # kernel start-up and saving, on top of --timeout
EVAL_TIMEOUT_S = 900


class GradingError(ValueError):
    """Bad grader input (rubric, folders, options): a message naming the file and the problem."""


class Problem(Exception):
    """A submission problem that ends its grading early: a status and a reason."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


# ------------------------------------------------------------------------------ rubric


def default_rubric_path() -> Path:
    """`lab/rubric.toml` of the course checkout."""
    from .paths import project_root

    return project_root() / "lab" / "rubric.toml"


@dataclass
class Rubric:
    """The points of the lab, as read from the rubric TOML file."""

    path: Path
    data: dict

    @property
    def max_score(self) -> float:
        sections = ("run", "model", "results", "composite")
        return sum(self.data[s]["points"] for s in sections) + sum(
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
    for name in ("run", "model", "results", "composite"):
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


# ------------------------------------------------------------------------------ submissions


@dataclass(frozen=True)
class Submission:
    """One entry of the submissions folder."""

    student: str
    path: Path

    @property
    def safe_name(self) -> str:
        """The student id made safe as a file name."""
        name = re.sub(r"[^A-Za-z0-9._-]", "_", self.student).lstrip(".") or "student"
        if name != self.student:
            name += "-" + hashlib.sha256(self.student.encode()).hexdigest()[:6]
        return name


def find_submissions(folder: str | os.PathLike) -> list[Submission]:
    """Every entry of SUBMISSIONS, sorted by student id (hidden files are skipped)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GradingError(f"{folder}: the submissions folder does not exist.")
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    subs = [Submission(_student_id(p), p) for p in entries]
    seen: dict[str, Path] = {}
    for sub in subs:
        if sub.student in seen:
            raise GradingError(
                f"{folder}: {seen[sub.student].name} and {sub.path.name} are both student "
                f"{sub.student!r}; keep one."
            )
        seen[sub.student] = sub.path
    return subs


def _student_id(path: Path) -> str:
    if path.is_dir() or path.is_symlink():
        return path.name
    return path.stem if path.suffix.lower() in (".zip", ".ipynb") else path.name


def shard_of(student: str, n: int) -> int:
    """The shard (1..n) of a student: a stable hash, so new students never move the others."""
    return int(hashlib.sha256(student.encode()).hexdigest(), 16) % n + 1


def parse_shard(text: str) -> tuple[int, int]:
    """'I/N' -> (I, N) with 1 <= I <= N."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise GradingError(f"--shard {text!r}: expected I/N with 1 <= I <= N, e.g. 2/4.")
    return int(match[1]), int(match[2])


def unpack(sub: Submission, dest: Path) -> Path:
    """Copy (or safely extract) a submission into `dest`; return the folder that holds it."""
    dest.mkdir(parents=True, exist_ok=True)
    path = sub.path
    if path.is_symlink():
        raise Problem("invalid_submission", f"{path.name} is a symbolic link; hand in the files.")
    if path.is_dir():
        _copy_folder(path, dest)
        return dest
    suffix = path.suffix.lower()
    if suffix == ".ipynb":
        _check_size(path.stat().st_size, path.name)
        shutil.copyfile(path, dest / path.name)
        return dest
    if suffix == ".zip":
        _extract_zip(path, dest)
        inner = [p for p in dest.iterdir() if p.name != "__MACOSX"]
        if len(inner) == 1 and inner[0].is_dir():
            return inner[0]
        return dest
    raise Problem("no_notebook", f"{path.name} is not a folder, a .zip or a .ipynb file.")


def _check_size(total: int, where: str) -> None:
    if total > MAX_SUBMISSION_MB * 2**20:
        raise Problem(
            "invalid_submission", f"{where} holds over {MAX_SUBMISSION_MB} MB; hand in less."
        )


def _copy_folder(src: Path, dest: Path) -> None:
    """Copy regular files and folders; symbolic links and special files are left out."""
    total, count = 0, 0
    for folder, dirs, files in os.walk(src):  # os.walk does not follow links to folders
        rel = Path(folder).relative_to(src)
        (dest / rel).mkdir(parents=True, exist_ok=True)
        dirs[:] = [d for d in dirs if not (Path(folder) / d).is_symlink()]
        for name in files:
            item = Path(folder) / name
            info = item.lstat()
            if not stat.S_ISREG(info.st_mode):
                continue
            total, count = total + info.st_size, count + 1
            _check_size(total, src.name)
            if count > MAX_MEMBERS:
                raise Problem("invalid_submission", f"{src.name} holds over {MAX_MEMBERS} files.")
            shutil.copyfile(item, dest / rel / name, follow_symlinks=False)


def _extract_zip(path: Path, dest: Path) -> None:
    """Extract a zip after checking every member: no absolute or escaping paths, no links,
    bounded size (counted while extracting, since headers can lie)."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise Problem("invalid_submission", f"{path.name} is not a readable zip: {exc}") from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise Problem("unsafe_zip", f"{path.name} holds {len(members)} members (over {MAX_MEMBERS}).")
        for info in members:
            name = info.filename.replace("\\", "/")
            parts = [p for p in name.split("/") if p not in ("", ".")]
            if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts:
                raise Problem("unsafe_zip", f"{path.name}: member {info.filename!r} points outside the archive.")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise Problem("unsafe_zip", f"{path.name}: member {info.filename!r} is a symbolic link.")
        _check_size(sum(i.file_size for i in members), path.name)
        budget = MAX_SUBMISSION_MB * 2**20
        for info in members:
            parts = [p for p in info.filename.replace("\\", "/").split("/") if p not in ("", ".")]
            if not parts or parts[0] == "__MACOSX":
                continue
            target = dest.joinpath(*parts)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(info) as src, open(target, "wb") as out:
                    for chunk in iter(lambda: src.read(2**20), b""):
                        budget -= len(chunk)
                        if budget < 0:
                            raise Problem("unsafe_zip", f"{path.name} unpacks to over {MAX_SUBMISSION_MB} MB.")
                        out.write(chunk)
            except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as exc:  # RuntimeError: encrypted
                raise Problem("invalid_submission", f"{path.name}: cannot extract {info.filename!r}: {exc}") from None


def pick_notebook(root: Path, preferred: str) -> Path:
    """The notebook to grade: the only one, or the one called `preferred`."""
    found = sorted(p for p in root.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
                   and "__MACOSX" not in p.parts and p.is_file() and not p.is_symlink())  # fmt: skip
    if not found:
        raise Problem("no_notebook", "no .ipynb notebook in the submission.")
    if len(found) == 1:
        return found[0]
    named = [p for p in found if p.name == preferred]
    if len(named) == 1:
        return named[0]
    names = ", ".join(str(p.relative_to(root)) for p in found[:6])
    raise Problem("no_notebook", f"{len(found)} notebooks ({names}) and not exactly one named {preferred}; hand in one.")


def read_notebook(path: Path):
    """Read and validate a notebook (nbformat 4); Problem('invalid_notebook') if it is not one."""
    import nbformat

    if path.stat().st_size > MAX_NOTEBOOK_MB * 2**20:
        raise Problem("invalid_notebook", f"{path.name} is over {MAX_NOTEBOOK_MB} MB.")
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # noqa: BLE001 - json, encoding or schema errors alike
        text = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise Problem("invalid_notebook", f"{path.name} is not a valid notebook: {text}") from None
    return nb


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


def inject_parameters(nb, values: dict):
    """Insert a papermill-style `injected-parameters` cell after the cell tagged `parameters`
    (at the top when there is none), so the notebook runs with these values."""
    import nbformat

    if not values:
        return nb
    lines = ["# Parameters injected by the grader"]
    lines += [f"{name} = {value!r}" for name, value in values.items()]
    cell = nbformat.v4.new_code_cell("\n".join(lines), metadata={"tags": ["injected-parameters"]})
    cells = nb.cells
    index = next(
        (i + 1 for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", [])),
        0,
    )
    cells.insert(index, cell)
    return nb


# ------------------------------------------------------------------------------ evaluation


def evaluate_model(model_path, hidden, image_size, batch_size: int = 8) -> dict:
    """Load a saved model safely, check its shapes and score it on the hidden frames.

    Returns a dict: status (ok, model_unsafe, model_invalid, wrong_shape, eval_error), reason,
    iou, dice, frames, output ("logits" or "probabilities"). Runs in a separate process.
    """
    import keras
    import numpy as np

    from . import data, metrics

    h, w = (int(v) for v in image_size)
    result = {"status": "ok", "reason": "", "iou": None, "dice": None, "frames": 0}
    try:
        model = keras.saving.load_model(model_path, safe_mode=True, compile=False)
    except Exception as exc:  # noqa: BLE001 - any loading failure is the student's file
        text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
        unsafe = re.search(r"safe_mode|Lambda|custom|Could not (locate|deserialize)|"
                           r"register_keras_serializable|Unknown (layer|object)", text)  # fmt: skip
        result["status"] = "model_unsafe" if unsafe else "model_invalid"
        result["reason"] = text[:400]
        return result
    if not isinstance(model, keras.Model) or len(model.inputs) != 1 or len(model.outputs) != 1:
        return {**result, "status": "wrong_shape", "reason": "model.keras must hold a model with one input and one output."}
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4 or shape[3] != 3 or shape[1] not in (None, h) or shape[2] not in (None, w):
        return {**result, "status": "wrong_shape",
                "reason": f"the model takes inputs of shape {shape}; the lab needs (None, {h}, {w}, 3)."}  # fmt: skip
    frames = data.load_mads(hidden, image_size=(h, w), cache=False, progress=False)
    images = frames.images.astype("float32")
    try:
        out = np.asarray(model.predict(images, batch_size=batch_size, verbose=0))
    except Exception as exc:  # noqa: BLE001
        return {**result, "status": "eval_error", "reason": f"prediction failed: {type(exc).__name__}: {str(exc)[:300]}"}
    if out.shape != (len(images), h, w, 1):
        return {**result, "status": "wrong_shape",
                "reason": f"the model outputs shape {out.shape[1:]} per frame; the lab needs ({h}, {w}, 1)."}  # fmt: skip
    probabilities = _ends_in_sigmoid(model)
    pred = out > 0.5 if probabilities else out > 0
    result.update(
        iou=float(metrics.mean_iou(frames.masks, pred)),
        dice=float(metrics.mean_dice(frames.masks, pred)),
        frames=len(images),
        output="probabilities" if probabilities else "logits",
    )
    return result


def _ends_in_sigmoid(model) -> bool:
    """Whether the layer that makes the model's output applies a sigmoid."""
    try:
        layer = model.outputs[0]._keras_history[0]
    except (AttributeError, IndexError):
        layer = model.layers[-1] if model.layers else None
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", str(activation)) == "sigmoid"


# ------------------------------------------------------------------------------ grading one


@dataclass
class Settings:
    """Everything that is the same for every student of one grading run."""

    submissions: Path
    hidden: Path
    out: Path
    rubric: Rubric
    profile: object
    use_profile: bool
    execute: bool = True
    timeout: float = 1800.0
    memory_gb: float = 8.0
    sandbox: bool = True
    standin: Path | None = None
    keep_models: bool = False


@dataclass
class Outcome:
    """The grade of one student."""

    student: str
    status: str = "ok"
    score: float = 0.0
    max_score: float = 0.0
    iou: float | None = None
    dice: float | None = None
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    items: list[tuple[str, float, float, str]] = field(default_factory=list)
    notebook: object = None
    composite: bytes | None = None

    def fail(self, status: str, reason: str) -> None:
        """Record a failure; the first one sets the status."""
        if self.status == "ok":
            self.status = status
        self.failures.append(reason)

    def row(self) -> dict:
        return {
            "student": self.student, "status": self.status, "score": _num(self.score),
            "max_score": _num(self.max_score), "iou": _num(self.iou, 4), "dice": _num(self.dice, 4),
            "seconds": _num(self.seconds, 1), "reason": "; ".join(self.failures)[:2000],
        }  # fmt: skip


def _num(value, digits: int = 2) -> str:
    if value is None:
        return ""
    value = round(float(value), digits)
    return str(int(value)) if value == int(value) else str(value)


def grade_one(sub: Submission, settings: Settings, slot: int = 0) -> Outcome:
    """Grade one submission; never raises (a grader failure becomes status grader_error)."""
    start = time.monotonic()
    outcome = Outcome(sub.student, max_score=settings.rubric.max_score)
    tmp = Path(tempfile.mkdtemp(prefix="segcourse-grade-"))
    try:
        _grade_into(outcome, sub, settings, tmp, slot)
    except Problem as problem:
        outcome.fail(problem.status, problem.reason)
        _score_items(outcome, settings.rubric, {})
    except Exception as exc:  # noqa: BLE001 - one broken submission must not stop the batch
        outcome.fail("grader_error", f"{type(exc).__name__}: {exc}")
        _score_items(outcome, settings.rubric, {})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    outcome.seconds = time.monotonic() - start
    return outcome


def _grade_into(outcome: Outcome, sub: Submission, settings: Settings, tmp: Path, slot: int):
    rubric = settings.rubric
    work, grader = tmp / "work", tmp / "grader"
    grader.mkdir()
    root = unpack(sub, work)
    nb_path = pick_notebook(root, rubric.data["notebook"])
    nb = read_notebook(nb_path)
    outcome.notebook = nb
    nb_dir = nb_path.parent
    checks: dict = {}
    if settings.execute:
        inside_dir = sb.INSIDE_WORK / nb_dir.relative_to(work)
        checks["run"] = _execute(outcome, nb, settings, work, grader, nb_dir, inside_dir, slot)
    else:
        checks["run"] = _check_outputs(outcome, nb)
    checks["results"] = _check_results(nb_dir / rubric.section("results")["file"], rubric)
    checks["composite"] = _check_composite(nb_dir / rubric.section("composite")["file"], outcome)
    checks["model"] = _check_model(outcome, nb_dir / rubric.section("model")["file"], settings, tmp)
    _score_items(outcome, rubric, checks)


def _execute(outcome, nb, settings: Settings, work, grader, nb_dir, inside_dir, slot) -> tuple:
    """Re-run the notebook in the sandbox; returns (passed, note)."""
    import nbformat

    sandboxed = settings.sandbox
    workdir = str(inside_dir) if sandboxed else str(nb_dir)
    values = parameter_values(settings.rubric, settings.profile, settings.use_profile, workdir)
    nbformat.write(inject_parameters(nbformat.from_dict(nb), values), grader / "input.ipynb")
    limits = sb.Limits(timeout=settings.timeout, memory_gb=settings.memory_gb)
    inside_grader = sb.INSIDE_GRADER
    args = ["notebook", str(inside_grader / "input.ipynb"), str(inside_grader / "executed.ipynb"),
            str(inside_grader / "status.json"), "--cwd", str(inside_dir)]  # fmt: skip
    ro = {settings.standin: sb.INSIDE_STANDIN} if (settings.standin and sandboxed) else {}
    env = {"SEGCOURSE_PROFILE": settings.profile.name}
    run = sb.sandboxed_python(
        args, limits=limits, wall=settings.timeout + RUN_GRACE_S,
        protected=[settings.submissions, settings.hidden, settings.out],
        rw={work: sb.INSIDE_WORK, grader: inside_grader}, ro=ro, chdir=inside_dir, env=env,
        slot=slot, sandbox=sandboxed,
    )  # fmt: skip
    status = _read_json(grader / "status.json", 64 * 1024)
    executed = _read_executed(grader / "executed.ipynb")
    if executed is not None:
        outcome.notebook = executed
    if not isinstance(status, dict) or status.get("status") not in STATUSES:
        if run.timed_out:
            status = {"status": "timeout", "reason": f"the notebook ran past its {settings.timeout:g} s limit"}
        elif "MemoryError" in run.output or "Cannot allocate memory" in run.output:
            status = {"status": "memory", "reason": "the notebook runner ran out of memory"}
        else:
            tail = run.output.strip().splitlines()[-1:] or ["no output"]
            status = {"status": "kernel_died",
                      "reason": f"the notebook runner stopped (exit {run.returncode}): {tail[0][:300]}"}  # fmt: skip
    kind = str(status["status"])
    if kind == "ok":
        note = "ran without errors"
        if status.get("truncated"):
            note += f" (output over {limits.output_mb:g} MB was cut)"
        return True, note
    where = _cell_label(outcome.notebook, status.get("cell"))
    reason = f"{where}{status.get('reason', '')}".strip()
    outcome.fail(kind, reason)
    return False, reason


def _cell_label(nb, index) -> str:
    if not isinstance(index, int) or nb is None or not 0 <= index < len(nb.cells):
        return ""
    cell = nb.cells[index]
    injected = sum(1 for c in nb.cells[:index] if "injected-parameters" in c.get("metadata", {}).get("tags", []))
    first = next((ln.strip() for ln in str(cell.get("source", "")).splitlines() if ln.strip()), "")
    return f"cell {index + 1 - injected} (`{first[:60]}`): "


def _check_outputs(outcome: Outcome, nb) -> tuple:
    """--no-execute: the stored outputs decide the run item."""
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]
    ran = [c for _, c in code if c.get("execution_count") or c.get("outputs")]
    for i, cell in code:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                reason = f"{_cell_label(nb, i)}{out.get('ename', 'Error')}: {str(out.get('evalue', ''))[:300]}"
                status = "memory" if out.get("ename") == "MemoryError" else "cell_error"
                outcome.fail(status, reason)
                return False, reason
    if code and not ran:
        reason = "the notebook holds no outputs: run it from top to bottom before handing it in"
        outcome.fail("not_run", reason)
        return False, reason
    if len(ran) < len(code):
        reason = f"{len(code) - len(ran)} of {len(code)} code cells were not run"
        outcome.fail("not_run", reason)
        return False, reason
    return True, "the stored outputs show no errors"


def _safe_file(path: Path, max_bytes: int) -> tuple[Path | None, str]:
    """A regular file of bounded size (never followed through a link), or why not."""
    try:
        info = path.lstat()
    except OSError:
        return None, f"{path.name} was not saved"
    if not stat.S_ISREG(info.st_mode):
        return None, f"{path.name} is not a regular file (a link or a folder)"
    if info.st_size > max_bytes:
        return None, f"{path.name} is over {max_bytes // 2**20} MB"
    return path, ""


def _read_json(path: Path, max_bytes: int):
    found, _ = _safe_file(path, max_bytes)
    if not found:
        return None
    try:
        return json.loads(found.read_text(encoding="utf-8"))
    except (ValueError, OSError):
        return None


def _read_executed(path: Path):
    import nbformat

    found, _ = _safe_file(path, 2 * MAX_NOTEBOOK_MB * 2**20)
    if not found:
        return None
    try:
        return nbformat.read(found, as_version=4)
    except Exception:  # noqa: BLE001 - a sandbox-written file is untrusted
        return None


def _check_results(path: Path, rubric: Rubric) -> tuple:
    section = rubric.section("results")
    found, why = _safe_file(path, MAX_RESULTS_KB * 1024)
    if not found:
        return False, why
    data = _read_json(found, MAX_RESULTS_KB * 1024)
    if not isinstance(data, dict):
        return False, f"{path.name} is not a JSON object"
    for what in ("iou", "dice"):
        keys = section.get(f"{what}_keys", [what])
        value = next((data[k] for k in keys if k in data), None)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return False, f"{path.name} has no numeric {what} (looked for {', '.join(keys)})"
    return True, f"{path.name} reports IoU and Dice"


def _check_composite(path: Path, outcome: Outcome) -> tuple:
    from PIL import Image

    found, why = _safe_file(path, 50 * 2**20)
    if not found:
        return False, why
    try:
        with Image.open(found) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                return False, f"{path.name} is too large an image"
            image.load()
            if min(image.size) < 16:
                return False, f"{path.name} is only {image.width}x{image.height} pixels"
            thumb = image.convert("RGB")
            thumb.thumbnail((1200, 1200))
    except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds on bad files
        return False, f"{path.name} is not a readable image ({type(exc).__name__})"
    import io

    buffer = io.BytesIO()
    thumb.save(buffer, format="PNG")
    outcome.composite = buffer.getvalue()
    return True, f"{path.name} is a readable {image.width}x{image.height} image"


def _check_model(outcome: Outcome, path: Path, settings: Settings, tmp: Path) -> tuple:
    found, why = _safe_file(path, MAX_MODEL_MB * 2**20)
    if not found:
        outcome.fail("no_model", why)
        return False, why
    evaldir = tmp / "eval"
    evaldir.mkdir()
    model = evaldir / "model.keras"
    shutil.copyfile(found, model)
    if settings.keep_models:
        kept = settings.out / "models" / f"{Submission(outcome.student, path).safe_name}.keras"
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(found, kept)
    h, w = settings.profile.mads_size
    inside_model, inside_hidden = sb.INSIDE_TMP / "model" / "model.keras", sb.INSIDE_HIDDEN
    result_file = sb.INSIDE_GRADER / "eval.json"
    limits = sb.Limits(timeout=EVAL_TIMEOUT_S, memory_gb=max(settings.memory_gb, 4.0))
    run = sb.sandboxed_python(
        ["evaluate", str(inside_model), str(inside_hidden), str(result_file), "--size", str(h), str(w)],
        limits=limits, protected=[settings.submissions, settings.hidden, settings.out],
        rw={evaldir: sb.INSIDE_GRADER}, ro={model: inside_model, settings.hidden: inside_hidden},
        chdir=sb.INSIDE_GRADER, sandbox=settings.sandbox, drop_privileges=False,
    )  # fmt: skip
    result = _read_json(evaldir / "eval.json", 64 * 1024)
    if not isinstance(result, dict) or result.get("status") not in STATUSES:
        tail = run.output.strip().splitlines()[-1:] or ["no output"]
        reason = "evaluation timed out" if run.timed_out else f"evaluation failed: {tail[0][:300]}"
        outcome.fail("eval_error", reason)
        return False, reason
    if result["status"] != "ok":
        outcome.fail(result["status"], str(result.get("reason", ""))[:500])
        return False, str(result.get("reason", ""))
    outcome.iou, outcome.dice = float(result["iou"]), float(result["dice"])
    return True, (f"loads safely; hidden-frame IoU {outcome.iou:.4f}, Dice {outcome.dice:.4f} "
                  f"on {result['frames']} frames (outputs read as {result['output']})")  # fmt: skip


def _score_items(outcome: Outcome, rubric: Rubric, checks: dict) -> None:
    """Turn the checks into rubric items and the total score."""
    items = []
    for name, label in (("run", "runs without errors"), ("model", "model saved, safe, right shapes")):
        passed, note = checks.get(name, (False, "not checked: " + (outcome.failures[:1] or ["-"])[0]))
        points = rubric.section(name)["points"]
        items.append((label, points, points if passed else 0, note))
    for t in sorted(rubric.data["iou"], key=lambda t: t["at_least"]):
        reached = outcome.iou is not None and outcome.iou >= t["at_least"]
        note = "no IoU (no usable model)" if outcome.iou is None else f"IoU {outcome.iou:.4f}"
        items.append((f"hidden-data IoU >= {t['at_least']:.2f}", t["points"], t["points"] if reached else 0, note))
    for name, label in (("results", "held-out Dice and IoU reported"), ("composite", "compositing figure saved")):
        passed, note = checks.get(name, (False, "not checked"))
        points = rubric.section(name)["points"]
        items.append((label, points, points if passed else 0, note))
        if not passed and name in checks:
            outcome.failures.append(note)
    outcome.items = items
    outcome.score = sum(earned for _, _, earned, _ in items)


# ------------------------------------------------------------------------------ outputs


def write_feedback(outcome: Outcome, dest: Path) -> None:
    """The student's executed notebook as HTML (sanitised), headed by the score breakdown."""
    rows = "".join(
        f"<tr><td>{html.escape(label)}</td><td>{_num(earned)} / {_num(points)}</td>"
        f"<td>{html.escape(str(note))}</td></tr>"
        for label, points, earned, note in outcome.items
    )
    failures = "".join(f"<li>{html.escape(f)}</li>" for f in outcome.failures) or "<li>none</li>"
    explanation = html.escape(STATUSES.get(outcome.status, ""))
    figure = ""
    if outcome.composite:
        import base64

        data = base64.b64encode(outcome.composite).decode()
        figure = f'<h3>Your compositing figure</h3><img style="max-width:100%" src="data:image/png;base64,{data}">'
    header = (
        '<section id="segcourse-grade" style="font-family:sans-serif;margin:1em;padding:1em;'
        'border:2px solid #444;background:#f7f7f7">'
        f"<h1>Lab grade for {html.escape(outcome.student)}: {_num(outcome.score)} / "
        f"{_num(outcome.max_score)}</h1>"
        f"<p>Status: <b>{html.escape(outcome.status)}</b> ({explanation})</p>"
        '<table border="1" cellpadding="4" style="border-collapse:collapse">'
        "<tr><th>item</th><th>points</th><th>why</th></tr>"
        f"{rows}</table><h3>What went wrong</h3><ul>{failures}</ul>{figure}</section>"
    )
    body = "<p>No notebook could be shown.</p>"
    if outcome.notebook is not None:
        try:
            from nbconvert import HTMLExporter

            exporter = HTMLExporter(template_name="lab", sanitize_html=True)
            body, _ = exporter.from_notebook_node(outcome.notebook)
        except Exception as exc:  # noqa: BLE001 - a broken notebook still gets its grade page
            body = f"<p>The notebook could not be rendered: {html.escape(str(exc)[:300])}</p>"
    match = re.search(r"<body[^>]*>", body)
    page = (body[: match.end()] + header + body[match.end():]) if match else (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(outcome.student)}"
        f"</title></head><body>{header}{body}</body></html>"
    )  # fmt: skip
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(page, encoding="utf-8")


def read_grades(path: Path) -> list[dict]:
    """The rows of a grades.csv (empty if missing)."""
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if rows and set(CSV_COLUMNS) - set(rows[0]):
        raise GradingError(f"{path}: not a grades.csv (columns {', '.join(rows[0])}).")
    return rows


def write_grades(path: Path, rows: list[dict]) -> None:
    """Write grades.csv sorted by student."""
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda r: r["student"]))
    os.replace(tmp, path)


def write_summary(out: Path, rows: list[dict], note: str = "") -> None:
    """summary.md and score_distribution.png for all graded rows."""
    scores = [float(r["score"]) for r in rows if r["score"] != ""]
    max_score = max((float(r["max_score"]) for r in rows if r["max_score"]), default=0)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    lines = ["# Lab grades", "", note, "", f"Students graded: {len(rows)}"]
    if scores:
        ordered = sorted(scores)
        median = ordered[len(ordered) // 2] if len(ordered) % 2 else sum(ordered[len(ordered) // 2 - 1 : len(ordered) // 2 + 1]) / 2
        lines.append(f"Score (out of {_num(max_score)}): mean {sum(scores) / len(scores):.1f}, "
                     f"median {median:.1f}, min {_num(min(scores))}, max {_num(max(scores))}")  # fmt: skip
    lines += ["", "| status | students | meaning |", "|---|---|---|"]
    lines += [f"| {s} | {n} | {STATUSES.get(s, '')} |" for s, n in sorted(counts.items())]
    problems = [r for r in rows if r["status"] != "ok"]
    if problems:
        lines += ["", "## Submissions with problems", "", "| student | status | reason |", "|---|---|---|"]
        lines += [f"| {r['student']} | {r['status']} | {r['reason'].replace('|', '/')[:200]} |" for r in problems]
    lines += ["", "![score distribution](score_distribution.png)", ""]
    (out / "summary.md").write_text("\n".join(lines), encoding="utf-8")
    plot_scores(scores, max_score, out / "score_distribution.png")


def plot_scores(scores: list[float], max_score: float, dest: Path) -> None:
    """A titled histogram of the scores."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    top = max_score or 100
    ax.hist(scores, bins=[top * i / 20 for i in range(21)], color="#4477aa", edgecolor="white")
    ax.set_title(f"Lab score distribution ({len(scores)} students)")
    ax.set_xlabel(f"score (out of {_num(top)})")
    ax.set_ylabel("students")
    ax.set_xlim(0, top)
    fig.tight_layout()
    fig.savefig(dest, dpi=100)
    plt.close(fig)


# ------------------------------------------------------------------------------ batches


def standin_folder() -> Path:
    """The MADS stand-in the notebooks train on inside the sandbox (made once, in the cache)."""
    from . import data, paths

    data.synthetic_root("mads")  # generates it on first use
    return paths.cache_dir() / "synthetic" / "mads"


def public_copy(folder: Path, dest: Path) -> Path:
    """A world-readable copy of `folder` (the sandbox user may not read the cache itself)."""
    shutil.copytree(folder, dest, symlinks=False)
    for root, _dirs, files in os.walk(dest):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)
    os.chmod(dest.parent, 0o755)
    return dest


def grade(
    submissions, hidden, out, *, execute: bool = True, timeout: float = 1800, memory_gb: float = 8,
    jobs: int = 1, shard: tuple[int, int] | None = None, profile: str | None = None,
    sandbox: bool = True, rubric: str | os.PathLike | None = None, progress: bool = True,
    keep_models: bool = False,
) -> list[dict]:
    """Grade every (not yet graded) submission of this shard; return all rows of grades.csv."""
    from . import data
    from .profiles import get_profile

    submissions, hidden, out = Path(submissions).resolve(), Path(hidden).resolve(), Path(out).resolve()
    rules = load_rubric(rubric)
    chosen = get_profile(profile or os.environ.get("SEGCOURSE_PROFILE") or rules.data["profile"])
    for inner, outer, what in ((hidden, submissions, "hidden data"), (out, submissions, "OUT"),
                               (submissions, hidden, "SUBMISSIONS"), (out, hidden, "OUT")):  # fmt: skip
        if inner == outer or outer in inner.parents:
            raise GradingError(f"{inner}: the {what} folder must not lie inside {outer}.")
    if execute and sandbox and sb.sandbox_problem():
        raise GradingError(
            f"--execute needs the bubblewrap sandbox, which is unavailable: {sb.sandbox_problem()} "
            "Install bubblewrap, grade with --no-execute, or pass --no-sandbox to run student "
            "code unprotected."
        )
    if not sandbox:
        print("WARNING: --no-sandbox: student notebooks run with your permissions, network and "
              "files. Only do this for code you trust.", file=sys.stderr)  # fmt: skip
    eval_sandbox = sandbox and sb.sandbox_problem() is None
    try:
        frames = len(data.load_mads(hidden, image_size=chosen.mads_size, cache=False, progress=False))
    except data.DatasetError as exc:
        raise GradingError(f"--hidden {hidden}: {exc}") from None
    out.mkdir(parents=True, exist_ok=True)
    subs = find_submissions(submissions)
    if shard:
        subs = [s for s in subs if shard_of(s.student, shard[1]) == shard[0]]
    csv_path = out / "grades.csv"
    rows = {r["student"]: r for r in read_grades(csv_path)}
    todo = [s for s in subs if s.student not in rows]
    settings = Settings(
        submissions, hidden, out, rules, chosen, use_profile=profile is not None, execute=execute,
        timeout=timeout, memory_gb=memory_gb, sandbox=eval_sandbox if not execute else sandbox,
        standin=None, keep_models=keep_models,
    )  # fmt: skip
    scratch = Path(tempfile.mkdtemp(prefix="segcourse-standin-"))
    if execute and todo:
        settings.standin = public_copy(standin_folder(), scratch / "mads")
    lock = threading.Lock()
    slots = list(range(max(1, jobs)))

    def work(sub: Submission) -> dict:
        with lock:
            slot = slots.pop()
        try:
            outcome = grade_one(sub, settings, slot)
        finally:
            with lock:
                slots.append(slot)
        try:
            write_feedback(outcome, out / "feedback" / f"{sub.safe_name}.html")
        except Exception as exc:  # noqa: BLE001
            outcome.failures.append(f"feedback page failed: {exc}")
        row = outcome.row()
        with lock:
            rows[sub.student] = row
            write_grades(csv_path, list(rows.values()))
        return row

    from tqdm.auto import tqdm

    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = [pool.submit(work, s) for s in todo]
            for future in tqdm(as_completed(futures), total=len(futures), desc="grading",
                               unit="student", disable=not progress):  # fmt: skip
                future.result()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    all_rows = list(rows.values())
    mode = "re-executed in the sandbox" if execute else "graded as submitted (--no-execute)"
    note = (f"Notebooks {mode}; profile `{chosen.name}`, images {chosen.mads_size[0]}x"
            f"{chosen.mads_size[1]}; {frames} hidden frames; rubric {rules.path.name}.")  # fmt: skip
    write_grades(csv_path, all_rows)
    write_summary(out, all_rows, note)
    return sorted(all_rows, key=lambda r: r["student"])


def merge(outs: list[str | os.PathLike], dest: str | os.PathLike | None = None) -> list[dict]:
    """Merge the grades (and feedback pages) of several OUT folders, e.g. one per shard."""
    outs = [Path(o) for o in outs]
    dest = Path(dest) if dest else outs[0].parent / "merged"
    rows: dict[str, dict] = {}
    for folder in outs:
        if not (folder / "grades.csv").is_file():
            raise GradingError(f"{folder}: no grades.csv to merge.")
        for row in read_grades(folder / "grades.csv"):
            rows[row["student"]] = row
        if folder.resolve() != dest.resolve() and (folder / "feedback").is_dir():
            (dest / "feedback").mkdir(parents=True, exist_ok=True)
            for page in (folder / "feedback").glob("*.html"):
                shutil.copyfile(page, dest / "feedback" / page.name)
    dest.mkdir(parents=True, exist_ok=True)
    all_rows = list(rows.values())
    write_grades(dest / "grades.csv", all_rows)
    write_summary(dest, all_rows, f"Merged from {len(outs)} folders: {', '.join(o.name for o in outs)}.")
    return sorted(all_rows, key=lambda r: r["student"])


# ------------------------------------------------------------------------------ command line


def build_parser() -> argparse.ArgumentParser:
    """Options of `python -m segcourse grade`."""
    p = argparse.ArgumentParser(
        prog="python -m segcourse grade",
        description="Grade lab notebooks: re-run each in a bubblewrap sandbox, score the saved "
        "model on hidden data, write grades.csv, feedback pages, summary.md and a figure.",
    )
    p.add_argument("submissions", nargs="?", help="folder with one entry per student")
    p.add_argument("--hidden", help="the held-out test frames (MADS layout)")
    p.add_argument("--out", help="output folder (for --merge: default MERGE1/../merged)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--execute", dest="execute", action="store_true", default=True,
                      help="re-run each notebook in the sandbox (default)")  # fmt: skip
    mode.add_argument("--no-execute", dest="execute", action="store_false",
                      help="grade the submitted model.keras and stored outputs")  # fmt: skip
    p.add_argument("--timeout", type=float, default=1800, help="seconds per notebook (1800)")
    p.add_argument("--memory", type=float, default=8, help="GB of address space per process (8)")
    p.add_argument("--jobs", type=int, default=1, help="submissions graded in parallel (1)")
    p.add_argument("--shard", help="grade only shard I of N (I/N, stable per student)")
    p.add_argument("--profile", help="ci, cpu or gpu: notebook parameters and image size")
    p.add_argument("--no-sandbox", dest="sandbox", action="store_false",
                   help="run student code without bubblewrap (trusted code only)")  # fmt: skip
    p.add_argument("--rubric", help="rubric TOML (default lab/rubric.toml)")
    p.add_argument("--merge", nargs="+", metavar="OUT", help="merge the grades of these folders")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    """`python -m segcourse grade ...`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.merge:
            if args.submissions:
                parser.error("--merge takes OUT folders only, not SUBMISSIONS")
            rows = merge(args.merge, args.out)
            print(f"merged {len(rows)} students")
            return 0
        if not (args.submissions and args.hidden and args.out):
            parser.error("SUBMISSIONS, --hidden and --out are required (or use --merge)")
        if args.jobs < 1 or args.timeout <= 0 or args.memory <= 0:
            parser.error("--jobs, --timeout and --memory must be positive")
        rows = grade(
            args.submissions, args.hidden, args.out, execute=args.execute, timeout=args.timeout,
            memory_gb=args.memory, jobs=args.jobs,
            shard=parse_shard(args.shard) if args.shard else None, profile=args.profile,
            sandbox=args.sandbox, rubric=args.rubric, progress=not args.quiet,
        )  # fmt: skip
    except GradingError as exc:
        print(f"grade: {exc}", file=sys.stderr)
        return 2
    for row in rows:
        print(f"{row['student']:<24} {row['status']:<16} {row['score']:>6} / {row['max_score']}")
    print(f"grades: {Path(args.out) / 'grades.csv'}")
    return 0
