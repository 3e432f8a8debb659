"""The data layer: real PH2 / MADS layouts and quirks, root lookup, stand-in, cache, splits, errors."""

from __future__ import annotations

import html
import os
import subprocess
import sys
import types
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from trees import (
    MADS_NAME,
    PH2_IMAGES,
    lesion_pair,
    mads_name,
    make_mads_tree,
    make_ph2_tree,
    ph2_ids,
    write_mask,
)

import segcourse
from segcourse import data as sd
from segcourse.data import DatasetError, load_mads, load_ph2, split


@pytest.fixture(autouse=True)
def _isolated(isolated_data):
    """Every test here gets its own cache, no env vars, and a bare working directory."""
    return isolated_data


def load(root, **kw):
    """load_ph2 at native fixture size, quiet, no cache unless asked."""
    kw.setdefault("cache", False)
    kw.setdefault("progress", False)
    kw.setdefault("image_size", (30, 40))
    return load_ph2(root, **kw)


def same_size_tree(tmp_path, n=5, **kw):
    return make_ph2_tree(tmp_path, n, sizes=[(40, 30)] * n, **kw)


def mask_path(archive, cid):
    return archive / PH2_IMAGES / cid / f"{cid}_lesion" / f"{cid}_lesion.bmp"


def image_path(archive, cid):
    return archive / PH2_IMAGES / cid / f"{cid}_Dermoscopic_Image" / f"{cid}.bmp"


# ----------------------------------------------------------------------------- PH2 layout


def test_ph2_pairs_by_id_and_exact_file_name(tmp_path):
    archive = same_size_tree(tmp_path, 5)  # with roi folders, .jpg copies, a script, .DS_Store
    data = load(archive)
    assert data.ids == ph2_ids(5) and data.ids == sorted(data.ids)
    assert data.images.dtype == np.uint8 and data.images.shape == (5, 30, 40, 3)
    assert data.masks.dtype == np.uint8 and data.masks.shape == (5, 30, 40, 1)
    assert set(np.unique(data.masks)) == {0, 1}
    for i in range(5):  # same size as written: exact pixels, so no jpg / roi / other case was used
        image, mask = lesion_pair(40, 30, i)
        np.testing.assert_array_equal(data.images[i], image)
        np.testing.assert_array_equal(data.masks[i, ..., 0], mask.astype(np.uint8))
    assert data.root == archive and not data.synthetic and len(data) == 5


def test_ph2_clinical_diagnosis_from_metadata_with_blank_fields(tmp_path):
    diagnoses = ["melanoma", "common nevus", "atypical nevus", "melanoma"]
    archive = make_ph2_tree(tmp_path, 4, diagnoses=diagnoses)
    text = (archive / "PH2_dataset.txt").read_text()
    assert "||                        ||" in text  # blank histology field, as in the real file
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load(archive).diagnosis == diagnoses


@pytest.mark.parametrize("metadata", ["unreadable", None])
def test_ph2_unreadable_or_missing_metadata_gives_none_with_one_warning(tmp_path, metadata):
    archive = make_ph2_tree(tmp_path, 4, metadata=metadata)
    with pytest.warns(UserWarning) as record:
        data = load(archive)
    assert len(record) == 1 and "PH2_dataset.txt" in str(record[0].message)
    assert data.diagnosis == [None] * 4 and len(data) == 4


def test_ph2_case_missing_from_metadata_is_none_and_warned(tmp_path):
    archive = make_ph2_tree(tmp_path, 4)
    path = archive / "PH2_dataset.txt"
    path.write_text("\n".join(r for r in path.read_text().splitlines() if "IMD005" not in r))
    with pytest.warns(UserWarning, match="IMD005"):
        data = load(archive)
    assert data.diagnosis[1] is None and data.diagnosis[0] == "common nevus"


def test_ph2_24bit_rgb_mask_equals_1bit_mask(tmp_path):
    one_bit = load(same_size_tree(tmp_path / "a", 3))
    rgb = load(same_size_tree(tmp_path / "b", 3, rgb_mask_ids=("IMD005",)))
    assert Image.open(mask_path(rgb.root, "IMD005")).mode == "RGB"
    assert Image.open(mask_path(one_bit.root, "IMD005")).mode == "1"
    np.testing.assert_array_equal(one_bit.masks, rgb.masks)


