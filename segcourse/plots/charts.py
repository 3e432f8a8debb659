"""Charts of numbers: training curves, score spreads, histograms, threshold scans and paired
per-image scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from segcourse.i18n import N_, gettext, tr
from segcourse.plots.alt_text import with_alt_text

# default labels, shown in the language in use (gettext at drawing time)
DIAGNOSIS, VALUE = N_("diagnosis"), N_("value")
HISTOGRAM, CASES = N_("Histogram"), N_("number of cases")


def _history_dict(history) -> dict[str, list[float]]:
    """The metric lists of a Keras History (its .history) or of a plain dict."""
    data = getattr(history, "history", history)
    if not isinstance(data, Mapping):
        raise ValueError(
            f"expected a Keras History or a dict of lists, got {type(history).__name__}"
        )
    return {k: [float(v) for v in values] for k, values in data.items()}


def plot_history(
    history, metrics: Sequence[str] = ("loss", "dice", "iou"), title="Training curves"
):
    """Train and validation curves, one subplot per metric, best validation epoch marked."""
    data = _history_dict(history)
    if isinstance(metrics, str):
        metrics = (metrics,)
    missing = [m for m in metrics if m not in data and f"val_{m}" not in data]
    if missing:
        raise ValueError(
            f"history has no {', '.join(map(repr, missing))}; it has {sorted(data)}. "
            "Pass metrics=(...) with names the model was compiled with."
        )
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False, layout="constrained"
    )
    for ax, name in zip(axes[0], metrics, strict=True):
        lower_is_better = "loss" in name
        for key, label, style in (
            (name, tr("train"), "-"),
            (f"val_{name}", tr("validation"), "--"),
        ):
            if key not in data:
                continue
            values = np.asarray(data[key])
            epochs = np.arange(1, len(values) + 1)
            ax.plot(
                epochs, values, style, marker="o" if len(values) < 30 else None, ms=3, label=label
            )
            if key.startswith("val_") and len(values):
                best = int(np.argmin(values) if lower_is_better else np.argmax(values))
                ax.plot(
                    epochs[best],
                    values[best],
                    "*",
                    ms=12,
                    color="k",
                    label=tr(
                        "best validation: {value:.3f} (epoch {epoch})",
                        value=values[best],
                        epoch=best + 1,
                    ),
                )
        ax.set_title(name)
        ax.set_xlabel(tr("epoch"))
        ax.set_ylabel(name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return with_alt_text(fig)


def plot_score_distribution(scores, groups=None, metric="Dice", group_label=DIAGNOSIS, title=None):
    """Per-image scores as a box plot with every point and the mean per group (e.g. diagnosis)."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if scores.size == 0:
        raise ValueError("scores is empty")
    if groups is None:
        groups = [tr("all images")] * len(scores)
        group_label = ""
    groups = ["unknown" if g is None else str(g) for g in groups]
    if len(groups) != len(scores):
        raise ValueError(f"got {len(groups)} groups for {len(scores)} scores")
    names = sorted(set(groups) - {"unknown"}) + (["unknown"] if "unknown" in groups else [])
    values = [scores[np.array(groups) == g] for g in names]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.8 * len(names) + 1.5), 4.0), layout="constrained")
    positions = np.arange(1, len(names) + 1)
    ax.boxplot(
        values, positions=positions, widths=0.5, showfliers=False, medianprops={"color": "0.2"}
    )
    rng = np.random.default_rng(0)
    for pos, v in zip(positions, values, strict=True):
        ax.scatter(
            pos + rng.uniform(-0.15, 0.15, len(v)), v, s=14, alpha=0.7, color="#0072B2", zorder=3
        )
        ax.plot(pos, v.mean(), "D", color="#D55E00", ms=8, zorder=4)
        ax.annotate(
            tr("mean\n{value:.3f}", value=v.mean()),
            (pos + 0.28, v.mean()),
            va="center",
            fontsize=8,
            color="#D55E00",
        )
    ax.set_xticks(positions, [f"{g}\n(n={len(v)})" for g, v in zip(names, values, strict=True)])
    ax.set_xlim(0.4, len(names) + 0.9)
    ax.set_xlabel(gettext(group_label) if group_label else tr("images"))
    ax.set_ylabel(metric)
    if scores.min() >= 0 and scores.max() <= 1:
        ax.set_ylim(min(0.0, scores.min()) - 0.02, 1.02)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(
        handles=[
            Line2D([], [], ls="", marker="D", color="#D55E00", label="mean"),
            Line2D([], [], ls="", marker="o", color="#0072B2", label="one image"),
        ],
        fontsize=8,
        loc="lower left",
    )
    ax.set_title(title or f"{metric} per image" + (f" by {group_label}" if group_label else ""))
    return with_alt_text(fig)


