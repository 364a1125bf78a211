"""Label tables as hospital tools export them: one class written two ways (``1``/``1.0``, ``no  finding``), a split
or patient column under another name (``Set``, ``MRN``), ``file://`` URLs, workbooks with title rows, a README
sheet first, or one sheet per split."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from PIL import Image

from medimg import Dataset
from medimg.errors import DatasetError


def _images(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.fromarray(np.full((8, 8), 20 * i % 256, dtype=np.uint8)).save(folder / name)


NAMES = [f"{c}.png" for c in "abcdefgh"]


def _table(tmp_path: Path, header: str, rows: list[str]) -> Path:
    _images(tmp_path / "images", NAMES)
    path = tmp_path / "labels.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_a_whole_number_written_as_a_float_in_some_rows_is_one_class(tmp_path: Path) -> None:
    labels = ["0", "0.0", "1", "1.0", "0", "1", "0.0", "1.0"]  # two exports joined, one by pandas (floats)
    path = _table(tmp_path, "path,label", [f"images/{n},{lab}" for n, lab in zip(NAMES, labels, strict=True)])
    dataset = Dataset.load(path)
    assert dataset.class_names == ["0", "1"]
    assert [c.label for c in dataset.cases] == [0, 0, 1, 1, 0, 1, 0, 1]


def test_labels_differing_in_inner_spaces_are_one_class(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    labels = ["no finding", "no  finding", "pneumonia", "pneumonia", "no finding", "no finding", "pneumonia", "x"]
    path = _table(tmp_path, "path,label", [f"images/{n},{lab}" for n, lab in zip(NAMES, labels, strict=True)])
    with caplog.at_level(logging.WARNING):
        dataset = Dataset.load(path, min_classes=2)
    assert dataset.class_names.count("no finding") == 1 and "no  finding" not in dataset.class_names
    assert "'no  finding' (1 rows)" in caplog.text


def test_a_split_column_named_set_gives_the_splits(tmp_path: Path) -> None:
    splits = ["training", "training", "training", "training", "validation", "validation", "testing", "testing"]
    rows = [f"images/{n},{'n' if i % 2 else 'p'},{s}" for i, (n, s) in enumerate(zip(NAMES, splits, strict=True))]
    dataset = Dataset.load(_table(tmp_path, "path,label,Set", rows))
    assert [c.split for c in dataset.cases] == ["train"] * 4 + ["val"] * 2 + ["test"] * 2


def test_a_column_of_other_values_named_set_is_not_a_split(tmp_path: Path) -> None:
    rows = [f"images/{n},{'n' if i % 2 else 'p'},batch{i % 2}" for i, n in enumerate(NAMES)]
    dataset = Dataset.load(_table(tmp_path, "path,label,Set", rows))
    assert all(c.split is None for c in dataset.cases)


def test_a_medical_record_number_column_gives_the_patients(tmp_path: Path) -> None:
    rows = [f"images/{n},{'n' if i % 2 else 'p'},{1000 + i // 2}" for i, n in enumerate(NAMES)]
    dataset = Dataset.load(_table(tmp_path, "path,label,MRN", rows))
    assert [c.patient_id for c in dataset.cases] == ["1000", "1000", "1001", "1001", "1002", "1002", "1003", "1003"]


def test_file_urls_name_their_files(tmp_path: Path) -> None:
    _images(tmp_path / "my images", NAMES[:4])
    here = (tmp_path / "my images").as_posix().replace(" ", "%20")
    rows = [
        f"file://{here}/a.png,n",
        f"file://localhost{here}/b.png,p",
        "file:///C:/Users/alice/xrays/c.png,n",  # another machine's drive: found by name
        "file://server/share/d.png,p",  # a Windows share
    ]
    (tmp_path / "labels.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path / "labels.csv")
    assert [c.path.name for c in dataset.cases if c.path] == NAMES[:4]


def _workbook(path: Path, sheets: list[tuple[str, list[list[object]]]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets:
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def _label_rows(names: list[str]) -> list[list[object]]:
    return [["Image", "Diagnosis"], *([f"images/{n}", "pneumonia" if i % 2 else "normal"] for i, n in enumerate(names))]


def test_a_workbook_with_title_rows_above_its_header(tmp_path: Path) -> None:
    _images(tmp_path / "images", NAMES)
    rows: list[list[object]] = [["Chest X-ray study: labels"], ["exported 2024-03-01 by PACS"], [], *_label_rows(NAMES)]
    dataset = Dataset.load(_workbook(tmp_path / "labels.xlsx", [("Export", rows)]))
    assert dataset.class_names == ["normal", "pneumonia"] and len(dataset.cases) == 8


def test_a_workbook_whose_first_sheet_is_a_summary(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _images(tmp_path / "images", NAMES)
    summary: list[list[object]] = [["class", "count"], ["normal", 4], ["pneumonia", 4]]
    path = _workbook(tmp_path / "labels.xlsx", [("Summary", summary), ("Labels", _label_rows(NAMES))])
    with caplog.at_level(logging.WARNING):
        dataset = Dataset.load(path)
    assert dataset.class_names == ["normal", "pneumonia"] and len(dataset.cases) == 8
    assert "'Summary' are not read" in caplog.text


def test_a_workbook_with_a_sheet_per_split_reads_every_sheet(tmp_path: Path) -> None:
    _images(tmp_path / "images", NAMES)
    sheets = [("Train", _label_rows(NAMES[:6])), ("Test", _label_rows(NAMES[6:]))]
    dataset = Dataset.load(_workbook(tmp_path / "labels.xlsx", sheets))
    assert len(dataset.cases) == 8
    assert [c.split for c in dataset.cases] == ["train"] * 6 + ["test"] * 2


def test_a_label_typed_with_a_non_breaking_hyphen_is_the_same_class(tmp_path: Path) -> None:
    labels = ["COVID-19", "COVID\u201119", "COVID\u201319", "normal", "normal", "normal", "COVID-19", "normal"]
    path = _table(tmp_path, "path,label", [f"images/{n},{lab}" for n, lab in zip(NAMES, labels, strict=True)])
    assert sorted(Dataset.load(path).class_names) == ["COVID-19", "normal"]


def test_a_patient_id_written_as_a_float_in_some_rows_is_one_patient(tmp_path: Path) -> None:
    patients = ["17", "17.0", "18", "18.0", "19", "19", "20.0", "20.0"]
    rows = [f"images/{n},{'n' if i % 2 else 'p'},{p}" for i, (n, p) in enumerate(zip(NAMES, patients, strict=True))]
    dataset = Dataset.load(_table(tmp_path, "path,label,patient_id", rows))
    assert [c.patient_id for c in dataset.cases] == ["17", "17", "18", "18", "19", "19", "20", "20"]


def test_a_hospital_export_in_german_with_a_set_column(tmp_path: Path) -> None:
    _images(tmp_path / "Bilder", NAMES)
    sets = ["Training"] * 4 + ["Validation"] * 2 + ["Test"] * 2
    rows = [
        f"Bilder\\{n};{'Normal' if i % 2 else 'Lungenentzündung'};{s}"
        for i, (n, s) in enumerate(zip(NAMES, sets, strict=True))
    ]
    (tmp_path / "labels.csv").write_bytes("\r\n".join(["Bild;Diagnose;Set", *rows]).encode("cp1252"))
    dataset = Dataset.load(tmp_path / "labels.csv")
    assert sorted(dataset.class_names) == ["Lungenentzündung", "Normal"]
    assert [c.split for c in dataset.cases] == ["train"] * 4 + ["val"] * 2 + ["test"] * 2


def test_a_set_column_with_values_naming_no_split_is_reported(tmp_path: Path) -> None:
    sets = ["train", "train", "Validierung", "train", "test", "test", "train", "train"]
    rows = [f"images/{n},{'n' if i % 2 else 'p'},{s}" for i, (n, s) in enumerate(zip(NAMES, sets, strict=True))]
    with pytest.raises(
        DatasetError, match=r"labels\.csv: unknown split value\(s\) in column 'Set': line 4: 'Validierung'"
    ):
        Dataset.load(_table(tmp_path, "path,label,Set", rows))


def test_a_split_column_of_fold_numbers_is_named_as_folds(tmp_path: Path) -> None:
    """EchoNet-Pediatric's ``Split`` 0..9: "unknown split value(s) ... use train, val or test" named no folds."""
    rows = [f"images/{n},{'n' if i % 2 else 'p'},{i % 4}" for i, n in enumerate(NAMES)]
    with pytest.raises(DatasetError, match=r"values 0\.\.3 look like cross-validation folds.*--folds 4"):
        Dataset.load(_table(tmp_path, "path,label,Split", rows))


