"""A mask volume of another size than its image whose header places it on a box of the image's voxel grid (3D
Slicer's segmentation saved cropped to its segments, or extended past its reference volume) is put there: the same
label as the full-size mask gives, for segmentation, ``medimg check`` and the mask-based features. Anything that is
not a box of the grid stays a size mismatch."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from medimg.data.dataset import Dataset, SegmentationDataset
from medimg.data.mask_grid import box_on_image_grid

nib = pytest.importorskip("nibabel")

LPS_LIKE = np.array([[-0.8, 0, 0, 90.0], [0, -0.8, 0, 110.0], [0, 0, 2.5, -40.0], [0, 0, 0, 1]])
SHAPE = (20, 18, 10)


def _volume_and_mask(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    image = rng.normal(100, 10, SHAPE).astype(np.float32)
    mask = np.zeros(SHAPE, np.uint8)
    mask[4:9, 6:12, 2:5] = 1
    mask[6:8, 8:10, 3:4] = 2  # a second label inside the first: values are kept
    return image, mask


def _cropped(mask: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``mask`` cut to the box of its labels, with the affine that keeps each voxel where it was."""
    low = np.argwhere(mask).min(axis=0)
    high = np.argwhere(mask).max(axis=0) + 1
    box = mask[tuple(slice(int(a), int(b)) for a, b in zip(low, high, strict=True))]
    moved = affine.copy()
    moved[:3, 3] = affine[:3, :3] @ low + affine[:3, 3]
    return box, moved


def test_a_box_of_the_grid_is_placed_where_its_header_says() -> None:
    _, mask = _volume_and_mask()
    box, affine = _cropped(mask, LPS_LIKE)
    placed = box_on_image_grid(box[None], affine, LPS_LIKE, SHAPE)
    assert placed is not None
    np.testing.assert_array_equal(placed.array[0], mask)
    assert placed.start == (4, 6, 2) and placed.stored_shape == box.shape and placed.outside == 0


def test_a_mask_reaching_beyond_its_image_keeps_the_part_on_the_image_and_counts_the_rest() -> None:
    # Slicer saves a segment reaching past its reference volume with an extent holding both
    _, mask = _volume_and_mask()
    larger = np.zeros((SHAPE[0] + 3, SHAPE[1], SHAPE[2] + 2), np.uint8)
    larger[3:, :, :-2] = mask
    larger[0:2, 0:2, 0] = 1  # 4 labelled voxels before the image's first voxel
    affine = LPS_LIKE.copy()
    affine[:3, 3] = LPS_LIKE[:3, :3] @ [-3, 0, 0] + LPS_LIKE[:3, 3]
    placed = box_on_image_grid(larger[None], affine, LPS_LIKE, SHAPE)
    assert placed is not None
    np.testing.assert_array_equal(placed.array[0], mask)
    assert placed.start == (-3, 0, 0) and placed.outside == 4


@pytest.mark.parametrize(
    "change",
    ["half a voxel off", "another spacing", "rotated", "no voxel in common", "the image's size", "no geometry"],
)
def test_what_is_not_a_box_of_the_grid_is_not_placed(change: str) -> None:
    _, mask = _volume_and_mask()
    box, affine = _cropped(mask, LPS_LIKE)
    if change == "half a voxel off":
        affine[:3, 3] += LPS_LIKE[:3, :3] @ [0.5, 0, 0]
    elif change == "another spacing":
        affine[:3, :3] = affine[:3, :3] * 0.5
    elif change == "rotated":
        angle = np.radians(5)
        rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
        affine[:3, :3] = rotation @ affine[:3, :3]
    elif change == "no voxel in common":
        affine[:3, 3] = LPS_LIKE[:3, :3] @ [40, 0, 0] + LPS_LIKE[:3, 3]
    elif change == "the image's size":  # used voxel for voxel, as before (its header's origin is only warned of)
        box, affine = mask, affine
    else:
        affine = np.eye(4)
    assert box_on_image_grid(box[None], affine, LPS_LIKE, SHAPE) is None


