"""FreeSurfer MGH/MGZ and Philips PAR/REC volumes (nibabel writes and reads them; medimg does not): named as what
they are with the command that converts them. Before: a folder of them was "no images found" without a word of the
28 volumes in it, and one given to predict was "unrecognised image format ... may be corrupt"."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from medimg import Dataset
from medimg.errors import DatasetError, ImageReadError
from medimg.io import read_image


def _mgz(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.MGHImage(np.zeros((6, 6, 6), np.float32), np.eye(4)), path)
    return path


def test_an_mgz_volume_is_named_with_its_conversion(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match=r"a FreeSurfer MGH/MGZ volume, .*mri_convert x.mgz x.nii.gz"):
        read_image(_mgz(tmp_path / "T1.mgz"))
    par = tmp_path / "SUBJ_WIP_T1W_3D_2_1.PAR"
    par.write_text("# === DATA DESCRIPTION FILE ======================================================\n")
    with pytest.raises(ImageReadError, match=r"a Philips PAR/REC volume, .*dcm2niix"):
        read_image(par)
    rec = par.with_suffix(".REC")  # the pixels beside the PAR header
    rec.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ImageReadError, match=r"a Philips PAR/REC volume, .*dcm2niix"):
        read_image(rec)


def test_class_folders_of_mgz_volumes_are_named(tmp_path: Path) -> None:
    for label in ("normal", "abnormal"):
        for k in range(3):
            _mgz(tmp_path / label / f"sub-{label}{k}_T1.mgz")
    with pytest.raises(
        DatasetError, match=r"found 6 FreeSurfer MGH/MGZ file\(s\), which medimg does not read.*nib\.save"
    ):
        Dataset.load(tmp_path)
