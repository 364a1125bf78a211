"""BIDS scans with their lesion masks: ISLES 2022's ``rawdata/`` + ``derivatives/``, ATLAS's masks beside the scans."""

from __future__ import annotations

import logging
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from medimg.data.dataset import Dataset, SegmentationDataset
from medimg.errors import DatasetError


def _nifti(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(array, np.diag([2.0, 2.0, 2.0, 1.0])), str(path))


def write_isles(root: Path, subjects: int = 4, *, adc: bool = True) -> Path:
    """ISLES 2022 as unpacked: DWI and ADC on the mask's grid, FLAIR on another, the mask in ``derivatives/``."""
    rng = np.random.default_rng(0)
    (root / "dataset_description.json").parent.mkdir(parents=True, exist_ok=True)
    (root / "dataset_description.json").write_text('{"Name": "ISLES 2022", "BIDSVersion": "1.6.0"}')
    for s in range(1, subjects + 1):
        name = f"sub-strokecase{s:04d}_ses-0001"
        session = root / "rawdata" / f"sub-strokecase{s:04d}" / "ses-0001"
        lesion = np.zeros((12, 10, 6), np.uint8)
        lesion[2 + s : 6 + s, 3:7, 2:4] = 1
        dwi = rng.normal(100, 5, lesion.shape).astype(np.float32) + 200 * lesion
        _nifti(session / "dwi" / f"{name}_dwi.nii.gz", dwi)
        if adc or s > 1:
            _nifti(session / "dwi" / f"{name}_adc.nii.gz", 1000 - 3 * dwi)
        _nifti(session / "anat" / f"{name}_FLAIR.nii.gz", rng.normal(50, 5, (24, 20, 12)).astype(np.float32))
        (session / "dwi" / f"{name}_dwi.json").write_text("{}")
        _nifti(root / "derivatives" / f"sub-strokecase{s:04d}" / "ses-0001" / f"{name}_msk.nii.gz", lesion)
    return root


