"""Identical images with different labels: `fit` leaves every copy out of training, validation and test (named in a
warning and recorded in the run), keeps them with keep_conflicts / --keep-conflicts, refuses them with strict
(issue 14, "checks that speak up")."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medimg import Dataset, Model
from medimg.cli.app import app
from medimg.data.quality import CONFLICT_REASON, check_dataset, drop_label_conflicts
from medimg.errors import DatasetError
from tests.test_end_to_end import quick_fit_args

CONFLICT = ["normal/phantom_0001.png", "lesion/dup_of_normal.png"]


@pytest.fixture
def conflicted(phantom_dir: Path) -> Path:
    """The phantoms with a normal image copied into the lesion folder: one group of two conflicting images."""
    shutil.copy(phantom_dir / "normal" / "phantom_0001.png", phantom_dir / "lesion" / "dup_of_normal.png")
    return phantom_dir


def test_conflicting_copies_are_dropped_and_listed(conflicted: Path, caplog: pytest.LogCaptureFixture) -> None:
    dataset = Dataset.load(conflicted)
    with caplog.at_level(logging.WARNING):
        kept = drop_label_conflicts(dataset)
    assert len(kept.cases) == len(dataset.cases) - 2
    assert not {c.case_id for c in kept.cases} & set(CONFLICT)
    assert sorted(e["case_id"] for e in kept.excluded) == sorted(CONFLICT)
    assert {e["reason"] for e in kept.excluded} == {CONFLICT_REASON}
    assert kept.describe()["excluded"] == kept.excluded
    assert "left out 2 image(s)" in caplog.text and "dup_of_normal.png [lesion]" in caplog.text
    assert "phantom_0001.png [normal]" in caplog.text
    known = check_dataset(dataset).label_conflict_ids  # what `medimg fit` found with its check: nothing re-read
    assert sorted(known[0]) == sorted(CONFLICT)
    assert [c.case_id for c in drop_label_conflicts(dataset, known=known).cases] == [c.case_id for c in kept.cases]
    assert drop_label_conflicts(dataset, keep=True) is dataset
    for keep in (False, True):  # strict refuses them whatever keep says, as `fit --strict` refuses every problem
        with pytest.raises(DatasetError, match=r"dup_of_normal\.png"):
            drop_label_conflicts(dataset, strict=True, keep=keep)


def test_a_dataset_without_conflicts_is_unchanged(phantom_dir: Path) -> None:
    dataset = Dataset.load(phantom_dir)
    assert drop_label_conflicts(dataset) is dataset


def test_model_fit_leaves_them_out_of_every_split_and_records_them(conflicted: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    model = Model("simple-cnn").fit(conflicted, run_dir=run, epochs=1, progress=False, tensorboard=False)
    assignment = json.loads((run / "splits.json").read_text())["assignment"]
    assert len(assignment) == 79 and not set(CONFLICT) & set(assignment)
    recorded = json.loads((run / "dataset.json").read_text())["excluded"]
    assert sorted(e["case_id"] for e in recorded) == sorted(CONFLICT)
    training = json.loads((run / "metadata.json").read_text())["training"]
    assert sorted(e["path"] for e in training["excluded_files"]) == sorted(str(conflicted / c) for c in CONFLICT)
    assert model.report_ is not None
    assert json.loads((run / "report" / "report.json").read_text())["extra"]["training"]["excluded_files"]
    with pytest.raises(DatasetError, match="strict refuses"):
        Model("simple-cnn").fit(conflicted, run_dir=tmp_path / "strict", epochs=1, progress=False, strict=True)


def test_cli_fit_leaves_them_out_and_keep_conflicts_keeps_them(conflicted: Path, tmp_path: Path) -> None:
    left = CliRunner().invoke(app, quick_fit_args(conflicted, tmp_path / "left", epochs=1))
    assert left.exit_code == 0, left.output
    assert "the 2 images in label conflicts are left out" in left.output and "--keep-conflicts" in left.output
    assert not set(CONFLICT) & set(json.loads((tmp_path / "left" / "splits.json").read_text())["assignment"])
    kept = CliRunner().invoke(app, [*quick_fit_args(conflicted, tmp_path / "kept", epochs=1), "--keep-conflicts"])
    assert kept.exit_code == 0, kept.output
    assert "left out" not in kept.output
    assert set(CONFLICT) <= set(json.loads((tmp_path / "kept" / "splits.json").read_text())["assignment"])
    assert "excluded" not in json.loads((tmp_path / "kept" / "dataset.json").read_text())


def test_cli_fit_leaves_out_masks_and_blank_files_stored_among_the_images(phantom_dir: Path, tmp_path: Path) -> None:
    """BUSI's layout: ``<class>/<image> (1).png`` with ``<image> (1)_mask.png`` beside it; a "normal" mask is blank."""
    import numpy as np
    from PIL import Image

    masks = []
    for cls in ("normal", "lesion"):
        for i, image in enumerate(sorted((phantom_dir / cls).glob("*.png"))[:3]):
            mask = np.zeros((32, 32), np.uint8)
            if cls == "lesion":
                mask[4 + i : 14 + i, 6:16] = 255
            Image.fromarray(mask).save(image.with_name(f"{image.stem}_mask.png"))
            masks.append(f"{cls}/{image.stem}_mask.png")
    result = CliRunner().invoke(app, quick_fit_args(phantom_dir, tmp_path / "run", epochs=1))
    assert result.exit_code == 0, result.output
    assert "the 6 masks and blank files are left out" in result.output
    assert not set(masks) & set(json.loads((tmp_path / "run" / "splits.json").read_text())["assignment"])
    excluded = json.loads((tmp_path / "run" / "dataset.json").read_text())["excluded"]
    reasons = {e["case_id"]: e["reason"] for e in excluded}
    assert sorted(reasons) == sorted(masks)
    assert sum("segmentation mask" in r for r in reasons.values()) == 3
    assert sum(r.startswith("blank") for r in reasons.values()) == 3
    strict = CliRunner().invoke(app, [*quick_fit_args(phantom_dir, tmp_path / "strict", epochs=1), "--strict"])
    assert strict.exit_code != 0 and "--strict refuses" in f"{strict.output}{strict.exception}"


def test_a_class_whose_every_image_conflicts_is_refused_not_trained_without(tmp_path: Path) -> None:
    """BCS-DBT's labels, a row per view, read onto each patient's one file: every cancer image was also a normal
    one, all left out as conflicts; the cancer model trained on no cancer case reported accuracy 1.0, exit 0."""
    import numpy as np
    from PIL import Image

    from medimg.data.quality import usable_training_images

    rows = ["path,label"]
    for i in range(8):
        pixels = np.random.default_rng(i).integers(0, 256, (8, 8), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / f"p{i}.png")
        rows.append(f"p{i}.png,0")
        if i < 3:
            rows.append(f"p{i}.png,1")  # the other view's row, naming the same file
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path / "labels.csv")
    with pytest.raises(DatasetError, match=r"no image of the class\(es\) '1' \(3\) is left .* --keep-conflicts"):
        usable_training_images(dataset)
    kept = usable_training_images(dataset, keep_conflicts=True)
    assert sum(c.label == 1 for c in kept.cases) == 3