def test_ph2_varying_sizes_are_resized_area_aware_and_masks_stay_binary(tmp_path):
    archive = make_ph2_tree(tmp_path, 4, sizes=[(80, 60), (81, 59), (79, 61), (80, 60)])
    data = load(archive, image_size=(30, 40))
    assert data.images.shape == (4, 30, 40, 3)
    assert set(np.unique(data.masks)) == {0, 1}
    image, mask = lesion_pair(80, 60, 0)  # exact 2x: every output pixel averages a 2x2 block
    block = image.reshape(30, 2, 40, 2, 3).astype(float).mean(axis=(1, 3))
    assert np.abs(data.images[0].astype(float) - block).max() <= 1
    area = mask.reshape(30, 2, 40, 2).mean(axis=(1, 3))
    clear = area != 0.5
    np.testing.assert_array_equal(data.masks[0, ..., 0][clear], (area > 0.5)[clear])


def test_image_size_int_is_square_and_bad_size_is_rejected(tmp_path):
    archive = make_ph2_tree(tmp_path, 2)
    assert load(archive, image_size=16).images.shape == (2, 16, 16, 3)
    assert load(archive, image_size=(8, 12)).masks.shape == (2, 8, 12, 1)
    for bad in (0, (8,), "64", (8.0, 8)):
        with pytest.raises(ValueError, match="image_size"):
            load(archive, image_size=bad)


@pytest.mark.parametrize("where", ["archive", "parent", "grandparent", "images-folder"])
def test_ph2_root_may_be_archive_or_a_folder_above(tmp_path, where):
    archive = make_ph2_tree(tmp_path / "t", 2)
    root = {
        "archive": archive,
        "parent": archive.parent,
        "grandparent": archive.parent.parent,
        "images-folder": archive / PH2_IMAGES,
    }[where]
    assert load(root).root == archive


# ----------------------------------------------------------------------------- MADS layout


@pytest.mark.parametrize("nested", [True, False])
@pytest.mark.parametrize("extras", [True, False])  # df.csv, collages, .jpg copies, .DS_Store
def test_mads_flat_or_nested_with_or_without_extras(tmp_path, nested, extras):
    outer = make_mads_tree(
        tmp_path, 4, nested=nested, df_csv=extras, collages=extras, extras=extras
    )
    inner = outer / MADS_NAME if nested else outer
    data = load_mads(outer, image_size=(36, 48), cache=False, progress=False)
    names = sorted(mads_name(i) for i in range(4))
    assert data.ids == [Path(n).stem for n in names]
    assert data.diagnosis is None and data.root == inner
    for i, name in enumerate(names):
        k = [mads_name(j) for j in range(4)].index(name)
        image, mask = lesion_pair(48, 36, 500 + k)
        np.testing.assert_array_equal(data.images[i], image)
        np.testing.assert_array_equal(data.masks[i, ..., 0], mask.astype(np.uint8))


@pytest.mark.parametrize("where", ["outer", "inner", "parent", "images"])
def test_mads_root_may_be_outer_inner_or_parent(tmp_path, where):
    outer = make_mads_tree(tmp_path, 2)
    inner = outer / MADS_NAME
    root = {"outer": outer, "inner": inner, "parent": outer.parent, "images": inner / "images"}
    assert load_mads(root[where], 16, cache=False, progress=False).root == inner


def test_mads_default_size_is_192_by_256(tmp_path):
    data = load_mads(make_mads_tree(tmp_path, 2), cache=False, progress=False)
    assert data.images.shape == (2, 192, 256, 3) and set(np.unique(data.masks)) == {0, 1}


# ----------------------------------------------------------------------------- root lookup


def test_env_vars_are_used(tmp_path, monkeypatch):
    archive = make_ph2_tree(tmp_path, 2)
    outer = make_mads_tree(tmp_path, 2)
    monkeypatch.setenv("PH2_ROOT", str(archive.parent))
    monkeypatch.setenv("MADS_ROOT", str(outer))
    assert load(None).root == archive
    assert load_mads(None, 16, cache=False, progress=False).root == outer / MADS_NAME


