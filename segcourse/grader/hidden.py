"""`python -m segcourse grade make-hidden`: carve one MADS archive into a training set and a
hidden test set by whole sequences, so that no hidden frame has a near-duplicate in training.

MADS frames are video: neighbouring frames of a sequence are almost the same picture, so a
hidden set drawn over frames would score students on frames they trained on. The sequences
(`{Action}_{Sequence}` of each file name) are drawn per seed and spread over the actions; both
sets are written in the flat MADS layout (`images/`, `masks/`) that `load_mads` and
`grade --hidden` read.
"""

from __future__ import annotations

import argparse
import errno
import hashlib
import os
import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..data.layouts import (
    EXPECTED,
    STANDIN_MARKER_FILE,
    Case,
    DatasetError,
    find_archive,
    is_standin,
    mads_cases,
    parse_mads_name,
)
from .statuses import GradingError

MANIFEST = "make-hidden.txt"  # written into each set: where it came from and what it holds


def pick_hidden(groups: dict[str, list], sequences: int, seed: int) -> list[str]:
    """`sequences` sequence names drawn with `seed`, spread over the actions (round robin)."""
    if not 0 <= sequences <= len(groups):
        raise GradingError(f"cannot draw {sequences} of {len(groups)} sequences")
    rng = np.random.default_rng(seed)
    by_action: dict[str, list[str]] = defaultdict(list)
    for group in sorted(groups):
        by_action[group.split("_", 1)[0]].append(group)
    queues = {a: [str(g) for g in rng.permutation(names)] for a, names in by_action.items()}
    actions = [str(a) for a in rng.permutation(sorted(queues))]
    picked: list[str] = []
    while len(picked) < sequences:
        for action in actions:
            if queues[action] and len(picked) < sequences:
                picked.append(queues[action].pop(0))
    return sorted(picked)


def make_hidden(
    mads_root, sequences: int, seed: int, train, hidden, *, link: bool = False, out=print
) -> dict:
    """Write the training and hidden sets; return {'train': [...], 'hidden': [...]} sequences.

    Refuses (GradingError) a missing or damaged archive, file names without a sequence, a
    sequence count that leaves either set empty, outputs that overlap the archive or each
    other or are not empty, and an image whose content is on both sides under two names.
    """
    archive = _archive(Path(mads_root))
    cases, problems = mads_cases(archive)
    if problems:
        shown = "\n".join(f"  - {p}" for p in problems[:10])
        raise GradingError(
            f"{archive}: {len(problems)} unpaired file(s), every image needs its mask:\n{shown}\n"
            "Restore them from the archive (or remove them) and run make-hidden again."
        )
    groups = _groups(archive, cases)
    if not 1 <= sequences < len(groups):
        raise GradingError(
            f"{archive} holds {len(groups)} sequences; --sequences must be 1 to "
            f"{len(groups) - 1} so that both the training and the hidden set get one, "
            f"not {sequences}."
        )
    targets = _targets(archive, Path(train), Path(hidden))
    chosen = set(pick_hidden(groups, sequences, seed))
    sides = {
        "hidden": {g: groups[g] for g in sorted(chosen)},
        "train": {g: groups[g] for g in sorted(set(groups) - chosen)},
    }
    _check_contents(sides)
    standin = is_standin(archive)
    stages = {}
    try:
        for side, target in targets.items():
            stages[side] = _write(target, sides[side], link, archive, seed, standin)
        for side, target in targets.items():
            os.replace(stages.pop(side), target)  # an empty folder there is replaced
    finally:
        for stage in stages.values():
            shutil.rmtree(stage, ignore_errors=True)
    _report(out, archive, standin, sides, targets, link)
    return {side: list(members) for side, members in sides.items()}


def _archive(root: Path) -> Path:
    """The MADS images/masks folder at or under `root`, or a GradingError saying what is there."""
    if not root.is_dir():
        raise GradingError(f"{root}: not a folder. Expected there: {EXPECTED['mads']}.")
    try:
        found = find_archive("mads", root)
    except DatasetError as exc:
        raise GradingError(str(exc)) from None
    if found is None:
        raise GradingError(f"{root}: no MADS archive found. Expected there: {EXPECTED['mads']}.")
    return found


def _groups(archive: Path, cases: list[Case]) -> dict[str, list[Case]]:
    """The cases of each sequence, by the `{Action}_{Sequence}` of their file names."""
    groups: dict[str, list[Case]] = defaultdict(list)
    bad = []
    for case in cases:
        name = parse_mads_name(case.id)
        if name is None:
            bad.append(case.id)
        else:
            groups[name.group].append(case)
    if bad:
        raise GradingError(
            f"{archive / 'images'}: {len(bad)} file name(s) without a sequence "
            f"({', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}); make-hidden needs the "
            "archive's names, {Action}_{Sequence}_{Camera}_{frame}.png (e.g. "
            "Jazz_Jazz2_C1_00630.png). Restore or remove them."
        )
    if not groups:
        raise GradingError(f"{archive}: no image/mask pairs. Expected: {EXPECTED['mads']}.")
    return dict(groups)


