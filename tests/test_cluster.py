"""The grader on a real Dask cluster (a LocalCluster of 2 worker processes on 127.0.0.1): the
same grades.csv rows as the single-process grader (with --train-data and other limits too), a
worker killed mid-batch, a client stopped mid-batch and run again, and workers that lack the
hidden or the training data refused by name."""

from __future__ import annotations

import dataclasses
import fcntl
import html
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dask
import nbformat
import pytest
from distributed import Client, LocalCluster
from submissions import builders as b
from test_rubric_points import constant_model_bytes, hand_in, png_bytes
from test_sandbox import require_sandbox

from segcourse import grader
from segcourse.grader import batch, cluster, traindata
from segcourse.grader.daskworker import (
    frames_print,
    machine_folder,
    sweep_dead,
    train_data_problem,
)

ROOT = Path(__file__).resolve().parents[1]
COMPARED = [c for c in grader.CSV_COLUMNS if c != "seconds"]  # all but the time it took
OPTIONS = dict(timeout=120, memory_gb=6, profile="ci", progress=False)


# ------------------------------------------------------------------------------ no cluster


@pytest.mark.parametrize("text", ["local:0", "local:two", "local", " "])
def test_a_bad_cluster_spec_says_how_to_write_one(text):
    with pytest.raises(grader.GradingError, match="local:N"):
        cluster.parse_cluster(text)


def test_cluster_specs_are_a_worker_count_or_an_address():
    assert cluster.parse_cluster("local:3") == 3
    assert cluster.parse_cluster("tcp://10.0.0.5:8786") == "tcp://10.0.0.5:8786"


def test_jobs_and_cluster_do_not_mix(capsys):
    with pytest.raises(SystemExit):
        grader.main(["s", "--hidden", "h", "--out", "o", "--jobs", "2", "--cluster", "local:2"])
    assert "--jobs" in capsys.readouterr().err


def test_bench_grade_refuses_a_bad_cluster_before_grading(capsys):
    from devtools.bench.__main__ import main as bench

    assert bench(["grade", "--cluster", "local:1", "--cluster", "local:x"]) == 2
    assert "local:x" in capsys.readouterr().err


def test_every_grading_option_is_in_the_task_key(tmp_path):
    """The key of a task (what Dask knows it by) changes with --max-macs and the other options
    a cluster run now takes, and stays the same for the same command."""
    folders = [tmp_path / name for name in ("subs", "hidden", "out")]
    subs, hidden, out, rules, chosen = batch.prepare_run(*folders, None, "ci")
    base = batch.Settings(subs, hidden, out, rules, chosen, use_profile=True)
    sub = grader.Submission("ada", subs / "ada")
    key = cluster.task_key(sub, cluster.run_token(base))
    assert key == cluster.task_key(sub, cluster.run_token(batch.Settings(**vars(base))))
    changes = {"max_macs": 1000.0, "eval_timeout": 60.0, "disk_gb": 0.5,
               "train_data": tmp_path / "train"}  # fmt: skip
    for field, value in changes.items():
        other = cluster.task_key(
            sub, cluster.run_token(dataclasses.replace(base, **{field: value}))
        )
        assert other != key, field
    assert cluster.task_key(sub, cluster.run_token(dataclasses.replace(base, max_macs=None))) != key


def test_a_worker_is_told_what_it_cannot_read_of_the_train_data(tmp_path):
    """The start-up check's own function: a folder missing there, and other frames there than
    the ones the command checked against --hidden (one frame fewer)."""
    from segcourse.synth import synth_mads

    train = traindata.archive_of(synth_mads(tmp_path / "train", n=4, seed=2, progress=False), "t")
    here = frames_print(train)
    assert here.startswith("4 frames") and train_data_problem(train, here) is None
    missing = tmp_path / "not-mounted-here"
    assert "cannot be read here" in train_data_problem(missing, here)
    gone = next((train / "images").glob("*.png")).name
    for sub in ("images", "masks"):
        (train / sub / gone).unlink()
    assert "holds other frames here (3 frames" in train_data_problem(train, here)


