"""Grading on a Dask cluster: `grade SUBMISSIONS --hidden H --out OUT --cluster ADDRESS|local:N`.

One task per submission runs `batch.grade_and_write` (what `grade --jobs` runs in each thread)
on a worker, and the client writes each result (the grades.csv row with the model's score, and
the feedback page) into OUT as soon as it arrives: a temporary file in OUT, then `os.replace`.
Stopping the client, a dying worker or a restarting scheduler therefore loses only the
submissions in flight, and running the same command again grades only the students missing
from grades.csv, never one twice. The client keeps one task per worker thread in flight, so a
worker that dies takes only its own submission with it; the scheduler runs such a task once
more (`allowed-failures` is 1 for the run), and a second death records it as `worker_died`.

Workers need, at the same paths as the client, the submissions, the hidden data and
`--train-data` (the same frames that the client checked against `--hidden`), and the course
environment with bubblewrap: `daskworker.WorkerCheck` checks each worker as it starts, and the
run refuses a worker that lacks any of it, naming the worker and what is missing. Each task
gets the run's `Settings` (every option: folders, limits, profile, rubric), paths and numbers,
never data: the hidden and training frames are read on the workers, by the sandboxed runs only.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
from contextlib import contextmanager, suppress
from pathlib import Path

import dask
from distributed import Client, LocalCluster, as_completed
from distributed.scheduler import KilledWorker

from . import traindata
from .batch import (
    DISK_GB,
    EVAL_TIMEOUT_S,
    MAX_MACS,
    Settings,
    limits_note,
    pending,
    prepare_run,
    summary_note,
)
from .daskworker import (
    WorkerCheck,
    WorkerRefused,
    frames_print,
    grade_task,
    machine_folder,
    sweep_dead,
    worker_report,
)
from .reports import Outcome, write_feedback, write_grades, write_summary
from .rubric import score_items
from .statuses import GradingError
from .submissions import Submission

ALLOWED_FAILURES = 1  # worker deaths a task may survive; one more and it is `worker_died`
CONNECT_TIMEOUT_S = 30
LOCK_FILE = ".grading.lock"  # in OUT: one grading run writes an OUT folder at a time
ADVICE = (
    "Each worker needs the course environment (the same virtual environment), bubblewrap, and "
    "the submissions, hidden and --train-data folders at the same paths as here; fix the "
    "workers named above and run the same command again."
)


def parse_cluster(text: str) -> int | str:
    """`local:N` -> N (worker processes on this machine); anything else: a scheduler address."""
    text = (text or "").strip()
    if text.startswith("local"):
        match = re.fullmatch(r"local:(\d+)", text)
        if not match or int(match[1]) < 1:
            raise GradingError(
                f"--cluster {text!r}: write local:N with N >= 1 worker processes (e.g. local:2), "
                "or the address of a Dask scheduler (e.g. tcp://10.0.0.5:8786)."
            )
        return int(match[1])
    if not text:
        raise GradingError("--cluster needs a Dask scheduler address (tcp://HOST:PORT) or local:N.")
    return text


def run_token(settings: Settings) -> str:
    """A short hash of what decides the grades of a run (every field of `settings`: folders,
    mode, limits, training data, profile, rubric): the same command names its tasks the same,
    any other run differently."""
    fields = dataclasses.asdict(dataclasses.replace(settings, rubric=None, profile=None))
    fields.update(rubric=settings.rubric.data, profile=settings.profile.name)
    text = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@contextmanager
def connect(target: int | str):
    """A client of a new LocalCluster of `target` worker processes on 127.0.0.1, or of the
    scheduler at address `target`; either way with allowed-failures ALLOWED_FAILURES."""
    if isinstance(target, int):
        with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
            cluster = LocalCluster(n_workers=target, threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address=None)  # fmt: skip
        try:
            with Client(cluster) as client:
                yield client
        finally:
            cluster.close()
            if machine_folder().is_dir():
                sweep_dead(machine_folder())
        return

    def set_failures(value, dask_scheduler=None):  # sent by value: no segcourse needed there
        old, dask_scheduler.allowed_failures = dask_scheduler.allowed_failures, value
        return old

    try:
        client = Client(target, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        raise GradingError(f"--cluster {target}: no Dask scheduler answered there ({exc}). "
                           "Start one (`dask scheduler`), or grade with --cluster local:N.") from None  # fmt: skip
    try:
        try:
            old = client.run_on_scheduler(set_failures, ALLOWED_FAILURES)
        except Exception as exc:  # noqa: BLE001 - said, with the setting to make by hand
            raise GradingError(
                f"--cluster {target}: could not set the scheduler's allowed-failures to "
                f"{ALLOWED_FAILURES} through Client.run_on_scheduler ({type(exc).__name__}: "
                f"{exc}); the grader needs that call for a retry limit it can rely on."
            ) from None
        try:
            yield client
        finally:
            with suppress(Exception):  # the scheduler may be gone: nothing to restore
                client.run_on_scheduler(set_failures, old)
    finally:
        client.close()


def task_key(sub: Submission, token: str, again: bool = False) -> str:
    """The Dask key of `sub`'s task in the run of `run_token` `token` (`again`: resubmitted)."""
    return f"segcourse-grade-{sub.safe_name}-{token}" + ("-again" if again else "")


