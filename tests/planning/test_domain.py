"""Input-domain check: the training domain a fingerprint records, and each inference input compared with it."""

from __future__ import annotations

import numpy as np
import pytest

from medimg.io.image import ImageData
from medimg.planning.domain import (
    InputReader,
    TrainingDomain,
    check_input_domain,
    describe_training_domain,
    domain_from_fingerprint,
    effective_channels,
    load_training_domain,
)


def _png_like(n: int = 6, size: int = 32, seed: int = 0) -> tuple[list[np.ndarray], list[dict]]:
    rng = np.random.default_rng(seed)
    arrays = [rng.integers(0, 256, (1, size, size)).astype(np.float32) for _ in range(n)]
    return arrays, [{"format": "png", "bits": 8} for _ in arrays]


def _mr16(size: int = 32) -> ImageData:
    array = np.linspace(0, 2000, size * size, dtype=np.float32).reshape(1, size, size)
    meta = {"format": "dicom", "modality": "MR", "bits_stored": 16, "photometric_interpretation": "MONOCHROME2"}
    return ImageData(array=array, source="mr.dcm", meta=meta)


def test_an_8bit_png_like_input_is_in_the_domain() -> None:
    arrays, metas = _png_like()
    domain = describe_training_domain(arrays, metas)
    assert domain.formats == {"png": 6} and domain.bits == {"8": 6} and domain.channels == {"1": 6}
    image = ImageData(array=arrays[0].copy(), source="a.jpg", meta={"format": "jpeg", "bits": 8})
    verdict = check_input_domain(image, domain)
    assert verdict.in_domain, verdict.reasons  # a JPEG is a raster like the PNGs: same family
    assert verdict.to_dict() == {"in_domain": True, "reasons": []}


def test_a_png_given_to_a_model_trained_on_medmnist_npz_is_in_the_domain() -> None:
    arrays, _ = _png_like()
    domain = describe_training_domain(arrays, [{"format": "medmnist"} for _ in arrays])
    image = ImageData(array=arrays[0].copy(), source="a.png", meta={"format": "png", "bits": 8})
    assert check_input_domain(image, domain).in_domain  # the .npz holds 8-bit rasters: a PNG export is the same
    dicom = ImageData(array=arrays[0].copy(), source="a.dcm", meta={"format": "dicom", "modality": "CR"})
    assert not check_input_domain(dicom, domain).in_domain


def test_saved_arrays_are_one_family_apart_from_rasters() -> None:
    """A model trained on TransUNet's ``.npz`` slices is given its ``.h5`` test volumes (and ``.npy`` files)."""
    arrays, _ = _png_like()
    domain = describe_training_domain(arrays, [{"format": "npz"} for _ in arrays])
    for fmt in ("hdf5", "npy", "npz"):
        image = ImageData(array=arrays[0].copy(), source=f"a.{fmt}", meta={"format": fmt})
        assert check_input_domain(image, domain).in_domain, fmt
    png = ImageData(array=arrays[0].copy(), source="a.png", meta={"format": "png", "bits": 8})
    assert "a png image; the model was trained on npz images" in check_input_domain(png, domain).reasons
    # a MedMNIST set's image saved alone with np.save (a 3D volume's natural file) is the same kind of input
    medmnist = describe_training_domain(arrays, [{"format": "medmnist"} for _ in arrays])
    npy = ImageData(array=arrays[0].copy(), source="vol.npy", meta={"format": "npy"})
    assert check_input_domain(npy, medmnist).in_domain


def test_volume_files_are_one_family() -> None:
    """An ``.nrrd`` (3D Slicer) given to a model trained on ``.mha`` volumes was "outside the model's training domain:
    a nrrd image"; medimg reads both, and NIfTI, with the same axes, spacing and affine."""
    arrays, _ = _png_like()
    domain = describe_training_domain(arrays, [{"format": "metaimage"} for _ in arrays])
    for fmt in ("nrrd", "nifti", "metaimage"):
        image = ImageData(array=arrays[0].copy(), source=f"a.{fmt}", meta={"format": fmt})
        assert check_input_domain(image, domain).in_domain, fmt
    dicom = ImageData(array=arrays[0].copy(), source="a.dcm", meta={"format": "dicom", "modality": "CT"})
    assert not check_input_domain(dicom, domain).in_domain


def test_raw_16bit_mr_into_an_8bit_model_is_flagged_with_each_reason() -> None:
    domain = describe_training_domain(*_png_like())
    verdict = check_input_domain(_mr16(), domain)
    assert not verdict.in_domain
    text = " | ".join(verdict.reasons)
    assert "DICOM MR" in text and "png" in text
    assert "16-bit" in text
    assert "outside the training range" in text  # raw values up to 2000 vs 0..255


