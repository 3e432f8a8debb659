"""Run profiles: one switch that sizes every notebook for CI, a laptop CPU or a GPU.

`SEGCOURSE_PROFILE=ci|cpu|gpu` picks one; without it, `gpu` when the Keras backend sees a
GPU and `cpu` otherwise. Each notebook reads its defaults from here in its papermill
`parameters` cell, so an instructor can still override any single value. A fourth profile,
`smoke`, is for the test suite only: it checks that a notebook runs to the end, not that it learns.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

PROFILE_NAMES = ("ci", "cpu", "gpu")  # the ones a user picks
SMOKE = "smoke"  # the test suite's: student starters run end to end in seconds


@dataclass(frozen=True, kw_only=True)
class Profile:
    """The knobs that trade run time for accuracy."""

    name: str
    image_size: int  # PH2 images are resized to image_size x image_size
    mads_size: tuple[int, int]  # MADS (height, width); the real frames are 384 x 512
    max_cases: int | None  # cap on the number of cases loaded (None: all)
    epochs: int  # the lesson models (notebook 2's SegNet, notebook 3's U-Net)
    compare_epochs: int  # each model of notebook 3's three-decoder comparison
    loss_epochs: int  # each model in the losses-and-metrics notebook
    lab_epochs: int  # the MADS lab's reference solution
    scene_size: int  # the multi-class notebook's scenes are scene_size x scene_size
    multiclass_epochs: int  # each of the multi-class notebook's two U-Nets (CE, MSE)
    pose_epochs: int  # the pose notebook's heatmap U-Net (frames: image_size)
    batch_size: int
    base_filters: int
    precision: str  # a Keras dtype policy: "float32" or "mixed_bfloat16"
    show_every: int  # epochs between progress figures during training (0: never)

    def as_dict(self) -> dict:
        return asdict(self)


PROFILES = {
    # ci: the four lesson notebooks together in about 3 minutes on 2 idle cores (nbval in CI);
    # the models still reach test Dice ~0.85-0.95 on the synthetic stand-in.
    "ci": Profile(
        name="ci",
        image_size=64,
        mads_size=(64, 96),
        max_cases=None,
        epochs=7,
        compare_epochs=5,
        loss_epochs=5,
        lab_epochs=8,
        scene_size=48,
        multiclass_epochs=8,
        pose_epochs=10,
        batch_size=16,
        base_filters=8,
        precision="float32",
        show_every=0,
    ),
    # cpu: each lesson notebook in 5-10 minutes on 2 idle cores (docs/benchmarks.md: a U-Net
    # epoch of 140 images at 128 x 128 takes about 5 s there with TensorFlow).
    "cpu": Profile(
        name="cpu",
        image_size=128,
        mads_size=(96, 128),
        max_cases=None,
        epochs=60,
        compare_epochs=16,
        loss_epochs=24,
        lab_epochs=20,
        scene_size=96,
        multiclass_epochs=16,
        pose_epochs=16,
        batch_size=16,
        base_filters=16,
        precision="float32",
        show_every=15,
    ),
    # smoke: one epoch of tiny models. CI runs the student starters with it: their code outside
    # the exercises is the solution's (`starters check`), whose ci run shows that it learns.
    SMOKE: Profile(
        name=SMOKE,
        image_size=32,
        mads_size=(32, 48),
        max_cases=None,
        epochs=1,
        compare_epochs=1,
        loss_epochs=1,
        lab_epochs=1,
        scene_size=32,
        multiclass_epochs=1,
        pose_epochs=1,
        batch_size=16,
        base_filters=8,
        precision="float32",
        show_every=0,
    ),
    "gpu": Profile(
        name="gpu",
        image_size=256,
        mads_size=(192, 256),
        max_cases=None,
        epochs=200,
        compare_epochs=100,
        loss_epochs=80,
        lab_epochs=40,
        scene_size=192,
        multiclass_epochs=60,
        pose_epochs=60,
        batch_size=32,
        base_filters=16,
        precision="mixed_bfloat16",
        show_every=20,
    ),
}


def backend_sees_gpu() -> bool:
    """Whether the active Keras backend has a GPU (imports the backend, so call it late)."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return any(d.platform == "gpu" for d in jax.devices())
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    return False


def smoke_run() -> bool:
    """Whether this is the test suite's smoke run (one epoch): scores are shown, not judged."""
    return os.environ.get("SEGCOURSE_PROFILE", "").strip().lower() == SMOKE


def get_profile(name: str | None = None) -> Profile:
    """The profile called `name`, else `SEGCOURSE_PROFILE`, else gpu/cpu by hardware."""
    name = name or os.environ.get("SEGCOURSE_PROFILE") or None
    if name is None:
        name = "gpu" if backend_sees_gpu() else "cpu"
    name = name.strip().lower()
    if name not in PROFILES:
        raise ValueError(
            f"Unknown profile {name!r} (from SEGCOURSE_PROFILE or the argument): "
            f"choose one of {', '.join(PROFILE_NAMES)} ({SMOKE} is the test suite's)."
        )
    return PROFILES[name]
