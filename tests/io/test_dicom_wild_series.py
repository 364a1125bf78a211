"""DICOM study folders as PACS exports leave them: a localizer filed in the axial series, a one-file scout series
beside it. Each series is still one volume, read as read_dicom_series reads it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from tests.io.conftest import write_dicom

from medimg.data.dataset import Dataset
from medimg.data.dicom_volumes import MIN_VOLUME_SLICES, largest_series
from medimg.errors import ImageReadError
from medimg.io.dicom import read_dicom as read_image_file
from medimg.io.dicom import read_dicom_series
from medimg.io.dicom_survey import survey_dicom
from medimg.io.series_inputs import SeriesInput, find_series

pytest.importorskip("pydicom")

AXIAL = (1, 0, 0, 0, 1, 0)
SAGITTAL = (0, 1, 0, 0, 0, -1)
N = MIN_VOLUME_SLICES + 1


def _study(folder: Path, label: str, uid: str, *, localizer: bool = False, scout: bool = False) -> None:
    """``N`` axial slices 2 mm apart; a sagittal localizer in the same series, or a one-file scout series."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(N):
        pixels = rng.integers(0, 200, (8, 8)) + (500 if label == "tumour" else 0)
        write_dicom(
            folder / f"IM{n:03d}.dcm", pixels, position=(0, 0, 2.0 * n), orientation=AXIAL, slope=1, intercept=-1024,
            series_uid=uid, instance=n + 1, extra={"PatientID": f"{label}-{folder.name}"},
        )  # fmt: skip
    if localizer or scout:
        write_dicom(
            folder / "LOC.dcm", np.zeros((8, 8)), position=(0, -50, 60), orientation=SAGITTAL, slope=1,
            intercept=-1024, series_uid=uid if localizer else uid + ".9", instance=N + 1,
            extra={"PatientID": f"{label}-{folder.name}"},
        )  # fmt: skip


def test_a_localizer_filed_in_the_series_is_no_slice_of_it(tmp_path: Path) -> None:
    """The sagittal localizer's position was projected on the axial normal: a 'gap of 46 mm, 22 slices missing', so
    `check` warned of missing slices and class-folder training left the series out (was: every slice 2D)."""
    _study(tmp_path / "p0", "normal", "1.2.826.0.9.1", localizer=True)
    found = find_series(sorted((tmp_path / "p0").iterdir()))
    series = [item for item in found if isinstance(item, SeriesInput)]
    assert len(series) == 1 and series[0].slices == N and series[0].evenly_spaced and not series[0].uneven
    assert found == series  # the localizer is no input: a 3D model could not take it (was: 'could not be used')
    survey = survey_dicom(tmp_path)
    assert not [w for w in survey.warnings if "uneven" in w], survey.warnings


def test_class_folders_with_a_localizer_or_a_scout_series_are_volumes(tmp_path: Path) -> None:
    """A study folder holding its axial series and a one-file scout series was read without its series UID: 'the
    folder holds 2 series', every such case unreadable."""
    for label in ("normal", "tumour"):
        for p in range(2):
            _study(tmp_path / label / f"p{p}", label, f"1.2.826.0.9.{len(label)}{p}", localizer=p == 0, scout=p == 1)
    dataset = Dataset.load(tmp_path)
    assert sorted(c.case_id for c in dataset.cases) == ["normal/p0", "normal/p1", "tumour/p0", "tumour/p1"]
    for case in dataset.cases:
        assert dataset.read(case).array.shape[1:] == (8, 8, N)  # RAS order; the localizer is no slice
    assert set(largest_series([tmp_path / "normal" / "p1"])) == {tmp_path / "normal" / "p1"}


def test_a_copy_of_a_slice_is_no_second_acquisition(tmp_path: Path) -> None:
    """`IM004 (1).dcm`, a second copy of one slice (same SOPInstanceUID): was refused as '2 slices share a position
    ... the series mixes several acquisitions (echoes, phases or time points)', and no volume for training."""
    _study(tmp_path / "tumour" / "p0", "tumour", "1.2.826.0.9.7")
    _study(tmp_path / "normal" / "p0", "normal", "1.2.826.0.9.8")
    for label in ("tumour", "normal"):
        folder = tmp_path / label / "p0"
        shutil.copy(folder / "IM004.dcm", folder / "IM004 (1).dcm")
    image = read_dicom_series(tmp_path / "tumour" / "p0")
    assert image.array.shape == (1, N, 8, 8) and image.spacing_mm == (2.0, 0.5, 0.75)
    found = find_series(sorted((tmp_path / "tumour" / "p0").iterdir()))
    assert len(found) == 1 and isinstance(found[0], SeriesInput) and found[0].slices == N
    assert found[0].evenly_spaced
    assert not [w for w in survey_dicom(tmp_path).warnings if "uneven" in w]
    assert sorted(c.case_id for c in Dataset.load(tmp_path).cases) == ["normal/p0", "tumour/p0"]


