"""`split(..., groups=...)`: whole groups (MADS sequences) on one side, and each MADS frame's
sequence parsed from its file name, so the lab can split a video dataset without leaking."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from trees import make_mads_tree, make_ph2_tree

from segcourse import synth
from segcourse.data import DatasetError, SegmentationData, load_mads, load_ph2, split


def frames(sizes: dict[str, int]) -> SegmentationData:
    """MADS-like data: `sizes[sequence]` frames per `{Action}_{Sequence}`, named as in the archive."""
    ids = [f"{seq}_C0_{10 * k:05d}" for seq, size in sizes.items() for k in range(size)]
    n = len(ids)
    return SegmentationData(
        images=np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1).repeat(3, axis=3),
        masks=np.zeros((n, 1, 1, 1), np.uint8),
        ids=ids,
        diagnosis=None,
        root=Path("."),
        kind="mads",
    )


SIZES = {f"Jazz_Jazz{i}": size for i, size in enumerate([12, 30, 7, 18, 25, 9, 14, 21, 16, 11, 28])}


def test_whole_groups_go_to_one_side_near_the_requested_sizes():
    data = frames(SIZES)
    n = len(data)
    train, val, test = split(data, val=0.1, test=0.2, seed=0, groups=data.sequence)
    seqs = [set(part.sequence) for part in (train, val, test)]
    assert not (seqs[0] & seqs[1] or seqs[0] & seqs[2] or seqs[1] & seqs[2])
    assert seqs[0] | seqs[1] | seqs[2] == set(SIZES)
    assert sorted(train.ids + val.ids + test.ids) == sorted(data.ids)
    for part, share in ((val, 0.1), (test, 0.2)):
        assert abs(len(part) - share * n) <= 0.5 * share * n
        for seq in set(part.sequence):  # every frame of the group, not some of them
            assert list(part.sequence).count(seq) == SIZES[seq]
    for part in (train, val, test):  # the arrays follow the ids
        assert [data.ids[v] for v in part.images[:, 0, 0, 0]] == part.ids


def test_grouped_split_is_deterministic_per_seed():
    data = frames(SIZES)
    first = split(data, val=0.1, test=0.2, seed=3, groups=data.sequence)
    again = split(data, val=0.1, test=0.2, seed=3, groups=list(data.sequence))
    assert [p.ids for p in first] == [p.ids for p in again]
    tests = {tuple(sorted(set(split(data, test=0.2, seed=s, groups=data.sequence)[2].sequence)))
             for s in range(6)}  # fmt: skip
    assert len(tests) > 1, "other seeds, other test groups"


def test_counts_are_frames_and_a_zero_part_takes_no_group():
    data = frames(SIZES)
    train, val, test = split(data, val=0, test=30, seed=1, groups=data.sequence)
    assert len(val) == 0 and abs(len(test) - 30) <= 15 and len(train) + len(test) == len(data)


def test_a_frame_split_leaks_sequences_and_a_grouped_one_does_not():
    data = frames(SIZES)
    train, _, test = split(data, val=0.1, test=0.2, seed=0)
    assert set(test.sequence) & set(train.sequence), "random frames: test sequences seen"
    train, _, test = split(data, val=0.1, test=0.2, seed=0, groups=data.sequence)
    assert not set(test.sequence) & set(train.sequence)


def test_groups_too_big_for_a_part_are_a_clear_error():
    data = frames({"Jazz_Jazz1": 50, "Jazz_Jazz2": 50})
    with pytest.raises(DatasetError, match=r"test=0\.2 asks for 20 of 100 cases.*group sizes 50"):
        split(data, val=0, test=0.2, groups=data.sequence)
    two = frames({"Jazz_Jazz1": 10, "Jazz_Jazz2": 10})
    for seed in range(3):  # whatever the order: each part takes one group, train none
        with pytest.raises(DatasetError, match="none is left for training"):
            split(two, val=9, test=10, seed=seed, groups=two.sequence)


def test_bad_groups_are_refused():
    data = frames(SIZES)
    with pytest.raises(DatasetError, match="groups has 3 labels"):
        split(data, groups=["a", "b", "c"])
    with pytest.raises(DatasetError, match="one label per case"):
        split(data, groups="sequence")
    labels = list(data.sequence)
    labels[4] = None
    with pytest.raises(DatasetError, match=r"no label for case\(s\) \[4\]"):
        split(data, groups=labels)


def test_grouping_and_stratifying_are_exclusive(tmp_path):
    data = load_ph2(make_ph2_tree(tmp_path, 10), image_size=8, cache=False, progress=False)
    assert data.sequence is None, "PH2 has no sequences"
    with pytest.raises(DatasetError, match="stratify=False"):
        split(data, val=2, test=2, groups=data.ids)
    parts = split(data, val=2, test=2, groups=data.ids, stratify=False)
    assert [len(p) for p in parts] == [6, 2, 2]


# ----------------------------------------------------------------------------- data.sequence


def test_loader_parses_each_frames_sequence_from_its_name(tmp_path):
    data = load_mads(make_mads_tree(tmp_path, 6), image_size=8, cache=False, progress=False)
    expected = ["_".join(i.split("_")[:2]) for i in data.ids]  # {Action}_{Sequence}
    assert list(data.sequence) == expected and len(set(expected)) > 1
    picked = data.subset([4, 1])
    assert list(picked.sequence) == [expected[4], expected[1]]


def test_sequence_of_a_real_style_name_with_any_sequence_label():
    data = frames({})
    data.ids = ["Taichi_S1_C0_00010", "Sports_Volleyball_C2_00630", "Kata_F2_C1_00100"]
    assert list(data.sequence) == ["Taichi_S1", "Sports_Volleyball", "Kata_F2"]


def test_a_name_without_a_sequence_is_an_error_naming_the_file(tmp_path):
    outer = make_mads_tree(tmp_path, 3)
    inner = outer / outer.name
    for folder in ("images", "masks"):
        (inner / folder / "HipHop_HipHop1_C0_00000.png").rename(inner / folder / "frame7.png")
    data = load_mads(outer, image_size=8, cache=False, progress=False)
    with pytest.raises(DatasetError, match=r"images/frame7\.png.*\{Action\}_\{Sequence\}"):
        data.sequence  # noqa: B018


def test_the_stand_in_splits_by_sequence(tmp_path):
    archive = synth.synth_mads(tmp_path, n=60, seed=2, progress=False)
    data = load_mads(archive, image_size=(12, 16), cache=False, progress=False)
    assert len(set(data.sequence)) >= 5
    train, val, test = split(data, val=0.1, test=0.2, seed=0, groups=data.sequence)
    assert len(val) and len(test)
    assert not set(test.sequence) & (set(train.sequence) | set(val.sequence))
