"""Benchmarks behind `python -m segcourse bench load|train|grade` (not timed tests).

Each benchmark is one `add_<name>_parser(subparsers)` that registers its options and one
`bench_<name>(args) -> int` that runs it; `add_benchmarks` lists the parsers. Only the
benchmark that runs imports what it needs (the load benchmark imports no DL backend).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

LOAD_TARGETS = {"cold": 15.0, "warm": 200.0}  # minimum speed-up over the naive baseline
MEMORY_TARGET = 0.2  # maximum peak memory growth as a share of the baseline's


def main(argv: list[str] | None = None) -> int:
    """`python -m segcourse bench BENCHMARK [options]`."""
    parser = argparse.ArgumentParser(
        prog="python -m segcourse bench", description="Benchmarks of the course's helpers."
    )
    subparsers = parser.add_subparsers(dest="benchmark", required=True)
    add_benchmarks(subparsers)
    args = parser.parse_args(argv)
    return int(args.run(args) or 0)


def add_benchmarks(subparsers) -> None:
    """Register every benchmark sub-command: one line per benchmark."""
    add_load_parser(subparsers)
    add_train_parser(subparsers)
    add_grade_parser(subparsers)


# ----------------------------------------------------------------------------- bench load


def add_load_parser(subparsers) -> None:
    """Options of `bench load`."""
    parser = subparsers.add_parser(
        "load",
        help="load_ph2 cold and warm against the naive skimage baseline",
        description="Times load_ph2 cold (cache off) and warm (cache on, second call) and a "
        "naive baseline (per-image anti-aliased float64 skimage resize) on the same PH2-layout "
        "cases, each in a fresh process, and reports peak memory growth (RSS sampled every "
        "millisecond) and ratios against the baseline.",
    )
    parser.add_argument(
        "--root", help="a PH2 archive (default: the synthetic stand-in, generated if needed)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each (best counts)")
    parser.add_argument("--size", type=int, default=256, help="square output size (256)")
    parser.set_defaults(run=bench_load)


def bench_load(args) -> int:
    """Run the load benchmark and print the table; exit status 1 when a target is missed."""
    from . import data

    if args.repeat < 1:
        raise SystemExit("bench load: --repeat must be at least 1")
    if args.root:
        archive = data._find_archive("ph2", Path(args.root).expanduser())
        if archive is None:
            raise SystemExit(f"bench load: {args.root} does not hold a PH2 archive")
        source = "given root"
    else:
        archive, source = data.synthetic_root("ph2"), "synthetic stand-in"
    cases, problems = data._ph2_cases(archive)
    if problems or not cases:
        raise SystemExit(f"bench load: {archive} has missing files; fix them first")
    from PIL import Image

    with Image.open(cases[0].image) as first:
        shape = f"{first.width}x{first.height}"
    size = (args.size, args.size)
    print(
        f"bench load: {len(cases)} PH2-layout cases ({source}, first image {shape}) -> "
        f"{args.size}x{args.size}; {_cpus()} CPU(s); best of {args.repeat}; each in a fresh "
        "process; memory = peak RSS growth during the call, sampled every 1 ms",
        flush=True,
    )
    results = {}
    for task in ("baseline", "cold", "warm"):
        print(f"  running {task} ...", flush=True)
        results[task] = _in_fresh_process(task, str(archive), size, args.repeat)
    met = _print_table(results)
    _print_agreement(archive, size, min(20, len(cases)))
    return 0 if met else 1


def naive_load_ph2(archive, size) -> tuple:
    """PH2 the way course notebooks usually load it: anti-aliased float64 skimage per image."""
    from skimage.io import imread
    from skimage.transform import resize

    from . import data

    images, masks = [], []
    for case in data._ph2_cases(Path(archive))[0]:
        images.append(resize(imread(case.image), size, anti_aliasing=True))
        masks.append(resize(imread(case.mask).astype(float), size, anti_aliasing=True))
    import numpy as np

    return np.array(images), np.array(masks)


def _measure(task: str, archive: str, size, repeat: int) -> dict:
    """In a fresh process: best time of `repeat` calls, and peak RSS growth of the first."""
    from . import data

    if task == "baseline":
        import skimage.io  # noqa: F401  (import time is not load time)
        import skimage.transform  # noqa: F401

        def call():
            return naive_load_ph2(archive, size)
    else:
        cache = task == "warm"

        def call():
            return data.load_ph2(archive, size, cache=cache, progress=False)

        if cache:
            call()  # fills the cache: the timed calls are second calls
    times, growth = [], 0
    for i in range(repeat):
        gc.collect()
        sampler = _PeakRss() if i == 0 else None
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
        if sampler is not None:
            growth = sampler.stop()
        del result
    return {"seconds": min(times), "growth": growth}


def _in_fresh_process(task, archive, size, repeat) -> dict:
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_measure, task, archive, size, repeat).result()


class _PeakRss:
    """Samples this process's resident memory every millisecond from a background thread."""

    def __init__(self):
        self.start_rss = self.peak = _rss()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._done.wait(0.001):
            self.peak = max(self.peak, _rss())

    def stop(self) -> int:
        """Peak growth in bytes since the sampler started."""
        self._done.set()
        self._thread.join()
        return max(self.peak, _rss()) - self.start_rss