def test_data_folder_in_working_directory_then_project_root(tmp_path):
    archive = make_ph2_tree(tmp_path / "project" / "data", 2, parent=False)
    assert load(None).root == archive  # project root's data/ (fixture's fake project root)
    local = make_ph2_tree(tmp_path / "work" / "data", 3, parent=False)
    assert load(None).root == local  # the working directory's data/ comes first


@pytest.mark.parametrize("via_env", [False, True])
def test_missing_or_wrong_root_is_an_error_not_a_fallback(tmp_path, monkeypatch, via_env):
    def attempt(root):
        if via_env:
            monkeypatch.setenv("PH2_ROOT", str(root))
            return load(None)
        return load(root)

    with pytest.raises(DatasetError, match="does not exist.*PH2 Dataset images") as info:
        attempt(tmp_path / "nowhere")
    assert ("$PH2_ROOT" in str(info.value)) == via_env
    wrong = tmp_path / "wrong"
    (wrong / "PH2Dataset" / "images").mkdir(parents=True)
    with pytest.raises(DatasetError, match="does not hold the PH2 archive.*PH2 Dataset images"):
        attempt(wrong)
    assert not (tmp_path / "cache" / "synthetic").exists()


def test_root_that_is_a_file_says_unpack_first(tmp_path):
    (tmp_path / "PH2Dataset.rar").write_bytes(b"Rar!")
    with pytest.raises(DatasetError, match="is a file.*unpacked first"):
        load(tmp_path / "PH2Dataset.rar")


def test_explicit_root_at_a_stand_in_is_still_flagged_synthetic(tmp_path, capsys):
    archive = make_ph2_tree(tmp_path, 2)
    assert not load(archive).synthetic
    (archive / sd.STANDIN_MARKER_FILE).write_text("written by segcourse.synth")
    assert load(archive).synthetic and "synthetic stand-in" in capsys.readouterr().err


def test_marker_file_names_on_disk_never_change():
    """Existing stand-ins and caches carry these names; renaming them would orphan them."""
    assert sd.STANDIN_MARKER_FILE == ".segcourse-synthetic"
    assert sd.ARCHIVE_POINTER_FILE == ".segcourse-archive"


def test_wrong_mads_root_says_what_was_expected(tmp_path):
    (tmp_path / "m" / "images").mkdir(parents=True)
    with pytest.raises(DatasetError, match="does not hold the MADS archive.*masks/"):
        load_mads(tmp_path / "m", cache=False)


def fake_synth_module(calls, fail=False):
    """A stand-in for segcourse.synth that writes tiny trees fast (and counts its calls)."""

    def synth_ph2(dest, n=200, seed=0):
        calls.append(("ph2", n, seed))
        archive = make_ph2_tree(Path(dest), 3, parent=False, extras=False)
        if fail:
            raise RuntimeError("generator crashed half-way")
        return archive

    def synth_mads(dest, n=240, seed=0):
        calls.append(("mads", n, seed))
        return make_mads_tree(Path(dest), 3)

    return types.SimpleNamespace(synth_ph2=synth_ph2, synth_mads=synth_mads)


def install_fake_synth(monkeypatch, module):
    monkeypatch.setitem(sys.modules, "segcourse.synth", module)
    monkeypatch.setattr(segcourse, "synth", module, raising=False)


def test_synthetic_fallback_is_generated_once_with_a_loud_banner(tmp_path, monkeypatch, capsys):
    calls = []
    install_fake_synth(monkeypatch, fake_synth_module(calls))
    first = load(None)
    banner = capsys.readouterr().err
    for text in (
        "SYNTHETIC STAND-IN",
        "NOT PH2 results",
        "python -m segcourse download ph2",
        "PH2_ROOT",
    ):
        assert text in banner
    assert first.synthetic and len(first) == 3
    assert first.root.is_relative_to(tmp_path / "cache" / "synthetic")
    second = load(None)
    assert "SYNTHETIC STAND-IN" in capsys.readouterr().err  # every time, not only the first
    assert second.synthetic and second.root == first.root and calls == [("ph2", 200, 0)]
    mads = load_mads(None, 16, cache=False, progress=False)
    assert mads.synthetic and "download mads" in capsys.readouterr().err


