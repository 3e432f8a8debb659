"""`bench train`: training img/s of SegNet and U-Net, TrainBatches vs in-memory fit, per backend."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from .common import cpus, format_seconds

ROOT = Path(__file__).resolve().parents[2]  # the source checkout
BACKENDS = ("tensorflow", "jax", "torch")
MODELS = ("SegNet", "U-Net")
LESSON_NOTEBOOKS = (
    "01_ph2_tour.ipynb",
    "02_segnet.ipynb",
    "03_unet.ipynb",
    "04_losses_and_metrics.ipynb",
)
FEEDER_TARGET = 1 / 0.95  # TrainBatches must reach at least 0.95 of plain fit's img/s


def add_parser(subparsers) -> None:
    """Options of `bench train`."""
    parser = subparsers.add_parser(
        "train",
        help="training img/s of SegNet and U-Net: TrainBatches vs in-memory fit, per backend",
        description="For each Keras backend that is installed (each in its own process, since "
        "KERAS_BACKEND is fixed at import), trains the lesson SegNet and U-Net (16 base "
        "filters, the profile's image size, batch size and precision) on in-memory arrays, "
        "once fed by segcourse.augment.TrainBatches (shuffled, augmented) and once by plain "
        "model.fit(x, y), and reports images per second and their ratio. With --notebooks it "
        "also executes the lesson notebooks with papermill and reports their wall times.",
    )
    parser.add_argument("--profile", help="ci, cpu or gpu (default: SEGCOURSE_PROFILE or hardware)")
    parser.add_argument(
        "--backends",
        default=",".join(BACKENDS),
        help="comma-separated Keras backends to try (default: all three; missing ones are skipped)",
    )
    parser.add_argument("--models", default="SegNet,U-Net", help="SegNet, U-Net or both")
    parser.add_argument(
        "--steps", type=int, default=0, help="timed steps per epoch (0: 10 on CPU, 60 on GPU)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=2,
        help="fit() runs of each feeder, 2 timed epochs each (best counts)",
    )
    parser.add_argument("--filters", type=int, default=16, help="base filters (16)")
    parser.add_argument(
        "--notebooks",
        action="store_true",
        help="also run the lesson notebooks (papermill) and time them",
    )
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.set_defaults(run=run)


def run(args) -> int:
    """Run the training benchmark per backend; exit status 1 when the feeder target is missed."""
    import importlib.util
    import json
    import subprocess

    from segcourse.profiles import get_profile

    profile = get_profile(args.profile) if args.profile else None
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise SystemExit(f"bench train: unknown model(s) {unknown}; choose from {sorted(MODELS)}")
    if args.repeat < 1 or args.steps < 0:
        raise SystemExit("bench train: --repeat must be >= 1 and --steps >= 0")
    wanted = [b.strip() for b in args.backends.split(",") if b.strip()]
    bad = [b for b in wanted if b not in BACKENDS]
    if bad:
        raise SystemExit(
            f"bench train: unknown backend(s) {bad}; choose from {', '.join(BACKENDS)}"
        )
    backends = [b for b in wanted if importlib.util.find_spec(b) is not None]
    for missing in sorted(set(wanted) - set(backends)):
        print(f"bench train: backend {missing} is not installed; skipped", flush=True)
    if not backends:
        raise SystemExit("bench train: none of the requested backends is installed")
    print(
        f"bench train: {cpus()} CPU(s); backends {', '.join(backends)}; models {', '.join(models)}"
    )
    results = {"cpus": cpus(), "runs": [], "notebooks": []}
    for backend in backends:
        env = _env(backend, args.profile)
        request = json.dumps(
            {"models": models, "steps": args.steps, "repeat": args.repeat, "filters": args.filters}
        )
        print(f"  {backend}: training ...", flush=True)
        worker = "import sys, devtools.bench.train as b; b.train_worker(sys.argv[1])"
        proc = subprocess.run(
            [sys.executable, "-c", worker, request], env=env, capture_output=True, text=True
        )
        marker = [ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH-RESULT ")]
        if proc.returncode != 0 or not marker:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
            print(f"  {backend}: FAILED (exit {proc.returncode})\n{tail}", flush=True)
            results["runs"].append({"backend": backend, "error": tail})
            continue
        rows = json.loads(marker[-1][len("BENCH-RESULT ") :])
        results["runs"].extend(rows)
        _print_table(rows)  # each backend as soon as it is done
    print()
    met = _print_table(results["runs"])
    if args.notebooks:
        results["notebooks"] = _time_notebooks(profile.name if profile else None, backends[0])
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")
    return 0 if met else 1


def _env(backend: str, profile: str | None) -> dict:
    """The environment of a child process: this backend, this profile, the checkout importable."""
    env = dict(os.environ, KERAS_BACKEND=backend)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), env.get("PYTHONPATH"))))
    if profile:
        env["SEGCOURSE_PROFILE"] = profile
    return env


EPOCHS_PER_FIT = 2  # timed epochs per fit() call, after one untimed epoch


def _epoch_timer():
    """A Keras callback class that records each epoch's wall time (imported late: keras)."""
    import keras

    class Timer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)

    return Timer


