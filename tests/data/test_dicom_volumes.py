"""DICOM series in class folders (``<class>/<patient>/<series>/<slices>.dcm``) are classified as volumes, one case
per series, read as prediction reads them; slices picked from series stay 2D images."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.data.dataset import Dataset
from medimg.data.dicom_volumes import MIN_VOLUME_SLICES
from medimg.errors import DatasetError
from medimg.io.orientation import canonical
from medimg.io.series_inputs import expand_prediction_inputs, read_series
from tests.io.conftest import write_dicom

pytest.importorskip("pydicom")


def _write_series(
    folder: Path,
    label: str,
    patient: str,
    positions: list[float],
    *,
    modality: str = "MR",
    name: str = "Image",
    description: str = "",
) -> None:
    rng = np.random.default_rng(len(positions))
    uid = f"1.2.826.0.9.{abs(hash((str(folder), label, name))) % 10**8}"
    folder.mkdir(parents=True, exist_ok=True)
    for n, z in enumerate(positions, start=1):
        pixels = rng.integers(0, 2000, (16, 16)) + (1000 if label == "tumour" else 0)
        write_dicom(
            folder / f"{name}-{n}.dcm",
            pixels,
            modality=modality,
            position=(0.0, 0.0, z),
            orientation=(1, 0, 0, 0, 1, 0),
            thickness=2.0,
            series_uid=uid,
            instance=n,
            extra={"PatientID": patient, **({"SeriesDescription": description} if description else {})},
        )


def _volumes(root: Path, patients: int, sequences: tuple[str, ...] = ("FLAIR", "T1w")) -> None:
    for label in ("normal", "tumour"):
        for p in range(patients):
            for sequence in sequences:
                positions = [2.0 * z for z in range(MIN_VOLUME_SLICES + 2)]
                _write_series(root / label / f"{label}{p:03d}" / sequence, label, f"{label}-{p}", positions)


def test_series_folders_in_class_folders_are_volumes_with_their_patients(tmp_path: Path) -> None:
    _volumes(tmp_path, patients=6)
    dataset = Dataset.load(tmp_path)
    assert len(dataset.cases) == 2 * 6 * 2  # one case per series, not one per slice
    by_id = {c.case_id: c for c in dataset.cases}
    case = by_id["tumour/tumour003/FLAIR"]
    assert case.path == tmp_path / "tumour" / "tumour003" / "FLAIR"
    assert dataset.class_names[case.label] == "tumour"
    assert dataset.class_names[by_id["normal/normal001/T1w"].label] == "normal"
    image = dataset.read(case)  # in RAS order: (columns, rows, slices) of these axial slices
    assert image.array.shape == (1, 16, 16, MIN_VOLUME_SLICES + 2)
    # a patient's two series share the patient read from their headers, and patients differ
    assert by_id["tumour/tumour003/FLAIR"].patient_id == by_id["tumour/tumour003/T1w"].patient_id
    assert by_id["tumour/tumour003/FLAIR"].patient_id != by_id["tumour/tumour004/FLAIR"].patient_id


def test_a_series_case_is_read_as_prediction_reads_it(tmp_path: Path) -> None:
    """An MR series is mapped to its display range on read: training read the raw scanner values while prediction
    mapped them, so every prediction of a series-trained model saw other intensities than training did."""
    _volumes(tmp_path, patients=1, sequences=("FLAIR",))
    dataset = Dataset.load(tmp_path)
    case = next(c for c in dataset.cases if c.case_id == "tumour/tumour000/FLAIR")
    trained_on = dataset.read(case).array
    series = expand_prediction_inputs([case.path]).series[0]
    predicted_on = canonical(read_series(series))[0].array  # a classifier's inputs: RAS order, as for training
    assert trained_on.max() <= 255.0  # display range, not the raw 1000..3000
    np.testing.assert_array_equal(trained_on, predicted_on)


def test_slices_picked_from_series_stay_2d_images(tmp_path: Path) -> None:
    """Slices with gaps between them (a selection, each with its own label) are not a volume."""
    for label in ("normal", "tumour"):
        for p in range(3):
            positions = [0.0, 2.0, 10.0, 12.0, 30.0, 32.0, 34.0, 60.0, 80.0]
            _write_series(tmp_path / label / f"{label}{p}", label, f"{label}-{p}", positions)
    dataset = Dataset.load(tmp_path)
    assert len(dataset.cases) == 2 * 3 * 9
    assert all(c.path is not None and c.path.is_file() for c in dataset.cases)


def test_short_series_and_loose_slices_beside_volumes_are_left_out_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _volumes(tmp_path, patients=3, sequences=("FLAIR",))
    _write_series(tmp_path / "normal" / "scout", "normal", "normal-9", [0.0, 2.0, 4.0])  # too few slices
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "tumour" / "tumour001" / "FLAIR" / "preview.png")
    with caplog.at_level(logging.INFO, logger="medimg"):
        dataset = Dataset.load(tmp_path)
    assert sorted(c.case_id for c in dataset.cases) == sorted(
        f"{label}/{label}{p:03d}/FLAIR" for label in ("normal", "tumour") for p in range(3)
    )
    assert "6 DICOM series read as 3D volumes" in caplog.text
    assert "left out 4 file(s)" in caplog.text and "normal/scout/Image-1.dcm" in caplog.text


def test_series_lying_loose_in_the_class_folder_stay_slices(tmp_path: Path) -> None:
    """The class folder itself is never a case: a series written straight into it stays a set of 2D images."""
    for label in ("normal", "tumour"):
        _write_series(tmp_path / label, label, f"{label}-0", [2.0 * z for z in range(MIN_VOLUME_SLICES + 2)])
    dataset = Dataset.load(tmp_path)
    assert len(dataset.cases) == 2 * (MIN_VOLUME_SLICES + 2)


def test_a_label_table_naming_study_folders_by_uid_reads_each_study_as_a_volume(tmp_path: Path) -> None:
    """Kaggle RSNA's layout: ``train.csv`` (``StudyInstanceUID,label``) beside ``train_images/<uid>/<n>.dcm``: the
    rows name folders, not files; read as class folders, each study would have been a class of its own."""
    rows = ["StudyInstanceUID,label"]
    for p in range(8):
        uid = f"1.2.826.0.1.3680043.{p}"
        label = "tumour" if p % 2 else "normal"
        _write_series(tmp_path / "train_images" / uid, label, f"p{p}", [1.0 * z for z in range(MIN_VOLUME_SLICES)])
        rows.append(f"{uid},{p % 2}")
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path)
    assert dataset.class_names == ["0", "1"]
    assert len(dataset.cases) == 8
    case = dataset.cases[3]
    assert case.path == tmp_path / "train_images" / "1.2.826.0.1.3680043.3" and dataset.class_names[case.label] == "1"
    assert dataset.read(case).array.shape == (1, 16, 16, MIN_VOLUME_SLICES)


def test_a_study_folder_of_several_series_gives_its_largest_whole_series(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A PACS export writes a study's series into one folder (axial, coronal reformat, scout): one case per folder,
    the largest whole series, read by its SeriesInstanceUID; the rest left out."""
    axial = MIN_VOLUME_SLICES + 4
    for label in ("normal", "tumour"):
        for p in range(3):
            folder = tmp_path / label / f"{label}{p}"
            _write_series(folder, label, f"{label}-{p}", [2.0 * z for z in range(axial)], name="axial")
            _write_series(folder, label, f"{label}-{p}", [1.0 * z for z in range(MIN_VOLUME_SLICES)], name="coronal")
            _write_series(folder, label, f"{label}-{p}", [0.0, 5.0], name="scout")
    with caplog.at_level(logging.INFO, logger="medimg"):
        dataset = Dataset.load(tmp_path)
    assert sorted(c.case_id for c in dataset.cases) == sorted(
        f"{label}/{label}{p}" for label in ("normal", "tumour") for p in range(3)
    )
    case = dataset.cases[0]
    assert case.series_uid and dataset.read(case).array.shape == (1, 16, 16, axial)
    assert "6 folder(s) hold several whole series; each gives its largest" in caplog.text


