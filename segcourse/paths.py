"""Where things live: the project root, the cache folder and the results folder.

Kept apart from the data layer so that notebooks, the grader and the loaders agree on the
same folders without importing each other.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def project_root(start: str | os.PathLike | None = None) -> Path:
    """The course checkout that holds `start` (default: the working directory).

    Notebooks run with their own folder as working directory, so relative defaults such as
    `build/results` are resolved against the checkout, found by walking up to the folder that
    holds both `pyproject.toml` and `segcourse/`. Outside a checkout: the working directory.
    """
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "segcourse").is_dir():
            return folder
    checkout = PACKAGE_DIR.parent
    if (checkout / "pyproject.toml").is_file():
        return checkout
    return here


def resolve(path: str | os.PathLike) -> Path:
    """An absolute path: relative paths count from the project root, not the notebook's folder."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else project_root() / path


def cache_dir() -> Path:
    """The cache folder: `SEGCOURSE_CACHE` if set, else the platform's user cache folder."""
    env = os.environ.get("SEGCOURSE_CACHE")
    if env:
        folder = Path(env).expanduser()
    else:
        import pooch

        folder = Path(pooch.os_cache("segcourse"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def results_dir(path: str | os.PathLike = "build/results") -> Path:
    """The folder where notebooks write their test metrics as JSON (created if missing)."""
    folder = resolve(path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
