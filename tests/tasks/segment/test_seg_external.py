"""External evaluation of segmentation: masks in another encoding mapped to the run's classes, and the pixel scale
of inputs compared with training (issue 14)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.data.case import SegCase
from medimg.errors import ConfigError, DatasetError
from medimg.io.image import ImageData
from medimg.tasks.segment.arrays import network_shape
from medimg.tasks.segment.external import (
    MaskSurvey,
    external_label_encoding,
    parse_mask_labels,
    survey_masks,
)
from medimg.tasks.segment.labels import IGNORE, ColourTable, determine_label_encoding, encode_mask
from medimg.tasks.segment.scale import ScaleMonitor, TrainingScale, relative_scale, validate_scale

BINARY = ["background", "foreground"]


def _survey(values: list[float], source: str = "ext/masks/a.png") -> MaskSurvey:
    return MaskSurvey(values={float(v): source for v in values})


# ------------------------------------------------------------------------------------------- mask encodings
def test_masks_that_fit_the_run_keep_its_encoding() -> None:
    run = determine_label_encoding({0.0, 255.0})
    assert external_label_encoding(_survey([0, 255]), run, BINARY) is run
    assert external_label_encoding(_survey([0]), run, BINARY) is run  # an image without foreground


def test_masks_renumbered_0_to_3_for_a_run_trained_on_0_1_4_7_are_refused() -> None:
    """They fitted the run's 8 class indices and were scored as they were (Dice 0.20; 0.97 with --mask-labels): 2
    and 3 are classes no training mask held."""
    names = ["background", *(f"class_{k}" for k in range(1, 8))]
    run = determine_label_encoding({0.0, 1.0, 4.0, 7.0})
    with pytest.raises(DatasetError, match=r"never held 2, 3.*--mask-labels '0=background,1=class_1,2=class_4,3=cl"):
        external_label_encoding(_survey([0, 1, 2, 3]), run, names)
    assert external_label_encoding(_survey([0, 1, 7]), run, names) is run  # the run's own values
    saved_before = run.model_copy(update={"unused": []})  # a plan saved before the field: read from its note
    with pytest.raises(DatasetError, match="never held 2, 3"):
        external_label_encoding(_survey([0, 1, 2, 3]), saved_before, names)


def test_the_runs_own_test_masks_holding_classes_no_training_mask_held_are_scored_not_refused() -> None:
    """CTSpine1K: vertebrae C1 and C2 only in the test cases. fit trained (warning of the empty classes), then
    refused its own test split as 'numbered differently' and suggested a --mask-labels shift of every vertebra."""
    names = ["background", *(f"class_{k}" for k in range(1, 8))]
    run = determine_label_encoding({0.0, 3.0, 4.0, 7.0})
    assert external_label_encoding(_survey([0, 1, 2, 3]), run, names, own_data=True) is run
    with pytest.raises(DatasetError, match="never held 1, 2"):  # another set's masks: still refused
        external_label_encoding(_survey([0, 1, 2, 3]), run, names)


def test_the_suggested_mask_labels_keep_the_runs_values_and_name_every_value() -> None:
    """MM-WHS: codes 205..850 (7 structures), and a stray 421 in one test mask. The suggested --mask-labels mapped by
    rank: every structure from 421 up shifted one class (500 became class_3, 421's class), and 850 was left out
    (only 8 values shown); the user who copied it scored mismatched classes."""
    codes = [0.0, 205.0, 420.0, 500.0, 550.0, 600.0, 820.0, 850.0]
    names = ["background", *(f"class_{k}" for k in range(1, 8))]
    run = determine_label_encoding(set(codes))
    with pytest.raises(DatasetError) as refused:
        external_label_encoding(_survey([*codes, 421.0]), run, names)
    suggested = re.search(r"--mask-labels '([^']+)'", str(refused.value))
    assert suggested is not None
    assert suggested.group(1) == (
        "0=background,205=class_1,420=class_2,421=ignore,500=class_3,550=class_4,600=class_5,820=class_6,850=class_7"
    )
    mapped = external_label_encoding(_survey([*codes, 421.0]), run, names, mask_labels=parse_mask_labels(suggested[1]))
    np.testing.assert_array_equal(encode_mask(np.array([[[500, 421, 850]]], np.float32), mapped), [[3, IGNORE, 7]])


def test_jpeg_masks_for_a_run_trained_on_png_ones_are_snapped_to_its_values() -> None:
    """A 0/1 set saved as JPEG holds 0, 1, 2 (ringing): before, 'hold 3 classes but the run has 2'."""
    run = determine_label_encoding({0.0, 1.0})
    encoding = external_label_encoding(_survey([0, 1, 2], "ext/masks/a.jpg"), run, BINARY)
    assert encoding.snap == [0.0, 1.0] and "JPEG" in encoding.note
    np.testing.assert_array_equal(encode_mask(np.array([[[0, 1, 2]]], np.float32), encoding), [[0, 1, 1]])
    with pytest.raises(DatasetError, match="3 classes"):  # the same values in PNG files are a third class
        external_label_encoding(_survey([0, 1, 2]), run, BINARY)


def test_255_masks_for_a_run_trained_on_0_1_masks_are_mapped_not_ignored() -> None:
    """0/255 under a 0/1 (class index) run used to decode 255 as the ignore label: foreground left out, Dice 0."""
    run = determine_label_encoding({0.0, 1.0})
    encoding = external_label_encoding(_survey([0, 255]), run, BINARY, dataset_name="ext")
    assert encoding is not run and "mapped by rank" in encoding.note and "255 -> foreground" in encoding.note
    np.testing.assert_array_equal(encode_mask(np.array([[[0, 255]]], np.float32), encoding), [[0, 1]])


def test_0_1_masks_for_a_0_255_or_thresholded_run_are_mapped_by_rank() -> None:
    for run in (determine_label_encoding({0.0, 255.0}), determine_label_encoding({float(v) for v in range(0, 256, 5)})):
        encoding = external_label_encoding(_survey([0, 1]), run, BINARY)
        assert "mapped by rank" in encoding.note
        np.testing.assert_array_equal(encode_mask(np.array([[[1, 0]]], np.float32), encoding), [[1, 0]])


def test_multi_class_masks_map_by_rank_when_the_count_matches_else_name_the_file_and_the_fix() -> None:
    names = ["background", "cytoplasm", "nucleus"]
    run = determine_label_encoding({0.0, 128.0, 255.0})  # gray-level classes
    encoding = external_label_encoding(_survey([0, 1, 2]), run, names)
    assert "0 -> background, 1 -> cytoplasm, 2 -> nucleus" in encoding.note
    np.testing.assert_array_equal(encode_mask(np.array([[[2, 0, 1]]], np.float32), encoding), [[2, 0, 1]])
    with pytest.raises(DatasetError, match=r"ext/masks/a\.png.*2 classes.*3\s+classes.*--mask-labels '0=background"):
        external_label_encoding(_survey([0, 1]), run, names)


def test_classes_named_by_the_data_map_by_name() -> None:
    names = ["background", "anterior", "posterior"]
    run = determine_label_encoding({0.0, 1.0, 2.0})
    value_names = {0: "background", 10: "Posterior", 20: "anterior"}  # a dataset.json in another order
    encoding = external_label_encoding(_survey([0, 10, 20]), run, names, value_names=value_names)
    assert encoding.kind == "mapping" and "by name" in encoding.note
    np.testing.assert_array_equal(encode_mask(np.array([[[0, 10, 20]]], np.float32), encoding), [[0, 2, 1]])
    # names win over values that happen to fit the run's 0..2; the same names in the same order change nothing
    partial = {0: "background", 1: "posterior"}  # value 2 unnamed: no mapping by name; the values fit the run's
    assert external_label_encoding(_survey([0, 1, 2]), run, names, value_names=partial) is run
    swapped = external_label_encoding(
        _survey([0, 1, 2]), run, names, value_names={0: "background", 1: "posterior", 2: "anterior"}
    )
    np.testing.assert_array_equal(encode_mask(np.array([[[1, 2]]], np.float32), swapped), [[2, 1]])
    assert external_label_encoding(_survey([0, 1, 2]), run, names, value_names=dict(enumerate(names))) is run
    # names the run does not know: mapped by rank, and the note says why
    other = external_label_encoding(_survey([0, 10, 20]), run, names, value_names={0: "bg", 10: "a", 20: "b"})
    assert "not among the run's classes" in other.note and "mapped by rank" in other.note


def test_another_colour_table_maps_by_class_name() -> None:
    run_table = ColourTable(
        colours={"255,0,0": 0, "0,0,128": 1, "0,0,255": 2}, class_names=["background", "cytoplasm", "nucleus"]
    )
    run = determine_label_encoding([], colour_table=run_table)
    theirs = ColourTable(
        name="theirs",
        colours={"0,0,0": 0, "0,255,0": 1, "255,255,0": 2, "9,9,9": IGNORE},
        class_names=["background", "nucleus", "cytoplasm"],
    )
    survey = MaskSurvey(colours={(0, 0, 0): "m.png", (0, 255, 0): "m.png", (255, 255, 0): "m.png"})
    encoding = external_label_encoding(survey, run, run_table.class_names, colour_table=theirs)
    assert encoding.kind == "colour" and "by name" in encoding.note
    rgb = np.array([[[0, 0, 255]], [[0, 255, 255]], [[0, 0, 0]]], np.float32)  # (3, 1, 3): black, green, yellow
    np.testing.assert_array_equal(encode_mask(rgb, encoding), [[0, 2, 1]])


def test_mask_labels_say_which_value_is_which_class(tmp_path: Path) -> None:
    assert parse_mask_labels("0=background, 255=vessel") == {"0": "background", "255": "vessel"}
    assert parse_mask_labels("255,0,0=background;0,0,255=nucleus") == {"255,0,0": "background", "0,0,255": "nucleus"}
    (tmp_path / "labels.json").write_text(json.dumps({"labels": {"0": "background", "7": "foreground"}}))
    assert parse_mask_labels(str(tmp_path / "labels.json")) == {"0": "background", "7": "foreground"}
    with pytest.raises(ConfigError, match="VALUE=CLASS"):
        parse_mask_labels("background")
    vertebrae = ",".join(f"{k}={'background' if k == 0 else f'class_{k}'}" for k in range(26))  # no file name
    assert len(parse_mask_labels(vertebrae) or {}) == 26  # was: "cannot write or read ...: File name too long"
    run = determine_label_encoding({0.0, 255.0})
    labels = {"0": "background", "7": "foreground", "9": "ignore"}
    encoding = external_label_encoding(_survey([0, 7, 9]), run, BINARY, mask_labels=labels)
    np.testing.assert_array_equal(encode_mask(np.array([[[7, 9, 0]]], np.float32), encoding), [[1, IGNORE, 0]])
    with pytest.raises(DatasetError, match=r"ext/masks/a\.png holds 3"):
        external_label_encoding(_survey([0, 3, 7]), run, BINARY, mask_labels=labels)
    with pytest.raises(ConfigError, match=r"foregroud.*Did you mean"):
        external_label_encoding(_survey([0, 7]), run, BINARY, mask_labels={"0": "background", "7": "foregroud"})


def test_survey_reads_every_mask_and_remembers_a_file_per_value(tmp_path: Path) -> None:
    Image.fromarray(np.array([[0, 1]], np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.array([[0, 2]], np.uint8)).save(tmp_path / "b.png")
    (tmp_path / "broken.png").write_bytes(b"not a png")  # left out: reading the cases reports it
    cases = [SegCase(name, tmp_path / name, tmp_path / name) for name in ("a.png", "broken.png", "b.png")]
    survey = survey_masks([*cases, SegCase("unlabelled.png", tmp_path / "unlabelled.png", None)])
    assert survey.values == {0.0: str(tmp_path / "a.png"), 1.0: str(tmp_path / "a.png"), 2.0: str(tmp_path / "b.png")}


def test_survey_reads_structure_masks_composed(tmp_path: Path) -> None:
    """One file per structure (TotalSegmentator): the survey sees the label map training reads, not the first
    file's 0/1."""
    Image.fromarray(np.array([[0, 1, 0]], np.uint8)).save(tmp_path / "liver.png")
    Image.fromarray(np.array([[0, 0, 255]], np.uint8)).save(tmp_path / "spleen.png")
    structures = ((1, tmp_path / "liver.png"), (2, tmp_path / "spleen.png"))
    case = SegCase("case", tmp_path / "image.png", tmp_path / "liver.png", structures=structures)
    assert sorted(survey_masks([case]).values) == [0.0, 1.0, 2.0]


def test_near_grey_palette_masks_count_as_grey_and_colour_masks_without_a_table_name_the_fix() -> None:
    """DRIVE's second-observer GIFs read as RGB (4,2,4)/(252,254,252): binary, mapped by rank."""
    palette = np.zeros((3, 2, 2), np.float32)
    palette[:, 0, 0], palette[:, 1, 1] = (4, 2, 4), (252, 254, 252)
    palette[:, 0, 1], palette[:, 1, 0] = (4, 2, 4), (4, 2, 4)
    survey = MaskSurvey()
    survey.add(palette, "2nd_manual/01.gif")
    assert survey.values == {4.0: "2nd_manual/01.gif", 252.0: "2nd_manual/01.gif"} and not survey.colours
    encoding = external_label_encoding(survey, determine_label_encoding({0.0, 255.0}), BINARY)
    np.testing.assert_array_equal(encode_mask(palette, encoding), [[0, 0], [0, 1]])
    coloured = MaskSurvey(colours={(200, 0, 0): "c.png", (0, 0, 50): "c.png"})  # the darker one first
    with pytest.raises(DatasetError, match=r"c\.png.*--mask-labels '0,0,50=background;200,0,0=foreground'"):
        external_label_encoding(coloured, determine_label_encoding({0.0, 255.0}), BINARY)


# --------------------------------------------------------------------------------------------- pixel scale
def test_scale_resizes_the_network_input() -> None:
    plan = {"spatial_dims": 2, "resample_factor": 1.0}
    assert network_shape((64, 60), None, plan, 0.5) == (32, 30)
    assert network_shape((64, 60), None, {**plan, "resample_factor": 2.0}, 0.5) == (16, 15)
    volume = {"spatial_dims": 3, "target_spacing_mm": [1.0, 1.0, 2.0]}
    assert network_shape((10, 10, 10), (2.0, 2.0, 2.0), volume, 0.5) == (10, 10, 5)
    assert validate_scale(None) == 1.0
    with pytest.raises(ConfigError, match="--scale"):
        validate_scale(0)


def test_a_raster_at_twice_the_training_size_is_reported_with_the_scale_to_try() -> None:
    training = TrainingScale(median_shape=(32, 32), min_shape=(30, 30), max_shape=(36, 36))
    large = ImageData(np.zeros((1, 64, 64), np.float32), source="ext/big.png")
    same = ImageData(np.zeros((1, 34, 31), np.float32), source="ext/same.png")
    assert relative_scale(large, training)[:2] == (2.0, True)  # type: ignore[index]
    assert relative_scale(same, training)[1] is False  # type: ignore[index]
    monitor = ScaleMonitor(training)
    monitor.check(large), monitor.check(same)
    warning = monitor.warning() or ""
    assert "1 of 2 input(s)" in warning and "big.png (64x64 px)" in warning and "--scale 0.5" in warning
    rescaled = ScaleMonitor(training, scale=0.5)
    rescaled.check(large)
    assert rescaled.warning() is None and rescaled.summary()["checked"] == 1


def test_inputs_at_unlike_scales_get_no_single_scale_to_try() -> None:
    """A 100x64 image, a 20x10 crop and a 1x64 strip against 32 px training images: one --scale cannot serve them
    (the advice was '--scale 0.6' for all, the strip included)."""
    training = TrainingScale(median_shape=(32, 32), min_shape=(30, 30), max_shape=(36, 36))
    monitor = ScaleMonitor(training)
    for shape, name in [((100, 64), "big"), ((20, 10), "tiny"), ((1, 64), "line")]:
        monitor.check(ImageData(np.zeros((1, *shape), np.float32), source=f"{name}.png"))
    warning = monitor.warning() or ""
    assert monitor.suggested_scale() is None and "--scale applies one factor" in warning
    assert "rerun with --scale" not in warning


def test_spacing_decides_for_images_that_have_one_and_resampled_volumes_are_not_checked() -> None:
    training = TrainingScale(median_shape=(32, 32), median_spacing_mm=(0.5, 0.5))
    fine = ImageData(np.zeros((1, 32, 32), np.float32), spacing_mm=(0.25, 0.25), source="fine.nii.gz")
    monitor = ScaleMonitor(training)
    assert monitor.check(fine) == pytest.approx(2.0)
    assert "spacing 0.25 x 0.25 mm" in (monitor.warning() or "")
    volume = TrainingScale(median_shape=(8, 8, 8), median_spacing_mm=(1.0, 1.0, 1.0), resampled_by_spacing=True)
    cube = ImageData(np.zeros((1, 16, 16, 16), np.float32), spacing_mm=(0.5, 0.5, 0.5))
    assert relative_scale(cube, volume) is None


# ------------------------------------------------------------------------------------ evaluation end to end
def test_evaluating_0_255_masks_with_a_run_trained_on_0_1_masks_scores_the_foreground(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from medimg import Model
    from medimg.tasks.segment.data import SegmentationDataset
    from medimg.tasks.segment.evaluate import evaluate_cases
    from tests.serve.support import train_tiny_segmentation_run
    from tests.tasks.segment.synthetic import write_2d_pairs

    model = Model.load(train_tiny_segmentation_run(tmp_path_factory))
    assert model.network_ is not None and model.plan_ is not None
    plan = model.plan_.model_copy(update={"label_encoding": determine_label_encoding({0.0, 1.0})})  # a 0/1 run
    dataset = SegmentationDataset.load(write_2d_pairs(tmp_path / "ext", n=3, size=32, seed=5, mask_scale=255))
    with caplog.at_level(logging.WARNING):
        report = evaluate_cases(
            model.network_, plan, dataset, dataset.cases, split="all", out_dir=tmp_path / "r", n_resamples=10
        )
    assert "255 -> foreground" in caplog.text and "255 -> foreground" in report.extra["label_mapping"]
    assert report.metrics["dice_mean"] > 0.3  # was 0: every foreground pixel read as "ignore"
