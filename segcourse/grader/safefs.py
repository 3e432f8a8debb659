"""File-system helpers for trees that student code made or handed in: walking and removing
them without recursion (a tree may be thousands of folders deep, deeper than PATH_MAX), and
opening a file only when no component of its path is a link and it stays inside its root.

It imports nothing of the grader, like `statuses`.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

MAX_DEPTH = 64  # folders below the top of a submission (zip or folder)
MAX_ENTRIES = 20_000  # files and folders in one submission (zip members or folder entries)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class TooDeep(Exception):
    """A tree is nested deeper, or holds more entries, than the limits allow."""


def walk_bounded(root: Path, max_depth: int = MAX_DEPTH, max_entries: int = MAX_ENTRIES
                 ) -> Iterator[tuple[Path, list[str], list[str]]]:  # fmt: skip
    """Like `os.walk(root)` (top-down, links to folders not followed), but iterative and
    bounded: raises TooDeep past `max_depth` folders below `root` or `max_entries` entries."""
    stack: list[tuple[Path, int]] = [(Path(root), 0)]
    seen = 0
    while stack:
        folder, depth = stack.pop()
        dirs, files = [], []
        with os.scandir(folder) as entries:
            for entry in entries:
                seen += 1
                if seen > max_entries:
                    raise TooDeep(f"holds over {max_entries} files and folders")
                (dirs if entry.is_dir(follow_symlinks=False) else files).append(entry.name)
        yield folder, dirs, files
        if dirs and depth + 1 > max_depth:
            raise TooDeep(f"is nested over {max_depth} folders deep")
        stack += [(folder / d, depth + 1) for d in reversed(sorted(dirs))]


def remove_tree(root: str | os.PathLike, attempts: int = 3) -> bool:
    """Delete `root` and everything under it, however deep, without recursion and without
    ever building a long path (each folder is entered by a descriptor); links are removed,
    never followed. Tries again (a second apart) while the last sandboxed processes exit;
    returns False (and leaves the rest) if something could not be removed."""
    for attempt in range(attempts):
        if attempt:
            time.sleep(1.0)
        if _remove_once(Path(root)):
            return True
    return False


def _remove_once(root: Path) -> bool:
    try:
        info = os.lstat(root)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    try:
        if not stat.S_ISDIR(info.st_mode):
            os.unlink(root)
            return True
        fd = os.open(root, _DIR_FLAGS)
    except OSError:
        return False
    names: list[str] = []  # the path from root down to the folder `fd` holds
    try:
        while True:
            sub = _clear_files(fd)
            if sub is not None:
                try:
                    inner = os.open(sub, _DIR_FLAGS, dir_fd=fd)
                except PermissionError:  # a folder its maker left unreadable
                    os.chmod(sub, 0o700, dir_fd=fd, follow_symlinks=False)
                    inner = os.open(sub, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd, names = inner, [*names, sub]
                continue
            if not names:
                break
            parent = os.open("..", _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = parent
            os.rmdir(names.pop(), dir_fd=fd)
    except OSError:
        return False
    finally:
        os.close(fd)
    try:
        os.rmdir(root)
    except OSError:
        return False
    return True


def _clear_files(fd: int) -> str | None:
    """Unlink every non-folder in the folder `fd`; return one sub-folder's name, or None."""
    try:
        os.fchmod(fd, 0o700)
    except OSError:
        pass
    with os.scandir(fd) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                return entry.name
            os.unlink(entry.name, dir_fd=fd)
    return None


# ------------------------------------------------------------------------------ safe reads


def inside(path: Path, root: Path) -> str:
    """Why `path` may not be read as a file of the work copy `root` ('' when it may): it must
    lie under `root`, and no folder between them (nor the file) may be a symbolic link."""
    root, path = Path(os.path.abspath(root)), Path(os.path.abspath(path))
    if not path.is_relative_to(root):
        return f"{path.name} lies outside the submission"
    current = root
    for part in path.relative_to(root).parts:
        current = current / part
        try:
            info = os.lstat(current)
        except OSError:
            return ""  # missing: the caller reports that
        if stat.S_ISLNK(info.st_mode):
            return f"{path.name} is reached through a symbolic link ({part})"
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(Path(os.path.realpath(root))):
        return f"{path.name} lies outside the submission"
    return ""
