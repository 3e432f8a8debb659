"""A size-capped work area per submission: the host folder that holds a notebook's work copy
and the grader's exchange folder while it runs in the sandbox (`--disk GB`).

When the grader is root it mounts a tmpfs of that size there (`mount -t tmpfs -o size=...`),
so a notebook that fills its disk fills only its own area (ENOSPC inside, status `disk`) and
never the host's disk; the files stay readable by the host until `close` unmounts it. A tmpfs
is memory: what a notebook writes there counts in RAM and swap, up to the cap. Without root
nothing can be mounted: the area is a plain folder, and `WorkArea.limit` says that it is not
size-limited (only single files are, by the sandbox's RLIMIT_FSIZE), for the feedback page
and summary.md. A grader killed before `close` leaves no mount behind: a watcher process
(`sh`, its own session) unmounts the area as soon as the grader's end of its pipe closes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path


class DiskLimitUnavailable(RuntimeError):
    """The size-capped tmpfs could not be mounted (the message says what to do)."""


def limit_text(disk_gb: float) -> str:
    """What limit a `WorkArea` of `disk_gb` gets on this machine, in words."""
    if disk_gb <= 0:
        return "work area not size-limited (--disk 0)"
    if os.geteuid() != 0:
        return (f"work area not size-limited: a {size_text(disk_gb)} tmpfs needs the grader to "
                "run as root; single files stay capped")  # fmt: skip
    return f"work area capped at {size_text(disk_gb)} (a tmpfs)"


def size_text(disk_gb: float) -> str:
    """`disk_gb` as GB, or as MB below 1 GB."""
    return f"{disk_gb:g} GB" if disk_gb >= 1 else f"{disk_gb * 1024:g} MB"


class WorkArea:
    """The folder of one submission's work and exchange folders: a tmpfs capped at `disk_gb`
    mounted there when the grader is root (`open`), unmounted by `close`; a plain folder
    with `disk_gb` 0 or without root, and `limit` says which."""

    def __init__(self, path: Path, disk_gb: float):
        self.path, self.disk_gb, self.mounted = Path(path), float(disk_gb), False
        self.watcher: subprocess.Popen | None = None
        self.size = int(self.disk_gb * 2**30)
        self.limit = limit_text(self.disk_gb)

    def open(self) -> WorkArea:
        self.path.mkdir(mode=0o700)
        if self.disk_gb > 0 and os.geteuid() == 0:
            options = f"size={max(self.size, 2**20)},mode=0700,nosuid,nodev"
            done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "segcourse-work",
                                   str(self.path)], capture_output=True, text=True)  # fmt: skip
            if done.returncode != 0:
                raise DiskLimitUnavailable(
                    f"{self.path}: could not mount a {size_text(self.disk_gb)} tmpfs for the work "
                    f"area ({done.stderr.strip() or done.returncode}); grade as root with "
                    "CAP_SYS_ADMIN, or pass --disk 0 to grade without a disk limit."
                )
            self.mounted = True
            # unmounts when this process ends without `close` (killed): its pipe closes
            self.watcher = subprocess.Popen(
                ["sh", "-c", 'read -r _; umount --lazy "$1" 2>/dev/null', "sh", str(self.path)],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        return self

    def full(self) -> bool:
        """Whether the capped area has (next to) no room left."""
        if not self.mounted:
            return False
        info = os.statvfs(self.path)
        return info.f_bavail * info.f_frsize < min(256 * 1024, self.size // 16)

    def close(self) -> None:
        """Unmount (lazily when something still holds it open); the folder stays."""
        if self.mounted:
            done = subprocess.run(["umount", str(self.path)], capture_output=True)
            if done.returncode != 0:
                subprocess.run(["umount", "--lazy", str(self.path)], capture_output=True)
            self.mounted = False
        if self.watcher is not None:
            self.watcher.communicate(b"", timeout=60)  # end of input: it exits
            self.watcher = None


def disk_limit_problem(disk_gb: float) -> str | None:
    """Why `WorkArea(..., disk_gb)` cannot be mounted here (None when it can, or when no
    mount is asked for); tried once with a small tmpfs."""
    if disk_gb <= 0 or os.geteuid() != 0:
        return None
    folder = Path(tempfile.mkdtemp(prefix="segcourse-disk-probe-"))
    area = WorkArea(folder / "area", 0.001)
    try:
        area.open()
    except DiskLimitUnavailable as exc:
        return str(exc)
    finally:
        area.close()
        shutil.rmtree(folder, ignore_errors=True)
    return None
