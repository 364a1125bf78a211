"""The run folder as a bundle: typed metadata, weights checked against their recorded hash on every load."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from medimg.errors import RunFolderError


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from medimg.data.synthetic import make_phantom_dataset
    from medimg.model import Model

    root = tmp_path_factory.mktemp("bundle")
    data = make_phantom_dataset(root / "ph", n_per_class=16, size=16, seed=0)
    return Model("simple-cnn", epochs=1).fit(data, run_dir=root / "run", progress=False).run_dir_ or root


def test_metadata_is_typed_and_records_the_weights_hash(run: Path) -> None:
    from medimg.run_folder import RunFolder, RunMetadata

    metadata = RunMetadata.model_validate(json.loads((run / "metadata.json").read_text()))
    assert metadata.task == "classify" and metadata.backend == "torch" and metadata.network == "simple-cnn"
    assert metadata.class_names == ["normal", "lesion"] and metadata.input["size"]
    assert metadata.weights_sha256 == {"model.pt": RunFolder(run).sha256("model.pt")}


def test_load_bundle_rebuilds_the_network(run: Path) -> None:
    from medimg.bundle import load_bundle

    bundle = load_bundle(run)
    assert bundle.task == "classify" and bundle.class_names_ == ["normal", "lesion"]
    assert not bundle.network_.training


def test_a_bit_flipped_model_file_is_refused(run: Path, tmp_path: Path) -> None:
    """4 KB changed inside the largest tensor of model.pt: loading fails naming the file, never a silent model."""
    import shutil

    from medimg.model import Model

    copy = tmp_path / "flipped"
    shutil.copytree(run, copy)
    path = copy / "model.pt"
    data = bytearray(path.read_bytes())
    info = max(zipfile.ZipFile(path).infolist(), key=lambda i: i.file_size)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 16
    for i in range(start, min(start + 4096, start + info.file_size)):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    with pytest.raises(RunFolderError, match="SHA-256"):
        Model.load(copy)
