"""Segmentation of structures that have a side (left / right lung on a chest X-ray, left / right kidney in a CT):
the planned mirroring must not swap them."""

from __future__ import annotations

import pytest

from medimg.planning.fingerprint import IntensityStats
from medimg.tasks.segment.labels import LabelEncoding
from medimg.tasks.segment.planning import SegFingerprint, determine_augmentation, make_seg_plan
from medimg.tasks.segment.symmetries import plan_tta_passes


def _fingerprint(shape: list[int], names: list[str]) -> SegFingerprint:
    return SegFingerprint(
        dataset="x",
        num_train_cases=100,
        spatial_dims=len(shape),
        channels=1,
        median_shape=shape,
        min_shape=shape,
        max_shape=shape,
        median_spacing_mm=None if len(shape) == 2 else [1.0, 1.0, 1.0],
        modality="png" if len(shape) == 2 else "nifti",
        intensity=IntensityStats(mean=0, std=1, min=0, max=1, percentile_00_5=0, percentile_99_5=1),
        label_encoding=LabelEncoding(kind="identity", num_classes=len(names)),
        class_names=names,
        class_fraction={n: 1 / len(names) for n in names},
        foreground_thickness_px=30.0,
        has_roi=False,
    )


def test_left_and_right_lungs_on_a_radiograph_are_never_mirrored_or_turned() -> None:
    plan = make_seg_plan(_fingerprint([256, 256], ["background", "right lung", "left lung"]))
    assert plan.augmentation.flip_axes == [0] and not plan.augmentation.rotate90
    assert "left-right" in plan.reasons["augmentation"] and "left lung" in plan.reasons["augmentation"]
    for mirrored, turns in plan_tta_passes(plan.model_dump()):  # test-time passes follow the training symmetries
        assert 1 not in mirrored and turns % 2 == 0 and turns == 0


def test_sided_kidneys_in_a_volume_are_not_mirrored_across_the_left_right_axis() -> None:
    aug, reason = determine_augmentation(_fingerprint([64, 64, 64], ["background", "Kidney_L", "Kidney_R"]), [32] * 3)
    assert aug.flip_axes == [1, 2] and "Kidney_L" in reason


def test_unsided_classes_keep_every_mirror() -> None:
    aug, _ = determine_augmentation(_fingerprint([256, 256], ["background", "vessel"]), [128, 128])
    assert aug.flip_axes == [0, 1] and aug.rotate90


@pytest.mark.parametrize(
    ("name", "sided"),
    [
        ("left lung", True),
        ("RightAdrenal", True),
        ("kidney-l", True),
        ("Rt kidney", True),
        ("lung", False),
        ("bright spot", False),
        ("vertebrae_L1", False),
        ("lung_upper_lobe_left", True),
        ("clavicle", False),
        ("lr", False),
    ],
)
def test_side_names(name: str, sided: bool) -> None:
    from medimg.tasks.segment.planning import sided_classes

    assert bool(sided_classes([name])) is sided


@pytest.mark.parametrize(
    ("channel_names", "expected"), [(["CT"], "ct"), (["ct "], "ct"), (["T2"], "zscore"), (None, "zscore")]
)
def test_nifti_ct_named_by_its_dataset_json_gets_the_ct_normalisation(
    channel_names: list[str] | None, expected: str
) -> None:
    """MSD's CT tasks (dataset.json ``"modality": {"0": "CT"}``) are NIfTI, which carries no modality: they were
    planned as "nifti" and z-scored per image, throwing away what HU mean; nnU-Net normalises them as CT."""
    import numpy as np

    from medimg.tasks.segment.planning import extract_seg_fingerprint

    rng = np.random.default_rng(0)
    image = rng.normal(-500, 400, (1, 16, 16, 8)).astype(np.float32)
    labels = np.zeros((16, 16, 8), dtype=np.uint8)
    labels[4:10, 4:10, 2:6] = 1
    meta = {"format": "nifti", **({"channel_names": channel_names} if channel_names else {})}
    encoding = LabelEncoding(kind="identity", num_classes=2)
    fp = extract_seg_fingerprint("x", [(image, labels, [1.0, 1.0, 1.0], meta)], 1, encoding, ["background", "spleen"])
    assert make_seg_plan(fp).normalisation == expected


def test_teeth_named_by_fdi_numbers_are_never_mirrored_or_turned() -> None:
    """The Supervisely teeth set (classes ``11``...``48``, FDI numbers: the quadrant first): planned flips on both
    axes and test-time mirrors turned a tooth 11 into 21 and 41 under its own label; 12.6% of the test teeth were
    read as the other side's (test Dice 0.648, 0.826 without flips)."""
    teeth = [f"{q}{t}" for q in range(1, 5) for t in range(1, 9)]
    plan = make_seg_plan(_fingerprint([256, 256], ["background", *teeth]))
    assert plan.augmentation.flip_axes == [] and not plan.augmentation.rotate90
    assert "FDI tooth numbers" in plan.reasons["augmentation"] and "11, 12, 13, 14, ..." in plan.reasons["augmentation"]
    assert plan_tta_passes(plan.model_dump()) == [((), 0)]
    aug, _ = determine_augmentation(
        _fingerprint([64, 64, 64], ["background", "tooth_11", "tooth_21", "Tooth 31", "tooth_41"]), [32] * 3
    )
    assert aug.flip_axes == []


@pytest.mark.parametrize(
    "names", [["background", "11", "12", "13", "14"], ["background", "class_1", "class_2"], ["1", "2", "3", "4", "5"]]
)
def test_numbers_of_one_quadrant_or_not_teeth_keep_their_mirrors(names: list[str]) -> None:
    aug, _ = determine_augmentation(_fingerprint([256, 256], names), [128, 128])
    assert aug.flip_axes == [0, 1]
