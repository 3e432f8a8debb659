"""Checks of what a notebook leaves behind: its stored outputs, `results.json` (every claimed
number range-checked) and `composite.png`, each read with bounded size and never through a link
(student code wrote them):
no component of the path below the work copy may be a link (`safefs.inside`), and the file is
opened without following one. Images are opened only as the allowed formats (PNG), so a
PostScript file named composite.png never reaches Ghostscript."""

from __future__ import annotations

import io
import json
import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .safefs import inside
from .submissions import MAX_NOTEBOOK_MB

MAX_RESULTS_KB = 1024
MAX_IMAGE_PIXELS = 50_000_000
IMAGE_FORMATS = ("PNG",)  # what composite.png may be (the rubric's `formats` can say others)
INJECTED_TAG = "injected-parameters"


def cell_label(nb, index) -> str:
    """'cell N (`first line`): ' for a cell, numbered as in the student's own notebook."""
    if not isinstance(index, int) or nb is None or not 0 <= index < len(nb.cells):
        return ""
    cell = nb.cells[index]
    injected = sum(
        1 for c in nb.cells[:index] if INJECTED_TAG in c.get("metadata", {}).get("tags", [])
    )
    first = next((ln.strip() for ln in str(cell.get("source", "")).splitlines() if ln.strip()), "")
    return f"cell {index + 1 - injected} (`{first[:60]}`): "


def check_outputs(outcome, nb) -> tuple:
    """--no-execute: the stored outputs decide the run item; returns (passed, note)."""
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]
    ran = [c for _, c in code if c.get("execution_count") or c.get("outputs")]
    for i, cell in code:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                reason = f"{cell_label(nb, i)}{out.get('ename', 'Error')}: {str(out.get('evalue', ''))[:300]}"
                status = "memory" if out.get("ename") == "MemoryError" else "cell_error"
                outcome.fail(status, reason)
                return False, reason
    if code and not ran:
        reason = "the notebook holds no outputs: run it from top to bottom before handing it in"
        outcome.fail("not_run", reason)
        return False, reason
    if len(ran) < len(code):
        reason = f"{len(code) - len(ran)} of {len(code)} code cells were not run"
        outcome.fail("not_run", reason)
        return False, reason
    return True, "the stored outputs show no errors"


def safe_file(path: Path, max_bytes: int, root: Path | None = None) -> tuple[Path | None, str]:
    """A regular file of bounded size (never followed through a link; with `root`, the work
    copy, also no link on the way down from it and nothing outside it), or why not."""
    if root is not None:
        why = inside(path, root)
        if why:
            return None, why
    try:
        info = path.lstat()
    except OSError:
        return None, f"{path.name} was not saved"
    if not stat.S_ISREG(info.st_mode):
        return None, f"{path.name} is not a regular file (a link or a folder)"
    if info.st_size > max_bytes:
        return None, f"{path.name} is over {max_bytes // 2**20} MB"
    return path, ""


def open_safe(path: Path):
    """Open a file for reading in binary without following a link, only if it is regular."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{path.name} is not a regular file")
    return os.fdopen(fd, "rb")


def read_json(path: Path, max_bytes: int, root: Path | None = None):
    """The JSON in a safe file, or None."""
    found, _ = safe_file(path, max_bytes, root)
    if not found:
        return None
    try:
        with open_safe(found) as handle:
            return json.loads(handle.read(max_bytes + 1).decode("utf-8"))
    except (ValueError, OSError, RecursionError):  # RecursionError: JSON nested too deeply
        return None


def read_executed(path: Path):
    """The executed notebook the sandbox wrote, or None."""
    import nbformat

    found, _ = safe_file(path, 2 * MAX_NOTEBOOK_MB * 2**20)
    if not found:
        return None
    try:
        with open_safe(found) as handle:
            return nbformat.read(io.TextIOWrapper(handle, encoding="utf-8"), as_version=4)
    except Exception:  # noqa: BLE001 - a sandbox-written file is untrusted
        return None


@dataclass
class Claims:
    """What results.json claims: the held-out IoU and Dice (None when unusable), and every
    problem found with its numbers (each names the key and the value)."""

    iou: float | None = None
    dice: float | None = None
    problems: list[str] = field(default_factory=list)


def _shown(value) -> str:
    """A claimed value for a message: its JSON-ish repr, cut short."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _out_of_range(value, low, high) -> str | None:
    """Why `value` is not a finite number in [low, high], or None when it is."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "is not a number"
    if not math.isfinite(value):
        return "is not finite"
    if not low <= value <= high:
        return f"is outside [{low:g}, {high:g}]"
    return None


def _non_finite(data, limit: int = 5) -> list[str]:
    """Paths (a.b[2]) of the numbers in `data` that are NaN or infinite; walked without
    recursion, since a student's JSON may be deeply nested."""
    found, stack = [], [("", data)]
    while stack and len(found) < limit:
        where, value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            found.append(where or "(top)")
        elif isinstance(value, dict):
            stack += [(f"{where}.{k}" if where else str(k), v) for k, v in value.items()]
        elif isinstance(value, list):
            stack += [(f"{where}[{i}]", v) for i, v in enumerate(value)]
    return sorted(found)