def test_crashed_stand_in_generation_leaves_nothing_behind(tmp_path, monkeypatch):
    calls = []
    install_fake_synth(monkeypatch, fake_synth_module(calls, fail=True))
    with pytest.raises(RuntimeError):
        load(None)
    assert os.listdir(tmp_path / "cache" / "synthetic") == []
    install_fake_synth(monkeypatch, fake_synth_module(calls))
    assert load(None).synthetic and len(calls) == 2


def test_a_stand_in_cached_by_an_older_generator_is_made_again(tmp_path, monkeypatch, capsys):
    from segcourse.data.layouts import STANDIN_VERSION_FILE, STANDIN_VERSIONS

    calls = []
    install_fake_synth(monkeypatch, fake_synth_module(calls))
    first = load_mads(None, 16, cache=False, progress=False)
    cached = tmp_path / "cache" / "synthetic" / "mads"
    assert (cached / STANDIN_VERSION_FILE).read_text() == str(STANDIN_VERSIONS["mads"])
    load_mads(None, 16, cache=False, progress=False)
    assert len(calls) == 1, "a current stand-in is reused"
    (cached / STANDIN_VERSION_FILE).unlink()  # as written before versions: version 1
    (first.root / "images" / "old-frame.png").write_bytes(b"stale")
    capsys.readouterr()
    again = load_mads(None, 16, cache=False, progress=False)
    assert "made by an older segcourse.synth" in capsys.readouterr().err
    assert len(calls) == 2 and len(again) == len(first)
    assert not (again.root / "images" / "old-frame.png").exists()
    assert sorted(os.listdir(cached.parent)) == ["mads"], "the old one is gone"


# ----------------------------------------------------------------------------- cache


def test_cache_hit_returns_equal_memory_mapped_arrays_without_decoding(tmp_path, monkeypatch):
    archive = make_ph2_tree(tmp_path, 4)
    cold = load(archive, cache=True, image_size=16)
    assert not isinstance(cold.images, np.memmap)

    def boom(*args, **kwargs):
        raise AssertionError("decoded although the cache is warm")

    monkeypatch.setattr(Image, "open", boom)
    warm = load(archive, cache=True, image_size=16)
    assert isinstance(warm.images, np.memmap) and isinstance(warm.masks, np.memmap)
    np.testing.assert_array_equal(warm.images, cold.images)
    np.testing.assert_array_equal(warm.masks, cold.masks)
    assert (warm.ids, warm.diagnosis, warm.root) == (cold.ids, cold.diagnosis, cold.root)
    warm.images[0] = 0  # copy-on-write: usable as a normal array, the cache stays intact
    np.testing.assert_array_equal(load(archive, cache=True, image_size=16).images, cold.images)
    entries = os.listdir(tmp_path / "cache" / "arrays")
    assert len(entries) == 1 and not entries[0].startswith(".")


def test_cache_is_invalidated_by_changed_or_added_file_not_by_clutter(tmp_path):
    archive = make_ph2_tree(tmp_path, 3, sizes=[(40, 30)] * 3)
    first = load(archive, cache=True)
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(image_path(archive, "IMD005"))
    os.utime(image_path(archive, "IMD005"), ns=(1, 1))  # a different mtime, whatever the clock
    changed = load(archive, cache=True)
    assert changed.images[1].max() == 0 and first.images[1].max() > 0
    Image.new("RGB", (40, 30)).save(archive / PH2_IMAGES / "IMD002" / "IMD002_lesion" / "x.png")
    assert load(archive, cache=True).images[1].max() == 0  # clutter: still a hit, same data
    make_ph2_tree(tmp_path / "more", 1, ids=["IMD999"], sizes=[(40, 30)], extras=False)
    os.rename(
        tmp_path / "more" / "ph2" / "PH2Dataset" / PH2_IMAGES / "IMD999",
        archive / PH2_IMAGES / "IMD999",
    )
    with pytest.warns(UserWarning, match="IMD999"):  # not in the metadata: warned, kept
        added = load(archive, cache=True)
    assert added.ids[-1] == "IMD999" and len(added) == 4
    assert len(os.listdir(tmp_path / "cache" / "arrays")) == 1  # old entries are pruned


