"""Command line: `python -m segcourse COMMAND ...` (also installed as `segcourse`).

Each command lives in the module that owns the work and exposes `main(argv) -> int`.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "prepare": ("segcourse.data", "load PH2 and MADS once (real data or stand-in) and fill the cache"),
    "synth": ("segcourse.synth", "write a synthetic PH2 or MADS stand-in in the real layout"),
    "download": ("segcourse.download", "download PH2 (checksummed) or MADS (Kaggle CLI)"),
    "bench": ("segcourse.bench", "benchmarks: load, train, grade"),
    "grade": ("segcourse.grading", "grade submitted lab notebooks in a sandbox"),
    "lab": ("segcourse.labtools", "build the lab starter notebook from the reference solution"),
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
    module = importlib.import_module(COMMANDS[command][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
