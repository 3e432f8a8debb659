"""Getting the real datasets: PH2 from a mirror (pooch, checksummed, resumable) and MADS from Kaggle.

`python -m segcourse download ph2 [--dest D] [--url U] [--sha256 H]`
`python -m segcourse download mads [--dest D]`

Both put the archive folder under `data/` in the course checkout by default, where the
loaders look, and never overwrite a dataset that is already there.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from segcourse.paths import project_root

DEFAULT_URL = "https://www.dropbox.com/s/k88qukc20ljnbuo/PH2Dataset.rar?dl=1"
PH2_IMAGES = "PH2 Dataset images"
MADS_SLUG = "tapakah68/segmentation-full-body-mads-dataset"
MADS_PAGE = f"https://www.kaggle.com/datasets/{MADS_SLUG}"
MADS_FOLDER = "segmentation_full_body_mads_dataset_1192_img"

# Command lines that extract a RAR archive into a folder, in order of preference.
RAR_EXTRACTORS = {
    "unrar": lambda exe, archive, out: [exe, "x", "-idq", "-o-", archive, out + os.sep],
    "unar": lambda exe, archive, out: [exe, "-q", "-D", "-o", out, archive],
    "7z": lambda exe, archive, out: [exe, "x", "-y", "-bd", f"-o{out}", archive],
    "7zz": lambda exe, archive, out: [exe, "x", "-y", "-bd", f"-o{out}", archive],
    "bsdtar": lambda exe, archive, out: [exe, "-x", "-f", archive, "-C", out],
    "tar": lambda exe, archive, out: [exe, "-x", "-f", archive, "-C", out],  # only if bsdtar
}

RAR_INSTALL_HELP = """\
No program that can unpack RAR archives was found (looked for: unrar, unar, 7z, 7zz, bsdtar).
Install one, then run the same command again (the archive is kept, nothing is downloaded twice):
  Debian / Ubuntu:  sudo apt-get install unar
  macOS (Homebrew): brew install unar
  Windows:          winget install 7zip.7zip   (or https://www.7-zip.org), then add
                    C:\\Program Files\\7-Zip to PATH so that `7z` is found
Or unpack {archive} by hand into {dest}."""


class DownloadError(ValueError):
    """A download or extraction failed; the message says what happened and what to do."""


# --------------------------------------------------------------------------------------- PH2


class ResumableDownloader:
    """A pooch downloader that keeps a `.part` file and resumes it with an HTTP Range request.

    An interrupted download leaves `<archive>.part` beside the archive; the next run asks the
    server for the remaining bytes only (servers that ignore Range send everything again).
    A finished file is handed to pooch, which checks the checksum before keeping it.
    """

    def __init__(
        self,
        partial: Path,
        progressbar: bool = True,
        chunk_size: int = 1 << 16,
        timeout: float = 60.0,
    ):
        self.partial = Path(partial)
        self.progressbar = progressbar
        self.chunk_size = chunk_size
        self.timeout = timeout

    def __call__(self, url, output_file, pooch=None, check_only=False):
        import requests
        from tqdm.auto import tqdm

        if check_only:
            return requests.head(url, allow_redirects=True, timeout=self.timeout).ok
        have = self.partial.stat().st_size if self.partial.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            with requests.get(url, headers=headers, stream=True, timeout=self.timeout) as response:
                if not (have and response.status_code == 416):  # 416: the part is already whole
                    response.raise_for_status()
                    resumed = bool(have) and response.status_code == 206
                    have = have if resumed else 0
                    length = int(response.headers.get("Content-Length") or 0)
                    total = have + length if length else None
                    with (
                        open(self.partial, "ab" if resumed else "wb") as out,
                        tqdm(
                            total=total,
                            initial=have,
                            unit="B",
                            unit_scale=True,
                            unit_divisor=1024,
                            desc=self.partial.name.removesuffix(".part"),
                            disable=not self.progressbar,
                        ) as bar,
                    ):
                        for chunk in response.iter_content(self.chunk_size):
                            out.write(chunk)
                            bar.update(len(chunk))
                    if total and self.partial.stat().st_size < total:
                        raise requests.exceptions.ConnectionError("the connection closed early")
        except requests.exceptions.RequestException as err:
            got = self.partial.stat().st_size if self.partial.exists() else 0
            raise DownloadError(
                f"Downloading {url} failed: {err}.\n"
                f"{got / 2**20:.1f} MiB are kept in {self.partial}; run the same command again "
                "to resume. If the mirror is gone, download the archive another way and put it "
                f"at {self.partial.with_suffix('')}."
            ) from err
        kind = archive_kind(self.partial)
        if kind == "html":
            self.partial.unlink()
            raise DownloadError(
                f"{url} sent a web page instead of an archive (the file starts with HTML). "
                "The link is probably a preview page or has expired: for Dropbox links the URL "
                "must end in ?dl=1; otherwise open the URL in a browser, download the archive "
                "by hand and pass its direct link with --url, or put the file in the data folder."
            )
        os.replace(self.partial, output_file)


def archive_kind(path: Path) -> str:
    """What a file is, from its first bytes: 'zip', 'rar', 'html' or 'unknown'."""
    with open(path, "rb") as f:
        head = f.read(512)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if head.startswith(b"Rar!\x1a\x07"):
        return "rar"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<?xml")) or b"<html" in text:
        return "html"
    return "unknown"


def find_ph2(folder: Path) -> Path | None:
    """The PH2 archive folder (the one holding 'PH2 Dataset images') at or one level below `folder`."""
    folder = Path(folder)
    if (folder / PH2_IMAGES).is_dir():
        return folder
    if folder.is_dir():
        for child in sorted(folder.iterdir()):
            if (child / PH2_IMAGES).is_dir():
                return child
    return None


def rar_extractor() -> tuple[str, str] | None:
    """The name and path of the first installed program that unpacks RAR, else None."""
    for name in RAR_EXTRACTORS:
        exe = shutil.which(name)
        if not exe:
            continue
        if name == "tar" and not _is_bsdtar(exe):  # GNU tar cannot read RAR
            continue
        return name, exe
    return None


def _is_bsdtar(exe: str) -> bool:
    """Whether `tar` is libarchive's bsdtar (macOS and Windows ship it), which reads RAR."""
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return "bsdtar" in out.stdout + out.stderr


def _extract(archive: Path, out: Path) -> None:
    """Unpack a zip (pooch.Unzip) or RAR (an installed extractor) archive into the folder `out`."""
    import pooch

    kind = archive_kind(archive)
    if kind == "zip":
        pooch.Unzip(extract_dir=str(out))(str(archive), "download", None)
    elif kind == "rar":
        found = rar_extractor()
        if found is None:
            raise DownloadError(RAR_INSTALL_HELP.format(archive=archive, dest=archive.parent))
        name, exe = found
        print(f"Unpacking {archive.name} with {name} ...")
        result = subprocess.run(
            RAR_EXTRACTORS[name](exe, str(archive), str(out)), capture_output=True, text=True
        )
        if result.returncode != 0:
            raise DownloadError(
                f"{name} could not unpack {archive} (exit code {result.returncode}):\n"
                f"{(result.stderr or result.stdout).strip()[-2000:]}\n"
                "The archive may be damaged: delete it and download again, or try another "
                "extractor (unar, 7z, bsdtar)."
            )
    elif kind == "html":
        raise DownloadError(
            f"{archive} is a web page, not an archive (a failed download?): delete it and run "
            "the command again, with a direct download link (Dropbox: ?dl=1)."
        )
    else:
        raise DownloadError(f"{archive} is neither a zip nor a RAR archive: cannot unpack it")


def _move_without_overwriting(source: Path, dest: Path) -> None:
    """Move every entry of `source` into `dest`; refuses (before moving anything) to replace one."""
    entries = sorted(source.iterdir())
    clashes = [e.name for e in entries if (dest / e.name).exists()]
    if clashes:
        raise DownloadError(
            f"Not unpacking into {dest}: {', '.join(clashes)} already exists there and would be "
            "overwritten. Move it away, or pass another --dest."
        )
    for entry in entries:
        shutil.move(str(entry), str(dest / entry.name))


def _archive_name(url: str) -> str:
    """The file name at the end of a URL, without query string."""
    name = Path(urlparse(url).path).name
    return name or "PH2Dataset.rar"


def download_ph2(
    dest=None, url: str = DEFAULT_URL, known_hash: str | None = None, progressbar: bool = True
) -> Path:
    """Download PH2 into `dest` (default: data/ in the checkout), unpack it and return its folder.

    `known_hash` ("sha256:<hex>" or "<hex>") is enforced when given; the default mirror has
    no published checksum, so the hash of what was downloaded is printed instead. An existing
    unpacked dataset is returned untouched; an archive already in `dest` is not fetched again.
    An interrupted download resumes from `<archive>.part`.
    """
    import pooch

    dest = Path(dest) if dest is not None else project_root() / "data"
    dest.mkdir(parents=True, exist_ok=True)
    existing = find_ph2(dest)
    if existing is not None:
        print(f"PH2 is already unpacked at {existing}; nothing to do.")
        return existing

    name = _archive_name(url)
    print(f"Downloading PH2 from {url}\n  to {dest / name}")
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")  # pooch's own hints name pooch functions, not this command
    try:
        archive = Path(
            pooch.retrieve(
                url,
                known_hash=known_hash,
                fname=name,
                path=dest,
                progressbar=progressbar,
                downloader=ResumableDownloader(dest / f"{name}.part", progressbar=progressbar),
            )
        )
    except DownloadError:
        raise
    except ValueError as err:  # pooch: checksum mismatch; the bad file is already deleted
        raise DownloadError(
            f"The checksum of the file from {url} is wrong, so it was not kept.\n{err}\n"
            "Either the download was corrupted (run again) or the file on the server changed "
            "(check the source, then pass the new --sha256)."
        ) from err
    finally:
        logger.setLevel(level)

    digest = pooch.file_hash(str(archive))
    if known_hash is None:
        print(
            f"SHA256 of {archive.name}: {digest}\n  No checksum is published for this "
            f"mirror, so this one was not checked; pass --sha256 {digest} to check it next "
            "time or on another machine."
        )
    else:
        print(f"SHA256 checked: {digest}")

    with tempfile.TemporaryDirectory(prefix=".unpack-", dir=dest) as tmp:
        _extract(archive, Path(tmp))
        found = find_ph2(Path(tmp)) or next(
            (p.parent for p in Path(tmp).glob(f"*/*/{PH2_IMAGES}") if p.is_dir()), None
        )
        if found is None:
            raise DownloadError(
                f"{archive} does not contain a '{PH2_IMAGES}' folder: is it really PH2? "
                "Nothing was unpacked into the data folder."
            )
        _move_without_overwriting(Path(tmp), dest)
        root = dest / found.relative_to(tmp)
    print(
        f"PH2 is ready at {root}.\n  segcourse.load_ph2() finds it there (or set "
        f"PH2_ROOT={root}). {archive.name} can be deleted now."
    )
    return root


# -------------------------------------------------------------------------------------- MADS


def find_mads(folder: Path) -> Path | None:
    """A MADS folder (holding images/ and masks/) at most two levels below `folder`, else None."""
    folder = Path(folder)
    for candidate in (folder, *sorted(folder.glob("*")), *sorted(folder.glob("*/*"))):
        if (candidate / "images").is_dir() and (candidate / "masks").is_dir():
            return candidate
    return None


def kaggle_status() -> str | None:
    """None when the Kaggle CLI is installed and has an API token, else what is missing."""
    if shutil.which("kaggle") is None:
        return "the Kaggle command line tool (`kaggle`) is not installed"
    config_dir = Path(os.environ.get("KAGGLE_CONFIG_DIR") or Path.home() / ".kaggle")
    has_env = os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY")
    if not (
        has_env
        or (config_dir / "kaggle.json").is_file()
        or os.environ.get("KAGGLE_API_TOKEN")
        or (config_dir / "access_token").is_file()
    ):
        return (
            f"no Kaggle API token was found ({config_dir / 'kaggle.json'}, or "
            "KAGGLE_USERNAME and KAGGLE_KEY)"
        )
    return None


def mads_manual_steps(dest: Path, reason: str) -> str:
    """Exact steps to get MADS without (or after fixing) the Kaggle CLI."""
    return f"""\
MADS cannot be downloaded automatically: {reason}.

Either set up the Kaggle command line tool once:
  1. pip install kaggle
  2. on https://www.kaggle.com/settings, under API, click "Create New Token"; save the
     kaggle.json it gives you as ~/.kaggle/kaggle.json (Windows: %USERPROFILE%\\.kaggle\\kaggle.json;
     on Linux/macOS also: chmod 600 ~/.kaggle/kaggle.json), or set KAGGLE_USERNAME and KAGGLE_KEY
  3. python -m segcourse download mads

Or download it by hand:
  1. open {MADS_PAGE}, sign in (free account) and click Download
  2. unzip it so that df.csv ends up at {dest / MADS_FOLDER / "df.csv"}
     and the pictures at {dest / MADS_FOLDER / MADS_FOLDER}/images, masks, ...
     (if the zip holds that folder itself, unzip into {dest}; if not, into
     {dest / MADS_FOLDER}). Both this double-nested layout and a flattened one (a folder
     holding images/ and masks/ directly) work.
  3. or unzip it anywhere and set MADS_ROOT to that folder (e.g. export MADS_ROOT=/path/to/{MADS_FOLDER})
"""


def download_mads(dest=None) -> Path:
    """Download and unpack MADS with the Kaggle CLI into `dest` (default: data/); return its folder.

    Without a working Kaggle CLI, raises DownloadError with the exact manual steps.
    """
    dest = Path(dest) if dest is not None else project_root() / "data"
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / MADS_FOLDER
    existing = find_mads(target) if target.exists() else None
    if existing is not None:
        print(f"MADS is already unpacked at {target}; nothing to do.")
        return target
    if target.exists():
        raise DownloadError(
            f"{target} exists but holds no images/ and masks/ folders: move it away and run again."
        )
    problem = kaggle_status()
    if problem:
        raise DownloadError(mads_manual_steps(dest, problem))
    with tempfile.TemporaryDirectory(prefix=".kaggle-", dir=dest) as tmp:
        command = [
            shutil.which("kaggle"),
            "datasets",
            "download",
            "-d",
            MADS_SLUG,
            "--unzip",
            "-p",
            tmp,
        ]
        print("Running:", " ".join(command[1:-1] + ["DEST"]))
        result = subprocess.run(command)
        if result.returncode != 0:
            raise DownloadError(
                mads_manual_steps(
                    dest,
                    f"`kaggle datasets download` failed with exit code {result.returncode} "
                    "(see its message above; a 403 means the token is wrong or the dataset's terms "
                    "were not accepted on its page)",
                )
            )
        unpacked = Path(tmp)
        entries = list(unpacked.iterdir())
        if len(entries) == 1 and entries[0].is_dir() and entries[0].name == MADS_FOLDER:
            unpacked = entries[0]  # the zip held the outer folder itself
        if find_mads(unpacked) is None:
            raise DownloadError(
                f"The Kaggle download holds no images/ and masks/ folders "
                f"(found: {sorted(e.name for e in entries)})."
            )
        shutil.move(str(unpacked), str(target))
    print(
        f"MADS is ready at {target}.\n  segcourse.load_mads() finds it there (or set "
        f"MADS_ROOT={target})."
    )
    return target


# --------------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    """`python -m segcourse download ph2|mads [options]`; prints errors, returns an exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m segcourse download", description="Download the real PH2 or MADS dataset."
    )
    sub = parser.add_subparsers(dest="dataset", required=True)
    ph2 = sub.add_parser("ph2", help="PH2 dermoscopy images (RAR from a mirror, checksummed)")
    ph2.add_argument("--dest", help="folder to unpack into (default: data/ in the checkout)")
    ph2.add_argument("--url", default=DEFAULT_URL, help="archive URL (default: %(default)s)")
    ph2.add_argument("--sha256", help="expected SHA256 of the archive; checked when given")
    ph2.add_argument("--no-progress", action="store_true", help="no progress bar")
    mads = sub.add_parser("mads", help="MADS full-body images (Kaggle CLI, else manual steps)")
    mads.add_argument("--dest", help="folder to unpack into (default: data/ in the checkout)")
    args = parser.parse_args(argv)
    try:
        if args.dataset == "ph2":
            download_ph2(
                args.dest, url=args.url, known_hash=args.sha256, progressbar=not args.no_progress
            )
        else:
            download_mads(args.dest)
    except DownloadError as err:
        print(f"\n{err}", file=sys.stderr)
        return 1
    return 0
