"""One definition of a missing table cell (:data:`medimg.data.case.MISSING_VALUES`) for every reader: R's ``NA``,
pandas' markers, blank cells are unlabelled images, never a class."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg import Dataset
from medimg.data.case import is_missing_value, normalise_split
from medimg.data.layouts import rle_masks
from medimg.data.synthetic_sets import generator_runs

MARKERS = ["NA", "N/A", "n/a", "NULL", "null", "None", "nan", "NaN", "<NA>", "#N/A", " "]
#: in a label column "None" may name a class (None/Mild/Moderate/Severe): kept, with a warning
LABEL_MARKERS = [m for m in MARKERS if m != "None"]


def _images(root: Path, n: int) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = root / "img" / f"{i:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def test_an_r_write_csv_manifest_reads_na_as_unlabelled(tmp_path: Path) -> None:
    """R's ``write.csv``: quoted header and strings, a row-number column, missing values as an unquoted NA."""
    paths = _images(tmp_path, 30)
    lines = ['"","path","label"']
    for i, path in enumerate(paths):
        label = "NA" if i >= 20 else f'"{"Normal" if i % 2 else "Pneumonia"}"'
        lines.append(f'"{i + 1}","{path}",{label}')
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n")
    ds = Dataset.load(tmp_path / "r.csv")
    assert ds.class_names == ["Normal", "Pneumonia"]
    assert len(ds.cases) == 20 and len(ds.unlabelled) == 10


@pytest.mark.parametrize("marker", LABEL_MARKERS)
def test_every_missing_value_marker_is_an_unlabelled_row(tmp_path: Path, marker: str) -> None:
    _images(tmp_path, 12)
    rows = ["path,label,patient_id"] + [
        f"img/{i:03d}.png,{marker if i % 4 == 3 else ('b' if i % 2 else 'a')},{marker if i == 0 else f'p{i}'}"
        for i in range(12)
    ]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    ds = Dataset.load(tmp_path / "m.csv")
    assert ds.class_names == ["a", "b"]
    assert len(ds.unlabelled) == 3 and all(c.label is None for c in ds.unlabelled)
    assert next(c for c in ds.cases if c.case_id == "img/000.png").patient_id is None  # an NA patient is unknown


def test_none_as_a_label_is_a_class_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """None/Mild/Moderate/Severe: 'None' read as missing dropped a class, also from the manifests medimg writes
    itself (compare --group, fit(paths, labels)), where the user could not rename it. It is a class, warned about."""
    _images(tmp_path, 12)
    rows = ["path,label"] + [f"img/{i:03d}.png,{['None', 'Mild', 'Severe'][i % 3]}" for i in range(12)]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    with caplog.at_level(logging.WARNING):
        ds = Dataset.load(tmp_path / "m.csv")
    assert sorted(ds.class_names) == ["Mild", "None", "Severe"] and not ds.unlabelled
    assert any("'None'" in r.message and "class of its own" in r.message for r in caplog.records)


def test_a_none_class_given_in_python_keeps_its_images(tmp_path: Path) -> None:
    from medimg.data.given_files import labels_table

    files = _images(tmp_path, 12)
    table = labels_table([str(f) for f in files], [["None", "Mild", "Severe"][i % 3] for i in range(12)])
    manifest = table.save(tmp_path / "training_labels.csv")
    assert sorted(Dataset.load(manifest).class_names) == ["Mild", "None", "Severe"]


def test_a_class_named_like_a_placeholder_is_warned_about(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _images(tmp_path, 12)
    labels = ["a", "b", "?", "unknown"]
    rows = ["path,label"] + [f"img/{i:03d}.png,{labels[i % 4]}" for i in range(12)]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    with caplog.at_level(logging.WARNING):
        ds = Dataset.load(tmp_path / "m.csv")
    assert set(ds.class_names) == {"a", "b", "?", "unknown"}  # read as classes (ISIC's 'unknown' is one)...
    warned = " ".join(r.message for r in caplog.records if r.levelname == "WARNING")
    assert "'?'" in warned and "'unknown'" in warned and "leave those cells empty" in warned  # ...but said


def test_minus_beside_plus_is_a_negative_class(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _images(tmp_path, 12)
    rows = ["path,label"] + [f"img/{i:03d}.png,{'+' if i % 2 else '-'}" for i in range(12)]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    with caplog.at_level(logging.WARNING):
        ds = Dataset.load(tmp_path / "m.csv")
    assert sorted(ds.class_names) == ["+", "-"] and not [r for r in caplog.records if r.levelname == "WARNING"]


def test_one_hot_columns_with_na_cells(tmp_path: Path) -> None:
    _images(tmp_path, 12)
    rows = ["image,MEL,NV"] + [f"img/{i:03d}.png,{1 if i % 2 else 'NA'},{'NA' if i % 2 else 1}" for i in range(12)]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    ds = Dataset.load(tmp_path / "m.csv")
    assert sorted(ds.class_names) == ["MEL", "NV"] and len(ds.cases) == 12 and not ds.multi_label


def test_one_definition_across_readers(tmp_path: Path) -> None:
    for marker in [*MARKERS, "", None]:
        assert is_missing_value(marker)
        assert normalise_split(marker) is None
        assert len(rle_masks._runs(marker or "")) == 0
    for value in ("-", "?", "unknown", "0", "Normal", "nano"):
        assert not is_missing_value(value)
    (tmp_path / "synthetic.csv").write_text("path,label,synthetic,run,seed\na/1.png,a,1,NA,0\n")
    assert generator_runs(tmp_path) == ([], [])  # an NA run is no run, not a lost one
