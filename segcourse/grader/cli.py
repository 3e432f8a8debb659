"""`python -m segcourse grade`: the grader's command line (options in, `batch` does the work).

python -m segcourse grade SUBMISSIONS --hidden HIDDEN --out OUT [--execute | --no-execute]
    [--timeout S] [--memory GB] [--jobs N] [--shard I/N] [--profile P] [--no-sandbox]
    [--disk GB] [--eval-timeout S] [--max-macs N] [--train-data DIR]
    [--cluster ADDRESS | --cluster local:N]   (on Dask: `cluster`, needs segcourse[cluster])
python -m segcourse grade --merge OUT1 OUT2 ... [--out OUT]
python -m segcourse grade make-hidden MADS_ROOT --sequences N --seed S --train OUT_TRAIN
    --hidden OUT_HIDDEN [--link]   (split by whole sequences: `hidden`)
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from .batch import DISK_GB, EVAL_TIMEOUT_S, MAX_MACS, grade, merge
from .statuses import GradingError
from .submissions import parse_shard

# escape sequences (CSI, OSC, other ESC x) and then any control character left
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?|\x9b[0-?]*[ -/]*[@-~]"
)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def console(text) -> str:
    """Text safe to print on a terminal: no escape sequence or control character of a student
    name survives, and what the terminal cannot encode is written as backslash escapes."""
    text = _CONTROL.sub("?", _ESCAPES.sub("", str(text)))
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    return text.encode(encoding, "backslashreplace").decode(encoding)


def build_parser() -> argparse.ArgumentParser:
    """Options of `python -m segcourse grade`."""
    p = argparse.ArgumentParser(
        prog="python -m segcourse grade",
        description="Grade lab notebooks: re-run each in a bubblewrap sandbox, score the saved "
        "model on hidden data, write grades.csv, feedback pages, summary.md and a figure.",
        epilog="`grade make-hidden MADS_ROOT --sequences N ...` splits a MADS archive by whole "
        "sequences into a training and a hidden set (`grade make-hidden --help`).",
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
    p.add_argument("--disk", type=float, default=DISK_GB,
                   help=f"GB a notebook run may write (a tmpfs, needs root; 0: no limit; {DISK_GB:g})")  # fmt: skip
    p.add_argument("--eval-timeout", type=float, default=EVAL_TIMEOUT_S,
                   help=f"seconds to evaluate one model on the hidden data ({EVAL_TIMEOUT_S:g})")  # fmt: skip
    p.add_argument("--max-macs", type=float, default=MAX_MACS,
                   help="multiply-adds per pixel a model may need, counted before it runs "
                   f"(0: no bound; {MAX_MACS:,.0f})")  # fmt: skip
    p.add_argument("--jobs", type=int, default=1, help="submissions graded in parallel (1)")
    p.add_argument("--shard", help="grade only shard I of N (I/N, stable per student)")
    p.add_argument("--cluster", metavar="ADDRESS|local:N",
                   help="grade on a Dask cluster: a scheduler address, or local:N for N worker "
                   "processes on this machine (resumable; see lab/README.md)")  # fmt: skip
    p.add_argument("--profile", help="ci, cpu or gpu: notebook parameters and image size")
    p.add_argument("--no-sandbox", dest="sandbox", action="store_false",
                   help="run student code without bubblewrap (trusted code only)")  # fmt: skip
    p.add_argument("--rubric", help="rubric TOML (default lab/rubric.toml)")
    p.add_argument("--train-data", metavar="DIR",
                   help="real MADS training frames for the re-run (read-only; refused when it "
                   "shares a frame with --hidden); default: the synthetic stand-in")  # fmt: skip
    p.add_argument("--merge", nargs="+", metavar="OUT", help="merge the grades of these folders")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    """`python -m segcourse grade ...` (and `grade make-hidden ...`)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["make-hidden"]:
        from .hidden import main as make_hidden

        return make_hidden(argv[1:])
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
        if args.jobs < 1 or args.timeout <= 0 or args.memory <= 0 or args.eval_timeout <= 0:
            parser.error("--jobs, --timeout, --memory and --eval-timeout must be positive")
        if args.disk < 0 or args.max_macs < 0:
            parser.error("--disk and --max-macs must be 0 (no limit) or positive")
        if args.cluster:
            return _grade_on_cluster(parser, args)
        rows = grade(args.submissions, args.hidden, args.out, jobs=args.jobs, **_options(args))
    except GradingError as exc:
        print(console(f"grade: {exc}"), file=sys.stderr)
        return 2
    _print_rows(rows, args.out)
    return 0


def _options(args) -> dict:
    """The grading options that `grade` and `grade_on_cluster` share, from the command line."""
    return dict(
        execute=args.execute, timeout=args.timeout, memory_gb=args.memory,
        shard=parse_shard(args.shard) if args.shard else None, profile=args.profile,
        sandbox=args.sandbox, rubric=args.rubric, progress=not args.quiet, disk_gb=args.disk,
        eval_timeout=args.eval_timeout, max_macs=args.max_macs or None, train_data=args.train_data,
    )  # fmt: skip


def _print_rows(rows: list[dict], out) -> None:
    for row in rows:
        print(console(f"{row['student']:<24} {row['status']:<16} {row['score']:>6} / "
                      f"{row['max_score']}"))  # fmt: skip
    print(console(f"grades: {Path(out) / 'grades.csv'}"))


def _grade_on_cluster(parser, args) -> int:
    """`grade ... --cluster`: the batch on Dask (imported here: dask is an optional extra)."""
    if args.jobs != 1:
        parser.error("--jobs is for grading on this machine; with --cluster the workers' "
                     "threads set how many submissions run at once (local:N for N here)")  # fmt: skip
    try:
        from .cluster import grade_on_cluster
    except ImportError as exc:
        print(f"grade: --cluster needs dask.distributed ({exc}): pip install 'segcourse[cluster]' "
              "(or pip install 'dask[distributed]').", file=sys.stderr)  # fmt: skip
        return 2
    stats: dict = {}
    try:
        rows = grade_on_cluster(args.submissions, args.hidden, args.out, cluster=args.cluster,
                                stats=stats, **_options(args))  # fmt: skip
    except GradingError as exc:
        print(console(f"grade: {exc}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130  # what arrived is in OUT; the same command grades the rest
    _print_rows(rows, args.out)
    print(console(stats["line"]))
    return 0
