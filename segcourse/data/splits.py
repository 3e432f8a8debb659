"""Reproducible train/val/test splits that never overlap: stratified by PH2's diagnosis so each
part keeps the class mix, or grouped (whole MADS sequences to one part, since neighbouring video
frames are near-duplicates and a split over frames would test on what the model trained on)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .layouts import DatasetError

if TYPE_CHECKING:
    from .loading import SegmentationData

GROUP_WINDOW = 0.1  # a grouped part within this share of its requested size is close enough
GROUP_TOLERANCE = 0.5  # and one that misses it by more than this share is an error


def split(
    data: SegmentationData,
    val=0.1,
    test=0.2,
    seed: int = 0,
    stratify: bool = True,
    groups=None,
):
    """Reproducible (train, val, test) subsets that never overlap and together cover `data`.

    `val` and `test` are counts (int) or fractions of the data (float in [0, 1)). With
    `stratify`, each diagnosis (None counting as one more group) is spread over the three
    parts in proportion; MADS has no diagnosis and is split at random.

    `groups` (one label per case, e.g. `data.sequence` for MADS) keeps each group whole: val
    and test get the groups whose sizes add up closest to the requested counts (groups drawn in
    an order fixed by `seed`), train the rest. A part that cannot come within half of its
    requested size with whole groups is an error; grouping and stratifying are exclusive.
    """
    n = len(data)
    n_val, n_test = _count(val, n, "val"), _count(test, n, "test")
    if n_val + n_test > n - 1:
        raise DatasetError(
            f"split: val={val!r} ({n_val} cases) plus test={test!r} ({n_test} cases) leave "
            f"{n - n_val - n_test} of {n} cases for training; at least one is needed. "
            "Use smaller counts or fractions."
        )
    rng = np.random.default_rng(seed)
    if groups is not None:
        if stratify and data.diagnosis is not None:
            raise DatasetError(
                "split: groups= keeps whole groups together and cannot also stratify by "
                "diagnosis; pass stratify=False with groups=, or leave groups out."
            )
        labels = _group_labels(groups, n)
        parts = _grouped(labels, {"val": (n_val, val), "test": (n_test, test)}, rng)
    elif not stratify or data.diagnosis is None:
        order = rng.permutation(n)
        parts = order[n_val + n_test :], order[:n_val], order[n_val : n_val + n_test]
    else:
        parts = _stratified(data.diagnosis, n_val, n_test, rng)
    return tuple(data.subset(np.sort(p)) for p in parts)


def _count(value, n: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise DatasetError(
            f"split: {name} must be a count (int) or a fraction (float), not {value!r}"
        )
    if isinstance(value, (float, np.floating)):
        if not 0 <= value < 1:
            raise DatasetError(f"split: {name}={value} as a fraction must be in [0, 1).")
        return int(round(value * n))
    if value < 0:
        raise DatasetError(f"split: {name}={value} must not be negative.")
    return int(value)


def _group_labels(groups, n: int) -> list[str]:
    """One string label per case; a wrong length or a missing label is an error."""
    if isinstance(groups, (str, bytes)):
        raise DatasetError(
            f"split: groups must hold one label per case (e.g. data.sequence), not {groups!r}."
        )
    labels = list(groups)
    if len(labels) != n:
        raise DatasetError(
            f"split: groups has {len(labels)} labels for {n} cases; give one label per case "
            "(e.g. data.sequence)."
        )
    missing = [i for i, g in enumerate(labels) if g is None]
    if missing:
        raise DatasetError(
            f"split: groups has no label for case(s) {missing[:10]}; every case needs a group."
        )
    return [str(g) for g in labels]


def _grouped(labels: list[str], wanted: dict, rng) -> tuple[np.ndarray, ...]:
    """Indices of (train, val, test) with every group on one side, each part near its size.

    The groups are put in a seeded random order; test, then val, takes a set of the remaining
    groups whose total is within GROUP_WINDOW of its requested count, drawn from as short a
    start of that order as can be (else the closest total). Train keeps the groups left over.
    """
    keys, inverse = np.unique(np.asarray(labels), return_inverse=True)
    members = [np.flatnonzero(inverse == k) for k in range(len(keys))]
    sizes = np.array([len(m) for m in members])
    remaining = [int(k) for k in rng.permutation(len(keys))]
    chosen = {}
    for part in ("test", "val"):
        target, asked = wanted[part]
        picked = _closest_subset([int(sizes[k]) for k in remaining], target)
        total = int(sum(sizes[remaining[i]] for i in picked))
        if target and abs(total - target) > GROUP_TOLERANCE * target:
            raise DatasetError(
                f"split: {part}={asked!r} asks for {target} of {len(labels)} cases, but whole "
                f"groups come no closer than {total} (group sizes {_sizes(sizes[remaining])}). "
                "Ask for a part that whole groups can fill (a larger or smaller fraction), or "
                "use data with more, smaller groups."
            )
        chosen[part] = [remaining[i] for i in picked]
        remaining = [k for i, k in enumerate(remaining) if i not in set(picked)]
    if not remaining:
        raise DatasetError(
            f"split: val and test take all {len(keys)} groups, none is left for training. "
            "Ask for smaller val and test parts."
        )

    def indices(ks) -> np.ndarray:
        return np.concatenate([members[k] for k in ks] or [np.array([], np.intp)]).astype(np.intp)

    return indices(remaining), indices(chosen["val"]), indices(chosen["test"])


def _closest_subset(sizes: list[int], target: int) -> list[int]:
    """Positions of items whose sizes sum to within GROUP_WINDOW of `target`, using as few of
    the first items as can (so the seeded order decides); else the sum closest to it.

    A 0/1 subset sum over the reachable totals; totals above 2 * target are never closer to
    it than the empty set, so none is kept.
    """
    if target == 0:
        return []
    limit = 2 * target
    low, high = math.ceil(target * (1 - GROUP_WINDOW)), math.floor(target * (1 + GROUP_WINDOW))
    via = np.full(limit + 1, -1, np.intp)  # via[s]: the item that first made sum s reachable
    reached = np.zeros(limit + 1, bool)
    reached[0] = True
    for i, size in enumerate(sizes):
        if 0 < size <= limit:
            new = np.zeros_like(reached)
            new[size:] = reached[:-size] & ~reached[size:]
            via[new] = i
            reached |= new
            if reached[low : high + 1].any():
                break
    sums = np.flatnonzero(reached)
    best = int(sums[np.argmin(np.abs(sums - target))])
    picked = []
    while best:
        picked.append(int(via[best]))
        best -= sizes[picked[-1]]
    return sorted(picked)


def _sizes(sizes) -> str:
    """Group sizes for a message: sorted, the first dozen."""
    ordered = sorted(int(s) for s in sizes)
    return ", ".join(map(str, ordered[:12])) + (" ..." if len(ordered) > 12 else "")


def _stratified(labels, n_val: int, n_test: int, rng) -> tuple[np.ndarray, ...]:
    """Split indices so each label group is shared out over val/test/train in proportion."""
    keys = ["" if lab is None else str(lab) for lab in labels]
    groups = {
        k: rng.permutation([i for i, g in enumerate(keys) if g == k]) for k in sorted(set(keys))
    }
    n = len(keys)
    quotas = {}
    for part, total in (("val", n_val), ("test", n_test)):
        exact = {k: total * len(g) / n for k, g in groups.items()}
        quota = {k: math.floor(v) for k, v in exact.items()}
        left = {k: len(g) - sum(q.get(k, 0) for q in quotas.values()) for k, g in groups.items()}
        for k in sorted(exact, key=lambda k: (quota[k] - exact[k], k)):  # largest remainder first
            if sum(quota.values()) >= total:
                break
            if quota[k] < left[k]:
                quota[k] += 1
        for k in sorted(groups, key=lambda k: -left[k]):  # fill any shortfall from roomy groups
            while sum(quota.values()) < total and quota[k] < left[k]:
                quota[k] += 1
        quotas[part] = quota
    val, test, train = [], [], []
    for k, members in groups.items():
        a, b = quotas["val"][k], quotas["val"][k] + quotas["test"][k]
        val += list(members[:a])
        test += list(members[a:b])
        train += list(members[b:])
    return np.array(train, np.intp), np.array(val, np.intp), np.array(test, np.intp)
