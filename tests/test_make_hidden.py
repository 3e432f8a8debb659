"""`grade make-hidden`: a training and a hidden set carved from one MADS archive by whole
sequences, disjoint by sequence, file name and image content, never over existing files."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from segcourse import synth
from segcourse.data import load_mads
from segcourse.data.layouts import STANDIN_MARKER_FILE, parse_mads_name
from segcourse.grader import GradingError
from segcourse.grader import cli as grade_cli
from segcourse.grader.hidden import MANIFEST, make_hidden, pick_hidden


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    """A 60-frame stand-in: a few sequences, at least one per action."""
    return synth.synth_mads(tmp_path_factory.mktemp("src"), n=60, seed=1, progress=False)


def inner(archive: Path) -> Path:
    return archive / archive.name


def files(folder: Path) -> dict[str, str]:
    """{file name: SHA-256} of a set's images."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (folder / "images").iterdir()
    }


def sequences(names) -> set[str]:
    return {parse_mads_name(Path(n).stem).group for n in names}


def test_sets_are_disjoint_by_sequence_name_and_content_and_cover_the_archive(archive, tmp_path):
    printed = []
    result = make_hidden(archive, 2, 0, tmp_path / "train", tmp_path / "hidden", out=printed.append)
    train, hidden = files(tmp_path / "train"), files(tmp_path / "hidden")
    assert not sequences(train) & sequences(hidden)
    assert not train.keys() & hidden.keys()
    assert not set(train.values()) & set(hidden.values())
    source = files(inner(archive))
    assert {**train, **hidden} == source, "every frame once, byte for byte"
    assert sequences(hidden) == set(result["hidden"]) and len(result["hidden"]) == 2
    assert sequences(train) == set(result["train"])
    for side in ("train", "hidden"):
        folder = tmp_path / side
        assert sorted(p.name for p in (folder / "masks").iterdir()) == sorted(files(folder))
        assert (folder / STANDIN_MARKER_FILE).is_file(), "a stand-in stays flagged"
        assert all(g in (folder / MANIFEST).read_text() for g in result[side])
        data = load_mads(folder, image_size=(12, 16), cache=False, progress=False)
        assert data.synthetic and set(data.sequence) == set(result[side])
    text = "\n".join(printed)
    assert all(g in text for g in result["hidden"] + result["train"])
    assert f"hidden: 2 sequences, {len(hidden)} frames -> {tmp_path / 'hidden'}" in text


def test_the_seed_decides_and_the_sequences_spread_over_actions(archive):
    groups = {f"{a}_{s}": [0] for a, names in synth.MADS_SEQUENCES.items() for s in names}
    assert pick_hidden(groups, 5, 7) == pick_hidden(groups, 5, 7)
    assert len({tuple(pick_hidden(groups, 5, seed)) for seed in range(5)}) > 1
    for seed in range(5):
        assert len({g.split("_")[0] for g in pick_hidden(groups, 5, seed)}) == 5


def test_refuses_to_overwrite_a_non_empty_folder(archive, tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "notes.txt").write_text("mine")
    with pytest.raises(GradingError, match=r"train .* is not empty; refusing to overwrite"):
        make_hidden(archive, 2, 0, tmp_path / "train", tmp_path / "hidden")
    assert (tmp_path / "train" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train"], "nothing half-written"
    (tmp_path / "hidden").mkdir()  # an empty folder is fine
    make_hidden(archive, 1, 0, tmp_path / "t2", tmp_path / "hidden", out=lambda _: None)
    with pytest.raises(GradingError, match="hidden .* is not empty"):
        make_hidden(archive, 1, 0, tmp_path / "t3", tmp_path / "hidden")


def test_refuses_overlapping_folders_and_impossible_counts(archive, tmp_path):
    with pytest.raises(GradingError, match="overlap"):
        make_hidden(archive, 1, 0, tmp_path / "sets", tmp_path / "sets" / "hidden")
    with pytest.raises(GradingError, match="overlaps the MADS archive"):
        make_hidden(archive, 1, 0, inner(archive) / "train", tmp_path / "hidden")
    total = len(sequences((inner(archive) / "images").iterdir()))
    for count in (0, total):  # the training set needs a sequence too
        with pytest.raises(GradingError, match=f"--sequences must be 1 to {total - 1}"):
            make_hidden(archive, count, 0, tmp_path / "train", tmp_path / "hidden")
    with pytest.raises(GradingError, match="no MADS archive"):
        make_hidden(tmp_path, 1, 0, tmp_path / "train", tmp_path / "hidden")


def test_a_frame_copied_into_another_sequence_is_refused(archive, tmp_path):
    """The attack: the same picture under two sequence names would put it on both sides."""
    source = tmp_path / "src" / archive.name
    shutil.copytree(archive, source)
    images = inner(source) / "images"
    groups: dict[str, list] = {}
    for p in sorted(images.iterdir()):
        groups.setdefault(parse_mads_name(p.stem).group, []).append(p)
    hidden = pick_hidden(groups, 2, 0)
    train_frame = next(p for g, ps in groups.items() if g not in hidden for p in ps)
    twin = f"{hidden[0]}_C0_99990.png"
    for sub in ("images", "masks"):
        shutil.copy(inner(source) / sub / train_frame.name, inner(source) / sub / twin)
    with pytest.raises(GradingError, match=rf"{twin} \(hidden\) has the same content as"):
        make_hidden(source, 2, 0, tmp_path / "train", tmp_path / "hidden")
    assert not (tmp_path / "train").exists() and not (tmp_path / "hidden").exists()


def test_names_without_a_sequence_are_refused(archive, tmp_path):
    source = tmp_path / "src" / archive.name
    shutil.copytree(archive, source)
    first = sorted((inner(source) / "images").iterdir())[0].name
    for sub in ("images", "masks"):
        (inner(source) / sub / first).rename(inner(source) / sub / "frame1.png")
    with pytest.raises(GradingError, match=r"without a sequence \(frame1\)"):
        make_hidden(source, 1, 0, tmp_path / "train", tmp_path / "hidden")


def test_link_mode_hard_links_and_the_cli_reports(archive, tmp_path, capsys):
    code = grade_cli.main(["make-hidden", str(archive), "--sequences", "1", "--seed", "2",
                           "--train", str(tmp_path / "train"), "--hidden",
                           str(tmp_path / "hidden"), "--link"])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "hidden: 1 sequences" in out and "hard-linked" in out
    linked = next((tmp_path / "hidden" / "images").iterdir())
    assert linked.stat().st_ino == (inner(archive) / "images" / linked.name).stat().st_ino
    code = grade_cli.main(["make-hidden", str(archive), "--sequences", "1",
                           "--train", str(tmp_path / "train"), "--hidden", str(tmp_path / "h")])  # fmt: skip
    assert code == 2 and "refusing to overwrite" in capsys.readouterr().err
