"""The synthetic stand-ins: real on-disk layouts, realistic statistics, determinism, safety."""

from __future__ import annotations

import csv
import hashlib
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segcourse import synth
from segcourse.data.layouts import DIAGNOSES, STANDIN_MARKER_FILE
from segcourse.synth import MADS_FOLDER, PH2_IMAGES
from segcourse.synth.lesion import area_target
from segcourse.synth.mads import studio_background
from segcourse.synth.noise import seeded_rng
from segcourse.synth.ph2 import class_counts, ph2_size

ID = re.compile(r"^IMD\d{3}$")
MADS_NAME = re.compile(r"^(HipHop|Jazz|Kata|Taichi|Sports)_([A-Za-z0-9]+)_C[0-2]_(\d{5})\.png$")


def bmp_bits(path: Path) -> int:
    """Bits per pixel from the BMP header (biBitCount at byte 28)."""
    data = path.read_bytes()[:30]
    assert data[:2] == b"BM", f"{path} is not a BMP"
    return int.from_bytes(data[28:30], "little")


def tree_digest(root: Path) -> str:
    """One hash over every file's relative path and bytes."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def ph2(tmp_path_factory) -> Path:
    return synth.synth_ph2(tmp_path_factory.mktemp("ph2"), n=10, seed=3, progress=False)


@pytest.fixture(scope="module")
def mads(tmp_path_factory) -> Path:
    return synth.synth_mads(tmp_path_factory.mktemp("mads"), n=12, seed=3, progress=False)


@pytest.fixture(scope="module")
def ph2_sample():
    """20 rendered cases in the 80/80/40 proportions, for image statistics."""
    diagnoses = [0] * 8 + [1] * 8 + [2] * 4
    return [synth.render_ph2_case(11, i, d) for i, d in enumerate(diagnoses)]


# ----------------------------------------------------------------------------- PH2 layout


def test_ph2_layout_matches_the_real_archive(ph2):
    assert ph2.name == "PH2Dataset"
    assert (ph2 / "Readme.txt").is_file() and (ph2 / "PH2_dataset.txt").is_file()
    cases = sorted(p.name for p in (ph2 / PH2_IMAGES).iterdir())
    assert len(cases) == 10 and all(ID.match(c) for c in cases)
    assert cases[:4] == [
        "IMD002",
        "IMD003",
        "IMD004",
        "IMD006",
    ]  # not contiguous, like the real ids
    for case in cases:
        folder = ph2 / PH2_IMAGES / case
        image = folder / f"{case}_Dermoscopic_Image" / f"{case}.bmp"
        lesion = folder / f"{case}_lesion" / f"{case}_lesion.bmp"
        assert bmp_bits(image) == 24 and bmp_bits(lesion) == 1
        with Image.open(image) as img, Image.open(lesion) as mask:
            assert img.mode == "RGB" and mask.mode in ("1", "P")
            assert img.size == mask.size
            width, height = img.size
            assert 761 <= width <= 769 and 553 <= height <= 577
        assert {p.name for p in folder.iterdir()} <= {
            f"{case}_Dermoscopic_Image",
            f"{case}_lesion",
            f"{case}_roi",
        }


def test_ph2_sizes_vary_and_767x576_is_most_common():
    rngs = [seeded_rng(0, 1, i) for i in range(300)]  # the generator render_ph2_case draws from
    sizes = [ph2_size(r) for r in rngs]
    values, counts = np.unique(np.array(sizes), axis=0, return_counts=True)
    assert tuple(values[counts.argmax()]) == (767, 576)
    assert len(values) > 20


def test_ph2_roi_folders_hold_colour_region_masks(ph2):
    rois = sorted((ph2 / PH2_IMAGES).glob("*/*_roi"))
    assert 1 <= len(rois) < 10
    for folder in rois:
        case = folder.name[:-4]
        files = sorted(folder.iterdir())
        assert files and all(re.fullmatch(rf"{case}_R\d+_Label[1-6]\.bmp", f.name) for f in files)
        lesion = (
            np.asarray(
                Image.open(
                    ph2 / PH2_IMAGES / case / f"{case}_lesion" / f"{case}_lesion.bmp"
                ).convert("L")
            )
            > 0
        )
        for f in files:
            assert bmp_bits(f) == 1
            region = np.asarray(Image.open(f).convert("L")) > 0
            assert region.shape == lesion.shape and not (region & ~lesion).any()


def test_ph2_metadata_rows_parse_like_the_real_file(ph2):
    lines = (ph2 / "PH2_dataset.txt").read_text().splitlines()
    header = [c.strip() for c in lines[0].split("||")]
    assert header[1:4] == ["Name", "Histological Diagnosis", "Clinical Diagnosis"]
    rows = [line for line in lines if re.match(r"^\|\| IMD\d{3} \|\|", line)]
    assert len(rows) == 10 and lines[1:11] == rows
    assert any("Colors:" in line for line in lines[11:]), "legend lines follow the table"
    cases = sorted(p.name for p in (ph2 / PH2_IMAGES).iterdir())
    clinical = []
    for row in rows:
        cells = [c.strip() for c in row.split("||")]
        assert cells[0] == "" and cells[-1] == ""
        name, histology, diagnosis, criteria, colours = cells[1:6]
        assert name in cases
        clinical.append(int(diagnosis))
        crit = [c.strip() for c in criteria.split("|")]
        assert len(crit) == 6 and crit[0] in "012"
        assert crit[1] in ("A", "T", "AT") and crit[2] in ("A", "T", "AT")
        assert all(c in ("A", "P") for c in crit[3:])
        codes = [int(c) for c in colours.split()]
        assert codes and set(codes) <= set(range(1, 7))
    assert sorted(clinical) == [0] * 4 + [1] * 4 + [2] * 2
    assert synth.read_ph2_metadata(ph2 / "PH2_dataset.txt") == dict(
        zip(
            [r.split("||")[1].strip() for r in rows],
            [DIAGNOSES[str(c)] for c in clinical],
            strict=True,
        )
    )


def test_class_mix_scales_with_n():
    assert class_counts(200) == [80, 80, 40]
    assert class_counts(10) == [4, 4, 2]
    for n in (1, 3, 7, 33, 199):
        counts = class_counts(n)
        assert (
            sum(counts) == n
            and max(abs(c - n * f) for c, f in zip(counts, (0.4, 0.4, 0.2), strict=True)) < 1
        )


# ----------------------------------------------------------------------------- PH2 realism


def test_ph2_masks_binary_and_one_lesion(ph2_sample):
    from scipy import ndimage

    for image, mask, _, _ in ph2_sample:
        assert mask.dtype == bool and mask.shape == image.shape[:2]
        assert 0.02 < mask.mean() < 0.99
        assert ndimage.label(mask)[1] == 1


def test_ph2_lesion_and_skin_colours_in_documented_ranges(ph2_sample):
    from scipy import ndimage

    lesion, skin = [], []
    for image, mask, _, _ in ph2_sample:
        img = image.astype(np.float32)
        h, w = mask.shape
        yy, xx = np.ogrid[:h, :w]
        central = np.hypot((yy - h / 2) / (h / 2), (xx - w / 2) / (w / 2)) < 0.85
        ring = ndimage.binary_dilation(mask, iterations=40) & ~ndimage.binary_dilation(
            mask, iterations=10
        )
        lesion.append(img[mask].mean(0))
        if (ring & central).sum() > 500:
            skin.append(img[ring & central].mean(0))
    lesion, skin = np.median(lesion, 0), np.median(skin, 0)
    for value, (lo, hi) in zip(lesion, [(118, 214), (78, 140), (48, 109)], strict=True):
        assert lo <= value <= hi, lesion
    for value, (lo, hi) in zip(skin, [(169, 231), (130, 201), (101, 183)], strict=True):
        assert lo <= value <= hi, skin
    assert all(lesion < skin), "lesions are darker than the skin around them"


def test_ph2_vignette_darkens_corners(ph2_sample):
    corners = []
    for image, _, _, _ in ph2_sample:
        grey = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        corners.append(
            np.mean(
                [
                    grey[:16, :16].mean(),
                    grey[:16, -16:].mean(),
                    grey[-16:, :16].mean(),
                    grey[-16:, -16:].mean(),
                ]
            )
        )
    corners = np.array(corners)
    assert 20 < corners.mean() < 95  # real: about 56
    assert 0.3 <= (corners < 30).mean() <= 0.85  # real: about 60 % nearly black
    assert corners.max() > 60  # and the others merely dim


def test_ph2_area_fractions_spread_like_the_real_data(ph2_sample):
    areas = np.array([mask.mean() for _, mask, _, _ in ph2_sample])
    diagnosis = np.array([les.diagnosis for _, _, _, les in ph2_sample])
    assert areas.min() < 0.12 and areas.max() > 0.45
    assert np.median(areas[diagnosis == 2]) > 2 * np.median(areas[diagnosis == 0])


def test_area_targets_match_documented_distribution():
    rng = np.random.default_rng(0)
    areas = np.array([area_target(rng, d) for d in [0] * 800 + [1] * 800 + [2] * 400])
    assert 0.19 < np.median(areas) < 0.27  # real: median 23 %
    assert 0.28 < areas.mean() < 0.36  # real: mean 32 %
    assert areas.min() >= 0.03 and areas.max() <= 0.98
    assert 0.6 < np.median(areas[1600:]) < 0.74  # melanomas: median 67 %


def test_melanomas_often_touch_the_border():
    touching = []
    for i in range(10):
        _, mask, _, les = synth.render_ph2_case(5, i, 2)
        touching.append(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())
    assert 0.3 <= np.mean(touching) <= 0.95  # real: about half


def test_hairs_are_painted_but_not_in_the_mask():
    for i in range(40):
        image, mask, _, _ = synth.render_ph2_case(0, i, 0)
        grey = image.astype(np.float32).mean(2)
        skin = ~mask
        skin[:100] = skin[-100:] = False  # stay clear of dark corners
        skin[:, :150] = skin[:, -150:] = False
        if (grey[skin] < 0.55 * np.median(grey[skin])).sum() > 200:  # hair pixels on the skin
            return
    pytest.fail("no image with hairs over the skin outside the mask in 40 cases")


# ----------------------------------------------------------------------------- MADS


def test_mads_layout_and_df_csv(mads):
    assert mads.name == MADS_FOLDER
    inner = mads / MADS_FOLDER
    assert {p.name for p in inner.iterdir()} == {"images", "masks", "collages"}
    with open(mads / "df.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["", "images", "masks", "collages"]
    assert [int(r[0]) for r in rows[1:]] == list(range(12))
    names = sorted(p.name for p in (inner / "images").iterdir())
    assert [r[1] for r in rows[1:]] == [f"images/{n}" for n in names]
    for _index, image, mask, collage in rows[1:]:
        name = Path(image).name
        match = MADS_NAME.match(name)
        assert match and int(match.group(3)) % 10 == 0
        assert match.group(2) in synth.MADS_SEQUENCES[match.group(1)], "a real sequence name"
        assert mask == f"masks/{name}" and collage == f"collages/{name[:-4]}.jpg"
        with (
            Image.open(inner / image) as img,
            Image.open(inner / mask) as m,
            Image.open(inner / collage) as c,
        ):
            assert img.format == "PNG" and img.mode == "RGB" and img.size == (512, 384)
            assert m.format == "PNG" and m.mode == "L" and m.size == (512, 384)
            assert c.format == "JPEG" and c.size == (1024, 384)
            values = np.unique(np.asarray(m))
            assert set(values.tolist()) == {0, 255}, "binary 0/255 mask without antialiasing"
            assert 0.01 < (np.asarray(m) > 0).mean() < 0.5
    assert len({MADS_NAME.match(n).group(1) for n in names}) == 5


def test_mads_distractor_is_visible_but_not_in_the_mask():
    found = 0
    for i in range(30):
        action = synth.MADS_ACTIONS[i % 5]
        image, mask, distractor = synth.render_mads_frame(0, i, action, 1, i % 3)
        background, _ = studio_background(
            0, synth.MADS_ACTIONS.index(action) * 100 + 10 + i % 3, 512, 384
        )
        changed = np.abs(image.astype(np.int16) - background).max(2) > 25
        assert mask.any() and changed[mask].mean() > 0.3, (
            "the performer is painted where the mask is"
        )
        if distractor.any():
            found += 1
            assert not (distractor & mask).any()
            assert changed[distractor].mean() > 0.3, "the distractor is painted, outside the mask"
    assert 4 <= found <= 20  # about a third of the frames


def test_mads_poses_vary():
    masks = [
        synth.render_mads_frame(2, i, a, 1, 0)[1] for i, a in enumerate(synth.MADS_ACTIONS * 2)
    ]
    widths = [
        np.ptp(np.nonzero(m.any(0))[0]) / max(1, np.ptp(np.nonzero(m.any(1))[0])) for m in masks
    ]
    assert np.ptp(widths) > 0.4, "from upright to spread-out poses"
    centres = [np.nonzero(m.any(0))[0].mean() for m in masks]
    assert np.ptp(centres) > 100, "people stand in different places"


def test_mads_names_come_in_whole_sequences_like_the_real_archive():
    from segcourse.data.layouts import parse_mads_name

    for n, seed in ((240, 0), (12, 3), (2000, 1)):
        rows = synth.mads_names(n, seed)
        assert len(rows) == n == len({r[0] for r in rows}), "n distinct file names"
        parts = [parse_mads_name(name[:-4]) for name, *_ in rows]
        for (name, action, sequence, camera), part in zip(rows, parts, strict=True):
            assert MADS_NAME.match(name) and sequence in synth.MADS_SEQUENCES[action]
            assert (part.action, part.sequence, part.camera) == (action, sequence, f"C{camera}")
        sequences = {p.group for p in parts}
        assert {p.action for p in parts} == set(synth.MADS_ACTIONS), "every action, n >= 5"
        assert len(sequences) <= 27 and len(sequences) < n / 2, "sequences of many frames"
        for group in sequences:
            cameras = {p.camera for p in parts if p.group == group}
            assert 1 <= len(cameras) <= 3
            for camera in cameras:  # one camera's frames: evenly stepped, like sampled video
                frames = sorted(p.frame for p in parts if (p.group, p.camera) == (group, camera))
                assert len(set(np.diff(frames))) <= 1


def test_mads_frames_of_a_sequence_are_alike_and_sequences_differ():
    """What makes a split over frames leak: a frame's nearest neighbour is from its own sequence."""
    from segcourse.data.layouts import parse_mads_name

    rows = synth.mads_names(60, seed=4)
    pictures, masks, scene = [], [], []
    for name, action, sequence, camera in rows:
        image, mask, _ = synth.render_mads_frame(
            4, parse_mads_name(name[:-4]).frame, action, sequence, camera
        )
        pictures.append(image.reshape(48, 8, 64, 8, 3).mean(axis=(1, 3)).ravel())
        masks.append(mask)
        scene.append((action, sequence, camera))
    pictures = np.array(pictures)
    distance = np.abs(pictures[:, None] - pictures[None]).mean(-1)
    np.fill_diagonal(distance, np.inf)
    same = np.array([[a == b for b in scene] for a in scene])
    np.fill_diagonal(same, False)
    assert same.any(1).all(), "every sequence and camera has several frames"
    nearest = distance.argmin(1)
    assert all(same[i, j] for i, j in enumerate(nearest)), "nearest frame: same sequence"
    sequence_of = [s[:2] for s in scene]
    other = np.array([[a != b for b in sequence_of] for a in sequence_of])
    assert np.median(distance[same]) < 0.25 * np.median(distance[other])

    def iou(a, b):
        return (a & b).sum() / max(1, (a | b).sum())

    neighbours = [iou(masks[i], masks[j]) for i, j in enumerate(nearest)]
    strangers = [iou(masks[i], masks[j]) for i, j in zip(*np.nonzero(other), strict=True) if i < j]
    assert np.median(neighbours) > 0.5 > 0.2 > np.median(strangers), "small motion, other poses"


