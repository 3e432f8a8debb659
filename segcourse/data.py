"""Load PH2 and MADS exactly as unpacked (or a synthetic stand-in) as resized, cached uint8 arrays.

One code path reads the real archives and the generated stand-ins (they share the layout).
Pairs are found by case id and exact file name, never by walk order; anything unexpected
raises `DatasetError` naming the file and what to do. No deep-learning backend is imported.

Mask rule (documented, tested): a mask is converted to 8-bit grey. A 1-bit mask is binary by
construction. Otherwise let `lo` and `hi` be its darkest and brightest grey levels: at least
98 % of its pixels must lie within a quarter of `hi - lo` of `lo` or of `hi` (a two-level
image such as 0/255 or 0/1, JPEG ringing at edges tolerated), and the mask is thresholded
half-way between them. A mask with one grey level is empty if that level is below 128 and
full otherwise. Anything else (a photograph, a soft probability map) is an error.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import shutil
import stat
import sys
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image
from tqdm import tqdm

from . import paths

PH2_FOLDER = "PH2Dataset"
PH2_IMAGES = "PH2 Dataset images"  # with spaces, as in the real archive
PH2_METADATA = "PH2_dataset.txt"
MADS_FOLDER = "segmentation_full_body_mads_dataset_1192_img"
DIAGNOSES = {"0": "common nevus", "1": "atypical nevus", "2": "melanoma"}
ENV_VARS = {"ph2": "PH2_ROOT", "mads": "MADS_ROOT"}
NAMES = {"ph2": "PH2", "mads": "MADS"}
EXPECTED = {
    "ph2": (
        f"the unpacked PH2 archive: a folder (usually '{PH2_FOLDER}') holding '{PH2_IMAGES}/' "
        f"with case folders such as 'IMD002/IMD002_Dermoscopic_Image/IMD002.bmp' and "
        f"'IMD002/IMD002_lesion/IMD002_lesion.bmp' (and '{PH2_METADATA}'); point at that folder "
        "or the one above it. `python -m segcourse download ph2` fetches and unpacks it"
    ),
    "mads": (
        "the unpacked MADS archive: a folder holding 'images/' and 'masks/' with PNGs of the "
        f"same names, or the double-nested '{MADS_FOLDER}/{MADS_FOLDER}/images|masks'; point at "
        "the inner folder, the outer one or the folder above it. "
        "`python -m segcourse download mads` fetches it"
    ),
}
CACHE_VERSION = 1
MASK_TWO_LEVEL_SHARE = 0.98  # share of mask pixels that must sit near one of its two levels
_PH2_ID = re.compile(r"IMD\d+")
_BOX = Image.Resampling.BOX
_SYNTH_MARKER = ".segcourse-archive"  # in a stand-in folder: where its archive folder is
SYNTHETIC_MARKER = ".segcourse-synthetic"  # segcourse.synth.MARKER, in every stand-in it writes


class DatasetError(ValueError):
    """A dataset folder or file that cannot be read as PH2 or MADS; the message says what to do."""


@dataclass
class SegmentationData:
    """Images, binary masks and case ids of one dataset (or a subset of it)."""

    images: np.ndarray  # uint8 (N, H, W, 3)
    masks: np.ndarray  # uint8 in {0, 1}, (N, H, W, 1)
    ids: list[str]
    diagnosis: list[str | None] | None  # PH2 clinical diagnosis per case; None for MADS
    root: Path
    synthetic: bool = False

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
        )

    def __repr__(self) -> str:
        kind = "synthetic stand-in" if self.synthetic else "real data"
        shape = "x".join(str(s) for s in self.images.shape[1:3])
        return f"SegmentationData({len(self)} cases, {shape}, {kind}, root={str(self.root)!r})"


class _Case(NamedTuple):
    id: str
    image: str  # plain strings: listing 200 cases on every warm load must stay cheap
    mask: str
    stamp: str  # relative names, sizes and mtimes of both files, for the cache key


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


def split(data: SegmentationData, val=0.1, test=0.2, seed: int = 0, stratify: bool = True):
    """Reproducible (train, val, test) subsets that never overlap and together cover `data`.

    `val` and `test` are counts (int) or fractions of the data (float in [0, 1)). With
    `stratify`, each diagnosis (None counting as one more group) is spread over the three
    parts in proportion; MADS has no diagnosis and is split at random.
    """
    n = len(data)
    n_val, n_test = _count(val, n, "val"), _count(test, n, "test")
    if n_val + n_test > n - 1:
        raise DatasetError(
            f"split: val={val!r} ({n_val} cases) plus test={test!r} ({n_test} cases) leave "
            f"{n - n_val - n_test} of {n} cases for training; at least one is needed. "
            "Use smaller counts or fractions."
        )
    rng = np.random.default_rng(seed)
    if not stratify or data.diagnosis is None:
        order = rng.permutation(n)
        parts = order[n_val + n_test :], order[:n_val], order[n_val : n_val + n_test]
    else:
        parts = _stratified(data.diagnosis, n_val, n_test, rng)
    return tuple(data.subset(np.sort(p)) for p in parts)


def synthetic_root(kind: str) -> Path:
    """The archive folder of the synthetic stand-in for `kind` ('ph2' or 'mads'), made once."""
    if kind not in NAMES:
        raise ValueError(f"kind must be 'ph2' or 'mads', not {kind!r}")
    base = paths.cache_dir() / "synthetic"
    dest = base / kind
    if not dest.is_dir():
        base.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{kind}-partial-", dir=base))
        try:
            from . import synth

            make = synth.synth_ph2 if kind == "ph2" else synth.synth_mads
            written = Path(make(tmp / "data")).resolve()
            inside = written.relative_to((tmp / "data").resolve())  # ValueError: a synth bug
            (tmp / "data" / _SYNTH_MARKER).write_text(inside.as_posix())
            try:
                os.replace(tmp / "data", dest)  # atomic: a crash never leaves half a dataset
            except OSError:
                if not dest.is_dir():  # not a lost race with another process: a real error
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    marker = dest / _SYNTH_MARKER
    found = _find_archive(kind, dest / marker.read_text() if marker.is_file() else dest)
    if found is None:
        raise DatasetError(
            f"{dest}: the synthetic {NAMES[kind]} stand-in there is incomplete. "
            "Delete that folder and run again to regenerate it."
        )
    return found


# ----------------------------------------------------------------------------- loading


def _load(kind, root, image_size, *, cache, strict, progress) -> SegmentationData:
    size = _image_size(image_size)
    archive, generated = _locate(kind, root)
    synthetic = generated or any(
        (folder / SYNTHETIC_MARKER).is_file() for folder in (archive, archive.parent)
    )
    if generated:
        print(_banner(kind, archive), file=sys.stderr, flush=True)
    elif synthetic:
        print(
            f"note: {archive} is a synthetic stand-in written by segcourse.synth, not the real "
            f"{NAMES[kind]} data; results on it are not {NAMES[kind]} results.",
            file=sys.stderr,
        )
    if kind == "ph2":
        cases, problems = _ph2_cases(archive)
        extra = [archive / PH2_METADATA]
    else:
        cases, problems = _mads_cases(archive)
        extra = []
    folder = None
    if cache:
        folder = _cache_folder(kind, archive, size, strict, cases, problems, extra)
        cached = _read_cache(folder)
        if cached is not None:
            images, masks, meta = cached
            for message in meta["warnings"]:
                warnings.warn(message, stacklevel=3)
            return SegmentationData(
                images, masks, meta["ids"], meta["diagnosis"], archive, synthetic
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
            f"Skipped {len(problems)} bad {NAMES[kind]} case(s) in {archive} (strict=False):\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    if not ids:
        raise DatasetError(
            f"{archive}: none of the {NAMES[kind]} cases could be read, so the dataset is empty. "
            + _problem_message(kind, archive, problems)
        )
    diagnosis = None
    if kind == "ph2":
        diagnosis, note = _ph2_diagnosis(archive / PH2_METADATA, ids)
        notes += [note] if note else []
    for message in notes:
        warnings.warn(message, stacklevel=3)
    if folder is not None:
        _write_cache(folder, images, masks, {"ids": ids, "diagnosis": diagnosis, "warnings": notes})
    return SegmentationData(images, masks, ids, diagnosis, archive, synthetic)


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


def _decode_case(case: _Case, size_wh) -> tuple[np.ndarray, np.ndarray]:
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
    """The mask as 8-bit 0/255 following the module's two-level rule, or a DatasetError."""
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


