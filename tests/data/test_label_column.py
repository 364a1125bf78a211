"""Naming the column of classes of a label table (``label_column=``, ``--label-column``): a clinical table
(NSCLC-Radiomics' ``PatientID,age,...,Overall.Stage,Histology,gender,Survival.time,deadstatus.event``) names no
column as labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg.data.dataset import Dataset
from medimg.errors import DatasetError

HISTOLOGY = ["adenocarcinoma", "large cell", "squamous cell carcinoma"]


def _clinical_set(root: Path, n: int = 12) -> Path:
    """Images named by ``PatientID`` beside a clinical table without a label column."""
    root.mkdir(parents=True)
    rows = ["PatientID,age,Clinical.M.Stage,Overall.Stage,Histology,gender,Survival.time,deadstatus.event"]
    rng = np.random.default_rng(0)
    for i in range(n):
        name = f"LUNG1-{i + 1:03d}"
        Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(root / f"{name}.png")
        stage, dead = ("I", "II", "IIIa")[i % 3], i % 2
        rows.append(
            f"{name},{50 + 2 * i},{(0, 1, 0, 3)[i % 4]},{stage},{HISTOLOGY[i % 3]},{('male', 'female')[i % 2]},"
            f"{100 + 37 * i},{dead}"
        )
    (root / "clinical.csv").write_text("\n".join(rows) + "\n")
    return root / "clinical.csv"


def test_a_clinical_table_is_refused_naming_its_columns_that_may_hold_classes(tmp_path: Path) -> None:
    table = _clinical_set(tmp_path / "nsclc")
    with pytest.raises(DatasetError) as error:
        Dataset.load(table, task="classify")
    message = str(error.value)
    assert "--label-column Overall.Stage" in message and "label_column='Overall.Stage'" in message
    assert "'Histology'" in message and "'gender'" in message  # the other columns that may hold classes
    assert "'age'" not in message  # a measurement


def test_columns_of_coordinates_are_not_offered_as_classes(tmp_path: Path) -> None:
    """Duke breast MRI's ``Annotation_Boxes.xlsx`` (``Patient ID, Start Row, End Row, Start Column, ...``) and
    PROSTATEx' findings (``ProxID,fid,pos,zone,ClinSig``, ``pos`` three numbers): the refusal offered ``--label-column
    "Start Row"`` and ``pos`` first; followed, coordinates trained as classes."""
    (tmp_path / "duke").mkdir()
    rows = ["Patient ID,Start Row,End Row,Start Column,End Column,Start Slice,End Slice"]
    rows += [f"Breast_MRI_{k:03d},{9 + k % 3},{17 + k % 2},{12 + k % 3},20,3,7" for k in range(12)]
    (tmp_path / "duke" / "boxes.csv").write_text("\n".join(rows) + "\n")
    for k in range(12):  # each patient's folder of images
        (tmp_path / "duke" / f"Breast_MRI_{k:03d}").mkdir()
        Image.fromarray(np.full((8, 8), 10 * k, np.uint8)).save(tmp_path / "duke" / f"Breast_MRI_{k:03d}" / "1.png")
    with pytest.raises(DatasetError) as duke:
        Dataset.load(tmp_path / "duke" / "boxes.csv", task="classify")
    assert "--label-column NAME" in str(duke.value) and "may hold classes" not in str(duke.value)
    (tmp_path / "prostatex").mkdir()
    rows = ["ProxID,fid,pos,zone,ClinSig"]
    rows += [f"ProstateX-{k:04d},1,{25.7 + k} {31.8 - k} -38.5,{('PZ', 'TZ')[k % 2]},{k % 3 == 0}" for k in range(12)]
    (tmp_path / "prostatex" / "findings.csv").write_text("\n".join(rows) + "\n")
    for k in range(12):
        (tmp_path / "prostatex" / f"ProstateX-{k:04d}").mkdir()
        image = np.full((8, 8), 10 * k, np.uint8)
        Image.fromarray(image).save(tmp_path / "prostatex" / f"ProstateX-{k:04d}" / "1.png")
    with pytest.raises(DatasetError, match=r"--label-column ClinSig .*may hold classes: 'ClinSig', 'zone'\)"):
        Dataset.load(tmp_path / "prostatex" / "findings.csv", task="classify")


def test_a_column_named_for_a_finding_is_offered_first_and_the_side_last(tmp_path: Path) -> None:
    """A knee table ``image_id,patient_id,side,KL_grade``: the refusal offered ``--label-column side`` alone (text
    columns first, the grades' numbers never shown); followed, a left-right classifier trained."""
    rows = ["image_id,patient_id,side,KL_grade"]
    for k in range(12):
        name = f"P{k:03d}_{'LR'[k % 2]}.png"
        Image.fromarray(np.full((8, 8), 10 * k, np.uint8)).save(tmp_path / name)
        rows.append(f"{name},P{k // 2:03d},{'LR'[k % 2]},{k % 5}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DatasetError, match=r"--label-column KL_grade .*may hold classes: 'KL_grade', 'side'\)"):
        Dataset.load(tmp_path / "labels.csv")


def test_the_named_column_gives_the_classes(tmp_path: Path) -> None:
    table = _clinical_set(tmp_path / "nsclc")
    found = Dataset.load(table, task="classify", label_column="histology")  # case-insensitive
    assert found.class_names == HISTOLOGY and not found.multi_label
    assert found.class_counts() == {name: 4 for name in HISTOLOGY}
    assert found.options["label_column"] == "histology"
    by_stage = Dataset.load(table, task="classify", label_column="Overall.Stage")
    assert by_stage.class_names == ["I", "II", "IIIa"]


def test_a_folder_holding_the_table_is_read_with_it(tmp_path: Path) -> None:
    """The clinical table beside the images is not a label table by itself; naming its column finds it."""
    table = _clinical_set(tmp_path / "nsclc")
    (table.parent / "readme.txt").write_text("NSCLC\n")
    found = Dataset.load(table.parent, label_column="Histology")
    assert found.task == "classify" and found.class_names == HISTOLOGY and len(found) == 12


def test_a_submission_template_or_an_excel_copy_beside_the_table_is_not_a_second_table(tmp_path: Path) -> None:
    """PANDA's ``sample_submission.csv`` (``image_id,isup_grade``) beside ``train.csv``, FETAL_PLANES_DB's
    ``_data.xlsx`` beside its ``_data.csv``: the folder was refused as holding "none at its top with a column"."""
    from openpyxl import Workbook

    table = _clinical_set(tmp_path / "nsclc")
    (table.parent / "sample_submission.csv").write_text("PatientID,Histology\nLUNG1-001,x\n")
    book = Workbook()
    for line in table.read_text().splitlines():
        book.active.append(line.split(","))
    book.save(table.with_suffix(".xlsx"))
    found = Dataset.load(table.parent, label_column="Histology")
    assert found.class_names == HISTOLOGY and len(found) == 12
    (table.parent / "other.csv").write_text(table.read_text())  # two tables with the column: name them both
    with pytest.raises(DatasetError, match=r"holds 2 tables with that column \(clinical.csv, other.csv\)"):
        Dataset.load(table.parent, label_column="Histology")


def test_a_missing_column_is_named_with_a_close_match(tmp_path: Path) -> None:
    table = _clinical_set(tmp_path / "nsclc")
    with pytest.raises(DatasetError, match=r"no column 'Histolgy' \(--label-column\).*Did you mean 'Histology'"):
        Dataset.load(table, task="classify", label_column="Histolgy")
    with pytest.raises(DatasetError, match="Did you mean 'Histology'"):
        Dataset.load(table.parent, task="classify", label_column="Histolgy")  # the folder's one table


def test_data_without_a_table_is_refused_naming_the_fix(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / "folders" / name).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(tmp_path / "folders" / name / f"{i}.png")
    with pytest.raises(DatasetError, match=r"is no label table.*give the table's path"):
        Dataset.load(tmp_path / "folders", label_column="Histology")
    # CRIC: the table with the column a folder below (base/classifications.csv): named, not "holds none"
    (tmp_path / "cric" / "base" / "images").mkdir(parents=True)
    (tmp_path / "cric" / "base" / "classifications.csv").write_text("image_id,image_filename,bethesda_system\n")
    (tmp_path / "cric" / "base" / "notes.csv").write_text("image_id,comment\n")
    with pytest.raises(
        DatasetError, match=r"a table below it has that column: medimg fit .*base/classifications\.csv --label-column"
    ):
        Dataset.load(tmp_path / "cric", label_column="bethesda_system")
    # GlaS's Grade.csv column "grade (GlaS)": quoted for the shell in the command offered (a syntax error unquoted)
    (tmp_path / "glas" / "Warwick QU Dataset").mkdir(parents=True)
    (tmp_path / "glas" / "Warwick QU Dataset" / "Grade.csv").write_text("name, patient ID, grade (GlaS)\n")
    with pytest.raises(DatasetError) as error:
        Dataset.load(tmp_path / "glas", label_column="grade (GlaS)")
    offered = f"medimg fit '{tmp_path}/glas/Warwick QU Dataset/Grade.csv' --label-column 'grade (GlaS)'"
    assert offered in str(error.value)
    table = _clinical_set(tmp_path / "nsclc")
    with pytest.raises(DatasetError, match="for classification"):
        Dataset.load(table, task="segment", label_column="Histology")


def test_a_run_reads_an_external_table_by_its_column_and_class_folders_without_it(tmp_path: Path) -> None:
    """The run's label column is used on an external set with a table that has it, not on class folders."""
    from medimg.bundle import dataset_options

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"dataset_options": {"label_column": "Histology"}}))
    table = _clinical_set(tmp_path / "external")
    assert dataset_options(run, table)["label_column"] == "Histology"
    assert dataset_options(run)["label_column"] == "Histology"  # the training data
    (tmp_path / "folders" / "a").mkdir(parents=True)
    assert "label_column" not in dataset_options(run, tmp_path / "folders")