def test_a_multi_echo_folder_of_equal_series_gives_one_volume(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Three echoes' series of 10 slices at the same positions in each patient folder: a third of the slices were in
    the one series read, so "the rest do not" form whole series, and every echo of every slice was a 2D image of the
    patient's class. One volume per folder, the others named."""
    for label in ("normal", "tumour"):
        for p in range(3):
            folder = tmp_path / label / f"ME{label}{p}"
            for echo in (1, 2, 3):  # files named so that another echo comes first in each patient's folder
                positions = [2.0 * z for z in range(MIN_VOLUME_SLICES + 2)]
                name = f"{'abc'[(echo + p) % 3]}{echo}"
                _write_series(folder, label, f"{label}-{p}", positions, name=name, description=f"gre_me_e{echo}")
    with caplog.at_level(logging.INFO, logger="medimg"):
        dataset = Dataset.load(tmp_path)
    assert sorted(c.case_id for c in dataset.cases) == sorted(
        f"{label}/ME{label}{p}" for label in ("normal", "tumour") for p in range(3)
    )
    assert "6 folder(s) hold several whole series; each gives its largest" in caplog.text
    import pydicom

    chosen = set()  # the same echo in every case (it was the first met: echo 1 of one patient, echo 3 of another)
    for case in dataset.cases:
        assert case.path is not None and case.series_uid
        headers = [pydicom.dcmread(f, stop_before_pixels=True) for f in sorted(case.path.glob("*.dcm"))]
        chosen |= {str(h.SeriesDescription) for h in headers if h.SeriesInstanceUID == case.series_uid}
    assert chosen == {"gre_me_e1"}


def test_a_label_table_row_naming_a_study_folder_of_several_series_reads_its_largest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A row naming a PACS export's study folder (axial + coronal reformat + scout in one folder) is its largest
    series, as in class folders; it was refused when read ("the folder holds 3 series")."""
    axial = MIN_VOLUME_SLICES + 4
    rows = ["study_folder,label"]
    for p in range(4):
        label = "tumour" if p % 2 else "normal"
        folder = tmp_path / "studies" / f"S{p}"
        _write_series(folder, label, f"p{p}", [2.0 * z for z in range(axial)], name="axial")
        _write_series(folder, label, f"p{p}", [1.0 * z for z in range(MIN_VOLUME_SLICES)], name="coronal")
        _write_series(folder, label, f"p{p}", [0.0, 5.0], name="scout")
        rows.append(f"studies/S{p},{label}")
    _write_series(tmp_path / "studies" / "single", "normal", "p9", [1.0 * z for z in range(MIN_VOLUME_SLICES)])
    rows.append("studies/single,normal")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    with caplog.at_level(logging.INFO, logger="medimg"):
        dataset = Dataset.load(tmp_path / "labels.csv")
    assert "4 row(s) name a folder of several DICOM series; each is read as its largest" in caplog.text
    by_id = {c.case_id: c for c in dataset.cases}
    assert by_id["studies/S1"].series_uid and by_id["studies/single"].series_uid is None  # one series: no choice
    assert dataset.read(by_id["studies/S1"]).array.shape == (1, 16, 16, axial)
    assert dataset.read(by_id["studies/single"]).array.shape == (1, 16, 16, MIN_VOLUME_SLICES)


def test_study_folders_of_one_dicom_patient_are_one_patient(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """SIIM-FISABIO-RSNA: ``train_study_level.csv`` rows name ``train/<study>/``, each holding a series folder;
    each study was its own patient, and studies of one PatientID landed in train and test. Their folders are one
    patient now; a PatientID de-identified to one constant joins nothing."""
    for constant in (False, True):
        root = tmp_path / ("constant" if constant else "shared")
        rows = ["id,Negative for Pneumonia,Typical Appearance"]
        for s in range(8):
            label = "tumour" if s % 2 else "normal"
            patient = "anon" if constant else f"P{s // 2}"
            _write_series(
                root / "train" / f"study{s}" / "series1", label, patient, [1.0 * z for z in range(MIN_VOLUME_SLICES)]
            )
            rows.append(f"study{s},{1 - s % 2},{s % 2}")
        (root / "train_study_level.csv").write_text("\n".join(rows) + "\n")
    with caplog.at_level(logging.INFO, logger="medimg"):
        shared = Dataset.load(tmp_path / "shared" / "train_study_level.csv")
    patients = {c.case_id.split("/")[0]: c.patient_id for c in shared.cases}
    assert len(patients) == 8 and patients["study0"] == patients["study1"] != patients["study2"]
    assert "8 folders hold 4 patients by their DICOM PatientID" in caplog.text
    constant = Dataset.load(tmp_path / "constant" / "train_study_level.csv")
    assert len({c.patient_id for c in constant.cases}) == 8


def test_a_label_table_naming_patient_folders_of_sequence_folders(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """RSNA-MICCAI's layout: ``train_labels.csv`` (``BraTS21ID,MGMT_value``: neither named as a path or label column,
    the ids without their zeros) beside ``train/00000/{FLAIR,T1w}/Image-N.dcm``: each sequence is a case with the
    patient's label, the patient's sequences never split apart. It was refused: no path column, then "a folder
    without DICOM slices"."""
    rows = ["BraTS21ID,MGMT_value"]
    for p in range(6):
        label = "1" if p % 2 else "0"
        for sequence in ("FLAIR", "T1w"):
            folder = tmp_path / "train" / f"{p:05d}" / sequence
            _write_series(folder, label, f"p{p}", [1.0 * z for z in range(MIN_VOLUME_SLICES)], name=sequence)
        rows.append(f"{p},{label}")
    (tmp_path / "train_labels.csv").write_text("\n".join(rows) + "\n")
    with caplog.at_level(logging.INFO, logger="medimg"):
        dataset = Dataset.load(tmp_path / "train_labels.csv")
    assert "'BraTS21ID' names the files" in caplog.text and "other column, 'MGMT_value', gives them" in caplog.text
    assert "6 row(s) name a folder of DICOM series folders" in caplog.text
    assert dataset.class_names == ["0", "1"]
    by_id = {c.case_id: c for c in dataset.cases}
    assert sorted(by_id) == sorted(f"{p}/{s}" for p in range(6) for s in ("FLAIR", "T1w"))
    flair, t1 = by_id["3/FLAIR"], by_id["3/T1w"]
    assert flair.path == tmp_path / "train" / "00003" / "FLAIR" and dataset.class_names[flair.label] == "1"
    assert flair.patient_id == t1.patient_id == "3"
    assert dataset.read(t1).array.shape == (1, 16, 16, MIN_VOLUME_SLICES)