def test_runs_without_a_saved_domain_are_checked_from_their_old_fingerprint() -> None:
    old = {  # a fingerprint.json written before the domain was recorded (the demo run's)
        "num_train_cases": 285,
        "spatial_dims": 2,
        "channels": 1,
        "channel_counts": {"1": 285},
        "median_shape": [32, 32],
        "min_shape": [32, 32],
        "max_shape": [32, 32],
        "median_spacing_mm": None,
        "modality": "png",
        "intensity": {"mean": 55, "std": 48, "min": 0, "max": 241, "percentile_00_5": 1, "percentile_99_5": 174},
    }
    domain = domain_from_fingerprint(old)
    assert domain.formats == {"png": 285} and domain.dicom_display is True
    verdict = check_input_domain(_mr16(), domain)
    assert any("DICOM MR" in r for r in verdict.reasons)
    # trained on raw DICOM MR before the display rule: such runs keep reading MR raw
    assert domain_from_fingerprint({**old, "modality": "MR"}).dicom_display is False
    assert domain_from_fingerprint({**old, "modality": "CT"}).dicom_display is True


def test_channels_spacing_and_size_mismatches() -> None:
    grey = [np.full((1, 32, 32), 100, np.float32) for _ in range(3)]
    metas = [{"format": "png", "bits": 8, "spacing_mm": [0.5, 0.5]} for _ in grey]
    domain = describe_training_domain(grey, metas)
    colour = np.stack([np.full((32, 32), 10.0), np.full((32, 32), 200.0), np.full((32, 32), 90.0)]).astype(np.float32)
    reasons = check_input_domain(ImageData(colour, source="c.png", meta={"format": "png"}), domain).reasons
    assert any("colour image" in r for r in reasons)
    coarse = ImageData(grey[0].copy(), spacing_mm=(1.0, 1.0), source="s.png", meta={"format": "png"})
    assert any("pixel spacing" in r for r in check_input_domain(coarse, domain).reasons)
    big = ImageData(np.full((1, 100, 100), 100, np.float32), source="b.png", meta={"format": "png"})
    assert any("size 100x100" in r for r in check_input_domain(big, domain).reasons)
    dark = ImageData(np.full((1, 32, 32), 0.5, np.float32), source="d.png", meta={"format": "png"})
    assert any("reach only" in r for r in check_input_domain(dark, domain).reasons)  # 0..1 into a 0..255 model


def test_grey_stored_as_rgb_counts_as_grey() -> None:
    grey = np.random.default_rng(0).integers(0, 256, (32, 32)).astype(np.float32)
    assert effective_channels(np.stack([grey, grey, grey])) == 1
    assert effective_channels(np.stack([grey, grey, 255 - grey])) == 3
    domain = describe_training_domain([np.stack([grey, grey, grey])] * 2, [{"format": "png"}] * 2)
    assert domain.channels == {"1": 2} and domain.grey_as_rgb == 2


def test_reader_strict_refuses_and_summary_counts(tmp_path) -> None:
    import pytest
    from PIL import Image

    from medimg.errors import OutOfDomainError

    domain = describe_training_domain(*_png_like())
    inside, outside = tmp_path / "in.png", tmp_path / "big.png"
    pixels = np.random.default_rng(1).integers(0, 256, (32, 32)).astype(np.uint8)  # like training (a blank is not)
    Image.fromarray(pixels).save(inside)
    Image.fromarray(np.full((200, 200), 120, np.uint8)).save(outside)
    reader = InputReader(domain=domain, warn_each=False)
    reader.read(inside)
    reader.read(outside)
    summary = reader.summary()
    assert summary is not None and summary["checked"] == 2 and summary["out_of_domain"] == 1
    assert summary["files"] == [str(outside)]
    with pytest.raises(OutOfDomainError, match="size 200x200"):
        InputReader(domain=domain, strict=True).read(outside)
    assert InputReader(domain=None).read(outside).spatial_shape == (200, 200)  # no domain: no check


def test_training_domain_round_trips_through_json() -> None:
    domain = describe_training_domain(*_png_like())
    assert TrainingDomain.model_validate_json(domain.model_dump_json()) == domain


def test_grey_stored_as_rgb_is_fingerprinted_and_planned_as_grey(tmp_path) -> None:
    from PIL import Image

    from medimg import Dataset
    from medimg.data.loading import read_cases
    from medimg.planning.fingerprint import extract_fingerprint
    from medimg.planning.planner import make_plan

    rng = np.random.default_rng(0)
    for cls in ("normal", "lesion"):
        (tmp_path / cls).mkdir()
        for i in range(4):
            grey = rng.integers(0, 256, (24, 24)).astype(np.uint8)
            Image.fromarray(np.stack([grey] * 3, axis=-1), mode="RGB").save(
                tmp_path / cls / f"{i}.png"
            )  # ultrasound-like
    dataset = Dataset.load(tmp_path)
    loaded = read_cases(dataset, dataset.cases)
    fingerprint = extract_fingerprint(dataset, loaded.cases, loaded.arrays, loaded.metas)
    assert fingerprint.channel_counts == {"3": 8} and fingerprint.channels == 1
    assert fingerprint.domain is not None and fingerprint.domain.grey_as_rgb == 8
    plan = make_plan(fingerprint, bf16_supported=False)
    assert plan.in_channels == 1 and "grayscale" in plan.reasons["augmentation"]