def start_workers(client, name: str, settings: Settings, say,
                  train_print: str | None = None) -> int:  # fmt: skip
    """Register check `name` on every worker; refuse those that fail it (`train_print`: what
    `frames_print` says of --train-data here). The hidden frames."""
    if not client.nthreads():
        say(f"waiting for a worker to join the scheduler at {client.scheduler.address} ...")
        client.wait_for_workers(1)
    try:
        client.register_plugin(WorkerCheck(name, settings, train_print), name=name)
    except Exception as exc:  # noqa: BLE001 - a worker that cannot even run the check
        raise GradingError(f"a worker could not run the start-up check: "
                           f"{type(exc).__name__}: {exc}\n{ADVICE}") from None  # fmt: skip
    reports = [r for r in client.run(worker_report, name).values() if r is not None]
    if not reports:  # every worker left or restarted while it was being checked
        raise GradingError(f"no worker of {client.scheduler.address} stayed up through the "
                           "start-up check; look at the workers' logs, then run again.")  # fmt: skip
    refused = [f"{r['worker']}: {'; '.join(r['problems'])}." for r in reports if r["problems"]]
    if refused:
        raise GradingError("\n".join(["refused:", *refused, ADVICE]))
    seen = {r["worker"]: r["frames"] for r in reports}
    if len(set(seen.values())) != 1:
        listing = ", ".join(f"{w}: {n} frames" for w, n in sorted(seen.items()))
        raise GradingError(f"the workers do not see the same hidden data ({listing}); give every "
                           f"worker the same {settings.hidden}.")  # fmt: skip
    loose = [r["worker"] for r in reports if not r["root"]]
    if settings.execute and settings.disk_gb > 0 and loose:  # as `batch.grade` warns
        print(f"WARNING: --disk {settings.disk_gb:g} is not applied on {', '.join(loose)}: "
              "a size-capped tmpfs needs the worker to run as root; single files stay capped.",
              file=sys.stderr)  # fmt: skip
    return next(iter(seen.values()))


