"""Profile selection, and proof that CI really runs the small ci profile."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from segcourse import course
from segcourse.profiles import PROFILE_NAMES, PROFILES, get_profile

ROOT = Path(__file__).resolve().parents[1]


def test_each_name_selects_its_profile():
    for name in PROFILE_NAMES:
        assert get_profile(name).name == name
        assert get_profile(f" {name.upper()} ") is PROFILES[name]


def test_environment_variable_selects_profile(monkeypatch):
    monkeypatch.setenv("SEGCOURSE_PROFILE", "cpu")
    assert get_profile().name == "cpu"
    assert get_profile("ci").name == "ci"  # an explicit name wins over the environment


def test_bad_name_raises_a_clear_error(monkeypatch):
    with pytest.raises(ValueError, match="Unknown profile 'huge'.*ci, cpu, gpu"):
        get_profile("huge")
    monkeypatch.setenv("SEGCOURSE_PROFILE", "fast")
    with pytest.raises(ValueError, match="'fast'"):
        get_profile()


def test_profiles_grow_from_ci_to_gpu():
    ci, cpu, gpu = (PROFILES[n] for n in ("ci", "cpu", "gpu"))
    assert ci.image_size < cpu.image_size < gpu.image_size == 256
    assert ci.epochs < cpu.epochs < gpu.epochs
    assert ci.show_every == 0 and cpu.show_every > 0 and gpu.show_every > 0
    assert gpu.precision in ("mixed_bfloat16", "mixed_float16")
    assert ci.precision == cpu.precision == "float32"


@pytest.mark.skipif(not os.environ.get("CI"), reason="only meaningful inside CI")
def test_ci_runs_the_ci_profile():
    assert os.environ.get("SEGCOURSE_PROFILE") == "ci"
    assert get_profile().name == "ci"


def test_make_test_runs_the_python_entry_point_with_the_ci_profile(monkeypatch):
    """`make -n test` shows the real recipe: it calls `python -m segcourse test`, whose
    profile is the one given, else $SEGCOURSE_PROFILE, else ci."""
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    env = {k: v for k, v in os.environ.items() if k != "SEGCOURSE_PROFILE"}
    dry = subprocess.run(
        ["make", "-n", "test"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert any(ln.rstrip().endswith("-m segcourse test") for ln in dry.splitlines()), dry
    monkeypatch.delenv("SEGCOURSE_PROFILE", raising=False)
    assert course.test_profile() == "ci"
    assert course.test_profile("gpu") == "gpu"
    monkeypatch.setenv("SEGCOURSE_PROFILE", "cpu")
    assert course.test_profile() == "cpu"


def test_ci_entry_point_exports_the_ci_profile():
    ci_run = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^export SEGCOURSE_PROFILE=ci$", ci_run, re.MULTILINE)
    assert ci_run.index("SEGCOURSE_PROFILE=ci") < ci_run.index("make test")
