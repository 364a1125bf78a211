"""The ONNX Runtime client's numpy preprocessing treats a 4D file's frames as the PyTorch path does: refused, never
averaged into one channel; colours (a picture's, or a volume whose meta says RGB) are converted on both."""

from __future__ import annotations

import numpy as np
import pytest

from medimg.errors import DatasetError
from medimg.export.preprocess import to_channels as numpy_to_channels
from medimg.transforms.preprocess import to_channels as torch_path_to_channels

FRAMES = np.random.default_rng(0).random((3, 4, 8, 8), dtype=np.float32)  # a 4D NIfTI's three time points


@pytest.mark.parametrize("convert", [numpy_to_channels, torch_path_to_channels])
@pytest.mark.parametrize("meta", [None, {"format": "nifti"}])
def test_frames_are_refused_by_both_engines(convert: object, meta: dict[str, str] | None) -> None:
    with pytest.raises(DatasetError, match=r"scan\.nii\.gz: 3 frames .*not colours.*does not average frames"):
        convert(FRAMES, 1, "scan.nii.gz", meta)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("array", "meta"),
    [
        (FRAMES[:, 0], None),  # a 2D array: colours
        (FRAMES[:, 0], {"format": "png"}),
        (FRAMES, {"format": "nifti", "rgb": True}),  # NIfTI RGB24
    ],
)
def test_colours_are_converted_alike(array: np.ndarray, meta: dict[str, object] | None) -> None:
    numpy_grey = numpy_to_channels(array, 1, "x", meta)
    torch_path_grey = torch_path_to_channels(array, 1, "x", meta)
    assert numpy_grey.shape == (1, *array.shape[1:])
    np.testing.assert_allclose(numpy_grey, torch_path_grey, rtol=1e-6)
