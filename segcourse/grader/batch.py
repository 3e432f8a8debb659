"""Grading a batch: `grade()` runs every submission of a shard through its pipeline (unpack,
re-run in the sandbox, check the hand-in files, score the model on hidden data, write the
reports); `merge()` joins the OUT folders of several shards."""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from . import handin, traindata
from . import sandbox as sb
from .reports import Outcome, read_grades, write_feedback, write_grades, write_summary
from .rubric import Rubric, load_rubric, parameter_values, score_items
from .safefs import remove_tree
from .statuses import STATUSES, GradingError, Problem
from .submissions import (
    Submission,
    find_submissions,
    pick_notebook,
    read_notebook,
    shard_of,
    unpack,
)
from .workarea import WorkArea, disk_limit_problem, limit_text

MAX_MODEL_MB = 500
RUN_GRACE_S = 90  # kernel start-up and saving, on top of --timeout
EVAL_TIMEOUT_S = 900  # --eval-timeout
DISK_GB = 2.0  # --disk: the work area of each notebook run
# --max-macs: about 40 times the 46,768 multiply-adds per pixel of the lab's reference U-Net
# (BASE_FILTERS 16, counted by `cost.macs_per_pixel`), 2.7 times the same U-Net with 64
MAX_MACS = 2_000_000
KERNEL = "python3"  # the kernel every notebook is re-run with


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
    train_data: Path | None = None  # --train-data's MADS archive folder (None: the stand-in)
    train_bind: Path | None = None  # what the sandbox binds of it (a readable copy if needed)
    eval_timeout: float = EVAL_TIMEOUT_S
    max_macs: float | None = MAX_MACS
    disk_gb: float = DISK_GB
    jobs: int = 1  # parallel jobs on this machine: each gets its share of the cores


def limits_note(settings: Settings) -> str:
    """What summary.md says of the limits every submission ran under."""
    cpu = (f"CPU: each of {settings.jobs} parallel jobs pinned to its own share of the cores"
           if settings.jobs > 1 else "CPU: one job at a time, not pinned")  # fmt: skip
    work = limit_text(settings.disk_gb) if settings.execute else "nothing re-run"
    macs = "no bound" if settings.max_macs is None else f"at most {settings.max_macs:,.0f}"
    uid = "every sandbox under a uid of its own" if os.geteuid() == 0 else "user namespaces"
    return (f"Limits per submission: {work}; evaluation {settings.eval_timeout:g} s, {macs} "
            f"multiply-adds per pixel; {cpu}; {uid}.")  # fmt: skip


# ------------------------------------------------------------------------------ the batch


def standin_folder() -> Path:
    """The MADS stand-in the notebooks train on inside the sandbox (made once, in the cache)."""
    from segcourse import data, paths

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


def prepare_run(submissions, hidden, out, rubric=None, profile: str | None = None) -> tuple:
    """The absolute folders (none inside another), the rubric and the profile of a run."""
    from segcourse.profiles import get_profile

    submissions, hidden, out = (Path(p).resolve() for p in (submissions, hidden, out))
    rules = load_rubric(rubric)
    chosen = get_profile(profile or os.environ.get("SEGCOURSE_PROFILE") or rules.data["profile"])
    for inner, outer, what in ((hidden, submissions, "hidden data"), (out, submissions, "OUT"),
                               (submissions, hidden, "SUBMISSIONS"), (out, hidden, "OUT")):  # fmt: skip
        if inner == outer or outer in inner.parents:
            raise GradingError(f"{inner}: the {what} folder must not lie inside {outer}.")
    return submissions, hidden, out, rules, chosen


def summary_note(execute: bool, profile, frames: int, rules: Rubric,
                 train_data: Path | None = None) -> str:  # fmt: skip
    """The line of summary.md that says how the batch was graded, and on what it trained."""
    mode = "re-executed in the sandbox" if execute else "graded as submitted (--no-execute)"
    return (f"Notebooks {mode}; profile `{profile.name}`, images {profile.mads_size[0]}x"
            f"{profile.mads_size[1]}; {frames} hidden frames; rubric {rules.path.name}. "
            f"{traindata.training_note(execute, train_data)}")  # fmt: skip


