"""The bubblewrap sandbox itself: private folders hidden, no network, limits really hold."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from segcourse.grader import sandbox as sb


def require_sandbox() -> None:
    """Skip without bwrap locally; in CI (env CI set) a missing sandbox is a failure."""
    problem = sb.sandbox_problem()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"CI must test the grader's sandbox, but: {problem}")
        pytest.skip(f"sandbox unavailable here: {problem}")


def run_inside(code: str, protected: list[Path], limits: sb.Limits | None = None) -> dict:
    """Run Python `code` in the sandbox as the grader would; it prints one JSON line."""
    limits = limits or sb.Limits(timeout=60, processes=64)
    args = sb.bwrap_args(
        protected=protected,
        rw={},
        ro={},
        env=sb.base_env(sb.INSIDE_TMP),
        chdir=sb.INSIDE_TMP,
        limits=limits,
    )
    prefix = "import segcourse.grader.worker as w; "
    if os.geteuid() == 0:
        prefix += f"w.drop_to({sb.SANDBOX_UID_BASE + 7}); "
    prefix += f"w.apply_limits({json.dumps(asdict(limits))}); "
    done = sb.run_command(
        [*args, sys.executable, "-I", "-c", prefix + code], timeout=limits.timeout
    )
    assert not done.timed_out, done.output
    return json.loads(done.output.strip().splitlines()[-1])


def test_private_folders_are_empty_and_system_is_read_only(tmp_path):
    require_sandbox()
    secret = tmp_path / "instructor" / "hidden"
    secret.mkdir(parents=True)
    (secret / "answers.txt").write_text("secret")
    (tmp_path / "instructor" / "other.txt").write_text("private too")
    code = f"""
import os, json
res = {{}}
res['hidden'] = os.path.exists({str(secret / "answers.txt")!r})
res['parent'] = os.path.exists({str(tmp_path / "instructor" / "other.txt")!r})
res['home'] = os.listdir('/root') if os.path.isdir('/root') else []
res['etc'] = os.path.exists('/etc/passwd')
try:
    open({str(Path(sb.__file__).parent / "pwned.txt")!r}, 'w')
    res['write'] = True
except OSError:
    res['write'] = False
res['uid'] = os.getuid()
print(json.dumps(res))
"""
    res = run_inside(code, [secret])
    assert res["hidden"] is False and res["parent"] is False
    assert res["etc"] is True and res["write"] is False
    assert not (Path(sb.__file__).parent / "pwned.txt").exists()
    if os.geteuid() == 0:
        assert res["uid"] != 0


def test_no_network_fails_fast(tmp_path):
    require_sandbox()
    code = """
import socket, time, json
out = {}
for host in ('127.0.0.1', '192.0.2.1'):
    t = time.monotonic()
    try:
        socket.create_connection((host, 22), timeout=5).close(); out[host] = 'connected'
    except OSError as exc:
        out[host] = [type(exc).__name__, round(time.monotonic() - t, 3)]
print(json.dumps(out))
"""
    res = run_inside(code, [tmp_path])
    assert res["192.0.2.1"][0] != "connected" and res["192.0.2.1"][1] < 1.0
    assert res["127.0.0.1"][0] == "ConnectionRefusedError"


def test_fork_bomb_is_capped_and_cleaned_up(tmp_path):
    require_sandbox()
    code = """
import os, time, json
n = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(30); os._exit(0)
        n += 1
except OSError as exc:
    print(json.dumps({'children': n, 'error': type(exc).__name__}))
"""
    start = time.monotonic()
    res = run_inside(code, [tmp_path], sb.Limits(timeout=60, processes=40))
    assert res["error"] == "BlockingIOError" and res["children"] < 40
    assert time.monotonic() - start < 25  # the sleeping children died with the sandbox
    if os.geteuid() == 0:
        left = subprocess.run(["ps", "-eo", "uid="], capture_output=True, text=True).stdout.split()
        assert str(sb.SANDBOX_UID_BASE + 7) not in left


def test_wall_clock_deadline_kills_the_whole_group():
    require_sandbox()
    args = sb.bwrap_args(
        protected=[],
        rw={},
        ro={},
        env=sb.base_env(sb.INSIDE_TMP),
        chdir=sb.INSIDE_TMP,
        limits=sb.Limits(),
    )
    start = time.monotonic()
    done = sb.run_command([*args, "sh", "-c", "sleep 100 & sleep 100"], timeout=2)
    assert done.timed_out and time.monotonic() - start < 20


def test_private_paths_cover_parents_but_never_root(tmp_path):
    paths = sb.private_paths(tmp_path / "a", "/")
    assert tmp_path in paths and Path("/") not in paths