def test_damaged_cache_entry_is_rebuilt(tmp_path):
    archive = make_ph2_tree(tmp_path, 3)
    first = load(archive, cache=True, image_size=16)
    (entry,) = (tmp_path / "cache" / "arrays").iterdir()
    (entry / "images.npy").write_bytes(b"\x93NUMPY broken")
    np.testing.assert_array_equal(load(archive, cache=True, image_size=16).images, first.images)
    assert isinstance(load(archive, cache=True, image_size=16).images, np.memmap)


def test_cache_depends_on_size_and_cache_false_writes_nothing(tmp_path):
    archive = make_ph2_tree(tmp_path, 2)
    load(archive, cache=False, image_size=16)
    assert not (tmp_path / "cache" / "arrays").exists()
    small = load(archive, cache=True, image_size=8)
    big = load(archive, cache=True, image_size=16)
    assert small.images.shape[1] == 8 and big.images.shape[1] == 16
    assert len(os.listdir(tmp_path / "cache" / "arrays")) == 2


def test_progress_bar_only_when_asked(tmp_path, capsys):
    archive = make_ph2_tree(tmp_path, 2)
    load(archive, progress=False)
    assert "decoding" not in capsys.readouterr().err
    load(archive, progress=True)
    assert "PH2: decoding" in capsys.readouterr().err


# ----------------------------------------------------------------------------- bad input


def test_empty_datasets(tmp_path):
    (tmp_path / "e" / "PH2Dataset" / PH2_IMAGES).mkdir(parents=True)
    with pytest.raises(DatasetError, match="no PH2 case folders.*empty"):
        load(tmp_path / "e")
    for sub in ("images", "masks"):
        (tmp_path / "m" / sub).mkdir(parents=True)
    with pytest.raises(DatasetError, match="empty"):
        load_mads(tmp_path / "m", cache=False)


def test_image_without_mask_and_mask_without_image(tmp_path):
    archive = make_ph2_tree(tmp_path, 4)
    mask_path(archive, "IMD005").unlink()
    image_path(archive, "IMD008").unlink()
    with pytest.raises(DatasetError) as info:
        load(archive)
    text = str(info.value)
    assert "IMD005.bmp: image without mask" in text and "IMD005_lesion.bmp" in text
    assert "IMD008_lesion.bmp: mask without image" in text and "strict=False" in text


def test_mads_unpaired_files(tmp_path):
    inner = make_mads_tree(tmp_path, 3) / MADS_NAME
    (inner / "masks" / mads_name(0)).unlink()
    Image.new("L", (48, 36)).save(inner / "masks" / "Kata_Kata1_C0_99999.png")
    with pytest.raises(DatasetError) as info:
        load_mads(inner, 16, cache=False)
    assert f"{mads_name(0)}: image without mask" in str(info.value)
    assert "Kata_Kata1_C0_99999.png: mask without image" in str(info.value)


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_unreadable_image_names_the_file(tmp_path, damage):
    archive = make_ph2_tree(tmp_path, 3)
    path = image_path(archive, "IMD005")
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2] if damage == "truncated" else b"not a bitmap" * 50)
    with pytest.raises(DatasetError, match=r"IMD005\.bmp: cannot read this image") as info:
        load(archive)
    assert info.value.__cause__ is None  # no Pillow traceback chained to it
    assert info.value.__context__ is None or info.value.__suppress_context__


def test_image_mask_size_mismatch(tmp_path):
    archive = make_ph2_tree(tmp_path, 3)
    write_mask(mask_path(archive, "IMD005"), np.ones((20, 20), bool))
    with pytest.raises(DatasetError, match=r"IMD005_lesion\.bmp: mask is 20x20 but its image"):
        load(archive)


def test_non_binary_mask_is_rejected_but_two_level_masks_are_thresholded(tmp_path):
    archive = make_ph2_tree(tmp_path, 3, sizes=[(40, 30)] * 3)
    _, mask = lesion_pair(40, 30, 1)
    Image.fromarray(mask.astype(np.uint8)).save(mask_path(archive, "IMD005"))  # 0/1 grey
    np.testing.assert_array_equal(load(archive).masks[1, ..., 0], mask.astype(np.uint8))
    noisy = np.where(mask, 250, 3).astype(np.uint8)  # slight noise around two levels: fine
    Image.fromarray(noisy).convert("RGB").save(mask_path(archive, "IMD005"))
    np.testing.assert_array_equal(load(archive).masks[1, ..., 0], mask.astype(np.uint8))
    ramp = np.tile(np.linspace(0, 255, 40).astype(np.uint8), (30, 1))  # a soft map / photo
    Image.fromarray(ramp).save(mask_path(archive, "IMD005"))
    with pytest.raises(DatasetError, match=r"IMD005_lesion\.bmp: mask is not binary"):
        load(archive)


