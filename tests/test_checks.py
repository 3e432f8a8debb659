"""Every lesson exercise's test accepts the course's answer and refuses typical wrong ones,
including a value hard-coded from the notebook's own output."""

from __future__ import annotations

import numpy as np
import pytest

from segcourse import checks
from segcourse.exercises import Wrong

RIGHT = [
    (checks.test_lesion_fraction, checks.lesion_fraction),
    (checks.test_touches_border, checks.touches_border),
    (checks.test_flip_pair, checks.flip_pair),
    (checks.test_bottleneck_width, checks.bottleneck_width),
    (checks.test_conv_params, checks.conv_params),
    (checks.test_to_mask, checks.to_mask),
    (checks.test_top_concat_channels, checks.top_concat_channels),
    (checks.test_unet_conv3x3, checks.unet_conv3x3),
    (checks.test_iou_from_dice, checks.iou_from_dice),
    (checks.test_pick_threshold, checks.pick_threshold),
    (checks.test_mean_by_group, checks.mean_by_group),
    (checks.test_ranking_counterexample, ([0.8, 0.8], [1.0, 0.58])),
]

WRONG = {
    "lesion pixel count": (checks.test_lesion_fraction, lambda m: m.sum(axis=(1, 2, 3))),
    "hard-coded fractions": (checks.test_lesion_fraction, lambda m: np.full(3, 0.4)),
    "only top and bottom": (
        checks.test_touches_border,
        lambda m: (m[:, 0, :, 0] > 0).any(1) | (m[:, -1, :, 0] > 0).any(1),
    ),
    "flips the image only": (checks.test_flip_pair, lambda i, m: (i[:, ::-1], m)),
    "upside down": (checks.test_flip_pair, lambda i, m: (i[::-1], m[::-1])),
    "hard-coded width 4": (checks.test_bottleneck_width, lambda size, depth: 4),
    "one pooling too many": (
        checks.test_bottleneck_width,
        lambda size, depth: size // 2 ** (depth + 1),
    ),
    "bias forgotten": (checks.test_conv_params, lambda k, c, f, bias: k * k * c * f),
    "threshold 0.5 on logits": (checks.test_to_mask, lambda logits: logits > 0.5),
    "logit 0 counted as lesion": (checks.test_to_mask, lambda logits: logits >= 0),
    "hard-coded 16 channels": (checks.test_top_concat_channels, lambda base: 16),
    "encoder run twice": (checks.test_unet_conv3x3, lambda depth: 6 * depth + 2),
    "Dice squared": (checks.test_iou_from_dice, lambda d: d * d),
    "last maximum on ties": (
        checks.test_pick_threshold,
        lambda t, s: t[len(s) - 1 - int(np.argmax(np.asarray(s)[::-1]))],
    ),
    "overall mean for every group": (
        checks.test_mean_by_group,
        lambda v, g: {k: float(np.mean(v)) for k in set(g)},
    ),
    "same ranking by IoU": (checks.test_ranking_counterexample, ([0.9, 0.9], [0.5, 0.5])),
}


@pytest.mark.parametrize("test, answer", RIGHT, ids=[t.__name__ for t, _ in RIGHT])
def test_the_course_answer_passes(test, answer):
    test(answer)


@pytest.mark.parametrize("name", sorted(WRONG))
def test_a_wrong_answer_is_refused_without_the_value(name):
    test, answer = WRONG[name]
    with pytest.raises(Wrong) as caught:
        test(answer)
    message = str(caught.value)
    assert message and "expected" not in message.lower()
