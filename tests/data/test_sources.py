from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medimg import Dataset
from medimg.errors import DatasetError
from tests.conftest import shared_data, write_npz


def _png(path: Path, value: int = 100, size: int = 16) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size), value, dtype=np.uint8)).save(path)


def test_folder_per_class(phantom_dir: Path) -> None:
    ds = Dataset.load(phantom_dir)
    assert ds.class_names == ["normal", "lesion"]  # the normal-like class first: lesion is positive
    assert len(ds) == 80
    assert ds.class_counts() == {"lesion": 40, "normal": 40}
    assert not ds.has_own_split
    image = ds.read(ds.cases[0])
    assert image.array.shape == (1, 32, 32)


def test_a_folder_given_as_dot_is_named_after_the_folder(phantom_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(phantom_dir)
    assert Dataset.load(Path(".")).name == phantom_dir.name


def test_nested_split_folders(tmp_path: Path) -> None:
    for split in ("train", "val", "test"):
        for cls in ("a", "b"):
            _png(tmp_path / split / cls / f"{split}_{cls}.png")
    ds = Dataset.load(tmp_path)
    assert ds.has_own_split
    assert ds.split_counts() == {"train": 2, "val": 2, "test": 2}
    assert ds.class_names == ["a", "b"]


def test_include_exclude_patterns(tmp_path: Path) -> None:
    for cls in ("a", "b"):
        _png(tmp_path / cls / "cell1.BMP")
        _png(tmp_path / cls / "cell1-d.bmp")
    assert len(Dataset.load(tmp_path)) == 4
    assert len(Dataset.load(tmp_path, exclude="*-d.bmp")) == 2
    assert len(Dataset.load(tmp_path, include="*-d.bmp")) == 2


def test_empty_folder_and_single_class(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no class sub-folders"):
        Dataset.load(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with pytest.raises(DatasetError, match="no images found"):
        Dataset.load(tmp_path)
    _png(tmp_path / "a" / "x.png")
    with pytest.raises(DatasetError, match="single class"):
        Dataset.load(tmp_path)


def test_missing_path() -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        Dataset.load("/nonexistent/medimg/data")


def test_csv_manifest(tmp_path: Path) -> None:
    for i in range(6):
        _png(tmp_path / "img" / f"{i}.png", value=10 * i)
    rows = ["path,label,patient_id,split"] + [
        f"img/{i}.png,{'tumour' if i % 2 else 'normal'},p{i // 2},{'train' if i < 4 else 'test'}" for i in range(6)
    ]
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    ds = Dataset.load(tmp_path / "manifest.csv")
    assert ds.class_names == ["normal", "tumour"]
    assert [c.patient_id for c in ds.cases][:2] == ["p0", "p0"]
    assert ds.split_counts() == {"train": 4, "test": 2}


def test_a_spreadsheet_export_with_semicolons_windows_paths_and_label_case_variants(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for i in range(6):
        _png(tmp_path / "img" / "sub" / f"{i}.png", value=10 * i)
    labels = ["Tumour", "tumour ", "NORMAL", "normal", "normal", "tumour"]
    rows = ["Filename;Diagnosis;Patient"] + [f"img\\sub\\{i}.png;{labels[i]};p{i // 2}" for i in range(6)]
    (tmp_path / "export.csv").write_text("\n".join(rows) + "\n", encoding="utf-8-sig")
    ds = Dataset.load(tmp_path / "export.csv")
    assert len(ds.cases) == 6 and ds.cases[0].path == tmp_path / "img" / "sub" / "0.png"
    assert ds.class_names == ["normal", "tumour"]  # one class per spelling family, as most rows spell it
    assert [c.patient_id for c in ds.cases][:2] == ["p0", "p0"]
    assert "'normal' (2 rows), 'NORMAL' (1 rows) differ only in case" in caplog.text


def test_csv_missing_file_is_named(tmp_path: Path) -> None:
    _png(tmp_path / "a.png")
    (tmp_path / "m.csv").write_text("path,label\na.png,x\nmissing.png,y\n")
    with pytest.raises(DatasetError, match=r"line 3: .*missing\.png"):
        Dataset.load(tmp_path / "m.csv")


def test_csv_without_label_column(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("file,diag_x\na.png,x\n")
    with pytest.raises(DatasetError, match="no 'label' column"):
        Dataset.load(tmp_path / "m.csv")


def test_medmnist_npz_2d_and_3d(tmp_path: Path) -> None:
    ds = Dataset.load(write_npz(tmp_path / "pneumoniamnist.npz"))
    assert ds.class_names == ["normal", "pneumonia"]
    assert ds.spatial_dims == 2
    assert ds.split_counts() == {"train": 60, "val": 20, "test": 20}
    assert ds.read(ds.cases[0]).array.shape == (1, 28, 28)
    vol = Dataset.load(write_npz(tmp_path / "nodulemnist3d.npz", shape=(8, 8, 8)))
    assert vol.spatial_dims == 3
    assert vol.class_names == ["benign", "malignant"]
    assert vol.read(vol.cases[0]).array.shape == (1, 8, 8, 8)
    rgb = Dataset.load(write_npz(tmp_path / "unknownmnist.npz", shape=(8, 8, 3), classes=3))
    assert rgb.spatial_dims == 2 and rgb.class_names == ["class_0", "class_1", "class_2"]
    assert rgb.read(rgb.cases[0]).array.shape == (3, 8, 8)


def test_other_npz_spellings_keras_style_and_unsplit_with_string_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    keras = tmp_path / "keras.npz"
    images = rng.integers(0, 255, (30, 1, 16, 16)).astype(np.uint8)  # PyTorch's (N, C, H, W)
    np.savez(keras, x_train=images[:20], y_train=rng.integers(0, 2, 20), x_test=images[20:], y_test=np.ones(10))
    ds = Dataset.load(keras)
    assert ds.split_counts() == {"train": 20, "test": 10} and ds.source == "npz"
    assert np.array_equal(ds.read(ds.cases[0]).array[0], images[0, 0].astype(np.float32))
    unsplit = tmp_path / "lesions.npz"
    labels = np.array(["malignant", "benign"])[rng.integers(0, 2, 12)]
    np.savez(unsplit, images=rng.integers(0, 255, (12, 16, 16, 3)).astype(np.uint8), labels=labels)
    ds = Dataset.load(unsplit)
    assert ds.class_names == ["benign", "malignant"] and not ds.has_own_split
    assert [ds.class_names[c.label] for c in ds.cases] == labels.tolist()
    assert ds.read(ds.cases[3]).array.shape == (3, 16, 16)
    np.savez(tmp_path / "odd.npz", pixels=images)
    with pytest.raises(DatasetError, match=r"hold no images with labels; name them train_images/train_labels"):
        Dataset.load(tmp_path / "odd.npz")


def test_chestmnist_is_a_multi_label_set(tmp_path: Path) -> None:
    path = tmp_path / "chestmnist.npz"
    labels = np.zeros((4, 14), np.uint8)
    labels[1, [2, 5]] = 1
    labels[3, 13] = 1
    np.savez(path, train_images=np.zeros((4, 8, 8), np.uint8), train_labels=labels)
    ds = Dataset.load(path)
    assert ds.multi_label and ds.class_names[:3] == ["atelectasis", "cardiomegaly", "effusion"]
    assert [c.findings for c in ds.cases] == [(), (2, 5), (), (13,)] and ds.class_names[13] == "hernia"
    np.savez(path, train_images=np.zeros((4, 8, 8), np.uint8), train_labels=labels * 3)
    with pytest.raises(DatasetError, match="values other than 0/1"):
        Dataset.load(path)


def test_real_pneumoniamnist() -> None:
    ds = Dataset.load(shared_data("medmnist/pneumoniamnist.npz"))
    assert ds.split_counts() == {"train": 4708, "val": 524, "test": 624}
    assert ds.class_names == ["normal", "pneumonia"]


def test_real_adrenal_3d() -> None:
    ds = Dataset.load(shared_data("medmnist/adrenalmnist3d_64.npz"))
    assert ds.spatial_dims == 3
    assert ds.read(ds.cases[0]).array.shape == (1, 64, 64, 64)


def test_real_herlev_excluding_masks() -> None:
    ds = Dataset.load(shared_data("herlev/data"), exclude="*-d.bmp")
    assert len(ds.class_names) == 7
    assert len(ds) == 917
    assert not any(c.case_id.lower().endswith("-d.bmp") for c in ds.cases)


def test_class_order_puts_normal_first() -> None:
    from medimg.data.layouts.common import order_classes

    assert order_classes({"tumour", "normal"}) == ["normal", "tumour"]
    assert order_classes({"Pneumonia", "Normal"}) == ["Normal", "Pneumonia"]
    assert order_classes({"b", "a", "c"}) == ["a", "b", "c"]
    assert order_classes({"10", "2", "1"}) == ["1", "2", "10"]
    # more than two classes: plain alphabetical order
    assert order_classes({"normal_columnar", "carcinoma", "severe"}) == ["carcinoma", "normal_columnar", "severe"]
    # a negated name is the negative class (alphabetical order made "no fracture", "Non-COVID" and the malaria
    # set's "Uninfected" the positive class: sensitivity and specificity swapped)
    assert order_classes({"fracture", "no fracture"}) == ["no fracture", "fracture"]
    assert order_classes({"COVID", "Non-COVID"}) == ["Non-COVID", "COVID"]
    assert order_classes({"cancer", "non-cancer"}) == ["non-cancer", "cancer"]
    assert order_classes({"Parasitized", "Uninfected"}) == ["Uninfected", "Parasitized"]
    assert order_classes({"No Finding", "Finding"}) == ["No Finding", "Finding"]
    assert order_classes({"melanoma", "unknown"}) == ["melanoma", "unknown"]  # "un" alone negates nothing
    # the negation of a negative word is the positive class; control-group names (ADNI's CN) and compounds
    # (Kaggle's NonDemented) are negative: each was the positive class, sensitivity swapped with specificity
    assert order_classes({"Unhealthy", "Healthy"}) == ["Healthy", "Unhealthy"]
    assert order_classes({"AD", "CN"}) == ["CN", "AD"]
    assert order_classes({"MildDemented", "NonDemented"}) == ["NonDemented", "MildDemented"]
    assert order_classes({"dementia", "nondemented"}) == ["nondemented", "dementia"]
    assert order_classes({"Melanoma", "Nevus"}) == ["Nevus", "Melanoma"]
    assert order_classes({"abnormal", "normal"}) == ["normal", "abnormal"]
    assert order_classes({"glioma", "notumor"}) == ["notumor", "glioma"]  # Kaggle's brain tumour MRI folders
    assert order_classes({"mel", "nv"}) == ["nv", "mel"]  # HAM10000's own codes


def test_sub_folders_of_class_folders_are_patients_of_the_split(tmp_path: Path) -> None:
    from medimg.data.splits import make_splits

    for patient in range(24):
        cls = "pneumonia" if patient % 2 else "normal"
        for view in range(3):
            _png(tmp_path / "xrays" / cls / f"patient_{patient:02d}" / f"view{view}.png", value=patient * 3 + view)
    ds = Dataset.load(tmp_path / "xrays")
    assert {c.patient_id for c in ds.cases} == {f"patient_{p:02d}" for p in range(24)}
    splits = make_splits(ds.cases, seed=0)
    for patient in {c.patient_id for c in ds.cases}:  # each patient's views on one side only
        assert len({splits.assignment[c.case_id] for c in ds.cases if c.patient_id == patient}) == 1


def test_a_few_sub_folders_are_not_patients_and_a_warning_says_how_to_give_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for batch in ("batch1", "batch2"):
        for i in range(4):
            _png(tmp_path / "d" / "normal" / batch / f"{i}.png", value=i)
            _png(tmp_path / "d" / "tumour" / batch / f"{i}.png", value=100 + i)
    ds = Dataset.load(tmp_path / "d")
    assert all(c.patient_id is None for c in ds.cases)
    assert "too few sub-folders (2)" in caplog.text and "patient_id column" in caplog.text


def test_csv_rows_naming_dicom_series_folders_are_volumes(tmp_path: Path) -> None:
    from tests.io.conftest import write_dicom

    rows = ["path,label"]
    for s in range(4):
        series = f"1.2.3.{s}"
        (tmp_path / "studies" / f"S{s}").mkdir(parents=True)
        for z in range(5):
            pixels = np.full((8, 8), 100 * s + z, dtype=np.uint16)
            write_dicom(
                tmp_path / "studies" / f"S{s}" / f"IM{z}", pixels, position=(0, 0, 2.0 * z), series_uid=series,
                instance=z + 1, orientation=(1, 0, 0, 0, 1, 0), thickness=2.0,
            )  # fmt: skip
        rows.append(f"studies/S{s},{'nodule' if s % 2 else 'clear'}")
    (tmp_path / "studies" / "empty").mkdir()
    (tmp_path / "studies.csv").write_text("\n".join(rows) + "\n")
    ds = Dataset.load(tmp_path / "studies.csv")
    volume = dataclasses.replace(ds, canonical_orientation=False).read(ds.cases[1])  # (slice, row, column)
    assert volume.array.shape == (1, 5, 8, 8) and volume.spacing_mm is not None
    assert list(volume.array[0, :, 0, 0] - volume.array[0, 0, 0, 0]) == [0, 1, 2, 3, 4]  # slices in order
    assert ds.read(ds.cases[1]).array.shape == (1, 8, 8, 5)  # a classifier's view: RAS order
    (tmp_path / "bad.csv").write_text("path,label\nstudies/empty,clear\nstudies/S0,clear\n")
    with pytest.raises(DatasetError, match=r"studies/empty \(a folder without DICOM slices\)"):
        Dataset.load(tmp_path / "bad.csv")
