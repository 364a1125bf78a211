"""Image input/output: one call reads any supported medical or plain image into an :class:`ImageData`.

Example::

    from medimg.io import read_image
    ct = read_image("scan/slice_001.dcm", window="lung")     # (1, H, W) float32 in 0..1
    vol = read_image("case_01.nii.gz")                       # (1, X, Y, Z), affine RAS+
    rgb = read_image("fundus.tif")                           # (3, H, W), raw 0..255

Importing this package is cheap: pydicom, nibabel, Pillow and tifffile load on first use.
"""

from __future__ import annotations

from medimg.io.dicom import read_dicom, read_dicom_series
from medimg.io.formats import IMAGE_SUFFIXES, detect_format, is_image_file
from medimg.io.image import ImageData
from medimg.io.nifti import read_nifti, write_nifti
from medimg.io.read import read_image, read_mask
from medimg.io.windowing import WINDOW_PRESETS, apply_window, resolve_window

__all__ = [
    "IMAGE_SUFFIXES",
    "WINDOW_PRESETS",
    "ImageData",
    "apply_window",
    "detect_format",
    "is_image_file",
    "read_dicom",
    "read_dicom_series",
    "read_image",
    "read_mask",
    "read_nifti",
    "resolve_window",
    "write_nifti",
]
