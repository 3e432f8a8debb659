"""Run untrusted student code in a bubblewrap sandbox with resource limits.

The grader (`segcourse.grading`) runs two kinds of work here: a student's notebook
(`run_notebook`, executed with nbclient, so the kernel is a child of the sandboxed runner) and
the evaluation of the model it saved (`evaluate`, which reads the hidden data). Both run as
`python -I -m segcourse.sandbox ...` inside `bwrap`:

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
- limits set by the runner on itself before anything else (inherited by the kernel): address
  space, processes, file size, no core files; the grader adds a wall-clock deadline and nbclient
  a per-cell timeout (the time left).

Process limits need an unprivileged user: Linux does not enforce RLIMIT_NPROC for root. When
the grader runs as root, bwrap runs privileged (no user namespace) and keeps only
CAP_SETUID/CAP_SETGID, and the runner switches to a dedicated uid (one per parallel job, so a
fork bomb cannot starve the other jobs) before running any student code; as an ordinary user,
bwrap makes a user namespace and the limits count that namespace only.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
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
STANDARD_PRIVATE = ("/tmp", "/var/tmp", "/root", "/home", "/mnt", "/media", "/srv", "/run/user")


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create namespaces on this machine."""


@dataclass(frozen=True)
class Limits:
    """Resource limits for one sandboxed run."""

    timeout: float = 1800.0  # wall-clock seconds for the whole run
    memory_gb: float = 8.0  # address space (RLIMIT_AS) of each process
    processes: int = 512  # processes and threads (RLIMIT_NPROC)
    file_mb: int = 512  # largest file it may write (RLIMIT_FSIZE)
    tmp_mb: int = 2048  # size of the /tmp tmpfs inside the sandbox
    output_mb: float = 10.0  # cap on the stored outputs of an executed notebook

    def apply(self) -> None:
        """Set the rlimits on the current process (inherited by every child)."""
        for name, value in (
            ("RLIMIT_AS", int(self.memory_gb * 2**30)),
            ("RLIMIT_NPROC", int(self.processes)),
            ("RLIMIT_FSIZE", int(self.file_mb * 2**20)),
            ("RLIMIT_CORE", 0),
        ):
            soft, hard = resource.getrlimit(getattr(resource, name))
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(getattr(resource, name), (value, value))


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
    if os.geteuid() == 0:
        # privileged bwrap: no user namespace, so the uid switch inside is to a real uid;
        # every capability is dropped except (when switching) the two the switch needs
        caps = ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"] if switch_uid else []
        return ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
                "--unshare-cgroup-try", *caps]  # fmt: skip
    return ["--unshare-all"]


# ------------------------------------------------------------------------------ mounts


def stack_paths() -> list[Path]:
    """Folders the sandboxed Python needs: interpreter, virtual env, site-packages, segcourse."""
    found = [Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix)]
    found += [Path(p) for p in sys.path if p and Path(p).is_dir()]
    found.append(Path(__file__).resolve().parent)
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
    """Run `python -I -m segcourse.sandbox MODULE_ARGS` in the sandbox (or, with
    `sandbox=False`, as a plain subprocess with the same limits and host paths). `wall` is the
    hard deadline (default `limits.timeout`) after which the whole process group is killed."""
    wall = wall or limits.timeout
    uid = SANDBOX_UID_BASE + slot if (os.geteuid() == 0 and drop_privileges) else -1
    cmd = [sys.executable, "-I", "-m", "segcourse.sandbox", "--limits", json.dumps(asdict(limits))]
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


