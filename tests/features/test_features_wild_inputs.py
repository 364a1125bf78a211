"""Feature transformers on inputs as researchers give them: lists of (H, W, 3) or (D, H, W) arrays, empty
batches, NIfTI masks by ``{stem}``, and volumes in NIfTI's (x, y, z) or DICOM's (z, y, x) axis order."""

from __future__ import annotations

import numpy as np
import pytest

from medimg.errors import DatasetError
from medimg.features import FirstOrderFeatures, GLCMFeatures, ImageSample, LBPFeatures, MaskSpec


def test_a_list_of_channel_last_rgb_images_is_read_like_the_batch_array():
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (32, 32, 3)).astype(float) for _ in range(3)]
    from_list = FirstOrderFeatures().fit(images)
    assert from_list.n_channels_ == 3  # not 32 channels of 32 x 3 pixels
    expected = FirstOrderFeatures().fit_transform(np.stack(images))
    np.testing.assert_allclose(from_list.transform(images), expected)
    assert from_list.transform(images)[0, 0] == pytest.approx(images[0][..., 0].mean())


def test_a_list_of_grey_volumes_is_read_as_volumes_with_or_without_masks():
    rng = np.random.default_rng(1)
    volumes = [rng.normal(-500, 100, (8, 12, 12)) for _ in range(2)]
    fitted = FirstOrderFeatures().fit(volumes)
    assert (fitted.n_channels_, fitted.spatial_dims_) == (1, 3)
    assert fitted.transform(volumes)[1, 0] == pytest.approx(volumes[1].mean())
    mask = np.zeros((8, 12, 12), int)
    mask[2:6, 3:9, 3:9] = 1
    pairs = [(v, mask) for v in volumes]
    row = FirstOrderFeatures().fit(pairs).transform(pairs)[0]
    assert row[0] == pytest.approx(volumes[0][mask > 0].mean())
    # a channel-first image with its (H, W) mask stays a multi-channel 2D image
    rgb = rng.integers(0, 256, (3, 16, 16)).astype(float)
    assert FirstOrderFeatures().fit([(rgb, np.ones((16, 16), int))]).n_channels_ == 3


def test_an_empty_batch_array_is_a_clear_error():
    with pytest.raises(DatasetError, match="no images"):
        FirstOrderFeatures().fit(np.zeros((0, 8, 8)))


def test_stem_of_a_nifti_gz_image_leaves_out_both_suffixes(tmp_path):
    image = tmp_path / "case_01.nii.gz"
    image.write_bytes(b"")
    (tmp_path / "case_01_mask.nii.gz").write_bytes(b"")
    assert MaskSpec.parse("{stem}_mask.nii.gz").find(image) == tmp_path / "case_01_mask.nii.gz"
    (tmp_path / "other.nii.gz").write_bytes(b"")
    (tmp_path / "other.nii_seg.nii.gz").write_bytes(b"")  # the old {stem} (Path.stem) still finds its mask
    assert MaskSpec.parse("{stem}_seg.nii.gz").find(tmp_path / "other.nii.gz") == tmp_path / "other.nii_seg.nii.gz"
    with pytest.raises(DatasetError, match=r"lone_mask\.nii\.gz"):
        (tmp_path / "lone.nii.gz").write_bytes(b"")
        MaskSpec.parse("{stem}_mask.nii.gz").find(tmp_path / "lone.nii.gz")


@pytest.mark.parametrize("transformer", [GLCMFeatures, LBPFeatures])
def test_volume_texture_is_the_same_in_nifti_and_dicom_axis_order(transformer):
    """The same CT, as NIfTI stores it ((x, y, z), thick z) and as a DICOM series reads ((z, y, x)): the 2D texture
    is taken on the same (axial) slices, so the features agree."""
    rng = np.random.default_rng(0)
    volume = np.cumsum(rng.normal(0, 1, (12, 14, 6)), axis=2)  # structure along z
    nifti = ImageSample(volume[None], None, "nifti", (0.8, 0.8, 2.5))
    dicom = ImageSample(volume.transpose(2, 1, 0)[None], None, "dicom", (2.5, 0.8, 0.8))
    a = transformer().fit([nifti]).transform([nifti])
    b = transformer().fit([dicom]).transform([dicom])
    np.testing.assert_allclose(a, b, atol=1e-9)
    assert transformer().fit([nifti]).fitted_settings()  # a cache key apart from rows sliced the old way
