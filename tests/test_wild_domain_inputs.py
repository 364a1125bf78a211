"""Inputs a trained model was not made for, given at prediction: a blank (constant) image from a failed export, a
nearly blank one, pure noise, a screenshot of text. Each is predicted, flagged out of domain with a plain reason in
the JSON and CSV outputs, and named in a one-line warning (was: a blank image "in domain" at ~0.53, no warning)."""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from medimg.cli.app import app
from medimg.io.image import ImageData
from medimg.planning.domain import TrainingDomain, check_input_domain, describe_training_domain
from tests.serve.support import train_tiny_run


def _anatomy(n: int = 6, size: int = 32) -> tuple[list[np.ndarray], list[dict]]:
    """Smooth 8-bit images (blobs on a dark background, a little noise): structure, as anatomy has."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    arrays = []
    for _ in range(n):
        cy, cx = rng.uniform(0.3, 0.7, 2)
        blob = 200 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 0.05) + rng.normal(0, 3, (size, size))
        arrays.append(np.clip(blob + 20, 0, 255).astype(np.float32)[None])
    return arrays, [{"format": "png", "bits": 8} for _ in arrays]


def _png(array: np.ndarray, source: str = "in.png") -> ImageData:
    return ImageData(array=np.asarray(array, np.float32)[None], source=source, meta={"format": "png", "bits": 8})


@pytest.fixture(scope="module")
def domain() -> TrainingDomain:
    return describe_training_domain(*_anatomy())


@pytest.mark.parametrize("value", [0, 128, 255])
def test_a_constant_image_is_out_of_domain_as_blank(domain: TrainingDomain, value: int) -> None:
    verdict = check_input_domain(_png(np.full((32, 32), value)), domain)
    assert not verdict.in_domain
    assert verdict.reasons[0].startswith(f"a blank image (every pixel is {value};"), verdict.reasons
    assert not any("reach only" in r for r in verdict.reasons)  # the blank reason says it plainly


def test_a_nearly_constant_image_is_out_of_domain_as_nearly_blank(domain: TrainingDomain) -> None:
    array = np.full((32, 32), 100.0)
    array[np.random.default_rng(1).random((32, 32)) < 0.01] = 101
    verdict = check_input_domain(_png(array), domain)
    assert any(r.startswith("a nearly blank image") for r in verdict.reasons), verdict.reasons


def test_an_image_like_the_training_images_stays_in_domain(domain: TrainingDomain) -> None:
    arrays, _ = _anatomy(n=3)
    assert check_input_domain(_png(arrays[2][0]), domain).in_domain


def test_pure_noise_is_out_of_domain_for_a_model_trained_on_structure(domain: TrainingDomain) -> None:
    noise = np.random.default_rng(2).integers(0, 256, (32, 32))
    verdict = check_input_domain(_png(noise), domain)
    assert any("no image structure" in r for r in verdict.reasons), verdict.reasons
    # a model trained on noise is given noise: nothing to flag
    rng = np.random.default_rng(3)
    noisy = describe_training_domain([rng.integers(0, 256, (1, 32, 32)).astype(np.float32) for _ in range(4)])
    assert check_input_domain(_png(noise), noisy).in_domain
    # a run trained before the texture was recorded is not judged by it
    old = domain.model_copy(update={"min_texture": None})
    assert check_input_domain(_png(noise), old).in_domain


def test_a_model_trained_on_constant_images_does_not_call_them_blank() -> None:
    constant = describe_training_domain([np.full((1, 32, 32), 100, np.float32)] * 3)
    assert check_input_domain(_png(np.full((32, 32), 100)), constant).in_domain


def test_a_model_trained_with_blank_images_among_others_does_not_flag_one() -> None:
    """Slices of volumes: the empty ones above the head are training images too."""
    arrays, metas = _anatomy(n=4)
    with_empty = describe_training_domain([*arrays, np.zeros((1, 32, 32), np.float32)], [*metas, metas[0]])
    assert with_empty.blank_images == 1 and describe_training_domain(arrays, metas).blank_images == 0
    assert check_input_domain(_png(np.zeros((32, 32))), with_empty).in_domain


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_run(tmp_path_factory)


def test_predict_flags_a_blank_export_in_csv_and_warns_naming_it(
    tiny_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    Image.fromarray(np.full((32, 32), 128, np.uint8)).save(tmp_path / "failed_export.png")
    sample = sorted((tiny_run.parent / "phantoms" / "normal").glob("*.png"))[0]
    with caplog.at_level(logging.WARNING):
        result = CliRunner().invoke(
            app, ["predict", str(tiny_run), str(tmp_path / "failed_export.png"), str(sample), "--format", "csv"]
        )
    assert result.exit_code == 0, result.output
    table = io.StringIO(result.stdout[result.stdout.find("source,") :])
    rows = {Path(r["source"]).name: r for r in csv.DictReader(table)}
    blank = rows["failed_export.png"]  # predicted, and flagged
    assert blank["label"] and blank["in_domain"] == "no"
    assert "a blank image (every pixel is 128;" in blank["domain_reasons"]
    assert rows[sample.name]["in_domain"] == "yes"  # the training-like image is not flagged
    warnings = [r.getMessage() for r in caplog.records if "failed_export.png" in r.getMessage()]
    assert len(warnings) == 1 and "outside the model's training domain: a blank image (" in warnings[0]


def test_the_python_api_flags_a_black_array(tiny_run: Path) -> None:
    from medimg import Model

    (prediction,) = Model.load(tiny_run).predict(np.zeros((32, 32), np.float32))
    assert prediction.domain is not None and prediction.domain["in_domain"] is False
    assert prediction.domain["reasons"][0].startswith("a blank image (every pixel is 0;")
