"""3D Slicer segmentation files (``.seg.nrrd``) beside their volumes: each segment name is one class across the data
set, whatever value each file gives it (Slicer numbers a file's segments in the order they were added), and
overlapping segments stored in layers (a 4D file) are painted into one label map, the smaller on top."""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path

import numpy as np
import pytest

from medimg.data.dataset import Dataset, SegmentationDataset
from medimg.errors import ImageReadError
from medimg.io.slicer_segments import segments_of

nib = pytest.importorskip("nibabel")

SHAPE = (24, 20, 8)  # x, y, z
LIVER = (slice(2, 18), slice(2, 16), slice(1, 7))
TUMOUR = (slice(6, 10), slice(5, 9), slice(3, 5))  # inside the liver
SPLEEN = (slice(19, 23), slice(14, 19), slice(2, 6))


def _write_segmentation(path: Path, layers: np.ndarray, segments: list[dict[str, object]]) -> None:
    """An NRRD file as Slicer writes a segmentation: ``layers`` ``(L, x, y, z)`` (a 3D file when ``L`` is 1), the
    segment fields in the header, gzip-encoded data."""
    four = layers.shape[0] > 1
    sizes = " ".join(map(str, layers.shape if four else layers.shape[1:]))
    directions = ("none " if four else "") + "(0.8,0,0) (0,0.8,0) (0,0,2.5)"
    header = [
        "NRRD0004",
        "type: unsigned char",
        f"dimension: {4 if four else 3}",
        "space: left-posterior-superior",
        f"sizes: {sizes}",
        f"space directions: {directions}",
        f"kinds: {'list ' if four else ''}domain domain domain",
        "encoding: gzip",
        "space origin: (-10,-8,-10)",
    ]
    for index, segment in enumerate(segments):
        header += [f"Segment{index}_ID:=Segment_{index + 1}", f"Segment{index}_Name:={segment['name']}"]
        header += [f"Segment{index}_{key}:={segment[key]}" for key in ("LabelValue", "Layer") if key in segment]
    header.append("Segmentation_MasterRepresentation:=Binary labelmap")
    data = np.asarray(layers if four else layers[0], np.uint8).tobytes(order="F")  # NRRD: first axis fastest
    path.write_bytes(("\n".join(header) + "\n\n").encode() + gzip.compress(data))


def _volume(path: Path, seed: int) -> None:
    affine = np.diag([-0.8, -0.8, 2.5, 1.0])  # LPS identity, as the segmentation's header
    affine[:3, 3] = [10, 8, -10]
    image = np.random.default_rng(seed).normal(100, 10, SHAPE).astype(np.float32)
    nib.save(nib.Nifti1Image(image, affine), path)


def _expected() -> np.ndarray:
    """The label map by name: liver 1, tumour 2 (inside the liver, on top), spleen 3."""
    labels = np.zeros(SHAPE, np.float32)
    labels[LIVER] = 1
    labels[TUMOUR] = 2
    labels[SPLEEN] = 3
    return labels


def _read_all(root: Path) -> tuple[SegmentationDataset, dict[str, np.ndarray]]:
    dataset = Dataset.load(root, task="segment")
    assert isinstance(dataset, SegmentationDataset)
    stored = dataclasses.replace(dataset, canonical_orientation=False)
    masks = {}
    for case in stored.cases:
        mask = stored.read(case).mask
        assert mask is not None
        masks[case.image.name] = mask[0]
    return dataset, masks


def test_one_class_per_segment_name_whatever_value_each_file_gives_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    orders = [["liver", "tumour", "spleen"], ["tumour", "liver", "spleen"], ["Liver ", "spleen", "tumour"]]
    regions = {"liver": LIVER, "tumour": TUMOUR, "spleen": SPLEEN}
    for number, order in enumerate(orders):
        layer = np.zeros((1, *SHAPE), np.uint8)  # one layer: no overlap, so the liver has a hole for the tumour
        for value, name in enumerate(order, start=1):
            layer[(0, *regions[name.strip().lower()])] = value
        layer[(0, *TUMOUR)] = order.index("tumour") + 1
        segments = [{"name": name, "LabelValue": value, "Layer": 0} for value, name in enumerate(order, start=1)]
        _write_segmentation(tmp_path / f"case{number}.seg.nrrd", layer, segments)
        _volume(tmp_path / f"case{number}.nii.gz", number)
    with caplog.at_level("WARNING"):
        dataset, masks = _read_all(tmp_path)
    assert dataset.value_names == {0: "background", 1: "liver", 2: "tumour", 3: "spleen"}
    assert len(masks) == 3
    for name, mask in masks.items():
        np.testing.assert_array_equal(mask, _expected(), err_msg=name)
    assert "'liver' is value 1 in" in caplog.text and "case0.seg.nrrd and value 2 in" in caplog.text
    assert "liver = 1, tumour = 2, spleen = 3" in caplog.text