def grade_and_write(sub: Submission, settings: Settings, slot: int, page: Path) -> dict:
    """Grade one submission, write its feedback page to `page` and return its grades.csv row;
    never raises (a grader failure becomes status grader_error). What `grade --jobs` runs in
    each thread and a cluster worker in each task."""
    try:
        outcome = grade_one(sub, settings, slot)
    except Exception as exc:  # noqa: BLE001 - one student's failure never stops the batch
        outcome = Outcome(sub.student, max_score=settings.rubric.max_score)
        outcome.fail("grader_error", f"{type(exc).__name__}: {str(exc)[:300]}")
    try:
        write_feedback(outcome, page)
    except Exception as exc:  # noqa: BLE001
        outcome.failures.append(f"feedback page failed: {exc}")
    return outcome.row()


def pending(submissions: Path, out: Path, shard: tuple[int, int] | None):
    """This shard's submissions, the rows grades.csv already holds, and who is not graded yet."""
    subs = find_submissions(submissions)
    if shard:
        subs = [s for s in subs if shard_of(s.student, shard[1]) == shard[0]]
    rows = {r["student"]: r for r in read_grades(out / "grades.csv")}
    return subs, rows, [s for s in subs if s.student not in rows]


def grade(
    submissions, hidden, out, *, execute: bool = True, timeout: float = 1800, memory_gb: float = 8,
    jobs: int = 1, shard: tuple[int, int] | None = None, profile: str | None = None,
    sandbox: bool = True, rubric: str | os.PathLike | None = None, progress: bool = True,
    keep_models: bool = False, disk_gb: float = DISK_GB, eval_timeout: float = EVAL_TIMEOUT_S,
    max_macs: float | None = MAX_MACS, train_data: str | os.PathLike | None = None,
) -> list[dict]:  # fmt: skip
    """Grade every (not yet graded) submission of this shard; return all rows of grades.csv.
    `train_data`: real MADS training frames for the re-run (default: the synthetic stand-in)."""
    from segcourse import data

    submissions, hidden, out, rules, chosen = prepare_run(submissions, hidden, out, rubric, profile)
    train = None  # checked before anyone is graded: never train on a hidden frame
    if train_data is not None:
        others = {"SUBMISSIONS": submissions, "OUT": out}
        train = traindata.check_option(train_data, execute, hidden, others)
    if execute and sandbox and sb.sandbox_problem():
        raise GradingError(
            f"--execute needs the bubblewrap sandbox, which is unavailable: {sb.sandbox_problem()} "
            "Install bubblewrap, grade with --no-execute, or pass --no-sandbox to run student "
            "code unprotected."
        )
    if not sandbox:
        print("WARNING: --no-sandbox: student notebooks run with your permissions, network and "
              "files. Only do this for code you trust.", file=sys.stderr)  # fmt: skip
    disk_problem = disk_limit_problem(disk_gb) if execute else None
    if disk_problem:
        raise GradingError(f"--disk {disk_gb:g}: {disk_problem}")
    if execute and disk_gb > 0 and os.geteuid() != 0:
        print(f"WARNING: --disk {disk_gb:g} is not applied: {limit_text(disk_gb)}.",
              file=sys.stderr)  # fmt: skip
    eval_sandbox = sandbox and sb.sandbox_problem() is None
    try:
        frames = len(
            data.load_mads(hidden, image_size=chosen.mads_size, cache=False, progress=False)
        )
    except data.DatasetError as exc:
        raise GradingError(f"--hidden {hidden}: {exc}") from None
    out.mkdir(parents=True, exist_ok=True)
    subs, rows, todo = pending(submissions, out, shard)
    csv_path = out / "grades.csv"
    settings = Settings(
        submissions, hidden, out, rules, chosen, use_profile=profile is not None, execute=execute,
        timeout=timeout, memory_gb=memory_gb, sandbox=eval_sandbox if not execute else sandbox,
        standin=None, keep_models=keep_models, eval_timeout=eval_timeout, max_macs=max_macs,
        disk_gb=disk_gb, jobs=max(1, jobs), train_data=train,
    )  # fmt: skip
    scratch = Path(tempfile.mkdtemp(prefix="segcourse-standin-"))
    if execute and todo and not train:
        settings.standin = public_copy(standin_folder(), scratch / "mads")
    elif execute and todo:
        settings.train_bind = traindata.bindable(train, scratch)
    lock = threading.Lock()
    slots = list(range(max(1, jobs)))

    def work(sub: Submission) -> dict:
        with lock:
            slot = slots.pop()
        try:
            row = grade_and_write(sub, settings, slot, out / "feedback" / f"{sub.safe_name}.html")
        finally:
            with lock:
                slots.append(slot)
        with lock:
            rows[sub.student] = row
            write_grades(csv_path, list(rows.values()))
        return row

    from tqdm.auto import tqdm

    try:
        if execute and todo and rules.recompute:  # once, here: a split that fails stops the batch
            traindata.claims_frames(traindata.training_frames(settings)[0], chosen.mads_size,
                                    rules.recompute)  # fmt: skip
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = [pool.submit(work, s) for s in todo]
            for future in tqdm(as_completed(futures), total=len(futures), desc="grading",
                               unit="student", disable=not progress):  # fmt: skip
                future.result()
    finally:
        remove_tree(scratch)
    all_rows = list(rows.values())
    write_grades(csv_path, all_rows)
    write_summary(
        out,
        all_rows,
        f"{summary_note(execute, chosen, frames, rules, train)} {limits_note(settings)}",
    )
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
    write_summary(
        dest, all_rows, f"Merged from {len(outs)} folders: {', '.join(o.name for o in outs)}."
    )
    return sorted(all_rows, key=lambda r: r["student"])


