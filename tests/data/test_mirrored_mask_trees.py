"""A tree of masks that mirrors the tree of images: ``images/<sub>/<name>`` with ``masks/<sub>/<name>``, the same
names in each sub-folder. Split folders (``images/train`` + ``masks/train``) were no dataset at all ("no class
sub-folders"); site folders (``images/site_a`` + ``masks/site_a``) were read as one structure per site, the images of
the second site dropped and their masks painted onto the first's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg import Dataset
from medimg.data.dataset import SegmentationDataset
from medimg.data.layouts import select_layout


def write_mirrored(root: Path, subs: tuple[str, ...], n: int = 3) -> dict[str, int]:
    """``images/<sub>/<i>.png`` (value 50 * (s + 1) + i) and ``masks/<sub>/<i>.png`` whose top 4 * (s + 1) rows are
    foreground; returns each image's mask area by case id."""
    areas = {}
    for s, sub in enumerate(subs):
        for folder in ("images", "masks"):
            (root / folder / sub).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(np.full((16, 16), 50 * (s + 1) + i, np.uint8)).save(root / "images" / sub / f"{i}.png")
            mask = np.zeros((16, 16), np.uint8)
            mask[: 4 * (s + 1)] = 255
            Image.fromarray(mask).save(root / "masks" / sub / f"{i}.png")
            areas[f"images/{sub}/{i}.png"] = 16 * 4 * (s + 1)
    return areas


@pytest.mark.parametrize(
    ("subs", "splits"), [(("train", "test"), {"train", "test"}), (("site_a", "site_b", "site_c"), {None})]
)
def test_each_image_pairs_with_the_mask_of_its_own_sub_folder(
    tmp_path: Path, subs: tuple[str, ...], splits: set[str | None]
) -> None:
    areas = write_mirrored(tmp_path / "data", subs)
    assert select_layout(tmp_path / "data").name == "image_mask_pairs"
    dataset = Dataset.load(tmp_path / "data")
    assert isinstance(dataset, SegmentationDataset)
    assert sorted(c.case_id for c in dataset.cases) == sorted(areas)
    assert {c.split for c in dataset.cases} == splits
    for case in dataset.cases:
        mask = dataset.read(case).mask
        assert mask is not None and int((mask > 0).sum()) == areas[case.case_id], case.case_id


def test_a_flat_image_folder_beside_structure_folders_stays_structures(tmp_path: Path) -> None:
    """JSRT's SCR masks: ``masks/heart/JPCLN001.gif`` with ``images/JPCLN001.png``: the sub-folders are structures."""
    root = tmp_path / "jsrt"
    (root / "images").mkdir(parents=True)
    Image.fromarray(np.full((12, 12), 90, np.uint8)).save(root / "images" / "JPCLN001.png")
    for k, structure in enumerate(("heart", "lungs")):
        (root / "masks" / structure).mkdir(parents=True)
        mask = np.zeros((12, 12), np.uint8)
        mask[k * 4 : k * 4 + 3] = 255
        Image.fromarray(mask).save(root / "masks" / structure / "JPCLN001.gif")
    assert select_layout(root).name == "structure_folders"
