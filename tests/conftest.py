"""Shared fixtures: small synthetic datasets written to tmp_path, and the real-data location."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# Two threads for one test process; one each when pytest-xdist runs the tests in two worker processes (`make test`),
# so the workers do not fight over the two cores of the machines this runs on.
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)


def shared_data(relative: str) -> Path:
    """Path inside ../shared/data, or skip the test with a reason when it is absent."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"real data not available: {path} (tests that need ../shared/data skip without it)")
    return path


@pytest.fixture(autouse=True, scope="session")
def _drawn_masks_outside_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Masks drawn from annotations (COCO, YOLO, ImageScope, DICOM RTSTRUCT/SEG) go to a temporary cache for the
    whole session (subprocesses inherit it), never the user's ``~/.cache/medimg``."""
    before = os.environ.get("MEDIMG_CACHE")
    os.environ["MEDIMG_CACHE"] = str(tmp_path_factory.mktemp("medimg-cache"))
    yield
    if before is None:
        os.environ.pop("MEDIMG_CACHE", None)
    else:
        os.environ["MEDIMG_CACHE"] = before


@pytest.fixture(autouse=True)
def _nothing_said_once_by_an_earlier_command(caplog: pytest.LogCaptureFixture) -> None:
    """A command run in-process adds its ``SaidOnce`` filter to the root logger's handlers, and pytest keeps one
    capture handler for every test of a worker: the messages that command said were dropped from later tests'
    ``caplog`` (a test reading the same data twice saw its warning once, or never). Each test starts without it."""
    import logging

    for handler in {*logging.getLogger().handlers, caplog.handler}:
        for said in [f for f in handler.filters if type(f).__name__ == "SaidOnce"]:
            handler.removeFilter(said)


@pytest.fixture
def phantom_dir(tmp_path: Path) -> Path:
    """A folder-per-class dataset of 2 x 40 synthetic 32 px PNG phantoms."""
    from medimg.data.synthetic import make_phantom_dataset

    return make_phantom_dataset(tmp_path / "phantoms", n_per_class=40, size=32, seed=1)


def write_npz(
    path: Path,
    *,
    shape: tuple[int, ...] = (28, 28),
    n: tuple[int, int, int] = (60, 20, 20),
    classes: int = 2,
    seed: int = 0,
) -> Path:
    """A MedMNIST-format npz whose class is encoded in the image brightness (learnable)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, count in zip(("train", "val", "test"), n, strict=True):
        labels = rng.integers(0, classes, size=(count, 1)).astype(np.uint8)
        base = rng.integers(0, 80, size=(count, *shape)).astype(np.float32)
        images = base + labels.reshape(-1, *[1] * len(shape)) * (150 / max(1, classes - 1))
        arrays[f"{split}_images"] = np.clip(images, 0, 255).astype(np.uint8)
        arrays[f"{split}_labels"] = labels
    np.savez_compressed(path, **arrays)
    return path