# ------------------------------------------------------------------------------ one submission


def inject_parameters(nb, values: dict):
    """papermill's parameterisation: an `injected-parameters` cell after the cell tagged
    `parameters` (at the top when there is none; in place of an injected cell the notebook
    already has), so the notebook runs with these values."""
    if not values:
        return nb
    from papermill.parameterize import parameterize_notebook
    from papermill.translators import PythonTranslator, papermill_translators

    class TupleTranslator(PythonTranslator):
        """papermill's Python translator, but a tuple stays a tuple (IMAGE_SIZE = (64, 96))."""

        @classmethod
        def translate(cls, val):
            if isinstance(val, tuple):
                inner = ", ".join(cls.translate(v) for v in val)
                return f"({inner},)" if len(val) == 1 else f"({inner})"
            return super().translate(val)

    # papermill picks the translator by kernel name first: ours is the kernel the grader runs
    papermill_translators.register(KERNEL, TupleTranslator)
    # what papermill's own notebook loader adds first: it reads `cell.metadata.tags` of each cell
    untagged = [cell for cell in nb.cells if "tags" not in cell.metadata]
    for cell in untagged:
        cell.metadata["tags"] = []
    nb.metadata.setdefault("papermill", {})
    nb = parameterize_notebook(
        nb,
        values,
        comment="Parameters injected by the grader",
        kernel_name=KERNEL,
        language="python",
    )
    for cell in untagged:
        if not cell.metadata.get("tags"):
            cell.metadata.pop("tags", None)
    return nb


def grade_one(sub: Submission, settings: Settings, slot: int = 0) -> Outcome:
    """Grade one submission; never raises (a grader failure becomes status grader_error)."""
    start = time.monotonic()
    outcome = Outcome(sub.student, max_score=settings.rubric.max_score)
    outcome.notes.append(traindata.training_note(settings.execute, settings.train_data))
    if sub.note:
        outcome.failures.append(sub.note)
    if sub.skip:
        outcome.status, outcome.score = "skipped", None
        outcome.failures.append(sub.skip)
        return outcome
    tmp = Path(tempfile.mkdtemp(prefix="segcourse-grade-"))
    area = WorkArea(tmp / "run", settings.disk_gb if settings.execute else 0)
    try:
        _grade_into(outcome, sub, settings, tmp, slot, area.open())
    except Problem as problem:
        outcome.fail(problem.status, problem.reason)
        score_items(outcome, settings.rubric, {})
    except Exception as exc:  # noqa: BLE001 - one broken submission must not stop the batch
        outcome.fail("grader_error", f"{type(exc).__name__}: {exc}")
        score_items(outcome, settings.rubric, {})
    finally:
        area.close()
        if not remove_tree(tmp):  # iterative: any depth the notebook left behind
            outcome.failures.append("the grader could not remove all of the work copy")
    outcome.seconds = time.monotonic() - start
    return outcome


