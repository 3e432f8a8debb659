"""`python -m segcourse grade`: the grader's command line (options in, `batch` does the work).

python -m segcourse grade SUBMISSIONS --hidden HIDDEN --out OUT [--execute | --no-execute]
    [--timeout S] [--memory GB] [--jobs N] [--shard I/N] [--profile P] [--no-sandbox]
python -m segcourse grade --merge OUT1 OUT2 ... [--out OUT]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from .batch import grade, merge
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
        print(console(f"grade: {exc}"), file=sys.stderr)
        return 2
    for row in rows:
        print(console(f"{row['student']:<24} {row['status']:<16} {row['score']:>6} / "
                      f"{row['max_score']}"))  # fmt: skip
    print(console(f"grades: {Path(args.out) / 'grades.csv'}"))
    return 0
