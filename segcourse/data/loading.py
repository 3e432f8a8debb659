"""Load PH2 and MADS (or their synthetic stand-in) as resized uint8 arrays through one code path,
with every problem raised as a `DatasetError` that names the file and says what to do."""

from __future__ import annotations

import html
import math
import os
import shutil
import sys
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from .. import paths
from ..i18n import N_, tr
from . import cache as array_cache
from .layouts import (
    ARCHIVE_POINTER_FILE,
    DOWNLOAD_COMMANDS,
    ENV_VARS,
    NAMES,
    PH2_IMAGES,
    PH2_METADATA,
    STANDIN_VERSION_FILE,
    STANDIN_VERSIONS,
    Case,
    DatasetError,
    expected,
    find_archive,
    is_standin,
    locate,
    mads_cases,
    parse_mads_name,
    parse_ph2_metadata,
    ph2_cases,
)

MASK_TWO_LEVEL_SHARE = 0.98  # share of mask pixels that must sit near one of its two levels
_BOX = Image.Resampling.BOX
_SUBJECTS = {"ph2": N_("dermoscopy images"), "mads": N_("full-body images")}


@dataclass
class SegmentationData:
    """Images, binary masks and case ids of one dataset (or a subset of it)."""

    images: np.ndarray  # uint8 (N, H, W, 3)
    masks: np.ndarray  # uint8 in {0, 1}, (N, H, W, 1)
    ids: list[str]
    diagnosis: list[str | None] | None  # PH2 clinical diagnosis per case; None for MADS
    root: Path
    synthetic: bool = False
    kind: str | None = None  # 'ph2' or 'mads'; None: told by diagnosis (only PH2 has one)

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, indices) -> SegmentationData:
        """The cases at `indices` (ints or a boolean mask), in that order, as in-memory arrays."""
        idx = np.asarray(indices)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.intp).reshape(-1)
        diagnosis = None if self.diagnosis is None else [self.diagnosis[i] for i in idx]
        return SegmentationData(
            images=np.ascontiguousarray(self.images[idx]),
            masks=np.ascontiguousarray(self.masks[idx]),
            ids=[self.ids[i] for i in idx],
            diagnosis=diagnosis,
            root=self.root,
            synthetic=self.synthetic,
            kind=self.kind,
        )

    @property
    def sequence(self) -> np.ndarray | None:
        """MADS: each frame's recorded sequence, `{Action}_{Sequence}` from its file name (as in
        `split(data, groups=data.sequence)`: neighbouring frames are near-duplicates); PH2: None."""
        if (self.kind or ("ph2" if self.diagnosis is not None else "mads")) != "mads":
            return None
        names = [parse_mads_name(i) for i in self.ids]
        bad = [i for i, name in zip(self.ids, names, strict=True) if name is None]
        if bad:
            raise DatasetError(
                f"{Path(self.root) / 'images' / (bad[0] + '.png')}: {len(bad)} MADS file name(s) "
                f"({', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}) do not follow "
                "{Action}_{Sequence}_{Camera}_{frame}.png (e.g. Jazz_Jazz2_C1_00630.png), so "
                "their sequence is unknown. Restore the archive's names, or split without groups."
            )
        return np.array([name.group for name in names], dtype=str)

    def __repr__(self) -> str:
        kind = "synthetic stand-in" if self.synthetic else "real data"
        shape = "x".join(str(s) for s in self.images.shape[1:3])
        return f"SegmentationData({len(self)} cases, {shape}, {kind}, root={str(self.root)!r})"

    def _repr_html_(self) -> str:
        """Jupyter's view: a loud alert above a stand-in, so no one mistakes it for real data."""
        kind = self.kind or ("ph2" if self.diagnosis is not None else "mads")
        text = f"<pre>{html.escape(repr(self))}</pre>"
        if self.synthetic:
            return _standin_alert(kind) + text
        real = tr(
            "Real {name} data from {root}", name=NAMES[kind], root=html.escape(str(self.root))
        )
        return f"{text}<div>{real}</div>"


# ----------------------------------------------------------------------------- public loaders


def load_ph2(
    root=None, image_size=256, *, cache: bool = True, strict: bool = True, progress: bool = True
) -> SegmentationData:
    """PH2 dermoscopy images, lesion masks and clinical diagnoses, resized to `image_size`."""
    return _load("ph2", root, image_size, cache=cache, strict=strict, progress=progress)


def load_mads(
    root=None,
    image_size=(192, 256),
    *,
    cache: bool = True,
    strict: bool = True,
    progress: bool = True,
) -> SegmentationData:
    """MADS full-body images and person masks, resized to `image_size` ((height, width) or int)."""
    return _load("mads", root, image_size, cache=cache, strict=strict, progress=progress)