def _targets(archive: Path, train: Path, hidden: Path) -> dict[str, Path]:
    """Both output folders, checked: apart from the archive and each other, empty if present."""
    targets = {"train": train.expanduser().resolve(), "hidden": hidden.expanduser().resolve()}
    source = archive.resolve()
    a, b = targets["train"], targets["hidden"]
    if a == b or a.is_relative_to(b) or b.is_relative_to(a):
        raise GradingError(
            f"--train {a} and --hidden {b} overlap; give two separate folders, or the hidden "
            "frames would sit inside the training data."
        )
    for side, target in targets.items():
        if target.is_relative_to(source) or source.is_relative_to(target):
            raise GradingError(
                f"--{side} {target} overlaps the MADS archive {source}; write the sets elsewhere."
            )
        if target.exists() and not target.is_dir():
            raise GradingError(f"--{side} {target} exists and is not a folder; choose another.")
        if target.is_dir() and any(target.iterdir()):
            raise GradingError(
                f"--{side} {target} is not empty; refusing to overwrite it. Choose a new folder "
                "or empty this one yourself."
            )
    return targets


def _digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_contents(sides: dict[str, dict[str, list[Case]]]) -> None:
    """No image content on both sides: a frame copied under another sequence's name would leak."""
    seen: dict[str, str] = {}
    for case in (c for members in sides["train"].values() for c in members):
        seen.setdefault(_digest(case.image), case.image)
    for case in (c for members in sides["hidden"].values() for c in members):
        twin = seen.get(_digest(case.image))
        if twin is not None:
            raise GradingError(
                f"{case.image} (hidden) has the same content as {twin} (training): the same "
                "frame under two sequence names. Remove the copy from the archive, then run "
                "make-hidden again."
            )


def _write(target: Path, groups: dict, link: bool, archive: Path, seed: int, standin: bool):
    """One set in a staging folder beside `target`: images/, masks/, manifest, stand-in marker."""
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        for sub in ("images", "masks"):
            (stage / sub).mkdir()
        for case in (c for members in groups.values() for c in members):
            for source, sub in ((case.image, "images"), (case.mask, "masks")):
                _place(Path(source), stage / sub / Path(source).name, link)
        lines = [f"source: {archive}", f"seed: {seed}", f"{len(groups)} sequences:"]
        lines += [f"  {g}: {len(members)} frames" for g, members in groups.items()]
        (stage / MANIFEST).write_text("\n".join(lines) + "\n", encoding="utf-8")
        if standin:
            (stage / STANDIN_MARKER_FILE).write_text("synthetic stand-in written by segcourse\n")
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return stage


def _place(source: Path, dest: Path, link: bool) -> None:
    if not link:
        shutil.copy2(source, dest)
        return
    try:
        os.link(source, dest)
    except OSError as exc:
        why = "another file system" if exc.errno == errno.EXDEV else exc.strerror
        raise GradingError(
            f"cannot hard-link {source} to {dest} ({why}); leave out --link to copy the files."
        ) from None


def _report(out, archive, standin, sides, targets, link) -> None:
    """What went where: each set's sequences, cameras and frame counts."""
    total = sum(len(m) for members in sides.values() for m in members.values())
    kind = "synthetic stand-in" if standin else "MADS"
    out(f"{archive}: {kind}, {sum(len(s) for s in sides.values())} sequences, {total} frames")
    for side in ("hidden", "train"):
        groups = sides[side]
        frames = sum(len(m) for m in groups.values())
        out(f"{side}: {len(groups)} sequences, {frames} frames -> {targets[side]}")
        for group, members in groups.items():
            cameras = sorted({parse_mads_name(c.id).camera for c in members})
            out(f"  {group:<24} {' '.join(cameras):<9} {len(members):>4} frames")
    how = "hard-linked" if link else "copied"
    out(f"{how}; no sequence, file name or image content (SHA-256) is in both sets")


def main(argv: list[str] | None = None) -> int:
    """`python -m segcourse grade make-hidden MADS_ROOT --sequences N --seed S --train ... --hidden ...`."""
    parser = argparse.ArgumentParser(
        prog="python -m segcourse grade make-hidden",
        description="Split a MADS archive by whole sequences into a training set (the "
        "students' data) and a hidden test set (for grade --hidden).",
    )
    parser.add_argument("mads_root", metavar="MADS_ROOT", help="the unpacked MADS archive")
    parser.add_argument("--sequences", type=int, required=True, metavar="N",
                        help="number of sequences for the hidden set")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, metavar="S",
                        help="which sequences (default 0)")  # fmt: skip
    parser.add_argument("--train", required=True, metavar="OUT_TRAIN", help="new folder")
    parser.add_argument("--hidden", required=True, metavar="OUT_HIDDEN", help="new folder")
    parser.add_argument("--link", action="store_true",
                        help="hard-link the files instead of copying them (same file system)")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        make_hidden(args.mads_root, args.sequences, args.seed, args.train, args.hidden,
                    link=args.link)  # fmt: skip
    except GradingError as exc:
        print(f"make-hidden: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
