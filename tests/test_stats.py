"""Bootstrap intervals, paired bootstrap and sign test against known distributions and hand counts."""

import math

import numpy as np
import pytest

from segcourse import metrics


def _width(ci):
    return ci[2] - ci[1]


def test_ci_contains_the_true_mean_with_the_normal_theory_width():
    values = np.random.default_rng(0).normal(0.8, 0.1, size=2000)
    mean, low, high = metrics.bootstrap_ci(values)
    assert mean == pytest.approx(values.mean())
    assert low < 0.8 < high
    # percentile bootstrap of a mean ~ normal interval: 2 * 1.96 * sd / sqrt(n)
    assert high - low == pytest.approx(2 * 1.96 * 0.1 / math.sqrt(2000), rel=0.15)


def test_ci_width_shrinks_like_one_over_sqrt_n():
    rng = np.random.default_rng(1)
    small = metrics.bootstrap_ci(rng.uniform(size=400))
    large = metrics.bootstrap_ci(rng.uniform(size=1600))  # 4x the images: half the width
    assert _width(small) / _width(large) == pytest.approx(2.0, rel=0.2)


def test_ci_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(2)
    true_mean = 2 / 7  # Beta(2, 5): skewed, like Dice scores near 0
    hits = [
        metrics.bootstrap_ci(rng.beta(2, 5, size=60), n_boot=500, seed=i)[1:] for i in range(200)
    ]
    coverage = np.mean([low <= true_mean <= high for low, high in hits])
    assert 0.88 <= coverage <= 0.99


def test_ci_is_reproducible_and_narrower_at_a_lower_level():
    values = np.random.default_rng(3).uniform(size=50)
    assert metrics.bootstrap_ci(values, seed=5) == metrics.bootstrap_ci(values, seed=5)
    assert metrics.bootstrap_ci(values, seed=5) != metrics.bootstrap_ci(values, seed=6)
    assert _width(metrics.bootstrap_ci(values, level=0.5)) < _width(metrics.bootstrap_ci(values))
    assert metrics.bootstrap_ci([0.7] * 5) == (0.7, 0.7, 0.7)


def test_paired_bootstrap_of_identical_series_is_exactly_zero():
    a = np.random.default_rng(4).uniform(size=30)
    result = metrics.paired_bootstrap(a, a.copy())
    assert result == {"diff": 0.0, "ci": [0.0, 0.0], "p_value": 1.0, "n": 30}


def test_paired_bootstrap_finds_a_clearly_better_model():
    rng = np.random.default_rng(5)
    b = rng.uniform(0.5, 0.9, size=40)
    a = b + 0.03 + rng.normal(0, 0.02, size=40)  # better on almost every image
    better = metrics.paired_bootstrap(a, b)
    assert better["diff"] == pytest.approx(np.mean(a - b))
    assert 0 < better["ci"][0] < better["diff"] < better["ci"][1]
    assert better["p_value"] < 0.01 and better["n"] == 40
    worse = metrics.paired_bootstrap(b, a)
    assert worse["ci"][1] < 0 and worse["p_value"] > 0.99


def test_paired_bootstrap_sees_no_difference_in_noise():
    rng = np.random.default_rng(6)
    a, b = rng.uniform(size=40), rng.uniform(size=40)  # same distribution
    result = metrics.paired_bootstrap(a, b)
    assert result["ci"][0] < 0 < result["ci"][1] and 0.05 < result["p_value"] < 0.95


def test_sign_test_matches_a_binomial_counted_by_hand():
    a = [0.9] * 9 + [0.1] + [0.5, 0.5]
    b = [0.8] * 9 + [0.2] + [0.5, 0.5]
    # 9 wins, 1 loss, 2 ties: two-sided P = 2 * P(X >= 9), X ~ Bin(10, 1/2)
    expected = 2 * (math.comb(10, 9) + math.comb(10, 10)) / 2**10
    result = metrics.sign_test(a, b)
    assert result == {"greater": 9, "less": 1, "ties": 2, "p_value": pytest.approx(expected)}
    assert expected == pytest.approx(0.021484375)
    swapped = metrics.sign_test(b, a)
    assert (swapped["greater"], swapped["less"]) == (1, 9)
    assert swapped["p_value"] == pytest.approx(expected)
    assert metrics.sign_test([1, 0], [0, 1])["p_value"] == pytest.approx(1.0)
    assert metrics.sign_test([0.3] * 4, [0.3] * 4) == {
        "greater": 0,
        "less": 0,
        "ties": 4,
        "p_value": 1.0,
    }


def test_format_ci():
    assert metrics.format_ci(0.9123, 0.8941, 0.9279) == "0.912 [0.894, 0.928]"
    assert metrics.format_ci(0.5, 0.25, 0.75, digits=1) == "0.5 [0.2, 0.8]"
    assert metrics.format_ci(*metrics.bootstrap_ci([0.5, 0.5])) == "0.500 [0.500, 0.500]"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([], "values is empty"),
        ([0.5, float("nan"), 0.7], r"1 NaN value\(s\) \(first at index 1\)"),
        ([0.5, float("inf")], "infinite"),
        ([[0.5, 0.6]], r"shape \(1, 2\): expected one score per image"),
        (0.5, "expected one score per image"),
    ],
)
def test_bad_scores_are_refused_naming_the_problem(values, message):
    with pytest.raises(ValueError, match=message):
        metrics.bootstrap_ci(values)


def test_bad_pairs_and_settings_are_refused():
    with pytest.raises(ValueError, match="a has 3 scores but b has 2"):
        metrics.paired_bootstrap([0.1, 0.2, 0.3], [0.1, 0.2])
    with pytest.raises(ValueError, match="a has 3 scores but b has 2"):
        metrics.sign_test([0.1, 0.2, 0.3], [0.1, 0.2])
    with pytest.raises(ValueError, match="b contains 1 NaN"):
        metrics.paired_bootstrap([0.1, 0.2], [0.1, float("nan")])
    with pytest.raises(ValueError, match="a is empty"):
        metrics.sign_test([], [])
    with pytest.raises(ValueError, match="level must be between 0 and 1"):
        metrics.bootstrap_ci([0.1, 0.2], level=95)
    with pytest.raises(ValueError, match="n_boot must be a positive integer"):
        metrics.bootstrap_ci([0.1, 0.2], n_boot=0)


def test_score_table_all_row_has_the_bootstrap_intervals():
    rng = np.random.default_rng(7)
    truth = rng.random((12, 6, 6)) > 0.5
    pred = truth ^ (rng.random((12, 6, 6)) > 0.8)  # about 20 % of pixels flipped
    table = metrics.score_table(truth, pred, ["a", "b"] * 6)
    row = table["all"]
    assert row["dice_ci"] == list(metrics.bootstrap_ci(metrics.dice(truth, pred))[1:])
    assert row["iou_ci"] == list(metrics.bootstrap_ci(metrics.iou(truth, pred))[1:])
    assert row["dice_ci"][0] < row["dice"] < row["dice_ci"][1]
    assert row["iou_ci"][0] < row["iou"] < row["iou_ci"][1]
    assert set(table["a"]) == {"n", "dice", "iou"}  # group rows unchanged