def _rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import psutil

        return psutil.Process().memory_info().rss


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _print_table(results: dict) -> bool:
    base = results["baseline"]
    rows = [
        ("naive baseline (skimage, float64)", base, None),
        ("load_ph2 cold (cache=False)", results["cold"], "cold"),
        ("load_ph2 warm (cached, 2nd call)", results["warm"], "warm"),
    ]
    print()
    print(f"{'':34} {'time':>9} {'speed-up':>9} {'peak mem':>10} {'mem/base':>9}   targets")
    all_met = True
    for label, res, key in rows:
        speed = base["seconds"] / res["seconds"]
        share = res["growth"] / base["growth"] if base["growth"] > 0 else float("nan")
        verdict = ""
        if key:
            fast, lean = speed >= LOAD_TARGETS[key], share <= MEMORY_TARGET
            all_met &= fast and lean
            verdict = (
                f">={LOAD_TARGETS[key]:.0f}x {'met' if fast else 'MISSED'}, "
                f"mem <={MEMORY_TARGET:.1f} {'met' if lean else 'MISSED'}"
            )
        print(
            f"{label:34} {_seconds(res['seconds']):>9} {speed:>8.1f}x "
            f"{res['growth'] / 2**20:>7.1f} MB {share:>9.3f}   {verdict}"
        )
    print(f"\nall targets {'met' if all_met else 'NOT met'}")
    return all_met


def _print_agreement(archive, size, n: int) -> None:
    """How close the fast loader's arrays are to the naive ones (first n cases)."""
    import numpy as np

    from . import data

    fast = data.load_ph2(archive, size, cache=True, progress=False)
    cases = data._ph2_cases(Path(archive))[0][:n]
    from skimage.io import imread
    from skimage.transform import resize

    diffs, agree = [], []
    for i, case in enumerate(cases):
        image = resize(imread(case.image), size, anti_aliasing=True) * 255
        mask = resize(imread(case.mask).astype(float), size, anti_aliasing=True) > 0.5
        diffs.append(np.abs(fast.images[i].astype(float) - image).mean())
        agree.append((fast.masks[i, ..., 0].astype(bool) == mask).mean())
    print(
        f"agreement with the baseline on {n} cases: mean |image difference| "
        f"{np.mean(diffs):.2f} grey levels of 255; mask pixels identical {np.mean(agree):.2%}"
    )


def _seconds(value: float) -> str:
    return f"{value:.2f} s" if value >= 1 else f"{value * 1000:.1f} ms"


# ----------------------------------------------------------------------------- bench train

BACKENDS = ("tensorflow", "jax", "torch")
LESSON_NOTEBOOKS = (
    "01_ph2_tour.ipynb",
    "02_segnet.ipynb",
    "03_unet.ipynb",
    "04_losses_and_metrics.ipynb",
)
FEEDER_TARGET = 1.10  # an epoch through TrainBatches may be at most 10 % slower than plain fit


