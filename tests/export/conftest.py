from __future__ import annotations

from pathlib import Path

import pytest

from tests.serve.support import train_tiny_run, train_tiny_segmentation_run


@pytest.fixture(scope="session")
def deploy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained simple-cnn run folder, shared by every deployment test of the session."""
    return train_tiny_run(tmp_path_factory)


@pytest.fixture(scope="session")
def seg_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained tiny U-Net segmentation run folder (synthetic discs), shared by every deployment test."""
    return train_tiny_segmentation_run(tmp_path_factory)