def _pair(root: Path, name: str, image: np.ndarray, mask: np.ndarray, mask_affine: np.ndarray) -> None:
    (root / "imagesTr").mkdir(parents=True, exist_ok=True)
    (root / "labelsTr").mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(image, LPS_LIKE), root / "imagesTr" / f"{name}.nii.gz")
    nib.save(nib.Nifti1Image(mask, mask_affine), root / "labelsTr" / f"{name}.nii.gz")


def test_a_cropped_and_reoriented_mask_reads_as_its_full_mask(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    image, mask = _volume_and_mask()
    full, cropped = tmp_path / "full", tmp_path / "cropped"
    _pair(full, "case1", image, mask, LPS_LIKE)
    box, affine = _cropped(mask, LPS_LIKE)
    stored = nib.as_closest_canonical(nib.Nifti1Image(box, affine))  # cropped and saved in RAS: x, y flipped
    _pair(cropped, "case1", image, np.asarray(stored.dataobj), stored.affine)
    reference = Dataset.load(full, task="segment")
    dataset = Dataset.load(cropped, task="segment")
    assert isinstance(dataset, SegmentationDataset) and isinstance(reference, SegmentationDataset)
    for canonical in (True, False):
        want = dataclasses.replace(reference, canonical_orientation=canonical).read(reference.cases[0])
        with caplog.at_level("WARNING"):
            got = dataclasses.replace(dataset, canonical_orientation=canonical).read(dataset.cases[0])
        assert got.mask is not None and want.mask is not None
        np.testing.assert_array_equal(got.mask, want.mask)
        assert got.image.meta["mask_placed"] == [str(cropped / "labelsTr" / "case1.nii.gz")]
        assert "mask_geometry" not in got.image.meta  # its grid is the image's once placed: nothing to warn of
    assert "places it on voxels (4, 6, 2) to (8, 11, 4)" in caplog.text


def test_detection_boxes_from_cropped_or_reoriented_masks_lie_on_the_image(tmp_path: Path) -> None:
    """Boxes derived from a mask are in the image's voxels: a cropped mask's were in the crop's, a mask stored in
    another voxel orientation's were flipped."""
    image, mask = _volume_and_mask()
    full, cropped = tmp_path / "full", tmp_path / "cropped"
    _pair(full, "case1", image, mask, LPS_LIKE)
    box, affine = _cropped(mask, LPS_LIKE)
    _pair(cropped, "case1", image, box, affine)
    stored = nib.as_closest_canonical(nib.Nifti1Image(mask, LPS_LIKE))  # the full mask saved in RAS: x, y flipped
    _pair(cropped, "case2", image, np.asarray(stored.dataobj), stored.affine)
    want = Dataset.load(full, task="detect").cases[0].boxes
    assert want and all(b.z1 is not None for b in want)
    got = {case.path.name: case.boxes for case in Dataset.load(cropped, task="detect").cases}
    assert got == {"case1.nii.gz": want, "case2.nii.gz": want}


def test_header_geometry_is_that_of_the_image_read(tmp_path: Path) -> None:
    from medimg.io import read_image
    from medimg.io.read import read_geometry

    sitk = pytest.importorskip("SimpleITK")
    image, _ = _volume_and_mask()
    nifti = tmp_path / "ct.nii.gz"
    header = nib.Nifti1Image(image, LPS_LIKE)
    header.header.set_xyzt_units("meter")  # converted to millimetres by both
    nib.save(header, nifti)
    volume = sitk.GetImageFromArray(np.transpose(image))
    volume.SetOrigin((3.0, -7.0, 11.0))
    volume.SetSpacing((0.8, 0.9, 2.5))
    volume.SetDirection((0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0))
    sitk.WriteImage(volume, str(tmp_path / "ct.nrrd"))
    for path in (nifti, tmp_path / "ct.nrrd"):
        read = read_image(path)
        found = read_geometry(path)
        assert found is not None and read.affine is not None
        np.testing.assert_allclose(found[0], read.affine)
        assert found[1] == read.spatial_shape == SHAPE
    Image = pytest.importorskip("PIL.Image")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "slice.png")
    assert read_geometry(tmp_path / "slice.png") is None and read_geometry(tmp_path) is None