def test_overlapping_segments_in_layers_keep_the_smaller_on_top(tmp_path: Path) -> None:
    # the organ in layer 0, the lesion overlapping it in layer 1 (both value 1), the spleen beside the organ
    layers = np.zeros((2, *SHAPE), np.uint8)
    layers[(0, *LIVER)] = 1
    layers[(0, *SPLEEN)] = 2
    layers[(1, *TUMOUR)] = 1
    segments = [
        {"name": "tumour", "LabelValue": 1, "Layer": 1},  # listed first: painted last all the same (smaller)
        {"name": "liver", "LabelValue": 1, "Layer": 0},
        {"name": "spleen", "LabelValue": 2, "Layer": 0},
    ]
    _write_segmentation(tmp_path / "case0.seg.nrrd", layers, segments)
    _volume(tmp_path / "case0.nii.gz", 0)
    # a file of Slicer before 4.11: a layer per segment, each as 1, no LabelValue / Layer fields
    old = np.zeros((3, *SHAPE), np.uint8)
    old[(0, *LIVER)] = 1
    old[(1, *TUMOUR)] = 1
    old[(2, *SPLEEN)] = 1
    _write_segmentation(tmp_path / "case1.seg.nrrd", old, [{"name": n} for n in ("liver", "tumour", "spleen")])
    _volume(tmp_path / "case1.nii.gz", 1)
    dataset, masks = _read_all(tmp_path)
    # liver and tumour each come first in one file: tied, by name; the spleen is third in both
    assert dataset.value_names == {0: "background", 1: "liver", 2: "tumour", 3: "spleen"}
    for name, mask in masks.items():
        np.testing.assert_array_equal(mask, _expected(), err_msg=name)
    boxes = Dataset.load(tmp_path, task="detect", layout="mask_boxes")  # boxes of each segment, named as it is
    assert boxes.class_names == ["liver", "tumour", "spleen"]


def test_check_names_the_classes_and_a_damaged_header_is_an_error_naming_the_file(tmp_path: Path) -> None:
    from medimg.tasks.segment.quality import check_segmentation

    layer = np.zeros((1, *SHAPE), np.uint8)
    layer[(0, *LIVER)] = 1
    for number in range(2):
        _write_segmentation(tmp_path / f"case{number}.seg.nrrd", layer, [{"name": "liver", "LabelValue": 1}])
        _volume(tmp_path / f"case{number}.nii.gz", number)
    report = check_segmentation(Dataset.load(tmp_path, task="segment"), progress=False)  # type: ignore[arg-type]
    assert report.ok and report.class_names == ["background", "liver"]
    _write_segmentation(tmp_path / "case1.seg.nrrd", layer, [{"name": "liver", "LabelValue": 1, "Layer": 2}])
    dataset = Dataset.load(tmp_path, task="segment")
    assert isinstance(dataset, SegmentationDataset)
    with pytest.raises(ImageReadError, match="puts a segment in layer 2, but the file has 1 layer"):
        dataset.read(next(case for case in dataset.cases if case.image.name == "case1.nii.gz"))


