"""PH2 and MADS as resized, cached uint8 arrays: the real archives exactly as unpacked, else a
synthetic stand-in in the same layout (flagged loudly); no deep-learning backend is imported."""

from .layouts import (
    ARCHIVE_POINTER_FILE,
    DIAGNOSES,
    DOWNLOAD_COMMANDS,
    ENV_VARS,
    EXPECTED,
    MADS_FOLDER,
    NAMES,
    PH2_FOLDER,
    PH2_IMAGES,
    PH2_METADATA,
    STANDIN_MARKER_FILE,
    Case,
    DatasetError,
    find_archive,
    mads_cases,
    ph2_cases,
)
from .loading import SegmentationData, load_mads, load_ph2, synthetic_root
from .prepare import main
from .splits import split

__all__ = [
    "ARCHIVE_POINTER_FILE",
    "DIAGNOSES",
    "DOWNLOAD_COMMANDS",
    "ENV_VARS",
    "EXPECTED",
    "MADS_FOLDER",
    "NAMES",
    "PH2_FOLDER",
    "PH2_IMAGES",
    "PH2_METADATA",
    "STANDIN_MARKER_FILE",
    "Case",
    "DatasetError",
    "SegmentationData",
    "find_archive",
    "load_mads",
    "load_ph2",
    "mads_cases",
    "ph2_cases",
    "main",
    "split",
    "synthetic_root",
]
