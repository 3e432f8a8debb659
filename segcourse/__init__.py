"""segcourse: the helper package of a Keras 3 course on semantic segmentation.

What lessons import: data (PH2, MADS and their synthetic stand-ins), metrics, losses, plots,
augmentation, run profiles and a run's results; the grader lives in `segcourse.grader`.
Names are imported lazily so that `import segcourse` stays fast and the data layer never
pulls in a deep-learning backend.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "DatasetError": "segcourse.data",
    "SegmentationData": "segcourse.data",
    "load_ph2": "segcourse.data",
    "load_mads": "segcourse.data",
    "split": "segcourse.data",
    "synth_ph2": "segcourse.synth",
    "synth_mads": "segcourse.synth",
    "Profile": "segcourse.profiles",
    "get_profile": "segcourse.profiles",
    "project_root": "segcourse.paths",
    "results_dir": "segcourse.paths",
    "start_run": "segcourse.results",
    "print_split": "segcourse.results",
    "print_scores": "segcourse.results",
    "check_learned": "segcourse.results",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'segcourse' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