# ----------------------------------------------------------------------------- layouts


def _ph2_cases(archive: Path) -> tuple[list[_Case], list[str]]:
    """PH2 cases by id from the case folders; problems for cases missing a file."""
    cases, problems = [], []
    folders = sorted(
        (e for e in os.scandir(archive / PH2_IMAGES) if _PH2_ID.fullmatch(e.name) and e.is_dir()),
        key=lambda e: e.name,
    )
    for entry in folders:
        cid, folder = entry.name, entry.path
        image_name = f"{cid}_Dermoscopic_Image{os.sep}{cid}.bmp"
        mask_name = f"{cid}_lesion{os.sep}{cid}_lesion.bmp"
        image, mask = os.path.join(folder, image_name), os.path.join(folder, mask_name)
        image_stat, mask_stat = _stat(image), _stat(mask)
        if image_stat and mask_stat:
            stamp = f"{cid}/{image_name}:{image_stat}|{cid}/{mask_name}:{mask_stat}"
            cases.append(_Case(cid, image, mask, stamp))
        elif image_stat:
            problems.append(f"{image}: image without mask (expected {mask})")
        elif mask_stat:
            problems.append(f"{mask}: mask without image (expected {image})")
        else:
            problems.append(
                f"{folder}: case folder without image or mask (expected {image_name} and "
                f"{mask_name} in it)"
            )
    return cases, problems