def synthetic_root(kind: str) -> Path:
    """The archive folder of the synthetic stand-in for `kind` ('ph2' or 'mads'), made once."""
    if kind not in NAMES:
        raise ValueError(f"kind must be 'ph2' or 'mads', not {kind!r}")
    base = paths.cache_dir() / "synthetic"
    dest = base / kind
    if _stale_standin(kind, dest):
        print(
            tr(
                "note: the cached {name} stand-in in {dest} was made by an older "
                "segcourse.synth; generating it again.",
                name=NAMES[kind],
                dest=dest,
            ),
            file=sys.stderr,
        )
        trash = Path(tempfile.mkdtemp(prefix=f".{kind}-stale-", dir=base))
        try:
            os.replace(dest, trash / kind)
        except FileNotFoundError:
            pass  # another process moved it first
        finally:
            shutil.rmtree(trash, ignore_errors=True)
    if not dest.is_dir():
        base.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{kind}-partial-", dir=base))
        try:
            from .. import synth  # here, not above: synth imports this package's layouts

            make = synth.synth_ph2 if kind == "ph2" else synth.synth_mads
            written = Path(make(tmp / "data")).resolve()
            inside = written.relative_to((tmp / "data").resolve())  # ValueError: a synth bug
            (tmp / "data" / ARCHIVE_POINTER_FILE).write_text(inside.as_posix())
            (tmp / "data" / STANDIN_VERSION_FILE).write_text(str(STANDIN_VERSIONS[kind]))
            try:
                os.replace(tmp / "data", dest)  # atomic: a crash never leaves half a dataset
            except OSError:
                if not dest.is_dir():  # not a lost race with another process: a real error
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    pointer = dest / ARCHIVE_POINTER_FILE
    found = find_archive(kind, dest / pointer.read_text() if pointer.is_file() else dest)
    if found is None:
        raise DatasetError(
            tr(
                "{dest}: the synthetic {name} stand-in there is incomplete. "
                "Delete that folder and run again to regenerate it.",
                dest=dest,
                name=NAMES[kind],
            )
        )
    return found


def _stale_standin(kind: str, dest: Path) -> bool:
    """Whether `dest` is a stand-in cached by synthetic_root from an older generator."""
    if not (dest / ARCHIVE_POINTER_FILE).is_file():
        return False  # not made here (e.g. written by synth_mads directly): used as it is
    version = dest / STANDIN_VERSION_FILE
    made = version.read_text().strip() if version.is_file() else "1"
    return made != str(STANDIN_VERSIONS[kind])


# ----------------------------------------------------------------------------- loading


def _load(kind, root, image_size, *, cache, strict, progress) -> SegmentationData:
    size = _image_size(image_size)
    archive = locate(kind, root)
    generated = archive is None
    if generated:
        archive = synthetic_root(kind)
    synthetic = generated or is_standin(archive)
    if generated:
        print(_banner(kind, archive), file=sys.stderr, flush=True)
    elif synthetic:
        print(
            tr(
                "note: {archive} is a synthetic stand-in written by segcourse.synth, not the real "
                "{name} data; results on it are not {name} results.",
                archive=archive,
                name=NAMES[kind],
            ),
            file=sys.stderr,
        )
    if kind == "ph2":
        cases, problems = ph2_cases(archive)
        extra = [archive / PH2_METADATA]
    else:
        cases, problems = mads_cases(archive)
        extra = []
    folder = None
    if cache:
        folder = array_cache.entry_folder(kind, archive, size, strict, cases, problems, extra)
        cached = array_cache.read(folder)
        if cached is not None:
            images, masks, meta = cached
            for message in meta["warnings"]:
                warnings.warn(message, stacklevel=3)
            return SegmentationData(
                images, masks, meta["ids"], meta["diagnosis"], archive, synthetic, kind
            )
    if not cases and not problems:
        raise DatasetError(_empty_message(kind, archive))
    images, masks, ids, bad = _decode_all(kind, cases, size, progress)
    problems = problems + bad
    if problems and strict:
        raise DatasetError(_problem_message(kind, archive, problems))
    notes = []
    if problems:
        notes.append(
            tr(
                "Skipped {n} bad {name} case(s) in {archive} (strict=False):",
                n=len(problems),
                name=NAMES[kind],
                archive=archive,
            )
            + "\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    if not ids:
        raise DatasetError(
            tr(
                "{archive}: none of the {name} cases could be read, so the dataset is empty.",
                archive=archive,
                name=NAMES[kind],
            )
            + " "
            + _problem_message(kind, archive, problems)
        )
    diagnosis = None
    if kind == "ph2":
        diagnosis, note = _ph2_diagnosis(archive / PH2_METADATA, ids)
        notes += [note] if note else []
    for message in notes:
        warnings.warn(message, stacklevel=3)
    if folder is not None:
        meta = {"ids": ids, "diagnosis": diagnosis, "warnings": notes}
        array_cache.write(folder, images, masks, meta)
    return SegmentationData(images, masks, ids, diagnosis, archive, synthetic, kind)


def _image_size(image_size) -> tuple[int, int]:
    """(height, width) from an int (square) or a pair; rejects anything else clearly."""
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        pair = (int(image_size), int(image_size))
    elif (
        isinstance(image_size, (tuple, list))
        and len(image_size) == 2
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in image_size)
    ):
        pair = (int(image_size[0]), int(image_size[1]))
    else:
        raise ValueError(f"image_size must be an int or (height, width), not {image_size!r}")
    if min(pair) < 1:
        raise ValueError(f"image_size must be positive, not {image_size!r}")
    return pair