def compare_histories(
    histories: Mapping, metrics: Sequence[str] = ("val_dice", "val_iou"), title="Validation curves"
):
    """One subplot per metric, one line per run: e.g. the same model trained with several losses."""
    runs = {name: _history_dict(h) for name, h in histories.items()}
    for name, data in runs.items():
        missing = [m for m in metrics if m not in data]
        if missing:
            raise ValueError(f"history {name!r} has no {missing}; it has {sorted(data)}")
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(5 * len(metrics), 3.6), squeeze=False, layout="constrained"
    )
    for ax, metric in zip(axes[0], metrics, strict=True):
        for name, data in runs.items():
            ax.plot(np.arange(1, len(data[metric]) + 1), data[metric], label=name)
        label = metric.replace("val_", tr("validation") + " ")
        ax.set_title(tr("{label} by run", label=label))
        ax.set_xlabel(tr("epoch"))
        ax.set_ylabel(label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    return with_alt_text(fig)


def plot_threshold_scan(thresholds, scores, chosen: float, metric="Dice", title=None):
    """A validation score against the probability threshold, with 0.5 and the choice marked."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6), layout="constrained")
    ax.plot(thresholds, scores, marker="o", ms=3, label=f"validation {metric}")
    ax.axvline(0.5, color="0.5", ls=":", label="0.5")
    ax.axvline(chosen, color="k", ls="--", label=f"chosen: {chosen:.2f}")
    ax.set_xlabel(tr("probability threshold"))
    ax.set_ylabel(tr("mean {metric} (validation)", metric=metric))
    ax.set_title(title or tr("Threshold scan on validation data ({metric})", metric=metric))
    ax.grid(alpha=0.3)
    ax.legend()
    return with_alt_text(fig)


def plot_histogram(
    values,
    groups=None,
    bins=20,
    xlabel=VALUE,
    title=HISTOGRAM,
    mark=None,
    mark_label=None,
    ylabel=CASES,
):
    """A histogram of per-case values, stacked by group when `groups` is given.

    `mark` draws a dashed vertical line (e.g. a threshold) labelled `mark_label`.
    """
    values = np.asarray(values, dtype=float)
    fig, ax = plt.subplots(figsize=(6.5, 3.7), layout="constrained")
    if groups is None:
        ax.hist(values, bins=bins)
    else:
        groups = np.asarray(groups, dtype=object)
        names = list(dict.fromkeys(g for g in groups if g is not None))
        ax.hist([values[groups == g] for g in names], bins=bins, label=names, stacked=True)
    if mark is not None:
        ax.axvline(mark, color="k", ls="--", label=mark_label or f"{mark:g}")
    ax.set_xlabel(gettext(xlabel))
    ax.set_ylabel(gettext(ylabel))
    ax.set_title(gettext(title))
    if groups is not None or mark is not None:
        ax.legend()
    return with_alt_text(fig)


def plot_paired_scores(a, b, names: Sequence[str], metric="Dice", title=None):
    """Per-image scores of two models against each other; points above the line favour `b`."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(
            f"paired scores need one score per image each; got {a.shape} and {b.shape}"
        )
    fig, ax = plt.subplots(figsize=(4.8, 4.6), layout="constrained")
    ax.scatter(a, b, s=18, alpha=0.7)
    ax.plot([0, 1], [0, 1], "k--", lw=1, label=tr("equal"))
    ax.set_xlabel(tr("{name} test {metric}", name=names[0], metric=metric))
    ax.set_ylabel(tr("{name} test {metric}", name=names[1], metric=metric))
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="lower right")
    ax.set_title(title or f"Per test image: points above the line favour {names[1]}")
    return with_alt_text(fig)