def test_a_row_with_an_unquoted_delimiter_in_a_value_is_refused(tmp_path: Path) -> None:
    rows = [
        f"images/{n},{'effusion, left' if i == 1 else 'normal' if i % 2 else 'effusion'}" for i, n in enumerate(NAMES)
    ]
    with pytest.raises(DatasetError, match=r"labels\.csv: 1 row\(s\) have more values than the header.*line 3.*Quote"):
        Dataset.load(_table(tmp_path, "path,label", rows))


def test_trailing_empty_cells_past_the_header_are_not_refused(tmp_path: Path) -> None:
    rows = [f"images/{n},{'n' if i % 2 else 'p'},," for i, n in enumerate(NAMES)]
    assert len(Dataset.load(_table(tmp_path, "path,label", rows)).cases) == 8


def test_a_label_column_named_twice_is_refused(tmp_path: Path) -> None:
    rows = [f"images/{n},{'n' if i % 2 else 'p'},{i % 2}" for i, n in enumerate(NAMES)]
    with pytest.raises(DatasetError, match=r"labels\.csv: its header names the column\(s\) 'Label' twice"):
        Dataset.load(_table(tmp_path, "path,label,Label", rows))


def test_findings_joined_by_semicolons_are_a_multi_label_set(tmp_path: Path) -> None:
    labels = ["Effusion;Atelectasis", "Effusion", "No Finding", "Atelectasis; Effusion", "Atelectasis", "No Finding"]
    path = _table(tmp_path, "path,label", [f"images/{n},{lab}" for n, lab in zip(NAMES, labels, strict=False)])
    dataset = Dataset.load(path)
    assert dataset.multi_label and dataset.class_names == ["Atelectasis", "Effusion"]
    assert [c.findings for c in dataset.cases] == [(0, 1), (1,), (), (0, 1), (0,), ()]


