"""The PH2 and MADS archives exactly as they unpack, and every name in them, in one place: finding
an archive folder, listing its cases by id and file name (never by walk order), PH2's metadata."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import NamedTuple

from .. import paths
from ..i18n import N_, tr

PH2_FOLDER = "PH2Dataset"
PH2_IMAGES = "PH2 Dataset images"  # with spaces, as in the real archive
PH2_METADATA = "PH2_dataset.txt"
MADS_FOLDER = "segmentation_full_body_mads_dataset_1192_img"
DIAGNOSES = {"0": "common nevus", "1": "atypical nevus", "2": "melanoma"}  # PH2 clinical codes
COLOUR_NAMES = {1: "White", 2: "Red", 3: "Light-Brown", 4: "Dark-Brown", 5: "Blue-Gray", 6: "Black"}
ENV_VARS = {"ph2": "PH2_ROOT", "mads": "MADS_ROOT"}
NAMES = {"ph2": "PH2", "mads": "MADS"}
DOWNLOAD_COMMANDS = {kind: f"python -m segcourse download {kind}" for kind in NAMES}
_EXPECTED = {  # marked for the catalogue; `expected(kind)` shows them in the language in use
    "ph2": N_(
        "the unpacked PH2 archive: a folder (usually '{folder}') holding '{images}/' "
        "with case folders such as 'IMD002/IMD002_Dermoscopic_Image/IMD002.bmp' and "
        "'IMD002/IMD002_lesion/IMD002_lesion.bmp' (and '{metadata}'); point at that folder "
        "or the one above it. `{command}` fetches and unpacks it"
    ),
    "mads": N_(
        "the unpacked MADS archive: a folder holding 'images/' and 'masks/' with PNGs of the "
        "same names, or the double-nested '{folder}/{folder}/images|masks'; point at "
        "the inner folder, the outer one or the folder above it. `{command}` fetches it"
    ),
}
_EXPECTED_FIELDS = {
    "ph2": {
        "folder": PH2_FOLDER,
        "images": PH2_IMAGES,
        "metadata": PH2_METADATA,
        "command": DOWNLOAD_COMMANDS["ph2"],
    },
    "mads": {"folder": MADS_FOLDER, "command": DOWNLOAD_COMMANDS["mads"]},
}
EXPECTED = {kind: text.format(**_EXPECTED_FIELDS[kind]) for kind, text in _EXPECTED.items()}


def expected(kind: str) -> str:
    """What an archive folder of `kind` must hold, in the language in use (EXPECTED: English)."""
    return tr(_EXPECTED[kind], **_EXPECTED_FIELDS[kind])


# segcourse.synth writes STANDIN_MARKER_FILE into every stand-in, so a stand-in is flagged even
# when a user points root= at it; the cached stand-in folder holds ARCHIVE_POINTER_FILE, which
# names the archive folder inside it.
STANDIN_MARKER_FILE = ".segcourse-synthetic"
ARCHIVE_POINTER_FILE = ".segcourse-archive"
# The generator version of each stand-in; the cached one is drawn again when it is older (a
# cached stand-in without STANDIN_VERSION_FILE is version 1). mads 2: frames in sequences.
STANDIN_VERSION_FILE = ".segcourse-standin-version"
STANDIN_VERSIONS = {"ph2": 1, "mads": 2}
_PH2_ID = re.compile(r"IMD\d+")
# MADS file stems: {Action}_{Sequence}_{Camera}_{frame}, e.g. Jazz_Jazz2_C1_00630, Taichi_S1_C0_00010
_MADS_STEM = re.compile(r"(?P<action>[^_]+)_(?P<sequence>.+)_(?P<camera>C\d+)_(?P<frame>\d+)")


class DatasetError(ValueError):
    """A dataset folder or file that cannot be read as PH2 or MADS; the message says what to do."""


class Case(NamedTuple):
    """One image/mask pair of an archive, as absolute paths."""

    id: str
    image: str  # plain strings: listing 200 cases on every warm load must stay cheap
    mask: str
    stamp: str  # relative names, sizes and mtimes of both files, for the cache key


def ph2_case_files(case: str) -> tuple[str, str]:
    """(image, mask) of the PH2 case `case` (such as 'IMD002'), relative to its case folder."""
    return f"{case}_Dermoscopic_Image{os.sep}{case}.bmp", f"{case}_lesion{os.sep}{case}_lesion.bmp"


# ----------------------------------------------------------------------------- case listings


def ph2_cases(archive: Path) -> tuple[list[Case], list[str]]:
    """PH2 cases by id from the case folders; problems for cases missing a file."""
    cases, problems = [], []
    folders = sorted(
        (e for e in os.scandir(archive / PH2_IMAGES) if _PH2_ID.fullmatch(e.name) and e.is_dir()),
        key=lambda e: e.name,
    )
    for entry in folders:
        cid, folder = entry.name, entry.path
        image_name, mask_name = ph2_case_files(cid)
        image, mask = os.path.join(folder, image_name), os.path.join(folder, mask_name)
        image_stat, mask_stat = file_stamp(image), file_stamp(mask)
        if image_stat and mask_stat:
            stamp = f"{cid}/{image_name}:{image_stat}|{cid}/{mask_name}:{mask_stat}"
            cases.append(Case(cid, image, mask, stamp))
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


def mads_cases(inner: Path) -> tuple[list[Case], list[str]]:
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
            cases.append(Case(name[: -len(".png")], image, mask, stamp))
        elif name in images:
            problems.append(f"{image}: image without mask (expected {mask})")
        else:
            problems.append(f"{mask}: mask without image (expected {image})")
    return cases, problems


class MadsName(NamedTuple):
    """The parts of a MADS file stem `{Action}_{Sequence}_{Camera}_{frame}`."""

    action: str  # HipHop, Jazz, Kata, Taichi, Sports
    sequence: str  # e.g. HipHop1, S1, F2, Volleyball
    camera: str  # C0, C1, C2
    frame: int

    @property
    def group(self) -> str:
        """`{Action}_{Sequence}`: one recorded sequence, the same over all of its cameras."""
        return f"{self.action}_{self.sequence}"


def parse_mads_name(stem: str) -> MadsName | None:
    """The parts of a MADS file stem (no `.png`), or None when it does not follow the pattern."""
    found = _MADS_STEM.fullmatch(stem)
    if found is None:
        return None
    return MadsName(found["action"], found["sequence"], found["camera"], int(found["frame"]))


def file_stamp(path: str) -> str | None:
    """'size:mtime_ns' of a regular file, or None when it is missing (or not a file)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}" if stat.S_ISREG(st.st_mode) else None