def test_a_second_run_on_the_same_out_is_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "subs").mkdir()
    with open(out / cluster.LOCK_FILE, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(grader.GradingError, match="another grading run"):
            cluster.grade_on_cluster(tmp_path / "subs", tmp_path / "hidden", out,
                                     cluster="local:1", progress=False)  # fmt: skip


# ------------------------------------------------------------------------------ on a cluster


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A private cache with the MADS stand-in, and hidden test frames (10)."""
    from segcourse.synth import synth_mads

    root = tmp_path_factory.mktemp("cluster-course")
    synth_mads(root / "cache" / "synthetic" / "mads", n=16, seed=0, progress=False)
    hidden = synth_mads(root / "instructor" / "hidden-frames", n=10, seed=7, progress=False)
    old = os.environ.get("SEGCOURSE_CACHE")
    os.environ["SEGCOURSE_CACHE"] = str(root / "cache")  # before the workers start
    yield root, hidden
    if old is None:
        os.environ.pop("SEGCOURSE_CACHE", None)
    else:
        os.environ["SEGCOURSE_CACHE"] = old


@pytest.fixture(scope="module")
def dask_cluster(course):
    """A LocalCluster of 2 one-thread worker processes on 127.0.0.1 (default scheduler
    settings: the grader sets what it needs), its address and a client of the test's own."""
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as local,  # fmt: skip
        Client(local) as client,
    ):
        yield local.scheduler_address, client
    if machine_folder().is_dir():
        sweep_dead(machine_folder())


def ran(nb: dict) -> dict:
    """`nb` as if run top to bottom (every code cell numbered, no errors)."""
    for i, cell in enumerate(c for c in nb["cells"] if c["cell_type"] == "code"):
        cell["execution_count"] = i + 1
    return nb


def weak_model(tmp: Path) -> bytes:
    """A model.keras that calls every pixel a person (a real, safe model to evaluate)."""
    import keras

    inputs = keras.Input((64, 96, 3))
    outputs = keras.layers.Conv2D(1, 1, kernel_initializer="zeros", bias_initializer="ones")(inputs)
    keras.Model(inputs, outputs).save(tmp / "weak.keras")
    return (tmp / "weak.keras").read_bytes()


@pytest.fixture(scope="module")
def batches(tmp_path_factory):
    """Two SUBMISSIONS folders: one for --no-execute (submitted models and outputs) and a
    small one for --execute (notebooks that start in seconds), with their expected statuses."""
    root = tmp_path_factory.mktemp("cluster-batches")
    stored = root / "stored"
    b.write_folder(stored, "weak", ran(b.weak()), {"model.keras": weak_model(root)})
    crashed = ran(b.weak())
    crashed["cells"][-1]["outputs"] = [
        nbformat.v4.new_output("error", ename="ValueError", evalue="boom", traceback=[])
    ]
    b.write_folder(stored, "crashed", crashed)
    b.write_folder(stored, "unrun", b.weak())
    b.write_zip(stored, "zipslip", {"body_segmentation.ipynb": "{}", "../escaped.txt": "x"})
    b.write_bare(stored, "malformed", '{"cells": [ not json')
    b.write_folder(stored, "nonotebook", None, {"README.md": "forgot it"})
    b.write_folder(stored, "twice", ran(b.weak()))
    b.write_zip(stored, "twice", {"body_segmentation.ipynb": b.notebook_bytes(ran(b.weak()))})
    b.write_folder(stored, ".hidden", b.weak())
    executed = root / "executed"
    b.write_folder(executed, "hello", b.hostile("print('hello')"))
    b.write_folder(executed, "sysexit", b.hostile(b.SYS_EXIT))
    b.write_folder(executed, "nonotebook", None, {"README.md": "forgot it"})
    expected = {
        False: {"weak": "ok", "crashed": "cell_error", "unrun": "not_run",
                "zipslip": "unsafe_zip", "malformed": "invalid_notebook",
                "nonotebook": "no_notebook", "twice": "no_model", "twice.zip": "no_model",
                ".hidden": "skipped"},
        True: {"hello": "no_model", "sysexit": "cell_error", "nonotebook": "no_notebook"},
    }  # fmt: skip
    return {False: stored, True: executed}, expected


