"""Class folders named for the cases that annotation files name (Cholec80's ``video01/`` beside
``phase_annotations/video01-phase.txt``) are refused, not trained as classes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.data.dataset import Dataset
from medimg.errors import DatasetError


def _png(path: Path, level: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), level, np.uint8)).save(path)


def _frames(root: Path, names: list[str]) -> None:
    for k, name in enumerate(names):
        for i in range(3):
            _png(root / "frames" / name / f"{name}_{i:06d}.png", 40 * k + i)


def test_cholec80_video_folders_are_refused_as_classes(tmp_path: Path) -> None:
    """Read as classes, the frames trained a video-ID classifier, status OK."""
    videos = [f"video{v:02d}" for v in range(1, 5)]
    _frames(tmp_path, videos)
    for video in videos:
        (tmp_path / "phase_annotations").mkdir(exist_ok=True)
        (tmp_path / "phase_annotations" / f"{video}-phase.txt").write_text("Frame\tPhase\n0\tPreparation\n")
    with pytest.raises(DatasetError, match=r"named like the cases .*phase_annotations/video01-phase.txt.* CSV"):
        Dataset.load(tmp_path)


def test_the_frames_folder_given_alone_is_refused_for_the_annotations_beside_it(tmp_path: Path) -> None:
    """CholecT50: ``videos/VID01/000000.png`` given (not the set's folder), beside ``labels/VID01.json``: a
    video-ID classifier was trained, status OK; the set's own folder was refused."""
    videos = ["VID01", "VID02", "VID04"]
    for k, video in enumerate(videos):
        for i in range(3):
            _png(tmp_path / "CholecT50" / "videos" / video / f"{i:06d}.png", 40 * k + i)
        (tmp_path / "CholecT50" / "labels").mkdir(parents=True, exist_ok=True)
        (tmp_path / "CholecT50" / "labels" / f"{video}.json").write_text('{"annotations": {}}')
    with pytest.raises(DatasetError, match=r"named like the cases .*\(e\.g\. labels/VID01\.json\)"):
        Dataset.load(tmp_path / "CholecT50" / "videos")
    (tmp_path / "CholecT50" / "labels").rename(tmp_path / "CholecT50" / "notes")  # not named for annotations
    assert Dataset.load(tmp_path / "CholecT50" / "videos").class_names == videos


def test_classes_with_a_table_of_one_of_them_or_none_are_classes(tmp_path: Path) -> None:
    grades = ["grade1", "grade2", "grade3"]
    _frames(tmp_path, grades)
    (tmp_path / "grade1_notes.txt").write_text("reviewed\n")  # one of three: no cases
    (tmp_path / "labels.csv").write_text("grade,meaning\ngrade1,low\n")  # a table naming them inside
    assert Dataset.load(tmp_path).class_names == grades


def test_case_folders_holding_masks_are_told_how_to_segment(tmp_path: Path) -> None:
    """HaN-Seg: ``case_01/case_01_IMG_CT.nrrd`` beside one ``case_01_OAR_<organ>.seg.nrrd`` per organ and
    ``case_01_OAR_desc.json``: the refusal asked for a CSV manifest of labels, a classification fix."""
    sitk = pytest.importorskip("SimpleITK")
    for case in ("case_01", "case_02", "case_03"):
        (tmp_path / case).mkdir()
        for name, dtype in (
            ("IMG_CT.nrrd", np.int16),
            ("OAR_Brainstem.seg.nrrd", np.uint8),
            ("OAR_Lip.seg.nrrd", np.uint8),
        ):
            sitk.WriteImage(sitk.GetImageFromArray(np.zeros((4, 6, 6), dtype)), str(tmp_path / case / f"{case}_{name}"))
        (tmp_path / case / f"{case}_OAR_desc.json").write_text("{}")
    with pytest.raises(DatasetError, match=r"they hold masks \(e.g. case_01_OAR_Brainstem.seg.nrrd\).*--task segment"):
        Dataset.load(tmp_path)
