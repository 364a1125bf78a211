"""The detect task: plan, augmentation geometry, metrics (pycocotools), and a tiny detector trained end to end
(run folder, report with mAP and FROC, predict boxes, reload)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from medimg import Dataset, Model
from medimg.data.detection import DetectionDataset
from medimg.tasks.detect.data import augment, flip_boxes, rotate90_boxes, zoom_and_crop
from medimg.tasks.detect.metrics import (
    Detections,
    bootstrap_weights,
    coco_ap,
    f1_at,
    froc,
    match_detections,
    weighted_ap,
    weighted_map,
)
from medimg.tasks.detect.plan import DetectAugmentation, DetectPlan
from tests.tasks.detect.synthetic import TINY, write_voc


@pytest.fixture(scope="module")
def voc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_voc(tmp_path_factory.mktemp("det") / "voc", n=18, seed=1)


@pytest.fixture(scope="module")
def trained(voc: Path, tmp_path_factory: pytest.TempPathFactory) -> Model:
    torch.set_num_threads(1)
    run = tmp_path_factory.mktemp("runs") / "tiny"
    return Model("fcos", task="detect", **TINY).fit(voc, run_dir=run, progress=False, tensorboard=False)


# ------------------------------------------------------------------------------------------------ plan
def test_plan_from_the_fingerprint(voc: Path) -> None:
    from medimg.config import FitOptions
    from medimg.engine.run import plan_run
    from medimg.tasks.registry import get_task

    task = get_task("detect")
    dataset = task.load_dataset(voc)
    fingerprint, plan = plan_run(task, dataset, FitOptions(progress=False))
    assert isinstance(plan, DetectPlan) and plan.class_names == ["disc", "square"] and plan.num_classes == 2
    assert all(side % 32 == 0 for side in plan.input_size) and plan.in_channels == 3
    assert plan.augmentation.rotate90 and plan.augmentation.hue > 0  # RGB: microscopy-like
    assert {"input_size", "augmentation", "anchor_sizes", "batch_size"} <= set(plan.reasons)
    assert fingerprint.model_dump()["per_class"]["disc"]["boxes"] > 0


# ------------------------------------------------------------------------------------------ augmentation
def _box_of(mask: torch.Tensor) -> list[float]:
    ys, xs = torch.nonzero(mask, as_tuple=True)
    return [float(xs.min()), float(ys.min()), float(xs.max()) + 1, float(ys.max()) + 1]


@pytest.mark.parametrize("k", [1, 2, 3])
def test_rotation_moves_boxes_with_the_pixels(k: int) -> None:
    image = torch.zeros(1, 20, 30)
    image[0, 3:9, 4:15] = 1
    boxes = torch.tensor([[4.0, 3.0, 15.0, 9.0]])
    rotated = torch.rot90(image, k, dims=(1, 2))
    assert rotate90_boxes(boxes, 30, 20, k)[0].tolist() == _box_of(rotated[0] > 0)


def test_flips_and_zoom_move_boxes_with_the_pixels() -> None:
    image = torch.zeros(1, 20, 30)
    image[0, 3:9, 4:15] = 1
    boxes = torch.tensor([[4.0, 3.0, 15.0, 9.0]])
    assert flip_boxes(boxes, 30, 20, horizontal=True)[0].tolist() == _box_of(image.flip(-1)[0] > 0)
    assert flip_boxes(boxes, 30, 20, horizontal=False)[0].tolist() == _box_of(image.flip(-2)[0] > 0)
    zoomed, moved, labels = zoom_and_crop(image, boxes, torch.tensor([1]), 1.0, torch.Generator())
    assert torch.equal(zoomed, image) and torch.equal(moved, boxes)
    zoomed, moved, labels = zoom_and_crop(image, boxes, torch.tensor([1]), 1.5, torch.Generator().manual_seed(3))
    assert zoomed.shape == image.shape and len(labels) <= 1
    if len(labels):
        assert np.allclose(moved[0].tolist(), _box_of(zoomed[0] > 0.5), atol=1.0)


def test_augment_keeps_boxes_inside_the_image() -> None:
    aug = DetectAugmentation(
        flip_vertical=True, rotate90=True, scale=0.3, brightness=0.2, contrast=0.2, saturation=0.2, hue=0.05
    )
    image = torch.randint(0, 255, (3, 32, 48), dtype=torch.uint8)
    boxes = torch.tensor([[2.0, 2.0, 12.0, 10.0], [30.0, 20.0, 47.0, 31.0]])
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        x, b, labels = augment(image, boxes, torch.tensor([0, 1]), aug, generator)
        height, width = x.shape[1:]
        assert x.dtype == torch.float32 and float(x.min()) >= 0 and float(x.max()) <= 1
        assert len(b) == len(labels) and (b[:, 2] > b[:, 0]).all() and (b[:, 3] > b[:, 1]).all()
        assert (b[:, 0] >= 0).all() and (b[:, 2] <= width).all() and (b[:, 3] <= height).all()


# ------------------------------------------------------------------------------------------------ metrics
def _truths() -> list[tuple[np.ndarray, np.ndarray]]:
    return [
        (np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32), np.array([0, 1])),
        (np.array([[5, 5, 15, 15]], np.float32), np.array([0])),
        (np.zeros((0, 4), np.float32), np.zeros(0, np.int64)),
    ]


def test_perfect_and_empty_detections() -> None:
    truths = _truths()
    perfect = [Detections(b, np.full(len(b), 0.9, np.float32), lab) for b, lab in truths]
    table = match_detections(truths, perfect, ["a", "b"])
    ap = coco_ap(table)
    assert ap["map50"] == pytest.approx(1.0) and ap["map"] == pytest.approx(1.0)
    assert froc(table)[0][0].tolist() == [1.0] * 7 and f1_at(table, 0.5).tolist() == [1.0, 1.0]
    empty = match_detections(truths, [Detections.empty() for _ in truths], ["a", "b"])
    assert coco_ap(empty)["map50"] == 0.0 and froc(empty)[0].max() == 0.0


def test_froc_does_not_count_a_second_box_on_a_found_lesion_as_a_false_positive() -> None:
    """LUNA16's FROC rule: a second detection of an already-found lesion is neither a hit nor a false positive
    (it was a false positive, as in COCO's AP, which keeps counting it so)."""
    lesion = np.array([[10.0, 10.0, 30.0, 30.0]])
    truths = [(lesion, np.array([0])), (lesion + 20, np.array([0]))]
    found = [
        Detections(
            np.array([[10.0, 10.0, 30.0, 30.0], [11.0, 10.0, 31.0, 30.0], [60.0, 60.0, 70.0, 70.0]]),
            np.array([0.9, 0.8, 0.1], np.float32),
            np.array([0, 0, 0]),
        ),
        Detections(
            np.array([[30.0, 30.0, 50.0, 50.0], [5.0, 5.0, 15.0, 15.0]]),
            np.array([0.5, 0.2], np.float32),
            np.array([0, 0]),
        ),
    ]
    table = match_detections(truths, found, ["lesion"])
    assert table.det_repeat.sum() == 1 and table.det_score[table.det_repeat].tolist() == pytest.approx([0.8])
    sensitivity, fppi, _ = froc(table)
    assert sensitivity[0].tolist() == [1.0] * 7  # both found before any false positive: the repeat is not one
    assert fppi[0].tolist() == [0.0, 0.0, 0.5, 1.0]  # the two misses, over two images
    assert coco_ap(table)["map50"] < 1.0  # COCO's AP still counts it against precision


def test_weighted_ap_repeats_cocoeval() -> None:
    rng = np.random.default_rng(0)
    truths, found = [], []
    for _ in range(12):
        boxes = rng.uniform(0, 80, (5, 2))
        truth = np.concatenate([boxes, boxes + rng.uniform(8, 20, (5, 2))], 1).astype(np.float32)
        labels = rng.integers(0, 2, 5)
        truths.append((truth, labels))
        noisy = truth[:4] + rng.normal(0, 2.5, (4, 4)).astype(np.float32)
        spurious = np.array([[50, 50, 60, 62]], np.float32)
        found.append(
            Detections(
                np.concatenate([noisy, spurious]), rng.uniform(0.05, 1, 5).astype(np.float32), rng.integers(0, 2, 5)
            )
        )
    table = match_detections(truths, found, ["a", "b"])
    reference = coco_ap(table)
    ones = np.ones((1, table.n_images))
    for k, name in enumerate(["a", "b"]):
        assert weighted_ap(table, ones, k, 0)[0] == pytest.approx(reference["per_class"][name]["ap50"], abs=1e-9)
    assert weighted_map(table, ones)["map"][0] == pytest.approx(reference["map"], abs=1e-9)
    weights = bootstrap_weights(table.n_images, 50)
    samples = weighted_map(table, weights)["map50"]
    assert samples.shape == (50,) and 0 <= samples.min() <= reference["map50"] <= samples.max() <= 1


# ------------------------------------------------------------------------------------------ end to end
def test_run_folder_and_report(trained: Model) -> None:
    run = trained.run_dir_
    assert run is not None
    for name in ("model.pt", "plan.json", "fingerprint.json", "splits.json", "metrics.jsonl", "metadata.json"):
        assert (run / name).is_file(), name
    plan = json.loads((run / "plan.json").read_text())
    assert plan["task"] == "detect" and "validation" in plan["reasons"]["nms_iou"]
    report = json.loads((run / "report" / "report.json").read_text())
    assert report["task"] == "detect" and report["format"] == "medimg.detection_report"
    for key in ("map", "map50", "froc_average", "froc", "per_class"):
        assert key in report["metrics"], key
    assert set(report["metrics"]["per_class"]) == {"disc", "square"}
    assert "map50" in report["confidence_intervals"] and len(report["images"]) == 3
    assert (run / "report" / "pr_curves.png").is_file() and (run / "report" / "froc.png").is_file()
    page = (run / "report" / "report.html").read_text()
    assert "FROC" in page and "Per-class results" in page and "image worst" in page
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(history) == 2 and "val_map50" in history[-1]


def test_predict_and_reload(trained: Model, voc: Path, tmp_path: Path) -> None:
    loaded = Model.load(trained.run_dir_)  # type: ignore[arg-type]
    assert loaded.task == "detect" and loaded.class_names_ == ["disc", "square"]
    image = voc / "JPEGImages" / "img_000.png"
    first = loaded.predict(image, out_dir=tmp_path)[0]
    data = first.to_dict()  # type: ignore[union-attr]
    assert "boxes" in data and set(data["counts"]) == {"disc", "square"}
    assert data["image_size"] == [48, 64] and Path(data["overlay"]).is_file()
    for box in data["boxes"]:
        assert 0 <= box["x1"] < box["x2"] <= 64 and box["label"] in ("disc", "square")
    again = trained.predict(image, out_dir=tmp_path)[0].to_dict()  # type: ignore[union-attr]
    assert again["boxes"] == data["boxes"]  # the bundle reloads the same network and decoding


def test_every_input_keeps_its_own_overlay(trained: Model, voc: Path, tmp_path: Path) -> None:
    """Files named by DICOM-style UIDs, one name in two formats and a non-ASCII name each get their own overlay
    (the overlay was named by the part before the first dot: every UID-named file wrote ``1_boxes.png``, each
    replacing the last, and ``x.png`` replaced ``x.jpg``'s)."""
    import shutil

    from PIL import Image

    source = voc / "JPEGImages" / "img_000.png"
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    names = ["1.2.840.113619.2.55.3.1.png", "1.2.840.113619.2.55.3.2.png", "x.png", "patch é.png"]
    for name in names:
        shutil.copy(source, inputs / name)
    Image.open(source).convert("RGB").save(inputs / "x.jpg", quality=95)
    predictions = trained.predict(sorted(inputs.iterdir()), out_dir=tmp_path / "out")
    overlays = [Path(p.to_dict()["overlay"]) for p in predictions]  # type: ignore[union-attr]
    assert len(overlays) == 5 and len(set(overlays)) == 5 and all(o.is_file() for o in overlays)
    assert {o.name for o in overlays} >= {"1.2.840.113619.2.55.3.1_boxes.png", "patch_é_boxes.png", "x_2_boxes.png"}


def test_predict_csv_has_one_row_per_box(trained: Model, voc: Path) -> None:
    """`medimg predict DET_RUN IMAGES --format csv`: one row per box in the file's pixels, an image without boxes
    still listed."""
    import csv
    import io

    from typer.testing import CliRunner

    from medimg.cli.app import app

    images = [voc / "JPEGImages" / "img_000.png", voc / "JPEGImages" / "img_001.png"]
    result = CliRunner().invoke(app, ["predict", str(trained.run_dir_), *map(str, images), "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == ["source", "x1", "y1", "x2", "y2", "label", "score", "in_domain", "domain_reasons"]
    expected = trained.predict(images)
    n_boxes = sum(max(1, len(p.to_dict()["boxes"])) for p in expected)  # type: ignore[union-attr]
    assert len(rows) == n_boxes and {r["source"] for r in rows} == {str(i) for i in images}
    for row in rows:
        if row["label"]:
            assert row["label"] in ("disc", "square") and 0 <= float(row["x1"]) < float(row["x2"]) <= 64


def test_evaluate_another_split(trained: Model) -> None:
    report = trained.evaluate(split="val", n_resamples=20)
    assert report.metrics["n"] == 3 and report.task == "detect"
    assert report.to_dict()["metrics"]["map50"] is not None


def test_check_overrides_and_unknown_network() -> None:
    from medimg.errors import ConfigError

    with pytest.raises(ConfigError, match="fcos"):
        Model("fcoss", task="detect")
    with pytest.raises(ConfigError, match="nms_iou"):
        Model("fcos", task="detect", nms_iuo=0.5)


def test_a_detection_dataset_is_refused_by_classification(voc: Path, tmp_path: Path) -> None:
    from medimg.errors import DatasetError

    dataset = Dataset.load(voc)
    assert isinstance(dataset, DetectionDataset)
    with pytest.raises(DatasetError, match="detect"):
        Model("simple-cnn").fit(dataset, run_dir=tmp_path / "run")


def test_onnx_export_and_torch_free_predictor(trained: Model, voc: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from medimg.export.onnx_export import export_onnx
    from medimg.export.predictor import OnnxPredictor

    result = export_onnx(trained, tmp_path / "det.onnx")
    assert result.task == "detect" and result.max_abs_diff <= result.tolerance
    assert result.pipeline_max_abs_diff is not None and result.pipeline_max_abs_diff <= result.tolerance
    predictor = OnnxPredictor(tmp_path / "det.onnx")
    assert predictor.task == "detect" and predictor.class_names == ["disc", "square"]
    image = voc / "JPEGImages" / "img_001.png"
    onnx_boxes = predictor.predict(image)[0].to_dict()["boxes"]
    torch_boxes = trained.predict(image, out_dir=tmp_path)[0].to_dict()["boxes"]  # type: ignore[union-attr]
    assert len(onnx_boxes) == len(torch_boxes)
    for ours, theirs in zip(onnx_boxes, torch_boxes, strict=True):
        assert ours["label"] == theirs["label"] and abs(ours["score"] - theirs["score"]) < 1e-3
        assert all(abs(ours[k] - theirs[k]) < 0.05 for k in ("x1", "y1", "x2", "y2"))


def test_the_onnx_engine_writes_the_overlays_the_pytorch_engine_writes(
    trained: Model, voc: Path, tmp_path: Path
) -> None:
    """With an output folder, ONNX Runtime's detections come with the image and its boxes drawn, at the image's
    own size and in the same place as the PyTorch engine's (before: boxes only, no overlay at all)."""
    pytest.importorskip("onnxruntime")
    from PIL import Image

    from medimg.export.onnx_export import export_onnx
    from medimg.export.predictor import OnnxPredictor

    export_onnx(trained, tmp_path / "det.onnx")
    images = [voc / "JPEGImages" / f"img_00{i}.png" for i in (1, 2)]
    onnx = OnnxPredictor(tmp_path / "det.onnx").predict(images, out_dir=tmp_path / "onnx")
    torch_made = trained.predict(images, out_dir=tmp_path / "torch")
    for ours, theirs in zip(onnx, torch_made, strict=True):
        ours_path, theirs_path = Path(ours.to_dict()["overlay"]), Path(theirs.to_dict()["overlay"])  # type: ignore[union-attr]
        assert ours_path.is_file() and ours_path.is_relative_to(tmp_path / "onnx")
        assert ours_path.name == theirs_path.name
        drawn, reference = np.asarray(Image.open(ours_path)), np.asarray(Image.open(theirs_path))
        assert drawn.shape == reference.shape == (48, 64, 3)
        assert np.mean(np.abs(drawn.astype(int) - reference.astype(int)) > 8) < 0.01
    assert all(p.overlay_path is None for p in OnnxPredictor(tmp_path / "det.onnx").predict(images))


@pytest.mark.parametrize(("network", "distances"), [("fcos", "softplus"), ("fcos", "relu"), ("retinanet", "relu")])
def test_numpy_decoding_matches_torchvision(network: str, distances: str) -> None:
    """The torch-free predictor's anchors, decoding and NMS give torchvision's detections on the same outputs."""
    from medimg.export import detect as numpy_detect
    from medimg.export.detect_onnx import DetectionGraph
    from medimg.tasks.detect.inference import detect_prepared
    from medimg.tasks.detect.networks import build_detector

    plan = DetectPlan(
        network=network,
        box_distances=distances,
        num_classes=2,
        class_names=["a", "b"],
        input_size=[64, 96],
        **{k: v for k, v in TINY.items() if k in ("backbone_widths", "backbone_depths", "fpn_channels", "head_convs")},
        candidate_threshold=0.2,
        detections_per_image=30,
        anchor_sizes=[12.0, 24.0, 48.0],
    )
    torch.manual_seed(0)
    detector = build_detector(plan).eval()
    with torch.no_grad():
        for name, parameter in detector.head.named_parameters():
            if name.endswith("weight") and parameter.ndim == 4:
                parameter.normal_(0, 0.2)  # distinct scores: no ties for NMS to order differently
    image = torch.rand(3, 60, 90, generator=torch.Generator().manual_seed(1))
    reference = detect_prepared(detector, [image], plan)[0]
    assert len(reference.scores) > 3
    graph = DetectionGraph(detector).eval()
    names = (
        ["cls_logits", "bbox_regression", "bbox_ctrness"] if network == "fcos" else ["cls_logits", "bbox_regression"]
    )

    def run(batch: np.ndarray) -> dict[str, np.ndarray]:
        with torch.no_grad():
            return {k: v.numpy() for k, v in zip(names, graph(torch.from_numpy(batch)), strict=True)}

    boxes, scores, labels = numpy_detect.run_graph(run, [image.numpy()], numpy_detect.detect_spec(plan.model_dump()))[0]
    assert np.array_equal(labels, reference.labels)
    assert np.allclose(scores, reference.scores, atol=1e-5) and np.allclose(boxes, reference.boxes, atol=1e-3)


def test_check_speaks_of_boxes_not_images(voc: Path) -> None:
    """`medimg check` on detection data counts boxes per class and never promises classification loss weights."""
    from medimg.data.quality import check_dataset

    summary = check_dataset(Dataset.load(voc)).summary()
    assert "\nboxes     disc: " in summary and "by boxes)" in summary, summary
    assert "planner will weight the loss" not in summary


def test_the_run_saves_its_training_domain_and_flags_unlike_inputs(
    trained: Model, voc: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Like classification runs, a detection run saves the training domain (format, bit depth, channels, intensities,
    sizes); a 16-bit grey image given to a detector trained on 8-bit colour PNGs is flagged (issue 14)."""
    import logging

    from PIL import Image

    run = Path(trained.run_dir_ or ".")
    domain = json.loads((run / "fingerprint.json").read_text())["domain"]
    assert set(domain["formats"]) == {"png"} and set(domain["bits"]) == {"8"} and set(domain["channels"]) == {"3"}
    assert domain["min_shape"] == domain["max_shape"] == [48, 64] and domain["intensity_max"] <= 255
    grey = np.asarray(Image.open(voc / "JPEGImages" / "img_000.png").convert("L"), dtype=np.uint16)
    Image.fromarray(grey * 257).save(tmp_path / "deep.png")  # the same picture in 16-bit values
    with caplog.at_level(logging.WARNING):
        (prediction,) = Model.load(run).predict(tmp_path / "deep.png", out_dir=tmp_path / "out")
    verdict = prediction.to_dict()["domain"]  # type: ignore[union-attr]
    assert verdict["in_domain"] is False
    assert any("16-bit" in r for r in verdict["reasons"]) and any("intensities" in r for r in verdict["reasons"])
    assert "outside the model's training domain" in caplog.text and "deep.png" in caplog.text
    report = trained.evaluate(split="val", n_resamples=20)  # images like the training ones: checked, none flagged
    assert report.to_dict()["extra"]["domain"]["checked"] == 3
    assert report.to_dict()["extra"]["domain"]["out_of_domain"] == 0


def test_small_images_are_planned_large_enough_for_one_image_predictions(tmp_path: Path) -> None:
    """32 px images planned at 32 px left the stride-32 level at 1x1: its GroupNorm saw one value per group for a
    single image and every `medimg predict` of the run raised (its ONNX export worked)."""
    data = write_voc(tmp_path / "small", n=10, seed=3, size=(32, 32))
    tiny = {**TINY, "fpn_channels": 32, "epochs": 1}  # 32 groups of one channel, as the planner picks
    model = Model("fcos", task="detect", **tiny).fit(data, run_dir=tmp_path / "run", progress=False, tensorboard=False)
    assert min(model.plan_.input_size) >= 64 and "2x2 cells" in model.plan_.reasons["input_size"]
    (prediction,) = model.predict(next((data / "JPEGImages").iterdir()))
    assert prediction.source
    # a run planned at 32 px (before the 64 px floor; here set by hand) predicts one image too
    small = Model("fcos", task="detect", **tiny, input_size=[32, 32])
    small.fit(data, run_dir=tmp_path / "small_run", progress=False, tensorboard=False)
    assert small.plan_.input_size == [32, 32]
    (alone,) = small.predict(next((data / "JPEGImages").iterdir()))
    assert alone.source


def test_per_image_normalisation_is_applied_in_2d_and_carried_by_exports() -> None:
    """``--set normalisation=per_image`` maps each 2D image by its own percentiles (it was accepted and ignored:
    a scan at ten times the intensity came out saturated), in PyTorch and in the torch-free predictor's spec."""
    from medimg.export import detect as numpy_detect
    from medimg.tasks.detect.data import to_unit

    image = np.random.default_rng(0).uniform(0, 100, size=(1, 40, 50)).astype(np.float32)
    plan = DetectPlan(num_classes=1, class_names=["lesion"], in_channels=1, clip_low=0.0, clip_high=100.0)
    per_image = plan.model_copy(update={"normalisation": "per_image"})
    assert np.allclose(to_unit(image * 10, per_image), to_unit(image, per_image), atol=1e-5)
    assert to_unit(image * 10, plan).mean() > 0.9  # the dataset range saturates the brighter scan
    spec = numpy_detect.detect_spec(per_image.model_dump())
    assert spec["normalisation"] == "per_image"
    assert np.allclose(numpy_detect.to_unit(image * 10, spec), to_unit(image * 10, per_image))
    older_export = numpy_detect.detect_spec({k: v for k, v in plan.model_dump().items() if k != "normalisation"})
    assert np.allclose(numpy_detect.to_unit(image, older_export), to_unit(image, plan))
    assert any("percentiles of this image" in step for step in numpy_detect.detect_preprocessing_steps(spec))


def test_export_on_the_command_line_says_the_fallback_in_one_line(voc: Path, tmp_path: Path) -> None:
    """``medimg export RUN`` of a detector trained at 32 px: torch logged its failed first attempt (``Constraints
    violated (32*cols, 32*rows)``, 45 lines of traceback) before the fallback exported it, parity OK."""
    pytest.importorskip("onnxruntime")
    import subprocess
    import sys

    trained = Model("fcos", task="detect", **{**TINY, "epochs": 1, "input_size": 32}).fit(
        voc, run_dir=tmp_path / "run", progress=False, tensorboard=False
    )

    command = [
        sys.executable,
        "-m",
        "medimg.cli.app",
        "export",
        str(trained.run_dir_),
        "--out",
        str(tmp_path / "d.onnx"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) <= 3, done.stderr
    assert (tmp_path / "d.onnx").is_file()