def test_the_cluster_grades_exactly_like_the_single_process_grader(
    course, dask_cluster, batches, tmp_path
):
    """About 20 s on a quiet 2-core machine: each batch is graded twice (on the cluster and in
    one process), and the model of `weak` is evaluated each time in a sandbox that imports
    Keras."""
    require_sandbox()
    _, hidden = course
    address, _ = dask_cluster
    folders, expected = batches
    for execute, subs in folders.items():
        alone, on_dask = tmp_path / f"alone-{execute}", tmp_path / f"dask-{execute}"
        single = grader.grade(subs, hidden, alone, execute=execute, jobs=2, **OPTIONS)
        stats: dict = {}
        rows = cluster.grade_on_cluster(
            subs, hidden, on_dask, cluster=address, execute=execute, stats=stats, **OPTIONS
        )
        assert {r["student"]: r["status"] for r in rows} == expected[execute]
        assert [[r[c] for c in COMPARED] for r in rows] == [
            [r[c] for c in COMPARED] for r in single
        ]
        written = grader.read_grades(on_dask / "grades.csv")
        assert [[r[c] for c in COMPARED] for r in written] == [
            [r[c] for c in COMPARED] for r in grader.read_grades(alone / "grades.csv")
        ]
        dask_md, alone_md = ((o / "summary.md").read_text().splitlines() for o in (on_dask, alone))
        notes = [next(ln for ln in md if ln.startswith("Notebooks ")) for md in (dask_md, alone_md)]
        assert notes[0].split(" Limits")[0] == notes[1].split(" Limits")[0]  # mode, frames...
        assert "Dask cluster of 2 worker threads" in notes[0]
        same = [sorted(ln for ln in md if ln not in notes) for md in (dask_md, alone_md)]
        assert same[0] == same[1]  # the table rows come in arrival order
        pages = sorted(p.name for p in (on_dask / "feedback").iterdir())
        assert pages == sorted(p.name for p in (alone / "feedback").iterdir())
        assert stats["graded"] == len(rows) and stats["counts"]["no_notebook"] == 1
        assert f"graded {len(rows)} submissions" in stats["line"]
        assert "submissions per hour" in stats["line"]
    stored = {r["student"]: r for r in grader.read_grades(tmp_path / "dask-False" / "grades.csv")}
    assert float(stored["weak"]["iou"]) > 0 and float(stored["weak"]["score"]) > 0  # scored


def processing_pid(client, needle: str, killed: set) -> tuple[str, int] | None:
    """The address and pid of a worker, not yet killed, that holds a task whose key contains
    `needle`."""
    for address, keys in client.processing().items():
        if address in killed or not any(needle in str(k) for k in keys):
            continue
        try:
            return address, client.run(os.getpid, workers=[address])[address]
        except Exception:  # noqa: BLE001 - it died meanwhile
            continue
    return None


def test_a_task_that_kills_its_worker_is_retried_once_then_recorded(course, dask_cluster, tmp_path):
    """The test kills the worker grading `sleeper` each time it holds it; the others finish."""
    require_sandbox()
    _, hidden = course
    address, client = dask_cluster
    subs, out = tmp_path / "subs", tmp_path / "out"
    b.write_folder(subs, "sleeper", b.hostile("time.sleep(300)"))
    b.write_folder(subs, "hello", b.hostile("print('hello')"))
    b.write_bare(subs, "malformed", '{"cells": [ not json')
    b.write_folder(subs, "nonotebook", None, {"README.md": "forgot it"})
    kills: list[int] = []
    done = threading.Event()

    def killer():
        killed: set = set()
        while not done.is_set() and len(kills) < 4:  # more than 2 would be a third attempt
            found = processing_pid(client, "sleeper", killed)
            if found:
                killed.add(found[0])
                os.kill(found[1], signal.SIGKILL)
                kills.append(found[1])
            time.sleep(0.1)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        rows = cluster.grade_on_cluster(subs, hidden, out, cluster=address, **OPTIONS)
    finally:
        done.set()
        thread.join(timeout=30)
    got = {r["student"]: r for r in rows}
    assert len(kills) == 2, kills
    assert got["sleeper"]["status"] == "worker_died", got["sleeper"]
    assert "died 2 times" in got["sleeper"]["reason"]
    assert {s: got[s]["status"] for s in ("hello", "malformed", "nonotebook")} == {
        "hello": "no_model", "malformed": "invalid_notebook", "nonotebook": "no_notebook"
    }  # fmt: skip
    students = [r["student"] for r in grader.read_grades(out / "grades.csv")]
    assert sorted(students) == ["hello", "malformed", "nonotebook", "sleeper"]
    assert "worker_died" in (out / "feedback" / "sleeper.html").read_text()
    default = dask.config.get("distributed.scheduler.allowed-failures")
    assert (
        client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures) == default
    )