def conv_block(x, filters):
    """Two 3x3 convolutions, each followed by batch normalisation and ReLU."""
    from keras import layers

    for _ in range(2):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=0.9)(x)  # see the note on momentum
        x = layers.Activation("relu")(x)
    return x


def build_segnet(image_size, base_filters=16, depth=4):
    """SegNet-style encoder-decoder: pool `depth` times, upsample back, one channel of logits."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=(image_size, image_size, 3), name="image")
    x = layers.Rescaling(1 / 255)(inputs)  # the model takes 0..255 pixels
    for level in range(depth):  # encoder: richer features, smaller maps
        x = conv_block(x, base_filters * 2**level)
        x = layers.MaxPooling2D()(x)
    for level in reversed(range(depth)):  # decoder: back to full resolution
        x = layers.UpSampling2D()(x)
        x = conv_block(x, base_filters * 2**level)
    logits = layers.Conv2D(1, 1, dtype="float32", name="logits")(x)  # float32 in mixed precision
    return keras.Model(inputs, logits, name="segnet")


def build_unet(image_size, base_filters=16, depth=4):
    """U-Net: the SegNet shape plus skip connections from each encoder level to the decoder."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=(image_size, image_size, 3), name="image")
    x = layers.Rescaling(1 / 255)(inputs)
    skips = []
    for level in range(depth):
        x = conv_block(x, base_filters * 2**level)
        skips.append(x)  # computed once: the same tensor feeds the pooling and the decoder
        x = layers.MaxPooling2D()(x)
    x = conv_block(x, base_filters * 2**depth)  # bottleneck
    for level in reversed(range(depth)):
        x = layers.Conv2DTranspose(base_filters * 2**level, 2, strides=2, padding="same")(x)
        x = layers.Concatenate()([x, skips[level]])  # fine detail from the encoder
        x = conv_block(x, base_filters * 2**level)
    logits = layers.Conv2D(1, 1, dtype="float32", name="logits")(x)  # float32 in mixed precision
    return keras.Model(inputs, logits, name="unet")


BUILDERS = {"SegNet": build_segnet, "U-Net": build_unet}


def add_train_parser(subparsers) -> None:
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
    parser.add_argument("--steps", type=int, default=0, help="timed steps per epoch (0: 10 on CPU, 60 on GPU)")
    parser.add_argument("--repeat", type=int, default=3, help="timed epochs of each feeder (best counts)")
    parser.add_argument("--filters", type=int, default=16, help="base filters (16)")
    parser.add_argument(
        "--notebooks", action="store_true", help="also run the lesson notebooks (papermill) and time them"
    )
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.set_defaults(run=bench_train)


