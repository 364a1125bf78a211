"""Whole-slide files (.svs, .ndpi) in class folders, as pathology users keep them beside their exported tiles: they
are not read, and the load says so. Before: a class folder holding only slides was "without images" with no word of
its slides, and slides beside tiles were left out silently."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg import Dataset


def test_slides_in_class_folders_are_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(0)
    for cls in ("tumour", "normal"):
        (tmp_path / cls).mkdir()
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (8, 8, 3)).astype(np.uint8)).save(tmp_path / cls / f"tile{i}.png")
    (tmp_path / "tumour" / "slide 1.svs").write_bytes(b"II*\x00" + bytes(64))
    (tmp_path / "stroma").mkdir()
    (tmp_path / "stroma" / "slide 2.ndpi").write_bytes(b"II*\x00" + bytes(64))
    with caplog.at_level(logging.WARNING):
        data = Dataset.load(tmp_path)
    assert data.class_names == ["normal", "tumour"]
    assert "class folders without images are ignored: stroma (stroma: found 1 whole-slide file(s)" in caplog.text
    assert "files in tumour are left out of their class; found 1 whole-slide file(s)" in caplog.text