def test_a_worker_without_the_hidden_data_is_refused_by_name(course, dask_cluster, tmp_path):
    address, client = dask_cluster
    subs, out = tmp_path / "subs", tmp_path / "out"
    b.write_folder(subs, "someone", ran(b.weak()))
    missing = tmp_path / "not-mounted-here"
    with pytest.raises(grader.GradingError) as info:
        cluster.grade_on_cluster(subs, missing, out, cluster=address, execute=False, **OPTIONS)
    text = str(info.value)
    names = client.run(lambda dask_worker: dask_worker.name).values()
    assert all(f"worker {name} (" in text for name in names), text
    assert text.count(f"the hidden data {missing} cannot be read here") == len(names)
    assert not (out / "grades.csv").exists()


def test_a_worker_that_cannot_read_the_train_data_is_refused_by_name(
    course, dask_cluster, tmp_path
):
    """The start-up check on real workers, with --train-data at a path the workers cannot read
    (the command itself refuses such a folder before any worker is asked)."""
    _, hidden = course
    _, client = dask_cluster
    missing = tmp_path / "not-mounted-here"
    folders = (tmp_path / "subs", hidden, tmp_path / "out")
    folders[0].mkdir()
    subs, hidden, out, rules, chosen = batch.prepare_run(*folders, None, "ci")
    settings = batch.Settings(subs, hidden, out, rules, chosen, use_profile=True, disk_gb=0,
                              train_data=missing)  # fmt: skip
    name = "segcourse-grade-test-train-data"
    try:
        with pytest.raises(grader.GradingError) as info:
            cluster.start_workers(client, name, settings, print, "10 frames, 0")
    finally:
        client.unregister_worker_plugin(name)
    text = str(info.value)
    names = client.run(lambda dask_worker: dask_worker.name).values()
    assert all(f"worker {name} (" in text for name in names), text
    assert text.count(f"the training data {missing} (--train-data) cannot be read here") == len(
        names
    )


def test_train_data_and_the_limits_reach_the_workers(course, tmp_path):
    """`grade --cluster local:2` with --train-data, --max-macs, --eval-timeout and --disk: the
    same grades.csv rows as the single-process grader with the same options. `reader` reads
    MADS_ROOT and hands in a constant model (its claims recomputed on --train-data's test
    split); `costly` hands in a model over --max-macs. Both notebooks are re-run and both
    models loaded in the sandbox twice, and the command starts a cluster of its own."""
    require_sandbox()
    from segcourse.synth import synth_mads

    _, hidden = course
    train = synth_mads(tmp_path / "instructor-train", n=40, seed=11, progress=False)
    inner = traindata.archive_of(train, "t")
    for name in {p.name for p in traindata.archive_of(hidden, "h").glob("images/*.png")}:
        for sub in ("images", "masks"):
            (inner / sub / name).unlink(missing_ok=True)
    marker = sorted(p.stem for p in (inner / "images").glob("*.png"))[0]
    look = "print('TRAINING FRAMES', MADS_ROOT, sorted(os.listdir(MADS_ROOT + '/images'))[:1])\n"
    claims = '{"test_iou": 0.5, "test_dice": 0.6}'
    subs = tmp_path / "subs"
    b.write_folder(subs, "reader", b.hostile(look + hand_in(claims)),
                   {"given.bin": constant_model_bytes(tmp_path, 1.0), "figure.bin": png_bytes()})  # fmt: skip
    b.write_folder(subs, "costly", b.hostile(hand_in(claims)),
                   {"given.bin": costly_model(tmp_path), "figure.bin": png_bytes()})  # fmt: skip
    limits = dict(max_macs=50, eval_timeout=300, disk_gb=0.5)
    alone, on_dask = tmp_path / "alone", tmp_path / "dask"
    single = grader.grade(subs, hidden, alone, jobs=2, train_data=train, **limits, **OPTIONS)
    code = grader.main([str(subs), "--hidden", str(hidden), "--out", str(on_dask), "--cluster",
                        "local:2", "--timeout", "120", "--memory", "6", "--profile", "ci",
                        "--train-data", str(train), "--max-macs", "50", "--eval-timeout", "300",
                        "--disk", "0.5", "--quiet"])  # fmt: skip
    assert code == 0
    rows = grader.read_grades(on_dask / "grades.csv")
    assert [[r[c] for c in COMPARED] for r in rows] == [[r[c] for c in COMPARED] for r in single]
    got = {r["student"]: r for r in rows}
    assert got["reader"]["status"] == "ok" and "recomputed on" in got["reader"]["reason"], got
    assert got["costly"]["status"] == "too_costly", got
    assert "the grader allows 50" in got["costly"]["reason"]  # not the default bound
    page = html.unescape((on_dask / "feedback" / "reader.html").read_text())
    assert f"TRAINING FRAMES {traindata.INSIDE_TRAIN} ['{marker}.png']" in page  # --train-data
    assert "synthetic stand-in" not in page and "512 MB" in page  # --disk 0.5
    summary = (on_dask / "summary.md").read_text()
    assert str(inner) in summary and "evaluation 300 s" in summary


