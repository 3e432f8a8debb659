"""The pose notebook's pieces: heatmaps, keypoint read-out, PCK and the mean-pose baseline;
pose frames from the MADS painter and their JSON joints files; the pose figures and checks."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from segcourse import checks, keypoints  # noqa: E402
from segcourse.exercises import Wrong  # noqa: E402
from segcourse.plots import poses as pose_plots  # noqa: E402
from segcourse.synth import joints  # noqa: E402

K = len(joints.JOINT_NAMES)


@pytest.fixture(scope="module")
def frames():
    return [joints.render_pose_frame(2, i, 48) for i in range(12)]


# --- heatmaps, read-out and PCK -----------------------------------------------------------


def test_a_heatmap_peaks_at_its_joint_and_the_peak_is_read_back():
    pts = np.array([[[3.0, 5.0], [10.0, 2.0]], [[0.0, 11.0], [7.0, 7.0]]])  # [x, y]
    maps = keypoints.gaussian_heatmaps(pts, height=12, width=16, sigma=1.5)
    assert maps.shape == (2, 12, 16, 2) and maps.dtype == np.float32
    assert maps[0, 5, 3, 0] == pytest.approx(1.0)  # row y=5, column x=3
    assert maps[0, 5, 3, 1] < 0.01
    assert np.array_equal(keypoints.heatmap_peaks(maps), pts)


def test_heatmap_width_follows_sigma():
    narrow, wide = (
        keypoints.gaussian_heatmaps(np.array([[8.0, 8.0]]), 17, 17, s)[0, 8, 11, 0]
        for s in (1.0, 3.0)
    )
    assert narrow < 0.02 < 0.5 < wide
    with pytest.raises(ValueError, match="sigma"):
        keypoints.gaussian_heatmaps(np.zeros((1, 2)), 8, 8, 0)


def test_pck_counts_joints_within_alpha_of_the_person_size():
    truth = np.array([[[0.0, 0.0], [0.0, 40.0], [20.0, 20.0]]])  # size: max(20, 40) = 40
    assert keypoints.reference_size(truth)[0] == 40
    near = truth + [[[3.0, 0.0], [0.0, 4.0], [0.0, 0.0]]]  # within 0.1 * 40 = 4 px
    far = truth + [[[4.5, 0.0], [0.0, 0.0], [0.0, 0.0]]]
    assert keypoints.pck(near, truth, 0.1)[0] == 1.0
    assert keypoints.pck(far, truth, 0.1)[0] == pytest.approx(2 / 3)
    assert keypoints.pck(far, truth, 0.2)[0] == 1.0
    with pytest.raises(ValueError, match="differ in shape"):
        keypoints.pck(truth[:, :2], truth)
    with pytest.raises(ValueError, match="alpha"):
        keypoints.pck(truth, truth, 0)


def test_the_mean_pose_is_predicted_for_every_frame():
    pts = np.array([[[0.0, 0.0], [2.0, 4.0]], [[2.0, 2.0], [4.0, 8.0]]])
    pose = keypoints.mean_pose(pts)
    assert pose.tolist() == [[1.0, 1.0], [3.0, 6.0]]
    assert keypoints.predict_mean_pose(pose, 3).shape == (3, 2, 2)


# --- frames and the joints files ----------------------------------------------------------


def test_a_pose_frame_is_the_same_for_its_seed_and_index(frames):
    again = joints.render_pose_frame(2, 0, 48)
    assert np.array_equal(again.image, frames[0].image)
    assert np.array_equal(again.joints, frames[0].joints)
    assert not np.array_equal(frames[0].joints, frames[1].joints)


def test_the_joints_lie_on_the_painted_person_inside_the_frame(frames):
    on_body = []
    for frame in frames:
        assert frame.image.shape == (48, 48, 3) and frame.joints.shape == (K, 2)
        assert (frame.joints >= 0).all() and (frame.joints <= 47).all()
        cols, rows = np.round(frame.joints).astype(int).T
        on_body.append(frame.mask[rows, cols])
    assert np.mean(on_body) > 0.95, "joints off the painted body: the coordinates drifted"


def test_joints_files_round_trip_and_name_every_joint(tmp_path, frames):
    path = joints.write_joints(tmp_path / "f.json", "f", frames[3])
    record, pts = joints.read_joints(path)
    assert list(record["joints"]) == list(joints.JOINT_NAMES)
    assert np.allclose(pts, frames[3].joints, atol=1e-3)
    assert all(a in joints.JOINT_NAMES and b in joints.JOINT_NAMES for a, b in record["skeleton"])
    assert (record["width"], record["height"]) == (48, 48)


def test_a_broken_joints_file_is_named_in_the_error(tmp_path, frames):
    path = joints.write_joints(tmp_path / "f.json", "f", frames[0])
    record = json.loads(path.read_text())
    del record["joints"]["left_wrist"]
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match=r"f\.json.*left_wrist"):
        joints.read_joints(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"f\.json"):
        joints.read_joints(path)


def test_a_pose_set_is_written_once_and_read_back(tmp_path):
    first = joints.pose_set(5, 32, seed=1, root=tmp_path)
    assert first.images.shape == (5, 32, 32, 3) and first.joints.shape == (5, K, 2)
    assert first.masks.dtype == bool and first.masks.any()
    stamp = (first.root / "joints" / "frame_00000.json").stat().st_mtime_ns
    again = joints.pose_set(5, 32, seed=1, root=tmp_path)
    assert (again.root / "joints" / "frame_00000.json").stat().st_mtime_ns == stamp
    assert np.array_equal(again.images, first.images)
    fresh = joints.render_pose_frame(1, 4, 32)
    assert np.allclose(first.joints[4], fresh.joints, atol=1e-3)


# --- figures and the exercise check -------------------------------------------------------


def test_pose_figures_draw_truth_and_prediction(frames):
    images = np.stack([f.image for f in frames[:3]])
    pts = np.stack([f.joints for f in frames[:3]])
    fig = pose_plots.show_poses(
        images, pts, pts + 1, joints.JOINT_NAMES, joints.SKELETON, scores=[1, 0.5, 0]
    )
    assert "PCK 0.50" in fig.axes[1].get_title()
    assert len(fig.axes[0].lines) == 2 * len(joints.SKELETON)
    maps = keypoints.gaussian_heatmaps(pts[0], 48, 48)[0]
    heat = pose_plots.show_heatmaps(images[0], maps, joints.JOINT_NAMES, "maps")
    assert heat.get_suptitle() == "maps"
    with pytest.raises(ValueError, match="2 images, 3 true poses"):
        pose_plots.show_poses(images[:2], pts, pts, joints.JOINT_NAMES, joints.SKELETON)


def test_peak_xy_check_accepts_the_answer_and_refuses_swapped_or_wrong_ones():
    checks.test_peak_xy(checks.peak_xy)
    swapped = lambda h: checks.peak_xy(h)[::-1]  # noqa: E731
    with pytest.raises(Wrong, match="swapped"):
        checks.test_peak_xy(swapped)
    with pytest.raises(Wrong):
        checks.test_peak_xy(lambda h: (int(np.argmax(h)) % 12, int(np.argmax(h)) // 12))
    with pytest.raises(Wrong):
        checks.test_peak_xy(lambda h: (5, 3))