def write_atomic(dest: Path, body: bytes | Outcome) -> None:
    """Write `dest` (bytes, or the feedback page of an Outcome) whole or not at all: a
    temporary file beside it, then os.replace."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            if not isinstance(body, Outcome):
                handle.write(body)
        if isinstance(body, Outcome):
            write_feedback(body, Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def failed(sub: Submission, settings: Settings, status: str, reason: str) -> Outcome:
    """The outcome of a submission whose task never returned a grade."""
    outcome = Outcome(sub.student, max_score=settings.rubric.max_score)
    if sub.note:
        outcome.failures.append(sub.note)
    outcome.fail(status, reason)
    score_items(outcome, settings.rubric, {})
    return outcome


def result_of(future, sub: Submission, settings: Settings) -> tuple[dict, bytes | Outcome | None]:
    """The row and the page (or an Outcome to render) of a finished task."""
    try:
        result = future.result()
    except KilledWorker as exc:
        worker = getattr(exc.last_worker, "address", "?")
        reason = (f"the worker process grading it died {exc.allowed_failures + 1} times (last "
                  f"{worker}): a crash or the machine out of memory; delete this row from "
                  "grades.csv and run again to grade it once more")  # fmt: skip
        outcome = failed(sub, settings, "worker_died", reason)
        return outcome.row(), outcome
    except WorkerRefused as exc:
        raise GradingError(f"refused: {exc}\n{ADVICE}") from None
    except Exception as exc:  # noqa: BLE001 - one student's failure never stops the batch
        outcome = failed(sub, settings, "grader_error", f"{type(exc).__name__}: {str(exc)[:300]}")
        return outcome.row(), outcome
    return result["row"], result["page"]


def grade_on_cluster(
    submissions, hidden, out, *, cluster: str, execute: bool = True, timeout: float = 1800,
    memory_gb: float = 8, shard: tuple[int, int] | None = None, profile: str | None = None,
    sandbox: bool = True, rubric: str | os.PathLike | None = None, progress: bool = True,
    keep_models: bool = False, disk_gb: float = DISK_GB, eval_timeout: float = EVAL_TIMEOUT_S,
    max_macs: float | None = MAX_MACS, train_data: str | os.PathLike | None = None,
    stats: dict | None = None,
) -> list[dict]:  # fmt: skip
    """`grade()` on a Dask cluster (`cluster`: a scheduler address or local:N), with the same
    options: every not yet graded submission of this shard; returns all rows of grades.csv.
    `stats`, when given, is filled with this run's counts, times and rate, and `stats["line"]`
    says them in a line."""
    target = parse_cluster(cluster)
    submissions, hidden, out, rules, chosen = prepare_run(submissions, hidden, out, rubric, profile)
    train, train_print = None, None  # checked here, before any task is sent
    if train_data is not None:
        others = {"SUBMISSIONS": submissions, "OUT": out}
        train = traindata.check_option(train_data, execute, hidden, others)
        try:
            train_print = frames_print(train)  # what every worker must see there
        except OSError as exc:
            raise GradingError(f"--train-data {train}: cannot be read here: {exc}") from None
    if not sandbox:
        print("WARNING: --no-sandbox: student notebooks run with the workers' permissions, "
              "network and files. Only do this for code you trust.", file=sys.stderr)  # fmt: skip
    settings = Settings(
        submissions, hidden, out, rules, chosen, use_profile=profile is not None, execute=execute,
        timeout=timeout, memory_gb=memory_gb, sandbox=sandbox, standin=None,
        keep_models=keep_models, eval_timeout=eval_timeout, max_macs=max_macs, disk_gb=disk_gb,
        train_data=train,
    )  # fmt: skip
    stats = {} if stats is None else stats

    def say(text: str) -> None:
        if progress:
            print(text, file=sys.stderr, flush=True)

    out.mkdir(parents=True, exist_ok=True)
    with _out_lock(out), _stop_on_signals():
        subs, rows, todo = pending(submissions, out, shard)
        csv_path = out / "grades.csv"
        for partial in (out / "feedback").glob(".*.tmp"):  # what a stopped run was writing
            partial.unlink()
        stats.update(graded=0, skipped=len(subs) - len(todo), counts={}, seconds=0.0)
        if not todo and (out / "summary.md").is_file():
            stats["line"] = f"nothing to grade: all {len(subs)} students are in {csv_path}"
            return sorted(rows.values(), key=lambda r: r["student"])
        started = time.monotonic()
        with connect(target) as client:
            name = f"segcourse-grade-{run_token(settings)}"
            frames = start_workers(client, name, settings, say, train_print)
            threads = sum(client.nthreads().values())
            stats.update(startup_seconds=time.monotonic() - started, threads=threads)
            say(f"grading {len(todo)} submissions on {threads} worker threads at "
                f"{client.scheduler.address}; the hidden data: {frames} frames on every worker")  # fmt: skip
            try:
                _grade_all(client, todo, settings, name, rows, stats, progress, train_print)
            except KeyboardInterrupt:
                print(f"stopped: the {stats['graded']} results that arrived are in {csv_path}; "
                      "run the same command again to grade the rest.", file=sys.stderr)  # fmt: skip
                raise
            except (OSError, TimeoutError) as exc:
                raise GradingError(f"lost the Dask scheduler ({type(exc).__name__}: {exc}); the "
                                   f"results that arrived are in {csv_path}: run the same "
                                   "command again to grade the rest.") from None  # fmt: skip
            finally:
                with suppress(Exception):
                    client.unregister_worker_plugin(name)
        all_rows = sorted(rows.values(), key=lambda r: r["student"])
        write_grades(csv_path, all_rows)
        note = (f"{summary_note(execute, chosen, frames, rules, train)} {limits_note(settings)} Graded "
                f"on a Dask cluster of {stats['threads']} worker threads, one submission per thread at a time.")  # fmt: skip
        write_summary(out, all_rows, note)
    stats["line"] = _final_line(stats)
    return all_rows


def _grade_all(client, todo: list[Submission], settings: Settings, name: str, rows: dict,
               stats: dict, progress: bool, train_print: str | None = None) -> None:  # fmt: skip
    """Keep one task per worker thread in flight and commit each result as it arrives."""
    from tqdm.auto import tqdm

    token = run_token(settings)
    pending = list(reversed(todo))
    running: dict = {}
    resubmitted: set[str] = set()
    queue = as_completed()
    csv_path = settings.out / "grades.csv"

    def top_up():
        room = max(1, sum(client.nthreads().values())) - len(running)
        while pending and room > 0:
            sub = pending.pop()
            key = task_key(sub, token, again=sub.student in resubmitted)
            future = client.submit(grade_task, sub, settings, name, train_print, key=key,
                                   pure=False)  # fmt: skip
            running[future.key] = sub
            queue.add(future)
            room -= 1

    started = time.monotonic()
    with tqdm(total=len(todo), desc="grading", unit="student", disable=not progress) as bar:
        top_up()
        for future in _finished(queue):
            sub = running.pop(future.key)
            if future.status == "cancelled":  # the scheduler lost it (a restart): once more
                if sub.student not in resubmitted:
                    resubmitted.add(sub.student)
                    pending.append(sub)
                else:
                    stats.setdefault("lost", []).append(sub.student)
            else:
                row, page = result_of(future, sub, settings)
                dest = settings.out / "feedback" / f"{sub.safe_name}.html"
                if page is not None:
                    write_atomic(dest, page)
                rows[sub.student] = row
                write_grades(csv_path, list(rows.values()))
                stats["graded"] += 1
                stats["counts"][row["status"]] = stats["counts"].get(row["status"], 0) + 1
                stats["seconds"] = time.monotonic() - started
                bar.update(1)
            top_up()


def _final_line(stats: dict) -> str:
    counts = ", ".join(f"{status} {n}" for status, n in sorted(stats["counts"].items()))
    rate = 3600 * stats["graded"] / stats["seconds"] if stats["seconds"] > 0 else 0.0
    stats["per_hour"] = rate
    line = (f"graded {stats['graded']} submissions in {stats['seconds']:.1f} s on "
            f"{stats.get('threads', 0)} worker threads ({counts or 'none'}): "
            f"{rate:.0f} submissions per hour")  # fmt: skip
    if stats["skipped"]:
        line += f"; {stats['skipped']} already in grades.csv"
    if stats.get("lost"):
        line += f"; {len(stats['lost'])} lost in flight, run again to grade them"
    return line


@contextmanager
def _out_lock(out: Path):
    """Hold OUT for this run: a second run on the same OUT is refused, not interleaved."""
    handle = open(out / LOCK_FILE, "a")  # noqa: SIM115 - held for the run
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise GradingError(f"{out}: another grading run is writing this folder (it holds "
                           f"{LOCK_FILE}); wait for it to end, or grade into another --out.") from None  # fmt: skip
    try:
        yield
    finally:
        handle.close()


class _StopRequest:
    """Ctrl-C or SIGTERM while results are awaited: the wait loop stops between two results."""

    def __init__(self):
        self.requested = False
        self.polling = False  # inside _finished(), which checks `requested` itself


_STOP = _StopRequest()


@contextmanager
def _stop_on_signals():
    """Ctrl-C and SIGTERM stop the run (the cluster is shut down, OUT stays whole).

    While results are awaited the handler only sets a flag, and the wait loop stops between
    two results: an exception raised inside Dask's client code can be caught there and lost.
    Elsewhere (connecting, starting the workers) it raises KeyboardInterrupt at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        _STOP.requested = True
        if not _STOP.polling:
            raise KeyboardInterrupt

    _STOP.requested = _STOP.polling = False
    old = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        _STOP.requested = _STOP.polling = False


def _finished(queue):
    """The futures of `queue` as they finish, polled every 50 ms, so that a stop request ends
    the loop (KeyboardInterrupt) between two results instead of inside a wait or a write."""
    _STOP.polling = True
    try:
        while not queue.is_empty():
            if _STOP.requested:
                raise KeyboardInterrupt
            batch = queue.next_batch(block=False)
            if not batch:
                time.sleep(0.05)
            yield from batch  # a batch that arrived is committed whole before a stop
    finally:
        _STOP.polling = False
