"""Evaluating a detection run on other detection data: classes are matched by name, not by position."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from medimg import Dataset, Model
from medimg.errors import DatasetError
from tests.tasks.detect.synthetic import TINY, write_voc


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Model, Path]:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("ext")
    voc = write_voc(root / "voc", n=12, seed=2)
    model = Model("fcos", task="detect", **{**TINY, "epochs": 1}).fit(
        voc, run_dir=root / "run", progress=False, tensorboard=False
    )
    return model, voc


def _objects(voc: Path) -> list[tuple[Path, list[tuple[float, float, float, float, str]]]]:
    dataset = Dataset.load(voc, task="detect")
    names = dataset.class_names
    return [
        (Path(case.path), [(b.x1, b.y1, b.x2, b.y2, names[b.label]) for b in case.boxes or ()])
        for case in dataset.cases
    ]


def _csv(path: Path, objects: list, rename: dict[str, str | None]) -> Path:
    rows = ["path,x1,y1,x2,y2,label"]
    for image, boxes in objects:
        kept = [(*b[:4], rename.get(b[4], b[4])) for b in boxes if rename.get(b[4], b[4]) is not None]
        rows += [f"{image},{x1},{y1},{x2},{y2},{name}" for x1, y1, x2, y2, name in kept] or [f"{image},,,,,"]
    path.write_text("\n".join(rows) + "\n")
    return path


def _per_class(model: Model, data: Path, out: Path) -> dict[str, tuple[float | None, int]]:
    metrics = model.evaluate(data, split="all", n_resamples=10, out_dir=out).metrics
    return {name: (v["ap50"], v["n_boxes"]) for name, v in metrics["per_class"].items()}


def test_classes_of_other_data_are_matched_by_name(run: tuple[Model, Path], tmp_path: Path) -> None:
    """An external CSV holding only 'square' boxes had them numbered 0 and scored as the run's 'disc'; COCO
    category ids in another order swapped the classes; a class the run does not know was scored as another."""
    model, voc = run
    objects = _objects(voc)
    assert model.plan_ is not None and model.plan_.class_names == ["disc", "square"]
    reference = _per_class(model, _csv(tmp_path / "same.csv", objects, {}), tmp_path / "e0")
    assert reference["disc"][1] > 0 and reference["square"][1] > 0

    only_square = _per_class(model, _csv(tmp_path / "sq.csv", objects, {"disc": None}), tmp_path / "e1")
    assert only_square["square"] == reference["square"] and only_square["disc"][1] == 0

    swapped = {"images": [], "annotations": [], "categories": [{"id": 3, "name": "square"}, {"id": 9, "name": "disc"}]}
    for i, (image, boxes) in enumerate(objects):
        swapped["images"].append({"id": i, "file_name": str(image), "width": 64, "height": 48})
        for x1, y1, x2, y2, name in boxes:
            swapped["annotations"].append(
                {"id": len(swapped["annotations"]) + 1, "image_id": i, "category_id": 3 if name == "square" else 9,
                 "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0}
            )  # fmt: skip
    (tmp_path / "coco.json").write_text(json.dumps(swapped))
    assert _per_class(model, tmp_path / "coco.json", tmp_path / "e2") == reference

    capitals = _per_class(model, _csv(tmp_path / "caps.csv", objects, {"disc": "Disc"}), tmp_path / "e3")
    assert capitals == reference

    with pytest.raises(DatasetError, match=r"'cyst' \(\d+ box.*rename"):
        model.evaluate(_csv(tmp_path / "cyst.csv", objects, {"disc": "cyst"}), split="all", out_dir=tmp_path / "e4")


def test_onnx_export_of_a_detector_checked_on_images_of_several_sizes(run: tuple[Model, Path], tmp_path: Path) -> None:
    """The parity reference ran the images batched (padded to the largest), the ONNX predictor one at a time: any
    mixed-size parity set was refused, in segmentation words ('whole-image probabilities', 'sliding windows')."""
    pytest.importorskip("onnxruntime")
    from PIL import Image

    from medimg.export.onnx_export import export_onnx
    from tests.tasks.detect.synthetic import draw_image

    model, _ = run
    rng = np.random.default_rng(5)
    for i, size in enumerate([(48, 64), (64, 48), (40, 100), (90, 60)]):
        Image.fromarray(draw_image(rng, size)[0]).save(tmp_path / f"p{i}.png")
    assert model.plan_ is not None
    model.plan_ = model.plan_.model_copy(update={"score_threshold": 0.0})  # every candidate is compared
    result = export_onnx(model, tmp_path / "det.onnx", parity_inputs=[tmp_path])
    assert result.pipeline_max_abs_diff is not None and result.pipeline_max_abs_diff <= result.tolerance


def test_the_overlay_is_drawn_at_the_images_own_size(run: tuple[Model, Path], tmp_path: Path) -> None:
    """A 300x200 image got a 64x43 overlay (the network's scale) while its JSON boxes are in its own pixels."""
    import io

    from PIL import Image

    model, _ = run
    Image.fromarray(np.full((200, 300), 90, np.uint8)).save(tmp_path / "wide.png")
    (prediction,) = model.predict(tmp_path / "wide.png", out_dir=tmp_path / "out")
    overlay = getattr(prediction, "overlay_png", None)
    assert overlay is not None and Image.open(io.BytesIO(overlay)).size == (300, 200)


def test_evaluate_writes_the_detections_it_scored(run: tuple[Model, Path], tmp_path: Path) -> None:
    """evaluate wrote only per-image counts: its mAP could not be audited from its own detections."""
    import csv

    model, voc = run
    model.evaluate(voc, split="all", n_resamples=10, out_dir=tmp_path / "e")
    rows = list(csv.DictReader((tmp_path / "e" / "detections.csv").open()))
    assert (tmp_path / "e" / "training_curves.png").is_file()  # the run's curves, in the report's Training section
    assert "<h2>Training</h2>" in (tmp_path / "e" / "report.html").read_text()
    counts = {r["case_id"]: int(r["predicted"]) for r in csv.DictReader((tmp_path / "e" / "per_image.csv").open())}
    assert {r["case_id"] for r in rows} == set(counts) and len(counts) == 12
    for case_id, n in counts.items():
        assert sum(r["reported"] == "1" for r in rows if r["case_id"] == case_id) == n


def test_a_set_of_normal_images_is_evaluated_for_false_positives(
    run: tuple[Model, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A detector's false-positive rate on normal studies (a CSV of images without boxes) was refused: 'none of
    the annotated images has a box'. It is scored, and said to have no boxes: TBX11K's all_test.json (its labels
    withheld) became the test split, reported as "false_positives_per_image 56.3" without a word."""
    import logging

    model, voc = run
    table = _csv(tmp_path / "normal.csv", [(image, []) for image, _ in _objects(voc)], {})
    with caplog.at_level(logging.WARNING, logger="medimg"):
        metrics = model.evaluate(table, split="all", n_resamples=10, out_dir=tmp_path / "e").metrics
    assert metrics["n"] == 12 and metrics["n_boxes"] == 0 and metrics["map50"] is None
    assert metrics["false_positives_per_image"] is not None and set(metrics["froc"].values()) == {None}
    assert "12 all images, none with a box. The split holds no reference boxes" in caplog.text
    assert (
        "The split holds no reference boxes: mAP and FROC are undefined" in (tmp_path / "e" / "report.html").read_text()
    )


def test_a_class_spelt_in_decomposed_unicode_is_the_runs_class() -> None:
    """'Lésion' as macOS writes it into names (e + combining accent) was refused as a class the run does not
    detect: classes were folded with casefold() alone, not the project's class key (which also composes)."""
    from types import SimpleNamespace

    from medimg.data.case import Box, Case
    from medimg.tasks.detect.task import cases_in_run_classes

    data = SimpleNamespace(class_names=["normal", " LE\u0301SION"], name="external")
    boxes = [Box(1, 1, 5, 5, label=1), Box(2, 2, 6, 6, label=0)]
    cases = [Case(case_id="a", label=None, path=Path("a.png"), boxes=boxes)]
    (matched,) = cases_in_run_classes(data, cases, ["l\u00e9sion", "normal"])
    assert [b.label for b in matched.boxes or ()] == [0, 1]
