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

Disk: the work and exchange folders are host folders, so the grader (when root) puts them on
a size-capped tmpfs of their own per submission (`workarea.WorkArea`, `--disk GB`); without
root they are not size-limited (only single files are, `Limits.file_mb`), and the grader says
so. `/tmp` and `/dev/shm` inside are bwrap tmpfs capped at `Limits.tmp_mb` each.

CPU: `sandboxed_python(cpus=...)` pins the sandbox to its job slot's cores (`job_cpus`: `--jobs`
parallel jobs get disjoint cores where there are enough) with `sched_setaffinity`, which works
for any user and any backend (cgroup CPU quotas would need a writable cgroup tree, which
containers and ordinary users seldom have), and a seccomp filter (`--seccomp`) makes `sched_setaffinity`
fail with EPERM inside, so student code cannot widen its share again (x86-64 and arm64 only;
elsewhere `cpu_note` says the pinning is not locked). `job_cpus` divides the cores this
process may use, so graders started side by side under `taskset` with disjoint cores stay
apart; otherwise their jobs share cores. One job alone (`--jobs 1`) is not pinned.

Process limits need an unprivileged user: Linux does not enforce RLIMIT_NPROC for root. When
the grader runs as root, bwrap runs privileged (no user namespace; bwrap's own `--uid` needs
one) and would keep every capability of root unless told otherwise: it is given
`--cap-drop ALL` and then only CAP_SETUID/CAP_SETGID back, and the worker switches to a
dedicated uid before it reads any student file, which clears those two as well. Every
sandbox claims its uid for as long as it runs (`claim_uid`: a lock file per uid in a
root-only folder), so no two sandboxes on the machine share one, whether they belong to one
grader's `--jobs`, to shards run side by side, or to cluster workers: a fork bomb cannot
starve another job's process limit. Both sandboxes (the notebook run and the model's
evaluation) do this, so student code and the model loader run with no capability at all
(`worker probe` reports the uid, the capability sets and the CPU pinning; the tests require
0). As an ordinary user, bwrap makes a user namespace, every capability is dropped in it too,
and the limits count that namespace only.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import fcntl
import json
import os
import platform
import shutil
import signal
import struct
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
SANDBOX_UID_BASE = 61000  # first uid of sandboxed code when the grader is root
SANDBOX_UIDS = 512  # uids SANDBOX_UID_BASE.. claimed one per running sandbox (below 65534)
UID_LOCKS = "segcourse-grader-uids"  # folder of uid lock files, under /run (or the temp dir)
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
    max_macs: float = 0.0  # multiply-adds per pixel the evaluated model may need (0: no bound)


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


# ------------------------------------------------------------------------------ uids


def uid_lock_folder() -> Path:
    """The root-only folder of uid lock files: under /run where it can be written, else under
    the temp folder; refused when someone else owns it or may write to it."""
    base = Path("/run") if os.access("/run", os.W_OK) else Path(tempfile.gettempdir())
    folder = base / UID_LOCKS
    folder.mkdir(mode=0o700, exist_ok=True)
    info = os.lstat(folder)
    if (
        not os.path.isdir(folder)
        or os.path.islink(folder)
        or info.st_uid != os.geteuid()
        or (info.st_mode & 0o022)
    ):
        raise SandboxUnavailable(
            f"{folder}: the sandbox uid locks must be a folder of this user that nobody else "
            "may write to; remove it and grade again."
        )
    return folder


@contextlib.contextmanager
def claim_uid():
    """A sandbox uid that no other sandbox on this machine holds while the block runs (an
    exclusive lock on its file; a killed grader's locks go with its process)."""
    folder = uid_lock_folder()
    for uid in range(SANDBOX_UID_BASE, SANDBOX_UID_BASE + SANDBOX_UIDS):
        handle = open(folder / f"{uid}.lock", "a")  # noqa: SIM115 - held while the block runs
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        try:
            yield uid
        finally:
            handle.close()
        return
    raise SandboxUnavailable(f"{folder}: all {SANDBOX_UIDS} sandbox uids are in use; "
                             "grade with fewer parallel jobs.")  # fmt: skip


# ------------------------------------------------------------------------------ cpu

# seccomp: (audit arch, number of sched_setaffinity) of the architectures the filter knows
_SECCOMP_ARCHES = {"x86_64": (0xC000003E, 203), "aarch64": (0xC00000B7, 122)}


def job_cpus(slot: int, jobs: int) -> list[int]:
    """The cores of job slot `slot` of `jobs`: disjoint shares of this process's cores when
    there are at least as many cores as jobs (left-over cores go to the first slots), else
    one core, shared round-robin."""
    cores = sorted(os.sched_getaffinity(0))
    jobs = max(1, jobs)
    if jobs > len(cores):
        return [cores[slot % len(cores)]]
    share, extra = divmod(len(cores), jobs)
    start = slot * share + min(slot, extra)
    return cores[start : start + share + (1 if slot < extra else 0)]


