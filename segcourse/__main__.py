"""Command line: `python -m segcourse COMMAND ...` (also installed as `segcourse`).

Each command lives in the module that owns the work and exposes `main(argv) -> int`.
"""

from __future__ import annotations

import importlib
import sys


def bench(rest: list[str]) -> int:
    """Forward `bench ...` to `python -m devtools.bench ...` of the source checkout."""
    from .paths import project_root

    root = project_root()
    if not (root / "devtools" / "bench").is_dir():
        print("the benchmarks live in devtools/ of a source checkout", file=sys.stderr)
        return 2
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from devtools.bench.__main__ import main as bench_main

    return int(bench_main(rest) or 0)


def course_job(job: str):
    """`run`, `test` and `lint`: the README's jobs in segcourse.course (what make calls)."""

    def start(rest: list[str]) -> int:
        from .course import main as course_main

        return course_main([job, *rest])

    return start


def translations(rest: list[str]) -> int:
    """`translations build|check|todo|messages`: the Norwegian notebooks and messages."""
    from .grader.translate import main as translate_main

    return translate_main(rest)


def starters(rest: list[str]) -> int:
    """`starters build|check`: the lesson notebooks' starters and the lab's."""
    from .grader.starter import starters_main

    return starters_main(rest)


COMMANDS = {
    "run": (course_job("run"), "prepare the data and execute every notebook into build/"),
    "test": (course_job("test"), "lint, then the whole test suite (ci profile by default)"),
    "lint": (course_job("lint"), "ruff check and ruff format --check (--fix repairs)"),
    "prepare": (
        "segcourse.data",
        "load PH2 and MADS once (real data or stand-in) and fill the cache",
    ),
    "synth": ("segcourse.synth", "write a synthetic PH2 or MADS stand-in in the real layout"),
    "download": ("segcourse.download", "download PH2 (checksummed) or MADS (Kaggle CLI)"),
    "bench": (bench, "benchmarks: load, train, grade (python -m devtools.bench)"),
    "grade": ("segcourse.grader.cli", "grade submitted lab notebooks in a sandbox"),
    "lab": (
        "segcourse.grader.starter",
        "build the lab starter notebook from the reference solution",
    ),
    "starters": (starters, "build (or check) every starter notebook from its solution"),
    "translations": (translations, "build (or check) the Norwegian notebooks and messages"),
}


def usage() -> str:
    lines = ["usage: python -m segcourse COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<10} {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "`python -m segcourse COMMAND --help` shows a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"segcourse: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    target = COMMANDS[command][0]
    run = target if callable(target) else importlib.import_module(target).main
    return int(run(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
