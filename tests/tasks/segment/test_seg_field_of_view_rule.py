"""A model trained on fundus-style images with field-of-view masks finds each new image's field of view and predicts
background outside it (a tester's vessel model drew "vessel" over the black surround of DRIVE's test images)."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import numpy as np
import pytest


def fundus(
    rng: np.random.Generator, size: int = 48, *, scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(RGB uint8 (size, size, 3), vessels (size, size) bool, field of view bool)``: a bright disc on a dark,
    noisy surround, crossed by dark vessels; ``scale`` dims or brightens the whole photograph (another camera)."""
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    centre = size / 2 + rng.uniform(-2, 2, 2)
    disc = (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= (0.42 * size) ** 2
    vessels = np.zeros((size, size), bool)
    for _ in range(3):
        angle, offset = rng.uniform(0, np.pi), rng.uniform(-size / 5, size / 5)
        distance = np.abs((xx - centre[1]) * np.sin(angle) - (yy - centre[0]) * np.cos(angle) - offset)
        vessels |= distance < 1.2
    vessels &= disc
    shade = 90 + 50 * (1 - ((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (0.42 * size) ** 2)  # bright centre
    red = np.where(disc, shade, 6.0) - 45 * vessels + rng.normal(0, 4, (size, size))
    rgb = np.stack([red, 0.55 * red, 0.25 * red], axis=-1) * scale
    return np.clip(rgb, 0, 255).astype(np.uint8), vessels, disc


def channels_first(rgb: np.ndarray) -> np.ndarray:
    return rgb.transpose(2, 0, 1).astype(np.float32)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def learned_rule(n: int = 8, seed: int = 0):  # type: ignore[no-untyped-def]
    from medimg.tasks.segment.field_of_view import FieldOfViewLearner

    rng = np.random.default_rng(seed)
    learner = FieldOfViewLearner()
    for _ in range(n):
        rgb, _, disc = fundus(rng)
        learner.add(channels_first(rgb), disc)
    return learner.rule()


def test_the_rule_learned_from_training_masks_finds_the_field_of_view_of_a_new_image() -> None:
    from medimg.tasks.segment.field_of_view import field_of_view_of

    rule = learned_rule()
    assert rule is not None and rule.cases == 8 and rule.min_agreement >= 0.95
    rng = np.random.default_rng(7)
    for scale in (1.0, 0.5, 1.6):  # darker and brighter photographs: the threshold follows each image
        rgb, _, disc = fundus(rng, 64, scale=scale)
        region = field_of_view_of(rule, channels_first(rgb), "new.png")
        assert region is not None and iou(region, disc) > 0.97


def test_an_image_without_a_dark_surround_is_segmented_everywhere_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from medimg.tasks.segment.field_of_view import field_of_view_of

    rule = learned_rule()
    rgb, _, _ = fundus(np.random.default_rng(3), 64)
    inside = channels_first(rgb)[:, 20:44, 20:44]  # cropped inside the disc: its dark vessels reach the border
    with caplog.at_level(logging.WARNING):
        assert field_of_view_of(rule, inside, "cropped.png") is None
    assert "cropped.png: no dark surround like the training images' field of view" in caplog.text
    assert field_of_view_of(rule, np.full((3, 32, 32), 7.0, np.float32), "blank.png") is None
    assert field_of_view_of(None, channels_first(rgb)) is None


def test_regions_of_interest_that_are_not_the_bright_region_give_no_rule() -> None:
    from medimg.tasks.segment.field_of_view import FieldOfViewLearner

    rng = np.random.default_rng(1)
    drawn, whole = FieldOfViewLearner(), FieldOfViewLearner()
    for _ in range(4):
        rgb, _, _ = fundus(rng)
        square = np.zeros(rgb.shape[:2], bool)
        square[4:30, 10:40] = True  # a drawn region of interest, not the disc
        drawn.add(channels_first(rgb), square)
        whole.add(channels_first(rgb), np.ones(rgb.shape[:2], bool))
        whole.add(channels_first(rgb), None)
    assert drawn.rule() is None
    assert whole.rule() is None  # nothing outside: no field of view to learn


def write_fundus_dataset(root: Path, n: int, seed: int = 0) -> Path:
    """``root/images``, ``root/masks`` (vessels 0/255), ``root/fov`` (the disc 0/255)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for folder in ("images", "masks", "fov"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        rgb, vessels, disc = fundus(rng)
        Image.fromarray(rgb).save(root / "images" / f"eye_{i:02d}.png")
        Image.fromarray((vessels * 255).astype(np.uint8)).save(root / "masks" / f"eye_{i:02d}.png")
        Image.fromarray((disc * 255).astype(np.uint8)).save(root / "fov" / f"eye_{i:02d}.png")
    return root


def test_a_fundus_model_predicts_background_outside_each_images_field_of_view(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Through fit (the fingerprint learns the rule, the plan carries it), predict and the saved plan; the surround
    of an unseen photograph comes back background although the network alone marks vessel there."""
    from PIL import Image

    from medimg import Model
    from medimg.io import read_image
    from medimg.tasks.segment.evaluate import segment_image
    from tests.serve.support import service_client

    data = write_fundus_dataset(tmp_path / "eyes", 10)
    run = tmp_path / "run"
    model = Model("unet", task="segment", epochs=2, iterations_per_epoch=3, channels=[8, 16, 32], tta=False).fit(
        data, run_dir=run, seed=0, progress=False, tensorboard=False
    )
    rule = json.loads((run / "plan.json").read_text())["field_of_view"]
    assert rule is not None and rule["cases"] >= 6 and rule["min_agreement"] >= 0.95
    fingerprint = json.loads((run / "fingerprint.json").read_text())
    assert fingerprint["field_of_view"] == rule and fingerprint["roi_mask_cases"] == rule["cases"]

    rgb, _, disc = fundus(np.random.default_rng(99), 64)
    rgb[~disc] = rgb[~disc] // 2 + np.uint8(3)  # another camera's surround, still dark
    Image.fromarray(rgb).save(tmp_path / "unseen.png")
    plan = model.plan_.model_copy(update={"field_of_view": None})
    everywhere, _ = segment_image(model.network_, plan, read_image(tmp_path / "unseen.png"))
    with caplog.at_level(logging.INFO):
        (found,) = model.predict([tmp_path / "unseen.png"], out_dir=tmp_path / "out")
    assert found.mask_path is not None
    mask = np.asarray(Image.open(found.mask_path)) > 0
    assert not mask[~disc].any()
    assert (mask[disc] == (everywhere[disc] > 0)).all()  # inside, the network's own answer
    assert "predictions are background outside the images' bright region" in caplog.text
    assert "region-of-interest masks" not in caplog.text  # the warning for rules that could not be learned
    assert everywhere[~disc].any()  # the network alone marks vessel on the untrained surround (1,127 px of 1,385)

    from medimg.export import OnnxPredictor
    from medimg.export.segment import segment_preprocessing_steps

    model.export(tmp_path / "eyes.onnx")
    predictor = OnnxPredictor(tmp_path / "eyes.onnx")
    assert predictor.field_of_view is not None and predictor.field_of_view.model_dump() == rule
    labels, _ = predictor.segment_image(read_image(tmp_path / "unseen.png"))
    assert (labels > 0).tolist() == mask.tolist()  # the ONNX Runtime path cuts the same field of view
    assert any(step.startswith("field of view: ") for step in segment_preprocessing_steps(predictor.preprocessing))

    with service_client(run, tmp_path / "reports.db") as (client, headers):
        upload = ("unseen.png", (tmp_path / "unseen.png").read_bytes(), "application/octet-stream")
        response = client.post("/v1/predictions", headers=headers, files={"file": upload})
        assert response.status_code == 201, response.text
        served = client.get(response.json()["segmentation"]["mask"], headers=headers)
    assert (np.asarray(Image.open(io.BytesIO(served.content))) > 0).tolist() == mask.tolist()  # the web service too


def test_set_field_of_view_null_segments_everywhere() -> None:
    """``--set field_of_view=null`` (and ``grad_clip_norm=null``) were dropped as "not given" like the CLI's unset
    options, so the planned rule stayed in force without a word."""
    from medimg.tasks.segment.planning import SegPlan, resolve_seg_plan

    planned = SegPlan(field_of_view=learned_rule(4))
    assert planned.field_of_view is not None
    resolved = resolve_seg_plan(planned, {"field_of_view": None, "grad_clip_norm": None, "input_size": None})
    assert resolved.field_of_view is None and resolved.grad_clip_norm is None
    assert resolved.reasons["field_of_view"] == "set by user"
    assert resolve_seg_plan(planned, {"epochs": None}).field_of_view == planned.field_of_view