def bench_train(args) -> int:
    """Run the training benchmark per backend; exit status 1 when the feeder target is missed."""
    import importlib.util
    import json
    import subprocess

    from .profiles import get_profile

    profile = get_profile(args.profile) if args.profile else None
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in BUILDERS]
    if unknown:
        raise SystemExit(f"bench train: unknown model(s) {unknown}; choose from {sorted(BUILDERS)}")
    if args.repeat < 1 or args.steps < 0:
        raise SystemExit("bench train: --repeat must be >= 1 and --steps >= 0")
    wanted = [b.strip() for b in args.backends.split(",") if b.strip()]
    bad = [b for b in wanted if b not in BACKENDS]
    if bad:
        raise SystemExit(f"bench train: unknown backend(s) {bad}; choose from {', '.join(BACKENDS)}")
    backends = [b for b in wanted if importlib.util.find_spec(b) is not None]
    for missing in sorted(set(wanted) - set(backends)):
        print(f"bench train: backend {missing} is not installed; skipped", flush=True)
    if not backends:
        raise SystemExit("bench train: none of the requested backends is installed")
    print(f"bench train: {_cpus()} CPU(s); backends {', '.join(backends)}; models {', '.join(models)}")
    results = {"cpus": _cpus(), "runs": [], "notebooks": []}
    for backend in backends:
        env = dict(os.environ, KERAS_BACKEND=backend)
        if args.profile:
            env["SEGCOURSE_PROFILE"] = args.profile
        request = json.dumps(
            {"models": models, "steps": args.steps, "repeat": args.repeat, "filters": args.filters}
        )
        print(f"  {backend}: training ...", flush=True)
        proc = subprocess.run(
            [sys.executable, "-c", "import sys, segcourse.bench as b; b._train_worker(sys.argv[1])", request],
            env=env,
            capture_output=True,
            text=True,
        )
        marker = [ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH-RESULT ")]
        if proc.returncode != 0 or not marker:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
            print(f"  {backend}: FAILED (exit {proc.returncode})\n{tail}", flush=True)
            results["runs"].append({"backend": backend, "error": tail})
            continue
        rows = json.loads(marker[-1][len("BENCH-RESULT ") :])
        results["runs"].extend(rows)
        _print_train_table(rows)  # each backend as soon as it is done
    print()
    met = _print_train_table(results["runs"])
    if args.notebooks:
        results["notebooks"] = _time_notebooks(profile.name if profile else None, backends[0])
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")
    return 0 if met else 1


def _train_worker(request: str) -> None:
    """In a subprocess with KERAS_BACKEND set: time both feeders for each model, print JSON."""
    import json

    import keras
    import numpy as np

    from . import losses
    from .augment import TrainBatches
    from .profiles import backend_sees_gpu, get_profile

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
    masks[:, :, :, 0] = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3) ** 2)
    rows = []
    for name in req["models"]:
        keras.utils.set_random_seed(0)
        model = BUILDERS[name](size, req["filters"])
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
                start = time.perf_counter()
                model.fit(**feed, epochs=1, verbose=0)
                best[key] = min(best[key], time.perf_counter() - start)
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
                "matches_notebook": _matches_notebook(name, size, req["filters"]),
            }
        )
    print("BENCH-RESULT " + json.dumps(rows), flush=True)


def _matches_notebook(name: str, size: int, filters: int) -> bool | None:
    """Whether the notebook's inline builder gives the same layers and weights as ours."""
    import json

    import keras
    from keras import layers

    notebook = {"SegNet": "02_segnet.ipynb", "U-Net": "03_unet.ipynb"}[name]
    function = {"SegNet": "build_segnet", "U-Net": "build_unet"}[name]
    path = Path(__file__).resolve().parent.parent / "notebooks" / notebook
    if not path.is_file():
        return None
    cells = ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    source = next((c for c in cells if f"def {function}(" in c), None)
    if source is None:
        return False
    namespace = {"keras": keras, "layers": layers}
    definitions = source.split("\nDEPTH")[0]  # the builder functions, not the cell's other lines
    exec(compile(definitions, str(path), "exec"), namespace)  # the notebook's own code

    def signature(model):
        return [(type(layer).__name__, layer.count_params(), tuple(layer.output.shape)) for layer in model.layers]

    return signature(namespace[function](size, filters)) == signature(BUILDERS[name](size, filters))


def _print_train_table(runs: list) -> bool:
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
        same = {True: "", False: "  (architecture differs from the notebook!)", None: ""}[run["matches_notebook"]]
        print(
            f"{run['backend']:<11}{run['device']:<7}{run['model']:<8}{run['image_size']:>5}"
            f"{run['batch_size']:>6}{run['precision']:>16}{run['feeder_img_s']:>10.1f} img/s"
            f"{run['fit_img_s']:>7.1f} img/s{run['ratio']:>6.2f}   {'met' if ok else 'MISSED'}{same}"
        )
    print(f"\nimg/s: training images per second (best of the timed epochs); ratio: epoch time "
          f"TrainBatches / plain fit; {'all targets met' if met else 'target NOT met'}")
    return met


