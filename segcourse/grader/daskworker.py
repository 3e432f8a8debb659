"""What runs on each Dask worker when the grader uses a cluster (`cluster` is the client):
the start-up check (`WorkerCheck`: bubblewrap, the course environment, the submissions, the
hidden data, the --disk tmpfs and the training frames, `--train-data`'s or the stand-in) and
the task itself (`grade_task`), which grades one submission with `batch.grade_and_write` under
the run's `Settings` (every option, paths and numbers only) and returns its row and feedback
page, never data.

Each worker process keeps its work copies in a folder of its own, so that the next worker on
the machine removes what a killed one left behind.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import importlib
import importlib.util
import os
import socket
import sys
import tempfile
import threading
from pathlib import Path

from distributed import WorkerPlugin, get_worker

from . import sandbox as sb
from . import traindata
from .batch import Settings, grade_and_write, public_copy, standin_folder
from .safefs import remove_tree
from .statuses import GradingError
from .submissions import Submission
from .workarea import disk_limit_problem

IMPORTED = ("nbformat", "nbclient", "nbconvert", "papermill", "jinja2")  # a worker uses these
FOUND = ("ipykernel", "keras")  # and the sandboxed runs these (with the Keras backend)
SYSTEM_TMP = Path(tempfile.gettempdir())  # before a worker points `tempfile` at its own folder


class WorkerRefused(RuntimeError):
    """A worker lacks what grading needs; raised by its tasks, refused by the client."""


_STATE: dict[str, dict] = {}  # check name -> what `WorkerCheck` found on this worker
_FOLDER: dict[str, Path] = {}  # "own": this worker process's temporary folder
_LOCK = threading.RLock()


def machine_folder() -> Path:
    """This user's folder for cluster grading on this machine (slot locks, worker folders)."""
    return SYSTEM_TMP / f"segcourse-cluster-{os.getuid()}"


def process_folder() -> Path:
    """This worker process's temporary folder, where its work copies go (`tempfile` points
    here), so that the next worker on the machine can remove what a killed one left."""
    with _LOCK:
        if "own" not in _FOLDER:
            root = machine_folder()
            root.mkdir(mode=0o700, exist_ok=True)
            sweep_dead(root)
            own = root / f"worker-{socket.gethostname()}-{os.getpid()}"
            own.mkdir(exist_ok=True)
            tempfile.tempdir = str(own)
            _FOLDER["own"] = own
        return _FOLDER["own"]


def sweep_dead(root: Path) -> list[Path]:
    """Remove the folders that worker processes of this machine left when they died."""
    removed = []
    for folder in root.glob(f"worker-{socket.gethostname()}-*"):
        pid = folder.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            remove_tree(folder)
            removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def frames_print(folder: Path) -> str:
    """ "N frames, digest" of the MADS frames at `folder` (names and sizes of every image and
    mask, each opened and read): what a worker must see at `--train-data`'s path to train on
    the frames the client checked against `--hidden`. OSError or GradingError where it cannot."""
    from segcourse.data import mads_cases

    archive = traindata.archive_of(folder, "--train-data")
    cases, _ = mads_cases(archive)
    digest = hashlib.sha256()
    for case in sorted(cases, key=lambda c: c.id):
        for path in (Path(case.image), Path(case.mask)):
            with open(path, "rb") as handle:  # readable by this process, not only listed
                handle.read(1)
                size = os.fstat(handle.fileno()).st_size
            digest.update(f"{path.relative_to(archive)}:{size}\n".encode())
    return f"{len(cases)} frames, {digest.hexdigest()[:16]}"


def train_data_problem(folder: Path, expected: str | None) -> str | None:
    """Why this worker cannot train on `--train-data` `folder` (None when it can): a folder it
    cannot read, or other frames than `expected` (`frames_print` on the client)."""
    try:
        seen = frames_print(folder)
    except (GradingError, OSError) as exc:
        return f"the training data {folder} (--train-data) cannot be read here: {exc}"
    if expected is not None and seen != expected:
        return (f"the training data {folder} (--train-data) holds other frames here ({seen}) "
                f"than where the command runs ({expected}), where it was checked against "
                "--hidden")  # fmt: skip
    return None


def check_worker(
    settings: Settings, train_print: str | None = None
) -> tuple[list[str], int | None]:
    """What this worker lacks for grading (empty when nothing), and the hidden frames it sees.
    `train_print`: what `frames_print` says of --train-data where the command runs."""
    from segcourse import data

    problems = []
    if settings.sandbox and sb.sandbox_problem():
        problems.append(f"the bubblewrap sandbox: {sb.sandbox_problem()}")
    missing = []
    for name in IMPORTED:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - a broken install is as missing as none
            missing.append(f"{name} ({type(exc).__name__}: {exc})")
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    missing += [name for name in (*FOUND, backend) if importlib.util.find_spec(name) is None]
    if missing:
        problems.append(f"the course environment ({sys.executable}) lacks {', '.join(missing)}")
    if not (settings.submissions.is_dir() and os.access(settings.submissions, os.R_OK | os.X_OK)):
        problems.append(f"the submissions folder {settings.submissions} is not readable here")
    frames = None
    try:
        size = settings.profile.mads_size
        frames = len(data.load_mads(settings.hidden, image_size=size, cache=False, progress=False))
    except (data.DatasetError, OSError) as exc:
        problems.append(f"the hidden data {settings.hidden} cannot be read here: {exc}")
    if settings.keep_models and not os.access(settings.out, os.W_OK):
        problems.append(f"OUT {settings.out} is not writable here (the models are kept there)")
    if settings.execute and settings.train_data is not None:
        problem = train_data_problem(settings.train_data, train_print)
        problems += [problem] if problem else []
    disk = disk_limit_problem(settings.disk_gb) if settings.execute else None
    if disk:
        problems.append(f"--disk {settings.disk_gb:g}: {disk}")
    return problems, frames


