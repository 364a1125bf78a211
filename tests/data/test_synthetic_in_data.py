"""Synthetic images never mix with real data: ``medimg generate`` refuses an ``--out`` that is (or is inside)
data, and a dataset some of whose images a ``synthetic.csv`` lists is refused (they would reach val/test)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg import Dataset
from medimg.errors import ConfigError, DatasetError
from medimg.tasks.generate.synthesis import refuse_data_folder


def _class_folders(root: Path, n: int = 6) -> Path:
    rng = np.random.default_rng(0)
    for name in ("normal", "lesion"):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(root / name / f"{i}.png")
    return root


def _generated_into(root: Path) -> None:
    """What `medimg generate RUN --out DATA` wrote before: images in the class folders, synthetic.csv at the top."""
    rows = ["path,label,synthetic,run,seed"]
    for name in ("normal", "lesion"):
        Image.fromarray(np.full((8, 8), 7, np.uint8)).save(root / name / "synthetic_s0_00000.png")
        rows.append(f"{name}/synthetic_s0_00000.png,{name},1,/runs/gan,0")
    (root / "synthetic.csv").write_text("\n".join(rows) + "\n")


def test_a_dataset_holding_a_generated_set_is_refused(tmp_path: Path) -> None:
    data = _class_folders(tmp_path / "xr")
    assert len(Dataset.load(data).cases) == 12
    _generated_into(data)
    with pytest.raises(DatasetError, match=r"2 of its images are synthetic .*synthetic\.csv.*--synthetic"):
        Dataset.load(data)


def test_a_manifest_naming_generated_images_is_refused(tmp_path: Path) -> None:
    data = _class_folders(tmp_path / "xr")
    _generated_into(data)
    rows = ["path,label"] + [f"xr/{p.parent.name}/{p.name},{p.parent.name}" for p in sorted(data.glob("*/*.png"))]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DatasetError, match="are synthetic"):
        Dataset.load(tmp_path / "labels.csv")
    real = [r for r in rows if "synthetic_" not in r]
    (tmp_path / "real.csv").write_text("\n".join(real) + "\n")
    assert len(Dataset.load(tmp_path / "real.csv").cases) == 12  # the real images alone are fine


def test_generate_refuses_an_out_folder_of_real_data(tmp_path: Path) -> None:
    data = _class_folders(tmp_path / "xr")
    run = tmp_path / "runs" / "gan"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"task": "generate", "data": str(data), "options": {}}))
    for out in (data, data / "lesion", data / "new_folder"):  # the training data, a class folder, inside it
        with pytest.raises(ConfigError, match=r"--out .*--synthetic"):
            refuse_data_folder(out, str(run))
    other = _class_folders(tmp_path / "other")  # another labelled dataset
    with pytest.raises(ConfigError, match="holds images that are not synthetic"):
        refuse_data_folder(other, str(run))
    refuse_data_folder(tmp_path / "synth", str(run))  # a new folder
    set_folder = tmp_path / "set"
    (set_folder / "lesion").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(set_folder / "lesion" / "synthetic_s0_00000.png")
    (set_folder / "synthetic.csv").write_text(
        "path,label,synthetic,run,seed\nlesion/synthetic_s0_00000.png,lesion,1,,0\n"
    )
    refuse_data_folder(set_folder, str(run))  # an earlier set: added to
