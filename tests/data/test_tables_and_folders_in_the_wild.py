"""Label tables and class folders as users send them: a file listed twice, a class whose every file is broken,
class names in macOS's decomposed Unicode, a table with nothing but the columns it needs."""

from __future__ import annotations

import logging
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg import Dataset
from medimg.data.labels import label_map
from medimg.data.quality import check_dataset, drop_label_conflicts, drop_unreadable_classes
from medimg.errors import DatasetError


def _png(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (16, 16), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def _table(folder: Path, rows: list[str], name: str = "labels.csv") -> Path:
    for i in range(8):
        _png(folder / "img" / f"{i}.png", seed=i)
    (folder / name).write_text("\n".join(["path,label", *rows]) + "\n")
    return folder / name


def test_a_file_listed_twice_with_two_labels_is_a_label_conflict(tmp_path: Path) -> None:
    rows = [f"img/{i}.png,{'tumour' if i % 2 else 'normal'}" for i in range(8)] + ["img/0.png,tumour"]
    dataset = Dataset.load(_table(tmp_path, rows))
    assert len(dataset.cases) == 9  # both rows of img/0.png stay, as two cases the check can compare
    assert len({c.case_id for c in dataset.cases}) == 9
    report = check_dataset(dataset)
    assert report.label_conflicts == [["img/0.png [normal]", "img/0.png (line 10) [tumour]"]]
    assert not report.ok
    kept = drop_label_conflicts(dataset, known=report.label_conflict_ids)
    assert len(kept.cases) == 7 and not any(c.path == tmp_path / "img" / "0.png" for c in kept.cases)


def test_a_file_listed_twice_with_one_label_is_read_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rows = [f"img/{i}.png,{'tumour' if i % 2 else 'normal'}" for i in range(8)] + ["img/3.png,tumour", "img/4.png,"]
    with caplog.at_level(logging.INFO):
        dataset = Dataset.load(_table(tmp_path, rows))
    assert len(dataset.cases) == 8 and not dataset.unlabelled  # the repeat, and the label-less repeat, read once
    assert "2 row(s) name a file an earlier row names" in caplog.text


def test_a_class_whose_every_file_is_broken_is_left_out(tmp_path: Path) -> None:
    for c, name in enumerate(["alpha", "beta"]):
        for i in range(4):
            _png(tmp_path / name / f"{i}.png", seed=10 * c + i)
    (tmp_path / "broken").mkdir()
    for i in range(3):
        (tmp_path / "broken" / f"{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(40)))
    dataset = Dataset.load(tmp_path)
    assert dataset.class_names == ["alpha", "beta", "broken"]
    report = check_dataset(dataset)
    assert any("no image of class(es) broken could be read" in w for w in report.warnings)
    kept = drop_unreadable_classes(dataset, [item["path"] for item in report.unreadable])
    assert kept.class_names == ["alpha", "beta"]
    assert sorted({c.label for c in kept.cases}) == [0, 1] and len(kept.cases) == 8
    assert [kept.class_names[c.label] for c in kept.cases if c.label is not None] == [
        dataset.class_names[c.label] for c in dataset.cases[:8] if c.label is not None
    ]
    assert len(kept.excluded) == 3
    # a class with some readable images keeps them (their broken files are training's to skip)
    assert drop_unreadable_classes(dataset, [item["path"] for item in report.unreadable][:2]) is dataset


def _nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def test_csv_labels_in_decomposed_unicode_are_the_same_class(tmp_path: Path) -> None:
    names = ["Tümör", "Ödem"]
    rows = [f"img/{i}.png,{_nfd(names[i % 2]) if i % 3 == 0 else names[i % 2]}" for i in range(8)]
    dataset = Dataset.load(_table(tmp_path, rows))
    assert sorted(dataset.class_names) == sorted(names)


def test_split_folders_in_decomposed_unicode_are_the_same_classes(tmp_path: Path) -> None:
    for split, form in [("train", "NFC"), ("test", "NFD")]:
        for c, name in enumerate(["Tümör", "Ödem"]):
            for i in range(3):
                _png(tmp_path / split / unicodedata.normalize(form, name) / f"{i}.png", seed=10 * c + i)
    dataset = Dataset.load(tmp_path)
    assert sorted(dataset.class_names) == ["Tümör", "Ödem"]
    assert dataset.split_counts() == {"train": 6, "test": 6}
    # a model trained on composed names evaluates data named in the decomposed form
    assert label_map([_nfd("Ödem")], ["Tümör", "Ödem"]).tolist() == [1]
    # an unknown name is quoted: a folder "Ödem " (trailing space) showed as Ödem, the space invisible
    with pytest.raises(DatasetError, match="does not know: 'Ödem '"):
        label_map(["Ödem "], ["Tümör", "Ödem"])


def test_a_table_of_only_known_columns_names_no_other_column(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    for i in range(4):
        _png(tmp_path / "img" / f"{i}.png", seed=i)
    rows = ["path,label,patient_id,split"] + [f"img/{i}.png,{'ab'[i % 2]},p{i},train" for i in range(4)]
    (tmp_path / "k.csv").write_text("\n".join(rows) + "\n")
    with caplog.at_level(logging.INFO):
        Dataset.load(tmp_path / "k.csv")
    assert "(not from" not in caplog.text


def test_rows_of_separators_at_the_end_of_a_table_are_not_rows(tmp_path: Path) -> None:
    rows = [f"img/{i}.png,{'ab'[i % 2]}" for i in range(8)]
    table = _table(tmp_path, rows)
    table.write_text(table.read_text() + ",\r\n , \r\n,,\r\n")  # as a spreadsheet saves a table's empty rows
    assert len(Dataset.load(table).cases) == 8


def test_paths_relative_to_the_current_folder_are_named_in_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(4):
        _png(tmp_path / "ds" / "img" / f"{i}.png", seed=i)
    (tmp_path / "ds" / "labels").mkdir()
    table = tmp_path / "ds" / "labels" / "t.csv"
    table.write_text("path,label\n" + "".join(f"ds/img/{i}.png,{'ab'[i % 2]}\n" for i in range(4)))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetError, match=r"4 of them name a file relative to the current folder"):
        Dataset.load(table)


def test_one_hot_labels_in_an_npz_are_classes_as_in_fit_x_y(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 3, 40)
    y[:3] = [0, 1, 2]
    images = rng.random((40, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "k.npz", images=images, labels=np.eye(3)[y].astype(np.float32))
    dataset = Dataset.load(tmp_path / "k.npz")
    assert not dataset.multi_label and dataset.num_classes == 3
    assert [c.label for c in dataset.cases] == y.tolist()
    several = np.eye(3)[y]
    several[0] = [1, 1, 0]  # a row with two ones: findings
    np.savez(tmp_path / "m.npz", images=images, labels=several)
    assert Dataset.load(tmp_path / "m.npz").multi_label


def test_a_4d_nifti_among_volumes_is_named_in_the_check(tmp_path: Path) -> None:
    import nibabel as nib

    rng = np.random.default_rng(0)
    for name in ["a", "b"]:
        (tmp_path / name).mkdir()
        for i in range(3):
            volume = rng.random((8, 9, 7)).astype(np.float32)
            nib.save(nib.Nifti1Image(volume, np.eye(4)), tmp_path / name / f"{i}.nii.gz")
    nib.save(nib.Nifti1Image(rng.random((8, 9, 7, 3)).astype(np.float32), np.eye(4)), tmp_path / "a" / "t.nii.gz")
    report = check_dataset(Dataset.load(tmp_path))
    warning = next(w for w in report.warnings if w.startswith("mixed channel counts"))
    assert "6 image(s) with 1, 1 image(s) with 3; e.g. " in warning and "t.nii.gz has 3" in warning
    assert "4D file" in warning


def test_a_broken_symbolic_link_is_named_not_silently_dropped(
    phantom_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A class folder of links into PACS storage whose targets moved: the link was left out without a word."""
    (phantom_dir / "lesion" / "moved_scan.png").symlink_to("/nonexistent/moved_scan.png")
    with caplog.at_level(logging.WARNING):
        dataset = Dataset.load(phantom_dir)
    assert "1 broken symbolic link(s) left out (e.g." in caplog.text and "moved_scan.png" in caplog.text
    assert not any("moved_scan" in c.case_id for c in dataset.cases)


def test_a_link_that_leads_back_to_itself_is_left_out_like_a_broken_one(
    phantom_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``ln -s self.png self.png`` in a class folder: loading stopped with OSError ELOOP out of a folder listing, which
    the CLI told the user to fix by choosing a folder they can write to."""
    (phantom_dir / "lesion" / "self.png").symlink_to("self.png")
    with caplog.at_level(logging.WARNING):
        dataset = Dataset.load(phantom_dir)
    assert "1 broken symbolic link(s) left out (e.g." in caplog.text and "lead back to themselves" in caplog.text
    assert dataset.num_classes == 2 and not any("self.png" in c.case_id for c in dataset.cases)


def test_a_folder_whose_only_sub_folder_links_back_to_it_is_no_endless_wrapper(tmp_path: Path) -> None:
    """``data/a/back -> data``: each folder the only one in the one above, so the search for the data inside wrapper
    folders went round the loop until the path was too long to open (ELOOP)."""
    (tmp_path / "data" / "a").mkdir(parents=True)
    (tmp_path / "data" / "a" / "back").symlink_to(tmp_path / "data")
    with pytest.raises(DatasetError, match="no images found in"):
        Dataset.load(tmp_path / "data")


def test_a_table_with_a_header_and_no_rows_is_said_to_be_one(tmp_path: Path) -> None:
    """``medimg check labels.csv`` on a header alone was told to make "one sub-folder per class"."""
    table = tmp_path / "labels.csv"
    table.write_text("path,label\n")
    with pytest.raises(DatasetError, match=r"no images listed in .*labels\.csv: the table has no row") as raised:
        Dataset.load(table).validate()
    assert "sub-folder" not in str(raised.value)


def test_tbx11k_as_downloaded_reads_its_image_classes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """TBX11K: ``imgs/{health,sick,tb}/`` beside ``annotations/xml/`` and ``lists/*.txt``, and ``imgs/test/`` of
    images without labels. Before: "a single class ('imgs')" from the top folder, and from ``imgs/`` the unlabelled
    test images a fourth class ``test`` (with only a warning)."""
    root = tmp_path / "TBX11K"
    for c, name in enumerate(("health", "sick", "tb", "test")):
        for i in range(3):
            _png(root / "imgs" / name / f"{name[0]}{i:04d}.png", seed=10 * c + i)
    (root / "annotations" / "xml").mkdir(parents=True)
    (root / "annotations" / "xml" / "t0000.xml").write_text("<annotation></annotation>\n")
    (root / "lists").mkdir()
    (root / "lists" / "TBX11K_train.txt").write_text("health/h0000.png\ntb/t0000.png\n")
    with caplog.at_level(logging.WARNING):
        dataset = Dataset.load(root)
    assert dataset.class_names == ["health", "sick", "tb"] and len(dataset.cases) == 9
    assert "test/ holds images without class folders beside the class folders" in caplog.text
    assert "medimg predict RUN" in caplog.text
    alone = tmp_path / "alone"  # one class folder beside an unlabelled test/: nothing to leave out for
    for name in ("tb", "test"):
        _png(alone / name / "0.png", seed=1)
    assert Dataset.load(alone).class_names == ["tb", "test"]


def test_folders_of_documents_beside_the_data_are_not_classes(tmp_path: Path) -> None:
    """BACH's ``Photos/<class>/`` beside ``WSI/`` (whole-slide ``.svs`` scans and their ``.xml`` outlines), and
    Shenzhen's ``CXR_png/`` beside ``ClinicalReadings/*.txt``. Before: "a single class ('Photos')" for BACH; for
    Shenzhen (labels only in its file names) the error now names the label table too."""
    bach = tmp_path / "ICIAR2018_BACH_Challenge"
    for c, name in enumerate(("Benign", "Normal")):
        for i in range(3):
            _png(bach / "Photos" / name / f"{name[0].lower()}{i:03d}.tif", seed=10 * c + i)
    (bach / "WSI").mkdir()
    for name in ("A01.svs", "A01.xml", "Gt_A01.npy.txt"):
        (bach / "WSI" / name).write_bytes(b"not an image")
    assert Dataset.load(bach).class_names == ["Benign", "Normal"]
    shenzhen = tmp_path / "ChinaSet_AllFiles"
    for i in range(4):
        _png(shenzhen / "CXR_png" / f"CHNCXR_{i + 1:04d}_{i % 2}.png", seed=i)
        (shenzhen / "ClinicalReadings").mkdir(exist_ok=True)
        (shenzhen / "ClinicalReadings" / f"CHNCXR_{i + 1:04d}_{i % 2}.txt").write_text("male 45yrs\nnormal\n")
    with pytest.raises(DatasetError, match=r"single class \('CXR_png'\).*a CSV manifest with path,label columns"):
        Dataset.load(shenzhen)


def test_a_folder_of_images_to_predict_is_no_class(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Br35H: ``yes/``, ``no/`` and ``pred/`` (images to predict, without labels). Before: ``pred`` a third class,
    trained and scored, with `status OK`."""
    for c, name in enumerate(("yes", "no", "pred")):
        for i in range(3):
            _png(tmp_path / name / f"{name}{i}.jpg", seed=10 * c + i)
    with caplog.at_level(logging.WARNING):
        dataset = Dataset.load(tmp_path)
    assert dataset.class_names == ["no", "yes"] and len(dataset.cases) == 6
    assert "pred/ holds images without class folders" in caplog.text


def test_patient_folders_of_sparse_csv_volumes_are_named_as_tables_not_images(tmp_path: Path) -> None:
    """OpenKBP's ``train-pats/pt_1/ct.csv``, ``dose.csv``, ``Brainstem.csv``: the error said only "expected one
    sub-folder per class holding image files", not that the folders hold tables, nor that MHA, NRRD and .npy are
    read too."""
    for patient in ("pt_1", "pt_2", "pt_3"):
        (tmp_path / patient).mkdir()
        for name in ("ct", "dose", "possible_dose_mask", "Brainstem"):
            (tmp_path / patient / f"{name}.csv").write_text(",data\n1012,4\n")
    with pytest.raises(DatasetError) as error:
        Dataset.load(tmp_path)
    message = str(error.value)
    assert "12 CSV/TSV table(s)" in message and "OpenKBP" in message and "MHA/NRRD" in message
