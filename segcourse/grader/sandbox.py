"""The bubblewrap sandbox around untrusted student code: mounts, namespaces, limits, uid.

The grader (`segcourse.grader.batch`) runs two kinds of work here: a student's notebook
(executed with nbclient, so the kernel is a child of the sandboxed runner) and the evaluation
of the model it saved (which reads the hidden data). Both run as
`python -I -m segcourse.grader.worker ...` inside `bwrap` (everything that runs inside lives in
`worker.py`; this module only launches it):

- the system is mounted read-only (`--ro-bind / /`); every private place is then covered by an
  empty tmpfs: `/tmp`, `/var/tmp`, `/root`, `/home`, `/mnt`, `/media`, `/srv`, `/run/user`, the
  grader's home and temp folder, and the folders that hold the submissions, the hidden data and
  the grader's output (each folder and its parent). The Python stack (the virtual environment,
  the base interpreter, `segcourse`) is then bound back read-only, so nothing else of those
  places shows;
- the work folder is bound read-write at `/tmp/submission` (also `HOME`), the grader's exchange
  folder at `/tmp/grader`; `/tmp` itself is a size-limited tmpfs (`/tmp/cache` is
  `SEGCOURSE_CACHE`, with the MADS stand-in bound read-only at `/tmp/cache/synthetic/mads`);
- new network, PID, IPC and UTS namespaces (no network at all: only a loopback of its own),
  `--die-with-parent`, `--new-session`, `--clearenv` with a minimal environment;
- limits (`Limits`, passed to the worker as JSON) set by the worker on itself before anything
  else (inherited by the kernel): address space, processes, file size, no core files; the
  grader adds a wall-clock deadline and nbclient a per-cell timeout (the time left).

Process limits need an unprivileged user: Linux does not enforce RLIMIT_NPROC for root. When
the grader runs as root, bwrap runs privileged (no user namespace; bwrap's own `--uid` needs
one) and would keep every capability of root unless told otherwise: it is given
`--cap-drop ALL` and then only CAP_SETUID/CAP_SETGID back, and the worker switches to a
dedicated uid (one per parallel job, so a fork bomb cannot starve the other jobs) before it
reads any student file, which clears those two as well. Both sandboxes (the notebook run and
the model's evaluation) do this, so student code and the model loader run with no capability
at all (`worker probe` reports the uid and the capability sets; the tests require 0). As an
ordinary user, bwrap makes a user namespace, every capability is dropped in it too, and the
limits count that namespace only.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

INSIDE_TMP = Path("/tmp")
INSIDE_WORK = INSIDE_TMP / "submission"
INSIDE_GRADER = INSIDE_TMP / "grader"
INSIDE_CACHE = INSIDE_TMP / "cache"
INSIDE_STANDIN = INSIDE_CACHE / "synthetic" / "mads"
INSIDE_HIDDEN = INSIDE_TMP / "hidden"
SANDBOX_UID_BASE = 61000  # uid of sandboxed code when the grader is root (+ the job slot)
WORKER = "segcourse.grader.worker"  # the module that runs inside, started with python -m
STANDARD_PRIVATE = ("/tmp", "/var/tmp", "/root", "/home", "/mnt", "/media", "/srv", "/run/user")


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create namespaces on this machine."""


@dataclass(frozen=True)
class Limits:
    """Resource limits for one sandboxed run (the worker gets them as JSON and applies them)."""

    timeout: float = 1800.0  # wall-clock seconds for the whole run
    memory_gb: float = 8.0  # address space (RLIMIT_AS) of each process
    processes: int = 512  # processes and threads (RLIMIT_NPROC)
    file_mb: int = 512  # largest file it may write (RLIMIT_FSIZE)
    tmp_mb: int = 2048  # size of the /tmp tmpfs inside the sandbox
    output_mb: float = 10.0  # cap on the stored outputs of an executed notebook


@dataclass
class RunResult:
    """What came back from one sandboxed command."""

    returncode: int | None
    output: str  # the last 64 KiB of stdout and stderr
    seconds: float
    timed_out: bool


# ------------------------------------------------------------------------------ availability

_PROBE: dict[str, str | None] = {}


def sandbox_problem() -> str | None:
    """Why the sandbox cannot run here (None when bwrap works); probed once per process."""
    if "result" not in _PROBE:
        _PROBE["result"] = _probe()
    return _PROBE["result"]


