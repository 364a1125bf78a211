"""CBIS-DDSM as TCIA and Kaggle ship it: case tables whose paths name UID folders, mammograms under other names."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.data.dataset import Dataset, SegmentationDataset, read_case_mask
from medimg.errors import DatasetError
from tests.io.conftest import write_dicom

HEADER = ["patient_id", "breast density", "left or right breast", "image view", "abnormality id",
          "abnormality type", "mass shape", "assessment", "pathology", "subtlety", "image file path",
          "cropped image file path", "ROI mask file path"]  # fmt: skip


def _row(patient: str, case: str, abnormality: int, pathology: str) -> list[object]:
    """A table row naming its mammogram as CBIS-DDSM does: ``<case>/<StudyInstanceUID>/<SeriesInstanceUID>/...``."""
    crop = _roi(case, abnormality)
    return [patient, 3, "LEFT", "CC", abnormality, "mass", "OVAL", 4, pathology, 3, _path(case), crop,
            crop.replace("000000", "000001")]  # fmt: skip


def _roi(case: str, abnormality: int) -> str:
    """An abnormality's crop path, as the tables give it (the ROI mask: ``000001.dcm`` in the same series)."""
    n = f"{_number(case)}{abnormality}"
    return f"{case}_{abnormality}/1.3.6.1.4.1.9590.9.{n}/1.3.6.1.4.1.9590.8.{n}/000000.dcm"


def _path(case: str) -> str:
    return f"{case}/1.3.6.1.4.1.9590.1.{_number(case)}/1.3.6.1.4.1.9590.2.{_number(case)}/000000.dcm"


def _number(case: str) -> int:
    return int(case.split("_P_")[1][:5])


def _series(case: str) -> str:
    return _path(case).split("/")[2]