def prepare_worker(settings: Settings, train_print: str | None = None) -> dict:
    """Check this worker and, for --execute, make what the notebooks train on here (a
    world-readable copy of the stand-in, or what the sandbox binds of --train-data) and
    split its test frames for the recomputed claims, once, as `batch.grade` does."""
    folder = process_folder()
    problems, frames = check_worker(settings, train_print)
    state = {"problems": problems, "frames": frames, "scratch": None, "standin": None,
             "train_bind": None, "root": os.geteuid() == 0}  # fmt: skip
    if settings.execute and not problems:
        state["scratch"] = scratch = Path(tempfile.mkdtemp(prefix="training-", dir=folder))
        what = "the MADS stand-in the notebooks train on"
        try:
            if settings.train_data is None:
                state["standin"] = root = public_copy(standin_folder(), scratch / "mads")
            else:
                what = f"the training data {settings.train_data} (--train-data)"
                state["train_bind"] = root = traindata.bindable(settings.train_data, scratch)
            if settings.rubric.recompute:  # kept in memory for this worker's tasks
                traindata.claims_frames(root, settings.profile.mads_size,
                                        settings.rubric.recompute)  # fmt: skip
        except GradingError as exc:
            problems.append(str(exc))
        except Exception as exc:  # noqa: BLE001 - said as what the worker lacks
            problems.append(f"{what}: {type(exc).__name__}: {exc}")
    return state


def release(name: str) -> None:
    """Forget check `name`; with the last one gone, remove this process's folder."""
    with _LOCK:
        state = _STATE.pop(name, None)
        if state and state["scratch"]:
            remove_tree(state["scratch"])
        if not _STATE and "own" in _FOLDER:
            remove_tree(_FOLDER.pop("own"))
            tempfile.tempdir = None


def worker_label(worker) -> str:
    """How messages name a worker: its Dask name, address and machine."""
    return f"worker {worker.name} ({worker.address} on {socket.gethostname()})"


class WorkerCheck(WorkerPlugin):
    """Runs `prepare_worker` on every worker as it starts (or joins later) and keeps what it
    found for the tasks and for `worker_report`; removes the worker's copies at the end."""

    def __init__(self, name: str, settings: Settings, train_print: str | None = None):
        self.name, self.settings, self.train_print = name, settings, train_print

    async def setup(self, worker):
        # in a thread: the worker's event loop keeps running
        state = await asyncio.to_thread(prepare_worker, self.settings, self.train_print)
        with _LOCK:
            _STATE[self.name] = state

    def teardown(self, worker):
        release(self.name)


def worker_report(name: str, dask_worker=None) -> dict | None:
    """For `client.run`: what check `name` found here (None: not run here yet)."""
    with _LOCK:
        state = _STATE.get(name)
    if state is None:
        return None
    return {"worker": worker_label(dask_worker), "problems": state["problems"],
            "frames": state["frames"], "root": state["root"]}  # fmt: skip


def grade_task(sub: Submission, settings: Settings, name: str,
               train_print: str | None = None) -> dict:  # fmt: skip
    """One submission, on a worker: its grades.csv row, its feedback page (bytes; None when it
    could not be written) and the worker's name. WorkerRefused where check `name` failed."""
    worker = get_worker()
    with _LOCK:
        state = _STATE.get(name)
    if state is None:  # a worker that joined after the check was registered, and not set up
        mine = prepare_worker(settings, train_print)
        with _LOCK:
            state = _STATE.setdefault(name, mine)
        if state is not mine and mine["scratch"]:  # the start-up check won the race
            remove_tree(mine["scratch"])
    if state["problems"]:
        raise WorkerRefused(f"{worker_label(worker)}: {'; '.join(state['problems'])}.")
    settings = dataclasses.replace(settings, standin=state["standin"],
                                   train_bind=state["train_bind"])  # fmt: skip
    pages = Path(tempfile.mkdtemp(prefix="segcourse-page-", dir=process_folder()))
    try:
        page = pages / "page.html"
        # slot 0: with one job per grading run (Settings.jobs) no cores are pinned, and each
        # sandbox claims a uid of its own on this machine (`sandbox.claim_uid`)
        row = grade_and_write(sub, settings, 0, page)
        body = page.read_bytes() if page.is_file() else None
    finally:
        remove_tree(pages)
    return {"row": row, "page": body, "worker": worker_label(worker)}
