"""DICOM RT structure sets as TCIA ships them (``<patient>/<study>/<CT series>/*.dcm`` beside
``<study>/<RTSTRUCT series>/1-1.dcm``): the contours, given in patient millimetres, land on the voxels of the
structure they outline in the CT volume as medimg reads it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from medimg.data.dataset import Dataset
from medimg.errors import DatasetError
from tests.io.conftest import write_dicom

pytest.importorskip("pydicom")

ROWS, COLUMNS = 32, 40
ROW_SPACING, COLUMN_SPACING = 0.8, 0.6  # PixelSpacing: between rows, between columns
ORIGIN = (-10.0, -20.0, 5.0)
SLICE_GAP = 2.5
SLICES = 6


def _world(row: float, column: float, index: int) -> list[float]:
    """Patient coordinates (LPS mm) of a pixel, as the DICOM standard defines them for an axial series."""
    return [ORIGIN[0] + column * COLUMN_SPACING, ORIGIN[1] + row * ROW_SPACING, ORIGIN[2] + index * SLICE_GAP]


def _rectangle(top: int, left: int, bottom: int, right: int, index: int) -> list[float]:
    corners = [(top, left), (top, right), (bottom, right), (bottom, left)]
    return [v for row, column in corners for v in _world(row, column, index)]


def _ct_series(study: Path, patient: str, truth: np.ndarray) -> str:
    """A CT series whose voxels in ``truth`` are bright (HU 400), slices written out of order; its series UID."""
    from pydicom.uid import generate_uid

    series_uid, study_uid = generate_uid(), generate_uid()
    order = [3, 0, 5, 1, 4, 2]  # written out of order, as files come
    (study / "1.000000-CT-11111").mkdir(parents=True)
    for n, k in enumerate(order, start=1):
        pixels = np.where(truth[k], 1424, 1024).astype(np.uint16)  # stored values; HU = stored - 1024
        write_dicom(
            study / "1.000000-CT-11111" / f"1-{n:02d}.dcm",
            pixels,
            modality="CT",
            intercept=-1024.0,
            slope=1.0,
            pixel_spacing=(ROW_SPACING, COLUMN_SPACING),
            position=_world(0, 0, k),
            orientation=(1, 0, 0, 0, 1, 0),
            thickness=SLICE_GAP,
            series_uid=series_uid,
            instance=k + 1,
            extra={
                "PatientID": patient,
                "FrameOfReferenceUID": "1.2.3.4",
                "StudyInstanceUID": study_uid,
                "PatientSex": "O",
                "StudyDate": "20000101",
                "StudyTime": "120000",
                "AccessionNumber": "1",
                "ReferringPhysicianName": "",
                "StudyID": "1",
                "SeriesNumber": 1,
                "Manufacturer": "test",
            },
        )
    return series_uid


def _truth(tumour: tuple[int, int, int, int], hole: bool = False) -> np.ndarray:
    top, left, bottom, right = tumour
    truth = np.zeros((SLICES, ROWS, COLUMNS), bool)
    truth[2:4, top : bottom + 1, left : right + 1] = True
    if hole:
        truth[3, top + 2 : top + 4, left + 2 : left + 4] = False
    return truth


def _patient(
    root: Path, patient: str, tumour: tuple[int, int, int, int], hole: bool = False, flat: bool = False
) -> np.ndarray:
    """A CT series with a bright tumour (HU 400) on slices 2 and 3, and an RTSTRUCT outlining it (GTV-1) and the
    body (larger, on slices 1-4); returns the tumour's voxels as ``(slice, row, column)``. ``flat``: the structure
    set lies among the CT slices as ``RS.<uid>.dcm``, as a planning system exports it."""
    from pydicom.dataset import Dataset as DicomDataset
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    study = root / patient / "01-01-2000-NA-StudyID-1"
    top, left, bottom, right = tumour
    truth = _truth(tumour, hole)
    series_uid = _ct_series(study, patient, truth)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.481.3"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    rt = DicomDataset()
    rt.file_meta = meta
    rt.SOPClassUID, rt.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    rt.Modality, rt.PatientID = "RTSTRUCT", patient
    rt.SeriesInstanceUID = generate_uid()
    referenced_series = DicomDataset()
    referenced_series.SeriesInstanceUID = series_uid
    referenced_study = DicomDataset()
    referenced_study.RTReferencedSeriesSequence = [referenced_series]
    frame = DicomDataset()
    frame.FrameOfReferenceUID = "1.2.3.4"
    frame.RTReferencedStudySequence = [referenced_study]
    rt.ReferencedFrameOfReferenceSequence = [frame]
    outlines = {
        "GTV-1": [_rectangle(top, left, bottom, right, k) for k in (2, 3)],
        "BODY": [_rectangle(1, 1, ROWS - 2, COLUMNS - 2, k) for k in range(1, 5)],
    }
    if hole:
        outlines["GTV-1"].append(_rectangle(top + 2, left + 2, top + 3, left + 3, 3))
    rt.StructureSetROISequence, rt.ROIContourSequence = [], []
    for number, (name, contours) in enumerate(outlines.items(), start=1):
        roi = DicomDataset()
        roi.ROINumber, roi.ROIName = number, name
        rt.StructureSetROISequence.append(roi)
        item = DicomDataset()
        item.ReferencedROINumber = number
        item.ContourSequence = []
        for points in contours:
            contour = DicomDataset()
            contour.ContourGeometricType = "CLOSED_PLANAR"
            contour.NumberOfContourPoints = len(points) // 3
            contour.ContourData = points
            item.ContourSequence.append(contour)
        rt.ROIContourSequence.append(item)
    if flat:
        rt.save_as(study / "1.000000-CT-11111" / f"RS.{rt.SOPInstanceUID}.dcm", enforce_file_format=True)
        return truth
    folder = study / "3.000000-RTstructCTsim-22222"
    folder.mkdir(parents=True)
    rt.save_as(folder / "1-1.dcm", enforce_file_format=True)
    return truth


def _seg_patient(root: Path, patient: str, tumour: tuple[int, int, int, int]) -> np.ndarray:
    """The CT series of :func:`_patient` with a DICOM SEG (made by highdicom, as IDC's are) of the tumour
    (``Neoplasm``) and the body on the slices that hold them; returns the tumour's voxels."""
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes

    study = root / patient / "01-01-2000-NA-StudyID-1"
    truth = _truth(tumour)
    _ct_series(study, patient, truth)
    sources = sorted(
        (pydicom.dcmread(f) for f in (study / "1.000000-CT-11111").glob("*.dcm")),
        key=lambda ds: float(ds.ImagePositionPatient[2]),
    )
    body = np.zeros_like(truth)
    body[1:5, 1 : ROWS - 1, 1 : COLUMNS - 1] = True
    segments = np.stack([truth, body], axis=-1)  # (slices, rows, columns, segments): they overlap
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=label,
            segmented_property_category=codes.SCT.Tissue,
            segmented_property_type=codes.SCT.Tissue,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        )
        for number, label in ((1, "Neoplasm"), (2, "Body"))
    ]
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=segments,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=2,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="test",
        manufacturer_model_name="test",
        software_versions="1",
        device_serial_number="1",
    )
    folder = study / "300.000000-Segmentation-33333"
    folder.mkdir(parents=True)
    seg.save_as(folder / "1-1.dcm")
    return truth


