"""Cases beyond the case-memory budget: read again on each pass instead of held, prepared ones memory-mapped from
the run folder; training on them must give exactly the run that holds everything in memory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from medimg import Model
from medimg.data.memory import MEMORY_ENV, case_memory_budget
from medimg.errors import ConfigError
from medimg.tasks.segment.cases import CaseReader
from medimg.tasks.segment.data import SegmentationDataset
from medimg.tasks.segment.store import CaseStore
from tests.tasks.segment.synthetic import write_3d_pairs

TINY_3D = {
    "epochs": 2,
    "iterations_per_epoch": 4,
    "batch_size": 2,
    "channels": [4, 8, 16],
    "tta": False,
    "amp": "none",
    "channels_last": False,
}


def test_store_keeps_in_memory_then_maps_from_disk(tmp_path: Path) -> None:
    store = CaseStore(tmp_path, budget=100 * 4)
    small = torch.arange(100, dtype=torch.float32)
    assert store.keep(small) is small
    big = torch.arange(50, dtype=torch.float32)
    mapped = store.keep(big)
    assert mapped is not big and torch.equal(mapped, big)
    labels = np.arange(10, dtype=np.uint8)
    mapped_labels = store.keep(labels)
    assert isinstance(mapped_labels, np.memmap) and np.array_equal(mapped_labels, labels)
    assert (store.on_disk, store.in_memory) == (2, 400)
    folders = list(tmp_path.glob(".prepared-*"))
    assert len(folders) == 1 and len(list(folders[0].glob("*.npy"))) == 2
    del store
    import gc

    gc.collect()
    assert not list(tmp_path.glob(".prepared-*"))  # the temporary folder goes with the store


def test_a_folder_left_by_a_killed_run_is_deleted_by_the_next_store(tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys

    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname()
    owners = {"killed": f"{host} {ended.stdout.strip()}", "running": f"{host} {os.getpid()}", "other": "elsewhere 1"}
    for name, owner in owners.items():
        folder = tmp_path / f".prepared-{name}"
        folder.mkdir()
        (folder / "0.npy").write_bytes(b"x" * 1000)
        (folder / "owner").write_text(owner)
    (tmp_path / ".prepared-old").mkdir()  # no owner: left alone
    store = CaseStore(tmp_path, budget=0)
    store.keep(np.zeros(10, np.float32))
    left = sorted(p.name for p in tmp_path.glob(".prepared-*"))
    assert ".prepared-killed" not in left
    assert {".prepared-running", ".prepared-other", ".prepared-old"} <= set(left) and len(left) == 4  # + its own


def test_budget_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MEMORY_ENV, "1.5")
    assert case_memory_budget() == int(1.5 * 2**20)
    monkeypatch.setenv(MEMORY_ENV, "lots")
    with pytest.raises(ConfigError, match=MEMORY_ENV):
        case_memory_budget()
    monkeypatch.delenv(MEMORY_ENV)
    assert case_memory_budget() > 0


def test_reader_replays_or_reads_again(tmp_path: Path) -> None:
    data = write_3d_pairs(tmp_path / "vols", n=6)
    (data / "images" / "broken.nii.gz").write_bytes(b"not a volume")
    (data / "labels" / "broken.nii.gz").write_bytes(b"not a volume")
    dataset = SegmentationDataset.load(data)
    held = CaseReader(dataset, dataset.cases)
    streamed = CaseReader(dataset, dataset.cases, budget=0)
    first = [(c.case_id, s.image.array.sum()) for c, s in held]
    assert [(c.case_id, s.image.array.sum()) for c, s in streamed] == first
    assert held.in_memory and not streamed.in_memory
    assert len(held) == len(streamed) == len(dataset.cases) - 1
    assert [c for c, _ in held.skipped] == [c for c, _ in streamed.skipped] and len(held.skipped) == 1
    again = [(c.case_id, s.image.array.sum()) for c, s in streamed]  # read from the files again
    assert again == first == [(c.case_id, s.image.array.sum()) for c, s in held]


def test_fit_with_cases_on_disk_equals_fit_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_3d_pairs(tmp_path / "vols", n=8)
    in_memory = Model("unet", task="segment", **TINY_3D).fit(data, run_dir=tmp_path / "held", progress=False)
    monkeypatch.setenv(MEMORY_ENV, "0")
    mapped = Model("unet", task="segment", **TINY_3D).fit(data, run_dir=tmp_path / "mapped", progress=False)
    training = json.loads((tmp_path / "mapped" / "metadata.json").read_text())["training"]
    assert training["prepared_arrays_memory_mapped"] > 0
    assert "prepared_arrays_memory_mapped" not in in_memory.metadata_["training"]
    assert not list((tmp_path / "mapped").glob(".prepared-*"))  # the cache went with the run
    for name, value in in_memory.network_.state_dict().items():
        assert torch.equal(value, mapped.network_.state_dict()[name]), name
    for run in ("held", "mapped"):
        assert (tmp_path / run / "fingerprint.json").read_text() == (tmp_path / "held" / "fingerprint.json").read_text()


def test_unlabelled_pool_on_disk_trains_as_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    from tests.tasks.segment.synthetic import disc_image, write_2d_pairs

    data = write_2d_pairs(tmp_path / "discs", n=12, size=32)
    pool = tmp_path / "pool"
    pool.mkdir()
    rng = np.random.default_rng(5)
    for i in range(4):
        Image.fromarray(disc_image(rng, 32)[0]).save(pool / f"unlabelled_{i}.png")
    fast = {"epochs": 1, "iterations_per_epoch": 3, "batch_size": 4, "channels": [8, 16, 32], "tta": False}
    semi = {"confidence_threshold": 0.5, "warmup_epochs": 0}
    held = Model("unet", task="segment", **fast).fit(
        data, run_dir=tmp_path / "held", unlabelled=pool, semi_supervised=semi, progress=False
    )
    monkeypatch.setenv(MEMORY_ENV, "0")
    mapped = Model("unet", task="segment", **fast).fit(
        data, run_dir=tmp_path / "mapped", unlabelled=pool, semi_supervised=semi, progress=False
    )
    # training cases (image, labels), validation cases (image, labels, labels at file size), pool (image, labels)
    training = mapped.metadata_["training"]
    assert training["unlabelled_images"] == 4
    expected = 2 * training["train_cases"] + 3 * training["val_cases"] + 2 * 4
    assert training["prepared_arrays_memory_mapped"] == expected
    for name, value in held.network_.state_dict().items():
        assert torch.equal(value, mapped.network_.state_dict()[name]), name


def test_a_full_disk_is_named_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from medimg.errors import RunFolderError

    def full(*_: object, **__: object) -> None:
        raise OSError(28, "No space left on device")

    store = CaseStore(tmp_path, budget=0)
    monkeypatch.setattr(np, "save", full)
    with pytest.raises(RunFolderError, match=f"No space left on device.*free disk space there, or raise {MEMORY_ENV}"):
        store.keep(torch.zeros(4))