def test_plain_label_maps_beside_segmentations_are_said(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    layer = np.zeros((1, *SHAPE), np.uint8)
    layer[(0, *LIVER)] = 1
    _write_segmentation(tmp_path / "case0.seg.nrrd", layer, [{"name": "liver", "LabelValue": 1, "Layer": 0}])
    _volume(tmp_path / "case0.nii.gz", 0)
    _volume(tmp_path / "case1.nii.gz", 1)
    nib.save(nib.Nifti1Image(layer[0], nib.load(tmp_path / "case1.nii.gz").affine), tmp_path / "case1_seg.nii.gz")
    with caplog.at_level("WARNING"):
        dataset, masks = _read_all(tmp_path)
    assert dataset.value_names == {0: "background", 1: "liver"} and len(masks) == 2
    assert "1 mask(s) are plain label maps beside 1 3D Slicer segmentation(s)" in caplog.text


def test_segments_of_reads_only_slicer_headers(tmp_path: Path) -> None:
    layer = np.zeros((1, *SHAPE), np.uint8)
    _write_segmentation(tmp_path / "a.seg.nrrd", layer, [{"name": "Läsion", "LabelValue": 3, "Layer": 0}])
    (segment,) = segments_of(tmp_path / "a.seg.nrrd")
    assert (segment.name, segment.layer, segment.value, segment.index) == ("Läsion", 0, 3, 0)
    _write_segmentation(tmp_path / "plain.nrrd", layer, [])
    (tmp_path / "text.nrrd").write_text("not an NRRD file")
    nib.save(nib.Nifti1Image(layer[0], np.eye(4)), tmp_path / "label.nii.gz")
    for other in ("plain.nrrd", "text.nrrd", "label.nii.gz", "missing.seg.nrrd"):
        assert segments_of(tmp_path / other) == (), other


def test_values_no_segment_names_are_said(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    layer = np.zeros((1, *SHAPE), np.uint8)
    layer[(0, *LIVER)] = 1
    layer[(0, *SPLEEN)] = 7  # a value the header names no segment for
    _write_segmentation(tmp_path / "case0.seg.nrrd", layer, [{"name": "liver", "LabelValue": 1, "Layer": 0}])
    _volume(tmp_path / "case0.nii.gz", 0)
    with caplog.at_level("WARNING"):
        _, masks = _read_all(tmp_path)
    assert set(np.unique(masks["case0.nii.gz"])) == {0.0, 1.0}
    spleen = int(np.prod([s.stop - s.start for s in SPLEEN]))
    assert f"{spleen} labelled voxel(s) hold values its header names no segment for" in caplog.text


def test_a_long_header_is_read_to_its_end(tmp_path: Path) -> None:
    layer = np.zeros((1, *SHAPE), np.uint8)
    many = [{"name": f"structure number {k} " + "x" * 60, "LabelValue": k + 1, "Layer": 0} for k in range(300)]
    _write_segmentation(tmp_path / "atlas.seg.nrrd", layer, many)  # a header of about 40 KB: several chunks
    found = segments_of(tmp_path / "atlas.seg.nrrd")
    assert len(found) == 300 and found[-1].value == 300 and found[-1].name.startswith("structure number 299")


def test_slicer_scene_folders_of_one_volume_and_its_segmentation(tmp_path: Path) -> None:
    # Slicer saves a scene as <case>/CT.nrrd + <case>/Segmentation.seg.nrrd: read as 12 classes "case0".. before
    layer = np.zeros((1, *SHAPE), np.uint8)
    layer[(0, *LIVER)] = 1
    for number in range(4):
        folder = tmp_path / f"case{number}"
        folder.mkdir()
        _volume(folder / "CT.nii.gz", number)
        _write_segmentation(folder / "Segmentation.seg.nrrd", layer, [{"name": "liver", "LabelValue": 1, "Layer": 0}])
        if number % 2:  # the scene's thumbnail, a 2D picture Slicer saves beside it: refused as a second image before
            from PIL import Image

            Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).save(folder / f"case{number}.png")
    dataset, masks = _read_all(tmp_path)  # keyed by image name: the four are all CT.nii.gz
    assert dataset.value_names == {0: "background", 1: "liver"} and set(masks) == {"CT.nii.gz"}
    assert len(dataset.cases) == 4 and all(
        case.mask is not None and case.mask.parent == case.image.parent for case in dataset.cases
    )


def test_predicted_masks_written_as_segmentations_read_back_named(tmp_path: Path) -> None:
    """``write_mask`` to ``.seg.nrrd``: each foreground class a segment with its name, value, colour and extent (an
    absent class listed empty), on the image's grid; a folder of such files beside their volumes reads back as the
    same classes and label maps."""
    from medimg.tasks.segment.masks import class_colour, write_mask

    sitk = pytest.importorskip("SimpleITK")
    names = ["background", "liver", "tumour", "spleen"]
    expected = _expected()
    for seed in range(2):
        _volume(tmp_path / f"case{seed}.nii.gz", seed)
        labels = expected if seed == 0 else np.where(expected == 3, 0, expected)  # no spleen in the second
        affine = nib.load(tmp_path / f"case{seed}.nii.gz").affine
        path = write_mask(
            labels.astype(np.uint8),
            tmp_path / f"case{seed}.seg.nrrd",
            affine=affine,
            num_classes=4,
            class_names=names,
            colours={2: (255, 0, 0)},
        )
        assert [(s.name, s.value) for s in segments_of(path)] == [("liver", 1), ("tumour", 2), ("spleen", 3)]
        header = sitk.ReadImage(str(path))
        assert header.GetMetaData("Segment1_Color") == "1 0 0"  # the set's own colour
        red, green, blue = class_colour(1)
        assert header.GetMetaData("Segment0_Color") == f"{red / 255:.4g} {green / 255:.4g} {blue / 255:.4g}"
        assert header.GetMetaData("Segment1_Extent") == "6 9 5 8 3 4"
        assert header.GetMetaData("Segment2_Extent") == ("19 22 14 18 2 5" if seed == 0 else "0 -1 0 -1 0 -1")
    dataset, masks = _read_all(tmp_path)
    assert dataset.value_names == {0: "background", 1: "liver", 2: "tumour", 3: "spleen"}
    np.testing.assert_array_equal(masks["case0.nii.gz"], expected)
    np.testing.assert_array_equal(masks["case1.nii.gz"], np.where(expected == 3, 0, expected))
