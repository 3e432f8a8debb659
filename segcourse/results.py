"""A lesson run's plumbing: its resolved settings, its results JSON, reusing a model that an
earlier notebook saved, score tables, and the final did-it-learn check.

Kept out of the notebooks so that a lesson shows the lesson; each notebook calls
`start_run` once in its configuration section and `Run.save` / `check_learned` at the end.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from segcourse import exercises, metrics, paths
from segcourse.data.layouts import DIAGNOSES
from segcourse.i18n import N_, set_language, tr
from segcourse.profiles import Profile, get_profile, smoke_run

# PH2's diagnoses and the "all" row as score tables show them (the data keep the English names).
GROUP_LABELS = (N_("common nevus"), N_("atypical nevus"), N_("melanoma"), N_("all"))

# The settings that must agree before a saved model counts as "the same run".
SAME_RUN_KEYS = (
    "image_size",
    "epochs",
    "batch_size",
    "base_filters",
    "depth",
    "learning_rate",
    "precision",
    "seed",
    "data_root",
    "synthetic",
    "n_train",
    "n_val",
    "n_test",
)


@dataclass
class Run:
    """One notebook's run: the profile's values with the notebook's overrides applied."""

    notebook: str
    profile: Profile
    image_size: int
    epochs: int
    batch_size: int
    base_filters: int
    precision: str
    seed: int
    learning_rate: float | None
    results_dir: Path
    model_dir: Path
    started: float = field(default_factory=time.time)

    @property
    def show_every(self) -> int:
        """Epochs between progress figures during training (0 in the ci profile: never)."""
        return self.profile.show_every

    def model_path(self, name: str | None = None) -> Path:
        """Where this run saves a model: MODEL_DIR/<name or notebook>.keras."""
        return self.model_dir / f"{name or self.notebook}.keras"

    def settings(self, data, train, val, test, **extra) -> dict:
        """The values that define this run (saved in its JSON, compared by `find_model`)."""
        return {
            "image_size": self.image_size,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "base_filters": self.base_filters,
            "learning_rate": self.learning_rate,
            "precision": self.precision,
            "seed": self.seed,
            "data_root": str(data.root),
            "synthetic": data.synthetic,
            "n_train": len(train),
            "n_val": len(val),
            "n_test": len(test),
            **extra,
        }

    def save(self, results: dict) -> Path:
        """Write RESULTS_DIR/<notebook>.json with the run's identity and wall time added."""
        import keras

        record = {
            "notebook": self.notebook,
            "profile": self.profile.name,
            "backend": keras.backend.backend(),
            **results,
            "wall_time_s": round(time.time() - self.started, 1),
        }
        path = self.results_dir / f"{self.notebook}.json"
        path.write_text(json.dumps(record, indent=2), encoding="utf-8")
        summary = ", ".join(
            f"{key} {record[key]:.3f}" for key in ("test_dice", "test_iou") if key in record
        )
        print(tr("wrote {path}", path=path) + (f": {summary}" if summary else ""))
        return path

    def find_model(self, notebook: str, settings: dict) -> Path | None:
        """The model that `notebook` saved with exactly these settings, or None.

        Reads that notebook's results JSON; every key of SAME_RUN_KEYS present in `settings`
        must match, and the model file must exist.
        """
        path = self.results_dir / f"{notebook}.json"
        if not path.is_file():
            return None
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if any(saved.get(k) != settings[k] for k in SAME_RUN_KEYS if k in settings):
            return None
        model = paths.resolve(saved.get("model_path", ""))
        return model if saved.get("model_path") and model.is_file() else None


CONFIG_NAMES = (
    "profile",
    "seed",
    "image_size",
    "epochs",
    "batch_size",
    "base_filters",
    "precision",
    "learning_rate",
    "results_dir",
    "model_dir",
    "language",
)