def _table(path: Path, rows: list[list[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)


TRAIN_ROWS = [
    _row("P_00001", "Mass-Training_P_00001_LEFT_CC", 1, "BENIGN"),
    _row("P_00001", "Mass-Training_P_00001_LEFT_CC", 2, "MALIGNANT"),  # two abnormalities: the image is malignant
    _row("P_00002", "Mass-Training_P_00002_LEFT_CC", 1, "BENIGN_WITHOUT_CALLBACK"),
    _row("P_00003", "Mass-Training_P_00003_LEFT_CC", 1, "BENIGN"),
]
TEST_ROWS = [_row("P_00004", "Mass-Test_P_00004_LEFT_CC", 1, "MALIGNANT")]
CASES = ["Mass-Training_P_00001_LEFT_CC", "Mass-Training_P_00002_LEFT_CC", "Mass-Training_P_00003_LEFT_CC",
         "Mass-Test_P_00004_LEFT_CC"]  # fmt: skip


def _dicom(path: Path, pixels: np.ndarray, series: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_dicom(path, pixels, modality="MG", series_uid=series)


def _pixels(case: str) -> np.ndarray:
    return np.full((32, 24), 100 * _number(case), dtype=np.uint16)


def _lesion(case: str, abnormality: int) -> np.ndarray:
    """An abnormality's ROI mask: a square of its own, 0/255 as CBIS-DDSM's masks are."""
    mask = np.zeros((32, 24), np.uint16)
    top = 4 + 12 * (abnormality - 1) + _number(case) % 3
    mask[top : top + 6, 5:11] = 255
    return mask


def write_cbis_ddsm(root: Path, cases: list[str] = CASES, rois: bool = True) -> Path:
    """TCIA's NBIA Data Retriever with descriptive folder names, under its ``manifest-<number>/`` folder; each
    abnormality's crop and ROI mask in one series of ``<case>_<n>/``, the mask as ``1-1.dcm`` or (abnormality 2)
    ``1-2.dcm``."""
    top = root / "manifest-1608266677008" / "CBIS-DDSM"
    for case in cases:
        folder = top / case / "07-20-2016-DDSM-74994"
        _dicom(folder / "1.000000-full mammogram images-24515" / "1-1.dcm", _pixels(case), _series(case))
        for row in [r for r in TRAIN_ROWS + TEST_ROWS if r[10] == _path(case)] if rois else []:
            abnormality = int(str(row[4]))
            series = top / f"{case}_{abnormality}" / "09-06-2017-DDSM-09887" / "1.000000-ROI mask images-82939"
            mask, crop = ("1-1.dcm", "1-2.dcm") if abnormality == 1 else ("1-2.dcm", "1-1.dcm")
            _dicom(series / mask, _lesion(case, abnormality), "1.2.9")
            _dicom(series / crop, _pixels(case)[:8, :8], "1.2.9")
    _table(root / "mass_case_description_train_set.csv", TRAIN_ROWS)
    _table(root / "mass_case_description_test_set.csv", TEST_ROWS)
    return root


def test_descriptive_download_is_one_case_per_mammogram(tmp_path: Path) -> None:
    data = Dataset.load(write_cbis_ddsm(tmp_path))
    assert data.source == "cbis-ddsm"
    assert data.class_names == ["benign", "malignant"]
    by_patient = {c.patient_id: c for c in data.cases}
    assert sorted(by_patient) == ["P_00001", "P_00002", "P_00003", "P_00004"]
    assert by_patient["P_00001"].label == 1  # any malignant abnormality makes the mammogram malignant
    assert by_patient["P_00002"].label == 0  # BENIGN_WITHOUT_CALLBACK is benign
    assert by_patient["P_00003"].label == 0
    assert {c.patient_id: c.split for c in data.cases} == {
        "P_00001": "train", "P_00002": "train", "P_00003": "train", "P_00004": "test"}  # fmt: skip
    for case in data.cases:  # each row found its own file, not another case's
        assert case.path is not None and case.path.parts[-4] == CASES[int(case.patient_id[-1]) - 1]


def test_one_table_reads_its_part(tmp_path: Path) -> None:
    write_cbis_ddsm(tmp_path)
    data = Dataset.load(tmp_path / "mass_case_description_train_set.csv")
    assert sorted((c.patient_id, c.split, c.label) for c in data.cases) == [
        ("P_00001", "train", 1), ("P_00002", "train", 0), ("P_00003", "train", 0)]  # fmt: skip


def test_classic_uid_tree_picks_the_rows_series(tmp_path: Path) -> None:
    """A case folder holding a second series (a re-export): the row's series UID chooses."""
    for case in CASES:
        _, study, series, _ = _path(case).split("/")
        _dicom(tmp_path / "CBIS-DDSM" / case / study / series / "1-1.dcm", _pixels(case), series)
    case = CASES[0]
    _dicom(tmp_path / "CBIS-DDSM" / case / "other" / "1-1.dcm", _pixels(case) + 1, "1.2.3.4")
    _table(tmp_path / "mass_case_description_train_set.csv", TRAIN_ROWS)
    data = Dataset.load(tmp_path)
    chosen = next(c for c in data.cases if c.patient_id == "P_00001")
    assert chosen.path is not None and chosen.path.parent.name == _series(case)
    assert len(data.cases) == 3


def test_kaggle_jpeg_copy(tmp_path: Path) -> None:
    """Kaggle's copy: ``csv/`` tables and ``jpeg/<SeriesInstanceUID>/<any name>.jpg``."""
    for i, case in enumerate(CASES):
        folder = tmp_path / "jpeg" / _series(case)
        folder.mkdir(parents=True)
        Image.fromarray(np.full((32, 24), 40 * i, np.uint8)).save(folder / f"1-{170 + i}.jpg")
    _table(tmp_path / "csv" / "mass_case_description_train_set.csv", TRAIN_ROWS)
    _table(tmp_path / "csv" / "mass_case_description_test_set.csv", TEST_ROWS)
    for given in (tmp_path, tmp_path / "csv"):
        data = Dataset.load(given)
        assert sorted((c.path.parent.name, c.label) for c in data.cases if c.path) == sorted(
            (_series(case), int(case in (CASES[0], CASES[3]))) for case in CASES
        )


def test_partial_download_is_left_out_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_cbis_ddsm(tmp_path, CASES[:2])
    with caplog.at_level(logging.WARNING):
        data = Dataset.load(tmp_path)
    assert len(data.cases) == 2
    assert "2 of the rows' mammograms are not on disk" in caplog.text


def test_tables_without_images_name_where_they_looked(tmp_path: Path) -> None:
    _table(tmp_path / "mass_case_description_train_set.csv", TRAIN_ROWS)
    with pytest.raises(DatasetError, match=r"none of the 4 mammograms .* NBIA Data Retriever"):
        Dataset.load(tmp_path)


def test_unknown_pathology_is_refused(tmp_path: Path) -> None:
    write_cbis_ddsm(tmp_path)
    _table(tmp_path / "mass_case_description_test_set.csv",
           [_row("P_00004", "Mass-Test_P_00004_LEFT_CC", 1, "UNCERTAIN")])  # fmt: skip
    with pytest.raises(DatasetError, match="pathology 'UNCERTAIN'"):
        Dataset.load(tmp_path)


# ----------------------------------------------------------------------------------------------- segmentation
def _label_map(data: SegmentationDataset, patient: str) -> np.ndarray:
    case = next(c for c in data.cases if c.patient_id == patient)
    mask = read_case_mask(case)
    assert mask is not None
    return np.asarray(mask)[0]


def test_roi_masks_are_the_segmentation(tmp_path: Path) -> None:
    data = Dataset.load(write_cbis_ddsm(tmp_path), task="segment")
    assert isinstance(data, SegmentationDataset) and data.source == "cbis-ddsm"
    assert data.value_names == {0: "background", 1: "mass"}
    assert len(data.cases) == 4 and {c.split for c in data.cases} == {"train", "test"}
    # two abnormalities, the mask once 1-1.dcm and once 1-2.dcm beside its crop: both squares, nothing else
    expected = ((_lesion(CASES[0], 1) > 0) | (_lesion(CASES[0], 2) > 0)).astype(np.uint8)
    np.testing.assert_array_equal(_label_map(data, "P_00001"), expected)
    np.testing.assert_array_equal(_label_map(data, "P_00004"), (_lesion(CASES[3], 1) > 0).astype(np.uint8))


def test_mammograms_without_their_masks_are_left_out(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_cbis_ddsm(tmp_path)
    for folder in (tmp_path / "manifest-1608266677008" / "CBIS-DDSM").glob(f"{CASES[0]}_2"):
        for file in folder.rglob("*.dcm"):
            file.unlink()  # the second abnormality's mask not downloaded: its lesion would be background
    with caplog.at_level(logging.WARNING):
        data = Dataset.load(tmp_path, task="segment")
    assert sorted(str(c.patient_id) for c in data.cases) == ["P_00002", "P_00003", "P_00004"]
    assert "1 mammogram(s) without all their ROI masks" in caplog.text
    write_cbis_ddsm(tmp_path / "none", rois=False)
    with pytest.raises(DatasetError, match="ROI mask images"):
        Dataset.load(tmp_path / "none", task="segment")


def test_kaggle_jpeg_masks_are_thresholded(tmp_path: Path) -> None:
    """Kaggle's JPEG masks carry compression noise around the lesion: it is not lesion."""
    case = CASES[3]
    full = tmp_path / "jpeg" / _series(case)
    full.mkdir(parents=True)
    Image.fromarray(np.full((32, 24), 90, np.uint8)).save(full / "1-1.jpg")
    roi = tmp_path / "jpeg" / _roi(case, 1).split("/")[2]
    roi.mkdir(parents=True)
    Image.fromarray(_lesion(case, 1).astype(np.uint8)).save(roi / "1-2.jpg", quality=60)
    Image.fromarray(np.full((8, 8), 90, np.uint8)).save(roi / "1-1.jpg")  # the crop
    _table(tmp_path / "csv" / "mass_case_description_test_set.csv", TEST_ROWS)
    noisy = np.asarray(Image.open(roi / "1-2.jpg"))
    assert ((noisy > 0) & (_lesion(case, 1) == 0)).any()  # the noise this test is about
    data = Dataset.load(tmp_path, task="segment")
    np.testing.assert_array_equal(_label_map(data, "P_00004"), (_lesion(case, 1) > 0).astype(np.uint8))


def test_roi_masks_give_detection_boxes(tmp_path: Path) -> None:
    data = Dataset.load(write_cbis_ddsm(tmp_path), task="detect")
    assert data.task == "detect" and data.class_names == ["mass"]
    case = next(c for c in data.cases if c.patient_id == "P_00001")
    tops = sorted(4 + 12 * (a - 1) + _number(CASES[0]) % 3 for a in (1, 2))
    assert case.boxes is not None
    assert sorted((b.x1, b.y1, b.x2, b.y2, b.label) for b in case.boxes) == [(5, t, 11, t + 6, 0) for t in tops]
