"""3D Grad-CAM as a hospital lab meets it: volumes stored LPS, (z, y, x) or RAS, explained by a classifier that
reads them in RAS+ order. The heatmap must come back as a volume a viewer lays over the input file (its grid and
its world position), not only as one PNG slice; ``Prediction.heatmap`` is at the network's input size and in its
axis order, so saving it with the input's affine put the heat mirrored and stretched."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

SPACING = (2.0, 1.5, 4.0)  # x, y, z mm
SHAPE = (12, 16, 6)  # x, y, z voxels (RAS as made)
LESION = (8, 4, 4)  # RAS voxel of the lesion


def _ras_affine() -> np.ndarray:
    return np.diag([*SPACING, 1.0])


def _stored(volume: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray]:
    """The RAS ``volume`` stored another way, with the affine that keeps every voxel where it was in the world."""
    ras = _ras_affine()
    if how == "ras":
        return volume, ras
    if how == "lps":  # x and y reversed
        flip = np.array([[-1, 0, 0, SHAPE[0] - 1], [0, -1, 0, SHAPE[1] - 1], [0, 0, 1, 0], [0, 0, 0, 1]], float)
        return np.ascontiguousarray(volume[::-1, ::-1]), ras @ flip
    perm = np.zeros((4, 4))  # stored (z, y, x)
    perm[0, 2] = perm[1, 1] = perm[2, 0] = perm[3, 3] = 1
    return np.ascontiguousarray(volume.transpose(2, 1, 0)), ras @ perm


def _world_of_hottest(image: nib.Nifti1Image) -> np.ndarray:
    data = np.asarray(image.dataobj, dtype=np.float32)
    voxel = np.unravel_index(int(data.argmax()), data.shape)
    return np.asarray(image.affine @ [*voxel, 1.0])[:3]


@pytest.mark.parametrize("how", ["ras", "lps", "zyx"])
def test_a_volume_s_heatmap_is_written_on_the_input_s_grid_where_the_heat_is(tmp_path: Path, how: str) -> None:
    """The heat of an input voxel lies at that voxel's world position, on a grid whose voxel centres are the
    file's (a viewer overlays it without resampling), however the file stores its axes."""
    from medimg.explain.overlay import heatmap_nifti
    from medimg.planning.domain import InputReader

    stored, affine = _stored(np.zeros(SHAPE, np.float32), how)
    path = tmp_path / f"case_{how}.nii.gz"
    nib.save(nib.Nifti1Image(stored, affine), path)
    read = InputReader(reorient_inputs=True, warn_each=False).read(path)  # as a 3D classifier reads it: RAS+
    size = (24, 8, 12)  # the network's input size: every axis stretched differently
    heat = np.zeros(size, np.float32)
    centre = [round((c + 0.5) * s / n - 0.5) for c, s, n in zip(LESION, size, SHAPE, strict=True)]
    heat[tuple(centre)] = 1.0
    image = nib.Nifti1Image.from_bytes(gzip.decompress(heatmap_nifti(heat, read.array.shape[1:], read.affine)))
    assert image.shape == stored.shape[::-1] or sorted(image.shape) == sorted(stored.shape)
    # the same voxel centres as the file: the grids differ by a permutation and flips of whole voxels
    between = np.linalg.inv(affine) @ image.affine
    assert np.allclose(between, np.round(between), atol=1e-6)
    expected = _ras_affine() @ [*LESION, 1.0]
    assert np.allclose(_world_of_hottest(image), expected[:3], atol=max(SPACING)), (how, _world_of_hottest(image))


@pytest.fixture(scope="module")
def volume_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3D simple-cnn on 6 + 6 small NIfTI volumes (1 epoch, a few seconds)."""
    from medimg import Model

    root = tmp_path_factory.mktemp("wild-volumes")
    rng = np.random.default_rng(0)
    for n in range(12):
        label = ("benign", "malignant")[n % 2]
        volume = rng.normal(100, 20, SHAPE).astype(np.float32)
        if label == "malignant":
            volume[LESION[0] - 2 : LESION[0] + 2, LESION[1] - 2 : LESION[1] + 2, LESION[2] - 1 : LESION[2] + 1] += 200
        stored, affine = _stored(volume, ("ras", "lps", "zyx")[n % 3])
        (root / "data" / label).mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(stored, affine), root / "data" / label / f"v{n:02d}.nii.gz")
    Model("simple-cnn").fit(root / "data", run_dir=root / "run", epochs=1, seed=0, progress=False, tensorboard=False)
    return root / "run"


def test_predict_explain_saves_each_volume_s_heatmap_beside_its_overlay(volume_run: Path, tmp_path: Path) -> None:
    """`medimg predict RUN new/ --explain` on an LPS file: the JSON names a NIfTI heatmap on the file's own voxel
    grid, and that heatmap is the prediction's map put on the grid (was: a PNG of one slice only)."""
    from typer.testing import CliRunner

    from medimg import Model
    from medimg.cli.app import app
    from medimg.explain.overlay import heatmap_on_grid
    from medimg.io import read_image
    from medimg.io.orientation import canonical

    source = sorted((volume_run.parent / "data" / "malignant").glob("*.nii.gz"))[1]  # stored LPS
    new = tmp_path / "new"
    new.mkdir()
    (new / "case.nii.gz").write_bytes(source.read_bytes())
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["predict", str(volume_run), str(new), "--explain", "--out", str(out)])
    assert result.exit_code == 0, result.output
    (row,) = json.loads((out / "predictions.json").read_text())
    saved = Path(row["explanation"]["heatmap_volume"])
    assert saved.name.endswith(".gradcam.nii.gz") and saved.is_file()
    assert Path(row["explanation"]["overlay"]).is_file()
    assert [saved.name, Path(row["explanation"]["overlay"]).name] == [  # was 0000_case.nii.gradcam.png
        "0000_case.gradcam.nii.gz",
        "0000_case.gradcam.png",
    ]
    written = nib.load(saved)
    given = nib.load(new / "case.nii.gz")
    between = np.linalg.inv(given.affine) @ written.affine  # a viewer overlays it without resampling
    assert np.allclose(between, np.round(between), atol=1e-6) and sorted(written.shape) == sorted(given.shape)
    (prediction,) = Model.load(volume_run).predict(new / "case.nii.gz", explain=True)
    assert prediction.heatmap is not None
    read = canonical(read_image(new / "case.nii.gz"))[0]
    np.testing.assert_allclose(
        np.asarray(written.dataobj), heatmap_on_grid(prediction.heatmap, read.array.shape[1:]), atol=1e-6
    )
    in_python = prediction.heatmap_nifti()  # the same file from the Python API
    assert in_python is not None
    again = nib.Nifti1Image.from_bytes(gzip.decompress(in_python))
    np.testing.assert_allclose(np.asarray(again.dataobj), np.asarray(written.dataobj), atol=1e-6)
    np.testing.assert_allclose(again.affine, written.affine)
