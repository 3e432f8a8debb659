"""Fixtures shared by the tests: tiny fake archives (built by `trees`) and an isolated data folder.

`isolated_data` points the cache, the env vars and the working directory at tmp_path.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from trees import make_mads_tree, make_ph2_tree


@pytest.fixture
def isolated_data(tmp_path, monkeypatch):
    """Cache, env vars, working directory and project root all point into tmp_path."""
    monkeypatch.setenv("SEGCOURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("PH2_ROOT", raising=False)
    monkeypatch.delenv("MADS_ROOT", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    import segcourse.paths

    monkeypatch.setattr(segcourse.paths, "project_root", lambda start=None: tmp_path / "project")
    return tmp_path


@pytest.fixture
def ph2_tree(tmp_path) -> Path:
    """A default fake PH2 archive (6 cases, all quirks)."""
    return make_ph2_tree(tmp_path)


@pytest.fixture
def mads_tree(tmp_path) -> Path:
    """A default fake MADS archive (5 pairs, double-nested with df.csv and collages)."""
    return make_mads_tree(tmp_path)
