"""The README's two jobs as Python commands: `python -m segcourse run` executes every notebook
into build/ and `python -m segcourse test` lints and runs the whole suite.

`make run` and `make test` call these, so the path with `make` (Linux, macOS) and the path
without it (Windows PowerShell) are one code path. Each job runs from the project root.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from segcourse.paths import project_root

LINTED = ("segcourse", "tests", "notebooks", "lab", "lesson", "devtools")
TEST_PATHS = ("tests", "notebooks", "lab/solution")
NBVAL_OPTIONS = (
    "--nbval-lax",
    "--nbval-current-env",
    "--nbval-cell-timeout=1800",
    "--nbval-kernel-startup-timeout=300",
)
# nbconvert's lab template with the figures' alt text (see the template's first lines)
HTML_TEMPLATE = Path(__file__).resolve().parent / "templates" / "notebook.html.j2"
QUIET = {  # TensorFlow's C++ start-up banner (INFO lines); warnings and errors still show
    "TF_CPP_MIN_LOG_LEVEL": "1",
}


def quiet_environment() -> dict[str, str]:
    """The environment for child processes, with the backends' start-up chatter turned down."""
    env = dict(os.environ)
    for key, value in QUIET.items():
        env.setdefault(key, value)
    return env


def notebooks(root: Path) -> list[Path]:
    """The lesson notebooks (their solution versions) in order, then the lab's reference solution."""
    found = sorted((root / "notebooks" / "solutions").glob("*.ipynb"))
    return found + sorted((root / "lab" / "solution").glob("*.ipynb"))


def _step(argv: list[str], root: Path, env: dict | None = None) -> int:
    print("$ " + " ".join(argv), flush=True)
    return subprocess.call(argv, cwd=root, env=env or quiet_environment())


def run_notebooks(profile: str | None, only: list[str], build: Path) -> int:
    """Prepare the data, then execute each notebook with papermill and export it to HTML."""
    root = project_root()
    env = quiet_environment()
    env["SEGCOURSE_EXERCISES"] = "strict"  # the solution notebooks: a wrong answer is a failure
    if profile:
        env["SEGCOURSE_PROFILE"] = profile
    prepare = [sys.executable, "-m", "segcourse", "prepare"]
    if _step(prepare + (["--profile", profile] if profile else []), root, env):
        return 1
    build.mkdir(parents=True, exist_ok=True)
    chosen = [nb for nb in notebooks(root) if not only or any(key in nb.name for key in only)]
    if not chosen:
        print(f"segcourse run: no notebook matches {only}", file=sys.stderr)
        return 2
    for nb in chosen:
        out = build / nb.name
        print(f"== {nb.relative_to(root)} -> {out}", flush=True)
        papermill = [
            sys.executable,
            "-m",
            "papermill",
            "--cwd",
            str(nb.parent),
            "--progress-bar",
            str(nb),
            str(out),
        ]
        html = [
            sys.executable,
            "-m",
            "jupyter",
            "nbconvert",
            "--log-level",
            "WARN",
            "--to",
            "html",
            "--template-file",
            str(HTML_TEMPLATE),
            str(out),
        ]
        if _step(papermill, root, env) or _step(html, root, env):
            print(
                f"segcourse run: {nb.relative_to(root)} failed; its partly executed copy is {out}",
                file=sys.stderr,
            )
            return 1
    print(f"Executed notebooks, HTML and results are in {build}/")
    return 0


def lint(fix: bool = False) -> int:
    """ruff check and ruff format over the code and the notebooks."""
    root = project_root()
    ruff = [sys.executable, "-m", "ruff"]
    targets = [t for t in LINTED if (root / t).exists()]
    check = ruff + ["check"] + (["--fix"] if fix else []) + targets
    form = ruff + ["format"] + ([] if fix else ["--check", "--diff"]) + targets
    return _step(check, root) or _step(form, root)


def test_profile(given: str | None = None) -> str:
    """The profile the test suite runs: the one given, else $SEGCOURSE_PROFILE, else ci."""
    return given or os.environ.get("SEGCOURSE_PROFILE") or "ci"


def run_tests(profile: str, extra: list[str]) -> int:
    """Lint, prepare the data for `profile`, then pytest over tests, notebooks and the lab."""
    root = project_root()
    if lint():
        print(
            "segcourse test: lint failed; `python -m segcourse lint --fix` repairs most of it",
            file=sys.stderr,
        )
        return 1
    env = quiet_environment()
    env["SEGCOURSE_PROFILE"] = profile
    if _step([sys.executable, "-m", "segcourse", "prepare", "--profile", profile], root, env):
        return 1
    pytest = [sys.executable, "-m", "pytest", *TEST_PATHS, *NBVAL_OPTIONS, *extra]
    return _step(pytest, root, env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segcourse run|test|lint")
    parser.add_argument("job", choices=("run", "test", "lint"))
    parser.add_argument(
        "--profile",
        choices=("ci", "cpu", "gpu"),
        help="run profile (run: default $SEGCOURSE_PROFILE, else by hardware; "
        "test: default $SEGCOURSE_PROFILE, else ci)",
    )
    parser.add_argument("--build", default="build", help="run: output folder (default build/)")
    parser.add_argument("--fix", action="store_true", help="lint: let ruff repair what it can")
    parser.add_argument(
        "rest", nargs="*", help="run: notebook names to run (default all); test: extra pytest args"
    )
    args, unknown = parser.parse_known_args(argv)
    if args.job == "run":
        return run_notebooks(args.profile, args.rest + unknown, project_root() / args.build)
    if args.job == "lint":
        return lint(args.fix)
    return run_tests(test_profile(args.profile), args.rest + unknown)