def _grade_into(outcome: Outcome, sub: Submission, settings: Settings, tmp: Path, slot: int,
                area: WorkArea):  # fmt: skip
    rubric = settings.rubric
    work, grader = area.path / "work", area.path / "grader"  # the size-capped part of tmp
    grader.mkdir()
    root = unpack(sub, work)
    nb_path = pick_notebook(root, rubric.data["notebook"])
    nb = read_notebook(nb_path)
    outcome.notebook = nb
    nb_dir = nb_path.parent
    checks: dict = {}
    if settings.execute:  # what it hands in must be what this run saves
        for name in output_files(rubric):
            remove_tree(nb_dir / name)
        inside_dir = sb.INSIDE_WORK / nb_dir.relative_to(work)
        checks["run"] = _execute(outcome, nb, settings, work, grader, nb_dir, inside_dir, slot,
                                 area)  # fmt: skip
    else:
        checks["run"] = handin.check_outputs(outcome, nb)
    results = rubric.section("results")
    checks["claims"] = handin.read_claims(nb_dir / results["file"], results, root=work)
    composite = rubric.section("composite")
    checks["composite"] = handin.check_composite(
        nb_dir / composite["file"], outcome, formats=composite.get("formats"), root=work
    )
    model = nb_dir / rubric.section("model")["file"]
    checks["evaluation"] = {}  # the evaluation's result: baseline and recomputed IoU too
    checks["model"] = _check_model(outcome, model, settings, tmp, slot, root=work,
                                   evaluation=checks["evaluation"])  # fmt: skip
    score_items(outcome, rubric, checks)


_NO_SPACE = re.compile(r"No space left on device|Errno 28\]|Disk quota exceeded")
_TOO_LARGE = re.compile(r"File too large|Errno 27\]")  # past RLIMIT_FSIZE (Limits.file_mb)


def output_files(rubric: Rubric) -> list[str]:
    """The files a notebook hands in, as the rubric names them (model, results, composite)."""
    return [rubric.section(key)["file"] for key in ("model", "results", "composite")]


def _execute(outcome, nb, settings: Settings, work, grader, nb_dir, inside_dir, slot,
             area: WorkArea) -> tuple:  # fmt: skip
    """Re-run the notebook in the sandbox (on its job slot's cores); returns (passed, note)."""
    import nbformat

    sandboxed = settings.sandbox
    workdir = str(inside_dir) if sandboxed else str(nb_dir)
    train, inside_train = traindata.training_frames(settings)  # the stand-in or --train-data
    seen = str(inside_train if sandboxed else train) if train else None
    values = parameter_values(settings.rubric, settings.profile, settings.use_profile, workdir,
                              train_data=seen)  # fmt: skip
    nbformat.write(inject_parameters(nbformat.from_dict(nb), values), grader / "input.ipynb")
    limits = sb.Limits(timeout=settings.timeout, memory_gb=settings.memory_gb)
    inside_grader = sb.INSIDE_GRADER
    args = ["notebook", str(inside_grader / "input.ipynb"), str(inside_grader / "executed.ipynb"),
            str(inside_grader / "status.json"), "--cwd", str(inside_dir)]  # fmt: skip
    ro = {train: inside_train} if (train and sandboxed) else {}
    env = {"SEGCOURSE_PROFILE": settings.profile.name}
    run = sb.sandboxed_python(
        args, limits=limits, wall=settings.timeout + RUN_GRACE_S,
        protected=[settings.submissions, settings.hidden, settings.out],
        rw={work: sb.INSIDE_WORK, grader: inside_grader}, ro=ro, chdir=inside_dir, env=env,
        cpus=_cpus(settings, slot), sandbox=sandboxed,
    )  # fmt: skip
    status = handin.read_json(grader / "status.json", 64 * 1024)
    executed = handin.read_executed(grader / "executed.ipynb")
    if executed is not None:
        outcome.notebook = executed
    if not isinstance(status, dict) or status.get("status") not in STATUSES:
        if run.timed_out:
            status = {
                "status": "timeout",
                "reason": f"the notebook ran past its {settings.timeout:g} s limit",
            }
        elif "MemoryError" in run.output or "Cannot allocate memory" in run.output:
            status = {"status": "memory", "reason": "the notebook runner ran out of memory"}
        else:
            tail = run.output.strip().splitlines()[-1:] or ["no output"]
            status = {"status": "kernel_died",
                      "reason": f"the notebook runner stopped (exit {run.returncode}): {tail[0][:300]}"}  # fmt: skip
    kind = str(status["status"])
    if kind != "ok" and (area.full() or _NO_SPACE.search(str(status.get("reason", "")))):
        kind = "disk"
        status["reason"] = f"{area.limit}, and the notebook filled it: {status.get('reason', '')}"
    elif kind != "ok" and _TOO_LARGE.search(str(status.get("reason", ""))):
        kind = "disk"
        status["reason"] = f"a file grew past {limits.file_mb} MB: {status.get('reason', '')}"
    if kind == "ok":
        note = "ran without errors"
        if status.get("truncated"):
            note += f" (output over {limits.output_mb:g} MB was cut)"
        cpus = _cpus(settings, slot)
        return True, f"{note}; {area.limit}; {sb.cpu_note(cpus, sandboxed)}"
    where = handin.cell_label(outcome.notebook, status.get("cell"))
    reason = f"{where}{status.get('reason', '')}".strip()
    outcome.fail(kind, reason)
    return False, reason


