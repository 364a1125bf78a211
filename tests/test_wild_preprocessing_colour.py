"""Grey radiographs stored as RGB with burned-in colour annotations (a red side marker): planned as grey, so they get
no flips or half turns that would swap a chest X-ray's sides."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from medimg.cli.app import app
from medimg.planning.domain import effective_channels


def _marked(grey: np.ndarray, marker: int) -> np.ndarray:
    rgb = np.stack([grey, grey, grey]).astype(np.float32)
    rgb[:, :marker, :marker] = np.array([255.0, 0.0, 0.0])[:, None, None]  # a red "R" marker in the corner
    return rgb


def test_a_small_colour_marker_does_not_make_a_grey_image_colour() -> None:
    grey = np.random.default_rng(0).integers(0, 256, (64, 64)).astype(np.float32)
    assert effective_channels(_marked(grey, 4)) == 1  # 16 of 4096 pixels
    assert effective_channels(_marked(grey, 32)) == 3  # a quarter of the image: colour content


def test_chest_x_rays_with_a_red_marker_are_planned_without_flips(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    for label in ("normal", "pneumonia"):
        (tmp_path / "data" / label).mkdir(parents=True)
        for i in range(6):
            pixels = _marked(rng.integers(0, 256, (40, 40)).astype(np.float32), 3)
            Image.fromarray(np.moveaxis(pixels, 0, -1).astype(np.uint8)).save(tmp_path / "data" / label / f"{i}.png")
    result = CliRunner().invoke(app, ["plan", str(tmp_path / "data"), "--out", str(tmp_path / "plan")])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("augmentation"))
    assert '"flip_axes": []' in line and "180" not in line, line
    assert any(x.split()[:2] == ["in_channels", "1"] for x in result.output.splitlines())
