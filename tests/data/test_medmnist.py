from __future__ import annotations

from pathlib import Path

import pytest

from medimg.data.medmnist import fetch_medmnist, md5sum, medmnist_label_names, medmnist_spatial_dims
from medimg.errors import DatasetError
from tests.conftest import write_npz


def test_fetch_from_a_url_with_checksum(tmp_path: Path) -> None:
    (tmp_path / "mirror").mkdir()
    source = write_npz(tmp_path / "mirror" / "pneumoniamnist.npz")
    expected = md5sum(source)
    target = fetch_medmnist("pneumoniamnist", tmp_path / "cache", url=source.as_uri(), md5=expected)
    assert target.read_bytes() == source.read_bytes()
    # present with the right checksum: not fetched again (the URL is now broken on purpose)
    again = fetch_medmnist("pneumoniamnist", tmp_path / "cache", url=(tmp_path / "gone.npz").as_uri(), md5=expected)
    assert again == target


def test_fetch_checksum_mismatch_leaves_nothing(tmp_path: Path) -> None:
    source = write_npz(tmp_path / "x.npz")
    with pytest.raises(DatasetError, match="checksum mismatch"):
        fetch_medmnist("x", tmp_path / "cache", url=source.as_uri(), md5="0" * 32)
    assert not any((tmp_path / "cache").iterdir())


def test_fetch_unreachable_url(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="could not download"):
        fetch_medmnist("x", tmp_path, url=(tmp_path / "missing.npz").as_uri())


def test_names_and_dims() -> None:
    assert medmnist_label_names("adrenalmnist3d_64", 2) == ["normal", "hyperplasia"]
    assert medmnist_label_names("pneumoniamnist", 3) == ["class_0", "class_1", "class_2"]
    assert medmnist_spatial_dims("adrenalmnist3d_64", (64, 64, 64)) == 3
    assert medmnist_spatial_dims("pathmnist", (28, 28, 3)) == 2
