"""Reproducible train/val/test splits that never overlap, stratified by PH2's diagnosis so each
part keeps the class mix (MADS, with no diagnosis, is split at random)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .layouts import DatasetError

if TYPE_CHECKING:
    from .loading import SegmentationData


def split(data: SegmentationData, val=0.1, test=0.2, seed: int = 0, stratify: bool = True):
    """Reproducible (train, val, test) subsets that never overlap and together cover `data`.

    `val` and `test` are counts (int) or fractions of the data (float in [0, 1)). With
    `stratify`, each diagnosis (None counting as one more group) is spread over the three
    parts in proportion; MADS has no diagnosis and is split at random.
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
    if not stratify or data.diagnosis is None:
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
