"""Everything that runs inside the grader's sandbox: `python -I -m segcourse.grader.worker`.

It limits itself, drops to the sandbox uid, then re-runs a student notebook with nbclient or
scores a saved model on the hidden frames. Of the grader it imports only `cost` (the model's
work, counted before it runs): the sandbox starts it by name, so the two never import each other.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sys
import time
from pathlib import Path

JUPYTER_DIRS = ("JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "IPYTHONDIR", "MPLCONFIGDIR")


def apply_limits(limits: dict) -> None:
    """Set the rlimits of `limits` (a `sandbox.Limits` as a dict) on this process and its
    children: address space, processes, file size, and no core files."""
    for name, value in (
        ("RLIMIT_AS", int(limits["memory_gb"] * 2**30)),
        ("RLIMIT_NPROC", int(limits["processes"])),
        ("RLIMIT_FSIZE", int(limits["file_mb"] * 2**20)),
        ("RLIMIT_CORE", 0),
    ):
        soft, hard = resource.getrlimit(getattr(resource, name))
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(getattr(resource, name), (value, value))


def drop_to(uid: int) -> None:
    """Become `uid` for good (all capabilities go with root's uid)."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getuid() != uid or os.geteuid() != uid:
        raise SystemExit(f"sandbox: could not switch to uid {uid}")


# ------------------------------------------------------------------------------ notebook


def run_notebook(
    src: Path, dest: Path, status_path: Path, cwd: Path, *, timeout: float, output_mb: float = 10.0
) -> dict:
    """Execute a notebook with nbclient under a deadline; save it (outputs capped) and a status."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.read(src, as_version=4)
    deadline = time.monotonic() + timeout
    state = {"cell": None}
    cap = int(output_mb * 2**20)

    class CappedClient(NotebookClient):
        """An nbclient client that stops storing outputs beyond the size cap."""

        stored = 0
        truncated = False

        def output(self, outs, msg, display_id, cell_index):
            size = len(json.dumps(msg.get("content", {}), default=str))
            if self.stored + size > cap:
                if not self.truncated:
                    note = f"[output truncated by the grader: over {output_mb:g} MB]\n"
                    outs.append(nbformat.v4.new_output("stream", name="stderr", text=note))
                self.truncated = True
                return None
            self.stored += size
            return super().output(outs, msg, display_id, cell_index)

    def on_start(cell, cell_index, **_):
        state["cell"] = cell_index

    client = CappedClient(
        nb,
        kernel_name="python3",
        timeout_func=lambda cell: max(1, int(deadline - time.monotonic())),
        startup_timeout=300,
        resources={"metadata": {"path": str(cwd)}},
        on_cell_start=on_start,
    )
    status: dict = {"status": "ok", "reason": "", "cell": None}
    try:
        client.execute()
    except CellTimeoutError:
        status = {"status": "timeout", "cell": state["cell"],
                  "reason": f"the notebook ran past its {timeout:g} s limit"}  # fmt: skip
    except DeadKernelError:
        status = {"status": "kernel_died", "cell": state["cell"],
                  "reason": "the kernel died (crashed, exited or was killed)"}  # fmt: skip
    except CellExecutionError as exc:
        ename = getattr(exc, "ename", "") or "Error"
        evalue = str(getattr(exc, "evalue", ""))[:300]
        kind = "memory" if ename == "MemoryError" else "cell_error"
        status = {"status": kind, "cell": state["cell"], "ename": ename,
                  "reason": f"{ename}: {evalue}".strip()}  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - any runner failure is reported, not raised
        status = {"status": "kernel_died", "cell": state["cell"],
                  "reason": f"{type(exc).__name__}: {str(exc)[:300]}"}  # fmt: skip
    status["truncated"] = client.truncated
    nbformat.write(nb, dest)
    status_path.write_text(json.dumps(status))
    return status


# ------------------------------------------------------------------------------ evaluation


def load_hidden(hidden, image_size):
    """The hidden frames (read before the uid switch: the instructor's folder may be private)."""
    from segcourse import data

    return data.load_mads(hidden, image_size=tuple(int(v) for v in image_size), cache=False,
                          progress=False)  # fmt: skip


def evaluate_model(model_path, hidden, image_size, batch_size: int = 8, frames=None,
                   max_macs: float | None = None, claims=None) -> dict:  # fmt: skip
    """Load a saved model safely, check its shapes and its work, and score it on the hidden
    frames.

    Returns a dict: status (ok, model_unsafe, model_invalid, wrong_shape, too_costly,
    eval_error), reason, iou, dice, frames, output ("logits" or "probabilities"),
    macs_per_pixel, baseline_iou (the best constant mask's IoU on the hidden frames) and, with
    `claims` (the images and masks of the notebook's own test split, `load_claims`),
    recomputed_iou and recomputed_frames. Runs in a separate process; `frames` are the hidden
    frames when already loaded (`load_hidden`); a model above `max_macs` multiply-adds per
    pixel is not run.
    """
    import keras
    import numpy as np

    from segcourse import metrics

    h, w = (int(v) for v in image_size)
    result = {"status": "ok", "reason": "", "iou": None, "dice": None, "frames": 0}
    try:
        model = keras.saving.load_model(model_path, safe_mode=True, compile=False)
    except Exception as exc:  # noqa: BLE001 - any loading failure is the student's file
        text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
        unsafe = re.search(r"safe_mode|Lambda|custom|Could not (locate|deserialize)|"
                           r"register_keras_serializable|Unknown (layer|object)", text)  # fmt: skip
        result["status"] = "model_unsafe" if unsafe else "model_invalid"
        result["reason"] = text[:400]
        return result
    if not isinstance(model, keras.Model) or len(model.inputs) != 1 or len(model.outputs) != 1:
        return {
            **result,
            "status": "wrong_shape",
            "reason": "model.keras must hold a model with one input and one output.",
        }
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4 or shape[3] != 3 or shape[1] not in (None, h) or shape[2] not in (None, w):
        return {**result, "status": "wrong_shape",
                "reason": f"the model takes inputs of shape {shape}; the lab needs (None, {h}, {w}, 3)."}  # fmt: skip
    refused = _check_cost(model, (h, w), max_macs, result)
    if refused:
        return {**result, **refused}
    frames = frames if frames is not None else load_hidden(hidden, (h, w))
    images = frames.images.astype("float32")
    try:
        out = np.asarray(model.predict(images, batch_size=batch_size, verbose=0))
    except Exception as exc:  # noqa: BLE001
        return {
            **result,
            "status": "eval_error",
            "reason": f"prediction failed: {type(exc).__name__}: {str(exc)[:300]}",
        }
    if out.shape != (len(images), h, w, 1):
        return {**result, "status": "wrong_shape",
                "reason": f"the model outputs shape {out.shape[1:]} per frame; the lab needs ({h}, {w}, 1)."}  # fmt: skip
    probabilities = _ends_in_sigmoid(model)
    pred = out > 0.5 if probabilities else out > 0
    result.update(
        iou=float(metrics.mean_iou(frames.masks, pred)),
        dice=float(metrics.mean_dice(frames.masks, pred)),
        frames=len(images),
        output="probabilities" if probabilities else "logits",
        baseline_iou=metrics.best_constant_iou(frames.masks),
    )
    if claims is not None:  # the claimed test IoU, recomputed on the notebook's own test frames
        try:
            own = np.asarray(model.predict(claims[0].astype("float32"), batch_size=batch_size,
                                           verbose=0))  # fmt: skip
        except Exception as exc:  # noqa: BLE001
            result["recompute_skipped"] = f"prediction failed: {type(exc).__name__}"
            return result
        own = own > 0.5 if probabilities else own > 0
        result.update(recomputed_iou=float(metrics.mean_iou(claims[1], own)),
                      recomputed_frames=len(claims[0]))  # fmt: skip
    return result


def load_claims(path) -> tuple:
    """The (images, masks) of the notebook's own test split, from the grader's .npz (read
    before the uid switch, like the hidden frames; never a pickle)."""
    import numpy as np

    with np.load(path, allow_pickle=False) as found:
        return found["images"], found["masks"]


def _check_cost(model, image_size, max_macs, result: dict) -> dict | None:
    """Count the model's multiply-adds per pixel into `result`; a status and reason when it
    is over `max_macs` or cannot be counted under a bound (None when it may run)."""
    from segcourse.grader import cost

    try:
        result["macs_per_pixel"] = macs = cost.macs_per_pixel(model, image_size)
    except Exception as exc:  # noqa: BLE001 - any structure the count cannot walk
        if max_macs is None:
            return None
        return {"status": "eval_error", "reason": "the grader could not count the model's "
                f"work: {type(exc).__name__}: {str(exc)[:300]}"}  # fmt: skip
    if max_macs is not None and macs > max_macs:
        return {"status": "too_costly",
                "reason": f"the model needs {macs:,.0f} multiply-adds per pixel (counted from "
                          f"its layers before running it); the grader allows {max_macs:,.0f}"}  # fmt: skip
    return None


def _ends_in_sigmoid(model) -> bool:
    """Whether the layer that makes the model's output applies a sigmoid."""
    try:
        layer = model.outputs[0]._keras_history[0]
    except (AttributeError, IndexError):
        layer = model.layers[-1] if model.layers else None
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", str(activation)) == "sigmoid"


def probe() -> dict:
    """Who the sandboxed code is: uid, gid, the capability sets of /proc/self/status, its
    cores, and whether it may change them (`affinity_locked`)."""
    found = {"uid": os.getuid(), "gid": os.getgid(), "euid": os.geteuid()}
    found["cpus"] = sorted(os.sched_getaffinity(0))
    try:
        os.sched_setaffinity(0, found["cpus"])  # no change: only the permission is tested
        found["affinity_locked"] = False
    except PermissionError:
        found["affinity_locked"] = True
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key.startswith("Cap"):
            found[key] = int(value.strip(), 16)
    return found


# ------------------------------------------------------------------------------ entry point


def main(argv: list[str] | None = None) -> int:
    """`python -I -m segcourse.grader.worker --limits JSON [--uid U] notebook|evaluate|probe ...`
    (probe: write who the sandboxed code runs as, for the tests and for checking a machine)."""
    parser = argparse.ArgumentParser(prog="python -m segcourse.grader.worker")
    parser.add_argument("--limits", required=True, help="sandbox.Limits as JSON")
    parser.add_argument("--uid", type=int, default=-1)
    sub = parser.add_subparsers(dest="command", required=True)
    nb = sub.add_parser("notebook")
    nb.add_argument("src", type=Path)
    nb.add_argument("dest", type=Path)
    nb.add_argument("status", type=Path)
    nb.add_argument("--cwd", type=Path, required=True)
    ev = sub.add_parser("evaluate")
    ev.add_argument("model", type=Path)
    ev.add_argument("hidden", type=Path)
    ev.add_argument("result", type=Path)
    ev.add_argument("--size", type=int, nargs=2, required=True)
    ev.add_argument("--claims", type=Path, help="the notebook's own test split (.npz)")
    sub.add_parser("probe").add_argument("result", type=Path)
    args = parser.parse_args(argv)
    limits = json.loads(args.limits)
    frames = claims = None
    if args.command == "evaluate":  # instructor data only: no student file is read yet
        frames = load_hidden(args.hidden, args.size)
        claims = load_claims(args.claims) if args.claims else None
    if args.uid > 0:
        drop_to(args.uid)
    apply_limits(limits)
    if args.command == "probe":
        args.result.write_text(json.dumps(probe()))
        return 0
    if args.command == "notebook":
        for var in JUPYTER_DIRS:
            if os.environ.get(var):
                Path(os.environ[var]).mkdir(parents=True, exist_ok=True)
        run_notebook(args.src, args.dest, args.status, args.cwd,
                     timeout=limits["timeout"], output_mb=limits["output_mb"])  # fmt: skip
        return 0
    result = evaluate_model(args.model, args.hidden, tuple(args.size), frames=frames,
                            max_macs=limits.get("max_macs") or None, claims=claims)  # fmt: skip
    args.result.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