def test_a_table_whose_only_other_column_is_unique_per_row_is_not_taken_for_labels(tmp_path: Path) -> None:
    """``file,notes`` with a different note on every row: not labels, so the missing label column is still an
    error naming the columns found."""
    for i in range(4):
        Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(tmp_path / f"{i}.png")
    (tmp_path / "t.csv").write_text("file,notes\n" + "".join(f"{i}.png,note {i}\n" for i in range(4)))
    with pytest.raises(DatasetError, match=r"no 'label' column \(found: file, notes\)"):
        Dataset.load(tmp_path / "t.csv")


def test_a_series_with_a_missing_slice_left_out_of_the_volumes_is_named_with_its_gap(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _volumes(tmp_path, patients=3, sequences=("FLAIR",))
    positions = [2.0 * z for z in range(MIN_VOLUME_SLICES + 2) if z != 4]  # the slice at 8 mm is missing
    _write_series(tmp_path / "normal" / "normal009" / "FLAIR", "normal", "normal-9", positions)
    with caplog.at_level(logging.WARNING, logger="medimg"):
        Dataset.load(tmp_path)
    assert "left out 1 series whose slices are unevenly spaced, e.g. normal/normal009/FLAIR" in caplog.text
    assert "a gap of 4 mm between slices 4 and 5 (at 6 and 10 mm)" in caplog.text


def test_rsna_pe_rows_per_slice_label_each_series_once_by_its_exam_findings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The RSNA Pulmonary Embolism set's ``train.csv``: a row per slice (``StudyInstanceUID,SeriesInstanceUID,
    SOPInstanceUID,pe_present_on_image,negative_exam_for_pe,central_pe``) naming ``train/<study>/<series>/``. Each
    distinct row was a case of the whole series (up to 11 of one series, labelled against each other, in test)."""
    rows = ["StudyInstanceUID,SeriesInstanceUID,SOPInstanceUID,pe_present_on_image,negative_exam_for_pe,central_pe"]
    for s in range(4):
        study, series = f"1.2.826.0.1.{s}", f"1.2.826.0.2.{s}"
        pe = s % 2 == 1
        folder = tmp_path / "train" / study / series
        _write_series(folder, "pe" if pe else "none", f"p{s}", [1.0 * z for z in range(MIN_VOLUME_SLICES)])
        for n in range(MIN_VOLUME_SLICES):
            on_image = int(pe and n in (2, 3))
            rows.append(f"{study},{series},1.2.826.0.3.{s}.{n},{on_image},{int(not pe)},{int(pe)}")
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    with caplog.at_level(logging.WARNING, logger="medimg"):
        dataset = Dataset.load(tmp_path / "train.csv")
    assert "the findings pe_present_on_image differ among the rows of one" in caplog.text
    assert dataset.multi_label and sorted(dataset.class_names) == ["central_pe", "negative_exam_for_pe"]
    assert len(dataset.cases) == 4  # one case per series
    read = {Path(c.case_id).name: {dataset.class_names[i] for i in c.findings or ()} for c in dataset.cases}
    assert read == {f"1.2.826.0.2.{s}": {"central_pe"} if s % 2 else {"negative_exam_for_pe"} for s in range(4)}


def test_masks_named_as_series_folders_pair_with_those_series(tmp_path: Path) -> None:
    """RSNA 2022 cervical spine: ``train_images/<StudyInstanceUID>/1.dcm...`` and ``segmentations/<UID>.nii`` for
    some studies. ``--task segment`` was refused: "no image has a mask with a matching name (e.g. mask
    1.2.826.0.1.3680043.10000.nii vs image 1.dcm)"."""
    import nibabel as nib

    from medimg.data.dataset import SegmentationDataset

    uids = [f"1.2.826.0.1.3680043.{10000 + k}" for k in range(4)]
    for k, uid in enumerate(uids):
        _write_series(tmp_path / "train_images" / uid, "normal", f"p{k}", [2.0 * z for z in range(6)], modality="CT")
        if k < 3:
            (tmp_path / "segmentations").mkdir(exist_ok=True)
            mask = np.zeros((16, 16, 6), np.uint8)
            mask[4:10, 4:10, 1:4] = 1 + k % 2
            nib.save(nib.Nifti1Image(mask, np.eye(4)), tmp_path / "segmentations" / f"{uid}.nii")
    dataset = SegmentationDataset.load(tmp_path)
    pairs = {c.image.name: c.mask.name for c in dataset.cases if c.mask is not None}
    assert pairs == {uid: f"{uid}.nii" for uid in uids[:3]}
    assert all(c.image.is_dir() for c in dataset.cases)
    assert dataset.unlabelled == [f"train_images/{uids[3]}"]  # the series, not its 6 slices


