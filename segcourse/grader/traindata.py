"""The frames a re-run notebook trains on: the instructor's `--train-data` (refused when it
shares a frame with `--hidden`, by name or by content) or the synthetic stand-in, and the test
split of those frames on which the grader recomputes the IoU a notebook claims."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import threading
from pathlib import Path

from . import sandbox as sb
from .statuses import GradingError

INSIDE_TRAIN = sb.INSIDE_TMP / "train-data"  # --train-data in the notebook's sandbox (read-only)
INSIDE_CLAIMS = sb.INSIDE_TMP / "claims" / "test.npz"  # the claims' test split, in the evaluation
SHOWN = 8  # conflicting frames named in a refusal

_MEMO: dict[tuple, tuple] = {}
_LOCK = threading.Lock()


def archive_of(folder: Path, option: str) -> Path:
    """The MADS archive folder (images/ and masks/) in `folder`, or a GradingError."""
    from segcourse.data import DatasetError, find_archive

    folder = Path(folder)
    if not folder.is_dir():
        raise GradingError(f"{option} {folder}: not a folder of MADS frames.")
    try:
        found = find_archive("mads", folder)
    except DatasetError as exc:
        raise GradingError(f"{option} {folder}: {exc}") from None
    if found is None:
        raise GradingError(f"{option} {folder}: holds no MADS frames (an images/ and a masks/ "
                           "folder of PNG files with the same names).")  # fmt: skip
    return found


def _frames(archive: Path) -> dict[str, Path]:
    """Frame name (file stem) -> image file of a MADS archive folder."""
    from segcourse.data import mads_cases

    cases, _ = mads_cases(archive)
    return {case.id: Path(case.image) for case in cases}


def _digest(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def check_disjoint(train: Path, hidden: Path) -> None:
    """Refuse (GradingError naming the files) when a training frame is also a hidden frame:
    the same file name, or the same image bytes under another name."""
    train_frames = _frames(archive_of(train, "--train-data"))
    hidden_frames = _frames(archive_of(hidden, "--hidden"))
    if not train_frames:
        raise GradingError(f"--train-data {train}: no image has a mask of the same name.")
    clashes = [f"{train_frames[n]} (also in --hidden by name)"
               for n in sorted(train_frames.keys() & hidden_frames.keys())]  # fmt: skip
    by_hash = {_digest(p): p for p in hidden_frames.values()}
    for name in sorted(train_frames.keys() - hidden_frames.keys()):
        twin = by_hash.get(_digest(train_frames[name]))
        if twin is not None:
            clashes.append(f"{train_frames[name]} (the same image as --hidden {twin})")
    if clashes:
        more = f" and {len(clashes) - SHOWN} more" if len(clashes) > SHOWN else ""
        raise GradingError(
            f"--train-data shares {len(clashes)} frame(s) with --hidden: "
            f"{'; '.join(clashes[:SHOWN])}{more}. A model trained on hidden frames would be "
            "scored on what it learned; remove them from one side (`python -m segcourse grade "
            "make-hidden` carves disjoint sets by whole sequences)."
        )


def _world_readable(folder: Path) -> bool:
    """Whether every file below `folder` is readable, and every folder searchable, by anyone."""
    for root, dirs, files in os.walk(folder):
        if os.stat(root).st_mode & 0o005 != 0o005:
            return False
        for name in files:
            mode = os.lstat(os.path.join(root, name)).st_mode
            if not stat.S_ISREG(mode) or not mode & 0o004:
                return False
        if any(os.path.islink(os.path.join(root, d)) for d in dirs):
            return False
    return True


def bindable(archive: Path, scratch: Path) -> Path:
    """The folder to bind as the notebook's training data: the archive itself, or (when the
    grader is root and the sandbox uid could not read it) a world-readable copy of its images
    and masks in `scratch`."""
    if os.geteuid() != 0 or _world_readable(archive):
        return archive
    dest = scratch / "train-data"
    for sub in ("images", "masks"):
        shutil.copytree(archive / sub, dest / sub, symlinks=False)
    for root, _dirs, files in os.walk(dest):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)
    os.chmod(scratch, 0o755)
    return dest


def training_note(execute: bool, train_data: Path | None) -> str:
    """The sentence of each feedback page and of summary.md that says what the re-run trained on."""
    if not execute:
        return ("Graded as submitted (--no-execute): the notebook was not re-run, so the grader "
                "does not know what it was trained on.")  # fmt: skip
    if train_data is None:
        return ("The re-run trained on the synthetic stand-in (segcourse.synth), not on real MADS "
                "frames: its training and its claimed test scores are stand-in numbers; the "
                "hidden-data IoU is measured on the instructor's frames.")  # fmt: skip
    return f"The re-run trained on the instructor's MADS training frames ({train_data})."


# ------------------------------------------------------------------------------ claims


def claims_frames(root: Path, size: tuple[int, int], recompute: dict) -> tuple:
    """The (images, masks) of the test split that the lab's notebook takes from the frames at
    `root` (`segcourse.split` with the rubric's `[results.recompute]` and seed), at `size`;
    split once per process and kept in memory (a few MB)."""
    from segcourse.data import DatasetError, load_mads, mads_cases, split

    archive = archive_of(root, "training frames")
    cases, _ = mads_cases(archive)
    # by names, sizes and times, not the path: the stand-in's public copy is the same frames
    key = (tuple(size), tuple(sorted(recompute.items())), tuple(c.stamp for c in cases))
    with _LOCK:
        if key not in _MEMO:
            try:
                data = load_mads(archive, image_size=tuple(size), cache=False, progress=False)
                groups = data.sequence if recompute["by"] == "sequence" else None
                _, _, test = split(data, val=recompute["val"], test=recompute["test"],
                                   seed=recompute["seed"], groups=groups)  # fmt: skip
            except DatasetError as exc:
                raise GradingError(f"[results.recompute] of the rubric cannot split {archive} "
                                   f"as the notebook does: {exc}") from None  # fmt: skip
            _MEMO[key] = (test.images, test.masks)
        return _MEMO[key]


def check_option(train_data, execute: bool, hidden: Path, others: dict) -> Path:
    """`--train-data`'s MADS archive folder, refused unless the notebooks are re-run, when it
    lies inside (or holds) `--hidden` or one of `others` (option -> folder), or when it shares
    a frame with `--hidden`: all before anyone is graded."""
    if not execute:
        raise GradingError("--train-data is the data of the re-run: it needs --execute.")
    train = Path(train_data).resolve()
    for option, folder in {"--hidden": hidden, **others}.items():
        if train == folder or folder in train.parents or train in folder.parents:
            raise GradingError(f"--train-data {train}: must not lie inside, or hold, {option} "
                               f"{folder}.")  # fmt: skip
    check_disjoint(train, hidden)
    return archive_of(train, "--train-data")


def training_frames(settings) -> tuple[Path | None, Path]:
    """(the folder the sandbox binds as the notebook's training frames, where the notebook
    sees it): `--train-data` (or its readable copy) or the stand-in; no folder: none is bound."""
    if settings.train_data is not None:
        return settings.train_bind or settings.train_data, INSIDE_TRAIN
    return settings.standin, sb.INSIDE_STANDIN


def claims_for(settings, dest: Path) -> tuple[Path | None, str | None]:
    """(`dest`, None) with `dest` an .npz of the notebook's own test split, for the evaluation
    to recompute the claimed test IoU on, or (None, why nothing is recomputed)."""
    recompute = settings.rubric.recompute
    if recompute is None:
        return None, "the rubric has no [results.recompute]"
    if not settings.execute:
        return None, "graded as submitted (--no-execute), so what it trained on is unknown"
    root, _ = training_frames(settings)
    if root is None:
        return None, "no training frames were bound for the re-run"
    import numpy as np

    images, masks = claims_frames(root, settings.profile.mads_size, recompute)
    dest.parent.mkdir(parents=True, exist_ok=True)
    np.savez(dest, images=images, masks=masks)
    return dest, None
