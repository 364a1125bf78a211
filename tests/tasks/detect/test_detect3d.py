"""3D detection: boxes derived from masks (2D and 3D), the 3D plan, box-moving flips, MONAI's 3D matching, and
fit -> evaluate -> predict on tiny synthetic volumes the test writes; one short run on msd_hippocampus."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from medimg import Dataset, Model
from medimg.data.case import Box
from medimg.data.detection import DetectionDataset, box_statistics, volume_boxes
from medimg.data.layouts import get_layout, select_layout
from medimg.errors import ConfigError, DatasetError
from medimg.tasks.detect.data3d import augment_volume, flip_boxes_3d
from medimg.tasks.detect.metrics import Detections, coco_ap, froc
from medimg.tasks.detect.metrics3d import match_detections_3d
from medimg.tasks.detect.plan import DetectAugmentation, DetectPlan
from tests.conftest import shared_data

SIZE = 24


def write_volumes(root: Path, n: int = 14, seed: int = 0) -> Path:
    """``root/imagesTr`` + ``root/labelsTr`` NIfTI volumes of ``SIZE^3`` voxels with one or two bright cuboids
    (label 1 "small", label 2 "large"), and a ``dataset.json`` naming the labels."""
    import nibabel as nib

    rng = np.random.default_rng(seed)
    (root / "imagesTr").mkdir(parents=True, exist_ok=True)
    (root / "labelsTr").mkdir(parents=True, exist_ok=True)
    affine = np.diag([1.5, 1.0, 1.0, 1.0])
    affine[:3, 3] = [-10.0, 5.0, 0.0]
    for i in range(n):
        image = rng.normal(20, 4, (SIZE,) * 3).astype(np.float32)
        mask = np.zeros((SIZE,) * 3, np.uint8)
        corner = rng.integers(1, 5, 3)
        small = tuple(slice(int(c), int(c) + 6) for c in corner)  # label 1 in the low corner
        mask[small], image[small] = 1, image[small] + 60
        if i % 3:
            start = rng.integers(11, 14, 3)
            large = tuple(slice(int(s), int(s) + 9) for s in start)  # label 2 in the high corner
            mask[large], image[large] = 2, image[large] + 100
        nib.save(nib.Nifti1Image(image, affine), root / "imagesTr" / f"case_{i:02d}.nii.gz")
        nib.save(nib.Nifti1Image(mask, affine), root / "labelsTr" / f"case_{i:02d}.nii.gz")
    labels = {"0": "background", "1": "small", "2": "large"}
    (root / "dataset.json").write_text(json.dumps({"labels": labels}))
    return root


@pytest.fixture(scope="module")
def volumes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_volumes(tmp_path_factory.mktemp("vol3d") / "data")


@pytest.fixture(scope="module")
def trained(volumes: Path, tmp_path_factory: pytest.TempPathFactory) -> Model:
    model = Model(task="detect")
    return model.fit(
        volumes,
        run_dir=tmp_path_factory.mktemp("run3d") / "run",
        epochs=3,
        seed=0,
        progress=False,
        val_every=3,
        num_threads=1,
        tensorboard=False,
    )


# ---------------------------------------------------------------------------------------------- data
def test_boxes_from_3d_masks(volumes: Path) -> None:
    ds = Dataset.load(volumes, task="detect")  # type: ignore[call-overload]
    assert isinstance(ds, DetectionDataset) and ds.source == "masks" and ds.spatial_dims == 3
    assert ds.class_names == ["small", "large"]  # from dataset.json
    assert len(ds.cases) == 14 and ds.num_boxes == 14 + sum(1 for i in range(14) if i % 3)
    import nibabel as nib

    case = ds.cases[0]
    mask = np.asarray(nib.load(case.mask).dataobj)
    (box,) = [b for b in case.boxes or () if b.label == 0]
    d, h, w = np.nonzero(mask == 1)
    # x along W (last axis), y along H, z along D; the stop is exclusive
    assert (box.x1, box.x2, box.y1, box.y2, box.z1, box.z2) == (
        w.min(),
        w.max() + 1,
        h.min(),
        h.max() + 1,
        d.min(),
        d.max() + 1,
    )
    corners, labels = volume_boxes(case)
    assert (
        labels.tolist() == [0]
        and corners.shape == (1, 6)
        and list(corners[0])
        == [
            d.min(),
            h.min(),
            w.min(),
            d.max() + 1,
            h.max() + 1,
            w.max() + 1,
        ]
    )
    stats = box_statistics(ds)
    assert stats.per_class["small"]["depth_median"] == 6.0 and stats.per_class["large"]["width_median"] == 9.0
    assert "6 x 6 x 6" in stats.summary()


def test_the_same_folder_without_a_task_is_segmentation(volumes: Path) -> None:
    assert select_layout(volumes) is get_layout("image_mask_pairs")
    assert select_layout(volumes, "detect") is get_layout("mask_boxes")
    assert Dataset.load(volumes).task == "segment"


def test_boxes_from_2d_masks_one_per_component(tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for i in range(3):
        mask = np.zeros((20, 30), np.uint8)
        mask[2:6, 3:9] = 255  # two separate components of one label -> two boxes
        mask[10:18, 20:28] = 255
        Image.fromarray(mask).save(tmp_path / "masks" / f"c{i}.png")
        Image.fromarray(np.full((20, 30), 40 * i, np.uint8)).save(tmp_path / "images" / f"c{i}.png")
    ds = Dataset.load(tmp_path, task="detect")  # type: ignore[call-overload]
    assert ds.spatial_dims == 2 and ds.class_names == ["foreground"]
    assert ds.cases[0].boxes == (Box(3.0, 2.0, 9.0, 6.0, 0), Box(20.0, 10.0, 28.0, 18.0, 0))


def test_boxes_from_jpeg_masks_are_one_class(tmp_path: Path) -> None:
    """Kvasir-SEG's JPEG masks: JPEG's ringing values around the polyp were each a class of 1-pixel boxes (27
    classes, check said OK); read as binary, as segmentation reads them: one box per polyp."""
    from PIL import Image

    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    rows, columns = np.mgrid[:48, :64]
    for i in range(3):
        mask = np.where((rows - 20) ** 2 + (columns - 30 - i) ** 2 < 120, 255, 0).astype(np.uint8)
        Image.fromarray(mask).save(tmp_path / "masks" / f"c{i}.jpg", quality=75)
        Image.fromarray(np.full((48, 64, 3), 40 * i, np.uint8)).save(tmp_path / "images" / f"c{i}.jpg")
    assert len(np.unique(np.asarray(Image.open(tmp_path / "masks" / "c0.jpg")))) > 2  # ringing
    ds = Dataset.load(tmp_path, task="detect")  # type: ignore[call-overload]
    assert ds.class_names == ["foreground"]
    assert [len(case.boxes or ()) for case in ds.cases] == [1, 1, 1]
    box = ds.cases[0].boxes[0]
    assert abs(box.x1 - 19) <= 1 and abs(box.x2 - 41) <= 1 and abs(box.y1 - 9) <= 1 and abs(box.y2 - 31) <= 1


def test_fractional_mask_is_a_clear_error(tmp_path: Path) -> None:
    import nibabel as nib

    for sub in ("imagesTr", "labelsTr"):
        (tmp_path / sub).mkdir()
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 8), np.float32), np.eye(4)), tmp_path / "imagesTr" / "a.nii.gz")
    nib.save(nib.Nifti1Image(np.full((8, 8, 8), 0.5, np.float32), np.eye(4)), tmp_path / "labelsTr" / "a.nii.gz")
    with pytest.raises(DatasetError, match=r"a\.nii\.gz holds non-integer"):
        Dataset.load(tmp_path, task="detect")  # type: ignore[call-overload]


# ---------------------------------------------------------------------------------------------- augmentation
def _box_of(volume: torch.Tensor) -> list[float]:
    d, h, w = torch.nonzero(volume[0] > 0.5, as_tuple=True)
    return [float(v) for v in (d.min(), h.min(), w.min(), d.max() + 1, h.max() + 1, w.max() + 1)]


def test_flips_move_boxes_with_the_voxels() -> None:
    volume = torch.zeros(1, 10, 12, 14)
    volume[0, 1:4, 2:7, 5:13] = 1.0
    boxes = torch.tensor([_box_of(volume)])
    for axis in range(3):
        flipped = volume.flip(axis + 1)
        assert flip_boxes_3d(boxes, volume.shape[axis + 1], axis)[0].tolist() == _box_of(flipped)
    aug = DetectAugmentation(flip_horizontal=True, flip_vertical=True, flip_depth=True)
    for seed in range(6):
        moved, moved_boxes = augment_volume(volume, boxes, aug, torch.Generator().manual_seed(seed))
        assert moved_boxes[0].tolist() == _box_of(moved)


# ---------------------------------------------------------------------------------------------- matching
def test_3d_matching_perfect_partial_and_against_monai() -> None:
    truths = [
        (np.array([[0, 0, 0, 10, 10, 10], [20, 20, 20, 30, 30, 30]], np.float32), np.array([0, 1])),
        (np.array([[5, 5, 5, 15, 15, 15]], np.float32), np.array([0])),
    ]
    perfect = [Detections(b, np.full(len(b), 0.9, np.float32), lab) for b, lab in truths]
    ap = coco_ap(match_detections_3d(truths, perfect, ["a", "b"]))
    assert ap["map"] == pytest.approx(1.0) and ap["per_class"]["b"]["ap50"] == pytest.approx(1.0)
    # a box shifted by 2 voxels on each axis: 3D IoU (8^3)/(2*10^3 - 8^3) = 0.344 < 0.5 -> a miss in 3D
    shifted = [
        Detections(np.array([[2, 2, 2, 12, 12, 12]], np.float32), np.array([0.9], np.float32), np.array([0])),
        Detections(np.array([[5, 5, 5, 15, 15, 15]], np.float32), np.array([0.8], np.float32), np.array([0])),
    ]
    table = match_detections_3d(truths, shifted, ["a", "b"])
    assert table.det_tp[0].tolist() == [False, True]
    assert coco_ap(table)["per_class"]["b"]["ap50"] == pytest.approx(0.0)
    sensitivity = froc(table)[0][0]
    assert sensitivity[-1] == pytest.approx(1 / 3)  # one of three reference boxes found
    # the table's AP is MONAI's COCOMetric's own (its public numbers)
    from monai.apps.detection.metrics.coco import COCOMetric
    from monai.apps.detection.metrics.matching import matching_batch
    from monai.data.box_utils import box_iou

    metric = COCOMetric(classes=["a", "b"], iou_list=(0.5,), iou_range=(0.5, 0.95, 0.05), max_detection=(100,))
    results = matching_batch(
        box_iou,
        metric.iou_thresholds,
        [d.boxes for d in shifted],
        [d.labels for d in shifted],
        [d.scores for d in shifted],
        [b for b, _ in truths],
        [lab for _, lab in truths],
    )
    public = metric(results)[0]
    assert coco_ap(table)["per_class"]["a"]["ap50"] == pytest.approx(public["a_AP_IoU_0.50_MaxDet_100"])


# ---------------------------------------------------------------------------------------------- plan, fit, report
def test_3d_froc_does_not_count_a_second_box_on_a_found_lesion_as_a_false_positive() -> None:
    lesion = np.array([[2.0, 10.0, 10.0, 8.0, 30.0, 30.0]])
    found = Detections(
        np.array([[2.0, 10.0, 10.0, 8.0, 30.0, 30.0], [2.0, 11.0, 10.0, 8.0, 31.0, 30.0], [0, 50, 50, 2, 60, 60.0]]),
        np.array([0.9, 0.8, 0.1], np.float32),
        np.array([0, 0, 0]),
    )
    table = match_detections_3d([(lesion, np.array([0]))], [found], ["lesion"])
    assert table.det_repeat.tolist() == [False, True, False]
    sensitivity, fppi, _ = froc(table)
    assert sensitivity[0].tolist() == [1.0] * 7 and fppi[0].tolist() == [0.0, 1.0]


def test_plan_for_volumes(trained: Model) -> None:
    plan = trained.plan_
    assert isinstance(plan, DetectPlan) and plan.spatial_dims == 3 and plan.network == "retinanet3d"
    assert len(plan.input_size) == 3 and all(s % (2 * max(plan.fpn_strides)) == 0 for s in plan.input_size)
    assert plan.anchor_shapes and all(len(s) == 3 for s in plan.anchor_shapes)
    assert [6.0, 6.0, 6.0] in plan.anchor_shapes and [9.0, 9.0, 9.0] in plan.anchor_shapes  # per-class medians
    assert plan.augmentation.flip_depth and plan.normalisation == "per_image"
    assert {"input_size", "anchor_shapes", "fpn_strides", "normalisation"} <= set(plan.reasons)
    fingerprint = json.loads((Path(trained.run_dir_ or ".") / "fingerprint.json").read_text())
    assert fingerprint["spatial_dims"] == 3 and fingerprint["median_image_size"] == [SIZE] * 3


def test_bad_3d_overrides_are_refused(trained: Model) -> None:
    from medimg.tasks.detect.task import check_plan

    plan = trained.plan_
    for update in ({"fpn_strides": [3, 6]}, {"anchor_shapes": [[4.0, 4.0]]}, {"network": "fcos"}):
        with pytest.raises(ConfigError):
            check_plan(plan.model_copy(update=update))


def test_evaluate_writes_the_3d_report(trained: Model) -> None:
    report = trained.evaluate(split="test")
    metrics = report.metrics
    assert 0.0 <= metrics["map50"] <= 1.0 and 0.0 <= metrics["map"] <= 1.0
    assert set(metrics["per_class"]) == {"small", "large"} and "3D IoU" in metrics["matching"]
    assert set(metrics["froc"]) == {"1/8", "1/4", "1/2", "1", "2", "4", "8"}
    folder = Path(trained.run_dir_ or ".") / "report"
    html = (folder / "report.html").read_text()
    assert "3D COCO-style matching" in html and (folder / "image_best.png").is_file()
    assert "map50" in report.confidence_intervals


def test_evaluate_writes_the_3d_detections_it_scored_as_predict_gives_them(trained: Model, volumes: Path) -> None:
    """3D evaluation wrote no detections.csv (2D did): the boxes behind its mAP could not be audited."""
    import csv

    folder = Path(trained.run_dir_ or ".") / "report"
    with (folder / "detections.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["case_id", "x1", "y1", "z1", "x2", "y2", "z2", "label", "score", "reported"]
    case_id = rows[0]["case_id"]
    (source,) = [p for p in (volumes / "imagesTr").iterdir() if p.name.split(".")[0] in case_id]
    reported = [r for r in rows if r["case_id"] == case_id and r["reported"] == "1"]
    (prediction,) = trained.predict([source])
    corners = ("x1", "y1", "z1", "x2", "y2", "z2")
    expected = sorted((b["label"], *(b[k] for k in corners)) for b in prediction.to_dict()["boxes"])
    assert sorted((r["label"], *(float(r[k]) for k in corners)) for r in reported) == expected


def test_predict_nifti_boxes_in_voxels_and_mm(trained: Model, volumes: Path, tmp_path: Path) -> None:
    source = volumes / "imagesTr" / "case_00.nii.gz"
    (prediction,) = trained.predict([source])
    record = prediction.to_dict()
    assert record["image_size"] == [SIZE] * 3 and "x along W" in record["voxel_axes"]
    assert set(record["counts"]) == {"small", "large"}
    trained.plan_ = trained.plan_.model_copy(update={"score_threshold": 0.0})  # every candidate, to check geometry
    (everything,) = trained.predict([source])
    boxes = everything.to_dict()["boxes"]
    assert boxes, "the detector keeps candidates above its candidate threshold"
    first = boxes[0]
    # affine: diag(1.5, 1, 1) + (-10, 5, 0); voxel n covers [n, n+1) -> centre index (n1 + n2) / 2 - 0.5
    assert first["center_mm"][0] == pytest.approx(1.5 * ((first["z1"] + first["z2"]) / 2 - 0.5) - 10, abs=1e-2)
    assert first["size_mm"][2] == pytest.approx(1.5 * (first["z2"] - first["z1"]), abs=1e-2)
    # LUNA16's annotations.csv is in LPS (ITK's frame): the centre there too, the frame said
    x, y, z = first["center_mm"]
    assert first["center_lps_mm"] == [-x, -y, z] and "LPS" in everything.to_dict()["world_frame"]
    rows = everything.csv_rows()
    assert len(rows) == len(boxes) and {"x1", "z2", "center_z_mm", "center_lps_x_mm"} <= set(rows[0])
    reloaded = Model.load(trained.run_dir_ or ".")
    assert reloaded.plan_.spatial_dims == 3


def test_onnx_export_of_a_3d_detector_is_a_clear_error(trained: Model, tmp_path: Path) -> None:
    from medimg.errors import ConfigError
    from medimg.export.onnx_export import export_onnx

    with pytest.raises(ConfigError, match="3D detectors"):
        export_onnx(trained, tmp_path / "det3d.onnx")
    assert not (tmp_path / "det3d.onnx").exists()


# ---------------------------------------------------------------------------------------------- real data
def test_msd_hippocampus_boxes_train_and_evaluate(tmp_path: Path) -> None:
    """A short run on boxes derived from the real hippocampus masks: the pipeline runs, mAP is a number (the
    README gives the default plan's result)."""
    data = shared_data("msd_hippocampus")
    ds = Dataset.load(data, task="detect")  # type: ignore[call-overload]
    assert ds.spatial_dims == 3 and len(ds.class_names) == 2 and ds.num_boxes >= 2 * len(ds.cases) - 2
    model = Model(task="detect").fit(  # the first ~100 volumes, one epoch, one thread: about a minute
        data,
        include="hippocampus_0*",
        run_dir=tmp_path / "hippo",
        epochs=1,
        val_every=1,
        test_fraction=0.1,
        progress=False,
        seed=0,
        num_threads=1,
        tensorboard=False,
    )
    assert model.plan_.network == "retinanet3d" and model.plan_.class_names == ["label_1", "label_2"]
    report = model.evaluate(split="test")
    assert isinstance(report.metrics["map50"], float) and isinstance(report.metrics["map"], float)


def test_the_run_saves_its_training_domain_and_flags_unlike_volumes(
    trained: Model, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A 3D detection run saves the training domain (sizes, spacing, intensities); volumes at another spacing are
    flagged by predict and evaluate, and refused by a strict evaluation (issue 14). Volumes in values 100x larger
    are not: this MR-like run maps each volume by its own percentiles, so their scale never reaches the network."""
    import logging

    import nibabel as nib

    from medimg.errors import OutOfDomainError

    run = Path(trained.run_dir_ or ".")
    domain = json.loads((run / "fingerprint.json").read_text())["domain"]
    assert domain["spatial_dims"] == 3 and domain["min_shape"] == [SIZE] * 3
    assert domain["min_spacing_mm"] == pytest.approx([1.5, 1.0, 1.0]) and domain["intensity_max"] < 200
    assert trained.plan_.normalisation == "per_image"
    external = write_volumes(tmp_path / "scaled", n=4, seed=5)
    for path in (external / "imagesTr").glob("*.nii.gz"):  # the same kind of volume, in values 100x larger
        volume = nib.load(path)
        nib.save(nib.Nifti1Image(np.asarray(volume.dataobj) * 100.0, volume.affine), path)
    (scaled,) = Model.load(run).predict([external / "imagesTr" / "case_00.nii.gz"])
    assert scaled.to_dict()["domain"]["in_domain"] is True
    for path in (external / "imagesTr").glob("*.nii.gz"):  # now also voxels 3x larger in every axis
        volume = nib.load(path)
        nib.save(nib.Nifti1Image(np.asarray(volume.dataobj), volume.affine @ np.diag([3.0, 3.0, 3.0, 1.0])), path)
    with caplog.at_level(logging.WARNING):
        (prediction,) = Model.load(run).predict([external / "imagesTr" / "case_00.nii.gz"])
    verdict = prediction.to_dict()["domain"]
    assert verdict["in_domain"] is False and any("spacing" in r for r in verdict["reasons"])
    report = Model.load(run).evaluate(external, split="all", out_dir=tmp_path / "report", n_resamples=10)
    assert report.to_dict()["extra"]["domain"]["out_of_domain"] == 4
    with pytest.raises(OutOfDomainError):
        Model.load(run).evaluate(external, split="all", out_dir=tmp_path / "strict", n_resamples=10, strict=True)
