"""`python -m segcourse synth ...`: write a stand-in anywhere, or render the titled preview grid
of samples that the README shows."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.layouts import DIAGNOSES, MADS_FOLDER, PH2_IMAGES, PH2_METADATA, ph2_case_files
from .mads import synth_mads
from .ph2 import read_ph2_metadata, synth_ph2


def preview(out: str | os.PathLike, seed: int = 0, per_row: int = 4, dpi: int = 80) -> Path:
    """Render a titled grid of stand-in samples (PH2 with lesion contours, MADS with mask overlay)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="segcourse-preview-") as tmp:
        ph2 = synth_ph2(Path(tmp) / "ph2", n=5 * per_row, seed=seed, progress=False)
        mads = synth_mads(Path(tmp) / "mads", n=8 * per_row, seed=seed, progress=False)
        diagnosis = read_ph2_metadata(ph2 / PH2_METADATA)
        fig, axes = plt.subplots(5, per_row, figsize=(2.7 * per_row, 11.2), squeeze=False)
        for ax in axes.ravel():
            ax.axis("off")
        for row, name in enumerate(DIAGNOSES.values()):
            cases = [c for c in sorted(diagnosis) if diagnosis[c] == name][:per_row]
            for ax, case in zip(axes[row][: len(cases)], cases, strict=True):
                image_file, mask_file = (ph2 / PH2_IMAGES / case / f for f in ph2_case_files(case))
                img = np.asarray(Image.open(image_file))
                mask = np.asarray(Image.open(mask_file).convert("L")) > 0
                ax.imshow(img)
                ax.contour(mask, levels=[0.5], colors=["#00e5ff"], linewidths=0.9)
                ax.set_title(f"{case}: {name}, lesion {mask.mean():.0%}", fontsize=8)
        inner = mads / MADS_FOLDER
        names = sorted(p.name for p in (inner / "images").iterdir())
        picks = [names[int(i)] for i in np.linspace(0, len(names) - 1, 2 * per_row).round()]
        for ax, name in zip(axes[3:].ravel()[: len(picks)], picks, strict=True):
            img = np.asarray(Image.open(inner / "images" / name))
            mask = np.asarray(Image.open(inner / "masks" / name)) > 127
            ax.imshow(img)
            tint = np.zeros((*mask.shape, 4), np.float32)
            tint[mask] = (1.0, 0.0, 0.8, 0.3)
            ax.imshow(tint)
            ax.contour(mask, levels=[0.5], colors=["#ff00cc"], linewidths=0.8)
            ax.set_title(name[:-4], fontsize=7)
        fig.suptitle(
            "segcourse synthetic stand-ins (not real data)\n"
            "rows 1-3: PH2-like dermoscopy by diagnosis, cyan = lesion mask; "
            "rows 4-5: MADS-like studio frames, magenta = performer mask",
            fontsize=10,
        )
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, dpi=dpi, format="png")
        plt.close(fig)
    out.parent.mkdir(parents=True, exist_ok=True)
    picture = Image.open(buf).convert("RGB")
    picture.save(out, optimize=True)
    if out.stat().st_size > 380_000:  # keep the README light: a 256-colour palette, dithered
        picture.quantize(
            256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.FLOYDSTEINBERG
        ).save(out, optimize=True)
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m segcourse synth ph2|mads DEST [--n N] [--seed S]` or `synth preview OUT.png`."""
    parser = argparse.ArgumentParser(
        prog="python -m segcourse synth",
        description="Write a synthetic stand-in in the real archive layout.",
    )
    sub = parser.add_subparsers(dest="what", required=True)
    for name, n, text in (
        ("ph2", 200, "PH2Dataset/ (dermoscopy)"),
        ("mads", 240, "segmentation_full_body_mads_dataset_1192_img/ (studio frames)"),
    ):
        p = sub.add_parser(name, help=f"write {text} under DEST")
        p.add_argument("dest", help="parent folder for the archive folder")
        p.add_argument("--n", type=int, default=n, help=f"number of cases (default {n})")
        p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        p.add_argument("--overwrite", action="store_true", help="replace an earlier stand-in there")
    p = sub.add_parser("preview", help="render a titled grid of samples into a PNG")
    p.add_argument("out", help="output PNG path")
    p.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        if args.what == "preview":
            path = preview(args.out, seed=args.seed)
        else:
            make = synth_ph2 if args.what == "ph2" else synth_mads
            path = make(args.dest, n=args.n, seed=args.seed, overwrite=args.overwrite)
    except ValueError as err:
        print(f"segcourse synth: error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0
