"""Synthetic segmentation data written to a folder: shapes with known masks (2D PNG, 3D NIfTI)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: a tiny U-Net fitted for one short epoch, quietly: what tests that only need a trained segmentation run pass
FAST_FIT = {
    "epochs": 1,
    "iterations_per_epoch": 3,
    "batch_size": 4,
    "channels": [8, 16, 32],
    "tta": False,
    "progress": False,
    "tensorboard": False,
}


def disc_image(rng: np.random.Generator, size: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """A noisy gray image with one bright disc and its 0/1 mask."""
    yy, xx = np.mgrid[:size, :size]
    r = rng.uniform(size * 0.12, size * 0.25)
    cy, cx = rng.uniform(r + 2, size - r - 2, 2)
    mask = ((yy - cy) ** 2 + (xx - cx) ** 2 <= r**2).astype(np.uint8)
    image = 60 + 120 * mask + rng.normal(0, 20, (size, size))
    return np.clip(image, 0, 255).astype(np.uint8), mask


def write_2d_pairs(root: Path, n: int = 24, size: int = 48, seed: int = 0, mask_scale: int = 255) -> Path:
    """``root/images/case_XX.png`` + ``root/masks/case_XX.png`` (0/``mask_scale``)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        image, mask = disc_image(rng, size)
        Image.fromarray(image).save(root / "images" / f"case_{i:02d}.png")
        Image.fromarray((mask * mask_scale).astype(np.uint8)).save(root / "masks" / f"case_{i:02d}.png")
    return root


def write_3d_pairs(root: Path, n: int = 16, shape: tuple[int, int, int] = (24, 28, 20), seed: int = 0) -> Path:
    """``root/images/vol_XX.nii.gz`` + ``root/labels/vol_XX.nii.gz``: two blobs, labels 1 (sphere) and 2 (box)."""
    import nibabel as nib

    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    grid = np.indices(shape)
    for i in range(n):
        label = np.zeros(shape, np.uint8)
        half = np.array(shape) // 2
        c = rng.uniform(4, half - 1)
        label[((grid - c[:, None, None, None]) ** 2).sum(0) <= 10] = 1
        a = [int(rng.integers(h, s - 5)) for h, s in zip(half, shape, strict=True)]
        label[a[0] : a[0] + 5, a[1] : a[1] + 5, a[2] : a[2] + 4] = 2
        image = 100 + 80 * (label == 1) + 160 * (label == 2) + rng.normal(0, 15, shape)
        affine = np.diag([1.5, 1.0, 2.0, 1.0])
        affine[:3, 3] = [-10, 5, 3]
        nib.save(nib.Nifti1Image(image.astype(np.float32), affine), root / "images" / f"vol_{i:02d}.nii.gz")
        nib.save(nib.Nifti1Image(label, affine), root / "labels" / f"vol_{i:02d}.nii.gz")
    return root
