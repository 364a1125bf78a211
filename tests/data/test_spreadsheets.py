"""Label tables kept as Excel workbooks (.xlsx, .xls) are read as CSV manifests are, and a table beside a flat folder
of images labels them (Messidor's ``Base11/`` with its ``.tif`` images and ``Annotation_Base11.xls``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import openpyxl
import pytest
import xlwt
from PIL import Image

from medimg import Dataset
from medimg.data.layouts.spreadsheets import read_sheet
from medimg.errors import DatasetError


def _image(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), value, dtype=np.uint8)).save(path)


def test_messidor_folder_with_its_xls_annotations_beside_the_images(tmp_path: Path) -> None:
    base = tmp_path / "Base11"
    book = xlwt.Workbook()
    sheet = book.add_sheet("Feuil1")
    header = ["Image name", "Ophthalmologic department", "Retinopathy grade", "Risk of macular edema "]
    for column, name in enumerate(header):
        sheet.write(0, column, name)
    for i in range(6):
        name = f"20051019_38557_01{i:02d}_PP.tif"
        _image(base / name, 40 * i)
        for column, value in enumerate([name, "Service Ophtalmologie Lariboisière", float(i % 3), 0.0]):
            sheet.write(i + 1, column, value)
    book.save(str(base / "Annotation_Base11.xls"))
    dataset = Dataset.load(base)
    assert dataset.class_names == ["0", "1", "2"]  # grades written as 0.0, 1.0, 2.0: whole numbers, not floats
    assert [c.path.name for c in dataset.cases if c.path] == [f"20051019_38557_01{i:02d}_PP.tif" for i in range(6)]
    assert [dataset.class_names[c.label] for c in dataset.cases] == ["0", "1", "2"] * 2


def test_an_xlsx_manifest_reads_like_its_csv(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append([])  # an empty first row, as a title row left blank
    sheet.append(["Patient ID", "Image", "Diagnosis", "Study date", "Reviewed"])
    for i in range(8):
        _image(tmp_path / "xrays" / f"{i}.png", 30 * i)
        finding = "pneumonia" if i % 2 else "normal"
        sheet.append([f"P{i // 2}", f"xrays/{i}.png", finding, dt.datetime(2024, 1, i + 1), True])
        if i == 3:
            sheet.append([None, None, None, None, None])  # a blank row inside the table
    book.save(tmp_path / "labels.xlsx")
    (tmp_path / "~$labels.xlsx").write_bytes(b"lock")  # Excel's lock file beside an open workbook
    header, rows = read_sheet(tmp_path / "labels.xlsx")
    assert header == ["Patient ID", "Image", "Diagnosis", "Study date", "Reviewed"]
    assert rows[0] == {"Patient ID": "P0", "Image": "xrays/0.png", "Diagnosis": "normal", "Study date": "2024-01-01",
                       "Reviewed": "1"}  # fmt: skip
    assert len(rows) == 8
    dataset = Dataset.load(tmp_path / "labels.xlsx")
    assert dataset.class_names == ["normal", "pneumonia"] and len(dataset.cases) == 8
    assert [c.patient_id for c in dataset.cases[:4]] == ["P0", "P0", "P1", "P1"]
    assert len(Dataset.load(tmp_path).cases) == 8  # the folder: the workbook at its top labels xrays/, no class


def test_a_flat_folder_of_images_with_a_csv_beside_them(tmp_path: Path) -> None:
    rows = ["image,label"]
    for i in range(4):
        _image(tmp_path / f"img{i}.jpg", 60 * i)
        rows.append(f"img{i}.jpg,{'b' if i % 2 else 'a'}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path)
    assert dataset.class_names == ["a", "b"] and len(dataset.cases) == 4


def test_a_damaged_workbook_is_named_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "labels.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(DatasetError, match=r"cannot read the spreadsheet .*labels\.xlsx.*export the sheet as CSV"):
        Dataset.load(tmp_path / "labels.xlsx")


def test_a_table_beside_one_wrapper_folder_of_classes_is_not_taken_for_labels(tmp_path: Path) -> None:
    """A wrapper folder of class folders beside a table that is not their labels (BreakHis's ``Folds.csv``:
    ``fold,mag,grp,filename``, no label column). The class folders label the images, not the table."""
    breast = tmp_path / "BreaKHis_v1"
    rows = ["fold,mag,grp,filename"]
    for label in ("benign", "malignant"):
        for i in range(3):
            name = f"SOB_{label[0].upper()}_x-{i}-40-001.png"
            _image(breast / label / "SOB" / f"patient{i}" / "40X" / name, 40 * i)
            rows.append(f"1,40,train,BreaKHis_v1/{label}/SOB/patient{i}/40X/{name}")
    (tmp_path / "Folds.csv").write_text("\n".join(rows) + "\n")
    dataset = Dataset.load(tmp_path)
    assert dataset.class_names == ["benign", "malignant"] and len(dataset.cases) == 6


def test_an_opendocument_spreadsheet_is_named_with_the_fix(tmp_path: Path) -> None:
    """``labels.ods`` (LibreOffice) beside ``images/``: given itself, "is a zip archive, not a dataset: unpack it first
    (unzip ...)"; the folder was "a single class ('images')", the table not named."""
    import zipfile

    from medimg.errors import DatasetError

    for i in range(4):
        (tmp_path / "images").mkdir(exist_ok=True)
        Image.fromarray(np.full((8, 8), 30 * i, np.uint8)).save(tmp_path / "images" / f"case{i}.png")
    with zipfile.ZipFile(tmp_path / "labels.ods", "w") as ods:  # an OpenDocument file is a zip of XML parts
        ods.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        ods.writestr("content.xml", "<office:document-content/>")
    with pytest.raises(DatasetError, match=r"OpenDocument spreadsheet .*: save it as \.xlsx or \.csv") as error:
        Dataset.load(tmp_path / "labels.ods")
    assert "unzip" not in str(error.value)
    with pytest.raises(DatasetError, match=r"labels\.ods beside the images is an OpenDocument spreadsheet"):
        Dataset.load(tmp_path)
