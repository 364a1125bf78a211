"""A volume's pictures in the service: the page's image and heatmap (or segmentation overlay) are the axial slice
the printed report's overlay shows, at its physical aspect ratio, and the report says which slice it is."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.serve.support import service_client

SPACING = (0.8, 0.8, 2.5)  # x, y, z in mm: thin in-plane voxels, thick slices (a typical CT/MR)
SHAPE = (20, 16, 8)  # x, y, z voxels: an axial slice is 16 x 12.8 mm (taller than wide), a sagittal one 12.8 x 20


def _volume(rng: np.random.Generator, lesion: bool) -> np.ndarray:
    volume = rng.normal(100, 20, SHAPE).astype(np.float32)
    if lesion:
        x, y, z = np.indices(SHAPE)
        volume[((x - 6) ** 2 + (y - 10) ** 2 + ((z - 5) * 3) ** 2) < 12] += 150
    return volume


def _save(volume: np.ndarray, path: Path) -> Path:
    import nibabel as nib

    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(volume, np.diag([*SPACING, 1.0])), path)
    return path


@pytest.fixture(scope="module")
def volume_classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3D simple-cnn on 8 + 8 NIfTI volumes (1 epoch, a few seconds)."""
    from medimg import Model

    root = tmp_path_factory.mktemp("volume-classifier")
    rng = np.random.default_rng(0)
    for n in range(16):
        label = ("benign", "malignant")[n % 2]
        _save(_volume(rng, label == "malignant"), root / "data" / label / f"v{n:02d}.nii.gz")
    Model("simple-cnn").fit(root / "data", run_dir=root / "run", epochs=1, seed=0, progress=False, tensorboard=False)
    return root / "run"


@pytest.fixture(scope="module")
def volume_segmenter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny 3D U-Net (1 epoch of 2 iterations) on 8 NIfTI volumes with 1.5 x 1 x 2 mm voxels."""
    from medimg import Model
    from tests.tasks.segment.synthetic import write_3d_pairs

    root = tmp_path_factory.mktemp("volume-segmenter")
    data = write_3d_pairs(root / "vols", n=8, shape=(16, 12, 12))
    fast = {"epochs": 1, "iterations_per_epoch": 2, "batch_size": 2, "channels": [4, 8], "tta": False}
    Model("unet", task="segment", amp="none", channels_last=False, **fast).fit(
        data, run_dir=root / "run", progress=False, tensorboard=False
    )
    return root / "run"


@pytest.fixture
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, dict[str, str]]]:
    with service_client(request.getfixturevalue(request.param), tmp_path / "reports.db") as client:
        yield client


def _png_size(client: Any, headers: dict[str, str], url: str) -> tuple[int, int]:
    from PIL import Image

    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    return Image.open(io.BytesIO(response.content)).size  # type: ignore[no-any-return]


@pytest.mark.parametrize("served", ["volume_classifier"], indirect=True)
def test_a_volume_s_image_and_heatmap_are_the_report_s_axial_slice(
    served: tuple[Any, dict[str, str]], tmp_path: Path
) -> None:
    """The tester's case: the page showed a 12 x 24 px sagittal slice with square pixels (a plane the printed
    report did not show, here without the lesion) beside the report's 256 px axial overlay."""
    from PIL import Image

    from medimg.explain.overlay import image_picture
    from medimg.io import read_image
    from medimg.io.orientation import canonical

    client, headers = served
    path = _save(_volume(np.random.default_rng(7), lesion=True), tmp_path / "case.nii.gz")
    response = client.post("/v1/predictions", headers=headers, files={"file": ("case.nii.gz", path.read_bytes())})
    assert response.status_code == 201, response.text
    report = response.json()
    shown = report["input"]["shown_slice"]
    assert (shown["plane"], shown["axis"], shown["count"]) == ("axial", 2, SHAPE[2])
    assert shown["z_mm"] == pytest.approx(shown["index"] * SPACING[2])
    # the same size for all three pictures: rows x (20 x 0.8 mm), columns y (16 x 0.8 mm), enlarged to 256 px
    sizes = {kind: _png_size(client, headers, report["links"][kind]) for kind in ("image", "heatmap", "overlay")}
    assert set(sizes.values()) == {(205, 256)}, sizes
    image = np.asarray(Image.open(io.BytesIO(client.get(report["links"]["image"], headers=headers).content)))
    read = canonical(read_image(path))[0]
    expected, again = image_picture(read.array, read.meta, affine=read.affine, spacing=read.spacing_mm)
    assert again is not None and again.index == SHAPE[2] // 2  # without evidence: the middle slice
    plane = np.moveaxis(read.array, 3, 1)  # the reported slice itself, drawn the same way
    drawn, _ = image_picture(
        plane[:, shown["index"] : shown["index"] + 1].repeat(3, axis=1).transpose(0, 2, 3, 1),
        read.meta,
        affine=read.affine,
        spacing=read.spacing_mm,
    )
    assert image.shape == expected.shape == drawn.shape and np.abs(image.astype(int) - drawn).max() <= 1
    page = client.get(f"/v1/reports/{report['id']}?format=html", headers=headers).text
    assert f"axial slice {shown['index'] + 1} of {SHAPE[2]}" in page


@pytest.mark.parametrize("served", ["volume_segmenter"], indirect=True)
def test_a_segmented_volume_s_overlay_is_its_axial_slice_at_its_physical_aspect(
    served: tuple[Any, dict[str, str]], volume_segmenter: Path
) -> None:
    """The 3D segmentation page showed a sagittal slice (first array axis), rotated and squashed."""
    client, headers = served
    path = volume_segmenter.parent / "vols" / "images" / "vol_00.nii.gz"  # 16 x 12 x 12 voxels of 1.5 x 1 x 2 mm
    response = client.post("/v1/predictions", headers=headers, files={"file": ("vol.nii.gz", path.read_bytes())})
    assert response.status_code == 201, response.text
    report = response.json()
    shown = report["input"]["shown_slice"]
    assert (shown["axis"], shown["count"]) == (2, 12) and report["segmentation"]["overlay_slice"] == shown["index"]
    # rows x: 16 x 1.5 = 24 mm, columns y: 12 x 1 = 12 mm -> 256 x 128 px
    assert _png_size(client, headers, report["links"]["image"]) == (128, 256)
    assert _png_size(client, headers, report["links"]["overlay"]) == (128, 256)