def test_strict_false_skips_bad_cases_with_one_warning_listing_all(tmp_path):
    archive = make_ph2_tree(tmp_path, 5)
    mask_path(archive, "IMD005").unlink()
    image_path(archive, "IMD011").write_bytes(b"junk")
    with pytest.warns(UserWarning) as record:
        data = load(archive, strict=False, image_size=16, cache=True)
    assert len(record) == 1
    text = str(record[0].message)
    assert "2 bad PH2 case" in text and "IMD005" in text and "IMD011" in text
    assert data.ids == ["IMD002", "IMD008", "IMD014"] and len(data.diagnosis) == 3
    with pytest.warns(UserWarning, match="IMD011"):  # a warm cache warns the same way
        assert load(archive, strict=False, image_size=16, cache=True).ids == data.ids
    with pytest.raises(DatasetError, match="(?s)IMD005.*IMD011"):  # strict: all, no cache
        load(archive, image_size=16, cache=True)


def test_strict_false_with_nothing_readable_is_an_error(tmp_path):
    archive = make_ph2_tree(tmp_path, 2)
    for cid in ("IMD002", "IMD005"):
        image_path(archive, cid).write_bytes(b"junk")
    with pytest.raises(DatasetError, match="empty"):
        load(archive, strict=False)


# ----------------------------------------------------------------------------- splits


def fake_data(diagnosis):
    n = len(diagnosis)
    return sd.SegmentationData(
        images=np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1).repeat(3, axis=3),
        masks=np.zeros((n, 1, 1, 1), np.uint8),
        ids=[f"IMD{i:03d}" for i in range(n)],
        diagnosis=diagnosis,
        root=Path("."),
    )


def test_split_is_stratified_disjoint_complete_and_reproducible():
    data = fake_data(["common nevus"] * 80 + ["atypical nevus"] * 80 + ["melanoma"] * 40)
    train, val, test = split(data, val=20, test=40, seed=0)
    assert (len(train), len(val), len(test)) == (140, 20, 40)
    ids = [set(p.ids) for p in (train, val, test)]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert ids[0] | ids[1] | ids[2] == set(data.ids)
    assert Counter(test.diagnosis) == {"common nevus": 16, "atypical nevus": 16, "melanoma": 8}
    assert Counter(val.diagnosis) == {"common nevus": 8, "atypical nevus": 8, "melanoma": 4}
    for part in (train, val, test):  # arrays follow the ids
        assert [f"IMD{v:03d}" for v in part.images[:, 0, 0, 0]] == part.ids
    again = split(data, val=20, test=40, seed=0)
    assert [p.ids for p in again] == [p.ids for p in (train, val, test)]
    assert split(data, val=20, test=40, seed=1)[2].ids != test.ids


def test_split_fractions_unstratified_and_uneven_groups():
    data = fake_data(["a"] * 7 + ["b"] * 3 + [None] * 3)  # None (no metadata) is a group too
    train, val, test = split(data, val=0.1, test=0.2, seed=3)
    assert (len(train), len(val), len(test)) == (9, 1, 3)
    assert set(train.ids) | set(val.ids) | set(test.ids) == set(data.ids)
    assert Counter(test.diagnosis) == {"a": 1, "b": 1, None: 1}
    mads = fake_data(["x"] * 10)
    mads.diagnosis = None
    parts = split(mads, val=3, test=4, seed=0)
    assert [len(p) for p in parts] == [3, 3, 4] and parts[0].diagnosis is None
    assert len(set().union(*(p.ids for p in parts))) == 10
    plain = split(data, val=2, test=3, stratify=False, seed=0)
    assert [len(p) for p in plain] == [8, 2, 3]


