"""The plan's reasons are true of the data: an anisotropic volume's resize is said in mm as well as voxel counts,
and a volume's axes are not called depth/height/width (read in RAS+ order the last is an axial scan's slices)."""

from __future__ import annotations

from medimg.planning.fingerprint import Fingerprint, IntensityStats
from medimg.planning.planner import make_plan


def _volumes(shape: list[int], spacing: list[float] | None) -> Fingerprint:
    return Fingerprint.model_validate(
        dict(
            dataset="v",
            num_train_cases=12,
            class_names=["a", "b"],
            class_counts={"a": 6, "b": 6},
            spatial_dims=3,
            channels=1,
            channel_counts={"1": 12},
            median_shape=shape,
            min_shape=shape,
            max_shape=shape,
            median_spacing_mm=spacing,
            modality="nifti",
            intensity=IntensityStats(mean=0, std=1, min=-3, max=3, percentile_00_5=-2.5, percentile_99_5=2.5),
            sampled_images=12,
        )
    )


def test_thick_slices_resized_to_a_cube_are_said_in_mm() -> None:
    """Six 5 mm slices of 0.7 mm pixels planned at 32^3 were '5.33x larger in width': the slice axis called
    width, and no word that in mm the voxels end near cubic."""
    reason = make_plan(_volumes([32, 32, 6], [0.7, 0.7, 5.0])).reasons["input_size"]
    assert "(voxels 0.7x0.7x5 mm -> 0.7x0.7x0.938 mm)" in reason
    assert "5.33x larger in axis 2" in reason and "width" not in reason and "depth" not in reason


def test_isotropic_voxels_kept_isotropic_say_nothing_in_mm() -> None:
    assert "voxels" not in make_plan(_volumes([64, 64, 64], [1.0, 1.0, 1.0])).reasons["input_size"]
    assert "voxels" not in make_plan(_volumes([32, 32, 6], None)).reasons["input_size"]