def _time_notebooks(profile: str | None, backend: str) -> list:
    """Execute each lesson notebook with papermill in a fresh kernel and time it."""
    import json
    import subprocess

    root = Path(__file__).resolve().parent.parent
    out_dir = root / "build" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, KERAS_BACKEND=backend)
    if profile:
        env["SEGCOURSE_PROFILE"] = profile
    rows = []
    print(f"\nnotebooks ({profile or 'default'} profile, {backend}):", flush=True)
    for name in LESSON_NOTEBOOKS:
        source = root / "notebooks" / name
        if not source.is_file():
            continue
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "papermill", "--cwd", str(source.parent), str(source),
             str(out_dir / name), "--no-progress-bar"],
            env=env, capture_output=True, text=True,
        )
        seconds = time.perf_counter() - start
        result = root / "build" / "results" / name.replace(".ipynb", ".json")
        dice = json.loads(result.read_text()).get("test_dice") if result.is_file() and proc.returncode == 0 else None
        rows.append({"notebook": name, "seconds": seconds, "ok": proc.returncode == 0, "test_dice": dice})
        status = "ok" if proc.returncode == 0 else "FAILED"
        score = f", test Dice {dice:.3f}" if dice is not None else ""
        print(f"  {name:<30}{_seconds(seconds):>10}  {status}{score}", flush=True)
    return rows


# ----------------------------------------------------------------------------- bench grade


def add_grade_parser(subparsers) -> None:
    """Options of `bench grade`."""
    parser = subparsers.add_parser(
        "grade",
        help="grader throughput: submissions per hour, --execute and --no-execute",
        description="Grades a small batch of copies of the lab's reference solution twice: "
        "re-executed in the sandbox with a profile (default ci), then --no-execute with the "
        "models that run saved, against a synthetic hidden set; reports submissions per hour.",
    )
    parser.add_argument("--n", type=int, default=4, help="submissions in the batch (4)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel jobs (2)")
    parser.add_argument("--profile", default="ci", help="profile of the re-runs (ci)")
    parser.add_argument("--notebook", default="lab/solution/body_segmentation.ipynb",
                        help="the notebook every student hands in")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per notebook")
    parser.add_argument("--no-sandbox", dest="sandbox", action="store_false",
                        help="run without bubblewrap (trusted code only)")  # fmt: skip
    parser.set_defaults(run=bench_grade)


def bench_grade(args) -> int:
    """Time `grade --execute` and `grade --no-execute` on the same small batch."""
    import shutil
    import tempfile

    from . import grading, paths
    from .synth import synth_mads

    notebook = paths.resolve(args.notebook)
    if not notebook.is_file():
        print(f"bench grade: {notebook} not found (pass --notebook).", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="segcourse-bench-grade-") as tmp:
        tmp = Path(tmp)
        hidden = synth_mads(tmp / "instructor" / "hidden", n=40, seed=99, progress=False)
        subs = tmp / "submissions"
        names = [f"student{i:02d}" for i in range(args.n)]
        for name in names:
            (subs / name).mkdir(parents=True)
            shutil.copyfile(notebook, subs / name / notebook.name)
        results = {}
        for mode in ("execute", "no-execute"):
            if mode == "no-execute":
                for name in names:
                    model = tmp / "out-execute" / "models" / f"{name}.keras"
                    if model.is_file():
                        shutil.copyfile(model, subs / name / "model.keras")
            start = time.perf_counter()
            rows = grading.grade(
                subs, hidden, tmp / f"out-{mode}", execute=mode == "execute",
                timeout=args.timeout, jobs=args.jobs, profile=args.profile,
                sandbox=args.sandbox, keep_models=True,
            )  # fmt: skip
            seconds = time.perf_counter() - start
            statuses = sorted({r["status"] for r in rows})
            results[mode] = (seconds, statuses, [r["score"] for r in rows])
    print(f"\ngrader throughput: {args.n} submissions, --jobs {args.jobs}, profile "
          f"{args.profile!r}, {_cpus()} CPUs, sandbox {'on' if args.sandbox else 'OFF'}")  # fmt: skip
    print(f"{'mode':<12} {'seconds':>8} {'s/subm.':>8} {'subm./hour':>11}  statuses / scores")
    for mode, (seconds, statuses, scores) in results.items():
        print(f"{mode:<12} {seconds:8.1f} {seconds / args.n:8.1f} {3600 * args.n / seconds:11.0f}"
              f"  {','.join(statuses)} / {' '.join(scores)}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
