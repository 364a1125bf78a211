"""``--include``/``--exclude`` patterns holding a ``/`` match the path inside the data folder (README: "a pattern
with a ``/`` matches the path inside the data folder") for class folders and CSV manifests too: ``--exclude
'a/*'`` matched no file name there, so nothing was left out, without a word."""

from __future__ import annotations

from collections.abc import Callable
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


def _two_sites(root: Path, header: str, per_site: int, cells: Callable[[int], str]) -> list[str]:
    """``per_site`` images in ``root/site1`` and ``root/site2``, and the table's lines naming them (``cells(i)``
    after each path)."""
    rows = [header]
    for site in ("site1", "site2"):
        for i in range(per_site):
            _png(root / site / f"x{i}.png", i + (10 if site == "site2" else 0))
            rows.append(f"{site}/x{i}.png,{cells(i)}")
    return rows


def test_a_pattern_with_a_slash_leaves_out_a_manifests_sub_folder(tmp_path: Path) -> None:
    rows = _two_sites(tmp_path, "path,label", 4, lambda i: "normal" if i % 2 else "tumour")
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


def test_a_pattern_with_a_slash_leaves_out_a_sub_folder_of_a_box_table(tmp_path: Path) -> None:
    """The box layouts matched patterns against file names only: ``--exclude 'site2/*'`` kept site 2's boxes."""
    from medimg.data.layouts import csv_boxes

    rows = _two_sites(tmp_path, "path,x1,y1,x2,y2,label", 3, lambda i: "1,1,6,6,cell")
    _png(tmp_path / "site2" / "x9.png", 50)  # no row: a negative beside site 2's images
    table = tmp_path / "boxes.csv"
    table.write_text("\n".join(rows) + "\n")
    assert len(csv_boxes.load(table).cases) == 7
    kept = csv_boxes.load(table, exclude=("site2/*",)).cases
    assert sorted(c.case_id for c in kept) == ["site1/x0.png", "site1/x1.png", "site1/x2.png"]
    kept = csv_boxes.load(table, include=("site2/*",)).cases
    assert sorted(c.case_id for c in kept) == ["site2/x0.png", "site2/x1.png", "site2/x2.png", "site2/x9.png"]


def test_path_selected_matches_slash_patterns_inside_the_root_only(tmp_path: Path) -> None:
    from medimg.io.inputs import path_selected

    file = tmp_path / "data" / "masks" / "a.png"
    assert not path_selected(file, (), ("masks/*",), tmp_path / "data")
    assert path_selected(file, (), ("other/*",), tmp_path / "data")
    assert path_selected(file, ("masks/*",), (), tmp_path / "data")
    assert not path_selected(file, (), ("*.png",), None)  # name patterns as before
    assert path_selected(file, (), ("masks/*",), None)  # no root: a slash pattern matches no name


def test_a_pattern_without_a_slash_matches_a_folder_name_too(tmp_path: Path) -> None:
    """BreakHis keeps each magnification in a folder (``.../SOB_B_A_14-22549AB/40X/SOB_B_A-14-22549AB-40-001.png``):
    ``--include '*40X*'`` found no images (the pattern was matched against file names only)."""
    for k, name in enumerate(("benign", "malignant")):
        for zoom in ("40X", "100X"):
            for i in range(3):
                _png(tmp_path / "data" / name / "SOB" / f"patient{k}" / zoom / f"SOB-{k}-{zoom[:-1]}-{i:03d}.png", i)
    selected = Dataset.load(tmp_path / "data", include="*40X*")
    assert len(selected) == 6 and all("/40X/" in c.case_id for c in selected.cases)
    assert len(Dataset.load(tmp_path / "data", exclude="100x")) == 6  # case-insensitive, a whole folder name
