"""``medimg check`` on image/mask pairs: what the report says and when it fails."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from medimg.cli.app import app


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8)).save(path)


def _disc(value: int, size: int = 16) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return np.where((yy - 8) ** 2 + (xx - 8) ** 2 < 16, value, 0)


def _pairs(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for k in range(3):
            _save(root / split / "images" / f"{split}{k}.png", rng.integers(0, 255, (16, 16)))
            _save(root / split / "masks" / f"{split}{k}.png", _disc(255))
    return root


def test_a_clean_set_reports_sizes_values_and_classes(tmp_path: Path) -> None:
    root = _pairs(tmp_path / "set")
    (root / "dataset.json").write_text(json.dumps({"labels": {"background": 0, "lesion": 255}}))
    result = CliRunner().invoke(app, ["check", str(root), "--json", str(tmp_path / "check.json")])
    assert result.exit_code == 0, result.output
    assert "6 image/mask pairs, segmentation" in result.output
    assert "sizes     16x16 x6" in result.output
    assert "masks     values 0, 255 -> 2 classes, values 0/255" in result.output
    assert "classes   lesion in 6 case(s)" in result.output and "status    OK" in result.output
    report = json.loads((tmp_path / "check.json").read_text())
    assert report["ok"] and report["class_names"] == ["background", "lesion"]


def test_problems_are_named_and_fail_the_check(tmp_path: Path) -> None:
    root = _pairs(tmp_path / "set")
    _save(root / "train" / "masks" / "train1.png", np.zeros((20, 16)))  # another size and shape than its image
    _save(root / "train" / "masks" / "train2.png", np.zeros((16, 16)))  # no structure at all
    _save(root / "train" / "masks" / "orphan.png", _disc(255))  # no image
    (root / "test" / "images" / "test0.png").write_bytes(b"not a png")  # corrupt
    duplicate = np.asarray(Image.open(root / "train" / "images" / "train0.png"))
    _save(root / "test" / "images" / "test1.png", duplicate)  # the same image in train and test
    result = CliRunner().invoke(app, ["check", str(root)])
    assert result.exit_code == 1, result.output
    out = result.output
    assert "unreadable 1, size mismatches 1, masks without an image 1, empty masks 1, same image across splits 1" in out
    assert "size mismatch: mask" in out and "train1.png has size (20, 16)" in out
    assert "mask without an image: train/masks/orphan.png" in out
    assert "unreadable: test/images/test0.png" in out
    assert "same image in several splits: test/images/test1.png, train/images/train0.png" in out
    assert "1 mask(s) hold a single value" in out and "PROBLEMS FOUND" in out
    assert "e.g. train/masks/train2.png (of train/images/train2.png)" in out  # the mask, not the image alone


def test_check_takes_the_colour_table_its_error_suggests(tmp_path: Path) -> None:
    """BUS-UCLM's colour masks (green benign, red malignant): check said "pass a colour table ... --set
    colour_table=..." and had no --set ("No such option")."""
    rng = np.random.default_rng(2)
    for k in range(4):
        _save(tmp_path / "set" / "images" / f"ALWI_{k:03d}.png", rng.integers(0, 255, (16, 16, 3)))
        mask = np.zeros((16, 16, 3))
        mask[4:9, 4:9, 1 if k % 2 else 0] = 255
        _save(tmp_path / "set" / "masks" / f"ALWI_{k:03d}.png", mask)
    table = tmp_path / "colours.json"
    table.write_text(json.dumps({"colours": {"0,0,0": 0, "0,255,0": 1, "255,0,0": 2}, "class_names": ["bg", "b", "m"]}))
    runner = CliRunner()
    refused = runner.invoke(app, ["check", str(tmp_path / "set")])
    assert refused.exit_code != 0 and "--set colour_table=" in f"{refused.output}{refused.exception}"
    result = runner.invoke(app, ["check", str(tmp_path / "set"), "--set", f"colour_table={table}"])
    assert result.exit_code == 0, result.output
    assert "classes   b in 2 case(s), m in 2 case(s)" in result.output
    other = runner.invoke(app, ["check", str(tmp_path / "set"), "--set", "epochs=3"])
    assert other.exit_code != 0 and "takes the data options" in f"{other.output}{other.exception}"


def test_a_class_no_mask_holds_is_a_warning(tmp_path: Path) -> None:
    root = tmp_path / "set"
    rng = np.random.default_rng(1)
    for k in range(3):
        _save(root / "images" / f"c{k}.png", rng.integers(0, 255, (16, 16)))
        _save(root / "labels" / f"c{k}.png", _disc(1 if k else 3))  # label map 0..3: classes 2 never drawn
    result = CliRunner().invoke(app, ["check", str(root)])
    assert "classes   class_1 in 2 case(s), class_2 in 0 case(s), class_3 in 1 case(s)" in result.output
    assert "warning: label map with values 0, 1, 3: 2 never occurs in the training masks; kept" in result.output


def test_colour_masks_without_a_table_fail_the_check(tmp_path: Path) -> None:
    """fit cannot turn RGB colour masks into classes without a colour table: the check says so and exits 1 (it said
    OK before)."""
    root = _pairs(tmp_path / "set")
    colour = np.zeros((16, 16, 3), np.uint8)
    colour[2:6, 2:6] = (255, 0, 0)
    colour[9:13, 9:13] = (0, 0, 255)
    for mask in sorted(root.rglob("masks/*.png")):
        _save(mask, colour)
    result = CliRunner().invoke(app, ["check", str(root)])
    assert result.exit_code == 1, result.output
    assert "not readable as classes" in result.output and "pass a colour table" in result.output


def test_a_code_in_one_mask_beside_a_code_most_masks_hold_is_warned_of_as_a_slip() -> None:
    """MM-WHS: codes 0, 205, 420, 500... and 421 in one MR mask (a slip of the annotation tool): a 9th class, every
    class above it shifted by one, status OK and no word."""
    from medimg.tasks.segment.quality import stray_label_values

    codes = [0, 205, 420, 500, 550, 600, 820, 850]
    values = {f"case{k}": np.array([c if (c != 420 or k) else 421 for c in codes], float) for k in range(8)}
    warnings = stray_label_values(values, lambda case_id: f"{case_id}_label.nii.gz")
    assert (
        len(warnings) == 1
        and "mask value 421 is in 1 of 8 masks only (case0_label.nii.gz), beside 420 in 7" in (warnings[0])
    )
    # consecutive organ ids (a rare organ beside a common one), rare class indices, too few masks: no warning
    organs = {f"case{k}": np.array([0, *range(1, 60), *([60] if k == 0 else [])], float) for k in range(8)}
    indices = {f"case{k}": np.array([0, 1, 2, *([3] if k == 0 else [])], float) for k in range(8)}
    few = dict(list(values.items())[:4])
    assert stray_label_values(organs, str) == stray_label_values(indices, str) == stray_label_values(few, str) == []