def test_sequence_number_and_pose_motion():
    assert synth.mads.sequence_number("Taichi", "S3") == synth.mads.sequence_number("Taichi", 3)
    with pytest.raises(ValueError, match="Volleyball, Badminton, Tennis"):
        synth.mads.sequence_number("Sports", "Football")
    with pytest.raises(ValueError, match="action"):
        synth.mads.sequence_number("Ballet", 1)
    poses = [synth.mads.sequence_pose(0, "Jazz", "Jazz3", f) for f in range(0, 601, 10)]
    arms = np.array([np.ravel(p.arms) for p in poses])
    steps = np.abs(np.diff(arms, axis=0)).max(1)
    assert steps.max() < 25 and np.ptp(arms, axis=0).max() > 40, "moves, a little per step"
    assert len({(p.side, p.facing) for p in poses}) == 1, "one view over the sequence"


# ----------------------------------------------------------------------------- determinism, safety, CLI


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a = synth.synth_ph2(tmp_path / "a", n=3, seed=7, progress=False)
    b = synth.synth_ph2(tmp_path / "b", n=3, seed=7, progress=False)
    c = synth.synth_ph2(tmp_path / "c", n=3, seed=8, progress=False)
    assert tree_digest(a) == tree_digest(b) != tree_digest(c)
    a = synth.synth_mads(tmp_path / "a", n=4, seed=7, progress=False)
    b = synth.synth_mads(tmp_path / "b", n=4, seed=7, progress=False)
    c = synth.synth_mads(tmp_path / "c", n=4, seed=8, progress=False)
    assert tree_digest(a) == tree_digest(b) != tree_digest(c)


