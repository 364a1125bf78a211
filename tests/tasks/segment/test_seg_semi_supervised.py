"""Semi-supervised segmentation (``fit --task segment --unlabelled POOL``) on synthetic discs: pool patches join
the batches, confident pixels become pseudo-labels, and no validation/test image is ever in the pool."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from medimg import Model
from medimg.config import FitOptions
from medimg.engine.run import default_splits
from medimg.errors import ConfigError
from medimg.tasks.registry import get_task
from tests.tasks.segment.synthetic import FAST_FIT, disc_image, write_2d_pairs

FAST = FAST_FIT


def _pool(folder: Path, n: int, seed: int) -> Path:
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(disc_image(rng, 32)[0]).save(folder / f"unlabelled_{i}.png")
    return folder


def test_fit_learns_from_a_pool_folder_and_keeps_evaluation_images_out(tmp_path: Path) -> None:
    data = write_2d_pairs(tmp_path / "discs", n=14, size=32)
    pool = _pool(tmp_path / "pool", 4, seed=9)
    task = get_task("segment")
    assignment = default_splits(task, task.load_dataset(data), FitOptions()).assignment  # what fit will use
    evaluated = next(case_id for case_id, split in sorted(assignment.items()) if split != "train")
    shutil.copy(data / evaluated, pool / "copy_of_an_evaluation_image.png")
    model = Model("unet", task="segment").fit(
        data,
        run_dir=tmp_path / "run",
        unlabelled=pool,
        semi_supervised={"confidence_threshold": 0.5, "warmup_epochs": 0},
        **FAST,
    )
    run = model.run_dir_
    assert run is not None
    assert json.loads((run / "splits.json").read_text())["assignment"] == assignment
    semi = model.metadata_["training"]["semi_supervised"]
    assert semi["dropped_evaluation_copies"] == 1
    assert semi["unlabelled_images"] == 4
    assert semi["epochs"][0]["pseudo_label_rate"] > 0 and semi["epochs"][0]["unlabelled_loss"] > 0
    assert "postprocessing_scores" in model.metadata_["training"]  # the task's own after-training step still runs
    assert json.loads((run / "plan.json").read_text())["semi_supervised"]["confidence_threshold"] == 0.5


def test_images_without_a_mask_in_the_data_are_the_pool_when_asked(tmp_path: Path) -> None:
    data = write_2d_pairs(tmp_path / "discs", n=12, size=32)
    from PIL import Image

    rng = np.random.default_rng(3)
    for i in range(3):  # images beside the pairs, with no mask: the data's own unlabelled images
        Image.fromarray(disc_image(rng, 32)[0]).save(data / "images" / f"extra_{i}.png")
    model = Model("unet", task="segment").fit(data, run_dir=tmp_path / "run", unlabelled=data, **FAST)
    assert model.metadata_["training"]["unlabelled_images"] == 3


def test_a_file_is_not_a_segmentation_pool(tmp_path: Path) -> None:
    data = write_2d_pairs(tmp_path / "discs", n=12, size=32)
    with pytest.raises(ConfigError, match="folder of images"):
        Model("unet", task="segment").fit(
            data, run_dir=tmp_path / "run", unlabelled=data / "images" / "case_00.png", **FAST
        )


def test_masks_in_a_pool_folder_are_left_out_of_the_pool(tmp_path: Path) -> None:
    """crossMoDA's training folder as the pool: ``<case>_ceT1.nii.gz`` + ``<case>_Label.nii.gz`` beside the target
    domain's ``<case>_hrT2.nii.gz``; the ``_Label`` masks went into the pool as unlabelled images."""
    import nibabel as nib

    from medimg.data.dataset import SegmentationDataset
    from medimg.data.pool import attach_pool

    folder = tmp_path / "crossmoda2022_training"
    folder.mkdir()
    volume = np.zeros((8, 8, 4), np.float32)
    for i in range(1, 4):
        nib.save(nib.Nifti1Image(volume + i, np.eye(4)), str(folder / f"crossmoda2022_etz_{i}_ceT1.nii.gz"))
        nib.save(
            nib.Nifti1Image(volume.astype(np.uint8), np.eye(4)), str(folder / f"crossmoda2022_etz_{i}_Label.nii.gz")
        )
        nib.save(nib.Nifti1Image(volume + 9, np.eye(4)), str(folder / f"crossmoda2022_etz_{100 + i}_hrT2.nii.gz"))
    data = SegmentationDataset(name="x", root=tmp_path, source="folder", cases=[])
    pooled, _ = attach_pool(data, folder)
    names = sorted(Path(p).name for p in pooled.unlabelled)
    assert len(names) == 6 and not any("_Label" in n for n in names)