def test_seg_objects_land_on_the_voxels_they_segment(tmp_path: Path, cache: Path) -> None:
    pytest.importorskip("highdicom")
    root = tmp_path / "idc"
    truths = {name: _seg_patient(root, name, box) for name, box in (("A", (8, 20, 15, 29)), ("B", (18, 5, 25, 12)))}
    dataset = Dataset.load(root, task="segment")
    assert len(dataset.cases) == 2 and dataset.value_names == {0: "background", 1: "Body", 2: "Neoplasm"}
    for case in dataset.cases:
        sample = dataset.read(case)
        assert sample.mask is not None
        tumour = sample.image.array[0] > 200
        assert tumour.sum() == truths[case.image.relative_to(root).parts[0]].sum()
        assert np.array_equal(sample.mask[0] == 2, tumour), case.image
        assert (sample.mask[0] == 1).sum() == 4 * (ROWS - 2) * (COLUMNS - 2) - tumour.sum()
    only = Dataset.load(root, task="segment", include="neo*")
    sample = only.read(only.cases[0])
    assert only.value_names == {0: "background", 1: "Neoplasm"} and sample.mask is not None
    assert set(np.unique(sample.mask)) == {0, 1}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MEDIMG_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_contours_land_on_the_voxels_they_outline(tmp_path: Path, cache: Path) -> None:
    root = tmp_path / "NSCLC-Radiomics"
    truths = {
        "LUNG1-001": _patient(root, "LUNG1-001", (8, 20, 15, 29)),
        "LUNG1-002": _patient(root, "LUNG1-002", (18, 5, 25, 12), hole=True),
        "LUNG1-003": _patient(root, "LUNG1-003", (4, 30, 9, 36)),
    }
    dataset = Dataset.load(root, task="segment")
    assert dataset.source == "dicom annotations" and len(dataset.cases) == 3
    assert len({c.patient_id for c in dataset.cases}) == 3
    assert dataset.value_names == {0: "background", 1: "BODY", 2: "GTV-1"}
    for case in dataset.cases:
        assert case.image.relative_to(root).parts[0] in truths and case.image.name == "1.000000-CT-11111"
        # the PatientID is kept as its keyed pseudonym, as for classification: never the real ID in reports
        assert str(case.patient_id).startswith("dicom-PatientID-") and "LUNG1" not in str(case.patient_id)
        sample = dataset.read(case)
        assert sample.mask is not None and sample.mask.shape == sample.image.array.shape
        tumour = sample.image.array[0] > 200  # the bright voxels, in the orientation medimg reads the series in
        assert tumour.sum() == truths[case.image.relative_to(root).parts[0]].sum()
        assert np.array_equal(sample.mask[0] == 2, tumour), case.image  # the GTV, its hole included
        body = sample.mask[0] == 1
        assert body.any() and not (body & tumour).any()  # the smaller structure drawn over the larger
    assert len(list(cache.rglob("*.nii.gz"))) == 3
    from medimg.io.dicom_survey import survey_dicom

    assert not survey_dicom(root).warnings  # the structure sets are no second modality beside the CT
    again = Dataset.load(root, task="segment")  # drawn once: the cache is reused
    assert [c.mask for c in again.cases] == [c.mask for c in dataset.cases]


