"""`python -m segcourse prepare`: load PH2 and MADS once at a run profile's sizes, so the cache is
warm (and the data checked) before the notebooks run."""

from __future__ import annotations

import argparse
import os
import sys

from .layouts import DatasetError
from .loading import load_mads, load_ph2


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
    from ..profiles import get_profile

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
