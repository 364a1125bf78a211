"""nnU-Net v2's ``ignore`` label (``dataset.json`` ``"labels": {"background": 0, "lesion": 1, "ignore": 2}``: voxels
nobody annotated): no class. It was trained, predicted and scored as one (``dice_ignore`` in the report, masks
holding 2); now its voxels are :data:`IGNORE`, left out of the loss and the scores, and the classes are the others."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from medimg.data.dataset import Dataset, SegmentationDataset
from medimg.tasks.segment.cases import determine_dataset_encoding
from medimg.tasks.segment.class_names import class_names_for, value_names_of
from medimg.tasks.segment.labels import IGNORE, LabelEncoding, encode_mask
from medimg.tasks.segment.quality import check_segmentation


def _nnunet_set(root: Path, count: int = 6) -> None:
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    rng = np.random.default_rng(0)
    rows, columns = np.mgrid[:32, :32]
    for number in range(count):
        centre = rng.integers(10, 22, 2)
        disk = (rows - centre[0]) ** 2 + (columns - centre[1]) ** 2 < 25
        image = (rng.random((32, 32)) * 80 + 60).astype(np.uint8)
        image[disk] = 220
        labels = disk.astype(np.uint8)
        labels[:, 26:] = 2  # a strip nobody annotated
        Image.fromarray(image).save(root / "imagesTr" / f"case_{number:03d}_0000.png")
        Image.fromarray(labels).save(root / "labelsTr" / f"case_{number:03d}.png")
    dataset_json = {
        "channel_names": {"0": "photo"},
        "labels": {"background": 0, "lesion": 1, "ignore": 2},
        "numTraining": count,
        "file_ending": ".png",
    }
    (root / "dataset.json").write_text(json.dumps(dataset_json))


def test_the_ignore_label_is_no_class(tmp_path: Path) -> None:
    _nnunet_set(tmp_path)
    dataset = Dataset.load(tmp_path, task="segment")
    assert isinstance(dataset, SegmentationDataset)
    samples = [dataset.read(case) for case in dataset.cases]
    encoding = determine_dataset_encoding(dataset, samples)
    assert encoding.kind == "mapping" and encoding.num_classes == 2
    assert class_names_for(encoding, value_names_of(dataset)) == ["background", "lesion"]
    assert samples[0].mask is not None
    classes = encode_mask(samples[0].mask, encoding)
    np.testing.assert_array_equal(classes == IGNORE, samples[0].mask[0] == 2)
    np.testing.assert_array_equal(classes == 1, samples[0].mask[0] == 1)
    report = check_segmentation(dataset, progress=False)
    assert report.class_names == ["background", "lesion"] and report.cases_per_class == {"lesion": 6}


def test_named_ignore_left_out_only_where_a_value_is_named_so() -> None:
    from medimg.tasks.segment.labels import named_ignore_left_out

    identity = LabelEncoding(kind="identity", num_classes=3)
    left_out = named_ignore_left_out(identity, {0: "background", 1: "lesion", 2: "Ignore"})
    assert left_out.value_map == {0.0: 0, 1.0: 1, 2.0: IGNORE} and left_out.num_classes == 2
    assert named_ignore_left_out(identity, {0: "background", 1: "lesion", 2: "tumour"}) is identity
    binary = LabelEncoding(kind="identity", num_classes=2)
    assert named_ignore_left_out(binary, {0: "background", 1: "ignore"}) is binary  # no class would be left
