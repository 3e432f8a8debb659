"""Reading what students hand in: one entry per student (folder, zip or bare notebook), copied
or safely extracted with size and member limits, and the one notebook in it to grade."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .safefs import MAX_DEPTH, TooDeep, walk_bounded
from .statuses import GradingError, Problem

MAX_SUBMISSION_MB = 300  # uncompressed size of one submission
MAX_MEMBERS = 5000  # files in one zip or folder
MAX_NOTEBOOK_MB = 20


@dataclass(frozen=True)
class Submission:
    """One entry of the submissions folder."""

    student: str
    path: Path
    skip: str = ""  # why the entry is not graded (it still gets a row)
    note: str = ""  # said in its reason (e.g. two entries of one name)

    @property
    def safe_name(self) -> str:
        """The student id made safe as a file name."""
        name = re.sub(r"[^A-Za-z0-9._-]", "_", self.student).lstrip(".") or "student"
        if name != self.student:
            name += "-" + hashlib.sha256(self.student.encode()).hexdigest()[:6]
        return name


def display_name(name: str) -> str:
    """A file name as text: bytes that are not UTF-8 are shown as \\xNN escapes."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def find_submissions(folder: str | os.PathLike) -> list[Submission]:
    """Every entry of SUBMISSIONS, sorted by student id, each with a distinct id: a folder
    `dup/` beside `dup.zip` are students `dup` and `dup.zip` (both told of the other), and an
    entry whose name starts with '.' is listed as skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GradingError(f"{folder}: the submissions folder does not exist.")
    entries = sorted(folder.iterdir(), key=lambda p: os.fsencode(p.name))
    ids = {p: student_id(p) for p in entries}
    peers: dict[Path, set[Path]] = {}
    for attempt in range(5):  # a clash gives each entry its full name, then a hash of it
        by_id: dict[str, list[Path]] = {}
        for path, sid in ids.items():
            by_id.setdefault(sid, []).append(path)
        clashing = [paths for paths in by_id.values() if len(paths) > 1]
        if not clashing:
            break
        for paths in clashing:
            for path in paths:
                peers.setdefault(path, set()).update(paths)
                ids[path] = display_name(path.name)
                if attempt:
                    ids[path] += "-" + hashlib.sha256(os.fsencode(path.name)).hexdigest()[:8]
    subs = []
    for path in entries:
        clash = sorted(peers.get(path, ()), key=lambda p: os.fsencode(p.name))
        shown = [display_name(p.name) + ("/" if p.is_dir() else "") for p in clash]
        note = f"entries {', '.join(shown)} share one student name; each is graded" if shown else ""
        skip = ""
        if path.name.startswith("."):
            skip = f"{display_name(path.name)} starts with '.' (a hidden file); not graded"
        subs.append(Submission(ids[path], path, skip=skip, note=note))
    return sorted(subs, key=lambda s: s.student)


def student_id(path: Path) -> str:
    """The student id of an entry: a folder's name, or a .zip's or .ipynb's stem (names that
    are not UTF-8 are shown with \\xNN escapes)."""
    name = display_name(path.name)
    if path.is_dir() or path.is_symlink():
        return name
    stem = display_name(path.stem)
    return stem if path.suffix.lower() in (".zip", ".ipynb") and stem else name


def shard_of(student: str, n: int) -> int:
    """The shard (1..n) of a student: a stable hash, so new students never move the others."""
    return int(hashlib.sha256(student.encode()).hexdigest(), 16) % n + 1


def parse_shard(text: str) -> tuple[int, int]:
    """'I/N' -> (I, N) with 1 <= I <= N."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise GradingError(f"--shard {text!r}: expected I/N with 1 <= I <= N, e.g. 2/4.")
    return int(match[1]), int(match[2])


def unpack(sub: Submission, dest: Path) -> Path:
    """Copy (or safely extract) a submission into `dest`; return the folder that holds it."""
    dest.mkdir(parents=True, exist_ok=True)
    path, name = sub.path, display_name(sub.path.name)
    info = path.lstat()  # never opened before it is known to be a folder or a regular file
    if stat.S_ISLNK(info.st_mode):
        raise Problem("invalid_submission", f"{name} is a symbolic link; hand in the files.")
    if not (stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode)):
        raise Problem(
            "invalid_submission",
            f"{name} is not a regular file or folder (a pipe, socket or device); not opened.",
        )
    if stat.S_ISDIR(info.st_mode):
        _copy_folder(path, dest)
        return dest
    suffix = path.suffix.lower()
    if suffix == ".ipynb":
        _check_size(info.st_size, name)
        with _open_regular(path) as src, open(dest / path.name, "wb") as out:
            shutil.copyfileobj(src, out)
        return dest
    if suffix == ".zip":
        _extract_zip(path, dest)
        inner = [p for p in dest.iterdir() if p.name != "__MACOSX"]
        if len(inner) == 1 and inner[0].is_dir():
            return inner[0]
        return dest
    raise Problem("no_notebook", f"{name} is not a folder, a .zip or a .ipynb file.")


