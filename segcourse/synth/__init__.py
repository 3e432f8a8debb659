"""Synthetic PH2 and MADS stand-ins in the real archives' layouts, so the course runs with no
data and no internet and the loaders use one code path; deterministic for a seed."""

from ..data.layouts import MADS_FOLDER, PH2_FOLDER, PH2_IMAGES, STANDIN_MARKER_FILE
from .cli import main, preview
from .mads import (
    MADS_ACTIONS,
    MADS_SEQUENCES,
    MADS_SIZE,
    mads_names,
    render_mads_frame,
    synth_mads,
)
from .ph2 import Lesion, read_ph2_metadata, render_ph2_case, synth_ph2

__all__ = [
    "MADS_ACTIONS",
    "MADS_FOLDER",
    "MADS_SEQUENCES",
    "MADS_SIZE",
    "PH2_FOLDER",
    "PH2_IMAGES",
    "STANDIN_MARKER_FILE",
    "Lesion",
    "main",
    "mads_names",
    "preview",
    "read_ph2_metadata",
    "render_mads_frame",
    "render_ph2_case",
    "synth_mads",
    "synth_ph2",
]