def _mads_cases(inner: Path) -> tuple[list[_Case], list[str]]:
    """MADS pairs by identical PNG file name in images/ and masks/; problems for unpaired files."""

    def pngs(folder: Path) -> dict[str, str]:
        return {
            e.name: f"{e.stat().st_size}:{e.stat().st_mtime_ns}"
            for e in os.scandir(folder)
            if not e.name.startswith(".") and e.name.endswith(".png") and e.is_file()
        }

    images, masks = pngs(inner / "images"), pngs(inner / "masks")
    cases, problems = [], []
    for name in sorted(images.keys() | masks.keys()):
        image = os.path.join(inner, "images", name)
        mask = os.path.join(inner, "masks", name)
        if name in images and name in masks:
            stamp = f"images/{name}:{images[name]}|masks/{name}:{masks[name]}"
            cases.append(_Case(name[: -len(".png")], image, mask, stamp))
        elif name in images:
            problems.append(f"{image}: image without mask (expected {mask})")
        else:
            problems.append(f"{mask}: mask without image (expected {image})")
    return cases, problems


def _stat(path: str) -> str | None:
    """'size:mtime_ns' of a regular file, or None when it is missing (or not a file)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}" if stat.S_ISREG(st.st_mode) else None


def _ph2_diagnosis(path: Path, ids: list[str]) -> tuple[list[str | None], str | None]:
    """Clinical diagnosis per id from PH2_dataset.txt, and one warning text when incomplete."""
    table, why = _parse_ph2_metadata(path)
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


def _parse_ph2_metadata(path: Path) -> tuple[dict[str, str] | None, str]:
    """{id: diagnosis} from the '||'-delimited table (header, legend and blank fields tolerated)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, "metadata file is missing"
    except OSError as exc:
        return None, f"metadata file cannot be read ({exc})"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = raw.decode("utf-16", errors="replace")
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
    table = {}
    for line in text.splitlines():
        fields = [f.strip() for f in line.split("||")]
        if fields and fields[0] == "":
            fields = fields[1:]
        # name || histological diagnosis (often blank) || clinical diagnosis || criteria ...
        if len(fields) >= 3 and _PH2_ID.fullmatch(fields[0]) and fields[2] in DIAGNOSES:
            table[fields[0]] = DIAGNOSES[fields[2]]
    if not table:
        return None, "metadata file has no readable '|| IMD002 || ... || 0 || ...' rows"
    return table, ""


# ----------------------------------------------------------------------------- finding roots


def _locate(kind: str, root) -> tuple[Path, bool]:
    """(archive folder, synthetic?) from the argument, the env var, data/, or the stand-in."""
    env = ENV_VARS[kind]
    for value, source in ((root, "root"), (os.environ.get(env) or None, f"${env}")):
        if value is None:
            continue
        path = Path(value).expanduser()
        if path.is_file():
            raise DatasetError(
                f"{source} = {path} is a file, not a folder (a downloaded archive must be "
                f"unpacked first). Expected there: {EXPECTED[kind]}."
            )
        if not path.exists():
            raise DatasetError(
                f"{source} = {path} does not exist. Expected there: {EXPECTED[kind]}."
            )
        found = _find_archive(kind, path)
        if found is None:
            raise DatasetError(
                f"{source} = {path} does not hold the {NAMES[kind]} archive (found: "
                f"{_listing(path)}). Expected there: {EXPECTED[kind]}."
            )
        return found, False
    for base in (Path.cwd() / "data", paths.project_root() / "data"):
        if base.is_dir():
            found = _find_archive(kind, base)
            if found is not None:
                return found, False
    return synthetic_root(kind), True