def test_refuses_to_overwrite_user_files(tmp_path):
    user = tmp_path / "PH2Dataset"
    user.mkdir()
    (user / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="PH2Dataset"):
        synth.synth_ph2(tmp_path, n=1, progress=False)
    with pytest.raises(ValueError, match="not written by segcourse.synth"):
        synth.synth_ph2(tmp_path, n=1, progress=False, overwrite=True)
    assert (user / "notes.txt").read_text() == "mine"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], (
        "no staging folder left behind"
    )


def test_overwrite_replaces_an_earlier_stand_in(tmp_path):
    first = synth.synth_mads(tmp_path, n=2, seed=0, progress=False)
    with pytest.raises(ValueError, match=MADS_FOLDER):
        synth.synth_mads(tmp_path, n=3, progress=False)
    again = synth.synth_mads(tmp_path, n=3, seed=1, progress=False, overwrite=True)
    assert again == first and len(list((again / MADS_FOLDER / "images").iterdir())) == 3
    assert (again / STANDIN_MARKER_FILE).is_file()


def test_empty_destination_folder_is_fine(tmp_path):
    (tmp_path / "PH2Dataset").mkdir()
    assert synth.synth_ph2(tmp_path, n=1, progress=False) == tmp_path.resolve() / "PH2Dataset"


def test_cli_writes_and_reports_errors(tmp_path, capsys):
    from segcourse.__main__ import main

    assert main(["synth", "ph2", str(tmp_path), "--n", "2", "--seed", "4"]) == 0
    assert len(list((tmp_path / "PH2Dataset" / PH2_IMAGES).iterdir())) == 2
    assert main(["synth", "mads", str(tmp_path), "--n", "2"]) == 0
    assert (tmp_path / MADS_FOLDER / "df.csv").is_file()
    capsys.readouterr()
    assert main(["synth", "ph2", str(tmp_path), "--n", "2"]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err


def test_preview_is_a_small_png(tmp_path):
    out = synth.preview(tmp_path / "grid.png", per_row=1)
    with Image.open(out) as img:
        assert img.format == "PNG" and img.width > 200 and img.height > 600
    assert out.stat().st_size < 400_000


def test_no_deep_learning_backend_is_imported():
    code = (
        "import sys, segcourse.synth; "
        "bad = [m for m in ('keras', 'tensorflow', 'torch', 'jax') if m in sys.modules]; "
        "sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
