"""`bench grade`: grader throughput in submissions per hour, with and without re-execution."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .common import cpus


def add_parser(subparsers) -> None:
    """Options of `bench grade`."""
    parser = subparsers.add_parser(
        "grade",
        help="grader throughput: submissions per hour, --execute and --no-execute",
        description="Grades a small batch of copies of the lab's reference solution twice: "
        "re-executed in the sandbox with a profile (default ci), then --no-execute with the "
        "models that run saved, against a synthetic hidden set; reports submissions per hour.",
    )
    parser.add_argument("--n", type=int, default=4, help="submissions in the batch (4)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel jobs (2)")
    parser.add_argument("--profile", default="ci", help="profile of the re-runs (ci)")
    parser.add_argument("--notebook", default="lab/solution/body_segmentation.ipynb",
                        help="the notebook every student hands in")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per notebook")
    parser.add_argument("--no-sandbox", dest="sandbox", action="store_false",
                        help="run without bubblewrap (trusted code only)")  # fmt: skip
    parser.set_defaults(run=run)


def run(args) -> int:
    """Time `grade --execute` and `grade --no-execute` on the same small batch."""
    import shutil
    import tempfile

    from segcourse import grader, paths
    from segcourse.synth import synth_mads

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
        for mode in ("execute", "no-execute"):
            if mode == "no-execute":
                for name in names:
                    model = tmp / "out-execute" / "models" / f"{name}.keras"
                    if model.is_file():
                        shutil.copyfile(model, subs / name / "model.keras")
            start = time.perf_counter()
            rows = grader.grade(
                subs, hidden, tmp / f"out-{mode}", execute=mode == "execute",
                timeout=args.timeout, jobs=args.jobs, profile=args.profile,
                sandbox=args.sandbox, keep_models=True,
            )  # fmt: skip
            seconds = time.perf_counter() - start
            statuses = sorted({r["status"] for r in rows})
            results[mode] = (seconds, statuses, [r["score"] for r in rows])
    print(f"\ngrader throughput: {args.n} submissions, --jobs {args.jobs}, profile "
          f"{args.profile!r}, {cpus()} CPUs, sandbox {'on' if args.sandbox else 'OFF'}")  # fmt: skip
    print(f"{'mode':<12} {'seconds':>8} {'s/subm.':>8} {'subm./hour':>11}  statuses / scores")
    for mode, (seconds, statuses, scores) in results.items():
        print(f"{mode:<12} {seconds:8.1f} {seconds / args.n:8.1f} {3600 * args.n / seconds:11.0f}"
              f"  {','.join(statuses)} / {' '.join(scores)}")  # fmt: skip
    return 0