def parse_ph2_metadata(path: Path) -> tuple[dict[str, str] | None, str]:
    """{id: diagnosis} from the '||'-delimited table (header, legend and blank fields tolerated).

    (None, why) when the file is missing, unreadable or has no rows.
    """
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


# ----------------------------------------------------------------------------- finding archives


def locate(kind: str, root) -> Path | None:
    """The real archive folder from `root`, the env var or data/; None when there is none.

    A `root` or env var that does not hold the archive is an error, never a silent fallback.
    """
    env = ENV_VARS[kind]
    for value, source in ((root, "root"), (os.environ.get(env) or None, f"${env}")):
        if value is None:
            continue
        path = Path(value).expanduser()
        if path.is_file():
            raise DatasetError(
                tr(
                    "{source} = {path} is a file, not a folder (a downloaded archive must be "
                    "unpacked first). Expected there: {expected}.",
                    source=source,
                    path=path,
                    expected=expected(kind),
                )
            )
        if not path.exists():
            raise DatasetError(
                tr(
                    "{source} = {path} does not exist. Expected there: {expected}.",
                    source=source,
                    path=path,
                    expected=expected(kind),
                )
            )
        found = find_archive(kind, path)
        if found is None:
            raise DatasetError(
                tr(
                    "{source} = {path} does not hold the {name} archive (found: {listing}). "
                    "Expected there: {expected}.",
                    source=source,
                    path=path,
                    name=NAMES[kind],
                    listing=_listing(path),
                    expected=expected(kind),
                )
            )
        return found
    for base in (Path.cwd() / "data", paths.project_root() / "data"):
        if base.is_dir():
            found = find_archive(kind, base)
            if found is not None:
                return found
    return None


def find_archive(kind: str, path: Path) -> Path | None:
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


def is_standin(archive: Path) -> bool:
    """Whether segcourse.synth wrote this archive folder (its marker is in it or beside it)."""
    return any((folder / STANDIN_MARKER_FILE).is_file() for folder in (archive, archive.parent))


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