def test_check_reports_placed_masks_and_still_refuses_a_mask_off_the_grid(tmp_path: Path) -> None:
    from medimg.tasks.segment.quality import check_segmentation

    image, mask = _volume_and_mask()
    box, affine = _cropped(mask, LPS_LIKE)
    _pair(tmp_path, "case1", image, box, affine)
    off = affine.copy()
    off[:3, 3] += LPS_LIKE[:3, :3] @ [0.5, 0.5, 0]
    _pair(tmp_path, "case2", image, box, off)
    dataset = Dataset.load(tmp_path, task="segment")
    assert isinstance(dataset, SegmentationDataset)
    report = check_segmentation(dataset, progress=False)
    assert [m["case"] for m in report.size_mismatches] == ["imagesTr/case2.nii.gz"]
    assert "3D Slicer: export it with the image as its reference volume" in report.size_mismatches[0]["reason"]
    assert "but this one's does not" in report.size_mismatches[0]["reason"]
    assert "size mismatch" not in " ".join(report.warnings)
    assert any("1 mask volume(s) cover a box of their images' voxel grids" in w for w in report.warnings)
    # an image saved without a geometry (np.eye(4)): said so, not "this one's (header) does not (place it)"
    bare = tmp_path / "bare"
    (bare / "imagesTr").mkdir(parents=True)
    (bare / "labelsTr").mkdir(parents=True)
    nib.save(nib.Nifti1Image(image, np.eye(4)), bare / "imagesTr" / "case1.nii.gz")
    nib.save(nib.Nifti1Image(box, affine), bare / "labelsTr" / "case1.nii.gz")
    plain = Dataset.load(bare, task="segment")
    assert isinstance(plain, SegmentationDataset)
    reason = check_segmentation(plain, progress=False).size_mismatches[0]["reason"]
    assert "its image's header holds no geometry (an identity affine" in reason


def test_slicer_segmentation_nrrd_cropped_to_its_segments(tmp_path: Path) -> None:
    sitk = pytest.importorskip("SimpleITK")  # medimg[itk]
    from medimg.features.masks import MaskSpec
    from medimg.io import read_image

    image, mask = _volume_and_mask()
    volume = sitk.GetImageFromArray(image.transpose(2, 1, 0))  # SimpleITK takes (z, y, x)
    volume.SetSpacing((0.8, 0.8, 2.5))
    volume.SetOrigin((-16.0, -20.0, 30.0))
    sitk.WriteImage(volume, str(tmp_path / "case1.nrrd"))
    low = np.argwhere(mask).min(axis=0)
    high = np.argwhere(mask).max(axis=0) + 1
    box = mask[tuple(slice(int(a), int(b)) for a, b in zip(low, high, strict=True))]
    segmentation = sitk.GetImageFromArray(box.transpose(2, 1, 0))
    segmentation.SetSpacing(volume.GetSpacing())
    segmentation.SetOrigin(volume.TransformIndexToPhysicalPoint([int(v) for v in low]))
    for index, (name, value) in enumerate((("lesion", 1), ("core", 2))):
        segmentation.SetMetaData(f"Segment{index}_Name", name)
        segmentation.SetMetaData(f"Segment{index}_LabelValue", str(value))
        segmentation.SetMetaData(f"Segment{index}_Layer", "0")
    sitk.WriteImage(segmentation, str(tmp_path / "case1.seg.nrrd"), useCompression=True)

    dataset = Dataset.load(tmp_path, task="segment")
    assert isinstance(dataset, SegmentationDataset) and len(dataset.cases) == 1
    assert dataset.value_names == {0: "background", 1: "lesion", 2: "core"}
    sample = dataclasses.replace(dataset, canonical_orientation=False).read(dataset.cases[0])
    assert sample.mask is not None
    np.testing.assert_array_equal(sample.mask[0], mask)
    # the mask-based features (classical models, radiomics) read it onto the image the same way
    spec = MaskSpec.parse("{stem}.seg.nrrd")
    assert spec is not None
    read = read_image(tmp_path / "case1.nrrd")
    features_mask = spec.read(spec.find(tmp_path / "case1.nrrd"), like=read)
    np.testing.assert_array_equal(features_mask > 0, mask > 0)