def test_a_class_with_a_comma_in_its_name_stays_one_class(tmp_path: Path) -> None:
    labels = ["benign, no atypia", "benign", "malignant", "benign, no atypia", "malignant", "benign"]
    path = _table(tmp_path, "path,label", [f'images/{n},"{lab}"' for n, lab in zip(NAMES, labels, strict=False)])
    dataset = Dataset.load(path)
    assert not dataset.multi_label and sorted(dataset.class_names) == ["benign", "benign, no atypia", "malignant"]


def test_a_finding_spelled_in_two_cases_is_one_finding(tmp_path: Path) -> None:
    labels = ["Effusion|Atelectasis", "Effusion", "No Finding", "atelectasis|effusion", "Atelectasis", "No Finding"]
    path = _table(tmp_path, "path,Finding Labels", [f"images/{n},{lab}" for n, lab in zip(NAMES, labels, strict=False)])
    assert Dataset.load(path).class_names == ["Atelectasis", "Effusion"]


def test_a_patient_column_of_one_placeholder_word_is_not_one_patient(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """INbreast's table writes ``removed`` in every ``Patient ID`` cell: read as ids, all 410 mammograms were one
    patient and fit stopped on "only 1 group"; the patients its DICOM headers (or names) give are used instead."""
    names = [f"{p:04d}_{view}.png" for p in range(10) for view in (1, 2)]
    _images(tmp_path / "AllDICOMs", names)
    rows = [f"removed;AllDICOMs/{n};{'4a' if i % 3 else '2'}" for i, n in enumerate(names)]
    (tmp_path / "INbreast.csv").write_text("\n".join(["Patient ID;File Name;Bi-Rads", *rows]) + "\n")
    with caplog.at_level(logging.WARNING):
        dataset = Dataset.load(tmp_path / "INbreast.csv")
    assert "column 'Patient ID' holds 'removed' in all 20 rows: a de-identification placeholder" in caplog.text
    assert {c.patient_id for c in dataset.cases} == {f"name-{p:04d}" for p in range(10)}  # from the names
    one = [f"P001;AllDICOMs/{n};{'4a' if i % 3 else '2'}" for i, n in enumerate(names)]
    (tmp_path / "INbreast.csv").write_text("\n".join(["Patient ID;File Name;Bi-Rads", *one]) + "\n")
    assert {c.patient_id for c in Dataset.load(tmp_path / "INbreast.csv").cases} == {"P001"}  # an id: one patient