def test_a_planning_systems_flat_export_is_read(tmp_path: Path, cache: Path) -> None:
    """Eclipse, RayStation: ``CT.*.dcm`` and ``RS.*.dcm`` in one folder per patient (it was no dataset of masks)."""
    root = tmp_path / "export"
    truths = {
        name: _patient(root, name, box, flat=True) for name, box in (("P1", (8, 20, 15, 29)), ("P2", (4, 3, 9, 9)))
    }
    dataset = Dataset.load(root, task="segment")
    assert len(dataset.cases) == 2 and dataset.value_names == {0: "background", 1: "BODY", 2: "GTV-1"}
    dataset = dataclasses.replace(dataset, canonical_orientation=False)  # the series' own (slice, row, column) grid
    for case in dataset.cases:
        assert case.image.name == "1.000000-CT-11111"
        sample = dataset.read(case)
        assert sample.mask is not None and sample.image.array.shape == (1, SLICES, ROWS, COLUMNS)
        assert np.array_equal(sample.mask[0] == 2, truths[case.image.relative_to(root).parts[0]])


def test_include_chooses_structures_and_a_missing_series_is_named(tmp_path: Path, cache: Path) -> None:
    import shutil

    root = tmp_path / "tcia"
    _patient(root, "P1", (8, 20, 15, 29))
    _patient(root, "P2", (10, 10, 14, 16))
    dataset = Dataset.load(root, task="segment", include="gtv*")
    assert dataset.value_names == {0: "background", 1: "GTV-1"}
    sample = dataset.read(dataset.cases[0])
    assert sample.mask is not None and set(np.unique(sample.mask)) == {0, 1}
    shutil.rmtree(next((root / "P2").glob("*/1.000000-CT-11111")))
    with pytest.raises(DatasetError, match=r"1-1\.dcm: annotates series .*which is not under"):
        Dataset.load(root, task="segment")


def test_predicting_a_patient_folder_leaves_its_structure_set_out(tmp_path: Path) -> None:
    from medimg.io.series_inputs import SeriesInput, expand_prediction_inputs

    _patient(tmp_path / "tcia", "P1", (8, 20, 15, 29))
    found = expand_prediction_inputs([tmp_path / "tcia" / "P1"])
    assert len(found.items) == 1 and isinstance(found.items[0], SeriesInput)  # the CT series, not the RTSTRUCT
    assert found.items[0].key.name == "1.000000-CT-11111"