def test_a_classifier_reader_reads_large_images_as_training_does(tmp_path) -> None:
    """The reader of a classification run knows the network's input size, but reads an image as training read it
    (every pixel below 8192 px a side; was: reduced for the network, so predict and evaluate differed); reduced
    only where the budget leaves no other way (tests/io/test_io_limits.py). Other tasks read every pixel."""
    from types import SimpleNamespace

    from PIL import Image

    from medimg.planning.domain import InputReader

    big = tmp_path / "big.png"
    pixels = np.zeros((4096, 3072), np.uint8)
    pixels[::7] = 200
    Image.fromarray(pixels).save(big)
    plan = SimpleNamespace(input_size=[32, 32])
    classifier = InputReader.for_run(SimpleNamespace(task="classify", plan_=plan, metadata_={}, run_dir_=None))
    assert classifier.target_size == [32, 32]
    image = classifier.read(big)
    assert image.array.shape == (1, 4096, 3072) and image.meta.get("reduced_by", 1) == 1
    segmenter = InputReader.for_run(SimpleNamespace(task="segment", plan_=plan, metadata_={}, run_dir_=None))
    assert segmenter.target_size is None and segmenter.read(big).array.shape[1:] == (4096, 3072)


def test_a_window_unlike_the_runs_own_is_said(caplog: pytest.LogCaptureFixture) -> None:
    """A lung-window model given --window soft-tissue: both map to 0..1, so the domain check cannot see it."""
    import logging
    from types import SimpleNamespace

    from medimg.planning.domain import InputReader

    model = SimpleNamespace(metadata_={"input": {"window": "lung"}}, run_dir_=None)
    with caplog.at_level(logging.WARNING, logger="medimg.planning.domain"):
        assert InputReader.for_run(model, window="soft-tissue").window == "soft-tissue"
    assert "trained with window lung (centre -600, width 1500) and is given soft-tissue (centre 40" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="medimg.planning.domain"):
        InputReader.for_run(model, window=(-600.0, 1500.0))  # the same window, written out
        InputReader.for_run(model, window=None)  # the run's own
        InputReader.for_run(SimpleNamespace(metadata_={"input": {"window": "auto"}}, run_dir_=None), window="file")
    assert "trained with window" not in caplog.text


def test_a_photo_stored_sideways_is_said_at_prediction(tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    """`check` warned of EXIF-turned training images, but predict, the API and the service scored a sideways phone
    photo silently."""
    import logging

    from PIL import Image

    from medimg.planning.domain import InputReader

    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees to view
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "phone.jpg", exif=exif)
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "upright.jpg")
    with caplog.at_level(logging.WARNING):
        InputReader().read(tmp_path / "upright.jpg")
        assert "EXIF" not in caplog.text
        InputReader().read(tmp_path / "phone.jpg")
    assert "phone.jpg carries an EXIF orientation 6: viewers show it turned 90 degrees clockwise" in caplog.text


def test_a_resampling_plans_inputs_are_not_judged_by_spacing_or_size(tmp_path) -> None:
    """A 3D segmentation plan resamples every volume to its target spacing and slides windows over it: a 1 mm
    volume against 0.8 x 0.8 x 2.5 mm training was warned of as "structures appear at a different scale" (its
    Dice was 0.956). The run's plan.json says so; a plan without resampling still judges both."""
    import json

    volumes = [np.full((1, 40, 40, 14), 100, np.float32) for _ in range(3)]
    metas = [{"format": "nifti", "spacing_mm": [0.8, 0.8, 2.5]} for _ in volumes]
    domain = describe_training_domain(volumes, metas)
    (tmp_path / "fingerprint.json").write_text(json.dumps({"domain": domain.model_dump()}))
    iso = ImageData(np.full((1, 90, 80, 30), 100, np.float32), spacing_mm=(1.0, 1.0, 1.0), source="iso.nii.gz")
    iso.meta["format"] = "nifti"
    judged = InputReader(domain=load_training_domain(tmp_path)).check(iso)
    assert judged is not None and any("spacing" in r for r in judged.reasons)  # no plan: judged
    (tmp_path / "plan.json").write_text(json.dumps({"target_spacing_mm": [0.8, 0.8, 2.5]}))
    resampled = load_training_domain(tmp_path)
    assert resampled is not None and resampled.resampled_spacing_mm == [0.8, 0.8, 2.5]
    verdict = check_input_domain(iso, resampled)
    assert verdict.in_domain, verdict.reasons