def seccomp_program() -> bytes | None:
    """A classic-BPF seccomp filter (what bwrap's `--seccomp` reads) that makes
    sched_setaffinity fail with EPERM and allows every other system call; None on an
    architecture it does not know. Calls of another ABI (32-bit, x32) fail with EPERM."""
    known = _SECCOMP_ARCHES.get(platform.machine())
    if known is None:
        return None
    arch, setaffinity = known
    ld, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K, JGE|K, BPF_RET|K
    allow, deny = 0x7FFF0000, 0x00050000 | errno.EPERM  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO
    program = [
        (ld, 0, 0, 4),  # seccomp_data.arch
        (jeq, 0, 4, arch),  # another ABI: deny
        (ld, 0, 0, 0),  # seccomp_data.nr
        (jeq, 2, 0, setaffinity),
        (jge, 1, 0, 0x40000000),  # x32 system calls
        (ret, 0, 0, allow),
        (ret, 0, 0, deny),
    ]
    return b"".join(struct.pack("=HBBI", *op) for op in program)


def cpu_note(cpus: list[int] | None, sandbox: bool = True) -> str:
    """What CPU share a job got, for the feedback page and summary.md."""
    if not cpus:
        return "CPU: not pinned"
    locked = sandbox and seccomp_program() is not None
    lock = "locked by seccomp" if locked else "not locked: student code may change it"
    return f"CPU: pinned to cores {','.join(map(str, cpus))} (sched_setaffinity, {lock})"


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
    seccomp_fd: int | None = None,
) -> list[str]:
    """The bwrap command line (without the command): see the module docstring. `seccomp_fd`:
    a file descriptor to read a `seccomp_program` from (it must be passed to bwrap)."""
    args = ["bwrap", *_namespace_args(switch_uid), "--die-with-parent", "--new-session"]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
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


def run_command(argv: list[str], *, timeout: float, cwd: Path | None = None, env=None,
                cpus: list[int] | None = None, pass_fds: tuple[int, ...] = ()) -> RunResult:  # fmt: skip
    """Run `argv` in its own session; kill the whole group at the deadline; keep the output
    tail. `cpus`: the cores it may use (set on this thread for the start: a child inherits it)."""
    start = time.monotonic()
    saved = os.sched_getaffinity(0)
    if cpus:
        os.sched_setaffinity(0, cpus)  # pid 0: the calling thread only
    try:
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True, pass_fds=pass_fds,
        )  # fmt: skip
    finally:
        if cpus:
            os.sched_setaffinity(0, saved)
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
    cpus: list[int] | None = None,
    sandbox: bool = True,
    drop_privileges: bool = True,
    wall: float | None = None,
) -> RunResult:
    """Run `python -I -m segcourse.grader.worker MODULE_ARGS` in the sandbox (or, with
    `sandbox=False`, as a plain subprocess with the same limits and host paths). `wall` is the
    hard deadline (default `limits.timeout`) after which the whole process group is killed;
    `cpus` the cores it runs on (`job_cpus`). As root it runs under a uid of its own
    (`claim_uid`), held until it ends."""
    wall = wall or limits.timeout
    cmd = [sys.executable, "-I", "-m", WORKER, "--limits", json.dumps(asdict(limits))]
    if not sandbox:  # no uid switch without the sandbox
        mapping = {str(dest): str(src) for src, dest in {**ro, **rw}.items()}
        host_env = {**os.environ, **(env or {})}
        return run_command(
            [*cmd, *(_to_host(a, mapping) for a in module_args)],
            timeout=wall, cwd=Path(_to_host(str(chdir), mapping)), env=host_env, cpus=cpus,
        )  # fmt: skip
    problem = sandbox_problem()
    if problem:
        raise SandboxUnavailable(problem)
    with contextlib.ExitStack() as stack:
        uid = -1
        if os.geteuid() == 0 and drop_privileges:
            uid = stack.enter_context(claim_uid())
            cmd += ["--uid", str(uid)]
            for src in rw:
                _chown_tree(Path(src), uid)
        fds: tuple[int, ...] = ()
        program = seccomp_program()
        if program is not None:
            read_end, write_end = os.pipe()
            stack.callback(os.close, read_end)
            os.write(write_end, program)  # a few dozen bytes: the pipe holds them
            os.close(write_end)
            fds = (read_end,)
        full_env = {**base_env(INSIDE_WORK), **(env or {})}
        args = bwrap_args(protected=protected, rw=rw, ro=ro, env=full_env, chdir=chdir,
                          limits=limits, switch_uid=uid > 0, seccomp_fd=fds[0] if fds else None)  # fmt: skip
        return run_command([*args, *cmd, *module_args], timeout=wall, cpus=cpus, pass_fds=fds)


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