def _check_model(outcome: Outcome, path: Path, settings: Settings, tmp: Path, slot: int = 0,
                 root: Path | None = None, evaluation: dict | None = None) -> tuple:  # fmt: skip
    """Score the saved model on the hidden frames in a second sandbox (under a uid of its own,
    like the notebook, with no capabilities, on the job's cores; a model over
    `settings.max_macs` is refused before it runs), and on the notebook's own test split
    (`traindata.claims_for`); (passed, note). The evaluation's result goes to `evaluation`."""
    evaluation = {} if evaluation is None else evaluation
    found, why = handin.safe_file(path, MAX_MODEL_MB * 2**20, root=root)
    if not found:
        outcome.fail("no_model", why)
        return False, why
    evaldir = tmp / "eval"
    evaldir.mkdir()
    model = evaldir / "model.keras"
    with handin.open_safe(found) as src, open(model, "wb") as dest:
        shutil.copyfileobj(src, dest)
    if settings.keep_models:
        kept = settings.out / "models" / f"{Submission(outcome.student, path).safe_name}.keras"
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(model, kept)
    h, w = settings.profile.mads_size
    inside_model, inside_hidden = sb.INSIDE_TMP / "model" / "model.keras", sb.INSIDE_HIDDEN
    result_file = sb.INSIDE_GRADER / "eval.json"
    limits = sb.Limits(timeout=settings.eval_timeout, memory_gb=max(settings.memory_gb, 4.0),
                       max_macs=settings.max_macs or 0.0)  # fmt: skip
    args = ["evaluate", str(inside_model), str(inside_hidden), str(result_file),
            "--size", str(h), str(w)]  # fmt: skip
    ro = {model: inside_model, settings.hidden: inside_hidden}
    claims, evaluation["recompute_skipped"] = traindata.claims_for(settings, tmp / "claims.npz")
    if claims is not None:
        args += ["--claims", str(traindata.INSIDE_CLAIMS)]
        ro[claims] = traindata.INSIDE_CLAIMS
    run = sb.sandboxed_python(
        args, limits=limits, protected=[settings.submissions, settings.hidden, settings.out],
        rw={evaldir: sb.INSIDE_GRADER}, ro=ro,
        chdir=sb.INSIDE_GRADER, sandbox=settings.sandbox, cpus=_cpus(settings, slot),
    )  # fmt: skip
    result = handin.read_json(evaldir / "eval.json", 64 * 1024)
    if not isinstance(result, dict) or result.get("status") not in STATUSES:
        tail = run.output.strip().splitlines()[-1:] or ["no output"]
        reason = (f"evaluation ran past its {settings.eval_timeout:g} s limit (--eval-timeout)"
                  if run.timed_out else f"evaluation failed: {tail[0][:300]}")  # fmt: skip
        outcome.fail("eval_error", reason)
        return False, reason
    if result["status"] != "ok":
        outcome.fail(result["status"], str(result.get("reason", ""))[:500])
        return False, str(result.get("reason", ""))
    outcome.iou, outcome.dice = float(result["iou"]), float(result["dice"])
    evaluation.update(result)
    work = result.get("macs_per_pixel")
    work = f"; {work:,.0f} multiply-adds per pixel" if isinstance(work, int | float) else ""
    return True, (f"loads safely; hidden-frame IoU {outcome.iou:.4f}, Dice {outcome.dice:.4f} "
                  f"on {result['frames']} frames (outputs read as {result['output']}{work})")  # fmt: skip


def _cpus(settings: Settings, slot: int) -> list[int] | None:
    """The cores of a job slot when jobs run in parallel (None: one job, all cores)."""
    return sb.job_cpus(slot, settings.jobs) if settings.jobs > 1 else None