def _decode_all(kind, cases, size, progress):
    """Decode and resize every case in a thread pool (Pillow releases the GIL while it works)."""
    height, width = size
    images = np.empty((len(cases), height, width, 3), np.uint8)
    masks = np.empty((len(cases), height, width, 1), np.uint8)
    ok = np.zeros(len(cases), bool)
    bad: dict[int, str] = {}

    def work(i):
        images[i], masks[i, ..., 0] = _decode_case(cases[i], (width, height))
        ok[i] = True

    workers = min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 4)
    bar = tqdm(
        total=len(cases),
        desc=f"{NAMES[kind]}: decoding",
        unit="case",
        disable=not progress or not cases,
        file=sys.stderr,
    )
    with bar, ThreadPoolExecutor(max(1, workers)) as pool:
        futures = {pool.submit(work, i): i for i in range(len(cases))}
        for future in as_completed(futures):
            error = future.exception()
            if isinstance(error, DatasetError):
                bad[futures[future]] = str(error)
            elif error is not None:
                raise error
            bar.update()
    if not ok.all():
        images, masks = images[ok], masks[ok]
    ids = [c.id for c, good in zip(cases, ok, strict=True) if good]
    return images, masks, ids, [bad[i] for i in sorted(bad)]


def _decode_case(case: Case, size_wh) -> tuple[np.ndarray, np.ndarray]:
    """One case's image (uint8 RGB) and mask ({0, 1}) at `size_wh`, area-aware resizing."""
    image = _open(case.image, "image")
    mask = _open(case.mask, "mask")
    if image.size != mask.size:
        raise DatasetError(
            f"{case.mask}: mask is {mask.width}x{mask.height} but its image {case.image} is "
            f"{image.width}x{image.height} (width x height); they must match. The mask belongs "
            "to another image or was resized separately: restore both from the archive."
        )
    binary = _binary_mask(mask, case.mask)
    if image.mode != "RGB":
        image = image.convert("RGB")
    image = image.resize(size_wh, _BOX, reducing_gap=1.0)
    binary = binary.resize(size_wh, _BOX, reducing_gap=1.0)
    return np.asarray(image), np.asarray(binary) >= 128


def _open(path: Path, what: str) -> Image.Image:
    """A fully decoded Pillow image, or a DatasetError naming the file (never a Pillow traceback)."""
    try:
        with Image.open(path) as im:
            im.load()
            return im
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DatasetError(
            f"{path}: cannot read this {what} ({type(exc).__name__}: {exc}). The file is damaged, "
            "truncated or not an image: restore it from the original archive (or re-download)."
        ) from None


def _binary_mask(mask: Image.Image, path: Path) -> Image.Image:
    """The mask as 8-bit 0/255 by the mask rule (documented, tested), or a DatasetError.

    The mask is converted to 8-bit grey. A 1-bit mask is binary by construction. Otherwise let
    `lo` and `hi` be its darkest and brightest grey levels: at least 98 % of its pixels must lie
    within a quarter of `hi - lo` of `lo` or of `hi` (a two-level image such as 0/255 or 0/1,
    JPEG ringing at edges tolerated), and the mask is thresholded half-way between them. A mask
    with one grey level is empty if that level is below 128 and full otherwise. Anything else
    (a photograph, a soft probability map) is an error.
    """
    if mask.mode == "1":
        return mask.convert("L")
    grey = mask.convert("L")
    hist = grey.histogram()
    levels = [v for v, count in enumerate(hist) if count]
    lo, hi = levels[0], levels[-1]
    if lo == hi:
        return Image.new("L", grey.size, 255 if lo >= 128 else 0)
    reach = (hi - lo) / 4
    near = sum(hist[lo : math.floor(lo + reach) + 1]) + sum(hist[math.ceil(hi - reach) : hi + 1])
    total = grey.width * grey.height
    if near < MASK_TWO_LEVEL_SHARE * total:
        raise DatasetError(
            f"{path}: mask is not binary: {1 - near / total:.0%} of its pixels are grey levels "
            f"between {lo} and {hi} ({len(levels)} distinct levels). A mask must have two values "
            "(such as 0/255 or 0/1; a 1-bit or palettised mask is fine). Restore the original "
            "mask or re-export it as a two-colour image."
        )
    threshold = (lo + hi) / 2
    return grey.point([255 if v > threshold else 0 for v in range(256)])


