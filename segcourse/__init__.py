"""segcourse: the helper package of a Keras 3 course on semantic segmentation.

Data (PH2, MADS and their synthetic stand-ins), metrics, plots, run profiles and the lab
grader. Names are imported lazily so that `import segcourse` stays fast and the data layer
never pulls in a deep-learning backend.
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
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'segcourse' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
