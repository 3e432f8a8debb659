"""Command line: `python -m devtools.bench BENCHMARK [options]`, from the project root.

Each benchmark module has `add_parser(subparsers)` for its options and `run(args) -> int`; only
the benchmark that runs imports what it needs (the load benchmark imports no DL backend).
"""

from __future__ import annotations

import argparse
import sys

from . import grade, load, train

BENCHMARKS = (load, train, grade)


def main(argv: list[str] | None = None) -> int:
    """Parse `argv` (default: the command line), run the chosen benchmark, return its status."""
    parser = argparse.ArgumentParser(
        prog="python -m devtools.bench", description="Benchmarks of the course's helpers."
    )
    subparsers = parser.add_subparsers(dest="benchmark", required=True)
    for benchmark in BENCHMARKS:
        benchmark.add_parser(subparsers)
    args = parser.parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