def train_worker(request: str) -> None:
    """In a subprocess with KERAS_BACKEND set: time both feeders for each model, print JSON."""
    import json

    import keras
    import numpy as np

    from segcourse import losses
    from segcourse.augment import TrainBatches
    from segcourse.models import build_segnet, build_unet
    from segcourse.profiles import backend_sees_gpu, get_profile

    builders = {"SegNet": build_segnet, "U-Net": build_unet}
    EpochTimer = _epoch_timer()  # noqa: N806 - a class
    req = json.loads(request)
    profile = get_profile()
    gpu = backend_sees_gpu()
    steps = req["steps"] or (60 if gpu else 10)
    size, batch = profile.image_size, profile.batch_size
    keras.mixed_precision.set_dtype_policy(profile.precision)
    rng = np.random.default_rng(0)
    n = steps * batch
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    yy, xx = np.mgrid[:size, :size]
    masks = np.zeros((n, size, size, 1), np.float32)
    masks[:, :, :, 0] = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3) ** 2
    rows = []
    for name in req["models"]:
        keras.utils.set_random_seed(0)
        model = builders[name](size, req["filters"])
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            loss=keras.losses.BinaryCrossentropy(from_logits=True),
            metrics=losses.segmentation_metrics(from_logits=True),
        )
        feeds = {  # fit() arguments of one epoch through each input path
            "TrainBatches": {"x": TrainBatches(images, masks, batch, seed=0)},
            "in-memory fit": {"x": images, "y": masks, "batch_size": batch, "shuffle": True},
        }
        for feed in feeds.values():  # warm-up: compile the step for both input paths
            model.fit(**feed, epochs=1, verbose=0)
        best = {key: float("inf") for key in feeds}
        for _ in range(req["repeat"]):  # interleaved, so a busy moment hurts both alike
            for key, feed in feeds.items():
                # Epochs inside one fit(), as the notebooks train: what a fit() call costs to
                # set up (data adapter, callbacks, iterator) is paid once per run, not per epoch.
                timer = EpochTimer()
                model.fit(**feed, epochs=1 + EPOCHS_PER_FIT, verbose=0, callbacks=[timer])
                best[key] = min(best[key], *timer.seconds[1:])
        rows.append(
            {
                "backend": keras.backend.backend(),
                "device": "GPU" if gpu else "CPU",
                "profile": profile.name,
                "model": name,
                "image_size": size,
                "batch_size": batch,
                "base_filters": req["filters"],
                "precision": profile.precision,
                "images_per_epoch": n,
                "feeder_img_s": n / best["TrainBatches"],
                "fit_img_s": n / best["in-memory fit"],
                "ratio": best["TrainBatches"] / best["in-memory fit"],
            }
        )
    print("BENCH-RESULT " + json.dumps(rows), flush=True)


def _print_table(runs: list) -> bool:
    """Print img/s per backend and model; True when every feeder ratio meets FEEDER_TARGET."""
    print()
    print(
        f"{'backend':<11}{'device':<7}{'model':<8}{'size':>5}{'batch':>6}{'precision':>16}"
        f"{'TrainBatches':>14}{'plain fit':>11}{'ratio':>7}   target <= {FEEDER_TARGET:.2f}"
    )
    met = True
    for run in runs:
        if "error" in run:
            print(f"{run['backend']:<11}failed")
            met = False
            continue
        ok = run["ratio"] <= FEEDER_TARGET
        met &= ok
        print(
            f"{run['backend']:<11}{run['device']:<7}{run['model']:<8}{run['image_size']:>5}"
            f"{run['batch_size']:>6}{run['precision']:>16}{run['feeder_img_s']:>10.1f} img/s"
            f"{run['fit_img_s']:>7.1f} img/s{run['ratio']:>6.2f}   {'met' if ok else 'MISSED'}"
        )
    print(
        "\nimg/s: training images per second (best of the timed epochs); ratio: epoch time "
        f"TrainBatches / plain fit; {'all targets met' if met else 'target NOT met'}"
    )
    return met


def _time_notebooks(profile: str | None, backend: str) -> list:
    """Execute each lesson notebook with papermill in a fresh kernel and time it."""
    import json
    import subprocess

    out_dir = ROOT / "build" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    env = _env(backend, profile)
    rows = []
    print(f"\nnotebooks ({profile or 'default'} profile, {backend}):", flush=True)
    for name in LESSON_NOTEBOOKS:
        source = ROOT / "notebooks" / "solutions" / name
        if not source.is_file():
            continue
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "papermill", "--cwd", str(source.parent), str(source),
             str(out_dir / name), "--no-progress-bar"],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        ok = proc.returncode == 0
        result = ROOT / "build" / "results" / name.replace(".ipynb", ".json")
        dice = json.loads(result.read_text()).get("test_dice") if result.is_file() and ok else None
        rows.append({"notebook": name, "seconds": seconds, "ok": ok, "test_dice": dice})
        score = f", test Dice {dice:.3f}" if dice is not None else ""
        print(
            f"  {name:<30}{format_seconds(seconds):>10}  {'ok' if ok else 'FAILED'}{score}",
            flush=True,
        )
    return rows
