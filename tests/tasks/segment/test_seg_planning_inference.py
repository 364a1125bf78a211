"""Planner heuristics, plan overrides, sliding-window inference, post-processing and mask writing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from medimg.errors import ConfigError, DatasetError
from medimg.planning.fingerprint import IntensityStats
from medimg.tasks.segment.labels import LabelEncoding
from medimg.tasks.segment.planning import SegFingerprint, SegPlan, make_seg_plan, resolve_seg_plan


def _fingerprint(
    shape: list[int], thickness: float, spacing: list[float] | None = None, elongation: float | None = None
) -> SegFingerprint:
    return SegFingerprint(
        dataset="x",
        num_train_cases=100,
        spatial_dims=len(shape),
        channels=1,
        median_shape=shape,
        min_shape=shape,
        max_shape=shape,
        median_spacing_mm=spacing,
        modality="png",
        intensity=IntensityStats(mean=0, std=1, min=0, max=1, percentile_00_5=0, percentile_99_5=1),
        label_encoding=LabelEncoding(kind="identity", num_classes=2),
        class_names=["background", "foreground"],
        class_fraction={"background": 0.9, "foreground": 0.1},
        foreground_thickness_px=thickness,
        foreground_elongation=elongation,
        has_roi=False,
    )


def test_thin_structures_keep_full_resolution_large_objects_are_downsampled() -> None:
    thin = make_seg_plan(_fingerprint([584, 565], thickness=3.0))
    assert thin.resample_factor == 1 and thin.patch_size == [128, 128]
    thick = make_seg_plan(_fingerprint([256, 256], thickness=60.0))
    assert thick.resample_factor == 2 and thick.patch_size == [128, 128]
    assert "thickness" in thick.reasons["resampling"]


def test_thin_elongated_structures_get_full_resolution_convolutions_and_clahe() -> None:
    vessels = make_seg_plan(_fingerprint([584, 565], thickness=3.2, elongation=2500.0))
    assert vessels.network == "basicunet" and vessels.clahe
    assert "BasicUNet" in vessels.reasons["network"] and "CLAHE" in vessels.reasons["clahe"]
    for blobs in (
        _fingerprint([584, 565], thickness=3.2, elongation=7.0),  # small discs: thin by thickness alone
        _fingerprint([584, 565], thickness=20.0, elongation=2500.0),  # long but thick
        _fingerprint([64, 64, 64], thickness=3.2, spacing=[1.0] * 3),  # volumes keep the UNet
        _fingerprint([584, 565], thickness=3.2),  # a fingerprint of an older run: no elongation
    ):
        plan = make_seg_plan(blobs)
        assert plan.network == "unet" and not plan.clahe and "clahe" not in plan.reasons


def test_elongation_tells_a_line_from_a_disc() -> None:
    from medimg.tasks.segment.planning import ELONGATED, extract_seg_fingerprint

    def elongation(mask: np.ndarray) -> float | None:
        image = np.zeros((1, *mask.shape), dtype=np.float32)
        case = (image, mask.astype(np.uint8), None, {"format": "png"})
        encoding = LabelEncoding(kind="identity", num_classes=2)
        return extract_seg_fingerprint("x", [case], 1, encoding, ["background", "foreground"]).foreground_elongation

    line = np.zeros((200, 200), dtype=np.uint8)
    line[100:104, 10:190] = 1  # 4 px wide, 180 px long: 720 px over a thickness of 3 px (distances 1, 2, 2, 1)
    yy, xx = np.mgrid[:200, :200]
    disc = ((yy - 100) ** 2 + (xx - 100) ** 2 <= 30**2).astype(np.uint8)
    line_elongation = elongation(line)
    assert line_elongation == pytest.approx(720 / 3**2, rel=0.01)
    assert (line_elongation or 0) > ELONGATED
    assert 5 < (elongation(disc) or 0) < 10
    with pytest.raises(DatasetError, match="training masks is empty"):  # no foreground at all: nothing to learn
        elongation(np.zeros((50, 50), dtype=np.uint8))


def test_3d_patch_is_divisible_and_covers_small_volumes() -> None:
    plan = make_seg_plan(_fingerprint([36, 50, 35], thickness=5.0, spacing=[1.0, 1.0, 1.0]))
    assert plan.patch_size == [40, 56, 40] and plan.target_spacing_mm == [1.0, 1.0, 1.0]
    assert all(p % 2 ** (len(plan.channels) - 1) == 0 for p in plan.patch_size)


def test_overrides_are_validated() -> None:
    plan = make_seg_plan(_fingerprint([64, 64], thickness=5.0))
    changed = resolve_seg_plan(plan, {"input_size": 32, "loss": "dice_focal", "augmentation": {"rotate90": False}})
    assert changed.patch_size == [32, 32] and changed.loss == "dice_focal" and changed.reasons["loss"] == "set by user"
    with pytest.raises(ConfigError, match=r"[Dd]id you mean"):
        resolve_seg_plan(plan, {"epoch": 3})
    with pytest.raises(ConfigError, match="loss"):
        resolve_seg_plan(plan, {"loss": "l2"})


def test_input_size_is_checked_as_the_patch_size_before_the_data_are_read() -> None:
    """`medimg fit DATA --task segment --input-size 32` (fit --help offers it) stopped at "unknown plan field
    'input_size'" before resolve_seg_plan could translate it; the Python API's Model(task='segment', input_size=)
    too."""
    from medimg import Model
    from medimg.config import check_overrides

    check_overrides(SegPlan, {"input_size": 32})
    with pytest.raises(ConfigError, match="invalid value for patch_size"):
        check_overrides(SegPlan, {"input_size": 0})
    assert Model("unet", task="segment", input_size=48).plan_overrides == {"input_size": 48}


@pytest.mark.parametrize("name", ["unet", "basicunet", "attention-unet", "segresnet"])
def test_every_2d_network_segments_any_size(name: str) -> None:
    from medimg.tasks.segment.inference import sliding_window_probabilities
    from medimg.tasks.segment.networks import build_segmentation_network

    plan = SegPlan(
        network=name, channels=[8, 16, 32], patch_size=[32, 32], amp="none", num_classes=3, class_names=["a", "b", "c"]
    )
    net = build_segmentation_network(plan).eval()
    probs = sliding_window_probabilities(net, torch.randn(2, 1, 45, 70), plan)
    assert probs.shape == (2, 3, 45, 70)
    torch.testing.assert_close(probs.sum(1), torch.ones(2, 45, 70), atol=1e-4, rtol=0)


def test_vnet_is_3d_only() -> None:
    from medimg.tasks.segment.networks import build_segmentation_network, check_network_name

    with pytest.raises(ConfigError, match="3D"):
        build_segmentation_network(SegPlan(network="vnet"))
    with pytest.raises(ConfigError, match="unet"):
        check_network_name("unett")


def test_postprocessing() -> None:
    from medimg.tasks.segment.inference import select_postprocessing
    from medimg.tasks.segment.masks import postprocess

    labels = np.zeros((10, 10), np.uint8)
    labels[1:5, 1:5] = 1  # 16 px
    labels[8, 8] = 1  # speck
    assert postprocess(labels, "largest_component", 2)[8, 8] == 0
    assert postprocess(labels, "remove_small", 2, min_object_fraction=0.1)[8, 8] == 0
    assert postprocess(labels, "remove_small", 2, min_object_fraction=0.01)[8, 8] == 1
    truth = labels.copy()
    truth[8, 8] = 0
    chosen, scores = select_postprocessing([labels], [truth], 2, min_object_fraction=0.1)
    assert chosen != "none" and scores[chosen] == pytest.approx(1.0)
    chosen, _ = select_postprocessing([labels], [labels], 2, min_object_fraction=0.1)
    assert chosen == "none"  # post-processing must earn its place


def test_written_masks_keep_geometry(tmp_path: Path) -> None:
    from PIL import Image

    from medimg.io import read_image
    from medimg.tasks.segment.masks import write_mask

    labels = np.zeros((5, 6, 7), np.uint8)
    labels[1:3, 2:4, 3:6] = 2
    affine = np.array([[0, 0, 2.0, 10], [0, 1.5, 0, -3], [-1.0, 0, 0, 7], [0, 0, 0, 1]])
    path = write_mask(labels, tmp_path / "m.nii.gz", affine=affine, num_classes=3)
    back = read_image(path)
    np.testing.assert_allclose(back.affine, affine)
    np.testing.assert_array_equal(back.array[0], labels)
    binary = write_mask((labels[0] > 0).astype(np.uint8), tmp_path / "b.png", num_classes=2)
    assert np.asarray(Image.open(binary)).shape == (6, 7)
    colour = write_mask(labels[1], tmp_path / "c.png", colours={0: (255, 0, 0), 2: (0, 0, 255)}, num_classes=3)
    rgb = np.asarray(Image.open(colour))
    assert tuple(rgb[0, 0]) == (255, 0, 0) and tuple(rgb[2, 3]) == (0, 0, 255)


@pytest.mark.parametrize("dims", [2, 3])
def test_augmentation_keeps_images_and_labels_aligned(dims: int) -> None:
    from medimg.tasks.segment.planning import SegAugmentation
    from medimg.tasks.segment.sampling import augment_batch

    shape = (6, 8, 8) if dims == 2 else (6, 8, 8, 8)
    y = torch.randint(0, 3, shape)
    x = torch.stack([y.float(), -y.float()], dim=1)  # both channels encode the label
    aug = SegAugmentation(flip_axes=list(range(dims)), rotate90=True)
    gx, gy = augment_batch(x.clone(), y.clone(), aug, torch.Generator().manual_seed(1))
    torch.testing.assert_close(gx[:, 0], gy.float())
    torch.testing.assert_close(gx[:, 1], -gy.float())
    assert not torch.equal(gy, y)  # something was actually flipped or rotated


@pytest.mark.parametrize("dims", [2, 3])
def test_rotation_and_zoom_keep_labels_aligned_and_ignore_outside(dims: int) -> None:
    """Warped labels stay where the warped image says they are; voxels from outside the patch are ignored."""
    from medimg.tasks.segment.labels import IGNORE
    from medimg.tasks.segment.planning import SegAugmentation
    from medimg.tasks.segment.sampling import augment_batch

    shape = (8, 24, 32) if dims == 2 else (8, 12, 16, 20)  # non-square: rotations must not shear
    y = torch.zeros(shape, dtype=torch.long)
    centre = tuple(slice(s // 4, 3 * s // 4) for s in shape[1:])
    y[(slice(None), *centre)] = 1
    y[(slice(None), *[slice(s // 2 - 1, s // 2 + 1) for s in shape[1:]])] = 2
    x = y.float().unsqueeze(1) * 10
    aug = SegAugmentation(rotate_deg=30, scale=0.25, spatial_probability=1.0)
    gx, gy = augment_batch(x.clone(), y.clone(), aug, torch.Generator().manual_seed(3))
    assert not torch.equal(gy, y)
    inside = gy != IGNORE
    # bilinear image vs nearest labels agree away from edges: where the image is clearly one class
    for cls in (0, 1):
        clear = inside & ((gx[:, 0] - 10 * cls).abs() < 1)
        assert (gy[clear] == cls).float().mean() > 0.97
    assert (gy == IGNORE).any() and (gx[:, 0][gy == IGNORE].abs() < 10).all()
    assert set(gy.unique().tolist()) <= {0, 1, 2, IGNORE}
    none = SegAugmentation(rotate_deg=30, scale=0.25, spatial_probability=0.0)
    same_x, same_y = augment_batch(x.clone(), y.clone(), none, torch.Generator().manual_seed(3))
    assert torch.equal(same_y, y) and torch.equal(same_x, x)


@pytest.mark.parametrize("dims", [2, 3])
def test_gamma_curves_keep_each_channels_mean_and_spread(dims: int) -> None:
    """nnU-Net's gamma: the chosen patches' intensities bend (not a linear map of the input), each channel keeps its
    mean and standard deviation, labels are untouched, and probability 0 leaves the batch alone."""
    from medimg.tasks.segment.planning import SegAugmentation
    from medimg.tasks.segment.sampling import augment_batch

    shape = (16, 2, 12, 12) if dims == 2 else (16, 2, 8, 8, 8)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0)) * 2 + 1
    y = torch.randint(0, 3, (shape[0], *shape[2:]))
    aug = SegAugmentation(gamma_probability=1.0)
    gx, gy = augment_batch(x.clone(), y.clone(), aug, torch.Generator().manual_seed(4))
    assert torch.equal(gy, y)
    flat, before = gx.flatten(2), x.flatten(2)
    torch.testing.assert_close(flat.mean(-1), before.mean(-1), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(flat.std(-1), before.std(-1), atol=1e-4, rtol=1e-4)
    assert ((flat - before).abs().amax(-1) > 0).all()  # every patch and channel was bent
    r = [float(torch.corrcoef(torch.stack([flat[i, 0], before[i, 0]]))[0, 1]) for i in range(shape[0])]
    assert min(r) < 0.999  # a gamma curve is not affine: the correlation with the input drops below 1
    off = SegAugmentation(gamma_probability=0.0)
    same, _ = augment_batch(x.clone(), y.clone(), off, torch.Generator().manual_seed(4))
    assert torch.equal(same, x)


@pytest.mark.parametrize("dims", [2, 3])
def test_low_resolution_simulation_blurs_fine_detail_and_keeps_the_patch_size(dims: int) -> None:
    from medimg.tasks.segment.planning import SegAugmentation
    from medimg.tasks.segment.sampling import augment_batch

    shape = (8, 1, 32, 32) if dims == 2 else (8, 1, 16, 16, 16)
    checker = (torch.arange(shape[-1]) % 2).float()  # one-voxel stripes: gone at any coarser sampling
    x = checker.expand(shape).clone()
    y = torch.zeros((shape[0], *shape[2:]), dtype=torch.long)
    aug = SegAugmentation(low_resolution_probability=1.0)
    gx, gy = augment_batch(x.clone(), y.clone(), aug, torch.Generator().manual_seed(5))
    assert gx.shape == x.shape and torch.equal(gy, y)
    detail = (gx[..., 1:] - gx[..., :-1]).abs().flatten(1).mean(1)
    assert (detail < 0.6).all()  # the input's neighbours differ by 1 everywhere


def test_volumes_get_rotation_and_zoom_by_default() -> None:
    from medimg.tasks.segment.planning import SegFingerprint, determine_augmentation

    fields = SegFingerprint.model_fields
    assert "spatial_dims" in fields
    volume = SegFingerprint.model_construct(spatial_dims=3)
    aug, reason = determine_augmentation(volume, [40, 56, 40])
    assert aug.spatial_probability > 0 and aug.rotate_deg > 0 and aug.scale > 0 and "rotation" in reason
    flat = SegFingerprint.model_construct(spatial_dims=2)
    aug, _ = determine_augmentation(flat, [128, 128])
    assert aug.spatial_probability == 0


def test_patch_sampler_centres_on_foreground() -> None:
    from medimg.tasks.segment.planning import SegAugmentation
    from medimg.tasks.segment.sampling import PatchSampler

    labels = torch.zeros(64, 64, dtype=torch.uint8)
    labels[50:54, 5:9] = 1
    image = labels[None].float()
    sampler = PatchSampler([image], [labels], [16, 16], 1.0, SegAugmentation())
    x, y = sampler.sample(8, torch.Generator().manual_seed(0))
    assert x.shape == (8, 1, 16, 16) and (y == 1).flatten(1).any(1).all()
    torch.testing.assert_close(x[:, 0], y.float())


def test_shared_mask_and_array_modules_load_without_torch() -> None:
    """masks/arrays serve the torch-free ONNX predictor too: importing them must not load torch, MONAI or pydantic."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['monai'] = None\n"
        "import medimg.tasks.segment.arrays, medimg.tasks.segment.masks\n"
        "print(sorted(m for m in ('torch', 'monai', 'pydantic') if sys.modules.get(m)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def _faint_line_on_two_backgrounds() -> np.ndarray:
    """A dark and a bright half, and a faint line (+4 gray levels) across the dark one: ``(1, 64, 64)``."""
    image = np.zeros((1, 64, 64), dtype=np.float32)
    image[:, :, 32:] = 200.0
    image[:, 20, :32] += 4.0
    return image


def test_clahe_raises_the_local_contrast_of_a_faint_structure_and_reaches_onnx_exports() -> None:
    from medimg.export.segment import segment_spec
    from medimg.tasks.segment.arrays import normalise

    image = _faint_line_on_two_backgrounds()
    plain = normalise(image, SegPlan())
    equalised = normalise(image, SegPlan(clahe=True))
    assert np.isfinite(equalised).all()
    line_contrast = lambda x: float(x[0, 20, 4:28].mean() - x[0, 24, 4:28].mean())  # noqa: E731
    assert line_contrast(equalised) > 1.4 * line_contrast(plain) > 0  # 0.064 against 0.040 z-units
    spec = segment_spec(SegPlan(clahe=True).model_dump())
    assert spec["clahe"] is True and np.array_equal(normalise(image, spec), equalised)  # the ONNX path's pixels
    assert np.array_equal(normalise(np.full((1, 8, 8), 7.0), SegPlan(clahe=True)), np.zeros((1, 8, 8)))