def test_a_manifest_of_dicom_slices_and_masks_groups_the_slices_by_patient(tmp_path: Path) -> None:
    """CHAOS's MR slices listed with their Ground PNG masks in a CSV without a patient column: each patient's slices
    were split one by one (the headers' PatientID unread for segmentation)."""
    from PIL import Image

    from medimg.data.dataset import Dataset
    from tests.io.conftest import write_dicom

    rows = ["image,mask"]
    for p in range(12):
        folder = tmp_path / "MR" / str(p + 1) / "T2SPIR"
        (folder / "DICOM_anon").mkdir(parents=True)
        (folder / "Ground").mkdir()
        for s in range(1, 4):
            slice_file = folder / "DICOM_anon" / f"IMG-0002-0000{s}.dcm"
            extra = {"PatientID": f"CHAOS-{p}"}
            write_dicom(slice_file, np.full((16, 16), 100 + s, np.uint16), modality="MR", series_uid=f"1.2.{p}",
                        instance=s, extra=extra)  # fmt: skip
            mask = np.zeros((16, 16), np.uint8)
            mask[4:9, 4:9] = 63
            Image.fromarray(mask).save(folder / "Ground" / f"IMG-0002-0000{s}.png")
            rows.append(
                f"{slice_file.relative_to(tmp_path)},{(folder / 'Ground' / slice_file.stem).relative_to(tmp_path)}.png"
            )
    (tmp_path / "slices.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path / "slices.csv")
    assert dataset.task == "segment" and len(dataset.cases) == 36
    patients = {c.patient_id for c in dataset.cases}
    assert len(patients) == 12 and None not in patients
    assert len({c.patient_id for c in dataset.cases if c.case_id.startswith("MR/1/")}) == 1


def test_rtstruct_contours_are_drawn_where_they_lie_not_half_a_voxel_off() -> None:
    """An RTSTRUCT contour around a voxel's centre was drawn half a voxel towards the origin in rows and columns (a
    probe's structures: centroids at 22.52/8.52 against contours centred on 23/9): its points are voxel centres,
    the polygon fill counts pixel corners."""
    from medimg.data.layouts.dicom_masks import draw_structures
    from medimg.io.dicom import LPS_TO_RAS

    affine = np.diag([0.8, 0.8, 3.0, 1.0])  # voxel (slice, row, column) -> RAS mm, as the reader gives it
    affine[:3, 3] = (-20.0, 10.0, 5.0)
    angles = np.linspace(0, 2 * np.pi, 120, endpoint=False)
    centre = np.array([2.0, 11.0, 13.0])  # slice, row, column
    voxels = np.stack([np.full(120, centre[0]), centre[1] + 5 * np.sin(angles), centre[2] + 5 * np.cos(angles)], 1)
    ras = (affine @ np.c_[voxels, np.ones(120)].T).T
    lps = (LPS_TO_RAS @ ras.T).T[:, :3]
    labels, outside = draw_structures((4, 24, 28), affine, {1: [lps]})
    assert outside == 0
    rows, columns = np.nonzero(labels[2] == 1)
    assert abs(rows.mean() - 11.0) < 0.1 and abs(columns.mean() - 13.0) < 0.1


def test_a_clinical_table_of_patient_folders_reads_the_ct_not_the_structure_set(tmp_path: Path) -> None:
    """NSCLC-Radiomics: a table naming each patient folder, whose study holds the CT series and an RTSTRUCT series:
    the structure set's folder was a case of its own ("no DICOM image files in this folder"), half the cases
    unreadable."""
    root = tmp_path / "NSCLC-Radiomics"
    rows = ["PatientID,label"]
    for n in range(4):
        _patient(root, f"LUNG1-00{n}", (8, 20, 15, 29))
        rows.append(f"LUNG1-00{n},{'adenocarcinoma' if n % 2 else 'large cell'}")
    (root / "clinical.csv").write_text("\n".join(rows) + "\n")
    found = Dataset.load(root / "clinical.csv", task="classify")
    assert len(found.cases) == 4
    assert {c.path.name for c in found.cases if c.path} == {"1.000000-CT-11111"}
    assert found.class_names == ["adenocarcinoma", "large cell"]