def test_isles_masks_pair_with_the_scans_on_their_grid_as_channels(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Read as class folders, ``rawdata`` and ``derivatives`` were two classes, the masks left out of the second:
    a one-class model scored accuracy 1.0."""
    with caplog.at_level(logging.INFO):
        data = Dataset.load(write_isles(tmp_path / "ISLES-2022"))
    assert isinstance(data, SegmentationDataset) and data.source == "bids" and len(data.cases) == 4
    assert "each on its subject's adc + dwi scan" in caplog.text and "flair on another grid left out" in caplog.text
    for case in data.cases:
        assert case.image.name.endswith("_adc.nii.gz") and [c.name[-10:] for c in case.channels] == ["dwi.nii.gz"]
        assert case.mask is not None and case.mask.name.startswith(case.image.name[:28])
        assert case.patient_id == case.image.name.split("_")[0]
        sample = data.read(case)
        assert sample.image.array.shape[0] == 2 and sample.mask is not None
        lesion = sample.mask[0] > 0
        assert sample.image.array[1][lesion].mean() > sample.image.array[1][~lesion].mean() + 100  # DWI bright


def test_a_kind_of_scan_some_cases_lack_is_left_out_and_masks_beside_their_scans_pair(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        data = Dataset.load(write_isles(tmp_path / "isles", adc=False))
    assert all(c.image.name.endswith("_dwi.nii.gz") and not c.channels for c in data.cases)
    assert "adc left out (not in every case)" in caplog.text
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("the adc scan is left out of every case because 1 subject(s) lack it" in m for m in warned)
    # ATLAS 2.0: the mask beside its T1w, no derivatives folder
    for s in range(1, 4):
        anat = tmp_path / "ATLAS_2" / f"sub-r001s00{s}" / "ses-1" / "anat"
        lesion = np.zeros((8, 8, 4), np.uint8)
        lesion[2:5, 2:5, 1:3] = 1
        _nifti(anat / f"sub-r001s00{s}_ses-1_space-MNI152NLin2009aSym_T1w.nii.gz", 50 + 100 * lesion.astype(np.float32))
        _nifti(anat / f"sub-r001s00{s}_ses-1_space-MNI152NLin2009aSym_label-L_desc-T1lesion_mask.nii.gz", lesion)
    atlas = Dataset.load(tmp_path / "ATLAS_2")
    assert isinstance(atlas, SegmentationDataset) and len(atlas.cases) == 3
    assert all(c.image.name.endswith("_T1w.nii.gz") and c.mask is not None for c in atlas.cases)


def test_atlas_subjects_in_split_and_site_folders_pair_with_their_masks(tmp_path: Path) -> None:
    """ATLAS 2.0 as released: ``Training/R001/sub-r001s001/ses-1/anat/`` (a site folder in a split folder), the test
    scans in ``Testing/R001/...`` without masks. The sites were trained as classes (R001 vs R002, status OK), and
    ``--task segment`` paired masks with other subjects' scans."""
    for split, site, subject in [("Training", f"R00{1 + k % 2}", k) for k in range(4)] + [("Testing", "R001", 9)]:
        anat = tmp_path / "ATLAS_2" / split / site / f"sub-{site.lower()}s00{subject}" / "ses-1" / "anat"
        lesion = np.zeros((8, 8, 4), np.uint8)
        lesion[2:5, 2:5, 1:3] = 1
        name = f"sub-{site.lower()}s00{subject}_ses-1_space-MNI152NLin2009aSym"
        _nifti(anat / f"{name}_T1w.nii.gz", 50 + 100 * lesion.astype(np.float32))
        if split == "Training":
            _nifti(anat / f"{name}_label-L_desc-T1lesion_mask.nii.gz", lesion)
    atlas = Dataset.load(tmp_path / "ATLAS_2")
    assert isinstance(atlas, SegmentationDataset) and len(atlas.cases) == 4
    assert all(c.mask.name.startswith(c.image.name.removesuffix("_T1w.nii.gz")) for c in atlas.cases if c.mask)


def test_masks_without_a_scan_on_their_grid_are_named(tmp_path: Path) -> None:
    root = write_isles(tmp_path / "isles", subjects=2)
    for scan in (root / "rawdata").rglob("*_dwi.nii.gz"):
        scan.unlink()
    for scan in (root / "rawdata").rglob("*_adc.nii.gz"):
        scan.unlink()
    with pytest.raises(DatasetError, match=r"none of its 2 BIDS mask\(s\) has a scan of its subject on its grid"):
        Dataset.load(root)


def test_cases_without_a_kind_of_scan_in_common_are_named(tmp_path: Path) -> None:
    """Subject 1 has DWI alone, subject 2 ADC alone: no channel every case has (it stopped with an IndexError)."""
    root = write_isles(tmp_path / "isles", subjects=2, adc=False)
    next((root / "rawdata" / "sub-strokecase0002").rglob("*_dwi.nii.gz")).unlink()
    with pytest.raises(DatasetError, match=r"no kind of scan is on the grid of every BIDS mask \(.*_msk.nii.gz: dwi"):
        Dataset.load(root)


def test_a_pipelines_brain_masks_and_probability_maps_are_no_lesions_or_channels(tmp_path: Path) -> None:
    """fMRIPrep's ``derivatives/fmriprep/sub-01/anat/sub-01_desc-brain_mask.nii.gz`` beside ``_desc-preproc_T1w`` and
    ``_label-GM_probseg``: the brain masks were segmented, the GM probability map an input channel (the answer
    given away), status OK, Dice 0.78. A probability map beside ISLES' scans is no channel either."""
    rng = np.random.default_rng(1)
    root = tmp_path / "ds000999"
    (root / "participants.tsv").parent.mkdir(parents=True)
    (root / "participants.tsv").write_text(
        "participant_id\tgroup\n" + "".join(f"sub-0{s}\tpatient\n" for s in range(1, 7))
    )
    for s in range(1, 7):
        volume = rng.normal(100, 5, (10, 10, 6)).astype(np.float32)
        _nifti(root / f"sub-0{s}" / "ses-pre" / "anat" / f"sub-0{s}_ses-pre_T1w.nii.gz", volume)
        anat = root / "derivatives" / "fmriprep" / f"sub-0{s}" / "anat"
        _nifti(anat / f"sub-0{s}_desc-preproc_T1w.nii.gz", volume)
        _nifti(anat / f"sub-0{s}_desc-brain_mask.nii.gz", (volume > 100).astype(np.uint8))
        _nifti(anat / f"sub-0{s}_label-GM_probseg.nii.gz", (volume > 100).astype(np.float32))
    with pytest.raises(DatasetError, match=r"participants\.tsv"):
        Dataset.load(root)
    isles = write_isles(tmp_path / "ISLES-2022")
    for s in range(1, 5):
        name = f"sub-strokecase{s:04d}_ses-0001"
        _nifti(
            isles / "derivatives" / f"sub-strokecase{s:04d}" / "ses-0001" / f"{name}_label-lesion_probseg.nii.gz",
            np.zeros((12, 10, 6), np.float32),
        )
    data = Dataset.load(isles)
    assert all(len(case.channels) == 1 and "probseg" not in case.channels[0].name for case in data.cases)