def _open_regular(path: Path):
    """Open a file for reading only if it is (still) a regular file: no link, no pipe."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise Problem("invalid_submission", f"{display_name(path.name)} is not a regular file.")
    return os.fdopen(fd, "rb")


def _check_size(total: int, where: str) -> None:
    if total > MAX_SUBMISSION_MB * 2**20:
        raise Problem(
            "invalid_submission", f"{where} holds over {MAX_SUBMISSION_MB} MB; hand in less."
        )


def _copy_folder(src: Path, dest: Path) -> None:
    """Copy regular files and folders; symbolic links and special files are left out. The
    walk is iterative and bounded in depth and entries (`safefs`)."""
    total, count, name = 0, 0, display_name(src.name)
    try:
        for folder, _dirs, files in walk_bounded(src):  # links to folders are not followed
            rel = Path(folder).relative_to(src)
            (dest / rel).mkdir(parents=True, exist_ok=True)
            for file in files:
                item = Path(folder) / file
                info = item.lstat()
                if not stat.S_ISREG(info.st_mode):
                    continue
                total, count = total + info.st_size, count + 1
                _check_size(total, name)
                if count > MAX_MEMBERS:
                    raise Problem("invalid_submission", f"{name} holds over {MAX_MEMBERS} files.")
                shutil.copyfile(item, dest / rel / file, follow_symlinks=False)
    except TooDeep as exc:
        raise Problem("invalid_submission", f"{name} {exc}; hand in a flatter folder.") from None


def _extract_zip(path: Path, dest: Path) -> None:
    """Extract a zip after checking every member: no absolute or escaping paths, no links,
    bounded size (counted while extracting, since headers can lie)."""
    shown = display_name(path.name)
    handle = _open_regular(path)
    try:
        archive = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, OSError) as exc:
        handle.close()
        raise Problem("invalid_submission", f"{shown} is not a readable zip: {exc}") from None
    with handle, archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise Problem(
                "unsafe_zip", f"{shown} holds {len(members)} members (over {MAX_MEMBERS})."
            )
        for info in members:
            name = info.filename.replace("\\", "/")
            parts = [p for p in name.split("/") if p not in ("", ".")]
            if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts:
                raise Problem(
                    "unsafe_zip",
                    f"{shown}: member {info.filename!r} points outside the archive.",
                )
            if stat.S_ISLNK(info.external_attr >> 16):
                raise Problem(
                    "unsafe_zip", f"{shown}: member {info.filename!r} is a symbolic link."
                )
            if len(parts) > MAX_DEPTH + 1:
                raise Problem("unsafe_zip", f"{shown}: member {info.filename[:80]!r}... is nested "
                              f"{len(parts) - 1} folders deep (over {MAX_DEPTH}).")  # fmt: skip
        _check_size(sum(i.file_size for i in members), shown)
        budget = MAX_SUBMISSION_MB * 2**20
        for info in members:
            parts = [p for p in info.filename.replace("\\", "/").split("/") if p not in ("", ".")]
            if not parts or parts[0] == "__MACOSX":
                continue
            target = dest.joinpath(*parts)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(info) as src, open(target, "wb") as out:
                    for chunk in iter(lambda: src.read(2**20), b""):
                        budget -= len(chunk)
                        if budget < 0:
                            raise Problem(
                                "unsafe_zip", f"{shown} unpacks to over {MAX_SUBMISSION_MB} MB."
                            )
                        out.write(chunk)
            except (
                zipfile.BadZipFile,
                OSError,
                EOFError,
                RuntimeError,
            ) as exc:  # RuntimeError: encrypted
                raise Problem(
                    "invalid_submission", f"{shown}: cannot extract {info.filename!r}: {exc}"
                ) from None


def pick_notebook(root: Path, preferred: str) -> Path:
    """The notebook to grade: the only one, or the one called `preferred`."""
    found = sorted(p for p in root.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
                   and "__MACOSX" not in p.parts and p.is_file() and not p.is_symlink())  # fmt: skip
    if not found:
        raise Problem("no_notebook", "no .ipynb notebook in the submission.")
    if len(found) == 1:
        return found[0]
    named = [p for p in found if p.name == preferred]
    if len(named) == 1:
        return named[0]
    names = ", ".join(str(p.relative_to(root)) for p in found[:6])
    raise Problem(
        "no_notebook",
        f"{len(found)} notebooks ({names}) and not exactly one named {preferred}; hand in one.",
    )


def read_notebook(path: Path):
    """Read and validate a notebook (nbformat 4); Problem('invalid_notebook') if it is not one."""
    import nbformat

    if path.stat().st_size > MAX_NOTEBOOK_MB * 2**20:
        raise Problem("invalid_notebook", f"{path.name} is over {MAX_NOTEBOOK_MB} MB.")
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # noqa: BLE001 - json, encoding or schema errors alike
        text = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise Problem("invalid_notebook", f"{path.name} is not a valid notebook: {text}") from None
    return nb
