"""``--include``/``--exclude`` patterns holding a ``/`` match the path inside the data folder (README: "a pattern
with a ``/`` matches the path inside the data folder") for class folders and CSV manifests too: ``--exclude
'a/*'`` matched no file name there, so nothing was left out, without a word."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from medimg import Dataset


def _png(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(path)


def test_a_pattern_with_a_slash_leaves_out_a_class_folder_and_a_patient_folder(tmp_path: Path) -> None:
    for k, name in enumerate(("a", "b", "c")):
        for i in range(4):
            _png(tmp_path / "data" / name / f"img{i}.png", 10 * k + i)
    _png(tmp_path / "data" / "b" / "img9.png", 99)
    ds = Dataset.load(tmp_path / "data", exclude="a/*")
    assert sorted(ds.class_names) == ["b", "c"]
    assert len(ds) == 9
    ds = Dataset.load(tmp_path / "data", exclude="b/img9*")
    assert len(ds) == 12 and not any(c.case_id == "b/img9.png" for c in ds.cases)
    ds = Dataset.load(tmp_path / "data", include="c/*,b/*")  # include patterns too
    assert sorted(ds.class_names) == ["b", "c"]


def test_a_pattern_with_a_slash_leaves_out_a_manifests_sub_folder(tmp_path: Path) -> None:
    rows = ["path,label"]
    for site in ("site1", "site2"):
        for i in range(4):
            _png(tmp_path / site / f"x{i}.png", i + (10 if site == "site2" else 0))
            rows.append(f"{site}/x{i}.png,{'normal' if i % 2 else 'tumour'}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    ds = Dataset.load(tmp_path / "labels.csv", exclude="site1/*")
    assert len(ds) == 4
    assert all(c.case_id.startswith("site2") or "site2" in str(c.path) for c in ds.cases)


def test_predict_inputs_a_pattern_with_a_slash_matches_the_path_inside_the_folder(tmp_path: Path) -> None:
    from medimg.io.inputs import expand_inputs

    for sub in ("scans", "masks"):
        for i in range(3):
            _png(tmp_path / "in" / sub / f"x{i}.png", i)
    files = expand_inputs([tmp_path / "in"], exclude="masks/*")
    assert sorted(p.parent.name for p in files) == ["scans"] * 3