def test_numbered_masks_pair_with_the_series_of_their_numbered_patient_folder(tmp_path: Path) -> None:
    """NIH Pancreas-CT (TCIA): ``Pancreas-CT/PANCREAS_0001/<study>/<series>/1-001.dcm...`` beside
    ``TCIA_pancreas_labels-02-05-2017/label0001.nii.gz``: read as two classes (the data's two folders); with
    ``--task segment``, "found 300 images but no masks"."""
    import nibabel as nib

    from medimg.data.dataset import SegmentationDataset

    labels = tmp_path / "TCIA_pancreas_labels-02-05-2017"
    labels.mkdir()
    for k in range(1, 4):
        series = tmp_path / "Pancreas-CT" / f"PANCREAS_{k:04d}" / f"11-24-2015-PANCREAS{k:04d}-Pancreas-5219{k}"
        _write_series(series / f"Pancreas-5637{k}", "normal", f"PANCREAS_{k:04d}", [2.0 * z for z in range(6)])
        mask = np.zeros((16, 16, 6), np.uint8)
        mask[4:10, 4:10, 1:4] = 1
        nib.save(nib.Nifti1Image(mask, np.eye(4)), labels / f"label{k:04d}.nii.gz")
    dataset = SegmentationDataset.load(tmp_path)
    assert dataset.task == "segment"
    pairs = {c.mask.name: c.image.relative_to(tmp_path).parts[1] for c in dataset.cases if c.mask is not None}
    assert pairs == {f"label{k:04d}.nii.gz": f"PANCREAS_{k:04d}" for k in range(1, 4)}
    assert Dataset.load(tmp_path).task == "segment"