def test_a_seg_beside_the_slices_it_annotates_is_no_second_series(tmp_path: Path) -> None:
    """A DICOM SEG (it has Rows and Columns: its frames are masks) in the CT's folder: was 'the folder holds 2
    series', though predict and the class-folder volumes leave such annotation objects out."""
    _study(tmp_path / "ct", "normal", "1.2.826.0.9.3")
    write_dicom(
        tmp_path / "ct" / "SEG.dcm", np.ones((8, 8)), modality="SEG", series_uid="1.2.826.0.9.4",
        pixel_spacing=None, bits_stored=16,
    )  # fmt: skip
    image = read_dicom_series(tmp_path / "ct")
    assert image.array.shape == (1, N, 8, 8) and image.meta["skipped_files"] == 1
    _study(tmp_path / "other", "normal", "1.2.826.0.9.5")  # a second CT series: the refusal names each's modality
    for path in (tmp_path / "other").iterdir():
        path.rename(tmp_path / "ct" / f"B{path.name}")
    with pytest.raises(ImageReadError, match=r"1\.2\.826\.0\.9\.5 \(CT, 9 files\)"):
        read_dicom_series(tmp_path / "ct")


def test_orientation_noise_across_a_rounding_step_keeps_every_slice(tmp_path: Path) -> None:
    """Direction cosines written with float noise (0.0004999 on some slices, 0.0005001 on others) rounded apart:
    the minority slices were dropped as 'localizers' and the volume lost them."""
    folder = tmp_path / "mr"
    folder.mkdir()
    for n in range(6):
        tilt = 0.0004999 if n % 2 else 0.0005001
        write_dicom(
            folder / f"{n}.dcm", np.full((8, 8), n), modality="MR", position=(0, 0, 3.0 * n),
            orientation=(1, 0, 0, 0, 1, tilt), series_uid="1.2.826.0.9.6",
        )  # fmt: skip
    image = read_dicom_series(folder)
    assert image.array.shape == (1, 6, 8, 8) and "dropped_slices" not in image.meta
    assert find_series(sorted(folder.iterdir()))[0].slices == 6  # type: ignore[union-attr]


def test_a_three_plane_enhanced_localizer_is_read_as_frames(tmp_path: Path) -> None:
    """An enhanced MR localizer (frames axial, sagittal, coronal in one file, as Siemens XA exports it) was refused:
    '4 frames share a position ... mixes several acquisitions (echoes, phases or time points)'."""
    from pydicom.dataset import Dataset as Item
    from pydicom.sequence import Sequence

    planes = [(1, 0, 0, 0, 1, 0)] * 2 + [SAGITTAL] * 2 + [(1, 0, 0, 0, 0, -1)] * 2
    places = [(0, 0, -5), (0, 0, 5), (-5, 0, 0), (5, 0, 0), (0, -5, 0), (0, 5, 0)]
    frames = []
    for plane, place in zip(planes, places, strict=True):
        orientation, position, item = Item(), Item(), Item()
        orientation.ImageOrientationPatient = list(plane)
        position.ImagePositionPatient = list(place)
        item.PlaneOrientationSequence, item.PlanePositionSequence = Sequence([orientation]), Sequence([position])
        frames.append(item)
    path = write_dicom(
        tmp_path / "loc.dcm", np.arange(6)[:, None, None] * np.ones((6, 8, 8)), modality="MR",
        extra={"PerFrameFunctionalGroupsSequence": Sequence(frames)},
    )  # fmt: skip
    image = read_image_file(path)
    assert image.array.shape == (1, 6, 8, 8) and image.array[0, :, 0, 0].tolist() == [0, 1, 2, 3, 4, 5]
    assert image.affine is None and image.meta["frame_orientations"] == 3


def test_a_series_folder_of_one_radiograph_is_a_2d_image(tmp_path: Path) -> None:
    """SIIM-FISABIO-RSNA COVID-19: ``train/<study>/<series>/<image>.dcm``, one radiograph per series folder. Read as
    a volume of one slice (64 x 64 x 1), the run planned a 3D network and predict then refused the 2D files."""
    folder = tmp_path / "study" / "series"
    folder.mkdir(parents=True)
    pixels = np.arange(64, dtype=np.int64).reshape(8, 8)
    write_dicom(folder / "image.dcm", pixels, modality="CR", position=(0, 0, 0), orientation=AXIAL, series_uid="1.2.3")
    image = read_dicom_series(folder)
    assert image.array.shape == (1, 8, 8)
    np.testing.assert_array_equal(image.array, read_image_file(folder / "image.dcm").array)
