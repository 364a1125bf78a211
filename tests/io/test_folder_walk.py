"""Linked sub-folders: a dataset or a folder of inputs assembled from links (``site2 -> /pacs/export/site2``) had
the linked folders' images left out of training, checks and predictions without a word."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from medimg.data.dataset import Dataset
from medimg.io.folder_walk import walk_tree
from medimg.io.inputs import expand_inputs


def _png(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(path)


def test_images_in_linked_sub_folders_are_read_for_training_and_prediction(tmp_path: Path) -> None:
    elsewhere, data = tmp_path / "pacs_export", tmp_path / "data"
    for k, label in enumerate(("normal", "lesion")):
        for i in range(4):
            _png(data / label / f"{label}{i}.png", 10 * k + i)
            _png(elsewhere / label / f"site2_{label}{i}.png", 100 + 10 * k + i)
        os.symlink(elsewhere / label, data / label / "site2")
    os.symlink(data, data / "normal" / "loop")  # a link back up: listed, not entered
    assert len(expand_inputs([data])) == 16
    assert len(expand_inputs([data / "normal"])) == 8
    dataset = Dataset.load(data)
    names = sorted(Path(str(case.path)).name for case in dataset.cases)
    assert len(names) == 16 and "site2_lesion0.png" in names and "site2_normal3.png" in names


def test_loops_and_links_within_the_tree_list_each_file_once(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    for name in ("A/a.png", "B/b.png"):
        _png(root / name, 1)
    _png(outside / "e.png", 2)
    os.symlink(root / "B", root / "A" / "to_b")  # inside the tree: B is walked under its own name
    os.symlink(root, root / "B" / "up")  # a loop
    os.symlink(outside, root / "C")  # outside: entered
    os.symlink(root / "C", outside / "back")  # and a loop through it
    files = sorted(p.relative_to(root).as_posix() for p in walk_tree(root) if p.is_file())
    assert files == ["A/a.png", "B/b.png", "C/e.png"]
