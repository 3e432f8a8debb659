"""`bench grade`: grader throughput in submissions per hour, with and without re-execution,
on this machine (`--jobs`) or on local Dask clusters (`--cluster local:1 --cluster local:2`)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .common import cpus

MODES = ("execute", "no-execute")


def add_parser(subparsers) -> None:
    """Options of `bench grade`."""
    parser = subparsers.add_parser(
        "grade",
        help="grader throughput: submissions per hour, --execute and --no-execute",
        description="Grades a small batch of copies of the lab's reference solution twice: "
        "re-executed in the sandbox with a profile (default ci), then --no-execute with the "
        "models that run saved, against a synthetic hidden set; reports submissions per hour. "
        "With --cluster (repeatable) it grades the batch on each cluster in turn and reports "
        "the rate of each and their ratio to the first.",
    )
    parser.add_argument("--n", type=int, default=4, help="submissions in the batch (4)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel jobs without --cluster (2)")
    parser.add_argument("--cluster", action="append", metavar="ADDRESS|local:N",
                        help="grade on this Dask cluster (repeat to compare, e.g. --cluster "
                        "local:1 --cluster local:2)")  # fmt: skip
    parser.add_argument("--profile", default="ci", help="profile of the re-runs (ci)")
    parser.add_argument("--notebook", default="lab/solution/body_segmentation.ipynb",
                        help="the notebook every student hands in")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per notebook")
    parser.add_argument("--no-sandbox", dest="sandbox", action="store_false",
                        help="run without bubblewrap (trusted code only)")  # fmt: skip
    parser.set_defaults(run=run)


def run(args) -> int:
    """Time `grade --execute` and `grade --no-execute` on the same small batch (on each
    cluster of --cluster, or on this machine with --jobs)."""
    import shutil
    import tempfile

    from segcourse import grader, paths
    from segcourse.synth import synth_mads

    targets = args.cluster or [None]
    if args.cluster:
        from segcourse.grader.cluster import grade_on_cluster, parse_cluster

        try:
            for target in targets:
                parse_cluster(target)  # a typo fails now, not after the first timed run
        except grader.GradingError as exc:
            print(f"bench grade: {exc}", file=sys.stderr)
            return 2
    notebook = paths.resolve(args.notebook)
    if not notebook.is_file():
        print(f"bench grade: {notebook} not found (pass --notebook).", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="segcourse-bench-grade-") as tmp:
        tmp = Path(tmp)
        hidden = synth_mads(tmp / "instructor" / "hidden", n=40, seed=99, progress=False)
        subs = tmp / "submissions"
        names = [f"student{i:02d}" for i in range(args.n)]
        for name in names:
            (subs / name).mkdir(parents=True)
            shutil.copyfile(notebook, subs / name / notebook.name)
        results = {}
        for t, target in enumerate(targets):
            for mode in MODES:
                out = tmp / f"out-{t}-{mode}"
                if mode == "no-execute":  # the models the first execute run saved
                    for name in names:
                        model = tmp / "out-0-execute" / "models" / f"{name}.keras"
                        if model.is_file():
                            shutil.copyfile(model, subs / name / "model.keras")
                options = dict(execute=mode == "execute", timeout=args.timeout,
                               profile=args.profile, sandbox=args.sandbox, keep_models=True)  # fmt: skip
                stats: dict = {}
                start = time.perf_counter()
                if target is None:
                    rows = grader.grade(subs, hidden, out, jobs=args.jobs, **options)
                else:
                    rows = grade_on_cluster(subs, hidden, out, cluster=target, stats=stats,
                                            **options)  # fmt: skip
                seconds = time.perf_counter() - start
                statuses = sorted({r["status"] for r in rows})
                grading = stats.get("seconds", seconds)
                results[(target, mode)] = (seconds, grading, statuses, [r["score"] for r in rows])
    where = f"clusters {', '.join(targets)}" if args.cluster else f"--jobs {args.jobs}"
    print(f"\ngrader throughput: {args.n} submissions, {where}, profile {args.profile!r}, "
          f"{cpus()} CPUs, sandbox {'on' if args.sandbox else 'OFF'}")  # fmt: skip
    print(f"{'run':<12} {'mode':<12} {'seconds':>8} {'grading':>8} {'subm./hour':>11}  "
          "statuses / scores")  # fmt: skip
    for (target, mode), (seconds, grading, statuses, scores) in results.items():
        print(f"{target or 'this machine':<12} {mode:<12} {seconds:8.1f} {grading:8.1f} "
              f"{3600 * args.n / grading:11.0f}  {','.join(statuses)} / {' '.join(scores)}")  # fmt: skip
    if len(targets) > 1:
        for mode in MODES:
            base = results[(targets[0], mode)][1]
            ratios = ", ".join(f"{t} {base / results[(t, mode)][1]:.2f}x" for t in targets[1:])
            print(f"{mode}: rate against {targets[0]}: {ratios}")
    print("seconds: the whole call; grading: from the first task to the last result (a "
          "cluster's start-up and checks left out; the same as seconds without --cluster)")  # fmt: skip
    return 0