def _ph2_diagnosis(path: Path, ids: list[str]) -> tuple[list[str | None], str | None]:
    """Clinical diagnosis per id from PH2_dataset.txt, and one warning text when incomplete."""
    table, why = parse_ph2_metadata(path)
    if table is None:
        return [None] * len(ids), (
            f"{path}: {why}. Diagnosis is None for every case (images and masks still load); "
            "restore PH2_dataset.txt from the archive for stratified splits and per-class scores."
        )
    missing = [i for i in ids if i not in table]
    note = None
    if missing:
        note = (
            f"{path}: no clinical diagnosis for {len(missing)} case(s): {', '.join(missing[:20])}"
            f"{' ...' if len(missing) > 20 else ''}. Their diagnosis is None."
        )
    return [table.get(i) for i in ids], note


# ----------------------------------------------------------------------------- messages


def _banner(kind: str, archive: Path) -> str:
    name, env = NAMES[kind], ENV_VARS[kind]
    lines = [
        tr("SYNTHETIC STAND-IN: this is NOT the real {name} dataset.", name=name),
        tr(
            "No {name} archive was found (root argument, ${env}, ./data/, <project>/data/),",
            name=name,
            env=env,
        ),
        tr(
            "so generated look-alike images are used. Results on them are NOT {name} results.",
            name=name,
        ),
        "",
        tr("To use the real data:  {command}", command=DOWNLOAD_COMMANDS[kind]),
        tr("or set {env}=/path/to/the/unpacked/archive (or pass root=...).", env=env),
    ]
    width = max(len(line) for line in lines)
    edge = "#" * (width + 8)
    body = [f"### {line.ljust(width)} ###" for line in lines]
    read_from = tr("(stand-in read from {archive})", archive=archive)
    return "\n".join(["", edge, *body, edge, read_from, ""])


def _standin_alert(kind: str) -> str:
    """The HTML twin of the banner, shown above a stand-in's repr in a notebook."""
    name, env, command = NAMES[kind], ENV_VARS[kind], DOWNLOAD_COMMANDS[kind]
    return (
        '<div role="alert" style="border:4px solid #c00; background:#fee; color:#600; '
        'padding:12px; font-size:1.15em">'
        + tr("<b>&#9888; SYNTHETIC STAND-IN DATA: this is NOT the {name} dataset.</b>", name=name)
        + "<br>"
        + tr(
            "No {name} archive was found, so generated look-alike images are used. Every number "
            "and figure below describes the stand-in, <b>not</b> real {subjects}. To use "
            "the real data run <code>{command}</code> or set <code>{env}</code> (or the "
            "<code>{env}</code> parameter above) to the unpacked archive.",
            name=name,
            subjects=tr(_SUBJECTS[kind]),
            command=command,
            env=env,
        )
        + "</div>"
    )


def _empty_message(kind: str, archive: Path) -> str:
    if kind == "ph2":
        where = archive / PH2_IMAGES
        return tr(
            "{where}: no PH2 case folders (IMD002, IMD003, ...) found, so the dataset is empty. "
            "Expected: {expected}.",
            where=where,
            expected=expected(kind),
        )
    return tr(
        "{archive}: no PNG files in images/ or masks/, so the dataset is empty. "
        "Expected: {expected}.",
        archive=archive,
        expected=expected(kind),
    )


def _problem_message(kind: str, archive: Path, problems: list[str]) -> str:
    shown = "\n".join(f"  - {p}" for p in problems[:20])
    more = "\n  " + tr("... and {n} more", n=len(problems) - 20) if len(problems) > 20 else ""
    head = tr(
        "{name} archive {archive} has {n} bad case(s):",
        name=NAMES[kind],
        archive=archive,
        n=len(problems),
    )
    advice = tr(
        "Restore these files from the original archive, or pass strict=False to skip the bad "
        "cases (with a warning that lists them)."
    )
    return f"{head}\n{shown}{more}\n{advice}"