def start_run(
    notebook: str,
    config: Mapping | None = None,
    *,
    epochs_from: str = "epochs",
    trains: bool = True,
    **values,
) -> Run:
    """Resolve the run profile, seed everything and set the precision; returns the `Run`.

    `config` is the notebook's namespace (`globals()`): its configuration cell's UPPERCASE
    names (PROFILE, SEED, IMAGE_SIZE, EPOCHS, BATCH_SIZE, BASE_FILTERS, PRECISION,
    LEARNING_RATE, RESULTS_DIR, MODEL_DIR, LANGUAGE) are read, and lower-case keyword `values`
    override them. None takes the profile's value (LANGUAGE None: $SEGCOURSE_LANG, else English). `epochs_from` names the profile field for the default
    epochs ("loss_epochs" in the losses notebook); `trains=False` for a notebook that trains
    nothing. Prints one line that says what will run.
    """
    unknown = set(values) - set(CONFIG_NAMES)
    if unknown:
        raise ValueError(f"start_run: unknown setting(s) {sorted(unknown)}; use {CONFIG_NAMES}")
    given = {name: (config or {}).get(name.upper()) for name in CONFIG_NAMES} | values
    set_language(given["language"])  # before anything is printed
    import keras

    chosen = get_profile(given["profile"])
    run = Run(
        notebook=notebook,
        profile=chosen,
        image_size=int(given["image_size"] or chosen.image_size),
        epochs=int(given["epochs"] or getattr(chosen, epochs_from)),
        batch_size=int(given["batch_size"] or chosen.batch_size),
        base_filters=int(given["base_filters"] or chosen.base_filters),
        precision=given["precision"] or chosen.precision,
        seed=int(given["seed"] or 0),
        learning_rate=given["learning_rate"],
        results_dir=paths.results_dir(given["results_dir"] or "build/results"),
        model_dir=paths.resolve(given["model_dir"] or "build/models"),
    )
    keras.utils.set_random_seed(run.seed)  # Python, numpy and the backend: re-runs reproduce
    exercises.record_to(run.results_dir / f"{notebook}_exercises.json")
    training = ""
    if trains:
        run.model_dir.mkdir(parents=True, exist_ok=True)
        keras.mixed_precision.set_dtype_policy(run.precision)
        training = tr(
            ", {epochs} epochs, batch {batch}, {filters} base filters, {precision}",
            epochs=run.epochs,
            batch=run.batch_size,
            filters=run.base_filters,
            precision=run.precision,
        )
    print(
        tr(
            "profile {profile}: backend {backend}, {size}x{size} images{training}; "
            "results -> {results}",
            profile=chosen.name,
            backend=keras.backend.backend(),
            size=run.image_size,
            training=training,
            results=run.results_dir,
        )
    )
    return run


def print_split(train, val, test, groups=None) -> None:
    """One line per part: its number of cases and, for PH2, the cases per diagnosis."""
    groups = tuple(DIAGNOSES.values()) if groups is None else groups
    for name, part in ((N_("train"), train), (N_("validation"), val), (N_("test"), test)):
        line = tr("{part:>10}: {n} cases", part=tr(name), n=len(part))
        if part.diagnosis is not None:
            line += " (" + ", ".join(f"{part.diagnosis.count(g)} {tr(g)}" for g in groups) + ")"
        print(line)


CELL = 22  # characters of one Dice or IoU column: "0.912 [0.894, 0.928]" and a gap


def _score_cell(scores: dict, key: str) -> str:
    """One model's Dice or IoU cell: the mean, then its 95 % interval where the row has one."""
    ci = scores.get(f"{key}_ci")
    text = f"{scores[key]:.3f}" if ci is None else metrics.format_ci(scores[key], *ci)
    return f"  {text:<{CELL - 2}}"


def print_scores(tables: dict[str, dict], title: str) -> None:
    """Score tables side by side: one row per group, Dice and IoU per model.

    Rows with "dice_ci" / "iou_ci" (the "all" row of `metrics.score_table`) show the 95 %
    bootstrap interval of the mean after it, as in "0.912 [0.894, 0.928]".
    """
    print(title)
    print(f"{'':20}" + "".join(f"  {name:<{2 * CELL - 2}}" for name in tables).rstrip())
    print(
        f"{'':16}{'n':>4}"
        + "".join(f"  {'Dice':<{CELL - 2}}  {'IoU':<{CELL - 2}}" for _ in tables).rstrip()
    )
    first = next(iter(tables.values()))
    for row in first:
        line = f"{tr(row):16}{first[row]['n']:>4}"
        for table in tables.values():
            if row in table:
                line += _score_cell(table[row], "dice") + _score_cell(table[row], "iou")
        print(line.rstrip())


def check_learned(what: str, score: float, floor: float, margin: float = 0.15) -> None:
    """Fail (AssertionError, so CI fails too) unless `score` beats the constant floor + margin.

    Under the test suite's smoke profile (one epoch) it reports the score without judging it.
    """
    if smoke_run():
        print(
            tr(
                "{what}: test Dice {score:.3f} after a smoke run (one epoch); whether the "
                "notebook learns is checked by its run in the ci profile, not here.",
                what=what,
                score=score,
            )
        )
        return
    if not score > floor + margin:
        raise AssertionError(
            tr(
                "{what}: test Dice {score:.3f} is not clearly above the best constant mask "
                "({floor:.3f} + {margin}); the model, its loss or the data pipeline is broken.",
                what=what,
                score=score,
                floor=floor,
                margin=margin,
            )
        )
    print(
        tr(
            "{what}: test Dice {score:.3f} > best constant {floor:.3f} + {margin}",
            what=what,
            score=score,
            floor=floor,
            margin=margin,
        )
    )
