"""The decoded-array cache: one entry per archive, size and exact file set (keyed on each file's
size and mtime), memory-mapped on a hit so a warm load costs no decoding."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

from .. import paths
from .layouts import file_stamp

CACHE_VERSION = 1


def entry_folder(kind, archive, size, strict, cases, problems, extra) -> Path:
    """Cache entry for these exact files: keyed on root, size, kind and each file's stat."""
    ident = json.dumps([CACHE_VERSION, kind, str(archive.resolve()), list(size), strict])
    digest = hashlib.sha256(ident.encode())
    digest.update("\n".join(c.stamp for c in cases).encode())
    for path in extra:
        digest.update(f"\n{path.relative_to(archive)}:{file_stamp(str(path))}".encode())
    for problem in problems:  # e.g. a mask added later turns a problem into a case
        digest.update(f"problem\0{problem}\n".encode())
    prefix = f"{kind}-{size[0]}x{size[1]}-{hashlib.sha256(ident.encode()).hexdigest()[:10]}"
    return paths.cache_dir() / "arrays" / f"{prefix}-{digest.hexdigest()[:16]}"


def read(folder: Path):
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


def write(folder: Path, images, masks, meta) -> None:
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