def _drop_to(uid: int) -> None:
    """Become `uid` for good (all capabilities go with root's uid)."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise SystemExit(f"sandbox: could not switch to uid {uid}")


# ------------------------------------------------------------------------------ inside: notebook


def run_notebook(src: Path, dest: Path, status_path: Path, cwd: Path, limits: Limits) -> dict:
    """Execute a notebook with nbclient under a deadline; save it (outputs capped) and a status."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.read(src, as_version=4)
    deadline = time.monotonic() + limits.timeout
    state = {"cell": None}
    cap = int(limits.output_mb * 2**20)

    class CappedClient(NotebookClient):
        """An nbclient client that stops storing outputs beyond the size cap."""

        stored = 0
        truncated = False

        def output(self, outs, msg, display_id, cell_index):
            size = len(json.dumps(msg.get("content", {}), default=str))
            if self.stored + size > cap:
                if not self.truncated:
                    note = f"[output truncated by the grader: over {limits.output_mb:g} MB]\n"
                    outs.append(nbformat.v4.new_output("stream", name="stderr", text=note))
                self.truncated = True
                return None
            self.stored += size
            return super().output(outs, msg, display_id, cell_index)

    def on_start(cell, cell_index, **_):
        state["cell"] = cell_index

    client = CappedClient(
        nb,
        kernel_name="python3",
        timeout_func=lambda cell: max(1, int(deadline - time.monotonic())),
        startup_timeout=300,
        resources={"metadata": {"path": str(cwd)}},
        on_cell_start=on_start,
    )
    status: dict = {"status": "ok", "reason": "", "cell": None}
    try:
        client.execute()
    except CellTimeoutError:
        status = {"status": "timeout", "cell": state["cell"],
                  "reason": f"the notebook ran past its {limits.timeout:g} s limit"}  # fmt: skip
    except DeadKernelError:
        status = {"status": "kernel_died", "cell": state["cell"],
                  "reason": "the kernel died (crashed, exited or was killed)"}  # fmt: skip
    except CellExecutionError as exc:
        ename = getattr(exc, "ename", "") or "Error"
        evalue = str(getattr(exc, "evalue", ""))[:300]
        kind = "memory" if ename == "MemoryError" else "cell_error"
        status = {"status": kind, "cell": state["cell"], "ename": ename,
                  "reason": f"{ename}: {evalue}".strip()}  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - any runner failure is reported, not raised
        status = {"status": "kernel_died", "cell": state["cell"],
                  "reason": f"{type(exc).__name__}: {str(exc)[:300]}"}  # fmt: skip
    status["truncated"] = client.truncated
    nbformat.write(nb, dest)
    status_path.write_text(json.dumps(status))
    return status


# ------------------------------------------------------------------------------ entry point


def main(argv: list[str] | None = None) -> int:
    """`python -I -m segcourse.sandbox --limits JSON [--uid U] notebook|evaluate ...` (internal)."""
    parser = argparse.ArgumentParser(prog="python -m segcourse.sandbox")
    parser.add_argument("--limits", required=True)
    parser.add_argument("--uid", type=int, default=-1)
    sub = parser.add_subparsers(dest="command", required=True)
    nb = sub.add_parser("notebook")
    nb.add_argument("src", type=Path)
    nb.add_argument("dest", type=Path)
    nb.add_argument("status", type=Path)
    nb.add_argument("--cwd", type=Path, required=True)
    ev = sub.add_parser("evaluate")
    ev.add_argument("model", type=Path)
    ev.add_argument("hidden", type=Path)
    ev.add_argument("result", type=Path)
    ev.add_argument("--size", type=int, nargs=2, required=True)
    args = parser.parse_args(argv)
    limits = Limits(**json.loads(args.limits))
    if args.uid > 0:
        _drop_to(args.uid)
    limits.apply()
    if args.command == "notebook":
        for var in ("JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "IPYTHONDIR", "MPLCONFIGDIR"):
            if os.environ.get(var):
                Path(os.environ[var]).mkdir(parents=True, exist_ok=True)
        run_notebook(args.src, args.dest, args.status, args.cwd, limits)
        return 0
    from .grading import evaluate_model

    result = evaluate_model(args.model, args.hidden, tuple(args.size))
    args.result.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