def read_claims(path: Path, section: dict, root: Path | None = None) -> Claims:
    """results.json, range-checked: the IoU and Dice under the rubric's keys must be finite
    numbers in [0, 1], the keys of its `ranges` within their range, and every other number
    finite. A claim that fails gets no value and a problem that says why."""
    claims = Claims()
    found, why = safe_file(path, MAX_RESULTS_KB * 1024, root)
    if not found:
        claims.problems.append(why)
        return claims
    data = read_json(found, MAX_RESULTS_KB * 1024, root)
    if not isinstance(data, dict):
        claims.problems.append(f"{path.name} is not a JSON object")
        return claims
    checked = set(section.get("ranges", {}))  # keys whose problems are named on their own
    for what in ("iou", "dice"):
        keys = section.get(f"{what}_keys", [what])
        key = next((k for k in keys if k in data), None)
        checked.add(key)
        if key is None:
            claims.problems.append(f"{path.name} has no {what} (looked for {', '.join(keys)})")
        elif wrong := _out_of_range(data[key], 0, 1):
            claims.problems.append(f"{path.name}: {key} = {_shown(data[key])} {wrong}; a "
                                   f"claimed {what} must be a finite number in [0, 1]")  # fmt: skip
        else:
            setattr(claims, what, float(data[key]))
    for key, (low, high) in section.get("ranges", {}).items():
        if key in data and (wrong := _out_of_range(data[key], low, high)):
            claims.problems.append(f"{path.name}: {key} = {_shown(data[key])} {wrong}; it "
                                   f"must be a finite number in [{low:g}, {high:g}]")  # fmt: skip
    others = [p[:60] for p in _non_finite(data) if p not in checked]
    if others:
        claims.problems.append(
            f"{path.name} holds numbers that are not finite: {', '.join(others)}"
        )
    if claims.problems:
        claims.iou = claims.dice = None
    return claims


def check_composite(path: Path, outcome, formats=None, root: Path | None = None) -> tuple:
    """composite.png is a readable image of an allowed format (by content, not by name); its
    thumbnail goes to the feedback page."""
    from PIL import Image, UnidentifiedImageError

    formats = [str(f).upper() for f in (formats or IMAGE_FORMATS)]
    found, why = safe_file(path, 50 * 2**20, root)
    if not found:
        return False, why
    try:
        with open_safe(found) as handle:
            data = io.BytesIO(handle.read(50 * 2**20 + 1))
    except OSError as exc:
        return False, f"{path.name} could not be read ({exc})"
    try:
        image = Image.open(data, formats=formats)
    except UnidentifiedImageError:
        return False, f"{path.name} is not a {' or '.join(formats)} image (checked by content)"
    except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds on bad files
        return False, f"{path.name} is not a readable image ({type(exc).__name__})"
    try:
        with image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                return False, f"{path.name} is too large an image"
            image.load()
            if min(image.size) < 16:
                return False, f"{path.name} is only {image.width}x{image.height} pixels"
            thumb = image.convert("RGB")
            thumb.thumbnail((1200, 1200))
    except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds on bad files
        return False, f"{path.name} is not a readable image ({type(exc).__name__})"
    buffer = io.BytesIO()
    thumb.save(buffer, format="PNG")
    outcome.composite = buffer.getvalue()
    return True, f"{path.name} is a readable {image.width}x{image.height} image"