def test_split_errors_when_counts_do_not_fit():
    data = fake_data(["a"] * 10)
    with pytest.raises(DatasetError, match="at least one is needed"):
        split(data, val=5, test=5)
    with pytest.raises(DatasetError, match="fraction"):
        split(data, val=1.5)
    with pytest.raises(DatasetError, match="negative"):
        split(data, test=-1)


def test_subset_keeps_order_and_accepts_boolean_masks():
    data = fake_data(["a", "b", "c", "d"])
    assert data.subset([3, 1]).ids == ["IMD003", "IMD001"]
    assert data.subset(np.array([True, False, True, False])).diagnosis == ["a", "c"]
    assert "4 cases" in repr(data)


# ----------------------------------------------------------------------------- notebook display

PH2_ALERT = (
    '<div role="alert" style="border:4px solid #c00; background:#fee; color:#600; padding:12px; '
    'font-size:1.15em"><b>&#9888; SYNTHETIC STAND-IN DATA: this is NOT the PH2 dataset.</b><br>'
    "No PH2 archive was found, so generated look-alike images are used. Every number and figure "
    "below describes the stand-in, <b>not</b> real dermoscopy images. To use the real data run "
    "<code>python -m segcourse download ph2</code> or set <code>PH2_ROOT</code> (or the "
    "<code>PH2_ROOT</code> parameter above) to the unpacked archive.</div>"
)


def test_html_view_of_a_stand_in_is_a_loud_alert_above_the_repr():
    data = fake_data(["a", "b"])
    data.synthetic, data.root = True, Path("/cache/<synthetic>")
    view = data._repr_html_()
    assert view == PH2_ALERT + "<pre>" + html.escape(repr(data)) + "</pre>"
    assert "&lt;synthetic&gt;" in view and "<synthetic>" not in view
    mads = fake_data(["x"] * 3)
    mads.diagnosis, mads.synthetic = None, True
    view = mads._repr_html_()
    assert view.startswith('<div role="alert"') and "NOT the MADS dataset" in view
    for text in ("No MADS archive", "real full-body images", "download mads</code>", "MADS_ROOT"):
        assert text in view
    assert "PH2" not in view and "dermoscopy" not in view


def test_html_view_of_real_data_names_its_escaped_root(tmp_path, monkeypatch):
    archive = make_ph2_tree(tmp_path / "a&b", 2)
    data = load(archive)
    view = data._repr_html_()
    assert view == (
        f"<pre>{html.escape(repr(data))}</pre>"
        f"<div>Real PH2 data from {html.escape(str(archive))}</div>"
    )
    assert "a&amp;b" in view and "alert" not in view
    real_mads = load_mads(make_mads_tree(tmp_path, 2), 16, cache=False, progress=False)
    assert "Real MADS data from" in real_mads._repr_html_()
    install_fake_synth(monkeypatch, fake_synth_module([]))
    standin = load_mads(None, 16, cache=False, progress=False)
    assert standin.subset([0])._repr_html_().startswith('<div role="alert"')
    assert "NOT the MADS dataset" in standin._repr_html_()


# ----------------------------------------------------------------------------- prepare, imports


def test_prepare_prints_one_line_per_dataset_at_profile_sizes(tmp_path, capsys, monkeypatch):
    import segcourse.profiles

    monkeypatch.setattr(segcourse.profiles, "backend_sees_gpu", lambda: 1 / 0)  # never called
    archive, outer = make_ph2_tree(tmp_path, 2), make_mads_tree(tmp_path, 2)
    args = ["--ph2-root", str(archive), "--mads-root", str(outer), "--profile", "ci"]
    assert sd.main(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("PH2: 2 cases, 64x64, real, root") and str(archive) in out[0]
    assert out[1].startswith("MADS: 2 cases, 64x96, real")
    monkeypatch.delenv("SEGCOURSE_PROFILE", raising=False)
    assert sd.main(args[:4]) == 0 and "128x128" in capsys.readouterr().out  # default: cpu
    assert sd.main(["--ph2-root", str(tmp_path / "nope"), "--mads-root", str(outer)]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_importing_the_data_layer_imports_no_deep_learning_backend():
    code = (
        "import sys, segcourse, segcourse.data\n"
        "print([m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