def test_the_cli_trains_and_evaluates_on_the_named_column(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from medimg.cli.app import app

    table = _clinical_set(tmp_path / "nsclc", n=18)
    runner = CliRunner()
    checked = runner.invoke(app, ["check", str(table), "--label-column", "Histology"])
    assert checked.exit_code == 0, checked.output
    assert "adenocarcinoma: 6" in checked.output
    args = ["fit", str(table), "--label-column", "Histology", "--network", "simple-cnn", "--epochs", "1"]
    args += ["--input-size", "16", "--no-progress", "--threads", "1", "--run-dir", str(tmp_path / "run")]
    fitted = runner.invoke(app, args)
    assert fitted.exit_code == 0, fitted.output
    classes = json.loads((tmp_path / "run" / "metadata.json").read_text())["class_names"]
    assert classes == HISTOLOGY
    evaluated = runner.invoke(app, ["evaluate", str(tmp_path / "run"), str(table), "--split", "all"])
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads((tmp_path / "run" / "evaluations" / "clinical-all" / "report.json").read_text())
    assert len(report["predictions"]) == 18


def test_a_column_of_fractional_scores_is_neither_offered_nor_taken_for_classes_in_silence(tmp_path: Path) -> None:
    """CheXmask's ``ChestX-Ray8.csv`` (``ImageID,Dice RCA (Max),...,Left Lung,Right Lung,Heart``, run-length masks):
    the refusal offered ``--label-column "Dice RCA (Max)"``, and followed, 18 scores were 18 classes without a word
    (the measurement warning waited for 20)."""
    from medimg.data.labels import measurement_warning

    rows = [f"{i:08d}_000.png,0.{70 + i},{'ab'[i % 2]}" for i in range(12)]
    (tmp_path / "ChestX-Ray8.csv").write_text("ImageID,Dice RCA (Max),View\n" + "\n".join(rows) + "\n")
    for i in range(12):
        Image.fromarray(np.full((8, 8), 10 * i, np.uint8)).save(tmp_path / f"{i:08d}_000.png")
    with pytest.raises(DatasetError, match="has no label column") as error:
        Dataset.load(tmp_path / "ChestX-Ray8.csv")
    assert "Dice RCA" not in str(error.value).split("name the column")[1] and "'View'" in str(error.value)
    assert measurement_warning([f"0.{70 + i}" for i in range(6)]) is not None  # a score, six of them
    assert measurement_warning(["1", "2", "3", "4", "5", "6"]) is None  # codes: six grades