def _probe() -> str | None:
    if not sys.platform.startswith("linux"):
        return f"bubblewrap needs Linux (this is {sys.platform})."
    if shutil.which("bwrap") is None:
        return "bubblewrap (`bwrap`) is not installed: `apt-get install bubblewrap`."
    cmd = [*_namespace_args(), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"]
    try:
        done = subprocess.run(["bwrap", *cmd], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap could not start: {exc}"
    if done.returncode != 0:
        return f"bwrap cannot create namespaces here: {done.stderr.strip() or done.returncode}"
    return None


def _namespace_args(switch_uid: bool = True) -> list[str]:
    caps = ["--cap-drop", "ALL"]  # bwrap run by root keeps all of root's capabilities otherwise
    if os.geteuid() == 0:
        # privileged bwrap: no user namespace, so the uid switch inside is to a real uid;
        # every capability is dropped except (when switching) the two the switch needs
        if switch_uid:
            caps += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        return ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
                "--unshare-cgroup-try", *caps]  # fmt: skip
    return ["--unshare-all", *caps]


# ------------------------------------------------------------------------------ mounts


def stack_paths() -> list[Path]:
    """Folders the sandboxed Python needs: interpreter, virtual env, site-packages, segcourse."""
    found = [Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix)]
    found += [Path(p) for p in sys.path if p and Path(p).is_dir()]
    found.append(Path(__file__).resolve().parents[1])  # the segcourse package
    found.append(Path(os.path.realpath(sys.executable)).parent)
    return _dedupe(p.resolve() for p in found)


def private_paths(*protected: str | os.PathLike) -> list[Path]:
    """Places to cover with an empty tmpfs: the usual private folders, and each protected
    folder (submissions, hidden data, output) together with its parent."""
    found = [Path(p) for p in STANDARD_PRIVATE]
    found += [Path.home(), Path(tempfile.gettempdir())]
    for path in protected:
        path = Path(path).resolve()
        found.append(path)
        if path.parent != Path("/"):
            found.append(path.parent)
    return _dedupe(p for p in found if p.is_dir() and p != Path("/"))


def _dedupe(paths) -> list[Path]:
    seen, out = set(), []
    for p in paths:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


