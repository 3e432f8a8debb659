"""Profile selection, and proof that CI really runs the small ci profile."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

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


def test_make_test_runs_the_ci_profile():
    """`make -n test` shows the real recipe; run its environment prefix to see what it sets."""
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    env = {k: v for k, v in os.environ.items() if k != "SEGCOURSE_PROFILE"}
    dry = subprocess.run(
        ["make", "-n", "test"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    line = next((ln for ln in dry.splitlines() if "-m pytest" in ln), None)
    assert line, f"make test does not run pytest:\n{dry}"
    prefix = line.split(" -m pytest")[0]  # e.g. "SEGCOURSE_PROFILE=${...:-ci} .venv/bin/python"
    assert "SEGCOURSE_PROFILE=" in prefix, "make test does not set SEGCOURSE_PROFILE"
    assignments = " ".join(w for w in prefix.split() if "=" in w)
    shown = subprocess.run(
        ["sh", "-c", f"{assignments} sh -c 'echo $SEGCOURSE_PROFILE'"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert shown == "ci"


def test_ci_entry_point_exports_the_ci_profile():
    ci_run = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^export SEGCOURSE_PROFILE=ci$", ci_run, re.MULTILINE)
    assert ci_run.index("SEGCOURSE_PROFILE=ci") < ci_run.index("make test")