def costly_model(tmp: Path) -> bytes:
    """A safe model.keras of 3x3 convolutions, a few hundred multiply-adds per pixel."""
    import keras

    inputs = keras.Input((64, 96, 3))
    hidden = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    keras.Model(inputs, keras.layers.Conv2D(1, 1)(hidden)).save(tmp / "costly.keras")
    return (tmp / "costly.keras").read_bytes()


def test_a_stopped_client_runs_again_without_grading_anyone_twice(course, tmp_path):
    """About 20 s on a quiet 2-core machine: `grade --cluster local:2` is stopped (SIGINT)
    after its first results, then run again; three notebooks each nap 3 s in the sandbox."""
    require_sandbox()
    _, hidden = course
    subs, out = tmp_path / "subs", tmp_path / "out"
    for i in range(3):
        b.write_folder(subs, f"nap{i}", b.hostile("time.sleep(3)"))
    b.write_bare(subs, "malformed", '{"cells": [ not json')
    b.write_folder(subs, "nonotebook", None, {"README.md": "forgot it"})
    everyone = ["malformed", "nap0", "nap1", "nap2", "nonotebook"]
    command = [sys.executable, "-m", "segcourse", "grade", str(subs), "--hidden", str(hidden),
               "--out", str(out), "--cluster", "local:2", "--profile", "ci", "--timeout", "120",
               "--quiet"]  # fmt: skip
    first = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while not grader.read_grades(out / "grades.csv") and time.monotonic() < deadline:
        assert first.poll() is None, first.communicate()[0]
        time.sleep(0.05)
    first.send_signal(signal.SIGINT)
    said = first.communicate(timeout=120)[0]
    assert first.returncode == 130, said
    assert "run the same command again" in said
    before = {r["student"]: r for r in grader.read_grades(out / "grades.csv")}
    assert 0 < len(before) < len(everyone), before
    pages = {s: (out / "feedback" / f"{s}.html").stat() for s in before}
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    rows = grader.read_grades(out / "grades.csv")
    assert sorted(r["student"] for r in rows) == everyone  # each exactly once, none lost
    after = {r["student"]: r for r in rows}
    assert all(after[s] == row for s, row in before.items())  # same time taken: not regraded
    for student, old in pages.items():  # os.replace would have made a new file
        new = (out / "feedback" / f"{student}.html").stat()
        assert (new.st_ino, new.st_mtime_ns) == (old.st_ino, old.st_mtime_ns)
    assert f"graded {len(everyone) - len(before)} submissions" in again.stdout
    assert f"{len(before)} already in grades.csv" in again.stdout
    assert {after[f"nap{i}"]["status"] for i in range(3)} == {"no_model"}