def bwrap_args(
    *,
    protected: list[Path],
    rw: dict[Path, Path],
    ro: dict[Path, Path],
    env: dict[str, str],
    chdir: Path,
    limits: Limits,
    switch_uid: bool = True,
) -> list[str]:
    """The bwrap command line (without the command): see the module docstring."""
    args = ["bwrap", *_namespace_args(switch_uid), "--die-with-parent", "--new-session"]
    args += ["--hostname", "sandbox", "--ro-bind", "/", "/"]
    size = str(limits.tmp_mb * 2**20)
    args += ["--perms", "1777", "--size", size, "--tmpfs", str(INSIDE_TMP)]
    hidden = [INSIDE_TMP]
    for path in sorted(private_paths(*protected), key=lambda p: len(p.parts)):
        if not any(path == h or h in path.parents for h in hidden):
            args += ["--tmpfs", str(path)]
            hidden.append(path)
    stack = stack_paths()
    outer = [p for p in stack if not any(q in p.parents for q in stack)]
    modes: list[Path] = []
    for path in outer:
        args += ["--ro-bind", str(path), str(path)]
        # folders that a tmpfs above gained on the way down to `path` must stay traversable
        modes += [
            f for f in path.parents
            if any(h in f.parents for h in hidden) and f not in modes
            and not any(q == f or q in f.parents for q in outer)
        ]  # fmt: skip
    for folder in sorted(modes, key=lambda f: len(f.parts)):
        args += ["--chmod", "0755", str(folder)]
    for path in (Path(p).resolve() for p in protected):  # again, if the stack showed one
        if any(s == path or s in path.parents for s in stack):
            args += ["--tmpfs", str(path)]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--perms", "1777", "--size", size, "--tmpfs", "/dev/shm"]
    args += ["--perms", "1777", "--dir", str(INSIDE_CACHE)]
    made = {INSIDE_TMP, INSIDE_CACHE}
    for dest in [*ro.values(), *rw.values()]:
        for folder in reversed(Path(dest).parents):
            if INSIDE_TMP in folder.parents and folder not in made:
                args += ["--perms", "0755", "--dir", str(folder)]
                made.add(folder)
    for src, dest in ro.items():
        args += ["--ro-bind", str(src), str(dest)]
    for src, dest in rw.items():
        args += ["--bind", str(src), str(dest)]
    args += ["--clearenv"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    args += ["--chdir", str(chdir)]
    return args


def base_env(home: Path) -> dict[str, str]:
    """The minimal environment inside the sandbox."""
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "tensorflow"),
        "SEGCOURSE_CACHE": str(INSIDE_CACHE),
        "MPLBACKEND": "Agg",
        "JUPYTER_RUNTIME_DIR": str(INSIDE_TMP / "jupyter-runtime"),
        "JUPYTER_DATA_DIR": str(INSIDE_TMP / "jupyter-data"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "IPYTHONDIR": str(INSIDE_TMP / "ipython"),
        "MPLCONFIGDIR": str(INSIDE_TMP / "matplotlib"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


# ------------------------------------------------------------------------------ running


def run_command(argv: list[str], *, timeout: float, cwd: Path | None = None, env=None) -> RunResult:
    """Run `argv` in its own session; kill the whole group at the deadline; keep the output tail."""
    start = time.monotonic()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    tail: collections.deque[bytes] = collections.deque()
    size = [0]

    def drain():
        for chunk in iter(lambda: proc.stdout.read1(65536), b""):
            tail.append(chunk)
            size[0] += len(chunk)
            while size[0] > 65536 and len(tail) > 1:
                size[0] -= len(tail.popleft())

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        _kill_group(proc)
    reader.join(timeout=10)
    text = b"".join(tail)[-65536:].decode("utf-8", "replace")
    return RunResult(proc.returncode, text, time.monotonic() - start, timed_out)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass


def sandboxed_python(
    module_args: list[str],
    *,
    limits: Limits,
    protected: list[Path],
    rw: dict[Path, Path],
    ro: dict[Path, Path],
    chdir: Path,
    env: dict[str, str] | None = None,
    slot: int = 0,
    sandbox: bool = True,
    drop_privileges: bool = True,
    wall: float | None = None,
) -> RunResult:
    """Run `python -I -m segcourse.grader.worker MODULE_ARGS` in the sandbox (or, with
    `sandbox=False`, as a plain subprocess with the same limits and host paths). `wall` is the
    hard deadline (default `limits.timeout`) after which the whole process group is killed."""
    wall = wall or limits.timeout
    uid = SANDBOX_UID_BASE + slot if (os.geteuid() == 0 and drop_privileges) else -1
    cmd = [sys.executable, "-I", "-m", WORKER, "--limits", json.dumps(asdict(limits))]
    if uid > 0:
        cmd += ["--uid", str(uid)]
    if not sandbox:
        mapping = {str(dest): str(src) for src, dest in {**ro, **rw}.items()}
        host_cmd = cmd[:-2] if uid > 0 else cmd  # no uid switch without the sandbox
        host_env = {**os.environ, **(env or {})}
        return run_command(
            [*host_cmd, *(_to_host(a, mapping) for a in module_args)],
            timeout=wall, cwd=Path(_to_host(str(chdir), mapping)), env=host_env,
        )  # fmt: skip
    problem = sandbox_problem()
    if problem:
        raise SandboxUnavailable(problem)
    if uid > 0:
        for src in rw:
            _chown_tree(Path(src), uid)
    full_env = {**base_env(INSIDE_WORK), **(env or {})}
    args = bwrap_args(protected=protected, rw=rw, ro=ro, env=full_env, chdir=chdir, limits=limits,
                      switch_uid=uid > 0)  # fmt: skip
    return run_command([*args, *cmd, *module_args], timeout=wall)


def _to_host(arg: str, mapping: dict[str, str]) -> str:
    for inside, host in sorted(mapping.items(), key=lambda kv: -len(kv[0])):
        if arg == inside or arg.startswith(inside + "/"):
            return host + arg[len(inside) :]
    return arg


def _chown_tree(root: Path, uid: int) -> None:
    os.chown(root, uid, uid, follow_symlinks=False)
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            os.chown(os.path.join(folder, name), uid, uid, follow_symlinks=False)