def _find_archive(kind: str, path: Path) -> Path | None:
    """The archive folder at `path` or up to two folder levels below it (shallowest wins)."""
    path = Path(path)
    if path.is_file():
        return None
    if kind == "ph2" and path.name == PH2_IMAGES:
        path = path.parent
    if kind == "mads" and path.name in ("images", "masks", "collages"):
        path = path.parent

    def is_archive(folder: Path) -> bool:
        if kind == "ph2":
            return (folder / PH2_IMAGES).is_dir()
        return (folder / "images").is_dir() and (folder / "masks").is_dir()

    level = [path]
    for _ in range(3):
        hits = [f for f in level if is_archive(f)]
        if len(hits) > 1:
            raise DatasetError(
                f"{path} holds several {NAMES[kind]} archives: "
                + ", ".join(str(h) for h in hits)
                + f". Pass root= (or set {ENV_VARS[kind]}) to the one to use."
            )
        if hits:
            return hits[0]
        level = [sub for folder in level for sub in _subfolders(folder)]
    return None


def _subfolders(folder: Path) -> list[Path]:
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    return sorted(Path(e.path) for e in entries if not e.name.startswith(".") and e.is_dir())


def _listing(path: Path, limit: int = 8) -> str:
    try:
        names = sorted(os.listdir(path))
    except OSError:
        return "nothing readable"
    if not names:
        return "an empty folder"
    return ", ".join(repr(n) for n in names[:limit]) + (" ..." if len(names) > limit else "")


def _banner(kind: str, archive: Path) -> str:
    name, env = NAMES[kind], ENV_VARS[kind]
    lines = [
        f"SYNTHETIC STAND-IN: this is NOT the real {name} dataset.",
        f"No {name} archive was found (root argument, ${env}, ./data/, <project>/data/),",
        f"so generated look-alike images are used. Results on them are NOT {name} results.",
        "",
        f"To use the real data:  python -m segcourse download {kind}",
        f"or set {env}=/path/to/the/unpacked/archive (or pass root=...).",
    ]
    width = max(len(line) for line in lines)
    edge = "#" * (width + 8)
    body = [f"### {line.ljust(width)} ###" for line in lines]
    return "\n".join(["", edge, *body, edge, f"(stand-in read from {archive})", ""])


def _empty_message(kind: str, archive: Path) -> str:
    if kind == "ph2":
        where = archive / PH2_IMAGES
        return (
            f"{where}: no PH2 case folders (IMD002, IMD003, ...) found, so the dataset is empty. "
            f"Expected: {EXPECTED[kind]}."
        )
    return (
        f"{archive}: no PNG files in images/ or masks/, so the dataset is empty. "
        f"Expected: {EXPECTED[kind]}."
    )


def _problem_message(kind: str, archive: Path, problems: list[str]) -> str:
    shown = "\n".join(f"  - {p}" for p in problems[:20])
    more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
    return (
        f"{NAMES[kind]} archive {archive} has {len(problems)} bad case(s):\n{shown}{more}\n"
        "Restore these files from the original archive, or pass strict=False to skip the bad "
        "cases (with a warning that lists them)."
    )


# ----------------------------------------------------------------------------- cache


def _cache_folder(kind, archive, size, strict, cases, problems, extra) -> Path:
    """Cache entry for these exact files: keyed on root, size, kind and each file's stat."""
    ident = json.dumps([CACHE_VERSION, kind, str(archive.resolve()), list(size), strict])
    digest = hashlib.sha256(ident.encode())
    digest.update("\n".join(c.stamp for c in cases).encode())
    for path in extra:
        digest.update(f"\n{path.relative_to(archive)}:{_stat(str(path))}".encode())
    for problem in problems:  # e.g. a mask added later turns a problem into a case
        digest.update(f"problem\0{problem}\n".encode())
    prefix = f"{kind}-{size[0]}x{size[1]}-{hashlib.sha256(ident.encode()).hexdigest()[:10]}"
    return paths.cache_dir() / "arrays" / f"{prefix}-{digest.hexdigest()[:16]}"


