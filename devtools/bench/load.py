"""`bench load`: load_ph2 cold and warm against a naive skimage baseline, time and peak memory."""

from __future__ import annotations

import gc
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from .common import PeakRss, cpus, format_seconds

LOAD_TARGETS = {"cold": 15.0, "warm": 200.0}  # minimum speed-up over the naive baseline
MEMORY_TARGET = 0.2  # maximum peak memory growth as a share of the baseline's


def add_parser(subparsers) -> None:
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
    parser.set_defaults(run=run)


def run(args) -> int:
    """Run the load benchmark and print the table; exit status 1 when a target is missed."""
    from segcourse import data

    if args.repeat < 1:
        raise SystemExit("bench load: --repeat must be at least 1")
    if args.root:
        archive = data.find_archive("ph2", Path(args.root).expanduser())
        if archive is None:
            raise SystemExit(f"bench load: {args.root} does not hold a PH2 archive")
        source = "given root"
    else:
        archive, source = data.synthetic_root("ph2"), "synthetic stand-in"
    cases, problems = data.ph2_cases(archive)
    if problems or not cases:
        raise SystemExit(f"bench load: {archive} has missing files; fix them first")
    from PIL import Image

    with Image.open(cases[0].image) as first:
        shape = f"{first.width}x{first.height}"
    size = (args.size, args.size)
    print(
        f"bench load: {len(cases)} PH2-layout cases ({source}, first image {shape}) -> "
        f"{args.size}x{args.size}; {cpus()} CPU(s); best of {args.repeat}; each in a fresh "
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

    from segcourse import data

    images, masks = [], []
    for case in data.ph2_cases(Path(archive))[0]:
        images.append(resize(imread(case.image), size, anti_aliasing=True))
        masks.append(resize(imread(case.mask).astype(float), size, anti_aliasing=True))
    import numpy as np

    return np.array(images), np.array(masks)


def _measure(task: str, archive: str, size, repeat: int) -> dict:
    """In a fresh process: best time of `repeat` calls, and peak RSS growth of the first."""
    from segcourse import data

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
        sampler = PeakRss() if i == 0 else None
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
            f"{label:34} {format_seconds(res['seconds']):>9} {speed:>8.1f}x "
            f"{res['growth'] / 2**20:>7.1f} MB {share:>9.3f}   {verdict}"
        )
    print(f"\nall targets {'met' if all_met else 'NOT met'}")
    return all_met


def _print_agreement(archive, size, n: int) -> None:
    """How close the fast loader's arrays are to the naive ones (first n cases)."""
    import numpy as np

    from segcourse import data

    fast = data.load_ph2(archive, size, cache=True, progress=False)
    cases = data.ph2_cases(Path(archive))[0][:n]
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