def _read_cache(folder: Path):
    """(images, masks, meta) memory-mapped copy-on-write from `folder`, or None on a miss."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
        images = np.load(folder / "images.npy", mmap_mode="c")
        masks = np.load(folder / "masks.npy", mmap_mode="c")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError):
        shutil.rmtree(folder, ignore_errors=True)  # a damaged entry: rebuilt by this load
        return None
    if len(images) != len(meta["ids"]) or len(masks) != len(images):
        shutil.rmtree(folder, ignore_errors=True)
        return None
    return images, masks, meta


def _write_cache(folder: Path, images, masks, meta) -> None:
    """Write the entry atomically (temp folder, then rename) and drop older entries of this root."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=folder.parent))
        try:
            np.save(tmp / "images.npy", images)
            np.save(tmp / "masks.npy", masks)
            (tmp / "meta.json").write_text(json.dumps(meta))
            try:
                os.replace(tmp, folder)
            except OSError:
                if not folder.is_dir():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        prefix = folder.name.rsplit("-", 1)[0] + "-"
        for old in folder.parent.glob(prefix + "*"):
            if old != folder:
                shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        warnings.warn(
            f"Could not write the data cache in {folder.parent} ({exc}); "
            "loading works but the next load decodes again.",
            stacklevel=4,
        )


# ----------------------------------------------------------------------------- splits


def _count(value, n: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise DatasetError(
            f"split: {name} must be a count (int) or a fraction (float), not {value!r}"
        )
    if isinstance(value, (float, np.floating)):
        if not 0 <= value < 1:
            raise DatasetError(f"split: {name}={value} as a fraction must be in [0, 1).")
        return int(round(value * n))
    if value < 0:
        raise DatasetError(f"split: {name}={value} must not be negative.")
    return int(value)


def _stratified(labels, n_val: int, n_test: int, rng) -> tuple[np.ndarray, ...]:
    """Split indices so each label group is shared out over val/test/train in proportion."""
    keys = ["" if lab is None else str(lab) for lab in labels]
    groups = {
        k: rng.permutation([i for i, g in enumerate(keys) if g == k]) for k in sorted(set(keys))
    }
    n = len(keys)
    quotas = {}
    for part, total in (("val", n_val), ("test", n_test)):
        exact = {k: total * len(g) / n for k, g in groups.items()}
        quota = {k: math.floor(v) for k, v in exact.items()}
        left = {k: len(g) - sum(q.get(k, 0) for q in quotas.values()) for k, g in groups.items()}
        for k in sorted(exact, key=lambda k: (quota[k] - exact[k], k)):  # largest remainder first
            if sum(quota.values()) >= total:
                break
            if quota[k] < left[k]:
                quota[k] += 1
        for k in sorted(groups, key=lambda k: -left[k]):  # fill any shortfall from roomy groups
            while sum(quota.values()) < total and quota[k] < left[k]:
                quota[k] += 1
        quotas[part] = quota
    val, test, train = [], [], []
    for k, members in groups.items():
        a, b = quotas["val"][k], quotas["val"][k] + quotas["test"][k]
        val += list(members[:a])
        test += list(members[a:b])
        train += list(members[b:])
    return np.array(train, np.intp), np.array(val, np.intp), np.array(test, np.intp)


# ----------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    """`python -m segcourse prepare`: load PH2 and MADS at the profile's sizes to warm the cache."""
    parser = argparse.ArgumentParser(
        prog="python -m segcourse prepare",
        description="Load PH2 and MADS (real archives or the synthetic stand-ins) once at the "
        "sizes of a run profile, so the cache is warm before the notebooks run.",
    )
    parser.add_argument("--ph2-root", help="the PH2 archive folder (default: $PH2_ROOT, data/)")
    parser.add_argument("--mads-root", help="the MADS archive folder (default: $MADS_ROOT, data/)")
    parser.add_argument("--profile", help="ci, cpu or gpu (default: $SEGCOURSE_PROFILE, else cpu)")
    args = parser.parse_args(argv)
    from .profiles import get_profile

    try:
        profile = get_profile(args.profile or os.environ.get("SEGCOURSE_PROFILE") or "cpu")
    except ValueError as exc:
        parser.error(str(exc))
    jobs = (
        ("PH2", load_ph2, args.ph2_root, profile.image_size),
        ("MADS", load_mads, args.mads_root, tuple(profile.mads_size)),
    )
    status = 0
    for name, load, root, size in jobs:
        try:
            data = load(root, size)
        except DatasetError as exc:
            print(f"{name}: error: {exc}", file=sys.stderr)
            status = 1
            continue
        kind = "SYNTHETIC stand-in" if data.synthetic else "real"
        height, width = data.images.shape[1:3]
        print(f"{name}: {len(data)} cases, {height}x{width}, {kind}, root {data.root}")
    return status
